/*
 * Intel 8042 keyboard controller (0x60 data, 0x64 status/command) with a
 * keyboard that answers commands but never has keys to send, and no AUX
 * (mouse) port.
 *
 * Status (0x64 read): OBF bit 0 while the output queue holds a byte; IBF
 * bit 1 always 0 (every command completes at once); SYS bit 2 after a
 * self-test (0xAA) or as written in command byte bit 2; CMD/DATA bit 3 =
 * the last write went to 0x64; bit 4 = 1 (keyboard not inhibited); AUXDATA,
 * timeout and parity errors never.  Replies queue in a 16-byte output FIFO
 * (a hostile guest that never reads loses further replies); reading 0x60
 * with nothing queued returns the last byte again.
 *
 * IRQ1 is raised while a byte is waiting and command byte bit 0 is set.
 * Each data read lowers it and raises it again if more bytes wait, so the
 * edge-triggered PIC sees one edge per byte, as with the real controller
 * refilling its one-byte buffer.
 *
 * Controller commands: 0x20-0x3F read internal RAM (0x20 = command byte),
 * 0x60-0x7F write it (next data byte), 0xA7 disable AUX (sets command
 * byte bit 5), 0xA8 enable AUX: there is no AUX, so bit 5 stays as it is
 * and Linux's i8042_toggle_aux check concludes "no AUX", 0xA9 AUX test ->
 * 0xFF, 0xAA self-test -> 0x55, 0xAB keyboard interface test -> 0x00,
 * 0xAD/0xAE disable/enable keyboard (command byte bit 4), 0xD0/0xD1
 * read/write the output port (stored; clearing bit 0 resets the CPU as
 * the chip does), 0xD2 write the keyboard output buffer, 0xD3/0xD4 (to
 * AUX) take their data byte and drop it, 0xDD/0xDF A20 off/on (output port
 * bit 1), 0xF0-0xFF pulse output port bits: a low bit 0 (0xFE, and the
 * other even values) pulses the CPU reset line and calls the reset
 * callback; the other bits are ignored.  Anything else is counted as
 * unmodelled.  Without an AUX port, 0xD3 (AUX loop) gets no reply, so a
 * kernel that probes AUX waits out its timeout once; booting Linux with
 * i8042.noaux avoids that.
 *
 * Keyboard (data written to 0x60 with no controller command pending): 0xFF
 * reset -> 0xFA 0xAA; 0xF2 identify -> 0xFA 0xAB 0x83; 0xEE echo -> 0xEE;
 * 0xED (LEDs), 0xF3 (typematic) and 0xF0 (scan code set) take a parameter
 * byte, each byte ACKed (0xF0 0x00 also returns the set, 2); every other
 * byte -> 0xFA.  Replies are not translated to set 1 (Linux accepts the
 * untranslated identify bytes).
 */
#include "legacy/i8042.h"

#include <stdlib.h>
#include <string.h>

#include "bytewise.h"

#define QUEUE_SIZE 16

#define STAT_OBF 0x01
#define STAT_SYS 0x04
#define STAT_CMD 0x08
#define STAT_UNLOCKED 0x10

#define CTR_KBDINT 0x01
#define CTR_SYS 0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20

enum pending { PEND_NONE, PEND_RAM_WRITE, PEND_OUTPORT, PEND_KBD_OBUF, PEND_AUX };
enum kbd_param { KBD_NONE, KBD_LEDS, KBD_TYPEMATIC, KBD_SCANSET };

struct i8042 {
    irq_line irq1;
    int irq_level;
    void (*reset)(void *);
    void *reset_opaque;
    void (*a20)(void *, bool);
    void *a20_opaque;
    uint8_t queue[QUEUE_SIZE];
    unsigned q_head, q_count;
    uint8_t last_read;
    uint8_t ram[32]; /* ram[0] is the command byte */
    uint8_t outport;
    bool sys, last_was_cmd;
    enum pending pending;
    uint8_t pending_ram;
    enum kbd_param kbd_param;
    uint8_t kbd_leds, kbd_typematic, kbd_scanset;
    uint64_t dropped;
    uint64_t unmodelled;
};

/* The level IRQ1 should be at. */
static int irq_wanted(const i8042 *k)
{
    return k->q_count && (k->ram[0] & CTR_KBDINT);
}

static void update_irq(i8042 *k)
{
    int level = irq_wanted(k);
    if (level != k->irq_level) {
        k->irq_level = level;
        irq_set(&k->irq1, level);
    }
}

static void push(i8042 *k, uint8_t byte)
{
    if (k->q_count >= QUEUE_SIZE) {
        k->dropped++;
        return;
    }
    k->queue[(k->q_head + k->q_count) % QUEUE_SIZE] = byte;
    k->q_count++;
}

static void pulse_reset(i8042 *k)
{
    if (k->reset) k->reset(k->reset_opaque);
}

/* Output port bit 1 drives the A20 gate, as QEMU's a20_out line: on
 * every write of the port, whether or not the bit changed. */
static void drive_a20(i8042 *k)
{
    if (k->a20) k->a20(k->a20_opaque, k->outport & 2);
}

static void write_outport(i8042 *k, uint8_t val)
{
    k->outport = val;
    drive_a20(k);
    if (!(val & 1)) pulse_reset(k); /* system reset line held low */
}

static void keyboard_write(i8042 *k, uint8_t val)
{
    if (k->kbd_param != KBD_NONE) {
        enum kbd_param p = k->kbd_param;
        k->kbd_param = KBD_NONE;
        push(k, 0xFA);
        if (p == KBD_LEDS) k->kbd_leds = val & 7;
        else if (p == KBD_TYPEMATIC) k->kbd_typematic = val & 0x7F;
        else if (val == 0) push(k, k->kbd_scanset);
        else if (val <= 3) k->kbd_scanset = val;
        return;
    }
    switch (val) {
    case 0xFF: /* reset and self-test */
        k->kbd_scanset = 2;
        push(k, 0xFA);
        push(k, 0xAA);
        break;
    case 0xF2: /* identify */
        push(k, 0xFA);
        push(k, 0xAB);
        push(k, 0x83);
        break;
    case 0xEE: /* echo */
        push(k, 0xEE);
        break;
    case 0xED:
        k->kbd_param = KBD_LEDS;
        push(k, 0xFA);
        break;
    case 0xF3:
        k->kbd_param = KBD_TYPEMATIC;
        push(k, 0xFA);
        break;
    case 0xF0:
        k->kbd_param = KBD_SCANSET;
        push(k, 0xFA);
        break;
    default:
        push(k, 0xFA);
        break;
    }
}

static void command(i8042 *k, uint8_t cmd)
{
    k->pending = PEND_NONE;
    if (cmd >= 0x20 && cmd <= 0x3F) {
        push(k, k->ram[cmd & 0x1F]);
        return;
    }
    if (cmd >= 0x60 && cmd <= 0x7F) {
        k->pending = PEND_RAM_WRITE;
        k->pending_ram = cmd & 0x1F;
        return;
    }
    if (cmd >= 0xF0) {
        if (!(cmd & 1)) pulse_reset(k);
        return;
    }
    switch (cmd) {
    case 0xA7: k->ram[0] |= CTR_AUXDIS; break;
    case 0xA8: break; /* no AUX port: stays disabled */
    case 0xA9: push(k, 0xFF); break;
    case 0xAA:
        k->sys = true;
        push(k, 0x55);
        break;
    case 0xAB: push(k, 0x00); break;
    case 0xAD: k->ram[0] |= CTR_KBDDIS; break;
    case 0xAE: k->ram[0] &= (uint8_t)~CTR_KBDDIS; break;
    case 0xD0: push(k, k->outport); break;
    case 0xD1: k->pending = PEND_OUTPORT; break;
    case 0xD2: k->pending = PEND_KBD_OBUF; break;
    case 0xD3:
    case 0xD4:
        k->pending = PEND_AUX;
        k->unmodelled++;
        break;
    case 0xDD:
        k->outport &= (uint8_t)~2u;
        drive_a20(k);
        break;
    case 0xDF:
        k->outport |= 2;
        drive_a20(k);
        break;
    default:
        k->unmodelled++;
        break;
    }
}

static void data_write(i8042 *k, uint8_t val)
{
    enum pending p = k->pending;
    k->pending = PEND_NONE;
    switch (p) {
    case PEND_RAM_WRITE:
        k->ram[k->pending_ram & 0x1F] = val;
        if (k->pending_ram == 0) k->sys = val & CTR_SYS;
        break;
    case PEND_OUTPORT:
        write_outport(k, val);
        break;
    case PEND_KBD_OBUF:
        push(k, val);
        break;
    case PEND_AUX:
        break; /* no AUX device: dropped */
    default:
        keyboard_write(k, val);
        break;
    }
}

static uint8_t data_rd(void *opaque, uint32_t offset)
{
    i8042 *k = opaque;
    (void)offset;
    if (k->q_count) {
        k->last_read = k->queue[k->q_head % QUEUE_SIZE];
        k->q_head = (k->q_head + 1) % QUEUE_SIZE;
        k->q_count--;
        /* the buffer was emptied: one edge per byte */
        if (k->irq_level) {
            k->irq_level = 0;
            irq_set(&k->irq1, 0);
        }
    }
    update_irq(k);
    return k->last_read;
}

static void data_wr(void *opaque, uint32_t offset, uint8_t val)
{
    i8042 *k = opaque;
    (void)offset;
    k->last_was_cmd = false;
    data_write(k, val);
    update_irq(k);
}

static uint8_t status_rd(void *opaque, uint32_t offset)
{
    i8042 *k = opaque;
    (void)offset;
    uint8_t s = STAT_UNLOCKED;
    if (k->q_count) s |= STAT_OBF;
    if (k->sys) s |= STAT_SYS;
    if (k->last_was_cmd) s |= STAT_CMD;
    return s;
}

static void status_wr(void *opaque, uint32_t offset, uint8_t val)
{
    i8042 *k = opaque;
    (void)offset;
    k->last_was_cmd = true;
    command(k, val);
    update_irq(k);
}

static uint32_t data_read(void *opaque, uint32_t offset, unsigned size)
{
    i8042 *k = opaque;
    return bytewise_read(opaque, offset, size, 1, data_rd, &k->unmodelled);
}

static void data_write_dev(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    i8042 *k = opaque;
    bytewise_write(opaque, offset, v, size, 1, data_wr, &k->unmodelled);
}

static uint32_t status_read(void *opaque, uint32_t offset, unsigned size)
{
    i8042 *k = opaque;
    return bytewise_read(opaque, offset, size, 1, status_rd, &k->unmodelled);
}

static void status_write(void *opaque, uint32_t offset, uint32_t v, unsigned size)
{
    i8042 *k = opaque;
    bytewise_write(opaque, offset, v, size, 1, status_wr, &k->unmodelled);
}

void i8042_reset(i8042 *kbc)
{
    if (!kbc) return;
    i8042 keep = *kbc;
    memset(kbc, 0, sizeof *kbc);
    kbc->irq1 = keep.irq1;
    kbc->irq_level = keep.irq_level; /* so that update_irq lowers the line */
    kbc->reset = keep.reset;
    kbc->reset_opaque = keep.reset_opaque;
    kbc->a20 = keep.a20;
    kbc->a20_opaque = keep.a20_opaque;
    kbc->dropped = keep.dropped;
    kbc->unmodelled = keep.unmodelled;
    /* keyboard interrupt on, system flag, set-1 translation */
    kbc->ram[0] = 0x45;
    kbc->outport = 0xCF; /* reset line high, A20 on */
    kbc->kbd_scanset = 2;
    update_irq(kbc);
}

i8042 *i8042_new(irq_line irq1, void (*reset)(void *), void *reset_opaque)
{
    i8042 *k = calloc(1, sizeof *k);
    if (!k) return NULL;
    k->irq1 = irq1;
    k->reset = reset;
    k->reset_opaque = reset_opaque;
    i8042_reset(k); /* nothing queued: IRQ1 stays low, no irq_set */
    return k;
}

void i8042_set_a20_hook(i8042 *kbc, void (*a20)(void *opaque, bool enabled), void *opaque)
{
    kbc->a20 = a20;
    kbc->a20_opaque = opaque;
}

void i8042_free(i8042 *kbc)
{
    free(kbc);
}

bus_device i8042_data_device(i8042 *kbc)
{
    return (bus_device){"i8042-data", kbc, data_read, data_write_dev};
}

bus_device i8042_status_device(i8042 *kbc)
{
    return (bus_device){"i8042-status", kbc, status_read, status_write};
}

uint64_t i8042_unmodelled(const i8042 *kbc)
{
    return kbc ? kbc->unmodelled : 0;
}

/* ---- state (device.h) ---- */

#define I8042_STATE_VERSION 1

static void save_op(const void *opaque, state_writer *w)
{
    const i8042 *k = opaque;
    sw_bytes(w, k->queue, QUEUE_SIZE);
    sw_u8(w, (uint8_t)k->q_head);
    sw_u8(w, (uint8_t)k->q_count);
    sw_u8(w, k->last_read);
    sw_bytes(w, k->ram, sizeof k->ram);
    sw_u8(w, k->outport);
    sw_bool(w, k->sys);
    sw_bool(w, k->last_was_cmd);
    sw_u8(w, (uint8_t)k->pending);
    sw_u8(w, k->pending_ram);
    sw_u8(w, (uint8_t)k->kbd_param);
    sw_u8(w, k->kbd_leds);
    sw_u8(w, k->kbd_typematic);
    sw_u8(w, k->kbd_scanset);
    sw_u64(w, k->dropped);
    sw_u64(w, k->unmodelled);
}

/* Each field holds only what the command and keyboard code can leave in
 * it; anything else is refused. */
static void load_op(void *opaque, state_reader *r, uint32_t version)
{
    if (!sr_version(r, "i8042", version, I8042_STATE_VERSION)) return;
    i8042 k = *(i8042 *)opaque; /* keeps the wiring */
    sr_bytes(r, k.queue, QUEUE_SIZE);
    k.q_head = sr_u8_in(r, 0, QUEUE_SIZE - 1, "i8042 q_head");
    k.q_count = sr_u8_in(r, 0, QUEUE_SIZE, "i8042 q_count");
    k.last_read = sr_u8(r);
    sr_bytes(r, k.ram, sizeof k.ram); /* the guest may write any byte */
    k.outport = sr_u8(r);
    k.sys = sr_flag(r, "i8042 sys");
    k.last_was_cmd = sr_flag(r, "i8042 last_was_cmd");
    k.pending = (enum pending)sr_u8_in(r, PEND_NONE, PEND_AUX, "i8042 pending");
    k.pending_ram = sr_u8_in(r, 0, sizeof k.ram - 1, "i8042 pending_ram");
    k.kbd_param = (enum kbd_param)sr_u8_in(r, KBD_NONE, KBD_SCANSET, "i8042 kbd_param");
    k.kbd_leds = sr_u8_bits(r, 0x07, "i8042 kbd_leds");
    k.kbd_typematic = sr_u8_bits(r, 0x7F, "i8042 kbd_typematic");
    k.kbd_scanset = sr_u8_in(r, 1, 3, "i8042 kbd_scanset");
    k.dropped = sr_u64(r);
    k.unmodelled = sr_u64(r);
    if (r->failed) return;
    k.irq_level = irq_wanted(&k); /* the line follows the state (device.h) */
    *(i8042 *)opaque = k;
}

static void reset_op(void *opaque) { i8042_reset(opaque); }
static void free_op(void *opaque) { i8042_free(opaque); }

const panda_device_ops i8042_ops = {
    .type = "i8042",
    .state_version = I8042_STATE_VERSION,
    .reset = reset_op,
    .save = save_op,
    .load = load_op,
    .free = free_op,
};
