/* National 16550A UART (COM1: 0x3F8-0x3FF, IRQ4) with 16-byte FIFOs. */
#ifndef PANDA_DEVICES_UART16550_H
#define PANDA_DEVICES_UART16550_H

#include "device.h"

typedef struct uart16550 uart16550;

typedef struct uart16550_hooks {
    void *opaque;
    /* a byte the guest transmitted (THR write, not in loopback) */
    void (*tx)(void *opaque, uint8_t byte);
    /* PANDA's replay_serial_* points (may be NULL): a byte entered the RX
     * FIFO, left it through RBR, entered the TX path, was sent. */
    void (*rx_fifo_push)(void *opaque, uint8_t byte);
    void (*rx_read)(void *opaque, uint32_t port, uint8_t byte);
    void (*tx_write)(void *opaque, uint32_t port, uint8_t byte);
} uart16550_hooks;

uart16550 *uart16550_new(irq_line irq, uint32_t base_port, uart16550_hooks hooks);
void uart16550_free(uart16550 *uart);
/* Power-on registers (what uart16550_new sets up), FIFOs empty; the line
 * is lowered if it was raised.  The wiring, base port and counter stay. */
void uart16550_reset(uart16550 *uart);
bus_device uart16550_device(uart16550 *uart); /* 8 ports from base_port */
/* Bytes from outside (a user typing): queued into the RX FIFO as room
 * allows; returns how many were taken (the rest must be offered again
 * later, e.g. when uart16550_rx_room() > 0). */
size_t uart16550_receive(uart16550 *uart, const uint8_t *buf, size_t len);
size_t uart16550_rx_room(const uart16550 *uart);
uint64_t uart16550_unmodelled(const uart16550 *uart);

/* type "uart16550"; state: the registers and the RX FIFO */
extern const panda_device_ops uart16550_ops;

#endif
