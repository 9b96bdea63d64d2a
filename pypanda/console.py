"""The guest's serial console as pypanda's driving functions see it.

While ``run()`` blocks the main thread, one pump thread moves what the
guest prints from libpanda into a buffer here; ``read_until`` waits on
that buffer from any thread (pandare's driver pattern: functions queued
with ``@panda.queue_blocking`` run on a helper thread).
"""
from __future__ import annotations

import ctypes
import re
import threading
import time
from typing import TYPE_CHECKING, Optional, Pattern, Tuple, Union

from .errors import GuestError

if TYPE_CHECKING:
    from .panda import Panda

# BusyBox's shell asks the terminal for the cursor position after each prompt.
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class GuestStopped(GuestError):
    """The guest stopped running before the expected console output came."""


class SerialConsole:
    def __init__(self, panda: "Panda") -> None:
        self._panda = panda
        self._cond = threading.Condition()
        self._pending = bytearray()   # printed, not yet consumed by read_until
        self.log = bytearray()        # everything the guest printed
        self._running = False
        self._pump: Optional[threading.Thread] = None

    # ---- the pump (started and stopped by Panda.run) ----------------------

    def start(self) -> None:
        with self._cond:
            self._running = True
        self._pump = threading.Thread(target=self._pump_loop, name="pypanda-serial", daemon=True)
        self._pump.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._cond.notify_all()
        if self._pump is not None:
            self._pump.join()
            self._pump = None
        self._drain()

    def _drain(self) -> bool:
        lib, h = self._panda._lib, self._panda._handle
        buf = ctypes.create_string_buffer(65536)
        got = False
        while True:
            n = lib.panda_serial_read(h, buf, len(buf))
            if not n:
                return got
            data = buf.raw[:n]
            got = True
            with self._cond:
                self._pending += data
                self.log += data
                self._cond.notify_all()

    def _pump_loop(self) -> None:
        lib, h = self._panda._lib, self._panda._handle
        while self._running:
            lib.panda_serial_wait(h, 100)
            self._drain()

    # ---- for drivers -------------------------------------------------------

    def write(self, data: Union[bytes, str]) -> None:
        if isinstance(data, str):
            data = data.encode()
        self._panda._check(self._panda._lib.panda_serial_write(self._panda._handle, data, len(data)))

    def read_until(self, pattern: Union[bytes, Pattern[bytes]], timeout: Optional[float] = 30.0
                   ) -> Tuple[bytes, "re.Match[bytes]"]:
        """Consume console output up to and including the first match of
        ``pattern`` (bytes: literal; or a compiled bytes regex).  Raises
        TimeoutError after ``timeout`` seconds (None: no limit) and
        GuestStopped if the run ends first."""
        regex: Pattern[bytes] = (pattern if not isinstance(pattern, bytes)
                                 else re.compile(re.escape(pattern)))
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                m = regex.search(self._pending)
                if m:
                    out = bytes(self._pending[:m.end()])
                    del self._pending[:m.end()]
                    return out, m
                if not self._running:
                    raise GuestStopped(
                        f"the guest stopped ({self._panda.stop_reason or 'run() returned'}) before the "
                        f"console printed {regex.pattern!r}; last output: {bytes(self.log[-200:])!r}")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"no {regex.pattern!r} on the console within {timeout} s; "
                                       f"last output: {bytes(self.log[-200:])!r}")
                self._cond.wait(0.2 if left is None else min(left, 0.2))


def clean(text: bytes) -> str:
    """Console bytes as text: no terminal escapes, \\n line ends."""
    return _ANSI.sub(b"", text).replace(b"\r\n", b"\n").replace(b"\r", b"").decode(errors="replace")
