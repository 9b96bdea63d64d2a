/*
 * Private helper for the PCI functions (i440fx, piix3, the PIIX IDE): a
 * 256-byte configuration space with a write mask, as PCI functions have
 * (not part of the machine's device interface).
 *
 * Bits outside the write mask are read-only: they hold what the function
 * was built with, and a loaded state must hold them too
 * (pci_regs_load_checked), so a snapshot cannot change a device's IDs or
 * class.  The status register's error bits are write-one-to-clear; these
 * functions never set them, so they are read-only zero here.
 */
#ifndef PANDA_DEVICES_PCI_REGS_H
#define PANDA_DEVICES_PCI_REGS_H

#include <stdint.h>

#include "state.h"

#define PCI_REG_VENDOR 0x00
#define PCI_REG_DEVICE 0x02
#define PCI_REG_COMMAND 0x04
#define PCI_REG_STATUS 0x06
#define PCI_REG_REVISION 0x08
#define PCI_REG_PROG_IF 0x09
#define PCI_REG_HEADER_TYPE 0x0e
#define PCI_REG_BAR0 0x10
#define PCI_REG_INTERRUPT_LINE 0x3c
#define PCI_REG_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004

typedef struct pci_regs {
    uint8_t b[256];
    uint8_t wmask[256]; /* the bits a configuration write changes */
} pci_regs;

/* A type-0 header with the IDs and class (class << 8 | prog-if in
 * class24), a command and status at their reset values, and QEMU's write
 * masks: command I/O, memory, bus master, SERR and INTx disable; cache line
 * size and interrupt line; every device-specific byte 0x40-0xFF. */
void pci_regs_header(pci_regs *c, uint16_t vendor, uint16_t device, uint8_t revision,
                     uint32_t class24, uint8_t header_type, uint16_t command, uint16_t status);

static inline uint16_t pci_regs_w16(const pci_regs *c, unsigned reg)
{
    return (uint16_t)(c->b[reg & 0xff] | c->b[(reg + 1) & 0xff] << 8);
}

static inline uint32_t pci_regs_w32(const pci_regs *c, unsigned reg)
{
    return pci_regs_w16(c, reg) | (uint32_t)pci_regs_w16(c, reg + 2) << 16;
}

/* Set a value and its write mask (little-endian, n bytes). */
void pci_regs_set(pci_regs *c, unsigned reg, uint32_t value, uint32_t wmask, unsigned n);

/* A bus_device access (pci_config_read/write have checked it; a direct
 * caller's bytes past 0xFF read 0xFF and are dropped). */
uint32_t pci_regs_read(const pci_regs *c, uint32_t reg, unsigned size);
void pci_regs_write(pci_regs *c, uint32_t reg, uint32_t value, unsigned size);

void pci_regs_save(const pci_regs *c, state_writer *w);
/* Read 256 bytes into c->b, refusing (naming `type`) a byte whose
 * read-only bits differ from c's own (c holds the device as built). */
void pci_regs_load_checked(pci_regs *c, state_reader *r, const char *type);

#endif
