/*
 * Versioned device state: what a device writes into a snapshot and reads
 * back, field by field (never a memcpy of its struct, which would carry
 * host pointers and depend on the compiler's layout).
 *
 * Writing appends little-endian fields to a growing buffer; reading takes
 * them back in the same order.  A snapshot file is hostile input: a reader
 * never reads past its end, and the first problem (too short, a value the
 * device would never hold, an unknown version) is kept as a message while
 * every later read returns 0.  A device's load reads into a copy of itself
 * and commits only when the reader has not failed, so a refused state
 * leaves the device as it was.
 */
#ifndef PANDA_DEVICES_STATE_H
#define PANDA_DEVICES_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct state_writer {
    uint8_t *data;
    size_t len, cap;
    bool failed;              /* out of memory */
} state_writer;

typedef struct state_reader {
    const uint8_t *data;
    size_t len, pos;
    bool failed;
    char error[160];          /* the first problem found */
} state_reader;

void sw_init(state_writer *w);
void sw_free(state_writer *w);
void sw_bytes(state_writer *w, const void *p, size_t n);
void sw_u8(state_writer *w, uint8_t v);
void sw_u16(state_writer *w, uint16_t v);
void sw_u32(state_writer *w, uint32_t v);
void sw_u64(state_writer *w, uint64_t v);
void sw_bool(state_writer *w, bool v);

void sr_init(state_reader *r, const void *data, size_t len);
void sr_bytes(state_reader *r, void *p, size_t n);
uint8_t sr_u8(state_reader *r);
uint16_t sr_u16(state_reader *r);
uint32_t sr_u32(state_reader *r);
uint64_t sr_u64(state_reader *r);
/* A stored bool must be 0 or 1. */
bool sr_bool(state_reader *r);
/* sr_bool whose refusal names the field: "uart16550 fifo_on holds 2, not
 * 0 or 1". */
bool sr_flag(state_reader *r, const char *what);
/* A field whose values are lo..hi (an enum, an index, a count): out of
 * range fails with the field, its value and the range.  Returns the value,
 * or lo when it was refused, so that checks made after it (a divisor, an
 * array index) never see a value the device could not hold. */
uint8_t sr_u8_in(state_reader *r, uint8_t lo, uint8_t hi, const char *what);
uint32_t sr_u32_in(state_reader *r, uint32_t lo, uint32_t hi, const char *what);
/* A register that keeps only some bits: any other bit set fails. */
uint8_t sr_u8_bits(state_reader *r, uint8_t allowed, const char *what);
/* Refuse a state written by another version of the device's save (got):
 * true when it is want; otherwise fails naming the type and both. */
bool sr_version(state_reader *r, const char *type, uint32_t got, uint32_t want);
/* Record the first failure (printf-style); returns false. */
bool sr_fail(state_reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* sr_fail(r, "%s out of range", what) unless ok; returns ok. */
bool sr_check(state_reader *r, bool ok, const char *what);
/* True when every byte was read and nothing failed; otherwise fails with
 * "N bytes left over". */
bool sr_done(state_reader *r);

#endif
