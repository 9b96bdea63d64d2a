"""The shared library and its ABI: exports, version, the callback table."""
from __future__ import annotations

import ctypes
import shutil
import subprocess

import pytest

from pypanda import Panda, callback_types, pyp
from pypanda import _lib
from pypanda.callbacks import SEED_CALLBACKS


@pytest.fixture(scope="module")
def lib():
    return _lib.load_lib("i386")


def test_only_panda_symbols_are_exported(lib):
    nm = shutil.which("nm")
    assert nm, "nm (binutils) is needed"
    out = subprocess.run([nm, "-D", "--defined-only", str(_lib.library_path("i386"))],
                         check=True, capture_output=True, text=True).stdout
    names = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert names, "no exported symbols"
    assert [n for n in names if not n.startswith("panda_")] == []
    # every prototype pypanda declares is exported, and nothing else
    assert set(names) == {name for name, _, _ in _lib._PROTOTYPES}


def test_version_and_arch(lib):
    major, minor = ctypes.c_uint32(), ctypes.c_uint32()
    lib.panda_version(ctypes.byref(major), ctypes.byref(minor))
    assert (major.value, minor.value) == (_lib.API_MAJOR, _lib.API_MINOR)
    assert lib.panda_arch_name() == b"i386"


def test_python_callback_table_matches_the_library(lib):
    for cbt in callback_types:
        assert lib.panda_cb_name(cbt.number).decode() == cbt.name
    assert lib.panda_cb_name(len(callback_types)) is None
    assert len(callback_types) == 51


def test_the_seed_callback_types_exist():
    panda = Panda(arch="i386", extra_args="-M configurable")
    assert len(SEED_CALLBACKS) + 1 == 36  # plus init
    for name in SEED_CALLBACKS + ("init",):
        cbt = getattr(panda.callback, name)
        # each is also a decorator making a C function of its type
        cfn = cbt(lambda *a: 0)
        assert isinstance(cfn, ctypes._CFuncPtr)
        if name != "init":
            cbt.check(cfn)
            assert hasattr(panda, "cb_" + name)


@pytest.mark.parametrize("sig", [
    "int(CPUState*, TranslationBlock*)", "bool(CPUState*, TranslationBlock*)",
    "int(CPUState*, target_ulong)", "bool(void*)", "int(CPUState *env, target_ulong pc, target_ulong addr, target_ulong size, void *buf)",
    "int(Monitor*, const char*)", "int(void)", "void(CPUState*, uint64_t, uint8_t)",
])
def test_seed_decorator_signatures_parse(sig):
    fn = pyp.callback(sig)(lambda *a: 0)
    assert fn.signature == sig


def test_callbacks_accepted_but_not_firing_on_bare_machine():
    panda = Panda(arch="i386", extra_args="-M configurable")
    assert panda.callback_fires("before_block_exec")
    assert not panda.callback_fires("replay_serial_receive")

    @panda.cb_replay_serial_receive
    def rx(cpu, fifo, value):  # registered now, fires once a UART exists
        pass

    assert panda.is_callback_enabled("rx")
