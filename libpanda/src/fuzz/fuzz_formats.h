/*
 * What the file-format harnesses (fuzz_snapshot.c, fuzz_rr_log.c) and the
 * seed generator (fuzz_seeds.c) share: the machine a snapshot is checked
 * against, and the digests that seal the two formats.
 *
 * Both parsers check a SHA-256 digest before anything else, so fuzzed bytes
 * would almost never get past it.  The harnesses therefore seal half of
 * their inputs (those whose first byte is odd) with a correct digest
 * computed over the fuzzed bytes, the same way the writers do, and hand the
 * other half over as they are: the integrity check is fuzzed, and so is
 * everything behind it.  Nothing in the parsers is built differently for
 * fuzzing.
 */
#ifndef LIBPANDA_FUZZ_FORMATS_H
#define LIBPANDA_FUZZ_FORMATS_H

#include "tests/fuzz_harness.h"

#include "legacy/i8042.h"
#include "legacy/mc146818.h"
#include "legacy/pic8259.h"
#include "legacy/pit8254.h"
#include "legacy/port80.h"
#include "legacy/uart16550.h"
#include "pci/pci_absent.h"
#include "rr_log.h"
#include "snapshot_format.h"

/* ---- the machine a snapshot must match: the pc machine's devices, in its
 * order (machine_pc.c), with a small RAM and a made-up CPU state size (the
 * real one is the engine's, which these harnesses do not link) ---- */

#define FUZZ_RAM_SIZE (1u << 20)
#define FUZZ_CPU_LEN 64u
#define FUZZ_RTC_START 1767225600 /* 2026-01-01T00:00:00Z, the pc default */

typedef struct fuzz_pc_device {
    const char *name;
    const panda_device_ops *ops;
    void *(*create)(fake_clock *clock, fuzz_wiring *w);
} fuzz_pc_device;

static inline void *fuzz_pc_pic(fake_clock *c, fuzz_wiring *w)
{
    (void)c;
    return pic8259_new(fuzz_irq(w, 0));
}

static inline void *fuzz_pc_pit(fake_clock *c, fuzz_wiring *w)
{
    return pit8254_new(fuzz_irq(w, 0), fuzz_now, c);
}

static inline void *fuzz_pc_rtc(fake_clock *c, fuzz_wiring *w)
{
    return mc146818_new(fuzz_irq(w, 8), fuzz_now, c, FUZZ_RTC_START,
                        (FUZZ_RAM_SIZE >> 10) - 1024);
}

static inline void *fuzz_pc_uart(fake_clock *c, fuzz_wiring *w)
{
    (void)c;
    return uart16550_new(fuzz_irq(w, 4), 0x3f8, (uart16550_hooks){0});
}

static inline void *fuzz_pc_kbc(fake_clock *c, fuzz_wiring *w)
{
    (void)c;
    return i8042_new(fuzz_irq(w, 1), NULL, NULL);
}

static inline void *fuzz_pc_pci(fake_clock *c, fuzz_wiring *w)
{
    (void)c;
    (void)w;
    return pci_absent_new();
}

static inline void *fuzz_pc_port80(fake_clock *c, fuzz_wiring *w)
{
    (void)c;
    (void)w;
    return port80_new();
}

static const fuzz_pc_device fuzz_pc_devices[] = {
    {"pic", &pic8259_ops, fuzz_pc_pic},   {"pit", &pit8254_ops, fuzz_pc_pit},
    {"rtc", &mc146818_ops, fuzz_pc_rtc},  {"com1", &uart16550_ops, fuzz_pc_uart},
    {"kbc", &i8042_ops, fuzz_pc_kbc},     {"pci", &pci_absent_ops, fuzz_pc_pci},
    {"port80", &port80_ops, fuzz_pc_port80},
};
#define FUZZ_PC_NDEV (sizeof fuzz_pc_devices / sizeof fuzz_pc_devices[0])

static inline snap_expect fuzz_pc_expect(void)
{
    snap_expect x = {.arch = "i386", .machine = "pc", .ram_size = FUZZ_RAM_SIZE,
                     .cpu_len = FUZZ_CPU_LEN, .ndev = FUZZ_PC_NDEV};
    for (size_t i = 0; i < FUZZ_PC_NDEV; i++) {
        x.dev_name[i] = fuzz_pc_devices[i].name;
        x.dev_type[i] = fuzz_pc_devices[i].ops->type;
        x.dev_version[i] = fuzz_pc_devices[i].ops->state_version;
    }
    return x;
}

/* ---- sealing ---- */

/* The end marker over the last 48 bytes of a snapshot: tag, 0, length 32,
 * SHA-256 of everything before it (snapshot.c). */
static inline void fuzz_seal_snapshot(uint8_t *d, size_t len)
{
    if (len < 48) return;
    uint8_t *end = d + len - 48;
    const uint32_t tag = TAG_END;
    for (int i = 0; i < 4; i++) {
        end[i] = (uint8_t)(tag >> (8 * i));
        end[4 + i] = 0;
    }
    memset(end + 8, 0, 8);
    end[8] = 32;
    sha256(d, len - 48, end + 16);
}

/* The end record's payload, the last 32 bytes: SHA-256(header ||
 * SHA-256(the bytes from the first event to the payload)) (rr_log.h). */
static inline void fuzz_seal_rr_log(uint8_t *d, size_t len)
{
    if (len < RR_LOG_HEADER + 32) return;
    uint8_t inner[32];
    sha256(d + RR_LOG_HEADER, len - RR_LOG_HEADER - 32, inner);
    rr_log_digest(d, inner, d + len - 32);
}

/* A format harness's entry point: check(d, len, mode) gets the input
 * after its mode byte, in a block of its own (so ASan sees any read past
 * it), sealed by seal when the mode byte is odd. */
#define FUZZ_FORMAT_TARGET(seal, check)                                            \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);                  \
    int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)                   \
    {                                                                              \
        if (!size) return 0;                                                       \
        size_t len = size - 1;                                                     \
        uint8_t *d = malloc(len ? len : 1);                                        \
        FUZZ_ASSERT(d, "out of memory");                                           \
        if (len) memcpy(d, data + 1, len);                                         \
        if (data[0] & 1) seal(d, len);                                             \
        check(d, len, data[0]);                                                    \
        free(d);                                                                   \
        return 0;                                                                  \
    }

#endif
