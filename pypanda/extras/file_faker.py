"""pandare's ``FileFaker``: files that exist only in the analysis.

When the guest opens a faked path, :class:`FileHook` renames it to a real
file (``disk_file``, opened read-only whatever the program asked for) so
the kernel hands out a real file descriptor; from then on every use of that
open file is answered from the :class:`FakeFile`: ``read``, ``readv``,
``pread64``, ``write``, ``writev``, ``pwrite64``, ``lseek``, ``_llseek``,
``fstat64``/``newfstat``/``statx`` (the size), and ``sendfile``/``sendfile64``
from it, which becomes the kernel's ``write`` of the fake data (placed on the
user stack below its pointer, up to 4 KiB a call; where there is no room it
fails with ``-EINVAL``, and busybox's ``cat`` then falls back to ``read``).  The kernel is given nothing to do for the faked calls (their counts
are set to 0 on entry), so the real file is neither read nor written.

The open file is tracked by its kernel ``struct file`` (OSI), not by
(fd, process) as pandare does: ``dup``, ``dup2``, ``fcntl(F_DUPFD)`` and
``fork`` share it, with its offset, as they do in the kernel.
"""
from __future__ import annotations

import logging
import struct
from math import ceil
from typing import Any, Dict, Optional, Tuple, Union

from ._common import call_key, get_arg, get_retval, register_ppp, set_arg, set_retval, signed32
from .file_hook import FileHook

EINVAL = 22
SEEK_SET, SEEK_CUR, SEEK_END = 0, 1, 2
AT_EMPTY_PATH = 0x1000
O_CLOEXEC = 0o2000000
O_TRUNC = 0o1000
S_IFREG = 0o100000

#: the open calls, and which argument holds the flags (after the path's)
_OPENS = {"open": 1, "openat": 2}
#: path calls whose struct stat gets the fake size: syscall -> (stat arg, layout)
_PATH_STATS = {"stat64": (1, "stat64"), "lstat64": (1, "stat64"), "fstatat64": (2, "stat64"),
               "newstat": (1, "stat"), "newlstat": (1, "stat"), "statx": (4, "statx")}


def _patch_stat(panda: Any, cpu: Any, kind: str, buf: int, size: int, mode: Optional[int]) -> None:
    """Put ``size`` (and the permission bits of ``mode``) into an i386
    struct stat64 / struct stat / struct statx the kernel just filled."""
    blocks = ceil(size / 512)
    if kind == "stat64":      # st_mode @16 (u32), st_size @44 (s64), st_blocks @56 (u64)
        panda.virtual_memory_write(cpu, buf + 44, struct.pack("<q", size))
        panda.virtual_memory_write(cpu, buf + 56, struct.pack("<Q", blocks))
        off, fmt = 16, "<I"
    elif kind == "stat":      # st_mode @8 (u16), st_size @20 (u32), st_blocks @28
        panda.virtual_memory_write(cpu, buf + 20, struct.pack("<I", size & 0xFFFFFFFF))
        panda.virtual_memory_write(cpu, buf + 28, struct.pack("<I", blocks & 0xFFFFFFFF))
        off, fmt = 8, "<H"
    else:                     # statx: stx_mode @28 (u16), stx_size @40, stx_blocks @48
        panda.virtual_memory_write(cpu, buf + 40, struct.pack("<Q", size))
        panda.virtual_memory_write(cpu, buf + 48, struct.pack("<Q", blocks))
        off, fmt = 28, "<H"
    if mode is not None:    # a regular file with the FakeFile's permissions
        panda.virtual_memory_write(cpu, buf + off, struct.pack(fmt, S_IFREG | (mode & 0o7777)))


class FakeFile:
    """The contents behind a faked path.  Subclass it to make data as it is
    read (override :meth:`read`, :meth:`write`, :meth:`get_size`).

    Unlike pandare's, the contents are what was given: no NUL is added.
    One FakeFile may be open through several file descriptors."""

    def __init__(self, fake_contents: Union[str, bytes] = "", filename: Optional[str] = None) -> None:
        self.logger = logging.getLogger("panda.hooking")
        if isinstance(fake_contents, str):
            fake_contents = fake_contents.encode("utf8")
        self.contents: bytes = bytes(fake_contents)
        self.initial_contents: bytes = self.contents
        self.refcount = 0
        self.filename = filename

    def read(self, size: int, offset: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (b"" at or past the end)."""
        if offset >= len(self.contents):
            return b""
        return self.contents[offset:offset + size]

    def write(self, offset: int, write_data: bytes) -> int:
        """Write ``write_data`` at ``offset`` (a gap past the end fills with
        NULs); returns how many bytes were written."""
        old = self.contents
        if offset > len(old):
            old = old + b"\x00" * (offset - len(old))
        self.contents = old[:offset] + bytes(write_data) + old[offset + len(write_data):]
        self.logger.info("FakeFile(%s) wrote %r at offset %d", self.filename, bytes(write_data), offset)
        return len(write_data)

    def close(self) -> None:
        """One handle fewer; logs the contents once the last one is closed."""
        self.refcount -= 1
        if self.refcount <= 0:
            if self.initial_contents == self.contents:
                self.logger.debug("all handles to FakeFile(%s) closed, contents unmodified", self.filename)
            else:
                self.logger.info("all handles to FakeFile(%s) closed, modified contents: %r",
                                 self.filename, self.contents)

    def get_mode(self) -> int:
        """The permission bits ``stat`` shows (pandare's: 0o664)."""
        return 0o664

    def get_size(self, bytesize: int = 1) -> int:
        """The size in units of ``bytesize`` bytes, rounded up."""
        return ceil(len(self.contents) / bytesize)

    def __str__(self) -> str:
        return f"FakeFile({self.filename} -> {self.contents[:10]!r}...)"


class HyperFD:
    """One open of a faked file (the kernel's struct file): the FakeFile and
    the offset, shared by every fd that refers to that open."""

    def __init__(self, filename: str, fakefile: FakeFile, offset: int = 0) -> None:
        self.name = filename
        self.file = fakefile
        self.file.refcount += 1
        self.offset = offset

    def read(self, size: int) -> Tuple[bytes, int]:
        """Read ``size`` bytes at the offset, advancing it: (data, count)."""
        data = self.file.read(size, self.offset)
        self.offset += len(data)
        return data, len(data)

    def write(self, data: bytes) -> int:
        n = self.file.write(self.offset, data)
        self.offset += n
        return n

    def get_mode(self) -> int:
        return self.file.get_mode()

    def get_size(self) -> int:
        return self.file.get_size(1)

    def close(self) -> None:
        self.file.close()

    def seek(self, offset: int, whence: int) -> int:
        """lseek: returns the new offset, or ``-EINVAL``."""
        if whence == SEEK_SET:
            new = offset
        elif whence == SEEK_CUR:
            new = self.offset + offset
        elif whence == SEEK_END:
            new = self.get_size() + offset
        else:
            return -EINVAL
        if new < 0:
            return -EINVAL
        self.offset = new
        return new

    def __str__(self) -> str:
        return f"HyperFD with name {self.name} offset {self.offset} backed by {self.file}"


#: fd calls the faker answers: name -> which argument is the fd
_FD_CALLS = {"read": 0, "readv": 0, "ia32_pread64": 0, "preadv": 0, "write": 0, "writev": 0,
             "ia32_pwrite64": 0, "pwritev": 0, "lseek": 0, "llseek": 0, "fstat64": 0, "newfstat": 0,
             "sendfile64": 1, "sendfile": 1, "close": 0, "statx": 0, "fstatat64": 0}


class FileFaker(FileHook):
    """Make the guest see files that are not there (pandare's ``extras.FileFaker``)::

        faker = FileFaker(panda)
        faker.replace_file("/etc/secret", FakeFile("fake\\n"))
    """

    def __init__(self, panda: Any) -> None:
        super().__init__(panda)
        self.faked_files: Dict[str, FakeFile] = {}
        #: struct file address -> (its inode, the HyperFD)
        self.hooked_fds: Dict[int, Tuple[int, HyperFD]] = {}
        self._fd_pending: Dict[Tuple[int, int], Tuple[str, HyperFD, Dict[int, int]]] = {}
        for name, pos in _FD_CALLS.items():
            self._gen_fd_cb(name, pos)

    def replace_file(self, filename: str, faker: FakeFile, disk_file: str = "/dev/zero") -> None:
        """Answer every access to ``filename`` from ``faker``.  The guest's
        kernel opens ``disk_file`` (read-only) in its place, which must
        exist.  The default (pandare's is ``etc/passwd``) is ``/dev/zero``:
        a read from it writes the whole buffer, which pages in memory the
        program has not touched yet, so the fake data can be put there."""
        from os import path as _path
        if faker.filename is None:
            faker.filename = filename
        self.faked_files[_path.normpath(filename)] = faker
        self.rename_file(filename, disk_file)

    # ---- tracking opens ------------------------------------------------------------

    def _osi(self) -> Any:
        return self._panda._introspection.osi

    def _file_of(self, fd: int) -> Tuple[int, int]:
        """(struct file, its inode) behind ``fd`` of the current process; (0, 0) if none."""
        try:
            osi = self._osi()
            proc = osi.current()
            f = osi.fd_file(proc, fd)
            if not f:
                return 0, 0
            return f, osi.mem.ptr(f + osi.off("file.f_inode"))
        except Exception:   # before boot, or a table that cannot be read
            return 0, 0

    def _hfd_for(self, fd: int) -> Optional[HyperFD]:
        if not self.hooked_fds or fd < 0 or fd >= 1 << 20:
            return None
        f, inode = self._file_of(fd)
        entry = self.hooked_fds.get(f)
        if entry is None:
            return None
        if entry[0] != inode:     # the struct file was freed and reused
            del self.hooked_fds[f]
            return None
        return entry[1]

    def _return_cb(self, syscall_name: str, pos: int, cpu: Any, pc: int, args: Tuple[Any, ...]) -> None:
        # a new open may get the struct file of a faked open that has been
        # released since: that one is gone
        if self.hooked_fds and syscall_name in ("open", "openat", "openat2"):
            ret = get_retval(self._panda, cpu)
            if ret >= 0:
                self.hooked_fds.pop(self._file_of(ret)[0], None)
        super()._return_cb(syscall_name, pos, cpu, pc, args)

    def _before_modified_enter(self, cpu: Any, pc: int, syscall_name: str, fname: str) -> None:
        mod = self._modification
        if mod is None or fname not in self.faked_files:
            return
        flags_pos = _OPENS.get(syscall_name)
        if flags_pos is not None:
            flags = get_arg(self._panda, cpu, flags_pos)
            mod.saved_regs[flags_pos] = flags
            if flags & O_TRUNC and flags & 3:
                self.faked_files[fname].contents = b""
            set_arg(self._panda, cpu, flags_pos, flags & O_CLOEXEC)   # O_RDONLY: the real file stays as it is

    def _after_modified_return(self, cpu: Any, pc: int, syscall_name: str) -> None:
        mod = self._modification
        if mod is None or mod.fname not in self.faked_files:
            return
        faker = self.faked_files[mod.fname]
        ret = get_retval(self._panda, cpu)
        if syscall_name in _OPENS:
            if ret < 0:
                return
            f, inode = self._file_of(ret)
            if f:
                self.hooked_fds[f] = (inode, HyperFD(mod.fname, faker))
                self.logger.info("%s opened faked %s as fd %d", syscall_name, mod.fname, ret)
        elif syscall_name in _PATH_STATS and ret == 0:
            pos, kind = _PATH_STATS[syscall_name]
            try:
                _patch_stat(self._panda, cpu, kind, int(mod.args[pos]), faker.get_size(1), faker.get_mode())
            except ValueError:
                self.logger.warning("could not fake the size in %s of %s", syscall_name, mod.fname)

    # ---- fd calls --------------------------------------------------------------

    def _gen_fd_cb(self, name: str, fd_pos: int) -> None:
        register_ppp(self._panda, f"on_sys_{name}_enter",
                     lambda cpu, pc, *args: self._enter_fd_cb(name, fd_pos, cpu, args))
        register_ppp(self._panda, f"on_sys_{name}_return",
                     lambda cpu, pc, *args: self._return_fd_cb(name, fd_pos, cpu, args))

    def _enter_fd_cb(self, name: str, fd_pos: int, cpu: Any, args: Tuple[Any, ...]) -> None:
        if not self.hooked_fds:
            return
        if name in ("statx", "fstatat64") and not int(args[2 if name == "statx" else 3]) & AT_EMPTY_PATH:
            return      # a path, not the fd: FileHook's business
        hfd = self._hfd_for(signed32(int(args[fd_pos])))
        if hfd is None:
            return
        panda = self._panda
        saved: Dict[int, int] = {}

        def neutralize(num: int, value: int) -> None:
            saved[num] = get_arg(panda, cpu, num)
            set_arg(panda, cpu, num, value)

        if name in ("write", "writev", "ia32_pwrite64", "pwritev"):
            neutralize(2, 0)                  # the kernel writes nothing
        # a read is left to the kernel: from /dev/zero it fills (and so
        # pages in) the whole buffer, which the fake data then overwrites
        elif name == "lseek":
            neutralize(1, 0)
            neutralize(2, SEEK_CUR)
        elif name == "llseek":
            neutralize(1, 0)
            neutralize(2, 0)
            neutralize(4, SEEK_CUR)
        elif name in ("sendfile64", "sendfile"):
            if not self._sendfile_as_write(cpu, name, hfd, args, saved):
                neutralize(1, 0xFFFFFFFF)     # -EBADF from the kernel; -EINVAL to the program
                saved[-1] = -1
        self._fd_pending[call_key(panda, cpu)] = (name, hfd, saved)

    def _sendfile_as_write(self, cpu: Any, name: str, hfd: HyperFD, args: Tuple[Any, ...],
                           saved: Dict[int, int]) -> bool:
        """Make sendfile(out, faked, offp, count) the kernel's write(out, data,
        n) of the fake data, put on the user stack below its pointer (up to
        4 KiB a call, as a short sendfile).  False if there is no room."""
        panda = self._panda
        offp, count = int(args[2]), int(args[3])
        if offp:
            size = 8 if name == "sendfile64" else 4
            raw = bytes(panda.virtual_memory_read(cpu, offp, size))
            pos = int.from_bytes(raw, "little", signed=True)
        else:
            pos = hfd.offset
        esp = int(panda.arch.get_reg(cpu, "ESP"))
        for chunk in (4096, 512, 64):
            data = hfd.file.read(min(count, chunk), pos) if pos >= 0 else b""
            addr = (esp - 512 - len(data)) & ~0xF
            try:
                if data:
                    panda.virtual_memory_write(cpu, addr, data)
            except ValueError:
                continue
            for num, value in ((0, int(args[0])), (1, addr), (2, len(data))):
                saved[num] = get_arg(panda, cpu, num)
                set_arg(panda, cpu, num, value)
            panda.arch.set_reg(cpu, "EAX", 4)     # __NR_write; the tap still reports the sendfile
            saved[-1] = pos
            return True
        return False

    def _return_fd_cb(self, name: str, fd_pos: int, cpu: Any, args: Tuple[Any, ...]) -> None:
        if not self._fd_pending:
            return
        panda = self._panda
        key = call_key(panda, cpu)
        pending = self._fd_pending.get(key)
        if pending is None or pending[0] != name:
            return
        del self._fd_pending[key]
        _, hfd, saved = pending
        for num, value in saved.items():
            if num >= 0:
                set_arg(panda, cpu, num, value)
        a = [int(x) for x in args]
        if name in ("sendfile64", "sendfile"):
            a.append(saved.get(-1, -1))     # where the emulated sendfile read from
        try:
            self._fake_return(name, cpu, hfd, a)
        except ValueError as e:     # guest memory that is not there
            self.logger.error("could not fake %s on %s: %s", name, hfd, e)

    def _iovecs(self, cpu: Any, vec: int, vlen: int) -> list:
        raw = bytes(self._panda.virtual_memory_read(cpu, vec, 8 * vlen)) if vlen else b""
        return [struct.unpack_from("<II", raw, 8 * i) for i in range(vlen)]

    def _fake_return(self, name: str, cpu: Any, hfd: HyperFD, a: list) -> None:
        panda = self._panda
        if name in ("read", "ia32_pread64"):
            buf, count = a[1], a[2]
            if name == "ia32_pread64":
                data = hfd.file.read(count, a[3] | (a[4] << 32))
            else:
                data, _ = hfd.read(count)
            if data:
                panda.virtual_memory_write(cpu, buf, data)
            set_retval(panda, cpu, len(data))
        elif name in ("readv", "preadv"):
            total = 0
            pos = a[3] | (a[4] << 32) if name == "preadv" else None
            for base, length in self._iovecs(cpu, a[1], a[2]):
                if pos is None:
                    data, _ = hfd.read(length)
                else:
                    data = hfd.file.read(length, pos + total)
                if data:
                    panda.virtual_memory_write(cpu, base, data)
                total += len(data)
                if len(data) < length:
                    break
            set_retval(panda, cpu, total)
        elif name in ("write", "ia32_pwrite64"):
            data = bytes(panda.virtual_memory_read(cpu, a[1], a[2])) if a[2] else b""
            if name == "ia32_pwrite64":
                n = hfd.file.write(a[3] | (a[4] << 32), data)
            else:
                n = hfd.write(data)
            set_retval(panda, cpu, n)
        elif name in ("writev", "pwritev"):
            total = 0
            for base, length in self._iovecs(cpu, a[1], a[2]):
                data = bytes(panda.virtual_memory_read(cpu, base, length)) if length else b""
                if name == "pwritev":
                    total += hfd.file.write((a[3] | (a[4] << 32)) + total, data)
                else:
                    total += hfd.write(data)
            set_retval(panda, cpu, total)
        elif name == "lseek":
            set_retval(panda, cpu, hfd.seek(signed32(a[1]), a[2]))
        elif name == "llseek":
            off = (a[1] << 32) | a[2]
            if off & (1 << 63):
                off -= 1 << 64
            new = hfd.seek(off, a[4])
            if new >= 0:
                panda.virtual_memory_write(cpu, a[3], struct.pack("<q", new))
                set_retval(panda, cpu, 0)
            else:
                set_retval(panda, cpu, new)
        elif name in ("fstat64", "newfstat", "statx", "fstatat64"):
            if get_retval(panda, cpu) == 0:
                kind, arg = {"fstat64": ("stat64", 1), "newfstat": ("stat", 1),
                             "statx": ("statx", 4), "fstatat64": ("stat64", 2)}[name]
                _patch_stat(panda, cpu, kind, a[arg], hfd.get_size(), hfd.get_mode())
        elif name in ("sendfile64", "sendfile"):
            pos, n = a[4], get_retval(panda, cpu)
            if pos < 0:
                set_retval(panda, cpu, -EINVAL)
            elif n > 0:             # the write went through: move the offset
                if a[2]:
                    size = 8 if name == "sendfile64" else 4
                    panda.virtual_memory_write(cpu, a[2], (pos + n).to_bytes(size, "little", signed=True))
                else:
                    hfd.offset = pos + n
        elif name == "close":
            pass    # other fds may share the open file; a reused struct file is noticed by its inode

    def close(self) -> None:
        """Forget every open of a faked file."""
        for _, hfd in self.hooked_fds.values():
            hfd.close()
        self.hooked_fds.clear()


__all__ = ["FakeFile", "FileFaker", "HyperFD"]
