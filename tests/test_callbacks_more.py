"""The callback types beyond blocks, instructions and memory: the CPU loop's
points (start/end_block_exec, before_handle_exception/interrupt,
after_cpu_exec_enter/before_cpu_exec_exit), the buses' (unassigned_io_*,
mmio_*), the run's (main_loop_wait, during_machine_init, pre_shutdown), and
the two this engine refuses (before_tcg_codegen, qmp).  Guest programs on the
bare machine where they can, small kernels on the pc machine for the IDT and
the interrupt line, and the reference Linux guest for what needs an OS."""
from __future__ import annotations

import re

import pytest

from conftest import CODE_ADDR, SUM_LOOP
from pypanda import Panda
from pypanda.errors import UnsupportedError
import test_system_mode
from test_system_mode import TIMER_PROGRAM, var

# test_system_mode's fixture, shared under its own name
program = test_system_mode.program

CPU_INTERRUPT_HARD = 0x2


# ---- start_block_exec / end_block_exec -------------------------------------

def test_start_and_end_block_exec(machine):
    panda, labels = machine(SUM_LOOP)
    starts, ends = [], []

    @panda.cb_start_block_exec
    def sbe(cpu, tb):
        # inside the block: the PC is the block's, ECX as the loop head sees it
        starts.append((tb.contents.pc, panda.arch.get_pc(cpu), panda.arch.get_reg(cpu, "ECX")))

    @panda.cb_end_block_exec
    def ebe(cpu, tb):
        ends.append((tb.contents.pc, panda.arch.get_reg(cpu, "ECX")))

    panda.run()
    loop, done = labels["loop"], labels["done"]
    assert [s[0] for s in starts] == [CODE_ADDR] + [loop] * 4 + [done]
    assert all(pc == eip for pc, eip, _ in starts)
    assert [s[2] for s in starts[1:5]] == [4, 3, 2, 1]
    # after the last instruction (the jnz, after its dec): ECX already decremented;
    # the hlt block never completes
    assert ends == [(CODE_ADDR, 4), (loop, 3), (loop, 2), (loop, 1), (loop, 0)]


def test_start_block_exec_sees_chained_blocks(machine):
    """start_block_exec is inside the translated block: it needs no loop
    return, so chaining stays on and every execution is still reported."""
    panda, labels = machine(SUM_LOOP)
    starts = []

    @panda.cb_start_block_exec
    def sbe(cpu, tb):
        starts.append(tb.contents.pc)

    panda.run()
    assert starts == [CODE_ADDR] + [labels["loop"]] * 4 + [labels["done"]]
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15


def test_stop_from_start_block_exec_leaves_before_the_first_instruction(machine):
    panda, labels = machine(SUM_LOOP)
    seen = []

    @panda.cb_start_block_exec
    def sbe(cpu, tb):
        seen.append(tb.contents.pc)
        if tb.contents.pc == labels["loop"] and len(seen) == 2:
            panda.end_analysis()

    panda.run()
    cpu = panda.get_cpu()
    assert panda.arch.get_pc(cpu) == labels["loop"]
    # the first iteration ran; the second, whose start asked to stop, did not
    assert panda.arch.get_reg(cpu, "EAX") == 5 and panda.arch.get_reg(cpu, "ECX") == 4
    panda.run()
    assert panda.arch.get_reg(cpu, "EAX") == 15


def test_block_callbacks_in_order(machine):
    panda, labels = machine(SUM_LOOP)
    events = []
    panda.cb_before_block_exec(lambda cpu, tb: events.append(("before", tb.contents.pc)), name="bbe")
    panda.cb_start_block_exec(lambda cpu, tb: events.append(("start", tb.contents.pc)), name="sbe")
    panda.cb_end_block_exec(lambda cpu, tb: events.append(("end", tb.contents.pc)), name="ebe")
    panda.cb_after_block_exec(lambda cpu, tb, code: events.append(("after", tb.contents.pc)), name="abe")
    panda.run()
    first = [e for e in events if e[1] == CODE_ADDR]
    assert first == [("before", CODE_ADDR), ("start", CODE_ADDR), ("end", CODE_ADDR), ("after", CODE_ADDR)]
    # the hlt block starts but does not end (hlt leaves the loop)
    assert events[-2:] == [("before", labels["done"]), ("start", labels["done"])]


# ---- after_cpu_exec_enter / before_cpu_exec_exit ---------------------------

def test_cpu_exec_enter_and_exit_pair_up(machine):
    panda, labels = machine(SUM_LOOP)
    events = []

    @panda.cb_after_cpu_exec_enter
    def enter(cpu):
        events.append(("enter", panda.arch.get_pc(cpu)))

    @panda.cb_before_cpu_exec_exit
    def leave(cpu, ran_block):
        events.append(("exit", bool(ran_block)))

    panda.run()
    assert events[0] == ("enter", CODE_ADDR)
    assert [e[0] for e in events] == ["enter", "exit"] * (len(events) // 2)
    assert events[-1] == ("exit", True)


# ---- before_handle_exception (bare machine: no IDT, so a dropped exception) --

UD_PROGRAM = """
    mov $7, %eax
fault:
    ud2
    mov $1, %ebx
    hlt
"""


def test_before_handle_exception_can_drop_a_fault(machine):
    panda, labels = machine(UD_PROGRAM)
    seen = []

    @panda.cb_before_handle_exception
    def bhe(cpu, index):
        seen.append((index, panda.arch.get_pc(cpu)))
        panda.arch.set_pc(cpu, panda.arch.get_pc(cpu) + 2)   # past the ud2
        return -1

    panda.run()
    assert panda.guest_halted
    assert seen == [(6, labels["fault"])]                   # #UD at the ud2
    assert panda.arch.get_reg(panda.get_cpu(), "EBX") == 1


def test_unhandled_exception_without_the_callback(machine):
    panda, labels = machine(UD_PROGRAM)
    with pytest.raises(Exception, match="invalid instruction|exception"):
        panda.run()


# ---- pc-machine kernels: the IDT and the interrupt line -------------------

EXC_PROGRAM = """
    ud2                          # #UD -> vector 6
    int $0x80                    # replaced by 0x81 below
    mov $0x53, %ax
    mov %ax, %ds                 # #GP(0x50)
    mov $0x18, %ax
    mov %ax, %ds
    cli
    hlt
ud_handler:
    incl 0x500
    addl $2, (%esp)
    iret
int80_handler:
    movl $0x80, 0x504
    iret
int81_handler:
    movl $0x81, 0x504
    iret
gp_handler:
    popl 0x508
    addl $2, (%esp)
    iret
"""


def test_before_handle_exception_sees_and_replaces_vectors(program):
    panda, labels = program(EXC_PROGRAM, gates={6: "ud_handler", 0x80: "int80_handler",
                                                0x81: "int81_handler", 13: "gp_handler"})
    seen = []

    @panda.cb_before_handle_exception
    def bhe(cpu, index):
        seen.append(index)
        return 0x81 if index == 0x80 else index

    @panda.cb_before_handle_exception
    def second(cpu, index):
        # PANDA's rule: the first callback that changes the index wins
        return 0x55 if index == 0x80 else index

    panda.run()
    assert "powered off" in panda.stop_reason
    assert seen == [6, 0x80, 13]
    assert var(panda, 0) == 1                 # #UD delivered once
    assert var(panda, 1) == 0x81              # int $0x80 arrived as vector 0x81
    assert var(panda, 2) == 0x50              # #GP with its error code


def test_dropping_a_page_fault_retries_the_instruction(program):
    """The callback does the guest's job (maps the page) and drops the #PF:
    the faulting instruction runs again, and the guest never sees a fault
    (it has no #PF handler: a delivered one would triple-fault)."""
    panda, labels = program("""
        movl $0x00000083, 0x90000    # 4 MiB pages: 0-4M present, 4-8M not
        movl $0, 0x90004
        mov %cr4, %eax
        or $0x10, %eax
        mov %eax, %cr4
        mov $0x90000, %eax
        mov %eax, %cr3
        mov %cr0, %eax
        or $0x80000000, %eax
        mov %eax, %cr0
    pf_insn:
        movl $0xcafe, 0x400010
        cli
        hlt
    """)
    seen = []

    @panda.cb_before_handle_exception
    def bhe(cpu, index):
        seen.append((index, panda.arch.get_pc(cpu)))
        panda.physical_memory_write(0x90004, (0x00400083).to_bytes(4, "little"))
        return -1

    panda.run()
    assert "powered off" in panda.stop_reason
    assert seen == [(14, labels["pf_insn"])]
    assert panda.physical_memory_read(0x400010, 4, fmt="int") == 0xCAFE




def test_before_handle_interrupt_sees_each_timer_interrupt(program):
    panda, labels = program(TIMER_PROGRAM, gates={0x20: "timer_handler"})
    requests = []

    @panda.cb_before_handle_interrupt
    def bhi(cpu, request):
        requests.append(request)
        return request

    panda.run()
    assert var(panda, 0) == 5
    assert [r for r in requests if r & CPU_INTERRUPT_HARD] == [CPU_INTERRUPT_HARD] * 5


def test_before_handle_interrupt_can_hold_an_interrupt_back(program):
    panda, labels = program(TIMER_PROGRAM, gates={0x20: "timer_handler"})
    requests = []

    @panda.cb_before_handle_interrupt
    def bhi(cpu, request):
        requests.append((request, var(panda, 0)))
        if request & CPU_INTERRUPT_HARD and len(requests) <= 3:
            return 0                       # not now: it stays pending
        return request

    panda.run()
    assert var(panda, 0) == 5              # every tick still arrives
    hard = [(r, n) for r, n in requests if r & CPU_INTERRUPT_HARD]
    # the first tick was asked about four times before it was delivered
    assert [n for _, n in hard[:4]] == [0, 0, 0, 0]
    assert len(hard) == 5 + 3


# ---- unassigned_io_read / unassigned_io_write / mmio_* ----------------------

IO_PROGRAM = """
    mov $0x3a0, %dx              # no device at port 0x3a0
    in %dx, %al
    mov %eax, 0x500
    mov $0x3a4, %dx
    inl %dx, %eax
    mov %eax, 0x504
    mov $0x3a0, %dx
    mov $0x5a, %al
    out %al, %dx
    mov 0xfeb00000, %eax         # nothing in the PCI hole
    mov %eax, 0x508
    movl $0x11223344, 0xfeb00010
    cli
    hlt
"""


def test_unassigned_io_read_supplies_the_value(program):
    panda, labels = program("    movl $0, 0x500\n" + IO_PROGRAM)
    reads, writes = [], []

    @panda.cb_unassigned_io_read
    def rd(cpu, pc, addr, size, val):
        reads.append((addr, size))
        if addr == 0x3a0:
            val[0] = 0x42
            return True
        if addr == 0xfeb00000:
            val[0] = 0xdeadbeef
            return True
        return False

    @panda.cb_unassigned_io_write
    def wr(cpu, pc, addr, size, val):
        writes.append((addr, size, val))
        return addr == 0x3a0

    before = panda._lib.panda_open_bus_count(panda._handle)
    panda.run()
    assert reads == [(0x3a0, 1), (0x3a4, 4), (0xfeb00000, 4)]
    assert writes == [(0x3a0, 1, 0x5a), (0xfeb00010, 4, 0x11223344)]
    assert var(panda, 0) & 0xff == 0x42      # supplied
    assert var(panda, 1) == 0xffffffff       # not claimed: open bus
    assert var(panda, 2) == 0xdeadbeef
    # the accesses callbacks answered are no longer open bus
    assert panda._lib.panda_open_bus_count(panda._handle) - before == 2


def test_mmio_callbacks_see_and_change_values(program):
    panda, labels = program(IO_PROGRAM)
    seen = []

    @panda.cb_mmio_after_read
    def rd(cpu, paddr, vaddr, size, val):
        seen.append(("r", paddr, size, val[0]))
        val[0] = 0x1234

    @panda.cb_mmio_before_write
    def wr(cpu, paddr, vaddr, size, val):
        seen.append(("w", paddr, size, val[0]))

    panda.run()
    assert ("r", 0xfeb00000, 4, 0xffffffff) in seen
    assert ("w", 0xfeb00010, 4, 0x11223344) in seen
    assert var(panda, 2) == 0x1234
    assert all(not (0x3a0 <= s[1] < 0x3b0) for s in seen)   # ports are not MMIO


def test_bus_callbacks_fire_on_the_pc_machine_only(machine, program):
    bare, _ = machine("hlt")
    pc, _ = program("cli\nhlt")
    for name in ("unassigned_io_read", "unassigned_io_write", "mmio_after_read", "mmio_before_write"):
        assert pc.callback_fires(name) and not bare.callback_fires(name), name


# ---- main_loop_wait, during_machine_init, pre_shutdown ---------------------

def test_machine_init_order_and_main_loop_wait(machine):
    panda, labels = machine(SUM_LOOP)
    order = []

    @panda.cb_after_machine_init
    def ami(cpu):
        order.append("after_machine_init")

    @panda.cb_during_machine_init
    def dmi(machine_state):
        order.append("during_machine_init")

    @panda.cb_main_loop_wait
    def mlw():
        order.append("main_loop_wait")

    @panda.cb_top_loop
    def tl(cpu):
        order.append("top_loop")

    panda.run()
    assert order[:2] == ["during_machine_init", "after_machine_init"]
    assert order[2:4] == ["main_loop_wait", "top_loop"]
    panda.arch.set_pc(panda.get_cpu(), CODE_ADDR)
    panda.run()          # machine init fires once per instance
    assert order.count("during_machine_init") == 1 and order.count("after_machine_init") == 1
    assert order.count("main_loop_wait") == order.count("top_loop") >= 2


def test_pre_shutdown_on_close(machine):
    panda, labels = machine(SUM_LOOP)
    fired = []

    @panda.cb_pre_shutdown
    def ps():
        fired.append(panda.arch.get_reg(panda.get_cpu(), "EAX"))

    panda.run()
    assert fired == []                  # a halted bare machine may run again
    panda.close()
    assert fired == [15]


def test_pre_shutdown_when_the_guest_powers_off(program):
    panda, labels = program("cli\nhlt")
    fired = []

    @panda.cb_pre_shutdown
    def ps():
        fired.append(panda.stop_reason)

    panda.run()
    assert len(fired) == 1 and "powered off" in fired[0]
    panda.close()
    assert len(fired) == 1              # once per instance


# ---- refused types -----------------------------------------------------------

@pytest.mark.parametrize("name, why", [("before_tcg_codegen", "TCG op"), ("qmp", "QMP server")])
def test_unsupported_types_fail_at_registration(machine, name, why):
    panda, _ = machine("hlt")
    assert not panda.callback_fires(name)
    with pytest.raises(UnsupportedError, match=f"{name} is not supported.*{why}"):
        panda.register_callback(getattr(panda.callback, name), lambda *a: 0, "x")
    assert "x" not in panda._callbacks.names()


def test_new_types_all_fire(machine):
    panda, _ = machine("hlt")
    for name in ("start_block_exec", "end_block_exec", "before_handle_exception",
                 "before_handle_interrupt", "after_cpu_exec_enter", "before_cpu_exec_exit",
                 "main_loop_wait", "pre_shutdown", "during_machine_init"):
        assert panda.callback_fires(name), name


# ---- the reference Linux guest -------------------------------------------------

def _irq_total(text: str) -> int:
    """The sum of /proc/interrupts' counts (one CPU: the first number of each line)."""
    total = 0
    for line in text.splitlines():
        m = re.match(r"\s*\w+:\s+(\d+)\s", line)
        if m:
            total += int(m.group(1))
    return total


@pytest.fixture(scope="module")
def linux():
    """One boot of the reference guest with the exception and interrupt
    callbacks registered from the start (they only observe)."""
    from test_boot import guest_info
    guest_info()
    panda = Panda(generic="i386", verbose=False)
    counts = {"pf_user": 0, "pf_kernel": 0, "int80": 0, "irq": 0, "counting": False,
              "vectors": set(), "enter": 0, "exit": 0}

    @panda.cb_before_handle_exception
    def bhe(cpu, index):
        counts["vectors"].add(index)
        if counts["counting"]:
            user = panda.arch.get_reg(cpu, "CS") & 3 == 3
            if index == 14:
                counts["pf_user" if user else "pf_kernel"] += 1
            elif index == 0x80 and user:
                counts["int80"] += 1
        return index

    @panda.cb_before_handle_interrupt
    def bhi(cpu, request):
        # a HARD request the CPU can take now (IF set) is serviced
        if request & CPU_INTERRUPT_HARD and panda.arch.get_reg(cpu, "EFLAGS") & 0x200:
            counts["irq"] += 1
        return request

    out = {}

    @panda.queue_blocking
    def driver():
        panda.run_serial_cmd("ls / > /dev/null")        # warm up: ls in the page cache
        counts["counting"] = True
        out["ls"] = panda.run_serial_cmd("ls /")
        counts["counting"] = False
        out["irq_before"] = counts["irq"]
        out["interrupts"] = panda.run_serial_cmd("cat /proc/interrupts")
        out["irq_after"] = counts["irq"]
        panda.type_serial_cmd("poweroff -f\n")

    panda.run()
    yield panda, counts, out
    panda.close()


@pytest.mark.slow
def test_linux_page_faults_during_ls(linux):
    panda, counts, out = linux
    assert "bin" in out["ls"] and "proc" in out["ls"]
    # a fork and an exec: the new process faults its pages in from user mode,
    # and the kernel faults on user memory for it (copy-on-write, arguments)
    assert counts["pf_user"] > 20
    assert counts["pf_kernel"] >= 0
    assert 14 in counts["vectors"]
    assert all(0 <= v < 256 for v in counts["vectors"])


@pytest.mark.slow
def test_linux_interrupts_match_proc_interrupts(linux):
    panda, counts, out = linux
    total = _irq_total(out["interrupts"])
    assert re.search(r"^\s*0:\s+\d+.*timer", out["interrupts"], re.M)
    # Linux counted what the CPU was handed, up to when cat read the file
    assert out["irq_before"] * 0.98 - 10 <= total <= out["irq_after"] + 10, (
        out["irq_before"], total, out["irq_after"])


@pytest.mark.parametrize("how", ["disable_memcb", "delete_callback"])
def test_memory_callbacks_switched_off_from_inside_one(machine, how):
    """The engine looks its memory hook up before a store and calls it again
    after; a callback that turns memory callbacks off (or removes the last
    one) must not leave it a dangling hook.  It fires once, the loop's
    remaining stores go unwatched, the guest finishes."""
    panda, _ = machine("    mov $5, %ecx\n1:  mov %ecx, 0x2000\n    dec %ecx\n    jnz 1b\n    hlt\n")
    seen = []

    @panda.cb_virt_mem_before_write(name="w")
    def w(cpu, pc, addr, size, buf):
        seen.append(addr)
        if how == "disable_memcb":
            panda.disable_memcb()
        else:
            panda.delete_callback("w")

    panda.enable_memcb()
    panda.run()
    assert seen == [0x2000]
    assert panda.arch.get_reg(panda.get_cpu(), "ECX") == 0
    assert panda.physical_memory_read(0x2000, 4, fmt="int") == 1
