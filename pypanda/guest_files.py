"""``Panda.copy_to_guest``: a host directory into a Linux guest, by CD-ROM.

As pandare does it: make an ISO 9660 image of the directory
(:func:`pypanda.iso9660.make_iso`), put it in the guest's CD drive with the
monitor's ``change``, and over the serial console create ``DIR`` and
``DIR.ro``, mount the disc on ``DIR.ro`` (retrying while the drive reports
the media change), ``cp -a DIR.ro/. DIR``, unmount, eject, then run
``DIR/setup.sh`` if the directory has one.  ``DIR`` is the directory's
last path component, relative to the shell's working directory, unless
``absolute_paths``.

The disk guest has no udev: the commands load ``sr_mod`` (when there is no
``/dev/cdrom`` or ``/dev/sr0``) and ``isofs`` (when the kernel does not
know iso9660 yet) themselves, quietly, and mount ``/dev/cdrom`` if it
exists, else ``/dev/sr0``.

The steps are written over two callables, one typing a shell command and
returning its output and one sending a monitor command, so the same
commands can be checked against another emulator by hand.
"""
from __future__ import annotations

import os
import re
import shlex
from typing import Callable, Optional, Tuple

from ._instance import Instance
from .errors import PandaError, StateError, UnsupportedError
from .iso9660 import PathArg, make_iso
from .utils import progress

#: the CD drive copy_to_guest uses when neither ``cdrom=`` nor the generic
#: image names one (QEMU's and pandare's name for the secondary master)
DEFAULT_CDROM = "ide1-cd0"
#: mount attempts (a second apart, in guest time) while the drive settles
MOUNT_ATTEMPTS = 10

_STATUS = re.compile(r"\[pypanda-status (\d+)\]\s*$")

#: picks the CD's device node, loading the drivers the guest lacks
DEVICE = ("dev=/dev/cdrom; [ -b $dev ] || dev=/dev/sr0; "
          "[ -b $dev ] || modprobe sr_mod >/dev/null 2>&1; "
          "grep -qw iso9660 /proc/filesystems || modprobe isofs >/dev/null 2>&1")

RunSerial = Callable[[str, Optional[float]], str]
RunMonitor = Callable[[str], str]


class GuestCommandError(PandaError, RuntimeError):
    """A command copy_to_guest typed in the guest failed; ``command``,
    ``status`` (its exit status, None if unknown) and ``output`` say how."""

    def __init__(self, what: str, command: str, status: Optional[int], output: str) -> None:
        shown = output.strip()[-3000:] or "(no output)"
        super().__init__(f"copy_to_guest: {what}: the guest command {command!r} "
                         f"{'failed' if status is None else f'exited with status {status}'}; "
                         f"its output:\n{shown}")
        self.command = command
        self.status = status
        self.output = output


def guest_status(run: RunSerial, command: str, timeout: Optional[float]) -> Tuple[int, str]:
    """Run ``command`` in the guest shell: (its exit status, its output)."""
    out = run(f'{command}; echo "[pypanda-status $?]"', timeout)
    m = _STATUS.search(out)
    if m is None:
        raise GuestCommandError("no exit status came back", command, None, out)
    return int(m.group(1)), out[:m.start()].rstrip("\n")


def checked(run: RunSerial, what: str, command: str, timeout: Optional[float]) -> str:
    """Run ``command``; GuestCommandError unless it exits with status 0."""
    status, out = guest_status(run, command, timeout)
    if status:
        raise GuestCommandError(what, command, status, out)
    return out


def _monitor_arg(path: str) -> str:
    if re.search(r'[\s"\\]', path):
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return path


def _monitor(monitor: RunMonitor, command: str, verbose: bool) -> str:
    reply = monitor(command).strip()
    first = reply.splitlines()[0] if reply else ""
    if first.startswith("unknown command"):
        raise UnsupportedError(f"copy_to_guest needs a CD-ROM drive, and this machine's monitor does not "
                               f"know {command.split()[0]!r} ({first})")
    if re.match(r"(?i)(error|could not|device .* not found)", first):
        raise PandaError(f"copy_to_guest: the monitor command {command!r} failed: {reply}")
    if reply and verbose:
        progress(f"copy_to_guest: the monitor answered {command!r} with: {reply}")
    return reply


def copy_in(run: RunSerial, monitor: RunMonitor, copy_directory: PathArg,
            iso_name: Optional[PathArg] = None, absolute_paths: bool = False,
            setup_script: str = "setup.sh", timeout: Optional[float] = None,
            cdrom: Optional[str] = None, verbose: bool = True, writer: str = "auto") -> None:
    """The steps of :meth:`pypanda.Panda.copy_to_guest` over ``run(command,
    timeout) -> output`` (a shell command in the guest) and ``monitor(command)
    -> reply``."""
    host_dir = os.fspath(copy_directory)
    if not os.path.isdir(host_dir):
        raise ValueError(f"copy_to_guest: {host_dir!r} is not a directory")
    iso = os.path.abspath(os.fspath(iso_name) if iso_name is not None else host_dir.rstrip("/") + ".iso")
    if verbose:
        progress(f"Creating ISO {iso}...")
    make_iso(host_dir, iso, writer=writer)
    guest_dir = host_dir if absolute_paths else os.path.basename(host_dir.rstrip("/")) or host_dir
    mount_dir = shlex.quote(guest_dir)
    ro_dir = shlex.quote(guest_dir + ".ro")
    drive = cdrom or DEFAULT_CDROM

    checked(run, "could not create the directories", f"mkdir -p {mount_dir} {ro_dir}", timeout)
    _monitor(monitor, f"change {drive} {_monitor_arg(iso)}", verbose)
    failed = True
    try:
        mount = f'{DEVICE}; mount -t iso9660 -o ro "$dev" {ro_dir}'
        for attempt in range(MOUNT_ATTEMPTS):
            status, out = guest_status(run, mount, timeout)
            if status == 0:
                break
            if attempt + 1 == MOUNT_ATTEMPTS:
                _, log = guest_status(run, "dmesg | tail -n 8", timeout)
                raise GuestCommandError(f"the disc did not mount after {MOUNT_ATTEMPTS} attempts (the "
                                        f"kernel's last messages:\n{log})", mount, status, out)
            # the drive reports the media change first; let it settle
            guest_status(run, 'umount "$dev" >/dev/null 2>&1; sleep 1', timeout)
        # the . after the source: cp -a copies the contents, dot files too
        checked(run, "the copy failed", f"cp -a {ro_dir}/. {mount_dir}", timeout)
        failed = False
    finally:
        # disconnect the disc even if the copy failed; a failure here does
        # not hide the one that brought us here
        try:
            guest_status(run, f"umount {ro_dir}", timeout)
            reply = _monitor(monitor, f"eject {drive}", verbose)
            if "lock" in reply.lower():
                _monitor(monitor, f"eject -f {drive}", verbose)
        except Exception:
            if not failed:
                raise
    if setup_script and os.path.isfile(os.path.join(host_dir, setup_script)):
        out = run(f"{mount_dir}/{shlex.quote(setup_script)}", timeout)
        if verbose:
            progress(f"[Setup command]: {out}")


def require_blocking_context(instance: Instance) -> None:
    """StateError unless copy_to_guest may drive the guest from here: the
    pc machine, while run() runs, off the emulation thread (pandare's
    ``@blocking``: a function queued with ``@panda.queue_blocking``)."""
    where = "call it from a function queued with @panda.queue_blocking (it types commands and waits for them)"
    if not instance.is_pc:
        raise UnsupportedError(f"copy_to_guest needs a CD-ROM drive and a serial console, which the "
                               f"{instance.machine} machine has not: use the pc machine (-M pc)")
    if instance.on_emulation_thread():
        raise StateError(f"copy_to_guest cannot run in a callback: {where}")
    if not instance.running:
        raise StateError(f"copy_to_guest needs the guest running: {where}, then panda.run()")
