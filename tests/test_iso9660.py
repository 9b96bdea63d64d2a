"""pypanda.iso9660: the built-in ISO 9660 + Rock Ridge writer, read back by
an independent reader (xorriso's osirrox, installed by scripts/bootstrap.sh),
its determinism and refusals, and make_iso's choice of writer.  Fast: no
guest."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import stat
import struct
import subprocess
from pathlib import Path
from typing import Dict, Tuple

import pytest

from pypanda import iso9660
from pypanda.iso9660 import SECTOR, make_iso, write_iso

EPOCH = 1767225600          # 2026-01-01T00:00:00Z


def xorriso() -> str:
    path = shutil.which("xorriso")
    if path is None:
        pytest.skip("xorriso is missing, so nothing independent reads the images back: "
                    "apt-get install xorriso (scripts/bootstrap.sh installs it)")
    return path


def make_tree(root: Path) -> Path:
    """Nested directories, long and mixed-case names that collide as 8.3
    names, UTF-8, an executable, an empty file, a 3 MB file, dot files,
    in-tree symbolic links and a directory of many entries."""
    root.mkdir()
    (root / "Sub" / "Deeper Dir" / "x").mkdir(parents=True)
    (root / "hello.txt").write_text("hello\n")
    run = root / "RunMe.sh"
    run.write_text("#!/bin/sh\necho run\n")
    run.chmod(0o755)
    (root / "empty").write_bytes(b"")
    (root / ".hidden").write_text("dot file\n")
    (root / "Sub" / "big.bin").write_bytes(hashlib.sha256(b"seed").digest() * (3_000_000 // 32))
    (root / "Sub" / "Deeper Dir" / "x" / ("A Very Long Mixed-Case File Name, " * 5 + ".Text")).write_text("deep\n")
    (root / "Sub" / "ünïcödé ñame.txt").write_text("ü\n")
    for i in range(3):
        (root / f"collidingname{i}.extension").write_text(str(i))
    (root / "Sub" / "private").write_text("secret")
    (root / "Sub" / "private").chmod(0o600)
    (root / "Sub" / "link").symlink_to("../hello.txt")
    (root / "dirlink").symlink_to("Sub/Deeper Dir")
    many = root / "many"
    many.mkdir()
    for i in range(200):
        (many / f"file_with_a_rather_long_name_number_{i:03d}.dat").write_text(f"{i}\n")
    (root / ("N" * 253)).write_text("the longest name Rock Ridge carries for Linux\n")
    return root


def snapshot(root: Path) -> Dict[str, Tuple[int, str]]:
    """relative path -> (mode with type, sha256 / link target / '')."""
    out: Dict[str, Tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                what = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                what = ""
            out[str(p.relative_to(root))] = (st.st_mode, what)
    return out


def extract(iso: Path, dest: Path) -> Path:
    proc = subprocess.run([xorriso(), "-osirrox", "on", "-indev", str(iso), "-extract", "/", str(dest)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, proc.stdout
    for word in ("SORRY", "FAILURE", "WARNING", "FATAL"):
        assert word not in proc.stdout, f"xorriso complains about the image:\n{proc.stdout}"
    return dest


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree")


def test_xorriso_reads_back_names_modes_contents_and_links(tree, tmp_path):
    iso = tmp_path / "tree.iso"
    write_iso(tree, iso, epoch=EPOCH)
    got = snapshot(extract(iso, tmp_path / "out"))
    want = snapshot(tree)
    assert sorted(got) == sorted(want)
    for path, (mode, what) in want.items():
        gmode, gwhat = got[path]
        assert stat.S_IFMT(gmode) == stat.S_IFMT(mode), path
        if not stat.S_ISLNK(mode):
            assert stat.S_IMODE(gmode) == stat.S_IMODE(mode), f"{path}: {oct(gmode)} != {oct(mode)}"
        assert gwhat == what, path
    assert os.access(tmp_path / "out" / "RunMe.sh", os.X_OK)
    assert os.path.getsize(tmp_path / "out" / "Sub" / "big.bin") == 3_000_000 // 32 * 32


def test_xorriso_lists_rock_ridge_owner_and_times(tree, tmp_path):
    iso = tmp_path / "tree.iso"
    write_iso(tree, iso, epoch=EPOCH)
    out = subprocess.run([xorriso(), "-indev", str(iso), "-find", "/", "-exec", "lsdl"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.endswith("'/RunMe.sh'")]
    assert line and line[0].startswith("-rwxr-xr-x"), out
    assert " 0        0 " in line[0] and "Jan  1  2026" in line[0], line[0]
    assert "-> '../hello.txt'" in out


def test_structure(tree, tmp_path):
    """The fields an ECMA-119 reader starts from, both byte orders agreeing."""
    iso = tmp_path / "tree.iso"
    write_iso(tree, iso, epoch=EPOCH, volume_id="my volume")
    data = iso.read_bytes()
    assert not any(data[:16 * SECTOR]), "the system area is not zero"
    pvd = data[16 * SECTOR:17 * SECTOR]
    assert pvd[:8] == b"\x01CD001\x01\x00"
    assert pvd[40:72] == b"MY_VOLUME".ljust(32)

    def both(off: int, n: int) -> int:
        le = int.from_bytes(pvd[off:off + n], "little")
        assert le == int.from_bytes(pvd[off + n:off + 2 * n], "big"), f"both-endian field at {off} differs"
        return le

    assert both(80, 4) * SECTOR == len(data), "the volume space size is not the file's size"
    assert both(120, 2) == 1 and both(124, 2) == 1 and both(128, 2) == SECTOR
    table_size = both(132, 4)
    l_at, m_at = struct.unpack_from("<I", pvd, 140)[0], struct.unpack_from(">I", pvd, 148)[0]
    l_table = data[l_at * SECTOR:l_at * SECTOR + table_size]
    m_table = data[m_at * SECTOR:m_at * SECTOR + table_size]
    assert pvd[813:829] == b"2026010100000000"
    assert data[17 * SECTOR:17 * SECTOR + 7] == b"\xffCD001\x01"
    # the path tables: the same records in both byte orders, parents before children
    entries, off = [], 0
    while off < table_size:
        n = l_table[off]
        extent_l, parent_l = struct.unpack_from("<IH", l_table, off + 2)
        extent_m, parent_m = struct.unpack_from(">IH", m_table, off + 2)
        assert (extent_l, parent_l) == (extent_m, parent_m)
        entries.append((l_table[off + 8:off + 8 + n], extent_l, parent_l))
        assert parent_l <= len(entries)
        off += 8 + n + n % 2
    assert entries[0] == (b"\0", struct.unpack_from("<I", pvd, 156 + 2)[0], 1)
    real_dirs = [p for p in tree.rglob("*") if p.is_dir() and not p.is_symlink()]
    assert len(entries) == 1 + len(real_dirs)
    # the root's first record carries SUSP's SP entry right after its identifier
    root = data[entries[0][1] * SECTOR:]
    assert root[33] == 0 and root[34:41] == b"SP\x07\x01\xbe\xef\x00"


def test_same_tree_same_bytes(tree, tmp_path):
    a, b = tmp_path / "a.iso", tmp_path / "b.iso"
    write_iso(tree, a)
    write_iso(tree, b)
    assert a.read_bytes() == b.read_bytes()
    # with an epoch the files' own times do not matter
    write_iso(tree, a, epoch=EPOCH)
    os.utime(tree / "hello.txt", (1, 1))
    write_iso(tree, b, epoch=EPOCH)
    assert a.read_bytes() == b.read_bytes()
    # without one they do
    write_iso(tree, b)
    write_iso(tree, a)
    assert a.read_bytes() == b.read_bytes()
    os.utime(tree / "hello.txt", (2, 2))
    write_iso(tree, b)
    assert a.read_bytes() != b.read_bytes()


def test_mtimes_survive(tree, tmp_path):
    os.utime(tree / "hello.txt", (1600000000, 1600000000))
    iso = tmp_path / "t.iso"
    write_iso(tree, iso)
    out = extract(iso, tmp_path / "out")
    assert int((out / "hello.txt").stat().st_mtime) == 1600000000


def test_empty_directory(tmp_path):
    (tmp_path / "e").mkdir()
    iso = tmp_path / "e.iso"
    write_iso(tmp_path / "e", iso)
    assert os.listdir(extract(iso, tmp_path / "out")) == []


@pytest.mark.parametrize("target,why", [
    ("../outside", "leads out of the directory"),
    ("Sub/../../outside", "leads out of the directory"),
    ("/etc/passwd", "absolute"),
    ("Sub/up/../outside", "resolves to .*outside the directory"),   # Sub/up is the tree's root
])
def test_refuses_symlinks_out_of_the_tree(tmp_path, target, why):
    root = tmp_path / "t"
    (root / "Sub").mkdir(parents=True)
    (tmp_path / "outside").write_text("x")
    (root / "Sub" / "up").symlink_to("..")      # in the tree: fine by itself
    (root / "bad").symlink_to(target)
    with pytest.raises(ValueError, match=why) as info:
        write_iso(root, tmp_path / "t.iso")
    assert "bad" in str(info.value)
    assert not (tmp_path / "t.iso").exists()


def test_refuses_a_link_whose_path_leaves_through_another_link(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "door").symlink_to("../elsewhere")
    with pytest.raises(ValueError, match="door"):
        write_iso(root, tmp_path / "t.iso")


def test_refuses_special_files(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    os.mkfifo(root / "fifo")
    with pytest.raises(ValueError, match="fifo is a FIFO"):
        write_iso(root, tmp_path / "t.iso")
    os.unlink(root / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(root / "sock"))
        with pytest.raises(ValueError, match="sock is a socket"):
            write_iso(root, tmp_path / "t.iso")
    finally:
        sock.close()


def test_refuses_files_of_4_gib(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    with open(root / "huge", "wb") as f:        # sparse: nothing is written
        f.truncate(1 << 32)
    with pytest.raises(ValueError, match="huge: 4,294,967,296 bytes.*multi-extent"):
        write_iso(root, tmp_path / "t.iso")
    with pytest.raises(ValueError, match="multi-extent"):
        make_iso(root, tmp_path / "t.iso")      # refused before any tool runs
    os.truncate(root / "huge", (1 << 32) - 1)
    iso9660._scan(str(root), None)              # the largest single extent is accepted


def test_refuses_names_linux_cannot_read_back(tmp_path):
    root = tmp_path / "t"
    root.mkdir()
    (root / ("n" * 254)).write_text("x")
    with pytest.raises(ValueError, match="254 bytes; Rock Ridge .* at most 253"):
        write_iso(root, tmp_path / "t.iso")


def test_refuses_an_image_inside_its_directory_and_a_non_directory(tree, tmp_path):
    for writer in ("builtin", "auto"):
        with pytest.raises(ValueError, match="inside the directory"):
            make_iso(tree, tree / "Sub" / "self.iso", writer=writer)
    assert not (tree / "Sub" / "self.iso").exists()
    with pytest.raises(ValueError, match="not a directory"):
        write_iso(tree / "hello.txt", tmp_path / "x.iso")


def test_make_iso_uses_xorriso_when_present(tree, tmp_path, monkeypatch):
    tool = xorriso()
    calls = []
    real_run = subprocess.run

    def spy(argv, *args, **kwargs):
        calls.append(list(argv))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(iso9660.subprocess, "run", spy)
    iso = tmp_path / "x.iso"
    assert make_iso(tree, iso) == tool
    assert calls and calls[0][0] == tool and "-R" in calls[0] and str(iso) in calls[0]
    assert snapshot(extract(iso, tmp_path / "out")).keys() == snapshot(tree).keys()


def test_make_iso_falls_back_to_the_builtin_writer(tree, tmp_path, monkeypatch):
    monkeypatch.setattr(iso9660.shutil, "which", lambda name: None)
    assert iso9660.find_writer() is None
    a, b = tmp_path / "a.iso", tmp_path / "b.iso"
    assert make_iso(tree, a, epoch=EPOCH) == "builtin"
    write_iso(tree, b, epoch=EPOCH)
    assert a.read_bytes() == b.read_bytes()
    with pytest.raises(FileNotFoundError, match="genisoimage is not on PATH"):
        make_iso(tree, a, writer="genisoimage")
    with pytest.raises(ValueError, match="unknown ISO writer"):
        make_iso(tree, a, writer="mkisofs9000")


def test_make_iso_builtin_keyword_skips_the_tools(tree, tmp_path, monkeypatch):
    monkeypatch.setattr(iso9660.subprocess, "run", lambda *a, **k: pytest.fail("a tool ran"))
    assert make_iso(tree, tmp_path / "a.iso", writer="builtin") == "builtin"


def test_make_iso_reports_a_failing_tool(tree, tmp_path):
    xorriso()
    with pytest.raises(RuntimeError, match="failed"):
        make_iso(tree, tmp_path / "no" / "such" / "dir" / "x.iso", writer="xorriso")
