/* MC146818 RTC and CMOS: saved state (round trip, truncation, versions,
 * hostile bytes, the fields a hostile state must not get past), reset. */
#include "testing/check.h"
#include "legacy/mc146818.h"

/* cmos[128], index, nmi_disabled u8; clock_base, last_sync, unmodelled
 * u64 */
#define STATE_LEN 154
#define OFF_REG_A 0x0A
#define OFF_REG_B 0x0B
#define OFF_REG_C 0x0C
#define OFF_REG_D 0x0D
#define OFF_INDEX 128
#define OFF_NMI 129
#define OFF_CLOCK_BASE 130

#define SEC 1000000000ull
#define START 1700000000 /* 2023-11-14 22:13:20 UTC */
#define PROBE_T (100 * SEC) /* after everything the tests drive */

typedef struct env {
    fake_clock clk;
    fake_irq irq;
} env;

static void *create(void *opaque)
{
    env *e = opaque;
    return mc146818_new(fake_irq_line(&e->irq, 8), fake_now, &e->clk, START, 63 * 1024);
}

static void probe(void *dev, void *opaque, check_trace *t)
{
    mc146818 *rtc = dev;
    env *e = opaque;
    bus_device R = mc146818_device(rtc);
    trace_irq_begin(&e->irq);
    e->clk.t = PROBE_T;
    /* the data port at whatever index the state holds */
    trace_add(t, dev_inb(R, 1));
    dev_outb(R, 1, 0x5A);
    trace_add(t, dev_inb(R, 1));
    static const uint8_t regs[] = {0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32, 0x0A,
                                   0x0B, 0x01, 0x03, 0x05, 0x0E, 0x17, 0x2E, 0x7F};
    for (int step = 0; step < 10; step++) {
        e->clk.t = PROBE_T + (uint64_t)step * 3 * SEC / 10;
        mc146818_run_until(rtc, e->clk.t);
        trace_irq(t, &e->irq);
        panda_vtime next = mc146818_next_deadline(rtc);
        CHECK(next > e->clk.t); /* caught up: nothing is left due */
        trace_add(t, next);
        for (size_t i = 0; i < sizeof regs; i++) {
            dev_outb(R, 0, regs[i]);
            trace_add(t, dev_inb(R, 1));
        }
        dev_outb(R, 0, 0x0D);
        CHECK_EQ(dev_inb(R, 1), 0x80);
        if (step % 3 == 2) { /* read C: flags clear, IRQ8 falls */
            dev_outb(R, 0, 0x0C);
            uint8_t c = dev_inb(R, 1);
            CHECK_EQ(c & 0x0F, 0);
            trace_add(t, c);
        }
        trace_irq(t, &e->irq);
    }
}

/* A clock the guest set (SET, new hour, SET cleared), periodic 2 Hz,
 * update and alarm interrupts on with flags and IRQ8 pending, the guest's
 * CMOS bytes, NMI disabled with an index left in upper RAM. */
static mc146818 *driven(env *e)
{
    e->clk.t = 0;
    mc146818 *rtc = create(e);
    bus_device R = mc146818_device(rtc);
    e->clk.t = 2 * SEC + SEC / 2;
    dev_outb(R, 0, 0x0B);
    dev_outb(R, 1, 0x82); /* SET */
    dev_outb(R, 0, 0x04);
    dev_outb(R, 1, 0x07); /* 07:xx */
    dev_outb(R, 0, 0x0B);
    dev_outb(R, 1, 0x72); /* run; PIE, AIE, UIE, 24-hour BCD */
    dev_outb(R, 0, 0x0A);
    dev_outb(R, 1, 0x2F);
    const uint8_t alarm[] = {0x01, 0xC0, 0x03, 0xC0, 0x05, 0x07};
    for (int i = 0; i < 6; i += 2) {
        dev_outb(R, 0, alarm[i]);
        dev_outb(R, 1, alarm[i + 1]);
    }
    for (uint8_t i = 0x40; i < 0x50; i++) {
        dev_outb(R, 0, i);
        dev_outb(R, 1, (uint8_t)(i * 7));
    }
    mc146818_run_until(rtc, 3 * SEC + SEC / 3);
    dev_outb(R, 0, 0x80 | 0x45);
    return rtc;
}

static void test_round_trip_and_hostile(env *e)
{
    state_case sc = {&mc146818_ops, e, create, probe};
    mc146818 *rtc = driven(e);
    CHECK_EQ(e->irq.level, 1);
    check_state_reloads(&sc, rtc);
    size_t len;
    uint8_t *s = state_bytes(&sc, rtc, &len);
    CHECK_EQ(len, STATE_LEN);
    CHECK_EQ(s[OFF_INDEX], 0x45);
    CHECK_EQ(s[OFF_NMI], 1);
    CHECK(s[OFF_REG_C] & 0x80);

    /* an index past CMOS read and wrote the host's heap through 0x71 */
    check_state_refuses(&sc, s, len, OFF_INDEX, 1, 0x80, "mc146818 index");
    check_state_refuses(&sc, s, len, OFF_INDEX, 1, 0xFF, "mc146818 index");
    check_state_refuses(&sc, s, len, OFF_NMI, 1, 2, "mc146818 nmi_disabled");
    check_state_refuses(&sc, s, len, OFF_CLOCK_BASE, 8, (uint64_t)INT64_MAX, "mc146818 clock_base");
    check_state_refuses(&sc, s, len, OFF_CLOCK_BASE, 8, (uint64_t)INT64_MIN, "mc146818 clock_base");
    check_state_refuses(&sc, s, len, OFF_REG_A, 1, 0xAF, "mc146818 register A");
    check_state_refuses(&sc, s, len, OFF_REG_B, 1, 0x92, "mc146818 register B"); /* SET + UIE */
    check_state_refuses(&sc, s, len, OFF_REG_B, 1, 0x02, "mc146818 register C's IRQF");
    check_state_refuses(&sc, s, len, OFF_REG_C, 1, 0x01, "mc146818 register C");
    check_state_refuses(&sc, s, len, OFF_REG_C, 1, 0x00 | 0x10, "mc146818 register C's IRQF");
    check_state_refuses(&sc, s, len, OFF_REG_D, 1, 0x00, "mc146818 register D");
    free(s);

    check_state_case(&sc, rtc, STATE_LEN, 3000, 146818);
    mc146818_free(rtc);
}

/* the clock moves on by up to 1/4 s a step */
static void storm_step(void *dev, void *opaque, uint64_t x)
{
    env *e = opaque;
    bus_device R = mc146818_device(dev);
    uint8_t v = (uint8_t)(x >> 16);
    e->clk.t += (x >> 32) % (SEC / 4);
    switch (x % 4) {
    case 0: dev_outb(R, 0, (x >> 8) & 1 ? v : (uint8_t)(v & 0x8F)); break; /* often a register */
    case 1: dev_outb(R, 1, v); break;
    case 2: dev_inb(R, 1); break;
    default: mc146818_run_until(dev, e->clk.t); break;
    }
}

static void test_reset(env *e)
{
    state_case sc = {&mc146818_ops, e, create, probe};
    mc146818 *rtc = driven(e);
    bus_device R = mc146818_device(rtc);
    CHECK_EQ(e->irq.level, 1);
    mc146818_reset(rtc);
    CHECK_EQ(e->irq.level, 0);
    dev_outb(R, 0, 0x0B);
    CHECK_EQ(dev_inb(R, 1), 0x02);
    dev_outb(R, 0, 0x45);
    CHECK_EQ(dev_inb(R, 1), 0x00);
    dev_outb(R, 0, 0x18); /* the memory size is the configured one */
    CHECK_EQ(dev_inb(R, 1), 0xFC); /* 63 MB: 0xFC00 KB */
    mc146818_free(rtc);

    rtc = driven(e);
    check_reset(&sc, rtc);
    mc146818_free(rtc);
    mc146818_reset(NULL);
}

int main(void)
{
    env e = {0};
    CHECK(strcmp(mc146818_ops.type, "mc146818") == 0);
    test_round_trip_and_hostile(&e);
    e.clk.t = 0;
    check_reachable_states(&(state_case){&mc146818_ops, &e, create, probe}, 4000, 40, 0x70,
                           storm_step);
    test_reset(&e);

    e.clk.t = 0;
    mc146818 *rtc = create(&e);
    CHECK_EQ(mc146818_ops.next_deadline(rtc), mc146818_next_deadline(rtc));
    mc146818_ops.run_until(rtc, 5 * SEC);
    CHECK_EQ(mc146818_ops.next_deadline(rtc), PANDA_VTIME_NEVER); /* no interrupts on */
    mc146818_ops.free(rtc);
    return check_done();
}
