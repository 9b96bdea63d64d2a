/* Motorola MC146818 real-time clock and CMOS RAM at 0x70-0x71 (index
 * port with the NMI-disable bit 7, data port), IRQ8. */
#ifndef PANDA_DEVICES_MC146818_H
#define PANDA_DEVICES_MC146818_H

#include "device.h"

typedef struct mc146818 mc146818;

/* start_unix: the wall-clock time at virtual time 0 (seconds since 1970,
 * UTC); the clock then advances with virtual time only, so runs are
 * reproducible.  mem_kb_above_1m: for CMOS 0x17/0x18/0x30/0x31. */
mc146818 *mc146818_new(irq_line irq8, panda_vtime (*now)(void *), void *now_opaque,
                       int64_t start_unix, uint32_t mem_kb_above_1m);
void mc146818_free(mc146818 *rtc);
/* Power-on state, what mc146818_new sets up: the clock at start_unix for
 * virtual time 0 (so it reads start_unix + now), CMOS as at creation, IRQ8
 * lowered if it was raised.  The wiring, configuration and counter stay. */
void mc146818_reset(mc146818 *rtc);
/* Configuration the firmware reads from NVRAM (boot order, disk
 * translation, ...): index 0x10-0x7F except the checksum 0x2E/0x2F, which
 * follows.  Kept across reset like the memory size; false for another
 * index. */
bool mc146818_set_nvram(mc146818 *rtc, uint8_t index, uint8_t value);
bus_device mc146818_device(mc146818 *rtc); /* 0x70-0x71 */
panda_vtime mc146818_next_deadline(mc146818 *rtc);
void mc146818_run_until(mc146818 *rtc, panda_vtime now);
uint64_t mc146818_unmodelled(const mc146818 *rtc);

/* type "mc146818"; state: CMOS, the index, the clock; its next_deadline
 * and run_until are the two above */
extern const panda_device_ops mc146818_ops;

#endif
