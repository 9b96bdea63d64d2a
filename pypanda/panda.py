"""The :class:`Panda` object: one emulated machine and the analysis on it."""
from __future__ import annotations

import ctypes
import json
import os
import queue
import re
import shlex
import threading
import weakref
from pathlib import Path
from ctypes import POINTER, byref, c_char_p, c_uint64, c_void_p
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple, Union

from . import _lib
from .arch import PandaArch, X86Arch
from .callbacks import CallbackType, callback_types
from .console import SerialConsole, clean
from .errors import (CallbackError, OptionError, PandaError, StateError, UnsupportedError,
                     error_for)
from .ffi import CPUState, callback_state, take_pending_exception
from .utils import progress

_ARCH_INFO = {
    # arch: (bits, register size in bytes, arch class)
    "i386": (32, 4, X86Arch),
}


def _destroy(lib: ctypes.CDLL, handle: c_void_p) -> None:
    lib.panda_destroy(handle)


class _Registration:
    """A callback registered by name (pandare style)."""

    __slots__ = ("name", "cbtype", "cfn", "plugin", "enabled")

    def __init__(self, name: str, cbtype: CallbackType, cfn: Any, plugin: c_void_p, enabled: bool):
        self.name, self.cbtype, self.cfn, self.plugin, self.enabled = name, cbtype, cfn, plugin, enabled


def _command_output(console: bytes, prompt: "re.Match[bytes]") -> str:
    """What a typed command printed: the console up to the prompt, less the
    command's own echo on the first line."""
    return clean(console[:prompt.start()]).partition("\n")[2].rstrip("\n")


def _not_yet(feature: str) -> NoReturn:
    raise UnsupportedError(
        f"{feature} is not available in this build of pypanda yet (record/replay and "
        f"snapshots are the next steps)")


#: Guest images made by ``python -m pypanda.guest`` (scripts/build_guest.sh).
GENERIC_IMAGES = ("i386",)


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
    if not (d / "vmlinuz").exists() or not (d / "initrd.gz").exists() or not meta.exists():
        raise PandaError(
            f"the generic {name} guest is not built in {d}: build it once with "
            f"'python -m pypanda.guest' (downloads Debian's kernel and busybox; needs apt-get)")
    info = json.loads(meta.read_text())
    cmdline = info["cmdline"]   # the builder records the reference command line
    return (["-M", "pc", "-cpu", "qemu32", "-kernel", str(d / "vmlinuz"), "-initrd", str(d / "initrd.gz"),
             "-append", cmdline], r"guest# ")


class Panda:
    """One emulated machine.

    ``Panda(arch="i386", mem="128M", os_version=None, qcow=None, extra_args="")``
    as in the original pypanda; pandare's keyword arguments are accepted
    where they mean something here.  ``extra_args`` are QEMU-style options
    (a string or a list): ``-M configurable`` selects the bare machine (a CPU
    and the RAM you map with :meth:`map_memory`), ``-nographic`` and
    ``-display none`` are accepted.  An unknown option, arch or memory size
    raises :class:`~pypanda.errors.OptionError` here, not later.
    """

    def __init__(self, arch: str = "i386", mem: str = "128M", os_version: Optional[str] = None,
                 qcow: Optional[str] = None, extra_args: Union[str, Sequence[str], None] = "",
                 *, expect_prompt: Optional[str] = None, os: str = "linux",
                 generic: Optional[str] = None, catch_exceptions: bool = True,
                 libpanda_path: Optional[str] = None, verbose: Optional[bool] = None) -> None:
        generic_args: List[str] = []
        if generic is not None:
            arch = generic
            generic_args, prompt = _generic_args(generic)
            expect_prompt = expect_prompt or prompt
        if arch not in _ARCH_INFO:
            raise OptionError(f"unknown arch {arch!r}: pypanda supports {', '.join(_ARCH_INFO)}")
        if qcow is not None:
            _not_yet(f"Panda(qcow={qcow!r}) (disk images)")
        self.arch_name = arch
        self.bits, self.register_size, arch_cls = _ARCH_INFO[arch]
        self.endianness = "little"
        self.os_version = os_version
        self.os = os
        self.expect_prompt = expect_prompt
        self.catch_exceptions = catch_exceptions
        self.verbose = generic is not None if verbose is None else verbose
        self.generic = generic
        self.mem = mem
        if extra_args is None:
            extra: List[str] = []
        elif isinstance(extra_args, str):
            extra = shlex.split(extra_args)
        else:
            extra = [str(a) for a in extra_args]
        self.panda_args = ["-m", str(mem)] + generic_args + extra

        self._lib = _lib.load_lib(arch, libpanda_path)
        argv = (c_char_p * len(self.panda_args))(*[a.encode() for a in self.panda_args])
        handle = c_void_p()
        err = ctypes.create_string_buffer(512)
        status = self._lib.panda_create(len(self.panda_args), argv, byref(handle), err, len(err))
        if status:
            raise error_for(status, err.value.decode(errors="replace"))
        self._handle = handle
        self._finalizer = weakref.finalize(self, _destroy, self._lib, handle)

        self.callback = callback_types
        self.arch: PandaArch = arch_cls(self)
        self._cpu = ctypes.cast(self._lib.panda_get_cpu(handle), POINTER(CPUState))
        self._registry: Dict[str, _Registration] = {}
        self._seed_callbacks: Dict[Tuple[int, int, int], Any] = {}
        self._plugins: Dict[str, Tuple[c_void_p, Any]] = {}
        self._internal_plugin: Optional[c_void_p] = None
        self.serial_console = SerialConsole(self)
        self._driver_queue: "queue.Queue[Callable[[], Any]]" = queue.Queue()
        self._driver: Optional[threading.Thread] = None
        self._driver_exc: Optional[BaseException] = None
        self._prompt_seen = False
        self._running_flag = False
        self._user_paused = False
        self._is_pc = self._lib.panda_machine_name(handle) == b"pc"

    # ---- plumbing ---------------------------------------------------------

    @property
    def _as_parameter_(self) -> c_void_p:
        return self._handle

    def _check(self, status: int) -> None:
        if status:
            raise error_for(status, self._lib.panda_last_error(self._handle).decode(errors="replace"))

    def close(self) -> None:
        """Free the machine now (also done when the object is collected)."""
        if self._running_flag:
            raise StateError("close() while the guest runs: end_analysis() and let run() return first")
        self._registry.clear()
        self._seed_callbacks.clear()
        self._finalizer()

    def __enter__(self) -> "Panda":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        # pandare's @panda.cb_<name> decorators, for every callback type
        if name.startswith("cb_"):
            cbt = callback_types.get(name[3:])
            if cbt is not None:
                return self._decorator_for(cbt)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---- running ----------------------------------------------------------

    def run(self) -> None:
        """Run the guest until :meth:`end_analysis`, a guest error, the guest
        powering off (pc machine), or a ``hlt`` (bare machine).  Callbacks run
        on this thread; functions queued with :meth:`queue_blocking` run on a
        helper thread meanwhile.  An exception raised in a callback or a
        queued function stops the run and is re-raised here with its
        traceback; ``run()`` may be called again afterwards and continues
        where the guest stopped."""
        st = callback_state
        if st.running is not None:
            raise StateError("run() is already running on this thread")
        replaying = self._is_pc and self._lib.panda_rr_mode(self._handle) == 2
        if self.verbose and not replaying:
            progress(f"Running {self.generic or self.arch_name} guest" +
                     (" (booting Linux)" if self._is_pc and not self._prompt_seen else ""))
        st.running, st.pending = self, None
        self._driver_exc = None
        self._running_flag = True
        if self._is_pc:
            self.serial_console.start()
        self._start_driver()
        replay_progress = None
        if replaying and self.verbose is not False:
            stop_progress = threading.Event()
            replay_progress = threading.Thread(target=self._replay_progress, args=(stop_progress,),
                                               daemon=True)
            replay_progress.start()
        try:
            status = self._lib.panda_run(self._handle)
        finally:
            st.running = None
            self._running_flag = False
            self._user_paused = False
            exc = take_pending_exception()
            if replay_progress is not None:
                stop_progress.set()
                replay_progress.join()
            if self._is_pc:
                self.serial_console.stop()
            self._stop_driver()
        if exc is not None:
            raise exc
        if self._driver_exc is not None:
            exc, self._driver_exc = self._driver_exc, None
            raise exc
        self._check(status)
        if self.verbose and self.guest_halted and self._is_pc:
            progress(f"guest stopped: {self.stop_reason}")
        if self.verbose is not False and self.replay_finished:
            progress(f"{getattr(self, '_replay_name', 'replay')}: 100% (instruction "
                     f"{self.instr_count():,}): replay complete")

    # ---- driving the guest from a helper thread (pandare's model) ----------

    def queue_blocking(self, func: Callable[[], Any], queue: bool = True) -> Callable[[], Any]:
        """Decorator: run ``func()`` on pypanda's driver thread once ``run()``
        is running (at once if it already is).  There it may block: type
        commands, wait for their output, send monitor commands.  An exception
        it raises stops the run and is re-raised by ``run()``."""
        if queue:
            self._driver_queue.put(func)
            if self._running_flag and self._driver is None:
                self._start_driver()   # queued from a callback during the run
        return func

    def _start_driver(self) -> None:
        if self._driver_queue.empty():
            return
        self._driver_stop = threading.Event()
        self._driver = threading.Thread(target=self._driver_loop, name="pypanda-driver", daemon=True)
        self._driver.start()

    def _driver_loop(self) -> None:
        while not self._driver_stop.is_set():
            try:
                func = self._driver_queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                func()
            except BaseException as exc:  # noqa: B902 - re-raised by run()
                if self._driver_exc is None:
                    self._driver_exc = exc
                self.end_analysis()
                return

    def _stop_driver(self) -> None:
        if self._driver is None:
            return
        self._driver_stop.set()
        self._driver.join()
        self._driver = None

    @property
    def stop_reason(self) -> str:
        """Why the guest stopped (pc machine), e.g. it powered off."""
        return self._lib.panda_last_error(self._handle).decode(errors="replace") if self.guest_halted else ""

    def _prompt_regex(self) -> "re.Pattern[bytes]":
        if not self.expect_prompt:
            raise StateError("no prompt to wait for: pass expect_prompt= (a regex) to Panda()")
        return re.compile(self.expect_prompt.encode() if isinstance(self.expect_prompt, str)
                          else self.expect_prompt)

    def _wait_for_first_prompt(self, timeout: Optional[float]) -> None:
        if self._prompt_seen:
            return
        self.serial_console.read_until(self._prompt_regex(), timeout)
        self._prompt_seen = True
        if self.verbose:
            icount = self._lib.panda_serial_output_icount(self._handle)
            progress(f"guest prompt after {icount:,} instructions")

    def run_serial_cmd(self, cmd: str, no_timeout: bool = False, timeout: Optional[float] = None) -> str:
        """Type ``cmd`` and Enter on the serial console, wait for the prompt,
        and return what the command printed (pandare's semantics; waits for
        the guest's first prompt first).  From a queued function."""
        self._driving("run_serial_cmd")
        limit = None if no_timeout else (timeout if timeout is not None else 30.0)
        self._wait_for_first_prompt(None if no_timeout else max(limit or 0, 300.0))
        self.serial_console.write(cmd.encode() + b"\n")
        out, match = self.serial_console.read_until(self._prompt_regex(), limit)
        return _command_output(out, match)

    def type_serial_cmd(self, cmd: str) -> None:
        """Type ``cmd`` on the serial console (no Enter unless it ends in \\n)."""
        self._driving("type_serial_cmd")
        self.serial_console.write(cmd.encode())

    def serial_read_until(self, byte_sequence: bytes, timeout: Optional[float] = 300.0) -> bytes:
        """Console output up to and including ``byte_sequence``."""
        self._driving("serial_read_until")
        out, _ = self.serial_console.read_until(byte_sequence, timeout)
        return out

    @property
    def serial_log(self) -> str:
        """Everything the guest printed on its serial console so far."""
        return clean(bytes(self.serial_console.log))

    def run_monitor_cmd(self, cmd: str) -> str:
        """Run a monitor command and return its reply.  libpanda answers
        ``info registers``, ``stop``, ``cont`` and ``q``; other commands go to
        monitor callbacks.  Not from a callback (the emulation thread serves
        monitor commands between slices)."""
        if callback_state.running is self:
            raise StateError("run_monitor_cmd cannot be called from a callback; call it from a "
                             "function queued with @panda.queue_blocking")
        out = ctypes.create_string_buffer(65536)
        self._check(self._lib.panda_monitor_cmd(self._handle, cmd.encode(), out, len(out)))
        word = cmd.strip()
        if word == "stop":
            self._user_paused = True
        elif word in ("cont", "c", "q", "quit"):
            self._user_paused = False
        return out.value.decode(errors="replace")

    def monitor_printf(self, mon: Any, text: str) -> None:
        """From a ``monitor`` callback: append ``text`` to the reply that
        ``run_monitor_cmd`` returns."""
        self._lib.panda_monitor_printf(mon, text.encode())

    def instr_count(self) -> int:
        """Guest instructions retired so far (exact on the pc machine)."""
        return int(self._lib.panda_instr_count(self._handle))

    def _driving(self, what: str) -> None:
        if not self._is_pc:
            raise UnsupportedError(f"{what}: the {self._lib.panda_machine_name(self._handle).decode()} "
                                   f"machine has no serial console; use the pc machine (-M pc)")
        if callback_state.running is self:
            raise StateError(f"{what} blocks until the guest answers, so it cannot run in a callback: "
                             f"call it from a function queued with @panda.queue_blocking")

    def end_analysis(self) -> None:
        """Stop the run at the next instruction boundary; ``run()`` returns.
        Safe from a callback or from another thread."""
        self._lib.panda_end_analysis(self._handle)

    def stop_run(self) -> None:
        """pandare's name for :meth:`end_analysis` without unloading."""
        self._lib.panda_stop(self._handle)

    @property
    def guest_halted(self) -> bool:
        """True if the last run ended because the guest executed HLT."""
        return bool(self._lib.panda_guest_halted(self._handle))

    def get_cpu(self) -> Any:
        """The machine's ``CPUState*`` (as callbacks receive it)."""
        return self._cpu

    def current_pc(self, cpu: Any = None) -> int:
        return self.arch.get_pc(cpu if cpu is not None else self._cpu)

    def enable_memcb(self) -> None:
        """Turn on the virt/phys_mem_* callbacks (off by default: they slow
        every memory access down)."""
        self._lib.panda_enable_memcb(self._handle)

    def disable_memcb(self) -> None:
        self._lib.panda_disable_memcb(self._handle)

    def enable_tb_chaining(self) -> None:
        """Let blocks jump to each other directly (the default).  Block
        callbacks turn chaining off by themselves while registered."""
        self._lib.panda_enable_tb_chaining(self._handle)

    def disable_tb_chaining(self) -> None:
        self._lib.panda_disable_tb_chaining(self._handle)

    def flush_tb(self) -> None:
        """Drop all translated code (retranslated on next execution)."""
        self._lib.panda_flush_tb(self._handle)

    def callback_fires(self, cbtype: Union[str, CallbackType]) -> bool:
        """Whether callbacks of this type fire on this machine (all are
        accepted; some fire only once the parts they describe exist)."""
        cbt = callback_types[cbtype] if isinstance(cbtype, str) else cbtype
        return bool(self._lib.panda_cb_fires(self._handle, cbt.number))

    # ---- memory -----------------------------------------------------------

    def map_memory(self, name: str, size: int, address: int) -> None:
        """Map ``size`` bytes of RAM (rounded up to 4 KiB) at guest-physical
        ``address`` (a multiple of 4 KiB).  The total may not exceed ``mem``."""
        self._check(self._lib.panda_map_memory(self._handle, name.encode(), size, address))

    def physical_memory_read(self, addr: int, length: int, fmt: str = "bytearray") -> Any:
        """Read guest-physical memory; ``fmt`` is 'bytearray', 'int'
        (little-endian), 'str' or 'ptrlist' (guest-word integers).
        Raises ValueError (MemoryAccessError) if the range is not mapped."""
        buf = ctypes.create_string_buffer(length)
        self._check(self._lib.panda_physical_memory_read(self._handle, addr, buf, length))
        return self._format(buf.raw, fmt)

    def physical_memory_write(self, addr: int, buf: bytes) -> None:
        data = bytes(buf)
        self._check(self._lib.panda_physical_memory_write(self._handle, addr, data, len(data)))

    def virtual_memory_read(self, cpu: Any, addr: int, length: int, fmt: str = "bytearray") -> Any:
        """Read through the guest's page tables as the CPU sees them now."""
        buf = ctypes.create_string_buffer(length)
        self._check(self._lib.panda_virtual_memory_read(cpu, addr, buf, length))
        return self._format(buf.raw, fmt)

    def virtual_memory_write(self, cpu: Any, addr: int, buf: bytes) -> None:
        data = bytes(buf)
        self._check(self._lib.panda_virtual_memory_write(cpu, addr, data, len(data)))

    def virt_to_phys(self, cpu: Any, addr: int) -> int:
        out = c_uint64()
        self._check(self._lib.panda_virt_to_phys(cpu, addr, byref(out)))
        return out.value

    def _format(self, raw: bytes, fmt: str) -> Any:
        if fmt == "bytearray":
            return bytearray(raw)
        if fmt == "bytes":
            return raw
        if fmt == "int":
            return int.from_bytes(raw, "little")
        if fmt == "str":
            return raw.split(b"\0", 1)[0].decode(errors="replace")
        if fmt == "ptrlist":
            w = self.register_size
            return [int.from_bytes(raw[i:i + w], "little") for i in range(0, len(raw) - w + 1, w)]
        raise OptionError(f"unknown fmt {fmt!r}: use bytearray, bytes, int, str or ptrlist")

    def read_str(self, cpu: Any, ptr: int, max_length: int = 256) -> str:
        """A NUL-terminated guest string at virtual address ``ptr``."""
        out = bytearray()
        while len(out) < max_length:
            chunk = self.virtual_memory_read(cpu, ptr + len(out), min(64, max_length - len(out)), "bytes")
            nul = chunk.find(b"\0")
            if nul >= 0:
                out += chunk[:nul]
                break
            out += chunk
        return out.decode(errors="replace")

    # ---- callbacks: the original pypanda's plugin pattern -----------------

    def load_python_plugin(self, init_function: Any, name: str) -> int:
        """Register a Python plugin: libpanda makes a plugin handle and calls
        ``init_function(handle)`` (decorated ``@pyp.callback("bool(void*)")``),
        which registers callbacks with ``register_callback(handle, ...)`` and
        returns True.  Returns the handle."""
        if not isinstance(init_function, _lib.PLUGIN_INIT) and not callable(init_function):
            raise CallbackError("load_python_plugin needs init(handle) decorated with @pyp.callback('bool(void*)')")
        if not hasattr(init_function, "argtypes_"):
            init_function = callback_types.init(init_function)
        callback_types.init.check(init_function)
        init_ptr = ctypes.cast(init_function, _lib.PLUGIN_INIT)
        plugin = c_void_p()
        st = callback_state
        st.pending = None
        status = self._lib.panda_load_external_plugin(self._handle, name.encode(), init_ptr, byref(plugin))
        exc = take_pending_exception()
        if exc is not None:
            raise exc
        self._check(status)
        self._plugins[name] = (plugin, init_function)
        return int(plugin.value or 0)

    def register_callback(self, *args: Any, **kwargs: Any) -> None:
        """Register a callback, in either style:

        - the original pypanda's: ``register_callback(handle, panda.callback.X, fn)``
          with ``handle`` from ``init(handle)`` and ``fn`` from ``pyp.callback``;
        - pandare's: ``register_callback(panda.callback.X, fn, name, enabled=True)``.

        ``fn`` may also be a plain Python function.  A function whose C
        signature does not fit the type raises CallbackError (a TypeError).
        """
        if args and isinstance(args[0], CallbackType):
            self._register_named(*args, **kwargs)
            return
        if len(args) != 3 or kwargs:
            raise CallbackError("register_callback(handle, panda.callback.<name>, fn) or "
                                "register_callback(panda.callback.<name>, fn, name)")
        handle, cbtype, fn = args
        cbt = self._cbtype(cbtype)
        cfn = self._as_cfunction(cbt, fn)
        plugin = c_void_p(handle)
        self._check(self._lib.panda_register_callback(plugin, cbt.number, cfn))
        self._seed_callbacks[(int(handle or 0), cbt.number, int(ctypes.cast(cfn, c_void_p).value or 0))] = cfn

    def _cbtype(self, cbtype: Any) -> CallbackType:
        if isinstance(cbtype, CallbackType):
            return cbtype
        if isinstance(cbtype, str):
            return callback_types[cbtype]
        raise CallbackError(f"expected panda.callback.<name>, got {cbtype!r}")

    @staticmethod
    def _as_cfunction(cbt: CallbackType, fn: Any) -> Any:
        if hasattr(fn, "argtypes_"):
            cbt.check(fn)
            return fn
        if isinstance(fn, ctypes._CFuncPtr):  # type: ignore[attr-defined]
            raise CallbackError(f"{cbt.name}: make the function with pyp.callback(...) so its signature is known")
        if not callable(fn):
            raise CallbackError(f"{cbt.name}: {fn!r} is not callable")
        return cbt(fn)

    # ---- callbacks: pandare's named style ---------------------------------

    def _internal(self) -> c_void_p:
        if self._internal_plugin is None:
            plugin = c_void_p()
            self._check(self._lib.panda_plugin_create(self._handle, b"pypanda", byref(plugin)))
            self._internal_plugin = plugin
        return self._internal_plugin

    def _register_named(self, callback: CallbackType, function: Any, name: Optional[str] = None,
                        enabled: bool = True, procname: Optional[str] = None) -> None:
        if procname is not None:
            _not_yet("procname= (needs OS introspection)")
        cfn = self._as_cfunction(callback, function)
        name = name or getattr(getattr(cfn, "pyfunc", function), "__name__", None) or f"cb{len(self._registry)}"
        if name in self._registry:
            self.delete_callback(name)
        plugin = self._internal()
        self._with_guest_paused(lambda: self._check(
            self._lib.panda_register_callback(plugin, callback.number, cfn)))
        self._registry[name] = _Registration(name, callback, cfn, plugin, True)
        if not enabled:
            self.disable_callback(name)

    def _decorator_for(self, cbt: CallbackType) -> Callable[..., Any]:
        def decorator(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
                      procname: Optional[str] = None, enabled: bool = True) -> Any:
            def register(f: Callable[..., Any]) -> Callable[..., Any]:
                self._register_named(cbt, f, name or f.__name__, enabled=enabled, procname=procname)
                return f
            return register(fn) if fn is not None else register
        decorator.__name__ = f"cb_{cbt.name}"
        decorator.__doc__ = f"Register the decorated function as a {cbt.name} callback: {cbt.signature}"
        return decorator

    def _foreign_thread_while_running(self) -> bool:
        return self._running_flag and callback_state.running is not self

    def _with_guest_paused(self, action: Callable[[], Any]) -> Any:
        """Run ``action`` with the emulation thread parked between slices
        when the guest runs on another thread (callbacks change there)."""
        if not self._foreign_thread_while_running() or self._user_paused:
            return action()
        self._state_cmd("stop", "pause")
        try:
            return action()
        finally:
            self._state_cmd("cont", "resume")

    def _named(self, name: str) -> _Registration:
        try:
            return self._registry[name]
        except KeyError:
            raise CallbackError(f"no callback named {name!r} (registered: {', '.join(self._registry) or 'none'})") from None

    def enable_callback(self, name: str) -> None:
        """Enable a named callback (from a callback, another thread, or while
        stopped)."""
        reg = self._named(name)
        self._with_guest_paused(lambda: self._check(
            self._lib.panda_enable_callback(reg.plugin, reg.cbtype.number, reg.cfn)))
        reg.enabled = True

    def disable_callback(self, name: str, forever: bool = False) -> None:
        reg = self._named(name)
        if forever:
            self.delete_callback(name)
            return
        self._with_guest_paused(lambda: self._check(
            self._lib.panda_disable_callback(reg.plugin, reg.cbtype.number, reg.cfn)))
        reg.enabled = False

    def is_callback_enabled(self, name: str) -> bool:
        return self._named(name).enabled

    def delete_callback(self, name: str) -> None:
        reg = self._named(name)
        self._with_guest_paused(lambda: self._check(
            self._lib.panda_unregister_callback(reg.plugin, reg.cbtype.number, reg.cfn)))
        del self._registry[name]

    def delete_callbacks(self) -> None:
        for name in list(self._registry):
            self.delete_callback(name)

    # ---- snapshots (pc machine) ---------------------------------------------

    def _state_cmd(self, cmd: str, what: str) -> None:
        """Change the machine's state between slices: through the monitor
        while the guest runs, at once otherwise."""
        if callback_state.running is self:
            raise StateError(f"{what} cannot be called from a callback: call it from a function "
                             f"queued with @panda.queue_blocking, or before/after run()")
        out = ctypes.create_string_buffer(4096)
        status = self._lib.panda_monitor_cmd(self._handle, cmd.encode(), out, len(out))
        if status:
            raise error_for(status, out.value.decode(errors="replace").removeprefix("error: ").strip())

    @staticmethod
    def _name(name: str) -> str:
        if not name or any(c.isspace() for c in name):
            raise OptionError(f"bad name {name!r}: use a non-empty name without spaces")
        return name

    def snap(self, name: str) -> None:
        """Save the whole machine (CPU, RAM, devices, clock) as ``name``, in
        memory.  From the driver thread or while stopped."""
        self._state_cmd(f"savevm {self._name(name)}", "snap")

    def revert_sync(self, name: str) -> str:
        """Restore the machine to snapshot ``name`` (pandare's name; returns
        an empty string, raises SnapshotError if there is no such snapshot)."""
        self._state_cmd(f"loadvm {self._name(name)}", "revert_sync")
        self._prompt_seen = True
        return ""

    def delvm(self, name: str) -> None:
        """Forget snapshot ``name``."""
        self._state_cmd(f"delvm {self._name(name)}", "delvm")

    delvm_sync = delvm

    def save_snapshot(self, path: str) -> None:
        """Write the whole machine to a file (while stopped)."""
        self._check(self._lib.panda_snapshot_save_file(self._handle, os.fsencode(path)))

    def load_snapshot(self, path: str) -> None:
        """Restore the machine from a file written by :meth:`save_snapshot`."""
        self._check(self._lib.panda_snapshot_load_file(self._handle, os.fsencode(path)))

    # ---- record and replay (pc machine) ------------------------------------

    def record(self, recording_name: str, snapshot_name: Optional[str] = None) -> None:
        """Start recording to ``recording_name``-rr-snp and -rr-nondet.log
        (after reverting to ``snapshot_name`` if given).  From the driver
        thread while the guest runs, or before run()."""
        if snapshot_name is not None:
            self.revert_sync(snapshot_name)
        self._state_cmd(f"begin_record {self._name(recording_name)}", "record")

    def end_record(self) -> None:
        """Finish the recording: the log is complete only after this."""
        self._state_cmd("end_record", "end_record")

    def record_cmd(self, guest_command: str, copy_directory: Optional[str] = None,
                   iso_name: Optional[str] = None, setup_command: Optional[str] = None,
                   recording_name: str = "recording", snap_name: Optional[str] = None,
                   ignore_errors: bool = False) -> str:
        """pandare's record_cmd: (revert to ``snap_name``,) run
        ``setup_command``, type ``guest_command``, start recording, press
        Enter, wait for the prompt, stop recording.  Returns the command's
        output.  From a function queued with ``@panda.queue_blocking``."""
        if copy_directory is not None or iso_name is not None:
            _not_yet("record_cmd(copy_directory=...) (a CD-ROM drive)")
        self._driving("record_cmd")
        if snap_name is not None:
            self.revert_sync(snap_name)
        self._wait_for_first_prompt(300.0)
        if setup_command:
            self.run_serial_cmd(setup_command)
        self.serial_console.write(guest_command.encode())
        self.serial_console.read_until(guest_command.encode(), 30.0)   # its echo
        self.record(recording_name)
        self.serial_console.write(b"\n")
        out, match = self.serial_console.read_until(self._prompt_regex(), None)
        self.end_record()
        return _command_output(out, match)

    def recording_exists(self, name: str) -> bool:
        return os.path.exists(f"{name}-rr-snp") and os.path.exists(f"{name}-rr-nondet.log")

    def run_replay(self, replaypfx: str) -> None:
        """Replay the recording ``replaypfx`` (``replaypfx``-rr-snp and
        -rr-nondet.log): restore its snapshot, feed its inputs at exactly
        their instruction counts, and return when it ends.  Raises
        RecordingError for a missing, incomplete or foreign recording and
        ReplayDivergedError if the guest leaves the recorded path.  Each
        replay starts from the recording's snapshot, so replays may follow
        each other in one process."""
        if self.verbose is not False:
            progress(f"replaying {replaypfx}")
        self._check(self._lib.panda_replay_begin(self._handle, os.fsencode(replaypfx)))
        self._replay_name = replaypfx
        self.run()

    def replay(self, path: str) -> None:
        """The original pypanda's name for :meth:`run_replay`."""
        self.run_replay(path)

    def end_replay(self) -> None:
        """Stop the replay under way (from a callback or another thread)."""
        if self._lib.panda_rr_mode(self._handle) != 2:
            raise StateError("end_replay: not replaying")
        self._lib.panda_replay_end(self._handle)

    @property
    def replay_finished(self) -> bool:
        """True if the last run ended at the end of its recording."""
        return bool(self._lib.panda_replay_finished(self._handle))

    def _replay_progress(self, stop: threading.Event) -> None:
        shown = -1
        while not stop.wait(0.25):
            frac = self._lib.panda_replay_progress(self._handle)
            if frac < 0:
                return
            step = int(frac * 10)
            if step > shown:
                shown = step
                progress(f"{getattr(self, '_replay_name', 'replay')}: {step * 10:3d}% "
                         f"(instruction {self.instr_count():,})")

    def rr_get_guest_instr_count(self) -> int:
        """pandare's name: the guest's instruction count, which is the
        position in the recording while replaying."""
        return self.instr_count()
