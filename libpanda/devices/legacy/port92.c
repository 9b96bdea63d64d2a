/*
 * System control port A (0x92).  SeaBIOS's real-mode entry code reads it,
 * sets bit 1 and writes it back (src/romlayout.S); GRUB and Linux's boot
 * code use it as one of their ways to open the A20 gate.  Only bits 1
 * (A20) and 0 exist here; bit 0 reads 0 and is ignored, so a
 * read-modify-write never resets the machine.
 */
#include "legacy/port92.h"

#include <stdlib.h>

#include "bytewise.h"

#define A20_BIT 0x02

struct port92 {
    port92_hooks hooks;
    uint8_t value;
    uint64_t unmodelled;
};

static uint8_t p92_rd(void *opaque, uint32_t offset)
{
    port92 *p = opaque;
    (void)offset;
    return p->value;
}

static void p92_wr(void *opaque, uint32_t offset, uint8_t val)
{
    port92 *p = opaque;
    (void)offset;
    p->value = val & A20_BIT;
    if (p->hooks.a20) p->hooks.a20(p->hooks.opaque, p->value & A20_BIT);
}

BYTEWISE_BUS_FNS(p92, port92, 1, p92_rd, p92_wr)

port92 *port92_new(port92_hooks hooks)
{
    port92 *p = calloc(1, sizeof(*p));
    if (p) p->hooks = hooks;
    return p;
}

void port92_free(port92 *p)
{
    free(p);
}

void port92_reset(port92 *p)
{
    if (p) p->value = 0;
}

bus_device port92_device(port92 *p)
{
    return (bus_device){"port92", p, p92_read, p92_write};
}

bool port92_a20(const port92 *p)
{
    return p && (p->value & A20_BIT);
}

/* ---- state (device.h) ---- */

#define PORT92_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const port92 *p = opaque;
    sw_u8(w, p->value);
    sw_u64(w, p->unmodelled);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "port92", version, PORT92_STATE_VERSION)) return;
    port92 p = *(port92 *)opaque;
    p.value = sr_u8_bits(r, A20_BIT, "port92 value");
    p.unmodelled = sr_u64(r);
    if (!r->failed) *(port92 *)opaque = p;
}

static void reset_op(void *opaque) { port92_reset(opaque); }
static void free_op(void *opaque) { port92_free(opaque); }

const panda_device_ops port92_ops = {
    .type = "port92",
    .state_version = PORT92_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
