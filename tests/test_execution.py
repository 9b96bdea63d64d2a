"""Guest code runs on the bare machine and callbacks see exactly what it did."""
from __future__ import annotations

import pytest

from conftest import CODE_ADDR, SUM_LOOP


def test_block_and_instruction_counts(machine):
    panda, labels = machine(SUM_LOOP)
    blocks, insns, after_insns = [], [], []

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        blocks.append((tb.contents.pc, tb.contents.icount, tb.contents.size))

    @panda.cb_insn_translate
    def it(cpu, pc):
        return True

    @panda.cb_insn_exec
    def ie(cpu, pc):
        insns.append(pc)

    @panda.cb_after_insn_translate
    def ait(cpu, pc):
        return True

    @panda.cb_after_insn_exec
    def aie(cpu, pc):
        after_insns.append(pc)

    panda.run()
    assert panda.guest_halted
    loop, done = labels["loop"], labels["done"]
    # one block up to the first jnz, four more iterations, then the hlt block
    assert [b[0] for b in blocks] == [CODE_ADDR] + [loop] * 4 + [done]
    assert [b[1] for b in blocks] == [7, 5, 5, 5, 5, 1]
    assert blocks[1][2] == done - loop  # bytes of the loop body
    assert len(insns) == 2 + 5 * 5 + 1
    assert insns.count(loop) == 5 and insns[-1] == done
    # every instruction but hlt completes, including each block-ending jnz
    assert after_insns == insns[:-1]


def test_selected_instructions_only(machine):
    panda, labels = machine(SUM_LOOP)
    seen = []

    @panda.cb_insn_translate
    def it(cpu, pc):
        return pc == labels["loop"]

    @panda.cb_insn_exec
    def ie(cpu, pc):
        seen.append((pc, panda.arch.get_reg(cpu, "ECX")))

    panda.run()
    assert seen == [(labels["loop"], n) for n in (5, 4, 3, 2, 1)]


def test_registers_after_run(machine):
    panda, _ = machine(SUM_LOOP)
    panda.run()
    cpu = panda.get_cpu()
    assert panda.arch.get_reg(cpu, "EAX") == 15
    assert panda.arch.get_reg(cpu, "ecx") == 0
    assert panda.arch.get_reg(cpu, "AL") == 15
    assert panda.arch.get_pc(cpu) == CODE_ADDR + len(panda.physical_memory_read(CODE_ADDR, 0x40).rstrip(b"\0"))
    assert panda.physical_memory_read(0x2000, 4, fmt="int") == 15


def test_register_write_in_callback_changes_result(machine):
    panda, labels = machine(SUM_LOOP)
    first = [True]

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        # at the loop head after the first iteration ECX is 4; make it 1
        if tb.contents.pc == labels["loop"] and first[0]:
            first[0] = False
            assert panda.arch.get_reg(cpu, "ECX") == 4
            panda.arch.set_reg(cpu, "ECX", 1)

    panda.run()
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 5 + 1


def test_register_write_in_insn_exec(machine):
    panda, labels = machine("""
        mov $7, %ebx
    target:
        mov %ebx, %eax
        hlt
    """)

    @panda.cb_insn_translate
    def it(cpu, pc):
        return pc == labels["target"]

    @panda.cb_insn_exec
    def ie(cpu, pc):
        panda.arch.set_reg(cpu, "EBX", 99)

    panda.run()
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 99


def test_after_block_exec_and_translate(machine):
    panda, labels = machine(SUM_LOOP)
    translated, before_tr, exits = [], [], []

    @panda.cb_before_block_translate
    def bbt(cpu, pc):
        before_tr.append(pc)

    @panda.cb_after_block_translate
    def abt(cpu, tb):
        translated.append((tb.contents.pc, tb.contents.icount))

    @panda.cb_after_block_exec
    def abe(cpu, tb, exit_code):
        exits.append((tb.contents.pc, exit_code))

    panda.run()
    assert before_tr == [CODE_ADDR, labels["loop"], labels["done"]]
    assert translated == [(CODE_ADDR, 7), (labels["loop"], 5), (labels["done"], 1)]
    # every block but the hlt one returned normally (exit code 0 or 1)
    assert [pc for pc, _ in exits] == [CODE_ADDR] + [labels["loop"]] * 4
    assert all(code <= 1 for _, code in exits)


def test_invalidate_opt_retranslates(machine):
    panda, labels = machine(SUM_LOOP)
    translated = []
    asked = []

    @panda.cb_after_block_translate
    def abt(cpu, tb):
        translated.append(tb.contents.pc)

    @panda.cb_before_block_exec_invalidate_opt
    def inv(cpu, tb):
        asked.append(tb.contents.pc)
        # throw the loop block away once, on its third execution
        return tb.contents.pc == labels["loop"] and asked.count(labels["loop"]) == 3

    panda.run()
    assert translated.count(labels["loop"]) == 2
    assert translated.count(CODE_ADDR) == 1
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15


def test_memory_callbacks_see_every_access(machine):
    panda, labels = machine(SUM_LOOP)
    panda.physical_memory_write(0x3000, (0x11223344).to_bytes(4, "little"))
    events = []

    def rec(kind):
        def cb(cpu, pc, addr, size, buf=None):
            value = int.from_bytes(bytes(buf[:size]), "little") if buf is not None else None
            events.append((kind, pc, addr, size, value))
        return cb

    for kind in ("virt_mem_before_read", "virt_mem_after_read", "virt_mem_before_write",
                 "virt_mem_after_write", "phys_mem_before_read", "phys_mem_after_read",
                 "phys_mem_before_write", "phys_mem_after_write"):
        panda.register_callback(panda.callback[kind], rec(kind), kind)
    panda.enable_memcb()
    panda.run()

    store_pc = labels["loop"] + 2          # add %ecx,%eax is 2 bytes
    load_pc = store_pc + 5                  # mov %eax,0x2000 is 5 bytes
    for kind in ("virt_mem_after_write", "phys_mem_after_write", "virt_mem_before_write",
                 "phys_mem_before_write"):
        got = [(pc, addr, size, v) for k, pc, addr, size, v in events if k == kind]
        assert got == [(store_pc, 0x2000, 4, v) for v in (5, 9, 12, 14, 15)], kind
    for kind in ("virt_mem_after_read", "phys_mem_after_read"):
        got = [(pc, addr, size, v) for k, pc, addr, size, v in events if k == kind]
        assert got == [(load_pc, 0x3000, 4, 0x11223344)] * 5, kind
    for kind in ("virt_mem_before_read", "phys_mem_before_read"):
        got = [(pc, addr, size) for k, pc, addr, size, _ in events if k == kind]
        assert got == [(load_pc, 0x3000, 4)] * 5, kind


def test_memory_callbacks_need_enable_memcb(machine):
    panda, _ = machine(SUM_LOOP)
    seen = []

    @panda.cb_virt_mem_after_write
    def w(cpu, pc, addr, size, buf):
        seen.append(addr)

    panda.run()
    assert seen == []


def test_asid_changed_reports_and_can_block(machine):
    panda, _ = machine("""
        mov $0x3000, %eax
        mov %eax, %cr3
        mov $0x4000, %eax
        mov %eax, %cr3
        hlt
    """)
    changes = []

    @panda.cb_asid_changed
    def asid(cpu, old, new):
        changes.append((old, new))
        return new == 0x4000  # refuse the second switch

    panda.run()
    assert changes == [(0, 0x3000), (0x3000, 0x4000)]
    assert panda.arch.get_reg(panda.get_cpu(), "CR3") == 0x3000


def test_hypercall_handled_in_python(machine):
    panda, _ = machine("""
        mov $0x1234, %eax
        cpuid
        mov %eax, %esi
        mov $0, %eax
        cpuid
        mov %ebx, %edi
        hlt
    """)
    calls = []

    @panda.cb_guest_hypercall
    def hc(cpu):
        eax = panda.arch.get_reg(cpu, "EAX")
        calls.append(eax)
        if eax == 0x1234:
            panda.arch.set_reg(cpu, "EAX", 42)
            return True
        return False  # a real CPUID: the CPU answers it

    panda.run()
    cpu = panda.get_cpu()
    assert calls == [0x1234, 0]
    assert panda.arch.get_reg(cpu, "ESI") == 42
    assert panda.arch.get_reg(cpu, "EDI") == int.from_bytes(b"Genu", "little")  # GenuineIntel


def test_cpu_restore_state_on_fault_mid_block(machine):
    panda, labels = machine("""
        mov $1, %eax
        mov $2, %ebx
    faulting:
        mov 0x900000, %ecx
        hlt
    """)
    restored = []

    @panda.cb_cpu_restore_state
    def crs(cpu, tb):
        restored.append((tb.contents.pc, panda.arch.get_pc(cpu)))

    from pypanda import GuestMemoryError
    with pytest.raises(GuestMemoryError, match="0x100a"):
        panda.run()
    assert restored and restored[0] == (CODE_ADDR, labels["faulting"])
    assert panda.arch.get_reg(panda.get_cpu(), "EBX") == 2


def test_after_machine_init_and_top_loop(machine):
    panda, _ = machine(SUM_LOOP)
    calls = []

    @panda.cb_after_machine_init
    def ami(cpu):
        calls.append("init")

    @panda.cb_top_loop
    def tl(cpu):
        calls.append("top")

    panda.run()
    assert calls[0] == "init" and calls.count("init") == 1 and "top" in calls


def test_disable_and_enable_callback(machine):
    panda, labels = machine(SUM_LOOP)
    seen = []

    @panda.cb_before_block_exec(name="counter", enabled=False)
    def bbe(cpu, tb):
        seen.append(tb.contents.pc)
        if len(seen) == 2:
            panda.disable_callback("counter")

    @panda.cb_insn_translate
    def it(cpu, pc):
        return pc == labels["loop"]

    @panda.cb_insn_exec
    def ie(cpu, pc):
        if panda.arch.get_reg(cpu, "ECX") == 4:
            panda.enable_callback("counter")

    panda.run()
    assert seen == [labels["loop"], labels["loop"]]
    assert not panda.is_callback_enabled("counter")
    panda.delete_callback("counter")
    with pytest.raises(TypeError):
        panda.enable_callback("counter")


def test_end_analysis_from_callback_and_resume(machine):
    panda, labels = machine(SUM_LOOP)
    blocks = []

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        blocks.append(tb.contents.pc)
        if len(blocks) == 3:
            panda.end_analysis()

    panda.run()
    assert not panda.guest_halted
    assert len(blocks) == 3
    panda.run()  # continues where it stopped
    assert panda.guest_halted
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15
