/* Intel 8042 keyboard controller at 0x60 (data) and 0x64 (status/command):
 * enough for Linux's probe (self-test 0xAA -> 0x55, interface test 0xAB,
 * command byte read/write 0x20/0x60, keyboard commands acknowledged with
 * 0xFA, no AUX port) and the 0xFE pulse that resets the CPU. */
#ifndef PANDA_DEVICES_I8042_H
#define PANDA_DEVICES_I8042_H

#include "bus.h"

typedef struct i8042 i8042;

/* reset: called when the guest pulses the reset line (command 0xFE). */
i8042 *i8042_new(irq_line irq1, void (*reset)(void *), void *reset_opaque);
void i8042_free(i8042 *kbc);
bus_device i8042_data_device(i8042 *kbc);   /* 0x60 */
bus_device i8042_status_device(i8042 *kbc); /* 0x64 */
uint64_t i8042_unmodelled(const i8042 *kbc);

/* Snapshot support: the device's state as bytes (same build only). */
size_t i8042_state_size(void);
void i8042_state_save(const i8042 *dev, void *buf);
void i8042_state_load(i8042 *dev, const void *buf);

#endif
