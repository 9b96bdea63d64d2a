"""Small helpers shared by scripts."""
from __future__ import annotations

import sys

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
