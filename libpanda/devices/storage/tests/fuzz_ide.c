/* libFuzzer harness: the PIIX IDE function (both channels' command and
 * control ports, the bus-master block, configuration space, bulk data-port
 * transfers) over fake disks and a fake guest RAM, and its state
 * (fuzz_harness.h).
 *
 * Fakes, fixed per run by the config bytes: each of the four drives absent,
 * a disk, a read-only disk, or one whose backend has no write function (any
 * present one may instead be an ATAPI CD-ROM drive holding the disk as its
 * disc, or empty when the disk is a single sector, so PACKET and its
 * commands are reachable); a
 * size from 1 sector to just under 2^28 or up to 2^48 sectors (only the
 * first STORED sectors are kept; the rest read a pattern that changes with
 * each write past them); some failing from a sector on.  Guest RAM is
 * RAM_BYTES at 0 behind a DMA port that refuses anything outside it, in an
 * allocation of exactly that size (ASan sees a copy past it).
 *
 * The disks and RAM are not device state: a device loaded from the other
 * twin's state must see the same contents, as a restored machine sees its
 * disks and RAM.  So they live in two slots, one per twin's wiring, that a
 * fresh twin created with that wiring reuses; the twins' writes to them are
 * hooked into the wiring, so slots that drift apart show as twins driving
 * their wiring differently.
 *
 * Checked: a backend is never asked for a sector past its disk's end or for
 * a write to a read-only disk; the DMA port is used only with bus mastering
 * on; every reported transfer lies on its disk and, for a RAM piece, is the
 * copy the DMA port just allowed; each dma_before announces the next copy
 * and, unless the DMA port refuses it, is followed by its transfer; the
 * IRQ lines are where piix_ide_irq_level says; the bus-master base the hook
 * last reported is piix_ide_bmdma_base; bulk transfers move what they say. */
#include "tests/fuzz_harness.h"
#include "pci/pci_regs.h" /* the register names */
#include "storage/ide.h"

#define RAM_BYTES 0x10000u /* guest RAM: 64 KiB from 0 */
#define STORED 32u         /* sectors of each disk kept */
#define IDE_DEVFN PCI_DEVFN(1, 1)

enum drive_kind { DK_DISK, DK_ABSENT, DK_READ_ONLY, DK_NO_WRITE };
enum fail_mode { FAIL_NONE, FAIL_ALL, FAIL_FROM };

typedef struct ide_env ide_env;

typedef struct fake_drive {
    ide_env *env;
    int ch, unit;
    uint8_t kind;
    bool cd;               /* an ATAPI CD-ROM drive (read-only) */
    uint64_t nsectors;
    uint8_t fail;          /* fail_mode */
    uint64_t fail_from;    /* FAIL_FROM: a call touching a sector >= this fails */
    uint64_t gen;          /* writes past the stored sectors, which the pattern mixes in */
    uint8_t data[STORED * BLOCK_SECTOR];
} fake_drive;

/* one twin's world */
struct ide_env {
    fuzz_wiring *w;
    piix_ide *ide;         /* the twin's device, for its CD-ROM drives' discs */
    fake_drive drive[2][2];
    uint8_t *ram;          /* RAM_BYTES, its own allocation */
};

static ide_env envs[2];
static fuzz_wiring *env_owner[2];
static int live; /* rigs alive: 0 at create means a new run */

static uint64_t mix(uint64_t h, uint64_t v)
{
    return (h ^ v) * 0x100000001b3ull;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = mix(h, p[i]);
    return h;
}

static uint8_t pattern(const fake_drive *d, uint64_t sector, unsigned i)
{
    return (uint8_t)(sector * 7u + i * 13u + d->gen * 31u + (unsigned)(d->ch * 2 + d->unit) * 61u);
}

static bool drive_fails(const fake_drive *d, uint64_t sector, uint32_t count)
{
    return d->fail == FAIL_ALL || (d->fail == FAIL_FROM && sector + count > d->fail_from);
}

static void check_range(const fake_drive *d, uint64_t sector, uint32_t count, const char *what)
{
    FUZZ_ASSERT(count >= 1 && sector < d->nsectors && count <= d->nsectors - sector,
                "piix_ide: ide%d.%d asked to %s %u sectors at %llu of %llu", d->ch, d->unit,
                what, count, (unsigned long long)sector, (unsigned long long)d->nsectors);
    FUZZ_ASSERT(d->kind != DK_ABSENT, "piix_ide: an absent drive's backend was called");
}

/* A CD-ROM drive reads whole blocks of the disc its state says is in,
 * which after a load may be larger than the image: such a read fails, as
 * the machine's image does. */
static bool cd_read_ok(const fake_drive *d, uint64_t sector, uint32_t count)
{
    ide_cd_status st;
    FUZZ_ASSERT(d->env->ide && piix_ide_cd_status(d->env->ide, d->ch, d->unit, &st) && st.media,
                "piix_ide: ide%d.%d read with no disc", d->ch, d->unit);
    FUZZ_ASSERT(count >= 4 && !(sector & 3) && !(count & 3) && sector < st.nsectors &&
                    count <= st.nsectors - sector, "piix_ide: ide%d.%d asked to read %u sectors at %llu "
                "of a disc of %llu", d->ch, d->unit, count, (unsigned long long)sector,
                (unsigned long long)st.nsectors);
    return sector < d->nsectors && count <= d->nsectors - sector;
}

static int disk_read(void *opaque, uint64_t sector, void *buf, uint32_t count)
{
    fake_drive *d = opaque;
    if (d->cd) {
        if (!cd_read_ok(d, sector, count)) return -1;
    } else {
        check_range(d, sector, count, "read");
    }
    fuzz_hook(d->env->w, mix(mix(0x5245, sector), count));
    if (drive_fails(d, sector, count)) return -1;
    uint8_t *out = buf;
    for (uint32_t k = 0; k < count; k++, out += BLOCK_SECTOR) {
        uint64_t s = sector + k;
        if (s < STORED)
            memcpy(out, d->data + s * BLOCK_SECTOR, BLOCK_SECTOR);
        else
            for (unsigned i = 0; i < BLOCK_SECTOR; i++) out[i] = pattern(d, s, i);
    }
    return 0;
}

static int disk_write(void *opaque, uint64_t sector, const void *buf, uint32_t count)
{
    fake_drive *d = opaque;
    check_range(d, sector, count, "write");
    FUZZ_ASSERT(d->kind == DK_DISK && !d->cd, "piix_ide: ide%d.%d is read-only but was written", d->ch,
                d->unit);
    fuzz_hook(d->env->w, mix(mix(mix(0x5752, sector), count),
                             hash_bytes(buf, (size_t)count * BLOCK_SECTOR)));
    if (drive_fails(d, sector, count)) return -1;
    const uint8_t *in = buf;
    for (uint32_t k = 0; k < count; k++, in += BLOCK_SECTOR) {
        uint64_t s = sector + k;
        if (s < STORED)
            memcpy(d->data + s * BLOCK_SECTOR, in, BLOCK_SECTOR);
        else
            d->gen = mix(d->gen, hash_bytes(in, BLOCK_SECTOR));
    }
    return 0;
}

static int disk_flush(void *opaque)
{
    fake_drive *d = opaque;
    FUZZ_ASSERT(d->kind != DK_ABSENT, "piix_ide: an absent drive was flushed");
    fuzz_hook(d->env->w, 0x464C);
    return d->fail == FAIL_ALL ? -1 : 0;
}

/* The drives cfg describes: cfg.a nibble k (k = ch * 2 + unit) bits 0-1 the
 * kind, bit 2 failing from sector 4 * (cfg.b nibble k), bit 3 a big disk;
 * cfg.a byte 2 + k the size (small: 1-256 sectors; big: 2^28 - 128 + byte
 * for a master, 2^48 - byte for a slave, around the LBA28 and LBA48
 * limits); cfg.b bit 16 + k: a CD-ROM drive (bits 16-19 are below the
 * bus-master base's alignment). */
static void env_init(ide_env *e, const fuzz_config *cfg)
{
    for (int ch = 0; ch < 2; ch++)
        for (int u = 0; u < 2; u++) {
            unsigned k = (unsigned)(ch * 2 + u);
            fake_drive *d = &e->drive[ch][u];
            unsigned nib = (unsigned)(cfg->a >> (4 * k)) & 0xF;
            uint8_t size = (uint8_t)(cfg->a >> (16 + 8 * k));
            d->env = e;
            d->ch = ch;
            d->unit = u;
            d->kind = (uint8_t)(nib & 3);
            d->cd = d->kind != DK_ABSENT && (cfg->b >> (16 + k) & 1);
            d->nsectors = !(nib & 8) ? size + 1u
                          : u == 0   ? (1ull << 28) - 128 + size
                                     : (1ull << 48) - size;
            d->fail = nib & 4 ? FAIL_FROM : FAIL_NONE;
            d->fail_from = 4u * ((cfg->b >> (4 * k)) & 0xF);
            d->gen = 0;
            /* the stored sectors start as the pattern; computed once, as
             * filling them byte by byte on every run was most of its time */
            static uint8_t start[2][2][STORED * BLOCK_SECTOR];
            static bool have_start;
            if (!have_start)
                for (int c2 = 0; c2 < 2; c2++)
                    for (int u2 = 0; u2 < 2; u2++) {
                        fake_drive t = {.ch = c2, .unit = u2};
                        for (unsigned sec = 0; sec < STORED; sec++)
                            for (unsigned i = 0; i < BLOCK_SECTOR; i++)
                                start[c2][u2][sec * BLOCK_SECTOR + i] = pattern(&t, sec, i);
                    }
            have_start = true;
            memcpy(d->data, start[ch][u], sizeof d->data);
        }
    memset(e->ram, 0, RAM_BYTES);
}

typedef struct ide_rig {
    piix_ide *ide;
    ide_env *env;
    fuzz_wiring *w;
    pci_bus bus;             /* the function's configuration space, at IDE_DEVFN */
    int level[2];            /* each channel's line as its calls left it */
    uint32_t bm_reported;    /* what bmdma_moved last said (or the query, at create/load) */
    bool before_pending;     /* a dma_before not yet followed by its transfer */
    ide_transfer before;     /* that dma_before */
    bool dma_ok;             /* the DMA port's last copy was allowed ... */
    uint64_t dma_addr;       /* ... at this address */
    size_t dma_len;          /* ... of this length */
    int dma_dir;             /* 0 read from RAM, 1 written to RAM */
} ide_rig;

static uint32_t cfg_read(ide_rig *r, uint32_t reg, unsigned size)
{
    return pci_config_read(&r->bus, 0, IDE_DEVFN, reg, size);
}

static bool dma_allowed(ide_rig *r, uint64_t addr, size_t len, int dir)
{
    FUZZ_ASSERT(r->ide, "piix_ide: DMA during create");
    FUZZ_ASSERT(cfg_read(r, PCI_REG_COMMAND, 2) & PCI_COMMAND_MASTER, "piix_ide: DMA with bus "
                "mastering off");
    FUZZ_ASSERT(len > 0 && len <= 0x10000, "piix_ide: a DMA copy of %zu bytes (a PRD piece is "
                "at most 64 KiB)", len);
    r->dma_ok = addr <= RAM_BYTES && len <= RAM_BYTES - addr;
    if (r->before_pending) {
        /* the copy dma_before announced, and no other (a PRD read) */
        FUZZ_ASSERT(r->before.guest_addr == addr && r->before.len == len &&
                    (r->before.kind == IDE_DISK_TO_RAM) == (dir == 1), "piix_ide: dma_before "
                    "announced %u bytes at 0x%llx, the DMA port got %zu at 0x%llx", r->before.len,
                    (unsigned long long)r->before.guest_addr, len, (unsigned long long)addr);
        /* a refused copy ends the command (ide.h: transfer reports what
         * succeeded), so its dma_before stays unanswered */
        if (!r->dma_ok) r->before_pending = false;
    }
    r->dma_addr = addr;
    r->dma_len = len;
    r->dma_dir = dir;
    return r->dma_ok;
}

static bool ram_read(void *opaque, uint64_t addr, void *buf, size_t len)
{
    ide_rig *r = opaque;
    bool ok = dma_allowed(r, addr, len, 0);
    fuzz_hook(r->w, mix(mix(mix(0x444D52, addr), len), ok));
    if (ok) memcpy(buf, r->env->ram + addr, len);
    return ok;
}

static bool ram_write(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    ide_rig *r = opaque;
    bool ok = dma_allowed(r, addr, len, 1);
    fuzz_hook(r->w, mix(mix(mix(0x444D57, addr), len), ok));
    if (!ok) return false;
    fuzz_hook(r->w, hash_bytes(buf, len));
    memcpy(r->env->ram + addr, buf, len);
    return true;
}

static bool is_ram_kind(ide_transfer_kind k)
{
    return k == IDE_DISK_TO_RAM || k == IDE_RAM_TO_DISK;
}

static bool same_transfer(const ide_transfer *a, const ide_transfer *b)
{
    return a->kind == b->kind && a->channel == b->channel && a->unit == b->unit &&
           a->dma == b->dma && a->disk_offset == b->disk_offset && a->len == b->len &&
           a->guest_addr == b->guest_addr;
}

static void h_transfer(void *opaque, const ide_transfer *t)
{
    ide_rig *r = opaque;
    FUZZ_ASSERT(t->channel >= 0 && t->channel < 2 && t->unit >= 0 && t->unit < 2 &&
                (unsigned)t->kind <= IDE_RAM_TO_DISK, "piix_ide: a transfer on %d.%d of kind %d",
                t->channel, t->unit, (int)t->kind);
    const fake_drive *d = &r->env->drive[t->channel][t->unit];
    FUZZ_ASSERT(d->kind != DK_ABSENT, "piix_ide: a transfer on absent ide%d.%d", t->channel,
                t->unit);
    uint64_t disk_bytes = d->nsectors * BLOCK_SECTOR;
    FUZZ_ASSERT(t->len > 0 && t->disk_offset <= disk_bytes && t->len <= disk_bytes - t->disk_offset,
                "piix_ide: a transfer of %u bytes at %llu on ide%d.%d of %llu bytes", t->len,
                (unsigned long long)t->disk_offset, t->channel, t->unit,
                (unsigned long long)disk_bytes);
    if (t->kind == IDE_BUFFER_TO_DISK || t->kind == IDE_RAM_TO_DISK)
        FUZZ_ASSERT(d->kind == DK_DISK && !d->cd, "piix_ide: a write reported on read-only ide%d.%d",
                    t->channel, t->unit);
    if (is_ram_kind(t->kind)) {
        FUZZ_ASSERT(r->before_pending && same_transfer(&r->before, t), "piix_ide: a RAM "
                    "transfer without its dma_before");
        FUZZ_ASSERT(r->dma_ok && r->dma_addr == t->guest_addr && r->dma_len == t->len &&
                    r->dma_dir == (t->kind == IDE_DISK_TO_RAM), "piix_ide: a RAM transfer of %u "
                    "bytes at 0x%llx reported that the DMA port did not make", t->len,
                    (unsigned long long)t->guest_addr);
        r->before_pending = false;
    } else {
        FUZZ_ASSERT(!t->dma || t->kind == IDE_DISK_TO_BUFFER || t->kind == IDE_BUFFER_TO_DISK,
                    "piix_ide: a DMA command reported a port transfer");
    }
    fuzz_hook(r->w, mix(mix(mix(mix((uint64_t)t->kind << 8 | (uint64_t)t->channel << 4 |
                                        (uint64_t)t->unit << 1 | t->dma, t->disk_offset),
                                t->len), t->guest_addr), hash_bytes(t->data, t->len)));
}

static void h_before(void *opaque, const ide_transfer *t)
{
    ide_rig *r = opaque;
    FUZZ_ASSERT(!r->before_pending && is_ram_kind(t->kind) && t->dma, "piix_ide: dma_before "
                "of kind %d%s", (int)t->kind, r->before_pending ? " after another" : "");
    r->before = *t;
    r->before_pending = true;
    if (t->kind == IDE_DISK_TO_RAM) (void)hash_bytes(t->data, t->len); /* readable: ASan */
    fuzz_hook(r->w, mix(mix(0x4246, t->guest_addr), t->len));
}

static void h_moved(void *opaque, uint32_t base)
{
    ide_rig *r = opaque;
    FUZZ_ASSERT(!r->ide || base == piix_ide_bmdma_base(r->ide), "piix_ide: bmdma_moved said 0x%x "
                "with the base at 0x%x", base, piix_ide_bmdma_base(r->ide));
    FUZZ_ASSERT(base != r->bm_reported, "piix_ide: bmdma_moved to 0x%x where it was", base);
    FUZZ_ASSERT(!(base & 0xF) && base <= 0xFFF0, "piix_ide: bus master moved to 0x%x", base);
    r->bm_reported = base;
    fuzz_hook(r->w, 0x4D00000000ull | base);
}

static void irq_cb(void *opaque, int line, int level)
{
    ide_rig *r = opaque;
    FUZZ_ASSERT(line == 0 || line == 1, "piix_ide: irq on line %d", line);
    FUZZ_ASSERT(level == 0 || level == 1, "piix_ide: irq level %d", level);
    r->level[line] = level;
    fuzz_hook(r->w, 0x495200u | (unsigned)line << 1 | (unsigned)level);
}

/* cfg.a, cfg.b bits 0-15: the drives (env_init); cfg.b bits 16-31 (16-aligned): the
 * direct-boot bus-master base, 0 for the firmware's reset state. */
static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    /* rig_ops forwards to piix_ide_ops under its version */
    FUZZ_ASSERT(piix_ide_ops.state_version == 2, "piix_ide: rig_ops.state_version is stale");
    if (live == 0) { /* a new run: fresh disks and RAM for both twins */
        for (int i = 0; i < 2; i++) {
            if (!envs[i].ram) envs[i].ram = malloc(RAM_BYTES);
            FUZZ_ASSERT(envs[i].ram, "out of memory");
            env_init(&envs[i], cfg);
            env_owner[i] = NULL;
        }
    }
    int slot = env_owner[0] == w ? 0 : env_owner[1] == w ? 1 : !env_owner[0] ? 0 : 1;
    FUZZ_ASSERT(!env_owner[slot] || env_owner[slot] == w, "piix_ide: a third wiring");
    env_owner[slot] = w;
    ide_env *e = &envs[slot];
    e->w = w;

    ide_rig *r = calloc(1, sizeof *r);
    FUZZ_ASSERT(r, "out of memory");
    r->env = e;
    r->w = w;
    block_backend b[2][2];
    ide_config c;
    memset(&c, 0, sizeof c);
    for (int ch = 0; ch < 2; ch++) {
        for (int u = 0; u < 2; u++) {
            fake_drive *d = &e->drive[ch][u];
            b[ch][u] = (block_backend){d, d->nsectors, d->kind == DK_READ_ONLY || d->cd, disk_read,
                                       d->kind == DK_NO_WRITE || d->cd ? NULL : disk_write, disk_flush};
            /* a one-sector disc: the drive starts empty (a disc appears
             * only through piix_ide_cd_change, which the harness leaves to
             * the unit tests) */
            if (d->cd && d->nsectors == 1) b[ch][u].nsectors = 0;
            c.disk[ch][u] = d->kind == DK_ABSENT ? NULL : &b[ch][u];
            c.cdrom[ch][u] = d->cd;
        }
        c.irq[ch] = (irq_line){irq_cb, r, ch};
    }
    c.dma = (dma_port){r, ram_read, ram_write};
    c.hooks = (ide_hooks){r, h_transfer, h_before, h_moved};
    c.direct_boot_bmdma = (uint16_t)((cfg->b >> 16) & 0xFFF0);
    r->ide = piix_ide_new(&c);
    FUZZ_ASSERT(r->ide, "piix_ide: create failed");
    e->ide = r->ide;
    r->bm_reported = piix_ide_bmdma_base(r->ide);
    pci_bus_init(&r->bus);
    FUZZ_ASSERT(pci_bus_add(&r->bus, IDE_DEVFN, piix_ide_config_device(r->ide)) == 0,
                "piix_ide: slot taken");
    live++;
    return r;
}

/* ---- the regions: 0 and 1 a channel (offsets 0-15 the command block,
 * 16-31 the control port), 2 the bus-master block, 3 configuration space
 * (offsets 0-7 the header's IDs and command, 8-15 BAR4 on, 16-31 IDETIM
 * on: the registers that matter, within the harness's offsets 0-31) ---- */

static bus_device channel_port(ide_rig *r, int ch, uint32_t *offset)
{
    if (*offset >= 16 && *offset < 32) {
        *offset -= 16;
        return piix_ide_ctl_device(r->ide, ch);
    }
    return piix_ide_cmd_device(r->ide, ch);
}

static uint32_t ch_read(ide_rig *r, int ch, uint32_t offset, unsigned size)
{
    bus_device d = channel_port(r, ch, &offset);
    return d.read(d.opaque, offset, size);
}

static void ch_write(ide_rig *r, int ch, uint32_t offset, uint32_t v, unsigned size)
{
    bus_device d = channel_port(r, ch, &offset);
    d.write(d.opaque, offset, v, size);
}

static uint32_t ch0_read(void *o, uint32_t off, unsigned size) { return ch_read(o, 0, off, size); }
static uint32_t ch1_read(void *o, uint32_t off, unsigned size) { return ch_read(o, 1, off, size); }
static void ch0_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    ch_write(o, 0, off, v, size);
}

static void ch1_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    ch_write(o, 1, off, v, size);
}

static uint32_t cfg_reg(uint32_t offset)
{
    if (offset < 8) return offset;
    if (offset < 16) return 0x20 + (offset - 8);
    return offset < 32 ? 0x40 + (offset - 16) : offset;
}

static uint32_t c_read(void *o, uint32_t off, unsigned size)
{
    return cfg_read(o, cfg_reg(off), size);
}

static void c_write(void *o, uint32_t off, uint32_t v, unsigned size)
{
    ide_rig *r = o;
    pci_config_write(&r->bus, 0, IDE_DEVFN, cfg_reg(off), v, size);
}

static bus_device region(void *dev, size_t i)
{
    ide_rig *r = dev;
    switch (i) {
    case 0: return (bus_device){"rig-ide0", r, ch0_read, ch0_write};
    case 1: return (bus_device){"rig-ide1", r, ch1_read, ch1_write};
    case 2: return piix_ide_bmdma_device(r->ide);
    default: return (bus_device){"rig-cfg", r, c_read, c_write};
    }
}

/* ---- the extra calls ---- */

#define BULK_MAX (IDE_MAX_MULT * BLOCK_SECTOR + 8)

static uint64_t bulk(ide_rig *r, bool in, int ch, size_t len, const uint8_t seed[4])
{
    uint8_t *buf = malloc(len ? len : 1); /* exactly len: ASan sees a copy past it */
    FUZZ_ASSERT(buf, "out of memory");
    for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)(seed[i % 4] + i);
    size_t got = in ? piix_ide_data_in(r->ide, ch, buf, len)
                    : piix_ide_data_out(r->ide, ch, buf, len);
    FUZZ_ASSERT(got <= (len & ~(size_t)1) && !(got & 1), "piix_ide: a bulk %s of %zu bytes moved "
                "%zu", in ? "read" : "write", len, got);
    uint64_t h = mix(got, in ? hash_bytes(buf, len) : 0);
    free(buf);
    return h;
}

/* The task file and command as libata writes them: device, (LBA48: the
 * high bytes first,) count, LBA, command. */
static void command(ide_rig *r, int ch, int unit, uint32_t lba, uint8_t count, uint8_t cmd,
                    bool lba48, uint8_t high)
{
    uint32_t device = lba48 ? 0x40 : 0xE0u | (high & 0x0Fu);
    ch_write(r, ch, 6, device | (uint32_t)unit << 4, 1);
    if (lba48) {
        ch_write(r, ch, 2, 0, 1);
        ch_write(r, ch, 3, high, 1);
        ch_write(r, ch, 4, 0, 1);
        ch_write(r, ch, 5, 0, 1);
    }
    ch_write(r, ch, 2, count, 1);
    ch_write(r, ch, 3, lba & 0xFF, 1);
    ch_write(r, ch, 4, (lba >> 8) & 0xFF, 1);
    ch_write(r, ch, 5, (lba >> 16) & 0xFF, 1);
    ch_write(r, ch, 7, cmd, 1);
}

/*
 * arg[0] % 8:
 *   0: piix_ide_data_in on channel arg[1] & 1 of (arg[2] | arg[3] << 8) %
 *      BULK_MAX bytes; 1: piix_ide_data_out, the bytes from arg[4..7];
 *   2: drive arg[1] & 3's backend: arg[2] % 3 healthy, failing every call,
 *      failing from sector arg[3] | arg[4] << 8;
 *   3: a configuration access at any register arg[1], size fuzz_sizes[arg[2]
 *      % 8], a write of arg[4..7] when arg[3] is odd; the read after it;
 *   4: a command: channel arg[1] & 1, unit arg[1] >> 1 & 1, LBA arg[2..4],
 *      count arg[5], command arg[6], LBA48 when arg[7] is odd (arg[7] >> 1
 *      its byte 3), else arg[7] >> 1 the LBA28 bits 27:24;
 *   5: a PRD entry {address arg[3..4], count arg[5..6], EOT arg[7] bit 7} at
 *      RAM offset (arg[1..2]) & ~7, and when arg[7] bit 0, that table
 *      pointer written to channel arg[7] >> 1 & 1's bus master;
 *   6: the device's own state with channel arg[1] & 1's field bytes
 *      arg[2] and arg[4] (channel_field) xored with arg[3] and arg[5],
 *      loaded (arg[6] odd: only the first patch);
 *   7: the host changes drive arg[1] & 3's disc (a CD-ROM drive's; -1 for
 *      any other): arg[2] | arg[3] << 8 sectors (0: eject; past the image
 *      its reads fail), forced when arg[4] is odd.
 */
/* The state's layout (ide.c's save_op): 256 configuration bytes, two
 * channel records, an 8-byte counter.  A channel record starts with the
 * drives' registers (18 bytes each, 16 more for a CD-ROM drive's ATAPI
 * state) and the transfer fields (39 bytes) and ends with the bus
 * master's (6); between them is the buffer.  A FOP_LOAD_PATCHED position
 * is spread over all 16 KiB, so it seldom meets the fields a load must
 * check against each other; this aims at them. */
#define CH_BUF 8192u
static size_t channel_head(const ide_rig *r, int ch)
{
    const fake_drive *d = r->env->drive[ch];
    return 36 + 16u * (d[0].cd + d[1].cd) + 39;
}

static size_t channel_field(const ide_rig *r, size_t state_len, int ch, uint8_t pick)
{
    size_t head = channel_head(r, ch), rec = head + CH_BUF + 6, f = pick % (head + 6);
    size_t start = 256 + (ch ? channel_head(r, 0) + CH_BUF + 6 : 0);
    size_t at = start + (f < head ? f : rec - 6 + (f - head));
    FUZZ_ASSERT(at < state_len, "piix_ide: the state layout changed (channel_field)");
    return at;
}

static const fuzz_device ide;

static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    ide_rig *r = dev;
    int ch = arg[1] & 1;
    switch (arg[0] % 8) {
    case 0:
    case 1:
        return bulk(r, arg[0] % 8 == 0, ch, (size_t)(arg[2] | arg[3] << 8) % BULK_MAX, arg + 4);
    case 2: {
        fake_drive *d = &r->env->drive[arg[1] >> 1 & 1][arg[1] & 1];
        d->fail = (uint8_t)(arg[2] % 3);
        d->fail_from = (uint64_t)arg[3] | (uint64_t)arg[4] << 8;
        return 0;
    }
    case 3: {
        unsigned size = fuzz_sizes[arg[2] % 8];
        if (arg[3] & 1)
            pci_config_write(&r->bus, 0, IDE_DEVFN, arg[1],
                             (uint32_t)arg[4] | (uint32_t)arg[5] << 8 | (uint32_t)arg[6] << 16 |
                                 (uint32_t)arg[7] << 24, size);
        return cfg_read(r, arg[1], size);
    }
    case 4:
        command(r, ch, arg[1] >> 1 & 1,
                (uint32_t)arg[2] | (uint32_t)arg[3] << 8 | (uint32_t)arg[4] << 16, arg[5], arg[6],
                arg[7] & 1, arg[7] >> 1);
        return ch_read(r, ch, 16, 1); /* alternate status */
    case 7:
        return (uint64_t)(int64_t)piix_ide_cd_change(r->ide, arg[1] >> 1 & 1, arg[1] & 1,
                                                     (uint64_t)arg[2] | (uint64_t)arg[3] << 8, arg[4] & 1);
    case 6: {
        size_t len;
        uint8_t *st = fuzz_save(&ide, dev, &len);
        st[channel_field(r, len, ch, arg[2])] ^= arg[3];
        if (!(arg[6] & 1)) st[channel_field(r, len, ch, arg[4])] ^= arg[5];
        bool ok = fuzz_load(&ide, dev, w, st, len, piix_ide_ops.state_version);
        free(st);
        return ok;
    }
    default: {
        uint32_t at = ((uint32_t)arg[1] | (uint32_t)arg[2] << 8) & ~7u;
        uint8_t *p = r->env->ram + at; /* at + 8 <= RAM_BYTES: 16 bits, 8-aligned */
        p[0] = arg[3];
        p[1] = arg[4];
        p[2] = p[3] = 0;
        p[4] = arg[5];
        p[5] = arg[6];
        p[6] = 0;
        p[7] = arg[7] & 0x80;
        if (arg[7] & 1) {
            bus_device d = piix_ide_bmdma_device(r->ide);
            d.write(d.opaque, (uint32_t)(arg[7] >> 1 & 1) * 8 + 4, at, 4);
        }
        return 0;
    }
    }
}

/* ---- after every step, and after a load ---- */

static void check(void *dev, const fuzz_wiring *w)
{
    (void)w;
    ide_rig *r = dev;
    for (int ch = 0; ch < 2; ch++)
        FUZZ_ASSERT(r->level[ch] == piix_ide_irq_level(r->ide, ch), "piix_ide: channel %d's line "
                    "is at %d but piix_ide_irq_level says %d", ch, r->level[ch],
                    piix_ide_irq_level(r->ide, ch));
    FUZZ_ASSERT(r->bm_reported == piix_ide_bmdma_base(r->ide), "piix_ide: the bus master is at "
                "0x%x but bmdma_moved last said 0x%x", piix_ide_bmdma_base(r->ide), r->bm_reported);
    FUZZ_ASSERT(!r->before_pending, "piix_ide: a dma_before without its transfer");
    FUZZ_ASSERT(cfg_read(r, 0, 4) == 0x70108086u, "piix_ide: IDs read 0x%08x", cfg_read(r, 0, 4));
    FUZZ_ASSERT(piix_ide_irq_level(r->ide, 2) == 0 && piix_ide_irq_level(r->ide, -1) == 0,
                "piix_ide: a third channel has a line");
}

/* what the machine does after a load: the lines and the bus-master
 * mapping from the queries */
static void loaded(void *dev, fuzz_wiring *w)
{
    (void)w;
    ide_rig *r = dev;
    for (int ch = 0; ch < 2; ch++) r->level[ch] = piix_ide_irq_level(r->ide, ch);
    r->bm_reported = piix_ide_bmdma_base(r->ide);
}

static void save_op(const void *dev, state_writer *w)
{
    piix_ide_ops.save(((const ide_rig *)dev)->ide, w);
}

static void load_op(void *dev, state_reader *r, uint32_t version)
{
    piix_ide_ops.load(((ide_rig *)dev)->ide, r, version);
}

static void reset_op(void *dev)
{
    ide_rig *r = dev;
    piix_ide_ops.reset(r->ide);
    FUZZ_ASSERT(r->level[0] == 0 && r->level[1] == 0, "piix_ide: reset left a line high");
}

static void free_op(void *dev)
{
    ide_rig *r = dev;
    piix_ide_ops.free(r->ide);
    free(r);
    live--;
}

static const panda_device_ops rig_ops = {
    .type = "piix_ide",
    .state_version = 2,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};

static const fuzz_device ide = {&rig_ops, create, 4, region, extra, check, loaded};
FUZZ_DEVICE_TARGET(ide)
