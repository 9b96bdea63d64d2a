"""pandare's module name ``pandare.extras.fileFaker``: the same as :mod:`.file_faker`."""
from .file_faker import *  # noqa: F401,F403
from .file_faker import __all__  # noqa: F401
