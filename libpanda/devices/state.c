/* Versioned device state (state.h). */
#include "state.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sw_init(state_writer *w)
{
    memset(w, 0, sizeof(*w));
}

void sw_free(state_writer *w)
{
    free(w->data);
    memset(w, 0, sizeof(*w));
}

void sw_bytes(state_writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0) return;
    if (n > SIZE_MAX - w->len) {
        w->failed = true;
        return;
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < w->len + n) {
            if (cap > SIZE_MAX / 2) {
                w->failed = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *d = realloc(w->data, cap);
        if (!d) {
            w->failed = true;
            return;
        }
        w->data = d;
        w->cap = cap;
    }
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void sw_u8(state_writer *w, uint8_t v) { sw_bytes(w, &v, 1); }

void sw_u16(state_writer *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    sw_bytes(w, b, 2);
}

void sw_u32(state_writer *w, uint32_t v)
{
    sw_u16(w, (uint16_t)v);
    sw_u16(w, (uint16_t)(v >> 16));
}

void sw_u64(state_writer *w, uint64_t v)
{
    sw_u32(w, (uint32_t)v);
    sw_u32(w, (uint32_t)(v >> 32));
}

void sw_bool(state_writer *w, bool v) { sw_u8(w, v ? 1 : 0); }

void sr_init(state_reader *r, const void *data, size_t len)
{
    memset(r, 0, sizeof(*r));
    r->data = data;
    r->len = data ? len : 0;
}

bool sr_fail(state_reader *r, const char *fmt, ...)
{
    if (!r->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->error, sizeof(r->error), fmt, ap);
        va_end(ap);
        r->failed = true;
    }
    return false;
}

void sr_bytes(state_reader *r, void *p, size_t n)
{
    if (!r->failed && n > r->len - r->pos)
        sr_fail(r, "truncated: %zu bytes wanted at offset %zu of %zu", n, r->pos, r->len);
    if (r->failed) {
        memset(p, 0, n);
        return;
    }
    memcpy(p, r->data + r->pos, n);
    r->pos += n;
}

uint8_t sr_u8(state_reader *r)
{
    uint8_t v;
    sr_bytes(r, &v, 1);
    return v;
}

uint16_t sr_u16(state_reader *r)
{
    uint8_t b[2];
    sr_bytes(r, b, 2);
    return (uint16_t)(b[0] | b[1] << 8);
}

uint32_t sr_u32(state_reader *r)
{
    uint32_t lo = sr_u16(r);
    return lo | (uint32_t)sr_u16(r) << 16;
}

uint64_t sr_u64(state_reader *r)
{
    uint64_t lo = sr_u32(r);
    return lo | (uint64_t)sr_u32(r) << 32;
}

bool sr_bool(state_reader *r)
{
    return sr_flag(r, "a flag");
}

bool sr_flag(state_reader *r, const char *what)
{
    uint8_t v = sr_u8(r);
    if (v > 1) sr_fail(r, "%s holds %u, not 0 or 1", what, v);
    return v == 1;
}

uint32_t sr_u32_in(state_reader *r, uint32_t lo, uint32_t hi, const char *what)
{
    uint32_t v = sr_u32(r);
    if (v >= lo && v <= hi) return v;
    sr_fail(r, "%s holds %" PRIu32 ", outside %" PRIu32 "..%" PRIu32, what, v, lo, hi);
    return lo;
}

uint8_t sr_u8_in(state_reader *r, uint8_t lo, uint8_t hi, const char *what)
{
    uint8_t v = sr_u8(r);
    if (v >= lo && v <= hi) return v;
    sr_fail(r, "%s holds %u, outside %u..%u", what, v, lo, hi);
    return lo;
}

uint8_t sr_u8_bits(state_reader *r, uint8_t allowed, const char *what)
{
    uint8_t v = sr_u8(r);
    if (!(v & ~allowed)) return v;
    sr_fail(r, "%s holds 0x%02x, which sets bits outside 0x%02x", what, v, allowed);
    return v & allowed;
}

bool sr_version(state_reader *r, const char *type, uint32_t got, uint32_t want)
{
    if (got == want) return true;
    return sr_fail(r, "%s state version %" PRIu32 " (this build reads version %" PRIu32 ")",
                   type, got, want);
}

bool sr_check(state_reader *r, bool ok, const char *what)
{
    if (!ok) sr_fail(r, "%s is out of range", what);
    return ok;
}

bool sr_done(state_reader *r)
{
    if (!r->failed && r->pos != r->len)
        sr_fail(r, "%zu bytes left over after the last field", r->len - r->pos);
    return !r->failed;
}
