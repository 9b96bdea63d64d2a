/*
 * What the libFuzzer harnesses share (scripts/fuzz.sh builds and runs them;
 * fuzz_seeds.c writes their seed corpus with the encoders at the end).
 *
 * A device harness reads its input as a small program for two instances of
 * the device, the "twins", given the same operations: guest port accesses at
 * any offset and of any size, moves of a fake virtual clock, the machine's
 * deadline loop, saving and loading state (its own, hostile bytes, its own
 * with bytes patched), reset and device-specific calls.  A round trip
 * replaces the second twin by a fresh device loaded from the first one's
 * state, so from then on any field save forgets shows as the twins
 * answering differently.  Checked after every step: both twins answer and
 * drive their wiring alike; a read of size < 4 fits in its size; a loaded
 * state that was accepted saves back to the bytes it was read from, a
 * refused one leaves the device as it was, and neither calls the wiring
 * (device.h); a timer's next deadline after catching up to now lies after
 * now (else the machine's run loop would spin).  A broken check abort()s, which libFuzzer
 * reports as a crash with the input that caused it.
 *
 * This file lives in a tests/ folder so that the library build and its
 * header dependencies ignore it.
 */
#ifndef PANDA_DEVICES_TESTS_FUZZ_HARNESS_H
#define PANDA_DEVICES_TESTS_FUZZ_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "state.h"
#include "testing/check.h"

static inline void fuzz_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

static inline void fuzz_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: fuzz invariant broken: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort(); /* libFuzzer keeps the input as a crash */
}

#define FUZZ_ASSERT(cond, ...)                                                     \
    do {                                                                           \
        if (!(cond)) fuzz_fail(__FILE__, __LINE__, __VA_ARGS__);                   \
    } while (0)

/* ---- reading the input: past its end every read gives 0 ---- */

typedef struct fuzz_in {
    const uint8_t *p;
    size_t n;
} fuzz_in;

static inline uint8_t fi_u8(fuzz_in *in)
{
    if (!in->n) return 0;
    in->n--;
    return *in->p++;
}

static inline uint16_t fi_u16(fuzz_in *in)
{
    uint16_t lo = fi_u8(in);
    return (uint16_t)(lo | fi_u8(in) << 8);
}

static inline uint32_t fi_u32(fuzz_in *in)
{
    uint32_t lo = fi_u16(in);
    return lo | (uint32_t)fi_u16(in) << 16;
}

static inline uint64_t fi_u64(fuzz_in *in)
{
    uint64_t lo = fi_u32(in);
    return lo | (uint64_t)fi_u32(in) << 32;
}

/* Up to want bytes of the input (fewer at its end), in place. */
static inline const uint8_t *fi_take(fuzz_in *in, size_t want, size_t *got)
{
    const uint8_t *p = in->p;
    *got = want < in->n ? want : in->n;
    in->p += *got;
    in->n -= *got;
    return p;
}

/* Offsets: mostly within or just past a device's ports; 0xF0-0xFE the top
 * of the 32-bit range (where offset + i wraps); 0xFF any u32. */
static inline uint32_t fi_offset(fuzz_in *in)
{
    uint8_t o = fi_u8(in);
    if (o < 0xF0) return o % 32u;
    if (o < 0xFF) return UINT32_MAX - (uint32_t)(o - 0xF0);
    return fi_u32(in);
}

/* Sizes: mostly 1, 2 and 4, some 3; 0xF0-0xFE sizes 0-14; 0xFF any u32. */
static const unsigned fuzz_sizes[8] = {1, 1, 2, 4, 1, 2, 4, 3};

static inline unsigned fi_size(fuzz_in *in)
{
    uint8_t s = fi_u8(in);
    if (s < 0xF0) return fuzz_sizes[s % 8];
    if (s < 0xFF) return (unsigned)(s - 0xF0);
    return fi_u32(in);
}

static inline uint32_t size_mask(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : (uint32_t)((1u << (8 * size)) - 1u);
}

/* ---- the device twins ---- */

/* Everything a device reaches outside itself, one per twin. */
typedef struct fuzz_wiring {
    fake_irq irq;
    uint64_t hook_calls; /* callbacks the device made (UART hooks, reset) */
    uint64_t hook_sum;   /* what they carried, mixed */
} fuzz_wiring;

static inline void fuzz_hook(fuzz_wiring *w, uint64_t what)
{
    w->hook_calls++;
    w->hook_sum = (w->hook_sum ^ what) * 0x100000001b3ull;
}

static inline bool same_wiring(const fuzz_wiring *a, const fuzz_wiring *b)
{
    return a->irq.level == b->irq.level && a->irq.calls == b->irq.calls &&
           a->irq.changes == b->irq.changes && a->irq.line == b->irq.line &&
           a->hook_calls == b->hook_calls && a->hook_sum == b->hook_sum;
}

/* Fixed per run, read from the input's first 12 bytes: what a machine
 * gives a device at creation (the RTC's start time and memory size, a
 * UART's base port). */
typedef struct fuzz_config {
    uint64_t a;
    uint32_t b;
} fuzz_config;

#define FUZZ_MAX_REGIONS 4

typedef struct fuzz_device {
    const panda_device_ops *ops;
    void *(*create)(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg);
    size_t nregions;                                   /* 1..FUZZ_MAX_REGIONS */
    bus_device (*region)(void *dev, size_t i);
    /* a device-specific call with 8 argument bytes; its answer must be the
     * same for both twins (may be NULL) */
    uint64_t (*extra)(void *dev, fuzz_wiring *w, const uint8_t arg[8]);
    /* after every step (may be NULL) */
    void (*check)(void *dev, const fuzz_wiring *w);
    /* after a state was accepted, what the machine does (may be NULL) */
    void (*loaded)(void *dev, fuzz_wiring *w);
} fuzz_device;

/* The operations, the first byte of each step modulo FOP_COUNT.  The
 * layout of each is in fuzz_device_run; fuzz_seeds.c writes them with the
 * seed_* encoders below. */
enum {
    FOP_READ, FOP_WRITE, FOP_TIME, FOP_DEADLINE, FOP_ROUNDTRIP, FOP_LOAD_BYTES,
    FOP_LOAD_PATCHED, FOP_RESET, FOP_EXTRA, FOP_COUNT
};

/* The device's saved bytes (malloc'd; the caller frees them). */
static inline uint8_t *fuzz_save(const fuzz_device *fd, const void *dev, size_t *len)
{
    state_writer w;
    sw_init(&w);
    fd->ops->save(dev, &w);
    FUZZ_ASSERT(!w.failed, "%s: save ran out of memory", fd->ops->type);
    *len = w.len;
    return w.data;
}

/* Load as the machine does (the device's own section, then sr_done) and
 * check the outcome; true when accepted.  A device judges only the bytes it
 * reads: one that accepts them commits, and bytes left after them are the
 * caller's to refuse (snapshot.c then puts every device back). */
static inline bool fuzz_load(const fuzz_device *fd, void *dev, fuzz_wiring *w, const uint8_t *p,
                             size_t len, uint32_t version)
{
    size_t before_len;
    uint8_t *before = fuzz_save(fd, dev, &before_len);
    fuzz_wiring wire_before = *w;
    state_reader r;
    sr_init(&r, p, len);
    fd->ops->load(dev, &r, version);
    bool committed = !r.failed;
    size_t used = r.pos;
    bool ok = sr_done(&r);
    FUZZ_ASSERT(ok || r.error[0], "%s: a state was refused without a reason", fd->ops->type);
    FUZZ_ASSERT(same_wiring(w, &wire_before), "%s: load called the wiring (device.h says it "
                "calls nothing)", fd->ops->type);
    size_t after_len;
    uint8_t *after = fuzz_save(fd, dev, &after_len);
    if (committed)
        FUZZ_ASSERT(same_bytes(after, after_len, p, used), "%s: an accepted state saves back "
                    "to other bytes (%zu, not the %zu it read)", fd->ops->type, after_len, used);
    else
        FUZZ_ASSERT(same_bytes(after, after_len, before, before_len), "%s: a refused state "
                    "changed the device (%s)", fd->ops->type, r.error);
    free(before);
    free(after);
    if (committed && fd->loaded) fd->loaded(dev, w);
    return ok;
}

static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
    /* the clock never reaches PANDA_VTIME_NEVER, the "no deadline" mark */
    return a >= PANDA_VTIME_NEVER - 1 - b ? PANDA_VTIME_NEVER - 1 : a + b;
}

/* A deadline after catching up to now must lie after now. */
static inline void fuzz_check_deadline(const fuzz_device *fd, void *dev, panda_vtime now)
{
    panda_vtime next = fd->ops->next_deadline(dev);
    FUZZ_ASSERT(next > now, "%s: next deadline %llu is not after now %llu, where run_until "
                "left it", fd->ops->type, (unsigned long long)next, (unsigned long long)now);
}

static inline int fuzz_device_run(const fuzz_device *fd, const uint8_t *data, size_t size)
{
    const panda_device_ops *ops = fd->ops;
    fuzz_in in = {data, size};
    fuzz_config cfg;
    cfg.a = fi_u64(&in);
    cfg.b = fi_u32(&in);
    fake_clock clock = {0};
    fuzz_wiring wire[2];
    memset(wire, 0, sizeof wire);
    void *dev[2];
    for (int i = 0; i < 2; i++) {
        dev[i] = fd->create(&clock, &wire[i], &cfg);
        FUZZ_ASSERT(dev[i], "%s: create failed", ops->type);
    }
    while (in.n) {
        uint8_t op = fi_u8(&in) % FOP_COUNT;
        switch (op) {
        case FOP_READ:
        case FOP_WRITE: { /* u8 region, offset (fi_offset), size (fi_size), write: u32 value */
            size_t region = fi_u8(&in) % fd->nregions;
            uint32_t offset = fi_offset(&in);
            unsigned sz = fi_size(&in);
            uint32_t value = op == FOP_WRITE ? fi_u32(&in) : 0;
            uint32_t got[2] = {0, 0};
            for (int i = 0; i < 2; i++) {
                bus_device d = fd->region(dev[i], region);
                if (op == FOP_WRITE) {
                    d.write(d.opaque, offset, value, sz);
                    continue;
                }
                got[i] = d.read(d.opaque, offset, sz);
                FUZZ_ASSERT(sz >= 4 || got[i] <= size_mask(sz), "%s: %s read of size %u at "
                            "offset %u gave 0x%x, wider than its size", ops->type, d.name, sz,
                            offset, got[i]);
            }
            FUZZ_ASSERT(got[0] == got[1], "%s: twins read 0x%x and 0x%x at region %zu offset "
                        "%u size %u", ops->type, got[0], got[1], region, offset, sz);
            break;
        }
        case FOP_TIME: { /* u8 (bit 7: catch up; bits 0-6: shift), u32 delta */
            uint8_t how = fi_u8(&in);
            uint64_t delta = fi_u32(&in);
            unsigned shift = (how & 0x7F) % 48;
            clock.t = sat_add(clock.t, delta << shift);
            if ((how & 0x80) && ops->run_until) {
                for (int i = 0; i < 2; i++) {
                    ops->run_until(dev[i], clock.t);
                    fuzz_check_deadline(fd, dev[i], clock.t);
                }
            }
            break;
        }
        case FOP_DEADLINE: /* the machine's loop: run to the next deadline */
            if (!ops->next_deadline) break;
            {
                panda_vtime next[2] = {ops->next_deadline(dev[0]), ops->next_deadline(dev[1])};
                FUZZ_ASSERT(next[0] == next[1], "%s: twins' deadlines %llu and %llu", ops->type,
                            (unsigned long long)next[0], (unsigned long long)next[1]);
                if (next[0] != PANDA_VTIME_NEVER && next[0] > clock.t)
                    clock.t = next[0] < PANDA_VTIME_NEVER - 1 ? next[0] : PANDA_VTIME_NEVER - 1;
                for (int i = 0; i < 2; i++) {
                    ops->run_until(dev[i], clock.t);
                    fuzz_check_deadline(fd, dev[i], clock.t);
                }
            }
            break;
        case FOP_ROUNDTRIP: { /* twin 1 := a fresh device loaded with twin 0's state */
            size_t len;
            uint8_t *s = fuzz_save(fd, dev[0], &len);
            void *fresh = fd->create(&clock, &wire[1], &cfg);
            FUZZ_ASSERT(fresh, "%s: create failed", ops->type);
            wire[1] = wire[0]; /* the lines are where twin 0 left them */
            bool ok = fuzz_load(fd, fresh, &wire[1], s, len, ops->state_version);
            FUZZ_ASSERT(ok, "%s: a state the device saved was refused", ops->type);
            free(s);
            ops->free(dev[1]);
            dev[1] = fresh;
            break;
        }
        case FOP_LOAD_BYTES:   /* u16 length (mod 1024), the bytes, version (below) */
        case FOP_LOAD_PATCHED: { /* u8 patches (1-4), each u16 position, u8 xor */
            uint8_t *s;
            size_t len;
            if (op == FOP_LOAD_BYTES) {
                size_t want = fi_u16(&in) % 1024u;
                const uint8_t *p = fi_take(&in, want, &len);
                s = malloc(len ? len : 1); /* its own block: ASan sees reads past it */
                FUZZ_ASSERT(s, "out of memory");
                if (len) memcpy(s, p, len);
            } else {
                s = fuzz_save(fd, dev[0], &len);
                unsigned n = fi_u8(&in) % 4u + 1;
                for (unsigned i = 0; i < n && len; i++) {
                    size_t at = fi_u16(&in) % len;
                    s[at] ^= fi_u8(&in);
                }
            }
            /* version: < 0xF0 the device's own, 0xF0-0xFE 0-14, 0xFF any u32 */
            uint8_t v = fi_u8(&in);
            uint32_t version = v < 0xF0 ? ops->state_version : v < 0xFF ? v - 0xF0u : fi_u32(&in);
            bool ok0 = fuzz_load(fd, dev[0], &wire[0], s, len, version);
            bool ok1 = fuzz_load(fd, dev[1], &wire[1], s, len, version);
            FUZZ_ASSERT(ok0 == ok1, "%s: one twin accepted a state the other refused", ops->type);
            free(s);
            break;
        }
        case FOP_RESET:
            for (int i = 0; i < 2; i++) ops->reset(dev[i]);
            break;
        case FOP_EXTRA: { /* 8 argument bytes */
            uint8_t arg[8];
            for (int i = 0; i < 8; i++) arg[i] = fi_u8(&in);
            if (!fd->extra) break;
            uint64_t a = fd->extra(dev[0], &wire[0], arg), b = fd->extra(dev[1], &wire[1], arg);
            FUZZ_ASSERT(a == b, "%s: twins answered a call with 0x%llx and 0x%llx", ops->type,
                        (unsigned long long)a, (unsigned long long)b);
            break;
        }
        }
        FUZZ_ASSERT(same_wiring(&wire[0], &wire[1]), "%s: twins drove their wiring differently "
                    "(irq level %d/%d, %d/%d calls; %llu/%llu callbacks) after operation %u",
                    ops->type, wire[0].irq.level, wire[1].irq.level, wire[0].irq.calls,
                    wire[1].irq.calls, (unsigned long long)wire[0].hook_calls,
                    (unsigned long long)wire[1].hook_calls, op);
        if (fd->check)
            for (int i = 0; i < 2; i++) fd->check(dev[i], &wire[i]);
    }
    size_t l0, l1;
    uint8_t *s0 = fuzz_save(fd, dev[0], &l0), *s1 = fuzz_save(fd, dev[1], &l1);
    FUZZ_ASSERT(same_bytes(s0, l0, s1, l1), "%s: the twins end in different states", ops->type);
    free(s0);
    free(s1);
    for (int i = 0; i < 2; i++) ops->free(dev[i]);
    return 0;
}

/* A device harness's entry point: LLVMFuzzerTestOneInput runs fd. */
#define FUZZ_DEVICE_TARGET(fd)                                                     \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                   \
    {                                                                              \
        return fuzz_device_run(&(fd), data, size);                                 \
    }

/* The fake wiring's callbacks, for the devices that take them. */
static inline panda_vtime fuzz_now(void *clock)
{
    return fake_now(clock);
}

static inline irq_line fuzz_irq(fuzz_wiring *w, int line)
{
    return fake_irq_line(&w->irq, line);
}

/* The bus harness's operations (fuzz_bus.c has their layouts). */
enum {
    BUS_IO_ADD, BUS_IO_READ, BUS_IO_WRITE, BUS_MMIO_ADD, BUS_MMIO_READ, BUS_MMIO_WRITE,
    BUS_PCI_ADD, BUS_PCI_READ, BUS_PCI_WRITE, BUS_OPS
};

/* ---- writing inputs (fuzz_seeds.c): the same layout, into a buffer ---- */

static inline void seed_config(state_writer *s, uint64_t a, uint32_t b)
{
    sw_u64(s, a);
    sw_u32(s, b);
}

/* size: 1, 2, 3 or 4 (as fi_size decodes them) */
static inline uint8_t seed_size_code(unsigned size)
{
    for (uint8_t i = 0; i < 8; i++)
        if (fuzz_sizes[i] == size) return i;
    return (uint8_t)(0xF0 + size); /* 0-14 */
}

static inline void seed_access(state_writer *s, bool write, uint8_t region, uint8_t offset,
                               unsigned size, uint32_t value)
{
    sw_u8(s, write ? FOP_WRITE : FOP_READ);
    sw_u8(s, region);
    sw_u8(s, offset); /* < 0xF0: itself */
    sw_u8(s, seed_size_code(size));
    if (write) sw_u32(s, value);
}

static inline void seed_time(state_writer *s, uint32_t ns, bool catch_up)
{
    sw_u8(s, FOP_TIME);
    sw_u8(s, catch_up ? 0x80 : 0);
    sw_u32(s, ns);
}

static inline void seed_op(state_writer *s, uint8_t op)
{
    sw_u8(s, op);
}

static inline void seed_load_bytes(state_writer *s, const uint8_t *state, size_t len)
{
    sw_u8(s, FOP_LOAD_BYTES);
    sw_u16(s, (uint16_t)len);
    sw_bytes(s, state, len);
    sw_u8(s, 0); /* the device's own version */
}

static inline void seed_extra(state_writer *s, const uint8_t arg[8])
{
    sw_u8(s, FOP_EXTRA);
    sw_bytes(s, arg, 8);
}

#endif
