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
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_void_p
from typing import Any, Callable, Dict, Optional, Tuple

from . import _abi
from ._ctype_names import C_SCALARS, PANDA_EXTRA_TYPEDEFS
from .errors import CallbackError


# The ABI's structs and opaque types, generated from the headers.
CPUState = _abi.CPUState
TranslationBlock = _abi.TranslationBlock
Monitor = _abi.Monitor
MachineState = _abi.MachineState


def _scalars() -> Dict[str, Any]:
    """C spellings -> ctypes: the standard names, PANDA's, and the ABI's
    typedefs and enums.  Guest addresses are 64-bit in the ABI (types.h)."""
    table: Dict[str, Any] = {c: None if name is None else getattr(ctypes, name)
                             for c, name in C_SCALARS.items()}
    for alias, target in {**PANDA_EXTRA_TYPEDEFS, **_abi.TYPEDEFS}.items():
        table[alias] = table[target]
    for enum in _abi.ENUMS:
        table[enum] = ctypes.c_int
    return table


_SCALARS = _scalars()
_STRUCTS: Dict[str, Any] = {**_abi.STRUCTS, **_abi.OPAQUE_TYPES}


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
