"""Callbacks: the registry behind both styles.

The original pypanda's: a plugin's ``init(handle)`` registers with
``register_callback(handle, panda.callback.X, fn)``.  pandare's:
``@panda.cb_X`` or ``register_callback(panda.callback.X, fn, name)``,
then enable, disable and delete by name.  Callbacks stay alive while
registered.
"""
from __future__ import annotations

import ctypes
from ctypes import byref, c_bool, c_void_p
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ._args import c_string
from ._instance import Instance
from ._lib import PLUGIN_INIT, PluginPtr
from .callbacks import CallbackType, callback_types
from .errors import CallbackError, HandleError, unsupported
from .ffi import wrap


class Registration:
    """A callback registered by name (pandare style)."""

    __slots__ = ("name", "cbtype", "cfn", "plugin", "enabled")

    def __init__(self, name: str, cbtype: CallbackType, cfn: Any, plugin: Any, enabled: bool) -> None:
        self.name, self.cbtype, self.cfn, self.plugin, self.enabled = name, cbtype, cfn, plugin, enabled


def cbtype_of(cbtype: Union[str, CallbackType, Any]) -> CallbackType:
    """``panda.callback.X`` or its name -> the CallbackType."""
    if isinstance(cbtype, CallbackType):
        return cbtype
    if isinstance(cbtype, str):
        return callback_types[cbtype]
    raise CallbackError(f"expected panda.callback.<name>, got {cbtype!r}")


def as_cfunction(cbt: CallbackType, fn: Any) -> Any:
    """``fn`` as a C function of ``cbt``'s type (checked if it is one already)."""
    if hasattr(fn, "argtypes_"):
        cbt.check(fn)
        return fn
    if isinstance(fn, ctypes._CFuncPtr):  # type: ignore[attr-defined]
        raise CallbackError(f"{cbt.name}: make the function with pyp.callback(...) so its signature is known")
    if not callable(fn):
        raise CallbackError(f"{cbt.name}: {fn!r} is not callable")
    return cbt(fn)


class CallbackRegistry:
    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._with_guest_paused = instance.with_guest_paused
        self.named: Dict[str, Registration] = {}
        #: set by the Panda: procname=NAME keeps a callback on only while a
        #: process of that name runs (needs OS introspection)
        self.procname_gate: Optional[Callable[[str, str], None]] = None
        self._seed_callbacks: Dict[Tuple[int, int, int], Any] = {}
        self._plugins: Dict[str, Tuple[Any, Any, Any]] = {}     # name -> (handle, init, thunk)
        self._plugin_handles: Dict[int, Any] = {}              # address -> panda_plugin*
        self._internal_plugin: Optional[Any] = None

    def clear(self) -> None:
        self.named.clear()
        self._seed_callbacks.clear()

    def fires(self, cbtype: Union[str, CallbackType]) -> bool:
        inst = self._instance
        return bool(inst.lib.panda_cb_fires(inst.handle, cbtype_of(cbtype).number))

    # ---- the original pypanda's plugin pattern -----------------------------

    def load_python_plugin(self, init_function: Any, name: str) -> int:
        if not isinstance(init_function, PLUGIN_INIT) and not callable(init_function):
            raise CallbackError("load_python_plugin needs init(handle) decorated with @pyp.callback('bool(void*)')")
        if not hasattr(init_function, "argtypes_"):
            init_function = callback_types.init(init_function)
        callback_types.init.check(init_function)
        user_init = getattr(init_function, "pyfunc", init_function)

        def init(handle: Optional[int]) -> Any:
            # known before init runs, so init's register_callback(handle, ...) is accepted
            if handle:
                self._plugin_handles[handle] = ctypes.cast(handle, PluginPtr)
            return user_init(handle)

        thunk = wrap(init, c_bool, (c_void_p,), "init")
        plugin = PluginPtr()
        inst = self._instance
        cname = c_string(name, "the plugin name")
        try:
            status = inst.call(inst.lib.panda_load_external_plugin, inst.handle, cname,
                               ctypes.cast(thunk, PLUGIN_INIT), byref(plugin))
        except BaseException:
            self._forget_handles()
            raise
        address = ctypes.cast(plugin, c_void_p).value or 0
        if status:
            self._forget_handles()
        inst.check(status)
        self._plugins[name] = (plugin, init_function, thunk)
        self._plugin_handles[address] = plugin
        return address

    def _forget_handles(self) -> None:
        """Keep only the handles of plugins that loaded."""
        live = {ctypes.cast(p, c_void_p).value for p, _, _ in self._plugins.values()}
        for address in [a for a in self._plugin_handles if a not in live]:
            del self._plugin_handles[address]

    def plugin_for(self, handle: Any) -> Any:
        """The panda_plugin* for a handle init(handle) received; HandleError
        for any other value."""
        if isinstance(handle, PluginPtr):
            address = ctypes.cast(handle, c_void_p).value or 0
        elif isinstance(handle, int) and not isinstance(handle, bool):
            address = handle
        else:
            raise HandleError(f"register_callback: the handle must be the int init(handle) received, "
                              f"not {type(handle).__name__} {handle!r}")
        plugin = self._plugin_handles.get(address)
        if plugin is None:
            known = ", ".join(f"{name} ({ctypes.cast(p, c_void_p).value:#x})" for name, (p, _, _) in self._plugins.items())
            raise HandleError(f"register_callback: {address:#x} is not a plugin handle of this Panda "
                              f"(pass the handle init(handle) received from load_python_plugin; "
                              f"plugins: {known or 'none'})")
        return plugin

    def register_seed(self, handle: Any, cbtype: Any, fn: Any) -> None:
        plugin = self.plugin_for(handle)
        cbt = cbtype_of(cbtype)
        cfn = as_cfunction(cbt, fn)
        self._instance.check(self._instance.lib.panda_register_callback(plugin, cbt.number, cfn))
        key = (ctypes.cast(plugin, c_void_p).value or 0, cbt.number, ctypes.cast(cfn, c_void_p).value or 0)
        self._seed_callbacks[key] = cfn

    # ---- pandare's named style ---------------------------------------------

    def _internal(self) -> Any:
        if self._internal_plugin is None:
            plugin = PluginPtr()
            inst = self._instance
            inst.check(inst.lib.panda_plugin_create(inst.handle, b"pypanda", byref(plugin)))
            self._internal_plugin = plugin
        return self._internal_plugin

    def register_named(self, callback: CallbackType, function: Any, name: Optional[str] = None,
                       enabled: bool = True, procname: Optional[str] = None) -> None:
        if procname is not None and self.procname_gate is None:
            unsupported("procname=", "OS introspection (process names from guest kernel structures)")
        cbt = cbtype_of(callback)
        cfn = as_cfunction(cbt, function)
        name = name or getattr(getattr(cfn, "pyfunc", function), "__name__", None) or f"cb{len(self.named)}"
        c_string(name, "the callback name")
        if name in self.named:
            self.delete(name)
        plugin = self._internal()
        lib = self._instance.lib
        self._with_guest_paused(lambda: self._instance.check(
            lib.panda_register_callback(plugin, cbt.number, cfn)))
        self.named[name] = Registration(name, cbt, cfn, plugin, True)
        if not enabled:
            self.set_enabled(name, False)
        if procname is not None and self.procname_gate is not None:
            self.procname_gate(name, procname)

    def decorator_for(self, cbt: CallbackType) -> Callable[..., Any]:
        def decorator(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None,
                      procname: Optional[str] = None, enabled: bool = True) -> Any:
            def register(f: Callable[..., Any]) -> Callable[..., Any]:
                self.register_named(cbt, f, name or f.__name__, enabled=enabled, procname=procname)
                return f
            return register(fn) if fn is not None else register
        decorator.__name__ = f"cb_{cbt.name}"
        decorator.__doc__ = f"Register the decorated function as a {cbt.name} callback: {cbt.signature}"
        return decorator

    def registration(self, name: str) -> Registration:
        self._instance.check_open(f"the callback {name!r}")
        try:
            return self.named[name]
        except KeyError:
            raise CallbackError(f"no callback named {name!r} (registered: {', '.join(self.named) or 'none'})") from None

    def set_enabled(self, name: str, enabled: bool) -> None:
        reg = self.registration(name)
        lib = self._instance.lib
        switch = lib.panda_enable_callback if enabled else lib.panda_disable_callback
        self._with_guest_paused(lambda: self._instance.check(switch(reg.plugin, reg.cbtype.number, reg.cfn)))
        reg.enabled = enabled

    def delete(self, name: str) -> None:
        reg = self.registration(name)
        lib = self._instance.lib
        self._with_guest_paused(lambda: self._instance.check(
            lib.panda_unregister_callback(reg.plugin, reg.cbtype.number, reg.cfn)))
        del self.named[name]

    def names(self) -> List[str]:
        return list(self.named)
