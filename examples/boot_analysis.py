#!/usr/bin/env python3
"""Boot Debian's i386 kernel to a busybox shell and watch it from Python.

The main job of pypanda's README: the reference guest (built once by
``python -m pypanda.guest``) boots to its prompt; a few commands are typed
on its serial console from a driver thread; meanwhile callbacks count the
address-space switches between processes and trace every system call the
commands make (``int $0x80`` and ``sysenter`` instructions are picked at
translation time, so only they cost a Python call); then the guest powers
off and ``run()`` returns.
"""
from collections import Counter

from pypanda import Panda, progress

# A few i386 system call numbers (arch/x86/entry/syscalls/syscall_32.tbl).
SYSCALLS = {1: "exit", 2: "fork", 3: "read", 4: "write", 5: "open", 6: "close", 7: "waitpid",
            11: "execve", 20: "getpid", 33: "access", 37: "kill", 45: "brk", 54: "ioctl",
            57: "setpgid", 63: "dup2", 64: "getppid", 168: "poll", 114: "wait4", 120: "clone", 122: "uname",
            125: "mprotect", 174: "rt_sigaction", 175: "rt_sigprocmask", 183: "getcwd",
            190: "vfork", 191: "ugetrlimit", 192: "mmap2", 195: "stat64", 196: "lstat64",
            197: "fstat64", 220: "getdents64", 221: "fcntl64", 243: "set_thread_area",
            252: "exit_group", 258: "set_tid_address", 265: "clock_gettime",
            267: "clock_nanosleep", 295: "openat", 311: "set_robust_list", 383: "statx",
            384: "arch_prctl"}
SYSCALL_INSNS = (b"\xcd\x80", b"\x0f\x34")   # int $0x80, sysenter
COMMANDS = ["uname -a", "ls /", "cat /proc/uptime", "echo $((6*7))"]


def main() -> None:
    panda = Panda(generic="i386")
    address_spaces = set()
    switches = [0]
    syscalls = Counter()
    tracing = [False]

    @panda.cb_asid_changed
    def asid_changed(cpu, old, new):
        switches[0] += 1
        address_spaces.add(new)
        return False

    @panda.cb_insn_translate
    def is_syscall(cpu, pc):
        if not tracing[0]:
            return False
        try:
            return bytes(panda.virtual_memory_read(cpu, pc, 2)) in SYSCALL_INSNS
        except ValueError:       # the page is not mapped (yet)
            return False

    @panda.cb_insn_exec
    def syscall(cpu, pc):
        syscalls[panda.arch.get_reg(cpu, "EAX")] += 1

    @panda.queue_blocking
    def drive():
        panda.run_serial_cmd("true")                 # wait for the shell
        progress(f"booted: {switches[0]} address-space switches, "
                 f"{len(address_spaces)} address spaces so far")
        tracing[0] = True
        panda.flush_tb()                             # retranslate with the tracer on
        for cmd in COMMANDS:
            out = panda.run_serial_cmd(cmd)
            print(f"guest# {cmd}\n{out}")
        tracing[0] = False
        panda.type_serial_cmd("poweroff -f\n")

    panda.run()
    progress(f"{panda.instr_count():,} guest instructions; {switches[0]} address-space switches "
             f"between {len(address_spaces)} address spaces")
    progress(f"system calls made while the commands ran: {sum(syscalls.values())}")
    for number, count in syscalls.most_common(12):
        print(f"  {SYSCALLS.get(number, f'#{number}'):16s} {count:6d}")


if __name__ == "__main__":
    main()
