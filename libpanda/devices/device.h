/*
 * A device, as the machine and snapshots see it: one record per device
 * type (panda_device_ops), one panda_device per instance.
 *
 * Each device lives in one file under a folder by kind (legacy/, pci/,
 * storage/, net/), with its unit tests beside it in tests/.  It reaches the
 * machine only through what it is handed when created: bus ranges (bus.h)
 * for its ports or MMIO, an irq_line, the virtual clock, a DMA port
 * (dma.h), an input channel.  It never includes the machine or libpanda's
 * core.
 *
 * State: save writes every field the device's behaviour depends on,
 * explicitly (state.h); load reads them back for state_version (older
 * versions may be accepted where the device knows how to convert them),
 * checks each as it would check the guest's own input (an index within its
 * array, a count the chip can hold), and commits only when all is valid.
 * Bump state_version whenever save changes: a snapshot from another
 * version is refused with both versions named.
 *
 * Load reads exactly the bytes save wrote and nothing after them, so the
 * caller gives each device its own section and checks sr_done at its end.
 * Wiring (irq lines, the clock, callbacks) and configuration given at
 * creation (ports, memory size) are never saved: a loaded state keeps the
 * instance's own.  Load calls nothing outside the device (no irq_set, no
 * callback): what a device drives its lines to is recomputed from the
 * loaded registers, and the interrupt controller's own state holds the
 * input levels it saw, so devices may be loaded in any order.  Counters
 * of what happened (unmodelled accesses, deliveries) are saved too, so a
 * restored machine reports what the saved one did; reset keeps them.
 */
#ifndef PANDA_DEVICES_DEVICE_H
#define PANDA_DEVICES_DEVICE_H

#include "bus.h"
#include "state.h"

typedef struct panda_device_ops {
    const char *type;            /* the chip: "uart16550" */
    uint32_t state_version;
    /* back to power-on state, keeping the wiring (may be NULL) */
    void (*reset)(void *dev);
    /* timers (both NULL for a device without one): the next virtual time
     * at which the device must act, and catching up to now */
    panda_vtime (*next_deadline)(void *dev);
    void (*run_until)(void *dev, panda_vtime now);
    void (*save)(const void *dev, state_writer *w);
    /* on failure r says why and the device is unchanged */
    void (*load)(void *dev, state_reader *r, uint32_t version);
    void (*free)(void *dev);
} panda_device_ops;

typedef struct panda_device {
    const panda_device_ops *ops;
    void *dev;
    char name[32];               /* the instance: "com1", "pit" */
} panda_device;

/* What a machine hands a device that needs more than its ports (the
 * one-line port devices of machine_pc.c are created with it). */
#include "dma.h"

typedef struct device_env {
    dma_port dma;
    panda_vtime (*now)(void *opaque);   /* the virtual clock */
    void *now_opaque;
} device_env;

#endif
