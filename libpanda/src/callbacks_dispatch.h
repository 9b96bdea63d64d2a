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

/* main_loop_wait: between run slices (PANDA: each main loop iteration) */
void panda_dispatch_main_loop_wait(panda_t *p);
/* pre_shutdown: once per instance, when the guest stops for good or the
 * instance is destroyed, whichever comes first */
void panda_dispatch_pre_shutdown(panda_t *p);
void panda_dispatch_during_machine_init(panda_t *p);
/* unassigned_io_read/write at an access nothing on the machine's buses
 * answers (addr: the port, or the physical address); true: a callback
 * supplied *val (read) or took the write */
bool panda_dispatch_unassigned_io_read(panda_t *p, uint64_t pc, uint64_t addr, size_t size, uint64_t *val);
bool panda_dispatch_unassigned_io_write(panda_t *p, uint64_t pc, uint64_t addr, size_t size, uint64_t val);
/* mmio_after_read (write false) / mmio_before_write at a device access on
 * the MMIO bus; the callbacks may change *val. */
void panda_dispatch_mmio(panda_t *p, bool write, uint64_t paddr, size_t size, uint64_t *val);
/* Has the type an enabled callback (so a caller can skip preparing it)? */
bool panda_wants_cb(panda_t *p, panda_cb_type type);

#endif
