/* libFuzzer harness: the 16550A UART's ports, bytes arriving from outside
 * and state, its hooks counted (fuzz_harness.h). */
#include "tests/fuzz_harness.h"
#include "legacy/uart16550.h"

static void tx(void *w, uint8_t byte) { fuzz_hook(w, 0x100 | byte); }
static void rx_fifo_push(void *w, uint8_t byte) { fuzz_hook(w, 0x200 | byte); }
static void rx_read(void *w, uint32_t port, uint8_t byte)
{
    fuzz_hook(w, 0x300 | byte | (uint64_t)port << 16);
}

static void tx_write(void *w, uint32_t port, uint8_t byte)
{
    fuzz_hook(w, 0x400 | byte | (uint64_t)port << 16);
}

/* cfg.b: the base port */
static void *create(fake_clock *clock, fuzz_wiring *w, const fuzz_config *cfg)
{
    (void)clock;
    uart16550_hooks hooks = {w, tx, rx_fifo_push, rx_read, tx_write};
    return uart16550_new(fuzz_irq(w, 4), cfg->b, hooks);
}

static bus_device region(void *dev, size_t i)
{
    (void)i;
    return uart16550_device(dev);
}

/* arg[0] odd: the room left; even: arg[0] / 2 % 8 bytes of arg[1..7]
 * arrive, taken as far as there is room. */
static uint64_t extra(void *dev, fuzz_wiring *w, const uint8_t arg[8])
{
    (void)w;
    size_t room = uart16550_rx_room(dev);
    if (arg[0] & 1) return room;
    size_t n = arg[0] / 2 % 8;
    if (n > 7) n = 7;
    size_t taken = uart16550_receive(dev, arg + 1, n);
    size_t want = n < room ? n : room;
    FUZZ_ASSERT(taken == want, "uart16550: took %zu of %zu bytes with room for %zu", taken, n,
                room);
    FUZZ_ASSERT(uart16550_rx_room(dev) == room - taken, "uart16550: room %zu after taking %zu "
                "of %zu", uart16550_rx_room(dev), taken, room);
    return taken;
}

static const fuzz_device uart = {&uart16550_ops, create, 1, region, extra, NULL, NULL};
FUZZ_DEVICE_TARGET(uart)
