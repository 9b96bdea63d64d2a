"""Engine reliability: faults that used to crash or hang the process.  Each
scenario runs in a child process (with a timeout) so that a crash or a
livelock fails its test instead of the suite.

- snapshots and the CPU's hardware breakpoints (engine patch 0013)
- blocks of many instrumented instructions (engine patch 0002)
- before_block_exec_invalidate_opt and stopping a run (engine patch 0001)
- callbacks that change their own registration while they run (callbacks.c)
"""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import CODE_ADDR, SUM_LOOP, fake_bzimage

KERNEL_BASE = 0x100000
IDT_BASE = 0x80000
VARS = 0x500
STACK_TOP = 0x7ff00
STOP = 0x5A5A0000           # EAX | n at a cpuid: "stop number n"

REPO = Path(__file__).resolve().parent.parent


def run_child(tmp_path: Path, body: str, args: dict, timeout: float = 60) -> dict:
    """Run body (Python) in a child process with ARGS (a dict) defined; it
    prints RESULT <json> last.  Returns that dict; fails the test on a
    crash, a hang or a missing result."""
    script = tmp_path / "child.py"
    script.write_text("import json, sys, threading, time\n"
                      f"sys.path.insert(0, {str(REPO)!r})\n"
                      "from pypanda import Panda\n"
                      f"ARGS = json.loads({json.dumps(json.dumps(args))})\n"
                      + textwrap.dedent(body))
    try:
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the child did not finish within {timeout} s (hung); output: {exc.stdout!r}")
    if proc.returncode != 0:
        pytest.fail(f"the child died (exit status {proc.returncode}):\n"
                    f"{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"no result from the child:\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1][len("RESULT "):])


# ---- snapshots and the debug registers ---------------------------------

def gate(handler: int) -> bytes:
    return struct.pack("<HHBBH", handler & 0xFFFF, 0x10, 0, 0x8E, handler >> 16)


def stop(n: int) -> str:
    """A stop the host sees (cpuid hypercall); a stop takes effect at the end
    of the block, so the block ends right after it."""
    return f"    mov ${STOP | n:#x}, %eax\n    cpuid\n    jmp .+2\n"


# #DB (vector 1) counts itself in VARS[0] and resumes with RF set, so the
# instruction breakpoint does not fire again on return.
DB_HANDLER = f"""
db_handler:
    incl {VARS:#x}
    orl $0x10000, 8(%esp)
    iret
"""

ARM = """
    mov $target, %eax
    mov %eax, %dr0
    mov $0x401, %eax            # L0: execute breakpoint on DR0
    mov %eax, %dr7
"""
CLEAR = """
    xor %eax, %eax
    mov %eax, %dr7
"""

# stop 1 with the breakpoint armed; the target hits it; cleared; stop 2
ARMED_PROGRAM = ARM + stop(1) + "target:\n    nop\n" + CLEAR + stop(2) + "1:  hlt\n    jmp 1b\n"

# stop 1 with DR7 = 0; unless VARS[1] is set, arm and stop 2; target; stop 3
ZERO_PROGRAM = (stop(1) + f"    cmpl $0, {VARS + 4:#x}\n    jne skip\n" + ARM + stop(2) +
                "skip:\ntarget:\n    nop\n" + stop(3) + "1:  hlt\n    jmp 1b\n")

PC_CHILD = """
panda = Panda(arch="i386", mem="16M", extra_args=["-M", "pc", "-kernel", ARGS["kernel"]])
panda.physical_memory_write(ARGS["idt_base"], bytes.fromhex(ARGS["idt"]))
stops = []

@panda.cb_guest_hypercall
def hc(cpu):
    eax = panda.arch.get_reg(cpu, "EAX")
    if eax & 0xFFFF0000 != ARGS["stop"]:
        return False
    stops.append(eax & 0xFFFF)
    panda.end_analysis()
    return True

def go():
    # run to the next stop; returns its number
    n = len(stops)
    panda.run()
    assert len(stops) == n + 1, (stops, panda.stop_reason)
    return stops[-1]

def db_count():
    return panda.physical_memory_read(ARGS["vars"], 4, fmt="int")
"""


@pytest.fixture
def pc_program(asm, tmp_path):
    """pc_program(source) -> ARGS for PC_CHILD: a fake kernel with a #DB handler."""
    def make(source: str) -> dict:
        code, labels = asm(f"    mov ${STACK_TOP:#x}, %esp\n    lidt idt_desc\n{source}\n{DB_HANDLER}\n"
                           f"idt_desc:\n    .word 0x7ff\n    .long {IDT_BASE:#x}\n", base=KERNEL_BASE)
        kernel = tmp_path / "prog.bzImage"
        kernel.write_bytes(fake_bzimage(code))
        idt = b"".join(gate(labels["db_handler"]) if v == 1 else bytes(8) for v in range(256))
        return {"kernel": str(kernel), "idt": idt.hex(), "idt_base": IDT_BASE, "vars": VARS,
                "stop": STOP, "snapfile": str(tmp_path / "armed.snapshot")}
    return make


def test_breakpoint_fires_without_snapshots(pc_program, tmp_path):
    """The guest's instruction breakpoint works (what the other tests rely on)."""
    r = run_child(tmp_path, PC_CHILD + """
go(); go()
print("RESULT", json.dumps({"stops": stops, "db": db_count()}))
""", pc_program(ARMED_PROGRAM))
    assert r == {"stops": [1, 2], "db": 1}


def test_revert_to_armed_breakpoint_then_clear_twice(pc_program, tmp_path):
    """Set DR7, snapshot, clear DR7, revert, clear again (and again): the
    snapshot must not bring back a pointer to the breakpoint freed by the
    first clear."""
    r = run_child(tmp_path, PC_CHILD + """
out = []
assert go() == 1
panda.snap("armed")
for _ in range(3):
    assert go() == 2          # the target hits the breakpoint, DR7 cleared
    out.append(db_count())
    panda.revert_sync("armed")
    assert db_count() == 0
print("RESULT", json.dumps({"db": out}))
""", pc_program(ARMED_PROGRAM))
    assert r == {"db": [1, 1, 1]}


def test_snapshot_file_with_armed_breakpoint_loads_in_another_process(pc_program, tmp_path):
    args = pc_program(ARMED_PROGRAM)
    r = run_child(tmp_path, PC_CHILD + """
assert go() == 1
panda.save_snapshot(ARGS["snapfile"])
print("RESULT", json.dumps({"saved": True}))
""", args)
    assert r == {"saved": True}
    # a fresh process: the breakpoint is re-created from DR0/DR7, fires, and
    # clearing DR7 removes it
    r = run_child(tmp_path, PC_CHILD + """
panda.load_snapshot(ARGS["snapfile"])
assert go() == 2
first = db_count()
panda.load_snapshot(ARGS["snapfile"])
assert go() == 2
print("RESULT", json.dumps({"db": [first, db_count()]}))
""", args)
    assert r == {"db": [1, 1]}


def test_revert_to_state_without_breakpoint_disarms_it(pc_program, tmp_path):
    """Reverting to a DR7 = 0 state from one with a breakpoint armed leaves
    no breakpoint behind (no spurious #DB)."""
    r = run_child(tmp_path, PC_CHILD + """
assert go() == 1
panda.snap("zero")
assert go() == 2              # now armed
panda.revert_sync("zero")
panda.physical_memory_write(ARGS["vars"] + 4, b"\\1")   # skip arming this time
assert go() == 3
reverted = db_count()
panda.revert_sync("zero")     # and without reverting from an armed state:
assert go() == 2
assert go() == 3
print("RESULT", json.dumps({"reverted": reverted, "armed": db_count()}))
""", pc_program(ZERO_PROGRAM))
    assert r == {"reverted": 0, "armed": 1}


# ---- long instrumented blocks ----------------------------------------------

BARE_CHILD = """
panda = Panda(arch="i386", mem="1M", extra_args="-M configurable -nographic")
panda.map_memory("ram", 0x10000, 0)
panda.physical_memory_write(ARGS["addr"], bytes.fromhex(ARGS["code"]))
panda.arch.set_pc(panda.get_cpu(), ARGS["addr"])
"""

INSN_CHILD = BARE_CHILD + """
counts = {"before": 0, "after": 0}

def counter(kind):
    def count(cpu, pc):
        counts[kind] += 1
    return count

# every instruction, before it (insn_exec) and/or after it (after_insn_exec)
for kind, translate, execute in (("before", panda.cb_insn_translate, panda.cb_insn_exec),
                                 ("after", panda.cb_after_insn_translate, panda.cb_after_insn_exec)):
    if ARGS[kind]:
        translate(name=kind + "_translate")(lambda cpu, pc: True)
        execute(name=kind + "_exec")(counter(kind))

panda.run()
print("RESULT", json.dumps({"halted": panda.guest_halted, **counts}))
"""


@pytest.mark.parametrize("fill,n", [(b"\x90", 4000), (b"\x00\x00", 2000)], ids=["nop", "zeroes"])
@pytest.mark.parametrize("before,after", [(True, False), (False, True), (True, True)],
                         ids=["insn_exec", "after_insn_exec", "both"])
def test_every_instruction_of_long_blocks_instrumented(tmp_path, fill, n, before, after):
    """4000 bytes of nops (or of zeroes: add %al,(%eax)) then hlt, every
    instruction instrumented: blocks of up to 512 instructions."""
    code = fill * n + b"\xf4"
    r = run_child(tmp_path, INSN_CHILD, {"addr": CODE_ADDR, "code": code.hex(),
                                         "before": before, "after": after})
    assert r["halted"]
    assert r["before"] == (n + 1 if before else 0)   # the hlt too
    assert r["after"] == (n if after else 0)          # every one but hlt


# ---- invalidate_opt and stopping -------------------------------------------

INVALIDATE_CHILD = BARE_CHILD + """
asked = []
executed = []

@panda.cb_before_block_exec_invalidate_opt
def inv(cpu, tb):
    asked.append(tb.contents.pc)
    if ARGS["stop_from"] == "callback" and len(asked) == 50:
        panda.end_analysis()
    return True

@panda.cb_before_block_exec
def bbe(cpu, tb):
    executed.append(tb.contents.pc)

if ARGS["stop_from"] == "thread":
    def stopper():
        while len(asked) < 50:
            time.sleep(0.001)
        panda.end_analysis()
    threading.Thread(target=stopper, daemon=True).start()

panda.run()
print("RESULT", json.dumps({"asked": len(asked), "executed": len(executed),
                            "halted": panda.guest_halted,
                            "eax": panda.arch.get_reg(panda.get_cpu(), "EAX")}))
"""


def test_invalidate_every_block_still_runs_the_guest(asm, tmp_path):
    """Returning true every time: each block is thrown away, translated
    again and then runs (PANDA's semantics), so the guest completes."""
    code, labels = asm(SUM_LOOP)
    r = run_child(tmp_path, INVALIDATE_CHILD, {"addr": CODE_ADDR, "code": code.hex(), "stop_from": ""},
                  timeout=30)
    assert r["halted"] and r["eax"] == 15
    # the six block executions, each asked once and then run
    assert r["asked"] == 6 and r["executed"] == 6


@pytest.mark.parametrize("stop_from", ["callback", "thread"])
def test_end_analysis_stops_a_run_that_invalidates_every_block(asm, tmp_path, stop_from):
    code, _ = asm("1:  inc %eax\n    jmp 1b\n")   # runs forever
    r = run_child(tmp_path, INVALIDATE_CHILD, {"addr": CODE_ADDR, "code": code.hex(),
                                               "stop_from": stop_from}, timeout=30)
    assert not r["halted"]
    assert r["asked"] >= 50
    if stop_from == "callback":
        # the stop takes effect at the next block boundary
        assert r["asked"] == 50 and r["eax"] in (49, 50)


# ---- callbacks that change their own registration --------------------------

SELF_TOGGLE_CHILD = BARE_CHILD + """
calls = []

@panda.cb_before_block_exec(name="x")
def bbe(cpu, tb):
    calls.append(tb.contents.pc)
    if ARGS["style"] == "toggle":
        panda.disable_callback("x")
        panda.enable_callback("x")
    else:
        panda.cb_before_block_exec(name="x")(bbe)   # replaces "x": pandare's style

panda.run()
print("RESULT", json.dumps({"calls": calls, "halted": panda.guest_halted,
                            "eax": panda.arch.get_reg(panda.get_cpu(), "EAX")}))
"""


@pytest.mark.parametrize("style", ["toggle", "reregister"])
def test_callback_changing_its_own_registration_makes_progress(asm, tmp_path, style):
    code, labels = asm(SUM_LOOP)
    r = run_child(tmp_path, SELF_TOGGLE_CHILD, {"addr": CODE_ADDR, "code": code.hex(), "style": style},
                  timeout=30)
    assert r["halted"] and r["eax"] == 15
    assert r["calls"] == [CODE_ADDR] + [labels["loop"]] * 4 + [labels["done"]]
