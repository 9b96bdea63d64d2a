"""The seams: a device added with one file and one line of wiring, device
state versions in snapshots, the bare machine set up in after_machine_init
(pandare's pattern), and every error path reporting its own message."""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from pypanda import Panda, PandaError, _abi, _lib

from conftest import CODE_ADDR, OUTB_MACRO, SUM_LOOP, fake_bzimage

ROOT = Path(__file__).resolve().parent.parent

# A trivial port device: four byte registers that read back what was
# written; writing V to register 1 copies register 0 to guest-physical
# V MiB through the DMA port, and register 2 reads 0xEE after a refused copy.
TESTREG_C = r'''
/* A test device: four byte registers at consecutive ports, and DMA. */
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "device.h"

#ifndef TESTREG_STATE_VERSION
#define TESTREG_STATE_VERSION 1
#endif

typedef struct testreg {
    uint8_t reg[4];
    dma_port dma;
} testreg;

testreg *testreg_create(const device_env *env)
{
    testreg *t = calloc(1, sizeof(testreg));
    if (t) t->dma = env->dma;
    return t;
}

static uint32_t rd(void *opaque, uint32_t offset, unsigned size)
{
    testreg *t = opaque;
    (void)size;
    return offset < 4 ? t->reg[offset] : 0xff;
}

static void wr(void *opaque, uint32_t offset, uint32_t value, unsigned size)
{
    testreg *t = opaque;
    (void)size;
    if (offset < 4) t->reg[offset] = (uint8_t)value;
    if (offset == 1 && !dma_write(&t->dma, (uint64_t)(value & 0xff) << 20, &t->reg[0], 1))
        t->reg[2] = 0xEE;
}

bus_device testreg_device(testreg *t) { return (bus_device){"testreg", t, rd, wr}; }

static void save(const void *dev, state_writer *w) { sw_bytes(w, ((const testreg *)dev)->reg, 4); }

static void load(void *dev, state_reader *r, uint32_t version)
{
    (void)version;
    testreg copy = *(testreg *)dev;
    sr_bytes(r, copy.reg, 4);
    if (!r->failed) *(testreg *)dev = copy;
}

static void testreg_free(void *dev) { free(dev); }

const panda_device_ops testreg_ops = {
    .type = "testreg", .state_version = TESTREG_STATE_VERSION,
    .save = save, .load = load, .free = testreg_free,
};
'''

WIRING = '    X(testreg, "testreg", 0x510, 4) \\\n'


def _tree_with_testreg(dest: Path, version: int) -> Path:
    """A copy of the sources with the test device: one new file, one new
    line in the pc machine.  Returns the folder holding its library."""
    shutil.copytree(ROOT / "libpanda", dest / "libpanda")
    shutil.copy2(ROOT / "build.sh", dest / "build.sh")
    (dest / "pypanda" / "lib").mkdir(parents=True)
    source = TESTREG_C.replace("#ifndef TESTREG_STATE_VERSION",
                               f"#define TESTREG_STATE_VERSION {version}\n#ifndef TESTREG_STATE_VERSION")
    (dest / "libpanda" / "devices" / "testreg.c").write_text(source)
    machine = dest / "libpanda" / "src" / "machine_pc.c"
    text = machine.read_text()
    anchor = "    /* end of the list */\n"
    assert text.count(anchor) == 1
    machine.write_text(text.replace(anchor, WIRING + anchor))
    proc = subprocess.run(["bash", str(dest / "build.sh")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return dest / "pypanda" / "lib"


# Guest code for the device: write 0x11 to it, stop (cpuid); write 0x22,
# read it back into EBX, stop; at "readback", read it into ECX and stop.
# A stop takes effect at the end of the block, so a jump ends each one.
DEVICE_PROGRAM = bytes.fromhex(
    "66ba1005"      # mov $0x510, %dx
    "b011"          # mov $0x11, %al
    "ee"            # out %al, %dx
    "66ba1105"      # mov $0x511, %dx
    "b008"          # mov $8, %al
    "ee"            # out %al, %dx     (DMA register 0 to 8 MiB)
    "b0f0"          # mov $0xf0, %al
    "ee"            # out %al, %dx     (DMA to 240 MiB: outside RAM, refused)
    "66ba1205"      # mov $0x512, %dx
    "ec"            # in %dx, %al
    "89c6"          # mov %eax, %esi   (0xEE: the refusal)
    "66ba1005"      # mov $0x510, %dx
    "0fa2" "eb00"   # cpuid; jmp .+2   (stop 1)
    "b022"          # mov $0x22, %al
    "ee"            # out %al, %dx
    "31db"          # xor %ebx, %ebx
    "ec"            # in %dx, %al
    "89c3"          # mov %eax, %ebx
    "0fa2" "eb00"   # cpuid; jmp .+2   (stop 2)
    "31c9"          # readback: xor %ecx, %ecx
    "ec"            # in %dx, %al
    "89c1"          # mov %eax, %ecx
    "0fa2" "eb00"   # cpuid; jmp .+2   (stop 3)
    "f4"            # hlt (interrupts are off: the guest powers off)
)
READBACK = 0x100000 + 4 + 2 + 1 + 4 + 2 + 1 + 2 + 1 + 4 + 1 + 2 + 4 + 4 + 2 + 1 + 2 + 1 + 2 + 4

DRIVER = textwrap.dedent(r'''
    import sys
    from pypanda import Panda, SnapshotError
    kernel, mode, snapfile = sys.argv[1:4]
    panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", kernel])
    stops = []

    @panda.cb_guest_hypercall
    def hypercall(cpu):
        stops.append(panda.arch.get_pc(cpu))
        panda.end_analysis()
        return True   # handled: cpuid changes no register

    def regs():
        cpu = panda.get_cpu()
        return [panda.arch.get_reg(cpu, r) & 0xff for r in ("EAX", "EBX", "ECX")]

    if mode == "load":
        try:
            panda.load_snapshot(snapfile)
        except SnapshotError as exc:
            print("REFUSED", exc)
            sys.exit(0)
        print("LOADED")
        sys.exit(0)
    panda.run()                      # stop 1: the device holds 0x11
    print("DMA", hex(panda.physical_memory_read(8 << 20, 1)[0]),
          hex(panda.arch.get_reg(panda.get_cpu(), "ESI") & 0xff))
    panda.snap("one")
    panda.save_snapshot(snapfile)
    panda.run()                      # stop 2: it holds 0x22, read back into EBX
    print("EBX", hex(regs()[1]))
    panda.revert_sync("one")         # the device holds 0x11 again
    panda.arch.set_pc(panda.get_cpu(), int(sys.argv[4]))
    panda.run()                      # stop 3: read back into ECX
    print("ECX", hex(regs()[2]))
    print("STOPS", len(stops))
''')


@pytest.fixture(scope="module")
def testreg_builds(tmp_path_factory):
    base = tmp_path_factory.mktemp("testreg")
    return {v: _tree_with_testreg(base / f"v{v}", v) for v in (1, 2)}


def _drive(libdir: Path, tmp_path: Path, mode: str, snapfile: Path) -> str:
    kernel = tmp_path / "dev.bzImage"
    kernel.write_bytes(fake_bzimage(DEVICE_PROGRAM))
    script = tmp_path / "drive.py"
    script.write_text(DRIVER)
    proc = subprocess.run([sys.executable, str(script), str(kernel), mode, str(snapfile), str(READBACK)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYPANDA_LIBRARY_DIR": str(libdir)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_a_device_added_with_one_file_and_one_line(testreg_builds, tmp_path):
    out = _drive(testreg_builds[1], tmp_path, "run", tmp_path / "snap")
    assert "EBX 0x22" in out          # the guest's out/in reach the device
    assert "ECX 0x11" in out          # revert brought its register back
    assert "STOPS 3" in out
    assert "DMA 0x11 0xee" in out     # a copy into RAM, and one outside it refused


def test_the_test_device_is_not_in_the_real_machine(tmp_path):
    # without the line, port 0x510 is open bus (reads all ones)
    panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", str(_kernel(tmp_path))])
    regs = {}

    @panda.cb_guest_hypercall
    def hypercall(cpu):
        regs["ebx"] = panda.arch.get_reg(cpu, "EBX")
        regs["calls"] = regs.get("calls", 0) + 1
        if regs["calls"] == 2:   # stop 2: EBX holds what the port read
            panda.end_analysis()
        return True

    panda.run()
    assert regs["ebx"] & 0xff == 0xff
    panda.close()


def _kernel(tmp_path: Path) -> Path:
    k = tmp_path / "dev.bzImage"
    k.write_bytes(fake_bzimage(DEVICE_PROGRAM))
    return k


def test_a_device_state_version_bump_refuses_old_snapshots(testreg_builds, tmp_path):
    snap = tmp_path / "snap"
    _drive(testreg_builds[1], tmp_path, "run", snap)
    assert "LOADED" in _drive(testreg_builds[1], tmp_path, "load", snap)
    out = _drive(testreg_builds[2], tmp_path, "load", snap)
    assert "REFUSED" in out, out
    assert "device 'testreg' (testreg) has state version 1 in the snapshot" in out
    assert "this build reads version 2" in out


def test_bare_machine_set_up_in_after_machine_init(asm):
    # pandare's configurable-machine examples map memory and load their code
    # in after_machine_init, which comes before run()'s first instruction
    code, labels = asm(SUM_LOOP)
    panda = Panda(arch="i386", mem="1M", extra_args="-M configurable -nographic")
    seen = {}

    @panda.cb_after_machine_init
    def setup(cpu):
        panda.map_memory("mymem", 0x10000, 0)
        panda.physical_memory_write(CODE_ADDR, code)
        panda.arch.set_pc(cpu, CODE_ADDR)

    @panda.cb_before_block_exec
    def bbe(cpu, tb):
        seen.setdefault("blocks", 0)
        seen["blocks"] += 1

    panda.run()
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15
    assert panda.arch.get_pc(panda.get_cpu()) == labels["done"] + 1
    assert seen["blocks"] >= 5
    panda.close()


def test_run_without_memory_still_says_so():
    panda = Panda(arch="i386", mem="1M", extra_args="-M configurable")
    with pytest.raises(RuntimeError, match="no memory is mapped"):
        panda.run()
    panda.close()


# ---- every error path sets its own message ---------------------------------

@pytest.fixture
def raw():
    """A bare instance through the C ABI alone, with a poisoned error text."""
    lib = _lib.load_lib("i386")
    args = (ctypes.c_char_p * 2)(b"-M", b"configurable")
    handle = _lib.PandaPtr()
    err = ctypes.create_string_buffer(512)
    assert lib.panda_create(2, args, ctypes.byref(handle), err, len(err)) == 0, err.value
    yield lib, handle
    lib.panda_destroy(handle)


def _poison(lib, h) -> None:
    assert lib.panda_map_memory(h, b"poison", 0, 0) != 0
    assert b"size is 0" in lib.panda_last_error(h)


def test_each_error_reports_its_own_message(raw):
    lib, h = raw
    cpu = lib.panda_get_cpu(h)
    value = ctypes.c_uint64()
    calls = {
        "map_memory NULL name": lambda: lib.panda_map_memory(h, None, 4096, 0),
        "physical read NULL buffer": lambda: lib.panda_physical_memory_read(h, 0, None, 4),
        "physical read unmapped": lambda: lib.panda_physical_memory_read(h, 0, ctypes.byref(value), 4),
        "virtual read NULL buffer": lambda: lib.panda_virtual_memory_read(cpu, 0, None, 4),
        "virt_to_phys NULL result": lambda: lib.panda_virt_to_phys(cpu, 0, None),
        "reg_read NULL result": lambda: lib.panda_reg_read(cpu, 0, None),
        "reg_read bad id": lambda: lib.panda_reg_read(cpu, 9999, ctypes.byref(value)),
        "monitor NULL command": lambda: lib.panda_monitor_cmd(h, None, None, 0),
        "serial write on the bare machine": lambda: lib.panda_serial_write(h, b"x", 1),
        "snap on the bare machine": lambda: lib.panda_snap(h, b"s"),
        "snap NULL name": lambda: lib.panda_snap(h, None),
        "snapshot file on the bare machine": lambda: lib.panda_snapshot_save_file(h, b"/nonexistent/x"),
        "snapshot load on the bare machine": lambda: lib.panda_snapshot_load_file(h, b"/nonexistent/x"),
        "record on the bare machine": lambda: lib.panda_record_begin(h, b"r"),
        "replay NULL name": lambda: lib.panda_replay_begin(h, None),
        "plugin NULL name": lambda: lib.panda_plugin_create(h, None, ctypes.byref(_lib.PluginPtr())),
        "run with no memory": lambda: lib.panda_run(h),
    }
    for what, call in calls.items():
        _poison(lib, h)
        assert call() != 0, what
        msg = lib.panda_last_error(h)
        assert msg and b"size is 0" not in msg, f"{what}: stale or empty message {msg!r}"


def test_help_lists_every_option():
    lib = _lib.load_lib("i386")
    n = lib.panda_options_help(None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    assert lib.panda_options_help(buf, len(buf)) == n
    text = buf.value.decode()
    for opt in ("-m SIZE", "-M NAME", "-kernel FILE", "-append CMDLINE", "-cpu MODEL", "-rtc", "-serial"):
        assert opt in text
    with pytest.raises(ValueError, match="help: the options are"):
        Panda(arch="i386", extra_args="-help")


def test_arch_facts_come_from_the_library():
    lib = _lib.load_lib("i386")
    f = _abi.panda_arch_facts()
    assert lib.panda_arch_info(ctypes.byref(f), ctypes.sizeof(f)) == 0
    assert (f.bits, f.register_size, f.big_endian, f.name) == (32, 4, 0, b"i386")
    assert (f.default_machine, f.hypercall) == (b"pc", b"cpuid")
    models = [lib.panda_cpu_model_name(i) for i in range(f.ncpu_models)]
    assert b"qemu32" in models and lib.panda_cpu_model_name(f.ncpu_models) is None
    assert f.nregs == lib.panda_reg_count()
    assert lib.panda_arch_info(ctypes.byref(f), 4) != 0   # too small a struct


def test_qcow_is_the_primary_disk(tmp_path):
    # the image is opened and checked at once
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(1 << 20))
    kernel = tmp_path / "k.bzImage"
    kernel.write_bytes(fake_bzimage(bytes.fromhex("f4")))
    pc = ["-M", "pc", "-kernel", str(kernel)]
    with pytest.raises(OSError, match="cannot open the disk image"):
        Panda(arch="i386", mem="16M", qcow=str(tmp_path / "missing.qcow2"), extra_args=pc)
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(b"QFI\xfb" + bytes(100))
    with pytest.raises(PandaError, match="bad.qcow2: qcow2 version 0"):
        Panda(arch="i386", mem="16M", qcow=str(bad), extra_args=pc)
    with pytest.raises(ValueError, match="format 'vmdk'"):
        Panda(arch="i386", mem="16M", extra_args=pc + ["-drive", f"file={image},format=vmdk"])
    text = tmp_path / "notes.txt"
    text.write_text("not a disk\n")
    with pytest.raises(ValueError, match="the disk image is empty"):      # less than one sector
        Panda(arch="i386", mem="16M", qcow=str(text), extra_args=pc)
    with pytest.raises(OSError, match="not a regular file|directory"):
        Panda(arch="i386", mem="16M", qcow=str(tmp_path), extra_args=pc)
    # a disk too small for its partition table (a truncated image)
    mbr = bytearray(512 * 8)
    mbr[446 + 4] = 0x83
    mbr[446 + 8:446 + 12] = (2048).to_bytes(4, "little")
    mbr[446 + 12:446 + 16] = (100000).to_bytes(4, "little")
    mbr[510:512] = b"\x55\xaa"
    small = tmp_path / "truncated.raw"
    small.write_bytes(bytes(mbr))
    with pytest.raises(ValueError, match="partition 1 ends at sector 102048, past the disk's 8 sectors"):
        Panda(arch="i386", mem="16M", qcow=str(small), extra_args=pc)
    with pytest.raises(ValueError, match="given twice"):
        Panda(arch="i386", mem="16M", extra_args=pc + ["-hda", str(image), "-drive", f"file={image},index=0"])
    panda = Panda(arch="i386", mem="16M", qcow=str(image), extra_args=pc)
    for name in ("hd_read", "hd_write", "replay_hd_transfer", "replay_before_dma", "replay_after_dma"):
        assert panda.callback_fires(name), name
    panda.close()


# Guest code on the wired IDE: PIO READ SECTORS of sector 0 into 0x8000,
# then READ DMA of sector 1 through a PRD table into 0xA000, then a write
# of 0xA000 to sector 2 by DMA.
IDE_PROGRAM = OUTB_MACRO + """
    .macro lba sector
    outb_ 0x1f6, 0xe0
    outb_ 0x1f2, 1
    outb_ 0x1f3, \\sector
    outb_ 0x1f4, 0
    outb_ 0x1f5, 0
    .endm
    lba 0
    outb_ 0x1f7, 0x20            # READ SECTORS
    mov $0x1f7, %dx
1:  in %dx, %al
    test $0x08, %al              # DRQ
    jz 1b
    mov $0x1f0, %dx
    mov $0x8000, %edi
    mov $256, %ecx
    cld
    rep insw
    movl $0xA000, 0x9000         # PRD: 512 bytes at 0xA000, the last entry
    movl $0x80000200, 0x9004
    mov $0xc004, %dx
    mov $0x9000, %eax
    out %eax, %dx
    lba 1
    outb_ 0x1f7, 0xc8            # READ DMA
    outb_ 0xc000, 0x09           # start, to memory
    mov $0xc002, %dx
    in %dx, %al
    mov %eax, %esi               # bus-master status after the transfer
    outb_ 0xc000, 0x00
    outb_ 0xc002, 0x06           # clear interrupt and error
    lba 2
    outb_ 0x1f7, 0xca            # WRITE DMA
    outb_ 0xc000, 0x01           # start, from memory
    outb_ 0xc000, 0x00
    cpuid
    jmp 2f
2:  hlt
"""


def test_the_ide_disk_answers_pio_and_dma(asm, tmp_path):
    image = tmp_path / "disk.raw"
    data = bytes(range(256)) * 2 + bytes([0x5A]) * 512 + bytes(512 * 30)
    image.write_bytes(data)
    code, _ = asm(IDE_PROGRAM, base=0x100000)
    kernel = tmp_path / "ide.bzImage"
    kernel.write_bytes(fake_bzimage(code))
    panda = Panda(arch="i386", mem="16M", qcow=str(image), extra_args=["-M", "pc", "-kernel", str(kernel)])
    seen = {"hd_read": 0, "hd_write": 0}

    @panda.cb_hd_read
    def hd_read(cpu):
        seen["hd_read"] += 1

    @panda.cb_hd_write
    def hd_write(cpu):
        seen["hd_write"] += 1

    @panda.cb_guest_hypercall
    def stop(cpu):
        panda.end_analysis()
        return True

    panda.run()
    assert bytes(panda.physical_memory_read(0x8000, 512)) == data[:512]       # PIO
    assert bytes(panda.physical_memory_read(0xA000, 512)) == data[512:1024]   # DMA
    assert panda.arch.get_reg(panda.get_cpu(), "ESI") & 0x07 == 0x04          # done, interrupt, no error
    assert seen == {"hd_read": 2, "hd_write": 1}
    # the guest's write went to the overlay, never to the image
    assert image.read_bytes() == data
    out = tmp_path / "written.qcow2"
    panda.commit_disk(str(out))
    panda.close()
    assert out.read_bytes()[:4] == b"QFI\xfb"
    if shutil.which("qemu-img"):     # scripts/bootstrap.sh installs qemu-utils
        subprocess.run(["qemu-img", "check", "-q", str(out)], check=True)
        raw = tmp_path / "written.raw"
        subprocess.run(["qemu-img", "convert", "-O", "raw", str(out), str(raw)], check=True)
        written = raw.read_bytes()
        assert written[1024:1536] == data[512:1024]          # sector 2 now holds sector 1
        assert written[:1024] == data[:1024] and written[1536:] == data[1536:]


def test_disk_reads_are_recorded_and_replay_without_the_disk(asm, tmp_path):
    # the recording carries what the guest read from the disk, so a replay
    # runs on a drive with no image at all (-drive size=), twice, alike
    image = tmp_path / "disk.raw"
    data = bytes(range(256)) * 2 + bytes([0x5A]) * 512 + bytes(512 * 30)
    image.write_bytes(data)
    code, _ = asm(IDE_PROGRAM, base=0x100000)
    kernel = tmp_path / "ide.bzImage"
    kernel.write_bytes(fake_bzimage(code))
    pc = ["-M", "pc", "-kernel", str(kernel)]
    name = str(tmp_path / "disk-rec")

    def machine(args, stop_at_hypercall=True):
        panda = Panda(arch="i386", mem="16M", extra_args=pc + args)
        seen = {"hd_read": 0, "transfers": [], "dma": []}

        @panda.cb_hd_read
        def hd_read(cpu):
            seen["hd_read"] += 1

        @panda.cb_replay_hd_transfer
        def transfer(cpu, kind, src, dest, n):
            seen["transfers"].append((kind, src, dest, n))

        @panda.cb_replay_before_dma
        def dma(cpu, buf, addr, size, is_write):
            seen["dma"].append((addr, size, bool(is_write)))

        @panda.cb_guest_hypercall
        def stop(cpu):
            if stop_at_hypercall:
                panda.end_analysis()
            return True               # handled: cpuid changes no register
        return panda, seen

    live, live_seen = machine(["-hda", str(image)])
    live.record(name)
    live.run()
    live.end_record()
    live.close()
    assert live_seen["hd_read"] == 2 and live_seen["transfers"] == []   # transfers: replay only

    runs = []
    for _ in range(2):
        panda, seen = machine(["-drive", f"size={len(data)}B,if=ide"], stop_at_hypercall=False)
        panda.run_replay(name)
        assert panda.replay_finished
        runs.append((panda.instr_count(), bytes(panda.physical_memory_read(0x8000, 512)),
                     bytes(panda.physical_memory_read(0xA000, 512)), seen))
        panda.close()
    (count1, pio1, dma1, seen1), (count2, pio2, dma2, seen2) = runs
    assert pio1 == data[:512] and dma1 == data[512:1024]     # the image was not there
    assert (count1, pio1, dma1) == (count2, pio2, dma2)
    assert seen1 == seen2
    assert seen1["hd_read"] == live_seen["hd_read"]
    kinds = [t[0] for t in seen1["transfers"]]
    assert kinds.count(0) == 2 and kinds.count(1) == 1        # HD_TO_IOB twice, IOB_TO_HD once
    assert (4, 512, 0xA000, 512) in seen1["transfers"]       # HD_TO_RAM: disk offset 512 to 0xA000
    assert (0xA000, 512, False) in seen1["dma"] and (0xA000, 512, True) in seen1["dma"]
    # a drive with no image cannot be read live: the read fails (the guest
    # here waits for data forever, so the run is ended from outside)
    panda, _ = machine(["-drive", f"size={len(data)}B,if=ide"])
    timer = threading.Timer(0.5, panda.end_analysis)
    timer.start()
    panda.run()
    timer.join()
    assert bytes(panda.physical_memory_read(0x8000, 512)) == bytes(512)
    panda.close()
