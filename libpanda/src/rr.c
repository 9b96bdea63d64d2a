/*
 * Record and replay.
 *
 * The machine is deterministic by construction (its clock is the
 * instruction count), so a recording holds only what enters from outside,
 * through the machine's input channels (internal.h: serial today).  Input
 * reaches a device only between slices, here, so each event is stamped
 * with the instruction count and virtual time at which it entered, and the
 * guest's pc then, which replay checks to detect divergence.
 *
 * On disk, with PANDA's names:
 *   NAME-rr-snp         the machine snapshot the recording starts from
 *   NAME-rr-nondet.log  header, events, end record (rr_log.h), bound to
 *                       the snapshot by its SHA-256 and sealed by one of
 *                       its own
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#include "rr_log.h"
#include "state.h"
#include "snapshot_format.h"

/* One event carries at most what a device takes between two slices. */
#define RR_MAX_FEED 64

struct panda_rr {
    char name[1024];
    /* record */
    FILE *log;
    uint64_t start_icount, events;
    uint8_t snapshot_sha256[32];
    sha256_ctx events_sha256;   /* every event byte written so far */
    /* replay */
    uint8_t *file;              /* the log's bytes, which the events point into */
    rr_log parsed;
    size_t next;                /* the next slice-boundary (serial) event */
    size_t next_disk;           /* the next disk read */
    bool diverged;              /* a disk read did not match */
    /* both: every distinct sector the disk reads carried so far, in the
     * order of first appearance (a later read names it by index) */
    uint8_t *sectors;
    size_t nsectors, sectors_cap;
    uint32_t *index;            /* record: open-addressing table of sector indices */
    size_t index_cap;
};

#define SECTOR 512u
#define SECTOR_INLINE 0
#define SECTOR_REF 1

static uint64_t vtime_of(panda_t *p)
{
    return p->mops->vtime ? p->mops->vtime(p->machine) : 0;
}

static panda_err write_event(panda_t *p, uint8_t kind, uint8_t index, const uint8_t *data, uint32_t len)
{
    panda_rr *rr = p->rr;
    uint8_t ev[RR_EV_HEADER];
    rr_log_event_header(ev, kind, index, len, uc_panda_icount(p->uc), vtime_of(p), panda_current_pc(&p->cpu));
    sha256_update(&rr->events_sha256, ev, sizeof(ev));
    sha256_update(&rr->events_sha256, data, len);
    if (fwrite(ev, 1, sizeof(ev), rr->log) != sizeof(ev) ||
        (len && fwrite(data, 1, len, rr->log) != len) || fflush(rr->log))
        return panda_set_error(p, PANDA_ERR_IO, "writing %s-rr-nondet.log: %s", rr->name, strerror(errno));
    rr->events++;
    return PANDA_OK;
}

static void paths(const char *name, char *snp, char *log, size_t n)
{
    snprintf(snp, n, "%s-rr-snp", name);
    snprintf(log, n, "%s-rr-nondet.log", name);
}

static const char *mode_name(panda_t *p)
{
    return p->rr_mode == RR_RECORD ? "recording" : "replaying";
}

static panda_err no_rr(panda_t *p, const char *what)
{
    return panda_set_error(p, PANDA_ERR_UNSUPPORTED, "%s needs the pc machine (the %s machine has no outside input)",
                           what, p->mops->name);
}

panda_err rr_record_begin(panda_t *p, const char *name)
{
    if (!p->mops->ram || !p->nchannels) return no_rr(p, "recording");
    if (p->rr_mode != RR_OFF) return panda_set_error(p, PANDA_ERR_STATE, "already %s", mode_name(p));
    char snp[1100], log[1100];
    paths(name, snp, log, sizeof(snp));
    panda_rr *rr = calloc(1, sizeof(*rr));
    if (!rr) return err_nomem(&p->err, "a recording");
    uint8_t *snap;
    size_t snap_len;
    panda_err e = snapshot_take(p, &snap, &snap_len);
    if (!e) {
        sha256(snap, snap_len, rr->snapshot_sha256);
        e = file_write_atomic(&p->err, snp, snap, snap_len);
        free(snap);
    }
    if (e) {
        free(rr);
        return e;
    }
    sha256_init(&rr->events_sha256);
    snprintf(rr->name, sizeof(rr->name), "%s", name);
    rr->log = fopen(log, "wb");
    if (!rr->log) {
        free(rr);
        return panda_set_error(p, PANDA_ERR_IO, "cannot write %s: %s", log, strerror(errno));
    }
    rr->start_icount = uc_panda_icount(p->uc);
    uint8_t h[RR_LOG_HEADER];
    rr_log_header(h, 0, panda_arch.name, rr->start_icount, 0, 0, rr->snapshot_sha256);
    if (fwrite(h, 1, RR_LOG_HEADER, rr->log) != RR_LOG_HEADER || fflush(rr->log)) {
        fclose(rr->log);
        free(rr);
        return panda_set_error(p, PANDA_ERR_IO, "cannot write %s: %s", log, strerror(errno));
    }
    p->rr_mode = RR_RECORD;
    p->rr = rr;
    return PANDA_OK;
}

panda_err rr_record_end(panda_t *p)
{
    panda_rr *rr = p->rr;
    if (p->rr_mode != RR_RECORD) return panda_set_error(p, PANDA_ERR_STATE, "not recording");
    /* the final header, then the end record sealing it and every event */
    uint8_t h[RR_LOG_HEADER], inner[32], digest[32];
    rr_log_header(h, RR_LOG_COMPLETE, panda_arch.name, rr->start_icount, uc_panda_icount(p->uc), rr->events,
                  rr->snapshot_sha256);
    sha256_ctx events = rr->events_sha256;
    uint8_t ev[RR_EV_HEADER];
    rr_log_event_header(ev, RR_EV_END, 0, 32, uc_panda_icount(p->uc), vtime_of(p), panda_current_pc(&p->cpu));
    sha256_update(&events, ev, sizeof(ev));
    sha256_final(&events, inner);
    rr_log_digest(h, inner, digest);
    panda_err e = PANDA_OK;
    if (fwrite(ev, 1, sizeof(ev), rr->log) != sizeof(ev) || fwrite(digest, 1, 32, rr->log) != 32 ||
        fflush(rr->log))
        e = panda_set_error(p, PANDA_ERR_IO, "finishing %s-rr-nondet.log: %s", rr->name, strerror(errno));
    /* the end record is on disk before the header says complete */
    if (!e && (fsync(fileno(rr->log)) || fseek(rr->log, 0, SEEK_SET) ||
               fwrite(h, 1, RR_LOG_HEADER, rr->log) != RR_LOG_HEADER || fflush(rr->log) ||
               fsync(fileno(rr->log))))
        e = panda_set_error(p, PANDA_ERR_IO, "finishing %s-rr-nondet.log: %s", rr->name, strerror(errno));
    if (fclose(rr->log) && !e)
        e = panda_set_error(p, PANDA_ERR_IO, "finishing %s-rr-nondet.log: %s", rr->name, strerror(errno));
    free(rr->sectors);
    free(rr->index);
    free(rr);
    p->rr = NULL;
    p->rr_mode = RR_OFF;
    return e;
}

static void free_replay(panda_rr *rr)
{
    free(rr->parsed.ev);
    free(rr->file);
    free(rr->sectors);
    free(rr->index);
    free(rr);
}

panda_err rr_replay_begin(panda_t *p, const char *name)
{
    if (!p->mops->ram || !p->nchannels) return no_rr(p, "replay");
    if (p->rr_mode != RR_OFF) return panda_set_error(p, PANDA_ERR_STATE, "already %s", mode_name(p));
    char snp[1100], log[1100];
    paths(name, snp, log, sizeof(snp));
    if (access(snp, R_OK) || access(log, R_OK))
        return panda_set_error(p, PANDA_ERR_RECORDING, "no recording named '%s' (%s and %s must both exist)",
                               name, snp, log);
    panda_rr *rr = calloc(1, sizeof(*rr));
    if (!rr) return err_nomem(&p->err, "a replay");
    snprintf(rr->name, sizeof(rr->name), "%s", name);
    size_t len, snap_len;
    uint8_t *snap = NULL, digest[32];
    panda_err e = file_read_all(&p->err, PANDA_ERR_RECORDING, "recording log", log, RR_LOG_MAX_FILE, &rr->file, &len);
    if (!e) e = rr_log_parse(&p->err, log, rr->file, len, panda_arch.name, PANDA_INPUT_KINDS, &rr->parsed);
    if (!e) e = file_read_all(&p->err, PANDA_ERR_RECORDING, "recording snapshot", snp, SNAP_MAX_FILE, &snap, &snap_len);
    if (!e) {
        /* the snapshot must be the one this log was recorded from */
        sha256(snap, snap_len, digest);
        if (memcmp(digest, rr->parsed.snapshot_sha256, 32))
            e = panda_set_error(p, PANDA_ERR_RECORDING, "%s: %s is not the snapshot this recording started from "
                                "(its SHA-256 differs)", log, snp);
    }
    if (!e) e = snapshot_restore(p, snap, snap_len, snp);
    free(snap);
    if (!e && uc_panda_icount(p->uc) != rr->parsed.start)
        e = panda_set_error(p, PANDA_ERR_RECORDING, "%s: it does not belong to this snapshot (instruction counts differ)", log);
    if (e) {
        free_replay(rr);
        return e;
    }
    p->rr_mode = RR_REPLAY;
    p->rr = rr;
    return PANDA_OK;
}

void rr_replay_end(panda_t *p)
{
    if (p->rr_mode != RR_REPLAY) return;
    free_replay(p->rr);
    p->rr = NULL;
    p->rr_mode = RR_OFF;
}

/* The slice-boundary cursor passes over disk reads, which the device
 * takes itself (the end record is never passed). */
static rr_event *next_boundary_event(panda_rr *rr)
{
    while (rr->parsed.ev[rr->next].kind == PANDA_INPUT_DISK) rr->next++;
    return &rr->parsed.ev[rr->next];
}

/* Instructions the next slice may run before the next event (replay). */
uint64_t rr_budget(panda_t *p, uint64_t budget)
{
    if (p->rr_mode != RR_REPLAY) return budget;
    panda_rr *rr = p->rr;
    next_boundary_event(rr);
    uint64_t now = uc_panda_icount(p->uc), at = rr->parsed.ev[rr->next].icount;
    uint64_t left = at > now ? at - now : 0;
    if (left == 0) return budget; /* the event waits on time, not instructions */
    return left < budget ? left : budget;
}

panda_err panda_add_channel(panda_t *p, panda_input_channel *ch)
{
    if (p->nchannels == PANDA_MAX_CHANNELS)
        return panda_set_error(p, PANDA_ERR_ENGINE, "at most %d input channels", PANDA_MAX_CHANNELS);
    p->channels[p->nchannels++] = ch;
    return PANDA_OK;
}

static panda_input_channel *channel_of(panda_t *p, uint8_t kind, uint8_t index)
{
    for (size_t i = 0; i < p->nchannels; i++)
        if (p->channels[i]->kind == kind && p->channels[i]->index == index) return p->channels[i];
    return NULL;
}

/* The next event, if it is due now: RR_FED after delivering it, RR_NONE,
 * RR_DONE, or RR_DIVERGED (the error says where). */
static rr_feed_result replay_step(panda_t *p)
{
    panda_rr *rr = p->rr;
    rr_event *ev = next_boundary_event(rr);
    uint64_t icount = uc_panda_icount(p->uc), vtime = vtime_of(p);
    if (icount < ev->icount || (icount == ev->icount && vtime < ev->vtime)) return RR_NONE;
    uint64_t pc = panda_current_pc(&p->cpu);
    if (icount != ev->icount || vtime != ev->vtime || pc != ev->pc) {
        panda_set_error(p, PANDA_ERR_DIVERGED,
            "replay of %s diverged at instruction count %llu: the recording has pc 0x%llx at "
            "instruction %llu (virtual time %llu), the replay pc 0x%llx at %llu (virtual time %llu)",
            rr->name, (unsigned long long)ev->icount, (unsigned long long)ev->pc,
            (unsigned long long)ev->icount, (unsigned long long)ev->vtime, (unsigned long long)pc,
            (unsigned long long)icount, (unsigned long long)vtime);
        return RR_DIVERGED;
    }
    if (ev->kind == RR_EV_END) {
        /* every disk read the recording holds must have been asked for */
        for (size_t i = rr->next_disk; i < rr->parsed.nev; i++)
            if (rr->parsed.ev[i].kind == PANDA_INPUT_DISK) {
                panda_set_error(p, PANDA_ERR_DIVERGED,
                    "replay of %s diverged: at its end the guest has not made the disk read recorded "
                    "at instruction count %llu", rr->name, (unsigned long long)rr->parsed.ev[i].icount);
                return RR_DIVERGED;
            }
        return RR_DONE;
    }
    panda_input_channel *ch = channel_of(p, ev->kind, ev->index);
    if (!ch) {
        panda_set_error(p, PANDA_ERR_RECORDING, "%s: input of kind %u for channel %u, which this machine lacks",
                        rr->name, ev->kind, ev->index);
        return RR_DIVERGED;
    }
    if (ev->len > RR_MAX_FEED) {
        panda_set_error(p, PANDA_ERR_RECORDING, "%s: an input event of %u bytes (at most %d are taken at once)",
                        rr->name, ev->len, RR_MAX_FEED);
        return RR_DIVERGED;
    }
    if (ch->deliver(ch->dev, ev->data, ev->len) != ev->len) {
        panda_set_error(p, PANDA_ERR_DIVERGED,
            "replay diverged at instruction count %llu: %s has no room for the recorded input",
            (unsigned long long)icount, ch->name);
        return RR_DIVERGED;
    }
    rr->next++;
    return RR_FED;
}

rr_feed_result rr_feed(panda_t *p)
{
    rr_feed_result r, any = RR_NONE;
    while ((r = replay_step(p)) == RR_FED) any = RR_FED;
    return r == RR_NONE ? any : r;
}

/* Live: each channel takes what fits now (at most one FIFO's worth, so
 * every byte's instruction count is exact), recorded when recording. */
void rr_pump_live(panda_t *p)
{
    for (size_t i = 0; i < p->nchannels; i++) {
        panda_input_channel *ch = p->channels[i];
        uint8_t buf[16];
        size_t room = ch->room(ch->dev);
        if (room == 0) continue;
        if (room > sizeof(buf)) room = sizeof(buf);
        size_t n = console_take_input(ch->source, buf, room);
        if (!n) continue;
        /* a write error leaves the recording without its end record:
         * it then loads as incomplete, never as something else */
        if (p->rr_mode == RR_RECORD) write_event(p, ch->kind, ch->index, buf, (uint32_t)n);
        ch->deliver(ch->dev, buf, n);
    }
}

bool rr_live_input_pending(panda_t *p)
{
    for (size_t i = 0; i < p->nchannels; i++)
        if (console_has_input(p->channels[i]->source)) return true;
    return false;
}

void rr_wait_live_input(panda_t *p, int ms)
{
    /* every channel's source is the console today */
    if (p->nchannels) console_wait_input(p->channels[0]->source, ms);
}

/* Has the replay an event due at this instruction count, waiting only on
 * virtual time (the guest is idle)? */
bool rr_event_due_at(panda_t *p, uint64_t icount, uint64_t *vtime)
{
    if (p->rr_mode != RR_REPLAY) return false;
    rr_event *ev = next_boundary_event(p->rr);
    *vtime = ev->vtime;
    return ev->icount == icount;
}

panda_err rr_input_record(panda_t *p, uint8_t kind, uint8_t index, const uint8_t *data, uint32_t len)
{
    if (p->rr_mode != RR_RECORD) return PANDA_OK;
    if (len > RR_MAX_FEED) return panda_set_error(p, PANDA_ERR_ARG, "an input event of %u bytes", len);
    return write_event(p, kind, index, data, len);
}

/* ---- disk reads ------------------------------------------------------------ */

static uint64_t sector_hash(const uint8_t *s)
{
    uint64_t h = 1469598103934665603ull;   /* FNV-1a: a table key, not integrity */
    for (unsigned i = 0; i < SECTOR; i++) h = (h ^ s[i]) * 1099511628211ull;
    return h;
}

static bool keep_sector(panda_rr *rr, const uint8_t *data)
{
    if (rr->nsectors == rr->sectors_cap) {
        size_t cap = rr->sectors_cap ? rr->sectors_cap * 2 : 1024;
        uint8_t *v = realloc(rr->sectors, cap * SECTOR);
        if (!v) return false;
        rr->sectors = v;
        rr->sectors_cap = cap;
    }
    memcpy(rr->sectors + rr->nsectors * SECTOR, data, SECTOR);
    rr->nsectors++;
    return true;
}

/* Record: the index of a sector with this content, or -1 after keeping it
 * as a new one (or on no memory: then it is logged inline again). */
static int64_t known_sector(panda_rr *rr, const uint8_t *data)
{
    if (rr->nsectors * 2 >= rr->index_cap) {
        size_t cap = rr->index_cap ? rr->index_cap * 2 : 4096;
        uint32_t *t = malloc(cap * sizeof(*t));
        if (!t) return -1;
        memset(t, 0xff, cap * sizeof(*t));
        for (size_t i = 0; i < rr->nsectors; i++) {
            size_t h = sector_hash(rr->sectors + i * SECTOR) & (cap - 1);
            while (t[h] != UINT32_MAX) h = (h + 1) & (cap - 1);
            t[h] = (uint32_t)i;
        }
        free(rr->index);
        rr->index = t;
        rr->index_cap = cap;
    }
    size_t h = sector_hash(data) & (rr->index_cap - 1);
    for (; rr->index[h] != UINT32_MAX; h = (h + 1) & (rr->index_cap - 1))
        if (!memcmp(rr->sectors + (size_t)rr->index[h] * SECTOR, data, SECTOR)) return rr->index[h];
    if (rr->nsectors < UINT32_MAX && keep_sector(rr, data)) rr->index[h] = (uint32_t)(rr->nsectors - 1);
    return -1;
}

void rr_disk_record(panda_t *p, uint8_t drive, uint64_t sector, const uint8_t *buf, uint32_t count)
{
    if (p->rr_mode != RR_RECORD || !count) return;
    panda_rr *rr = p->rr;
    state_writer w;
    sw_init(&w);
    sw_u64(&w, sector);
    sw_u32(&w, count);
    for (uint32_t i = 0; i < count; i++) {
        int64_t known = known_sector(rr, buf + (size_t)i * SECTOR);
        if (known >= 0) {
            sw_u8(&w, SECTOR_REF);
            sw_u32(&w, (uint32_t)known);
        } else {
            sw_u8(&w, SECTOR_INLINE);
            sw_bytes(&w, buf + (size_t)i * SECTOR, SECTOR);
        }
    }
    /* a failure leaves the log without its end record: incomplete, never wrong */
    if (!w.failed && w.len <= UINT32_MAX) write_event(p, PANDA_INPUT_DISK, drive, w.data, (uint32_t)w.len);
    sw_free(&w);
}

static int disk_diverged(panda_t *p, const char *fmt, unsigned long long a, unsigned long long b)
{
    panda_rr *rr = p->rr;
    char what[200];
    snprintf(what, sizeof(what), fmt, a, b);
    panda_set_error(p, PANDA_ERR_DIVERGED, "replay of %s diverged at instruction count %llu: %s", rr->name,
                    (unsigned long long)uc_panda_icount(p->uc), what);
    rr->diverged = true;
    panda_stop(p);
    return -1;
}

int rr_disk_replay(panda_t *p, uint8_t drive, uint64_t sector, uint8_t *buf, uint32_t count)
{
    panda_rr *rr = p->rr;
    if (rr->diverged) return -1;
    while (rr->parsed.ev[rr->next_disk].kind != PANDA_INPUT_DISK && rr->parsed.ev[rr->next_disk].kind != RR_EV_END)
        rr->next_disk++;
    rr_event *ev = &rr->parsed.ev[rr->next_disk];
    if (ev->kind == RR_EV_END)
        return disk_diverged(p, "the guest reads sector %llu of drive %llu, and the recording has no more disk reads",
                             sector, drive);
    if (ev->icount != uc_panda_icount(p->uc) || ev->index != drive)
        return disk_diverged(p, "the recording's next disk read is at instruction count %llu (drive %llu)",
                             ev->icount, ev->index);
    state_reader r;
    sr_init(&r, ev->data, ev->len);
    uint64_t at = sr_u64(&r);
    uint32_t n = sr_u32(&r);
    if (r.failed || at != sector || n != count)
        return disk_diverged(p, "the recording read sector %llu there, the guest asks for sector %llu", at, sector);
    for (uint32_t i = 0; i < count; i++) {
        uint8_t *dst = buf + (size_t)i * SECTOR;
        uint8_t tag = sr_u8(&r);
        if (tag == SECTOR_INLINE) {
            sr_bytes(&r, dst, SECTOR);
            if (!r.failed && !keep_sector(rr, dst))
                return disk_diverged(p, "out of memory for the recording's sector %llu of read %llu", i,
                                     (unsigned long long)rr->next_disk);
        } else {
            uint32_t k = sr_u32(&r);
            if (r.failed || tag != SECTOR_REF || k >= rr->nsectors)
                return disk_diverged(p, "the recording's disk read %llu is corrupt (sector entry %llu)",
                                     (unsigned long long)rr->next_disk, i);
            memcpy(dst, rr->sectors + (size_t)k * SECTOR, SECTOR);
        }
    }
    if (r.failed || r.pos != r.len)
        return disk_diverged(p, "the recording's disk read %llu is corrupt (%llu bytes)",
                             (unsigned long long)rr->next_disk, ev->len);
    rr->next_disk++;
    return 0;
}

bool rr_diverged(panda_t *p) { return p->rr_mode == RR_REPLAY && p->rr->diverged; }

double rr_progress(panda_t *p)
{
    if (p->rr_mode != RR_REPLAY) return -1;
    panda_rr *rr = p->rr;
    uint64_t start = rr->parsed.start, end = rr->parsed.end;
    uint64_t now = uc_panda_icount(p->uc);
    return end > start ? (double)(now - start) / (double)(end - start) : 1.0;
}

PANDA_EXPORT void panda_replay_end(panda_t *p)
{
    if (!p || p->rr_mode != RR_REPLAY) return;
    if (p->running) {
        p->replay_abandoned = true;   /* the run loop ends the replay */
        panda_stop(p);
    } else {
        rr_replay_end(p);
    }
}

PANDA_EXPORT int panda_rr_mode(panda_t *p) { return p ? p->rr_mode : RR_OFF; }

PANDA_EXPORT double panda_replay_progress(panda_t *p) { return p ? rr_progress(p) : -1; }
