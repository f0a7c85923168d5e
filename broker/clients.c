// SPDX-License-Identifier: MIT
//  clients - what the broker does with each request on the client socket:
//  SUBMIT, FETCH, STATUS, CANCEL, STATS and PING. Replies are queued in
//  the outbox and leave at the end of the turn, after the store commit.
#include "broker_int.h"
#include "log.h"
#include "report.h"
#include "ticket.h"
#include <stdio.h>
#include <string.h>
#include <time.h>

//  Give client c the state of one ticket as FETCH does: a RESULT entry
//  now when it is final, unknown or expired, else a subscription.
static void
s_serve (broker_t *self, client_t *c, zj_str_t ticket)
{
    task_t *task;
    zj_state_t state = tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task);
    if (task && !zj_state_is_final (state)) {
        if (tasks_subscribe (task, c) == 1)
            peers_client_ref (c);
        return;
    }
    const uint8_t *payload = NULL;
    size_t len = 0;
    if (task) {
        payload = tasks_payload (task, &len);
        if (!payload) {
            broker_error_payload (self, "OutOfMemory", 11,
                                  "the broker ran out of memory when this task finished", 52,
                                  "", 0);
            payload = zj_enc_data (self->tmp);
            len = zj_enc_size (self->tmp);
        }
    }
    if (!peers_client_push (self->peers, c, ticket.ptr, ticket.len, state, payload, len))
        log_error ("out of memory", "what=result");
}

//  A SUBMIT repeating a known (client, req): the same tickets again,
//  nothing new, and the sender subscribed to them as by FETCH.
static void
s_resubmit (broker_t *self, const peer_id_t *id, zj_msg_t *msg, dedup_entry_t *e)
{
    if (e->count != msg->count) {
        char message[256];
        snprintf (message, sizeof message,
                  "request %llu of client '%.*s' was a batch of %u tasks, not %u; use a new "
                  "req for a new batch", (unsigned long long) msg->req, (int) msg->client.len,
                  msg->client.ptr, e->count, msg->count);
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_EPROTO, message);
        return;
    }
    client_t *c = peers_client_get (self->peers, id);
    if (!c) {
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ENOSPC,
                            "broker out of memory; submit again later");
        return;
    }
    zj_enc_tickets_begin (self->enc, ZJ_MSG_SUBMITTED, msg->req, e->count);
    for (uint32_t i = 0; i < e->count; i++) {
        char ticket[TICKET_MAX + 1];
        size_t tlen = ticket_format (e->gen, e->seq + i, ticket);
        zj_enc_str (self->enc, ticket, tlen);
        s_serve (self, c, (zj_str_t) {ticket, tlen});
    }
    //  A repeat within the turn of the first one stands or falls with it.
    size_t out = self->nout;
    bool same_turn = broker_turn_has (self, e);
    broker_reply (self, BROKER_CLIENTS, id, self->enc);
    if (same_turn && self->nout > out)
        broker_turn_submit (self, out, msg->req, 0, 0, NULL);
    peers_client_idle (self->peers, c);
}

//  Refuse a whole SUBMIT over the argument size or the client's share of
//  unfinished tasks before any of it is accepted. True when refused.
static bool
s_over_limits (broker_t *self, const peer_id_t *id, zj_msg_t *msg)
{
    char message[320];
    zj_msg_t pass = *msg;
    zj_task_t spec;
    for (uint32_t i = 0; self->cfg.max_args && zj_msg_next_task (&pass, &spec); i++)
        if (spec.args.len > self->cfg.max_args) {
            snprintf (message, sizeof message,
                      "task %u of the batch has %zu bytes of arguments, over the broker's "
                      "limit of %zu; nothing was accepted: send smaller arguments (e.g. a "
                      "path or URL) or raise zjobd --max-args", i, spec.args.len,
                      self->cfg.max_args);
            broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ETOOLARGE, message);
            return true;
        }
    if (!self->cfg.max_queued_per_client)
        return false;
    client_t *c = peers_client_get (self->peers, id);
    if (!c)
        return false;
    if (c->refs + msg->count <= self->cfg.max_queued_per_client) {
        //  A record made just now goes again: the SUBMIT may still be
        //  refused, and a client with no tasks needs none.
        peers_client_idle (self->peers, c);
        return false;
    }
    snprintf (message, sizeof message,
              "this client has %zu unfinished tasks and the batch adds %u, over the "
              "broker's limit of %zu per client; nothing was accepted: wait for results "
              "or raise zjobd --max-queued-per-client", c->refs, msg->count,
              self->cfg.max_queued_per_client);
    peers_client_idle (self->peers, c);
    broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_EQUEUEFULL, message);
    return true;
}

static void
s_submit (broker_t *self, const peer_id_t *id, zj_msg_t *msg, double now)
{
    if (self->shutting_down) {
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ESHUTDOWN,
                            "broker is shutting down; submit again once it is back");
        return;
    }
    if (msg->client.ptr) {
        dedup_entry_t *e = dedup_find (self->dedup, msg->client, msg->req);
        if (e) {
            s_resubmit (self, id, msg, e);
            return;
        }
    }
    uint32_t n = msg->count;
    if (!broker_scratch (self, n ? n : 1)) {
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ENOSPC,
                            "broker out of memory; nothing was accepted, retry later");
        return;
    }
    sched_fn_t **fns = self->scratch_fns;
    task_t **tasks = self->scratch_tasks;
    if (s_over_limits (self, id, msg))
        return;
    //  Pass 1: check the whole batch against the queue limits before
    //  accepting any of it.
    zj_msg_t first_pass = *msg;
    zj_task_t spec;
    sched_fn_t *full = NULL;
    uint32_t got = 0;
    bool oom = false;
    while (zj_msg_next_task (&first_pass, &spec) && got < n) {
        sched_fn_t *fn = sched_fn_get (self->sched, spec.fn.ptr, spec.fn.len);
        if (!fn) {
            oom = true;
            break;
        }
        fns[got++] = fn;
        uint32_t *pending = sched_fn_pending (fn);
        (*pending)++;
        if (!full && sched_fn_depth (fn) + *pending > self->cfg.max_queued)
            full = fn;
    }
    if (full || oom || got != n) {
        char message[320];
        if (full) {
            size_t len;
            const char *name = sched_fn_name (full, &len);
            snprintf (message, sizeof message,
                      "queue for function '%.*s' is full (%zu queued, limit %zu); "
                      "wait for tasks to finish or raise zjobd --max-queued",
                      (int) len, name, sched_fn_depth (full), self->cfg.max_queued);
        }
        else
            snprintf (message, sizeof message,
                      "broker out of memory; nothing was accepted, retry later");
        broker_release_fns (self, fns, got);
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req,
                            full ? ZJ_EQUEUEFULL : ZJ_ENOSPC, message);
        return;
    }
    for (uint32_t i = 0; i < n; i++)
        *sched_fn_pending (fns[i]) = 0;
    //  Pass 2: make the records.
    uint32_t made = 0;
    while (made < n && zj_msg_next_task (msg, &spec)) {
        int64_t retries = spec.max_retries < 0 ? self->cfg.max_retries : spec.max_retries;
        if (retries > UINT16_MAX)
            retries = UINT16_MAX;
        task_t *task = tasks_add (self->tasks, fns[made], &spec, (uint16_t) retries, now);
        if (!task)
            break;
        sched_fn_ref (fns[made]);
        tasks[made++] = task;
        if (spec.retry_on.ptr && !attempts_set_retry_on (&task->log, spec.retry_on.ptr,
                                                         spec.retry_on.len))
            break;              //  OOM: the batch is refused below
    }
    zj_err_t rc = made == n ? tasks_persist (self->tasks, tasks, n) : ZJ_ENOSPC;
    if (rc != ZJ_OK) {
        //  Functions no task took a reference on first; the others go
        //  with their last task's reference.
        broker_release_fns (self, fns + made, n - made);
        while (made) {
            made--;
            sched_fn_t *fn = tasks[made]->fn;
            tasks_drop (self->tasks, &tasks[made]);
            sched_fn_unref (self->sched, fn);
        }
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, rc,
                            rc == ZJ_ENOSPC ? "broker cannot store more tasks; nothing was accepted, retry later"
                                            : "broker store failed; nothing was accepted, retry later");
        return;
    }
    client_t *c = peers_client_get (self->peers, id);
    if (!c)
        log_error ("out of memory", "what=subscription tasks=%u", n);
    zj_enc_tickets_begin (self->enc, ZJ_MSG_SUBMITTED, msg->req, n);
    for (uint32_t i = 0; i < n; i++) {
        task_t *task = tasks[i];
        sched_enqueue (self->sched, task);
        sched_fn_stats (task->fn)->submitted++;
        metrics_count (report_fn (self, task->fn), METRICS_SUBMITTED);
        if (c && tasks_subscribe (task, c) == 1)
            peers_client_ref (c);
        char ticket[TICKET_MAX + 1];
        size_t tlen = tasks_ticket (task, ticket);
        zj_enc_str (self->enc, ticket, tlen);
    }
    dedup_entry_t *entry = NULL;
    if (msg->client.ptr) {
        entry = dedup_add (self->dedup, msg->client, msg->req, self->gen, tasks[0]->seq, n, now);
        if (entry)
            store_put_submit (self->store, msg->client, msg->req, self->gen, tasks[0]->seq, n);
        else
            log_error ("out of memory", "what=idempotent-submit req=%llu",
                       (unsigned long long) msg->req);
    }
    //  The reply stands only if the turn's commit succeeds (commit.c).
    size_t out = self->nout;
    broker_reply (self, BROKER_CLIENTS, id, self->enc);
    if (self->nout > out && !broker_turn_submit (self, out, msg->req, tasks[0]->seq, n, entry))
        log_error ("out of memory", "what=turn-submit req=%llu", (unsigned long long) msg->req);
}

static void
s_fetch (broker_t *self, const peer_id_t *id, zj_msg_t *msg)
{
    client_t *c = peers_client_get (self->peers, id);
    if (!c) {
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ENOSPC,
                            "broker out of memory; fetch again later");
        return;
    }
    zj_str_t ticket;
    while (zj_msg_next_str (msg, &ticket))
        s_serve (self, c, ticket);
    peers_client_idle (self->peers, c);
}

//  [ticket, state, attempts]: each attempt a map (protocol 5.4).
static void
s_enc_attempts (zj_enc_t *enc, zj_str_t ticket, zj_state_t state, const task_t *task,
                double offset)
{
    size_t n = task ? attempts_count (task) : 0;
    zj_enc_array (enc, 3);
    zj_enc_str (enc, ticket.ptr, ticket.len);
    zj_enc_uint (enc, (uint64_t) state);
    zj_enc_array (enc, (uint32_t) n);
    for (size_t i = 0; i < n; i++) {
        attempt_t a;
        if (!attempts_at (task, i, &a))
            memset (&a, 0, sizeof a);
        zj_enc_map (enc, 7);
        zj_enc_cstr (enc, "n");
        zj_enc_uint (enc, i + 1);
        zj_enc_cstr (enc, "host");
        zj_enc_cstr (enc, a.who ? a.who->host : "");
        zj_enc_cstr (enc, "pid");
        zj_enc_int (enc, a.who ? a.who->pid : 0);
        zj_enc_cstr (enc, "start");
        zj_enc_double (enc, a.start + offset);
        zj_enc_cstr (enc, "end");
        if (a.end > 0)
            zj_enc_double (enc, a.end + offset);
        else
            zj_enc_nil (enc);
        zj_enc_cstr (enc, "outcome");
        zj_enc_cstr (enc, attempts_outcome_name ((attempt_outcome_t) a.outcome));
        zj_enc_cstr (enc, "error");
        if (a.error[0])
            zj_enc_cstr (enc, a.error);
        else
            zj_enc_nil (enc);
    }
}

static void
s_status (broker_t *self, const peer_id_t *id, zj_msg_t *msg)
{
    zj_enc_states_begin (self->enc, ZJ_MSG_STATUS_REPLY, msg->req, msg->count);
    double offset = msg->want_attempts ? broker_wall_offset () : 0;
    zj_str_t ticket;
    while (zj_msg_next_str (msg, &ticket)) {
        task_t *task;
        zj_state_t state = tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task);
        if (msg->want_attempts)
            s_enc_attempts (self->enc, ticket, state, task, offset);
        else
            zj_enc_state (self->enc, ticket.ptr, ticket.len, state);
    }
    broker_reply (self, BROKER_CLIENTS, id, self->enc);
}

static void
s_cancel (broker_t *self, const peer_id_t *id, zj_msg_t *msg, double now)
{
    static const uint8_t nil = 0xc0;
    zj_enc_states_begin (self->enc, ZJ_MSG_CANCEL_REPLY, msg->req, msg->count);
    zj_str_t ticket;
    while (zj_msg_next_str (msg, &ticket)) {
        task_t *task;
        zj_state_t state = tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task);
        if (task && state == ZJ_STATE_QUEUED) {
            sched_remove (self->sched, task);
            broker_finish (self, task, ZJ_STATE_CANCELLED, &nil, 1, now);
            state = ZJ_STATE_CANCELLED;
        }
        else if (task && state == ZJ_STATE_RUNNING && task->worker && !msg->keep_running) {
            //  Its worker gets ABORT and the credit is free at once; a
            //  DONE that crosses the ABORT is discarded (not held).
            broker_abort (self, task);
            report_run (self, task, now);
            broker_finish (self, task, ZJ_STATE_CANCELLED, &nil, 1, now);
            state = ZJ_STATE_CANCELLED;
        }
        zj_enc_state (self->enc, ticket.ptr, ticket.len, state);
    }
    broker_reply (self, BROKER_CLIENTS, id, self->enc);
}

//  A failed task runs again: the run that failed it joins its history,
//  its retry budget starts over, and the sender is subscribed to its new
//  outcome. Anything else is answered with its state, unchanged.
static task_t *
s_retry_one (broker_t *self, task_t *task, client_t *c, double now)
{
    size_t len;
    if (!tasks_args (task, &len))
        return NULL;            //  none kept: nothing to run again
    //  The run that failed it joins its history before its outcome goes.
    attempt_t last;
    size_t count = attempts_count (task);
    if (task->who && count && attempts_at (task, count - 1, &last))
        broker_log_attempt (self, task, &last);
    if ((task->flags & TASK_DEAD) && self->dead)
        self->dead--;
    task->who = NULL;
    task->attempts = 0;
    task = tasks_reopen (self->tasks, task, now);
    sched_enqueue (self->sched, task);
    if (c && tasks_subscribe (task, c) == 1)
        peers_client_ref (c);
    return task;
}

//  A RETRY queues tasks like a SUBMIT, so the same queue limits apply:
//  refuse it whole (QueueFull) when they would be passed. True when refused.
static bool
s_retry_over_limits (broker_t *self, const peer_id_t *id, client_t *c, zj_msg_t *msg)
{
    zj_msg_t pass = *msg;
    zj_str_t ticket;
    sched_fn_t *full = NULL;
    size_t n = 0;
    //  Count per function in sched_fn_pending, as SUBMIT's first pass does.
    while (zj_msg_next_str (&pass, &ticket)) {
        task_t *task;
        size_t len;
        if (tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task) != ZJ_STATE_FAILED
            || !tasks_args (task, &len))
            continue;
        uint32_t *pending = sched_fn_pending (task->fn);
        (*pending)++;
        n++;
        if (!full && sched_fn_depth (task->fn) + *pending > self->cfg.max_queued)
            full = task->fn;
    }
    pass = *msg;
    while (zj_msg_next_str (&pass, &ticket)) {
        task_t *task;
        if (tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task) == ZJ_STATE_FAILED)
            *sched_fn_pending (task->fn) = 0;
    }
    char message[320];
    if (full) {
        size_t len;
        const char *name = sched_fn_name (full, &len);
        snprintf (message, sizeof message,
                  "queue for function '%.*s' is full (%zu queued, limit %zu); nothing was "
                  "retried: wait for tasks to finish or raise zjobd --max-queued",
                  (int) len, name, sched_fn_depth (full), self->cfg.max_queued);
    }
    else if (self->cfg.max_queued_per_client && c->refs + n > self->cfg.max_queued_per_client)
        snprintf (message, sizeof message,
                  "this client has %zu unfinished tasks and the retry adds %zu, over the "
                  "broker's limit of %zu per client; nothing was retried: wait for results "
                  "or raise zjobd --max-queued-per-client", c->refs, n,
                  self->cfg.max_queued_per_client);
    else
        return false;
    broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_EQUEUEFULL, message);
    return true;
}

static void
s_retry (broker_t *self, const peer_id_t *id, zj_msg_t *msg, double now)
{
    if (self->shutting_down) {
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ESHUTDOWN,
                            "broker is shutting down; retry again once it is back");
        return;
    }
    client_t *c = peers_client_get (self->peers, id);
    if (!c) {
        broker_reply_error (self, BROKER_CLIENTS, id, msg->req, ZJ_ENOSPC,
                            "broker out of memory; retry again later");
        return;
    }
    if (s_retry_over_limits (self, id, c, msg)) {
        peers_client_idle (self->peers, c);
        return;
    }
    zj_enc_states_begin (self->enc, ZJ_MSG_RETRY_REPLY, msg->req, msg->count);
    zj_str_t ticket;
    uint32_t queued = 0;
    while (zj_msg_next_str (msg, &ticket)) {
        task_t *task;
        zj_state_t state = tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task);
        if (task && state == ZJ_STATE_FAILED && s_retry_one (self, task, c, now)) {
            state = ZJ_STATE_QUEUED;
            queued++;
        }
        zj_enc_state (self->enc, ticket.ptr, ticket.len, state);
    }
    peers_client_idle (self->peers, c);
    broker_reply (self, BROKER_CLIENTS, id, self->enc);
    //  An operator's act, one line per request (not per task).
    char hex[129];
    log_info ("retry", "peer=%s tickets=%u queued=%u", peers_id_hex (id, hex), msg->count,
              queued);
}

void
clients_handle (broker_t *self, const peer_id_t *id, zj_msg_t *msg, double now)
{
    switch (msg->type) {
        case ZJ_MSG_SUBMIT:
            s_submit (self, id, msg, now);
            break;
        case ZJ_MSG_FETCH:
            s_fetch (self, id, msg);
            break;
        case ZJ_MSG_STATUS:
            s_status (self, id, msg);
            break;
        case ZJ_MSG_CANCEL:
            s_cancel (self, id, msg, now);
            break;
        case ZJ_MSG_RETRY:
            s_retry (self, id, msg, now);
            break;
        case ZJ_MSG_STATS:
            stats_encode (self, self->enc, msg->req, now);
            broker_reply (self, BROKER_CLIENTS, id, self->enc);
            break;
        case ZJ_MSG_PING:
            zj_enc_simple (self->enc, ZJ_MSG_PONG, msg->req);
            broker_reply (self, BROKER_CLIENTS, id, self->enc);
            break;
        case ZJ_MSG_ERROR:
        case ZJ_MSG_DISCONNECT:
            //  Never answer an ERROR with an ERROR; a client going away
            //  needs nothing from us (its subscriptions end with its tasks).
            log_debug ("client message ignored", "type=%d", (int) msg->type);
            break;
        default: {
            char why[80];
            snprintf (why, sizeof why, "message type %d is not a client request",
                      (int) msg->type);
            broker_bad_frame (self, BROKER_CLIENTS, id, msg->req, ZJ_EPROTO, why, now);
        }
    }
}
