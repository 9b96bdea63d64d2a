/* PCI configuration mechanism #1 over a pci_bus: CONFIG_ADDRESS at
 * 0xCF8-0xCFB, CONFIG_DATA at 0xCFC-0xCFF.  With nothing on the bus it
 * answers exactly as pci_absent does. */
#ifndef PANDA_DEVICES_PCI_HOST_H
#define PANDA_DEVICES_PCI_HOST_H

#include "device.h"

typedef struct pci_host pci_host;

/* bus: the machine's configuration space (wiring; outlives the host). */
pci_host *pci_host_new(pci_bus *bus);
void pci_host_free(pci_host *host);
/* CONFIG_ADDRESS back to 0; the access counters are kept. */
void pci_host_reset(pci_host *host);
bus_device pci_host_address_device(pci_host *host); /* 0xCF8-0xCFB */
bus_device pci_host_data_device(pci_host *host);    /* 0xCFC-0xCFF */
uint32_t pci_host_address(const pci_host *host);

/* type "pci_host"; state: CONFIG_ADDRESS and the counters (the functions
 * on the bus are devices of their own) */
extern const panda_device_ops pci_host_ops;

#endif
