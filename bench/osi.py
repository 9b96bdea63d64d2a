#!/usr/bin/env python3
"""What system-call and address hooks cost: one guest workload, five ways.

The reference guest boots to its shell once and is snapshotted; each run
reverts to that snapshot and runs the same shell loop (a few hundred
million instructions of fork, exec, write and read), with:
  1. no callbacks;
  2. one ``on_sys_write_enter`` syscalls2 hook in Python;
  3. ``on_all_sys_enter`` in Python (every system call reaches Python);
  4. ``hook(addr)`` on one kernel address that never runs (the divide
     error handler);
  5. ``hook(addr)`` on ``entry_SYSENTER_32``, which every system call made
     through the vDSO passes (a hot address: Python on each call).
Runs alternate (1, 2, 3, 4, 5, 1, 2, ...) to spread the host's noise; prints
the median wall time and the slowdown against no callbacks.  Target: a
rare system call or one address under 5 %.

    python bench/osi.py [--rounds 3] [--loops 300]
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, Dict, List

from pypanda import Panda

WORKLOAD = "i=0; while [ $i -lt {n} ]; do echo $i > /dev/null; cat /proc/self/stat > /dev/null; i=$((i+1)); done"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loops", type=int, default=300)
    a = ap.parse_args()
    cmd = WORKLOAD.format(n=a.loops)
    results: Dict[str, List[float]] = {}
    icounts: Dict[str, int] = {}

    def run(name: str, setup: Callable[[Panda], None]) -> None:
        panda = Panda(generic="i386", verbose=False)
        times: Dict[str, float] = {}

        @panda.queue_blocking
        def drive():
            panda.run_serial_cmd("true")
            setup(panda)
            start_icount = panda.instr_count()
            t0 = time.perf_counter()
            panda.run_serial_cmd(cmd, timeout=600)
            times["t"] = time.perf_counter() - t0
            icounts[name] = panda.instr_count() - start_icount
            panda.end_analysis()

        panda.run()
        panda.close()
        results.setdefault(name, []).append(times["t"])

    def none(panda: Panda) -> None:
        pass

    def one_syscall(panda: Panda) -> None:
        writes = [0]

        @panda.ppp("syscalls2", "on_sys_write_enter")
        def w(cpu, pc, fd, buf, count):
            writes[0] += 1

    def all_syscalls(panda: Panda) -> None:
        n = [0]

        @panda.ppp("syscalls2", "on_all_sys_enter")
        def e(cpu, pc, callno):
            n[0] += 1

    def kernel_symbol(panda: Panda, name: str) -> int:
        osi = panda._introspection.osi
        osi.locate()
        return osi.sym(name)

    def never_hook(panda: Panda) -> None:
        @panda.hook(kernel_symbol(panda, "asm_exc_divide_error"), kernel=True)
        def h(cpu, tb, hook):
            pass

    def rare_hook(panda: Panda) -> None:
        @panda.hook(kernel_symbol(panda, "entry_SYSENTER_32"), kernel=True)
        def h(cpu, tb, hook):
            pass

    ways = [("none", none), ("on_sys_write_enter", one_syscall), ("on_all_sys_enter", all_syscalls),
            ("hook(never-run addr)", never_hook), ("hook(entry_SYSENTER_32)", rare_hook)]
    for r in range(a.rounds):
        for name, setup in ways:
            run(name, setup)
            print(f"round {r + 1}: {name:26s} {results[name][-1]:7.2f} s", flush=True)
    base = statistics.median(results["none"])
    print(f"\nworkload: {icounts.get('none', 0):,} instructions ({a.loops} loops)")
    for name, _ in ways:
        med = statistics.median(results[name])
        print(f"{name:26s} median {med:7.2f} s   slowdown {med / base:5.3f}x")


if __name__ == "__main__":
    main()
