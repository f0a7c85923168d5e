// SPDX-License-Identifier: MIT
//  stats - the STATS_REPLY map of docs/protocol.md section 7, plus a few
//  extra keys (receivers ignore keys they do not know).
#include "broker_int.h"
#include "mpread.h"
#include "report.h"
#include "ticket.h"
#include "zj_config.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_kv_uint (zj_enc_t *enc, const char *key, uint64_t v)
{
    zj_enc_cstr (enc, key);
    zj_enc_uint (enc, v);
}

static void
s_queues (broker_t *self, zj_enc_t *enc, double now)
{
    size_t n = 0, cursor = 0;
    while (sched_fn_next (self->sched, &cursor))
        n++;
    zj_enc_array (enc, (uint32_t) n);
    cursor = 0;
    sched_fn_t *fn;
    while ((fn = sched_fn_next (self->sched, &cursor))) {
        size_t len;
        const char *name = sched_fn_name (fn, &len);
        double oldest = sched_fn_oldest (fn);
        const sched_fn_stats_t *fs = sched_fn_stats (fn);
        zj_enc_map (enc, 10);
        zj_enc_cstr (enc, "function");
        zj_enc_str (enc, name, len);
        s_kv_uint (enc, "depth", sched_fn_depth (fn));
        zj_enc_cstr (enc, "oldest_age");
        zj_enc_double (enc, oldest < 0 ? 0.0 : now - oldest);
        s_kv_uint (enc, "running", sched_fn_running (fn));
        s_kv_uint (enc, "workers", sched_fn_workers (fn));
        s_kv_uint (enc, "priority_levels", sched_fn_levels (fn));
        s_kv_uint (enc, "submitted", fs->submitted);
        s_kv_uint (enc, "completed", fs->completed);
        s_kv_uint (enc, "failed", fs->failed);
        s_kv_uint (enc, "cancelled", fs->cancelled);
    }
}

static void
s_workers (broker_t *self, zj_enc_t *enc, double now)
{
    zj_enc_array (enc, (uint32_t) peers_worker_count (self->peers));
    size_t cursor = 0;
    worker_t *w;
    while ((w = peers_worker_next (self->peers, &cursor))) {
        char hex[129];
        zj_enc_map (enc, 10);
        zj_enc_cstr (enc, "id");
        zj_enc_cstr (enc, peers_id_hex (&w->id, hex));
        zj_enc_cstr (enc, "name");
        zj_enc_cstr (enc, w->name);
        zj_enc_cstr (enc, "host");
        zj_enc_cstr (enc, w->host);
        zj_enc_cstr (enc, "pid");
        zj_enc_int (enc, w->pid);
        zj_enc_cstr (enc, "functions");
        zj_enc_array (enc, w->sw.nfns);
        for (uint32_t i = 0; i < w->sw.nfns; i++) {
            size_t len;
            const char *name = sched_fn_name (w->sw.fns[i], &len);
            zj_enc_str (enc, name, len);
        }
        s_kv_uint (enc, "credit", w->sw.credit);
        s_kv_uint (enc, "running", w->sw.held);
        //  Seconds since the worker was last heard from.
        zj_enc_cstr (enc, "last_seen");
        zj_enc_double (enc, now - w->last_seen);
        //  Judged as broker_tick judges it: whole intervals of silence
        //  against liveness. "alive" while at most one beat was missed.
        double interval = fmax (self->cfg.heartbeat, w->heartbeat);
        double missed = interval > 0 ? floor ((now - w->last_seen) / interval) : 0;
        if (missed < 0)
            missed = 0;
        double left = (double) self->cfg.liveness - missed;
        char live[48];
        if (missed < 2)
            snprintf (live, sizeof live, "alive");
        else
            snprintf (live, sizeof live, "late %.0f/%u", missed, self->cfg.liveness);
        zj_enc_cstr (enc, "liveness");
        zj_enc_cstr (enc, live);
        zj_enc_cstr (enc, "beats_left");
        zj_enc_int (enc, left > 0 ? (int64_t) left : 0);
    }
}

//  Dead letters still held, newest first, at most this many.
#define STATS_DEAD_MAX 100

//  [{"ticket", "function", "error", "message", "attempts", "age"}, ...]
static void
s_dead_letters (broker_t *self, zj_enc_t *enc, double now)
{
    size_t n = self->dead < STATS_DEAD_MAX ? self->dead : STATS_DEAD_MAX;
    zj_enc_array (enc, (uint32_t) n);
    //  Only walked when there is one: the walk passes every final record.
    const task_t *t = n ? tasks_newest_final (self->tasks) : NULL;
    size_t k = 0;
    for (; t && k < n; t = t->prev) {
        if (!(t->flags & TASK_DEAD))
            continue;
        char ticket[TICKET_MAX + 1];
        size_t tlen = tasks_ticket (t, ticket);
        size_t flen;
        const char *fname = sched_fn_name (t->fn, &flen);
        attempt_t last;
        size_t count = attempts_count (t);
        if (!count || !attempts_at (t, count - 1, &last))
            memset (&last, 0, sizeof last);
        //  The message: the payload's second element.
        zj_str_t message = {"", 0};
        size_t plen;
        const uint8_t *p = tasks_payload (t, &plen);
        if (p) {
            mpread_t r = {p, p + plen};
            mpread_item_t it, type, msg;
            if (mpread_item (&r, &it) && it.kind == MPREAD_ARRAY && it.n >= 2
                && mpread_item (&r, &type) && type.kind == MPREAD_STR
                && mpread_item (&r, &msg) && msg.kind == MPREAD_STR)
                message = (zj_str_t) {(const char *) msg.s.ptr, msg.s.len};
        }
        zj_enc_map (enc, 6);
        zj_enc_cstr (enc, "ticket");
        zj_enc_str (enc, ticket, tlen);
        zj_enc_cstr (enc, "function");
        zj_enc_str (enc, fname, flen);
        zj_enc_cstr (enc, "error");
        zj_enc_cstr (enc, last.error);
        zj_enc_cstr (enc, "message");
        zj_enc_str (enc, message.ptr, message.len);
        s_kv_uint (enc, "attempts", count);
        zj_enc_cstr (enc, "age");
        zj_enc_double (enc, now - t->since);
        k++;
    }
    //  Fewer found than counted (should not happen): pad so that the
    //  array holds what its header said.
    for (; k < n; k++)
        zj_enc_nil (enc);
}

void
stats_encode (broker_t *self, zj_enc_t *enc, uint64_t req, double now)
{
    const tasks_counters_t *k = tasks_counters (self->tasks);
    zj_enc_stats_begin (enc, req);
    zj_enc_map (enc, 15);
    zj_enc_cstr (enc, "version");
    zj_enc_cstr (enc, ZJ_VERSION);
    zj_enc_cstr (enc, "generation");
    zj_enc_cstr (enc, self->gen_text);
    zj_enc_cstr (enc, "uptime");
    zj_enc_double (enc, now - self->started);

    zj_enc_cstr (enc, "tasks");
    zj_enc_map (enc, 5);
    s_kv_uint (enc, "queued", sched_queued (self->sched));
    s_kv_uint (enc, "running", sched_running (self->sched));
    s_kv_uint (enc, "done", tasks_count (self->tasks, ZJ_STATE_DONE));
    s_kv_uint (enc, "failed", tasks_count (self->tasks, ZJ_STATE_FAILED));
    s_kv_uint (enc, "cancelled", tasks_count (self->tasks, ZJ_STATE_CANCELLED));

    zj_enc_cstr (enc, "counters");
    zj_enc_map (enc, 6);
    s_kv_uint (enc, "submitted", k->submitted);
    s_kv_uint (enc, "completed", k->completed);
    s_kv_uint (enc, "failed", k->failed);
    s_kv_uint (enc, "cancelled", k->cancelled);
    s_kv_uint (enc, "expired", k->expired);
    s_kv_uint (enc, "retried", k->retried);

    zj_enc_cstr (enc, "queues");
    s_queues (self, enc, now);
    zj_enc_cstr (enc, "workers");
    s_workers (self, enc, now);
    zj_enc_cstr (enc, "dead_letters");
    s_dead_letters (self, enc, now);

    //  Extras.
    zj_enc_cstr (enc, "store");
    zj_enc_cstr (enc, self->store->ops->name);
    s_kv_uint (enc, "clients", peers_client_count (self->peers));
    s_kv_uint (enc, "task_bytes", tasks_bytes (self->tasks));
    zj_enc_cstr (enc, "retention");
    zj_enc_double (enc, self->cfg.retention);
    //  How workers are judged: seconds per beat, beats of silence allowed.
    zj_enc_cstr (enc, "heartbeat");
    zj_enc_double (enc, self->cfg.heartbeat);
    s_kv_uint (enc, "liveness", self->cfg.liveness);
    //  The Prometheus page, for `zjob stats --format prometheus`.
    size_t mlen = 0;
    char *text = report_metrics (self, now, &mlen);
    zj_enc_cstr (enc, "metrics");
    zj_enc_str (enc, text ? text : "", text ? mlen : 0);
    free (text);
}
