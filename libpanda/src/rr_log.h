/*
 * The recording log format (NAME-rr-nondet.log), written by rr.c and read
 * by rr_log_parse, a pure function over the file's bytes (fuzzed by
 * scripts/fuzz.sh).
 *
 * Little-endian.  Header (96 bytes): magic "PYPANDA-RR-LOG\0\0" (16), u32
 * format version, u32 flags (1 = complete), char arch[16], u64 start
 * icount, u64 end icount, u64 input event count, the SHA-256 of the
 * NAME-rr-snp file the recording starts from (32).  The header is written
 * first with flags 0 and rewritten when the recording ends, after the end
 * record is on disk: a recorder killed midway leaves a log that says it is
 * incomplete.
 * Event (32 bytes + payload): u8 kind, u8 channel index, u8 pad[2], u32
 * length, u64 icount, u64 vtime, u64 pc, then length payload bytes.  Kinds
 * are the input channels' (1 serial input, 2 disk reads, 3 disc changes:
 * internal.h's PANDA_INPUT_*); 0xff ends the log, and its
 * 32-byte payload is SHA-256(final header || SHA-256(every event byte
 * before this payload)): any change to the file is refused.
 */
#ifndef LIBPANDA_RR_LOG_H
#define LIBPANDA_RR_LOG_H

#include "base/base.h"

#define RR_LOG_MAGIC "PYPANDA-RR-LOG\0\0"
#define RR_LOG_VERSION 2
#define RR_LOG_HEADER 96
#define RR_EV_HEADER 32
#define RR_EV_END 0xff
#define RR_LOG_COMPLETE 1u
#define RR_LOG_MAX_FILE (16ull << 30)

typedef struct rr_event {
    uint8_t kind, index;
    uint32_t len;
    uint64_t icount, vtime, pc;
    const uint8_t *data;       /* into the parsed buffer */
} rr_event;

typedef struct rr_log {
    uint64_t start, end;
    uint8_t snapshot_sha256[32];
    rr_event *ev;              /* malloc'd; the last is the end record */
    size_t nev;
} rr_log;

void rr_log_header(uint8_t h[RR_LOG_HEADER], uint32_t flags, const char *arch, uint64_t start,
                   uint64_t end, uint64_t events, const uint8_t snapshot_sha256[32]);
void rr_log_event_header(uint8_t ev[RR_EV_HEADER], uint8_t kind, uint8_t index, uint32_t len,
                         uint64_t icount, uint64_t vtime, uint64_t pc);
/* The end record's payload. */
void rr_log_digest(const uint8_t header[RR_LOG_HEADER], const uint8_t events_sha256[32], uint8_t out[32]);

/* Check and index a whole log.  max_kind: event kinds 1..max_kind-1 are
 * known.  On success out->ev points into d, which must outlive it. */
panda_err rr_log_parse(panda_errbuf *e, const char *what, const uint8_t *d, size_t len, const char *arch,
                       uint8_t max_kind, rr_log *out);

#endif
