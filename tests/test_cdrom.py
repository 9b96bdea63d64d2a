"""The ATAPI CD-ROM drive on the pc machine's PIIX IDE, seen by the Debian
disk guest's Linux (libata's ata_piix, sr_mod): the default empty drive
at ide1-cd0, discs read byte-exact, the monitor's change and eject (and a
tray the guest locked), and a recording whose disc reads and disc changes
replay with the image files gone."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Dict, List

import pytest

from pypanda import Panda
from pypanda.errors import PandaError
from pypanda.panda import guest_dir

BLOCK = 2048


@pytest.fixture(scope="module")
def guest() -> Path:
    d = guest_dir("debian-i386")
    if not (d / "guest.json").exists():
        pytest.fail("build the disk guest first: python -m pypanda.guest debian-i386 (scripts/test.sh does)")
    return d


def _disc(path: Path, blocks: int, seed: int) -> str:
    """A raw disc image of random-looking blocks (no filesystem needed);
    its SHA-256."""
    data = b"".join(hashlib.sha256(b"%d:%d" % (seed, i)).digest() * (BLOCK // 32) for i in range(blocks))
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def _read_disc(blocks: int) -> str:
    return f"dd if=/dev/sr0 bs={BLOCK} count={blocks} 2>/dev/null | sha256sum; cat /sys/block/sr0/size"


def _monitor(panda: Panda, cmd: str) -> str:
    try:
        return panda.run_monitor_cmd(cmd)
    except PandaError as e:
        return f"error: {e}"


def test_the_cdrom_options(tmp_path):
    """-cdrom, -drive media=cdrom, the default drive and -nodefaults, as
    "info block" shows them (no guest runs)."""
    disc = tmp_path / "d.iso"
    _disc(disc, 4, 0)

    def info(args: str) -> str:
        panda = Panda(generic="i386", extra_args=args, verbose=False)
        try:
            return panda.run_monitor_cmd("info block")
        finally:
            panda.close()

    assert info("").startswith("ide1-cd0: [not inserted]\n    Removable device: not locked, tray closed")
    assert info("-nodefaults") == ""
    assert info(f"-cdrom {disc}").startswith(f"ide1-cd0: {disc} (read-only)")
    both = info(f"-drive file={disc},media=cdrom,index=3 -drive media=cdrom,index=1")
    assert "ide0-cd1: [not inserted]" in both and f"ide1-cd1: {disc}" in both and "ide1-cd0" in both
    assert info(f"-nodefaults -drive file={disc},if=ide,media=cdrom").startswith(f"ide0-cd0: {disc}")
    for args, complaint in [(f"-cdrom {disc} -hdc {disc}", "IDE drive 2 is given twice"),
                            (f"-cdrom {tmp_path / 'gone.iso'}", "gone.iso"),
                            ("-drive media=floppy,file=x", "media is disk or cdrom"),
                            ("-drive media=cdrom,size=1M", "takes no size=")]:
        with pytest.raises(PandaError, match=complaint):
            Panda(generic="i386", extra_args=args, verbose=False)


@pytest.mark.slow
def test_the_default_drive_is_empty_then_takes_and_gives_back_discs(guest, tmp_path):
    one = tmp_path / "one.iso"
    sha_one = _disc(one, 300, 1)
    panda = Panda(generic="debian-i386", verbose=False)
    out: Dict[str, str] = {}

    @panda.queue_blocking
    def driver():
        out["probe"] = panda.run_serial_cmd("modprobe sr_mod; dmesg | grep -e ATAPI -e sr0", timeout=120)
        out["empty"] = panda.run_serial_cmd(f"dd if=/dev/sr0 of=/dev/null bs={BLOCK} count=1", timeout=60)
        out["info_empty"] = _monitor(panda, "info block")
        out["change"] = _monitor(panda, f"change ide1-cd0 {one}")
        out["one"] = panda.run_serial_cmd(_read_disc(300), timeout=120)
        # the guest holds the drive open: Linux's cdrom layer locks the tray
        panda.run_serial_cmd("sleep 1000 < /dev/sr0 & sleep 1", timeout=60)
        out["locked_info"] = _monitor(panda, "info block")
        out["locked"] = _monitor(panda, "eject ide1-cd0")
        out["forced"] = _monitor(panda, "eject -f ide1-cd0")
        panda.run_serial_cmd("kill %1; wait", timeout=60)
        out["ejected"] = panda.run_serial_cmd(f"dd if=/dev/sr0 of=/dev/null bs={BLOCK} count=1", timeout=60)
        out["disk"] = _monitor(panda, f"change ide0-hd0 {one}")
        out["unknown"] = _monitor(panda, "eject ide3-cd7")
        out["missing"] = _monitor(panda, f"change ide1-cd0 {tmp_path / 'gone.iso'}")
        panda.end_analysis()

    panda.run()
    panda.close()
    assert "ATAPI: QEMU DVD-ROM" in out["probe"] and "sr0" in out["probe"]
    assert "No medium found" in out["empty"]
    assert "ide1-cd0: [not inserted]" in out["info_empty"]
    assert not out["change"].startswith("error")
    assert out["one"].split() == [sha_one, "-", str(300 * 4)]
    assert "Removable device: locked" in out["locked_info"]
    assert "Device 'ide1-cd0' is locked and force was not specified" in out["locked"]
    assert not out["forced"].startswith("error")
    assert "No medium found" in out["ejected"]
    assert "not removable" in out["disk"]
    assert "Device 'ide3-cd7' not found" in out["unknown"]
    assert "gone.iso" in out["missing"]


@pytest.mark.slow
def test_a_recording_of_disc_reads_and_changes_replays_without_the_images(guest, tmp_path):
    one, two = tmp_path / "one.iso", tmp_path / "two.iso"
    sha_one, sha_two = _disc(one, 200, 2), _disc(two, 77, 3)
    name = str(tmp_path / "cd")
    live = Panda(generic="debian-i386", extra_args=f"-cdrom {one}", verbose=False)
    out: List[str] = []

    @live.queue_blocking
    def driver():
        live.run_serial_cmd("modprobe sr_mod; sleep 1", timeout=120)
        live.run_monitor_cmd(f"begin_record {name}")
        out.append(live.run_serial_cmd(_read_disc(200), timeout=120))
        live.run_monitor_cmd(f"change ide1-cd0 {two}")          # during the recording
        out.append(live.run_serial_cmd(_read_disc(77), timeout=120))
        live.run_monitor_cmd("eject ide1-cd0")
        out.append(live.run_serial_cmd(f"dd if=/dev/sr0 of=/dev/null bs={BLOCK} count=1", timeout=60))
        live.run_monitor_cmd("end_record")
        live.end_analysis()

    live.run()
    live.close()
    assert out[0].split() == [sha_one, "-", "800"]
    assert out[1].split() == [sha_two, "-", "308"]
    assert "No medium found" in out[2]
    os.unlink(one)
    os.unlink(two)

    # the drive starts empty here: the snapshot brings the first disc's
    # size, the log its data and the change
    panda = Panda(generic="debian-i386", verbose=False)
    consoles = []
    for _ in range(2):
        before = len(panda.serial_log)
        panda.run_replay(name)
        assert panda.replay_finished
        consoles.append((panda.instr_count(), panda.serial_log[before:]))
    panda.close()
    assert consoles[0] == consoles[1]
    console = consoles[0][1]
    assert sha_one in console and sha_two in console and "No medium found" in console
