"""pandare's PyPlugins: reusable analyses as Python classes.

A PyPlugin subclasses :class:`PyPlugin`; its ``__init__(self, panda)``
registers callbacks and hooks on ``panda`` and sets up state.  It is loaded
(instantiated) through ``panda.pyplugins``, a :class:`PyPluginManager`::

    from pypanda import Panda, PyPlugin

    class BlockCount(PyPlugin):
        def __init__(self, panda):
            self.count = 0

            @panda.cb_before_block_exec
            def count_block(cpu, tb):
                self.count += 1

        def uninit(self):
            print("blocks:", self.count)

    panda.pyplugins.load(BlockCount, {"verbose": True})

As in pandare, plugins talk to each other through "PPP": a method marked
``@PyPlugin.ppp_export`` can be called by the others as
``self.ppp.Server.method(...)``; a plugin declares a callback with
``self.ppp_cb_boilerplate("name")`` and triggers it with
``self.ppp_run_cb("name", *args)``, and the others register with
``self.ppp.Server.ppp_reg_cb("name", fn)``.

What pypanda adds to pandare's behaviour: everything a plugin registers
while its ``__init__`` runs (named callbacks, ``@panda.ppp`` callbacks of
the native plugins, address and memory hooks), every callback or hook
whose function is one of the plugin's methods or a function using the
plugin's ``self`` (registered at any time), and the functions it
registered on other plugins' PPP callbacks, are removed when the plugin
is unloaded (pandare leaves them to the plugin's
``uninit``).  ``panda.run()`` unloads every PyPlugin when it returns, as
pandare's does (``uninit`` runs then); set
``panda.pyplugins.unload_on_run_end = False`` to keep them loaded across
runs.
"""
from __future__ import annotations

import importlib.util
import inspect
import itertools
from functools import wraps
from pathlib import Path
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Type,
                    TypeVar, Union)

from .errors import PandaError, UnsupportedError

if TYPE_CHECKING:
    from .panda import Panda

__all__ = ["PyPlugin", "PyPluginManager", "PyPluginError", "PyPluginAttributeError"]

F = TypeVar("F", bound=Callable[..., Any])
PluginSpec = Union[Type["PyPlugin"], Sequence[Type["PyPlugin"]], Tuple[str, Union[str, Sequence[str]]]]
PluginRef = Union[str, Type["PyPlugin"], "PyPlugin"]

#: the mark ppp_export leaves on a method
_EXPORT_MARK = "_pyplugin_ppp_export"
_module_counter = itertools.count()


class PyPluginError(PandaError, ValueError):
    """A PyPlugin could not be loaded, found or unloaded: not a PyPlugin
    subclass, a missing file or class, a name already loaded, a plugin that
    is not loaded.  A ``ValueError`` (what pandare raises for these)."""


class PyPluginAttributeError(PyPluginError, AttributeError):
    """No such plugin, PPP-exported function or PPP callback in the
    ``ppp`` namespace (also an ``AttributeError``, as in pandare)."""


# ---- PPP callbacks and the ppp namespace ------------------------------------


class _PPPCallback:
    """One PPP-style callback a plugin declared: the functions registered
    on it, each with the plugin (if any) that registered it."""

    def __init__(self, plugin_name: str, cb_name: str) -> None:
        self.plugin_name = plugin_name
        self.cb_name = cb_name
        self.callbacks: List[Tuple[Callable[..., Any], Optional["PyPlugin"]]] = []

    def add_callback(self, fn: Callable[..., Any], owner: Optional["PyPlugin"] = None) -> None:
        if not callable(fn):
            raise PyPluginError(f"{self.plugin_name}.ppp_reg_cb({self.cb_name!r}, ...): {fn!r} is not callable")
        if any(f == fn for f, _ in self.callbacks):
            raise PyPluginError(f"{fn!r} is already registered on {self.plugin_name}'s PPP callback "
                                f"{self.cb_name!r}")
        self.callbacks.append((fn, owner))

    def run(self, *args: Any) -> None:
        for fn, _ in list(self.callbacks):
            fn(*args)

    def drop_owner(self, plugin: "PyPlugin") -> None:
        self.callbacks = [(f, o) for f, o in self.callbacks if o is not plugin and not _owned_by(f, plugin)]


class PluginPPP:
    """One plugin's entry in the ``ppp`` namespace: its PPP-exported
    functions as attributes (``ppp.Server.do_add(1)``), ``ppp_reg_cb(name,
    fn)`` for its PPP callbacks, and ``with ppp.Server as server:`` when it
    exports ``__enter__``/``__exit__``."""

    def __init__(self, manager: "PyPluginManager", plugin_name: str) -> None:
        self._manager = manager
        self._plugin_name = plugin_name
        self._funcs: Dict[str, Callable[..., Any]] = {}
        self._cbs: Dict[str, _PPPCallback] = {}

    def _set(self, name: str, fn: Callable[..., Any]) -> None:
        self._funcs[name] = fn

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            fn = self.__dict__.get("_funcs", {}).get(name)
            if fn is None:
                raise AttributeError(name)
            return fn
        if name.startswith("ppp_reg_cb_") and name[len("ppp_reg_cb_"):] in self._cbs:
            return lambda fn: self.ppp_reg_cb(name[len("ppp_reg_cb_"):], fn)
        if name.startswith("ppp_run_cb_") and name[len("ppp_run_cb_"):] in self._cbs:
            return self._cbs[name[len("ppp_run_cb_"):]].run
        fn = self._funcs.get(name)
        if fn is None:
            raise PyPluginAttributeError(
                f"the PyPlugin {self._plugin_name} exports no function {name!r} (it exports: "
                f"{', '.join(sorted(self._funcs)) or 'none'}; PPP callbacks: {', '.join(sorted(self._cbs)) or 'none'})")
        return fn

    def __dir__(self) -> List[str]:
        return sorted(set(self._funcs) | {"ppp_reg_cb"})

    def __repr__(self) -> str:
        return f"<PPP of {self._plugin_name}: {sorted(self._funcs)}, callbacks {sorted(self._cbs)}>"

    def ppp_reg_cb(self, cb_name: str, fn: Callable[..., Any]) -> None:
        """Run ``fn(*args)`` whenever this plugin runs its PPP callback
        ``cb_name`` (``ppp_run_cb(cb_name, *args)``)."""
        cb = self._cbs.get(cb_name)
        if cb is None:
            raise PyPluginAttributeError(
                f"the PyPlugin {self._plugin_name} has no PPP callback {cb_name!r} (its PPP callbacks: "
                f"{', '.join(sorted(self._cbs)) or 'none'}; declare one with self.ppp_cb_boilerplate(name))")
        cb.add_callback(fn, self._manager._current_loading())

    def __enter__(self) -> "PluginPPP":
        enter = self._funcs.get("__enter__")
        if enter is None or "__exit__" not in self._funcs:
            raise PyPluginError(f"the PyPlugin {self._plugin_name} exports no __enter__/__exit__: mark them "
                                f"@PyPlugin.ppp_export to use it in a with statement")
        enter()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._funcs["__exit__"](*exc)


class PPPNamespace:
    """``panda.pyplugins.ppp`` (and every plugin's ``self.ppp``): the loaded
    plugins' :class:`PluginPPP` entries by plugin name."""

    def __init__(self) -> None:
        self._plugins: Dict[str, PluginPPP] = {}

    def __getattr__(self, name: str) -> PluginPPP:
        if name.startswith("_"):
            raise AttributeError(name)
        entry = self._plugins.get(name)
        if entry is None:
            raise PyPluginAttributeError(f"no PyPlugin named {name!r} exports PPP functions or callbacks "
                                         f"(loaded with any: {', '.join(sorted(self._plugins)) or 'none'})")
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __dir__(self) -> List[str]:
        return sorted(self._plugins)

    def __str__(self) -> str:
        return str(sorted(self._plugins))

    def _entry(self, manager: "PyPluginManager", plugin_name: str) -> PluginPPP:
        entry = self._plugins.get(plugin_name)
        if entry is None:
            entry = self._plugins[plugin_name] = PluginPPP(manager, plugin_name)
        return entry

    def add(self, plugin_name: str, func_name: str, func: Callable[..., Any]) -> None:
        """Export ``func`` as ``ppp.<plugin_name>.<func_name>`` (pandare's
        ``PyPluginManager.ppp.add``)."""
        entry = self._plugins.get(plugin_name)
        if entry is None:
            raise PyPluginError(f"no PyPlugin named {plugin_name!r} is loaded")
        entry._set(func_name, func)


# ---- the base class -------------------------------------------------------------


class PyPlugin:
    """Base class of PyPlugins.  Subclasses define ``__init__(self,
    panda)`` (register callbacks there) and may define ``uninit(self)``,
    which runs when the plugin is unloaded.  In ``__init__`` and after,
    a plugin has:

    * ``self.get_arg(name)``, ``self.get_arg_bool(name)``, ``self.get_args()``:
      the arguments given to ``panda.pyplugins.load``
    * ``self.ppp``: the other plugins' PPP exports (``self.ppp.Server.f(x)``)
    * ``self.ppp_cb_boilerplate(name)`` / ``self.ppp_run_cb(name, *args)``:
      declare and run a PPP callback of this plugin
    * ``@PyPlugin.ppp_export``: mark a method callable by other plugins
    """

    args: Dict[str, Any]
    pypluginmgr: "PyPluginManager"
    ppp_cbs: Dict[str, _PPPCallback]

    def __init__(self, panda: "Panda") -> None:
        """Set the plugin up on ``panda`` (overridden by each plugin)."""

    def __preinit__(self, pypluginmgr: "PyPluginManager", args: Dict[str, Any]) -> None:
        """What the manager sets before ``__init__`` runs (pandare's name)."""
        self.ppp_cbs = {}
        self.args = args
        self.pypluginmgr = pypluginmgr

    @property
    def ppp(self) -> PPPNamespace:
        """The PPP namespace: ``self.ppp.Other.exported_fn(*args)`` and
        ``self.ppp.Other.ppp_reg_cb("cb_name", self.method)``."""
        return self._manager().ppp

    def _manager(self) -> "PyPluginManager":
        mgr = self.__dict__.get("pypluginmgr")
        if mgr is None:
            raise PyPluginError(f"{type(self).__name__} was not loaded through panda.pyplugins.load(): "
                                f"it has no PPP namespace or arguments")
        return mgr

    @staticmethod
    def ppp_export(method: F) -> F:
        """Decorator (``@PyPlugin.ppp_export``): other plugins may call this
        method as ``self.ppp.<ThisPlugin>.<method>(*args)``."""
        @wraps(method)
        def exported(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)
        setattr(exported, _EXPORT_MARK, True)
        return exported  # type: ignore[return-value]

    # -- arguments
    def get_args(self) -> Dict[str, Any]:
        """The arguments the plugin was loaded with (a copy)."""
        return dict(self.__dict__.get("args") or {})

    def get_arg(self, arg_name: str) -> Any:
        """The argument ``arg_name`` as given, or None if it was not."""
        return (self.__dict__.get("args") or {}).get(arg_name)

    def get_arg_bool(self, arg_name: str) -> bool:
        """True if the argument is set and truthy: a bool as is, a string
        that is ``true``, ``y`` or ``1`` (any case), a nonzero int.  An unset
        argument is False; another type raises ValueError."""
        args = self.__dict__.get("args") or {}
        if arg_name not in args:
            return False
        value = args[arg_name]
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value.lower() in ("true", "y", "1")
        if isinstance(value, int):
            return value != 0
        raise PyPluginError(f"{type(self).__name__}: the argument {arg_name!r} is a {type(value).__name__} "
                            f"({value!r}); get_arg_bool takes a bool, str or int")

    # -- PPP callbacks
    def ppp_cb_boilerplate(self, cb_name: str) -> None:
        """Declare the PPP callback ``cb_name`` of this plugin: other plugins
        register on it with ``self.ppp.<ThisPlugin>.ppp_reg_cb(cb_name, fn)``
        and this plugin runs them with ``self.ppp_run_cb(cb_name, *args)``."""
        name = type(self).__name__
        if cb_name in self.ppp_cbs:
            raise PyPluginError(f"the PPP callback {cb_name!r} is being redefined in {name}")
        cb = _PPPCallback(name, cb_name)
        self.ppp_cbs[cb_name] = cb
        self._manager()._ppp_entry(self)._cbs[cb_name] = cb

    def ppp_run_cb(self, target_ppp: str, *args: Any) -> None:
        """Run every function registered on this plugin's PPP callback
        ``target_ppp`` with ``args``."""
        cb = self.__dict__.get("ppp_cbs", {}).get(target_ppp)
        if cb is None:
            raise PyPluginAttributeError(
                f"{type(self).__name__} has no PPP callback {target_ppp!r} (declared: "
                f"{', '.join(sorted(self.__dict__.get('ppp_cbs', {}))) or 'none'}): call "
                f"self.ppp_cb_boilerplate({target_ppp!r}) first")
        cb.run(*args)

    def uninit(self) -> None:
        """Called when the plugin is unloaded (override to report or clean up)."""


# ---- what a plugin registered -----------------------------------------------------


def _unwrap(fn: Any) -> Any:
    return getattr(fn, "pyfunc", fn)


def _owned_by(fn: Any, plugin: PyPlugin) -> bool:
    """Is ``fn`` one of ``plugin``'s methods, or a function defined inside
    them that uses the plugin (``self`` in its closure)?"""
    fn = _unwrap(fn)
    if getattr(fn, "__self__", None) is plugin:
        return True
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            if cell.cell_contents is plugin:
                return True
        except ValueError:      # an empty cell
            continue
    return False


def _internal(fn: Any) -> bool:
    """A function of pypanda itself (the osi plugin's task-change watcher,
    hook_symbol's scanners): shared, never one plugin's."""
    module = getattr(_unwrap(fn), "__module__", None) or ""
    return module.startswith("pypanda.") and not module.startswith("pypanda.extras")


def _native_lists(panda: "Panda") -> Iterator[List[Any]]:
    """The lists of Python functions pypanda's native plugins (syscalls2,
    osi) keep, as registered with ``@panda.ppp``."""
    loaded = getattr(panda.plugins, "_loaded", {})
    for native in list(loaded.values()):
        for value in list(vars(native).values()):
            if isinstance(value, list):
                yield value
            elif isinstance(value, dict):
                for v in list(value.values()):
                    if isinstance(v, list):
                        yield v


class _Snapshot:
    """What is registered on a Panda at one moment (to tell what a
    plugin's ``__init__`` added)."""

    def __init__(self, panda: "Panda") -> None:
        self.named = dict(panda._callbacks.named)
        self.hooks = dict(panda._hooks.by_id)
        self.mem_hooks = dict(panda._hooks.mem_by_id)
        self.native: Set[Tuple[int, int]] = {(id(lst), id(f)) for lst in _native_lists(panda) for f in lst}
        self._keep = [list(lst) for lst in _native_lists(panda)]   # the ids stay unique while compared


class _Owned:
    """The callbacks, hooks and native-plugin registrations one plugin made."""

    def __init__(self) -> None:
        self.named: List[Any] = []          # Registration objects
        self.hooks: List[Any] = []          # Hook / MemHook objects
        self.native: List[Tuple[List[Any], Any]] = []

    def add_since(self, panda: "Panda", before: _Snapshot, others: Sequence[PyPlugin]) -> None:
        """Take what was registered since ``before``, but not pypanda's own
        helpers (shared by every user) nor another plugin's functions."""
        def mine(fn: Any) -> bool:
            return not _internal(fn) and not any(_owned_by(fn, o) for o in others)
        self.named += [r for n, r in panda._callbacks.named.items()
                       if before.named.get(n) is not r and not n.startswith("__") and mine(r.cfn)]
        self.hooks += [h for i, h in panda._hooks.by_id.items() if before.hooks.get(i) is not h and mine(h.fn)]
        self.hooks += [h for i, h in panda._hooks.mem_by_id.items()
                       if before.mem_hooks.get(i) is not h and mine(h.fn)]
        self.native += [(lst, f) for lst in _native_lists(panda) for f in lst
                        if (id(lst), id(f)) not in before.native and mine(f)]


# ---- the manager ----------------------------------------------------------------------


class PyPluginManager:
    """``panda.pyplugins``: loads, finds and unloads PyPlugins (pandare's
    PyPluginManager).  ``plugins`` maps each loaded plugin's name (its class
    name) to the instance; ``ppp`` is the PPP namespace."""

    def __init__(self, panda: "Panda", flask: bool = False, host: str = "127.0.0.1", port: int = 8080,
                 silence_warning: bool = False) -> None:
        self.panda = panda
        self.plugins: Dict[str, PyPlugin] = {}
        self.silence_warning = silence_warning
        self._ppp_plugins = PPPNamespace()
        self._owned: Dict[str, _Owned] = {}
        self._loading: List[PyPlugin] = []
        #: unload every plugin when ``panda.run()`` returns (pandare's behaviour)
        self.unload_on_run_end = True
        self.flask = False
        if flask:
            self.enable_flask(host, port)

    @property
    def ppp(self) -> PPPNamespace:
        """The PPP namespace: ``panda.pyplugins.ppp.Server.do_add(1)``."""
        return self._ppp_plugins

    def enable_flask(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        """pandare serves its plugins' web pages with flask; pypanda does not."""
        raise UnsupportedError("PyPlugin web interfaces (flask, webserver_init) are not in pypanda")

    # -- helpers
    def _current_loading(self) -> Optional[PyPlugin]:
        return self._loading[-1] if self._loading else None

    def _ppp_entry(self, plugin: PyPlugin) -> PluginPPP:
        return self._ppp_plugins._entry(self, type(plugin).__name__)

    def get_ppp_funcs(self, plugin: PyPlugin) -> None:
        """Put ``plugin``'s ``@PyPlugin.ppp_export`` methods in the PPP namespace."""
        entry = self._ppp_entry(plugin)
        cls = type(plugin)
        for name in dir(cls):
            try:
                attr = inspect.getattr_static(cls, name)
            except AttributeError:
                continue
            func = getattr(attr, "__func__", attr)
            if getattr(func, _EXPORT_MARK, False):
                entry._set(name, getattr(plugin, name))

    @staticmethod
    def _name_of(plugin: PluginRef) -> str:
        if isinstance(plugin, str):
            return plugin
        if isinstance(plugin, type):
            return plugin.__name__
        if isinstance(plugin, PyPlugin):
            return type(plugin).__name__
        raise PyPluginError(f"expected a PyPlugin's name, class or instance, got {plugin!r}")

    @staticmethod
    def _exec_file(plugin_file: Union[str, Path]) -> Any:
        path = Path(plugin_file)
        if not path.is_file():
            raise PyPluginError(f"no PyPlugin file {str(plugin_file)!r}")
        spec = importlib.util.spec_from_file_location(f"pypanda_pyplugin_{next(_module_counter)}_{path.stem}",
                                                      path)
        if spec is None or spec.loader is None:
            raise PyPluginError(f"unable to load {str(plugin_file)!r} as Python")
        module = importlib.util.module_from_spec(spec)
        module.PyPlugin = PyPlugin        # type: ignore[attr-defined]  # plugins that use it unimported
        spec.loader.exec_module(module)
        return module

    def load_plugin_class(self, plugin_file: Union[str, Path],
                          class_names: Union[str, Sequence[str]]) -> List[Type[PyPlugin]]:
        """The PyPlugin classes ``class_names`` (a name or a list) defined
        in the Python file ``plugin_file`` (which may use ``PyPlugin``
        without importing it).  A missing file or class raises PyPluginError."""
        names = [class_names] if isinstance(class_names, str) else list(class_names)
        module = self._exec_file(plugin_file)
        classes = []
        for class_name in names:
            cls = getattr(module, class_name, None)
            if cls is None:
                raise PyPluginError(f"{str(plugin_file)!r} defines no class {class_name!r}")
            if not (isinstance(cls, type) and issubclass(cls, PyPlugin)):
                raise PyPluginError(f"{class_name} in {str(plugin_file)!r} is not a PyPlugin subclass")
            classes.append(cls)
        return classes

    # -- loading
    def load(self, pluginclasses: PluginSpec, args: Optional[Dict[str, Any]] = None,
             template_dir: Optional[str] = None) -> None:
        """Load PyPlugins: a PyPlugin subclass, a list of them, or a tuple
        ``(path_to_file.py, class_name_or_names)``.  Each is instantiated
        with ``args`` (a dict; its ``get_arg``) and stored under its class
        name.  Raises PyPluginError for a non-PyPlugin, a missing file or
        class, or a name already loaded; if ``__init__`` raises, what it
        registered is removed and the exception propagates."""
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise PyPluginError(f"PyPlugin args must be a dict, not {type(args).__name__}")
        if isinstance(pluginclasses, tuple):
            if len(pluginclasses) != 2:
                raise PyPluginError("load((path, class_names)): a tuple of a file and class name(s)")
            classes: Sequence[Any] = self.load_plugin_class(*pluginclasses)
        elif isinstance(pluginclasses, list):
            classes = pluginclasses
        else:
            classes = [pluginclasses]
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, PyPlugin)):
                raise PyPluginError(f"{cls!r} must be an uninstantiated subclass of PyPlugin")
        for cls in classes:
            if cls is PyPlugin:        # the base class in scope is no plugin
                continue
            self._load_one(cls, args)

    def _load_one(self, cls: Type[PyPlugin], args: Dict[str, Any]) -> None:
        name = cls.__name__
        if name in self.plugins:
            raise PyPluginError(f"a PyPlugin named {name!r} is already loaded (unload it first)")
        if name in self._ppp_plugins:       # left over from a failed load
            del self._ppp_plugins._plugins[name]
        plugin = cls.__new__(cls)
        plugin.__preinit__(self, dict(args))
        self.plugins[name] = plugin
        owned = self._owned[name] = _Owned()
        before = _Snapshot(self.panda)
        self._loading.append(plugin)
        try:
            self.get_ppp_funcs(plugin)
            plugin.__init__(self.panda)   # type: ignore[misc]
        except BaseException:
            owned.add_since(self.panda, before, self._others(plugin))
            self._forget(name, plugin)
            raise
        finally:
            self._loading.pop()
        owned.add_since(self.panda, before, self._others(plugin))

    def _others(self, plugin: PyPlugin) -> List[PyPlugin]:
        return [p for p in self.plugins.values() if p is not plugin]

    def load_all(self, plugin_file: Union[str, Path], args: Optional[Dict[str, Any]] = None,
                 template_dir: Optional[str] = None) -> List[str]:
        """Load every PyPlugin subclass in the Python file ``plugin_file``
        (in the order the file defines them) with ``args``; returns their
        names."""
        module = self._exec_file(plugin_file)
        found = [(n, c) for n, c in vars(module).items()
                 if isinstance(c, type) and issubclass(c, PyPlugin) and c is not PyPlugin]
        names = []
        for name, cls in found:
            cls.__name__ = name
            self.load(cls, args, template_dir)
            names.append(name)
        return names

    # -- unloading
    def unload(self, pluginclass: PluginRef, do_del: bool = True) -> None:
        """Unload a plugin given its name, class or instance: run its
        ``uninit()``, then remove the callbacks and hooks it registered and
        its PPP exports.  A plugin not loaded raises PyPluginError."""
        name = self._name_of(pluginclass)
        plugin = self.plugins.get(name)
        if plugin is None or (isinstance(pluginclass, PyPlugin) and plugin is not pluginclass):
            raise PyPluginError(f"no PyPlugin {name!r} is loaded (loaded: {', '.join(self.plugins) or 'none'})")
        try:
            uninit = getattr(plugin, "uninit", None)
            if callable(uninit):
                uninit()
        finally:
            self._forget(name, plugin, keep_entry=not do_del)

    def _forget(self, name: str, plugin: PyPlugin, keep_entry: bool = False) -> None:
        owned = self._owned.pop(name, None) or _Owned()
        panda = self.panda
        if not keep_entry:
            self.plugins.pop(name, None)
        self._ppp_plugins._plugins.pop(name, None)
        for entry in self._ppp_plugins._plugins.values():
            for cb in entry._cbs.values():
                cb.drop_owner(plugin)
        if panda.closed:
            return

        def remove() -> None:
            registry = panda._callbacks
            regs: List[Any] = list(owned.named) + [r for r in registry.named.values() if _owned_by(r.cfn, plugin)]
            for reg in regs:
                cb_name = reg.name
                if registry.named.get(cb_name) is reg:
                    registry.delete(cb_name)
            hooks = list(owned.hooks) + [h for h in list(panda._hooks.by_id.values())
                                         + list(panda._hooks.mem_by_id.values()) if _owned_by(h.fn, plugin)]
            for h in hooks:
                h.remove()
            native = [(lst, f) for lst in _native_lists(panda) for f in lst if _owned_by(f, plugin)]
            for lst, f in owned.native + native:
                for i, g in enumerate(lst):
                    if g is f:
                        del lst[i]
                        break
        panda._instance.with_guest_paused(remove)

    def unload_all(self) -> None:
        """Unload every plugin, the last loaded first.  If an ``uninit``
        raises, the others are still unloaded and the first error is
        re-raised at the end."""
        error: Optional[BaseException] = None
        while self.plugins:
            name = next(reversed(self.plugins))
            try:
                self.unload(name)
            except Exception as e:
                error = error or e
        if error is not None:
            raise error

    def _run_ended(self) -> None:
        """``panda.run()`` returned: unload the plugins (as pandare does)."""
        if self.unload_on_run_end:
            self.unload_all()

    # -- lookups
    def is_loaded(self, pluginclass: PluginRef) -> bool:
        """Is a plugin of this name (or class) loaded?"""
        return self._name_of(pluginclass) in self.plugins

    def get_plugin(self, pluginclass: PluginRef) -> PyPlugin:
        """The loaded plugin instance of this name or class; PyPluginError
        if none is loaded."""
        name = self._name_of(pluginclass)
        plugin = self.plugins.get(name)
        if plugin is None:
            raise PyPluginError(f"no PyPlugin {name!r} is loaded (loaded: {', '.join(self.plugins) or 'none'})")
        return plugin

    #: an alias of :meth:`get_plugin`
    get_plugin_by_name = get_plugin

    def serve(self) -> None:
        """pandare's flask web server: not in pypanda."""
        self.enable_flask()
