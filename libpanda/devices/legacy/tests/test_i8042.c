/* i8042 keyboard controller: Linux's probe, the command byte, keyboard
 * commands, IRQ1 per byte, reset pulses, no AUX, hostile input. */
#include "testing/check.h"
#include "legacy/i8042.h"

static fake_irq irq1;
static int resets;
static i8042 *k;
static bus_device D, S; /* 0x60, 0x64 */

static void on_reset(void *opaque)
{
    (*(int *)opaque)++;
}

static void setup(void)
{
    irq1 = (fake_irq){0};
    resets = 0;
    k = i8042_new(fake_irq_line(&irq1, 1), on_reset, &resets);
    D = i8042_data_device(k);
    S = i8042_status_device(k);
}

static void teardown(void)
{
    i8042_free(k);
}

static int obf(void)
{
    return dev_inb(S, 0) & 0x01;
}

/* i8042_command(): write the command, the parameter, read the reply */
static int command(uint8_t cmd, int param, int *reply)
{
    dev_outb(S, 0, cmd);
    if (param >= 0) {
        if (dev_inb(S, 0) & 0x02) return -1; /* IBF never set */
        dev_outb(D, 0, (uint8_t)param);
    }
    if (reply) {
        if (!obf()) return -1;
        *reply = dev_inb(D, 0);
    }
    return 0;
}

static int flush(void)
{
    int n = 0;
    while (obf() && n < 64) {
        (void)dev_inb(D, 0);
        n++;
    }
    return n;
}

static void test_reset_and_probe(void)
{
    setup();
    CHECK_EQ(dev_inb(S, 0), 0x10); /* not inhibited, nothing else */
    CHECK_EQ(dev_inb(D, 0), 0x00);
    CHECK_EQ(irq1.level, 0);
    CHECK_EQ(flush(), 0);

    int v = -1;
    /* i8042_controller_check / selftest */
    CHECK_EQ(command(0xAA, -1, &v), 0);
    CHECK_EQ(v, 0x55);
    CHECK_EQ(dev_inb(S, 0) & 0x0C, 0x0C); /* SYS, last write was a command */
    /* i8042_controller_init: read CTR until stable, then write it back */
    int c1 = -1, c2 = -1;
    CHECK_EQ(command(0x20, -1, &c1), 0);
    CHECK_EQ(command(0x20, -1, &c2), 0);
    CHECK_EQ(c1, 0x45);
    CHECK_EQ(c2, 0x45);
    CHECK(dev_inb(S, 0) & 0x10); /* no keylock */
    int ctr = (c1 | 0x10) & ~0x01; /* kbd disabled, no kbd interrupt */
    CHECK_EQ(command(0x60, ctr, NULL), 0);
    CHECK_EQ(dev_inb(S, 0) & 0x08, 0); /* last write was data */
    CHECK_EQ(command(0x20, -1, &v), 0);
    CHECK_EQ(v, ctr);
    CHECK_EQ(irq1.level, 0); /* every reply was read */
    /* kbd interface test */
    CHECK_EQ(command(0xAB, -1, &v), 0);
    CHECK_EQ(v, 0x00);
    /* i8042_check_aux: loop (no reply without AUX), AUX test, toggles */
    dev_outb(S, 0, 0xD3);
    dev_outb(D, 0, 0x5A);
    CHECK_EQ(obf(), 0);
    CHECK_EQ(command(0xA9, -1, &v), 0);
    CHECK_EQ(v, 0xFF);
    CHECK_EQ(command(0xA7, -1, NULL), 0);
    CHECK_EQ(command(0x20, -1, &v), 0);
    CHECK_EQ(v & 0x20, 0x20); /* AUX disabled */
    CHECK_EQ(command(0xA8, -1, NULL), 0);
    CHECK_EQ(command(0x20, -1, &v), 0);
    CHECK_EQ(v & 0x20, 0x20); /* still: there is no AUX port */
    CHECK_EQ(command(0xD4, 0xF4, NULL), 0); /* to the absent mouse: dropped */
    CHECK_EQ(obf(), 0);
    /* enable the keyboard and its interrupt */
    CHECK_EQ(command(0x60, 0x47, NULL), 0);
    CHECK_EQ(command(0xAE, -1, NULL), 0);
    CHECK_EQ(command(0x20, -1, &v), 0);
    CHECK_EQ(v, 0x47);
    CHECK_EQ(i8042_unmodelled(k), 2); /* 0xD3 and 0xD4 */
    teardown();
}

static void test_irq1(void)
{
    setup();
    /* command byte at reset has KBDINT: a reply raises IRQ1 */
    dev_outb(S, 0, 0xAA);
    CHECK_EQ(irq1.level, 1);
    CHECK_EQ(irq1.line, 1);
    CHECK_EQ(dev_inb(D, 0), 0x55);
    CHECK_EQ(irq1.level, 0);
    /* two bytes: an edge for each */
    int raises = irq1.raises;
    dev_outb(D, 0, 0xFF); /* keyboard reset */
    CHECK_EQ(irq1.level, 1);
    CHECK_EQ(dev_inb(D, 0), 0xFA);
    CHECK_EQ(irq1.level, 1);
    CHECK_EQ(irq1.raises, raises + 2);
    CHECK_EQ(dev_inb(D, 0), 0xAA);
    CHECK_EQ(irq1.level, 0);
    CHECK_EQ(obf(), 0);
    /* no interrupt with KBDINT clear; it comes when set with data waiting */
    dev_outb(S, 0, 0x60);
    dev_outb(D, 0, 0x44);
    dev_outb(S, 0, 0xAB);
    CHECK_EQ(irq1.level, 0);
    CHECK_EQ(obf(), 1);
    dev_outb(S, 0, 0x60);
    dev_outb(D, 0, 0x45);
    CHECK_EQ(irq1.level, 1);
    CHECK_EQ(dev_inb(D, 0), 0x00);
    CHECK_EQ(irq1.level, 0);
    /* reading with nothing queued: the last byte, no edge */
    raises = irq1.raises;
    CHECK_EQ(dev_inb(D, 0), 0x00);
    CHECK_EQ(irq1.raises, raises);
    CHECK_EQ(irq1.calls, irq1.changes);
    teardown();
}

static void test_keyboard(void)
{
    setup();
    dev_outb(S, 0, 0x60);
    dev_outb(D, 0, 0x44); /* polled */
    struct { uint8_t cmd[2]; int ncmd; uint8_t reply[3]; int nreply; } cases[] = {
        {{0xFF}, 1, {0xFA, 0xAA}, 2},
        {{0xF2}, 1, {0xFA, 0xAB, 0x83}, 3},
        {{0xED, 0x07}, 2, {0xFA, 0xFA}, 2},
        {{0xF3, 0x20}, 2, {0xFA, 0xFA}, 2},
        {{0xF0, 0x00}, 2, {0xFA, 0xFA, 0x02}, 3},
        {{0xF0, 0x01}, 2, {0xFA, 0xFA}, 2},
        {{0xF0, 0x00}, 2, {0xFA, 0xFA, 0x01}, 3},
        {{0xEE}, 1, {0xEE}, 1},
        {{0xF4}, 1, {0xFA}, 1},
        {{0xF5}, 1, {0xFA}, 1},
        {{0xF6}, 1, {0xFA}, 1},
        {{0x12}, 1, {0xFA}, 1},
        {{0xFF}, 1, {0xFA, 0xAA}, 2},
        {{0xF0, 0x00}, 2, {0xFA, 0xFA, 0x02}, 3}, /* reset restored set 2 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int j = 0; j < cases[i].ncmd; j++) dev_outb(D, 0, cases[i].cmd[j]);
        for (int j = 0; j < cases[i].nreply; j++) {
            CHECK_EQ(obf(), 1);
            CHECK_EQ(dev_inb(D, 0), cases[i].reply[j]);
        }
        CHECK_EQ(obf(), 0);
    }
    /* 0xD2: a byte as if from the keyboard */
    dev_outb(S, 0, 0xD2);
    dev_outb(D, 0, 0x1C);
    CHECK_EQ(dev_inb(D, 0), 0x1C);
    CHECK_EQ(obf(), 0);
    CHECK_EQ(i8042_unmodelled(k), 0);
    teardown();
}

static void test_output_port_and_reset(void)
{
    setup();
    int v = -1;
    CHECK_EQ(command(0xD0, -1, &v), 0);
    CHECK_EQ(v & 0x03, 0x03); /* reset line high, A20 on */
    CHECK_EQ(command(0xDD, -1, NULL), 0);
    CHECK_EQ(command(0xD0, -1, &v), 0);
    CHECK_EQ(v & 0x02, 0x00);
    CHECK_EQ(command(0xDF, -1, NULL), 0);
    CHECK_EQ(command(0xD1, 0xDD, NULL), 0); /* A20 off via the output port */
    CHECK_EQ(command(0xD0, -1, &v), 0);
    CHECK_EQ(v, 0xDD);
    CHECK_EQ(resets, 0);
    /* pulses: 0xFE resets, 0xFF pulses nothing, odd values keep bit 0 */
    dev_outb(S, 0, 0xFF);
    dev_outb(S, 0, 0xF1);
    dev_outb(S, 0, 0xFD);
    CHECK_EQ(resets, 0);
    dev_outb(S, 0, 0xFE);
    CHECK_EQ(resets, 1);
    dev_outb(S, 0, 0xF0); /* pulses every bit, the reset line too */
    CHECK_EQ(resets, 2);
    /* the output port's reset bit written low resets as well */
    CHECK_EQ(command(0xD1, 0xDE, NULL), 0);
    CHECK_EQ(resets, 3);
    CHECK_EQ(obf(), 0);

    /* internal RAM beyond the command byte */
    CHECK_EQ(command(0x65, 0xA5, NULL), 0);
    CHECK_EQ(command(0x25, -1, &v), 0);
    CHECK_EQ(v, 0xA5);
    /* a new command cancels a pending parameter */
    dev_outb(S, 0, 0x60);
    dev_outb(S, 0, 0x20);
    CHECK_EQ(dev_inb(D, 0), 0x45);
    CHECK_EQ(i8042_unmodelled(k), 0);
    /* unknown commands are counted */
    dev_outb(S, 0, 0xC0);
    dev_outb(S, 0, 0x00);
    dev_outb(S, 0, 0xE0);
    CHECK_EQ(i8042_unmodelled(k), 3);
    CHECK_EQ(obf(), 0);
    teardown();
}

static void test_hostile(void)
{
    setup();
    CHECK_EQ(dev_in(D, 1, 1), 0xFF);
    CHECK_EQ(dev_in(S, 0xFFFFFFFFu, 2), 0xFFFF);
    dev_out(S, 4, 0xFE, 1); /* not the command port: no reset */
    CHECK_EQ(resets, 0);
    CHECK_EQ(i8042_unmodelled(k), 1 + 2 + 1);
    CHECK_EQ(dev_in(S, 0, 2), 0xFF10); /* status, then a float */
    (void)dev_in(D, 0, 3);
    dev_out(D, 0, 0, 0);

    /* a flood of replies nobody reads: bounded */
    dev_outb(S, 0, 0x60);
    dev_outb(D, 0, 0x44);
    for (int i = 0; i < 1000; i++) dev_outb(S, 0, 0x20);
    int n = flush();
    CHECK(n >= 1 && n <= 16);

    test_rng r = {8042};
    int expected_resets = resets;
    for (int i = 0; i < 30000; i++) {
        switch (rng_next(&r) % 4) {
        case 0: {
            uint8_t cmd = (uint8_t)rng_next(&r);
            /* 0xFE and other even 0xF0-0xFE pulse reset */
            if (cmd >= 0xF0 && !(cmd & 1)) expected_resets++;
            dev_outb(S, 0, cmd);
            break;
        }
        case 1: {
            uint8_t v = (uint8_t)rng_next(&r);
            dev_outb(D, 0, v);
            break;
        }
        case 2: (void)dev_inb(D, 0); break;
        default: {
            uint8_t s = dev_inb(S, 0);
            CHECK_EQ(s & 0xE2, 0); /* never IBF, AUX data or errors */
            CHECK(s & 0x10);
        }
        }
        CHECK(irq1.level == 0 || obf());
    }
    CHECK(resets >= expected_resets); /* 0xD1 with bit 0 clear may add more */
    CHECK(flush() <= 16);
    CHECK_EQ(irq1.level, 0);
    CHECK_EQ(irq1.calls, irq1.changes);
    teardown();
}

int main(void)
{
    test_reset_and_probe();
    test_irq1();
    test_keyboard();
    test_output_port_and_reset();
    test_hostile();
    return check_done();
}
