#!/usr/bin/env python3
"""pypanda on the bare machine: run a small x86 program and watch it.

The guest computes the first ten Fibonacci numbers into memory, asks the
analysis for a number through a hypercall (CPUID), switches its address
space (a CR3 write) and halts.  Python callbacks count the blocks and
instructions it runs, record its memory writes, answer the hypercall and
see the address-space switch.  Needs nothing but pypanda: the guest code
is shipped as bytes (assembly beside each line).
"""
from pypanda import Panda, progress

CODE_ADDR, DATA_ADDR, STACK_TOP = 0x1000, 0x2000, 0x8000
HYPERCALL_MAGIC = 0x50414E44  # "PAND"
CODE = bytes.fromhex(
    "bc00800000"    # mov  $0x8000, %esp
    "31c0"          # xor  %eax, %eax            a = 0
    "bb01000000"    # mov  $1, %ebx              b = 1
    "bf00200000"    # mov  $0x2000, %edi
    "b90a000000"    # mov  $10, %ecx
    "8907"          # 1: mov %eax, (%edi)        store a
    "83c704"        # add  $4, %edi
    "89c2"          # mov  %eax, %edx
    "01da"          # add  %ebx, %edx            next = a + b
    "89d8"          # mov  %ebx, %eax
    "89d3"          # mov  %edx, %ebx
    "49"            # dec  %ecx
    "75f0"          # jnz  1b
    "b8444e4150"    # mov  $HYPERCALL_MAGIC, %eax
    "0fa2"          # cpuid                      -> answered by Python
    "a300210000"    # mov  %eax, 0x2100
    "b800500000"    # mov  $0x5000, %eax
    "0f22d8"        # mov  %eax, %cr3            -> asid_changed
    "f4"            # hlt                        -> run() returns
)


def main() -> None:
    panda = Panda(arch="i386", mem="1M", extra_args="-M configurable -nographic")
    panda.map_memory("ram", 0x10000, 0)
    panda.physical_memory_write(CODE_ADDR, CODE)
    cpu = panda.get_cpu()
    panda.arch.set_pc(cpu, CODE_ADDR)

    seen = {"blocks": 0, "insns": 0, "writes": [], "asids": []}

    @panda.cb_before_block_exec
    def count_blocks(cpu, tb):
        seen["blocks"] += 1

    @panda.cb_insn_translate
    def every_insn(cpu, pc):
        return True

    @panda.cb_insn_exec
    def count_insns(cpu, pc):
        seen["insns"] += 1

    @panda.cb_virt_mem_after_write
    def writes(cpu, pc, addr, size, buf):
        seen["writes"].append((pc, addr, size))

    @panda.cb_guest_hypercall
    def hypercall(cpu):
        if panda.arch.get_reg(cpu, "EAX") != HYPERCALL_MAGIC:
            return False  # an ordinary CPUID
        panda.arch.set_reg(cpu, "EAX", 1337)
        return True

    @panda.cb_asid_changed
    def asid(cpu, old, new):
        seen["asids"].append((old, new))
        return False

    panda.enable_memcb()
    progress("running the guest program")
    panda.run()

    fib = panda.physical_memory_read(DATA_ADDR, 40, fmt="ptrlist")
    answer = panda.physical_memory_read(DATA_ADDR + 0x100, 4, fmt="int")
    progress(f"guest halted: {panda.guest_halted}")
    print(f"blocks executed:       {seen['blocks']}")
    print(f"instructions executed: {seen['insns']}")
    print(f"memory writes:         {len(seen['writes'])}, first at pc 0x{seen['writes'][0][0]:x} "
          f"to 0x{seen['writes'][0][1]:x}")
    print(f"fibonacci in memory:   {fib}")
    print(f"hypercall answer:      {answer}")
    print(f"address-space change:  {[(hex(o), hex(n)) for o, n in seen['asids']]}")
    print(f"final EIP:             0x{panda.arch.get_pc(cpu):x}")


if __name__ == "__main__":
    main()
