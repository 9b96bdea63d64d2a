/* libFuzzer harness: PCI configuration mechanism #1 with no device behind
 * it, and its state (fuzz_harness.h). */
#include "tests/fuzz_harness.h"
#include "pci/pci_absent.h"

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    (void)w;
    (void)cfg;
    return pci_absent_new();
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? pci_absent_address_device(dev) : pci_absent_data_device(dev);
}

/* A data read of a size that fuzz_sizes[arg[0] % 8] gives at offset
 * arg[1] % 8 answers "no device": all ones of its size. */
static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    (void)w;
    bus_device d = pci_absent_data_device(dev);
    unsigned size = fuzz_sizes[arg[0] % 8];
    uint32_t v = d.read(d.opaque, arg[1] % 8u, size);
    FUZZ_ASSERT(v == size_mask(size), "pci_absent: a data read of size %u gave 0x%x", size, v);
    return v;
}

static const fuzz_device pci = {&pci_absent_ops, create, 2, region, extra, NULL, NULL};
FUZZ_DEVICE_TARGET(pci)
