/*
 * POST diagnostic port 0x80.  Each write access is counted (Linux uses
 * them as I/O delays) and its low byte kept; reads return that byte.  A
 * wider access is split into byte cycles (bytewise.h): bytes past 0x80
 * read 0xFF and are dropped on write.
 */
#include "legacy/port80.h"

#include <stdlib.h>

#include "bytewise.h"

struct port80 {
    uint8_t last;
    uint64_t writes;
    uint64_t unmodelled;
};

static uint8_t p80_rd(void *opaque, uint32_t offset)
{
    port80 *p = opaque;
    (void)offset;
    return p->last;
}

static void p80_wr(void *opaque, uint32_t offset, uint8_t val)
{
    port80 *p = opaque;
    (void)offset;
    p->last = val;
}

static uint32_t p80_read(void *opaque, uint32_t offset, unsigned size)
{
    port80 *p = opaque;
    return bytewise_read(opaque, offset, size, 1, p80_rd, &p->unmodelled);
}

static void p80_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    port80 *p = opaque;
    p->writes++;
    bytewise_write(opaque, offset, v, size, 1, p80_wr, &p->unmodelled);
}

port80 *port80_new(void)
{
    return calloc(1, sizeof(port80));
}

void port80_free(port80 *p)
{
    free(p);
}

bus_device port80_device(port80 *p)
{
    return (bus_device){"port80", p, p80_read, p80_write};
}

uint64_t port80_writes(const port80 *p)
{
    return p ? p->writes : 0;
}

void port80_reset(port80 *p)
{
    if (p) p->last = 0;
}

/* ---- state (device.h) ---- */

#define PORT80_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const port80 *p = opaque;
    sw_u8(w, p->last);
    sw_u64(w, p->writes);
    sw_u64(w, p->unmodelled);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "port80", version, PORT80_STATE_VERSION)) return;
    port80 p = *(port80 *)opaque;
    p.last = sr_u8(r); /* any byte: the guest may write any */
    p.writes = sr_u64(r);
    p.unmodelled = sr_u64(r);
    if (!r->failed) *(port80 *)opaque = p;
}

static void reset_op(void *opaque) { port80_reset(opaque); }
static void free_op(void *opaque) { port80_free(opaque); }

const panda_device_ops port80_ops = {
    .type = "port80",
    .state_version = PORT80_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
