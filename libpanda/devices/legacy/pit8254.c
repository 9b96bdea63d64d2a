/*
 * Intel 8254 PIT (0x40-0x43) and PC system control port B (0x61).
 *
 * Counters run on virtual time: a channel remembers the virtual ns at
 * which its current run of counting started and how many input clocks it
 * had counted before that (runs are split when channel 2's gate stops and
 * restarts it).  Elapsed clocks are floor(dt * 1193182 / 1e9) computed
 * exactly in 64-bit integers (bytewise.h), so values are deterministic and
 * never drift.  A count is loaded into the counting element at the moment
 * it is written (the real chip waits for the next clock edge; the one
 * clock of difference is not modelled).  Count 0 means 65536 (BCD: 10000
 * is not modelled).
 *
 * Modes (N = initial count, d = clocks counted):
 *   0  OUT low from the control word; high when d >= N.  CE = N - d.
 *      Writing the first byte of a 2-byte count stops counting.
 *   1  waits for a gate rising edge; OUT low while d < N.  Retriggerable.
 *   2  OUT low for the one clock where d % N == N - 1.  CE = N - d % N.
 *   3  OUT high for ceil(N/2) clocks, low for floor(N/2); CE counts by 2.
 *   4  OUT low for the one clock d == N (strobe).  CE = N - d.
 *   5  as 4 but started (and restarted) by a gate rising edge.
 *   6, 7 are 2 and 3.
 * Gate (channel 2 only; 0 and 1 are tied high): low stops counting in
 * modes 0, 2, 3, 4 (and forces OUT high in 2 and 3); a rising edge
 * restarts modes 1, 2, 3 and 5 from N.  A new count written while mode 2
 * or 3 is running restarts the period at once (the chip waits for the end
 * of the current one).
 *
 * IRQ0 is channel 0's OUT, and the PIC latches its rising edges, so the
 * timer delivers a pulse (raise, lower) at each rising edge of OUT0:
 * d = k*N (k >= 1) in modes 2 and 3, d = N in modes 0 and 1, d = N + 1
 * (end of the strobe) in modes 4 and 5.  pit8254_next_deadline gives the
 * virtual ns of the next such edge; pit8254_run_until(now) pulses once if
 * one or more are due and then schedules the next edge after now: when
 * several periods elapsed between calls the extra ones are dropped (the
 * PIC would have merged them into one pending request anyway; Linux
 * tolerates lost ticks).  Accesses that reprogram channel 0 first deliver
 * any edge already due, using the now() clock.
 *
 * Read-back, counter latch, status latch (OUT, null count, RW, mode, BCD),
 * and the lobyte/hibyte/word read and write flip-flops are as the 8254.
 * Port 0x61: bits 0-3 read back as written (bit 0 gate 2, bit 1 speaker
 * data, bits 2-3 the parity/IOCHK enables), bit 4 toggles on every read
 * (refresh), bit 5 is OUT2, bits 6-7 read 0.  The speaker makes no sound.
 */
#include "legacy/pit8254.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytewise.h"

#define NO_EDGE UINT64_MAX

enum { RW_LATCH = 0, RW_LSB = 1, RW_MSB = 2, RW_WORD = 3 };

struct channel {
    uint8_t mode, rw, bcd;
    uint32_t count; /* N: 1..65536 */
    bool loaded;    /* a count has been written since the control word */
    bool started;   /* counting has been started (load or gate trigger) */
    bool running;   /* started and clocks are being counted now */
    bool gate;
    bool null_count;
    uint64_t base_ticks;  /* clocks counted before run_start */
    panda_vtime run_start;
    /* flip-flops */
    bool write_hi;  /* word mode: next write is the high byte */
    bool read_hi;   /* word mode: next read is the high byte */
    uint8_t write_lsb;
    /* latches */
    int latch_state; /* 0 none, RW_LSB / RW_MSB: that byte next, RW_WORD: lsb then msb */
    uint16_t latched;
    bool status_latched;
    uint8_t status;
    uint64_t next_edge; /* channel 0: clock count of the next OUT rising edge */
};

struct pit8254 {
    irq_line irq0;
    panda_vtime (*now)(void *);
    void *now_opaque;
    struct channel ch[3];
    uint8_t port61; /* bits 0-3 */
    bool refresh;
    uint64_t missed; /* IRQ0 edges merged into one by run_until */
    uint64_t unmodelled;
};

static panda_vtime now_of(const pit8254 *pit)
{
    return pit->now ? pit->now(pit->now_opaque) : 0;
}

static uint64_t ticks(const struct channel *c, panda_vtime now)
{
    if (!c->running) return c->base_ticks;
    uint64_t dt = now > c->run_start ? now - c->run_start : 0;
    uint64_t t = vtime_to_ticks(dt, PIT_FREQ_HZ);
    return c->base_ticks + t < c->base_ticks ? UINT64_MAX : c->base_ticks + t;
}

static bool gate_stops(uint8_t mode)
{
    return mode == 0 || mode == 2 || mode == 3 || mode == 4;
}

static bool is_periodic(uint8_t mode)
{
    return mode == 2 || mode == 3;
}

static uint32_t ce_value(const struct channel *c, uint64_t d)
{
    uint64_t n = c->count;
    switch (c->mode) {
    case 2:
        return (uint32_t)((n - d % n) & 0xFFFF);
    case 3: {
        uint64_t p = d % n;
        if (!(n & 1)) return (uint32_t)((n - 2 * (p % (n / 2))) & 0xFFFF);
        uint64_t hi = (n + 1) / 2;
        if (p >= hi) p -= hi;
        return (uint32_t)((n - 1 - 2 * p) & 0xFFFF);
    }
    default: /* 0, 1, 4, 5: wraps through 0xFFFF after terminal count */
        return (uint32_t)((n - (d & 0xFFFF) + 0x10000) & 0xFFFF);
    }
}

static uint16_t read_count(const struct channel *c, panda_vtime now)
{
    if (!c->started) return (uint16_t)(c->count & 0xFFFF);
    return (uint16_t)ce_value(c, ticks(c, now));
}

static int out_level(const struct channel *c, panda_vtime now)
{
    uint64_t n = c->count;
    switch (c->mode) {
    case 0:
        if (!c->started) return 0;
        return ticks(c, now) >= n;
    case 1:
        if (!c->started) return 1;
        return ticks(c, now) >= n;
    case 2:
        if (!c->started || !c->gate) return 1;
        return ticks(c, now) % n != n - 1;
    case 3:
        if (!c->started || !c->gate) return 1;
        return ticks(c, now) % n < (n + 1) / 2;
    default: /* 4, 5 */
        if (!c->started) return 1;
        return ticks(c, now) != n;
    }
}

/* The clock count of the first OUT rising edge strictly after d, or NO_EDGE. */
static uint64_t edge_after(const struct channel *c, uint64_t d)
{
    if (!c->started) return NO_EDGE;
    uint64_t n = c->count;
    uint64_t e;
    switch (c->mode) {
    case 0: case 1: e = n; break;
    case 4: case 5: e = n + 1; break;
    default:
        if (d / n >= UINT64_MAX / n - 1) return NO_EDGE;
        return (d / n + 1) * n;
    }
    return e > d ? e : NO_EDGE;
}

/* The first OUT rising edge at or after clock count d (used at start). */
static uint64_t first_edge(const struct channel *c)
{
    return edge_after(c, c->base_ticks);
}

static void start_counting(struct channel *c, panda_vtime now)
{
    c->started = true;
    c->base_ticks = 0;
    c->run_start = now;
    c->running = c->gate || !gate_stops(c->mode);
    c->next_edge = first_edge(c);
}

static void stop_counting(struct channel *c)
{
    c->started = false;
    c->running = false;
    c->base_ticks = 0;
    c->next_edge = NO_EDGE;
}

static void pulse_irq0(pit8254 *pit)
{
    irq_set(&pit->irq0, 1);
    irq_set(&pit->irq0, 0);
}

static void catch_up(pit8254 *pit, panda_vtime now)
{
    struct channel *c = &pit->ch[0];
    if (c->next_edge == NO_EDGE || !c->started) return;
    uint64_t d = ticks(c, now);
    if (d < c->next_edge) return;
    pulse_irq0(pit);
    if (is_periodic(c->mode)) {
        uint64_t n = c->count;
        pit->missed += (d - c->next_edge) / n;
        c->next_edge = edge_after(c, d);
    } else {
        c->next_edge = NO_EDGE;
    }
}

static void set_gate(pit8254 *pit, int idx, bool gate, panda_vtime now)
{
    struct channel *c = &pit->ch[idx];
    if (gate == c->gate) return;
    c->gate = gate;
    if (gate) {
        /* rising edge */
        switch (c->mode) {
        case 1: case 5:
            if (c->loaded) start_counting(c, now);
            break;
        case 2: case 3:
            if (c->loaded) start_counting(c, now);
            break;
        default: /* 0, 4: resume */
            if (c->started && !c->running) {
                c->running = true;
                c->run_start = now;
            }
            break;
        }
    } else if (gate_stops(c->mode) && c->running) {
        c->base_ticks = ticks(c, now);
        c->running = false;
    }
}

static void load_count(pit8254 *pit, int idx, uint32_t value, panda_vtime now)
{
    struct channel *c = &pit->ch[idx];
    c->count = value ? value : 0x10000;
    c->loaded = true;
    c->null_count = false;
    switch (c->mode) {
    case 1: case 5:
        /* armed; counting begins at the next gate rising edge */
        break;
    default:
        start_counting(c, now);
        break;
    }
    (void)pit;
}

static void latch_count(struct channel *c, panda_vtime now)
{
    if (c->latch_state) return; /* a latch is held until read */
    c->latched = read_count(c, now);
    c->latch_state = c->rw == RW_LATCH ? RW_WORD : c->rw;
}

static void latch_status(struct channel *c, panda_vtime now)
{
    if (c->status_latched) return;
    c->status = (uint8_t)((out_level(c, now) << 7) | (c->null_count << 6) | (c->rw << 4) |
                          (c->mode << 1) | c->bcd);
    c->status_latched = true;
}

static void control_word(pit8254 *pit, uint8_t val, panda_vtime now)
{
    int sc = val >> 6;
    if (sc == 3) { /* read-back */
        for (int i = 0; i < 3; i++) {
            if (!(val & (2 << i))) continue;
            if (!(val & 0x20)) latch_count(&pit->ch[i], now);
            if (!(val & 0x10)) latch_status(&pit->ch[i], now);
        }
        if (val & 1) pit->unmodelled++; /* reserved bit */
        return;
    }
    struct channel *c = &pit->ch[sc];
    int rw = (val >> 4) & 3;
    if (rw == RW_LATCH) {
        latch_count(c, now);
        return;
    }
    uint8_t mode = (val >> 1) & 7;
    if (mode > 5) mode -= 4;
    c->mode = mode;
    c->rw = (uint8_t)rw;
    c->bcd = val & 1;
    c->write_hi = false;
    c->read_hi = false;
    c->latch_state = 0;       /* "all control logic is reset" */
    c->status_latched = false;
    c->loaded = false;
    c->null_count = true;
    stop_counting(c);
}

static void data_write(pit8254 *pit, int idx, uint8_t val, panda_vtime now)
{
    struct channel *c = &pit->ch[idx];
    switch (c->rw) {
    case RW_LSB:
        load_count(pit, idx, val, now);
        break;
    case RW_MSB:
        load_count(pit, idx, (uint32_t)val << 8, now);
        break;
    case RW_WORD:
        if (!c->write_hi) {
            c->write_lsb = val;
            c->write_hi = true;
            c->null_count = true;
            if (c->mode == 0) {
                /* mode 0: the first byte stops the count, OUT goes low */
                c->loaded = false;
                stop_counting(c);
            }
        } else {
            c->write_hi = false;
            load_count(pit, idx, c->write_lsb | ((uint32_t)val << 8), now);
        }
        break;
    default: /* no control word yet: reset state is word mode, see reset */
        pit->unmodelled++;
        break;
    }
}

static uint8_t data_read(pit8254 *pit, int idx, panda_vtime now)
{
    struct channel *c = &pit->ch[idx];
    if (c->status_latched) {
        c->status_latched = false;
        return c->status;
    }
    if (c->latch_state) {
        switch (c->latch_state) {
        case RW_LSB:
            c->latch_state = 0;
            return (uint8_t)c->latched;
        case RW_MSB:
            c->latch_state = 0;
            return (uint8_t)(c->latched >> 8);
        default: /* word: lsb now, msb next */
            c->latch_state = RW_MSB;
            return (uint8_t)c->latched;
        }
    }
    uint16_t v = read_count(c, now);
    switch (c->rw) {
    case RW_LSB: return (uint8_t)v;
    case RW_MSB: return (uint8_t)(v >> 8);
    default:
        c->read_hi = !c->read_hi;
        return c->read_hi ? (uint8_t)v : (uint8_t)(v >> 8);
    }
}

static uint8_t pit_rd(void *opaque, uint32_t offset)
{
    pit8254 *pit = opaque;
    panda_vtime now = now_of(pit);
    if (offset == 3) {
        pit->unmodelled++; /* the control register is write-only */
        return 0xFF;
    }
    return data_read(pit, (int)offset, now);
}

static void pit_wr(void *opaque, uint32_t offset, uint8_t val)
{
    pit8254 *pit = opaque;
    panda_vtime now = now_of(pit);
    catch_up(pit, now); /* deliver what channel 0 already owes */
    if (offset == 3)
        control_word(pit, val, now);
    else
        data_write(pit, (int)offset, val, now);
}

static uint32_t pit_read(void *opaque, uint32_t offset, unsigned size)
{
    pit8254 *pit = opaque;
    return bytewise_read(opaque, offset, size, 4, pit_rd, &pit->unmodelled);
}

static void pit_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    pit8254 *pit = opaque;
    bytewise_write(opaque, offset, v, size, 4, pit_wr, &pit->unmodelled);
}

static uint8_t p61_rd(void *opaque, uint32_t offset)
{
    pit8254 *pit = opaque;
    (void)offset;
    pit->refresh = !pit->refresh;
    return (uint8_t)((pit->port61 & 0x0F) | (pit->refresh << 4) |
                     (out_level(&pit->ch[2], now_of(pit)) << 5));
}

static void p61_wr(void *opaque, uint32_t offset, uint8_t val)
{
    pit8254 *pit = opaque;
    (void)offset;
    pit->port61 = val & 0x0F;
    set_gate(pit, 2, val & 1, now_of(pit));
}

static uint32_t p61_read(void *opaque, uint32_t offset, unsigned size)
{
    pit8254 *pit = opaque;
    return bytewise_read(opaque, offset, size, 1, p61_rd, &pit->unmodelled);
}

static void p61_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    pit8254 *pit = opaque;
    bytewise_write(opaque, offset, v, size, 1, p61_wr, &pit->unmodelled);
}

/* ---- public ---- */

void pit8254_reset(pit8254 *pit)
{
    if (!pit) return;
    panda_vtime now = now_of(pit);
    memset(pit->ch, 0, sizeof pit->ch);
    pit->port61 = 0;
    pit->refresh = false;
    /* as a PC BIOS leaves it: every channel mode 3, word access, count
     * 65536; channels 0 and 1 gated on (0 gives IRQ0 at 18.2 Hz), channel
     * 2 gated off by port 0x61 */
    for (int i = 0; i < 3; i++) {
        struct channel *c = &pit->ch[i];
        c->mode = 3;
        c->rw = RW_WORD;
        c->gate = i != 2;
        c->next_edge = NO_EDGE;
        load_count(pit, i, 0, now);
    }
}

pit8254 *pit8254_new(irq_line irq0, panda_vtime (*now)(void *), void *now_opaque)
{
    pit8254 *pit = calloc(1, sizeof *pit);
    if (!pit) return NULL;
    pit->irq0 = irq0;
    pit->now = now;
    pit->now_opaque = now_opaque;
    pit8254_reset(pit);
    return pit;
}

void pit8254_free(pit8254 *pit)
{
    free(pit);
}

bus_device pit8254_device(pit8254 *pit)
{
    return (bus_device){"pit8254", pit, pit_read, pit_write};
}

bus_device pit8254_port61_device(pit8254 *pit)
{
    return (bus_device){"port61", pit, p61_read, p61_write};
}

panda_vtime pit8254_next_deadline(pit8254 *pit)
{
    if (!pit) return PANDA_VTIME_NEVER;
    const struct channel *c = &pit->ch[0];
    if (!c->started || !c->running || c->next_edge == NO_EDGE) return PANDA_VTIME_NEVER;
    if (c->next_edge <= c->base_ticks) return c->run_start; /* already due */
    return vtime_add(c->run_start, ticks_to_vtime(c->next_edge - c->base_ticks, PIT_FREQ_HZ));
}

void pit8254_run_until(pit8254 *pit, panda_vtime now)
{
    if (!pit) return;
    catch_up(pit, now);
}

uint64_t pit8254_unmodelled(const pit8254 *pit)
{
    return pit ? pit->unmodelled : 0;
}

/* ---- state (device.h) ---- */

#define PIT8254_STATE_VERSION 1

static void save_channel(const struct channel *c, state_writer *w)
{
    sw_u8(w, c->mode);
    sw_u8(w, c->rw);
    sw_bool(w, c->bcd);
    sw_u32(w, c->count);
    sw_bool(w, c->loaded);
    sw_bool(w, c->started);
    sw_bool(w, c->running);
    sw_bool(w, c->gate);
    sw_bool(w, c->null_count);
    sw_u64(w, c->base_ticks);
    sw_u64(w, c->run_start);
    sw_bool(w, c->write_hi);
    sw_bool(w, c->read_hi);
    sw_u8(w, c->write_lsb);
    sw_u8(w, (uint8_t)c->latch_state);
    sw_u16(w, c->latched);
    sw_bool(w, c->status_latched);
    sw_u8(w, c->status);
    sw_u64(w, c->next_edge);
}

static void save_op(const void *opaque, state_writer *w)
{
    const pit8254 *pit = opaque;
    for (int i = 0; i < 3; i++) save_channel(&pit->ch[i], w);
    sw_u8(w, pit->port61);
    sw_bool(w, pit->refresh);
    sw_u64(w, pit->missed);
    sw_u64(w, pit->unmodelled);
}

#define CHECK_CH(ok, ...)                                                          \
    do {                                                                           \
        if (!(ok)) sr_fail(r, "pit8254 channel %d " __VA_ARGS__);                  \
    } while (0)

/* Refuses what control_word, data_write, the gate and the counting code
 * never leave in a channel: the divisions by count, the mode and access
 * switches and the edge arithmetic rely on these. */
static void load_channel(struct channel *c, state_reader *r, int idx)
{
    char f[64];
#define FIELD(name) (snprintf(f, sizeof f, "pit8254 channel %d " name, idx), f)
    c->mode = sr_u8_in(r, 0, 5, FIELD("mode"));
    c->rw = sr_u8_in(r, RW_LSB, RW_WORD, FIELD("rw")); /* RW_LATCH is a command only */
    c->bcd = sr_flag(r, FIELD("bcd"));
    c->count = sr_u32_in(r, 1, 0x10000, FIELD("count"));
    c->loaded = sr_flag(r, FIELD("loaded"));
    c->started = sr_flag(r, FIELD("started"));
    c->running = sr_flag(r, FIELD("running"));
    c->gate = sr_flag(r, FIELD("gate"));
    c->null_count = sr_flag(r, FIELD("null_count"));
    c->base_ticks = sr_u64(r);
    c->run_start = sr_u64(r);
    c->write_hi = sr_flag(r, FIELD("write_hi"));
    c->read_hi = sr_flag(r, FIELD("read_hi"));
    c->write_lsb = sr_u8(r);
    c->latch_state = sr_u8_in(r, 0, RW_WORD, FIELD("latch_state"));
    c->latched = sr_u16(r);
    c->status_latched = sr_flag(r, FIELD("status_latched"));
    c->status = sr_u8(r);
    c->next_edge = sr_u64(r);
#undef FIELD
    if (r->failed) return;
    if (idx != 2) CHECK_CH(c->gate, "gate is low (it is tied high)", idx);
    if (c->started) {
        CHECK_CH(c->loaded, "counts without a count loaded", idx);
        CHECK_CH(c->running == (c->gate || !gate_stops(c->mode)),
                 "running disagrees with its gate and mode", idx);
    } else {
        CHECK_CH(!c->running && c->base_ticks == 0 && c->next_edge == NO_EDGE,
                 "is stopped but keeps running, clocks counted or an edge", idx);
    }
    if (c->rw != RW_WORD) CHECK_CH(!c->write_hi && !c->read_hi, "has a word flip-flop set "
                                   "without word access", idx);
    /* the next OUT edge: a multiple of the period in modes 2 and 3; in the
     * others the end of a count (a retrigger in mode 1 or 5 keeps the edge
     * of the count before) */
    if (c->next_edge != NO_EDGE) {
        bool ok = is_periodic(c->mode) ? c->next_edge % c->count == 0
                                       : c->next_edge >= 1 && c->next_edge <= 0x10001;
        CHECK_CH(ok, "next_edge %" PRIu64 " is not an edge of mode %u, count %" PRIu32, idx,
                 c->next_edge, c->mode, c->count);
    }
}

#undef CHECK_CH

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "pit8254", version, PIT8254_STATE_VERSION)) return;
    pit8254 pit = *(pit8254 *)opaque; /* keeps the wiring */
    for (int i = 0; i < 3; i++) load_channel(&pit.ch[i], r, i);
    pit.port61 = sr_u8_bits(r, 0x0F, "pit8254 port61");
    pit.refresh = sr_flag(r, "pit8254 refresh");
    pit.missed = sr_u64(r);
    pit.unmodelled = sr_u64(r);
    if (!r->failed && pit.ch[2].gate != (pit.port61 & 1))
        sr_fail(r, "pit8254 channel 2 gate disagrees with port 0x61 bit 0");
    if (!r->failed) *(pit8254 *)opaque = pit;
}

static void reset_op(void *opaque) { pit8254_reset(opaque); }
static void free_op(void *opaque) { pit8254_free(opaque); }
static panda_vtime next_deadline_op(void *opaque) { return pit8254_next_deadline(opaque); }
static void run_until_op(void *opaque, panda_vtime now) { pit8254_run_until(opaque, now); }

const panda_device_ops pit8254_ops = {
    .type = "pit8254",
    .state_version = PIT8254_STATE_VERSION,
    .reset = reset_op,
    .next_deadline = next_deadline_op,
    .run_until = run_until_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
