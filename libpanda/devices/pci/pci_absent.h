/* PCI configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF data) with
 * no device behind it: the address register reads back what was written,
 * every data read returns all ones ("no device"), data writes are dropped. */
#ifndef PANDA_DEVICES_PCI_ABSENT_H
#define PANDA_DEVICES_PCI_ABSENT_H

#include "device.h"

typedef struct pci_absent pci_absent;

pci_absent *pci_absent_new(void);
void pci_absent_free(pci_absent *pci);
/* CONFIG_ADDRESS back to 0; the access counters are kept. */
void pci_absent_reset(pci_absent *pci);
bus_device pci_absent_address_device(pci_absent *pci); /* 0xCF8-0xCFB */
bus_device pci_absent_data_device(pci_absent *pci);    /* 0xCFC-0xCFF */

/* type "pci_absent"; state: CONFIG_ADDRESS and the counters */
extern const panda_device_ops pci_absent_ops;

#endif
