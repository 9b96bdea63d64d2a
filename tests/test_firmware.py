"""The pc machine's firmware path: the CPU out of RESET in real mode, small
real-mode ROMs assembled at test time (interrupts through the IVT, a
protected-mode round trip, the A20 gate), bad ROMs, and SeaBIOS itself
booting nothing, a disk with no boot signature, and the disk guest."""
from __future__ import annotations

import json
import re
import struct
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from conftest import OUTB_MACRO, _tool, fake_bzimage
from pypanda import Panda
from pypanda.errors import GuestBootError, OptionError
from pypanda.firmware import bios_path, info as firmware_info
from pypanda.panda import guest_dir

ROM_SIZE = 0x10000


@pytest.fixture(scope="module")
def rom16(tmp_path_factory):
    """rom16(source) -> (path of a 64 KiB ROM, {label: offset in F000}).
    The source is 16-bit code at F000:0000; the reset vector jumps to
    `start`."""
    workdir = tmp_path_factory.mktemp("rom")
    count = [0]

    def build(source: str) -> Tuple[Path, Dict[str, int]]:
        count[0] += 1
        stem = workdir / f"rom{count[0]}"
        stem.with_suffix(".s").write_text(
            ".code16\n.globl start\n.text\n" + source +
            "\n.org 0xfff0\nreset:\n    ljmp $0xf000, $start\n.org 0x10000\n")
        obj, elf, binf = (stem.with_suffix(s) for s in (".o", ".elf", ".bin"))
        subprocess.run([_tool("as"), "--32", "-o", str(obj), str(stem.with_suffix(".s"))], check=True)
        subprocess.run([_tool("ld"), "-m", "elf_i386", "-Ttext", "0", "-e", "start", "-o", str(elf),
                        str(obj)], check=True)
        subprocess.run([_tool("objcopy"), "-O", "binary", "-j", ".text", str(elf), str(binf)], check=True)
        assert binf.stat().st_size == ROM_SIZE
        labels = {}
        for line in subprocess.run([_tool("nm"), str(elf)], check=True, capture_output=True,
                                   text=True).stdout.splitlines():
            parts = line.split()
            if len(parts) == 3:
                labels[parts[2]] = int(parts[0], 16)
        return binf, labels

    return build


def run_rom(path: Path, mem: str = "4M") -> Panda:
    """Boot a ROM on the pc machine with no disks; it ends with cli; hlt."""
    panda = Panda(arch="i386", mem=mem, extra_args=["-bios", str(path)], verbose=False)
    panda.run()
    assert "halted with interrupts disabled" in panda.stop_reason, panda.stop_reason
    return panda


def regs(panda: Panda, *names: str) -> List[int]:
    cpu = panda.get_cpu()
    return [panda.arch.get_reg(cpu, n) for n in names]


def test_reset_state_and_an_interrupt_through_the_ivt(rom16):
    path, labels = rom16("""
start:
    mov %edx, %ebp              # EDX out of RESET: the CPUID signature
    mov %cr0, %esi              # CR0 out of RESET
    mov %cs, %di
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7000, %sp
    movw $handler, 0x100        # vector 0x40 -> F000:handler
    movw $0xf000, 0x102
    mov $0x1111, %bx
    stc
    int $0x40
after_int:
    cli
    hlt
handler:
    mov $0x1234, %ax
    mov %sp, %cx                # SP inside the handler: three words pushed
    iret
""")
    panda = run_rom(path)
    eax, ebx, ecx, esi, edi, ebp, esp, cs, ss, eflags = regs(
        panda, "EAX", "EBX", "ECX", "ESI", "EDI", "EBP", "ESP", "CS", "SS", "EFLAGS")
    assert esi == 0x60000010                          # CD, NW, ET: real mode
    assert edi & 0xffff == 0xf000                     # CS out of RESET
    assert ebp != 0 and (ebp >> 8) & 0xf == 6         # qemu32: family 6
    assert eax & 0xffff == 0x1234 and ebx & 0xffff == 0x1111
    assert ecx & 0xffff == 0x7000 - 6 and esp & 0xffff == 0x7000
    assert cs == 0xf000 and ss == 0
    assert eflags & 1                                 # iret gave back the carry set before int
    ip, seg, flags = struct.unpack("<HHH", panda.physical_memory_read(0x7000 - 6, 6))
    assert (ip, seg) == (labels["after_int"], 0xf000)  # the return address int pushed
    assert flags & 1 and not flags & 0x200
    panda.close()


def test_protected_mode_and_back(rom16):
    path, labels = rom16("""
start:
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %ss
    mov $0x7000, %sp
    lgdtl %cs:gdt_desc
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, $(0xf0000 + pm32)
.code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    movl $0xcafebabe, 0x200000      # above 1 MiB: a 32-bit flat segment
    mov 0x200000, %edi
    mov %cr0, %esi
    ljmp $0x18, $pm16
.code16
pm16:
    mov $0x20, %ax
    mov %ax, %ds                    # a 64 KiB data segment before leaving
    mov %cr0, %eax
    and $0xfffffffe, %eax
    mov %eax, %cr0
    ljmp $0xf000, $real
real:
    xor %ax, %ax
    mov %ax, %ds
    mov %cr0, %ebx
    mov %cs, %cx
    cli
    hlt
end:
.align 8
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff        # 0x08: 32-bit code, base 0, 4 GiB
    .quad 0x00cf92000000ffff        # 0x10: 32-bit data, base 0, 4 GiB
    .quad 0x00009a0f0000ffff        # 0x18: 16-bit code, base 0xf0000
    .quad 0x000092000000ffff        # 0x20: 16-bit data, base 0
gdt_end:
gdt_desc:
    .word gdt_end - gdt - 1
    .long 0xf0000 + gdt
""")
    panda = run_rom(path)
    ebx, ecx, esi, edi, eip = regs(panda, "EBX", "ECX", "ESI", "EDI", "EIP")
    assert edi == 0xcafebabe
    assert esi == 0x60000011                          # PE set in protected mode
    assert ebx == 0x60000010                          # and clear again
    assert ecx & 0xffff == 0xf000
    assert eip == labels["end"]                       # after hlt, in segment F000
    assert panda.physical_memory_read(0x200000, 4) == struct.pack("<I", 0xcafebabe)
    panda.close()


def test_a20_wraps_when_off_by_port_92_and_the_keyboard_controller(rom16):
    path, _ = rom16("""
start:
    xor %ax, %ax
    mov %ax, %ds
    mov $0xffff, %ax
    mov %ax, %es                    # ES:0010 is linear 1 MiB
    movb $0x11, 0
    movb $0x22, %es:0x10
    mov 0, %bl                      # A20 on (as out of RESET): no wrap
    mov $0, %al
    out %al, $0x92                  # A20 off
    mov %es:0x10, %bh               # wraps to linear 0
    movb $0x33, %es:0x10
    mov 0, %cl                      # the write wrapped too
    in $0x92, %al
    mov %al, %dl
    mov $2, %al
    out %al, $0x92                  # A20 on
    mov %es:0x10, %ch               # 1 MiB again
    mov $0xdd, %al
    out %al, $0x64                  # the i8042's A20 off
    mov %es:0x10, %dh
    mov $0xdf, %al
    out %al, $0x64                  # and on
    mov %es:0x10, %ah
    cli
    hlt
""")
    panda = run_rom(path)
    eax, ebx, ecx, edx = regs(panda, "EAX", "EBX", "ECX", "EDX")
    assert ebx & 0xffff == 0x1111
    assert ecx & 0xffff == 0x2233
    assert edx & 0xffff == 0x3300                    # port 0x92 read back 0: bit 0 is no reset
    assert (eax >> 8) & 0xff == 0x22
    assert panda.physical_memory_read(0x100000, 1) == b"\x22"
    assert panda.physical_memory_read(0, 1) == b"\x33"
    panda.close()


def test_writes_to_the_rom_are_dropped(rom16):
    path, labels = rom16("""
start:
    mov $0xf000, %ax
    mov %ax, %ds
    mov marker, %bx                 # the ROM's word, through the alias below 1 MiB
    movw $0x5555, marker            # PAM says ROM: the write goes nowhere
    mov marker, %cx
    mov $0xffff, %ax
    mov %ax, %es
    cli
    hlt
marker:
    .word 0xbeef
""")
    panda = run_rom(path)
    ebx, ecx = regs(panda, "EBX", "ECX")
    assert ebx & 0xffff == 0xbeef and ecx & 0xffff == 0xbeef
    assert panda.physical_memory_read(0xf0000 + labels["marker"], 2) == b"\xef\xbe"
    assert panda.physical_memory_read(0xfffffff0, 1) == b"\xea"   # the ROM at the top of 4 GiB
    panda.close()


def test_bad_bios_roms(tmp_path):
    with pytest.raises(OptionError, match="cannot open the BIOS ROM '/nonexistent/rom'"):
        Panda(arch="i386", extra_args=["-bios", "/nonexistent/rom"])
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(Path(bios_path()).read_bytes()[:200000])
    with pytest.raises(OptionError, match="200000 bytes; a BIOS ROM is a whole number of 64 KiB blocks"):
        Panda(arch="i386", extra_args=["-bios", str(truncated)])
    blank = tmp_path / "blank.bin"
    blank.write_bytes(bytes(ROM_SIZE))
    with pytest.raises(OptionError, match="not a BIOS ROM: no jump at its reset vector"):
        Panda(arch="i386", extra_args=["-bios", str(blank)])
    with pytest.raises(OptionError, match="is a directory|not a regular file"):
        Panda(arch="i386", extra_args=["-bios", str(tmp_path)])
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as f:
        f.truncate(32 << 20)
    with pytest.raises(OptionError, match="at most"):
        Panda(arch="i386", extra_args=["-bios", str(huge)])


def test_the_cached_seabios_is_debians_and_intact():
    meta = firmware_info()
    assert meta["package"] == "seabios" and meta["size"] == 262144
    assert Path(bios_path()).read_bytes()[-16] == 0xea


def test_seabios_with_nothing_to_boot_fails_run_clearly(tmp_path):
    panda = Panda(arch="i386", mem="64M", verbose=False)    # no disk: SeaBIOS is all there is
    with pytest.raises(GuestBootError, match="the BIOS found no bootable device"):
        panda.run()
    log = panda.bios_log
    assert "SeaBIOS (version 1.16" in log and "No bootable device." in log
    assert "Found 3 PCI devices" in log                       # i440FX, PIIX3, PIIX IDE
    # its probes of what this PC lacks (fw_cfg, the local APIC, option ROMs)
    # read open bus, counted
    assert panda._lib.panda_open_bus_count(panda._handle) > 0
    with pytest.raises(Exception, match="create a new Panda"):
        panda.run()
    panda.close()

    disk = tmp_path / "blank.raw"
    disk.write_bytes(bytes(1 << 20))                          # no 0x55AA in its first sector
    panda = Panda(arch="i386", mem="64M", qcow=str(disk), verbose=False)
    with pytest.raises(GuestBootError):
        panda.run()
    assert "Booting from Hard Disk..." in panda.bios_log
    assert "Boot failed: not a bootable disk" in panda.bios_log
    panda.close()


# ---- the disk guest through SeaBIOS and GRUB --------------------------------

@pytest.fixture(scope="module")
def disk_guest():
    d = guest_dir("debian-i386")
    meta = d / "guest.json"
    if not meta.exists():
        pytest.fail("build the disk guest first: python -m pypanda.guest debian-i386 (scripts/test.sh does)")
    return d, json.loads(meta.read_text())


def boot_to_prompt(panda: Panda, prompt: str, commands: Tuple[str, ...] = ()) -> Tuple[int, List[str]]:
    seen: Dict[str, object] = {}

    @panda.queue_blocking
    def driver():
        panda.serial_read_until(prompt.encode(), timeout=300)
        # the shell prints nothing more until it gets input
        last = -1
        while last != panda._lib.panda_serial_output_total(panda._handle):
            last = panda._lib.panda_serial_output_total(panda._handle)
            time.sleep(0.3)
        seen["prompt"] = panda._lib.panda_serial_output_icount(panda._handle)
        seen["out"] = [panda.run_serial_cmd(c) for c in commands]
        panda.end_analysis()

    panda.run()
    return seen["prompt"], seen["out"]


@pytest.mark.slow
def test_the_disk_guest_boots_through_seabios_and_grub_the_same_way_twice(disk_guest):
    d, meta = disk_guest
    counts = []
    image = d / meta["image"]["file"]
    for how in ("generic", "qcow"):
        # the generic image, then the seed's own call with only the disk
        panda = (Panda(generic="debian-i386", verbose=False) if how == "generic" else
                 Panda(arch="i386", mem="128M", qcow=str(image), expect_prompt=re.escape(meta["prompt"]),
                       verbose=False))
        assert "-kernel" not in panda.panda_args and "-bios" in panda.panda_args
        prompt_at, (cmdline, partitions) = boot_to_prompt(panda, meta["prompt"],
                                                       ("cat /proc/cmdline", "cat /proc/partitions"))
        log = panda.bios_log
        panda.close()
        assert "ata0-0: PYPANDA HARDDISK" in log and "Booting from Hard Disk..." in log
        assert "BOOT_IMAGE=/boot/vmlinuz" in cmdline and meta["cmdline"] in cmdline   # GRUB's line
        assert "sda1" in partitions
        counts.append(prompt_at)
    assert counts[0] == counts[1], counts


@pytest.mark.slow
def test_a_recording_of_a_firmware_boot_replays_instruction_exactly(disk_guest, tmp_path):
    _, meta = disk_guest
    name = str(tmp_path / "firmware-boot")
    live = Panda(generic="debian-i386", verbose=False)
    live.record(name)                       # before run(): from the reset vector on
    out: Dict[str, object] = {}

    @live.queue_blocking
    def driver():
        out["cmdline"] = live.run_serial_cmd("cat /proc/cmdline", timeout=300)
        live.end_record()
        live.end_analysis()

    live.run()
    live_console, live_bios = live.serial_log, live.bios_log
    live.close()
    assert meta["cmdline"] in out["cmdline"]

    replay = Panda(generic="debian-i386", verbose=False)
    replay.run_replay(name)
    assert replay.replay_finished
    # the same BIOS messages and the same console, byte for byte, up to the
    # recording's end (the end came just after the command's prompt)
    assert replay.bios_log == live_bios and "Booting from Hard Disk..." in replay.bios_log
    replayed = replay.serial_log
    assert replayed and live_console.startswith(replayed), (len(replayed), len(live_console))
    assert meta["cmdline"] in replayed
    assert replay.instr_count() > 1_000_000_000      # SeaBIOS, GRUB, Linux: all of it replayed
    replay.close()


@pytest.mark.slow
def test_snapshots_bring_back_the_bios_area_as_pam_had_it(disk_guest):
    _, meta = disk_guest
    rom = Path(bios_path()).read_bytes()
    panda = Panda(generic="debian-i386", verbose=False)
    panda.snap("reset")                     # before run(): every PAM region says ROM
    boot_to_prompt(panda, meta["prompt"])
    # SeaBIOS copied its MP floating pointer into the F segment's shadow RAM
    m = re.search(r"Copying MPTABLE from 0x[0-9a-f]+/[0-9a-f]+ to 0x([0-9a-f]+)", panda.bios_log)
    assert m, panda.bios_log
    where = int(m.group(1), 16)
    in_rom = rom[len(rom) - (0x100000 - where):][:4]
    assert bytes(panda.physical_memory_read(where, 4)) == b"_MP_" != in_rom
    panda.snap("prompt")
    panda.revert_sync("reset")
    assert bytes(panda.physical_memory_read(where, 4)) == in_rom       # the ROM again
    panda.revert_sync("prompt")
    assert bytes(panda.physical_memory_read(where, 4)) == b"_MP_"      # the read-only shadow
    panda.close()


@pytest.mark.slow
def test_a_guest_reboot_goes_through_the_bios_again(disk_guest):
    _, meta = disk_guest
    panda = Panda(generic="debian-i386", verbose=False)
    out: Dict[str, str] = {}

    @panda.queue_blocking
    def driver():
        panda.run_serial_cmd("echo 1 > /proc/sys/kernel/printk", timeout=300)
        panda.type_serial_cmd("reboot -f\n")               # the i8042's reset pulse
        panda.serial_read_until(b"GUEST-READY", timeout=300)
        panda.serial_read_until(meta["prompt"].encode(), timeout=60)
        out["uptime"] = panda.run_serial_cmd("cut -d' ' -f1 /proc/uptime")
        panda.end_analysis()

    panda.run()
    assert panda.bios_log.count("Booting from Hard Disk...") == 2
    assert float(out["uptime"]) < 10                          # a new kernel
    assert not panda.stop_reason
    panda.close()


# ---- `rep insw` in bulk (engine patch 0022) ----------------------------------

# Two sectors by READ SECTORS, then one `rep insw` of both DRQ blocks into
# 0x8F00, across the page boundary at 0x9000.
PIO_PROGRAM = OUTB_MACRO + """
    outb_ 0x1f6, 0xe0
    outb_ 0x1f2, 2
    outb_ 0x1f3, 0
    outb_ 0x1f4, 0
    outb_ 0x1f5, 0
    outb_ 0x1f7, 0x20            # READ SECTORS, two of them
    mov $0x1f7, %dx
1:  in %dx, %al
    test $0x08, %al              # DRQ
    jz 1b
    mov $0x1f0, %dx
    mov $0x8f00, %edi
    mov $512, %ecx
    cld
    rep insw
    cpuid
    jmp 2f
2:  hlt
"""


def _pio_run(asm, tmp_path: Path, data: bytes, watch_memory: bool) -> Tuple[int, List[int]]:
    image = tmp_path / "disk.raw"
    image.write_bytes(data)
    code, _ = asm(PIO_PROGRAM, base=0x100000)
    kernel = tmp_path / "pio.bzImage"
    kernel.write_bytes(fake_bzimage(code))
    panda = Panda(arch="i386", mem="16M", qcow=str(image), extra_args=["-M", "pc", "-kernel", str(kernel)])
    writes: List[int] = []
    if watch_memory:    # a memory callback must see every store: no bulk then
        panda.enable_memcb()

        @panda.cb_phys_mem_after_write
        def watch(cpu, pc, addr, size, buf):
            if 0x8f00 <= addr < 0x9300:
                writes.append(addr)

    @panda.cb_guest_hypercall
    def stop(cpu):
        panda.end_analysis()
        return True

    panda.run()
    assert bytes(panda.physical_memory_read(0x8f00, 1024)) == data[:1024]
    ecx, edi = (panda.arch.get_reg(panda.get_cpu(), r) for r in ("ECX", "EDI"))
    assert (ecx, edi) == (0, 0x8f00 + 1024)
    count = panda.instr_count()
    panda.close()
    return count, writes


def test_rep_insw_from_the_disk_is_exact_in_bulk_and_element_by_element(asm, tmp_path):
    data = bytes((i * 7 + 3) & 0xff for i in range(1024)) + bytes(512 * 6)
    bulk, _ = _pio_run(asm, tmp_path, data, watch_memory=False)
    single, writes = _pio_run(asm, tmp_path, data, watch_memory=True)
    # element by element each iteration is an instruction; in bulk a page's
    # worth is one (0x8f00..0x8fff, then 0x9000..0x92ff)
    assert single - bulk > 500, (single, bulk)
    assert len(writes) == 2 * 512 and writes[-1] == 0x8f00 + 1022   # the dummy store and the word each
