/* libFuzzer harness: the 8259A PIC pair's ports, IRQ inputs, INTA and state
 * (fuzz_harness.h has the input's layout and the checks). */
#include "tests/fuzz_harness.h"
#include "legacy/pic8259.h"

static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    (void)cfg;
    return pic8259_new(fuzz_irq(w, 0));
}

static bus_device region(void *dev, size_t i)
{
    return i == 0 ? pic8259_master_device(dev) : i == 1 ? pic8259_slave_device(dev)
                                                        : pic8259_elcr_device(dev);
}

/* arg[0] % 3: 0 drive IRQ arg[1] % 20 - 2 (out-of-range and the cascade
 * IRQ 2 included) to arg[2] & 1; 1 acknowledge (INTA); 2 the counters of
 * IRQ arg[1] % 18 - 1. */
static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    (void)w;
    switch (arg[0] % 3) {
    case 0:
        pic8259_set_irq(dev, (int)(arg[1] % 20) - 2, arg[2] & 1);
        return 0;
    case 1: {
        int vector = pic8259_intack(dev);
        FUZZ_ASSERT(vector >= 0 && vector <= 255, "pic8259: INTA gave vector %d", vector);
        return (uint64_t)vector;
    }
    default:
        return pic8259_delivered(dev, (int)(arg[1] % 18) - 1) ^ pic8259_unmodelled(dev) << 32;
    }
}

/* The CPU's INTR input is where the PIC says it is. */
static void check(void *dev, const fuzz_wiring *w)
{
    FUZZ_ASSERT(w->irq.level == pic8259_intr_level(dev), "pic8259: INTR is at %d, the PIC "
                "says %d", w->irq.level, pic8259_intr_level(dev));
}

/* A loaded PIC drives nothing: the machine sets INTR from it (pc_loaded). */
static void loaded(void *dev, fuzz_wiring *w)
{
    w->irq.level = pic8259_intr_level(dev);
}

static const fuzz_device pic = {&pic8259_ops, create, 3, region, extra, check, loaded};
FUZZ_DEVICE_TARGET(pic)
