/* Intel 82371SB (PIIX3) PCI-to-ISA bridge, function 00:01.0 (8086:7000),
 * the first function of a multifunction device: its configuration space
 * and the PIRQ router that steers PCI interrupts A-D to ISA IRQs.  (The
 * ELCR at 0x4D0 stays in pic8259; the IDE function is storage/ide.) */
#ifndef PANDA_DEVICES_PIIX3_H
#define PANDA_DEVICES_PIIX3_H

#include "device.h"

typedef struct piix3 piix3;

/* isa: where routed PCI interrupts go; piix3 calls
 * isa.set(isa.opaque, irq, level) with the ISA IRQ as the line
 * (pic8259_set_irq), so isa.line is ignored. */
piix3 *piix3_new(irq_line isa);
void piix3_free(piix3 *dev);
/* Power-on registers (every PIRQ route disabled, 0x80); an ISA IRQ it was
 * holding high is lowered.  The PIRQ inputs keep their levels. */
void piix3_reset(piix3 *dev);
/* configuration space, at devfn PCI_DEVFN(1, 0) */
bus_device piix3_config_device(piix3 *dev);

/*
 * A PCI function's interrupt pin, already swizzled by the machine to a
 * PIRQ: slot s, pin p (INTA = 0) -> PIRQ (s + p - 1) & 3 is what SeaBIOS'
 * and QEMU's i440FX tables say (PIRQA-D = 0-3).  Usable as irq_line.set
 * with the PIRQ as the line.  The ISA IRQ is driven high while any PIRQ
 * routed to it is high (PCI interrupts are shared, level-triggered; the
 * guest sets the IRQ level-triggered in the ELCR).
 */
void piix3_set_pirq(void *dev, int pirq, int level);
/* The ISA IRQ a PIRQ is routed to now, or -1 (routing disabled, or a
 * reserved IRQ number: 0-2, 8, 13). */
int piix3_pirq_route(const piix3 *dev, int pirq);
/* The level piix3 drives ISA IRQ irq at (0 or 1).  A loaded state drives
 * no line (device.h): after loading, the machine sets each IRQ's input
 * from this. */
int piix3_isa_level(const piix3 *dev, int irq);

/* type "piix3"; state: the configuration space and the PIRQ input levels */
extern const panda_device_ops piix3_ops;

#endif
