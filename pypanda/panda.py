"""The :class:`Panda` object: one emulated machine and the analysis on it.

``Panda`` is the facade pandare and the original pypanda's users know; the
work is done by one object per concern (``running``, ``memory``,
``registry``, ``record_replay``, ``console``, ``arch``), which share an
:class:`~pypanda._instance.Instance` rather than the Panda.
"""
from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import re
from os import fsdecode
import shlex
import weakref
from ctypes import byref, c_char_p
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _abi, _lib
from ._instance import Instance
from .arch import PandaArch, X86Arch
from .callbacks import CallbackType, callback_types
from ._args import c_path, c_string
from .console import DEFAULT_BUFFER_LIMIT, Console, SerialConsole, checked_limit
from .errors import (CallbackError, OptionError, PandaError, SnapshotError, StateError, UnsupportedError,
                     error_for)
from . import guest_files
from .introspection import Introspection, OsiModule, OsiProc, OsiThread
from .plugins import Plugins, SymbolHooks
from .hooks import (MEM_AFTER, MEM_BEFORE, MEM_PHYSICAL, MEM_READ, MEM_VIRTUAL, MEM_WRITE, Hook, Hooks,
                    MemHook)
from .memory import Memory
from .record_replay import RecordReplay
from .registry import CallbackRegistry
from .running import Runner
from .syscalls import SyscallTap
from .compat import ffi as _compat_ffi
from .utils import file_sha256, progress

if TYPE_CHECKING:
    from .pyplugin import PyPluginManager

#: The register helpers per arch; the arch's facts (word size, endianness,
#: CPU models) come from the library itself (panda_arch_info).
_ARCH_CLASSES = {
    "i386": X86Arch,
}

#: Guest images made by ``python -m pypanda.guest`` (scripts/build_guest.sh).
GENERIC_IMAGES = ("i386", "debian-i386")
#: each generic image's guest architecture
GENERIC_ARCH = {"i386": "i386", "debian-i386": "i386"}
#: each generic image's CD drive (copy_to_guest's default), as pandare's qcows
GENERIC_CDROM = {"i386": guest_files.DEFAULT_CDROM, "debian-i386": guest_files.DEFAULT_CDROM}


#: read_str's bound when no max_length is given (a guest string with no NUL)
READ_STR_LIMIT = 1 << 20


@functools.lru_cache(maxsize=8)
def _file_digest(path: str) -> str:
    return file_sha256(path)     # once per library file and process


def guest_dir(name: str) -> Path:
    """Where the generic guest image ``name`` is cached."""
    override = os.environ.get("PYPANDA_GUEST_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "pypanda" / "guest" / name


def _generic_args(name: str) -> Tuple[List[str], str]:
    """QEMU-style options that boot a generic image, and its prompt."""
    if name not in GENERIC_IMAGES:
        raise OptionError(f"unknown generic image {name!r}: available are {', '.join(GENERIC_IMAGES)}")
    d = guest_dir(name)
    meta = d / "guest.json"
    build = "python -m pypanda.guest" + ("" if name == "i386" else f" {name}")
    if not meta.exists():
        raise PandaError(f"the generic {name} guest is not built in {d}: build it once with '{build}' "
                         f"(downloads Debian's packages; needs apt-get)")
    info = json.loads(meta.read_text())
    files: List[Path] = []
    boot: List[str] = []  # no -kernel: SeaBIOS boots the disk's own boot loader
    disk: List[str] = []
    if name == "i386":   # the initramfs guest: a kernel and a busybox initrd
        files = [d / "vmlinuz", d / "initrd.gz"]
        boot = ["-kernel", str(files[0]), "-initrd", str(files[1]), "-append", info["cmdline"]]
        prompt = r"guest# "
    else:                # a disk guest: SeaBIOS boots GRUB from its MBR
        image = d / info["image"]["file"]
        if image.exists():
            disk = ["-hda", str(image)]
        else:
            # a recording carries what the guest read: a replay needs only
            # a drive of the same size, with no image behind it
            progress(f"{image} is missing: this machine's disk has no image, so it can only replay "
                     f"recordings (live disk reads fail)")
            disk = ["-drive", f"size={int(info['image']['virtual_size'])}B,if=ide"]
        prompt = re.escape(info["prompt"])
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise PandaError(f"the generic {name} guest in {d} lacks {', '.join(missing)}: rebuild it with "
                         f"'{build} --force'")
    return ["-M", "pc", "-cpu", "qemu32"] + boot + disk, prompt


def _needs_bios(args: Sequence[str]) -> bool:
    """Does this command line boot the pc machine's firmware with no ROM
    named (no -kernel, no -bios)?  QEMU then takes its own SeaBIOS."""
    machine = "pc"
    for i, a in enumerate(args[:-1]):
        if a in ("-M", "-machine"):
            machine = args[i + 1]
    return machine == "pc" and "-kernel" not in args and "-bios" not in args


def _destroy(instance: Instance, panda: "weakref.ref[Panda]") -> None:
    """The finalizer: free the instance; a Panda still alive (close(), or
    the finalizer run at exit) becomes a closed one."""
    if not instance.closed:
        # pre_shutdown callbacks run while the Panda still serves them
        instance.lib.panda_pre_shutdown(instance.handle)
    alive = panda()
    if alive is not None:
        alive.__class__ = _closed_class(type(alive))
    instance.close()


_CLOSED_CLASSES: Dict[type, type] = {}


def _closed_class(cls: type) -> type:
    """``cls`` whose every attribute raises StateError: what a Panda
    becomes once closed, so no method or property reaches freed state."""
    closed = _CLOSED_CLASSES.get(cls)
    if closed is None:
        closed = type(f"Closed{cls.__name__}", (_ClosedPanda, cls), {})
        _CLOSED_CLASSES[cls] = closed
    return closed


class _ClosedPanda:
    _STILL_THERE = frozenset({"close", "closed", "_instance", "_finalizer", "_callbacks"})

    def __getattribute__(self, name: str) -> Any:  # noqa: D105
        if name in _ClosedPanda._STILL_THERE or (name.startswith("__") and name.endswith("__")):
            return object.__getattribute__(self, name)
        object.__getattribute__(self, "_instance").check_open(name)
        raise AssertionError("unreachable")    # check_open raised

    def __setattr__(self, name: str, value: Any) -> None:
        object.__getattribute__(self, "_instance").check_open(f"setting {name}")


class Panda:
    """One emulated machine.

    ``Panda(arch="i386", mem="128M", os_version=None, qcow=None, extra_args="")``
    as in the original pypanda; pandare's keyword arguments are accepted
    where they mean something here.  ``extra_args`` are QEMU-style options
    (a string or a list): ``-M configurable`` selects the bare machine (a CPU
    and the RAM you map with :meth:`map_memory`), ``-nographic`` and
    ``-display none`` are accepted.  ``generic="i386"`` boots the reference
    Linux guest.  An unknown option, arch or memory size raises
    :class:`~pypanda.errors.OptionError` here, not later (so does a string
    with an embedded NUL).  ``serial_buffer_limit`` caps, in bytes, both
    the console output kept in :attr:`serial_log` and what waits unread for
    ``serial_read_until`` (the oldest goes first).
    """

    def __init__(self, arch: str = "i386", mem: str = "128M", os_version: Optional[str] = None,
                 qcow: Optional[str] = None, extra_args: Union[str, Sequence[str], None] = "",
                 *, expect_prompt: Optional[str] = None, os: str = "linux",
                 generic: Optional[str] = None, catch_exceptions: bool = True,
                 libpanda_path: Optional[str] = None, verbose: Optional[bool] = None,
                 serial_buffer_limit: int = DEFAULT_BUFFER_LIMIT,
                 serial_kwargs: Optional[Dict[str, Any]] = None, raw_monitor: bool = False,
                 biospath: Optional[str] = None, plugin_path: Optional[str] = None) -> None:
        generic_args: List[str] = []
        # pandare's keywords: serial_kwargs configure its pexpect console
        # (kept, unused: this console needs none); a raw monitor socket and
        # C plugin folders have no meaning here
        self.serial_kwargs = dict(serial_kwargs or {})
        if raw_monitor:
            raise UnsupportedError("raw_monitor=True: pypanda has no monitor socket; "
                                   "use panda.run_monitor_cmd(cmd)")
        if plugin_path is not None:
            raise UnsupportedError(f"plugin_path={plugin_path!r}: pypanda loads no PANDA C plugins; "
                                   "its plugins (syscalls2, osi, osi_linux) are built in")
        for what, value in (("arch", arch), ("generic", generic)):
            if value is not None:
                c_string(value, what, OptionError)
        checked_limit(serial_buffer_limit)     # before anything is made
        if generic is not None:
            arch = GENERIC_ARCH.get(generic, generic)
            generic_args, prompt = _generic_args(generic)
            expect_prompt = expect_prompt or prompt
        if arch not in _ARCH_CLASSES:
            raise OptionError(f"unknown arch {arch!r}: pypanda supports {', '.join(_ARCH_CLASSES)}")
        self.qcow = qcow
        self.arch_name = arch
        arch_cls = _ARCH_CLASSES[arch]
        self.os_version = os_version
        self.os = os
        self.generic = generic
        #: the CD drive copy_to_guest uses by default (pandare's panda.cdrom)
        self.cdrom: Optional[str] = GENERIC_CDROM.get(generic) if generic else None
        self.mem = mem
        if extra_args is None:
            extra: List[str] = []
        elif isinstance(extra_args, str):
            extra = shlex.split(extra_args)
        else:
            extra = [str(a) for a in extra_args]
        # the seed's and pandare's qcow= is the primary IDE disk (pandare
        # appends it as QEMU's bare positional image, which is -hda)
        disk = ["-hda", fsdecode(c_path(qcow, "qcow"))] if qcow is not None else []
        self.panda_args = ["-m", str(mem)] + generic_args + disk + extra
        if biospath is not None and "-bios" not in self.panda_args:
            # pandare's biospath is QEMU's -L folder: its bios-256k.bin
            rom = Path(biospath) / "bios-256k.bin"
            if not rom.is_file():
                raise OptionError(f"biospath={biospath!r}: no bios-256k.bin there")
            if _needs_bios(self.panda_args):
                self.panda_args += ["-bios", str(rom)]
        if arch == "i386" and _needs_bios(self.panda_args):
            # imported here: `python -m pypanda.firmware` would otherwise
            # find its module loaded by the package before it runs
            from .firmware import bios_path
            self.panda_args += ["-bios", str(bios_path())]
        c_string(str(mem), "mem", OptionError)
        for i, a in enumerate(extra):
            c_string(a, f"extra_args[{i}]", OptionError)
        if libpanda_path is not None:
            libpanda_path = fsdecode(c_path(libpanda_path, "libpanda_path"))

        lib = _lib.load_lib(arch, libpanda_path)
        facts = _abi.panda_arch_facts()
        if lib.panda_arch_info(byref(facts), ctypes.sizeof(facts)):
            raise error_for(1, f"{arch}: the library did not describe its architecture")
        #: the guest's word size in bits, general register size in bytes, byte order
        self.bits = facts.bits
        self.register_size = facts.register_size
        self.endianness = "big" if facts.big_endian else "little"
        #: QEMU's -cpu names this library's CPU can take
        self.cpu_models = [lib.panda_cpu_model_name(i).decode() for i in range(facts.ncpu_models)]
        argv = (c_char_p * len(self.panda_args))(*[a.encode() for a in self.panda_args])
        handle = _lib.PandaPtr()
        err = ctypes.create_string_buffer(512)
        status = lib.panda_create(len(self.panda_args), argv, byref(handle), err, len(err))
        if status:
            raise error_for(status, err.value.decode(errors="replace"))
        try:
            instance = Instance(lib, handle, arch, generic or arch, catch_exceptions,
                                generic is not None if verbose is None else verbose)
        except BaseException:
            lib.panda_destroy(handle)
            raise
        self._instance = instance
        # frees the instance when the Panda is collected, at exit, or on close()
        self._finalizer = weakref.finalize(self, _destroy, instance, weakref.ref(self))

        self.callback = callback_types
        #: pandare's panda.ffi (:data:`pypanda.ffi`: the cffi subset its scripts use)
        self.ffi = _compat_ffi
        self.arch: PandaArch = arch_cls(self._instance)
        self._console = Console(self._instance, expect_prompt, serial_buffer_limit)
        self._memory = Memory(self._instance, self.register_size, self.bits)
        self._callbacks = CallbackRegistry(self._instance)
        self._rr = RecordReplay(self._instance, self._console)
        self._runner = Runner(self._instance, self._console, self._rr)
        self._introspection = Introspection(
            self._instance, self.panda_args, os_version, guest_dir(generic) if generic else None,
            lambda addr, n: self._memory.physical_read(addr, n, "bytes"),
            lambda reg: self.arch.get_reg(self.get_cpu(), reg), lib.panda_ram_size(handle))
        #: pandare's panda.plugins: the native plugins (syscalls2, osi, osi_linux)
        self.plugins = Plugins(self)
        self._symbol_hooks: Optional[SymbolHooks] = None
        self._procname_gates: Dict[str, str] = {}      # callback name -> process name
        self._procname_armed = False
        self._ppp_registered: Dict[str, List[Tuple[str, str, Callable[..., Any]]]] = {}
        if self._instance.is_pc:        # the bare machine has no OS to name processes
            self._callbacks.procname_gate = self._gate_by_procname
        self._hooks = Hooks(self._instance)
        self._hook_of_function: Dict[Any, Hook] = {}
        self._mem_hook_of_function: Dict[Any, MemHook] = {}
        self._syscalls = SyscallTap(self._instance)

    # ---- settings shared with the parts ---------------------------------------

    @property
    def catch_exceptions(self) -> bool:
        """True (the default): an exception in a callback stops the run and
        run() re-raises it.  False: it is printed and the run goes on."""
        return self._instance.catch_exceptions

    @catch_exceptions.setter
    def catch_exceptions(self, value: bool) -> None:
        self._instance.catch_exceptions = value

    @property
    def verbose(self) -> bool:
        """Print progress ([pypanda] lines): the boot, the prompt, replays."""
        return self._instance.verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._instance.verbose = value

    @property
    def expect_prompt(self) -> Optional[str]:
        """The regex of the guest shell's prompt (run_serial_cmd waits for it)."""
        return self._console.expect_prompt

    @expect_prompt.setter
    def expect_prompt(self, value: Optional[str]) -> None:
        self._console.expect_prompt = value

    @property
    def serial_console(self) -> SerialConsole:
        """The guest's COM1: ``write(bytes)``, ``read_until(pattern, timeout)``, ``log``."""
        return self._console.serial

    # for tests and benchmarks that call libpanda directly
    @property
    def _lib(self) -> _lib.Library:
        return self._instance.lib

    @property
    def _handle(self) -> Any:
        return self._instance.handle

    @property
    def _as_parameter_(self) -> Any:
        return self._instance.handle

    def _check(self, status: int) -> None:
        self._instance.check(status)

    def _prompt_regex(self) -> Any:
        return self._console.prompt_regex()

    def close(self) -> None:
        """Free the machine now (also done when the object is collected, and
        at exit).  Afterwards every method and property raises StateError
        ("this Panda is closed"), as do the ``arch`` and ``serial_console``
        objects and bound methods taken before; ``close()`` again does
        nothing."""
        if self._instance.closed:
            return
        if self._instance.running:
            raise StateError("close() while the guest runs: end_analysis() and let run() return first")
        # freed after the instance: pre_shutdown may still be called as it goes
        self._finalizer()
        self._callbacks.clear()

    @property
    def closed(self) -> bool:
        """Has :meth:`close` (or the finalizer at exit) freed the machine?"""
        return self._instance.closed

    def __enter__(self) -> "Panda":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # pandare's @panda.cb_<name> decorators, for every callback type
        if name.startswith("cb_") and "_callbacks" in self.__dict__:
            cbt = callback_types.get(name[3:])
            if cbt is not None:
                return self._callbacks.decorator_for(cbt)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- running ----------------------------------------------------------

    def run(self) -> None:
        """Run the guest until :meth:`end_analysis`, a guest error, the guest
        powering off (pc machine), or a ``hlt`` (bare machine).  Callbacks run
        on this thread; functions queued with :meth:`queue_blocking` run on a
        helper thread meanwhile (the first once the run is under way).  An
        exception raised in a callback or a queued function, or a value a
        callback returns that C cannot take, stops the run and is re-raised
        here with its traceback.  Ctrl-C (SIGINT, when run() is called on the
        main thread and SIGINT has Python's default handler) stops the run
        at once and raises KeyboardInterrupt.  If the run was a replay, an
        exception ends the replay as well.  ``run()`` may be called again
        afterwards and continues where the guest stopped.  When it returns,
        the PyPlugins are unloaded (pandare's behaviour; see
        :attr:`pyplugins`)."""
        self._runner.run()
        if "_pyplugin_manager" in self.__dict__:
            self._pyplugin_manager._run_ended()

    def end_analysis(self) -> None:
        """Stop the run at the next instruction boundary; ``run()`` returns.
        Safe from a callback or from another thread."""
        self._instance.end_analysis()

    def stop_run(self) -> None:
        """pandare's name for :meth:`end_analysis` without unloading."""
        self._instance.lib.panda_stop(self._instance.handle)

    @property
    def guest_halted(self) -> bool:
        """True if the last run ended because the guest stopped itself (HLT
        on the bare machine; power-off or reset on the pc machine)."""
        return self._runner.guest_halted

    @property
    def stop_reason(self) -> str:
        """Why the guest stopped (pc machine), e.g. it powered off; empty if
        it did not stop itself."""
        return self._instance.stop_reason()

    @property
    def bios_log(self) -> str:
        """What the BIOS logged on its debug port (SeaBIOS's messages: the
        disks it found, "Booting from Hard Disk...", errors); empty when the
        machine booted a kernel directly."""
        lib, handle = self._lib, self._handle
        n = lib.panda_firmware_log(handle, None, 0)
        buf = ctypes.create_string_buffer(n)
        got = lib.panda_firmware_log(handle, buf, n)
        return buf.raw[:min(n, got)].decode("latin-1")

    def instr_count(self) -> int:
        """Guest instructions retired so far (exact on the pc machine)."""
        return int(self._instance.lib.panda_instr_count(self._instance.handle))

    def rr_get_guest_instr_count(self) -> int:
        """pandare's name: the guest's instruction count, which is the
        position in the recording while replaying."""
        return self.instr_count()

    def get_cpu(self) -> Any:
        """The machine's ``CPUState*`` (as callbacks receive it).  Only this
        and the ``cpu`` a callback of this Panda receives are accepted as
        ``cpu`` arguments; anything else raises HandleError."""
        return self._instance.cpu_arg(self._instance.cpu, "get_cpu")

    def current_pc(self, cpu: Any = None) -> int:
        """The program counter of ``cpu`` (default: the machine's CPU)."""
        return self.arch.get_pc(cpu if cpu is not None else self._instance.cpu)

    def enable_memcb(self) -> None:
        """Turn on the virt/phys_mem_* callbacks (off by default: they slow
        every memory access down)."""
        self._instance.lib.panda_enable_memcb(self._instance.handle)

    def disable_memcb(self) -> None:
        """Turn the virt/phys_mem_* callbacks off again."""
        self._instance.lib.panda_disable_memcb(self._instance.handle)

    def enable_tb_chaining(self) -> None:
        """Let blocks jump to each other directly (the default).  Block
        callbacks turn chaining off by themselves while registered."""
        self._instance.lib.panda_enable_tb_chaining(self._instance.handle)

    def disable_tb_chaining(self) -> None:
        """Return to the dispatcher after every block."""
        self._instance.lib.panda_disable_tb_chaining(self._instance.handle)

    def flush_tb(self) -> None:
        """Drop all translated code (retranslated on next execution)."""
        self._instance.lib.panda_flush_tb(self._instance.handle)

    # ---- driving the guest from a helper thread (pandare's model) ----------

    def queue_blocking(self, func: Callable[[], Any], queue: bool = True) -> Callable[[], Any]:
        """Decorator: run ``func()`` on pypanda's driver thread once ``run()``
        is running (at once if it already is).  There it may block: type
        commands, wait for their output, send monitor commands.  An exception
        it raises stops the run and is re-raised by ``run()``."""
        if queue:
            self._runner.queue_blocking(func)
        return func

    def run_serial_cmd(self, cmd: str, no_timeout: bool = False, timeout: Optional[float] = None) -> str:
        """Type ``cmd`` and Enter on the serial console, wait for the prompt,
        and return what the command printed (pandare's semantics; waits for
        the guest's first prompt first).  From a queued function; ``timeout``
        seconds (default 30) unless ``no_timeout``."""
        return self._console.run_serial_cmd(cmd, no_timeout, timeout)

    def type_serial_cmd(self, cmd: str) -> None:
        """Type ``cmd`` on the serial console (no Enter unless it ends in \\n)."""
        self._console.type_serial_cmd(cmd)

    def serial_read_until(self, byte_sequence: bytes, timeout: Optional[float] = 300.0) -> bytes:
        """Console output up to and including ``byte_sequence``; TimeoutError
        after ``timeout`` seconds, GuestStopped if the run ends first."""
        return self._console.serial_read_until(byte_sequence, timeout)

    @property
    def serial_log(self) -> str:
        """What the guest printed on its serial console so far: at most the
        last ``serial_buffer_limit`` bytes (16 MiB by default; see
        :class:`~pypanda.console.SerialConsole`)."""
        return self._console.log_text

    def copy_to_guest(self, copy_directory: str, iso_name: Optional[str] = None, absolute_paths: bool = False,
                      setup_script: str = "setup.sh", timeout: Optional[float] = None,
                      cdrom: Optional[str] = None) -> None:
        """pandare's copy_to_guest: make ``iso_name`` (default
        ``copy_directory + ".iso"``) from the directory, put it in the CD
        drive ``cdrom`` (default :attr:`cdrom`, else ``ide1-cd0``), mount it
        in the guest on ``DIR.ro``, copy it to ``DIR`` (the directory's last
        component, relative to the shell's directory, unless
        ``absolute_paths``), unmount and eject, then run ``DIR/setup_script``
        if the directory has one.  ``timeout`` applies to each command.  From
        a function queued with ``@panda.queue_blocking``; a failing guest
        command raises :class:`~pypanda.guest_files.GuestCommandError`.  See
        :mod:`pypanda.guest_files`."""
        guest_files.require_blocking_context(self._instance)
        guest_files.copy_in(lambda cmd, t: self.run_serial_cmd(cmd, timeout=t), self.run_monitor_cmd,
                            copy_directory, iso_name, absolute_paths, setup_script, timeout,
                            cdrom or self.cdrom, self._instance.verbose)

    def run_monitor_cmd(self, cmd: str) -> str:
        """Run a monitor command and return its reply.  libpanda answers
        ``info registers``, ``stop``, ``cont`` and ``q``; other commands go to
        monitor callbacks; one of those raising re-raises here (and stops
        the run if the guest runs).  Not from a callback (the emulation
        thread serves monitor commands between slices)."""
        return self._console.run_monitor_cmd(cmd)

    def monitor_printf(self, mon: Any, text: str) -> None:
        """From a ``monitor`` callback: append ``text`` to the reply that
        ``run_monitor_cmd`` returns.  ``mon`` is the callback's Monitor*."""
        self._console.monitor_printf(mon, text)

    # ---- memory -----------------------------------------------------------

    def map_memory(self, name: str, size: int, address: int) -> None:
        """Map ``size`` bytes of RAM (rounded up to 4 KiB) at guest-physical
        ``address`` (a multiple of 4 KiB).  The total may not exceed ``mem``."""
        self._memory.map_memory(name, size, address)

    def physical_memory_read(self, addr: int, length: int, fmt: str = "bytearray") -> Any:
        """Read guest-physical memory; ``fmt`` is 'bytearray' (the default:
        the bytes, immutable, as pandare returns them), 'bytes' (the same),
        'int' (little-endian), 'str' (the bytes before the first NUL, as
        pandare's) or 'ptrlist' (guest-word integers).
        Raises ValueError (MemoryAccessError) if the range is not mapped."""
        return self._memory.physical_read(addr, length, fmt)

    def physical_memory_write(self, addr: int, buf: bytes) -> None:
        """Write ``buf`` to guest-physical memory."""
        self._memory.physical_write(addr, bytes(buf))

    def virtual_memory_read(self, cpu: Any, addr: int, length: int, fmt: str = "bytearray") -> Any:
        """Read through the guest's page tables as ``cpu`` sees them now
        (``fmt`` as for :meth:`physical_memory_read`)."""
        return self._memory.virtual_read(cpu, addr, length, fmt)

    def virtual_memory_write(self, cpu: Any, addr: int, buf: bytes) -> None:
        """Write through the guest's page tables as ``cpu`` sees them now."""
        self._memory.virtual_write(cpu, addr, bytes(buf))

    def virt_to_phys(self, cpu: Any, addr: int) -> int:
        """The guest-physical address of virtual ``addr``."""
        return self._memory.virt_to_phys(cpu, addr)

    def read_str(self, cpu: Any, ptr: int, max_length: Optional[int] = None) -> str:
        """A NUL-terminated guest string at virtual address ``ptr``: up to
        ``max_length`` characters, or (None, pandare's default) to the NUL,
        at most 1 MiB."""
        return self._memory.read_str(cpu, ptr, READ_STR_LIMIT if max_length is None else max_length)

    # ---- callbacks ----------------------------------------------------------

    def callback_fires(self, cbtype: Union[str, CallbackType]) -> bool:
        """Whether callbacks of this type fire on this machine (all are
        accepted; some fire only once the parts they describe exist)."""
        return self._callbacks.fires(cbtype)

    def load_python_plugin(self, init_function: Any, name: str) -> int:
        """Register a Python plugin: libpanda makes a plugin handle and calls
        ``init_function(handle)`` (decorated ``@pyp.callback("bool(void*)")``),
        which registers callbacks with ``register_callback(handle, ...)`` and
        returns True.  Returns the handle."""
        return self._callbacks.load_python_plugin(init_function, name)

    def register_callback(self, *args: Any, **kwargs: Any) -> None:
        """Register a callback, in either style:

        - the original pypanda's: ``register_callback(handle, panda.callback.X, fn)``
          with ``handle`` from ``init(handle)`` and ``fn`` from ``pyp.callback``
          (any other handle raises HandleError);
        - pandare's: ``register_callback(panda.callback.X, fn, name, enabled=True)``.

        ``fn`` may also be a plain Python function.  A function whose C
        signature does not fit the type raises CallbackError (a TypeError).
        """
        if args and isinstance(args[0], CallbackType):
            self._callbacks.register_named(*args, **kwargs)
            return
        if len(args) != 3 or kwargs:
            raise CallbackError("register_callback(handle, panda.callback.<name>, fn) or "
                                "register_callback(panda.callback.<name>, fn, name)")
        self._callbacks.register_seed(*args)

    def enable_callback(self, name: str) -> None:
        """Enable a named callback (from a callback, another thread, or while
        stopped)."""
        self._callbacks.set_enabled(name, True)

    def disable_callback(self, name: str, forever: bool = False) -> None:
        """Disable a named callback; ``forever``: delete it."""
        if forever:
            self._callbacks.delete(name)
        else:
            self._callbacks.set_enabled(name, False)

    def is_callback_enabled(self, name: str) -> bool:
        """Is the named callback enabled?"""
        return self._callbacks.registration(name).enabled

    def delete_callback(self, name: str) -> None:
        """Unregister a named callback."""
        self._callbacks.delete(name)

    def delete_callbacks(self) -> None:
        """Unregister every named callback."""
        for name in self._callbacks.names():
            self._callbacks.delete(name)

    # ---- address hooks and system calls ---------------------------------------

    def hook_symbol(self, libraryname: str, symbol: str, kernel: bool = False, name: Optional[str] = None,
                    cb_type: str = "start_block_exec", procname: Optional[str] = None
                    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """pandare's decorator: hook ``symbol`` of the shared library
        ``libraryname`` ("libc.so.6", or "libc" for any libc.so*) in every
        process that maps it, as :meth:`hook` does at an address: ``fn(cpu,
        tb, h)``.  The address comes from the library's dynamic symbol table,
        read from the process's memory once ld.so has loaded it (needs OS
        introspection; see :class:`~pypanda.plugins.SymbolHooks`).  Kernel
        symbols (``kernel=True``) are the profile's."""
        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            if kernel:
                return self.hook(self._introspection.kernel_symbol(symbol), kernel=True, cb_type=cb_type)(fn)
            if self._symbol_hooks is None:
                self._symbol_hooks = SymbolHooks(self)
            self._symbol_hooks.add(libraryname, symbol, fn, cb_type=cb_type)
            return fn
        return decorator

    def hook(self, addr: int, enabled: bool = True, kernel: Optional[bool] = None, asid: Optional[int] = None,
             cb_type: str = "start_block_exec") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """pandare's decorator: call ``fn(cpu, tb, h)`` before each execution
        of the instruction at virtual address ``addr``, where ``tb.pc`` is
        ``addr`` and ``h`` the :class:`~pypanda.hooks.Hook` (``h.enabled``,
        ``h.hits``, ``h.disable()``, ``h.remove()``, ...).  ``kernel``: None
        any privilege, True kernel mode only, False user mode only; ``asid``:
        None any address space, else a CR3 value (compared as CR3 & ~0x1FFF).
        The filtering is done in libpanda: other instructions, and calls the
        filters refuse, cost no Python.  ``cb_type`` may be
        "start_block_exec" (the default) or "before_block_exec"; both fire
        before the instruction at ``addr``, whether or not it starts a
        block; others raise CallbackError.  The decorated function is
        returned unchanged; ``panda.hooks[fn]`` is its Hook."""
        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.hook_add(addr, fn, enabled=enabled, kernel=kernel, asid=asid, cb_type=cb_type)
            return fn
        return decorate

    def hook_add(self, addr: int, fn: Callable[..., Any], enabled: bool = True, kernel: Optional[bool] = None,
                 asid: Optional[int] = None, cb_type: str = "start_block_exec") -> Hook:
        """:meth:`hook` without the decorator: returns the Hook."""
        h = self._hooks.add(addr, fn, asid=asid, kernel=kernel, enabled=enabled, cb_type=cb_type)
        self._hook_of_function[fn] = h
        return h

    @property
    def hooks(self) -> Dict[Any, Hook]:
        """{decorated function: its Hook} for the hooks :meth:`hook` made and
        not removed (the last hook made for a function)."""
        return {fn: h for fn, h in self._hook_of_function.items() if not h.removed}

    def delete_hooks(self) -> None:
        """Remove every address hook."""
        self._hooks.clear()
        self._hook_of_function.clear()

    def hook_mem(self, start_address: int, end_address: int, on_before: bool = True, on_after: bool = False,
                 on_read: bool = False, on_write: bool = False, on_virtual: bool = False,
                 on_physical: bool = False, enabled: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """pandare's memory-hook decorator (PANDA's mem_hooks plugin): call
        ``fn(cpu, mad)`` for each guest data access overlapping
        ``[start_address, end_address]`` (both inclusive) of the kinds
        asked for (before and/or after, reads and/or writes, the virtual
        and/or the physical address compared); ``mad`` is a
        :class:`~pypanda.hooks.MemoryAccess` (``pc``, ``addr``, ``size``,
        ``buf``, ``on_read``, ..., ``hook``).  The ranges are checked in
        libpanda, so other accesses cost no Python; but memory callbacks
        slow every guest access down (``enable_memcb()`` is on while a
        memory hook exists).  CallbackError if the kinds make a hook that
        could never fire.  Returns the function; ``panda.mem_hooks[fn]``
        is its :class:`~pypanda.hooks.MemHook`."""
        flags = ((MEM_BEFORE if on_before else 0) | (MEM_AFTER if on_after else 0) |
                 (MEM_READ if on_read else 0) | (MEM_WRITE if on_write else 0) |
                 (MEM_VIRTUAL if on_virtual else 0) | (MEM_PHYSICAL if on_physical else 0))

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            self._mem_hook_of_function[fn] = self._hooks.mem_add(start_address, end_address, flags, fn, enabled)
            return fn
        return decorate

    def hook_phys_mem_read(self, start_address: int, end_address: int, on_before: bool = True,
                           on_after: bool = False, enabled: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """:meth:`hook_mem` for reads of physical addresses."""
        return self.hook_mem(start_address, end_address, on_before, on_after, True, False, False, True, enabled)

    def hook_phys_mem_write(self, start_address: int, end_address: int, on_before: bool = True,
                            on_after: bool = False, enabled: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """:meth:`hook_mem` for writes to physical addresses."""
        return self.hook_mem(start_address, end_address, on_before, on_after, False, True, False, True, enabled)

    def hook_virt_mem_read(self, start_address: int, end_address: int, on_before: bool = True,
                           on_after: bool = False, enabled: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """:meth:`hook_mem` for reads of virtual addresses."""
        return self.hook_mem(start_address, end_address, on_before, on_after, True, False, True, False, enabled)

    def hook_virt_mem_write(self, start_address: int, end_address: int, on_before: bool = True,
                            on_after: bool = False, enabled: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """:meth:`hook_mem` for writes to virtual addresses."""
        return self.hook_mem(start_address, end_address, on_before, on_after, False, True, True, False, enabled)

    @property
    def mem_hooks(self) -> Dict[Any, MemHook]:
        """{decorated function: its MemHook} for the memory hooks not removed."""
        return {fn: h for fn, h in self._mem_hook_of_function.items() if not h.removed}

    @property
    def syscall_tap(self) -> SyscallTap:
        """The low-level system-call tap (:class:`~pypanda.syscalls.SyscallTap`):
        ``watch(number, enter, ret, fn)`` with ``fn(cpu, call, is_return)``."""
        return self._syscalls

    # ---- snapshots (pc machine) ---------------------------------------------

    def snap(self, name: str) -> None:
        """Save the whole machine (CPU, RAM, devices, clock) as ``name``, in
        memory.  From the driver thread or while stopped."""
        self._rr.snap(name)

    def revert_sync(self, name: str) -> str:
        """Restore the machine to snapshot ``name`` (pandare's name; returns
        an empty string, raises SnapshotError if there is no such snapshot).
        On a generic guest, ``"root"`` (the snapshot pandare's generic images
        have, at the root shell's prompt) exists from the first prompt on:
        the first revert to it waits for the prompt and snapshots it.
        A before/after_loadvm callback raising re-raises here (and, from the
        driver thread, stops the run, whose run() raises it too)."""
        try:
            self._rr.revert(name)
        except SnapshotError:
            if name != "root" or self.generic is None:
                raise
            self._revert_to_generic_root()
        return ""

    def _revert_to_generic_root(self) -> None:
        """pandare's generic images carry a "root" snapshot at a root shell's
        prompt.  pypanda keeps one per generic guest in its cache
        (``root-<key>.snap``, the key a hash of the guest and of this
        library, so a rebuilt guest or library makes a new one): the first
        revert ever boots to the prompt and saves it, later ones load it."""
        path = self.generic_root_snapshot()
        if path is not None and path.is_file():
            try:
                self._rr.load_file(str(path))
                self._rr.snap("root")
                return
            except SnapshotError:
                path.unlink()           # refused (damaged, foreign): made anew
        self._console.wait_for_first_prompt(300.0)
        self._rr.snap("root")
        if path is not None:
            try:
                self._rr.save_file(str(path))
                # keep the three newest (other command lines of this guest
                # may be in use); older libraries' and guests' go
                kept = sorted(path.parent.glob("root-*.snap"), key=lambda f: f.stat().st_mtime, reverse=True)
                for old in kept[3:]:
                    old.unlink()
            except (PandaError, OSError):
                pass                    # a read-only cache: it only costs the boot
        self._rr.revert("root")

    def generic_root_snapshot(self) -> Optional[Path]:
        """Where the generic guest's "root" snapshot is kept (None: not a
        generic guest, or it has no guest.json)."""
        if self.generic is None:
            return None
        info = guest_dir(self.generic) / "guest.json"
        if not info.is_file():
            return None
        key = hashlib.sha256(info.read_bytes())
        key.update(_file_digest(str(self._instance.lib.path)).encode())
        key.update("\0".join(self.panda_args).encode())
        return info.parent / f"root-{key.hexdigest()[:16]}.snap"

    def delvm(self, name: str) -> None:
        """Forget snapshot ``name``."""
        self._rr.delvm(name)

    delvm_sync = delvm

    def save_snapshot(self, path: str) -> None:
        """Write the whole machine to a file (while stopped)."""
        self._rr.save_file(path)

    def load_snapshot(self, path: str) -> None:
        """Restore the machine from a file written by :meth:`save_snapshot`.
        A before/after_loadvm callback raising re-raises here, after the load."""
        self._rr.load_file(path)

    def commit_disk(self, path: str, drive: int = 0) -> None:
        """Save what the guest wrote to a disk (``drive`` 0 is ``qcow=`` or
        ``-hda``) as a new qcow2 image at ``path`` whose backing file is the
        disk's image.  The image itself is never written: guest writes live
        in an overlay until committed this way.  While stopped."""
        self._rr.commit_disk(path, drive)

    # ---- record and replay (pc machine) ------------------------------------

    def record(self, recording_name: str, snapshot_name: Optional[str] = None) -> None:
        """Start recording to ``recording_name``-rr-snp and -rr-nondet.log
        (after reverting to ``snapshot_name`` if given).  From the driver
        thread while the guest runs, or before run()."""
        self._rr.record(recording_name, snapshot_name)

    def end_record(self) -> None:
        """Finish the recording: the log is complete only after this."""
        self._rr.end_record()

    def record_cmd(self, guest_command: str, copy_directory: Optional[str] = None,
                   iso_name: Optional[str] = None, setup_command: Optional[str] = None,
                   recording_name: str = "recording", snap_name: Optional[str] = "root",
                   ignore_errors: bool = False) -> str:
        """pandare's record_cmd: revert to ``snap_name`` (pandare's default
        "root": a generic guest's root snapshot, see :meth:`revert_sync`; a
        machine without one records from where it is; None: no revert),
        copy ``copy_directory`` in with :meth:`copy_to_guest`, run
        ``setup_command``, type ``guest_command``, start recording, press
        Enter, wait for the prompt, stop recording.  Returns the command's
        output.  From a function queued with ``@panda.queue_blocking``."""
        copy = None
        if copy_directory is not None:
            guest_files.require_blocking_context(self._instance)
            copy = lambda: self.copy_to_guest(copy_directory, iso_name)  # noqa: E731
        if snap_name is not None:
            self._console.require_driver("record_cmd")
            try:
                self.revert_sync(snap_name)
            except SnapshotError:
                if snap_name != "root":
                    raise
        return self._rr.record_cmd(guest_command, copy, setup_command, recording_name, None)

    def recording_exists(self, name: str) -> bool:
        """Are ``name``-rr-snp and ``name``-rr-nondet.log there?"""
        return self._rr.recording_exists(name)

    def run_replay(self, replaypfx: str) -> None:
        """Replay the recording ``replaypfx`` (``replaypfx``-rr-snp and
        -rr-nondet.log): restore its snapshot, feed its inputs at exactly
        their instruction counts, and return when it ends.  Raises
        RecordingError for a missing, incomplete or foreign recording and
        ReplayDivergedError if the guest leaves the recorded path.  Each
        replay starts from the recording's snapshot, so replays may follow
        each other in one process."""
        self._rr.begin_replay(replaypfx)
        self.run()

    def replay(self, path: str) -> None:
        """The original pypanda's name for :meth:`run_replay`."""
        self.run_replay(path)

    def end_replay(self) -> None:
        """Stop the replay under way (from a callback or another thread)."""
        self._rr.end_replay()

    @property
    def replay_finished(self) -> bool:
        """True if the last run ended at the end of its recording."""
        return self._rr.finished

    # ---- OS introspection (pandare's OSI names) --------------------------------

    def get_current_process(self, cpu: Any = None) -> Optional[OsiProc]:
        """The process running now (in a callback: the one whose code or
        system call is executing), or None before the kernel is up.  An
        :class:`~pypanda.introspection.OsiProc`: ``name``, ``pid``, ``ppid``,
        ``asid``, ``create_time``, ``taskd``."""
        return self._introspection.current_process()

    def get_processes(self, cpu: Any = None) -> List[OsiProc]:
        """Every process (thread group), from the kernel's task list."""
        return self._introspection.processes()

    def get_processes_dict(self, cpu: Any = None) -> Dict[int, Dict[str, Any]]:
        """pid -> {"name", "pid", "parent_pid", "create_time"} (pandare's form)."""
        return {p.pid: {"name": p.name, "pid": p.pid, "parent_pid": p.ppid, "create_time": p.create_time}
                for p in self.get_processes(cpu)}

    def get_process_name(self, cpu: Any = None) -> Optional[str]:
        """The current process's name (its comm), None before the kernel is up."""
        proc = self.get_current_process(cpu)
        return None if proc is None else proc.name

    def get_current_thread(self, cpu: Any = None) -> OsiThread:
        """The thread running now (``pid``, ``tid``)."""
        return self._introspection.current_thread()

    def get_mappings(self, cpu: Any = None, proc: Optional[OsiProc] = None) -> List[OsiModule]:
        """The memory mappings of ``proc`` (default: the current process), as
        /proc/PID/maps lists them: :class:`~pypanda.introspection.OsiModule`
        with ``base``, ``size``, ``file``, ``name``, ``offset``, ``perms``."""
        return self._introspection.mappings(proc)

    def get_mapping_by_addr(self, cpu: Any, addr: int) -> Optional[OsiModule]:
        """The current process's mapping that holds ``addr``, or None."""
        return self._introspection.mapping_by_addr(addr)

    def get_file_name(self, cpu: Any, fd: int, proc: Optional[OsiProc] = None) -> Optional[bytes]:
        """The path of file descriptor ``fd`` of the current process (bytes,
        as pandare returns it), or None if it is not open."""
        return self._introspection.file_name(fd, proc)

    def get_open_files(self, cpu: Any = None, proc: Optional[OsiProc] = None) -> Dict[int, str]:
        """fd -> path for every open file of ``proc`` (default: current)."""
        intro = self._introspection
        return intro.osi.open_files(proc or intro.osi.current())

    def get_cmdline(self, cpu: Any = None, proc: Optional[OsiProc] = None) -> Optional[List[str]]:
        """The argv of ``proc`` (default: current) as the kernel keeps it."""
        intro = self._introspection
        return intro.osi.cmdline(proc or intro.osi.current())

    @property
    def os_profile(self) -> Any:
        """The running kernel's :class:`~pypanda.osi.Profile` (made or loaded
        on first use; see :mod:`pypanda.introspection`)."""
        return self._introspection.profile()

    # ---- pandare's plugins -------------------------------------------------------

    def load_plugin(self, name: str, args: Optional[Dict[str, Any]] = None) -> None:
        """pandare's load_plugin for the plugins pypanda has natively
        (``syscalls2``, ``osi``, ``osi_linux``); others raise UnsupportedError."""
        self.plugins.load(name, args)

    def require(self, name: str) -> None:
        """pandare's require: load plugin ``name`` if it is not loaded."""
        self.plugins.load(name)

    def unload_plugin(self, name: str) -> None:
        """pandare's unload_plugin: plugin ``name``'s callbacks stop."""
        self.plugins.unload(name)

    def unload_plugins(self) -> None:
        """pandare's unload_plugins: every native plugin unloaded."""
        self.plugins.unload_all()

    def disable_ppp(self, name: str) -> None:
        """pandare's disable_ppp: the PPP callback registered as function
        ``name`` (its __name__, or the name given to :meth:`ppp`) stops."""
        for plugin_name, attr, fn in list(self._ppp_registered.get(name, [])):
            if plugin_name in self.plugins:
                self.plugins[plugin_name].unregister(attr, fn)
        self._ppp_registered.pop(name, None)

    @property
    def pyplugins(self) -> "PyPluginManager":
        """pandare's ``panda.pyplugins``: the :class:`~pypanda.pyplugin.PyPluginManager`
        that loads, finds and unloads PyPlugins (made on first use)."""
        mgr = self.__dict__.get("_pyplugin_manager")
        if mgr is None:
            from .pyplugin import PyPluginManager
            mgr = self.__dict__["_pyplugin_manager"] = PyPluginManager(self)
        return mgr

    def ppp(self, plugin_name: str, attr: str, name: Optional[str] = None,
            autoload: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: register the function as plugin ``plugin_name``'s
        callback ``attr`` (``@panda.ppp("syscalls2", "on_sys_write_enter")``,
        ``@panda.ppp("osi", "on_task_change")``)."""
        def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
            self.plugins.load(plugin_name).register(attr, fn)
            key = name or getattr(fn, "__name__", repr(fn))
            self._ppp_registered.setdefault(str(key), []).append((plugin_name, attr, fn))
            return fn
        return decorator

    def queue_async(self, func: Callable[[], Any], internal: bool = False) -> None:
        """pandare's queue_async: run ``func`` on the driver thread (as
        :meth:`queue_blocking`)."""
        self.queue_blocking(func)

    def asidstory(self) -> Any:
        """Start collecting which process runs when (PANDA's asidstory):
        returns a :class:`~pypanda.asidstory.AsidStory` whose ``table()``
        and ``svg()`` show it, by instruction count, once the run is over."""
        from .asidstory import AsidStory
        return AsidStory(self)

    # ---- pandare's CPU-state helpers ------------------------------------------

    def current_asid(self, cpu: Any = None) -> int:
        """The current address-space id: CR3 (pandare's current_asid)."""
        return self.arch.get_reg(cpu if cpu is not None else self.get_cpu(), "CR3")

    def in_kernel(self, cpu: Any = None) -> bool:
        """Is the CPU in kernel mode (CPL 0)? (pandare's in_kernel)"""
        cpu = cpu if cpu is not None else self.get_cpu()
        return self.arch.get_reg(cpu, "CS") & 3 == 0 and bool(self.arch.get_reg(cpu, "CR0") & 1)

    in_kernel_mode = in_kernel

    def in_kernel_code_linux(self, cpu: Any = None) -> bool:
        """Is the CPU running Linux kernel code (its pc in the kernel's half
        of the address space)?  (pandare's in_kernel_code_linux)"""
        cpu = cpu if cpu is not None else self.get_cpu()
        prof = self._introspection._profile
        start = int(prof.data["page_offset"]) if prof is not None else 0xC0000000
        return self.arch.get_pc(cpu) >= start

    def current_sp(self, cpu: Any = None) -> int:
        """The stack pointer (pandare's current_sp)."""
        return self.arch.get_reg(cpu if cpu is not None else self.get_cpu(), getattr(self.arch, "reg_sp", "ESP"))

    def set_os_name(self, os_name: str) -> None:
        """pandare's set_os_name: the OS the guest runs, in PANDA's form
        (``linux-32-debian:6.1.0-57-686-pae``); checked against the running
        kernel as ``os_version`` is."""
        self._introspection.set_os_version(os_name)

    # ---- procname= on callbacks (pandare's) -------------------------------------

    def _gate_by_procname(self, name: str, procname: str) -> None:
        """Keep callback ``name`` enabled only while a process named
        ``procname`` runs: checked at each task change, and after execve and
        prctl return (a process takes its new name there).  By address
        space, as pandare's: kernel code that runs meanwhile (interrupts,
        kernel threads borrowing the address space) is included."""
        if not self._procname_armed:
            # once: the gates may all go and new ones come (no second set of
            # watchers calling _apply_procname_gates twice)
            self._procname_armed = True
            self.ppp("osi", "on_task_change")(self._apply_procname_gates)
            for call in ("execve", "prctl"):
                self.ppp("syscalls2", f"on_sys_{call}_return")(
                    lambda cpu, pc, *args: self._apply_procname_gates(cpu))
        self._procname_gates[name] = procname
        self._callbacks.set_enabled(name, False)     # until that process runs

    def _apply_procname_gates(self, cpu: Any) -> None:
        current = self.get_process_name(cpu)
        for name, procname in list(self._procname_gates.items()):
            reg = self._callbacks.named.get(name)
            if reg is None:
                del self._procname_gates[name]
                continue
            want = current == procname
            if reg.enabled != want:
                self._callbacks.set_enabled(name, want)

