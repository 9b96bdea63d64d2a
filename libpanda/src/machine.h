/*
 * The machine interface: what the core, callbacks, snapshots and
 * record/replay know of a machine.  Each machine (machine_<name>.c) fills
 * one panda_machine_ops; nothing outside its file tests which machine an
 * instance has.
 *
 * A run is a series of slices (core.c).  Before each, the machine brings
 * its devices up to the virtual clock and says how many instructions may
 * run before the next timer deadline; outside input enters between slices
 * (rr.c); after each, the machine says what the slice ended on.
 */
#ifndef LIBPANDA_MACHINE_H
#define LIBPANDA_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include <unicorn/panda_hooks.h>

#include "panda/callbacks.h"
#include "device.h"

typedef struct panda_machine panda_machine;  /* each machine's own state */

typedef enum slice_result {
    SLICE_CONTINUE,       /* run the next slice */
    SLICE_IDLE,           /* the CPU waits for an interrupt: nothing happens
                           * until the next deadline or outside input */
    SLICE_HALTED,         /* the guest executed HLT with nothing to wake it
                           * (bare machine): run() returns, may run again */
    SLICE_GUEST_OFF,      /* the guest powered off or halted for good */
    SLICE_GUEST_RESET,    /* the guest asked for a reset */
    SLICE_BOOT_FAILED,    /* the firmware found nothing to boot: run()
                           * fails with the stop reason */
    SLICE_REPLAY_DONE,    /* the replay reached the end of its recording */
    SLICE_ERROR,          /* the error text says what (e.g. a divergence) */
} slice_result;

typedef struct panda_machine_ops {
    const char *name;              /* -M NAME */
    const char *summary;           /* one line for the option help */
    const char *default_cpu;       /* -cpu when none is given; NULL: the engine's */
    /* the options only this machine takes, for "-X needs -M NAME" */
    bool takes_kernel;
    /* run() needs map_memory() first (the user provides all RAM) */
    bool needs_mapped_memory;
    /* a guest error (triple fault, ...) ends the machine for good */
    bool errors_end_guest;
    /* what an unhandled CPU exception means on this machine */
    const char *unhandled_exception;

    /* Build the machine on p's engine (RAM, devices, channels) and boot
     * it: put the CPU where the guest starts. */
    panda_err (*create)(panda_t *p, panda_machine **out);
    /* After the engine is closed (it maps the machine's RAM). */
    void (*destroy)(panda_machine *m);
    /* The machine's own engine hooks, merged into libpanda's. */
    void (*engine_hooks)(panda_machine *m, uc_panda_hooks *h);

    /* Devices catch up with the clock; returns the slice's instruction
     * budget (0: no limit). */
    uint64_t (*before_slice)(panda_machine *m);
    /* interrupted: the engine returned because libpanda asked it to. */
    slice_result (*after_slice)(panda_machine *m, bool interrupted);
    /* Virtual time (ns); the next timer deadline (PANDA_VTIME_NEVER: none);
     * skipping the clock forward to t while the CPU idles. */
    uint64_t (*vtime)(panda_machine *m);
    panda_vtime (*next_deadline)(panda_machine *m);
    void (*idle_until)(panda_machine *m, panda_vtime t);
    /* Why the guest stopped for good ("" while it can run). */
    const char *(*stop_reason)(panda_machine *m);
    /* What the firmware logged (SeaBIOS's debug port), not NUL-terminated
     * (NULL: the machine runs no firmware). */
    const char *(*firmware_log)(panda_machine *m, size_t *len);
    /* Write drive's overlay as a qcow2 whose backing file is its base image
     * (NULL: the machine has no disks). */
    panda_err (*commit_disk)(panda_machine *m, unsigned drive, const char *path);
    /* Removable media, as QEMU's monitor "change" and "eject": put the
     * image at path (format NULL: raw) into the drive named as QEMU names
     * it (ide1-cd0), or take the disc out (path NULL); force: even though
     * the guest locked the tray.  NULL: the machine has none. */
    panda_err (*change_media)(panda_machine *m, const char *drive, const char *path, const char *format,
                              bool force);
    /* "info block": a few lines per drive into out (as snprintf: returns
     * the length it wanted).  NULL: the machine has no drives. */
    size_t (*info_block)(panda_machine *m, char *out, size_t len);
    /* Does this callback type fire here, beyond the CPU's own? */
    bool (*cb_fires)(panda_machine *m, panda_cb_type type);
    /* Accesses to ports and addresses that nothing answers. */
    uint64_t (*open_bus_count)(panda_machine *m);

    /* Snapshots (all NULL: the machine has none). */
    uint8_t *(*ram)(panda_machine *m, uint64_t *size);
    panda_device *(*devices)(panda_machine *m, size_t *n);
    void (*save_clock)(panda_machine *m, state_writer *w);
    void (*load_clock)(panda_machine *m, state_reader *r);
    /* A snapshot was loaded: nothing of the old run is pending. */
    void (*loaded)(panda_machine *m);
} panda_machine_ops;

/* machines.c: every machine this build has, NULL-terminated. */
extern const panda_machine_ops *const panda_machines[];
const panda_machine_ops *panda_machine_find(const char *name);

#endif
