// SPDX-License-Identifier: MIT
//  recover - what the broker does with a store's contents at start:
//  earlier generations (so their deleted tickets read as expired),
//  remembered submits, and tasks: queued ones queued again in submit
//  order, ones that were out on a worker queued again with that attempt
//  counted (or failed WorkerLost), final ones kept for their retention.
#include "broker_int.h"
#include <stdio.h>

typedef struct {
    broker_t *broker;           //  where records go
    double now;                 //  to turn ages into times
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

//  A task that was out on a worker when the broker stopped: that attempt
//  is lost like a worker. Returns true when it may run again.
static bool
s_lost_attempt (broker_t *self, task_t *task, double now)
{
    if (task->attempts < UINT16_MAX)
        task->attempts++;
    if (task->attempts <= task->max_retries)
        return true;
    char msg[96];
    int n = snprintf (msg, sizeof msg, "worker lost on each of %u attempts",
                      (unsigned) task->attempts);
    broker_error_payload (self, "WorkerLost", 10, msg, (size_t) n, "", 0);
    broker_finish (self, task, ZJ_STATE_FAILED, zj_enc_data (self->tmp),
                   zj_enc_size (self->tmp), now);
    return false;
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
    task->priority = rec->priority;
    task->timeout = rec->timeout;
    task->max_retries = rec->max_retries;
    task->attempts = rec->attempts;
    task->flags = rec->chunk ? TASK_CHUNK : 0;
    if (final) {
        r->found.finished++;
        return ZJ_OK;
    }
    if (rec->state == ZJ_STATE_RUNNING) {
        if (!s_lost_attempt (self, task, r->now)) {
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
    recover_t r = {.broker = self, .now = now};
    const store_recover_t cb = {s_generation, s_submit, s_task, &r};
    broker_turn (self);
    zj_err_t rc = store_recover (self->store, &cb);
    tasks_restore_done (self->tasks);
    if (found)
        *found = r.found;
    return rc;
}
