"""pandare's ``ProcWriteCapture``: mirror what guest processes write."""
from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any, Optional, Set, Union

from ._common import check_arch, get_retval


class ProcWriteCapture:
    """Capture ``write`` (and ``writev``) system calls into files on the host.

    ``console_capture=True``: every write to a file whose path has ``tty``
    or ``console`` in it (or, while OSI cannot name the file, to fd 1, 2 or
    3, all pandare checks) is appended to ``log_dir/console.out`` (the
    kernel's own messages are printk, not writes, and are not there).

    ``proc_name="name"``: every write of processes with that name (their
    comm) is appended to ``log_dir/name/<path of the file, / made _>``, with
    ``.stdout`` / ``.stderr`` added for fds 1 and 2 (by number, as
    pandare): ``/bin/echo hi > /tmp/x`` gives ``log_dir/echo/_tmp_x.stdout``
    holding ``hi\n``.  Both can be on, and several captures stacked.

    The bytes are taken as the call returns, as many as it wrote (pandare
    takes ``count`` bytes at the entry, which fails on a buffer the program
    has not touched yet).

    ``log_dir`` defaults to the current directory (pandare's: its own
    package directory); ``rm_existing_logs`` empties the directories first.
    """

    def __init__(self, panda: Any, console_capture: bool = False, proc_name: Optional[str] = None,
                 log_dir: Optional[Union[str, Path]] = None, rm_existing_logs: bool = False) -> None:
        check_arch(panda, "ProcWriteCapture")
        self._panda = panda
        self._files_written: Set[str] = set()
        self._rm = rm_existing_logs
        self._console_capture = console_capture
        self._proc_name = proc_name
        self._proc_printed_err = False
        self._console_printed_err = False
        base = Path(log_dir) if log_dir is not None else Path.cwd()
        self._console_log_dir = base
        self._proc_log_dir: Optional[Path] = base.joinpath(proc_name) if proc_name else None
        if self._rm:
            if self._proc_log_dir is not None and self._proc_log_dir.exists():
                shutil.rmtree(self._proc_log_dir)
            if console_capture and (base / "console.out").exists():
                (base / "console.out").unlink()
        self._console_log_dir.mkdir(parents=True, exist_ok=True)
        if self._proc_log_dir is not None:
            self._proc_log_dir.mkdir(parents=True, exist_ok=True)

        # at the return, not the entry (pandare's): the bytes the kernel took,
        # from memory it has paged in
        @panda.ppp("syscalls2", "on_sys_write_return")
        def proc_write_capture_on_sys_write_return(cpu: Any, pc: int, fd: int, buf: int, cnt: int) -> None:
            self._on_write(cpu, fd, buf, cnt)

        # not in pandare's: writev too (one write of its buffers, in order)
        @panda.ppp("syscalls2", "on_sys_writev_return")
        def proc_write_capture_on_sys_writev_return(cpu: Any, pc: int, fd: int, vec: int, vlen: int) -> None:
            self._on_write(cpu, fd, vec, vlen, iovec=True)

    def _file_path(self, cpu: Any, fd: int) -> str:
        try:
            name = self._panda.get_file_name(cpu, fd)
        except Exception:
            name = None
        return name.decode("utf8", "replace") if name else f"fd{fd}"

    def _is_console(self, cpu: Any, fd: int) -> bool:
        # pandare takes fds 1-3 for the console; here that is the guess only
        # while the file cannot be named (before the kernel is up), so a
        # redirected stdout is not console output
        try:
            name = self._panda.get_file_name(cpu, fd)
        except Exception:
            name = None
        if name is None:
            return fd in (1, 2, 3)
        return b"tty" in name or b"console" in name

    def _read(self, cpu: Any, buf: int, cnt: int, iovec: bool = False, limit: Optional[int] = None) -> Optional[bytes]:
        if cnt == 0:
            return b""
        read = self._panda.virtual_memory_read
        try:
            if not iovec:
                return bytes(read(cpu, buf, cnt))
            if cnt > 1024:      # UIO_MAXIOV: the kernel refuses it
                return None
            raw = bytes(read(cpu, buf, 8 * cnt))
            parts = []
            for i in range(cnt):
                base, length = struct.unpack_from("<II", raw, 8 * i)
                if length:
                    parts.append(bytes(read(cpu, base, length)))
            return b"".join(parts)[:limit]
        except ValueError:
            return None     # paged out again since the kernel read it

    def _append(self, log_file: Path, data: bytes) -> None:
        with open(log_file, "ab") as f:
            f.write(data)
        self._files_written.add(str(log_file))

    def _on_write(self, cpu: Any, fd: int, buf: int, cnt: int, iovec: bool = False) -> None:
        written = get_retval(self._panda, cpu)
        if written <= 0:
            return
        if not iovec:
            cnt = min(cnt, written)
        data: Optional[bytes] = None
        read_done = False
        if self._console_capture:
            to_console = self._is_console(cpu, fd)
            if to_console:
                data = self._read(cpu, buf, cnt, iovec, written)
                read_done = True
                if data is not None:
                    if fd == 2:
                        self._console_printed_err = True
                    self._append(self._console_log_dir.joinpath("console.out"), data)
        if self._proc_name and self._proc_log_dir is not None:
            if self._panda.get_process_name(cpu) != self._proc_name:
                return
            if not read_done:
                data = self._read(cpu, buf, cnt, iovec, written)
            if data is None:
                return
            file_path = self._file_path(cpu, fd)
            if fd == 1:
                file_path += ".stdout"
            elif fd == 2:
                file_path += ".stderr"
                self._proc_printed_err = True
            self._append(self._proc_log_dir.joinpath(file_path.replace("//", "_").replace("/", "_")), data)

    def proc_printed_err(self) -> bool:
        """True once the named process has written to its stderr."""
        return self._proc_printed_err

    def console_printed_post_boot_err(self) -> bool:
        """True once anything wrote to fd 2 (console capture)."""
        return self._console_printed_err

    def get_files_written(self) -> Set[str]:
        """The host paths of the log files written so far."""
        return self._files_written


__all__ = ["ProcWriteCapture"]
