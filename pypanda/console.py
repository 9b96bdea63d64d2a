"""The guest's serial console and monitor, as pypanda's driving functions
see them (pandare's driver model, pc machine).

While ``run()`` blocks the main thread, one pump thread moves what the
guest prints from libpanda into a buffer here; ``read_until`` waits on
that buffer from any thread (functions queued with
``@panda.queue_blocking`` run on a helper thread).
"""
from __future__ import annotations

import ctypes
import re
import threading
import time
from typing import Any, Optional, Pattern, Tuple, Union

from ._args import c_string
from ._instance import Instance
from .errors import GuestError, OptionError, StateError, UnsupportedError
from .utils import progress

# BusyBox's shell asks the terminal for the cursor position after each prompt.
_ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class GuestStopped(GuestError):
    """The guest stopped running before the expected console output came."""


def clean(text: bytes) -> str:
    """Console bytes as text: no terminal escapes, \\n line ends."""
    return _ANSI.sub(b"", text).replace(b"\r\n", b"\n").replace(b"\r", b"").decode(errors="replace")


def command_output(console: bytes, prompt: "re.Match[bytes]", cmd: Optional[str] = None) -> str:
    """What a typed command printed: the console up to the prompt, less the
    command's own echo.  Given ``cmd``, the echo is matched character by
    character, so that the line breaks a shell inserts when prompt and
    command pass its 80 columns do not leave part of the echo in the output;
    otherwise (or if the echo differs) the first line is dropped."""
    text = clean(console[:prompt.start()])
    if cmd:
        i = 0
        for ch in cmd:
            while i < len(text) and text[i] in "\r\n" and ch not in "\r\n":
                i += 1
            if i >= len(text) or text[i] != ch:
                break
            i += 1
        else:
            nl = text.find("\n", i)
            return "" if nl < 0 else text[nl + 1:].rstrip("\n")
    return text.partition("\n")[2].rstrip("\n")


#: How much console output pypanda keeps, in ``log`` and unread (libpanda
#: keeps as much on its side).
DEFAULT_BUFFER_LIMIT = 16 << 20


def checked_limit(limit: int) -> int:
    """``serial_buffer_limit``, a positive number of bytes."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise OptionError(f"serial_buffer_limit must be a positive number of bytes, not {limit!r}")
    return limit


class SerialConsole:
    """COM1's bytes: a pump thread while the guest runs, a buffer, waits.

    ``log`` holds the last ``limit`` bytes the guest printed (16 MiB unless
    ``Panda(serial_buffer_limit=...)`` says otherwise), and at most ``limit``
    bytes wait unread for ``read_until``: a guest printing nonstop cannot
    grow them without bound.  ``log_dropped`` and ``dropped`` count what was
    discarded from each (the oldest output goes first); a ``read_until``
    waiting meanwhile keeps searching what is left."""

    def __init__(self, instance: Instance, limit: int = DEFAULT_BUFFER_LIMIT) -> None:
        self._instance = instance
        self._cond = threading.Condition()
        self._pending = bytearray()   # printed, not yet consumed by read_until
        self.log = bytearray()        # the last `limit` bytes the guest printed
        self.limit = checked_limit(limit)
        self.dropped = 0              # unread bytes discarded so read_until never saw them
        self.log_dropped = 0          # bytes gone from the start of `log`
        self._running = False
        self._pump: Optional[threading.Thread] = None

    @property
    def buffered(self) -> int:
        """Bytes printed that no ``read_until`` consumed yet."""
        return len(self._pending)

    # ---- the pump (started and stopped around each run) --------------------

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
        lib, h = self._instance.lib, self._instance.handle
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
                self.dropped += _trim(self._pending, self.limit)
                self.log_dropped += _trim(self.log, self.limit)
                self._cond.notify_all()

    def _pump_loop(self) -> None:
        lib, h = self._instance.lib, self._instance.handle
        while self._running:
            lib.panda_serial_wait(h, 100)
            self._drain()

    # ---- for drivers -------------------------------------------------------

    def write(self, data: Union[bytes, str]) -> None:
        if isinstance(data, str):
            data = data.encode()
        self._instance.check(self._instance.lib.panda_serial_write(self._instance.handle, data, len(data)))

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
                        f"the guest stopped ({self._instance.stop_reason() or 'run() returned'}) before the "
                        f"console printed {regex.pattern!r}{self._dropped_note()}; "
                        f"last output: {bytes(self.log[-200:])!r}")
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise TimeoutError(f"no {regex.pattern!r} on the console within {timeout} s"
                                       f"{self._dropped_note()}; last output: {bytes(self.log[-200:])!r}")
                self._cond.wait(0.2 if left is None else min(left, 0.2))


    def _dropped_note(self) -> str:
        if not self.dropped:
            return ""
        return (f" ({self.dropped:,} bytes of output were dropped unread: more than the "
                f"{self.limit:,}-byte serial_buffer_limit waited)")


def _trim(buf: bytearray, limit: int) -> int:
    """Drop the oldest bytes of ``buf`` beyond ``limit``; how many went."""
    excess = len(buf) - limit
    if excess <= 0:
        return 0
    del buf[:excess]
    return excess


class Console:
    """Typing commands and reading their output; the monitor."""

    def __init__(self, instance: Instance, expect_prompt: Optional[str],
                 buffer_limit: int = DEFAULT_BUFFER_LIMIT) -> None:
        self._instance = instance
        self.serial = SerialConsole(instance, buffer_limit)
        self.expect_prompt = expect_prompt
        self.prompt_seen = False           # the guest has printed its first prompt

    def require_driver(self, what: str) -> None:
        """Raise unless ``what`` may block here: a serial console exists and
        this is not the emulation thread."""
        inst = self._instance
        if not inst.is_pc:
            raise UnsupportedError(f"{what}: the {inst.machine} machine has no serial console; "
                                   f"use the pc machine (-M pc)")
        if inst.on_emulation_thread():
            raise StateError(f"{what} blocks until the guest answers, so it cannot run in a callback: "
                             f"call it from a function queued with @panda.queue_blocking")

    def prompt_regex(self) -> "re.Pattern[bytes]":
        if not self.expect_prompt:
            raise StateError("no prompt to wait for: pass expect_prompt= (a regex) to Panda()")
        return re.compile(self.expect_prompt.encode() if isinstance(self.expect_prompt, str)
                          else self.expect_prompt)

    def wait_for_first_prompt(self, timeout: Optional[float]) -> None:
        if self.prompt_seen:
            return
        self.serial.read_until(self.prompt_regex(), timeout)
        self.prompt_seen = True
        if self._instance.verbose:
            icount = self._instance.lib.panda_serial_output_icount(self._instance.handle)
            progress(f"guest prompt after {icount:,} instructions")

    def run_serial_cmd(self, cmd: str, no_timeout: bool, timeout: Optional[float]) -> str:
        self.require_driver("run_serial_cmd")
        limit = None if no_timeout else (timeout if timeout is not None else 30.0)
        self.wait_for_first_prompt(None if no_timeout else max(limit or 0, 300.0))
        self.serial.write(cmd.encode() + b"\n")
        out, match = self.serial.read_until(self.prompt_regex(), limit)
        return command_output(out, match, cmd)

    def type_serial_cmd(self, cmd: str) -> None:
        self.require_driver("type_serial_cmd")
        self.serial.write(cmd.encode())

    def serial_read_until(self, byte_sequence: bytes, timeout: Optional[float]) -> bytes:
        self.require_driver("serial_read_until")
        out, _ = self.serial.read_until(byte_sequence, timeout)
        # a script that waited for the prompt itself: run_serial_cmd must
        # not wait for it a second time
        if not self.prompt_seen and self.prompt_regex().search(out):
            self.prompt_seen = True
        return out

    @property
    def log_text(self) -> str:
        return clean(bytes(self.serial.log))

    def run_monitor_cmd(self, cmd: str) -> str:
        inst = self._instance
        if inst.on_emulation_thread():
            raise StateError("run_monitor_cmd cannot be called from a callback; call it from a "
                             "function queued with @panda.queue_blocking")
        # a monitor callback raising re-raises here (and stops the run if one is under way)
        status, reply = inst.monitor_cmd(cmd, 65536)
        inst.check(status)
        word = cmd.strip()
        if word == "stop":
            inst.user_paused = True
        elif word in ("cont", "c", "q", "quit"):
            inst.user_paused = False
        return reply

    def monitor_printf(self, mon: Any, text: str) -> None:
        self._instance.lib.panda_monitor_printf(mon, c_string(text, "monitor_printf: the text"))
