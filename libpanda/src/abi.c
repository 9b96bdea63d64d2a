/* The library's identity and the names of its codes: the ABI's tables. */
#include <stddef.h>

#include "internal.h"

static const char *const error_names[PANDA_ERR_COUNT] = {
    [PANDA_OK] = "success",
    [PANDA_ERR_ARG] = "invalid argument",
    [PANDA_ERR_NOMEM] = "out of memory",
    [PANDA_ERR_OPTION] = "invalid option",
    [PANDA_ERR_ARCH] = "wrong guest architecture",
    [PANDA_ERR_UNSUPPORTED] = "not supported by this build",
    [PANDA_ERR_STATE] = "not allowed in the current state",
    [PANDA_ERR_UNMAPPED] = "guest memory not mapped",
    [PANDA_ERR_MAP] = "invalid memory mapping",
    [PANDA_ERR_REGISTER] = "unknown register",
    [PANDA_ERR_CALLBACK] = "invalid callback",
    [PANDA_ERR_GUEST_INSN] = "guest executed an invalid instruction",
    [PANDA_ERR_GUEST_MEMORY] = "guest accessed unmapped or protected memory",
    [PANDA_ERR_GUEST_EXCEPTION] = "unhandled guest CPU exception",
    [PANDA_ERR_ENGINE] = "CPU engine error",
    [PANDA_ERR_SNAPSHOT] = "bad snapshot",
    [PANDA_ERR_RECORDING] = "bad recording",
    [PANDA_ERR_DIVERGED] = "replay diverged",
    [PANDA_ERR_IO] = "file error",
};

PANDA_EXPORT void panda_version(uint32_t *major, uint32_t *minor)
{
    if (major) *major = PANDA_API_MAJOR;
    if (minor) *minor = PANDA_API_MINOR;
}


PANDA_EXPORT const char *panda_strerror(panda_err err)
{
    if ((unsigned)err >= PANDA_ERR_COUNT) return "unknown error code";
    return error_names[err];
}

static const char *const cb_names[PANDA_CB_LAST] = {
#define N(id, name) [PANDA_CB_##id] = name
    N(BEFORE_BLOCK_TRANSLATE, "before_block_translate"),
    N(AFTER_BLOCK_TRANSLATE, "after_block_translate"),
    N(BEFORE_BLOCK_EXEC_INVALIDATE_OPT, "before_block_exec_invalidate_opt"),
    N(BEFORE_TCG_CODEGEN, "before_tcg_codegen"),
    N(BEFORE_BLOCK_EXEC, "before_block_exec"),
    N(AFTER_BLOCK_EXEC, "after_block_exec"),
    N(INSN_TRANSLATE, "insn_translate"),
    N(INSN_EXEC, "insn_exec"),
    N(AFTER_INSN_TRANSLATE, "after_insn_translate"),
    N(AFTER_INSN_EXEC, "after_insn_exec"),
    N(VIRT_MEM_BEFORE_READ, "virt_mem_before_read"),
    N(VIRT_MEM_BEFORE_WRITE, "virt_mem_before_write"),
    N(PHYS_MEM_BEFORE_READ, "phys_mem_before_read"),
    N(PHYS_MEM_BEFORE_WRITE, "phys_mem_before_write"),
    N(VIRT_MEM_AFTER_READ, "virt_mem_after_read"),
    N(VIRT_MEM_AFTER_WRITE, "virt_mem_after_write"),
    N(PHYS_MEM_AFTER_READ, "phys_mem_after_read"),
    N(PHYS_MEM_AFTER_WRITE, "phys_mem_after_write"),
    N(MMIO_AFTER_READ, "mmio_after_read"),
    N(MMIO_BEFORE_WRITE, "mmio_before_write"),
    N(HD_READ, "hd_read"),
    N(HD_WRITE, "hd_write"),
    N(GUEST_HYPERCALL, "guest_hypercall"),
    N(MONITOR, "monitor"),
    N(QMP, "qmp"),
    N(CPU_RESTORE_STATE, "cpu_restore_state"),
    N(BEFORE_LOADVM, "before_loadvm"),
    N(ASID_CHANGED, "asid_changed"),
    N(REPLAY_HD_TRANSFER, "replay_hd_transfer"),
    N(REPLAY_NET_TRANSFER, "replay_net_transfer"),
    N(REPLAY_SERIAL_RECEIVE, "replay_serial_receive"),
    N(REPLAY_SERIAL_READ, "replay_serial_read"),
    N(REPLAY_SERIAL_SEND, "replay_serial_send"),
    N(REPLAY_SERIAL_WRITE, "replay_serial_write"),
    N(REPLAY_BEFORE_DMA, "replay_before_dma"),
    N(REPLAY_AFTER_DMA, "replay_after_dma"),
    N(REPLAY_HANDLE_PACKET, "replay_handle_packet"),
    N(AFTER_CPU_EXEC_ENTER, "after_cpu_exec_enter"),
    N(BEFORE_CPU_EXEC_EXIT, "before_cpu_exec_exit"),
    N(AFTER_MACHINE_INIT, "after_machine_init"),
    N(AFTER_LOADVM, "after_loadvm"),
    N(TOP_LOOP, "top_loop"),
    N(DURING_MACHINE_INIT, "during_machine_init"),
    N(MAIN_LOOP_WAIT, "main_loop_wait"),
    N(PRE_SHUTDOWN, "pre_shutdown"),
    N(UNASSIGNED_IO_READ, "unassigned_io_read"),
    N(UNASSIGNED_IO_WRITE, "unassigned_io_write"),
    N(BEFORE_HANDLE_EXCEPTION, "before_handle_exception"),
    N(BEFORE_HANDLE_INTERRUPT, "before_handle_interrupt"),
    N(START_BLOCK_EXEC, "start_block_exec"),
    N(END_BLOCK_EXEC, "end_block_exec"),
#undef N
};

PANDA_EXPORT const char *panda_cb_name(panda_cb_type type)
{
    return (unsigned)type < PANDA_CB_LAST ? cb_names[type] : NULL;
}

