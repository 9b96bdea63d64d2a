/* QEMU's ISA debug console (isa-debugcon), where SeaBIOS writes its log:
 * port 0x402 reads back 0xE9 (how SeaBIOS tells the port is there), and
 * each byte written goes to a log the user reads (panda.bios_log). */
#ifndef PANDA_DEVICES_DEBUGCON_H
#define PANDA_DEVICES_DEBUGCON_H

#include <stddef.h>

#include "device.h"

typedef struct debugcon debugcon;

/* The log keeps its first DEBUGCON_LOG_MAX bytes; later ones are counted. */
#define DEBUGCON_LOG_MAX (256u << 10)

typedef struct debugcon_hooks {
    void *opaque;
    /* a whole line arrived (without its newline, NUL-terminated, at most
     * DEBUGCON_LINE_MAX - 1 bytes: a longer line is cut); may be NULL */
    void (*line)(void *opaque, const char *line);
} debugcon_hooks;
#define DEBUGCON_LINE_MAX 256

debugcon *debugcon_new(debugcon_hooks hooks);
void debugcon_free(debugcon *d);
bus_device debugcon_device(debugcon *d);
/* The log so far (not NUL-terminated) and how many bytes it holds; the
 * bytes written in all, kept or not. */
const char *debugcon_log(const debugcon *d, size_t *len);
uint64_t debugcon_bytes(const debugcon *d);

/* type "debugcon"; its state is empty: the log is output, like the serial
 * console's, and stays as it is when a snapshot is loaded */
extern const panda_device_ops debugcon_ops;

#endif
