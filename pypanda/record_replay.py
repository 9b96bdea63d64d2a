"""Record/replay and whole-machine snapshots (pc machine)."""
from __future__ import annotations

import os
import threading
from typing import Callable, Optional

from ._args import c_path, c_string
from ._instance import Instance
from .console import Console, command_output
from .errors import OptionError, StateError, UnsupportedError
from .utils import progress

RR_OFF, RR_RECORDING, RR_REPLAYING = 0, 1, 2   # panda_rr_mode()


def checked_name(name: str, what: str = "name") -> str:
    """A snapshot or recording name as the monitor takes it."""
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise OptionError(f"bad {what} {name!r}: use a non-empty name without spaces")
    c_string(name, what, OptionError)
    return name


class ReplayProgress:
    """Prints a replay's progress every 10% from a helper thread."""

    def __init__(self, rr: "RecordReplay") -> None:
        self._rr = rr
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="pypanda-replay-progress", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        shown = -1
        while not self._stop.wait(0.25):
            frac = self._rr.progress_fraction()
            if frac < 0:
                return
            step = int(frac * 10)
            if step > shown:
                shown = step
                self._rr.report(f"{step * 10:3d}%")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class RecordReplay:
    def __init__(self, instance: Instance, console: Console) -> None:
        self._instance = instance
        self._console = console
        self.replay_name = "replay"

    # ---- snapshots -----------------------------------------------------------

    def snap(self, name: str) -> None:
        self._instance.state_cmd(f"savevm {checked_name(name, 'snapshot name')}", "snap")

    def revert(self, name: str) -> None:
        self._instance.state_cmd(f"loadvm {checked_name(name, 'snapshot name')}", "revert_sync")
        self._console.prompt_seen = True    # a snapshot is taken after boot

    def delvm(self, name: str) -> None:
        self._instance.state_cmd(f"delvm {checked_name(name, 'snapshot name')}", "delvm")

    def _needs_pc(self, what: str) -> None:
        # libpanda aborts saving a bare machine to a file (double free): refuse
        # here as panda_snap does, until the C side checks it itself
        inst = self._instance
        if not inst.is_pc:
            raise UnsupportedError(f"{what}: snapshots need the pc machine "
                                   f"(the {inst.machine} machine has none)")

    def save_file(self, path: str) -> None:
        inst = self._instance
        cpath = c_path(path, "save_snapshot: the path")
        self._needs_pc("save_snapshot")
        if inst.running:      # from the driver thread: between slices
            inst.state_cmd(f"savevm_file {os.fsdecode(cpath)}", "save_snapshot")
            return
        inst.check(inst.lib.panda_snapshot_save_file(inst.handle, cpath))

    def commit_disk(self, path: str, drive: int) -> None:
        inst = self._instance
        cpath = c_path(path, "commit_disk: the path")
        if not isinstance(drive, int) or not 0 <= drive < 4:
            raise OptionError(f"commit_disk: drive {drive!r} is not an IDE drive number (0-3)")
        inst.check(inst.lib.panda_commit_disk(inst.handle, drive, cpath))

    def load_file(self, path: str) -> None:
        inst = self._instance
        cpath = c_path(path, "load_snapshot: the path")
        self._needs_pc("load_snapshot")
        if inst.running:      # from the driver thread: between slices
            inst.state_cmd(f"loadvm_file {os.fsdecode(cpath)}", "load_snapshot")
            self._console.prompt_seen = True
            return
        # before/after_loadvm callbacks raising re-raise here, after the load
        inst.check(inst.call(inst.lib.panda_snapshot_load_file, inst.handle, cpath))

    # ---- recording -------------------------------------------------------------

    def record(self, recording_name: str, snapshot_name: Optional[str]) -> None:
        if snapshot_name is not None:
            self.revert(snapshot_name)
        self._instance.state_cmd(f"begin_record {checked_name(recording_name, 'recording name')}", "record")

    def end_record(self) -> None:
        self._instance.state_cmd("end_record", "end_record")

    def record_cmd(self, guest_command: str, copy: Optional[Callable[[], None]],
                   setup_command: Optional[str], recording_name: str, snap_name: Optional[str]) -> str:
        console = self._console
        console.require_driver("record_cmd")
        if snap_name is not None:
            self.revert(snap_name)
        console.wait_for_first_prompt(300.0)
        if copy is not None:
            copy()          # copy_to_guest, before the recording starts (as pandare)
        if setup_command:
            console.run_serial_cmd(setup_command, False, None)
        console.serial.write(guest_command.encode())
        console.serial.read_until(guest_command.encode(), 30.0)   # its echo
        self.record(recording_name, None)
        console.serial.write(b"\n")
        out, match = console.serial.read_until(console.prompt_regex(), None)
        self.end_record()
        return command_output(out, match)

    @staticmethod
    def recording_exists(name: str) -> bool:
        c_path(name, "recording_exists: the name")
        return os.path.exists(f"{name}-rr-snp") and os.path.exists(f"{name}-rr-nondet.log")

    # ---- replaying ---------------------------------------------------------------

    def begin_replay(self, name: str) -> None:
        inst = self._instance
        if inst.verbose is not False:
            progress(f"replaying {name}")
        cname = c_path(name, "run_replay: the recording")
        try:
            # the recording's snapshot loads now: before/after_loadvm fire
            inst.check(inst.call(inst.lib.panda_replay_begin, inst.handle, cname))
        except BaseException:
            self.abandon()       # a callback raised during the load: no replay half begun
            raise
        self.replay_name = name

    def abandon(self) -> None:
        """End the replay under way, if any (after a run ended in an
        exception), so the next run_replay can begin."""
        inst = self._instance
        if self.mode() == RR_REPLAYING:
            inst.lib.panda_replay_end(inst.handle)

    def end_replay(self) -> None:
        inst = self._instance
        if self.mode() != RR_REPLAYING:
            raise StateError("end_replay: not replaying")
        inst.lib.panda_replay_end(inst.handle)

    def mode(self) -> int:
        return int(self._instance.lib.panda_rr_mode(self._instance.handle))

    @property
    def finished(self) -> bool:
        return bool(self._instance.lib.panda_replay_finished(self._instance.handle))

    def progress_fraction(self) -> float:
        return float(self._instance.lib.panda_replay_progress(self._instance.handle))

    def report(self, how_far: str, outcome: str = "") -> None:
        icount = self._instance.lib.panda_instr_count(self._instance.handle)
        progress(f"{self.replay_name}: {how_far} (instruction {icount:,}){outcome}")

    def start_progress(self) -> Optional[ReplayProgress]:
        """A progress printer for the run about to start, if it replays."""
        if not (self._instance.is_pc and self.mode() == RR_REPLAYING) or self._instance.verbose is False:
            return None
        return ReplayProgress(self)
