#!/usr/bin/env python3
"""Record a boot, then replay it: live time, replay time, log size.

The workload is the reference guest booting with `autorun=1` (its init runs
`uname -a` and powers off with no input), recorded from the first
instruction: about 2.7e9 guest instructions.  Then one replay with no
callbacks.  Prints live and replay wall times, their ratio (target: replay
at >= 0.9x live speed) and the log's size in bytes per million
instructions (target: <= 64 for a boot without typing).

Usage: python bench/replay.py [DIR]   (recordings go to DIR, default a temp dir)
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import time

from pypanda import Panda
from pypanda.panda import guest_dir


def main() -> None:
    d = guest_dir("i386")
    if not (d / "guest.json").exists():
        sys.exit("build the reference guest first: python -m pypanda.guest")
    cmdline = json.loads((d / "guest.json").read_text())["cmdline"] + " autorun=1"
    out_dir = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="pypanda-rr-")
    name = os.path.join(out_dir, "boot")

    live = Panda(generic="i386", verbose=False, extra_args=["-append", cmdline])
    live.record(name)                   # from the first instruction
    t0 = time.monotonic()
    live.run()                          # boots, runs uname, powers off
    live_s = time.monotonic() - t0
    live.end_record()
    icount = live.instr_count()
    assert "GUEST-DONE" in live.serial_log, live.serial_log[-500:]
    live.close()

    replay = Panda(generic="i386", verbose=False, extra_args=["-append", cmdline])
    t0 = time.monotonic()
    replay.run_replay(name)
    replay_s = time.monotonic() - t0
    assert replay.replay_finished and replay.instr_count() == icount
    assert "GUEST-DONE" in replay.serial_log

    log_bytes = os.path.getsize(name + "-rr-nondet.log")
    snp_bytes = os.path.getsize(name + "-rr-snp")
    print(f"workload: {icount:,} guest instructions (boot, uname -a, poweroff)")
    print(f"live (recording): {live_s:.2f} s   replay: {replay_s:.2f} s   "
          f"replay speed = {live_s / replay_s:.2f}x live (target >= 0.9)")
    print(f"log: {log_bytes} bytes = {log_bytes / (icount / 1e6):.3f} bytes per million instructions "
          f"(target <= 64); snapshot: {snp_bytes / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
