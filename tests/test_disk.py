"""The Debian disk guest on the pc machine: booted from its qcow2 through
ata_piix with bus-master DMA, writes kept in an overlay (the base image is
never written), committed to a new qcow2 that Debian's QEMU boots, and
recordings that carry the disk's data so that a replay needs no image."""
from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, List

import pytest

from pypanda import Panda
from pypanda.panda import guest_dir

CHECK = ("cat /proc/partitions; grep ' / ' /proc/mounts; dmesg | grep -i -e ata_piix -e DMA; "
         "cat /sys/class/ata_device/dev1.0/xfer_mode")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def guest() -> Dict[str, object]:
    d = guest_dir("debian-i386")
    meta = d / "guest.json"
    if not meta.exists():
        pytest.fail("build the disk guest first: python -m pypanda.guest debian-i386 (scripts/test.sh does)")
    info = json.loads(meta.read_text())
    image = d / info["image"]["file"]
    return {"dir": d, "info": info, "image": image, "sha256": _sha256(image)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _drive(panda: Panda, commands: List[str], timeout: float = 300) -> List[str]:
    out: List[str] = []

    @panda.queue_blocking
    def driver():
        for c in commands:
            out.append(panda.run_serial_cmd(c, timeout=timeout))
        panda.end_analysis()

    panda.run()
    return out


def test_the_disk_guest_boots_from_its_disk_with_dma(guest):
    panda = Panda(generic="debian-i386", verbose=False)
    (out,) = _drive(panda, [CHECK])
    panda.close()
    assert " sda1" in out
    assert "/dev/sda1 / ext4 rw" in out
    assert "ata_piix" in out and "bmdma 0xc000" in out
    assert out.strip().endswith("XFER_MW_DMA_2")


def test_writes_stay_in_the_overlay_and_commit_to_a_new_image(guest, tmp_path):
    panda = Panda(generic="debian-i386", verbose=False)
    write, first, second = _drive(panda, [
        "dd if=/dev/urandom of=/root/data bs=1M count=8 2>/dev/null; sync; echo written",
        "sha256sum /root/data",
        "echo 3 > /proc/sys/vm/drop_caches; sha256sum /root/data",   # read back from the disk
    ])
    assert write.strip() == "written"
    assert first.split()[0] == second.split()[0] and len(first.split()[0]) == 64
    committed = tmp_path / "committed.qcow2"
    panda.commit_disk(str(committed))
    panda.close()
    assert _sha256(guest["image"]) == guest["sha256"]            # the base image is never written
    # a second machine on the same base sees none of it
    other = Panda(generic="debian-i386", verbose=False)
    (ls,) = _drive(other, ["ls /root/data 2>&1; echo end"])
    other.close()
    assert "No such file" in ls
    # the committed overlay is a valid qcow2 over the base, and Debian's QEMU
    # boots it with the file there
    subprocess.run(["qemu-img", "check", "-q", str(committed)], check=True)
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(committed)], check=True,
                                     capture_output=True, text=True).stdout)
    assert Path(info["backing-filename"]).resolve() == guest["image"].resolve()
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        pytest.fail("Debian's qemu-system-i386 is the reference here: apt-get install qemu-system-x86")
    assert _qemu_sha256(qemu, committed, "/root/data") == first.split()[0]
    assert _sha256(guest["image"]) == guest["sha256"]


def _qemu_sha256(qemu: str, image: Path, path: str) -> str:
    cmd = [qemu, "-M", "pc,acpi=off,hpet=off,smm=off", "-cpu", "qemu32,-apic", "-nodefaults", "-m", "256",
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-snapshot", "-hda", str(image)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buf = b""

    def until(marker: bytes, limit: float = 180) -> None:
        nonlocal buf
        end = time.monotonic() + limit
        while marker not in buf:
            assert time.monotonic() < end, f"QEMU never printed {marker!r}: {buf[-500:]!r}"
            if select.select([proc.stdout], [], [], 0.5)[0]:
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk, f"QEMU exited: {buf[-500:]!r}"
                buf += chunk

    try:
        until(b"debian# ")
        buf = b""
        proc.stdin.write(f"sha256sum {path}\n".encode())
        proc.stdin.flush()
        until(path.encode() + b"\r\n")
        until(b"debian# ")
    finally:
        proc.kill()
        proc.wait()
    line = [ln for ln in buf.decode(errors="replace").splitlines() if ln.endswith(path)][-1]
    return line.split()[0]


def test_a_recording_replays_without_its_disk(guest, tmp_path):
    name = str(tmp_path / "reads")
    live = Panda(generic="debian-i386", verbose=False)
    live_reads = {"n": 0}

    @live.cb_hd_read
    def count_reads(cpu):
        if live._lib.panda_rr_mode(live._handle) == 1:     # while recording
            live_reads["n"] += 1

    out: Dict[str, str] = {}

    @live.queue_blocking
    def driver():
        live.run_serial_cmd("true")
        out["live"] = live.record_cmd("cat /usr/bin/* | md5sum", recording_name=name)
        live.end_analysis()

    live.run()
    live.close()
    assert live_reads["n"] > 100, live_reads          # the command read from the disk
    assert len(out["live"].split()[0]) == 32

    size = guest["info"]["image"]["virtual_size"]
    args = ["-M", "pc", "-cpu", "qemu32", "-drive", f"size={size}B,if=ide"]   # the image "moved away"
    panda = Panda(arch="i386", extra_args=args, verbose=False)
    runs = []

    def watch(seen: Dict[str, object]) -> None:
        @panda.cb_before_block_exec(name="blocks")
        def blocks(cpu, tb):
            seen["blocks"].update(tb.contents.pc.to_bytes(8, "little"))

        @panda.cb_replay_hd_transfer(name="hd")
        def hd(cpu, kind, src, dest, n):
            seen["hd"].append((kind, src, dest, n))

        @panda.cb_replay_before_dma(name="dma")
        def dma(cpu, buf, addr, size, is_write):
            seen["dma"].append(("before", addr, size, bool(is_write)))

        @panda.cb_replay_after_dma(name="dma_after")
        def dma_after(cpu, buf, addr, size, is_write):
            seen["dma"].append(("after", addr, size, bool(is_write)))

        @panda.cb_hd_read(name="reads")
        def reads(cpu):
            seen["reads"] += 1

    for _ in range(2):
        seen: Dict[str, object] = {"blocks": hashlib.sha256(), "hd": [], "dma": [], "reads": 0}
        watch(seen)

        before = len(panda.serial_log)
        panda.run_replay(name)
        assert panda.replay_finished
        runs.append((panda.instr_count(), seen["blocks"].hexdigest(), seen["hd"], seen["dma"], seen["reads"],
                     panda.serial_log[before:]))
    panda.close()
    assert runs[0] == runs[1]
    _, _, transfers, dmas, replay_reads, console = runs[0]
    assert replay_reads == live_reads["n"]
    assert any(t[0] == 4 for t in transfers) and dmas        # HD_TO_RAM by bus-master DMA
    assert [d[0] for d in dmas[:2]] == ["before", "after"]   # each copy between its two callbacks
    assert out["live"].split()[0] in console                 # the replayed guest printed the same md5
