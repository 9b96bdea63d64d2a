"""Shared pieces of the extras: i386 system-call registers, the key that
pairs a system call's entry with its return, and registering syscalls2
callbacks only for the calls the guest's kernel has."""
from __future__ import annotations

import logging
from typing import Any, Callable, Tuple

from ..errors import CallbackError

#: i386 system-call argument registers, in order
ARG_REGS = ("EBX", "ECX", "EDX", "ESI", "EDI", "EBP")

logger = logging.getLogger("panda.hooking")


def signed32(v: int) -> int:
    """``v`` as a signed 32-bit value (a system call's ``-errno``)."""
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def call_key(panda: Any, cpu: Any) -> Tuple[int, int]:
    """What pairs a system call's entry with its return: the address space
    (CR3 without PTI's bit 12 and the PCID bits) and the user stack pointer,
    as libpanda's syscall tap matches them."""
    arch = panda.arch
    return arch.get_reg(cpu, "CR3") & ~0x1FFF, arch.get_reg(cpu, "ESP")


def set_arg(panda: Any, cpu: Any, num: int, value: int) -> None:
    """Set system-call argument ``num`` (0-based) before the kernel reads it."""
    panda.arch.set_reg(cpu, ARG_REGS[num], value & 0xFFFFFFFF)


def get_arg(panda: Any, cpu: Any, num: int) -> int:
    return int(panda.arch.get_reg(cpu, ARG_REGS[num])) & 0xFFFFFFFF


def set_retval(panda: Any, cpu: Any, value: int) -> None:
    """Set the value the system call returns (at its ``_return`` callback)."""
    panda.arch.set_reg(cpu, "EAX", value & 0xFFFFFFFF)


def get_retval(panda: Any, cpu: Any) -> int:
    return signed32(int(panda.arch.get_reg(cpu, "EAX")))


def register_ppp(panda: Any, callback: str, fn: Callable[..., Any]) -> bool:
    """``panda.ppp("syscalls2", callback)(fn)`` if the guest's kernel has
    that system call; False (nothing registered) if it does not."""
    try:
        panda.ppp("syscalls2", callback)(fn)
    except CallbackError as e:
        if "has no system call" in str(e):
            logger.debug("not hooking %s: %s", callback, e)
            return False
        raise
    return True


def check_arch(panda: Any, what: str) -> None:
    arch = getattr(panda, "arch_name", "i386")
    if arch != "i386":
        raise ValueError(f"{what}: pypanda's extras support the i386 guest, not {arch!r}")
