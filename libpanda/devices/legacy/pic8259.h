/* Intel 8259A programmable interrupt controller pair (master at 0x20,
 * slave at 0xA0 cascaded on IRQ2), plus the ELCR edge/level registers at
 * 0x4D0-0x4D1, as on a PC. */
#ifndef PANDA_DEVICES_PIC8259_H
#define PANDA_DEVICES_PIC8259_H

#include "device.h"

typedef struct pic8259 pic8259;

/* intr: the CPU's INTR input (line 0), raised while an unmasked request
 * is pending, lowered when none is. */
pic8259 *pic8259_new(irq_line intr);
void pic8259_free(pic8259 *pic);
void pic8259_reset(pic8259 *pic);
/* bus_device for 0x20-0x21 (master), 0xA0-0xA1 (slave), 0x4D0-0x4D1 (ELCR) */
bus_device pic8259_master_device(pic8259 *pic);
bus_device pic8259_slave_device(pic8259 *pic);
bus_device pic8259_elcr_device(pic8259 *pic);
/* Devices drive IRQ 0-15 through this (irq_line.set with line = irq). */
void pic8259_set_irq(void *pic, int irq, int level);
/* The CPU acknowledges INTR: returns the vector to deliver (the slave's
 * through the cascade; spurious IRQ7/15 vectors as the chip does), and
 * updates INTR for what is still pending. */
int pic8259_intack(pic8259 *pic);
/* The level INTR is at (1: an unmasked request is pending).  A loaded
 * state drives no line (device.h): after loading, the machine sets the
 * CPU's INTR input to this. */
int pic8259_intr_level(const pic8259 *pic);
/* Diagnostics: how often each IRQ was delivered, unmodelled accesses. */
uint64_t pic8259_delivered(const pic8259 *pic, int irq);
uint64_t pic8259_unmodelled(const pic8259 *pic);

/* type "pic8259"; state: both chips' registers, initialisation sequence
 * and input levels, and the counters */
extern const panda_device_ops pic8259_ops;

#endif
