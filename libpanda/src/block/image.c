/* Opening an image and its backing chain; the image as a block_backend
 * (image.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "overlay.h"

bool block_format_parse(const char *name, block_format *out)
{
    static const struct { const char *name; block_format f; } names[] = {
        {"auto", BLOCK_FORMAT_AUTO}, {"raw", BLOCK_FORMAT_RAW}, {"qcow2", BLOCK_FORMAT_QCOW2}};
    for (size_t i = 0; name && i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].f;
            return true;
        }
    return false;
}

static void chain_free(blk_layer *l)
{
    while (l) {
        blk_layer *next = l->backing;
        l->free(l);
        l = next;
    }
}

/* A backing file name resolved as QEMU resolves it: an absolute name as
 * it is, a relative one against the directory of the image naming it. */
static char *resolve_backing(const char *image_path, const char *name)
{
    if (name[0] == '/') return str_dup(name);
    const char *slash = strrchr(image_path, '/');
    size_t dir = slash ? (size_t)(slash - image_path) + 1 : 0;
    size_t n = dir + strlen(name) + 1;
    char *out = malloc(n);
    if (out) {
        memcpy(out, image_path, dir);
        memcpy(out + dir, name, strlen(name) + 1);
    }
    return out;
}

/* Open one file of the chain as format (AUTO: probe). */
static panda_err open_layer(panda_errbuf *e, const char *path, block_format format, blk_layer **out,
                            char **backing_name, const char **backing_format, char *note, size_t note_len)
{
    blk_file f;
    panda_err err = blk_file_open(e, path, &f);
    if (err) return err;
    if (format == BLOCK_FORMAT_AUTO) format = blk_is_qcow2(&f) ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_RAW;
    *backing_name = NULL;
    *backing_format = NULL;
    if (format == BLOCK_FORMAT_RAW) return blk_raw_open(e, &f, out, note, note_len);
    return blk_qcow2_open(e, &f, out, backing_name, backing_format, note, note_len);
}

panda_err block_image_open(panda_errbuf *e, const char *path, block_format format, block_image **out)
{
    if (!path || !out) return err_set(e, PANDA_ERR_ARG, "block_image_open: no path");
    block_image *img = calloc(1, sizeof(*img));
    if (!img) return err_nomem(e, "a disk image");
    blk_layer *top = NULL, **link = &top, *prev = NULL;
    char *name = str_dup(path);
    if (!name) {
        free(img);
        return err_nomem(e, "a disk image's path");
    }
    panda_err err = PANDA_OK;
    /* the files of the chain so far, to refuse one named twice (a loop) */
    struct { dev_t dev; ino_t ino; } seen[BLOCK_MAX_CHAIN];
    for (unsigned depth = 0; name; depth++) {
        if (depth == BLOCK_MAX_CHAIN) {
            err = err_set(e, PANDA_ERR_ARG, "%s: the chain of backing files is deeper than %u images "
                          "(next: '%s')", path, BLOCK_MAX_CHAIN, name);
            break;
        }
        char *bname;
        const char *bfmt;
        blk_layer *l;
        err = open_layer(e, name, format, &l, &bname, &bfmt, depth ? NULL : img->note,
                         depth ? 0 : sizeof(img->note));
        if (err) {
            if (prev) { /* say which image asked for the backing file */
                panda_errbuf inner = *e;
                err_set(e, err, "the backing file of %s: %s", prev->file.path, inner.msg);
            }
            break;
        }
        *link = l;
        link = &l->backing;
        prev = l;
        for (unsigned i = 0; i < depth; i++)
            if (seen[i].dev == l->file.dev && seen[i].ino == l->file.ino) {
                err = err_set(e, PANDA_ERR_ARG, "%s: backing file loop: '%s' is already in the chain",
                              path, l->file.path);
                free(bname);
                bname = NULL;
                break;
            }
        seen[depth].dev = l->file.dev;
        seen[depth].ino = l->file.ino;
        free(name);
        name = NULL;
        if (err) break;
        if (bname) {
            name = resolve_backing(l->file.path, bname);
            free(bname);
            if (!name) {
                err = err_nomem(e, "a backing file's path");
                break;
            }
            format = !bfmt ? BLOCK_FORMAT_AUTO : strcmp(bfmt, "raw") == 0 ? BLOCK_FORMAT_RAW
                                                                          : BLOCK_FORMAT_QCOW2;
        }
    }
    free(name);
    if (err) {
        chain_free(top);
        free(img);
        return err;
    }
    img->top = top;
    img->nsectors = top->size / BLOCK_SECTOR;
    ov_init(&img->ov, img->nsectors, BLOCK_OVERLAY_MEMORY);
    *out = img;
    return PANDA_OK;
}

/* A drive with no image (block_image_blank): every read of the base fails. */
static panda_err blank_read(blk_layer *l, panda_errbuf *e, uint64_t off, void *buf, size_t len)
{
    (void)l;
    (void)buf;
    (void)len;
    return err_set(e, PANDA_ERR_UNSUPPORTED, "this drive has no image (it only replays a recording): "
                   "no data at byte %" PRIu64, off);
}

static void blank_free(blk_layer *l) { free(l); }

panda_err block_image_blank(panda_errbuf *e, uint64_t size, block_image **out)
{
    if (size < BLOCK_SECTOR || size % BLOCK_SECTOR)
        return err_set(e, PANDA_ERR_ARG, "a drive without an image needs a size in whole 512-byte sectors");
    block_image *img = calloc(1, sizeof(*img));
    blk_layer *l = calloc(1, sizeof(*l));
    if (!img || !l) {
        free(img);
        free(l);
        return err_nomem(e, "a disk");
    }
    l->file.fd = -1;
    l->format = "none";
    l->size = size;
    l->read = blank_read;
    l->free = blank_free;
    img->top = l;
    img->nsectors = size / BLOCK_SECTOR;
    ov_init(&img->ov, img->nsectors, BLOCK_OVERLAY_MEMORY);
    *out = img;
    return PANDA_OK;
}

void block_image_close(block_image *img)
{
    if (!img) return;
    ov_free(&img->ov);
    chain_free(img->top);
    free(img);
}

uint64_t block_image_size(const block_image *img) { return img->top->size; }
const char *block_image_error(const block_image *img) { return img->err.msg; }
const char *block_image_note(const block_image *img) { return img->note; }
uint64_t block_overlay_sectors(const block_image *img) { return img->ov.sectors; }
bool block_overlay_spilled(const block_image *img) { return img->ov.spill_fd >= 0; }

void block_image_set_memory_limit(block_image *img, uint64_t bytes)
{
    img->ov.mem_limit = bytes < OV_CHUNK_BYTES ? OV_CHUNK_BYTES : bytes;
}

static bool in_range(block_image *img, const char *op, uint64_t sector, uint32_t count)
{
    if (sector <= img->nsectors && count <= img->nsectors - sector) return true;
    err_set(&img->err, PANDA_ERR_ARG, "disk %s of %" PRIu32 " sectors at sector %" PRIu64 " is past the "
            "disk's %" PRIu64 " sectors", op, count, sector, img->nsectors);
    return false;
}

static int image_read(void *opaque, uint64_t sector, void *buf, uint32_t count)
{
    block_image *img = opaque;
    if (!in_range(img, "read", sector, count)) return -1;
    return ov_read(&img->ov, &img->err, img->top, sector, buf, count) ? -1 : 0;
}

static int image_write(void *opaque, uint64_t sector, const void *buf, uint32_t count)
{
    block_image *img = opaque;
    if (!in_range(img, "write", sector, count)) return -1;
    return ov_write(&img->ov, &img->err, sector, buf, count) ? -1 : 0;
}

/* Nothing to make durable: the overlay lives only as long as the process
 * (block_commit is what keeps it). */
static int image_flush(void *opaque)
{
    (void)opaque;
    return 0;
}

block_backend block_image_backend(block_image *img)
{
    return (block_backend){.opaque = img, .nsectors = img->nsectors, .read_only = false,
                           .read = image_read, .write = image_write, .flush = image_flush};
}
