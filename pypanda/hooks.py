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


class _HookHandle:
    """What address and memory hooks share: ``enabled`` (settable),
    ``enable()``, ``disable()``, ``remove()`` and ``hits``, each through the
    owner's C calls for the hook's kind."""

    __slots__ = ()
    _hooks: "Hooks"
    _enabled: bool

    def _set_enabled(self, enabled: bool) -> None:
        raise NotImplementedError

    def _remove(self) -> None:
        raise NotImplementedError

    def _hits(self) -> int:
        raise NotImplementedError

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self._set_enabled(bool(value))

    def enable(self) -> None:
        self.enabled = True

    def disable(self) -> None:
        self.enabled = False

    def remove(self) -> None:
        """Remove the hook (again: nothing)."""
        self._remove()

    @property
    def hits(self) -> int:
        """How many times the hook's function was called."""
        return self._hits()


class Hook(_HookHandle):
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

    def _set_enabled(self, enabled: bool) -> None:
        self._hooks.set_enabled(self, enabled)

    def _remove(self) -> None:
        self._hooks.remove(self)

    def _hits(self) -> int:
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


# ---- memory hooks (pandare's hook_mem, PANDA's mem_hooks plugin) ----------------

MEM_BEFORE, MEM_AFTER, MEM_READ, MEM_WRITE, MEM_VIRTUAL, MEM_PHYSICAL = 1, 2, 4, 8, 16, 32


class MemoryAccess:
    """What a memory hook receives (pandare's ``memory_access_desc``):
    ``pc``, ``addr``, ``size``, ``buf`` (a ``uint8_t*`` to the data, NULL
    before a read; writing it before a write changes what is stored),
    ``on_before``, ``on_after``, ``on_read``, ``on_write``, ``on_virtual``,
    ``on_physical`` (which kind of access this is) and ``hook``.  Valid
    during the call only."""

    __slots__ = ("pc", "addr", "size", "buf", "flags", "hook")

    def __init__(self, access: Any, hook: MemHook) -> None:
        self.pc = access.pc
        self.addr = access.addr
        self.size = access.size
        self.buf = access.buf
        self.flags = access.flags
        self.hook = hook

    on_before = property(lambda self: bool(self.flags & MEM_BEFORE))
    on_after = property(lambda self: bool(self.flags & MEM_AFTER))
    on_read = property(lambda self: bool(self.flags & MEM_READ))
    on_write = property(lambda self: bool(self.flags & MEM_WRITE))
    on_virtual = property(lambda self: bool(self.flags & MEM_VIRTUAL))
    on_physical = property(lambda self: bool(self.flags & MEM_PHYSICAL))

    def data(self) -> bytes:
        """The accessed bytes (b"" before a read)."""
        return ctypes.string_at(self.buf, self.size) if self.buf else b""

    def __repr__(self) -> str:
        kind = ("before " if self.on_before else "after ") + ("read" if self.on_read else "write")
        space = "virtual" if self.on_virtual else "physical"
        return f"<MemoryAccess {kind} of {self.size} at {space} {self.addr:#x}, pc {self.pc:#x}>"


class MemHook(_HookHandle):
    """One memory hook: ``id``, ``start_address``, ``end_address``, ``flags``,
    ``fn``, ``enabled`` (settable), ``hits``, ``enable()``, ``disable()``,
    ``remove()``."""

    __slots__ = ("id", "start_address", "end_address", "flags", "fn", "_hooks", "_enabled", "removed",
                 "_final_hits")

    def __init__(self, hooks: "Hooks", hook_id: int, start: int, end: int, flags: int, fn: Callable[..., Any]) -> None:
        self._hooks = hooks
        self.id, self.start_address, self.end_address, self.flags, self.fn = hook_id, start, end, flags, fn
        self._enabled = True
        self.removed = False
        self._final_hits = 0

    def _set_enabled(self, enabled: bool) -> None:
        self._hooks.mem_set_enabled(self, enabled)

    def _remove(self) -> None:
        self._hooks.mem_remove(self)

    def _hits(self) -> int:
        return self._hooks.mem_hits(self)

    def __repr__(self) -> str:
        return f"<MemHook {self.id} {self.start_address:#x}..{self.end_address:#x} flags {self.flags:#x}>"




class Hooks:
    """The hooks of one Panda (``panda.hook``, ``panda.hooks``)."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self.by_id: Dict[int, Hook] = {}
        self._trampoline: Any = None
        self._keep: Any = None
        self.mem_by_id: Dict[int, MemHook] = {}
        self._mem_cfn: Any = None

    def _c_trampoline(self) -> Any:
        if self._trampoline is None:
            cfn = wrap(self._dispatch, None, _abi.FUNCTION_TYPES["panda_hook_fn"].argtypes, "hook", fields=False)
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

    # ---- memory hooks ----------------------------------------------------------


    def _mem_trampoline(self) -> Any:
        if self._mem_cfn is None:
            self._mem_cfn = wrap(self._mem_dispatch, None, _abi.FUNCTION_TYPES["panda_mem_hook_fn"].argtypes,
                                 "memory hook", fields=False)
        return self._mem_cfn

    def _mem_dispatch(self, cpu: Any, access_ptr: Any, opaque: Any) -> None:
        access = access_ptr.contents
        h = self.mem_by_id.get(access.hook_id)
        if h is not None:
            h.fn(cpu, MemoryAccess(access, h))

    def mem_add(self, start: int, end: int, flags: int, fn: Callable[..., Any], enabled: bool = True) -> MemHook:
        if not callable(fn):
            raise CallbackError(f"hook_mem: {fn!r} is not callable")
        for what, v in (("start_address", start), ("end_address", end)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise CallbackError(f"hook_mem: {what} must be a non-negative int, not {v!r}")
        if end < start:
            raise CallbackError(f"hook_mem: end_address {end:#x} is below start_address {start:#x}")
        missing = [name for name, bits in (("on_before or on_after", MEM_BEFORE | MEM_AFTER),
                                           ("on_read or on_write", MEM_READ | MEM_WRITE),
                                           ("on_virtual or on_physical", MEM_VIRTUAL | MEM_PHYSICAL))
                   if not flags & bits]
        if missing:
            raise CallbackError(f"hook_mem would never fire: it needs {', '.join(missing)}")
        inst = self._instance
        inst.check_open("hook_mem")
        tramp = self._mem_trampoline()
        hook_id = c_uint32()
        inst.with_guest_paused(lambda: inst.check(
            inst.lib.panda_mem_hook_add(inst.handle, start, end, flags, tramp, None, byref(hook_id))))
        h = MemHook(self, hook_id.value, start, end, flags, fn)
        self.mem_by_id[h.id] = h
        if not enabled:
            self.mem_set_enabled(h, False)
        return h

    def mem_set_enabled(self, h: MemHook, enabled: bool) -> None:
        if h.removed:
            raise StateError(f"{h!r}: it was removed")
        inst = self._instance
        inst.with_guest_paused(lambda: inst.check(inst.lib.panda_mem_hook_set_enabled(inst.handle, h.id, enabled)))
        h._enabled = enabled

    def mem_remove(self, h: MemHook) -> None:
        if h.removed:
            return
        inst = self._instance
        hits = self.mem_hits(h)
        inst.with_guest_paused(lambda: inst.check(inst.lib.panda_mem_hook_remove(inst.handle, h.id)))
        h._final_hits, h.removed, h._enabled = hits, True, False
        self.mem_by_id.pop(h.id, None)

    def mem_hits(self, h: MemHook) -> int:
        if h.removed:
            return h._final_hits
        self._instance.check_open("memory hook hits")
        return int(self._instance.lib.panda_mem_hook_hits(self._instance.handle, h.id))
