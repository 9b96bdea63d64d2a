/*
 * A tiny check harness for the device tests: CHECK(cond) and
 * CHECK_EQ(actual, expected) count and report failures; check_done()
 * prints "N passed, M failed" as the last line and gives the exit status.
 * Also a fake virtual clock and a fake IRQ line that records its changes,
 * and the tests every device's saved state must pass (state_case).
 */
#ifndef PANDA_DEVICES_TESTING_CHECK_H
#define PANDA_DEVICES_TESTING_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "device.h"

static int check_passed_, check_failed_;

#define CHECK(cond)                                                                \
    do {                                                                           \
        if (cond) {                                                                \
            check_passed_++;                                                       \
        } else {                                                                   \
            check_failed_++;                                                       \
            printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                          \
    } while (0)

#define CHECK_EQ(actual, expected)                                                 \
    do {                                                                           \
        unsigned long long a_ = (unsigned long long)(actual);                      \
        unsigned long long e_ = (unsigned long long)(expected);                    \
        if (a_ == e_) {                                                            \
            check_passed_++;                                                       \
        } else {                                                                   \
            check_failed_++;                                                       \
            printf("%s:%d: CHECK failed: %s == %s (got 0x%llx = %llu, want 0x%llx = %llu)\n", \
                   __FILE__, __LINE__, #actual, #expected, a_, a_, e_, e_);        \
        }                                                                          \
    } while (0)

static inline int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    fflush(stdout);
    return check_failed_ ? 1 : 0;
}

/* A virtual clock the test moves by hand. */
typedef struct fake_clock {
    panda_vtime t;
} fake_clock;

static inline panda_vtime fake_now(void *opaque)
{
    return ((fake_clock *)opaque)->t;
}

/* An interrupt line that records what the device did with it. */
typedef struct fake_irq {
    int level;
    int line;     /* the line number last seen */
    int changes;  /* calls that changed the level */
    int calls;    /* all calls */
    int raises;   /* 0->1 transitions */
    int traced;   /* calls already reported by trace_irq */
} fake_irq;

static inline void fake_irq_set(void *opaque, int line, int level)
{
    fake_irq *f = opaque;
    f->calls++;
    f->line = line;
    level = level != 0;
    if (level != f->level) {
        f->changes++;
        if (level) f->raises++;
    }
    f->level = level;
}

static inline irq_line fake_irq_line(fake_irq *f, int line)
{
    irq_line l = {fake_irq_set, f, line};
    return l;
}

/* Fixed-seed PRNG for the write storms (xorshift64*). */
typedef struct test_rng {
    uint64_t s;
} test_rng;

static inline uint64_t rng_next(test_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 2685821657736338717ull;
}

static inline unsigned rng_size(test_rng *r)
{
    static const unsigned sizes[6] = {1, 1, 1, 2, 4, 3};
    return sizes[rng_next(r) % 6];
}

/* Access helpers through a bus_device. */
static inline uint32_t dev_in(bus_device d, uint32_t offset, unsigned size)
{
    return d.read(d.opaque, offset, size);
}

static inline uint8_t dev_inb(bus_device d, uint32_t offset)
{
    return (uint8_t)d.read(d.opaque, offset, 1);
}

static inline void dev_out(bus_device d, uint32_t offset, uint32_t value, unsigned size)
{
    d.write(d.opaque, offset, value, size);
}

static inline void dev_outb(bus_device d, uint32_t offset, uint8_t value)
{
    d.write(d.opaque, offset, value, 1);
}

/* ---- saved state (device.h) ----
 *
 * A state_case describes one device type to the checks below: how to make
 * a fresh instance wired to the test's fakes, and a probe, a fixed series
 * of register accesses (and, for a timer, moves of the fake clock to fixed
 * absolute times) whose answers it appends to a trace.  Two devices in the
 * same state must give the same trace; the probe also CHECKs that every
 * answer is one the chip can give, which is what a hostile state that was
 * accepted must still honour. */

#define TRACE_CAP 4096

typedef struct check_trace {
    uint64_t v[TRACE_CAP];
    size_t n;
    bool overflow;
} check_trace;

static inline void trace_add(check_trace *t, uint64_t v)
{
    if (t->n < TRACE_CAP)
        t->v[t->n++] = v;
    else
        t->overflow = true;
}

/* What the device did to the line since the last trace_irq: the number of
 * calls and, if any, the level it left.  (Not the fake's level itself: a
 * device loaded into a fresh instance finds the fake where another
 * instance left it.) */
static inline void trace_irq(check_trace *t, fake_irq *f)
{
    int calls = f->calls - f->traced;
    f->traced = f->calls;
    trace_add(t, (uint64_t)calls);
    if (calls) trace_add(t, (uint64_t)f->level);
}

/* A probe starts here: what came before it is not its to report. */
static inline void trace_irq_begin(fake_irq *f)
{
    f->traced = f->calls;
}

typedef struct state_case {
    const panda_device_ops *ops;
    void *env;                      /* the fakes, handed to both below */
    void *(*create)(void *env);     /* a fresh device */
    void (*probe)(void *dev, void *env, check_trace *t);
} state_case;

/* The saved bytes of dev (the caller frees them). */
static inline uint8_t *state_bytes(const state_case *sc, const void *dev, size_t *len)
{
    state_writer w;
    sw_init(&w);
    sc->ops->save(dev, &w);
    CHECK(!w.failed);
    *len = w.len;
    return w.data;
}

/* Load len bytes into dev as the machine would (its own section, then
 * sr_done); true when accepted.  why: the refusal, for the caller. */
static inline bool state_load(const state_case *sc, void *dev, const uint8_t *p, size_t len,
                              uint32_t version, char *why, size_t why_len)
{
    state_reader r;
    sr_init(&r, p, len);
    sc->ops->load(dev, &r, version);
    bool ok = sr_done(&r);
    if (why) snprintf(why, why_len, "%s", r.error);
    return ok;
}

static inline bool same_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    return alen == blen && (alen == 0 || memcmp(a, b, alen) == 0);
}

/* dev saves to exactly want/want_len. */
static inline bool state_is(const state_case *sc, const void *dev, const uint8_t *want,
                            size_t want_len)
{
    size_t len;
    uint8_t *got = state_bytes(sc, dev, &len);
    bool same = same_bytes(got, len, want, want_len);
    free(got);
    return same;
}

static inline void probe_into(const state_case *sc, void *dev, check_trace *t)
{
    t->n = 0;
    t->overflow = false;
    sc->probe(dev, sc->env, t);
    CHECK(!t->overflow);
}

/* a and b answer the probe alike (both are probed: they change). */
static inline void check_same_behaviour(const state_case *sc, void *a, void *b)
{
    static check_trace ta, tb; /* too big for the stack; tests are single-threaded */
    probe_into(sc, a, &ta);
    probe_into(sc, b, &tb);
    CHECK(ta.n > 0);
    CHECK_EQ(tb.n, ta.n);
    size_t first_diff = ta.n;
    for (size_t i = 0; i < ta.n && i < tb.n; i++) {
        if (ta.v[i] != tb.v[i]) {
            first_diff = i;
            break;
        }
    }
    if (first_diff < ta.n && first_diff < tb.n)
        printf("  probe answers differ at %zu: 0x%llx vs 0x%llx\n", first_diff,
               (unsigned long long)ta.v[first_diff], (unsigned long long)tb.v[first_diff]);
    CHECK_EQ(first_diff, ta.n);
}

/* A device loaded from dev's state saves the same bytes.  For states
 * reached through the registers: the load must accept every one. */
static inline void check_state_reloads(const state_case *sc, const void *dev)
{
    size_t len;
    uint8_t *s = state_bytes(sc, dev, &len);
    void *b = sc->create(sc->env);
    char why[160];
    bool ok = state_load(sc, b, s, len, sc->ops->state_version, why, sizeof why);
    if (!ok) printf("  a reachable %s state was refused: %s\n", sc->ops->type, why);
    CHECK(ok);
    CHECK(state_is(sc, b, s, len));
    sc->ops->free(b);
    free(s);
}

/* bytes with one field patched (width bytes, little-endian, at offset) must
 * be refused with a message naming `field`, leaving the device as it was. */
static inline void check_state_refuses(const state_case *sc, const uint8_t *s, size_t len,
                                       size_t offset, unsigned width, uint64_t value,
                                       const char *field)
{
    CHECK(offset + width <= len);
    if (offset + width > len) return;
    uint8_t *bad = malloc(len);
    memcpy(bad, s, len);
    for (unsigned i = 0; i < width; i++) bad[offset + i] = (uint8_t)(value >> (8 * i));
    void *d = sc->create(sc->env);
    size_t before_len;
    uint8_t *before = state_bytes(sc, d, &before_len);
    char why[160] = "";
    bool ok = state_load(sc, d, bad, len, sc->ops->state_version, why, sizeof why);
    if (ok || !strstr(why, field))
        printf("  %s: %s = 0x%llx at %zu: %s (want a refusal naming \"%s\")\n", sc->ops->type,
               field, (unsigned long long)value, offset, ok ? "accepted" : why, field);
    CHECK(!ok);
    CHECK(strstr(why, field) != NULL);
    CHECK(state_is(sc, d, before, before_len));
    sc->ops->free(d);
    free(before);
    free(bad);
}

/*
 * Everything a device's state must pass, from dev driven into a
 * non-trivial state through its registers (dev is probed, so changes):
 * its length is want_len (the format is pinned: change it, bump the
 * version); a fresh device loading it saves the same bytes and answers the
 * probe alike; every truncation and every other version is refused and
 * leaves the device unchanged; `flips` random single-byte changes never
 * break the sanitizers and are refused (device unchanged) or accepted as a
 * state that saves back to the same bytes (nothing is silently fixed up)
 * and still answers the probe within bounds.
 */
static inline void check_state_case(const state_case *sc, void *dev, size_t want_len, int flips,
                                    uint64_t seed)
{
    size_t len;
    uint8_t *s = state_bytes(sc, dev, &len);
    CHECK_EQ(len, want_len);
    CHECK(sc->ops->state_version >= 1); /* a format that changed has a later one */
    CHECK(sc->ops->save && sc->ops->load && sc->ops->reset && sc->ops->free);
    CHECK(!sc->ops->next_deadline == !sc->ops->run_until);

    /* round trip: same bytes, same behaviour */
    void *b = sc->create(sc->env);
    CHECK(!state_is(sc, b, s, len)); /* or the test shows nothing */
    char why[160];
    CHECK(state_load(sc, b, s, len, sc->ops->state_version, why, sizeof why));
    CHECK(state_is(sc, b, s, len));
    check_same_behaviour(sc, dev, b);
    sc->ops->free(b);

    /* truncations and versions: refused, the target unchanged */
    void *t = sc->create(sc->env);
    size_t t_len;
    uint8_t *t_state = state_bytes(sc, t, &t_len);
    for (size_t n = 0; n < len; n++) {
        CHECK(!state_load(sc, t, s, n, sc->ops->state_version, why, sizeof why));
        CHECK(strstr(why, "truncated") != NULL);
        CHECK(state_is(sc, t, t_state, t_len));
    }
    const uint32_t versions[] = {0, sc->ops->state_version + 1, UINT32_MAX};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        CHECK(!state_load(sc, t, s, len, versions[i], why, sizeof why));
        CHECK(strstr(why, sc->ops->type) != NULL && strstr(why, "version") != NULL);
        CHECK(state_is(sc, t, t_state, t_len));
    }
    /* a byte past the end is the caller's to refuse (sr_done) */
    uint8_t *longer = malloc(len + 1);
    memcpy(longer, s, len);
    longer[len] = 0;
    CHECK(!state_load(sc, t, longer, len + 1, sc->ops->state_version, why, sizeof why));
    free(longer);
    sc->ops->free(t);
    free(t_state);

    /* hostile bytes */
    test_rng r = {seed | 1};
    uint8_t *bad = malloc(len);
    int refused = 0, accepted = 0;
    for (int i = 0; i < flips; i++) {
        memcpy(bad, s, len);
        bad[rng_next(&r) % len] ^= (uint8_t)(1 + rng_next(&r) % 255);
        void *d = sc->create(sc->env);
        size_t d_len;
        uint8_t *d_state = state_bytes(sc, d, &d_len);
        if (state_load(sc, d, bad, len, sc->ops->state_version, NULL, 0)) {
            accepted++;
            CHECK(state_is(sc, d, bad, len));
            static check_trace tr;
            probe_into(sc, d, &tr);
        } else {
            refused++;
            CHECK(state_is(sc, d, d_state, d_len));
        }
        free(d_state);
        sc->ops->free(d);
    }
    printf("%s: %d byte flips refused, %d accepted\n", sc->ops->type, refused, accepted);
    free(bad);
    free(s);
}

/* A storm of `steps` random guest accesses on a fresh device, one per
 * step(dev, env, x) with x random; every `every` steps the state the
 * registers led to must load back (check_state_reloads): the load's checks
 * refuse only what the device can never hold. */
static inline void check_reachable_states(const state_case *sc, int steps, int every,
                                          uint64_t seed,
                                          void (*step)(void *dev, void *env, uint64_t x))
{
    void *dev = sc->create(sc->env);
    test_rng r = {seed | 1};
    for (int i = 0; i < steps; i++) {
        step(dev, sc->env, rng_next(&r));
        if (i % every == 0) check_state_reloads(sc, dev);
    }
    check_state_reloads(sc, dev);
    sc->ops->free(dev);
}

/* reset gives dev the power-on behaviour of a device created now. */
static inline void check_reset(const state_case *sc, void *dev)
{
    sc->ops->reset(dev);
    void *fresh = sc->create(sc->env);
    check_same_behaviour(sc, dev, fresh);
    sc->ops->free(fresh);
}

#endif
