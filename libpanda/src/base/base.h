/*
 * libpanda's base layer: error text, files, SHA-256 and option value
 * parsing.  It calls nothing else in libpanda (tests/test_layers.py checks
 * that no file below it in the layering calls up), so every other part may
 * use it.
 */
#ifndef LIBPANDA_BASE_H
#define LIBPANDA_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "panda/types.h"

/* The detail text of an instance's last error. */
typedef struct panda_errbuf {
    char msg[512];
} panda_errbuf;

/* Set the text and return err, so that `return err_set(e, CODE, ...)`
 * reports and fails in one step. */
panda_err err_set(panda_errbuf *e, panda_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The common out-of-memory report: what could not be allocated. */
panda_err err_nomem(panda_errbuf *e, const char *what);

/* Read a whole regular file of at most max_len bytes (special files —
 * FIFOs, devices, directories — are refused: they could block or never
 * end).  *data is malloc'd; code is the panda_err for a missing or
 * unreadable file (an option error for a user-named kernel, an I/O error
 * for a snapshot). */
panda_err file_read_all(panda_errbuf *e, panda_err code, const char *what, const char *path,
                        uint64_t max_len, uint8_t **data, size_t *len);
/* Write data to path atomically: to path.tmp, then renamed, so path is
 * either complete or absent. */
panda_err file_write_atomic(panda_errbuf *e, const char *path, const void *data, size_t len);

/* SHA-256: the integrity check of snapshots and recordings (any change to
 * a file is detected before it is used). */
typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len;
    uint8_t buf[64];
    size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
void sha256(const void *data, size_t n, uint8_t out[32]);

/* "128M", "1G", "4096" (MiB by default, as QEMU's -m), "64k": bytes, or 0
 * if malformed or out of range. */
uint64_t parse_size(const char *s);
/* "2026-01-01T12:00:00" or "2026-01-01" (UTC) -> seconds since 1970, or -1. */
int64_t parse_utc(const char *s);
/* A copy of s (malloc'd), or NULL. */
char *str_dup(const char *s);

#endif
