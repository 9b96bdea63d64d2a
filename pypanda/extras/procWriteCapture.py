"""pandare's module name ``pandare.extras.procWriteCapture``: the same as :mod:`.proc_write_capture`."""
from .proc_write_capture import *  # noqa: F401,F403
from .proc_write_capture import __all__  # noqa: F401
