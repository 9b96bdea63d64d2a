"""The manylinux wheel: built, repaired by auditwheel, installed into a fresh
venv with no compiler on PATH, and running the bare-machine example."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_repaired_wheel_runs_without_a_compiler():
    built = subprocess.run(["bash", str(ROOT / "scripts/build_wheel.sh")], capture_output=True,
                           text=True, timeout=900, cwd=ROOT)
    assert built.returncode == 0, built.stderr[-3000:]
    wheel = Path(built.stdout.strip().splitlines()[-1])
    assert wheel.name.startswith("pypanda-0.1.0-py3-none-manylinux_")
    assert wheel.name.endswith("_x86_64.whl")
    run = subprocess.run(["bash", str(ROOT / "scripts/test_wheel.sh")], capture_output=True,
                         text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "fibonacci in memory:   [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in run.stdout
    assert "site-packages" in run.stdout
