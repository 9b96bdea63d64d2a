/*
 * libpanda internals: one panda_t holds all state of an instance.
 *
 * The sources are layered; each calls only the layers below it (a test
 * derives the call graph from the object files and fails on any cycle):
 *
 *   base/        errors, files, hashing, option values
 *   abi.c        the library's version and the names of its codes
 *   console.c    bytes between the guest's serial port and the host
 *   runctl.c     stop, restart and flush requests (any thread)
 *   callbacks.c  the callback registry and its dispatchers
 *   arch_<a>.c   the guest architecture (arch.h)
 *   memory.c     guest memory and registers as the host sees them
 *   hooks.c      address hooks (an internal plugin over the registry)
 *   memhooks.c   memory hooks (an internal plugin over the registry)
 *   syscalls.c   system-call detection (an internal plugin over the registry)
 *   boot_linux.c loading a Linux kernel for direct boot
 *   machine_*.c  the machines (machine.h), over libpanda/devices
 *   machines.c   the table of machines
 *   snapshot.c   the whole machine as bytes
 *   rr.c         outside input: live, recorded, replayed
 *   monitor.c    text commands from any thread
 *   options.c    the command-line option table
 *   core.c       instances, the run loop, the API's entry points
 */
#ifndef LIBPANDA_INTERNAL_H
#define LIBPANDA_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <unicorn/unicorn.h>
#include <unicorn/panda_hooks.h>

#include "panda/panda.h"
#include "base/base.h"
#include "arch.h"
#include "machine.h"

/* ---- options (options.c) --------------------------------------------------- */

typedef struct panda_config {
    uint64_t ram_size;
    char machine[32];
    char *kernel, *initrd, *append;
    char *bios;                    /* -bios: boot this ROM instead of a kernel */
    char boot_order[4];            /* -boot order=: "c", "d", "cd", ... */
    int64_t rtc_base;              /* seconds since 1970 at virtual time 0 */
    const panda_cpu_model *cpu;    /* NULL: the machine's default */
    /* disks: -hda..-hdd, -drive; index = IDE channel * 2 + unit */
    struct panda_drive {
        char *file;                 /* NULL with size: a drive with no image */
        char format[8];             /* "auto", "raw", "qcow2" */
        uint64_t size;              /* file=NULL: its size (replay only) */
        bool cdrom;                 /* a CD-ROM drive (-cdrom, media=cdrom); file NULL: empty */
    } drive[4];
    /* -nodefaults: no default devices (the empty CD-ROM drive at index 2) */
    bool nodefaults;
    bool serial_stdio;
    bool no_reboot;
} panda_config;

#define PANDA_MAX_DRIVES 4

/* Fill c from QEMU-style options; c must hold the defaults. */
panda_err options_parse(panda_config *c, panda_errbuf *e, int argc, const char *const *argv);
void options_free(panda_config *c);

/* ---- callbacks (callbacks.c) ---------------------------------------------- */

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

panda_err panda_callbacks_init(panda_t *p);
void panda_callbacks_free(panda_t *p);
/* Install the dispatchers the registry needs now; an engine refusal is
 * reported (it only happens on a broken engine). */
panda_err panda_update_engine_hooks(panda_t *p);
#include "callbacks_dispatch.h"

/* ---- console (console.c) ---------------------------------------------------- */

/* Bytes between the guest's serial port and the host; the only state
 * shared with other threads, so it has its own lock. */
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

void console_init(panda_console *c);
void console_free(panda_console *c);
void console_guest_output(panda_console *c, uint8_t byte, uint64_t icount);
/* Take up to len bytes of pending host input; returns how many. */
size_t console_take_input(panda_console *c, uint8_t *buf, size_t len);
bool console_has_input(panda_console *c);
/* Wait up to timeout_ms for input or a wake-up; false on timeout. */
bool console_wait_input(panda_console *c, int timeout_ms);
void console_wake(panda_console *c);

/* ---- input channels: outside input into a device ------------------------------ */

/* The kinds a recording's events name (rr.c); a channel is one device's
 * input of a kind, numbered by index within its kind. */
enum { PANDA_INPUT_SERIAL = 1, PANDA_INPUT_DISK, PANDA_INPUT_MEDIA, PANDA_INPUT_KINDS };

typedef struct panda_input_channel {
    uint8_t kind, index;
    const char *name;            /* "com1" */
    /* the device side: how much it takes now, and taking it (returns how
     * many bytes it accepted) */
    size_t (*room)(void *dev);
    size_t (*deliver)(void *dev, const uint8_t *data, size_t len);
    void *dev;
    /* where live input comes from */
    panda_console *source;
} panda_input_channel;

#define PANDA_MAX_CHANNELS 8

/* ---- record/replay (rr.c) -------------------------------------------------- */

enum { RR_OFF = 0, RR_RECORD, RR_REPLAY };
typedef struct panda_rr panda_rr;

/* ---- monitor (monitor.c) --------------------------------------------------- */

/* A monitor command waiting for the emulation thread; the Monitor that
 * PANDA's monitor callbacks receive. */
typedef struct Monitor panda_monitor_req;

/* ---- the instance ---------------------------------------------------------- */

struct panda_snapshot;

struct panda {
    uc_engine *uc;
    CPUState cpu;
    panda_errbuf err;
    panda_config cfg;
    const panda_machine_ops *mops;
    panda_machine *machine;
    uint64_t mapped_bytes;   /* RAM the engine maps (machine's or map_memory's) */

    panda_console console;
    panda_input_channel *channels[PANDA_MAX_CHANNELS];
    size_t nchannels;
    panda_rr *rr;                       /* recording or replaying (rr.c) */
    int rr_mode;                        /* RR_OFF, RR_RECORD, RR_REPLAY */
    struct panda_snapshot *snapshots;   /* named, in memory (snapshot.c) */

    /* monitor commands from other threads, served between slices */
    pthread_mutex_t monitor_lock;
    pthread_cond_t monitor_cond;
    panda_monitor_req *monitor_queue;
    bool paused;             /* monitor "stop" */

    cb_list cbs[PANDA_CB_LAST];
    panda_plugin *plugins;
    uc_hook hypercall_hook;

    bool memcb_enabled;
    bool chaining_wanted;    /* what the user asked for */
    bool cur_chaining;       /* what the engine does */
    uc_panda_hooks cur_hooks;
    bool machine_initialized;
    bool pre_shutdown_done;  /* pre_shutdown fired (once per instance) */
    atomic_bool running;     /* read by other threads (console, monitor) */
    bool halted;
    bool finished;           /* the guest powered off, reset or died */
    bool replay_finished;    /* the last run ended at its recording's end */
    bool replay_abandoned;   /* panda_replay_end() during the run */
    bool flush_pending;      /* drop translated code before the next slice */
    atomic_bool stop_requested;
    atomic_bool restart_requested; /* stop only to apply flush_pending */
    int idle_slices;         /* idle slices in a row with no input (run loop) */
    struct panda_hooks *hooks;       /* hooks.c, NULL until the first hook */
    struct panda_memhooks *memhooks; /* memhooks.c, NULL until the first one */
    struct panda_syscalls *syscalls; /* syscalls.c, NULL until first used */
};

#define panda_set_error(p, code, ...) err_set(&(p)->err, (code), __VA_ARGS__)

/* A machine's input channel joins the instance (at most PANDA_MAX_CHANNELS). */
panda_err panda_add_channel(panda_t *p, panda_input_channel *ch);

/* ---- run control (runctl.c) ------------------------------------------------ */

/* Ask the running engine to return so that state can change safely. */
void panda_request_restart(panda_t *p);

/* ---- snapshots (snapshot.c) ------------------------------------------------ */

panda_err snapshot_take(panda_t *p, uint8_t **out, size_t *len);
panda_err snapshot_restore(panda_t *p, const uint8_t *data, size_t len, const char *what);
panda_err snapshot_save_named(panda_t *p, const char *name);
panda_err snapshot_load_named(panda_t *p, const char *name);
panda_err snapshot_delete_named(panda_t *p, const char *name);
panda_err snapshot_save_file(panda_t *p, const char *path);
panda_err snapshot_load_file(panda_t *p, const char *path);
void snapshots_free(panda_t *p);

/* ---- record/replay (rr.c) -------------------------------------------------- */

typedef enum rr_feed_result {
    RR_NONE,              /* nothing due now */
    RR_FED,               /* input went in */
    RR_DONE,              /* the recording ends here */
    RR_DIVERGED,          /* the guest is not where the recording was (error set) */
} rr_feed_result;

panda_err rr_record_begin(panda_t *p, const char *name);
panda_err rr_record_end(panda_t *p);
panda_err rr_replay_begin(panda_t *p, const char *name);
void rr_replay_end(panda_t *p);
/* Between slices, live: move outside input into the devices that have room
 * (recording it when recording). */
void rr_pump_live(panda_t *p);
/* Between slices, replaying: feed the events due now. */
rr_feed_result rr_feed(panda_t *p);
/* Instructions the next slice may run before the next event (replay). */
uint64_t rr_budget(panda_t *p, uint64_t budget);
/* Has the replay an event due at this instruction count, waiting only on
 * virtual time (the guest is idle)?  *vtime: when. */
bool rr_event_due_at(panda_t *p, uint64_t icount, uint64_t *vtime);
double rr_progress(panda_t *p);
/* Disk reads are outside input too, taken by the device the moment the
 * guest asks (not between slices): recording logs each read's data (every
 * distinct sector once), replay hands the logged data back and checks the
 * guest asks for the same sectors at the same instruction count.  Returns
 * 0, or -1 when the replay diverged (the error says how; the run stops). */
void rr_disk_record(panda_t *p, uint8_t drive, uint64_t sector, const uint8_t *buf, uint32_t count);
/* Input that enters through the monitor rather than a channel's pump (a
 * disc inserted or ejected, PANDA_INPUT_MEDIA): logged now, when
 * recording; a replay hands it to the channel of that kind and index at
 * this instruction count. */
panda_err rr_input_record(panda_t *p, uint8_t kind, uint8_t index, const uint8_t *data, uint32_t len);
int rr_disk_replay(panda_t *p, uint8_t drive, uint64_t sector, uint8_t *buf, uint32_t count);
/* A replay that diverged inside a slice (a disk read) */
bool rr_diverged(panda_t *p);
/* Is live input waiting on any channel (or wait up to ms for some)? */
bool rr_live_input_pending(panda_t *p);
void rr_wait_live_input(panda_t *p, int ms);

/* ---- memory (memory.c) ----------------------------------------------------- */

/* Read up to len bytes at guest-virtual addr through the current page
 * tables, never faulting and setting no error: returns how many leading
 * bytes were readable. */
size_t memory_peek(panda_t *p, uint64_t addr, void *buf, size_t len);

/* ---- hooks and system calls (hooks.c, syscalls.c) -------------------------- */

/* Each keeps its state in the instance (p->hooks, p->memhooks,
 * p->syscalls), made on first use; freed with the instance, after its
 * plugins. */
struct panda_hooks;
struct panda_memhooks;
struct panda_syscalls;
void hooks_free(panda_t *p);
void memhooks_free(panda_t *p);

/* An insn_exec call is followed by a check that may leave the block before
 * the instruction runs (a stop asked for, an interrupt raised mid-block),
 * and the instruction then runs again later, calling insn_exec again: the
 * same execution.  hooks.c and syscalls.c report each execution once:
 * insn_exec_seen() is true for such a repeat (same pc, same instruction
 * count, and either the count is exact or a stop was pending after the
 * last call); insn_exec_done() notes the call just handled. */
typedef struct insn_exec_mark {
    uint64_t pc, icount;
    bool valid, exit_expected;
} insn_exec_mark;
static inline bool insn_exec_seen(panda_t *p, insn_exec_mark *m, uint64_t pc, uint64_t *icount)
{
    *icount = uc_panda_icount(p->uc);
    if (!(m->valid && m->pc == pc && m->icount == *icount && (*icount != 0 || m->exit_expected)))
        return false;
    m->exit_expected = false;   /* the repeat came: a count that is not exact says no more */
    return true;
}
static inline void insn_exec_done(panda_t *p, insn_exec_mark *m, uint64_t pc, uint64_t icount)
{
    m->valid = true;
    m->pc = pc;
    m->icount = icount;
    m->exit_expected = atomic_load(&p->stop_requested) || atomic_load(&p->restart_requested);
}
void syscalls_free(panda_t *p);

/* ---- monitor (monitor.c) --------------------------------------------------- */

void monitor_init(panda_t *p);
void monitor_free(panda_t *p);
/* Serve queued monitor commands (emulation thread, between slices). */
void monitor_serve(panda_t *p);

#endif
