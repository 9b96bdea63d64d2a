/* The copy-on-write overlay: reads and writes over a raw base, spilling
 * past the memory limit, the base never written, saved state round trips
 * and refusals, and a commit read back by this reader. */
#include "block_check.h"

#define DISK_SECTORS 1000u /* not a whole number of 128-sector chunks */

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static bool read_is(block_image *img, const uint8_t *want)
{
    block_backend b = block_image_backend(img);
    uint8_t *got = malloc(DISK_SECTORS * BLOCK_SECTOR);
    /* sector by sector and all at once must agree */
    bool ok = b.read(b.opaque, 0, got, DISK_SECTORS) == 0 && memcmp(got, want, DISK_SECTORS * 512) == 0;
    for (uint64_t s = 0; ok && s < DISK_SECTORS; s += 7)
        ok = b.read(b.opaque, s, got, 1) == 0 && memcmp(got, want + s * 512, 512) == 0;
    free(got);
    return ok;
}

/* Write count sectors at sector through the backend and into the model. */
static void put(block_image *img, uint8_t *model, uint64_t sector, uint32_t count, uint32_t seed)
{
    uint8_t *buf = malloc((size_t)count * 512);
    fill(buf, (size_t)count * 512, seed);
    block_backend b = block_image_backend(img);
    CHECK(b.write(b.opaque, sector, buf, count) == 0);
    memcpy(model + sector * 512, buf, (size_t)count * 512);
    free(buf);
}

static block_image *open_ok(const char *path)
{
    panda_errbuf e = {{0}};
    block_image *img = NULL;
    CHECK(block_image_open(&e, path, BLOCK_FORMAT_RAW, &img) == PANDA_OK);
    if (!img) {
        printf("open %s: %s\n", path, e.msg);
        exit(2);
    }
    return img;
}

static bool load(block_image *img, const uint8_t *data, size_t len, char *why, size_t n)
{
    state_reader r;
    sr_init(&r, data, len);
    bool ok = block_overlay_load(img, &r) && sr_done(&r);
    snprintf(why, n, "%s", r.error);
    return ok;
}

int main(void)
{
    size_t disk_len = DISK_SECTORS * BLOCK_SECTOR;
    uint8_t *base = malloc(disk_len), *model = malloc(disk_len);
    fill(base, disk_len, 1);
    memcpy(model, base, disk_len);
    char *path = write_temp(base, disk_len);
    block_image *img = open_ok(path);
    block_backend b = block_image_backend(img);
    CHECK_EQ(b.nsectors, DISK_SECTORS);
    CHECK(!b.read_only);
    CHECK(read_is(img, model));

    /* range checks */
    uint8_t sec[1024];
    CHECK(b.read(b.opaque, DISK_SECTORS, sec, 1) == -1);
    CHECK(strstr(block_image_error(img), "past the disk's 1000 sectors"));
    CHECK(b.write(b.opaque, DISK_SECTORS - 1, sec, 2) == -1);
    CHECK(b.read(b.opaque, UINT64_MAX, sec, 2) == -1);
    CHECK(b.read(b.opaque, DISK_SECTORS, sec, 0) == 0);
    CHECK(b.flush(b.opaque) == 0);

    /* a memory limit of one chunk: the second chunk spills to the file */
    block_image_set_memory_limit(img, 1);
    put(img, model, 5, 3, 10);           /* inside chunk 0 */
    CHECK(!block_overlay_spilled(img));
    put(img, model, 120, 20, 11);        /* across chunks 0 and 1 */
    CHECK(block_overlay_spilled(img));
    put(img, model, 999, 1, 12);         /* the last, partial chunk */
    put(img, model, 300, 256, 13);       /* whole chunks */
    put(img, model, 6, 1, 14);           /* overwrite */
    CHECK(read_is(img, model));
    CHECK_EQ(block_overlay_sectors(img), 3 + 20 + 1 + 256);

    /* the base file is untouched */
    uint8_t *data;
    size_t len;
    panda_errbuf e;
    CHECK(file_read_all(&e, PANDA_ERR_IO, "base", path, 1 << 20, &data, &len) == PANDA_OK);
    CHECK(len == disk_len && memcmp(data, base, disk_len) == 0);
    free(data);

    /* save, and load into a fresh image of the same base */
    state_writer w;
    sw_init(&w);
    block_overlay_save(img, &w);
    CHECK(!w.failed);
    block_image *img2 = open_ok(path);
    char why[200];
    CHECK(load(img2, w.data, w.len, why, sizeof(why)));
    CHECK(read_is(img2, model));
    CHECK_EQ(block_overlay_sectors(img2), block_overlay_sectors(img));
    /* the empty overlay saves and loads too, and replaces what was there */
    block_image *empty = open_ok(path);
    state_writer w0;
    sw_init(&w0);
    block_overlay_save(empty, &w0);
    CHECK(load(img2, w0.data, w0.len, why, sizeof(why)));
    CHECK(read_is(img2, base));
    sw_free(&w0);
    block_image_close(empty);

    /* every truncation of the state is refused and changes nothing */
    CHECK(load(img2, w.data, w.len, why, sizeof(why)));
    bool all_refused = true, unchanged = true;
    for (size_t cut = 0; cut < w.len; cut += (cut < 64 ? 1 : 509)) {
        all_refused &= !load(img2, w.data, cut, why, sizeof(why));
        unchanged &= read_is(img2, model);
    }
    CHECK(all_refused);
    CHECK(unchanged);
    CHECK(!load(img2, w.data, w.len - 1, why, sizeof(why)));

    /* hostile fields: each refused by name */
    struct { size_t off; uint64_t value; int width; const char *want; } bad[] = {
        {0, 2, 4, "disk overlay state version 2"},
        {4, 64, 4, "chunk of 64 sectors"},
        {8, 999, 8, "for a disk of 999 sectors"},
        {16, 1ull << 40, 8, "claims 1099511627776 chunks"},
        {24, 8, 8, "chunk 8 is past the disk's 8 chunks"},  /* the first chunk's number */
        {32, 0, 8, NULL},                                  /* map word 0 zeroed below, with word 1 */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint8_t *copy = malloc(w.len);
        memcpy(copy, w.data, w.len);
        for (int k = 0; k < bad[i].width; k++) copy[bad[i].off + (size_t)k] = (uint8_t)(bad[i].value >> (8 * k));
        const char *want = bad[i].want;
        if (!want) { /* a chunk with no sector written */
            memset(copy + 40, 0, 8);
            want = "has no sector written";
        }
        bool ok = !load(img2, copy, w.len, why, sizeof(why)) && strstr(why, want);
        CHECK(ok);
        if (!ok) printf("  wanted \"%s\", got \"%s\"\n", want, why);
        free(copy);
    }
    CHECK(read_is(img2, model));
    /* chunks out of order, and a bit past the disk's end */
    {
        state_writer h;
        sw_init(&h);
        sw_u32(&h, 1);
        sw_u32(&h, 128);
        sw_u64(&h, DISK_SECTORS);
        sw_u64(&h, 2);
        uint8_t zero[512] = {0};
        sw_u64(&h, 3); sw_u64(&h, 1); sw_u64(&h, 0); sw_bytes(&h, zero, 512);
        sw_u64(&h, 3); sw_u64(&h, 1); sw_u64(&h, 0); sw_bytes(&h, zero, 512);
        CHECK(!load(img2, h.data, h.len, why, sizeof(why)) && strstr(why, "not in increasing order"));
        sw_free(&h);
        sw_init(&h);
        sw_u32(&h, 1);
        sw_u32(&h, 128);
        sw_u64(&h, DISK_SECTORS);
        sw_u64(&h, 1);
        /* chunk 7 holds sectors 896..999: bit 104 is sector 1000 */
        sw_u64(&h, 7); sw_u64(&h, 0); sw_u64(&h, 1ull << 40); sw_bytes(&h, zero, 512);
        CHECK(!load(img2, h.data, h.len, why, sizeof(why)) && strstr(why, "past the disk's end"));
        sw_free(&h);
    }
    CHECK(read_is(img2, model));

    /* commit, and read the result back through this reader: the same disk */
    char out[4200];
    snprintf(out, sizeof(out), "%s.commit.qcow2", path);
    CHECK(block_commit(&e, img, out) == PANDA_OK);
    panda_errbuf e2;
    block_image *committed = NULL;
    CHECK(block_image_open(&e2, out, BLOCK_FORMAT_AUTO, &committed) == PANDA_OK);
    CHECK(committed && read_is(committed, model));
    char tmp[4300];
    snprintf(tmp, sizeof(tmp), "%s.tmp", out);
    CHECK(access(tmp, F_OK) != 0); /* renamed into place */
    block_image_close(committed);
    /* an unwritable place: refused, nothing left behind */
    CHECK(block_commit(&e, img, "/nonexistent-dir/x.qcow2") == PANDA_ERR_IO);
    CHECK(strstr(e.msg, "cannot create /nonexistent-dir/x.qcow2.tmp"));
    unlink(out);

    sw_free(&w);
    block_image_close(img2);
    block_image_close(img);
    unlink(path);
    free(path);
    free(base);
    free(model);
    return check_done();
}
