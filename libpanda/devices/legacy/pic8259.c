/*
 * Intel 8259A PIC pair as wired in a PC: master at 0x20-0x21, slave at
 * 0xA0-0xA1 with its INT output on the master's IR2, ELCR at 0x4D0-0x4D1.
 *
 * Modelled: the ICW1-ICW4 sequence (IC4, SNGL, LTIM; ICW2 vector base;
 * ICW3 stored, the master only cascades IR2 when ICW3 bit 2 is set and it
 * is not in single mode; ICW4 AEOI and SFNM; ICW1 clears IMR/ISR, special
 * mask, rotation and the read-register select and re-arms edge detection
 * as the datasheet says), OCW1 (IMR on the odd port), every OCW2 command
 * (non-specific/specific EOI, rotate on (non-)specific EOI, set priority,
 * rotate in auto-EOI set/clear, no-op), OCW3 (read IRR/ISR select, poll,
 * special mask mode), fully nested priority with rotation, ELCR (masks
 * 0xF8 master / 0xDE slave: IRQ0-2, 8 and 13 are always edge).
 *
 * Triggering: an edge-triggered input latches IRR on a 0->1 transition of
 * its line and keeps the request until it is acknowledged even if the line
 * falls first (what PC emulators do; devices may pulse).  A level-triggered
 * input (LTIM or ELCR) requests for as long as its line is high.  The
 * master's cascade input IR2 latches the rising edge of the slave's INT
 * output like any edge input and also requests while INT is high, so a
 * second slave request queued behind the first is never lost, and a slave
 * request withdrawn before INTA gives the slave's spurious IRQ15.
 *
 * pic8259_intack: the highest-priority unmasked request above the
 * in-service level is moved from IRR to ISR (unless AEOI) and base + irq is
 * returned; an IR2 request on a cascading master acknowledges the slave as
 * well (slave base + its irq, master ISR bit 2).  Nothing pending gives the
 * spurious IRQ7 vector (master base + 7) without setting ISR; a cascade
 * acknowledge that finds the slave with nothing pending gives slave base + 7
 * with only master ISR bit 2 set, as the chip does.  Spurious vectors are
 * not counted in pic8259_delivered.
 *
 * Left out: MCS-80/85 mode (ICW4 bit 0 = 0 and a missing ICW4 are treated
 * as 8086 mode), buffered mode (ICW4 bits 2-3 stored only), ICW1 ADI and
 * the A7-A5 address bits.  IRQ2 as a device input does not exist on a PC
 * (it is the cascade): pic8259_set_irq(2) is counted as unmodelled.
 */
#include "legacy/pic8259.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytewise.h"

struct chip {
    uint8_t irr;     /* latched edge requests (level inputs are live) */
    uint8_t line;    /* current input levels */
    uint8_t imr, isr;
    uint8_t elcr, elcr_mask;
    uint8_t irq_base;
    uint8_t priority_add; /* the IRQ with the highest priority */
    uint8_t icw3;
    uint8_t init_state;   /* 0 ready, 1 expect ICW2, 2 ICW3, 3 ICW4 */
    bool init4, single, ltim, auto_eoi, rotate_on_aeoi, sfnm, buffered;
    bool read_isr, poll, special_mask;
    bool master;
};

struct pic8259 {
    irq_line intr;
    int intr_level;
    int slave_out; /* the slave's INT output as last seen */
    struct chip chips[2];
    uint64_t delivered[16];
    uint64_t spurious;
    uint64_t unmodelled;
};

/* ---- one chip ---- */

static uint8_t level_mask(const struct chip *c)
{
    return c->ltim ? 0xFF : c->elcr;
}

static uint8_t chip_irr(const struct chip *c)
{
    uint8_t lv = level_mask(c);
    if (c->master) lv &= (uint8_t)~4u; /* IR2: see master_irr */
    return (uint8_t)((c->irr & ~lv) | (c->line & lv));
}

static int get_priority(const struct chip *c, uint8_t mask)
{
    if (!mask) return 8;
    int p = 0;
    while (!(mask & (1u << ((p + c->priority_add) & 7)))) p++;
    return p;
}

static int chip_get_irq_with(const struct chip *c, uint8_t irr)
{
    uint8_t req = irr & (uint8_t)~c->imr;
    int prio = get_priority(c, req);
    if (prio == 8) return -1;
    uint8_t in_service = c->isr;
    if (c->special_mask) in_service &= (uint8_t)~c->imr;
    if (c->master && c->sfnm) in_service &= (uint8_t)~4u;
    if (c->special_mask) {
        /* special mask mode: only the in-service levels themselves are
         * inhibited; every other unmasked request may interrupt */
        req &= (uint8_t)~in_service;
        prio = get_priority(c, req);
        if (prio == 8) return -1;
        return (prio + c->priority_add) & 7;
    }
    if (prio < get_priority(c, in_service)) return (prio + c->priority_add) & 7;
    return -1;
}

static int slave_get_irq(const pic8259 *pic)
{
    const struct chip *s = &pic->chips[1];
    return chip_get_irq_with(s, chip_irr(s));
}

static uint8_t master_irr(const pic8259 *pic)
{
    const struct chip *m = &pic->chips[0];
    uint8_t irr = chip_irr(m); /* bit 2: the latched rising edge of slave INT */
    if (slave_get_irq(pic) >= 0) irr |= 4; /* ... or its current level */
    return irr;
}

static int master_get_irq(const pic8259 *pic)
{
    return chip_get_irq_with(&pic->chips[0], master_irr(pic));
}

static bool master_cascades(const pic8259 *pic)
{
    const struct chip *m = &pic->chips[0];
    return !m->single && (m->icw3 & 4);
}

static void update(pic8259 *pic)
{
    int slave_out = slave_get_irq(pic) >= 0;
    if (slave_out && !pic->slave_out) pic->chips[0].irr |= 4; /* edge on IR2 */
    pic->slave_out = slave_out;
    int level = master_get_irq(pic) >= 0;
    if (level != pic->intr_level) {
        pic->intr_level = level;
        irq_set(&pic->intr, level);
    }
}

/* Clear the highest-priority in-service bit; returns its irq or -1. */
static int nonspecific_eoi(struct chip *c)
{
    uint8_t isr = c->isr;
    if (c->special_mask) isr &= (uint8_t)~c->imr;
    int p = get_priority(c, isr);
    if (p == 8) return -1;
    int irq = (p + c->priority_add) & 7;
    c->isr &= (uint8_t)~(1u << irq);
    return irq;
}

/* Move irq from IRR to ISR as the first INTA pulse does. */
static void chip_ack(struct chip *c, int irq)
{
    uint8_t bit = (uint8_t)(1u << irq);
    if (c->auto_eoi) {
        if (c->rotate_on_aeoi) c->priority_add = (uint8_t)((irq + 1) & 7);
    } else {
        c->isr |= bit;
    }
    c->irr &= (uint8_t)~bit; /* level inputs stay requested through line */
}

static void chip_icw1(struct chip *c, uint8_t val)
{
    c->init4 = val & 1;
    c->single = (val >> 1) & 1;
    c->ltim = (val >> 3) & 1;
    c->imr = 0;
    c->isr = 0;
    c->irr = 0; /* edge sense reset: a line already high must fall first */
    c->priority_add = 0;
    c->read_isr = false;
    c->poll = false;
    c->special_mask = false;
    c->auto_eoi = false;
    c->rotate_on_aeoi = false;
    c->sfnm = false;
    c->buffered = false;
    c->init_state = 1;
}

static void chip_reset(struct chip *c, bool master)
{
    uint8_t line = c->line;
    memset(c, 0, sizeof *c);
    c->line = line; /* the wires keep their levels */
    c->master = master;
    c->elcr_mask = master ? 0xF8 : 0xDE;
    /* as firmware leaves it: initialised, 8086 mode, cascade, all masked */
    c->irq_base = master ? 0x08 : 0x70;
    c->icw3 = master ? 0x04 : 0x02;
    c->init4 = true;
    c->imr = 0xFF;
}

/* ---- register interface ---- */

static uint8_t poll_read(pic8259 *pic, int idx)
{
    struct chip *c = &pic->chips[idx];
    int irq = idx == 0 ? master_get_irq(pic) : slave_get_irq(pic);
    c->poll = false;
    if (irq < 0) return 0;
    chip_ack(c, irq);
    update(pic);
    return (uint8_t)(0x80 | irq);
}

static uint8_t chip_read(pic8259 *pic, int idx, uint32_t offset)
{
    struct chip *c = &pic->chips[idx];
    if (c->poll) return poll_read(pic, idx);
    if (offset == 1) return c->imr;
    if (c->read_isr) return c->isr;
    return idx == 0 ? master_irr(pic) : chip_irr(c);
}

static void ocw2(pic8259 *pic, struct chip *c, uint8_t val)
{
    int level = val & 7;
    switch (val >> 5) {
    case 0: /* clear rotate in automatic EOI mode */
        c->rotate_on_aeoi = false;
        break;
    case 4: /* set rotate in automatic EOI mode */
        c->rotate_on_aeoi = true;
        break;
    case 1: /* non-specific EOI */
        nonspecific_eoi(c);
        break;
    case 5: { /* rotate on non-specific EOI */
        int irq = nonspecific_eoi(c);
        if (irq >= 0) c->priority_add = (uint8_t)((irq + 1) & 7);
        break;
    }
    case 3: /* specific EOI */
        c->isr &= (uint8_t)~(1u << level);
        break;
    case 7: /* rotate on specific EOI */
        c->isr &= (uint8_t)~(1u << level);
        c->priority_add = (uint8_t)((level + 1) & 7);
        break;
    case 6: /* set priority: level becomes the lowest */
        c->priority_add = (uint8_t)((level + 1) & 7);
        break;
    case 2: /* no operation */
        break;
    }
    (void)pic;
}

static void chip_write(pic8259 *pic, int idx, uint32_t offset, uint8_t val)
{
    struct chip *c = &pic->chips[idx];
    if (offset == 0) {
        if (val & 0x10) {
            chip_icw1(c, val);
        } else if (val & 0x08) { /* OCW3 */
            if (val & 0x04) c->poll = true;
            if (val & 0x02) c->read_isr = val & 0x01;
            if (val & 0x40) c->special_mask = (val >> 5) & 1;
            if (val & 0x80) pic->unmodelled++; /* bit 7 must be 0 */
        } else {
            if (c->init_state != 0) {
                /* an OCW2 in the middle of initialisation: the chip
                 * takes it; keep going but note it */
                pic->unmodelled++;
            }
            ocw2(pic, c, val);
        }
    } else {
        switch (c->init_state) {
        case 0:
            c->imr = val;
            break;
        case 1:
            c->irq_base = val & 0xF8;
            c->init_state = c->single ? (c->init4 ? 3 : 0) : 2;
            break;
        case 2:
            c->icw3 = val;
            c->init_state = c->init4 ? 3 : 0;
            break;
        case 3:
            if (!(val & 1)) pic->unmodelled++; /* MCS-80/85 mode */
            c->auto_eoi = (val >> 1) & 1;
            c->buffered = (val >> 3) & 1;
            c->sfnm = (val >> 4) & 1;
            c->init_state = 0;
            break;
        default:
            c->init_state = 0;
            pic->unmodelled++;
            break;
        }
    }
    update(pic);
}

static uint8_t master_rd(void *opaque, uint32_t offset) { return chip_read(opaque, 0, offset); }
static uint8_t slave_rd(void *opaque, uint32_t offset) { return chip_read(opaque, 1, offset); }
static void master_wr(void *opaque, uint32_t offset, uint8_t v) { chip_write(opaque, 0, offset, v); }
static void slave_wr(void *opaque, uint32_t offset, uint8_t v) { chip_write(opaque, 1, offset, v); }

static uint8_t elcr_rd(void *opaque, uint32_t offset)
{
    pic8259 *pic = opaque;
    return pic->chips[offset & 1].elcr;
}

static void elcr_wr(void *opaque, uint32_t offset, uint8_t v)
{
    pic8259 *pic = opaque;
    struct chip *c = &pic->chips[offset & 1];
    uint8_t old = c->elcr;
    c->elcr = v & c->elcr_mask;
    /* an input turning edge-triggered starts with no latched request */
    c->irr &= (uint8_t)~(old ^ c->elcr);
    update(pic);
}

#define PIC_DEV_RW(name, rd, wr)                                                     \
    static uint32_t name##_read(void *opaque, uint32_t offset, unsigned size)       \
    {                                                                               \
        pic8259 *pic = opaque;                                                      \
        return bytewise_read(opaque, offset, size, 2, rd, &pic->unmodelled);        \
    }                                                                               \
    static void name##_write(void *opaque, uint32_t offset, uint32_t v, unsigned size) \
    {                                                                               \
        pic8259 *pic = opaque;                                                      \
        bytewise_write(opaque, offset, v, size, 2, wr, &pic->unmodelled);           \
    }

PIC_DEV_RW(master, master_rd, master_wr)
PIC_DEV_RW(slave, slave_rd, slave_wr)
PIC_DEV_RW(elcr, elcr_rd, elcr_wr)

/* ---- public ---- */

void pic8259_reset(pic8259 *pic)
{
    if (!pic) return;
    chip_reset(&pic->chips[0], true);
    chip_reset(&pic->chips[1], false);
    update(pic);
}

pic8259 *pic8259_new(irq_line intr)
{
    pic8259 *pic = calloc(1, sizeof *pic);
    if (!pic) return NULL;
    pic->intr = intr;
    pic8259_reset(pic);
    return pic;
}

void pic8259_free(pic8259 *pic)
{
    free(pic);
}

bus_device pic8259_master_device(pic8259 *pic)
{
    return (bus_device){"pic8259-master", pic, master_read, master_write};
}

bus_device pic8259_slave_device(pic8259 *pic)
{
    return (bus_device){"pic8259-slave", pic, slave_read, slave_write};
}

bus_device pic8259_elcr_device(pic8259 *pic)
{
    return (bus_device){"pic8259-elcr", pic, elcr_read, elcr_write};
}

void pic8259_set_irq(void *opaque, int irq, int level)
{
    pic8259 *pic = opaque;
    if (!pic) return;
    if (irq < 0 || irq > 15 || irq == 2) {
        pic->unmodelled++;
        return;
    }
    struct chip *c = &pic->chips[irq >> 3];
    uint8_t bit = (uint8_t)(1u << (irq & 7));
    if (level) {
        if (!(c->line & bit)) c->irr |= bit; /* rising edge */
        c->line |= bit;
    } else {
        c->line &= (uint8_t)~bit;
    }
    update(pic);
}

int pic8259_intack(pic8259 *pic)
{
    if (!pic) return -1;
    struct chip *m = &pic->chips[0], *s = &pic->chips[1];
    int irq = master_get_irq(pic);
    int vector;
    if (irq < 0) {
        pic->spurious++;
        vector = (m->irq_base + 7) & 0xFF;
    } else if (irq == 2 && master_cascades(pic)) {
        int irq2 = slave_get_irq(pic);
        if (irq2 >= 0) {
            chip_ack(s, irq2);
            pic->delivered[8 + irq2]++;
            vector = (s->irq_base + irq2) & 0xFF;
        } else {
            pic->spurious++;
            vector = (s->irq_base + 7) & 0xFF;
        }
        chip_ack(m, 2);
    } else {
        chip_ack(m, irq);
        pic->delivered[irq]++;
        vector = (m->irq_base + irq) & 0xFF;
    }
    update(pic);
    return vector;
}

uint64_t pic8259_delivered(const pic8259 *pic, int irq)
{
    if (!pic || irq < 0 || irq > 15) return 0;
    return pic->delivered[irq];
}

uint64_t pic8259_unmodelled(const pic8259 *pic)
{
    return pic ? pic->unmodelled : 0;
}

int pic8259_intr_level(const pic8259 *pic)
{
    return pic ? pic->intr_level : 0;
}

/* ---- state (device.h) ---- */

#define PIC8259_STATE_VERSION 1

static void save_chip(const struct chip *c, state_writer *w)
{
    sw_u8(w, c->irr);
    sw_u8(w, c->line);
    sw_u8(w, c->imr);
    sw_u8(w, c->isr);
    sw_u8(w, c->elcr);
    sw_u8(w, c->irq_base);
    sw_u8(w, c->priority_add);
    sw_u8(w, c->icw3);
    sw_u8(w, c->init_state);
    const bool flags[] = {c->init4, c->single, c->ltim, c->auto_eoi, c->rotate_on_aeoi,
                          c->sfnm, c->buffered, c->read_isr, c->poll, c->special_mask};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) sw_bool(w, flags[i]);
}

static void save_op(const void *opaque, state_writer *w)
{
    const pic8259 *pic = opaque;
    save_chip(&pic->chips[0], w);
    save_chip(&pic->chips[1], w);
    for (int i = 0; i < 16; i++) sw_u64(w, pic->delivered[i]);
    sw_u64(w, pic->spurious);
    sw_u64(w, pic->unmodelled);
}

/* "pic8259 master imr": the field a refusal names. */
static const char *field(char *buf, size_t n, const struct chip *c, const char *name)
{
    snprintf(buf, n, "pic8259 %s %s", c->master ? "master" : "slave", name);
    return buf;
}

/* Into c, whose master and elcr_mask (the chip's wiring) stay. */
static void load_chip(struct chip *c, state_reader *r)
{
    char f[64];
    c->irr = sr_u8(r);
    /* IR2 of the master is the cascade, never a device input */
    c->line = sr_u8_bits(r, c->master ? 0xFB : 0xFF, field(f, sizeof f, c, "line"));
    c->imr = sr_u8(r);
    c->isr = sr_u8(r);
    c->elcr = sr_u8_bits(r, c->elcr_mask, field(f, sizeof f, c, "elcr"));
    c->irq_base = sr_u8_bits(r, 0xF8, field(f, sizeof f, c, "irq_base"));
    c->priority_add = sr_u8_in(r, 0, 7, field(f, sizeof f, c, "priority_add"));
    c->icw3 = sr_u8(r);
    c->init_state = sr_u8_in(r, 0, 3, field(f, sizeof f, c, "init_state"));
    bool *const flags[] = {&c->init4, &c->single, &c->ltim, &c->auto_eoi, &c->rotate_on_aeoi,
                           &c->sfnm, &c->buffered, &c->read_isr, &c->poll, &c->special_mask};
    static const char *const names[] = {"init4", "single", "ltim", "auto_eoi",
                                        "rotate_on_aeoi", "sfnm", "buffered", "read_isr",
                                        "poll", "special_mask"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        *flags[i] = sr_flag(r, field(f, sizeof f, c, names[i]));
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "pic8259", version, PIC8259_STATE_VERSION)) return;
    pic8259 pic = *(pic8259 *)opaque; /* keeps the wiring */
    load_chip(&pic.chips[0], r);
    load_chip(&pic.chips[1], r);
    for (int i = 0; i < 16; i++) pic.delivered[i] = sr_u64(r);
    pic.spurious = sr_u64(r);
    pic.unmodelled = sr_u64(r);
    if (r->failed) return;
    /* what update() would leave: the slave's INT and INTR as the loaded
     * registers give them (no edge is latched, none is driven) */
    pic.slave_out = slave_get_irq(&pic) >= 0;
    pic.intr_level = master_get_irq(&pic) >= 0;
    *(pic8259 *)opaque = pic;
}

static void reset_op(void *opaque) { pic8259_reset(opaque); }
static void free_op(void *opaque) { pic8259_free(opaque); }

const panda_device_ops pic8259_ops = {
    .type = "pic8259",
    .state_version = PIC8259_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
