/*
 * POST diagnostic port 0x80.  Each write access is counted (Linux uses
 * them as I/O delays) and its low byte kept; reads return that byte.  A
 * wider access is split into byte cycles (bytewise.h): bytes past 0x80
 * read 0xFF and are dropped on write.
 */
#include <string.h>

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

/* ---- snapshots (bus.h): the wiring a loaded state keeps ---- */

static void port80_rewire(port80 *dev, const port80 *old)
{
    (void)dev;
    (void)old;
}

DEVICE_SNAPSHOT(port80)
