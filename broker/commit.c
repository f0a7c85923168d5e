// SPDX-License-Identifier: MIT
//  commit - the end of a turn's store work: the group commit, and what a
//  failed commit means. A SUBMIT is accepted only once its commit
//  succeeded: when it fails, the turn's new tasks (all still queued:
//  dispatch comes after the commit) are taken back and their SUBMITTED
//  replies become ERROR NoSpace. Changes to tasks accepted earlier are
//  kept by the store and written again; those tasks go on.
#include "broker_int.h"
#include "log.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  At most one warning about a failing store per this many seconds.
#define STORE_WARN_SECONDS 10.0

bool
broker_turn_submit (broker_t *self, size_t out, uint64_t req, uint64_t seq, uint32_t n,
                    dedup_entry_t *entry)
{
    if (self->nturn_subs == self->cap_turn_subs) {
        size_t cap = self->cap_turn_subs ? self->cap_turn_subs * 2 : 64;
        turn_submit_t *subs = realloc (self->turn_subs, cap * sizeof *subs);
        if (!subs)
            return false;
        self->turn_subs = subs;
        self->cap_turn_subs = cap;
    }
    self->turn_subs[self->nturn_subs++] = (turn_submit_t) {out, req, seq, n, entry};
    return true;
}

bool
broker_turn_has (const broker_t *self, const dedup_entry_t *entry)
{
    for (size_t i = 0; i < self->nturn_subs; i++)
        if (self->turn_subs[i].entry == entry)
            return true;
    return false;
}

//  Forget one task made this turn: out of its queue, no subscribers, no
//  record. The newest goes first so that its sequence number is reused.
static void
s_take_back (broker_t *self, uint64_t seq)
{
    task_t *task = tasks_find (self->tasks, self->gen, seq);
    if (!task)
        return;
    if (task->state == ZJ_STATE_QUEUED)
        sched_remove (self->sched, task);
    size_t nsubs = tasks_sub_count (task);
    for (size_t i = 0; i < nsubs; i++)
        peers_client_unref (self->peers, tasks_sub_at (task, i));
    tasks_sub_clear (task);
    sched_fn_t *fn = task->fn;
    sched_fn_stats_t *fs = sched_fn_stats (fn);
    if (fs->submitted)
        fs->submitted--;
    tasks_drop (self->tasks, &task);
    sched_fn_unref (self->sched, fn);
}

//  Replace the reply at outbox index `out` with ERROR for `req`.
static void
s_refuse_reply (broker_t *self, size_t out, uint64_t req, const char *message)
{
    if (out >= self->nout)
        return;
    out_t *o = &self->out[out];
    zj_enc_error (self->tmp, req, ZJ_ENOSPC, message);
    size_t len = zj_enc_size (self->tmp);
    uint8_t *body = zj_enc_failed (self->tmp) ? NULL : malloc (len);
    if (body)
        memcpy (body, zj_enc_data (self->tmp), len);
    //  Without memory for the ERROR, no reply at all beats a false one:
    //  the client times out and asks again.
    free (o->body);
    o->body = body;
    o->len = body ? len : 0;
}

//  Take back every SUBMIT of the turn, newest first. Returns how many
//  tasks were refused.
static size_t
s_refuse_turn (broker_t *self, zj_err_t rc)
{
    char message[700];
    snprintf (message, sizeof message,
              "broker store %s: %s; nothing of this submit was accepted, retry later",
              rc == ZJ_ENOSPC ? "is full" : "failed", store_why (self->store));
    size_t refused = 0;
    for (size_t i = self->nturn_subs; i-- > 0;) {
        turn_submit_t *ts = &self->turn_subs[i];
        for (uint32_t k = ts->n; k-- > 0;)
            s_take_back (self, ts->seq + k);
        refused += ts->n;
        if (ts->entry)
            dedup_remove (self->dedup, ts->entry);
        s_refuse_reply (self, ts->out, ts->req, message);
    }
    return refused;
}

void
broker_commit (broker_t *self, double now)
{
    if (!self->turn_open)
        return;
    self->turn_open = false;
    zj_err_t rc = store_commit_turn (self->store);
    if (rc == ZJ_OK) {
        if (self->store_bad && !store_degraded (self->store)) {
            log_info ("store recovered", "store=%s why=\"every change is written again\"",
                      self->store->ops->name);
            self->store_bad = false;
        }
        self->nturn_subs = 0;
        return;
    }
    size_t submits = self->nturn_subs;
    size_t refused = s_refuse_turn (self, rc);
    self->nturn_subs = 0;
    if (!self->store_bad || now - self->store_warned >= STORE_WARN_SECONDS) {
        log_warn ("store degraded",
                  "store=%s error=%s refused_submits=%zu refused_tasks=%zu pending=%s why=\"%s\" "
                  "hint=\"accepted tasks go on; new submits fail with NoSpace until the store "
                  "can be written\"",
                  self->store->ops->name, zj_err_name (rc), submits, refused,
                  store_degraded (self->store) ? "yes" : "no", store_why (self->store));
        self->store_warned = now;
    }
    self->store_bad = true;
}
