/*
 * The PC machine's device interface.
 *
 * Devices are one small file each, named after the chip they model.  A
 * device sees only offsets from its base port (Firecracker's BusDevice
 * model): the bus owns the address map, rejects overlaps, and answers an
 * access no device claims as open bus (all ones on read, ignored on write),
 * counting it.  The guest is hostile: every device bounds-checks what it is
 * given and never aborts; an access it does not model is counted and
 * ignored.
 *
 * Time is virtual: devices never read a host clock.  A device with a timer
 * reports its next deadline (panda_vtime, ns) and is told to catch up to
 * "now"; the machine's run loop turns deadlines into instruction budgets.
 */
#ifndef PANDA_DEVICES_BUS_H
#define PANDA_DEVICES_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Virtual time in nanoseconds since machine reset. */
typedef uint64_t panda_vtime;
#define PANDA_VTIME_NEVER UINT64_MAX

typedef struct bus_device {
    const char *name;
    void *opaque;
    /* size is 1, 2 or 4 (bytes); offset is relative to the range's base */
    uint32_t (*read)(void *opaque, uint32_t offset, unsigned size);
    void (*write)(void *opaque, uint32_t offset, uint32_t value, unsigned size);
} bus_device;

#define IO_BUS_MAX_RANGES 64

typedef struct io_bus {
    struct io_bus_range {
        uint32_t base, len;
        bus_device dev;
    } ranges[IO_BUS_MAX_RANGES];
    int nranges;
    uint64_t unclaimed_reads, unclaimed_writes; /* open-bus accesses */
} io_bus;

void io_bus_init(io_bus *bus);
/* 0 on success; -1 if len is 0, the range wraps, overlaps another, or the
 * table is full. */
int io_bus_add(io_bus *bus, uint32_t base, uint32_t len, bus_device dev);
/* Drop the range starting at base (a PCI BAR that moved); 0 on success. */
int io_bus_remove(io_bus *bus, uint32_t base);
uint32_t io_bus_read(io_bus *bus, uint32_t port, unsigned size);
void io_bus_write(io_bus *bus, uint32_t port, uint32_t value, unsigned size);

/*
 * The MMIO bus: the same bus_device interface over guest-physical
 * addresses (64-bit), for the holes of the address map that are not RAM.
 * Ranges are kept in a growing array; an access nothing claims is open
 * bus, counted.  Accesses of 8 bytes go to the device as two 4-byte ones
 * (low half first).
 */
typedef struct mmio_bus {
    struct mmio_bus_range {
        uint64_t base, len;
        bus_device dev;
    } *ranges;
    size_t nranges, cap;
    uint64_t unclaimed_reads, unclaimed_writes;
} mmio_bus;

void mmio_bus_init(mmio_bus *bus);
void mmio_bus_free(mmio_bus *bus);
/* 0 on success; -1 if len is 0, the range wraps, overlaps another, or
 * memory runs out. */
int mmio_bus_add(mmio_bus *bus, uint64_t base, uint64_t len, bus_device dev);
uint64_t mmio_bus_read(mmio_bus *bus, uint64_t addr, unsigned size);
void mmio_bus_write(mmio_bus *bus, uint64_t addr, uint64_t value, unsigned size);

/*
 * PCI configuration space: each function (bus 0, device 0-31, function
 * 0-7) is a bus_device whose offsets are its 256 configuration registers.
 * A host bridge turns the guest's configuration mechanism (x86: 0xCF8/
 * 0xCFC) into pci_config_read/write; an empty slot answers all ones
 * ("no device"), as a real bus does.
 */
#define PCI_DEVFN(dev, fn) ((uint8_t)(((dev) & 0x1f) << 3 | ((fn) & 7)))

typedef struct pci_bus {
    bus_device fn[256];           /* by devfn; .read NULL: empty */
    uint64_t empty_reads, empty_writes;
} pci_bus;

void pci_bus_init(pci_bus *bus);
/* 0 on success; -1 if the slot is taken. */
int pci_bus_add(pci_bus *bus, uint8_t devfn, bus_device config);
/* reg is the byte offset (0..255); an access must not cross a dword. */
uint32_t pci_config_read(pci_bus *bus, uint8_t busno, uint8_t devfn, uint32_t reg, unsigned size);
void pci_config_write(pci_bus *bus, uint8_t busno, uint8_t devfn, uint32_t reg, uint32_t value,
                      unsigned size);

/* An interrupt line a device drives: level 1 raised, 0 lowered. */
typedef struct irq_line {
    void (*set)(void *opaque, int line, int level);
    void *opaque;
    int line;
} irq_line;

static inline void irq_set(const irq_line *irq, int level)
{
    if (irq->set) irq->set(irq->opaque, irq->line, level);
}

#endif
