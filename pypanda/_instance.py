"""What the parts of one :class:`~pypanda.Panda` share.

Each concern (running, memory, callbacks, record/replay, console, arch) is
its own module holding one :class:`Instance` instead of the Panda, so none
reaches into another's state: the library, the instance handle, the error
check, the few flags that say where the run is, and the first exception a
callback raised that is still to be re-raised.
"""
from __future__ import annotations

import ctypes
import threading
import traceback
from typing import Any, Callable, Optional

from ._args import c_string
from ._lib import CPUPtr, Library, _kind_of
from .errors import HandleError, StateError, error_for
from .ffi import callback_state

CLOSED = "this Panda is closed"


class ClosedLibrary:
    """Stands in for the library once the instance is freed: every
    function raises StateError instead of reaching C with a freed handle."""

    def __getattr__(self, name: str) -> Any:
        raise StateError(f"{CLOSED}: {name} cannot be called after close(); create a new Panda")


class Instance:
    """One libpanda instance: ``lib`` (the loaded library), ``handle`` (its
    ``panda_t*``) and the state several parts read."""

    def __init__(self, lib: Library, handle: Any, arch_name: str, label: str,
                 catch_exceptions: bool, verbose: bool) -> None:
        self.lib: Any = lib
        self.handle = handle
        self.closed = False
        self.arch_name = arch_name
        self.label = label                  # what progress messages call the guest
        self.catch_exceptions = catch_exceptions
        self.verbose = verbose
        self.machine = lib.panda_machine_name(handle).decode()
        self.is_pc = self.machine == "pc"
        self.running = False                # run() is under way, on some thread
        self.user_paused = False            # a driver sent the monitor "stop"
        self.cpu = lib.panda_get_cpu(handle)
        self.cpu_address = ctypes.addressof(self.cpu.contents)
        # the first callback exception not re-raised yet, and a count of all
        self._failure_lock = threading.Lock()
        self.failure: Optional[BaseException] = None
        self.last_failure: Optional[BaseException] = None
        self.failures = 0

    def close(self) -> None:
        """Free the libpanda instance; from now on every call raises StateError."""
        if self.closed:
            return
        lib, handle = self.lib, self.handle
        self.closed = True
        self.lib, self.handle = ClosedLibrary(), None
        lib.panda_destroy(handle)

    def check_open(self, what: str) -> None:
        """StateError if the instance was freed."""
        if self.closed:
            raise StateError(f"{CLOSED}: {what} cannot be called after close(); create a new Panda")

    def check(self, status: int) -> None:
        """Raise the exception for a panda_err status (0: nothing)."""
        if status:
            raise error_for(status, self.last_error())

    def last_error(self) -> str:
        return self.lib.panda_last_error(self.handle).decode(errors="replace")

    def stop_reason(self) -> str:
        """Why the guest stopped, if it halted (powered off, reset, HLT)."""
        return self.last_error() if self.lib.panda_guest_halted(self.handle) else ""

    def end_analysis(self) -> None:
        self.lib.panda_end_analysis(self.handle)

    def cpu_arg(self, cpu: Any, what: str) -> Any:
        """``cpu`` if it is this instance's CPU (from get_cpu() or a
        callback's ``CPUState*``); HandleError otherwise, so no other value
        reaches C as a pointer."""
        self.check_open(what)
        if cpu is self.cpu:
            return cpu
        if isinstance(cpu, CPUPtr):
            if cpu and ctypes.addressof(cpu.contents) == self.cpu_address:
                return cpu
            raise HandleError(f"{what}: this CPUState* is not this Panda's CPU ({'NULL' if not cpu else 'another Panda'}"
                              f"'s, or a freed one): pass panda.get_cpu() or the cpu a callback received")
        given = "the Panda object" if hasattr(cpu, "_instance") else _kind_of(cpu)
        raise HandleError(f"{what}: cpu must be the CPUState* from panda.get_cpu() or a callback, "
                          f"not {given}")

    # ---- exceptions raised in callbacks --------------------------------------

    def callback_failed(self, exc: BaseException) -> None:
        """A callback raised ``exc``: keep it for the call that fired the
        callback to re-raise, and stop the run if one is under way."""
        if not self.catch_exceptions and not isinstance(exc, KeyboardInterrupt):
            # Panda(catch_exceptions=False): report and carry on
            traceback.print_exception(type(exc), exc, exc.__traceback__)
            return
        with self._failure_lock:
            if self.failure is None:
                self.failure = exc
            self.last_failure = exc
            self.failures += 1
        if self.running:
            self.end_analysis()

    def take_failure(self) -> Optional[BaseException]:
        with self._failure_lock:
            exc, self.failure = self.failure, None
        return exc

    def raise_failure_since(self, count: int) -> None:
        """Re-raise the callback exception raised since ``failures`` was
        ``count``.  While a run is under way run() re-raises it too (it
        stopped the run); otherwise this call consumes it."""
        if self.failures == count:
            return
        with self._failure_lock:
            exc = self.last_failure
            if not self.running and self.failure is exc:
                self.failure = None
        if exc is not None:
            raise exc

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)``, a C call that may fire callbacks on this thread or
        (a monitor command while the guest runs) on the emulation thread; an
        exception a callback raised meanwhile is re-raised here once the C
        call returned."""
        st = callback_state
        before, outer = self.failures, st.calling
        st.calling = self
        try:
            result = fn(*args)
        finally:
            st.calling = outer
        self.raise_failure_since(before)
        return result

    # ---- threads -------------------------------------------------------------

    def on_emulation_thread(self) -> bool:
        """Is this thread inside this instance's run() (in a callback)?"""
        return callback_state.running is self

    def foreign_thread_while_running(self) -> bool:
        return self.running and not self.on_emulation_thread()

    def with_guest_paused(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` with the emulation thread parked between slices
        when the guest runs on another thread (callbacks change there)."""
        if not self.foreign_thread_while_running() or self.user_paused:
            return action()
        self.state_cmd("stop", "pause")
        try:
            return action()
        finally:
            self.state_cmd("cont", "resume")

    def monitor_cmd(self, cmd: str, size: int = 4096) -> "tuple[int, str]":
        """Send ``cmd`` to the monitor: (status, reply).  Callbacks it fires
        (monitor, before/after_loadvm) re-raise here."""
        out = ctypes.create_string_buffer(size)
        status = self.call(self.lib.panda_monitor_cmd, self.handle,
                           c_string(cmd, "the monitor command"), out, len(out))
        return status, out.value.decode(errors="replace")

    def state_cmd(self, cmd: str, what: str) -> None:
        """Change the machine's state between slices: through the monitor
        while the guest runs, at once otherwise.  Not from a callback (the
        emulation thread serves monitor commands between slices)."""
        if self.on_emulation_thread():
            raise StateError(f"{what} cannot be called from a callback: call it from a function "
                             f"queued with @panda.queue_blocking, or before/after run()")
        status, reply = self.monitor_cmd(cmd)
        if status:
            raise error_for(status, reply.removeprefix("error: ").strip())
