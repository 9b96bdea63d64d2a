/*
 * libFuzzer harness: the qcow2 reader (block/qcow2.c) and the overlay over
 * it, on a fuzzed image file.
 *
 * Input: a mode byte (bit 0: open as qcow2, else probe; bits 1-7: where to
 * read besides the start), then the image.  The image lives in a memfd
 * opened by its /proc/self/fd name, so a backing file name resolves beside
 * it (another descriptor's name, often not a regular file, or the image
 * itself: a loop).  Checked: a refusal says why; an accepted image reads
 * every sector asked for or says why not; a sector written through the
 * overlay reads back as written.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined with the block sources,
 * base/ and devices/state.c, and -lz.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/image.h"

#define FUZZ_ASSERT(cond, ...)                          \
    do {                                                \
        if (!(cond)) {                                  \
            fprintf(stderr, "fuzz_qcow2: " __VA_ARGS__); \
            fprintf(stderr, "\n");                      \
            abort();                                    \
        }                                               \
    } while (0)

static void exercise(block_image *img, uint8_t mode)
{
    block_backend b = block_image_backend(img);
    uint8_t buf[64 * 512], mark[512];
    /* the start, and a place the mode byte picks across the disk */
    uint64_t at[2] = {0, b.nsectors ? (b.nsectors - 1) / 127 * (mode >> 1) : 0};
    for (int i = 0; i < 2; i++) {
        uint64_t n = b.nsectors - at[i] < 64 ? b.nsectors - at[i] : 64;
        if (b.read(b.opaque, at[i], buf, (uint32_t)n) != 0)
            FUZZ_ASSERT(block_image_error(img)[0], "a read failed with no message");
    }
    if (!b.nsectors) return;
    memset(mark, 0x5a ^ mode, sizeof(mark));
    FUZZ_ASSERT(b.write(b.opaque, at[1], mark, 1) == 0, "an overlay write failed: %s", block_image_error(img));
    FUZZ_ASSERT(b.read(b.opaque, at[1], buf, 1) == 0 && memcmp(buf, mark, 512) == 0,
                "a sector written to the overlay does not read back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    int fd = memfd_create("fuzz.qcow2", MFD_CLOEXEC);
    if (fd < 0) return 0;
    if (write(fd, data + 1, size - 1) != (ssize_t)(size - 1)) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    panda_errbuf e = {{0}};
    block_image *img = NULL;
    panda_err err = block_image_open(&e, path, (mode & 1) ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_AUTO, &img);
    if (err) {
        FUZZ_ASSERT(e.msg[0] && !img, "a refused image (%d) with no message", (int)err);
    } else {
        exercise(img, mode);
        block_image_close(img);
    }
    close(fd);
    return 0;
}
