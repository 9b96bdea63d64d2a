"""The example scripts run as a user runs them and print what they saw."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pypanda.panda import guest_dir

ROOT = Path(__file__).resolve().parents[1]


def run_example(name: str) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_bare_machine_demo():
    out = run_example("bare_machine.py")
    assert "instructions executed: 91" in out
    assert "fibonacci in memory:   [0, 1, 1, 2, 3, 5, 8, 13, 21, 34]" in out
    assert "hypercall answer:      1337" in out
    assert "[('0x0', '0x5000')]" in out
    assert "memory writes:         11, first at pc 0x1016 to 0x2000" in out


def test_seed_style_script():
    out = run_example("seed_style.py")
    assert "init in python. handle=" in out
    assert "before block at 0x1000 (13 instructions)" in out
    assert "before block at 0x1016 (8 instructions), EAX=0x1 ECX=0x9" in out
    assert "12 blocks executed" in out


def test_pandare_style_script():
    out = run_example("pandare_style.py")
    lines = [line for line in out.splitlines() if line.startswith("after block")]
    # "after" is disabled for blocks 3 and 4, then on again
    assert lines[0] == "after block 0x1000, exit code 1, EAX=1"
    assert "EAX=5" in lines[2]
    assert "blocks: 12" in out


def run_script(text: str, *args: str, tmp_path: Path) -> str:
    script = tmp_path / "script.py"
    script.write_text(text)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# pandare's examples/osi_syscalls.py and examples/syscalls.py, idiom for
# idiom (only the import differs): plugins loaded by name, syscalls2
# callbacks with the kernel's argument lists, osi_linux's fd -> file name
# through panda.plugins and ffi.string, a @blocking driver queued with
# queue_async that reverts to the generic image's "root" snapshot.  The
# first runs on the disk guest (pandare's runs on its x86_64 Ubuntu image),
# whose coreutils cat read()s (busybox's sends the file with sendfile)
PANDARE_OSI_SYSCALLS = '''
from pypanda import Panda, blocking, ffi

panda = Panda(generic="debian-i386")

panda.load_plugin("syscalls2")
panda.load_plugin("osi")
panda.load_plugin("osi_linux")

@panda.ppp("syscalls2", "on_sys_read_return")
def on_sys_read_return(cpu, pc, fd, buf, count):
    proc = panda.get_current_process(cpu)
    fname_ptr = panda.plugins['osi_linux'].osi_linux_fd_to_filename(cpu, proc, fd)
    fname = ffi.string(fname_ptr)
    print("Reading from", fname)

@blocking
def start():
    panda.revert_sync("root")
    print(panda.run_serial_cmd("cat /etc/passwd"))
    panda.end_analysis()

panda.queue_async(start)
panda.run()
'''

PANDARE_SYSCALLS = '''
from pypanda import Panda
from sys import argv

arch = "i386" if len(argv) <= 1 else argv[1]
panda = Panda(generic=arch)

@panda.ppp("syscalls2", "on_sys_read_return")
def on_sys_read_return(cpu, pc, fd, buf, count):
    print("read return")

@panda.ppp("syscalls2", "on_sys_execve_enter")
def on_sys_execve_enter(cpu, pc, fname_ptr, argv_ptr, envp):
    print("execve enter", panda.read_str(cpu, fname_ptr))

@panda.queue_blocking
def start():
    panda.revert_sync("root")
    print(panda.run_serial_cmd("cat /etc/passwd"))
    panda.end_analysis()

panda.run()
'''


def test_pandare_osi_syscalls_example(tmp_path):
    if not (guest_dir("debian-i386") / "disk.qcow2").is_file():
        pytest.skip("no disk guest: python -m pypanda.guest debian-i386")
    out = run_script(PANDARE_OSI_SYSCALLS, tmp_path=tmp_path)
    assert "Reading from b'/etc/passwd'" in out, out[-2000:]
    assert "root:x:0:0:root:/root:/bin/bash" in out      # what cat printed


def test_pandare_syscalls_example(tmp_path):
    out = run_script(PANDARE_SYSCALLS, "i386", tmp_path=tmp_path)
    # busybox's shell runs its applets by exec'ing itself
    assert "execve enter /proc/self/exe" in out, out[-2000:]
    assert out.count("read return") >= 2           # cat's reads of the file, at least
    assert "root::0:0:root:/root:/bin/sh" in out        # the initramfs guest's passwd


def test_boot_analysis_demo():
    """The README's main job: processes named by OSI, their calls by syscalls2."""
    out = run_example("boot_analysis.py")
    assert re.search(r"pid +\d+ uname +\d+ system calls: .*1 newuname", out), out
    assert re.search(r"pid +\d+ cat +\d+ system calls: .*openat", out), out
    assert "opened /proc/uptime" in out
    assert "guest# echo $((6*7))\n42" in out
    assert re.search(r"\d+ +0 +\[kernel\] +0x[0-9a-f]+", out)
