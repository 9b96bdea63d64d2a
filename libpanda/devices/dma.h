/*
 * The DMA port: how a device reads and writes guest RAM (a bus-master IDE
 * channel's PRD table and sectors, a network card's descriptor rings).
 * The machine implements it over its RAM: every transfer is bounds-checked
 * (a guest-programmed address outside RAM fails the transfer, never the
 * host), translated code over written pages is dropped, and PANDA's
 * replay_before_dma/replay_after_dma callbacks fire around it in replay.
 */
#ifndef PANDA_DEVICES_DMA_H
#define PANDA_DEVICES_DMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dma_port {
    void *opaque;
    /* false: [addr, addr + len) is not all RAM; nothing was copied */
    bool (*read)(void *opaque, uint64_t addr, void *buf, size_t len);
    bool (*write)(void *opaque, uint64_t addr, const void *buf, size_t len);
} dma_port;

static inline bool dma_read(const dma_port *d, uint64_t addr, void *buf, size_t len)
{
    return d->read && d->read(d->opaque, addr, buf, len);
}

static inline bool dma_write(const dma_port *d, uint64_t addr, const void *buf, size_t len)
{
    return d->write && d->write(d->opaque, addr, buf, len);
}

#endif
