/* i440FX host bridge function: IDs, reset values, read-only registers,
 * PAM writes reported region by region, SMRAM's lock, saved state. */
#include "testing/check.h"
#include "pci/i440fx.h"

typedef struct env {
    int calls;
    unsigned region[64];
    uint32_t base[64], size[64];
    i440fx_pam_mode mode[64];
} env;

static void pam_changed(void *o, unsigned region, uint32_t base, uint32_t size, i440fx_pam_mode mode)
{
    env *e = o;
    if (e->calls < 64) {
        e->region[e->calls] = region;
        e->base[e->calls] = base;
        e->size[e->calls] = size;
        e->mode[e->calls] = mode;
    }
    e->calls++;
}

static void *create(void *o)
{
    return i440fx_new((i440fx_hooks){o, pam_changed});
}

static void test_ids_and_resets(env *e)
{
    i440fx *d = create(e);
    bus_device C = i440fx_config_device(d);
    CHECK_EQ(dev_in(C, 0x00, 4), 0x12378086u);
    CHECK_EQ(dev_in(C, 0x04, 2), 0x0006);
    CHECK_EQ(dev_in(C, 0x06, 2), 0x0280);
    CHECK_EQ(dev_in(C, 0x08, 4), 0x06000002u); /* class 0600, rev 2 */
    CHECK_EQ(dev_in(C, 0x0e, 1), 0x00);
    CHECK_EQ(dev_in(C, 0x72, 1), 0x02);
    for (uint32_t r = 0x59; r <= 0x5f; r++) CHECK_EQ(dev_in(C, r, 1), 0);
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) CHECK_EQ(i440fx_pam_mode_of(d, i), I440FX_PAM_ROM);

    /* read-only: IDs, class, header type, status, BARs */
    dev_out(C, 0x00, 0xFFFFFFFFu, 4);
    dev_out(C, 0x08, 0xFFFFFFFFu, 4);
    dev_out(C, 0x0c, 0xFFFFFFFFu, 4);
    dev_out(C, 0x10, 0xFFFFFFFFu, 4);
    dev_out(C, 0x06, 0xFFFF, 2);
    CHECK_EQ(dev_in(C, 0x00, 4), 0x12378086u);
    CHECK_EQ(dev_in(C, 0x08, 4), 0x06000002u);
    CHECK_EQ(dev_in(C, 0x0c, 4), 0x000000FFu); /* only the cache line size stores */
    CHECK_EQ(dev_in(C, 0x10, 4), 0);
    CHECK_EQ(dev_in(C, 0x06, 2), 0x0280);
    /* device registers read back (QEMU), DRB for instance */
    dev_out(C, 0x60, 0x04030201u, 4);
    CHECK_EQ(dev_in(C, 0x60, 4), 0x04030201u);
    CHECK_EQ(e->calls, 0);
    i440fx_free(d);
}

static void test_pam(env *e)
{
    i440fx *d = create(e);
    bus_device C = i440fx_config_device(d);
    uint32_t base, size;
    CHECK(i440fx_pam_region(0, &base, &size));
    CHECK_EQ(base, 0xF0000);
    CHECK_EQ(size, 0x10000);
    CHECK(i440fx_pam_region(1, &base, &size));
    CHECK_EQ(base, 0xC0000);
    CHECK_EQ(size, 0x4000);
    CHECK(i440fx_pam_region(12, &base, &size));
    CHECK_EQ(base, 0xEC000);
    CHECK(!i440fx_pam_region(13, &base, &size));
    CHECK_EQ(i440fx_pam_mode_of(d, 13), I440FX_PAM_ROM);

    /* SeaBIOS' make_bios_writable: 0x5a-0x5f := 0x33, 0x59 := 0x30 */
    e->calls = 0;
    dev_out(C, 0x59, 0x30, 1);
    CHECK_EQ(e->calls, 1);
    CHECK_EQ(e->region[0], 0);
    CHECK_EQ(e->base[0], 0xF0000);
    CHECK_EQ(e->size[0], 0x10000);
    CHECK_EQ(e->mode[0], I440FX_PAM_RAM);
    dev_out(C, 0x5a, 0x33, 1);
    CHECK_EQ(e->calls, 3);
    CHECK_EQ(e->region[1], 1);
    CHECK_EQ(e->base[1], 0xC0000);
    CHECK_EQ(e->region[2], 2);
    CHECK_EQ(e->base[2], 0xC4000);
    dev_out(C, 0x5a, 0x33, 1); /* no change, no call */
    CHECK_EQ(e->calls, 3);
    /* a dword write over 0x5c-0x5f: eight regions */
    dev_out(C, 0x5c, 0x33333333u, 4);
    CHECK_EQ(e->calls, 11);
    CHECK_EQ(e->base[10], 0xEC000);
    /* reserved bits read 0; PAM0's low nibble is reserved */
    dev_out(C, 0x59, 0xFF, 1);
    CHECK_EQ(dev_in(C, 0x59, 1), 0x30);
    dev_out(C, 0x5b, 0xCD, 1); /* RE only in the low nibble, nothing high */
    CHECK_EQ(dev_in(C, 0x5b, 1), 0x01);
    CHECK_EQ(i440fx_pam_mode_of(d, 3), I440FX_PAM_READ_RAM);
    CHECK_EQ(i440fx_pam_mode_of(d, 4), I440FX_PAM_ROM);
    dev_out(C, 0x5b, 0x20, 1);
    CHECK_EQ(i440fx_pam_mode_of(d, 3), I440FX_PAM_ROM);
    CHECK_EQ(i440fx_pam_mode_of(d, 4), I440FX_PAM_WRITE_RAM);
    /* make_bios_readonly: 0x10 -> region 0 read-only RAM */
    e->calls = 0;
    dev_out(C, 0x59, 0x10, 1);
    CHECK_EQ(e->calls, 1);
    CHECK_EQ(e->mode[0], I440FX_PAM_READ_RAM);
    /* reset: every changed region reported back to ROM */
    e->calls = 0;
    i440fx_reset(d);
    int non_rom = 0;
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) non_rom += i440fx_pam_mode_of(d, i) != I440FX_PAM_ROM;
    CHECK_EQ(non_rom, 0);
    CHECK_EQ(e->calls, 12); /* region 3 was already ROM */
    for (int i = 0; i < 12; i++) CHECK_EQ(e->mode[i], I440FX_PAM_ROM);
    i440fx_free(d);
    /* no hook: fine */
    d = i440fx_new((i440fx_hooks){0});
    dev_out(i440fx_config_device(d), 0x59, 0x30, 1);
    CHECK_EQ(i440fx_pam_mode_of(d, 0), I440FX_PAM_RAM);
    i440fx_free(d);
}

static void test_smram(env *e)
{
    i440fx *d = create(e);
    bus_device C = i440fx_config_device(d);
    dev_out(C, 0x72, 0xFF, 1);
    CHECK_EQ(dev_in(C, 0x72, 1), 0x3A); /* D_LCK clears D_OPEN; 2:0 stay 010, bit 7 0 */
    dev_out(C, 0x72, 0x40, 1);          /* locked: only D_CLS writes */
    CHECK_EQ(dev_in(C, 0x72, 1), 0x1A);
    dev_out(C, 0x70, 0x00FF0000u, 4);   /* reached inside a dword */
    CHECK_EQ(dev_in(C, 0x72, 1), 0x3A);
    i440fx_reset(d);
    CHECK_EQ(dev_in(C, 0x72, 1), 0x02);
    dev_out(C, 0x72, 0x4A, 1); /* SeaBIOS' smm_relocate: D_OPEN | G_SMRAME */
    CHECK_EQ(dev_in(C, 0x72, 1), 0x4A);
    i440fx_free(d);
}

/* state: the 256 configuration bytes */
#define STATE_LEN 256

static void probe(void *dev, void *o, check_trace *t)
{
    (void)o;
    bus_device C = i440fx_config_device(dev);
    for (uint32_t r = 0; r < 256; r += 4) trace_add(t, dev_in(C, r, 4));
    for (unsigned i = 0; i < I440FX_PAM_REGIONS; i++) trace_add(t, i440fx_pam_mode_of(dev, i));
    CHECK_EQ(dev_in(C, 0, 4), 0x12378086u);
    CHECK_EQ(dev_in(C, 0x72, 1) & 0x87, 0x02);
    dev_out(C, 0x72, 0x40, 1);
    trace_add(t, dev_in(C, 0x72, 1));
}

static void storm_step(void *dev, void *o, uint64_t x)
{
    (void)o;
    bus_device C = i440fx_config_device(dev);
    uint32_t reg = (uint32_t)(x >> 8) & 0xff;
    static const unsigned sizes[3] = {1, 2, 4};
    unsigned size = sizes[x % 3];
    reg &= ~(size - 1);
    if (x & 0x10000) {
        dev_out(C, (x & 0x20000) ? 0x59 + reg % 26 : reg, (uint32_t)(x >> 32), size);
    } else {
        dev_in(C, reg, size);
    }
}

static void test_state(env *e)
{
    state_case sc = {&i440fx_ops, e, create, probe};
    CHECK(strcmp(i440fx_ops.type, "i440fx") == 0);
    i440fx *d = create(e);
    bus_device C = i440fx_config_device(d);
    dev_out(C, 0x59, 0x30333333u, 4);
    dev_out(C, 0x72, 0x38, 1);
    dev_out(C, 0x04, 0x0007, 2);
    dev_out(C, 0xf0, 0xdeadbeefu, 4);
    check_state_reloads(&sc, d);
    size_t len;
    uint8_t *s = state_bytes(&sc, d, &len);
    check_state_refuses(&sc, s, len, 0x00, 1, 0x87, "i440fx config byte 0x00");
    check_state_refuses(&sc, s, len, 0x59, 1, 0x31, "i440fx config byte 0x59");
    check_state_refuses(&sc, s, len, 0x5a, 1, 0x44, "i440fx config byte 0x5a");
    check_state_refuses(&sc, s, len, 0x72, 1, 0x03, "i440fx config byte 0x72");
    check_state_refuses(&sc, s, len, 0x72, 1, 0x52, "i440fx smram");
    free(s);
    check_state_case(&sc, d, STATE_LEN, 2000, 0x1237);
    check_reachable_states(&sc, 4000, 40, 0x440, storm_step);
    check_reset(&sc, d);
    i440fx_reset(NULL);
    i440fx_free(d);
}

int main(void)
{
    static env e;
    test_ids_and_resets(&e);
    test_pam(&e);
    test_smram(&e);
    test_state(&e);
    return check_done();
}
