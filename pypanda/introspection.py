"""OS introspection for a Panda: which kernel runs (its profile), and
pandare's OSI calls on top of :class:`pypanda.osi.linux.LinuxOSI`.

The profile comes, in this order, from: the ``-kernel`` file of a direct
boot; the generic guest's ``profile.json``; the kernel's banner found in
guest memory (its release then names the Debian kernel package the profile
is made from).  ``os_version`` (PANDA's ``linux-32-debian:6.1.0-57-686-pae``
and friends) is checked against the running kernel, never silently used in
its place.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from ._instance import Instance
from .errors import PandaError
from .osi.linux import LinuxOSI, OsiError, OsiModule, OsiProc, OsiThread, OsiWarning

BANNER = re.compile(rb"Linux version (\S+) \([^\0\n]{1,400}")


def _kernel_arg(args: Sequence[str]) -> Optional[str]:
    for i, a in enumerate(args[:-1]):
        if a == "-kernel":
            return args[i + 1]
    return None


class Introspection:
    """The OSI of one Panda; made lazily, on the first call that needs it."""

    def __init__(self, instance: Instance, panda_args: Sequence[str], os_version: Optional[str],
                 generic_dir: Optional[Path], read_phys: Callable[[int, int], bytes],
                 reg: Callable[[str], int], ram_size: int) -> None:
        self._instance = instance
        self._kernel = _kernel_arg(panda_args)
        self._generic_dir = generic_dir
        self._read_phys = read_phys
        self._reg = reg
        self._ram_size = ram_size
        self._osi: Optional[LinuxOSI] = None
        self._profile: Any = None
        self._kallsyms: Optional[Dict[str, int]] = None
        self.os_version: Any = None
        if os_version is not None:
            self.set_os_version(os_version)

    def set_os_version(self, os_version: str) -> None:
        """The OS the user says the guest runs (PANDA's forms); a profile
        already made is checked against it at once."""
        from .osi import parse_os_version
        parsed = parse_os_version(os_version)
        if parsed.family != "linux":
            raise OsiError(f"os_version {os_version!r}: pypanda introspects Linux guests only")
        self.os_version = parsed
        if self._profile is not None:
            self._check_release(self._profile.data.get("release"), "the running kernel")

    # ---- the profile ------------------------------------------------------------

    def profile(self, search_memory: bool = True) -> Any:
        """The running kernel's profile (see the module's docstring)."""
        if self._profile is not None:
            return self._profile
        from .osi import Profile, profile_for
        prof = None
        generic = self._generic_dir / "profile.json" if self._generic_dir is not None else None
        if generic is not None and generic.is_file() and (
                self._kernel is None or Path(self._kernel).resolve().parent == generic.parent.resolve()):
            prof = Profile.load(generic)      # the guest builder made it with the guest
            self._check_release(prof.data.get("release"), f"the {generic.parent.name} guest's kernel")
        elif self._kernel is not None:
            prof = profile_for(self._kernel)
            self._check_release(prof.data.get("release"), f"the -kernel file {self._kernel}")
        elif search_memory:
            release = self.running_release()
            if release is None:
                raise OsiError("no Linux kernel found in the guest's memory yet: OSI works once it has booted")
            self._check_release(release, "the guest's memory")
            prof = profile_for(release)
        if prof is None:
            raise OsiError("the guest's kernel is not known yet")
        self._profile = prof
        return prof

    def _check_release(self, release: Optional[str], where: str) -> None:
        wanted = getattr(self.os_version, "release", None)
        if wanted and release and wanted != release:
            warnings.warn(f"os_version names kernel {wanted}, but {where} is {release}; pypanda "
                          f"introspects the kernel that runs ({release})", OsiWarning, stacklevel=4)

    def running_release(self) -> Optional[str]:
        """The release in the kernel banner found in guest RAM (None: none)."""
        chunk, overlap = 1 << 20, 512
        pos = 0
        while pos < self._ram_size:
            try:
                data = self._read_phys(pos, min(chunk + overlap, self._ram_size - pos))
            except PandaError:
                pos += chunk
                continue
            for m in BANNER.finditer(data):
                # the real banner ends "... #1 SMP ... (date)" and lives in
                # .rodata; printk copies it to the log too, either will do
                if b"#" in m.group(0):
                    return m.group(1).decode(errors="replace")
            pos += chunk
        return None

    @property
    def osi(self) -> LinuxOSI:
        if self._osi is None:
            # os_version was checked against the profile as it was made
            self._osi = LinuxOSI(self.profile(), self._read_phys, self._reg, self._ram_size)
        return self._osi

    def kernel_symbol(self, name: str) -> int:
        """The running (slid) address of kernel symbol ``name``: the
        profile's symbols, else the kernel image's kallsyms (text symbols;
        read once from the -kernel file or the generic guest's vmlinuz)."""
        osi = self.osi
        if not osi.locate():
            raise OsiError("the kernel is not in the guest's memory yet")
        if name in self.profile().data["symbols"]:
            return osi.sym(name)
        if self._kallsyms is None:
            image = self._kernel or (str(self._generic_dir / "vmlinuz") if self._generic_dir else None)
            if image is None or not Path(image).is_file():
                raise OsiError(f"kernel symbol {name!r} is not in the profile, and there is no kernel "
                               "image to read kallsyms from (boot with -kernel)")
            from .osi.kimage import ELF, find_kallsyms, load_vmlinux
            elf = ELF(load_vmlinux(Path(image).read_bytes()))
            self._kallsyms = {n: a for a, _, n in find_kallsyms(elf).symbols}
        if name not in self._kallsyms:
            raise OsiError(f"the kernel has no symbol {name!r} (kallsyms holds text symbols only "
                           "unless the kernel has CONFIG_KALLSYMS_ALL)")
        return (self._kallsyms[name] + (osi.slide or 0)) & ((1 << osi.bits) - 1)

    # ---- pandare's calls ----------------------------------------------------------

    def current_process(self) -> Optional[OsiProc]:
        try:
            return self.osi.current()
        except OsiError:
            if not self._booted():
                return None
            raise

    def _booted(self) -> bool:
        try:
            return self.osi.locate()
        except OsiError:
            return False

    def processes(self) -> List[OsiProc]:
        return self.osi.processes()

    def mappings(self, proc: Optional[OsiProc] = None) -> List[OsiModule]:
        proc = proc or self.osi.current()
        return self.osi.mappings(proc)

    def mapping_by_addr(self, addr: int, proc: Optional[OsiProc] = None) -> Optional[OsiModule]:
        for m in self.mappings(proc):
            if m.base <= addr < m.base + m.size:
                return m
        return None

    def file_name(self, fd: int, proc: Optional[OsiProc] = None) -> Optional[bytes]:
        name = self.osi.fd_name(proc or self.osi.current(), fd)
        return None if name is None else name.encode()

    def current_thread(self) -> OsiThread:
        return self.osi.current_thread()


__all__ = ["Introspection", "OsiProc", "OsiModule", "OsiThread", "OsiError", "OsiWarning"]
