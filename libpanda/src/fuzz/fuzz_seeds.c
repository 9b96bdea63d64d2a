/*
 * Writes the seed corpus of every fuzz target into DIR/TARGET/ (run by
 * `scripts/fuzz.sh --seeds`, which rewrites fuzz/corpus/).
 *
 * A device's seeds are programs in the harness's input layout
 * (fuzz_harness.h): one drives the device the way a guest sets it up, the
 * other loads the state the device saved after that set-up, so the fuzzer
 * starts from valid states instead of having to find one.  The bus seed
 * adds ranges and accesses them.  The snapshot and recording-log seeds are
 * valid files built with the formats' own layout and writers (the
 * snapshot's sections, from the same device states; rr_log_header,
 * rr_log_event_header, rr_log_digest), each checked here by its parser.
 */
#include <errno.h>
#include <sys/stat.h>

#include "fuzz_formats.h"
#include "pci/i440fx.h"
#include "pci/pci_host.h"
#include "pci/piix3.h"

static const char *out_dir;

static void put(const char *target, const char *name, const state_writer *w)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, target);
    if (mkdir(path, 0777) && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || w->failed || fwrite(w->data, 1, w->len, f) != w->len || fclose(f)) {
        perror(path);
        exit(1);
    }
}

/* ---- devices ---- */

/* One step of a set-up: a write or read of the harness's region, a move of
 * the clock (catching up), or the harness's extra call. */
typedef struct step {
    char kind; /* 'w', 'r', 't', 'x' */
    uint8_t region, offset;
    unsigned size;
    uint32_t value; /* write: the value; 't': ns; 'x': arg[0..3] */
} step;

typedef struct seed_device {
    const char *target;
    size_t pc_index;                        /* in fuzz_pc_devices */
    bus_device (*region)(void *dev, uint8_t i); /* as the harness numbers them */
    void (*extra)(void *dev, const uint8_t arg[8]);
    uint64_t cfg_a;
    uint32_t cfg_b;
    const step *setup;
    size_t nsetup;
} seed_device;

static bus_device pic_region(void *d, uint8_t i)
{
    return i == 0 ? pic8259_master_device(d) : i == 1 ? pic8259_slave_device(d)
                                                      : pic8259_elcr_device(d);
}

/* as fuzz_pic8259.c's extra: arg[0] % 3 == 0 drives IRQ arg[1] % 20 - 2 */
static void pic_extra(void *d, const uint8_t arg[8])
{
    if (arg[0] % 3 == 0) pic8259_set_irq(d, (int)(arg[1] % 20) - 2, arg[2] & 1);
    if (arg[0] % 3 == 1) pic8259_intack(d);
}

static bus_device pit_region(void *d, uint8_t i)
{
    return i == 0 ? pit8254_device(d) : pit8254_port61_device(d);
}

static bus_device rtc_region(void *d, uint8_t i)
{
    (void)i;
    return mc146818_device(d);
}

static bus_device uart_region(void *d, uint8_t i)
{
    (void)i;
    return uart16550_device(d);
}

/* as fuzz_uart16550.c's extra: even arg[0], arg[0] / 2 % 8 bytes arrive */
static void uart_extra(void *d, const uint8_t arg[8])
{
    if (!(arg[0] & 1)) uart16550_receive(d, arg + 1, arg[0] / 2 % 8);
}

static bus_device kbc_region(void *d, uint8_t i)
{
    return i == 0 ? i8042_data_device(d) : i8042_status_device(d);
}

static bus_device pci_region(void *d, uint8_t i)
{
    return i == 0 ? pci_absent_address_device(d) : pci_absent_data_device(d);
}

static bus_device p80_region(void *d, uint8_t i)
{
    (void)i;
    return port80_device(d);
}

#define W(region, offset, value) {'w', region, offset, 1, value}
#define R(region, offset) {'r', region, offset, 1, 0}

/* Linux's set-up of each chip, roughly */
static const step pic_setup[] = {
    W(0, 0, 0x11), W(0, 1, 0x20), W(0, 1, 0x04), W(0, 1, 0x01), /* master ICW1-4 */
    W(1, 0, 0x11), W(1, 1, 0x28), W(1, 1, 0x02), W(1, 1, 0x01), /* slave */
    W(0, 1, 0xF8), W(1, 1, 0xEE), W(2, 1, 0x0C),                /* masks, ELCR */
    {'x', 0, 0, 0, 0x00010200}, {'x', 0, 0, 0, 0x00010B00},     /* IRQ0, IRQ9 high */
    {'x', 0, 0, 0, 0x00000001}, W(0, 0, 0x0B), R(0, 0),          /* INTA, read ISR */
};
static const step pit_setup[] = {
    W(0, 3, 0x34), W(0, 0, 0x9C), W(0, 0, 0x2E),                /* ch0 mode 2, 1 kHz */
    W(1, 0, 0x01), W(0, 3, 0xB0), W(0, 2, 0xFF), W(0, 2, 0xFF), /* ch2 gated, mode 0 */
    {'t', 0, 0, 0, 2500000}, W(0, 3, 0xC2), R(0, 0), R(0, 0),   /* read-back ch0 */
    W(0, 3, 0x80), R(0, 2), R(0, 2), R(1, 0),                    /* latch ch2, port 0x61 */
};
static const step rtc_setup[] = {
    W(0, 0, 0x0A), W(0, 1, 0x26), W(0, 0, 0x0B), W(0, 1, 0x72), /* PIE, AIE, UIE, 24h */
    W(0, 0, 0x01), W(0, 1, 0xC0), W(0, 0, 0x03), W(0, 1, 0xC0), /* alarm: any */
    W(0, 0, 0x05), W(0, 1, 0xC0), {'t', 0, 0, 0, 1500000000},
    W(0, 0, 0x0C), R(0, 1), W(0, 0, 0x00), R(0, 1), W(0, 0, 0x8F), W(0, 1, 0x5A),
};
static const step uart_setup[] = {
    W(0, 3, 0x80), W(0, 0, 0x01), W(0, 1, 0x00), W(0, 3, 0x03), /* 115200 8N1 */
    W(0, 2, 0xC7), W(0, 4, 0x1B), W(0, 1, 0x0F),                /* FIFO, loopback, IER */
    W(0, 0, 'h'), W(0, 0, 'i'), R(0, 2), R(0, 5), R(0, 0), R(0, 6),
    W(0, 4, 0x0B), {'x', 0, 0, 0, 0x0A736C06}, W(0, 7, 0x55),   /* "ls" arrives */
};
static const step kbc_setup[] = {
    W(1, 0, 0xAA), R(0, 0), W(1, 0, 0x20), R(0, 0), W(1, 0, 0x60), W(0, 0, 0x47),
    W(0, 0, 0xF2), R(0, 0), W(0, 0, 0xED), W(0, 0, 0x02), W(1, 0, 0xD1), W(0, 0, 0xDF),
    W(0, 0, 0xFF), R(1, 0),
};
static const step pci_setup[] = {
    {'w', 0, 0, 4, 0x80001000}, {'r', 1, 0, 2, 0}, {'w', 0, 1, 1, 0x08}, {'r', 1, 2, 4, 0},
};
static const step p80_setup[] = {W(0, 0, 0x55), {'w', 0, 0, 2, 0xAA55}, R(0, 0)};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const seed_device seed_devices[] = {
    {"pic8259", 0, pic_region, pic_extra, 0, 0, pic_setup, N(pic_setup)},
    {"pit8254", 1, pit_region, NULL, 0, 0, pit_setup, N(pit_setup)},
    {"mc146818", 2, rtc_region, NULL, FUZZ_RTC_START, 0, rtc_setup, N(rtc_setup)},
    {"uart16550", 3, uart_region, uart_extra, 0, 0x3f8, uart_setup, N(uart_setup)},
    {"i8042", 4, kbc_region, NULL, 0, 0, kbc_setup, N(kbc_setup)},
    {"pci_absent", 5, pci_region, NULL, 0, 0, pci_setup, N(pci_setup)},
    {"port80", 6, p80_region, NULL, 0, 0, p80_setup, N(p80_setup)},
};

static void step_args(const step *s, uint8_t arg[8])
{
    memset(arg, 0, 8);
    for (int i = 0; i < 4; i++) arg[i] = (uint8_t)(s->value >> (8 * i));
}

/* Runs sd's set-up on a pc-wired device (encoding it into w when w is not
 * NULL); returns the device. */
static void *set_up(const seed_device *sd, fake_clock *clock, fuzz_wiring *wire,
                    state_writer *w)
{
    void *dev = fuzz_pc_devices[sd->pc_index].create(clock, wire);
    const panda_device_ops *ops = fuzz_pc_devices[sd->pc_index].ops;
    for (size_t i = 0; i < sd->nsetup; i++) {
        const step *s = &sd->setup[i];
        uint8_t arg[8];
        bus_device d = sd->region(dev, s->region);
        switch (s->kind) {
        case 'w':
            d.write(d.opaque, s->offset, s->value, s->size);
            if (w) seed_access(w, true, s->region, s->offset, s->size, s->value);
            break;
        case 'r':
            d.read(d.opaque, s->offset, s->size);
            if (w) seed_access(w, false, s->region, s->offset, s->size, 0);
            break;
        case 't':
            clock->t += s->value;
            if (ops->run_until) ops->run_until(dev, clock->t);
            if (w) seed_time(w, s->value, true);
            break;
        default:
            step_args(s, arg);
            if (sd->extra) sd->extra(dev, arg);
            if (w) seed_extra(w, arg);
            break;
        }
    }
    return dev;
}

/* The state sd's set-up leaves (malloc'd). */
static uint8_t *set_up_state(const seed_device *sd, size_t *len)
{
    fake_clock clock = {0};
    fuzz_wiring wire = {0};
    void *dev = set_up(sd, &clock, &wire, NULL);
    state_writer s;
    sw_init(&s);
    fuzz_pc_devices[sd->pc_index].ops->save(dev, &s);
    fuzz_pc_devices[sd->pc_index].ops->free(dev);
    *len = s.len;
    return s.data;
}

/* After the set-up or the load: reads, time and the deadline loop, a round
 * trip and a patched load, so each kind of step is in the corpus. */
static void probe(state_writer *w, const seed_device *sd)
{
    for (uint8_t off = 0; off < 8; off++) seed_access(w, false, 0, off, 1, 0);
    seed_access(w, false, 0, 0, 2, 0);
    seed_access(w, false, 0, 0, 4, 0);
    seed_time(w, 1000000, false);
    seed_op(w, FOP_DEADLINE);
    seed_op(w, FOP_DEADLINE);
    seed_op(w, FOP_ROUNDTRIP);
    seed_access(w, false, 0, 0, 1, 0);
    seed_op(w, FOP_LOAD_PATCHED);
    sw_u8(w, 0);  /* one patch */
    sw_u16(w, 3); /* at byte 3 */
    sw_u8(w, 1);  /* xor 1 */
    sw_u8(w, 0);  /* the device's version */
    (void)sd;
}

static void device_seeds(void)
{
    for (size_t i = 0; i < N(seed_devices); i++) {
        const seed_device *sd = &seed_devices[i];
        state_writer w;
        /* the set-up, as register accesses */
        sw_init(&w);
        seed_config(&w, sd->cfg_a, sd->cfg_b);
        fake_clock clock = {0};
        fuzz_wiring wire = {0};
        fuzz_pc_devices[sd->pc_index].ops->free(set_up(sd, &clock, &wire, &w));
        probe(&w, sd);
        put(sd->target, "setup", &w);
        sw_free(&w);
        /* the state it leaves, loaded */
        size_t len;
        uint8_t *state = set_up_state(sd, &len);
        sw_init(&w);
        seed_config(&w, sd->cfg_a, sd->cfg_b);
        seed_load_bytes(&w, state, len);
        probe(&w, sd);
        seed_op(&w, FOP_RESET);
        seed_access(&w, false, 0, 0, 1, 0);
        put(sd->target, "state", &w);
        sw_free(&w);
        free(state);
    }
}

/* ---- the PCI chipset and the IDE ----
 *
 * Their harnesses wrap the device in a rig with its own region numbers and
 * extra calls (fuzz_pci_host.c, fuzz_i440fx.c, fuzz_piix3.c, fuzz_ide.c
 * describe them); the set-ups below are written in those terms.  The PCI
 * functions' seeds are a set-up and the state it leaves, as above (the
 * state is made by running the set-up on the bare device); the IDE's state
 * is larger than a load of input bytes takes (1023), so its seeds reach
 * states mid-command through the ports and round-trip them there. */

static void extra_bytes(state_writer *w, uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3,
                        uint8_t a4, uint8_t a5, uint8_t a6, uint8_t a7)
{
    const uint8_t arg[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
    seed_extra(w, arg);
}

typedef struct rig_seed {
    const char *target;
    uint64_t cfg_a;
    uint32_t cfg_b;
    const step *setup;
    size_t nsetup;
    const panda_device_ops *ops;
    void *(*make)(void);
    /* one set-up step on the bare device (the rig's region and extra) */
    void (*apply)(void *dev, const step *s);
} rig_seed;

static void apply_access(bus_device d, const step *s)
{
    if (s->kind == 'w')
        d.write(d.opaque, s->offset, s->value, s->size);
    else
        d.read(d.opaque, s->offset, s->size);
}

static pci_bus empty_bus; /* the host's state does not depend on what is on it */

static void *make_host(void)
{
    pci_bus_init(&empty_bus);
    return pci_host_new(&empty_bus);
}

/* fuzz_pci_host.c: region 0 CONFIG_ADDRESS, 1 CONFIG_DATA; extra: a dword
 * address arg[0..3], then a data read */
static void apply_host(void *dev, const step *s)
{
    if (s->kind != 'x') {
        apply_access(s->region ? pci_host_data_device(dev) : pci_host_address_device(dev), s);
        return;
    }
    bus_device a = pci_host_address_device(dev), d = pci_host_data_device(dev);
    a.write(a.opaque, 0, s->value, 4);
    d.read(d.opaque, 0, 1); /* arg[4..7] 0: offset 0, size fuzz_sizes[0] */
}

static void *make_i440fx(void)
{
    return i440fx_new((i440fx_hooks){0});
}

static void *make_piix3(void)
{
    return piix3_new((irq_line){0});
}

/* fuzz_i440fx.c and fuzz_piix3.c: region 0 the header, region 1 the block
 * from `hi`; what the rigs' pci_bus passes on, for these aligned steps */
static void apply_cfg(bus_device d, uint32_t hi, const step *s)
{
    uint32_t reg = s->region ? hi + s->offset : s->offset;
    if (s->kind == 'w')
        d.write(d.opaque, reg, s->value, s->size);
    else
        d.read(d.opaque, reg, s->size);
}

static void apply_i440fx(void *dev, const step *s)
{
    apply_cfg(i440fx_config_device(dev), 0x58, s);
}

/* fuzz_piix3.c's extra with arg[0] == 0: PIRQ arg[1] - 1 to arg[2] & 1 */
static void apply_piix3(void *dev, const step *s)
{
    if (s->kind == 'x')
        piix3_set_pirq(dev, (int)((s->value >> 8) & 0xFF) % 6 - 1, (s->value >> 16) & 1);
    else
        apply_cfg(piix3_config_device(dev), 0x60, s);
}

#define PCI_CFG_ADDR(devfn, reg) (0x80000000u | (uint32_t)(devfn) << 8 | (reg))

/* a BIOS probing slot 1 (the fake function), slot 2 (empty), bus 1, and
 * the address with the enable bit clear; a byte write to 0xCF9 */
static const step host_setup[] = {
    {'w', 0, 0, 4, PCI_CFG_ADDR(PCI_DEVFN(1, 0), 0)}, {'r', 1, 0, 4, 0}, {'r', 1, 2, 2, 0},
    {'w', 0, 0, 4, PCI_CFG_ADDR(PCI_DEVFN(1, 0), 4)}, {'w', 1, 0, 2, 0x0007},
    {'r', 1, 1, 1, 0}, {'r', 1, 2, 4, 0},
    {'x', 0, 0, 0, PCI_CFG_ADDR(PCI_DEVFN(2, 0), 0)},
    {'x', 0, 0, 0, PCI_CFG_ADDR(PCI_DEVFN(1, 0), 0) | 1u << 16},
    {'x', 0, 0, 0, PCI_DEVFN(1, 0) << 8}, {'w', 0, 1, 1, 0x06}, {'r', 0, 0, 4, 0},
};
/* SeaBIOS: shadow unlock (PAM 0x30/0x33), the copy, lock (0x10/0x11), then
 * SMRAM closed and locked */
static const step i440fx_setup[] = {
    {'r', 0, 0, 4, 0}, {'w', 1, 1, 1, 0x30}, {'w', 1, 2, 1, 0x33}, {'w', 1, 3, 1, 0x33},
    {'w', 1, 4, 4, 0x33333333}, {'w', 1, 1, 1, 0x10}, {'w', 1, 2, 2, 0x1111},
    {'w', 1, 4, 2, 0x1111}, {'w', 1, 26, 1, 0x0A}, {'w', 1, 26, 1, 0x1A},
    {'w', 1, 26, 1, 0x4A}, {'r', 1, 26, 1, 0}, {'r', 1, 0, 4, 0},
};
/* SeaBIOS' routes (A, C -> 11, B -> 10, D -> 10), two PCI lines high, a
 * route moved while high, one disabled */
static const step piix3_setup[] = {
    {'w', 1, 0, 4, 0x0A0B0A0B}, {'x', 0, 0, 0, 0x010100}, {'x', 0, 0, 0, 0x010300},
    {'w', 1, 0, 1, 0x05}, {'x', 0, 0, 0, 0x000300}, {'w', 1, 1, 1, 0x80},
    {'x', 0, 0, 0, 0x010200}, {'r', 1, 0, 4, 0}, {'r', 0, 0x0E, 1, 0},
};

static const rig_seed rig_seeds[] = {
    {"pci_host", 0, PCI_DEVFN(1, 0), host_setup, N(host_setup), &pci_host_ops, make_host,
     apply_host},
    {"i440fx", 0, 0, i440fx_setup, N(i440fx_setup), &i440fx_ops, make_i440fx, apply_i440fx},
    {"piix3", 0, 0, piix3_setup, N(piix3_setup), &piix3_ops, make_piix3, apply_piix3},
};

static void rig_encode(state_writer *w, const step *s)
{
    uint8_t arg[8];
    if (s->kind == 'x') {
        step_args(s, arg);
        seed_extra(w, arg);
    } else {
        seed_access(w, s->kind == 'w', s->region, s->offset, s->size, s->value);
    }
}

static void rig_probe(state_writer *w)
{
    for (uint8_t region = 0; region < 2; region++) {
        seed_access(w, false, region, 0, 4, 0);
        seed_access(w, false, region, 2, 1, 0);
    }
    seed_op(w, FOP_ROUNDTRIP);
    seed_access(w, false, 1, 0, 4, 0);
    seed_op(w, FOP_LOAD_PATCHED);
    sw_u8(w, 1);  /* two patches */
    sw_u16(w, 0x59);
    sw_u8(w, 0x30);
    sw_u16(w, 0x60);
    sw_u8(w, 0x0F);
    sw_u8(w, 0);
    seed_op(w, FOP_RESET);
    seed_access(w, false, 1, 1, 1, 0);
}

static void rig_seed_files(void)
{
    for (size_t i = 0; i < N(rig_seeds); i++) {
        const rig_seed *rs = &rig_seeds[i];
        state_writer w;
        sw_init(&w);
        seed_config(&w, rs->cfg_a, rs->cfg_b);
        for (size_t k = 0; k < rs->nsetup; k++) rig_encode(&w, &rs->setup[k]);
        rig_probe(&w);
        put(rs->target, "setup", &w);
        sw_free(&w);

        void *dev = rs->make();
        FUZZ_ASSERT(dev, "%s: create failed", rs->target);
        for (size_t k = 0; k < rs->nsetup; k++) rs->apply(dev, &rs->setup[k]);
        state_writer st;
        sw_init(&st);
        rs->ops->save(dev, &st);
        rs->ops->free(dev);
        FUZZ_ASSERT(!st.failed && st.len < 1024, "%s: a state of %zu bytes", rs->target, st.len);
        sw_init(&w);
        seed_config(&w, rs->cfg_a, rs->cfg_b);
        seed_load_bytes(&w, st.data, st.len);
        rig_probe(&w);
        put(rs->target, "state", &w);
        sw_free(&w);
        sw_free(&st);
    }
    /* pci_host on an empty bus: answers as pci_absent */
    state_writer w;
    sw_init(&w);
    seed_config(&w, 0, 0x100);
    for (size_t k = 0; k < N(host_setup); k++) rig_encode(&w, &host_setup[k]);
    put("pci_host", "empty_bus", &w);
    sw_free(&w);
}

/* fuzz_ide.c's drives: cfg.a nibble k (k = channel * 2 + unit) the kind
 * (0 disk, 1 absent, 2 read-only, 3 no write function; +4 failing from
 * sector 4 * cfg.b nibble k; +8 big), byte 2 + k the size - 1; cfg.b bits
 * 16-31 the direct-boot bus-master base. */
#define IDE_DRIVES(k0, k1, k2, k3) ((uint64_t)(k0) | (k1) << 4 | (k2) << 8 | (k3) << 12)
#define IDE_SIZES(s0, s1, s2, s3) \
    ((uint64_t)(s0) << 16 | (uint64_t)(s1) << 24 | (uint64_t)(s2) << 32 | (uint64_t)(s3) << 40)
/* ide0: a 64-sector disk and nothing; ide1: a 16-sector read-only master,
 * a 32-sector slave failing from sector 20 */
#define IDE_CFG_A (IDE_DRIVES(0, 1, 2, 4) | IDE_SIZES(63, 0, 15, 31))
#define IDE_CFG_B (0xC000u << 16 | 5u << 12)

/* fuzz_ide.c: regions 0/1 a channel (0-7 command block, 16 control), 2 the
 * bus master, 3 configuration; extra 0/1 bulk in/out, 2 a backend failing,
 * 3 any configuration register, 4 a command, 5 a PRD entry, 6 a load of
 * the state with transfer fields patched, 7 a disc change */
static void ide_cmd(state_writer *w, int ch, int unit, uint32_t lba, uint8_t count, uint8_t cmd,
                    bool lba48, uint8_t high)
{
    extra_bytes(w, 4, (uint8_t)(ch | unit << 1), (uint8_t)lba, (uint8_t)(lba >> 8),
                (uint8_t)(lba >> 16), count, cmd, (uint8_t)(high << 1 | lba48));
}

static void ide_bulk(state_writer *w, bool in, int ch, uint16_t len)
{
    extra_bytes(w, in ? 0 : 1, (uint8_t)ch, (uint8_t)len, (uint8_t)(len >> 8), 0x11, 0x22, 0x33,
                0x44);
}

static void ide_status(state_writer *w, int ch)
{
    seed_access(w, false, (uint8_t)ch, 7, 1, 0);
}

/* both bus masters' registers and the status of both channels */
static void ide_probe(state_writer *w)
{
    for (uint8_t off = 0; off < 16; off += 2) seed_access(w, false, 2, off, 2, 0);
    for (uint8_t ch = 0; ch < 2; ch++) {
        for (uint8_t off = 1; off < 8; off++) seed_access(w, false, ch, off, 1, 0);
        seed_access(w, false, ch, 16, 1, 0);
    }
    seed_op(w, FOP_ROUNDTRIP);
    ide_status(w, 0);
}

static void ide_begin(state_writer *w, uint64_t cfg_a, uint32_t cfg_b)
{
    sw_init(w);
    seed_config(w, cfg_a, cfg_b);
}

/* the probe, and the seed written */
static void ide_end(state_writer *w, const char *name)
{
    ide_probe(w);
    put("ide", name, w);
    sw_free(w);
}

static void ide_seed_files(void)
{
    state_writer w;
    /* IDENTIFY on ide0 master, half through the data port, half in bulk;
     * then READ SECTORS of 2 and READ MULTIPLE of 3 in bulk */
    ide_begin(&w, IDE_CFG_A, IDE_CFG_B);
    seed_access(&w, true, 0, 6, 1, 0xA0);
    seed_access(&w, true, 0, 7, 1, 0xEC);
    seed_access(&w, false, 0, 16, 1, 0);
    ide_status(&w, 0);
    for (int i = 0; i < 64; i++) seed_access(&w, false, 0, 0, 4, 0);
    ide_bulk(&w, true, 0, 256);
    ide_status(&w, 0);
    ide_cmd(&w, 0, 0, 3, 2, 0x20, false, 0);
    ide_status(&w, 0);
    ide_bulk(&w, true, 0, 1024);
    ide_cmd(&w, 0, 0, 60, 3, 0xC4, false, 0);
    ide_bulk(&w, true, 0, 2048);
    ide_cmd(&w, 0, 0, 63, 2, 0x20, false, 0); /* past the end: IDNF */
    ide_status(&w, 0);
    ide_end(&w, "identify_read");

    /* READ DMA of 2 sectors through a one-entry PRD table at 0x1000 into
     * 0x2000, the bus master started, its interrupt cleared; WRITE DMA back
     * from there; one into a piece past RAM's end (refused: bus-master
     * error); a WRITE DMA to the read-only disk (aborted) */
    ide_begin(&w, IDE_CFG_A, IDE_CFG_B);
    extra_bytes(&w, 5, 0x00, 0x10, 0x00, 0x20, 0x00, 0x04, 0x81);
    ide_cmd(&w, 0, 0, 5, 2, 0xC8, false, 0);
    seed_access(&w, true, 2, 0, 1, 0x09);
    seed_access(&w, false, 2, 2, 1, 0);
    ide_status(&w, 0);
    seed_access(&w, true, 2, 0, 1, 0x08);
    seed_access(&w, true, 2, 2, 1, 0x06);
    ide_cmd(&w, 0, 0, 9, 2, 0xCA, false, 0);
    seed_access(&w, true, 2, 0, 1, 0x01);
    ide_status(&w, 0);
    seed_access(&w, true, 2, 0, 1, 0x00);
    extra_bytes(&w, 5, 0x00, 0x10, 0x00, 0xFF, 0x00, 0x04, 0x81);
    ide_cmd(&w, 0, 0, 1, 2, 0x25, true, 0);
    seed_access(&w, true, 2, 0, 1, 0x09);
    seed_access(&w, false, 2, 2, 1, 0);
    ide_status(&w, 0);
    extra_bytes(&w, 5, 0x00, 0x30, 0x00, 0x40, 0x00, 0x02, 0x83); /* channel 1's table */
    ide_cmd(&w, 1, 0, 0, 1, 0xCA, false, 0);
    seed_access(&w, true, 2, 8, 1, 0x01);
    ide_status(&w, 1);
    ide_end(&w, "dma");

    /* WRITE SECTORS of 3 on ide0 stopped after one sector and round-tripped
     * there, then finished; patched loads of the transfer's block and
     * position fields; READ MULTIPLE on ide1's slave across its failing
     * sector 20, and the backend failing every call */
    ide_begin(&w, IDE_CFG_A, IDE_CFG_B);
    ide_cmd(&w, 0, 0, 1, 3, 0x30, false, 0);
    ide_bulk(&w, false, 0, 512);
    seed_op(&w, FOP_ROUNDTRIP);
    ide_bulk(&w, false, 0, 256);
    seed_op(&w, FOP_LOAD_PATCHED);
    sw_u8(&w, 1);    /* two patches */
    sw_u16(&w, 312); /* channel 0's pos (piix_ide's save order) */
    sw_u8(&w, 0x02);
    sw_u16(&w, 308); /* its block */
    sw_u8(&w, 0x03);
    sw_u8(&w, 0);
    ide_bulk(&w, false, 0, 768);
    ide_status(&w, 0);
    ide_cmd(&w, 1, 1, 18, 4, 0xC4, false, 0);
    ide_status(&w, 1);
    extra_bytes(&w, 2, 0, 1, 0, 0, 0, 0, 0);
    ide_cmd(&w, 0, 0, 0, 1, 0x20, false, 0);
    ide_cmd(&w, 0, 0, 0, 0, 0xE7, false, 0);
    ide_status(&w, 0);
    seed_access(&w, true, 0, 16, 1, 0x06); /* SRST and nIEN */
    seed_access(&w, true, 0, 16, 1, 0x00);
    ide_end(&w, "mid_command");

    /* transfers on ide1's read-only master patched into writes through the
     * saved state's transfer fields (extra 6: phase at 38, cmd at 39 of
     * the channel record): PIO in -> out, READ DMA -> WRITE DMA; refused */
    ide_begin(&w, IDE_CFG_A, IDE_CFG_B);
    ide_cmd(&w, 1, 0, 0, 1, 0x20, false, 0);
    extra_bytes(&w, 6, 1, 38, 0x03, 39, 0x10, 0, 0);
    ide_bulk(&w, false, 1, 512);
    ide_status(&w, 1);
    ide_cmd(&w, 1, 0, 2, 1, 0xC8, false, 0);
    extra_bytes(&w, 6, 1, 39, 0x02, 0, 0, 1, 0);
    extra_bytes(&w, 5, 0x00, 0x30, 0x00, 0x40, 0x00, 0x02, 0x83);
    seed_access(&w, true, 2, 8, 1, 0x01);
    ide_status(&w, 1);
    ide_end(&w, "read_only_patched");

    /* big disks: ide0 master just under 2^28 sectors, ide1 slave 2^48 - 1,
     * firmware reset state (no bus master until BAR4 and the command are
     * set); READ NATIVE MAX, LBA48 reads at their ends, IDENTIFY */
    ide_begin(&w, IDE_DRIVES(8, 1, 1, 8) | IDE_SIZES(200, 0, 0, 1), 0);
    ide_cmd(&w, 0, 0, 0, 0, 0xF8, false, 0);
    ide_cmd(&w, 0, 0, 0xFFFFFF, 1, 0x24, true, 0x0F);
    ide_bulk(&w, true, 0, 512);
    ide_cmd(&w, 1, 1, 0, 0, 0x27, true, 0);
    ide_cmd(&w, 1, 1, 0xFFFFFE, 1, 0x24, true, 0xFF);
    ide_bulk(&w, true, 1, 512);
    ide_cmd(&w, 1, 1, 0, 0, 0xEC, false, 0);
    ide_bulk(&w, true, 1, 512);
    seed_access(&w, true, 3, 8, 4, 0xC001);   /* BAR4 */
    seed_access(&w, true, 3, 4, 2, 0x0005);   /* I/O and bus master on */
    seed_access(&w, true, 3, 16, 4, 0x80008000u); /* IDETIM */
    ide_end(&w, "big_disks");

    /* ATAPI: ide1 master a CD-ROM drive with a 64-sector (16-block) disc,
     * ide1 slave an empty one (a one-sector disc); IDENTIFY PACKET, TEST
     * UNIT READY, INQUIRY and READ(10) of 3 blocks by PIO under a 2 KiB
     * byte count limit, a READ(10) past the end, REQUEST SENSE, READ
     * CAPACITY by DMA, TEST UNIT READY on the empty drive, and a state
     * load mid-transfer with the PACKET fields patched */
    ide_begin(&w, IDE_DRIVES(0, 1, 2, 2) | IDE_SIZES(63, 0, 63, 0), 0xC000u << 16 | 3u << 18);
    ide_cmd(&w, 1, 0, 0, 0, 0xA1, false, 0);
    ide_bulk(&w, true, 1, 512);
    static const uint8_t packets[][12] = {
        {0x00},                                  /* TEST UNIT READY */
        {0x12, 0, 0, 0, 36},                     /* INQUIRY */
        {0x28, 0, 0, 0, 0, 2, 0, 0, 3},          /* READ(10) 3 blocks at 2 */
        {0x28, 0, 0, 0, 0, 15, 0, 0, 2},         /* past the end: 05/21 */
        {0x03, 0, 0, 0, 18},                     /* REQUEST SENSE */
        {0x5A, 0, 0x3F, 0, 0, 0, 0, 0, 64},      /* MODE SENSE(10), all pages */
        {0x43, 0x02, 0, 0, 0, 0, 0, 0, 64},      /* READ TOC, MSF */
        {0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8},       /* GET EVENT STATUS */
    };
    for (size_t k = 0; k < N(packets); k++) {
        ide_cmd(&w, 1, 0, 0x080000u, 0, 0xA0, false, 0); /* byte count limit 0x800 */
        for (int i = 0; i < 12; i += 2) seed_access(&w, true, 1, 0, 2, packets[k][i] | packets[k][i + 1] << 8);
        ide_status(&w, 1);
        ide_bulk(&w, true, 1, 4096);
        ide_bulk(&w, true, 1, 4096);
        ide_status(&w, 1);
    }
    ide_cmd(&w, 1, 0, 0x080000u, 0, 0xA0, false, 0);
    for (int i = 0; i < 12; i += 2) seed_access(&w, true, 1, 0, 2, packets[2][i] | packets[2][i + 1] << 8);
    extra_bytes(&w, 6, 1, 100, 0x08, 104, 0x01, 0, 0); /* the PACKET fields */
    ide_bulk(&w, true, 1, 4096);
    /* READ CAPACITY by DMA: features bit 0, the table at 0x3000 */
    extra_bytes(&w, 5, 0x00, 0x30, 0x00, 0x40, 0x08, 0x00, 0x83);
    seed_access(&w, true, 1, 1, 1, 0x01);
    ide_cmd(&w, 1, 0, 0, 0, 0xA0, false, 0);
    static const uint8_t cap[12] = {0x25};
    for (int i = 0; i < 12; i += 2) seed_access(&w, true, 1, 0, 2, cap[i] | cap[i + 1] << 8);
    seed_access(&w, true, 2, 8, 1, 0x09);
    ide_status(&w, 1);
    ide_cmd(&w, 1, 1, 0, 0, 0xA0, false, 0);
    for (int i = 0; i < 12; i += 2) seed_access(&w, true, 1, 0, 2, 0);
    ide_status(&w, 1);
    /* a disc into the empty slave (larger than its image), GET
     * CONFIGURATION, a read past the image, a forced eject */
    extra_bytes(&w, 7, 3, 0x00, 0x01, 0, 0, 0, 0);
    static const uint8_t more[][12] = {
        {0x00},
        {0x46, 0, 0, 0, 0, 0, 0, 0, 255},
        {0x46, 2, 0, 1, 0, 0, 0, 0, 255},
        {0x28, 0, 0, 0, 0, 0, 0, 0, 4},
    };
    for (size_t k = 0; k < N(more); k++) {
        ide_cmd(&w, 1, 1, 0x080000u, 0, 0xA0, false, 0);
        for (int i = 0; i < 12; i += 2) seed_access(&w, true, 1, 0, 2, more[k][i] | more[k][i + 1] << 8);
        ide_bulk(&w, true, 1, 4096);
        ide_status(&w, 1);
    }
    extra_bytes(&w, 7, 3, 0, 0, 1, 0, 0, 0);
    ide_end(&w, "atapi");
}

/* ---- the buses ---- */

static void bus_seeds(void)
{
    state_writer w;
    sw_init(&w);
    /* io: 0x20-0x21 (fake 0), 0x40-0x43 (fake 3), an overlap refused, one
     * that cannot be read (fake 1) */
    const uint8_t adds[][3] = {{0x20, 2, 0}, {0x40, 4, 3}, {0x41, 2, 4}, {0x60, 1, 1}};
    for (size_t i = 0; i < N(adds); i++) {
        sw_u8(&w, BUS_IO_ADD);
        sw_bytes(&w, adds[i], 3);
    }
    const uint8_t ports[] = {0x20, 0x21, 0x22, 0x40, 0x43, 0x60, 0x80};
    for (size_t i = 0; i < N(ports); i++) {
        for (unsigned size = 1; size <= 4; size++) {
            sw_u8(&w, BUS_IO_READ);
            sw_u8(&w, ports[i]);
            sw_u8(&w, seed_size_code(size));
            sw_u32(&w, 0x12345678);
            sw_u8(&w, BUS_IO_WRITE);
            sw_u8(&w, ports[i]);
            sw_u8(&w, seed_size_code(size));
            sw_u32(&w, 0x9ABCDEF0);
        }
    }
    /* mmio: 0x10-0x1F (fake 0), then 8-byte and 4-byte accesses across it */
    sw_u8(&w, BUS_MMIO_ADD);
    sw_u8(&w, 0x10);
    sw_u8(&w, 0x0F);
    sw_u8(&w, 0);
    const uint8_t mmio_sizes[] = {8, 3, 0}; /* fuzz_bus.c decodes sizes 8, 4, 1 */
    for (size_t i = 0; i < N(mmio_sizes); i++) {
        sw_u8(&w, BUS_MMIO_READ);
        sw_u8(&w, 0x18);
        sw_u8(&w, mmio_sizes[i]);
        sw_u64(&w, 0x0123456789ABCDEFull);
        sw_u8(&w, BUS_MMIO_WRITE);
        sw_u8(&w, 0x1C);
        sw_u8(&w, mmio_sizes[i]);
        sw_u64(&w, 0xFEDCBA9876543210ull);
    }
    /* pci: device 1 function 0 (fake 0), then its vendor ID and a dword */
    sw_u8(&w, BUS_PCI_ADD);
    sw_u8(&w, PCI_DEVFN(1, 0));
    sw_u8(&w, 0);
    const uint8_t regs[][2] = {{0, 0}, {0, 2}, {1, 4}, {31, 7}};
    for (size_t i = 0; i < N(regs); i++) {
        sw_u8(&w, BUS_PCI_READ);
        sw_u8(&w, 0);                /* bus 0 */
        sw_u8(&w, PCI_DEVFN(1, 0));
        sw_bytes(&w, regs[i], 2);    /* reg = [0] * 8 + [1] */
        sw_u8(&w, seed_size_code(2));
        sw_u32(&w, 0x80868086);
        sw_u8(&w, BUS_PCI_WRITE);
        sw_u8(&w, 0);
        sw_u8(&w, PCI_DEVFN(1, 0));
        sw_bytes(&w, regs[i], 2);
        sw_u8(&w, seed_size_code(4));
        sw_u32(&w, 0xFFFFFFFF);
    }
    put("bus", "ranges", &w);
    sw_free(&w);
}

/* ---- the file formats ---- */

static void section(state_writer *w, uint32_t tag, const void *data, size_t len)
{
    sw_u32(w, tag);
    sw_u32(w, 0);
    sw_u64(w, len);
    sw_bytes(w, data, len);
}

/* A snapshot of the machine fuzz_pc_expect describes, laid out as
 * snapshot.c writes one, its devices in the state their set-ups leave;
 * with one non-zero RAM page when `page`. */
static void snapshot_seed(const char *name, uint8_t mode, bool page)
{
    state_writer w;
    sw_init(&w);
    sw_u8(&w, mode);
    size_t start = w.len;
    char arch[16] = "i386", machine[16] = "pc";
    sw_bytes(&w, SNAP_MAGIC, 16);
    sw_u32(&w, SNAP_VERSION);
    sw_u32(&w, SNAP_HEADER_SIZE);
    sw_bytes(&w, arch, 16);
    sw_bytes(&w, machine, 16);
    sw_u64(&w, FUZZ_RAM_SIZE);
    sw_u64(&w, FUZZ_CPU_LEN);
    uint8_t cpu[FUZZ_CPU_LEN];
    for (size_t i = 0; i < sizeof cpu; i++) cpu[i] = (uint8_t)i;
    section(&w, TAG_CPU, cpu, sizeof cpu);
    uint8_t clock[8] = {0x40, 0x42, 0x0F}; /* the pc's idle ns, u64 */
    section(&w, TAG_CLOCK, clock, sizeof clock);
    for (size_t i = 0; i < FUZZ_PC_NDEV; i++) {
        FUZZ_ASSERT(seed_devices[i].pc_index == i, "seed_devices is not in the pc's order");
        size_t len;
        uint8_t *state = set_up_state(&seed_devices[i], &len);
        char dname[32] = {0};
        snprintf(dname, sizeof dname, "%s", fuzz_pc_devices[i].name);
        sw_u32(&w, TAG_DEVICE);
        sw_u32(&w, 0);
        sw_u64(&w, 32 + 8 + len);
        sw_bytes(&w, dname, 32);
        sw_u32(&w, fuzz_pc_devices[i].ops->state_version);
        sw_u32(&w, 0);
        sw_bytes(&w, state, len);
        free(state);
    }
    uint8_t map[FUZZ_RAM_SIZE / SNAP_PAGE / 8] = {0};
    static uint8_t ram_page[SNAP_PAGE];
    if (page) {
        map[0] = 0x80; /* page 7: 0x7000 */
        for (size_t i = 0; i < SNAP_PAGE; i++) ram_page[i] = (uint8_t)(i * 7);
    }
    sw_u32(&w, TAG_RAM);
    sw_u32(&w, 0);
    sw_u64(&w, sizeof map + (page ? SNAP_PAGE : 0));
    sw_bytes(&w, map, sizeof map);
    if (page) sw_bytes(&w, ram_page, SNAP_PAGE);
    uint8_t end[48] = {0};
    sw_bytes(&w, end, sizeof end);
    FUZZ_ASSERT(!w.failed, "out of memory");
    fuzz_seal_snapshot(w.data + start, w.len - start);
    snap_expect x = fuzz_pc_expect();
    snap_parts parts;
    panda_errbuf e = {{0}};
    FUZZ_ASSERT(!snapshot_parse(&e, name, w.data + start, w.len - start, &x, &parts),
                "the %s seed does not parse: %s", name, e.msg);
    put("snapshot", name, &w);
    sw_free(&w);
}

/* A complete recording of serial input, as rr.c writes one; with media,
 * each input a disc change instead (kind 3, PANDA_INPUT_MEDIA, on drive 2:
 * machine_pc.c's 9 bytes, the operation and the disc's sectors). */
static void rr_seed(const char *name, uint8_t mode, const char *const *inputs, size_t n, bool media)
{
    uint8_t snap_sha[32];
    sha256("the snapshot it starts from", 27, snap_sha);
    const uint64_t start = 1000, end = 2735869787ull;
    state_writer w;
    sw_init(&w);
    sw_u8(&w, mode);
    size_t start_at = w.len;
    uint8_t h[RR_LOG_HEADER], ev[RR_EV_HEADER];
    rr_log_header(h, RR_LOG_COMPLETE, "i386", start, end, n, snap_sha);
    sw_bytes(&w, h, sizeof h);
    uint64_t icount = start;
    for (size_t i = 0; i < n; i++) {
        icount += 1000000;
        size_t len = media ? 9 : strlen(inputs[i]);
        rr_log_event_header(ev, media ? 3 : 1, media ? 2 : 0, (uint32_t)len, icount, icount,
                            0xC1000000u + (uint32_t)i);
        sw_bytes(&w, ev, sizeof ev);
        sw_bytes(&w, inputs[i], len);
    }
    rr_log_event_header(ev, RR_EV_END, 0, 32, end, end, 0);
    sw_bytes(&w, ev, sizeof ev);
    uint8_t digest[32] = {0};
    sw_bytes(&w, digest, 32);
    FUZZ_ASSERT(!w.failed, "out of memory");
    fuzz_seal_rr_log(w.data + start_at, w.len - start_at);
    rr_log log;
    panda_errbuf e = {{0}};
    FUZZ_ASSERT(!rr_log_parse(&e, name, w.data + start_at, w.len - start_at, "i386", 4, &log),
                "the %s seed does not parse: %s", name, e.msg);
    free(log.ev);
    put("rr_log", name, &w);
    sw_free(&w);
}

/* big-endian, as qcow2 is */
static void be32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void be64(uint8_t *p, uint64_t v)
{
    be32(p, (uint32_t)(v >> 32));
    be32(p + 4, (uint32_t)v);
}

/* A small qcow2 image of 512-byte clusters: header, L1, L2, refcount
 * table, then data clusters; version 2 or 3 (v3: one cluster reads as
 * zeros).  The harness's first byte is its mode (1: open as qcow2). */
static void qcow2_seed(const char *name, uint32_t version)
{
    enum { CS = 512, L1 = 1 * CS, L2 = 2 * CS, REFT = 3 * CS, DATA = 4 * CS, NDATA = 3 };
    uint8_t img[DATA + NDATA * CS];
    memset(img, 0, sizeof img);
    memcpy(img, "QFI\xfb", 4);
    be32(img + 4, version);
    be32(img + 20, 9);                         /* cluster_bits */
    be64(img + 24, 16 * CS);                   /* virtual size */
    be32(img + 36, 1);                         /* l1_size */
    be64(img + 40, L1);
    be64(img + 48, REFT);
    be32(img + 56, 1);                         /* refcount_table_clusters */
    if (version == 3) {
        be32(img + 96, 4);                     /* refcount_order */
        be32(img + 100, 104);                  /* header_length */
    }
    be64(img + L1, (uint64_t)L2 | 1ull << 63);
    for (int i = 0; i < NDATA; i++) {
        be64(img + L2 + 8 * (2 * i), (uint64_t)(DATA + i * CS) | 1ull << 63);
        memset(img + DATA + i * CS, 0x41 + i, CS);
    }
    if (version == 3) be64(img + L2 + 8 * 7, 1);  /* reads as zeros */
    state_writer w;
    sw_init(&w);
    sw_u8(&w, 1);
    sw_bytes(&w, img, sizeof img);
    put("qcow2", name, &w);
    sw_free(&w);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0777) && errno != EEXIST) {
        perror(out_dir);
        return 1;
    }
    device_seeds();
    rig_seed_files();
    ide_seed_files();
    bus_seeds();
    /* even mode byte: as written; odd: the harness seals it again */
    snapshot_seed("sealed", 0, true);
    snapshot_seed("resealed", 1, false);
    static const char *const typed[] = {"uname -a\n", "ls /\n", "\x03"};
    rr_seed("three_inputs", 0, typed, 3, false);
    rr_seed("no_input", 1, NULL, 0, false);
    /* a 300-block disc inserted, then ejected by force */
    static const char *const discs[] = {"\x01\xB0\x04\0\0\0\0\0\0", "\x82\0\0\0\0\0\0\0\0"};
    rr_seed("media_changes", 0, discs, 2, true);
    qcow2_seed("v2", 2);
    qcow2_seed("v3", 3);
    return 0;
}
