"""Running the guest, and pandare's driver thread beside it.

``run()`` calls libpanda's ``panda_run`` on the thread that called it, so
callbacks run there.  Around it:

- Ctrl-C: on the main thread, while ``panda_run`` blocks, a SIGINT stops
  the run at once (Python would otherwise see it only once ``panda_run``
  returned); ``run()`` then raises KeyboardInterrupt and the machine can
  run again.
- The driver thread starts its first function only once libpanda's run
  loop is under way (the first ``top_loop``), so a monitor command or an
  ``end_analysis`` it sends at once is neither executed beside a run that
  is starting nor cleared by it.
- An exception ends the run: one raised by a callback, by a queued
  function, a KeyboardInterrupt or a libpanda error.  If the run was a
  replay, the replay is over too, so the next ``run_replay`` can begin.
"""
from __future__ import annotations

import ctypes
import os
import queue
import select
import signal
import threading
import traceback
from types import FrameType
from typing import Any, Callable, Optional

from ._instance import Instance
from ._lib import PluginPtr
from .callbacks import callback_types
from .console import Console, GuestStopped
from .errors import StateError
from .ffi import callback_state
from .record_replay import RR_REPLAYING, RecordReplay
from .utils import progress

_TOP_LOOP = callback_types["top_loop"]


class SigintGuard:
    """For the duration of a run on the main thread: SIGINT calls ``stop``
    and is remembered (``interrupted``) instead of raising inside C or a
    callback.  A helper thread watches Python's signal wakeup fd, since
    Python's own handler only runs when the main thread returns to Python;
    the previous handler and wakeup fd are restored after.  Does nothing
    off the main thread, or if SIGINT's handler is not Python's default
    (a program's own handler, or SIGINT ignored, stays in charge)."""

    POLL = 0.05

    def __init__(self, stop: Callable[[], None]) -> None:
        self._stop = stop
        self.interrupted = False
        self._active = False

    def __enter__(self) -> "SigintGuard":
        if (threading.current_thread() is not threading.main_thread()
                or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
            return self
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        try:
            self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        except ValueError:          # not the main interpreter
            os.close(self._r)
            os.close(self._w)
            return self
        self._old_handler = signal.signal(signal.SIGINT, self._on_signal)
        self._done = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="pypanda-sigint", daemon=True)
        self._watcher.start()
        self._active = True
        return self

    def _on_signal(self, signum: int, frame: Optional[FrameType]) -> None:
        self._interrupt()

    def _interrupt(self) -> None:
        # one stop per run: the handler and the watcher both see a SIGINT,
        # and a stop asked for once the run has returned would end the next
        # run before it starts (libpanda keeps a stop made between runs)
        first = not self.interrupted
        self.interrupted = True
        if first and not self._done.is_set():
            self._stop()

    def _watch(self) -> None:
        while not self._done.is_set():
            if not select.select([self._r], [], [], self.POLL)[0]:
                continue
            try:
                data = os.read(self._r, 512)
            except BlockingIOError:
                continue
            if signal.SIGINT in data:
                self._interrupt()
            if self._old_fd >= 0:     # asyncio and the like get their wake-ups still
                try:
                    os.write(self._old_fd, data)
                except OSError:
                    pass

    def __exit__(self, *exc: Any) -> None:
        if not self._active:
            return
        self._active = False
        self._done.set()
        self._watcher.join()
        # signal.signal runs the Python handlers still pending first: a
        # SIGINT that arrived as panda_run returned lands in _on_signal
        signal.signal(signal.SIGINT, self._old_handler)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._r)
        os.close(self._w)


#: seconds run() waits, once the run has ended, for a queued function to finish
DRIVER_GRACE = 1.0


class Runner:
    def __init__(self, instance: Instance, console: Console, rr: RecordReplay) -> None:
        self._instance = instance
        self._console = console
        self._rr = rr
        self._driver_queue: "queue.Queue[Callable[[], Any]]" = queue.Queue()
        self._driver: Optional[threading.Thread] = None
        self._driver_stop = threading.Event()
        self._driver_exc: Optional[BaseException] = None
        self._loop_started = threading.Event()   # panda_run's loop is under way
        self._gate: Optional[Any] = None          # (plugin, top_loop cfn)

    def run(self) -> None:
        inst = self._instance
        st = callback_state
        if st.running is not None:
            raise StateError("run() is already running on this thread")
        if inst.running:
            raise StateError("run() is already running on another thread")
        self._arm_gate()
        if inst.verbose and not (inst.is_pc and self._rr.mode() == RR_REPLAYING):
            progress(f"Running {inst.label} guest" +
                     (" (booting Linux)" if inst.is_pc and not self._console.prompt_seen else ""))
        guard = SigintGuard(self._stop_on_interrupt)
        replay_progress = None
        status = 0
        self._driver_exc = None
        st.running = inst
        inst.running = True
        try:
            if inst.is_pc:
                self._console.serial.start()
            self._start_driver()
            replay_progress = self._rr.start_progress()
            with guard:
                status = inst.lib.panda_run(inst.handle)
        finally:
            st.running = None
            inst.running = False
            inst.user_paused = False
            self._disarm_gate()
            if replay_progress is not None:
                replay_progress.stop()
            if inst.is_pc:
                self._console.serial.stop()
            self._stop_driver()
        exc = inst.take_failure()
        if exc is None and guard.interrupted:
            exc = KeyboardInterrupt()
        if exc is None and self._driver_exc is not None:
            exc = self._driver_exc
        self._driver_exc = None
        if exc is not None or status:
            self._rr.abandon()      # a replay the exception ended is over
        if exc is not None:
            raise exc
        inst.check(status)
        if inst.verbose and inst.is_pc and self.guest_halted:
            progress(f"guest stopped: {inst.stop_reason()}")
        if inst.verbose is not False and self._rr.finished:
            self._rr.report("100%", ": replay complete")

    def _stop_on_interrupt(self) -> None:
        if self._instance.running:
            self._instance.end_analysis()

    @property
    def guest_halted(self) -> bool:
        return bool(self._instance.lib.panda_guest_halted(self._instance.handle))

    # ---- knowing when panda_run's loop is under way ---------------------------

    def _arm_gate(self) -> None:
        """Enable a top_loop callback that says the run loop started (it
        disables itself on the first call)."""
        inst = self._instance
        self._loop_started.clear()
        if self._gate is None:
            plugin = PluginPtr()
            inst.check(inst.lib.panda_plugin_create(inst.handle, b"pypanda-run", ctypes.byref(plugin)))

            def loop_started(cpu: Any) -> None:
                self._loop_started.set()
                inst.lib.panda_disable_callback(plugin, _TOP_LOOP.number, cfn)

            cfn = _TOP_LOOP(loop_started)
            inst.check(inst.lib.panda_register_callback(plugin, _TOP_LOOP.number, cfn))
            self._gate = (plugin, cfn)
        else:
            plugin, cfn = self._gate
            inst.check(inst.lib.panda_enable_callback(plugin, _TOP_LOOP.number, cfn))

    def _disarm_gate(self) -> None:
        if self._gate is not None:
            plugin, cfn = self._gate
            self._instance.lib.panda_disable_callback(plugin, _TOP_LOOP.number, cfn)

    # ---- the driver thread ---------------------------------------------------

    def queue_blocking(self, func: Callable[[], Any]) -> None:
        self._driver_queue.put(func)
        if self._instance.running and self._driver is None:
            self._start_driver()   # queued from a callback during the run

    def _start_driver(self) -> None:
        if self._driver_queue.empty():
            return
        self._driver_stop = threading.Event()
        self._driver = threading.Thread(target=self._driver_loop, args=(self._driver_stop,),
                                        name="pypanda-driver", daemon=True)
        self._driver.start()

    def _driver_loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if not self._loop_started.wait(0.05):
                continue     # the run loop is not under way yet
            try:
                func = self._driver_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                func()
            except BaseException as exc:  # noqa: B902 - re-raised by run()
                if isinstance(exc, GuestStopped) and not self._instance.running and not self.guest_halted:
                    # the script ended the run (end_analysis) while this one
                    # waited on the console: pandare's async thread just
                    # stops there too
                    return
                if stop.is_set() and self._driver is not threading.current_thread():
                    # its run() has returned without it (below): nobody is
                    # left to re-raise it, so it is reported here
                    progress(f"a queued function failed after its run ended: {exc!r}")
                    traceback.print_exception(type(exc), exc, exc.__traceback__)
                elif self._driver_exc is None:
                    self._driver_exc = exc
                if self._instance.running:
                    self._instance.end_analysis()
                return

    def _stop_driver(self) -> None:
        """As pandare's async thread (a daemon), a queued function still
        running when the run ends does not hold run() up: it gets
        DRIVER_GRACE seconds to finish (most end the run as their last
        step), then run() returns and it goes on alone, its thread a daemon."""
        if self._driver is None:
            return
        self._driver_stop.set()
        self._driver.join(DRIVER_GRACE)
        self._driver = None
