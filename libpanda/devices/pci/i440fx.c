/*
 * Intel 82441FX PMC, function 00:00.0: 8086:1237 revision 2, class 0600
 * (host bridge), command 0x0006 and status 0x0280 at reset (the
 * datasheet's).
 *
 * Registers 0x40-0xFF read back what was written, as in QEMU (DRAM
 * timing, DRB and the rest configure nothing here), except:
 *   PAM0-PAM6 (0x59-0x5F): the RE/WE bit pairs (1:0 and 5:4) only; the
 *     reserved bits read 0 (PAM0's low nibble is reserved too).  A write
 *     that changes a region's pair calls hooks.pam_changed, so the machine
 *     maps the region as RAM, read-only RAM or ROM (SeaBIOS writes 0x30/
 *     0x33 to unlock its shadow copy and 0x10/0x11 to lock it).
 *   SMRAM (0x72): reset 0x02; C_BASE_SEG (2:0, 010 = 0xA0000) and bit 7
 *     are read-only; D_OPEN (6), D_CLS (5), D_LCK (4) and G_SMRAME (3)
 *     store.  Setting D_LCK clears D_OPEN and makes D_OPEN, D_LCK and
 *     G_SMRAME read-only until reset.  There is no SMM on this machine, so
 *     SMRAM is never opened to the CPU: the register only reads back.
 */
#include "pci/i440fx.h"

#include <stdlib.h>
#include <string.h>

#include "pci/pci_regs.h"

#define PAM0 0x59
#define SMRAM 0x72
#define SMRAM_D_OPEN 0x40
#define SMRAM_D_CLS 0x20
#define SMRAM_D_LCK 0x10
#define SMRAM_G_SMRAME 0x08

struct i440fx {
    i440fx_hooks hooks;
    pci_regs cfg;
};

bool i440fx_pam_region(unsigned region, uint32_t *base, uint32_t *size)
{
    if (region >= I440FX_PAM_REGIONS) return false;
    if (base) *base = region == 0 ? 0xF0000u : 0xC0000u + 0x4000u * (region - 1);
    if (size) *size = region == 0 ? 0x10000u : 0x4000u;
    return true;
}

static i440fx_pam_mode mode_in(const pci_regs *cfg, unsigned region)
{
    if (region == 0) return (i440fx_pam_mode)((cfg->b[PAM0] >> 4) & 3);
    uint8_t pam = cfg->b[PAM0 + 1 + (region - 1) / 2];
    return (i440fx_pam_mode)((region & 1 ? pam : pam >> 4) & 3);
}

i440fx_pam_mode i440fx_pam_mode_of(const i440fx *dev, unsigned region)
{
    if (!dev || region >= I440FX_PAM_REGIONS) return I440FX_PAM_ROM;
    return mode_in(&dev->cfg, region);
}

static void report_changes(i440fx *d, const pci_regs *before)
{
    if (!d->hooks.pam_changed) return;
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) {
        i440fx_pam_mode m = mode_in(&d->cfg, i);
        if (m == mode_in(before, i)) continue;
        uint32_t base, size;
        i440fx_pam_region(i, &base, &size);
        d->hooks.pam_changed(d->hooks.opaque, i, base, size, m);
    }
}

/* The configuration space as built: the reset values and write masks. */
static void build(pci_regs *c)
{
    pci_regs_header(c, 0x8086, 0x1237, 0x02, 0x060000, 0x00, 0x0006, 0x0280);
    pci_regs_set(c, PAM0, 0x00, 0x30, 1);
    for (unsigned r = PAM0 + 1; r <= PAM0 + 6; r++) pci_regs_set(c, r, 0x00, 0x33, 1);
    /* the bits SMRAM can hold; cfg_write applies its lock on top */
    pci_regs_set(c, SMRAM, 0x02, SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME, 1);
}

static uint32_t cfg_read(void *opaque, uint32_t reg, unsigned size)
{
    return pci_regs_read(&((i440fx *)opaque)->cfg, reg, size);
}

static uint8_t smram_after_write(uint8_t old, uint8_t val)
{
    uint8_t v;
    if (old & SMRAM_D_LCK)
        v = (uint8_t)((old & ~SMRAM_D_CLS) | (val & SMRAM_D_CLS));
    else
        v = (uint8_t)(0x02 | (val & (SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME)));
    if (v & SMRAM_D_LCK) v &= (uint8_t)~SMRAM_D_OPEN;
    return v;
}

static void cfg_write(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    i440fx *d = opaque;
    pci_regs before = d->cfg;
    pci_regs_write(&d->cfg, reg, value, size);
    if (reg <= SMRAM && SMRAM - reg < size && size <= 4)
        d->cfg.b[SMRAM] = smram_after_write(before.b[SMRAM], (uint8_t)(value >> (8 * (SMRAM - reg))));
    report_changes(d, &before);
}

i440fx *i440fx_new(i440fx_hooks hooks)
{
    i440fx *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->hooks = hooks;
    build(&d->cfg);
    return d;
}

void i440fx_free(i440fx *dev)
{
    free(dev);
}

void i440fx_reset(i440fx *dev)
{
    if (!dev) return;
    pci_regs before = dev->cfg;
    build(&dev->cfg);
    report_changes(dev, &before);
}

bus_device i440fx_config_device(i440fx *dev)
{
    return (bus_device){"i440fx", dev, cfg_read, cfg_write};
}

/* ---- state (device.h) ---- */

#define I440FX_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    pci_regs_save(&((const i440fx *)opaque)->cfg, w);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "i440fx", version, I440FX_STATE_VERSION)) return;
    i440fx d = *(i440fx *)opaque;
    build(&d.cfg); /* the read-only bits to check against */
    pci_regs_load_checked(&d.cfg, r, "i440fx");
    uint8_t smram = d.cfg.b[SMRAM];
    /* the writable bits were checked by pci_regs; SMRAM's by hand */
    if (!r->failed && ((smram & 0x87) != 0x02 || ((smram & SMRAM_D_LCK) && (smram & SMRAM_D_OPEN))))
        sr_fail(r, "i440fx smram holds 0x%02x, which its write rules never leave", smram);
    if (r->failed) return;
    *(i440fx *)opaque = d;
}

static void reset_op(void *opaque) { i440fx_reset(opaque); }
static void free_op(void *opaque) { i440fx_free(opaque); }

const panda_device_ops i440fx_ops = {
    .type = "i440fx",
    .state_version = I440FX_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
