"""Exceptions raised by pypanda.

Every error from libpanda becomes a :class:`PandaError` subclass whose
message is libpanda's own detail text; each subclass also derives from the
builtin exception a Python user would expect (``ValueError`` for bad
input, ``NotImplementedError`` for features this build does not have).
"""
from __future__ import annotations

from typing import Dict, Type

# libpanda's panda_err values (libpanda/include/panda/types.h)
PANDA_OK = 0
PANDA_ERR_ARG = 1
PANDA_ERR_NOMEM = 2
PANDA_ERR_OPTION = 3
PANDA_ERR_ARCH = 4
PANDA_ERR_UNSUPPORTED = 5
PANDA_ERR_STATE = 6
PANDA_ERR_UNMAPPED = 7
PANDA_ERR_MAP = 8
PANDA_ERR_REGISTER = 9
PANDA_ERR_CALLBACK = 10
PANDA_ERR_GUEST_INSN = 11
PANDA_ERR_GUEST_MEMORY = 12
PANDA_ERR_GUEST_EXCEPTION = 13
PANDA_ERR_ENGINE = 14
PANDA_ERR_SNAPSHOT = 15
PANDA_ERR_RECORDING = 16
PANDA_ERR_DIVERGED = 17
PANDA_ERR_IO = 18


class PandaError(Exception):
    """An error reported by libpanda; ``code`` is its panda_err value."""

    def __init__(self, message: str, code: int = PANDA_ERR_ENGINE) -> None:
        super().__init__(message)
        self.code = code


class OptionError(PandaError, ValueError):
    """An unknown or malformed option (arch, mem, extra_args, ...)."""


class UnsupportedError(PandaError, NotImplementedError):
    """A feature this build of pypanda does not have yet."""


class StateError(PandaError, RuntimeError):
    """The call is not allowed now (e.g. while the guest runs)."""


class MemoryAccessError(PandaError, ValueError):
    """The host read or wrote guest memory that is not mapped."""


class MappingError(PandaError, ValueError):
    """map_memory() was given an overlapping, misaligned or empty range."""


class RegisterError(PandaError, ValueError):
    """An unknown register name or id."""


class CallbackError(PandaError, TypeError):
    """A callback of the wrong type or signature, or no such callback."""


class GuestError(PandaError, RuntimeError):
    """The guest stopped on an error nothing in the guest handles."""


class InvalidInstructionError(GuestError):
    """The guest executed an invalid instruction."""


class GuestMemoryError(GuestError):
    """The guest accessed unmapped or protected memory."""


class GuestExceptionError(GuestError):
    """The guest raised a CPU exception that nothing delivers (on the pc
    machine: a triple fault)."""


class SnapshotError(PandaError, ValueError):
    """A snapshot is missing, corrupt, or does not fit this machine."""


class RecordingError(PandaError, ValueError):
    """A recording is missing, incomplete, corrupt, or of another guest."""


class ReplayDivergedError(PandaError, RuntimeError):
    """A replay left the path of its recording; the message names the first
    instruction count where it differs."""


_BY_CODE: Dict[int, Type[PandaError]] = {
    PANDA_ERR_ARG: OptionError,
    PANDA_ERR_OPTION: OptionError,
    PANDA_ERR_ARCH: OptionError,
    PANDA_ERR_UNSUPPORTED: UnsupportedError,
    PANDA_ERR_STATE: StateError,
    PANDA_ERR_UNMAPPED: MemoryAccessError,
    PANDA_ERR_MAP: MappingError,
    PANDA_ERR_REGISTER: RegisterError,
    PANDA_ERR_CALLBACK: CallbackError,
    PANDA_ERR_GUEST_INSN: InvalidInstructionError,
    PANDA_ERR_GUEST_MEMORY: GuestMemoryError,
    PANDA_ERR_GUEST_EXCEPTION: GuestExceptionError,
    PANDA_ERR_SNAPSHOT: SnapshotError,
    PANDA_ERR_RECORDING: RecordingError,
    PANDA_ERR_DIVERGED: ReplayDivergedError,
}


class PandaIOError(PandaError, OSError):
    """A file could not be read or written."""


_BY_CODE[PANDA_ERR_IO] = PandaIOError


def error_for(code: int, message: str) -> PandaError:
    """The exception for a panda_err code and its detail message."""
    return _BY_CODE.get(code, PandaError)(message, code)
