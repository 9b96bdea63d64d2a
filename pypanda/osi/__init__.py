"""Operating-system introspection: kernel profiles built on the host.

:func:`profile_for` gives the :class:`Profile` (struct offsets, symbols,
syscall table) of a Linux kernel image; :func:`parse_os_version` reads
PANDA-style ``os_version`` strings (see :mod:`pypanda.osi.os_version`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .os_version import parse_os_version
    from .profile import Profile, profile_for

__all__ = ["profile_for", "Profile", "parse_os_version"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `python -m pypanda.osi.profile` does not find
    # its own module already loaded by the package.
    if name == "parse_os_version":
        from .os_version import parse_os_version
        return parse_os_version
    if name in ("profile_for", "Profile"):
        from . import profile
        return getattr(profile, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
