"""pandare's hook_symbol: a kernel function by its kallsyms name on the
reference guest, and a libc function in every process that maps libc on the
disk guest (Debian 12, dynamically linked coreutils), each cross-checked
with the system calls syscalls2 saw."""
from __future__ import annotations

from collections import Counter

import pytest

from pypanda import Panda
from pypanda.panda import guest_dir


def test_kernel_symbol_hook_counts_match_syscalls():
    panda = Panda(generic="i386", verbose=False)
    hits, calls = Counter(), Counter()

    @panda.ppp("syscalls2", "on_sys_newuname_enter")
    def newuname(cpu, pc, name):
        calls[panda.get_process_name(cpu)] += 1

    @panda.queue_blocking
    def go():
        panda.run_serial_cmd("true")

        # kallsyms: not one of the profile's own symbols
        @panda.hook_symbol(None, "__ia32_sys_newuname", kernel=True)
        def entry(cpu, tb, h):
            hits[panda.get_process_name(cpu)] += 1

        calls.clear()
        panda.run_serial_cmd("uname -a; uname -r; uname")
        panda.end_analysis()

    panda.run()
    assert calls["uname"] >= 3 and hits == calls, (hits, calls)
    panda.close()


def test_library_symbol_hook_in_each_process():
    if not (guest_dir("debian-i386") / "disk.qcow2").is_file():
        pytest.skip("no disk guest: python -m pypanda.guest debian-i386")
    panda = Panda(generic="debian-i386", verbose=False)
    hits, calls = Counter(), Counter()
    asids = set()

    @panda.hook_symbol("libc.so.6", "uname")
    def libc_uname(cpu, tb, h):
        proc = panda.get_current_process(cpu)
        hits[proc.name] += 1
        if proc.name == "uname":
            asids.add((proc.pid, proc.asid))

    @panda.ppp("syscalls2", "on_sys_newuname_enter")
    def newuname(cpu, pc, name):
        calls[panda.get_process_name(cpu)] += 1

    @panda.queue_blocking
    def go():
        panda.run_serial_cmd("true")
        hits.clear(), calls.clear()
        panda.run_serial_cmd("uname -r; uname -m; /bin/true")
        panda.end_analysis()

    panda.run()
    # each uname process called libc's uname() once, which made the call
    assert hits["uname"] == 2 and calls["uname"] == 2, (hits, calls)
    assert len(asids) == 2, asids          # two processes, each hooked in its own space
    panda.close()
