/* Reading the snapshot format (snapshot_format.h): the file is hostile. */
#include <string.h>

#include "snapshot_format.h"
#include "state.h"

static panda_err bad(panda_errbuf *e, const char *what, const char *why)
{
    return err_set(e, PANDA_ERR_SNAPSHOT, "%s: %s", what, why);
}

panda_err snapshot_parse(panda_errbuf *e, const char *what, const uint8_t *data, size_t len,
                         const snap_expect *x, snap_parts *s)
{
    state_reader r;
    sr_init(&r, data, len);
    uint8_t magic[16];
    sr_bytes(&r, magic, 16);
    if (r.failed || memcmp(magic, SNAP_MAGIC, 16)) return bad(e, what, "not a pypanda snapshot");
    uint32_t version = sr_u32(&r), hsize = sr_u32(&r);
    if (version != SNAP_VERSION || hsize != SNAP_HEADER_SIZE)
        return err_set(e, PANDA_ERR_SNAPSHOT, "%s: snapshot format %u; this pypanda reads %u", what, version,
                       SNAP_VERSION);
    /* integrity first: nothing else is believed before the digest holds */
    if (len < SNAP_HEADER_SIZE + 48) return bad(e, what, "truncated (no end marker)");
    state_reader end;
    sr_init(&end, data + len - 48, 48);
    uint32_t tag = sr_u32(&end);
    sr_u32(&end);
    uint64_t slen = sr_u64(&end);
    uint8_t digest[32], want[32];
    sr_bytes(&end, digest, 32);
    if (tag != TAG_END || slen != 32) return bad(e, what, "truncated (no end marker)");
    sha256(data, len - 48, want);
    if (memcmp(digest, want, 32)) return bad(e, what, "corrupt or truncated (its SHA-256 digest does not match)");

    char arch[17] = {0}, machine[17] = {0};
    sr_bytes(&r, arch, 16);
    sr_bytes(&r, machine, 16);
    uint64_t ram_size = sr_u64(&r), cpu_layout = sr_u64(&r);
    if (r.failed) return bad(e, what, "truncated header");
    if (strcmp(arch, x->arch))
        return err_set(e, PANDA_ERR_SNAPSHOT, "%s: a snapshot of an %s guest, not %s", what, arch, x->arch);
    if (strcmp(machine, x->machine))
        return err_set(e, PANDA_ERR_SNAPSHOT, "%s: a snapshot of the %s machine, not %s", what, machine,
                       x->machine);
    if (ram_size != x->ram_size)
        return err_set(e, PANDA_ERR_SNAPSHOT,
                       "%s: the snapshot has %llu MiB of RAM, this machine %llu MiB: use the same mem=", what,
                       (unsigned long long)(ram_size >> 20), (unsigned long long)(x->ram_size >> 20));
    if (cpu_layout != x->cpu_len)
        return bad(e, what, "made by another build of libpanda (its CPU state differs)");

    memset(s, 0, sizeof(*s));
    state_reader body;
    sr_init(&body, data + SNAP_HEADER_SIZE, len - 48 - SNAP_HEADER_SIZE);
    while (body.pos < body.len) {
        tag = sr_u32(&body);
        sr_u32(&body);
        uint64_t n = sr_u64(&body);
        if (body.failed || n > body.len - body.pos) return bad(e, what, "a section runs past the end");
        const uint8_t *at = body.data + body.pos;
        switch (tag) {
        case TAG_CPU:
        case TAG_CLOCK:
        case TAG_RAM: {
            const uint8_t **slot = tag == TAG_CPU ? &s->cpu : tag == TAG_CLOCK ? &s->clock : &s->ram;
            size_t *slot_len = tag == TAG_CPU ? &s->cpu_len : tag == TAG_CLOCK ? &s->clock_len : &s->ram_len;
            if (*slot) return err_set(e, PANDA_ERR_SNAPSHOT, "%s: section %u appears twice", what, tag);
            *slot = at;
            *slot_len = n;
            break;
        }
        case TAG_DEVICE: {
            if (n < 40) return bad(e, what, "a device section is too short");
            if (s->ndev == SNAP_MAX_DEVICES) return bad(e, what, "too many devices");
            struct snap_device *d = &s->dev[s->ndev++];
            memcpy(d->name, at, 32);
            d->name[32] = 0;
            d->version = (uint32_t)at[32] | (uint32_t)at[33] << 8 | (uint32_t)at[34] << 16 |
                         (uint32_t)at[35] << 24;
            d->data = at + 40;
            d->len = n - 40;
            break;
        }
        default:
            return err_set(e, PANDA_ERR_SNAPSHOT, "%s: unknown section %u", what, tag);
        }
        body.pos += n;
    }
    uint64_t pages = x->ram_size / SNAP_PAGE, map_len = (pages + 7) / 8;
    if (!s->cpu || !s->clock || !s->ram || s->ram_len < map_len || s->cpu_len != x->cpu_len)
        return bad(e, what, "a section is missing or has the wrong size");
    uint64_t nonzero = 0;
    for (uint64_t i = 0; i < pages; i++)
        if (s->ram[i / 8] & (1u << (i % 8))) nonzero++;
    if (s->ram_len != map_len + nonzero * SNAP_PAGE) return bad(e, what, "the RAM section has the wrong size");
    /* the same devices, each at the state version this build reads */
    if (s->ndev != x->ndev)
        return err_set(e, PANDA_ERR_SNAPSHOT, "%s: the snapshot has %zu devices, this machine %zu", what,
                       s->ndev, x->ndev);
    for (size_t i = 0; i < x->ndev; i++) {
        if (strcmp(s->dev[i].name, x->dev_name[i]))
            return err_set(e, PANDA_ERR_SNAPSHOT, "%s: device %zu is '%s' in the snapshot, '%s' here", what, i,
                           s->dev[i].name, x->dev_name[i]);
        if (s->dev[i].version != x->dev_version[i])
            return err_set(e, PANDA_ERR_SNAPSHOT,
                           "%s: device '%s' (%s) has state version %u in the snapshot; this build reads version %u",
                           what, x->dev_name[i], x->dev_type[i], s->dev[i].version, x->dev_version[i]);
    }
    return PANDA_OK;
}
