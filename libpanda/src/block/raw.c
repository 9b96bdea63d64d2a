/* Raw images: the file is the disk, byte for byte (layer.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "layer.h"

static panda_err raw_read(blk_layer *l, panda_errbuf *e, uint64_t off, void *buf, size_t len)
{
    return blk_file_pread(e, &l->file, "data", off, buf, len);
}

static void raw_free(blk_layer *l)
{
    blk_file_close(&l->file);
    free(l);
}

panda_err blk_raw_open(panda_errbuf *e, blk_file *f, blk_layer **out, char *note, size_t note_len)
{
    blk_layer *l = calloc(1, sizeof(*l));
    if (!l) {
        blk_file_close(f);
        return err_nomem(e, "a raw image");
    }
    l->file = *f;
    l->format = "raw";
    /* The virtual size is the file's size.  A size that is not a multiple
     * of 512 is accepted, as QEMU accepts it: the device sees the whole
     * sectors, and a qcow2 overlay above reads the tail's bytes and zeros
     * past it. */
    l->size = f->size;
    if (f->size % 512 && note && note_len)
        snprintf(note, note_len, "%s: %" PRIu64 " bytes is not a whole number of 512-byte sectors; "
                 "the last %u bytes are not part of the disk", f->path, f->size, (unsigned)(f->size % 512));
    l->read = raw_read;
    l->free = raw_free;
    *out = l;
    return PANDA_OK;
}
