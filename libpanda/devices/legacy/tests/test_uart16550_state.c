/* 16550A UART: saved state (round trip, truncation, versions, hostile
 * bytes, the fields a hostile state must not get past), reset. */
#include "testing/check.h"
#include "legacy/uart16550.h"

#define COM1 0x3F8

/* rx[16], rx_head, rx_count, rbr, ier, lcr, mcr, lsr, msr, scr, dll, dlm,
 * fcr, thr_ipending (u8 each), unmodelled u64 */
#define STATE_LEN 37
#define OFF_RX_HEAD 16
#define OFF_RX_COUNT 17
#define OFF_IER 19
#define OFF_MCR 21
#define OFF_LSR 22
#define OFF_MSR 23
#define OFF_FCR 27
#define OFF_THR_IPENDING 28

typedef struct env {
    fake_irq irq;
    int tx, pushed, read, tx_write; /* hook calls */
} env;

static void h_tx(void *o, uint8_t b) { (void)b; ((env *)o)->tx++; }
static void h_push(void *o, uint8_t b) { (void)b; ((env *)o)->pushed++; }
static void h_read(void *o, uint32_t port, uint8_t b) { (void)port; (void)b; ((env *)o)->read++; }
static void h_tx_write(void *o, uint32_t port, uint8_t b)
{
    (void)port;
    (void)b;
    ((env *)o)->tx_write++;
}

static void *create(void *opaque)
{
    env *e = opaque;
    uart16550_hooks hooks = {e, h_tx, h_push, h_read, h_tx_write};
    return uart16550_new(fake_irq_line(&e->irq, 4), COM1, hooks);
}

/* An IIR value the 16550A can give: an interrupt ID, FIFO bits both or
 * neither, bits 4-5 clear. */
static bool iir_ok(uint8_t iir)
{
    uint8_t id = iir & 0x0F;
    bool id_ok = id == 0x01 || id == 0x06 || id == 0x04 || id == 0x0C || id == 0x02 || id == 0x00;
    return id_ok && !(iir & 0x30) && ((iir & 0xC0) == 0 || (iir & 0xC0) == 0xC0);
}

static void read_regs(uart16550 *u, env *e, check_trace *t)
{
    bus_device U = uart16550_device(u);
    uint8_t iir = dev_inb(U, 2), lsr = dev_inb(U, 5);
    CHECK(iir_ok(iir));
    CHECK_EQ(lsr & 0x60, 0x60); /* transmit is instantaneous */
    CHECK_EQ(lsr & 0x9C, 0);    /* no parity, framing, break, FIFO error */
    trace_add(t, iir);
    trace_add(t, lsr);
    for (uint32_t reg = 1; reg < 8; reg++)
        if (reg != 2 && reg != 5) trace_add(t, dev_inb(U, reg));
    CHECK(uart16550_rx_room(u) <= 16);
    trace_add(t, uart16550_rx_room(u));
    trace_irq(t, &e->irq);
}

static void probe(void *dev, void *opaque, check_trace *t)
{
    uart16550 *u = dev;
    env *e = opaque;
    bus_device U = uart16550_device(u);
    trace_irq_begin(&e->irq);
    env start = *e;
    read_regs(u, e, t);
    uint8_t lcr = dev_inb(U, 3);
    dev_outb(U, 3, lcr | 0x80);
    trace_add(t, dev_inb(U, 0));
    trace_add(t, dev_inb(U, 1));
    dev_outb(U, 3, lcr & 0x7F);
    for (int i = 0; i < 18; i++) {
        trace_add(t, dev_inb(U, 0));
        read_regs(u, e, t);
    }
    trace_add(t, uart16550_receive(u, (const uint8_t *)"abc", 3));
    read_regs(u, e, t);
    dev_outb(U, 0, 'x');
    read_regs(u, e, t);
    dev_outb(U, 1, 0x0F);
    dev_outb(U, 4, 0x0B); /* OUT2: the IRQ reaches the PIC */
    read_regs(u, e, t);
    trace_add(t, dev_inb(U, 0));
    read_regs(u, e, t);
    trace_add(t, (uint64_t)(e->tx - start.tx));
    trace_add(t, (uint64_t)(e->pushed - start.pushed));
    trace_add(t, (uint64_t)(e->read - start.read));
    trace_add(t, (uint64_t)(e->tx_write - start.tx_write));
}

/* FIFOs on (trigger 8), 115200 baud, every interrupt enabled, loopback
 * with OUT2: bytes in the RX FIFO wrapped past its end, an overrun, modem
 * deltas pending. */
static uart16550 *driven(env *e)
{
    uart16550 *u = create(e);
    bus_device U = uart16550_device(u);
    dev_outb(U, 2, 0x81);
    dev_outb(U, 3, 0x83);
    dev_outb(U, 0, 0x01);
    dev_outb(U, 1, 0x00);
    dev_outb(U, 3, 0x03);
    dev_outb(U, 1, 0x0F);
    dev_outb(U, 4, 0x1B);
    dev_outb(U, 7, 0x5A);
    for (int i = 0; i < 12; i++) dev_outb(U, 0, (uint8_t)('A' + i));
    for (int i = 0; i < 9; i++) dev_inb(U, 0);
    for (int i = 0; i < 14; i++) dev_outb(U, 0, (uint8_t)('a' + i)); /* wraps; overruns */
    dev_outb(U, 4, 0x1E); /* deltas: DTR off, OUT1 on */
    return u;
}

static void test_round_trip_and_hostile(env *e)
{
    state_case sc = {&uart16550_ops, e, create, probe};
    uart16550 *u = driven(e);
    check_state_reloads(&sc, u);
    size_t len;
    uint8_t *s = state_bytes(&sc, u, &len);
    CHECK_EQ(len, STATE_LEN);
    CHECK_EQ(s[OFF_RX_COUNT], 16);
    CHECK(s[OFF_RX_HEAD] != 0);
    CHECK(s[OFF_LSR] & 0x02); /* the overrun */

    check_state_refuses(&sc, s, len, OFF_RX_HEAD, 1, 16, "uart16550 rx_head");
    check_state_refuses(&sc, s, len, OFF_RX_HEAD, 1, 0xFF, "uart16550 rx_head");
    check_state_refuses(&sc, s, len, OFF_RX_COUNT, 1, 17, "uart16550 rx_count");
    check_state_refuses(&sc, s, len, OFF_RX_COUNT, 1, 0xFF, "uart16550 rx_count");
    /* 16 bytes queued with the FIFOs off: more than the one-byte holding
     * register holds */
    check_state_refuses(&sc, s, len, OFF_FCR, 1, 0x00, "uart16550 rx_count");
    check_state_refuses(&sc, s, len, OFF_FCR, 1, 0x83, "uart16550 fcr");
    check_state_refuses(&sc, s, len, OFF_IER, 1, 0x1F, "uart16550 ier");
    check_state_refuses(&sc, s, len, OFF_MCR, 1, 0x3B, "uart16550 mcr");
    check_state_refuses(&sc, s, len, OFF_LSR, 1, 0x03, "uart16550 lsr");      /* THRE clear */
    check_state_refuses(&sc, s, len, OFF_LSR, 1, 0x62 | 0x80, "uart16550 lsr");
    check_state_refuses(&sc, s, len, OFF_LSR, 1, 0x62, "uart16550 lsr");      /* DR clear */
    check_state_refuses(&sc, s, len, OFF_MSR, 1, 0xB0, "uart16550 msr");      /* not loopback */
    check_state_refuses(&sc, s, len, OFF_THR_IPENDING, 1, 2, "uart16550 thr_ipending");
    free(s);

    check_state_case(&sc, u, STATE_LEN, 3000, 16550);
    uart16550_free(u);
}

/* One random guest access or typed input (check_reachable_states). */
static void storm_step(void *dev, void *opaque, uint64_t x)
{
    (void)opaque;
    bus_device U = uart16550_device(dev);
    uint32_t reg = (uint32_t)(x % 8);
    if (x & 0x100)
        dev_outb(U, reg, (uint8_t)(x >> 16));
    else if (x & 0x200)
        dev_inb(U, reg);
    else
        uart16550_receive(dev, (const uint8_t *)"0123456789abcdefgh", (x >> 20) % 18);
}

static void test_reset(env *e)
{
    state_case sc = {&uart16550_ops, e, create, probe};
    uart16550 *u = driven(e);
    bus_device U = uart16550_device(u);
    CHECK_EQ(e->irq.level, 1);
    uart16550_reset(u);
    CHECK_EQ(e->irq.level, 0); /* the line is lowered */
    CHECK_EQ(dev_inb(U, 2), 0x01);
    CHECK_EQ(dev_inb(U, 5), 0x60);
    CHECK_EQ(dev_inb(U, 4), 0x00);
    CHECK_EQ(uart16550_rx_room(u), 1);
    uart16550_free(u);

    u = driven(e);
    check_reset(&sc, u);
    uart16550_free(u);
    uart16550_reset(NULL);
}

int main(void)
{
    env e = {0};
    CHECK(strcmp(uart16550_ops.type, "uart16550") == 0);
    test_round_trip_and_hostile(&e);
    check_reachable_states(&(state_case){&uart16550_ops, &e, create, probe}, 4000, 40, 0x3F8,
                           storm_step);
    test_reset(&e);
    return check_done();
}
