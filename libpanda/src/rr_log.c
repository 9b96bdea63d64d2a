/* The recording log format (rr_log.h): the file is hostile. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rr_log.h"
#include "state.h"

void rr_log_header(uint8_t h[RR_LOG_HEADER], uint32_t flags, const char *arch, uint64_t start,
                   uint64_t end, uint64_t events, const uint8_t snapshot_sha256[32])
{
    state_writer w;
    sw_init(&w);
    char a[16] = {0};
    snprintf(a, sizeof(a), "%s", arch);
    sw_bytes(&w, RR_LOG_MAGIC, 16);
    sw_u32(&w, RR_LOG_VERSION);
    sw_u32(&w, flags);
    sw_bytes(&w, a, 16);
    sw_u64(&w, start);
    sw_u64(&w, end);
    sw_u64(&w, events);
    sw_bytes(&w, snapshot_sha256, 32);
    memset(h, 0, RR_LOG_HEADER);
    if (!w.failed) memcpy(h, w.data, w.len);
    sw_free(&w);
}

void rr_log_event_header(uint8_t ev[RR_EV_HEADER], uint8_t kind, uint8_t index, uint32_t len,
                         uint64_t icount, uint64_t vtime, uint64_t pc)
{
    memset(ev, 0, RR_EV_HEADER);
    ev[0] = kind;
    ev[1] = index;
    for (int i = 0; i < 4; i++) ev[4 + i] = (uint8_t)(len >> (8 * i));
    for (int i = 0; i < 8; i++) {
        ev[8 + i] = (uint8_t)(icount >> (8 * i));
        ev[16 + i] = (uint8_t)(vtime >> (8 * i));
        ev[24 + i] = (uint8_t)(pc >> (8 * i));
    }
}

void rr_log_digest(const uint8_t header[RR_LOG_HEADER], const uint8_t events_sha256[32], uint8_t out[32])
{
    sha256_ctx c;
    sha256_init(&c);
    sha256_update(&c, header, RR_LOG_HEADER);
    sha256_update(&c, events_sha256, 32);
    sha256_final(&c, out);
}

static panda_err bad(panda_errbuf *e, const char *what, const char *why)
{
    return err_set(e, PANDA_ERR_RECORDING, "%s: %s", what, why);
}

panda_err rr_log_parse(panda_errbuf *e, const char *what, const uint8_t *d, size_t len, const char *arch,
                       uint8_t max_kind, rr_log *out)
{
    memset(out, 0, sizeof(*out));
    state_reader r;
    sr_init(&r, d, len);
    uint8_t magic[16];
    sr_bytes(&r, magic, 16);
    if (r.failed || memcmp(magic, RR_LOG_MAGIC, 16)) return bad(e, what, "not a pypanda recording log");
    uint32_t version = sr_u32(&r), flags = sr_u32(&r);
    if (r.failed || version != RR_LOG_VERSION)
        return err_set(e, PANDA_ERR_RECORDING, "%s: log format %u; this pypanda reads %u", what, version,
                       RR_LOG_VERSION);
    char a[17] = {0};
    sr_bytes(&r, a, 16);
    out->start = sr_u64(&r);
    out->end = sr_u64(&r);
    uint64_t events = sr_u64(&r);
    sr_bytes(&r, out->snapshot_sha256, 32);
    if (r.failed) return bad(e, what, "truncated header");
    if (strcmp(a, arch))
        return err_set(e, PANDA_ERR_RECORDING, "%s: a recording of an %s guest, not %s", what, a, arch);
    if (!(flags & RR_LOG_COMPLETE))
        return bad(e, what, "the recording is incomplete (the recorder stopped before end_record)");
    if (flags != RR_LOG_COMPLETE) return bad(e, what, "corrupt: unknown header flags");
    /* the integrity digest, before any event is believed */
    if (len < RR_LOG_HEADER + RR_EV_HEADER + 32) return bad(e, what, "truncated: no end record");
    uint8_t inner[32], want[32];
    sha256(d + RR_LOG_HEADER, len - RR_LOG_HEADER - 32, inner);
    rr_log_digest(d, inner, want);
    if (memcmp(want, d + len - 32, 32)) return bad(e, what, "corrupt or truncated (its SHA-256 digest does not match)");
    /* every event takes at least 32 bytes of the file: a count the file
     * cannot hold is refused before anything is allocated for it */
    if (events > (len - RR_LOG_HEADER) / RR_EV_HEADER || events + 1 > SIZE_MAX / sizeof(rr_event))
        return bad(e, what, "corrupt: its header counts more events than the file holds");
    out->ev = calloc((size_t)events + 1, sizeof(rr_event));
    if (!out->ev) return err_nomem(e, "a recording's events");
    size_t off = RR_LOG_HEADER;
    panda_err err = PANDA_OK;
    for (uint64_t i = 0; i <= events && !err; i++) {
        state_reader h;
        sr_init(&h, d + off, len - off);
        rr_event *ev = &out->ev[out->nev];
        ev->kind = sr_u8(&h);
        ev->index = sr_u8(&h);
        sr_u16(&h);
        ev->len = sr_u32(&h);
        ev->icount = sr_u64(&h);
        ev->vtime = sr_u64(&h);
        ev->pc = sr_u64(&h);
        if (h.failed) {
            err = bad(e, what, "truncated: fewer events than its header says");
            break;
        }
        off += RR_EV_HEADER;
        if (ev->len > len - off) {
            err = bad(e, what, "truncated in the middle of an event");
            break;
        }
        ev->data = d + off;
        off += ev->len;
        out->nev++;
        bool last = i == events;
        if ((ev->kind == RR_EV_END) != last || (ev->kind != RR_EV_END && (ev->kind == 0 || ev->kind >= max_kind)) ||
            (i && ev->icount < out->ev[i - 1].icount) || (last && ev->len != 32))
            err = bad(e, what, "corrupt: events out of order or of unknown kind");
    }
    if (!err && off != len) err = bad(e, what, "corrupt: bytes after the end record");
    if (!err && out->ev[out->nev - 1].icount != out->end)
        err = bad(e, what, "corrupt: the end record disagrees with the header");
    if (!err && out->start > out->end) err = bad(e, what, "corrupt: it ends before it starts");
    if (err) {
        free(out->ev);
        out->ev = NULL;
        out->nev = 0;
    }
    return err;
}
