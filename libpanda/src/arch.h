/*
 * The guest architecture this libpanda_<arch>.so emulates (arch_<name>.c):
 * everything arch-specific lives behind this descriptor, so the core,
 * callbacks, snapshots and machines never include an engine target header.
 */
#ifndef LIBPANDA_ARCH_H
#define LIBPANDA_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include <unicorn/unicorn.h>

#include "panda/panda.h"

typedef struct panda_reg_desc {
    const char *name;
    int uc_id;
} panda_reg_desc;

typedef struct panda_cpu_model {
    const char *name;          /* QEMU's -cpu name */
    int uc_model;
} panda_cpu_model;

/* Port I/O as a machine sees it (x86 in/out). */
typedef uint32_t (*arch_port_in_fn)(void *opaque, uint32_t port, unsigned size);
/* true: the write may move a timer deadline, end the slice */
typedef bool (*arch_port_out_fn)(void *opaque, uint32_t port, uint32_t value, unsigned size);

/* What a machine installed with install_port_io (removed on uc_close). */
typedef struct arch_port_io {
    arch_port_in_fn in;
    arch_port_out_fn out;
    void *opaque;
    uc_hook hooks[2];
} arch_port_io;

typedef struct panda_arch_desc {
    const char *name;          /* "i386" */
    uint32_t bits;             /* guest word size */
    bool big_endian;
    uc_arch uc_arch;
    uc_mode uc_mode;
    int pc_reg;                /* uc register id of the program counter */
    const char *default_machine;
    const char *hypercall;     /* the instruction that fires guest_hypercall */
    const panda_cpu_model *cpu_models;
    uint32_t ncpu_models;
    const panda_reg_desc *regs;
    int nregs;

    /* Make the hypercall instruction fire guest_hypercall callbacks. */
    uc_err (*install_hypercall)(uc_engine *uc, uc_hook *hook, panda_t *p);
    /* Route the guest's port I/O to io (which must outlive the engine). */
    uc_err (*install_port_io)(uc_engine *uc, arch_port_io *io);
    /* Would the CPU take an external interrupt now? */
    bool (*interrupts_enabled)(uc_engine *uc);
    /* Point the CPU at pc with the state a boot loader leaves (x86:
     * EFLAGS = 2, flat protected mode is set up by the code at pc). */
    uc_err (*set_entry)(uc_engine *uc, uint64_t pc);
    /* CPUID-style feature filter for a machine without a local interrupt
     * controller (engine hook, may be NULL). */
    void (*hide_local_apic)(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t regs[4]);

    /* ---- what hooks and system-call detection read (hooks.c, syscalls.c) */
    /* The privilege level the CPU runs at (x86: CPL; 0 kernel, 3 user);
     * -1 if the engine cannot say. */
    int (*privilege)(uc_engine *uc);
    /* The address-space id (x86: CR3), and the mask under which two ids
     * name one address space (x86: ~0x1FFF, for PTI's page-table pairs). */
    uint64_t (*asid)(uc_engine *uc);
    uint64_t asid_mask;
    /* code[0..3] are the bytes at pc (have: how many of them are readable):
     * the system-call kind of the instruction there (0 int $0x80, 1
     * sysenter, 2 syscall) with *return_pc set, or -1. */
    int (*syscall_kind)(const uint8_t *code, unsigned have, uint64_t pc, uint64_t *return_pc);
    /* before[0..1] are the two bytes before a block's first instruction:
     * is it where a system call returns? */
    bool (*syscall_return_site)(const uint8_t before[2]);
    /* At a system-call instruction: fill call->number, sp and args from the
     * registers; an argument the kernel takes from user memory is left for
     * the caller: *mem_arg its index (-1: none), *mem_addr its address. */
    uc_err (*syscall_entry)(uc_engine *uc, uint32_t kind, panda_syscall *call, int *mem_arg,
                            uint64_t *mem_addr);
    /* At a return site: the user stack pointer and the return value. */
    uc_err (*syscall_return)(uc_engine *uc, uint64_t *sp, int64_t *retval);
    /* Linux's system calls that never return (no pending return kept). */
    const int32_t *syscall_noreturn;
    uint32_t nsyscall_noreturn;

    /* The monitor's "info mem": the virtual ranges the current page tables
     * map, merged while the permissions stay the same, one line each to
     * emit(ctx, line) in QEMU's format ("START-END SIZE urw").  false: paging
     * is off (nothing emitted). */
    bool (*info_mem)(uc_engine *uc, void (*emit)(void *ctx, const char *line), void *ctx);
} panda_arch_desc;

extern const panda_arch_desc panda_arch;

/* The model named name, or NULL. */
const panda_cpu_model *arch_cpu_model(const char *name);

#endif
