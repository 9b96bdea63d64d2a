/* Intel 82441FX (i440FX) PCI and memory controller, function 00:00.0
 * (8086:1237): its configuration space, with the PAM registers that steer
 * the BIOS areas 0xC0000-0xFFFFF between RAM and the ROM/PCI side. */
#ifndef PANDA_DEVICES_I440FX_H
#define PANDA_DEVICES_I440FX_H

#include "device.h"

typedef struct i440fx i440fx;

/* Programmable attribute map: region 0 is 0xF0000-0xFFFFF (PAM0 0x59 bits
 * 5:4), regions 1-12 the 16 KiB blocks from 0xC0000 (PAM1 0x5A low nibble
 * = 0xC0000, high nibble = 0xC4000, ... PAM6 0x5F high nibble =
 * 0xEC000). */
#define I440FX_PAM_REGIONS 13

typedef enum i440fx_pam_mode {
    I440FX_PAM_ROM = 0,        /* reads and writes go to the ROM/PCI side */
    I440FX_PAM_READ_RAM = 1,   /* reads from RAM, writes to the ROM/PCI side */
    I440FX_PAM_WRITE_RAM = 2,  /* writes to RAM, reads from the ROM/PCI side */
    I440FX_PAM_RAM = 3,        /* RAM */
} i440fx_pam_mode;

typedef struct i440fx_hooks {
    void *opaque;
    /* a region's mode changed (a configuration write, or reset putting it
     * back to ROM); may be NULL.  Not called by a state load: the machine
     * then reads every region's mode with i440fx_pam_mode. */
    void (*pam_changed)(void *opaque, unsigned region, uint32_t base, uint32_t size,
                        i440fx_pam_mode mode);
} i440fx_hooks;

i440fx *i440fx_new(i440fx_hooks hooks);
void i440fx_free(i440fx *dev);
/* Power-on registers (every PAM region ROM, SMRAM 0x02); the hooks stay. */
void i440fx_reset(i440fx *dev);
/* configuration space, at devfn PCI_DEVFN(0, 0) */
bus_device i440fx_config_device(i440fx *dev);
i440fx_pam_mode i440fx_pam_mode_of(const i440fx *dev, unsigned region);
/* where region lies (0 <= region < I440FX_PAM_REGIONS; false otherwise) */
bool i440fx_pam_region(unsigned region, uint32_t *base, uint32_t *size);

/* type "i440fx"; state: the configuration space */
extern const panda_device_ops i440fx_ops;

#endif
