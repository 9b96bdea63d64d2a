"""The PC's firmware: Debian's SeaBIOS, fetched once and cached.

The pc machine boots a BIOS ROM when it is given no ``-kernel``, as QEMU's
``-M pc`` does.  pypanda's ROM is ``bios-256k.bin`` from Debian's
``seabios`` package (the one Debian's QEMU uses for ``-M pc``), downloaded
with ``apt-get download`` into ``~/.cache/pypanda/firmware`` the first time
it is needed, never shipped.  ``firmware.json`` beside it records the
package version and the ROM's SHA-256, checked on every use.

``python -m pypanda.firmware [--force]`` fetches it ahead of time and
prints the ROM's path.  A script that wants another ROM passes
``extra_args=["-bios", PATH]``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from .errors import PandaError
from .utils import progress

PACKAGE = "seabios"
ROM = "bios-256k.bin"
#: where the package puts it
PACKAGE_PATH = "usr/share/seabios/" + ROM


def firmware_dir() -> Path:
    """Where the firmware is cached (``$PYPANDA_FIRMWARE_DIR`` overrides)."""
    override = os.environ.get("PYPANDA_FIRMWARE_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "pypanda" / "firmware"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cached() -> Optional[Path]:
    """The cached ROM if it is there and matches its record."""
    d = firmware_dir()
    rom, meta = d / ROM, d / "firmware.json"
    if not rom.is_file() or not meta.is_file():
        return None
    try:
        info = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if info.get("sha256") != _sha256(rom):
        progress(f"{rom} does not match the SHA-256 in {meta}: fetching it again")
        return None
    return rom


def info() -> dict:
    """What the cached firmware is: package, version, SHA-256 (fetches it
    if needed)."""
    bios_path()
    return json.loads((firmware_dir() / "firmware.json").read_text())


def _run(cmd: List[str], cwd: str) -> str:
    try:
        done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise PandaError(f"cannot fetch the BIOS: {cmd[0]} is not installed (pypanda takes SeaBIOS from "
                         f"Debian's '{PACKAGE}' package); pass extra_args=['-bios', PATH] with a ROM of "
                         f"your own") from None
    if done.returncode:
        raise PandaError(f"cannot fetch the BIOS: '{' '.join(cmd)}' failed: {done.stderr.strip()[-500:]}; "
                         f"is a Debian mirror reachable? (or pass extra_args=['-bios', PATH])")
    return done.stdout


def fetch(force: bool = False) -> Path:
    """Download Debian's SeaBIOS into the cache (unless it is there and
    intact, or force) and return the ROM's path."""
    if not force:
        rom = _cached()
        if rom is not None:
            return rom
    d = firmware_dir()
    progress(f"fetching the BIOS: apt-get download {PACKAGE} into {d}")
    with tempfile.TemporaryDirectory(prefix="pypanda-firmware.") as tmp:
        os.chmod(tmp, 0o755)   # apt-get download as root hands the file to _apt
        _run(["apt-get", "download", PACKAGE], tmp)
        debs = sorted(Path(tmp).glob(f"{PACKAGE}_*.deb"))
        if len(debs) != 1:
            raise PandaError(f"apt-get download {PACKAGE} left {len(debs)} packages in {tmp}, not one")
        version = _run(["dpkg-deb", "-f", str(debs[0]), "Version"], tmp).strip()
        _run(["dpkg-deb", "-x", str(debs[0]), "root"], tmp)
        src = Path(tmp) / "root" / PACKAGE_PATH
        if not src.is_file():
            raise PandaError(f"Debian's {PACKAGE} {version} has no {PACKAGE_PATH}")
        d.mkdir(parents=True, exist_ok=True)
        partial = d / (ROM + ".partial")
        shutil.copyfile(src, partial)
        digest = _sha256(partial)
        os.replace(partial, d / ROM)
        record = {"package": PACKAGE, "version": version, "file": PACKAGE_PATH,
                  "size": (d / ROM).stat().st_size, "sha256": digest}
        (d / "firmware.json").write_text(json.dumps(record, indent=2) + "\n")
    progress(f"BIOS: {PACKAGE} {version}, {d / ROM}")
    return d / ROM


def bios_path() -> Path:
    """The BIOS ROM the pc machine boots by default, fetched if needed."""
    return _cached() or fetch()


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print("usage: python -m pypanda.firmware [--force]")
        return 0
    unknown = [a for a in args if a not in ("--force", "-f")]
    if unknown:
        print(f"pypanda.firmware: unknown argument {unknown[0]!r}", file=sys.stderr)
        return 2
    try:
        print(fetch(force=bool(args)))
    except PandaError as exc:
        print(f"pypanda.firmware: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
