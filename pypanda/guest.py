"""Build and locate pypanda's generic guest images.

``python -m pypanda.guest [--force]`` builds the reference i386 guest (Debian
12's 686-pae kernel and an initramfs of busybox-static) from Debian's
packages into ``~/.cache/pypanda/guest/i386``, once; ``Panda(generic="i386")``
then boots it.  Needs a Debian-like host with apt-get (root to add the
i386 architecture the first time).

``python -m pypanda.guest debian-i386 [--force]`` builds the disk guest: a
BIOS-bootable Debian 12 i386 qcow2 (GRUB in the MBR, one ext4 partition,
a root shell on ttyS0) with its kernel and initramfs beside it for direct
boot, into ``~/.cache/pypanda/guest/debian-i386``.  Needs root (mmdebstrap).

Each builder prints a progress line per step on stderr; the last line on
stdout is the guest's directory.  Then the guest boots once to its prompt
and that machine is kept as its "root" snapshot (pandare's generic images
have one), so that ``panda.revert_sync("root")`` takes well under a second.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .panda import guest_dir

DATA = Path(__file__).resolve().parent / "data"
#: guest name -> the script that builds it
BUILDERS: Dict[str, Path] = {
    "i386": DATA / "build_guest.sh",
    "debian-i386": DATA / "build_disk_guest.sh",
}
BUILDER = BUILDERS["i386"]   # kept for callers of the single-guest API


def build(force: bool = False, name: str = "i386") -> Path:
    """Build (or find up to date) the guest ``name``; returns its directory."""
    if name not in BUILDERS:
        raise ValueError(f"unknown guest {name!r}: available are {', '.join(BUILDERS)}")
    cmd = ["bash", str(BUILDERS[name])] + (["--force"] if force else [])
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    lines = out.strip().splitlines()
    return Path(lines[-1]) if lines else guest_dir(name)


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    force = False
    names = []
    for arg in args:
        if arg in ("--force", "-f"):
            force = True
        elif arg in ("-h", "--help"):
            print(f"usage: python -m pypanda.guest [{'|'.join(BUILDERS)}] [--force]")
            return 0
        elif arg in BUILDERS:
            names.append(arg)
        else:
            print(f"pypanda.guest: unknown argument {arg!r}; guests are {', '.join(BUILDERS)}",
                  file=sys.stderr)
            return 2
    if len(names) > 1:
        print("pypanda.guest: name one guest at a time", file=sys.stderr)
        return 2
    name = names[0] if names else "i386"
    try:
        where = build(force, name)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    make_root_snapshot(name)
    print(where)
    return 0


def make_root_snapshot(name: str) -> None:
    """Boot the guest once to its prompt and keep that machine as its
    "root" snapshot (see Panda.revert_sync), so that a user's first
    ``revert_sync("root")`` loads it.  Skipped, with a note, when the
    library is not built yet or the boot fails."""
    from .errors import PandaError
    from .panda import Panda
    from .utils import progress
    try:
        panda = Panda(generic=name, verbose=False)
    except PandaError as exc:
        progress(f"no root snapshot for {name} yet ({exc}); the first revert_sync('root') makes it")
        return
    try:
        path = panda.generic_root_snapshot()
        if path is not None and path.is_file():
            return
        progress(f"booting {name} once for its root snapshot")

        @panda.queue_blocking
        def snap() -> None:
            panda.revert_sync("root")
            panda.end_analysis()

        panda.run()
        progress(f"root snapshot: {path}")
    except PandaError as exc:
        progress(f"no root snapshot for {name} ({exc}); the first revert_sync('root') makes it")
    finally:
        panda.close()


if __name__ == "__main__":
    sys.exit(main())
