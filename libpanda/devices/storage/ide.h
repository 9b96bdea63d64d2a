/*
 * The PIIX3 IDE function (00:01.1, 8086:7010, class 0101 prog-if 0x80:
 * both channels in legacy mode, bus-master capable) with its two ATA
 * channels and the disks on them.
 *
 * Wiring (the machine's):
 *   channel 0: command block 0x1F0-0x1F7 (8 ports, piix_ide_cmd_device),
 *              control 0x3F6 (1 port, piix_ide_ctl_device), ISA IRQ14;
 *   channel 1: 0x170-0x177, 0x376, ISA IRQ15;
 *   configuration space at PCI_DEVFN(1, 1) (piix_ide_config_device);
 *   bus-master registers: 16 ports wherever BAR4 says
 *   (piix_ide_bmdma_device, offsets 0-7 channel 0, 8-15 channel 1).
 *   The legacy ports always decode (as in QEMU; the IDETIM decode bit is
 *   stored only).  The bus-master block answers open bus while the
 *   function's I/O decode (command bit 0) is off; piix_ide_bmdma_base
 *   says where it is, and hooks.bmdma_moved tells the machine when a
 *   configuration write or reset moves it.
 *
 * A drive may be an ATAPI CD-ROM drive (ide_config.cdrom): the PACKET
 * command carries atapi.h's commands, PIO (each DRQ at most the byte count
 * limit the host put in the cylinder registers, the interrupt reason in
 * the sector count) or DMA (features bit 0) through the bus master.  The
 * disc's size is the drive's state (piix_ide_cd_change, or a loaded
 * state): its backend is asked for that disc's blocks, and must fail a
 * read past the image it holds (a snapshot of another disc).
 *
 * String I/O: the data port answers 2- and 4-byte accesses from a buffer
 * holding the current DRQ block (up to 16 sectors), so each `insw`
 * element is one buffer read.  A machine that sees a whole `rep insw` /
 * `rep outsw` (e.g. by hooking the string instruction) can move the
 * block at once with piix_ide_data_in/out: they behave exactly as that
 * many 16-bit data-port accesses would.
 */
#ifndef PANDA_DEVICES_STORAGE_IDE_H
#define PANDA_DEVICES_STORAGE_IDE_H

#include "device.h"
#include "storage/block.h"

typedef struct piix_ide piix_ide;

/* What moved, in PANDA's terms (its Hd_transfer_type): the device's buffer
 * is PANDA's "IOB". */
typedef enum ide_transfer_kind {
    IDE_DISK_TO_BUFFER,  /* sectors read from the disk (PIO or DMA) */
    IDE_BUFFER_TO_DISK,  /* sectors written to the disk */
    IDE_BUFFER_TO_PORT,  /* PIO: a DRQ block the guest read through the data port */
    IDE_PORT_TO_BUFFER,  /* PIO: a DRQ block the guest wrote */
    IDE_DISK_TO_RAM,     /* DMA: one PRD element's share of a read */
    IDE_RAM_TO_DISK,     /* DMA: one PRD element's share of a write */
} ide_transfer_kind;

typedef struct ide_transfer {
    ide_transfer_kind kind;
    int channel, unit;
    bool dma;                /* the command is a DMA one */
    uint64_t disk_offset;    /* bytes from the start of the disk */
    uint32_t len;            /* bytes */
    uint64_t guest_addr;     /* *_RAM kinds: guest-physical address of this piece */
    /* the bytes (valid during the call; for a dma_before of
     * IDE_RAM_TO_DISK, where they will land, not yet filled) */
    const uint8_t *data;
} ide_transfer;

typedef struct ide_hooks {
    void *opaque;
    /* every movement of sector data, after it succeeded (the machine fires
     * hd_read/hd_write and replay_hd_transfer, and replay_after_dma for
     * the *_RAM kinds) */
    void (*transfer)(void *opaque, const ide_transfer *t);
    /* *_RAM kinds, before the dma_port copy (replay_before_dma) */
    void (*dma_before)(void *opaque, const ide_transfer *t);
    /* the bus-master block's port base changed (0: not decoded) */
    void (*bmdma_moved)(void *opaque, uint32_t base);
} ide_hooks;

typedef struct ide_config {
    /* [channel][unit]: a disk (copied), or NULL for no device */
    const block_backend *disk[2][2];
    irq_line irq[2];        /* channel 0 -> IRQ14, channel 1 -> IRQ15 */
    dma_port dma;           /* guest RAM, for PRD tables and data */
    ide_hooks hooks;        /* any may be NULL */
    /* 0: the reset state QEMU has (command 0, BAR4 unassigned, IDETIM 0),
     * for a machine with firmware, which sets it up.  Otherwise direct
     * boot: the state SeaBIOS leaves, with BAR4 at this port (16-aligned,
     * e.g. 0xC000), I/O decode and bus mastering on, IDETIM 0x8000 on both
     * channels (ata_piix needs bit 7 of 0x41/0x43).  reset returns here. */
    uint16_t direct_boot_bmdma;
    /* [channel][unit]: that drive is an ATAPI CD-ROM drive (atapi.h); its
     * disk is the reader of the disc inserted at power on (nsectors 0: the
     * drive is empty), read-only */
    bool cdrom[2][2];
} ide_config;

#define IDE_MAX_MULT 16     /* sectors per DRQ block for READ/WRITE MULTIPLE */

/* NULL if a disk is larger than LBA48 addresses (2^48 sectors), a disk has
 * no read function, or direct_boot_bmdma is not 16-aligned. */
piix_ide *piix_ide_new(const ide_config *cfg);
void piix_ide_free(piix_ide *ide);
/* Power-on state (disks as after a reset, configuration as created); the
 * lines are lowered. */
void piix_ide_reset(piix_ide *ide);

bus_device piix_ide_cmd_device(piix_ide *ide, int channel);
bus_device piix_ide_ctl_device(piix_ide *ide, int channel);
bus_device piix_ide_bmdma_device(piix_ide *ide);
bus_device piix_ide_config_device(piix_ide *ide);
/* BAR4's port while the function decodes I/O, else 0 */
uint32_t piix_ide_bmdma_base(const piix_ide *ide);
/* the level the device drives channel's line at (after a load: set the
 * PIC input from it if the PIC's own state is not restored with it) */
int piix_ide_irq_level(const piix_ide *ide, int channel);

/* Bulk data-port transfer: up to len bytes (rounded down to even), as
 * len/2 16-bit accesses would; returns how many bytes moved (stops where
 * the device stops asserting DRQ for that direction). */
size_t piix_ide_data_in(piix_ide *ide, int channel, void *buf, size_t len);
size_t piix_ide_data_out(piix_ide *ide, int channel, const void *buf, size_t len);

uint64_t piix_ide_unmodelled(const piix_ide *ide);

/* CD-ROM drives, from the host (a monitor's change and eject). */
typedef struct ide_cd_status {
    bool media, locked, tray_open;
    uint64_t nsectors;        /* the disc's size in 512-byte sectors (whole 2048-byte blocks) */
} ide_cd_status;
/* false: no CD-ROM drive there */
bool piix_ide_cd_status(const piix_ide *ide, int channel, int unit, ide_cd_status *st);
/* Insert a disc of nsectors (its reads go to the drive's backend's read),
 * or remove it (nsectors 0).  0 done; 1 refused: the guest locked the
 * tray and force is not set (the guest is then asked to eject); -1 no
 * CD-ROM drive there or a disc too large. */
int piix_ide_cd_change(piix_ide *ide, int channel, int unit, uint64_t nsectors, bool force);

/* type "piix_ide"; state: the configuration space, each channel's task
 * files, transfer in progress with its buffer, and bus-master registers */
extern const panda_device_ops piix_ide_ops;

#endif
