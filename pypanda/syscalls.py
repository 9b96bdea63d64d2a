"""System calls as libpanda detects them (the low-level tap).

libpanda decodes system-call instructions (i386: ``int $0x80`` and
``sysenter``) and their return sites as it translates user code, and calls
one C function for the (number, entry/return) pairs it is told to watch
(``panda_syscalls_*`` in panda.h).  :class:`SyscallTap` is that function's
Python side: one ctypes trampoline per Panda, installed while anyone
listens, dispatching to the Python subscribers of the number::

    tap = SyscallTap(instance)
    def on_write(cpu, call, is_return):
        print(call.number, call.args[0], call.retval if is_return else "")
    tap.watch(4, enter=True, ret=True, fn=on_write)     # write(2) on i386
    tap.watch(None, enter=True, ret=False, fn=every_call)

Numbers nobody watches never reach Python.  ``call`` is the C
:class:`~pypanda._abi.panda_syscall`, valid during the call only (copy it
with :func:`copy_call` to keep it).  An exception a subscriber raises stops
the run and is re-raised by ``run()``, as for every callback.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from . import _abi
from ._instance import Instance
from .errors import CallbackError
from .ffi import wrap

panda_syscall = _abi.panda_syscall

#: panda_syscall.kind
KIND_INT80, KIND_SYSENTER, KIND_SYSCALL = 0, 1, 2
KIND_NAMES = {KIND_INT80: "int80", KIND_SYSENTER: "sysenter", KIND_SYSCALL: "syscall"}
#: numbers panda_syscalls_watch takes (PANDA_SYSCALL_MAX_NUMBER)
MAX_NUMBER = 4096
#: calls waiting for their return at most (PANDA_SYSCALL_MAX_PENDING)
MAX_PENDING = 512

SyscallFunction = Callable[[Any, Any, bool], Any]
_ENTER, _RETURN = 0, 1


def copy_call(call: Any) -> Any:
    """A copy of a ``panda_syscall`` that outlives the callback."""
    return panda_syscall.from_buffer_copy(call)


class SyscallTap:
    """The Python subscribers of one Panda's system calls."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        # number (None: every number) -> ([enter subscribers], [return subscribers])
        self._subs: Dict[Optional[int], Tuple[List[SyscallFunction], List[SyscallFunction]]] = {}
        self._cfn: Any = None
        self._installed = False

    # ---- subscribing ---------------------------------------------------------

    @staticmethod
    def _checked_number(number: Optional[int]) -> Optional[int]:
        if number is None:
            return None
        if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number < MAX_NUMBER:
            raise CallbackError(f"system call number {number!r}: an int 0..{MAX_NUMBER - 1}, or None for every number")
        return number

    def watch(self, number: Optional[int], enter: bool, ret: bool, fn: SyscallFunction) -> None:
        """Call ``fn(cpu, call, is_return)`` at the entry (``enter``) and/or
        the return (``ret``) of system call ``number`` (None: every number).
        Several functions may watch one number; they run in the order they
        subscribed, those of the number before those of every number."""
        number = self._checked_number(number)
        if not callable(fn):
            raise CallbackError(f"syscall watch: {fn!r} is not callable")
        if not (enter or ret):
            raise CallbackError("syscall watch: enter=False and ret=False watch nothing")
        lists = self._subs.setdefault(number, ([], []))
        newly = [not lists[_ENTER] and enter, not lists[_RETURN] and ret]
        self._ensure_installed()
        if any(newly):
            self._c_watch(number, newly[0], newly[1], True)
        if enter:
            lists[_ENTER].append(fn)
        if ret:
            lists[_RETURN].append(fn)

    def unwatch(self, number: Optional[int], enter: bool, ret: bool, fn: SyscallFunction) -> None:
        """Undo :meth:`watch` for ``fn`` (for the sides given); nothing if
        ``fn`` does not watch them."""
        number = self._checked_number(number)
        lists = self._subs.get(number)
        if lists is None:
            return
        emptied = [False, False]
        for side, wanted in ((_ENTER, enter), (_RETURN, ret)):
            if wanted and fn in lists[side]:
                lists[side].remove(fn)
                emptied[side] = not lists[side]
        if any(emptied):
            self._c_watch(number, emptied[0], emptied[1], False)
        if not lists[_ENTER] and not lists[_RETURN]:
            del self._subs[number]
        if not self._subs:
            self._uninstall()

    def clear(self) -> None:
        """Drop every subscriber and turn detection off."""
        for number, (enters, rets) in list(self._subs.items()):
            self._c_watch(number, bool(enters), bool(rets), False)
        self._subs.clear()
        self._uninstall()

    def watched(self) -> Dict[Optional[int], Tuple[int, int]]:
        """{number: (enter subscribers, return subscribers)}"""
        return {n: (len(e), len(r)) for n, (e, r) in self._subs.items()}

    @property
    def seen(self) -> int:
        """System-call instructions executed in user mode while detection was on."""
        return int(self._instance.lib.panda_syscalls_seen(self._instance.handle))

    @property
    def dropped(self) -> int:
        """Pending returns dropped because the table was full."""
        return int(self._instance.lib.panda_syscalls_dropped(self._instance.handle))

    # ---- the C side ---------------------------------------------------------------

    def _c_watch(self, number: Optional[int], enter: bool, ret: bool, on: bool) -> None:
        inst = self._instance
        fn = inst.lib.panda_syscalls_watch if on else inst.lib.panda_syscalls_unwatch
        n = -1 if number is None else number
        inst.with_guest_paused(lambda: inst.check(fn(inst.handle, n, enter, ret)))

    def _ensure_installed(self) -> None:
        if self._installed:
            return
        if self._cfn is None:
            self._cfn = wrap(self._dispatch, None, _abi.FUNCTION_TYPES["panda_syscall_fn"].argtypes, "syscall", fields=False)
        inst = self._instance
        cfn = self._cfn
        inst.with_guest_paused(lambda: inst.check(inst.lib.panda_syscalls_set_callback(inst.handle, cfn, None)))
        self._installed = True

    def _uninstall(self) -> None:
        if not self._installed:
            return
        inst = self._instance
        if inst.closed:
            self._installed = False
            return
        null = _abi.panda_syscall_fn()     # NULL: detection off
        inst.with_guest_paused(lambda: inst.check(inst.lib.panda_syscalls_set_callback(inst.handle, null, None)))
        self._installed = False
        # the trampoline object stays: C may still be inside it (unwatch from a subscriber)

    def _dispatch(self, cpu: Any, call_ptr: Any, is_return: bool, opaque: Any) -> None:
        call = call_ptr.contents
        side = _RETURN if is_return else _ENTER
        is_ret = bool(is_return)
        own = self._subs.get(call.number)
        every = self._subs.get(None)
        # copies of the lists: subscribers may unwatch while they run
        if own is not None:
            for fn in tuple(own[side]):
                fn(cpu, call, is_ret)
        if every is not None:
            for fn in tuple(every[side]):
                fn(cpu, call, is_ret)
