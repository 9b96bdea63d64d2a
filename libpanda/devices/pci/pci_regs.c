/* A PCI function's configuration space (pci_regs.h). */
#include "pci/pci_regs.h"

#include <string.h>

void pci_regs_set(pci_regs *c, unsigned reg, uint32_t value, uint32_t wmask, unsigned n)
{
    for (unsigned i = 0; i < n && reg + i < 256; i++) {
        c->b[reg + i] = (uint8_t)(value >> (8 * i));
        c->wmask[reg + i] = (uint8_t)(wmask >> (8 * i));
    }
}

void pci_regs_header(pci_regs *c, uint16_t vendor, uint16_t device, uint8_t revision,
                     uint32_t class24, uint8_t header_type, uint16_t command, uint16_t status)
{
    memset(c, 0, sizeof *c);
    pci_regs_set(c, PCI_REG_VENDOR, vendor, 0, 2);
    pci_regs_set(c, PCI_REG_DEVICE, device, 0, 2);
    pci_regs_set(c, PCI_REG_COMMAND, command, 0x0507, 2);
    pci_regs_set(c, PCI_REG_STATUS, status, 0, 2);
    pci_regs_set(c, PCI_REG_REVISION, revision, 0, 1);
    pci_regs_set(c, PCI_REG_PROG_IF, class24, 0, 3);
    pci_regs_set(c, 0x0c, 0, 0xff, 1); /* cache line size */
    pci_regs_set(c, PCI_REG_HEADER_TYPE, header_type, 0, 1);
    pci_regs_set(c, PCI_REG_INTERRUPT_LINE, 0, 0xff, 1);
    memset(c->wmask + 0x40, 0xff, 256 - 0x40);
}

uint32_t pci_regs_read(const pci_regs *c, uint32_t reg, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size && i < 4; i++) {
        uint32_t b = reg < 256 && i < 256 - reg ? c->b[reg + i] : 0xff;
        v |= b << (8 * i);
    }
    return v;
}

void pci_regs_write(pci_regs *c, uint32_t reg, uint32_t value, unsigned size)
{
    for (unsigned i = 0; i < size && i < 4; i++) {
        if (reg >= 256 || i >= 256 - reg) break;
        uint8_t m = c->wmask[reg + i], v = (uint8_t)(value >> (8 * i));
        c->b[reg + i] = (uint8_t)((c->b[reg + i] & ~m) | (v & m));
    }
}

void pci_regs_save(const pci_regs *c, state_writer *w)
{
    sw_bytes(w, c->b, sizeof c->b);
}

void pci_regs_load_checked(pci_regs *c, state_reader *r, const char *type)
{
    uint8_t b[256];
    sr_bytes(r, b, sizeof b);
    if (r->failed) return;
    for (unsigned i = 0; i < 256; i++) {
        if ((b[i] ^ c->b[i]) & ~c->wmask[i]) {
            sr_fail(r, "%s config byte 0x%02x holds 0x%02x: read-only bits differ from 0x%02x", type,
                    i, b[i], c->b[i]);
            return;
        }
    }
    memcpy(c->b, b, sizeof b);
}
