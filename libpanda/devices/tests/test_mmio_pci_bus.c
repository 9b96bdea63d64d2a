/* The MMIO bus and PCI configuration space (bus.c). */
#include <stdlib.h>

#include "testing/check.h"

typedef struct regs {
    uint32_t r[64];
    uint32_t last_offset;
    unsigned last_size;
} regs;

static uint32_t rd(void *o, uint32_t offset, unsigned size)
{
    regs *g = o;
    g->last_offset = offset;
    g->last_size = size;
    return offset / 4 < 64 ? g->r[offset / 4] >> (8 * (offset & 3)) : 0xdeadbeef;
}

static void wr(void *o, uint32_t offset, uint32_t v, unsigned size)
{
    regs *g = o;
    g->last_offset = offset;
    g->last_size = size;
    if (offset / 4 < 64) g->r[offset / 4] = v;
}

int main(void)
{
    regs a = {0}, b = {0};
    bus_device A = {"a", &a, rd, wr}, B = {"b", &b, rd, wr};

    /* MMIO: devices see offsets from their base, overlaps are refused */
    mmio_bus m;
    mmio_bus_init(&m);
    CHECK_EQ(mmio_bus_add(&m, 0xfebf0000ull, 0x1000, A), 0);
    CHECK_EQ(mmio_bus_add(&m, 0x100000000ull, 0x100, B), 0);     /* above 4 GiB */
    CHECK_EQ(mmio_bus_add(&m, 0xfebf0800ull, 0x1000, B), -1);    /* overlaps a */
    CHECK_EQ(mmio_bus_add(&m, 0xfffffffffffff000ull, 0x2000, B), -1); /* wraps */
    CHECK_EQ(mmio_bus_add(&m, 0x1000, 0, B), -1);
    for (int i = 0; i < 100; i++) CHECK_EQ(mmio_bus_add(&m, 0x200000ull + 0x1000ull * i, 0x10, B), 0);
    mmio_bus_write(&m, 0xfebf0010ull, 0x12345678, 4);
    CHECK_EQ(a.r[4], 0x12345678);
    CHECK_EQ(a.last_offset, 0x10);
    CHECK_EQ(mmio_bus_read(&m, 0xfebf0010ull, 4), 0x12345678);
    CHECK_EQ(mmio_bus_read(&m, 0xfebf0010ull, 2), 0x5678);        /* masked to the size */
    mmio_bus_write(&m, 0x100000008ull, 0xabcdef, 4);
    CHECK_EQ(b.r[2], 0xabcdef);
    /* 8 bytes: two 4-byte accesses, low half first */
    mmio_bus_write(&m, 0xfebf0020ull, 0x1111222233334444ull, 8);
    CHECK_EQ(a.r[8], 0x33334444);
    CHECK_EQ(a.r[9], 0x11112222);
    CHECK_EQ(mmio_bus_read(&m, 0xfebf0020ull, 8), 0x1111222233334444ull);
    /* open bus: all ones, counted */
    CHECK_EQ(m.unclaimed_reads, 0);
    CHECK_EQ(mmio_bus_read(&m, 0xfec00000ull, 4), 0xffffffffu);
    CHECK_EQ(mmio_bus_read(&m, 0xfec00000ull, 1), 0xff);
    mmio_bus_write(&m, 0xfec00000ull, 1, 4);
    CHECK_EQ(m.unclaimed_reads, 2);
    CHECK_EQ(m.unclaimed_writes, 1);
    CHECK_EQ(mmio_bus_read(&m, 0xfebf0010ull, 3), 0xffffff);     /* odd size: open bus */
    mmio_bus_free(&m);

    /* PCI configuration space: empty slots read all ones */
    pci_bus p;
    pci_bus_init(&p);
    CHECK_EQ(pci_bus_add(&p, PCI_DEVFN(1, 1), A), 0);
    CHECK_EQ(pci_bus_add(&p, PCI_DEVFN(1, 1), B), -1);           /* taken */
    a.r[0] = 0x70108086;                                         /* vendor:device */
    CHECK_EQ(pci_config_read(&p, 0, PCI_DEVFN(1, 1), 0, 4), 0x70108086);
    CHECK_EQ(pci_config_read(&p, 0, PCI_DEVFN(1, 1), 2, 2), 0x7010);
    CHECK_EQ(pci_config_read(&p, 0, PCI_DEVFN(1, 0), 0, 4), 0xffffffffu);   /* empty */
    CHECK_EQ(pci_config_read(&p, 1, PCI_DEVFN(1, 1), 0, 4), 0xffffffffu);   /* bus 1 */
    CHECK_EQ(pci_config_read(&p, 0, PCI_DEVFN(1, 1), 3, 2), 0xffff);        /* crosses a dword */
    CHECK_EQ(pci_config_read(&p, 0, PCI_DEVFN(1, 1), 256, 1), 0xff);        /* past the space */
    pci_config_write(&p, 0, PCI_DEVFN(1, 1), 0x10, 0xfe000000u, 4);
    CHECK_EQ(a.r[4], 0xfe000000u);
    pci_config_write(&p, 0, PCI_DEVFN(31, 7), 0x10, 1, 4);
    CHECK_EQ(p.empty_writes, 1);
    /* every devfn, every offset, every size: never outside the function */
    for (unsigned devfn = 0; devfn < 256; devfn++)
        for (uint32_t reg = 0; reg < 260; reg++)
            for (unsigned size = 0; size <= 5; size++) {
                uint32_t v = pci_config_read(&p, 0, (uint8_t)devfn, reg, size);
                if (devfn != PCI_DEVFN(1, 1)) CHECK(v == (size >= 4 ? 0xffffffffu : (1u << (8 * size)) - 1u));
            }
    return check_done();
}
