/* 8254 PIT and port 0x61: Linux's periodic tick, one-shot, TSC
 * calibration on channel 2; latches, read-back, flip-flops; exact
 * virtual-time deadlines; hostile input. */
#include "testing/check.h"
#include "legacy/pit8254.h"

__extension__ typedef unsigned __int128 u128;

static fake_clock clk;
static fake_irq irq0;
static pit8254 *pit;
static bus_device P, B; /* 0x40-0x43, 0x61 */

static void setup(void)
{
    clk.t = 0;
    irq0 = (fake_irq){0};
    pit = pit8254_new(fake_irq_line(&irq0, 0), fake_now, &clk);
    P = pit8254_device(pit);
    B = pit8254_port61_device(pit);
}

static void teardown(void)
{
    pit8254_free(pit);
}

/* Independent reference: the first ns at which k clocks have elapsed. */
static uint64_t ns_for_ticks(uint64_t k)
{
    u128 num = (u128)k * 1000000000u;
    return (uint64_t)((num + PIT_FREQ_HZ - 1) / PIT_FREQ_HZ);
}

static uint16_t read_word(int ch)
{
    uint8_t lo = dev_inb(P, (uint32_t)ch);
    uint8_t hi = dev_inb(P, (uint32_t)ch);
    return (uint16_t)(lo | hi << 8);
}

static uint16_t latch_read(int ch)
{
    dev_outb(P, 3, (uint8_t)(ch << 6)); /* counter latch */
    return read_word(ch);
}

static void program(int ch, int mode, uint32_t count)
{
    dev_outb(P, 3, (uint8_t)(ch << 6 | 0x30 | mode << 1));
    dev_outb(P, (uint32_t)ch, (uint8_t)count);
    dev_outb(P, (uint32_t)ch, (uint8_t)(count >> 8));
}

static void test_reset_state(void)
{
    setup();
    /* channel 0 runs mode 3 with 65536: IRQ0 at 18.2 Hz */
    CHECK_EQ(pit8254_next_deadline(pit), ns_for_ticks(65536));
    dev_outb(P, 3, 0xE2); /* read-back status of channel 0 */
    CHECK_EQ(dev_inb(P, 0), 0xB6); /* OUT high, word, mode 3, binary */
    CHECK_EQ(latch_read(0), 0);    /* 65536 reads as 0 */
    clk.t = ns_for_ticks(10);
    CHECK_EQ(latch_read(0), 65536 - 20); /* mode 3 counts by two */
    uint8_t b = dev_inb(B, 0);
    CHECK_EQ(b & 0x0F, 0); /* gate 2 off, speaker off */
    CHECK_EQ(b & 0x20, 0x20); /* OUT2 high: mode 3 gated off */
    CHECK_EQ(b & 0xC0, 0);
    CHECK_EQ(irq0.calls, 0);
    CHECK_EQ(pit8254_unmodelled(pit), 0);
    teardown();
}

static void test_linux_periodic(void)
{
    setup();
    const uint64_t t0 = 123456789;
    const uint32_t latch = 0x12A5; /* (1193182 + 125) / 250 */
    clk.t = t0;
    dev_outb(P, 3, 0x34);
    CHECK_EQ(pit8254_next_deadline(pit), PANDA_VTIME_NEVER); /* no count yet */
    dev_outb(P, 0, latch & 0xFF);
    CHECK_EQ(pit8254_next_deadline(pit), PANDA_VTIME_NEVER); /* half a count */
    dev_outb(P, 0, latch >> 8);

    /* the count runs down from LATCH with virtual time */
    CHECK_EQ(latch_read(0), latch);
    clk.t = t0 + ns_for_ticks(100);
    CHECK_EQ(latch_read(0), latch - 100);
    clk.t = t0 + ns_for_ticks(100) - 1;
    CHECK_EQ(latch_read(0), latch - 99);

    /* deadlines every 0x12A5 clocks: 4000227.6 ns apart (HZ=250 rounds
     * LATCH up from 4772.7, hence 4 ms + 228 ns), never drifting */
    uint64_t prev = t0;
    for (uint64_t k = 1; k <= 1000; k++) {
        uint64_t dl = pit8254_next_deadline(pit);
        CHECK_EQ(dl, t0 + ns_for_ticks(k * latch));
        uint64_t gap = dl - prev;
        CHECK(gap == 4000227 || gap == 4000228);
        prev = dl;
        int raises = irq0.raises;
        pit8254_run_until(pit, dl - 1);
        CHECK_EQ(irq0.raises, raises); /* not yet */
        clk.t = dl - 1;
        CHECK_EQ(latch_read(0), 1); /* the last clock of the period */
        pit8254_run_until(pit, dl);
        CHECK_EQ(irq0.raises, raises + 1); /* one pulse, a 0->1 edge */
        CHECK_EQ(irq0.level, 0);
        clk.t = dl;
        CHECK_EQ(latch_read(0), latch); /* reloaded */
        pit8254_run_until(pit, dl); /* idempotent */
        CHECK_EQ(irq0.raises, raises + 1);
    }
    CHECK_EQ(prev - t0, 4000227962ull); /* ceil(1000 * 4773e9 / 1193182) ns */

    /* several periods at once: one pulse (the PIC would merge them) */
    int raises = irq0.raises;
    uint64_t late = t0 + ns_for_ticks(1010ull * latch) + 5;
    pit8254_run_until(pit, late);
    CHECK_EQ(irq0.raises, raises + 1);
    CHECK_EQ(pit8254_next_deadline(pit), t0 + ns_for_ticks(1011ull * latch));

    /* the status byte in mode 2 */
    clk.t = late;
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0), 0xB4);

    /* reprogramming delivers what was already due, then restarts */
    raises = irq0.raises;
    clk.t = t0 + ns_for_ticks(1011ull * latch) + 7;
    dev_outb(P, 3, 0x34);
    CHECK_EQ(irq0.raises, raises + 1);
    dev_outb(P, 0, 0x00);
    dev_outb(P, 0, 0x00); /* 0 means 65536 */
    CHECK_EQ(pit8254_next_deadline(pit), clk.t + ns_for_ticks(65536));
    CHECK_EQ(pit8254_unmodelled(pit), 0);
    teardown();
}

static void test_oneshot(void)
{
    setup();
    /* Linux's oneshot clockevent: mode 4, then a delta per event */
    clk.t = 1000;
    dev_outb(P, 3, 0x38);
    dev_outb(P, 0, 100);
    dev_outb(P, 0, 0);
    /* OUT0 strobes low at terminal count; IRQ0 on its rising edge */
    CHECK_EQ(pit8254_next_deadline(pit), 1000 + ns_for_ticks(101));
    pit8254_run_until(pit, 1000 + ns_for_ticks(101) - 1);
    CHECK_EQ(irq0.raises, 0);
    pit8254_run_until(pit, 1000 + ns_for_ticks(101));
    CHECK_EQ(irq0.raises, 1);
    CHECK_EQ(pit8254_next_deadline(pit), PANDA_VTIME_NEVER);
    pit8254_run_until(pit, 1000000000);
    CHECK_EQ(irq0.raises, 1);
    clk.t = 1000 + ns_for_ticks(50);
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0) & 0x80, 0x80);
    /* the counter wraps on after terminal count */
    clk.t = 1000 + ns_for_ticks(102);
    CHECK_EQ(latch_read(0), 0xFFFE);

    /* mode 0 on channel 0 (Linux's shutdown): once, at N */
    clk.t = 5000000;
    dev_outb(P, 3, 0x30);
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0), 0x70); /* OUT low, null count, word, mode 0 */
    dev_outb(P, 0, 0);
    dev_outb(P, 0, 0);
    CHECK_EQ(pit8254_next_deadline(pit), 5000000 + ns_for_ticks(65536));
    pit8254_run_until(pit, 5000000 + ns_for_ticks(65536));
    CHECK_EQ(irq0.raises, 2);
    CHECK_EQ(pit8254_next_deadline(pit), PANDA_VTIME_NEVER);

    /* lobyte-only and hibyte-only access */
    clk.t = 10000000;
    dev_outb(P, 3, 0x14); /* ch0, lobyte, mode 2 */
    dev_outb(P, 0, 200);
    CHECK_EQ(pit8254_next_deadline(pit), clk.t + ns_for_ticks(200));
    clk.t += ns_for_ticks(50);
    dev_outb(P, 3, 0x00);
    CHECK_EQ(dev_inb(P, 0), 150);
    CHECK_EQ(dev_inb(P, 0), 150); /* unlatched: live lsb again */
    dev_outb(P, 3, 0x24); /* ch0, hibyte, mode 2 */
    dev_outb(P, 0, 0x02);
    CHECK_EQ(pit8254_next_deadline(pit), clk.t + ns_for_ticks(512));
    CHECK_EQ(dev_inb(P, 0), 0x02);
    teardown();
}

static void test_latch_and_readback(void)
{
    setup();
    program(0, 2, 10000);
    clk.t = ns_for_ticks(1234);
    dev_outb(P, 3, 0x00);  /* latch */
    clk.t = ns_for_ticks(5000);
    dev_outb(P, 3, 0x00);  /* ignored: the first latch is still held */
    uint8_t lo = dev_inb(P, 0);
    clk.t = ns_for_ticks(6000);
    uint8_t hi = dev_inb(P, 0);
    CHECK_EQ(lo | hi << 8, 10000 - 1234);
    /* unlatched word reads go lsb, msb, lsb, ... */
    clk.t = ns_for_ticks(7000);
    CHECK_EQ(read_word(0), 3000);
    CHECK_EQ(read_word(0), 3000);
    /* a lone lsb read leaves the flip-flop on msb */
    (void)dev_inb(P, 0);
    CHECK_EQ(dev_inb(P, 0), 3000 >> 8);

    /* read-back: count and status of channels 0 and 2 */
    program(2, 0, 500);
    dev_outb(P, 3, 0xC2 | 0x08);
    CHECK_EQ(dev_inb(P, 0), 0x34 | 0x80); /* status first */
    CHECK_EQ(read_word(0), 3000);
    CHECK_EQ(dev_inb(P, 2), 0x30); /* mode 0, OUT low */
    CHECK_EQ(read_word(2), 500);
    /* count only, status only */
    dev_outb(P, 3, 0xD2);
    CHECK_EQ(read_word(0), 3000);
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0), 0xB4);
    CHECK_EQ(read_word(0), 3000);
    /* a latched status or count is held until read: later latches are
     * ignored */
    dev_outb(P, 3, 0xE2);
    clk.t = ns_for_ticks(10000 + 9999); /* OUT low now */
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0), 0xB4);
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0), 0x34);
    /* a control word resets the latches */
    dev_outb(P, 3, 0xC2);
    program(0, 3, 100);
    dev_outb(P, 3, 0xE2);
    CHECK_EQ(dev_inb(P, 0), 0xB6);
    CHECK_EQ(read_word(0), 100);
    /* null count: after the control word until the count is written */
    dev_outb(P, 3, 0x74); /* ch1 mode 2 */
    dev_outb(P, 3, 0xE4);
    CHECK_EQ(dev_inb(P, 1), 0xF4); /* OUT high, null count, word, mode 2 */
    dev_outb(P, 1, 0x10);
    dev_outb(P, 1, 0x00);
    dev_outb(P, 3, 0xE4);
    CHECK_EQ(dev_inb(P, 1), 0xB4);
    /* control register is write-only */
    CHECK_EQ(dev_inb(P, 3), 0xFF);
    CHECK_EQ(pit8254_unmodelled(pit), 1);
    teardown();
}

static void test_channel2_port61(void)
{
    setup();
    /* arch/x86/kernel/tsc.c pit_calibrate_tsc(): gate on, speaker off,
     * channel 2 mode 0 with 50 ms, wait for OUT2 */
    const uint32_t latch = PIT_FREQ_HZ / (1000 / 50);
    clk.t = 777;
    dev_outb(B, 0, (uint8_t)((dev_inb(B, 0) & ~0x02) | 0x01));
    dev_outb(P, 3, 0xB0);
    dev_outb(P, 2, latch & 0xFF);
    dev_outb(P, 2, latch >> 8);
    CHECK_EQ(dev_inb(B, 0) & 0x21, 0x01); /* gate on, OUT2 low */
    uint64_t done = 777 + ns_for_ticks(latch);
    clk.t = done - 1;
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = done;
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = done + 1000000000;
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20); /* stays high */
    CHECK_EQ(irq0.calls, 0);              /* channel 2 has no IRQ */

    /* quick_pit_calibrate(): mode 0 from 0xFFFF, msb reads run down */
    clk.t = 0;
    dev_outb(P, 3, 0xB0);
    dev_outb(P, 2, 0xFF);
    dev_outb(P, 2, 0xFF);
    (void)dev_inb(P, 2);
    CHECK_EQ(dev_inb(P, 2), 0xFF);
    for (int i = 1; i < 50; i++) {
        clk.t = ns_for_ticks(256ull * (uint64_t)i);
        (void)dev_inb(P, 2);
        CHECK_EQ(dev_inb(P, 2), 0xFF - i);
    }

    /* gate low stops mode 0; gate high resumes where it stopped */
    clk.t = 0;
    program(2, 0, 1000);
    clk.t = ns_for_ticks(300);
    dev_outb(B, 0, 0x00);
    clk.t = ns_for_ticks(100000);
    CHECK_EQ(latch_read(2), 700);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    dev_outb(B, 0, 0x01);
    uint64_t resumed = clk.t;
    clk.t = resumed + ns_for_ticks(699);
    CHECK_EQ(latch_read(2), 1);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = resumed + ns_for_ticks(700);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);

    /* mode 3 square wave: N/2 high, N/2 low, counting by two */
    dev_outb(B, 0, 0x03); /* gate + speaker */
    clk.t = 0;
    program(2, 3, 100);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = ns_for_ticks(10);
    CHECK_EQ(latch_read(2), 80);
    clk.t = ns_for_ticks(49);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = ns_for_ticks(50);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = ns_for_ticks(99);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = ns_for_ticks(100);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    /* gate low forces OUT high; the rising edge restarts the period */
    clk.t = ns_for_ticks(160);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    dev_outb(B, 0, 0x02);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = ns_for_ticks(1000);
    dev_outb(B, 0, 0x03);
    CHECK_EQ(latch_read(2), 100);
    /* odd count: high for (N+1)/2 */
    clk.t = 0;
    program(2, 3, 5);
    clk.t = ns_for_ticks(2);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = ns_for_ticks(3);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = ns_for_ticks(5);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);

    /* mode 1: waits for a gate edge, then OUT low for N clocks */
    dev_outb(B, 0, 0x00);
    clk.t = 0;
    program(2, 1, 40);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = ns_for_ticks(1000);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20); /* not triggered */
    dev_outb(B, 0, 0x01);
    uint64_t trig = clk.t;
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = trig + ns_for_ticks(39);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = trig + ns_for_ticks(40);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);

    /* mode 5: a gate edge starts the count; strobe low at N */
    dev_outb(B, 0, 0x00);
    program(2, 5, 10);
    dev_outb(B, 0, 0x01);
    trig = clk.t;
    clk.t = trig + ns_for_ticks(9);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);
    clk.t = trig + ns_for_ticks(10);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0);
    clk.t = trig + ns_for_ticks(11);
    CHECK_EQ(dev_inb(B, 0) & 0x20, 0x20);

    /* port 0x61: low nibble read/write, refresh toggles per read */
    dev_outb(B, 0, 0xFF);
    uint8_t a = dev_inb(B, 0), b = dev_inb(B, 0);
    CHECK_EQ(a & 0x0F, 0x0F);
    CHECK_EQ(a & 0xC0, 0);
    CHECK_EQ((a ^ b) & 0x10, 0x10);
    CHECK_EQ(pit8254_unmodelled(pit), 0);
    teardown();
}

static void test_deadline_exactness(void)
{
    setup();
    test_rng r = {777};
    for (int i = 0; i < 300; i++) {
        uint32_t n = 1 + (uint32_t)(rng_next(&r) % 65536);
        int mode = (rng_next(&r) & 1) ? 2 : 3;
        clk.t += rng_next(&r) % 1000000000000ull; /* up to 1000 s later */
        program(0, mode, n);
        uint64_t start = clk.t;
        uint64_t k = 1 + rng_next(&r) % 5;
        /* walk k periods with run_until exactly at each deadline */
        for (uint64_t j = 1; j <= k; j++) {
            uint64_t dl = pit8254_next_deadline(pit);
            CHECK_EQ(dl, start + ns_for_ticks(j * (n == 0x10000 ? 65536 : n)));
            int raises = irq0.raises;
            pit8254_run_until(pit, dl - 1);
            CHECK_EQ(irq0.raises, raises);
            pit8254_run_until(pit, dl);
            CHECK_EQ(irq0.raises, raises + 1);
        }
        clk.t = pit8254_next_deadline(pit) - 1;
    }
    /* far in the future: still exact and monotonic */
    clk.t = 400ull * 365 * 86400 * 1000000000ull; /* 400 years */
    program(0, 2, 0x12A5);
    CHECK_EQ(pit8254_next_deadline(pit), clk.t + ns_for_ticks(0x12A5));
    CHECK_EQ(irq0.level, 0);
    teardown();
}

static void test_hostile(void)
{
    setup();
    CHECK_EQ(dev_in(P, 4, 1), 0xFF);
    CHECK_EQ(dev_in(P, 0xFFFFFFFFu, 2), 0xFFFF);
    dev_out(P, 1000000, 0x34, 1);
    CHECK_EQ(dev_in(B, 1, 1), 0xFF);
    CHECK_EQ(pit8254_unmodelled(pit), 1 + 2 + 1 + 1);
    /* a 16-bit write to 0x40 loads the count as lsb then... 0x41 */
    dev_outb(P, 3, 0x34);
    dev_out(P, 0, 0x0102, 2);
    CHECK_EQ(pit8254_next_deadline(pit), PANDA_VTIME_NEVER); /* only the lsb reached ch0 */
    dev_out(P, 0, 0x12, 1);
    CHECK_EQ(pit8254_next_deadline(pit), clk.t + ns_for_ticks(0x1202));
    (void)dev_in(P, 0, 3);
    dev_out(P, 0, 0, 0);

    test_rng r = {2024};
    for (int i = 0; i < 30000; i++) {
        switch (rng_next(&r) % 6) {
        case 0: dev_out(P, (uint32_t)(rng_next(&r) % 5), (uint32_t)rng_next(&r), rng_size(&r)); break;
        case 1: (void)dev_in(P, (uint32_t)(rng_next(&r) % 5), rng_size(&r)); break;
        case 2: dev_out(B, 0, (uint32_t)rng_next(&r), 1); break;
        case 3: (void)dev_in(B, 0, 1); break;
        case 4: clk.t += rng_next(&r) % 10000000; break;
        default: {
            panda_vtime dl = pit8254_next_deadline(pit);
            if (dl != PANDA_VTIME_NEVER && dl >= clk.t) {
                clk.t = dl;
                int raises = irq0.raises;
                pit8254_run_until(pit, dl);
                CHECK_EQ(irq0.raises, raises + 1);
                CHECK(pit8254_next_deadline(pit) > dl);
            }
        }
        }
        CHECK_EQ(irq0.level, 0);
    }
    /* time far beyond anything sane */
    clk.t = UINT64_MAX - 5;
    (void)dev_in(P, 0, 1);
    pit8254_run_until(pit, UINT64_MAX);
    program(0, 2, 1);
    CHECK(pit8254_next_deadline(pit) >= clk.t);
    pit8254_run_until(pit, UINT64_MAX);
    pit8254_reset(pit);
    CHECK(pit8254_next_deadline(pit) >= clk.t);
    teardown();
}

int main(void)
{
    test_reset_state();
    test_linux_periodic();
    test_oneshot();
    test_latch_and_readback();
    test_channel2_port61();
    test_deadline_exactness();
    test_hostile();
    return check_done();
}
