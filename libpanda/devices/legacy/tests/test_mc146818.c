/* MC146818 RTC/CMOS: the clock on virtual time in BCD/binary/12h, SET,
 * UIP, the three interrupts through register C, CMOS memory bytes,
 * hostile input. */
#include "testing/check.h"
#include "legacy/mc146818.h"

#define NS 1000000000ull
#define START 1767268800 /* 2026-01-01 12:00:00 UTC, a Thursday */

static fake_clock clk;
static fake_irq irq8;
static mc146818 *rtc;
static bus_device R;

static void setup_with(int64_t start, uint32_t mem_kb)
{
    clk.t = 0;
    irq8 = (fake_irq){0};
    rtc = mc146818_new(fake_irq_line(&irq8, 8), fake_now, &clk, start, mem_kb);
    R = mc146818_device(rtc);
}

static void setup(void)
{
    setup_with(START, 127 * 1024);
}

static void teardown(void)
{
    mc146818_free(rtc);
}

static uint8_t cmos(uint8_t reg)
{
    dev_outb(R, 0, reg);
    return dev_inb(R, 1);
}

static void cmos_w(uint8_t reg, uint8_t v)
{
    dev_outb(R, 0, reg);
    dev_outb(R, 1, v);
}

static void check_time(uint8_t h, uint8_t m, uint8_t s, uint8_t wd, uint8_t d, uint8_t mo,
                       uint8_t y, uint8_t c, int line)
{
    uint8_t got[8] = {cmos(4), cmos(2), cmos(0), cmos(6), cmos(7), cmos(8), cmos(9), cmos(0x32)};
    uint8_t want[8] = {h, m, s, wd, d, mo, y, c};
    for (int i = 0; i < 8; i++) {
        if (got[i] != want[i]) {
            printf("line %d: time byte %d is 0x%02x, want 0x%02x\n", line, i, got[i], want[i]);
        }
        CHECK_EQ(got[i], want[i]);
    }
}
#define CHECK_TIME(h, m, s, wd, d, mo, y, c) check_time(h, m, s, wd, d, mo, y, c, __LINE__)

static void test_reset_and_time(void)
{
    setup();
    CHECK_EQ(cmos(0x0A), 0x26);
    CHECK_EQ(cmos(0x0B), 0x02);
    CHECK_EQ(cmos(0x0C), 0x00);
    CHECK_EQ(cmos(0x0D), 0x80);
    CHECK_TIME(0x12, 0x00, 0x00, 0x05, 0x01, 0x01, 0x26, 0x20);
    clk.t = 61 * NS;
    CHECK_TIME(0x12, 0x01, 0x01, 0x05, 0x01, 0x01, 0x26, 0x20);
    clk.t = 62 * NS - 1;
    CHECK_EQ(cmos(0), 0x01);
    clk.t = 62 * NS;
    CHECK_EQ(cmos(0), 0x02);

    /* binary */
    cmos_w(0x0B, 0x06);
    clk.t = 61 * NS;
    CHECK_TIME(12, 1, 1, 5, 1, 1, 26, 20);
    /* 12-hour binary: 12 PM */
    cmos_w(0x0B, 0x04);
    CHECK_EQ(cmos(4), 0x80 | 12);
    /* 12-hour BCD through the day */
    cmos_w(0x0B, 0x00);
    CHECK_EQ(cmos(4), 0x92);
    clk.t = 3600 * NS;
    CHECK_EQ(cmos(4), 0x81); /* 1 PM */
    clk.t = 12 * 3600 * NS;
    CHECK_EQ(cmos(4), 0x12); /* midnight: 12 AM */
    CHECK_EQ(cmos(7), 0x02);
    CHECK_EQ(cmos(6), 0x06); /* Friday */
    clk.t = 13 * 3600 * NS;
    CHECK_EQ(cmos(4), 0x01); /* 1 AM */
    /* years and months roll over: 2026-12-31 -> 2027 */
    cmos_w(0x0B, 0x02);
    clk.t = (364ull * 86400 + 12 * 3600) * NS; /* 2027-01-01 00:00:00 */
    CHECK_TIME(0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x27, 0x20);
    CHECK_EQ(mc146818_unmodelled(rtc), 0);
    teardown();

    /* before 1970 and the clamped extremes */
    setup_with(-1, 0);
    CHECK_TIME(0x23, 0x59, 0x59, 0x04, 0x31, 0x12, 0x69, 0x19);
    teardown();
    setup_with(INT64_MIN, 0);
    CHECK_EQ(cmos(9), 0x00);
    CHECK_EQ(cmos(0x32), 0x00);
    teardown();
    setup_with(INT64_MAX, 0);
    CHECK_EQ(cmos(9), 0x99);
    CHECK_EQ(cmos(0x32), 0x99);
    clk.t = UINT64_MAX;
    CHECK(cmos(0) <= 0x59);
    teardown();
}

static void test_uip(void)
{
    setup();
    clk.t = 5 * NS + 999755858; /* 244142 ns before the boundary */
    CHECK_EQ(cmos(0x0A), 0x26);
    clk.t = 5 * NS + 999755859; /* the last 244141 ns */
    CHECK_EQ(cmos(0x0A), 0xA6);
    clk.t = 6 * NS - 1;
    CHECK_EQ(cmos(0x0A), 0xA6);
    clk.t = 6 * NS;
    CHECK_EQ(cmos(0x0A), 0x26);
    /* UIP cannot be written; the divider and rate bits can */
    cmos_w(0x0A, 0xFF);
    CHECK_EQ(cmos(0x0A), 0x7F);
    cmos_w(0x0A, 0x26);
    /* no UIP while SET holds the clock */
    cmos_w(0x0B, 0x82);
    clk.t = 7 * NS - 1;
    CHECK_EQ(cmos(0x0A), 0x26);
    teardown();
}

static void test_set_mode(void)
{
    setup();
    clk.t = 10 * NS;
    /* Linux mc146818_set_time: SET, divider reset, write, restore */
    uint8_t b = cmos(0x0B);
    cmos_w(0x0B, b | 0x80);
    uint8_t a = cmos(0x0A);
    cmos_w(0x0A, a | 0x70);
    cmos_w(0x00, 0x58);
    cmos_w(0x02, 0x59);
    cmos_w(0x04, 0x23);
    cmos_w(0x07, 0x31);
    cmos_w(0x08, 0x12);
    cmos_w(0x09, 0x99);
    cmos_w(0x32, 0x20);
    clk.t = 20 * NS; /* frozen while SET */
    CHECK_EQ(cmos(0), 0x58);
    cmos_w(0x0B, b);
    cmos_w(0x0A, a);
    CHECK_TIME(0x23, 0x59, 0x58, 0x05, 0x31, 0x12, 0x99, 0x20);
    clk.t = 22 * NS;
    CHECK_TIME(0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21); /* 2100-01-01 */

    /* leap day 2028 */
    cmos_w(0x0B, 0x86);
    cmos_w(0x00, 59);
    cmos_w(0x02, 59);
    cmos_w(0x04, 23);
    cmos_w(0x07, 28);
    cmos_w(0x08, 2);
    cmos_w(0x09, 28);
    cmos_w(0x32, 20);
    cmos_w(0x0B, 0x06);
    clk.t += NS;
    CHECK_TIME(0, 0, 0, 3, 29, 2, 28, 20);

    /* SET clears UIE */
    cmos_w(0x0B, 0x16);
    CHECK_EQ(cmos(0x0B), 0x16);
    cmos_w(0x0B, 0x96);
    CHECK_EQ(cmos(0x0B), 0x86);

    /* 12-hour BCD written, read back 24-hour binary */
    cmos_w(0x0B, 0x06);
    cmos_w(0x0B, 0x80);
    CHECK_EQ(cmos(4), 0x12); /* frozen in the new format: 12 AM */
    cmos_w(0x04, 0x81);
    cmos_w(0x0B, 0x00);
    cmos_w(0x0B, 0x06);
    CHECK_EQ(cmos(4), 13);
    cmos_w(0x0B, 0x80);
    cmos_w(0x04, 0x12); /* 12 AM */
    cmos_w(0x0B, 0x00);
    cmos_w(0x0B, 0x06);
    CHECK_EQ(cmos(4), 0);

    /* nonsense is clamped, never crashes */
    cmos_w(0x0B, 0x82);
    cmos_w(0x00, 0xFF);
    cmos_w(0x02, 0x7A);
    cmos_w(0x04, 0x3F);
    cmos_w(0x07, 0x00);
    cmos_w(0x08, 0x13);
    cmos_w(0x09, 0xAB);
    cmos_w(0x32, 0xFF);
    cmos_w(0x0B, 0x06);
    CHECK(cmos(0) < 60);
    CHECK(cmos(2) < 60);
    CHECK(cmos(4) < 24);
    CHECK(cmos(7) >= 1 && cmos(7) <= 31);
    CHECK(cmos(8) >= 1 && cmos(8) <= 12);
    CHECK(cmos(9) < 100);

    /* a time register written while running takes effect at once */
    cmos_w(0x0B, 0x02);
    cmos_w(0x0B, 0x82);
    cmos_w(0x00, 0x00);
    cmos_w(0x02, 0x00);
    cmos_w(0x04, 0x12);
    cmos_w(0x07, 0x01);
    cmos_w(0x08, 0x01);
    cmos_w(0x09, 0x26);
    cmos_w(0x32, 0x20);
    cmos_w(0x0B, 0x02);
    cmos_w(0x02, 0x30);
    CHECK_EQ(cmos(2), 0x30);
    clk.t += 5 * NS;
    CHECK_TIME(0x12, 0x30, 0x05, 0x05, 0x01, 0x01, 0x26, 0x20);
    CHECK_EQ(mc146818_unmodelled(rtc), 0);
    teardown();
}

static void test_interrupts(void)
{
    setup();
    CHECK_EQ(mc146818_next_deadline(rtc), PANDA_VTIME_NEVER);

    /* update-ended interrupt, once per second (periodic flag off: RS = 0) */
    clk.t = NS / 2;
    cmos_w(0x0A, 0x20);
    CHECK_EQ(cmos(0x0C), 0x40); /* PF from before, never enabled */
    cmos_w(0x0B, 0x12);
    CHECK_EQ(mc146818_next_deadline(rtc), NS);
    mc146818_run_until(rtc, NS - 1);
    CHECK_EQ(irq8.level, 0);
    mc146818_run_until(rtc, NS);
    CHECK_EQ(irq8.level, 1);
    CHECK_EQ(irq8.line, 8);
    CHECK_EQ(mc146818_next_deadline(rtc), PANDA_VTIME_NEVER); /* until C is read */
    clk.t = NS + 5;
    CHECK_EQ(cmos(0x0C), 0x90);
    CHECK_EQ(irq8.level, 0);
    CHECK_EQ(cmos(0x0C), 0x00);
    CHECK_EQ(mc146818_next_deadline(rtc), 2 * NS);
    /* several seconds late: one interrupt */
    mc146818_run_until(rtc, 10 * NS + 3);
    CHECK_EQ(irq8.raises, 2);
    clk.t = 10 * NS + 3;
    CHECK_EQ(cmos(0x0C), 0x90);
    cmos_w(0x0B, 0x02);

    /* periodic interrupt: 1024 Hz (RS = 6) is 32 cycles of 32.768 kHz,
     * 976562.5 ns, aligned to virtual time 0 */
    clk.t = 20 * NS + 100;
    (void)cmos(0x0C);
    cmos_w(0x0A, 0x26);
    cmos_w(0x0B, 0x42);
    panda_vtime dl = mc146818_next_deadline(rtc);
    CHECK_EQ(dl, 20 * NS + 976563);
    mc146818_run_until(rtc, dl - 1);
    CHECK_EQ(irq8.level, 0);
    mc146818_run_until(rtc, dl);
    CHECK_EQ(irq8.level, 1);
    clk.t = dl;
    CHECK_EQ(cmos(0x0C), 0xC0);
    CHECK_EQ(irq8.level, 0);
    CHECK_EQ(mc146818_next_deadline(rtc), 20 * NS + 1953125);
    /* every rate */
    for (int rs = 1; rs <= 15; rs++) {
        uint64_t cycles = 1ull << ((rs <= 2 ? rs + 7 : rs) - 1);
        cmos_w(0x0A, (uint8_t)(0x20 | rs));
        uint64_t ticks = (clk.t * 32768) / NS / cycles + 1; /* clk.t < 500 s here */
        uint64_t want = (ticks * cycles * NS + 32767) / 32768;
        CHECK_EQ(mc146818_next_deadline(rtc), want);
    }
    cmos_w(0x0A, 0x20); /* RS = 0: no periodic interrupt */
    CHECK_EQ(mc146818_next_deadline(rtc), PANDA_VTIME_NEVER);
    cmos_w(0x0A, 0x26);

    /* PF/UF are set even when not enabled; they raise nothing */
    cmos_w(0x0B, 0x02);
    (void)cmos(0x0C);
    clk.t = 30 * NS;
    CHECK_EQ(cmos(0x0C), 0x50);
    CHECK_EQ(irq8.level, 0);
    /* enabling an interrupt whose flag is already set raises at once */
    clk.t = 31 * NS;
    mc146818_run_until(rtc, clk.t);
    CHECK_EQ(irq8.level, 0);
    cmos_w(0x0B, 0x12);
    CHECK_EQ(irq8.level, 1);
    CHECK_EQ(cmos(0x0C), 0xD0);
    cmos_w(0x0B, 0x02);

    /* alarm at 12:01:05 */
    cmos_w(0x01, 0x05);
    cmos_w(0x03, 0x01);
    cmos_w(0x05, 0x12);
    cmos_w(0x0B, 0x22);
    clk.t = 60 * NS;
    (void)cmos(0x0C);
    int raises = irq8.raises;
    for (uint64_t s = 61; s <= 65; s++) {
        dl = mc146818_next_deadline(rtc);
        CHECK_EQ(dl, s * NS);
        mc146818_run_until(rtc, dl);
        CHECK_EQ(irq8.raises, raises + (s == 65));
    }
    clk.t = 65 * NS;
    CHECK_EQ(cmos(0x0C) & 0xA0, 0xA0);
    /* don't-care hour and minute: every minute at :05 */
    cmos_w(0x03, 0xC0);
    cmos_w(0x05, 0xFF);
    mc146818_run_until(rtc, 124 * NS);
    CHECK_EQ(irq8.level, 0);
    mc146818_run_until(rtc, 125 * NS);
    CHECK_EQ(irq8.level, 1);
    clk.t = 125 * NS;
    (void)cmos(0x0C);
    /* a day-long gap finds the alarm */
    mc146818_run_until(rtc, 200000 * NS);
    CHECK_EQ(irq8.level, 1);
    clk.t = 200000 * NS;
    CHECK_EQ(cmos(0x0C), 0xF0);
    /* an impossible alarm never fires */
    cmos_w(0x01, 0x61);
    (void)cmos(0x0C);
    mc146818_run_until(rtc, 300000 * NS);
    CHECK_EQ(irq8.level, 0);
    CHECK_EQ(irq8.calls, irq8.changes);
    CHECK_EQ(mc146818_unmodelled(rtc), 0);
    teardown();
}

static void test_cmos_memory(void)
{
    setup_with(START, 127 * 1024);
    CHECK_EQ(cmos(0x14), 0x02);
    CHECK_EQ(cmos(0x15) | cmos(0x16) << 8, 640);
    CHECK_EQ(cmos(0x17) | cmos(0x18) << 8, 0xFFFF); /* 127 MB above 1 MB: capped */
    CHECK_EQ(cmos(0x30) | cmos(0x31) << 8, 0xFFFF);
    CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, (127 * 1024 - 15 * 1024) / 64);
    unsigned sum = 0;
    for (uint8_t i = 0x10; i <= 0x2D; i++) sum += cmos(i);
    CHECK_EQ(cmos(0x2E) << 8 | cmos(0x2F), sum);
    teardown();

    setup_with(START, 31 * 1024);
    CHECK_EQ(cmos(0x17) | cmos(0x18) << 8, 31 * 1024);
    CHECK_EQ(cmos(0x30) | cmos(0x31) << 8, 31 * 1024);
    CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, 0x100);
    /* general-purpose RAM, index bit 7 (NMI disable) ignored */
    cmos_w(0x40, 0x5A);
    cmos_w(0xFF, 0xA5);
    CHECK_EQ(cmos(0x40), 0x5A);
    CHECK_EQ(cmos(0x7F), 0xA5);
    dev_outb(R, 0, 0xC0);
    CHECK_EQ(dev_inb(R, 1), 0x5A);
    teardown();

    setup_with(START, 8 * 1024);
    CHECK_EQ(cmos(0x34) | cmos(0x35) << 8, 0);
    /* the index port is write-only; C and D cannot be written */
    CHECK_EQ(dev_inb(R, 0), 0xFF);
    cmos_w(0x0C, 0xFF);
    cmos_w(0x0D, 0x00);
    CHECK_EQ(cmos(0x0C), 0x00);
    CHECK_EQ(cmos(0x0D), 0x80);
    CHECK_EQ(mc146818_unmodelled(rtc), 3);
    /* a 16-bit write: index then data */
    dev_out(R, 0, 0x7750, 2);
    CHECK_EQ(cmos(0x50), 0x77);
    teardown();
}

static void test_hostile(void)
{
    setup();
    CHECK_EQ(dev_in(R, 2, 1), 0xFF);
    CHECK_EQ(dev_in(R, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    dev_out(R, 77, 1, 1);
    CHECK_EQ(mc146818_unmodelled(rtc), 1 + 4 + 1);
    (void)dev_in(R, 0, 3);
    dev_out(R, 1, 0, 0);

    test_rng r = {1767268800};
    for (int i = 0; i < 30000; i++) {
        switch (rng_next(&r) % 5) {
        case 0: dev_out(R, (uint32_t)(rng_next(&r) % 3), (uint32_t)rng_next(&r), rng_size(&r)); break;
        case 1: (void)dev_in(R, (uint32_t)(rng_next(&r) % 3), rng_size(&r)); break;
        case 2: cmos_w((uint8_t)(rng_next(&r) % 0x40), (uint8_t)rng_next(&r)); break;
        case 3: clk.t += rng_next(&r) % (3 * NS); break;
        default: {
            panda_vtime dl = mc146818_next_deadline(rtc);
            if (dl != PANDA_VTIME_NEVER && dl >= clk.t) {
                clk.t = dl;
                mc146818_run_until(rtc, dl);
            }
        }
        }
        CHECK_EQ(cmos(0x0D), 0x80);
        CHECK_EQ(irq8.calls, irq8.changes);
    }
    /* the clock still makes sense in binary 24-hour mode */
    cmos_w(0x0B, 0x06);
    for (int i = 0; i < 100; i++) {
        clk.t += rng_next(&r) % (100000 * NS);
        CHECK(cmos(0) < 60);
        CHECK(cmos(2) < 60);
        CHECK(cmos(4) < 24);
        CHECK(cmos(6) >= 1 && cmos(6) <= 7);
        CHECK(cmos(7) >= 1 && cmos(7) <= 31);
        CHECK(cmos(8) >= 1 && cmos(8) <= 12);
        CHECK(cmos(9) < 100);
    }
    teardown();
}

int main(void)
{
    test_reset_and_time();
    test_uip();
    test_set_mode();
    test_interrupts();
    test_cmos_memory();
    test_hostile();
    return check_done();
}
