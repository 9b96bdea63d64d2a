/* The POST diagnostic port 0x80, which Linux writes for I/O delays: writes
 * are counted and dropped, reads return the last value written. */
#ifndef PANDA_DEVICES_PORT80_H
#define PANDA_DEVICES_PORT80_H

#include "bus.h"

typedef struct port80 port80;

port80 *port80_new(void);
void port80_free(port80 *p);
bus_device port80_device(port80 *p);
uint64_t port80_writes(const port80 *p);

/* Snapshot support: the device's state as bytes (same build only). */
size_t port80_state_size(void);
void port80_state_save(const port80 *dev, void *buf);
void port80_state_load(port80 *dev, const void *buf);

#endif
