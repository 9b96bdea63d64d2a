"""The pc machine boots Debian's i386 kernel to a busybox shell, driven from
Python; the guest image is built by `python -m pypanda.guest` (scripts/test.sh
does that first)."""
from __future__ import annotations

import json
import re
import time

import pytest

from pypanda import GuestExceptionError, OptionError, Panda
from pypanda.panda import guest_dir

from conftest import fake_bzimage

pytestmark = pytest.mark.slow

UNKNOWN_WORD = "pypanda.test_word=untouched"


def guest_info():
    d = guest_dir("i386")
    if not (d / "guest.json").exists():
        pytest.fail(f"the reference guest is not built in {d}: run 'python -m pypanda.guest'")
    return d, json.loads((d / "guest.json").read_text())


@pytest.fixture(scope="module")
def session():
    """One boot: commands typed at the prompt, then power-off."""
    d, info = guest_info()
    panda = Panda(generic="i386", extra_args=["-append", info["cmdline"] + " " + UNKNOWN_WORD])
    seen = {"blocks": 0, "pcs": [], "asids": set(), "asid_events": 0}
    out = {}

    @panda.cb_before_block_exec(name="early_blocks")
    def bbe(cpu, tb):
        # the first 100k blocks of the boot, with registers read live
        seen["blocks"] += 1
        if seen["blocks"] % 10000 == 1:
            seen["pcs"].append((tb.contents.pc, panda.arch.get_reg(cpu, "EIP"),
                                panda.arch.get_reg(cpu, "ESP")))
        if seen["blocks"] == 100000:
            panda.disable_callback("early_blocks")

    @panda.cb_asid_changed
    def asid(cpu, old, new):
        seen["asids"].add(new)
        seen["asid_events"] += 1
        return False

    @panda.queue_blocking
    def driver():
        out["uname"] = panda.run_serial_cmd("uname -a")
        out["prompt_icount"] = panda.instr_count()
        out["answer"] = panda.run_serial_cmd("echo $((6*7))")
        out["cmdline"] = panda.run_serial_cmd("cat /proc/cmdline")
        out["irq1"] = panda.run_serial_cmd("cat /proc/interrupts")
        time.sleep(0.2)
        out["irq2"] = panda.run_serial_cmd("cat /proc/interrupts")
        out["registers"] = panda.run_monitor_cmd("info registers")
        panda.type_serial_cmd("poweroff -f\n")

    t0 = time.monotonic()
    panda.run()
    out["wall"] = time.monotonic() - t0
    out["final_icount"] = panda.instr_count()
    out["open_bus"] = panda._lib.panda_open_bus_count(panda._handle)
    out["halted"] = panda.guest_halted
    out["reason"] = panda.stop_reason
    out["log"] = panda.serial_log
    return panda, info, seen, out


def test_uname_reports_the_debian_kernel(session):
    panda, info, seen, out = session
    assert "i686" in out["uname"]
    assert info["kernel_release"] in out["uname"]           # 6.1.0-50-686-pae
    kernel_pkg = next(p for p in info["packages"] if p["name"] == info["kernel_package"])
    assert f"Debian {kernel_pkg['version']}" in out["uname"]  # Debian 6.1.176-1
    assert out["uname"].startswith("Linux ")


def test_shell_arithmetic(session):
    assert session[3]["answer"] == "42"


def test_unknown_append_word_reaches_the_guest(session):
    assert UNKNOWN_WORD in session[3]["cmdline"]


def _count(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.rstrip().endswith(name):
            return int(line.split()[1])
    raise AssertionError(f"no {name} line in {text!r}")


def test_timer_and_serial_interrupts_count_up(session):
    out = session[3]
    assert _count(out["irq2"], "timer") > _count(out["irq1"], "timer") > 0
    assert _count(out["irq2"], "ttyS0") > _count(out["irq1"], "ttyS0") > 0


def test_poweroff_ends_run(session):
    out = session[3]
    assert out["halted"]
    assert "powered off" in out["reason"]
    assert "reboot: System halted" in out["log"]


def test_boot_callbacks(session):
    panda, info, seen, out = session
    assert seen["blocks"] == 100000
    # the first blocks run the decompressor at 1 MiB and up; registers read
    # in the callback agree with the block being entered
    assert seen["pcs"][0][0] >= 0x6000
    assert all(pc == eip for pc, eip, _ in seen["pcs"])
    assert all(esp != 0 for _, _, esp in seen["pcs"][1:])
    # several processes: init, the shells, each command
    assert len(seen["asids"]) >= 4
    assert seen["asid_events"] > len(seen["asids"])
    # the reference kernel runs about 2.7e9 instructions to its prompt
    assert 1e9 < out["prompt_icount"] < 2e10
    assert out["final_icount"] > out["prompt_icount"]


def test_unknown_ports_read_as_open_bus(session):
    # the kernel probes hardware this machine lacks (Super-I/O at 0x2e/0x4e,
    # the DMA page register 0x87, ...): counted, never fatal
    assert session[3]["open_bus"] > 0


def test_monitor_info_registers(session):
    regs = session[3]["registers"]
    assert re.search(r"EIP=[0-9a-f]{8}", regs)
    assert "CR3=" in regs


def _boot_to_prompt() -> int:
    panda = Panda(generic="i386", verbose=False)
    result = {}

    @panda.queue_blocking
    def driver():
        panda.serial_read_until(b"guest# ")
        # the shell prints nothing more until it gets input
        last = -1
        while last != panda._lib.panda_serial_output_total(panda._handle):
            last = panda._lib.panda_serial_output_total(panda._handle)
            time.sleep(0.3)
        result["icount"] = panda._lib.panda_serial_output_icount(panda._handle)
        panda.end_analysis()

    panda.run()
    panda.close()
    return result["icount"]


def test_same_boot_same_instruction_count_at_prompt():
    guest_info()
    first, second = _boot_to_prompt(), _boot_to_prompt()
    assert first == second
    assert first > 1e9


def test_missing_kernel_is_named(tmp_path):
    missing = tmp_path / "no-such-vmlinuz"
    with pytest.raises(OptionError, match=f"cannot open the kernel '{missing}'"):
        Panda(arch="i386", extra_args=["-M", "pc", "-kernel", str(missing)])


def test_not_a_bzimage(tmp_path):
    bogus = tmp_path / "bogus"
    bogus.write_bytes(b"\x7fELF" + bytes(4096))
    with pytest.raises(OptionError, match="is not a Linux bzImage"):
        Panda(arch="i386", extra_args=["-M", "pc", "-kernel", str(bogus)])


def test_pc_machine_boots_a_kernel_or_firmware_not_both(tmp_path):
    rom = tmp_path / "bios.bin"
    rom.write_bytes(bytes(65536))
    with pytest.raises(OptionError, match="give -bios or -kernel, not both"):
        Panda(arch="i386", extra_args=["-M", "pc", "-kernel", str(rom), "-bios", str(rom)])


def test_triple_fault_names_fault_and_pc(tmp_path):
    # an empty IDT: int3 -> #GP -> #DF -> triple fault
    kernel = tmp_path / "tf.bzImage"
    kernel.write_bytes(fake_bzimage(bytes.fromhex(
        "6a00"        # push $0
        "6a00"        # push $0
        "0f011c24"    # lidt (%esp)        limit 0
        "cc"          # int3
    )))
    panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(kernel)])
    with pytest.raises(GuestExceptionError, match=r"triple-faulted .* at pc 0x100008"):
        panda.run()


def test_guest_reboot_ends_run():
    guest_info()
    panda = Panda(generic="i386", verbose=False)

    @panda.queue_blocking
    def driver():
        panda.run_serial_cmd("true")
        panda.type_serial_cmd("reboot -f\n")     # the i8042's 0xFE reset pulse

    panda.run()
    assert panda.guest_halted
    assert "reset the machine" in panda.stop_reason
    with pytest.raises(RuntimeError, match="create a new Panda"):
        panda.run()
