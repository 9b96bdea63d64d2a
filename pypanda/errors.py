"""Exceptions raised by pypanda.

Every error from libpanda becomes a :class:`PandaError` subclass whose
message is libpanda's own detail text; each subclass also derives from the
builtin exception a Python user would expect (``ValueError`` for bad
input, ``MemoryError``, ``OSError``, ``NotImplementedError`` for features
this build does not have, ...).  Which class each ``panda_err`` code raises
is written next to the code in ``libpanda/include/panda/types.h``
(``PANDA_ERRORS``) and reaches Python through the generated ``_abi.py``.
"""
from __future__ import annotations

from typing import Dict, NoReturn, Type

from ._abi import ERRORS

#: panda_err enumerator -> value, e.g. CODES["PANDA_ERR_IO"]
CODES: Dict[str, int] = {e.enumerator: e.value for e in ERRORS}
globals().update(CODES)          # errors.PANDA_ERR_IO etc., as before the table was generated
PANDA_OK = CODES["PANDA_OK"]
PANDA_ERR_ENGINE = CODES["PANDA_ERR_ENGINE"]


class PandaError(Exception):
    """An error reported by libpanda; ``code`` is its panda_err value."""

    def __init__(self, message: str, code: int = PANDA_ERR_ENGINE) -> None:
        super().__init__(message)
        self.code = code


class ArgumentError(PandaError, ValueError):
    """libpanda refused an argument: NULL, out of range or malformed."""


class PandaMemoryError(PandaError, MemoryError):
    """libpanda ran out of host memory."""


class OptionError(PandaError, ValueError):
    """An unknown or malformed option (arch, mem, extra_args, ...)."""


class ArchError(OptionError):
    """The library emulates another guest architecture than the one asked for."""


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


class HandleError(PandaError, TypeError):
    """A handle of the wrong kind (say a ``CPUState*`` where a ``Monitor*``
    is expected), or a value that is no handle this Panda made."""


class GuestError(PandaError, RuntimeError):
    """The guest stopped on an error nothing in the guest handles."""


class InvalidInstructionError(GuestError):
    """The guest executed an invalid instruction."""


class GuestMemoryError(GuestError):
    """The guest accessed unmapped or protected memory."""


class GuestExceptionError(GuestError):
    """The guest raised a CPU exception that nothing delivers (on the pc
    machine: a triple fault)."""


class GuestBootError(GuestError):
    """The guest's firmware found nothing to boot (e.g. a disk without a
    boot signature); ``panda.bios_log`` has what the BIOS said."""


class EngineError(PandaError, RuntimeError):
    """Any other error of the CPU engine."""


class SnapshotError(PandaError, ValueError):
    """A snapshot is missing, corrupt, or does not fit this machine."""


class RecordingError(PandaError, ValueError):
    """A recording is missing, incomplete, corrupt, or of another guest."""


class ReplayDivergedError(PandaError, RuntimeError):
    """A replay left the path of its recording; the message names the first
    instruction count where it differs."""


class PandaIOError(PandaError, OSError):
    """A file could not be read or written."""


def _classes_by_code() -> Dict[int, Type[PandaError]]:
    found = {name: cls for name, cls in globals().items()
             if isinstance(cls, type) and issubclass(cls, PandaError)}
    table: Dict[int, Type[PandaError]] = {}
    for err in ERRORS:
        if err.exception is None:
            continue
        if err.exception not in found:
            raise ImportError(f"types.h maps {err.enumerator} to {err.exception}, which "
                              f"pypanda.errors does not define")
        table[err.value] = found[err.exception]
    return table


#: panda_err value -> the class raised for it (from types.h's PANDA_ERRORS)
BY_CODE: Dict[int, Type[PandaError]] = _classes_by_code()


def unsupported(feature: str, missing: str) -> NoReturn:
    """Raise UnsupportedError: ``feature`` needs ``missing``, which this
    build of pypanda does not have."""
    raise UnsupportedError(f"{feature} needs {missing}, which this build of pypanda does not have")


def error_for(code: int, message: str) -> PandaError:
    """The exception for a panda_err code and its detail message."""
    return BY_CODE.get(code, PandaError)(message, code)
