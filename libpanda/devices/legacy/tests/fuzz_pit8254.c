/* libFuzzer harness: the 8254 PIT's ports and port 0x61 on a fake clock,
 * the machine's deadline loop and state (fuzz_harness.h). */
#include "tests/fuzz_harness.h"
#include "legacy/pit8254.h"

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)cfg;
    return pit8254_new(fuzz_irq(w, 0), fuzz_now, clock);
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? pit8254_device(dev) : pit8254_port61_device(dev);
}

static const fuzz_device pit = {&pit8254_ops, create, 2, region, NULL, NULL, NULL};
FUZZ_DEVICE_TARGET(pit)
