/*
 * pypanda public ABI: callback types.
 *
 * The numbering and the signatures are PANDA's (cb-defs.h), so a PANDA
 * plugin's callbacks have the same meaning here.  Which ones fire depends
 * on the machine: panda_cb_fires() says, and the table in
 * README ("Callbacks") explains when each does.
 */
#ifndef PANDA_CALLBACKS_H
#define PANDA_CALLBACKS_H

#include "panda/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every callback type, once, in number order:
 *   X(number, ENUMERATOR, name, return type, (parameters))
 * panda_cb_type (PANDA_CB_<ENUMERATOR> = number), the panda_cb union (one
 * member <name> per type), libpanda's name table and pypanda's Python table
 * (scripts/gen_abi.py -> pypanda/_abi.py) are all made from this list.
 * Numbers are ABI: append new types at the end.  Memory callbacks fire only
 * after panda_enable_memcb().
 */
#define PANDA_CALLBACKS(X) \
    X(0, BEFORE_BLOCK_TRANSLATE, before_block_translate, void, (CPUState *env, target_ptr_t pc)) \
    X(1, AFTER_BLOCK_TRANSLATE, after_block_translate, void, (CPUState *env, TranslationBlock *tb)) \
    /* true: throw the block away and translate it again before it runs */ \
    X(2, BEFORE_BLOCK_EXEC_INVALIDATE_OPT, before_block_exec_invalidate_opt, bool, (CPUState *env, TranslationBlock *tb)) \
    /* not supported: registering fails with PANDA_ERR_UNSUPPORTED (no TCG ops to edit) */ \
    X(3, BEFORE_TCG_CODEGEN, before_tcg_codegen, void, (CPUState *env, TranslationBlock *tb)) \
    X(4, BEFORE_BLOCK_EXEC, before_block_exec, void, (CPUState *env, TranslationBlock *tb)) \
    /* exitCode > 1 (TB_EXIT_IDX1): the block stopped before it ran */ \
    X(5, AFTER_BLOCK_EXEC, after_block_exec, void, (CPUState *env, TranslationBlock *tb, uint8_t exitCode)) \
    /* true: call insn_exec before every execution of the instruction at pc */ \
    X(6, INSN_TRANSLATE, insn_translate, bool, (CPUState *env, target_ptr_t pc)) \
    X(7, INSN_EXEC, insn_exec, int, (CPUState *env, target_ptr_t pc)) \
    /* true: call after_insn_exec after every execution of the instruction */ \
    X(8, AFTER_INSN_TRANSLATE, after_insn_translate, bool, (CPUState *env, target_ptr_t pc)) \
    X(9, AFTER_INSN_EXEC, after_insn_exec, int, (CPUState *env, target_ptr_t pc)) \
    X(10, VIRT_MEM_BEFORE_READ, virt_mem_before_read, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size)) \
    X(11, VIRT_MEM_BEFORE_WRITE, virt_mem_before_write, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf)) \
    X(12, PHYS_MEM_BEFORE_READ, phys_mem_before_read, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size)) \
    X(13, PHYS_MEM_BEFORE_WRITE, phys_mem_before_write, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf)) \
    X(14, VIRT_MEM_AFTER_READ, virt_mem_after_read, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf)) \
    X(15, VIRT_MEM_AFTER_WRITE, virt_mem_after_write, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf)) \
    X(16, PHYS_MEM_AFTER_READ, phys_mem_after_read, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf)) \
    X(17, PHYS_MEM_AFTER_WRITE, phys_mem_after_write, void, (CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf)) \
    /* pc: a device access on the MMIO bus (not RAM); *val may be changed; vaddr is 0 (unknown) */ \
    X(18, MMIO_AFTER_READ, mmio_after_read, void, (CPUState *env, target_ptr_t physaddr, target_ptr_t vaddr, size_t size, uint64_t *val)) \
    X(19, MMIO_BEFORE_WRITE, mmio_before_write, void, (CPUState *env, target_ptr_t physaddr, target_ptr_t vaddr, size_t size, uint64_t *val)) \
    X(20, HD_READ, hd_read, void, (CPUState *env)) \
    X(21, HD_WRITE, hd_write, void, (CPUState *env)) \
    /* x86: CPUID.  true: handled, the instruction is skipped */ \
    X(22, GUEST_HYPERCALL, guest_hypercall, bool, (CPUState *env)) \
    X(23, MONITOR, monitor, int, (Monitor *mon, const char *cmd)) \
    /* not supported: registering fails with PANDA_ERR_UNSUPPORTED (no QMP server) */ \
    X(24, QMP, qmp, bool, (char *command, char *args, char **result)) \
    X(25, CPU_RESTORE_STATE, cpu_restore_state, void, (CPUState *env, TranslationBlock *tb)) \
    X(26, BEFORE_LOADVM, before_loadvm, int, (void)) \
    /* x86: CR3 is about to change; true keeps the old value */ \
    X(27, ASID_CHANGED, asid_changed, bool, (CPUState *env, target_ptr_t oldval, target_ptr_t newval)) \
    X(28, REPLAY_HD_TRANSFER, replay_hd_transfer, void, (CPUState *env, uint32_t type, target_ptr_t src_addr, target_ptr_t dest_addr, size_t num_bytes)) \
    X(29, REPLAY_NET_TRANSFER, replay_net_transfer, void, (CPUState *env, uint32_t type, uint64_t src_addr, uint64_t dest_addr, size_t num_bytes)) \
    X(30, REPLAY_SERIAL_RECEIVE, replay_serial_receive, void, (CPUState *env, target_ptr_t fifo_addr, uint8_t value)) \
    X(31, REPLAY_SERIAL_READ, replay_serial_read, void, (CPUState *env, target_ptr_t fifo_addr, uint32_t port_addr, uint8_t value)) \
    X(32, REPLAY_SERIAL_SEND, replay_serial_send, void, (CPUState *env, target_ptr_t fifo_addr, uint8_t value)) \
    X(33, REPLAY_SERIAL_WRITE, replay_serial_write, void, (CPUState *env, target_ptr_t fifo_addr, uint32_t port_addr, uint8_t value)) \
    X(34, REPLAY_BEFORE_DMA, replay_before_dma, void, (CPUState *env, const uint8_t *buf, hwaddr addr, size_t size, bool is_write)) \
    X(35, REPLAY_AFTER_DMA, replay_after_dma, void, (CPUState *env, const uint8_t *buf, hwaddr addr, size_t size, bool is_write)) \
    X(36, REPLAY_HANDLE_PACKET, replay_handle_packet, void, (CPUState *env, uint8_t *buf, size_t size, uint8_t direction, uint64_t buf_addr_rec)) \
    /* around the engine's cpu_exec (several per run slice); ranBlock: a block was entered */ \
    X(37, AFTER_CPU_EXEC_ENTER, after_cpu_exec_enter, void, (CPUState *env)) \
    X(38, BEFORE_CPU_EXEC_EXIT, before_cpu_exec_exit, void, (CPUState *env, bool ranBlock)) \
    X(39, AFTER_MACHINE_INIT, after_machine_init, void, (CPUState *env)) \
    X(40, AFTER_LOADVM, after_loadvm, void, (CPUState *env)) \
    X(41, TOP_LOOP, top_loop, void, (CPUState *env)) \
    /* at the first run, just before after_machine_init (the machine is built in panda_create) */ \
    X(42, DURING_MACHINE_INIT, during_machine_init, void, (MachineState *machine)) \
    /* between run slices, before top_loop */ \
    X(43, MAIN_LOOP_WAIT, main_loop_wait, void, (void)) \
    /* once: the guest stops for good, else panda_pre_shutdown or panda_destroy */ \
    X(44, PRE_SHUTDOWN, pre_shutdown, void, (void)) \
    /* pc: a port or MMIO access nothing answers (addr: port or physical address); true: *val supplied (read), the write taken */ \
    X(45, UNASSIGNED_IO_READ, unassigned_io_read, bool, (CPUState *env, target_ptr_t pc, hwaddr addr, size_t size, uint64_t *val)) \
    X(46, UNASSIGNED_IO_WRITE, unassigned_io_write, bool, (CPUState *env, target_ptr_t pc, hwaddr addr, size_t size, uint64_t val)) \
    /* before a guest exception (#PF 14, #UD 6, int n as n) is handled: the first different return replaces it; -1 drops it (move the PC) */ \
    X(47, BEFORE_HANDLE_EXCEPTION, before_handle_exception, int32_t, (CPUState *cpu, int32_t exception_index)) \
    /* before interrupt requests (CPU_INTERRUPT_HARD 0x2, ...) are serviced: the first different return replaces them; 0 or -1: not now */ \
    X(48, BEFORE_HANDLE_INTERRUPT, before_handle_interrupt, int32_t, (CPUState *cpu, int32_t interrupt_request)) \
    /* inside the block, before its first instruction (a block that leaves at its entry check is not reported; chained blocks are) */ \
    X(49, START_BLOCK_EXEC, start_block_exec, void, (CPUState *cpu, TranslationBlock *tb)) \
    /* after the block's last instruction executed (not after a fault or an early exit); turns block chaining off */ \
    X(50, END_BLOCK_EXEC, end_block_exec, void, (CPUState *cpu, TranslationBlock *tb))

#define PANDA_CB_ENUMERATOR(number, ENUMERATOR, name, ret, params) PANDA_CB_##ENUMERATOR = number,
typedef enum panda_cb_type {
    PANDA_CALLBACKS(PANDA_CB_ENUMERATOR)
    PANDA_CB_LAST
} panda_cb_type;
#undef PANDA_CB_ENUMERATOR

/* One function pointer per callback type; register the member that
 * matches the type. */
#define PANDA_CB_MEMBER(number, ENUMERATOR, name, ret, params) ret (*name) params;
typedef union panda_cb {
    PANDA_CALLBACKS(PANDA_CB_MEMBER)
    void (*cbaddr)(void);   /* any member, as a plain address */
} panda_cb;
#undef PANDA_CB_MEMBER

#ifdef __cplusplus
}
#endif

#endif
