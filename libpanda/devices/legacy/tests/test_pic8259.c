/* 8259A PIC pair: Linux's init and interrupt flow, cascade, spurious
 * vectors, priorities and the OCWs, hostile input. */
#include "testing/check.h"
#include "legacy/pic8259.h"

static fake_irq intr;
static pic8259 *pic;
static bus_device M, S, E;

static void setup(void)
{
    intr = (fake_irq){0};
    pic = pic8259_new(fake_irq_line(&intr, 0));
    M = pic8259_master_device(pic);
    S = pic8259_slave_device(pic);
    E = pic8259_elcr_device(pic);
}

static void teardown(void)
{
    pic8259_free(pic);
}

static uint8_t read_irr(bus_device d)
{
    dev_outb(d, 0, 0x0A);
    return dev_inb(d, 0);
}

static uint8_t read_isr(bus_device d)
{
    dev_outb(d, 0, 0x0B);
    uint8_t v = dev_inb(d, 0);
    dev_outb(d, 0, 0x0A);
    return v;
}

static void pulse(int irq)
{
    pic8259_set_irq(pic, irq, 1);
    pic8259_set_irq(pic, irq, 0);
}

/* arch/x86/kernel/i8259.c: probe_8259A + init_8259A(auto_eoi=0) */
static void linux_init(uint8_t master_mask, uint8_t slave_mask)
{
    dev_outb(S, 1, 0xFF);
    dev_outb(M, 1, 0xFB);
    CHECK_EQ(dev_inb(M, 1), 0xFB); /* probe reads the mask back */
    dev_outb(M, 1, 0xFF);
    dev_outb(M, 0, 0x11); /* ICW1: edge, cascade, ICW4 */
    dev_outb(M, 1, 0x30); /* ICW2 */
    dev_outb(M, 1, 0x04); /* ICW3: slave on IR2 */
    dev_outb(M, 1, 0x01); /* ICW4: 8086 */
    dev_outb(S, 0, 0x11);
    dev_outb(S, 1, 0x38);
    dev_outb(S, 1, 0x02); /* slave id 2 */
    dev_outb(S, 1, 0x01);
    dev_outb(M, 1, master_mask);
    dev_outb(S, 1, slave_mask);
}

/* mask_and_ack_8259A for a master irq, then unmask (as the flow does) */
static void linux_eoi_master(int irq, uint8_t mask)
{
    (void)dev_inb(M, 1);
    dev_outb(M, 1, (uint8_t)(mask | (1u << irq)));
    dev_outb(M, 0, (uint8_t)(0x60 + irq));
    dev_outb(M, 1, mask);
}

static void linux_eoi_slave(int irq, uint8_t slave_mask)
{
    (void)dev_inb(S, 1);
    dev_outb(S, 1, (uint8_t)(slave_mask | (1u << (irq & 7))));
    dev_outb(S, 0, (uint8_t)(0x60 + (irq & 7)));
    dev_outb(M, 0, 0x62);
    dev_outb(S, 1, slave_mask);
}

static void test_reset_state(void)
{
    setup();
    CHECK_EQ(dev_inb(M, 1), 0xFF);
    CHECK_EQ(dev_inb(S, 1), 0xFF);
    CHECK_EQ(read_irr(M), 0);
    CHECK_EQ(read_isr(M), 0);
    CHECK_EQ(read_irr(S), 0);
    CHECK_EQ(read_isr(S), 0);
    CHECK_EQ(dev_inb(E, 0), 0);
    CHECK_EQ(dev_inb(E, 1), 0);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(intr.calls, 0);
    CHECK_EQ(pic8259_unmodelled(pic), 0);
    /* masked at reset: a request latches but does not interrupt */
    pulse(0);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(read_irr(M), 0x01);
    /* firmware vector bases until the guest programs its own */
    dev_outb(M, 1, 0xFE);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(intr.line, 0);
    CHECK_EQ(pic8259_intack(pic), 0x08);
    teardown();
}

static void test_linux_timer_flow(void)
{
    setup();
    pulse(0); /* left over from before init: ICW1 forgets it */
    linux_init(0xFA, 0xFF); /* IRQ0 and cascade unmasked */
    CHECK_EQ(read_irr(M), 0);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_unmodelled(pic), 0);

    pulse(0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(read_irr(M), 0x01);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(read_irr(M), 0);
    CHECK_EQ(read_isr(M), 0x01);
    CHECK_EQ(pic8259_delivered(pic, 0), 1);

    /* the next tick while the first is in service waits */
    pulse(0);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(read_irr(M), 0x01);
    linux_eoi_master(0, 0xFA);
    CHECK_EQ(read_isr(M), 0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    linux_eoi_master(0, 0xFA);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_delivered(pic, 0), 2);

    /* a line held high is one request, not a stream */
    pic8259_set_irq(pic, 0, 1);
    pic8259_set_irq(pic, 0, 1);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    linux_eoi_master(0, 0xFA);
    CHECK_EQ(intr.level, 0);
    pic8259_set_irq(pic, 0, 0);
    CHECK_EQ(intr.level, 0);

    /* non-specific EOI clears the highest in-service level */
    pulse(0);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    dev_outb(M, 0, 0x20);
    CHECK_EQ(read_isr(M), 0);
    /* INTR only ever reported on changes */
    CHECK_EQ(intr.calls, intr.changes);
    teardown();
}

static void test_priorities(void)
{
    setup();
    linux_init(0x00, 0xFF); /* everything on the master unmasked */
    pulse(1);
    pulse(4);
    pulse(3);
    CHECK_EQ(read_irr(M), 0x1A);
    CHECK_EQ(pic8259_intack(pic), 0x31); /* IRQ1 first */
    /* IRQ0 has priority over IRQ1 in service: nests */
    pulse(0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    CHECK_EQ(read_isr(M), 0x03);
    CHECK_EQ(intr.level, 0); /* 3 and 4 are below */
    dev_outb(M, 0, 0x20);   /* clears 0 */
    CHECK_EQ(read_isr(M), 0x02);
    CHECK_EQ(intr.level, 0);
    dev_outb(M, 0, 0x20);   /* clears 1 */
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x33);
    dev_outb(M, 0, 0x63);
    CHECK_EQ(pic8259_intack(pic), 0x34);
    dev_outb(M, 0, 0x64);
    CHECK_EQ(intr.level, 0);

    /* masking a pending request withdraws INTR; unmasking restores it */
    pulse(5);
    CHECK_EQ(intr.level, 1);
    dev_outb(M, 1, 0x20);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(read_irr(M), 0x20);
    dev_outb(M, 1, 0x00);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x35);
    dev_outb(M, 0, 0x65);

    /* specific rotation: make IRQ3 the lowest, so IRQ4 is the highest */
    dev_outb(M, 0, 0xC3);
    pulse(1);
    pulse(5);
    CHECK_EQ(pic8259_intack(pic), 0x35);
    dev_outb(M, 0, 0x65);
    CHECK_EQ(pic8259_intack(pic), 0x31);
    dev_outb(M, 0, 0x61);
    /* rotate on non-specific EOI: the serviced level becomes lowest */
    dev_outb(M, 0, 0xC7); /* back to IRQ0 highest */
    pulse(0);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    dev_outb(M, 0, 0xA0); /* IRQ0 lowest now */
    pulse(0);
    pulse(6);
    CHECK_EQ(pic8259_intack(pic), 0x36);
    dev_outb(M, 0, 0xE6); /* rotate on specific EOI: 6 lowest, 7 highest */
    CHECK_EQ(pic8259_intack(pic), 0x30);
    dev_outb(M, 0, 0x60);
    dev_outb(M, 0, 0x40); /* no-op OCW2 */
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_unmodelled(pic), 0);
    teardown();
}

static void test_cascade(void)
{
    setup();
    linux_init(0xFB, 0xEE); /* cascade on; IRQ8 and IRQ12 on the slave */
    pulse(8);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(read_irr(S), 0x01);
    CHECK_EQ(read_irr(M) & 0x04, 0x04);
    CHECK_EQ(pic8259_intack(pic), 0x38);
    CHECK_EQ(read_isr(S), 0x01);
    CHECK_EQ(read_isr(M), 0x04);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_delivered(pic, 8), 1);
    CHECK_EQ(pic8259_delivered(pic, 2), 0);
    linux_eoi_slave(8, 0xEE);
    CHECK_EQ(read_isr(S), 0);
    CHECK_EQ(read_isr(M), 0);
    CHECK_EQ(intr.level, 0);

    /* two slave requests: the second is delivered after the first's EOI */
    pulse(12);
    pulse(8);
    CHECK_EQ(pic8259_intack(pic), 0x38);
    CHECK_EQ(intr.level, 0);
    linux_eoi_slave(8, 0xEE);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x3C);
    linux_eoi_slave(12, 0xEE);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_delivered(pic, 12), 1);

    /* a master IRQ above the cascade nests over a slave in service */
    dev_outb(M, 1, 0xFA);
    pulse(8);
    CHECK_EQ(pic8259_intack(pic), 0x38);
    pulse(0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    dev_outb(M, 0, 0x60);
    linux_eoi_slave(8, 0xEE);
    /* ...and a master IRQ below it waits */
    dev_outb(M, 1, 0xEA); /* IRQ4 too */
    pulse(8);
    CHECK_EQ(pic8259_intack(pic), 0x38);
    pulse(4);
    CHECK_EQ(intr.level, 0);
    linux_eoi_slave(8, 0xEE);
    CHECK_EQ(pic8259_intack(pic), 0x34);
    dev_outb(M, 0, 0x64);
    CHECK_EQ(intr.level, 0);

    /* the slave masked as a whole through the master's IR2 */
    dev_outb(M, 1, 0xFF);
    pulse(8);
    CHECK_EQ(intr.level, 0);
    dev_outb(M, 1, 0xFB);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x38);
    linux_eoi_slave(8, 0xEE);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(intr.calls, intr.changes);
    teardown();
}

static void test_spurious_and_level(void)
{
    setup();
    linux_init(0xF3, 0xFC); /* IRQ2, IRQ3 on master; IRQ8, IRQ9 on slave */
    /* nothing pending: the master's IRQ7 vector, no ISR bit */
    CHECK_EQ(pic8259_intack(pic), 0x37);
    CHECK_EQ(read_isr(M), 0);
    CHECK_EQ(pic8259_delivered(pic, 7), 0);

    /* a level request withdrawn before INTA (IRQ3 level via ELCR) */
    dev_outb(E, 0, 0xFF);
    CHECK_EQ(dev_inb(E, 0), 0xF8); /* IRQ0-2 cannot be level */
    dev_outb(E, 1, 0xFF);
    CHECK_EQ(dev_inb(E, 1), 0xDE); /* IRQ8 and IRQ13 neither */
    dev_outb(E, 0, 0x08);
    dev_outb(E, 1, 0x02);
    pic8259_set_irq(pic, 3, 1);
    CHECK_EQ(intr.level, 1);
    pic8259_set_irq(pic, 3, 0);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_intack(pic), 0x37);

    /* a level request stays requested while high, across EOIs */
    pic8259_set_irq(pic, 3, 1);
    CHECK_EQ(pic8259_intack(pic), 0x33);
    dev_outb(M, 0, 0x63);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x33);
    pic8259_set_irq(pic, 3, 0);
    dev_outb(M, 0, 0x63);
    CHECK_EQ(intr.level, 0);

    /* slave level request withdrawn after the master latched IR2: the
     * slave's IRQ15 vector, with master ISR bit 2 set and slave ISR clear */
    pic8259_set_irq(pic, 9, 1);
    CHECK_EQ(intr.level, 1);
    pic8259_set_irq(pic, 9, 0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x3F);
    CHECK_EQ(read_isr(M), 0x04);
    CHECK_EQ(read_isr(S), 0x00);
    CHECK_EQ(pic8259_delivered(pic, 9), 0);
    CHECK_EQ(pic8259_delivered(pic, 15), 0);
    dev_outb(M, 0, 0x62); /* Linux EOIs the master for a spurious IRQ15 */
    CHECK_EQ(read_isr(M), 0);
    CHECK_EQ(intr.level, 0);

    /* level on the slave: delivered through the cascade while high */
    pic8259_set_irq(pic, 9, 1);
    CHECK_EQ(pic8259_intack(pic), 0x39);
    linux_eoi_slave(9, 0xFC);
    CHECK_EQ(intr.level, 1); /* still high: requested again */
    /* ...but withdrawn before INTA: the master had latched the edge of
     * the slave's INT, so this is the slave's spurious vector */
    pic8259_set_irq(pic, 9, 0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x3F);
    dev_outb(M, 0, 0x62);
    CHECK_EQ(intr.level, 0);

    /* ICW1 LTIM makes every input level-triggered */
    dev_outb(M, 0, 0x19);
    dev_outb(M, 1, 0x30);
    dev_outb(M, 1, 0x04);
    dev_outb(M, 1, 0x01);
    CHECK_EQ(dev_inb(M, 1), 0x00); /* ICW1 cleared IMR */
    pic8259_set_irq(pic, 1, 1);
    CHECK_EQ(pic8259_intack(pic), 0x31);
    dev_outb(M, 0, 0x20);
    CHECK_EQ(intr.level, 1);
    pic8259_set_irq(pic, 1, 0);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(pic8259_unmodelled(pic), 0);
    teardown();
}

static void test_modes(void)
{
    setup();
    /* auto-EOI master: nothing is left in service */
    dev_outb(M, 0, 0x11);
    dev_outb(M, 1, 0x30);
    dev_outb(M, 1, 0x04);
    dev_outb(M, 1, 0x03);
    dev_outb(M, 1, 0xFC);
    pulse(0);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    CHECK_EQ(read_isr(M), 0);
    pulse(1);
    CHECK_EQ(pic8259_intack(pic), 0x31);
    CHECK_EQ(intr.level, 0);

    /* without ICW4 (IC4 = 0): normal EOI, base from ICW2, ICW3 still read */
    dev_outb(M, 0, 0x10);
    dev_outb(M, 1, 0x48);
    dev_outb(M, 1, 0x04);
    dev_outb(M, 1, 0xFE); /* this is OCW1 now */
    CHECK_EQ(dev_inb(M, 1), 0xFE);
    pulse(0);
    CHECK_EQ(pic8259_intack(pic), 0x48);
    CHECK_EQ(read_isr(M), 0x01);
    dev_outb(M, 0, 0x20);

    /* single mode: no ICW3, IR2 is an ordinary input */
    dev_outb(M, 0, 0x13);
    dev_outb(M, 1, 0x50);
    dev_outb(M, 1, 0x01); /* ICW4 directly */
    CHECK_EQ(dev_inb(M, 1), 0x00);
    dev_outb(M, 1, 0xFB);
    dev_outb(S, 1, 0xFE);
    pulse(8);
    CHECK_EQ(pic8259_intack(pic), 0x52); /* the master's own IR2 vector */
    dev_outb(M, 0, 0x20);

    /* poll mode */
    linux_init(0xF0, 0xFF);
    pulse(2 + 1);
    dev_outb(M, 0, 0x0C);
    CHECK_EQ(dev_inb(M, 0), 0x83);
    CHECK_EQ(read_isr(M), 0x08);
    dev_outb(M, 0, 0x0C);
    CHECK_EQ(dev_inb(M, 0), 0x00); /* nothing above the in-service level */
    dev_outb(M, 0, 0x20);
    CHECK_EQ(intr.level, 0);

    /* special mask mode: a lower level may interrupt a masked in-service one */
    pulse(0);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    pulse(1);
    CHECK_EQ(intr.level, 0);
    dev_outb(M, 1, 0xF1);  /* mask IRQ0 (in service) */
    dev_outb(M, 0, 0x68);  /* set special mask */
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x31);
    dev_outb(M, 0, 0x61);
    dev_outb(M, 0, 0x48);  /* reset special mask */
    dev_outb(M, 0, 0x60);
    dev_outb(M, 1, 0xF0);
    CHECK_EQ(read_isr(M), 0);
    CHECK_EQ(intr.level, 0);

    /* special fully nested: a second slave IRQ above the first interrupts
     * although master IR2 is in service */
    dev_outb(M, 0, 0x11);
    dev_outb(M, 1, 0x30);
    dev_outb(M, 1, 0x04);
    dev_outb(M, 1, 0x11);
    dev_outb(M, 1, 0xFB);
    dev_outb(S, 1, 0xFC);
    pulse(9);
    CHECK_EQ(pic8259_intack(pic), 0x39);
    pulse(8);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x38);
    teardown();
}

static void test_hostile(void)
{
    setup();
    pic8259_set_irq(pic, -1, 1);
    pic8259_set_irq(pic, 16, 1);
    pic8259_set_irq(pic, 1000000, 1);
    pic8259_set_irq(pic, 2, 1); /* the cascade is not a device input */
    CHECK_EQ(pic8259_unmodelled(pic), 4);
    CHECK_EQ(pic8259_delivered(pic, -1), 0);
    CHECK_EQ(pic8259_delivered(pic, 16), 0);

    /* offsets past the two ports float */
    CHECK_EQ(dev_in(M, 2, 1), 0xFF);
    CHECK_EQ(dev_in(M, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    dev_out(S, 0x12345678, 0x11, 1);
    CHECK_EQ(pic8259_unmodelled(pic), 4 + 1 + 4 + 1);
    /* a 16-bit read is IRR/ISR then IMR */
    CHECK_EQ(dev_in(M, 0, 2), 0xFF00);
    CHECK_EQ(dev_in(M, 1, 2), 0xFFFF); /* second byte past the end */
    CHECK_EQ(dev_in(E, 0, 3) & 0xFF0000, 0xFF0000);
    dev_out(M, 0, 0, 0);
    CHECK(dev_in(M, 0, 0) == 0);

    test_rng r = {12345};
    bus_device devs[3] = {M, S, E};
    for (int i = 0; i < 20000; i++) {
        bus_device d = devs[rng_next(&r) % 3];
        uint32_t off = (uint32_t)(rng_next(&r) % 3);
        unsigned size = rng_size(&r);
        switch (rng_next(&r) % 4) {
        case 0: dev_out(d, off, (uint32_t)rng_next(&r), size); break;
        case 1: (void)dev_in(d, off, size); break;
        case 2: pic8259_set_irq(pic, (int)(rng_next(&r) % 18) - 1, (int)(rng_next(&r) & 1)); break;
        default: {
            int v = pic8259_intack(pic);
            CHECK(v >= 0 && v <= 255);
        }
        }
    }
    CHECK_EQ(intr.calls, intr.changes);
    /* still usable: re-init and deliver */
    dev_outb(E, 0, 0);
    dev_outb(E, 1, 0);
    for (int i = 0; i < 16; i++) pic8259_set_irq(pic, i, 0);
    /* ICW1 restarts initialisation whatever state the storm left */
    dev_outb(M, 0, 0x11);
    dev_outb(M, 1, 0x30);
    dev_outb(M, 1, 0x04);
    dev_outb(M, 1, 0x01);
    dev_outb(S, 0, 0x11);
    dev_outb(S, 1, 0x38);
    dev_outb(S, 1, 0x02);
    dev_outb(S, 1, 0x01);
    dev_outb(M, 1, 0xFE);
    dev_outb(S, 1, 0xFF);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(read_isr(M), 0);
    pulse(0);
    CHECK_EQ(intr.level, 1);
    CHECK_EQ(pic8259_intack(pic), 0x30);
    pic8259_reset(pic);
    CHECK_EQ(intr.level, 0);
    CHECK_EQ(dev_inb(M, 1), 0xFF);
    teardown();
}

int main(void)
{
    test_reset_state();
    test_linux_timer_flow();
    test_priorities();
    test_cascade();
    test_spurious_and_level();
    test_modes();
    test_hostile();
    return check_done();
}
