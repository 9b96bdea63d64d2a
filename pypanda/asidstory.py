"""Which process ran when: PANDA's ``asidstory`` for pypanda.

``python -m pypanda.asidstory RECORDING [--svg FILE] [--width N]`` replays a
recording and prints a table of every process that ran (its pid, name,
address space, first and last instruction count and how many instructions
ran in it) with a timeline row per process, one column per slice of the
replay; ``--svg`` also writes the picture.  In a script::

    story = panda.asidstory()      # collecting from now on
    panda.run_replay("recording")
    print(story.table())
    Path("story.svg").write_text(story.svg())

Time is the guest's instruction count.  A row is an address space (CR3
with PTI's user bit masked, as PANDA's asidstory keys on the ASID) and the
process that owns it: a process that execs gets a second row, and a page
directory freed and reused by another process starts a new one.  Kernel
threads borrow the address space they interrupt, and so count for it; page
tables no process owns are the kernel's ("[kernel]": swapper_pg_dir).  A
row's name is the process's latest (busybox's applets rename themselves).
"""
from __future__ import annotations

import argparse
import html
import sys
from typing import Any, Dict, List, Optional, Tuple


class Process:
    """One address space's share of the run."""

    __slots__ = ("asid", "pid", "name", "first", "last", "count", "spans")

    def __init__(self, asid: int) -> None:
        self.asid = asid
        self.pid: Optional[int] = None
        self.name = "?"
        self.first: Optional[int] = None
        self.last = 0
        self.count = 0
        self.spans: List[Tuple[int, int]] = []     # [start, end) instruction counts


class AsidStory:
    """Collects, from its creation on, which address space runs when."""

    def __init__(self, panda: Any) -> None:
        self._panda = panda
        self.processes: Dict[Tuple[int, int], Process] = {}   # (asid, pid) -> its row
        self._current: Optional[Process] = None
        self._since = 0
        self.start: Optional[int] = None
        self.end = 0
        panda.ppp("osi", "on_task_change")(self._on_task_change)

    def _process(self, key: Tuple[int, int]) -> Process:
        proc = self.processes.get(key)
        if proc is None:
            proc = self.processes[key] = Process(key[0])
        return proc

    def _on_task_change(self, cpu: Any) -> None:
        now = self._panda.instr_count()
        intro = self._panda._introspection
        root = intro.osi.switching_to
        osi = self._panda.get_current_process(cpu)
        if osi is None or root is None:
            return
        self._rename_outgoing(intro.osi)
        self._close(now)
        # a row per (address space, process): a freed page directory is
        # soon another process's
        owner = osi.pid if osi.asid == root else 0
        proc = self._process((root, owner))
        if owner:
            proc.pid, proc.name = osi.pid, osi.name
        elif proc.pid is None:
            # page tables no process owns are the kernel's own: the early
            # boot's, swapper_pg_dir (idle, a process exiting), text_poke's
            # temporary mm (the Asid column tells them apart)
            proc.pid, proc.name = 0, "[kernel]"
        self._current, self._since = proc, now
        if self.start is None:
            self.start = now

    def _rename_outgoing(self, osi: Any) -> None:
        # the task being switched away from is still `current`: its name now
        # (a program may rename itself, as busybox's applets do with prctl,
        # without a new address space)
        cur = self._current
        if cur is None or not cur.pid:
            return
        try:
            task = osi.proc(osi.current_task())
        except Exception:       # unreadable mid-switch: keep the old name
            return
        # the same process (an exiting one has dropped its mm already)
        if task.pid == cur.pid and task.asid in (cur.asid, 0):
            cur.name = task.name

    def _close(self, now: int) -> None:
        cur = self._current
        if cur is not None and now > self._since:
            cur.spans.append((self._since, now))
            cur.count += now - self._since
            cur.first = self._since if cur.first is None else cur.first
            cur.last = now
        self.end = max(self.end, now)

    def finish(self) -> None:
        """Close the running process's span at the current instruction count
        (done by :meth:`table` and :meth:`svg`)."""
        now = self._panda.instr_count()
        self._close(now)
        self._since = now

    def _rows(self) -> List[Process]:
        self.finish()
        return sorted((p for p in self.processes.values() if p.count), key=lambda p: (p.first or 0, p.asid))

    def table(self, width: int = 60) -> str:
        """PANDA's asidstory text: a line per process and its timeline."""
        rows = self._rows()
        if not rows or self.start is None:
            return "no process ran while the story was collected\n"
        t0, t1 = self.start, max(self.end, self.start + 1)
        scale = (t1 - t0) / width
        lines = [f"{'Count':>12} {'Pid':>6}  {'Name':<16} {'Asid':>10} {'First':>14} {'Last':>14}"]
        for p in rows:
            lines.append(f"{p.count:12d} {p.pid if p.pid is not None else '?':>6}  {p.name:<16.16} "
                         f"{p.asid:#10x} {p.first:14d} {p.last:14d}")
        lines.append("")
        lines.append(f"{'':24} {t0:<14d}{'':{max(width - 28, 1)}}{t1:>14d}")
        for p in rows:
            cells = [0] * width
            for a, b in p.spans:
                i, j = int((a - t0) / scale), int((b - 1 - t0) / scale)
                for k in range(max(i, 0), min(j, width - 1) + 1):
                    cells[k] += 1
            bar = "".join("#" if c else " " for c in cells)
            lines.append(f"{p.pid if p.pid is not None else '?':>6} {p.name:<16.16} |{bar}|")
        return "\n".join(lines) + "\n"

    def svg(self, width: int = 900, row_height: int = 18) -> str:
        """The timeline as an SVG picture: a row per process, a bar per span."""
        rows = self._rows()
        label_w, pad = 190, 10
        t0 = self.start or 0
        t1 = max(self.end, t0 + 1)
        plot_w = width - label_w - 2 * pad
        height = pad * 2 + row_height * (len(rows) + 1)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
               f'font-family="monospace" font-size="12">',
               f'<rect width="{width}" height="{height}" fill="white"/>']
        palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"]
        for r, p in enumerate(rows):
            y = pad + r * row_height
            label = html.escape(f"{p.pid if p.pid is not None else '?'} {p.name}")
            out.append(f'<text x="{pad}" y="{y + row_height - 5}">{label}</text>')
            colour = palette[r % len(palette)]
            for a, b in p.spans:
                x = label_w + pad + (a - t0) * plot_w / (t1 - t0)
                w = max((b - a) * plot_w / (t1 - t0), 0.5)
                out.append(f'<rect x="{x:.2f}" y="{y + 2}" width="{w:.2f}" height="{row_height - 4}" '
                           f'fill="{colour}"><title>{label}: {a}..{b}</title></rect>')
        y = pad + len(rows) * row_height + row_height - 5
        out.append(f'<text x="{label_w + pad}" y="{y}">{t0}</text>')
        out.append(f'<text x="{width - pad}" y="{y}" text-anchor="end">{t1} instructions</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m pypanda.asidstory",
                                 description="Replay a recording and show which process ran when.")
    ap.add_argument("recording", help="the recording's name (NAME-rr-snp and NAME-rr-nondet.log)")
    ap.add_argument("--generic", default="i386", help="the guest it was recorded on (default i386)")
    ap.add_argument("--mem", default=None, help="the guest's RAM, if not the generic guest's default")
    ap.add_argument("--svg", help="also write the timeline to this SVG file")
    ap.add_argument("--width", type=int, default=60, help="timeline columns (default 60)")
    a = ap.parse_args(argv)
    from .panda import Panda
    kwargs: Dict[str, Any] = {"generic": a.generic}
    if a.mem:
        kwargs["mem"] = a.mem
    panda = Panda(**kwargs)
    story = AsidStory(panda)
    panda.run_replay(a.recording)
    sys.stdout.write(story.table(a.width))
    if a.svg:
        with open(a.svg, "w") as f:
            f.write(story.svg())
    return 0


if __name__ == "__main__":
    sys.exit(main())
