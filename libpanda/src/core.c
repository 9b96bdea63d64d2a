/* libpanda core: instances, options, the run loop, errors. */
#include <ctype.h>
#include <stdarg.h>
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
};

PANDA_EXPORT void panda_version(uint32_t *major, uint32_t *minor)
{
    if (major) *major = PANDA_API_MAJOR;
    if (minor) *minor = PANDA_API_MINOR;
}

PANDA_EXPORT const char *panda_arch_name(void) { return panda_arch.name; }

PANDA_EXPORT const char *panda_strerror(panda_err err)
{
    if ((unsigned)err >= PANDA_ERR_COUNT) return "unknown error code";
    return error_names[err];
}

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

static panda_err parse_options(panda_t *p, int argc, const char *const *argv)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!a) return panda_set_error(p, PANDA_ERR_ARG, "option %d is NULL", i);
        if (!strcmp(a, "-m")) {
            if (!next) return panda_set_error(p, PANDA_ERR_OPTION, "-m needs a size (e.g. -m 128M)");
            p->ram_size = parse_size(next);
            if (!p->ram_size)
                return panda_set_error(p, PANDA_ERR_OPTION,
                    "bad memory size '%s' for -m: use a number with an optional K, M or G suffix, e.g. 128M", next);
            i++;
        } else if (!strcmp(a, "-M") || !strcmp(a, "-machine")) {
            if (!next) return panda_set_error(p, PANDA_ERR_OPTION, "%s needs a machine name (e.g. -M configurable)", a);
            snprintf(p->machine, sizeof(p->machine), "%s", next);
            i++;
        } else if (!strcmp(a, "-nographic")) {
            /* no display exists: nothing to turn off */
        } else if (!strcmp(a, "-display")) {
            if (!next || strcmp(next, "none"))
                return panda_set_error(p, PANDA_ERR_OPTION, "-display takes only 'none': pypanda has no display");
            i++;
        } else {
            return panda_set_error(p, PANDA_ERR_OPTION,
                "unknown option '%s' (this build understands -m, -M, -nographic, -display none)", a);
        }
    }
    if (!strcmp(p->machine, "configurable"))
        return PANDA_OK;
    if (!strcmp(p->machine, "pc") || !strcmp(p->machine, "q35"))
        return panda_set_error(p, PANDA_ERR_UNSUPPORTED,
            "machine '%s' is not available yet: this build has only the bare machine; use -M configurable and map_memory()",
            p->machine);
    return panda_set_error(p, PANDA_ERR_OPTION, "unknown machine '%s' (available: configurable)", p->machine);
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
    snprintf(p->machine, sizeof(p->machine), "%s", panda_arch.default_machine);
    panda_err e = parse_options(p, argc, argv);
    if (e) {
        set_errbuf(err, errlen, p->error);
        free(p);
        return e;
    }
    uc_err ue = uc_open(panda_arch.uc_arch, panda_arch.uc_mode, &p->uc);
    if (ue) {
        snprintf(p->error, sizeof(p->error), "engine: %s", uc_strerror(ue));
        set_errbuf(err, errlen, p->error);
        free(p);
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
    panda_callbacks_init(p);
    *out = p;
    return PANDA_OK;
}

PANDA_EXPORT void panda_destroy(panda_t *p)
{
    if (!p) return;
    panda_callbacks_free(p);
    uc_close(p->uc);
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
    p->running = true;
    p->halted = false;
    p->error[0] = 0;
    atomic_store(&p->stop_requested, false);
    panda_err result = PANDA_OK;

    if (!p->machine_initialized) {
        p->machine_initialized = true;
        panda_run_after_machine_init(p);
    }
    while (!atomic_load(&p->stop_requested)) {
        panda_run_top_loop(p);
        if (atomic_load(&p->stop_requested)) break;
        atomic_store(&p->restart_requested, false);
        if (p->flush_pending) {
            p->flush_pending = false;
            uc_ctl_flush_tb(p->uc);
        }
        uint64_t pc = panda_current_pc(&p->cpu);
        uc_err ue = uc_emu_start(p->uc, pc, 0, 0, 0);
        if (ue != UC_ERR_OK) {
            result = engine_error(p, ue);
            break;
        }
        if (atomic_load(&p->restart_requested) || atomic_load(&p->stop_requested))
            continue;
        /* Returned on its own: the guest executed HLT. */
        p->halted = true;
        break;
    }
    p->running = false;
    return result;
}
