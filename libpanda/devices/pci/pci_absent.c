/*
 * PCI configuration mechanism #1 with no bus behind it.
 *
 * 0xCF8-0xCFB: the CONFIG_ADDRESS register.  Any 1/2/4-byte access at any
 * offset reads or writes the corresponding bytes of one 32-bit register,
 * which reads back exactly what was written (on a real chipset only dword
 * accesses reach CONFIG_ADDRESS and byte accesses to 0xCF9 are the reset
 * control register; no reset is modelled).  Bytes past 0xCFB are dropped
 * on write and read 0xFF.
 *
 * 0xCFC-0xCFF: CONFIG_DATA.  Every read answers "no device", all ones of
 * the access size (Linux's 16-bit vendor-ID read after CONFIG_ADDRESS
 * 0x80001000 gets 0xFFFF); every write is dropped.  Both are counted.
 */
#include "pci/pci_absent.h"

#include <stdlib.h>

#include "bytewise.h"

struct pci_absent {
    uint32_t address;
    uint64_t data_reads, data_writes;
    uint64_t unmodelled;
};

static uint8_t addr_rd(void *opaque, uint32_t offset)
{
    pci_absent *pci = opaque;
    return (uint8_t)(pci->address >> (8 * offset));
}

static void addr_wr(void *opaque, uint32_t offset, uint8_t val)
{
    pci_absent *pci = opaque;
    uint32_t shift = 8 * offset;
    pci->address = (pci->address & ~(0xFFu << shift)) | ((uint32_t)val << shift);
}

static uint32_t addr_read(void *opaque, uint32_t offset, unsigned size)
{
    pci_absent *pci = opaque;
    return bytewise_read(opaque, offset, size, 4, addr_rd, &pci->unmodelled);
}

static void addr_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    pci_absent *pci = opaque;
    bytewise_write(opaque, offset, v, size, 4, addr_wr, &pci->unmodelled);
}

static uint32_t data_read(void *opaque, uint32_t offset, unsigned size)
{
    pci_absent *pci = opaque;
    (void)offset;
    pci->data_reads++;
    if (size >= 4) return 0xFFFFFFFFu;
    return (uint32_t)((1u << (8 * size)) - 1u);
}

static void data_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    pci_absent *pci = opaque;
    (void)offset;
    (void)v;
    (void)size;
    pci->data_writes++;
}

pci_absent *pci_absent_new(void)
{
    return calloc(1, sizeof(pci_absent));
}

void pci_absent_free(pci_absent *pci)
{
    free(pci);
}

bus_device pci_absent_address_device(pci_absent *pci)
{
    return (bus_device){"pci-config-address", pci, addr_read, addr_write};
}

bus_device pci_absent_data_device(pci_absent *pci)
{
    return (bus_device){"pci-config-data", pci, data_read, data_write};
}

void pci_absent_reset(pci_absent *pci)
{
    if (pci) pci->address = 0;
}

/* ---- state (device.h) ---- */

#define PCI_ABSENT_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const pci_absent *pci = opaque;
    sw_u32(w, pci->address);
    sw_u64(w, pci->data_reads);
    sw_u64(w, pci->data_writes);
    sw_u64(w, pci->unmodelled);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "pci_absent", version, PCI_ABSENT_STATE_VERSION)) return;
    pci_absent pci = *(pci_absent *)opaque;
    pci.address = sr_u32(r); /* any value: it reads back what was written */
    pci.data_reads = sr_u64(r);
    pci.data_writes = sr_u64(r);
    pci.unmodelled = sr_u64(r);
    if (!r->failed) *(pci_absent *)opaque = pci;
}

static void reset_op(void *opaque) { pci_absent_reset(opaque); }
static void free_op(void *opaque) { pci_absent_free(opaque); }

const panda_device_ops pci_absent_ops = {
    .type = "pci_absent",
    .state_version = PCI_ABSENT_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
