"""Linux OS-introspection profiles, built on the host from the kernel image alone.

A profile is what pypanda's Linux OSI needs to read a guest kernel's memory:
struct field offsets and sizes, the addresses of the root symbols
(``init_task``, ``__per_cpu_offset``, ``current_task``...), the KASLR anchors,
and the system call table with argument names and types.  Build or load one
with :func:`profile_for`::

    from pypanda.osi import profile_for
    prof = profile_for("~/.cache/pypanda/guest/i386/vmlinuz")
    prof.offset("task_struct.pid"), prof.symbol("init_task"), prof.syscall(5)

or from the shell: ``python -m pypanda.osi.profile IMAGE [--btf F] [--out F]``.

Where the information comes from:

* symbols: ``__ksymtab`` (exported: the roots), kallsyms (text: entry points
  and the ``sys_*`` functions), a scan for ``sys_call_table``, and two static
  reads (``init_task.active_mm`` is ``&init_mm``; ``init_mm.pgd`` is
  ``swapper_pg_dir``);
* types: the image's own ``.BTF`` section (Debian amd64, Ubuntu, Fedora...);
  else ``btf=``; else (Debian's 32-bit kernels have no BTF) the matching
  ``linux-headers`` packages are fetched with ``apt-get download``, the probe
  in ``pypanda/data/osiprobe`` is compiled against them (never linked or
  loaded) and ``pahole`` turns its DWARF into BTF.  That needs ``apt-get``,
  ``dpkg-deb``, ``make``, ``gcc`` and ``pahole`` on the host;
* syscalls: the table's entries named by kallsyms, and the arguments from the
  ftrace ``syscall_metadata`` records in ``.data``.

Profiles are cached in ``~/.cache/pypanda/osi/<build id>.json`` (the build id
is the vmlinux's GNU build-id note, else the SHA-256 of the vmlinux); a
cached profile loads in milliseconds and needs no tool.  A cache file that
does not load (corrupt, truncated, another format) is rebuilt, with a note on
stderr.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import kimage
from .btf import BTF
from ..utils import file_sha256
from .errors import ProfileError

FORMAT = 1
PathLike = Union[str, "os.PathLike[str]"]

#: every field the OSI may read; a profile lists those this kernel has
FIELDS: Tuple[str, ...] = (
    "task_struct.tasks", "task_struct.pid", "task_struct.tgid", "task_struct.comm", "task_struct.mm",
    "task_struct.active_mm", "task_struct.real_parent", "task_struct.parent", "task_struct.group_leader",
    "task_struct.thread_group", "task_struct.thread_node", "task_struct.signal", "task_struct.children",
    "task_struct.sibling", "task_struct.files", "task_struct.fs", "task_struct.start_time",
    "task_struct.real_start_time", "task_struct.start_boottime", "task_struct.stack", "task_struct.cred",
    "task_struct.real_cred", "task_struct.thread_pid", "task_struct.__state", "task_struct.state",
    "task_struct.flags", "task_struct.exit_state", "task_struct.exit_code",
    "task_struct.thread", "task_struct.thread_info",
    "thread_info.flags", "thread_info.cpu",
    "mm_struct.context", "mm_context_t.vdso",
    "cred.uid", "cred.gid", "cred.euid", "cred.egid",
    "signal_struct.thread_head", "signal_struct.nr_threads",
    "mm_struct.pgd", "mm_struct.mm_mt", "mm_struct.mmap", "mm_struct.map_count", "mm_struct.arg_start",
    "mm_struct.arg_end", "mm_struct.env_start", "mm_struct.env_end", "mm_struct.start_code",
    "mm_struct.end_code", "mm_struct.start_data", "mm_struct.end_data", "mm_struct.start_brk",
    "mm_struct.brk", "mm_struct.start_stack", "mm_struct.exe_file", "mm_struct.owner",
    "maple_tree.ma_root", "maple_tree.ma_flags", "maple_node.parent", "maple_node.slot",
    "maple_range_64.parent", "maple_range_64.pivot", "maple_range_64.slot", "maple_range_64.meta",
    "maple_arange_64.parent", "maple_arange_64.pivot", "maple_arange_64.slot", "maple_arange_64.gap",
    "maple_arange_64.meta", "maple_metadata.end", "maple_metadata.gap",
    "vm_area_struct.vm_start", "vm_area_struct.vm_end", "vm_area_struct.vm_next", "vm_area_struct.vm_prev",
    "vm_area_struct.vm_mm", "vm_area_struct.vm_flags", "vm_area_struct.vm_file", "vm_area_struct.vm_pgoff",
    "file.f_path", "file.f_pos", "file.f_inode", "file.f_flags", "file.f_mode",
    "path.dentry", "path.mnt",
    "dentry.d_name", "dentry.d_parent", "dentry.d_iname", "dentry.d_inode", "dentry.d_sb",
    "qstr.name", "qstr.len", "qstr.hash", "qstr.hash_len",
    "vfsmount.mnt_root", "vfsmount.mnt_sb", "mount.mnt_hash", "mount.mnt", "mount.mnt_parent",
    "mount.mnt_mountpoint",
    "files_struct.fdt", "files_struct.fdtab", "fdtable.fd", "fdtable.max_fds",
    "fs_struct.root", "fs_struct.pwd",
    "inode.i_ino", "inode.i_mode", "inode.i_sb", "inode.i_size", "super_block.s_id", "super_block.s_dev",
    "pid.numbers",
    "thread_struct.sp", "thread_struct.sp0", "thread_struct.fsbase", "thread_struct.gsbase",
    "pt_regs.bx", "pt_regs.cx", "pt_regs.dx", "pt_regs.si", "pt_regs.di", "pt_regs.bp", "pt_regs.ax",
    "pt_regs.r8", "pt_regs.r9", "pt_regs.r10", "pt_regs.orig_ax", "pt_regs.ip", "pt_regs.cs",
    "pt_regs.flags", "pt_regs.sp", "pt_regs.ss", "pt_regs.ds", "pt_regs.es", "pt_regs.fs", "pt_regs.gs",
    "pcpu_hot.current_task", "pcpu_hot.cpu_number", "pcpu_hot.top_of_stack",
    "syscall_metadata.name", "syscall_metadata.syscall_nr", "syscall_metadata.nb_args",
    "syscall_metadata.types", "syscall_metadata.args",
)
#: array members whose element count the OSI needs
ARRAYS: Tuple[str, ...] = (
    "maple_range_64.pivot", "maple_range_64.slot", "maple_arange_64.pivot", "maple_arange_64.slot",
    "maple_arange_64.gap", "maple_node.slot", "task_struct.comm", "dentry.d_iname", "super_block.s_id",
)
STRUCTS: Tuple[str, ...] = (
    "task_struct", "thread_info", "mm_struct", "mm_context_t", "maple_tree", "maple_node",
    "maple_range_64", "maple_arange_64", "maple_metadata", "vm_area_struct", "file", "path", "dentry",
    "qstr", "files_struct", "fdtable", "fs_struct", "cred", "signal_struct", "pt_regs", "vfsmount",
    "mount", "inode", "super_block", "thread_struct", "pid", "pcpu_hot", "list_head", "syscall_metadata",
)
ENUMS: Tuple[str, ...] = ("maple_type",)
#: symbols exported when the image has them
SYMBOLS: Tuple[str, ...] = (
    "init_task", "__per_cpu_offset", "current_task", "pcpu_hot", "_text", "_stext", "_etext",
    "asm_exc_divide_error", "asm_exc_page_fault", "entry_SYSENTER_32", "entry_INT80_32",
    "entry_SYSCALL_64", "entry_SYSCALL_compat", "entry_SYSENTER_compat", "entry_INT80_compat",
    "page_offset_base", "vmalloc_base", "vmemmap_base", "phys_base", "high_memory", "init_mm",
    "swapper_pg_dir", "init_top_pgt", "sys_call_table", "ia32_sys_call_table", "linux_banner",
    "this_cpu_off", "cpu_number", "cpu_current_top_of_stack", "cpu_tss_rw", "init_uts_ns",
    "init_pid_ns", "jiffies", "mem_map", "max_pfn", "init_cred", "idt_table", "gdt_page",
    "__per_cpu_start", "__start_rodata",
)
#: per-cpu variables: their address comes from the BTF DATASEC when no symbol table has them
PERCPU: Tuple[str, ...] = ("current_task", "pcpu_hot", "cpu_number", "this_cpu_off",
                           "cpu_current_top_of_stack", "cpu_tss_rw")

_RELEASE = re.compile(r"^\d+\.\d+(\.\d+)?(-[0-9A-Za-z.+~_-]+)?$")
#: Debian kernel flavour -> (dpkg architecture, ELF arch)
_FLAVOUR_ARCH = (("686-pae", "i386"), ("686", "i386"), ("amd64", "amd64"))

ProgressFn = Callable[[str], None]


def _progress(msg: str) -> None:
    print(f"[pypanda.osi] {msg}", file=sys.stderr, flush=True)


def default_cache_dir() -> Path:
    """``$PYPANDA_OSI_DIR``, else ``$XDG_CACHE_HOME/pypanda/osi`` (``~/.cache/pypanda/osi``)."""
    override = os.environ.get("PYPANDA_OSI_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "pypanda" / "osi"


PROBE_DIR = Path(__file__).resolve().parent.parent / "data" / "osiprobe"


def _digest(paths: Iterable[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def probe_id() -> str:
    """Hash of the probe source: names the cached BTF it produced."""
    return _digest([PROBE_DIR / "osiprobe.c", PROBE_DIR / "Kbuild"])


@functools.lru_cache(maxsize=None)
def generator_id() -> str:
    """Hash of the code that builds profiles: a cached profile made by other
    code (an older pypanda) is rebuilt rather than trusted."""
    here = Path(__file__).resolve().parent
    return _digest([here / "kimage.py", here / "btf.py", here / "profile.py",
                    PROBE_DIR / "osiprobe.c", PROBE_DIR / "Kbuild"])


# =========================================================================== Profile

def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Profile:
    """A kernel's OSI profile: a validated view over the profile JSON dict.

    The dict (``.data``) has the keys ``format`` (1), ``arch`` ("i386" or
    "x86_64"), ``bits``, ``release``, ``banner``, ``banner_addr``,
    ``build_id``, ``btf_source``, ``page_offset``, ``per_cpu_start``,
    ``symbols`` {name: link address}, ``fields`` {"struct.member": [offset,
    size]}, ``arrays`` {"struct.member": element count}, ``sizes`` {struct:
    sizeof}, ``enums`` {enum: {name: value}} and ``syscalls`` (one dict per
    table slot: ``nr``, ``name`` without ``sys_``, ``entry``, ``args`` as
    [[type, name], ...]; ``name`` and ``args`` are None for
    ``sys_ni_syscall`` and ``args`` is None when the kernel has no metadata).
    Addresses are link-time: add the KASLR slide at run time.
    """

    def __init__(self, data: Dict[str, Any]) -> None:
        _validate(data)
        self.data = data
        self._by_name: Optional[Dict[str, Dict[str, Any]]] = None

    # -------------------------------------------------------------- load/save
    @classmethod
    def from_json(cls, text: Union[str, bytes], origin: str = "profile JSON") -> "Profile":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ProfileError(f"{origin} is not valid JSON ({exc})") from None
        try:
            return cls(data)
        except ProfileError as exc:
            raise ProfileError(f"{origin}: {exc}") from None

    @classmethod
    def load(cls, path: PathLike) -> "Profile":
        """Read and validate a profile JSON file; any defect raises ProfileError."""
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise ProfileError(f"cannot read the profile {path}: {exc.strerror or exc}") from None
        return cls.from_json(raw, origin=str(path))

    def to_json(self) -> str:
        return json.dumps(self.data, indent=1, sort_keys=True) + "\n"

    def save(self, path: PathLike) -> None:
        """Write the JSON atomically (a reader never sees half a file)."""
        _atomic_write(Path(path), self.to_json().encode())

    # -------------------------------------------------------------- accessors
    @property
    def arch(self) -> str:
        return str(self.data["arch"])

    @property
    def bits(self) -> int:
        return int(self.data["bits"])

    @property
    def release(self) -> str:
        return str(self.data["release"])

    @property
    def banner(self) -> str:
        return str(self.data["banner"])

    @property
    def build_id(self) -> str:
        return str(self.data["build_id"])

    @property
    def page_offset(self) -> int:
        return int(self.data["page_offset"])

    @property
    def per_cpu_start(self) -> int:
        return int(self.data["per_cpu_start"])

    def _missing(self, what: str, name: str) -> ProfileError:
        return ProfileError(f"{what} {name!r} is not in the profile of Linux {self.release} "
                            f"({self.arch}, build {self.build_id[:12]})")

    def has(self, field: str) -> bool:
        """Whether this kernel has ``struct.member`` (e.g. ``mm_struct.mmap``: not since 6.1)."""
        return field in self.data["fields"]

    def field(self, field: str) -> Tuple[int, int]:
        """(offset, size) of ``struct.member``; ProfileError if this kernel has no such field."""
        try:
            off, size = self.data["fields"][field]
        except KeyError:
            raise self._missing("field", field) from None
        return int(off), int(size)

    def offset(self, field: str) -> int:
        """Byte offset of ``struct.member`` in its struct (``"task_struct.pid"``)."""
        return self.field(field)[0]

    def size(self, field: str) -> int:
        """Size in bytes of the member ``struct.member``."""
        return self.field(field)[1]

    def sizeof(self, struct: str) -> int:
        try:
            return int(self.data["sizes"][struct])
        except KeyError:
            raise self._missing("struct", struct) from None

    def array_len(self, field: str) -> int:
        try:
            return int(self.data["arrays"][field])
        except KeyError:
            raise self._missing("array", field) from None

    def enum(self, name: str) -> Dict[str, int]:
        try:
            return dict(self.data["enums"][name])
        except KeyError:
            raise self._missing("enum", name) from None

    def has_symbol(self, name: str) -> bool:
        return name in self.data["symbols"]

    def symbol(self, name: str) -> int:
        """Link address of ``name`` (add the KASLR slide for the running kernel)."""
        try:
            return int(self.data["symbols"][name])
        except KeyError:
            raise self._missing("symbol", name) from None

    @property
    def syscalls(self) -> List[Dict[str, Any]]:
        return list(self.data["syscalls"])

    def syscall(self, nr: int) -> Dict[str, Any]:
        """The table slot ``nr``: {"nr", "name", "entry", "args"}."""
        table = self.data["syscalls"]
        if not _is_int(nr) or not 0 <= nr < len(table):
            raise ProfileError(f"system call {nr!r} is outside the table (0..{len(table) - 1}) "
                               f"of Linux {self.release}")
        return dict(table[nr])

    def syscall_by_name(self, name: str) -> Dict[str, Any]:
        """The slot of the kernel's ``name`` (``"openat"``; a ``sys_`` prefix is ignored)."""
        if self._by_name is None:
            self._by_name = {}
            for s in self.data["syscalls"]:
                if s["name"] is not None:
                    self._by_name.setdefault(s["name"], s)
        key = name[4:] if name.startswith("sys_") else name
        try:
            return dict(self._by_name[key])
        except KeyError:
            raise self._missing("system call", name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.data == other.data

    def __repr__(self) -> str:
        return (f"<Profile Linux {self.release} {self.arch} build {self.build_id[:12]}: "
                f"{len(self.data['fields'])} fields, {len(self.data['symbols'])} symbols, "
                f"{len(self.data['syscalls'])} syscalls>")

    def summary(self) -> str:
        d = self.data
        lines = [f"Linux {d['release']} ({d['arch']}, {d['bits']}-bit), build id {d['build_id']}",
                 f"banner @ {d['banner_addr']:#x}: {d['banner']}",
                 f"types from: {d['btf_source']}",
                 f"page_offset {d['page_offset']:#x}, per_cpu_start {d['per_cpu_start']:#x}",
                 f"{len(d['fields'])} fields, {len(d['sizes'])} struct sizes, {len(d['symbols'])} symbols, "
                 f"{len(d['syscalls'])} syscall slots "
                 f"({sum(1 for s in d['syscalls'] if s['args'] is not None)} with arguments)"]
        for n in sorted(d["symbols"]):
            lines.append(f"  {n:28} {d['symbols'][n]:#x}")
        for f in ("task_struct.tasks", "task_struct.pid", "task_struct.comm", "task_struct.mm",
                  "mm_struct.pgd", "mm_struct.mm_mt", "mm_struct.mmap"):
            v = d["fields"].get(f)
            lines.append(f"  {f:28} " + (f"+{v[0]} ({v[1]} bytes)" if v else "absent"))
        return "\n".join(lines)


def _validate(d: Any) -> None:
    """Check the shape and types of a profile dict; ProfileError names the first defect."""
    def bad(msg: str) -> ProfileError:
        return ProfileError(f"not a pypanda OSI profile: {msg}")
    if not isinstance(d, dict):
        raise bad("the top level is not an object")
    if d.get("format") != FORMAT or not _is_int(d.get("format")):
        raise bad(f"format {d.get('format')!r}, expected {FORMAT}")
    if d.get("arch") not in ("i386", "x86_64"):
        raise bad(f"arch {d.get('arch')!r} (i386 or x86_64)")
    if d.get("bits") != {"i386": 32, "x86_64": 64}[d["arch"]] or not _is_int(d.get("bits")):
        raise bad(f"bits {d.get('bits')!r} does not match arch {d['arch']}")
    for k in ("release", "banner", "build_id", "btf_source"):
        if not isinstance(d.get(k), str):
            raise bad(f"{k!r} is missing or not a string")
    limit = 1 << d["bits"]
    for k in ("banner_addr", "page_offset", "per_cpu_start"):
        if not _is_int(d.get(k)) or not 0 <= d[k] < limit:
            raise bad(f"{k!r} is missing or not an address")

    def mapping(key: str, check: Callable[[Any], bool], what: str) -> None:
        m = d.get(key)
        if not isinstance(m, dict):
            raise bad(f"{key!r} is missing or not an object")
        for name, v in m.items():
            if not check(v):
                raise bad(f"{key}[{name!r}] = {v!r} is not {what}")
    mapping("symbols", lambda v: _is_int(v) and 0 <= v < limit, "an address")
    mapping("fields", lambda v: isinstance(v, list) and len(v) == 2 and all(_is_int(x) and 0 <= x < 1 << 20
                                                                         for x in v), "[offset, size]")
    mapping("arrays", lambda v: _is_int(v) and 0 <= v < 1 << 20, "a count")
    mapping("sizes", lambda v: _is_int(v) and 0 <= v < 1 << 24, "a size")
    mapping("enums", lambda v: isinstance(v, dict) and all(isinstance(k, str) and _is_int(x)
                                                           for k, x in v.items()), "{name: int}")
    sc = d.get("syscalls")
    if not isinstance(sc, list):
        raise bad("'syscalls' is missing or not a list")
    for i, s in enumerate(sc):
        if not isinstance(s, dict) or s.get("nr") != i or not _is_int(s.get("nr")):
            raise bad(f"syscalls[{i}] is not an object with nr {i}")
        if not (s.get("name") is None or isinstance(s.get("name"), str)) or not isinstance(s.get("entry"), str):
            raise bad(f"syscalls[{i}] has a bad name or entry")
        a = s.get("args")
        if a is not None and not (isinstance(a, list) and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in a)):
            raise bad(f"syscalls[{i}].args is not a list of [type, name]")


# ======================================================================= host tools

def _need(tool: str, package: str, why: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ProfileError(f"'{tool}' not found: it is needed {why}; install it "
                           f"(as root: apt-get install {package})")
    return path


def _run(cmd: Sequence[str], what: str, cwd: Optional[Path] = None, stdout: Any = subprocess.PIPE) -> bytes:
    try:
        r = subprocess.run(list(cmd), cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, check=False)
    except OSError as exc:
        raise ProfileError(f"{what}: cannot run {cmd[0]}: {exc.strerror or exc}") from None
    if r.returncode != 0:
        tail = (r.stderr or b"").decode("utf-8", "replace").strip().splitlines()[-15:]
        raise ProfileError(f"{what} failed (exit {r.returncode}): {' '.join(cmd)}\n" + "\n".join(tail))
    return r.stdout or b""


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextlib.contextmanager
def _cache_lock(cache_dir: Path) -> Iterator[None]:
    """One download/build at a time per cache (not re-entrant)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / ".lock", "a") as f:
        try:
            import fcntl
        except ImportError:          # not POSIX: no lock, atomic writes still hold
            yield
            return
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _deb_dirs(cache_dir: Path) -> List[Path]:
    """Where .debs are looked for before downloading: our own cache, then the
    guest builders' (~/.cache/pypanda/debs/*)."""
    dirs = [cache_dir / "debs"]
    base = cache_dir.parent / "debs"
    if base.is_dir():
        dirs += sorted(p for p in base.iterdir() if p.is_dir())
    return dirs


def _deb_name_version(path: Path) -> Tuple[str, str]:
    # apt-get download names files <pkg>_<version with : as %3a>_<arch>.deb
    parts = path.name[:-4].split("_")
    return (parts[0], parts[1].replace("%3a", ":")) if len(parts) == 3 else ("", "")


def _find_deb(cache_dir: Path, package: str, version: Optional[str], arch: Optional[str]) -> Optional[Path]:
    for d in _deb_dirs(cache_dir):
        if not d.is_dir():
            continue
        for p in sorted(d.glob(f"{package}_*.deb")):
            name, ver = _deb_name_version(p)
            if name == package and (version is None or ver == version) and \
                    (arch is None or p.name.endswith(f"_{arch}.deb") or p.name.endswith("_all.deb")):
                return p
    return None


def _apt_download(cache_dir: Path, package: str, version: Optional[str], arch: Optional[str],
                  progress: ProgressFn) -> Path:
    """The .deb of ``package`` from a cache, else ``apt-get download`` into cache_dir/debs."""
    found = _find_deb(cache_dir, package, version, arch)
    if found is not None:
        return found
    apt = _need("apt-get", "apt", "to download Debian kernel packages (a Debian-based host)")
    dest = cache_dir / "debs"
    dest.mkdir(parents=True, exist_ok=True)
    spec = package + (f":{arch}" if arch else "")
    opts = ["-o", "APT::Sandbox::User=root"] if os.geteuid() == 0 else []
    errors = []
    for pin in ([version, None] if version else [None]):
        progress(f"apt-get download {spec}{'=' + pin if pin else ''}")
        try:
            _run([apt, "download", *opts, spec + (f"={pin}" if pin else "")],
                 f"apt-get download {spec}", cwd=dest)
        except ProfileError as exc:
            errors.append(str(exc))
            continue
        got = _find_deb(cache_dir, package, pin, arch)
        if got is not None:
            if pin is None and version:
                progress(f"warning: {package} {version} is no longer on the mirror; using {_deb_name_version(got)[1]}")
            return got
    hint = ""
    if arch == "i386":
        hint = " (for i386 packages: dpkg --add-architecture i386 && apt-get update)"
    raise ProfileError(f"could not download {spec}: is the Debian mirror reachable? try apt-get update{hint}\n"
                       + "\n".join(errors))


def _deb_field(deb: Path, field: str) -> str:
    dpkg = _need("dpkg-deb", "dpkg", "to unpack Debian packages")
    return _run([dpkg, "-f", str(deb), field], f"dpkg-deb -f {deb.name}").decode().strip()


def _deb_extract_file(deb: Path, member: str) -> bytes:
    """One file of a .deb (``./boot/vmlinuz-<release>``) without installing it."""
    dpkg = _need("dpkg-deb", "dpkg", "to unpack Debian packages")
    tar = _run([dpkg, "--fsys-tarfile", str(deb)], f"dpkg-deb --fsys-tarfile {deb.name}")
    try:
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            for m in tf:
                if m.name.lstrip("./") == member.lstrip("./") and m.isfile():
                    f = tf.extractfile(m)
                    if f is not None:
                        return f.read()
    except tarfile.TarError as exc:
        raise ProfileError(f"{deb} is not a valid package ({exc})") from None
    raise ProfileError(f"{deb.name} has no {member}")


def release_arch(release: str) -> str:
    """Debian kernel release -> dpkg architecture (``6.1.0-57-686-pae`` -> ``i386``)."""
    for suffix, arch in _FLAVOUR_ARCH:
        if release.endswith("-" + suffix):
            return arch
    raise ProfileError(f"cannot tell the architecture of the Debian kernel release {release!r}: "
                       "expected a flavour ending in -686, -686-pae or -amd64")


def kernel_from_release(release: str, cache_dir: Path, progress: ProgressFn = _progress) -> Path:
    """The bzImage of Debian's ``linux-image-<release>``, fetched with apt-get download."""
    out = cache_dir / "kernels" / f"vmlinuz-{release}"
    if out.is_file():
        return out
    arch = release_arch(release)
    with _cache_lock(cache_dir):
        if out.is_file():
            return out
        deb = _apt_download(cache_dir, f"linux-image-{release}", None, arch, progress)
        progress(f"extracting /boot/vmlinuz-{release} from {deb.name}")
        _atomic_write(out, _deb_extract_file(deb, f"./boot/vmlinuz-{release}"))
        if deb.parent == cache_dir / "debs":
            deb.unlink()   # 50-70 MB, of which only the bzImage is needed
    return out


# ================================================================ headers + probe

def headers_tree(release: str, version: Optional[str], arch: str, cache_dir: Path,
                 progress: ProgressFn = _progress) -> Path:
    """Unpack (never install) linux-headers-<release>, its -common and
    linux-kbuild dependencies into the cache; returns the kernel build
    directory (``.../usr/src/linux-headers-<release>``)."""
    tag = f"{release}_{version}" if version else release
    root = cache_dir / "headers" / tag
    kdir = root / "usr" / "src" / f"linux-headers-{release}"
    if (root / ".complete").is_file() and kdir.is_dir():
        return kdir
    _need("dpkg-deb", "dpkg", "to unpack the linux-headers packages")
    main = _apt_download(cache_dir, f"linux-headers-{release}", version, arch, progress)
    debs = [main]
    for dep in re.split(r",\s*", _deb_field(main, "Depends")):
        m = re.match(r"(linux-(?:headers|kbuild)-[^\s:(]+)(?::\S+)?\s*(?:\(\s*(>?=)\s*([^)\s]+)\s*\))?", dep)
        if m:
            # -common is arch all; linux-kbuild holds host programs: the host's arch
            pin = m.group(3) if m.group(2) == "=" else version
            debs.append(_apt_download(cache_dir, m.group(1), pin, None, progress))
    (cache_dir / "headers").mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=str(cache_dir / "headers"), prefix=".unpack."))
    try:
        for deb in debs:
            progress(f"unpacking {deb.name}")
            _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"dpkg-deb -x {deb.name}")
        k = tmp / "usr" / "src" / f"linux-headers-{release}"
        mk = k / "Makefile"
        if not mk.is_file():
            raise ProfileError(f"{main.name} has no usr/src/linux-headers-{release}/Makefile")
        # The flavour's Makefile includes /usr/src/linux-headers-<abi>-common/Makefile:
        # point it at the unpacked copy (relative, so the cache can move).
        text = mk.read_text()
        mk.write_text(re.sub(r"^include /usr/src/", "include $(dir $(lastword $(MAKEFILE_LIST)))../",
                             text, flags=re.M))
        (tmp / ".complete").write_text(" ".join(d.name for d in debs) + "\n")
        if root.exists():
            shutil.rmtree(root)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return kdir


def kbuild(kdir: Path, srcdir: Path, target: str) -> Path:
    """``make -C kdir M=srcdir target`` (an object or ``.s`` of an external
    module; nothing is linked or loaded); returns srcdir/target."""
    make = _need("make", "make", "to compile the OSI probe against linux-headers")
    cc = "gcc"
    cfg = kdir / ".config"
    if cfg.is_file():
        m = re.search(r'^CONFIG_CC_VERSION_TEXT="(\S+)', cfg.read_text(errors="replace"), re.M)
        if m and shutil.which(m.group(1)):
            cc = m.group(1)   # the kernel's own compiler (gcc-12 for bookworm) when present
    _need(cc, "gcc", "to compile the OSI probe against linux-headers")
    _run([make, "-s", "-C", str(kdir), f"M={srcdir}", f"CC={cc}", target],
         f"compiling the OSI probe ({target}) against {kdir.name}")
    out = srcdir / target
    if not out.is_file():
        raise ProfileError(f"make produced no {out}")
    return out


def probe_btf(kdir: Path, progress: ProgressFn = _progress) -> bytes:
    """Compile pypanda's OSI probe against the headers in ``kdir`` and return
    the BTF pahole makes of it."""
    pahole = _need("pahole", "pahole", "to turn the OSI probe's DWARF into BTF")
    with tempfile.TemporaryDirectory(prefix="pypanda-osiprobe.") as tmp:
        work = Path(tmp)
        for name in ("osiprobe.c", "Kbuild"):
            shutil.copy(PROBE_DIR / name, work / name)
        progress(f"compiling the OSI probe against {kdir.name}")
        obj = kbuild(kdir, work, "osiprobe.o")
        progress("pahole --btf_encode_detached")
        _run([pahole, f"--btf_encode_detached={work / 'osi.btf'}", str(obj)], "pahole")
        return (work / "osi.btf").read_bytes()


def _debian_version(banner: str) -> Optional[str]:
    # the last "Debian X" is the kernel package's; an earlier one is gcc's
    found = re.findall(r"\bDebian (\d[^\s()]*)", banner)
    return found[-1] if found else None


# ============================================================ building a profile

def _syscall_table(elf: kimage.ELF, kall: Sequence[Tuple[int, str, str]], btf: BTF,
                   arch: str) -> Tuple[int, List[Dict[str, Any]]]:
    prefix = "__ia32_" if arch == "i386" else "__x64_"
    va, entries = kimage.find_sys_call_table(elf, kall, prefix)
    layout: Dict[str, int] = {}
    for m in ("name", "syscall_nr", "nb_args", "types", "args"):
        f = btf.field("syscall_metadata." + m)
        if f is not None:
            layout[m] = f[0]
    sm = btf.struct("syscall_metadata")
    meta = kimage.find_syscall_metadata(elf, layout, btf.size_of(sm) if sm else 0)
    out: List[Dict[str, Any]] = []
    for nr, entry in enumerate(entries):
        if entry.endswith("sys_ni_syscall"):     # __ia32_sys_ni_syscall is an alias
            out.append({"nr": nr, "name": None, "entry": "sys_ni_syscall", "args": None})
            continue
        name = entry[entry.index("sys_") + 4:]
        md = meta.get("sys_" + name)
        out.append({"nr": nr, "name": name, "entry": entry,
                    "args": [list(a) for a in md.args] if md is not None else None})
    return va, out


def build_profile(data: bytes, *, btf: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None,
                  progress: ProgressFn = _progress) -> Profile:
    """Build a profile from kernel image bytes (bzImage or vmlinux); no cache.
    A malformed image raises ProfileError, whatever part of it is wrong."""
    try:
        return _build_profile(data, btf, cache_dir, progress)
    except ProfileError:
        raise
    except (struct.error, IndexError, ValueError, OverflowError, KeyError, UnicodeDecodeError) as exc:
        # the parsers check what they can; anything else a crafted image
        # trips over is still a bad image, not a crash
        raise ProfileError(f"malformed kernel image ({type(exc).__name__}: {exc})") from None


def _build_profile(data: bytes, btf: Optional[PathLike], cache_dir: Optional[PathLike],
                   progress: ProgressFn) -> Profile:
    cdir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    t0 = time.monotonic()
    progress("decompressing the kernel" if data[:4] != b"\x7fELF" else "reading the vmlinux")
    vml = kimage.load_vmlinux(data)
    elf = kimage.ELF(vml)
    if elf.arch is None:
        raise ProfileError(f"ELF machine {elf.machine} is not an x86 kernel (i386 or x86_64)")
    arch = elf.arch
    build_id = elf.build_id() or hashlib.sha256(vml).hexdigest()
    found = kimage.find_banner(elf)
    if found is None:
        raise ProfileError("no 'Linux version ...' banner in .rodata: not a Linux kernel image")
    banner_addr, banner = found[0], found[1].rstrip("\n")
    release = banner.split()[2]

    progress(f"Linux {release} {arch}: symbols (__ksymtab, kallsyms)")
    syms: Dict[str, int] = {}
    ks = kimage.parse_ksymtab(elf)
    try:
        kall = kimage.find_kallsyms(elf).symbols
    except (ProfileError, struct.error, IndexError, ValueError) as exc:
        progress(f"warning: {exc}; text symbols and the syscall table are left out")
        kall = []
    text_syms: Dict[str, int] = {}
    for a, _t, n in kall:
        text_syms.setdefault(n, a)

    # ------------------------------------------------------------ types
    sect = elf.section_bytes(".BTF")
    if sect:
        btf_data, btf_source = sect, "vmlinux .BTF section"
    elif btf is not None:
        try:
            btf_data = Path(btf).read_bytes()
        except OSError as exc:
            raise ProfileError(f"cannot read the BTF file {btf}: {exc.strerror or exc}") from None
        btf_source = f"file {os.fspath(btf)}"
    else:
        version = _debian_version(banner)
        dpkg_arch = "i386" if arch == "i386" else "amd64"
        cached = cdir / "btf" / f"{release}_{version or 'unknown'}_{probe_id()}.btf"
        if not cached.is_file():
            # every tool of the route, before a 14 MB download
            _need("pahole", "pahole", "to turn the OSI probe's DWARF into BTF (the image has no .BTF)")
            _need("make", "make", "to compile the OSI probe against linux-headers")
            _need("gcc", "gcc", "to compile the OSI probe against linux-headers")
            _need("dpkg-deb", "dpkg", "to unpack the linux-headers packages")
            with _cache_lock(cdir):      # a concurrent build (the other guest builder) waits
                if not cached.is_file():
                    progress(f"no .BTF in the image: building one from linux-headers-{release} "
                             f"{version or ''} (the OSI probe + pahole)")
                    kdir = headers_tree(release, version, dpkg_arch, cdir, progress)
                    _atomic_write(cached, probe_btf(kdir, progress))
                    # the unpacked tree is ~80 MB; the .debs stay cached, so
                    # headers_tree() can unpack it again in a second or two
                    shutil.rmtree(kdir.parent.parent.parent, ignore_errors=True)
        btf_data = cached.read_bytes()
        btf_source = f"linux-headers-{release} {version or '?'} probe (pahole)"
    progress(f"types from {btf_source}")
    b = BTF(btf_data, ptr_size=elf.psize)

    fields: Dict[str, List[int]] = {}
    for f in FIELDS:
        r = b.field(f)
        if r is not None:
            fields[f] = [r[0], r[1]]
    arrays: Dict[str, int] = {}
    for f in ARRAYS:
        r = b.field(f)
        if r is not None:
            count = b.array_len(r[2])
            if count is not None:
                arrays[f] = count
    sizes: Dict[str, int] = {}
    for s in STRUCTS:
        tid = b.struct(s)
        if tid:
            sizes[s] = b.size_of(tid)
    if not sect and btf is None:
        # the probe's struct mount is a copy of the head only: its size is not the kernel's
        sizes.pop("mount", None)
    enums: Dict[str, Dict[str, int]] = {}
    for e in ENUMS:
        v = b.enum(e)
        if v is not None:
            enums[e] = v

    # ---------------------------------------------------------- symbols
    percpu_sec = elf.section(".data..percpu")
    per_cpu_start = percpu_sec.addr if arch == "i386" and percpu_sec is not None else 0
    percpu_btf = b.datasec(".data..percpu")
    for n in SYMBOLS:
        if n in ks:
            syms[n] = ks[n]
        elif n in text_syms:
            syms[n] = text_syms[n]
        elif n in PERCPU and n in percpu_btf:
            syms[n] = per_cpu_start + percpu_btf[n][0]
    syms["linux_banner"] = banner_addr
    if arch == "i386" and percpu_sec is not None:
        syms.setdefault("__per_cpu_start", percpu_sec.addr)
    ro = elf.section(".rodata")
    if ro is not None:
        syms.setdefault("__start_rodata", ro.addr)
    # init_task.active_mm is &init_mm and init_mm.pgd is swapper_pg_dir (in .data)
    if "init_task" in syms and "task_struct.active_mm" in fields:
        mm = elf.read_ptr(syms["init_task"] + fields["task_struct.active_mm"][0])
        if mm and elf.contains(".data", mm):
            syms.setdefault("init_mm", mm)
            if "mm_struct.pgd" in fields:
                pgd = elf.read_ptr(mm + fields["mm_struct.pgd"][0])
                if pgd:
                    syms.setdefault("swapper_pg_dir" if arch == "i386" else "init_top_pgt", pgd)

    progress("syscalls (sys_call_table + ftrace syscall_metadata)")
    table_va, syscalls = _syscall_table(elf, kall, b, arch)
    if table_va:
        syms.setdefault("sys_call_table", table_va)

    if arch == "i386":
        # LOAD segments are linked at PAGE_OFFSET + physical address
        loads = [s for s in elf.segments if s.type == kimage.PT_LOAD and s.vaddr >= s.paddr]
        page_offset = (loads[0].vaddr - loads[0].paddr) if loads else 0xC0000000
    else:
        # the direct map's default base (4-level paging); KASLR moves it:
        # read page_offset_base at run time
        page_offset = 0xFFFF888000000000
    prof = {
        "format": FORMAT, "arch": arch, "bits": elf.bits, "release": release, "banner": banner,
        "banner_addr": banner_addr, "build_id": build_id, "btf_source": btf_source,
        "page_offset": page_offset, "per_cpu_start": per_cpu_start,
        "symbols": dict(sorted(syms.items())), "fields": fields, "arrays": arrays, "sizes": sizes,
        "enums": enums, "syscalls": syscalls,
    }
    progress(f"profile built in {time.monotonic() - t0:.1f} s: {len(fields)} fields, {len(syms)} symbols, "
             f"{len(syscalls)} syscalls")
    return Profile(prof)




def _load_cached(path: Path, progress: ProgressFn) -> Optional[Profile]:
    if not path.is_file():
        return None
    try:
        return Profile.load(path)
    except ProfileError as exc:
        progress(f"ignoring the cached profile ({exc}); rebuilding it")
        return None


def profile_for(kernel: PathLike, *, btf: Optional[PathLike] = None,
                cache_dir: Optional[PathLike] = None, progress: Optional[ProgressFn] = None) -> Profile:
    """The OSI profile of a kernel, from the cache or built (and cached).

    ``kernel``: a bzImage (vmlinuz) or vmlinux path, or a Debian kernel
    release such as ``"6.1.0-57-686-pae"`` (its ``linux-image`` package is
    fetched with ``apt-get download``).  ``btf``: a BTF file to use when the
    image has no ``.BTF`` (else the linux-headers probe makes one); with
    ``btf`` the profile is always rebuilt (and re-cached).
    ``cache_dir``: default ``~/.cache/pypanda/osi``.  ``progress``: called
    with a line per step (default: print to stderr).

    Raises :class:`ProfileError` for a malformed image and for a missing host
    tool or failed download (naming the tool and how to install it).
    """
    say = progress or _progress
    cdir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = Path(os.path.expanduser(os.fspath(kernel)))
    if not path.exists():
        text = os.fspath(kernel)
        if _RELEASE.match(text) and "/" not in text:
            path = kernel_from_release(text, cdir, say)
        else:
            raise ProfileError(f"{text!r} is neither a kernel image file nor a Debian kernel release "
                               "such as 6.1.0-57-686-pae")
    if not path.is_file():
        raise ProfileError(f"{path} is not a file")
    # The image's hash maps to its build id (and the code that made the
    # profile), so a cached profile needs no decompression.
    index = cdir / "images" / file_sha256(path)
    if btf is None and index.is_file():
        try:
            bid, gen = index.read_text().split()
        except (OSError, ValueError, UnicodeDecodeError):
            bid = gen = ""
        if gen != generator_id():
            if bid:
                say("the cached profile was made by other pypanda code: rebuilding it")
        elif re.fullmatch(r"[0-9a-f]{16,128}", bid):
            cached = _load_cached(cdir / f"{bid}.json", say)
            if cached is not None and cached.build_id == bid:
                say(f"Linux {cached.release}: cached profile {cdir / (bid + '.json')}")
                return cached
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ProfileError(f"cannot read {path}: {exc.strerror or exc}") from None
    prof = build_profile(data, btf=btf, cache_dir=cdir, progress=say)
    try:
        prof.save(cdir / f"{prof.build_id}.json")
        _atomic_write(index, f"{prof.build_id} {generator_id()}\n".encode())
    except OSError as exc:
        say(f"warning: cannot cache the profile in {cdir}: {exc}")
    return prof


# ======================================================================== command line

def main(argv: Optional[Iterable[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pypanda.osi.profile",
                                 description="Build (or load from the cache) the Linux OSI profile of a kernel.")
    ap.add_argument("image", help="bzImage/vmlinux path, or a Debian kernel release (6.1.0-57-686-pae)")
    ap.add_argument("--btf", help="BTF file to use when the image has no .BTF section")
    ap.add_argument("--out", help="write the profile JSON here")
    ap.add_argument("--cache-dir", help="profile cache (default ~/.cache/pypanda/osi)")
    a = ap.parse_args(None if argv is None else list(argv))
    try:
        prof = profile_for(a.image, btf=a.btf, cache_dir=a.cache_dir)
        if a.out:
            prof.save(a.out)
    except ProfileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(prof.summary())
    if a.out:
        print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
