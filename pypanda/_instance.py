"""What the parts of one :class:`~pypanda.Panda` share.

Each concern (running, memory, callbacks, record/replay, console, arch) is
its own module holding one :class:`Instance` instead of the Panda, so none
reaches into another's state: the library, the instance handle, the error
check and the few flags that say where the run is.
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable

from ._lib import Library
from .errors import StateError, error_for
from .ffi import callback_state


class Instance:
    """One libpanda instance: ``lib`` (the loaded library), ``handle`` (its
    ``panda_t*``) and the state several parts read."""

    def __init__(self, lib: Library, handle: Any, arch_name: str, label: str,
                 catch_exceptions: bool, verbose: bool) -> None:
        self.lib = lib
        self.handle = handle
        self.arch_name = arch_name
        self.label = label                  # what progress messages call the guest
        self.catch_exceptions = catch_exceptions
        self.verbose = verbose
        self.machine = lib.panda_machine_name(handle).decode()
        self.is_pc = self.machine == "pc"
        self.running = False                # run() is under way, on some thread
        self.user_paused = False            # a driver sent the monitor "stop"

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

    def state_cmd(self, cmd: str, what: str) -> None:
        """Change the machine's state between slices: through the monitor
        while the guest runs, at once otherwise.  Not from a callback (the
        emulation thread serves monitor commands between slices)."""
        if self.on_emulation_thread():
            raise StateError(f"{what} cannot be called from a callback: call it from a function "
                             f"queued with @panda.queue_blocking, or before/after run()")
        out = ctypes.create_string_buffer(4096)
        status = self.lib.panda_monitor_cmd(self.handle, cmd.encode(), out, len(out))
        if status:
            raise error_for(status, out.value.decode(errors="replace").removeprefix("error: ").strip())
