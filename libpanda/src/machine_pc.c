/*
 * The pc machine: an x86 CPU, RAM, the legacy PC devices and the i440FX
 * chipset (libpanda/devices/).  It boots in one of two ways: directly into
 * a Linux kernel (-kernel), or as a PC does, from the CPU's reset vector
 * into a BIOS ROM (-bios; SeaBIOS), which boots the disk.
 *
 * Time is virtual: one guest instruction is one nanosecond, plus the time
 * skipped while the CPU halts.  The TSC runs at 1 GHz on that clock and the
 * PIT and RTC derive from it, so a run depends only on its outside inputs
 * (serial bytes typed, the RTC start time), never on the host's speed.
 *
 * Before each slice the devices catch up with virtual time and the slice's
 * instruction budget ends at the next timer deadline; a port write that
 * may move a deadline ends the slice early.  When the CPU halts with
 * interrupts enabled the machine is idle, and the run loop skips the clock
 * to the next deadline (or waits for outside input).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "block/image.h"
#include "boot_linux.h"

#include "bus.h"
#include "legacy/debugcon.h"
#include "legacy/i8042.h"
#include "legacy/mc146818.h"
#include "legacy/pic8259.h"
#include "legacy/pit8254.h"
#include "legacy/port80.h"
#include "legacy/port92.h"
#include "legacy/uart16550.h"
#include "pci/i440fx.h"
#include "pci/pci_host.h"
#include "pci/piix3.h"
#include "storage/ide.h"

#define COM1 0x3f8
/* Where the IDE's bus-master block is with direct boot (QEMU's, SeaBIOS's
 * choice with no other PCI devices). */
#define BMDMA_DIRECT_BOOT 0xc000
/* PANDA's Hd_transfer_type */
enum { HD_TRANSFER_HD_TO_IOB, HD_TRANSFER_IOB_TO_HD, HD_TRANSFER_PORT_TO_IOB, HD_TRANSFER_IOB_TO_PORT,
       HD_TRANSFER_HD_TO_RAM, HD_TRANSFER_RAM_TO_HD };
/* Slices never exceed this, so host input is seen at least this often
 * (in guest instructions = virtual ns). */
#define MAX_SLICE 4000000ull
#define MAX_DEVICES 24

/* The firmware's memory map (QEMU's pc): RAM below 640 KiB, the VGA hole
 * (no VGA here: open bus), the shadow RAM windows behind the i440FX's PAM
 * registers up to 1 MiB, RAM above, and the ROM at the top of 4 GiB with
 * its last 128 KiB also seen below 1 MiB while PAM says ROM. */
#define VGA_HOLE 0xA0000u
#define PAM_FIRST 0xC0000u
#define HIGH_MEMORY 0x100000u
#define BIOS_MIN_SIZE (64u << 10)
#define BIOS_MAX_SIZE (16u << 20)
#define ISA_BIOS_MAX (128u << 10)
#define DEBUGCON_PORT 0x402
/* SeaBIOS's words when every boot device failed (src/boot.c boot_fail):
 * it would wait and reset for ever. */
#define NO_BOOT_DEVICE "No bootable device."

typedef struct panda_machine pc_machine;

/* One PAM region's window onto either RAM or the ROM/PCI side. */
struct pam_window {
    pc_machine *pc;
    uint32_t base, size;
    i440fx_pam_mode mode;
    bool mapped;
};

/*
 * Port devices that need nothing but their ports and what device_env
 * offers (the clock, DMA), one line each: X(type, instance name, first
 * port, number of ports).  The device's file defines
 * type *type_create(const device_env *), type_device(type *) and type_ops
 * (device.h); the line is all the wiring it needs.
 */
#define PC_PORT_DEVICES(X) \
    /* end of the list */

#define DECLARE_PORT_DEVICE(type, name, base, len)    \
    typedef struct type type;                         \
    type *type##_create(const device_env *env);       \
    bus_device type##_device(type *dev);              \
    extern const panda_device_ops type##_ops;
PC_PORT_DEVICES(DECLARE_PORT_DEVICE)

struct panda_machine {
    panda_t *p;
    io_bus bus;
    pic8259 *pic;
    pit8254 *pit;
    mc146818 *rtc;
    uart16550 *uart;
    i8042 *kbc;
    pci_bus pci;
    pci_host *pci_host;
    i440fx *host_bridge;
    piix3 *isa_bridge;
    piix_ide *ide;
    uint32_t bmdma_base;          /* where the IDE's bus-master block decodes (0: nowhere) */
    /* what the IDE sees of each disk: the image, or in a replay the
     * recording's logged reads (so a replay needs no disk) */
    struct pc_disk {
        struct panda_machine *pc;
        uint8_t drive;
        block_backend image;
    } disk_io[PANDA_MAX_DRIVES];
    block_backend disk_backend[PANDA_MAX_DRIVES];
    /* CD-ROM drives (by drive index): the disc's image (NULL: none, or a
     * replay's disc, whose reads are in the recording), its file name, and
     * the input channel a replay's disc changes come through */
    struct pc_cdrom {
        bool present;
        block_image *image;
        char *path;
        char name[16];            /* QEMU's: ide1-cd0 (the media channel's name) */
        panda_input_channel media;
    } cd[PANDA_MAX_DRIVES];
    panda_device devices[MAX_DEVICES];   /* in a fixed order: snapshots */
    size_t ndevices;
    panda_input_channel com1;
    arch_port_io port_io;
    mmio_bus mmio;                /* the address space above RAM */
    block_image *disk[PANDA_MAX_DRIVES];  /* -hda.., each under its overlay */
    device_env env;
    uint8_t *ram;                 /* guest-physical 0 .. ram_size */
    uint64_t ram_size;
    uint64_t idle_ns;             /* virtual time skipped while halted */
    uint64_t max_slice;
    bool reset_requested;
    char stop_reason[160];
    /* the firmware path (no -kernel) */
    bool firmware;
    uint8_t *rom;                 /* the BIOS image, mapped read-only at 4 GiB - rom_size */
    uint32_t rom_size;
    struct pam_window pam[I440FX_PAM_REGIONS];
    bool pam_pending;             /* a PAM register changed: remap before the next slice */
    uint64_t window_open_bus;     /* accesses nothing answered in the low windows */
    debugcon *bios_log;
    port92 *port92;
    bool boot_failed;
};

static uint64_t pc_vtime(pc_machine *pc)
{
    return uc_panda_icount(pc->p->uc) + pc->idle_ns;
}

static panda_vtime vtime_cb(void *opaque) { return pc_vtime(opaque); }

/* The engine's hooks all receive the instance (callbacks.c). */
static uint64_t tsc_cb(void *opaque)
{
    panda_t *p = opaque;
    return pc_vtime(p->machine);
}

static void cpu_intr(void *opaque, int line, int level)
{
    (void)line;
    pc_machine *pc = opaque;
    uc_panda_set_irq(pc->p->uc, level != 0);
}

static int irq_ack(void *opaque)
{
    panda_t *p = opaque;
    return pic8259_intack(p->machine->pic);
}

static void kbc_reset(void *opaque)
{
    pc_machine *pc = opaque;
    pc->reset_requested = true;
    uc_emu_stop(pc->p->uc);
}

static void uart_tx(void *opaque, uint8_t byte)
{
    pc_machine *pc = opaque;
    console_guest_output(&pc->p->console, byte, uc_panda_icount(pc->p->uc));
}

/* PANDA's replay_serial_* callbacks: COM1's base port stands for its FIFO. */
static void uart_rx_push(void *opaque, uint8_t byte)
{
    pc_machine *pc = opaque;
    if (pc->p->rr_mode == RR_REPLAY)
        panda_dispatch_replay_serial(pc->p, PANDA_CB_REPLAY_SERIAL_RECEIVE, COM1, 0, byte);
}

static void uart_rx_read(void *opaque, uint32_t port, uint8_t byte)
{
    pc_machine *pc = opaque;
    if (pc->p->rr_mode == RR_REPLAY)
        panda_dispatch_replay_serial(pc->p, PANDA_CB_REPLAY_SERIAL_READ, COM1, port, byte);
}

static void uart_tx_write(void *opaque, uint32_t port, uint8_t byte)
{
    pc_machine *pc = opaque;
    if (pc->p->rr_mode != RR_REPLAY) return;
    panda_dispatch_replay_serial(pc->p, PANDA_CB_REPLAY_SERIAL_WRITE, COM1, port, byte);
    /* the byte leaves at once: no transmit delay is modelled */
    panda_dispatch_replay_serial(pc->p, PANDA_CB_REPLAY_SERIAL_SEND, COM1, 0, byte);
}

/* COM1 as an input channel: the console types into its receive FIFO. */
static size_t com1_room(void *dev) { return uart16550_rx_room(dev); }

static size_t com1_deliver(void *dev, const uint8_t *data, size_t len)
{
    return uart16550_receive(dev, data, len);
}

/* ---- PANDA's unassigned_io_* and mmio_* callbacks around the buses ---- */

static uint64_t size_mask64(unsigned size)
{
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
}

/* An access nothing answered (the bus counted it as open bus): a callback
 * may supply the value, which makes it answered (no longer counted). */
static uint64_t unassigned_read(pc_machine *pc, uint64_t *count, uint64_t before, uint64_t addr, unsigned size,
                                uint64_t v)
{
    uint64_t val = v;
    if (!panda_wants_cb(pc->p, PANDA_CB_UNASSIGNED_IO_READ) ||
        !panda_dispatch_unassigned_io_read(pc->p, panda_current_pc(&pc->p->cpu), addr, size, &val))
        return v;
    *count = before;
    return val & size_mask64(size);
}

static void unassigned_write(pc_machine *pc, uint64_t *count, uint64_t before, uint64_t addr, unsigned size,
                             uint64_t v)
{
    if (panda_wants_cb(pc->p, PANDA_CB_UNASSIGNED_IO_WRITE) &&
        panda_dispatch_unassigned_io_write(pc->p, panda_current_pc(&pc->p->cpu), addr, size, v))
        *count = before;
}

static uint32_t port_in(void *opaque, uint32_t port, unsigned size)
{
    pc_machine *pc = opaque;
    uint64_t open = pc->bus.unclaimed_reads;
    uint32_t v = io_bus_read(&pc->bus, port, size);
    if (pc->bus.unclaimed_reads != open)
        v = (uint32_t)unassigned_read(pc, &pc->bus.unclaimed_reads, open, port, size, v);
    return v;
}

/* The MMIO bus at physical address addr, with the callbacks. */
static uint64_t mmio_access_read(pc_machine *pc, uint64_t addr, unsigned size)
{
    uint64_t open = pc->mmio.unclaimed_reads;
    uint64_t v = mmio_bus_read(&pc->mmio, addr, size);
    if (pc->mmio.unclaimed_reads != open) v = unassigned_read(pc, &pc->mmio.unclaimed_reads, open, addr, size, v);
    if (panda_wants_cb(pc->p, PANDA_CB_MMIO_AFTER_READ)) {
        panda_dispatch_mmio(pc->p, false, addr, size, &v);
        v &= size_mask64(size);
    }
    return v;
}

static void mmio_access_write(pc_machine *pc, uint64_t addr, unsigned size, uint64_t value)
{
    if (panda_wants_cb(pc->p, PANDA_CB_MMIO_BEFORE_WRITE)) {
        panda_dispatch_mmio(pc->p, true, addr, size, &value);
        value &= size_mask64(size);
    }
    uint64_t open = pc->mmio.unclaimed_writes;
    mmio_bus_write(&pc->mmio, addr, value, size);
    if (pc->mmio.unclaimed_writes != open) unassigned_write(pc, &pc->mmio.unclaimed_writes, open, addr, size, value);
}

/* Writes that can move a timer deadline: the PIT (channel 0 drives IRQ0)
 * and RTC data (periodic, alarm and update interrupts).  Port 0x61 only
 * gates channel 2, which raises no interrupt; 0x70 only selects a register. */
static bool moves_deadline(uint32_t port)
{
    return (port >= 0x40 && port <= 0x43) || port == 0x71;
}

static bool port_out(void *opaque, uint32_t port, uint32_t value, unsigned size)
{
    pc_machine *pc = opaque;
    uint64_t open = pc->bus.unclaimed_writes;
    io_bus_write(&pc->bus, port, value, size);
    if (pc->bus.unclaimed_writes != open) unassigned_write(pc, &pc->bus.unclaimed_writes, open, port, size, value);
    /* a timer was reprogrammed: the slice's budget must be computed again */
    return moves_deadline(port);
}

/* The engine's MMIO region covers everything from the end of RAM to 4 GiB;
 * the MMIO bus says which device, if any, answers. */
static uint64_t mmio_read(uc_engine *uc, uint64_t offset, unsigned size, void *opaque)
{
    (void)uc;
    pc_machine *pc = opaque;
    return mmio_access_read(pc, pc->ram_size + offset, size);
}

static void mmio_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *opaque)
{
    (void)uc;
    pc_machine *pc = opaque;
    mmio_access_write(pc, pc->ram_size + offset, size, value);
}

/* ---- firmware: the BIOS ROM and the windows below 1 MiB ------------------- */

static panda_err attach(pc_machine *pc, const panda_device_ops *ops, void *dev, const char *name,
                        uint32_t base, uint32_t len, bus_device port);

/* The VGA hole: the MMIO bus, which has nothing there (open bus, counted). */
static uint64_t vga_hole_read(uc_engine *uc, uint64_t offset, unsigned size, void *opaque)
{
    (void)uc;
    pc_machine *pc = opaque;
    return mmio_access_read(pc, VGA_HOLE + offset, size);
}

static void vga_hole_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *opaque)
{
    (void)uc;
    pc_machine *pc = opaque;
    mmio_access_write(pc, VGA_HOLE + offset, size, value);
}

/* What the ROM/PCI side has at a window: the ROM's tail (the "ISA BIOS"
 * alias) from 1 MiB - min(ROM, 128 KiB), nothing below (no option ROMs). */
static uint8_t *rom_alias(pc_machine *pc, uint32_t base)
{
    uint32_t isa_size = pc->rom_size < ISA_BIOS_MAX ? pc->rom_size : ISA_BIOS_MAX;
    if (base < HIGH_MEMORY - isa_size) return NULL;
    return pc->rom + pc->rom_size - (HIGH_MEMORY - base);
}

/* The modes without a plain mapping (writes to RAM but reads from the ROM
 * side, or a ROM side with nothing there) go through these; nothing runs
 * code from them. */
static uint64_t window_read(uc_engine *uc, uint64_t offset, unsigned size, void *opaque)
{
    (void)uc;
    struct pam_window *w = opaque;
    const uint8_t *rom = rom_alias(w->pc, w->base);
    if (!rom || offset + size > w->size) {
        w->pc->window_open_bus++;
        return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) v |= (uint64_t)rom[offset + i] << (8 * i);
    return v;
}

static void window_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value, void *opaque)
{
    (void)uc;
    struct pam_window *w = opaque;
    if (w->mode != I440FX_PAM_WRITE_RAM || offset + size > w->size) {
        w->pc->window_open_bus++;   /* the ROM side takes no writes */
        return;
    }
    for (unsigned i = 0; i < size; i++) w->pc->ram[w->base + offset + i] = (uint8_t)(value >> (8 * i));
}

/* Map window w as mode says: RAM, RAM read-only (writes dropped), the ROM
 * read-only, or the slow path above. */
static uc_err map_window(pc_machine *pc, struct pam_window *w, i440fx_pam_mode mode)
{
    uc_engine *uc = pc->p->uc;
    if (w->mapped) {
        uc_err ue = uc_mem_unmap(uc, w->base, w->size);
        if (ue) return ue;
        w->mapped = false;
    }
    w->mode = mode;
    uint8_t *rom = rom_alias(pc, w->base);
    uc_err ue;
    if (mode == I440FX_PAM_RAM)
        ue = uc_mem_map_ptr(uc, w->base, w->size, UC_PROT_ALL, pc->ram + w->base);
    else if (mode == I440FX_PAM_READ_RAM)
        ue = uc_panda_mem_map_rom(uc, w->base, w->size, pc->ram + w->base);
    else if (mode == I440FX_PAM_ROM && rom)
        ue = uc_panda_mem_map_rom(uc, w->base, w->size, rom);
    else
        ue = uc_mmio_map(uc, w->base, w->size, window_read, w, window_write, w);
    if (!ue) w->mapped = true;
    return ue;
}

/* Every window as the i440FX's registers say now. */
static panda_err map_windows(pc_machine *pc)
{
    pc->pam_pending = false;
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) {
        i440fx_pam_mode mode = i440fx_pam_mode_of(pc->host_bridge, i);
        if (pc->pam[i].mapped && pc->pam[i].mode == mode) continue;
        uc_err ue = map_window(pc, &pc->pam[i], mode);
        if (ue)
            return panda_set_error(pc->p, PANDA_ERR_ENGINE, "mapping the BIOS area at 0x%x: %s",
                                   pc->pam[i].base, uc_strerror(ue));
    }
    return PANDA_OK;
}

/* The BIOS image: a whole number of 64 KiB blocks up to 16 MiB (QEMU's
 * rule), whose reset vector (16 bytes from its end) holds a jump. */
static panda_err load_bios(pc_machine *pc)
{
    panda_t *p = pc->p;
    const char *path = p->cfg.bios;
    size_t len = 0;
    panda_err e = file_read_all(&p->err, PANDA_ERR_OPTION, "BIOS ROM", path, BIOS_MAX_SIZE, &pc->rom, &len);
    if (e) return e;
    pc->rom_size = (uint32_t)len;
    if (len < BIOS_MIN_SIZE || len % BIOS_MIN_SIZE)
        return panda_set_error(p, PANDA_ERR_OPTION,
            "%s: %zu bytes; a BIOS ROM is a whole number of 64 KiB blocks (a truncated file?)", path, len);
    uint8_t op = pc->rom[len - 16];
    if (op != 0xEA && op != 0xE9 && op != 0xEB)
        return panda_set_error(p, PANDA_ERR_OPTION,
            "%s: not a BIOS ROM: no jump at its reset vector (byte 0x%02x at 16 bytes from the end)", path, op);
    return PANDA_OK;
}

/* The firmware's memory map: RAM in three pieces around the VGA hole and
 * the PAM windows, the ROM at the top of 4 GiB, MMIO between. */
static panda_err map_firmware_memory(pc_machine *pc)
{
    panda_t *p = pc->p;
    uc_engine *uc = p->uc;
    if (pc->ram_size < 2 * HIGH_MEMORY)
        return panda_set_error(p, PANDA_ERR_OPTION, "booting firmware needs at least 2 MiB of RAM");
    uint64_t rom_base = (1ull << 32) - pc->rom_size;
    if (pc->ram_size > rom_base - (256u << 20))
        return panda_set_error(p, PANDA_ERR_OPTION,
            "-m: RAM above %llu MiB would reach the PCI hole below the BIOS ROM",
            (unsigned long long)((rom_base - (256u << 20)) >> 20));
    uc_err ue;
    if ((ue = uc_mem_map_ptr(uc, 0, VGA_HOLE, UC_PROT_ALL, pc->ram)) ||
        (ue = uc_mmio_map(uc, VGA_HOLE, PAM_FIRST - VGA_HOLE, vga_hole_read, pc, vga_hole_write, pc)) ||
        (ue = uc_mem_map_ptr(uc, HIGH_MEMORY, pc->ram_size - HIGH_MEMORY, UC_PROT_ALL, pc->ram + HIGH_MEMORY)) ||
        (ue = uc_mmio_map(uc, pc->ram_size, rom_base - pc->ram_size, mmio_read, pc, mmio_write, pc)) ||
        (ue = uc_panda_mem_map_rom(uc, rom_base, pc->rom_size, pc->rom)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "mapping the firmware's memory: %s", uc_strerror(ue));
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) {
        struct pam_window *w = &pc->pam[i];
        w->pc = pc;
        i440fx_pam_region(i, &w->base, &w->size);
    }
    return PANDA_OK;
}

static void debugcon_line(void *opaque, const char *line)
{
    pc_machine *pc = opaque;
    if (strstr(line, NO_BOOT_DEVICE)) {
        pc->boot_failed = true;
        uc_emu_stop(pc->p->uc);
    }
}

static void a20_changed(void *opaque, bool enabled)
{
    pc_machine *pc = opaque;
    uc_panda_set_a20(pc->p->uc, enabled);
}

/* What SeaBIOS reads from NVRAM (QEMU's pc_cmos_init): the boot order
 * (0x3D, 0x38: c = disk 2, d = CD 3), each IDE disk's CHS translation
 * (0x39: two bits per drive, as QEMU guesses it from the size), the
 * number of CPUs less one (0x5F). */
static void firmware_nvram(pc_machine *pc)
{
    const char *order = pc->p->cfg.boot_order;
    uint8_t dev[3] = {0, 0, 0};
    for (int i = 0; i < 3 && order[i]; i++) dev[i] = order[i] == 'c' ? 2 : order[i] == 'd' ? 3 : 0;
    mc146818_set_nvram(pc->rtc, 0x3D, (uint8_t)(dev[1] << 4 | dev[0]));
    mc146818_set_nvram(pc->rtc, 0x38, (uint8_t)(dev[2] << 4)); /* bit 0 clear: check the floppy boot signature */
    uint8_t trans = 0;
    for (int i = 0; i < PANDA_MAX_DRIVES; i++) {
        if (!pc->disk[i]) continue;
        uint64_t cyls = block_image_backend(pc->disk[i]).nsectors / (16 * 63);
        /* QEMU's hd_bios_chs_auto_trans on its 16-head, 63-sector guess,
         * less one: 0 none, 1 LBA, 2 large */
        uint8_t t = cyls <= 1024 ? 0 : cyls * 16 <= 131072 ? 2 : 1;
        trans |= (uint8_t)(t << (2 * i));
    }
    mc146818_set_nvram(pc->rtc, 0x39, trans);
    mc146818_set_nvram(pc->rtc, 0x5F, 0);
}

static panda_err add_firmware_devices(pc_machine *pc)
{
    panda_err e;
    pc->bios_log = debugcon_new((debugcon_hooks){.opaque = pc, .line = debugcon_line});
    if ((e = attach(pc, &debugcon_ops, pc->bios_log, "bios-log", DEBUGCON_PORT, 1,
                    pc->bios_log ? debugcon_device(pc->bios_log) : (bus_device){0})))
        return e;
    pc->port92 = port92_new((port92_hooks){.opaque = pc, .a20 = a20_changed});
    if ((e = attach(pc, &port92_ops, pc->port92, "port92", 0x92, 1,
                    pc->port92 ? port92_device(pc->port92) : (bus_device){0})))
        return e;
    i8042_set_a20_hook(pc->kbc, a20_changed, pc);
    firmware_nvram(pc);
    return PANDA_OK;
}

/* ---- the DMA port: devices' transfers into and out of RAM ---------------- */

static bool in_ram(pc_machine *pc, uint64_t addr, size_t len)
{
    return addr <= pc->ram_size && len <= pc->ram_size - addr;
}

static bool dma_from_ram(void *opaque, uint64_t addr, void *buf, size_t len)
{
    pc_machine *pc = opaque;
    if (!in_ram(pc, addr, len)) return false;
    bool replay = pc->p->rr_mode == RR_REPLAY;
    if (replay) panda_dispatch_replay_dma(pc->p, true, pc->ram + addr, addr, len, false);
    memcpy(buf, pc->ram + addr, len);
    if (replay) panda_dispatch_replay_dma(pc->p, false, pc->ram + addr, addr, len, false);
    return true;
}

static bool dma_to_ram(void *opaque, uint64_t addr, const void *buf, size_t len)
{
    pc_machine *pc = opaque;
    if (!in_ram(pc, addr, len)) return false;
    bool replay = pc->p->rr_mode == RR_REPLAY;
    if (replay) panda_dispatch_replay_dma(pc->p, true, buf, addr, len, true);
    /* through the engine, which drops translated code on the pages written */
    if (len && uc_mem_write(pc->p->uc, addr, buf, len)) return false;
    if (replay) panda_dispatch_replay_dma(pc->p, false, buf, addr, len, true);
    return true;
}

/* A device joins the machine: on the port bus (if len) and in the list
 * snapshots and the clock walk. */
static panda_err attach(pc_machine *pc, const panda_device_ops *ops, void *dev, const char *name,
                        uint32_t base, uint32_t len, bus_device port)
{
    panda_t *p = pc->p;
    if (!dev) return err_nomem(&p->err, name);
    if (pc->ndevices == MAX_DEVICES) {
        ops->free(dev);
        return panda_set_error(p, PANDA_ERR_ENGINE, "the pc machine holds at most %d devices", MAX_DEVICES);
    }
    panda_device *d = &pc->devices[pc->ndevices++];
    d->ops = ops;
    d->dev = dev;
    snprintf(d->name, sizeof(d->name), "%s", name);
    if (len && io_bus_add(&pc->bus, base, len, port))
        return panda_set_error(p, PANDA_ERR_ENGINE, "%s: ports 0x%x..0x%x overlap another device's",
                               name, base, base + len - 1);
    return PANDA_OK;
}

/* A device with a second port range (the PIC's slave and ELCR, the i8042's
 * status port, ...). */
static panda_err more_ports(pc_machine *pc, const char *name, uint32_t base, uint32_t len,
                            bus_device port)
{
    if (io_bus_add(&pc->bus, base, len, port))
        return panda_set_error(pc->p, PANDA_ERR_ENGINE, "%s: ports 0x%x..0x%x overlap another device's",
                               name, base, base + len - 1);
    return PANDA_OK;
}

/* A disk's overlay is machine state like a device's: it belongs to
 * snapshots and to a recording's NAME-rr-snp (the base image does not). */
static void overlay_save(const void *dev, state_writer *w) { block_overlay_save((block_image *)dev, w); }

static void overlay_load(void *dev, state_reader *r, uint32_t version)
{
    if (sr_version(r, "disk-overlay", version, 1)) block_overlay_load(dev, r);
}

static void overlay_free(void *dev) { block_image_close(dev); }

static const panda_device_ops disk_overlay_ops = {
    .type = "disk-overlay", .state_version = 1,
    .save = overlay_save, .load = overlay_load, .free = overlay_free,
};

/* A disk whose MBR describes partitions past its end (a truncated image)
 * is refused at once rather than left for the guest to stumble over. */
static panda_err check_partitions(pc_machine *pc, const char *name, block_image *img)
{
    block_backend b = block_image_backend(img);
    uint8_t mbr[512];
    if (b.nsectors == 0) return panda_set_error(pc->p, PANDA_ERR_OPTION, "%s: the disk image is empty", name);
    if (b.read(b.opaque, 0, mbr, 1)) return PANDA_OK;   /* an image with no data to check (no image) */
    if (mbr[510] != 0x55 || mbr[511] != 0xaa) return PANDA_OK;
    for (int i = 0; i < 4; i++) {
        const uint8_t *e = mbr + 446 + 16 * i;
        uint64_t start = e[8] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16 | (uint32_t)e[11] << 24;
        uint64_t count = e[12] | (uint32_t)e[13] << 8 | (uint32_t)e[14] << 16 | (uint32_t)e[15] << 24;
        if (e[4] && count && start + count > b.nsectors)
            return panda_set_error(pc->p, PANDA_ERR_OPTION,
                "%s: partition %d ends at sector %llu, past the disk's %llu sectors (a truncated image?)",
                name, i + 1, (unsigned long long)(start + count), (unsigned long long)b.nsectors);
    }
    return PANDA_OK;
}

/* ---- CD-ROM drives ---------------------------------------------------------- */

/* QEMU's monitor names: ide0-hd0 .. ide1-cd0 .. */
static void drive_name(const pc_machine *pc, unsigned i, char *buf, size_t n)
{
    snprintf(buf, n, "ide%u-%s%u", i / 2, pc->cd[i].present ? "cd" : "hd", i % 2);
}

/* A disc's image: raw or qcow2, read-only, at least one 2048-byte block. */
static panda_err open_disc(pc_machine *pc, const char *path, const char *format, block_image **out)
{
    panda_t *p = pc->p;
    block_format fmt;
    if (!block_format_parse(format, &fmt))
        return panda_set_error(p, PANDA_ERR_OPTION, "%s: unknown disc image format '%s'", path, format);
    panda_err e = block_image_open(&p->err, path, fmt, out);
    if (e) return e == PANDA_ERR_ARG ? PANDA_ERR_OPTION : e;
    if (block_image_size(*out) < 2048) {
        block_image_close(*out);
        *out = NULL;
        return panda_set_error(p, PANDA_ERR_OPTION, "%s: the CD image is smaller than one 2048-byte block", path);
    }
    return PANDA_OK;
}

static void set_disc(pc_machine *pc, unsigned i, block_image *img, char *path)
{
    struct pc_cdrom *cd = &pc->cd[i];
    if (cd->image) block_image_close(cd->image);
    free(cd->path);
    cd->image = img;
    cd->path = path;
    pc->disk_io[i].image = img ? block_image_backend(img) : (block_backend){0};
}

/* The discs belong to the machine, not to its state: this holder only
 * closes them with the machine (no state; the drive's own state, in the
 * IDE's, says what disc of what size is in). */
static void discs_save(const void *dev, state_writer *w)
{
    (void)dev;
    (void)w;
}

static void discs_load(void *dev, state_reader *r, uint32_t version)
{
    (void)dev;
    sr_version(r, "cdrom-discs", version, 1);
}

static void discs_free(void *dev)
{
    pc_machine *pc = dev;
    for (unsigned i = 0; i < PANDA_MAX_DRIVES; i++) set_disc(pc, i, NULL, NULL);
}

static const panda_device_ops discs_ops = {
    .type = "cdrom-discs", .state_version = 1,
    .save = discs_save, .load = discs_load, .free = discs_free,
};

/* Disc changes are outside input (rr.c, PANDA_INPUT_MEDIA): 9 bytes, the
 * operation (1 insert, 2 eject; bit 7 forced) and the disc's size in
 * sectors. */
#define MEDIA_INSERT 1
#define MEDIA_EJECT 2
#define MEDIA_FORCE 0x80
#define MEDIA_EVENT_LEN 9

static int apply_media(pc_machine *pc, unsigned i, uint8_t op, uint64_t nsectors)
{
    bool force = op & MEDIA_FORCE;
    return piix_ide_cd_change(pc->ide, (int)(i / 2), (int)(i % 2),
                              (op & ~MEDIA_FORCE) == MEDIA_INSERT ? nsectors : 0, force);
}

static size_t media_room(void *dev)
{
    (void)dev;
    return 0; /* nothing is pumped: changes come from the monitor */
}

/* A replay's recorded change: the same operation, with no image (the
 * disc's reads are in the recording). */
static size_t media_deliver(void *dev, const uint8_t *data, size_t len)
{
    struct pc_disk *d = dev;
    if (len != MEDIA_EVENT_LEN) return 0;
    uint8_t op = data[0];
    uint64_t n = 0;
    for (int k = 0; k < 8; k++) n |= (uint64_t)data[1 + k] << (8 * k);
    if ((op & ~MEDIA_FORCE) != MEDIA_INSERT && (op & ~MEDIA_FORCE) != MEDIA_EJECT) return 0;
    if (apply_media(d->pc, d->drive, op, n) < 0) return 0;
    set_disc(d->pc, d->drive, NULL, NULL);
    return len;
}

static panda_err pc_change_media(pc_machine *pc, const char *drive, const char *path, const char *format,
                                 bool force)
{
    panda_t *p = pc->p;
    unsigned i;
    char name[16];
    for (i = 0; i < PANDA_MAX_DRIVES; i++) {
        drive_name(pc, i, name, sizeof name);
        if (!strcmp(name, drive)) break;
    }
    if (i == PANDA_MAX_DRIVES) return panda_set_error(p, PANDA_ERR_ARG, "Device '%s' not found", drive);
    if (!pc->cd[i].present) return panda_set_error(p, PANDA_ERR_ARG, "Device '%s' is not removable", drive);
    if (p->rr_mode == RR_REPLAY)
        return panda_set_error(p, PANDA_ERR_STATE, "replaying: the recording's own disc changes are replayed");
    block_image *img = NULL;
    char *copy = NULL;
    if (path) {
        panda_err e = open_disc(pc, path, format ? format : "raw", &img);
        if (e) return e;
        if (!(copy = str_dup(path))) {
            block_image_close(img);
            return err_nomem(&p->err, "a disc's file name");
        }
    }
    uint64_t n = img ? block_image_backend(img).nsectors : 0;
    uint8_t op = (uint8_t)((path ? MEDIA_INSERT : MEDIA_EJECT) | (force ? MEDIA_FORCE : 0));
    uint8_t ev[MEDIA_EVENT_LEN] = {op};
    for (int k = 0; k < 8; k++) ev[1 + k] = (uint8_t)(n >> (8 * k));
    /* a refusal is input too: it leaves the guest an eject request */
    int r = apply_media(pc, i, op, n);
    panda_err e = r < 0 ? PANDA_OK : rr_input_record(p, PANDA_INPUT_MEDIA, (uint8_t)i, ev, sizeof ev);
    if (r == 0) {
        set_disc(pc, i, img, copy);
    } else {
        if (img) block_image_close(img);
        free(copy);
    }
    if (r > 0)
        return panda_set_error(p, PANDA_ERR_STATE, "Device '%s' is locked and force was not specified, "
                               "wait for tray to open and try again", drive);
    if (r < 0) return panda_set_error(p, PANDA_ERR_ARG, "%s: the disc is too large", drive);
    return e;
}

static size_t pc_info_block(pc_machine *pc, char *out, size_t len)
{
    panda_t *p = pc->p;
    size_t n = 0;
    if (out && len) out[0] = 0;
    for (unsigned i = 0; i < PANDA_MAX_DRIVES; i++) {
        char name[16], line[1200];
        drive_name(pc, i, name, sizeof name);
        const struct panda_drive *d = &p->cfg.drive[i];
        ide_cd_status st;
        if (pc->cd[i].present && piix_ide_cd_status(pc->ide, (int)(i / 2), (int)(i % 2), &st)) {
            char what[1100];
            if (!st.media)
                snprintf(what, sizeof what, "[not inserted]");
            else if (pc->cd[i].path)
                snprintf(what, sizeof what, "%s (read-only)", pc->cd[i].path);
            else
                snprintf(what, sizeof what, "[a disc of %llu bytes from the recording]",
                         (unsigned long long)st.nsectors * 512);
            snprintf(line, sizeof line, "%s: %s\n    Removable device: %slocked, tray %s\n", name, what,
                     st.locked ? "" : "not ", st.tray_open ? "open" : "closed");
        } else if (pc->disk[i]) {
            if (d->file)
                snprintf(line, sizeof line, "%s: %s (%s, writes in an overlay)\n", name, d->file, d->format);
            else
                snprintf(line, sizeof line, "%s: [no image: %llu bytes]\n", name, (unsigned long long)d->size);
        } else {
            continue;
        }
        size_t w = strlen(line);
        if (out && n + w < len) memcpy(out + n, line, w + 1);
        n += w;
    }
    return n;
}

static panda_err open_disks(pc_machine *pc)
{
    panda_t *p = pc->p;
    static const char *const names[PANDA_MAX_DRIVES] = {"hda", "hdb", "hdc", "hdd"};
    bool any_cd = false;
    for (int i = 0; i < PANDA_MAX_DRIVES; i++) {
        const struct panda_drive *d = &p->cfg.drive[i];
        /* as on QEMU's pc machine: an empty CD-ROM drive as ide1-cd0 unless
         * that drive is taken or -nodefaults */
        if (d->cdrom || (i == 2 && !p->cfg.nodefaults && !d->file && !d->size)) {
            block_image *img = NULL;
            char *copy = NULL;
            if (d->file) {
                panda_err e = open_disc(pc, d->file, d->format, &img);
                if (e) {
                    discs_free(pc);
                    return e;
                }
                if (!(copy = str_dup(d->file))) {
                    block_image_close(img);
                    discs_free(pc);
                    return err_nomem(&p->err, "a disc's file name");
                }
            }
            pc->cd[i].present = true;
            set_disc(pc, i, img, copy);
            any_cd = true;
            continue;
        }
        if (!d->file && !d->size) continue;
        block_format fmt;
        if (d->file && !block_format_parse(d->format, &fmt))
            return panda_set_error(p, PANDA_ERR_OPTION, "%s: unknown disk format '%s'", names[i], d->format);
        panda_err e = d->file ? block_image_open(&p->err, d->file, fmt, &pc->disk[i])
                              : block_image_blank(&p->err, d->size, &pc->disk[i]);
        if (e) return e == PANDA_ERR_ARG ? PANDA_ERR_OPTION : e; /* a bad image file is a bad option */
        if (d->file && (e = check_partitions(pc, d->file, pc->disk[i]))) {
            block_image_close(pc->disk[i]);
            pc->disk[i] = NULL;
            return e;
        }
        char name[32];
        snprintf(name, sizeof(name), "%s.overlay", names[i]);
        e = attach(pc, &disk_overlay_ops, pc->disk[i], name, 0, 0, (bus_device){0});
        if (e) {
            pc->disk[i] = NULL; /* attach freed it */
            return e;
        }
    }
    return any_cd ? attach(pc, &discs_ops, pc, "cdrom-discs", 0, 0, (bus_device){0}) : PANDA_OK;
}

/* ---- the PCI chipset: i440FX host bridge, PIIX3 ISA bridge and IDE ---------- */

/* A PAM register changed.  Direct boot keeps RAM below 1 MiB whatever PAM
 * says (there is no ROM to shadow).  With firmware the windows are mapped
 * again before the next slice: the write was an OUT, which ends its block,
 * so the engine stops before another instruction runs, and no mapping
 * changes under the block that made the change. */
static void pam_changed(void *opaque, unsigned region, uint32_t base, uint32_t size, i440fx_pam_mode mode)
{
    (void)region;
    (void)base;
    (void)size;
    (void)mode;
    pc_machine *pc = opaque;
    if (!pc->firmware) return;
    pc->pam_pending = true;
    uc_emu_stop(pc->p->uc);
}

static void ide_transfer_hook(void *opaque, const ide_transfer *t)
{
    pc_machine *pc = opaque;
    panda_t *p = pc->p;
    uint64_t port = t->channel ? 0x170 : 0x1f0;
    switch (t->kind) {
    case IDE_DISK_TO_BUFFER:
        panda_dispatch_hd(p, false);
        if (p->rr_mode == RR_REPLAY)
            panda_dispatch_replay_hd_transfer(p, HD_TRANSFER_HD_TO_IOB, t->disk_offset, 0, t->len);
        break;
    case IDE_BUFFER_TO_DISK:
        panda_dispatch_hd(p, true);
        if (p->rr_mode == RR_REPLAY)
            panda_dispatch_replay_hd_transfer(p, HD_TRANSFER_IOB_TO_HD, 0, t->disk_offset, t->len);
        break;
    case IDE_BUFFER_TO_PORT:
        if (p->rr_mode == RR_REPLAY)
            panda_dispatch_replay_hd_transfer(p, HD_TRANSFER_IOB_TO_PORT, 0, port, t->len);
        break;
    case IDE_PORT_TO_BUFFER:
        if (p->rr_mode == RR_REPLAY)
            panda_dispatch_replay_hd_transfer(p, HD_TRANSFER_PORT_TO_IOB, port, 0, t->len);
        break;
    case IDE_DISK_TO_RAM:
        if (p->rr_mode == RR_REPLAY)
            panda_dispatch_replay_hd_transfer(p, HD_TRANSFER_HD_TO_RAM, t->disk_offset, t->guest_addr, t->len);
        break;
    case IDE_RAM_TO_DISK:
        if (p->rr_mode == RR_REPLAY)
            panda_dispatch_replay_hd_transfer(p, HD_TRANSFER_RAM_TO_HD, t->guest_addr, t->disk_offset, t->len);
        break;
    }
}

/* The bus-master block follows its BAR. */
static void bmdma_moved(void *opaque, uint32_t base)
{
    pc_machine *pc = opaque;
    if (pc->bmdma_base) io_bus_remove(&pc->bus, pc->bmdma_base);
    pc->bmdma_base = 0;
    if (base && !io_bus_add(&pc->bus, base, 16, piix_ide_bmdma_device(pc->ide))) pc->bmdma_base = base;
}

/* Disk reads are outside input (rr.c): logged when recording, taken from
 * the log when replaying; writes go to the overlay either way. */
static int disk_read(void *opaque, uint64_t sector, void *buf, uint32_t count)
{
    struct pc_disk *d = opaque;
    panda_t *p = d->pc->p;
    if (p->rr_mode == RR_REPLAY) return rr_disk_replay(p, d->drive, sector, buf, count);
    if (!d->image.read) return -1; /* a disc a snapshot or replay left, whose image is not here */
    int r = d->image.read(d->image.opaque, sector, buf, count);
    if (r == 0) rr_disk_record(p, d->drive, sector, buf, count);
    return r;
}

static int disk_write(void *opaque, uint64_t sector, const void *buf, uint32_t count)
{
    struct pc_disk *d = opaque;
    return d->image.write(d->image.opaque, sector, buf, count);
}

static int disk_flush(void *opaque)
{
    struct pc_disk *d = opaque;
    return d->image.flush ? d->image.flush(d->image.opaque) : 0;
}

static panda_err add_pci(pc_machine *pc, irq_line irq14, irq_line irq15)
{
    panda_t *p = pc->p;
    panda_err e;
    pci_bus_init(&pc->pci);
    pc->pci_host = pci_host_new(&pc->pci);
    if ((e = attach(pc, &pci_host_ops, pc->pci_host, "pci", 0xcf8, 4, pci_host_address_device(pc->pci_host))) ||
        (e = more_ports(pc, "pci", 0xcfc, 4, pci_host_data_device(pc->pci_host))))
        return e;
    pc->host_bridge = i440fx_new((i440fx_hooks){.opaque = pc, .pam_changed = pam_changed});
    if ((e = attach(pc, &i440fx_ops, pc->host_bridge, "i440fx", 0, 0, (bus_device){0})))
        return e;
    pc->isa_bridge = piix3_new((irq_line){pic8259_set_irq, pc->pic, 0});
    if ((e = attach(pc, &piix3_ops, pc->isa_bridge, "piix3", 0, 0, (bus_device){0})))
        return e;
    ide_config ic = {.irq = {irq14, irq15}, .dma = pc->env.dma,
                     .hooks = {.opaque = pc, .transfer = ide_transfer_hook, .bmdma_moved = bmdma_moved},
                     /* with firmware the IDE function starts as QEMU's does, and
                      * SeaBIOS sets it up */
                     .direct_boot_bmdma = pc->firmware ? 0 : BMDMA_DIRECT_BOOT};
    for (int i = 0; i < PANDA_MAX_DRIVES; i++) {
        if (pc->cd[i].present) { /* read-only; its image follows the disc (set_disc) */
            struct pc_disk *d = &pc->disk_io[i];
            drive_name(pc, (unsigned)i, pc->cd[i].name, sizeof pc->cd[i].name);
            d->pc = pc;
            d->drive = (uint8_t)i;
            pc->disk_backend[i] = (block_backend){.opaque = d, .nsectors = d->image.nsectors, .read_only = true,
                                                  .read = disk_read};
            ic.disk[i / 2][i % 2] = &pc->disk_backend[i];
            ic.cdrom[i / 2][i % 2] = true;
            pc->cd[i].media = (panda_input_channel){.kind = PANDA_INPUT_MEDIA, .index = (uint8_t)i,
                                                    .name = pc->cd[i].name, .room = media_room,
                                                    .deliver = media_deliver, .dev = d, .source = &p->console};
            if ((e = panda_add_channel(p, &pc->cd[i].media))) return e;
        }
        if (pc->disk[i]) {
            struct pc_disk *d = &pc->disk_io[i];
            d->pc = pc;
            d->drive = (uint8_t)i;
            d->image = block_image_backend(pc->disk[i]);
            pc->disk_backend[i] = (block_backend){.opaque = d, .nsectors = d->image.nsectors,
                                                  .read_only = d->image.read_only, .read = disk_read,
                                                  .write = disk_write, .flush = disk_flush};
            ic.disk[i / 2][i % 2] = &pc->disk_backend[i];
        }
    }
    pc->ide = piix_ide_new(&ic);
    if (!pc->ide) return panda_set_error(p, PANDA_ERR_OPTION, "a disk is too large for the IDE controller (LBA48)");
    if ((e = attach(pc, &piix_ide_ops, pc->ide, "ide", 0x1f0, 8, piix_ide_cmd_device(pc->ide, 0))) ||
        (e = more_ports(pc, "ide", 0x3f6, 1, piix_ide_ctl_device(pc->ide, 0))) ||
        (e = more_ports(pc, "ide", 0x170, 8, piix_ide_cmd_device(pc->ide, 1))) ||
        (e = more_ports(pc, "ide", 0x376, 1, piix_ide_ctl_device(pc->ide, 1))))
        return e;
    bmdma_moved(pc, piix_ide_bmdma_base(pc->ide));
    if (pci_bus_add(&pc->pci, PCI_DEVFN(0, 0), i440fx_config_device(pc->host_bridge)) ||
        pci_bus_add(&pc->pci, PCI_DEVFN(1, 0), piix3_config_device(pc->isa_bridge)) ||
        pci_bus_add(&pc->pci, PCI_DEVFN(1, 1), piix_ide_config_device(pc->ide)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "PCI functions overlap");
    return PANDA_OK;
}

static panda_err add_devices(pc_machine *pc)
{
    panda_t *p = pc->p;
    panda_err e;
    io_bus_init(&pc->bus);
    pc->env = (device_env){.dma = {pc, dma_from_ram, dma_to_ram}, .now = vtime_cb, .now_opaque = pc};
    pc->pic = pic8259_new((irq_line){cpu_intr, pc, 0});
    if ((e = attach(pc, &pic8259_ops, pc->pic, "pic", 0x20, 2, pic8259_master_device(pc->pic))) ||
        (e = more_ports(pc, "pic", 0xa0, 2, pic8259_slave_device(pc->pic))) ||
        (e = more_ports(pc, "pic", 0x4d0, 2, pic8259_elcr_device(pc->pic))))
        return e;
    irq_line irq0 = {pic8259_set_irq, pc->pic, 0}, irq1 = {pic8259_set_irq, pc->pic, 1};
    irq_line irq4 = {pic8259_set_irq, pc->pic, 4}, irq8 = {pic8259_set_irq, pc->pic, 8};
    irq_line irq14 = {pic8259_set_irq, pc->pic, 14}, irq15 = {pic8259_set_irq, pc->pic, 15};

    pc->pit = pit8254_new(irq0, vtime_cb, pc);
    if ((e = attach(pc, &pit8254_ops, pc->pit, "pit", 0x40, 4, pit8254_device(pc->pit))) ||
        (e = more_ports(pc, "pit", 0x61, 1, pit8254_port61_device(pc->pit))))
        return e;
    uint32_t ext_kb = pc->ram_size > 0x100000 ? (uint32_t)((pc->ram_size - 0x100000) >> 10) : 0;
    pc->rtc = mc146818_new(irq8, vtime_cb, pc, p->cfg.rtc_base, ext_kb);
    if ((e = attach(pc, &mc146818_ops, pc->rtc, "rtc", 0x70, 2, mc146818_device(pc->rtc))))
        return e;
    uart16550_hooks uh = {.opaque = pc, .tx = uart_tx, .rx_fifo_push = uart_rx_push,
                          .rx_read = uart_rx_read, .tx_write = uart_tx_write};
    pc->uart = uart16550_new(irq4, COM1, uh);
    if ((e = attach(pc, &uart16550_ops, pc->uart, "com1", COM1, 8, uart16550_device(pc->uart))))
        return e;
    pc->kbc = i8042_new(irq1, kbc_reset, pc);
    if ((e = attach(pc, &i8042_ops, pc->kbc, "kbc", 0x60, 1, i8042_data_device(pc->kbc))) ||
        (e = more_ports(pc, "kbc", 0x64, 1, i8042_status_device(pc->kbc))))
        return e;
    if ((e = open_disks(pc)) || (e = add_pci(pc, irq14, irq15))) return e;
    port80 *p80 = port80_new();
    if ((e = attach(pc, &port80_ops, p80, "port80", 0x80, 1, p80 ? port80_device(p80) : (bus_device){0})))
        return e;
#define ATTACH_PORT_DEVICE(type, name, base, len)                                     \
    {                                                                                 \
        type *dev = type##_create(&pc->env);                                          \
        if ((e = attach(pc, &type##_ops, dev, name, base, len,                        \
                        dev ? type##_device(dev) : (bus_device){0})))                 \
            return e;                                                                 \
    }
    PC_PORT_DEVICES(ATTACH_PORT_DEVICE)
#undef ATTACH_PORT_DEVICE

    pc->com1 = (panda_input_channel){.kind = PANDA_INPUT_SERIAL, .index = 0, .name = "com1",
                                     .room = com1_room, .deliver = com1_deliver, .dev = pc->uart,
                                     .source = &p->console};
    return panda_add_channel(p, &pc->com1);
}

static void pc_destroy(pc_machine *pc)
{
    if (!pc) return;
    for (size_t i = 0; i < pc->ndevices; i++) pc->devices[i].ops->free(pc->devices[i].dev);
    mmio_bus_free(&pc->mmio);
    if (pc->ram) munmap(pc->ram, pc->ram_size);
    free(pc->rom);
    free(pc);
}

/* The BIOS image is machine state for snapshots and recordings: a replay
 * runs the ROM it was recorded with, whatever file it was given. */
static void bios_save(const void *dev, state_writer *w)
{
    const pc_machine *pc = dev;
    sw_u32(w, pc->rom_size);
    sw_bytes(w, pc->rom, pc->rom_size);
}

static void bios_load(void *dev, state_reader *r, uint32_t version)
{
    pc_machine *pc = dev;
    if (!sr_version(r, "bios-rom", version, 1)) return;
    uint32_t size = sr_u32(r);
    if (!r->failed && size != pc->rom_size) {
        sr_fail(r, "the snapshot's BIOS ROM is %u bytes, this machine's %u", size, pc->rom_size);
        return;
    }
    /* read into a copy: on failure the ROM stays as it was */
    uint8_t *copy = malloc(size);
    if (!copy) {
        sr_fail(r, "no memory for the BIOS ROM");
        return;
    }
    sr_bytes(r, copy, size);
    if (!r->failed) memcpy(pc->rom, copy, size);
    free(copy);
}

static void bios_free(void *dev) { (void)dev; } /* the machine frees its ROM */

static const panda_device_ops bios_ops = {
    .type = "bios-rom", .state_version = 1, .save = bios_save, .load = bios_load, .free = bios_free,
};

/* Power-on: the CPU at its reset vector, in the ROM. */
static panda_err power_on(pc_machine *pc)
{
    uc_err ue = uc_panda_cpu_power_on(pc->p->uc);
    if (ue) return panda_set_error(pc->p, PANDA_ERR_ENGINE, "resetting the CPU: %s", uc_strerror(ue));
    return PANDA_OK;
}

static panda_err boot(pc_machine *pc)
{
    panda_t *p = pc->p;
    if (pc->firmware) return power_on(pc);
    boot_linux_params bp = {.ram = pc->ram, .ram_size = pc->ram_size, .kernel = p->cfg.kernel,
                            .initrd = p->cfg.initrd, .append = p->cfg.append};
    uint64_t entry;
    panda_err e = boot_linux_load(&bp, &p->err, &entry);
    if (e) return e;
    uc_err ue = panda_arch.set_entry(p->uc, entry);
    if (ue) return panda_set_error(p, PANDA_ERR_ENGINE, "setting the boot entry: %s", uc_strerror(ue));
    return PANDA_OK;
}

static panda_err pc_create(panda_t *p, pc_machine **out)
{
    if (!p->cfg.kernel && !p->cfg.bios)
        return panda_set_error(p, PANDA_ERR_OPTION,
            "the pc machine boots firmware or a kernel: give -bios ROM (Debian's SeaBIOS, "
            "/usr/share/seabios/bios-256k.bin; pypanda fetches it) or -kernel BZIMAGE (and -initrd, -append)");
    if (p->cfg.kernel && p->cfg.bios)
        return panda_set_error(p, PANDA_ERR_OPTION,
            "-kernel boots Linux directly, without firmware: give -bios or -kernel, not both");
    pc_machine *pc = calloc(1, sizeof(*pc));
    if (!pc) return err_nomem(&p->err, "the pc machine");
    pc->p = p;
    pc->ram_size = p->cfg.ram_size;
    pc->firmware = p->cfg.bios != NULL;
    mmio_bus_init(&pc->mmio);
    *out = pc; /* destroyed by the caller on failure too */
    /* A testing knob: results must not depend on how a run is sliced. */
    const char *slice = getenv("PYPANDA_MAX_SLICE");
    pc->max_slice = slice && strtoull(slice, NULL, 10) ? strtoull(slice, NULL, 10) : MAX_SLICE;

    /* RAM is ours (the engine maps it), so snapshots read and write it
     * directly; anonymous memory is zero and costs nothing until touched. */
    pc->ram = mmap(NULL, pc->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pc->ram == MAP_FAILED) {
        pc->ram = NULL;
        return panda_set_error(p, PANDA_ERR_NOMEM, "cannot allocate %llu MiB of guest RAM",
                               (unsigned long long)(pc->ram_size >> 20));
    }
    uc_err ue;
    panda_err e;
    if (pc->firmware) {
        if ((e = load_bios(pc)) || (e = map_firmware_memory(pc))) return e;
    } else {
        ue = uc_mem_map_ptr(p->uc, 0, pc->ram_size, UC_PROT_ALL, pc->ram);
        if (ue) return panda_set_error(p, PANDA_ERR_ENGINE, "mapping RAM: %s", uc_strerror(ue));
        /* Physical addresses above RAM read as open bus, counted, never fatal. */
        uint64_t top = 1ull << 32;
        if (pc->ram_size < top) {
            ue = uc_mmio_map(p->uc, pc->ram_size, top - pc->ram_size, mmio_read, pc, mmio_write, pc);
            if (ue) return panda_set_error(p, PANDA_ERR_ENGINE, "mapping the MMIO hole: %s", uc_strerror(ue));
        }
    }
    p->mapped_bytes = pc->ram_size;
    if ((e = add_devices(pc))) return e;
    if (pc->firmware) {
        if ((e = attach(pc, &bios_ops, pc, "bios", 0, 0, (bus_device){0})) ||
            (e = add_firmware_devices(pc)) || (e = map_windows(pc)))
            return e;
    }
    pc->port_io = (arch_port_io){.in = port_in, .out = port_out, .opaque = pc};
    if ((ue = panda_arch.install_port_io(p->uc, &pc->port_io)) ||
        (ue = uc_panda_set_system_mode(p->uc, true)) || (ue = uc_panda_set_icount_mode(p->uc, true)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "setting up the pc machine: %s", uc_strerror(ue));
    return boot(pc);
}

/* A `rep insw` from an IDE data port takes the device's buffer at once
 * (engine patch 0022): what SeaBIOS and GRUB read from disks all goes this
 * way.  Other ports, and 4-byte units (the device moves 2-byte words),
 * run element by element. */
static uint32_t string_in(void *opaque, uint32_t port, uint32_t size, uint32_t count, void *buf)
{
    panda_t *p = opaque;
    pc_machine *pc = p->machine;
    int channel = port == 0x1f0 ? 0 : port == 0x170 ? 1 : -1;
    if (channel < 0 || size != 2) return 0;
    return (uint32_t)(piix_ide_data_in(pc->ide, channel, buf, (size_t)count * 2) / 2);
}

static void pc_engine_hooks(pc_machine *pc, uc_panda_hooks *h)
{
    (void)pc;
    h->irq_ack = irq_ack;
    h->string_in = string_in;
    h->tsc = tsc_cb;
    /* this machine has no local APIC, and Linux must not look for one */
    h->cpuid = panda_arch.hide_local_apic;
}

static panda_vtime next_deadline(pc_machine *pc)
{
    panda_vtime t = PANDA_VTIME_NEVER;
    for (size_t i = 0; i < pc->ndevices; i++) {
        const panda_device *d = &pc->devices[i];
        if (d->ops->next_deadline) {
            panda_vtime dt = d->ops->next_deadline(d->dev);
            if (dt < t) t = dt;
        }
    }
    return t;
}

static uint64_t pc_before_slice(pc_machine *pc)
{
    /* a failure leaves the old mapping; the error is the instance's */
    if (pc->pam_pending) map_windows(pc);
    panda_vtime now = pc_vtime(pc);
    for (size_t i = 0; i < pc->ndevices; i++) {
        const panda_device *d = &pc->devices[i];
        if (d->ops->run_until) d->ops->run_until(d->dev, now);
    }
    panda_vtime deadline = next_deadline(pc);
    uint64_t budget = deadline == PANDA_VTIME_NEVER ? pc->max_slice
                      : deadline <= now ? 1 : deadline - now;
    return budget > pc->max_slice ? pc->max_slice : budget;
}

/* The engine as the devices' state says, after a snapshot load or a reset
 * changed that state without the devices' hooks: what is below 1 MiB (the
 * i440FX's PAM registers), where the IDE's bus-master block is (its BAR; a
 * firmware boot's was 0 when the machine was made) and the CPU's interrupt
 * input (the PIC: devices set state without driving their lines). */
static panda_err follow_devices(pc_machine *pc)
{
    panda_err e = pc->firmware ? map_windows(pc) : PANDA_OK;
    bmdma_moved(pc, piix_ide_bmdma_base(pc->ide));
    uc_err ue = uc_panda_set_irq(pc->p->uc, pic8259_intr_level(pc->pic) != 0);
    if (!e && ue)
        e = panda_set_error(pc->p, PANDA_ERR_ENGINE, "setting the interrupt line: %s", uc_strerror(ue));
    return e;
}

/* A reset with firmware, as on QEMU's pc: every device but the disks'
 * overlays back to power-on (RAM keeps its contents), the PAM windows to
 * ROM, the CPU to its reset vector in the BIOS. */
static panda_err machine_reset(pc_machine *pc)
{
    for (size_t i = 0; i < pc->ndevices; i++) {
        const panda_device *d = &pc->devices[i];
        if (d->ops->reset) d->ops->reset(d->dev);
    }
    pc->reset_requested = false;
    panda_err e = follow_devices(pc);
    return e ? e : power_on(pc);
}

static slice_result pc_after_slice(pc_machine *pc, bool interrupted)
{
    (void)interrupted;
    panda_t *p = pc->p;
    if (pc->reset_requested && pc->firmware && !p->cfg.no_reboot) {
        if (machine_reset(pc)) return SLICE_ERROR;
        return SLICE_CONTINUE;
    }
    if (pc->reset_requested) {
        snprintf(pc->stop_reason, sizeof(pc->stop_reason), "the guest reset the machine");
        return SLICE_GUEST_RESET;
    }
    if (pc->boot_failed) {
        snprintf(pc->stop_reason, sizeof(pc->stop_reason),
                 "the BIOS found no bootable device (it said \"%s\"; panda.bios_log has the rest)",
                 NO_BOOT_DEVICE);
        return SLICE_BOOT_FAILED;
    }
    if (!uc_panda_halted(p->uc)) return SLICE_CONTINUE;
    if (!panda_arch.interrupts_enabled(p->uc)) {
        snprintf(pc->stop_reason, sizeof(pc->stop_reason),
                 "the guest halted with interrupts disabled (powered off) at pc 0x%llx",
                 (unsigned long long)panda_current_pc(&p->cpu));
        return SLICE_GUEST_OFF;
    }
    return SLICE_IDLE;
}

static void pc_idle_until(pc_machine *pc, panda_vtime t)
{
    panda_vtime now = pc_vtime(pc);
    if (t > now) pc->idle_ns += t - now;
}

static const char *pc_stop_reason(pc_machine *pc) { return pc->stop_reason; }

static const char *pc_firmware_log(pc_machine *pc, size_t *len)
{
    return debugcon_log(pc->bios_log, len);
}

static panda_err pc_commit_disk(pc_machine *pc, unsigned drive, const char *path)
{
    panda_t *p = pc->p;
    if (drive >= PANDA_MAX_DRIVES || !pc->disk[drive])
        return panda_set_error(p, PANDA_ERR_ARG, "there is no disk at IDE drive %u", drive);
    return block_commit(&p->err, pc->disk[drive], path);
}

static bool pc_cb_fires(pc_machine *pc, panda_cb_type type)
{
    (void)pc;
    switch (type) {
    case PANDA_CB_HD_READ: case PANDA_CB_HD_WRITE: case PANDA_CB_REPLAY_HD_TRANSFER:
    case PANDA_CB_REPLAY_BEFORE_DMA: case PANDA_CB_REPLAY_AFTER_DMA:
    case PANDA_CB_MONITOR: case PANDA_CB_BEFORE_LOADVM: case PANDA_CB_AFTER_LOADVM:
    case PANDA_CB_REPLAY_SERIAL_RECEIVE: case PANDA_CB_REPLAY_SERIAL_READ:
    case PANDA_CB_REPLAY_SERIAL_SEND: case PANDA_CB_REPLAY_SERIAL_WRITE:
    case PANDA_CB_UNASSIGNED_IO_READ: case PANDA_CB_UNASSIGNED_IO_WRITE:
    case PANDA_CB_MMIO_AFTER_READ: case PANDA_CB_MMIO_BEFORE_WRITE:
        return true;
    default:
        return false;
    }
}

static uint64_t pc_open_bus_count(pc_machine *pc)
{
    return pc->bus.unclaimed_reads + pc->bus.unclaimed_writes + pc->mmio.unclaimed_reads +
           pc->mmio.unclaimed_writes + pc->window_open_bus;
}

/* ---- snapshots ----------------------------------------------------------- */

static uint8_t *pc_ram(pc_machine *pc, uint64_t *size)
{
    *size = pc->ram_size;
    return pc->ram;
}

static panda_device *pc_devices(pc_machine *pc, size_t *n)
{
    *n = pc->ndevices;
    return pc->devices;
}

static void pc_save_clock(pc_machine *pc, state_writer *w) { sw_u64(w, pc->idle_ns); }

static void pc_load_clock(pc_machine *pc, state_reader *r)
{
    uint64_t idle = sr_u64(r);
    if (sr_done(r)) pc->idle_ns = idle;
}

static void pc_loaded(pc_machine *pc)
{
    pc->reset_requested = false;
    pc->boot_failed = false;
    pc->stop_reason[0] = 0;
    /* (the CPU's loaded state carries its A20 gate); a failure is the
     * instance's error */
    follow_devices(pc);
}

const panda_machine_ops machine_pc_ops = {
    .name = "pc",
    .summary = "a PC (i440FX, PIIX3 IDE, 8259 PICs, 8254 PIT, MC146818 RTC, 16550A on COM1, i8042) "
               "booting a BIOS or Linux directly",
    .default_cpu = "qemu32",
    .takes_kernel = true,
    .errors_end_guest = true,
    .unhandled_exception = "the guest triple-faulted (a fault while delivering a double fault)",
    .create = pc_create,
    .destroy = pc_destroy,
    .engine_hooks = pc_engine_hooks,
    .before_slice = pc_before_slice,
    .after_slice = pc_after_slice,
    .vtime = pc_vtime,
    .next_deadline = next_deadline,
    .idle_until = pc_idle_until,
    .stop_reason = pc_stop_reason,
    .firmware_log = pc_firmware_log,
    .commit_disk = pc_commit_disk,
    .change_media = pc_change_media,
    .info_block = pc_info_block,
    .cb_fires = pc_cb_fires,
    .open_bus_count = pc_open_bus_count,
    .ram = pc_ram,
    .devices = pc_devices,
    .save_clock = pc_save_clock,
    .load_clock = pc_load_clock,
    .loaded = pc_loaded,
};
