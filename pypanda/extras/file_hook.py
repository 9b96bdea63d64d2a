"""pandare's ``FileHook``: rename files at the system-call interface.

Just before a system call that takes a path (``open``, ``openat``,
``stat64``, ``execve``, ``statx``, ...) reads it, a path that has a rename
rule is replaced by its new name; at the call's return everything is put
back, so the program never sees the change.

pandare overwrites the program's own string buffer (and restores it).
Here the new name is written onto the calling thread's user stack below its
stack pointer (memory nothing uses while the thread is in the kernel) and
the path argument's register is pointed at it, so a path in read-only or
shared memory (a string literal in a file-backed page) is never written; the
in-place overwrite is the fallback when that stack memory is not mapped.
"""
from __future__ import annotations

import logging
from os import path as _path
from typing import Any, Dict, List, Optional, Tuple, Union

from ._common import call_key, check_arch, get_retval, register_ppp, set_arg

#: i386 system calls with a path as their first argument / their second
#: (after a directory fd), as the 6.1 kernel names them
PATH_FIRST = ["open", "execve", "chdir", "mknod", "chmod", "lchown16", "stat", "access", "chroot",
              "lstat", "newstat", "newlstat", "chown16", "stat64", "lstat64", "lchown", "chown", "truncate",
              "truncate64", "readlink", "statfs", "statfs64", "uselib"]
PATH_SECOND = ["openat", "mknodat", "fchownat", "fstatat64", "fchmodat", "faccessat", "faccessat2",
               "utimensat", "execveat", "statx", "readlinkat", "openat2"]


class _Modified:
    """One system call whose path was changed: what to put back at its return."""

    __slots__ = ("syscall", "pos", "ptr", "clobbered", "fname", "saved_regs", "args")

    def __init__(self, syscall: str, pos: int, ptr: int, clobbered: Optional[bytes], fname: str,
                 args: Tuple[Any, ...]) -> None:
        self.syscall = syscall
        self.pos = pos
        self.ptr = ptr
        self.clobbered = clobbered          # None: the string went onto the stack
        self.fname = fname                  # the path the program asked for (normalized)
        self.saved_regs: Dict[int, int] = {}  # argument number -> original value
        self.args = args


class FileHook:
    """Redirect file accesses by name (pandare's ``extras.FileHook``).

    ::

        hook = FileHook(panda)
        hook.rename_file("/rename_this", "/to_this")

    Paths are compared after ``os.path.normpath`` (``/etc//x`` is ``/etc/x``);
    relative paths and paths through a directory fd are compared as given.
    """

    def __init__(self, panda: Any, use_osi: bool = True) -> None:
        check_arch(panda, "FileHook")
        self._panda = panda
        self._renamed_files: Dict[str, bytes] = {}   # old name: new name (bytes, NUL-terminated)
        self._pending: Dict[Tuple[int, int], _Modified] = {}
        #: the modification being handled while _before_modified_enter /
        #: _after_modified_return run (for subclasses)
        self._modification: Optional[_Modified] = None
        self.use_osi = use_osi
        self.logger = logging.getLogger("panda.hooking")
        panda.load_plugin("syscalls2")
        for pos, names in ((0, PATH_FIRST), (1, PATH_SECOND)):
            for name in names:
                self._gen_cb(name, pos)

    # ---- public API --------------------------------------------------------------

    def rename_file(self, old_name: str, new_name: Union[str, bytes]) -> None:
        """From now on, a system call naming ``old_name`` gets ``new_name`` instead."""
        old = _path.normpath(old_name)
        assert old not in self._renamed_files, f"Already have a rename rule for {old_name}"
        if not isinstance(new_name, bytes):
            new_name = new_name.encode("utf8")
        if not new_name.endswith(b"\x00"):
            new_name += b"\x00"
        self._renamed_files[old] = new_name

    # ---- internals ---------------------------------------------------------------

    def _get_fname(self, cpu: Any, fd: int) -> Optional[str]:
        """The path behind ``fd`` of the current process (OSI), None if not
        known or ``use_osi`` is off."""
        if not self.use_osi:
            return None
        try:
            name = self._panda.get_file_name(cpu, fd)
        except Exception:   # before the kernel is up, or an unreadable table
            return None
        return None if name is None else name.decode("utf8", "ignore")

    def _gen_cb(self, name: str, pos: int) -> None:
        register_ppp(self._panda, f"on_sys_{name}_enter",
                     lambda cpu, pc, *args: self._enter_cb(name, pos, cpu, pc, args))
        register_ppp(self._panda, f"on_sys_{name}_return",
                     lambda cpu, pc, *args: self._return_cb(name, pos, cpu, pc, args))

    def _enter_cb(self, syscall_name: str, pos: int, cpu: Any, pc: int, args: Tuple[Any, ...]) -> None:
        if not self._renamed_files:
            return
        ptr = int(args[pos])
        try:
            fname = self._panda.read_str(cpu, ptr)
        except ValueError:
            self.logger.debug("missed the path at %#x in %s (not mapped)", ptr, syscall_name)
            return
        if not fname:
            return
        fname = _path.normpath(fname)
        new = self._renamed_files.get(fname)
        if new is None:
            return
        self.logger.debug("%s: %s -> %r", syscall_name, fname, new)
        panda = self._panda
        mod: Optional[_Modified] = None
        esp = int(panda.arch.get_reg(cpu, "ESP"))
        addr = (esp - 512 - len(new)) & ~0xF
        try:
            panda.virtual_memory_write(cpu, addr, new)
            set_arg(panda, cpu, pos, addr)
            mod = _Modified(syscall_name, pos, ptr, None, fname, args)
        except ValueError:
            try:
                clobbered = bytes(panda.virtual_memory_read(cpu, ptr, len(new)))
                panda.virtual_memory_write(cpu, ptr, new)
            except ValueError:
                self.logger.warning("could not change the path of %s at %#x", syscall_name, ptr)
                return
            mod = _Modified(syscall_name, pos, ptr, clobbered, fname, args)
        self._pending[call_key(panda, cpu)] = mod
        self._modification = mod
        try:
            self._before_modified_enter(cpu, pc, syscall_name, fname)
        finally:
            self._modification = None

    def _return_cb(self, syscall_name: str, pos: int, cpu: Any, pc: int, args: Tuple[Any, ...]) -> None:
        if not self._pending:
            return
        key = call_key(self._panda, cpu)
        mod = self._pending.get(key)
        if mod is None or mod.syscall != syscall_name:
            return
        del self._pending[key]
        panda = self._panda
        exec_done = syscall_name.startswith("execve") and get_retval(panda, cpu) == 0
        if not exec_done:   # a new program has nothing of the old one's to put back
            if mod.clobbered is None:
                set_arg(panda, cpu, pos, mod.ptr)
            else:
                try:
                    panda.virtual_memory_write(cpu, mod.ptr, mod.clobbered)
                except ValueError:
                    self.logger.warning("could not restore the path of %s at %#x", syscall_name, mod.ptr)
            for num, value in mod.saved_regs.items():
                set_arg(panda, cpu, num, value)
        self._modification = mod
        try:
            self._after_modified_return(cpu, pc, syscall_name)
        finally:
            self._modification = None

    def _before_modified_enter(self, cpu: Any, pc: int, syscall_name: str, fname: str) -> None:
        """Run as a call whose path was renamed enters (for subclasses)."""

    def _after_modified_return(self, cpu: Any, pc: int, syscall_name: str) -> None:
        """Run as a call whose path was renamed returns (for subclasses)."""

    def renamed_files(self) -> List[Tuple[str, str]]:
        """The rename rules, (old, new)."""
        return [(k, v.rstrip(b"\x00").decode("utf8", "replace")) for k, v in self._renamed_files.items()]


__all__ = ["FileHook"]
