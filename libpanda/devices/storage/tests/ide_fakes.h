/* Fakes for the PIIX IDE tests: an in-memory disk, guest RAM behind a DMA
 * port, the hooks' record, and register helpers. */
#ifndef IDE_FAKES_H
#define IDE_FAKES_H

#include "testing/check.h"
#include "storage/ide.h"

#define RAM_SIZE (4u << 20)

typedef struct fake_disk {
    uint8_t *data;
    uint64_t nsectors;
    int64_t fail_from;          /* a read/write touching sector >= this fails; -1 never */
    bool flush_fails;
    int reads, writes, flushes; /* calls */
    uint64_t sectors_read, sectors_written;
} fake_disk;

static inline int disk_read(void *o, uint64_t sector, void *buf, uint32_t count)
{
    fake_disk *d = o;
    d->reads++;
    if (sector > d->nsectors || count > d->nsectors - sector) return -1;
    if (d->fail_from >= 0 && sector + count > (uint64_t)d->fail_from) return -1;
    memcpy(buf, d->data + sector * BLOCK_SECTOR, (size_t)count * BLOCK_SECTOR);
    d->sectors_read += count;
    return 0;
}

static inline int disk_write(void *o, uint64_t sector, const void *buf, uint32_t count)
{
    fake_disk *d = o;
    d->writes++;
    if (sector > d->nsectors || count > d->nsectors - sector) return -1;
    if (d->fail_from >= 0 && sector + count > (uint64_t)d->fail_from) return -1;
    memcpy(d->data + sector * BLOCK_SECTOR, buf, (size_t)count * BLOCK_SECTOR);
    d->sectors_written += count;
    return 0;
}

static inline int disk_flush(void *o)
{
    fake_disk *d = o;
    d->flushes++;
    return d->flush_fails ? -1 : 0;
}

/* A disk whose every byte says where it is (sector, offset). */
static inline void fake_disk_init(fake_disk *d, uint64_t nsectors, uint32_t seed)
{
    memset(d, 0, sizeof *d);
    d->nsectors = nsectors;
    d->fail_from = -1;
    d->data = malloc((size_t)nsectors * BLOCK_SECTOR);
    for (uint64_t i = 0; i < nsectors * BLOCK_SECTOR; i++)
        d->data[i] = (uint8_t)((i >> 9) * 7 + (i & 511) * 13 + seed);
}

static inline block_backend fake_backend(fake_disk *d)
{
    return (block_backend){d, d->nsectors, false, disk_read, disk_write, disk_flush};
}

typedef struct fake_ram {
    uint8_t *mem;
    int reads, writes, refused;
} fake_ram;

static inline bool ram_read(void *o, uint64_t addr, void *buf, size_t len)
{
    fake_ram *r = o;
    if (addr > RAM_SIZE || len > RAM_SIZE - addr) {
        r->refused++;
        return false;
    }
    r->reads++;
    memcpy(buf, r->mem + addr, len);
    return true;
}

static inline bool ram_write(void *o, uint64_t addr, const void *buf, size_t len)
{
    fake_ram *r = o;
    if (addr > RAM_SIZE || len > RAM_SIZE - addr) {
        r->refused++;
        return false;
    }
    r->writes++;
    memcpy(r->mem + addr, buf, len);
    return true;
}

#define MAX_EVENTS 64

typedef struct hook_log {
    int count[6];           /* by ide_transfer_kind */
    uint64_t bytes[6];
    int before;             /* dma_before calls */
    ide_transfer ev[MAX_EVENTS]; /* the first ones since the last clear */
    int nev;
    int moved;              /* bmdma_moved calls */
    uint32_t moved_to;
    bool before_pending;    /* a dma_before not yet followed by its transfer */
    int order_errors;
} hook_log;

static inline void h_transfer(void *o, const ide_transfer *t)
{
    hook_log *h = o;
    if (t->kind >= IDE_DISK_TO_RAM) {
        if (!h->before_pending) h->order_errors++;
        h->before_pending = false;
    }
    h->count[t->kind]++;
    h->bytes[t->kind] += t->len;
    if (h->nev < MAX_EVENTS) h->ev[h->nev++] = *t;
}

static inline void h_before(void *o, const ide_transfer *t)
{
    hook_log *h = o;
    if (h->before_pending || t->kind < IDE_DISK_TO_RAM) h->order_errors++;
    h->before_pending = true;
    h->before++;
}

static inline void h_moved(void *o, uint32_t base)
{
    hook_log *h = o;
    h->moved++;
    h->moved_to = base;
}

static inline void hook_clear(hook_log *h)
{
    memset(h, 0, sizeof *h);
}

typedef struct env {
    fake_disk disk0, disk1; /* ide0 master, ide1 slave (tests choose) */
    block_backend b0, b1;
    fake_ram ram;
    fake_irq irq[2];
    hook_log log;
    uint16_t direct;        /* direct_boot_bmdma for create() */
} env;

/* A machine: disk0 as ide0 master, nothing as ide0 slave, ide1 empty
 * unless with_slave: then disk1 is ide1 slave. */
static inline piix_ide *make_ide(env *e, bool with_slave)
{
    ide_config cfg = {{{&e->b0, NULL}, {NULL, with_slave ? &e->b1 : NULL}},
                      {fake_irq_line(&e->irq[0], 14), fake_irq_line(&e->irq[1], 15)},
                      {&e->ram, ram_read, ram_write},
                      {&e->log, h_transfer, h_before, h_moved},
                      e->direct, {{false}}};
    return piix_ide_new(&cfg);
}

static inline void env_init(env *e, uint64_t sectors0, uint64_t sectors1)
{
    memset(e, 0, sizeof *e);
    fake_disk_init(&e->disk0, sectors0, 1);
    fake_disk_init(&e->disk1, sectors1, 99);
    e->b0 = fake_backend(&e->disk0);
    e->b1 = fake_backend(&e->disk1);
    e->ram.mem = calloc(1, RAM_SIZE);
}

static inline void env_free(env *e)
{
    free(e->disk0.data);
    free(e->disk1.data);
    free(e->ram.mem);
}

/* register access on channel ch */
static inline uint8_t ide_inb(piix_ide *ide, int ch, uint32_t reg)
{
    return (uint8_t)dev_in(piix_ide_cmd_device(ide, ch), reg, 1);
}

static inline void ide_outb(piix_ide *ide, int ch, uint32_t reg, uint8_t v)
{
    dev_out(piix_ide_cmd_device(ide, ch), reg, v, 1);
}

static inline uint16_t ide_inw(piix_ide *ide, int ch)
{
    return (uint16_t)dev_in(piix_ide_cmd_device(ide, ch), 0, 2);
}

static inline void ide_outw(piix_ide *ide, int ch, uint16_t v)
{
    dev_out(piix_ide_cmd_device(ide, ch), 0, v, 2);
}

static inline uint8_t ide_altstatus(piix_ide *ide, int ch)
{
    return (uint8_t)dev_in(piix_ide_ctl_device(ide, ch), 0, 1);
}

static inline void ide_devctl(piix_ide *ide, int ch, uint8_t v)
{
    dev_out(piix_ide_ctl_device(ide, ch), 0, v, 1);
}

/* LBA28 task file + command, as libata's tf_load/exec_command. */
static inline void ata_cmd28(piix_ide *ide, int ch, int unit, uint32_t lba, uint8_t count, uint8_t cmd)
{
    ide_outb(ide, ch, 6, (uint8_t)(0xE0 | unit << 4 | ((lba >> 24) & 0x0F)));
    ide_outb(ide, ch, 2, count);
    ide_outb(ide, ch, 3, (uint8_t)lba);
    ide_outb(ide, ch, 4, (uint8_t)(lba >> 8));
    ide_outb(ide, ch, 5, (uint8_t)(lba >> 16));
    ide_outb(ide, ch, 7, cmd);
}

/* LBA48: high bytes first (they become the HOB copies), then low. */
static inline void ata_cmd48(piix_ide *ide, int ch, int unit, uint64_t lba, uint16_t count, uint8_t cmd)
{
    ide_outb(ide, ch, 6, (uint8_t)(0x40 | unit << 4));
    ide_outb(ide, ch, 2, (uint8_t)(count >> 8));
    ide_outb(ide, ch, 3, (uint8_t)(lba >> 24));
    ide_outb(ide, ch, 4, (uint8_t)(lba >> 32));
    ide_outb(ide, ch, 5, (uint8_t)(lba >> 40));
    ide_outb(ide, ch, 2, (uint8_t)count);
    ide_outb(ide, ch, 3, (uint8_t)lba);
    ide_outb(ide, ch, 4, (uint8_t)(lba >> 8));
    ide_outb(ide, ch, 5, (uint8_t)(lba >> 16));
    ide_outb(ide, ch, 7, cmd);
}

/* bus-master registers at BAR4 offsets (channel * 8 + reg) */
static inline void bm_outb(piix_ide *ide, int ch, uint32_t reg, uint8_t v)
{
    dev_out(piix_ide_bmdma_device(ide), (uint32_t)ch * 8 + reg, v, 1);
}

static inline uint8_t bm_inb(piix_ide *ide, int ch, uint32_t reg)
{
    return (uint8_t)dev_in(piix_ide_bmdma_device(ide), (uint32_t)ch * 8 + reg, 1);
}

static inline void bm_prd(piix_ide *ide, int ch, uint32_t table)
{
    dev_out(piix_ide_bmdma_device(ide), (uint32_t)ch * 8 + 4, table, 4);
}

/* A PRD entry in RAM. */
static inline void put_prd(env *e, uint32_t table, int i, uint32_t addr, uint32_t count, bool eot)
{
    uint8_t *p = e->ram.mem + table + 8 * i;
    for (int k = 0; k < 4; k++) p[k] = (uint8_t)(addr >> (8 * k));
    p[4] = (uint8_t)count;
    p[5] = (uint8_t)(count >> 8);
    p[6] = 0;
    p[7] = eot ? 0x80 : 0;
}

#endif
