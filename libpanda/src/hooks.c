/*
 * Address hooks (panda_hook_*): an internal plugin over the callback
 * registry.  Its insn_translate callback asks for insn_exec at the hooked
 * pcs only, so every other instruction runs uninstrumented; its insn_exec
 * callback finds the hooks at the pc and calls those whose filters match.
 * The two callbacks are registered only while a hook exists.
 *
 * Hooks live in one array in the order they were added (ids increase
 * along it), chained per pc from an open-addressing table.  Hook callbacks
 * may add, disable and remove hooks: the array may move while the exec
 * callback walks a chain, so it holds indices, never pointers, across a
 * call; removal only marks a hook, and the marked ones are swept when no
 * hook callback is running.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct hook {
    uint32_t id;
    bool enabled, removed, any_asid;
    int32_t kernel;
    uint64_t pc, asid;      /* asid already masked */
    panda_hook_fn fn;
    void *opaque;
    uint64_t hits;
    uint32_t next;          /* index + 1 of the next hook at this pc; 0: none */
} hook;

typedef struct pc_slot {
    uint64_t pc;
    uint32_t first;         /* index + 1 of the first hook at pc; 0: free slot */
    uint32_t live;          /* hooks at pc not removed */
} pc_slot;

struct panda_hooks {
    panda_plugin *plugin;
    bool registered;        /* the two callbacks are in the registry */
    hook *v;
    size_t n, cap, live, removed;
    pc_slot *tab;           /* power-of-two size, at most half full */
    size_t tab_cap, tab_used;
    uint32_t last_id;
    int depth;              /* hook callbacks running (nested runs) */
    insn_exec_mark mark;    /* the last execution reported */
};

static size_t slot_of(const struct panda_hooks *h, uint64_t pc)
{
    uint64_t x = pc * 0x9E3779B97F4A7C15ull;
    size_t mask = h->tab_cap - 1;
    size_t i = (size_t)(x >> 20) & mask;
    while (h->tab[i].first && h->tab[i].pc != pc) i = (i + 1) & mask;
    return i;
}

static pc_slot *find_pc(const struct panda_hooks *h, uint64_t pc)
{
    if (!h->tab_cap) return NULL;
    pc_slot *s = &h->tab[slot_of(h, pc)];
    return s->first ? s : NULL;
}

/* Rebuild the table and the chains from the array (dropping removed hooks
 * when sweep is set), with room for at least want pcs. */
static panda_err rebuild(panda_t *p, struct panda_hooks *h, bool sweep, size_t want)
{
    size_t cap = 16;
    while (cap < 2 * want + 2) cap *= 2;
    pc_slot *tab = calloc(cap, sizeof(*tab));
    uint32_t *tail = calloc(cap, sizeof(*tail));   /* per slot: index + 1 of its last hook */
    if (!tab || !tail) {
        free(tab);
        free(tail);
        return err_nomem(&p->err, "the hook table");
    }
    if (sweep) {
        size_t k = 0;
        for (size_t i = 0; i < h->n; i++)
            if (!h->v[i].removed) h->v[k++] = h->v[i];
        h->n = k;
        h->removed = 0;
    }
    free(h->tab);
    h->tab = tab;
    h->tab_cap = cap;
    h->tab_used = 0;
    /* chain in array order, appending at each chain's tail */
    for (size_t i = 0; i < h->n; i++) {
        hook *k = &h->v[i];
        k->next = 0;
        size_t si = slot_of(h, k->pc);
        pc_slot *s = &tab[si];
        if (!s->first) {
            s->pc = k->pc;
            s->first = (uint32_t)i + 1;
            h->tab_used++;
        } else {
            h->v[tail[si] - 1].next = (uint32_t)i + 1;
        }
        tail[si] = (uint32_t)i + 1;
        if (!k->removed) s->live++;
    }
    free(tail);
    return PANDA_OK;
}

static hook *find_id(struct panda_hooks *h, uint32_t id)
{
    if (!h || !id) return NULL;
    size_t lo = 0, hi = h->n;   /* ids increase along the array */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (h->v[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < h->n && h->v[lo].id == id && !h->v[lo].removed ? &h->v[lo] : NULL;
}

/* ---- the internal plugin's callbacks ------------------------------------- */

static bool hook_insn_translate(CPUState *cpu, target_ptr_t pc)
{
    const pc_slot *s = find_pc(cpu->panda->hooks, pc);
    return s && s->live;
}

static int hook_insn_exec(CPUState *cpu, target_ptr_t pc)
{
    panda_t *p = cpu->panda;
    struct panda_hooks *h = p->hooks;
    const pc_slot *s = find_pc(h, pc);
    if (!s || !s->live) return 0;   /* another plugin's instruction */
    uint64_t icount;
    if (insn_exec_seen(p, &h->mark, pc, &icount)) return 0;   /* the same execution again */
    int cpl = -2;                   /* read once, when a filter needs it */
    uint64_t asid = 0;
    bool have_asid = false;
    h->depth++;
    /* indices only: a callback may add hooks, which moves the array; hooks
     * added now at this pc join the chain's tail and run from the next
     * execution on */
    size_t end = h->n;
    for (uint32_t i = s->first; i && i - 1 < end; i = h->v[i - 1].next) {
        hook *k = &h->v[i - 1];
        if (k->removed || !k->enabled || k->pc != pc) continue;
        if (k->kernel >= 0) {
            if (cpl == -2) cpl = panda_arch.privilege(p->uc);
            if (k->kernel ? cpl != 0 : cpl != 3) continue;
        }
        if (!k->any_asid) {
            if (!have_asid) {
                asid = panda_arch.asid(p->uc) & panda_arch.asid_mask;
                have_asid = true;
            }
            if (k->asid != asid) continue;
        }
        k->hits++;
        k->fn(cpu, k->id, pc, k->opaque);
    }
    h->depth--;
    insn_exec_done(p, &h->mark, pc, icount);
    return 0;
}

static panda_cb cb_translate(void) { return (panda_cb){.insn_translate = hook_insn_translate}; }
static panda_cb cb_exec(void) { return (panda_cb){.insn_exec = hook_insn_exec}; }

/* Register the callbacks while a hook exists, and only then. */
static panda_err sync_registration(panda_t *p, struct panda_hooks *h)
{
    bool want = h->live > 0;
    if (want == h->registered) return PANDA_OK;
    panda_err e;
    if (want) {
        if (!h->plugin && (e = panda_plugin_create(p, "hooks", &h->plugin))) return e;
        /* exec first: the two arrive in the engine together, at the end of
         * the dispatch or at once */
        if ((e = panda_register_callback(h->plugin, PANDA_CB_INSN_EXEC, cb_exec()))) return e;
        if ((e = panda_register_callback(h->plugin, PANDA_CB_INSN_TRANSLATE, cb_translate()))) {
            panda_unregister_callback(h->plugin, PANDA_CB_INSN_EXEC, cb_exec());
            return e;
        }
    } else {
        if ((e = panda_unregister_callback(h->plugin, PANDA_CB_INSN_TRANSLATE, cb_translate()))) return e;
        if ((e = panda_unregister_callback(h->plugin, PANDA_CB_INSN_EXEC, cb_exec()))) return e;
    }
    h->registered = want;
    return PANDA_OK;
}

/* ---- the API ------------------------------------------------------------- */

PANDA_EXPORT panda_err panda_hook_add(panda_t *p, target_ulong pc, uint64_t asid, int32_t kernel,
                                      panda_hook_fn fn, void *opaque, uint32_t *id_out)
{
    if (!p) return PANDA_ERR_ARG;
    if (!fn) return panda_set_error(p, PANDA_ERR_ARG, "panda_hook_add: NULL function");
    if (kernel < -1 || kernel > 1)
        return panda_set_error(p, PANDA_ERR_ARG,
                               "panda_hook_add: kernel is %d; it must be -1 (any), 0 (user) or 1 (kernel)",
                               (int)kernel);
    if (panda_arch.bits < 64 && pc >> panda_arch.bits)
        return panda_set_error(p, PANDA_ERR_ARG, "panda_hook_add: pc 0x%llx is beyond the %u-bit guest's addresses",
                               (unsigned long long)pc, panda_arch.bits);
    struct panda_hooks *h = p->hooks;
    if (!h) {
        if (!(h = calloc(1, sizeof(*h)))) return err_nomem(&p->err, "the hooks");
        p->hooks = h;
    }
    if (h->last_id == UINT32_MAX)
        return panda_set_error(p, PANDA_ERR_NOMEM, "panda_hook_add: this instance has used every hook id");
    if (h->n == UINT32_MAX - 1) return err_nomem(&p->err, "a hook");
    /* sweep removed hooks when no hook callback is walking the array */
    bool sweep = h->depth == 0 && h->removed > 16 && h->removed > h->live;
    if (sweep) {
        panda_err e = rebuild(p, h, true, h->tab_used);
        if (e) return e;
    }
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 16;
        hook *v = realloc(h->v, cap * sizeof(*v));
        if (!v) return err_nomem(&p->err, "a hook");
        h->v = v;
        h->cap = cap;
    }
    pc_slot *s = find_pc(h, pc);
    bool newly_instrumented = !s || !s->live;
    if (!s && 2 * (h->tab_used + 1) > h->tab_cap) {
        panda_err e = rebuild(p, h, false, h->tab_used + 1);
        if (e) return e;
    }
    size_t idx = h->n++;
    hook *k = &h->v[idx];
    *k = (hook){.id = ++h->last_id, .enabled = true, .kernel = kernel, .pc = pc,
                .any_asid = asid == 0, .asid = asid & panda_arch.asid_mask, .fn = fn,
                .opaque = opaque};
    if (!(s = find_pc(h, pc))) {
        s = &h->tab[slot_of(h, pc)];
        s->pc = pc;
        s->first = (uint32_t)idx + 1;
        h->tab_used++;
    } else {
        uint32_t i = s->first;
        while (h->v[i - 1].next) i = h->v[i - 1].next;
        h->v[i - 1].next = (uint32_t)idx + 1;
    }
    s->live++;
    h->live++;
    panda_err e = sync_registration(p, h);
    if (e) {
        k->removed = true;
        s->live--;
        h->live--;
        h->removed++;
        return e;
    }
    /* code translated before now has no call at pc */
    if (newly_instrumented) panda_flush_tb(p);
    if (id_out) *id_out = k->id;
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_hook_set_enabled(panda_t *p, uint32_t id, bool enabled)
{
    if (!p) return PANDA_ERR_ARG;
    hook *k = find_id(p->hooks, id);
    if (!k) return panda_set_error(p, PANDA_ERR_ARG, "no hook with id %u", (unsigned)id);
    k->enabled = enabled;   /* the instruction stays instrumented */
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_hook_remove(panda_t *p, uint32_t id)
{
    if (!p) return PANDA_ERR_ARG;
    struct panda_hooks *h = p->hooks;
    hook *k = find_id(h, id);
    if (!k) return panda_set_error(p, PANDA_ERR_ARG, "no hook with id %u", (unsigned)id);
    k->removed = true;
    pc_slot *s = find_pc(h, k->pc);
    if (s) s->live--;
    h->live--;
    h->removed++;
    /* Code already translated keeps its call at pc (the exec callback
     * finds nothing there) until it is next retranslated. */
    return sync_registration(p, h);
}

PANDA_EXPORT uint64_t panda_hook_hits(panda_t *p, uint32_t id)
{
    hook *k = p ? find_id(p->hooks, id) : NULL;
    return k ? k->hits : 0;
}

void hooks_free(panda_t *p)
{
    struct panda_hooks *h = p->hooks;
    if (!h) return;
    free(h->v);
    free(h->tab);
    free(h);
    p->hooks = NULL;
}
