/* PIIX IDE with an ATAPI CD-ROM drive (ide1 master), driven through the
 * ports as libata does: the signature, IDENTIFY PACKET DEVICE, PACKET over
 * PIO (byte count limit, interrupt reason) and DMA, the sense codes, disc
 * changes and the tray lock, and the state mid-transfer. */
#include "ide_fakes.h"
#include "storage/atapi.h"

#define DISC_SECTORS 400u /* 100 blocks */
#define DISC_BLOCKS (DISC_SECTORS / 4)

/* disk0 as ide0 master, a CD-ROM drive as ide1 master holding disk1 (or
 * empty) */
static piix_ide *make_cd(env *e, bool disc)
{
    e->b1 = fake_backend(&e->disk1);
    e->b1.read_only = true;
    e->b1.write = NULL;
    if (!disc) e->b1.nsectors = 0;
    ide_config cfg = {{{&e->b0, NULL}, {&e->b1, NULL}},
                      {fake_irq_line(&e->irq[0], 14), fake_irq_line(&e->irq[1], 15)},
                      {&e->ram, ram_read, ram_write},
                      {&e->log, h_transfer, h_before, h_moved},
                      e->direct,
                      {{false, false}, {true, false}}};
    return piix_ide_new(&cfg);
}

/* PACKET: the byte count limit, DMA or not, the command, then the packet. */
static void packet_raw(piix_ide *ide, const uint8_t cdb[12], uint16_t bcl, bool dma, bool check)
{
    ide_outb(ide, 1, 6, 0xA0);
    ide_outb(ide, 1, 1, dma ? 1 : 0);
    ide_outb(ide, 1, 4, (uint8_t)bcl);
    ide_outb(ide, 1, 5, (uint8_t)(bcl >> 8));
    ide_outb(ide, 1, 7, 0xA0);
    if (check) { /* the drive asks for the packet: DRQ, interrupt reason CoD */
        CHECK_EQ(ide_altstatus(ide, 1) & 0x89, 0x08);
        CHECK_EQ(ide_inb(ide, 1, 2) & 3, 1);
    }
    for (int i = 0; i < 12; i += 2) ide_outw(ide, 1, (uint16_t)(cdb[i] | cdb[i + 1] << 8));
}

static void packet(piix_ide *ide, const uint8_t cdb[12], uint16_t bcl, bool dma)
{
    packet_raw(ide, cdb, bcl, dma, true);
}

typedef struct pio_result {
    uint8_t status, error;
    uint32_t bytes, drqs, max_drq;
} pio_result;

/* The data-in phase as libata's HSM: each DRQ's count from the cylinder
 * registers (reason IO), then the status phase (IO|CoD). */
static pio_result pio_in(env *e, piix_ide *ide, uint8_t *out, size_t cap)
{
    pio_result r = {0};
    for (;;) {
        int irqs = e->irq[1].calls;
        uint8_t st = ide_inb(ide, 1, 7);
        if (!(st & 0x08)) {
            r.status = st;
            r.error = ide_inb(ide, 1, 1);
            CHECK_EQ(ide_inb(ide, 1, 2) & 3, 3);
            return r;
        }
        CHECK_EQ(ide_inb(ide, 1, 2) & 3, 2);
        uint32_t n = ide_inb(ide, 1, 4) | (uint32_t)ide_inb(ide, 1, 5) << 8;
        CHECK(n > 0);
        r.drqs++;
        if (n > r.max_drq) r.max_drq = n;
        for (uint32_t i = 0; i < n; i += 2) {
            uint16_t w = ide_inw(ide, 1);
            if (r.bytes + i + 1 < cap) {
                out[r.bytes + i] = (uint8_t)w;
                out[r.bytes + i + 1] = (uint8_t)(w >> 8);
            }
        }
        r.bytes += n;
        (void)irqs;
        if (r.drqs > 10000) break;
    }
    return r;
}

static pio_result run(env *e, piix_ide *ide, const uint8_t cdb[12], uint16_t bcl, uint8_t *out, size_t cap)
{
    packet(ide, cdb, bcl, false);
    return pio_in(e, ide, out, cap);
}

/* REQUEST SENSE's key/asc/ascq as one number */
static uint32_t sense_of(env *e, piix_ide *ide)
{
    uint8_t cdb[12] = {0x03, 0, 0, 0, 18}, buf[64] = {0};
    pio_result r = run(e, ide, cdb, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.status & 0x01, 0);
    CHECK_EQ(r.bytes, 18);
    return (uint32_t)(buf[2] & 0x0F) << 16 | (uint32_t)buf[12] << 8 | buf[13];
}

static bool tur_ok(env *e, piix_ide *ide)
{
    uint8_t cdb[12] = {0};
    pio_result r = run(e, ide, cdb, 0, NULL, 0);
    return !(r.status & 0x01);
}

static void test_signature_identify(env *e)
{
    piix_ide *ide = make_cd(e, true);
    ide_outb(ide, 1, 6, 0xA0);
    CHECK_EQ(ide_inb(ide, 1, 2), 1);
    CHECK_EQ(ide_inb(ide, 1, 3), 1);
    CHECK_EQ(ide_inb(ide, 1, 4), 0x14);
    CHECK_EQ(ide_inb(ide, 1, 5), 0xEB);
    /* SRST: the signature again, and no DRDY (QEMU) */
    ide_devctl(ide, 1, 0x04);
    ide_devctl(ide, 1, 0x00);
    CHECK_EQ(ide_inb(ide, 1, 7), 0x00);
    CHECK_EQ(ide_inb(ide, 1, 4), 0x14);
    CHECK_EQ(ide_inb(ide, 1, 5), 0xEB);
    /* IDENTIFY DEVICE: aborted, the signature set */
    ide_outb(ide, 1, 4, 0);
    ide_outb(ide, 1, 5, 0);
    ide_outb(ide, 1, 7, 0xEC);
    CHECK_EQ(ide_inb(ide, 1, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 1, 1), 0x04);
    CHECK_EQ(ide_inb(ide, 1, 4), 0x14);
    CHECK_EQ(ide_inb(ide, 1, 5), 0xEB);
    /* READ SECTORS too */
    ata_cmd28(ide, 1, 0, 0, 1, 0x20);
    CHECK_EQ(ide_inb(ide, 1, 7) & 0x09, 0x01);
    /* IDENTIFY PACKET DEVICE */
    ide_outb(ide, 1, 6, 0xA0);
    ide_outb(ide, 1, 7, 0xA1);
    CHECK_EQ(ide_inb(ide, 1, 7), 0x58);
    uint16_t id[256];
    for (int i = 0; i < 256; i++) id[i] = ide_inw(ide, 1);
    CHECK_EQ(ide_inb(ide, 1, 7) & 0x08, 0);
    CHECK_EQ(id[0], 0x85C0); /* ATAPI, CD-ROM, removable, 12-byte packets */
    char model[41];
    for (int i = 0; i < 20; i++) {
        model[2 * i] = (char)(id[27 + i] >> 8);
        model[2 * i + 1] = (char)id[27 + i];
    }
    model[40] = 0;
    CHECK(!strncmp(model, "QEMU DVD-ROM ", 13));
    CHECK(id[49] & (1 << 8));  /* DMA */
    CHECK(id[49] & (1 << 9));  /* LBA */
    CHECK_EQ(id[63] & 7, 7);   /* MWDMA 0-2 */
    CHECK(id[82] & (1 << 4));  /* PACKET feature set */
    /* DEVICE RESET: signature, no interrupt */
    int calls = e->irq[1].calls;
    ide_outb(ide, 1, 4, 0);
    ide_outb(ide, 1, 7, 0x08);
    CHECK_EQ(e->irq[1].calls, calls);
    CHECK_EQ(ide_inb(ide, 1, 4), 0x14);
    CHECK_EQ(ide_inb(ide, 1, 1), 0x01);
    /* the disk on ide0 still refuses PACKET and IDENTIFY PACKET */
    ide_outb(ide, 0, 6, 0xA0);
    ide_outb(ide, 0, 7, 0xA0);
    CHECK_EQ(ide_inb(ide, 0, 7) & 0x09, 0x01);
    ide_outb(ide, 0, 7, 0xA1);
    CHECK_EQ(ide_inb(ide, 0, 7) & 0x09, 0x01);
    piix_ide_free(ide);
}

static void test_commands(env *e)
{
    piix_ide *ide = make_cd(e, true);
    static uint8_t buf[DISC_BLOCKS * 2048];
    CHECK(tur_ok(e, ide));
    CHECK_EQ(sense_of(e, ide), 0);
    /* INQUIRY */
    uint8_t inq[12] = {0x12, 0, 0, 0, 96};
    pio_result r = run(e, ide, inq, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.status & 0x01, 0);
    CHECK_EQ(r.bytes, 36);
    CHECK_EQ(buf[0], 5);
    CHECK_EQ(buf[1], 0x80);
    CHECK(!memcmp(buf + 16, "QEMU DVD-ROM", 12));
    /* READ CAPACITY */
    uint8_t cap[12] = {0x25};
    r = run(e, ide, cap, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 8);
    CHECK_EQ((uint32_t)buf[0] << 24 | buf[1] << 16 | buf[2] << 8 | buf[3], DISC_BLOCKS - 1);
    CHECK_EQ((uint32_t)buf[4] << 24 | buf[5] << 16 | buf[6] << 8 | buf[7], 2048);
    /* READ(10) of 7 blocks at 3 under a byte count limit of 3001 (odd:
     * 3000 per DRQ at most), byte-exact with the disc */
    hook_clear(&e->log);
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 3, 0, 0, 7};
    r = run(e, ide, rd, 3001, buf, sizeof buf);
    CHECK_EQ(r.status & 0x01, 0);
    CHECK_EQ(r.bytes, 7 * 2048);
    CHECK_EQ(r.max_drq, 3000);
    CHECK(r.drqs >= 5);
    CHECK(!memcmp(buf, e->disk1.data + 3 * 2048, 7 * 2048));
    CHECK_EQ(e->log.bytes[IDE_DISK_TO_BUFFER], 7 * 2048);
    CHECK_EQ(e->log.bytes[IDE_BUFFER_TO_PORT], 7 * 2048);
    CHECK_EQ(e->log.ev[0].kind, IDE_DISK_TO_BUFFER);
    CHECK_EQ(e->log.ev[0].disk_offset, 3 * 2048);
    CHECK_EQ(e->log.ev[1].kind, IDE_BUFFER_TO_PORT);
    CHECK_EQ(e->log.ev[1].disk_offset, 3 * 2048);
    CHECK_EQ(e->log.ev[1].len, 3000);
    CHECK_EQ(e->log.ev[2].disk_offset, 3 * 2048 + 3000);
    /* READ(12), the whole disc under the largest limit */
    uint8_t rd12[12] = {0xA8, 0, 0, 0, 0, 0, 0, 0, 0, DISC_BLOCKS};
    r = run(e, ide, rd12, 0, buf, sizeof buf);
    CHECK_EQ(r.bytes, DISC_BLOCKS * 2048);
    CHECK(!memcmp(buf, e->disk1.data, DISC_BLOCKS * 2048u));
    /* past the end: ILLEGAL REQUEST / LBA OUT OF RANGE, nothing read */
    int reads = e->disk1.reads;
    uint8_t past[12] = {0x28, 0, 0, 0, 0, DISC_BLOCKS - 1, 0, 0, 2};
    r = run(e, ide, past, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.status, 0x41);
    CHECK_EQ(r.error >> 4, 5);
    CHECK_EQ(r.bytes, 0);
    CHECK_EQ(e->disk1.reads, reads);
    CHECK_EQ(sense_of(e, ide), 0x052100);
    uint8_t huge[12] = {0xA8, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    r = run(e, ide, huge, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.error >> 4, 5);
    CHECK_EQ(sense_of(e, ide), 0x052100);
    /* an unknown command: 05/20 with ABRT */
    uint8_t bad[12] = {0xFF};
    r = run(e, ide, bad, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.error, 0x54);
    CHECK_EQ(sense_of(e, ide), 0x052000);
    /* MODE SENSE(10) 2Ah, READ TOC in LBA and MSF, GET CONFIGURATION,
     * MECHANISM STATUS: answered, within their allocation lengths */
    uint8_t ms[12] = {0x5A, 0, 0x2A, 0, 0, 0, 0, 0, 128};
    r = run(e, ide, ms, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 28);
    CHECK_EQ(buf[8], 0x2A);
    uint8_t ms3f[12] = {0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 10};
    r = run(e, ide, ms3f, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 10);
    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 100};
    r = run(e, ide, toc, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 20);
    CHECK_EQ(buf[1], 18);
    CHECK_EQ(buf[6], 1);     /* track 1 */
    CHECK_EQ(buf[14], 0xAA); /* lead-out at the disc's end */
    CHECK_EQ(buf[19], DISC_BLOCKS);
    uint8_t msf[12] = {0x43, 2, 0, 0, 0, 0, 0, 0, 100};
    r = run(e, ide, msf, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(buf[10], 2);    /* track 1 at 00:02:00 */
    CHECK_EQ(buf[11], 0);
    uint8_t cfg[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 255};
    r = run(e, ide, cfg, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(buf[6] << 8 | buf[7], 0x0008); /* CD-ROM current */
    CHECK_EQ(r.bytes, 40);
    uint8_t mech[12] = {0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8};
    r = run(e, ide, mech, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 8);
    uint8_t sense_short[12] = {0x03, 0, 0, 0, 7};
    r = run(e, ide, sense_short, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 7);
    /* a backend failure: MEDIUM ERROR */
    e->disk1.fail_from = 8;
    r = run(e, ide, rd, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.status & 1, 1);
    CHECK_EQ(r.error >> 4, 3);
    CHECK_EQ(sense_of(e, ide), 0x031100);
    e->disk1.fail_from = -1;
    piix_ide_free(ide);
}

static void test_media(env *e)
{
    piix_ide *ide = make_cd(e, false);
    uint8_t buf[8192];
    ide_cd_status st;
    CHECK(piix_ide_cd_status(ide, 1, 0, &st));
    CHECK(!st.media);
    CHECK(!piix_ide_cd_status(ide, 0, 0, &st)); /* a disk */
    CHECK_EQ(piix_ide_cd_change(ide, 0, 0, 8, false), -1);
    /* empty: NOT READY / MEDIUM NOT PRESENT; reads refused alike */
    CHECK(!tur_ok(e, ide));
    CHECK_EQ(sense_of(e, ide) >> 8, 0x023A);
    uint8_t cap[12] = {0x25};
    pio_result r = run(e, ide, cap, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.error >> 4, 2);
    /* GET EVENT STATUS: media class, no disc */
    uint8_t gesn[12] = {0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8};
    r = run(e, ide, gesn, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.bytes, 8);
    CHECK_EQ(buf[2], 4);
    CHECK_EQ(buf[5], 0);
    uint8_t gesn_async[12] = {0x4A, 0, 0, 0, 0x10, 0, 0, 0, 8};
    r = run(e, ide, gesn_async, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.error >> 4, 5);
    /* a disc: UNIT ATTENTION once, then ready; a new-media event */
    CHECK_EQ(piix_ide_cd_change(ide, 1, 0, DISC_SECTORS, false), 0);
    r = run(e, ide, gesn, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(buf[4], ATAPI_EV_NEW_MEDIA);
    CHECK_EQ(buf[5], 2);
    r = run(e, ide, gesn, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(buf[4], 0); /* reported */
    CHECK(!tur_ok(e, ide));
    CHECK_EQ(sense_of(e, ide), 0x062800);
    CHECK(tur_ok(e, ide));
    CHECK(piix_ide_cd_status(ide, 1, 0, &st));
    CHECK(st.media);
    CHECK_EQ(st.nsectors, DISC_SECTORS);
    /* REQUEST SENSE takes the unit attention itself */
    CHECK_EQ(piix_ide_cd_change(ide, 1, 0, 16, false), 0);
    CHECK_EQ(sense_of(e, ide), 0x062800);
    CHECK_EQ(sense_of(e, ide), 0);
    CHECK(tur_ok(e, ide));
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 3, 0, 0, 2};
    r = run(e, ide, rd, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.error >> 4, 5); /* the new disc has 4 blocks */
    /* the guest locks the tray: its eject and the host's (unforced) fail */
    uint8_t lock[12] = {0x1E, 0, 0, 0, 1};
    CHECK(!run(e, ide, lock, 0xFFFE, buf, sizeof buf).status ||
          !(run(e, ide, lock, 0xFFFE, buf, sizeof buf).status & 1));
    CHECK(piix_ide_cd_status(ide, 1, 0, &st));
    CHECK(st.locked);
    uint8_t eject[12] = {0x1B, 0, 0, 0, 0x02};
    r = run(e, ide, eject, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.status & 1, 1);
    CHECK_EQ(sense_of(e, ide), 0x025302);
    CHECK_EQ(piix_ide_cd_change(ide, 1, 0, 0, false), 1);
    CHECK_EQ(piix_ide_cd_change(ide, 1, 0, DISC_SECTORS, false), 1);
    CHECK(tur_ok(e, ide)); /* still in */
    r = run(e, ide, gesn, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(buf[4], ATAPI_EV_EJECT_REQUEST);
    /* forced: gone */
    CHECK_EQ(piix_ide_cd_change(ide, 1, 0, 0, true), 0);
    CHECK(!tur_ok(e, ide));
    CHECK_EQ(sense_of(e, ide) >> 8, 0x023A);
    /* unlocked: the guest's eject opens the tray, its load closes it */
    CHECK_EQ(piix_ide_cd_change(ide, 1, 0, DISC_SECTORS, false), 0);
    (void)sense_of(e, ide);
    uint8_t unlock[12] = {0x1E};
    run(e, ide, unlock, 0xFFFE, buf, sizeof buf);
    r = run(e, ide, eject, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(r.status & 1, 0);
    CHECK(!tur_ok(e, ide));
    CHECK_EQ(sense_of(e, ide), 0x023A02);
    uint8_t load[12] = {0x1B, 0, 0, 0, 0x03};
    run(e, ide, load, 0xFFFE, buf, sizeof buf);
    CHECK(tur_ok(e, ide));
    /* the host changes the disc in the middle of a read: it fails at once
     * (interrupt, CHECK CONDITION: NOT READY, or the change's attention) */
    uint8_t rd8[12] = {0x28, 0, 0, 0, 0, 0, 0, 0, 8};
    for (int insert = 0; insert < 2; insert++) {
        if (insert) { /* a disc to read, then another one */
            CHECK_EQ(piix_ide_cd_change(ide, 1, 0, DISC_SECTORS, false), 0);
            (void)sense_of(e, ide);
        }
        packet(ide, rd8, 2048, false);
        CHECK_EQ(ide_inb(ide, 1, 7), 0x58); /* the DRQ's interrupt taken */
        CHECK_EQ(piix_ide_data_in(ide, 1, buf, 1000), 1000);
        CHECK_EQ(e->irq[1].level, 0);
        CHECK_EQ(piix_ide_cd_change(ide, 1, 0, insert ? DISC_SECTORS : 0, false), 0);
        CHECK_EQ(e->irq[1].level, 1);
        CHECK_EQ(ide_inb(ide, 1, 7), 0x41);
        CHECK_EQ(ide_inb(ide, 1, 1) >> 4, insert ? 6 : 2);
        CHECK_EQ(ide_inb(ide, 1, 2) & 3, 3);
        CHECK_EQ(piix_ide_data_in(ide, 1, buf, 1000), 0);
        CHECK_EQ(sense_of(e, ide) >> 8, insert ? 0x0628u : 0x023Au);
    }
    CHECK(tur_ok(e, ide)); /* the attention was reported by the failed read */
    piix_ide_free(ide);
}

static void test_dma(env *e)
{
    piix_ide *ide = make_cd(e, true);
    uint8_t *ram = e->ram.mem;
    /* two PRD pieces: 6 KiB at 0x10000 and 10 KiB at 0x20000 */
    put_prd(e, 0x1000, 0, 0x10000, 6144, false);
    put_prd(e, 0x1000, 1, 0x20000, 10240, true);
    bm_prd(ide, 1, 0x1000);
    hook_clear(&e->log);
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 10, 0, 0, 8};
    packet(ide, rd, 0, true);
    CHECK_EQ(ide_altstatus(ide, 1) & 0x08, 0x08); /* waiting for the bus master */
    int calls = e->irq[1].calls;
    bm_outb(ide, 1, 0, 0x09);
    CHECK(e->irq[1].calls > calls);
    CHECK_EQ(bm_inb(ide, 1, 2) & 0x07, 0x04); /* done, table used up, interrupt */
    CHECK_EQ(ide_inb(ide, 1, 7), 0x50);
    CHECK_EQ(ide_inb(ide, 1, 2) & 3, 3);
    CHECK(!memcmp(ram + 0x10000, e->disk1.data + 10 * 2048, 6144));
    CHECK(!memcmp(ram + 0x20000, e->disk1.data + 13 * 2048, 10240));
    CHECK_EQ(e->log.bytes[IDE_DISK_TO_RAM], 8 * 2048);
    CHECK_EQ(e->log.before, 2);
    CHECK_EQ(e->log.order_errors, 0);
    bm_outb(ide, 1, 0, 0x08);
    bm_outb(ide, 1, 2, 0x04);
    /* a reply by DMA (INQUIRY): no disk hooks */
    hook_clear(&e->log);
    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    packet(ide, inq, 0, true);
    bm_outb(ide, 1, 0, 0x09);
    CHECK_EQ(ide_inb(ide, 1, 7), 0x50);
    CHECK_EQ(ram[0x10000], 5);
    CHECK_EQ(e->log.nev, 0);
    bm_outb(ide, 1, 0, 0x08);
    piix_ide_free(ide);
}

static void *create(void *o)
{
    return make_cd(o, true);
}

static void probe(void *dev, void *o, check_trace *t)
{
    piix_ide *ide = dev;
    env *e = o;
    trace_irq_begin(&e->irq[1]);
    for (uint32_t r = 1; r < 8; r++) trace_add(t, ide_inb(ide, 1, r));
    trace_irq(t, &e->irq[1]);
    /* whatever is in progress, and then a read */
    uint8_t buf[4096];
    trace_add(t, piix_ide_data_in(ide, 1, buf, sizeof buf));
    trace_add(t, ide_inb(ide, 1, 7));
    ide_cd_status st;
    CHECK(piix_ide_cd_status(ide, 1, 0, &st));
    trace_add(t, st.media | st.locked << 1 | st.tray_open << 2);
    trace_add(t, st.nsectors);
}

static void test_state(env *e)
{
    state_case sc = {&piix_ide_ops, e, create, probe};
    piix_ide *a = make_cd(e, true);
    uint8_t buf[16384];
    /* a read stopped after 1000 bytes of its first DRQ, a lock, a pending
     * unit attention */
    CHECK_EQ(piix_ide_cd_change(a, 1, 0, DISC_SECTORS, true), 0);
    (void)sense_of(e, a);
    uint8_t lock[12] = {0x1E, 0, 0, 0, 1};
    run(e, a, lock, 0xFFFE, buf, sizeof buf);
    CHECK_EQ(piix_ide_cd_change(a, 1, 0, 8, false), 1); /* leaves an eject request */
    uint8_t rd[12] = {0x28, 0, 0, 0, 0, 20, 0, 0, 6};
    packet(a, rd, 4096, false);
    CHECK_EQ(ide_inb(a, 1, 7) & 0x08, 0x08);
    CHECK_EQ(piix_ide_data_in(a, 1, buf, 1000), 1000);
    check_state_reloads(&sc, a);
    size_t len;
    uint8_t *s = state_bytes(&sc, a, &len);
    piix_ide *b = make_cd(e, false); /* no disc: the state brings its size */
    CHECK(state_load(&sc, b, s, len, piix_ide_ops.state_version, NULL, 0));
    CHECK_EQ(piix_ide_data_in(b, 1, buf + 1000, 3096), 3096);
    uint8_t st = ide_inb(b, 1, 7);
    CHECK_EQ(st & 0x08, 0x08);
    CHECK_EQ(piix_ide_data_in(b, 1, buf + 4096, 8192), 8192);
    CHECK(!memcmp(buf, e->disk1.data + 20 * 2048, 6 * 2048));
    CHECK_EQ(ide_inb(b, 1, 7), 0x50);
    ide_cd_status cs;
    CHECK(piix_ide_cd_status(b, 1, 0, &cs));
    CHECK(cs.media && cs.locked && cs.nsectors == DISC_SECTORS);
    /* a CD-ROM drive's state does not load into a machine without one */
    piix_ide *disk_only = make_ide(e, false);
    char why[160];
    CHECK(!state_load(&sc, disk_only, s, len, piix_ide_ops.state_version, why, sizeof why));
    CHECK(strstr(why, "CD-ROM") != NULL);
    piix_ide_free(disk_only);
    /* the standard checks, from a CD-ROM drive mid-read */
    check_state_case(&sc, a, len, 1500, 7);
    free(s);
    piix_ide_free(a);
    piix_ide_free(b);
}

/* Random register and data traffic on the CD-ROM drive's channel,
 * packets with random bytes among them: nothing breaks the sanitizers and
 * status stays an ATA status. */
static void test_storm(env *e)
{
    piix_ide *ide = make_cd(e, true);
    test_rng rng = {0xA7A91u};
    uint8_t buf[512];
    for (int i = 0; i < 20000; i++) {
        uint64_t x = rng_next(&rng);
        switch (x % 6) {
        case 0: {
            uint8_t cdb[12];
            for (int k = 0; k < 12; k++) cdb[k] = (uint8_t)(rng_next(&rng) >> 8);
            static const uint8_t ops[] = {0x00, 0x03, 0x12, 0x1B, 0x1E, 0x25, 0x28, 0x43,
                                          0x46, 0x4A, 0x51, 0x5A, 0xA8, 0xBD, 0xBB, 0x2B};
            if (x & 0x100) cdb[0] = ops[(x >> 12) % sizeof ops];
            if (cdb[0] == 0x28 || cdb[0] == 0xA8) cdb[2] = cdb[3] = cdb[4] = 0, cdb[6] = 0;
            packet_raw(ide, cdb, (uint16_t)(x >> 24), x & 0x200, false);
            break;
        }
        case 1: ide_outb(ide, 1, (uint32_t)(x >> 8) % 8, (uint8_t)(x >> 16)); break;
        case 2: (void)ide_inb(ide, 1, (uint32_t)(x >> 8) % 8); break;
        case 3: piix_ide_data_in(ide, 1, buf, (size_t)(x >> 8) % sizeof buf); break;
        case 4: bm_outb(ide, 1, 0, (uint8_t)(x >> 8) & 0x09); break;
        default:
            if ((x >> 8) % 50 == 0) piix_ide_cd_change(ide, 1, 0, (x >> 16) % 300, x & 0x100);
            if ((x >> 8) % 97 == 0) {
                ide_devctl(ide, 1, 0x04);
                ide_devctl(ide, 1, 0x00);
            }
            break;
        }
        CHECK((ide_altstatus(ide, 1) & ~0xD9) == 0);
    }
    piix_ide_free(ide);
}

int main(void)
{
    static env e;
    env_init(&e, 64, DISC_SECTORS);
    e.direct = 0xC000;
    test_signature_identify(&e);
    test_commands(&e);
    test_media(&e);
    test_dma(&e);
    test_state(&e);
    test_storm(&e);
    env_free(&e);
    return check_done();
}
