/* 8042 keyboard controller: saved state (round trip, truncation, versions,
 * hostile bytes, the fields a hostile state must not get past), reset. */
#include "testing/check.h"
#include "legacy/i8042.h"

/* queue[16], q_head, q_count, last_read, ram[32], outport, sys,
 * last_was_cmd, pending, pending_ram, kbd_param, kbd_leds, kbd_typematic,
 * kbd_scanset (u8 each), dropped u64, unmodelled u64 */
#define STATE_LEN 76
#define OFF_Q_HEAD 16
#define OFF_Q_COUNT 17
#define OFF_SYS 52
#define OFF_LAST_WAS_CMD 53
#define OFF_PENDING 54
#define OFF_PENDING_RAM 55
#define OFF_KBD_PARAM 56
#define OFF_KBD_LEDS 57
#define OFF_KBD_TYPEMATIC 58
#define OFF_KBD_SCANSET 59

typedef struct env {
    fake_irq irq;
    int resets;
} env;

static void on_reset(void *o) { ((env *)o)->resets++; }

static void *create(void *opaque)
{
    env *e = opaque;
    return i8042_new(fake_irq_line(&e->irq, 1), on_reset, e);
}

static uint8_t status(i8042 *k, check_trace *t)
{
    uint8_t s = dev_inb(i8042_status_device(k), 0);
    CHECK_EQ(s & ~0x1Du, 0); /* OBF, SYS, CMD and "not inhibited" only */
    CHECK(s & 0x10);
    trace_add(t, s);
    return s;
}

static void drain(i8042 *k, env *e, check_trace *t, int n)
{
    bus_device D = i8042_data_device(k);
    for (int i = 0; i < n; i++) {
        status(k, t);
        trace_add(t, dev_inb(D, 0));
        trace_irq(t, &e->irq);
    }
}

static void probe(void *dev, void *opaque, check_trace *t)
{
    i8042 *k = dev;
    env *e = opaque;
    bus_device D = i8042_data_device(k), S = i8042_status_device(k);
    trace_irq_begin(&e->irq);
    int resets = e->resets;
    drain(k, e, t, 18);
    dev_outb(D, 0, 0x07); /* to whatever is pending: RAM, output port, keyboard */
    drain(k, e, t, 3);
    dev_outb(S, 0, 0x20);
    drain(k, e, t, 1);
    dev_outb(S, 0, 0xD0);
    drain(k, e, t, 1);
    dev_outb(D, 0, 0xF2);
    drain(k, e, t, 4);
    dev_outb(D, 0, 0xF0);
    dev_outb(D, 0, 0x00);
    drain(k, e, t, 3);
    dev_outb(S, 0, 0x60);
    dev_outb(D, 0, 0x45);
    dev_outb(D, 0, 0xEE);
    drain(k, e, t, 2);
    trace_add(t, (uint64_t)(e->resets - resets));
}

/* Replies queued and wrapped past the end of the queue, a command byte
 * and output port of the guest's, the keyboard waiting for an LED byte and
 * the controller for a RAM byte. */
static i8042 *driven(env *e)
{
    i8042 *k = create(e);
    bus_device D = i8042_data_device(k), S = i8042_status_device(k);
    dev_outb(S, 0, 0xAA);
    dev_outb(S, 0, 0x60);
    dev_outb(D, 0, 0x47);
    dev_outb(S, 0, 0xD1);
    dev_outb(D, 0, 0xDF);
    dev_outb(D, 0, 0xF3);
    dev_outb(D, 0, 0x2B);
    for (int i = 0; i < 3; i++) dev_outb(D, 0, 0xF2);
    for (int i = 0; i < 8; i++) dev_inb(D, 0);
    for (int i = 0; i < 10; i++) {
        dev_outb(S, 0, 0xD2);
        dev_outb(D, 0, (uint8_t)(0x30 + i));
    }
    dev_outb(D, 0, 0xED);
    dev_outb(S, 0, 0x65);
    return k;
}

static void test_round_trip_and_hostile(env *e)
{
    state_case sc = {&i8042_ops, e, create, probe};
    i8042 *k = driven(e);
    check_state_reloads(&sc, k);
    size_t len;
    uint8_t *s = state_bytes(&sc, k, &len);
    CHECK_EQ(len, STATE_LEN);
    CHECK(s[OFF_Q_HEAD] != 0);
    CHECK(s[OFF_Q_COUNT] > 8);
    CHECK(s[OFF_PENDING] != 0);
    CHECK(s[OFF_KBD_PARAM] != 0);

    check_state_refuses(&sc, s, len, OFF_Q_HEAD, 1, 16, "i8042 q_head");
    check_state_refuses(&sc, s, len, OFF_Q_COUNT, 1, 17, "i8042 q_count");
    check_state_refuses(&sc, s, len, OFF_Q_COUNT, 1, 0xFF, "i8042 q_count");
    check_state_refuses(&sc, s, len, OFF_SYS, 1, 2, "i8042 sys");
    check_state_refuses(&sc, s, len, OFF_LAST_WAS_CMD, 1, 0x80, "i8042 last_was_cmd");
    check_state_refuses(&sc, s, len, OFF_PENDING, 1, 5, "i8042 pending");
    check_state_refuses(&sc, s, len, OFF_PENDING_RAM, 1, 32, "i8042 pending_ram");
    check_state_refuses(&sc, s, len, OFF_KBD_PARAM, 1, 4, "i8042 kbd_param");
    check_state_refuses(&sc, s, len, OFF_KBD_LEDS, 1, 8, "i8042 kbd_leds");
    check_state_refuses(&sc, s, len, OFF_KBD_TYPEMATIC, 1, 0x80, "i8042 kbd_typematic");
    check_state_refuses(&sc, s, len, OFF_KBD_SCANSET, 1, 0, "i8042 kbd_scanset");
    check_state_refuses(&sc, s, len, OFF_KBD_SCANSET, 1, 4, "i8042 kbd_scanset");
    free(s);

    check_state_case(&sc, k, STATE_LEN, 3000, 8042);
    i8042_free(k);
}

static void storm_step(void *dev, void *opaque, uint64_t x)
{
    (void)opaque;
    bus_device D = i8042_data_device(dev), S = i8042_status_device(dev);
    uint8_t v = (uint8_t)(x >> 16);
    switch (x % 4) {
    case 0: dev_outb(S, 0, v); break;
    case 1: dev_outb(D, 0, v); break;
    case 2: dev_inb(D, 0); break;
    default: dev_inb(S, 0); break;
    }
}

static void test_reset(env *e)
{
    state_case sc = {&i8042_ops, e, create, probe};
    i8042 *k = driven(e);
    bus_device D = i8042_data_device(k), S = i8042_status_device(k);
    CHECK_EQ(e->irq.level, 1);
    i8042_reset(k);
    CHECK_EQ(e->irq.level, 0);
    CHECK_EQ(dev_inb(S, 0), 0x10); /* nothing queued, no SYS, last write to data */
    dev_outb(S, 0, 0x20);
    CHECK_EQ(dev_inb(D, 0), 0x45);
    i8042_free(k);

    k = driven(e);
    check_reset(&sc, k);
    i8042_free(k);
    i8042_reset(NULL);
}

int main(void)
{
    env e = {0};
    CHECK(strcmp(i8042_ops.type, "i8042") == 0);
    test_round_trip_and_hostile(&e);
    check_reachable_states(&(state_case){&i8042_ops, &e, create, probe}, 4000, 40, 0x64,
                           storm_step);
    test_reset(&e);
    return check_done();
}
