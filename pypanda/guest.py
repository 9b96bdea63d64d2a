"""Build and locate pypanda's generic guest images.

``python -m pypanda.guest [--force]`` builds the reference i386 guest (Debian
12's 686-pae kernel and an initramfs of busybox-static) from Debian's
packages into ``~/.cache/pypanda/guest/i386``, once; ``Panda(generic="i386")``
then boots it.  Needs a Debian-like host with apt-get (root to add the
i386 architecture the first time).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .panda import guest_dir

BUILDER = Path(__file__).resolve().parent / "data" / "build_guest.sh"


def build(force: bool = False) -> Path:
    """Build (or find up to date) the i386 guest; returns its directory."""
    cmd = ["bash", str(BUILDER)] + (["--force"] if force else [])
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    lines = out.strip().splitlines()
    return Path(lines[-1]) if lines else guest_dir("i386")


def main() -> int:
    force = "--force" in sys.argv[1:]
    try:
        print(build(force))
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
