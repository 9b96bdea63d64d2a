/* libFuzzer harness: PCI configuration mechanism #1 over a pci_bus holding
 * one fake function (the rest of the slots empty), and the host's state
 * (fuzz_harness.h).
 *
 * The fake function is stateless (its registers answer a fixed pattern and
 * its writes go to the wiring's hook), so a twin loaded from the other's
 * state sees the same bus and only pci_host's own state decides the
 * answers.  Every access through the host is checked against a model of
 * mechanism #1: CONFIG_ADDRESS reads back the bytes written, bytes past
 * 0xCFB float; CONFIG_DATA reaches the function at (address bits 23:8,
 * (address & 0xFC) + (offset & 3)) only with the enable bit set, on bus 0,
 * at the fake's slot, for a size of 1, 2 or 4 within the dword, and answers
 * all ones otherwise. */
#include "tests/fuzz_harness.h"
#include "pci/pci_host.h"

typedef struct host_rig {
    pci_host *host;
    pci_bus bus;
    fuzz_wiring *w;
    uint8_t devfn;  /* the fake function's slot */
    bool present;   /* false: an empty bus, which must answer as pci_absent */
    bool in_access; /* set while the host is in a data access: the fake checks it */
} host_rig;

/* The fake function's register bytes: a pattern of (devfn, reg) with its
 * IDs at 0, so the vendor read a BIOS does finds something. */
static uint8_t fake_byte(uint8_t devfn, uint32_t reg)
{
    if (reg < 4) return (uint8_t)(0x12345678u >> (8 * reg)); /* 5678:1234 */
    return (uint8_t)(reg * 29u + devfn * 7u + 3u);
}

static uint32_t fake_value(uint8_t devfn, uint32_t reg, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) v |= (uint32_t)fake_byte(devfn, reg + i) << (8 * i);
    return v;
}

/* what pci_bus promises a function: sizes 1/2/4 within one dword of its 256 */
static void check_fn_access(const host_rig *r, uint32_t reg, unsigned size)
{
    FUZZ_ASSERT(r->in_access, "pci_host: the function was called outside a data access");
    FUZZ_ASSERT((size == 1 || size == 2 || size == 4) && reg < 256 && (reg & 3) + size <= 4,
                "pci_host: the function got reg 0x%x size %u", reg, size);
}

static uint32_t fn_read(void *opaque, uint32_t reg, unsigned size)
{
    host_rig *r = opaque;
    check_fn_access(r, reg, size);
    return fake_value(r->devfn, reg, size);
}

static void fn_write(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    host_rig *r = opaque;
    check_fn_access(r, reg, size);
    FUZZ_ASSERT(size >= 4 || value <= size_mask(size), "pci_host: a write of size %u carried "
                "0x%x", size, value);
    fuzz_hook(r->w, (uint64_t)reg << 40 | (uint64_t)size << 32 | value);
}

/* cfg.b bits 0-7: the fake's devfn; bit 8: no function at all */
static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    /* rig_ops forwards to pci_host_ops under its version */
    FUZZ_ASSERT(pci_host_ops.state_version == 1, "pci_host: rig_ops.state_version is stale");
    host_rig *r = calloc(1, sizeof *r);
    FUZZ_ASSERT(r, "out of memory");
    pci_bus_init(&r->bus);
    r->w = w;
    r->devfn = (uint8_t)cfg->b;
    r->present = !(cfg->b & 0x100);
    if (r->present) {
        int rc = pci_bus_add(&r->bus, r->devfn, (bus_device){"fake-fn", r, fn_read, fn_write});
        FUZZ_ASSERT(rc == 0, "pci_host: the fake's slot was taken on a fresh bus");
    }
    r->host = pci_host_new(&r->bus);
    FUZZ_ASSERT(r->host, "pci_host: create failed");
    return r;
}

/* Whether a data access at offset of size, the address as it is, reaches
 * the fake function. */
static bool reaches(const host_rig *r, uint32_t offset, unsigned size)
{
    uint32_t a = pci_host_address(r->host);
    uint32_t reg = (a & 0xFC) + (offset & 3);
    return (a & 0x80000000u) && ((a >> 16) & 0xFF) == 0 && r->present &&
           (uint8_t)(a >> 8) == r->devfn && (size == 1 || size == 2 || size == 4) &&
           (reg & 3) + size <= 4;
}

/* The model's answer to a data read. */
static uint32_t data_expected(const host_rig *r, uint32_t offset, unsigned size)
{
    uint32_t reg = (pci_host_address(r->host) & 0xFC) + (offset & 3);
    return reaches(r, offset, size) ? fake_value(r->devfn, reg, size) : size_mask(size);
}

/* CONFIG_ADDRESS as the model has it: the bytes of one register, those
 * past its 4 floating; at most 4 bytes of an odd size. */
static uint32_t addr_expected(const host_rig *r, uint32_t offset, unsigned size)
{
    uint32_t a = pci_host_address(r->host), v = 0;
    unsigned n = size > 4 ? 4 : size;
    for (unsigned i = 0; i < n; i++) {
        uint32_t b = offset < 4 && i < 4 - offset ? (uint8_t)(a >> (8 * (offset + i))) : 0xFF;
        v |= b << (8 * i);
    }
    return v;
}

static uint32_t rig_addr_read(void *opaque, uint32_t offset, unsigned size)
{
    host_rig *r = opaque;
    uint32_t want = addr_expected(r, offset, size);
    bus_device d = pci_host_address_device(r->host);
    uint32_t v = d.read(d.opaque, offset, size);
    FUZZ_ASSERT(v == want, "pci_host: CONFIG_ADDRESS read at %u size %u gave 0x%x, not 0x%x",
                offset, size, v, want);
    return v;
}

static void rig_addr_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    host_rig *r = opaque;
    uint32_t before = pci_host_address(r->host), want = before;
    unsigned n = size > 4 ? 4 : size;
    for (unsigned i = 0; i < n; i++)
        if (offset < 4 && i < 4 - offset) {
            unsigned shift = 8 * (offset + i);
            want = (want & ~(0xFFu << shift)) | ((value >> (8 * i)) & 0xFFu) << shift;
        }
    bus_device d = pci_host_address_device(r->host);
    d.write(d.opaque, offset, value, size);
    FUZZ_ASSERT(pci_host_address(r->host) == want, "pci_host: CONFIG_ADDRESS 0x%x after writing "
                "0x%x at %u size %u over 0x%x (want 0x%x)", pci_host_address(r->host), value,
                offset, size, before, want);
}

static uint32_t rig_data_read(void *opaque, uint32_t offset, unsigned size)
{
    host_rig *r = opaque;
    uint32_t want = data_expected(r, offset, size), a = pci_host_address(r->host);
    bus_device d = pci_host_data_device(r->host);
    r->in_access = true;
    uint32_t v = d.read(d.opaque, offset, size);
    r->in_access = false;
    FUZZ_ASSERT(v == want, "pci_host: data read at %u size %u with address 0x%08x gave 0x%x, "
                "not 0x%x", offset, size, a, v, want);
    FUZZ_ASSERT(pci_host_address(r->host) == a, "pci_host: a data read moved the address");
    return v;
}

static void rig_data_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    host_rig *r = opaque;
    uint32_t a = pci_host_address(r->host);
    bool reach = reaches(r, offset, size);
    uint64_t calls = r->w->hook_calls;
    bus_device d = pci_host_data_device(r->host);
    r->in_access = true;
    d.write(d.opaque, offset, value, size);
    r->in_access = false;
    FUZZ_ASSERT(r->w->hook_calls == calls + (reach ? 1 : 0), "pci_host: a data write at %u "
                "size %u with address 0x%08x %s the function", offset, size, a,
                reach ? "missed" : "reached");
    FUZZ_ASSERT(pci_host_address(r->host) == a, "pci_host: a data write moved the address");
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? (bus_device){"rig-cf8", dev, rig_addr_read, rig_addr_write}
                  : (bus_device){"rig-cfc", dev, rig_data_read, rig_data_write};
}

/* arg[0..3]: a CONFIG_ADDRESS written as a dword (the way every BIOS and
 * kernel does it, which byte-granular fuzzing reaches slowly), then a
 * data read at arg[4] % 4 of size fuzz_sizes[arg[5] % 8]. */
static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    (void)w;
    uint32_t a = (uint32_t)arg[0] | (uint32_t)arg[1] << 8 | (uint32_t)arg[2] << 16 |
                 (uint32_t)arg[3] << 24;
    rig_addr_write(dev, 0, a, 4);
    return rig_data_read(dev, arg[4] % 4u, fuzz_sizes[arg[5] % 8]);
}

/* pci_host's own state, the bus being wiring */
static void save_op(const void *dev, state_writer *w)
{
    pci_host_ops.save(((const host_rig *)dev)->host, w);
}

static void load_op(void *dev, state_reader *r, uint32_t version)
{
    pci_host_ops.load(((host_rig *)dev)->host, r, version);
}

static void reset_op(void *dev)
{
    host_rig *r = dev;
    pci_host_ops.reset(r->host);
    FUZZ_ASSERT(pci_host_address(r->host) == 0, "pci_host: reset left address 0x%x",
                pci_host_address(r->host));
}

static void free_op(void *dev)
{
    host_rig *r = dev;
    pci_host_ops.free(r->host);
    free(r);
}

static const panda_device_ops rig_ops = {
    .type = "pci_host",
    .state_version = 1,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};

static const fuzz_device host = {&rig_ops, create, 2, region, extra, NULL, NULL};
FUZZ_DEVICE_TARGET(host)
