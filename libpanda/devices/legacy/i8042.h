/* Intel 8042 keyboard controller at 0x60 (data) and 0x64 (status/command):
 * enough for Linux's probe (self-test 0xAA -> 0x55, interface test 0xAB,
 * command byte read/write 0x20/0x60, keyboard commands acknowledged with
 * 0xFA, no AUX port), the 0xFE pulse that resets the CPU and the output
 * port's A20 bit. */
#ifndef PANDA_DEVICES_I8042_H
#define PANDA_DEVICES_I8042_H

#include "device.h"

typedef struct i8042 i8042;

/* reset: called when the guest pulses the reset line (command 0xFE). */
i8042 *i8042_new(irq_line irq1, void (*reset)(void *), void *reset_opaque);
void i8042_free(i8042 *kbc);
/* a20: called when the guest writes the output port (command 0xD1, or
 * 0xDD/0xDF), with its bit 1; reset does not call it. */
void i8042_set_a20_hook(i8042 *kbc, void (*a20)(void *opaque, bool enabled), void *opaque);
/* Power-on state (what i8042_new sets up), output queue empty; IRQ1 is
 * lowered if it was raised.  The wiring and the counters stay. */
void i8042_reset(i8042 *kbc);
bus_device i8042_data_device(i8042 *kbc);   /* 0x60 */
bus_device i8042_status_device(i8042 *kbc); /* 0x64 */
uint64_t i8042_unmodelled(const i8042 *kbc);

/* type "i8042"; state: the output queue, RAM, output port, the pending
 * command and the keyboard's settings */
extern const panda_device_ops i8042_ops;

#endif
