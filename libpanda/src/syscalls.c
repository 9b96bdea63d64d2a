/*
 * System-call detection (panda_syscalls_*): an internal plugin over the
 * callback registry, on while a callback is set.
 *
 * Translation: for each instruction translated in user mode, the arch
 * decodes the bytes at its pc (through the page tables, never faulting);
 * a system-call instruction, and a block's first instruction that the arch
 * recognises as a return site (i386: preceded by int $0x80), is recorded in
 * a table of sites and gets an insn_exec call.  Execution: the exec
 * callback looks the pc up (insn_exec callbacks fire for every
 * instrumented instruction, other plugins' too) and, in user mode, matches
 * a return against the pending calls or reports a call.  The table keeps
 * every site seen (a few per program); a site is checked again at
 * execution (the bytes at a pc differ between address spaces).
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

enum { W_ENTER = 1, W_RETURN = 2 };
enum { SITE_CALL = 1, SITE_RETURN = 2 };

typedef struct site {
    uint64_t pc;
    uint8_t flags;          /* SITE_*; 0: free slot */
} site;

typedef struct pending {
    panda_syscall call;
    uint64_t key_asid;      /* asid & the arch's mask */
    uint64_t seq;           /* age: the smallest is the oldest */
    bool used;
} pending;

struct panda_syscalls {
    panda_plugin *plugin;
    bool registered;
    panda_syscall_fn fn;
    void *opaque;
    uint8_t watch[PANDA_SYSCALL_MAX_NUMBER];  /* W_* per number */
    uint8_t watch_all;                        /* W_* for every number */
    uint64_t seen, dropped, seq;
    uint64_t block_pc;      /* the block being translated */
    site *sites;            /* power-of-two size, at most half full */
    size_t sites_cap, sites_used;
    size_t npending;
    insn_exec_mark mark;    /* the last execution handled */
    pending pend[PANDA_SYSCALL_MAX_PENDING];
};

static struct panda_syscalls *state(panda_t *p)
{
    if (!p->syscalls) p->syscalls = calloc(1, sizeof(*p->syscalls));
    return p->syscalls;
}

static uint8_t watched(const struct panda_syscalls *s, int32_t number)
{
    uint8_t w = s->watch_all;
    if (number >= 0 && number < PANDA_SYSCALL_MAX_NUMBER) w |= s->watch[number];
    return w;
}

/* ---- the table of sites ------------------------------------------------ */

static size_t site_slot(const site *t, size_t cap, uint64_t pc)
{
    size_t mask = cap - 1;
    size_t i = (size_t)((pc * 0x9E3779B97F4A7C15ull) >> 20) & mask;
    while (t[i].flags && t[i].pc != pc) i = (i + 1) & mask;
    return i;
}

static uint8_t site_flags(const struct panda_syscalls *s, uint64_t pc)
{
    if (!s->sites_cap) return 0;
    return s->sites[site_slot(s->sites, s->sites_cap, pc)].flags;
}

/* false: out of memory (the site then goes uninstrumented) */
static bool site_add(struct panda_syscalls *s, uint64_t pc, uint8_t flags)
{
    if (2 * (s->sites_used + 1) > s->sites_cap) {
        size_t cap = s->sites_cap ? 2 * s->sites_cap : 256;
        site *t = calloc(cap, sizeof(*t));
        if (!t) return false;
        for (size_t i = 0; i < s->sites_cap; i++)
            if (s->sites[i].flags) t[site_slot(t, cap, s->sites[i].pc)] = s->sites[i];
        free(s->sites);
        s->sites = t;
        s->sites_cap = cap;
    }
    site *e = &s->sites[site_slot(s->sites, s->sites_cap, pc)];
    if (!e->flags) {
        e->pc = pc;
        s->sites_used++;
    }
    e->flags |= flags;
    return true;
}

/* ---- pending returns --------------------------------------------------- */

static void drop_thread(struct panda_syscalls *s, uint64_t key_asid, uint64_t sp)
{
    for (size_t i = 0; i < PANDA_SYSCALL_MAX_PENDING && s->npending; i++) {
        pending *q = &s->pend[i];
        if (q->used && q->key_asid == key_asid && q->call.sp == sp) {
            q->used = false;
            s->npending--;
        }
    }
}

static void push_pending(struct panda_syscalls *s, const panda_syscall *call, uint64_t key_asid)
{
    pending *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < PANDA_SYSCALL_MAX_PENDING; i++) {
        pending *q = &s->pend[i];
        if (!q->used) { slot = q; break; }
        if (!oldest || q->seq < oldest->seq) oldest = q;
    }
    if (!slot) {
        slot = oldest;
        s->dropped++;
        s->npending--;
    }
    slot->call = *call;
    slot->key_asid = key_asid;
    slot->seq = ++s->seq;
    slot->used = true;
    s->npending++;
}

/* ---- the internal plugin's callbacks ------------------------------------- */

static void sys_before_translate(CPUState *cpu, target_ptr_t pc)
{
    cpu->panda->syscalls->block_pc = pc;
}

static bool sys_insn_translate(CPUState *cpu, target_ptr_t pc)
{
    panda_t *p = cpu->panda;
    struct panda_syscalls *s = p->syscalls;
    /* a block runs at the privilege it was translated at */
    if (panda_arch.privilege(p->uc) != 3) return false;
    uint8_t code[4], before[2];
    uint64_t ret;
    uint8_t flags = 0;
    size_t have = memory_peek(p, pc, code, sizeof(code));
    if (panda_arch.syscall_kind(code, (unsigned)have, pc, &ret) >= 0) flags |= SITE_CALL;
    if (pc == s->block_pc && pc >= 2 && memory_peek(p, pc - 2, before, 2) == 2 &&
        panda_arch.syscall_return_site(before))
        flags |= SITE_RETURN;
    return flags && site_add(s, pc, flags);
}

static void on_return(panda_t *p, struct panda_syscalls *s, uint64_t pc)
{
    uint64_t sp;
    int64_t retval;
    if (panda_arch.syscall_return(p->uc, &sp, &retval)) return;
    uint64_t key_asid = panda_arch.asid(p->uc) & panda_arch.asid_mask;
    for (size_t i = 0; i < PANDA_SYSCALL_MAX_PENDING; i++) {
        pending *q = &s->pend[i];
        if (!q->used || q->call.return_pc != pc || q->call.sp != sp || q->key_asid != key_asid) continue;
        panda_syscall call = q->call;
        q->used = false;
        s->npending--;
        call.retval = retval;
        if (s->fn && (watched(s, call.number) & W_RETURN)) s->fn(&p->cpu, &call, true, s->opaque);
        return;
    }
}

static void on_call(panda_t *p, struct panda_syscalls *s, uint64_t pc)
{
    uint8_t code[4];
    size_t have = memory_peek(p, pc, code, sizeof(code));
    panda_syscall call = {.struct_size = sizeof(call), .pc = pc};
    int kind = panda_arch.syscall_kind(code, (unsigned)have, pc, &call.return_pc);
    if (kind < 0) return;   /* another address space's code at this pc */
    int mem_arg = -1;
    uint64_t mem_addr = 0;
    if (panda_arch.syscall_entry(p->uc, (uint32_t)kind, &call, &mem_arg, &mem_addr)) return;
    s->seen++;
    call.kind = (uint32_t)kind;
    call.asid = panda_arch.asid(p->uc);
    call.enter_icount = uc_panda_icount(p->uc);
    uint64_t key_asid = call.asid & panda_arch.asid_mask;
    /* the thread's last call never returned (it cannot have two) */
    if (s->npending) drop_thread(s, key_asid, call.sp);
    uint8_t w = watched(s, call.number);
    if (!w) return;
    if (mem_arg >= 0 && mem_arg < 6) {
        uint8_t word[8] = {0};
        unsigned size = panda_arch.bits / 8;
        if (memory_peek(p, mem_addr, word, size) == size) {
            uint64_t v = 0;
            for (unsigned i = 0; i < size; i++)   /* little-endian guests */
                v |= (uint64_t)word[i] << (8 * i);
            call.args[mem_arg] = v;
        } else {
            call.args[mem_arg] = 0;
        }
    }
    if (w & W_ENTER) s->fn(&p->cpu, &call, false, s->opaque);
    if (!s->fn || !(watched(s, call.number) & W_RETURN)) return;   /* changed by fn */
    for (uint32_t i = 0; i < panda_arch.nsyscall_noreturn; i++)
        if (panda_arch.syscall_noreturn[i] == call.number) return;
    push_pending(s, &call, key_asid);
}

static int sys_insn_exec(CPUState *cpu, target_ptr_t pc)
{
    panda_t *p = cpu->panda;
    struct panda_syscalls *s = p->syscalls;
    uint8_t flags = site_flags(s, pc);
    if (!flags || !s->fn) return 0;     /* another plugin's instruction */
    if (panda_arch.privilege(p->uc) != 3) return 0;
    uint64_t icount;
    if (insn_exec_seen(p, &s->mark, pc, &icount)) return 0;   /* the same execution again */
    /* a return first: `int $0x80` right after one is both */
    if ((flags & SITE_RETURN) && s->npending) on_return(p, s, pc);
    if ((flags & SITE_CALL) && s->fn) on_call(p, s, pc);
    insn_exec_done(p, &s->mark, pc, icount);
    return 0;
}

/* A snapshot loaded (a revert, a replay's start): the calls pending were
 * another machine state's. */
static void sys_after_loadvm(CPUState *cpu)
{
    struct panda_syscalls *s = cpu->panda->syscalls;
    memset(s->pend, 0, sizeof(s->pend));
    s->npending = 0;
}

static const struct {
    panda_cb_type type;
    panda_cb cb;
} sys_cbs[] = {
    {PANDA_CB_AFTER_LOADVM, {.after_loadvm = sys_after_loadvm}},
    {PANDA_CB_BEFORE_BLOCK_TRANSLATE, {.before_block_translate = sys_before_translate}},
    {PANDA_CB_INSN_EXEC, {.insn_exec = sys_insn_exec}},
    {PANDA_CB_INSN_TRANSLATE, {.insn_translate = sys_insn_translate}},
};
#define NCBS (sizeof(sys_cbs) / sizeof(sys_cbs[0]))

static panda_err sync_registration(panda_t *p, struct panda_syscalls *s)
{
    bool want = s->fn != NULL;
    if (want == s->registered) return PANDA_OK;
    panda_err e;
    if (want) {
        if (!s->plugin && (e = panda_plugin_create(p, "syscalls", &s->plugin))) return e;
        for (size_t i = 0; i < NCBS; i++) {
            if ((e = panda_register_callback(s->plugin, sys_cbs[i].type, sys_cbs[i].cb))) {
                while (i--) panda_unregister_callback(s->plugin, sys_cbs[i].type, sys_cbs[i].cb);
                return e;
            }
        }
    } else {
        for (size_t i = NCBS; i--;)
            if ((e = panda_unregister_callback(s->plugin, sys_cbs[i].type, sys_cbs[i].cb))) return e;
    }
    s->registered = want;
    return PANDA_OK;
}

/* ---- the API ------------------------------------------------------------- */

PANDA_EXPORT panda_err panda_syscalls_set_callback(panda_t *p, panda_syscall_fn fn, void *opaque)
{
    if (!p) return PANDA_ERR_ARG;
    if (!panda_arch.syscall_kind)
        return panda_set_error(p, PANDA_ERR_UNSUPPORTED, "system-call detection is not there for %s",
                               panda_arch.name);
    struct panda_syscalls *s = state(p);
    if (!s) return err_nomem(&p->err, "system-call detection");
    panda_syscall_fn old_fn = s->fn;
    void *old_opaque = s->opaque;
    s->fn = fn;
    s->opaque = opaque;
    panda_err e = sync_registration(p, s);
    if (e) {
        s->fn = old_fn;
        s->opaque = old_opaque;
        return e;
    }
    if (!fn) {
        memset(s->pend, 0, sizeof(s->pend));
        s->npending = 0;
    }
    return PANDA_OK;
}

static panda_err set_watch(panda_t *p, int32_t number, bool on_enter, bool on_return, bool on,
                           const char *what)
{
    if (!p) return PANDA_ERR_ARG;
    if (number < -1 || number >= PANDA_SYSCALL_MAX_NUMBER)
        return panda_set_error(p, PANDA_ERR_ARG, "%s: number %d: it must be -1 (every number) or 0..%d",
                               what, (int)number, PANDA_SYSCALL_MAX_NUMBER - 1);
    struct panda_syscalls *s = state(p);
    if (!s) return err_nomem(&p->err, "system-call detection");
    uint8_t bits = (uint8_t)((on_enter ? W_ENTER : 0) | (on_return ? W_RETURN : 0));
    uint8_t *w = number < 0 ? &s->watch_all : &s->watch[number];
    *w = on ? (uint8_t)(*w | bits) : (uint8_t)(*w & ~bits);
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_syscalls_watch(panda_t *p, int32_t number, bool on_enter, bool on_return)
{
    return set_watch(p, number, on_enter, on_return, true, "panda_syscalls_watch");
}

PANDA_EXPORT panda_err panda_syscalls_unwatch(panda_t *p, int32_t number, bool on_enter, bool on_return)
{
    return set_watch(p, number, on_enter, on_return, false, "panda_syscalls_unwatch");
}

PANDA_EXPORT uint64_t panda_syscalls_seen(panda_t *p)
{
    return p && p->syscalls ? p->syscalls->seen : 0;
}

PANDA_EXPORT uint64_t panda_syscalls_dropped(panda_t *p)
{
    return p && p->syscalls ? p->syscalls->dropped : 0;
}

void syscalls_free(panda_t *p)
{
    struct panda_syscalls *s = p->syscalls;
    if (!s) return;
    free(s->sites);
    free(s);
    p->syscalls = NULL;
}
