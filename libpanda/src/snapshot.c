/*
 * Machine snapshots: the whole state of a machine (CPU, RAM, every device,
 * the virtual clock) as one byte string, kept in memory by name or written
 * to a file (a recording's NAME-rr-snp).
 *
 * Format (little-endian): a header, then sections, then a checksum.
 *   header   magic "PYPANDA-SNAPSHOT" (16), u32 format version, u32 header
 *            size, char arch[16], char machine[16], u64 ram_size, u64 CPU
 *            state layout (the engine's CPU state is raw: it loads only into
 *            the same build)
 *   section  u32 tag, u32 0, u64 length, bytes
 *     CPU     the engine's CPU state
 *     CLOCK   the machine's clock (machine.h save_clock)
 *     DEVICE  char name[32], u32 state version, u32 0, the device's state
 *             (one per device, in the machine's order; device.h)
 *     RAM     a bitmap of non-zero pages, then those pages
 *   end      u32 TAG_END, u32 0, u64 32, SHA-256 of everything before
 *
 * Loading is all or nothing: every section is checked (sizes, names,
 * versions, then each device's own validation) before the machine
 * changes, and a device that refuses its state puts every device back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include "snapshot_format.h"

static void section(state_writer *w, uint32_t tag, const void *data, size_t len)
{
    sw_u32(w, tag);
    sw_u32(w, 0);
    sw_u64(w, len);
    sw_bytes(w, data, len);
}

static panda_err no_snapshots(panda_t *p)
{
    return panda_set_error(p, PANDA_ERR_UNSUPPORTED, "snapshots need the pc machine (the %s machine has none)",
                           p->mops->name);
}

panda_err snapshot_take(panda_t *p, uint8_t **out, size_t *outlen)
{
    const panda_machine_ops *m = p->mops;
    if (!m->ram) return no_snapshots(p);
    state_writer w;
    sw_init(&w);
    char arch[16] = {0}, machine[16] = {0};
    snprintf(arch, sizeof(arch), "%s", panda_arch.name);
    snprintf(machine, sizeof(machine), "%s", m->name);
    uint64_t ram_size;
    const uint8_t *ram = m->ram(p->machine, &ram_size);
    sw_bytes(&w, SNAP_MAGIC, 16);
    sw_u32(&w, SNAP_VERSION);
    sw_u32(&w, SNAP_HEADER_SIZE);
    sw_bytes(&w, arch, 16);
    sw_bytes(&w, machine, 16);
    sw_u64(&w, ram_size);
    sw_u64(&w, uc_panda_cpu_state_size(p->uc));

    size_t cpu_len = uc_panda_cpu_state_size(p->uc);
    uint8_t *cpu = malloc(cpu_len);
    if (!cpu) {
        sw_free(&w);
        return err_nomem(&p->err, "a snapshot's CPU state");
    }
    if (uc_panda_cpu_state_save(p->uc, cpu, cpu_len)) {
        free(cpu);
        sw_free(&w);
        return panda_set_error(p, PANDA_ERR_ENGINE, "the engine could not save the CPU state");
    }
    section(&w, TAG_CPU, cpu, cpu_len);
    free(cpu);

    state_writer clock;
    sw_init(&clock);
    m->save_clock(p->machine, &clock);
    section(&w, TAG_CLOCK, clock.data, clock.len);
    w.failed |= clock.failed;
    sw_free(&clock);

    size_t ndev;
    panda_device *devs = m->devices(p->machine, &ndev);
    for (size_t i = 0; i < ndev; i++) {
        state_writer dev;
        sw_init(&dev);
        devs[i].ops->save(devs[i].dev, &dev);
        char name[32] = {0};
        snprintf(name, sizeof(name), "%s", devs[i].name);
        sw_u32(&w, TAG_DEVICE);
        sw_u32(&w, 0);
        sw_u64(&w, 32 + 8 + dev.len);
        sw_bytes(&w, name, 32);
        sw_u32(&w, devs[i].ops->state_version);
        sw_u32(&w, 0);
        sw_bytes(&w, dev.data, dev.len);
        w.failed |= dev.failed;
        sw_free(&dev);
    }

    /* RAM: a bitmap of non-zero pages, then those pages */
    size_t pages = ram_size / SNAP_PAGE, map_len = (pages + 7) / 8;
    uint8_t *map = calloc(1, map_len ? map_len : 1);
    if (!map) {
        sw_free(&w);
        return err_nomem(&p->err, "a snapshot's page map");
    }
    static const uint8_t zero[SNAP_PAGE];
    size_t nonzero = 0;
    for (size_t i = 0; i < pages; i++) {
        if (memcmp(ram + i * SNAP_PAGE, zero, SNAP_PAGE)) {
            map[i / 8] |= (uint8_t)(1u << (i % 8));
            nonzero++;
        }
    }
    sw_u32(&w, TAG_RAM);
    sw_u32(&w, 0);
    sw_u64(&w, map_len + nonzero * SNAP_PAGE);
    sw_bytes(&w, map, map_len);
    for (size_t i = 0; i < pages; i++)
        if (map[i / 8] & (1u << (i % 8))) sw_bytes(&w, ram + i * SNAP_PAGE, SNAP_PAGE);
    free(map);

    if (w.failed) {
        sw_free(&w);
        return err_nomem(&p->err, "a snapshot");
    }
    uint8_t digest[32];
    sha256(w.data, w.len, digest);
    section(&w, TAG_END, digest, sizeof(digest));
    if (w.failed) {
        sw_free(&w);
        return err_nomem(&p->err, "a snapshot");
    }
    *out = w.data;
    *outlen = w.len;
    return PANDA_OK;
}

/* What a snapshot must match to load into this machine. */
static panda_err parse(panda_t *p, const uint8_t *data, size_t len, const char *what, snap_parts *s)
{
    const panda_machine_ops *m = p->mops;
    size_t ndev;
    panda_device *devs = m->devices(p->machine, &ndev);
    if (ndev > SNAP_MAX_DEVICES) return panda_set_error(p, PANDA_ERR_ENGINE, "too many devices to snapshot");
    snap_expect x = {.arch = panda_arch.name, .machine = m->name,
                     .cpu_len = uc_panda_cpu_state_size(p->uc), .ndev = ndev};
    m->ram(p->machine, &x.ram_size);
    for (size_t i = 0; i < ndev; i++) {
        x.dev_name[i] = devs[i].name;
        x.dev_type[i] = devs[i].ops->type;
        x.dev_version[i] = devs[i].ops->state_version;
    }
    return snapshot_parse(&p->err, what, data, len, &x, s);
}

/* Load every device, or none: on a refusal the saved states go back. */
static panda_err load_devices(panda_t *p, const snap_parts *s, const char *what)
{
    size_t ndev;
    panda_device *devs = p->mops->devices(p->machine, &ndev);
    state_writer *backup = calloc(ndev ? ndev : 1, sizeof(*backup));
    if (!backup) return err_nomem(&p->err, "device state");
    panda_err e = PANDA_OK;
    for (size_t i = 0; i < ndev; i++) {
        devs[i].ops->save(devs[i].dev, &backup[i]);
        if (backup[i].failed) e = err_nomem(&p->err, "device state");
    }
    size_t loaded = 0;
    for (; !e && loaded < ndev; loaded++) {
        state_reader r;
        sr_init(&r, s->dev[loaded].data, s->dev[loaded].len);
        devs[loaded].ops->load(devs[loaded].dev, &r, s->dev[loaded].version);
        if (r.failed || !sr_done(&r))
            e = panda_set_error(p, PANDA_ERR_SNAPSHOT, "%s: device '%s' (%s) refused its state: %s", what,
                                devs[loaded].name, devs[loaded].ops->type, r.error);
    }
    if (e) {
        for (size_t i = 0; i < loaded; i++) {
            state_reader r;
            sr_init(&r, backup[i].data, backup[i].len);
            devs[i].ops->load(devs[i].dev, &r, devs[i].ops->state_version);
        }
    }
    for (size_t i = 0; i < ndev; i++) sw_free(&backup[i]);
    free(backup);
    return e;
}

panda_err snapshot_restore(panda_t *p, const uint8_t *data, size_t len, const char *what)
{
    const panda_machine_ops *m = p->mops;
    if (!m->ram) return no_snapshots(p);
    snap_parts *s = malloc(sizeof(*s));
    if (!s) return err_nomem(&p->err, "a snapshot");
    panda_err e = parse(p, data, len, what, s);
    if (!e) {
        state_reader clock;
        sr_init(&clock, s->clock, s->clock_len);
        /* PANDA's before_loadvm, then the state, then after_loadvm */
        panda_dispatch_before_loadvm(p);
        /* the clock, then every device: a refusal puts the clock back */
        state_writer old_clock;
        sw_init(&old_clock);
        m->save_clock(p->machine, &old_clock);
        m->load_clock(p->machine, &clock);
        if (clock.failed || old_clock.failed) {
            e = panda_set_error(p, PANDA_ERR_SNAPSHOT, "%s: clock: %s", what,
                                clock.failed ? clock.error : "out of memory");
        } else if ((e = load_devices(p, s, what))) {
            state_reader back;
            sr_init(&back, old_clock.data, old_clock.len);
            m->load_clock(p->machine, &back);
        }
        sw_free(&old_clock);
        if (!e && uc_panda_cpu_state_load(p->uc, s->cpu, s->cpu_len))
            e = panda_set_error(p, PANDA_ERR_SNAPSHOT, "%s: the engine refused the CPU state", what);
        if (!e) {
            uint64_t ram_size;
            uint8_t *mem = m->ram(p->machine, &ram_size);
            size_t pages = ram_size / SNAP_PAGE, map_len = (pages + 7) / 8;
            const uint8_t *page = s->ram + map_len;
            for (size_t i = 0; i < pages; i++) {
                if (s->ram[i / 8] & (1u << (i % 8))) {
                    memcpy(mem + i * SNAP_PAGE, page, SNAP_PAGE);
                    page += SNAP_PAGE;
                } else {
                    memset(mem + i * SNAP_PAGE, 0, SNAP_PAGE);
                }
            }
            m->loaded(p->machine);
            p->finished = false;
            p->halted = false;
            p->idle_slices = 0;
            panda_dispatch_after_loadvm(p);
        }
    }
    free(s);
    return e;
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
    uint8_t *data = NULL;
    size_t len;
    panda_err e = snapshot_take(p, &data, &len);
    if (e) return e;
    struct panda_snapshot **slot = find_snap(p, name);
    if (*slot) {
        free((*slot)->data);
    } else {
        struct panda_snapshot *s = calloc(1, sizeof(*s));
        char *n = s ? str_dup(name) : NULL;
        if (!n) {
            free(s);
            free(data);
            return err_nomem(&p->err, "a snapshot's name");
        }
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
    uint8_t *data = NULL;
    size_t len;
    panda_err e = snapshot_take(p, &data, &len);
    if (!e) e = file_write_atomic(&p->err, path, data, len);
    free(data);
    return e;
}

panda_err snapshot_load_file(panda_t *p, const char *path)
{
    if (!p->mops->ram) return no_snapshots(p);
    uint8_t *data = NULL;
    size_t len;
    panda_err e = file_read_all(&p->err, PANDA_ERR_IO, "snapshot", path, SNAP_MAX_FILE, &data, &len);
    if (e) return e;
    e = snapshot_restore(p, data, len, path);
    free(data);
    return e;
}
