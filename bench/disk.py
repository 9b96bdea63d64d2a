#!/usr/bin/env python3
"""The disk guest: pypanda against Debian's QEMU, alternating runs.

The same qcow2 (`python -m pypanda.guest debian-i386`) booted two ways:
direct (the same kernel, initrd and command line given to both) and
through the firmware (from the reset vector: SeaBIOS, GRUB from the MBR,
the kernel and initrd GRUB loads from the disk; the same Debian SeaBIOS
1.16.2 on both).  Writes go to a throw-away overlay on both (`-snapshot`
on QEMU, always so on pypanda), QEMU as `qemu-system-i386 -M pc -cpu
qemu32,-apic -nodefaults -m 128` (TCG).  Measured:

- time from starting the machine to the shell's prompt (and a `true` typed
  at it), for each way of booting;
- sequential read in the guest, `dd if=/dev/sda of=/dev/null bs=1M
  count=64 iflag=direct`, in MiB per wall-clock second from typing it to
  the next prompt (dd's own figure is in guest time: on pypanda's virtual
  clock a DMA transfer takes no time, so it is printed but not compared);
- on pypanda, the recording of that dd: log bytes per MiB the guest read.

Usage: python bench/disk.py [RUNS]
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from pypanda import Panda
from qemu_console import QemuConsole
from pypanda.panda import guest_dir

DD = "dd if=/dev/sda of=/dev/null bs=1M count=64 iflag=direct"
PROMPT = b"debian# "


def rate(text: str) -> float:
    m = re.search(r"([\d.,]+) ([kMG]?B)/s", text)
    if not m:
        raise RuntimeError(f"no rate in dd's output: {text!r}")
    value = float(m.group(1).replace(",", "."))
    return value * {"kB": 1e-3, "MB": 1.0, "GB": 1e3, "B": 1e-6}[m.group(2)]


def boot_args(d: Path, info: dict, firmware: bool) -> list:
    """The direct boot's kernel options, or none (the BIOS boots the disk)."""
    if firmware:
        return []
    return ["-kernel", str(d / info["kernel"]), "-initrd", str(d / info["initrd"]), "-append", info["cmdline"]]


def pypanda_once(d: Path, info: dict, firmware: bool, record: str = "") -> tuple:
    panda = Panda(arch="i386", mem="128M", verbose=False, expect_prompt=re.escape(PROMPT.decode()),
                  extra_args=["-M", "pc", "-cpu", "qemu32", "-hda", str(d / info["image"]["file"])]
                  + boot_args(d, info, firmware))
    out = {}

    @panda.queue_blocking
    def drive():
        # the first prompt and one `true` after it (QEMU gets the same)
        panda.run_serial_cmd("true", timeout=300)
        out["prompt"] = time.monotonic() - t0
        t = time.monotonic()
        if record:
            out["dd"] = panda.record_cmd(DD, recording_name=record)
        else:
            out["dd"] = panda.run_serial_cmd(DD, timeout=300)
        out["wall"] = time.monotonic() - t
        panda.end_analysis()

    t0 = time.monotonic()
    panda.run()
    panda.close()
    return out["prompt"], 64 / out["wall"], rate(out["dd"])


def qemu_once(qemu: str, d: Path, info: dict, firmware: bool) -> tuple:
    cmd = [qemu, "-M", "pc", "-cpu", "qemu32,-apic", "-nodefaults", "-m", "128", "-accel", "tcg"] + \
          boot_args(d, info, firmware) + [
           "-hda", str(d / info["image"]["file"]), "-snapshot",
           "-display", "none", "-serial", "stdio", "-monitor", "none"]
    t0 = time.monotonic()
    q = QemuConsole(cmd)
    try:
        q.until(PROMPT)
        q.clear()
        q.type(b"true\n")
        q.until(PROMPT)
        prompt = time.monotonic() - t0
        q.clear()
        t = time.monotonic()
        q.type(DD.encode() + b"\n")
        q.until(b"/s")
        q.until(PROMPT)
        wall = time.monotonic() - t
    finally:
        q.close()
    return prompt, 64 / wall, rate(q.buf.decode(errors="replace"))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    d = guest_dir("debian-i386")
    meta = d / "guest.json"
    if not meta.exists():
        sys.exit("build the disk guest first: python -m pypanda.guest debian-i386")
    info = json.loads(meta.read_text())
    qemu = shutil.which("qemu-system-i386")
    if not qemu:
        sys.exit("the reference needs Debian's QEMU: apt-get install qemu-system-x86")
    results = {}
    for firmware in (False, True):
        how = "firmware" if firmware else "direct"
        ours, theirs = [], []
        for i in range(runs):
            ours.append(pypanda_once(d, info, firmware))
            print(f"{how:8} pypanda run {i + 1}: prompt {ours[-1][0]:6.2f} s, read {ours[-1][1]:6.1f} MiB/s "
                  f"(dd says {ours[-1][2]:.0f} MB/s of guest time)", flush=True)
            theirs.append(qemu_once(qemu, d, info, firmware))
            print(f"{how:8} QEMU    run {i + 1}: prompt {theirs[-1][0]:6.2f} s, read {theirs[-1][1]:6.1f} MiB/s "
                  f"(dd says {theirs[-1][2]:.0f} MB/s)", flush=True)
        results[how] = ours, theirs
    for how, (ours, theirs) in results.items():
        a, b = statistics.median(r[0] for r in ours), statistics.median(r[0] for r in theirs)
        print(f"{how}: time to the prompt: pypanda {a:.2f} s, QEMU {b:.2f} s; ratio {a / b:.2f} "
              f"(target <= 1.2, goal <= 1.0)")
    ours, theirs = results["direct"]
    ra, rb = statistics.median(r[1] for r in ours), statistics.median(r[1] for r in theirs)
    print(f"sequential read (wall clock): pypanda {ra:.1f} MiB/s, QEMU {rb:.1f} MiB/s; ratio {ra / rb:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        name = os.path.join(tmp, "dd")
        pypanda_once(d, info, False, record=name)
        log = Path(name + "-rr-nondet.log").stat().st_size
        print(f"recording of the dd: log {log:,} bytes = {log / 64:,.0f} bytes per MiB read "
              f"(every distinct sector once; 1 MiB = 1,048,576 bytes of data)")


if __name__ == "__main__":
    main()
