"""Linux introspection at run time: processes, threads, memory maps and open
files, read from the guest's own kernel structures with the offsets of a
:class:`~pypanda.osi.profile.Profile` (made from the kernel image, never
from the guest's cooperation).

Everything here reads guest memory through the host; nothing runs in the
guest and nothing is written.  The guest is hostile: every list walk is
bounded, every pointer is checked before it is followed, and a structure
that does not add up gives :class:`OsiError` (or is skipped), never a hang
or a crash.

i386 (3G/1G split, PAE or not): kernel structures are in lowmem, where a
kernel virtual address is its physical address plus ``PAGE_OFFSET``; other
kernel addresses and user addresses go through a page-table walk of the
right address space (``mm->pgd``, or CR3 with PTI's user bit masked).
KASLR is found at run time from where the kernel's banner string sits in
physical memory.
"""
from __future__ import annotations

import posixpath
import struct
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..errors import PandaError

#: physical alignment KASLR keeps (CONFIG_PHYSICAL_ALIGN's smallest value on x86)
KASLR_ALIGN = 0x200000
#: bounds on what a guest's lists may hold
MAX_TASKS = 32768
MAX_THREADS = 65536
MAX_VMAS = 65530          # DEFAULT_MAX_MAP_COUNT
MAX_FDS = 65536
MAX_PATH_DEPTH = 256
#: VM_* flags (include/linux/mm.h)
VM_READ, VM_WRITE, VM_EXEC, VM_SHARED = 0x1, 0x2, 0x4, 0x8
#: maple tree node types (enum maple_type) when the profile has none
MAPLE_TYPES = {"maple_dense": 0, "maple_leaf_64": 1, "maple_range_64": 2, "maple_arange_64": 3}
#: pseudo file systems whose files /proc names as "<fs>:[<inode>]"
PSEUDO_FS = {"pipefs": "pipe", "sockfs": "socket"}


class OsiError(PandaError):
    """The guest's kernel structures could not be read as the profile says."""


class OsiWarning(UserWarning):
    """Something about the running kernel a user should know (e.g. it is not
    the ``os_version`` given)."""


class _Unreadable(Exception):
    """An address that reads nothing (internal)."""


class OsiProc:
    """A process (pandare's OsiProc): ``name`` (the task's comm), ``pid``
    (the thread group id, as ``ps`` shows), ``ppid``, ``asid`` (the physical
    address of its page directory, 0 for kernel threads), ``taskd`` (the
    ``task_struct``'s address), ``create_time`` (ns since boot) and
    ``pages`` (None: not tracked)."""

    __slots__ = ("taskd", "asid", "pid", "ppid", "tid", "name", "create_time", "pages", "mm")

    def __init__(self, taskd: int, asid: int, pid: int, ppid: int, tid: int, name: str,
                 create_time: int, mm: int) -> None:
        self.taskd, self.asid, self.pid, self.ppid, self.tid = taskd, asid, pid, ppid, tid
        self.name, self.create_time, self.mm = name, create_time, mm
        self.pages = None

    def __repr__(self) -> str:
        return f"OsiProc(pid={self.pid}, ppid={self.ppid}, name={self.name!r}, asid={self.asid:#x})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OsiProc) and (self.taskd, self.pid) == (other.taskd, other.pid)

    def __hash__(self) -> int:
        return hash((self.taskd, self.pid))


class OsiThread:
    """A thread (pandare's OsiThread): ``pid`` (its process) and ``tid``."""

    __slots__ = ("pid", "tid", "taskd")

    def __init__(self, pid: int, tid: int, taskd: int) -> None:
        self.pid, self.tid, self.taskd = pid, tid, taskd

    def __repr__(self) -> str:
        return f"OsiThread(pid={self.pid}, tid={self.tid})"


class OsiModule:
    """A mapping (pandare's OsiModule): ``base``, ``size``, ``file`` (the
    mapped file's full path, None for anonymous memory), ``name`` (the
    file's base name, or /proc's ``[heap]``, ``[stack]``, ``[vdso]``,
    ``[vvar]``, or ``[anon]``), ``offset`` (into the file, bytes), ``flags``
    (the kernel's VM_* bits), ``perms`` (as /proc/PID/maps: ``r-xp``) and
    ``modd`` (the ``vm_area_struct``'s address)."""

    __slots__ = ("modd", "base", "size", "file", "name", "offset", "flags")

    def __init__(self, modd: int, base: int, size: int, file: Optional[str], name: str,
                 offset: int, flags: int) -> None:
        self.modd, self.base, self.size, self.file, self.name = modd, base, size, file, name
        self.offset, self.flags = offset, flags

    @property
    def perms(self) -> str:
        f = self.flags
        return ("r" if f & VM_READ else "-") + ("w" if f & VM_WRITE else "-") + \
               ("x" if f & VM_EXEC else "-") + ("s" if f & VM_SHARED else "p")

    def __repr__(self) -> str:
        return (f"OsiModule({self.base:#x}-{self.base + self.size:#x} {self.perms} "
                f"{self.file or self.name})")


class KernelMemory:
    """Guest memory as the kernel sees it, read through physical memory."""

    def __init__(self, read_phys: Callable[[int, int], bytes], bits: int, page_offset: int) -> None:
        self._read_phys = read_phys
        self.bits = bits
        self.word = bits // 8
        self.page_offset = page_offset
        self.lowmem_end = page_offset          # set from high_memory once known
        self.kernel_root: Optional[int] = None  # page directory for non-lowmem kernel addresses
        self.pae = True

    # -- physical
    def phys(self, pa: int, n: int) -> bytes:
        try:
            return self._read_phys(pa, n)
        except PandaError as exc:
            raise _Unreadable(f"physical {pa:#x}+{n}") from exc

    # -- page tables
    def v2p(self, root: int, va: int) -> Optional[int]:
        """``va`` through the page tables at physical ``root``; None if unmapped."""
        try:
            if self.bits == 32 and not self.pae:
                pde = struct.unpack("<I", self.phys(root + ((va >> 22) << 2), 4))[0]
                if not pde & 1:
                    return None
                if pde & 0x80:
                    return (pde & 0xffc00000) | (va & 0x3fffff)
                pte = struct.unpack("<I", self.phys((pde & 0xfffff000) + (((va >> 12) & 0x3ff) << 2), 4))[0]
                return (pte & 0xfffff000) | (va & 0xfff) if pte & 1 else None
            mask = 0x000ffffffffff000
            if self.bits == 32:
                e = struct.unpack("<Q", self.phys((root & ~0x1f) + ((va >> 30) & 3) * 8, 8))[0]
            else:
                e = struct.unpack("<Q", self.phys(root + ((va >> 39) & 0x1ff) * 8, 8))[0]
                if not e & 1:
                    return None
                e = struct.unpack("<Q", self.phys((e & mask) + ((va >> 30) & 0x1ff) * 8, 8))[0]
                if e & 1 and e & 0x80:
                    return (e & 0x000fffffc0000000) | (va & 0x3fffffff)
            for shift in (21, 12):
                if not e & 1:
                    return None
                e = struct.unpack("<Q", self.phys((e & mask) + ((va >> shift) & 0x1ff) * 8, 8))[0]
                if shift == 21 and e & 1 and e & 0x80:
                    return (e & 0x000fffffffe00000) | (va & 0x1fffff)
            return (e & mask) | (va & 0xfff) if e & 1 else None
        except _Unreadable:
            return None

    def kva2pa(self, va: int) -> int:
        if self.bits == 32 and self.page_offset <= va < self.lowmem_end:
            return va - self.page_offset
        if self.kernel_root is not None:
            pa = self.v2p(self.kernel_root, va)
            if pa is not None:
                return pa
        raise _Unreadable(f"kernel address {va:#x}")

    def read(self, va: int, n: int) -> bytes:
        """``n`` bytes at kernel address ``va`` (page by page)."""
        out = b""
        while n > 0:
            chunk = min(n, 0x1000 - (va & 0xfff))
            out += self.phys(self.kva2pa(va), chunk)
            va += chunk
            n -= chunk
        return out

    def user(self, root: int, va: int, n: int) -> Optional[bytes]:
        """``n`` bytes at ``va`` in the address space at ``root``; None if any
        page is absent."""
        out = b""
        while n > 0:
            chunk = min(n, 0x1000 - (va & 0xfff))
            pa = self.v2p(root, va)
            if pa is None:
                return None
            out += self.phys(pa, chunk)
            va += chunk
            n -= chunk
        return out

    def ptr(self, va: int) -> int:
        return int.from_bytes(self.read(va, self.word), "little")

    def u32(self, va: int) -> int:
        return struct.unpack("<I", self.read(va, 4))[0]

    def i32(self, va: int) -> int:
        return struct.unpack("<i", self.read(va, 4))[0]

    def u64(self, va: int) -> int:
        return struct.unpack("<Q", self.read(va, 8))[0]

    def cstr(self, va: int, limit: int = 256) -> str:
        out = b""
        while len(out) < limit:
            n = min(limit - len(out), 0x1000 - ((va + len(out)) & 0xfff))
            chunk = self.read(va + len(out), n)
            nul = chunk.find(b"\0")
            if nul >= 0:
                return (out + chunk[:nul]).decode(errors="replace")
            out += chunk
        return out.decode(errors="replace")

    def is_kernel(self, va: int) -> bool:
        return va >= self.page_offset and va & (self.word - 1) == 0


class LinuxOSI:
    """The OSI of one guest running the Linux kernel ``profile`` describes.

    ``read_phys(addr, n) -> bytes`` reads guest-physical memory, ``reg(name)``
    a register of the (single) CPU, ``ram_size`` bounds the KASLR search.
    """

    def __init__(self, profile: Any, read_phys: Callable[[int, int], bytes],
                 reg: Callable[[str], int], ram_size: int) -> None:
        self.profile = profile
        self._reg = reg
        self._ram_size = ram_size
        data = profile.data
        self.bits = int(data["bits"])
        if self.bits != 32:
            raise OsiError(f"the {data.get('arch')} kernel's OSI is not there yet: pypanda reads i386 Linux "
                           "kernels so far")
        self.mem = KernelMemory(read_phys, self.bits, int(data["page_offset"]))
        self.slide: Optional[int] = None
        self._banner = str(data["banner"]).encode()
        self._banner_addr = int(data["banner_addr"])
        self._fields: Dict[str, Tuple[int, int]] = {k: (int(v[0]), int(v[1]))
                                                    for k, v in data["fields"].items()}
        self._arrays: Dict[str, int] = {k: int(v) for k, v in data.get("arrays", {}).items()}
        self._maple = dict(MAPLE_TYPES)
        self._maple.update(data.get("enums", {}).get("maple_type", {}))
        # struct mount is private to fs/ (not in linux-headers): its head
        # {hlist_node mnt_hash; mount *mnt_parent; dentry *mnt_mountpoint;
        #  vfsmount mnt} has not changed since 3.3
        w = self.mem.word
        for name, off in (("mount.mnt_parent", 2 * w), ("mount.mnt_mountpoint", 3 * w), ("mount.mnt", 4 * w)):
            self._fields.setdefault(name, (off, w))
        #: set by the facade while on_task_change runs: the new address space
        self.switching_to: Optional[int] = None

    # ---- profile access ------------------------------------------------------

    def off(self, name: str) -> int:
        try:
            return self._fields[name][0]
        except KeyError:
            raise OsiError(f"the profile of {self.profile.data.get('release')} has no field {name}") from None

    def has(self, name: str) -> bool:
        return name in self._fields

    def sym(self, name: str) -> int:
        syms = self.profile.data["symbols"]
        if name not in syms:
            raise OsiError(f"the profile of {self.profile.data.get('release')} has no symbol {name}")
        return int(syms[name]) + (self.slide or 0)

    # ---- finding the kernel --------------------------------------------------

    def locate(self) -> bool:
        """Find the running kernel (its KASLR slide) in physical memory;
        False while it is not there (before the kernel is loaded)."""
        link_pa = self._banner_addr - self.mem.page_offset
        if self.slide is not None and self._banner_at(link_pa + self.slide):
            return True
        self.slide = None
        # the kernel keeps virtual == physical slide on i386, aligned to at
        # least 2 MiB; the banner is unique in the image
        for slide in range(0, max(self._ram_size - link_pa, 0), KASLR_ALIGN):
            if self._banner_at(link_pa + slide):
                self.slide = slide
                break
        if self.slide is None:
            return False
        try:
            self.mem.lowmem_end = self.mem.ptr(self.sym("high_memory")) if "high_memory" in \
                self.profile.data["symbols"] else self.mem.page_offset + self._ram_size
        except _Unreadable:
            self.mem.lowmem_end = self.mem.page_offset + self._ram_size
        if not self.mem.page_offset < self.mem.lowmem_end <= 0xFFFFFFFF:
            self.mem.lowmem_end = self.mem.page_offset + min(self._ram_size, 896 << 20)
        return True

    def _banner_at(self, pa: int) -> bool:
        try:
            return self.mem.phys(pa, len(self._banner)) == self._banner
        except _Unreadable:
            return False

    def _ready(self) -> None:
        if not self.locate():
            raise OsiError("the Linux kernel is not in the guest's memory (yet): OSI works once it has booted")
        cr4 = self._reg("CR4")
        self.mem.pae = bool(cr4 & 0x20)
        # the kernel half of the page tables (PTI's user half is pgd | 0x1000)
        self.mem.kernel_root = self._reg("CR3") & ~0x1fff if self.mem.pae else self._reg("CR3") & ~0xfff

    # ---- tasks -----------------------------------------------------------------

    def _list(self, head: int, link_off: int, limit: int) -> Iterator[int]:
        """The entries of a kernel list_head at ``head`` whose list_head sits at
        ``link_off`` inside each entry (``head`` itself is not an entry)."""
        seen: set = set()
        node = self.mem.ptr(head)
        while node != head:
            if not self.mem.is_kernel(node) or node in seen:
                raise OsiError(f"kernel list at {head:#x} is broken at {node:#x}")
            if len(seen) >= limit:
                raise OsiError(f"kernel list at {head:#x} has more than {limit} entries")
            seen.add(node)
            yield node - link_off
            node = self.mem.ptr(node)

    def task_addresses(self) -> List[int]:
        """Every process's (thread group leader's) task_struct, init_task first."""
        self._ready()
        init = self.sym("init_task")
        off = self.off("task_struct.tasks")
        return [init] + list(self._list(init + off, off, MAX_TASKS))

    def current_task(self) -> int:
        self._ready()
        cpu_off = self.mem.ptr(self.sym("__per_cpu_offset"))     # CPU 0
        if "current_task" in self.profile.data["symbols"]:
            where = self.sym("current_task")
        else:   # 6.2 .. 6.14: pcpu_hot.current_task
            where = self.sym("pcpu_hot") + self.off("pcpu_hot.current_task")
        task = self.mem.ptr((where + cpu_off) & 0xFFFFFFFF)
        if not self.mem.is_kernel(task):
            raise OsiError(f"current task pointer {task:#x} is not a kernel address")
        return task

    def asid_of(self, mm: int) -> int:
        if not mm:
            return 0
        pgd = self.mem.ptr(mm + self.off("mm_struct.pgd"))
        try:
            return self.mem.kva2pa(pgd)
        except _Unreadable:
            return 0

    def proc(self, task: int) -> OsiProc:
        m = self.mem
        leader = m.ptr(task + self.off("task_struct.group_leader")) if self.has("task_struct.group_leader") else task
        if not m.is_kernel(leader):
            leader = task
        parent = m.ptr(leader + self.off("task_struct.real_parent"))
        ppid = m.i32(parent + self.off("task_struct.tgid")) if m.is_kernel(parent) else 0
        mm = m.ptr(leader + self.off("task_struct.mm"))
        start = "task_struct.start_time" if self.has("task_struct.start_time") else "task_struct.real_start_time"
        return OsiProc(taskd=leader, asid=self.asid_of(mm),
                       pid=m.i32(leader + self.off("task_struct.tgid")), ppid=ppid,
                       tid=m.i32(task + self.off("task_struct.pid")),
                       name=self._comm(leader), create_time=m.u64(leader + self.off(start)), mm=mm)

    def _comm(self, task: int) -> str:
        n = self._arrays.get("task_struct.comm", 16)
        raw = self.mem.read(task + self.off("task_struct.comm"), n)
        return raw.split(b"\0", 1)[0].decode(errors="replace")

    def processes(self) -> List[OsiProc]:
        out = []
        for t in self.task_addresses():
            try:
                out.append(self.proc(t))
            except _Unreadable:
                continue
        return out

    def threads(self, proc: OsiProc) -> List[OsiThread]:
        """The threads of ``proc`` (its thread group)."""
        if not self.has("task_struct.thread_node") or not self.has("signal_struct.thread_head"):
            return [OsiThread(proc.pid, proc.tid, proc.taskd)]
        sig = self.mem.ptr(proc.taskd + self.off("task_struct.signal"))
        off = self.off("task_struct.thread_node")
        head = sig + self.off("signal_struct.thread_head")
        return [OsiThread(proc.pid, self.mem.i32(t + self.off("task_struct.pid")), t)
                for t in self._list(head, off, MAX_THREADS)]

    def current(self) -> OsiProc:
        """The process running now (during on_task_change: the one switched to)."""
        if self.switching_to is not None:
            for p in self.processes():
                if p.asid and p.asid == self.switching_to:
                    return p
        try:
            return self.proc(self.current_task())
        except _Unreadable as exc:
            raise OsiError(f"the current task cannot be read: {exc}") from None

    def current_thread(self) -> OsiThread:
        task = self.current_task()
        p = self.proc(task)
        return OsiThread(p.pid, self.mem.i32(task + self.off("task_struct.pid")), task)

    # ---- memory maps -----------------------------------------------------------

    def _vma_addresses(self, mm: int) -> List[int]:
        if self.has("mm_struct.mmap"):       # before 6.1: a linked list
            out: List[int] = []
            v = self.mem.ptr(mm + self.off("mm_struct.mmap"))
            while v and len(out) < MAX_VMAS:
                out.append(v)
                v = self.mem.ptr(v + self.off("vm_area_struct.vm_next"))
            return out
        root = self.mem.ptr(mm + self.off("mm_struct.mm_mt") + self.off("maple_tree.ma_root"))
        out = []
        self._maple_walk(root, (1 << self.bits) - 1, True, out, 0)
        return out

    def _maple_walk(self, entry: int, node_max: int, is_root: bool, out: List[int], depth: int) -> None:
        """The leaf entries (VMAs) of the maple tree below ``entry``.

        A root entry is a node when it carries bit 1 (mt_mk_root) and is not a
        small value; a child pointer in an internal node is an "enode":
        node | type << 3 | 4, without bit 1.  Nodes are 256-byte aligned."""
        if not entry or depth > 16 or len(out) >= MAX_VMAS:
            return
        if is_root and not ((entry & 3) == 2 and entry > 4096):
            out.append(entry)                # a tree holding a single entry
            return
        node = entry & ~0xff
        kind = (entry >> 3) & 0xf
        if kind == self._maple["maple_arange_64"]:
            base = "maple_arange_64"
        elif kind in (self._maple["maple_range_64"], self._maple["maple_leaf_64"]):
            base = "maple_range_64"
        else:
            raise OsiError(f"maple tree node {node:#x} has type {kind}, which a VMA tree does not use")
        npiv = self._arrays.get(base + ".pivot") or self._fields[base + ".pivot"][1] // self.mem.word
        nslot = self._arrays.get(base + ".slot") or self._fields[base + ".slot"][1] // self.mem.word
        w = self.mem.word
        size = self.profile.data.get("sizes", {}).get("maple_node", 256)
        raw = self.mem.read(node, size)
        piv_o, slot_o, meta_o = (self.off(base + f) for f in (".pivot", ".slot", ".meta"))

        def word(o: int) -> int:
            return int.from_bytes(raw[o:o + w], "little")
        pivots = [word(piv_o + i * w) for i in range(npiv)]
        slots = [word(slot_o + i * w) for i in range(nslot)]
        # ma_data_end(): the metadata's end byte for arange nodes and for
        # range/leaf nodes whose last pivot is 0 (metadata overlays it);
        # npiv - 1 when the last pivot is the node's max; else npiv
        if base == "maple_arange_64" or pivots[-1] == 0:
            end = raw[meta_o]
        elif pivots[-1] == node_max:
            end = npiv - 1
        else:
            end = npiv
        end = min(end, nslot - 1)
        for i in range(end + 1):
            s = slots[i]
            child_max = pivots[i] if i < npiv and pivots[i] else node_max
            if kind == self._maple["maple_leaf_64"]:
                if s and s & 3 == 0:
                    out.append(s)
            else:
                self._maple_walk(s, child_max, False, out, depth + 1)

    def mappings(self, proc: OsiProc) -> List[OsiModule]:
        mm = proc.mm
        if not mm:
            return []
        m = self.mem
        g = {n: self.off("vm_area_struct." + n) for n in ("vm_start", "vm_end", "vm_flags", "vm_pgoff", "vm_file")}
        brk = (m.ptr(mm + self.off("mm_struct.start_brk")), m.ptr(mm + self.off("mm_struct.brk")))
        stack = m.ptr(mm + self.off("mm_struct.start_stack"))
        vdso = None
        if self.has("mm_struct.context") and self.has("mm_context_t.vdso"):
            vdso = m.ptr(mm + self.off("mm_struct.context") + self.off("mm_context_t.vdso"))
        out: List[OsiModule] = []
        for v in self._vma_addresses(mm):
            if not m.is_kernel(v):
                continue
            start, end = m.ptr(v + g["vm_start"]), m.ptr(v + g["vm_end"])
            flags, pgoff, f = m.ptr(v + g["vm_flags"]), m.ptr(v + g["vm_pgoff"]), m.ptr(v + g["vm_file"])
            if end <= start:
                continue
            path = self.file_path(f) if f else None
            if path is not None:
                name, offset = posixpath.basename(path) or path, pgoff << 12
            else:
                offset = 0
                if start <= brk[0] and brk[1] <= end and brk[0] != brk[1]:
                    name = "[heap]"
                elif start <= stack < end:
                    name = "[stack]"
                elif vdso is not None and start == vdso:
                    name = "[vdso]"
                elif vdso is not None and end == vdso:
                    name = "[vvar]"
                else:
                    name = "[anon]"
            out.append(OsiModule(v, start, end - start, path, name, offset, flags))
        out.sort(key=lambda mod: mod.base)
        return out

    # ---- files -----------------------------------------------------------------

    def _dentry_name(self, dentry: int) -> str:
        return self.mem.cstr(self.mem.ptr(dentry + self.off("dentry.d_name") + self.off("qstr.name")), 256)

    def path_of(self, path: int) -> str:
        """A ``struct path`` as the full path name, crossing mounts."""
        m = self.mem
        dentry = m.ptr(path + self.off("path.dentry"))
        vfsmnt = m.ptr(path + self.off("path.mnt"))
        mnt_off = self.off("mount.mnt")
        parts: List[str] = []
        pseudo = self._pseudo_name(dentry, vfsmnt)
        if pseudo:
            return pseudo
        for _ in range(MAX_PATH_DEPTH):
            if not m.is_kernel(dentry):
                break
            parent = m.ptr(dentry + self.off("dentry.d_parent"))
            if parent == dentry:             # this mount's root: up to the mount point
                mount = vfsmnt - mnt_off
                mparent = m.ptr(mount + self.off("mount.mnt_parent"))
                if mparent == mount or not m.is_kernel(mparent):
                    break
                dentry = m.ptr(mount + self.off("mount.mnt_mountpoint"))
                vfsmnt = mparent + mnt_off
                continue
            parts.append(self._dentry_name(dentry))
            dentry = parent
        return "/" + "/".join(reversed(parts))

    def _pseudo_name(self, dentry: int, vfsmnt: int) -> Optional[str]:
        """pipefs and sockfs files, which /proc names "pipe:[INODE]"."""
        need = ("dentry.d_inode", "inode.i_sb", "super_block.s_id", "inode.i_ino")
        if not all(self.has(n) for n in need):
            return None
        inode = self.mem.ptr(dentry + self.off("dentry.d_inode"))
        if not self.mem.is_kernel(inode):
            return None
        sb = self.mem.ptr(inode + self.off("inode.i_sb"))
        if not self.mem.is_kernel(sb):
            return None
        fs = self.mem.read(sb + self.off("super_block.s_id"), 32).split(b"\0", 1)[0].decode(errors="replace")
        if fs in PSEUDO_FS:
            return f"{PSEUDO_FS[fs]}:[{self.mem.ptr(inode + self.off('inode.i_ino'))}]"
        return None

    def file_path(self, file: int) -> Optional[str]:
        try:
            return self.path_of(file + self.off("file.f_path"))
        except _Unreadable:
            return None

    def _fd_table(self, proc: OsiProc) -> Tuple[int, int]:
        files = self.mem.ptr(proc.taskd + self.off("task_struct.files"))
        if not self.mem.is_kernel(files):
            return 0, 0
        fdt = self.mem.ptr(files + self.off("files_struct.fdt"))
        return self.mem.ptr(fdt + self.off("fdtable.fd")), min(self.mem.u32(fdt + self.off("fdtable.max_fds")), MAX_FDS)

    def fd_file(self, proc: OsiProc, fd: int) -> int:
        """The ``struct file`` behind ``fd`` in ``proc``, 0 if none."""
        fds, max_fds = self._fd_table(proc)
        if not 0 <= fd < max_fds:
            return 0
        return self.mem.ptr(fds + fd * self.mem.word)

    def fd_name(self, proc: OsiProc, fd: int) -> Optional[str]:
        f = self.fd_file(proc, fd)
        return self.file_path(f) if f else None

    def fd_pos(self, proc: OsiProc, fd: int) -> Optional[int]:
        f = self.fd_file(proc, fd)
        return self.mem.u64(f + self.off("file.f_pos")) if f else None

    def open_files(self, proc: OsiProc) -> Dict[int, str]:
        """fd -> path for every open fd of ``proc``."""
        fds, max_fds = self._fd_table(proc)
        out: Dict[int, str] = {}
        if not fds:
            return out
        raw = self.mem.read(fds, max_fds * self.mem.word)
        w = self.mem.word
        for fd in range(max_fds):
            f = int.from_bytes(raw[fd * w:fd * w + w], "little")
            if f:
                path = self.file_path(f)
                if path is not None:
                    out[fd] = path
        return out

    def cmdline(self, proc: OsiProc) -> Optional[List[str]]:
        """The process's argv as the kernel keeps it (None for kernel threads
        or when the pages are not present)."""
        if not proc.mm or not proc.asid:
            return None
        a0 = self.mem.ptr(proc.mm + self.off("mm_struct.arg_start"))
        a1 = self.mem.ptr(proc.mm + self.off("mm_struct.arg_end"))
        if not 0 < a1 - a0 <= 0x20000:
            return None
        raw = self.mem.user(proc.asid, a0, a1 - a0)
        if raw is None:
            return None
        return [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]
