"""asidstory: which process ran when, from a replay, as a table and an SVG,
by ``python -m pypanda.asidstory`` and by ``panda.asidstory()``."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pypanda import Panda

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    rec = str(tmp_path_factory.mktemp("story") / "story")
    panda = Panda(generic="i386", verbose=False)

    @panda.queue_blocking
    def go():
        panda.record_cmd("sleep 0.1; uname -a; cat /proc/version > /dev/null", recording_name=rec)
        panda.end_analysis()

    panda.run()
    panda.close()
    return rec


def rows(table: str):
    out = {}
    for line in table.splitlines():
        m = re.match(r"\s*(\d+)\s+(\d+)\s+(\S+)\s+0x([0-9a-f]+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            count, pid, name, asid, first, last = m.groups()
            out.setdefault(name, []).append((int(count), int(pid), int(asid, 16), int(first), int(last)))
    return out


def test_command_line_tool(recording, tmp_path):
    svg = tmp_path / "story.svg"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "pypanda.asidstory", recording, "--svg", str(svg)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    table = rows(proc.stdout)
    for name in ("sleep", "uname", "cat"):
        assert name in table, proc.stdout
    # they ran one after the other, in the order typed
    first = {n: min(r[3] for r in table[n]) for n in ("sleep", "uname", "cat")}
    assert first["sleep"] < first["uname"] < first["cat"], first
    for name in ("sleep", "uname", "cat"):
        for count, pid, asid, a, b in table[name]:
            assert 0 < count <= b - a and pid > 1 and asid
    # a timeline row per process
    assert re.search(r"\d+ uname\s+\|[ #]+\|", proc.stdout)
    root = ET.fromstring(svg.read_text())
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert any(" uname:" in t for t in titles) and any(" sleep:" in t for t in titles)


def test_in_a_script_counts_add_up(recording):
    panda = Panda(generic="i386", verbose=False)
    story = panda.asidstory()
    panda.run_replay(recording)
    text = story.table()
    procs = [p for p in story.processes.values() if p.count]
    # every instruction from the first task change on belongs to one row
    assert sum(p.count for p in procs) == story.end - story.start
    assert "uname" in text and "[kernel]" in text and " sh " in text
    panda.close()


def test_as_pandas_plugin_writes_its_file(recording, tmp_path, monkeypatch):
    """pandare's load_plugin("asidstory") ... unload_plugin("asidstory"): the
    table goes to the file ``asidstory``, as PANDA's C plugin writes it."""
    monkeypatch.chdir(tmp_path)
    panda = Panda(generic="i386", verbose=False)
    panda.load_plugin("asidstory")
    panda.run_replay(recording)
    panda.unload_plugin("asidstory")
    text = (tmp_path / "asidstory").read_text()
    assert " uname " in text and " sleep " in text and "Count" in text
    panda.close()
