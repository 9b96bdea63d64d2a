"""Debian's QEMU driven over its serial console, for the benchmarks."""
from __future__ import annotations

import os
import select
import subprocess
import time
from typing import List


class QemuConsole:
    """qemu-system-* with -serial stdio: type on it, wait for output."""

    def __init__(self, cmd: List[str]) -> None:
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.buf = b""

    def until(self, marker: bytes, limit: float = 300.0) -> None:
        """Read until marker is in what was read since the last clear()."""
        end = time.monotonic() + limit
        while marker not in self.buf:
            if time.monotonic() > end:
                raise TimeoutError(f"QEMU never printed {marker!r}: {self.buf[-300:]!r}")
            if select.select([self.proc.stdout], [], [], 0.5)[0]:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise RuntimeError(f"QEMU exited: {self.buf[-300:]!r}")
                self.buf += chunk

    def type(self, text: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text)
        self.proc.stdin.flush()

    def clear(self) -> None:
        self.buf = b""

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
