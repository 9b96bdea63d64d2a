"""OS introspection on the reference guest (Debian 12's 686-pae kernel,
KASLR on), checked against what the guest itself says.

One boot (module fixture) starts background processes and two static
programs assembled here (``mapper``: about 300 mappings, some of a file;
``sysprog``: an exact sequence of system calls), prints the guest's own
``ps``, ``/proc/PID/maps`` and ``/proc/PID/fd``, and stops; the tests then
compare pypanda's OSI with that output.  Then system calls: the paths
``openat`` opens, the counts ``write`` returns, and a tally of the known
program's calls, live and in a replay of the same command.
"""
from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from typing import Any, Dict, List, Tuple

import pytest

from guest_programs import install, static_elf
from pypanda import Panda
from pypanda.panda import guest_dir
from pypanda.osi.linux import OsiWarning

# mapper: 150 pairs of anonymous pages with alternating protections (so the
# kernel cannot merge neighbours), 4 private maps of /bin/busybox at
# different offsets, then pause() forever
MAPPER = r"""
    .globl _start
_start:
    mov $150, %esi
1:  mov $192, %eax          # mmap2(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0)
    xor %ebx, %ebx
    mov $4096, %ecx
    mov $1, %edx
    push %esi
    mov $0x22, %esi
    mov $-1, %edi
    xor %ebp, %ebp
    int $0x80
    mov $192, %eax          # the same, PROT_READ|PROT_WRITE
    xor %ebx, %ebx
    mov $4096, %ecx
    mov $3, %edx
    mov $0x22, %esi
    mov $-1, %edi
    xor %ebp, %ebp
    int $0x80
    pop %esi
    dec %esi
    jnz 1b
    mov $5, %eax            # open("/bin/busybox", O_RDONLY)
    mov $path, %ebx
    xor %ecx, %ecx
    int $0x80
    mov %eax, %edi          # fd
    xor %ebp, %ebp          # page offsets 0, 1, 2, 3
2:  push %edi
    push %ebp
    mov $192, %eax          # mmap2(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, ebp)
    xor %ebx, %ebx
    mov $4096, %ecx
    mov $1, %edx
    mov $2, %esi
    int $0x80
    mov $192, %eax          # and a PROT_NONE gap page after it
    xor %ebx, %ebx
    mov $4096, %ecx
    xor %edx, %edx
    mov $0x22, %esi
    mov $-1, %edi
    xor %ebp, %ebp
    int $0x80
    pop %ebp
    pop %edi
    inc %ebp
    cmp $4, %ebp
    jne 2b
3:  mov $29, %eax           # pause()
    int $0x80
    jmp 3b
path: .asciz "/bin/busybox"
"""

# sysprog: getpid x3, write(1, "ok\n", 3) x2, getppid, brk(0), two calls the
# kernel does not have (17, 1000), exit_group(0)
SYSPROG = r"""
    .globl _start
_start:
    mov $20, %eax
    int $0x80
    mov $20, %eax
    int $0x80
    mov $20, %eax
    int $0x80
    mov $4, %eax
    mov $1, %ebx
    mov $msg, %ecx
    mov $3, %edx
    int $0x80
    mov $4, %eax
    mov $1, %ebx
    mov $msg, %ecx
    mov $3, %edx
    int $0x80
    mov $64, %eax
    int $0x80
    mov $45, %eax
    xor %ebx, %ebx
    int $0x80
    mov $17, %eax           # sys_ni_syscall's slot (the old break)
    int $0x80
    mov $1000, %eax         # past the table
    int $0x80
    mov $252, %eax
    xor %ebx, %ebx
    int $0x80
msg: .ascii "ok\n"
"""
SYSPROG_CALLS = Counter({20: 3, 4: 2, 64: 1, 45: 1, 17: 1, 1000: 1, 252: 1})




def parse_ps(text: str) -> Dict[int, Tuple[int, str]]:
    out = {}
    for line in text.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\S.*?)\s*$", line)
        if m:
            out[int(m.group(1))] = (int(m.group(2)), m.group(3))
    return out


def parse_maps(text: str) -> List[Tuple[int, int, str, str]]:
    out = []
    for line in text.splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S{4}) [0-9a-f]+ \S+ \d+\s*(.*?)\s*$", line)
        if m:
            out.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4)))
    return out


def parse_fds(text: str) -> Dict[int, str]:
    out = {}
    for line in text.splitlines():
        m = re.search(r"\s(\d+) -> (.*?)\s*$", line)
        if m:
            out[int(m.group(1))] = m.group(2)
    return out


@pytest.fixture(scope="module", params=["kaslr", "nokaslr"])
def guest(request, tmp_path_factory):
    """The reference guest as built (KASLR on: the kernel lands 64 MiB up)
    and with ``nokaslr``, set up and stopped at its prompt."""
    tmp = tmp_path_factory.mktemp("osi")
    mapper, sysprog = static_elf(tmp, "mapper", MAPPER), static_elf(tmp, "sysprog", SYSPROG)
    extra = []
    if request.param == "nokaslr":
        info = json.loads((guest_dir("i386") / "guest.json").read_text())
        extra = ["-append", info["cmdline"] + " nokaslr"]
    panda = Panda(generic="i386", verbose=False, extra_args=extra)
    panda.kaslr = request.param == "kaslr"
    seen: Dict[str, Any] = {}

    @panda.queue_blocking
    def setup():
        install(panda, "mapper", mapper)
        install(panda, "sysprog", sysprog)
        panda.run_serial_cmd("sleep 1000 &")
        panda.run_serial_cmd("sleep 2000 < /etc/passwd &")
        panda.run_serial_cmd("/tmp/mapper &")
        seen["mapper_pid"] = int(panda.run_serial_cmd("pidof mapper").split()[0])
        seen["sleep_pid"] = int(panda.run_serial_cmd("pidof 'sleep' | tr ' ' '\\n' | sort -n | tail -1").strip())
        seen["maps"] = panda.run_serial_cmd(f"cat /proc/{seen['mapper_pid']}/maps")
        seen["fds"] = panda.run_serial_cmd(f"ls -l /proc/{seen['sleep_pid']}/fd")
        seen["ps"] = panda.run_serial_cmd("ps -o pid,ppid,comm")
        panda.end_analysis()

    panda.run()
    yield panda, seen
    panda.close()


def test_processes_match_ps(guest):
    panda, seen = guest
    ps = parse_ps(seen["ps"])
    procs = {p.pid: (p.ppid, p.name) for p in panda.get_processes(panda.get_cpu())}
    assert len(ps) > 20, seen["ps"]
    # ps itself has exited since; everything else is the same, field for field
    ps = {pid: v for pid, v in ps.items() if v[1] != "ps"}
    ours = {pid: v for pid, v in procs.items() if pid != 0}
    # /proc's comm of a workqueue worker adds "-" and its queue's name
    # ("kworker/0:2-rcu"): task->comm, which OSI reads, is "kworker/0:2"
    for pid, (ppid, name) in ps.items():
        if pid in ours and name.startswith(ours[pid][1] + "-") and name.startswith("kworker/"):
            ps[pid] = (ppid, ours[pid][1])
    assert ours == ps
    assert procs[0][1] == "swapper/0"
    assert panda.get_processes_dict()[seen["mapper_pid"]]["name"] == "mapper"


def test_mappings_match_proc_maps(guest):
    panda, seen = guest
    proc = next(p for p in panda.get_processes() if p.pid == seen["mapper_pid"])
    maps = parse_maps(seen["maps"])
    assert len(maps) > 300
    ours = [(m.base, m.base + m.size, m.perms, m.file or ("" if m.name == "[anon]" else m.name))
            for m in panda.get_mappings(proc=proc)]
    assert ours == maps


def test_file_names_match_proc_fd(guest):
    panda, seen = guest
    proc = next(p for p in panda.get_processes() if p.pid == seen["sleep_pid"])
    fds = parse_fds(seen["fds"])
    assert fds[0] == "/etc/passwd"
    assert panda.get_open_files(proc=proc) == fds
    assert panda.get_file_name(None, 0, proc=proc) == b"/etc/passwd"


def test_kaslr_slide_found(guest):
    panda, _ = guest
    panda.get_processes()
    slide = panda._introspection.osi.slide
    assert slide is not None and slide % 0x200000 == 0
    assert (slide != 0) == panda.kaslr, hex(slide)


def test_os_version_mismatch_warns(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        panda = Panda(generic="i386", os_version="linux-32-debian:3.2.0-4-686-pae", verbose=False)
        assert panda.os_profile.release.startswith("6.1.0")
    msgs = [str(w.message) for w in caught if issubclass(w.category, OsiWarning)]
    assert msgs and "3.2.0-4-686-pae" in msgs[0] and "6.1.0" in msgs[0], msgs
    panda.close()


def _syscall_run(panda: Panda, command: str, record: str) -> str:
    """Record ``command`` (from where the guest is) and return its output."""
    out: Dict[str, str] = {}

    @panda.queue_blocking
    def go():
        out["text"] = panda.record_cmd(command, recording_name=record, snap_name=None)
        panda.end_analysis()

    panda.run()
    return out["text"]


def test_syscalls(guest, tmp_path):
    panda, _ = guest
    tally: Counter = Counter()
    opened: List[str] = []
    writes: List[int] = []

    @panda.ppp("syscalls2", "on_all_sys_enter")
    def all_enter(cpu, pc, callno):
        if panda.get_process_name(cpu) == "sysprog":
            tally[callno] += 1

    @panda.ppp("syscalls2", "on_sys_getpid_enter")
    def getpid(cpu, pc):
        # watched by number and by on_all_sys_enter: still one call each
        if panda.get_process_name(cpu) == "sysprog":
            tally["getpid"] += 1

    @panda.ppp("syscalls2", "on_unknown_sys_enter")
    def unknown(cpu, pc, callno):
        if panda.get_process_name(cpu) == "sysprog":
            tally[f"unknown {callno}"] += 1

    @panda.ppp("syscalls2", "on_sys_openat_enter")
    def openat(cpu, pc, dfd, filename, flags, mode):
        opened.append(panda.read_str(cpu, filename))

    @panda.ppp("syscalls2", "on_sys_open_enter")
    def open_(cpu, pc, filename, flags, mode):
        opened.append(panda.read_str(cpu, filename))

    @panda.ppp("syscalls2", "on_sys_write_return")
    def write_ret(cpu, pc, fd, buf, count):
        if panda.get_process_name(cpu) == "sysprog":
            writes.append(panda.arch.get_retval(cpu, convention="syscall"))

    rec = str(tmp_path / "sys")
    text = _syscall_run(panda, "cat /etc/hostname /etc/passwd > /dev/null; /tmp/sysprog", rec)
    assert "ok\nok" in text.replace("\r", "")
    assert "/etc/passwd" in opened and "/etc/hostname" in opened
    assert writes == [3, 3]
    assert tally.pop("getpid") == 3
    assert (tally.pop("unknown 17"), tally.pop("unknown 1000")) == (1, 1)
    assert tally == SYSPROG_CALLS
    tally.update({"getpid": 3, "unknown 17": 1, "unknown 1000": 1})
    live = (Counter(tally), list(opened), list(writes))
    tally.clear()
    opened.clear()
    writes.clear()
    panda.run_replay(rec)
    assert (tally, opened, writes) == live
