/*
 * A tiny check harness for the device tests: CHECK(cond) and
 * CHECK_EQ(actual, expected) count and report failures; check_done()
 * prints "N passed, M failed" as the last line and gives the exit status.
 * Also a fake virtual clock and a fake IRQ line that records its changes.
 */
#ifndef PANDA_DEVICES_TESTING_CHECK_H
#define PANDA_DEVICES_TESTING_CHECK_H

#include <stdint.h>
#include <stdio.h>

#include "bus.h"

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

#endif
