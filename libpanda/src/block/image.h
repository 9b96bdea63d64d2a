/*
 * Block images: a disk file (raw or qcow2, with a chain of qcow2 backing
 * files) opened read-only, under a copy-on-write overlay that takes every
 * guest write, exposed to a storage device as a block_backend.
 *
 * The base image is never written: the files are opened O_RDONLY.  Guest
 * writes go to the overlay, held in memory up to a limit (64 MiB unless
 * block_image_set_memory_limit says otherwise) and past it in an unlinked
 * temporary file in $TMPDIR (or /tmp), so nothing is left behind.  The
 * overlay can be saved into a snapshot and loaded back
 * (block_overlay_save/load), and written out as a new qcow2 v3 file whose
 * backing file is the base (block_commit).
 *
 * Every image file is hostile input: each header field, table offset and
 * length is checked against the file before it is used, and an image the
 * reader cannot read exactly as QEMU would is refused when opened, with a
 * message naming the file, the table and the offset.  Problems found only
 * while reading (a damaged L2 table, a compressed cluster that does not
 * inflate) fail that read; the message is in block_image_error().
 *
 * An image is used by one thread at a time (the machine's device thread).
 * This layer calls only base/ (and devices/state.c for snapshots) and
 * knows nothing of machines.
 */
#ifndef LIBPANDA_BLOCK_IMAGE_H
#define LIBPANDA_BLOCK_IMAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/base.h"
#include "state.h"
#include "storage/block.h"

typedef enum block_format {
    BLOCK_FORMAT_AUTO,  /* qcow2 if the file starts with QFI\xfb, else raw */
    BLOCK_FORMAT_RAW,
    BLOCK_FORMAT_QCOW2,
} block_format;

/* The deepest chain of backing files accepted (the image itself counts as
 * one); a deeper chain is refused, as is a chain that names a file twice. */
#define BLOCK_MAX_CHAIN 16

/* The overlay's default memory limit before it spills to a temporary file. */
#define BLOCK_OVERLAY_MEMORY (64u << 20)

typedef struct block_image block_image;

/* "qcow2", "raw" or "auto" -> the format; false for any other name. */
bool block_format_parse(const char *name, block_format *out);

/* Open path (and its backing chain) read-only.  PANDA_ERR_IO for a file
 * that cannot be opened or read, PANDA_ERR_UNSUPPORTED for a valid image
 * using a feature this reader refuses (encryption, external data file,
 * zstd compression, unknown incompatible features), PANDA_ERR_ARG for a
 * malformed or damaged image; e says which file and what. */
panda_err block_image_open(panda_errbuf *e, const char *path, block_format format,
                           block_image **out);
/* A disk of size bytes with no image behind its overlay: what a replay
 * uses when the recording's disk is gone (its reads come from the log);
 * reading an unwritten sector live fails with a message saying so. */
panda_err block_image_blank(panda_errbuf *e, uint64_t size, block_image **out);
void block_image_close(block_image *img);

/* The disk as a device sees it: nsectors = the virtual size rounded down
 * to a sector; writes go to the overlay; read_only is false. */
block_backend block_image_backend(block_image *img);
/* The virtual size in bytes (of the top image). */
uint64_t block_image_size(const block_image *img);
/* The message of the last failed read, write or overlay operation. */
const char *block_image_error(const block_image *img);
/* A remark made when opening (a raw file whose size is not a multiple of
 * 512, a dirty qcow2 opened read-only), or "" when there is none. */
const char *block_image_note(const block_image *img);

/* The overlay's memory before it spills to a temporary file (at least one
 * 64 KiB chunk; takes effect for chunks allocated from now on). */
void block_image_set_memory_limit(block_image *img, uint64_t bytes);
/* Sectors the guest has written (distinct), and whether any spilled. */
uint64_t block_overlay_sectors(const block_image *img);
bool block_overlay_spilled(const block_image *img);

/* Append the overlay (which sectors were written, and their data) to w. */
void block_overlay_save(block_image *img, state_writer *w);
/* Replace the overlay with one saved by block_overlay_save for an image of
 * the same size.  A refused state (r->failed, with the reason in
 * r->error) leaves the overlay as it was. */
bool block_overlay_load(block_image *img, state_reader *r);

/* Write the overlay to path as a qcow2 v3 image (64 KiB clusters, 16-bit
 * refcounts) whose backing file is the base image (its absolute path and
 * format), holding just the clusters the guest wrote: path.tmp first,
 * renamed when complete. */
panda_err block_commit(panda_errbuf *e, block_image *img, const char *path);

#endif
