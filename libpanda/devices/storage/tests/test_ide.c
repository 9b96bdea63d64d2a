/* PIIX IDE: the PCI function, IDENTIFY, PIO and DMA sector transfers
 * byte-exact against an in-memory disk, errors, resets, the interrupt
 * line, and a storm of random register accesses. */
#include "ide_fakes.h"

#define DISK_SECTORS 70000u /* room for a 65536-sector EXT transfer */

static bool same_as_disk(const fake_disk *d, uint64_t lba, const uint8_t *p, size_t bytes)
{
    return memcmp(d->data + lba * BLOCK_SECTOR, p, bytes) == 0;
}

/* ---- the PCI function ---- */

static void test_config(env *e)
{
    e->direct = 0;
    hook_clear(&e->log);
    piix_ide *ide = make_ide(e, false);
    bus_device C = piix_ide_config_device(ide);
    CHECK_EQ(dev_in(C, 0x00, 4), 0x70108086u);
    CHECK_EQ(dev_in(C, 0x08, 4), 0x01018000u); /* class 0101, prog-if 0x80, rev 0 */
    CHECK_EQ(dev_in(C, 0x0e, 1), 0x00);
    /* QEMU's reset: command 0, BAR4 unassigned, IDETIM 0 */
    CHECK_EQ(dev_in(C, 0x04, 2), 0x0000);
    CHECK_EQ(dev_in(C, 0x20, 4), 0x00000001u);
    CHECK_EQ(dev_in(C, 0x40, 4), 0);
    CHECK_EQ(piix_ide_bmdma_base(ide), 0);
    /* not decoded: the bus-master block floats */
    CHECK_EQ(dev_in(piix_ide_bmdma_device(ide), 2, 1), 0xFF);
    /* BAR sizing: 16 bytes of I/O */
    dev_out(C, 0x20, 0xFFFFFFFFu, 4);
    CHECK_EQ(dev_in(C, 0x20, 4), 0xFFFFFFF1u);
    CHECK_EQ(e->log.moved, 0); /* still not decoded */
    /* SeaBIOS: BAR4 := 0xC000, IDETIM decode, I/O + master */
    dev_out(C, 0x20, 0xC000, 4);
    dev_out(C, 0x40, 0x8000, 2);
    dev_out(C, 0x42, 0x8000, 2);
    dev_out(C, 0x04, 0x0005, 2);
    CHECK_EQ(piix_ide_bmdma_base(ide), 0xC000);
    CHECK_EQ(e->log.moved, 1);
    CHECK_EQ(e->log.moved_to, 0xC000);
    CHECK_EQ(dev_in(C, 0x41, 1) & 0x80, 0x80);
    CHECK_EQ(dev_in(C, 0x43, 1) & 0x80, 0x80);
    dev_out(C, 0x20, 0xC041, 4); /* low bits read-only */
    CHECK_EQ(dev_in(C, 0x20, 4), 0xC041u);
    CHECK_EQ(e->log.moved_to, 0xC040);
    dev_out(C, 0x04, 0x0004, 2); /* I/O decode off */
    CHECK_EQ(piix_ide_bmdma_base(ide), 0);
    CHECK_EQ(e->log.moved_to, 0);
    /* read-only: IDs, class, other BARs, interrupt pin */
    dev_out(C, 0x00, 0, 4);
    dev_out(C, 0x08, 0, 4);
    dev_out(C, 0x10, 0xFFFFFFFFu, 4);
    dev_out(C, 0x3d, 0xFF, 1);
    CHECK_EQ(dev_in(C, 0x00, 4), 0x70108086u);
    CHECK_EQ(dev_in(C, 0x08, 4), 0x01018000u);
    CHECK_EQ(dev_in(C, 0x10, 4), 0);
    CHECK_EQ(dev_in(C, 0x3d, 1), 0);
    /* reset: back to the firmware state, the move reported */
    dev_out(C, 0x04, 0x0005, 2);
    e->log.moved = 0;
    piix_ide_reset(ide);
    CHECK_EQ(dev_in(C, 0x20, 4), 1);
    CHECK_EQ(e->log.moved, 1);
    CHECK_EQ(e->log.moved_to, 0);
    piix_ide_free(ide);

    /* direct boot: the state SeaBIOS leaves */
    e->direct = 0xC000;
    ide = make_ide(e, false);
    C = piix_ide_config_device(ide);
    CHECK_EQ(dev_in(C, 0x04, 2), 0x0005);
    CHECK_EQ(dev_in(C, 0x20, 4), 0xC001u);
    CHECK_EQ(dev_in(C, 0x40, 4), 0x80008000u);
    CHECK_EQ(piix_ide_bmdma_base(ide), 0xC000);
    dev_out(C, 0x04, 0, 2);
    piix_ide_reset(ide); /* back to the state it was created in */
    CHECK_EQ(dev_in(C, 0x04, 2), 0x0005);
    CHECK_EQ(piix_ide_bmdma_base(ide), 0xC000);
    piix_ide_free(ide);
    e->direct = 0xC008; /* not 16-aligned */
    CHECK(make_ide(e, false) == NULL);
    e->direct = 0xC000;
    /* a disk bigger than LBA48, a disk without read */
    block_backend big = e->b0, noread = e->b0;
    big.nsectors = (1ull << 48) + 1;
    noread.read = NULL;
    ide_config cfg = {{{&big, NULL}, {NULL, NULL}}, {{0}, {0}}, {0}, {0}, 0, {{false}}};
    CHECK(piix_ide_new(&cfg) == NULL);
    cfg.disk[0][0] = &noread;
    CHECK(piix_ide_new(&cfg) == NULL);
    CHECK(piix_ide_new(NULL) == NULL);
}

/* ---- signature, IDENTIFY, absent devices ---- */

static void read_block(piix_ide *ide, int ch, uint8_t *p, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 2) {
        uint16_t w = ide_inw(ide, ch);
        p[i] = (uint8_t)w;
        p[i + 1] = (uint8_t)(w >> 8);
    }
}

static void ata_string(const uint8_t *id, unsigned word, unsigned words, char *out)
{
    for (unsigned i = 0; i < 2 * words; i++) out[i] = (char)id[2 * word + (i ^ 1)];
    out[2 * words] = 0;
}

static unsigned word_at(const uint8_t *id, unsigned w)
{
    return (unsigned)(id[2 * w] | id[2 * w + 1] << 8);
}

static void test_identify(env *e)
{
    piix_ide *ide = make_ide(e, true);
    /* the disk signature after power-on */
    CHECK_EQ(ide_inb(ide, 0, 2), 1);
    CHECK_EQ(ide_inb(ide, 0, 3), 1);
    CHECK_EQ(ide_inb(ide, 0, 4), 0);
    CHECK_EQ(ide_inb(ide, 0, 5), 0);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x01);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    CHECK_EQ(ide_inb(ide, 0, 6), 0xA0);

    fake_irq *irq = &e->irq[0];
    int raises = irq->raises;
    ide_outb(ide, 0, 6, 0xA0);
    ide_outb(ide, 0, 7, 0xEC);
    CHECK_EQ(irq->level, 1);
    CHECK_EQ(irq->raises, raises + 1);
    CHECK_EQ(irq->line, 14);
    CHECK_EQ(ide_altstatus(ide, 0), 0x58);
    CHECK_EQ(irq->level, 1); /* alternate status does not acknowledge */
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58);
    CHECK_EQ(irq->level, 0);
    uint8_t id[512];
    read_block(ide, 0, id, sizeof id);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50); /* DRQ gone after 256 words */
    CHECK_EQ(irq->level, 0);
    char s[48];
    ata_string(id, 27, 20, s);
    CHECK(strcmp(s, "PYPANDA HARDDISK                        ") == 0);
    ata_string(id, 10, 10, s);
    CHECK(strcmp(s, "PP00001             ") == 0);
    CHECK_EQ(word_at(id, 0), 0x0040);
    CHECK_EQ(word_at(id, 47), 0x8010);
    CHECK_EQ(word_at(id, 49) & 0x0300, 0x0300); /* LBA and DMA */
    CHECK_EQ(word_at(id, 53), 0x0007);
    CHECK_EQ(word_at(id, 59), 0x0110);
    CHECK_EQ(word_at(id, 60) | word_at(id, 61) << 16, DISK_SECTORS);
    CHECK_EQ(word_at(id, 62), 0x0007);
    CHECK_EQ(word_at(id, 63), 0x0007); /* MWDMA 0-2, none selected yet */
    CHECK_EQ(word_at(id, 64), 0x0003); /* PIO 3-4 */
    CHECK_EQ(word_at(id, 83) & 0x0400, 0x0400); /* LBA48 */
    CHECK_EQ(word_at(id, 86) & 0x0400, 0x0400);
    CHECK_EQ(word_at(id, 88), 0); /* no UDMA behind a PIIX3 */
    CHECK_EQ(word_at(id, 100) | (uint64_t)word_at(id, 101) << 16, DISK_SECTORS);
    CHECK_EQ(word_at(id, 102) | word_at(id, 103), 0);
    CHECK_EQ(word_at(id, 1), DISK_SECTORS / (16 * 63)); /* cylinders */
    CHECK_EQ(word_at(id, 3), 16);
    CHECK_EQ(word_at(id, 6), 63);
    uint8_t sum = 0;
    for (int i = 0; i < 512; i++) sum = (uint8_t)(sum + id[i]);
    CHECK_EQ(sum, 0);
    CHECK_EQ(id[510], 0xA5);
    CHECK_EQ(e->log.count[IDE_BUFFER_TO_PORT], 0); /* no sectors moved */

    /* SET FEATURES: MWDMA2 shows in word 63; UDMA is refused */
    ide_outb(ide, 0, 1, 0x03);
    ide_outb(ide, 0, 2, 0x22);
    ide_outb(ide, 0, 7, 0xEF);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    ide_outb(ide, 0, 7, 0xEC);
    ide_inb(ide, 0, 7);
    read_block(ide, 0, id, sizeof id);
    CHECK_EQ(word_at(id, 63), 0x0407);
    sum = 0;
    for (int i = 0; i < 512; i++) sum = (uint8_t)(sum + id[i]);
    CHECK_EQ(sum, 0);
    ide_outb(ide, 0, 1, 0x03);
    ide_outb(ide, 0, 2, 0x45); /* UDMA5 */
    ide_outb(ide, 0, 7, 0xEF);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x04);
    ide_outb(ide, 0, 1, 0x77); /* unknown subcommand */
    ide_outb(ide, 0, 7, 0xEF);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    ide_outb(ide, 0, 1, 0x82); /* write cache off: word 85 bit 5 */
    ide_outb(ide, 0, 7, 0xEF);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    ide_outb(ide, 0, 7, 0xEC);
    read_block(ide, 0, id, sizeof id);
    CHECK_EQ(word_at(id, 85) & 0x20, 0);

    /* aborted on a disk: IDENTIFY PACKET, PACKET, DEVICE RESET, NOP, unknown */
    const uint8_t aborted[] = {0xA1, 0xA0, 0x08, 0x00, 0xB0, 0xFF, 0x2F};
    for (size_t i = 0; i < sizeof aborted; i++) {
        raises = irq->raises;
        ide_outb(ide, 0, 7, aborted[i]);
        CHECK_EQ(irq->raises, raises + 1);
        CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
        CHECK_EQ(ide_inb(ide, 0, 1), 0x04);
    }
    /* no-data commands that succeed */
    const uint8_t ok[] = {0x10, 0x70, 0x91, 0xE0, 0xE1, 0xE3, 0xE5, 0xE7, 0xEA};
    for (size_t i = 0; i < sizeof ok; i++) {
        ide_outb(ide, 0, 7, ok[i]);
        CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    }
    CHECK_EQ(e->disk0.flushes, 2);
    e->disk0.flush_fails = true;
    ide_outb(ide, 0, 7, 0xE7);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    e->disk0.flush_fails = false;
    /* READ NATIVE MAX ADDRESS (EXT) */
    ide_outb(ide, 0, 6, 0x40);
    ide_outb(ide, 0, 7, 0x27);
    CHECK_EQ(ide_inb(ide, 0, 3) | ide_inb(ide, 0, 4) << 8 | ide_inb(ide, 0, 5) << 16, DISK_SECTORS - 1);
    ide_devctl(ide, 0, 0x80); /* HOB */
    CHECK_EQ(ide_inb(ide, 0, 3), 0);
    ide_devctl(ide, 0, 0x00);

    /* absent slave on ide0: status and error 0, commands ignored, the
     * other registers read back what was written */
    ide_outb(ide, 0, 6, 0xB0);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x00);
    CHECK_EQ(ide_altstatus(ide, 0), 0x00);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x00);
    ide_outb(ide, 0, 2, 0x55);
    ide_outb(ide, 0, 3, 0xAA);
    CHECK_EQ(ide_inb(ide, 0, 2), 0x55);
    CHECK_EQ(ide_inb(ide, 0, 3), 0xAA);
    raises = irq->raises;
    ide_outb(ide, 0, 7, 0xEC);
    CHECK_EQ(irq->raises, raises);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x00);
    CHECK_EQ(ide_inw(ide, 0), 0); /* no DRQ */
    ide_outb(ide, 0, 6, 0xA0);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);

    /* ide1: the slave alone (the identify says device 4) */
    ide_outb(ide, 1, 6, 0xB0);
    CHECK_EQ(ide_inb(ide, 1, 7), 0x50);
    ide_outb(ide, 1, 7, 0xEC);
    CHECK_EQ(e->irq[1].level, 1);
    CHECK_EQ(e->irq[1].line, 15);
    read_block(ide, 1, id, sizeof id);
    ata_string(id, 10, 10, s);
    CHECK(strncmp(s, "PP00004", 7) == 0);
    CHECK_EQ(word_at(id, 60), 5000);
    ide_outb(ide, 1, 6, 0xA0); /* the absent master of ide1 */
    CHECK_EQ(ide_inb(ide, 1, 7), 0x00);
    CHECK_EQ(e->irq[1].level, 0); /* the selected device drives the line */
    ide_outb(ide, 1, 6, 0xB0);
    CHECK_EQ(e->irq[1].level, 1);
    CHECK_EQ(ide_inb(ide, 1, 7), 0x50);
    CHECK_EQ(e->irq[1].level, 0);
    piix_ide_free(ide);

    /* an empty channel reads 0 everywhere */
    ide = make_ide(e, false);
    for (uint32_t r = 1; r < 8; r++) CHECK_EQ(ide_inb(ide, 1, r), 0);
    ide_outb(ide, 1, 2, 0x55);
    CHECK_EQ(ide_inb(ide, 1, 2), 0);
    CHECK_EQ(ide_altstatus(ide, 1), 0);
    ide_outb(ide, 1, 7, 0xEC);
    CHECK_EQ(e->irq[1].level, 0);
    piix_ide_free(ide);
}

/* ---- PIO ---- */

/* Read count sectors by PIO from the current command, block by block as
 * libata does (status, then the block); returns the interrupts seen. */
static int pio_read(piix_ide *ide, env *e, uint8_t *out, uint32_t sectors, uint32_t per_block,
                    bool bulk)
{
    int raises = e->irq[0].raises - 1; /* the first block's was before the call */
    for (uint32_t done = 0; done < sectors;) {
        uint8_t st = ide_inb(ide, 0, 7);
        CHECK_EQ(st, 0x58);
        if (st != 0x58) return -1;
        uint32_t n = sectors - done < per_block ? sectors - done : per_block;
        if (bulk)
            CHECK_EQ(piix_ide_data_in(ide, 0, out + (size_t)done * 512, (size_t)n * 512), (size_t)n * 512);
        else
            read_block(ide, 0, out + (size_t)done * 512, (size_t)n * 512);
        done += n;
    }
    CHECK_EQ(ide_altstatus(ide, 0), 0x50);
    return e->irq[0].raises - raises;
}

static int pio_write(piix_ide *ide, env *e, const uint8_t *in, uint32_t sectors, uint32_t per_block,
                     bool bulk)
{
    int raises = e->irq[0].raises;
    for (uint32_t done = 0; done < sectors;) {
        uint8_t st = ide_inb(ide, 0, 7);
        CHECK_EQ(st, 0x58);
        if (st != 0x58) return -1;
        uint32_t n = sectors - done < per_block ? sectors - done : per_block;
        if (bulk) {
            CHECK_EQ(piix_ide_data_out(ide, 0, in + (size_t)done * 512, (size_t)n * 512), (size_t)n * 512);
        } else {
            for (uint32_t i = 0; i < n * 512; i += 4) { /* 32-bit PIO */
                const uint8_t *p = in + (size_t)done * 512 + i;
                dev_out(piix_ide_cmd_device(ide, 0), 0, (uint32_t)p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24, 4);
            }
        }
        done += n;
    }
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    return e->irq[0].raises - raises;
}

static void test_pio(env *e)
{
    piix_ide *ide = make_ide(e, false);
    uint8_t *buf = malloc(65536u * 512);
    fake_disk *d = &e->disk0;

    /* READ SECTORS: 1 sector, then 256 (count 0) */
    hook_clear(&e->log);
    ata_cmd28(ide, 0, 0, 1234, 1, 0x20);
    CHECK_EQ(pio_read(ide, e, buf, 1, 1, false), 1);
    CHECK(same_as_disk(d, 1234, buf, 512));
    CHECK_EQ(e->log.count[IDE_DISK_TO_BUFFER], 1);
    CHECK_EQ(e->log.count[IDE_BUFFER_TO_PORT], 1);
    CHECK_EQ(e->log.ev[0].kind, IDE_DISK_TO_BUFFER);
    CHECK_EQ(e->log.ev[0].disk_offset, 1234u * 512);
    CHECK_EQ(e->log.ev[0].len, 512);
    CHECK(!e->log.ev[0].dma);
    CHECK_EQ(e->log.ev[1].kind, IDE_BUFFER_TO_PORT);
    /* the address registers end at the last sector */
    CHECK_EQ(ide_inb(ide, 0, 3), 1234 & 0xFF);
    CHECK_EQ(ide_inb(ide, 0, 4), 1234 >> 8);
    ata_cmd28(ide, 0, 0, 40000, 0, 0x20);
    CHECK_EQ(pio_read(ide, e, buf, 256, 1, false), 256);
    CHECK(same_as_disk(d, 40000, buf, 256 * 512));
    /* READ SECTORS EXT: 65536 (count 0), bulk; and 300 by words */
    hook_clear(&e->log);
    ata_cmd48(ide, 0, 0, 10, 0, 0x24);
    CHECK_EQ(pio_read(ide, e, buf, 65536, 1, true), 65536);
    CHECK(same_as_disk(d, 10, buf, 65536u * 512));
    CHECK_EQ(e->log.bytes[IDE_DISK_TO_BUFFER], 65536u * 512);
    CHECK_EQ(e->log.bytes[IDE_BUFFER_TO_PORT], 65536u * 512);
    ata_cmd48(ide, 0, 0, 69000, 300, 0x24);
    CHECK_EQ(pio_read(ide, e, buf, 300, 1, false), 300);
    CHECK(same_as_disk(d, 69000, buf, 300 * 512));
    /* LBA48 address bits above 28 reach the disk: past its end here */
    ata_cmd48(ide, 0, 0, 1ull << 32, 1, 0x24);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x10);

    /* WRITE SECTORS: 3 by dwords; the first block wants no interrupt */
    for (int i = 0; i < 3 * 512; i++) buf[i] = (uint8_t)(i * 31 + 5);
    hook_clear(&e->log);
    ata_cmd28(ide, 0, 0, 77, 3, 0x30);
    CHECK_EQ(e->irq[0].level, 0);
    CHECK_EQ(pio_write(ide, e, buf, 3, 1, false), 3);
    CHECK(same_as_disk(d, 77, buf, 3 * 512));
    CHECK_EQ(e->log.count[IDE_PORT_TO_BUFFER], 3);
    CHECK_EQ(e->log.count[IDE_BUFFER_TO_DISK], 3);
    CHECK_EQ(e->log.ev[1].kind, IDE_BUFFER_TO_DISK);
    CHECK_EQ(e->log.ev[1].disk_offset, 77u * 512);
    /* 256 (count 0) and EXT 65536 (count 0), bulk */
    for (size_t i = 0; i < 65536u * 512; i++) buf[i] = (uint8_t)(i * 7 + (i >> 9));
    ata_cmd28(ide, 0, 0, 500, 0, 0x30);
    CHECK_EQ(pio_write(ide, e, buf, 256, 1, true), 256);
    CHECK(same_as_disk(d, 500, buf, 256 * 512));
    ata_cmd48(ide, 0, 0, 4000, 0, 0x34);
    CHECK_EQ(pio_write(ide, e, buf, 65536, 1, true), 65536);
    CHECK(same_as_disk(d, 4000, buf, 65536u * 512));

    /* READ/WRITE MULTIPLE: 4-sector blocks, one interrupt a block */
    ide_outb(ide, 0, 2, 4);
    ide_outb(ide, 0, 7, 0xC6);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    ata_cmd28(ide, 0, 0, 300, 10, 0xC4);
    CHECK_EQ(pio_read(ide, e, buf, 10, 4, false), 3);
    CHECK(same_as_disk(d, 300, buf, 10 * 512));
    for (int i = 0; i < 10 * 512; i++) buf[i] = (uint8_t)(i ^ 0x3C);
    ata_cmd28(ide, 0, 0, 320, 10, 0xC5);
    CHECK_EQ(pio_write(ide, e, buf, 10, 4, false), 3);
    CHECK(same_as_disk(d, 320, buf, 10 * 512));
    ata_cmd48(ide, 0, 0, 330, 9, 0x29);
    CHECK_EQ(pio_read(ide, e, buf, 9, 4, true), 3);
    CHECK(same_as_disk(d, 330, buf, 9 * 512));
    ide_outb(ide, 0, 2, 3); /* not a power of two */
    ide_outb(ide, 0, 7, 0xC6);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    ide_outb(ide, 0, 2, 0); /* multiple mode off: READ MULTIPLE aborts */
    ide_outb(ide, 0, 7, 0xC6);
    ata_cmd28(ide, 0, 0, 300, 1, 0xC4);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x04);

    /* CHS: cylinder 1, head 2, sector 3 -> (1 * 16 + 2) * 63 + 2 */
    ide_outb(ide, 0, 6, 0xA2);
    ide_outb(ide, 0, 2, 1);
    ide_outb(ide, 0, 3, 3);
    ide_outb(ide, 0, 4, 1);
    ide_outb(ide, 0, 5, 0);
    ide_outb(ide, 0, 7, 0x20);
    CHECK_EQ(pio_read(ide, e, buf, 1, 1, false), 1);
    CHECK(same_as_disk(d, 18 * 63 + 2, buf, 512));
    ide_outb(ide, 0, 3, 0); /* sector 0 does not exist */
    ide_outb(ide, 0, 7, 0x20);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x10);

    /* READ VERIFY: the range only */
    int reads = d->reads;
    ata_cmd28(ide, 0, 0, 100, 8, 0x40);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    ata_cmd28(ide, 0, 0, DISK_SECTORS - 1, 2, 0x40);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(d->reads, reads);
    free(buf);
    piix_ide_free(ide);
}

static void test_pio_errors(env *e)
{
    piix_ide *ide = make_ide(e, false);
    fake_disk *d = &e->disk0;
    uint8_t buf[8 * 512];
    /* past the end: IDNF before anything moves, the address of the first
     * sector that is not there, an interrupt */
    int reads = d->reads, raises = e->irq[0].raises;
    ata_cmd28(ide, 0, 0, DISK_SECTORS - 1, 2, 0x20);
    CHECK_EQ(e->irq[0].raises, raises + 1);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x10);
    CHECK_EQ(d->reads, reads);
    CHECK_EQ(ide_inb(ide, 0, 3) | ide_inb(ide, 0, 4) << 8 | ide_inb(ide, 0, 5) << 16 |
                 (ide_inb(ide, 0, 6) & 0x0F) << 24,
             DISK_SECTORS);
    ata_cmd28(ide, 0, 0, 0x0FFFFFFF, 0, 0x30);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x10);
    ata_cmd48(ide, 0, 0, DISK_SECTORS - 100, 0, 0x24); /* 65536 from near the end */
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    ata_cmd48(ide, 0, 0, ~0ull, 1, 0x34);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    ata_cmd28(ide, 0, 0, DISK_SECTORS - 1, 1, 0x20); /* the last sector is fine */
    CHECK_EQ(pio_read(ide, e, buf, 1, 1, false), 1);
    CHECK(same_as_disk(d, DISK_SECTORS - 1, buf, 512));

    /* a backend failure in the third sector of a read: UNC there, two
     * sectors delivered, five not */
    d->fail_from = 1002;
    ata_cmd28(ide, 0, 0, 1000, 5, 0x20);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58);
    read_block(ide, 0, buf, 512);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58);
    read_block(ide, 0, buf, 512);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x40);
    CHECK_EQ(ide_inb(ide, 0, 3) | ide_inb(ide, 0, 4) << 8, 1002);
    CHECK_EQ(ide_inb(ide, 0, 2), 3);
    CHECK_EQ(ide_inw(ide, 0), 0); /* no DRQ */
    /* and of a write: ABRT */
    ata_cmd28(ide, 0, 0, 1002, 1, 0x30);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58);
    CHECK_EQ(piix_ide_data_out(ide, 0, buf, 1024), 512); /* DRQ drops after the block */
    CHECK_EQ(ide_altstatus(ide, 0), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x04);
    d->fail_from = -1;
    piix_ide_free(ide);

    /* a read-only disk refuses writes */
    e->b0.read_only = true;
    ide = make_ide(e, false);
    ata_cmd28(ide, 0, 0, 0, 1, 0x30);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x04);
    ata_cmd28(ide, 0, 0, 0, 1, 0xCA);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    piix_ide_free(ide);
    e->b0.read_only = false;
}

/* ---- busy, soft reset, interrupts ---- */

static void test_busy_reset_irq(env *e)
{
    piix_ide *ide = make_ide(e, false);
    uint8_t buf[512];
    fake_irq *irq = &e->irq[0];
    /* a command or a register write while DRQ is ignored */
    ata_cmd28(ide, 0, 0, 50, 2, 0x20);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58);
    uint64_t before = piix_ide_unmodelled(ide);
    ide_outb(ide, 0, 7, 0xEC);
    ide_outb(ide, 0, 3, 0x99);
    ide_outb(ide, 0, 6, 0xB0);
    CHECK(piix_ide_unmodelled(ide) > before);
    CHECK_EQ(ide_inb(ide, 0, 6) & 0x10, 0); /* still the master */
    read_block(ide, 0, buf, 512);
    CHECK(same_as_disk(&e->disk0, 50, buf, 512));
    /* byte access to the data port: floats, the transfer does not move */
    CHECK_EQ(ide_inb(ide, 0, 0), 0xFF);
    read_block(ide, 0, buf, 512);
    CHECK(same_as_disk(&e->disk0, 51, buf, 512));

    /* soft reset in the middle of a transfer */
    ata_cmd28(ide, 0, 0, 60, 4, 0x20);
    ide_inw(ide, 0);
    CHECK_EQ(irq->level, 1);
    ide_devctl(ide, 0, 0x04 | 0x08); /* SRST (bit 3 as libata sets it) */
    CHECK_EQ(irq->level, 0);
    CHECK_EQ(ide_altstatus(ide, 0), 0x80);
    ide_outb(ide, 0, 2, 0x77); /* ignored while busy */
    ide_outb(ide, 0, 7, 0xEC);
    ide_devctl(ide, 0, 0x08);
    CHECK_EQ(ide_altstatus(ide, 0), 0x50);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x01);
    CHECK_EQ(ide_inb(ide, 0, 2), 1);
    CHECK_EQ(ide_inb(ide, 0, 3), 1);
    CHECK_EQ(ide_inb(ide, 0, 4), 0);
    CHECK_EQ(ide_inb(ide, 0, 5), 0);
    CHECK_EQ(irq->level, 0); /* no interrupt after SRST */
    CHECK_EQ(ide_inw(ide, 0), 0); /* the transfer is gone */
    /* the reset selects device 0 */
    ide_outb(ide, 0, 6, 0xB0);
    ide_devctl(ide, 0, 0x0C);
    ide_devctl(ide, 0, 0x08);
    CHECK_EQ(ide_inb(ide, 0, 6), 0xA0);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    /* EXECUTE DEVICE DIAGNOSTIC: signature and an interrupt */
    ide_outb(ide, 0, 4, 0x12);
    ide_outb(ide, 0, 7, 0x90);
    CHECK_EQ(irq->level, 1);
    CHECK_EQ(ide_inb(ide, 0, 4), 0);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x01);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);

    /* nIEN: the interrupt stays pending but off the line */
    ide_devctl(ide, 0, 0x0A);
    int raises = irq->raises;
    ata_cmd28(ide, 0, 0, 0, 1, 0x20);
    CHECK_EQ(irq->level, 0);
    CHECK_EQ(irq->raises, raises);
    ide_devctl(ide, 0, 0x08);
    CHECK_EQ(irq->level, 1);
    ide_devctl(ide, 0, 0x0A);
    CHECK_EQ(irq->level, 0);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58); /* acknowledged while hidden */
    ide_devctl(ide, 0, 0x08);
    CHECK_EQ(irq->level, 0);
    read_block(ide, 0, buf, 512);
    /* the line over a write command: no interrupt for the first block,
     * one per later block and at the end, each cleared by status */
    raises = irq->raises;
    ata_cmd28(ide, 0, 0, 90, 2, 0x30);
    CHECK_EQ(irq->level, 0);
    for (int i = 0; i < 256; i++) ide_outw(ide, 0, (uint16_t)i);
    CHECK_EQ(irq->level, 1);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x58);
    CHECK_EQ(irq->level, 0);
    for (int i = 0; i < 256; i++) ide_outw(ide, 0, (uint16_t)i);
    CHECK_EQ(irq->level, 1);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    CHECK_EQ(irq->level, 0);
    CHECK_EQ(irq->raises, raises + 2);
    /* writing a command clears a pending interrupt */
    ide_outb(ide, 0, 7, 0xE5);
    CHECK_EQ(irq->level, 1);
    ide_outb(ide, 0, 7, 0xE5);
    CHECK_EQ(irq->calls > 0, 1);
    CHECK_EQ(ide_inb(ide, 0, 2), 0xFF); /* CHECK POWER MODE: active */
    ide_inb(ide, 0, 7);
    CHECK_EQ(irq->level, 0);
    /* the bus master's interrupt bit follows the line's raises */
    bm_outb(ide, 0, 2, 0x04);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x04, 0);
    ide_outb(ide, 0, 7, 0xE5);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x04, 0x04);
    /* HOB reads the previous values; any register write drops HOB */
    ide_outb(ide, 0, 2, 0x11);
    ide_outb(ide, 0, 2, 0x22);
    ide_devctl(ide, 0, 0x88);
    CHECK_EQ(ide_inb(ide, 0, 2), 0x11);
    ide_outb(ide, 0, 3, 0x33);
    CHECK_EQ(ide_inb(ide, 0, 2), 0x22);
    /* reset lowers the line */
    ide_outb(ide, 0, 7, 0xE5);
    CHECK_EQ(irq->level, 1);
    piix_ide_reset(ide);
    CHECK_EQ(irq->level, 0);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    piix_ide_free(ide);
}

/* ---- DMA ---- */

#define PRD_TABLE 0x10000u

/* libata's order: table, direction, command, start. */
static void dma_go(piix_ide *ide, int ch, bool to_ram, void (*issue)(piix_ide *))
{
    bm_prd(ide, ch, PRD_TABLE);
    bm_outb(ide, ch, 0, to_ram ? 0x08 : 0x00);
    bm_outb(ide, ch, 2, 0x06); /* clear error and interrupt */
    issue(ide);
    bm_outb(ide, ch, 0, to_ram ? 0x09 : 0x01);
}

static void issue_read8(piix_ide *ide) { ata_cmd28(ide, 0, 0, 2000, 8, 0xC8); }
static void issue_write6(piix_ide *ide) { ata_cmd28(ide, 0, 0, 3000, 6, 0xCA); }
static void issue_read_ext(piix_ide *ide) { ata_cmd48(ide, 0, 0, 5000, 1000, 0x25); }
static void issue_write_ext(piix_ide *ide) { ata_cmd48(ide, 0, 0, 6000, 300, 0x35); }
static void issue_read2(piix_ide *ide) { ata_cmd28(ide, 0, 0, 7000, 2, 0xC8); }

static void test_dma(env *e)
{
    piix_ide *ide = make_ide(e, false);
    fake_disk *d = &e->disk0;
    uint8_t *ram = e->ram.mem;
    fake_irq *irq = &e->irq[0];

    /* READ DMA of 8 sectors over three PRD elements, the last with EOT */
    memset(ram + 0x20000, 0, 0x10000);
    put_prd(e, PRD_TABLE, 0, 0x20000, 1000, false);
    put_prd(e, PRD_TABLE, 1, 0x21000, 24, false);
    put_prd(e, PRD_TABLE, 2, 0x22000, 8 * 512 - 1024, true);
    hook_clear(&e->log);
    int raises = irq->raises;
    dma_go(ide, 0, true, issue_read8);
    CHECK_EQ(irq->raises, raises + 1);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x04); /* interrupt, not active (table used up), no error */
    CHECK_EQ(ide_altstatus(ide, 0), 0x50);
    CHECK(same_as_disk(d, 2000, ram + 0x20000, 1000));
    CHECK(same_as_disk(d, 2000, ram + 0x20000, 1000));
    CHECK(memcmp(ram + 0x21000, d->data + 2000 * 512 + 1000, 24) == 0);
    CHECK(memcmp(ram + 0x22000, d->data + 2000 * 512 + 1024, 8 * 512 - 1024) == 0);
    CHECK_EQ(ram[0x20000 + 1000], 0); /* nothing past an element */
    CHECK_EQ(e->log.count[IDE_DISK_TO_RAM], 3);
    CHECK_EQ(e->log.before, 3);
    CHECK_EQ(e->log.order_errors, 0);
    CHECK_EQ(e->log.count[IDE_DISK_TO_BUFFER], 1);
    CHECK(e->log.ev[0].dma);
    CHECK_EQ(e->log.ev[1].kind, IDE_DISK_TO_RAM);
    CHECK_EQ(e->log.ev[1].guest_addr, 0x20000);
    CHECK_EQ(e->log.ev[1].len, 1000);
    CHECK_EQ(e->log.ev[1].disk_offset, 2000u * 512);
    CHECK_EQ(e->log.ev[2].guest_addr, 0x21000);
    CHECK_EQ(e->log.ev[2].disk_offset, 2000u * 512 + 1000);
    CHECK_EQ(e->log.ev[3].guest_addr, 0x22000);
    CHECK_EQ(e->log.ev[3].len, 8 * 512 - 1024);
    /* ata_bmdma_stop, then status */
    bm_outb(ide, 0, 0, 0x08);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    CHECK_EQ(irq->level, 0);
    bm_outb(ide, 0, 2, bm_inb(ide, 0, 2)); /* ata_bmdma_irq_clear */
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0);

    /* WRITE DMA of 6 sectors over two elements, start before the command */
    for (int i = 0; i < 6 * 512; i++) ram[0x30000 + i] = (uint8_t)(i * 3 + 1);
    put_prd(e, PRD_TABLE, 0, 0x30000, 2048, false);
    put_prd(e, PRD_TABLE, 1, 0x30000 + 2048, 1024, true);
    bm_prd(ide, 0, PRD_TABLE);
    bm_outb(ide, 0, 0, 0x01);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x01, 0x01); /* active, waiting for the drive */
    hook_clear(&e->log);
    issue_write6(ide);
    CHECK(memcmp(d->data + 3000 * 512, ram + 0x30000, 6 * 512) == 0);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x04);
    CHECK_EQ(e->log.count[IDE_RAM_TO_DISK], 2);
    CHECK_EQ(e->log.count[IDE_BUFFER_TO_DISK], 1);
    CHECK_EQ(e->log.ev[0].kind, IDE_RAM_TO_DISK);
    CHECK_EQ(e->log.ev[1].guest_addr, 0x30000 + 2048);
    CHECK_EQ(e->log.ev[1].disk_offset, 3000u * 512 + 2048);
    CHECK_EQ(e->log.ev[2].kind, IDE_BUFFER_TO_DISK);
    CHECK_EQ(e->log.order_errors, 0);
    bm_outb(ide, 0, 0, 0x00);
    ide_inb(ide, 0, 7);

    /* READ DMA EXT of 1000 sectors with 64 KiB elements (count 0): 8 of
     * them, through several backend chunks */
    for (int i = 0; i < 8; i++) put_prd(e, PRD_TABLE, i, 0x100000u + 0x10000u * (unsigned)i, 0, i == 7);
    hook_clear(&e->log);
    dma_go(ide, 0, true, issue_read_ext);
    CHECK(same_as_disk(d, 5000, ram + 0x100000, 1000 * 512));
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x05); /* the table has room left: still active */
    CHECK_EQ(e->log.bytes[IDE_DISK_TO_RAM], 1000u * 512);
    CHECK_EQ(e->log.before, e->log.count[IDE_DISK_TO_RAM]);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    CHECK_EQ(ide_inb(ide, 0, 3) | ide_inb(ide, 0, 4) << 8, 5999); /* the last sector */
    bm_outb(ide, 0, 0, 0x08);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x01, 0); /* stopping clears active */

    /* WRITE DMA EXT of 300 sectors from one element */
    for (int i = 0; i < 300 * 512; i++) ram[0x200000 + i] = (uint8_t)(i >> 3);
    put_prd(e, PRD_TABLE, 0, 0x200000, 300 * 512 & 0xFFFF, false);
    put_prd(e, PRD_TABLE, 1, 0x200000 + (300 * 512 & 0xFFFF), 0, false);
    put_prd(e, PRD_TABLE, 2, 0x200000 + (300 * 512 & 0xFFFF) + 0x10000, 0, true);
    dma_go(ide, 0, false, issue_write_ext);
    CHECK(memcmp(d->data + 6000 * 512, ram + 0x200000, 300 * 512) == 0);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50);
    bm_outb(ide, 0, 0, 0);

    /* ---- DMA errors ---- */
    /* a PRD element outside RAM: bus-master error, command aborted */
    put_prd(e, PRD_TABLE, 0, 0x40000, 512, false);
    put_prd(e, PRD_TABLE, 1, RAM_SIZE - 256, 512, true);
    raises = irq->raises;
    dma_go(ide, 0, true, issue_read2);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x06);
    CHECK_EQ(irq->raises, raises + 1);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x04);
    CHECK(same_as_disk(d, 7000, ram + 0x40000, 512)); /* the first element landed */
    bm_outb(ide, 0, 0, 0);
    /* the table itself outside RAM */
    bm_prd(ide, 0, 0xFFFFFFF8u);
    bm_outb(ide, 0, 2, 0x06);
    issue_read2(ide);
    bm_outb(ide, 0, 0, 0x09);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x06);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    bm_outb(ide, 0, 0, 0);
    /* bus mastering off in the command register: the same */
    dev_out(piix_ide_config_device(ide), 0x04, 0x0001, 2);
    put_prd(e, PRD_TABLE, 0, 0x40000, 1024, true);
    dma_go(ide, 0, true, issue_read2);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x06);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    bm_outb(ide, 0, 0, 0);
    dev_out(piix_ide_config_device(ide), 0x04, 0x0005, 2);
    /* a table shorter than the transfer: nothing moves, no interrupt,
     * active dropped, the drive idle again */
    memset(ram + 0x50000, 0xEE, 2048);
    put_prd(e, PRD_TABLE, 0, 0x50000, 512, true);
    raises = irq->raises;
    bm_outb(ide, 0, 2, 0x06);
    dma_go(ide, 0, true, issue_read2);
    CHECK_EQ(irq->raises, raises);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x00);
    CHECK_EQ(ide_altstatus(ide, 0), 0x50);
    CHECK_EQ(ram[0x50000], 0xEE);
    bm_outb(ide, 0, 0, 0);
    /* a table that never ends: two-byte entries and no EOT, for a
     * transfer needing more than 8192 of them: bounded, treated as short */
    for (int i = 0; i < 8200; i++) put_prd(e, PRD_TABLE, i, 0x60000, 2, false);
    int ram_reads = e->ram.reads;
    dma_go(ide, 0, true, issue_read_ext);
    CHECK(e->ram.reads - ram_reads <= 8192);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x00);
    CHECK_EQ(ide_altstatus(ide, 0), 0x50);
    bm_outb(ide, 0, 0, 0);
    /* a table longer than the transfer */
    put_prd(e, PRD_TABLE, 0, 0x70000, 512, false);
    put_prd(e, PRD_TABLE, 1, 0x71000, 4096, false);
    put_prd(e, PRD_TABLE, 2, 0x72000, 4096, true);
    memset(ram + 0x71000, 0, 0x2000);
    dma_go(ide, 0, true, issue_read2);
    CHECK(same_as_disk(d, 7000, ram + 0x70000, 512));
    CHECK(same_as_disk(d, 7001, ram + 0x71000, 512));
    CHECK_EQ(ram[0x71000 + 512], 0);
    CHECK_EQ(ram[0x72000], 0);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x05);
    bm_outb(ide, 0, 0, 0);
    ide_inb(ide, 0, 7);
    /* a backend failure during DMA: UNC, no bus-master error */
    d->fail_from = 7001;
    put_prd(e, PRD_TABLE, 0, 0x70000, 1024, true);
    dma_go(ide, 0, true, issue_read2);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x40);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x07, 0x04);
    bm_outb(ide, 0, 0, 0);
    dma_go(ide, 0, false, issue_write6);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x50); /* before the failing sector: fine */
    bm_outb(ide, 0, 0, 0);
    put_prd(e, PRD_TABLE, 0, 0x70000, 6 * 512, true);
    ata_cmd28(ide, 0, 0, 7000, 6, 0xCA);
    bm_outb(ide, 0, 0, 0x01);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x04);
    d->fail_from = -1;
    bm_outb(ide, 0, 0, 0);
    /* DMA past the end: IDNF, the bus master never runs */
    int writes = e->ram.writes;
    ata_cmd28(ide, 0, 0, DISK_SECTORS - 1, 8, 0xC8);
    bm_outb(ide, 0, 0, 0x09);
    CHECK_EQ(ide_inb(ide, 0, 7), 0x41);
    CHECK_EQ(ide_inb(ide, 0, 1), 0x10);
    CHECK_EQ(e->ram.writes, writes);
    bm_outb(ide, 0, 0, 0);
    /* a DMA command waits for the engine with DRQ; SRST abandons it */
    ata_cmd28(ide, 0, 0, 0, 1, 0xC8);
    CHECK_EQ(ide_altstatus(ide, 0), 0x58);
    ide_devctl(ide, 0, 0x0C);
    ide_devctl(ide, 0, 0x08);
    bm_outb(ide, 0, 0, 0x09);
    CHECK_EQ(e->ram.writes, writes);
    CHECK_EQ(ide_altstatus(ide, 0), 0x50);
    bm_outb(ide, 0, 0, 0);
    /* the bus-master registers: PRD pointer dword aligned, status bits */
    bm_prd(ide, 0, 0x12345677u);
    CHECK_EQ(dev_in(piix_ide_bmdma_device(ide), 4, 4), 0x12345674u);
    bm_outb(ide, 0, 2, 0x60);
    CHECK_EQ(bm_inb(ide, 0, 2) & 0x60, 0x60);
    CHECK_EQ(bm_inb(ide, 0, 1), 0xFF);
    CHECK_EQ(bm_inb(ide, 1, 0), 0x00);
    piix_ide_free(ide);
}

/* ---- hostile register storm ---- */

static void test_storm(env *e)
{
    piix_ide *ide = make_ide(e, true);
    test_rng r = {0x1F0};
    for (int i = 0; i < 200; i++) put_prd(e, PRD_TABLE, i, (uint32_t)(rng_next(&r) % (RAM_SIZE + 0x10000)),
                                          (uint32_t)rng_next(&r), rng_next(&r) % 4 == 0);
    bus_device devs[4] = {piix_ide_cmd_device(ide, 0), piix_ide_ctl_device(ide, 0),
                          piix_ide_bmdma_device(ide), piix_ide_config_device(ide)};
    static const uint8_t cmds[] = {0x20, 0x24, 0x29, 0x30, 0x34, 0x39, 0xC4, 0xC5, 0xC6, 0xC8,
                                   0x25, 0xCA, 0x35, 0xEC, 0xEF, 0x90, 0xE7, 0x40, 0xA1, 0x00};
    for (int i = 0; i < 20000; i++) {
        uint64_t x = rng_next(&r);
        int ch = (int)(x >> 60) & 1;
        unsigned size = rng_size(&r);
        uint32_t v = (uint32_t)rng_next(&r);
        switch (x % 10) {
        case 0: /* a plausible command on a plausible task file */
            ide_outb(ide, ch, 2, (uint8_t)(v & 7));
            ide_outb(ide, ch, 7, cmds[(x >> 8) % sizeof cmds]);
            break;
        case 1:
            dev_out(piix_ide_cmd_device(ide, ch), (uint32_t)(x >> 8) % 9, v, size);
            break;
        case 2:
        case 3:
            dev_in(piix_ide_cmd_device(ide, ch), (x & 0x100) ? 0 : (uint32_t)(x >> 8) % 9, size);
            break;
        case 4:
            dev_out(devs[1 + (x >> 8) % 2], (uint32_t)(x >> 16) % 18, v, size);
            break;
        case 5:
            dev_in(devs[1 + (x >> 8) % 2], (uint32_t)(x >> 16) % 18, size);
            break;
        case 6:
            bm_prd(ide, ch, PRD_TABLE + 8 * (uint32_t)((x >> 8) % 100));
            bm_outb(ide, ch, 0, (uint8_t)(x >> 16));
            break;
        case 7:
            if ((x >> 8) % 8 == 0) dev_out(devs[3], (uint32_t)(x >> 16) & 0xFC, v, 4);
            else dev_in(devs[3], (uint32_t)(x >> 16) & 0xFF, size);
            break;
        case 8:
            piix_ide_data_in(ide, ch, e->ram.mem, (size_t)(x >> 16) % 9000);
            break;
        default:
            piix_ide_data_out(ide, ch, e->ram.mem, (size_t)(x >> 16) % 9000);
            break;
        }
        /* what a guest can read is always an ATA status */
        uint8_t st = (uint8_t)dev_in(piix_ide_ctl_device(ide, ch), 0, 1);
        CHECK((st & ~0xD9) == 0);
    }
    /* the absurd offsets the bus never sends */
    CHECK_EQ(dev_in(devs[0], 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    dev_out(devs[2], 0xFFFFFFF0u, 1, 4);
    CHECK_EQ(dev_in(devs[3], 300, 4), 0xFFFFFFFFu);
    piix_ide_free(ide);
}

int main(void)
{
    static env e;
    env_init(&e, DISK_SECTORS, 5000);
    e.direct = 0xC000;
    test_config(&e);
    test_identify(&e);
    test_pio(&e);
    test_pio_errors(&e);
    test_busy_reset_irq(&e);
    test_dma(&e);
    test_storm(&e);
    piix_ide_reset(NULL);
    piix_ide_free(NULL);
    env_free(&e);
    return check_done();
}
