#!/usr/bin/env python3
"""Boot to the shell, run `uname -a`, power off: pypanda against Debian's QEMU.

Same kernel, initrd and command line (the reference guest built by
`python -m pypanda.guest`), three runs each in one invocation, alternating
pypanda and QEMU so that drift on a shared machine hits both alike; medians
and the ratio pypanda / QEMU (target now: <= 1.5; goal: <= 1.0).  The
wall time of a run is from starting the machine to the guest halting.  QEMU is
qemu-system-i386 from Debian's qemu-system-x86 (`-M pc -cpu qemu32`, TCG),
driven over a pipe; it counts SeaBIOS and its option ROMs too, which
pypanda's direct boot does not have.  With acpi=off, `poweroff -f` only
halts, so QEMU is ended once "System halted" appears.

Usage: python bench/boot.py [RUNS]
"""
from __future__ import annotations

import json
import shutil
import statistics
import sys
import time

from pypanda import Panda
from qemu_console import QemuConsole
from pypanda.panda import guest_dir

PROMPT = b"guest# "


def pypanda_once() -> tuple:
    panda = Panda(generic="i386", verbose=False)
    out = {}

    @panda.queue_blocking
    def drive():
        panda.serial_read_until(PROMPT)
        # the guest runs on while the driver wakes: this is where it was
        # when the driver saw the prompt, a little past the prompt itself
        out["prompt_icount"] = panda.instr_count()
        panda.type_serial_cmd("uname -a\n")
        out["uname"] = panda.serial_read_until(PROMPT).decode(errors="replace")
        panda.type_serial_cmd("poweroff -f\n")

    t0 = time.monotonic()
    panda.run()
    wall = time.monotonic() - t0
    assert "i686" in out["uname"], out
    icount = panda.instr_count()
    panda.close()
    return wall, out["prompt_icount"], icount


def qemu_once(qemu: str, d, cmdline: str) -> float:
    cmd = [qemu, "-M", "pc", "-cpu", "qemu32", "-m", "128M", "-accel", "tcg",
           "-kernel", str(d / "vmlinuz"), "-initrd", str(d / "initrd.gz"), "-append", cmdline,
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot"]
    t0 = time.monotonic()
    q = QemuConsole(cmd)
    try:
        q.until(PROMPT, 120)
        q.type(b"uname -a\n")
        q.until(b"i686", 120)
        q.clear()
        q.until(PROMPT, 120)
        q.type(b"poweroff -f\n")
        q.until(b"System halted", 120)
        wall = time.monotonic() - t0
    finally:
        q.close()
    return wall


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    d = guest_dir("i386")
    if not (d / "guest.json").exists():
        sys.exit("build the reference guest first: python -m pypanda.guest")
    cmdline = json.loads((d / "guest.json").read_text())["cmdline"]
    qemu = shutil.which("qemu-system-i386")
    if not qemu:
        sys.exit("the reference needs Debian's QEMU: apt-get install qemu-system-x86")
    ours, theirs = [], []
    for i in range(runs):
        wall, prompt_icount, icount = pypanda_once()
        ours.append(wall)
        print(f"pypanda run {i + 1}: {wall:6.2f} s  (guest instructions: {prompt_icount:,} when the "
              f"driver saw the first prompt, {icount:,} through uname and poweroff)", flush=True)
        wall = qemu_once(qemu, d, cmdline)
        theirs.append(wall)
        print(f"QEMU    run {i + 1}: {wall:6.2f} s  (SeaBIOS, the same kernel, uname, poweroff)",
              flush=True)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"median: pypanda {a:.2f} s, QEMU {b:.2f} s; ratio pypanda/QEMU = {a / b:.2f} "
          f"(target <= 1.5, goal <= 1.0)")


if __name__ == "__main__":
    main()
