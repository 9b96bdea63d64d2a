/*
 * The pc machine: an i386 CPU, RAM, and the legacy PC devices Linux needs
 * (libpanda/devices/), booted directly into a Linux kernel.
 *
 * Time is virtual: one guest instruction is one nanosecond, plus the time
 * skipped while the CPU halts.  The TSC runs at 1 GHz on that clock and the
 * PIT and RTC derive from it, so a run depends only on its outside inputs
 * (serial bytes typed, the RTC start time), never on the host's speed.
 *
 * A run is a series of slices.  Before each, devices catch up with virtual
 * time and the slice's instruction budget ends at the next timer deadline;
 * a port write that may move a deadline ends the slice early.  When the
 * CPU halts with interrupts enabled, the clock jumps to the next deadline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

#include <unicorn/x86.h>

#include "../devices/bus.h"
#include "../devices/i8042.h"
#include "../devices/mc146818.h"
#include "../devices/pci_absent.h"
#include "../devices/pic8259.h"
#include "../devices/pit8254.h"
#include "../devices/port80.h"
#include "../devices/uart16550.h"

#define COM1 0x3f8
/* Slices never exceed this, so host input is seen at least this often
 * (in guest instructions = virtual ns). */
#define MAX_SLICE 4000000ull
/* After this many idle slices in a row with no input, the guest is
 * waiting for the outside world: pace it with the wall clock. */
#define IDLE_SLICES_BEFORE_WAIT 25
#define IDLE_WAIT_MS 1

#define CPUID_1_EDX_APIC (1u << 9)

struct pc_machine {
    panda_t *p;
    io_bus bus;
    pic8259 *pic;
    pit8254 *pit;
    mc146818 *rtc;
    uart16550 *uart;
    i8042 *kbc;
    pci_absent *pci;
    port80 *p80;
    uc_hook in_hook, out_hook;
    uint8_t *ram;                 /* guest-physical 0 .. ram_size */
    uint64_t idle_ns;             /* virtual time skipped while halted */
    uint64_t max_slice;
    uint64_t open_bus_reads, open_bus_writes; /* unmapped physical memory */
    int idle_slices;
    bool reset_requested;
    char stop_reason[128];
};

uint64_t pc_vtime(panda_t *p)
{
    return uc_panda_icount(p->uc) + p->pc->idle_ns;
}

static panda_vtime vtime_cb(void *opaque) { return pc_vtime(opaque); }

static uint64_t tsc_cb(void *opaque) { return pc_vtime(opaque); }

static void cpu_intr(void *opaque, int line, int level)
{
    (void)line;
    panda_t *p = opaque;
    uc_panda_set_irq(p->uc, level != 0);
}

static int irq_ack(void *opaque)
{
    panda_t *p = opaque;
    return pic8259_intack(p->pc->pic);
}

/* The CPU models advertise a local APIC; this machine has none, and Linux
 * must not look for one. */
static void cpuid_filter(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t regs[4])
{
    (void)opaque;
    (void)subleaf;
    if (leaf == 1) regs[3] &= ~CPUID_1_EDX_APIC;
}

static void kbc_reset(void *opaque)
{
    panda_t *p = opaque;
    p->pc->reset_requested = true;
    uc_emu_stop(p->uc);
}

static void uart_tx(void *opaque, uint8_t byte)
{
    panda_t *p = opaque;
    console_guest_output(&p->console, byte, uc_panda_icount(p->uc));
}

/* Move typed bytes into the UART's receive FIFO as far as it has room.
 * Input enters only here, between slices, so a recording can say exactly
 * where; in replay the host's typing is ignored and the log feeds. */
static void feed_uart(pc_machine *pc)
{
    uint8_t buf[16];
    if (rr_mode(pc->p) == RR_REPLAY) return;
    size_t room = uart16550_rx_room(pc->uart);
    if (room == 0) return;
    if (room > sizeof(buf)) room = sizeof(buf);
    size_t n = console_take_input(&pc->p->console, buf, room);
    if (n) {
        rr_record_serial(pc->p, buf, n);
        uart16550_receive(pc->uart, buf, n);
    }
}

/* PANDA's replay_serial_* callbacks: COM1's base port stands for its FIFO. */
static void uart_rx_push(void *opaque, uint8_t byte)
{
    panda_t *p = opaque;
    if (rr_mode(p) == RR_REPLAY) panda_cb_replay_serial(p, PANDA_CB_REPLAY_SERIAL_RECEIVE, COM1, 0, byte);
}

static void uart_rx_read(void *opaque, uint32_t port, uint8_t byte)
{
    panda_t *p = opaque;
    if (rr_mode(p) == RR_REPLAY) panda_cb_replay_serial(p, PANDA_CB_REPLAY_SERIAL_READ, COM1, port, byte);
}

static void uart_tx_write(void *opaque, uint32_t port, uint8_t byte)
{
    panda_t *p = opaque;
    if (rr_mode(p) != RR_REPLAY) return;
    panda_cb_replay_serial(p, PANDA_CB_REPLAY_SERIAL_WRITE, COM1, port, byte);
    /* the byte leaves at once: no transmit delay is modelled */
    panda_cb_replay_serial(p, PANDA_CB_REPLAY_SERIAL_SEND, COM1, 0, byte);
}

static uint32_t port_in(uc_engine *uc, uint32_t port, int size, void *opaque)
{
    (void)uc;
    panda_t *p = opaque;
    return io_bus_read(&p->pc->bus, port & 0xffff, (unsigned)size);
}

/* Writes that can move a timer deadline: the PIT (channel 0 drives IRQ0)
 * and RTC data (periodic, alarm and update interrupts).  Port 0x61 only
 * gates channel 2, which raises no interrupt; 0x70 only selects a register. */
static bool moves_deadline(uint32_t port)
{
    return (port >= 0x40 && port <= 0x43) || port == 0x71;
}

static void port_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *opaque)
{
    panda_t *p = opaque;
    io_bus_write(&p->pc->bus, port & 0xffff, value, (unsigned)size);
    /* a timer was reprogrammed: end the slice (the block ends after this
     * OUT anyway) so its budget is computed again */
    if (moves_deadline(port & 0xffff)) uc_emu_stop(uc);
}

static uint64_t open_bus_read(uc_engine *uc, uint64_t offset, unsigned size, void *opaque)
{
    (void)uc;
    (void)offset;
    pc_machine *pc = opaque;
    pc->open_bus_reads++;
    return size >= 8 ? UINT64_MAX : (1ull << (size * 8)) - 1;
}

static void open_bus_write(uc_engine *uc, uint64_t offset, unsigned size, uint64_t value,
                           void *opaque)
{
    (void)uc;
    (void)offset;
    (void)size;
    (void)value;
    pc_machine *pc = opaque;
    pc->open_bus_writes++;
}

static int add(pc_machine *pc, uint32_t base, uint32_t len, bus_device dev)
{
    return io_bus_add(&pc->bus, base, len, dev);
}

panda_err pc_create(panda_t *p)
{
    if (!p->kernel)
        return panda_set_error(p, PANDA_ERR_OPTION,
            "the pc machine boots Linux directly: give -kernel BZIMAGE (and -initrd, -append); there is no firmware");
    pc_machine *pc = calloc(1, sizeof(*pc));
    if (!pc) return PANDA_ERR_NOMEM;
    pc->p = p;
    p->pc = pc;
    /* A testing knob: results must not depend on how a run is sliced. */
    const char *slice = getenv("PYPANDA_MAX_SLICE");
    pc->max_slice = slice && strtoull(slice, NULL, 10) ? strtoull(slice, NULL, 10) : MAX_SLICE;

    /* RAM is ours (the engine maps it), so snapshots read and write it
     * directly; anonymous memory is zero and costs nothing until touched. */
    pc->ram = mmap(NULL, p->ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pc->ram == MAP_FAILED) {
        pc->ram = NULL;
        return panda_set_error(p, PANDA_ERR_NOMEM, "cannot allocate %llu MiB of guest RAM",
                               (unsigned long long)(p->ram_size >> 20));
    }
    uc_err ue = uc_mem_map_ptr(p->uc, 0, p->ram_size, UC_PROT_ALL, pc->ram);
    if (ue) return panda_set_error(p, PANDA_ERR_ENGINE, "mapping RAM: %s", uc_strerror(ue));
    p->mapped_bytes = p->ram_size;
    /* Physical addresses above RAM read as open bus, counted, never fatal. */
    uint64_t top = 1ull << 32;
    if (p->ram_size < top)
        uc_mmio_map(p->uc, p->ram_size, top - p->ram_size, open_bus_read, pc, open_bus_write, pc);

    io_bus_init(&pc->bus);
    irq_line intr = {cpu_intr, p, 0};
    pc->pic = pic8259_new(intr);
    irq_line irq0 = {pic8259_set_irq, pc->pic, 0};
    irq_line irq1 = {pic8259_set_irq, pc->pic, 1};
    irq_line irq4 = {pic8259_set_irq, pc->pic, 4};
    irq_line irq8 = {pic8259_set_irq, pc->pic, 8};
    pc->pit = pit8254_new(irq0, vtime_cb, p);
    pc->rtc = mc146818_new(irq8, vtime_cb, p, p->rtc_base,
                           p->ram_size > 0x100000 ? (uint32_t)((p->ram_size - 0x100000) >> 10) : 0);
    uart16550_hooks uh = {.opaque = p, .tx = uart_tx, .rx_fifo_push = uart_rx_push,
                          .rx_read = uart_rx_read, .tx_write = uart_tx_write};
    pc->uart = uart16550_new(irq4, COM1, uh);
    pc->kbc = i8042_new(irq1, kbc_reset, p);
    pc->pci = pci_absent_new();
    pc->p80 = port80_new();
    if (!pc->pic || !pc->pit || !pc->rtc || !pc->uart || !pc->kbc || !pc->pci || !pc->p80)
        return PANDA_ERR_NOMEM;
    if (add(pc, 0x20, 2, pic8259_master_device(pc->pic)) ||
        add(pc, 0xa0, 2, pic8259_slave_device(pc->pic)) ||
        add(pc, 0x4d0, 2, pic8259_elcr_device(pc->pic)) ||
        add(pc, 0x40, 4, pit8254_device(pc->pit)) ||
        add(pc, 0x61, 1, pit8254_port61_device(pc->pit)) ||
        add(pc, 0x70, 2, mc146818_device(pc->rtc)) ||
        add(pc, COM1, 8, uart16550_device(pc->uart)) ||
        add(pc, 0x60, 1, i8042_data_device(pc->kbc)) ||
        add(pc, 0x64, 1, i8042_status_device(pc->kbc)) ||
        add(pc, 0xcf8, 4, pci_absent_address_device(pc->pci)) ||
        add(pc, 0xcfc, 4, pci_absent_data_device(pc->pci)) ||
        add(pc, 0x80, 1, port80_device(pc->p80)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "device ports overlap");

    uc_hook_add(p->uc, &pc->in_hook, UC_HOOK_INSN, (void *)port_in, p, 1, 0, UC_X86_INS_IN);
    uc_hook_add(p->uc, &pc->out_hook, UC_HOOK_INSN, (void *)port_out, p, 1, 0, UC_X86_INS_OUT);
    uc_panda_set_system_mode(p->uc, true);
    uc_panda_set_icount_mode(p->uc, true);
    return linux_boot_load(p);
}

void pc_destroy(panda_t *p)
{
    pc_machine *pc = p->pc;
    if (!pc) return;
    pic8259_free(pc->pic);
    pit8254_free(pc->pit);
    mc146818_free(pc->rtc);
    uart16550_free(pc->uart);
    i8042_free(pc->kbc);
    pci_absent_free(pc->pci);
    port80_free(pc->p80);
    if (pc->ram) munmap(pc->ram, p->ram_size);
    free(pc);
    p->pc = NULL;
}

/* The pc machine's own engine hooks, merged into libpanda's (callbacks.c). */
void pc_engine_hooks(panda_t *p, uc_panda_hooks *h)
{
    if (!p->pc) return;
    h->irq_ack = irq_ack;
    h->tsc = tsc_cb;
    h->cpuid = cpuid_filter;
}

static panda_vtime next_deadline(pc_machine *pc)
{
    panda_vtime a = pit8254_next_deadline(pc->pit);
    panda_vtime b = mc146818_next_deadline(pc->rtc);
    return a < b ? a : b;
}

static void devices_catch_up(pc_machine *pc)
{
    panda_vtime now = pc_vtime(pc->p);
    pit8254_run_until(pc->pit, now);
    mc146818_run_until(pc->rtc, now);
}

slice_result pc_before_slice(panda_t *p, uint64_t *budget_out)
{
    pc_machine *pc = p->pc;
    devices_catch_up(pc);
    if (rr_mode(p) == RR_REPLAY) {
        uint8_t buf[RR_MAX_FEED];
        size_t n;
        int r;
        while ((r = rr_replay_step(p, buf, &n)) == RR_FED) {
            if (uart16550_receive(pc->uart, buf, n) != n) {
                panda_set_error(p, PANDA_ERR_DIVERGED,
                    "replay diverged at instruction count %llu: the UART has no room for the recorded input",
                    (unsigned long long)uc_panda_icount(p->uc));
                return SLICE_ERROR;
            }
        }
        if (r == RR_DONE) return SLICE_REPLAY_DONE;
        if (r == RR_DIVERGED) return SLICE_ERROR;
    } else {
        feed_uart(pc);
    }
    panda_vtime now = pc_vtime(p), deadline = next_deadline(pc);
    uint64_t budget = deadline == PANDA_VTIME_NEVER ? pc->max_slice
                      : deadline <= now ? 1 : deadline - now;
    if (budget > pc->max_slice) budget = pc->max_slice;
    *budget_out = rr_budget(p, budget);
    return SLICE_CONTINUE;
}

static bool interrupts_enabled(panda_t *p)
{
    uint64_t eflags = 0;
    uc_reg_read(p->uc, UC_X86_REG_EFLAGS, &eflags);
    return eflags & 0x200;
}

/* The guest stopped for good.  In a replay that is the recording's end
 * only if the recording was ended right there; anywhere else the replay
 * went astray. */
static slice_result guest_stopped(panda_t *p, slice_result r)
{
    if (rr_mode(p) != RR_REPLAY) return r;
    uint8_t buf[RR_MAX_FEED];
    size_t n;
    if (rr_replay_step(p, buf, &n) == RR_DONE) return SLICE_REPLAY_DONE;
    panda_set_error(p, PANDA_ERR_DIVERGED,
        "replay diverged: %s at instruction count %llu, before the recording's end",
        p->pc->stop_reason, (unsigned long long)uc_panda_icount(p->uc));
    return SLICE_ERROR;
}

slice_result pc_after_slice(panda_t *p)
{
    pc_machine *pc = p->pc;
    if (pc->reset_requested) {
        snprintf(pc->stop_reason, sizeof(pc->stop_reason), "the guest reset the machine");
        return guest_stopped(p, SLICE_GUEST_RESET);
    }
    if (!uc_panda_halted(p->uc)) {
        pc->idle_slices = 0;
        return SLICE_CONTINUE;
    }
    if (!interrupts_enabled(p)) {
        snprintf(pc->stop_reason, sizeof(pc->stop_reason),
                 "the guest halted with interrupts disabled (powered off) at pc 0x%llx",
                 (unsigned long long)panda_current_pc(&p->cpu));
        return guest_stopped(p, SLICE_GUEST_OFF);
    }
    /* Idle: nothing happens until the next deadline or outside input. */
    panda_vtime now = pc_vtime(p), deadline = next_deadline(pc);
    if (rr_mode(p) == RR_REPLAY) {
        uint64_t due;
        if (rr_event_due_at(p, uc_panda_icount(p->uc), &due) && due <= now)
            return SLICE_CONTINUE;          /* fed (or found diverged) next */
        if (deadline == PANDA_VTIME_NEVER) {
            panda_set_error(p, PANDA_ERR_DIVERGED,
                "replay diverged at instruction count %llu: the guest waits for input with no timer armed",
                (unsigned long long)uc_panda_icount(p->uc));
            return SLICE_ERROR;
        }
        pc->idle_ns += deadline - now;
        return SLICE_CONTINUE;
    }
    if (++pc->idle_slices > IDLE_SLICES_BEFORE_WAIT && !console_has_input(&p->console))
        console_wait_input(&p->console, IDLE_WAIT_MS);
    if (console_has_input(&p->console)) {
        pc->idle_slices = 0;
        feed_uart(pc);
        return SLICE_CONTINUE;
    }
    if (deadline == PANDA_VTIME_NEVER) {
        /* no timer armed: only input can wake the guest */
        console_wait_input(&p->console, 10);
        return SLICE_CONTINUE;
    }
    if (deadline > now) pc->idle_ns += deadline - now;
    return SLICE_CONTINUE;
}

const char *pc_stop_reason(panda_t *p)
{
    return p->pc ? p->pc->stop_reason : "";
}

PANDA_EXPORT uint64_t panda_vtime_ns(panda_t *p)
{
    return p && p->pc ? pc_vtime(p) : 0;
}

PANDA_EXPORT uint64_t panda_open_bus_count(panda_t *p)
{
    if (!p || !p->pc) return 0;
    pc_machine *pc = p->pc;
    return pc->bus.unclaimed_reads + pc->bus.unclaimed_writes + pc->open_bus_reads +
           pc->open_bus_writes;
}

/* ---- snapshots ----------------------------------------------------------- */

uint8_t *pc_ram(panda_t *p) { return p->pc->ram; }
uint64_t pc_idle_ns(panda_t *p) { return p->pc->idle_ns; }

/* A snapshot was loaded: its clock, and no stop pending from before. */
void pc_loaded(panda_t *p, uint64_t idle_ns)
{
    pc_machine *pc = p->pc;
    pc->idle_ns = idle_ns;
    pc->idle_slices = 0;
    pc->reset_requested = false;
    pc->stop_reason[0] = 0;
}

/* every device, in a fixed order */
#define PC_DEVICES(X) X(pic8259, pic) X(pit8254, pit) X(mc146818, rtc) \
    X(uart16550, uart) X(i8042, kbc) X(pci_absent, pci) X(port80, p80)

size_t pc_devices_state_size(panda_t *p)
{
    (void)p;
    size_t n = 0;
#define SIZE(type, field) n += type##_state_size();
    PC_DEVICES(SIZE)
#undef SIZE
    return n;
}

void pc_devices_save(panda_t *p, uint8_t *buf)
{
    pc_machine *pc = p->pc;
#define SAVE(type, field) type##_state_save(pc->field, buf); buf += type##_state_size();
    PC_DEVICES(SAVE)
#undef SAVE
}

void pc_devices_load(panda_t *p, const uint8_t *buf)
{
    pc_machine *pc = p->pc;
#define LOAD(type, field) type##_state_load(pc->field, buf); buf += type##_state_size();
    PC_DEVICES(LOAD)
#undef LOAD
}
