/* 8259A PIC pair: saved state (round trip, truncation, versions, hostile
 * bytes, the fields a hostile state must not get past), reset. */
#include "testing/check.h"
#include "legacy/pic8259.h"

/* per chip (master, then slave): irr, line, imr, isr, elcr, irq_base,
 * priority_add, icw3, init_state, then 10 flags (init4, single, ltim,
 * auto_eoi, rotate_on_aeoi, sfnm, buffered, read_isr, poll, special_mask),
 * u8 each; then delivered[16], spurious, unmodelled u64 */
#define CHIP_LEN 19
#define STATE_LEN (2 * CHIP_LEN + 18 * 8)
#define MASTER 0
#define SLAVE CHIP_LEN
#define OFF_LINE 1
#define OFF_ELCR 4
#define OFF_IRQ_BASE 5
#define OFF_PRIORITY_ADD 6
#define OFF_INIT_STATE 8
#define OFF_INIT4 9
#define OFF_POLL 17

typedef struct env {
    fake_irq intr;
} env;

static void *create(void *opaque)
{
    env *e = opaque;
    return pic8259_new(fake_irq_line(&e->intr, 0));
}

static void read_chip(pic8259 *pic, bus_device d, check_trace *t)
{
    dev_outb(d, 0, 0x0A);
    trace_add(t, dev_inb(d, 0)); /* IRR */
    dev_outb(d, 0, 0x0B);
    trace_add(t, dev_inb(d, 0)); /* ISR */
    trace_add(t, dev_inb(d, 1)); /* IMR */
    int level = pic8259_intr_level(pic);
    CHECK(level == 0 || level == 1);
    trace_add(t, (uint64_t)level);
}

static void probe(void *dev, void *opaque, check_trace *t)
{
    pic8259 *pic = dev;
    env *e = opaque;
    bus_device M = pic8259_master_device(pic), S = pic8259_slave_device(pic),
               E = pic8259_elcr_device(pic);
    trace_irq_begin(&e->intr);
    trace_add(t, dev_inb(M, 0)); /* whichever register the state selects */
    read_chip(pic, M, t);
    read_chip(pic, S, t);
    uint8_t elcr0 = dev_inb(E, 0), elcr1 = dev_inb(E, 1);
    CHECK_EQ(elcr0 & ~0xF8u, 0);
    CHECK_EQ(elcr1 & ~0xDEu, 0);
    trace_add(t, elcr0);
    trace_add(t, elcr1);
    trace_irq(t, &e->intr);
    static const int irqs[] = {0, 1, 5, 8, 12, 14, 15, 7};
    for (size_t i = 0; i < sizeof irqs / sizeof irqs[0]; i++) {
        pic8259_set_irq(pic, irqs[i], 1);
        trace_irq(t, &e->intr);
        trace_add(t, (uint64_t)pic8259_intack(pic));
        trace_irq(t, &e->intr);
        if (i & 1) pic8259_set_irq(pic, irqs[i], 0);
        dev_outb(i & 2 ? S : M, 0, 0x20); /* non-specific EOI */
        trace_irq(t, &e->intr);
    }
    for (int i = 0; i < 4; i++) {
        bus_device d = i & 1 ? S : M;
        dev_outb(d, 0, 0x0C); /* poll */
        uint8_t v = dev_inb(d, 0);
        CHECK_EQ(v & 0x78, 0); /* 0x80 | irq, or 0 */
        trace_add(t, v);
        trace_irq(t, &e->intr);
    }
    read_chip(pic, M, t);
    read_chip(pic, S, t);
}

/* Linux's initialisation with other bases, some IRQs masked, level
 * inputs, requests pending and in service on both chips, rotated
 * priority, special mask mode on the master, ISR selected on the slave. */
static pic8259 *driven(env *e)
{
    pic8259 *pic = create(e);
    bus_device M = pic8259_master_device(pic), S = pic8259_slave_device(pic),
               E = pic8259_elcr_device(pic);
    const uint8_t m_icw[] = {0x11, 0x30, 0x04, 0x01}, s_icw[] = {0x11, 0x38, 0x02, 0x01};
    for (int i = 0; i < 4; i++) dev_outb(M, i ? 1 : 0, m_icw[i]);
    for (int i = 0; i < 4; i++) dev_outb(S, i ? 1 : 0, s_icw[i]);
    dev_outb(M, 1, 0x20);
    dev_outb(S, 1, 0x40);
    dev_outb(E, 1, 0x0C); /* IRQ 10 and 11 level-triggered */
    const int raise[] = {1, 3, 4, 9, 11, 6};
    for (size_t i = 0; i < sizeof raise / sizeof raise[0]; i++) pic8259_set_irq(pic, raise[i], 1);
    pic8259_set_irq(pic, 4, 0);
    pic8259_intack(pic); /* IRQ1 */
    dev_outb(M, 0, 0x20);
    pic8259_intack(pic); /* IRQ9, through the cascade */
    dev_outb(M, 0, 0xC3); /* IRQ3 lowest */
    dev_outb(M, 0, 0x68); /* special mask on */
    dev_outb(S, 0, 0x0B);
    return pic;
}

static void test_round_trip_and_hostile(env *e)
{
    state_case sc = {&pic8259_ops, e, create, probe};
    pic8259 *pic = driven(e);
    CHECK_EQ(pic8259_intr_level(pic), e->intr.level);
    check_state_reloads(&sc, pic);
    size_t len;
    uint8_t *s = state_bytes(&sc, pic, &len);
    CHECK_EQ(len, STATE_LEN);
    CHECK(s[MASTER + 3] != 0 && s[SLAVE + 3] != 0); /* in service on both */
    CHECK(s[MASTER + OFF_PRIORITY_ADD] != 0);

    /* the loaded INTR is the saved one, with nothing driven */
    pic8259 *b = create(e);
    int calls = e->intr.calls;
    CHECK(state_load(&sc, b, s, len, 1, NULL, 0));
    CHECK_EQ(e->intr.calls, calls);
    CHECK_EQ(pic8259_intr_level(b), pic8259_intr_level(pic));
    pic8259_free(b);

    check_state_refuses(&sc, s, len, MASTER + OFF_PRIORITY_ADD, 1, 8, "pic8259 master priority_add");
    check_state_refuses(&sc, s, len, SLAVE + OFF_PRIORITY_ADD, 1, 0xFF, "pic8259 slave priority_add");
    check_state_refuses(&sc, s, len, MASTER + OFF_INIT_STATE, 1, 4, "pic8259 master init_state");
    check_state_refuses(&sc, s, len, MASTER + OFF_ELCR, 1, 0x07, "pic8259 master elcr");
    check_state_refuses(&sc, s, len, SLAVE + OFF_ELCR, 1, 0x01, "pic8259 slave elcr");
    check_state_refuses(&sc, s, len, SLAVE + OFF_IRQ_BASE, 1, 0x71, "pic8259 slave irq_base");
    check_state_refuses(&sc, s, len, MASTER + OFF_LINE, 1, 0x04, "pic8259 master line");
    check_state_refuses(&sc, s, len, MASTER + OFF_INIT4, 1, 2, "pic8259 master init4");
    check_state_refuses(&sc, s, len, SLAVE + OFF_POLL, 1, 3, "pic8259 slave poll");
    free(s);

    check_state_case(&sc, pic, STATE_LEN, 3000, 8259);
    pic8259_free(pic);
}

static void storm_step(void *dev, void *opaque, uint64_t x)
{
    (void)opaque;
    pic8259 *pic = dev;
    bus_device d[3] = {pic8259_master_device(pic), pic8259_slave_device(pic),
                       pic8259_elcr_device(pic)};
    uint8_t v = (uint8_t)(x >> 16);
    switch (x % 4) {
    case 0: dev_outb(d[(x >> 8) % 3], (x >> 10) & 1, v); break;
    case 1: dev_inb(d[(x >> 8) % 3], (x >> 10) & 1); break;
    case 2: pic8259_set_irq(pic, (int)((x >> 8) % 16), (x >> 12) & 1); break;
    default: pic8259_intack(pic); break;
    }
}

static void test_reset(env *e)
{
    state_case sc = {&pic8259_ops, e, create, probe};
    pic8259 *pic = driven(e);
    /* the input wires keep their levels over a reset: lower them first so
     * the reset chip compares with a fresh one */
    for (int irq = 0; irq < 16; irq++)
        if (irq != 2) pic8259_set_irq(pic, irq, 0);
    check_reset(&sc, pic);
    pic8259_free(pic);
}

int main(void)
{
    env e = {0};
    CHECK(strcmp(pic8259_ops.type, "pic8259") == 0);
    test_round_trip_and_hostile(&e);
    check_reachable_states(&(state_case){&pic8259_ops, &e, create, probe}, 4000, 40, 0x20,
                           storm_step);
    test_reset(&e);
    return check_done();
}
