/* PIIX3 ISA bridge function: IDs, reset values, read-only registers, PIRQ
 * routing of PCI interrupts to ISA IRQs, saved state. */
#include "testing/check.h"
#include "pci/piix3.h"

typedef struct env {
    int level[16];
    int calls;
} env;

static void isa_set(void *o, int irq, int level)
{
    env *e = o;
    e->calls++;
    if (irq >= 0 && irq < 16) e->level[irq] = level;
}

static void *create(void *o)
{
    return piix3_new((irq_line){isa_set, o, -1});
}

static void test_ids_and_resets(env *e)
{
    piix3 *d = create(e);
    bus_device C = piix3_config_device(d);
    CHECK_EQ(dev_in(C, 0x00, 4), 0x70008086u);
    CHECK_EQ(dev_in(C, 0x04, 4), 0x02000007u);
    CHECK_EQ(dev_in(C, 0x08, 4), 0x06010000u);
    CHECK_EQ(dev_in(C, 0x0e, 1), 0x80); /* multifunction */
    CHECK_EQ(dev_in(C, 0x60, 4), 0x80808080u);
    CHECK_EQ(dev_in(C, 0x4c, 1), 0x4d);
    CHECK_EQ(dev_in(C, 0x4e, 1), 0x03);
    CHECK_EQ(dev_in(C, 0x69, 1), 0x02);
    CHECK_EQ(dev_in(C, 0x70, 1), 0x80);
    CHECK_EQ(dev_in(C, 0x76, 2), 0x0c0c);
    CHECK_EQ(dev_in(C, 0xa0, 1), 0x08);
    CHECK_EQ(dev_in(C, 0xa8, 1), 0x0f);
    for (int p = 0; p < 4; p++) CHECK_EQ(piix3_pirq_route(d, p), -1);
    /* read-only */
    dev_out(C, 0x00, 0, 4);
    dev_out(C, 0x08, 0, 4);
    dev_out(C, 0x0e, 0, 1);
    dev_out(C, 0x3d, 0xff, 1);
    CHECK_EQ(dev_in(C, 0x00, 4), 0x70008086u);
    CHECK_EQ(dev_in(C, 0x08, 4), 0x06010000u);
    CHECK_EQ(dev_in(C, 0x0e, 1), 0x80);
    CHECK_EQ(dev_in(C, 0x3d, 1), 0);
    /* PIRQRC keeps bits 7 and 3:0 */
    dev_out(C, 0x61, 0xff, 1);
    CHECK_EQ(dev_in(C, 0x61, 1), 0x8f);
    CHECK_EQ(e->calls, 0);
    piix3_free(d);
}

static void test_routing(env *e)
{
    piix3 *d = create(e);
    bus_device C = piix3_config_device(d);
    /* unrouted: a PIRQ going high reaches nothing */
    piix3_set_pirq(d, 0, 1);
    CHECK_EQ(e->calls, 0);
    /* SeaBIOS' piix_isa_bridge_setup: 10, 10, 11, 11 */
    dev_out(C, 0x60, 0x0b0b0a0au, 4);
    CHECK_EQ(piix3_pirq_route(d, 0), 10);
    CHECK_EQ(piix3_pirq_route(d, 3), 11);
    CHECK_EQ(e->level[10], 1); /* the high PIRQA now reaches IRQ10 */
    CHECK_EQ(piix3_isa_level(d, 10), 1);
    /* shared: IRQ10 stays high while either of A and B is */
    piix3_set_pirq(d, 1, 1);
    piix3_set_pirq(d, 0, 0);
    CHECK_EQ(e->level[10], 1);
    piix3_set_pirq(d, 1, 0);
    CHECK_EQ(e->level[10], 0);
    int calls = e->calls;
    piix3_set_pirq(d, 1, 0); /* no change: no call */
    CHECK_EQ(e->calls, calls);
    piix3_set_pirq(d, 3, 1);
    CHECK_EQ(e->level[11], 1);
    /* re-routing a high PIRQ moves it */
    dev_out(C, 0x63, 0x05, 1);
    CHECK_EQ(e->level[11], 0);
    CHECK_EQ(e->level[5], 1);
    /* disabling lowers it */
    dev_out(C, 0x63, 0x85, 1);
    CHECK_EQ(e->level[5], 0);
    CHECK_EQ(piix3_pirq_route(d, 3), -1);
    /* reserved IRQ numbers route nowhere */
    const int reserved[] = {0, 1, 2, 8, 13};
    for (int i = 0; i < 5; i++) {
        dev_out(C, 0x63, (uint32_t)reserved[i], 1);
        CHECK_EQ(piix3_pirq_route(d, 3), -1);
    }
    for (int i = 0; i < 16; i++) CHECK_EQ(e->level[i], 0);
    dev_out(C, 0x63, 14, 1);
    CHECK_EQ(e->level[14], 1);
    /* reset: routes disabled, the IRQ lowered */
    piix3_reset(d);
    CHECK_EQ(e->level[14], 0);
    CHECK_EQ(dev_in(C, 0x60, 4), 0x80808080u);
    /* hostile PIRQ numbers */
    piix3_set_pirq(d, 4, 1);
    piix3_set_pirq(d, -1, 1);
    piix3_set_pirq(NULL, 0, 1);
    CHECK_EQ(piix3_pirq_route(d, 4), -1);
    CHECK_EQ(piix3_isa_level(d, 16), 0);
    piix3_free(d);
}

/* state: the 256 configuration bytes, the PIRQ levels */
#define STATE_LEN 257

static void probe(void *dev, void *o, check_trace *t)
{
    env *e = o;
    bus_device C = piix3_config_device(dev);
    for (uint32_t r = 0; r < 256; r += 4) trace_add(t, dev_in(C, r, 4));
    for (int p = 0; p < 4; p++) trace_add(t, (uint64_t)(int64_t)piix3_pirq_route(dev, p));
    for (int i = 0; i < 16; i++) trace_add(t, (uint64_t)piix3_isa_level(dev, i));
    int calls = e->calls;
    dev_out(C, 0x60, 0x0b0a0907u, 4);
    piix3_set_pirq(dev, 2, 1);
    trace_add(t, (uint64_t)(e->calls - calls));
    CHECK_EQ(piix3_isa_level(dev, 10), 1);
}

static void storm_step(void *dev, void *o, uint64_t x)
{
    (void)o;
    bus_device C = piix3_config_device(dev);
    if (x & 1) {
        piix3_set_pirq(dev, (int)(x >> 8) & 3, (int)(x >> 10) & 1);
    } else {
        uint32_t reg = (x & 2) ? 0x60 + ((uint32_t)(x >> 12) & 3) : (uint32_t)(x >> 12) & 0xff;
        dev_out(C, reg, (uint32_t)(x >> 32), 1);
    }
}

static void test_state(env *e)
{
    state_case sc = {&piix3_ops, e, create, probe};
    CHECK(strcmp(piix3_ops.type, "piix3") == 0);
    piix3 *d = create(e);
    bus_device C = piix3_config_device(d);
    dev_out(C, 0x60, 0x0b0b0a0au, 4);
    dev_out(C, 0x4e, 0x01, 1);
    piix3_set_pirq(d, 2, 1);
    check_state_reloads(&sc, d);
    size_t len;
    uint8_t *s = state_bytes(&sc, d, &len);
    check_state_refuses(&sc, s, len, 0x0e, 1, 0x00, "piix3 config byte 0x0e");
    check_state_refuses(&sc, s, len, 0x60, 1, 0x1a, "piix3 config byte 0x60");
    check_state_refuses(&sc, s, len, 256, 1, 0x10, "piix3 pirq_level");
    free(s);
    /* the loaded state drives nothing, but reports the level it holds */
    piix3 *b = create(e);
    int calls = e->calls;
    s = state_bytes(&sc, d, &len);
    CHECK(state_load(&sc, b, s, len, 1, NULL, 0));
    CHECK_EQ(e->calls, calls);
    CHECK_EQ(piix3_isa_level(b, 11), 1);
    free(s);
    piix3_free(b);
    check_state_case(&sc, d, STATE_LEN, 2000, 0x7000);
    check_reachable_states(&sc, 4000, 40, 0x7000, storm_step);
    check_reset(&sc, d);
    piix3_reset(NULL);
    piix3_free(d);
}

int main(void)
{
    static env e;
    test_ids_and_resets(&e);
    test_routing(&e);
    test_state(&e);
    return check_done();
}
