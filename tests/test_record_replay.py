"""Record and replay on the reference guest, snapshots, and bad recordings."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pypanda import (Panda, RecordingError, ReplayDivergedError, SnapshotError)
from test_boot import guest_info

pytestmark = pytest.mark.slow

COMMANDS = ["echo $((6*7)); cat /proc/uptime", "ls /; uname -r"]


def block_hasher(panda, enabled=True):
    """A before_block_exec callback hashing the addresses of the blocks run
    while recording or replaying."""
    state = {"hash": hashlib.sha256(), "blocks": 0}

    @panda.cb_before_block_exec(name="hash_blocks", enabled=enabled)
    def bbe(cpu, tb):
        if panda._lib.panda_rr_mode(panda._handle):
            state["hash"].update(struct.pack("<Q", tb.contents.pc))
            state["blocks"] += 1

    return state


def serial_receiver(panda):
    got = bytearray()

    @panda.cb_replay_serial_receive(name="rx")
    def rx(cpu, fifo, value):
        got.append(value)

    return got


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    guest_info()
    d = tmp_path_factory.mktemp("rr")
    name = str(d / "two_commands")
    panda = Panda(generic="i386", verbose=False)
    blocks = block_hasher(panda, enabled=False)      # not during the boot: too slow
    rec = {}

    @panda.queue_blocking
    def drive():
        panda.run_serial_cmd("true")                  # at the prompt
        panda.enable_callback("hash_blocks")          # from this thread: the guest pauses
        panda.record(name)
        rec["outputs"] = [panda.run_serial_cmd(c) for c in COMMANDS]
        panda.end_record()
        # let the console settle, then note what it printed so far
        last = -1
        while last != panda._lib.panda_serial_output_total(panda._handle):
            last = panda._lib.panda_serial_output_total(panda._handle)
            time.sleep(0.3)
        rec["log"] = bytes(panda.serial_console.log)
        panda.type_serial_cmd("poweroff -f\n")

    panda.run()
    header = Path(name + "-rr-nondet.log").read_bytes()[:64]
    rec["end_icount"] = struct.unpack_from("<Q", header, 48)[0]
    rec["hash"] = blocks["hash"].hexdigest()
    rec["blocks"] = blocks["blocks"]
    rec["typed"] = b"".join(c.encode() + b"\n" for c in COMMANDS)
    panda.close()
    return name, rec


def replay_once(panda, name):
    blocks = block_hasher(panda)
    rx = serial_receiver(panda)
    start = len(panda.serial_console.log)
    panda.run_replay(name)
    result = (panda.instr_count(), blocks["hash"].hexdigest(), blocks["blocks"],
              bytes(panda.serial_console.log[start:]), bytes(rx))
    panda.delete_callbacks()
    return result


def test_replay_matches_the_recording(recording):
    name, rec = recording
    assert rec["outputs"][0].startswith("42\n")
    panda = Panda(generic="i386", verbose=False)
    icount, block_hash, blocks, output, received = replay_once(panda, name)
    assert panda.replay_finished
    assert icount == rec["end_icount"]
    assert blocks == rec["blocks"] > 10_000
    assert block_hash == rec["hash"]
    assert len(output) > 100 and rec["log"].endswith(output)
    assert b"42" in output
    assert received == rec["typed"]   # replay_serial_receive saw exactly what was typed


def test_three_replays_in_one_process_are_identical(recording):
    name, rec = recording
    panda = Panda(generic="i386", verbose=False)
    runs = [replay_once(panda, name) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][0] == rec["end_icount"]


def test_replay_callbacks_for_reads_and_writes(recording):
    name, rec = recording
    panda = Panda(generic="i386", verbose=False)
    seen = {"read": bytearray(), "write": bytearray(), "send": bytearray(), "loadvm": 0}

    @panda.cb_replay_serial_read
    def rd(cpu, fifo, port, value):
        assert (fifo, port) == (0x3F8, 0x3F8)
        seen["read"].append(value)

    @panda.cb_replay_serial_write
    def wr(cpu, fifo, port, value):
        assert port == 0x3F8
        seen["write"].append(value)

    @panda.cb_replay_serial_send
    def snd(cpu, fifo, value):
        seen["send"].append(value)

    @panda.cb_after_loadvm
    def loaded(cpu):
        seen["loadvm"] += 1

    start = len(panda.serial_console.log)
    panda.run_replay(name)
    output = bytes(panda.serial_console.log[start:])
    assert bytes(seen["read"]) == rec["typed"]     # the guest read what was typed
    assert bytes(seen["write"]) == bytes(seen["send"]) == output
    assert seen["loadvm"] == 1


def test_end_replay_stops_early(recording):
    name, rec = recording
    panda = Panda(generic="i386", verbose=False)
    stop_at = [None]

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        if stop_at[0] is None and panda.instr_count() > (rec["end_icount"] - 1_000_000):
            stop_at[0] = panda.instr_count()
            panda.end_replay()

    panda.run_replay(name)
    assert not panda.replay_finished
    assert panda.instr_count() < rec["end_icount"]
    assert panda._lib.panda_rr_mode(panda._handle) == 0


def _tamper(name: str, dest: Path, edit) -> str:
    out = str(dest / "tampered")
    shutil.copy(name + "-rr-snp", out + "-rr-snp")
    data = bytearray(Path(name + "-rr-nondet.log").read_bytes())
    edit(data)
    Path(out + "-rr-nondet.log").write_bytes(bytes(data))
    return out


LOG_HEADER = 96    # rr_log.h


def reseal(data: bytearray) -> None:
    """Recompute a log's end digest after an edit: a well-formed log whose
    events no longer match the guest (as from another build)."""
    inner = hashlib.sha256(bytes(data[LOG_HEADER:len(data) - 32])).digest()
    data[len(data) - 32:] = hashlib.sha256(bytes(data[:LOG_HEADER]) + inner).digest()


def test_altered_event_count_is_reported_as_divergence(recording, tmp_path):
    name, rec = recording
    first_event_icount = struct.unpack_from("<Q", Path(name + "-rr-nondet.log").read_bytes(), LOG_HEADER + 8)[0]
    altered = first_event_icount + 12345

    def edit(data):
        struct.pack_into("<Q", data, LOG_HEADER + 8, altered)
        reseal(data)

    bad = _tamper(name, tmp_path, edit)
    panda = Panda(generic="i386", verbose=False)
    with pytest.raises(ReplayDivergedError, match=f"diverged at instruction count {altered}"):
        panda.run_replay(bad)
    # the machine can replay the good recording afterwards
    panda.run_replay(name)
    assert panda.replay_finished


@pytest.mark.parametrize("damage,message", [
    (lambda d: d.__delitem__(slice(len(d) - 20, None)), "truncated"),
    (lambda d: struct.pack_into("<I", d, 16, 99), "log format 99"),
    (lambda d: d.__setitem__(slice(24, 40), b"aarch64".ljust(16, b"\0")), "recording of an aarch64 guest"),
    (lambda d: struct.pack_into("<I", d, 20, 0), "incomplete"),
    (lambda d: d.__setitem__(slice(0, 4), b"JUNK"), "not a pypanda recording"),
])
def test_bad_logs_are_refused(recording, tmp_path, damage, message):
    name, _ = recording
    bad = _tamper(name, tmp_path, damage)
    panda = Panda(generic="i386", verbose=False)
    with pytest.raises(RecordingError, match=message):
        panda.run_replay(bad)


def test_missing_recording(tmp_path):
    guest_info()
    panda = Panda(generic="i386", verbose=False)
    with pytest.raises(RecordingError, match="no recording named"):
        panda.run_replay(str(tmp_path / "nothing"))


def test_corrupt_snapshot_is_refused(recording, tmp_path):
    name, _ = recording
    out = str(tmp_path / "snapbad")
    shutil.copy(name + "-rr-nondet.log", out + "-rr-nondet.log")
    data = bytearray(Path(name + "-rr-snp").read_bytes())
    data[1000] ^= 0xFF
    Path(out + "-rr-snp").write_bytes(bytes(data))
    panda = Panda(generic="i386", verbose=False)
    # the log names its snapshot by SHA-256
    with pytest.raises(RecordingError, match="not the snapshot this recording started from"):
        panda.run_replay(out)
    # and the snapshot itself fails its own digest
    with pytest.raises(SnapshotError, match="SHA-256"):
        panda.load_snapshot(out + "-rr-snp")


def test_a_log_edited_anywhere_is_refused(recording, tmp_path):
    # one byte changed in an event's payload: without the digest the guest
    # would replay "echo dmne" for "echo done"
    name, _ = recording
    data = bytearray(Path(name + "-rr-nondet.log").read_bytes())
    first_payload = LOG_HEADER + 32
    bad = _tamper(name, tmp_path, lambda d: d.__setitem__(first_payload, d[first_payload] ^ 0x01))
    panda = Panda(generic="i386", verbose=False)
    with pytest.raises(RecordingError, match="SHA-256"):
        panda.run_replay(bad)
    assert len(data) > first_payload


KILLED_RECORDER = """
import os, signal, sys
from pypanda import Panda
panda = Panda(generic="i386", verbose=False)
@panda.queue_blocking
def drive():
    panda.run_serial_cmd("true")
    panda.record(sys.argv[1])
    panda.run_serial_cmd("echo recording")
    os.kill(os.getpid(), signal.SIGKILL)
panda.run()
"""


def test_a_killed_recorder_leaves_an_incomplete_recording(tmp_path):
    guest_info()
    name = str(tmp_path / "killed")
    proc = subprocess.run([sys.executable, "-c", KILLED_RECORDER, name], timeout=300)
    assert proc.returncode == -signal.SIGKILL
    assert os.path.exists(name + "-rr-snp") and os.path.exists(name + "-rr-nondet.log")
    panda = Panda(generic="i386", verbose=False)
    with pytest.raises(RecordingError, match="incomplete"):
        panda.run_replay(name)


def test_snap_revert_gives_the_same_output_and_instruction_delta():
    guest_info()
    panda = Panda(generic="i386", verbose=False)
    cmd = "echo $((6*7)); cat /proc/uptime; ls /bin | wc -l"
    runs = []

    def run_from_snapshot(revert: bool):
        panda.run_monitor_cmd("stop")          # input typed now enters right at the snapshot
        if revert:
            panda.revert_sync("s")
        else:
            panda.snap("s")
        start = panda.instr_count()
        panda.type_serial_cmd(cmd + "\n")
        panda.run_monitor_cmd("cont")
        out, _ = panda.serial_console.read_until(panda._prompt_regex(), 60)
        time.sleep(0.3)
        runs.append((out, panda._lib.panda_serial_output_icount(panda._handle) - start))

    @panda.queue_blocking
    def drive():
        panda.run_serial_cmd("true")
        run_from_snapshot(False)
        run_from_snapshot(True)
        run_from_snapshot(True)
        panda.delvm("s")
        panda.type_serial_cmd("poweroff -f\n")

    panda.run()
    assert runs[0] == runs[1] == runs[2]
    assert b"42" in runs[0][0] and runs[0][1] > 0
    with pytest.raises(SnapshotError, match="no snapshot named 's'"):
        panda.revert_sync("s")


def test_record_cmd_then_replay(tmp_path):
    guest_info()
    name = str(tmp_path / "ls")
    panda = Panda(generic="i386", verbose=False)
    out = {}

    @panda.queue_blocking
    def drive():
        out["ls"] = panda.record_cmd("ls /", recording_name=name)
        panda.run_monitor_cmd("q")          # the monitor's quit ends run()

    panda.run()
    assert "linuxrc" in out["ls"]
    assert panda.recording_exists(name)
    loads = []

    @panda.cb_before_loadvm
    def before():
        loads.append("before")
        return 0

    @panda.cb_after_loadvm
    def after(cpu):
        loads.append("after")

    start = len(panda.serial_console.log)
    panda.run_replay(name)
    assert panda.replay_finished
    assert loads == ["before", "after"]
    assert b"linuxrc" in bytes(panda.serial_console.log[start:])


def test_snapshot_files(tmp_path):
    guest_info()
    panda = Panda(generic="i386", verbose=False)
    path = str(tmp_path / "start.snap")
    panda.save_snapshot(path)               # before the first instruction
    panda.load_snapshot(path)
    assert panda.instr_count() == 0
    other = Panda(generic="i386", mem="256M", verbose=False)
    with pytest.raises(SnapshotError, match="use the same mem="):
        other.load_snapshot(path)
    with pytest.raises(OSError, match="cannot open"):
        other.load_snapshot(str(tmp_path / "missing.snap"))
