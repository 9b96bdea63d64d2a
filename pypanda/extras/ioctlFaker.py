"""pandare's module name ``pandare.extras.ioctlFaker``: the same as :mod:`.ioctl_faker`."""
from .ioctl_faker import *  # noqa: F401,F403
from .ioctl_faker import __all__  # noqa: F401
