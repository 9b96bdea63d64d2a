/*
 * libFuzzer harness: the snapshot parser (snapshot_parse) against the pc
 * machine of fuzz_formats.h, then each device section it located loaded
 * into a fresh device, as snapshot.c does.
 *
 * Input: a mode byte (odd: the rest is sealed with a correct digest first,
 * fuzz_formats.h), then the snapshot.  Checked when the parser accepts:
 * every section it located lies inside the file between the header and the
 * end marker, has the size the machine wants, the devices are the
 * machine's, in its order, at its versions, and every device state the
 * device accepts saves back to the same bytes (fuzz_harness.h, fuzz_load).
 * When it refuses: it says why.
 */
#include "fuzz_formats.h"

static bool inside(const uint8_t *d, size_t len, const uint8_t *p, size_t n)
{
    const uint8_t *lo = d + SNAP_HEADER_SIZE, *hi = d + len - 48;
    return p >= lo && p <= hi && n <= (size_t)(hi - p);
}

static void check(const uint8_t *d, size_t len, uint8_t mode)
{
    (void)mode;
    snap_expect x = fuzz_pc_expect();
    snap_parts s;
    panda_errbuf e = {{0}};
    panda_err err = snapshot_parse(&e, "fuzz", d, len, &x, &s);
    if (err) {
        FUZZ_ASSERT(err == PANDA_ERR_SNAPSHOT && e.msg[0], "snapshot_parse failed with %d "
                    "and no message", (int)err);
        return;
    }
    FUZZ_ASSERT(len >= SNAP_HEADER_SIZE + 48, "accepted %zu bytes, shorter than a header and "
                "an end marker", len);
    FUZZ_ASSERT(inside(d, len, s.cpu, s.cpu_len) && s.cpu_len == FUZZ_CPU_LEN,
                "the CPU section is outside the file or of the wrong size");
    FUZZ_ASSERT(inside(d, len, s.clock, s.clock_len), "the clock section is outside the file");
    size_t pages = FUZZ_RAM_SIZE / SNAP_PAGE, map_len = (pages + 7) / 8, nonzero = 0;
    FUZZ_ASSERT(inside(d, len, s.ram, s.ram_len) && s.ram_len >= map_len,
                "the RAM section is outside the file or shorter than its page map");
    for (size_t i = 0; i < pages; i++) nonzero += s.ram[i / 8] >> (i % 8) & 1;
    FUZZ_ASSERT(s.ram_len == map_len + nonzero * SNAP_PAGE, "the RAM section holds %zu bytes "
                "for %zu pages", s.ram_len, nonzero);
    FUZZ_ASSERT(s.ndev == FUZZ_PC_NDEV, "%zu devices accepted, the machine has %zu", s.ndev,
                FUZZ_PC_NDEV);
    fake_clock clock = {0};
    for (size_t i = 0; i < s.ndev; i++) {
        const fuzz_pc_device *pd = &fuzz_pc_devices[i];
        FUZZ_ASSERT(!strcmp(s.dev[i].name, pd->name) && s.dev[i].version ==
                    pd->ops->state_version, "device %zu is '%s' version %u", i, s.dev[i].name,
                    s.dev[i].version);
        FUZZ_ASSERT(inside(d, len, s.dev[i].data, s.dev[i].len), "device '%s' lies outside "
                    "the file", pd->name);
        fuzz_wiring w = {0};
        fuzz_device fd = {.ops = pd->ops};
        void *dev = pd->create(&clock, &w);
        FUZZ_ASSERT(dev, "%s: create failed", pd->name);
        fuzz_load(&fd, dev, &w, s.dev[i].data, s.dev[i].len, s.dev[i].version);
        pd->ops->free(dev);
    }
}

FUZZ_FORMAT_TARGET(fuzz_seal_snapshot, check)
