"""pypanda: whole-system dynamic analysis in the spirit of PANDA, over ctypes.

``from pypanda import *`` gives the original pypanda's names: :class:`Panda`,
``pyp`` (``pyp.callback("int(CPUState*, TranslationBlock*)")``),
:func:`progress`, and the C types callbacks receive.
"""
from .callbacks import CallbackType, callback_types
from .console import GuestStopped
from .errors import (ArchError, ArgumentError, CallbackError, EngineError, GuestBootError, GuestError,
                     GuestExceptionError, GuestMemoryError, HandleError, InvalidInstructionError,
                     MappingError, MemoryAccessError, OptionError, PandaError, PandaIOError,
                     PandaMemoryError, RecordingError, RegisterError, ReplayDivergedError,
                     SnapshotError, StateError, UnsupportedError)
from .guest_files import GuestCommandError
from .ffi import CPUState, MachineState, Monitor, TranslationBlock, pyp
from .panda import Panda
from .pyplugin import PyPlugin, PyPluginError
from .utils import progress

# pandare's ``ffi`` (after the submodule pypanda.ffi is imported, whose
# attributes it still answers: pypanda.ffi.pyp keeps working)
from .compat import blocking, ffi  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Panda", "PyPlugin", "PyPluginError", "pyp", "progress", "blocking", "ffi",
    "CPUState", "TranslationBlock", "Monitor", "MachineState",
    "CallbackType", "callback_types",
    "PandaError", "OptionError", "UnsupportedError", "StateError", "MemoryAccessError",
    "MappingError", "RegisterError", "CallbackError", "GuestError",
    "InvalidInstructionError", "GuestMemoryError", "GuestExceptionError", "GuestBootError",
    "SnapshotError", "RecordingError", "ReplayDivergedError", "GuestStopped", "GuestCommandError",
    "ArgumentError", "PandaMemoryError", "ArchError", "HandleError", "EngineError", "PandaIOError",
]
