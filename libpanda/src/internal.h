/* libpanda internals: one panda_t holds all state of an instance. */
#ifndef LIBPANDA_INTERNAL_H
#define LIBPANDA_INTERNAL_H

#include <stdatomic.h>

#include <unicorn/unicorn.h>
#include <unicorn/panda_hooks.h>

#include "panda/panda.h"

/* What a libpanda_<arch>.so is built for (arch_<name>.c). */
typedef struct panda_arch_desc {
    const char *name;          /* "i386" */
    uc_arch uc_arch;
    uc_mode uc_mode;
    int pc_reg;                /* uc register id of the program counter */
    const char *default_machine;
} panda_arch_desc;

extern const panda_arch_desc panda_arch;

/* Register table (arch_<name>.c). */
typedef struct panda_reg_desc {
    const char *name;
    int uc_id;
} panda_reg_desc;

extern const panda_reg_desc panda_regs[];
extern const int panda_nregs;

typedef struct cb_entry {
    panda_plugin *plugin;
    panda_cb cb;          /* cb.cbaddr NULL: removed, slot reused later */
    bool enabled;
} cb_entry;

typedef struct cb_list {
    cb_entry *v;
    size_t n, cap;
    size_t live;          /* enabled entries; dispatch skips empty lists */
} cb_list;

struct panda_plugin {
    panda_t *panda;
    char name[64];
    panda_plugin *next;
};

struct panda {
    uc_engine *uc;
    CPUState cpu;
    char machine[32];
    uint64_t ram_size;
    uint64_t mapped_bytes;

    cb_list cbs[PANDA_CB_LAST];
    panda_plugin *plugins;
    uc_hook cpuid_hook;

    bool memcb_enabled;
    bool chaining_wanted;    /* what the user asked for */
    bool cur_chaining;       /* what the engine does */
    uc_panda_hooks cur_hooks;
    bool machine_initialized;
    bool running;
    bool halted;
    bool flush_pending;      /* drop translated code before the next slice */
    atomic_bool stop_requested;
    atomic_bool restart_requested; /* stop only to apply flush_pending */

    char error[512];
};

panda_err panda_set_error(panda_t *p, panda_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* callbacks.c */
void panda_callbacks_init(panda_t *p);
void panda_callbacks_free(panda_t *p);
void panda_update_engine_hooks(panda_t *p);
void panda_run_top_loop(panda_t *p);
void panda_run_after_machine_init(panda_t *p);

/* Ask the running engine to return so that state can change safely. */
void panda_request_restart(panda_t *p);

#endif
