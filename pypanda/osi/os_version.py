"""PANDA-style ``os_version`` strings.

PANDA names the guest OS with strings such as ``linux-32-debian:3.2.0-4-686-pae``
and reads struct offsets from a ``kernelinfo.conf`` group.  pypanda builds its
profile from the kernel image instead (:func:`pypanda.osi.profile_for`), so
here the string only says what the user expects; :func:`release_matches` checks
it against the kernel actually booted.  Accepted forms (:data:`FORMS`):

* ``linux-32-debian:3.2.0-4-686-pae``, ``linux-64-ubuntu:4.15.0-72-generic``
  (family-bits-distro:release; the release may be left out);
* ``debian:6.1.0-57-686-pae`` and PANDA's group names ``debian:4.9.0-6-686-pae:32``;
* a bare release ``6.1.0-57-686-pae``;
* shortcuts ``i386``/``x86``/``linux-32`` (32-bit Linux), ``x86_64``/``amd64``/``linux-64``, ``linux``;
* ``/path/kernelinfo.conf:group`` or ``/path/kernelinfo.conf`` (with ``group=``,
  or a file of one group): a PANDA kernelinfo file; its keys are kept raw in
  ``kernelinfo`` and mapped onto profile names by :func:`kernelinfo_fields`.
"""
from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from .errors import ProfileError

FORMS = ("linux-32-debian:3.2.0-4-686-pae", "linux-64-ubuntu:4.15.0-72-generic", "debian:6.1.0-57-686-pae",
         "debian:4.9.0-6-686-pae:32", "6.1.0-57-686-pae", "i386 | x86 | x86_64 | amd64 | linux | linux-32 | linux-64",
         "/path/kernelinfo.conf:GROUP", "/path/kernelinfo.conf (with group=...)")

_RELEASE = re.compile(r"^\d+\.\d+(?:\.\d+)?(?:[-+~.][0-9A-Za-z.+~_-]*)?$")
_DISTRO = re.compile(r"^[a-z][a-z0-9_.]*$")
_SHORT = {"i386": 32, "x86": 32, "i686": 32, "linux-32": 32, "x86_64": 64, "amd64": 64, "linux-64": 64,
          "linux": None}

#: kernelinfo.conf key -> profile field ("struct.member")
KERNELINFO_FIELDS = {
    "task.tasks_offset": "task_struct.tasks", "task.pid_offset": "task_struct.pid",
    "task.tgid_offset": "task_struct.tgid", "task.comm_offset": "task_struct.comm",
    "task.mm_offset": "task_struct.mm", "task.files_offset": "task_struct.files",
    "task.group_leader_offset": "task_struct.group_leader", "task.stack_offset": "task_struct.stack",
    "task.real_cred_offset": "task_struct.real_cred", "task.cred_offset": "task_struct.cred",
    "task.real_parent_offset": "task_struct.real_parent", "task.parent_offset": "task_struct.parent",
    "task.thread_group_offset": "task_struct.thread_group", "task.start_time_offset": "task_struct.start_time",
    "cred.uid_offset": "cred.uid", "cred.gid_offset": "cred.gid", "cred.euid_offset": "cred.euid",
    "cred.egid_offset": "cred.egid",
    "mm.mmap_offset": "mm_struct.mmap", "mm.pgd_offset": "mm_struct.pgd",
    "mm.arg_start_offset": "mm_struct.arg_start", "mm.start_brk_offset": "mm_struct.start_brk",
    "mm.brk_offset": "mm_struct.brk", "mm.start_stack_offset": "mm_struct.start_stack",
    "vma.vm_mm_offset": "vm_area_struct.vm_mm", "vma.vm_start_offset": "vm_area_struct.vm_start",
    "vma.vm_end_offset": "vm_area_struct.vm_end", "vma.vm_next_offset": "vm_area_struct.vm_next",
    "vma.vm_file_offset": "vm_area_struct.vm_file", "vma.vm_flags_offset": "vm_area_struct.vm_flags",
    "fs.f_pos_offset": "file.f_pos", "fs.fd_offset": "fdtable.fd", "fs.fdt_offset": "files_struct.fdt",
    "fs.fdtab_offset": "files_struct.fdtab", "qstr.name_offset": "qstr.name",
    "path.d_name_offset": "dentry.d_name", "path.d_iname_offset": "dentry.d_iname",
    "path.d_parent_offset": "dentry.d_parent", "path.mnt_root_offset": "vfsmount.mnt_root",
    "path.mnt_parent_offset": "mount.mnt_parent", "path.mnt_mountpoint_offset": "mount.mnt_mountpoint",
}
#: kernelinfo.conf key -> struct whose size it gives
KERNELINFO_SIZES = {"task.size": "task_struct", "mm.size": "mm_struct", "vma.size": "vm_area_struct",
                    "qstr.size": "qstr"}
#: kernelinfo.conf key -> symbol
KERNELINFO_SYMBOLS = {"task.init_addr": "init_task", "task.per_cpu_offsets_addr": "__per_cpu_offset",
                      "task.current_task_addr": "current_task"}


@dataclass(frozen=True)
class OsVersion:
    """What an ``os_version`` string says.  ``family`` is "linux"; ``bits``
    32, 64 or None (unknown); ``distro`` ("debian", "ubuntu") and ``release``
    ("6.1.0-57-686-pae") may be None; ``kernelinfo`` is the raw key -> value
    dict of a kernelinfo.conf group (ints parsed), else None."""
    family: str
    bits: Optional[int]
    distro: Optional[str]
    release: Optional[str]
    kernelinfo: Optional[Dict[str, Any]] = None
    text: str = ""

    @property
    def arch(self) -> Optional[str]:
        return {32: "i386", 64: "x86_64"}.get(self.bits or 0)


def _bad(text: str, why: str) -> ProfileError:
    forms = "\n  ".join(FORMS)
    return ProfileError(f"malformed os_version {text!r}: {why}; accepted forms:\n  {forms}")


def _bits_of_release(release: str) -> Optional[int]:
    if re.search(r"-(686|686-pae|486|586|i386|i686)$", release):
        return 32
    if re.search(r"-(amd64|x86_64|cloud-amd64|rt-amd64)$", release):
        return 64
    return None


def _ki_value(v: str) -> Any:
    v = v.strip()
    try:
        return int(v, 0)
    except ValueError:
        return v


def _read_kernelinfo(path: Path, group: Optional[str], text: str) -> Tuple[str, Dict[str, Any]]:
    cp = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=("#",),
                                   inline_comment_prefixes=None, delimiters=("=",))
    cp.optionxform = str  # type: ignore[assignment,method-assign]   # keys are case-sensitive
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            cp.read_file(f)
    except OSError as exc:
        raise ProfileError(f"cannot read the kernelinfo file {path}: {exc.strerror or exc}") from None
    except configparser.Error as exc:
        raise ProfileError(f"{path} is not a kernelinfo (GLib key file/INI) file: {exc}") from None
    groups = cp.sections()
    if group is None:
        if len(groups) != 1:
            raise _bad(text, f"{path} has {len(groups)} groups; name one "
                             f"({', '.join(groups[:8])}{'...' if len(groups) > 8 else ''})")
        group = groups[0]
    if group not in groups:
        raise _bad(text, f"no group [{group}] in {path} (it has {', '.join(groups[:8]) or 'none'})")
    return group, {k: _ki_value(v) for k, v in cp.items(group)}


def kernelinfo_fields(ki: Dict[str, Any]) -> Dict[str, Dict[str, int]]:
    """A kernelinfo group mapped onto profile names: {"fields": {field:
    offset}, "sizes": {struct: size}, "symbols": {name: address}, "arrays":
    {...}}; keys with no profile equivalent stay only in the raw dict."""
    out: Dict[str, Dict[str, int]] = {"fields": {}, "sizes": {}, "symbols": {}, "arrays": {}}
    for table, key in ((KERNELINFO_FIELDS, "fields"), (KERNELINFO_SIZES, "sizes"),
                       (KERNELINFO_SYMBOLS, "symbols")):
        for k, name in table.items():
            v = ki.get(k)
            if isinstance(v, int) and not isinstance(v, bool):
                out[key][name] = v
    if isinstance(ki.get("task.comm_size"), int):
        out["arrays"]["task_struct.comm"] = ki["task.comm_size"]
    return out


def _from_group_name(group: str, ki: Dict[str, Any]) -> Tuple[Optional[str], Optional[str], Optional[int]]:
    """distro, release, bits of a kernelinfo group ([debian:4.9.0-6-686-pae:32]) or its name key."""
    distro = release = None
    bits = None
    parts = group.split(":")
    if len(parts) >= 2 and _DISTRO.match(parts[0]) and _RELEASE.match(parts[1]):
        distro, release = parts[0], parts[1]
        if len(parts) >= 3 and parts[2] in ("32", "64"):
            bits = int(parts[2])
    name = ki.get("name")
    if isinstance(name, str) and "|" in name:
        fields = name.split("|")
        if release is None and _RELEASE.match(fields[0].strip()):
            release = fields[0].strip()
        if bits is None and len(fields) >= 3:
            bits = {"i686": 32, "i386": 32, "x86_64": 64}.get(fields[2].strip())
    if bits is None and release:
        bits = _bits_of_release(release)
    return distro, release, bits


def parse_os_version(text: str, group: Optional[str] = None) -> OsVersion:
    """Parse an ``os_version`` string (see the module doc for the forms).
    ``group``: the kernelinfo.conf group, when ``text`` is a kernelinfo file
    path without ``:group``.  A malformed string raises ProfileError listing
    the accepted forms."""
    if not isinstance(text, str) or not text.strip():
        raise _bad(str(text), "empty")
    t = text.strip()
    # kernelinfo file: group names contain colons, so split after ".conf"
    m = re.match(r"^(.*?\.conf)(?::(.+))?$", t)
    if m and (m.group(2) is not None or Path(m.group(1)).exists() or "/" in m.group(1)):
        path = Path(m.group(1)).expanduser()
        grp = m.group(2) if m.group(2) is not None else group
        grp, ki = _read_kernelinfo(path, grp, t)
        distro, release, bits = _from_group_name(grp, ki)
        return OsVersion("linux", bits, distro, release, ki, t)
    low = t.lower()
    if low in _SHORT:
        return OsVersion("linux", _SHORT[low], None, None, None, t)
    # family-bits-distro[:release]
    m = re.match(r"^([a-z]+)-(\d+)-([a-z][a-z0-9_.]*)(?::(.*))?$", t)
    if m:
        family, bits_s, distro, release = m.groups()
        if family != "linux":
            raise _bad(t, f"family {family!r}: only Linux guests have a profile")
        if bits_s not in ("32", "64"):
            raise _bad(t, f"bits {bits_s!r} (32 or 64)")
        if release is not None and not _RELEASE.match(release):
            raise _bad(t, f"release {release!r} does not look like a kernel release (6.1.0-57-686-pae)")
        return OsVersion("linux", int(bits_s), distro, release or None, None, t)
    # distro:release[:bits]
    parts = t.split(":")
    if len(parts) in (2, 3) and _DISTRO.match(parts[0]):
        distro, release = parts[0], parts[1]
        if not _RELEASE.match(release):
            raise _bad(t, f"release {release!r} does not look like a kernel release (6.1.0-57-686-pae)")
        nbits = _bits_of_release(release)
        if len(parts) == 3:
            if parts[2] not in ("32", "64"):
                raise _bad(t, f"bits {parts[2]!r} (32 or 64)")
            nbits = int(parts[2])
        return OsVersion("linux", nbits, distro, release, None, t)
    if _RELEASE.match(t):
        return OsVersion("linux", _bits_of_release(t), None, t, None, t)
    raise _bad(t, "not a recognised form")


def _release_of(banner_or_release: str) -> str:
    s = banner_or_release.strip()
    if s.startswith("Linux version "):
        s = s[len("Linux version "):]
    return s.split()[0] if s else ""


def release_matches(os_version: Union[str, OsVersion], banner_or_release: str) -> bool:
    """Whether a kernel (its ``Linux version ...`` banner, the bzImage's
    version string, or a bare release) is the one ``os_version`` names.  An
    os_version without a release (``i386``) matches any kernel."""
    ov = parse_os_version(os_version) if isinstance(os_version, str) else os_version
    if ov.release is None:
        return True
    return _release_of(banner_or_release) == ov.release
