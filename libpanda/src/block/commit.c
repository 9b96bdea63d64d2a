/* block_commit: the overlay written out as a qcow2 v3 image over the base
 * (image.h).  The layout is fixed and computed up front, so every cluster
 * is written once and its refcount is exactly 1:
 *
 *   header cluster (header, backing format extension, backing file name)
 *   refcount table, refcount blocks, L1 table, L2 tables, data clusters
 *
 * One data cluster per overlay chunk (both 64 KiB): the sectors the guest
 * wrote, and the base's data for the rest of the cluster, since a qcow2
 * cluster is all or nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "overlay.h"

#define CLUSTER_BITS 16u
#define CLUSTER ((uint64_t)1 << CLUSTER_BITS)
#define L2_ENTRIES (CLUSTER / 8)
#define REFCOUNTS_PER_BLOCK (CLUSTER / 2) /* refcount_order 4: 16 bits */
#define COPIED (1ull << 63)              /* refcount is exactly one */
#define HEADER_LEN 112u

_Static_assert(OV_CHUNK_BYTES == CLUSTER, "one overlay chunk is one committed cluster");

typedef struct writer {
    int fd;
    const char *path;
    panda_errbuf *e;
} writer;

static panda_err put(writer *w, uint64_t off, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(w->fd, (const uint8_t *)buf + done, len - done, (off_t)(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return err_set(w->e, PANDA_ERR_IO, "cannot write %s at offset %" PRIu64 ": %s", w->path, off + done,
                           n < 0 ? strerror(errno) : "no space");
        done += (size_t)n;
    }
    return PANDA_OK;
}

static uint64_t div_up(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

static panda_err write_image(writer *w, block_image *img, const size_t *slots, size_t n)
{
    const overlay *ov = &img->ov;
    const blk_layer *base = img->top;
    uint64_t size = base->size;
    uint64_t l1_size = div_up(size, CLUSTER * L2_ENTRIES);
    if (l1_size > 32u * 1024 * 1024 / 8) /* QEMU's largest L1 table */
        return err_set(w->e, PANDA_ERR_ARG, "cannot commit to %s: a disk of %" PRIu64 " bytes is too large "
                       "for a qcow2 image of 64 KiB clusters", w->path, size);
    uint64_t n_l2 = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || ov->chunks[slots[i]].index / L2_ENTRIES != ov->chunks[slots[i - 1]].index / L2_ENTRIES)
            n_l2++;
    uint64_t l1_clusters = div_up(l1_size * 8, CLUSTER);
    /* refcount blocks cover every cluster including themselves and the
     * table: grow both until they cover the total */
    uint64_t rt = 1, rb = 1, total;
    for (;;) {
        total = 1 + rt + rb + l1_clusters + n_l2 + n;
        uint64_t rb2 = div_up(total, REFCOUNTS_PER_BLOCK), rt2 = div_up(rb2 * 8, CLUSTER);
        if (rb2 <= rb && rt2 <= rt) break;
        rb = rb2 > rb ? rb2 : rb;
        rt = rt2 > rt ? rt2 : rt;
    }
    uint64_t rt_off = CLUSTER, rb_off = rt_off + rt * CLUSTER, l1_off = rb_off + rb * CLUSTER;
    uint64_t l2_off = l1_off + l1_clusters * CLUSTER, data_off = l2_off + n_l2 * CLUSTER;

    if (!base->file.path)
        return err_set(w->e, PANDA_ERR_UNSUPPORTED, "cannot commit to %s: this drive has no image to be "
                       "the new image's backing file", w->path);
    const char *bname = base->file.path;
    size_t bname_len = strlen(bname);
    if (bname_len > 1023)
        return err_set(w->e, PANDA_ERR_ARG, "cannot commit to %s: the base image's path is longer than "
                       "the 1023 bytes qcow2 allows", w->path);
    size_t fmt_len = strlen(base->format);
    size_t ext_len = 8 + ((fmt_len + 7) & ~(size_t)7) + 8; /* backing format, then the end */
    uint64_t bname_off = HEADER_LEN + ext_len;

    size_t meta_len = (size_t)CLUSTER * (size_t)(rt + rb > l1_clusters ? rt + rb : l1_clusters);
    uint8_t *meta = calloc(1, meta_len > CLUSTER ? meta_len : CLUSTER);
    uint8_t *buf = malloc(CLUSTER);
    panda_err err = PANDA_OK;
    if (!meta || !buf) {
        err = err_nomem(w->e, "the committed image's tables");
        goto out;
    }
    /* the header cluster */
    uint8_t *h = meta;
    blk_put_be32(h, BLK_QCOW2_MAGIC);
    blk_put_be32(h + 4, 3);
    blk_put_be64(h + 8, bname_off);
    blk_put_be32(h + 16, (uint32_t)bname_len);
    blk_put_be32(h + 20, CLUSTER_BITS);
    blk_put_be64(h + 24, size);
    blk_put_be32(h + 36, (uint32_t)l1_size);
    blk_put_be64(h + 40, l1_off);
    blk_put_be64(h + 48, rt_off);
    blk_put_be32(h + 56, (uint32_t)rt);
    blk_put_be32(h + 96, 4); /* refcount_order: 16-bit refcounts */
    blk_put_be32(h + 100, HEADER_LEN);
    /* byte 104, compression_type 0 (zlib), and padding: already zero */
    blk_put_be32(h + HEADER_LEN, 0xe2792acau);
    blk_put_be32(h + HEADER_LEN + 4, (uint32_t)fmt_len);
    memcpy(h + HEADER_LEN + 8, base->format, fmt_len);
    memcpy(h + bname_off, bname, bname_len);
    if ((err = put(w, 0, h, CLUSTER))) goto out;

    /* refcount table and blocks, laid out together */
    memset(meta, 0, meta_len);
    for (uint64_t i = 0; i < rb; i++) blk_put_be64(meta + 8 * i, rb_off + i * CLUSTER);
    uint8_t *blocks = meta + rt * CLUSTER;
    for (uint64_t c = 0; c < total; c++) {
        blocks[2 * c] = 0;
        blocks[2 * c + 1] = 1;
    }
    if ((err = put(w, rt_off, meta, (size_t)((rt + rb) * CLUSTER)))) goto out;

    /* L1: one L2 table per distinct 512 MiB region written, in order */
    memset(meta, 0, meta_len);
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t j = ov->chunks[slots[i]].index / L2_ENTRIES;
        if (i == 0 || j != ov->chunks[slots[i - 1]].index / L2_ENTRIES)
            blk_put_be64(meta + 8 * j, (l2_off + t++ * CLUSTER) | COPIED);
    }
    if (l1_clusters && (err = put(w, l1_off, meta, (size_t)(l1_clusters * CLUSTER)))) goto out;

    /* L2 tables, each written once its region's chunks are placed; and
     * the data clusters */
    memset(meta, 0, CLUSTER);
    t = 0;
    for (size_t i = 0; i < n; i++) {
        const ov_chunk *c = &ov->chunks[slots[i]];
        blk_put_be64(meta + 8 * (c->index % L2_ENTRIES), (data_off + i * CLUSTER) | COPIED);
        if (i + 1 == n || ov->chunks[slots[i + 1]].index / L2_ENTRIES != c->index / L2_ENTRIES) {
            if ((err = put(w, l2_off + t++ * CLUSTER, meta, CLUSTER))) goto out;
            memset(meta, 0, CLUSTER);
        }
        if ((err = blk_layer_read(img->top, w->e, c->index * CLUSTER, buf, CLUSTER)) ||
            (err = ov_chunk_data(ov, w->e, c, buf)) || (err = put(w, data_off + i * CLUSTER, buf, CLUSTER)))
            goto out;
    }
out:
    free(meta);
    free(buf);
    return err;
}

panda_err block_commit(panda_errbuf *e, block_image *img, const char *path)
{
    if (!img || !path) return err_set(e, PANDA_ERR_ARG, "block_commit: no image or no path");
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return err_set(e, PANDA_ERR_ARG, "path too long: %s", path);
    size_t *slots, n;
    panda_err err = ov_sorted(&img->ov, e, &slots, &n);
    if (err) return err;
    writer w = {open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), tmp, e};
    if (w.fd < 0) {
        free(slots);
        return err_set(e, PANDA_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    }
    err = write_image(&w, img, slots, n);
    free(slots);
    if (!err && fsync(w.fd) != 0) err = err_set(e, PANDA_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    if (close(w.fd) != 0 && !err) err = err_set(e, PANDA_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    /* complete or absent: the name appears only once every byte is there */
    if (!err && rename(tmp, path) != 0)
        err = err_set(e, PANDA_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (err) unlink(tmp);
    return err;
}
