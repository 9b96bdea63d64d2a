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

typedef enum panda_cb_type {
    PANDA_CB_BEFORE_BLOCK_TRANSLATE = 0,
    PANDA_CB_AFTER_BLOCK_TRANSLATE,
    PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT,
    PANDA_CB_BEFORE_TCG_CODEGEN,
    PANDA_CB_BEFORE_BLOCK_EXEC,
    PANDA_CB_AFTER_BLOCK_EXEC,
    PANDA_CB_INSN_TRANSLATE,
    PANDA_CB_INSN_EXEC,
    PANDA_CB_AFTER_INSN_TRANSLATE,
    PANDA_CB_AFTER_INSN_EXEC,
    PANDA_CB_VIRT_MEM_BEFORE_READ,    /* 10 */
    PANDA_CB_VIRT_MEM_BEFORE_WRITE,
    PANDA_CB_PHYS_MEM_BEFORE_READ,
    PANDA_CB_PHYS_MEM_BEFORE_WRITE,
    PANDA_CB_VIRT_MEM_AFTER_READ,
    PANDA_CB_VIRT_MEM_AFTER_WRITE,
    PANDA_CB_PHYS_MEM_AFTER_READ,
    PANDA_CB_PHYS_MEM_AFTER_WRITE,
    PANDA_CB_MMIO_AFTER_READ,
    PANDA_CB_MMIO_BEFORE_WRITE,
    PANDA_CB_HD_READ,                 /* 20 */
    PANDA_CB_HD_WRITE,
    PANDA_CB_GUEST_HYPERCALL,
    PANDA_CB_MONITOR,
    PANDA_CB_QMP,
    PANDA_CB_CPU_RESTORE_STATE,
    PANDA_CB_BEFORE_LOADVM,
    PANDA_CB_ASID_CHANGED,
    PANDA_CB_REPLAY_HD_TRANSFER,
    PANDA_CB_REPLAY_NET_TRANSFER,
    PANDA_CB_REPLAY_SERIAL_RECEIVE,   /* 30 */
    PANDA_CB_REPLAY_SERIAL_READ,
    PANDA_CB_REPLAY_SERIAL_SEND,
    PANDA_CB_REPLAY_SERIAL_WRITE,
    PANDA_CB_REPLAY_BEFORE_DMA,
    PANDA_CB_REPLAY_AFTER_DMA,
    PANDA_CB_REPLAY_HANDLE_PACKET,
    PANDA_CB_AFTER_CPU_EXEC_ENTER,
    PANDA_CB_BEFORE_CPU_EXEC_EXIT,
    PANDA_CB_AFTER_MACHINE_INIT,
    PANDA_CB_AFTER_LOADVM,            /* 40 */
    PANDA_CB_TOP_LOOP,
    PANDA_CB_DURING_MACHINE_INIT,
    PANDA_CB_MAIN_LOOP_WAIT,
    PANDA_CB_PRE_SHUTDOWN,
    PANDA_CB_UNASSIGNED_IO_READ,
    PANDA_CB_UNASSIGNED_IO_WRITE,
    PANDA_CB_BEFORE_HANDLE_EXCEPTION,
    PANDA_CB_BEFORE_HANDLE_INTERRUPT,
    PANDA_CB_START_BLOCK_EXEC,
    PANDA_CB_END_BLOCK_EXEC,          /* 50 */
    PANDA_CB_LAST
} panda_cb_type;

/*
 * One function pointer per callback type; register the member that
 * matches the type.  Memory callbacks fire only after panda_enable_memcb().
 */
typedef union panda_cb {
    void (*before_block_translate)(CPUState *env, target_ptr_t pc);
    void (*after_block_translate)(CPUState *env, TranslationBlock *tb);
    /* true: throw the block away and translate it again before it runs */
    bool (*before_block_exec_invalidate_opt)(CPUState *env, TranslationBlock *tb);
    void (*before_tcg_codegen)(CPUState *env, TranslationBlock *tb);
    void (*before_block_exec)(CPUState *env, TranslationBlock *tb);
    /* exitCode > 1 (TB_EXIT_IDX1): the block stopped before it ran */
    void (*after_block_exec)(CPUState *env, TranslationBlock *tb, uint8_t exitCode);
    /* true: call insn_exec before every execution of the instruction at pc */
    bool (*insn_translate)(CPUState *env, target_ptr_t pc);
    int (*insn_exec)(CPUState *env, target_ptr_t pc);
    /* true: call after_insn_exec after every execution of the instruction */
    bool (*after_insn_translate)(CPUState *env, target_ptr_t pc);
    int (*after_insn_exec)(CPUState *env, target_ptr_t pc);
    void (*virt_mem_before_read)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size);
    void (*virt_mem_before_write)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf);
    void (*phys_mem_before_read)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size);
    void (*phys_mem_before_write)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf);
    void (*virt_mem_after_read)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf);
    void (*virt_mem_after_write)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf);
    void (*phys_mem_after_read)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf);
    void (*phys_mem_after_write)(CPUState *env, target_ptr_t pc, target_ptr_t addr, size_t size, void *buf);
    void (*mmio_after_read)(CPUState *env, target_ptr_t physaddr, target_ptr_t vaddr, size_t size, uint64_t *val);
    void (*mmio_before_write)(CPUState *env, target_ptr_t physaddr, target_ptr_t vaddr, size_t size, uint64_t *val);
    void (*hd_read)(CPUState *env);
    void (*hd_write)(CPUState *env);
    /* x86: CPUID.  true: handled, the instruction is skipped */
    bool (*guest_hypercall)(CPUState *env);
    int (*monitor)(Monitor *mon, const char *cmd);
    bool (*qmp)(char *command, char *args, char **result);
    void (*cpu_restore_state)(CPUState *env, TranslationBlock *tb);
    int (*before_loadvm)(void);
    /* x86: CR3 is about to change; true keeps the old value */
    bool (*asid_changed)(CPUState *env, target_ptr_t oldval, target_ptr_t newval);
    void (*replay_hd_transfer)(CPUState *env, uint32_t type, target_ptr_t src_addr, target_ptr_t dest_addr, size_t num_bytes);
    void (*replay_net_transfer)(CPUState *env, uint32_t type, uint64_t src_addr, uint64_t dest_addr, size_t num_bytes);
    void (*replay_serial_receive)(CPUState *env, target_ptr_t fifo_addr, uint8_t value);
    void (*replay_serial_read)(CPUState *env, target_ptr_t fifo_addr, uint32_t port_addr, uint8_t value);
    void (*replay_serial_send)(CPUState *env, target_ptr_t fifo_addr, uint8_t value);
    void (*replay_serial_write)(CPUState *env, target_ptr_t fifo_addr, uint32_t port_addr, uint8_t value);
    void (*replay_before_dma)(CPUState *env, const uint8_t *buf, hwaddr addr, size_t size, bool is_write);
    void (*replay_after_dma)(CPUState *env, const uint8_t *buf, hwaddr addr, size_t size, bool is_write);
    void (*replay_handle_packet)(CPUState *env, uint8_t *buf, size_t size, uint8_t direction, uint64_t buf_addr_rec);
    void (*after_cpu_exec_enter)(CPUState *env);
    void (*before_cpu_exec_exit)(CPUState *env, bool ranBlock);
    void (*after_machine_init)(CPUState *env);
    void (*after_loadvm)(CPUState *env);
    void (*top_loop)(CPUState *env);
    void (*during_machine_init)(MachineState *machine);
    void (*main_loop_wait)(void);
    void (*pre_shutdown)(void);
    bool (*unassigned_io_read)(CPUState *env, target_ptr_t pc, hwaddr addr, size_t size, uint64_t *val);
    bool (*unassigned_io_write)(CPUState *env, target_ptr_t pc, hwaddr addr, size_t size, uint64_t val);
    int32_t (*before_handle_exception)(CPUState *cpu, int32_t exception_index);
    int32_t (*before_handle_interrupt)(CPUState *cpu, int32_t interrupt_request);
    void (*start_block_exec)(CPUState *cpu, TranslationBlock *tb);
    void (*end_block_exec)(CPUState *cpu, TranslationBlock *tb);
    void (*cbaddr)(void);
} panda_cb;

#ifdef __cplusplus
}
#endif

#endif
