"""Reliability of the Python layer: closed Pandas, cpu arguments, Ctrl-C,
bounded console buffers, exceptions from callbacks reaching the call that
fired them, arguments C would truncate, replays ended by exceptions, and a
driver thread acting at once.  What crashed the process before it was fixed
runs in a subprocess."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import fake_bzimage
from pypanda import (ArgumentError, CallbackError, OptionError, Panda, PandaError,
                     RegisterError, pyp)
from test_boot import guest_info

ROOT = Path(__file__).resolve().parent.parent

# i386 code: an endless loop counting in EAX (inc %eax; jmp back)
COUNT_FOREVER = bytes.fromhex("40ebfd")


def run_script(source: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``source`` in a fresh interpreter (a crash cannot take the suite down)."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(source), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def bare(code: bytes = COUNT_FOREVER, **kwargs) -> Panda:
    panda = Panda(arch="i386", mem="1M", extra_args="-M configurable", **kwargs)
    panda.map_memory("ram", 0x10000, 0)
    panda.physical_memory_write(0x1000, code)
    panda.arch.set_pc(panda.get_cpu(), 0x1000)
    return panda


def run_with_deadline(panda: Panda, seconds: float = 10.0) -> float:
    """panda.run(), stopped after ``seconds`` if nothing else stops it;
    returns how long it took (the caller checks it stopped for its reason)."""
    timer = threading.Timer(seconds, panda.end_analysis)
    timer.start()
    start = time.monotonic()
    try:
        panda.run()
    finally:
        timer.cancel()
    return time.monotonic() - start


@pytest.fixture
def pc_machine(tmp_path):
    """A pc machine booting 32-bit ``code`` (a fake kernel at 1 MiB)."""
    made = []

    def make(code: bytes = b"\xeb\xfe", **kwargs) -> Panda:
        kernel = tmp_path / f"k{len(made)}.bzImage"
        kernel.write_bytes(fake_bzimage(code))
        panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(kernel)], **kwargs)
        made.append(panda)
        return panda

    yield make
    for p in made:
        p.close()


# ---- 4: after close() ----------------------------------------------------------

CLOSED_SCRIPT = """
import sys
from pypanda import Panda, StateError, pyp
how = sys.argv[1]
p = Panda(arch="i386", mem="1M", extra_args="-M configurable")
p.map_memory("ram", 0x10000, 0)
cpu, arch, console = p.get_cpu(), p.arch, p.serial_console

@p.cb_before_block_exec
def bbe(cpu, tb):
    pass

@pyp.callback("bool(void*)")
def init(handle):
    return True

CALLS = {
    "run": (), "end_analysis": (), "stop_run": (), "instr_count": (), "get_cpu": (),
    "current_pc": (), "rr_get_guest_instr_count": (),
    "physical_memory_read": (0, 4), "physical_memory_write": (0, b"x"),
    "virtual_memory_read": (cpu, 0, 4), "virtual_memory_write": (cpu, 0, b"x"),
    "virt_to_phys": (cpu, 0), "read_str": (cpu, 0), "map_memory": ("r2", 0x1000, 0x20000),
    "enable_memcb": (), "disable_memcb": (), "flush_tb": (), "enable_tb_chaining": (),
    "disable_tb_chaining": (), "callback_fires": ("top_loop",),
    "register_callback": (p.callback.top_loop, lambda cpu: None, "x"),
    "enable_callback": ("bbe",), "disable_callback": ("bbe",), "delete_callback": ("bbe",),
    "load_python_plugin": (init, "plug"), "run_monitor_cmd": ("info registers",),
    "monitor_printf": (None, "x"), "snap": ("s",), "revert_sync": ("s",), "delvm": ("s",),
    "save_snapshot": ("/tmp/never.snap",), "load_snapshot": ("/tmp/never.snap",),
    "record": ("r",), "end_record": (), "run_replay": ("r",), "replay": ("r",), "end_replay": (),
}
bound = {name: getattr(p, name) for name in CALLS}
if how == "close":
    p.close()
    p.close()                      # twice: nothing
    with p:                        # and __exit__'s close: nothing
        pass
else:
    p._finalizer()                 # as at interpreter exit
assert p.closed

def refused(what, fn, *args):
    try:
        fn(*args)
    except StateError as exc:
        assert "this Panda is closed" in str(exc), (what, exc)
        return
    raise AssertionError(f"{what} did not raise StateError")

names = [n for n in dir(type(p)) if not n.startswith("_") and n not in ("close", "closed")]
names += [n for n in vars(p) if not n.startswith("_")]
for name in names:                 # every method and property, used the normal way
    refused(name, getattr, p, name)
for name, args in CALLS.items():   # methods bound before close() reach no freed state
    refused(name, bound[name], *args)
refused("setting verbose", setattr, p, "verbose", True)
refused("arch.get_reg", arch.get_reg, cpu, "EAX")
refused("arch.set_reg", arch.set_reg, cpu, "EAX", 1)
refused("arch.get_pc", arch.get_pc, cpu)
refused("serial_console.write", console.write, b"x")
print("OK", len(names), len(CALLS))
"""


@pytest.mark.parametrize("how", ["close", "finalizer"])
def test_every_call_after_close_raises_state_error(how):
    proc = run_script(CLOSED_SCRIPT, how)
    assert proc.stdout.startswith("OK")


# ---- 6: cpu arguments ----------------------------------------------------------

CPU_SCRIPT = """
import ctypes
from pypanda import Panda, HandleError
from pypanda._lib import CPUPtr

def bare():
    p = Panda(arch="i386", mem="1M", extra_args="-M configurable")
    p.map_memory("ram", 0x10000, 0)
    return p

p, other, gone = bare(), bare(), bare()
gone_cpu = gone.get_cpu()
gone.close()
USES = {
    "get_reg": lambda c: p.arch.get_reg(c, "EAX"), "set_reg": lambda c: p.arch.set_reg(c, "EAX", 1),
    "get_pc": lambda c: p.arch.get_pc(c), "set_pc": lambda c: p.arch.set_pc(c, 0x1000),
    "dump_regs": lambda c: p.arch.dump_regs(c), "current_pc": lambda c: p.current_pc(c),
    "virtual_memory_read": lambda c: p.virtual_memory_read(c, 0, 4),
    "virtual_memory_write": lambda c: p.virtual_memory_write(c, 0, b"x"),
    "virt_to_phys": lambda c: p.virt_to_phys(c, 0), "read_str": lambda c: p.read_str(c, 0),
}
BAD = {"int": 0x1000, "None": None, "object": object(), "the Panda": p, "its handle": p._handle,
       "NULL": CPUPtr(), "another Panda's cpu": other.get_cpu(), "a closed Panda's cpu": gone_cpu,
       "a cast address": ctypes.cast(ctypes.addressof(p.get_cpu().contents) + 8, CPUPtr)}
for use, fn in USES.items():
    for label, cpu in BAD.items():
        if use == "current_pc" and cpu is None:
            continue               # current_pc(None) is the machine's own cpu
        try:
            fn(cpu)
        except HandleError as exc:
            assert "cpu" in str(exc) or "CPU" in str(exc), (use, label, exc)
            continue
        raise AssertionError(f"{use} took {label}")
try:
    p.arch.get_reg(p, "EAX")
except HandleError as exc:
    assert "not the Panda object" in str(exc), exc
print("OK")
"""


def test_a_wrong_cpu_argument_is_refused():
    run_script(CPU_SCRIPT)


def test_the_cpu_a_callback_receives_is_accepted():
    panda = bare()
    seen = {}

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        seen["eax"] = panda.arch.get_reg(cpu, "EAX")
        seen["code"] = panda.virtual_memory_read(cpu, 0x1000, 3, fmt="bytes")
        seen["phys"] = panda.virt_to_phys(cpu, 0x1000)
        panda.end_analysis()

    panda.run()
    assert seen == {"eax": 0, "code": COUNT_FOREVER, "phys": 0x1000}
    panda.close()


# ---- 11: Ctrl-C ----------------------------------------------------------------

SIGINT_SCRIPT = """
import json, os, signal, sys, threading, time
from pypanda import Panda
mode = sys.argv[1]
p = Panda(arch="i386", mem="1M", extra_args="-M configurable")
p.map_memory("ram", 0x10000, 0)
p.physical_memory_write(0x1000, bytes.fromhex("40ebfd"))    # inc %eax; jmp back
p.arch.set_pc(p.get_cpu(), 0x1000)
if mode != "none":
    @p.cb_before_block_exec
    def bbe(cpu, tb):
        if mode == "raise" and p.arch.get_reg(cpu, "EAX") > 100000:
            raise KeyboardInterrupt
sent = []
def interrupt():
    sent.append(time.monotonic())
    os.kill(os.getpid(), signal.SIGINT)
if mode != "raise":
    threading.Timer(0.5, interrupt).start()
safety = threading.Timer(20, p.end_analysis)
safety.start()
start = time.monotonic()
try:
    p.run()
    result = {"interrupted": False}
except KeyboardInterrupt:
    result = {"interrupted": True, "delay": time.monotonic() - (sent[0] if sent else start)}
safety.cancel()
result["handler_restored"] = signal.getsignal(signal.SIGINT) is signal.default_int_handler
eax = p.arch.get_reg(p.get_cpu(), "EAX")
if mode == "raise":
    p.delete_callback("bbe")
threading.Timer(0.3, p.end_analysis).start()
p.run()                                      # runs on, from where it stopped
result["continued"] = p.arch.get_reg(p.get_cpu(), "EAX") > eax
print(json.dumps(result))
"""


@pytest.mark.parametrize("mode", ["none", "callback", "raise"])
def test_ctrl_c_interrupts_run(mode):
    proc = run_script(SIGINT_SCRIPT, mode, timeout=60)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["interrupted"], result
    assert result["delay"] < (5.0 if mode == "raise" else 0.5), result
    assert result["handler_restored"] and result["continued"], result
    assert "Exception ignored" not in proc.stderr, proc.stderr


# ---- 13: console buffers are bounded ---------------------------------------------

# out "0123456789" to COM1 forever
PRINT_FOREVER = bytes.fromhex(
    "66baf803"          # mov $0x3f8, %dx
    "b030"              # 1: mov $'0', %al
    "ee"                # 2: out %al, %dx
    "fec0"              # inc %al
    "3c3a"              # cmp $':', %al
    "75f9"              # jne 2b
    "ebf5")             # jmp 1b


def test_console_buffers_are_capped(pc_machine):
    limit = 64 << 10
    panda = pc_machine(PRINT_FOREVER, serial_buffer_limit=limit)
    console = panda.serial_console
    seen = {}

    @panda.queue_blocking
    def drive():
        seen["first"] = console.read_until(b"56789", 10)[0]
        while panda._lib.panda_serial_output_total(panda._handle) < 8 * limit:
            time.sleep(0.05)
        with pytest.raises(TimeoutError, match="dropped unread") as info:
            console.read_until(b"never printed", 0.5)
        seen["timeout"] = str(info.value)
        seen["later"] = console.read_until(b"0123456789", 10)[0]
        seen["buffered"] = console.buffered
        panda.end_analysis()

    run_with_deadline(panda, 30)
    assert seen["first"] == b"0123456789"[:10] or seen["first"].endswith(b"56789")
    assert seen["later"].endswith(b"0123456789") and len(seen["later"]) <= limit
    assert seen["buffered"] <= limit
    assert len(console.log) <= limit and len(panda.serial_log) <= limit
    assert console.log_dropped > 0 and console.dropped > 0
    assert bytes(console.log[-20:]).strip(b"0123456789") == b""


def test_serial_buffer_limit_is_checked():
    with pytest.raises(OptionError, match="serial_buffer_limit"):
        Panda(arch="i386", mem="1M", extra_args="-M configurable", serial_buffer_limit=0)


# ---- 15: exceptions from callbacks reach the call that fired them ----------------------

class Boom(Exception):
    pass


def loadvm_raiser(panda, which):
    if which == "before_loadvm":
        @panda.cb_before_loadvm
        def before():
            raise Boom("before_loadvm")
    else:
        @panda.cb_after_loadvm
        def after(cpu):
            raise Boom("after_loadvm")


@pytest.mark.parametrize("which", ["before_loadvm", "after_loadvm"])
def test_loadvm_callback_raising_in_load_snapshot(pc_machine, tmp_path, which):
    panda = pc_machine()
    path = str(tmp_path / "s.snap")
    panda.save_snapshot(path)
    run_with_deadline(panda, 0.2)
    assert panda.instr_count() > 0
    loadvm_raiser(panda, which)
    with pytest.raises(Boom, match=which):
        panda.load_snapshot(path)
    assert panda.instr_count() == 0        # the load itself happened
    panda.delete_callbacks()
    run_with_deadline(panda, 0.1)          # nothing left over stops the next run early
    assert panda.instr_count() > 0


@pytest.mark.parametrize("which", ["before_loadvm", "after_loadvm"])
def test_loadvm_callback_raising_in_revert_sync_while_stopped(pc_machine, which):
    panda = pc_machine()
    panda.snap("s")
    loadvm_raiser(panda, which)
    with pytest.raises(Boom, match=which):
        panda.revert_sync("s")


@pytest.mark.parametrize("which", ["before_loadvm", "after_loadvm"])
def test_loadvm_callback_raising_in_revert_sync_from_the_driver(pc_machine, which):
    panda = pc_machine()
    got = {}

    @panda.queue_blocking
    def drive():
        panda.snap("s")
        loadvm_raiser(panda, which)
        try:
            panda.revert_sync("s")
        except Boom as exc:
            got["driver"] = exc

    with pytest.raises(Boom, match=which) as info:
        run_with_deadline(panda, 10)
    assert got["driver"] is info.value


def test_monitor_callback_raising_while_stopped():
    panda = bare()

    @panda.cb_monitor
    def mon(m, cmd):
        raise Boom(cmd.decode())

    with pytest.raises(Boom, match="custom thing"):
        panda.run_monitor_cmd("custom thing")
    panda.close()


def test_monitor_callback_raising_from_the_driver_stops_the_run():
    panda = bare()
    got = {}

    @panda.cb_monitor
    def mon(m, cmd):
        raise Boom(cmd.decode())

    @panda.queue_blocking
    def drive():
        try:
            panda.run_monitor_cmd("custom thing")
        except Boom as exc:
            got["driver"] = exc

    with pytest.raises(Boom, match="custom thing"):
        assert run_with_deadline(panda, 10) < 5
    assert "driver" in got
    panda.close()


BAD_RESULTS = [object(), "abc", 1.5, 2**80, [1], -2**40]


@pytest.mark.parametrize("value", BAD_RESULTS, ids=repr)
def test_a_return_value_c_cannot_take_stops_the_run(value):
    panda = bare()

    @pyp.callback("int(CPUState*, TranslationBlock*)")
    def bbe(cpu, tb):
        return value

    panda.register_callback(panda.callback.before_block_exec, bbe, "bbe")
    with pytest.raises(CallbackError, match=r"callback 'bbe' returned") as info:
        assert run_with_deadline(panda, 10) < 5
    assert repr(value)[:20] in str(info.value)
    panda.close()


@pytest.mark.parametrize("value", ["abc", 1.5, object()], ids=repr)
def test_a_bool_callback_returning_a_non_bool(value):
    panda = bare()

    @panda.cb_insn_translate
    def want(cpu, pc):
        return value

    with pytest.raises(CallbackError, match=r"insn_translate callback 'want' returned .*bool"):
        assert run_with_deadline(panda, 10) < 5
    panda.close()


def test_bad_return_value_from_a_monitor_callback_outside_run():
    panda = bare()

    @panda.cb_monitor
    def mon(m, cmd):
        return "abc"

    with pytest.raises(CallbackError, match="monitor callback 'mon' returned 'abc'"):
        panda.run_monitor_cmd("custom")
    panda.close()


# ---- 17: values C would truncate -------------------------------------------------------

def _nul_plugin(panda):
    return panda.load_python_plugin(pyp.callback("bool(void*)")(lambda h: True), "p\0q")


# label: (call(panda, cpu), a word the message must have)
TRUNCATIONS = {
    "physical read at 2**64": (lambda panda, cpu: panda.physical_memory_read(2**64, 4), "address"),
    "physical read at -1": (lambda panda, cpu: panda.physical_memory_read(-1, 4), "address"),
    "physical read of -1 bytes": (lambda panda, cpu: panda.physical_memory_read(0, -1), "length"),
    "physical read past 2**64": (lambda panda, cpu: panda.physical_memory_read(2**64 - 2, 4), "past the end"),
    "physical write at 2**64": (lambda panda, cpu: panda.physical_memory_write(2**64, b"x"), "address"),
    "virtual read at 2**63": (lambda panda, cpu: panda.virtual_memory_read(cpu, 2**63, 4), "32-bit"),
    "virtual read at 2**32": (lambda panda, cpu: panda.virtual_memory_read(cpu, 2**32, 4), "32-bit"),
    "virtual read past 2**32": (lambda panda, cpu: panda.virtual_memory_read(cpu, 2**32 - 2, 4), "past the end"),
    "virtual write at 2**32": (lambda panda, cpu: panda.virtual_memory_write(cpu, 2**32, b"x"), "32-bit"),
    "virt_to_phys(2**40)": (lambda panda, cpu: panda.virt_to_phys(cpu, 2**40), "virt_to_phys"),
    "virt_to_phys(-1)": (lambda panda, cpu: panda.virt_to_phys(cpu, -1), "virt_to_phys"),
    "read_str max -1": (lambda panda, cpu: panda.read_str(cpu, 0, -1), "max_length"),
    "map_memory name NUL": (lambda panda, cpu: panda.map_memory("r\0x", 0x1000, 0x20000), "name"),
    "map_memory size 2**64": (lambda panda, cpu: panda.map_memory("r", 2**64, 0x20000), "size"),
    "register name NUL": (lambda panda, cpu: panda.arch.get_reg(cpu, "eax\0"), "register name"),
    "register value 2**80": (lambda panda, cpu: panda.arch.set_reg(cpu, "EAX", 2**80), "value"),
    "snapshot name NUL": (lambda panda, cpu: panda.snap("a\0b"), "snapshot name"),
    "recording name NUL": (lambda panda, cpu: panda.record("a\0b"), "recording name"),
    "monitor command NUL": (lambda panda, cpu: panda.run_monitor_cmd("info registers\0junk"), "monitor command"),
    "save_snapshot path NUL": (lambda panda, cpu: panda.save_snapshot("/tmp/a\0b"), "path"),
    "load_snapshot path NUL": (lambda panda, cpu: panda.load_snapshot("/tmp/a\0b"), "path"),
    "run_replay NUL": (lambda panda, cpu: panda.run_replay("/tmp/a\0b"), "recording"),
    "recording_exists NUL": (lambda panda, cpu: panda.recording_exists("/tmp/a\0b"), "name"),
    "plugin name NUL": (lambda panda, cpu: _nul_plugin(panda), "plugin name"),
    "callback name NUL": (lambda panda, cpu: panda.register_callback(panda.callback.top_loop,
                                                                         lambda c: None, "a\0b"), "callback name"),
}


@pytest.mark.parametrize("label", list(TRUNCATIONS))
def test_values_c_would_truncate_are_refused(label):
    call, named = TRUNCATIONS[label]
    panda = bare()
    with pytest.raises((ArgumentError, OptionError, RegisterError)) as info:
        call(panda, panda.get_cpu())
    assert isinstance(info.value, ValueError) and isinstance(info.value, PandaError)
    assert named in str(info.value)
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 0
    panda.close()


@pytest.mark.parametrize("kwargs, named", [
    ({"mem": "1M\0junk"}, "mem"),
    ({"extra_args": ["-M", "configurable\0pc"]}, r"extra_args\[1\]"),
    ({"arch": "i386\0"}, "arch"),
    ({"libpanda_path": "/tmp/x\0y"}, "libpanda_path"),
])
def test_options_with_a_nul_are_refused(kwargs, named):
    args = {"arch": "i386", "mem": "1M", "extra_args": "-M configurable", **kwargs}
    with pytest.raises(OptionError if named != "libpanda_path" else ArgumentError, match=named):
        Panda(**args)


# ---- 3 and 8: a driver that acts at once ---------------------------------------------

def test_a_driver_ending_the_run_at_once_always_stops_it():
    panda = bare()
    for i in range(20):
        panda.queue_blocking(panda.end_analysis)
        took = run_with_deadline(panda, 10)
        assert took < 5, f"run {i} did not stop ({took:.1f} s)"
    panda.close()


def test_a_driver_raising_at_once_is_always_reraised():
    panda = bare()
    for i in range(20):
        @panda.queue_blocking
        def drive(i=i):
            raise Boom(f"run {i}")

        start = time.monotonic()
        with pytest.raises(Boom, match=f"run {i}$"):
            run_with_deadline(panda, 10)
        assert time.monotonic() - start < 5, f"run {i} did not stop"
    panda.close()


def test_a_driver_reverting_at_once_reverts(pc_machine):
    panda = pc_machine(COUNT_FOREVER)
    panda.snap("start")
    for i in range(5):
        run_with_deadline(panda, 0.2)             # far from the snapshot
        far = panda.instr_count()

        @panda.queue_blocking
        def drive():
            panda.revert_sync("start")
            panda.end_analysis()

        run_with_deadline(panda, 10)
        assert panda.instr_count() < far // 10, f"run {i}: no revert"


# ---- 19: a replay an exception ended is over ----------------------------------------------

@pytest.fixture(scope="module")
def short_recording(tmp_path_factory):
    guest_info()
    name = str(tmp_path_factory.mktemp("rr") / "echo")
    panda = Panda(generic="i386", verbose=False)

    @panda.queue_blocking
    def drive():
        panda.record_cmd("echo hello", recording_name=name)
        panda.run_monitor_cmd("q")

    panda.run()
    panda.close()
    return name


@pytest.mark.slow
def test_a_replay_ended_by_a_callback_exception_is_over(short_recording):
    panda = Panda(generic="i386", verbose=False)
    blocks = [0]

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        blocks[0] += 1
        if blocks[0] == 1000:
            raise Boom("in the replay")

    with pytest.raises(Boom):
        panda.run_replay(short_recording)
    panda.delete_callbacks()
    panda.run_replay(short_recording)       # not "already replaying"
    assert panda.replay_finished


@pytest.mark.slow
@pytest.mark.parametrize("which", ["before_loadvm", "after_loadvm"])
def test_loadvm_callback_raising_in_run_replay(short_recording, which):
    panda = Panda(generic="i386", verbose=False)
    loadvm_raiser(panda, which)
    with pytest.raises(Boom, match=which):
        panda.run_replay(short_recording)
    panda.delete_callbacks()
    panda.run_replay(short_recording)
    assert panda.replay_finished


@pytest.mark.parametrize("call", ["save_snapshot", "load_snapshot"])
def test_snapshot_files_on_the_bare_machine_are_refused(call, tmp_path):
    # libpanda aborted the process saving a bare machine (double free)
    run_script(f"""
        import sys
        from pypanda import Panda, UnsupportedError
        p = Panda(arch="i386", mem="1M", extra_args="-M configurable")
        p.map_memory("ram", 0x10000, 0)
        try:
            p.{call}(sys.argv[1])
        except UnsupportedError as exc:
            assert "pc machine" in str(exc), exc
            print("refused")
        """, str(tmp_path / "bare.snap"))
