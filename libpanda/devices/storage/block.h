/*
 * A disk as a storage device sees it: fixed-size 512-byte sectors read and
 * written by number.  The machine hands an IDE/ATAPI model one of these;
 * behind it is a block image (a raw or qcow2 file under a copy-on-write
 * overlay, libpanda/src/block/) or, in a replay, the recording's logged
 * sector data.  Every call is bounds-checked by the caller (the device
 * refuses a sector range past nsectors with an ATA error) and again by the
 * backend.
 */
#ifndef PANDA_DEVICES_STORAGE_BLOCK_H
#define PANDA_DEVICES_STORAGE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCK_SECTOR 512u

typedef struct block_backend {
    void *opaque;
    uint64_t nsectors;           /* the disk's size in sectors */
    bool read_only;              /* a CD-ROM, or a disk the guest may not write */
    /* 0 on success; -1 on failure (the device reports an ATA error) */
    int (*read)(void *opaque, uint64_t sector, void *buf, uint32_t count);
    int (*write)(void *opaque, uint64_t sector, const void *buf, uint32_t count);
    int (*flush)(void *opaque);
} block_backend;

#endif
