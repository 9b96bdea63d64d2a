/*
 * Dispatch of callback types that libpanda's own code raises (the engine's
 * hook points are dispatched inside callbacks.c).  Each calls every enabled
 * registration of its type, in registration order.
 */
#ifndef LIBPANDA_CALLBACKS_DISPATCH_H
#define LIBPANDA_CALLBACKS_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "panda/callbacks.h"

/* guest_hypercall: true if any callback handled it */
bool panda_dispatch_guest_hypercall(panda_t *p);
void panda_dispatch_replay_serial(panda_t *p, panda_cb_type type, uint64_t fifo, uint32_t port,
                                  uint8_t byte);
/* replay_before_dma (before) / replay_after_dma around a device's transfer */
void panda_dispatch_replay_dma(panda_t *p, bool before, const uint8_t *buf, uint64_t addr, size_t size,
                               bool is_write);
/* hd_read (write false) / hd_write: a sector transfer to or from a disk */
void panda_dispatch_hd(panda_t *p, bool write);
void panda_dispatch_replay_hd_transfer(panda_t *p, uint32_t type, uint64_t src, uint64_t dest, size_t n);
void panda_dispatch_before_loadvm(panda_t *p);
void panda_dispatch_after_loadvm(panda_t *p);
void panda_dispatch_top_loop(panda_t *p);
void panda_dispatch_after_machine_init(panda_t *p);
/* monitor: false if no callback is registered */
bool panda_dispatch_monitor(panda_t *p, Monitor *mon, const char *cmd);

#endif
