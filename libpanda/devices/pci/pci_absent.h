/* PCI configuration mechanism #1 (0xCF8 address, 0xCFC-0xCFF data) with
 * no device behind it: the address register reads back what was written,
 * every data read returns all ones ("no device"), data writes are dropped. */
#ifndef PANDA_DEVICES_PCI_ABSENT_H
#define PANDA_DEVICES_PCI_ABSENT_H

#include "bus.h"

typedef struct pci_absent pci_absent;

pci_absent *pci_absent_new(void);
void pci_absent_free(pci_absent *pci);
bus_device pci_absent_address_device(pci_absent *pci); /* 0xCF8-0xCFB */
bus_device pci_absent_data_device(pci_absent *pci);    /* 0xCFC-0xCFF */

/* Snapshot support: the device's state as bytes (same build only). */
size_t pci_absent_state_size(void);
void pci_absent_state_save(const pci_absent *dev, void *buf);
void pci_absent_state_load(pci_absent *dev, const void *buf);

#endif
