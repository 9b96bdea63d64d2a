"""The legacy PC devices (libpanda/devices): each C test program in
libpanda/devices/tests is compiled together with every device source, under
AddressSanitizer and UBSan when the toolchain has them, run, and must report
"N passed, 0 failed" with N > 0."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEVICES = ROOT / "libpanda" / "devices"
TESTS = DEVICES / "tests"
INCLUDES = ["-I", str(ROOT / "libpanda" / "include"), "-I", str(DEVICES)]
BASE_FLAGS = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE"]
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer"]
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")

TEST_SOURCES = sorted(TESTS.glob("test_*.c"))


def _compiler() -> str:
    cc = shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler: 'cc' is not on PATH (install gcc or clang, "
                    "e.g. apt-get install gcc)")
    return cc


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory):
    """build(test_source) -> path of the compiled test program."""
    cc = _compiler()
    workdir = tmp_path_factory.mktemp("devices")

    # Are the sanitizers usable here (compiler support and a runtime that
    # starts)?  If not, build without them but keep -Werror.
    probe_src = workdir / "probe.c"
    probe_src.write_text("#include <stdlib.h>\nint main(void) { void *p = malloc(4); "
                         "free(p); return 0; }\n")
    probe = workdir / "probe"
    flags: List[str] = BASE_FLAGS + SANITIZE
    try:
        subprocess.run([cc, *flags, "-o", str(probe), str(probe_src)], check=True,
                       capture_output=True, timeout=120)
        subprocess.run([str(probe)], check=True, capture_output=True, timeout=60,
                       env=_run_env())
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError):
        flags = list(BASE_FLAGS)

    device_sources = [str(p) for p in sorted(DEVICES.glob("*.c"))]

    def compile_one(source: Path) -> Path:
        exe = workdir / source.stem
        proc = subprocess.run([cc, *flags, *INCLUDES, "-o", str(exe), str(source),
                               *device_sources],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (
            f"compiling {source.name} failed ({' '.join(flags)}):\n{proc.stderr}")
        return exe

    return compile_one


def _run_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def test_there_are_device_tests():
    assert TEST_SOURCES, f"no test_*.c in {TESTS}"


@pytest.mark.parametrize("source", TEST_SOURCES, ids=lambda p: p.stem[len("test_"):])
def test_device(build, source: Path):
    exe = build(source)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300,
                          env=_run_env())
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{source.name} exited {proc.returncode}:\n{output}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{source.name} printed nothing:\n{output}"
    match = SUMMARY.match(lines[-1])
    assert match, f"{source.name}: last line is not 'N passed, M failed':\n{output}"
    passed, failed = int(match.group(1)), int(match.group(2))
    assert failed == 0, output
    assert passed > 0, f"{source.name} checked nothing:\n{output}"
