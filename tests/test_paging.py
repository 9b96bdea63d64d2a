"""Virtual memory: the guest turns paging on; virtual and physical addresses
differ, and the host-side accessors translate as the CPU does."""
from __future__ import annotations

import struct

import pytest

PD, PT = 0x8000, 0x9000          # page directory, one page table
VIRT_PAGE, PHYS_PAGE = 0x00400000, 0x5000
PRESENT_RW = 0x3

PROGRAM = f"""
    mov ${PD:#x}, %eax
    mov %eax, %cr3
    mov %cr0, %eax
    or $0x80000000, %eax
    mov %eax, %cr0
paged:
    movl $0xfeedface, {VIRT_PAGE + 0x10:#x}
    mov {VIRT_PAGE + 0x20:#x}, %ebx
    hlt
"""


def build_page_tables(panda):
    # identity-map the first 64 KiB (code, tables), and VIRT_PAGE -> PHYS_PAGE
    pd = bytearray(4096)
    pt = bytearray(4096)
    for i in range(16):
        struct.pack_into("<I", pt, 4 * i, (i << 12) | PRESENT_RW)
    struct.pack_into("<I", pd, 0, PT | PRESENT_RW)
    pt2 = 0xA000
    pt2_bytes = bytearray(4096)
    struct.pack_into("<I", pt2_bytes, 0, PHYS_PAGE | PRESENT_RW)
    struct.pack_into("<I", pd, 4 * (VIRT_PAGE >> 22), pt2 | PRESENT_RW)
    panda.physical_memory_write(PD, bytes(pd))
    panda.physical_memory_write(PT, bytes(pt))
    panda.physical_memory_write(pt2, bytes(pt2_bytes))


def test_virtual_and_physical_addresses(machine):
    panda, labels = machine(PROGRAM)
    build_page_tables(panda)
    panda.physical_memory_write(PHYS_PAGE + 0x20, struct.pack("<I", 0x12345678))
    seen = {}

    @panda.cb_virt_mem_after_write
    def vw(cpu, pc, addr, size, buf):
        seen["virt_write"] = (pc, addr, size)

    @panda.cb_phys_mem_after_write
    def pw(cpu, pc, addr, size, buf):
        seen["phys_write"] = (pc, addr, size)

    @panda.cb_phys_mem_after_read
    def pr(cpu, pc, addr, size, buf):
        if addr >= PHYS_PAGE:  # not the page-table walk
            seen["phys_read"] = (addr, int.from_bytes(bytes(buf[:size]), "little"))

    panda.enable_memcb()
    panda.run()
    cpu = panda.get_cpu()
    assert seen["virt_write"] == (labels["paged"], VIRT_PAGE + 0x10, 4)
    assert seen["phys_write"] == (labels["paged"], PHYS_PAGE + 0x10, 4)
    assert seen["phys_read"] == (PHYS_PAGE + 0x20, 0x12345678)
    assert panda.arch.get_reg(cpu, "EBX") == 0x12345678
    # host-side accessors walk the same tables
    assert panda.virt_to_phys(cpu, VIRT_PAGE + 0x10) == PHYS_PAGE + 0x10
    assert panda.virtual_memory_read(cpu, VIRT_PAGE + 0x10, 4, fmt="int") == 0xFEEDFACE
    assert panda.physical_memory_read(PHYS_PAGE + 0x10, 4, fmt="int") == 0xFEEDFACE
    panda.virtual_memory_write(cpu, VIRT_PAGE + 0x30, b"hi!\0")
    assert panda.physical_memory_read(PHYS_PAGE + 0x30, 4) == bytearray(b"hi!\0")
    assert panda.read_str(cpu, VIRT_PAGE + 0x30) == "hi!"
    with pytest.raises(ValueError, match="no translation"):
        panda.virt_to_phys(cpu, 0x00800000)


def test_monitor_info_mem_lists_the_mapped_ranges(machine):
    """QEMU's `info mem`: ranges merged while the permissions hold, the
    permissions the AND of the levels' (user, write)."""
    panda, _ = machine(PROGRAM)
    build_page_tables(panda)
    assert panda.run_monitor_cmd("info mem") == "PG disabled\n"      # before the guest turns it on
    panda.run()
    assert panda.run_monitor_cmd("info mem") == ("00000000-00010000 00010000 -rw\n"
                                                 "00400000-00401000 00001000 -rw\n")
    # a user page under a user, read-only directory entry: "ur-"
    pd_entry = panda.physical_memory_read(PD + 4 * (VIRT_PAGE >> 22), 4, fmt="int")
    panda.physical_memory_write(PD + 4 * (VIRT_PAGE >> 22), struct.pack("<I", (pd_entry & ~0x2) | 0x4))
    panda.physical_memory_write(0xA000, struct.pack("<I", PHYS_PAGE | 0x7))
    assert panda.run_monitor_cmd("info mem").splitlines()[1] == "00400000-00401000 00001000 ur-"
