"""C types of the public ABI, and ``pyp.callback``: C signatures to ctypes.

``pyp.callback("int(CPUState*, TranslationBlock*)")`` parses a C function
signature and returns a decorator that turns a Python function into a C
function pointer of that type (a ctypes ``CFUNCTYPE`` instance), the way the
original pypanda used cffi's ``ffi.callback``.  The returned object
remembers its signature, so ``register_callback`` can refuse one that does
not fit the callback type.  An exception raised by the Python function is
caught at the C boundary, stops the run, and is re-raised by the call that
made the C side fire it (``run()``, ``load_snapshot``, ``run_monitor_cmd``,
...).  So is a return value C cannot take (``"abc"``, ``1.5``, ``2**80``):
a :class:`~pypanda.errors.CallbackError` naming the callback and the value.
"""
from __future__ import annotations

import ctypes
import re
import sys
import threading
import traceback
from ctypes import CFUNCTYPE, POINTER, c_char_p, c_void_p
from typing import Any, Callable, Dict, Tuple

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
    """Per thread: the instance whose run() is on this thread (``running``),
    and the one whose synchronous C call, which may fire callbacks (a
    snapshot load, a monitor command while stopped, a plugin's init), is on
    this thread (``calling``)."""

    running: Any = None
    calling: Any = None


callback_state = _CallbackState()


def _callback_failed(exc: BaseException) -> None:
    st = callback_state
    inst = st.running if st.running is not None else st.calling
    if inst is not None:
        inst.callback_failed(exc)
        return
    # no pypanda call is under way on this thread: nobody could re-raise it
    print("pypanda: a callback raised outside run() and every pypanda call; it is lost:",
          file=sys.stderr)
    traceback.print_exception(type(exc), exc, exc.__traceback__)


def _result_check(restype: Any, label: str) -> Callable[[Any], Any]:
    """What a Python callback's return value becomes for C: a function that
    returns it converted, or raises CallbackError naming ``label`` and the
    value, where ctypes would print "Exception ignored" and return 0."""
    if restype is None:
        return lambda result: None
    if restype is ctypes.c_bool:
        def as_bool(result: Any) -> Any:
            if isinstance(result, int):
                return bool(result)
            raise CallbackError(f"{label} returned {result!r}: it must return a bool (or None for false)")
        return as_bool
    if restype in _INT_RESULTS:
        bits = 8 * ctypes.sizeof(restype)
        lo, hi = -(1 << (bits - 1)), (1 << bits) - 1

        def as_int(result: Any) -> Any:
            if isinstance(result, int) and lo <= result <= hi:
                return int(result)
            raise CallbackError(f"{label} returned {result!r}: it must return an int of "
                                f"{bits} bits ({lo} .. {hi}), or None for 0")
        return as_int
    return lambda result: result


_INT_RESULTS = {ctypes.c_int8, ctypes.c_int16, ctypes.c_int32, ctypes.c_int64, ctypes.c_uint8,
                ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int, ctypes.c_uint,
                ctypes.c_long, ctypes.c_ulong, ctypes.c_longlong, ctypes.c_ulonglong,
                ctypes.c_size_t, ctypes.c_ssize_t}


_FIELD_POINTERS: Dict[Any, Any] = {}


def field_pointer(ptr_type: Any) -> Any:
    """``POINTER(S)`` for a struct S with fields -> the same pointer type whose
    instances also read S's fields directly (``tb.pc`` as pandare's cffi
    objects do, besides ``tb.contents.pc``); other types unchanged.  A NULL
    pointer's fields raise ValueError, as ``.contents`` does."""
    target = getattr(ptr_type, "_type_", None)
    if not (isinstance(ptr_type, type) and issubclass(ptr_type, ctypes._Pointer)  # type: ignore[attr-defined]
            and isinstance(target, type) and issubclass(target, ctypes.Structure)
            and getattr(target, "_fields_", None)):
        return ptr_type
    cls = _FIELD_POINTERS.get(ptr_type)
    if cls is None:
        fields = {f[0] for f in target._fields_}

        def __getattr__(self: Any, name: str) -> Any:
            if name in fields:
                return getattr(self.contents, name)
            raise AttributeError(f"{target.__name__}* has no field {name!r} "
                                 f"(fields: {', '.join(sorted(fields))})")

        def __setattr__(self: Any, name: str, value: Any) -> None:
            if name in fields:
                raise AttributeError(f"{target.__name__}.{name} is read-only here")
            object.__setattr__(self, name, value)

        # a subclass of POINTER(S) (isinstance checks hold); ctypes needs
        # _type_ named again in a pointer subclass
        cls = type(f"{target.__name__}Pointer", (ptr_type,),
                   {"_type_": target, "__getattr__": __getattr__, "__setattr__": __setattr__})
        _FIELD_POINTERS[ptr_type] = cls
    return cls


def wrap(fn: Callable[..., Any], restype: Any, argtypes: Tuple[Any, ...], kind: str = "",
         fields: bool = True) -> Any:
    """Make a C function pointer calling ``fn``; see the module docstring.
    ``kind`` (e.g. the callback type's name) is how error messages call it.
    Struct pointers reach ``fn`` as :func:`field_pointer` types unless
    ``fields`` is false (a trampoline that must be exactly the ABI's
    function type)."""
    proto = CFUNCTYPE(restype, *[field_pointer(t) if fields else t for t in argtypes])
    default = None if restype is None else 0
    label = f"the {kind} callback {getattr(fn, '__name__', repr(fn))!r}".replace("  ", " ")
    convert = _result_check(restype, label)

    def thunk(*args: Any) -> Any:
        try:
            result = fn(*args)
            return default if result is None else convert(result)
        except BaseException as exc:  # noqa: B902 - re-raised by the call that fired it
            _callback_failed(exc)
            return default

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
            cfn = wrap(fn, restype, argtypes, signature)
            cfn.signature = signature
            return cfn

        return decorate

    def cast(self, ctype: str, value: Any) -> Any:
        """``pyp.cast("CPUState*", ptr)`` -> a typed ctypes pointer."""
        return ctypes.cast(value, _ctype_of(ctype))


pyp = _Pyp()
