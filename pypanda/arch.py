"""Registers and the program counter, pandare's ``panda.arch``."""
from __future__ import annotations

import ctypes
from typing import Any, Dict, Union

from ._args import c_string, integer
from ._instance import Instance
from .errors import ArgumentError, RegisterError

Reg = Union[str, int]


class PandaArch:
    """Register access for one Panda.  ``cpu`` is the ``CPUState*`` a
    callback received, or ``panda.get_cpu()``.  Reads and writes act on the
    live CPU: a value written in a callback is what the guest sees next."""

    #: register name -> id, filled from libpanda
    registers: Dict[str, int]

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        lib = instance.lib
        self.registers = {}
        for i in range(lib.panda_reg_count()):
            self.registers[lib.panda_reg_name(i).decode()] = i
        self.reg_pc = lib.panda_reg_id(b"pc")
        self._value = ctypes.c_uint64()

    def _id(self, reg: Reg) -> int:
        if isinstance(reg, bool) or not isinstance(reg, (int, str)):
            raise RegisterError(f"a register is a name or an id, not {type(reg).__name__} {reg!r}")
        if isinstance(reg, int):
            if 0 <= reg < len(self.registers):
                return reg
            raise RegisterError(f"no register with id {reg}")
        rid = self._instance.lib.panda_reg_id(c_string(reg, "the register name", RegisterError))
        if rid < 0:
            raise RegisterError(
                f"unknown register {reg!r} for {self._instance.arch_name}: "
                f"known are {', '.join(self.registers)}")
        return rid

    def get_reg(self, cpu: Any, reg: Reg) -> int:
        """The value of ``reg`` (a name, case-insensitive, or an id)."""
        inst = self._instance
        cpu = inst.cpu_arg(cpu, "get_reg")
        v = self._value
        inst.check(inst.lib.panda_reg_read(cpu, self._id(reg), ctypes.byref(v)))
        return v.value

    def set_reg(self, cpu: Any, reg: Reg, val: int) -> None:
        """Set ``reg`` to ``val`` (masked to the register's width; ``val``
        may be negative, down to -2**63, for two's complement)."""
        inst = self._instance
        cpu = inst.cpu_arg(cpu, "set_reg")
        value = integer(val, "set_reg: the value")
        if not -(1 << 63) <= value < 1 << 64:
            raise ArgumentError(f"set_reg: the value {value:#x} does not fit a 64-bit register")
        inst.check(inst.lib.panda_reg_write(cpu, self._id(reg), value & 0xFFFFFFFFFFFFFFFF))

    def get_pc(self, cpu: Any) -> int:
        """The program counter of ``cpu``."""
        inst = self._instance
        return int(inst.lib.panda_current_pc(inst.cpu_arg(cpu, "get_pc")))

    def set_pc(self, cpu: Any, val: int) -> None:
        """Continue at ``val``."""
        self.set_reg(cpu, self.reg_pc, val)

    def dump_regs(self, cpu: Any) -> None:
        """Print every register."""
        for name in self.registers:
            print(f"{name:>7}: 0x{self.get_reg(cpu, name):x}")

    def dump_state(self, cpu: Any) -> None:
        """pandare's dump_state: the registers and the program counter."""
        self.dump_regs(cpu)
        print(f"{'PC':>7}: 0x{self.get_pc(cpu):x}")


class X86Arch(PandaArch):
    """i386: EAX..EDI (ids 0..7, QEMU's order), EIP, EFLAGS, segments,
    control registers, and the 16/8-bit parts."""

    reg_sp = "ESP"
    reg_retval = "EAX"
    #: the registers a system call takes its arguments in (int 0x80's ABI)
    syscall_args = ("EBX", "ECX", "EDX", "ESI", "EDI", "EBP")

    def get_retval(self, cpu: Any, convention: str = "default") -> int:
        """A function's or (``convention="syscall"``) a system call's return
        value: EAX, as pandare's get_retval; for system calls signed, so an
        error is ``-errno``."""
        value = self.get_reg(cpu, self.reg_retval)
        if convention == "syscall" and value & 0x80000000:
            value -= 1 << 32
        return value

    def get_arg(self, cpu: Any, num: int, convention: str = "syscall") -> int:
        """Argument ``num`` (0-based) of a system call at its entry (pandare's
        get_arg; i386's cdecl functions keep theirs on the stack:
        ``convention="cdecl"`` reads ``[ESP + 4 + 4*num]``)."""
        if convention == "syscall":
            if not 0 <= num < len(self.syscall_args):
                raise ArgumentError(f"get_arg: a system call has arguments 0..5, not {num}")
            return self.get_reg(cpu, self.syscall_args[num])
        if convention == "cdecl":
            inst = self._instance
            buf = ctypes.create_string_buffer(4)
            sp = self.get_reg(cpu, self.reg_sp)
            inst.check(inst.lib.panda_virtual_memory_read(inst.cpu_arg(cpu, "get_arg"),
                                                          sp + 4 + 4 * num, buf, 4))
            return int.from_bytes(buf.raw, "little")
        raise ArgumentError(f"get_arg: unknown convention {convention!r}: use 'syscall' or 'cdecl'")
