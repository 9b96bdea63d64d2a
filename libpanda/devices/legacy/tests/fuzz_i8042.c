/* libFuzzer harness: the i8042's data and command ports and state, its
 * reset pulses counted (fuzz_harness.h). */
#include "tests/fuzz_harness.h"
#include "legacy/i8042.h"

static void reset_pulse(void *w) { fuzz_hook(w, 0xFE); }

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    (void)cfg;
    return i8042_new(fuzz_irq(w, 1), reset_pulse, w);
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? i8042_data_device(dev) : i8042_status_device(dev);
}

static const fuzz_device kbc = {&i8042_ops, create, 2, region, NULL, NULL, NULL};
FUZZ_DEVICE_TARGET(kbc)
