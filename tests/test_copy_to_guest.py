"""Panda.copy_to_guest (pypanda/guest_files.py), pandare's way of bringing a
host directory into the guest on a CD.

- The steps over a fake guest shell and monitor (fast, no guest): what is
  typed and sent, in which order, the mount retries, the errors.
- Where it may be called from (a driver function only).
- On the disk guest (slow, needs the pc machine's ATAPI CD-ROM drive): a
  static i386 program assembled here, with a setup.sh, copied in and run;
  then the same copy and run recorded, the ISO deleted, and replayed.  These
  skip while the machine has no CD drive (the monitor does not know
  ``change``)."""
from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

from pypanda import Panda, errors
from pypanda.guest_files import DEFAULT_CDROM, MOUNT_ATTEMPTS, GuestCommandError, copy_in
from pypanda.panda import guest_dir

STATUS_ECHO = '; echo "[pypanda-status $?]"'


class FakeGuest:
    """A shell and a monitor that answer as the disk guest would."""

    def __init__(self, mount_failures: int = 0, fail: Optional[str] = None, change_reply: str = "") -> None:
        self.mount_failures = mount_failures
        self.fail = fail                  # commands starting with this fail
        self.change_reply = change_reply
        self.typed: List[str] = []
        self.timeouts: List[Optional[float]] = []
        self.monitor_cmds: List[str] = []
        self.events: List[str] = []       # shell and monitor, in order

    def run(self, cmd: str, timeout: Optional[float]) -> str:
        self.typed.append(cmd)
        self.timeouts.append(timeout)
        self.events.append("$ " + cmd)
        body = cmd[:-len(STATUS_ECHO)] if cmd.endswith(STATUS_ECHO) else cmd
        status, out = self.answer(body)
        if body is cmd:
            return out
        return (out + "\n" if out else "") + f"[pypanda-status {status}]"

    def answer(self, body: str) -> Tuple[int, str]:
        if "mount -t iso9660" in body:
            if self.mount_failures:
                self.mount_failures -= 1
                return 32, "mount: /cdtool.ro: wrong fs type, bad option, bad superblock on /dev/sr0"
            return 0, ""
        if body.startswith("dmesg"):
            return 0, "sr 1:0:0:0: [sr0] tag#0 Sense Key : Unit Attention"
        if self.fail is not None and body.startswith(self.fail):
            return 1, "cp: cannot create regular file 'cdtool/x': No space left on device"
        if body.endswith("setup.sh"):
            return 0, "setup done"
        return 0, ""

    def monitor(self, cmd: str) -> str:
        self.monitor_cmds.append(cmd)
        self.events.append("monitor " + cmd)
        return self.change_reply if cmd.startswith("change") else ""


@pytest.fixture
def tool_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cdtool"
    d.mkdir()
    (d / "setup.sh").write_text("#!/bin/sh\necho setup done\n")
    (d / "setup.sh").chmod(0o755)
    (d / "data.txt").write_text("data\n")
    return d


def steps(fake: FakeGuest) -> List[str]:
    return [e.replace(STATUS_ECHO, "") for e in fake.events]


def test_the_steps_in_order(tool_dir):
    fake = FakeGuest()
    copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    iso = f"{tool_dir}.iso"
    assert os.path.getsize(iso) > 16 * 2048          # pandare's default name, made first
    got = steps(fake)
    assert got[0] == "$ mkdir -p cdtool cdtool.ro"
    assert got[1] == f"monitor change {DEFAULT_CDROM} {iso}"
    assert "modprobe sr_mod" in got[2] and "modprobe isofs" in got[2]
    assert got[2].endswith('mount -t iso9660 -o ro "$dev" cdtool.ro')
    assert got[3:] == ["$ cp -a cdtool.ro/. cdtool", "$ umount cdtool.ro",
                       f"monitor eject {DEFAULT_CDROM}", "$ cdtool/setup.sh"]


def test_absolute_paths_iso_name_drive_and_timeout(tool_dir, tmp_path):
    fake = FakeGuest()
    iso = tmp_path / "my image.iso"
    copy_in(fake.run, fake.monitor, str(tool_dir), iso_name=str(iso), absolute_paths=True,
                   timeout=123.0, cdrom="ide0-cd1", verbose=False)
    assert iso.exists()
    assert fake.monitor_cmds == [f'change ide0-cd1 "{iso}"', "eject ide0-cd1"]
    assert fake.typed[0].startswith(f"mkdir -p {tool_dir} {tool_dir}.ro")
    assert fake.typed[-1] == f"{tool_dir}/setup.sh"
    assert set(fake.timeouts) == {123.0}


def test_no_setup_script_no_setup(tool_dir):
    os.unlink(tool_dir / "setup.sh")
    fake = FakeGuest()
    copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    assert not any("setup" in c for c in fake.typed)
    fake = FakeGuest()
    (tool_dir / "install").write_text("#!/bin/sh\n")
    copy_in(fake.run, fake.monitor, str(tool_dir), setup_script="install", verbose=False)
    assert fake.typed[-1] == "cdtool/install"


def test_mount_is_retried_while_the_drive_reports_the_media_change(tool_dir):
    fake = FakeGuest(mount_failures=3)
    copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    mounts = [c for c in fake.typed if "mount -t iso9660" in c]
    assert len(mounts) == 4
    assert sum('umount "$dev"' in c and "sleep 1" in c for c in fake.typed) == 3
    assert any(c.startswith("cp -a") for c in fake.typed)


def test_a_disc_that_never_mounts(tool_dir):
    fake = FakeGuest(mount_failures=99)
    with pytest.raises(GuestCommandError) as info:
        copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    msg = str(info.value)
    assert f"did not mount after {MOUNT_ATTEMPTS} attempts" in msg
    assert "mount -t iso9660" in msg and "wrong fs type" in msg and "Unit Attention" in msg
    assert info.value.status == 32
    assert sum("mount -t iso9660" in c for c in fake.typed) == MOUNT_ATTEMPTS
    assert fake.monitor_cmds[-1] == f"eject {DEFAULT_CDROM}"     # disconnected all the same
    assert not any(c.startswith("cp ") for c in fake.typed)


def test_a_failing_copy_names_the_command_and_the_output(tool_dir):
    fake = FakeGuest(fail="cp -a")
    with pytest.raises(GuestCommandError, match=r"(?s)the copy failed: the guest command 'cp -a cdtool.ro/. "
                                                r"cdtool' exited with status 1.*No space left") as info:
        copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    assert isinstance(info.value, RuntimeError)      # as pandare's RuntimeError
    assert steps(fake)[-2:] == ["$ umount cdtool.ro", f"monitor eject {DEFAULT_CDROM}"]
    assert not any("setup" in c for c in fake.typed)


def test_a_failing_mkdir(tool_dir):
    fake = FakeGuest(fail="mkdir")
    with pytest.raises(GuestCommandError, match="could not create the directories"):
        copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    assert fake.monitor_cmds == []


def test_no_cd_drive(tool_dir):
    fake = FakeGuest(change_reply="unknown command: 'change ide1-cd0 /x.iso'")
    with pytest.raises(errors.UnsupportedError, match="needs a CD-ROM drive"):
        copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)
    assert not any("mount" in c for c in fake.typed)
    fake = FakeGuest(change_reply="Device 'ide1-cd0' not found")
    with pytest.raises(errors.PandaError, match="'change ide1-cd0 .*' failed: Device 'ide1-cd0' not found"):
        copy_in(fake.run, fake.monitor, str(tool_dir), verbose=False)


def test_refusals_before_anything_is_typed(tmp_path):
    fake = FakeGuest()
    with pytest.raises(ValueError, match="is not a directory"):
        copy_in(fake.run, fake.monitor, str(tmp_path / "missing"), verbose=False)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "out").symlink_to("/etc")
    with pytest.raises(ValueError, match="absolute"):
        copy_in(fake.run, fake.monitor, str(tmp_path / "d"), verbose=False)
    assert fake.events == []


# ---- where it may be called from ---------------------------------------------------

def test_needs_the_pc_machine(machine, tool_dir):
    from conftest import SUM_LOOP
    panda, _ = machine(SUM_LOOP)
    with pytest.raises(errors.UnsupportedError, match="needs a CD-ROM drive and a serial console"):
        panda.copy_to_guest(str(tool_dir))
    assert not Path(f"{tool_dir}.iso").exists()


def test_needs_a_driver_function(tool_dir):
    if not (guest_dir("i386") / "guest.json").exists():
        pytest.skip("the i386 guest is not built (python -m pypanda.guest)")
    panda = Panda(generic="i386", verbose=False)
    try:
        assert panda.cdrom == DEFAULT_CDROM
        with pytest.raises(errors.StateError, match="queue_blocking"):
            panda.copy_to_guest(str(tool_dir))              # not running
        with pytest.raises(errors.StateError, match="queue_blocking"):
            panda.record_cmd("ls", copy_directory=str(tool_dir))
        seen: Dict[str, BaseException] = {}

        @panda.cb_before_block_exec
        def in_a_callback(cpu, tb):
            try:
                panda.copy_to_guest(str(tool_dir))
            except errors.StateError as exc:
                seen["exc"] = exc
            panda.end_analysis()

        panda.run()
        assert "cannot run in a callback" in str(seen["exc"])
    finally:
        panda.close()


# ---- on the disk guest (needs the CD-ROM drive) ---------------------------------------

def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"'{name}' is missing: install binutils")
    return path


def hello_program(directory: Path, line: str) -> None:
    """A static i386 ELF that writes ``line`` and exits 0 (int 0x80, no libc)."""
    work = directory.parent
    src = work / "hello.s"
    src.write_text(f"""
    .section .data
msg: .ascii "{line}\\n"
len = . - msg
    .section .text
    .globl _start
_start:
    mov $4, %eax        # write(1, msg, len)
    mov $1, %ebx
    mov $msg, %ecx
    mov $len, %edx
    int $0x80
    mov $1, %eax        # exit(0)
    xor %ebx, %ebx
    int $0x80
""")
    obj = work / "hello.o"
    subprocess.run([_tool("as"), "--32", "-o", str(obj), str(src)], check=True)
    subprocess.run([_tool("ld"), "-m", "elf_i386", "-o", str(directory / "Hello World"), str(obj)], check=True)


@pytest.fixture
def cd_tool(tmp_path: Path) -> Tuple[Path, str]:
    """A directory with the program (its line carries a random token) and a
    setup.sh that leaves a mark."""
    d = tmp_path / "CdTool"
    d.mkdir()
    token = secrets.token_hex(8)
    hello_program(d, f"hello from the CD {token}")
    (d / "setup.sh").write_text(f"#!/bin/sh\necho setup {token} ran > /tmp/setup-ran\n")
    (d / "setup.sh").chmod(0o755)
    return d, token


def disk_guest() -> None:
    if not (guest_dir("debian-i386") / "guest.json").exists():
        pytest.fail("build the disk guest first: python -m pypanda.guest debian-i386 (scripts/test.sh does)")


def skip_without_cd(result: Dict[str, str]) -> None:
    if "no_cd" in result:
        pytest.skip(f"this machine has no CD-ROM drive yet: {result['no_cd']}")


@pytest.mark.slow
def test_copy_and_run_a_program(cd_tool):
    disk_guest()
    tool, token = cd_tool
    panda = Panda(generic="debian-i386", verbose=False)
    result: Dict[str, str] = {}

    @panda.queue_blocking
    def driver():
        try:
            panda.run_serial_cmd("cd /")
            panda.copy_to_guest(str(tool))
        except errors.UnsupportedError as exc:
            result["no_cd"] = str(exc)
        else:
            result["run"] = panda.run_serial_cmd("'/CdTool/Hello World'; echo status $?")
            result["setup"] = panda.run_serial_cmd("cat /tmp/setup-ran")
            result["ls"] = panda.run_serial_cmd("ls -lN /CdTool; grep -c iso9660 /proc/mounts")
        panda.end_analysis()

    try:
        panda.run()
    finally:
        panda.close()
    skip_without_cd(result)
    assert result["run"].splitlines() == [f"hello from the CD {token}", "status 0"], result
    assert result["setup"] == f"setup {token} ran"
    assert re.search(r"^-rwxr-xr-x .* Hello World$", result["ls"], re.M), result["ls"]
    assert result["ls"].splitlines()[-1] == "0", "the disc is still mounted"


@pytest.mark.slow
def test_recorded_copy_replays_without_the_iso(cd_tool, tmp_path):
    """Record from before the disc goes in to after the program ran, delete
    the ISO, replay: the CD's data comes from the recording.  Then
    record_cmd(copy_directory=...) as pandare has it: the copy is done before
    the recording starts, which holds the command only."""
    disk_guest()
    tool, token = cd_tool
    iso = tmp_path / "tool.iso"
    name, name2 = str(tmp_path / "cdcopy"), str(tmp_path / "cdcmd")
    second = tmp_path / "second"
    second.mkdir()
    hello_program(second, f"second program {token}")
    live = Panda(generic="debian-i386", verbose=False)
    result: Dict[str, str] = {}

    @live.queue_blocking
    def driver():
        live.run_serial_cmd("cd /")
        live.record(name)
        try:
            live.copy_to_guest(str(tool), iso_name=str(iso))
        except errors.UnsupportedError as exc:
            result["no_cd"] = str(exc)
            live.end_record()
            live.end_analysis()
            return
        result["run"] = live.run_serial_cmd("'/CdTool/Hello World'")
        live.end_record()
        result["cmd"] = live.record_cmd("'/second/Hello World'", copy_directory=str(second),
                                        recording_name=name2)
        live.end_analysis()

    try:
        live.run()
    finally:
        live.close()
    skip_without_cd(result)
    assert result["run"] == f"hello from the CD {token}"
    assert result["cmd"] == f"second program {token}"
    os.unlink(iso)
    os.unlink(f"{second}.iso")

    panda = Panda(generic="debian-i386", verbose=False)
    try:
        before = len(panda.serial_log)
        panda.run_replay(name)
        assert panda.replay_finished
        assert f"hello from the CD {token}" in panda.serial_log[before:]
        before = len(panda.serial_log)
        panda.run_replay(name2)
        assert panda.replay_finished
        assert f"second program {token}" in panda.serial_log[before:]
    finally:
        panda.close()
