/* Whole files in and out (base.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"

panda_err file_read_all(panda_errbuf *e, panda_err code, const char *what, const char *path,
                        uint64_t max_len, uint8_t **data, size_t *len)
{
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return err_set(e, code, "cannot open the %s '%s': %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return err_set(e, code, "cannot read the %s '%s': %s", what, path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, code, "the %s '%s' is not a regular file", what, path);
    }
    if ((uint64_t)st.st_size > max_len || (uint64_t)st.st_size > SIZE_MAX - 1) {
        close(fd);
        return err_set(e, code, "the %s '%s' is %llu bytes; at most %llu are accepted", what, path,
                       (unsigned long long)st.st_size, (unsigned long long)max_len);
    }
    size_t want = (size_t)st.st_size;
    uint8_t *buf = malloc(want ? want : 1);
    if (!buf) {
        close(fd);
        return err_nomem(e, what);
    }
    size_t got = 0;
    while (got < want) {
        ssize_t n = read(fd, buf + got, want - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; /* a file that shrank while read */
        got += (size_t)n;
    }
    int err = errno;
    close(fd);
    if (got != want) {
        free(buf);
        return err_set(e, code, "cannot read the %s '%s': %s", what, path,
                       got < want ? "it changed while being read" : strerror(err));
    }
    *data = buf;
    *len = got;
    return PANDA_OK;
}

panda_err file_write_atomic(panda_errbuf *e, const char *path, const void *data, size_t len)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return err_set(e, PANDA_ERR_ARG, "path too long: %s", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_set(e, PANDA_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = errno;
    ok = (fclose(f) == 0) && ok;
    /* complete or absent: the name appears only once every byte is there */
    if (!ok || rename(tmp, path) != 0) {
        if (ok) err = errno;
        remove(tmp);
        return err_set(e, PANDA_ERR_IO, "cannot write %s: %s", path, strerror(err));
    }
    return PANDA_OK;
}
