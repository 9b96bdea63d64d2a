"""The devices (libpanda/devices): each C test program in a tests/ folder
beside the devices it tests (libpanda/devices/**/tests/test_*.c) is compiled
together with every device source (every .c under libpanda/devices outside
the tests/ folders), under AddressSanitizer and UBSan when the toolchain has
them, run, and must report "N passed, 0 failed" with N > 0."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEVICES = ROOT / "libpanda" / "devices"
INCLUDES = ["-I", str(ROOT / "libpanda" / "include"), "-I", str(DEVICES)]
BASE_FLAGS = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE"]
# -fno-sanitize-recover: undefined behaviour fails the run instead of
# only printing a report
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")


def _in_tests(path: Path) -> bool:
    return "tests" in path.relative_to(DEVICES).parts[:-1]


TEST_SOURCES = sorted(p for p in DEVICES.rglob("test_*.c") if p.parent.name == "tests")
DEVICE_SOURCES = sorted(p for p in DEVICES.rglob("*.c") if not _in_tests(p))


def _test_id(source: Path) -> str:
    """legacy/tests/test_uart16550.c -> "legacy/uart16550"; tests/test_bus.c
    (the shared bus's own test) -> "bus"."""
    folder = source.parent.parent.relative_to(DEVICES)
    name = source.stem[len("test_"):]
    return name if folder == Path(".") else f"{folder.as_posix()}/{name}"


def _compiler() -> str:
    cc = shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler: 'cc' is not on PATH (install gcc or clang, "
                    "e.g. apt-get install gcc)")
    return cc


def _sanitizer_setup(cc: str, workdir: Path) -> Tuple[List[str], Dict[str, str]]:
    """Flags and run environment: ASan+UBSan if the toolchain has them and
    their runtime starts here (retrying without LeakSanitizer, which cannot
    run under ptrace); otherwise no sanitizer, still -Werror."""
    probe_src = workdir / "probe.c"
    probe_src.write_text("#include <stdlib.h>\nint main(void) { void *p = malloc(4); "
                         "free(p); return 0; }\n")
    probe = workdir / "probe"
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    flags = BASE_FLAGS + SANITIZE
    try:
        subprocess.run([cc, *flags, "-o", str(probe), str(probe_src)], check=True,
                       capture_output=True, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        warnings.warn("the C compiler cannot build with -fsanitize=address,undefined: "
                      "device tests run without sanitizers", stacklevel=2)
        return list(BASE_FLAGS), env
    for extra in ("", ":detect_leaks=0"):
        trial = dict(env, ASAN_OPTIONS=env["ASAN_OPTIONS"] + extra)
        try:
            subprocess.run([str(probe)], check=True, capture_output=True, timeout=60,
                           env=trial)
            return flags, trial
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
            continue
    warnings.warn("the sanitizer runtime does not start here: device tests run "
                  "without sanitizers", stacklevel=2)
    return list(BASE_FLAGS), env


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory):
    """build(test_source) -> (compiled test program, environment to run it in)."""
    cc = _compiler()
    workdir = tmp_path_factory.mktemp("devices")
    flags, env = _sanitizer_setup(cc, workdir)
    device_sources = [str(p) for p in DEVICE_SOURCES]

    def compile_one(source: Path) -> Tuple[Path, Dict[str, str]]:
        exe = workdir / _test_id(source).replace("/", "_")
        proc = subprocess.run([cc, *flags, *INCLUDES, "-o", str(exe), str(source),
                               *device_sources],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (
            f"compiling {_test_id(source)} failed ({' '.join(flags)}):\n{proc.stderr}")
        return exe, env

    return compile_one


def test_there_are_device_tests():
    assert TEST_SOURCES, f"no test_*.c in a tests/ folder under {DEVICES}"
    assert DEVICE_SOURCES, f"no device sources under {DEVICES}"


@pytest.mark.parametrize("source", TEST_SOURCES, ids=_test_id)
def test_device(build, source: Path):
    exe, env = build(source)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300, env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{source.name} exited {proc.returncode}:\n{output}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{source.name} printed nothing:\n{output}"
    last = lines[-1]
    assert re.match(r"^\d+ passed, 0 failed$", last), (
        f"{source.name}: last line {last!r} is not 'N passed, 0 failed':\n{output}")
    passed = int(SUMMARY.match(last).group(1))
    assert passed > 0, f"{source.name} checked nothing:\n{output}"
