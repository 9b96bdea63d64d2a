"""The example scripts run as a user runs them and print what they saw."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bare_machine_demo():
    out = run_example("bare_machine.py")
    assert "instructions executed: 91" in out
    assert "fibonacci in memory:   [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in out
    assert "hypercall answer:      1337" in out
    assert "[('0x0', '0x5000')]" in out
    assert "memory writes:         11, first at pc 0x1016 to 0x2000" in out


def test_seed_style_script():
    out = run_example("seed_style.py")
    assert "init in python. handle=" in out
    assert "before block at 0x1000 (13 instructions)" in out
    assert "before block at 0x1016 (8 instructions), EAX=0x1 ECX=0x9" in out
    assert "12 blocks executed" in out


def test_pandare_style_script():
    out = run_example("pandare_style.py")
    lines = [line for line in out.splitlines() if line.startswith("after block")]
    # "after" is disabled for blocks 3 and 4, then on again
    assert lines[0] == "after block 0x1000, exit code 1, EAX=1"
    assert "EAX=5" in lines[2]
    assert "blocks: 12" in out
