#!/usr/bin/env python3
"""pandare's style: @panda.cb_<name> decorators on plain Python functions.

A pandare script ports by changing its import; here the guest is
bare_machine.py's program on the bare machine.
"""
from bare_machine import CODE, CODE_ADDR
from pypanda import Panda

panda = Panda(arch="i386", mem="1M", extra_args=["-M", "configurable", "-nographic"])
panda.map_memory("ram", 0x10000, 0)
panda.physical_memory_write(CODE_ADDR, CODE)
panda.arch.set_pc(panda.get_cpu(), CODE_ADDR)

count = {"blocks": 0}


@panda.cb_before_block_exec(name="before")
def before_block_execute(cpu, tb):
    count["blocks"] += 1
    if count["blocks"] == 3:
        panda.disable_callback("after")
    if count["blocks"] == 5:
        panda.enable_callback("after")


@panda.cb_after_block_exec(name="after")
def after_block_execute(cpu, tb, exit_code):
    print("after block 0x%x, exit code %d, EAX=%d" % (tb.contents.pc, exit_code,
                                                        panda.arch.get_reg(cpu, "EAX")))


panda.run()
print("blocks: %d" % count["blocks"])
