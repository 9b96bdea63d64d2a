"""System-call detection in libpanda (panda_syscalls_*, pypanda.syscalls).

A small ring-3 program booted as a kernel on the pc machine makes calls
with known registers through `int $0x80` and a vDSO-like `sysenter` stub,
and its "kernel" (IDT and SYSENTER handlers) answers them with known
values; then the reference Linux guest, live and replayed."""
from __future__ import annotations

import collections
import struct

import pytest

from conftest import fake_bzimage
from pypanda import Panda
from pypanda.syscalls import KIND_INT80, KIND_SYSENTER, SyscallTap, copy_call

KERNEL_BASE = 0x100000
GDT_BASE, TSS_BASE, IDT_BASE = 0x9000, 0x9800, 0x80000
KSTACK, SYSENTER_STACK, USER_STACK = 0x7ff00, 0x60000, 0x70000
VARS = 0x500

# 0x10 kernel code, 0x18 kernel data, 0x23 user code, 0x2b user data, 0x30 the TSS
PROGRAM = f"""
    mov ${KSTACK:#x}, %esp
    lgdt gdt_desc
    ljmp $0x10, $reload
reload:
    mov $0x18, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    lidt idt_desc
    mov $0x30, %ax
    ltr %ax
    mov $0x174, %ecx             # IA32_SYSENTER_CS
    mov $0x10, %eax
    xor %edx, %edx
    wrmsr
    mov $0x175, %ecx             # IA32_SYSENTER_ESP
    mov ${SYSENTER_STACK:#x}, %eax
    wrmsr
    mov $0x176, %ecx             # IA32_SYSENTER_EIP
    mov $sysenter_entry, %eax
    wrmsr
    mov $7, %eax                 # a call from kernel mode: not reported
kernel_int80:
    int $0x80
    mov $0x2b, %ax
    mov %ax, %ds
    mov %ax, %es
    push $0x2b
    push ${USER_STACK:#x}
    push $0x2
    push $0x23
    push $user
    iret
user:
    mov $7, %eax
    mov $11, %ebx
    mov $22, %ecx
    mov $33, %edx
    mov $44, %esi
    mov $55, %edi
    mov $66, %ebp
int80_site:
    int $0x80
after_int80:
    mov %eax, {VARS:#x}
    mov $9, %eax                 # not watched
    int $0x80
    mov $20, %eax
    mov $1, %ebx
    mov $2, %ecx
    mov $3, %edx
    mov $4, %esi
    mov $5, %edi
    mov $0x66, %ebp
    call vsyscall
    mov %eax, {VARS + 4:#x}
    int $0x81                    # the end
vsyscall:                        # Linux's __kernel_vsyscall
    push %ecx
    push %edx
    push %ebp
    mov %esp, %ebp
sysenter_site:
    sysenter
    int $0x80
landing:
    pop %ebp
    pop %edx
    pop %ecx
    ret
int80_handler:                   # EAX = 2 * EAX + EBX
    add %eax, %eax
    add %ebx, %eax
    iret
sysenter_entry:                  # -2 (ENOENT), back to the landing pad
    mov $-2, %eax
    mov $landing, %edx
    mov %ebp, %ecx
    sysexit
exit_handler:
    cli
    hlt
gdt_desc:
    .word 0x37
    .long {GDT_BASE:#x}
idt_desc:
    .word 0x7ff
    .long {IDT_BASE:#x}
"""


def _gdt() -> bytes:
    def seg(access: int) -> bytes:   # flat 4 GiB, 32-bit, page granular
        return struct.pack("<HHBBBB", 0xFFFF, 0, 0, access, 0xCF, 0)
    tss = struct.pack("<HHBBBB", 0x67, TSS_BASE & 0xFFFF, (TSS_BASE >> 16) & 0xFF, 0x89, 0,
                      TSS_BASE >> 24)
    return bytes(16) + seg(0x9A) + seg(0x92) + seg(0xFA) + seg(0xF2) + tss


def _gate(handler: int, dpl: int) -> bytes:
    return struct.pack("<HHBBH", handler & 0xFFFF, 0x10, 0, 0x8E | (dpl << 5), handler >> 16)


@pytest.fixture
def ring3(asm, tmp_path):
    made = []

    def make():
        code, labels = asm(PROGRAM, base=KERNEL_BASE)
        kernel = tmp_path / f"ring3-{len(made)}.bzImage"
        kernel.write_bytes(fake_bzimage(code))
        panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(kernel)], verbose=False)
        idt = bytearray(256 * 8)
        idt[0x80 * 8:0x81 * 8] = _gate(labels["int80_handler"], 3)
        idt[0x81 * 8:0x82 * 8] = _gate(labels["exit_handler"], 3)
        panda.physical_memory_write(IDT_BASE, bytes(idt))
        panda.physical_memory_write(GDT_BASE, _gdt())
        tss = bytearray(0x68)
        struct.pack_into("<II", tss, 4, KSTACK, 0x18)        # esp0, ss0
        panda.physical_memory_write(TSS_BASE, bytes(tss))
        made.append(panda)
        return panda, labels

    yield make
    for p in made:
        p.close()


def test_int80_and_sysenter_enter_and_return(ring3):
    panda, labels = ring3()
    tap: SyscallTap = panda.syscall_tap
    got = []

    def record(cpu, call, is_return):
        got.append((is_return, copy_call(call)))

    tap.watch(7, True, True, record)
    tap.watch(20, True, True, record)
    panda.run()
    assert "powered off" in panda.stop_reason
    assert panda.physical_memory_read(VARS, 4, fmt="int") == 2 * 7 + 11
    assert panda.physical_memory_read(VARS + 4, 4, fmt="int") == 0xFFFFFFFE
    assert [(r, c.number) for r, c in got] == [(False, 7), (True, 7), (False, 20), (True, 20)]

    enter, ret = got[0][1], got[1][1]
    assert enter.kind == KIND_INT80 and enter.pc == labels["int80_site"]
    assert enter.return_pc == labels["after_int80"] == labels["int80_site"] + 2
    assert list(enter.args) == [11, 22, 33, 44, 55, 66]
    assert enter.sp == USER_STACK and enter.retval == 0 and enter.struct_size == 112
    assert ret.retval == 25 and list(ret.args) == list(enter.args) and ret.enter_icount == enter.enter_icount

    enter, ret = got[2][1], got[3][1]
    assert enter.kind == KIND_SYSENTER and enter.pc == labels["sysenter_site"]
    assert enter.return_pc == labels["landing"]
    assert list(enter.args) == [1, 2, 3, 4, 5, 0x66]      # the sixth from [ebp]
    assert enter.sp == USER_STACK - 4 - 12                # the call, then three pushes
    assert ret.retval == -2
    # three calls in user mode (the kernel's own int $0x80 is not one), number 9 not watched
    assert tap.seen == 3


def test_unwatched_numbers_do_not_reach_python(ring3):
    panda, labels = ring3()
    tap = panda.syscall_tap
    entries, every = [], []
    tap.watch(20, True, False, lambda cpu, call, r: entries.append(call.number))
    tap.watch(None, True, False, lambda cpu, call, r: every.append(call.number))
    panda.run()
    assert entries == [20] and every == [7, 9, 20] and tap.seen == 3


def test_return_only_and_unwatch_from_inside(ring3):
    panda, labels = ring3()
    tap = panda.syscall_tap
    rets = []

    def once(cpu, call, is_return):
        rets.append((call.number, is_return, call.retval))
        tap.unwatch(None, False, True, once)

    tap.watch(None, False, True, once)
    panda.run()
    assert rets == [(7, True, 25)]
    assert tap.watched() == {}


def test_a_subscriber_exception_reraises_from_run(ring3):
    panda, labels = ring3()

    def bad(cpu, call, is_return):
        raise ValueError(f"call {call.number}")

    panda.syscall_tap.watch(9, True, False, bad)
    with pytest.raises(ValueError, match="call 9"):
        panda.run()


def test_user_and_kernel_hooks_in_the_ring3_program(ring3):
    panda, labels = ring3()
    user_any = panda.hook_add(labels["user"], lambda cpu, tb, h: None)
    user_u = panda.hook_add(labels["user"], lambda cpu, tb, h: None, kernel=False)
    user_k = panda.hook_add(labels["user"], lambda cpu, tb, h: None, kernel=True)
    handler_k = panda.hook_add(labels["int80_handler"], lambda cpu, tb, h: None, kernel=True)
    handler_u = panda.hook_add(labels["int80_handler"], lambda cpu, tb, h: None, kernel=False)
    panda.run()
    assert (user_any.hits, user_u.hits, user_k.hits) == (1, 1, 0)
    assert (handler_k.hits, handler_u.hits) == (3, 0)    # the kernel's own call and two from user mode


def test_c_api_checks(ring3):
    panda, labels = ring3()
    lib, handle = panda._lib, panda._handle
    assert lib.panda_syscalls_watch(handle, -2, True, True) != 0
    assert lib.panda_syscalls_watch(handle, 4096, True, True) != 0
    assert lib.panda_syscalls_watch(handle, 4095, True, True) == 0
    assert lib.panda_syscalls_seen(handle) == 0


# ---- the reference Linux guest --------------------------------------------------

COMMAND = "echo hi > /tmp/x; cat /tmp/x"
WRITE, OPEN, OPENAT = 4, 5, 295


def _collector(panda, only_rr: bool):
    """Every call's entry and return, as tuples; with only_rr, only while
    recording or replaying (and returns only of calls entered then)."""
    events = []
    entered = set()
    lib, handle = panda._lib, panda._handle

    def every(cpu, call, is_return):
        if only_rr and not lib.panda_rr_mode(handle):
            return
        key = (call.enter_icount, call.sp, call.asid)
        if is_return:
            if only_rr and key not in entered:
                return
            entered.discard(key)
        else:
            entered.add(key)
        events.append((is_return, call.number, call.kind, call.pc, call.return_pc, call.asid, call.sp,
                       tuple(call.args), call.retval, call.enter_icount))

    panda.syscall_tap.watch(None, True, True, every)
    return events


@pytest.fixture(scope="module")
def linux_run(tmp_path_factory):
    from test_boot import guest_info
    guest_info()
    name = str(tmp_path_factory.mktemp("sysrr") / "echo_cat")
    panda = Panda(generic="i386", verbose=False)
    events = _collector(panda, only_rr=True)
    out = {}

    @panda.queue_blocking
    def drive():
        panda.run_serial_cmd("true")
        out["output"] = panda.record_cmd(COMMAND, recording_name=name)
        panda.type_serial_cmd("poweroff -f\n")

    panda.run()
    seen = panda.syscall_tap.seen
    panda.close()
    return name, events, out["output"], seen


def test_linux_write_and_open(linux_run):
    name, events, output, seen = linux_run
    assert output.strip() == "hi"
    enters = [e for e in events if not e[0]]
    returns = {(e[9], e[6]): e for e in events if e[0]}
    kinds = collections.Counter(e[2] for e in enters)
    assert kinds[KIND_SYSENTER] > kinds[KIND_INT80]          # busybox goes through the vDSO
    # echo's write of "hi\n" to fd 1 (redirected to /tmp/x) returns its count
    writes = [e for e in enters if e[1] == WRITE and e[7][2] == 3]
    assert writes and writes[0][7][0] == 1
    ret = returns[(writes[0][9], writes[0][6])]
    assert ret[8] == 3
    # the shell opens /tmp/x for the redirection, cat opens it to read
    opens = [e for e in enters if e[1] in (OPEN, OPENAT)]
    assert len(opens) >= 2
    assert all(returns[(e[9], e[6])][8] >= 0 for e in opens)
    assert seen >= len(enters)


def test_linux_replay_sees_the_same_calls(linux_run):
    name, live, output, seen = linux_run
    panda = Panda(generic="i386", verbose=False)
    replayed = _collector(panda, only_rr=True)
    panda.run_replay(name)
    panda.close()
    assert len(live) > 50
    assert replayed == live


def test_ending_the_run_in_a_callback_reports_each_call_once(ring3):
    # the stop leaves before the instruction runs, which the next run()
    # executes: neither the hook nor the enter callback repeats
    panda, labels = ring3()
    hits, calls = [], []

    def hook(cpu, tb, h):
        hits.append(1)
        panda.end_analysis()

    def tap(cpu, call, is_return):
        calls.append((call.number, is_return))
        panda.end_analysis()

    panda.hook_add(labels["int80_site"], hook)
    panda.syscall_tap.watch(None, True, True, tap)
    for _ in range(20):
        panda.run()
        if "powered off" in panda.stop_reason:
            break
    assert hits == [1]
    assert calls == [(7, False), (7, True), (9, False), (9, True), (20, False), (20, True)]
