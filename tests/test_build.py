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
    patches = ROOT / "libpanda/engine/patches"
    # by number; at one number the engine-wide part before the target's
    expected = sorted((str(p.relative_to(patches)) for p in patches.rglob("*.patch")),
                      key=lambda rel: (Path(rel).name, rel))
    assert applied == expected
    assert {Path(rel).parts[0] for rel in applied} == {"common", "target-i386"}
    # a target folder holds only that target's files, common/ none of them
    for rel in applied:
        files = [line.split()[1][2:] for line in (patches / rel).read_text().splitlines()
                 if line.startswith("+++ ")]
        in_target = [f.startswith(("qemu/target/i386/", "qemu/hw/i386/")) for f in files]
        assert all(in_target) if rel.startswith("target-i386/") else not any(in_target), (rel, files)


def test_a_patch_that_does_not_apply_fails_loudly(tmp_path):
    for p in sorted((ROOT / "libpanda/engine/patches").rglob("*.patch")):
        (tmp_path / p.parent.name).mkdir(exist_ok=True)
        (tmp_path / p.parent.name / p.name).write_text(p.read_text())
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
