#!/usr/bin/env python3
"""What address hooks and system-call detection cost: boot the reference
guest to its prompt with nothing, with one hook on an address the boot
seldom runs, watching one system call, watching every call (entry and
return, each reaching Python), and, for comparison, the same one-address
hook done in Python with insn_translate/insn_exec.

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
MODES = ["none", "hook", "syscall", "syscall_all", "python_insn"]


def once(mode: str) -> Dict[str, float]:
    panda = Panda(generic="i386", verbose=False)
    calls = [0]
    if mode == "hook":
        panda.hook_add(RARE, lambda cpu, tb, h: None)
    elif mode == "syscall":
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

    @panda.queue_blocking
    def drive():
        panda.serial_read_until(PROMPT)
        panda.end_analysis()

    t0 = time.monotonic()
    panda.run()
    wall = time.monotonic() - t0
    seen = panda.syscall_tap.seen
    panda.close()
    return {"wall": wall, "calls": calls[0], "seen": seen}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    modes = sys.argv[2:] or MODES
    results: Dict[str, List[Dict[str, float]]] = {m: [] for m in modes}
    for _ in range(runs):
        for m in modes:
            results[m].append(once(m))
    base = statistics.median(r["wall"] for r in results[modes[0]])
    for m in modes:
        w = statistics.median(r["wall"] for r in results[m])
        last = results[m][-1]
        print(f"{m:12s} {w:6.2f} s  x{w / base:5.2f}  python calls {int(last['calls']):6d}  "
              f"syscalls seen {int(last['seen'])}")


if __name__ == "__main__":
    main()
