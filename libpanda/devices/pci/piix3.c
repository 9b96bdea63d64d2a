/*
 * Intel 82371SB PIIX3, function 0 (PCI-to-ISA bridge): 8086:7000 revision
 * 0, class 0601, header type 0x80 (multifunction: the IDE is function 1).
 * Reset values are QEMU's piix3_reset (the datasheet's): command 0x0007,
 * status 0x0200, 0x4C 0x4D, 0x4E 0x03, PIRQRC[A-D] (0x60-0x63) 0x80,
 * 0x69 0x02, 0x70 0x80, 0x76/0x77 0x0C, 0x78 0x02, 0xA0 0x08, 0xA8 0x0F.
 * Registers 0x40-0xFF read back what was written (they configure the ISA
 * side, which this machine wires statically), except:
 *
 * PIRQRC (0x60-0x63): bit 7 disables the route, bits 3:0 the ISA IRQ;
 * bits 6:4 are reserved (read 0).  IRQ numbers the datasheet reserves (0,
 * 1, 2, 8, 13) route nowhere.  Rewriting a route moves a high PIRQ from
 * one ISA IRQ to the other at once.
 *
 * Left out: the reset control register at port 0xCF9, the APIC chip
 * select, SMI, DMA and the X-bus chip selects (stored only).
 */
#include "pci/piix3.h"

#include <stdlib.h>
#include <string.h>

#include "pci/pci_regs.h"

#define PIRQRC 0x60

struct piix3 {
    irq_line isa;
    pci_regs cfg;
    uint8_t pirq_level;  /* bit n: PIRQ n's input is high */
    uint16_t isa_level;  /* bit n: the level ISA IRQ n is driven at */
};

static void build(pci_regs *c)
{
    pci_regs_header(c, 0x8086, 0x7000, 0x00, 0x060100, 0x80, 0x0007, 0x0200);
    static const struct { uint8_t reg, value; } resets[] = {
        {0x4c, 0x4d}, {0x4e, 0x03}, {0x69, 0x02}, {0x70, 0x80}, {0x76, 0x0c},
        {0x77, 0x0c}, {0x78, 0x02}, {0xa0, 0x08}, {0xa8, 0x0f},
    };
    for (size_t i = 0; i < sizeof resets / sizeof resets[0]; i++)
        c->b[resets[i].reg] = resets[i].value;
    for (unsigned i = 0; i < 4; i++) pci_regs_set(c, PIRQRC + i, 0x80, 0x8f, 1);
}

static int route_in(const pci_regs *c, int pirq)
{
    if (pirq < 0 || pirq > 3) return -1;
    uint8_t r = c->b[PIRQRC + pirq];
    if (r & 0x80) return -1;
    int irq = r & 0x0f;
    if (irq <= 2 || irq == 8 || irq == 13) return -1;
    return irq;
}

int piix3_pirq_route(const piix3 *dev, int pirq)
{
    return dev ? route_in(&dev->cfg, pirq) : -1;
}

/* The ISA levels the routes and PIRQ inputs give. */
static uint16_t isa_wanted(const piix3 *d)
{
    uint16_t levels = 0;
    for (int p = 0; p < 4; p++) {
        int irq = route_in(&d->cfg, p);
        if (irq >= 0 && (d->pirq_level >> p & 1)) levels |= (uint16_t)(1u << irq);
    }
    return levels;
}

static void update(piix3 *d)
{
    uint16_t want = isa_wanted(d), changed = want ^ d->isa_level;
    d->isa_level = want;
    for (int irq = 0; irq < 16; irq++)
        if ((changed >> irq & 1) && d->isa.set) d->isa.set(d->isa.opaque, irq, want >> irq & 1);
}

void piix3_set_pirq(void *dev, int pirq, int level)
{
    piix3 *d = dev;
    if (!d || pirq < 0 || pirq > 3) return;
    if (level)
        d->pirq_level |= (uint8_t)(1u << pirq);
    else
        d->pirq_level &= (uint8_t)~(1u << pirq);
    update(d);
}

int piix3_isa_level(const piix3 *dev, int irq)
{
    if (!dev || irq < 0 || irq > 15) return 0;
    return dev->isa_level >> irq & 1;
}

static uint32_t cfg_read(void *opaque, uint32_t reg, unsigned size)
{
    return pci_regs_read(&((piix3 *)opaque)->cfg, reg, size);
}

static void cfg_write(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    piix3 *d = opaque;
    pci_regs_write(&d->cfg, reg, value, size);
    update(d);
}

piix3 *piix3_new(irq_line isa)
{
    piix3 *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->isa = isa;
    build(&d->cfg);
    return d;
}

void piix3_free(piix3 *dev)
{
    free(dev);
}

void piix3_reset(piix3 *dev)
{
    if (!dev) return;
    build(&dev->cfg);
    update(dev);
}

bus_device piix3_config_device(piix3 *dev)
{
    return (bus_device){"piix3", dev, cfg_read, cfg_write};
}

/* ---- state (device.h) ---- */

#define PIIX3_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const piix3 *d = opaque;
    pci_regs_save(&d->cfg, w);
    sw_u8(w, d->pirq_level);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "piix3", version, PIIX3_STATE_VERSION)) return;
    piix3 d = *(piix3 *)opaque;
    build(&d.cfg);
    pci_regs_load_checked(&d.cfg, r, "piix3");
    d.pirq_level = sr_u8_bits(r, 0x0f, "piix3 pirq_level");
    if (r->failed) return;
    d.isa_level = isa_wanted(&d);
    *(piix3 *)opaque = d;
}

static void reset_op(void *opaque) { piix3_reset(opaque); }
static void free_op(void *opaque) { piix3_free(opaque); }

const panda_device_ops piix3_ops = {
    .type = "piix3",
    .state_version = PIIX3_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
