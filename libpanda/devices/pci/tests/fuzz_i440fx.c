/* libFuzzer harness: the i440FX's configuration space, its PAM change
 * callbacks and its state (fuzz_harness.h).
 *
 * The harness keeps the PAM map a machine would build from the callbacks
 * (and, after a load, from i440fx_pam_mode_of, as device.h says the
 * machine does); after every step that map must be what i440fx_pam_mode_of
 * says, so a change without a callback, or a callback without a change,
 * shows.  Configuration accesses go through a pci_bus, as the host bridge
 * sends them. */
#include "tests/fuzz_harness.h"
#include "pci/i440fx.h"

#define PAM0 0x59
#define SMRAM 0x72

typedef struct i440fx_rig {
    i440fx *dev;
    pci_bus bus;
    fuzz_wiring *w;
    i440fx_pam_mode map[I440FX_PAM_REGIONS]; /* what the callbacks said */
} i440fx_rig;

static void pam_changed(void *opaque, unsigned region, uint32_t base, uint32_t size,
                        i440fx_pam_mode mode)
{
    i440fx_rig *r = opaque;
    uint32_t want_base, want_size;
    FUZZ_ASSERT(i440fx_pam_region(region, &want_base, &want_size), "i440fx: a callback for "
                "region %u", region);
    FUZZ_ASSERT(base == want_base && size == want_size, "i440fx: region %u reported at 0x%x+0x%x, "
                "not 0x%x+0x%x", region, base, size, want_base, want_size);
    FUZZ_ASSERT((unsigned)mode <= I440FX_PAM_RAM, "i440fx: region %u reported mode %d", region,
                (int)mode);
    FUZZ_ASSERT(mode != r->map[region], "i440fx: region %u reported mode %d it already had",
                region, (int)mode);
    /* r->dev is NULL only during i440fx_new, which reports nothing */
    FUZZ_ASSERT(r->dev && mode == i440fx_pam_mode_of(r->dev, region), "i440fx: region %u "
                "reported mode %d while i440fx_pam_mode_of says %d", region, (int)mode,
                r->dev ? (int)i440fx_pam_mode_of(r->dev, region) : -1);
    r->map[region] = mode;
    fuzz_hook(r->w, (uint64_t)region << 8 | (uint64_t)mode);
}

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    (void)cfg;
    /* rig_ops forwards to i440fx_ops under its version */
    FUZZ_ASSERT(i440fx_ops.state_version == 1, "i440fx: rig_ops.state_version is stale");
    i440fx_rig *r = calloc(1, sizeof *r);
    FUZZ_ASSERT(r, "out of memory");
    r->w = w;
    r->dev = i440fx_new((i440fx_hooks){r, pam_changed});
    FUZZ_ASSERT(r->dev, "i440fx: create failed");
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++)
        FUZZ_ASSERT(i440fx_pam_mode_of(r->dev, i) == I440FX_PAM_ROM, "i440fx: region %u is not "
                    "ROM at power-on", i);
    pci_bus_init(&r->bus);
    FUZZ_ASSERT(pci_bus_add(&r->bus, PCI_DEVFN(0, 0), i440fx_config_device(r->dev)) == 0,
                "i440fx: slot 0 taken");
    return r;
}

static uint32_t cfg_read(i440fx_rig *r, uint32_t reg, unsigned size)
{
    return pci_config_read(&r->bus, 0, PCI_DEVFN(0, 0), reg, size);
}

/* The rules the registers keep whatever was written: the IDs, PAM's
 * reserved bits 0, SMRAM's fixed bits and D_LCK clearing D_OPEN. */
static void check(void *dev, const fuzz_wiring *w)
{
    (void)w;
    i440fx_rig *r = dev;
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++)
        FUZZ_ASSERT(r->map[i] == i440fx_pam_mode_of(r->dev, i), "i440fx: region %u is mode %d "
                    "but the callbacks left %d", i, (int)i440fx_pam_mode_of(r->dev, i),
                    (int)r->map[i]);
    FUZZ_ASSERT(i440fx_pam_mode_of(r->dev, I440FX_PAM_REGIONS) == I440FX_PAM_ROM,
                "i440fx: a region past the last has a mode");
    FUZZ_ASSERT(cfg_read(r, 0, 4) == 0x12378086u, "i440fx: IDs read 0x%08x", cfg_read(r, 0, 4));
    for (unsigned reg = PAM0; reg <= PAM0 + 6; reg++) {
        uint32_t v = cfg_read(r, reg, 1), reserved = reg == PAM0 ? 0xCF : 0xCC;
        FUZZ_ASSERT(!(v & reserved), "i440fx: PAM register 0x%02x reads 0x%02x", reg, v);
    }
    uint32_t smram = cfg_read(r, SMRAM, 1);
    FUZZ_ASSERT((smram & 0x87) == 0x02 && !((smram & 0x10) && (smram & 0x40)),
                "i440fx: SMRAM reads 0x%02x", smram);
}

/* Configuration writes keep the D_LCK rule: once set, D_OPEN, D_LCK and
 * G_SMRAME hold until reset. */
static void rig_write(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    i440fx_rig *r = opaque;
    uint32_t before = cfg_read(r, SMRAM, 1);
    pci_config_write(&r->bus, 0, PCI_DEVFN(0, 0), reg, value, size);
    uint32_t after = cfg_read(r, SMRAM, 1);
    if (before & 0x10)
        FUZZ_ASSERT((after & 0x58) == (before & 0x58), "i440fx: locked SMRAM went 0x%02x -> "
                    "0x%02x", before, after);
}

static uint32_t rig_read(void *opaque, uint32_t reg, unsigned size)
{
    return cfg_read(opaque, reg, size);
}

/* The harness's offsets are 0-31 (fi_offset): region 0 is the header,
 * region 1 the PAM and SMRAM block from 0x58, so the fuzzer meets them. */
static uint32_t rig_read_hi(void *opaque, uint32_t reg, unsigned size)
{
    return cfg_read(opaque, reg < 32 ? 0x58 + reg : reg, size);
}

static void rig_write_hi(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    rig_write(opaque, reg < 32 ? 0x58 + reg : reg, value, size);
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? (bus_device){"i440fx-hdr", dev, rig_read, rig_write}
                  : (bus_device){"i440fx-pam", dev, rig_read_hi, rig_write_hi};
}

/* arg[0] even: a write of arg[4..7] at reg arg[1] of size fuzz_sizes[arg[2]
 * % 8]; odd: a read; either way the register's value after it. */
static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    (void)w;
    unsigned size = fuzz_sizes[arg[2] % 8];
    uint32_t v = (uint32_t)arg[4] | (uint32_t)arg[5] << 8 | (uint32_t)arg[6] << 16 |
                 (uint32_t)arg[7] << 24;
    if (!(arg[0] & 1)) rig_write(dev, arg[1], v, size);
    return cfg_read(dev, arg[1], size);
}

/* what the machine does after a load: map every region from the device */
static void loaded(void *dev, fuzz_wiring *w)
{
    (void)w;
    i440fx_rig *r = dev;
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) r->map[i] = i440fx_pam_mode_of(r->dev, i);
}

static void save_op(const void *dev, state_writer *w)
{
    i440fx_ops.save(((const i440fx_rig *)dev)->dev, w);
}

static void load_op(void *dev, state_reader *r, uint32_t version)
{
    i440fx_ops.load(((i440fx_rig *)dev)->dev, r, version);
}

static void reset_op(void *dev)
{
    i440fx_rig *r = dev;
    i440fx_ops.reset(r->dev);
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++)
        FUZZ_ASSERT(r->map[i] == I440FX_PAM_ROM, "i440fx: reset left region %u mode %d", i,
                    (int)r->map[i]);
    FUZZ_ASSERT(cfg_read(r, SMRAM, 1) == 0x02, "i440fx: reset left SMRAM 0x%02x",
                cfg_read(r, SMRAM, 1));
}

static void free_op(void *dev)
{
    i440fx_rig *r = dev;
    i440fx_ops.free(r->dev);
    free(r);
}

static const panda_device_ops rig_ops = {
    .type = "i440fx",
    .state_version = 1,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};

static const fuzz_device i440 = {&rig_ops, create, 2, region, extra, check, loaded};
FUZZ_DEVICE_TARGET(i440)
