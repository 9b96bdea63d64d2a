"""The libFuzzer harnesses (scripts/fuzz.sh): every target builds and runs
for a share of a minute (PYPANDA_FUZZ_SECONDS) without a crash, and the
script does report a crash and a harness that does not build.  Marked
`fuzz`: deselect with `-m "not fuzz"`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "scripts" / "fuzz.sh"
# the whole run's fuzzing time, shared by the targets (at least 2 s each)
TOTAL_SECONDS = int(os.environ.get("PYPANDA_FUZZ_SECONDS", "60"))

pytestmark = pytest.mark.fuzz


def _fuzz(args: List[str], fuzz_dir: Path, timeout: float) -> subprocess.CompletedProcess:
    if shutil.which("clang") is None:
        pytest.fail("clang is missing: scripts/bootstrap.sh installs it "
                    "(apt-get install clang)")
    env = dict(os.environ, FUZZ_DIR=str(fuzz_dir))
    return subprocess.run([str(FUZZ), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh build and work folder: the run starts from the committed
    corpus only, as on a new machine."""
    return tmp_path_factory.mktemp("fuzz")


def _targets(fuzz_dir: Path) -> List[str]:
    proc = _fuzz(["--list"], fuzz_dir, 60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.split()


def test_every_device_and_parser_has_a_target(fuzz_dir: Path):
    targets = set(_targets(fuzz_dir))
    want = {"pic8259", "pit8254", "mc146818", "uart16550", "i8042", "port80", "pci_absent",
            "bus", "snapshot", "rr_log", "pci_host", "i440fx", "piix3", "ide"}
    assert want <= targets, f"missing fuzz targets: {sorted(want - targets)}"
    for name in targets:
        seeds = list((ROOT / "fuzz" / "corpus" / name).glob("*"))
        assert seeds, f"no committed seeds in fuzz/corpus/{name}"


def test_targets_run_without_a_crash(fuzz_dir: Path):
    targets = _targets(fuzz_dir)
    seconds = max(2, TOTAL_SECONDS // len(targets))
    proc = _fuzz(["all", str(seconds)], fuzz_dir, 600 + seconds * len(targets))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, (
        f"scripts/fuzz.sh all {seconds} exited {proc.returncode}:\n{output}")
    for name in targets:
        m = re.search(rf"^\[fuzz\] {re.escape(name)}: (\d+) executions in \d+ s, no crash$",
                      proc.stdout, re.M)
        assert m, f"no result line for {name}:\n{output}"
        assert int(m.group(1)) > 0, f"{name} executed nothing:\n{output}"


BROKEN = r"""
/* Writes past a buffer for inputs starting "XY": the crash fuzz.sh must report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || data[0] != 'X' || data[1] != 'Y') return 0;
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    copy[size] = 0;
    free(copy);
    return 0;
}
"""


def test_a_crash_is_reported_with_its_input(fuzz_dir: Path, tmp_path: Path):
    src = tmp_path / "fuzz_broken.c"
    src.write_text(BROKEN)
    proc = _fuzz([str(src), "20"], fuzz_dir, 300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, (
        f"fuzz.sh exited {proc.returncode} for a crashing harness:\n{output}")
    assert re.search(r"^\[fuzz\] broken: CRASHED after \d+ executions", proc.stdout, re.M), output
    assert "heap-buffer-overflow" in output, output
    m = re.search(r"^\[fuzz\]   reproduce: (\S+) (\S+)$", proc.stdout, re.M)
    assert m, f"no command to reproduce the crash:\n{output}"
    crash = Path(m.group(2))
    assert crash.read_bytes()[:2] == b"XY"
    again = subprocess.run([m.group(1), str(crash)], capture_output=True, text=True, timeout=60)
    assert again.returncode != 0 and "heap-buffer-overflow" in again.stderr, again.stderr


def test_a_harness_that_does_not_build_fails(fuzz_dir: Path, tmp_path: Path):
    src = tmp_path / "fuzz_nobuild.c"
    src.write_text("int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)"
                   " { return undeclared; }\n")
    proc = _fuzz([str(src), "2"], fuzz_dir, 300)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, f"fuzz.sh exited {proc.returncode}:\n{output}"
    assert "does not build" in output, output


def test_the_committed_corpus_is_what_fuzz_seeds_writes(fuzz_dir: Path, tmp_path: Path):
    """fuzz_seeds.c checks each file seed with its parser; a device whose
    state changes makes its seeds stale: `scripts/fuzz.sh --seeds`."""
    out = tmp_path / "corpus"
    proc = _fuzz(["--seeds", str(out)], fuzz_dir, 300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    committed = {p.relative_to(ROOT / "fuzz" / "corpus"): p.read_bytes()
                 for p in (ROOT / "fuzz" / "corpus").rglob("*") if p.is_file()}
    written = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    stale = sorted(str(k) for k in committed.keys() | written.keys()
                   if committed.get(k) != written.get(k))
    assert not stale, (f"fuzz/corpus is not what fuzz_seeds.c writes ({stale}): "
                       "run scripts/fuzz.sh --seeds")
