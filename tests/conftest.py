"""Shared fixtures: assemble i386 guest code at test time and load it on a
bare machine."""
from __future__ import annotations

import shutil
import struct
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
    """asm(source, base=CODE_ADDR) -> (machine code, {label: address}) for
    code linked at base.  Uses GNU as --32 and ld, as a guest toolchain would."""
    as_, ld, objcopy, nm = _tool("as"), _tool("ld"), _tool("objcopy"), _tool("nm")
    workdir = tmp_path_factory.mktemp("asm")
    counter = [0]

    def assemble(source: str, base: int = CODE_ADDR) -> Tuple[bytes, Dict[str, int]]:
        counter[0] += 1
        stem = workdir / f"prog{counter[0]}"
        src = stem.with_suffix(".s")
        src.write_text(".code32\n.globl _start\n_start:\n" + source + "\n")
        obj, elf, binf = stem.with_suffix(".o"), stem.with_suffix(".elf"), stem.with_suffix(".bin")
        subprocess.run([as_, "--32", "-o", str(obj), str(src)], check=True)
        subprocess.run([ld, "-m", "elf_i386", "-Ttext", hex(base), "-e", "_start",
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


# outb_ PORT, VALUE: one byte to a port (for guest programs that drive devices)
OUTB_MACRO = """
    .macro outb_ port, val
    mov $\\port, %dx
    mov $\\val, %al
    out %al, %dx
    .endm
"""


def fake_bzimage(code: bytes) -> bytes:
    """A minimal bzImage: one setup sector with the boot-protocol header,
    then 32-bit code loaded at 1 MiB."""
    setup = bytearray(1024)
    setup[0x1f1] = 1                                  # setup_sects
    struct.pack_into("<H", setup, 0x1fe, 0xAA55)
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020f)      # protocol 2.15
    setup[0x211] = 0x01                               # LOADED_HIGH
    struct.pack_into("<I", setup, 0x214, 0x100000)
    struct.pack_into("<I", setup, 0x22c, 0x7fffffff)  # initrd_addr_max
    struct.pack_into("<I", setup, 0x238, 2048)        # cmdline_size
    struct.pack_into("<I", setup, 0x260, 0x10000)     # init_size
    setup[0x201] = 0x6a                               # header length
    return bytes(setup) + code
