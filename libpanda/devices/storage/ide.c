/*
 * PIIX3 IDE: the PCI function, two legacy ATA channels, bus-master DMA,
 * and ATA disks behind them (block.h).
 *
 * Task file (per channel, both devices latch every write, as on the
 * cable): data 0, error/features 1, sector count 2, LBA low 3, mid 4,
 * high 5, device 6, status/command 7; alternate status/device control at
 * the control port.  Writing a task-file register pushes its old value
 * into the "HOB" copy that LBA48 commands read as the high bytes, and
 * clears device control's HOB bit, which selects those copies for reads.
 * Register writes other than the command are ignored while the selected
 * device is BSY or has DRQ; so is a command (as in QEMU).
 *
 * Devices: a selected device that is absent reads status and error 0
 * (libata then gives up on it: "NODEV after polling detection") and its
 * commands are ignored; an empty channel reads 0 in every register but
 * the data port.  A disk runs every command synchronously: when the
 * command register is written the command has completed or is waiting
 * for the host (DRQ for PIO data, the bus master for DMA), so BSY is only
 * seen while device control's SRST is held.
 *
 * Commands: IDENTIFY DEVICE; READ/WRITE SECTORS (20h/21h, 30h/31h) and
 * EXT (24h, 34h); READ/WRITE MULTIPLE (C4h, C5h) and EXT (29h, 39h) after
 * SET MULTIPLE (C6h; 1-16 sectors, power of two; 16 after reset, as
 * QEMU); READ/WRITE DMA (C8h/C9h, CAh/CBh) and EXT (25h, 35h); READ
 * VERIFY (40h/41h, 42h); FLUSH CACHE (E7h, EAh); SET FEATURES (EFh:
 * transfer mode 03h for PIO 0-4, single- and multiword DMA 0-2; write
 * cache on/off 02h/82h; QEMU's no-op subcommands); EXECUTE DEVICE
 * DIAGNOSTIC (90h); READ NATIVE MAX ADDRESS (F8h, 27h); CHECK POWER MODE
 * (E5h); and, as no-ops that succeed, RECALIBRATE (1xh), SEEK (7xh),
 * INITIALIZE DEVICE PARAMETERS (91h, the translation is kept at 16
 * heads, 63 sectors), the standby/idle commands (E0h-E3h).  Anything else
 * (NOP, DEVICE RESET, PACKET and IDENTIFY PACKET DEVICE on a disk, UDMA
 * modes) is aborted: ERR, error ABRT.
 *
 * Errors: a sector range past the disk's end (or a CHS address outside
 * the geometry) is refused before anything moves: ERR, error IDNF, the
 * LBA registers at the first sector that does not exist.  A backend
 * failure: ERR, error UNC (read) or ABRT (write), the LBA registers at
 * the failed block's first sector, the count register at the sectors not
 * transferred.  A write to a read-only disk is aborted.
 *
 * Interrupts: a device's INTRQ is pending after a command completes,
 * after each PIO data-in block is ready and after each PIO data-out block
 * but the first (the ATA protocols); reading the status register (not
 * alternate status) or writing the command clears it, as does SRST.  The
 * channel's line is the selected device's INTRQ unless device control's
 * nIEN is set.  Each time an interrupt reaches the line the bus master's
 * interrupt bit is set too (PIIX, QEMU), which ata_piix reads for DMA
 * commands and clears by writing it back.
 *
 * Bus master (per channel: command +0 [start bit 0, direction bit 3,
 * stored: the ATA command decides], status +2 [active 0, error 1 and
 * interrupt 2 write-one-to-clear, drive DMA capable 5-6], PRD table
 * pointer +4..+7 [dword aligned]).  Start 0->1 sets active; a DMA command
 * pending with active set runs to completion at once.  Each run walks the
 * PRD table from its start: 8-byte entries {address, byte count (bit 0
 * ignored, 0 = 64 KiB) | EOT bit 31}, at most 8192 of them (the 64 KiB a
 * PIIX table may span).  A table that ends before the transfer does
 * (EOT, or 8192 entries) moves nothing; the drive drops DRQ and active is
 * cleared, with no interrupt (QEMU; the guest's timeout recovers).  One
 * longer than the transfer: the transfer completes and active stays set
 * (the PIIX's "PRD not exhausted").  A PRD table or data address the DMA
 * port refuses (outside RAM), or bus mastering disabled in the command
 * register: bus-master error and interrupt, active cleared, and the
 * command aborted (ERR, ABRT) with an interrupt.
 */
#include "storage/ide.h"
#include "storage/atapi.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytewise.h"
#include "pci/pci_regs.h"

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DSC 0x10
#define ST_DRDY 0x40
#define ST_BSY 0x80
#define ST_BITS (ST_ERR | ST_DRQ | ST_DSC | ST_DRDY | ST_BSY)

#define ER_DIAG_OK 0x01
#define ER_ABRT 0x04
#define ER_IDNF 0x10
#define ER_UNC 0x40
#define ER_BITS (ER_DIAG_OK | ER_ABRT | ER_IDNF | ER_UNC)
#define ER_CD_BITS (ER_BITS | 0xF0) /* a CD-ROM's error: the sense key in bits 4-7 */

/* ATAPI interrupt reason (the sector count register) */
#define IR_COD 0x01 /* command (the packet, or the status at the end) */
#define IR_IO 0x02  /* to the host */

#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80
#define CTL_BITS (CTL_NIEN | CTL_SRST | CTL_HOB)

#define DEV_LBA 0x40
#define DEV_UNIT 0x10
#define DEV_ALWAYS 0xA0

#define BM_START 0x01
#define BM_CMD_BITS 0x09
#define BM_ACTIVE 0x01
#define BM_ERROR 0x02
#define BM_INTR 0x04
#define BM_STATUS_BITS 0x67

#define PRD_MAX 8192
#define DMA_CHUNK_SECTORS 128 /* sectors per backend call in a DMA run */
#define HEADS 16
#define SPT 63
#define LBA48_LIMIT (1ull << 48)

#define CFG_BAR4 0x20
#define CFG_IDETIM 0x40

enum phase { PH_IDLE, PH_PIO_IN, PH_PIO_OUT, PH_DMA, PH_COUNT };

struct drive {
    bool present;            /* wiring */
    bool cd;                 /* wiring: an ATAPI CD-ROM drive */
    block_backend disk;      /* wiring; a CD-ROM's disc, whose size is at.nblocks */
    atapi_state at;          /* a CD-ROM's drive and disc */
    uint8_t feature, hob_feature, nsector, hob_nsector;
    uint8_t sector, hob_sector, lcyl, hob_lcyl, hcyl, hob_hcyl;
    uint8_t select, status, error;
    uint8_t mult;            /* SET MULTIPLE: sectors per block, 0 = off */
    uint8_t xfer_mode;       /* SET FEATURES 03h's count, 0 = default */
    bool write_cache;
    bool intrq;              /* interrupt pending */
};

struct channel {
    struct drive d[2];
    irq_line irq;            /* wiring */
    int line;                /* the level irq is driven at */
    uint8_t unit, ctl;
    /* the command in progress on d[unit] (PH_IDLE: none, all 0) */
    uint8_t phase, cmd;
    uint64_t lba;            /* the next sector to move */
    uint32_t remaining;      /* sectors not yet moved, the current block's included */
    uint32_t block;          /* sectors in the current PIO block */
    uint32_t pos, len;       /* bytes of the PIO block moved, and its size */
    /* PACKET: the data still on the disc (bytes from block lba on), the
     * host's byte count limit for a PIO DRQ, and whether the data is the
     * disc's (else a reply in buf); block is then the bytes in buf, and a
     * DRQ is buf[pos..len) */
    uint64_t xfer_left;
    uint16_t bcl;
    uint8_t from_disc;
    uint8_t buf[IDE_MAX_MULT * BLOCK_SECTOR];
    uint8_t bm_cmd, bm_status;
    uint32_t bm_prd;
};

struct prd_piece {
    uint32_t addr, len;
};

struct piix_ide {
    struct channel ch[2];
    pci_regs cfg;
    dma_port dma;            /* wiring */
    ide_hooks hooks;         /* wiring */
    uint16_t direct_boot_bmdma;
    uint32_t bm_base;        /* what bmdma_moved last reported */
    uint64_t unmodelled;
    struct port {
        struct piix_ide *ide;
        int ch;
    } port[2];               /* wiring: the opaque of each channel's ports */
    /* scratch for a DMA run, never saved (a run completes within a call) */
    struct dma_scratch {
        struct prd_piece prd[PRD_MAX];
        uint8_t buf[DMA_CHUNK_SECTORS * BLOCK_SECTOR];
    } *scratch;
};

/* ---- interrupts ---- */

static struct drive *cur(struct channel *c)
{
    return &c->d[c->unit & 1];
}

static int line_wanted(const struct channel *c)
{
    const struct drive *d = &c->d[c->unit & 1];
    return d->present && d->intrq && !(c->ctl & CTL_NIEN);
}

static void update_irq(struct channel *c)
{
    int want = line_wanted(c);
    if (want == c->line) return;
    if (want) c->bm_status |= BM_INTR; /* an interrupt reached the line */
    c->line = want;
    irq_set(&c->irq, want);
}

/* The selected device asks for an interrupt. */
static void raise(struct channel *c)
{
    cur(c)->intrq = true;
    /* a second interrupt while the line is still high: the PIIX sees it too */
    if (line_wanted(c)) c->bm_status |= BM_INTR;
    update_irq(c);
}

/* ---- addresses ---- */

static uint32_t cylinders(uint64_t nsectors)
{
    uint64_t c = nsectors / (HEADS * SPT);
    return c > 16383 ? 16383 : c < 2 ? 2 : (uint32_t)c;
}

static bool is_ext(uint8_t cmd)
{
    return cmd == 0x24 || cmd == 0x29 || cmd == 0x34 || cmd == 0x39 || cmd == 0x25 ||
           cmd == 0x35 || cmd == 0x42 || cmd == 0x27 || cmd == 0xEA;
}

static bool is_multiple(uint8_t cmd)
{
    return cmd == 0xC4 || cmd == 0xC5 || cmd == 0x29 || cmd == 0x39;
}

/* The command's first sector; false for a CHS address outside the
 * geometry (sector 0, a head or sector past it). */
static bool command_lba(const struct drive *d, bool ext, uint64_t *lba)
{
    if (ext) {
        *lba = (uint64_t)d->hob_hcyl << 40 | (uint64_t)d->hob_lcyl << 32 |
               (uint64_t)d->hob_sector << 24 | (uint64_t)d->hcyl << 16 | (uint64_t)d->lcyl << 8 |
               d->sector;
        return true;
    }
    if (d->select & DEV_LBA) {
        *lba = (uint64_t)(d->select & 0x0F) << 24 | (uint64_t)d->hcyl << 16 |
               (uint64_t)d->lcyl << 8 | d->sector;
        return true;
    }
    unsigned cyl = (unsigned)d->hcyl << 8 | d->lcyl, head = d->select & 0x0F, s = d->sector;
    if (s == 0 || s > SPT) return false;
    *lba = ((uint64_t)cyl * HEADS + head) * SPT + s - 1;
    return true;
}

static uint32_t command_count(const struct drive *d, bool ext)
{
    uint32_t n = ext ? (uint32_t)d->hob_nsector << 8 | d->nsector : d->nsector;
    return n ? n : ext ? 65536u : 256u;
}

/* Put lba into the address registers in the command's form. */
static void set_lba(struct drive *d, uint64_t lba, bool ext)
{
    if (ext || (d->select & DEV_LBA)) {
        d->sector = (uint8_t)lba;
        d->lcyl = (uint8_t)(lba >> 8);
        d->hcyl = (uint8_t)(lba >> 16);
        if (ext) {
            d->hob_sector = (uint8_t)(lba >> 24);
            d->hob_lcyl = (uint8_t)(lba >> 32);
            d->hob_hcyl = (uint8_t)(lba >> 40);
        } else {
            d->select = (uint8_t)((d->select & 0xF0) | ((lba >> 24) & 0x0F));
        }
        return;
    }
    uint64_t cyl = lba / (HEADS * SPT);
    d->sector = (uint8_t)(lba % SPT + 1);
    d->select = (uint8_t)((d->select & 0xF0) | ((lba / SPT) % HEADS));
    d->lcyl = (uint8_t)cyl;
    d->hcyl = (uint8_t)(cyl >> 8);
}

static void set_count(struct drive *d, uint32_t n, bool ext)
{
    d->nsector = (uint8_t)n;
    if (ext) d->hob_nsector = (uint8_t)(n >> 8);
}

/* ---- command completion ---- */

static void end_transfer(struct channel *c)
{
    c->phase = PH_IDLE;
    c->cmd = 0;
    c->lba = 0;
    c->remaining = c->block = c->pos = c->len = 0;
    c->xfer_left = 0;
    c->bcl = 0;
    c->from_disc = 0;
}

static void complete(struct channel *c)
{
    struct drive *d = cur(c);
    end_transfer(c);
    d->status = ST_DRDY | ST_DSC;
    d->error = 0;
    raise(c);
}

static void fail(struct channel *c, uint8_t error)
{
    struct drive *d = cur(c);
    end_transfer(c);
    d->status = ST_DRDY | ST_ERR;
    d->error = error;
    raise(c);
}

/* A transfer that failed at sector lba with n sectors not moved. */
static void fail_at(struct channel *c, uint8_t error, uint64_t lba, uint32_t n)
{
    struct drive *d = cur(c);
    bool ext = is_ext(c->cmd);
    set_lba(d, lba, ext);
    set_count(d, n, ext);
    fail(c, error);
}

/* ---- IDENTIFY DEVICE ---- */

static void put_word(uint8_t *p, unsigned word, uint16_t v)
{
    p[2 * word] = (uint8_t)v;
    p[2 * word + 1] = (uint8_t)(v >> 8);
}

/* ATA strings: two characters a word, the first in the high byte, padded
 * with spaces. */
static void put_string(uint8_t *p, unsigned word, unsigned words, const char *s)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < 2 * words; i++) p[2 * word + (i ^ 1)] = (uint8_t)(i < n ? s[i] : ' ');
}

static void identify(const struct drive *d, int channel, int unit, uint8_t *p)
{
    uint64_t n = d->disk.nsectors;
    uint32_t cyls = cylinders(n);
    uint64_t chs = (uint64_t)cyls * HEADS * SPT;
    if (chs > n) chs = n;
    uint32_t lba28 = n >= (1u << 28) ? (1u << 28) - 1 : (uint32_t)n;
    char serial[16]; /* PP00001..PP00004, as QEMU's QM00001.. */
    snprintf(serial, sizeof serial, "PP%05d", channel * 2 + unit + 1);
    unsigned mode = d->xfer_mode & 7, kind = d->xfer_mode >> 3;

    memset(p, 0, BLOCK_SECTOR);
    put_word(p, 0, 0x0040);                  /* fixed disk */
    put_word(p, 1, (uint16_t)cyls);
    put_word(p, 3, HEADS);
    put_word(p, 4, 512 * SPT);
    put_word(p, 5, 512);
    put_word(p, 6, SPT);
    put_string(p, 10, 10, serial);
    put_word(p, 20, 3);
    put_word(p, 21, 512);                    /* buffer size, sectors */
    put_word(p, 22, 4);
    put_string(p, 23, 4, "1.0");             /* firmware revision */
    put_string(p, 27, 20, "PYPANDA HARDDISK");
    put_word(p, 47, 0x8000 | IDE_MAX_MULT);
    put_word(p, 48, 1);                      /* dword I/O */
    put_word(p, 49, 1 << 11 | 1 << 9 | 1 << 8); /* IORDY, LBA, DMA */
    put_word(p, 51, 0x200);
    put_word(p, 52, 0x200);
    put_word(p, 53, 1 | 1 << 1 | 1 << 2);    /* words 54-58, 64-70, 88 valid */
    put_word(p, 54, (uint16_t)cyls);
    put_word(p, 55, HEADS);
    put_word(p, 56, SPT);
    put_word(p, 57, (uint16_t)chs);
    put_word(p, 58, (uint16_t)(chs >> 16));
    if (d->mult) put_word(p, 59, (uint16_t)(0x100 | d->mult));
    put_word(p, 60, (uint16_t)lba28);
    put_word(p, 61, (uint16_t)(lba28 >> 16));
    /* single- and multiword DMA 0-2 supported; the selected one */
    put_word(p, 62, (uint16_t)(0x07 | (kind == 2 ? 1u << (8 + mode) : 0)));
    put_word(p, 63, (uint16_t)(0x07 | (kind == 4 ? 1u << (8 + mode) : 0)));
    put_word(p, 64, 0x03);                   /* PIO 3-4 */
    put_word(p, 65, 120);
    put_word(p, 66, 120);
    put_word(p, 67, 120);
    put_word(p, 68, 120);
    put_word(p, 80, 0xF0);                   /* ATA-4 to ATA-7 */
    put_word(p, 81, 0x16);
    put_word(p, 82, 1 << 14 | 1 << 5);       /* NOP, write cache */
    put_word(p, 83, 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10); /* flush ext, flush, LBA48 */
    put_word(p, 84, 1 << 14);
    put_word(p, 85, (uint16_t)(1 << 14 | (d->write_cache ? 1 << 5 : 0)));
    put_word(p, 86, 1 << 13 | 1 << 12 | 1 << 10);
    put_word(p, 87, 1 << 14);
    put_word(p, 93, 1 | 1 << 14 | 1 << 13);  /* device 0 passed, 80-wire cable */
    for (int i = 0; i < 4; i++) put_word(p, 100 + (unsigned)i, (uint16_t)(n >> (16 * i)));
    /* integrity word: signature A5h, and a checksum making the bytes sum to 0 */
    p[510] = 0xA5;
    uint8_t sum = 0;
    for (int i = 0; i < 511; i++) sum = (uint8_t)(sum + p[i]);
    p[511] = (uint8_t)-sum;
}

/* ---- PIO ---- */

/* ATAPI (below) */
static void atapi_packet(piix_ide *ide, int ch);
static void atapi_pio_done(piix_ide *ide, int ch);
static void cd_signature(struct drive *d);

/* offset: bytes from the start of the disk (or disc) */
static void emit(piix_ide *ide, int ch, ide_transfer_kind kind, bool dma, uint64_t offset,
                 uint32_t len, const uint8_t *data)
{
    if (!ide->hooks.transfer) return;
    ide_transfer t = {kind, ch, ide->ch[ch].unit & 1, dma, offset, len, 0, data};
    ide->hooks.transfer(ide->hooks.opaque, &t);
}

static uint32_t block_size(const struct channel *c)
{
    uint32_t bs = is_multiple(c->cmd) ? c->d[c->unit & 1].mult : 1;
    return bs < c->remaining ? bs : c->remaining;
}

/* Data-in: read the next block and offer it (DRQ, interrupt). */
static void pio_in_block(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    uint32_t n = block_size(c);
    if (d->disk.read(d->disk.opaque, c->lba, c->buf, n) != 0) {
        fail_at(c, ER_UNC, c->lba, c->remaining);
        return;
    }
    emit(ide, ch, IDE_DISK_TO_BUFFER, false, c->lba * BLOCK_SECTOR, n * BLOCK_SECTOR, c->buf);
    c->block = n;
    c->pos = 0;
    c->len = n * BLOCK_SECTOR;
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    raise(c);
}

/* Data-out: ask for the next block (DRQ; an interrupt for all but the
 * first). */
static void pio_out_block(struct channel *c, bool first)
{
    c->block = block_size(c);
    c->pos = 0;
    c->len = c->block * BLOCK_SECTOR;
    cur(c)->status = ST_DRDY | ST_DSC | ST_DRQ;
    if (!first) raise(c);
}

/* The guest has moved the whole block through the data port. */
static void pio_block_done(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    if (c->cmd == 0xA0) {
        if (c->phase == PH_PIO_OUT)
            atapi_packet(ide, ch);
        else
            atapi_pio_done(ide, ch);
        return;
    }
    if (c->cmd == 0xEC || c->cmd == 0xA1) { /* IDENTIFY: no sectors */
        end_transfer(c);
        d->status = ST_DRDY | ST_DSC;
        return;
    }
    uint32_t n = c->block;
    bool ext = is_ext(c->cmd);
    if (c->phase == PH_PIO_IN) {
        emit(ide, ch, IDE_BUFFER_TO_PORT, false, c->lba * BLOCK_SECTOR, c->len, c->buf);
    } else {
        emit(ide, ch, IDE_PORT_TO_BUFFER, false, c->lba * BLOCK_SECTOR, c->len, c->buf);
        if (!d->disk.write || d->disk.write(d->disk.opaque, c->lba, c->buf, n) != 0) {
            fail_at(c, ER_ABRT, c->lba, c->remaining);
            return;
        }
        emit(ide, ch, IDE_BUFFER_TO_DISK, false, c->lba * BLOCK_SECTOR, c->len, c->buf);
    }
    c->lba += n;
    c->remaining -= n;
    if (c->remaining) {
        if (c->phase == PH_PIO_IN)
            pio_in_block(ide, ch);
        else
            pio_out_block(c, false);
        return;
    }
    set_lba(d, c->lba - 1, ext);
    set_count(d, 0, ext);
    if (c->phase == PH_PIO_IN) { /* data-in ends with the last block: no interrupt */
        end_transfer(c);
        d->status = ST_DRDY | ST_DSC;
    } else {
        complete(c);
    }
}

static bool data_ready(const struct channel *c, enum phase ph)
{
    return c->phase == ph && (c->d[c->unit & 1].status & ST_DRQ) && c->pos < c->len;
}

static uint16_t data_read16(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    if (!data_ready(c, PH_PIO_IN)) {
        ide->unmodelled++;
        return 0; /* no DRQ: QEMU's answer */
    }
    uint16_t v = (uint16_t)(c->buf[c->pos] | c->buf[c->pos + 1] << 8);
    c->pos += 2;
    if (c->pos >= c->len) pio_block_done(ide, ch);
    return v;
}

static void data_write16(piix_ide *ide, int ch, uint16_t v)
{
    struct channel *c = &ide->ch[ch];
    if (!data_ready(c, PH_PIO_OUT)) {
        ide->unmodelled++;
        return;
    }
    c->buf[c->pos] = (uint8_t)v;
    c->buf[c->pos + 1] = (uint8_t)(v >> 8);
    c->pos += 2;
    if (c->pos >= c->len) pio_block_done(ide, ch);
}

size_t piix_ide_data_in(piix_ide *ide, int channel, void *buf, size_t len)
{
    if (!ide || channel < 0 || channel > 1 || !buf) return 0;
    struct channel *c = &ide->ch[channel];
    uint8_t *out = buf;
    size_t done = 0;
    len &= ~(size_t)1;
    while (done < len && data_ready(c, PH_PIO_IN)) {
        size_t n = c->len - c->pos;
        /* an odd-length ATAPI reply ends in a whole word, as 16-bit
         * accesses read it (len - done is even; replies are short, so
         * buf[c->len] exists) */
        if (n & 1) n++;
        if (n > len - done) n = len - done;
        memcpy(out + done, c->buf + c->pos, n);
        c->pos += (uint32_t)n;
        done += n;
        if (c->pos >= c->len) pio_block_done(ide, channel);
    }
    return done;
}

size_t piix_ide_data_out(piix_ide *ide, int channel, const void *buf, size_t len)
{
    if (!ide || channel < 0 || channel > 1 || !buf) return 0;
    struct channel *c = &ide->ch[channel];
    const uint8_t *in = buf;
    size_t done = 0;
    len &= ~(size_t)1;
    while (done < len && data_ready(c, PH_PIO_OUT)) {
        size_t n = c->len - c->pos;
        if (n > len - done) n = len - done;
        memcpy(c->buf + c->pos, in + done, n);
        c->pos += (uint32_t)n;
        done += n;
        if (c->pos >= c->len) pio_block_done(ide, channel);
    }
    return done;
}

/* ---- bus-master DMA ---- */

static void dma_fail(struct channel *c)
{
    c->bm_status = (uint8_t)((c->bm_status | BM_ERROR) & ~BM_ACTIVE);
    fail(c, ER_ABRT);
}

/* Collect the PRD pieces covering need bytes into ide->prd; returns the
 * number of pieces, 0 if the table runs out first, -1 if a PRD read is
 * refused.  *exhausted: the last piece used ends the table (EOT) exactly. */
static int prd_walk(piix_ide *ide, struct channel *c, uint64_t need, bool *exhausted)
{
    uint64_t total = 0;
    *exhausted = false;
    for (int i = 0; i < PRD_MAX; i++) {
        uint8_t e[8];
        if (!dma_read(&ide->dma, (uint64_t)c->bm_prd + 8u * (unsigned)i, e, sizeof e)) return -1;
        uint32_t addr = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
        uint32_t len = ((uint32_t)e[4] | (uint32_t)e[5] << 8) & 0xFFFE;
        bool eot = e[7] & 0x80;
        if (len == 0) len = 0x10000;
        if (len > need - total) {
            len = (uint32_t)(need - total);
            eot = false; /* ends inside this entry: the table is not used up */
        }
        ide->scratch->prd[i] = (struct prd_piece){addr, len};
        total += len;
        if (total == need) {
            *exhausted = eot;
            return i + 1;
        }
        if (eot) return 0;
    }
    return 0;
}

/* Where a DMA run is in its PRD pieces. */
struct dma_cursor {
    int piece, npieces;
    uint32_t off; /* bytes of ide->scratch->prd[piece] already moved */
};

/* Move bytes of buf (to_ram: into guest RAM, else from it) over the next
 * PRD pieces; offset: the disk offset of buf[0] for the hooks, which fire
 * only for disk data (hooked).  False if the DMA port refuses. */
static bool dma_copy(piix_ide *ide, int ch, struct dma_cursor *cur, bool to_ram, uint8_t *buf, uint32_t bytes,
                     uint64_t offset, bool hooked)
{
    struct channel *c = &ide->ch[ch];
    ide_transfer_kind kind = to_ram ? IDE_DISK_TO_RAM : IDE_RAM_TO_DISK;
    for (uint32_t off = 0; off < bytes;) {
        struct prd_piece *p = &ide->scratch->prd[cur->piece];
        uint32_t m = p->len - cur->off;
        if (m > bytes - off) m = bytes - off;
        uint64_t addr = (uint64_t)p->addr + cur->off;
        ide_transfer t = {kind, ch, c->unit & 1, true, offset + off, m, addr, buf + off};
        if (hooked && ide->hooks.dma_before) ide->hooks.dma_before(ide->hooks.opaque, &t);
        bool ok = to_ram ? dma_write(&ide->dma, addr, buf + off, m) : dma_read(&ide->dma, addr, buf + off, m);
        if (!ok) return false;
        if (hooked && ide->hooks.transfer) ide->hooks.transfer(ide->hooks.opaque, &t);
        off += m;
        cur->off += m;
        if (cur->off == p->len && cur->piece + 1 < cur->npieces) {
            cur->piece++;
            cur->off = 0;
        }
    }
    return true;
}

static void run_atapi_dma(piix_ide *ide, int ch);

static void run_dma(piix_ide *ide, int ch)
{
    if (ide->ch[ch].cmd == 0xA0) {
        run_atapi_dma(ide, ch);
        return;
    }
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    bool to_ram = c->cmd == 0xC8 || c->cmd == 0xC9 || c->cmd == 0x25;
    if (!(pci_regs_w16(&ide->cfg, PCI_REG_COMMAND) & PCI_COMMAND_MASTER)) {
        dma_fail(c);
        return;
    }
    uint64_t need = (uint64_t)c->remaining * BLOCK_SECTOR;
    bool exhausted;
    int npieces = prd_walk(ide, c, need, &exhausted);
    if (npieces < 0) {
        dma_fail(c);
        return;
    }
    if (npieces == 0) { /* the table is shorter than the transfer */
        end_transfer(c);
        d->status = ST_DRDY | ST_DSC;
        c->bm_status &= (uint8_t)~BM_ACTIVE;
        return;
    }
    struct dma_cursor cursor = {0, npieces, 0};
    while (c->remaining) {
        uint32_t n = c->remaining < DMA_CHUNK_SECTORS ? c->remaining : DMA_CHUNK_SECTORS;
        uint32_t bytes = n * BLOCK_SECTOR;
        if (to_ram) {
            if (d->disk.read(d->disk.opaque, c->lba, ide->scratch->buf, n) != 0) {
                c->bm_status &= (uint8_t)~BM_ACTIVE;
                fail_at(c, ER_UNC, c->lba, c->remaining);
                return;
            }
            emit(ide, ch, IDE_DISK_TO_BUFFER, true, c->lba * BLOCK_SECTOR, bytes, ide->scratch->buf);
        }
        /* scatter/gather this chunk over the pieces */
        if (!dma_copy(ide, ch, &cursor, to_ram, ide->scratch->buf, bytes, c->lba * BLOCK_SECTOR, true)) {
            dma_fail(c);
            return;
        }
        if (!to_ram) {
            if (!d->disk.write || d->disk.write(d->disk.opaque, c->lba, ide->scratch->buf, n) != 0) {
                c->bm_status &= (uint8_t)~BM_ACTIVE;
                fail_at(c, ER_ABRT, c->lba, c->remaining);
                return;
            }
            emit(ide, ch, IDE_BUFFER_TO_DISK, true, c->lba * BLOCK_SECTOR, bytes, ide->scratch->buf);
        }
        c->lba += n;
        c->remaining -= n;
    }
    bool ext = is_ext(c->cmd);
    set_lba(d, c->lba - 1, ext);
    set_count(d, 0, ext);
    if (exhausted) c->bm_status &= (uint8_t)~BM_ACTIVE;
    complete(c);
}

static void try_dma(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    if (c->phase == PH_DMA && (c->bm_cmd & BM_START) && (c->bm_status & BM_ACTIVE)) run_dma(ide, ch);
}

/* ---- commands ---- */

/* The sector command moves data to the disk. */
static bool writes_disk(enum phase ph, uint8_t cmd)
{
    return ph == PH_PIO_OUT || cmd == 0xCA || cmd == 0xCB || cmd == 0x35;
}

/* Start a sector command: check the range, then PIO or DMA. */
static void start_sectors(piix_ide *ide, int ch, uint8_t cmd, enum phase ph)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    bool ext = is_ext(cmd), write = writes_disk(ph, cmd);
    if (is_multiple(cmd) && !d->mult) {
        fail(c, ER_ABRT);
        return;
    }
    if (write && (d->disk.read_only || !d->disk.write)) {
        fail(c, ER_ABRT);
        return;
    }
    uint64_t lba;
    uint32_t count = command_count(d, ext);
    if (!command_lba(d, ext, &lba)) {
        fail(c, ER_IDNF);
        return;
    }
    if (lba >= d->disk.nsectors || count > d->disk.nsectors - lba) {
        set_lba(d, lba > d->disk.nsectors ? lba : d->disk.nsectors, ext);
        fail(c, ER_IDNF);
        return;
    }
    c->cmd = cmd;
    c->phase = (uint8_t)ph;
    c->lba = lba;
    c->remaining = count;
    if (ph == PH_PIO_IN) {
        pio_in_block(ide, ch);
    } else if (ph == PH_PIO_OUT) {
        pio_out_block(c, true);
    } else {
        d->status = ST_DRDY | ST_DSC | ST_DRQ; /* waiting for the bus master */
        try_dma(ide, ch);
    }
}

/* SET FEATURES 03h: the transfer modes the identify block advertises. */
static bool xfer_mode_ok(uint8_t v)
{
    return v <= 0x01 || (v >= 0x08 && v <= 0x0C) || (v >= 0x10 && v <= 0x12) ||
           (v >= 0x20 && v <= 0x22);
}

static void set_features(struct channel *c)
{
    struct drive *d = cur(c);
    switch (d->feature) {
    case 0x03:
        if (!xfer_mode_ok(d->nsector)) break;
        d->xfer_mode = d->nsector;
        complete(c);
        return;
    case 0x02:
    case 0x82:
        d->write_cache = d->feature == 0x02;
        complete(c);
        return;
    /* QEMU's accepted no-ops: APM, retries, look-ahead, defaults, ... */
    case 0x05: case 0x85: case 0x42: case 0xC2: case 0x55: case 0xAA:
    case 0x66: case 0xCC: case 0x69: case 0x67: case 0x96: case 0x9A:
        complete(c);
        return;
    default:
        break;
    }
    fail(c, ER_ABRT);
}

/* Power-on / software reset of one device: the diagnostic result and the
 * disk signature (count 1, LBA 1, cylinder 0). */
static void drive_reset(struct drive *d, bool power_on)
{
    uint8_t xfer = d->xfer_mode;
    bool wc = d->write_cache;
    bool present = d->present, cd = d->cd;
    block_backend disk = d->disk;
    atapi_state at = d->at;
    memset(d, 0, sizeof *d);
    d->present = present;
    d->cd = cd;
    d->disk = disk;
    d->at = at;
    d->select = DEV_ALWAYS;
    d->xfer_mode = power_on ? 0 : xfer;
    d->write_cache = power_on ? true : wc;
    if (!present) return;
    d->nsector = 1;
    d->sector = 1;
    d->status = ST_DRDY | ST_DSC;
    d->error = ER_DIAG_OK;
    d->mult = IDE_MAX_MULT;
    if (!cd) return;
    /* an ATAPI device: its signature, and after a software reset no DRDY
     * (QEMU; libata tells the class by the signature) */
    cd_signature(d);
    d->mult = 0;
    if (!power_on) d->status = 0;
    atapi_reset(&d->at, power_on);
}

static void ata_command(piix_ide *ide, int ch, uint8_t cmd);

/* IDENTIFY (PACKET) DEVICE's block, built in buf: one PIO data-in block. */
static void offer_identify(struct channel *c, uint8_t cmd)
{
    c->cmd = cmd;
    c->phase = PH_PIO_IN;
    c->remaining = c->block = 1;
    c->pos = 0;
    c->len = BLOCK_SECTOR;
    cur(c)->status = ST_DRDY | ST_DSC | ST_DRQ;
    raise(c);
}

/* ---- ATAPI (a CD-ROM drive's PACKET command) ---- */

/* a reply's last odd byte is read as a whole word: buf[len] must exist */
_Static_assert(ATAPI_REPLY_MAX < IDE_MAX_MULT * BLOCK_SECTOR, "an ATAPI reply fits the buffer with a byte to spare");

#define CD_READ_BLOCKS (sizeof(((struct channel *)0)->buf) / ATAPI_BLOCK) /* per PIO buffer fill */
#define CD_DMA_BLOCKS (DMA_CHUNK_SECTORS * BLOCK_SECTOR / ATAPI_BLOCK)    /* per DMA backend call */

/* The ATAPI signature (ATA/ATAPI-4 9.1): what a host probing a device
 * sees after a reset or a non-packet command. */
static void cd_signature(struct drive *d)
{
    d->nsector = 1;
    d->sector = 1;
    d->lcyl = 0x14;
    d->hcyl = 0xEB;
}

/* The command is over: status phase (interrupt reason IO and CoD). */
static void atapi_done(struct channel *c)
{
    struct drive *d = cur(c);
    d->nsector = (uint8_t)((d->nsector & ~7) | IR_IO | IR_COD);
    complete(c);
}

/* CHECK CONDITION: the sense key in the error register (its ABRT bit
 * when the command code itself was refused, as QEMU) */
static void atapi_fail(struct channel *c)
{
    struct drive *d = cur(c);
    d->nsector = (uint8_t)((d->nsector & ~7) | IR_IO | IR_COD);
    fail(c, (uint8_t)(d->at.sense_key << 4 | (d->at.asc == 0x20 ? ER_ABRT : 0)));
}

/* Offer the next PIO DRQ: refill buf from the disc when it is used up,
 * then up to the byte count limit of it (interrupt reason IO). */
static void atapi_pio_next(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    if (c->pos >= c->block) {
        if (!c->xfer_left) {
            atapi_done(c);
            return;
        }
        uint64_t n = c->xfer_left / ATAPI_BLOCK;
        if (n > CD_READ_BLOCKS) n = CD_READ_BLOCKS;
        if (atapi_read(&d->at, &d->disk, c->lba, (uint32_t)n, c->buf) != 0) {
            atapi_fail(c);
            return;
        }
        emit(ide, ch, IDE_DISK_TO_BUFFER, false, c->lba * ATAPI_BLOCK, (uint32_t)n * ATAPI_BLOCK, c->buf);
        c->lba += n;
        c->xfer_left -= n * ATAPI_BLOCK;
        c->block = (uint32_t)n * ATAPI_BLOCK;
        c->pos = 0;
    }
    uint32_t chunk = c->block - c->pos;
    if (chunk > c->bcl) chunk = c->bcl;
    c->len = c->pos + chunk;
    d->lcyl = (uint8_t)chunk;
    d->hcyl = (uint8_t)(chunk >> 8);
    d->nsector = (uint8_t)((d->nsector & ~7) | IR_IO);
    d->status = ST_DRDY | ST_DSC | ST_DRQ;
    raise(c);
}

/* The host read a whole DRQ through the data port. */
static void atapi_pio_done(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    if (c->pos > c->len) c->pos = c->len; /* an odd-length reply's last word */
    if (c->from_disc && c->len) {
        /* buf[0] holds block lba - block/2048; DRQs start every bcl bytes of it */
        uint64_t buf_offset = (c->lba - c->block / ATAPI_BLOCK) * ATAPI_BLOCK;
        uint32_t start = (c->len - 1) / c->bcl * c->bcl;
        emit(ide, ch, IDE_BUFFER_TO_PORT, false, buf_offset + start, c->len - start, c->buf + start);
    }
    atapi_pio_next(ide, ch);
}

/* The host wrote the 12-byte packet: run it. */
static void atapi_packet(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    uint8_t cdb[ATAPI_CDB_LEN];
    memcpy(cdb, c->buf, sizeof cdb);
    atapi_reply r;
    atapi_command(&d->at, cdb, c->buf, &r);
    if (!r.ok) {
        atapi_fail(c);
        return;
    }
    if (!r.read && !r.len) {
        atapi_done(c);
        return;
    }
    c->from_disc = r.read;
    c->lba = r.read ? r.lba : 0;
    c->xfer_left = r.read ? (uint64_t)r.nblocks * ATAPI_BLOCK : 0;
    c->block = r.read ? 0 : r.len;
    c->pos = c->len = 0;
    if (d->feature & 1) { /* DMA: wait for the bus master */
        c->phase = PH_DMA;
        d->status = ST_DRDY | ST_DSC | ST_DRQ;
        try_dma(ide, ch);
        return;
    }
    c->phase = PH_PIO_IN;
    atapi_pio_next(ide, ch);
}

static void run_atapi_dma(piix_ide *ide, int ch)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    if (!(pci_regs_w16(&ide->cfg, PCI_REG_COMMAND) & PCI_COMMAND_MASTER)) {
        dma_fail(c);
        return;
    }
    bool exhausted;
    int npieces = prd_walk(ide, c, c->from_disc ? c->xfer_left : c->block, &exhausted);
    if (npieces < 0) {
        dma_fail(c);
        return;
    }
    if (npieces == 0) { /* the table is shorter than the transfer (as for a disk) */
        end_transfer(c);
        d->status = ST_DRDY | ST_DSC;
        c->bm_status &= (uint8_t)~BM_ACTIVE;
        return;
    }
    struct dma_cursor cursor = {0, npieces, 0};
    if (!c->from_disc && !dma_copy(ide, ch, &cursor, true, c->buf, c->block, 0, false)) {
        dma_fail(c);
        return;
    }
    while (c->from_disc && c->xfer_left) {
        uint64_t n = c->xfer_left / ATAPI_BLOCK;
        if (n > CD_DMA_BLOCKS) n = CD_DMA_BLOCKS;
        uint32_t bytes = (uint32_t)n * ATAPI_BLOCK;
        if (atapi_read(&d->at, &d->disk, c->lba, (uint32_t)n, ide->scratch->buf) != 0) {
            c->bm_status &= (uint8_t)~BM_ACTIVE;
            atapi_fail(c);
            return;
        }
        emit(ide, ch, IDE_DISK_TO_BUFFER, true, c->lba * ATAPI_BLOCK, bytes, ide->scratch->buf);
        if (!dma_copy(ide, ch, &cursor, true, ide->scratch->buf, bytes, c->lba * ATAPI_BLOCK, true)) {
            dma_fail(c);
            return;
        }
        c->lba += n;
        c->xfer_left -= bytes;
    }
    if (exhausted) c->bm_status &= (uint8_t)~BM_ACTIVE;
    atapi_done(c);
}

/* IDENTIFY PACKET DEVICE: what libata's ata_dev_configure reads of an
 * ATAPI device (QEMU's values where it has them). */
static void identify_packet(const struct drive *d, int channel, int unit, uint8_t *p)
{
    char serial[16];
    snprintf(serial, sizeof serial, "PP%05d", channel * 2 + unit + 1);
    unsigned mode = d->xfer_mode & 7, kind = d->xfer_mode >> 3;
    memset(p, 0, BLOCK_SECTOR);
    /* ATAPI, CD-ROM (type 5), removable, accelerated DRQ (no interrupt
     * before the packet), 12-byte packets */
    put_word(p, 0, 2u << 14 | 5u << 8 | 1u << 7 | 2u << 5);
    put_string(p, 10, 10, serial);
    put_word(p, 20, 3);
    put_word(p, 21, 512);
    put_word(p, 22, 4);
    put_string(p, 23, 4, "2.5+");
    put_string(p, 27, 20, "QEMU DVD-ROM");
    put_word(p, 48, 1);
    put_word(p, 49, 1 << 11 | 1 << 9 | 1 << 8); /* IORDY, LBA, DMA */
    put_word(p, 53, 1 | 1 << 1 | 1 << 2);
    put_word(p, 62, (uint16_t)(0x07 | (kind == 2 ? 1u << (8 + mode) : 0)));
    put_word(p, 63, (uint16_t)(0x07 | (kind == 4 ? 1u << (8 + mode) : 0)));
    put_word(p, 64, 0x03);
    put_word(p, 65, 0xB4);
    put_word(p, 66, 0xB4);
    put_word(p, 67, 0x12C);
    put_word(p, 68, 0xB4);
    put_word(p, 71, 30);                     /* release and service times, ns */
    put_word(p, 72, 30);
    put_word(p, 80, 0x1E);                   /* ATA/ATAPI-1 to -4 */
    put_word(p, 82, 1 << 14 | 1 << 4);       /* NOP, PACKET */
    put_word(p, 83, 1 << 14);
    put_word(p, 84, 1 << 14);
    put_word(p, 85, 1 << 14 | 1 << 4);
    put_word(p, 86, 0);
    put_word(p, 87, 1 << 14);
    put_word(p, 93, 1 | 1 << 14 | 1 << 13);
}

/* A CD-ROM drive's commands: PACKET and the few ATA ones an ATAPI device
 * has; the rest are aborted with the signature set (ATA/ATAPI-4, as QEMU). */
static void cd_command(piix_ide *ide, int ch, uint8_t cmd)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    switch (cmd) {
    case 0xA0: /* PACKET: DRQ for the 12-byte command, no interrupt (accelerated DRQ) */
        if (d->feature & 0x02) { /* overlapped: not supported */
            fail(c, ER_ABRT);
            return;
        }
        c->cmd = cmd;
        c->phase = PH_PIO_OUT;
        c->pos = 0;
        c->len = c->block = ATAPI_CDB_LEN;
        /* the byte count limit, even and nonzero (0: as large as can be) */
        c->bcl = (uint16_t)(d->lcyl | d->hcyl << 8);
        if (c->bcl == 0 || c->bcl == 0xFFFF) c->bcl = 0xFFFE;
        c->bcl &= (uint16_t)~1u;
        if (!c->bcl) c->bcl = 2;
        d->nsector = (uint8_t)((d->nsector & ~7) | IR_COD);
        d->status = ST_DRDY | ST_DSC | ST_DRQ;
        return;
    case 0xA1:
        identify_packet(d, ch, c->unit & 1, c->buf);
        offer_identify(c, cmd);
        return;
    case 0x08: { /* DEVICE RESET: the signature, status 0, no interrupt */
        uint8_t select = d->select & 0xF0;
        drive_reset(d, false);
        d->select = select | DEV_ALWAYS;
        return;
    }
    case 0x90: case 0xEF: case 0xE5: case 0xE0: case 0xE1: case 0xE2: case 0xE3:
        ata_command(ide, ch, cmd);
        return;
    default:
        cd_signature(d);
        fail(c, ER_ABRT);
        return;
    }
}

static void exec_command(piix_ide *ide, int ch, uint8_t cmd)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    if (!d->present) return; /* a command to no device: nobody answers */
    d->intrq = false;        /* writing the command clears a pending interrupt */
    update_irq(c);
    if (d->status & (ST_BSY | ST_DRQ)) {
        ide->unmodelled++;
        return;
    }
    d->error = 0;
    if (d->cd)
        cd_command(ide, ch, cmd);
    else
        ata_command(ide, ch, cmd);
}

/* A disk's commands (and the ATA ones a CD-ROM drive shares). */
static void ata_command(piix_ide *ide, int ch, uint8_t cmd)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    bool ext = is_ext(cmd);
    switch (cmd) {
    case 0x20: case 0x21: case 0x24: case 0x29: case 0xC4:
        start_sectors(ide, ch, cmd, PH_PIO_IN);
        return;
    case 0x30: case 0x31: case 0x34: case 0x39: case 0xC5:
        start_sectors(ide, ch, cmd, PH_PIO_OUT);
        return;
    case 0xC8: case 0xC9: case 0x25: case 0xCA: case 0xCB: case 0x35:
        start_sectors(ide, ch, cmd, PH_DMA);
        return;
    case 0x40: case 0x41: case 0x42: { /* READ VERIFY: the range only */
        uint64_t lba;
        uint32_t count = command_count(d, ext);
        if (!command_lba(d, ext, &lba)) {
            fail(c, ER_IDNF);
        } else if (lba >= d->disk.nsectors || count > d->disk.nsectors - lba) {
            set_lba(d, lba > d->disk.nsectors ? lba : d->disk.nsectors, ext);
            fail(c, ER_IDNF);
        } else {
            complete(c);
        }
        return;
    }
    case 0xEC:
        identify(d, ch, c->unit & 1, c->buf);
        offer_identify(c, cmd);
        return;
    case 0xC6: /* SET MULTIPLE */
        if (d->nsector > IDE_MAX_MULT || (d->nsector & (d->nsector - 1))) {
            fail(c, ER_ABRT);
        } else {
            d->mult = d->nsector;
            complete(c);
        }
        return;
    case 0xEF:
        set_features(c);
        return;
    case 0xE7: case 0xEA:
        if (d->disk.flush && d->disk.flush(d->disk.opaque) != 0)
            fail(c, ER_ABRT);
        else
            complete(c);
        return;
    case 0x90: { /* EXECUTE DEVICE DIAGNOSTIC: the reset's outputs; the selection stays */
        uint8_t select = d->select & 0xF0;
        drive_reset(d, false);
        d->select = select | DEV_ALWAYS;
        raise(c);
        return;
    }
    case 0xF8: case 0x27: { /* READ NATIVE MAX ADDRESS */
        uint64_t max = d->disk.nsectors ? d->disk.nsectors - 1 : 0;
        if (!ext && max > 0x0FFFFFFF) max = 0x0FFFFFFF;
        d->select |= DEV_LBA; /* the answer is an LBA */
        set_lba(d, max, ext);
        complete(c);
        return;
    }
    case 0xE5: /* CHECK POWER MODE: active */
        d->nsector = 0xFF;
        complete(c);
        return;
    case 0x91: case 0xE0: case 0xE1: case 0xE2: case 0xE3:
        complete(c);
        return;
    default:
        if ((cmd & 0xF0) == 0x10 || (cmd & 0xF0) == 0x70) { /* RECALIBRATE, SEEK */
            complete(c);
            return;
        }
        fail(c, ER_ABRT);
        return;
    }
}

/* ---- the command block ---- */

static uint8_t reg_read(piix_ide *ide, int ch, uint32_t reg)
{
    struct channel *c = &ide->ch[ch];
    struct drive *d = cur(c);
    bool empty = !c->d[0].present && !c->d[1].present;
    bool hob = c->ctl & CTL_HOB;
    if (empty) return 0;
    switch (reg) {
    case 1: return !d->present ? 0 : hob ? d->hob_feature : d->error;
    case 2: return hob ? d->hob_nsector : d->nsector;
    case 3: return hob ? d->hob_sector : d->sector;
    case 4: return hob ? d->hob_lcyl : d->lcyl;
    case 5: return hob ? d->hob_hcyl : d->hcyl;
    case 6: return d->select;
    default: /* 7: status; reading it acknowledges the interrupt */
        d->intrq = false;
        update_irq(c);
        return d->present ? d->status : 0;
    }
}

static void reg_write(piix_ide *ide, int ch, uint32_t reg, uint8_t v)
{
    struct channel *c = &ide->ch[ch];
    if (reg == 7) {
        c->ctl &= (uint8_t)~CTL_HOB;
        exec_command(ide, ch, v);
        return;
    }
    if (cur(c)->status & (ST_BSY | ST_DRQ)) {
        ide->unmodelled++;
        return;
    }
    c->ctl &= (uint8_t)~CTL_HOB;
    for (int u = 0; u < 2; u++) {
        struct drive *d = &c->d[u];
        switch (reg) {
        case 1: d->hob_feature = d->feature; d->feature = v; break;
        case 2: d->hob_nsector = d->nsector; d->nsector = v; break;
        case 3: d->hob_sector = d->sector; d->sector = v; break;
        case 4: d->hob_lcyl = d->lcyl; d->lcyl = v; break;
        case 5: d->hob_hcyl = d->hcyl; d->hcyl = v; break;
        default: d->select = v | DEV_ALWAYS; break;
        }
    }
    if (reg == 6) {
        c->unit = (v & DEV_UNIT) ? 1 : 0;
        update_irq(c); /* the other device drives the line now */
    }
}

static uint8_t cmd_rd(void *opaque, uint32_t offset)
{
    struct port *p = opaque;
    if (offset == 0) { /* a byte cycle on the 16-bit data port */
        p->ide->unmodelled++;
        return 0xFF;
    }
    return reg_read(p->ide, p->ch, offset);
}

static void cmd_wr(void *opaque, uint32_t offset, uint8_t v)
{
    struct port *p = opaque;
    if (offset == 0) {
        p->ide->unmodelled++;
        return;
    }
    reg_write(p->ide, p->ch, offset, v);
}

static uint32_t cmd_read(void *opaque, uint32_t offset, unsigned size)
{
    struct port *p = opaque;
    if (offset == 0 && (size == 2 || size == 4)) {
        uint32_t v = data_read16(p->ide, p->ch);
        if (size == 4) v |= (uint32_t)data_read16(p->ide, p->ch) << 16;
        return v;
    }
    return bytewise_read(p, offset, size, 8, cmd_rd, &p->ide->unmodelled);
}

static void cmd_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    struct port *p = opaque;
    if (offset == 0 && (size == 2 || size == 4)) {
        data_write16(p->ide, p->ch, (uint16_t)v);
        if (size == 4) data_write16(p->ide, p->ch, (uint16_t)(v >> 16));
        return;
    }
    bytewise_write(p, offset, v, size, 8, cmd_wr, &p->ide->unmodelled);
}

/* ---- the control port ---- */

static uint8_t ctl_rd(void *opaque, uint32_t offset)
{
    struct port *p = opaque;
    struct channel *c = &p->ide->ch[p->ch];
    (void)offset;
    const struct drive *d = cur(c);
    return d->present ? d->status : 0; /* alternate status: no acknowledge */
}

static void ctl_wr(void *opaque, uint32_t offset, uint8_t v)
{
    struct port *p = opaque;
    struct channel *c = &p->ide->ch[p->ch];
    (void)offset;
    bool was = c->ctl & CTL_SRST, now = v & CTL_SRST;
    if (!was && now) { /* SRST asserted: both devices stop and are busy */
        end_transfer(c);
        for (int u = 0; u < 2; u++) {
            c->d[u].intrq = false;
            if (c->d[u].present) c->d[u].status = ST_BSY;
        }
    } else if (was && !now) { /* released: the reset completes, device 0 selected */
        for (int u = 0; u < 2; u++) drive_reset(&c->d[u], false);
        c->unit = 0;
    }
    c->ctl = v & CTL_BITS;
    update_irq(c);
}

static uint32_t ctl_read(void *opaque, uint32_t offset, unsigned size)
{
    struct port *p = opaque;
    return bytewise_read(p, offset, size, 1, ctl_rd, &p->ide->unmodelled);
}

static void ctl_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    struct port *p = opaque;
    bytewise_write(p, offset, v, size, 1, ctl_wr, &p->ide->unmodelled);
}

/* ---- bus-master registers ---- */

static bool io_decoded(const piix_ide *ide)
{
    return pci_regs_w16(&ide->cfg, PCI_REG_COMMAND) & PCI_COMMAND_IO;
}

static uint8_t bm_rd(void *opaque, uint32_t offset)
{
    piix_ide *ide = opaque;
    struct channel *c = &ide->ch[offset >> 3];
    switch (offset & 7) {
    case 0: return c->bm_cmd;
    case 2: return c->bm_status;
    case 4: case 5: case 6: case 7: return (uint8_t)(c->bm_prd >> (8 * ((offset & 7) - 4)));
    default: return 0xFF; /* reserved */
    }
}

static void bm_wr(void *opaque, uint32_t offset, uint8_t v)
{
    piix_ide *ide = opaque;
    int ch = (int)(offset >> 3);
    struct channel *c = &ide->ch[ch];
    switch (offset & 7) {
    case 0: {
        bool was = c->bm_cmd & BM_START, now = v & BM_START;
        c->bm_cmd = v & BM_CMD_BITS;
        if (!was && now) {
            c->bm_status |= BM_ACTIVE;
            try_dma(ide, ch);
        } else if (was && !now) {
            c->bm_status &= (uint8_t)~BM_ACTIVE; /* a pending command keeps waiting */
        }
        return;
    }
    case 2:
        c->bm_status = (uint8_t)((v & 0x60) | (c->bm_status & BM_ACTIVE) |
                                 (c->bm_status & ~v & (BM_ERROR | BM_INTR)));
        return;
    case 4: case 5: case 6: case 7: {
        unsigned shift = 8 * ((offset & 7) - 4);
        c->bm_prd = ((c->bm_prd & ~(0xFFu << shift)) | (uint32_t)v << shift) & ~3u;
        return;
    }
    default:
        ide->unmodelled++;
        return;
    }
}

static uint32_t bm_read(void *opaque, uint32_t offset, unsigned size)
{
    piix_ide *ide = opaque;
    if (!io_decoded(ide)) {
        ide->unmodelled++;
        return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1u;
    }
    return bytewise_read(ide, offset, size, 16, bm_rd, &ide->unmodelled);
}

static void bm_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    piix_ide *ide = opaque;
    if (!io_decoded(ide)) {
        ide->unmodelled++;
        return;
    }
    bytewise_write(ide, offset, v, size, 16, bm_wr, &ide->unmodelled);
}

/* ---- configuration space ---- */

static void build_config(pci_regs *cfg, uint16_t direct_boot_bmdma)
{
    bool fw = direct_boot_bmdma == 0;
    pci_regs_header(cfg, 0x8086, 0x7010, 0x00, 0x010180, 0x00,
                    fw ? 0 : PCI_COMMAND_IO | PCI_COMMAND_MASTER, 0x0280);
    pci_regs_set(cfg, CFG_BAR4, (fw ? 0 : direct_boot_bmdma) | 1u, 0xFFFFFFF0u, 4);
    pci_regs_set(cfg, CFG_IDETIM, fw ? 0 : 0x80008000u, 0xFFFFFFFFu, 4);
}

uint32_t piix_ide_bmdma_base(const piix_ide *ide)
{
    if (!ide || !io_decoded(ide)) return 0;
    uint32_t bar = pci_regs_w32(&ide->cfg, CFG_BAR4) & ~0xFu;
    return bar > 0xFFF0 ? 0 : bar; /* no ports above 64 KiB (a BAR being sized) */
}

static void report_bmdma(piix_ide *ide)
{
    uint32_t base = piix_ide_bmdma_base(ide);
    if (base == ide->bm_base) return;
    ide->bm_base = base;
    if (ide->hooks.bmdma_moved) ide->hooks.bmdma_moved(ide->hooks.opaque, base);
}

static uint32_t cfg_read(void *opaque, uint32_t reg, unsigned size)
{
    return pci_regs_read(&((piix_ide *)opaque)->cfg, reg, size);
}

static void cfg_write(void *opaque, uint32_t reg, uint32_t v, unsigned size)
{
    piix_ide *ide = opaque;
    pci_regs_write(&ide->cfg, reg, v, size);
    report_bmdma(ide);
}

/* ---- life cycle ---- */

static void channel_reset(struct channel *c)
{
    for (int u = 0; u < 2; u++) drive_reset(&c->d[u], true);
    c->unit = 0;
    c->ctl = 0;
    end_transfer(c);
    c->bm_cmd = c->bm_status = 0;
    c->bm_prd = 0;
    memset(c->buf, 0, sizeof c->buf);
    update_irq(c);
}

void piix_ide_reset(piix_ide *ide)
{
    if (!ide) return;
    build_config(&ide->cfg, ide->direct_boot_bmdma);
    for (int ch = 0; ch < 2; ch++) channel_reset(&ide->ch[ch]);
    report_bmdma(ide);
}

piix_ide *piix_ide_new(const ide_config *cfg)
{
    if (!cfg || (cfg->direct_boot_bmdma & 0xF)) return NULL;
    for (int ch = 0; ch < 2; ch++)
        for (int u = 0; u < 2; u++) {
            const block_backend *b = cfg->disk[ch][u];
            if (b && (!b->read || b->nsectors > LBA48_LIMIT)) return NULL;
        }
    piix_ide *ide = calloc(1, sizeof *ide);
    if (!ide) return NULL;
    ide->dma = cfg->dma;
    ide->hooks = cfg->hooks;
    ide->scratch = malloc(sizeof *ide->scratch);
    if (!ide->scratch) {
        free(ide);
        return NULL;
    }
    ide->direct_boot_bmdma = cfg->direct_boot_bmdma;
    for (int ch = 0; ch < 2; ch++) {
        ide->port[ch] = (struct port){ide, ch};
        ide->ch[ch].irq = cfg->irq[ch];
        for (int u = 0; u < 2; u++) {
            const block_backend *b = cfg->disk[ch][u];
            struct drive *d = &ide->ch[ch].d[u];
            d->present = b != NULL;
            d->cd = b && cfg->cdrom[ch][u];
            if (b) d->disk = *b;
            /* a disc in the drive from power on: no change to report */
            if (d->cd && b->nsectors) {
                atapi_insert(&d->at, b->nsectors, true);
                d->at.unit_attention = false;
                d->at.event = ATAPI_EV_NONE;
            }
        }
    }
    build_config(&ide->cfg, ide->direct_boot_bmdma);
    for (int ch = 0; ch < 2; ch++) channel_reset(&ide->ch[ch]); /* lines stay low: no irq_set */
    ide->bm_base = piix_ide_bmdma_base(ide); /* the machine maps it from the query */
    return ide;
}

void piix_ide_free(piix_ide *ide)
{
    if (ide) free(ide->scratch);
    free(ide);
}

/* bytewise.h's callbacks get one pointer: the channel's port record */
bus_device piix_ide_cmd_device(piix_ide *ide, int channel)
{
    return (bus_device){channel ? "ide1" : "ide0", ide ? &ide->port[channel & 1] : NULL, cmd_read,
                        cmd_write};
}

bus_device piix_ide_ctl_device(piix_ide *ide, int channel)
{
    return (bus_device){channel ? "ide1-ctl" : "ide0-ctl", ide ? &ide->port[channel & 1] : NULL,
                        ctl_read, ctl_write};
}

bus_device piix_ide_bmdma_device(piix_ide *ide)
{
    return (bus_device){"ide-bmdma", ide, bm_read, bm_write};
}

bus_device piix_ide_config_device(piix_ide *ide)
{
    return (bus_device){"piix-ide", ide, cfg_read, cfg_write};
}

int piix_ide_irq_level(const piix_ide *ide, int channel)
{
    if (!ide || channel < 0 || channel > 1) return 0;
    return ide->ch[channel].line;
}

uint64_t piix_ide_unmodelled(const piix_ide *ide)
{
    return ide ? ide->unmodelled : 0;
}

static struct drive *cd_drive(piix_ide *ide, int channel, int unit)
{
    if (!ide || channel < 0 || channel > 1 || unit < 0 || unit > 1) return NULL;
    struct drive *d = &ide->ch[channel].d[unit];
    return d->cd ? d : NULL;
}

bool piix_ide_cd_status(const piix_ide *ide, int channel, int unit, ide_cd_status *st)
{
    const struct drive *d = cd_drive((piix_ide *)ide, channel, unit);
    if (!d) return false;
    *st = (ide_cd_status){d->at.media, d->at.locked, d->at.tray_open, d->at.nblocks * 4};
    return true;
}

int piix_ide_cd_change(piix_ide *ide, int channel, int unit, uint64_t nsectors, bool force)
{
    struct drive *d = cd_drive(ide, channel, unit);
    if (!d) return -1;
    if (nsectors > LBA48_LIMIT) return -1;
    bool done = nsectors ? atapi_insert(&d->at, nsectors, force) : atapi_eject(&d->at, force);
    if (!done) return 1;
    /* a read of the old disc in progress fails now: what is buffered or
     * still to come belongs to a disc that is gone */
    struct channel *c = &ide->ch[channel];
    if (c->cmd == 0xA0 && c->from_disc && (c->unit & 1) == unit && c->phase != PH_PIO_OUT) {
        c->bm_status &= (uint8_t)~BM_ACTIVE;
        atapi_interrupted(&d->at);
        atapi_fail(c);
    }
    return 0;
}

/* ---- state (device.h) ---- */

/* 2: CD-ROM drives (each drive's kind and ATAPI state, the PACKET
 * transfer fields) */
#define PIIX_IDE_STATE_VERSION 2

static void save_drive(const struct drive *d, state_writer *w)
{
    const uint8_t regs[] = {d->feature, d->hob_feature, d->nsector, d->hob_nsector,
                            d->sector,  d->hob_sector,  d->lcyl,    d->hob_lcyl,
                            d->hcyl,    d->hob_hcyl,    d->select,  d->status,
                            d->error,   d->mult,        d->xfer_mode};
    sw_bytes(w, regs, sizeof regs);
    sw_bool(w, d->write_cache);
    sw_bool(w, d->intrq);
    sw_bool(w, d->cd);
    if (d->cd) atapi_save(&d->at, w);
}

static void save_op(const void *opaque, state_writer *w)
{
    const piix_ide *ide = opaque;
    pci_regs_save(&ide->cfg, w);
    for (int ch = 0; ch < 2; ch++) {
        const struct channel *c = &ide->ch[ch];
        for (int u = 0; u < 2; u++) save_drive(&c->d[u], w);
        sw_u8(w, c->unit);
        sw_u8(w, c->ctl);
        sw_u8(w, c->phase);
        sw_u8(w, c->cmd);
        sw_u64(w, c->lba);
        sw_u32(w, c->remaining);
        sw_u32(w, c->block);
        sw_u32(w, c->pos);
        sw_u32(w, c->len);
        sw_u64(w, c->xfer_left);
        sw_u16(w, c->bcl);
        sw_u8(w, c->from_disc);
        sw_bytes(w, c->buf, sizeof c->buf);
        sw_u8(w, c->bm_cmd);
        sw_u8(w, c->bm_status);
        sw_u32(w, c->bm_prd);
    }
    sw_u64(w, ide->unmodelled);
}

static void load_drive(struct drive *d, state_reader *r, const char *name)
{
    char what[64];
#define FIELD(f) (snprintf(what, sizeof what, "piix_ide %s " f, name), what)
    d->feature = sr_u8(r);
    d->hob_feature = sr_u8(r);
    d->nsector = sr_u8(r);
    d->hob_nsector = sr_u8(r);
    d->sector = sr_u8(r);
    d->hob_sector = sr_u8(r);
    d->lcyl = sr_u8(r);
    d->hob_lcyl = sr_u8(r);
    d->hcyl = sr_u8(r);
    d->hob_hcyl = sr_u8(r);
    d->select = sr_u8(r);
    d->status = sr_u8_bits(r, ST_BITS, FIELD("status"));
    d->error = sr_u8_bits(r, d->cd ? ER_CD_BITS : ER_BITS, FIELD("error"));
    d->mult = sr_u8_in(r, 0, IDE_MAX_MULT, FIELD("mult"));
    d->xfer_mode = sr_u8(r);
    d->write_cache = sr_flag(r, FIELD("write_cache"));
    d->intrq = sr_flag(r, FIELD("intrq"));
    bool cd = sr_flag(r, FIELD("cd"));
    if (r->failed) return;
    /* the drive kinds are the machine's wiring: a snapshot of another */
    if (cd != d->cd) {
        sr_fail(r, "piix_ide %s is %s in the snapshot, %s here", name, cd ? "a CD-ROM drive" : "no CD-ROM drive",
                d->cd ? "a CD-ROM drive" : "not one");
        return;
    }
    if (cd) atapi_load(&d->at, r, name);
    if (r->failed) return;
    if ((d->select & DEV_ALWAYS) != DEV_ALWAYS)
        sr_fail(r, "piix_ide %s select 0x%02x lacks bits 7 and 5", name, d->select);
    if (d->cd && d->mult) sr_fail(r, "%s holds %u on a CD-ROM drive", FIELD("mult"), d->mult);
    if (d->mult & (d->mult - 1)) sr_fail(r, "%s holds %u, not a power of two", FIELD("mult"), d->mult);
    if (!xfer_mode_ok(d->xfer_mode))
        sr_fail(r, "%s 0x%02x is not a mode SET FEATURES accepts", FIELD("xfer_mode"), d->xfer_mode);
    if (!d->present && (d->status || d->error || d->intrq))
        sr_fail(r, "piix_ide %s is absent but has status, error or an interrupt", name);
#undef FIELD
}

static bool cmd_fits(uint8_t phase, uint8_t cmd)
{
    static const uint8_t in[] = {0x20, 0x21, 0x24, 0x29, 0xC4, 0xEC, 0xA0, 0xA1};
    static const uint8_t out[] = {0x30, 0x31, 0x34, 0x39, 0xC5, 0xA0};
    static const uint8_t dma[] = {0xC8, 0xC9, 0x25, 0xCA, 0xCB, 0x35, 0xA0};
    const uint8_t *list = phase == PH_PIO_IN ? in : phase == PH_PIO_OUT ? out : dma;
    size_t n = phase == PH_PIO_IN ? sizeof in : phase == PH_PIO_OUT ? sizeof out : sizeof dma;
    for (size_t i = 0; i < n; i++)
        if (list[i] == cmd) return true;
    return false;
}

/* A PACKET command in progress: what atapi_packet and atapi_pio_next
 * leave (the buffer offsets inside buf, a disc read inside the disc). */
static void check_packet(const struct channel *c, const struct drive *d, state_reader *r, int ch)
{
    bool ok = c->remaining == 0 && c->bcl >= 2 && !(c->bcl & 1) && c->block <= sizeof c->buf;
    if (c->phase == PH_PIO_OUT) {
        ok = ok && c->len == ATAPI_CDB_LEN && c->block == ATAPI_CDB_LEN && c->pos < c->len && !(c->pos & 1) &&
             !c->xfer_left && !c->lba && !c->from_disc;
    } else if (c->from_disc) {
        uint64_t nb = d->at.nblocks;
        ok = ok && c->block % ATAPI_BLOCK == 0 && c->xfer_left % ATAPI_BLOCK == 0 && d->at.media &&
             c->block / ATAPI_BLOCK <= c->lba && c->lba <= nb && c->xfer_left / ATAPI_BLOCK <= nb - c->lba;
    } else {
        ok = ok && !c->xfer_left && !c->lba && c->block <= ATAPI_REPLY_MAX && c->block > 0;
    }
    if (c->phase == PH_PIO_IN)
        ok = ok && c->pos < c->len && c->len <= c->block && c->len - c->pos <= c->bcl;
    else if (c->phase == PH_DMA)
        ok = ok && !c->pos && !c->len && (c->from_disc ? !c->block && c->xfer_left : c->block > 0) &&
             !((c->bm_cmd & BM_START) && (c->bm_status & BM_ACTIVE));
    if (!ok) sr_fail(r, "piix_ide channel %d PACKET transfer fields out of range", ch);
}

/* The transfer fields against each other and the disk: what the command
 * code leaves, nothing else. */
static void check_transfer(const struct channel *c, state_reader *r, int ch)
{
    const struct drive *d = &c->d[c->unit];
    const struct drive *other = &c->d[c->unit ^ 1];
    if (c->phase == PH_IDLE) {
        if (c->cmd || c->lba || c->remaining || c->block || c->pos || c->len || c->xfer_left || c->bcl ||
            c->from_disc)
            sr_fail(r, "piix_ide channel %d transfer fields are set with no transfer", ch);
        if ((c->d[0].status | c->d[1].status) & ST_DRQ)
            sr_fail(r, "piix_ide channel %d status has DRQ with no transfer", ch);
        return;
    }
    if (!cmd_fits(c->phase, c->cmd)) {
        sr_fail(r, "piix_ide channel %d cmd 0x%02x does not fit phase %u", ch, c->cmd, c->phase);
        return;
    }
    if (!d->present || d->status != (ST_DRDY | ST_DSC | ST_DRQ) || (other->status & ST_DRQ)) {
        sr_fail(r, "piix_ide channel %d status disagrees with the transfer in progress", ch);
        return;
    }
    if (c->ctl & CTL_SRST) {
        sr_fail(r, "piix_ide channel %d transfer in progress during SRST", ch);
        return;
    }
    /* start_sectors aborts these before anything moves; finishing one
     * would write a disk the guest may not write */
    if (c->cmd != 0xA0 && writes_disk((enum phase)c->phase, c->cmd) && (d->disk.read_only || !d->disk.write)) {
        sr_fail(r, "piix_ide channel %d write in progress to a read-only disk", ch);
        return;
    }
    if ((c->cmd == 0xA0 || c->cmd == 0xA1) != d->cd) {
        sr_fail(r, "piix_ide channel %d cmd 0x%02x is not one for this drive's kind", ch, c->cmd);
        return;
    }
    if (c->cmd == 0xA0) {
        check_packet(c, d, r, ch);
        return;
    }
    if (c->xfer_left || c->bcl || c->from_disc) {
        sr_fail(r, "piix_ide channel %d PACKET fields set in an ATA command", ch);
        return;
    }
    if (c->cmd == 0xEC || c->cmd == 0xA1) {
        if (c->lba || c->remaining != 1 || c->block != 1 || c->len != BLOCK_SECTOR || c->pos >= c->len ||
            (c->pos & 1))
            sr_fail(r, "piix_ide channel %d IDENTIFY transfer fields out of range", ch);
        return;
    }
    uint64_t n = d->disk.nsectors;
    if (c->remaining < 1 || c->remaining > 65536 || c->lba > n || c->remaining > n - c->lba) {
        sr_fail(r, "piix_ide channel %d transfer of %u sectors at %llu is not on the disk", ch,
                c->remaining, (unsigned long long)c->lba);
        return;
    }
    if (c->phase == PH_DMA) {
        if (c->block || c->pos || c->len)
            sr_fail(r, "piix_ide channel %d DMA transfer has PIO block fields", ch);
        else if ((c->bm_cmd & BM_START) && (c->bm_status & BM_ACTIVE))
            sr_fail(r, "piix_ide channel %d DMA pending with the bus master running", ch);
        return;
    }
    if (is_multiple(c->cmd) && !d->mult) {
        sr_fail(r, "piix_ide channel %d multiple transfer with multiple mode off", ch);
        return;
    }
    if (c->block != block_size(c) || c->len != c->block * BLOCK_SECTOR || c->pos >= c->len ||
        (c->pos & 1))
        sr_fail(r, "piix_ide channel %d PIO block fields out of range", ch);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "piix_ide", version, PIIX_IDE_STATE_VERSION)) return;
    piix_ide copy = *(piix_ide *)opaque, *ide = &copy; /* keeps the wiring */
    build_config(&ide->cfg, ide->direct_boot_bmdma);
    pci_regs_load_checked(&ide->cfg, r, "piix_ide");
    static const char *names[2][2] = {{"ide0 master", "ide0 slave"}, {"ide1 master", "ide1 slave"}};
    for (int ch = 0; ch < 2 && !r->failed; ch++) {
        struct channel *c = &ide->ch[ch];
        for (int u = 0; u < 2; u++) load_drive(&c->d[u], r, names[ch][u]);
        c->unit = sr_u8_in(r, 0, 1, "piix_ide unit");
        c->ctl = sr_u8_bits(r, CTL_BITS, "piix_ide ctl");
        c->phase = sr_u8_in(r, 0, PH_COUNT - 1, "piix_ide phase");
        c->cmd = sr_u8(r);
        c->lba = sr_u64(r);
        c->remaining = sr_u32(r);
        c->block = sr_u32(r);
        c->pos = sr_u32(r);
        c->len = sr_u32(r);
        c->xfer_left = sr_u64(r);
        c->bcl = sr_u16(r);
        c->from_disc = sr_u8_in(r, 0, 1, "piix_ide from_disc");
        sr_bytes(r, c->buf, sizeof c->buf);
        c->bm_cmd = sr_u8_bits(r, BM_CMD_BITS, "piix_ide bm_cmd");
        c->bm_status = sr_u8_bits(r, BM_STATUS_BITS, "piix_ide bm_status");
        c->bm_prd = sr_u32(r);
        if (r->failed) break;
        if (c->bm_prd & 3) sr_fail(r, "piix_ide bm_prd 0x%08x is not dword aligned", c->bm_prd);
        if ((c->bm_status & BM_ACTIVE) && !(c->bm_cmd & BM_START))
            sr_fail(r, "piix_ide bm_status active with the bus master stopped");
        for (int u = 0; u < 2; u++) {
            bool busy = c->d[u].status & ST_BSY;
            if (c->d[u].present && busy != !!(c->ctl & CTL_SRST))
                sr_fail(r, "piix_ide %s status BSY disagrees with SRST", names[ch][u]);
            if (busy && c->d[u].status != ST_BSY)
                sr_fail(r, "piix_ide %s status 0x%02x: BSY with other bits", names[ch][u], c->d[u].status);
            if (busy && c->d[u].intrq)
                sr_fail(r, "piix_ide %s has an interrupt during SRST", names[ch][u]);
        }
        check_transfer(c, r, ch);
    }
    ide->unmodelled = sr_u64(r);
    if (!r->failed) {
        for (int ch = 0; ch < 2; ch++) ide->ch[ch].line = line_wanted(&ide->ch[ch]);
        ide->bm_base = piix_ide_bmdma_base(ide);
        *(piix_ide *)opaque = copy;
    }
}

static void reset_op(void *opaque) { piix_ide_reset(opaque); }
static void free_op(void *opaque) { piix_ide_free(opaque); }

const panda_device_ops piix_ide_ops = {
    .type = "piix_ide",
    .state_version = PIIX_IDE_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
