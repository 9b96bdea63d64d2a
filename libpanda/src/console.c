/*
 * The serial console between the guest's UART and the host.  The guest side
 * runs on the emulation thread; the host side (panda_serial_*) on any
 * thread, typically pypanda's driver thread while run() blocks the main one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Output the host never reads is dropped beyond this (oldest first), so a
 * chatty guest cannot exhaust memory. */
#define CONSOLE_OUT_MAX (16u << 20)

void console_init(panda_console *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->changed, &attr);
    pthread_condattr_destroy(&attr);
}

void console_free(panda_console *c)
{
    free(c->in);
    free(c->out);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
}

static bool append(uint8_t **buf, size_t *len, size_t *cap, const uint8_t *data, size_t n)
{
    if (*len + n > *cap) {
        size_t cap2 = *cap ? *cap : 256;
        while (cap2 < *len + n) cap2 *= 2;
        uint8_t *b = realloc(*buf, cap2);
        if (!b) return false;
        *buf = b;
        *cap = cap2;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
    return true;
}

void console_guest_output(panda_console *c, uint8_t byte, uint64_t icount)
{
    if (c->echo_stdout) {
        fputc(byte, stdout);
        if (byte == '\n') fflush(stdout);
    }
    pthread_mutex_lock(&c->lock);
    if (c->out_len >= CONSOLE_OUT_MAX) {
        size_t drop = c->out_len / 2;
        memmove(c->out, c->out + drop, c->out_len - drop);
        c->out_len -= drop;
    }
    append(&c->out, &c->out_len, &c->out_cap, &byte, 1);
    c->out_total++;
    c->last_out_icount = icount;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

size_t console_take_input(panda_console *c, uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&c->lock);
    size_t n = len < c->in_len ? len : c->in_len;
    memcpy(buf, c->in, n);
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

bool console_has_input(panda_console *c)
{
    pthread_mutex_lock(&c->lock);
    bool has = c->in_len > 0;
    pthread_mutex_unlock(&c->lock);
    return has;
}

static void deadline_after(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

bool console_wait_input(panda_console *c, int timeout_ms)
{
    struct timespec ts;
    deadline_after(&ts, timeout_ms);
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    while (c->in_len == 0 && rc == 0)
        rc = pthread_cond_timedwait(&c->changed, &c->lock, &ts);
    bool has = c->in_len > 0;
    pthread_mutex_unlock(&c->lock);
    return has;
}

void console_wake(panda_console *c)
{
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

/* ---- the host side ----------------------------------------------------- */

PANDA_EXPORT panda_err panda_serial_write(panda_t *p, const void *buf, size_t len)
{
    if (!p || (!buf && len)) return PANDA_ERR_ARG;
    if (p->nchannels == 0)
        return panda_set_error(p, PANDA_ERR_UNSUPPORTED,
                               "the %s machine has no serial port", p->mops->name);
    panda_console *c = &p->console;
    pthread_mutex_lock(&c->lock);
    bool ok = append(&c->in, &c->in_len, &c->in_cap, buf, len);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    if (!ok) return err_nomem(&p->err, "console input");
    return PANDA_OK; /* the run loop takes it between slices */
}

PANDA_EXPORT size_t panda_serial_read(panda_t *p, void *buf, size_t len)
{
    if (!p || !buf) return 0;
    panda_console *c = &p->console;
    pthread_mutex_lock(&c->lock);
    size_t n = len < c->out_len ? len : c->out_len;
    memcpy(buf, c->out, n);
    memmove(c->out, c->out + n, c->out_len - n);
    c->out_len -= n;
    pthread_mutex_unlock(&c->lock);
    return n;
}

PANDA_EXPORT size_t panda_serial_wait(panda_t *p, int timeout_ms)
{
    if (!p) return 0;
    panda_console *c = &p->console;
    struct timespec ts;
    deadline_after(&ts, timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&c->lock);
    int rc = 0;
    while (c->out_len == 0 && rc == 0 && p->running)
        rc = pthread_cond_timedwait(&c->changed, &c->lock, &ts);
    size_t n = c->out_len;
    pthread_mutex_unlock(&c->lock);
    return n;
}

PANDA_EXPORT uint64_t panda_serial_output_total(panda_t *p)
{
    if (!p) return 0;
    panda_console *c = &p->console;
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->out_total;
    pthread_mutex_unlock(&c->lock);
    return n;
}

PANDA_EXPORT uint64_t panda_serial_output_icount(panda_t *p)
{
    if (!p) return 0;
    panda_console *c = &p->console;
    pthread_mutex_lock(&c->lock);
    uint64_t n = c->last_out_icount;
    pthread_mutex_unlock(&c->lock);
    return n;
}
