"""Address hooks (panda.hook, panda_hook_* in C) on the bare machine: exact
call counts, the asid and privilege filters, hooks changing themselves from
inside, hooks added after their code was translated, and no instrumentation
at all while no hook exists."""
from __future__ import annotations

import pytest

from pypanda import CallbackError

# ECX counts down from N; `body` runs N times, `after` once.
LOOP = """
    mov $0, %eax
    mov ${n}, %ecx
body:
    add %ecx, %eax
    dec %ecx
    jnz body
after:
    hlt
"""


def test_a_hook_runs_exactly_once_per_execution(machine):
    panda, labels = machine(LOOP.format(n=1000))
    seen = []

    @panda.hook(labels["body"])
    def at_body(cpu, tb, h):
        seen.append(panda.arch.get_reg(cpu, "ECX"))
        assert tb.pc == labels["body"] and tb.contents.pc == labels["body"]
        assert h.id > 0

    assert panda.hook_add(labels["after"], lambda cpu, tb, h: None).hits == 0
    panda.run()
    assert seen == list(range(1000, 0, -1))          # before the instruction: ECX not yet decremented
    assert panda.hooks[at_body].hits == 1000
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == sum(range(1001))


def test_the_privilege_filter_on_a_kernel_mode_cpu(machine):
    # the bare machine runs at CPL 0
    panda, labels = machine(LOOP.format(n=3))
    any_h = panda.hook_add(labels["body"], lambda cpu, tb, h: None)
    kern = panda.hook_add(labels["body"], lambda cpu, tb, h: None, kernel=True)
    user = panda.hook_add(labels["body"], lambda cpu, tb, h: None, kernel=False)
    panda.run()
    assert (any_h.hits, kern.hits, user.hits) == (3, 3, 0)
    with pytest.raises(CallbackError):
        panda.hook_add(labels["body"], lambda cpu, tb, h: None, kernel=2)


def test_the_asid_filter_masks_the_pti_bit(machine):
    # CR3 may be written with paging off: the same subroutine runs under
    # three CR3 values; 0x9000 is 0x8000's PTI partner (bit 12)
    panda, labels = machine("""
        mov $0x4000, %eax
        mov %eax, %cr3
        call sub
        call sub
        mov $0x8000, %eax
        mov %eax, %cr3
        call sub
        mov $0x9000, %eax
        mov %eax, %cr3
        call sub
        mov $0xa000, %eax
        mov %eax, %cr3
        call sub
        hlt
    sub:
        nop
        ret
    """)
    panda.arch.set_reg(panda.get_cpu(), "ESP", 0xF000)
    hits = {}

    def counter(name):
        def fn(cpu, tb, h):
            hits[name] = hits.get(name, 0) + 1
        return fn

    a = panda.hook_add(labels["sub"], counter("4000"), asid=0x4000)
    b = panda.hook_add(labels["sub"], counter("8000"), asid=0x8000)
    c = panda.hook_add(labels["sub"], counter("9000"), asid=0x9000)
    d = panda.hook_add(labels["sub"], counter("any"))
    panda.run()
    assert hits == {"4000": 2, "8000": 2, "9000": 2, "any": 5}
    assert (a.hits, b.hits, c.hits, d.hits) == (2, 2, 2, 5)


def test_hooks_disable_and_remove_themselves_from_inside(machine):
    panda, labels = machine(LOOP.format(n=10))
    calls = {"dis": 0, "rem": 0, "other": 0}

    @panda.hook(labels["body"])
    def disabler(cpu, tb, h):
        calls["dis"] += 1
        if calls["dis"] == 2:
            h.disable()
            assert not h.enabled

    @panda.hook(labels["body"])
    def remover(cpu, tb, h):
        calls["rem"] += 1
        h.remove()
        h.remove()                     # again: nothing

    @panda.hook(labels["body"])
    def other(cpu, tb, h):
        calls["other"] += 1

    panda.run()
    assert calls == {"dis": 2, "rem": 1, "other": 10}
    hooks = panda.hooks
    assert remover not in hooks and hooks[disabler].hits == 2 and hooks[other].hits == 10


def test_removing_the_last_hook_from_inside_it(machine):
    panda, labels = machine(LOOP.format(n=10))
    calls = []

    @panda.hook(labels["body"])
    def once(cpu, tb, h):
        calls.append(1)
        h.remove()

    panda.run()
    assert calls == [1] and panda.arch.get_reg(panda.get_cpu(), "EAX") == 55


def test_a_hook_added_after_translation_fires(machine):
    # the loop runs, halts, and runs again: its blocks are translated by the
    # first pass, and the hooks come in between and from inside a hook
    panda, labels = machine("""
        mov $3, %ebx
    again:
        mov $4, %ecx
    body:
        dec %ecx
        jnz body
        hlt
    tail:
        dec %ebx
        jnz again
        hlt
    """)
    panda.run()                                      # pass 1: 4 iterations
    seen = []
    late = panda.hook_add(labels["body"], lambda cpu, tb, h: seen.append("late"))
    panda.run()                                      # pass 2 (starts at tail, translated)
    assert late.hits == 4

    def add_from_inside(cpu, tb, h):
        panda.hook_add(labels["tail"], lambda cpu, tb, h2: seen.append("inner"))
        h.remove()

    panda.hook_add(labels["again"], add_from_inside)
    panda.run()                                      # pass 3 adds a hook at tail
    assert late.hits == 8 and "inner" not in seen
    panda.run()                                      # tail, translated in pass 2, runs once
    assert seen.count("inner") == 1
    panda.delete_hooks()
    assert panda.hooks == {}


def test_no_hook_no_instrumentation(machine):
    # insn_exec fires before every instruction any insn_translate asked for
    # (PANDA's rule): with no hook, nothing is instrumented
    panda, labels = machine(LOOP.format(n=5) + "    jmp _start\n")
    execs = []

    @panda.cb_insn_exec
    def on_exec(cpu, pc):
        execs.append(pc)
        return 0

    panda.run()
    assert execs == []
    h = panda.hook_add(labels["body"], lambda cpu, tb, h: None)
    panda.run()
    assert set(execs) == {labels["body"]} and len(execs) == 5
    h.remove()
    panda.flush_tb()
    del execs[:]
    panda.run()
    assert execs == []


def test_an_exception_in_a_hook_reraises_from_run(machine):
    panda, labels = machine(LOOP.format(n=5))

    @panda.hook(labels["body"])
    def bad(cpu, tb, h):
        raise KeyError("from the hook")

    with pytest.raises(KeyError, match="from the hook"):
        panda.run()


def test_unsupported_cb_type_names_the_supported_ones(machine):
    panda, labels = machine(LOOP.format(n=1))
    with pytest.raises(CallbackError, match="start_block_exec"):
        panda.hook(labels["body"], cb_type="before_tcg_codegen")(lambda cpu, tb, h: None)


def test_c_api_errors(machine):
    panda, labels = machine(LOOP.format(n=1))
    lib, handle = panda._lib, panda._handle
    assert lib.panda_hook_remove(handle, 12345) != 0
    assert lib.panda_hook_set_enabled(handle, 0, True) != 0
    assert lib.panda_hook_hits(handle, 12345) == 0


# ---- memory hooks -------------------------------------------------------------

MEMORY = """
    mov $5, %ecx
loop:
    mov %ecx, 0x2000             # 4-byte writes to 0x2000
    mov 0x3000, %eax             # 4-byte reads from 0x3000
    movb %cl, 0x2003             # 1-byte writes to 0x2003
    dec %ecx
    jnz loop
    hlt
"""


def test_memory_hooks_filter_ranges_and_kinds(machine):
    panda, labels = machine(MEMORY)
    panda.physical_memory_write(0x3000, b"\x78\x56\x34\x12")
    got = {"w": [], "r": [], "edge": [], "phys_before": 0}

    @panda.hook_virt_mem_write(0x2000, 0x2000)
    def writes(cpu, mad):
        assert mad.on_write and mad.on_virtual and mad.on_before and not mad.on_read
        got["w"].append((mad.size, int.from_bytes(mad.data(), "little")))

    @panda.hook_mem(0x3000, 0x3003, on_before=False, on_after=True, on_read=True, on_virtual=True)
    def reads(cpu, mad):
        assert mad.hook is panda.mem_hooks[reads] and mad.pc > 0x1000
        got["r"].append(int.from_bytes(mad.data(), "little"))

    @panda.hook_phys_mem_write(0x2003, 0x2003)
    def edge(cpu, mad):                           # the 4-byte writes overlap 0x2003 too
        got["edge"].append(mad.size)

    @panda.hook_phys_mem_read(0x5000, 0x6000)     # nothing there
    def never(cpu, mad):
        raise AssertionError("no access in range")

    panda.run()
    assert got["w"] == [(4, n) for n in range(5, 0, -1)]
    assert got["r"] == [0x12345678] * 5
    assert got["edge"] == [4, 1] * 5
    assert panda.mem_hooks[writes].hits == 5 and panda.mem_hooks[never].hits == 0


def test_memory_hooks_remove_themselves_and_restore_memcb(machine):
    panda, labels = machine(MEMORY)
    calls = []

    @panda.hook_virt_mem_write(0x2000, 0x2003)
    def once(cpu, mad):
        calls.append(mad.addr)
        mad.hook.remove()

    # a plain memory callback fires only while memcb is on: the hook turned
    # it on, and its removal turns it off again
    plain = []

    @panda.cb_virt_mem_after_write
    def vmw(cpu, pc, addr, size, buf):
        plain.append(addr)

    panda.run()
    assert calls == [0x2000] and panda.mem_hooks == {}
    assert plain[:1] == [0x2000] and len(plain) < 10


def test_memory_hook_checks(machine):
    panda, labels = machine(MEMORY)
    with pytest.raises(CallbackError, match="never fire"):
        panda.hook_mem(0x2000, 0x2003)(lambda cpu, mad: None)     # no read/write, no space
    with pytest.raises(CallbackError, match="below"):
        panda.hook_virt_mem_read(0x3000, 0x2000)(lambda cpu, mad: None)


def test_a_hook_ending_the_run_is_not_called_again_for_the_same_execution(machine):
    # the stop leaves before the hooked instruction runs; the next run()
    # runs it without calling the hook a second time
    panda, labels = machine(LOOP.format(n=4))
    seen = []

    @panda.hook(labels["body"])
    def stopper(cpu, tb, h):
        seen.append(panda.arch.get_reg(cpu, "ECX"))
        panda.end_analysis()

    for _ in range(10):
        panda.run()
        if panda.guest_halted:
            break
    assert seen == [4, 3, 2, 1]
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 10


def test_many_hooks_grow_and_sweep(machine):
    # 200 one-byte nops: hooks on each (the table grows), most removed (the
    # removed ones are swept on a later add), the rest still exact
    panda, labels = machine("    mov $3, %ebx\nagain:\n" + "    nop\n" * 200 + "    dec %ebx\n    jnz again\n    hlt\n")
    base = labels["again"]
    hooks = [panda.hook_add(base + i, lambda cpu, tb, h: None) for i in range(200)]
    for h in hooks[:150]:
        h.remove()
    extra = [panda.hook_add(base + i, lambda cpu, tb, h: None, kernel=True) for i in range(0, 200, 50)]
    panda.run()
    assert [h.hits for h in hooks[150:]] == [3] * 50
    assert [h.hits for h in extra] == [3] * 4
    assert all(h.hits == 0 for h in hooks[:150])
