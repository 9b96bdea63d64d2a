"""A small BTF reader: struct layouts, array lengths, enums and per-cpu variables.

BTF (the kernel's Documentation/bpf/btf.rst) is a header ``{u16 magic 0xeB9F,
u8 version, u8 flags, u32 hdr_len, u32 type_off, type_len, str_off,
str_len}`` (offsets from the end of the header), then type records
``{u32 name_off, u32 info (vlen | kind << 24 | kind_flag << 31), u32
size_or_type}`` each followed by kind-specific data.  Type id 0 is void; the
others count from 1 in record order.  Read from a vmlinux ``.BTF`` section or
from a file ``pahole --btf_encode_detached`` wrote.
"""
from __future__ import annotations

import struct
from typing import Any, Dict, List, Optional, Tuple

from .errors import ProfileError

INT, PTR, ARRAY, STRUCT, UNION, ENUM, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT = range(1, 12)
FUNC, FUNC_PROTO, VAR, DATASEC, FLOAT, DECL_TAG, TYPE_TAG, ENUM64 = range(12, 20)
#: kinds that only qualify or rename another type
MODIFIERS = (TYPEDEF, VOLATILE, CONST, RESTRICT, TYPE_TAG)
#: bytes of kind-specific data: fixed, and per vlen item
_EXTRA = {INT: (4, 0), ARRAY: (12, 0), STRUCT: (0, 12), UNION: (0, 12), ENUM: (0, 8),
          FUNC_PROTO: (0, 8), VAR: (4, 0), DATASEC: (0, 12), DECL_TAG: (4, 0), ENUM64: (0, 12)}


class BTF:
    """Parsed BTF.  ``types[i]`` is a dict with ``kind``, ``name``, ``st``
    (size or referenced type) and the kind's data (``members`` as (name,
    type, bit offset, bitfield size), ``values``, ``elem``/``nelems``, ``vars``)."""

    def __init__(self, data: bytes, ptr_size: Optional[int] = None) -> None:
        try:
            self._parse(data)
        except (struct.error, IndexError, UnicodeDecodeError) as exc:
            raise ProfileError(f"truncated or corrupt BTF ({exc})") from None
        self.by_name: Dict[Tuple[int, str], int] = {}
        for i, t in enumerate(self.types):
            if t is not None and t["name"]:
                self.by_name.setdefault((t["kind"], t["name"]), i)
        if ptr_size is None:
            lid = self.find(INT, "long unsigned int") or self.find(INT, "long int")
            lt = self.types[lid] if lid else None
            ptr_size = int(lt["st"]) if lt is not None else 8
        self.ptr_size = ptr_size

    def _parse(self, data: bytes) -> None:
        if len(data) < 24:
            raise ProfileError("BTF too short for its header")
        magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = \
            struct.unpack_from("<HBBIIIII", data, 0)
        if magic != 0xEB9F:
            if magic == 0x9FEB:
                raise ProfileError("big-endian BTF is not handled")
            raise ProfileError(f"not BTF: magic {magic:#06x}, expected 0xeb9f")
        if version != 1:
            raise ProfileError(f"BTF version {version} is not handled (1 is)")
        tstart, tend = hdr_len + type_off, hdr_len + type_off + type_len
        sstart, send = hdr_len + str_off, hdr_len + str_off + str_len
        if tend > len(data) or send > len(data) or hdr_len < 24:
            raise ProfileError(f"truncated BTF: {len(data)} bytes, the header says "
                               f"{max(tend, send)}")
        self.strs = data[sstart:send]
        self.types: List[Optional[Dict[str, Any]]] = [None]
        u = struct.unpack_from
        p = tstart
        while p < tend:
            name_off, info, st = u("<III", data, p)
            p += 12
            kind, vlen, kflag = (info >> 24) & 0x1F, info & 0xFFFF, info >> 31
            fixed, per = _EXTRA.get(kind, (0, 0))
            if kind == 0 or kind > ENUM64:
                raise ProfileError(f"unknown BTF kind {kind} at type {len(self.types)}")
            if p + fixed + per * vlen > tend:
                raise ProfileError("truncated BTF type section")
            t: Dict[str, Any] = {"kind": kind, "name": self.string(name_off), "st": st, "kflag": kflag}
            if kind == INT:
                (enc,) = u("<I", data, p)
                t["bits"] = enc & 0xFF
            elif kind == ARRAY:
                t["elem"], t["index"], t["nelems"] = u("<III", data, p)
            elif kind in (STRUCT, UNION):
                ms = []
                for i in range(vlen):
                    mn, mt, mo = u("<III", data, p + 12 * i)
                    if kflag:          # bitfield_size << 24 | bit_offset
                        ms.append((self.string(mn), mt, mo & 0xFFFFFF, mo >> 24))
                    else:
                        ms.append((self.string(mn), mt, mo, 0))
                t["members"] = ms
            elif kind == ENUM:
                t["values"] = [(self.string(n), v) for n, v in
                               (u("<Ii", data, p + 8 * i) for i in range(vlen))]
            elif kind == ENUM64:
                t["values"] = [(self.string(n), lo | hi << 32) for n, lo, hi in
                               (u("<III", data, p + 12 * i) for i in range(vlen))]
            elif kind == FUNC_PROTO:
                t["params"] = [(self.string(n), pt) for n, pt in
                               (u("<II", data, p + 8 * i) for i in range(vlen))]
            elif kind == DATASEC:
                t["vars"] = [u("<III", data, p + 12 * i) for i in range(vlen)]
            p += fixed + per * vlen
            self.types.append(t)
        n = len(self.types)
        for tt in self.types[1:]:
            assert tt is not None
            t = tt
            refs = [t["st"]] if t["kind"] in MODIFIERS + (PTR, VAR, FUNC) else []
            refs += [m[1] for m in t.get("members", ())] + ([t["elem"]] if "elem" in t else [])
            if any(r >= n for r in refs):
                raise ProfileError("corrupt BTF: a type refers to a type id past the last one")

    def string(self, off: int) -> str:
        if off >= len(self.strs):
            raise ProfileError("corrupt BTF: a name offset lies past the string section")
        end = self.strs.find(b"\0", off)
        return self.strs[off:end if end >= 0 else len(self.strs)].decode("utf-8", "replace")

    def find(self, kind: int, name: str) -> Optional[int]:
        return self.by_name.get((kind, name))

    def struct(self, name: str) -> Optional[int]:
        """Type id of ``struct name`` / ``union name`` or of a typedef'd anonymous
        struct (``mm_context_t``); None if absent."""
        r = self.find(STRUCT, name) or self.find(UNION, name)
        if r is None and self.find(TYPEDEF, name):
            r = self.resolve(self.find(TYPEDEF, name) or 0)
            if self.kind(r) not in (STRUCT, UNION):
                return None
        return r

    def kind(self, tid: int) -> int:
        t = self.types[tid] if 0 < tid < len(self.types) else None
        return t["kind"] if t else 0

    def resolve(self, tid: int) -> int:
        """Strip typedefs and qualifiers."""
        for _ in range(64):                     # a cycle is corrupt BTF, not a loop
            if not tid or self.kind(tid) not in MODIFIERS:
                return tid
            tid = self.types[tid]["st"]         # type: ignore[index]
        raise ProfileError("corrupt BTF: a typedef/qualifier cycle")

    def size_of(self, tid: int, depth: int = 0) -> int:
        tid = self.resolve(tid)
        if not tid or depth > 32:
            return 0
        t = self.types[tid]
        assert t is not None
        k = t["kind"]
        if k in (INT, STRUCT, UNION, ENUM, FLOAT, ENUM64, DATASEC):
            return int(t["st"])
        if k == PTR:
            return self.ptr_size
        if k == ARRAY:
            return int(t["nelems"]) * self.size_of(t["elem"], depth + 1)
        return 0

    def member(self, tid: int, name: str, depth: int = 0) -> Optional[Tuple[int, int]]:
        """(byte offset, type id) of member ``name`` of struct/union ``tid``,
        looking inside anonymous members (6.1's mm_struct is one anonymous
        struct); None if absent.  Bitfields give the byte holding their first bit."""
        t = self.types[self.resolve(tid)]
        if t is None or depth > 16:
            return None
        for mn, mt, bitoff, _bsz in t.get("members", ()):
            if mn == name:
                return bitoff // 8, mt
            if not mn:
                r = self.member(mt, name, depth + 1)
                if r is not None:
                    return bitoff // 8 + r[0], r[1]
        return None

    def field(self, path: str) -> Optional[Tuple[int, int, int]]:
        """``"task_struct.pid"`` (or deeper, ``"mm_struct.mm_mt.ma_root"``) ->
        (offset, size, type id), or None when the struct or a member is absent."""
        parts = path.split(".")
        tid = self.struct(parts[0])
        if tid is None or len(parts) < 2:
            return None
        off = 0
        for p in parts[1:]:
            r = self.member(tid, p)
            if r is None:
                return None
            off += r[0]
            tid = r[1]
        return off, self.size_of(tid), tid

    def array_len(self, tid: int) -> Optional[int]:
        tid = self.resolve(tid)
        t = self.types[tid] if tid else None
        return int(t["nelems"]) if t is not None and t["kind"] == ARRAY else None

    def enum(self, name: str) -> Optional[Dict[str, int]]:
        tid = self.find(ENUM, name) or self.find(ENUM64, name)
        if tid is None:
            return None
        t = self.types[tid]
        assert t is not None
        return {n: int(v) for n, v in t["values"]}

    def datasec(self, name: str) -> Dict[str, Tuple[int, int]]:
        """Variables of DATASEC ``name`` (pahole writes ``.data..percpu``):
        {var name: (offset in the section, size)}."""
        out: Dict[str, Tuple[int, int]] = {}
        for t in self.types[1:]:
            if t is not None and t["kind"] == DATASEC and t["name"] == name:
                for vt, off, sz in t["vars"]:
                    v = self.types[vt] if 0 < vt < len(self.types) else None
                    if v is not None and v["kind"] == VAR:
                        out[v["name"]] = (off, sz)
        return out
