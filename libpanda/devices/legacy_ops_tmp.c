/* TEMPORARY: device records over the old memcpy snapshots, until the
 * devices export their own panda_device_ops. */
#include <stdlib.h>

#include "device.h"
#include "i8042.h"
#include "mc146818.h"
#include "pci_absent.h"
#include "pic8259.h"
#include "pit8254.h"
#include "port80.h"
#include "uart16550.h"

#define TMP_OPS(t, ...)                                                          \
    static void t##_tmp_save(const void *dev, state_writer *w)                  \
    {                                                                               \
        size_t n = t##_state_size();                                             \
        uint8_t *b = malloc(n);                                                     \
        if (!b) { w->failed = true; return; }                                       \
        t##_state_save(dev, b);                                                  \
        sw_bytes(w, b, n);                                                          \
        free(b);                                                                    \
    }                                                                               \
    static void t##_tmp_load(void *dev, state_reader *r, uint32_t version)      \
    {                                                                               \
        (void)version;                                                              \
        size_t n = t##_state_size();                                             \
        uint8_t *b = malloc(n);                                                     \
        if (!b) { sr_fail(r, "out of memory"); return; }                            \
        sr_bytes(r, b, n);                                                          \
        if (!r->failed) t##_state_load(dev, b);                                  \
        free(b);                                                                    \
    }                                                                               \
    static void t##_tmp_free(void *dev) { t##_free(dev); }                    \
    const panda_device_ops t##_ops = {.type = #t, .state_version = 1,         \
        .save = t##_tmp_save, .load = t##_tmp_load, .free = t##_tmp_free,  \
        __VA_ARGS__};

static panda_vtime pit_deadline(void *d) { return pit8254_next_deadline(d); }
static void pit_run(void *d, panda_vtime t) { pit8254_run_until(d, t); }
static panda_vtime rtc_deadline(void *d) { return mc146818_next_deadline(d); }
static void rtc_run(void *d, panda_vtime t) { mc146818_run_until(d, t); }

TMP_OPS(pic8259)
TMP_OPS(pit8254, .next_deadline = pit_deadline, .run_until = pit_run)
TMP_OPS(mc146818, .next_deadline = rtc_deadline, .run_until = rtc_run)
TMP_OPS(uart16550)
TMP_OPS(i8042)
TMP_OPS(pci_absent)
TMP_OPS(port80)
