"""pypanda.osi: the Linux OSI profile built from the reference guest's kernel.

The offsets are checked against the compiler itself: a file of asm-offsets
style markers (one per profile field, struct size and array length) is
compiled to assembly against the same linux-headers, and every value must
agree.  The syscall table is checked against the headers' syscalls_32.h.

Needs the reference guest's vmlinuz (``python -m pypanda.guest``) and, the
first time, apt-get/dpkg-deb/make/gcc/pahole and the Debian mirror for the
linux-headers packages (cached in ~/.cache/pypanda/osi afterwards).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict

import pytest

from pypanda.errors import PandaError
from pypanda.osi import Profile, parse_os_version, profile_for
from pypanda.osi import kimage
from pypanda.osi import profile as profmod
from pypanda.osi.btf import BTF
from pypanda.osi.errors import ProfileError
from pypanda.osi.os_version import kernelinfo_fields, release_matches

CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pypanda"
IMAGE = Path(os.environ.get("PYPANDA_OSI_TEST_IMAGE") or CACHE / "guest" / "i386" / "vmlinuz")
RELEASE = "6.1.0-57-686-pae"


def _need_image() -> None:
    if not IMAGE.is_file():
        pytest.skip(f"no reference kernel at {IMAGE}: build it with python -m pypanda.guest")


@pytest.fixture(scope="module")
def prof() -> Profile:
    _need_image()
    if not (profmod.default_cache_dir() / "btf").is_dir():
        for tool in ("apt-get", "dpkg-deb", "make", "gcc", "pahole"):
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is missing (scripts/bootstrap.sh installs it)")
    t0 = time.process_time()
    p = profile_for(IMAGE)
    print(f"profile_for: {time.process_time() - t0:.2f} s CPU")
    return p


@pytest.fixture(scope="module")
def headers(prof: Profile) -> Path:
    m = re.findall(r"\bDebian (\d\S*)", prof.banner)
    return profmod.headers_tree(prof.release, m[-1] if m else None, "i386", profmod.default_cache_dir())


@pytest.fixture(scope="module")
def vmlinux_elf() -> kimage.ELF:
    _need_image()
    return kimage.ELF(kimage.load_vmlinux(IMAGE.read_bytes()))


# ------------------------------------------------------------ the profile itself

def test_basic_facts(prof: Profile) -> None:
    assert prof.arch == "i386" and prof.bits == 32
    assert prof.release == RELEASE
    assert prof.banner.startswith("Linux version 6.1.0")
    assert prof.page_offset == 0xC0000000
    assert "probe" in prof.data["btf_source"]          # Debian i386 ships no .BTF
    assert prof.sizeof("task_struct") > 4000
    assert prof.array_len("task_struct.comm") == 16
    assert prof.enum("maple_type") == {"maple_dense": 0, "maple_leaf_64": 1, "maple_range_64": 2,
                                       "maple_arange_64": 3}
    # 6.1 keeps VMAs in a maple tree: no mmap list, no vm_next
    assert prof.has("mm_struct.mm_mt") and not prof.has("mm_struct.mmap")
    assert not prof.has("vm_area_struct.vm_next")
    assert prof.array_len("maple_range_64.slot") == 32 and prof.array_len("maple_range_64.pivot") == 31


def test_banner_address(prof: Profile, vmlinux_elf: kimage.ELF) -> None:
    addr = prof.data["banner_addr"]
    assert vmlinux_elf.contains(".rodata", addr)
    assert vmlinux_elf.cstr(addr) == prof.banner + "\n"
    assert prof.symbol("linux_banner") == addr


def _section(elf: kimage.ELF, addr: int) -> str:
    names = [s.name for s in elf.sections if s.addr and s.addr <= addr < s.addr + s.size]
    return names[0] if names else "?"


def test_symbols_in_their_sections(prof: Profile, vmlinux_elf: kimage.ELF) -> None:
    where = {n: _section(vmlinux_elf, prof.symbol(n)) for n in
             ("init_task", "__per_cpu_offset", "current_task", "entry_SYSENTER_32", "entry_INT80_32",
              "asm_exc_divide_error", "_text", "init_mm", "sys_call_table", "high_memory")}
    assert where["init_task"] == ".data"
    assert where["init_mm"] == ".data"
    assert where["current_task"] == ".data..percpu"      # i386 per-cpu symbols are in-section
    assert where["__per_cpu_offset"] == ".rodata"        # __ro_after_init
    assert where["sys_call_table"] == ".rodata"
    for n in ("entry_SYSENTER_32", "entry_INT80_32", "asm_exc_divide_error", "_text"):
        assert where[n] == ".text", n
    assert prof.symbol("_text") == vmlinux_elf.section(".text").addr  # type: ignore[union-attr]
    assert prof.per_cpu_start == vmlinux_elf.section(".data..percpu").addr  # type: ignore[union-attr]
    # init_task's own comm is "swapper" in the image
    comm = prof.symbol("init_task") + prof.offset("task_struct.comm")
    assert vmlinux_elf.cstr(comm) == "swapper"
    # init_task.active_mm -> init_mm, whose mm_mt/pgd the walker starts from
    assert vmlinux_elf.read_ptr(prof.symbol("init_task") + prof.offset("task_struct.active_mm")) \
        == prof.symbol("init_mm")
    assert not prof.has_symbol("pcpu_hot")               # 6.2+
    with pytest.raises(ProfileError, match="pcpu_hot.*6.1.0-57-686-pae"):
        prof.symbol("pcpu_hot")


def _ctype(struct: str) -> str:
    return struct if struct.endswith("_t") else f"struct {struct}"


def test_offsets_equal_compiler_offsetof(prof: Profile, headers: Path, tmp_path: Path) -> None:
    """Every field, size and array length against gcc's own offsetof/sizeof."""
    lines = []
    expect: Dict[str, int] = {}
    for name, (off, size) in prof.data["fields"].items():
        s, m = name.split(".", 1)
        key = name.replace(".", "__")
        lines.append(f'DEFINE(F_{key}, offsetof({_ctype(s)}, {m}));')
        expect[f"F_{key}"] = off
        if size:     # 0: a flexible array member (pid.numbers[]), which sizeof refuses
            lines.append(f'DEFINE(S_{key}, sizeof(((({_ctype(s)} *)0)->{m})));')
            expect[f"S_{key}"] = size
    for s, size in prof.data["sizes"].items():
        lines.append(f"DEFINE(Z_{s}, sizeof({_ctype(s)}));")
        expect[f"Z_{s}"] = size
    for name, n in prof.data["arrays"].items():
        s, m = name.split(".", 1)
        key = name.replace(".", "__")
        lines.append(f"DEFINE(A_{key}, ARRAY_SIZE(((({_ctype(s)} *)0)->{m})));")
        expect[f"A_{key}"] = n
    for name, value in prof.enum("maple_type").items():
        lines.append(f"DEFINE(E_{name}, {name});")
        expect[f"E_{name}"] = value
    src = (profmod.PROBE_DIR / "osiprobe.c").read_text()
    (tmp_path / "osicheck.c").write_text(
        src + "\n#include <linux/kbuild.h>\nvoid osicheck_offsets(void);\nvoid osicheck_offsets(void)\n{\n\t"
        + "\n\t".join(lines) + "\n}\n")
    (tmp_path / "Kbuild").write_text("obj-m += osicheck.o\n")
    asm = profmod.kbuild(headers, tmp_path, "osicheck.s").read_text()
    got = {m.group(1): int(m.group(2)) for m in re.finditer(r'"->(\w+) \$?(-?\d+) ', asm)}
    assert set(got) == set(expect), set(expect) ^ set(got)
    wrong = {k: (expect[k], got[k]) for k in expect if expect[k] != got[k]}
    assert not wrong, wrong
    assert len(expect) > 300
    # the offsets the research validated against a live guest
    assert prof.field("task_struct.tasks") == (968, 8)
    assert prof.offset("task_struct.pid") == 1108 and prof.offset("task_struct.comm") == 1412
    assert prof.offset("mm_struct.pgd") == 28


def _syscalls_32(headers: Path) -> Dict[int, str]:
    text = (headers / "arch/x86/include/generated/asm/syscalls_32.h").read_text()
    return {int(m.group(1)): m.group(2)
            for m in re.finditer(r"__SYSCALL(?:_WITH_COMPAT)?\((\d+),\s*(\w+)", text)}


def test_syscall_table(prof: Profile, headers: Path) -> None:
    assert prof.syscall(5)["name"] == "open"
    assert prof.syscall(4)["name"] == "write"
    assert prof.syscall(4)["args"] == [["unsigned int", "fd"], ["const char *", "buf"], ["size_t", "count"]]
    openat = prof.syscall(295)
    assert openat["name"] == "openat" and openat["entry"] == "__ia32_sys_openat"
    assert openat["args"] == [["int", "dfd"], ["const char *", "filename"], ["int", "flags"],
                              ["umode_t", "mode"]]
    assert prof.syscall_by_name("openat") == openat == prof.syscall_by_name("sys_openat")
    assert prof.syscall_by_name("exit_group")["nr"] == 252
    table = _syscalls_32(headers)
    assert sorted(table) == list(range(len(prof.syscalls)))
    for nr, name in table.items():
        s = prof.syscall(nr)
        if name == "sys_ni_syscall":
            assert s == {"nr": nr, "name": None, "entry": "sys_ni_syscall", "args": None}
        else:
            assert "sys_" + s["name"] == name, (nr, s, name)
    implemented = [s for s in prof.syscalls if s["name"] is not None]
    with_args = [s for s in implemented if s["args"] is not None]
    # only the weak COND_SYSCALL stubs of options this config lacks (mbind, pkey_*...) have no metadata
    assert len(with_args) >= len(implemented) - 16, len(implemented) - len(with_args)
    assert all(len(s["args"]) <= 6 for s in with_args)
    with pytest.raises(ProfileError, match="outside the table"):
        prof.syscall(len(prof.syscalls))
    with pytest.raises(ProfileError, match="no_such_call"):
        prof.syscall_by_name("no_such_call")


def test_missing_field_is_a_profile_error(prof: Profile) -> None:
    with pytest.raises(ProfileError, match=r"mm_struct\.mmap.*6\.1\.0-57-686-pae"):
        prof.offset("mm_struct.mmap")
    with pytest.raises(PandaError):
        prof.field("task_struct.no_such_member")


# ------------------------------------------------------------------------ caching

def _no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a subprocess was started: {args}")
    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_cached_profile_loads_fast_without_tools(prof: Profile, monkeypatch: pytest.MonkeyPatch) -> None:
    _no_subprocess(monkeypatch)
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    t0 = time.perf_counter()
    again = profile_for(IMAGE)
    elapsed = time.perf_counter() - t0
    assert again == prof
    print(f"cached load: {elapsed * 1000:.0f} ms")
    assert elapsed < 1.0
    cache = profmod.default_cache_dir()
    assert (cache / f"{prof.build_id}.json").is_file()
    assert prof.build_id == "bda531541fcff2af524ee5d39463eac207c2b9ac" or len(prof.build_id) in (40, 64)


def _seed_cache(prof: Profile, tmp: Path) -> Path:
    """A private cache holding this profile and its BTF: a rebuild needs no tool."""
    cache = tmp / "osi"
    src = profmod.default_cache_dir()
    shutil.copytree(src / "btf", cache / "btf")
    (cache / "images").mkdir(parents=True)
    sha = profmod.file_sha256(IMAGE)
    (cache / "images" / sha).write_text(f"{prof.build_id} {profmod.generator_id()}\n")
    prof.save(cache / f"{prof.build_id}.json")
    return cache


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong-type", "other-format", "other-code"])
def test_corrupt_cache_is_rebuilt(prof: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  damage: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Documented choice: a cache file that does not validate, or that other
    code made, is rebuilt (and a note printed)."""
    cache = _seed_cache(prof, tmp_path)
    f = cache / f"{prof.build_id}.json"
    text = f.read_text()
    if damage == "truncate":
        f.write_text(text[: len(text) // 2])
    elif damage == "garbage":
        f.write_bytes(os.urandom(4096))
    elif damage == "other-code":      # made by an older pypanda.osi
        index = cache / "images" / profmod.file_sha256(IMAGE)
        index.write_text(f"{prof.build_id} 0123456789abcdef\n")
    elif damage == "wrong-type":
        d = json.loads(text)
        d["fields"]["task_struct.pid"] = "1108"
        f.write_text(json.dumps(d))
    else:
        d = json.loads(text)
        d["format"] = 99
        f.write_text(json.dumps(d))
    _no_subprocess(monkeypatch)
    again = profile_for(IMAGE, cache_dir=cache)
    assert again == prof
    assert "rebuilding" in capsys.readouterr().err
    assert Profile.load(f) == prof       # and the cache is whole again


def test_release_string_fetches_the_image(prof: Profile, tmp_path: Path) -> None:
    deb = profmod._find_deb(profmod.default_cache_dir(), f"linux-image-{RELEASE}", None, "i386")
    if deb is None and shutil.which("apt-get") is None:
        pytest.skip("no cached linux-image .deb and no apt-get")
    by_release = profile_for(RELEASE)
    assert by_release == prof


# ------------------------------------------------------------------ hostile input

def test_truncated_and_random_images(tmp_path: Path) -> None:
    _need_image()
    data = IMAGE.read_bytes()
    cases = {
        "truncated-header": data[:0x100],
        "truncated-payload": data[: len(data) // 2],
        "random": os.urandom(1 << 16),
        "empty": b"",
        "corrupt-payload": data[:0x8000] + bytes(b ^ 0x55 for b in data[0x8000:0x9000]) + data[0x9000:],
        "elf-header-only": b"\x7fELF\x01\x01\x01" + b"\0" * 57,
    }
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(ProfileError) as exc:
            profile_for(p, cache_dir=tmp_path / "cache")
        assert str(exc.value), name
    with pytest.raises(ProfileError, match="neither a kernel image file nor a Debian kernel release"):
        profile_for(tmp_path / "does-not-exist.bin", cache_dir=tmp_path / "cache")


def test_truncated_vmlinux(vmlinux_elf: kimage.ELF, tmp_path: Path) -> None:
    p = tmp_path / "vmlinux"
    p.write_bytes(vmlinux_elf.data[: len(vmlinux_elf.data) // 3])
    with pytest.raises(ProfileError, match="truncated ELF"):
        profile_for(p, cache_dir=tmp_path / "cache")


def test_bad_btf(tmp_path: Path) -> None:
    for blob in (b"", os.urandom(100), b"\x9f\xeb\x01\x00" + b"\0" * 40):
        with pytest.raises(ProfileError):
            BTF(blob)
    real = next((profmod.default_cache_dir() / "btf").glob("*.btf"), None)
    if real is not None:
        data = real.read_bytes()
        b = BTF(data, ptr_size=4)
        assert b.field("task_struct.pid") is not None
        with pytest.raises(ProfileError):
            BTF(data[: len(data) // 2])


def test_missing_tool_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _need_image()
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "pahole" else real_which(name))
    with pytest.raises(ProfileError, match=r"'pahole' not found.*apt-get install pahole"):
        profile_for(IMAGE, cache_dir=tmp_path / "cache")
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)
    with pytest.raises(ProfileError, match=r"apt-get install"):
        profile_for(RELEASE, cache_dir=tmp_path / "cache2")


def _valid_dict() -> dict:
    return {"format": 1, "arch": "i386", "bits": 32, "release": RELEASE, "banner": "Linux version x",
            "banner_addr": 0xC193D160, "build_id": "ab" * 20, "btf_source": "test", "page_offset": 0xC0000000,
            "per_cpu_start": 0xC1E7E000, "symbols": {"init_task": 0xC1C694C0},
            "fields": {"task_struct.pid": [1108, 4]}, "arrays": {"task_struct.comm": 16},
            "sizes": {"task_struct": 6592}, "enums": {"maple_type": {"maple_dense": 0}},
            "syscalls": [{"nr": 0, "name": "restart_syscall", "entry": "__ia32_sys_restart_syscall", "args": []},
                         {"nr": 1, "name": None, "entry": "sys_ni_syscall", "args": None}]}


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(format="1"),
    lambda d: d.update(arch="arm"),
    lambda d: d.update(bits=64),
    lambda d: d.update(banner_addr=-1),
    lambda d: d.update(banner_addr=True),
    lambda d: d.update(page_offset=1 << 40),
    lambda d: d.pop("release"),
    lambda d: d.update(symbols=[]),
    lambda d: d["symbols"].update(init_task="0xc1c694c0"),
    lambda d: d["fields"].update({"task_struct.pid": [1108]}),
    lambda d: d["fields"].update({"task_struct.pid": [1108, None]}),
    lambda d: d["arrays"].update({"task_struct.comm": 1.5}),
    lambda d: d["enums"].update(maple_type=[1, 2]),
    lambda d: d.update(syscalls={}),
    lambda d: d["syscalls"][1].update(nr=5),
    lambda d: d["syscalls"][0].update(args=[["int"]]),
    lambda d: d["syscalls"][0].update(name=7),
])
def test_hostile_profile_json(tmp_path: Path, mutate) -> None:  # type: ignore[no-untyped-def]
    d = _valid_dict()
    Profile(json.loads(json.dumps(d)))          # the baseline is valid
    mutate(d)
    p = tmp_path / "p.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ProfileError, match="not a pypanda OSI profile"):
        Profile.load(p)


def test_unreadable_profile_json(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    for blob in (b"", b"{", b"[" * 100000, b"\xff\xfe", b"null", json.dumps(_valid_dict())[:-5].encode()):
        p.write_bytes(blob)
        with pytest.raises(ProfileError):
            Profile.load(p)
    with pytest.raises(ProfileError, match="cannot read"):
        Profile.load(tmp_path / "absent.json")
    roundtrip = Profile(_valid_dict())
    roundtrip.save(p)
    assert Profile.load(p) == roundtrip


# ------------------------------------------------------------------- os_version

def test_parse_os_version_forms(tmp_path: Path) -> None:
    v = parse_os_version("linux-32-debian:3.2.0-4-686-pae")
    assert (v.family, v.bits, v.distro, v.release, v.kernelinfo) == ("linux", 32, "debian", "3.2.0-4-686-pae", None)
    v = parse_os_version("linux-64-ubuntu:4.15.0-72-generic")
    assert (v.bits, v.distro, v.release) == (64, "ubuntu", "4.15.0-72-generic")
    v = parse_os_version("debian:6.1.0-57-686-pae")
    assert (v.bits, v.distro, v.release) == (32, "debian", RELEASE)
    v = parse_os_version("debian:4.9.0-6-686-pae:32")
    assert (v.bits, v.distro, v.release) == (32, "debian", "4.9.0-6-686-pae")
    assert parse_os_version("6.1.0-57-amd64").bits == 64
    assert parse_os_version("i386").bits == 32 and parse_os_version("i386").release is None
    assert parse_os_version("x86_64").bits == 64 and parse_os_version("linux").bits is None
    assert parse_os_version("linux-32-debian").release is None


def test_parse_kernelinfo(tmp_path: Path) -> None:
    conf = tmp_path / "kernelinfo.conf"
    conf.write_text("""# written by the test
[debian:4.9.0-6-686-pae:32]
name = 4.9.0-6-686-pae|#1 SMP Debian 4.9.82-1+deb9u3 (2018-03-02)|i686
version.a = 4
version.b = 9
version.c = 88
task.init_addr = 3245807232
#task.init_addr = 0xC1771680
task.per_cpu_offset_0_addr = 907177984
task.current_task_addr = 0xC18C3208
task.size = 5888
task.tasks_offset = 708
task.pid_offset = 864
task.comm_offset = 1252
task.comm_size = 16
mm.pgd_offset = 36
path.d_name_offset = 20

[ubuntu:4.4.0-98-generic:32]
name = 4.4.0-98-generic|#121-Ubuntu SMP Tue Oct 10 14:23:20 UTC 2017|i686
task.tasks_offset = 624
""")
    v = parse_os_version(f"{conf}:debian:4.9.0-6-686-pae:32")
    assert (v.family, v.bits, v.distro, v.release) == ("linux", 32, "debian", "4.9.0-6-686-pae")
    assert v.kernelinfo is not None
    assert v.kernelinfo["task.tasks_offset"] == 708 and v.kernelinfo["version.c"] == 88
    assert v.kernelinfo["task.current_task_addr"] == 0xC18C3208
    assert v.kernelinfo["name"].startswith("4.9.0-6-686-pae|")
    mapped = kernelinfo_fields(v.kernelinfo)
    assert mapped["fields"]["task_struct.tasks"] == 708
    assert mapped["fields"]["task_struct.comm"] == 1252 and mapped["arrays"]["task_struct.comm"] == 16
    assert mapped["fields"]["dentry.d_name"] == 20 and mapped["fields"]["mm_struct.pgd"] == 36
    assert mapped["sizes"]["task_struct"] == 5888
    assert mapped["symbols"] == {"init_task": 3245807232, "current_task": 0xC18C3208}
    v2 = parse_os_version(str(conf), group="ubuntu:4.4.0-98-generic:32")
    assert (v2.distro, v2.release, v2.bits) == ("ubuntu", "4.4.0-98-generic", 32)
    with pytest.raises(ProfileError, match="2 groups"):
        parse_os_version(str(conf))
    with pytest.raises(ProfileError, match="no group"):
        parse_os_version(f"{conf}:nosuch")
    with pytest.raises(ProfileError, match="cannot read"):
        parse_os_version(f"{tmp_path}/absent.conf:x")
    bad = tmp_path / "bad.conf"
    bad.write_text("key = value without a group\n")
    with pytest.raises(ProfileError, match="not a kernelinfo"):
        parse_os_version(f"{bad}:g")


@pytest.mark.parametrize("text", ["", "   ", "windows-32-7sp1", "linux-16-debian:6.1.0-57-686-pae",
                                  "debian:not-a-release", "debian:6.1.0-57-686-pae:48", "linux-32-debian:foo bar",
                                  "hello world", ":::"])
def test_parse_os_version_malformed(text: str) -> None:
    with pytest.raises(ProfileError, match="accepted forms"):
        parse_os_version(text)


def test_release_matches(prof: Profile) -> None:
    assert release_matches("debian:6.1.0-57-686-pae", prof.banner)
    assert release_matches(parse_os_version("linux-32-debian:6.1.0-57-686-pae"), RELEASE)
    bz = kimage.bzimage_version(IMAGE.read_bytes())
    assert bz is not None and release_matches("linux-32-debian:6.1.0-57-686-pae", bz)
    assert not release_matches("linux-32-debian:3.2.0-4-686-pae", prof.banner)
    assert release_matches("i386", prof.banner)


@pytest.mark.skipif(not os.environ.get("PYPANDA_OSI_TEST_AMD64"),
                    reason="set PYPANDA_OSI_TEST_AMD64=1 to fetch Debian's amd64 kernel (a 70 MB .deb)")
def test_amd64_kernel_with_its_own_btf() -> None:
    """The .BTF route and x86_64's zero-based per-cpu symbols (KALLSYMS_ABSOLUTE_PERCPU)."""
    p = profile_for("6.1.0-57-amd64")
    assert (p.arch, p.bits, p.data["btf_source"]) == ("x86_64", 64, "vmlinux .BTF section")
    # the values the research checked against a live amd64 guest
    assert p.offset("task_struct.tasks") == 2192 and p.offset("task_struct.pid") == 2416
    assert p.symbol("current_task") == 0x1FB80 and p.symbol("__per_cpu_start") == 0
    assert p.per_cpu_start == 0 and p.page_offset == 0xFFFF888000000000
    assert p.symbol("init_task") == 0xFFFFFFFF82A1AA40
    assert p.has_symbol("page_offset_base") and p.has_symbol("phys_base") and p.has_symbol("entry_SYSCALL_64")
    assert p.syscall(257)["name"] == "openat" and p.syscall(0)["entry"] == "__x64_sys_read"
    assert p.array_len("maple_range_64.slot") == 16


def test_btf_file_given(prof: Profile, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """btf=: the same types from a file, no tool run; a missing file is a ProfileError."""
    btf = next((profmod.default_cache_dir() / "btf").glob(f"{RELEASE}_*_{profmod.probe_id()}.btf"))
    _no_subprocess(monkeypatch)
    p = profile_for(IMAGE, btf=btf, cache_dir=tmp_path / "cache")
    assert p.data["btf_source"] == f"file {btf}"
    assert {k: v for k, v in p.data.items() if k not in ("btf_source", "sizes")} == \
        {k: v for k, v in prof.data.items() if k not in ("btf_source", "sizes")}
    with pytest.raises(ProfileError, match="cannot read the BTF file"):
        profile_for(IMAGE, btf=tmp_path / "absent.btf", cache_dir=tmp_path / "cache")


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_image()
    out = tmp_path / "p.json"
    assert profmod.main([str(IMAGE), "--out", str(out)]) == 0
    text = capsys.readouterr()
    assert "Linux 6.1.0-57-686-pae (i386, 32-bit)" in text.out and "init_task" in text.out
    assert "[pypanda.osi]" in text.err
    assert Profile.load(out).release == RELEASE
    bad = tmp_path / "bad"
    bad.write_bytes(b"MZ" + os.urandom(1000))
    assert profmod.main([str(bad), "--cache-dir", str(tmp_path / "c")]) == 1
    assert "error: not a bzImage or vmlinux" in capsys.readouterr().err
