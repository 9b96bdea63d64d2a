/* Linux direct boot (boot_linux.c): the x86 boot protocol's 32-bit entry. */
#ifndef LIBPANDA_BOOT_LINUX_H
#define LIBPANDA_BOOT_LINUX_H

#include "base/base.h"

typedef struct boot_linux_params {
    uint8_t *ram;              /* guest-physical 0 .. ram_size, host-mapped */
    uint64_t ram_size;
    const char *kernel, *initrd, *append;  /* initrd and append may be NULL */
} boot_linux_params;

/* Load the kernel (and initrd, command line, boot parameters, a stub that
 * enters the kernel) into RAM; *entry is where the CPU must start, in flat
 * 32-bit mode with EFLAGS = 2. */
panda_err boot_linux_load(const boot_linux_params *bp, panda_errbuf *e, uint64_t *entry);

#endif
