/*
 * ATAPI CD-ROM commands (atapi.h).  Every field of a packet comes from
 * the guest: allocation lengths only ever shorten a reply built in a
 * fixed buffer, and an LBA range is checked against the disc before the
 * carrier reads anything.
 */
#include "storage/atapi.h"

#include <string.h>

#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_MEDIUM_CHANGED 0x28
#define ASC_SAVING_UNSUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT 0x3a
#define ASC_REMOVAL_PREVENTED 0x53
#define ASC_UNRECOVERED_READ 0x11

#define CD_MAX_BLOCKS (80u * 60u * 75u) /* above: a DVD (QEMU's rule) */
#define PROFILE_CDROM 0x0008
#define PROFILE_DVDROM 0x0010

static void put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v);
}

static uint32_t get16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t get32(const uint8_t *p) { return get16(p) << 16 | get16(p + 2); }

/* SCSI strings: space padded, not terminated */
static void put_text(uint8_t *p, size_t n, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i < len ? s[i] : ' ');
}

static bool disc_ready(const atapi_state *s) { return s->media && !s->tray_open; }

static void sense(atapi_state *s, uint8_t key, uint8_t asc, uint8_t ascq)
{
    s->sense_key = key;
    s->asc = asc;
    s->ascq = ascq;
}

static void fail(atapi_state *s, atapi_reply *r, uint8_t key, uint8_t asc, uint8_t ascq)
{
    sense(s, key, asc, ascq);
    r->ok = false;
    r->len = 0;
    r->read = false;
}

/* NOT READY: no disc (tray closed) or the tray open */
static void not_ready(atapi_state *s, atapi_reply *r)
{
    fail(s, r, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, s->tray_open ? 0x02 : 0x01);
}

static void ok(atapi_state *s, atapi_reply *r, uint32_t len, uint32_t alloc)
{
    sense(s, SENSE_NONE, 0, 0);
    r->ok = true;
    r->len = len < alloc ? len : alloc;
}

void atapi_reset(atapi_state *s, bool power_on)
{
    sense(s, SENSE_NONE, 0, 0);
    if (!power_on) return;
    s->locked = false;
    s->tray_open = false;
    s->event = ATAPI_EV_NONE;
    s->unit_attention = false;
}

static uint32_t lba_capped(uint64_t v) { return v > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)v; }

/* LBA as minute/second/frame, with the 2-second lead-in (MMC) */
static void put_msf(uint8_t *p, uint64_t lba)
{
    uint64_t f = lba + 150;
    p[0] = 0;
    p[1] = (uint8_t)(f / (60 * 75) > 255 ? 255 : f / (60 * 75));
    p[2] = (uint8_t)((f / 75) % 60);
    p[3] = (uint8_t)(f % 75);
}

static void put_addr(uint8_t *p, uint64_t lba, bool msf)
{
    if (msf)
        put_msf(p, lba);
    else
        put32(p, lba_capped(lba));
}

/* READ TOC format 0 (tracks: one data track and the lead-out) or 1
 * (sessions: one); returns the length, 0 for a field it refuses */
static uint32_t read_toc(const atapi_state *s, const uint8_t *cdb, uint8_t *buf)
{
    bool msf = cdb[1] & 0x02;
    unsigned format = cdb[2] & 0x0F, track = cdb[6];
    if (format == 0 && cdb[9] >> 6) format = cdb[9] >> 6; /* the old (SFF-8020) place */
    uint8_t *p = buf + 4;
    if (format == 0) {
        if (track > 1 && track != 0xAA) return 0;
        if (track <= 1) {
            p[0] = 0;
            p[1] = 0x14;  /* ADR 1 (position), control 4 (data track) */
            p[2] = 1;
            p[3] = 0;
            put_addr(p + 4, 0, msf);
            p += 8;
        }
        p[0] = 0;
        p[1] = 0x14;
        p[2] = 0xAA;      /* the lead-out */
        p[3] = 0;
        put_addr(p + 4, s->nblocks, msf);
        p += 8;
    } else if (format == 1) {
        memset(p, 0, 8);
        p[1] = 0x14;
        p[2] = 1;
        put_addr(p + 4, 0, msf);
        p += 8;
    } else {
        return 0;
    }
    uint32_t len = (uint32_t)(p - buf);
    put16(buf, len - 2);
    buf[2] = 1; /* first track (session) */
    buf[3] = 1; /* last */
    return len;
}

static uint32_t mode_page(const atapi_state *s, unsigned page, uint8_t *p)
{
    if (page == 0x01) { /* read error recovery */
        memset(p, 0, 8);
        p[0] = 0x01;
        p[1] = 6;
        p[3] = 5; /* read retry count */
        return 8;
    }
    /* 0x2a: capabilities and mechanical status */
    memset(p, 0, 20);
    p[0] = 0x2a;
    p[1] = 18;
    p[4] = 0x71;                                 /* audio play, composite, digital ports, multisession */
    p[5] = 0x60;                                 /* CD-DA commands, accurate stream */
    p[6] = (uint8_t)(0x29 | (s->locked ? 0x02 : 0)); /* tray loader, eject, lock (and its state) */
    put16(p + 8, 706);                           /* max read speed, kB/s (4x) */
    put16(p + 10, 2);                            /* volume levels */
    put16(p + 12, 512);                          /* buffer, KiB */
    put16(p + 14, 706);                          /* current read speed */
    return 20;
}

static uint32_t mode_sense(atapi_state *s, const uint8_t *cdb, uint8_t *buf, atapi_reply *r)
{
    unsigned pc = cdb[2] >> 6, page = cdb[2] & 0x3F;
    if (pc == 3) {
        fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_SAVING_UNSUPPORTED, 0);
        return 0;
    }
    if (page != 0x01 && page != 0x2a && page != 0x3f) {
        fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
        return 0;
    }
    memset(buf, 0, 8);
    uint32_t len = 8;
    if (page == 0x01 || page == 0x3f) len += mode_page(s, 0x01, buf + len);
    if (page == 0x2a || page == 0x3f) len += mode_page(s, 0x2a, buf + len);
    put16(buf, len - 2);
    buf[2] = 0x70; /* medium type: as QEMU */
    return len;
}

static uint32_t get_configuration(const atapi_state *s, const uint8_t *cdb, uint8_t *buf)
{
    unsigned rt = cdb[1] & 3, start = get16(cdb + 2);
    bool dvd = disc_ready(s) && s->nblocks > CD_MAX_BLOCKS;
    uint16_t current = !disc_ready(s) ? 0 : dvd ? PROFILE_DVDROM : PROFILE_CDROM;
    uint8_t *p = buf + 8;
    memset(buf, 0, ATAPI_REPLY_MAX);
    /* feature 0: the profile list, DVD-ROM and CD-ROM */
    if ((rt == 2 && start == 0) || (rt != 2 && start == 0)) {
        p[2] = 0x03; /* persistent, current */
        p[3] = 8;
        put16(p + 4, PROFILE_DVDROM);
        p[6] = current == PROFILE_DVDROM;
        put16(p + 8, PROFILE_CDROM);
        p[10] = current == PROFILE_CDROM;
        p += 12;
    }
    /* feature 1: core (ATAPI interface) */
    if ((rt == 2 && start == 1) || (rt != 2 && start <= 1)) {
        put16(p, 1);
        p[2] = 0x0b; /* version 2, persistent, current */
        p[3] = 8;
        put32(p + 4, 2);
        p[8] = 1;    /* device busy event */
        p += 12;
    }
    /* feature 2: morphing (asynchronous operational change events) */
    if ((rt == 2 && start == 2) || (rt != 2 && start <= 2)) {
        put16(p, 2);
        p[2] = 0x07;
        p[3] = 4;
        p[4] = 0x02;
        p += 8;
    }
    uint32_t len = (uint32_t)(p - buf);
    put32(buf, len - 4);
    put16(buf + 6, current);
    return len;
}

static uint32_t event_status(atapi_state *s, const uint8_t *cdb, uint8_t *buf)
{
    memset(buf, 0, 8);
    if (!(cdb[4] & 0x10)) { /* no class we support was asked for */
        put16(buf, 2);
        buf[2] = 0x80;      /* no event available */
        buf[3] = 0x10;      /* supported: media */
        return 4;
    }
    put16(buf, 6);
    buf[2] = 0x04;          /* media class */
    buf[3] = 0x10;
    buf[4] = s->event;
    buf[5] = (uint8_t)((s->tray_open ? 0x01 : 0) | (disc_ready(s) ? 0x02 : 0));
    s->event = ATAPI_EV_NONE; /* reported */
    return 8;
}

/* Commands that run while a disc change is unreported (the rest fail
 * with it) and those that need no disc. */
static bool allows_ua(uint8_t op) { return op == 0x03 || op == 0x12 || op == 0x4A; }

static bool needs_disc(uint8_t op)
{
    switch (op) {
    case 0x00: case 0x25: case 0x28: case 0x2B: case 0x43: case 0x51: case 0xA8:
        return true;
    default:
        return false;
    }
}

static void read_cmd(atapi_state *s, uint64_t lba, uint32_t n, atapi_reply *r)
{
    if (lba > s->nblocks || n > s->nblocks - lba) {
        fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    ok(s, r, 0, 0);
    r->read = n > 0;
    r->lba = lba;
    r->nblocks = n;
}

void atapi_command(atapi_state *s, const uint8_t cdb[ATAPI_CDB_LEN], uint8_t *buf, atapi_reply *r)
{
    uint8_t op = cdb[0];
    memset(r, 0, sizeof *r);
    if (s->unit_attention && !allows_ua(op)) {
        s->unit_attention = false; /* reported once */
        fail(s, r, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        return;
    }
    if (needs_disc(op) && !disc_ready(s)) {
        not_ready(s, r);
        return;
    }
    uint32_t len;
    switch (op) {
    case 0x00: /* TEST UNIT READY */
    case 0x2B: /* SEEK(10) */
    case 0xBB: /* SET CD SPEED */
        ok(s, r, 0, 0);
        return;
    case 0x03: { /* REQUEST SENSE: the last command's, a disc change's, or none */
        memset(buf, 0, 18);
        buf[0] = 0x70;
        if (s->unit_attention) {
            s->unit_attention = false;
            sense(s, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
        }
        buf[2] = s->sense_key;
        buf[7] = 10;
        buf[12] = s->asc;
        buf[13] = s->ascq;
        uint32_t alloc = cdb[4];
        r->ok = true;
        r->len = alloc < 18 ? alloc : 18;
        if (s->sense_key == SENSE_UNIT_ATTENTION) sense(s, SENSE_NONE, 0, 0);
        return;
    }
    case 0x12: /* INQUIRY */
        if (cdb[1] & 1) { /* vital product data: none */
            fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            return;
        }
        memset(buf, 0, 36);
        buf[0] = 0x05;  /* CD/DVD device */
        buf[1] = 0x80;  /* removable */
        buf[3] = 0x21;  /* ATAPI, response format 1 (QEMU's) */
        buf[4] = 31;
        put_text(buf + 8, 8, "QEMU");
        put_text(buf + 16, 16, "QEMU DVD-ROM");
        put_text(buf + 32, 4, "2.5+");
        ok(s, r, 36, get16(cdb + 3));
        return;
    case 0x1B: { /* START STOP UNIT */
        bool start = cdb[4] & 1, loej = cdb[4] & 2;
        if (loej && !start) {
            if (s->locked) {
                fail(s, r, SENSE_NOT_READY, ASC_REMOVAL_PREVENTED, 0x02);
                return;
            }
            s->tray_open = true;
        } else if (loej && start && s->tray_open) {
            s->tray_open = false;
            if (s->media) s->event = ATAPI_EV_NEW_MEDIA;
        }
        ok(s, r, 0, 0);
        return;
    }
    case 0x1E: /* PREVENT ALLOW MEDIUM REMOVAL */
        s->locked = cdb[4] & 1;
        ok(s, r, 0, 0);
        return;
    case 0x25: /* READ CAPACITY(10): the last block and the block size */
        put32(buf, lba_capped(s->nblocks ? s->nblocks - 1 : 0));
        put32(buf + 4, ATAPI_BLOCK);
        ok(s, r, 8, 8);
        return;
    case 0x28: /* READ(10) */
        read_cmd(s, get32(cdb + 2), get16(cdb + 7), r);
        return;
    case 0xA8: /* READ(12) */
        read_cmd(s, get32(cdb + 2), get32(cdb + 6), r);
        return;
    case 0x43: /* READ TOC */
        len = read_toc(s, cdb, buf);
        if (!len)
            fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
        else
            ok(s, r, len, get16(cdb + 7));
        return;
    case 0x46: /* GET CONFIGURATION */
        if ((cdb[1] & 3) == 3) {
            fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            return;
        }
        len = get_configuration(s, cdb, buf);
        ok(s, r, len, get16(cdb + 7));
        return;
    case 0x4A: /* GET EVENT STATUS NOTIFICATION: polled only */
        if (!(cdb[1] & 1)) {
            fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            return;
        }
        len = event_status(s, cdb, buf);
        r->ok = true; /* leaves the sense as it was: a poll is no command outcome */
        r->len = len < get16(cdb + 7) ? len : get16(cdb + 7);
        return;
    case 0x51: /* READ DISC INFORMATION: a finished one-session disc */
        if (cdb[1] & 7) {
            fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
            return;
        }
        memset(buf, 0, 34);
        put16(buf, 32);
        buf[2] = 0x0e; /* complete disc, complete last session */
        buf[3] = 1;    /* first track */
        buf[4] = 1;    /* sessions */
        buf[5] = 1;    /* first and last track of the last session */
        buf[6] = 1;
        buf[7] = 0x20; /* unrestricted use */
        ok(s, r, 34, get16(cdb + 7));
        return;
    case 0x5A: /* MODE SENSE(10) */
        len = mode_sense(s, cdb, buf, r);
        if (len) ok(s, r, len, get16(cdb + 7));
        return;
    case 0xBD: /* MECHANISM STATUS: no changer, the tray's state */
        memset(buf, 0, 8);
        buf[1] = s->tray_open ? 0x10 : 0;
        ok(s, r, 8, get16(cdb + 8));
        return;
    default:
        fail(s, r, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
        return;
    }
}

int atapi_read(atapi_state *s, const block_backend *b, uint64_t lba, uint32_t n, uint8_t *buf)
{
    if (!disc_ready(s) || lba > s->nblocks || n > s->nblocks - lba || !b->read ||
        b->read(b->opaque, lba * 4, buf, n * 4) != 0) {
        sense(s, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ, 0);
        return -1;
    }
    return 0;
}

/* A locked disc stays unless forced; the guest is asked to let it go. */
static bool may_remove(atapi_state *s, bool force)
{
    if (!s->media || !s->locked || force) return true;
    s->event = ATAPI_EV_EJECT_REQUEST;
    return false;
}

bool atapi_insert(atapi_state *s, uint64_t nsectors, bool force)
{
    if (!may_remove(s, force)) return false;
    s->nblocks = nsectors / 4;
    s->media = true;
    s->tray_open = false;
    s->locked = s->locked && !force;
    s->unit_attention = true;
    s->event = ATAPI_EV_NEW_MEDIA;
    return true;
}

bool atapi_eject(atapi_state *s, bool force)
{
    if (!may_remove(s, force)) return false;
    bool had = s->media;
    s->media = false;
    s->nblocks = 0;
    s->tray_open = false;
    if (force) s->locked = false;
    if (had) s->event = ATAPI_EV_MEDIA_REMOVAL;
    return true;
}

void atapi_interrupted(atapi_state *s)
{
    if (!disc_ready(s)) {
        sense(s, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT, s->tray_open ? 0x02 : 0x01);
        return;
    }
    s->unit_attention = false; /* reported by the failed read */
    sense(s, SENSE_UNIT_ATTENTION, ASC_MEDIUM_CHANGED, 0);
}

void atapi_save(const atapi_state *s, state_writer *w)
{
    sw_bool(w, s->media);
    sw_bool(w, s->tray_open);
    sw_bool(w, s->locked);
    sw_bool(w, s->unit_attention);
    sw_u64(w, s->nblocks);
    sw_u8(w, s->sense_key);
    sw_u8(w, s->asc);
    sw_u8(w, s->ascq);
    sw_u8(w, s->event);
}

void atapi_load(atapi_state *s, state_reader *r, const char *name)
{
    atapi_state t;
    t.media = sr_flag(r, "atapi media");
    t.tray_open = sr_flag(r, "atapi tray_open");
    t.locked = sr_flag(r, "atapi locked");
    t.unit_attention = sr_flag(r, "atapi unit_attention");
    t.nblocks = sr_u64(r);
    t.sense_key = sr_u8_in(r, 0, 0x0F, "atapi sense_key");
    t.asc = sr_u8(r);
    t.ascq = sr_u8(r);
    t.event = sr_u8_in(r, 0, ATAPI_EV_COUNT - 1, "atapi event");
    if (r->failed) return;
    /* a disc of more blocks than LBA48 sectors could address is no disc
     * any backend holds */
    if (t.nblocks > (1ull << 46) || (!t.media && t.nblocks)) {
        sr_fail(r, "%s: a disc of %llu blocks with media %d", name, (unsigned long long)t.nblocks, t.media);
        return;
    }
    *s = t;
}
