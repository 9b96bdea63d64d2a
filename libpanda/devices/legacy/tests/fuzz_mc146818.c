/* libFuzzer harness: the MC146818 RTC's ports on a fake clock, with any
 * start time and memory size, the machine's deadline loop and state
 * (fuzz_harness.h). */
#include "tests/fuzz_harness.h"
#include "legacy/mc146818.h"

/* cfg.a: the wall clock at virtual time 0 (any int64: the device clamps
 * it); cfg.b: KiB of memory above 1 MiB */
static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    return mc146818_new(fuzz_irq(w, 8), fuzz_now, clock, (int64_t)cfg->a, cfg->b);
}

static bus_device region(void *dev, size_t i)
{
    (void)i;
    return mc146818_device(dev);
}

static const fuzz_device rtc = {&mc146818_ops, create, 1, region, NULL, NULL, NULL};
FUZZ_DEVICE_TARGET(rtc)
