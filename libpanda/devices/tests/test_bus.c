/* The port I/O bus: the address map, dispatch, open bus; and the whole PC
 * legacy map assembled from the real devices. */
#include <string.h>

#include "testing/check.h"
#include "legacy/i8042.h"
#include "legacy/mc146818.h"
#include "pci/pci_absent.h"
#include "legacy/pic8259.h"
#include "legacy/pit8254.h"
#include "legacy/port80.h"
#include "legacy/uart16550.h"

typedef struct rec_dev {
    int reads, writes;
    uint32_t last_offset, last_value;
    unsigned last_size;
    uint32_t answer;
} rec_dev;

static uint32_t rec_read(void *opaque, uint32_t offset, unsigned size)
{
    rec_dev *d = opaque;
    d->reads++;
    d->last_offset = offset;
    d->last_size = size;
    return d->answer;
}

static void rec_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    rec_dev *d = opaque;
    d->writes++;
    d->last_offset = offset;
    d->last_value = value;
    d->last_size = size;
}

static bus_device rec(rec_dev *d)
{
    bus_device b = {"rec", d, rec_read, rec_write};
    return b;
}

static void test_add(void)
{
    io_bus bus;
    rec_dev d = {0};
    io_bus_init(&bus);
    CHECK_EQ(bus.nranges, 0);
    CHECK_EQ(bus.unclaimed_reads, 0);
    CHECK_EQ(bus.unclaimed_writes, 0);

    CHECK_EQ(io_bus_add(&bus, 0x20, 0, rec(&d)), -1);            /* empty */
    CHECK_EQ(io_bus_add(&bus, 0xFFFFFFFFu, 2, rec(&d)), -1);     /* wraps */
    CHECK_EQ(io_bus_add(&bus, 0x10, 0xFFFFFFFFu, rec(&d)), -1);  /* wraps */
    CHECK_EQ(io_bus_add(&bus, 0xFFFFFFFFu, 1, rec(&d)), 0);      /* last port is fine */
    CHECK_EQ(io_bus_add(&bus, 0x20, 2, rec(&d)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x20, 2, rec(&d)), -1);            /* same */
    CHECK_EQ(io_bus_add(&bus, 0x21, 1, rec(&d)), -1);            /* inside */
    CHECK_EQ(io_bus_add(&bus, 0x1F, 2, rec(&d)), -1);            /* straddles start */
    CHECK_EQ(io_bus_add(&bus, 0x21, 4, rec(&d)), -1);            /* straddles end */
    CHECK_EQ(io_bus_add(&bus, 0x00, 0x100, rec(&d)), -1);        /* covers */
    CHECK_EQ(io_bus_add(&bus, 0x1F, 1, rec(&d)), 0);             /* adjacent below */
    CHECK_EQ(io_bus_add(&bus, 0x22, 1, rec(&d)), 0);             /* adjacent above */
    CHECK_EQ(bus.nranges, 4);

    /* fill the table */
    int ok = 0;
    for (uint32_t i = 0; i < 100; i++)
        if (io_bus_add(&bus, 0x1000 + 4 * i, 4, rec(&d)) == 0) ok++;
    CHECK_EQ(ok, IO_BUS_MAX_RANGES - 4);
    CHECK_EQ(bus.nranges, IO_BUS_MAX_RANGES);
    CHECK_EQ(io_bus_add(&bus, 0x9000, 1, rec(&d)), -1);
    CHECK_EQ(bus.nranges, IO_BUS_MAX_RANGES);
}

static void test_dispatch(void)
{
    io_bus bus;
    rec_dev a = {0}, b = {0};
    io_bus_init(&bus);
    CHECK_EQ(io_bus_add(&bus, 0x3F8, 8, rec(&a)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x400, 0x10000, rec(&b)), 0);

    a.answer = 0x12345678;
    CHECK_EQ(io_bus_read(&bus, 0x3FB, 1), 0x78); /* masked to the size */
    CHECK_EQ(a.last_offset, 3);
    CHECK_EQ(a.last_size, 1);
    CHECK_EQ(io_bus_read(&bus, 0x3F8, 2), 0x5678);
    CHECK_EQ(io_bus_read(&bus, 0x3F8, 4), 0x12345678);
    CHECK_EQ(a.reads, 3);

    io_bus_write(&bus, 0x3FF, 0xAABBCCDD, 1);
    CHECK_EQ(a.last_offset, 7);
    CHECK_EQ(a.last_value, 0xDD); /* masked to the size */
    io_bus_write(&bus, 0x3FC, 0xAABBCCDD, 2);
    CHECK_EQ(a.last_value, 0xCCDD);
    io_bus_write(&bus, 0x3FC, 0xAABBCCDD, 4);
    CHECK_EQ(a.last_value, 0xAABBCCDD);
    CHECK_EQ(a.writes, 3);

    /* an access running past the end belongs to the range of its first port */
    io_bus_read(&bus, 0x3FF, 4);
    CHECK_EQ(a.last_offset, 7);
    CHECK_EQ(a.last_size, 4);
    io_bus_write(&bus, 0x3FE, 0xFFFF, 4);
    CHECK_EQ(a.last_offset, 6);
    CHECK_EQ(b.writes, 0);

    /* a large range, offsets relative to its base */
    io_bus_read(&bus, 0x400 + 0xFFFF, 1);
    CHECK_EQ(b.last_offset, 0xFFFF);
    CHECK_EQ(b.reads, 1);

    CHECK_EQ(bus.unclaimed_reads, 0);
    CHECK_EQ(bus.unclaimed_writes, 0);
}

static void test_open_bus(void)
{
    io_bus bus;
    rec_dev a = {0};
    io_bus_init(&bus);
    CHECK_EQ(io_bus_add(&bus, 0x60, 1, rec(&a)), 0);

    CHECK_EQ(io_bus_read(&bus, 0x61, 1), 0xFF);
    CHECK_EQ(io_bus_read(&bus, 0x61, 2), 0xFFFF);
    CHECK_EQ(io_bus_read(&bus, 0x61, 4), 0xFFFFFFFFu);
    CHECK_EQ(io_bus_read(&bus, 0x5F, 2), 0xFFFF); /* first port unclaimed */
    CHECK_EQ(bus.unclaimed_reads, 4);
    io_bus_write(&bus, 0x62, 0x12, 1);
    io_bus_write(&bus, 0xFFFF, 0x1234, 2);
    CHECK_EQ(bus.unclaimed_writes, 2);
    CHECK_EQ(a.reads + a.writes, 0);

    /* sizes other than 1, 2, 4 never reach a device */
    CHECK_EQ(io_bus_read(&bus, 0x60, 3), 0xFFFFFF);
    CHECK_EQ(io_bus_read(&bus, 0x60, 0), 0);
    CHECK_EQ(io_bus_read(&bus, 0x60, 8), 0xFFFFFFFFu);
    io_bus_write(&bus, 0x60, 1, 3);
    io_bus_write(&bus, 0x60, 1, 0);
    CHECK_EQ(a.reads + a.writes, 0);
    CHECK_EQ(bus.unclaimed_reads, 7);
    CHECK_EQ(bus.unclaimed_writes, 4);

    /* a device without handlers is open bus */
    bus_device none = {"none", NULL, NULL, NULL};
    CHECK_EQ(io_bus_add(&bus, 0x70, 2, none), 0);
    CHECK_EQ(io_bus_read(&bus, 0x71, 1), 0xFF);
    io_bus_write(&bus, 0x70, 0, 1);
    CHECK_EQ(bus.unclaimed_reads, 8);
    CHECK_EQ(bus.unclaimed_writes, 5);

    /* top of the 32-bit port space does not wrap */
    CHECK_EQ(io_bus_read(&bus, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
}

/* ---- the PC map with the real devices ---- */

static void reset_cb(void *opaque) { (*(int *)opaque)++; }

static void test_pc_map(void)
{
    fake_clock clk = {0};
    fake_irq intr = {0}, irqs[16];
    memset(irqs, 0, sizeof irqs);
    int resets = 0;
    pic8259 *pic = pic8259_new(fake_irq_line(&intr, 0));
    irq_line irq0 = {pic8259_set_irq, pic, 0}, irq1 = {pic8259_set_irq, pic, 1},
             irq4 = {pic8259_set_irq, pic, 4}, irq8 = {pic8259_set_irq, pic, 8};
    pit8254 *pit = pit8254_new(irq0, fake_now, &clk);
    mc146818 *rtc = mc146818_new(irq8, fake_now, &clk, 1767268800, 127 * 1024);
    uart16550_hooks hooks = {0};
    uart16550 *com1 = uart16550_new(irq4, 0x3F8, hooks);
    i8042 *kbc = i8042_new(irq1, reset_cb, &resets);
    pci_absent *pci = pci_absent_new();
    port80 *p80 = port80_new();

    io_bus bus;
    io_bus_init(&bus);
    CHECK_EQ(io_bus_add(&bus, 0x20, 2, pic8259_master_device(pic)), 0);
    CHECK_EQ(io_bus_add(&bus, 0xA0, 2, pic8259_slave_device(pic)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x4D0, 2, pic8259_elcr_device(pic)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x40, 4, pit8254_device(pit)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x61, 1, pit8254_port61_device(pit)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x60, 1, i8042_data_device(kbc)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x64, 1, i8042_status_device(kbc)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x70, 2, mc146818_device(rtc)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x3F8, 8, uart16550_device(com1)), 0);
    CHECK_EQ(io_bus_add(&bus, 0xCF8, 4, pci_absent_address_device(pci)), 0);
    CHECK_EQ(io_bus_add(&bus, 0xCFC, 4, pci_absent_data_device(pci)), 0);
    CHECK_EQ(io_bus_add(&bus, 0x80, 1, port80_device(p80)), 0);
    /* a second device on a taken port is refused */
    CHECK_EQ(io_bus_add(&bus, 0x3FC, 8, uart16550_device(com1)), -1);

    /* Linux's PCI type 1 probe */
    io_bus_write(&bus, 0xCF8, 0x80001000, 4);
    CHECK_EQ(io_bus_read(&bus, 0xCFC, 2), 0xFFFF);
    CHECK_EQ(io_bus_read(&bus, 0xCFC, 4), 0xFFFFFFFFu);
    CHECK_EQ(io_bus_read(&bus, 0xCFE, 1), 0xFF);
    CHECK_EQ(io_bus_read(&bus, 0xCF8, 4), 0x80001000);

    /* a 16-bit read of an 8-bit device: byte cycles, the second floats */
    io_bus_write(&bus, 0x64, 0xAA, 1);
    CHECK_EQ(io_bus_read(&bus, 0x60, 2), 0xFF55);

    /* RTC through the bus */
    io_bus_write(&bus, 0x70, 0x04, 1);
    CHECK_EQ(io_bus_read(&bus, 0x71, 1), 0x12);
    io_bus_write(&bus, 0x70, 0x0D, 2); /* outw: index then data */
    CHECK_EQ(io_bus_read(&bus, 0x71, 1), 0x80);

    io_bus_write(&bus, 0x80, 0x42, 1);
    CHECK_EQ(io_bus_read(&bus, 0x80, 1), 0x42);
    CHECK_EQ(port80_writes(p80), 1);

    /* unclaimed ports between them */
    CHECK_EQ(io_bus_read(&bus, 0x62, 1), 0xFF);
    CHECK_EQ(io_bus_read(&bus, 0x2F8, 1), 0xFF);
    CHECK_EQ(bus.unclaimed_reads, 2);

    /* storm over the whole legacy map: nothing crashes, resets only when
     * asked for, open bus stays all ones */
    test_rng r = {0x9E3779B97F4A7C15ull};
    for (int i = 0; i < 20000; i++) {
        static const uint32_t ports[] = {0x20, 0x21, 0xA0, 0xA1, 0x4D0, 0x4D1, 0x40, 0x41,
                                         0x42, 0x43, 0x61, 0x60, 0x64, 0x70, 0x71, 0x3F8,
                                         0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF,
                                         0xCF8, 0xCFC, 0x80, 0x62, 0x1234};
        uint32_t port = ports[rng_next(&r) % (sizeof ports / sizeof ports[0])];
        unsigned size = rng_size(&r);
        clk.t += rng_next(&r) % 100000;
        if (rng_next(&r) & 1) {
            uint32_t v = io_bus_read(&bus, port, size);
            if (size == 1) CHECK(v <= 0xFF);
            if (size == 2) CHECK(v <= 0xFFFF);
        } else {
            io_bus_write(&bus, port, (uint32_t)rng_next(&r), size);
        }
        pit8254_run_until(pit, clk.t);
        mc146818_run_until(rtc, clk.t);
        if (intr.level) pic8259_intack(pic);
    }
    CHECK(uart16550_rx_room(com1) <= 16);
    CHECK(bus.unclaimed_reads > 0);
    CHECK(bus.unclaimed_writes > 0);

    pic8259_free(pic);
    pit8254_free(pit);
    mc146818_free(rtc);
    uart16550_free(com1);
    i8042_free(kbc);
    pci_absent_free(pci);
    port80_free(p80);
}

int main(void)
{
    test_add();
    test_dispatch();
    test_open_bus();
    test_pc_map();
    return check_done();
}
