// SPDX-License-Identifier: MIT
//  attempts - the intern table of worker identities and each task's
//  attempt history (see attempts.h for what is kept where).
#include "attempts.h"
#include "mpread.h"
#include "tasks.h"
#include <stdlib.h>
#include <string.h>

struct attempts {
    attempt_who_t *head;        //  every identity made, newest first
};

attempts_t *
attempts_new (void)
{
    return calloc (1, sizeof (attempts_t));
}

void
attempts_destroy (attempts_t **self_p)
{
    attempts_t *self = *self_p;
    if (!self)
        return;
    while (self->head) {
        attempt_who_t *next = self->head->next;
        free (self->head);
        self->head = next;
    }
    free (self);
    *self_p = NULL;
}

const attempt_who_t *
attempts_intern (attempts_t *self, const char *host, int64_t pid)
{
    //  A linear list: identities come from READY (a few per worker
    //  process), never per task.
    for (attempt_who_t *w = self->head; w; w = w->next)
        if (w->pid == pid && strcmp (w->host, host) == 0)
            return w;
    size_t len = strlen (host);
    attempt_who_t *w = malloc (sizeof *w + len + 1);
    if (!w)
        return NULL;
    w->pid = pid;
    memcpy (w->host, host, len + 1);
    w->next = self->head;
    self->head = w;
    return w;
}

bool
attempts_log_push (attempt_log_t **log_p, const attempt_t *a)
{
    attempt_log_t *log = *log_p;
    if (!log || log->n == log->cap) {
        uint16_t cap = log && log->cap ? (uint16_t) (log->cap * 2) : 2;
        if (log && log->cap >= UINT16_MAX / 2)
            return false;
        attempt_log_t *grown = realloc (log, sizeof *grown + cap * sizeof grown->a[0]);
        if (!grown)
            return false;
        if (!log) {
            grown->n = 0;
            grown->retry_len = 0;
            grown->retry_on = NULL;
        }
        grown->cap = cap;
        *log_p = log = grown;
    }
    log->a[log->n++] = *a;
    return true;
}

void
attempts_log_free (attempt_log_t **log_p)
{
    if (*log_p)
        free ((*log_p)->retry_on);
    free (*log_p);
    *log_p = NULL;
}

bool
attempts_set_retry_on (attempt_log_t **log_p, const uint8_t *raw, size_t len)
{
    if (len > UINT32_MAX)
        return false;
    if (!*log_p) {
        attempt_log_t *log = calloc (1, sizeof *log);
        if (!log)
            return false;
        *log_p = log;
    }
    uint8_t *copy = malloc (len ? len : 1);
    if (!copy)
        return false;
    memcpy (copy, raw, len);
    free ((*log_p)->retry_on);
    (*log_p)->retry_on = copy;
    (*log_p)->retry_len = (uint32_t) len;
    return true;
}

bool
attempts_retry_on (const attempt_log_t *log, const char *type, size_t len)
{
    if (!log || !log->retry_on)
        return false;
    mpread_t r = {log->retry_on, log->retry_on + log->retry_len};
    mpread_item_t it;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY)
        return false;
    for (uint32_t i = 0, n = it.n; i < n; i++) {
        mpread_item_t s;
        if (!mpread_item (&r, &s) || s.kind != MPREAD_STR)
            return false;
        if (s.s.len == len && memcmp (s.s.ptr, type, len) == 0)
            return true;
    }
    return false;
}

static bool
s_eq (const char *s, size_t len, const char *lit)
{
    return len == strlen (lit) && memcmp (s, lit, len) == 0;
}

attempt_outcome_t
attempts_classify (const char *type, size_t tlen, const char *msg, size_t mlen)
{
    if (s_eq (type, tlen, "WorkerLost"))
        return ATTEMPT_LOST;
    if (s_eq (type, tlen, "TimeoutError"))
        return ATTEMPT_TIMEOUT;
    if (s_eq (type, tlen, "ProcessExited"))
        return ATTEMPT_CRASHED;
    //  An exec command killed by a signal crashed; one that exited with a
    //  status said it failed, which counts as raising.
    static const char sig[] = "killed by signal";
    if (s_eq (type, tlen, "ExecError") && mlen >= sizeof sig - 1)
        for (size_t i = 0; i + sizeof sig - 1 <= mlen; i++)
            if (memcmp (msg + i, sig, sizeof sig - 1) == 0)
                return ATTEMPT_CRASHED;
    return ATTEMPT_RAISED;
}

const char *
attempts_outcome_name (attempt_outcome_t outcome)
{
    static const char *names[] = {"running", "done", "raised", "crashed", "timeout", "lost",
                                  "cancelled"};
    return outcome <= ATTEMPT_CANCELLED ? names[outcome] : "unknown";
}

size_t
attempts_count (const task_t *task)
{
    size_t n = task->log ? task->log->n : 0;
    if (task->who && (task->state == ZJ_STATE_RUNNING || task->state == ZJ_STATE_DONE
                      || task->state == ZJ_STATE_FAILED || task->state == ZJ_STATE_CANCELLED))
        n++;
    return n;
}

//  The error type and message of a final failed task's payload.
static void
s_error_of (const task_t *task, attempt_t *out, attempt_outcome_t *outcome)
{
    size_t len;
    const uint8_t *p = tasks_payload (task, &len);
    *outcome = ATTEMPT_RAISED;
    if (!p)
        return;
    mpread_t r = {p, p + len};
    mpread_item_t it, type, msg;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY || it.n < 2
        || !mpread_item (&r, &type) || type.kind != MPREAD_STR
        || !mpread_item (&r, &msg) || msg.kind != MPREAD_STR)
        return;
    size_t n = type.s.len < sizeof out->error - 1 ? type.s.len : sizeof out->error - 1;
    memcpy (out->error, type.s.ptr, n);
    out->error[n] = '\0';
    *outcome = attempts_classify ((const char *) type.s.ptr, type.s.len,
                                  (const char *) msg.s.ptr, msg.s.len);
}

bool
attempts_at (const task_t *task, size_t i, attempt_t *out)
{
    size_t logged = task->log ? task->log->n : 0;
    if (i < logged) {
        *out = task->log->a[i];
        return true;
    }
    if (i != logged || i >= attempts_count (task))
        return false;
    memset (out, 0, sizeof *out);
    out->who = task->who;
    if (task->state == ZJ_STATE_RUNNING) {
        //  `since` is the submit time until the task is final.
        out->start = task->since + (double) task->wait;
        out->outcome = ATTEMPT_RUNNING;
        return true;
    }
    out->end = task->since;     //  final: the finish time
    out->start = task->since - (double) task->run;
    attempt_outcome_t outcome = ATTEMPT_DONE;
    if (task->state == ZJ_STATE_CANCELLED)
        outcome = ATTEMPT_CANCELLED;
    else if (task->state == ZJ_STATE_FAILED)
        s_error_of (task, out, &outcome);
    out->outcome = (uint8_t) outcome;
    return true;
}
