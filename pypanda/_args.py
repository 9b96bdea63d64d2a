"""Checking arguments before they reach C, where ctypes would silently
truncate them: an int too wide for its C type is masked, and a string with
an embedded NUL is cut at it.  Each check names the argument it refuses."""
from __future__ import annotations

import os
from typing import Type, Union

from .errors import ArgumentError, PandaError

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


def c_string(value: Union[str, bytes], what: str, error: Type[PandaError] = ArgumentError) -> bytes:
    """``value`` encoded for a ``const char*``; ``error`` (a ValueError
    subclass) if it is no string or holds a NUL, which C would stop at."""
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, bytes):
        data = value
    else:
        raise error(f"{what} must be a string, not {type(value).__name__} {value!r}")
    if b"\0" in data:
        raise error(f"{what} {value!r} contains a NUL character, which C would cut it at")
    return data


def c_path(path: PathLike, what: str = "path") -> bytes:
    """A file name for C: os.fsencode, refusing embedded NULs."""
    try:
        data = os.fsencode(path)
    except TypeError:
        raise ArgumentError(f"{what} must be a path, not {type(path).__name__} {path!r}") from None
    if b"\0" in data:
        raise ArgumentError(f"{what} {path!r} contains a NUL character, which C would cut it at")
    if not data:
        raise ArgumentError(f"{what} is empty")
    return data


def integer(value: object, what: str) -> int:
    """``value`` as an int (bools and floats are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ArgumentError(f"{what} must be an int, not {type(value).__name__} {value!r}")
    return value


def address_range(addr: object, length: object, bits: int, what: str) -> int:
    """Check a ``[addr, addr+length)`` range in a ``bits``-bit address space;
    returns ``length``."""
    a = integer(addr, f"{what}: the address")
    n = integer(length, f"{what}: the length")
    top = 1 << bits
    if n < 0:
        raise ArgumentError(f"{what}: the length {n} is negative")
    if not 0 <= a < top:
        raise ArgumentError(f"{what}: address {a:#x} is out of range for a {bits}-bit address "
                            f"(0 .. {top - 1:#x})")
    if a + n > top:
        raise ArgumentError(f"{what}: {n} bytes at {a:#x} run past the end of the {bits}-bit "
                            f"address space ({top - 1:#x})")
    return n


def unsigned(value: object, bits: int, what: str) -> int:
    """An int in 0 .. 2**bits - 1."""
    v = integer(value, what)
    if not 0 <= v < 1 << bits:
        raise ArgumentError(f"{what} {v:#x} is out of range (0 .. {(1 << bits) - 1:#x})")
    return v
