/*
 * Inside the block layer: one read-only image file in a chain (a "layer"),
 * and the checked file access every format reader uses.
 */
#ifndef LIBPANDA_BLOCK_LAYER_H
#define LIBPANDA_BLOCK_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/base.h"

/* An open image file: its size is taken once when opened, and every read
 * must lie inside it (a file that shrinks later fails the read). */
typedef struct blk_file {
    int fd;
    uint64_t size;
    char *path;  /* absolute */
    dev_t dev;
    ino_t ino;
} blk_file;

panda_err blk_file_open(panda_errbuf *e, const char *path, blk_file *f);
void blk_file_close(blk_file *f);
/* Exactly len bytes at off, which must lie inside the file: otherwise an
 * error naming the file, what was read (e.g. "L2 table") and the range. */
panda_err blk_file_pread(panda_errbuf *e, const blk_file *f, const char *what, uint64_t off,
                         void *buf, size_t len);

typedef struct blk_layer blk_layer;
struct blk_layer {
    blk_file file;
    const char *format;       /* "raw" or "qcow2" */
    uint64_t size;            /* virtual size in bytes */
    blk_layer *backing;       /* or NULL */
    /* len bytes at off (off + len <= size): 0, or an error in e */
    panda_err (*read)(blk_layer *l, panda_errbuf *e, uint64_t off, void *buf, size_t len);
    void (*free)(blk_layer *l);
};

/* Read from a layer that may be shorter than the range (a backing file
 * smaller than its overlay): bytes past its end read as zeros; a NULL
 * layer reads all zeros. */
panda_err blk_layer_read(blk_layer *l, panda_errbuf *e, uint64_t off, void *buf, size_t len);

/* Format readers: take ownership of f (closed on failure).  *backing_name
 * (malloc'd, or NULL) and *backing_format ("raw", "qcow2" or NULL: probe)
 * say what the image names as its backing file; the caller opens it. */
panda_err blk_raw_open(panda_errbuf *e, blk_file *f, blk_layer **out, char *note, size_t note_len);
panda_err blk_qcow2_open(panda_errbuf *e, blk_file *f, blk_layer **out, char **backing_name,
                         const char **backing_format, char *note, size_t note_len);

/* The file starts with the qcow2 magic. */
bool blk_is_qcow2(const blk_file *f);

#define BLK_QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */

static inline uint64_t blk_be64(const uint8_t *p)
{
    return (uint64_t)p[0] << 56 | (uint64_t)p[1] << 48 | (uint64_t)p[2] << 40 |
           (uint64_t)p[3] << 32 | (uint64_t)p[4] << 24 | (uint64_t)p[5] << 16 |
           (uint64_t)p[6] << 8 | p[7];
}

static inline uint32_t blk_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void blk_put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline void blk_put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

#endif
