/* Checked access to image files, and the layer read that serves a backing
 * file shorter than its overlay (layer.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "layer.h"

/* The path made absolute without resolving symbolic links: a backing file
 * named relative to the image is found beside the name the user gave, as
 * QEMU finds it. */
static char *absolute_path(const char *path)
{
    if (path[0] == '/') return str_dup(path);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd))) return NULL;
    size_t n = strlen(cwd) + 1 + strlen(path) + 1;
    char *out = malloc(n);
    if (out) snprintf(out, n, "%s/%s", cwd, path);
    return out;
}

panda_err blk_file_open(panda_errbuf *e, const char *path, blk_file *f)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    /* O_NONBLOCK: a FIFO must not block the open; it is refused below */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(e, PANDA_ERR_IO, "cannot open the disk image '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return err_set(e, PANDA_ERR_IO, "cannot read the disk image '%s': %s", path, strerror(err));
    }
    /* a block device would do too, but its size is not st_size; refuse
     * what this reader cannot size rather than guess */
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, PANDA_ERR_IO, "the disk image '%s' is not a regular file", path);
    }
    f->path = absolute_path(path);
    if (!f->path) {
        close(fd);
        return err_nomem(e, "a disk image's path");
    }
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    f->dev = st.st_dev;
    f->ino = st.st_ino;
    return PANDA_OK;
}

void blk_file_close(blk_file *f)
{
    if (f->fd >= 0) close(f->fd);
    free(f->path);
    f->fd = -1;
    f->path = NULL;
}

panda_err blk_file_pread(panda_errbuf *e, const blk_file *f, const char *what, uint64_t off,
                         void *buf, size_t len)
{
    if (off > f->size || len > f->size - off)
        return err_set(e, PANDA_ERR_ARG,
                       "%s: the %s at offset %" PRIu64 " (%zu bytes) lies past the end of the "
                       "file (%" PRIu64 " bytes): the image is truncated or damaged",
                       f->path, what, off, len, f->size);
    size_t got = 0;
    while (got < len) {
        ssize_t n = pread(f->fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return err_set(e, PANDA_ERR_IO, "%s: cannot read the %s at offset %" PRIu64 ": %s",
                           f->path, what, off, strerror(errno));
        if (n == 0)
            return err_set(e, PANDA_ERR_IO, "%s: the file shrank while open (the %s at offset %" PRIu64 ")",
                           f->path, what, off);
        got += (size_t)n;
    }
    return PANDA_OK;
}

bool blk_is_qcow2(const blk_file *f)
{
    uint8_t m[4];
    panda_errbuf ignored;
    return blk_file_pread(&ignored, f, "magic", 0, m, 4) == PANDA_OK && blk_be32(m) == BLK_QCOW2_MAGIC;
}

panda_err blk_layer_read(blk_layer *l, panda_errbuf *e, uint64_t off, void *buf, size_t len)
{
    uint64_t have = 0;
    if (l && off < l->size) have = l->size - off < len ? l->size - off : len;
    if (have) {
        panda_err err = l->read(l, e, off, buf, (size_t)have);
        if (err) return err;
    }
    memset((uint8_t *)buf + have, 0, len - (size_t)have);
    return PANDA_OK;
}
