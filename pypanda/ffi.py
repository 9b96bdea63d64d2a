"""C types of the public ABI, and ``pyp.callback``: C signatures to ctypes.

``pyp.callback("int(CPUState*, TranslationBlock*)")`` parses a C function
signature and returns a decorator that turns a Python function into a C
function pointer of that type (a ctypes ``CFUNCTYPE`` instance), the way the
original pypanda used cffi's ``ffi.callback``.  The returned object
remembers its signature, so ``register_callback`` can refuse one that does
not fit the callback type.  An exception raised by the Python function is
caught at the C boundary, stops the run, and is re-raised by ``run()``.
"""
from __future__ import annotations

import ctypes
import re
import threading
import traceback
from ctypes import (CFUNCTYPE, POINTER, Structure, c_bool, c_char_p, c_int8,
                    c_int16, c_int32, c_int64, c_uint8, c_uint16, c_uint32,
                    c_uint64, c_void_p)
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import CallbackError


class CPUState(Structure):
    """The CPU a callback runs on (libpanda/include/panda/types.h).

    Pass it to ``panda.arch.get_reg``/``set_reg``; its fields are read-only.
    """

    _fields_ = [
        ("struct_size", c_uint32),
        ("cpu_index", c_uint32),
        ("panda", c_void_p),
        ("env_ptr", c_void_p),
        ("reserved", c_uint64 * 4),
    ]


class TranslationBlock(Structure):
    """A block of translated guest code; valid during the callback only."""

    _fields_ = [
        ("pc", c_uint64),
        ("cs_base", c_uint64),
        ("flags", c_uint32),
        ("size", c_uint32),
        ("icount", c_uint32),
        ("reserved", c_uint32),
        ("engine_tb", c_void_p),
    ]


class _Opaque(Structure):
    _fields_ = []  # type: ignore[var-annotated]


class Monitor(_Opaque):
    """Opaque: the monitor a command came from."""


class MachineState(_Opaque):
    """Opaque: the machine being built."""


# C spellings -> ctypes.  Guest addresses are 64-bit in the ABI (types.h).
_SCALARS: Dict[str, Any] = {
    "void": None,
    "bool": c_bool, "_Bool": c_bool,
    "char": ctypes.c_char, "signed char": c_int8, "unsigned char": c_uint8,
    "short": c_int16, "unsigned short": c_uint16,
    "int": ctypes.c_int, "signed": ctypes.c_int, "signed int": ctypes.c_int,
    "unsigned": ctypes.c_uint, "unsigned int": ctypes.c_uint,
    "long": ctypes.c_long, "unsigned long": ctypes.c_ulong,
    "long long": ctypes.c_longlong, "unsigned long long": ctypes.c_ulonglong,
    "int8_t": c_int8, "int16_t": c_int16, "int32_t": c_int32, "int64_t": c_int64,
    "uint8_t": c_uint8, "uint16_t": c_uint16, "uint32_t": c_uint32, "uint64_t": c_uint64,
    "size_t": ctypes.c_size_t, "ssize_t": ctypes.c_ssize_t,
    "uintptr_t": ctypes.c_size_t,
    "target_ulong": c_uint64, "target_long": c_int64, "target_ptr_t": c_uint64,
    "hwaddr": c_uint64, "ram_addr_t": c_uint64,
    "panda_cb_type": ctypes.c_int,
}
_STRUCTS: Dict[str, Any] = {
    "CPUState": CPUState,
    "TranslationBlock": TranslationBlock,
    "Monitor": Monitor,
    "MachineState": MachineState,
}


def _ctype_of(text: str) -> Any:
    """One C type (an optional parameter name is ignored) -> ctypes type."""
    t = re.sub(r"\b(const|volatile|struct|restrict)\b", " ", text).replace("*", " * ")
    tokens = t.split()
    if tokens and tokens[-1] != "*" and "*" in tokens:
        tokens = tokens[:-1]  # "CPUState *env": drop the parameter name
    stars = tokens.count("*")
    words = [w for w in tokens if w != "*"]
    base = " ".join(words)
    if not stars and len(words) > 1 and base not in _SCALARS and " ".join(words[:-1]) in {**_SCALARS, **_STRUCTS}:
        base = " ".join(words[:-1])  # "uint8_t value"
    if base in _STRUCTS:
        if stars == 0:
            raise CallbackError(f"struct {base} is passed by pointer: write '{base}*'")
        ty = POINTER(_STRUCTS[base])
        stars -= 1
    elif base in _SCALARS:
        ty = _SCALARS[base]
        if ty is None:  # void
            if stars == 0:
                return None
            ty = c_void_p
            stars -= 1
        elif ty is ctypes.c_char and stars:
            ty = c_char_p
            stars -= 1
    else:
        raise CallbackError(f"unknown C type {base!r} in a callback signature")
    for _ in range(stars):
        ty = POINTER(ty) if ty is not c_void_p else POINTER(c_void_p)
    return ty


_SIG = re.compile(r"^\s*(?P<ret>[^()]+?)\s*\(\s*(?P<args>[^()]*)\s*\)\s*$")


def parse_signature(sig: str) -> Tuple[Any, Tuple[Any, ...]]:
    """``"int(CPUState*, TranslationBlock*)"`` -> (restype, argtypes)."""
    m = _SIG.match(sig)
    if not m:
        raise CallbackError(f"not a C function signature: {sig!r} (expected e.g. 'int(CPUState*, TranslationBlock*)')")
    ret = _ctype_of(m.group("ret"))
    args_text = m.group("args").strip()
    if args_text in ("", "void"):
        return ret, ()
    return ret, tuple(_ctype_of(a) for a in args_text.split(","))


# ---- exceptions raised inside callbacks ------------------------------------

class _CallbackState(threading.local):
    """Per thread: the Panda whose run() is on this thread, and the first
    exception a callback raised that has not been re-raised yet."""

    running: Any = None
    pending: Optional[BaseException] = None


callback_state = _CallbackState()


def _callback_failed(exc: BaseException) -> None:
    st = callback_state
    if st.running is not None and not st.running.catch_exceptions:
        # Panda(catch_exceptions=False): report and carry on
        traceback.print_exception(type(exc), exc, exc.__traceback__)
        return
    if st.pending is None:
        st.pending = exc
    if st.running is not None:
        st.running.end_analysis()


def take_pending_exception() -> Optional[BaseException]:
    exc, callback_state.pending = callback_state.pending, None
    return exc


def wrap(fn: Callable[..., Any], restype: Any, argtypes: Tuple[Any, ...]) -> Any:
    """Make a C function pointer calling ``fn``; see the module docstring."""
    proto = CFUNCTYPE(restype, *argtypes)
    default = None if restype is None else 0

    def thunk(*args: Any) -> Any:
        try:
            result = fn(*args)
        except BaseException as exc:  # noqa: B902 - reported by run()
            _callback_failed(exc)
            return default
        return default if result is None else result

    cfn: Any = proto(thunk)
    # remembered for register_callback's signature check
    cfn.restype_ = restype
    cfn.argtypes_ = argtypes
    cfn.pyfunc = fn
    return cfn


class _Pyp:
    """The module-level ``pyp`` object of the original pypanda."""

    def callback(self, signature: str) -> Callable[[Callable[..., Any]], Any]:
        """Decorator: a Python function as a C function of ``signature``."""
        restype, argtypes = parse_signature(signature)

        def decorate(fn: Callable[..., Any]) -> Any:
            cfn = wrap(fn, restype, argtypes)
            cfn.signature = signature
            return cfn

        return decorate

    def cast(self, ctype: str, value: Any) -> Any:
        """``pyp.cast("CPUState*", ptr)`` -> a typed ctypes pointer."""
        return ctypes.cast(value, _ctype_of(ctype))


pyp = _Pyp()
