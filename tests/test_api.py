"""The Python API: bad input, exceptions in callbacks, lifetimes, several
instances."""
from __future__ import annotations

import gc
import threading

import pytest

from conftest import SUM_LOOP
from pypanda import (CallbackError, InvalidInstructionError, MemoryAccessError,
                     OptionError, Panda, pyp)

BARE = "-M configurable -nographic"


def test_unknown_arch():
    with pytest.raises(OptionError, match="unknown arch 'sparc'"):
        Panda(arch="sparc", extra_args=BARE)


def test_unknown_option_is_named():
    with pytest.raises(OptionError, match="unknown option '-frobnicate'"):
        Panda(arch="i386", extra_args=BARE + " -frobnicate 3")


@pytest.mark.parametrize("mem", ["12Q", "lots", "0", "-5M", ""])
def test_bad_mem(mem):
    with pytest.raises(OptionError, match="memory size"):
        Panda(arch="i386", mem=mem, extra_args=BARE)


def test_mem_sizes_parse():
    for mem, size in (("128M", 128 << 20), ("1G", 1 << 30), ("64k", 64 << 10), ("16", 16 << 20)):
        p = Panda(arch="i386", mem=mem, extra_args=BARE)
        assert p._lib.panda_ram_size(p._handle) == size
        p.close()


def test_features_not_there_say_so():
    with pytest.raises(OptionError, match="cannot open the BIOS ROM"):
        Panda(arch="i386", extra_args=["-bios", "/nonexistent/bios.bin"])
    with pytest.raises(OptionError, match="-hda needs -M pc"):
        Panda(arch="i386", qcow="/tmp/x.qcow2", extra_args=BARE)
    p = Panda(arch="i386", extra_args=BARE)
    with pytest.raises(NotImplementedError, match="replay needs the pc machine"):
        p.replay("/tmp/rec")
    with pytest.raises(NotImplementedError, match="snapshots need the pc machine"):
        p.snap("s")
    with pytest.raises(NotImplementedError, match="no serial console"):
        p.run_serial_cmd("ls")


def test_run_without_memory_explains():
    p = Panda(arch="i386", extra_args=BARE)
    with pytest.raises(RuntimeError, match="map_memory"):
        p.run()


def test_map_memory_errors():
    p = Panda(arch="i386", mem="1M", extra_args=BARE)
    p.map_memory("a", 0x1000, 0x10000)
    with pytest.raises(ValueError, match="overlaps"):
        p.map_memory("b", 0x2000, 0x10000)
    with pytest.raises(ValueError, match="multiple of the 4 KiB"):
        p.map_memory("c", 0x1000, 0x123)
    with pytest.raises(ValueError, match="exceed the machine's memory"):
        p.map_memory("d", 2 << 20, 0x100000)


def test_reading_unmapped_memory_raises():
    p = Panda(arch="i386", extra_args=BARE)
    p.map_memory("ram", 0x1000, 0)
    with pytest.raises(MemoryAccessError, match="0x5000..0x5003 is not mapped"):
        p.physical_memory_read(0x5000, 4)
    with pytest.raises(ValueError):
        p.physical_memory_write(0x5000, b"abcd")
    with pytest.raises(ValueError):
        p.virtual_memory_read(p.get_cpu(), 0x5000, 4)
    assert p.physical_memory_read(0, 4) == bytearray(4)


def test_unknown_register():
    p = Panda(arch="i386", extra_args=BARE)
    with pytest.raises(ValueError, match="unknown register 'XMM99'"):
        p.arch.get_reg(p.get_cpu(), "XMM99")


def test_invalid_instruction(machine):
    panda, labels = machine("""
        mov $1, %eax
    bad:
        ud2
    """)
    with pytest.raises(InvalidInstructionError, match=f"invalid instruction at pc {labels['bad']:#x}"):
        panda.run()


def test_wrong_callback_signature_is_refused(machine):
    panda, _ = machine(SUM_LOOP)

    @pyp.callback("bool(void*)")
    def not_a_block_callback(handle):
        return True

    with pytest.raises(CallbackError, match="before_block_exec is called as void\\(CPUState\\*, TranslationBlock\\*\\)"):
        panda.register_callback(panda.callback.before_block_exec, not_a_block_callback, "x")

    @pyp.callback("int(CPUState*, target_ulong)")
    def wrong_second_arg(cpu, pc):
        return 0

    with pytest.raises(TypeError, match="argument 2 is uint64_t|argument 2 is c_ulong"):
        panda.register_callback(panda.callback.after_block_translate, wrong_second_arg, "y")

    @pyp.callback("void(CPUState*, target_ulong)")
    def returns_nothing(cpu, pc):
        pass

    with pytest.raises(TypeError, match="must return"):
        panda.register_callback(panda.callback.insn_translate, returns_nothing, "z")


def test_bad_signature_strings():
    with pytest.raises(CallbackError, match="unknown C type 'Frob'"):
        pyp.callback("int(Frob*, int)")
    with pytest.raises(CallbackError, match="not a C function signature"):
        pyp.callback("int CPUState")


def test_exception_in_callback_stops_and_is_reraised(machine):
    panda, labels = machine(SUM_LOOP)
    count = [0]

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        count[0] += 1
        if count[0] == 3:
            raise KeyError("boom in a callback")

    with pytest.raises(KeyError, match="boom in a callback") as info:
        panda.run()
    # the traceback reaches into the callback
    assert any(entry.name == "bbe" for entry in info.traceback)
    assert count[0] == 3
    panda.run()  # the machine is intact and continues
    assert panda.guest_halted
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15


def test_exception_in_seed_style_callback(machine):
    panda, _ = machine(SUM_LOOP)

    @pyp.callback("int(CPUState*, TranslationBlock*)")
    def bbe(cpu, tb):
        raise ValueError("seed-style failure")

    @pyp.callback("bool(void*)")
    def init(handle):
        panda.register_callback(handle, panda.callback.before_block_exec, bbe)
        return True

    panda.load_python_plugin(init, "failing")
    with pytest.raises(ValueError, match="seed-style failure"):
        panda.run()


def test_exception_in_plugin_init_is_raised(machine):
    panda, _ = machine(SUM_LOOP)

    @pyp.callback("bool(void*)")
    def init(handle):
        raise RuntimeError("init failed")

    with pytest.raises(RuntimeError, match="init failed"):
        panda.load_python_plugin(init, "bad")


def test_callbacks_survive_garbage_collection(machine):
    panda, labels = machine(SUM_LOOP)
    seen = []

    def register():
        def bbe(cpu, tb):  # only the registration keeps this alive
            seen.append(tb.contents.pc)
        panda.register_callback(panda.callback.before_block_exec, bbe, "gc")

    register()
    gc.collect()
    panda.run()
    assert len(seen) == 6


def test_two_instances_one_after_the_other(machine):
    results = []
    for _ in range(2):
        panda, _ = machine(SUM_LOOP)
        blocks = []
        panda.register_callback(panda.callback.before_block_exec,
                                lambda cpu, tb, blocks=blocks: blocks.append(1), "b")
        panda.run()
        results.append((len(blocks), panda.arch.get_reg(panda.get_cpu(), "EAX")))
        panda.close()
    assert results == [(6, 15), (6, 15)]


def test_two_instances_interleaved(machine):
    a, _ = machine(SUM_LOOP)
    b, _ = machine(SUM_LOOP.replace("$5, %ecx", "$3, %ecx"))
    for p in (a, b):
        @p.cb_before_block_exec
        def stop_early(cpu, tb, p=p):
            if p.arch.get_reg(cpu, "ECX") == 2:
                p.end_analysis()
    a.run()
    b.run()
    assert a.arch.get_reg(a.get_cpu(), "EAX") == 5 + 4 + 3
    assert b.arch.get_reg(b.get_cpu(), "EAX") == 3
    a.delete_callbacks()
    b.delete_callbacks()
    b.run()
    a.run()
    assert (a.arch.get_reg(a.get_cpu(), "EAX"), b.arch.get_reg(b.get_cpu(), "EAX")) == (15, 6)


def test_two_instances_side_by_side_in_threads(asm):
    code, labels = asm(SUM_LOOP.replace("$5, %ecx", "$200000, %ecx"))
    results = {}

    def work(key):
        p = Panda(arch="i386", mem="1M", extra_args=BARE)
        p.map_memory("ram", 0x10000, 0)
        p.physical_memory_write(0x1000, code)
        p.arch.set_pc(p.get_cpu(), 0x1000)
        blocks = [0]

        @p.cb_before_block_exec
        def bbe(cpu, tb):
            blocks[0] += 1

        p.run()
        results[key] = (blocks[0], p.arch.get_reg(p.get_cpu(), "EAX"))
        p.close()

    threads = [threading.Thread(target=work, args=(k,)) for k in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = (200000 + 1, (200000 * 200001 // 2) & 0xFFFFFFFF)
    assert results == {"a": expected, "b": expected}
