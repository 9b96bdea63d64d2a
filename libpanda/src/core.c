/* libpanda core: instances, options, the run loop, errors. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#include <unicorn/x86.h>

_Static_assert(sizeof(TranslationBlock) == sizeof(uc_panda_tb),
               "TranslationBlock mirrors uc_panda_tb");
_Static_assert(offsetof(TranslationBlock, engine_tb) ==
                   offsetof(uc_panda_tb, engine_tb),
               "TranslationBlock mirrors uc_panda_tb");

#define DEFAULT_RAM_SIZE (128ull << 20)
/* The RTC's time at virtual time 0 unless -rtc base= says otherwise: fixed,
 * so that runs are reproducible (2026-01-01T00:00:00Z). */
#define DEFAULT_RTC_BASE 1767225600

panda_err panda_set_error(panda_t *p, panda_err err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    return err;
}

PANDA_EXPORT const char *panda_last_error(panda_t *p)
{
    return p ? p->error : "no instance";
}

/* "128M", "1G", "4096", "64k": bytes, or 0 if malformed. */
static uint64_t parse_size(const char *s)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s)) return 0;
    unsigned long long v = strtoull(s, &end, 10);
    unsigned shift = 20; /* QEMU's -m default unit is MiB */
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'B': shift = 0; break;
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        case 'T': shift = 40; break;
        default: return 0;
        }
        if (end[1] && !(toupper((unsigned char)end[1]) == 'B' && !end[2]) &&
            !(toupper((unsigned char)end[1]) == 'I' && toupper((unsigned char)end[2]) == 'B' && !end[3]))
            return 0;
    }
    if (v == 0 || v > (UINT64_MAX >> shift)) return 0;
    return (uint64_t)v << shift;
}

static void set_errbuf(char *err, size_t errlen, const char *msg)
{
    if (err && errlen) snprintf(err, errlen, "%s", msg);
}

/* QEMU's -cpu names for the models that can boot the reference kernel
 * (it needs an i686 with cmov, cx8 and pae). */
static const struct { const char *name; int model; } cpu_models[] = {
    {"qemu32", UC_CPU_X86_QEMU32}, {"kvm32", UC_CPU_X86_KVM32},
    {"pentium2", UC_CPU_X86_PENTIUM2}, {"pentium3", UC_CPU_X86_PENTIUM3},
    {"coreduo", UC_CPU_X86_COREDUO}, {"core2duo", UC_CPU_X86_CORE2DUO},
    {"n270", UC_CPU_X86_N270},
};

/* "2026-01-01T12:00:00" (UTC) -> seconds since 1970, or -1. */
static int64_t parse_utc(const char *s)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int n = sscanf(s, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &h, &mi, &sec);
    if (n != 3 && n != 6) return -1;
    if (y < 1970 || y > 2099 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return -1;
    /* days from civil (proleptic Gregorian) */
    int yy = y - (mo <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

static char *dup_opt(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static panda_err parse_options(panda_t *p, int argc, const char *const *argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!a) return panda_set_error(p, PANDA_ERR_ARG, "option %d is NULL", i);
#define NEEDS(what)                                                                  \
        if (!next) return panda_set_error(p, PANDA_ERR_OPTION, "%s needs %s", a, what); \
        i++
        if (!strcmp(a, "-m")) {
            NEEDS("a size (e.g. -m 128M)");
            p->ram_size = parse_size(next);
            if (!p->ram_size)
                return panda_set_error(p, PANDA_ERR_OPTION,
                    "bad memory size '%s' for -m: use a number with an optional K, M or G suffix, e.g. 128M", next);
        } else if (!strcmp(a, "-M") || !strcmp(a, "-machine")) {
            NEEDS("a machine name (e.g. -M pc)");
            snprintf(p->machine, sizeof(p->machine), "%s", next);
        } else if (!strcmp(a, "-kernel") || !strcmp(a, "-initrd") || !strcmp(a, "-append")) {
            NEEDS(a[1] == 'a' ? "the kernel command line" : "a file");
            char **slot = a[1] == 'k' ? &p->kernel : a[1] == 'i' ? &p->initrd : &p->append;
            free(*slot);
            if (!(*slot = dup_opt(next))) return PANDA_ERR_NOMEM;
        } else if (!strcmp(a, "-cpu")) {
            NEEDS("a CPU model (e.g. -cpu qemu32)");
            size_t k, n = sizeof(cpu_models) / sizeof(cpu_models[0]);
            for (k = 0; k < n && strcmp(cpu_models[k].name, next); k++) {}
            if (k == n)
                return panda_set_error(p, PANDA_ERR_OPTION,
                    "unknown CPU model '%s' (available: qemu32, kvm32, pentium2, pentium3, coreduo, core2duo, n270)", next);
            p->cpu_model = cpu_models[k].model;
        } else if (!strcmp(a, "-rtc")) {
            NEEDS("base=YYYY-MM-DDTHH:MM:SS");
            int64_t t = strncmp(next, "base=", 5) ? -1 : parse_utc(next + 5);
            if (t < 0)
                return panda_set_error(p, PANDA_ERR_OPTION,
                    "bad -rtc '%s': use base=YYYY-MM-DDTHH:MM:SS (UTC); the clock then follows virtual time", next);
            p->rtc_base = t;
        } else if (!strcmp(a, "-serial")) {
            NEEDS("stdio or none");
            if (!strcmp(next, "stdio")) p->console.echo_stdout = true;
            else if (!strcmp(next, "none") || !strcmp(next, "null")) p->console.echo_stdout = false;
            else
                return panda_set_error(p, PANDA_ERR_OPTION,
                    "-serial takes stdio or none here, not '%s' (the console is also read through the API)", next);
        } else if (!strcmp(a, "-no-reboot")) {
            p->no_reboot = true;
        } else if (!strcmp(a, "-nographic")) {
            /* no display exists: nothing to turn off */
        } else if (!strcmp(a, "-display")) {
            NEEDS("none");
            if (strcmp(next, "none"))
                return panda_set_error(p, PANDA_ERR_OPTION, "-display takes only 'none': pypanda has no display");
        } else {
            return panda_set_error(p, PANDA_ERR_OPTION,
                "unknown option '%s' (this build understands -m, -M, -kernel, -initrd, -append, -cpu, -rtc, -serial, -no-reboot, -nographic, -display none)", a);
        }
#undef NEEDS
    }
    if (!strcmp(p->machine, "configurable") || !strcmp(p->machine, "pc"))
        return PANDA_OK;
    return panda_set_error(p, PANDA_ERR_OPTION, "unknown machine '%s' (available: pc, configurable)", p->machine);
}

static bool on_cpuid(uc_engine *uc, void *opaque);

PANDA_EXPORT panda_err panda_create(int argc, const char *const *argv,
                                    panda_t **out, char *err, size_t errlen)
{
    if (!out || (argc > 0 && !argv)) {
        set_errbuf(err, errlen, "panda_create: NULL argument");
        return PANDA_ERR_ARG;
    }
    *out = NULL;
    panda_t *p = calloc(1, sizeof(*p));
    if (!p) {
        set_errbuf(err, errlen, "out of memory");
        return PANDA_ERR_NOMEM;
    }
    p->ram_size = DEFAULT_RAM_SIZE;
    p->chaining_wanted = true;
    p->rtc_base = DEFAULT_RTC_BASE;
    p->cpu_model = UC_CPU_X86_QEMU32;
    console_init(&p->console);
    monitor_init(p);
    snprintf(p->machine, sizeof(p->machine), "%s", panda_arch.default_machine);
    panda_err e = parse_options(p, argc, argv);
    if (!e && strcmp(p->machine, "pc") && (p->kernel || p->initrd || p->append))
        e = panda_set_error(p, PANDA_ERR_OPTION, "-kernel, -initrd and -append need -M pc");
    if (e) {
        set_errbuf(err, errlen, p->error);
        panda_destroy(p);
        return e;
    }
    uc_err ue = uc_open(panda_arch.uc_arch, panda_arch.uc_mode, &p->uc);
    if (ue) {
        snprintf(p->error, sizeof(p->error), "engine: %s", uc_strerror(ue));
        set_errbuf(err, errlen, p->error);
        panda_destroy(p);
        return PANDA_ERR_ENGINE;
    }
    /* The CPU model must be chosen before the engine initialises. */
    if (!strcmp(p->machine, "pc") && uc_ctl_set_cpu_model(p->uc, p->cpu_model)) {
        set_errbuf(err, errlen, "the engine does not have the requested CPU model");
        panda_destroy(p);
        return PANDA_ERR_ENGINE;
    }
    /* No address ends a run: runs end on request, HLT or error. */
    uc_ctl_exits_enable(p->uc);
    p->cpu.struct_size = sizeof(CPUState);
    p->cpu.cpu_index = 0;
    p->cpu.panda = p;
    p->cpu.env_ptr = uc_panda_cpu_env(p->uc);
    uc_hook_add(p->uc, &p->cpuid_hook, UC_HOOK_INSN, (void *)on_cpuid, p, 1, 0,
                UC_X86_INS_CPUID);
    if (!strcmp(p->machine, "pc")) {
        e = pc_create(p);
        if (e) {
            set_errbuf(err, errlen, p->error);
            panda_destroy(p);
            return e;
        }
    }
    panda_callbacks_init(p);
    *out = p;
    return PANDA_OK;
}

PANDA_EXPORT void panda_destroy(panda_t *p)
{
    if (!p) return;
    panda_callbacks_free(p);
    if (rr_mode(p) == RR_RECORD) rr_record_end(p);
    rr_replay_end(p);
    snapshots_free(p);
    if (p->uc) uc_close(p->uc);
    pc_destroy(p); /* after the engine, which maps the pc's RAM */
    console_free(&p->console);
    monitor_free(p);
    free(p->kernel);
    free(p->initrd);
    free(p->append);
    free(p);
}

PANDA_EXPORT const char *panda_machine_name(panda_t *p) { return p->machine; }
PANDA_EXPORT uint64_t panda_ram_size(panda_t *p) { return p->ram_size; }
PANDA_EXPORT CPUState *panda_get_cpu(panda_t *p) { return p ? &p->cpu : NULL; }
PANDA_EXPORT bool panda_guest_halted(panda_t *p) { return p->halted; }

/* x86 CPUID is PANDA's guest hypercall on this architecture. */
static bool on_cpuid(uc_engine *uc, void *opaque)
{
    (void)uc;
    panda_t *p = opaque;
    bool handled = false;
    cb_list *l = &p->cbs[PANDA_CB_GUEST_HYPERCALL];
    for (size_t i = 0; i < l->n; i++) {
        cb_entry *e = &l->v[i];
        if (e->enabled && e->cb.cbaddr && e->cb.guest_hypercall(&p->cpu))
            handled = true;
    }
    return handled;
}

void panda_request_restart(panda_t *p)
{
    if (p->running) {
        atomic_store(&p->restart_requested, true);
        uc_emu_stop(p->uc);
    }
}

PANDA_EXPORT void panda_stop(panda_t *p)
{
    atomic_store(&p->stop_requested, true);
    if (p->running) uc_emu_stop(p->uc);
    /* wake a run paused by the monitor, and console waiters */
    pthread_mutex_lock(&p->monitor_lock);
    pthread_cond_broadcast(&p->monitor_cond);
    pthread_mutex_unlock(&p->monitor_lock);
    console_wake(&p->console);
}

PANDA_EXPORT void panda_end_analysis(panda_t *p) { panda_stop(p); }

PANDA_EXPORT void panda_flush_tb(panda_t *p)
{
    p->flush_pending = true;
    panda_request_restart(p);
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
        if (p->pc)
            return panda_set_error(p, PANDA_ERR_GUEST_EXCEPTION,
                "the guest triple-faulted (a fault while delivering a double fault) at pc 0x%llx",
                (unsigned long long)pc);
        return panda_set_error(p, PANDA_ERR_GUEST_EXCEPTION,
            "unhandled CPU exception at pc 0x%llx (the bare machine delivers no interrupts)",
            (unsigned long long)pc);
    default:
        return panda_set_error(p, PANDA_ERR_ENGINE, "engine: %s (pc 0x%llx)", uc_strerror(ue),
                               (unsigned long long)pc);
    }
}

PANDA_EXPORT panda_err panda_run(panda_t *p)
{
    if (!p) return PANDA_ERR_ARG;
    if (p->running) return panda_set_error(p, PANDA_ERR_STATE, "panda_run: already running");
    if (p->mapped_bytes == 0)
        return panda_set_error(p, PANDA_ERR_STATE,
            "no memory is mapped: call map_memory() and load guest code before run()");
    if (p->pc && p->pc_finished)
        return panda_set_error(p, PANDA_ERR_STATE, "the guest has %s; create a new Panda to run again",
                               pc_stop_reason(p));
    p->paused = false;   /* a "stop" before the run does not hold it */
    p->running = true;
    p->halted = false;
    p->replay_finished = false;
    p->error[0] = 0;
    atomic_store(&p->stop_requested, false);
    panda_err result = PANDA_OK;
    slice_result slice = SLICE_CONTINUE;

    if (!p->machine_initialized) {
        p->machine_initialized = true;
        panda_run_after_machine_init(p);
    }
    while (!atomic_load(&p->stop_requested)) {
        monitor_serve(p);
        if (atomic_load(&p->stop_requested)) break;
        panda_run_top_loop(p);
        if (atomic_load(&p->stop_requested)) break;
        atomic_store(&p->restart_requested, false);
        if (p->flush_pending) {
            p->flush_pending = false;
            uc_ctl_flush_tb(p->uc);
        }
        uint64_t budget = 0;
        if (p->pc && (slice = pc_before_slice(p, &budget)) != SLICE_CONTINUE) break;
        uint64_t pc = panda_current_pc(&p->cpu);
        uc_err ue = uc_emu_start(p->uc, pc, 0, 0, budget);
        if (ue != UC_ERR_OK) {
            result = engine_error(p, ue);
            if (p->pc) p->pc_finished = true;
            break;
        }
        if (p->pc) {
            if ((slice = pc_after_slice(p)) != SLICE_CONTINUE) break;
            continue;
        }
        if (atomic_load(&p->restart_requested) || atomic_load(&p->stop_requested))
            continue;
        /* Bare machine: returned on its own, the guest executed HLT. */
        p->halted = true;
        break;
    }
    switch (slice) {
    case SLICE_REPLAY_DONE:
        p->replay_finished = true;
        break;
    case SLICE_ERROR:
        result = PANDA_ERR_DIVERGED;
        break;
    case SLICE_GUEST_OFF:
    case SLICE_GUEST_RESET:
        p->pc_finished = true;
        break;
    case SLICE_CONTINUE:
        break;
    }
    if (p->pc && *pc_stop_reason(p) && !result) {
        p->halted = true;
        snprintf(p->error, sizeof(p->error), "%s", pc_stop_reason(p));
    }
    p->running = false;
    /* A replay ends with its recording, an error, a guest that stopped, or
     * end_replay(); a plain stop (end_analysis) leaves it to continue. */
    if (slice != SLICE_CONTINUE || result || p->replay_abandoned) rr_replay_end(p);
    p->replay_abandoned = false;
    console_wake(&p->console);
    monitor_serve(p); /* answer what arrived as the run ended */
    return result;
}

PANDA_EXPORT uint64_t panda_instr_count(panda_t *p)
{
    return p ? uc_panda_icount(p->uc) : 0;
}

/* ---- snapshots and record/replay ---------------------------------------- */

#define NEEDS_STOPPED(p, what)                                                          \
    do {                                                                                \
        if ((p)->running)                                                               \
            return panda_set_error(p, PANDA_ERR_STATE,                                  \
                "%s while the guest runs: send it as a monitor command instead", what); \
    } while (0)

PANDA_EXPORT panda_err panda_snap(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_snap");
    return name ? snapshot_save_named(p, name) : PANDA_ERR_ARG;
}

PANDA_EXPORT panda_err panda_revert(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_revert");
    return name ? snapshot_load_named(p, name) : PANDA_ERR_ARG;
}

PANDA_EXPORT panda_err panda_delvm(panda_t *p, const char *name)
{
    return name ? snapshot_delete_named(p, name) : PANDA_ERR_ARG;
}

PANDA_EXPORT panda_err panda_snapshot_save_file(panda_t *p, const char *path)
{
    NEEDS_STOPPED(p, "panda_snapshot_save_file");
    return path ? snapshot_save_file(p, path) : PANDA_ERR_ARG;
}

PANDA_EXPORT panda_err panda_snapshot_load_file(panda_t *p, const char *path)
{
    NEEDS_STOPPED(p, "panda_snapshot_load_file");
    return path ? snapshot_load_file(p, path) : PANDA_ERR_ARG;
}

PANDA_EXPORT panda_err panda_record_begin(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_record_begin");
    return name ? rr_record_begin(p, name) : PANDA_ERR_ARG;
}

PANDA_EXPORT panda_err panda_record_end(panda_t *p)
{
    NEEDS_STOPPED(p, "panda_record_end");
    return rr_record_end(p);
}

PANDA_EXPORT panda_err panda_replay_begin(panda_t *p, const char *name)
{
    NEEDS_STOPPED(p, "panda_replay_begin");
    return name ? rr_replay_begin(p, name) : PANDA_ERR_ARG;
}

PANDA_EXPORT void panda_replay_end(panda_t *p)
{
    if (rr_mode(p) != RR_REPLAY) return;
    if (p->running) {
        p->replay_abandoned = true;
        panda_stop(p);
    } else {
        rr_replay_end(p);
    }
}

PANDA_EXPORT int panda_rr_mode(panda_t *p) { return rr_mode(p); }

PANDA_EXPORT double panda_replay_progress(panda_t *p) { return rr_progress(p); }

PANDA_EXPORT bool panda_replay_finished(panda_t *p) { return p->replay_finished; }
