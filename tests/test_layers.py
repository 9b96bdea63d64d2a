"""libpanda's structure: the sources are layered with no cycle between
them (the call graph is derived from the object files' symbols), nothing
outside a machine's file asks which machine an instance has, and only the
arch descriptor includes an engine target header."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List, Set

import pytest

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "libpanda" / "src"
DEVICES = ROOT / "libpanda" / "devices"


def _engine_include() -> Path:
    # this tree's patched engine (the cache holds one per patch set)
    proc = subprocess.run([str(ROOT / "build.sh"), "--engine-src"], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1]) / "include"


def _sources(top: Path) -> List[Path]:
    return sorted(p for p in top.rglob("*.c")
                  if "tests" not in p.parts and not p.name.startswith(("test_", "fuzz_")))


@pytest.fixture(scope="module")
def call_graph(tmp_path_factory) -> Dict[str, Set[str]]:
    """{source: sources whose symbols it uses}, over libpanda/src."""
    cc, nm = shutil.which("cc"), shutil.which("nm")
    assert cc and nm, "cc and nm (gcc, binutils) are needed"
    out = tmp_path_factory.mktemp("objs")
    inc = ["-I", str(ROOT / "libpanda" / "include"), "-I", str(DEVICES), "-I", str(SRC),
           "-I", str(_engine_include())]
    defined: Dict[str, str] = {}
    used: Dict[str, Set[str]] = {}
    for src in _sources(SRC) + _sources(DEVICES):
        if src.name.startswith("arch_") and src.name != "arch_i386.c":
            continue
        rel = str(src.relative_to(ROOT / "libpanda"))
        obj = out / (rel.replace("/", "_") + ".o")
        subprocess.run([cc, "-std=c11", "-O0", "-D_GNU_SOURCE", *inc, "-c", str(src), "-o", str(obj)],
                       check=True)
        syms = subprocess.run([nm, str(obj)], check=True, capture_output=True, text=True).stdout
        used[rel] = set()
        for line in syms.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                used[rel].add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBRC":
                defined[parts[2]] = rel
    graph = {f: {defined[s] for s in syms if s in defined and defined[s] != f}
             for f, syms in used.items()}
    return {f: deps for f, deps in graph.items() if f.startswith("src/")}


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One cycle among the graph's nodes, or []."""
    state: Dict[str, int] = {}
    stack: List[str] = []

    def visit(n: str) -> List[str]:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if m not in graph:
                continue
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if not state.get(m):
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return []

    for n in sorted(graph):
        if not state.get(n):
            found = visit(n)
            if found:
                return found
    return []


def test_no_cycle_between_libpanda_sources(call_graph):
    assert len(call_graph) > 10, call_graph
    cycle = _cycle(call_graph)
    assert not cycle, "a call cycle between libpanda sources: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    # the check itself: a -> b -> c -> a is found, a DAG is not
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_base_layer_calls_nothing_above_it(call_graph):
    for f, deps in call_graph.items():
        if f.startswith("src/base/"):
            assert all(d.startswith("src/base/") for d in deps), (f, deps)


def test_devices_do_not_call_libpanda(call_graph, tmp_path):
    # devices are compiled with the library but use none of src/
    for src in _sources(DEVICES):
        text = src.read_text()
        assert '#include "internal.h"' not in text and "../src" not in text, src


def _grep(pattern: str, files: List[Path]) -> List[str]:
    rx = re.compile(pattern)
    return [f"{f.relative_to(ROOT)}:{i}: {line.strip()}"
            for f in files for i, line in enumerate(f.read_text().splitlines(), 1) if rx.search(line)]


def test_no_machine_tests_outside_the_machine_files():
    others = [f for f in SRC.rglob("*.c") if not f.name.startswith("machine")]
    assert _grep(r"p->pc\b|->pc_finished|strcmp\([^)]*machine[^)]*\"(pc|configurable)\"", others) == []


def test_no_x86_header_outside_the_arch():
    files = [f for f in list(SRC.rglob("*.[ch]")) if f.name != "arch_i386.c"]
    assert _grep(r"#include\s*<unicorn/x86\.h>", files) == []


# The internal plugins: they register ordinary callbacks through the
# registry and read the guest through the arch and memory layers, nothing
# above them (the run loop, the machines, record/replay).
INTERNAL_PLUGINS = {"src/hooks.c", "src/memhooks.c", "src/syscalls.c"}
PLUGIN_MAY_CALL = ("src/base/", "src/runctl.c", "src/callbacks.c", "src/arch_i386.c", "src/arch.c",
                   "src/memory.c")


def test_internal_plugins_call_only_the_layers_below(call_graph):
    for f in INTERNAL_PLUGINS:
        assert f in call_graph, f
        assert all(d.startswith(PLUGIN_MAY_CALL) for d in call_graph[f]), (f, call_graph[f])
    # and only core.c (freeing an instance) calls them
    for f, deps in call_graph.items():
        if f not in INTERNAL_PLUGINS and f != "src/core.c":
            assert not deps & INTERNAL_PLUGINS, (f, deps & INTERNAL_PLUGINS)
