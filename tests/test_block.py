"""The block layer (libpanda/src/block): disk images under a copy-on-write
overlay.

- Its C unit tests (libpanda/src/block/tests/test_*.c) are compiled with the
  block sources, base/ and devices/state.c under AddressSanitizer and UBSan
  (as tests/test_devices.py compiles the device tests) and must report
  "N passed, 0 failed".
- Images made here by qemu-img and qemu-io (v2, v3, compressed, 512 B and
  2 MiB clusters, extended L2, zero clusters, a two-level backing chain),
  holding pseudo-random data at scattered offsets, read byte for byte as
  `qemu-img convert -O raw` reads them, through blocktool (a test driver in
  block/tests/, the only way in until the machine wires the layer up).
- Damaged copies are refused with the message that names the damage.
- A commit of the overlay is clean for `qemu-img check`, converts to what
  the overlay reads, and no base file changes.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Dict, List

import pytest

from test_devices import SUMMARY, _compiler, _sanitizer_setup

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "libpanda" / "src"
BLOCK = SRC / "block"
INCLUDES = ["-I", str(ROOT / "libpanda" / "include"), "-I", str(ROOT / "libpanda" / "devices"),
            "-I", str(SRC)]
LIB_SOURCES = sorted(BLOCK.glob("*.c")) + sorted((SRC / "base").glob("*.c")) + \
    [ROOT / "libpanda" / "devices" / "state.c"]
UNIT_TESTS = sorted((BLOCK / "tests").glob("test_*.c"))
MiB = 1 << 20


@pytest.fixture(scope="module")
def compile_c(tmp_path_factory):
    cc = _compiler()
    workdir = tmp_path_factory.mktemp("block")
    flags, env = _sanitizer_setup(cc, workdir)

    def compile_one(source: Path):
        exe = workdir / source.stem
        proc = subprocess.run([cc, *flags, *INCLUDES, "-o", str(exe), str(source),
                               *map(str, LIB_SOURCES), "-lz"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"compiling {source.name} failed:\n{proc.stderr}"
        return exe, env

    return compile_one


def test_there_are_block_unit_tests():
    assert {p.name for p in UNIT_TESTS} >= {"test_qcow2.c", "test_overlay.c"}, UNIT_TESTS


@pytest.mark.parametrize("source", UNIT_TESTS, ids=lambda p: p.stem)
def test_block_unit(compile_c, source: Path, tmp_path):
    exe, env = compile_c(source)
    proc = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300,
                          env=dict(env, TMPDIR=str(tmp_path)))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{source.name} exited {proc.returncode}:\n{output}"
    last = proc.stdout.strip().splitlines()[-1]
    m = SUMMARY.match(last)
    assert m and m.group(2) == "0" and int(m.group(1)) > 0, output
    # nothing left in the temporary directory: the overlay's spill file is unlinked
    assert list(tmp_path.iterdir()) == []


# ---- images made by qemu-img ----

def _qemu_tools() -> None:
    if shutil.which("qemu-img") and shutil.which("qemu-io"):
        return
    if shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "qemu-utils"], capture_output=True,
                       timeout=600)
    if not (shutil.which("qemu-img") and shutil.which("qemu-io")):
        pytest.skip("qemu-img/qemu-io are not installed and apt-get install qemu-utils failed: "
                    "the images these tests read are made by them")


def run(*args: str, cwd: Path = None) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=300, cwd=cwd)
    assert proc.returncode == 0, f"{' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


class Tool:
    def __init__(self, exe: Path, env: Dict[str, str], tmp: Path):
        self.exe, self.env, self.tmp = exe, env, tmp

    def run(self, *args: str, cwd: Path = None) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.exe), *args], capture_output=True, text=True,
                              timeout=300, env=dict(self.env, TMPDIR=str(self.tmp)), cwd=cwd)

    def read(self, image: Path, fmt: str = "auto", cwd: Path = None) -> bytes:
        out = image.with_name(image.name + ".blocktool.raw")
        proc = self.run("read", str(image), fmt, str(out), cwd=cwd)
        assert proc.returncode == 0, f"blocktool read {image.name}: {proc.stdout}{proc.stderr}"
        data = out.read_bytes()
        out.unlink()
        return data

    def error(self, image: Path, fmt: str = "auto") -> str:
        """The error blocktool reports (opening or reading)."""
        proc = self.run("read", str(image), fmt, str(self.tmp / "unused.raw"))
        assert proc.returncode in (3, 4), (
            f"{image.name} was not refused (exit {proc.returncode}): {proc.stdout}{proc.stderr}")
        assert "runtime error" not in proc.stderr and "Sanitizer" not in proc.stderr, proc.stderr
        return proc.stdout


@pytest.fixture(scope="module")
def tool(compile_c, tmp_path_factory):
    _qemu_tools()
    exe, env = compile_c(BLOCK / "tests" / "blocktool.c")
    tmp = tmp_path_factory.mktemp("blocktool-tmp")
    return Tool(exe, env, tmp)


def qemu_raw(image: Path) -> bytes:
    out = image.with_name(image.name + ".qemu.raw")
    run("qemu-img", "convert", "-O", "raw", str(image), str(out))
    data = out.read_bytes()
    out.unlink()
    return data


def scatter(image: Path, fmt: str, rng: random.Random, size: int, writes: int = 24,
            align: int = 512, compressible: bool = False, zeros: int = 0,
            compressed_clusters: int = 0, cluster: int = 0) -> None:
    """Pseudo-random data written by qemu-io at scattered offsets (some
    across cluster boundaries), then some ranges zeroed with write -z and
    some clusters written compressed with write -c (before the rest)."""
    src = image.with_name(image.name + ".src")
    cmds: List[str] = []
    # compressed writes first: qemu writes compressed only to unallocated clusters
    for k in rng.sample(range(size // cluster), compressed_clusters) if compressed_clusters else []:
        cmds.append(f"write -q -c -P {rng.randrange(1, 255)} {k * cluster} {cluster}")
    for i in range(writes):
        length = rng.choice([512, 1536, 4096, 65536, 70000 // 512 * 512, 300 * 1024])
        length = max(align, length // align * align)
        off = rng.randrange(0, (size - length) // align) * align
        cmds.append(f"write -q -s {src}.{i} {off} {length}")
        if compressible:  # a small alphabet: deflate shrinks it
            data = bytes(rng.choice(b"abcdefgh") for _ in range(length))
        else:
            data = rng.randbytes(length)
        Path(f"{src}.{i}").write_bytes(data)
    for _ in range(zeros):
        length = rng.choice([512, 4096, 65536, 3 * 65536])
        off = rng.randrange(0, (size - length) // 512) * 512
        cmds.append(f"write -q -z {off} {length}")
    args = ["qemu-io", "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    run(*args, str(image))
    for i in range(writes):
        Path(f"{src}.{i}").unlink()


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Dict[str, Path]:
    """name -> image, every one made fresh by qemu-img and qemu-io."""
    _qemu_tools()
    d = tmp_path_factory.mktemp("images")
    rng = random.Random(20260101)
    out: Dict[str, Path] = {}

    def create(name: str, opts: str, size: int, backing: str = None, bfmt: str = None) -> Path:
        p = d / name
        args = ["qemu-img", "create", "-q", "-f", "qcow2", "-o", opts]
        if backing:
            args += ["-b", backing, "-F", bfmt]
        run(*args, str(p), str(size), cwd=d)
        out[name] = p
        return p

    scatter(create("v2.qcow2", "compat=0.10", 8 * MiB), "qcow2", rng, 8 * MiB)
    scatter(create("v3.qcow2", "compat=1.1", 8 * MiB), "qcow2", rng, 8 * MiB, zeros=6)
    scatter(create("c512.qcow2", "cluster_size=512", 2 * MiB), "qcow2", rng, 2 * MiB, zeros=4)
    scatter(create("c2m.qcow2", "cluster_size=2M", 12 * MiB), "qcow2", rng, 12 * MiB, zeros=4)
    scatter(create("extl2_64k.qcow2", "extended_l2=on,cluster_size=64k", 8 * MiB), "qcow2", rng,
            8 * MiB, zeros=8)
    scatter(create("extl2_2m.qcow2", "extended_l2=on,cluster_size=2M", 12 * MiB), "qcow2", rng,
            12 * MiB, zeros=8)
    # compressed: qemu-img convert -c of compressible data, and write -c
    plain = create("plain.qcow2", "compat=1.1", 8 * MiB)
    scatter(plain, "qcow2", rng, 8 * MiB, compressible=True)
    run("qemu-img", "convert", "-c", "-O", "qcow2", str(plain), str(d / "compressed.qcow2"))
    out["compressed.qcow2"] = d / "compressed.qcow2"
    scatter(create("wc_4k.qcow2", "cluster_size=4k", 4 * MiB), "qcow2", rng, 4 * MiB, writes=8,
            compressible=True, compressed_clusters=40, cluster=4096)
    # a two-level chain over a raw base, the top larger than the base, with
    # relative backing names (resolved against the image's directory)
    base = d / "base.raw"
    base.write_bytes(rng.randbytes(6 * MiB))
    out["base.raw"] = base
    mid = create("mid.qcow2", "compat=1.1", 8 * MiB, "base.raw", "raw")
    scatter(mid, "qcow2", rng, 8 * MiB, zeros=4)
    top = create("top.qcow2", "cluster_size=16k", 12 * MiB, "mid.qcow2", "qcow2")
    scatter(top, "qcow2", rng, 12 * MiB, zeros=6)
    # extended L2 over a backing file: unallocated subclusters show the
    # backing file, zero subclusters hide it
    ext = create("extl2_top.qcow2", "extended_l2=on,cluster_size=64k", 8 * MiB, "mid.qcow2", "qcow2")
    scatter(ext, "qcow2", rng, 8 * MiB, zeros=12)
    return out


COMPARED = ["v2.qcow2", "v3.qcow2", "c512.qcow2", "c2m.qcow2", "extl2_64k.qcow2",
            "extl2_2m.qcow2", "compressed.qcow2", "wc_4k.qcow2", "mid.qcow2", "top.qcow2", "extl2_top.qcow2",
            "base.raw"]


@pytest.mark.parametrize("name", COMPARED)
def test_reads_as_qemu_does(tool, images, name, tmp_path):
    image = images[name]
    want = qemu_raw(image)
    assert want.count(0) < len(want) * 0.9, f"{name} is mostly zeros: the test would prove little"
    # run from another directory: relative backing names resolve against the image's
    got = tool.read(image, cwd=tmp_path)
    assert len(got) == len(want), (name, len(got), len(want))
    if got != want:
        first = next(i for i in range(len(got)) if got[i] != want[i])
        pytest.fail(f"{name}: differs from qemu-img convert first at byte {first} "
                    f"(sector {first // 512})")


def test_the_images_are_what_they_claim(images):
    info = {n: json.loads(run("qemu-img", "info", "--output=json", str(images[n])))
            for n in COMPARED if n.endswith(".qcow2")}

    def spec(n):
        return info[n]["format-specific"]["data"]

    assert spec("v2.qcow2")["compat"] == "0.10"
    assert spec("v3.qcow2")["compat"] == "1.1"
    assert info["c512.qcow2"]["cluster-size"] == 512
    assert info["c2m.qcow2"]["cluster-size"] == 2 * MiB
    assert spec("extl2_64k.qcow2")["extended-l2"] and spec("extl2_2m.qcow2")["extended-l2"]
    assert info["top.qcow2"]["backing-filename"] == "mid.qcow2"
    for n in ("compressed.qcow2", "wc_4k.qcow2"):
        check = run("qemu-img", "check", str(images[n]))
        pct = float(re.search(r"([\d.]+)% compressed clusters", check).group(1))
        assert pct > 10, (n, check)
    # the zero writes made zero clusters (v3) / zero subclusters (extended L2)
    for n in ("v3.qcow2", "extl2_64k.qcow2", "top.qcow2", "extl2_top.qcow2"):
        m = json.loads(run("qemu-img", "map", "--output=json", str(images[n])))
        assert any(e["zero"] and e["depth"] == 0 for e in m), n


# ---- damaged copies ----

def _copy(images, tmp_path: Path, name: str = "v3.qcow2") -> Path:
    p = tmp_path / ("damaged-" + name)
    shutil.copyfile(images[name], p)
    return p


def _patch(p: Path, off: int, fmt: str, value: int) -> None:
    data = bytearray(p.read_bytes())
    struct.pack_into(fmt, data, off, value)
    p.write_bytes(bytes(data))


def _l1_offset(p: Path) -> int:
    return struct.unpack_from(">Q", p.read_bytes(), 40)[0]


def test_truncated(tool, images, tmp_path):
    p = _copy(images, tmp_path)
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size // 2)
    msg = tool.error(p)
    assert "past the end of the file" in msg and p.name in msg, msg
    with open(p, "r+b") as f:
        f.truncate(80)
    assert "qcow2 version 3 header at offset 0 (104 bytes) lies past the end" in tool.error(p)


def test_l1_offset_out_of_the_file(tool, images, tmp_path):
    p = _copy(images, tmp_path)
    _patch(p, 40, ">Q", 1 << 40)
    assert f"{p.name}: the L1 table at offset {1 << 40} (8 bytes) lies past the end" in tool.error(p)
    _patch(p, 40, ">Q", 65536 + 4096)
    assert "L1 table offset 69632 is not aligned to a cluster" in tool.error(p)


def test_l2_offset_out_of_the_file(tool, images, tmp_path):
    p = _copy(images, tmp_path)
    l1 = _l1_offset(p)
    _patch(p, l1, ">Q", (1 << 63) | (1 << 45))
    msg = tool.error(p)
    assert f"L1 table at offset {l1}, entry 0: L2 table offset {1 << 45} lies past the end" in msg, msg
    _patch(p, l1, ">Q", (1 << 63) | (3 * 65536 + 4096))
    assert f"entry 0: L2 table offset {3 * 65536 + 4096} is not aligned" in tool.error(p)


def test_data_cluster_out_of_the_file(tool, images, tmp_path):
    p = _copy(images, tmp_path)
    data = bytearray(p.read_bytes())
    l2 = struct.unpack_from(">Q", data, _l1_offset(p))[0] & 0x00fffffffffffe00
    # the first allocated data cluster now points far past the end
    idx = next(i for i in range(8192) if struct.unpack_from(">Q", data, l2 + 8 * i)[0] & 0x00fffffffffffe00)
    struct.pack_into(">Q", data, l2 + 8 * idx, (1 << 63) | (1 << 44))
    p.write_bytes(bytes(data))
    msg = tool.error(p)
    assert f"data cluster of L2 table at offset {l2}, entry {idx} at offset {1 << 44}" in msg, msg


def test_huge_sizes(tool, images, tmp_path):
    p = _copy(images, tmp_path)
    _patch(p, 24, ">Q", 1 << 62)
    assert "virtual size 4611686018427387904 bytes is too large for 65536-byte clusters" in tool.error(p)
    _patch(p, 24, ">Q", 8 * MiB)
    _patch(p, 36, ">I", 0xFFFFFFFF)
    assert "L1 table size 4294967295 entries is too large" in tool.error(p)
    _patch(p, 36, ">I", 4000000)
    assert "(32000000 bytes) lies past the end of the file" in tool.error(p)


def test_unknown_feature_bits(tool, images, tmp_path):
    p = _copy(images, tmp_path)
    _patch(p, 72, ">Q", (1 << 9) | (1 << 33))
    msg = tool.error(p)
    assert "incompatible features this reader does not know: bit 9, bit 33" in msg, msg
    _patch(p, 72, ">Q", 1 << 1)
    assert "marked corrupt" in tool.error(p)
    _patch(p, 72, ">Q", 1 << 2)
    assert "external data file" in tool.error(p)


def test_encryption(tool, images, tmp_path):
    # crypt_method 1 and 2 in the header, each refused by name
    for method, name in ((1, "AES"), (2, "LUKS")):
        p = _copy(images, tmp_path)
        _patch(p, 32, ">I", method)
        assert f"the qcow2 image is encrypted ({name}, crypt_method {method})" in tool.error(p)
    # the full-disk-encryption header extension (0x0537be77) on its own, written
    # where the header's extensions start (v3: at header_length)
    p = _copy(images, tmp_path)
    data = bytearray(p.read_bytes())
    start = struct.unpack_from(">I", data, 100)[0]
    struct.pack_into(">IIQQ", data, start, 0x0537BE77, 16, 0x10000, 0x1000)
    p.write_bytes(bytes(data))
    msg = tool.error(p)
    assert f"full-disk-encryption header (extension at offset {start})" in msg, msg
    # and a real LUKS image from qemu-img, where it can make one: its PBKDF
    # benchmark fails with "Unable to get accurate CPU usage" on hosts whose
    # per-thread CPU clock does not advance (some CI sandboxes)
    p = tmp_path / "luks.qcow2"
    proc = subprocess.run(["qemu-img", "create", "-q", "--object", "secret,id=s0,data=hunter2", "-f",
                           "qcow2", "-o", "encrypt.format=luks,encrypt.key-secret=s0", str(p), "1M"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        msg = tool.error(p)
        assert "encrypted (LUKS" in msg or "full-disk-encryption header" in msg, msg
    else:
        assert "CPU usage" in proc.stderr, proc.stderr


def test_zstd_refused_by_name(tool, tmp_path):
    p = tmp_path / "zstd.qcow2"
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "compression_type=zstd",
                           str(p), "1M"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"this qemu-img has no zstd: {proc.stderr.strip()}")
    assert "compressed with zstd (compression_type 1); this reader inflates zlib only" in tool.error(p)


def test_backing_loop(tool, tmp_path):
    a, b = tmp_path / "a.qcow2", tmp_path / "b.qcow2"
    run("qemu-img", "create", "-q", "-f", "qcow2", str(a), "1M")
    run("qemu-img", "create", "-q", "-f", "qcow2", "-u", "-b", "a.qcow2", "-F", "qcow2", str(b), "1M")
    run("qemu-img", "rebase", "-q", "-u", "-b", "b.qcow2", "-F", "qcow2", str(a))
    msg = tool.error(a)
    assert "backing file loop" in msg and "a.qcow2' is already in the chain" in msg, msg
    run("qemu-img", "rebase", "-q", "-u", "-b", "missing.qcow2", "-F", "qcow2", str(a))
    msg = tool.error(a)
    assert "the backing file of" in msg and "missing.qcow2" in msg and "No such file" in msg, msg


# ---- commit ----

def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["top.qcow2", "base.raw", "c2m.qcow2", "extl2_64k.qcow2"])
def test_commit(tool, images, name, tmp_path):
    image = images[name]
    chain = [p for p in images.values() if p.suffix in (".qcow2", ".raw")]
    before = {p: _sha(p) for p in chain}
    out, raw = tmp_path / "commit.qcow2", tmp_path / "overlay.raw"
    proc = tool.run("commit", str(image), "auto", "7", str(out), str(raw))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "spilled: yes" in proc.stdout, proc.stdout  # past the 256 KiB memory limit
    check = subprocess.run(["qemu-img", "check", str(out)], capture_output=True, text=True)
    assert check.returncode == 0 and "No errors were found" in check.stdout, check.stdout + check.stderr
    info = json.loads(run("qemu-img", "info", "--output=json", str(out)))
    assert info["backing-filename"] == str(image) and info["cluster-size"] == 65536
    assert info["backing-filename-format"] == ("raw" if name.endswith(".raw") else "qcow2")
    assert info["format-specific"]["data"]["compat"] == "1.1"
    overlay = raw.read_bytes()
    assert overlay != qemu_raw(image), "the writes changed nothing"
    assert qemu_raw(out) == overlay
    # the committed image holds only the written clusters (200 writes of <= 300 sectors)
    assert out.stat().st_size < 200 * 300 * 512 + 64 * 65536
    assert not out.with_name(out.name + ".tmp").exists()
    assert {p: _sha(p) for p in chain} == before, "a base image changed"
    # and this reader reads the committed image as qemu-img does
    assert tool.read(out) == overlay
