"""Shared fixtures: assemble i386 guest code at test time and load it on a
bare machine."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable, Dict, Tuple

import pytest

from pypanda import Panda

CODE_ADDR = 0x1000


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"'{name}' is missing: install binutils (apt-get install binutils)")
    return path


@pytest.fixture(scope="session")
def asm(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Tuple[bytes, Dict[str, int]]]:
    """asm(source) -> (machine code, {label: address}) for code linked at
    CODE_ADDR.  Uses GNU as --32 and ld, as a guest toolchain would."""
    as_, ld, objcopy, nm = _tool("as"), _tool("ld"), _tool("objcopy"), _tool("nm")
    workdir = tmp_path_factory.mktemp("asm")
    counter = [0]

    def assemble(source: str) -> Tuple[bytes, Dict[str, int]]:
        counter[0] += 1
        base = workdir / f"prog{counter[0]}"
        src = base.with_suffix(".s")
        src.write_text(".code32\n.globl _start\n_start:\n" + source + "\n")
        obj, elf, binf = base.with_suffix(".o"), base.with_suffix(".elf"), base.with_suffix(".bin")
        subprocess.run([as_, "--32", "-o", str(obj), str(src)], check=True)
        subprocess.run([ld, "-m", "elf_i386", "-Ttext", hex(CODE_ADDR), "-e", "_start",
                        "-o", str(elf), str(obj)], check=True)
        subprocess.run([objcopy, "-O", "binary", "-j", ".text", str(elf), str(binf)], check=True)
        symbols = {}
        for line in subprocess.run([nm, str(elf)], check=True, capture_output=True,
                                   text=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                symbols[parts[2]] = int(parts[0], 16)
        return Path(binf).read_bytes(), symbols

    return assemble


@pytest.fixture
def machine(asm):
    """machine(source) -> (panda, labels): a bare i386 machine with 64 KiB of
    RAM at 0, the program at CODE_ADDR and EIP on it."""
    made = []

    def make(source: str, **kwargs) -> Tuple[Panda, Dict[str, int]]:
        code, labels = asm(source)
        panda = Panda(arch="i386", mem="1M", extra_args="-M configurable -nographic", **kwargs)
        panda.map_memory("ram", 0x10000, 0)
        panda.physical_memory_write(CODE_ADDR, code)
        panda.arch.set_pc(panda.get_cpu(), CODE_ADDR)
        made.append(panda)
        return panda, labels

    yield make
    for p in made:
        p.close()


# A loop whose effects are known exactly: EAX = 5+4+3+2+1 = 15, five stores
# to 0x2000, five loads from 0x3000.
SUM_LOOP = """
    mov $0, %eax
    mov $5, %ecx
loop:
    add %ecx, %eax
    mov %eax, 0x2000
    mov 0x3000, %edx
    dec %ecx
    jnz loop
done:
    hlt
"""
