/* POST port 0x80: saved state, reset. */
#include "testing/check.h"
#include "legacy/port80.h"

/* last u8, writes u64, unmodelled u64 */
#define STATE_LEN 17

static void *create(void *env)
{
    (void)env;
    return port80_new();
}

static void probe(void *dev, void *env, check_trace *t)
{
    (void)env;
    bus_device P = port80_device(dev);
    trace_add(t, dev_in(P, 0, 1));
    trace_add(t, dev_in(P, 0, 4));
    CHECK_EQ(dev_in(P, 0, 4) >> 8, 0xFFFFFF); /* only the one port answers */
    dev_out(P, 0, 0x1234, 2);
    trace_add(t, dev_in(P, 0, 1));
}

int main(void)
{
    state_case sc = {&port80_ops, NULL, create, probe};
    CHECK(strcmp(port80_ops.type, "port80") == 0);

    port80 *p = port80_new();
    bus_device P = port80_device(p);
    for (int i = 0; i < 300; i++) dev_out(P, 0, (uint32_t)i, 1);
    dev_out(P, 1, 0, 1); /* unmodelled */
    CHECK_EQ(dev_inb(P, 0), 299 & 0xFF);
    check_state_reloads(&sc, p);
    check_state_case(&sc, p, STATE_LEN, 3000, 80);

    /* the loaded counters are the saved ones */
    size_t len;
    uint8_t *s = state_bytes(&sc, p, &len);
    port80 *q = port80_new();
    CHECK(state_load(&sc, q, s, len, 1, NULL, 0));
    CHECK_EQ(port80_writes(q), port80_writes(p));
    free(s);
    port80_free(q);

    /* reset: the last value goes, the count stays */
    uint64_t writes = port80_writes(p);
    check_reset(&sc, p);
    CHECK_EQ(dev_inb(P, 0), 0x34); /* the probe wrote it */
    port80_reset(p);
    CHECK_EQ(dev_inb(P, 0), 0);
    CHECK(port80_writes(p) >= writes);
    port80_reset(NULL);
    port80_free(p);
    return check_done();
}
