/*
 * Callback registry and dispatch.
 *
 * Each callback type has a list of (plugin, function, enabled) entries.
 * The engine calls one dispatcher per hook point (unicorn/panda_hooks.h);
 * a dispatcher is installed only while its type has an enabled entry, so an
 * unused type costs nothing.  Entries are never moved while a run may be
 * dispatching: removal clears the slot, and a later registration reuses it.
 *
 * What callbacks change in the registry while the engine dispatches them
 * reaches the engine when the dispatcher returns, so that a net no-op (a
 * callback that disables and re-enables itself, or registers itself again
 * under its own name) changes nothing: every real change of what is
 * translated flushes the translated code and restarts the current block,
 * and a callback doing that on every call would never let its block run.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The types the CPU delivers on every machine; the machine says which
 * others fire (its devices, record/replay, the monitor). */
PANDA_EXPORT bool panda_cb_fires(panda_t *p, panda_cb_type type)
{
    switch (type) {
    case PANDA_CB_BEFORE_BLOCK_TRANSLATE: case PANDA_CB_AFTER_BLOCK_TRANSLATE:
    case PANDA_CB_BEFORE_BLOCK_EXEC_INVALIDATE_OPT: case PANDA_CB_BEFORE_BLOCK_EXEC:
    case PANDA_CB_AFTER_BLOCK_EXEC: case PANDA_CB_INSN_TRANSLATE: case PANDA_CB_INSN_EXEC:
    case PANDA_CB_AFTER_INSN_TRANSLATE: case PANDA_CB_AFTER_INSN_EXEC:
    case PANDA_CB_VIRT_MEM_BEFORE_READ: case PANDA_CB_VIRT_MEM_BEFORE_WRITE:
    case PANDA_CB_PHYS_MEM_BEFORE_READ: case PANDA_CB_PHYS_MEM_BEFORE_WRITE:
    case PANDA_CB_VIRT_MEM_AFTER_READ: case PANDA_CB_VIRT_MEM_AFTER_WRITE:
    case PANDA_CB_PHYS_MEM_AFTER_READ: case PANDA_CB_PHYS_MEM_AFTER_WRITE:
    case PANDA_CB_GUEST_HYPERCALL: case PANDA_CB_CPU_RESTORE_STATE:
    case PANDA_CB_ASID_CHANGED: case PANDA_CB_AFTER_MACHINE_INIT: case PANDA_CB_TOP_LOOP:
    case PANDA_CB_AFTER_CPU_EXEC_ENTER: case PANDA_CB_BEFORE_CPU_EXEC_EXIT:
    case PANDA_CB_DURING_MACHINE_INIT: case PANDA_CB_MAIN_LOOP_WAIT: case PANDA_CB_PRE_SHUTDOWN:
    case PANDA_CB_BEFORE_HANDLE_EXCEPTION: case PANDA_CB_BEFORE_HANDLE_INTERRUPT:
    case PANDA_CB_START_BLOCK_EXEC: case PANDA_CB_END_BLOCK_EXEC:
        return true;
    default:
        return p && (unsigned)type < PANDA_CB_LAST && p->mops->cb_fires &&
               p->mops->cb_fires(p->machine, type);
    }
}

#define HAS(p, t) ((p)->cbs[PANDA_CB_##t].live > 0)

/* Call every enabled entry of a type: FOR_EACH_CB(p, t, e) { e->cb... } */
#define FOR_EACH_CB(p, t, e)                                                 \
    for (cb_entry *e = (p)->cbs[PANDA_CB_##t].v,                             \
                  *e##_end = e + (p)->cbs[PANDA_CB_##t].n;                   \
         e < e##_end; e++)                                                   \
        if (e->enabled && e->cb.cbaddr)

/* ---- dispatchers the engine calls -------------------------------------- */

/* The engine thread's dispatch in progress (the registry may also change
 * from another thread, which applies its changes at once). */
static _Thread_local struct {
    panda_t *p;
    int depth;
    bool changed;   /* the registry changed: update the engine at the end */
} dispatch;

static panda_err update_engine_hooks(panda_t *p, bool safe_point);
static bool any_mem_cb(panda_t *p);

/* Callbacks that need every block to come back to the execution loop. */
static bool block_cbs(panda_t *p)
{
    return HAS(p, BEFORE_BLOCK_EXEC) || HAS(p, BEFORE_BLOCK_EXEC_INVALIDATE_OPT) ||
           HAS(p, AFTER_BLOCK_EXEC) || HAS(p, AFTER_INSN_TRANSLATE) || HAS(p, END_BLOCK_EXEC);
}

static inline void dispatch_begin(panda_t *p)
{
    if (dispatch.depth++ == 0) dispatch.p = p;
}

static inline void dispatch_end(panda_t *p)
{
    if (--dispatch.depth > 0) return;
    dispatch.p = NULL;
    if (dispatch.changed) {
        dispatch.changed = false;
        /* the message stays in p->err; the run ends rather than going on
         * with hooks that do not match the registry */
        if (update_engine_hooks(p, !p->running)) panda_stop(p);
    }
}

/* PANDA's before_block_exec_invalidate_opt: asked once per block
 * execution; the engine then runs the block translated again. */
static bool d_invalidate_tb(void *opaque, const uc_panda_tb *utb)
{
    panda_t *p = opaque;
    TranslationBlock *tb = (TranslationBlock *)utb;
    bool invalidate = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, BEFORE_BLOCK_EXEC_INVALIDATE_OPT, e)
        invalidate |= e->cb.before_block_exec_invalidate_opt(&p->cpu, tb);
    dispatch_end(p);
    return invalidate;
}

static void d_before_tb_exec(void *opaque, const uc_panda_tb *utb)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, BEFORE_BLOCK_EXEC, e)
        e->cb.before_block_exec(&p->cpu, (TranslationBlock *)utb);
    dispatch_end(p);
}

static void d_after_tb_exec(void *opaque, const uc_panda_tb *utb, int exit_code)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, AFTER_BLOCK_EXEC, e)
        e->cb.after_block_exec(&p->cpu, (TranslationBlock *)utb, (uint8_t)exit_code);
    dispatch_end(p);
}

static void d_before_translate(void *opaque, uint64_t pc)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, BEFORE_BLOCK_TRANSLATE, e)
        e->cb.before_block_translate(&p->cpu, pc);
    dispatch_end(p);
}

static void d_after_translate(void *opaque, const uc_panda_tb *utb)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, AFTER_BLOCK_TRANSLATE, e)
        e->cb.after_block_translate(&p->cpu, (TranslationBlock *)utb);
    dispatch_end(p);
}

static bool d_insn_translate(void *opaque, uint64_t pc)
{
    panda_t *p = opaque;
    bool want = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, INSN_TRANSLATE, e)
        want |= e->cb.insn_translate(&p->cpu, pc);
    dispatch_end(p);
    return want;
}

static bool d_after_insn_translate(void *opaque, uint64_t pc)
{
    panda_t *p = opaque;
    bool want = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, AFTER_INSN_TRANSLATE, e)
        want |= e->cb.after_insn_translate(&p->cpu, pc);
    dispatch_end(p);
    return want;
}

static void d_insn_exec(void *opaque, uint64_t pc)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, INSN_EXEC, e)
        e->cb.insn_exec(&p->cpu, pc);
    dispatch_end(p);
}

static void d_after_insn_exec(void *opaque, uint64_t pc)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, AFTER_INSN_EXEC, e)
        e->cb.after_insn_exec(&p->cpu, pc);
    dispatch_end(p);
}

static void d_cpu_restore_state(void *opaque, const uc_panda_tb *utb)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, CPU_RESTORE_STATE, e)
        e->cb.cpu_restore_state(&p->cpu, (TranslationBlock *)utb);
    dispatch_end(p);
}

static void d_mem_access(void *opaque, int kind, uint64_t pc, uint64_t vaddr,
                         uint64_t paddr, uint32_t size, uint64_t *value)
{
    panda_t *p = opaque;
    void *buf = value; /* little-endian host: the access's bytes */
    if (!p->memcb_enabled) return;   /* switched off, the hook not yet gone */
    dispatch_begin(p);
    switch (kind) {
    case UC_PANDA_MEM_BEFORE_READ:
        FOR_EACH_CB(p, VIRT_MEM_BEFORE_READ, e) e->cb.virt_mem_before_read(&p->cpu, pc, vaddr, size);
        FOR_EACH_CB(p, PHYS_MEM_BEFORE_READ, e) e->cb.phys_mem_before_read(&p->cpu, pc, paddr, size);
        break;
    case UC_PANDA_MEM_AFTER_READ:
        FOR_EACH_CB(p, VIRT_MEM_AFTER_READ, e) e->cb.virt_mem_after_read(&p->cpu, pc, vaddr, size, buf);
        FOR_EACH_CB(p, PHYS_MEM_AFTER_READ, e) e->cb.phys_mem_after_read(&p->cpu, pc, paddr, size, buf);
        break;
    case UC_PANDA_MEM_BEFORE_WRITE:
        FOR_EACH_CB(p, VIRT_MEM_BEFORE_WRITE, e) e->cb.virt_mem_before_write(&p->cpu, pc, vaddr, size, buf);
        FOR_EACH_CB(p, PHYS_MEM_BEFORE_WRITE, e) e->cb.phys_mem_before_write(&p->cpu, pc, paddr, size, buf);
        break;
    case UC_PANDA_MEM_AFTER_WRITE:
        FOR_EACH_CB(p, VIRT_MEM_AFTER_WRITE, e) e->cb.virt_mem_after_write(&p->cpu, pc, vaddr, size, buf);
        FOR_EACH_CB(p, PHYS_MEM_AFTER_WRITE, e) e->cb.phys_mem_after_write(&p->cpu, pc, paddr, size, buf);
        break;
    }
    dispatch_end(p);
}

static bool d_asid_changed(void *opaque, uint64_t old_asid, uint64_t new_asid)
{
    panda_t *p = opaque;
    bool block = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, ASID_CHANGED, e)
        block |= e->cb.asid_changed(&p->cpu, old_asid, new_asid);
    dispatch_end(p);
    return block;
}

void panda_dispatch_replay_serial(panda_t *p, panda_cb_type type, uint64_t fifo, uint32_t port, uint8_t byte)
{
    switch (type) {
    case PANDA_CB_REPLAY_SERIAL_RECEIVE:
        FOR_EACH_CB(p, REPLAY_SERIAL_RECEIVE, e) e->cb.replay_serial_receive(&p->cpu, fifo, byte);
        break;
    case PANDA_CB_REPLAY_SERIAL_READ:
        FOR_EACH_CB(p, REPLAY_SERIAL_READ, e) e->cb.replay_serial_read(&p->cpu, fifo, port, byte);
        break;
    case PANDA_CB_REPLAY_SERIAL_SEND:
        FOR_EACH_CB(p, REPLAY_SERIAL_SEND, e) e->cb.replay_serial_send(&p->cpu, fifo, byte);
        break;
    case PANDA_CB_REPLAY_SERIAL_WRITE:
        FOR_EACH_CB(p, REPLAY_SERIAL_WRITE, e) e->cb.replay_serial_write(&p->cpu, fifo, port, byte);
        break;
    default:
        break;
    }
}

void panda_dispatch_replay_dma(panda_t *p, bool before, const uint8_t *buf, uint64_t addr, size_t size,
                               bool is_write)
{
    if (before) {
        FOR_EACH_CB(p, REPLAY_BEFORE_DMA, e) e->cb.replay_before_dma(&p->cpu, buf, addr, size, is_write);
    } else {
        FOR_EACH_CB(p, REPLAY_AFTER_DMA, e) e->cb.replay_after_dma(&p->cpu, buf, addr, size, is_write);
    }
}

void panda_dispatch_hd(panda_t *p, bool write)
{
    if (write) {
        FOR_EACH_CB(p, HD_WRITE, e) e->cb.hd_write(&p->cpu);
    } else {
        FOR_EACH_CB(p, HD_READ, e) e->cb.hd_read(&p->cpu);
    }
}

void panda_dispatch_replay_hd_transfer(panda_t *p, uint32_t type, uint64_t src, uint64_t dest, size_t n)
{
    FOR_EACH_CB(p, REPLAY_HD_TRANSFER, e) e->cb.replay_hd_transfer(&p->cpu, type, src, dest, n);
}

void panda_dispatch_before_loadvm(panda_t *p)
{
    FOR_EACH_CB(p, BEFORE_LOADVM, e) e->cb.before_loadvm();
}

void panda_dispatch_after_loadvm(panda_t *p)
{
    FOR_EACH_CB(p, AFTER_LOADVM, e) e->cb.after_loadvm(&p->cpu);
}

/* Between slices: the engine runs nothing, so chaining held off during the
 * slice (update_engine_hooks) may come back. */
void panda_dispatch_top_loop(panda_t *p)
{
    FOR_EACH_CB(p, TOP_LOOP, e) e->cb.top_loop(&p->cpu);
    bool mem_hook_stale = p->cur_hooks.mem_access && !(p->memcb_enabled && any_mem_cb(p));
    if ((p->cur_chaining != (p->chaining_wanted && !block_cbs(p)) || mem_hook_stale) &&
        update_engine_hooks(p, true))
        panda_stop(p);
}

void panda_dispatch_after_machine_init(panda_t *p)
{
    FOR_EACH_CB(p, AFTER_MACHINE_INIT, e) e->cb.after_machine_init(&p->cpu);
}

bool panda_dispatch_guest_hypercall(panda_t *p)
{
    bool handled = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, GUEST_HYPERCALL, e) handled |= e->cb.guest_hypercall(&p->cpu);
    dispatch_end(p);
    return handled;
}

bool panda_dispatch_monitor(panda_t *p, Monitor *mon, const char *cmd)
{
    bool any = false;
    FOR_EACH_CB(p, MONITOR, e) {
        any = true;
        e->cb.monitor(mon, cmd);
    }
    return any;
}

/* ---- the CPU loop's other points (engine patches 0024-0026) ------------ */

/* PANDA's rule for before_handle_exception and before_handle_interrupt:
 * every enabled callback runs, and the first that returns a value other
 * than the one it was given wins. */
#define FIRST_CHANGE(p, T, member, given, out)                               \
    do {                                                                     \
        bool changed_ = false;                                               \
        (out) = (given);                                                     \
        FOR_EACH_CB(p, T, e) {                                               \
            int32_t answer_ = e->cb.member(&(p)->cpu, (given));              \
            if (!changed_ && answer_ != (given)) {                           \
                changed_ = true;                                             \
                (out) = answer_;                                             \
            }                                                                \
        }                                                                    \
    } while (0)

/* The returned index replaces the exception: a vector 0-255, or -1 (any
 * negative value) to drop it.  A value above 255 names no x86 vector (it
 * would be one of the loop's own exit codes): the exception is kept. */
static int32_t d_handle_exception(void *opaque, int32_t index)
{
    panda_t *p = opaque;
    int32_t result;
    dispatch_begin(p);
    FIRST_CHANGE(p, BEFORE_HANDLE_EXCEPTION, before_handle_exception, index, result);
    dispatch_end(p);
    if (result < 0) return -1;
    return result > 255 ? index : result;
}

static int32_t d_handle_interrupt(void *opaque, int32_t request)
{
    panda_t *p = opaque;
    int32_t result;
    dispatch_begin(p);
    FIRST_CHANGE(p, BEFORE_HANDLE_INTERRUPT, before_handle_interrupt, request, result);
    dispatch_end(p);
    return result;
}

static void d_cpu_exec_enter(void *opaque)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, AFTER_CPU_EXEC_ENTER, e) e->cb.after_cpu_exec_enter(&p->cpu);
    dispatch_end(p);
}

static void d_cpu_exec_exit(void *opaque, bool ran_block)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, BEFORE_CPU_EXEC_EXIT, e) e->cb.before_cpu_exec_exit(&p->cpu, ran_block);
    dispatch_end(p);
}

static void d_start_block_exec(void *opaque, const uc_panda_tb *utb)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, START_BLOCK_EXEC, e) e->cb.start_block_exec(&p->cpu, (TranslationBlock *)utb);
    dispatch_end(p);
}

static void d_end_block_exec(void *opaque, const uc_panda_tb *utb)
{
    panda_t *p = opaque;
    dispatch_begin(p);
    FOR_EACH_CB(p, END_BLOCK_EXEC, e) e->cb.end_block_exec(&p->cpu, (TranslationBlock *)utb);
    dispatch_end(p);
}

/* The engine hooks of the types above, while each has an enabled entry. */
static void loop_engine_hooks(panda_t *p, uc_panda_hooks *h)
{
    if (HAS(p, BEFORE_HANDLE_EXCEPTION)) h->handle_exception = d_handle_exception;
    if (HAS(p, BEFORE_HANDLE_INTERRUPT)) h->handle_interrupt = d_handle_interrupt;
    if (HAS(p, AFTER_CPU_EXEC_ENTER)) h->cpu_exec_enter = d_cpu_exec_enter;
    if (HAS(p, BEFORE_CPU_EXEC_EXIT)) h->cpu_exec_exit = d_cpu_exec_exit;
    if (HAS(p, START_BLOCK_EXEC)) h->start_block_exec = d_start_block_exec;
    if (HAS(p, END_BLOCK_EXEC)) h->end_block_exec = d_end_block_exec;
}

/* Raised by libpanda between slices, by the machine's buses, at the
 * machine's start and at the instance's end (callbacks_dispatch.h). */
void panda_dispatch_main_loop_wait(panda_t *p)
{
    FOR_EACH_CB(p, MAIN_LOOP_WAIT, e) e->cb.main_loop_wait();
}

void panda_dispatch_pre_shutdown(panda_t *p)
{
    if (p->pre_shutdown_done) return;
    p->pre_shutdown_done = true;
    FOR_EACH_CB(p, PRE_SHUTDOWN, e) e->cb.pre_shutdown();
}

void panda_dispatch_during_machine_init(panda_t *p)
{
    FOR_EACH_CB(p, DURING_MACHINE_INIT, e) e->cb.during_machine_init((MachineState *)p->machine);
}

/* PANDA's rule: true if any callback returned true; each may write *val,
 * the last write stands. */
bool panda_dispatch_unassigned_io_read(panda_t *p, uint64_t pc, uint64_t addr, size_t size, uint64_t *val)
{
    bool handled = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, UNASSIGNED_IO_READ, e) handled |= e->cb.unassigned_io_read(&p->cpu, pc, addr, size, val);
    dispatch_end(p);
    return handled;
}

bool panda_dispatch_unassigned_io_write(panda_t *p, uint64_t pc, uint64_t addr, size_t size, uint64_t val)
{
    bool handled = false;
    dispatch_begin(p);
    FOR_EACH_CB(p, UNASSIGNED_IO_WRITE, e) handled |= e->cb.unassigned_io_write(&p->cpu, pc, addr, size, val);
    dispatch_end(p);
    return handled;
}

bool panda_wants_cb(panda_t *p, panda_cb_type type)
{
    return (unsigned)type < PANDA_CB_LAST && p->cbs[type].live > 0;
}

void panda_dispatch_mmio(panda_t *p, bool write, uint64_t paddr, size_t size, uint64_t *val)
{
    dispatch_begin(p);
    if (write) {
        FOR_EACH_CB(p, MMIO_BEFORE_WRITE, e) e->cb.mmio_before_write(&p->cpu, paddr, 0, size, val);
    } else {
        FOR_EACH_CB(p, MMIO_AFTER_READ, e) e->cb.mmio_after_read(&p->cpu, paddr, 0, size, val);
    }
    dispatch_end(p);
}

/* ---- keeping the engine's hooks in step with the registry -------------- */

static bool any_mem_cb(panda_t *p)
{
    for (int t = PANDA_CB_VIRT_MEM_BEFORE_READ; t <= PANDA_CB_PHYS_MEM_AFTER_WRITE; t++)
        if (p->cbs[t].live) return true;
    return false;
}

panda_err panda_update_engine_hooks(panda_t *p)
{
    if (dispatch.depth > 0 && dispatch.p == p) {
        dispatch.changed = true; /* when the dispatcher returns */
        return PANDA_OK;
    }
    return update_engine_hooks(p, !p->running);
}

/* The engine asks once more, right before the CPU runs, whether a stop
 * came in since the run loop last looked (engine patch 0023). */
static bool stop_pending(void *opaque)
{
    panda_t *p = opaque;
    return atomic_load(&p->stop_requested) || atomic_load(&p->restart_requested);
}

/* Install the hooks the registry needs.  Turning chaining off drops every
 * link (a flush); turning it on needs no flush, but while the guest runs it
 * waits for a safe point (between slices, or the next run), so that
 * callbacks switched off and on again do not flush on every block. */
static panda_err update_engine_hooks(panda_t *p, bool safe_point)
{
    uc_panda_hooks h = {.opaque = p, .stop_pending = stop_pending};
    if (HAS(p, BEFORE_BLOCK_EXEC_INVALIDATE_OPT)) h.invalidate_tb = d_invalidate_tb;
    if (HAS(p, BEFORE_BLOCK_EXEC)) h.before_tb_exec = d_before_tb_exec;
    if (HAS(p, AFTER_BLOCK_EXEC)) h.after_tb_exec = d_after_tb_exec;
    if (HAS(p, BEFORE_BLOCK_TRANSLATE)) h.before_translate = d_before_translate;
    if (HAS(p, AFTER_BLOCK_TRANSLATE)) h.after_translate = d_after_translate;
    if (HAS(p, INSN_TRANSLATE)) h.insn_translate = d_insn_translate;
    if (HAS(p, AFTER_INSN_TRANSLATE)) h.after_insn_translate = d_after_insn_translate;
    if (HAS(p, INSN_EXEC)) h.insn_exec = d_insn_exec;
    if (HAS(p, AFTER_INSN_EXEC)) h.after_insn_exec = d_after_insn_exec;
    if (HAS(p, CPU_RESTORE_STATE)) h.cpu_restore_state = d_cpu_restore_state;
    if (HAS(p, ASID_CHANGED)) h.asid_changed = d_asid_changed;
    if (p->memcb_enabled && any_mem_cb(p)) h.mem_access = d_mem_access;
    /* The engine's store path looks the memory hook up before a store and
     * calls it again after: dropped while the guest runs, the second call
     * would find NULL.  It goes at the next safe point (the top loop); till
     * then d_mem_access finds nothing to call. */
    if (!h.mem_access && p->cur_hooks.mem_access && !safe_point) h.mem_access = d_mem_access;
    loop_engine_hooks(p, &h);
    if (p->mops && p->mops->engine_hooks) p->mops->engine_hooks(p->machine, &h);

    /* Translation depends on these: existing blocks must be retranslated. */
    bool retranslate = (h.insn_translate != NULL) != (p->cur_hooks.insn_translate != NULL) ||
                       (h.after_insn_translate != NULL) != (p->cur_hooks.after_insn_translate != NULL) ||
                       (h.mem_access != NULL) != (p->cur_hooks.mem_access != NULL) ||
                       (h.start_block_exec != NULL) != (p->cur_hooks.start_block_exec != NULL);
    bool chaining = p->chaining_wanted && !block_cbs(p);
    if (chaining && !p->cur_chaining && !safe_point) chaining = false; /* not yet */
    uc_err ue = UC_ERR_OK;
    if (chaining != p->cur_chaining) {
        if (!chaining) retranslate = true; /* drop the links made while it was on */
        if ((ue = uc_panda_set_chaining(p->uc, chaining)))
            return panda_set_error(p, PANDA_ERR_ENGINE, "engine: block chaining: %s", uc_strerror(ue));
        p->cur_chaining = chaining;
    }
    if ((ue = uc_panda_set_hooks(p->uc, &h)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "engine: installing hooks: %s", uc_strerror(ue));
    p->cur_hooks = h;
    if (retranslate) panda_flush_tb(p);
    return PANDA_OK;
}

PANDA_EXPORT void panda_enable_memcb(panda_t *p) { p->memcb_enabled = true; panda_update_engine_hooks(p); }
PANDA_EXPORT void panda_disable_memcb(panda_t *p) { p->memcb_enabled = false; panda_update_engine_hooks(p); }
PANDA_EXPORT void panda_enable_tb_chaining(panda_t *p) { p->chaining_wanted = true; panda_update_engine_hooks(p); }
PANDA_EXPORT void panda_disable_tb_chaining(panda_t *p) { p->chaining_wanted = false; panda_update_engine_hooks(p); }

/* Room for a few registrations per type from the start, so that callbacks
 * registered while the guest runs seldom need the array to move. */
#define INITIAL_SLOTS 8

panda_err panda_callbacks_init(panda_t *p)
{
    for (int t = 0; t < PANDA_CB_LAST; t++) {
        p->cbs[t].v = calloc(INITIAL_SLOTS, sizeof(cb_entry));
        if (!p->cbs[t].v) return err_nomem(&p->err, "the callback registry");
        p->cbs[t].cap = INITIAL_SLOTS;
    }
    p->cur_chaining = true;
    return panda_update_engine_hooks(p);
}

void panda_callbacks_free(panda_t *p)
{
    while (p->plugins) panda_unload_plugin(p->plugins);
    for (int t = 0; t < PANDA_CB_LAST; t++) free(p->cbs[t].v);
}

/* ---- plugins and registration ------------------------------------------ */

PANDA_EXPORT panda_err panda_plugin_create(panda_t *p, const char *name, panda_plugin **out)
{
    if (!p) return PANDA_ERR_ARG;
    if (!name || !out)
        return panda_set_error(p, PANDA_ERR_ARG, "panda_plugin_create: NULL %s", name ? "out" : "name");
    panda_plugin *pl = calloc(1, sizeof(*pl));
    if (!pl) return err_nomem(&p->err, "a plugin");
    pl->panda = p;
    snprintf(pl->name, sizeof(pl->name), "%s", name);
    pl->next = p->plugins;
    p->plugins = pl;
    *out = pl;
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_load_external_plugin(panda_t *p, const char *name,
                                                  panda_plugin_init_fn init, panda_plugin **out)
{
    if (!p) return PANDA_ERR_ARG;
    if (!init) return panda_set_error(p, PANDA_ERR_ARG, "plugin '%s': NULL init function", name ? name : "?");
    panda_plugin *pl;
    panda_err e = panda_plugin_create(p, name, &pl);
    if (e) return e;
    if (!init(pl)) {
        panda_unload_plugin(pl);
        return panda_set_error(p, PANDA_ERR_CALLBACK, "plugin '%s': init returned false", name);
    }
    if (out) *out = pl;
    return PANDA_OK;
}

PANDA_EXPORT void panda_unregister_callbacks(panda_plugin *pl)
{
    if (!pl) return;
    panda_t *p = pl->panda;
    for (int t = 0; t < PANDA_CB_LAST; t++) {
        cb_list *l = &p->cbs[t];
        for (size_t i = 0; i < l->n; i++) {
            if (l->v[i].plugin == pl && l->v[i].cb.cbaddr) {
                if (l->v[i].enabled) l->live--;
                l->v[i].cb.cbaddr = NULL;
            }
        }
    }
    panda_update_engine_hooks(p);
}

PANDA_EXPORT void panda_unload_plugin(panda_plugin *pl)
{
    if (!pl) return;
    panda_t *p = pl->panda;
    panda_unregister_callbacks(pl);
    for (panda_plugin **pp = &p->plugins; *pp; pp = &(*pp)->next) {
        if (*pp == pl) { *pp = pl->next; break; }
    }
    free(pl);
}

static cb_entry *find_entry(panda_plugin *pl, panda_cb_type type, panda_cb cb)
{
    cb_list *l = &pl->panda->cbs[type];
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].plugin == pl && l->v[i].cb.cbaddr == cb.cbaddr) return &l->v[i];
    return NULL;
}

static panda_err check_args(panda_plugin *pl, panda_cb_type type, panda_cb cb)
{
    if (!pl) return PANDA_ERR_ARG; /* no instance to hold a message */
    if ((unsigned)type >= PANDA_CB_LAST)
        return panda_set_error(pl->panda, PANDA_ERR_CALLBACK, "unknown callback type %d", (int)type);
    if (!cb.cbaddr)
        return panda_set_error(pl->panda, PANDA_ERR_CALLBACK, "NULL function for %s", panda_cb_name(type));
    return PANDA_OK;
}

/* Types this engine cannot deliver: registering one fails with a reason,
 * rather than being accepted and never called. */
static panda_err refuse_unsupported(panda_plugin *pl, panda_cb_type type)
{
    switch (type) {
    case PANDA_CB_BEFORE_TCG_CODEGEN:
        return panda_set_error(pl->panda, PANDA_ERR_UNSUPPORTED,
            "before_tcg_codegen is not supported: it hands a plugin QEMU 2.9's TCG op buffer to edit "
            "before code generation, and this engine (QEMU 5's TCG in Unicorn) exposes no TCG ops; "
            "use start_block_exec, insn_translate/insn_exec or after_block_translate instead");
    case PANDA_CB_QMP:
        return panda_set_error(pl->panda, PANDA_ERR_UNSUPPORTED,
            "qmp is not supported: libpanda has no QMP server to pass unhandled commands on from; "
            "the human monitor's commands reach plugins through the monitor callback");
    default:
        return PANDA_OK;
    }
}

PANDA_EXPORT panda_err panda_register_callback(panda_plugin *pl, panda_cb_type type, panda_cb cb)
{
    panda_err e = check_args(pl, type, cb);
    if (!e) e = refuse_unsupported(pl, type);
    if (e) return e;
    panda_t *p = pl->panda;
    cb_list *l = &p->cbs[type];
    cb_entry *ent = find_entry(pl, type, cb);
    if (!ent) {
        for (size_t i = 0; i < l->n && !ent; i++)
            if (!l->v[i].cb.cbaddr) ent = &l->v[i];
    }
    if (!ent) {
        if (l->n == l->cap) {
            /* Growing moves the array: only safe outside dispatch of this
             * type, which holds because registration of a type from inside
             * its own dispatcher reuses a free slot or is refused. */
            if (p->running)
                return panda_set_error(p, PANDA_ERR_STATE,
                    "cannot add a %s callback while the guest runs with no free slot; register it before run()",
                    panda_cb_name(type));
            size_t cap = l->cap ? l->cap * 2 : 4;
            cb_entry *v = realloc(l->v, cap * sizeof(*v));
            if (!v) return err_nomem(&p->err, "a callback slot");
            l->v = v;
            l->cap = cap;
        }
        ent = &l->v[l->n++];
        ent->enabled = false;
        ent->cb.cbaddr = NULL;
    }
    if (!(ent->cb.cbaddr && ent->enabled)) l->live++;
    ent->plugin = pl;
    ent->cb = cb;
    ent->enabled = true;
    return panda_update_engine_hooks(p);
}

static panda_err set_enabled(panda_plugin *pl, panda_cb_type type, panda_cb cb, bool enabled)
{
    panda_err e = check_args(pl, type, cb);
    if (e) return e;
    cb_entry *ent = find_entry(pl, type, cb);
    if (!ent)
        return panda_set_error(pl->panda, PANDA_ERR_CALLBACK, "no such %s callback registered",
                               panda_cb_name(type));
    if (ent->enabled != enabled) {
        ent->enabled = enabled;
        if (enabled) pl->panda->cbs[type].live++;
        else pl->panda->cbs[type].live--;
        return panda_update_engine_hooks(pl->panda);
    }
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_enable_callback(panda_plugin *pl, panda_cb_type type, panda_cb cb)
{
    return set_enabled(pl, type, cb, true);
}

PANDA_EXPORT panda_err panda_disable_callback(panda_plugin *pl, panda_cb_type type, panda_cb cb)
{
    return set_enabled(pl, type, cb, false);
}

PANDA_EXPORT panda_err panda_unregister_callback(panda_plugin *pl, panda_cb_type type, panda_cb cb)
{
    panda_err e = check_args(pl, type, cb);
    if (e) return e;
    cb_entry *ent = find_entry(pl, type, cb);
    if (!ent)
        return panda_set_error(pl->panda, PANDA_ERR_CALLBACK, "no such %s callback registered",
                               panda_cb_name(type));
    if (ent->enabled) pl->panda->cbs[type].live--;
    ent->cb.cbaddr = NULL;
    ent->enabled = false;
    return panda_update_engine_hooks(pl->panda);
}
