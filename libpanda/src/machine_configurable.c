/*
 * The bare machine (-M configurable, as in pandare): a CPU and whatever RAM
 * the user maps with panda_map_memory, no devices, no interrupts.  A run
 * ends when the guest executes HLT, on a guest error, or on request.
 */
#include <stdlib.h>

#include "internal.h"

struct panda_machine {
    panda_t *p;
};

static panda_err bare_create(panda_t *p, panda_machine **out)
{
    panda_machine *m = calloc(1, sizeof(*m));
    if (!m) return err_nomem(&p->err, "the bare machine");
    m->p = p;
    *out = m;
    return PANDA_OK;
}

static void bare_destroy(panda_machine *m) { free(m); }

static uint64_t bare_before_slice(panda_machine *m)
{
    (void)m;
    return 0; /* no timers: run until HLT or a request */
}

static slice_result bare_after_slice(panda_machine *m, bool interrupted)
{
    (void)m;
    /* the engine returned on its own: the guest executed HLT */
    return interrupted ? SLICE_CONTINUE : SLICE_HALTED;
}

const panda_machine_ops machine_configurable_ops = {
    .name = "configurable",
    .summary = "a bare CPU and the RAM you map (pandare's configurable machine)",
    .needs_mapped_memory = true,
    .unhandled_exception = "unhandled CPU exception (the bare machine delivers no interrupts)",
    .create = bare_create,
    .destroy = bare_destroy,
    .before_slice = bare_before_slice,
    .after_slice = bare_after_slice,
};
