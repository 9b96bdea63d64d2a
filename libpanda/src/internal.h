/* libpanda internals: one panda_t holds all state of an instance. */
#ifndef LIBPANDA_INTERNAL_H
#define LIBPANDA_INTERNAL_H

#include <pthread.h>
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

/* Bytes between the guest's serial port and the host (console.c); the
 * only state shared with other threads, so it has its own lock. */
typedef struct panda_console {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    uint8_t *in;          /* typed by the host, not yet taken by the UART */
    size_t in_len, in_cap;
    uint8_t *out;         /* sent by the guest, not yet read by the host */
    size_t out_len, out_cap;
    uint64_t out_total;   /* bytes the guest has sent since creation */
    uint64_t last_out_icount; /* instruction count when the last one was sent */
    bool echo_stdout;     /* -serial stdio */
} panda_console;

typedef struct pc_machine pc_machine;
typedef struct panda_rr panda_rr;
struct panda_snapshot;

/* A monitor command waiting for the emulation thread (monitor.c); the
 * Monitor that PANDA's monitor callbacks receive. */
typedef struct Monitor panda_monitor_req;

struct panda {
    uc_engine *uc;
    CPUState cpu;
    char machine[32];
    uint64_t ram_size;
    uint64_t mapped_bytes;

    /* options of the pc machine */
    char *kernel, *initrd, *append;
    int64_t rtc_base;        /* seconds since 1970 at virtual time 0 */
    int cpu_model;           /* UC_CPU_X86_* */
    bool no_reboot;
    pc_machine *pc;          /* NULL on the bare machine */
    panda_console console;
    panda_rr *rr;                       /* recording or replaying (rr.c) */
    struct panda_snapshot *snapshots;   /* named, in memory (snapshot.c) */

    /* monitor commands from other threads, served between slices */
    pthread_mutex_t monitor_lock;
    pthread_cond_t monitor_cond;
    panda_monitor_req *monitor_queue;
    bool paused;             /* monitor "stop" */

    cb_list cbs[PANDA_CB_LAST];
    panda_plugin *plugins;
    uc_hook cpuid_hook;

    bool memcb_enabled;
    bool chaining_wanted;    /* what the user asked for */
    bool cur_chaining;       /* what the engine does */
    uc_panda_hooks cur_hooks;
    bool machine_initialized;
    atomic_bool running;     /* read by other threads (console, monitor) */
    bool halted;
    bool pc_finished;        /* the guest powered off, reset or died */
    bool replay_finished;    /* the last run ended at its recording's end */
    bool replay_abandoned;   /* panda_replay_end() during the run */
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
/* The machine's own engine hooks (interrupt acknowledge, TSC, CPUID). */
void pc_engine_hooks(panda_t *p, uc_panda_hooks *h);

/* Ask the running engine to return so that state can change safely. */
void panda_request_restart(panda_t *p);

/* The run loop's view of a machine (core.c drives, the machine answers). */
typedef enum slice_result {
    SLICE_CONTINUE,       /* run the next slice */
    SLICE_GUEST_OFF,      /* the guest powered off or halted for good */
    SLICE_GUEST_RESET,    /* the guest asked for a reset (-no-reboot: end) */
    SLICE_REPLAY_DONE,    /* the replay reached the end of its recording (the
                           * guest may have stopped there: see stop_reason) */
    SLICE_ERROR,          /* p->error says what (e.g. the replay diverged) */
} slice_result;

/* machine_pc.c */
panda_err pc_create(panda_t *p);
void pc_destroy(panda_t *p);
/* Before a slice: devices catch up, input enters; *budget is how many
 * instructions the slice may run. */
slice_result pc_before_slice(panda_t *p, uint64_t *budget);
slice_result pc_after_slice(panda_t *p);
uint64_t pc_vtime(panda_t *p);
const char *pc_stop_reason(panda_t *p);

/* machine_pc.c: what snapshots need */
uint8_t *pc_ram(panda_t *p);
uint64_t pc_idle_ns(panda_t *p);
void pc_loaded(panda_t *p, uint64_t idle_ns);
size_t pc_devices_state_size(panda_t *p);
void pc_devices_save(panda_t *p, uint8_t *buf);
void pc_devices_load(panda_t *p, const uint8_t *buf);

/* snapshot.c */
uint64_t panda_fnv1a(const void *data, size_t len);
panda_err snapshot_take(panda_t *p, uint8_t **out, size_t *len);
panda_err snapshot_restore(panda_t *p, const uint8_t *data, size_t len, const char *what);
panda_err snapshot_write_file(panda_t *p, const char *path, const uint8_t *data, size_t len);
panda_err panda_read_file(panda_t *p, const char *path, uint8_t **data, size_t *len);
panda_err snapshot_save_named(panda_t *p, const char *name);
panda_err snapshot_load_named(panda_t *p, const char *name);
panda_err snapshot_delete_named(panda_t *p, const char *name);
panda_err snapshot_save_file(panda_t *p, const char *path);
panda_err snapshot_load_file(panda_t *p, const char *path);
void snapshots_free(panda_t *p);

/* rr.c */
enum { RR_OFF = 0, RR_RECORD, RR_REPLAY };
enum { RR_NONE, RR_FED, RR_DONE, RR_DIVERGED };
#define RR_MAX_FEED 64
int rr_mode(panda_t *p);
panda_err rr_record_begin(panda_t *p, const char *name);
panda_err rr_record_end(panda_t *p);
void rr_record_serial(panda_t *p, const uint8_t *data, size_t len);
panda_err rr_replay_begin(panda_t *p, const char *name);
void rr_replay_end(panda_t *p);
uint64_t rr_budget(panda_t *p, uint64_t budget);
int rr_replay_step(panda_t *p, uint8_t *buf, size_t *len);
bool rr_event_due_at(panda_t *p, uint64_t icount, uint64_t *vtime);
double rr_progress(panda_t *p);

/* callbacks.c: dispatch for machine events */
void panda_cb_replay_serial(panda_t *p, panda_cb_type type, uint64_t fifo, uint32_t port, uint8_t byte);
void panda_run_before_loadvm(panda_t *p);
void panda_run_after_loadvm(panda_t *p);

/* linux_boot.c: load a bzImage (and initrd) for the 32-bit boot protocol
 * and point the CPU at it. */
panda_err linux_boot_load(panda_t *p);

/* console.c */
void console_init(panda_console *c);
void console_free(panda_console *c);
void console_guest_output(panda_console *c, uint8_t byte, uint64_t icount);
/* Take up to len bytes of pending host input; returns how many. */
size_t console_take_input(panda_console *c, uint8_t *buf, size_t len);
bool console_has_input(panda_console *c);
/* Wait up to timeout_ms for input or a wake-up; false on timeout. */
bool console_wait_input(panda_console *c, int timeout_ms);
void console_wake(panda_console *c);

/* monitor.c */
void monitor_init(panda_t *p);
void monitor_free(panda_t *p);
/* Serve queued monitor commands (emulation thread, between slices). */
void monitor_serve(panda_t *p);

#endif
