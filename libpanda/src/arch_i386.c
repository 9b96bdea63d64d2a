/* The i386 guest: 32-bit x86 on the engine's x86 target. */
#include "arch.h"
#include "callbacks_dispatch.h"

#include <stdio.h>

#include <unicorn/x86.h>

/* QEMU's -cpu names for the models that can boot the reference kernel
 * (it needs an i686 with cmov, cx8 and pae). */
static const panda_cpu_model cpu_models[] = {
    {"qemu32", UC_CPU_X86_QEMU32}, {"kvm32", UC_CPU_X86_KVM32},
    {"pentium2", UC_CPU_X86_PENTIUM2}, {"pentium3", UC_CPU_X86_PENTIUM3},
    {"coreduo", UC_CPU_X86_COREDUO}, {"core2duo", UC_CPU_X86_CORE2DUO},
    {"n270", UC_CPU_X86_N270},
};

/* The first eight are in QEMU's R_EAX..R_EDI order, as PANDA numbers them. */
static const panda_reg_desc regs[] = {
    {"EAX", UC_X86_REG_EAX}, {"ECX", UC_X86_REG_ECX},
    {"EDX", UC_X86_REG_EDX}, {"EBX", UC_X86_REG_EBX},
    {"ESP", UC_X86_REG_ESP}, {"EBP", UC_X86_REG_EBP},
    {"ESI", UC_X86_REG_ESI}, {"EDI", UC_X86_REG_EDI},
    {"EIP", UC_X86_REG_EIP}, {"EFLAGS", UC_X86_REG_EFLAGS},
    {"ES", UC_X86_REG_ES}, {"CS", UC_X86_REG_CS}, {"SS", UC_X86_REG_SS},
    {"DS", UC_X86_REG_DS}, {"FS", UC_X86_REG_FS}, {"GS", UC_X86_REG_GS},
    {"CR0", UC_X86_REG_CR0}, {"CR2", UC_X86_REG_CR2},
    {"CR3", UC_X86_REG_CR3}, {"CR4", UC_X86_REG_CR4},
    {"AX", UC_X86_REG_AX}, {"CX", UC_X86_REG_CX}, {"DX", UC_X86_REG_DX},
    {"BX", UC_X86_REG_BX}, {"SP", UC_X86_REG_SP}, {"BP", UC_X86_REG_BP},
    {"SI", UC_X86_REG_SI}, {"DI", UC_X86_REG_DI},
    {"AL", UC_X86_REG_AL}, {"CL", UC_X86_REG_CL}, {"DL", UC_X86_REG_DL},
    {"BL", UC_X86_REG_BL}, {"AH", UC_X86_REG_AH}, {"CH", UC_X86_REG_CH},
    {"DH", UC_X86_REG_DH}, {"BH", UC_X86_REG_BH},
};

/* x86 CPUID is PANDA's guest hypercall on this architecture. */
static bool on_cpuid(uc_engine *uc, void *opaque)
{
    (void)uc;
    return panda_dispatch_guest_hypercall(opaque);
}

static uc_err install_hypercall(uc_engine *uc, uc_hook *hook, panda_t *p)
{
    return uc_hook_add(uc, hook, UC_HOOK_INSN, (void *)on_cpuid, p, 1, 0, UC_X86_INS_CPUID);
}

static uint32_t port_in(uc_engine *uc, uint32_t port, int size, void *opaque)
{
    (void)uc;
    arch_port_io *io = opaque;
    return io->in(io->opaque, port & 0xffff, (unsigned)size);
}

static void port_out(uc_engine *uc, uint32_t port, int size, uint32_t value, void *opaque)
{
    arch_port_io *io = opaque;
    /* the block ends after an OUT anyway (engine patch 0009) */
    if (io->out(io->opaque, port & 0xffff, value, (unsigned)size)) uc_emu_stop(uc);
}

static uc_err install_port_io(uc_engine *uc, arch_port_io *io)
{
    uc_err e = uc_hook_add(uc, &io->hooks[0], UC_HOOK_INSN, (void *)port_in, io, 1, 0, UC_X86_INS_IN);
    if (e) return e;
    return uc_hook_add(uc, &io->hooks[1], UC_HOOK_INSN, (void *)port_out, io, 1, 0, UC_X86_INS_OUT);
}

static bool interrupts_enabled(uc_engine *uc)
{
    uint64_t eflags = 0;
    if (uc_reg_read(uc, UC_X86_REG_EFLAGS, &eflags)) return false;
    return eflags & 0x200;
}

static uc_err set_entry(uc_engine *uc, uint64_t pc)
{
    uint64_t eflags = 0x2;
    uc_err e = uc_reg_write(uc, UC_X86_REG_EFLAGS, &eflags);
    return e ? e : uc_reg_write(uc, UC_X86_REG_EIP, &pc);
}

#define CPUID_1_EDX_APIC (1u << 9)

static void hide_local_apic(void *opaque, uint32_t leaf, uint32_t subleaf, uint32_t r[4])
{
    (void)opaque;
    (void)subleaf;
    if (leaf == 1) r[3] &= ~CPUID_1_EDX_APIC;
}

/* ---- hooks and system calls ------------------------------------------ */

#define CR0_PE 0x1u
#define EFLAGS_VM 0x20000u

static int privilege(uc_engine *uc)
{
    uint64_t cr0 = 0, eflags = 0, cs = 0;
    if (uc_reg_read(uc, UC_X86_REG_CR0, &cr0) || uc_reg_read(uc, UC_X86_REG_EFLAGS, &eflags) ||
        uc_reg_read(uc, UC_X86_REG_CS, &cs))
        return -1;
    if (!(cr0 & CR0_PE)) return 0;        /* real mode */
    if (eflags & EFLAGS_VM) return 3;     /* virtual-8086 mode */
    return (int)(cs & 3);
}

static uint64_t asid(uc_engine *uc)
{
    uint64_t cr3 = 0;
    if (uc_reg_read(uc, UC_X86_REG_CR3, &cr3)) return 0;
    return cr3;
}

static int syscall_kind(const uint8_t *code, unsigned have, uint64_t pc, uint64_t *return_pc)
{
    if (have < 2) return -1;
    if (code[0] == 0xCD && code[1] == 0x80) {            /* int $0x80 */
        *return_pc = pc + 2;
        return 0;
    }
    if (code[0] == 0x0F && code[1] == 0x34) {            /* sysenter */
        /* Linux's vDSO: sysenter; int $0x80; landing pad (the kernel's
         * sysexit or iret returns there, a restart goes through the int) */
        bool vdso = have >= 4 && code[2] == 0xCD && code[3] == 0x80;
        *return_pc = pc + (vdso ? 4 : 2);
        return 1;
    }
    return -1;                                            /* no `syscall` on i386 */
}

static bool syscall_return_site(const uint8_t before[2])
{
    return before[0] == 0xCD && before[1] == 0x80;
}

static uc_err syscall_entry(uc_engine *uc, uint32_t kind, panda_syscall *call, int *mem_arg,
                            uint64_t *mem_addr)
{
    static const int ids[] = {UC_X86_REG_EAX, UC_X86_REG_ESP, UC_X86_REG_EBX, UC_X86_REG_ECX,
                              UC_X86_REG_EDX, UC_X86_REG_ESI, UC_X86_REG_EDI, UC_X86_REG_EBP};
    uint64_t v[8] = {0};
    for (int i = 0; i < 8; i++) {
        uc_err e = uc_reg_read(uc, ids[i], &v[i]);
        if (e) return e;
    }
    call->number = (int32_t)(uint32_t)v[0];
    call->sp = (uint32_t)v[1];
    for (int i = 0; i < 6; i++) call->args[i] = (uint32_t)v[2 + i];
    *mem_arg = -1;
    if (kind == 1) {
        /* sysenter: EBP holds the user stack pointer (the vDSO did mov
         * ebp,esp), and the sixth argument is the EBP it pushed there */
        *mem_arg = 5;
        *mem_addr = (uint32_t)v[7];
    }
    return UC_ERR_OK;
}

static uc_err syscall_return(uc_engine *uc, uint64_t *sp, int64_t *retval)
{
    uint64_t esp = 0, eax = 0;
    uc_err e = uc_reg_read(uc, UC_X86_REG_ESP, &esp);
    if (!e) e = uc_reg_read(uc, UC_X86_REG_EAX, &eax);
    if (e) return e;
    *sp = (uint32_t)esp;
    *retval = (int32_t)(uint32_t)eax;
    return UC_ERR_OK;
}

/* exit, exit_group */
static const int32_t syscall_noreturn[] = {1, 252};

/* ---- the monitor's "info mem" ------------------------------------------ */

#define PG_PRESENT 0x1u
#define PG_RW 0x2u
#define PG_USER 0x4u
#define PG_PSE 0x80u
#define CR0_PG 0x80000000u
#define CR4_PSE 0x10u
#define CR4_PAE 0x20u

typedef struct mem_run {
    void (*emit)(void *ctx, const char *line);
    void *ctx;
    uint64_t start, end;   /* the open run [start, end) */
    uint32_t prot;         /* 0: none open */
} mem_run;

static void run_flush(mem_run *r)
{
    if (!r->prot) return;
    char line[96];
    snprintf(line, sizeof line, "%08llx-%08llx %08llx %c%c%c\n", (unsigned long long)r->start,
             (unsigned long long)r->end, (unsigned long long)(r->end - r->start),
             r->prot & PG_USER ? 'u' : '-', 'r', r->prot & PG_RW ? 'w' : '-');
    r->emit(r->ctx, line);
    r->prot = 0;
}

/* One mapped (prot != 0) or unmapped range, in address order. */
static void run_add(mem_run *r, uint64_t va, uint64_t size, uint32_t prot)
{
    if (r->prot && (prot != r->prot || va != r->end)) run_flush(r);
    if (!prot) return;
    if (!r->prot) { r->start = va; r->prot = prot; }
    r->end = va + size;
}

static bool read_entry(uc_engine *uc, uint64_t pa, bool wide, uint64_t *e)
{
    uint64_t v = 0;
    if (uc_mem_read(uc, pa, &v, wide ? 8 : 4)) return false;
    *e = wide ? v : (v & 0xFFFFFFFFu);
    return true;
}

/* QEMU's rule: a range's permissions are the AND of its levels' U and W
 * bits, present at every level. */
static bool info_mem(uc_engine *uc, void (*emit)(void *ctx, const char *line), void *ctx)
{
    uint64_t cr0 = 0, cr3 = 0, cr4 = 0;
    if (uc_reg_read(uc, UC_X86_REG_CR0, &cr0) || uc_reg_read(uc, UC_X86_REG_CR3, &cr3) ||
        uc_reg_read(uc, UC_X86_REG_CR4, &cr4) || !(cr0 & CR0_PG))
        return false;
    mem_run r = {.emit = emit, .ctx = ctx};
    const uint32_t keep = PG_PRESENT | PG_RW | PG_USER;
    if (cr4 & CR4_PAE) {
        const uint64_t addr_mask = 0x000FFFFFFFFFF000ull;
        for (unsigned i = 0; i < 4; i++) {
            uint64_t pdpte;
            uint64_t base_i = (uint64_t)i << 30;
            if (!read_entry(uc, (cr3 & ~0x1Full) + i * 8, true, &pdpte) || !(pdpte & PG_PRESENT)) {
                run_add(&r, base_i, 1ull << 30, 0);
                continue;
            }
            for (unsigned j = 0; j < 512; j++) {
                uint64_t pde, base_j = base_i | ((uint64_t)j << 21);
                if (!read_entry(uc, (pdpte & addr_mask) + j * 8, true, &pde) || !(pde & PG_PRESENT)) {
                    run_add(&r, base_j, 1ull << 21, 0);
                    continue;
                }
                if (pde & PG_PSE) {
                    run_add(&r, base_j, 1ull << 21, (uint32_t)pde & keep);
                    continue;
                }
                for (unsigned k = 0; k < 512; k++) {
                    uint64_t pte = 0;
                    bool ok = read_entry(uc, (pde & addr_mask) + k * 8, true, &pte) && (pte & PG_PRESENT);
                    run_add(&r, base_j | ((uint64_t)k << 12), 4096, ok ? ((uint32_t)pte & (uint32_t)pde & keep) : 0);
                }
            }
        }
    } else {
        for (unsigned i = 0; i < 1024; i++) {
            uint64_t pde, base_i = (uint64_t)i << 22;
            if (!read_entry(uc, (cr3 & ~0xFFFull) + i * 4, false, &pde) || !(pde & PG_PRESENT)) {
                run_add(&r, base_i, 1ull << 22, 0);
                continue;
            }
            if ((pde & PG_PSE) && (cr4 & CR4_PSE)) {
                run_add(&r, base_i, 1ull << 22, (uint32_t)pde & keep);
                continue;
            }
            for (unsigned k = 0; k < 1024; k++) {
                uint64_t pte = 0;
                bool ok = read_entry(uc, (pde & ~0xFFFull) + k * 4, false, &pte) && (pte & PG_PRESENT);
                run_add(&r, base_i | ((uint64_t)k << 12), 4096, ok ? ((uint32_t)pte & (uint32_t)pde & keep) : 0);
            }
        }
    }
    run_flush(&r);
    return true;
}

const panda_arch_desc panda_arch = {
    .name = "i386",
    .bits = 32,
    .big_endian = false,
    .uc_arch = UC_ARCH_X86,
    .uc_mode = UC_MODE_32,
    .pc_reg = UC_X86_REG_EIP,
    .default_machine = "pc",
    .hypercall = "cpuid",
    .cpu_models = cpu_models,
    .ncpu_models = sizeof(cpu_models) / sizeof(cpu_models[0]),
    .regs = regs,
    .nregs = sizeof(regs) / sizeof(regs[0]),
    .install_hypercall = install_hypercall,
    .install_port_io = install_port_io,
    .interrupts_enabled = interrupts_enabled,
    .set_entry = set_entry,
    .hide_local_apic = hide_local_apic,
    .privilege = privilege,
    .asid = asid,
    .asid_mask = ~(uint64_t)0x1FFF,
    .syscall_kind = syscall_kind,
    .syscall_return_site = syscall_return_site,
    .syscall_entry = syscall_entry,
    .syscall_return = syscall_return,
    .syscall_noreturn = syscall_noreturn,
    .nsyscall_noreturn = sizeof(syscall_noreturn) / sizeof(syscall_noreturn[0]),
    .info_mem = info_mem,
};
