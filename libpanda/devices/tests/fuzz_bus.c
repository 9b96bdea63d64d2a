/*
 * libFuzzer harness: the buses themselves (bus.c) — the port I/O bus, the
 * MMIO bus and PCI configuration space — against a model of bus.h's rules.
 *
 * The input adds ranges (any base and length, overlapping, wrapping, past
 * the table's end) and makes accesses of any size at any address.  The
 * devices are fakes that log each call and answer a value with bits set
 * above the access size.  After every step: add succeeded exactly when the
 * model says it must; the access reached exactly the device the model
 * picks, at offset address - base, with the size and the value masked to
 * it (an 8-byte MMIO access as two 4-byte ones, low half first), or nothing
 * and was counted as open bus; a read answered the device's value masked
 * to the size, or all ones of min(size, 4) bytes.
 */
#include "tests/fuzz_harness.h"

#define NFAKES 8
#define LOG_MAX 4

typedef struct call {
    int fake;
    bool write;
    uint32_t offset, value;
    unsigned size;
} call;

typedef struct call_log {
    call c[LOG_MAX];
    int n;
} call_log;

static call_log got;       /* what the fakes saw */
static uint32_t answer;    /* what a fake read returns */
static int fake_ids[NFAKES];

static void log_call(call_log *l, call c)
{
    FUZZ_ASSERT(l->n < LOG_MAX, "bus: more device calls than any access makes");
    l->c[l->n++] = c;
}

static uint32_t fake_read(void *opaque, uint32_t offset, unsigned size)
{
    log_call(&got, (call){*(int *)opaque, false, offset, 0, size});
    return answer;
}

static void fake_write(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    log_call(&got, (call){*(int *)opaque, true, offset, value, size});
}

/* Fake 1 (mod 4) cannot be read, fake 2 (mod 4) cannot be written. */
static bus_device fake(int i)
{
    return (bus_device){"fake", &fake_ids[i], i % 4 == 1 ? NULL : fake_read,
                        i % 4 == 2 ? NULL : fake_write};
}

static bool size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4;
}

/* ---- the model ---- */

typedef struct range {
    uint64_t base, len;
    int fake;
} range;

typedef struct model {
    range io[IO_BUS_MAX_RANGES + 1], mmio[256];
    int nio, nmmio;
    int pci[256]; /* by devfn: the fake, or -1 */
    uint64_t io_reads, io_writes, mmio_reads, mmio_writes, pci_reads, pci_writes;
    call_log want;
} model;

static const range *model_find(const range *r, int n, uint64_t addr)
{
    for (int i = 0; i < n; i++)
        if (addr >= r[i].base && addr - r[i].base < r[i].len) return &r[i];
    return NULL;
}

static bool model_overlaps(const range *r, int n, uint64_t base, uint64_t len)
{
    for (int i = 0; i < n; i++)
        if (base < r[i].base + r[i].len && r[i].base < base + len) return true;
    return false;
}

/* One access through ranges r as bus.c must make it (an offset past 4 GiB
 * is open bus: a device's offsets are 32-bit); the value a read must give. */
static uint32_t model_access(model *m, const range *r, int n, uint64_t addr, unsigned size,
                             bool write, uint32_t value, uint64_t *open)
{
    const range *hit = size_ok(size) ? model_find(r, n, addr) : NULL;
    bus_device d = hit ? fake(hit->fake) : (bus_device){0};
    if (!hit || !(write ? (void *)d.write : (void *)d.read) || addr - hit->base > UINT32_MAX) {
        (*open)++;
        return size_mask(size);
    }
    log_call(&m->want, (call){hit->fake, write, (uint32_t)(addr - hit->base),
                              write ? value & size_mask(size) : 0, size});
    return answer & size_mask(size);
}

static void check_calls(const model *m, const char *what)
{
    FUZZ_ASSERT(got.n == m->want.n, "%s: %d device calls, the model wants %d", what, got.n,
                m->want.n);
    for (int i = 0; i < got.n; i++) {
        const call *a = &got.c[i], *b = &m->want.c[i];
        FUZZ_ASSERT(a->fake == b->fake && a->write == b->write && a->offset == b->offset &&
                    a->value == b->value && a->size == b->size,
                    "%s: call %d went to fake %d %s offset %u value 0x%x size %u; the model "
                    "wants fake %d %s offset %u value 0x%x size %u", what, i, a->fake,
                    a->write ? "write" : "read", a->offset, a->value, a->size, b->fake,
                    b->write ? "write" : "read", b->offset, b->value, b->size);
    }
}

/* ---- decoding ---- */

/* Addresses: mostly a small window (so ranges meet), some at the top of
 * the space, some anything. */
static uint64_t fi_addr(fuzz_in *in, uint64_t top)
{
    uint8_t s = fi_u8(in);
    if (s < 0xC0) return s;
    if (s < 0xFE) return top - (s - 0xC0);
    if (s == 0xFE) return fi_u16(in);
    return top == UINT32_MAX ? fi_u32(in) : fi_u64(in);
}

static uint64_t fi_len(fuzz_in *in, uint64_t top)
{
    uint8_t l = fi_u8(in);
    if (l < 0xF0) return l % 16u;
    if (l < 0xFF) return top - (l - 0xF0);
    return top == UINT32_MAX ? fi_u32(in) : fi_u64(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static model m;
    memset(&m, 0, sizeof m);
    for (int i = 0; i < 256; i++) m.pci[i] = -1;
    for (int i = 0; i < NFAKES; i++) fake_ids[i] = i;
    io_bus io;
    mmio_bus mmio;
    pci_bus pci;
    io_bus_init(&io);
    mmio_bus_init(&mmio);
    pci_bus_init(&pci);
    fuzz_in in = {data, size};
    while (in.n) {
        uint8_t op = fi_u8(&in) % BUS_OPS;
        got.n = 0;
        m.want.n = 0;
        switch (op) {
        case BUS_IO_ADD: { /* base (fi_addr), length (fi_len), u8 fake */
            uint64_t base = fi_addr(&in, UINT32_MAX), len = fi_len(&in, UINT32_MAX);
            int f = fi_u8(&in) % NFAKES;
            bool ok = len && base + len <= (uint64_t)UINT32_MAX + 1 &&
                      m.nio < IO_BUS_MAX_RANGES && !model_overlaps(m.io, m.nio, base, len);
            int rc = io_bus_add(&io, (uint32_t)base, (uint32_t)len, fake(f));
            FUZZ_ASSERT(rc == (ok ? 0 : -1), "io_bus_add(0x%llx, 0x%llx) gave %d",
                        (unsigned long long)base, (unsigned long long)len, rc);
            if (ok) m.io[m.nio++] = (range){base, len, f};
            break;
        }
        case BUS_IO_READ:
        case BUS_IO_WRITE: { /* port (fi_addr), size (fi_size), u32 value (also the answer) */
            uint32_t port = (uint32_t)fi_addr(&in, UINT32_MAX);
            unsigned sz = fi_size(&in);
            uint32_t value = fi_u32(&in);
            answer = value ^ 0xA5A5A5A5u; /* bits above any size set too */
            if (op == BUS_IO_READ) {
                uint32_t want = model_access(&m, m.io, m.nio, port, sz, false, 0, &m.io_reads);
                uint32_t v = io_bus_read(&io, port, sz);
                FUZZ_ASSERT(v == want, "io_bus_read(0x%x, %u) gave 0x%x, not 0x%x", port, sz,
                            v, want);
            } else {
                model_access(&m, m.io, m.nio, port, sz, true, value, &m.io_writes);
                io_bus_write(&io, port, value, sz);
            }
            check_calls(&m, "io_bus");
            FUZZ_ASSERT(io.unclaimed_reads == m.io_reads && io.unclaimed_writes == m.io_writes,
                        "io_bus: open-bus counts %llu/%llu, the model %llu/%llu",
                        (unsigned long long)io.unclaimed_reads,
                        (unsigned long long)io.unclaimed_writes,
                        (unsigned long long)m.io_reads, (unsigned long long)m.io_writes);
            break;
        }
        case BUS_MMIO_ADD: { /* as BUS_IO_ADD, 64-bit */
            uint64_t base = fi_addr(&in, UINT64_MAX), len = fi_len(&in, UINT64_MAX);
            int f = fi_u8(&in) % NFAKES;
            /* a range ending exactly at 2^64 counts as wrapping (bus.c) */
            bool ok = len && base + len > base && m.nmmio < 256 &&
                      !model_overlaps(m.mmio, m.nmmio, base, len);
            if (!ok && m.nmmio == 256) break; /* the model's own limit, not the bus's */
            int rc = mmio_bus_add(&mmio, base, len, fake(f));
            FUZZ_ASSERT(rc == (ok ? 0 : -1), "mmio_bus_add(0x%llx, 0x%llx) gave %d",
                        (unsigned long long)base, (unsigned long long)len, rc);
            if (ok) m.mmio[m.nmmio++] = (range){base, len, f};
            break;
        }
        case BUS_MMIO_READ:
        case BUS_MMIO_WRITE: { /* address, u8 size code, u64 value */
            uint64_t addr = fi_addr(&in, UINT64_MAX);
            uint8_t s = fi_u8(&in);
            unsigned sz = s % 9 == 8 ? 8 : fuzz_sizes[s % 8];
            if (s >= 0xF0) sz = s - 0xF0u; /* 0-15: 8 included */
            uint64_t value = fi_u64(&in);
            answer = (uint32_t)value ^ 0x5A5A5A5Au;
            /* size 8: two 4-byte accesses, low half first */
            unsigned parts = sz == 8 ? 2 : 1, psz = sz == 8 ? 4 : sz;
            uint64_t want = 0;
            for (unsigned i = 0; i < parts; i++) {
                uint32_t pv = (uint32_t)(value >> (32 * i));
                uint64_t v = model_access(&m, m.mmio, m.nmmio, addr + 4 * i, psz,
                                          op == BUS_MMIO_WRITE, pv,
                                          op == BUS_MMIO_WRITE ? &m.mmio_writes : &m.mmio_reads);
                want |= v << (32 * i);
            }
            if (op == BUS_MMIO_READ) {
                uint64_t v = mmio_bus_read(&mmio, addr, sz);
                FUZZ_ASSERT(v == want, "mmio_bus_read(0x%llx, %u) gave 0x%llx, not 0x%llx",
                            (unsigned long long)addr, sz, (unsigned long long)v,
                            (unsigned long long)want);
            } else {
                mmio_bus_write(&mmio, addr, value, sz);
            }
            check_calls(&m, "mmio_bus");
            FUZZ_ASSERT(mmio.unclaimed_reads == m.mmio_reads &&
                        mmio.unclaimed_writes == m.mmio_writes, "mmio_bus: open-bus counts");
            break;
        }
        case BUS_PCI_ADD: { /* u8 devfn, u8 fake */
            uint8_t devfn = fi_u8(&in);
            int f = fi_u8(&in) % NFAKES;
            bool ok = m.pci[devfn] < 0 && fake(f).read;
            int rc = pci_bus_add(&pci, devfn, fake(f));
            FUZZ_ASSERT(rc == (ok ? 0 : -1), "pci_bus_add(%u) gave %d", devfn, rc);
            if (ok) m.pci[devfn] = f;
            break;
        }
        case BUS_PCI_READ:
        case BUS_PCI_WRITE: { /* u8 bus, u8 devfn, register (2 bytes), size, u32 value */
            uint8_t busno = fi_u8(&in);
            busno = busno < 0xF0 ? 0 : busno; /* mostly bus 0 */
            uint8_t devfn = fi_u8(&in);
            uint32_t reg = fi_offset(&in) * 8u + fi_u8(&in) % 8u; /* 0..255 mostly */
            unsigned sz = fi_size(&in);
            uint32_t value = fi_u32(&in);
            answer = value ^ 0xC3C3C3C3u;
            int f = m.pci[devfn];
            bool write = op == BUS_PCI_WRITE;
            bool reach = busno == 0 && f >= 0 && (!write || fake(f).write) && size_ok(sz) &&
                         reg < 256 && (reg & 3) + sz <= 4;
            uint32_t want = size_mask(sz);
            if (reach) {
                log_call(&m.want, (call){f, write, reg, write ? value & size_mask(sz) : 0, sz});
                want = answer & size_mask(sz);
            } else if (write) {
                m.pci_writes++;
            } else {
                m.pci_reads++;
            }
            if (write) {
                pci_config_write(&pci, busno, devfn, reg, value, sz);
            } else {
                uint32_t v = pci_config_read(&pci, busno, devfn, reg, sz);
                FUZZ_ASSERT(v == want, "pci_config_read(%u, %u, %u, %u) gave 0x%x, not 0x%x",
                            busno, devfn, reg, sz, v, want);
            }
            check_calls(&m, "pci_bus");
            FUZZ_ASSERT(pci.empty_reads == m.pci_reads && pci.empty_writes == m.pci_writes,
                        "pci_bus: empty-slot counts");
            break;
        }
        }
    }
    mmio_bus_free(&mmio);
    return 0;
}
