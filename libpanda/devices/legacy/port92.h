/* System control port A at 0x92 (the PS/2 "fast A20" port): bit 1 drives
 * the A20 gate.  Bit 0 (a CPU reset on some chipsets) is not a reset on
 * this machine: it reads back 0 and writing it does nothing. */
#ifndef PANDA_DEVICES_PORT92_H
#define PANDA_DEVICES_PORT92_H

#include "device.h"

typedef struct port92 port92;

typedef struct port92_hooks {
    void *opaque;
    /* the A20 gate as bit 1 now says (called on every write of 0x92) */
    void (*a20)(void *opaque, bool enabled);
} port92_hooks;

port92 *port92_new(port92_hooks hooks);
void port92_free(port92 *p);
/* Power-on: bit 1 clear (the gate then follows the keyboard controller). */
void port92_reset(port92 *p);
bus_device port92_device(port92 *p);
bool port92_a20(const port92 *p);

/* type "port92"; state: the register */
extern const panda_device_ops port92_ops;

#endif
