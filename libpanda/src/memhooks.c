/*
 * Memory hooks (panda_mem_hook_*): an internal plugin registering the
 * virt/phys_mem_* callbacks of the kinds its hooks ask for, and filtering
 * each access against the hooks' ranges here, so that only matching
 * accesses reach a hook's function.  The hooks are a short array scanned
 * in order (analyses hook a few ranges); removal marks, and marked hooks
 * are swept when no hook function is running.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define WHEN (PANDA_MEM_BEFORE | PANDA_MEM_AFTER)
#define RW (PANDA_MEM_READ | PANDA_MEM_WRITE)
#define SPACE (PANDA_MEM_VIRTUAL | PANDA_MEM_PHYSICAL)

typedef struct mem_hook {
    uint32_t id, flags;
    bool enabled, removed;
    uint64_t start, end;
    panda_mem_hook_fn fn;
    void *opaque;
    uint64_t hits;
} mem_hook;

struct panda_memhooks {
    panda_plugin *plugin;
    mem_hook *v;
    size_t n, cap, live, removed;
    uint32_t last_id;
    uint32_t registered;    /* bit i: callback type memcb_types[i] is registered */
    bool memcb_was, memcb_set; /* panda_enable_memcb before the first hook; set by us */
    bool removal_pending;   /* callbacks to unregister at the next top loop */
    bool top_loop_registered;
    int depth;
};

static void dispatch(panda_t *p, uint32_t kind, uint64_t pc, uint64_t addr, size_t size, void *buf)
{
    struct panda_memhooks *m = p->memhooks;
    uint64_t last = size ? addr + size - 1 : addr;
    m->depth++;
    size_t n = m->n;   /* hooks added by a hook function wait for the next access */
    for (size_t i = 0; i < n; i++) {
        mem_hook *k = &m->v[i];
        if (k->removed || !k->enabled || (k->flags & kind) != kind) continue;
        if (last < k->start || addr > k->end) continue;
        panda_mem_access a = {.struct_size = sizeof(a), .flags = kind, .pc = pc, .addr = addr,
                              .size = size, .buf = buf, .hook_id = k->id};
        k->hits++;
        k->fn(&p->cpu, &a, k->opaque);
    }
    m->depth--;
}

#define V PANDA_MEM_VIRTUAL
#define P PANDA_MEM_PHYSICAL
#define B PANDA_MEM_BEFORE
#define A PANDA_MEM_AFTER
#define R PANDA_MEM_READ
#define W PANDA_MEM_WRITE

static void vbr(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s) { dispatch(c->panda, V | B | R, pc, a, s, NULL); }
static void vbw(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s, void *b) { dispatch(c->panda, V | B | W, pc, a, s, b); }
static void pbr(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s) { dispatch(c->panda, P | B | R, pc, a, s, NULL); }
static void pbw(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s, void *b) { dispatch(c->panda, P | B | W, pc, a, s, b); }
static void var(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s, void *b) { dispatch(c->panda, V | A | R, pc, a, s, b); }
static void vaw(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s, void *b) { dispatch(c->panda, V | A | W, pc, a, s, b); }
static void par(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s, void *b) { dispatch(c->panda, P | A | R, pc, a, s, b); }
static void paw(CPUState *c, target_ptr_t pc, target_ptr_t a, size_t s, void *b) { dispatch(c->panda, P | A | W, pc, a, s, b); }

static const struct {
    uint32_t kind;
    panda_cb_type type;
    panda_cb cb;
} memcb_types[] = {
    {V | B | R, PANDA_CB_VIRT_MEM_BEFORE_READ, {.virt_mem_before_read = vbr}},
    {V | B | W, PANDA_CB_VIRT_MEM_BEFORE_WRITE, {.virt_mem_before_write = vbw}},
    {P | B | R, PANDA_CB_PHYS_MEM_BEFORE_READ, {.phys_mem_before_read = pbr}},
    {P | B | W, PANDA_CB_PHYS_MEM_BEFORE_WRITE, {.phys_mem_before_write = pbw}},
    {V | A | R, PANDA_CB_VIRT_MEM_AFTER_READ, {.virt_mem_after_read = var}},
    {V | A | W, PANDA_CB_VIRT_MEM_AFTER_WRITE, {.virt_mem_after_write = vaw}},
    {P | A | R, PANDA_CB_PHYS_MEM_AFTER_READ, {.phys_mem_after_read = par}},
    {P | A | W, PANDA_CB_PHYS_MEM_AFTER_WRITE, {.phys_mem_after_write = paw}},
};
#define NTYPES (sizeof(memcb_types) / sizeof(memcb_types[0]))

static void mem_top_loop(CPUState *cpu);
static panda_cb cb_top_loop(void) { return (panda_cb){.top_loop = mem_top_loop}; }

/* Register the callback types the live hooks need, no others; memcb on
 * while any hook lives.  Removing the engine's memory hook while the guest
 * runs is left for the next top loop (between slices, asked for at once):
 * in the middle of an access the engine calls the hook again after the
 * access, having checked it was there before (safe: false). */
static panda_err sync_registration(panda_t *p, struct panda_memhooks *m, bool safe)
{
    uint32_t want = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].removed) continue;
        for (size_t t = 0; t < NTYPES; t++)
            if ((m->v[i].flags & memcb_types[t].kind) == memcb_types[t].kind) want |= 1u << t;
    }
    panda_err e;
    if (!m->plugin && (e = panda_plugin_create(p, "mem_hooks", &m->plugin))) return e;
    if (!safe && (m->registered & ~want)) {
        if (!m->top_loop_registered) {
            if ((e = panda_register_callback(m->plugin, PANDA_CB_TOP_LOOP, cb_top_loop()))) return e;
            m->top_loop_registered = true;
        }
        m->removal_pending = true;
        panda_request_restart(p);
        want |= m->registered;          /* keep them until then */
    }
    for (size_t t = 0; t < NTYPES; t++) {
        uint32_t bit = 1u << t;
        if ((want & bit) == (m->registered & bit)) continue;
        e = (want & bit) ? panda_register_callback(m->plugin, memcb_types[t].type, memcb_types[t].cb)
                         : panda_unregister_callback(m->plugin, memcb_types[t].type, memcb_types[t].cb);
        if (e) return e;
        m->registered ^= bit;
    }
    if (want && !m->memcb_set) {
        m->memcb_was = p->memcb_enabled;
        m->memcb_set = true;
        panda_enable_memcb(p);
    } else if (!want && m->memcb_set) {
        m->memcb_set = false;
        if (!m->memcb_was) panda_disable_memcb(p);
    }
    return PANDA_OK;
}

static void mem_top_loop(CPUState *cpu)
{
    panda_t *p = cpu->panda;
    struct panda_memhooks *m = p->memhooks;
    if (!m->removal_pending) return;
    m->removal_pending = false;
    /* an error leaves the callbacks registered (the hooks are gone: they
     * find nothing); the message is in the instance's error */
    sync_registration(p, m, true);
    if (!m->removal_pending && !panda_unregister_callback(m->plugin, PANDA_CB_TOP_LOOP, cb_top_loop()))
        m->top_loop_registered = false;
}

static mem_hook *find_id(struct panda_memhooks *m, uint32_t id)
{
    if (!m || !id) return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].id == id) return m->v[i].removed ? NULL : &m->v[i];
    return NULL;
}

PANDA_EXPORT panda_err panda_mem_hook_add(panda_t *p, uint64_t start, uint64_t end, uint32_t flags,
                                          panda_mem_hook_fn fn, void *opaque, uint32_t *id_out)
{
    if (!p) return PANDA_ERR_ARG;
    if (!fn) return panda_set_error(p, PANDA_ERR_ARG, "panda_mem_hook_add: NULL function");
    if (end < start)
        return panda_set_error(p, PANDA_ERR_ARG, "panda_mem_hook_add: end 0x%llx is below start 0x%llx",
                               (unsigned long long)end, (unsigned long long)start);
    if ((flags & ~(WHEN | RW | SPACE)) || !(flags & WHEN) || !(flags & RW) || !(flags & SPACE))
        return panda_set_error(p, PANDA_ERR_ARG,
            "panda_mem_hook_add: flags 0x%x must name at least one of before/after, one of read/write "
            "and one of virtual/physical (PANDA_MEM_*)", (unsigned)flags);
    struct panda_memhooks *m = p->memhooks;
    if (!m) {
        if (!(m = calloc(1, sizeof(*m)))) return err_nomem(&p->err, "the memory hooks");
        p->memhooks = m;
    }
    if (m->last_id == UINT32_MAX)
        return panda_set_error(p, PANDA_ERR_NOMEM, "panda_mem_hook_add: this instance has used every id");
    if (m->depth == 0 && m->removed) {   /* sweep */
        size_t k = 0;
        for (size_t i = 0; i < m->n; i++)
            if (!m->v[i].removed) m->v[k++] = m->v[i];
        m->n = k;
        m->removed = 0;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 8;
        mem_hook *v = realloc(m->v, cap * sizeof(*v));
        if (!v) return err_nomem(&p->err, "a memory hook");
        m->v = v;
        m->cap = cap;
    }
    mem_hook *k = &m->v[m->n++];
    *k = (mem_hook){.id = ++m->last_id, .flags = flags, .enabled = true, .start = start, .end = end,
                    .fn = fn, .opaque = opaque};
    m->live++;
    panda_err e = sync_registration(p, m, !p->running);
    if (e) {
        k->removed = true;
        m->live--;
        m->removed++;
        return e;
    }
    if (id_out) *id_out = k->id;
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_mem_hook_set_enabled(panda_t *p, uint32_t id, bool enabled)
{
    if (!p) return PANDA_ERR_ARG;
    mem_hook *k = find_id(p->memhooks, id);
    if (!k) return panda_set_error(p, PANDA_ERR_ARG, "no memory hook with id %u", (unsigned)id);
    k->enabled = enabled;
    return PANDA_OK;
}

PANDA_EXPORT panda_err panda_mem_hook_remove(panda_t *p, uint32_t id)
{
    if (!p) return PANDA_ERR_ARG;
    struct panda_memhooks *m = p->memhooks;
    mem_hook *k = find_id(m, id);
    if (!k) return panda_set_error(p, PANDA_ERR_ARG, "no memory hook with id %u", (unsigned)id);
    k->removed = true;
    m->live--;
    m->removed++;
    return sync_registration(p, m, !p->running);
}

PANDA_EXPORT uint64_t panda_mem_hook_hits(panda_t *p, uint32_t id)
{
    mem_hook *k = p ? find_id(p->memhooks, id) : NULL;
    return k ? k->hits : 0;
}

void memhooks_free(panda_t *p)
{
    struct panda_memhooks *m = p->memhooks;
    if (!m) return;
    free(m->v);
    free(m);
    p->memhooks = NULL;
}
