// SPDX-License-Identifier: MIT
//  workers - what the broker does with each message on the worker socket:
//  READY, DONE, RETURN, HEARTBEAT and DISCONNECT. Workers must register
//  with READY before anything else counts.
#include "broker_int.h"
#include "log.h"
#include "report.h"
#include "ticket.h"
#include <stdio.h>
#include <string.h>

//  Copy a peer-chosen string for logs and STATS: printable ASCII only, so
//  a name can never break a log line.
static void
s_copy_clean (char *dst, size_t cap, zj_str_t src)
{
    size_t n = src.ptr ? (src.len < cap - 1 ? src.len : cap - 1) : 0;
    for (size_t i = 0; i < n; i++) {
        char c = src.ptr[i];
        dst[i] = (c > 0x20 && c < 0x7f && c != '"') ? c : '_';
    }
    dst[n] = '\0';
}

//  READY from a known worker listed the tickets it holds: every task we
//  think it holds that is not listed (sent, and lost on the way or with a
//  restarted worker process) goes the way of a lost worker's tasks.
static void
s_reconcile (broker_t *self, worker_t *w, zj_msg_t *msg, double now)
{
    zj_str_t ticket;
    while (zj_msg_next_held (msg, &ticket)) {
        task_t *task;
        if (tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task) == ZJ_STATE_RUNNING
            && task->worker == &w->sw)
            task->flags |= TASK_MARK;
    }
    if (!broker_scratch (self, w->sw.held ? w->sw.held : 1)) {
        for (task_t *t = w->sw.head; t; t = t->next)
            t->flags &= (uint8_t) ~TASK_MARK;
        return;
    }
    task_t **gone = self->scratch_tasks;
    uint32_t n = 0;
    for (task_t *t = w->sw.head; t; t = t->next) {
        if (!(t->flags & (TASK_MARK | TASK_UNSENT)))
            gone[n++] = t;
        t->flags &= (uint8_t) ~TASK_MARK;
    }
    size_t requeued = 0, failed = 0;
    //  Newest first, each to the front of its level: the old order stays.
    for (uint32_t i = n; i-- > 0;) {
        task_t *task = gone[i];
        sched_worker_release (self->sched, &w->sw, task);
        if (broker_task_lost (self, task, now)) {
            sched_requeue (self->sched, task);
            requeued++;
        }
        else
            failed++;
    }
    if (n) {
        char hex[129];
        log_warn ("worker lost tasks", "peer=%s worker=%s held=%u missing=%u requeued=%zu "
                  "failed=%zu", peers_id_hex (&w->id, hex), w->name[0] ? w->name : "-",
                  msg->nheld, n, requeued, failed);
    }
}

static void
s_ready (broker_t *self, const peer_id_t *id, worker_t *w, zj_msg_t *msg, double now)
{
    bool fresh = !w;
    if (fresh) {
        w = peers_worker_add (self->peers, id, now);
        if (!w) {
            broker_reply_error (self, BROKER_WORKERS, id, msg->req, ZJ_ENOSPC,
                                "broker out of memory; send READY again later");
            return;
        }
    }
    uint32_t n = msg->count;
    bool ok = broker_scratch (self, n ? n : 1);
    sched_fn_t **fns = self->scratch_fns;
    uint32_t got = 0;
    zj_str_t name;
    char list[256] = "";
    size_t used = 0;
    while (ok && got < n && zj_msg_next_str (msg, &name)) {
        sched_fn_t *fn = sched_fn_get (self->sched, name.ptr, name.len);
        if (!fn) {
            ok = false;
            break;
        }
        fns[got++] = fn;
        if (used < sizeof list - 1) {
            int k = snprintf (list + used, sizeof list - used, "%s%.*s", used ? "," : "",
                              (int) name.len, name.ptr);
            used = k > 0 ? used + (size_t) k : used;
            if (used >= sizeof list)
                used = sizeof list - 1;
        }
    }
    ok = ok && sched_worker_set (self->sched, &w->sw, msg->credit, fns, got);
    if (!ok) {
        broker_release_fns (self, fns, got);
        if (fresh)
            peers_worker_kill (self->peers, w);
        broker_reply_error (self, BROKER_WORKERS, id, msg->req, ZJ_ENOSPC,
                            "broker out of memory; send READY again later");
        return;
    }
    s_copy_clean (w->name, sizeof w->name, msg->name);
    s_copy_clean (w->host, sizeof w->host, msg->host);
    w->pid = msg->pid;
    if (!w->who || w->who->pid != w->pid || strcmp (w->who->host, w->host) != 0)
        w->who = attempts_intern (self->attempts, w->host, w->pid);
    w->heartbeat = msg->heartbeat;
    w->last_seen = now;
    if (!fresh && msg->has_held)
        s_reconcile (self, w, msg, now);
    char hex[129];
    //  A registration is news; a repeated one (the worker's own retry) is not.
    log_emit (fresh ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG, fresh ? "worker ready" : "worker ready again",
              "peer=%s worker=%s host=%s pid=%lld credit=%u functions=%s",
              peers_id_hex (id, hex), w->name[0] ? w->name : "-", w->host[0] ? w->host : "-",
              (long long) w->pid, msg->credit, list);
}

//  The task behind a ticket when `w` holds it; NULL (and a debug line)
//  otherwise: it came too late, twice, or from the wrong worker.
static task_t *
s_held (broker_t *self, worker_t *w, zj_str_t ticket, const char *what)
{
    task_t *task;
    zj_state_t state = tasks_lookup (self->tasks, ticket.ptr, ticket.len, &task);
    if (task && state == ZJ_STATE_RUNNING && task->worker == &w->sw
        && !(task->flags & TASK_UNSENT))
        return task;
    char hex[129];
    log_debug ("entry discarded", "what=%s peer=%s ticket=%.*s state=%s", what,
               peers_id_hex (&w->id, hex), (int) ticket.len, ticket.ptr, zj_state_name (state));
    return NULL;
}

//  A run whose process crashed (ProcessExited, or an exec command killed
//  by a signal) is retried within max_retries, like a lost worker: the
//  crash says nothing about the task. Other errors were raised by the
//  task and stand, unless their type is in the task's retry_on.
static bool
s_crash_retried (broker_t *self, task_t *task, const zj_outcome_t *out, double now)
{
    const char *type = out->err_type.ptr ? out->err_type.ptr : "";
    attempt_outcome_t kind = attempts_classify (type, out->err_type.len,
                                                out->err_message.ptr ? out->err_message.ptr : "",
                                                out->err_message.len);
    //  A raised error is retried only when the submit asked for its type.
    if (kind != ATTEMPT_CRASHED && !attempts_retry_on (task->log, type, out->err_type.len))
        return false;
    if (broker_task_retry (self, task, kind, type, out->err_type.len, now))
        return true;
    task->flags |= TASK_DEAD;   //  retries spent: the caller fails it
    self->dead++;
    return false;
}

static void
s_done (broker_t *self, worker_t *w, zj_msg_t *msg, double now)
{
    zj_outcome_t out;
    while (zj_msg_next_outcome (msg, &out)) {
        if (out.state != ZJ_STATE_DONE && out.state != ZJ_STATE_FAILED) {
            char hex[129];
            log_debug ("entry discarded", "what=done peer=%s ticket=%.*s state=%d why=not-final",
                       peers_id_hex (&w->id, hex), (int) out.ticket.len, out.ticket.ptr,
                       (int) out.state);
            continue;
        }
        task_t *task = s_held (self, w, out.ticket, "done");
        if (!task)
            continue;
        sched_worker_release (self->sched, &w->sw, task);
        report_run (self, task, now);
        if (out.state == ZJ_STATE_DONE) {
            static const uint8_t nil = 0xc0;
            //  The result's bytes are forwarded as they came, never decoded.
            if (self->cfg.max_result && out.value.len > self->cfg.max_result) {
                char message[200];
                int mlen = snprintf (message, sizeof message,
                                     "the result is %zu bytes, over the broker's limit of "
                                     "%zu (zjobd --max-result)", out.value.len,
                                     self->cfg.max_result);
                broker_error_payload (self, "TooLarge", 8, message, (size_t) mlen, "", 0);
                broker_finish (self, task, ZJ_STATE_FAILED, zj_enc_data (self->tmp),
                               zj_enc_size (self->tmp), now);
            }
            else if (out.value.ptr)
                broker_finish (self, task, ZJ_STATE_DONE, out.value.ptr, out.value.len, now);
            else
                broker_finish (self, task, ZJ_STATE_DONE, &nil, 1, now);
        }
        else if (s_crash_retried (self, task, &out, now))
            sched_requeue (self->sched, task);
        else {
            broker_error_payload (self, out.err_type.ptr ? out.err_type.ptr : "", out.err_type.len,
                                  out.err_message.ptr ? out.err_message.ptr : "",
                                  out.err_message.len, out.err_traceback.ptr,
                                  out.err_traceback.len);
            broker_finish (self, task, ZJ_STATE_FAILED, zj_enc_data (self->tmp),
                           zj_enc_size (self->tmp), now);
        }
    }
}

static void
s_return (broker_t *self, worker_t *w, zj_msg_t *msg)
{
    //  Collect first: requeueing newest first keeps the given order.
    if (!broker_scratch (self, msg->count ? msg->count : 1))
        return;
    task_t **back = self->scratch_tasks;
    uint32_t n = 0;
    zj_str_t ticket;
    while (zj_msg_next_str (msg, &ticket)) {
        task_t *task = s_held (self, w, ticket, "return");
        if (!task)
            continue;
        sched_worker_release (self->sched, &w->sw, task);
        back[n++] = task;
    }
    while (n) {
        task_t *task = back[--n];
        task->state = ZJ_STATE_QUEUED;
        store_set_state (self->store, task);
        sched_requeue (self->sched, task);
    }
}

void
workers_handle (broker_t *self, const peer_id_t *id, worker_t *w, zj_msg_t *msg, double now)
{
    switch (msg->type) {
        case ZJ_MSG_READY:
            s_ready (self, id, w, msg, now);
            return;
        case ZJ_MSG_DONE:
        case ZJ_MSG_HEARTBEAT:
        case ZJ_MSG_RETURN:
            break;
        case ZJ_MSG_DISCONNECT:
            if (w)
                broker_worker_lost (self, w, "disconnect", false, now);
            return;
        case ZJ_MSG_ERROR: {
            char hex[129];
            log_debug ("worker error ignored", "peer=%s code=%.*s", peers_id_hex (id, hex),
                       (int) msg->err_code.len, msg->err_code.ptr ? msg->err_code.ptr : "");
            return;
        }
        default: {
            char why[80];
            snprintf (why, sizeof why, "message type %d is not a worker message",
                      (int) msg->type);
            broker_bad_frame (self, BROKER_WORKERS, id, msg->req, ZJ_EPROTO, why, now);
            return;
        }
    }
    if (!w) {
        //  The worker's registration is gone (broker restart, or we
        //  declared it lost): it answers by sending READY again.
        char hex[129];
        log_debug ("unknown worker", "peer=%s type=%d", peers_id_hex (id, hex), (int) msg->type);
        broker_reply_error (self, BROKER_WORKERS, id, msg->req, ZJ_EPROTO, "unknown worker");
        return;
    }
    if (msg->type == ZJ_MSG_DONE)
        s_done (self, w, msg, now);
    else if (msg->type == ZJ_MSG_RETURN)
        s_return (self, w, msg);
}
