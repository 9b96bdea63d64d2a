"""Names pandare scripts import beside ``Panda``: ``blocking`` and ``ffi``.

``from pandare import Panda, blocking, ffi`` ports as ``from pypanda import
Panda, blocking, ffi``.  pypanda hands Python values where pandare hands
cffi objects (strings, ints, None), so ``ffi`` only has to turn them back
into what pandare scripts expect of it.
"""
from __future__ import annotations

import ctypes
import re
import sys
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def blocking(func: F) -> F:
    """pandare's ``@blocking``: marks a function that blocks (types commands,
    waits for output); queue it with ``panda.queue_async`` or
    ``@panda.queue_blocking``."""
    func.__blocking__ = True  # type: ignore[attr-defined]
    return func


_ARRAY = re.compile(r"^(?P<base>.+?)\s*\[\s*(?P<n>\d*)\s*\]$")


def _ctype(ctype: Any) -> Any:
    """A C type name as pandare writes it ("int", "uint8_t *", "char[16]",
    "CPUState *") -> its ctypes type; ctypes types pass through."""
    if not isinstance(ctype, str):
        return ctype
    from .ffi import _ctype_of
    m = _ARRAY.match(ctype.strip())
    if m:
        base = _ctype_of(m.group("base"))
        return base * int(m.group("n")) if m.group("n") else ctypes.POINTER(base)
    return _ctype_of(ctype)


class _Ffi:
    """The parts of cffi's ``ffi`` that pandare scripts use, over ctypes.

    pypanda hands Python values where pandare hands cdata (names as str,
    addresses as int, None for NULL), so most of these take either."""

    NULL: Any = None

    def __getattr__(self, name: str) -> Any:
        # the package attribute pypanda.ffi is this object: the module
        # pypanda.ffi's own names (pyp, CPUState, ...) stay reachable
        return getattr(sys.modules["pypanda.ffi"], name)

    @staticmethod
    def string(value: Any, maxlen: int = -1) -> bytes:
        """``ffi.string(x)``: the bytes up to the first NUL of a name pypanda
        returned (str or bytes) or of a ctypes char array or pointer;
        ``ffi.string(None)`` raises TypeError as cffi does for NULL."""
        if value is None:
            raise TypeError("ffi.string() of NULL")
        if isinstance(value, ctypes._Pointer):  # type: ignore[attr-defined]
            if not value:
                raise TypeError("ffi.string() of NULL")
            value = ctypes.string_at(value, maxlen) if maxlen >= 0 else ctypes.string_at(value)
        elif isinstance(value, ctypes.Array):
            value = bytes(value)
        elif isinstance(value, ctypes.c_char_p):
            value = value.value or b""
        data = value.encode() if isinstance(value, str) else bytes(value)
        data = data.split(b"\0", 1)[0]
        return data if maxlen < 0 else data[:maxlen]

    @staticmethod
    def cast(ctype: str, value: Any) -> Any:
        """``ffi.cast("int", x)``: an int masked (and sign-extended) to the
        type; ``ffi.cast("CPUState *", p)``: a typed ctypes pointer."""
        t = ctype.replace(" ", "")
        if "*" in t and not isinstance(value, int):
            return ctypes.cast(value, _ctype(ctype))
        widths = {"char": 8, "short": 16, "int": 32, "long": 32, "longlong": 64,
                  "int8_t": 8, "int16_t": 16, "int32_t": 32, "int64_t": 64}
        signed = not (t.startswith("unsigned") or t.startswith("uint") or "*" in t or t == "size_t"
                      or t in ("target_ulong", "target_ptr_t", "hwaddr", "bool", "_Bool"))
        base = t.replace("unsigned", "").replace("signed", "") or "int"
        bits = 32 if "*" in t else widths.get(base.replace("u", "", 1) if base.startswith("uint") else base, 64)
        v = int(value) & ((1 << bits) - 1)
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return v

    @staticmethod
    def new(ctype: str, init: Any = None) -> Any:
        """``ffi.new("int *")``, ``ffi.new("char[]", b"abc")``,
        ``ffi.new("uint8_t[16]")``: zeroed ctypes memory the caller owns."""
        m = _ARRAY.match(ctype.strip())
        if m:
            base = _ctype(m.group("base"))
            if m.group("n"):
                n = int(m.group("n"))
            elif isinstance(init, (bytes, str)):
                n = len(init) + 1
            elif init is not None:
                n = init if isinstance(init, int) else len(init)
            else:
                raise TypeError(f"ffi.new({ctype!r}) needs a length or an initializer")
            arr = (base * n)()
            if isinstance(init, (bytes, str)):
                raw = init.encode() if isinstance(init, str) else init
                ctypes.memmove(arr, raw, min(len(raw), ctypes.sizeof(arr)))
            elif init is not None and not isinstance(init, int):
                for i, v in enumerate(init):
                    arr[i] = v
            return arr
        target = _ctype(ctype)
        if not (isinstance(target, type) and issubclass(target, ctypes._Pointer)):  # type: ignore[attr-defined]
            raise TypeError(f"ffi.new({ctype!r}): give a pointer or array type, as cffi wants")
        obj = target._type_()
        if init is not None:
            if isinstance(obj, ctypes.Structure):
                for k, v in (init.items() if isinstance(init, dict) else []):
                    setattr(obj, k, v)
            else:
                obj.value = init
        return ctypes.pointer(obj)

    @staticmethod
    def sizeof(ctype: Any) -> int:
        """``ffi.sizeof("int")`` or of a ctypes object."""
        if isinstance(ctype, str):
            return ctypes.sizeof(_ctype(ctype))
        return ctypes.sizeof(ctype)

    @staticmethod
    def typeof(ctype: Any) -> Any:
        """The ctypes type of a C type name, or of a ctypes object."""
        return _ctype(ctype) if isinstance(ctype, str) else type(ctype)

    @staticmethod
    def buffer(cdata: Any, size: int = -1) -> memoryview:
        """The bytes of ctypes memory (``size`` bytes from a pointer)."""
        if isinstance(cdata, ctypes._Pointer):  # type: ignore[attr-defined]
            if size < 0:
                size = ctypes.sizeof(cdata._type_)
            return memoryview(ctypes.string_at(cdata, size))
        view = memoryview(cdata).cast("B")
        return view if size < 0 else view[:size]

    @staticmethod
    def from_buffer(data: Any, require_writable: bool = False) -> Any:
        """A ctypes byte array over (a copy of, for read-only data) ``data``."""
        if isinstance(data, bytearray) or require_writable:
            return (ctypes.c_uint8 * len(data)).from_buffer(data)
        return (ctypes.c_uint8 * len(data)).from_buffer_copy(data)

    @staticmethod
    def unpack(cdata: Any, length: int) -> Any:
        """``length`` items from ctypes memory: bytes for char arrays or
        pointers, else a list."""
        if isinstance(cdata, ctypes._Pointer):  # type: ignore[attr-defined]
            item = cdata._type_
        elif isinstance(cdata, ctypes.Array):
            item = cdata._type_
        else:
            raise TypeError(f"ffi.unpack: {cdata!r} is not a pointer or array")
        if item in (ctypes.c_char, ctypes.c_uint8, ctypes.c_int8):
            return ctypes.string_at(ctypes.addressof(cdata.contents) if isinstance(cdata, ctypes._Pointer)  # type: ignore[attr-defined]
                                    else ctypes.addressof(cdata), length)
        return [cdata[i] for i in range(length)]


ffi = _Ffi()
