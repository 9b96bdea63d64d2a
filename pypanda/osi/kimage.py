"""Read a Linux kernel image without running it: pure Python, standard library only.

* :func:`load_vmlinux`: bzImage (x86 boot protocol >= 2.08, gzip or xz
  payload; zstd when the ``zstandard`` module is installed) or an ELF
  vmlinux -> the vmlinux bytes.
* :class:`ELF`: the section and note headers of a (usually stripped) vmlinux.
* :func:`parse_ksymtab`: exported symbols from ``__ksymtab``/``__ksymtab_gpl``.
* :func:`find_kallsyms`: the compressed kallsyms tables in ``.rodata``.
* :func:`find_sys_call_table`, :func:`find_syscall_metadata`: the system call
  table and the ftrace ``syscall_metadata`` records (argument types and names).

Every malformed input raises :class:`~pypanda.osi.errors.ProfileError`.
"""
from __future__ import annotations

import bisect
import lzma
import re
import struct
import zlib
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from .errors import ProfileError

#: refuse to inflate a payload beyond this (a decompression bomb, not a kernel)
MAX_VMLINUX = 1 << 30


# --------------------------------------------------------------------- bzImage

def bzimage_payload(data: bytes) -> bytes:
    """The compressed kernel inside a bzImage (setup header fields
    ``setup_sects``, ``payload_offset``, ``payload_length``)."""
    if len(data) < 0x268 or data[0x202:0x206] != b"HdrS":
        raise ProfileError("not a bzImage or vmlinux: no 'HdrS' setup header at 0x202 and no ELF magic")
    (version,) = struct.unpack_from("<H", data, 0x206)
    if version < 0x208:
        raise ProfileError(f"bzImage boot protocol {version >> 8}.{version & 0xff:02d} is older than "
                           "2.08 and records no payload offset")
    setup_sects = data[0x1F1] or 4   # 0 means 4, for ancient boot loaders
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    if payload_length == 0 or start + payload_length > len(data):
        raise ProfileError(f"truncated bzImage: the payload ends at {start + payload_length:#x} "
                           f"but the file has {len(data):#x} bytes")
    return data[start:start + payload_length]


def _decompress_stream(dec: Any, errors: Any, name: str, payload: bytes) -> bytes:
    """One whole xz or gzip stream (bounded by MAX_VMLINUX) from a
    decompressor object, which stops at the stream's end: the kernel's
    4-byte size trailer follows it."""
    try:
        out = dec.decompress(payload, MAX_VMLINUX)
    except errors as exc:
        raise ProfileError(f"corrupt {name} payload in the bzImage: {exc}") from None
    if not dec.eof:
        raise ProfileError(f"the bzImage's {name} payload is truncated or larger than 1 GiB")
    return bytes(out)


def _inflate(payload: bytes) -> bytes:
    if payload[:6] == b"\xfd7zXZ\x00":
        # The kernel's xz_wrap.sh records the BCJ x86 filter in the block
        # header, so FORMAT_XZ undoes it.
        return _decompress_stream(lzma.LZMADecompressor(format=lzma.FORMAT_XZ), lzma.LZMAError, "xz", payload)
    if payload[:2] == b"\x1f\x8b":
        return _decompress_stream(zlib.decompressobj(16 + zlib.MAX_WBITS), zlib.error, "gzip", payload)
    if payload[:4] == b"\x28\xb5\x2f\xfd":
        try:
            import zstandard  # type: ignore[import-not-found]
        except ImportError:
            raise ProfileError("the bzImage payload is zstd: install the zstandard module "
                               "(pip install zstandard)") from None
        try:
            return bytes(zstandard.ZstdDecompressor().decompress(payload, max_output_size=MAX_VMLINUX))
        except zstandard.ZstdError as exc:
            raise ProfileError(f"corrupt zstd payload in the bzImage: {exc}") from None
    if payload[:3] == b"BZh" or payload[:4] == b"\x89LZO" or payload[:2] == b"\x02\x21":
        raise ProfileError("the bzImage payload is bzip2/lzo/lz4, which this reader does not handle; "
                           "give the vmlinux ELF instead")
    raise ProfileError(f"unknown bzImage payload compression (first bytes {payload[:8].hex()})")


def load_vmlinux(data: bytes) -> bytes:
    """``data`` (a bzImage or an ELF vmlinux) -> the vmlinux ELF bytes."""
    if data[:4] == b"\x7fELF":
        return data
    vml = _inflate(bzimage_payload(data))
    if vml[:4] != b"\x7fELF":
        raise ProfileError("the bzImage payload does not decompress to an ELF vmlinux")
    return vml


def bzimage_version(data: bytes) -> Optional[str]:
    """The kernel version string the setup header points at (``kernel_version``
    at 0x20e), or None."""
    if len(data) < 0x210 or data[0x202:0x206] != b"HdrS":
        return None
    (ptr,) = struct.unpack_from("<H", data, 0x20E)
    raw = data[ptr + 0x200:ptr + 0x200 + 512].split(b"\0", 1)[0]
    return raw.decode("ascii", "replace") or None


# ------------------------------------------------------------------------- ELF

class Section(NamedTuple):
    name: str
    type: int
    flags: int
    addr: int
    offset: int
    size: int


SHT_NOBITS = 8
SHT_NOTE = 7
PT_LOAD = 1


class Segment(NamedTuple):
    type: int
    vaddr: int
    paddr: int
    memsz: int


class ELF:
    """The section headers of an ELF32/ELF64 little-endian vmlinux."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 64 or data[:4] != b"\x7fELF":
            raise ProfileError("not an ELF file")
        if data[5] != 1:
            raise ProfileError("big-endian ELF: only x86 (little-endian) kernels are handled")
        self.data = data
        self.bits = {1: 32, 2: 64}.get(data[4], 0)
        if not self.bits:
            raise ProfileError(f"bad ELF class {data[4]}")
        try:
            if self.bits == 32:
                (_type, self.machine, _ver, _entry, phoff, shoff, _fl, _eh, phentsize, phnum,
                 shentsize, shnum, shstrndx) = struct.unpack_from("<HHIIIIIHHHHHH", data, 16)
                fmt = "<IIIIIIIIII"
            else:
                (_type, self.machine, _ver, _entry, phoff, shoff, _fl, _eh, phentsize, phnum,
                 shentsize, shnum, shstrndx) = struct.unpack_from("<HHIQQQIHHHHHH", data, 16)
                fmt = "<IIQQQQIIQQ"
            raw = []
            for i in range(shnum):
                raw.append(struct.unpack_from(fmt, data, shoff + i * shentsize))
            self.segments: List[Segment] = []
            for i in range(phnum):
                o = phoff + i * phentsize
                if self.bits == 32:
                    typ, _off, vaddr, paddr, _fsz, memsz = struct.unpack_from("<IIIIII", data, o)
                else:
                    typ, _fl2, _off, vaddr, paddr, _fsz, memsz = struct.unpack_from("<IIQQQQQ", data, o)
                self.segments.append(Segment(typ, vaddr, paddr, memsz))
        except struct.error:
            raise ProfileError("truncated ELF: the section headers lie beyond the end of the file") from None
        if not raw:
            raise ProfileError("the ELF file has no section headers (a vmlinux keeps them even when stripped)")
        names = raw[shstrndx][4] if shstrndx < len(raw) else None
        self.sections: List[Section] = []
        for name_off, typ, flags, addr, offset, size, *_ in raw:
            if typ != SHT_NOBITS and offset + size > len(data):
                raise ProfileError(f"truncated ELF: a section ends at {offset + size:#x}, "
                                   f"past the file's {len(data):#x} bytes")
            name = self._cstr_at(names + name_off) if names is not None else ""
            self.sections.append(Section(name, typ, flags, addr, offset, size))
        self.psize = self.bits // 8
        self.ptr = "I" if self.bits == 32 else "Q"
        self.arch = {3: "i386", 62: "x86_64"}.get(self.machine)
        # sorted (addr, end, offset) of sections with file bytes, for va2off
        self._spans = sorted((s.addr, s.addr + s.size, s.offset) for s in self.sections
                             if s.addr and s.type != SHT_NOBITS and s.size)
        self._starts = [sp[0] for sp in self._spans]

    def _cstr_at(self, off: int) -> str:
        end = self.data.find(b"\0", off)
        if off >= len(self.data) or end < 0:
            raise ProfileError("truncated ELF: a section name runs past the end of the file")
        return self.data[off:end].decode("latin1")

    def section(self, name: str) -> Optional[Section]:
        for s in self.sections:
            if s.name == name:
                return s
        return None

    def section_bytes(self, name: str) -> Optional[bytes]:
        s = self.section(name)
        if s is None or s.type == SHT_NOBITS:
            return None
        return self.data[s.offset:s.offset + s.size]

    def va2off(self, va: int) -> Optional[int]:
        i = bisect.bisect_right(self._starts, va) - 1
        if i >= 0:
            start, end, off = self._spans[i]
            if start <= va < end:
                return off + va - start
        return None

    def read_ptr(self, va: int) -> Optional[int]:
        o = self.va2off(va)
        if o is None or o + self.psize > len(self.data):
            return None
        return int(struct.unpack_from("<" + self.ptr, self.data, o)[0])

    def cstr(self, va: int, limit: int = 4096) -> Optional[str]:
        o = self.va2off(va)
        if o is None:
            return None
        end = self.data.find(b"\0", o, o + limit)
        if end < 0:
            return None
        return self.data[o:end].decode("latin1")

    def notes(self) -> Iterator[Tuple[str, int, bytes]]:
        """(owner name, type, descriptor) of every note in SHT_NOTE sections."""
        for s in self.sections:
            if s.type != SHT_NOTE:
                continue
            d = self.data[s.offset:s.offset + s.size]
            p = 0
            while p + 12 <= len(d):
                namesz, descsz, typ = struct.unpack_from("<III", d, p)
                p += 12
                name = d[p:p + namesz].rstrip(b"\0").decode("latin1")
                p += (namesz + 3) & ~3
                desc = d[p:p + descsz]
                p += (descsz + 3) & ~3
                yield name, typ, desc

    def build_id(self) -> Optional[str]:
        """The GNU build-id note (NT_GNU_BUILD_ID) as hex, or None."""
        for name, typ, desc in self.notes():
            if name == "GNU" and typ == 3 and desc:
                return desc.hex()
        return None

    def contains(self, section: str, va: int) -> bool:
        s = self.section(section)
        return s is not None and s.addr <= va < s.addr + s.size


# ------------------------------------------------------------------- __ksymtab

def parse_ksymtab(elf: ELF) -> Dict[str, int]:
    """Exported symbols (EXPORT_SYMBOL and _GPL) -> link address.

    With CONFIG_HAVE_ARCH_PREL32_RELOCATIONS (x86, i386 included) an entry is
    ``{int value_offset, name_offset, namespace_offset}``, each relative to
    its own field; otherwise ``{ulong value; char *name; char *namespace}``.
    Which one is found by checking where the names land.
    """
    strs = elf.section("__ksymtab_strings")
    out: Dict[str, int] = {}
    if strs is None:
        return out
    mask = (1 << elf.bits) - 1
    for secname in ("__ksymtab", "__ksymtab_gpl"):
        s = elf.section(secname)
        if s is None or s.type == SHT_NOBITS:
            continue
        d = elf.data[s.offset:s.offset + s.size]
        found: Dict[str, int] = {}
        prel = True
        for i in range(0, len(d) - 11, 12):
            vo, no, _ns = struct.unpack_from("<iii", d, i)
            ea = s.addr + i
            name_va = (ea + 4 + no) & mask
            if not strs.addr <= name_va < strs.addr + strs.size:
                prel = False
                break
            name = elf.cstr(name_va)
            if name:
                found[name] = (ea + vo) & mask
        if not prel:
            found = {}
            es = 3 * elf.psize
            for i in range(0, len(d) - es + 1, es):
                v, n, _ns = struct.unpack_from("<" + elf.ptr * 3, d, i)
                name = elf.cstr(n) if strs.addr <= n < strs.addr + strs.size else None
                if name:
                    found[name] = v
        out.update(found)
    return out


# -------------------------------------------------------------------- kallsyms

class Kallsyms(NamedTuple):
    #: (address, type letter, name) in table order (sorted by address)
    symbols: List[Tuple[int, str, str]]
    layout: str


def _find_token_table(d: bytes, base: int, end: int) -> Tuple[int, int, Tuple[int, ...]]:
    """(token_table offset, token_index offset, index) of kallsyms_token_index:
    256 u16 offsets into 256 NUL-terminated printable tokens just before it."""
    # idx[0] == 0 and the first two tokens are short: a cheap C-speed filter
    for mo in re.finditer(rb"\x00\x00[\x02-\x20]\x00[\x04-\x40]\x00", d[base:end]):
        off = base + mo.start()
        if off & 1 or off + 512 > end:
            continue
        idx = struct.unpack_from("<256H", d, off)
        if any(not 2 <= idx[i] - idx[i - 1] <= 32 for i in range(1, 256)):
            continue
        for pad in range(8):           # alignment padding before the index
            tend = off - pad
            if d[tend - 1] != 0:
                continue
            p = d.rfind(b"\0", base, tend - 1)
            tstart = p + 1 - idx[255]
            if tstart < base:
                continue
            table = d[tstart:tend]
            if all(table[i - 1] == 0 for i in idx[1:]) and \
                    all(32 < c < 127 for c in table.replace(b"\0", b"!")):
                return tstart, off, idx
    raise ProfileError("kallsyms_token_table not found in .rodata (CONFIG_KALLSYMS off?)")


def find_kallsyms(elf: ELF) -> Kallsyms:
    """Decode the kallsyms tables of a stripped vmlinux.

    6.1.y writes, each table aligned to the pointer size (scripts/kallsyms.c):
    ``kallsyms_offsets[n]`` (s32), ``kallsyms_relative_base``,
    ``kallsyms_num_syms``, ``kallsyms_names``, ``kallsyms_markers[(n+255)/256]``,
    [``kallsyms_seqs_of_names[n]`` (3 bytes), 6.2+ and 6.1.y],
    ``kallsyms_token_table``, ``kallsyms_token_index``; 6.4+ moves offsets and
    relative_base after the token index.  The token index is distinctive, so
    it is found first and the rest is found walking backwards, each candidate
    checked by decoding every name up to the markers.
    """
    ro = elf.section(".rodata")
    if ro is None or ro.type == SHT_NOBITS:
        raise ProfileError("the vmlinux has no .rodata section")
    d = elf.data
    base, end = ro.offset, ro.offset + ro.size
    tstart, tidx, idx = _find_token_table(d, base, end)
    tokens = []
    for i in idx:
        e = d.index(b"\0", tstart + i)
        tokens.append(d[tstart + i:e].decode("latin1"))
    ps = elf.psize

    def align(x: int) -> int:
        return (x + ps - 1) // ps * ps

    def u32(o: int) -> int:
        return int(struct.unpack_from("<I", d, o)[0])

    def names_end(ns: int, num: int, marks: Sequence[int], limit: int) -> Optional[int]:
        o = ns
        for i in range(num):
            if i % 256 == 0 and o - ns != marks[i // 256]:
                return None
            if o >= limit:
                return None
            ln = d[o]
            if ln & 0x80:           # 6.1+: two-byte length for long names
                ln = (ln & 0x7F) | (d[o + 1] << 7)
                o += 1
            o += 1 + ln
        return o

    def try_markers(mstart: int, num: int) -> Optional[Tuple[int, int]]:
        """markers at mstart for num symbols -> (num_syms offset, names offset)."""
        nm = (num + 255) // 256
        if mstart < base or mstart % ps or u32(mstart) != 0:
            return None
        marks = struct.unpack_from("<%dI" % nm, d, mstart)
        if any(not 0 < marks[i] - marks[i - 1] < 256 * 300 for i in range(1, nm)):
            return None
        # names lie between num_syms and the markers; find num_syms (a u32 == num)
        lo = mstart - marks[-1] - 256 * 300
        pat = struct.pack("<I", num)
        hi = mstart - marks[-1]
        while True:
            q = d.rfind(pat, max(base, lo), hi)
            if q < 0:
                return None
            hi = q + 3
            if q % 4:
                continue
            ns = align(q + 4)
            e = names_end(ns, num, marks, mstart)
            if e is not None and align(e) == mstart:
                return q, ns

    found = None
    # (a) markers end just before the token table (no seqs_of_names)
    for mend in (tstart, tstart - 4):
        m = 1
        while m < 10000 and mend - 4 * m > base and u32(mend - 4 * m) != 0:
            m += 1
        if m >= 10000:
            continue
        for num in range((m - 1) * 256 + 1, m * 256 + 1):
            r = try_markers(mend - 4 * m, num)
            if r:
                found = r + (num, "markers|token_table")
                break
        if found:
            break
    # (b) kallsyms_seqs_of_names (3 bytes per symbol) between markers and tokens
    if not found:
        for num in range(1, (tstart - base) // 7):
            ss = (tstart - 3 * num) // ps * ps
            if align(ss + 3 * num) != tstart:
                continue
            nm = (num + 255) // 256
            for mstart in (ss - 4 * nm, ss - 4 * nm - 4):
                if align(mstart + 4 * nm) != ss or mstart < base or u32(mstart) != 0:
                    continue
                if nm > 1 and u32(mstart + 4) == 0:
                    continue
                r = try_markers(mstart, num)
                if r:
                    found = r + (num, "markers|seqs_of_names|token_table")
                    break
            if found:
                break
    if not found:
        raise ProfileError("kallsyms_num_syms/kallsyms_names not found: unknown kallsyms layout")
    numq, names_start, num, layout = found

    names = []
    o = names_start
    for _ in range(num):
        ln = d[o]
        if ln & 0x80:
            ln = (ln & 0x7F) | (d[o + 1] << 7)
            o += 1
        names.append("".join(tokens[b] for b in d[o + 1:o + 1 + ln]))
        o += 1 + ln
    text = elf.section(".text")

    def addresses(rb_off: int, offs_start: int) -> Optional[List[int]]:
        if offs_start < base or rb_off + ps > end:
            return None
        (rb,) = struct.unpack_from("<" + elf.ptr, d, rb_off)
        offs = struct.unpack_from("<%di" % num, d, offs_start)
        if any(v < 0 for v in offs):
            # KALLSYMS_ABSOLUTE_PERCPU (x86_64 SMP): a positive offset is an
            # absolute (per-cpu, zero-based) address, a negative one is
            # relative to relative_base - 1 (kernel/kallsyms.c)
            addrs = [v if v >= 0 else rb - 1 - v for v in offs]
        else:
            addrs = [rb + v for v in offs]
        # check: _text/_stext (when present) is the start of .text
        if text is not None:
            for anchor in ("_stext", "_text"):
                if anchor in names:
                    return addrs if addrs[names.index(anchor)] in (text.addr, text.addr & ~0xFFF) else None
        return addrs

    addrs = None
    # <= 6.3: offsets[num], relative_base, num_syms
    rb_off = (numq - ps) // ps * ps
    for cand_rb in (rb_off, rb_off - ps):
        for offs in (cand_rb - 4 * num, cand_rb - 4 * num - 4):
            addrs = addresses(cand_rb, offs)
            if addrs:
                break
        if addrs:
            break
    if addrs is None:
        # 6.4+: offsets[num] then relative_base after the token index
        offs = align(tidx + 512)
        addrs = addresses(align(offs + 4 * num), offs)
        layout += "|offsets_after"
    if addrs is None:
        raise ProfileError("kallsyms_offsets/kallsyms_relative_base not found: unknown kallsyms layout")
    return Kallsyms([(a, n[:1], n[1:]) for a, n in zip(addrs, names)], layout)


# ------------------------------------------------------------------- syscalls

def _is_entry(name: str) -> bool:
    return (name.startswith(("__ia32_sys_", "__x64_sys_", "__ia32_compat_sys_", "__x32_compat_sys_"))
            or name == "sys_ni_syscall")


def find_sys_call_table(elf: ELF, kallsyms: Sequence[Tuple[int, str, str]],
                        prefix: str) -> Tuple[int, List[str]]:
    """(address, entry names) of the system call table: the longest run of
    pointers in .rodata/.data that all hit ``<prefix>sys_*`` or
    ``sys_ni_syscall`` text symbols.  ``prefix``: "__ia32_" or "__x64_"."""
    by_addr: Dict[int, str] = {}
    for a, _t, n in kallsyms:
        if n.startswith(prefix + "sys_") or n == "sys_ni_syscall":
            # prefer the real entry over an alias (several names, one address)
            if a not in by_addr or by_addr[a] == "sys_ni_syscall":
                by_addr[a] = n
    best: Tuple[int, int] = (0, 0)
    ps = elf.psize
    for secname in (".rodata", ".data"):
        s = elf.section(secname)
        if s is None or s.type == SHT_NOBITS:
            continue
        count_ = s.size // ps
        vals = struct.unpack_from("<%d%s" % (count_, elf.ptr), elf.data, s.offset)
        run = 0
        for i, v in enumerate(vals):
            if v in by_addr:
                run += 1
                if run > best[0]:
                    best = (run, s.addr + (i - run + 1) * ps)
            else:
                run = 0
    count, va = best
    if count < 16:
        return 0, []
    names = []
    for i in range(count):
        v = elf.read_ptr(va + i * ps)
        names.append(by_addr[v] if v is not None else "sys_ni_syscall")
    return va, names


class SyscallMeta(NamedTuple):
    name: str                      # "sys_openat"
    args: List[Tuple[str, str]]    # [(type, name), ...]


def find_syscall_metadata(elf: ELF, layout: Dict[str, int], size: int) -> Dict[str, SyscallMeta]:
    """FTRACE_SYSCALLS ``struct syscall_metadata`` records in .data: name ->
    metadata.  ``layout``: offsets of name, syscall_nr, nb_args, types, args
    (from the BTF); ``size``: sizeof(struct syscall_metadata).

    A record is recognised by ``syscall_nr == -1`` (set at boot), ``0 <= nb_args
    <= 6`` and a name pointer into .rodata naming ``sys_*``.
    """
    ro = elf.section(".rodata")
    out: Dict[str, SyscallMeta] = {}
    if ro is None:
        return out
    ps = elf.psize
    need = ("name", "syscall_nr", "nb_args", "types", "args")
    if any(k not in layout for k in need) or size <= 0:
        return out
    o_name, o_nr, o_nb, o_types, o_args = (layout[k] for k in need)
    if o_nb != o_nr + 4:
        return out
    pat = re.compile(re.escape(b"\xff\xff\xff\xff") + b"[\x00-\x06]\x00\x00\x00", re.S)
    for secname in (".data", ".init.data"):
        s = elf.section(secname)
        if s is None or s.type == SHT_NOBITS:
            continue
        d = elf.data
        for mo in pat.finditer(d, s.offset, s.offset + s.size):
            p = mo.start() - o_nr
            if p < s.offset or (p - s.offset) % 4 or p + size > s.offset + s.size:
                continue
            nb = d[mo.start() + 4]
            (name_va,) = struct.unpack_from("<" + elf.ptr, d, p + o_name)
            if not ro.addr <= name_va < ro.addr + ro.size:
                continue
            name = elf.cstr(name_va)
            if not name or not name.startswith("sys_"):
                continue
            (tp,) = struct.unpack_from("<" + elf.ptr, d, p + o_types)
            (ap,) = struct.unpack_from("<" + elf.ptr, d, p + o_args)
            args: List[Tuple[str, str]] = []
            for i in range(nb):
                t_va, a_va = elf.read_ptr(tp + i * ps), elf.read_ptr(ap + i * ps)
                t = elf.cstr(t_va) if t_va is not None else None
                a = elf.cstr(a_va) if a_va is not None else None
                if t is None or a is None:
                    break
                args.append((t, a))
            if len(args) == nb:
                out.setdefault(name, SyscallMeta(name, args))
    return out


def find_banner(elf: ELF) -> Optional[Tuple[int, str]]:
    """(link address, text) of the ``linux_banner`` string in .rodata."""
    ro = elf.section(".rodata")
    if ro is None or ro.type == SHT_NOBITS:
        return None
    d = elf.data
    pos = ro.offset
    while True:
        i = d.find(b"Linux version ", pos, ro.offset + ro.size)
        if i < 0:
            return None
        e = d.find(b"\0", i, i + 1024)
        # linux_banner ends in a newline; the "%s version %s" printk formats do not
        if e > 0 and d[e - 1:e] == b"\n" and b"%" not in d[i:e]:
            return ro.addr + i - ro.offset, d[i:e].decode("latin1")
        pos = i + 1


__all__ = ["load_vmlinux", "bzimage_payload", "bzimage_version", "ELF", "Section", "parse_ksymtab",
           "find_kallsyms", "Kallsyms", "find_sys_call_table", "find_syscall_metadata", "SyscallMeta",
           "find_banner"]
