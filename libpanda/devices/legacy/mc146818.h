/* Motorola MC146818 real-time clock and CMOS RAM at 0x70-0x71 (index
 * port with the NMI-disable bit 7, data port), IRQ8. */
#ifndef PANDA_DEVICES_MC146818_H
#define PANDA_DEVICES_MC146818_H

#include "bus.h"

typedef struct mc146818 mc146818;

/* start_unix: the wall-clock time at virtual time 0 (seconds since 1970,
 * UTC); the clock then advances with virtual time only, so runs are
 * reproducible.  mem_kb_above_1m: for CMOS 0x17/0x18/0x30/0x31. */
mc146818 *mc146818_new(irq_line irq8, panda_vtime (*now)(void *), void *now_opaque,
                       int64_t start_unix, uint32_t mem_kb_above_1m);
void mc146818_free(mc146818 *rtc);
bus_device mc146818_device(mc146818 *rtc); /* 0x70-0x71 */
panda_vtime mc146818_next_deadline(mc146818 *rtc);
void mc146818_run_until(mc146818 *rtc, panda_vtime now);
uint64_t mc146818_unmodelled(const mc146818 *rtc);

/* Snapshot support: the device's state as bytes (same build only). */
size_t mc146818_state_size(void);
void mc146818_state_save(const mc146818 *dev, void *buf);
void mc146818_state_load(mc146818 *dev, const void *buf);

#endif
