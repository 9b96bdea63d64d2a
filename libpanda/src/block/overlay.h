/*
 * Inside the block layer: the copy-on-write overlay and the image that
 * holds it.  The overlay keeps guest writes in 64 KiB chunks (128 sectors,
 * one commit cluster) with a bitmap of the sectors written, so a write
 * never has to read the base, and a read takes each sector from the
 * overlay where the bitmap says so and from the base elsewhere.
 */
#ifndef LIBPANDA_BLOCK_OVERLAY_H
#define LIBPANDA_BLOCK_OVERLAY_H

#include "image.h"
#include "layer.h"

#define OV_CHUNK_SECTORS 128u
#define OV_CHUNK_BYTES (OV_CHUNK_SECTORS * BLOCK_SECTOR)

typedef struct ov_chunk {
    uint64_t index;     /* chunk number: sectors index*128 .. +127 */
    uint64_t map[2];    /* bit s: sector index*128+s was written */
    uint8_t *mem;       /* the data in memory, or NULL: in the spill file */
    uint64_t file_off;  /* the data's offset in the spill file */
} ov_chunk;

typedef struct overlay {
    uint64_t nsectors;
    ov_chunk *chunks;
    size_t nchunks, cap;
    size_t *hash;        /* open addressing: chunk slot + 1, 0 = empty */
    size_t hash_cap;     /* a power of two, or 0 */
    uint64_t mem_limit, mem_used;
    int spill_fd;        /* -1 until the first chunk past the limit */
    uint64_t spill_len;
    uint64_t sectors;    /* distinct sectors written */
} overlay;

void ov_init(overlay *ov, uint64_t nsectors, uint64_t mem_limit);
void ov_free(overlay *ov);
/* count sectors from sector (in range); unwritten ones come from base */
panda_err ov_read(overlay *ov, panda_errbuf *e, blk_layer *base, uint64_t sector, uint8_t *buf,
                  uint64_t count);
panda_err ov_write(overlay *ov, panda_errbuf *e, uint64_t sector, const uint8_t *buf, uint64_t count);
/* The chunks' slots in increasing chunk order (malloc'd; *n of them). */
panda_err ov_sorted(const overlay *ov, panda_errbuf *e, size_t **slots, size_t *n);
/* The written sectors of a chunk into buf (64 KiB); the others are left. */
panda_err ov_chunk_data(const overlay *ov, panda_errbuf *e, const ov_chunk *c, uint8_t *buf);

struct block_image {
    blk_layer *top;       /* the chain: top->backing->... */
    overlay ov;
    uint64_t nsectors;
    panda_errbuf err;     /* the last runtime failure */
    char note[512];
};

#endif
