/*
 * The debug console at port 0x402 (QEMU's isa-debugcon with its default
 * iobase and readback).  SeaBIOS's qemu_debug_preinit keeps using the port
 * only if a read returns 0xE9, then writes every message of its log there.
 * A wider access is split into byte cycles (bytewise.h).
 */
#include "legacy/debugcon.h"

#include <stdlib.h>
#include <string.h>

#include "bytewise.h"

#define READBACK 0xE9

struct debugcon {
    debugcon_hooks hooks;
    char *log;
    size_t len;
    uint64_t bytes;
    char line[DEBUGCON_LINE_MAX];
    size_t line_len;
    uint64_t unmodelled;
};

static uint8_t dc_rd(void *opaque, uint32_t offset)
{
    (void)opaque;
    (void)offset;
    return READBACK;
}

static void dc_wr(void *opaque, uint32_t offset, uint8_t val)
{
    debugcon *d = opaque;
    (void)offset;
    d->bytes++;
    if (d->len < DEBUGCON_LOG_MAX) d->log[d->len++] = (char)val;
    if (val == '\n') {
        d->line[d->line_len] = 0;
        if (d->hooks.line) d->hooks.line(d->hooks.opaque, d->line);
        d->line_len = 0;
    } else if (val != '\r' && d->line_len < DEBUGCON_LINE_MAX - 1) {
        d->line[d->line_len++] = (char)val;
    }
}

BYTEWISE_BUS_FNS(dc, debugcon, 1, dc_rd, dc_wr)

debugcon *debugcon_new(debugcon_hooks hooks)
{
    debugcon *d = calloc(1, sizeof(*d));
    if (!d) return NULL;
    d->log = malloc(DEBUGCON_LOG_MAX);
    if (!d->log) {
        free(d);
        return NULL;
    }
    d->hooks = hooks;
    return d;
}

void debugcon_free(debugcon *d)
{
    if (!d) return;
    free(d->log);
    free(d);
}

bus_device debugcon_device(debugcon *d)
{
    return (bus_device){"debugcon", d, dc_read, dc_write};
}

const char *debugcon_log(const debugcon *d, size_t *len)
{
    *len = d ? d->len : 0;
    return d ? d->log : "";
}

uint64_t debugcon_bytes(const debugcon *d)
{
    return d ? d->bytes : 0;
}

/* ---- state (device.h): none; the log is output and stays as it is ---- */

#define DEBUGCON_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    (void)opaque;
    (void)w;
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    (void)opaque;
    sr_version(r, "debugcon", version, DEBUGCON_STATE_VERSION);
}

static void free_op(void *opaque) { debugcon_free(opaque); }

const panda_device_ops debugcon_ops = {
    .type = "debugcon",
    .state_version = DEBUGCON_STATE_VERSION,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
