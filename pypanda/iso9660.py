"""A small ISO 9660 (ECMA-119) writer with Rock Ridge, in pure Python.

``write_iso(directory, iso_path)`` turns a host directory into a CD image
that Linux's ``isofs`` mounts with the names, modes and symbolic links it
had: a primary volume descriptor, L and M path tables, one directory
extent per directory (records sorted as ECMA-119 9.3 says), every file's
data in one extent, and a terminator.  Rock Ridge (SUSP 1.10 / RRIP 1.10,
"RRIP_1991A") rides in each directory record: ``SP`` and ``ER`` in the root,
``RR``, ``PX`` (mode, links; owner and group 0), ``TF`` (modify, access and
change times), ``NM`` (the real name, split with CONTINUE when long) and
``SL`` for symbolic links; what does not fit in a record goes to a ``CE``
continuation area.  The ISO 9660 names underneath are level-1 (8.3,
upper-case, made unique per directory) for readers without Rock Ridge.

The output depends only on the tree: names, contents, modes and mtimes (or,
with ``epoch=``, one fixed time for every timestamp), so the same directory
gives the same bytes.  Refused with a ``ValueError`` naming the path: files
of 4 GiB or more (no multi-extent files), symbolic links that are absolute
or lead out of the directory, FIFOs, sockets and device nodes, and names
Linux's isofs cannot read back through Rock Ridge (longer than 253 bytes).

``make_iso(directory, iso_path)`` is what ``Panda.copy_to_guest`` calls:
``xorriso`` (or ``genisoimage``) when one is on PATH, as pandare does, else
this writer.
"""
from __future__ import annotations

import datetime
import os
import posixpath
import shutil
import stat
import struct
import subprocess
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple, Union

SECTOR = 2048
#: ECMA-119 single-extent files: the data length is a 32-bit field
MAX_FILE_SIZE = (1 << 32) - 1
#: Linux's isofs truncates a Rock Ridge name of 254 bytes or more
MAX_NAME_BYTES = 253
#: the largest a directory record may be
MAX_RECORD = 255
_CE_SIZE = 28
_SU_CHUNK = 250             # bytes of name or link text per NM/SL entry

_RR_PX, _RR_SL, _RR_NM, _RR_TF = 0x01, 0x04, 0x08, 0x80
_ER_ID = b"RRIP_1991A"
_ER_DES = b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS"
_ER_SRC = (b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN "
           b"PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.")
_D_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

PathArg = Union[str, "os.PathLike[str]"]


# ---- both-endian fields and dates ----------------------------------------------

def _both16(v: int) -> bytes:
    return struct.pack("<H", v) + struct.pack(">H", v)


def _both32(v: int) -> bytes:
    return struct.pack("<I", v) + struct.pack(">I", v)


def _utc(t: int) -> datetime.datetime:
    # the 7-byte form holds the years 1900..2155
    t = max(-2208988800, min(t, 5974790399))
    return datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=t)


def _date7(t: int) -> bytes:
    d = _utc(t)
    return bytes((d.year - 1900, d.month, d.day, d.hour, d.minute, d.second, 0))


def _date17(t: int) -> bytes:
    d = _utc(t)
    return d.strftime("%Y%m%d%H%M%S").encode() + b"00\0"


_NO_DATE17 = b"0" * 16 + b"\0"


# ---- the tree ----------------------------------------------------------------------

class _Node:
    """One file, directory or symbolic link of the tree, and its place on the disc."""

    def __init__(self, path: str, name: bytes, st: os.stat_result, kind: str, mtime: int) -> None:
        self.path = path              # host path
        self.name = name              # the real name (Rock Ridge NM)
        self.kind = kind              # "dir", "file", "link"
        self.mode = stat.S_IMODE(st.st_mode) | {"dir": stat.S_IFDIR, "file": stat.S_IFREG,
                                                 "link": stat.S_IFLNK}[kind]
        self.size = st.st_size if kind == "file" else 0
        self.mtime = mtime
        self.atime = mtime
        self.target = b""             # a link's target
        self.children: List["_Node"] = []
        self.parent: Optional["_Node"] = None
        self.iso_id = b""             # the ISO 9660 identifier in the parent
        self.number = 0               # a directory's path-table number (1: root)
        self.extent = 0
        self.extent_size = 0          # bytes the extent occupies (directories)
        self.records: List["_Record"] = []


def _check_name(name: bytes, where: str) -> None:
    if len(name) > MAX_NAME_BYTES:
        raise ValueError(f"{where}: the name is {len(name)} bytes; Rock Ridge as Linux's isofs reads it "
                         f"carries at most {MAX_NAME_BYTES}")


def _scan(root: str, epoch: Optional[int]) -> _Node:
    real_root = os.path.realpath(root)
    st = os.stat(root)
    if not stat.S_ISDIR(st.st_mode):
        raise ValueError(f"{root} is not a directory")

    def time_of(s: os.stat_result) -> int:
        return int(s.st_mtime) if epoch is None else int(epoch)

    top = _Node(root, b"", st, "dir", time_of(st))

    def walk(node: _Node, rel: str) -> None:
        names = sorted(os.listdir(os.fsencode(node.path)))
        for bname in names:
            path = os.path.join(node.path, os.fsdecode(bname))
            rel_path = posixpath.join(rel, os.fsdecode(bname))
            _check_name(bname, path)
            s = os.lstat(path)
            if stat.S_ISLNK(s.st_mode):
                child = _Node(path, bname, s, "link", time_of(s))
                child.target = os.fsencode(os.readlink(path))
                _check_link(path, rel_path, child.target, real_root)
            elif stat.S_ISDIR(s.st_mode):
                child = _Node(path, bname, s, "dir", time_of(s))
            elif stat.S_ISREG(s.st_mode):
                if s.st_size > MAX_FILE_SIZE:
                    raise ValueError(f"{path}: {s.st_size:,} bytes; an ISO 9660 file extent holds less "
                                     f"than 4 GiB and this writer makes no multi-extent files")
                child = _Node(path, bname, s, "file", time_of(s))
            else:
                kind = ("a FIFO" if stat.S_ISFIFO(s.st_mode) else "a socket" if stat.S_ISSOCK(s.st_mode)
                        else "a device node" if stat.S_ISCHR(s.st_mode) or stat.S_ISBLK(s.st_mode)
                        else "a special file")
                raise ValueError(f"{path} is {kind}: only regular files, directories and symbolic "
                                 f"links inside the directory go on the image")
            child.parent = node
            node.children.append(child)
            if child.kind == "dir":
                walk(child, rel_path)

    walk(top, "")
    return top


def _check_link(path: str, rel_path: str, target: bytes, real_root: str) -> None:
    text = os.fsdecode(target)
    if not text or text.startswith("/"):
        raise ValueError(f"{path} is a symbolic link to {text!r}: an absolute (or empty) target points "
                         f"outside the directory copied")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel_path), text))
    if resolved == ".." or resolved.startswith("../"):
        raise ValueError(f"{path} is a symbolic link to {text!r}, which leads out of the directory")
    # links in the path to the target may lead out, too
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ValueError(f"{path} is a symbolic link that resolves to {real}, outside the directory")


def _checked_tree(directory: str, iso_path: str, epoch: Optional[int]) -> _Node:
    """The tree to write, refused (ValueError) if the image would be in it."""
    top = _scan(directory, epoch)
    if os.path.realpath(iso_path).startswith(os.path.realpath(directory).rstrip(os.sep) + os.sep):
        raise ValueError(f"the image {iso_path} would be inside the directory {directory} it is made of")
    return top


# ---- ISO 9660 names --------------------------------------------------------------

def _d_chars(text: bytes, limit: int) -> bytes:
    out = bytes(c if c in _D_CHARS else 0x5F for c in text.upper())
    return out[:limit]


def _assign_ids(d: _Node) -> None:
    """Unique level-1 identifiers for ``d``'s children (already sorted by
    name), then the children sorted as ECMA-119 9.3 orders records."""
    taken = set()
    for child in d.children:
        if child.kind == "dir":
            base, ext = _d_chars(child.name, 8) or b"_", None
        else:
            stem, dot, suffix = child.name.rpartition(b".")
            if not dot or not stem:
                stem, suffix = child.name, b""
            base, ext = _d_chars(stem, 8) or b"_", _d_chars(suffix, 3)
        n = 0
        candidate = base
        while True:
            ident = candidate if ext is None else candidate + b"." + ext + b";1"
            if ident not in taken:
                break
            n += 1
            tag = str(n).encode()
            candidate = base[:8 - len(tag)] + tag
        taken.add(ident)
        child.iso_id = ident
    d.children.sort(key=lambda c: _id_key(c.iso_id))


def _id_key(ident: bytes) -> Tuple[bytes, bytes]:
    name, _, rest = ident.partition(b".")
    ext = rest.partition(b";")[0]
    return name.ljust(32, b" "), ext.ljust(32, b" ")


# ---- System Use entries ------------------------------------------------------------

def _su(sig: bytes, body: bytes) -> bytes:
    return sig + bytes((4 + len(body), 1)) + body


def _px(node: _Node) -> bytes:
    links = 2 + sum(1 for c in node.children if c.kind == "dir") if node.kind == "dir" else 1
    return _su(b"PX", _both32(node.mode) + _both32(links) + _both32(0) + _both32(0))


def _tf(node: _Node) -> bytes:
    # modify, access, attributes (change) times, short form
    return _su(b"TF", b"\x0e" + _date7(node.mtime) + _date7(node.atime) + _date7(node.mtime))


def _nm(name: bytes) -> List[bytes]:
    chunks = [name[i:i + _SU_CHUNK] for i in range(0, len(name), _SU_CHUNK)] or [b""]
    return [_su(b"NM", bytes((1 if i < len(chunks) - 1 else 0,)) + c) for i, c in enumerate(chunks)]


def _sl(target: bytes) -> List[bytes]:
    comps: List[bytes] = []
    for part in target.split(b"/"):
        if part == b"":
            continue            # a doubled or trailing slash
        if part == b".":
            comps.append(b"\x02\x00")
        elif part == b"..":
            comps.append(b"\x04\x00")
        else:
            pieces = [part[i:i + 248] for i in range(0, len(part), 248)]
            for i, p in enumerate(pieces):
                comps.append(bytes((1 if i < len(pieces) - 1 else 0, len(p))) + p)
    entries: List[bytes] = []
    cur: List[bytes] = []
    for comp in comps:
        if cur and sum(map(len, cur)) + len(comp) > _SU_CHUNK:
            entries.append(b"".join(cur))
            cur = []
        cur.append(comp)
    entries.append(b"".join(cur))
    return [_su(b"SL", bytes((1 if i < len(entries) - 1 else 0,)) + e) for i, e in enumerate(entries)]


def _rock_ridge(node: _Node, name: Optional[bytes], first_in_root: bool) -> List[bytes]:
    entries: List[bytes] = []
    if first_in_root:
        entries.append(_su(b"SP", b"\xbe\xef\x00"))
    flags = _RR_PX | _RR_TF | (_RR_NM if name is not None else 0) | (_RR_SL if node.kind == "link" else 0)
    entries.append(_su(b"RR", bytes((flags,))))
    entries.append(_px(node))
    entries.append(_tf(node))
    if name is not None:
        entries += _nm(name)
    if node.kind == "link":
        entries += _sl(node.target)
    if first_in_root:
        entries.append(_su(b"ER", bytes((len(_ER_ID), len(_ER_DES), len(_ER_SRC), 1)) + _ER_ID + _ER_DES
                           + _ER_SRC))
    return entries


class _Record:
    """One directory record: identifier, the node it describes, its System
    Use entries (inline, and those moved to a continuation area)."""

    def __init__(self, ident: bytes, node: _Node, entries: List[bytes], where: str) -> None:
        self.ident = ident
        self.node = node
        fixed = 33 + len(ident) + (1 - len(ident) % 2)
        room = MAX_RECORD - fixed
        inline: List[bytes] = entries
        spill: List[bytes] = []
        if sum(map(len, entries)) > room:
            inline, used = [], 0
            for i, e in enumerate(entries):
                if used + len(e) + _CE_SIZE > room:
                    spill = entries[i:]
                    break
                inline.append(e)
                used += len(e)
        self.inline = b"".join(inline)
        self.spill = b"".join(spill)
        if len(self.spill) > SECTOR:
            raise ValueError(f"{where}: its Rock Ridge entries take {len(self.spill)} bytes, more than one "
                             f"continuation block (a symbolic link's target is too long)")
        self.ce = (0, 0)            # block, offset of the continuation area
        su = len(self.inline) + (_CE_SIZE if self.spill else 0)
        self.length = fixed + su + (su % 2)


# ---- the writer -------------------------------------------------------------------------

class _Layout:
    def __init__(self, top: _Node, volume_id: bytes) -> None:
        self.top = top
        self.volume_id = volume_id
        # directories in path-table order: breadth first, children sorted
        self.dirs: List[_Node] = []
        queue = [top]
        while queue:
            d = queue.pop(0)
            d.number = len(self.dirs) + 1
            self.dirs.append(d)
            _assign_ids(d)
            queue += [c for c in d.children if c.kind == "dir"]
        self.files = [c for d in self.dirs for c in d.children if c.kind == "file"]
        for d in self.dirs:
            parent = d.parent or d
            d.records = [_Record(b"\0", d, _rock_ridge(d, None, d is top), d.path),
                         _Record(b"\1", parent, _rock_ridge(parent, None, False), d.path)]
            d.records += [_Record(c.iso_id, c, _rock_ridge(c, c.name, False), c.path) for c in d.children]
            d.extent_size = _dir_size(d.records)
        self.path_table = self._path_table(little=True)
        pt_sectors = _sectors(len(self.path_table))
        self.l_table = 18
        self.m_table = self.l_table + pt_sectors
        # continuation areas, packed into blocks after the path tables
        ce_block = self.m_table + pt_sectors
        ce_blocks, offset = 1, 0
        for d in self.dirs:
            for r in d.records:
                if not r.spill:
                    continue
                if offset + len(r.spill) > SECTOR:
                    ce_blocks, offset = ce_blocks + 1, 0
                r.ce = (ce_block + ce_blocks - 1, offset)
                offset += len(r.spill)
        self.ce_block, self.ce_blocks = ce_block, ce_blocks
        block = ce_block + ce_blocks
        for d in self.dirs:
            d.extent = block
            block += d.extent_size // SECTOR
        for f in self.files:
            if f.size:
                f.extent = block
                block += _sectors(f.size)
        self.volume_blocks = block
        self.path_table = self._path_table(little=True)   # now with the extents
        self.m_path_table = self._path_table(little=False)
        self.times = [top.mtime] + [c.mtime for d in self.dirs for c in d.children]

    def _path_table(self, little: bool) -> bytes:
        fmt32, fmt16 = ("<I", "<H") if little else (">I", ">H")
        out = bytearray()
        for d in self.dirs:
            ident = b"\0" if d is self.top else d.iso_id
            parent = (d.parent or d).number
            out += bytes((len(ident), 0)) + struct.pack(fmt32, d.extent) + struct.pack(fmt16, parent) + ident
            if len(ident) % 2:
                out += b"\0"
        return bytes(out)

    def record_bytes(self, r: _Record) -> bytes:
        node = r.node
        if node.kind == "dir":
            extent, length, flags = node.extent, node.extent_size, 0x02
        else:
            extent, length, flags = node.extent, node.size, 0x00
        su = r.inline
        if r.spill:
            su += _su(b"CE", _both32(r.ce[0]) + _both32(r.ce[1]) + _both32(len(r.spill)))
        body = (bytes((r.length, 0)) + _both32(extent) + _both32(length) + _date7(node.mtime)
                + bytes((flags, 0, 0)) + _both16(1) + bytes((len(r.ident),)) + r.ident)
        if len(r.ident) % 2 == 0:
            body += b"\0"
        body += su
        return body.ljust(r.length, b"\0")

    def directory_extent(self, d: _Node) -> bytes:
        out = bytearray()
        for r in d.records:
            room = SECTOR - len(out) % SECTOR
            if r.length > room:
                out += bytes(room)
            out += self.record_bytes(r)
        return bytes(out).ljust(d.extent_size, b"\0")

    def continuation(self) -> bytes:
        out = bytearray(self.ce_blocks * SECTOR)
        for d in self.dirs:
            for r in d.records:
                if r.spill:
                    at = (r.ce[0] - self.ce_block) * SECTOR + r.ce[1]
                    out[at:at + len(r.spill)] = r.spill
        return bytes(out)

    def pvd(self) -> bytes:
        root_record = (bytes((34, 0)) + _both32(self.top.extent) + _both32(self.top.extent_size)
                       + _date7(self.top.mtime) + bytes((0x02, 0, 0)) + _both16(1) + b"\x01\x00")
        when = _date17(max(self.times))
        v = bytearray(SECTOR)
        v[0:8] = b"\x01CD001\x01\x00"
        v[8:40] = b"LINUX".ljust(32)
        v[40:72] = self.volume_id.ljust(32)
        v[80:88] = _both32(self.volume_blocks)
        v[120:124] = _both16(1)
        v[124:128] = _both16(1)
        v[128:132] = _both16(SECTOR)
        v[132:140] = _both32(len(self.path_table))
        v[140:144] = struct.pack("<I", self.l_table)
        v[148:152] = struct.pack(">I", self.m_table)
        v[156:190] = root_record
        v[190:318] = b" " * 128                                   # volume set
        v[318:446] = b" " * 128                                   # publisher
        v[446:574] = b" " * 128                                   # data preparer
        v[574:702] = b"PYPANDA ISO9660 WRITER".ljust(128)         # application
        v[702:813] = b" " * 111                                   # copyright, abstract, bibliographic
        v[813:830] = when
        v[830:847] = when
        v[847:864] = _NO_DATE17
        v[864:881] = _NO_DATE17
        v[881] = 1
        return bytes(v)


def _sectors(n: int) -> int:
    return (n + SECTOR - 1) // SECTOR


def _dir_size(records: Sequence[_Record]) -> int:
    used = 0
    for r in records:
        room = SECTOR - used % SECTOR
        if r.length > room:
            used += room
        used += r.length
    return _sectors(used) * SECTOR


def _copy_file(node: _Node, out: BinaryIO) -> None:
    left = node.size
    with open(node.path, "rb") as f:
        while left:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise ValueError(f"{node.path} shrank while the image was written "
                                 f"({node.size:,} bytes expected)")
            out.write(chunk)
            left -= len(chunk)
    pad = (-node.size) % SECTOR
    if pad:
        out.write(bytes(pad))


def write_iso(directory: PathArg, iso_path: PathArg, *, epoch: Optional[int] = None,
              volume_id: str = "CDROM") -> None:
    """Write ``directory`` as an ISO 9660 image with Rock Ridge to ``iso_path``.

    ``epoch`` (seconds since 1970, UTC) gives every timestamp on the disc;
    by default each file keeps its mtime (whole seconds) and the volume's
    dates are the newest of them.  ``volume_id``: up to 32 of ``A-Z0-9_``
    (other characters become ``_``).  Raises ``ValueError`` for what the
    image cannot hold (see the module's docstring); the image is written to
    a temporary file beside ``iso_path`` and renamed into place, so a failed
    write leaves no partial image."""
    directory, iso_path = os.fspath(directory), os.fspath(iso_path)
    top = _checked_tree(directory, iso_path, epoch)
    layout = _Layout(top, _d_chars(volume_id.encode(), 32) or b"CDROM")
    tmp = f"{iso_path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as out:
            out.write(bytes(16 * SECTOR))                     # system area
            out.write(layout.pvd())                           # 16
            out.write(b"\xffCD001\x01".ljust(SECTOR, b"\0"))  # 17: terminator
            out.write(layout.path_table.ljust(_sectors(len(layout.path_table)) * SECTOR, b"\0"))
            out.write(layout.m_path_table.ljust(_sectors(len(layout.path_table)) * SECTOR, b"\0"))
            out.write(layout.continuation())
            for d in layout.dirs:
                out.write(layout.directory_extent(d))
            for f in layout.files:
                if f.size:
                    _copy_file(f, out)
            if out.tell() != layout.volume_blocks * SECTOR:
                raise AssertionError(f"wrote {out.tell()} bytes, laid out {layout.volume_blocks} blocks")
        os.replace(tmp, iso_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# ---- make_iso: an external tool when there is one -------------------------------

#: the external writers make_iso tries, in order, and their arguments
EXTERNAL_WRITERS: Dict[str, List[str]] = {
    # Rock Ridge with the files' own modes, as pandare's genisoimage -R
    "xorriso": ["-as", "mkisofs", "-quiet", "-R", "-o", "{iso}", "{dir}"],
    # pandare's own command line
    "genisoimage": ["-quiet", "-R", "-J", "-max-iso9660-filenames", "-o", "{iso}", "{dir}"],
}


def find_writer(writer: str = "auto") -> Optional[str]:
    """The external tool ``make_iso`` would run (its path), or None for the
    built-in writer.  ``writer``: "auto", "xorriso", "genisoimage" or "builtin"."""
    if writer == "builtin":
        return None
    if writer not in ("auto", *EXTERNAL_WRITERS):
        raise ValueError(f"unknown ISO writer {writer!r}: use 'auto', 'builtin' or one of "
                         f"{', '.join(EXTERNAL_WRITERS)}")
    for name in EXTERNAL_WRITERS if writer == "auto" else (writer,):
        path = shutil.which(name)
        if path:
            return path
    if writer != "auto":
        raise FileNotFoundError(f"{writer} is not on PATH (apt-get install {writer}), or use writer='builtin'")
    return None


def make_iso(directory: PathArg, iso_path: PathArg, *, writer: str = "auto",
             epoch: Optional[int] = None) -> str:
    """Make ``iso_path`` from ``directory`` (pandare's ``make_iso``), with
    Rock Ridge.  ``writer="auto"`` runs ``xorriso`` or else ``genisoimage``
    if one is on PATH, otherwise the built-in :func:`write_iso`;
    ``"builtin"`` forces the latter, ``"xorriso"``/``"genisoimage"`` the
    tool.  The tree is checked first, whichever writes it (the same
    ``ValueError``s as :func:`write_iso`).  ``epoch`` is for the built-in
    writer (the tools stamp their own times).  Returns what wrote the image:
    the tool's path or "builtin".  A tool that fails raises
    ``RuntimeError`` with its output."""
    directory, iso_path = os.fspath(directory), os.fspath(iso_path)
    tool = find_writer(writer)
    if tool is None:
        write_iso(directory, iso_path, epoch=epoch)
        return "builtin"
    _checked_tree(directory, iso_path, epoch)
    name = os.path.basename(tool)
    argv = [tool] + [a.format(iso=iso_path, dir=directory)
                     for a in EXTERNAL_WRITERS.get(name, EXTERNAL_WRITERS["genisoimage"])]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed (exit status {proc.returncode}):\n"
                           f"{proc.stdout.decode(errors='replace')[-4000:]}")
    return tool
