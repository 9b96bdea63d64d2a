/*
 * Linux direct boot for the pc machine: the x86 boot protocol's 32-bit
 * entry (Documentation/arch/x86/boot.rst), with no firmware.
 *
 * Guest-physical layout:
 *   0x006000  GDT, its descriptor and the entry stub
 *   0x010000  boot_params (the "zero page")
 *   0x020000  kernel command line
 *   0x100000  the kernel's protected-mode code (code32_start)
 *   top       the initrd, as high as the kernel allows, page-aligned
 * The e820 map tells the kernel which RAM is usable.  screen_info stays
 * zero, so the kernel does not look for a VGA card.
 */
#include <stdlib.h>
#include <string.h>

#include "boot_linux.h"

#define STUB_ADDR 0x6000u
#define BOOT_PARAMS 0x10000u
#define CMDLINE_ADDR 0x20000u
#define CMDLINE_ROOM 0x10000u   /* up to the next thing the loader places */
#define KERNEL_ADDR 0x100000u
#define PAGE 4096u

/* setup header offsets (within the bzImage and within boot_params) */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP 0x200
#define HDR_MAGIC 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260
/* boot_params fields outside the header */
#define BP_ALT_MEM_K 0x1e0
#define BP_E820_ENTRIES 0x1e8
#define BP_E820_TABLE 0x2d0

#define LOADED_HIGH 0x01
#define CAN_USE_HEAP 0x80

static uint16_t rd16(const uint8_t *b, size_t o) { return (uint16_t)(b[o] | b[o + 1] << 8); }
static uint32_t rd32(const uint8_t *b, size_t o) { return rd16(b, o) | (uint32_t)rd16(b, o + 2) << 16; }
static void wr16(uint8_t *b, size_t o, uint16_t v) { b[o] = (uint8_t)v; b[o + 1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *b, size_t o, uint32_t v) { wr16(b, o, (uint16_t)v); wr16(b, o + 2, (uint16_t)(v >> 16)); }
static void wr64(uint8_t *b, size_t o, uint64_t v) { wr32(b, o, (uint32_t)v); wr32(b, o + 4, (uint32_t)(v >> 32)); }

static void add_e820(uint8_t *bp, uint64_t addr, uint64_t size, uint32_t type)
{
    uint8_t n = bp[BP_E820_ENTRIES];
    size_t o = BP_E820_TABLE + 20u * n;
    wr64(bp, o, addr);
    wr64(bp, o + 8, size);
    wr32(bp, o + 16, type);
    bp[BP_E820_ENTRIES] = n + 1;
}

/* Flat 4 GiB code (0x10) and data (0x18) segments, then the boot
 * protocol's register state, then a jump to the kernel. */
static size_t build_stub(uint8_t *m, uint32_t entry)
{
    static const uint8_t gdt[32] = {
        0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,
        0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00, /* 0x10: code */
        0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00, /* 0x18: data */
    };
    size_t o = 0;
    memcpy(m, gdt, sizeof(gdt));
    o = 0x20; /* GDT descriptor: limit, base */
    wr16(m, o, sizeof(gdt) - 1);
    wr32(m, o + 2, STUB_ADDR);
    o = 0x30;
    const uint32_t code = STUB_ADDR + 0x30;
    m[o++] = 0xfa;                                      /* cli */
    m[o++] = 0x0f; m[o++] = 0x01; m[o++] = 0x15;        /* lgdt (desc) */
    wr32(m, o, STUB_ADDR + 0x20); o += 4;
    size_t ljmp = o;
    m[o++] = 0xea;                                      /* ljmp $0x10, $next */
    o += 4;
    m[o++] = 0x10; m[o++] = 0x00;
    wr32(m, ljmp + 1, code + (uint32_t)(o - 0x30));
    m[o++] = 0xb8; wr32(m, o, 0x18); o += 4;            /* mov $0x18, %eax */
    m[o++] = 0x8e; m[o++] = 0xd8;                       /* mov %eax, %ds */
    m[o++] = 0x8e; m[o++] = 0xc0;                       /* mov %eax, %es */
    m[o++] = 0x8e; m[o++] = 0xd0;                       /* mov %eax, %ss */
    m[o++] = 0x8e; m[o++] = 0xe0;                       /* mov %eax, %fs */
    m[o++] = 0x8e; m[o++] = 0xe8;                       /* mov %eax, %gs */
    m[o++] = 0xbe; wr32(m, o, BOOT_PARAMS); o += 4;     /* mov $boot_params, %esi */
    m[o++] = 0x31; m[o++] = 0xed;                       /* xor %ebp, %ebp */
    m[o++] = 0x31; m[o++] = 0xff;                       /* xor %edi, %edi */
    m[o++] = 0x31; m[o++] = 0xdb;                       /* xor %ebx, %ebx */
    m[o++] = 0xb8; wr32(m, o, entry); o += 4;           /* mov $entry, %eax */
    m[o++] = 0xff; m[o++] = 0xe0;                       /* jmp *%eax */
    return o;
}

/* Copy len bytes to guest-physical addr, which the caller checked fits. */
static void put(const boot_linux_params *bp, uint64_t addr, const void *data, size_t len)
{
    memcpy(bp->ram + addr, data, len);
}

panda_err boot_linux_load(const boot_linux_params *bl, panda_errbuf *e, uint64_t *entry)
{
    uint8_t *kernel = NULL, *initrd = NULL;
    size_t klen = 0, ilen = 0;
    const uint64_t ram = bl->ram_size;
    if (ram < KERNEL_ADDR)
        return err_set(e, PANDA_ERR_OPTION, "direct boot needs more than 1 MiB of RAM; raise mem= (-m)");
    panda_err err = file_read_all(e, PANDA_ERR_OPTION, "kernel", bl->kernel, ram, &kernel, &klen);
    if (err) return err;
    if (klen < 0x300 || memcmp(kernel + HDR_MAGIC, "HdrS", 4) != 0 ||
        rd16(kernel, HDR_BOOT_FLAG) != 0xAA55) {
        err = err_set(e, PANDA_ERR_OPTION,
            "'%s' is not a Linux bzImage (no boot-protocol header 'HdrS'): give -kernel a bzImage such as /boot/vmlinuz-*",
            bl->kernel);
        goto out;
    }
    uint16_t version = rd16(kernel, HDR_VERSION);
    if (version < 0x0204 || !(kernel[HDR_LOADFLAGS] & LOADED_HIGH)) {
        err = err_set(e, PANDA_ERR_OPTION,
            "'%s' uses boot protocol %u.%02u or is a zImage: direct boot needs a bzImage with protocol 2.04 or later",
            bl->kernel, version >> 8, version & 0xff);
        goto out;
    }
    unsigned setup_sects = kernel[HDR_SETUP_SECTS] ? kernel[HDR_SETUP_SECTS] : 4;
    size_t setup_len = (setup_sects + 1u) * 512u;
    uint32_t init_size = version >= 0x020a ? rd32(kernel, HDR_INIT_SIZE) : 0;
    if (setup_len >= klen) {
        err = err_set(e, PANDA_ERR_OPTION, "'%s' is truncated: its setup code is all there is", bl->kernel);
        goto out;
    }
    size_t pm_len = klen - setup_len;
    uint64_t need = KERNEL_ADDR + (init_size > pm_len ? init_size : pm_len);
    if (need > ram) {
        err = err_set(e, PANDA_ERR_OPTION, "the kernel needs %llu MiB of RAM to unpack; raise mem= (-m)",
                      (unsigned long long)(need >> 20) + 1);
        goto out;
    }
    if (bl->initrd) {
        err = file_read_all(e, PANDA_ERR_OPTION, "initrd", bl->initrd, ram, &initrd, &ilen);
        if (err) goto out;
    }

    uint8_t bp[4096];
    memset(bp, 0, sizeof(bp));
    size_t hdr_end = 0x202 + kernel[0x201];
    if (hdr_end > sizeof(bp) || hdr_end > klen) hdr_end = 0x268;
    memcpy(bp + HDR_SETUP_SECTS, kernel + HDR_SETUP_SECTS, hdr_end - HDR_SETUP_SECTS);
    bp[HDR_TYPE_OF_LOADER] = 0xff;
    bp[HDR_LOADFLAGS] = (uint8_t)((bp[HDR_LOADFLAGS] | CAN_USE_HEAP) & ~0x20); /* not QUIET */
    wr16(bp, HDR_HEAP_END_PTR, 0xfe00);
    wr32(bp, HDR_CODE32_START, KERNEL_ADDR);

    /* bounded by the kernel's limit and by the room this loader keeps for
     * it (a longer line would run into the kernel) */
    const char *cmdline = bl->append ? bl->append : "";
    uint32_t cmdline_max = version >= 0x0206 ? rd32(kernel, HDR_CMDLINE_SIZE) : 255;
    if (cmdline_max > CMDLINE_ROOM - 1) cmdline_max = CMDLINE_ROOM - 1;
    size_t cmdline_len = strlen(cmdline);
    if (cmdline_len > cmdline_max) {
        err = err_set(e, PANDA_ERR_OPTION, "-append is %zu bytes; at most %u fit here", cmdline_len,
                      cmdline_max);
        goto out;
    }
    wr32(bp, HDR_CMD_LINE_PTR, CMDLINE_ADDR);

    if (initrd) {
        uint64_t max = rd32(kernel, HDR_INITRD_ADDR_MAX);
        if (max == 0) max = 0x37ffffff;
        uint64_t top = ram < max + 1 ? ram : max + 1;
        if (ilen > top || ((top - ilen) & ~(uint64_t)(PAGE - 1)) < need) {
            err = err_set(e, PANDA_ERR_OPTION,
                "the initrd (%zu bytes) does not fit in RAM beside the kernel; raise mem= (-m)", ilen);
            goto out;
        }
        uint64_t at = (top - ilen) & ~(uint64_t)(PAGE - 1);
        wr32(bp, HDR_RAMDISK_IMAGE, (uint32_t)at);
        wr32(bp, HDR_RAMDISK_SIZE, (uint32_t)ilen);
        put(bl, at, initrd, ilen);
    }
    wr32(bp, BP_ALT_MEM_K, (uint32_t)((ram - 0x100000) >> 10));
    add_e820(bp, 0, 0x9fc00, 1);
    add_e820(bp, 0x9fc00, 0x400, 2);
    add_e820(bp, 0xf0000, 0x10000, 2);
    add_e820(bp, 0x100000, ram - 0x100000, 1);

    uint8_t stub[256];
    memset(stub, 0, sizeof(stub));
    build_stub(stub, KERNEL_ADDR);
    static const uint8_t base_mem_kb[2] = {639 & 0xff, 639 >> 8}; /* BIOS data area 0x413 */
    put(bl, KERNEL_ADDR, kernel + setup_len, pm_len);
    put(bl, BOOT_PARAMS, bp, sizeof(bp));
    put(bl, CMDLINE_ADDR, cmdline, cmdline_len + 1);
    put(bl, STUB_ADDR, stub, sizeof(stub));
    put(bl, 0x413, base_mem_kb, 2);
    *entry = STUB_ADDR + 0x30;
out:
    free(kernel);
    free(initrd);
    return err;
}
