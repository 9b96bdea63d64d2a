/*
 * Machine snapshots: the whole state of a pc machine (CPU, RAM, every
 * device, the virtual clock) as one byte string, kept in memory by name or
 * written to a file (a recording's NAME-rr-snp).
 *
 * Format (little-endian): a header, then sections, then a checksum.
 *   header   magic "PYPANDA-SNAPSHOT" (16), u32 version, u32 header size,
 *            char arch[16], u64 ram_size, u64 layout (sizes of the CPU and
 *            device states: a snapshot loads only into the same build)
 *   section  u32 tag, u32 0, u64 length, bytes
 *   end      u32 TAG_END, u32 0, u64 8, u64 FNV-1a of everything before
 * RAM is stored page by page, all-zero pages as a bit in a map.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SNAP_MAGIC "PYPANDA-SNAPSHOT"
#define SNAP_VERSION 1
#define PAGE 4096u

enum { TAG_CPU = 1, TAG_CLOCK, TAG_DEVICES, TAG_RAM, TAG_END = 0xffffffffu };

typedef struct buf {
    uint8_t *data;
    size_t len, cap;
    bool failed;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 20;
        while (cap < b->len + n) cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put64(buf *b, uint64_t v) { put(b, &v, 8); }

uint64_t panda_fnv1a(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static void section(buf *b, uint32_t tag, const void *data, size_t len)
{
    put32(b, tag);
    put32(b, 0);
    put64(b, len);
    put(b, data, len);
}

static uint64_t layout_id(panda_t *p)
{
    uint64_t sizes[2] = {uc_panda_cpu_state_size(p->uc), pc_devices_state_size(p)};
    return panda_fnv1a(sizes, sizeof(sizes));
}

panda_err snapshot_take(panda_t *p, uint8_t **out, size_t *outlen)
{
    if (!p->pc)
        return panda_set_error(p, PANDA_ERR_UNSUPPORTED,
                               "snapshots need the pc machine (the %s machine has none)", p->machine);
    buf b = {0};
    char arch[16] = {0};
    snprintf(arch, sizeof(arch), "%s", panda_arch.name);
    put(&b, SNAP_MAGIC, 16);
    put32(&b, SNAP_VERSION);
    put32(&b, 16 + 4 + 4 + 16 + 8 + 8);
    put(&b, arch, 16);
    put64(&b, p->ram_size);
    put64(&b, layout_id(p));

    size_t cpu_len = uc_panda_cpu_state_size(p->uc);
    uint8_t *cpu = malloc(cpu_len);
    if (!cpu || uc_panda_cpu_state_save(p->uc, cpu, cpu_len)) {
        free(cpu);
        free(b.data);
        return panda_set_error(p, PANDA_ERR_ENGINE, "could not save the CPU state");
    }
    section(&b, TAG_CPU, cpu, cpu_len);
    free(cpu);

    uint64_t clock = pc_idle_ns(p);
    section(&b, TAG_CLOCK, &clock, sizeof(clock));

    size_t dev_len = pc_devices_state_size(p);
    uint8_t *dev = malloc(dev_len);
    if (!dev) {
        free(b.data);
        return PANDA_ERR_NOMEM;
    }
    pc_devices_save(p, dev);
    section(&b, TAG_DEVICES, dev, dev_len);
    free(dev);

    /* RAM: a bitmap of non-zero pages, then those pages */
    const uint8_t *ram = pc_ram(p);
    size_t pages = p->ram_size / PAGE;
    size_t map_len = (pages + 7) / 8;
    uint8_t *map = calloc(1, map_len);
    if (!map) {
        free(b.data);
        return PANDA_ERR_NOMEM;
    }
    static const uint8_t zero[PAGE];
    size_t nonzero = 0;
    for (size_t i = 0; i < pages; i++) {
        if (memcmp(ram + i * PAGE, zero, PAGE)) {
            map[i / 8] |= (uint8_t)(1u << (i % 8));
            nonzero++;
        }
    }
    put32(&b, TAG_RAM);
    put32(&b, 0);
    put64(&b, map_len + nonzero * PAGE);
    put(&b, map, map_len);
    for (size_t i = 0; i < pages; i++)
        if (map[i / 8] & (1u << (i % 8))) put(&b, ram + i * PAGE, PAGE);
    free(map);

    uint64_t sum = panda_fnv1a(b.data, b.len);
    section(&b, TAG_END, &sum, sizeof(sum));
    if (b.failed) {
        free(b.data);
        return panda_set_error(p, PANDA_ERR_NOMEM, "out of memory while taking a snapshot");
    }
    *out = b.data;
    *outlen = b.len;
    return PANDA_OK;
}

static panda_err bad(panda_t *p, const char *what, const char *why)
{
    return panda_set_error(p, PANDA_ERR_SNAPSHOT, "%s: %s", what, why);
}

panda_err snapshot_restore(panda_t *p, const uint8_t *data, size_t len, const char *what)
{
    if (!p->pc)
        return panda_set_error(p, PANDA_ERR_UNSUPPORTED, "snapshots need the pc machine");
    size_t hdr = 16 + 4 + 4 + 16 + 8 + 8;
    if (len < hdr + 24 || memcmp(data, SNAP_MAGIC, 16))
        return bad(p, what, "not a pypanda snapshot");
    uint32_t version, hsize;
    uint64_t ram_size, layout;
    memcpy(&version, data + 16, 4);
    memcpy(&hsize, data + 20, 4);
    if (version != SNAP_VERSION || hsize != hdr)
        return panda_set_error(p, PANDA_ERR_SNAPSHOT, "%s: snapshot format %u; this pypanda reads %u",
                               what, version, SNAP_VERSION);
    if (strncmp((const char *)data + 24, panda_arch.name, 16))
        return panda_set_error(p, PANDA_ERR_SNAPSHOT, "%s: a snapshot of an %.16s machine, not %s",
                               what, (const char *)data + 24, panda_arch.name);
    memcpy(&ram_size, data + 40, 8);
    memcpy(&layout, data + 48, 8);
    if (ram_size != p->ram_size)
        return panda_set_error(p, PANDA_ERR_SNAPSHOT,
                               "%s: the snapshot has %llu MiB of RAM, this machine %llu MiB: use the same mem=",
                               what, (unsigned long long)(ram_size >> 20),
                               (unsigned long long)(p->ram_size >> 20));
    if (layout != layout_id(p))
        return bad(p, what, "made by another build of libpanda (its CPU or device state differs)");
    /* checksum: the last section */
    uint32_t tag;
    uint64_t slen, sum;
    memcpy(&tag, data + len - 24, 4);
    memcpy(&slen, data + len - 16, 8);
    memcpy(&sum, data + len - 8, 8);
    if (tag != TAG_END || slen != 8)
        return bad(p, what, "truncated (no end marker)");
    if (sum != panda_fnv1a(data, len - 24))
        return bad(p, what, "corrupt (checksum mismatch)");

    const uint8_t *cpu = NULL, *dev = NULL, *ram = NULL;
    size_t cpu_len = 0, dev_len = 0, ram_len = 0;
    uint64_t clock = 0;
    size_t off = hdr;
    while (off + 16 <= len - 24) {
        uint64_t n;
        memcpy(&tag, data + off, 4);
        memcpy(&n, data + off + 8, 8);
        off += 16;
        if (n > len - 24 - off) return bad(p, what, "a section runs past the end");
        switch (tag) {
        case TAG_CPU: cpu = data + off; cpu_len = n; break;
        case TAG_DEVICES: dev = data + off; dev_len = n; break;
        case TAG_RAM: ram = data + off; ram_len = n; break;
        case TAG_CLOCK: if (n == 8) memcpy(&clock, data + off, 8); break;
        default: break;
        }
        off += n;
    }
    size_t pages = p->ram_size / PAGE, map_len = (pages + 7) / 8;
    if (!cpu || !dev || !ram || ram_len < map_len || dev_len != pc_devices_state_size(p) ||
        cpu_len != uc_panda_cpu_state_size(p->uc))
        return bad(p, what, "a section is missing or has the wrong size");
    size_t nonzero = 0;
    for (size_t i = 0; i < pages; i++)
        if (ram[i / 8] & (1u << (i % 8))) nonzero++;
    if (ram_len != map_len + nonzero * PAGE) return bad(p, what, "the RAM section has the wrong size");

    /* PANDA's before_loadvm, then the state, then after_loadvm */
    panda_run_before_loadvm(p);
    uint8_t *mem = pc_ram(p);
    const uint8_t *page = ram + map_len;
    for (size_t i = 0; i < pages; i++) {
        if (ram[i / 8] & (1u << (i % 8))) {
            memcpy(mem + i * PAGE, page, PAGE);
            page += PAGE;
        } else {
            memset(mem + i * PAGE, 0, PAGE);
        }
    }
    pc_devices_load(p, dev);
    pc_loaded(p, clock);
    if (uc_panda_cpu_state_load(p->uc, cpu, cpu_len))
        return bad(p, what, "the engine refused the CPU state");
    p->pc_finished = false;
    p->halted = false;
    panda_run_after_loadvm(p);
    return PANDA_OK;
}

/* ---- files ------------------------------------------------------------- */

panda_err snapshot_write_file(panda_t *p, const char *path, const uint8_t *data, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return panda_set_error(p, PANDA_ERR_ARG, "path too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return panda_set_error(p, PANDA_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0;
    ok = (fclose(f) == 0) && ok;
    /* complete or absent: the name appears only once every byte is there */
    if (!ok || rename(tmp, path) != 0) {
        remove(tmp);
        return panda_set_error(p, PANDA_ERR_IO, "cannot write %s: %s", path, strerror(errno));
    }
    return PANDA_OK;
}

panda_err panda_read_file(panda_t *p, const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return panda_set_error(p, PANDA_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    uint8_t *d = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            uint8_t *d2 = realloc(d, cap);
            if (!d2) {
                free(d);
                fclose(f);
                return PANDA_ERR_NOMEM;
            }
            d = d2;
        }
        size_t got = fread(d + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    bool err = ferror(f);
    fclose(f);
    if (err) {
        free(d);
        return panda_set_error(p, PANDA_ERR_IO, "cannot read %s", path);
    }
    *data = d;
    *len = n;
    return PANDA_OK;
}

/* ---- named snapshots in memory ------------------------------------------ */

struct panda_snapshot {
    char *name;
    uint8_t *data;
    size_t len;
    struct panda_snapshot *next;
};

static struct panda_snapshot **find_snap(panda_t *p, const char *name)
{
    struct panda_snapshot **s = &p->snapshots;
    while (*s && strcmp((*s)->name, name)) s = &(*s)->next;
    return s;
}

panda_err snapshot_save_named(panda_t *p, const char *name)
{
    uint8_t *data;
    size_t len;
    panda_err e = snapshot_take(p, &data, &len);
    if (e) return e;
    struct panda_snapshot **slot = find_snap(p, name);
    if (*slot) {
        free((*slot)->data);
    } else {
        struct panda_snapshot *s = calloc(1, sizeof(*s));
        char *n = s ? malloc(strlen(name) + 1) : NULL;
        if (!n) {
            free(s);
            free(data);
            return PANDA_ERR_NOMEM;
        }
        strcpy(n, name);
        s->name = n;
        *slot = s;
    }
    (*slot)->data = data;
    (*slot)->len = len;
    return PANDA_OK;
}

panda_err snapshot_load_named(panda_t *p, const char *name)
{
    struct panda_snapshot *s = *find_snap(p, name);
    if (!s) return panda_set_error(p, PANDA_ERR_SNAPSHOT, "no snapshot named '%s'", name);
    return snapshot_restore(p, s->data, s->len, name);
}

panda_err snapshot_delete_named(panda_t *p, const char *name)
{
    struct panda_snapshot **slot = find_snap(p, name), *s = *slot;
    if (!s) return panda_set_error(p, PANDA_ERR_SNAPSHOT, "no snapshot named '%s'", name);
    *slot = s->next;
    free(s->name);
    free(s->data);
    free(s);
    return PANDA_OK;
}

void snapshots_free(panda_t *p)
{
    while (p->snapshots) snapshot_delete_named(p, p->snapshots->name);
}

panda_err snapshot_save_file(panda_t *p, const char *path)
{
    uint8_t *data;
    size_t len;
    panda_err e = snapshot_take(p, &data, &len);
    if (!e) e = snapshot_write_file(p, path, data, len);
    free(data);
    return e;
}

panda_err snapshot_load_file(panda_t *p, const char *path)
{
    uint8_t *data;
    size_t len;
    panda_err e = panda_read_file(p, path, &data, &len);
    if (e) return e;
    e = snapshot_restore(p, data, len, path);
    free(data);
    return e;
}
