/* libpanda core: instances, the run loop, and the API's entry points. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

_Static_assert(sizeof(TranslationBlock) == sizeof(uc_panda_tb),
               "TranslationBlock mirrors uc_panda_tb");
_Static_assert(offsetof(TranslationBlock, engine_tb) ==
                   offsetof(uc_panda_tb, engine_tb),
               "TranslationBlock mirrors uc_panda_tb");

#define DEFAULT_RAM_SIZE (128ull << 20)
/* The RTC's time at virtual time 0 unless -rtc base= says otherwise: fixed,
 * so that runs are reproducible (2026-01-01T00:00:00Z). */
#define DEFAULT_RTC_BASE 1767225600
/* After this many idle slices in a row with no input, the guest is
 * waiting for the outside world: pace it with the wall clock. */
#define IDLE_SLICES_BEFORE_WAIT 25
#define IDLE_WAIT_MS 1

static void set_errbuf(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

/* Set up everything after the options: the engine, the CPU, the machine. */
static panda_err build(panda_t *p)
{
    uc_err ue = uc_open(panda_arch.uc_arch, panda_arch.uc_mode, &p->uc);
    if (ue) {
        p->uc = NULL;
        return panda_set_error(p, PANDA_ERR_ENGINE, "engine: %s", uc_strerror(ue));
    }
    /* The CPU model must be chosen before the engine initialises. */
    const panda_cpu_model *cpu = p->cfg.cpu;
    if (!cpu && p->mops->default_cpu) cpu = arch_cpu_model(p->mops->default_cpu);
    if (cpu && (ue = uc_ctl_set_cpu_model(p->uc, cpu->uc_model)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "the engine does not have CPU model %s: %s", cpu->name,
                               uc_strerror(ue));
    /* No address ends a run: runs end on request, HLT or error. */
    if ((ue = uc_ctl_exits_enable(p->uc)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "engine: %s", uc_strerror(ue));
    p->cpu.struct_size = sizeof(CPUState);
    p->cpu.cpu_index = 0;
    p->cpu.panda = p;
    p->cpu.env_ptr = uc_panda_cpu_env(p->uc);
    if ((ue = panda_arch.install_hypercall(p->uc, &p->hypercall_hook, p)))
        return panda_set_error(p, PANDA_ERR_ENGINE, "installing the %s hook: %s", panda_arch.hypercall,
                               uc_strerror(ue));
    panda_err e = p->mops->create(p, &p->machine);
    if (e) return e;
    return panda_callbacks_init(p);
}

PANDA_EXPORT panda_err panda_create(int argc, const char *const *argv,
                                    panda_t **out, char *err, size_t errlen)
{
    if (!out || (argc > 0 && !argv) || argc < 0) {
        set_errbuf(err, errlen, "panda_create: NULL or negative argument");
        return PANDA_ERR_ARG;
    }
    *out = NULL;
    panda_t *p = calloc(1, sizeof(*p));
    if (!p) {
        set_errbuf(err, errlen, "out of memory: an instance");
        return PANDA_ERR_NOMEM;
    }
    p->cfg.ram_size = DEFAULT_RAM_SIZE;
    p->cfg.rtc_base = DEFAULT_RTC_BASE;
    snprintf(p->cfg.boot_order, sizeof(p->cfg.boot_order), "cd");
    snprintf(p->cfg.machine, sizeof(p->cfg.machine), "%s", panda_arch.default_machine);
    p->chaining_wanted = true;
    console_init(&p->console);
    monitor_init(p);
    panda_err e = options_parse(&p->cfg, &p->err, argc, argv);
    if (!e) {
        p->mops = panda_machine_find(p->cfg.machine);
        p->console.echo_stdout = p->cfg.serial_stdio;
        e = build(p);
    }
    if (e) {
        set_errbuf(err, errlen, p->err.msg);
        panda_destroy(p);
        return e;
    }
    *out = p;
    return PANDA_OK;
}

PANDA_EXPORT void panda_destroy(panda_t *p)
{
    if (!p) return;
    panda_dispatch_pre_shutdown(p);   /* unless the guest's end fired it */
    panda_callbacks_free(p);
    hooks_free(p);      /* after the plugins they registered */
    memhooks_free(p);
    syscalls_free(p);
    if (p->rr_mode == RR_RECORD) rr_record_end(p);
    rr_replay_end(p);
    snapshots_free(p);
    if (p->uc) uc_close(p->uc);
    /* after the engine, which maps the machine's RAM */
    if (p->machine) p->mops->destroy(p->machine);
    console_free(&p->console);
    monitor_free(p);
    options_free(&p->cfg);
    free(p);
}

PANDA_EXPORT void panda_pre_shutdown(panda_t *p)
{
    if (p) panda_dispatch_pre_shutdown(p);
}

PANDA_EXPORT const char *panda_last_error(panda_t *p)
{
    return p ? p->err.msg : "no instance";
}

PANDA_EXPORT const char *panda_machine_name(panda_t *p) { return p ? p->mops->name : ""; }
PANDA_EXPORT uint64_t panda_ram_size(panda_t *p) { return p ? p->cfg.ram_size : 0; }
PANDA_EXPORT CPUState *panda_get_cpu(panda_t *p) { return p ? &p->cpu : NULL; }
PANDA_EXPORT bool panda_guest_halted(panda_t *p) { return p && p->halted; }

PANDA_EXPORT uint64_t panda_instr_count(panda_t *p)
{
    return p ? uc_panda_icount(p->uc) : 0;
}

PANDA_EXPORT uint64_t panda_vtime_ns(panda_t *p)
{
    return p && p->mops->vtime ? p->mops->vtime(p->machine) : 0;
}

PANDA_EXPORT uint64_t panda_open_bus_count(panda_t *p)
{
    return p && p->mops->open_bus_count ? p->mops->open_bus_count(p->machine) : 0;
}

static const char *stop_reason(panda_t *p)
{
    return p->mops->stop_reason ? p->mops->stop_reason(p->machine) : "";
}

static panda_err engine_error(panda_t *p, uc_err ue)
{
    uint64_t pc = panda_current_pc(&p->cpu);
    switch (ue) {
    case UC_ERR_INSN_INVALID:
        return panda_set_error(p, PANDA_ERR_GUEST_INSN, "invalid instruction at pc 0x%llx",
                               (unsigned long long)pc);
    case UC_ERR_READ_UNMAPPED: case UC_ERR_WRITE_UNMAPPED: case UC_ERR_FETCH_UNMAPPED:
    case UC_ERR_READ_PROT: case UC_ERR_WRITE_PROT: case UC_ERR_FETCH_PROT:
    case UC_ERR_READ_UNALIGNED: case UC_ERR_WRITE_UNALIGNED: case UC_ERR_FETCH_UNALIGNED:
        return panda_set_error(p, PANDA_ERR_GUEST_MEMORY, "%s (pc 0x%llx)", uc_strerror(ue),
                               (unsigned long long)pc);
    case UC_ERR_EXCEPTION:
        return panda_set_error(p, PANDA_ERR_GUEST_EXCEPTION, "%s at pc 0x%llx",
                               p->mops->unhandled_exception, (unsigned long long)pc);
    default:
        return panda_set_error(p, PANDA_ERR_ENGINE, "engine: %s (pc 0x%llx)", uc_strerror(ue),
                               (unsigned long long)pc);
    }
}

/* The guest stopped for good.  In a replay that is the recording's end
 * only if the recording was ended right there; anywhere else the replay
 * went astray. */
static slice_result guest_stopped(panda_t *p, slice_result r)
{
    if (p->rr_mode != RR_REPLAY) return r;
    rr_feed_result f = rr_feed(p);
    if (f == RR_DONE) return SLICE_REPLAY_DONE;
    if (f != RR_DIVERGED)
        panda_set_error(p, PANDA_ERR_DIVERGED,
            "replay diverged: %s at instruction count %llu, before the recording's end",
            stop_reason(p), (unsigned long long)uc_panda_icount(p->uc));
    return SLICE_ERROR;
}

/* The CPU waits for an interrupt: nothing happens until the next deadline
 * or outside input. */
static slice_result idle(panda_t *p)
{
    const panda_machine_ops *m = p->mops;
    panda_vtime now = m->vtime(p->machine), deadline = m->next_deadline(p->machine);
    if (p->rr_mode == RR_REPLAY) {
        uint64_t due;
        if (rr_event_due_at(p, uc_panda_icount(p->uc), &due) && due <= now)
            return SLICE_CONTINUE;          /* fed (or found diverged) next */
        if (deadline == PANDA_VTIME_NEVER) {
            panda_set_error(p, PANDA_ERR_DIVERGED,
                "replay diverged at instruction count %llu: the guest waits for input with no timer armed",
                (unsigned long long)uc_panda_icount(p->uc));
            return SLICE_ERROR;
        }
        m->idle_until(p->machine, deadline);
        return SLICE_CONTINUE;
    }
    if (++p->idle_slices > IDLE_SLICES_BEFORE_WAIT && !rr_live_input_pending(p))
        rr_wait_live_input(p, IDLE_WAIT_MS);
    if (rr_live_input_pending(p)) {
        p->idle_slices = 0;
        rr_pump_live(p);
        return SLICE_CONTINUE;
    }
    if (deadline == PANDA_VTIME_NEVER) {
        /* no timer armed: only input can wake the guest */
        rr_wait_live_input(p, 10);
        return SLICE_CONTINUE;
    }
    m->idle_until(p->machine, deadline);
    return SLICE_CONTINUE;
}

/* One slice: devices catch up, outside input enters, the CPU runs. */
static slice_result run_slice(panda_t *p, panda_err *result)
{
    const panda_machine_ops *m = p->mops;
    uint64_t budget = m->before_slice(p->machine);
    if (p->rr_mode == RR_REPLAY) {
        rr_feed_result f = rr_feed(p);
        if (f == RR_DONE) return SLICE_REPLAY_DONE;
        if (f == RR_DIVERGED) return SLICE_ERROR;
        budget = rr_budget(p, budget);
    } else {
        rr_pump_live(p);
    }
    uc_err ue = uc_emu_start(p->uc, panda_current_pc(&p->cpu), 0, 0, budget);
    if (ue != UC_ERR_OK) {
        *result = engine_error(p, ue);
        if (m->errors_end_guest) p->finished = true;
        return SLICE_CONTINUE;
    }
    if (rr_diverged(p)) return SLICE_ERROR;   /* a disk read did not match the recording */
    bool interrupted = atomic_load(&p->restart_requested) || atomic_load(&p->stop_requested);
    slice_result r = m->after_slice(p->machine, interrupted);
    switch (r) {
    case SLICE_CONTINUE:
        p->idle_slices = 0;
        return r;
    case SLICE_IDLE:
        return idle(p);
    case SLICE_GUEST_OFF:
    case SLICE_GUEST_RESET:
    case SLICE_BOOT_FAILED:
        return guest_stopped(p, r);
    default:
        return r;
    }
}

PANDA_EXPORT panda_err panda_run(panda_t *p)
{
    if (!p) return PANDA_ERR_ARG;
    if (p->running) return panda_set_error(p, PANDA_ERR_STATE, "panda_run: already running");
    if (p->finished)
        return panda_set_error(p, PANDA_ERR_STATE, "the guest has %s; create a new Panda to run again",
                               stop_reason(p));
    /* PANDA's after_machine_init comes before the first instruction: it is
     * where a bare machine's script maps memory and loads its code */
    if (!p->machine_initialized) {
        p->machine_initialized = true;
        /* the machine was built in panda_create, before any plugin could
         * register: PANDA's during_machine_init comes here, just before
         * after_machine_init, where the machine can still be changed */
        panda_dispatch_during_machine_init(p);
        panda_dispatch_after_machine_init(p);
    }
    if (p->mops->needs_mapped_memory && p->mapped_bytes == 0)
        return panda_set_error(p, PANDA_ERR_STATE,
            "no memory is mapped: call map_memory() and load guest code before run() "
            "(or in an after_machine_init callback)");
    p->halted = false;
    p->replay_finished = false;
    p->err.msg[0] = 0;
    /* A stop requested before the run (a driver thread that ended the
     * analysis at once) is kept: the run then ends before its first slice.
     * From here monitor commands are queued for the emulation thread; a
     * driver waiting in panda_wait_running starts now. */
    pthread_mutex_lock(&p->monitor_lock);
    p->paused = false;   /* a "stop" given while stopped does not hold the run */
    p->running = true;
    pthread_cond_broadcast(&p->monitor_cond);
    pthread_mutex_unlock(&p->monitor_lock);
    panda_err result = PANDA_OK;
    slice_result slice = SLICE_CONTINUE;

    while (!atomic_load(&p->stop_requested)) {
        monitor_serve(p);
        if (atomic_load(&p->stop_requested)) break;
        panda_dispatch_main_loop_wait(p);
        if (atomic_load(&p->stop_requested)) break;
        panda_dispatch_top_loop(p);
        if (atomic_load(&p->stop_requested)) break;
        atomic_store(&p->restart_requested, false);
        if (p->flush_pending) {
            p->flush_pending = false;
            uc_err ue = uc_ctl_flush_tb(p->uc);
            if (ue) {
                result = panda_set_error(p, PANDA_ERR_ENGINE, "engine: flushing code: %s", uc_strerror(ue));
                break;
            }
        }
        slice = run_slice(p, &result);
        if (result || slice != SLICE_CONTINUE) break;
    }
    switch (slice) {
    case SLICE_REPLAY_DONE:
        p->replay_finished = true;
        break;
    case SLICE_ERROR:
        result = PANDA_ERR_DIVERGED;
        if (!p->err.msg[0]) panda_set_error(p, PANDA_ERR_DIVERGED, "the replay diverged");
        break;
    case SLICE_HALTED:
        p->halted = true;
        break;
    case SLICE_GUEST_OFF:
    case SLICE_GUEST_RESET:
        p->finished = true;
        break;
    case SLICE_BOOT_FAILED:
        p->finished = true;
        if (!result) result = panda_set_error(p, PANDA_ERR_GUEST_BOOT, "%s", stop_reason(p));
        break;
    case SLICE_CONTINUE:
    case SLICE_IDLE:
        break;
    }
    if (*stop_reason(p) && !result) {
        p->halted = true;
        snprintf(p->err.msg, sizeof(p->err.msg), "%s", stop_reason(p));
    }
    /* PANDA's pre_shutdown: the guest is gone for good (powered off, reset
     * with -no-reboot, triple-faulted); else when the instance is freed */
    if (p->finished) panda_dispatch_pre_shutdown(p);
    /* under the monitor's lock, so a command queued while the run was on
     * is always served by the monitor_serve below */
    pthread_mutex_lock(&p->monitor_lock);
    p->running = false;
    atomic_store(&p->stop_requested, false);   /* this run's stop is used up */
    pthread_cond_broadcast(&p->monitor_cond);
    pthread_mutex_unlock(&p->monitor_lock);
    /* A replay ends with its recording, an error, a guest that stopped, or
     * end_replay(); a plain stop (end_analysis) leaves it to continue. */
    if ((slice != SLICE_CONTINUE && slice != SLICE_IDLE) || result || p->replay_abandoned)
        rr_replay_end(p);
    p->replay_abandoned = false;
    console_wake(&p->console);
    monitor_serve(p); /* answer what arrived as the run ended */
    return result;
}

/* ---- snapshots and record/replay ---------------------------------------- */

#define NEEDS_STOPPED(p, what)                                                          \
    do {                                                                                \
        if (!(p)) return PANDA_ERR_ARG;                                                 \
        if ((p)->running)                                                               \
            return panda_set_error(p, PANDA_ERR_STATE,                                  \
                "%s while the guest runs: send it as a monitor command instead", what); \
    } while (0)

#define NEEDS_ARG(p, arg, what)                                                         \
    do {                                                                                \
        if (!(arg)) return panda_set_error(p, PANDA_ERR_ARG, "%s: NULL %s", what, #arg); \
    } while (0)

PANDA_EXPORT panda_err panda_snap(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_snap");
    NEEDS_ARG(p, name, "panda_snap");
    return snapshot_save_named(p, name);
}

PANDA_EXPORT panda_err panda_revert(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_revert");
    NEEDS_ARG(p, name, "panda_revert");
    return snapshot_load_named(p, name);
}

PANDA_EXPORT panda_err panda_delvm(panda_t *p, const char *name)
{
    if (!p) return PANDA_ERR_ARG;
    NEEDS_ARG(p, name, "panda_delvm");
    return snapshot_delete_named(p, name);
}

PANDA_EXPORT panda_err panda_snapshot_save_file(panda_t *p, const char *path)
{
    NEEDS_STOPPED(p, "panda_snapshot_save_file");
    NEEDS_ARG(p, path, "panda_snapshot_save_file");
    return snapshot_save_file(p, path);
}

PANDA_EXPORT panda_err panda_snapshot_load_file(panda_t *p, const char *path)
{
    NEEDS_STOPPED(p, "panda_snapshot_load_file");
    NEEDS_ARG(p, path, "panda_snapshot_load_file");
    return snapshot_load_file(p, path);
}

PANDA_EXPORT panda_err panda_record_begin(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_record_begin");
    NEEDS_ARG(p, name, "panda_record_begin");
    return rr_record_begin(p, name);
}

PANDA_EXPORT panda_err panda_record_end(panda_t *p)
{
    NEEDS_STOPPED(p, "panda_record_end");
    return rr_record_end(p);
}

PANDA_EXPORT panda_err panda_replay_begin(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_replay_begin");
    NEEDS_ARG(p, name, "panda_replay_begin");
    return rr_replay_begin(p, name);
}

PANDA_EXPORT bool panda_replay_finished(panda_t *p) { return p && p->replay_finished; }

PANDA_EXPORT size_t panda_firmware_log(panda_t *p, char *buf, size_t len)
{
    if (!p || !p->mops->firmware_log) return 0;
    size_t total = 0;
    const char *log = p->mops->firmware_log(p->machine, &total);
    if (buf && len) memcpy(buf, log, total < len ? total : len);
    return total;
}

PANDA_EXPORT panda_err panda_commit_disk(panda_t *p, uint32_t drive, const char *path)
{
    NEEDS_STOPPED(p, "panda_commit_disk");
    NEEDS_ARG(p, path, "panda_commit_disk");
    if (!p->mops->commit_disk)
        return panda_set_error(p, PANDA_ERR_UNSUPPORTED, "the %s machine has no disks", p->mops->name);
    return p->mops->commit_disk(p->machine, drive, path);
}
