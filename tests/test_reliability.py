"""Reliability: hostile files, runs that must stop, and lifecycles that
must not leak.  Whatever could take the process down runs in a subprocess."""
from __future__ import annotations

import hashlib
import os
import struct
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from pypanda import Panda, RecordingError

from conftest import CODE_ADDR, fake_bzimage

SNAP_HEADER = 72   # snapshot_format.h
LOG_HEADER = 96    # rr_log.h


# ---- snapshots as bytes -----------------------------------------------------

def snapshot_sections(data: bytes) -> List[Tuple[int, int, int, str]]:
    """(tag, offset of the payload, length, device name) per section."""
    out, off = [], SNAP_HEADER
    while off < len(data) - 48:
        tag, _, n = struct.unpack_from("<IIQ", data, off)
        name = data[off + 16:off + 48].split(b"\0")[0].decode() if tag == 3 else ""
        out.append((tag, off + 16, n, name))
        off += 16 + n
    return out


def reseal_snapshot(data: bytearray) -> None:
    data[len(data) - 32:] = hashlib.sha256(bytes(data[:len(data) - 48])).digest()


def device_state(data: bytes, name: str) -> int:
    """Offset of a device's own state bytes in a snapshot."""
    for tag, off, _, dev in snapshot_sections(data):
        if tag == 3 and dev == name:
            return off + 40
    raise KeyError(name)


@pytest.fixture
def pc_snapshot(tmp_path) -> Tuple[Path, Path]:
    """A pc machine on a tiny kernel, and a snapshot file of it."""
    kernel = tmp_path / "loop.bzImage"
    kernel.write_bytes(fake_bzimage(bytes.fromhex("ebfe")))    # jmp .
    panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(kernel)])
    snap = tmp_path / "machine.snp"
    panda.save_snapshot(str(snap))
    panda.close()
    return kernel, snap


LOAD = textwrap.dedent('''
    import sys
    from pypanda import Panda, PandaError
    panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", sys.argv[1]])
    for path in sys.argv[2:]:
        try:
            panda.load_snapshot(path)
            print("LOADED", path)
        except PandaError as exc:
            print("REFUSED", type(exc).__name__, exc)
    print("DONE")
''')


def _load_all(kernel: Path, paths: List[Path], tmp_path: Path) -> List[str]:
    script = tmp_path / "load.py"
    script.write_text(LOAD)
    proc = subprocess.run([sys.executable, str(script), str(kernel), *map(str, paths)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "DONE"
    return lines[:-1]


@pytest.mark.parametrize("device, field, value, message", [
    ("rtc", 128, 0x80, "mc146818 index"),            # CMOS index past the array
    ("rtc", 128, 0xff, "mc146818 index"),
    ("pit", 3, 0, "pit8254 channel 0 count"),         # count 0: a division by zero
])
def test_a_crafted_snapshot_is_refused_field_by_field(pc_snapshot, tmp_path, device, field, value,
                                                      message):
    # the digest recomputed, as an attacker would: the device's own checks refuse it
    kernel, snap = pc_snapshot
    data = bytearray(snap.read_bytes())
    at = device_state(data, device) + field
    if device == "pit":
        struct.pack_into("<I", data, at, value)
    else:
        data[at] = value
    reseal_snapshot(data)
    bad = tmp_path / "crafted.snp"
    bad.write_bytes(bytes(data))
    out = _load_all(kernel, [bad, snap], tmp_path)
    assert out[0].startswith("REFUSED SnapshotError"), out
    assert f"device '{device}'" in out[0] and message in out[0], out
    assert out[1].startswith("LOADED"), out      # nothing half-loaded: the good one still loads


def test_damaged_snapshots_are_refused(pc_snapshot, tmp_path):
    # truncations and single-byte flips, a few hundred each: every one is
    # refused with a clear exception, none crashes the process
    kernel, snap = pc_snapshot
    data = snap.read_bytes()
    paths = []
    cuts = sorted({int(len(data) * k / 150) for k in range(150)} | {len(data) - 1, len(data) - 33})
    for i, cut in enumerate(cuts):
        p = tmp_path / f"cut{i}.snp"
        p.write_bytes(data[:cut])
        paths.append(p)
    step = max(1, len(data) // 300)
    for i, at in enumerate(range(0, len(data), step)):
        flipped = bytearray(data)
        flipped[at] ^= 1 << (i % 8)
        p = tmp_path / f"flip{i}.snp"
        p.write_bytes(bytes(flipped))
        paths.append(p)
    assert len(paths) > 400
    out = _load_all(kernel, paths, tmp_path)
    assert len(out) == len(paths)
    refused = [line for line in out if line.startswith("REFUSED SnapshotError")]
    assert refused == out, [line for line in out if line not in refused][:5]


def test_special_files_are_refused_at_once(pc_snapshot, tmp_path):
    kernel, _ = pc_snapshot
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = _load_all(kernel, [fifo, Path("/dev/zero"), tmp_path], tmp_path)   # would block, never end
    assert all(line.startswith("REFUSED") and "not a regular file" in line for line in out), out


# ---- recordings as bytes ------------------------------------------------------

def reseal_log(data: bytearray) -> None:
    inner = hashlib.sha256(bytes(data[LOG_HEADER:len(data) - 32])).digest()
    data[len(data) - 32:] = hashlib.sha256(bytes(data[:LOG_HEADER]) + inner).digest()


@pytest.fixture(scope="module")
def small_recording(tmp_path_factory) -> Tuple[str, Dict[str, object]]:
    """A recording of a command on the reference guest, and what it printed."""
    d = tmp_path_factory.mktemp("rec")
    name = str(d / "echo")
    panda = Panda(generic="i386", verbose=False)
    out: Dict[str, object] = {}

    @panda.queue_blocking
    def drive():
        out["output"] = panda.record_cmd("echo done", recording_name=name)
        panda.end_analysis()

    panda.run()
    panda.close()
    return name, out


REPLAY = textwrap.dedent('''
    import sys
    from pypanda import Panda, PandaError
    panda = Panda(generic="i386", verbose=False)
    for name in sys.argv[1:]:
        try:
            panda.run_replay(name)
            print("REPLAYED", name, panda.instr_count())
        except PandaError as exc:
            print("REFUSED", type(exc).__name__, exc)
    print("DONE")
''')


def _replay_all(names: List[str], tmp_path: Path) -> List[str]:
    script = tmp_path / "replay.py"
    script.write_text(REPLAY)
    proc = subprocess.run([sys.executable, str(script), *names], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[-1] == "DONE"
    return lines[:-1]


def _variant(name: str, tmp_path: Path, tag: str, log: bytes) -> str:
    out = str(tmp_path / tag)
    Path(out + "-rr-snp").write_bytes(Path(name + "-rr-snp").read_bytes())
    Path(out + "-rr-nondet.log").write_bytes(log)
    return out


def test_damaged_recordings_are_refused(small_recording, tmp_path):
    name, _ = small_recording
    log = Path(name + "-rr-nondet.log").read_bytes()
    variants = []
    for i, cut in enumerate(sorted({int(len(log) * k / 100) for k in range(100)} | {len(log) - 1})):
        variants.append(_variant(name, tmp_path, f"cut{i}", log[:cut]))
    for at in range(len(log)):           # every byte of the log, one bit each
        flipped = bytearray(log)
        flipped[at] ^= 1 << (at % 8)
        variants.append(_variant(name, tmp_path, f"flip{at}", bytes(flipped)))
    variants.append(name)                # and the good one still replays after them all
    assert len(variants) > 200
    out = _replay_all(variants, tmp_path)
    assert len(out) == len(variants)
    assert all(line.startswith("REFUSED RecordingError") for line in out[:-1]), \
        [line for line in out[:-1] if not line.startswith("REFUSED RecordingError")][:5]
    assert out[-1].startswith("REPLAYED")


def test_an_event_count_that_wraps_is_refused(small_recording, tmp_path):
    # header event count 2**64-1: events + 1 wraps to 0 (a heap overflow before)
    name, _ = small_recording
    log = bytearray(Path(name + "-rr-nondet.log").read_bytes())
    struct.pack_into("<Q", log, 56, 0xFFFFFFFFFFFFFFFF)
    reseal_log(log)
    out = _replay_all([_variant(name, tmp_path, "wrap", bytes(log))], tmp_path)
    assert out[0].startswith("REFUSED RecordingError") and "more events than the file holds" in out[0], out


def test_a_recording_with_another_snapshot_is_refused(small_recording, tmp_path):
    name, _ = small_recording
    other = str(tmp_path / "other")
    snap = bytearray(Path(name + "-rr-snp").read_bytes())
    snap[SNAP_HEADER + 100] ^= 1
    reseal_snapshot(snap)              # a valid snapshot, but not this recording's
    Path(other + "-rr-snp").write_bytes(bytes(snap))
    Path(other + "-rr-nondet.log").write_bytes(Path(name + "-rr-nondet.log").read_bytes())
    panda = Panda(generic="i386", verbose=False)
    with pytest.raises(RecordingError, match="not the snapshot this recording started from"):
        panda.run_replay(other)
    panda.close()


# ---- stopping -------------------------------------------------------------------

def test_end_analysis_before_the_run_starts_is_kept():
    # a timer thread's end_analysis at run start was lost 169 of 200 times
    code = bytes.fromhex("ebfe")       # jmp . : only a stop ends this run
    for i in range(200):
        panda = Panda(arch="i386", mem="1M", extra_args="-M configurable")
        panda.map_memory("ram", 0x10000, 0)
        panda.physical_memory_write(CODE_ADDR, code)
        panda.arch.set_pc(panda.get_cpu(), CODE_ADDR)
        t = threading.Timer(0, panda.end_analysis)
        t.start()
        if i % 2:
            t.join()                  # half of them strictly before run()
        panda.run()
        t.join()
        panda.close()


def test_end_analysis_stops_at_the_end_of_the_block(asm):
    # documented: the block that asked runs to its end (a jump ends it), so
    # a snapshot "at" the hypercall holds the state after that block
    code, labels = asm("""
        cpuid
        mov $1, %ebx
        movl $0x10, 0x2000
        incl 0x2000
        jmp next
    next:
        mov $2, %ecx
        hlt
    """)
    panda = Panda(arch="i386", mem="1M", extra_args="-M configurable")
    panda.map_memory("ram", 0x10000, 0)
    panda.physical_memory_write(CODE_ADDR, code)
    panda.arch.set_pc(panda.get_cpu(), CODE_ADDR)

    @panda.cb_guest_hypercall
    def stop(cpu):
        panda.end_analysis()
        return True

    panda.run()
    cpu = panda.get_cpu()
    assert panda.physical_memory_read(0x2000, 1)[0] == 0x11
    assert panda.arch.get_reg(cpu, "EBX") == 1
    assert panda.physical_memory_read(0x2000, 1)[0] == 0x11
    assert panda.arch.get_pc(cpu) == labels["next"]     # not in the middle of the block
    assert panda.arch.get_reg(cpu, "ECX") != 2
    panda.run()                                          # and nothing runs twice
    assert panda.arch.get_reg(cpu, "ECX") == 2
    panda.close()


def test_a_command_line_too_long_for_the_loader_is_refused(tmp_path):
    # the header allows 2**31 bytes, the loader keeps 64 KiB below the kernel
    image = bytearray(fake_bzimage(bytes.fromhex("ebfe")))
    struct.pack_into("<I", image, 0x238, 0x7FFFFFFF)
    kernel = tmp_path / "big-cmdline.bzImage"
    kernel.write_bytes(bytes(image))
    with pytest.raises(ValueError, match="at most 65535 fit here"):
        Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(kernel),
                                                  "-append", "x" * (2 << 20)])
    Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(kernel),
                                              "-append", "x" * 65535]).close()


# ---- lifecycles ----------------------------------------------------------------------

LIFECYCLE = textwrap.dedent('''
    import os, resource, sys, threading, time
    from pypanda import Panda
    code = bytes.fromhex("b8050000004875fd" "f4")   # mov $5,%eax; dec %eax; jnz; hlt

    def rss_kb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

    def fds():
        return len(os.listdir("/proc/self/fd"))

    def bare():
        p = Panda(arch="i386", mem="1M", extra_args="-M configurable")
        p.map_memory("ram", 0x10000, 0)
        p.physical_memory_write(0x1000, code)
        p.arch.set_pc(p.get_cpu(), 0x1000)

        @p.cb_before_block_exec
        def bbe(cpu, tb):
            pass

        p.run()
        assert p.arch.get_reg(p.get_cpu(), "EAX") == 0
        p.close()

    def pc():
        p = Panda(generic="i386", verbose=False)
        t = threading.Timer(0.05, p.end_analysis)
        t.start()
        p.run()
        t.join()
        assert p.instr_count() > 0
        p.close()

    for _ in range(100):
        bare()
    base = (rss_kb(), threading.active_count(), fds())
    for _ in range(900):
        bare()
    after_bare = (rss_kb(), threading.active_count(), fds())
    for _ in range(5):
        pc()
    base_pc = (rss_kb(), threading.active_count(), fds())
    for _ in range(15):
        pc()
    after_pc = (rss_kb(), threading.active_count(), fds())
    print(base, after_bare, base_pc, after_pc)
    assert after_bare[0] - base[0] < 8 * 1024, (base, after_bare)
    assert after_bare[1:] == base[1:], (base, after_bare)
    assert after_pc[0] - base_pc[0] < 16 * 1024, (base_pc, after_pc)
    assert after_pc[1:] == base_pc[1:], (base_pc, after_pc)
    print("FLAT")
''')


@pytest.mark.slow
def test_lifecycles_do_not_leak(tmp_path):
    # 1,000 bare-machine create/run/close cycles and 20 pc machines (each
    # booting the reference kernel for a moment) in one process: RSS,
    # threads and file descriptors stay flat
    script = tmp_path / "lifecycle.py"
    script.write_text(LIFECYCLE)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and "FLAT" in proc.stdout, proc.stdout + proc.stderr[-3000:]
