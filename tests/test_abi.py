"""The ABI has one source, the headers: pypanda/_abi.py is generated from
them, and a compiled probe checks the table against them item by item."""
from __future__ import annotations

import ctypes
import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

from pypanda import Panda, _abi, errors, pyp
from pypanda import _lib

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = ROOT / "libpanda" / "include"
ABI_PY = ROOT / "pypanda" / "_abi.py"


@pytest.fixture(scope="module")
def gen_abi():
    spec = importlib.util.spec_from_file_location("gen_abi", ROOT / "scripts" / "gen_abi.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_abi"] = module   # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    del sys.modules["gen_abi"]


@pytest.fixture(scope="module")
def cc():
    path = shutil.which("cc") or shutil.which("gcc")
    if path is None:
        pytest.fail("a C compiler (cc) is needed: apt-get install gcc")
    return path


def altered_headers(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of the headers with one edit."""
    copy = tmp_path / "include"
    shutil.copytree(INCLUDE, copy)
    header = copy / "panda" / name
    text = header.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {name}"
    header.write_text(text.replace(old, new))
    return copy


def altered_table(gen_abi, old: str, new: str):
    text = ABI_PY.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in _abi.py"
    return gen_abi.load_table(text.replace(old, new))


def assert_names(problems, item):
    """The probe found the change, named the item, and nothing unrelated
    (``item``: its name, or its name and the names a change may spill onto)."""
    items = item if isinstance(item, tuple) else (item,)
    assert any(p.startswith(items[0]) for p in problems), problems
    assert all(p.startswith(items) for p in problems), problems


def test_committed_table_is_what_the_headers_generate(gen_abi, tmp_path):
    out = tmp_path / "_abi.py"
    assert gen_abi.main(["--output", str(out)]) == 0
    assert out.read_text() == ABI_PY.read_text(), "pypanda/_abi.py is stale: run python scripts/gen_abi.py"
    assert ABI_PY.read_text().splitlines()[0].startswith('"""libpanda\'s C ABI as ctypes: GENERATED')


def test_the_table_agrees_with_the_headers(gen_abi, cc):
    assert gen_abi.check(INCLUDE, _abi, cc) == []


def test_the_table_covers_the_abi():
    assert len(_abi.CALLBACKS) == 51 == _abi.ENUMS["panda_cb_type"]["PANDA_CB_LAST"]
    assert [cb.number for cb in _abi.CALLBACKS] == list(range(51))
    assert len(_abi.ERRORS) == _abi.ENUMS["panda_err"]["PANDA_ERR_COUNT"]
    assert set(_abi.OPAQUE_TYPES) == {"panda_t", "panda_plugin", "Monitor", "MachineState"}
    assert set(_abi.STRUCTS) == {"CPUState", "TranslationBlock", "panda_arch_facts", "panda_syscall",
                                 "panda_mem_access"}
    assert set(_abi.FUNCTION_POINTER_TYPES) >= {"panda_hook_fn", "panda_syscall_fn", "panda_mem_hook_fn"}
    names = {fn.name for fn in _abi.FUNCTIONS}
    assert {"panda_run", "panda_create", "panda_register_callback"} <= names
    by_name = {fn.name: fn for fn in _abi.FUNCTIONS}
    assert by_name["panda_monitor_printf"].argtypes[0] is ctypes.POINTER(_abi.Monitor)
    assert by_name["panda_reg_read"].argtypes[0] is ctypes.POINTER(_abi.CPUState)


@pytest.mark.parametrize("header, old, new, item", [
    ("types.h", "uint32_t cpu_index;", "uint16_t cpu_index;", "struct CPUState field cpu_index"),
    ("types.h", "uint32_t flags; ", "int32_t flags; ", "struct TranslationBlock field flags"),
    ("types.h", "X(ERR_IO, \"file error\", PandaIOError)",
     "X(ERR_ENGINE2, \"spare\", EngineError) X(ERR_IO, \"file error\", PandaIOError)",
     ("error code PANDA_ERR_IO", "enum panda_err PANDA_ERR_IO", "enum panda_err PANDA_ERR_GUEST_BOOT",
      "error code PANDA_ERR_GUEST_BOOT", "enum panda_err PANDA_ERR_COUNT")),
    ("callbacks.h", "X(30, REPLAY_SERIAL_RECEIVE, replay_serial_receive, void, (CPUState *env, target_ptr_t fifo_addr, uint8_t value))",
     "X(30, REPLAY_SERIAL_RECEIVE, replay_serial_receive, void, (CPUState *env, target_ptr_t fifo_addr, uint32_t value))",
     "callback replay_serial_receive"),
    ("panda.h", "PANDA_EXPORT void panda_monitor_printf(Monitor *mon, const char *text);",
     "PANDA_EXPORT void panda_monitor_printf(CPUState *mon, const char *text);", "function panda_monitor_printf"),
])
def test_a_header_change_alone_is_caught(gen_abi, cc, tmp_path, header, old, new, item):
    assert_names(gen_abi.check(altered_headers(tmp_path, header, old, new), _abi, cc), item)


@pytest.mark.parametrize("old, new, item", [
    ("('cpu_index', c_uint32)", "('cpu_index', c_uint64)", ("struct CPUState field cpu_index", "struct CPUState")),
    ("'PANDA_ERR_IO': 18,", "'PANDA_ERR_IO': 19,", "enum panda_err PANDA_ERR_IO"),
    ("'void(CPUState*, TranslationBlock*, uint8_t)'", "'void(CPUState*, TranslationBlock*, uint32_t)'",
     "callback after_block_exec"),
    ("POINTER(CPUState), (POINTER(panda_t),),", "c_void_p, (POINTER(panda_t),),", "function panda_get_cpu"),
])
def test_a_table_change_alone_is_caught(gen_abi, cc, old, new, item):
    assert_names(gen_abi.check(INCLUDE, altered_table(gen_abi, old, new), cc), item)


@pytest.mark.parametrize("header, old, new, complaint", [
    ("panda.h", "PANDA_EXPORT void panda_stop(panda_t *p);", "void panda_stop(panda_t *p);", "not a declaration"),
    ("types.h", "typedef uint64_t hwaddr;", "typedef uint64_t hwaddr;\nint panda_global;", "not a declaration"),
    ("panda.h", f"#define PANDA_API_MINOR {_abi.API_MINOR}", "#define PANDA_API_MINOR (1 + 2)", "only integer constants"),
    ("callbacks.h", "X(4, BEFORE_BLOCK_EXEC,", "X(5, BEFORE_BLOCK_EXEC,", "not its position"),
    ("types.h", "uint32_t reserved;", "frob_t reserved;", "unknown type 'frob_t'"),
])
def test_the_generator_refuses_what_it_does_not_understand(gen_abi, tmp_path, header, old, new, complaint):
    with pytest.raises(gen_abi.HeaderError, match=complaint):
        gen_abi.generate(altered_headers(tmp_path, header, old, new))


# ---- error codes ------------------------------------------------------------

EXPECTED_CLASSES = {
    "PANDA_ERR_ARG": (errors.ArgumentError, ValueError),
    "PANDA_ERR_NOMEM": (errors.PandaMemoryError, MemoryError),
    "PANDA_ERR_OPTION": (errors.OptionError, ValueError),
    "PANDA_ERR_ARCH": (errors.ArchError, ValueError),
    "PANDA_ERR_UNSUPPORTED": (errors.UnsupportedError, NotImplementedError),
    "PANDA_ERR_STATE": (errors.StateError, RuntimeError),
    "PANDA_ERR_UNMAPPED": (errors.MemoryAccessError, ValueError),
    "PANDA_ERR_MAP": (errors.MappingError, ValueError),
    "PANDA_ERR_REGISTER": (errors.RegisterError, ValueError),
    "PANDA_ERR_CALLBACK": (errors.CallbackError, TypeError),
    "PANDA_ERR_GUEST_INSN": (errors.InvalidInstructionError, RuntimeError),
    "PANDA_ERR_GUEST_MEMORY": (errors.GuestMemoryError, RuntimeError),
    "PANDA_ERR_GUEST_EXCEPTION": (errors.GuestExceptionError, RuntimeError),
    "PANDA_ERR_ENGINE": (errors.EngineError, RuntimeError),
    "PANDA_ERR_SNAPSHOT": (errors.SnapshotError, ValueError),
    "PANDA_ERR_RECORDING": (errors.RecordingError, ValueError),
    "PANDA_ERR_DIVERGED": (errors.ReplayDivergedError, RuntimeError),
    "PANDA_ERR_IO": (errors.PandaIOError, OSError),
    "PANDA_ERR_GUEST_BOOT": (errors.GuestBootError, RuntimeError),
}


def test_every_error_code_raises_its_class():
    lib = _lib.load_lib("i386")
    assert {e.enumerator for e in _abi.ERRORS} == set(EXPECTED_CLASSES) | {"PANDA_OK"}
    for err in _abi.ERRORS:
        assert lib.panda_strerror(err.value).decode() == err.message
        if err.enumerator == "PANDA_OK":
            assert err.exception is None
            continue
        exc = errors.error_for(err.value, "detail")
        cls, builtin = EXPECTED_CLASSES[err.enumerator]
        assert type(exc) is cls, err.enumerator
        assert isinstance(exc, builtin) and isinstance(exc, errors.PandaError), err.enumerator
        assert (exc.code, str(exc)) == (err.value, "detail")


def test_a_bad_argument_from_libpanda_is_an_argument_error():
    p = Panda(arch="i386", extra_args="-M configurable")
    with pytest.raises(errors.ArgumentError) as info:
        p._check(p._lib.panda_map_memory(p._handle, None, 0x1000, 0))   # NULL name
    assert isinstance(info.value, ValueError)
    p.close()


# ---- handles ------------------------------------------------------------------

def test_a_handle_of_the_wrong_kind_is_refused():
    p = Panda(arch="i386", extra_args="-M configurable")
    cpu = p.get_cpu()
    with pytest.raises(errors.HandleError, match=r"panda_monitor_printf: argument 1 must be a Monitor\*, not a CPUState\*"):
        p.monitor_printf(cpu, "x")
    with pytest.raises(errors.HandleError, match=r"get_reg: cpu must be the CPUState\* from panda.get_cpu\(\) or a callback, not a panda_t\*"):
        p.arch.get_reg(p._handle, "EAX")
    with pytest.raises(errors.HandleError, match=r"virtual_memory_read: cpu must be the CPUState\* .*, not int"):
        p.virtual_memory_read(0xdead, 0, 4)
    with pytest.raises(errors.HandleError, match=r"argument 1 must be a panda_t\*"):
        p._lib.panda_instr_count(cpu)
    assert p.arch.get_reg(cpu, "EAX") == 0   # nothing was passed to C
    p.close()


def test_seed_register_callback_accepts_only_this_pandas_handles(machine):
    from conftest import SUM_LOOP
    panda, _ = machine(SUM_LOOP)
    other, _ = machine(SUM_LOOP)
    seen, handles = [], {}

    @pyp.callback("int(CPUState*, TranslationBlock*)")
    def bbe(cpu, tb):
        seen.append(tb.contents.pc)
        return 0

    @pyp.callback("bool(void*)")
    def init(handle):
        handles["init"] = handle
        panda.register_callback(handle, panda.callback.before_block_exec, bbe)
        return True

    returned = panda.load_python_plugin(init, "counter")
    assert returned == handles["init"]
    for bad in (0xdead, 0, None, "handle", panda.get_cpu()):
        with pytest.raises(errors.HandleError, match="handle"):
            panda.register_callback(bad, panda.callback.before_block_exec, bbe)
    with pytest.raises(errors.HandleError, match="is not a plugin handle of this Panda"):
        other.register_callback(returned, other.callback.before_block_exec, bbe)
    panda.run()
    assert len(seen) == 6


# ---- what is missing says so -----------------------------------------------------

def test_unsupported_features_say_what_is_missing(machine):
    from conftest import SUM_LOOP
    panda, _ = machine(SUM_LOOP)
    with pytest.raises(errors.UnsupportedError) as info:
        panda.register_callback(panda.callback.before_block_exec, lambda cpu, tb: None, "x", procname="init")
    assert "needs OS introspection" in str(info.value)
    with pytest.raises(errors.UnsupportedError) as info:
        panda.record_cmd("ls", copy_directory="/tmp")
    assert "needs a CD-ROM drive" in str(info.value)
    for exc in (info.value,):
        assert "next step" not in str(exc) and "yet" not in str(exc)
