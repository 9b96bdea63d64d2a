/* PCI configuration mechanism #1 over a pci_bus: an empty bus answers as
 * pci_absent does, access by access; a function is reached at its (bus,
 * devfn, register) and nowhere else; byte/word/dword data accesses. */
#include "testing/check.h"
#include "pci/pci_absent.h"
#include "pci/pci_host.h"

/* A fake function: 256 bytes of configuration space it records writes
 * to. */
typedef struct fake_fn {
    uint8_t cfg[256];
    int reads, writes;
    uint32_t last_reg;
    unsigned last_size;
} fake_fn;

static uint32_t fn_read(void *o, uint32_t reg, unsigned size)
{
    fake_fn *f = o;
    f->reads++;
    f->last_reg = reg;
    f->last_size = size;
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) v |= (uint32_t)f->cfg[(reg + i) & 0xff] << (8 * i);
    return v;
}

static void fn_write(void *o, uint32_t reg, uint32_t v, unsigned size)
{
    fake_fn *f = o;
    f->writes++;
    f->last_reg = reg;
    f->last_size = size;
    for (unsigned i = 0; i < size; i++) f->cfg[(reg + i) & 0xff] = (uint8_t)(v >> (8 * i));
}

static void test_empty_bus_is_pci_absent(void)
{
    pci_bus bus;
    pci_bus_init(&bus);
    pci_host *h = pci_host_new(&bus);
    pci_absent *a = pci_absent_new();
    bus_device HA = pci_host_address_device(h), HD = pci_host_data_device(h);
    bus_device AA = pci_absent_address_device(a), AD = pci_absent_data_device(a);
    test_rng r = {0xCF8CFC};
    int differ = 0;
    for (int i = 0; i < 20000; i++) {
        bool data = rng_next(&r) & 1;
        /* mostly in range, sometimes hostile offsets and sizes */
        uint64_t x = rng_next(&r);
        uint32_t off = (x & 0xF0) ? (uint32_t)(x % 6) : (uint32_t)(x >> 32);
        unsigned size = (x & 0xF00) ? rng_size(&r) : (unsigned)(rng_next(&r) % 9);
        uint32_t v = (uint32_t)rng_next(&r);
        if (rng_next(&r) % 8 == 0) v |= 0x80000000u; /* enable bit often set */
        bus_device hd = data ? HD : HA, ad = data ? AD : AA;
        if (rng_next(&r) & 1) {
            dev_out(hd, off, v, size);
            dev_out(ad, off, v, size);
        } else if (dev_in(hd, off, size) != dev_in(ad, off, size)) {
            differ++;
        }
        if (pci_host_address(h) != (uint32_t)dev_in(AA, 0, 4)) differ++;
    }
    CHECK_EQ(differ, 0);
    /* the same accesses seen through pci_bus's empty-slot counters */
    CHECK(bus.empty_reads > 0);
    pci_host_free(h);
    pci_absent_free(a);
}

static void set_addr(bus_device A, unsigned busno, unsigned dev, unsigned fn, unsigned reg)
{
    dev_out(A, 0, 0x80000000u | busno << 16 | dev << 11 | fn << 8 | reg, 4);
}

static void test_function_reached(void)
{
    pci_bus bus;
    pci_bus_init(&bus);
    static fake_fn f;
    for (int i = 0; i < 256; i++) f.cfg[i] = (uint8_t)(i ^ 0x5A);
    CHECK_EQ(pci_bus_add(&bus, PCI_DEVFN(3, 2), (bus_device){"fake", &f, fn_read, fn_write}), 0);
    pci_host *h = pci_host_new(&bus);
    bus_device A = pci_host_address_device(h), D = pci_host_data_device(h);

    /* only (0, 3, 2) answers */
    for (unsigned dev = 0; dev < 32; dev++)
        for (unsigned fn = 0; fn < 8; fn++) {
            set_addr(A, 0, dev, fn, 0x10);
            uint32_t v = dev_in(D, 0, 4);
            if (dev == 3 && fn == 2)
                CHECK_EQ(v, 0x49484B4Au); /* bytes 0x10..0x13 ^ 0x5A */
            else
                CHECK_EQ(v, 0xFFFFFFFFu);
        }
    set_addr(A, 1, 3, 2, 0x10); /* bus 1 */
    CHECK_EQ(dev_in(D, 0, 4), 0xFFFFFFFFu);
    /* enable bit clear: no configuration cycle */
    int reads = f.reads;
    dev_out(A, 0, 3u << 11 | 2u << 8 | 0x10, 4);
    CHECK_EQ(dev_in(D, 0, 4), 0xFFFFFFFFu);
    dev_out(D, 0, 0, 4);
    CHECK_EQ(f.reads, reads);
    CHECK_EQ(f.cfg[0x10], 0x4A);

    /* the register is (address & 0xFC) + (port & 3); bits 1:0 of the
     * address are ignored */
    for (unsigned low = 0; low < 4; low++) {
        set_addr(A, 0, 3, 2, 0x40 | low);
        for (unsigned k = 0; k < 4; k++) {
            CHECK_EQ(dev_in(D, k, 1), (uint32_t)((0x40 + k) ^ 0x5A));
            CHECK_EQ(f.last_reg, 0x40 + k);
            CHECK_EQ(f.last_size, 1);
        }
        CHECK_EQ(dev_in(D, 0, 2), (uint32_t)(0x40 ^ 0x5A) | (uint32_t)(0x41 ^ 0x5A) << 8);
        CHECK_EQ(dev_in(D, 2, 2), (uint32_t)(0x42 ^ 0x5A) | (uint32_t)(0x43 ^ 0x5A) << 8);
        CHECK_EQ(f.last_reg, 0x42);
        CHECK_EQ(dev_in(D, 0, 4), 0x19181B1Au);
    }
    /* an access crossing the dword never reaches the function */
    reads = f.reads;
    CHECK_EQ(dev_in(D, 3, 2), 0xFFFF);
    CHECK_EQ(dev_in(D, 2, 4), 0xFFFFFFFFu);
    CHECK_EQ(dev_in(D, 0, 3), 0xFFFFFF); /* odd size */
    CHECK_EQ(f.reads, reads);

    /* writes: byte, word, dword */
    set_addr(A, 0, 3, 2, 0x80);
    dev_out(D, 0, 0x11223344u, 4);
    CHECK_EQ(f.cfg[0x80], 0x44);
    CHECK_EQ(f.cfg[0x83], 0x11);
    dev_out(D, 2, 0xBEEF, 2);
    CHECK_EQ(f.cfg[0x82], 0xEF);
    CHECK_EQ(f.cfg[0x83], 0xBE);
    CHECK_EQ(f.last_reg, 0x82);
    CHECK_EQ(f.last_size, 2);
    dev_out(D, 1, 0xA5, 1);
    CHECK_EQ(f.cfg[0x81], 0xA5);
    CHECK_EQ(dev_in(D, 0, 4), 0xBEEFA544u);
    int writes = f.writes;
    dev_out(D, 3, 0xFFFF, 2); /* crosses: dropped */
    dev_out(D, 0, 0xFFFFFF, 3);
    CHECK_EQ(f.writes, writes);
    /* a port offset past 0xCFF: only its low two bits count */
    dev_out(D, 5, 0x77, 1);
    CHECK_EQ(f.cfg[0x81], 0x77);
    pci_host_free(h);
    CHECK(pci_host_new(NULL) == NULL);
}

/* state: address u32, data_reads, data_writes, unmodelled u64 */
#define STATE_LEN 28

typedef struct env {
    pci_bus bus;
    fake_fn f;
} env;

static void *create(void *o)
{
    return pci_host_new(&((env *)o)->bus);
}

static void probe(void *dev, void *o, check_trace *t)
{
    (void)o;
    bus_device A = pci_host_address_device(dev), D = pci_host_data_device(dev);
    trace_add(t, dev_in(A, 0, 4));
    trace_add(t, dev_in(A, 1, 2));
    trace_add(t, dev_in(D, 0, 4)); /* follows the address */
    trace_add(t, dev_in(D, 2, 2));
    dev_out(A, 2, 0xAB, 1);
    trace_add(t, dev_in(A, 0, 4));
}

static void test_state(void)
{
    static env e;
    pci_bus_init(&e.bus);
    for (int i = 0; i < 256; i++) e.f.cfg[i] = (uint8_t)i;
    pci_bus_add(&e.bus, PCI_DEVFN(0, 0), (bus_device){"fake", &e.f, fn_read, fn_write});
    state_case sc = {&pci_host_ops, &e, create, probe};
    CHECK(strcmp(pci_host_ops.type, "pci_host") == 0);
    pci_host *h = create(&e);
    bus_device A = pci_host_address_device(h), D = pci_host_data_device(h);
    dev_out(A, 0, 0x80000008u, 4);
    dev_in(D, 0, 4);
    dev_out(D, 0, 1, 4);
    dev_in(A, 4, 1); /* unmodelled */
    check_state_reloads(&sc, h);
    check_state_case(&sc, h, STATE_LEN, 2000, 0xCFC);
    check_reset(&sc, h);
    pci_host_reset(h);
    CHECK_EQ(pci_host_address(h), 0);
    pci_host_reset(NULL);
    pci_host_free(h);
}

int main(void)
{
    test_empty_bus_is_pci_absent();
    test_function_reached();
    test_state();
    return check_done();
}
