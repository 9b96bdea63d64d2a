"""pandare's PyPlugins (pypanda.PyPlugin, panda.pyplugins) on real guest
code: the bare machine running SUM_LOOP (6 blocks, EAX = 15) for most,
the Linux guest for syscalls2 from a plugin."""
from __future__ import annotations

import textwrap

import pytest

from pypanda import Panda, PyPlugin, PyPluginError
from pypanda.pyplugin import PyPluginAttributeError

from conftest import SUM_LOOP

SUM_BLOCKS = 6


class Counter(PyPlugin):
    """Counts blocks; uninit records the count it saw."""

    def __init__(self, panda):
        self.count = 0
        self.uninit_saw = None

        @panda.cb_before_block_exec
        def counter_bbe(cpu, tb):
            self.count += 1

    def uninit(self):
        self.uninit_saw = self.count


def test_block_count_plugin(machine):
    panda, _ = machine(SUM_LOOP)
    panda.pyplugins.load(Counter)
    assert panda.pyplugins.is_loaded("Counter") and panda.pyplugins.is_loaded(Counter)
    plugin = panda.pyplugins.get_plugin("Counter")
    assert isinstance(plugin, Counter) and panda.pyplugins.plugins == {"Counter": plugin}
    panda.run()
    assert plugin.count == SUM_BLOCKS
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15
    # as in pandare, run() unloads the plugins when it returns: uninit ran, callbacks gone
    assert plugin.uninit_saw == SUM_BLOCKS
    assert not panda.pyplugins.is_loaded(Counter) and panda.pyplugins.plugins == {}
    assert "counter_bbe" not in panda._callbacks.names()


def test_args(machine):
    panda, _ = machine(SUM_LOOP)
    seen = {}

    class Args(PyPlugin):
        def __init__(self, panda):
            seen["path"] = self.get_arg("path")
            seen["missing"] = self.get_arg("nope")
            seen["bools"] = [self.get_arg_bool(k) for k in
                             ("t", "f", "s_yes", "s_y", "s_1", "s_no", "i0", "i5", "nope")]
            seen["all"] = self.get_args()

    args = {"path": "/foo", "t": True, "f": False, "s_yes": "TRUE", "s_y": "y", "s_1": "1",
            "s_no": "false", "i0": 0, "i5": 5, "weird": 1.5}
    panda.pyplugins.load(Args, args)
    assert seen["path"] == "/foo" and seen["missing"] is None
    assert seen["bools"] == [True, False, True, True, True, False, False, True, False]
    assert seen["all"] == args and seen["all"] is not args
    with pytest.raises(ValueError, match="weird"):
        panda.pyplugins.get_plugin(Args).get_arg_bool("weird")
    panda.pyplugins.unload(Args)
    assert not panda.pyplugins.is_loaded("Args")


class Server(PyPlugin):
    """pandare's example: a PPP callback ``some_f`` run at each block with
    the block's pc, and an exported ``do_add``."""

    def __init__(self, panda):
        self.counter = 0
        self.ppp_cb_boilerplate("some_f")

        @panda.cb_before_block_exec
        def server_bbe(cpu, tb):
            self.ppp_run_cb("some_f", panda.current_pc(cpu))

    @PyPlugin.ppp_export
    def do_add(self, x):
        self.counter += x
        return self.counter


class Consumer(PyPlugin):
    def __init__(self, panda):
        self.pcs = []
        self.ppp.Server.ppp_reg_cb("some_f", self.my_f)
        self.sums = [self.ppp.Server.do_add(1), self.ppp.Server.do_add(2)]

    def my_f(self, pc):
        self.pcs.append(pc)


def test_ppp_export_and_callbacks(machine, asm):
    panda, labels = machine(SUM_LOOP)
    pcs = []
    panda.register_callback(panda.callback.before_block_exec, lambda cpu, tb: pcs.append(tb.pc), "plain")
    panda.pyplugins.load([Server, Consumer])
    consumer = panda.pyplugins.get_plugin("Consumer")
    assert consumer.sums == [1, 3]
    assert panda.pyplugins.ppp.Server.do_add(4) == 7      # from outside a plugin too
    panda.run()
    assert consumer.pcs == pcs and len(pcs) == SUM_BLOCKS
    # the first block runs the first pass and falls into the loop: 4 more passes, then hlt
    assert pcs == [0x1000] + [labels["loop"]] * 4 + [labels["done"]]


def test_ppp_context_manager_and_reg_cb_names(machine):
    panda, _ = machine(SUM_LOOP)
    log = []

    class Locked(PyPlugin):
        def __init__(self, panda):
            self.ppp_cb_boilerplate("tick")

        @PyPlugin.ppp_export
        def __enter__(self):
            log.append("enter")

        @PyPlugin.ppp_export
        def __exit__(self, *exc):
            log.append("exit")

        @PyPlugin.ppp_export
        def value(self):
            return 42

    class User(PyPlugin):
        def __init__(self, panda):
            with self.ppp.Locked as locked:
                log.append(locked.value())
            # pandare's long names work too
            self.ppp.Locked.ppp_reg_cb_tick(lambda n: log.append(("tick", n)))

    panda.pyplugins.load(Locked)
    panda.pyplugins.load(User)
    panda.pyplugins.get_plugin("Locked").ppp_run_cb("tick", 7)
    panda.pyplugins.ppp.Locked.ppp_run_cb_tick(8)
    assert log == ["enter", 42, "exit", ("tick", 7), ("tick", 8)]


PLUGIN_FILE = '''
from pypanda import PyPlugin as Base   # one file imports it ...

class First(Base):
    def __init__(self, panda):
        self.blocks = 0
        self.ppp_cb_boilerplate("block")

        @panda.cb_before_block_exec
        def first_bbe(cpu, tb):
            self.blocks += 1
            self.ppp_run_cb("block", self.get_arg("tag"))

class Second(PyPlugin):                # ... and one uses it unimported (pandare allows it)
    def __init__(self, panda):
        self.tags = []
        self.ppp.First.ppp_reg_cb("block", self.tags.append)

class NotAPlugin:
    pass
'''


def test_load_all_and_file_loads(machine, tmp_path):
    path = tmp_path / "plugins.py"
    path.write_text(PLUGIN_FILE)
    panda, _ = machine(SUM_LOOP)
    assert panda.pyplugins.load_all(str(path), {"tag": "t"}) == ["First", "Second"]
    first, second = (panda.pyplugins.get_plugin(n) for n in ("First", "Second"))
    panda.run()
    assert first.blocks == SUM_BLOCKS and second.tags == ["t"] * SUM_BLOCKS
    # (file, class) and (file, [classes])
    panda2, _ = machine(SUM_LOOP)
    panda2.pyplugins.load((str(path), "First"))
    assert list(panda2.pyplugins.plugins) == ["First"]
    panda2.pyplugins.unload_all()
    panda2.pyplugins.load((path, ["First", "Second"]), {"tag": 1})
    assert list(panda2.pyplugins.plugins) == ["First", "Second"]


def test_unload_removes_callbacks_hooks_and_ppp(machine):
    panda, labels = machine(SUM_LOOP)
    panda.pyplugins.unload_on_run_end = False
    hooked = []

    class Watcher(PyPlugin):
        def __init__(self, panda):
            self.blocks = 0
            self.uninit_calls = 0
            self.pcs = []

            @panda.cb_before_block_exec
            def watcher_bbe(cpu, tb):
                self.blocks += 1

            @panda.hook(labels["loop"])
            def at_loop(cpu, tb, h):
                hooked.append(panda.arch.get_reg(cpu, "ECX"))

            self.ppp.Server.ppp_reg_cb("some_f", self.pcs.append)

        def uninit(self):
            self.uninit_calls += 1

    @panda.cb_before_block_exec
    def stop_at_ecx_3(cpu, tb):
        if tb.pc == labels["loop"] and panda.arch.get_reg(cpu, "ECX") == 3:
            panda.end_analysis()

    panda.pyplugins.load(Server)
    panda.pyplugins.load(Watcher)
    watcher = panda.pyplugins.get_plugin(Watcher)
    panda.run()                         # entry block, loop with ECX 5, 4, then 3 ends the run
    assert watcher.blocks == 3 and hooked == [5, 4] and len(watcher.pcs) == 3
    assert panda.pyplugins.is_loaded("Watcher")       # unload_on_run_end off
    panda.pyplugins.unload(watcher)                    # by instance (by name and class work too)
    assert watcher.uninit_calls == 1 and not panda.pyplugins.is_loaded(Watcher)
    assert "watcher_bbe" not in panda._callbacks.names() and panda.hooks == {}
    assert "Watcher" not in panda.pyplugins.ppp
    panda.delete_callback("stop_at_ecx_3")
    panda.run()
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15
    # nothing counted after the unload; the Server still runs, without Watcher's function
    assert watcher.blocks == 3 and hooked == [5, 4] and len(watcher.pcs) == 3
    assert panda.pyplugins.is_loaded(Server)
    panda.pyplugins.unload_all()
    assert panda._callbacks.names() == [] and panda.pyplugins.plugins == {}


def test_plugin_unloads_itself_in_a_callback(machine):
    panda, _ = machine(SUM_LOOP)

    class Three(PyPlugin):
        def __init__(self, panda):
            self.blocks = 0
            self.done = False
            panda.register_callback(panda.callback.before_block_exec, self.on_block, "three")

        def on_block(self, cpu, tb):
            self.blocks += 1
            if self.blocks == 3:
                self.pypluginmgr.unload(self)

        def uninit(self):
            self.done = True

    panda.pyplugins.load(Three)
    three = panda.pyplugins.get_plugin("Three")
    panda.run()
    assert three.blocks == 3 and three.done
    assert panda.arch.get_reg(panda.get_cpu(), "EAX") == 15


def test_init_raising_leaves_nothing(machine):
    panda, _ = machine(SUM_LOOP)

    class Broken(PyPlugin):
        def __init__(self, panda):
            @panda.cb_before_block_exec
            def broken_bbe(cpu, tb):
                pass
            raise RuntimeError("init failed")

    with pytest.raises(RuntimeError, match="init failed"):
        panda.pyplugins.load(Broken)
    assert not panda.pyplugins.is_loaded(Broken) and panda._callbacks.names() == []
    assert "Broken" not in panda.pyplugins.ppp


def test_errors(machine, tmp_path):
    panda, _ = machine(SUM_LOOP)
    mgr = panda.pyplugins

    class NotPlugin:
        pass

    for bad in (NotPlugin, Counter.__new__(Counter), "Counter", 3):
        with pytest.raises(PyPluginError, match="uninstantiated subclass of PyPlugin"):
            mgr.load(bad)
    with pytest.raises(PyPluginError, match="no PyPlugin file"):
        mgr.load((str(tmp_path / "missing.py"), "X"))
    with pytest.raises(PyPluginError, match="no PyPlugin file"):
        mgr.load_all(tmp_path / "missing.py")
    path = tmp_path / "p.py"
    path.write_text(PLUGIN_FILE)
    with pytest.raises(PyPluginError, match="defines no class 'Third'"):
        mgr.load((str(path), ["First", "Third"]))
    with pytest.raises(PyPluginError, match="NotAPlugin .* is not a PyPlugin subclass"):
        mgr.load((str(path), "NotAPlugin"))
    assert mgr.plugins == {}

    mgr.load(Server)
    with pytest.raises(PyPluginError, match="'Server' is already loaded"):
        mgr.load(Server)
    with pytest.raises(PyPluginAttributeError, match="no PyPlugin named 'Nobody'"):
        mgr.ppp.Nobody.f()
    with pytest.raises(AttributeError, match="exports no function 'nothing' .*do_add"):
        mgr.ppp.Server.nothing()
    with pytest.raises(PyPluginAttributeError, match="no PPP callback 'other_f' .*some_f"):
        mgr.ppp.Server.ppp_reg_cb("other_f", print)
    server = mgr.get_plugin("Server")
    with pytest.raises(PyPluginAttributeError, match="no PPP callback 'undeclared'"):
        server.ppp_run_cb("undeclared")
    with pytest.raises(PyPluginError, match="'some_f' is being redefined"):
        server.ppp_cb_boilerplate("some_f")
    with pytest.raises(PyPluginError, match="already registered"):
        mgr.ppp.Server.ppp_reg_cb("some_f", print)
        mgr.ppp.Server.ppp_reg_cb("some_f", print)
    with pytest.raises(PyPluginError, match="no PyPlugin 'Counter' is loaded"):
        mgr.unload("Counter")
    with pytest.raises(PyPluginError, match="no PyPlugin 'Counter' is loaded"):
        mgr.get_plugin(Counter)
    with pytest.raises(PyPluginError, match="not loaded through panda.pyplugins.load"):
        _ = Counter.__new__(Counter).ppp
    assert not hasattr(mgr.ppp, "Nobody")            # an AttributeError, so hasattr works


# ---- the Linux guest, pandare's style ----

def test_syscalls2_from_a_pyplugin_linux():
    panda = Panda(generic="i386", verbose=False)

    class WriteWatcher(PyPlugin):
        def __init__(self, panda):
            self.writes = []
            self.fd = int(self.get_arg("fd"))

            @panda.ppp("syscalls2", "on_sys_write_enter")
            def on_write(cpu, pc, fd, buf, count):
                if fd == self.fd:
                    self.writes.append(bytes(panda.virtual_memory_read(cpu, buf, count)))

        def uninit(self):
            self.final = list(self.writes)

    class Blocks(PyPlugin):
        def __init__(self, panda):
            self.count = 0

            @panda.cb_before_block_exec
            def blocks_bbe(cpu, tb):
                self.count += 1

    panda.pyplugins.load(WriteWatcher, {"fd": "1"})
    watcher = panda.pyplugins.get_plugin(WriteWatcher)
    out = {}

    @panda.queue_blocking
    def driver():
        out["echo"] = panda.run_serial_cmd("echo hi")
        # load and unload from the driver thread while the guest runs (pandare's own test unloads so)
        panda.pyplugins.load(Blocks)
        blocks = out["plugin"] = panda.pyplugins.get_plugin(Blocks)
        out["ls"] = panda.run_serial_cmd("ls /")
        panda.pyplugins.unload(Blocks)
        out["blocks"] = blocks.count
        panda.run_serial_cmd("true")
        panda.end_analysis()

    try:
        panda.run()
        assert out["echo"].strip() == "hi"
        assert b"hi\n" in watcher.writes
        assert out["blocks"] > 0 and out["plugin"].count == out["blocks"]   # none counted after the unload
        assert "blocks_bbe" not in panda._callbacks.names() and "bin" in out["ls"]
        assert watcher.final == watcher.writes       # uninit ran when run() returned
        syscalls2 = panda.plugins["syscalls2"]
        assert all(fns == [] for fns in syscalls2._by_name.values())   # its callback went with it
    finally:
        panda.close()


def test_exported_in_package():
    import pypanda
    assert pypanda.PyPlugin is PyPlugin and "PyPlugin" in pypanda.__all__
    assert textwrap.dedent(PyPlugin.__doc__ or "")


def test_unload_takes_later_registrations_and_spares_a_subclass(machine):
    panda, labels = machine(SUM_LOOP)
    panda.pyplugins.unload_on_run_end = False

    class Base(PyPlugin):
        def __init__(self, panda):
            self.blocks = 0

            @panda.cb_before_block_exec(name=f"bbe_{type(self).__name__}")
            def bbe(cpu, tb):
                self.blocks += 1

        @PyPlugin.ppp_export
        def watch_done(self):
            # registered after __init__: still the plugin's (a bound method)
            panda.hook(labels["done"])(self.at_done)

        def at_done(self, cpu, tb, h):
            self.done_hits = getattr(self, "done_hits", 0) + 1

    class Derived(Base):
        pass

    panda.pyplugins.load([Base, Derived])
    base, derived = panda.pyplugins.get_plugin(Base), panda.pyplugins.get_plugin(Derived)
    panda.pyplugins.ppp.Base.watch_done()
    assert len(panda.hooks) == 1
    panda.pyplugins.unload(Base)
    assert panda.hooks == {} and panda._callbacks.names() == ["bbe_Derived"]
    panda.run()
    assert (base.blocks, derived.blocks) == (0, SUM_BLOCKS) and not hasattr(base, "done_hits")
