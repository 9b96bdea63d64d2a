"""Small helpers shared by scripts."""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Union

try:
    from colorama import Fore, Style
except ImportError:  # colorama is a dependency; degrade to plain text if absent
    class _NoColor:
        def __getattr__(self, name: str) -> str:
            return ""

    Fore = Style = _NoColor()  # type: ignore[assignment]


def progress(msg: str) -> None:
    """Print ``[pypanda] msg`` with a green prefix, as the original pypanda did."""
    print(Fore.GREEN + "[pypanda] " + Fore.RESET + Style.BRIGHT + msg + Style.RESET_ALL,
          file=sys.stdout, flush=True)


def file_sha256(path: Union[str, Path]) -> str:
    """The SHA-256 of a file, read a MiB at a time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
