"""The dynamic symbols of an ELF file mapped in a guest process, read from
the process's memory (what ``hook_symbol`` resolves names with).

A shared library's ELF header, program headers and dynamic section are in
its first mapped pages; the dynamic section gives the symbol and string
tables, and DT_HASH or DT_GNU_HASH how many symbols there are.  Pages the
process has not touched yet may be absent: then nothing is found *yet*
(None), and a later try may succeed.  The guest is hostile: every count and
offset is bounded.
"""
from __future__ import annotations

import struct
from typing import Callable, Dict, Optional

PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 4, 5, 6, 10, 11
DT_GNU_HASH = 0x6FFFFEF5
MAX_SYMBOLS = 200000
MAX_DYNAMIC = 512
MAX_STRTAB = 8 << 20

Reader = Callable[[int, int], Optional[bytes]]   # (address, length) -> bytes or None


class ElfSymbols:
    """name -> address of the defined dynamic symbols of the image at ``base``."""

    def __init__(self, base: int, bias: int, symbols: Dict[str, int]) -> None:
        self.base, self.bias, self.symbols = base, bias, symbols

    def get(self, name: str) -> Optional[int]:
        return self.symbols.get(name)


def _u32(read: Reader, addr: int) -> Optional[int]:
    raw = read(addr, 4)
    return None if raw is None else struct.unpack("<I", raw)[0]


def _symbol_count(read: Reader, dyn: Dict[int, int]) -> Optional[int]:
    if DT_HASH in dyn:
        return _u32(read, dyn[DT_HASH] + 4)          # nchain = the symbol count
    if DT_GNU_HASH not in dyn:
        return None
    head = read(dyn[DT_GNU_HASH], 16)
    if head is None:
        return None
    nbuckets, symoffset, bloom_size, _ = struct.unpack("<IIII", head)
    if nbuckets > MAX_SYMBOLS or bloom_size > MAX_SYMBOLS:
        return None
    buckets_at = dyn[DT_GNU_HASH] + 16 + 4 * bloom_size
    raw = read(buckets_at, 4 * nbuckets)
    if raw is None:
        return None
    last = max(struct.unpack(f"<{nbuckets}I", raw), default=0)
    if last < symoffset:
        return symoffset
    chains_at = buckets_at + 4 * nbuckets
    while last - symoffset < MAX_SYMBOLS:            # to the chain's end bit
        v = _u32(read, chains_at + 4 * (last - symoffset))
        if v is None:
            return None
        if v & 1:
            return last + 1
        last += 1
    return None


def read_symbols(read: Reader, base: int) -> Optional[ElfSymbols]:
    """The dynamic symbols of the 32-bit ELF image mapped at ``base``, or
    None if its headers are not (yet) readable or are not an ELF image's."""
    ehdr = read(base, 52)
    if ehdr is None or ehdr[:4] != b"\x7fELF" or ehdr[4] != 1 or ehdr[5] != 1:
        return None
    e_phoff, = struct.unpack_from("<I", ehdr, 28)
    e_phentsize, e_phnum = struct.unpack_from("<HH", ehdr, 42)
    if e_phentsize < 32 or not 0 < e_phnum <= 64 or e_phoff > 0x10000:
        return None
    phdrs = read(base + e_phoff, e_phentsize * e_phnum)
    if phdrs is None:
        return None
    bias = None
    dynamic = None
    for i in range(e_phnum):
        p_type, p_offset, p_vaddr, _, _, p_memsz = struct.unpack_from("<IIIIII", phdrs, i * e_phentsize)
        if p_type == PT_LOAD and p_offset == 0 and bias is None:
            bias = (base - p_vaddr) & 0xFFFFFFFF
        elif p_type == PT_DYNAMIC:
            dynamic = (p_vaddr, p_memsz)
    if bias is None or dynamic is None:
        return None
    count = min(dynamic[1] // 8, MAX_DYNAMIC)
    raw = read((bias + dynamic[0]) & 0xFFFFFFFF, count * 8)
    if raw is None:
        return None
    dyn: Dict[int, int] = {}
    for i in range(count):
        tag, val = struct.unpack_from("<iI", raw, i * 8)
        if tag == DT_NULL:
            break
        dyn.setdefault(tag, val)
    for tag in (DT_HASH, DT_GNU_HASH, DT_STRTAB, DT_SYMTAB):
        # ld.so relocates these in place once it has loaded the image
        if tag in dyn and dyn[tag] < bias:
            dyn[tag] = (dyn[tag] + bias) & 0xFFFFFFFF
    if DT_SYMTAB not in dyn or DT_STRTAB not in dyn:
        return None
    nsyms = _symbol_count(read, dyn)
    strsz = min(dyn.get(DT_STRSZ, 0), MAX_STRTAB)
    syment = dyn.get(DT_SYMENT, 16)
    if nsyms is None or not 0 < nsyms <= MAX_SYMBOLS or syment < 16 or not strsz:
        return None
    symtab = read(dyn[DT_SYMTAB], nsyms * syment)
    strtab = read(dyn[DT_STRTAB], strsz)
    if symtab is None or strtab is None:
        return None
    symbols: Dict[str, int] = {}
    for i in range(1, nsyms):
        st_name, st_value, _, st_info, _, st_shndx = struct.unpack_from("<IIIBBH", symtab, i * syment)
        if st_shndx == 0 or st_name >= strsz or (st_info & 0xF) not in (0, 1, 2, 10):
            continue                                 # undefined, or not code/data
        end = strtab.find(b"\0", st_name)
        name = strtab[st_name:end if end >= 0 else strsz].decode(errors="replace")
        # "name@@VERSION" is not in .dynstr; the default version wins by order
        symbols.setdefault(name, (bias + st_value) & 0xFFFFFFFF)
    return ElfSymbols(base, bias, symbols)
