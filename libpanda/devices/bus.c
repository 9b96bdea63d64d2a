/*
 * The port I/O bus: owns the address map, dispatches accesses, answers
 * open bus.
 *
 * Dispatch rule: an access belongs to the range that contains its first
 * port and goes to that device whole (offset = port - base, size as
 * given), even if it runs past the end of the range; the device decides
 * what a wide access means.  The 8-bit devices split it into byte cycles
 * at consecutive offsets of their own (bytewise.h) and float the bytes
 * past their last port; the PCI ports answer 1/2/4-byte accesses natively.
 * The bus masks what a device returns to the access size.
 *
 * Open bus: a port no range contains reads all ones of the access size
 * (0xFF, 0xFFFF, 0xFFFFFFFF) and writes are dropped; both are counted.  A
 * size other than 1, 2 or 4 is never dispatched: it is treated as open bus
 * (read all ones of min(size, 4) bytes, 0 for size 0) and counted.
 */
#include "bus.h"

#include <string.h>

static uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : (uint32_t)((1u << (8 * size)) - 1u);
}

static bool size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4;
}

void io_bus_init(io_bus *bus)
{
    if (!bus) return;
    memset(bus, 0, sizeof *bus);
}

int io_bus_add(io_bus *bus, uint32_t base, uint32_t len, bus_device dev)
{
    if (!bus || len == 0) return -1;
    if (bus->nranges < 0 || bus->nranges >= IO_BUS_MAX_RANGES) return -1;
    uint64_t end = (uint64_t)base + len; /* exclusive */
    if (end > (uint64_t)UINT32_MAX + 1) return -1; /* wraps past the top */
    for (int i = 0; i < bus->nranges; i++) {
        const struct io_bus_range *r = &bus->ranges[i];
        uint64_t rend = (uint64_t)r->base + r->len;
        if (base < rend && r->base < end) return -1;
    }
    struct io_bus_range *r = &bus->ranges[bus->nranges++];
    r->base = base;
    r->len = len;
    r->dev = dev;
    return 0;
}

static struct io_bus_range *find(io_bus *bus, uint32_t port)
{
    int n = bus->nranges;
    if (n < 0) n = 0;
    if (n > IO_BUS_MAX_RANGES) n = IO_BUS_MAX_RANGES;
    for (int i = 0; i < n; i++) {
        struct io_bus_range *r = &bus->ranges[i];
        if (port >= r->base && port - r->base < r->len) return r;
    }
    return NULL;
}

uint32_t io_bus_read(io_bus *bus, uint32_t port, unsigned size)
{
    if (!bus) return size_mask(size);
    struct io_bus_range *r = size_ok(size) ? find(bus, port) : NULL;
    if (!r || !r->dev.read) {
        bus->unclaimed_reads++;
        return size_mask(size);
    }
    return r->dev.read(r->dev.opaque, port - r->base, size) & size_mask(size);
}

void io_bus_write(io_bus *bus, uint32_t port, uint32_t value, unsigned size)
{
    if (!bus) return;
    struct io_bus_range *r = size_ok(size) ? find(bus, port) : NULL;
    if (!r || !r->dev.write) {
        bus->unclaimed_writes++;
        return;
    }
    r->dev.write(r->dev.opaque, port - r->base, value & size_mask(size), size);
}
