/* The i386 guest: 32-bit x86 on the engine's x86 target. */
#include "internal.h"

#include <unicorn/x86.h>

const panda_arch_desc panda_arch = {
    .name = "i386",
    .uc_arch = UC_ARCH_X86,
    .uc_mode = UC_MODE_32,
    .pc_reg = UC_X86_REG_EIP,
    .default_machine = "pc",
};

/* The first eight are in QEMU's R_EAX..R_EDI order, as PANDA numbers them. */
const panda_reg_desc panda_regs[] = {
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
const int panda_nregs = sizeof(panda_regs) / sizeof(panda_regs[0]);
