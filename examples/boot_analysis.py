#!/usr/bin/env python3
"""Boot Debian's i386 kernel to a busybox shell and watch what its programs do.

The main job of pypanda's README: the reference guest (built once by
``python -m pypanda.guest``) boots to its prompt; a few commands are typed
on its serial console from a driver thread; meanwhile pypanda's OS
introspection names the process behind every system call (no profile to
write: it comes from the kernel image) and syscalls2 gives each call by its
kernel name, with the path of every file a program opens; then the guest
powers off and ``run()`` returns with a table per process and a timeline of
who ran when.
"""
from collections import Counter, defaultdict

from pypanda import Panda, progress

COMMANDS = ["uname -a", "ls /", "cat /proc/uptime", "echo $((6*7))"]


def main() -> None:
    panda = Panda(generic="i386")
    calls = defaultdict(Counter)        # (pid, name) -> system call name -> count
    files = defaultdict(list)           # (pid, name) -> paths opened
    tracing = [False]
    names = {}

    @panda.ppp("syscalls2", "on_all_sys_enter")
    def on_enter(cpu, pc, callno):
        if not tracing[0]:
            return
        proc = panda.get_current_process(cpu)
        if proc is None:
            return
        if not names:
            names.update({s["nr"]: s["name"] for s in panda.os_profile.data["syscalls"] if s["name"]})
        calls[(proc.pid, proc.name)][names.get(callno, f"#{callno}")] += 1

    @panda.ppp("syscalls2", "on_sys_openat_enter")
    def on_openat(cpu, pc, dfd, filename, flags, mode):
        if tracing[0]:
            proc = panda.get_current_process(cpu)
            files[(proc.pid, proc.name)].append(panda.read_str(cpu, filename))

    story = panda.asidstory()

    @panda.queue_blocking
    def drive():
        panda.run_serial_cmd("true")                 # wait for the shell
        procs = panda.get_processes(panda.get_cpu())
        progress(f"booted: {len(procs)} processes, "
                 f"{sum(1 for p in procs if p.asid)} of them with an address space of their own")
        tracing[0] = True
        for cmd in COMMANDS:
            out = panda.run_serial_cmd(cmd)
            print(f"guest# {cmd}\n{out}")
        tracing[0] = False
        panda.type_serial_cmd("poweroff -f\n")

    panda.run()
    progress(f"{panda.instr_count():,} guest instructions")
    for (pid, name), counts in sorted(calls.items()):
        top = ", ".join(f"{c} {n}" for n, c in counts.most_common(6))
        print(f"  pid {pid:4d} {name:12s} {sum(counts.values()):5d} system calls: {top}")
        for path in files.get((pid, name), [])[:6]:
            print(f"  {'':22s} opened {path}")
    print(story.table(width=50))


if __name__ == "__main__":
    main()
