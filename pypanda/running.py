"""Running the guest, and pandare's driver thread beside it."""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Optional

from ._instance import Instance
from .console import Console
from .errors import StateError
from .ffi import callback_state, take_pending_exception
from .record_replay import RR_REPLAYING, RecordReplay
from .utils import progress


class Runner:
    def __init__(self, instance: Instance, console: Console, rr: RecordReplay) -> None:
        self._instance = instance
        self._console = console
        self._rr = rr
        self._driver_queue: "queue.Queue[Callable[[], Any]]" = queue.Queue()
        self._driver: Optional[threading.Thread] = None
        self._driver_stop = threading.Event()
        self._driver_exc: Optional[BaseException] = None

    def run(self) -> None:
        inst = self._instance
        st = callback_state
        if st.running is not None:
            raise StateError("run() is already running on this thread")
        if inst.verbose and not (inst.is_pc and self._rr.mode() == RR_REPLAYING):
            progress(f"Running {inst.label} guest" +
                     (" (booting Linux)" if inst.is_pc and not self._console.prompt_seen else ""))
        st.running, st.pending = inst, None
        self._driver_exc = None
        inst.running = True
        if inst.is_pc:
            self._console.serial.start()
        self._start_driver()
        replay_progress = self._rr.start_progress()
        try:
            status = inst.lib.panda_run(inst.handle)
        finally:
            st.running = None
            inst.running = False
            inst.user_paused = False
            exc = take_pending_exception()
            if replay_progress is not None:
                replay_progress.stop()
            if inst.is_pc:
                self._console.serial.stop()
            self._stop_driver()
        if exc is not None:
            raise exc
        if self._driver_exc is not None:
            exc, self._driver_exc = self._driver_exc, None
            raise exc
        inst.check(status)
        if inst.verbose and inst.is_pc and self.guest_halted:
            progress(f"guest stopped: {inst.stop_reason()}")
        if inst.verbose is not False and self._rr.finished:
            self._rr.report("100%", ": replay complete")

    @property
    def guest_halted(self) -> bool:
        return bool(self._instance.lib.panda_guest_halted(self._instance.handle))

    # ---- the driver thread ---------------------------------------------------

    def queue_blocking(self, func: Callable[[], Any]) -> None:
        self._driver_queue.put(func)
        if self._instance.running and self._driver is None:
            self._start_driver()   # queued from a callback during the run

    def _start_driver(self) -> None:
        if self._driver_queue.empty():
            return
        self._driver_stop = threading.Event()
        self._driver = threading.Thread(target=self._driver_loop, name="pypanda-driver", daemon=True)
        self._driver.start()

    def _driver_loop(self) -> None:
        while not self._driver_stop.is_set():
            try:
                func = self._driver_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                func()
            except BaseException as exc:  # noqa: B902 - re-raised by run()
                if self._driver_exc is None:
                    self._driver_exc = exc
                self._instance.end_analysis()
                return

    def _stop_driver(self) -> None:
        if self._driver is None:
            return
        self._driver_stop.set()
        self._driver.join()
        self._driver = None
