/* The POST diagnostic port 0x80, which Linux writes for I/O delays: writes
 * are counted and dropped, reads return the last value written. */
#ifndef PANDA_DEVICES_PORT80_H
#define PANDA_DEVICES_PORT80_H

#include "device.h"

typedef struct port80 port80;

port80 *port80_new(void);
void port80_free(port80 *p);
/* The last value back to 0; the write count is kept. */
void port80_reset(port80 *p);
bus_device port80_device(port80 *p);
uint64_t port80_writes(const port80 *p);

/* type "port80"; state: the last value and the counters */
extern const panda_device_ops port80_ops;

#endif
