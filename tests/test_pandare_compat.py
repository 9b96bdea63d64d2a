"""pandare's idioms beyond OSI: fields read straight off callback arguments,
the ``ffi`` subset its scripts use, its constructor keywords, read_str
without a limit."""
from __future__ import annotations

import ctypes

import pytest

from pypanda import Panda, UnsupportedError, ffi
from pypanda.errors import OptionError

LOOP = "    mov $3, %ecx\n1:  dec %ecx\n    jnz 1b\n    hlt\n"


def test_callback_arguments_read_fields_directly(machine):
    panda, labels = machine(LOOP)
    seen = []

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        # pandare's tb.pc / tb.size / tb.icount, and the seed's tb.contents
        seen.append((tb.pc, tb.size, tb.icount, tb.contents.pc, cpu.cpu_index))
        with pytest.raises(AttributeError, match="no field 'nope'"):
            _ = tb.nope
        with pytest.raises(AttributeError, match="read-only"):
            tb.pc = 0

    panda.run()
    first = seen[0]
    assert first[0] == first[3] == labels.get("_start", first[0])
    assert first[1] == 8 and first[2] == 3      # mov (5 bytes), dec (1), jnz (2)
    assert all(s[4] == 0 for s in seen)
    # the loop body twice more (dec; jnz), then the hlt
    assert [s[2] for s in seen[1:]] == [2, 2, 1]


def test_ffi_subset(machine):
    panda, _ = machine("hlt")
    assert panda.ffi is ffi                           # pandare scripts write panda.ffi.string(...)
    assert ffi.string("sh") == b"sh" and ffi.string(b"a\0b") == b"a"
    with pytest.raises(TypeError):
        ffi.string(ffi.NULL)
    assert ffi.cast("int", 0xFFFFFFFF) == -1 and ffi.cast("unsigned int", -1) == 0xFFFFFFFF
    assert ffi.cast("uint8_t", 0x1FF) == 0xFF and ffi.cast("int16_t", 0x8000) == -0x8000
    buf = ffi.new("char[]", b"abc")
    assert ffi.sizeof(buf) == 4 and ffi.string(buf) == b"abc"
    arr = ffi.new("uint8_t[4]", [1, 2, 3, 4])
    assert ffi.unpack(arr, 4) == b"\x01\x02\x03\x04" and bytes(ffi.buffer(arr)) == b"\x01\x02\x03\x04"
    p = ffi.new("int *", 7)
    assert p[0] == 7 and ffi.sizeof("int") == 4 and ffi.sizeof("uint64_t") == 8
    assert ffi.typeof("uint32_t") is ctypes.c_uint32
    ints = ffi.new("uint32_t[2]", [5, 6])
    assert ffi.unpack(ints, 2) == [5, 6]
    view = ffi.from_buffer(bytearray(b"xyz"))
    assert bytes(view) == b"xyz"
    cpu_ptr = ffi.cast("CPUState *", ctypes.c_void_p(0))
    assert not cpu_ptr


def test_pandare_constructor_keywords(tmp_path):
    panda = Panda(arch="i386", mem="1M", extra_args="-M configurable", serial_kwargs={"unansi": False})
    assert panda.serial_kwargs == {"unansi": False}
    panda.close()
    with pytest.raises(UnsupportedError, match="monitor socket"):
        Panda(arch="i386", mem="1M", extra_args="-M configurable", raw_monitor=True)
    with pytest.raises(UnsupportedError, match="no PANDA C plugins"):
        Panda(arch="i386", mem="1M", extra_args="-M configurable", plugin_path=str(tmp_path))
    with pytest.raises(OptionError, match="no bios-256k.bin"):
        Panda(arch="i386", mem="16M", biospath=str(tmp_path))


def test_read_str_reads_to_the_nul(machine):
    panda, _ = machine("hlt")
    text = "x" * 5000
    panda.physical_memory_write(0x4000, text.encode() + b"\0")
    panda.run()
    cpu = panda.get_cpu()
    assert panda.read_str(cpu, 0x4000) == text               # pandare: no limit
    assert panda.read_str(cpu, 0x4000, max_length=10) == "x" * 10
    # a string that ends on the last byte of mapped memory: no read past it
    panda.physical_memory_write(0xFFF0, b"tail-of-ram\0\0\0\0\0")
    assert panda.read_str(cpu, 0xFFF0) == "tail-of-ram"


def test_run_returns_while_a_queued_function_still_blocks():
    """pandare's tests/sleep_in_cb.py: a callback ends the run while the
    queued function sleeps; run() returns, the function never finishes."""
    import threading
    import time
    panda = Panda(generic="i386", verbose=False)
    started, release, ended = threading.Event(), threading.Event(), []

    @panda.queue_blocking
    def hang():
        started.set()
        release.wait(1000)
        ended.append(True)

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        if started.is_set():
            panda.end_analysis()

    t0 = time.monotonic()
    panda.run()
    waited = time.monotonic() - t0
    assert started.is_set() and not ended
    assert waited < 30                 # not the function's 1000 s
    release.set()
    panda.close()


def test_run_serial_cmd_output_when_the_echo_wraps():
    """BusyBox breaks the echoed command line at 80 columns: none of the
    echo may stay in the output."""
    panda = Panda(generic="i386", verbose=False)
    out = {}
    long_word = "x" * 100

    @panda.queue_blocking
    def go():
        out["long"] = panda.run_serial_cmd(f"echo {long_word} done")
        out["short"] = panda.run_serial_cmd("echo short")
        panda.end_analysis()

    panda.run()
    assert out == {"long": f"{long_word} done", "short": "short"}
    assert f"{long_word[:60]}\n" in panda.serial_log     # it did wrap
    panda.close()


def test_cpu_state_helpers_and_set_os_name(machine):
    import warnings
    from pypanda.osi.linux import OsiWarning
    panda, _ = machine("    mov $0x1234, %esp\n    hlt\n")
    panda.run()
    cpu = panda.get_cpu()
    assert panda.current_sp(cpu) == 0x1234
    assert panda.current_asid(cpu) == panda.arch.get_reg(cpu, "CR3")
    assert panda.in_kernel(cpu)                 # flat protected mode at CPL 0
    guest = Panda(generic="i386", verbose=False)
    assert guest.os_profile.release.startswith("6.1.0-57")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        guest.set_os_name("linux-32-debian:4.9.0-6-686-pae")
    assert any(issubclass(w.category, OsiWarning) and "4.9.0-6-686-pae" in str(w.message) for w in caught)
    guest.close()


def test_generic_root_snapshot_is_made_once_then_loaded():
    """pandare's generic images' "root" snapshot: the first revert boots to
    the prompt and keeps the machine in the guest's cache; the next Panda
    loads it instead of booting."""
    import time
    results = []
    first = Panda(generic="i386", verbose=False)
    path = first.generic_root_snapshot()
    if path.exists():
        path.unlink()
    for panda in (first, Panda(generic="i386", verbose=False)):
        out = {}

        def go(panda=panda, out=out):
            t0 = time.monotonic()
            panda.revert_sync("root")
            out["revert_s"] = time.monotonic() - t0
            out["echo"] = panda.run_serial_cmd("echo $((6*7))")
            panda.end_analysis()

        panda.queue_blocking(go)

        panda.run()
        results.append(out)
        panda.close()
        assert path.is_file()
    assert [r["echo"] for r in results] == ["42", "42"]
    # the second did not boot (a boot is about 3 s of 2.7e9 instructions)
    assert results[1]["revert_s"] < results[0]["revert_s"] / 2, results


def test_qcows_cli():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "pypanda.qcows", "i386"], capture_output=True, text=True)
    assert out.returncode == 0 and "Panda(generic='i386')" in out.stdout and "-kernel" in out.stdout
    bad = subprocess.run([sys.executable, "-m", "pypanda.qcows", "sparc"], capture_output=True, text=True)
    assert bad.returncode != 0 and "pypanda has debian-i386, i386" in bad.stderr


def test_memory_read_formats_as_pandare(machine):
    panda, _ = machine("hlt")
    panda.physical_memory_write(0x4000, b"name\0rest")
    panda.run()
    cpu = panda.get_cpu()
    for read in (lambda fmt: panda.physical_memory_read(0x4000, 9, fmt=fmt),
                 lambda fmt: panda.virtual_memory_read(cpu, 0x4000, 9, fmt=fmt)):
        assert read("bytearray") == b"name\0rest" and type(read("bytearray")) is bytes
        assert read("str") == b"name"               # pandare: ffi.string's bytes
        assert read("int") == int.from_bytes(b"name\0rest", "little")
    assert type(panda.physical_memory_read(0x4000, 4)) is bytes   # the default


def test_procname_keeps_a_callback_to_one_process():
    panda = Panda(generic="i386", verbose=False)
    names, user_blocks = [], [0]

    @panda.queue_blocking
    def go():
        panda.revert_sync("root")

        @panda.cb_before_block_exec(procname="uname")
        def bbe(cpu, tb):
            # as pandare's, by address space: kernel code the interrupts run
            # meanwhile counts too; user code is the process's own
            if tb.pc < 0xC0000000:
                names.append(panda.get_process_name(cpu))
                user_blocks[0] += 1

        panda.run_serial_cmd("uname -a; cat /proc/version > /dev/null")
        panda.end_analysis()

    panda.run()
    assert set(names) == {"uname"} and user_blocks[0] > 100, (set(names), user_blocks)
    panda.close()


def test_plugins_unload_and_disable_ppp():
    panda = Panda(generic="i386", verbose=False)
    writes, opens = [], []

    @panda.ppp("syscalls2", "on_sys_write_enter")
    def on_write(cpu, pc, fd, buf, count):
        writes.append(count)

    @panda.ppp("syscalls2", "on_sys_openat_enter")
    def on_open(cpu, pc, dfd, filename, flags, mode):
        opens.append(panda.read_str(cpu, filename))

    counts = {}

    @panda.queue_blocking
    def go():
        panda.revert_sync("root")
        panda.run_serial_cmd("cat /etc/hostname")
        counts["first"] = (len(writes), len(opens))
        panda.disable_ppp("on_write")
        panda.run_serial_cmd("cat /etc/hostname")
        counts["second"] = (len(writes), len(opens))
        panda.unload_plugin("syscalls2")
        panda.run_serial_cmd("cat /etc/hostname")
        counts["third"] = (len(writes), len(opens))
        panda.end_analysis()

    panda.run()
    (w1, o1), (w2, o2), (w3, o3) = counts["first"], counts["second"], counts["third"]
    assert w1 > 0 and o1 > 0
    assert w2 == w1 and o2 > o1            # writes no longer seen, opens still
    assert (w3, o3) == (w2, o2)            # nothing once syscalls2 is unloaded
    assert "syscalls2" not in panda.plugins.keys()
    panda.close()


def test_syscall_retval_and_kernel_code():
    """pandare's osi_syscalls.py reads a read's return with syscalls2's
    get_syscall_retval, and in_kernel_code_linux tells kernel code apart."""
    panda = Panda(generic="i386", verbose=False)
    got, kernel_pcs = [], []

    @panda.ppp("syscalls2", "on_sys_read_return")
    def read_ret(cpu, pc, fd, buf, count):
        if panda.get_process_name(cpu) == "head":
            got.append(panda.plugins["syscalls2"].get_syscall_retval(cpu))
            kernel_pcs.append(panda.in_kernel_code_linux(cpu))

    @panda.queue_blocking
    def go():
        panda.revert_sync("root")
        panda.run_serial_cmd("head -c 5 /etc/passwd; head -c 5 /nonexistent")
        panda.end_analysis()

    panda.run()
    assert got and got[0] > 0 and not any(kernel_pcs)     # the return site is user code
    panda.close()


def test_record_cmd_reverts_to_root_by_default(tmp_path):
    """pandare's record_cmd(snap_name="root"): what the guest did before is
    gone; snap_name=None records from where the guest is."""
    panda = Panda(generic="i386", verbose=False)
    out = {}

    @panda.queue_blocking
    def go():
        panda.run_serial_cmd("echo marker > /tmp/m")
        out["none"] = panda.record_cmd("cat /tmp/m", recording_name=str(tmp_path / "a"), snap_name=None)
        out["root"] = panda.record_cmd("cat /tmp/m", recording_name=str(tmp_path / "b"))
        panda.end_analysis()

    panda.run()
    assert out["none"] == "marker"
    assert "can't open '/tmp/m'" in out["root"]
    panda.close()
