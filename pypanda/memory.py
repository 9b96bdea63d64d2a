"""Guest memory from the host: mapping RAM, physical and virtual reads and
writes, address translation.  Addresses and lengths are checked before
they reach C: a physical address is 64 bits, a virtual one as wide as the
guest's word (32 bits on i386); an address or a range beyond that, a
negative length or a name with a NUL raises ArgumentError."""
from __future__ import annotations

import ctypes
from ctypes import byref, c_uint64
from typing import Any

from ._args import address_range, c_string, integer, unsigned
from ._instance import Instance
from .errors import ArgumentError, OptionError

#: what ``fmt=`` accepts
FORMATS = ("bytearray", "bytes", "int", "str", "ptrlist")

PHYS_BITS = 64   # hwaddr


class Memory:
    def __init__(self, instance: Instance, register_size: int, bits: int) -> None:
        self._instance = instance
        self._word = register_size
        self._bits = bits              # a guest virtual address's width

    def map_memory(self, name: str, size: int, address: int) -> None:
        inst = self._instance
        cname = c_string(name, "map_memory: the name")
        size = unsigned(size, PHYS_BITS, "map_memory: the size")
        address = unsigned(address, PHYS_BITS, "map_memory: the address")
        inst.check(inst.lib.panda_map_memory(inst.handle, cname, size, address))

    def physical_read(self, addr: int, length: int, fmt: str) -> Any:
        inst = self._instance
        length = address_range(addr, length, PHYS_BITS, "physical_memory_read")
        buf = ctypes.create_string_buffer(length)
        inst.check(inst.lib.panda_physical_memory_read(inst.handle, addr, buf, length))
        return self.format(buf.raw, fmt)

    def physical_write(self, addr: int, data: bytes) -> None:
        inst = self._instance
        address_range(addr, len(data), PHYS_BITS, "physical_memory_write")
        inst.check(inst.lib.panda_physical_memory_write(inst.handle, addr, data, len(data)))

    def virtual_read(self, cpu: Any, addr: int, length: int, fmt: str) -> Any:
        inst = self._instance
        cpu = inst.cpu_arg(cpu, "virtual_memory_read")
        length = address_range(addr, length, self._bits, "virtual_memory_read")
        buf = ctypes.create_string_buffer(length)
        inst.check(inst.lib.panda_virtual_memory_read(cpu, addr, buf, length))
        return self.format(buf.raw, fmt)

    def virtual_write(self, cpu: Any, addr: int, data: bytes) -> None:
        inst = self._instance
        cpu = inst.cpu_arg(cpu, "virtual_memory_write")
        address_range(addr, len(data), self._bits, "virtual_memory_write")
        inst.check(inst.lib.panda_virtual_memory_write(cpu, addr, data, len(data)))

    def virt_to_phys(self, cpu: Any, addr: int) -> int:
        inst = self._instance
        cpu = inst.cpu_arg(cpu, "virt_to_phys")
        addr = unsigned(addr, self._bits, "virt_to_phys: the address")
        out = c_uint64()
        inst.check(inst.lib.panda_virt_to_phys(cpu, addr, byref(out)))
        return out.value

    def read_str(self, cpu: Any, ptr: int, max_length: int) -> str:
        max_length = integer(max_length, "read_str: max_length")
        if max_length < 0:
            raise ArgumentError(f"read_str: max_length {max_length} is negative")
        unsigned(ptr, self._bits, "read_str: the address")
        out = bytearray()
        while len(out) < max_length:
            # stop at the top of the address space rather than wrap around
            # 64 bytes first (most strings are short), then a page at a time,
            # never across a page boundary (the next page may be unmapped
            # when the NUL is on this one)
            at = ptr + len(out)
            n = min(64 if len(out) < 64 else 4096, 0x1000 - (at & 0xfff), max_length - len(out),
                    (1 << self._bits) - at)
            if n <= 0:
                break
            chunk = self.virtual_read(cpu, ptr + len(out), n, "bytes")
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                break
            out += chunk
        return out.decode(errors="replace")

    def format(self, raw: bytes, fmt: str) -> Any:
        # pandare's formats: "bytearray" (its default) hands the bytes as
        # cffi's unpack does, immutable; "str" the bytes before the first NUL
        if fmt in ("bytearray", "bytes"):
            return raw
        if fmt == "int":
            return int.from_bytes(raw, "little")
        if fmt == "str":
            return raw.split(b"\0", 1)[0]
        if fmt == "ptrlist":
            w = self._word
            return [int.from_bytes(raw[i:i + w], "little") for i in range(0, len(raw) - w + 1, w)]
        raise OptionError(f"unknown fmt {fmt!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
