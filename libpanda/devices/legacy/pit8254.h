/* Intel 8254 programmable interval timer at 0x40-0x43 (input clock
 * 1.193182 MHz), with PC system control port B (0x61): bit 0 gates channel
 * 2, bit 1 is the speaker data enable, bit 5 reads channel 2's OUT and bit
 * 4 toggles with refresh, as Linux's TSC calibration expects. */
#ifndef PANDA_DEVICES_PIT8254_H
#define PANDA_DEVICES_PIT8254_H

#include "device.h"

#define PIT_FREQ_HZ 1193182u

typedef struct pit8254 pit8254;

/* irq0: channel 0's OUT drives IRQ0.  now/now_opaque: the virtual clock. */
pit8254 *pit8254_new(irq_line irq0, panda_vtime (*now)(void *), void *now_opaque);
void pit8254_free(pit8254 *pit);
void pit8254_reset(pit8254 *pit);
bus_device pit8254_device(pit8254 *pit);        /* 0x40-0x43 */
bus_device pit8254_port61_device(pit8254 *pit); /* 0x61 */
/* Earliest virtual time at which channel 0's OUT changes (IRQ0 edge), or
 * PANDA_VTIME_NEVER. */
panda_vtime pit8254_next_deadline(pit8254 *pit);
/* Raise/lower IRQ0 for everything due up to now. */
void pit8254_run_until(pit8254 *pit, panda_vtime now);
uint64_t pit8254_unmodelled(const pit8254 *pit);

/* type "pit8254"; state: the three channels and port 0x61; its
 * next_deadline and run_until are the two above */
extern const panda_device_ops pit8254_ops;

#endif
