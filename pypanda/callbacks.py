"""The callback types: PANDA's numbering, names and C signatures.

They come from ``PANDA_CALLBACKS`` in libpanda/include/panda/callbacks.h,
through the generated ``_abi.CALLBACKS``.

``panda.callback.<name>`` is a :class:`CallbackType`.  It is the key given
to ``register_callback`` and also a decorator that makes a C function of the
right type from a Python function (as cffi callback types did in the
original pypanda)::

    @panda.callback.before_block_exec
    def bbe(cpu, tb): ...
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from . import _abi
from .errors import CallbackError
from .ffi import parse_signature, wrap

#: The 35 types of the original pypanda's table (plus its ``init``).
SEED_CALLBACKS = (
    "before_block_translate", "after_block_translate", "before_block_exec_invalidate_opt",
    "before_block_exec", "after_block_exec", "insn_translate", "insn_exec",
    "after_insn_translate", "after_insn_exec", "virt_mem_before_read",
    "virt_mem_before_write", "phys_mem_before_read", "phys_mem_before_write",
    "virt_mem_after_read", "virt_mem_after_write", "phys_mem_after_read",
    "phys_mem_after_write", "hd_read", "hd_write", "guest_hypercall", "monitor",
    "cpu_restore_state", "before_loadvm", "asid_changed", "replay_hd_transfer",
    "replay_net_transfer", "replay_serial_receive", "replay_serial_read",
    "replay_serial_send", "replay_serial_write", "replay_before_dma",
    "replay_after_dma", "replay_handle_packet", "after_machine_init", "top_loop",
)

# Older PANDA (and the original pypanda's table) gave after_block_exec no
# exit code.  A function that takes fewer trailing arguments than it is
# passed is safe on the host ABIs pypanda supports.
_SHORTER_OK = {"after_block_exec": 2}

_INTS = {ctypes.c_bool, ctypes.c_int8, ctypes.c_int16, ctypes.c_int32, ctypes.c_int64,
         ctypes.c_uint8, ctypes.c_uint16, ctypes.c_uint32, ctypes.c_uint64,
         ctypes.c_int, ctypes.c_uint, ctypes.c_long, ctypes.c_ulong,
         ctypes.c_longlong, ctypes.c_ulonglong, ctypes.c_size_t, ctypes.c_ssize_t,
         ctypes.c_char}
_BUFFERS = {ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_uint8),
            ctypes.POINTER(ctypes.c_int8), ctypes.POINTER(ctypes.c_char)}


def _kind(t: Any) -> str:
    if t is None:
        return "void"
    if t in _INTS:
        return "int"
    if t in _BUFFERS:
        return "buffer"
    if isinstance(t, type) and issubclass(t, ctypes._Pointer):  # type: ignore[attr-defined]
        return "ptr:" + t._type_.__name__
    return "other:" + getattr(t, "__name__", repr(t))


def _arg_fits(given: Any, wanted: Any) -> bool:
    g, w = _kind(given), _kind(wanted)
    if g == w:
        return True
    if "buffer" in (g, w) or given is ctypes.c_void_p:
        # void* stands for any pointer; byte buffers for each other
        return g != "int" and w != "int"
    return False


def _c_name(t: Any) -> str:
    k = _kind(t)
    return {"void": "void", "int": getattr(t, "__name__", "int"), "buffer": "void*"}.get(
        k, k.split(":", 1)[1] + "*" if k.startswith("ptr:") else k)


class CallbackType:
    """One PANDA callback type: ``name``, ``number`` and C signature.

    Calling it on a Python function returns a C function pointer of this
    type (usable as a decorator).
    """

    def __init__(self, number: int, name: str, signature: str,
                 ctypes_signature: Optional[Tuple[Any, Tuple[Any, ...]]] = None, doc: str = "") -> None:
        self.number = number
        self.name = name
        self.signature = signature
        self.doc = doc
        self.restype, self.argtypes = ctypes_signature or parse_signature(signature)

    def __call__(self, fn: Callable[..., Any]) -> Any:
        cfn = wrap(fn, self.restype, self.argtypes, self.name)
        cfn.signature = self.signature
        return cfn

    def __int__(self) -> int:
        return self.number

    def __index__(self) -> int:
        return self.number

    def __repr__(self) -> str:
        return f"<callback {self.name} ({self.number}): {self.signature}>"

    def check(self, cfn: Any) -> None:
        """Raise CallbackError unless ``cfn`` (from pyp.callback or this
        type) has a signature that can be called as this type."""
        restype = getattr(cfn, "restype_", None)
        argtypes = getattr(cfn, "argtypes_", None)
        if argtypes is None:
            raise CallbackError(
                f"{self.name}: expected a function made with pyp.callback(...) or "
                f"panda.callback.{self.name}, or a plain Python function; got {cfn!r}")
        given = getattr(cfn, "signature", "?")
        bad = f"{self.name} is called as {self.signature}; the function given is {given}"
        n_ok = {len(self.argtypes), _SHORTER_OK.get(self.name, len(self.argtypes))}
        if len(argtypes) not in n_ok:
            raise CallbackError(f"{bad}: it takes {len(argtypes)} arguments, not {len(self.argtypes)}")
        for i, (g, w) in enumerate(zip(argtypes, self.argtypes)):
            if not _arg_fits(g, w):
                raise CallbackError(f"{bad}: argument {i + 1} is {_c_name(g)}, expected {_c_name(w)}")
        if self.restype is not None and _kind(restype) != "int":
            raise CallbackError(f"{bad}: it must return {_c_name(self.restype)}")


class CallbackTypes:
    """``panda.callback``: every callback type by name, plus ``init``."""

    def __init__(self) -> None:
        self._by_name: Dict[str, CallbackType] = {}
        for cb in _abi.CALLBACKS:
            cbt = CallbackType(cb.number, cb.name, cb.signature, (cb.restype, cb.argtypes), cb.doc)
            self._by_name[cb.name] = cbt
            setattr(self, cb.name, cbt)
        # the original pypanda's pseudo-callback for a plugin's init(handle)
        init = _abi.FUNCTION_TYPES["panda_plugin_init_fn"]
        self.init = CallbackType(-1, "init", init.signature, (init.restype, init.argtypes),
                                 "a plugin's init(handle): register its callbacks, return true")

    def __iter__(self) -> Iterator[CallbackType]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> Optional[CallbackType]:
        return self._by_name.get(name)

    def __getitem__(self, name: str) -> CallbackType:
        try:
            return self._by_name[name]
        except KeyError:
            raise CallbackError(f"unknown callback type {name!r}") from None


callback_types = CallbackTypes()
