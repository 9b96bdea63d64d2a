"""Guest memory from the host: mapping RAM, physical and virtual reads and
writes, address translation."""
from __future__ import annotations

import ctypes
from ctypes import byref, c_uint64
from typing import Any

from ._instance import Instance
from .errors import OptionError

#: what ``fmt=`` accepts
FORMATS = ("bytearray", "bytes", "int", "str", "ptrlist")


class Memory:
    def __init__(self, instance: Instance, register_size: int) -> None:
        self._instance = instance
        self._word = register_size

    def map_memory(self, name: str, size: int, address: int) -> None:
        inst = self._instance
        inst.check(inst.lib.panda_map_memory(inst.handle, name.encode(), size, address))

    def physical_read(self, addr: int, length: int, fmt: str) -> Any:
        inst = self._instance
        buf = ctypes.create_string_buffer(length)
        inst.check(inst.lib.panda_physical_memory_read(inst.handle, addr, buf, length))
        return self.format(buf.raw, fmt)

    def physical_write(self, addr: int, data: bytes) -> None:
        inst = self._instance
        inst.check(inst.lib.panda_physical_memory_write(inst.handle, addr, data, len(data)))

    def virtual_read(self, cpu: Any, addr: int, length: int, fmt: str) -> Any:
        buf = ctypes.create_string_buffer(length)
        self._instance.check(self._instance.lib.panda_virtual_memory_read(cpu, addr, buf, length))
        return self.format(buf.raw, fmt)

    def virtual_write(self, cpu: Any, addr: int, data: bytes) -> None:
        self._instance.check(self._instance.lib.panda_virtual_memory_write(cpu, addr, data, len(data)))

    def virt_to_phys(self, cpu: Any, addr: int) -> int:
        out = c_uint64()
        self._instance.check(self._instance.lib.panda_virt_to_phys(cpu, addr, byref(out)))
        return out.value

    def read_str(self, cpu: Any, ptr: int, max_length: int) -> str:
        out = bytearray()
        while len(out) < max_length:
            chunk = self.virtual_read(cpu, ptr + len(out), min(64, max_length - len(out)), "bytes")
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                break
            out += chunk
        return out.decode(errors="replace")

    def format(self, raw: bytes, fmt: str) -> Any:
        if fmt == "bytearray":
            return bytearray(raw)
        if fmt == "bytes":
            return raw
        if fmt == "int":
            return int.from_bytes(raw, "little")
        if fmt == "str":
            return raw.split(b"\0", 1)[0].decode(errors="replace")
        if fmt == "ptrlist":
            w = self._word
            return [int.from_bytes(raw[i:i + w], "little") for i in range(0, len(raw) - w + 1, w)]
        raise OptionError(f"unknown fmt {fmt!r}: use {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
