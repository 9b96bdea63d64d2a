/* The copy-on-write overlay (overlay.h) and its saved state (image.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "overlay.h"

#define OV_STATE_VERSION 1u

static bool sector_set(const ov_chunk *c, unsigned s)
{
    return c->map[s / 64] >> (s % 64) & 1;
}

void ov_init(overlay *ov, uint64_t nsectors, uint64_t mem_limit)
{
    memset(ov, 0, sizeof(*ov));
    ov->nsectors = nsectors;
    ov->mem_limit = mem_limit;
    ov->spill_fd = -1;
}

void ov_free(overlay *ov)
{
    for (size_t i = 0; i < ov->nchunks; i++) free(ov->chunks[i].mem);
    free(ov->chunks);
    free(ov->hash);
    if (ov->spill_fd >= 0) close(ov->spill_fd);
    ov_init(ov, 0, 0);
}

static size_t hash_of(uint64_t index, size_t cap)
{
    return (size_t)((index * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

static ov_chunk *find(const overlay *ov, uint64_t index)
{
    if (!ov->hash_cap) return NULL;
    for (size_t h = hash_of(index, ov->hash_cap);; h = (h + 1) & (ov->hash_cap - 1)) {
        size_t v = ov->hash[h];
        if (!v) return NULL;
        if (ov->chunks[v - 1].index == index) return &ov->chunks[v - 1];
    }
}

static bool hash_grow(overlay *ov)
{
    size_t cap = ov->hash_cap ? ov->hash_cap * 2 : 64;
    size_t *h = calloc(cap, sizeof(*h));
    if (!h) return false;
    for (size_t i = 0; i < ov->nchunks; i++) {
        size_t k = hash_of(ov->chunks[i].index, cap);
        while (h[k]) k = (k + 1) & (cap - 1);
        h[k] = i + 1;
    }
    free(ov->hash);
    ov->hash = h;
    ov->hash_cap = cap;
    return true;
}

/* An unlinked temporary file: nothing of the guest's writes outlives the
 * process, whatever way it ends. */
static int spill_open(panda_errbuf *e)
{
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    int fd = -1;
#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd < 0) { /* a filesystem without O_TMPFILE */
        char name[4096];
        if (snprintf(name, sizeof(name), "%s/pypanda-overlay-XXXXXX", dir) >= (int)sizeof(name)) {
            err_set(e, PANDA_ERR_IO, "the temporary directory name '%s' is too long", dir);
            return -1;
        }
        fd = mkstemp(name);
        if (fd >= 0) unlink(name);
    }
    if (fd < 0) err_set(e, PANDA_ERR_IO, "cannot create the disk overlay's temporary file in %s: %s", dir,
                        strerror(errno));
    return fd;
}

static ov_chunk *add_chunk(overlay *ov, panda_errbuf *e, uint64_t index)
{
    if ((ov->nchunks + 1) * 2 > ov->hash_cap && !hash_grow(ov)) {
        err_nomem(e, "the disk overlay's index");
        return NULL;
    }
    if (ov->nchunks == ov->cap) {
        size_t cap = ov->cap ? ov->cap * 2 : 16;
        ov_chunk *c = realloc(ov->chunks, cap * sizeof(*c));
        if (!c) {
            err_nomem(e, "the disk overlay's chunk list");
            return NULL;
        }
        ov->chunks = c;
        ov->cap = cap;
    }
    ov_chunk c = {.index = index};
    if (ov->mem_used + OV_CHUNK_BYTES <= ov->mem_limit) {
        c.mem = calloc(1, OV_CHUNK_BYTES);
        if (!c.mem) {
            err_nomem(e, "a disk overlay chunk");
            return NULL;
        }
        ov->mem_used += OV_CHUNK_BYTES;
    } else {
        if (ov->spill_fd < 0 && (ov->spill_fd = spill_open(e)) < 0) return NULL;
        c.file_off = ov->spill_len;
        ov->spill_len += OV_CHUNK_BYTES;
    }
    ov->chunks[ov->nchunks] = c;
    size_t k = hash_of(index, ov->hash_cap);
    while (ov->hash[k]) k = (k + 1) & (ov->hash_cap - 1);
    ov->hash[k] = ++ov->nchunks;
    return &ov->chunks[ov->nchunks - 1];
}

static panda_err spill_io(const overlay *ov, panda_errbuf *e, bool write, uint64_t off, void *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = write ? pwrite(ov->spill_fd, (uint8_t *)buf + done, n - done, (off_t)(off + done))
                          : pread(ov->spill_fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 || (r == 0 && write))
            return err_set(e, PANDA_ERR_IO, "cannot %s the disk overlay's temporary file: %s",
                           write ? "write" : "read", r < 0 ? strerror(errno) : "no space");
        if (r == 0) { /* never written: a hole past the end */
            memset((uint8_t *)buf + done, 0, n - done);
            break;
        }
        done += (size_t)r;
    }
    return PANDA_OK;
}

/* Sectors [first, first+n) of chunk c into or out of buf. */
static panda_err chunk_io(const overlay *ov, panda_errbuf *e, const ov_chunk *c, bool write, unsigned first,
                          unsigned n, uint8_t *buf)
{
    size_t off = (size_t)first * BLOCK_SECTOR, len = (size_t)n * BLOCK_SECTOR;
    if (c->mem) {
        if (write) memcpy(c->mem + off, buf, len);
        else memcpy(buf, c->mem + off, len);
        return PANDA_OK;
    }
    return spill_io(ov, e, write, c->file_off + off, buf, len);
}

panda_err ov_read(overlay *ov, panda_errbuf *e, blk_layer *base, uint64_t sector, uint8_t *buf,
                  uint64_t count)
{
    while (count) {
        uint64_t index = sector / OV_CHUNK_SECTORS;
        unsigned s = (unsigned)(sector % OV_CHUNK_SECTORS);
        const ov_chunk *c = find(ov, index);
        /* a run of sectors that all come from the same place */
        bool from_ov = c && sector_set(c, s);
        unsigned n = 1;
        while (s + n < OV_CHUNK_SECTORS && n < count && (c && sector_set(c, s + n)) == from_ov) n++;
        panda_err err = from_ov ? chunk_io(ov, e, c, false, s, n, buf)
                                : blk_layer_read(base, e, sector * BLOCK_SECTOR, buf, (size_t)n * BLOCK_SECTOR);
        if (err) return err;
        sector += n;
        buf += (size_t)n * BLOCK_SECTOR;
        count -= n;
    }
    return PANDA_OK;
}

panda_err ov_write(overlay *ov, panda_errbuf *e, uint64_t sector, const uint8_t *buf, uint64_t count)
{
    while (count) {
        uint64_t index = sector / OV_CHUNK_SECTORS;
        unsigned s = (unsigned)(sector % OV_CHUNK_SECTORS);
        unsigned n = OV_CHUNK_SECTORS - s < count ? OV_CHUNK_SECTORS - s : (unsigned)count;
        ov_chunk *c = find(ov, index);
        if (!c && !(c = add_chunk(ov, e, index))) return PANDA_ERR_NOMEM;
        panda_err err = chunk_io(ov, e, c, true, s, n, (uint8_t *)buf);
        if (err) return err;
        /* the bitmap changes only once the data is in place */
        for (unsigned i = s; i < s + n; i++) {
            if (!sector_set(c, i)) ov->sectors++;
            c->map[i / 64] |= 1ull << (i % 64);
        }
        sector += n;
        buf += (size_t)n * BLOCK_SECTOR;
        count -= n;
    }
    return PANDA_OK;
}

typedef struct keyed {
    uint64_t index;
    size_t slot;
} keyed;

static int by_index(const void *a, const void *b)
{
    uint64_t x = ((const keyed *)a)->index, y = ((const keyed *)b)->index;
    return (x > y) - (x < y);
}

panda_err ov_sorted(const overlay *ov, panda_errbuf *e, size_t **slots, size_t *n)
{
    keyed *k = malloc((ov->nchunks ? ov->nchunks : 1) * sizeof(*k));
    size_t *out = malloc((ov->nchunks ? ov->nchunks : 1) * sizeof(*out));
    if (!k || !out) {
        free(k);
        free(out);
        return err_nomem(e, "the disk overlay's chunk order");
    }
    for (size_t i = 0; i < ov->nchunks; i++) k[i] = (keyed){ov->chunks[i].index, i};
    qsort(k, ov->nchunks, sizeof(*k), by_index);
    for (size_t i = 0; i < ov->nchunks; i++) out[i] = k[i].slot;
    free(k);
    *slots = out;
    *n = ov->nchunks;
    return PANDA_OK;
}

panda_err ov_chunk_data(const overlay *ov, panda_errbuf *e, const ov_chunk *c, uint8_t *buf)
{
    for (unsigned s = 0; s < OV_CHUNK_SECTORS;) {
        if (!sector_set(c, s)) {
            s++;
            continue;
        }
        unsigned n = 1;
        while (s + n < OV_CHUNK_SECTORS && sector_set(c, s + n)) n++;
        panda_err err = chunk_io(ov, e, c, false, s, n, buf + (size_t)s * BLOCK_SECTOR);
        if (err) return err;
        s += n;
    }
    return PANDA_OK;
}

/* Saved: version, chunk size, the disk's size, the number of chunks, then
 * each chunk in increasing order: its number, its bitmap and the data of
 * its written sectors (only those: a sparse write costs what it wrote). */
void block_overlay_save(block_image *img, state_writer *w)
{
    overlay *ov = &img->ov;
    size_t *slots, n;
    if (ov_sorted(ov, &img->err, &slots, &n)) {
        w->failed = true;
        return;
    }
    sw_u32(w, OV_STATE_VERSION);
    sw_u32(w, OV_CHUNK_SECTORS);
    sw_u64(w, ov->nsectors);
    sw_u64(w, n);
    uint8_t *buf = malloc(OV_CHUNK_BYTES);
    if (!buf) w->failed = true;
    for (size_t i = 0; i < n && !w->failed; i++) {
        const ov_chunk *c = &ov->chunks[slots[i]];
        sw_u64(w, c->index);
        sw_u64(w, c->map[0]);
        sw_u64(w, c->map[1]);
        if (ov_chunk_data(ov, &img->err, c, buf)) {
            w->failed = true;
            break;
        }
        for (unsigned s = 0; s < OV_CHUNK_SECTORS; s++)
            if (sector_set(c, s)) sw_bytes(w, buf + (size_t)s * BLOCK_SECTOR, BLOCK_SECTOR);
    }
    free(buf);
    free(slots);
}

bool block_overlay_load(block_image *img, state_reader *r)
{
    uint32_t version = sr_u32(r);
    if (!sr_version(r, "disk overlay", version, OV_STATE_VERSION)) return false;
    uint32_t chunk = sr_u32(r);
    if (!r->failed && chunk != OV_CHUNK_SECTORS)
        return sr_fail(r, "disk overlay chunk of %" PRIu32 " sectors, not %u", chunk, OV_CHUNK_SECTORS);
    uint64_t nsectors = sr_u64(r);
    if (!r->failed && nsectors != img->ov.nsectors)
        return sr_fail(r, "disk overlay for a disk of %" PRIu64 " sectors; this disk has %" PRIu64, nsectors,
                       img->ov.nsectors);
    uint64_t n = sr_u64(r);
    /* every chunk takes at least its 24-byte head and one sector: a count
     * the rest of the state cannot hold is refused before anything grows */
    if (!r->failed && n > (r->len - r->pos) / (24 + BLOCK_SECTOR))
        return sr_fail(r, "disk overlay claims %" PRIu64 " chunks; the state holds at most %zu", n,
                       (r->len - r->pos) / (24 + BLOCK_SECTOR));
    if (r->failed) return false;
    uint64_t nchunks = img->ov.nsectors / OV_CHUNK_SECTORS + (img->ov.nsectors % OV_CHUNK_SECTORS != 0);
    overlay fresh;
    ov_init(&fresh, img->ov.nsectors, img->ov.mem_limit);
    uint8_t *buf = malloc(OV_CHUNK_BYTES);
    if (!buf) sr_fail(r, "out of memory loading the disk overlay");
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n && !r->failed; i++) {
        uint64_t index = sr_u64(r);
        uint64_t map[2] = {sr_u64(r), sr_u64(r)};
        if (r->failed) break;
        if (index >= nchunks) {
            sr_fail(r, "disk overlay chunk %" PRIu64 " is past the disk's %" PRIu64 " chunks", index, nchunks);
            break;
        }
        if (i && index <= prev) {
            sr_fail(r, "disk overlay chunk %" PRIu64 " follows chunk %" PRIu64 ": not in increasing order",
                    index, prev);
            break;
        }
        prev = index;
        if (!map[0] && !map[1]) {
            sr_fail(r, "disk overlay chunk %" PRIu64 " has no sector written", index);
            break;
        }
        /* the last chunk may be partial: no bit past the disk's end */
        uint64_t valid = img->ov.nsectors - index * OV_CHUNK_SECTORS;
        if (valid < OV_CHUNK_SECTORS) {
            uint64_t lo = valid >= 64 ? ~0ull : (1ull << valid) - 1;
            uint64_t hi = valid <= 64 ? 0 : (1ull << (valid - 64)) - 1;
            if ((map[0] & ~lo) || (map[1] & ~hi)) {
                sr_fail(r, "disk overlay chunk %" PRIu64 " marks sectors past the disk's end", index);
                break;
            }
        }
        ov_chunk c = {.index = index, .map = {map[0], map[1]}};
        for (unsigned s = 0; s < OV_CHUNK_SECTORS; s++)
            if (sector_set(&c, s)) sr_bytes(r, buf + (size_t)s * BLOCK_SECTOR, BLOCK_SECTOR);
        if (r->failed) break;
        /* written back sector-run by sector-run so the bitmap is exact */
        for (unsigned s = 0; s < OV_CHUNK_SECTORS && !r->failed; s++) {
            if (!sector_set(&c, s)) continue;
            panda_errbuf e;
            if (ov_write(&fresh, &e, index * OV_CHUNK_SECTORS + s, buf + (size_t)s * BLOCK_SECTOR, 1))
                sr_fail(r, "loading the disk overlay: %s", e.msg);
        }
    }
    free(buf);
    if (r->failed) {
        ov_free(&fresh);
        return false;
    }
    ov_free(&img->ov);
    img->ov = fresh;
    return true;
}
