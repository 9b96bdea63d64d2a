/*
 * The monitor: text commands from any thread, answered by the emulation
 * thread between slices (or at once when the guest is not running).
 * libpanda answers "info registers", "info mem", "stop", "cont" and "q", the
 * snapshot commands (savevm, loadvm, delvm; savevm_file PATH and loadvm_file
 * PATH for a snapshot in a file), the record/replay commands, and (through
 * the machine) QEMU's removable media commands "change DEVICE FILE
 * [FORMAT]", "eject [-f] DEVICE" and "info block"; anything else goes to
 * PANDA's monitor callbacks, which reply with panda_monitor_printf.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

struct Monitor {
    panda_t *panda;
    const char *cmd;
    char *out;
    size_t outlen, outpos;
    bool done;
    panda_err status;
    struct Monitor *next;
};

void monitor_init(panda_t *p)
{
    pthread_mutex_init(&p->monitor_lock, NULL);
    pthread_cond_init(&p->monitor_cond, NULL);
    p->monitor_queue = NULL;
}

void monitor_free(panda_t *p)
{
    pthread_cond_destroy(&p->monitor_cond);
    pthread_mutex_destroy(&p->monitor_lock);
}

PANDA_EXPORT void panda_monitor_printf(Monitor *mon, const char *text)
{
    if (!mon || !text || !mon->out || mon->outpos + 1 >= mon->outlen) return;
    int n = snprintf(mon->out + mon->outpos, mon->outlen - mon->outpos, "%s", text);
    if (n > 0) {
        mon->outpos += (size_t)n;
        if (mon->outpos >= mon->outlen) mon->outpos = mon->outlen - 1;
    }
}

static void printf_to(Monitor *mon, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void printf_to(Monitor *mon, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    panda_monitor_printf(mon, line);
}

static void emit_line(void *mon, const char *line)
{
    panda_monitor_printf(mon, line);
}

static void info_registers(panda_t *p, Monitor *mon)
{
    for (int i = 0; i < panda_arch.nregs; i++) {
        uint64_t v = 0;
        panda_reg_read(&p->cpu, i, &v);
        printf_to(mon, "%s=%08llx%s", panda_arch.regs[i].name, (unsigned long long)v,
                  (i + 1) % 4 == 0 || i + 1 == panda_arch.nregs ? "\n" : " ");
    }
    printf_to(mon, "HLT=%d\n", uc_panda_halted(p->uc) ? 1 : 0);
}

/* "savevm NAME" and friends: the argument after the command word. */
static const char *arg_of(const char *cmd, const char *word)
{
    size_t n = strlen(word);
    if (strncmp(cmd, word, n) || (cmd[n] != ' ' && cmd[n] != 0)) return NULL;
    cmd += n;
    while (*cmd == ' ') cmd++;
    return cmd;
}

static void report(panda_t *p, Monitor *mon, panda_err e)
{
    mon->status = e;
    if (e) printf_to(mon, "error: %s\n", p->err.msg);
}

/* The next space-separated word of *s into w (at most n - 1 bytes);
 * false when there is none or it does not fit. */
static bool next_word(const char **s, char *w, size_t n)
{
    const char *p = *s;
    while (*p == ' ') p++;
    size_t len = strcspn(p, " ");
    if (!len || len >= n) return false;
    memcpy(w, p, len);
    w[len] = 0;
    *s = p + len;
    return true;
}

/* "change DEVICE FILE [FORMAT]", "eject [-f] DEVICE" */
static void media_command(panda_t *p, Monitor *mon, const char *arg, bool eject)
{
    if (!p->mops->change_media) {
        report(p, mon, panda_set_error(p, PANDA_ERR_UNSUPPORTED, "the %s machine has no removable media",
                                       p->mops->name));
        return;
    }
    char dev[64], file[4096], format[16];
    bool force = false;
    if (!next_word(&arg, dev, sizeof dev)) goto usage;
    if (eject && !strcmp(dev, "-f")) {
        force = true;
        if (!next_word(&arg, dev, sizeof dev)) goto usage;
    }
    if (eject) {
        if (arg[strspn(arg, " ")]) goto usage;
        report(p, mon, p->mops->change_media(p->machine, dev, NULL, NULL, force));
        return;
    }
    if (!next_word(&arg, file, sizeof file)) goto usage;
    bool fmt = next_word(&arg, format, sizeof format);
    if (arg[strspn(arg, " ")]) goto usage;
    report(p, mon, p->mops->change_media(p->machine, dev, file, fmt ? format : NULL, false));
    return;
usage:
    report(p, mon, panda_set_error(p, PANDA_ERR_ARG, "usage: %s", eject ? "eject [-f] DEVICE"
                                                                      : "change DEVICE FILE [raw|qcow2]"));
}

/* Runs on the emulation thread (or the caller's when not running), so
 * state can change between slices. */
static void execute(panda_t *p, Monitor *mon)
{
    const char *cmd = mon->cmd, *arg;
    while (*cmd == ' ') cmd++;
    mon->status = PANDA_OK;
    if ((arg = arg_of(cmd, "savevm")) && *arg) {
        report(p, mon, snapshot_save_named(p, arg));
    } else if ((arg = arg_of(cmd, "loadvm")) && *arg) {
        report(p, mon, snapshot_load_named(p, arg));
    } else if ((arg = arg_of(cmd, "savevm_file")) && *arg) {
        report(p, mon, snapshot_save_file(p, arg));
    } else if ((arg = arg_of(cmd, "loadvm_file")) && *arg) {
        report(p, mon, snapshot_load_file(p, arg));
    } else if ((arg = arg_of(cmd, "delvm")) && *arg) {
        report(p, mon, snapshot_delete_named(p, arg));
    } else if ((arg = arg_of(cmd, "begin_record")) && *arg) {
        report(p, mon, rr_record_begin(p, arg));
    } else if (arg_of(cmd, "end_record")) {
        report(p, mon, rr_record_end(p));
    } else if (arg_of(cmd, "end_replay")) {
        if (p->rr_mode != RR_REPLAY) report(p, mon, panda_set_error(p, PANDA_ERR_STATE, "not replaying"));
        else panda_replay_end(p);
    } else if ((arg = arg_of(cmd, "change"))) {
        media_command(p, mon, arg, false);
    } else if ((arg = arg_of(cmd, "eject"))) {
        media_command(p, mon, arg, true);
    } else if (!strcmp(cmd, "info block") && p->mops->info_block) {
        char buf[4096];
        p->mops->info_block(p->machine, buf, sizeof buf);
        panda_monitor_printf(mon, buf);
    } else if (!strcmp(cmd, "info registers")) {
        info_registers(p, mon);
    } else if (!strcmp(cmd, "info mem")) {
        if (!panda_arch.info_mem || !panda_arch.info_mem(p->uc, emit_line, mon))
            printf_to(mon, "PG disabled\n");
    } else if (!strcmp(cmd, "stop")) {
        p->paused = true;
    } else if (!strcmp(cmd, "cont") || !strcmp(cmd, "c")) {
        p->paused = false;
    } else if (!strcmp(cmd, "q") || !strcmp(cmd, "quit")) {
        p->paused = false;
        panda_stop(p);
    } else {
        if (!panda_dispatch_monitor(p, mon, cmd)) printf_to(mon, "unknown command: '%s'\n", cmd);
    }
}

void monitor_serve(panda_t *p)
{
    pthread_mutex_lock(&p->monitor_lock);
    for (;;) {
        while (p->monitor_queue) {
            Monitor *mon = p->monitor_queue;
            p->monitor_queue = mon->next;
            pthread_mutex_unlock(&p->monitor_lock);
            execute(p, mon);
            pthread_mutex_lock(&p->monitor_lock);
            mon->done = true;
            pthread_cond_broadcast(&p->monitor_cond);
        }
        /* "stop": hold the guest until "cont", "q" or a stop request */
        if (!p->paused || !p->running || atomic_load(&p->stop_requested)) break;
        pthread_cond_wait(&p->monitor_cond, &p->monitor_lock);
    }
    pthread_mutex_unlock(&p->monitor_lock);
}

PANDA_EXPORT bool panda_wait_running(panda_t *p, int timeout_ms)
{
    if (!p) return false;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->monitor_lock);
    int rc = 0;
    while (!p->running && rc == 0) rc = pthread_cond_timedwait(&p->monitor_cond, &p->monitor_lock, &ts);
    bool running = p->running;
    pthread_mutex_unlock(&p->monitor_lock);
    return running;
}

PANDA_EXPORT panda_err panda_monitor_cmd(panda_t *p, const char *cmd, char *out, size_t outlen)
{
    if (!p) return PANDA_ERR_ARG;
    if (!cmd || (!out && outlen))
        return panda_set_error(p, PANDA_ERR_ARG, "panda_monitor_cmd: NULL %s", cmd ? "reply buffer" : "command");
    Monitor mon = {.panda = p, .cmd = cmd, .out = out, .outlen = outlen};
    if (out && outlen) out[0] = 0;
    pthread_mutex_lock(&p->monitor_lock);
    if (!p->running) {
        pthread_mutex_unlock(&p->monitor_lock);
        execute(p, &mon);
        return mon.status;
    }
    mon.next = NULL;
    Monitor **tail = &p->monitor_queue;
    while (*tail) tail = &(*tail)->next;
    *tail = &mon;
    pthread_cond_broadcast(&p->monitor_cond);
    /* the run loop serves it between slices, also when it ends */
    while (!mon.done) pthread_cond_wait(&p->monitor_cond, &p->monitor_lock);
    pthread_mutex_unlock(&p->monitor_lock);
    return mon.status;
}
