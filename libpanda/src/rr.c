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
 *   NAME-rr-nondet.log  header, events, end record
 * Log header (64 bytes, little-endian): magic "PYPANDA-RR-LOG\0\0" (16),
 * u32 version, u32 flags (1 = complete), char arch[16], u64 start icount,
 * u64 end icount, u64 event count.  It is written first with flags 0 and
 * rewritten when the recording ends, after the end record is on disk: a
 * recorder killed midway leaves a log that says it is incomplete.
 * Event: u8 kind, u8 channel index, u8 pad[2], u32 length, u64 icount,
 * u64 vtime, u64 pc, then length payload bytes.  Kinds: the channel kinds
 * (1 serial input), 0xff end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define LOG_MAGIC "PYPANDA-RR-LOG\0\0"
#define LOG_VERSION 1
#define LOG_HEADER 64
#define EV_END 0xff
/* One event carries at most what a device takes between two slices. */
#define RR_MAX_FEED 64
#define LOG_MAX_FILE (16ull << 30)
#define FLAG_COMPLETE 1u

typedef struct rr_event {
    uint8_t kind, index;
    uint32_t len;
    uint64_t icount, vtime, pc;
    uint8_t *data;
} rr_event;

struct panda_rr {
    char name[1024];
    /* record */
    FILE *log;
    uint64_t start_icount, events;
    /* replay */
    uint64_t replay_start;
    rr_event *ev;
    size_t nev, next;         /* the last event is the end record */
};

static void header(uint8_t h[LOG_HEADER], uint32_t flags, uint64_t start, uint64_t end,
                   uint64_t events)
{
    memset(h, 0, LOG_HEADER);
    memcpy(h, LOG_MAGIC, 16);
    uint32_t v = LOG_VERSION;
    memcpy(h + 16, &v, 4);
    memcpy(h + 20, &flags, 4);
    snprintf((char *)h + 24, 16, "%s", panda_arch.name);
    memcpy(h + 40, &start, 8);
    memcpy(h + 48, &end, 8);
    memcpy(h + 56, &events, 8);
}

static uint64_t vtime_of(panda_t *p)
{
    return p->mops->vtime ? p->mops->vtime(p->machine) : 0;
}

static panda_err write_event(panda_t *p, uint8_t kind, uint8_t index, const uint8_t *data, uint32_t len)
{
    panda_rr *rr = p->rr;
    uint8_t ev[32] = {kind, index};
    uint64_t icount = uc_panda_icount(p->uc), vtime = vtime_of(p), pc = panda_current_pc(&p->cpu);
    memcpy(ev + 4, &len, 4);
    memcpy(ev + 8, &icount, 8);
    memcpy(ev + 16, &vtime, 8);
    memcpy(ev + 24, &pc, 8);
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
    panda_err e = snapshot_save_file(p, snp);
    if (e) return e;
    panda_rr *rr = calloc(1, sizeof(*rr));
    if (!rr) return err_nomem(&p->err, "a recording");
    snprintf(rr->name, sizeof(rr->name), "%s", name);
    rr->log = fopen(log, "wb");
    if (!rr->log) {
        free(rr);
        return panda_set_error(p, PANDA_ERR_IO, "cannot write %s: %s", log, strerror(errno));
    }
    rr->start_icount = uc_panda_icount(p->uc);
    uint8_t h[LOG_HEADER];
    header(h, 0, rr->start_icount, 0, 0);
    if (fwrite(h, 1, LOG_HEADER, rr->log) != LOG_HEADER || fflush(rr->log)) {
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
    uint64_t inputs = rr->events; /* the header counts inputs, not the end record */
    panda_err e = write_event(p, EV_END, 0, NULL, 0);
    uint8_t h[LOG_HEADER];
    header(h, FLAG_COMPLETE, rr->start_icount, uc_panda_icount(p->uc), inputs);
    /* the end record is on disk before the header says complete */
    if (!e && (fsync(fileno(rr->log)) || fseek(rr->log, 0, SEEK_SET) ||
               fwrite(h, 1, LOG_HEADER, rr->log) != LOG_HEADER || fflush(rr->log) ||
               fsync(fileno(rr->log))))
        e = panda_set_error(p, PANDA_ERR_IO, "finishing %s-rr-nondet.log: %s", rr->name, strerror(errno));
    if (fclose(rr->log) && !e)
        e = panda_set_error(p, PANDA_ERR_IO, "finishing %s-rr-nondet.log: %s", rr->name, strerror(errno));
    free(rr);
    p->rr = NULL;
    p->rr_mode = RR_OFF;
    return e;
}

static panda_err bad_log(panda_t *p, const char *log, const char *why)
{
    return panda_set_error(p, PANDA_ERR_RECORDING, "%s: %s", log, why);
}

static void free_events(panda_rr *rr)
{
    for (size_t i = 0; i < rr->nev; i++) free(rr->ev[i].data);
    free(rr->ev);
}

static panda_err load_log(panda_t *p, const char *log, panda_rr *rr, uint64_t *start)
{
    uint8_t *d;
    size_t len;
    panda_err e = file_read_all(&p->err, PANDA_ERR_RECORDING, "recording log", log, LOG_MAX_FILE, &d, &len);
    if (e) return e;
    if (len < LOG_HEADER || memcmp(d, LOG_MAGIC, 16)) {
        free(d);
        return bad_log(p, log, "not a pypanda recording log");
    }
    uint32_t version, flags;
    uint64_t end, events;
    memcpy(&version, d + 16, 4);
    memcpy(&flags, d + 20, 4);
    memcpy(start, d + 40, 8);
    memcpy(&end, d + 48, 8);
    memcpy(&events, d + 56, 8);
    if (version != LOG_VERSION) {
        free(d);
        return panda_set_error(p, PANDA_ERR_RECORDING, "%s: log format %u; this pypanda reads %u", log,
                               version, LOG_VERSION);
    }
    if (strncmp((const char *)d + 24, panda_arch.name, 16)) {
        panda_err r = panda_set_error(p, PANDA_ERR_RECORDING, "%s: a recording of an %.16s guest, not %s",
                                      log, (const char *)d + 24, panda_arch.name);
        free(d);
        return r;
    }
    if (!(flags & FLAG_COMPLETE)) {
        free(d);
        return bad_log(p, log, "the recording is incomplete (the recorder stopped before end_record)");
    }
    size_t off = LOG_HEADER;
    /* every event takes at least 32 bytes of the file: a header count the
     * file cannot hold is refused before anything is allocated for it */
    if (events > (len - LOG_HEADER) / 32 || events + 1 > SIZE_MAX / sizeof(rr_event)) {
        free(d);
        return bad_log(p, log, "corrupt: its header counts more events than the file holds");
    }
    rr->ev = calloc(events + 1, sizeof(rr_event));
    if (!rr->ev) {
        free(d);
        return err_nomem(&p->err, "a recording's events");
    }
    for (uint64_t i = 0; i <= events; i++) {
        if (len - off < 32) {
            free(d);
            return bad_log(p, log, "truncated: fewer events than its header says");
        }
        rr_event *ev = &rr->ev[rr->nev++];
        ev->kind = d[off];
        ev->index = d[off + 1];
        memcpy(&ev->len, d + off + 4, 4);
        memcpy(&ev->icount, d + off + 8, 8);
        memcpy(&ev->vtime, d + off + 16, 8);
        memcpy(&ev->pc, d + off + 24, 8);
        off += 32;
        if (ev->len > len - off) {
            free(d);
            return bad_log(p, log, "truncated in the middle of an event");
        }
        if (ev->len) {
            ev->data = malloc(ev->len);
            if (!ev->data) {
                free(d);
                return err_nomem(&p->err, "a recording's event");
            }
            memcpy(ev->data, d + off, ev->len);
            off += ev->len;
        }
        bool last = i == events;
        if ((ev->kind == EV_END) != last ||
            (ev->kind != EV_END && (ev->kind == 0 || ev->kind >= PANDA_INPUT_KINDS)) ||
            (i && ev->icount < rr->ev[i - 1].icount)) {
            free(d);
            return bad_log(p, log, "corrupt: events out of order or of unknown kind");
        }
    }
    free(d);
    if (off != len) return bad_log(p, log, "corrupt: bytes after the end record");
    if (rr->ev[rr->nev - 1].icount != end) return bad_log(p, log, "corrupt: the end record disagrees with the header");
    return PANDA_OK;
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
    uint64_t start = 0;
    panda_err e = load_log(p, log, rr, &start);
    if (!e) e = snapshot_load_file(p, snp);
    rr->replay_start = start;
    if (!e && uc_panda_icount(p->uc) != start)
        e = bad_log(p, log, "it does not belong to this snapshot (instruction counts differ)");
    if (e) {
        free_events(rr);
        free(rr);
        return e;
    }
    p->rr_mode = RR_REPLAY;
    p->rr = rr;
    return PANDA_OK;
}

void rr_replay_end(panda_t *p)
{
    if (p->rr_mode != RR_REPLAY) return;
    free_events(p->rr);
    free(p->rr);
    p->rr = NULL;
    p->rr_mode = RR_OFF;
}

/* Instructions the next slice may run before the next event (replay). */
uint64_t rr_budget(panda_t *p, uint64_t budget)
{
    if (p->rr_mode != RR_REPLAY) return budget;
    panda_rr *rr = p->rr;
    uint64_t now = uc_panda_icount(p->uc), at = rr->ev[rr->next].icount;
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
    rr_event *ev = &rr->ev[rr->next];
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
    if (ev->kind == EV_END) return RR_DONE;
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
    rr_event *ev = &p->rr->ev[p->rr->next];
    *vtime = ev->vtime;
    return ev->icount == icount;
}

double rr_progress(panda_t *p)
{
    if (p->rr_mode != RR_REPLAY) return -1;
    panda_rr *rr = p->rr;
    uint64_t start = rr->replay_start, end = rr->ev[rr->nev - 1].icount;
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
