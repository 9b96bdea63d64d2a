/* libFuzzer harness: port 0x80 and its state (fuzz_harness.h). */
#include "tests/fuzz_harness.h"
#include "legacy/port80.h"

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    (void)w;
    (void)cfg;
    return port80_new();
}

static bus_device region(void *dev, size_t i)
{
    (void)i;
    return port80_device(dev);
}

static const fuzz_device p80 = {&port80_ops, create, 1, region, NULL, NULL, NULL};
FUZZ_DEVICE_TARGET(p80)
