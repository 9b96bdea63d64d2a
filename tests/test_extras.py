"""pypanda.extras (pandare's FileHook, FileFaker, IoctlFaker,
ProcWriteCapture) on the reference guest, each checked by what the guest
itself prints.

A control boot with no extras shows what the guest does natively: the
faked path does not exist, the renamed one neither, and ``stty`` on a
regular file fails (``TCGETS`` -> ``-ENOTTY``).  Each extra then gets a boot
of its own.  ``fakeio`` is a static program assembled here that reads the
faked file with readv, _llseek, read, pread64, lseek(SEEK_END) and fstat64,
into .bss buffers on pages it has never touched.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from guest_programs import install, static_elf
from pypanda import Panda
from pypanda.extras import FakeFile, FileFaker, FileHook, IoctlFaker, ProcWriteCapture

SECRET = "fake contents\n"

FAKEIO = r"""
    .globl _start
_start:
    mov $5, %eax            # open("/etc/secret", O_RDONLY)
    mov $path, %ebx
    xor %ecx, %ecx
    int $0x80
    mov %eax, fd
    mov $145, %eax          # readv(fd, iov, 2): 4 + 6 bytes
    mov fd, %ebx
    mov $iov, %ecx
    mov $2, %edx
    int $0x80
    mov %eax, %edx
    mov $buf, %ecx
    call out
    mov $140, %eax          # _llseek(fd, 0, 2, &res, SEEK_SET)
    mov fd, %ebx
    xor %ecx, %ecx
    mov $2, %edx
    mov $res, %esi
    xor %edi, %edi
    int $0x80
    mov res, %eax
    call num
    mov $3, %eax            # read(fd, buf, 3)
    mov fd, %ebx
    mov $buf, %ecx
    mov $3, %edx
    int $0x80
    mov %eax, %edx
    mov $buf, %ecx
    call out
    mov $180, %eax          # pread64(fd, far, 4, 5, 0)
    mov fd, %ebx
    mov $far, %ecx
    mov $4, %edx
    mov $5, %esi
    xor %edi, %edi
    int $0x80
    mov %eax, %edx
    mov $far, %ecx
    call out
    mov $19, %eax           # lseek(fd, -3, SEEK_END)
    mov fd, %ebx
    mov $-3, %ecx
    mov $2, %edx
    int $0x80
    call num
    mov $3, %eax            # read(fd, far2, 10)
    mov fd, %ebx
    mov $far2, %ecx
    mov $10, %edx
    int $0x80
    mov %eax, %edx
    mov $far2, %ecx
    call out
    mov $197, %eax          # fstat64(fd, &st): st_size
    mov fd, %ebx
    mov $st, %ecx
    int $0x80
    mov st+44, %eax
    call num
    mov $4, %eax
    mov $1, %ebx
    mov $nl, %ecx
    mov $1, %edx
    int $0x80
    mov $1, %eax            # exit(0)
    xor %ebx, %ebx
    int $0x80
out:                        # write(1, ecx, edx), then "|"
    mov $4, %eax
    mov $1, %ebx
    int $0x80
    mov $4, %eax
    mov $1, %ebx
    mov $bar, %ecx
    mov $1, %edx
    int $0x80
    ret
num:                        # eax (0..99) as two digits, then "|"
    xor %edx, %edx
    mov $10, %ecx
    div %ecx
    add $48, %al
    add $48, %dl
    mov %al, digits
    mov %dl, digits+1
    mov $digits, %ecx
    mov $2, %edx
    jmp out
    .data
path: .asciz "/etc/secret"
bar: .ascii "|"
nl: .ascii "\n"
iov: .long buf, 4, buf+4, 6
    .bss
    .lcomm fd, 4
    .lcomm res, 8
    .lcomm digits, 4
    .lcomm buf, 64
    .lcomm st, 128
    .lcomm pad, 12288
    .lcomm far, 64
    .lcomm pad2, 8192
    .lcomm far2, 64
"""
WRITEV = r"""
    .globl _start
_start:
    mov $146, %eax          # writev(1, iov, 3)
    mov $1, %ebx
    mov $iov, %ecx
    mov $3, %edx
    int $0x80
    mov $1, %eax            # exit(0)
    xor %ebx, %ebx
    int $0x80
    .data
a: .ascii "vec"
b: .ascii "tor\n"
iov: .long a, 3, a, 0, b, 4
"""

# readv 4+6 | _llseek's result | read 3 | pread64 at 5 | lseek(-3, END) | read to EOF | st_size
FAKEIO_OUT = "fake conte|02|ke |cont|11|ts\n|14|"




def clean(text: str) -> str:
    return text.replace("\r\n", "\n").strip("\n")


def boot(setup: Callable[[Panda], Any], commands: List[str],
         programs: Tuple[Tuple[str, bytes], ...] = ()) -> Tuple[Dict[str, str], Any]:
    """Boot the reference guest, let ``setup(panda)`` attach extras, install
    ``programs``, run ``commands``; returns ({command: output}, setup's value)."""
    panda = Panda(generic="i386")
    try:
        extra = setup(panda)
        out: Dict[str, str] = {}

        @panda.queue_blocking
        def driver() -> None:
            for name, data in programs:
                install(panda, name, data)
            for c in commands:
                out[c] = clean(panda.run_serial_cmd(c))
            panda.end_analysis()

        panda.run()
        return out, extra
    finally:
        panda.close()


@pytest.fixture(scope="module")
def fakeio(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return static_elf(tmp_path_factory.mktemp("extras"), "fakeio", FAKEIO)


@pytest.fixture(scope="module")
def control(fakeio: bytes) -> Dict[str, str]:
    """The guest with no extras."""
    out, _ = boot(lambda panda: None, [
        "cat /etc/secret; echo rc=$?",
        "echo real > /tmp/b; cat /tmp/a; echo rc=$?",
        "stty -F /etc/passwd; echo rc=$?",
        "/tmp/fakeio",
        "/tmp/run_me",
    ], programs=(("fakeio", fakeio),))
    return out


def test_control_natively(control: Dict[str, str]) -> None:
    assert "No such file" in control["cat /etc/secret; echo rc=$?"]
    assert control["cat /etc/secret; echo rc=$?"].endswith("rc=1")
    assert "No such file" in control["echo real > /tmp/b; cat /tmp/a; echo rc=$?"]
    stty = control["stty -F /etc/passwd; echo rc=$?"]
    assert "rc=1" in stty and "speed" not in stty
    assert FAKEIO_OUT not in control["/tmp/fakeio"]
    assert "/tmp/run_me: not found" in control["/tmp/run_me"]


def test_file_faker(fakeio: bytes) -> None:
    fake = FakeFile(SECRET)
    big = bytes(range(256)) * 40 + b"tail"          # 10244 bytes: sendfile in 4 KiB steps
    sendfiles: List[int] = []

    def setup(panda: Panda) -> FileFaker:
        faker = FileFaker(panda)
        faker.replace_file("/etc/secret", fake)
        faker.replace_file("/etc/big", FakeFile(big))

        @panda.ppp("syscalls2", "on_sys_sendfile64_return")
        def sendfile_ret(cpu: Any, pc: int, out_fd: int, in_fd: int, offset: int, count: int) -> None:
            if panda.get_process_name(cpu) == "cat":
                sendfiles.append(panda.arch.get_retval(cpu, convention="syscall"))
        return faker

    cmds = [
        "cat /etc/secret",                              # sendfile64 made a write
        "head -c 4 /etc/secret; echo '<'",
        "dd if=/etc/secret bs=3 skip=1 2>/dev/null",    # lseek, reads of 3
        "ls -l /etc//secret",                           # statx by (normalized) path
        "wc -c < /etc/secret",                          # opened by the shell, read by wc
        "(head -c 4; echo '<'; head -c 3; echo '<') < /etc/secret",   # one open, one offset
        "/tmp/fakeio",
        "cat /etc/passwd",                              # other files are left alone
        "ls /etc",
        "echo written > /etc/secret; cat /etc/secret",  # O_TRUNC, then write
        "head -c 8 /dev/zero | od -An -tx1",            # the backing file is untouched
        "cat /etc/big | md5sum",
    ]
    out, faker = boot(setup, cmds, programs=(("fakeio", fakeio),))
    assert out["cat /etc/secret"] == SECRET.strip("\n")
    assert out["cat /etc/big | md5sum"].split()[0] == hashlib.md5(big).hexdigest()
    # each cat's sendfiles, up to the 0 at the end: /etc/secret, /etc/passwd
    # (real), /etc/secret once written, /etc/big in short sendfiles of at most
    # 4 KiB (as much as fits below the stack pointer)
    runs: List[List[int]] = [[]]
    for n in sendfiles:
        runs[-1].append(n)
        if n == 0:
            runs.append([])
    assert len(runs) == 5 and runs[-1] == []
    assert runs[0] == [len(SECRET), 0] and runs[2] == [len("written\n"), 0]
    assert sum(runs[3]) == len(big) and 0 < max(runs[3]) <= 4096 and len(runs[3]) > 3
    assert out["head -c 4 /etc/secret; echo '<'"] == "fake<"
    assert out["dd if=/etc/secret bs=3 skip=1 2>/dev/null"] == "e contents"
    ls = out["ls -l /etc//secret"].split()
    assert ls[0] == "-rw-rw-r--" and ls[4] == str(len(SECRET)), ls
    assert out["wc -c < /etc/secret"] == str(len(SECRET))
    assert out["(head -c 4; echo '<'; head -c 3; echo '<') < /etc/secret"] == "fake<\n co<"
    assert out["/tmp/fakeio"] == FAKEIO_OUT
    assert out["cat /etc/passwd"].startswith("root:")
    assert "secret" not in out["ls /etc"]
    assert out["echo written > /etc/secret; cat /etc/secret"] == "written"
    assert fake.contents == b"written\n"
    assert out["head -c 8 /dev/zero | od -An -tx1"].split() == ["00"] * 8
    assert faker.hooked_fds
    faker.close()
    assert not faker.hooked_fds


def test_file_hook() -> None:
    def setup(panda: Panda) -> FileHook:
        hook = FileHook(panda)
        hook.rename_file("/tmp/a", "/tmp/longer_than_the_old_name")
        hook.rename_file("/tmp/run_me", "/bin/busybox")
        return hook

    long_name = "/tmp/longer_than_the_old_name"
    cmds = [
        f"echo real > {long_name}; cat /tmp/a",          # open of the renamed path
        "echo more >> /tmp/a; cat " + long_name,         # and for writing
        "ls /tmp/a",                                     # statx of the renamed path
        "ls /tmp",                                       # no /tmp/a was made
        "p=/tmp/a; echo ${p}_",                          # the shell's own string is untouched
        "/tmp/run_me",                                   # execve: busybox, called run_me
        "echo after",
    ]
    out, hook = boot(setup, cmds)
    assert out[cmds[0]] == "real"
    assert out[cmds[1]] == "real\nmore"
    assert out["ls /tmp/a"] == "/tmp/a"
    assert out["ls /tmp"].split() == [long_name.rsplit("/", 1)[1]]
    assert out["p=/tmp/a; echo ${p}_"] == "/tmp/a_"
    assert out["/tmp/run_me"] == "run_me: applet not found"
    assert out["echo after"] == "after"
    assert hook.renamed_files() == [("/tmp/a", long_name), ("/tmp/run_me", "/bin/busybox")]


def test_ioctl_faker() -> None:
    out, faker = boot(lambda panda: IoctlFaker(panda, use_osi_linux=True),
                      ["stty -F /etc/passwd; echo rc=$?"])
    text = out["stty -F /etc/passwd; echo rc=$?"]
    assert text.endswith("rc=0") and "speed" in text
    forced = [i for i in faker.get_forced_returns() if i.proc_name == "stty"]
    assert len(forced) == 1, faker.get_forced_returns()
    tcgets = forced[0]
    assert tcgets.cmd.asUnsigned32 == 0x5401 and tcgets.original_ret_code == -25
    assert tcgets.file_name == "/etc/passwd" and not tcgets.has_buf
    assert (tcgets.cmd.bits.cmd_num, tcgets.cmd.bits.type_num) == (0x54, 0x01)
    assert "ioctl(dir=IO,arg_size=0,cmd=0x54,type=0x1) -> -25" in str(tcgets)
    assert faker.get_forced_returns(with_buf_only=True) == []
    # the shell's own ioctls on its tty succeed natively and are left alone
    assert any(i.file_name and "tty" in i.file_name and i.original_ret_code == 0
               for i in faker.get_unmodified_returns())


def test_ioctl_faker_ignore() -> None:
    out, faker = boot(lambda panda: IoctlFaker(panda, use_osi_linux=True, ignore=[("/etc/passwd", 0x54)]),
                      ["stty -F /etc/passwd; echo rc=$?"])
    assert out["stty -F /etc/passwd; echo rc=$?"].endswith("rc=1")
    assert not [i for i in faker.get_forced_returns() if i.proc_name == "stty"]
    assert any(i.proc_name == "stty" and i.original_ret_code == -25 for i in faker.get_unmodified_returns())


def test_proc_write_capture(tmp_path: Path) -> None:
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo" / "stale").write_bytes(b"old")
    writev = static_elf(tmp_path, "wv", WRITEV)
    wv_dir = tmp_path / "wvlogs"
    wv_caps: List[ProcWriteCapture] = []

    def setup(panda: Panda) -> ProcWriteCapture:
        wv_caps.append(ProcWriteCapture(panda, proc_name="wv", log_dir=wv_dir))   # a second one, stacked
        return ProcWriteCapture(panda, console_capture=True, proc_name="echo", log_dir=tmp_path,
                                rm_existing_logs=True)

    cmds = ["/bin/echo -n 'hello pypanda' > /tmp/out", "/bin/echo second line",
            "echo builtin > /tmp/other", "/bin/echo oops >&2", "ls /nonexistent", "/tmp/wv > /tmp/v"]
    out, cap = boot(setup, cmds, programs=(("wv", writev),))
    assert [p.name for p in (wv_dir / "wv").iterdir()] == ["_tmp_v.stdout"]
    assert (wv_dir / "wv" / "_tmp_v.stdout").read_bytes() == b"vector\n"     # writev's three buffers
    assert wv_caps[0].get_files_written() == {str(wv_dir / "wv" / "_tmp_v.stdout")}
    assert out["/bin/echo second line"] == "second line"
    logs = tmp_path / "echo"
    files = sorted(p.name for p in logs.iterdir())
    # the builtin echo is the shell's write; "stale" went with rm_existing_logs
    assert files == ["_dev_ttyS0.stdout", "_tmp_out.stdout"]
    assert (logs / "_tmp_out.stdout").read_bytes() == b"hello pypanda"
    # >&2 makes fd 1 a copy of fd 2: still fd 1, to the tty
    assert (logs / "_dev_ttyS0.stdout").read_bytes() == b"second line\noops\n"
    assert not cap.proc_printed_err()
    # ls's complaint is a write to fd 2
    assert cap.console_printed_post_boot_err()
    console = (tmp_path / "console.out").read_bytes()
    assert b"second line\n" in console and b"No such file" in console
    # the shell's echo of the typed line is there, the write to /tmp/out is not
    assert console.count(b"hello pypanda") == 1 and b"'hello pypanda' > /tmp/out" in console
    assert cap.get_files_written() == {str(p) for p in logs.iterdir()} | {str(tmp_path / "console.out")}


def test_pandare_examples_port() -> None:
    """pandare's examples fake_files.py and ioctl_introspection.py, with
    pandare's module names and the extras made on the driver thread."""
    from pypanda.extras.fileFaker import FakeFile as FakeFile2, FileFaker as FileFaker2
    from pypanda.extras.ioctl_faker import IoctlFaker as IoctlFaker2

    panda = Panda(generic="i386")
    faker = FileFaker2(panda)
    faker.replace_file("/foo", FakeFile2("hello world\n"))
    out: Dict[str, Any] = {}

    @panda.queue_blocking
    def run_cmd() -> None:
        ioctl_faker = IoctlFaker2(panda, use_osi_linux=True)
        panda.revert_sync("root")
        panda.run_serial_cmd("cd / && ls -l")
        out["normal"] = list(ioctl_faker.get_unmodified_returns())
        out["faked"] = list(ioctl_faker.get_forced_returns())
        out["hello"] = clean(panda.run_serial_cmd("cat /foo"))
        panda.run_serial_cmd("echo hi > /foo")
        out["hi"] = clean(panda.run_serial_cmd("cat /foo"))
        panda.end_analysis()

    try:
        panda.run()
    finally:
        panda.close()
    faker.close()
    assert out["hello"] == "hello world" and out["hi"] == "hi"
    assert out["faked"] == []
    assert any(i.proc_name == "ls" and i.file_name == "/dev/ttyS0" for i in out["normal"])
