"""pandare's extras on pypanda's native syscalls2 and OSI (i386 guests):
Python analyses that change or record what the guest does through its
system calls.

- :class:`FileHook`: rename files at the system-call interface
- :class:`FileFaker` with :class:`FakeFile`: files that exist only in the analysis
- :class:`IoctlFaker`: make ioctls without a driver succeed, and record them
- :class:`ProcWriteCapture`: mirror what processes write into host files

``from pandare.extras import FileFaker`` becomes ``from pypanda.extras import FileFaker``.
"""
from .file_faker import FakeFile, FileFaker, HyperFD
from .file_hook import FileHook
from .ioctl_faker import Ioctl, IoctlFaker
from .proc_write_capture import ProcWriteCapture

__all__ = ["FakeFile", "FileFaker", "FileHook", "HyperFD", "Ioctl", "IoctlFaker", "ProcWriteCapture"]
