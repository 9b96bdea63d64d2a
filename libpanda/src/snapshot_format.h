/*
 * The snapshot file format (snapshot.c writes it; snapshot_parse reads
 * it).  The parser is pure — bytes in, located sections or an error out —
 * so a fuzzer drives it directly (scripts/fuzz.sh).
 */
#ifndef LIBPANDA_SNAPSHOT_FORMAT_H
#define LIBPANDA_SNAPSHOT_FORMAT_H

#include "base/base.h"

#define SNAP_MAGIC "PYPANDA-SNAPSHOT"
#define SNAP_VERSION 3
#define SNAP_HEADER_SIZE (16 + 4 + 4 + 16 + 16 + 8 + 8)
#define SNAP_PAGE 4096u
#define SNAP_MAX_DEVICES 32
/* No snapshot of a machine this build can create is larger. */
#define SNAP_MAX_FILE (64ull << 30)

enum { TAG_CPU = 1, TAG_CLOCK, TAG_DEVICE, TAG_RAM, TAG_END = 0xffffffffu };

/* What the snapshot must match: the machine it is loaded into. */
typedef struct snap_expect {
    const char *arch, *machine;
    uint64_t ram_size, cpu_len;
    size_t ndev;
    const char *dev_name[SNAP_MAX_DEVICES], *dev_type[SNAP_MAX_DEVICES];
    uint32_t dev_version[SNAP_MAX_DEVICES];
} snap_expect;

/* A snapshot's sections, located and checked against snap_expect: the
 * integrity digest, every size, the devices' names and state versions.
 * (Each device then validates its own state when it loads it.) */
typedef struct snap_parts {
    const uint8_t *cpu, *clock, *ram;
    size_t cpu_len, clock_len, ram_len;
    struct snap_device {
        const uint8_t *data;
        size_t len;
        uint32_t version;
        char name[33];
    } dev[SNAP_MAX_DEVICES];
    size_t ndev;
} snap_parts;

panda_err snapshot_parse(panda_errbuf *e, const char *what, const uint8_t *data, size_t len,
                         const snap_expect *x, snap_parts *out);

#endif
