/* The qcow2 reader on images built here, byte by byte: what a valid image
 * reads as, and the refusal each damaged or hostile header or table gets. */
#include <zlib.h>

#include "block_check.h"

/* A small image: header in cluster 0, refcount table in 1, L1 in 2, one
 * L2 table in 3, data from cluster 4 on. */
typedef struct qimg {
    uint8_t *b;
    size_t len;
    uint64_t cs;
    unsigned words; /* L2 entry size in 8-byte words */
} qimg;

#define NCLUSTERS 10

static void p64(qimg *q, uint64_t off, uint64_t v) { blk_put_be64(q->b + off, v); }
static void p32(qimg *q, uint64_t off, uint32_t v) { blk_put_be32(q->b + off, v); }

static qimg build(unsigned version, unsigned cbits, bool extl2, uint64_t size)
{
    qimg q = {.cs = 1ull << cbits, .words = extl2 ? 2 : 1};
    q.len = (size_t)(NCLUSTERS * q.cs);
    q.b = calloc(1, q.len);
    p32(&q, 0, BLK_QCOW2_MAGIC);
    p32(&q, 4, version);
    p32(&q, 20, cbits);
    p64(&q, 24, size);
    uint64_t cover = q.cs * (q.cs / (8 * q.words));
    p32(&q, 36, (uint32_t)((size + cover - 1) / cover));
    p64(&q, 40, 2 * q.cs);
    p64(&q, 48, q.cs);
    p32(&q, 56, 1);
    if (version == 3) {
        p64(&q, 72, extl2 ? 1u << 4 : 0);
        p32(&q, 96, 4);
        p32(&q, 100, 104);
    }
    p64(&q, 2 * q.cs, (3 * q.cs) | (1ull << 63)); /* L1[0] -> the L2 table */
    return q;
}

static void l2_set(qimg *q, uint64_t i, uint64_t w0, uint64_t w1)
{
    p64(q, 3 * q->cs + i * 8 * q->words, w0);
    if (q->words == 2) p64(q, 3 * q->cs + i * 16 + 8, w1);
}

static uint64_t data_cluster(qimg *q, unsigned k, uint8_t fill)
{
    uint64_t off = (4 + k) * q->cs;
    for (uint64_t i = 0; i < q->cs; i++) q->b[off + i] = (uint8_t)(fill + i * 7);
    return off;
}

/* Open q (as qcow2) and return the error message, or "" when it opened;
 * the image is kept in *img when img is not NULL. */
static const char *try_open(qimg *q, size_t len, block_image **img)
{
    static char msg[600]; /* only this test's main thread */
    char *path = write_temp(q->b, len);
    panda_errbuf e = {{0}};
    block_image *i = NULL;
    panda_err err = block_image_open(&e, path, BLOCK_FORMAT_QCOW2, &i);
    snprintf(msg, sizeof(msg), "%s", err ? e.msg : "");
    if (img) *img = i;
    else block_image_close(i);
    unlink(path);
    free(path);
    return msg;
}

static void refused(qimg *q, size_t len, const char *want)
{
    const char *msg = try_open(q, len, NULL);
    bool ok = strstr(msg, want) != NULL;
    CHECK(ok);
    if (!ok) printf("  wanted \"%s\", got \"%s\"\n", want, msg);
}

/* A copy of the standard image with one change. */
#define WITH(change, want)                          \
    do {                                            \
        qimg q = build(3, 9, false, 64 * 1024);     \
        change;                                     \
        refused(&q, q.len, want);                   \
        free(q.b);                                  \
    } while (0)

static void test_header_refusals(void)
{
    WITH(p32(&q, 0, 0x514649fa), "no QFI");
    WITH(p32(&q, 4, 4), "qcow2 version 4");
    WITH(p32(&q, 4, 1), "qcow2 version 1");
    WITH(p32(&q, 20, 8), "cluster_bits 8");
    WITH(p32(&q, 20, 22), "cluster_bits 22");
    WITH(p32(&q, 100, 100), "header_length 100");
    WITH(p32(&q, 100, 108), "header_length 108");
    WITH(p32(&q, 100, 1024), "exceeds the cluster size");
    WITH(p32(&q, 96, 7), "refcount_order 7");
    WITH(p64(&q, 72, 1u << 1), "marked corrupt");
    WITH(p64(&q, 72, 1u << 2), "external data file");
    WITH(p32(&q, 32, 1), "encrypted (AES");
    WITH(p32(&q, 32, 2), "encrypted (LUKS");
    WITH((p64(&q, 72, 1u << 3), p32(&q, 100, 112), q.b[104] = 1), "compressed with zstd");
    WITH((p64(&q, 72, 1u << 3), p32(&q, 100, 112), q.b[104] = 9), "unknown qcow2 compression_type 9");
    WITH((p64(&q, 72, 1u << 3)), "no compression_type field");
    WITH((p32(&q, 100, 112), q.b[104] = 1), "without the compression type feature bit");
    WITH(p64(&q, 72, 1u << 4), "extended L2 entries need clusters of at least 16 KiB");
    WITH(p64(&q, 72, 1ull << 40 | 1u << 5), "bit 5, bit 40");
    /* the feature name table names an unknown bit */
    WITH((p32(&q, 104, 0x6803f857), p32(&q, 108, 48), q.b[112] = 0, q.b[113] = 7,
          memcpy(q.b + 114, "frobnicate", 10), p64(&q, 72, 1u << 7)),
         "bit 7 (\"frobnicate\")");
    /* header extensions */
    WITH((p32(&q, 104, 0x12345678), p32(&q, 108, 5000)), "extension 0x12345678 at offset 104: its length 5000");
    WITH((p32(&q, 104, 0x0537be77), p32(&q, 108, 16)), "full-disk-encryption header");
    WITH((p32(&q, 104, 0xe2792aca), p32(&q, 108, 4), memcpy(q.b + 112, "vmdk", 4)),
         "the backing file's format is 'vmdk'");
    /* sizes */
    WITH(p64(&q, 24, 1ull << 62), "is too large for 512-byte clusters");
    WITH(p64(&q, 24, ~0ull), "is too large");
    WITH(p32(&q, 36, 1), "the qcow2 L1 table has 1 entries but the virtual size 65536 needs 2");
    WITH(p32(&q, 36, 0xffffffffu), "L1 table size 4294967295 entries is too large");
    WITH(p32(&q, 36, 4000000), "L1 table at offset 1024 (32000000 bytes) lies past the end");
    /* table offsets */
    WITH(p64(&q, 40, 1000), "L1 table offset 1000 is not aligned");
    WITH(p64(&q, 40, 1ull << 40), "L1 table at offset 1099511627776");
    WITH(p64(&q, 48, 1 << 20), "refcount table at offset 1048576 (1 clusters) lies past the end");
    WITH(p64(&q, 48, 100), "refcount table offset 100 is not aligned");
    WITH(p32(&q, 56, 0x7fffffff), "refcount table at offset 512 (2147483647 clusters)");
    WITH(p64(&q, 2 * 512, 1ull << 50), "entry 0: L2 table offset 1125899906842624 lies past the end");
    WITH(p64(&q, 2 * 512 + 8, 10 * 512), "entry 1: L2 table offset 5120 lies past the end");
    /* the backing file's name */
    WITH((p64(&q, 8, 200), p32(&q, 16, 2000)), "backing file name length 2000");
    WITH((p64(&q, 8, 500), p32(&q, 16, 100)), "lies outside the header cluster");
    WITH((p64(&q, 8, 50), p32(&q, 16, 4)), "lies outside the header cluster");
    WITH((p64(&q, 8, 200), p32(&q, 16, 4), memcpy(q.b + 200, "a\0b", 4)), "holds a NUL byte");

    /* truncated: every length short of the tables is refused by name */
    qimg q = build(3, 9, false, 64 * 1024);
    refused(&q, 50, "too short for a qcow2 header");
    refused(&q, 90, "the qcow2 version 3 header at offset 0 (104 bytes) lies past the end");
    refused(&q, 600, "refcount table at offset 512 (1 clusters) lies past the end");
    refused(&q, 1030, "the L1 table at offset 1024 (16 bytes) lies past the end");
    refused(&q, 1600, "L2 table offset 1536 lies past the end");
    free(q.b);

    /* bits 1-8 are reserved, so only a cluster above 512 bytes can be misaligned */
    q = build(3, 12, false, 64 * 1024);
    p64(&q, 2 * 4096, 3 * 4096 + 512);
    refused(&q, q.len, "L1 table at offset 8192, entry 0: L2 table offset 12800 is not aligned");
    free(q.b);

    /* version 2: 72-byte header, no feature fields; a dirty v3 opens with a note */
    q = build(2, 9, false, 64 * 1024);
    CHECK(strcmp(try_open(&q, q.len, NULL), "") == 0);
    free(q.b);
    q = build(3, 9, false, 64 * 1024);
    p64(&q, 72, 1);
    block_image *img = NULL;
    CHECK(strcmp(try_open(&q, q.len, &img), "") == 0);
    CHECK(img && strstr(block_image_note(img), "marked dirty"));
    block_image_close(img);
    free(q.b);
}

/* Read the whole disk; 0 or the error text in msg. */
static int read_all(block_image *img, uint8_t *out, char *msg, size_t n)
{
    block_backend b = block_image_backend(img);
    int rc = b.read(b.opaque, 0, out, (uint32_t)b.nsectors);
    snprintf(msg, n, "%s", rc ? block_image_error(img) : "");
    return rc;
}

static void test_reads(void)
{
    /* v3, 512-byte clusters: data, zero flag, compressed, unallocated */
    qimg q = build(3, 9, false, 64 * 1024);
    uint64_t d0 = data_cluster(&q, 0, 0x11);
    l2_set(&q, 0, d0 | (1ull << 63), 0);
    l2_set(&q, 1, 1, 0);             /* reads as zero */
    l2_set(&q, 2, d0 | 1, 0);        /* zero with a preallocated cluster: still zero */
    uint8_t plain[512];
    for (int i = 0; i < 512; i++) plain[i] = (uint8_t)(i * 13 + 1);
    uint8_t packed[1024];
    z_stream zs = {0};
    CHECK(deflateInit2(&zs, 9, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) == Z_OK);
    zs.next_in = plain;
    zs.avail_in = 512;
    zs.next_out = packed;
    zs.avail_out = sizeof(packed);
    CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
    size_t plen = sizeof(packed) - zs.avail_out;
    deflateEnd(&zs);
    uint64_t coff = 5 * 512 + 100; /* compressed data need not be aligned */
    memcpy(q.b + coff, packed, plen);
    uint64_t nsect = (100 + plen + 511) / 512; /* sectors the data touches */
    l2_set(&q, 3, (1ull << 62) | ((nsect - 1) << 61) | coff, 0);
    block_image *img;
    CHECK(strcmp(try_open(&q, q.len, &img), "") == 0);
    uint8_t *disk = malloc(64 * 1024);
    char msg[600];
    CHECK(img && read_all(img, disk, msg, sizeof(msg)) == 0);
    CHECK(memcmp(disk, q.b + d0, 512) == 0);
    bool zeros = true;
    for (int i = 512; i < 3 * 512; i++) zeros &= disk[i] == 0;
    CHECK(zeros);
    CHECK(memcmp(disk + 3 * 512, plain, 512) == 0);
    zeros = true;
    for (int i = 4 * 512; i < 64 * 1024; i++) zeros &= disk[i] == 0;
    CHECK(zeros);
    CHECK(block_image_size(img) == 64 * 1024);
    block_image_close(img);

    /* damaged L2 entries fail the read, naming the table and the entry */
    struct { uint64_t entry; const char *want; } bad[] = {
        {1ull << 40, "entry 4 at offset 1099511627776 (512 bytes) lies past the end"},
        {(1ull << 62) | (1ull << 40), "compressed cluster at offset 1099511627776 lies past the end"},
        {(1ull << 62) | d0, "does not inflate to a cluster"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l2_set(&q, 4, bad[i].entry, 0);
        CHECK(strcmp(try_open(&q, q.len, &img), "") == 0);
        CHECK(img && read_all(img, disk, msg, sizeof(msg)) != 0);
        bool ok = strstr(msg, bad[i].want) && strstr(msg, "L2 table at offset 1536, entry 4");
        CHECK(ok);
        if (!ok) printf("  wanted \"%s\", got \"%s\"\n", bad[i].want, msg);
        block_image_close(img);
    }
    free(q.b);

    /* the zero flag means nothing in version 2 */
    q = build(2, 9, false, 64 * 1024);
    l2_set(&q, 0, 1, 0);
    CHECK(strcmp(try_open(&q, q.len, &img), "") == 0);
    CHECK(img && read_all(img, disk, msg, sizeof(msg)) != 0 && strstr(msg, "zero flag in a version 2 image"));
    block_image_close(img);
    free(q.b);

    /* extended L2: 16 KiB clusters of 32 subclusters of 512 bytes */
    q = build(3, 14, true, 64 * 1024);
    d0 = data_cluster(&q, 0, 0x40);
    /* subclusters: 0 allocated, 1 zero, 2 unallocated, 3 allocated */
    l2_set(&q, 0, d0, (1ull << 0) | (1ull << 3) | (1ull << 33));
    l2_set(&q, 1, 0, 0xffffffffull << 32); /* an unallocated cluster all zero */
    CHECK(strcmp(try_open(&q, q.len, &img), "") == 0);
    CHECK(img && read_all(img, disk, msg, sizeof(msg)) == 0);
    CHECK(memcmp(disk, q.b + d0, 512) == 0);
    CHECK(memcmp(disk + 3 * 512, q.b + d0 + 3 * 512, 512) == 0);
    zeros = true;
    for (int i = 512; i < 3 * 512; i++) zeros &= disk[i] == 0;
    for (int i = 4 * 512; i < 64 * 1024; i++) zeros &= disk[i] == 0;
    CHECK(zeros);
    block_image_close(img);
    struct { uint64_t w0, w1; const char *want; } badx[] = {
        {d0, 1ull | 1ull << 32, "a subcluster both allocated and zero"},
        {0, 1ull, "allocated subclusters in an unallocated cluster"},
        {(1ull << 62) | d0, 1ull, "a compressed cluster with a subcluster bitmap"},
        {d0 | 1, 1ull, "reserved bit 0 set with extended L2"},
        {d0 + 512, 1ull, "entry 2: cluster offset not aligned to a cluster (0x10200)"},
    };
    for (size_t i = 0; i < sizeof(badx) / sizeof(badx[0]); i++) {
        l2_set(&q, 2, badx[i].w0, badx[i].w1);
        CHECK(strcmp(try_open(&q, q.len, &img), "") == 0);
        bool ok = img && read_all(img, disk, msg, sizeof(msg)) != 0 && strstr(msg, badx[i].want);
        CHECK(ok);
        if (!ok) printf("  wanted \"%s\", got \"%s\"\n", badx[i].want, msg);
        block_image_close(img);
    }
    /* a data subcluster cut off by the end of the file */
    l2_set(&q, 2, 0, 0);
    CHECK(strcmp(try_open(&q, (size_t)(d0 + 1024), &img), "") == 0);
    CHECK(img && read_all(img, disk, msg, sizeof(msg)) != 0 && strstr(msg, "lies past the end of the file"));
    block_image_close(img);
    free(q.b);
    free(disk);
}

/* Backing files: relative names, zeros past a short backing file, loops,
 * depth. */
static void test_backing(void)
{
    const char *tmp = getenv("TMPDIR");
    char dirbuf[4096];
    snprintf(dirbuf, sizeof(dirbuf), "%s/blocktest-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK(mkdtemp(dirbuf) != NULL);
    char p_raw[4200], p_top[4200], p_a[4200], p_b[4200];
    snprintf(p_raw, sizeof(p_raw), "%s/base.raw", dirbuf);
    snprintf(p_top, sizeof(p_top), "%s/top.qcow2", dirbuf);
    snprintf(p_a, sizeof(p_a), "%s/a.qcow2", dirbuf);
    snprintf(p_b, sizeof(p_b), "%s/b.qcow2", dirbuf);
    /* a raw backing file of 1000 bytes (not a whole sector) */
    uint8_t raw[1000];
    for (int i = 0; i < 1000; i++) raw[i] = (uint8_t)(i + 3);
    write_file(p_raw, raw, sizeof(raw));
    qimg q = build(3, 9, false, 64 * 1024);
    p64(&q, 8, 200);
    p32(&q, 16, 8);
    memcpy(q.b + 200, "base.raw", 8); /* relative to the image's directory */
    p32(&q, 104, 0xe2792aca);
    p32(&q, 108, 3);
    memcpy(q.b + 112, "raw", 3);
    write_file(p_top, q.b, q.len);
    panda_errbuf e = {{0}};
    block_image *img = NULL;
    CHECK(block_image_open(&e, p_top, BLOCK_FORMAT_AUTO, &img) == PANDA_OK);
    uint8_t *disk = malloc(64 * 1024);
    char msg[600];
    CHECK(img && read_all(img, disk, msg, sizeof(msg)) == 0);
    CHECK(memcmp(disk, raw, 1000) == 0);
    bool zeros = true;
    for (int i = 1000; i < 64 * 1024; i++) zeros &= disk[i] == 0;
    CHECK(zeros);
    block_image_close(img);

    /* the raw file opened alone: 1 sector, with a note about the tail */
    CHECK(block_image_open(&e, p_raw, BLOCK_FORMAT_AUTO, &img) == PANDA_OK);
    CHECK(img && block_image_backend(img).nsectors == 1 && strstr(block_image_note(img), "not a whole number"));
    block_image_close(img);

    /* a missing backing file: the message names both */
    memcpy(q.b + 200, "gone.raw", 8);
    write_file(p_top, q.b, q.len);
    CHECK(block_image_open(&e, p_top, BLOCK_FORMAT_AUTO, &img) == PANDA_ERR_IO);
    CHECK(strstr(e.msg, "the backing file of") && strstr(e.msg, "top.qcow2") && strstr(e.msg, "gone.raw"));

    /* a loop: a -> b -> a, and an image naming itself */
    p32(&q, 104, 0);
    p32(&q, 108, 0);
    memcpy(q.b + 200, "b.qcow2\0", 8);
    p32(&q, 16, 7);
    write_file(p_a, q.b, q.len);
    memcpy(q.b + 200, "a.qcow2", 7);
    write_file(p_b, q.b, q.len);
    CHECK(block_image_open(&e, p_a, BLOCK_FORMAT_QCOW2, &img) == PANDA_ERR_ARG);
    CHECK(strstr(e.msg, "backing file loop") && strstr(e.msg, "a.qcow2' is already in the chain"));
    write_file(p_a, q.b, q.len); /* a names a.qcow2 itself */
    CHECK(block_image_open(&e, p_a, BLOCK_FORMAT_QCOW2, &img) == PANDA_ERR_ARG);
    CHECK(strstr(e.msg, "backing file loop"));

    /* a chain of 17 images: one too deep */
    char names[18][4200];
    for (int i = 0; i <= 17; i++) snprintf(names[i], sizeof(names[i]), "%s/c%02d.qcow2", dirbuf, i);
    for (int i = 0; i <= 16; i++) {
        char next[24];
        snprintf(next, sizeof(next), "c%02d.qcow2", i + 1);
        memcpy(q.b + 200, next, 9);
        p32(&q, 16, 9);
        if (i == 16) p64(&q, 8, 0);
        write_file(names[i], q.b, q.len);
    }
    CHECK(block_image_open(&e, names[1], BLOCK_FORMAT_QCOW2, &img) == PANDA_OK); /* 16: fine */
    block_image_close(img);
    CHECK(block_image_open(&e, names[0], BLOCK_FORMAT_QCOW2, &img) == PANDA_ERR_ARG);
    CHECK(strstr(e.msg, "deeper than 16"));
    for (int i = 0; i <= 16; i++) unlink(names[i]);
    unlink(p_raw);
    unlink(p_top);
    unlink(p_a);
    unlink(p_b);
    rmdir(dirbuf);
    free(q.b);
    free(disk);
}

int main(void)
{
    test_header_refusals();
    test_reads();
    test_backing();
    return check_done();
}
