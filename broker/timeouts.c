// SPDX-License-Identifier: MIT
//  timeouts - the broker's backstop for task timeouts: a min-heap of the
//  deadlines of dispatched tasks that have a timeout. The worker fails a
//  task that overruns (TimeoutError) and should always be first; this
//  catches a worker that is alive but stuck, or ignores its timer.
#include "broker_int.h"
#include "log.h"
#include "report.h"
#include "ticket.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

//  Past its timeout a task gets this long for the worker's own TimeoutError
//  to arrive before the broker fails it: at least a second, and two
//  heartbeats, so a DONE already on its way wins.
static double
s_grace (const broker_t *self)
{
    return fmax (1.0, 2 * self->cfg.heartbeat);
}

static void
s_swap (deadline_t *a, deadline_t *b)
{
    deadline_t t = *a;
    *a = *b;
    *b = t;
}

void
timeouts_arm (broker_t *self, const task_t *task)
{
    if (self->ndeadlines == self->cap_deadlines) {
        size_t cap = self->cap_deadlines ? self->cap_deadlines * 2 : 256;
        deadline_t *d = realloc (self->deadlines, cap * sizeof *d);
        if (!d) {
            //  The worker's own timer still applies.
            log_error ("out of memory", "what=deadline dropped=1");
            return;
        }
        self->deadlines = d;
        self->cap_deadlines = cap;
    }
    deadline_t *h = self->deadlines;
    size_t i = self->ndeadlines++;
    h[i] = (deadline_t) {
        .at = task->since + (double) task->wait + task->timeout + s_grace (self),
        .gen = task->gen,
        .seq = task->seq,
        .wait = task->wait,
    };
    while (i > 0 && h[(i - 1) / 2].at > h[i].at) {
        s_swap (&h[(i - 1) / 2], &h[i]);
        i = (i - 1) / 2;
    }
}

static void
s_pop (broker_t *self)
{
    deadline_t *h = self->deadlines;
    size_t n = --self->ndeadlines;
    h[0] = h[n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && h[l].at < h[m].at)
            m = l;
        if (r < n && h[r].at < h[m].at)
            m = r;
        if (m == i)
            break;
        s_swap (&h[i], &h[m]);
        i = m;
    }
}

size_t
timeouts_check (broker_t *self, double now, size_t max)
{
    size_t failed = 0, seen = 0;
    while (self->ndeadlines && self->deadlines[0].at <= now && seen < max) {
        deadline_t d = self->deadlines[0];
        s_pop (self);
        seen++;
        //  Stale unless the task is still out on the dispatch that armed it.
        task_t *task = tasks_find (self->tasks, d.gen, d.seq);
        if (!task || task->state != ZJ_STATE_RUNNING || !task->worker
            || task->wait != d.wait || (task->flags & TASK_UNSENT))
            continue;
        char ticket[TICKET_MAX + 1];
        ticket_format (d.gen, d.seq, ticket);
        char hex[129];
        worker_t *w = task->worker->owner;
        log_debug ("task timed out", "ticket=%s peer=%s timeout=%g", ticket,
                   peers_id_hex (&w->id, hex), task->timeout);
        char msg[96];
        int n = snprintf (msg, sizeof msg, "task exceeded its timeout of %g s", task->timeout);
        broker_abort (self, task);
        report_run (self, task, now);
        broker_error_payload (self, "TimeoutError", 12, msg, (size_t) n, "", 0);
        broker_finish (self, task, ZJ_STATE_FAILED, zj_enc_data (self->tmp),
                       zj_enc_size (self->tmp), now);
        failed++;
    }
    return failed;
}
