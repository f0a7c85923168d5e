// SPDX-License-Identifier: MIT
//  recover - what the broker does with a store's contents at start:
//  earlier generations (so their deleted tickets read as expired),
//  remembered submits, and tasks: queued ones queued again in submit
//  order, ones that were out on a worker queued again with that attempt
//  counted (or failed WorkerLost), final ones kept for their retention;
//  each with its attempt history, retry_on and dead-letter mark.
#include "broker_int.h"
#include <stdio.h>
#include <string.h>

typedef struct {
    broker_t *broker;           //  where records go
    double now;                 //  to turn ages into times
    double offset;              //  unix time minus the monotonic clock
    broker_recovery_t found;    //  counts
} recover_t;

static zj_err_t
s_generation (void *arg, uint64_t gen, uint64_t max_seq)
{
    recover_t *r = arg;
    if (!tasks_add_generation (r->broker->tasks, gen, max_seq))
        return ZJ_ENOMEM;
    r->found.generations++;
    return ZJ_OK;
}

static zj_err_t
s_submit (void *arg, const store_submit_t *sub)
{
    recover_t *r = arg;
    broker_t *self = r->broker;
    if (dedup_find (self->dedup, sub->client, sub->req))
        return ZJ_OK;
    if (!dedup_add (self->dedup, sub->client, sub->req, sub->gen, sub->seq, sub->count,
                    r->now - sub->age))
        return ZJ_ENOMEM;
    r->found.submits++;
    return ZJ_OK;
}

//  A task that was out on a worker when the broker stopped: that run is
//  lost as if with its worker (which is unknown: dispatches are recorded
//  without it). Returns true when the task may run again.
static bool
s_lost_attempt (broker_t *self, task_t *task, const store_record_t *rec, double now,
                double offset)
{
    double start = rec->dispatched > 0 ? rec->dispatched - offset : now;
    if (task->attempts < UINT16_MAX)
        task->attempts++;
    if (task->attempts <= task->max_retries) {
        attempt_t a = {.start = start, .end = now, .outcome = ATTEMPT_LOST,
                       .error = "WorkerLost"};
        broker_log_attempt (self, task, &a);
        return true;
    }
    //  Finished as the run it was: broker_finish measures it from `wait`.
    task->state = ZJ_STATE_RUNNING;
    task->who = attempts_intern (self->attempts, "", 0);
    task->wait = (float) (start - task->since);
    broker_fail_lost (self, task, now);
    return false;
}

//  The interned identity of a stored worker (host, pid).
static const attempt_who_t *
s_who (broker_t *self, zj_str_t host, int64_t pid)
{
    char text[256];
    size_t len = host.len < sizeof text - 1 ? host.len : sizeof text - 1;
    memcpy (text, host.ptr ? host.ptr : "", len);
    text[len] = '\0';
    return attempts_intern (self->attempts, text, pid);
}

//  The history a record brings back: earlier runs, the run that
//  finished it, retry_on and the dead-letter mark.
static zj_err_t
s_history (broker_t *self, task_t *task, const store_record_t *rec, double offset)
{
    for (size_t i = 0; i < rec->nruns; i++) {
        const store_attempt_t *sa = &rec->runs[i];
        attempt_t a = {
            .start = sa->start > 0 ? sa->start - offset : 0,
            .end = sa->end - offset,
            .outcome = sa->outcome <= ATTEMPT_CANCELLED ? sa->outcome : ATTEMPT_LOST,
        };
        if (sa->host.len || sa->pid)
            a.who = s_who (self, sa->host, sa->pid);
        size_t elen = sa->error.len < sizeof a.error - 1 ? sa->error.len : sizeof a.error - 1;
        memcpy (a.error, sa->error.ptr ? sa->error.ptr : "", elen);
        if (!attempts_log_push (&task->log, &a))
            return ZJ_ENOMEM;
    }
    if (rec->retry_on && !attempts_set_retry_on (&task->log, rec->retry_on, rec->retry_len))
        return ZJ_ENOMEM;
    if (zj_state_is_final (rec->state) && (rec->run > 0 || rec->host.len || rec->pid)) {
        task->who = s_who (self, rec->host, rec->pid);
        task->run = (float) rec->run;
    }
    if (rec->state == ZJ_STATE_FAILED && rec->dead) {
        task->flags |= TASK_DEAD;
        self->dead++;
    }
    return ZJ_OK;
}

static zj_err_t
s_task (void *arg, const store_record_t *rec)
{
    recover_t *r = arg;
    broker_t *self = r->broker;
    sched_fn_t *fn = sched_fn_get (self->sched, rec->fn.ptr, rec->fn.len);
    if (!fn)
        return ZJ_ENOMEM;
    bool final = zj_state_is_final (rec->state);
    zj_state_t state = final ? rec->state : ZJ_STATE_QUEUED;
    task_t *task = tasks_restore (self->tasks, rec->gen, rec->seq, fn, state, rec->blob,
                                  rec->len, r->now - rec->age);
    if (!task) {
        sched_fn_release_unused (self->sched, fn);
        return tasks_find (self->tasks, rec->gen, rec->seq) ? ZJ_OK : ZJ_ENOMEM;
    }
    sched_fn_ref (fn);
    if (rec->state == ZJ_STATE_FAILED && rec->args)
        task = tasks_restore_args (self->tasks, task, rec->args, rec->args_len);
    task->priority = rec->priority;
    task->timeout = rec->timeout;
    task->max_retries = rec->max_retries;
    task->attempts = rec->attempts;
    task->flags = rec->chunk ? TASK_CHUNK : 0;
    zj_err_t rc = s_history (self, task, rec, r->offset);
    if (rc != ZJ_OK)
        return rc;
    if (final) {
        r->found.finished++;
        return ZJ_OK;
    }
    if (rec->state == ZJ_STATE_RUNNING) {
        if (!s_lost_attempt (self, task, rec, r->now, r->offset)) {
            r->found.lost++;
            return ZJ_OK;
        }
        //  The attempt count and "no longer running" are stored again.
        store_set_state (self->store, task);
        tasks_counters (self->tasks)->retried++;
        r->found.requeued++;
    }
    else
        r->found.queued++;
    sched_enqueue (self->sched, task);
    return ZJ_OK;
}

zj_err_t
broker_recover (broker_t *self, double now, broker_recovery_t *found)
{
    recover_t r = {.broker = self, .now = now, .offset = broker_wall_offset ()};
    const store_recover_t cb = {s_generation, s_submit, s_task, &r};
    broker_turn (self);
    zj_err_t rc = store_recover (self->store, &cb);
    tasks_restore_done (self->tasks);
    if (found)
        *found = r.found;
    return rc;
}
