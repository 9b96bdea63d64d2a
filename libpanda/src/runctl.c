/*
 * Run control: requests that end or interrupt a run, from any thread (a
 * callback, pypanda's driver thread, a timer).  The run loop (core.c) acts
 * on them between slices.
 */
#include "internal.h"

void panda_request_restart(panda_t *p)
{
    if (p->running) {
        atomic_store(&p->restart_requested, true);
        uc_emu_stop(p->uc);
    }
}

PANDA_EXPORT void panda_stop(panda_t *p)
{
    if (!p) return;
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
    if (!p) return;
    p->flush_pending = true;
    panda_request_restart(p);
}
