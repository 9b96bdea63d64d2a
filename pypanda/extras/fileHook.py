"""pandare's module name ``pandare.extras.fileHook``: the same as :mod:`.file_hook`."""
from .file_hook import *  # noqa: F401,F403
from .file_hook import __all__  # noqa: F401
