/* PCI configuration mechanism #1 with nothing behind it: saved state,
 * reset. */
#include "testing/check.h"
#include "pci/pci_absent.h"

/* address u32, data_reads, data_writes, unmodelled u64 */
#define STATE_LEN 28

static void *create(void *env)
{
    (void)env;
    return pci_absent_new();
}

static void probe(void *dev, void *env, check_trace *t)
{
    (void)env;
    bus_device A = pci_absent_address_device(dev), D = pci_absent_data_device(dev);
    trace_add(t, dev_in(A, 0, 4));
    trace_add(t, dev_in(A, 1, 2));
    trace_add(t, dev_in(A, 3, 1));
    CHECK_EQ(dev_in(D, 0, 4), 0xFFFFFFFFu); /* whatever the state: no device */
    dev_out(A, 2, 0xAB, 1);
    trace_add(t, dev_in(A, 0, 4));
}

int main(void)
{
    state_case sc = {&pci_absent_ops, NULL, create, probe};
    CHECK(strcmp(pci_absent_ops.type, "pci_absent") == 0);

    pci_absent *pci = pci_absent_new();
    bus_device A = pci_absent_address_device(pci), D = pci_absent_data_device(pci);
    dev_out(A, 0, 0x8000F8ACu, 4);
    dev_in(D, 0, 4);
    dev_out(D, 0, 1, 4);
    dev_in(A, 4, 1); /* unmodelled */
    check_state_reloads(&sc, pci);
    check_state_case(&sc, pci, STATE_LEN, 3000, 0xCF8);

    check_reset(&sc, pci);
    pci_absent_reset(pci);
    CHECK_EQ(dev_in(A, 0, 4), 0);
    pci_absent_reset(NULL);
    pci_absent_free(pci);
    return check_done();
}
