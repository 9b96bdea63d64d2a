"""pandare's plugin surface: ``panda.load_plugin(name)``, ``panda.plugins[name]``
and ``@panda.ppp(plugin, callback)``, for the plugins pypanda provides
natively:

- ``syscalls2``: ``on_sys_<name>_enter(cpu, pc, *args)`` and
  ``on_sys_<name>_return(cpu, pc, *args)`` with the kernel's own argument
  list (from the profile's ftrace metadata: pointers and unsigned types as
  non-negative ints, signed types as signed ints), ``on_all_sys_enter(cpu,
  pc, callno)``, ``on_all_sys_return(cpu, pc, callno)`` and
  ``on_unknown_sys_enter(cpu, pc, callno)``.  Detection and filtering are in
  C (libpanda's syscall tap): a script that watches one call pays nothing in
  Python for the others.  On a ``_return`` callback the return value is in
  EAX (``panda.arch.get_retval(cpu)``).
- ``osi`` / ``osi_linux``: ``on_task_change(cpu)``, and the C-style calls
  pandare scripts make through ``panda.plugins['osi_linux']``.

Other PANDA plugins are not there: loading one raises a clear error.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import CallbackError, UnsupportedError
from .introspection import Introspection, OsiProc

#: argument types the kernel declares unsigned (anything with a * is a pointer)
_UNSIGNED_WORDS = ("unsigned", "size_t", "umode_t", "uid_t", "gid_t", "u32", "u64", "__u32",
                   "__u64", "dev_t", "qid_t", "old_uid_t", "old_gid_t", "key_serial_t_unused",
                   "aio_context_t", "cap_user_header_t", "cap_user_data_t", "fd_set")


def _arg_converter(ctype: str, bits: int) -> Callable[[int], int]:
    mask = (1 << bits) - 1
    t = ctype.strip()
    if "*" in t or any(w in t.split() or t.startswith(w) for w in _UNSIGNED_WORDS):
        return lambda v: v & mask
    if t in ("loff_t", "long long", "s64", "__s64"):
        return lambda v: v
    sign = 1 << (bits - 1)
    return lambda v: ((v & mask) ^ sign) - sign


class Syscalls2:
    """PANDA's syscalls2 over libpanda's syscall tap."""

    PPP = ("on_all_sys_enter", "on_all_sys_return", "on_unknown_sys_enter", "on_unknown_sys_return")

    def __init__(self, panda: Any) -> None:
        self._panda = panda
        self._by_name: Dict[Tuple[str, bool], List[Callable[..., Any]]] = {}
        self._all: Dict[str, List[Callable[..., Any]]] = {n: [] for n in self.PPP}
        self._table: Optional[Dict[int, Tuple[str, List[Callable[[int], int]]]]] = None
        self._names: Dict[str, int] = {}
        self._subscribed: set = set()
        self._last: Optional[Tuple[int, int, int, bool]] = None

    # -- the kernel's table
    def _set_table(self, prof: Any) -> bool:
        bits = int(prof.data["bits"])
        table: Dict[int, Tuple[str, List[Callable[[int], int]]]] = {}
        for entry in prof.data.get("syscalls", []):
            if not entry.get("name"):
                continue
            args = entry.get("args") or []
            table[int(entry["nr"])] = (entry["name"], [_arg_converter(t, bits) for t, _ in args])
            self._names.setdefault(entry["name"], int(entry["nr"]))
        self._table = table
        return True

    def _tap_on(self) -> Any:
        return self._panda.syscall_tap

    # -- registration
    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if name in self._all:
            self._all[name].append(fn)
            enter = "enter" in name
            self._subscribe(None, enter)
            return
        if not (name.startswith("on_sys_") and (name.endswith("_enter") or name.endswith("_return"))):
            raise CallbackError(f"syscalls2 has no callback {name!r}: use on_sys_<name>_enter, "
                                f"on_sys_<name>_return, or {', '.join(self.PPP)}")
        enter = name.endswith("_enter")
        call = name[len("on_sys_"):-len("_enter" if enter else "_return")]
        self._by_name.setdefault((call, enter), []).append(fn)
        number = self._number(call)
        # an unknown kernel (found in memory later): every call comes to
        # Python until the table is there; a known one: just this number
        self._subscribe(number, enter)

    def _subscribe(self, number: Optional[int], enter: bool) -> None:
        # one subscription of the dispatcher per (number, side): several
        # Python callbacks on one call still cost one trip from C
        if (number, enter) not in self._subscribed:
            self._subscribed.add((number, enter))
            self._tap_on().watch(number, enter, not enter, self._dispatch)

    def _number(self, call: str) -> Optional[int]:
        try:
            prof = self._panda._introspection.profile(search_memory=False)
        except Exception:   # the kernel is not known before it boots
            return None
        self._set_table(prof)
        if call not in self._names:
            raise CallbackError(f"syscalls2: the guest's kernel ({prof.data.get('release')}) has no "
                                f"system call {call!r}")
        return self._names[call]

    def get_syscall_retval(self, cpu: Any) -> int:
        """At a ``_return`` callback: the call's return value (negative:
        -errno), as syscalls2's C function of that name gives it."""
        return self._panda.arch.get_retval(cpu, convention="syscall")

    def unregister(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        """Drop ``fn`` (default: every function) from callback ``name``."""
        lists: List[List[Callable[..., Any]]] = []
        if name in self._all:
            lists.append(self._all[name])
        elif name.startswith("on_sys_"):
            enter = name.endswith("_enter")
            call = name[len("on_sys_"):-len("_enter" if enter else "_return")]
            lists.extend(v for k, v in self._by_name.items() if k == (call, enter))
        for lst in lists:
            lst[:] = [f for f in lst if fn is not None and f is not fn]

    def unload(self) -> None:
        """Stop watching: the tap forgets this plugin's subscriptions."""
        tap = self._tap_on()
        for number, enter in self._subscribed:
            tap.unwatch(number, enter, not enter, self._dispatch)
        self._subscribed.clear()
        self._by_name.clear()
        for lst in self._all.values():
            lst.clear()

    # -- dispatch (from the tap: only watched calls get here)
    def _dispatch(self, cpu: Any, call: Any, is_return: bool) -> None:
        if self._table is None:
            try:
                self._set_table(self._panda._introspection.profile())
            except Exception:
                return
        assert self._table is not None
        # a call watched both by number and by "every number" comes twice
        key = (call.enter_icount, call.pc, call.number, is_return)
        if key == self._last:
            return
        self._last = key
        nr, pc = call.number, call.pc
        entry = self._table.get(nr)
        for fn in self._all["on_all_sys_return" if is_return else "on_all_sys_enter"]:
            fn(cpu, pc, nr)
        if entry is None:
            for fn in self._all["on_unknown_sys_return" if is_return else "on_unknown_sys_enter"]:
                fn(cpu, pc, nr)
            return
        fns = self._by_name.get((entry[0], not is_return))
        if fns:
            args = [conv(call.args[i]) for i, conv in enumerate(entry[1])]
            for fn in fns:
                fn(cpu, pc, *args)



class OsiPlugin:
    """pandare's ``osi`` plugin: ``on_task_change`` and the C-style calls."""

    def __init__(self, panda: Any) -> None:
        self._panda = panda
        self._task_change: List[Callable[[Any], Any]] = []
        self._last_root: Optional[int] = None

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if name != "on_task_change":
            raise CallbackError(f"osi has no callback {name!r}: pypanda's osi provides on_task_change")
        if not self._task_change:
            panda = self._panda

            @panda.cb_asid_changed(name="__osi_on_task_change")
            def asid_changed(cpu: Any, old: int, new: int) -> bool:
                # PTI flips CR3's bit 12 on every kernel entry and exit: only
                # a different page directory is a different process
                root = new & ~0x1fff
                if root != (old & ~0x1fff) and root != self._last_root:
                    self._last_root = root
                    intro = panda._introspection
                    if intro._booted():
                        intro.osi.switching_to = root
                        try:
                            for f in self._task_change:
                                f(cpu)
                        finally:
                            intro.osi.switching_to = None
                return False
        self._task_change.append(fn)

    def unregister(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        if name == "on_task_change":
            self._task_change[:] = [f for f in self._task_change if fn is not None and f is not fn]

    def unload(self) -> None:
        self._task_change.clear()
        if "__osi_on_task_change" in self._panda._callbacks.named:
            self._panda.delete_callback("__osi_on_task_change")

    # the C functions pandare scripts call through panda.plugins['osi']
    def get_current_process(self, cpu: Any) -> Optional[OsiProc]:
        return self._panda.get_current_process(cpu)

    def get_processes(self, cpu: Any) -> List[OsiProc]:
        return self._panda.get_processes(cpu)

    def get_mappings(self, cpu: Any, proc: Optional[OsiProc] = None) -> List[Any]:
        return self._panda._introspection.mappings(proc)

    def get_current_thread(self, cpu: Any) -> Any:
        return self._panda.get_current_thread(cpu)


class OsiLinuxPlugin:
    """pandare's ``osi_linux`` calls: file descriptors to names and positions."""

    def __init__(self, panda: Any) -> None:
        self._panda = panda

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        raise CallbackError(f"osi_linux has no callback {name!r}; osi's on_task_change is the one OSI callback")

    def unregister(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        pass

    def unload(self) -> None:
        pass

    def osi_linux_fd_to_filename(self, cpu: Any, proc: Optional[OsiProc], fd: int) -> Optional[bytes]:
        intro: Introspection = self._panda._introspection
        return intro.file_name(fd, proc)

    def osi_linux_fd_to_pos(self, cpu: Any, proc: Optional[OsiProc], fd: int) -> Optional[int]:
        intro: Introspection = self._panda._introspection
        return intro.osi.fd_pos(proc or intro.osi.current(), fd)


class AsidStoryPlugin:
    """PANDA's ``asidstory`` plugin: collects from its load on; when it is
    unloaded it writes its table to the file ``asidstory`` (PANDA's name,
    in the current folder), as the C plugin does at exit."""

    def __init__(self, panda: Any) -> None:
        from .asidstory import AsidStory
        self._panda = panda
        self.story = AsidStory(panda)

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        raise CallbackError(f"asidstory has no callback {name!r}")

    def unregister(self, name: str, fn: Optional[Callable[..., Any]] = None) -> None:
        pass

    def unload(self) -> None:
        with open("asidstory", "w") as f:
            f.write(self.story.table())


NATIVE = {"syscalls2": Syscalls2, "osi": OsiPlugin, "osi_linux": OsiLinuxPlugin, "asidstory": AsidStoryPlugin}


class Plugins:
    """``panda.plugins``: the native plugins by name, loaded on first use."""

    def __init__(self, panda: Any) -> None:
        self._panda = panda
        self._loaded: Dict[str, Any] = {}

    def load(self, name: str, args: Optional[Dict[str, Any]] = None) -> Any:
        if name not in NATIVE:
            raise UnsupportedError(f"the PANDA plugin {name!r} is not in pypanda: it provides "
                                   f"{', '.join(sorted(NATIVE))} natively (other PANDA plugins are "
                                   "C code built for PANDA's QEMU)")
        if name not in self._loaded:
            if name == "osi_linux":
                self.load("osi")
            self._loaded[name] = NATIVE[name](self._panda)
        return self._loaded[name]

    def unload(self, name: str) -> None:
        """pandare's unload_plugin: the plugin's callbacks stop (osi_linux
        goes with osi)."""
        if name == "osi" and "osi_linux" in self._loaded:
            self.unload("osi_linux")
        plugin = self._loaded.pop(name, None)
        if plugin is not None:
            plugin.unload()

    def unload_all(self) -> None:
        for name in list(self._loaded):
            self.unload(name)

    def __getitem__(self, name: str) -> Any:
        return self.load(name)

    def keys(self) -> List[str]:
        """The plugins loaded (pandare scripts test ``"osi" in panda.plugins.keys()``)."""
        return list(self._loaded)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded


class SymbolHooks:
    """pandare's ``hook_symbol(libname, symbol)``: a hook at a shared
    library's symbol in every process that maps the library.

    The symbol is looked up in the library's own dynamic symbol table, read
    from the process's memory (:mod:`pypanda.guest_elf`), each time a
    process may have mapped something new: after ``mmap2`` (the kernel's ``mmap_pgoff``) and ``mprotect``
    return (ld.so protects RELRO once it has relocated, so the tables are
    there) and at each task change.  Each hook is filtered in C to that
    process's address space."""

    def __init__(self, panda: Any) -> None:
        self._panda = panda
        self._wanted: List[Tuple[str, str, Callable[..., Any], Dict[str, Any]]] = []
        # asid -> (the process that has it, {wanted index: its Hook}); a
        # page directory is reused once its process is gone, and with it the
        # asid: a new owner gets its hooks anew, the old ones go
        self._by_asid: Dict[int, Tuple[Tuple[int, int], Dict[int, Any]]] = {}
        self._armed = False

    def add(self, libname: str, symbol: str, fn: Callable[..., Any], **hook_kwargs: Any) -> None:
        self._wanted.append((libname, symbol, fn, hook_kwargs))
        if not self._armed:
            self._armed = True
            ppp = self._panda.ppp
            ppp("osi", "on_task_change")(self._scan)
            for call in ("mmap_pgoff", "mprotect"):
                ppp("syscalls2", f"on_sys_{call}_return")(lambda cpu, pc, *args: self._scan(cpu))

    @staticmethod
    def _matches(libname: str, path: Optional[str]) -> bool:
        if not path:
            return False
        base = path.rsplit("/", 1)[-1]
        return base == libname or base.startswith(libname + ".") or base.startswith(libname + "-") or \
            (not libname.endswith(".so") and base.startswith(libname + ".so"))

    def _scan(self, cpu: Any) -> None:
        from .guest_elf import read_symbols
        panda = self._panda
        proc = panda.get_current_process(cpu)
        if proc is None or not proc.asid:
            return
        owner = (proc.pid, proc.create_time)
        known = self._by_asid.get(proc.asid)
        if known is None or known[0] != owner:
            for h in (known[1].values() if known else ()):
                h.remove()
            known = self._by_asid[proc.asid] = (owner, {})
        done = known[1]
        todo = [i for i in range(len(self._wanted)) if i not in done]
        if not todo:
            return
        osi = panda._introspection.osi
        maps = osi.mappings(proc)
        tables: Dict[int, Any] = {}
        for i in todo:
            libname, symbol, fn, kwargs = self._wanted[i]
            lib = next((m for m in maps if m.offset == 0 and self._matches(libname, m.file)), None)
            if lib is None:
                continue
            if lib.base not in tables:
                tables[lib.base] = read_symbols(lambda a, n: osi.mem.user(proc.asid, a, n), lib.base)
            syms = tables[lib.base]
            addr = syms.get(symbol) if syms is not None else None
            if addr is None:
                continue
            done[i] = panda.hook_add(addr, fn, asid=proc.asid, kernel=False, **kwargs)
