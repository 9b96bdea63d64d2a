/* 16550A UART: registers, Linux's probe, transmit and receive with the
 * hooks, FIFOs and trigger levels, IIR priorities, OUT2-gated IRQ,
 * loopback, hostile input. */
#include <string.h>

#include "testing/check.h"
#include "legacy/uart16550.h"

#define COM1 0x3F8

typedef struct rec {
    uint8_t tx[256];
    int ntx;
    uint8_t pushed[256];
    int npushed;
    uint8_t read[256];
    int nread;
    uint32_t read_port;
    int ntx_write;
    uint32_t tx_write_port;
} rec;

static void h_tx(void *o, uint8_t b) { rec *r = o; if (r->ntx < 256) r->tx[r->ntx] = b; r->ntx++; }
static void h_push(void *o, uint8_t b) { rec *r = o; if (r->npushed < 256) r->pushed[r->npushed] = b; r->npushed++; }
static void h_read(void *o, uint32_t port, uint8_t b)
{
    rec *r = o;
    if (r->nread < 256) r->read[r->nread] = b;
    r->nread++;
    r->read_port = port;
}
static void h_tx_write(void *o, uint32_t port, uint8_t b)
{
    rec *r = o;
    (void)b;
    r->ntx_write++;
    r->tx_write_port = port;
}

static rec hk;
static fake_irq irq4;
static uart16550 *u;
static bus_device U;

static void setup(void)
{
    memset(&hk, 0, sizeof hk);
    irq4 = (fake_irq){0};
    uart16550_hooks hooks = {&hk, h_tx, h_push, h_read, h_tx_write};
    u = uart16550_new(fake_irq_line(&irq4, 4), COM1, hooks);
    U = uart16550_device(u);
}

static void teardown(void)
{
    uart16550_free(u);
}

static size_t rx(const char *s)
{
    return uart16550_receive(u, (const uint8_t *)s, strlen(s));
}

static void test_reset_and_registers(void)
{
    setup();
    CHECK_EQ(dev_inb(U, 1), 0x00);
    CHECK_EQ(dev_inb(U, 2), 0x01);
    CHECK_EQ(dev_inb(U, 3), 0x00);
    CHECK_EQ(dev_inb(U, 4), 0x00);
    CHECK_EQ(dev_inb(U, 5), 0x60);
    CHECK_EQ(dev_inb(U, 6), 0xB0);
    CHECK_EQ(dev_inb(U, 7), 0x00);
    CHECK_EQ(irq4.level, 0);
    CHECK_EQ(uart16550_rx_room(u), 1);

    /* scratch */
    dev_outb(U, 7, 0x5A);
    CHECK_EQ(dev_inb(U, 7), 0x5A);
    dev_outb(U, 7, 0xA5);
    CHECK_EQ(dev_inb(U, 7), 0xA5);

    /* divisor latch: 115200 baud, then back to RBR/IER */
    dev_outb(U, 1, 0x05);
    dev_outb(U, 3, 0x83);
    CHECK_EQ(dev_inb(U, 0), 0x0C); /* 9600 at reset */
    dev_outb(U, 0, 0x01);
    dev_outb(U, 1, 0x00);
    CHECK_EQ(dev_inb(U, 0), 0x01);
    CHECK_EQ(dev_inb(U, 1), 0x00);
    CHECK_EQ(hk.ntx, 0); /* a DLL write is not a transmit */
    dev_outb(U, 3, 0x03);
    CHECK_EQ(dev_inb(U, 3), 0x03);
    CHECK_EQ(dev_inb(U, 1), 0x05); /* IER untouched by DLM */
    dev_outb(U, 1, 0xFF);
    CHECK_EQ(dev_inb(U, 1), 0x0F); /* only bits 0-3 */
    dev_outb(U, 4, 0xFF);
    CHECK_EQ(dev_inb(U, 4), 0x1F);
    CHECK_EQ(uart16550_unmodelled(u), 0);
    teardown();
}

/* drivers/tty/serial/8250/8250_port.c autoconfig() */
static void test_linux_probe(void)
{
    setup();
    uint8_t scratch = dev_inb(U, 1);
    dev_outb(U, 1, 0);
    uint8_t scratch2 = dev_inb(U, 1) & 0x0F;
    dev_outb(U, 1, 0x0F);
    uint8_t scratch3 = dev_inb(U, 1) & 0x0F;
    dev_outb(U, 1, scratch);
    CHECK_EQ(scratch2, 0);
    CHECK_EQ(scratch3, 0x0F);

    uint8_t save_mcr = dev_inb(U, 4);
    dev_outb(U, 4, 0x10 | 0x0A); /* loopback, RTS, OUT2 */
    CHECK_EQ(dev_inb(U, 6) & 0xF0, 0x90); /* DCD | CTS */
    dev_outb(U, 4, save_mcr);

    dev_outb(U, 3, 0xBF);
    dev_outb(U, 2, 0); /* "EFR": FCR on a 16550A */
    dev_outb(U, 3, 0);
    dev_outb(U, 2, 0x01);
    CHECK_EQ(dev_inb(U, 2) & 0xC0, 0xC0); /* 16550A */
    /* autoconfig_16550a: no EFR (IIR reads non-zero under DLAB) */
    dev_outb(U, 3, 0x80);
    CHECK(dev_inb(U, 2) != 0);
    dev_outb(U, 3, 0xBF);
    CHECK(dev_inb(U, 2) != 0);
    /* not a TI16750: no 64-byte FIFO bit with or without DLAB */
    dev_outb(U, 3, 0);
    dev_outb(U, 2, 0x21);
    CHECK_EQ(dev_inb(U, 2) & 0xE0, 0xC0);
    dev_outb(U, 3, 0x80);
    dev_outb(U, 2, 0x21);
    CHECK_EQ(dev_inb(U, 2) & 0xE0, 0xC0);
    dev_outb(U, 3, 0);
    /* not an XScale: IER bit 6 does not stick */
    dev_outb(U, 1, 0x40);
    CHECK_EQ(dev_inb(U, 1) & 0x40, 0);
    dev_outb(U, 1, 0);
    /* the brief's form: FCR 0xE7 then IIR top bits */
    dev_outb(U, 2, 0xE7);
    CHECK_EQ(dev_inb(U, 2) & 0xC0, 0xC0);
    dev_outb(U, 2, 0x00);
    CHECK_EQ(dev_inb(U, 2) & 0xC0, 0x00);
    CHECK(dev_inb(U, 5) != 0xFF);

    /* serial8250_do_startup: THRE must re-assert when re-enabled */
    dev_outb(U, 1, 0x02);
    uint8_t iir1 = dev_inb(U, 2);
    dev_outb(U, 1, 0);
    dev_outb(U, 1, 0x02);
    uint8_t iir = dev_inb(U, 2);
    dev_outb(U, 1, 0);
    CHECK_EQ(iir1 & 0x01, 0);
    CHECK_EQ(iir & 0x01, 0);
    /* UART_BUG_TXEN test: THRI on, LSR TEMT and IIR pending */
    dev_outb(U, 1, 0x02);
    CHECK(dev_inb(U, 5) & 0x40);
    CHECK_EQ(dev_inb(U, 2) & 0x0F, 0x02);
    dev_outb(U, 1, 0);
    CHECK_EQ(uart16550_unmodelled(u), 0);
    teardown();
}

static void test_transmit(void)
{
    setup();
    dev_outb(U, 0, 'h');
    dev_outb(U, 0, 'i');
    CHECK_EQ(hk.ntx, 2);
    CHECK_EQ(hk.tx[0], 'h');
    CHECK_EQ(hk.tx[1], 'i');
    CHECK_EQ(hk.ntx_write, 2);
    CHECK_EQ(hk.tx_write_port, COM1);
    CHECK_EQ(dev_inb(U, 5) & 0x60, 0x60); /* sent at once */
    CHECK_EQ(irq4.level, 0);              /* nothing enabled */

    /* THRE interrupt: pending, cleared by reading IIR, re-armed by THR */
    dev_outb(U, 4, 0x0B); /* DTR, RTS, OUT2 */
    dev_outb(U, 1, 0x02);
    CHECK_EQ(irq4.level, 1);
    CHECK_EQ(irq4.line, 4);
    CHECK_EQ(dev_inb(U, 2), 0x02);
    CHECK_EQ(irq4.level, 0);
    CHECK_EQ(dev_inb(U, 2), 0x01);
    dev_outb(U, 0, '!');
    CHECK_EQ(irq4.level, 1);
    /* OUT2 gates the line */
    dev_outb(U, 4, 0x03);
    CHECK_EQ(irq4.level, 0);
    CHECK_EQ(dev_inb(U, 2) & 0x0F, 0x02); /* still pending inside */
    dev_outb(U, 4, 0x0B);
    CHECK_EQ(irq4.level, 0); /* that IIR read cleared it */
    /* rewriting IER with THRI already set does not re-arm */
    dev_outb(U, 1, 0x02);
    CHECK_EQ(irq4.level, 0);
    dev_outb(U, 1, 0x00);
    dev_outb(U, 1, 0x02);
    CHECK_EQ(irq4.level, 1);
    dev_outb(U, 1, 0x00);
    CHECK_EQ(irq4.level, 0);

    /* loopback: THR goes to RBR, not out */
    int ntx = hk.ntx;
    dev_outb(U, 4, 0x1B);
    dev_outb(U, 0, 'L');
    CHECK_EQ(hk.ntx, ntx);
    CHECK_EQ(hk.npushed, 1);
    CHECK_EQ(hk.pushed[0], 'L');
    CHECK_EQ(dev_inb(U, 5) & 0x01, 0x01);
    CHECK_EQ(dev_inb(U, 0), 'L');
    CHECK_EQ(hk.nread, 1);
    CHECK_EQ(hk.read_port, COM1);
    CHECK_EQ(dev_inb(U, 5) & 0x01, 0x00);
    /* loopback MSR follows MCR, with deltas */
    dev_outb(U, 4, 0x10);
    (void)dev_inb(U, 6);
    dev_outb(U, 4, 0x1F);
    CHECK_EQ(dev_inb(U, 6), 0xF0 | 0x0B); /* all lines; DCTS DDSR DDCD */
    dev_outb(U, 4, 0x1B);                 /* RI (OUT1) falls */
    CHECK_EQ(dev_inb(U, 6), 0xB0 | 0x04);  /* TERI */
    CHECK_EQ(dev_inb(U, 6), 0xB0);         /* deltas cleared */
    dev_outb(U, 4, 0x03);
    CHECK_EQ(dev_inb(U, 6), 0xB0);         /* lines asserted outside loopback */
    teardown();
}

static void test_receive(void)
{
    setup();
    /* FIFO off: room for one byte */
    CHECK_EQ(rx("ab"), 1);
    CHECK_EQ(hk.npushed, 1);
    CHECK_EQ(uart16550_rx_room(u), 0);
    CHECK_EQ(dev_inb(U, 5) & 0x03, 0x01); /* DR, no overrun */
    CHECK_EQ(irq4.level, 0);
    dev_outb(U, 1, 0x01);
    CHECK_EQ(irq4.level, 0); /* OUT2 clear */
    dev_outb(U, 4, 0x08);
    CHECK_EQ(irq4.level, 1);
    CHECK_EQ(dev_inb(U, 2), 0x04);
    CHECK_EQ(dev_inb(U, 0), 'a');
    CHECK_EQ(irq4.level, 0);
    CHECK_EQ(dev_inb(U, 2), 0x01);
    CHECK_EQ(dev_inb(U, 0), 'a'); /* empty: the last byte again, no hook */
    CHECK_EQ(hk.nread, 1);
    CHECK_EQ(hk.read[0], 'a');

    /* FIFO on, trigger 1 */
    dev_outb(U, 2, 0x07);
    CHECK_EQ(uart16550_rx_room(u), 16);
    CHECK_EQ(rx("hello"), 5);
    CHECK_EQ(irq4.level, 1);
    CHECK_EQ(dev_inb(U, 2), 0xC4);
    char got[6] = {0};
    for (int i = 0; i < 5; i++) got[i] = (char)dev_inb(U, 0);
    CHECK(strcmp(got, "hello") == 0);
    CHECK_EQ(hk.nread, 6);
    CHECK_EQ(irq4.level, 0);
    CHECK_EQ(dev_inb(U, 5) & 0x01, 0);

    /* 16 fit, the 17th is refused (not overrun) */
    uint8_t many[20];
    for (int i = 0; i < 20; i++) many[i] = (uint8_t)('A' + i);
    CHECK_EQ(uart16550_receive(u, many, 20), 16);
    CHECK_EQ(uart16550_rx_room(u), 0);
    CHECK_EQ(uart16550_receive(u, many + 16, 4), 0);
    CHECK_EQ(dev_inb(U, 5) & 0x02, 0);
    CHECK_EQ(dev_inb(U, 0), 'A');
    CHECK_EQ(uart16550_rx_room(u), 1);
    CHECK_EQ(uart16550_receive(u, many + 16, 4), 1);
    for (int i = 1; i < 17; i++) CHECK_EQ(dev_inb(U, 0), 'A' + i);
    CHECK_EQ(dev_inb(U, 5) & 0x01, 0);

    /* trigger level 14: below it the timeout indication, at it RX data */
    dev_outb(U, 2, 0xC1);
    CHECK_EQ(rx("12345"), 5);
    CHECK_EQ(dev_inb(U, 2), 0xCC);
    CHECK_EQ(irq4.level, 1);
    CHECK_EQ(rx("678901234"), 9);
    CHECK_EQ(dev_inb(U, 2), 0xC4);
    /* FCR bit 1 clears the receive FIFO */
    dev_outb(U, 2, 0xC3);
    CHECK_EQ(dev_inb(U, 5) & 0x01, 0);
    CHECK_EQ(irq4.level, 0);
    /* turning the FIFO off clears it too */
    CHECK_EQ(rx("xy"), 2);
    dev_outb(U, 2, 0x00);
    CHECK_EQ(dev_inb(U, 5) & 0x01, 0);
    CHECK_EQ(uart16550_rx_room(u), 1);
    CHECK_EQ(uart16550_receive(u, NULL, 5), 0);
    CHECK_EQ(uart16550_receive(u, many, 0), 0);
    teardown();
}

static void test_iir_priorities(void)
{
    setup();
    dev_outb(U, 2, 0x01); /* FIFO on, trigger 1 */
    dev_outb(U, 4, 0x18); /* loopback, OUT2 */
    dev_outb(U, 1, 0x0F);
    CHECK_EQ(dev_inb(U, 2), 0xC2); /* THRE (enabled just now) */
    CHECK_EQ(dev_inb(U, 2), 0xC0); /* modem status: entering loopback */
    (void)dev_inb(U, 6);
    CHECK_EQ(dev_inb(U, 2), 0xC1);
    CHECK_EQ(irq4.level, 0);
    /* 16 in the FIFO, a 17th by loopback overruns */
    for (int i = 0; i < 16; i++) dev_outb(U, 0, (uint8_t)i);
    CHECK_EQ(uart16550_rx_room(u), 0);
    dev_outb(U, 0, 0xEE);
    CHECK_EQ(irq4.level, 1);
    dev_outb(U, 4, 0x1A); /* RTS too: a modem status change */
    CHECK_EQ(dev_inb(U, 2), 0xC6); /* line status first */
    CHECK_EQ(dev_inb(U, 5) & 0x03, 0x03);
    CHECK_EQ(dev_inb(U, 5) & 0x02, 0x00); /* OE cleared by the read */
    CHECK_EQ(dev_inb(U, 2), 0xC4); /* then received data */
    for (int i = 0; i < 16; i++) CHECK_EQ(dev_inb(U, 0), i); /* 0xEE was lost */
    CHECK_EQ(dev_inb(U, 2), 0xC2); /* then THRE */
    CHECK_EQ(dev_inb(U, 2), 0xC0); /* then modem status (DCTS) */
    CHECK_EQ(irq4.level, 1);
    CHECK_EQ(dev_inb(U, 6), 0x90 | 0x01);
    CHECK_EQ(dev_inb(U, 2), 0xC1);
    CHECK_EQ(irq4.level, 0);
    /* only enabled sources count */
    dev_outb(U, 1, 0x00);
    dev_outb(U, 0, 1);
    dev_outb(U, 4, 0x10);
    CHECK_EQ(dev_inb(U, 2), 0xC1);
    CHECK_EQ(irq4.calls, irq4.changes);
    teardown();
}

static void test_hostile(void)
{
    setup();
    CHECK_EQ(dev_in(U, 8, 1), 0xFF);
    CHECK_EQ(dev_in(U, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    dev_out(U, 0x80000000u, 0x41, 1);
    CHECK_EQ(hk.ntx, 0);
    dev_outb(U, 5, 0);
    dev_outb(U, 6, 0);
    CHECK_EQ(uart16550_unmodelled(u), 1 + 4 + 1 + 2);
    /* a 16-bit write to THR: THR then IER, as two byte cycles */
    dev_out(U, 0, 0x0241, 2);
    CHECK_EQ(hk.ntx, 1);
    CHECK_EQ(dev_inb(U, 1), 0x02);
    dev_out(U, 7, 0x1234, 2);
    CHECK_EQ(dev_inb(U, 7), 0x34);
    (void)dev_in(U, 6, 3);

    test_rng r = {16550};
    uint8_t buf[40];
    for (int i = 0; i < 30000; i++) {
        switch (rng_next(&r) % 4) {
        case 0: dev_out(U, (uint32_t)(rng_next(&r) % 9), (uint32_t)rng_next(&r), rng_size(&r)); break;
        case 1: (void)dev_in(U, (uint32_t)(rng_next(&r) % 9), rng_size(&r)); break;
        case 2: {
            size_t n = rng_next(&r) % sizeof buf;
            for (size_t j = 0; j < n; j++) buf[j] = (uint8_t)rng_next(&r);
            size_t room = uart16550_rx_room(u);
            size_t took = uart16550_receive(u, buf, n);
            CHECK(took <= n && took <= room);
            break;
        }
        default: {
            uint8_t iir = dev_inb(U, 2) & 0x0F;
            CHECK(iir == 0x01 || iir == 0x06 || iir == 0x04 || iir == 0x0C || iir == 0x02 ||
                  iir == 0x00);
        }
        }
        CHECK(uart16550_rx_room(u) <= 16);
    }
    /* drain: at most 16 bytes were held */
    dev_outb(U, 3, 0x03);
    int n = 0;
    while ((dev_inb(U, 5) & 0x01) && n < 100) {
        (void)dev_inb(U, 0);
        n++;
    }
    CHECK(n <= 16);
    CHECK_EQ(dev_inb(U, 5) & 0x60, 0x60);
    CHECK_EQ(irq4.calls, irq4.changes);
    teardown();
}

int main(void)
{
    test_reset_and_registers();
    test_linux_probe();
    test_transmit();
    test_receive();
    test_iir_priorities();
    test_hostile();
    return check_done();
}
