/* A command-line driver of the block layer for tests/test_block.py, which
 * has no other way in yet (no public ABI):
 *
 *   blocktool read IMAGE FORMAT OUT
 *       the whole disk, read through the overlay in uneven pieces, to OUT
 *   blocktool commit IMAGE FORMAT SEED OUT.qcow2 OUT.raw
 *       scattered writes of pseudo-random data (the overlay spilling past
 *       256 KiB), a save/load round trip, block_commit to OUT.qcow2, and
 *       the disk as the overlay reads it to OUT.raw
 *
 * Prints "note: ..." for an open note; an error is "open error: MSG"
 * (exit 3), "read error: MSG" (4) or "commit error: MSG" (5). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/image.h"

static int dump(block_image *img, const char *out)
{
    block_backend b = block_image_backend(img);
    FILE *f = fopen(out, "wb");
    if (!f) return 2;
    static const uint32_t pieces[] = {1, 7, 128, 3, 1024, 129, 64};
    uint8_t *buf = malloc(1024 * BLOCK_SECTOR);
    uint64_t s = 0;
    for (unsigned i = 0; s < b.nsectors; i++) {
        uint32_t n = pieces[i % 7];
        if (n > b.nsectors - s) n = (uint32_t)(b.nsectors - s);
        if (b.read(b.opaque, s, buf, n) != 0) {
            printf("read error: %s\n", block_image_error(img));
            free(buf);
            fclose(f);
            return 4;
        }
        fwrite(buf, BLOCK_SECTOR, n, f);
        s += n;
    }
    free(buf);
    return fclose(f) == 0 ? 0 : 2;
}

static int scribble(block_image *img, uint32_t seed)
{
    block_backend b = block_image_backend(img);
    block_image_set_memory_limit(img, 256 << 10);
    uint8_t *buf = malloc(300 * BLOCK_SECTOR);
    for (int w = 0; w < 200; w++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t n = 1 + (seed >> 8) % 300;
        seed = seed * 1103515245u + 12345u;
        uint64_t at = ((uint64_t)seed << 16 | (seed >> 16)) % b.nsectors;
        if (n > b.nsectors - at) n = (uint32_t)(b.nsectors - at);
        for (size_t i = 0; i < (size_t)n * BLOCK_SECTOR; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = (uint8_t)(seed >> 16);
        }
        if (b.write(b.opaque, at, buf, n) != 0) {
            printf("write error: %s\n", block_image_error(img));
            return 4;
        }
    }
    free(buf);
    /* the state a snapshot would hold, loaded back in place */
    state_writer sw;
    sw_init(&sw);
    block_overlay_save(img, &sw);
    state_reader r;
    sr_init(&r, sw.data, sw.len);
    bool ok = !sw.failed && block_overlay_load(img, &r) && sr_done(&r);
    sw_free(&sw);
    if (!ok) {
        printf("overlay reload error: %s\n", r.error);
        return 4;
    }
    printf("written: %llu sectors, spilled: %s\n", (unsigned long long)block_overlay_sectors(img),
           block_overlay_spilled(img) ? "yes" : "no");
    return 0;
}

int main(int argc, char **argv)
{
    block_format fmt;
    if (argc < 5 || !block_format_parse(argv[3], &fmt)) {
        fprintf(stderr, "usage: blocktool read IMAGE FORMAT OUT | commit IMAGE FORMAT SEED OUT.qcow2 OUT.raw\n");
        return 2;
    }
    panda_errbuf e;
    block_image *img;
    if (block_image_open(&e, argv[2], fmt, &img) != PANDA_OK) {
        printf("open error: %s\n", e.msg);
        return 3;
    }
    if (*block_image_note(img)) printf("note: %s\n", block_image_note(img));
    int rc = 2;
    if (strcmp(argv[1], "read") == 0) {
        rc = dump(img, argv[4]);
    } else if (strcmp(argv[1], "commit") == 0 && argc == 7) {
        rc = scribble(img, (uint32_t)strtoul(argv[4], NULL, 0));
        if (!rc && block_commit(&e, img, argv[5]) != PANDA_OK) {
            printf("commit error: %s\n", e.msg);
            rc = 5;
        }
        if (!rc) rc = dump(img, argv[6]);
    }
    block_image_close(img);
    return rc;
}
