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

#include <stdlib.h>
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

int io_bus_remove(io_bus *bus, uint32_t base)
{
    if (!bus) return -1;
    for (int i = 0; i < bus->nranges; i++) {
        if (bus->ranges[i].base == base) {
            memmove(&bus->ranges[i], &bus->ranges[i + 1], (size_t)(bus->nranges - i - 1) * sizeof(bus->ranges[0]));
            bus->nranges--;
            return 0;
        }
    }
    return -1;
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

/* ---- the MMIO bus -------------------------------------------------------- */

void mmio_bus_init(mmio_bus *bus)
{
    memset(bus, 0, sizeof(*bus));
}

void mmio_bus_free(mmio_bus *bus)
{
    free(bus->ranges);
    memset(bus, 0, sizeof(*bus));
}

int mmio_bus_add(mmio_bus *bus, uint64_t base, uint64_t len, bus_device dev)
{
    if (!bus || len == 0 || base + len < base) return -1;
    for (size_t i = 0; i < bus->nranges; i++) {
        const struct mmio_bus_range *r = &bus->ranges[i];
        if (base < r->base + r->len && r->base < base + len) return -1;
    }
    if (bus->nranges == bus->cap) {
        size_t cap = bus->cap ? bus->cap * 2 : 8;
        struct mmio_bus_range *v = realloc(bus->ranges, cap * sizeof(*v));
        if (!v) return -1;
        bus->ranges = v;
        bus->cap = cap;
    }
    bus->ranges[bus->nranges++] = (struct mmio_bus_range){base, len, dev};
    return 0;
}

static struct mmio_bus_range *mmio_find(mmio_bus *bus, uint64_t addr)
{
    for (size_t i = 0; i < bus->nranges; i++) {
        struct mmio_bus_range *r = &bus->ranges[i];
        if (addr >= r->base && addr - r->base < r->len) return r;
    }
    return NULL;
}

uint64_t mmio_bus_read(mmio_bus *bus, uint64_t addr, unsigned size)
{
    if (size == 8) return mmio_bus_read(bus, addr, 4) | (uint64_t)mmio_bus_read(bus, addr + 4, 4) << 32;
    struct mmio_bus_range *r = size_ok(size) ? mmio_find(bus, addr) : NULL;
    if (!r || !r->dev.read || addr - r->base > UINT32_MAX) {
        bus->unclaimed_reads++;
        return size_mask(size);
    }
    return r->dev.read(r->dev.opaque, (uint32_t)(addr - r->base), size) & size_mask(size);
}

void mmio_bus_write(mmio_bus *bus, uint64_t addr, uint64_t value, unsigned size)
{
    if (size == 8) {
        mmio_bus_write(bus, addr, (uint32_t)value, 4);
        mmio_bus_write(bus, addr + 4, value >> 32, 4);
        return;
    }
    struct mmio_bus_range *r = size_ok(size) ? mmio_find(bus, addr) : NULL;
    if (!r || !r->dev.write || addr - r->base > UINT32_MAX) {
        bus->unclaimed_writes++;
        return;
    }
    r->dev.write(r->dev.opaque, (uint32_t)(addr - r->base), (uint32_t)value & size_mask(size), size);
}

/* ---- PCI configuration space --------------------------------------------- */

void pci_bus_init(pci_bus *bus)
{
    memset(bus, 0, sizeof(*bus));
}

int pci_bus_add(pci_bus *bus, uint8_t devfn, bus_device config)
{
    if (!bus || bus->fn[devfn].read || !config.read) return -1;
    bus->fn[devfn] = config;
    return 0;
}

static bool config_access_ok(uint32_t reg, unsigned size)
{
    return size_ok(size) && reg < 256 && (reg & 3) + size <= 4;
}

uint32_t pci_config_read(pci_bus *bus, uint8_t busno, uint8_t devfn, uint32_t reg, unsigned size)
{
    const bus_device *f = &bus->fn[devfn];
    if (busno != 0 || !f->read || !config_access_ok(reg, size)) {
        bus->empty_reads++;
        return size_mask(size);
    }
    return f->read(f->opaque, reg, size) & size_mask(size);
}

void pci_config_write(pci_bus *bus, uint8_t busno, uint8_t devfn, uint32_t reg, uint32_t value,
                      unsigned size)
{
    const bus_device *f = &bus->fn[devfn];
    if (busno != 0 || !f->read || !f->write || !config_access_ok(reg, size)) {
        bus->empty_writes++;
        return;
    }
    f->write(f->opaque, reg, value & size_mask(size), size);
}
