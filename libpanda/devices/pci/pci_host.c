/*
 * PCI configuration mechanism #1 (the host bridge's half of it; the
 * functions are bus_devices on a pci_bus).
 *
 * 0xCF8-0xCFB: CONFIG_ADDRESS, exactly as pci_absent models it: any
 * 1/2/4-byte access at any offset reads or writes the corresponding bytes
 * of one 32-bit register that reads back what was written; bytes past
 * 0xCFB float.  (A real chipset latches only dword writes and decodes a
 * byte write to 0xCF9 as the reset control register; neither is modelled,
 * so that an empty bus behaves bit for bit like pci_absent.)
 *
 * 0xCFC-0xCFF: CONFIG_DATA.  With the enable bit (31) set, an access of
 * size 1, 2 or 4 at port 0xCFC + k goes to pci_config_read/write at bus
 * (bits 23:16), devfn (15:8), register (address & 0xFC) + (k & 3); the
 * pci_bus answers all ones for an empty slot, another bus, or an access
 * that crosses the dword.  With bit 31 clear, reads are all ones and
 * writes are dropped.  Both ports count their accesses.
 */
#include "pci/pci_host.h"

#include <stdlib.h>

#include "bytewise.h"

struct pci_host {
    pci_bus *bus;
    uint32_t address;
    uint64_t data_reads, data_writes;
    uint64_t unmodelled;
};

static uint8_t addr_rd(void *opaque, uint32_t offset)
{
    pci_host *h = opaque;
    return (uint8_t)(h->address >> (8 * offset));
}

static void addr_wr(void *opaque, uint32_t offset, uint8_t val)
{
    pci_host *h = opaque;
    uint32_t shift = 8 * offset;
    h->address = (h->address & ~(0xFFu << shift)) | ((uint32_t)val << shift);
}

static uint32_t addr_read(void *opaque, uint32_t offset, unsigned size)
{
    pci_host *h = opaque;
    return bytewise_read(opaque, offset, size, 4, addr_rd, &h->unmodelled);
}

static void addr_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    pci_host *h = opaque;
    bytewise_write(opaque, offset, v, size, 4, addr_wr, &h->unmodelled);
}

static uint32_t all_ones(unsigned size)
{
    return size >= 4 ? 0xFFFFFFFFu : (uint32_t)((1u << (8 * size)) - 1u);
}

static uint32_t data_read(void *opaque, uint32_t offset, unsigned size)
{
    pci_host *h = opaque;
    h->data_reads++;
    if (!(h->address & 0x80000000u)) return all_ones(size);
    /* pci_config_read answers all ones for sizes other than 1/2/4 */
    return pci_config_read(h->bus, (uint8_t)(h->address >> 16), (uint8_t)(h->address >> 8),
                           (h->address & 0xFC) + (offset & 3), size);
}

static void data_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    pci_host *h = opaque;
    h->data_writes++;
    if (!(h->address & 0x80000000u)) return;
    pci_config_write(h->bus, (uint8_t)(h->address >> 16), (uint8_t)(h->address >> 8),
                     (h->address & 0xFC) + (offset & 3), v, size);
}

pci_host *pci_host_new(pci_bus *bus)
{
    if (!bus) return NULL;
    pci_host *h = calloc(1, sizeof *h);
    if (h) h->bus = bus;
    return h;
}

void pci_host_free(pci_host *host)
{
    free(host);
}

void pci_host_reset(pci_host *host)
{
    if (host) host->address = 0;
}

uint32_t pci_host_address(const pci_host *host)
{
    return host ? host->address : 0;
}

bus_device pci_host_address_device(pci_host *host)
{
    return (bus_device){"pci-config-address", host, addr_read, addr_write};
}

bus_device pci_host_data_device(pci_host *host)
{
    return (bus_device){"pci-config-data", host, data_read, data_write};
}

/* ---- state (device.h) ---- */

#define PCI_HOST_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const pci_host *h = opaque;
    sw_u32(w, h->address);
    sw_u64(w, h->data_reads);
    sw_u64(w, h->data_writes);
    sw_u64(w, h->unmodelled);
}

static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "pci_host", version, PCI_HOST_STATE_VERSION)) return;
    pci_host h = *(pci_host *)opaque; /* keeps the bus */
    h.address = sr_u32(r); /* any value: it reads back what was written */
    h.data_reads = sr_u64(r);
    h.data_writes = sr_u64(r);
    h.unmodelled = sr_u64(r);
    if (!r->failed) *(pci_host *)opaque = h;
}

static void reset_op(void *opaque) { pci_host_reset(opaque); }
static void free_op(void *opaque) { pci_host_free(opaque); }

const panda_device_ops pci_host_ops = {
    .type = "pci_host",
    .state_version = PCI_HOST_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
