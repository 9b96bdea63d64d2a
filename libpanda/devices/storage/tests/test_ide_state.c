/* PIIX IDE: saved state mid-command (PIO in, PIO out, DMA waiting),
 * the fields a hostile state must not get past, the standard checks
 * (truncation, versions, byte flips, reachable states, reset). */
#include "ide_fakes.h"

/* config 256; per channel: 2 drives x 18 (no CD-ROM drives here: no
 * ATAPI state), unit, ctl, phase, cmd, lba u64, remaining, block, pos,
 * len u32, xfer_left u64, bcl u16, from_disc, buf 8192, bm_cmd,
 * bm_status, bm_prd u32 (8273); unmodelled u64 */
#define STATE_LEN 16810
#define CH0 256
#define CH1 (CH0 + 8273)
#define DRV(ch, u) ((ch) + 18 * (u))
#define OFF_SELECT 10
#define OFF_STATUS 11
#define OFF_ERROR 12
#define OFF_MULT 13
#define OFF_XFER 14
#define OFF_INTRQ 16
#define OFF_UNIT 36
#define OFF_CTL 37
#define OFF_PHASE 38
#define OFF_CMD 39
#define OFF_LBA 40
#define OFF_REMAINING 48
#define OFF_BLOCK 52
#define OFF_POS 56
#define OFF_LEN 60
#define OFF_BUF 75
#define OFF_BM_CMD (OFF_BUF + 8192)
#define OFF_BM_STATUS (OFF_BM_CMD + 1)
#define OFF_BM_PRD (OFF_BM_CMD + 2)

static void *create(void *o)
{
    return make_ide(o, true);
}

static void probe(void *dev, void *o, check_trace *t)
{
    piix_ide *ide = dev;
    env *e = o;
    trace_irq_begin(&e->irq[0]);
    trace_irq_begin(&e->irq[1]);
    for (int ch = 0; ch < 2; ch++) {
        uint8_t alt = ide_altstatus(ide, ch);
        CHECK((alt & ~0xD9) == 0);
        trace_add(t, alt);
        for (uint32_t r = 1; r < 8; r++) trace_add(t, ide_inb(ide, ch, r));
        trace_irq(t, &e->irq[ch]);
        trace_add(t, (uint64_t)piix_ide_irq_level(ide, ch));
    }
    for (uint32_t r = 0; r < 16; r++) trace_add(t, dev_in(piix_ide_bmdma_device(ide), r, 1));
    bus_device C = piix_ide_config_device(ide);
    CHECK_EQ(dev_in(C, 0, 4), 0x70108086u);
    trace_add(t, dev_in(C, 0x04, 4));
    trace_add(t, dev_in(C, 0x20, 4));
    trace_add(t, dev_in(C, 0x40, 4));
    trace_add(t, piix_ide_bmdma_base(ide));
    /* carry on with whatever transfer is in progress */
    for (int ch = 0; ch < 2; ch++) {
        for (int i = 0; i < 6; i++) trace_add(t, ide_inw(ide, ch));
        for (int i = 0; i < 6; i++) ide_outw(ide, ch, (uint16_t)(0x1111 * i));
        trace_add(t, ide_altstatus(ide, ch));
    }
    /* then a known command from a reset */
    for (int ch = 0; ch < 2; ch++) {
        ide_devctl(ide, ch, 0x0C);
        ide_devctl(ide, ch, 0x08);
        ide_outb(ide, ch, 6, ch ? 0xB0 : 0xA0);
        ide_outb(ide, ch, 7, 0xEC);
        trace_irq(t, &e->irq[ch]);
        CHECK_EQ(ide_inb(ide, ch, 7), 0x58);
        trace_add(t, ide_inw(ide, ch));
        for (int i = 0; i < 26; i++) ide_inw(ide, ch);
        trace_add(t, ide_inw(ide, ch)); /* word 27: the model, "PY" */
    }
    trace_add(t, piix_ide_unmodelled(ide));
}

/* Both channels mid-command: ide0 master halfway through the first
 * 4-sector block of READ MULTIPLE, nIEN set; ide1 slave 100 bytes into a
 * WRITE SECTORS block; bus-master registers and configuration changed. */
static piix_ide *driven(env *e)
{
    piix_ide *ide = create(e);
    bus_device C = piix_ide_config_device(ide);
    dev_out(C, 0x20, 0xD000, 4);
    dev_out(C, 0x40, 0xA307, 2);
    bm_prd(ide, 0, 0x4000);
    bm_outb(ide, 0, 2, 0x60);
    bm_prd(ide, 1, 0x8000);
    ide_outb(ide, 0, 2, 4);
    ide_outb(ide, 0, 7, 0xC6);
    ide_outb(ide, 0, 1, 0x03);
    ide_outb(ide, 0, 2, 0x21);
    ide_outb(ide, 0, 7, 0xEF);
    ide_devctl(ide, 0, 0x0A);
    ata_cmd28(ide, 0, 0, 700, 10, 0xC4);
    for (int i = 0; i < 150; i++) ide_inw(ide, 0);
    ata_cmd28(ide, 1, 1, 300, 3, 0x30);
    for (int i = 0; i < 50; i++) ide_outw(ide, 1, (uint16_t)(i * 977));
    return ide;
}

static void test_mid_command(env *e)
{
    state_case sc = {&piix_ide_ops, e, create, probe};
    piix_ide *a = driven(e);
    check_state_reloads(&sc, a);
    size_t len;
    uint8_t *s = state_bytes(&sc, a, &len);
    CHECK_EQ(len, STATE_LEN);
    CHECK_EQ(s[CH0 + OFF_PHASE], 1);
    CHECK_EQ(s[CH0 + OFF_CMD], 0xC4);
    CHECK_EQ(s[CH1 + OFF_PHASE], 2);
    CHECK_EQ(s[CH1 + OFF_UNIT], 1);
    CHECK_EQ(s[CH0 + OFF_POS], 44);  /* 300 = 0x12C */
    CHECK_EQ(s[CH0 + OFF_POS + 1], 1);
    piix_ide *b = create(e);
    CHECK(state_load(&sc, b, s, len, piix_ide_ops.state_version, NULL, 0));
    /* both finish the read alike, byte-exact with the disk */
    uint8_t ra[10 * 512], rb[10 * 512];
    memcpy(ra, e->disk0.data + 700 * 512, 300); /* what went before the save */
    memcpy(rb, ra, 300);
    CHECK_EQ(piix_ide_data_in(a, 0, ra + 300, sizeof ra - 300), sizeof ra - 300);
    CHECK_EQ(piix_ide_data_in(b, 0, rb + 300, sizeof rb - 300), sizeof rb - 300);
    CHECK(memcmp(ra, e->disk0.data + 700 * 512, sizeof ra) == 0);
    CHECK(memcmp(rb, ra, sizeof rb) == 0);
    /* the loaded write finishes into the disk with the saved words in it */
    uint8_t w[3 * 512];
    memset(w, 0x5A, sizeof w);
    CHECK_EQ(piix_ide_data_out(b, 1, w, sizeof w - 100), sizeof w - 100);
    CHECK_EQ(ide_inb(b, 1, 7), 0x50);
    CHECK_EQ(e->disk1.data[300 * 512 + 2], (uint8_t)977);
    CHECK_EQ(e->disk1.data[300 * 512 + 100], 0x5A);
    piix_ide_free(b);
    piix_ide_free(a);

    /* a DMA command waiting for the engine: the loaded copy runs it */
    a = create(e);
    put_prd(e, 0x4000, 0, 0x90000, 3 * 512, true);
    memset(e->ram.mem + 0x90000, 0, 3 * 512);
    bm_prd(a, 0, 0x4000);
    ata_cmd28(a, 0, 0, 1500, 3, 0xC8);
    CHECK_EQ(ide_altstatus(a, 0), 0x58);
    free(s);
    s = state_bytes(&sc, a, &len);
    CHECK_EQ(s[CH0 + OFF_PHASE], 3);
    b = create(e);
    CHECK(state_load(&sc, b, s, len, piix_ide_ops.state_version, NULL, 0));
    bm_outb(b, 0, 0, 0x09);
    CHECK(memcmp(e->ram.mem + 0x90000, e->disk0.data + 1500 * 512, 3 * 512) == 0);
    CHECK_EQ(ide_inb(b, 0, 7), 0x50);
    CHECK_EQ(bm_inb(b, 0, 2) & 0x07, 0x04);
    /* a pending DMA with the engine running is a state the device never leaves */
    s[CH0 + OFF_BM_STATUS] = 0x01;
    check_state_refuses(&sc, s, len, CH0 + OFF_BM_CMD, 1, 0x01, "bus master running");
    piix_ide_free(b);
    piix_ide_free(a);
    free(s);
}

static void test_refusals(env *e)
{
    state_case sc = {&piix_ide_ops, e, create, probe};
    piix_ide *a = driven(e);
    size_t len;
    uint8_t *s = state_bytes(&sc, a, &len);
    check_state_refuses(&sc, s, len, 0x00, 1, 0x87, "piix_ide config byte 0x00");
    check_state_refuses(&sc, s, len, 0x20, 1, 0x00, "piix_ide config byte 0x20"); /* BAR4 I/O bit */
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_SELECT, 1, 0x00, "lacks bits");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_STATUS, 1, 0x78, "ide0 master status");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_STATUS, 1, 0x50, "status disagrees");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_ERROR, 1, 0x80, "ide0 master error");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_MULT, 1, 3, "mult");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_MULT, 1, 32, "mult");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_MULT, 1, 8, "PIO block fields"); /* block 4 */
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_XFER, 1, 0x45, "xfer_mode");
    check_state_refuses(&sc, s, len, DRV(CH0, 0) + OFF_INTRQ, 1, 2, "intrq");
    check_state_refuses(&sc, s, len, DRV(CH0, 1) + OFF_STATUS, 1, 0x50, "absent");
    check_state_refuses(&sc, s, len, DRV(CH0, 1) + OFF_INTRQ, 1, 1, "absent");
    check_state_refuses(&sc, s, len, CH0 + OFF_UNIT, 1, 2, "piix_ide unit");
    check_state_refuses(&sc, s, len, CH0 + OFF_UNIT, 1, 1, "status disagrees");
    check_state_refuses(&sc, s, len, CH0 + OFF_CTL, 1, 0x01, "piix_ide ctl");
    check_state_refuses(&sc, s, len, CH0 + OFF_CTL, 1, 0x04, "SRST");
    check_state_refuses(&sc, s, len, CH0 + OFF_PHASE, 1, 4, "piix_ide phase");
    check_state_refuses(&sc, s, len, CH0 + OFF_PHASE, 1, 0, "no transfer");
    check_state_refuses(&sc, s, len, CH0 + OFF_CMD, 1, 0xC8, "does not fit");
    check_state_refuses(&sc, s, len, CH0 + OFF_CMD, 1, 0x30, "does not fit");
    check_state_refuses(&sc, s, len, CH0 + OFF_LBA, 8, 0xFFFFFFFFFFFFFFF0ull, "not on the disk");
    check_state_refuses(&sc, s, len, CH0 + OFF_LBA, 8, 1999, "not on the disk"); /* 10 sectors from there */
    check_state_refuses(&sc, s, len, CH0 + OFF_REMAINING, 4, 0, "not on the disk");
    check_state_refuses(&sc, s, len, CH0 + OFF_REMAINING, 4, 65537, "not on the disk");
    check_state_refuses(&sc, s, len, CH0 + OFF_BLOCK, 4, 16, "PIO block fields");
    check_state_refuses(&sc, s, len, CH0 + OFF_POS, 4, 2048, "PIO block fields");
    check_state_refuses(&sc, s, len, CH0 + OFF_POS, 4, 301, "PIO block fields");
    check_state_refuses(&sc, s, len, CH0 + OFF_POS, 4, 0x80000000u, "PIO block fields");
    check_state_refuses(&sc, s, len, CH0 + OFF_LEN, 4, 0xFFFFFFFFu, "PIO block fields");
    check_state_refuses(&sc, s, len, CH0 + OFF_BM_CMD, 1, 0x02, "piix_ide bm_cmd");
    check_state_refuses(&sc, s, len, CH0 + OFF_BM_STATUS, 1, 0x08, "piix_ide bm_status");
    check_state_refuses(&sc, s, len, CH0 + OFF_BM_STATUS, 1, 0x01, "bus master stopped");
    check_state_refuses(&sc, s, len, CH0 + OFF_BM_PRD, 4, 0x4002, "dword aligned");
    check_state_refuses(&sc, s, len, CH1 + OFF_PHASE, 1, 0, "no transfer");
    check_state_refuses(&sc, s, len, DRV(CH1, 0) + OFF_STATUS, 1, 0x58, "absent");
    free(s);
    check_state_case(&sc, a, STATE_LEN, 1500, 0x1F0);
    piix_ide_free(a);
}

/* A read in progress on a read-only disk (and on one whose backend cannot
 * write), saved and patched into a write: PIO out, or a DMA write waiting
 * for the bus master.  The command code never leaves one (it aborts a
 * write to such a disk before anything moves), and finishing it would
 * write the disk, so a load refuses it.  (Found by the fuzz_ide harness.) */
static void test_write_to_read_only_refused(env *e)
{
    state_case sc = {&piix_ide_ops, e, create, probe};
    for (int no_write = 0; no_write < 2; no_write++) {
        e->b0.read_only = !no_write;
        e->b0.write = no_write ? NULL : disk_write;
        piix_ide *a = make_ide(e, true);
        ata_cmd28(a, 0, 0, 0, 1, 0x20); /* READ SECTORS: PIO in, DRQ */
        size_t len;
        uint8_t *s = state_bytes(&sc, a, &len);
        check_state_reloads(&sc, a);
        /* phase PIO out (2), command WRITE SECTORS */
        check_state_refuses(&sc, s, len, CH0 + OFF_PHASE, 2, 2 | 0x30 << 8, "read-only");
        free(s);
        piix_ide_free(a);

        a = make_ide(e, true);
        ata_cmd28(a, 0, 0, 0, 1, 0xC8); /* READ DMA: waiting for the bus master */
        s = state_bytes(&sc, a, &len);
        check_state_reloads(&sc, a);
        check_state_refuses(&sc, s, len, CH0 + OFF_CMD, 1, 0xCA, "read-only");
        check_state_refuses(&sc, s, len, CH0 + OFF_CMD, 1, 0x35, "read-only");
        free(s);
        piix_ide_free(a);
    }
    e->b0 = fake_backend(&e->disk0);
}

/* One random guest access (check_reachable_states). */
static void storm_step(void *dev, void *o, uint64_t x)
{
    piix_ide *ide = dev;
    env *e = o;
    int ch = (int)(x >> 62) & 1;
    static const uint8_t cmds[] = {0x20, 0x24, 0xC4, 0x30, 0x39, 0xC6, 0xC8, 0xCA, 0x25, 0xEC,
                                   0xEF, 0x90, 0xE7, 0x00};
    uint8_t v = (uint8_t)(x >> 16);
    switch (x % 8) {
    case 0:
        ide_outb(ide, ch, 2, v & 7);
        ide_outb(ide, ch, 7, cmds[(x >> 8) % sizeof cmds]);
        break;
    case 1:
        ide_outb(ide, ch, 1 + (uint32_t)(x >> 8) % 6, v);
        break;
    case 2:
        ide_inb(ide, ch, 1 + (uint32_t)(x >> 8) % 7);
        break;
    case 3:
        piix_ide_data_in(ide, ch, e->ram.mem, (size_t)(x >> 8) % 3000);
        break;
    case 4:
        piix_ide_data_out(ide, ch, e->ram.mem, (size_t)(x >> 8) % 3000);
        break;
    case 5:
        ide_devctl(ide, ch, v & 0x8E);
        break;
    case 6:
        bm_prd(ide, ch, 0x4000);
        bm_outb(ide, ch, (x & 0x100) ? 0 : 2, v);
        break;
    default:
        dev_out(piix_ide_config_device(ide), (uint32_t)(x >> 8) & 0xFF, v, 1);
        break;
    }
}

int main(void)
{
    static env e;
    env_init(&e, 2000, 1000);
    e.direct = 0xC000;
    CHECK(strcmp(piix_ide_ops.type, "piix_ide") == 0);
    /* a PRD table the storm's DMA commands find */
    put_prd(&e, 0x4000, 0, 0x80000, 0x2000, false);
    put_prd(&e, 0x4000, 1, 0x90000, 0x1000, true);
    test_mid_command(&e);
    test_refusals(&e);
    test_write_to_read_only_refused(&e);
    check_reachable_states(&(state_case){&piix_ide_ops, &e, create, probe}, 3000, 50, 0x170,
                           storm_step);
    piix_ide *d = driven(&e);
    check_reset(&(state_case){&piix_ide_ops, &e, create, probe}, d);
    piix_ide_free(d);
    env_free(&e);
    return check_done();
}
