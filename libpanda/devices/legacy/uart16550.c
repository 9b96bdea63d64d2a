/*
 * National 16550A UART with 16-byte FIFOs.
 *
 * Registers: RBR/THR/DLL (0), IER/DLM (1; IER keeps bits 0-3), IIR/FCR (2),
 * LCR (3; DLAB bit 7), MCR (4; bits 0-4), LSR (5), MSR (6), SCR (7).
 *
 * Transmit is instantaneous: a THR write calls hooks.tx_write(port, byte)
 * (the byte entered the TX path) and, outside loopback, hooks.tx(byte);
 * in loopback the byte goes into the RX FIFO instead (overrunning it if it
 * is full).  THRE and TEMT are therefore always set, and the THRE
 * interrupt is pending again right after every THR write; it is cleared by
 * reading IIR while it is the reported source, and set by enabling ETBEI
 * (IER bit 1 going 0->1), as on the 16550A (Linux's THRE tests rely on it).
 *
 * Receive: uart16550_receive queues bytes while there is room (16 with the
 * FIFO on, 1 with it off) and calls hooks.rx_fifo_push for each; a RBR
 * read that takes a byte calls hooks.rx_read(port, byte) (a RBR read of an
 * empty FIFO returns the last byte again and calls nothing).  Overrun only
 * happens in loopback: the byte is dropped and LSR.OE set.
 *
 * IIR priority: receiver line status (ELSI and OE/PE/FE/BI) > received
 * data (ERBFI and DR: 0x04 once the FIFO holds at least the trigger level
 * (1, 4, 8, 14), otherwise 0x0C, the character timeout indication, at
 * once rather than after four character times) > THRE (ETBEI) > modem
 * status (EDSSI and a delta bit).  Bits 6-7 read 11 while the FIFOs are
 * enabled, so Linux detects a 16550A.  FCR: bit 0 enables the FIFOs
 * (changing it clears both), bits 1/2 clear RX/TX, bits 6-7 the trigger
 * level; DMA mode and the 64-byte bit are ignored.  The IRQ line is
 * (interrupt pending && MCR.OUT2), as the PC's OUT2-gated IRQ buffer.
 *
 * MSR: in loopback CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2, with delta bits
 * (DCTS, DDSR, TERI, DDCD) on change; otherwise CTS, DSR and DCD are
 * asserted.  Reading MSR clears the deltas; reading LSR clears OE.
 *
 * Left out: baud timing (the divisor latch is stored only), parity,
 * framing and break (never reported), the RX FIFO error bit 7 of LSR,
 * LSR/MSR writes (factory test; counted).
 */
#include "legacy/uart16550.h"

#include <stdlib.h>
#include <string.h>

#include "bytewise.h"

#define FIFO_SIZE 16

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI 0x08

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_ERRORS 0x1E
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LCR_DLAB 0x80

struct uart16550 {
    irq_line irq;
    int irq_level;
    uint32_t base_port;
    uart16550_hooks hooks;
    uint8_t rx[FIFO_SIZE];
    unsigned rx_head, rx_count;
    uint8_t rbr; /* the last byte read */
    uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    bool fifo_on;
    bool thr_ipending;
    uint64_t unmodelled;
};

static unsigned rx_capacity(const uart16550 *u)
{
    return u->fifo_on ? FIFO_SIZE : 1;
}

static unsigned trigger_level(const uart16550 *u)
{
    static const uint8_t levels[4] = {1, 4, 8, 14};
    return u->fifo_on ? levels[u->fcr >> 6] : 1;
}

static uint8_t iir_value(const uart16550 *u)
{
    uint8_t iir = 0x01;
    if ((u->ier & IER_RLSI) && (u->lsr & LSR_ERRORS))
        iir = 0x06;
    else if ((u->ier & IER_RDI) && u->rx_count)
        iir = u->rx_count >= trigger_level(u) ? 0x04 : 0x0C;
    else if ((u->ier & IER_THRI) && u->thr_ipending)
        iir = 0x02;
    else if ((u->ier & IER_MSI) && (u->msr & 0x0F))
        iir = 0x00;
    if (u->fifo_on) iir |= 0xC0;
    return iir;
}

/* The level the IRQ line should be at. */
static int irq_wanted(const uart16550 *u)
{
    return !(iir_value(u) & 1) && (u->mcr & MCR_OUT2);
}

static void update_irq(uart16550 *u)
{
    int level = irq_wanted(u);
    if (level != u->irq_level) {
        u->irq_level = level;
        irq_set(&u->irq, level);
    }
}

static void rx_clear(uart16550 *u)
{
    u->rx_head = 0;
    u->rx_count = 0;
    u->lsr &= (uint8_t)~LSR_DR;
}

static bool rx_push(uart16550 *u, uint8_t byte)
{
    if (u->rx_count >= rx_capacity(u) || u->rx_count >= FIFO_SIZE) {
        u->lsr |= LSR_OE;
        return false;
    }
    u->rx[(u->rx_head + u->rx_count) % FIFO_SIZE] = byte;
    u->rx_count++;
    u->lsr |= LSR_DR;
    if (u->hooks.rx_fifo_push) u->hooks.rx_fifo_push(u->hooks.opaque, byte);
    return true;
}

static bool rx_pop(uart16550 *u, uint8_t *byte)
{
    if (!u->rx_count) return false;
    *byte = u->rx[u->rx_head % FIFO_SIZE];
    u->rx_head = (u->rx_head + 1) % FIFO_SIZE;
    u->rx_count--;
    if (!u->rx_count) u->lsr &= (uint8_t)~LSR_DR;
    return true;
}

/* MSR status bits (4-7) as the modem lines currently are. */
static uint8_t msr_lines(const uart16550 *u)
{
    if (!(u->mcr & MCR_LOOP)) return 0xB0; /* DCD, DSR, CTS */
    uint8_t m = 0;
    if (u->mcr & MCR_RTS) m |= 0x10;
    if (u->mcr & MCR_DTR) m |= 0x20;
    if (u->mcr & MCR_OUT1) m |= 0x40;
    if (u->mcr & MCR_OUT2) m |= 0x80;
    return m;
}

static void msr_update(uart16550 *u)
{
    uint8_t old = u->msr & 0xF0, now = msr_lines(u);
    uint8_t delta = u->msr & 0x0F;
    uint8_t changed = old ^ now;
    if (changed & 0x10) delta |= 0x01;               /* DCTS */
    if (changed & 0x20) delta |= 0x02;               /* DDSR */
    if ((old & 0x40) && !(now & 0x40)) delta |= 0x04; /* TERI: RI trailing edge */
    if (changed & 0x80) delta |= 0x08;               /* DDCD */
    u->msr = now | delta;
}

static uint8_t uart_rd(void *opaque, uint32_t offset)
{
    uart16550 *u = opaque;
    uint8_t v;
    switch (offset) {
    case 0:
        if (u->lcr & LCR_DLAB) return u->dll;
        if (rx_pop(u, &v)) {
            u->rbr = v;
            if (u->hooks.rx_read) u->hooks.rx_read(u->hooks.opaque, u->base_port, v);
        }
        update_irq(u);
        return u->rbr;
    case 1:
        return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
    case 2:
        v = iir_value(u);
        if ((v & 0x0F) == 0x02) u->thr_ipending = false;
        update_irq(u);
        return v;
    case 3:
        return u->lcr;
    case 4:
        return u->mcr;
    case 5:
        v = u->lsr;
        u->lsr &= (uint8_t)~LSR_ERRORS;
        update_irq(u);
        return v;
    case 6:
        v = u->msr;
        u->msr &= 0xF0;
        update_irq(u);
        return v;
    default:
        return u->scr;
    }
}

static void uart_wr(void *opaque, uint32_t offset, uint8_t val)
{
    uart16550 *u = opaque;
    switch (offset) {
    case 0:
        if (u->lcr & LCR_DLAB) {
            u->dll = val;
            return;
        }
        if (u->hooks.tx_write) u->hooks.tx_write(u->hooks.opaque, u->base_port, val);
        if (u->mcr & MCR_LOOP)
            rx_push(u, val);
        else if (u->hooks.tx)
            u->hooks.tx(u->hooks.opaque, val);
        /* the byte left at once: THR empty again */
        u->thr_ipending = true;
        break;
    case 1:
        if (u->lcr & LCR_DLAB) {
            u->dlm = val;
            return;
        }
        if ((val & IER_THRI) && !(u->ier & IER_THRI)) u->thr_ipending = true;
        u->ier = val & 0x0F;
        break;
    case 2: {
        bool on = val & 0x01;
        if (on != u->fifo_on) {
            rx_clear(u);
            u->fifo_on = on;
        }
        if (val & 0x02) rx_clear(u);
        /* bit 2 clears the TX FIFO, which is always empty */
        u->fcr = val & 0xC9;
        break;
    }
    case 3:
        u->lcr = val;
        break;
    case 4:
        u->mcr = val & 0x1F;
        msr_update(u);
        break;
    case 5:
    case 6:
        u->unmodelled++; /* factory test writes */
        break;
    default:
        u->scr = val;
        break;
    }
    update_irq(u);
}

static uint32_t uart_read(void *opaque, uint32_t offset, unsigned size)
{
    uart16550 *u = opaque;
    return bytewise_read(opaque, offset, size, 8, uart_rd, &u->unmodelled);
}

static void uart_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    uart16550 *u = opaque;
    bytewise_write(opaque, offset, v, size, 8, uart_wr, &u->unmodelled);
}

void uart16550_reset(uart16550 *uart)
{
    if (!uart) return;
    uart16550 keep = *uart;
    memset(uart, 0, sizeof *uart);
    uart->irq = keep.irq;
    uart->irq_level = keep.irq_level; /* so that update_irq lowers the line */
    uart->base_port = keep.base_port;
    uart->hooks = keep.hooks;
    uart->unmodelled = keep.unmodelled;
    uart->lsr = LSR_THRE | LSR_TEMT;
    uart->msr = msr_lines(uart);
    uart->dll = 0x0C; /* 9600 baud */
    update_irq(uart);
}

uart16550 *uart16550_new(irq_line irq, uint32_t base_port, uart16550_hooks hooks)
{
    uart16550 *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->irq = irq;
    u->base_port = base_port;
    u->hooks = hooks;
    uart16550_reset(u); /* the line is low and stays so: no irq_set */
    return u;
}

void uart16550_free(uart16550 *uart)
{
    free(uart);
}

bus_device uart16550_device(uart16550 *uart)
{
    return (bus_device){"uart16550", uart, uart_read, uart_write};
}

size_t uart16550_receive(uart16550 *uart, const uint8_t *buf, size_t len)
{
    if (!uart || !buf) return 0;
    size_t n = 0;
    while (n < len && uart->rx_count < rx_capacity(uart)) {
        if (!rx_push(uart, buf[n])) break;
        n++;
    }
    update_irq(uart);
    return n;
}

size_t uart16550_rx_room(const uart16550 *uart)
{
    if (!uart) return 0;
    unsigned cap = rx_capacity(uart);
    return uart->rx_count < cap ? cap - uart->rx_count : 0;
}

uint64_t uart16550_unmodelled(const uart16550 *uart)
{
    return uart ? uart->unmodelled : 0;
}

/* ---- state (device.h) ---- */

#define UART16550_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const uart16550 *u = opaque;
    sw_bytes(w, u->rx, FIFO_SIZE);
    sw_u8(w, (uint8_t)u->rx_head);
    sw_u8(w, (uint8_t)u->rx_count);
    sw_u8(w, u->rbr);
    sw_u8(w, u->ier);
    sw_u8(w, u->lcr);
    sw_u8(w, u->mcr);
    sw_u8(w, u->lsr);
    sw_u8(w, u->msr);
    sw_u8(w, u->scr);
    sw_u8(w, u->dll);
    sw_u8(w, u->dlm);
    sw_u8(w, u->fcr); /* bit 0 is fifo_on */
    sw_bool(w, u->thr_ipending);
    sw_u64(w, u->unmodelled);
}

/* Each register holds only what uart_wr and the FIFO code can leave in it;
 * anything else is refused. */
static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "uart16550", version, UART16550_STATE_VERSION)) return;
    uart16550 u = *(uart16550 *)opaque; /* keeps the wiring */
    sr_bytes(r, u.rx, FIFO_SIZE);
    u.rx_head = sr_u8_in(r, 0, FIFO_SIZE - 1, "uart16550 rx_head");
    u.rx_count = sr_u8_in(r, 0, FIFO_SIZE, "uart16550 rx_count");
    u.rbr = sr_u8(r);
    u.ier = sr_u8_bits(r, 0x0F, "uart16550 ier");
    u.lcr = sr_u8(r);
    u.mcr = sr_u8_bits(r, 0x1F, "uart16550 mcr");
    u.lsr = sr_u8_bits(r, LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT, "uart16550 lsr");
    u.msr = sr_u8(r);
    u.scr = sr_u8(r);
    u.dll = sr_u8(r);
    u.dlm = sr_u8(r);
    u.fcr = sr_u8_bits(r, 0xC9, "uart16550 fcr");
    u.fifo_on = u.fcr & 0x01;
    u.thr_ipending = sr_flag(r, "uart16550 thr_ipending");
    u.unmodelled = sr_u64(r);
    if (u.rx_count > rx_capacity(&u))
        sr_fail(r, "uart16550 rx_count %u is more than the RX FIFO holds (%u)", u.rx_count,
                rx_capacity(&u));
    if ((u.lsr & (LSR_THRE | LSR_TEMT)) != (LSR_THRE | LSR_TEMT))
        sr_fail(r, "uart16550 lsr 0x%02x has THRE or TEMT clear (transmit is instantaneous)",
                u.lsr);
    if (!(u.lsr & LSR_DR) != !u.rx_count)
        sr_fail(r, "uart16550 lsr DR disagrees with rx_count %u", u.rx_count);
    if ((u.msr & 0xF0) != msr_lines(&u))
        sr_fail(r, "uart16550 msr 0x%02x disagrees with the modem lines of mcr 0x%02x", u.msr,
                u.mcr);
    if (r->failed) return;
    /* the level the line is at follows from the registers (device.h) */
    u.irq_level = irq_wanted(&u);
    *(uart16550 *)opaque = u;
}

static void reset_op(void *opaque) { uart16550_reset(opaque); }
static void free_op(void *opaque) { uart16550_free(opaque); }

const panda_device_ops uart16550_ops = {
    .type = "uart16550",
    .state_version = UART16550_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
