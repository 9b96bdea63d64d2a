/*
 * libFuzzer harness: the recording-log parser (rr_log_parse).
 *
 * Input: a mode byte (odd: the rest is sealed with a correct end-record
 * digest first, fuzz_formats.h; bit 1 set: the known event kinds are
 * 1..(mode >> 2) - 1 instead of the pc machine's three), then
 * the log.  Checked when the parser accepts: the header's event count plus
 * the end record, laid end to end from the header to the end of the file,
 * every payload inside it, kinds known, instruction counts never going
 * back and ending where the header says, after its start.  When it
 * refuses: it says why and hands back no events.
 */
#include "fuzz_formats.h"

/* PANDA_INPUT_KINDS (internal.h): serial input (1), disk reads (2), disc
 * changes (3) */
#define PC_INPUT_KINDS 4

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void check(const uint8_t *d, size_t len, uint8_t mode)
{
    uint8_t max_kind = mode & 2 ? (uint8_t)(mode >> 2) : PC_INPUT_KINDS;
    rr_log log;
    panda_errbuf e = {{0}};
    panda_err err = rr_log_parse(&e, "fuzz", d, len, "i386", max_kind, &log);
    if (err) {
        FUZZ_ASSERT(e.msg[0], "rr_log_parse failed with %d and no message", (int)err);
        FUZZ_ASSERT(!log.ev && !log.nev, "a refused log kept %zu events", log.nev);
        return;
    }
    FUZZ_ASSERT(len >= RR_LOG_HEADER + RR_EV_HEADER + 32, "accepted %zu bytes", len);
    FUZZ_ASSERT(log.nev == le64(d + 56) + 1, "%zu events for a header count of %llu", log.nev,
                (unsigned long long)le64(d + 56));
    FUZZ_ASSERT(log.start == le64(d + 40) && log.end == le64(d + 48) &&
                !memcmp(log.snapshot_sha256, d + 64, 32), "the header read back differently");
    FUZZ_ASSERT(log.start <= log.end, "it ends before it starts");
    const uint8_t *at = d + RR_LOG_HEADER;
    for (size_t i = 0; i < log.nev; i++) {
        const rr_event *ev = &log.ev[i];
        bool last = i == log.nev - 1;
        FUZZ_ASSERT(ev->data == at + RR_EV_HEADER && ev->len <= (size_t)(d + len - ev->data),
                    "event %zu is not where the one before ended, or runs past the file", i);
        FUZZ_ASSERT(last ? ev->kind == RR_EV_END && ev->len == 32
                         : ev->kind != 0 && ev->kind < max_kind,
                    "event %zu has kind %u, length %u", i, ev->kind, ev->len);
        FUZZ_ASSERT(!i || ev->icount >= log.ev[i - 1].icount, "event %zu goes back in time", i);
        at = ev->data + ev->len;
    }
    FUZZ_ASSERT(at == d + len, "bytes after the end record were accepted");
    FUZZ_ASSERT(log.ev[log.nev - 1].icount == log.end, "the end record is not at the end");
    free(log.ev);
}

FUZZ_FORMAT_TARGET(fuzz_seal_rr_log, check)
