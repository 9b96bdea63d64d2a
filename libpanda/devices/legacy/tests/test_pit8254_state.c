/* 8254 PIT and port 0x61: saved state (round trip, truncation, versions,
 * hostile bytes, the fields a hostile state must not get past), reset. */
#include "testing/check.h"
#include "legacy/pit8254.h"

/* per channel: mode, rw, bcd u8; count u32; loaded, started, running,
 * gate, null_count u8; base_ticks, run_start u64; write_hi, read_hi,
 * write_lsb, latch_state u8; latched u16; status_latched, status u8;
 * next_edge u64.  Then port61, refresh u8; missed, unmodelled u64. */
#define CH_LEN 44
#define STATE_LEN (3 * CH_LEN + 18)
#define CH(i) ((i) * CH_LEN)
#define OFF_MODE 0
#define OFF_RW 1
#define OFF_COUNT 3
#define OFF_RUNNING 9
#define OFF_GATE 10
#define OFF_BASE_TICKS 12
#define OFF_WRITE_HI 28
#define OFF_LATCH_STATE 31
#define OFF_NEXT_EDGE 36
#define OFF_PORT61 (3 * CH_LEN)

#define MS 1000000ull
#define PROBE_T (5000 * MS) /* after everything the tests drive */

typedef struct env {
    fake_clock clk;
    fake_irq irq;
} env;

static void *create(void *opaque)
{
    env *e = opaque;
    return pit8254_new(fake_irq_line(&e->irq, 0), fake_now, &e->clk);
}

static void probe(void *dev, void *opaque, check_trace *t)
{
    pit8254 *pit = dev;
    env *e = opaque;
    bus_device P = pit8254_device(pit), B = pit8254_port61_device(pit);
    trace_irq_begin(&e->irq);
    for (int step = 0; step < 12; step++) {
        e->clk.t = PROBE_T + (uint64_t)step * 7 * MS / 3;
        pit8254_run_until(pit, e->clk.t);
        trace_irq(t, &e->irq);
        panda_vtime next = pit8254_next_deadline(pit);
        CHECK(next > e->clk.t); /* caught up: nothing is left due */
        trace_add(t, next);
        dev_outb(P, 3, 0xCE); /* read-back: status and count of every channel */
        for (uint32_t ch = 0; ch < 3; ch++)
            for (int i = 0; i < 3; i++) trace_add(t, dev_inb(P, ch));
        uint8_t b = dev_inb(B, 0);
        CHECK_EQ(b & 0xC0, 0);
        trace_add(t, b);
        if (step == 4) { /* reprogram channel 0: mode 3, 4096 */
            dev_outb(P, 3, 0x36);
            dev_outb(P, 0, 0x00);
            dev_outb(P, 0, 0x10);
        }
        if (step == 7) dev_outb(B, 0, (uint8_t)(b ^ 1)); /* toggle gate 2 */
        trace_irq(t, &e->irq);
    }
}

/* Channel 0 periodic (mode 2) with ticks missed and a word write half
 * done, channel 1 one-shot (mode 0, LSB access) with a count latch half
 * read, channel 2 square wave stopped by its gate with a status latched. */
static pit8254 *driven(env *e)
{
    e->clk.t = 0;
    pit8254 *pit = create(e);
    bus_device P = pit8254_device(pit), B = pit8254_port61_device(pit);
    e->clk.t = 1 * MS;
    dev_outb(P, 3, 0x34);
    dev_outb(P, 0, 1000 & 0xFF);
    dev_outb(P, 0, 1000 >> 8);
    dev_outb(P, 3, 0x10 | 0x40); /* channel 1: mode 0, LSB */
    dev_outb(P, 1, 200);
    dev_outb(B, 0, 0x03);
    dev_outb(P, 3, 0xB6); /* channel 2: mode 3, word */
    dev_outb(P, 2, 0x34);
    dev_outb(P, 2, 0x12);
    for (int i = 1; i <= 5; i++) {
        e->clk.t = (1 + 3 * (uint64_t)i) * MS;
        pit8254_run_until(pit, e->clk.t);
    }
    e->clk.t = 40 * MS;
    dev_outb(B, 0, 0x02); /* gate 2 off: stopped with clocks counted */
    dev_outb(P, 3, 0x40); /* latch channel 1 */
    dev_outb(P, 3, 0xE8); /* read-back: status of channel 2 */
    dev_outb(P, 0, 0x99); /* first byte of a new channel 0 count */
    pit8254_run_until(pit, 100 * MS);
    return pit;
}

static void test_round_trip_and_hostile(env *e)
{
    state_case sc = {&pit8254_ops, e, create, probe};
    pit8254 *pit = driven(e);
    check_state_reloads(&sc, pit);
    size_t len;
    uint8_t *s = state_bytes(&sc, pit, &len);
    CHECK_EQ(len, STATE_LEN);
    CHECK_EQ(s[CH(0) + OFF_MODE], 2);
    CHECK_EQ(s[CH(0) + OFF_WRITE_HI], 1);
    CHECK(s[CH(2) + OFF_BASE_TICKS] != 0 && s[CH(2) + OFF_RUNNING] == 0);

    /* a count of 0 in modes 2 and 3 divided by zero */
    check_state_refuses(&sc, s, len, CH(0) + OFF_COUNT, 4, 0, "pit8254 channel 0 count");
    check_state_refuses(&sc, s, len, CH(2) + OFF_COUNT, 4, 0, "pit8254 channel 2 count");
    check_state_refuses(&sc, s, len, CH(1) + OFF_COUNT, 4, 0x10001, "pit8254 channel 1 count");
    check_state_refuses(&sc, s, len, CH(1) + OFF_COUNT, 4, 0xFFFFFFFFu, "pit8254 channel 1 count");
    check_state_refuses(&sc, s, len, CH(0) + OFF_MODE, 1, 6, "pit8254 channel 0 mode");
    check_state_refuses(&sc, s, len, CH(2) + OFF_MODE, 1, 0xFF, "pit8254 channel 2 mode");
    check_state_refuses(&sc, s, len, CH(0) + OFF_RW, 1, 0, "pit8254 channel 0 rw");
    check_state_refuses(&sc, s, len, CH(0) + OFF_RW, 1, 4, "pit8254 channel 0 rw");
    check_state_refuses(&sc, s, len, CH(1) + OFF_LATCH_STATE, 1, 4, "pit8254 channel 1 latch_state");
    check_state_refuses(&sc, s, len, CH(1) + OFF_GATE, 1, 2, "pit8254 channel 1 gate");
    check_state_refuses(&sc, s, len, CH(1) + OFF_GATE, 1, 0, "pit8254 channel 1 gate");
    check_state_refuses(&sc, s, len, CH(2) + OFF_RUNNING, 1, 1, "pit8254 channel 2 running");
    check_state_refuses(&sc, s, len, CH(1) + OFF_WRITE_HI, 1, 1, "pit8254 channel 1 has a word");
    check_state_refuses(&sc, s, len, CH(0) + OFF_NEXT_EDGE, 8, 1001, "pit8254 channel 0 next_edge");
    check_state_refuses(&sc, s, len, OFF_PORT61, 1, 0x12, "pit8254 port61");
    check_state_refuses(&sc, s, len, OFF_PORT61, 1, 0x03, "pit8254 channel 2 gate");
    free(s);

    check_state_case(&sc, pit, STATE_LEN, 3000, 8254);
    pit8254_free(pit);
}

/* the clock moves on by up to 2 ms a step */
static void storm_step(void *dev, void *opaque, uint64_t x)
{
    env *e = opaque;
    bus_device P = pit8254_device(dev), B = pit8254_port61_device(dev);
    uint8_t v = (uint8_t)(x >> 16);
    e->clk.t += (x >> 32) % (2 * MS);
    switch (x % 5) {
    case 0: dev_outb(P, 3, v); break;
    case 1: dev_outb(P, (x >> 8) % 3, v); break;
    case 2: dev_inb(P, (x >> 8) % 3); break;
    case 3: dev_outb(B, 0, v); break;
    default: pit8254_run_until(dev, e->clk.t); break;
    }
}

static void test_reset(env *e)
{
    state_case sc = {&pit8254_ops, e, create, probe};
    pit8254 *pit = driven(e);
    check_reset(&sc, pit);
    pit8254_free(pit);
}

int main(void)
{
    env e = {0};
    CHECK(strcmp(pit8254_ops.type, "pit8254") == 0);
    test_round_trip_and_hostile(&e);
    e.clk.t = 0;
    check_reachable_states(&(state_case){&pit8254_ops, &e, create, probe}, 4000, 40, 0x43,
                           storm_step);
    test_reset(&e);

    /* the record's timer entries are the device's */
    e.clk.t = 0;
    pit8254 *pit = create(&e);
    int raises = e.irq.raises;
    CHECK_EQ(pit8254_ops.next_deadline(pit), pit8254_next_deadline(pit));
    pit8254_ops.run_until(pit, pit8254_next_deadline(pit));
    CHECK_EQ(e.irq.raises, raises + 1);
    pit8254_ops.free(pit);
    return check_done();
}
