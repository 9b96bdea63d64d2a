#!/usr/bin/env python3
"""What address hooks and system-call detection cost: boot the reference
guest to its prompt with nothing, with one hook on an address the boot
seldom runs, watching one rare system call (execve), watching write,
watching every call (entry and
return, each reaching Python), and, for comparison, the same one-address
hook done in Python with insn_translate/insn_exec.

Then, on the same boot, the wall time of a command heavy on system calls
(COMMAND: ~100k calls, most of them not watched).

Runs alternate between the modes (drift on a shared machine hits all
alike); medians of RUNS each and the ratios to "none".

Usage: python bench/hooks_syscalls.py [RUNS] [MODE ...]
"""
from __future__ import annotations

import statistics
import sys
import time
from typing import Dict, List

from pypanda import Panda

PROMPT = b"guest# "
RARE = 0xC1000000       # the kernel's first page: run once, at boot
MODES = ["none", "hook", "syscall", "syscall_write", "syscall_all", "python_insn"]
COMMAND = "ls -lR /sys /proc/self > /dev/null 2>&1; echo done"


def once(mode: str) -> Dict[str, float]:
    panda = Panda(generic="i386", verbose=False)
    calls = [0]
    if mode == "hook":
        panda.hook_add(RARE, lambda cpu, tb, h: None)
    elif mode == "syscall":         # execve: a few calls
        panda.syscall_tap.watch(11, True, True, lambda cpu, call, r: calls.__setitem__(0, calls[0] + 1))
    elif mode == "syscall_write":   # write: a third of the command's calls
        panda.syscall_tap.watch(4, True, True, lambda cpu, call, r: calls.__setitem__(0, calls[0] + 1))
    elif mode == "syscall_all":
        panda.syscall_tap.watch(None, True, True, lambda cpu, call, r: calls.__setitem__(0, calls[0] + 1))
    elif mode == "python_insn":
        @panda.cb_insn_translate
        def want(cpu, pc):
            return pc == RARE

        @panda.cb_insn_exec
        def at(cpu, pc):
            return 0

    out: Dict[str, float] = {}

    @panda.queue_blocking
    def drive():
        panda.serial_read_until(PROMPT)
        out["boot"] = time.monotonic() - t0
        out["boot_calls"] = calls[0]
        t1 = time.monotonic()
        assert "done" in panda.run_serial_cmd(COMMAND, timeout=600)
        out["cmd"] = time.monotonic() - t1
        panda.end_analysis()

    t0 = time.monotonic()
    panda.run()
    out["seen"] = panda.syscall_tap.seen
    out["calls"] = calls[0]
    panda.close()
    return out


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    modes = sys.argv[2:] or MODES
    results: Dict[str, List[Dict[str, float]]] = {m: [] for m in modes}
    for _ in range(runs):
        for m in modes:
            results[m].append(once(m))
    base = {k: statistics.median(r[k] for r in results[modes[0]]) for k in ("boot", "cmd")}
    print(f"{'mode':12s} {'boot':>7s} {'ratio':>6s}  {'command':>7s} {'ratio':>6s}  python calls (boot, all)  syscalls seen")
    for m in modes:
        b = statistics.median(r["boot"] for r in results[m])
        c = statistics.median(r["cmd"] for r in results[m])
        last = results[m][-1]
        print(f"{m:12s} {b:6.2f}s {b / base['boot']:6.2f}  {c:6.2f}s {c / base['cmd']:6.2f}  "
              f"{int(last['boot_calls']):8d} {int(last['calls']):8d}      {int(last['seen'])}")


if __name__ == "__main__":
    main()
