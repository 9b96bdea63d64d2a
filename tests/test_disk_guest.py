"""The Debian 12 i386 disk guest (`python -m pypanda.guest debian-i386`):
its guest.json, the disk's MBR and ext4 partition read offline, an idempotent
rebuild, and a boot on Debian's QEMU through SeaBIOS and GRUB to the root
shell, as the disk benchmark runs it.

The build needs root (mmdebstrap) and the network the first time; the .debs
are cached, so a rebuild takes a few minutes."""
from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from pypanda.panda import guest_dir

pytestmark = pytest.mark.slow

NAME = "debian-i386"
SECTOR = 512
# The benchmark's machine: a PC with the i440FX/PIIX3 functions only (no ACPI,
# HPET, SMM, APIC, default devices); the disk on the PIIX IDE primary master.
QEMU_MACHINE = ["-M", "pc,acpi=off,hpet=off,smm=off", "-cpu", "qemu32,-apic", "-nodefaults",
                "-m", "256", "-nographic", "-serial", "stdio", "-snapshot"]
CHECK_CMD = "cat /proc/partitions; grep ' / ' /proc/mounts; dmesg | grep -i -e ata_piix -e DMA"
BOOT_TIMEOUT = 300.0


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run_builder(*args: str) -> Tuple[subprocess.CompletedProcess, float]:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pypanda.guest", NAME, *args],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, time.monotonic() - t0


def tool(name: str, package: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
    if path is None:
        pytest.fail(f"'{name}' is missing: install {package} (apt-get install -y {package})")
    return path


@pytest.fixture(scope="module")
def guest() -> Tuple[Path, dict]:
    """The built guest (built here if needed): its directory and guest.json."""
    if os.geteuid() != 0 and not (guest_dir(NAME) / "guest.json").exists():
        pytest.skip(f"building the {NAME} guest needs root: run 'sudo python -m pypanda.guest {NAME}'")
    proc, seconds = run_builder()
    if proc.returncode != 0:
        pytest.fail(f"'python -m pypanda.guest {NAME}' failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    d = Path(proc.stdout.strip().splitlines()[-1])
    assert d == guest_dir(NAME), f"the builder wrote to {d}, but pypanda looks in {guest_dir(NAME)}"
    print(f"[test_disk_guest] build or check took {seconds:.1f} s", file=sys.stderr)
    return d, json.loads((d / "guest.json").read_text())


@pytest.fixture(scope="module")
def raw_disk(guest, tmp_path_factory) -> Path:
    """A raw copy of disk.qcow2 (sparse, so cheap)."""
    d, info = guest
    raw = tmp_path_factory.mktemp("disk") / "disk.raw"
    subprocess.run([tool("qemu-img", "qemu-utils"), "convert", "-f", "qcow2", "-O", "raw",
                    str(d / info["image"]["file"]), str(raw)], check=True)
    return raw


def test_guest_json(guest):
    d, info = guest
    assert info["name"] == NAME and info["arch"] == "i386"
    assert info["builder_sha256"] == sha256(Path(__file__).resolve().parent.parent
                                            / "pypanda" / "data" / "build_disk_guest.sh"), \
        "guest.json was made by another version of build_disk_guest.sh: rebuild with --force"
    for name in ("disk.qcow2", "vmlinuz", "initrd.img"):
        assert info["sha256"][name] == sha256(d / name), f"{name} does not match guest.json: rebuild"
    assert info["image"]["file"] == "disk.qcow2" and info["image"]["sha256"] == info["sha256"]["disk.qcow2"]
    assert (d / "disk.qcow2").read_bytes()[:4] == b"QFI\xfb"
    words = info["cmdline"].split()
    for word in ("root=/dev/sda1", "rw", "console=ttyS0"):
        assert word in words, f"the kernel command line lacks {word}: {info['cmdline']}"
    assert "pci=off" not in words, "pci=off hides the PIIX IDE controller the root disk is on"
    assert info["prompt"] == "debian# "
    release = info["kernel_release"]
    assert release.endswith("-686-pae") and info["kernel_version_string"].startswith(release)
    assert info["kernel_package"]["name"] == f"linux-image-{release}"
    assert info["kernel_package"]["version"] == info["packages"][f"linux-image-{release}"]["version"]
    for pkg in ("udev", "kmod", "e2fsprogs", "procps", "coreutils", "initramfs-tools"):
        assert pkg in info["packages"], f"{pkg} is not in the guest"
    assert "systemd" not in info["packages"], "the guest should have no systemd (init is a script)"
    assert set(info["initrd_modules"]) >= {"ata_piix", "sd_mod", "ext4"}
    # the initramfs is gzip (the kernel's RD_GZIP) and the kernel a bzImage
    assert (d / "initrd.img").read_bytes()[:2] == b"\x1f\x8b"
    assert (d / "vmlinuz").read_bytes()[0x202:0x206] == b"HdrS"


def test_partition_table(guest, raw_disk):
    _, info = guest
    with open(raw_disk, "rb") as f:
        mbr = f.read(SECTOR)
        core = f.read(SECTOR)
    size = raw_disk.stat().st_size
    assert size == info["image"]["virtual_size"]
    assert mbr[510:512] == b"\x55\xaa", "no MBR boot signature"
    boot_img = Path("/usr/lib/grub/i386-pc/boot.img")
    if boot_img.exists():
        code = bytearray(mbr[:440])
        ref = bytearray(boot_img.read_bytes()[:440])
        # grub-bios-setup would patch the BPB area and the drive byte; we do not
        assert code == ref, "the MBR's code is not GRUB's boot.img"
    # boot.img loads core.img from sector 1 (its kernel_sector field, 8 bytes at 0x5c)
    assert struct.unpack_from("<Q", mbr, 0x5c)[0] == 1
    assert any(core), "sector 1 (GRUB's core.img) is empty"
    entries = [struct.unpack_from("<B3sB3sII", mbr, 446 + 16 * i) for i in range(4)]
    status, _, ptype, _, start, count = entries[0]
    part = info["image"]["partitions"][0]
    assert status == 0x80, "partition 1 is not marked bootable"
    assert ptype == 0x83, f"partition 1 has type {ptype:#x}, not Linux (0x83)"
    assert start == 2048 == part["start_sector"]
    assert count == size // SECTOR - 2048 == part["sectors"], "partition 1 does not fill the disk"
    for e in entries[1:]:
        assert e == (0, b"\0\0\0", 0, b"\0\0\0", 0, 0), "only one partition is expected"
    assert struct.unpack_from("<I", mbr, 440)[0] == int(info["image"]["disk_id"], 16)


def test_ext4_partition(guest, raw_disk, tmp_path):
    _, info = guest
    part = info["image"]["partitions"][0]
    img = tmp_path / "part.img"
    subprocess.run(["dd", f"if={raw_disk}", f"of={img}", f"bs={SECTOR}", f"skip={part['start_sector']}",
                    f"count={part['sectors']}", "conv=sparse", "status=none"], check=True)
    debugfs = tool("debugfs", "e2fsprogs")

    def dbg(request: str) -> str:
        return subprocess.run([debugfs, "-R", request, str(img)], check=True,
                              capture_output=True, text=True).stdout

    fsck = subprocess.run([tool("e2fsck", "e2fsprogs"), "-fn", str(img)], capture_output=True, text=True)
    assert fsck.returncode == 0, f"e2fsck finds the partition damaged:\n{fsck.stdout}"
    sb = subprocess.run([tool("dumpe2fs", "e2fsprogs"), "-h", str(img)], check=True,
                        capture_output=True, text=True).stdout
    assert part["uuid"] in sb and "extent" in sb and "has_journal" in sb, "not the ext4 the builder made"
    release = info["kernel_release"]
    boot = dbg("ls -l /boot")
    for name in (f"vmlinuz-{release}", f"initrd.img-{release}", "grub"):
        assert name in boot, f"/boot has no {name}:\n{boot}"
    assert info["size"]["vmlinuz"] == int(dbg(f"stat /boot/vmlinuz-{release}").split("Size: ")[1].split()[0])
    init = dbg("cat /usr/sbin/init")
    assert init.startswith("#!/bin/sh") and "PS1='debian# '" in init, "/sbin/init is not pypanda's"
    assert "usr/sbin" in dbg("stat /sbin"), "/sbin is not the merged-/usr link to usr/sbin"
    grub_cfg = dbg("cat /boot/grub/grub.cfg")
    assert info["cmdline"] in grub_cfg, "grub.cfg does not boot with guest.json's command line"
    assert "normal.mod" in dbg("ls /boot/grub/i386-pc")


def test_rebuild_is_up_to_date(guest):
    proc, seconds = run_builder()
    assert proc.returncode == 0, proc.stderr
    assert "up to date" in proc.stderr, f"a second run rebuilt the guest:\n{proc.stderr}"
    assert seconds < 30, f"checking an up-to-date guest took {seconds:.1f} s"
    assert Path(proc.stdout.strip().splitlines()[-1]) == guest[0]


class Console:
    """QEMU's serial console on its stdio: read until a marker, type lines."""

    def __init__(self, argv: List[str]):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        self.log = b""

    def read_until(self, marker: bytes, timeout: float) -> Optional[float]:
        """Seconds since start when marker appeared after the current log end, or None."""
        start = len(self.log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log[start:]:
                return time.monotonic() - self.t0
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    break
                self.log += data
        return time.monotonic() - self.t0 if marker in self.log[start:] else None

    def command(self, line: str, prompt: bytes, timeout: float = 60.0) -> str:
        start = len(self.log)
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        if self.read_until(prompt, timeout) is None:
            raise AssertionError(f"no prompt after {line!r}; console:\n{self.tail()}")
        out = self.log[start:].decode(errors="replace").replace("\r", "")
        out = out.split("\n", 1)[1] if "\n" in out else ""   # drop the echoed line
        return out[: out.rfind(prompt.decode())]

    def tail(self, n: int = 3000) -> str:
        return self.log[-n:].decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            # Without ACPI the kernel halts ("reboot: System halted") and QEMU
            # stays up: wait for that line, then end QEMU.
            try:
                self.proc.stdin.write(b"poweroff -f\n")
                self.proc.stdin.flush()
                self.read_until(b"reboot: ", 15)
            except OSError:
                pass
            self.proc.kill()
        self.proc.wait()


def boot(qemu: str, extra: List[str], prompt: bytes) -> Tuple[Console, Optional[float]]:
    console = Console([qemu, *QEMU_MACHINE, *extra])
    return console, console.read_until(prompt, BOOT_TIMEOUT)


def qemu_or_skip() -> str:
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        pytest.skip("qemu-system-i386 is missing: install qemu-system-x86 to boot the disk guest "
                    "(apt-get install -y qemu-system-x86); CI has it")
    return qemu


def check_guest(console: Console, prompt: bytes, info: dict) -> str:
    out = console.command(CHECK_CMD, prompt)
    assert "sda1" in out, f"/proc/partitions has no sda1:\n{out}"
    assert "/dev/sda1 / ext4 rw" in out, f"/ is not /dev/sda1 mounted read-write as ext4:\n{out}"
    assert "ata_piix" in out, f"the disk is not on ata_piix:\n{out}"
    assert "DMA" in out, f"ata_piix did not offer a DMA mode:\n{out}"
    # Linux 6.1 logs "configured for MWDMA2" at debug level only, so the mode
    # the disk runs in is read from sysfs: PIIX3 IDE does multiword DMA 2.
    mode = console.command("cat /sys/class/ata_device/dev1.0/xfer_mode", prompt).strip()
    assert "DMA" in mode, f"the root disk (ata1.00) runs in {mode!r}, not a DMA mode"
    out += mode + "\n"
    assert console.command("echo $((6*7))", prompt).strip() == "42"
    assert console.command("uname -r", prompt).strip() == info["kernel_release"]
    return out


def test_boots_through_firmware_and_grub(guest):
    qemu = qemu_or_skip()
    d, info = guest
    disk = d / info["image"]["file"]
    before = sha256(disk)
    prompt = info["prompt"].encode()
    console, seconds = boot(qemu, ["-hda", str(disk)], prompt)
    try:
        assert seconds is not None, f"no prompt within {BOOT_TIMEOUT:.0f} s; console:\n{console.tail()}"
        assert b"GRUB" in console.log or b"Welcome to GRUB" in console.log or b"Booting" in console.log, \
            "the console shows no sign of GRUB"
        out = check_guest(console, prompt, info)
        print(f"[test_disk_guest] firmware+GRUB boot: prompt at {seconds:.1f} s\n{out}", file=sys.stderr)
    finally:
        console.close()
    assert sha256(disk) == before, "booting with -snapshot changed disk.qcow2"


def test_direct_boot_with_guest_json_command_line(guest):
    """-kernel/-initrd/-append with guest.json's line, the disk as root: how
    pypanda's own pc machine (which has no firmware) will start this guest."""
    qemu = qemu_or_skip()
    d, info = guest
    disk = d / info["image"]["file"]
    prompt = info["prompt"].encode()
    console, seconds = boot(qemu, ["-hda", str(disk), "-kernel", str(d / info["kernel"]),
                                   "-initrd", str(d / info["initrd"]), "-append", info["cmdline"]],
                            prompt)
    try:
        assert seconds is not None, f"no prompt within {BOOT_TIMEOUT:.0f} s; console:\n{console.tail()}"
        assert b"GRUB" not in console.log, "QEMU booted through GRUB, not the given kernel"
        check_guest(console, prompt, info)
        assert console.command("cat /proc/cmdline", prompt).strip() == info["cmdline"]
        print(f"[test_disk_guest] direct boot: prompt at {seconds:.1f} s", file=sys.stderr)
    finally:
        console.close()
