/*
 * The MMC/SCSI command layer of an ATAPI CD-ROM drive: what a 12-byte
 * command packet means, independent of how it reached the drive (ide.c
 * carries the packets and their data over the PACKET command).
 *
 * The drive holds a disc of 2048-byte blocks, stored as the backend's
 * 512-byte sectors (block n is sectors 4n..4n+3); a backend whose size is
 * not a multiple of 4 sectors loses its tail, as on QEMU.  A command either
 * answers with a reply built in a buffer (INQUIRY, MODE SENSE, ...), or
 * asks the carrier to stream blocks from the disc (READ), or fails with
 * CHECK CONDITION, the sense data then saying why (REQUEST SENSE).
 *
 * Commands: TEST UNIT READY (00h), REQUEST SENSE (03h), INQUIRY (12h),
 * START STOP UNIT (1Bh), PREVENT ALLOW MEDIUM REMOVAL (1Eh), READ
 * CAPACITY (25h), READ(10) (28h), SEEK(10) (2Bh), READ TOC (43h, formats
 * 0 and 1, LBA and MSF), GET CONFIGURATION (46h: profile list, core,
 * morphing), GET EVENT STATUS NOTIFICATION (4Ah, polled, media class),
 * READ DISC INFORMATION (51h), MODE SENSE(10) (5Ah: pages 01h, 2Ah, 3Fh),
 * READ(12) (A8h), SET CD SPEED (BBh), MECHANISM STATUS (BDh).  Anything
 * else: ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (05/20), so no
 * command carries data from the host (none needs to).
 *
 * Media: a disc change gives UNIT ATTENTION / MEDIUM MAY HAVE CHANGED
 * (06/28) to the next command but INQUIRY, REQUEST SENSE and GET EVENT
 * STATUS NOTIFICATION, once (QEMU), and a "new media" event to GET EVENT
 * STATUS NOTIFICATION.  A guest may lock the tray (PREVENT MEDIUM
 * REMOVAL): its own eject (START STOP UNIT) then fails 02/53/02, and the
 * host's eject without force fails too, leaving an "eject request" event
 * for the guest.
 */
#ifndef PANDA_DEVICES_STORAGE_ATAPI_H
#define PANDA_DEVICES_STORAGE_ATAPI_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"
#include "storage/block.h"

#define ATAPI_BLOCK 2048u
#define ATAPI_CDB_LEN 12
#define ATAPI_REPLY_MAX 256u   /* the longest reply any command builds */

/* sense keys */
#define SENSE_NONE 0x0
#define SENSE_NOT_READY 0x2
#define SENSE_MEDIUM_ERROR 0x3
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION 0x6

typedef struct atapi_state {
    bool media;             /* a disc is in the drive */
    bool tray_open;         /* the guest ejected it (START STOP UNIT) */
    bool locked;            /* PREVENT MEDIUM REMOVAL */
    bool unit_attention;    /* a disc change not yet reported */
    uint64_t nblocks;       /* the disc's blocks (0 with no disc) */
    uint8_t sense_key, asc, ascq;
    uint8_t event;          /* GESN media event pending: ATAPI_EV_* */
} atapi_state;

enum { ATAPI_EV_NONE, ATAPI_EV_EJECT_REQUEST, ATAPI_EV_NEW_MEDIA, ATAPI_EV_MEDIA_REMOVAL, ATAPI_EV_COUNT };

typedef struct atapi_reply {
    bool ok;                /* GOOD status; false: CHECK CONDITION (sense set) */
    uint32_t len;           /* reply bytes in the buffer (not a read) */
    bool read;              /* data from the disc: nblocks blocks from lba */
    uint64_t lba;
    uint32_t nblocks;
} atapi_reply;

/* Power-on (lock, sense and events cleared) or a device reset (as QEMU:
 * sense cleared only); the disc stays either way. */
void atapi_reset(atapi_state *s, bool power_on);

/* Run one command packet; a reply (at most ATAPI_REPLY_MAX bytes, already
 * cut to the command's allocation length) goes to buf.  A read is range
 * checked here: the carrier then reads the blocks with atapi_read. */
void atapi_command(atapi_state *s, const uint8_t cdb[ATAPI_CDB_LEN], uint8_t *buf, atapi_reply *r);

/* n blocks from lba into buf (n * 2048 bytes); 0, or -1 after a backend
 * failure (sense MEDIUM ERROR / UNRECOVERED READ ERROR 03/11 set). */
int atapi_read(atapi_state *s, const block_backend *b, uint64_t lba, uint32_t n, uint8_t *buf);

/* The host side.  Insert a disc of nsectors 512-byte sectors (replacing
 * any); false if the drive holds a locked disc and force is not given
 * (an eject request is then left for the guest). */
bool atapi_insert(atapi_state *s, uint64_t nsectors, bool force);
/* Remove the disc; false if locked and not forced (eject request left). */
bool atapi_eject(atapi_state *s, bool force);

/* A read from the disc was under way when the host changed it: the sense
 * its CHECK CONDITION reports (NOT READY, or the change's UNIT ATTENTION). */
void atapi_interrupted(atapi_state *s);

void atapi_save(const atapi_state *s, state_writer *w);
void atapi_load(atapi_state *s, state_reader *r, const char *name);

#endif
