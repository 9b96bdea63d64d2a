"""pandare's ``IoctlFaker``: make failing ioctls succeed, to stand in for
drivers and peripherals that are not there, and keep a record of them."""
from __future__ import annotations

import logging
from typing import Any, Iterable, List, Optional, Set, Tuple

from ._common import check_arch, get_retval, set_retval

IOCTL_DIRECTIONS = {0: "IO", 1: "IOW", 2: "IOR", 3: "IOWR"}


class IoctlCmdBits:
    """The fields of an ioctl command number, named as pandare names them:
    ``type_num`` is bits 0-7 (Linux's ``_IOC_NR``), ``cmd_num`` bits 8-15
    (Linux's ``_IOC_TYPE``, the driver's letter), ``arg_size`` bits 16-29,
    ``direction`` bits 30-31."""

    __slots__ = ("type_num", "cmd_num", "arg_size", "direction")

    def __init__(self, value: int) -> None:
        self.type_num = value & 0xFF
        self.cmd_num = (value >> 8) & 0xFF
        self.arg_size = (value >> 16) & 0x3FFF
        self.direction = (value >> 30) & 0x3


class IoctlCmd:
    """pandare's ``union IoctlCmdUnion``: ``asUnsigned32`` and ``bits``."""

    __slots__ = ("asUnsigned32", "bits")

    def __init__(self, value: int) -> None:
        self.asUnsigned32 = value & 0xFFFFFFFF
        self.bits = IoctlCmdBits(self.asUnsigned32)

    def __str__(self) -> str:
        return f"{self.asUnsigned32:#x}"


class Ioctl:
    """One ioctl the guest made: the unpacked command, the argument buffer
    (read when the command encodes a size), the return code, and, with
    ``use_osi_linux``, the process and file names."""

    def __init__(self, panda: Any, cpu: Any, fd: int, cmd: int, guest_ptr: int,
                 use_osi_linux: bool = False) -> None:
        self.cmd = IoctlCmd(cmd)
        self.fd = fd
        self.original_ret_code: Optional[int] = None
        self.osi = use_osi_linux
        self.guest_ptr: Optional[int]
        self.guest_buf: Optional[bytes]
        if self.cmd.bits.arg_size > 0:
            self.has_buf = True
            self.guest_ptr = guest_ptr
            try:
                self.guest_buf = bytes(panda.virtual_memory_read(cpu, guest_ptr, self.cmd.bits.arg_size))
            except ValueError:
                self.guest_buf = None    # pandare raises; a bad pointer is the guest's own error
        else:
            self.has_buf = False
            self.guest_ptr = None
            self.guest_buf = None
        self.proc_name: Optional[str] = None
        self.file_name: Optional[str] = None
        if self.osi:
            proc = panda.get_current_process(cpu)
            self.proc_name = proc.name if proc is not None else "unknown"
            try:
                name = panda.get_file_name(cpu, fd, proc) if proc is not None else None
            except Exception:
                name = None
            self.file_name = name.decode("utf8", "replace") if name else "unknown"

    def get_ret_code(self, panda: Any, cpu: Any) -> None:
        """Read the call's return value (signed) into ``original_ret_code``."""
        self.original_ret_code = get_retval(panda, cpu)

    def __str__(self) -> str:
        s = f"'{self.proc_name}' using '{self.file_name}' - " if self.osi else ""
        b = self.cmd.bits
        desc = (f"dir={IOCTL_DIRECTIONS[b.direction]},arg_size={b.arg_size:x},"
                f"cmd=0x{b.cmd_num:x},type=0x{b.type_num:x}")
        if self.guest_ptr is None:
            return s + f"ioctl({desc}) -> {self.original_ret_code}"
        return s + f"ioctl({desc},ptr={self.guest_ptr:08x},buf={self.guest_buf!r}) -> {self.original_ret_code}"

    __repr__ = __str__

    def _key(self) -> Tuple[Any, ...]:
        return (self.cmd.asUnsigned32, self.has_buf, self.guest_ptr, self.guest_buf, self.proc_name,
                self.file_name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ioctl) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


class IoctlFaker:
    """Force ioctl successes (pandare's ``extras.IoctlFaker``).

    ``intercept_ret_vals`` are the return values made 0 (default ``[-25]``,
    ``-ENOTTY``: no driver handles the command); ``intercept_all_non_zero``
    makes every non-zero return 0; ``ignore`` lists ``(file_name, cmd_num)``
    pairs left alone (file names need ``use_osi_linux``).  Every ioctl is
    kept, deduplicated, in :meth:`get_forced_returns` or
    :meth:`get_unmodified_returns`."""

    def __init__(self, panda: Any, use_osi_linux: bool = False, log: bool = False,
                 ignore: Optional[Iterable[Tuple[Optional[str], int]]] = None,
                 intercept_ret_vals: Optional[Iterable[int]] = None,
                 intercept_all_non_zero: bool = False) -> None:
        check_arch(panda, "IoctlFaker")
        self.osi = use_osi_linux
        self._panda = panda
        self._log = log
        self.ignore: List[Tuple[Optional[str], int]] = list(ignore or [])
        self.intercept_ret_vals: List[int] = list(intercept_ret_vals if intercept_ret_vals is not None else [-25])
        self.intercept_all_non_zero = intercept_all_non_zero
        self._logger = logging.getLogger("panda.ioctls")
        self._forced_returns: Set[Ioctl] = set()
        self._unmodified_returns: Set[Ioctl] = set()
        panda.load_plugin("syscalls2")
        if self.osi:
            panda.load_plugin("osi")
            panda.load_plugin("osi_linux")

        @panda.ppp("syscalls2", "on_sys_ioctl_return")
        def ioctl_faker_on_sys_ioctl_return(cpu: Any, pc: int, fd: int, cmd: int, arg: int) -> None:
            ioctl = Ioctl(self._panda, cpu, fd, cmd, arg, self.osi)
            ioctl.get_ret_code(self._panda, cpu)
            rc = ioctl.original_ret_code
            force = (self.intercept_all_non_zero and rc != 0) or rc in self.intercept_ret_vals
            if force and (ioctl.file_name, ioctl.cmd.bits.cmd_num) not in self.ignore:
                set_retval(self._panda, cpu, 0)
                self._forced_returns.add(ioctl)
                if self._log:
                    if ioctl.has_buf:
                        self._logger.warning("Forcing success return for data-containing %s", ioctl)
                    else:
                        self._logger.info("Forcing success return for data-less %s", ioctl)
            else:
                self._unmodified_returns.add(ioctl)

    @staticmethod
    def _get_returns(source: Set[Ioctl], with_buf_only: bool) -> Any:
        if with_buf_only:
            return [i for i in source if i.has_buf]
        return source

    def get_forced_returns(self, with_buf_only: bool = False) -> Any:
        """The ioctls whose error was replaced by 0 (a set; a list if
        ``with_buf_only``, as pandare's)."""
        return self._get_returns(self._forced_returns, with_buf_only)

    def get_unmodified_returns(self, with_buf_only: bool = False) -> Any:
        """The ioctls left as they were."""
        return self._get_returns(self._unmodified_returns, with_buf_only)


__all__ = ["Ioctl", "IoctlCmd", "IoctlCmdBits", "IoctlFaker"]
