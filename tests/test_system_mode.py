"""The engine in system mode (engine patches 0005-0012), exercised by small
guest programs booted on the pc machine as if they were a kernel: exceptions
through the IDT, the interrupt line and its vector, HLT, the TSC, the exact
instruction count, blocks ending after I/O, precise MMIO, SYSENTER, CPUID."""
from __future__ import annotations

import struct
import time

import pytest

from conftest import fake_bzimage
from pypanda import Panda

KERNEL_BASE = 0x100000
IDT_BASE = 0x80000
VARS = 0x500          # the programs keep their results here
STACK_TOP = 0x7ff00

PIC_SETUP = """
    mov $0x11, %al
    out %al, $0x20
    out %al, $0xa0
    mov $0x20, %al
    out %al, $0x21
    mov $0x28, %al
    out %al, $0xa1
    mov $0x04, %al
    out %al, $0x21
    mov $0x02, %al
    out %al, $0xa1
    mov $0x01, %al
    out %al, $0x21
    out %al, $0xa1
    mov $0xff, %al
    out %al, $0xa1
"""


def gate(handler: int) -> bytes:
    """A 32-bit interrupt gate to handler in the flat code segment 0x10."""
    return struct.pack("<HHBBH", handler & 0xFFFF, 0x10, 0, 0x8E, handler >> 16)


@pytest.fixture
def program(asm, tmp_path):
    """program(source, gates={vector: label}, default=label) -> (panda, labels)"""
    made = []

    def make(source: str, gates=None, default=None, mem="16M", **kwargs):
        code, labels = asm(f"    mov ${STACK_TOP:#x}, %esp\n    lidt idt_desc\n{source}\n"
                           f"idt_desc:\n    .word 0x7ff\n    .long {IDT_BASE:#x}\n", base=KERNEL_BASE)
        kernel = tmp_path / f"prog{len(made)}.bzImage"
        kernel.write_bytes(fake_bzimage(code))
        panda = Panda(arch="i386", mem=mem, extra_args=["-M", "pc", "-kernel", str(kernel)], **kwargs)
        idt = bytearray()
        for vector in range(256):
            target = (gates or {}).get(vector, default)
            idt += gate(labels[target]) if target else bytes(8)
        panda.physical_memory_write(IDT_BASE, bytes(idt))
        made.append(panda)
        return panda, labels

    yield make
    for p in made:
        p.close()


def var(panda, index: int) -> int:
    return panda.physical_memory_read(VARS + 4 * index, 4, fmt="int")


def test_exceptions_are_delivered_through_the_idt(program):
    panda, labels = program("""
        ud2                          # #UD -> vector 6
        mov $0x1234, %eax
        int $0x80                    # software interrupt
        mov $0x53, %ax
        mov %ax, %ds                 # #GP(0x50): no such descriptor
        mov $0x18, %ax
        mov %ax, %ds
        movl $0x00000083, 0x90000    # paging with 4 MiB pages: 0-4M present,
        movl $0, 0x90004             # 4-8M not
        mov %cr4, %eax
        or $0x10, %eax
        mov %eax, %cr4
        mov $0x90000, %eax
        mov %eax, %cr3
        mov %cr0, %eax
        or $0x80000000, %eax
        mov %eax, %cr0
    pf_insn:
        movl $0xcafe, 0x400010       # #PF, mapped by the handler, retried
        cli
        hlt
    ud_handler:
        incl 0x500
        addl $2, (%esp)
        iret
    int80_handler:
        mov %eax, 0x504
        iret
    gp_handler:
        popl 0x508
        addl $2, (%esp)
        iret
    pf_handler:
        popl 0x50c
        mov %cr2, %eax
        mov %eax, 0x510
        movl $0x00400083, 0x90004
        invlpg 0x400010
        iret
    """, gates={6: "ud_handler", 0x80: "int80_handler", 13: "gp_handler", 14: "pf_handler"})
    panda.run()
    assert "powered off" in panda.stop_reason
    assert var(panda, 0) == 1                 # one #UD
    assert var(panda, 1) == 0x1234            # int $0x80 saw EAX
    assert var(panda, 2) == 0x50              # #GP error code: the selector
    assert var(panda, 3) == 0x2               # #PF error code: write, not present
    assert var(panda, 4) == 0x400010          # CR2
    assert panda.physical_memory_read(0x400010, 4, fmt="int") == 0xCAFE


def test_sysenter_and_cpuid(program):
    panda, labels = program("""
        mov $0x174, %ecx             # IA32_SYSENTER_CS
        mov $0x10, %eax
        xor %edx, %edx
        wrmsr
        mov $0x175, %ecx             # IA32_SYSENTER_ESP
        mov $0x70000, %eax
        wrmsr
        mov $0x176, %ecx             # IA32_SYSENTER_EIP
        mov $target, %eax
        wrmsr
        sysenter
        hlt                          # never reached
    target:
        mov %esp, 0x500
        mov %cs, %eax
        mov %eax, 0x504
        mov $1, %eax
        cpuid
        mov %edx, 0x508
        cli
        hlt
    """)
    panda.run()
    assert var(panda, 0) == 0x70000
    assert var(panda, 1) == 0x10
    edx = var(panda, 2)
    assert edx & (1 << 6) and edx & (1 << 8) and edx & (1 << 15)  # pae, cx8, cmov
    assert not edx & (1 << 9)  # no local APIC advertised: the machine has none


# Five ticks of a 1 ms PIT (1193 ticks), each counted at 0x500 by the
# handler at vector 0x20, the CPU halted in between
TIMER_PROGRAM = PIC_SETUP + """
    mov $0xfe, %al               # unmask IRQ0 only
    out %al, $0x21
    mov $0x34, %al               # PIT channel 0, mode 2, 1193 ticks = 1 ms
    out %al, $0x43
    mov $0xa9, %al
    out %al, $0x40
    mov $0x04, %al
    out %al, $0x40
    sti
wait:
    hlt
    cmpl $5, 0x500
    jb wait
    cli
    hlt
timer_handler:
    incl 0x500
    push %eax
    mov $0x20, %al               # EOI
    out %al, $0x20
    pop %eax
    iret
"""


def test_timer_interrupts_wake_hlt_with_their_vector(program):
    panda, labels = program(TIMER_PROGRAM + """
    other_handler:
        movl $0xdead, 0x504
        cli
        hlt
    """, gates={0x20: "timer_handler"}, default="other_handler")
    panda.run()
    assert var(panda, 0) == 5        # five ticks, each through vector 0x20
    assert var(panda, 1) == 0        # nothing else delivered
    vtime = panda._lib.panda_vtime_ns(panda._handle)
    # five PIT periods of 1193 ticks at 1.193182 MHz, counted from the load
    assert 5 * 1193 * 10**9 // 1193182 <= vtime < 5_100_000
    assert panda.instr_count() < 10_000     # ...mostly skipped while halted


def _interrupted_loop(program, monkeypatch, slice_size):
    monkeypatch.setenv("PYPANDA_MAX_SLICE", str(slice_size))
    panda, labels = program(PIC_SETUP + """
        mov $0xfe, %al
        out %al, $0x21
        mov $0x30, %al               # PIT channel 0, mode 0: one interrupt
        out %al, $0x43
        mov $0xa9, %al
        out %al, $0x40
        mov $0x04, %al
        out %al, $0x40
        xor %ebx, %ebx
        sti
    spin:
        inc %ebx
        jmp spin
    handler:
        mov %ebx, 0x500
        mov (%esp), %eax
        mov %eax, 0x504
        cli
        hlt
    """, gates={0x20: "handler"})
    panda.run()
    return var(panda, 0), var(panda, 1), panda.instr_count(), labels


def test_interrupt_point_does_not_depend_on_slicing(program, monkeypatch):
    runs = [_interrupted_loop(program, monkeypatch, s) for s in (4_000_000, 997, 1)]
    ebx, eip, icount, labels = runs[0]
    assert all(r[:3] == runs[0][:3] for r in runs), runs
    # taken at an instruction boundary inside the loop, after ~1 ms
    assert eip in (labels["spin"], labels["spin"] + 1)
    assert 400_000 < ebx < 600_000


def test_exact_instruction_count(program):
    panda, labels = program("""
        mov $1000, %ecx
    loop:
        nop
        dec %ecx
        jnz loop
        cli
        hlt
    """)
    start = []

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        if tb.contents.pc == KERNEL_BASE and not start:
            start.append(panda.instr_count())

    panda.run()
    # mov esp, lidt, mov ecx, 1000 x 3, cli, hlt
    assert panda.instr_count() - start[0] == 3 + 3000 + 2


def test_io_ends_block_tsc_and_precise_mmio(program):
    panda, labels = program("""
        mov $1, %eax
        out %al, $0x80
    after_out:
        nop
        rdtsc
    after_rdtsc:
        mov %eax, %esi
        mov 0xf0000000, %ecx         # above RAM: open bus, mid-block
        mov %ecx, 0x500
        nop
        nop
        rdtsc
        sub %esi, %eax
        mov %eax, 0x504
        cli
        hlt
    """)
    blocks = {}

    @panda.cb_after_block_translate
    def abt(cpu, tb):
        blocks.setdefault(tb.contents.pc, tb.contents.pc + tb.contents.size)

    before = panda._lib.panda_open_bus_count(panda._handle)
    panda.run()
    # a block ends right after OUT and right after RDTSC
    assert labels["after_out"] in blocks.values()
    assert blocks[labels["after_out"]] == labels["after_rdtsc"]
    # the MMIO read ran once and read all ones; the TSC counts instructions
    assert panda._lib.panda_open_bus_count(panda._handle) - before == 1
    assert var(panda, 0) == 0xFFFFFFFF
    assert var(panda, 1) == 6


def test_hlt_stays_halted_across_runs_until_an_interrupt(program):
    panda, labels = program(PIC_SETUP + """
        mov $0xef, %al               # unmask IRQ4 (COM1) only
        out %al, $0x21
        mov $0x3f9, %dx              # UART: interrupt on received data
        mov $1, %al
        out %al, %dx
        mov $0x3fc, %dx              # MCR.OUT2 connects the IRQ line
        mov $0x08, %al
        out %al, %dx
        sti
        hlt
        cli
        hlt
    uart_handler:
        mov $0x3f8, %dx
        in %dx, %al
        mov %al, 0x500
        mov $0x20, %al
        out %al, $0x20
        iret
    """, gates={0x24: "uart_handler"})
    seen = {"monitor": []}

    @panda.cb_monitor
    def monitor(mon, cmd):
        seen["monitor"].append(cmd.decode())
        panda.monitor_printf(mon, "pong " + cmd.decode().split()[-1])
        return 1

    @panda.queue_blocking
    def wait_then_stop():
        time.sleep(0.3)
        seen["registers"] = panda.run_monitor_cmd("info registers")
        seen["reply"] = panda.run_monitor_cmd("pypanda_ping 7")
        seen["icount"] = panda.instr_count()
        time.sleep(0.2)
        seen["icount_later"] = panda.instr_count()
        panda.end_analysis()

    panda.run()
    assert "HLT=1" in seen["registers"]
    assert seen["monitor"] == ["pypanda_ping 7"]   # what libpanda does not handle
    assert seen["reply"] == "pong 7"
    assert seen["icount"] == seen["icount_later"]
    assert not panda.guest_halted          # stopped by us, not powered off
    icount = panda.instr_count()

    @panda.queue_blocking
    def stop_again():
        time.sleep(0.2)
        panda.end_analysis()

    panda.run()                            # still halted: nothing runs
    assert panda.instr_count() == icount

    @panda.cb_top_loop(name="queue_from_callback")
    def queue_later(cpu):
        # a driver function queued during a run, from a callback, runs too
        panda.disable_callback("queue_from_callback")
        panda.queue_blocking(lambda: (time.sleep(0.2), panda.end_analysis()))

    panda.run()
    assert panda.instr_count() == icount
    panda.delete_callback("queue_from_callback")

    @panda.queue_blocking
    def type_a_key():
        panda.type_serial_cmd("Z")

    panda.run()                            # the byte's interrupt wakes it
    assert var(panda, 0) == ord("Z")
    assert "powered off" in panda.stop_reason
