#!/usr/bin/env python3
"""Per-block callback cost: pypanda against Unicorn's own Python binding.

One guest loop of N blocks (``dec %ecx; jnz`` is a block of its own) runs:
  1. on pypanda with no callback;
  2. on pypanda with a before_block_exec callback written in C
     (compiled here with cc into a tiny shared object);
  3. on pypanda with the same callback in Python (pandare style);
  4. on Unicorn 2.1.4's Python binding with a UC_HOOK_BLOCK hook
     (``pip install unicorn==2.1.4``), the reference.
Prints ns per block for each and the ratio pypanda-Python / unicorn-Python
(target: <= 1.0).  Usage: python bench/callbacks.py [N]  (default 10_000_000)
"""
from __future__ import annotations

import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pypanda import Panda
from pypanda._lib import PluginPtr

CODE_ADDR = 0x1000
# mov $N, %ecx ; 1: dec %ecx ; jnz 1b ; hlt
def guest(n: int) -> bytes:
    return b"\xb9" + n.to_bytes(4, "little") + b"\x49\x75\xfd\xf4"


C_COUNTER = r"""
#include <stdint.h>
uint64_t blocks;
void count_block(void *cpu, void *tb) { (void)cpu; (void)tb; blocks++; }
"""


def bare(n: int) -> Panda:
    p = Panda(arch="i386", mem="1M", extra_args="-M configurable -nographic")
    p.map_memory("ram", 0x10000, 0)
    p.physical_memory_write(CODE_ADDR, guest(n))
    p.arch.set_pc(p.get_cpu(), CODE_ADDR)
    return p


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def pypanda_none(n: int) -> float:
    p = bare(n)
    return timed(p.run)


def pypanda_c(n: int) -> float:
    with tempfile.TemporaryDirectory() as d:
        src, so = Path(d) / "counter.c", Path(d) / "counter.so"
        src.write_text(C_COUNTER)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(so), str(src)], check=True)
        lib = ctypes.CDLL(str(so))
        p = bare(n)
        plugin = PluginPtr()
        p._check(p._lib.panda_plugin_create(p._handle, b"bench", ctypes.byref(plugin)))
        fn = ctypes.cast(lib.count_block, ctypes.c_void_p)
        p._check(p._lib.panda_register_callback(plugin, p.callback.before_block_exec.number, fn))
        t = timed(p.run)
        count = ctypes.c_uint64.in_dll(lib, "blocks").value
        assert count == n + 1, count
        return t


def pypanda_python(n: int) -> float:
    p = bare(n)
    count = [0]

    @p.cb_before_block_exec
    def bbe(cpu, tb):
        count[0] += 1

    t = timed(p.run)
    assert count[0] == n + 1, count
    return t


def unicorn_python(n: int) -> float:
    try:
        import unicorn
    except ImportError:
        sys.exit("the reference needs Unicorn's binding: pip install unicorn==2.1.4")
    from unicorn import UC_ARCH_X86, UC_HOOK_BLOCK, UC_MODE_32, Uc
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, 0x10000)
    code = guest(n)
    uc.mem_write(CODE_ADDR, code)
    count = [0]

    def hook(uc, address, size, user_data):
        count[0] += 1

    uc.hook_add(UC_HOOK_BLOCK, hook)
    t = timed(lambda: uc.emu_start(CODE_ADDR, CODE_ADDR + len(code) - 1))
    assert count[0] == n, (count, unicorn.__version__)  # stops before the hlt block
    return t


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    blocks = n + 1
    rows = []
    for label, fn in (("pypanda, no callback", pypanda_none),
                      ("pypanda, before_block_exec in C", pypanda_c),
                      ("pypanda, before_block_exec in Python", pypanda_python),
                      ("unicorn 2.1.4 Python, UC_HOOK_BLOCK", unicorn_python)):
        t = fn(n)
        rows.append((label, t))
        print(f"{label:40s} {t:8.3f} s  {t / blocks * 1e9:8.1f} ns/block", flush=True)
    ratio = rows[2][1] / rows[3][1]
    print(f"ratio pypanda-Python / unicorn-Python: {ratio:.2f} (target <= 1.0)")


if __name__ == "__main__":
    main()
