#!/usr/bin/env python3
"""The original pypanda's style, as its README wrote it: a Python plugin
whose init(handle) registers a C-typed callback made with pyp.callback.

The guest is bare_machine.py's program; the plugin prints the first blocks
it runs and the registers at each.
"""
from bare_machine import CODE, CODE_ADDR
from pypanda import *

panda = Panda(arch="i386", mem="1M", os_version=None, qcow=None,
              extra_args="-M configurable -nographic")
panda.map_memory("ram", 0x10000, 0)
panda.physical_memory_write(CODE_ADDR, CODE)
panda.arch.set_pc(panda.get_cpu(), CODE_ADDR)

blocks = 0


@pyp.callback("bool(void*)")
def init(handle):
    progress("init in python. handle=" + str(handle))
    panda.register_callback(handle, panda.callback.before_block_exec, before_block_execute)
    return True


@pyp.callback("int(CPUState*, TranslationBlock*)")
def before_block_execute(cpustate, transblock):
    global blocks
    blocks += 1
    if blocks <= 3:
        tb = transblock.contents
        progress("before block at 0x%x (%d instructions), EAX=0x%x ECX=0x%x" % (
            tb.pc, tb.icount, panda.arch.get_reg(cpustate, "EAX"), panda.arch.get_reg(cpustate, "ECX")))
    return 0


panda.load_python_plugin(init, "on_init")
progress("--- running the guest ---")
panda.run()
progress("%d blocks executed" % blocks)
