"""The error the OS-introspection profile code raises."""
from __future__ import annotations

from ..errors import PandaError


class ProfileError(PandaError, ValueError):
    """A kernel profile could not be built, loaded or queried.

    The message says what was wrong (a truncated image, a missing host tool
    and the command that installs it, a field this kernel does not have...).
    Also a ``ValueError``: most causes are a bad input.
    """
