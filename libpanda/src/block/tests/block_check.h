/* The block layer's C tests: the device tests' check harness (CHECK,
 * check_done) and temporary files in $TMPDIR. */
#ifndef LIBPANDA_BLOCK_TESTS_CHECK_H
#define LIBPANDA_BLOCK_TESTS_CHECK_H

#include <stdlib.h>
#include <unistd.h>

#include "testing/check.h"
#include "block/image.h"
#include "block/layer.h"

static inline void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        printf("cannot write %s\n", path);
        exit(2);
    }
}

/* A new file holding data; the caller unlinks and frees the name. */
static inline char *write_temp(const void *data, size_t len)
{
    const char *dir = getenv("TMPDIR");
    char name[4096];
    snprintf(name, sizeof(name), "%s/blocktest-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(name);
    if (fd < 0) {
        printf("cannot create %s\n", name);
        exit(2);
    }
    close(fd);
    write_file(name, data, len);
    return str_dup(name);
}

#endif
