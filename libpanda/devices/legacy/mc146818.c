/*
 * Motorola MC146818 RTC + 128 bytes of CMOS RAM at 0x70 (index) / 0x71
 * (data), IRQ8.
 *
 * The clock is virtual: the time of day is clock_base + floor(now / 1e9)
 * seconds since 1970 UTC, clock_base starting at start_unix, so a second
 * boundary falls on every whole virtual second.  Calendar conversion is
 * done here (proleptic Gregorian, no libc, no time zones).  The time
 * registers (0x00, 0x02, 0x04, 0x06-0x09 and the century byte 0x32) are
 * computed on every read in the format register B asks for (BCD or binary
 * per DM, 12-hour with bit 7 = PM or 24-hour).  Setting SET (B bit 7)
 * freezes them into plain bytes the guest may rewrite (and clears UIE, as
 * the chip does); clearing SET parses them back (out-of-range fields are
 * clamped, the weekday is recomputed from the date) and the clock runs on
 * from there.  A time register written while SET is clear takes effect
 * immediately the same way.
 *
 * Register A: UIP (bit 7, read-only) is set during the last 244 us of each
 * virtual second while SET is clear; the divider bits are stored but the
 * clock always runs (DV = 11x does not hold it in reset); the rate bits
 * select the periodic interrupt (RS 1/2 behave as 8/9 do, as on the
 * chip with a 32.768 kHz base).  Register C: PF at every periodic tick
 * (aligned to virtual time 0), UF at every second boundary, AF when the
 * alarm bytes (0xC0-0xFF = don't care) match the time bytes of the new
 * second; IRQF = any flag whose enable (B bits 6-4) is set; reading C
 * returns and clears it and lowers IRQ8.  Flags are brought up to date
 * lazily on every access and in mc146818_run_until; next_deadline is the
 * next periodic tick (PIE) or second boundary (UIE or AIE; AIE is checked
 * once per second rather than jumping to the alarm time) and NEVER while
 * IRQ8 is already asserted.  Register D reads 0x80 (valid RAM and time).
 *
 * CMOS contents at reset: 0x10 no floppy, 0x12 no disk, 0x14 equipment
 * 0x02 (FPU, no floppy, EGA/VGA), 0x15/0x16 640 KB base memory, 0x17/0x18
 * and 0x30/0x31 KB above 1 MB, 0x34/0x35 64 KB blocks above 16 MB (all
 * capped at 0xFFFF), checksum 0x2E/0x2F over 0x10-0x2D.  The rest is RAM.
 *
 * Left out: daylight saving (DSE is stored only), square-wave output,
 * the 0x70 read-back (reads 0xFF), writes to C and D (counted and
 * dropped).
 */
#include "legacy/mc146818.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bytewise.h"

enum {
    REG_SEC = 0x00, REG_SEC_ALARM = 0x01, REG_MIN = 0x02, REG_MIN_ALARM = 0x03,
    REG_HOUR = 0x04, REG_HOUR_ALARM = 0x05, REG_WDAY = 0x06, REG_MDAY = 0x07,
    REG_MON = 0x08, REG_YEAR = 0x09, REG_A = 0x0A, REG_B = 0x0B, REG_C = 0x0C,
    REG_D = 0x0D, REG_CENTURY = 0x32,
};

#define A_UIP 0x80
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM 0x04
#define B_24H 0x02
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

#define NS 1000000000ull
#define UIP_NS 244141ull /* 244.140625 us: 8 cycles of the 32.768 kHz base */
#define RTC_HZ 32768u

struct mc146818 {
    irq_line irq8;
    int irq_level;
    panda_vtime (*now)(void *);
    void *now_opaque;
    uint8_t cmos[128];
    uint8_t index;
    bool nmi_disabled;
    int64_t clock_base;    /* unix seconds at virtual second 0 */
    panda_vtime last_sync; /* flags are up to date to here */
    uint64_t unmodelled;
    /* configuration, for reset (not state: the machine gives it) */
    int64_t start_unix;    /* clamped to CLOCK_MIN..CLOCK_MAX */
    uint32_t mem_kb_above_1m;
    uint8_t nvram[128];    /* mc146818_set_nvram's bytes, where nvram_set */
    bool nvram_set[128];
};

struct rtc_tm {
    int sec, min, hour, wday, mday, mon, year; /* mon 1-12, wday 1-7 (Sunday = 1) */
};

/* ---- calendar (Howard Hinnant's civil algorithms) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) q--;
    return q;
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void unix_to_tm(int64_t t, struct rtc_tm *tm)
{
    int64_t days = floor_div(t, 86400);
    int64_t secs = t - days * 86400;
    tm->hour = (int)(secs / 3600);
    tm->min = (int)(secs / 60 % 60);
    tm->sec = (int)(secs % 60);
    int64_t wd = (days + 4) % 7; /* 1970-01-01 was a Thursday (4) */
    if (wd < 0) wd += 7;
    tm->wday = (int)wd + 1;
    int64_t y;
    civil_from_days(days, &y, &tm->mon, &tm->mday);
    if (y < 0) y = 0;
    if (y > 9999) y = 9999;
    tm->year = (int)y;
}

static int days_in_month(int year, int mon)
{
    static const uint8_t dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mon == 2 && ((year % 4 == 0 && year % 100 != 0) || year % 400 == 0)) return 29;
    return dim[(mon - 1) % 12];
}

/* ---- register formats ---- */

static bool binary_mode(const mc146818 *rtc)
{
    return rtc->cmos[REG_B] & B_DM;
}

static uint8_t to_reg(const mc146818 *rtc, int v)
{
    if (v < 0) v = 0;
    v %= 100;
    return binary_mode(rtc) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

static int from_reg(const mc146818 *rtc, uint8_t v)
{
    return binary_mode(rtc) ? v : (v >> 4) * 10 + (v & 0x0F);
}

static uint8_t hour_to_reg(const mc146818 *rtc, int hour)
{
    if (rtc->cmos[REG_B] & B_24H) return to_reg(rtc, hour);
    int h12 = hour % 12 == 0 ? 12 : hour % 12;
    return (uint8_t)(to_reg(rtc, h12) | (hour >= 12 ? 0x80 : 0));
}

static int hour_from_reg(const mc146818 *rtc, uint8_t v)
{
    if (rtc->cmos[REG_B] & B_24H) return from_reg(rtc, v);
    int h = from_reg(rtc, v & 0x7F);
    if (h == 12) h = 0;
    if (v & 0x80) h += 12;
    return h;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- the clock ---- */

static panda_vtime now_of(const mc146818 *rtc)
{
    return rtc->now ? rtc->now(rtc->now_opaque) : 0;
}

static int64_t unix_at(const mc146818 *rtc, panda_vtime t)
{
    return rtc->clock_base + (int64_t)(t / NS);
}

static bool set_mode(const mc146818 *rtc)
{
    return rtc->cmos[REG_B] & B_SET;
}

/* The time register bytes for unix time u, in the current format. */
static uint8_t time_byte(const mc146818 *rtc, int reg, int64_t u)
{
    struct rtc_tm tm;
    unix_to_tm(u, &tm);
    switch (reg) {
    case REG_SEC: return to_reg(rtc, tm.sec);
    case REG_MIN: return to_reg(rtc, tm.min);
    case REG_HOUR: return hour_to_reg(rtc, tm.hour);
    case REG_WDAY: return to_reg(rtc, tm.wday);
    case REG_MDAY: return to_reg(rtc, tm.mday);
    case REG_MON: return to_reg(rtc, tm.mon);
    case REG_YEAR: return to_reg(rtc, tm.year % 100);
    case REG_CENTURY: return to_reg(rtc, tm.year / 100);
    default: return rtc->cmos[reg & 0x7F];
    }
}

static bool is_time_reg(int reg)
{
    return reg == REG_SEC || reg == REG_MIN || reg == REG_HOUR || reg == REG_WDAY ||
           reg == REG_MDAY || reg == REG_MON || reg == REG_YEAR || reg == REG_CENTURY;
}

static const int time_regs[] = {REG_SEC, REG_MIN, REG_HOUR, REG_WDAY,
                                REG_MDAY, REG_MON, REG_YEAR, REG_CENTURY};

static void freeze(mc146818 *rtc, panda_vtime now)
{
    int64_t u = unix_at(rtc, now);
    for (size_t i = 0; i < sizeof time_regs / sizeof time_regs[0]; i++)
        rtc->cmos[time_regs[i]] = time_byte(rtc, time_regs[i], u);
}

static void thaw(mc146818 *rtc, panda_vtime now)
{
    int sec = clamp(from_reg(rtc, rtc->cmos[REG_SEC]), 0, 59);
    int min = clamp(from_reg(rtc, rtc->cmos[REG_MIN]), 0, 59);
    int hour = clamp(hour_from_reg(rtc, rtc->cmos[REG_HOUR]), 0, 23);
    int mon = clamp(from_reg(rtc, rtc->cmos[REG_MON]), 1, 12);
    int year = clamp(from_reg(rtc, rtc->cmos[REG_YEAR]), 0, 99) +
               100 * clamp(from_reg(rtc, rtc->cmos[REG_CENTURY]), 0, 99);
    int mday = clamp(from_reg(rtc, rtc->cmos[REG_MDAY]), 1, days_in_month(year, mon));
    int64_t u = days_from_civil(year, mon, mday) * 86400 + hour * 3600 + min * 60 + sec;
    rtc->clock_base = u - (int64_t)(now / NS);
}

/* ---- interrupts ---- */

static uint64_t periodic_ticks(const mc146818 *rtc)
{
    int rs = rtc->cmos[REG_A] & 0x0F;
    if (rs == 0) return 0;
    if (rs <= 2) rs += 7;
    return 1ull << (rs - 1); /* in 32.768 kHz cycles */
}

static uint64_t periodic_index(const mc146818 *rtc, panda_vtime t)
{
    return vtime_to_ticks(t, RTC_HZ) / periodic_ticks(rtc);
}

/* The alarm compares the alarm bytes with the time bytes as the chip
 * does; only the time of day matters, which is u mod 86400 in UTC. */
static bool alarm_matches(const mc146818 *rtc, int64_t u)
{
    int64_t tod = u % 86400;
    if (tod < 0) tod += 86400;
    const uint8_t now[3] = {to_reg(rtc, (int)(tod % 60)), to_reg(rtc, (int)(tod / 60 % 60)),
                            hour_to_reg(rtc, (int)(tod / 3600))};
    const uint8_t alarm[3] = {rtc->cmos[REG_SEC_ALARM], rtc->cmos[REG_MIN_ALARM],
                              rtc->cmos[REG_HOUR_ALARM]};
    for (int i = 0; i < 3; i++) {
        if ((alarm[i] & 0xC0) == 0xC0) continue; /* don't care */
        if (alarm[i] != now[i]) return false;
    }
    return true;
}

static void update_irq(mc146818 *rtc)
{
    uint8_t *c = &rtc->cmos[REG_C];
    if (*c & rtc->cmos[REG_B] & (C_PF | C_AF | C_UF))
        *c |= C_IRQF;
    else
        *c &= (uint8_t)~C_IRQF;
    int level = (*c & C_IRQF) != 0;
    if (level != rtc->irq_level) {
        rtc->irq_level = level;
        irq_set(&rtc->irq8, level);
    }
}

static void catch_up(mc146818 *rtc, panda_vtime now)
{
    panda_vtime last = rtc->last_sync;
    if (now <= last) return;
    rtc->last_sync = now;
    if (periodic_ticks(rtc) && periodic_index(rtc, now) > periodic_index(rtc, last))
        rtc->cmos[REG_C] |= C_PF;
    uint64_t s_old = last / NS, s_new = now / NS;
    if (s_new > s_old && !set_mode(rtc)) {
        rtc->cmos[REG_C] |= C_UF;
        /* any second in (s_old, s_new] whose time matches the alarm; a
         * day covers every time of day */
        uint64_t first = s_new - s_old > 86400 ? s_new - 86399 : s_old + 1;
        for (uint64_t s = first; s <= s_new; s++) {
            if (alarm_matches(rtc, rtc->clock_base + (int64_t)s)) {
                rtc->cmos[REG_C] |= C_AF;
                break;
            }
        }
    }
    update_irq(rtc);
}

/* ---- ports ---- */

static uint8_t data_read(mc146818 *rtc, panda_vtime now)
{
    int reg = rtc->index;
    switch (reg) {
    case REG_A: {
        uint8_t a = rtc->cmos[REG_A] & 0x7F;
        if (!set_mode(rtc) && now % NS >= NS - UIP_NS) a |= A_UIP;
        return a;
    }
    case REG_C: {
        uint8_t c = rtc->cmos[REG_C];
        rtc->cmos[REG_C] = 0;
        update_irq(rtc);
        return c;
    }
    case REG_D:
        return 0x80;
    default:
        if (is_time_reg(reg) && !set_mode(rtc)) return time_byte(rtc, reg, unix_at(rtc, now));
        return rtc->cmos[reg];
    }
}

static void data_write(mc146818 *rtc, uint8_t val, panda_vtime now)
{
    int reg = rtc->index;
    switch (reg) {
    case REG_A:
        rtc->cmos[REG_A] = val & 0x7F;
        break;
    case REG_B: {
        bool was_set = set_mode(rtc);
        if (val & B_SET) val &= (uint8_t)~B_UIE;
        rtc->cmos[REG_B] = val;
        /* freeze and thaw in the format the guest now reads and writes */
        if ((val & B_SET) && !was_set) freeze(rtc, now);
        if (!(val & B_SET) && was_set) thaw(rtc, now);
        update_irq(rtc);
        break;
    }
    case REG_C:
    case REG_D:
        rtc->unmodelled++; /* read-only */
        break;
    default:
        if (is_time_reg(reg) && !set_mode(rtc)) {
            freeze(rtc, now);
            rtc->cmos[reg] = val;
            thaw(rtc, now);
        } else {
            rtc->cmos[reg] = val;
        }
        break;
    }
}

static uint8_t rtc_rd(void *opaque, uint32_t offset)
{
    mc146818 *rtc = opaque;
    if (offset == 0) {
        rtc->unmodelled++; /* the index register is write-only */
        return 0xFF;
    }
    panda_vtime now = now_of(rtc);
    catch_up(rtc, now);
    return data_read(rtc, now);
}

static void rtc_wr(void *opaque, uint32_t offset, uint8_t val)
{
    mc146818 *rtc = opaque;
    if (offset == 0) {
        rtc->index = val & 0x7F;
        rtc->nmi_disabled = val >> 7;
        return;
    }
    panda_vtime now = now_of(rtc);
    catch_up(rtc, now);
    data_write(rtc, val, now);
}

static uint32_t rtc_read(void *opaque, uint32_t offset, unsigned size)
{
    mc146818 *rtc = opaque;
    return bytewise_read(opaque, offset, size, 2, rtc_rd, &rtc->unmodelled);
}

static void rtc_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    mc146818 *rtc = opaque;
    bytewise_write(opaque, offset, v, size, 2, rtc_wr, &rtc->unmodelled);
}

/* ---- public ---- */

/* The first byte after the clock's registers A-D and the status bytes
 * 0x0E (diagnostics) and 0x0F (shutdown reason), which the guest owns. */
#define NVRAM_FIRST 0x10

/* The standard checksum over 0x10-0x2D, big-endian at 0x2E. */
static void checksum(uint8_t *c)
{
    unsigned sum = 0;
    for (int i = 0x10; i <= 0x2D; i++) sum += c[i];
    c[0x2E] = (uint8_t)(sum >> 8);
    c[0x2F] = (uint8_t)sum;
}

static void put16(uint8_t *cmos, int lo, uint32_t v)
{
    if (v > 0xFFFF) v = 0xFFFF;
    cmos[lo] = (uint8_t)v;
    cmos[lo + 1] = (uint8_t)(v >> 8);
}

/* The calendar stays within years 0..9999: the first and last second the
 * clock starts at (days_from_civil(0, 1, 1) and (9999, 12, 31) * 86400). */
#define CLOCK_MIN (-62167219200ll)
#define CLOCK_MAX 253402214400ll

mc146818 *mc146818_new(irq_line irq8, panda_vtime (*now)(void *), void *now_opaque,
                       int64_t start_unix, uint32_t mem_kb_above_1m)
{
    mc146818 *rtc = calloc(1, sizeof *rtc);
    if (!rtc) return NULL;
    rtc->irq8 = irq8;
    rtc->now = now;
    rtc->now_opaque = now_opaque;
    if (start_unix < CLOCK_MIN) start_unix = CLOCK_MIN;
    if (start_unix > CLOCK_MAX) start_unix = CLOCK_MAX;
    rtc->start_unix = start_unix;
    rtc->mem_kb_above_1m = mem_kb_above_1m;
    mc146818_reset(rtc); /* register C is clear: IRQ8 stays low, no irq_set */
    return rtc;
}

void mc146818_reset(mc146818 *rtc)
{
    if (!rtc) return;
    mc146818 keep = *rtc;
    memset(rtc, 0, sizeof *rtc);
    rtc->irq8 = keep.irq8;
    rtc->irq_level = keep.irq_level; /* so that update_irq lowers the line */
    rtc->now = keep.now;
    rtc->now_opaque = keep.now_opaque;
    rtc->unmodelled = keep.unmodelled;
    rtc->start_unix = keep.start_unix;
    rtc->mem_kb_above_1m = keep.mem_kb_above_1m;
    memcpy(rtc->nvram, keep.nvram, sizeof(rtc->nvram));
    memcpy(rtc->nvram_set, keep.nvram_set, sizeof(rtc->nvram_set));
    uint32_t mem_kb_above_1m = keep.mem_kb_above_1m;
    rtc->clock_base = keep.start_unix; /* the wall clock at virtual time 0 */
    rtc->last_sync = now_of(rtc);
    uint8_t *c = rtc->cmos;
    c[REG_A] = 0x26; /* 32.768 kHz, 1024 Hz periodic rate */
    c[REG_B] = B_24H; /* BCD, 24-hour, no interrupts */
    c[REG_C] = 0;
    c[REG_D] = 0x80;
    c[0x10] = 0x00; /* no floppy drives */
    c[0x12] = 0x00; /* no hard disks */
    c[0x14] = 0x02; /* FPU present, EGA/VGA, no floppy */
    put16(c, 0x15, 640);
    put16(c, 0x17, mem_kb_above_1m);
    put16(c, 0x30, mem_kb_above_1m);
    put16(c, 0x34, mem_kb_above_1m > 15 * 1024 ? (mem_kb_above_1m - 15 * 1024) / 64 : 0);
    for (int i = 0; i < 128; i++)
        if (rtc->nvram_set[i]) c[i] = rtc->nvram[i];
    checksum(c);
    update_irq(rtc);
}

bool mc146818_set_nvram(mc146818 *rtc, uint8_t index, uint8_t value)
{
    if (!rtc || index < NVRAM_FIRST || index >= 128 || index == 0x2E || index == 0x2F) return false;
    rtc->nvram[index] = value;
    rtc->nvram_set[index] = true;
    rtc->cmos[index] = value;
    checksum(rtc->cmos);
    return true;
}

void mc146818_free(mc146818 *rtc)
{
    free(rtc);
}

bus_device mc146818_device(mc146818 *rtc)
{
    return (bus_device){"mc146818", rtc, rtc_read, rtc_write};
}

panda_vtime mc146818_next_deadline(mc146818 *rtc)
{
    if (!rtc || rtc->irq_level) return PANDA_VTIME_NEVER;
    panda_vtime best = PANDA_VTIME_NEVER;
    uint8_t b = rtc->cmos[REG_B];
    panda_vtime last = rtc->last_sync;
    if ((b & B_PIE) && periodic_ticks(rtc)) {
        uint64_t next = periodic_index(rtc, last) + 1;
        uint64_t p = periodic_ticks(rtc);
        if (next <= UINT64_MAX / p) {
            panda_vtime t = ticks_to_vtime(next * p, RTC_HZ);
            if (t < best) best = t;
        }
    }
    if ((b & (B_UIE | B_AIE)) && !(b & B_SET)) {
        uint64_t s = last / NS + 1;
        if (s <= PANDA_VTIME_NEVER / NS) {
            panda_vtime t = s * NS;
            if (t < best) best = t;
        }
    }
    return best;
}

void mc146818_run_until(mc146818 *rtc, panda_vtime now)
{
    if (!rtc) return;
    catch_up(rtc, now);
}

uint64_t mc146818_unmodelled(const mc146818 *rtc)
{
    return rtc ? rtc->unmodelled : 0;
}

/* ---- state (device.h) ---- */

#define MC146818_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const mc146818 *rtc = opaque;
    sw_bytes(w, rtc->cmos, sizeof rtc->cmos);
    sw_u8(w, rtc->index);
    sw_bool(w, rtc->nmi_disabled);
    sw_u64(w, (uint64_t)rtc->clock_base);
    sw_u64(w, rtc->last_sync);
    sw_u64(w, rtc->unmodelled);
}

/* Refuses what the port code never leaves: an index past CMOS (the data
 * port indexes cmos[] with it), register bits the chip does not keep, a
 * clock whose arithmetic would overflow. */
static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "mc146818", version, MC146818_STATE_VERSION)) return;
    mc146818 rtc = *(mc146818 *)opaque; /* keeps the wiring */
    sr_bytes(r, rtc.cmos, sizeof rtc.cmos);
    rtc.index = sr_u8_in(r, 0, sizeof rtc.cmos - 1, "mc146818 index");
    rtc.nmi_disabled = sr_flag(r, "mc146818 nmi_disabled");
    rtc.clock_base = (int64_t)sr_u64(r);
    rtc.last_sync = sr_u64(r);
    rtc.unmodelled = sr_u64(r);
    if (r->failed) return;
    /* thaw() can move the clock's base back by up to the virtual seconds
     * elapsed, from any date in years 0..9999, 23:59:59 included */
    const int64_t lo = CLOCK_MIN - (int64_t)(PANDA_VTIME_NEVER / NS), hi = CLOCK_MAX + 86399;
    if (rtc.clock_base < lo || rtc.clock_base > hi)
        sr_fail(r, "mc146818 clock_base %" PRId64 " is outside %" PRId64 "..%" PRId64,
                rtc.clock_base, lo, hi);
    const uint8_t *c = rtc.cmos;
    if (c[REG_A] & A_UIP) sr_fail(r, "mc146818 register A has UIP stored (it is computed)");
    if ((c[REG_B] & B_SET) && (c[REG_B] & B_UIE))
        sr_fail(r, "mc146818 register B has UIE with SET (setting SET clears UIE)");
    if (c[REG_C] & ~(C_IRQF | C_PF | C_AF | C_UF))
        sr_fail(r, "mc146818 register C holds 0x%02x: bits 0-3 are never set", c[REG_C]);
    if (!(c[REG_C] & C_IRQF) != !(c[REG_C] & c[REG_B] & (C_PF | C_AF | C_UF)))
        sr_fail(r, "mc146818 register C's IRQF disagrees with its flags and enables");
    if (c[REG_D] != 0x80) sr_fail(r, "mc146818 register D holds 0x%02x, not 0x80", c[REG_D]);
    if (r->failed) return;
    rtc.irq_level = (c[REG_C] & C_IRQF) != 0; /* the line follows (device.h) */
    *(mc146818 *)opaque = rtc;
}

static void reset_op(void *opaque) { mc146818_reset(opaque); }
static void free_op(void *opaque) { mc146818_free(opaque); }
static panda_vtime next_deadline_op(void *opaque) { return mc146818_next_deadline(opaque); }
static void run_until_op(void *opaque, panda_vtime now) { mc146818_run_until(opaque, now); }

const panda_device_ops mc146818_ops = {
    .type = "mc146818",
    .state_version = MC146818_STATE_VERSION,
    .reset = reset_op,
    .next_deadline = next_deadline_op,
    .run_until = run_until_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
