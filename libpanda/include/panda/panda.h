/*
 * pypanda public ABI (libpanda_<arch>.so).
 *
 * This header is the whole interface: pypanda's ctypes layer binds to
 * nothing else, and only panda_* symbols are exported.  Conventions:
 *  - fallible functions return panda_err (0 = PANDA_OK); panda_strerror()
 *    names a code and panda_last_error() gives the instance's detail text;
 *  - an instance is single-threaded except panda_stop() and
 *    panda_end_analysis(), which any thread may call;
 *  - memory the library returns is owned by the library.
 *
 * Versioning: PANDA_API_MAJOR changes when an existing declaration changes
 * meaning or layout; PANDA_API_MINOR when declarations are added.  A caller
 * built for MAJOR.x works with any library of the same MAJOR and a MINOR
 * >= x (check with panda_version()).
 */
#ifndef PANDA_PANDA_H
#define PANDA_PANDA_H

#include "panda/types.h"
#include "panda/callbacks.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PANDA_API_MAJOR 0
#define PANDA_API_MINOR 5

/* ---- library ---------------------------------------------------------- */

PANDA_EXPORT void panda_version(uint32_t *major, uint32_t *minor);
/* The guest architecture this library emulates ("i386", ...). */
PANDA_EXPORT const char *panda_arch_name(void);
PANDA_EXPORT const char *panda_strerror(panda_err err);
/* PANDA's lower-case callback name ("before_block_exec"), NULL if unknown. */
PANDA_EXPORT const char *panda_cb_name(panda_cb_type type);

/* What this library's guest architecture is. */
typedef struct panda_arch_facts {
    uint32_t struct_size;      /* sizeof(panda_arch_facts) of the library */
    uint32_t bits;             /* guest word size: 32 on i386 */
    uint32_t register_size;    /* bytes in a general-purpose register */
    uint32_t big_endian;       /* 0: little-endian guest */
    uint32_t ncpu_models;      /* panda_cpu_model_name(0 .. ncpu_models-1) */
    uint32_t nregs;            /* panda_reg_name(0 .. nregs-1) */
    const char *name;          /* "i386" */
    const char *default_machine;
    const char *hypercall;     /* the instruction that fires guest_hypercall ("cpuid") */
} panda_arch_facts;

/* Fill *out (size: the caller's sizeof(panda_arch_facts), at least this
 * header's). */
PANDA_EXPORT panda_err panda_arch_info(panda_arch_facts *out, size_t size);
/* QEMU's -cpu name of model i, NULL past the last. */
PANDA_EXPORT const char *panda_cpu_model_name(uint32_t i);

/* ---- instances --------------------------------------------------------- */

/*
 * Create an instance from QEMU-style options (argv without a program
 * name; panda_options_help() lists them).  On failure *out is NULL and err
 * (if not NULL) receives the reason.
 */
PANDA_EXPORT panda_err panda_create(int argc, const char *const *argv,
                                    panda_t **out, char *err, size_t errlen);
/* The options panda_create understands, one per line, into buf (NUL
 * terminated, cut to len); returns the full text's length.  "-help" among
 * the options fails panda_create with this text as its error. */
PANDA_EXPORT size_t panda_options_help(char *buf, size_t len);
PANDA_EXPORT void panda_destroy(panda_t *p);
/* Fire the pre_shutdown callbacks now, unless they already fired: they
 * fire once per instance, when the guest stops for good (powers off,
 * resets with -no-reboot, triple-faults) or else in panda_destroy.  For a
 * caller whose callbacks must run while it can still serve them, before
 * it destroys the instance. */
PANDA_EXPORT void panda_pre_shutdown(panda_t *p);
/* Detail of the last error this instance reported (never NULL). */
PANDA_EXPORT const char *panda_last_error(panda_t *p);
PANDA_EXPORT const char *panda_machine_name(panda_t *p);
PANDA_EXPORT uint64_t panda_ram_size(panda_t *p);
PANDA_EXPORT CPUState *panda_get_cpu(panda_t *p);
/* Does this callback type fire on this instance's machine? */
PANDA_EXPORT bool panda_cb_fires(panda_t *p, panda_cb_type type);

/* ---- running ----------------------------------------------------------- */

/*
 * Run the guest until panda_end_analysis() or panda_stop(), a guest
 * error, the guest powering off or resetting (pc), or a HLT (bare
 * machine).  Callbacks run on the calling thread.  Calling it again
 * continues where the last run stopped.
 */
PANDA_EXPORT panda_err panda_run(panda_t *p);
/* Wait up to timeout_ms until panda_run has started (any thread): a
 * driver thread calls this first, so that its monitor commands are
 * served between slices rather than racing the run's start.  true: it
 * runs now. */
PANDA_EXPORT bool panda_wait_running(panda_t *p, int timeout_ms);
/* Ask the running guest to stop.  It stops at the next block start: the
 * translated block that is running (up to its jump, or an instruction that
 * ends blocks such as I/O) completes first, and no instruction is left
 * half done or run twice.  A stop asked for while no run is on ends the
 * next run before it starts. */
PANDA_EXPORT void panda_stop(panda_t *p);
/* PANDA's name for panda_stop(); panda_run() may be called again to
 * continue. */
PANDA_EXPORT void panda_end_analysis(panda_t *p);
/* 1: the last run ended because the guest halted (bare machine: HLT;
 * pc: powered off or reset; panda_last_error() says which). */
PANDA_EXPORT bool panda_guest_halted(panda_t *p);
/* Drop all translated code at the next safe point. */
PANDA_EXPORT void panda_flush_tb(panda_t *p);
PANDA_EXPORT void panda_enable_tb_chaining(panda_t *p);
PANDA_EXPORT void panda_disable_tb_chaining(panda_t *p);
PANDA_EXPORT void panda_enable_memcb(panda_t *p);
PANDA_EXPORT void panda_disable_memcb(panda_t *p);

/* ---- memory ------------------------------------------------------------ */

/* Map RAM (page-rounded) at a guest-physical address. */
PANDA_EXPORT panda_err panda_map_memory(panda_t *p, const char *name,
                                        uint64_t size, uint64_t addr);
PANDA_EXPORT panda_err panda_physical_memory_read(panda_t *p, hwaddr addr,
                                                  void *buf, size_t len);
PANDA_EXPORT panda_err panda_physical_memory_write(panda_t *p, hwaddr addr,
                                                   const void *buf, size_t len);
/* Through the guest's page tables as the CPU sees them now. */
PANDA_EXPORT panda_err panda_virtual_memory_read(CPUState *cpu, target_ulong addr,
                                                 void *buf, size_t len);
PANDA_EXPORT panda_err panda_virtual_memory_write(CPUState *cpu, target_ulong addr,
                                                  const void *buf, size_t len);
PANDA_EXPORT panda_err panda_virt_to_phys(CPUState *cpu, target_ulong addr,
                                          hwaddr *out);

/* ---- registers --------------------------------------------------------- */

/* Register ids are this library's: 0 .. panda_reg_count()-1. */
PANDA_EXPORT int panda_reg_count(void);
PANDA_EXPORT const char *panda_reg_name(int id);
/* Case-insensitive name ("EAX", "eip", "pc", "cr3", "al") to id; -1 if unknown. */
PANDA_EXPORT int panda_reg_id(const char *name);
PANDA_EXPORT panda_err panda_reg_read(CPUState *cpu, int id, uint64_t *value);
PANDA_EXPORT panda_err panda_reg_write(CPUState *cpu, int id, uint64_t value);
PANDA_EXPORT target_ulong panda_current_pc(CPUState *cpu);

/* ---- the pc machine's console, monitor and clock ------------------------ */

/* Queue bytes for the guest's serial port (COM1), as if typed; any thread.
 * They enter the UART's receive FIFO as the guest makes room. */
PANDA_EXPORT panda_err panda_serial_write(panda_t *p, const void *buf, size_t len);
/* Take up to len bytes the guest sent; any thread; returns how many. */
PANDA_EXPORT size_t panda_serial_read(panda_t *p, void *buf, size_t len);
/* Wait up to timeout_ms until output is available or the run ends;
 * returns the bytes available. */
PANDA_EXPORT size_t panda_serial_wait(panda_t *p, int timeout_ms);
/* Bytes the guest has sent since the instance was created. */
PANDA_EXPORT uint64_t panda_serial_output_total(panda_t *p);
/* The guest's instruction count when it sent its last byte. */
PANDA_EXPORT uint64_t panda_serial_output_icount(panda_t *p);
/* Run a monitor command from any thread and put its reply in out.  Handled
 * here: "info registers", "stop", "cont", "q"; others go to the monitor
 * callbacks. */
PANDA_EXPORT panda_err panda_monitor_cmd(panda_t *p, const char *cmd, char *out, size_t outlen);
/* Append text to a monitor command's reply (from a monitor callback). */
PANDA_EXPORT void panda_monitor_printf(Monitor *mon, const char *text);
/* Guest instructions retired so far (the pc machine counts exactly). */
PANDA_EXPORT uint64_t panda_instr_count(panda_t *p);
/* Virtual time in ns: instructions plus time skipped while idle. */
PANDA_EXPORT uint64_t panda_vtime_ns(panda_t *p);
/* Accesses to ports and physical addresses that nothing answers. */
PANDA_EXPORT uint64_t panda_open_bus_count(panda_t *p);
/* What the firmware wrote to its debug port (SeaBIOS's log on the pc
 * machine booting -bios): copies up to len bytes (no NUL added) to buf,
 * which may be NULL, and returns the log's whole length (0: no firmware). */
PANDA_EXPORT size_t panda_firmware_log(panda_t *p, char *buf, size_t len);

/* ---- snapshots and record/replay (pc machine) ---------------------------- */
/*
 * These act on a stopped machine; while it runs, send the monitor commands
 * "savevm NAME", "loadvm NAME", "delvm NAME", "begin_record NAME",
 * "end_record" and "end_replay", which run between slices.
 */

/* A snapshot of the whole machine (CPU, RAM, devices, clock), by name in
 * memory or in a file. */
PANDA_EXPORT panda_err panda_snap(panda_t *p, const char *name);
PANDA_EXPORT panda_err panda_revert(panda_t *p, const char *name);
PANDA_EXPORT panda_err panda_delvm(panda_t *p, const char *name);
PANDA_EXPORT panda_err panda_snapshot_save_file(panda_t *p, const char *path);
PANDA_EXPORT panda_err panda_snapshot_load_file(panda_t *p, const char *path);
/* Save the guest's writes to IDE drive `drive` (0: -hda) as a new qcow2
 * at path whose backing file is the drive's image (never written itself). */
PANDA_EXPORT panda_err panda_commit_disk(panda_t *p, uint32_t drive, const char *path);
/* Record from now: writes NAME-rr-snp, then NAME-rr-nondet.log as input
 * arrives; panda_record_end completes the log. */
PANDA_EXPORT panda_err panda_record_begin(panda_t *p, const char *name);
PANDA_EXPORT panda_err panda_record_end(panda_t *p);
/* Load NAME's snapshot and log; the next panda_run replays them and
 * returns at the recording's end (or fails with PANDA_ERR_DIVERGED). */
PANDA_EXPORT panda_err panda_replay_begin(panda_t *p, const char *name);
/* Stop a replay early (any thread). */
PANDA_EXPORT void panda_replay_end(panda_t *p);
/* 0 off, 1 recording, 2 replaying */
PANDA_EXPORT int panda_rr_mode(panda_t *p);
/* Fraction of the replay done, or -1 when not replaying. */
PANDA_EXPORT double panda_replay_progress(panda_t *p);
/* Did the last run end at its recording's end? */
PANDA_EXPORT bool panda_replay_finished(panda_t *p);

/* ---- address hooks and system calls ------------------------------------ */
/*
 * Both are filtered in the library: only the instructions they concern are
 * instrumented (an internal plugin's insn_translate/insn_exec callbacks,
 * registered only while a hook exists or the system-call callback is set),
 * and every other instruction runs at full speed.  PANDA's rule applies to
 * that instrumentation: insn_exec callbacks registered by anyone else also
 * fire before the instructions hooks and system-call detection instrument.
 * Everything here is per instance and acts identically in a replay (it is
 * driven by the instructions the guest executes).
 *
 * Address spaces: an asid is CR3 (x86).  Filters and the system-call
 * thread key compare (CR3 & ~0x1FFF) on both sides, so the two halves of a
 * PTI page-table pair (CR3 bit 12) and the PCID bits count as one address
 * space.  (Without PTI, Linux's 32-bit PAE page directories are 32-byte
 * slabs: two processes whose directories share an 8 KiB region would then
 * count as one.)
 */

/* Address hooks.  fn runs before each execution of the instruction at pc
 * (a guest-virtual address; with several hooks at one pc, in the order they
 * were added), only when the hook is enabled and its filters match:
 *   asid:   0 any address space, else (asid & ~0x1FFF) == (CR3 & ~0x1FFF);
 *   kernel: -1 any privilege, 0 user mode only (CPL 3), 1 kernel only (CPL 0).
 * fn may read and write registers and memory (the instruction has not run
 * yet), and may add, enable, disable and remove hooks, itself included;
 * what it changes applies from the next instruction.  A hook added for a pc
 * already translated takes effect at the next block start (translated code
 * is dropped when a pc is newly instrumented).  *id_out receives the hook's
 * id: nonzero, never reused by this instance. */
typedef void (*panda_hook_fn)(CPUState *cpu, uint32_t hook_id, target_ulong pc, void *opaque);
PANDA_EXPORT panda_err panda_hook_add(panda_t *p, target_ulong pc, uint64_t asid, int32_t kernel,
                                      panda_hook_fn fn, void *opaque, uint32_t *id_out);
/* PANDA_ERR_ARG for an id that is not a live hook of this instance. */
PANDA_EXPORT panda_err panda_hook_set_enabled(panda_t *p, uint32_t id, bool enabled);
PANDA_EXPORT panda_err panda_hook_remove(panda_t *p, uint32_t id);
/* Calls made to the hook's fn so far (0 for an unknown or removed id). */
PANDA_EXPORT uint64_t panda_hook_hits(panda_t *p, uint32_t id);

/* Memory hooks (PANDA's mem_hooks plugin): fn runs for each guest data
 * access (not instruction fetches) that overlaps [start, end] (both
 * inclusive) and is of a kind the hook's flags name: at least one of
 * PANDA_MEM_BEFORE / PANDA_MEM_AFTER, one of PANDA_MEM_READ /
 * PANDA_MEM_WRITE and one of PANDA_MEM_VIRTUAL / PANDA_MEM_PHYSICAL (the
 * address compared is the access's virtual or physical one).  They are
 * made of the virt/phys_mem_* callbacks of the kinds some hook needs, and
 * they turn panda_enable_memcb() on while a memory hook exists (as PANDA's
 * plugin does; the memory callbacks of every plugin then fire), restoring
 * what it was when the last one goes.  Every access then takes the
 * engine's slow path: expect the guest to run several times slower.  The
 * filtering is done here, so only matching accesses reach fn.  fn may add,
 * enable, disable and remove memory hooks, its own included. */
#define PANDA_MEM_BEFORE 1
#define PANDA_MEM_AFTER 2
#define PANDA_MEM_READ 4
#define PANDA_MEM_WRITE 8
#define PANDA_MEM_VIRTUAL 16
#define PANDA_MEM_PHYSICAL 32
typedef struct panda_mem_access {
    uint32_t struct_size;    /* sizeof(panda_mem_access) of the library */
    uint32_t flags;          /* this access: one each of BEFORE/AFTER, READ/WRITE, VIRTUAL/PHYSICAL */
    uint64_t pc;             /* the accessing instruction */
    uint64_t addr;           /* the address compared with the range */
    uint64_t size;           /* bytes accessed */
    uint8_t *buf;            /* the data (NULL before a read); writing it before a write changes what is stored */
    uint32_t hook_id;
    uint32_t reserved;
} panda_mem_access;
typedef void (*panda_mem_hook_fn)(CPUState *cpu, const panda_mem_access *access, void *opaque);
PANDA_EXPORT panda_err panda_mem_hook_add(panda_t *p, uint64_t start, uint64_t end, uint32_t flags,
                                          panda_mem_hook_fn fn, void *opaque, uint32_t *id_out);
/* PANDA_ERR_ARG for an id that is not a live memory hook of this instance. */
PANDA_EXPORT panda_err panda_mem_hook_set_enabled(panda_t *p, uint32_t id, bool enabled);
PANDA_EXPORT panda_err panda_mem_hook_remove(panda_t *p, uint32_t id);
/* Calls made to the memory hook's fn so far (0 for an unknown or removed id). */
PANDA_EXPORT uint64_t panda_mem_hook_hits(panda_t *p, uint32_t id);

/*
 * System calls, as the guest's user mode (CPL 3) makes them.  i386: `int
 * $0x80` (kind 0) and `sysenter` (kind 1); x86_64 (later): `syscall` (kind
 * 2).  Detection decodes the instruction bytes at translation time through
 * the guest's page tables (an unreadable pc is not a system call) and
 * instruments the system-call instructions and the return sites: the first
 * instruction of every block whose two preceding bytes are `int $0x80`.
 * After `int $0x80` at X the thread resumes at X+2; after `sysenter` at X
 * followed by `int $0x80` (Linux's vDSO __kernel_vsyscall: push ecx; push
 * edx; push ebp; mov ebp,esp; sysenter; int $0x80; pop ebp; ...) the kernel
 * resumes the thread at X+4, the landing pad (a restarted call goes through
 * the int $0x80 at X+2 and comes back there too).  A sysenter not followed
 * by `int $0x80` gets return_pc X+2, where no return is detected.
 *
 * Returns: a call whose (number, return) is watched leaves a pending record
 * keyed by its thread, (asid & ~0x1FFF, user stack pointer), and return_pc;
 * when that thread next executes return_pc with that stack pointer, fn runs
 * with is_return true, the entry's fields and retval.  At most 512 calls
 * wait (the oldest is dropped beyond that); a new call from a thread drops
 * the one still pending from it (a call that never returned: a successful
 * execve, a signal that longjmp'd away); exit (1) and exit_group (252) never
 * return and leave no record.  Calls made from kernel mode are ignored.
 */
#define PANDA_SYSCALL_INT80 0      /* panda_syscall.kind */
#define PANDA_SYSCALL_SYSENTER 1
#define PANDA_SYSCALL_SYSCALL 2
/* The numbers panda_syscalls_watch takes: 0 .. PANDA_SYSCALL_MAX_NUMBER-1, or -1 */
#define PANDA_SYSCALL_MAX_NUMBER 4096
/* Calls waiting for their return at most */
#define PANDA_SYSCALL_MAX_PENDING 512
typedef struct panda_syscall {
    uint32_t struct_size;    /* sizeof(panda_syscall) of the library */
    int32_t number;          /* EAX at entry */
    uint32_t kind;           /* 0 int 0x80, 1 sysenter, 2 syscall */
    uint32_t reserved;
    uint64_t pc;             /* the system-call instruction */
    uint64_t return_pc;      /* where the thread resumes in user mode */
    uint64_t asid;           /* CR3 at entry (unmasked) */
    uint64_t sp;             /* user stack pointer at entry (thread key with asid) */
    uint64_t args[6];        /* i386: ebx ecx edx esi edi ebp (sysenter: the sixth from [ebp], 0 if unreadable) */
    int64_t retval;          /* at return: EAX sign-extended; 0 at entry */
    uint64_t enter_icount;   /* panda_instr_count() at entry (counts whole blocks; the call ends its block) */
} panda_syscall;
/* call is valid during the callback only; fn may read and write registers
 * and memory (at entry, before the kernel sees them; at return, before user
 * code does), change the watch set and turn detection off. */
typedef void (*panda_syscall_fn)(CPUState *cpu, const panda_syscall *call, bool is_return, void *opaque);
/* Turn detection on with fn as its one callback (replacing any), or off
 * with NULL (which drops pending returns).  The watch set stays. */
PANDA_EXPORT panda_err panda_syscalls_set_callback(panda_t *p, panda_syscall_fn fn, void *opaque);
/* Which calls reach fn: (number, entry) and (number, return) pairs, for
 * numbers 0..4095, and the same for every number at once (number -1; EAX
 * values outside 0..4095 match only this one).  A call reaches fn if its
 * number's pair or the every-number pair is watched.  unwatch(-1) clears
 * the every-number pairs only, not the numbers watched one by one.
 * PANDA_ERR_ARG for another number.  Nothing is watched at first. */
PANDA_EXPORT panda_err panda_syscalls_watch(panda_t *p, int32_t number, bool on_enter, bool on_return);
PANDA_EXPORT panda_err panda_syscalls_unwatch(panda_t *p, int32_t number, bool on_enter, bool on_return);
/* System-call instructions executed in user mode while detection was on
 * (watched or not). */
PANDA_EXPORT uint64_t panda_syscalls_seen(panda_t *p);
/* Pending returns dropped so far (the table was full). */
PANDA_EXPORT uint64_t panda_syscalls_dropped(panda_t *p);

/* ---- plugins and callbacks --------------------------------------------- */

/*
 * A plugin is a named owner of callbacks.  panda_plugin_create makes one
 * (its handle is what PANDA calls the plugin's void *); 
 * panda_load_external_plugin also calls init(handle), which registers the
 * plugin's callbacks and returns true, as PANDA's init_plugin does.
 */
typedef struct panda_plugin panda_plugin;
typedef bool (*panda_plugin_init_fn)(void *handle);

PANDA_EXPORT panda_err panda_plugin_create(panda_t *p, const char *name,
                                           panda_plugin **out);
PANDA_EXPORT panda_err panda_load_external_plugin(panda_t *p, const char *name,
                                                  panda_plugin_init_fn init,
                                                  panda_plugin **out);
/* Unregister the plugin's callbacks and free it. */
PANDA_EXPORT void panda_unload_plugin(panda_plugin *plugin);

/* cb is the union member that matches type; registering the same
 * (plugin, type, function) twice is one registration. */
PANDA_EXPORT panda_err panda_register_callback(panda_plugin *plugin,
                                               panda_cb_type type, panda_cb cb);
PANDA_EXPORT panda_err panda_unregister_callback(panda_plugin *plugin,
                                                 panda_cb_type type, panda_cb cb);
PANDA_EXPORT panda_err panda_enable_callback(panda_plugin *plugin,
                                             panda_cb_type type, panda_cb cb);
PANDA_EXPORT panda_err panda_disable_callback(panda_plugin *plugin,
                                              panda_cb_type type, panda_cb cb);
PANDA_EXPORT void panda_unregister_callbacks(panda_plugin *plugin);

#ifdef __cplusplus
}
#endif

#endif
