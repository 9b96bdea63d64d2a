"""Names pandare scripts import beside ``Panda``: ``blocking`` and ``ffi``.

``from pandare import Panda, blocking, ffi`` ports as ``from pypanda import
Panda, blocking, ffi``.  pypanda hands Python values where pandare hands
cffi objects (strings, ints, None), so ``ffi`` only has to turn them back
into what pandare scripts expect of it.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def blocking(func: F) -> F:
    """pandare's ``@blocking``: marks a function that blocks (types commands,
    waits for output); queue it with ``panda.queue_async`` or
    ``@panda.queue_blocking``."""
    func.__blocking__ = True  # type: ignore[attr-defined]
    return func


class _Ffi:
    """The parts of cffi's ``ffi`` that pandare scripts use on OSI results."""

    NULL: Any = None

    def __getattr__(self, name: str) -> Any:
        # the package attribute pypanda.ffi is this object: the module
        # pypanda.ffi's own names (pyp, CPUState, ...) stay reachable
        import sys
        return getattr(sys.modules["pypanda.ffi"], name)

    @staticmethod
    def string(value: Any, maxlen: int = -1) -> bytes:
        """``ffi.string(x)``: bytes of a name pypanda returned (str or bytes);
        ``ffi.string(None)`` raises TypeError as cffi does for NULL."""
        if value is None:
            raise TypeError("ffi.string() of NULL")
        data = value.encode() if isinstance(value, str) else bytes(value)
        data = data.split(b"\0", 1)[0]
        return data if maxlen < 0 else data[:maxlen]

    @staticmethod
    def cast(ctype: str, value: Any) -> Any:
        """``ffi.cast("int", x)`` and friends on plain ints: masked to the type."""
        t = ctype.replace(" ", "")
        widths = {"char": 8, "short": 16, "int": 32, "long": 32, "longlong": 64,
                  "int8_t": 8, "int16_t": 16, "int32_t": 32, "int64_t": 64}
        signed = not (t.startswith("unsigned") or t.startswith("uint") or "*" in t or t == "size_t")
        base = t.replace("unsigned", "").replace("signed", "") or "int"
        bits = 32 if "*" in t else widths.get(base.replace("u", "", 1) if base.startswith("uint") else base, 64)
        v = int(value) & ((1 << bits) - 1)
        if signed and v >> (bits - 1):
            v -= 1 << bits
        return v


ffi = _Ffi()
