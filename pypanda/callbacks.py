"""The callback types: PANDA's numbering, names and C signatures.

``panda.callback.<name>`` is a :class:`CallbackType`.  It is the key given
to ``register_callback`` and also a decorator that makes a C function of the
right type from a Python function (as cffi callback types did in the
original pypanda)::

    @panda.callback.before_block_exec
    def bbe(cpu, tb): ...
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .errors import CallbackError
from .ffi import parse_signature, wrap

# (number, name, PANDA's signature); numbers are libpanda's panda_cb_type.
_TABLE: List[Tuple[int, str, str]] = [
    (0, "before_block_translate", "void(CPUState*, target_ptr_t)"),
    (1, "after_block_translate", "void(CPUState*, TranslationBlock*)"),
    (2, "before_block_exec_invalidate_opt", "bool(CPUState*, TranslationBlock*)"),
    (3, "before_tcg_codegen", "void(CPUState*, TranslationBlock*)"),
    (4, "before_block_exec", "void(CPUState*, TranslationBlock*)"),
    (5, "after_block_exec", "void(CPUState*, TranslationBlock*, uint8_t)"),
    (6, "insn_translate", "bool(CPUState*, target_ptr_t)"),
    (7, "insn_exec", "int(CPUState*, target_ptr_t)"),
    (8, "after_insn_translate", "bool(CPUState*, target_ptr_t)"),
    (9, "after_insn_exec", "int(CPUState*, target_ptr_t)"),
    (10, "virt_mem_before_read", "void(CPUState*, target_ptr_t, target_ptr_t, size_t)"),
    (11, "virt_mem_before_write", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint8_t*)"),
    (12, "phys_mem_before_read", "void(CPUState*, target_ptr_t, target_ptr_t, size_t)"),
    (13, "phys_mem_before_write", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint8_t*)"),
    (14, "virt_mem_after_read", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint8_t*)"),
    (15, "virt_mem_after_write", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint8_t*)"),
    (16, "phys_mem_after_read", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint8_t*)"),
    (17, "phys_mem_after_write", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint8_t*)"),
    (18, "mmio_after_read", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint64_t*)"),
    (19, "mmio_before_write", "void(CPUState*, target_ptr_t, target_ptr_t, size_t, uint64_t*)"),
    (20, "hd_read", "void(CPUState*)"),
    (21, "hd_write", "void(CPUState*)"),
    (22, "guest_hypercall", "bool(CPUState*)"),
    (23, "monitor", "int(Monitor*, const char*)"),
    (24, "qmp", "bool(char*, char*, char**)"),
    (25, "cpu_restore_state", "void(CPUState*, TranslationBlock*)"),
    (26, "before_loadvm", "int(void)"),
    (27, "asid_changed", "bool(CPUState*, target_ptr_t, target_ptr_t)"),
    (28, "replay_hd_transfer", "void(CPUState*, uint32_t, target_ptr_t, target_ptr_t, size_t)"),
    (29, "replay_net_transfer", "void(CPUState*, uint32_t, uint64_t, uint64_t, size_t)"),
    (30, "replay_serial_receive", "void(CPUState*, target_ptr_t, uint8_t)"),
    (31, "replay_serial_read", "void(CPUState*, target_ptr_t, uint32_t, uint8_t)"),
    (32, "replay_serial_send", "void(CPUState*, target_ptr_t, uint8_t)"),
    (33, "replay_serial_write", "void(CPUState*, target_ptr_t, uint32_t, uint8_t)"),
    (34, "replay_before_dma", "void(CPUState*, const uint8_t*, hwaddr, size_t, bool)"),
    (35, "replay_after_dma", "void(CPUState*, const uint8_t*, hwaddr, size_t, bool)"),
    (36, "replay_handle_packet", "void(CPUState*, uint8_t*, size_t, uint8_t, uint64_t)"),
    (37, "after_cpu_exec_enter", "void(CPUState*)"),
    (38, "before_cpu_exec_exit", "void(CPUState*, bool)"),
    (39, "after_machine_init", "void(CPUState*)"),
    (40, "after_loadvm", "void(CPUState*)"),
    (41, "top_loop", "void(CPUState*)"),
    (42, "during_machine_init", "void(MachineState*)"),
    (43, "main_loop_wait", "void(void)"),
    (44, "pre_shutdown", "void(void)"),
    (45, "unassigned_io_read", "bool(CPUState*, target_ptr_t, hwaddr, size_t, uint64_t*)"),
    (46, "unassigned_io_write", "bool(CPUState*, target_ptr_t, hwaddr, size_t, uint64_t)"),
    (47, "before_handle_exception", "int32_t(CPUState*, int32_t)"),
    (48, "before_handle_interrupt", "int32_t(CPUState*, int32_t)"),
    (49, "start_block_exec", "void(CPUState*, TranslationBlock*)"),
    (50, "end_block_exec", "void(CPUState*, TranslationBlock*)"),
]

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

    def __init__(self, number: int, name: str, signature: str) -> None:
        self.number = number
        self.name = name
        self.signature = signature
        self.restype, self.argtypes = parse_signature(signature)

    def __call__(self, fn: Callable[..., Any]) -> Any:
        cfn = wrap(fn, self.restype, self.argtypes)
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
        for number, name, sig in _TABLE:
            cbt = CallbackType(number, name, sig)
            self._by_name[name] = cbt
            setattr(self, name, cbt)
        # the original pypanda's pseudo-callback for a plugin's init(handle)
        self.init = CallbackType(-1, "init", "bool(void*)")

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
