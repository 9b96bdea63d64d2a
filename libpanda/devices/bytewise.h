/*
 * Private helper for the 8-bit devices (not part of the machine's device
 * interface).
 *
 * The bus hands a whole access to the device whose range contains the
 * first port, with its size (see bus.c).  An 8-bit ISA device answers a
 * 16/32-bit access the way the PC's ISA bridge does: as consecutive byte
 * cycles at offset, offset+1, ... (little-endian).  Bytes that fall past
 * the device's own ports float (0xFF on read, dropped on write) and are
 * counted as unmodelled, as is a size other than 1, 2 or 4 (at most the
 * first four bytes of such an access are performed).
 */
#ifndef PANDA_DEVICES_BYTEWISE_H
#define PANDA_DEVICES_BYTEWISE_H

#include "bus.h"

typedef uint8_t (*bytewise_read_fn)(void *dev, uint32_t offset);
typedef void (*bytewise_write_fn)(void *dev, uint32_t offset, uint8_t value);

static inline unsigned bytewise_size(unsigned size, uint64_t *unmodelled)
{
    if (size == 1 || size == 2 || size == 4) return size;
    (*unmodelled)++;
    return size > 4 ? 4 : size;
}

static inline uint32_t bytewise_read(void *dev, uint32_t offset, unsigned size, uint32_t nports,
                                     bytewise_read_fn rd, uint64_t *unmodelled)
{
    uint32_t value = 0;
    size = bytewise_size(size, unmodelled);
    for (unsigned i = 0; i < size; i++) {
        uint32_t b = 0xFF;
        /* offset + i may wrap for a hostile offset; compare without adding */
        if (offset < nports && i < nports - offset)
            b = rd(dev, offset + i);
        else
            (*unmodelled)++;
        value |= b << (8 * i);
    }
    return value;
}

static inline void bytewise_write(void *dev, uint32_t offset, uint32_t value, unsigned size,
                                  uint32_t nports, bytewise_write_fn wr, uint64_t *unmodelled)
{
    size = bytewise_size(size, unmodelled);
    for (unsigned i = 0; i < size; i++) {
        if (offset < nports && i < nports - offset)
            wr(dev, offset + i, (uint8_t)(value >> (8 * i)));
        else
            (*unmodelled)++;
    }
}

/* The bus_device read/write pair NAME_read/NAME_write of an 8-bit device
 * of type T with nports ports, over its byte functions rd/wr, counting
 * into T's `unmodelled`. */
#define BYTEWISE_BUS_FNS(name, T, nports, rd, wr)                                        \
    static uint32_t name##_read(void *opaque, uint32_t offset, unsigned size)            \
    {                                                                                   \
        return bytewise_read(opaque, offset, size, nports, rd, &((T *)opaque)->unmodelled); \
    }                                                                                   \
    static void name##_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)  \
    {                                                                                   \
        bytewise_write(opaque, offset, v, size, nports, wr, &((T *)opaque)->unmodelled); \
    }

/* Exact virtual-time arithmetic shared by the timer devices. */

/* floor(dt * hz / 1e9) without overflow for any dt (hz < 2^32). */
static inline uint64_t vtime_to_ticks(uint64_t dt, uint32_t hz)
{
    uint64_t q = dt / 1000000000u, r = dt % 1000000000u;
    return q * hz + r * hz / 1000000000u;
}

/* ceil(ticks * 1e9 / hz): the first dt at which vtime_to_ticks(dt, hz) >=
 * ticks.  Saturates at PANDA_VTIME_NEVER. */
static inline uint64_t ticks_to_vtime(uint64_t ticks, uint32_t hz)
{
    uint64_t q = ticks / hz, r = ticks % hz;
    uint64_t frac = (r * 1000000000u + hz - 1) / hz;
    if (q > (PANDA_VTIME_NEVER - frac) / 1000000000u) return PANDA_VTIME_NEVER;
    return q * 1000000000u + frac;
}

static inline uint64_t vtime_add(uint64_t a, uint64_t b)
{
    return a > PANDA_VTIME_NEVER - b ? PANDA_VTIME_NEVER : a + b;
}

#endif
