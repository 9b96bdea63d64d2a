/* POST port 0x80. */
#include "testing/check.h"
#include "legacy/port80.h"

int main(void)
{
    port80 *p = port80_new();
    CHECK(p != NULL);
    bus_device P = port80_device(p);
    CHECK_EQ(port80_writes(p), 0);
    CHECK_EQ(dev_in(P, 0, 1), 0x00);

    /* Linux's I/O delay: outb(0, 0x80) over and over */
    for (int i = 0; i < 1000; i++) dev_out(P, 0, 0, 1);
    CHECK_EQ(port80_writes(p), 1000);
    dev_out(P, 0, 0x42, 1);
    CHECK_EQ(dev_in(P, 0, 1), 0x42);
    CHECK_EQ(dev_in(P, 0, 1), 0x42); /* reads do not change it */
    CHECK_EQ(port80_writes(p), 1001);

    /* wider accesses: the low byte is the port, the rest floats */
    dev_out(P, 0, 0xABCD, 2);
    CHECK_EQ(dev_in(P, 0, 1), 0xCD);
    CHECK_EQ(dev_in(P, 0, 2), 0xFFCD);
    CHECK_EQ(dev_in(P, 0, 4), 0xFFFFFFCDu);
    CHECK_EQ(port80_writes(p), 1002);

    /* hostile */
    CHECK_EQ(dev_in(P, 1, 1), 0xFF);
    CHECK_EQ(dev_in(P, 0xFFFFFFFFu, 4), 0xFFFFFFFFu);
    dev_out(P, 0x10000, 0x99, 1);
    CHECK_EQ(dev_in(P, 0, 1), 0xCD);
    CHECK_EQ(dev_in(P, 0, 3), 0xFFFFCD);
    dev_out(P, 0, 0x77, 3);
    CHECK_EQ(dev_in(P, 0, 1), 0x77);
    CHECK(port80_writes(NULL) == 0);
    test_rng r = {80};
    uint8_t last = 0x77;
    uint64_t writes = port80_writes(p);
    for (int i = 0; i < 5000; i++) {
        uint32_t v = (uint32_t)rng_next(&r);
        unsigned size = rng_size(&r);
        dev_out(P, 0, v, size);
        last = (uint8_t)v;
        writes++;
        CHECK_EQ(dev_in(P, 0, 1), last);
    }
    CHECK_EQ(port80_writes(p), writes);
    port80_free(p);
    return check_done();
}
