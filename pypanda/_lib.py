"""Loading libpanda_<arch>.so and giving its functions their prototypes.

The prototypes are the generated table ``_abi.FUNCTIONS`` (from the C
headers; see scripts/gen_abi.py).  The library is looked up in
``$PYPANDA_LIBRARY_DIR`` if set, else in the package's ``lib/`` folder;
never on system paths, so a stray library of another version cannot be
picked up.  Each architecture's library is loaded once, on first use, and
checked against the ABI version the table was generated for.
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
from ctypes import POINTER
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

from . import _abi
from .errors import HandleError, OptionError, PandaError

API_MAJOR = _abi.API_MAJOR
API_MINOR = _abi.API_MINOR

#: Guest architectures pypanda knows how to build.
KNOWN_ARCHES = ("i386",)

# The handles: each a distinct ctypes pointer type, so ctypes itself refuses
# a handle of one kind where another is expected.
PandaPtr = POINTER(_abi.panda_t)
PluginPtr = POINTER(_abi.panda_plugin)
CPUPtr = POINTER(_abi.CPUState)
MonitorPtr = POINTER(_abi.Monitor)
#: bool (*)(void *handle): a plugin's init function
PLUGIN_INIT = _abi.panda_plugin_init_fn

#: (name, restype, argtypes) of every exported function
_PROTOTYPES: List[Tuple[str, Any, Tuple[Any, ...]]] = [
    (fn.name, fn.restype, fn.argtypes) for fn in _abi.FUNCTIONS]


def _c_params(signature: str) -> List[str]:
    inside = signature[signature.index("(") + 1:signature.rindex(")")]
    return [] if inside == "void" else [p.strip() for p in inside.split(",")]


def _kind_of(value: Any) -> str:
    """How a wrong argument reads in a message: 'CPUState*', 'int', ..."""
    if isinstance(value, ctypes._Pointer):  # type: ignore[attr-defined]
        return f"a {type(value)._type_.__name__}*"
    return f"{type(value).__name__} {value!r}" if isinstance(value, int) else f"a {type(value).__name__}"


def _guarded(fn: _abi.Function, cfunc: Any) -> Callable[..., Any]:
    """``cfunc`` raising HandleError, naming the argument and what it must
    be, where ctypes would raise its bare ArgumentError."""
    params = _c_params(fn.signature)

    def call(*args: Any) -> Any:
        try:
            return cfunc(*args)
        except ctypes.ArgumentError as exc:
            m = re.match(r"argument (\d+)", str(exc))
            i = int(m.group(1)) if m else 0
            if 0 < i <= len(params) and i <= len(args):
                raise HandleError(f"{fn.name}: argument {i} must be a {params[i - 1]}, "
                                  f"not {_kind_of(args[i - 1])}") from None
            raise HandleError(f"{fn.name}{fn.signature[fn.signature.index('('):]}: {exc}") from None

    call.__name__ = fn.name
    call.__doc__ = f"{fn.signature}: {fn.doc}" if fn.doc else fn.signature
    return call


class Library:
    """One loaded libpanda: its functions as attributes (``lib.panda_run``),
    typed from the headers.  A wrong argument raises HandleError."""

    def __init__(self, cdll: ctypes.CDLL, path: Path) -> None:
        self.cdll = cdll
        self.path = path
        for fn in _abi.FUNCTIONS:
            try:
                cfunc = getattr(cdll, fn.name)
            except AttributeError:
                raise PandaError(f"{path} has no symbol {fn.name}: it is older than this pypanda; "
                                 f"rebuild it") from None
            cfunc.restype = fn.restype
            cfunc.argtypes = fn.argtypes
            setattr(self, fn.name, _guarded(fn, cfunc))

    def __getattr__(self, name: str) -> Any:   # for the type checker: every panda_* is set above
        raise AttributeError(f"libpanda has no function {name!r}")


def library_path(arch: str) -> Path:
    """Where libpanda_<arch>.so is expected."""
    override = os.environ.get("PYPANDA_LIBRARY_DIR")
    base = Path(override) if override else Path(__file__).resolve().parent / "lib"
    return base / f"libpanda_{arch}.so"


@functools.lru_cache(maxsize=None)
def load_lib(arch: str, path_override: Optional[str] = None) -> Library:
    """Load and check libpanda for one guest architecture (cached).

    ``path_override`` names the .so file to use instead of the packaged one.
    """
    if arch not in KNOWN_ARCHES:
        raise OptionError(f"unknown arch {arch!r}: pypanda supports {', '.join(KNOWN_ARCHES)}")
    path = Path(path_override) if path_override else library_path(arch)
    if not path.exists():
        raise PandaError(
            f"{path} is missing: build it with './build.sh {arch}' in a source checkout, "
            f"or install a pypanda wheel that includes it")
    try:
        cdll = ctypes.CDLL(str(path))
    except OSError as exc:
        raise PandaError(f"cannot load {path}: {exc}") from exc
    lib = Library(cdll, path)
    major, minor = ctypes.c_uint32(), ctypes.c_uint32()
    lib.panda_version(ctypes.byref(major), ctypes.byref(minor))
    if major.value != API_MAJOR or minor.value < API_MINOR:
        raise PandaError(
            f"{path} implements ABI {major.value}.{minor.value}; this pypanda needs "
            f"{API_MAJOR}.{API_MINOR} or a later minor: rebuild the library")
    built_for = lib.panda_arch_name().decode()
    if built_for != arch:
        raise PandaError(f"{path} emulates {built_for!r}, not {arch!r}: rebuild it")
    return lib
