/* libFuzzer harness: the PIIX3's configuration space, its PIRQ router
 * driving ISA IRQs, and its state (fuzz_harness.h).
 *
 * The harness drives the four PIRQ inputs (the extra call) and records the
 * level of each ISA IRQ as the router's calls left it, as the PIC would.
 * After every step: each IRQ's recorded level is piix3_isa_level's, and is
 * high exactly when a PIRQ whose input is high is routed to it;
 * piix3_pirq_route agrees with the PIRQRC register's bits.  After a load
 * the harness takes the levels from piix3_isa_level (the machine does) and
 * the PIRQ inputs from the state (its last byte: the inputs are the PCI
 * functions' lines, which a machine restores with them). */
#include "tests/fuzz_harness.h"
#include "pci/piix3.h"

#define PIRQRC 0x60

typedef struct piix3_rig {
    piix3 *dev;
    pci_bus bus;
    fuzz_wiring *w;
    uint8_t pirq_in;  /* bit p: the harness holds PIRQ p high */
    uint16_t isa;     /* bit n: the level the router's calls left IRQ n at */
} piix3_rig;

static void isa_set(void *opaque, int irq, int level)
{
    piix3_rig *r = opaque;
    FUZZ_ASSERT(irq >= 3 && irq <= 15 && irq != 8 && irq != 13, "piix3: drove ISA IRQ %d, "
                "which no route reaches", irq);
    FUZZ_ASSERT(level == 0 || level == 1, "piix3: drove IRQ %d to %d", irq, level);
    /* the router calls on changes only: a repeat would be a stray edge */
    FUZZ_ASSERT((r->isa >> irq & 1) != (unsigned)level, "piix3: drove IRQ %d to %d again", irq,
                level);
    if (level)
        r->isa |= (uint16_t)(1u << irq);
    else
        r->isa &= (uint16_t)~(1u << irq);
    fuzz_hook(r->w, (uint64_t)irq << 1 | (uint64_t)level);
}

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    (void)cfg;
    /* rig_ops forwards to piix3_ops under its version */
    FUZZ_ASSERT(piix3_ops.state_version == 1, "piix3: rig_ops.state_version is stale");
    piix3_rig *r = calloc(1, sizeof *r);
    FUZZ_ASSERT(r, "out of memory");
    r->w = w;
    r->dev = piix3_new((irq_line){isa_set, r, -1});
    FUZZ_ASSERT(r->dev, "piix3: create failed");
    pci_bus_init(&r->bus);
    FUZZ_ASSERT(pci_bus_add(&r->bus, PCI_DEVFN(1, 0), piix3_config_device(r->dev)) == 0,
                "piix3: slot taken");
    return r;
}

static uint32_t cfg_read(piix3_rig *r, uint32_t reg, unsigned size)
{
    return pci_config_read(&r->bus, 0, PCI_DEVFN(1, 0), reg, size);
}

static void check(void *dev, const fuzz_wiring *w)
{
    (void)w;
    piix3_rig *r = dev;
    uint16_t want = 0;
    for (int p = 0; p < 4; p++) {
        uint32_t rc = cfg_read(r, PIRQRC + (unsigned)p, 1);
        FUZZ_ASSERT(!(rc & 0x70), "piix3: PIRQRC%c reads 0x%02x (bits 6:4 are reserved)",
                    'A' + p, rc);
        int irq = (int)(rc & 0x0F);
        int route = (rc & 0x80) || irq <= 2 || irq == 8 || irq == 13 ? -1 : irq;
        FUZZ_ASSERT(piix3_pirq_route(r->dev, p) == route, "piix3: PIRQ%c routes to %d with "
                    "PIRQRC 0x%02x", 'A' + p, piix3_pirq_route(r->dev, p), rc);
        if (route >= 0 && (r->pirq_in >> p & 1)) want |= (uint16_t)(1u << route);
    }
    FUZZ_ASSERT(piix3_pirq_route(r->dev, -1) == -1 && piix3_pirq_route(r->dev, 4) == -1,
                "piix3: a PIRQ outside A-D has a route");
    for (int irq = 0; irq < 16; irq++) {
        int level = piix3_isa_level(r->dev, irq);
        FUZZ_ASSERT(level == (r->isa >> irq & 1), "piix3: IRQ %d is driven at %d by the calls, "
                    "%d by piix3_isa_level", irq, r->isa >> irq & 1, level);
        FUZZ_ASSERT(level == (want >> irq & 1), "piix3: IRQ %d at %d with PIRQ inputs 0x%x and "
                    "the routes giving %d", irq, level, r->pirq_in, want >> irq & 1);
    }
    FUZZ_ASSERT(cfg_read(r, 0, 4) == 0x70008086u, "piix3: IDs read 0x%08x", cfg_read(r, 0, 4));
}

/* Region 0 is the header; region 1 the block from 0x60, where the PIRQ
 * routes are (the harness's offsets run 0-31). */
static uint32_t rig_read(void *opaque, uint32_t reg, unsigned size)
{
    return cfg_read(opaque, reg, size);
}

static void rig_write(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    piix3_rig *r = opaque;
    pci_config_write(&r->bus, 0, PCI_DEVFN(1, 0), reg, value, size);
}

static uint32_t rig_read_hi(void *opaque, uint32_t reg, unsigned size)
{
    return cfg_read(opaque, reg < 32 ? PIRQRC + reg : reg, size);
}

static void rig_write_hi(void *opaque, uint32_t reg, uint32_t value, unsigned size)
{
    rig_write(opaque, reg < 32 ? PIRQRC + reg : reg, value, size);
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? (bus_device){"piix3-hdr", dev, rig_read, rig_write}
                  : (bus_device){"piix3-pirq", dev, rig_read_hi, rig_write_hi};
}

/* arg[0] % 3: 0 drives PIRQ arg[1] % 6 - 1 (-1 and 4 are not PIRQs: ignored)
 * to arg[2] & 1; 1 writes arg[2] to PIRQRC[arg[1] % 4] as a byte; 2 answers
 * the route and ISA level queries for arg[1]. */
static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    (void)w;
    piix3_rig *r = dev;
    switch (arg[0] % 3) {
    case 0: {
        int p = (int)(arg[1] % 6) - 1, level = arg[2] & 1;
        piix3_set_pirq(r->dev, p, level);
        if (p >= 0 && p < 4) {
            if (level)
                r->pirq_in |= (uint8_t)(1u << p);
            else
                r->pirq_in &= (uint8_t)~(1u << p);
        }
        return 0;
    }
    case 1:
        rig_write(r, PIRQRC + arg[1] % 4u, arg[2], 1);
        return cfg_read(r, PIRQRC + arg[1] % 4u, 1);
    default:
        return (uint64_t)(uint32_t)piix3_pirq_route(r->dev, (int)(arg[1] % 6) - 1) << 8 |
               (uint64_t)piix3_isa_level(r->dev, (int)(arg[1] % 18) - 1);
    }
}

static void save_op(const void *dev, state_writer *w)
{
    piix3_ops.save(((const piix3_rig *)dev)->dev, w);
}

static void load_op(void *dev, state_reader *r, uint32_t version)
{
    piix3_ops.load(((piix3_rig *)dev)->dev, r, version);
}

/* what the machine does after a load: each IRQ's input from
 * piix3_isa_level; the PIRQ inputs are in the state, after the 256
 * configuration bytes (piix3.h: "the configuration space and the PIRQ
 * input levels") */
static void loaded(void *dev, fuzz_wiring *w)
{
    (void)w;
    piix3_rig *r = dev;
    r->isa = 0;
    for (int irq = 0; irq < 16; irq++)
        r->isa |= (uint16_t)(piix3_isa_level(r->dev, irq) << irq);
    state_writer s;
    sw_init(&s);
    piix3_ops.save(r->dev, &s);
    FUZZ_ASSERT(!s.failed && s.len == 257, "piix3: a state of %zu bytes", s.len);
    r->pirq_in = s.data[256];
    sw_free(&s);
}

static void reset_op(void *dev)
{
    piix3_rig *r = dev;
    piix3_ops.reset(r->dev);
    FUZZ_ASSERT(r->isa == 0, "piix3: reset left ISA IRQs 0x%04x high", r->isa);
}

static void free_op(void *dev)
{
    piix3_rig *r = dev;
    piix3_ops.free(r->dev);
    free(r);
}

static const panda_device_ops rig_ops = {
    .type = "piix3",
    .state_version = 1,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};

static const fuzz_device piix = {&rig_ops, create, 2, region, extra, check, loaded};
FUZZ_DEVICE_TARGET(piix)
