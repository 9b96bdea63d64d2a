"""Loading libpanda_<arch>.so and declaring its prototypes (one table).

The library is looked up in ``$PYPANDA_LIBRARY_DIR`` if set, else in the
package's ``lib/`` folder; never on system paths, so a stray library of
another version cannot be picked up.  Each architecture's library is loaded
once, on first use, and checked against the ABI version this module was
written for.
"""
from __future__ import annotations

import ctypes
import functools
import os
from ctypes import (CFUNCTYPE, POINTER, c_bool, c_char_p, c_int, c_size_t,
                    c_uint32, c_uint64, c_void_p)
from pathlib import Path
from typing import Optional

from .errors import OptionError, PandaError

API_MAJOR = 0
API_MINOR = 2

#: Guest architectures pypanda knows how to build.
KNOWN_ARCHES = ("i386",)

panda_err = c_int
panda_p = c_void_p      # panda_t *
plugin_p = c_void_p     # panda_plugin *
cpu_p = c_void_p        # CPUState * (accepts a callback's LP_CPUState too)
PLUGIN_INIT = CFUNCTYPE(c_bool, c_void_p)

_PROTOTYPES = [
    # name, restype, argtypes
    ("panda_version", None, [POINTER(c_uint32), POINTER(c_uint32)]),
    ("panda_arch_name", c_char_p, []),
    ("panda_strerror", c_char_p, [c_int]),
    ("panda_cb_name", c_char_p, [c_int]),
    ("panda_create", panda_err, [c_int, POINTER(c_char_p), POINTER(panda_p), c_char_p, c_size_t]),
    ("panda_options_help", c_size_t, [c_char_p, c_size_t]),
    ("panda_arch_info", panda_err, [c_void_p, c_size_t]),
    ("panda_cpu_model_name", c_char_p, [c_uint32]),
    ("panda_destroy", None, [panda_p]),
    ("panda_last_error", c_char_p, [panda_p]),
    ("panda_machine_name", c_char_p, [panda_p]),
    ("panda_ram_size", c_uint64, [panda_p]),
    ("panda_get_cpu", c_void_p, [panda_p]),
    ("panda_cb_fires", c_bool, [panda_p, c_int]),
    ("panda_run", panda_err, [panda_p]),
    ("panda_stop", None, [panda_p]),
    ("panda_end_analysis", None, [panda_p]),
    ("panda_guest_halted", c_bool, [panda_p]),
    ("panda_flush_tb", None, [panda_p]),
    ("panda_enable_tb_chaining", None, [panda_p]),
    ("panda_disable_tb_chaining", None, [panda_p]),
    ("panda_enable_memcb", None, [panda_p]),
    ("panda_disable_memcb", None, [panda_p]),
    ("panda_map_memory", panda_err, [panda_p, c_char_p, c_uint64, c_uint64]),
    ("panda_physical_memory_read", panda_err, [panda_p, c_uint64, c_void_p, c_size_t]),
    ("panda_physical_memory_write", panda_err, [panda_p, c_uint64, c_void_p, c_size_t]),
    ("panda_virtual_memory_read", panda_err, [cpu_p, c_uint64, c_void_p, c_size_t]),
    ("panda_virtual_memory_write", panda_err, [cpu_p, c_uint64, c_void_p, c_size_t]),
    ("panda_virt_to_phys", panda_err, [cpu_p, c_uint64, POINTER(c_uint64)]),
    ("panda_reg_count", c_int, []),
    ("panda_reg_name", c_char_p, [c_int]),
    ("panda_reg_id", c_int, [c_char_p]),
    ("panda_reg_read", panda_err, [cpu_p, c_int, POINTER(c_uint64)]),
    ("panda_reg_write", panda_err, [cpu_p, c_int, c_uint64]),
    ("panda_current_pc", c_uint64, [cpu_p]),
    ("panda_plugin_create", panda_err, [panda_p, c_char_p, POINTER(plugin_p)]),
    ("panda_load_external_plugin", panda_err, [panda_p, c_char_p, PLUGIN_INIT, POINTER(plugin_p)]),
    ("panda_unload_plugin", None, [plugin_p]),
    # panda_cb is a union of function pointers: passed like one pointer
    ("panda_register_callback", panda_err, [plugin_p, c_int, c_void_p]),
    ("panda_unregister_callback", panda_err, [plugin_p, c_int, c_void_p]),
    ("panda_enable_callback", panda_err, [plugin_p, c_int, c_void_p]),
    ("panda_disable_callback", panda_err, [plugin_p, c_int, c_void_p]),
    ("panda_unregister_callbacks", None, [plugin_p]),
    ("panda_serial_write", panda_err, [panda_p, c_void_p, c_size_t]),
    ("panda_serial_read", c_size_t, [panda_p, c_void_p, c_size_t]),
    ("panda_serial_wait", c_size_t, [panda_p, c_int]),
    ("panda_serial_output_total", c_uint64, [panda_p]),
    ("panda_serial_output_icount", c_uint64, [panda_p]),
    ("panda_monitor_cmd", panda_err, [panda_p, c_char_p, c_void_p, c_size_t]),
    ("panda_monitor_printf", None, [c_void_p, c_char_p]),
    ("panda_instr_count", c_uint64, [panda_p]),
    ("panda_vtime_ns", c_uint64, [panda_p]),
    ("panda_open_bus_count", c_uint64, [panda_p]),
    ("panda_snap", panda_err, [panda_p, c_char_p]),
    ("panda_revert", panda_err, [panda_p, c_char_p]),
    ("panda_delvm", panda_err, [panda_p, c_char_p]),
    ("panda_snapshot_save_file", panda_err, [panda_p, c_char_p]),
    ("panda_snapshot_load_file", panda_err, [panda_p, c_char_p]),
    ("panda_record_begin", panda_err, [panda_p, c_char_p]),
    ("panda_record_end", panda_err, [panda_p]),
    ("panda_replay_begin", panda_err, [panda_p, c_char_p]),
    ("panda_replay_end", None, [panda_p]),
    ("panda_rr_mode", c_int, [panda_p]),
    ("panda_replay_progress", ctypes.c_double, [panda_p]),
    ("panda_replay_finished", c_bool, [panda_p]),
]


def library_path(arch: str) -> Path:
    """Where libpanda_<arch>.so is expected."""
    override = os.environ.get("PYPANDA_LIBRARY_DIR")
    base = Path(override) if override else Path(__file__).resolve().parent / "lib"
    return base / f"libpanda_{arch}.so"


@functools.lru_cache(maxsize=None)
def load_lib(arch: str, path_override: Optional[str] = None) -> ctypes.CDLL:
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
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise PandaError(f"cannot load {path}: {exc}") from exc
    for name, restype, argtypes in _PROTOTYPES:
        try:
            fn = getattr(lib, name)
        except AttributeError:
            raise PandaError(f"{path} has no symbol {name}: it is older than this pypanda; rebuild it") from None
        fn.restype = restype
        fn.argtypes = argtypes
    major, minor = c_uint32(), c_uint32()
    lib.panda_version(ctypes.byref(major), ctypes.byref(minor))
    if major.value != API_MAJOR or minor.value < API_MINOR:
        raise PandaError(
            f"{path} implements ABI {major.value}.{minor.value}; this pypanda needs "
            f"{API_MAJOR}.{API_MINOR} or a later minor: rebuild the library")
    built_for = lib.panda_arch_name().decode()
    if built_for != arch:
        raise PandaError(f"{path} emulates {built_for!r}, not {arch!r}: rebuild it")
    return lib
