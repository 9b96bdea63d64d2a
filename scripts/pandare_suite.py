#!/usr/bin/env python3
"""Run pandare's own example and test scripts on pypanda, each ported by
changing only its import, and print the tally.

    python scripts/pandare_suite.py PANDA_CHECKOUT [--only NAME ...] [--timeout S]

PANDA_CHECKOUT is a clone of github.com/panda-re/panda (its
``panda/python/examples`` and ``panda/python/tests``); nothing of it is
copied into this project.  Each script is rewritten in a temporary folder:
``pandare`` imports become ``pypanda`` (``from pandare import X``,
``import pandare``, ``from pandare.extras...``); nothing else changes.  It
runs with a timeout, from a scratch folder, and counts as passing when it
exits 0 (a script's own asserts are its check).  A failure is reported with
the last line of its error: the first missing feature.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

ROOT = Path(__file__).resolve().parents[1]
IMPORTS = [
    (re.compile(r"^(\s*)from pandare(\.[\w.]+)? import", re.M), r"\1from pypanda\2 import"),
    (re.compile(r"^(\s*)import pandare\b", re.M), r"\1import pypanda as pandare"),
]


def port(text: str) -> str:
    for pattern, repl in IMPORTS:
        text = pattern.sub(repl, text)
    return text


def scripts(checkout: Path) -> List[Path]:
    base = checkout / "panda" / "python"
    found = sorted((base / "examples").rglob("*.py")) + sorted((base / "tests").glob("*.py"))
    return [p for p in found if "pandare" in p.read_text(errors="replace")]


def run_one(path: Path, timeout: float) -> Tuple[str, float, str]:
    with tempfile.TemporaryDirectory(prefix="pandare-suite-") as d:
        # the script's folder comes along (its data files, helper modules),
        # every .py in it ported the same way
        work = Path(d) / path.parent.name
        shutil.copytree(path.parent, work, ignore=shutil.ignore_patterns("*.qcow*", "*.iso", ".git"))
        for py in work.rglob("*.py"):
            py.write_text(port(py.read_text(errors="replace")))
        script = work / path.name
        d = str(work)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        t0 = time.monotonic()
        try:
            proc = subprocess.run([sys.executable, str(script)], cwd=d, capture_output=True, text=True,
                                  timeout=timeout, env=env, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return "timeout", time.monotonic() - t0, f"no exit within {timeout:.0f} s"
        took = time.monotonic() - t0
        if proc.returncode == 0:
            return "pass", took, ""
        tail = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
        return "fail", took, tail[-1][:200] if tail else f"exit {proc.returncode}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkout", type=Path)
    ap.add_argument("--only", nargs="*", help="script names (without .py) to run")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()
    todo = scripts(a.checkout)
    if a.only:
        todo = [p for p in todo if p.stem in a.only]
    results = []
    for i, path in enumerate(todo, 1):
        status, took, why = run_one(path, a.timeout)
        rel = path.relative_to(a.checkout / "panda" / "python")
        results.append((status, rel, why))
        print(f"[{i}/{len(todo)}] {status:7s} {took:6.1f}s {rel}  {why}", flush=True)
    passed = sum(1 for s, _, _ in results if s == "pass")
    print(f"\n{passed} of {len(results)} pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
