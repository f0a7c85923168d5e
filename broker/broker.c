// SPDX-License-Identifier: MIT
//  broker - the core's turns: decoding, the outbox, task endings, worker
//  loss, heartbeats, retention and the end-of-turn flush; see broker.h.
//  Request handlers live in clients.c and workers.c.
#include "broker_int.h"
#include "log.h"
#include "report.h"
#include "ticket.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

//  Records deleted per broker_expire call: small enough that a call takes
//  about a millisecond, so retention never stalls the loop.
#define EXPIRE_BATCH 8192
//  Bigger replies give their buffer away instead of being copied.
#define TAKE_BYTES (64 * 1024)
//  At most this many bad-frame warnings per second.
#define WARN_PER_SECOND 10

static const char *s_sock_name[] = {"clients", "workers"};

broker_t *
broker_new (const broker_config_t *config, uint64_t gen, store_t *store, double now)
{
    broker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *config;
    if (self->cfg.liveness == 0)
        self->cfg.liveness = 1;
    self->gen = gen;
    ticket_generation_text (gen, self->gen_text);
    self->started = now;
    self->store = store;
    self->tasks = tasks_new (gen, store);
    self->sched = sched_new ();
    self->peers = peers_new ();
    self->enc = zj_enc_new ();
    self->tmp = zj_enc_new ();
    self->hdr = zj_enc_new ();
    self->metrics = metrics_new ();
    self->dedup = dedup_new ();
    self->attempts = attempts_new ();
    self->warn_window = now;
    if (!self->tasks || !self->sched || !self->peers || !self->enc || !self->tmp
        || !self->hdr || !self->metrics || !self->dedup || !self->attempts) {
        broker_destroy (&self);
        return NULL;
    }
    return self;
}

void
broker_destroy (broker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    broker_t *self = *self_p;
    for (size_t i = 0; i < self->nout; i++)
        free (self->out[i].body);
    free (self->out);
    //  Task records first (they point at clients and functions), then the
    //  peers (workers' registrations), then the functions.
    tasks_destroy (&self->tasks);
    peers_destroy (&self->peers);
    sched_destroy (&self->sched);
    zj_enc_destroy (&self->enc);
    zj_enc_destroy (&self->tmp);
    zj_enc_destroy (&self->hdr);
    metrics_destroy (&self->metrics);
    dedup_destroy (&self->dedup);
    attempts_destroy (&self->attempts);
    free (self->turn_subs);
    free (self->aborts);
    free (self->deadlines);
    free (self->scratch_tasks);
    free (self->scratch_fns);
    free (self);
    *self_p = NULL;
}

const char *
broker_generation (const broker_t *self)
{
    return self->gen_text;
}

void
broker_turn (broker_t *self)
{
    if (!self->turn_open) {
        zj_err_t rc = store_begin_turn (self->store);
        if (rc != ZJ_OK)
            log_error ("store begin failed", "store=%s error=%s", self->store->ops->name,
                       zj_err_name (rc));
        self->turn_open = true;
    }
}

bool
broker_scratch (broker_t *self, size_t n)
{
    if (n <= self->cap_scratch)
        return true;
    size_t cap = self->cap_scratch ? self->cap_scratch : 64;
    while (cap < n)
        cap *= 2;
    task_t **tasks = realloc (self->scratch_tasks, cap * sizeof *tasks);
    if (tasks)
        self->scratch_tasks = tasks;
    sched_fn_t **fns = realloc (self->scratch_fns, cap * sizeof *fns);
    if (fns)
        self->scratch_fns = fns;
    if (!tasks || !fns)
        return false;
    self->cap_scratch = cap;
    return true;
}

//  Free the function records in fns[0..n) that nothing references, once
//  each even when listed twice (the pending counter marks the first visit).
void
broker_release_fns (broker_t *self, sched_fn_t **fns, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        *sched_fn_pending (fns[i]) = 1;
    //  Keep each record once, then free: a record listed twice must not
    //  be read after its first release (broker_fuzz found that).
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++)
        if (*sched_fn_pending (fns[i])) {
            *sched_fn_pending (fns[i]) = 0;
            fns[k++] = fns[i];
        }
    for (uint32_t i = 0; i < k; i++)
        sched_fn_release_unused (self->sched, fns[i]);
}

//  ---------------------------------------------------------------------
//  Outbox

//  Queue a frame (ownership of body passes to the outbox). NULL on OOM,
//  when body has been freed.
static out_t *
s_out_push (broker_t *self, broker_sock_t sock, const peer_id_t *id, uint8_t *body, size_t len)
{
    if (self->nout == self->cap_out) {
        size_t cap = self->cap_out ? self->cap_out * 2 : 256;
        out_t *out = realloc (self->out, cap * sizeof *out);
        if (!out) {
            free (body);
            log_error ("out of memory", "what=outbox dropped=1");
            return NULL;
        }
        self->out = out;
        self->cap_out = cap;
    }
    out_t *o = &self->out[self->nout++];
    o->sock = (uint8_t) sock;
    o->kind = OUT_REPLY;
    o->id.len = id->len;
    memcpy (o->id.bytes, id->bytes, id->len);
    o->body = body;
    o->len = len;
    o->worker = NULL;
    o->first = NULL;
    o->ntasks = 0;
    return o;
}

//  The bytes in enc as an owned buffer, leaving enc reusable.
static uint8_t *
s_enc_bytes (zj_enc_t *enc, size_t *len)
{
    if (zj_enc_failed (enc))
        return NULL;
    size_t size = zj_enc_size (enc);
    if (size > TAKE_BYTES)
        return zj_enc_take (enc, len);
    uint8_t *body = malloc (size ? size : 1);
    if (body)
        memcpy (body, zj_enc_data (enc), size);
    *len = size;
    return body;
}

void
broker_reply (broker_t *self, broker_sock_t sock, const peer_id_t *id, zj_enc_t *enc)
{
    size_t len = 0;
    uint8_t *body = s_enc_bytes (enc ? enc : self->enc, &len);
    if (!body) {
        log_error ("out of memory", "what=reply socket=%s dropped=1", s_sock_name[sock]);
        return;
    }
    s_out_push (self, sock, id, body, len);
}

void
broker_reply_error (broker_t *self, broker_sock_t sock, const peer_id_t *id, uint64_t req,
                    zj_err_t code, const char *message)
{
    zj_enc_error (self->tmp, req, code, message);
    broker_reply (self, sock, id, self->tmp);
}

//  Start a new one-second warning window once the current one is over,
//  reporting how many warnings it held back.
static void
s_warn_window (broker_t *self, double now)
{
    if (now - self->warn_window >= 1.0) {
        if (self->warn_dropped)
            log_warn ("warnings suppressed", "count=%u seconds=%.1f", self->warn_dropped,
                      now - self->warn_window);
        self->warn_window = now;
        self->warn_count = 0;
        self->warn_dropped = 0;
    }
}

//  True when a warning may be printed now; counts the ones held back.
static bool
s_warn_ok (broker_t *self, double now)
{
    s_warn_window (self, now);
    if (self->warn_count < WARN_PER_SECOND) {
        self->warn_count++;
        return true;
    }
    self->warn_dropped++;
    return false;
}

void
broker_bad_frame (broker_t *self, broker_sock_t sock, const peer_id_t *id, uint64_t req,
                  zj_err_t code, const char *why, double now)
{
    if (s_warn_ok (self, now)) {
        char hex[129];
        log_warn ("bad frame", "socket=%s peer=%s error=%s why=\"%s\"", s_sock_name[sock],
                  peers_id_hex (id, hex), zj_err_name (code), why);
    }
    char message[256];
    if (code == ZJ_EVERSION)
        snprintf (message, sizeof message,
                  "protocol version mismatch: this broker speaks ZJP/%d; upgrade the peer",
                  ZJ_PROTO_VERSION);
    else if (code == ZJ_ETOOLARGE)
        snprintf (message, sizeof message,
                  "frame over the broker's limit of %zu bytes (zjobd --max-frame); send smaller batches",
                  self->cfg.max_frame);
    else
        snprintf (message, sizeof message, "malformed message: %s", why);
    broker_reply_error (self, sock, id, req, code, message);
}

//  Best-effort request id of a frame that failed to decode: [v, t, req, ...]
//  with plain unsigned integers, else 0.
static uint64_t
s_peek_req (const uint8_t *p, size_t size)
{
    const uint8_t *end = p + size;
    if (size < 4)
        return 0;
    size_t n;
    if ((*p & 0xf0) == 0x90)
        n = *p++ & 0x0f;
    else if (*p == 0xdc && size >= 3) {
        n = ((size_t) p[1] << 8) | p[2];
        p += 3;
    }
    else if (*p == 0xdd && size >= 5) {
        n = ((size_t) p[1] << 24) | ((size_t) p[2] << 16) | ((size_t) p[3] << 8) | p[4];
        p += 5;
    }
    else
        return 0;
    if (n < 3)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 3; i++) {
        if (p >= end)
            return 0;
        size_t w;
        if (*p <= 0x7f)
            w = 0;
        else if (*p >= 0xcc && *p <= 0xcf)
            w = (size_t) 1 << (*p - 0xcc);
        else
            return 0;
        if (w == 0)
            v = *p++;
        else {
            if ((size_t) (end - p) < w + 1)
                return 0;
            p++;
            v = 0;
            for (size_t j = 0; j < w; j++)
                v = (v << 8) | *p++;
        }
    }
    return v;
}

void
broker_on_message (broker_t *self, broker_sock_t sock, const uint8_t *idb, size_t idlen,
                   const uint8_t *data, size_t size, size_t frames, double now)
{
    peer_id_t id;
    if (!peers_id_set (&id, idb, idlen))
        return;
    broker_turn (self);
    worker_t *w = NULL;
    if (sock == BROKER_WORKERS) {
        //  Any frame shows the worker is alive, even one we cannot read.
        w = peers_worker_find (self->peers, &id);
        if (w)
            w->last_seen = now;
    }
    if (frames != 1) {
        char why[80];
        snprintf (why, sizeof why, "message has %zu body frames; expected 1", frames);
        broker_bad_frame (self, sock, &id, 0, ZJ_EPROTO, why, now);
        return;
    }
    zj_msg_t msg;
    const char *why = NULL;
    zj_err_t rc = zj_msg_decode (data, size, self->cfg.max_frame, &msg, &why);
    if (rc != ZJ_OK) {
        broker_bad_frame (self, sock, &id, s_peek_req (data, size), rc,
                          why ? why : zj_strerror (rc), now);
        return;
    }
    if (sock == BROKER_CLIENTS)
        clients_handle (self, &id, &msg, now);
    else
        workers_handle (self, &id, w, &msg, now);
}

//  ---------------------------------------------------------------------
//  Task endings

//  Move a client's queued entries into one RESULT message in the outbox.
static void
s_seal_client (broker_t *self, client_t *c)
{
    if (!c->nout)
        return;
    zj_enc_outcomes_begin (self->hdr, ZJ_MSG_RESULT, c->nout);
    size_t hlen = zj_enc_size (self->hdr);
    size_t elen = zj_enc_size (c->out);
    uint8_t *body = malloc (hlen + elen);
    if (body && !zj_enc_failed (self->hdr)) {
        memcpy (body, zj_enc_data (self->hdr), hlen);
        memcpy (body + hlen, zj_enc_data (c->out), elen);
        s_out_push (self, BROKER_CLIENTS, &c->id, body, hlen + elen);
    }
    else {
        free (body);
        log_error ("out of memory", "what=results dropped=%u", c->nout);
    }
    c->nout = 0;
    //  Give a big buffer's memory back; a new one is made when needed.
    if (elen >= BROKER_BATCH_BYTES)
        zj_enc_destroy (&c->out);
    else
        zj_enc_reset (c->out);
}

task_t *
broker_finish (broker_t *self, task_t *task, zj_state_t state, const uint8_t *payload,
               size_t len, double now)
{
    broker_turn (self);
    char ticket[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (task, ticket);
    size_t nsubs = tasks_sub_count (task);
    for (size_t i = 0; i < nsubs; i++) {
        client_t *c = tasks_sub_at (task, i);
        if (!peers_client_push (self->peers, c, ticket, tlen, state, payload, len))
            log_error ("out of memory", "what=result ticket=%s", ticket);
        else if (zj_enc_size (c->out) >= BROKER_BATCH_BYTES)
            s_seal_client (self, c);
    }
    for (size_t i = 0; i < nsubs; i++)
        peers_client_unref (self->peers, tasks_sub_at (task, i));
    tasks_sub_clear (task);
    sched_fn_stats_t *fs = sched_fn_stats (task->fn);
    if (state == ZJ_STATE_DONE)
        fs->completed++;
    else if (state == ZJ_STATE_FAILED)
        fs->failed++;
    else if (state == ZJ_STATE_CANCELLED)
        fs->cancelled++;
    report_outcome (self, task->fn, state);
    //  The attempt that ends here stays described by the task itself.
    if (task->state == ZJ_STATE_RUNNING)
        task->run = (float) (now - task->since - (double) task->wait);
    else
        task->who = NULL;
    return tasks_finish (self->tasks, task, state, payload, len, now);
}

void
broker_error_payload (broker_t *self, const char *type, size_t tlen, const char *msg,
                      size_t mlen, const char *tb, size_t tblen)
{
    zj_enc_reset (self->tmp);
    zj_enc_array (self->tmp, 3);
    zj_enc_str (self->tmp, type, tlen);
    zj_enc_str (self->tmp, msg, mlen);
    zj_enc_str (self->tmp, tb ? tb : "", tb ? tblen : 0);
}

//  ---------------------------------------------------------------------
//  Worker loss

typedef struct {
    broker_t *broker;           //  whose tasks
    double now;                 //  when
    size_t requeued;            //  tasks queued again
    size_t failed;              //  tasks failed with WorkerLost
} lost_t;

double
broker_wall_offset (void)
{
    struct timespec wall, mono;
    clock_gettime (CLOCK_REALTIME, &wall);
    clock_gettime (CLOCK_MONOTONIC, &mono);
    return (double) (wall.tv_sec - mono.tv_sec) + (double) (wall.tv_nsec - mono.tv_nsec) / 1e9;
}

void
broker_log_attempt (broker_t *self, task_t *task, const attempt_t *a)
{
    if (!attempts_log_push (&task->log, a)) {
        log_error ("out of memory", "what=attempt dropped=1");
        return;
    }
    double offset = broker_wall_offset ();
    const store_attempt_t row = {
        .n = task->log->n,
        .host = {a->who ? a->who->host : "", a->who ? strlen (a->who->host) : 0},
        .pid = a->who ? a->who->pid : 0,
        .start = a->start > 0 ? a->start + offset : 0,
        .end = a->end + offset,
        .outcome = a->outcome,
        .error = {a->error, strlen (a->error)},
    };
    store_put_attempt (self->store, task, &row);
}

task_t *
broker_fail_lost (broker_t *self, task_t *task, double now)
{
    //  The runs before this one were lost or crashed (or raised a
    //  retry_on type); say which, so that a crashing task is not taken
    //  for a flaky network.
    size_t lost = 1, other = 0;
    for (size_t i = 0; task->log && i < task->log->n; i++) {
        if (task->log->a[i].outcome == ATTEMPT_LOST)
            lost++;
        else
            other++;
    }
    char msg[160];
    int n;
    if (!other)
        n = snprintf (msg, sizeof msg, "worker lost on each of %zu attempts", lost);
    else
        n = snprintf (msg, sizeof msg, "worker lost on the last of %zu attempts (%zu lost, "
                      "%zu crashed or failed; zjob status --json TICKET lists them)",
                      lost + other, lost, other);
    broker_error_payload (self, "WorkerLost", 10, msg, (size_t) n, "", 0);
    task->flags |= TASK_DEAD;
    self->dead++;
    return broker_finish (self, task, ZJ_STATE_FAILED, zj_enc_data (self->tmp),
                          zj_enc_size (self->tmp), now);
}

bool
broker_task_lost (broker_t *self, task_t *task, double now)
{
    if (broker_task_retry (self, task, ATTEMPT_LOST, "WorkerLost", 10, now))
        return true;
    if (task->attempts < UINT16_MAX)
        task->attempts++;
    broker_fail_lost (self, task, now);
    return false;
}

bool
broker_task_retry (broker_t *self, task_t *task, attempt_outcome_t outcome, const char *type,
                   size_t tlen, double now)
{
    //  Lost and crashed runs share one budget: max_retries requeues.
    if (task->attempts >= task->max_retries)
        return false;
    task->attempts++;
    //  The run goes to the log; on OOM it is only missing from the
    //  history, the task itself is still requeued.
    attempt_t a = {
        .start = task->since + (double) task->wait,
        .end = now,
        .who = task->who,
        .outcome = (uint8_t) outcome,
    };
    size_t n = tlen < sizeof a.error - 1 ? tlen : sizeof a.error - 1;
    memcpy (a.error, type, n);
    broker_log_attempt (self, task, &a);
    task->who = NULL;
    task->state = ZJ_STATE_QUEUED;
    store_set_state (self->store, task);
    tasks_counters (self->tasks)->retried++;
    metrics_count (report_fn (self, task->fn), METRICS_RETRIED);
    return true;
}

static bool
s_lost_cb (void *arg, task_t *task)
{
    lost_t *lost = arg;
    bool again = broker_task_lost (lost->broker, task, lost->now);
    if (again)
        lost->requeued++;
    else
        lost->failed++;
    return again;
}

void
broker_abort (broker_t *self, task_t *task)
{
    sched_worker_t *sw = task->worker;
    worker_t *w = sw->owner;
    bool unsent = (task->flags & TASK_UNSENT) != 0;
    sched_worker_release (self->sched, sw, task);
    if (unsent)
        return;                 //  it never left: nothing to abort
    if (self->naborts == self->cap_aborts) {
        size_t cap = self->cap_aborts ? self->cap_aborts * 2 : 64;
        abort_t *a = realloc (self->aborts, cap * sizeof *a);
        if (!a) {
            //  The worker runs it to the end; its DONE is discarded.
            log_error ("out of memory", "what=abort dropped=1");
            return;
        }
        self->aborts = a;
        self->cap_aborts = cap;
    }
    self->aborts[self->naborts++] = (abort_t) {w, task->gen, task->seq};
}

static int
s_abort_cmp (const void *a, const void *b)
{
    const abort_t *x = a, *y = b;
    if (x->worker != y->worker)
        return (uintptr_t) x->worker < (uintptr_t) y->worker ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

//  One ABORT per worker for the tickets taken from it this turn.
static void
s_queue_aborts (broker_t *self)
{
    if (!self->naborts)
        return;
    qsort (self->aborts, self->naborts, sizeof *self->aborts, s_abort_cmp);
    size_t i = 0;
    while (i < self->naborts) {
        worker_t *w = self->aborts[i].worker;
        size_t j = i;
        while (j < self->naborts && self->aborts[j].worker == w)
            j++;
        if (!w->dead) {
            zj_enc_tickets_begin (self->enc, ZJ_MSG_ABORT, 0, (uint32_t) (j - i));
            for (size_t k = i; k < j; k++) {
                char ticket[TICKET_MAX + 1];
                size_t tlen = ticket_format (self->aborts[k].gen, self->aborts[k].seq, ticket);
                zj_enc_str (self->enc, ticket, tlen);
            }
            broker_reply (self, BROKER_WORKERS, &w->id, self->enc);
        }
        i = j;
    }
    self->naborts = 0;
}

void
broker_worker_lost (broker_t *self, worker_t *w, const char *why, bool warn, double now)
{
    if (w->dead)
        return;
    broker_turn (self);
    lost_t lost = {self, now, 0, 0};
    uint32_t held = w->sw.held;
    sched_worker_detach (self->sched, &w->sw, s_lost_cb, &lost);
    char hex[129];
    log_emit (warn ? LOG_LEVEL_WARN : LOG_LEVEL_INFO, warn ? "worker lost" : "worker gone",
              "peer=%s worker=%s reason=%s held=%u requeued=%zu failed=%zu",
              peers_id_hex (&w->id, hex), w->name[0] ? w->name : "-", why, held,
              lost.requeued, lost.failed);
    peers_worker_kill (self->peers, w);
}

void
broker_tick (broker_t *self, double now)
{
    s_warn_window (self, now);
    //  Bounded, so that a mass expiry cannot stall the loop; the rest
    //  goes with the next ticks.
    timeouts_check (self, now, 10000);
    if (store_degraded (self->store) && now - self->store_retry >= 1.0) {
        self->store_retry = now;
        broker_turn (self);
    }
    //  Each side heartbeats at its own interval and judges the other by
    //  it: a worker is lost after liveness of the longer of the two
    //  intervals, and hears from us at least as often as it asked.
    //  Losing a worker changes the table being walked: find one, act,
    //  start over. Workers are few and losses rare.
    for (;;) {
        size_t cursor = 0;
        worker_t *w, *silent = NULL;
        while ((w = peers_worker_next (self->peers, &cursor)))
            if (now - w->last_seen
                >= fmax (self->cfg.heartbeat, w->heartbeat) * self->cfg.liveness) {
                silent = w;
                break;
            }
        if (!silent)
            break;
        char reason[64];
        snprintf (reason, sizeof reason, "silent-%.1fs", now - silent->last_seen);
        broker_worker_lost (self, silent, reason, true, now);
    }
    size_t cursor = 0;
    worker_t *w;
    while ((w = peers_worker_next (self->peers, &cursor))) {
        if (w->sw.paused)
            sched_worker_pause (self->sched, &w->sw, false);
        double interval = w->heartbeat > 0 ? fmin (w->heartbeat, self->cfg.heartbeat)
                                           : self->cfg.heartbeat;
        if (now - w->last_sent >= interval) {
            zj_enc_simple (self->enc, ZJ_MSG_HEARTBEAT, 0);
            broker_reply (self, BROKER_WORKERS, &w->id, self->enc);
            w->last_sent = now;
        }
    }
}

static void
s_expired_cb (void *arg, task_t *task)
{
    broker_t *self = arg;
    if ((task->flags & TASK_DEAD) && self->dead)
        self->dead--;
    metrics_count (report_fn (self, task->fn), METRICS_EXPIRED);
    sched_fn_unref (self->sched, task->fn);
}

//  Dispatch records past this many make the store take a snapshot of
//  what is out on workers, so that a restart reads few of them.
#define SNAPSHOT_BACKLOG 100000

static void
s_snapshot (broker_t *self)
{
    size_t n = sched_running (self->sched);
    if (!broker_scratch (self, n ? n : 1))
        return;
    task_t **all = self->scratch_tasks;
    size_t k = 0, cursor = 0;
    worker_t *w;
    while ((w = peers_worker_next (self->peers, &cursor)))
        for (task_t *t = w->sw.head; t && k < n; t = t->next)
            all[k++] = t;
    store_put_running (self->store, all, k);
}

static void
s_forgot_cb (void *arg, const dedup_entry_t *entry)
{
    broker_t *self = arg;
    store_delete_submit (self->store, dedup_client (entry), entry->req);
    //  Made this turn and already past retention (a tiny --retention, or
    //  a clock jump): a failed commit must not remove it a second time.
    for (size_t i = 0; i < self->nturn_subs; i++)
        if (self->turn_subs[i].entry == entry)
            self->turn_subs[i].entry = NULL;
}

bool
broker_expire (broker_t *self, double now)
{
    bool more = false, more_subs = false;
    size_t batch = self->cfg.expire_batch ? self->cfg.expire_batch : EXPIRE_BATCH;
    broker_turn (self);
    if (store_backlog (self->store) >= SNAPSHOT_BACKLOG)
        s_snapshot (self);
    size_t done = tasks_expire (self->tasks, now, self->cfg.retention, batch, s_expired_cb,
                                self, &more);
    if (done < batch)
        dedup_expire (self->dedup, now, self->cfg.retention, batch - done, s_forgot_cb, self,
                      &more_subs);
    return more || more_subs;
}

//  ---------------------------------------------------------------------
//  Flush

//  Encode a worker's new tasks as TASKS messages of about
//  BROKER_BATCH_BYTES each and queue them.
static void
s_queue_tasks (broker_t *self, worker_t *w, task_t *first, uint32_t n, double now)
{
    task_t *t = first;
    while (n) {
        uint32_t k = 0;
        size_t bytes = 0;
        for (task_t *u = t; k < n && (k == 0 || bytes < BROKER_BATCH_BYTES); u = u->next) {
            bytes += u->len + 64;
            k++;
        }
        zj_enc_jobs_begin (self->enc, k);
        task_t *u = t;
        for (uint32_t i = 0; i < k; i++, u = u->next) {
            char ticket[TICKET_MAX + 1];
            size_t tlen = tasks_ticket (u, ticket);
            size_t flen;
            const char *fname = sched_fn_name (u->fn, &flen);
            zj_job_t job = {
                .ticket = {ticket, tlen},
                .fn = {fname, flen},
                .args = {u->blob, u->len},
                .timeout = u->timeout,
                .chunk = (u->flags & TASK_CHUNK) != 0,
            };
            zj_enc_job (self->enc, &job);
            store_set_state (self->store, u);
            report_dispatch (self, u, now);
            u->who = w->who;
            if (u->timeout > 0)
                timeouts_arm (self, u);
        }
        size_t len = 0;
        uint8_t *body = s_enc_bytes (self->enc, &len);
        out_t *o = body ? s_out_push (self, BROKER_WORKERS, &w->id, body, len) : NULL;
        if (!o) {
            //  Nothing will reach the worker: take the rest back.
            log_error ("out of memory", "what=tasks requeued=%u", n);
            u = t;
            for (uint32_t i = 0; i < n; i++, u = u->next) {
                u->state = ZJ_STATE_QUEUED;
                store_set_state (self->store, u);
            }
            sched_worker_unassign (self->sched, &w->sw, t, n);
            sched_worker_pause (self->sched, &w->sw, true);
            return;
        }
        o->kind = OUT_TASKS;
        o->worker = w;
        o->first = t;
        o->ntasks = k;
        t = u;
        n -= k;
    }
    w->last_sent = now;
}

static void
s_send_failed (broker_t *self, out_t *o, int err, double now)
{
    char hex[129];
    if (o->kind == OUT_TASKS) {
        worker_t *w = o->worker;
        broker_turn (self);
        task_t *t = o->first;
        for (uint32_t i = 0; i < o->ntasks; i++, t = t->next) {
            t->state = ZJ_STATE_QUEUED;
            store_set_state (self->store, t);
        }
        sched_worker_unassign (self->sched, &w->sw, o->first, o->ntasks);
        if (err == EAGAIN) {
            sched_worker_pause (self->sched, &w->sw, true);
            if (s_warn_ok (self, now))
                log_warn ("worker queue full", "peer=%s requeued=%u", peers_id_hex (&w->id, hex),
                          o->ntasks);
        }
        else
            broker_worker_lost (self, w, err == EHOSTUNREACH ? "unreachable" : strerror (err),
                                true, now);
        return;
    }
    if (o->sock == BROKER_WORKERS && err == EHOSTUNREACH && !self->shutting_down) {
        worker_t *w = peers_worker_find (self->peers, &o->id);
        if (w)
            broker_worker_lost (self, w, "unreachable", true, now);
        return;
    }
    if (err == EHOSTUNREACH)
        log_debug ("peer unreachable", "socket=%s peer=%s dropped=1", s_sock_name[o->sock],
                   peers_id_hex (&o->id, hex));
    else if (s_warn_ok (self, now))
        log_warn ("send failed", "socket=%s peer=%s error=\"%s\" dropped=1",
                  s_sock_name[o->sock], peers_id_hex (&o->id, hex), strerror (err));
}

bool
broker_flush (broker_t *self, double now, broker_send_fn *send, void *arg)
{
    //  Group commit first: everything this turn changed becomes durable
    //  before any reply that promises it leaves, and a failed commit can
    //  still take back the turn's new tasks (none is dispatched yet).
    //  The dispatch marks below go with the next turn's commit.
    broker_commit (self, now);
    //  ABORTs before new TASKS: the worker frees the slot first.
    s_queue_aborts (self);
    if (sched_dirty (self->sched)) {
        broker_turn (self);
        sched_dispatch (self->sched);
    }
    sched_worker_t *sw;
    uint32_t n;
    task_t *first;
    while ((first = sched_batch_take (self->sched, &sw, &n)))
        s_queue_tasks (self, sw->owner, first, n, now);
    client_t *c;
    while ((c = peers_client_dirty_pop (self->peers))) {
        s_seal_client (self, c);
        peers_client_idle (self->peers, c);
    }
    //  Failures below may queue new messages (the outbox may move); they
    //  stay for the next turn, after its commit.
    size_t count = self->nout;
    for (size_t i = 0; i < count; i++) {
        out_t *o = &self->out[i];
        if ((o->kind == OUT_TASKS && o->worker->dead) || !o->body) {
            free (o->body);
            o->body = NULL;
            continue;
        }
        uint8_t *body = o->body;
        o->body = NULL;
        int rc = send (arg, (broker_sock_t) o->sock, o->id.bytes, o->id.len, body, o->len);
        if (rc) {
            out_t failed = *o;
            s_send_failed (self, &failed, rc, now);
        }
    }
    if (self->nout > count)
        memmove (self->out, self->out + count, (self->nout - count) * sizeof *self->out);
    self->nout -= count;
    peers_reap (self->peers);
    return self->nout > 0 || self->turn_open || sched_dirty (self->sched);
}

void
broker_shutdown (broker_t *self, double now)
{
    if (self->shutting_down)
        return;
    self->shutting_down = true;
    size_t cursor = 0, nw = 0, nc = 0;
    worker_t *w;
    zj_enc_simple (self->enc, ZJ_MSG_DISCONNECT, 0);
    while ((w = peers_worker_next (self->peers, &cursor))) {
        broker_reply (self, BROKER_WORKERS, &w->id, self->enc);
        nw++;
    }
    cursor = 0;
    client_t *c;
    while ((c = peers_client_next (self->peers, &cursor)))
        if (c->refs) {
            broker_reply (self, BROKER_CLIENTS, &c->id, self->enc);
            nc++;
        }
    log_info ("shutting down", "workers=%zu clients=%zu queued=%zu running=%zu", nw, nc,
              sched_queued (self->sched), sched_running (self->sched));
}

