"""build.sh's engine-patch mechanism."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "build.sh"), *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


def test_project_patches_apply_in_order():
    proc = build("--verify-patches")
    assert proc.returncode == 0, proc.stderr
    applied = [line.split()[-1] for line in proc.stderr.splitlines() if "applying" in line]
    assert applied == sorted(p.name for p in (ROOT / "libpanda/engine/patches").glob("*.patch"))
    assert len(applied) >= 1


def test_a_patch_that_does_not_apply_fails_loudly(tmp_path):
    for p in sorted((ROOT / "libpanda/engine/patches").glob("*.patch")):
        (tmp_path / p.name).write_text(p.read_text())
    (tmp_path / "9999-broken.patch").write_text(
        "why: a test\n--- a/uc.c\n+++ b/uc.c\n@@ -1,1 +1,1 @@\n-this line is not in uc.c\n+nor this\n")
    proc = build("--verify-patches", PYPANDA_PATCH_DIR=str(tmp_path))
    assert proc.returncode != 0
    assert "patch 9999-broken.patch does not apply" in proc.stderr


def test_unknown_arch_is_refused():
    proc = build("sparc")
    assert proc.returncode != 0
    assert "unknown guest architecture 'sparc'" in proc.stderr


def test_missing_tool_is_named(tmp_path):
    # a PATH with everything but cmake
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in ("cc", "gcc", "make", "patch", "sha256sum", "python3", "bash", "env", "cat",
                 "dirname", "nproc", "tar", "mkdir", "rm", "mv", "ls", "cut", "find", "touch"):
        for d in os.environ["PATH"].split(os.pathsep):
            if (Path(d) / tool).exists():
                (bindir / tool).symlink_to(Path(d) / tool)
                break
    proc = subprocess.run(["bash", str(ROOT / "build.sh")], capture_output=True, text=True,
                          env={**os.environ, "PATH": str(bindir)}, timeout=60)
    assert proc.returncode != 0
    assert "'cmake' is missing" in proc.stderr
