/* PCI configuration mechanism #1 with nothing behind it. */
#include "testing/check.h"
#include "pci/pci_absent.h"

int main(void)
{
    pci_absent *pci = pci_absent_new();
    CHECK(pci != NULL);
    bus_device A = pci_absent_address_device(pci), D = pci_absent_data_device(pci);

    /* reset: address 0 */
    CHECK_EQ(dev_in(A, 0, 4), 0);

    /* Linux: dword address, then a 16-bit vendor ID read */
    dev_out(A, 0, 0x80001000u, 4);
    CHECK_EQ(dev_in(A, 0, 4), 0x80001000u);
    CHECK_EQ(dev_in(D, 0, 2), 0xFFFF);
    CHECK_EQ(dev_in(D, 0, 1), 0xFF);
    CHECK_EQ(dev_in(D, 0, 4), 0xFFFFFFFFu);
    CHECK_EQ(dev_in(D, 2, 2), 0xFFFF);
    CHECK_EQ(dev_in(D, 3, 1), 0xFF);
    CHECK_EQ(dev_in(D, 2, 4), 0xFFFFFFFFu);

    /* writes to the data port are dropped: still no device */
    dev_out(D, 0, 0x12345678u, 4);
    dev_out(D, 1, 0xAB, 1);
    CHECK_EQ(dev_in(D, 0, 4), 0xFFFFFFFFu);
    CHECK_EQ(dev_in(A, 0, 4), 0x80001000u); /* and the address is untouched */

    /* pci_check_type1(): outb(0x01, 0xCFB), then dword save/probe/restore */
    dev_out(A, 3, 0x01, 1);
    uint32_t saved = dev_in(A, 0, 4);
    CHECK_EQ(saved, 0x01001000u);
    dev_out(A, 0, 0x80000000u, 4);
    CHECK_EQ(dev_in(A, 0, 4), 0x80000000u);
    dev_out(A, 0, saved, 4);
    CHECK_EQ(dev_in(A, 0, 4), saved);
    /* byte and word accesses address the matching bytes */
    dev_out(A, 0, 0x00, 1);
    dev_out(A, 2, 0xBEEF, 2);
    CHECK_EQ(dev_in(A, 0, 4), 0xBEEF1000u);
    CHECK_EQ(dev_in(A, 1, 1), 0x10);
    CHECK_EQ(dev_in(A, 2, 2), 0xBEEF);

    /* every device/function/register: all ones */
    for (uint32_t dev = 0; dev < 32; dev++) {
        for (uint32_t reg = 0; reg < 256; reg += 4) {
            dev_out(A, 0, 0x80000000u | dev << 11 | reg, 4);
            CHECK_EQ(dev_in(D, 0, 4), 0xFFFFFFFFu);
            CHECK_EQ(dev_in(D, reg & 3, 2), 0xFFFF);
        }
    }

    /* hostile: past the end, odd sizes */
    CHECK_EQ(dev_in(A, 3, 4), 0xFFFFFF00u | (dev_in(A, 3, 1) & 0xFF));
    CHECK_EQ(dev_in(A, 4, 1), 0xFF);
    CHECK_EQ(dev_in(A, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    dev_out(A, 0xFFFFFFFEu, 0x12345678u, 4); /* nothing lands */
    dev_out(A, 0, 0x11223344u, 4);
    dev_out(A, 2, 0xAABBCCDDu, 4); /* two bytes land, two float */
    CHECK_EQ(dev_in(A, 0, 4), 0xCCDD3344u);
    CHECK_EQ(dev_in(A, 0, 3), 0xDD3344u);
    CHECK_EQ(dev_in(D, 0, 3), 0xFFFFFF);
    CHECK_EQ(dev_in(D, 0, 0), 0);
    CHECK_EQ(dev_in(D, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    test_rng r = {0xCF8};
    for (int i = 0; i < 5000; i++) {
        bus_device d = (rng_next(&r) & 1) ? A : D;
        uint32_t off = (uint32_t)(rng_next(&r) % 6);
        unsigned size = rng_size(&r);
        if (rng_next(&r) & 1) {
            dev_out(d, off, (uint32_t)rng_next(&r), size);
        } else {
            uint32_t v = dev_in(d, off, size);
            if (d.opaque == D.opaque && d.read == D.read && size <= 4) {
                uint32_t all = size == 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1u;
                CHECK_EQ(v, all);
            }
        }
    }
    pci_absent_free(pci);
    return check_done();
}
