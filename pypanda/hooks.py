"""Address hooks (pandare's ``panda.hook``), filtered in libpanda.

``@panda.hook(addr)`` calls the function before each execution of the
instruction at ``addr`` (a guest-virtual address), only in the address
space ``asid`` and at the privilege ``kernel`` asks for.  The filtering is
done in C (``panda_hook_add``): only the hooked instructions are
instrumented, so a hook costs nothing where the guest does not go, and
a hook whose filter does not match costs no Python call.

One ctypes trampoline serves every hook of a Panda; it dispatches by hook
id.  An exception a hook raises stops the run and is re-raised by
``run()``, as for every callback.
"""
from __future__ import annotations

import ctypes
from ctypes import byref, c_uint32
from typing import Any, Callable, Dict, Optional

from . import _abi
from ._instance import Instance
from .errors import CallbackError, StateError
from .ffi import wrap

HookFunction = Callable[[Any, "HookedBlock", "Hook"], Any]

#: ``cb_type`` values ``panda.hook`` accepts: each calls the function before
#: the instruction at the address runs, whether or not it starts a block.
SUPPORTED_CB_TYPES = ("start_block_exec", "before_block_exec")


class HookedBlock:
    """What a hook receives as ``tb``: the hooked address as ``pc`` (pandare
    passes the block; here the hook fires at the instruction, wherever it
    is in its block).  ``tb.contents.pc`` works too."""

    __slots__ = ("pc",)

    def __init__(self, pc: int) -> None:
        self.pc = pc

    @property
    def contents(self) -> "HookedBlock":
        return self

    def __repr__(self) -> str:
        return f"HookedBlock(pc={self.pc:#x})"


class Hook:
    """One address hook: ``id``, ``addr``, ``asid``, ``kernel``, ``fn``,
    ``enabled`` (settable), ``hits`` (calls made so far), ``enable()``,
    ``disable()``, ``remove()``.  Safe to change from inside any callback,
    the hook's own included."""

    __slots__ = ("id", "addr", "asid", "kernel", "fn", "block", "_hooks", "_enabled", "removed", "_final_hits")

    def __init__(self, hooks: "Hooks", hook_id: int, addr: int, asid: Optional[int],
                 kernel: Optional[bool], fn: HookFunction, enabled: bool) -> None:
        self._hooks = hooks
        self.id = hook_id
        self.addr = addr
        self.asid = asid
        self.kernel = kernel
        self.fn = fn
        self.block = HookedBlock(addr)
        self._enabled = enabled
        self.removed = False
        self._final_hits = 0

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._hooks.set_enabled(self, bool(value))

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def remove(self) -> None:
        """Remove the hook (again: nothing)."""
        self._hooks.remove(self)

    @property
    def hits(self) -> int:
        """How many times the hook's function was called."""
        return self._hooks.hits(self)

    def __repr__(self) -> str:
        state = "removed" if self.removed else ("enabled" if self._enabled else "disabled")
        return f"<Hook {self.id} at {self.addr:#x} {state}>"


def _kernel_filter(kernel: Optional[bool]) -> int:
    if kernel is None:
        return -1
    if isinstance(kernel, bool) or kernel in (0, 1):
        return int(bool(kernel))
    raise CallbackError(f"kernel={kernel!r}: None (any), True (kernel mode) or False (user mode)")


class Hooks:
    """The hooks of one Panda (``panda.hook``, ``panda.hooks``)."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self.by_id: Dict[int, Hook] = {}
        self._trampoline: Any = None
        self._keep: Any = None

    def _c_trampoline(self) -> Any:
        if self._trampoline is None:
            cfn = wrap(self._dispatch, None, _abi.FUNCTION_TYPES["panda_hook_fn"].argtypes, "hook")
            self._keep = cfn    # alive as long as this Panda's hooks
            self._trampoline = cfn if isinstance(cfn, _abi.panda_hook_fn) else ctypes.cast(cfn, _abi.panda_hook_fn)
        return self._trampoline

    def _dispatch(self, cpu: Any, hook_id: int, pc: int, opaque: Any) -> None:
        h = self.by_id.get(hook_id)
        if h is not None:
            h.fn(cpu, h.block, h)

    def add(self, addr: int, fn: HookFunction, asid: Optional[int] = None, kernel: Optional[bool] = None,
            enabled: bool = True, cb_type: str = "start_block_exec") -> Hook:
        """Hook ``addr``: ``fn(cpu, tb, hook)`` before each execution of the
        instruction there (see :meth:`pypanda.Panda.hook`)."""
        if cb_type not in SUPPORTED_CB_TYPES:
            raise CallbackError(f"hook cb_type={cb_type!r} is not supported: pypanda's hooks fire before the "
                                f"instruction at the address runs, which cb_type "
                                f"{' or '.join(repr(t) for t in SUPPORTED_CB_TYPES)} asks for")
        if not callable(fn):
            raise CallbackError(f"hook: {fn!r} is not callable")
        if not isinstance(addr, int) or isinstance(addr, bool) or addr < 0:
            raise CallbackError(f"hook: the address must be a non-negative int, not {addr!r}")
        if asid is not None and (not isinstance(asid, int) or asid < 0):
            raise CallbackError(f"hook: asid must be None (any) or a non-negative int, not {asid!r}")
        kfilter = _kernel_filter(kernel)
        inst = self._instance
        inst.check_open("hook")
        tramp = self._c_trampoline()
        hook_id = c_uint32()

        def add_it() -> None:
            inst.check(inst.lib.panda_hook_add(inst.handle, addr, asid or 0, kfilter, tramp, None,
                                               byref(hook_id)))
        inst.with_guest_paused(add_it)
        h = Hook(self, hook_id.value, addr, asid, kernel, fn, True)
        self.by_id[h.id] = h
        if not enabled:
            self.set_enabled(h, False)
        return h

    def set_enabled(self, h: Hook, enabled: bool) -> None:
        if h.removed:
            raise StateError(f"{h!r}: it was removed")
        inst = self._instance
        inst.with_guest_paused(lambda: inst.check(inst.lib.panda_hook_set_enabled(inst.handle, h.id, enabled)))
        h._enabled = enabled

    def remove(self, h: Hook) -> None:
        if h.removed:
            return
        inst = self._instance
        hits = self.hits(h)
        inst.with_guest_paused(lambda: inst.check(inst.lib.panda_hook_remove(inst.handle, h.id)))
        h._final_hits = hits
        h.removed = True
        h._enabled = False
        self.by_id.pop(h.id, None)

    def hits(self, h: Hook) -> int:
        if h.removed:
            return h._final_hits
        self._instance.check_open("hook hits")
        return int(self._instance.lib.panda_hook_hits(self._instance.handle, h.id))

    def clear(self) -> None:
        """Remove every hook."""
        for h in list(self.by_id.values()):
            self.remove(h)
