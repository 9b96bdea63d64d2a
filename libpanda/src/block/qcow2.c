/*
 * qcow2 reader, versions 2 and 3 (QEMU's docs/interop/qcow2.txt): the
 * header and its extensions, the active L1/L2 tables (internal snapshots
 * are ignored), zlib-compressed clusters, zero clusters and extended L2
 * subclusters.  Refcounts are not read: this reader never writes the file.
 *
 * The file is hostile: every field is checked before it sizes an
 * allocation or places a read, and each refusal names the file, the table
 * and the offset.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "layer.h"

#define V2_HEADER_LEN 72u
#define V3_HEADER_LEN 104u
/* QEMU's QCOW_MAX_L1_SIZE (32 MiB of entries): a bigger L1 is refused
 * before it is allocated. */
#define MAX_L1_ENTRIES (32u * 1024 * 1024 / 8)
#define MAX_BACKING_NAME 1023u

#define INCOMPAT_DIRTY (1u << 0)
#define INCOMPAT_CORRUPT (1u << 1)
#define INCOMPAT_DATA_FILE (1u << 2)
#define INCOMPAT_COMPRESSION (1u << 3)
#define INCOMPAT_EXTL2 (1u << 4)
#define INCOMPAT_KNOWN 0x1fu

#define EXT_END 0u
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_NAMES 0x6803f857u
#define EXT_FDE_HEADER 0x0537be77u

/* bits 9-55 of an L1 or standard L2 entry: a host offset */
#define OFFSET_MASK 0x00fffffffffffe00ull
#define L2_COMPRESSED (1ull << 62)
#define L2_ZERO 1ull
#define SUBCLUSTERS 32u

/* L2 tables kept in memory: at most this many bytes, 2..16 tables */
#define L2_CACHE_BYTES (4u << 20)
#define L2_CACHE_MAX 16u

typedef struct l2_slot {
    uint64_t offset;  /* host offset of the table; 0 = empty slot */
    uint64_t used;    /* LRU tick */
    uint64_t *entries;
} l2_slot;

typedef struct qcow2 {
    blk_layer l; /* first: the layer callbacks get a qcow2 * back */
    unsigned version, cluster_bits;
    uint64_t cluster_size;
    bool ext_l2;
    unsigned entry_words;     /* 1, or 2 with extended L2 */
    uint64_t l2_entries;      /* entries in one L2 table */
    uint64_t *l1;
    uint64_t l1_size;
    l2_slot cache[L2_CACHE_MAX];
    unsigned cache_slots;
    uint64_t tick;
    /* the last compressed cluster inflated: its descriptor and its data */
    uint8_t *zin, *zout;
    uint64_t zdesc;
    bool zvalid;
    unsigned csize_shift;
    uint64_t csize_mask, coffset_mask;
} qcow2;

/* The name a feature-name table extension gives an incompatible bit, or
 * NULL. */
static const char *feature_name(const uint8_t *table, uint32_t len, unsigned bit, char *out, size_t n)
{
    for (uint32_t i = 0; table && i + 48 <= len; i += 48) {
        if (table[i] == 0 && table[i + 1] == bit) {
            size_t k = 0;
            while (k < 46 && table[i + 2 + k] && k + 1 < n) {
                uint8_t c = table[i + 2 + k];
                out[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
            }
            out[k] = 0;
            return out;
        }
    }
    return NULL;
}

static panda_err refuse_unknown_features(panda_errbuf *e, const char *path, uint64_t bits,
                                         const uint8_t *table, uint32_t table_len)
{
    char list[300] = "", name[64];
    size_t n = 0;
    for (unsigned b = 0; b < 64 && n < sizeof(list) - 80; b++) {
        if (!(bits >> b & 1)) continue;
        const char *nm = feature_name(table, table_len, b, name, sizeof(name));
        n += (size_t)snprintf(list + n, sizeof(list) - n, "%sbit %u%s%s%s", n ? ", " : "", b,
                              nm ? " (\"" : "", nm ? nm : "", nm ? "\")" : "");
    }
    return err_set(e, PANDA_ERR_UNSUPPORTED,
                   "%s: the qcow2 header sets incompatible features this reader does not know: %s",
                   path, list);
}

/* ---- reading ---- */

static panda_err load_l2(qcow2 *q, panda_errbuf *e, uint64_t offset, const uint64_t **entries)
{
    l2_slot *victim = &q->cache[0];
    for (unsigned i = 0; i < q->cache_slots; i++) {
        l2_slot *s = &q->cache[i];
        if (s->offset == offset && s->entries) {
            s->used = ++q->tick;
            *entries = s->entries;
            return PANDA_OK;
        }
        if (s->used < victim->used) victim = s;
    }
    if (!victim->entries) {
        victim->entries = malloc(q->cluster_size);
        if (!victim->entries) return err_nomem(e, "a qcow2 L2 table");
    }
    victim->offset = 0;
    panda_err err = blk_file_pread(e, &q->l.file, "L2 table", offset, victim->entries, q->cluster_size);
    if (err) return err;
    uint8_t *raw = (uint8_t *)victim->entries;
    for (uint64_t i = 0; i < q->cluster_size / 8; i++) victim->entries[i] = blk_be64(raw + 8 * i);
    victim->offset = offset;
    victim->used = ++q->tick;
    *entries = victim->entries;
    return PANDA_OK;
}

/* A compressed cluster (descriptor d) inflated into q->zout. */
static panda_err inflate_cluster(qcow2 *q, panda_errbuf *e, uint64_t d, uint64_t l2_off, uint64_t idx)
{
    if (q->zvalid && q->zdesc == d) return PANDA_OK;
    q->zvalid = false;
    uint64_t coff = d & q->coffset_mask;
    uint64_t nsect = ((d >> q->csize_shift) & q->csize_mask) + 1;
    uint64_t csize = nsect * 512 - (coff & 511);
    if (coff >= q->l.file.size)
        return err_set(e, PANDA_ERR_ARG,
                       "%s: L2 table at offset %" PRIu64 ", entry %" PRIu64 ": compressed cluster at "
                       "offset %" PRIu64 " lies past the end of the file (%" PRIu64 " bytes)",
                       q->l.file.path, l2_off, idx, coff, q->l.file.size);
    /* the sector count rounds up, so the last cluster of a file may claim
     * bytes past its end; QEMU reads those as zeros, and so does this */
    uint64_t avail = q->l.file.size - coff < csize ? q->l.file.size - coff : csize;
    panda_err err = blk_file_pread(e, &q->l.file, "compressed cluster", coff, q->zin, (size_t)avail);
    if (err) return err;
    memset(q->zin + avail, 0, (size_t)(csize - avail));
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* QEMU writes raw deflate with a 4 KiB window and no zlib header */
    if (inflateInit2(&zs, -12) != Z_OK) return err_nomem(e, "zlib inflate state");
    zs.next_in = q->zin;
    zs.avail_in = (uInt)csize;
    zs.next_out = q->zout;
    zs.avail_out = (uInt)q->cluster_size;
    int rc = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    /* as QEMU: the cluster is good when it filled the whole output */
    if (!((rc == Z_STREAM_END || rc == Z_BUF_ERROR) && zs.avail_out == 0))
        return err_set(e, PANDA_ERR_ARG,
                       "%s: L2 table at offset %" PRIu64 ", entry %" PRIu64 ": the compressed cluster "
                       "at offset %" PRIu64 " (%" PRIu64 " bytes) does not inflate to a cluster (zlib: %s)",
                       q->l.file.path, l2_off, idx, coff, csize, zs.msg ? zs.msg : "short output");
    q->zdesc = d;
    q->zvalid = true;
    return PANDA_OK;
}

/* n bytes of guest offset voff in one run of state: 0 backing, 1 zero,
 * 2 data at host (mapped by entry idx of the L2 table at l2_off). */
static panda_err read_run(qcow2 *q, panda_errbuf *e, int state, uint64_t voff, uint64_t host,
                          uint8_t *buf, size_t n, uint64_t l2_off, uint64_t idx)
{
    if (state == 0) return blk_layer_read(q->l.backing, e, voff, buf, n);
    if (state == 1) {
        memset(buf, 0, n);
        return PANDA_OK;
    }
    char what[96];
    snprintf(what, sizeof(what), "data cluster of L2 table at offset %" PRIu64 ", entry %" PRIu64, l2_off, idx);
    return blk_file_pread(e, &q->l.file, what, host, buf, n);
}

static panda_err bad_entry(qcow2 *q, panda_errbuf *e, uint64_t l2_off, uint64_t idx, const char *what,
                           uint64_t value)
{
    return err_set(e, PANDA_ERR_ARG,
                   "%s: L2 table at offset %" PRIu64 ", entry %" PRIu64 ": %s (0x%" PRIx64 ")",
                   q->l.file.path, l2_off, idx, what, value);
}

/* Bytes [voff, voff+n) of one guest cluster. */
static panda_err read_cluster(qcow2 *q, panda_errbuf *e, uint64_t voff, uint8_t *buf, size_t n)
{
    uint64_t vcl = voff >> q->cluster_bits, in = voff & (q->cluster_size - 1);
    uint64_t l1i = vcl / q->l2_entries, l2i = vcl % q->l2_entries;
    uint64_t l2_off = l1i < q->l1_size ? q->l1[l1i] & OFFSET_MASK : 0;
    if (!l2_off) return read_run(q, e, 0, voff, 0, buf, n, 0, 0);
    const uint64_t *t = NULL;
    panda_err err = load_l2(q, e, l2_off, &t);
    if (err) return err;
    uint64_t d = t[l2i * q->entry_words];
    uint64_t bitmap = q->ext_l2 ? t[l2i * 2 + 1] : 0;
    if (d & L2_COMPRESSED) {
        if (bitmap) return bad_entry(q, e, l2_off, l2i, "a compressed cluster with a subcluster bitmap", bitmap);
        err = inflate_cluster(q, e, d, l2_off, l2i);
        if (!err) memcpy(buf, q->zout + in, n);
        return err;
    }
    uint64_t host = d & OFFSET_MASK;
    if (host & (q->cluster_size - 1))
        return bad_entry(q, e, l2_off, l2i, "cluster offset not aligned to a cluster", host);
    if (!q->ext_l2) {
        if (d & L2_ZERO) {
            if (q->version < 3) return bad_entry(q, e, l2_off, l2i, "zero flag in a version 2 image", d);
            return read_run(q, e, 1, voff, 0, buf, n, 0, 0);
        }
        return read_run(q, e, host ? 2 : 0, voff, host + in, buf, n, l2_off, l2i);
    }
    if (d & L2_ZERO) return bad_entry(q, e, l2_off, l2i, "reserved bit 0 set with extended L2", d);
    uint32_t alloc = (uint32_t)bitmap, zero = (uint32_t)(bitmap >> 32);
    if (alloc & zero) return bad_entry(q, e, l2_off, l2i, "a subcluster both allocated and zero", bitmap);
    if (!host && alloc) return bad_entry(q, e, l2_off, l2i, "allocated subclusters in an unallocated cluster", bitmap);
    uint64_t sc_size = q->cluster_size / SUBCLUSTERS;
    size_t done = 0;
    while (done < n) {
        uint64_t pos = in + done;
        unsigned sc = (unsigned)(pos / sc_size);
        int state = (alloc >> sc & 1) ? 2 : (zero >> sc & 1) ? 1 : 0;
        /* extend the run over the following subclusters in the same state */
        uint64_t end = (uint64_t)(sc + 1) * sc_size;
        while (end < in + n) {
            unsigned s2 = (unsigned)(end / sc_size);
            int st2 = (alloc >> s2 & 1) ? 2 : (zero >> s2 & 1) ? 1 : 0;
            if (st2 != state) break;
            end += sc_size;
        }
        size_t len = (size_t)((end < in + n ? end : in + n) - pos);
        err = read_run(q, e, state, voff + done, host + pos, buf + done, len, l2_off, l2i);
        if (err) return err;
        done += len;
    }
    return PANDA_OK;
}

static panda_err qcow2_read(blk_layer *l, panda_errbuf *e, uint64_t off, void *buf, size_t len)
{
    qcow2 *q = (qcow2 *)l;
    uint8_t *p = buf;
    while (len) {
        uint64_t in = off & (q->cluster_size - 1);
        size_t n = q->cluster_size - in < len ? (size_t)(q->cluster_size - in) : len;
        panda_err err = read_cluster(q, e, off, p, n);
        if (err) return err;
        off += n;
        p += n;
        len -= n;
    }
    return PANDA_OK;
}

static void qcow2_free(blk_layer *l)
{
    qcow2 *q = (qcow2 *)l;
    for (unsigned i = 0; i < L2_CACHE_MAX; i++) free(q->cache[i].entries);
    free(q->l1);
    free(q->zin);
    free(q->zout);
    blk_file_close(&q->l.file);
    free(q);
}

/* ---- opening ---- */

typedef struct header {
    uint32_t version, cluster_bits, crypt, l1_size, refcount_clusters, nb_snapshots;
    uint32_t backing_size, refcount_order, header_length;
    uint64_t backing_offset, size, l1_offset, refcount_offset, snapshots_offset;
    uint64_t incompat, compat, autoclear;
    uint8_t compression;
} header;

#define FAIL(code, ...) do { err = err_set(e, code, __VA_ARGS__); goto fail; } while (0)

/* Header extensions in [start, end) of the first cluster (buf holds it). */
static panda_err read_extensions(panda_errbuf *e, const char *path, const uint8_t *buf, uint32_t start,
                                 uint32_t end, const char **backing_format, const uint8_t **names,
                                 uint32_t *names_len)
{
    uint32_t pos = start;
    while (pos + 8 <= end) {
        uint32_t type = blk_be32(buf + pos), len = blk_be32(buf + pos + 4);
        if (type == EXT_END) return PANDA_OK;
        if (len > end - pos - 8)
            return err_set(e, PANDA_ERR_ARG,
                           "%s: qcow2 header extension 0x%08x at offset %u: its length %u runs past "
                           "the end of the header area (%u)", path, type, pos, len, end);
        const uint8_t *data = buf + pos + 8;
        if (type == EXT_BACKING_FORMAT) {
            if (len == 3 && memcmp(data, "raw", 3) == 0) *backing_format = "raw";
            else if (len == 5 && memcmp(data, "qcow2", 5) == 0) *backing_format = "qcow2";
            else {
                char fmt[32];
                size_t k = 0;
                for (; k < len && k + 1 < sizeof(fmt); k++)
                    fmt[k] = data[k] >= 0x20 && data[k] < 0x7f ? (char)data[k] : '?';
                fmt[k] = 0;
                return err_set(e, PANDA_ERR_UNSUPPORTED,
                               "%s: the backing file's format is '%s'; this reader opens raw and qcow2 only",
                               path, fmt);
            }
        } else if (type == EXT_FEATURE_NAMES) {
            *names = data;
            *names_len = len;
        } else if (type == EXT_FDE_HEADER) {
            return err_set(e, PANDA_ERR_UNSUPPORTED,
                           "%s: the image carries a full-disk-encryption header (extension at offset "
                           "%u); encrypted images are not supported", path, pos);
        }
        /* other extensions (bitmaps, the external data file's name) are
         * optional to understand; unknown ones must be ignored */
        uint32_t padded = (len + 7) & ~7u;
        if (padded > end - pos - 8) return PANDA_OK; /* the last one, unpadded */
        pos += 8 + padded;
    }
    return PANDA_OK;
}

panda_err blk_qcow2_open(panda_errbuf *e, blk_file *f, blk_layer **out, char **backing_name,
                         const char **backing_format, char *note, size_t note_len)
{
    panda_err err = PANDA_OK;
    uint8_t *first = NULL;
    const char *path = f->path;
    *backing_name = NULL;
    *backing_format = NULL;
    qcow2 *q = calloc(1, sizeof(*q));
    if (!q) {
        blk_file_close(f);
        return err_nomem(e, "a qcow2 image");
    }
    q->l.file = *f;
    q->l.format = "qcow2";
    q->l.read = qcow2_read;
    q->l.free = qcow2_free;
    path = q->l.file.path;

    uint8_t hb[V3_HEADER_LEN + 8];
    if (q->l.file.size < V2_HEADER_LEN)
        FAIL(PANDA_ERR_ARG, "%s: %" PRIu64 " bytes is too short for a qcow2 header (72 bytes)", path,
             q->l.file.size);
    if ((err = blk_file_pread(e, &q->l.file, "qcow2 header", 0, hb, V2_HEADER_LEN))) goto fail;
    header h = {0};
    if (blk_be32(hb) != BLK_QCOW2_MAGIC) FAIL(PANDA_ERR_ARG, "%s: not a qcow2 image (no QFI\\xfb magic)", path);
    h.version = blk_be32(hb + 4);
    h.backing_offset = blk_be64(hb + 8);
    h.backing_size = blk_be32(hb + 16);
    h.cluster_bits = blk_be32(hb + 20);
    h.size = blk_be64(hb + 24);
    h.crypt = blk_be32(hb + 32);
    h.l1_size = blk_be32(hb + 36);
    h.l1_offset = blk_be64(hb + 40);
    h.refcount_offset = blk_be64(hb + 48);
    h.refcount_clusters = blk_be32(hb + 56);
    h.nb_snapshots = blk_be32(hb + 60);
    h.snapshots_offset = blk_be64(hb + 64);
    h.refcount_order = 4;
    h.header_length = V2_HEADER_LEN;
    if (h.version != 2 && h.version != 3)
        FAIL(PANDA_ERR_UNSUPPORTED, "%s: qcow2 version %u; this reader opens versions 2 and 3", path, h.version);
    if (h.cluster_bits < 9 || h.cluster_bits > 21)
        FAIL(PANDA_ERR_ARG, "%s: qcow2 cluster_bits %u: the cluster size must be 512 B to 2 MiB (9 to 21)",
             path, h.cluster_bits);
    q->version = h.version;
    q->cluster_bits = h.cluster_bits;
    q->cluster_size = 1ull << h.cluster_bits;
    if (h.version == 3) {
        if ((err = blk_file_pread(e, &q->l.file, "qcow2 version 3 header", 0, hb, V3_HEADER_LEN))) goto fail;
        h.incompat = blk_be64(hb + 72);
        h.compat = blk_be64(hb + 80);
        h.autoclear = blk_be64(hb + 88);
        h.refcount_order = blk_be32(hb + 96);
        h.header_length = blk_be32(hb + 100);
        if (h.header_length < V3_HEADER_LEN || h.header_length % 8)
            FAIL(PANDA_ERR_ARG, "%s: qcow2 header_length %u: version 3 needs at least 104, a multiple of 8",
                 path, h.header_length);
        if (h.header_length > q->cluster_size)
            FAIL(PANDA_ERR_ARG, "%s: qcow2 header_length %u exceeds the cluster size %" PRIu64, path,
                 h.header_length, q->cluster_size);
        if (h.refcount_order > 6)
            FAIL(PANDA_ERR_ARG, "%s: qcow2 refcount_order %u (at most 6)", path, h.refcount_order);
    }
    /* the header, its extensions and the backing file's name lie in the
     * first cluster */
    uint64_t first_len = q->cluster_size < q->l.file.size ? q->cluster_size : q->l.file.size;
    first = malloc((size_t)first_len);
    if (!first) FAIL(PANDA_ERR_NOMEM, "out of memory: a qcow2 header cluster");
    if ((err = blk_file_pread(e, &q->l.file, "qcow2 header cluster", 0, first, (size_t)first_len))) goto fail;
    if (h.header_length > first_len)
        FAIL(PANDA_ERR_ARG, "%s: the file (%" PRIu64 " bytes) ends inside the qcow2 header (%u bytes)", path,
             q->l.file.size, h.header_length);
    if (h.header_length > V3_HEADER_LEN) h.compression = first[V3_HEADER_LEN];

    if (h.backing_offset) {
        if (h.backing_size == 0 || h.backing_size > MAX_BACKING_NAME)
            FAIL(PANDA_ERR_ARG, "%s: qcow2 backing file name length %u (1 to %u)", path, h.backing_size,
                 MAX_BACKING_NAME);
        if (h.backing_offset < h.header_length || h.backing_offset > first_len ||
            h.backing_size > first_len - h.backing_offset)
            FAIL(PANDA_ERR_ARG, "%s: the qcow2 backing file name at offset %" PRIu64 " (%u bytes) lies "
                 "outside the header cluster (%" PRIu64 " bytes)", path, h.backing_offset, h.backing_size, first_len);
        if (memchr(first + h.backing_offset, 0, h.backing_size))
            FAIL(PANDA_ERR_ARG, "%s: the qcow2 backing file name at offset %" PRIu64 " holds a NUL byte", path,
                 h.backing_offset);
    }
    const uint8_t *names = NULL;
    uint32_t names_len = 0;
    uint32_t ext_end = (uint32_t)(h.backing_offset ? h.backing_offset : first_len);
    if ((err = read_extensions(e, path, first, h.header_length, ext_end, backing_format, &names, &names_len)))
        goto fail;

    if (h.incompat & ~(uint64_t)INCOMPAT_KNOWN) {
        err = refuse_unknown_features(e, path, h.incompat & ~(uint64_t)INCOMPAT_KNOWN, names, names_len);
        goto fail;
    }
    if (h.incompat & INCOMPAT_CORRUPT)
        FAIL(PANDA_ERR_ARG, "%s: the qcow2 image is marked corrupt (incompatible feature bit 1); "
             "repair it with qemu-img check -r all", path);
    if (h.incompat & INCOMPAT_DATA_FILE)
        FAIL(PANDA_ERR_UNSUPPORTED, "%s: the qcow2 image keeps its data in an external data file "
             "(incompatible feature bit 2), which this reader does not open", path);
    if (h.crypt)
        FAIL(PANDA_ERR_UNSUPPORTED, "%s: the qcow2 image is encrypted (%s, crypt_method %u); encrypted "
             "images are not supported", path, h.crypt == 1 ? "AES" : h.crypt == 2 ? "LUKS" : "unknown",
             h.crypt);
    if (h.incompat & INCOMPAT_COMPRESSION) {
        if (h.header_length <= V3_HEADER_LEN)
            FAIL(PANDA_ERR_ARG, "%s: the compression type feature is set but the header (%u bytes) has "
                 "no compression_type field", path, h.header_length);
        if (h.compression == 1)
            FAIL(PANDA_ERR_UNSUPPORTED, "%s: the qcow2 image is compressed with zstd "
                 "(compression_type 1); this reader inflates zlib only", path);
        if (h.compression != 0)
            FAIL(PANDA_ERR_ARG, "%s: unknown qcow2 compression_type %u", path, h.compression);
    } else if (h.compression != 0) {
        FAIL(PANDA_ERR_ARG, "%s: qcow2 compression_type %u without the compression type feature bit",
             path, h.compression);
    }
    q->ext_l2 = (h.incompat & INCOMPAT_EXTL2) != 0;
    if (q->ext_l2 && h.cluster_bits < 14)
        FAIL(PANDA_ERR_ARG, "%s: extended L2 entries need clusters of at least 16 KiB (cluster_bits %u)",
             path, h.cluster_bits);
    /* Dirty (lazy refcounts not yet written back) leaves the refcounts
     * stale but the mapping exact; a reader that never writes the file
     * needs only the mapping, so a dirty image is opened (read-only, as
     * everything here), with a note. */
    if ((h.incompat & INCOMPAT_DIRTY) && note && note_len)
        snprintf(note, note_len, "%s: the qcow2 image is marked dirty (its refcounts may be stale); "
                 "it is only read", path);

    q->entry_words = q->ext_l2 ? 2 : 1;
    q->l2_entries = q->cluster_size / (8u * q->entry_words);
    uint64_t coverage = q->cluster_size * q->l2_entries; /* bytes one L2 table maps; <= 2^39 */
    uint64_t need = h.size / coverage + (h.size % coverage != 0);
    if (need > MAX_L1_ENTRIES)
        FAIL(PANDA_ERR_ARG, "%s: qcow2 virtual size %" PRIu64 " bytes is too large for %" PRIu64
             "-byte clusters (it needs %" PRIu64 " L1 entries; at most %u)", path, h.size, q->cluster_size,
             need, MAX_L1_ENTRIES);
    if (h.l1_size > MAX_L1_ENTRIES)
        FAIL(PANDA_ERR_ARG, "%s: qcow2 L1 table size %u entries is too large (at most %u)", path, h.l1_size,
             MAX_L1_ENTRIES);
    if (h.l1_size < need)
        FAIL(PANDA_ERR_ARG, "%s: the qcow2 L1 table has %u entries but the virtual size %" PRIu64
             " needs %" PRIu64, path, h.l1_size, h.size, need);
    if (h.refcount_offset & (q->cluster_size - 1))
        FAIL(PANDA_ERR_ARG, "%s: the qcow2 refcount table offset %" PRIu64 " is not aligned to a cluster",
             path, h.refcount_offset);
    if (h.refcount_offset > q->l.file.size ||
        (uint64_t)h.refcount_clusters * q->cluster_size > q->l.file.size - h.refcount_offset)
        FAIL(PANDA_ERR_ARG, "%s: the qcow2 refcount table at offset %" PRIu64 " (%u clusters) lies past "
             "the end of the file (%" PRIu64 " bytes): the image is truncated or damaged", path,
             h.refcount_offset, h.refcount_clusters, q->l.file.size);
    q->l.size = h.size;
    q->l1_size = h.l1_size;
    if (h.l1_size) {
        if (h.l1_offset & (q->cluster_size - 1))
            FAIL(PANDA_ERR_ARG, "%s: the qcow2 L1 table offset %" PRIu64 " is not aligned to a cluster", path,
                 h.l1_offset);
        size_t l1_bytes = (size_t)h.l1_size * 8;
        q->l1 = malloc(l1_bytes);
        if (!q->l1) FAIL(PANDA_ERR_NOMEM, "out of memory: a qcow2 L1 table of %u entries", h.l1_size);
        if ((err = blk_file_pread(e, &q->l.file, "L1 table", h.l1_offset, q->l1, l1_bytes))) goto fail;
        for (uint64_t i = 0; i < h.l1_size; i++) {
            q->l1[i] = blk_be64((uint8_t *)&q->l1[i]);
            uint64_t l2 = q->l1[i] & OFFSET_MASK;
            if (!l2) continue;
            if (l2 & (q->cluster_size - 1))
                FAIL(PANDA_ERR_ARG, "%s: L1 table at offset %" PRIu64 ", entry %" PRIu64 ": L2 table "
                     "offset %" PRIu64 " is not aligned to a cluster", path, h.l1_offset, i, l2);
            if (l2 > q->l.file.size || q->cluster_size > q->l.file.size - l2)
                FAIL(PANDA_ERR_ARG, "%s: L1 table at offset %" PRIu64 ", entry %" PRIu64 ": L2 table "
                     "offset %" PRIu64 " lies past the end of the file (%" PRIu64 " bytes)", path,
                     h.l1_offset, i, l2, q->l.file.size);
        }
    }
    unsigned slots = (unsigned)(L2_CACHE_BYTES / q->cluster_size);
    q->cache_slots = slots < 2 ? 2 : slots > L2_CACHE_MAX ? L2_CACHE_MAX : slots;
    q->csize_shift = 62 - (h.cluster_bits - 8);
    q->csize_mask = (1ull << (h.cluster_bits - 8)) - 1;
    q->coffset_mask = (1ull << q->csize_shift) - 1;
    /* a compressed cluster claims up to 2 clusters of input */
    q->zin = malloc((size_t)(2 * q->cluster_size));
    q->zout = malloc((size_t)q->cluster_size);
    if (!q->zin || !q->zout) FAIL(PANDA_ERR_NOMEM, "out of memory: qcow2 decompression buffers");
    if (h.backing_offset) {
        *backing_name = malloc(h.backing_size + 1);
        if (!*backing_name) FAIL(PANDA_ERR_NOMEM, "out of memory: a backing file name");
        memcpy(*backing_name, first + h.backing_offset, h.backing_size);
        (*backing_name)[h.backing_size] = 0;
    } else {
        *backing_format = NULL;
    }
    free(first);
    *out = &q->l;
    return PANDA_OK;
fail:
    free(first);
    qcow2_free(&q->l);
    *backing_format = NULL;
    return err;
}
