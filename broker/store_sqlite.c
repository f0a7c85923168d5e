// SPDX-License-Identifier: MIT
//  store_sqlite - the durable backend, loop side: a turn's changes are
//  logged into chunks (bytes copied into each chunk's reused arena, no
//  allocation per task); a full chunk goes to the writer thread
//  (store_write.c), which writes it while the turn goes on, and
//  commit_turn hands over the rest and waits for the commit. Opening is
//  in store_open.c, recovery in store_recover.c; docs/store.md has the
//  schema.
#include "store_sqlite_int.h"
#include "attempts.h"
#include "sched.h"
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Items a chunk takes before it goes to the writer: big enough that
//  handing over costs nothing per task, small enough that the writer
//  starts early in a busy turn.
#define CHUNK_ITEMS 512

//  ---------------------------------------------------------------------
//  Chunks

static void *
s_vec_push (store_chunk_t *c, store_vec_t *v, size_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        void *items = realloc (v->items, cap * size);
        if (!items) {
            c->failed = true;
            return NULL;
        }
        v->items = items;
        v->cap = cap;
    }
    c->items++;
    return (uint8_t *) v->items + size * v->n++;
}

//  Copy bytes into the chunk's arena; returns the offset (0 on failure,
//  with c->failed set: its commit then fails like a full store).
static size_t
s_copy (store_chunk_t *c, const void *data, size_t len)
{
    if (c->arena_len + len > c->arena_cap) {
        size_t cap = c->arena_cap ? c->arena_cap : 16 * 1024;
        while (cap < c->arena_len + len)
            cap *= 2;
        uint8_t *arena = realloc (c->arena, cap);
        if (!arena) {
            c->failed = true;
            return 0;
        }
        c->arena = arena;
        c->arena_cap = cap;
    }
    size_t off = c->arena_len;
    if (len)
        memcpy (c->arena + off, data, len);
    c->arena_len += len;
    return off;
}

static void
s_chunk_free (store_chunk_t *c)
{
    free (c->ins.items);
    free (c->states.items);
    free (c->disp.items);
    free (c->outs.items);
    free (c->atts.items);
    free (c->runners.items);
    free (c->dels.items);
    free (c->atts_dels.items);
    free (c->sub_puts.items);
    free (c->sub_dels.items);
    free (c->arena);
    free (c);
}

//  Put a list of chunks (linked by ->next) back on the spare list, empty.
static void
s_recycle (store_sqlite_t *self, store_chunk_t *c)
{
    while (c) {
        store_chunk_t *next = c->next;
        //  Give a burst's memory back.
        if (c->arena_cap > 16 * 1024 * 1024) {
            s_chunk_free (c);
            c = next;
            continue;
        }
        c->ins.n = c->states.n = c->disp.n = c->outs.n = c->atts.n = c->runners.n = 0;
        c->dels.n = c->atts_dels.n = 0;
        c->sub_puts.n = c->sub_dels.n = 0;
        c->arena_len = c->items = 0;
        c->failed = c->commit = false;
        c->trim_below = 0;
        c->gen_seq = 0;
        c->qnext = NULL;
        c->next = self->spare;
        self->spare = c;
        c = next;
    }
}

//  The chunk being filled, made when missing. NULL on OOM.
static store_chunk_t *
s_cur (store_sqlite_t *self)
{
    if (self->cur)
        return self->cur;
    store_chunk_t *c = self->spare;
    if (c)
        self->spare = c->next;
    else {
        c = calloc (1, sizeof *c);
        if (!c)
            return NULL;
    }
    c->next = c->qnext = NULL;
    c->now = self->now;
    self->cur = c;
    return c;
}

//  Give chunk c to the writer, after what earlier failed commits kept
//  (they must reach the disk first), and add them all to the turn.
static void
s_send (store_sqlite_t *self, store_chunk_t *c)
{
    store_chunk_t *first = c;
    if (self->pending) {
        first = self->pending;
        store_chunk_t *p = self->pending;
        while (p->next) {
            p->qnext = p->next;
            p = p->next;
        }
        p->qnext = c;
        p->next = c;
        if (self->turn_tail)
            self->turn_tail->next = self->pending;
        else
            self->turn_head = self->pending;
        self->pending = NULL;
    }
    else {
        if (self->turn_tail)
            self->turn_tail->next = c;
        else
            self->turn_head = c;
    }
    c->next = NULL;
    self->turn_tail = c;
    store_writer_put (self, first, c);
}

//  The current chunk goes to the writer now. A dispatch row never spans
//  chunks (each chunk writes its rows whole).
static void
s_handoff (store_sqlite_t *self)
{
    store_chunk_t *c = self->cur;
    if (!c)
        return;
    self->cur = NULL;
    self->disp_open = false;
    s_send (self, c);
}

//  A full chunk goes to the writer; not while a failed commit's changes
//  wait (degraded): then the turn goes whole at commit, see s_commit_now.
static void
s_full (store_sqlite_t *self)
{
    if (self->cur && self->cur->items >= CHUNK_ITEMS && !self->cur->failed && !self->pending
        && !self->reading)
        s_handoff (self);
}

//  The runners row id of `r` for a change logged into chunk c, which
//  also gets the runner's row the first time (0: no runner).
static int64_t
s_runner_id (store_chunk_t *c, store_runner_t *r)
{
    if (!r)
        return 0;
    r->used = true;
    if (!r->logged) {
        store_runner_t **row = s_vec_push (c, &c->runners, sizeof *row);
        if (!row)
            return 0;
        *row = r;
        r->logged = true;
    }
    return r->id;
}

//  The runners row id of an interned identity: one compare in the cache
//  for the identities that finish tasks all the time.
static int64_t
s_who_id (store_sqlite_t *self, store_chunk_t *c, const attempt_who_t *who)
{
    if (!who)
        return 0;
    uint64_t h = (uint64_t) (uintptr_t) who * UINT64_C (0x9E3779B97F4A7C15);
    store_who_t *slot = &self->who_cache[h >> 56 & (STORE_WHO_CACHE - 1)];
    store_runner_t *r = slot->who == who ? slot->runner : NULL;
    if (!r || r->pid != who->pid || strcmp (r->host, who->host) != 0) {
        r = store_runner_get (self, who->host, strlen (who->host), who->pid);
        *slot = (store_who_t) {r ? who : NULL, r};
    }
    return s_runner_id (c, r);
}

static int64_t
s_id (const store_sqlite_t *self, const task_t *task)
{
    //  Tasks of earlier generations keep the slot they were stored with.
    return task->gen == self->gen ? STORE_ID (self->slot, task->seq)
                                  : store_recover_id (&self->base, task->gen, task->seq);
}

//  ---------------------------------------------------------------------
//  Operations

static zj_err_t
s_begin_turn (store_t *base)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    if (!self->turn_open) {
        self->turn_open = true;
        self->now = store_wall ();
    }
    return ZJ_OK;
}

//  A new item of `size` bytes in the vector at offset `vec` of the
//  current chunk (*c_p), the turn begun. NULL on OOM.
static void *
s_log (store_sqlite_t *self, size_t vec, size_t size, store_chunk_t **c_p)
{
    s_begin_turn (&self->base);
    store_chunk_t *c = *c_p = s_cur (self);
    return c ? s_vec_push (c, (store_vec_t *) ((uint8_t *) c + vec), size) : NULL;
}

//  Taken back (a requeue) or reopened: no dispatch row up to this one
//  counts for the task, and a later dispatch goes into a newer row. A
//  reopen is submitted anew at `submitted` (unix); 0 keeps the time.
static zj_err_t
s_requeue (store_sqlite_t *self, store_chunk_t *c, const task_t *task, double submitted)
{
    store_state_t *st = s_vec_push (c, &c->states, sizeof *st);
    if (!st)
        return ZJ_ENOMEM;
    st->id = s_id (self, task);
    st->attempts = task->attempts;
    st->requeued = self->dseq;
    st->submitted = submitted;
    self->disp_open = false;
    s_full (self);
    return ZJ_OK;
}

static zj_err_t
s_put_tasks (store_t *base, task_t *const *tasks, size_t count)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    s_begin_turn (base);
    for (size_t i = 0; i < count; i++) {
        const task_t *t = tasks[i];
        if (t->seq > STORE_SEQ_MAX) {
            snprintf (self->why, sizeof self->why,
                      "generation %llx used up every sequence number; restart zjobd",
                      (unsigned long long) self->gen);
            return ZJ_ENOSPC;
        }
    }
    for (size_t i = 0; i < count; i++) {
        const task_t *t = tasks[i];
        store_chunk_t *c = s_cur (self);
        if (!c)
            return ZJ_ENOMEM;
        store_ins_t *ins = s_vec_push (c, &c->ins, sizeof *ins);
        if (!ins)
            return ZJ_ENOMEM;
        size_t flen;
        const char *fname = sched_fn_name (t->fn, &flen);
        ins->id = STORE_ID (self->slot, t->seq);
        ins->seq = t->seq;
        ins->fn_len = (uint32_t) flen;
        ins->fn = s_copy (c, fname, flen);
        ins->args_len = t->len;
        ins->args = s_copy (c, t->blob, t->len);
        ins->priority = t->priority;
        ins->timeout = t->timeout;
        ins->max_retries = t->max_retries;
        ins->attempts = t->attempts;
        ins->chunk = (t->flags & TASK_CHUNK) != 0;
        //  Few tasks have a retry_on: the others cost one test.
        const attempt_log_t *log = t->log;
        ins->retry_len = log && log->retry_on ? log->retry_len : 0;
        ins->retry = ins->retry_len ? s_copy (c, log->retry_on, ins->retry_len) : 0;
        if (t->seq > self->turn_max_seq)
            self->turn_max_seq = t->seq;
        if (c->failed)
            return ZJ_ENOMEM;
        s_full (self);
    }
    return ZJ_OK;
}

static zj_err_t
s_set_state (store_t *base, const task_t *task)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    s_begin_turn (base);
    store_chunk_t *c = s_cur (self);
    if (!c)
        return ZJ_ENOMEM;
    if (task->state != ZJ_STATE_RUNNING)
        return s_requeue (self, c, task, 0);
    store_disp_t *d = s_vec_push (c, &c->disp, sizeof *d);
    if (!d)
        return ZJ_ENOMEM;
    if (!self->disp_open) {
        self->dseq++;
        self->disp_open = true;
    }
    d->id = s_id (self, task);
    d->row = self->dseq;
    self->backlog++;
    s_full (self);
    return ZJ_OK;
}

static zj_err_t
s_put_running (store_t *base, task_t *const *tasks, size_t count)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    s_begin_turn (base);
    //  One row with every task out on a worker now replaces all before it.
    store_chunk_t *c = s_cur (self);
    if (!c)
        return ZJ_ENOMEM;
    self->dseq++;
    for (size_t i = 0; i < count; i++) {
        store_disp_t *d = s_vec_push (c, &c->disp, sizeof *d);
        if (!d)
            return ZJ_ENOMEM;
        d->id = s_id (self, tasks[i]);
        d->row = self->dseq;
    }
    if (!count) {
        //  An empty row still marks where the snapshot was taken.
        store_disp_t *d = s_vec_push (c, &c->disp, sizeof *d);
        if (!d)
            return ZJ_ENOMEM;
        *d = (store_disp_t) {0, self->dseq};
    }
    c->trim_below = self->dseq;
    self->disp_open = false;
    self->backlog = 0;
    s_full (self);
    return ZJ_OK;
}

static size_t
s_backlog (store_t *base)
{
    return ((store_sqlite_t *) base)->backlog;
}

static zj_err_t
s_put_outcome (store_t *base, const task_t *task)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    store_chunk_t *c;
    store_out_t *o = s_log (self, offsetof (store_chunk_t, outs), sizeof *o, &c);
    if (!o)
        return ZJ_ENOMEM;
    size_t len;
    const uint8_t *payload = tasks_payload (task, &len);
    o->id = s_id (self, task);
    o->state = task->state;
    o->has_payload = payload != NULL;
    o->len = payload ? len : 0;
    o->off = payload ? s_copy (c, payload, len) : 0;
    o->dead = (task->flags & TASK_DEAD) != 0;
    //  The run that finished it, if one did.
    o->has_who = task->who != NULL;
    o->runner = s_who_id (self, c, task->who);
    o->run = task->who ? (double) task->run : 0;
    if (c->failed)
        return ZJ_ENOMEM;
    s_full (self);
    return ZJ_OK;
}

static zj_err_t
s_put_attempt (store_t *base, const task_t *task, const store_attempt_t *a)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    store_chunk_t *c;
    store_att_t *x = s_log (self, offsetof (store_chunk_t, atts), sizeof *x, &c);
    if (!x)
        return ZJ_ENOMEM;
    x->id = s_id (self, task);
    x->n = a->n;
    x->outcome = a->outcome;
    x->start = a->start;
    x->end = a->end;
    x->runner = s_runner_id (c, store_runner_get (self, a->host.ptr ? a->host.ptr : "",
                                                  a->host.ptr ? a->host.len : 0, a->pid));
    x->error_len = a->error.ptr ? (uint32_t) a->error.len : 0;
    x->error = x->error_len ? s_copy (c, a->error.ptr, x->error_len) : 0;
    if (c->failed)
        return ZJ_ENOMEM;
    s_full (self);
    return ZJ_OK;
}

//  A reopen is an entry in the outcomes vector (which the writer applies
//  in order: an outcome logged after it wins) and a requeue in the states
//  vector (likewise ordered with the task's requeues).
static zj_err_t
s_reopen (store_t *base, const task_t *task)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    store_chunk_t *c;
    store_out_t *o = s_log (self, offsetof (store_chunk_t, outs), sizeof *o, &c);
    if (!o)
        return ZJ_ENOMEM;
    *o = (store_out_t) {.id = s_id (self, task), .state = STORE_REOPEN};
    //  Queued anew: its queue age counts from the retry, as in the broker.
    return s_requeue (self, c, task, self->now);
}

static zj_err_t
s_delete_task (store_t *base, const task_t *task)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    store_chunk_t *c;
    int64_t *id = s_log (self, offsetof (store_chunk_t, dels), sizeof *id, &c);
    if (!id)
        return ZJ_ENOMEM;
    *id = s_id (self, task);
    //  Runs are only written for a task whose log holds them (the store
    //  sweeps rows left without their task when it opens).
    if (task->log) {
        int64_t *att = s_vec_push (c, &c->atts_dels, sizeof *att);
        if (!att)
            return ZJ_ENOMEM;
        *att = *id;
    }
    self->turn_dels = true;
    s_full (self);
    return ZJ_OK;
}

static zj_err_t
s_sub (store_sqlite_t *self, bool put, zj_str_t client, uint64_t req, int64_t first,
       uint32_t count)
{
    store_chunk_t *c;
    store_sub_t *s = s_log (self, put ? offsetof (store_chunk_t, sub_puts)
                                      : offsetof (store_chunk_t, sub_dels), sizeof *s, &c);
    if (!s)
        return ZJ_ENOMEM;
    s->client_len = (uint32_t) client.len;
    s->client = s_copy (c, client.ptr, client.len);
    s->req = req;
    s->first = first;
    s->count = count;
    if (c->failed)
        return ZJ_ENOMEM;
    s_full (self);
    return ZJ_OK;
}

static zj_err_t
s_put_submit (store_t *base, zj_str_t client, uint64_t req, uint64_t gen, uint64_t seq,
              uint32_t count)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    int64_t first = gen == self->gen ? STORE_ID (self->slot, seq)
                                     : store_recover_id (base, gen, seq);
    return s_sub (self, true, client, req, first, count);
}

static zj_err_t
s_delete_submit (store_t *base, zj_str_t client, uint64_t req)
{
    return s_sub ((store_sqlite_t *) base, false, client, req, 0, 0);
}

//  ---------------------------------------------------------------------
//  Commit

static bool
s_chunk_empty (const store_chunk_t *c)
{
    return !c->ins.n && !c->states.n && !c->disp.n && !c->outs.n && !c->atts.n && !c->dels.n
        && !c->runners.n && !c->sub_puts.n && !c->sub_dels.n && !c->trim_below;
}

//  After a failed commit: forget the turn's new tasks and submits (the
//  broker refuses them) and whatever else refers to those tasks; returns
//  the chunks with what is kept (linked by ->next), recycling the rest.
//  Sets *had_new when there was something to forget.
static store_chunk_t *
s_drop_new (store_sqlite_t *self, bool *had_new)
{
    size_t nd = 0;
    for (store_chunk_t *c = self->turn_head; c; c = c->next) {
        nd += c->ins.n;
        *had_new = *had_new || c->ins.n || c->sub_puts.n;
    }
    int64_t *dropped = nd ? malloc (nd * sizeof *dropped) : NULL;
    size_t k = 0;
    for (store_chunk_t *c = self->turn_head; dropped && c; c = c->next)
        for (size_t i = 0; i < c->ins.n; i++)
            dropped[k++] = ((store_ins_t *) c->ins.items)[i].id;
    if (dropped)
        qsort (dropped, k, sizeof *dropped, store_cmp_id);
    store_chunk_t *keep = NULL, **tail = &keep;
    store_chunk_t *c = self->turn_head;
    self->turn_head = self->turn_tail = NULL;
    while (c) {
        store_chunk_t *next = c->next;
        c->next = NULL;
        c->commit = false;
        c->gen_seq = 0;
        c->ins.n = 0;
        c->sub_puts.n = 0;
        store_chunk_drop_ids (c, dropped, k);
        store_vec_drop_ids (&c->disp, sizeof (store_disp_t), dropped, k);
        store_vec_drop_ids (&c->dels, sizeof (int64_t), dropped, k);
        store_vec_drop_ids (&c->atts_dels, sizeof (int64_t), dropped, k);
        if (c->failed) {
            //  What its arena holds cannot be trusted: keep what needs
            //  no bytes (requeues, dispatches, reopens, runners: kept
            //  changes of later chunks may name them). Those tasks run
            //  again after a restart.
            store_out_t *outs = c->outs.items;
            size_t n = 0;
            for (size_t i = 0; i < c->outs.n; i++)
                if (outs[i].state == STORE_REOPEN)
                    outs[n++] = outs[i];
            c->outs.n = n;
            c->atts.n = c->sub_dels.n = 0;
            c->failed = false;
        }
        if (s_chunk_empty (c))
            s_recycle (self, c);
        else {
            *tail = c;
            tail = &c->next;
        }
        c = next;
    }
    free (dropped);
    self->turn_max_seq = self->max_seq;
    return keep;
}

//  Send the turn (cur, after any pending chunks) with a commit mark and
//  wait. Returns the SQLite result.
static int
s_commit_now (store_sqlite_t *self, const char **what)
{
    store_chunk_t *c = s_cur (self);
    if (!c) {
        *what = "logging (out of memory)";
        return SQLITE_NOMEM;
    }
    if (self->pending && c->dels.n) {
        //  Deletes first, in a chunk of their own: they make room for
        //  what waits (a full disk), and what waits for a deleted task
        //  is of no use any more.
        store_chunk_t *d = calloc (1, sizeof *d);
        if (d) {
            //  d takes the deletes' buffers; c makes new ones if need be.
            d->dels = c->dels;
            d->atts_dels = c->atts_dels;
            c->dels = c->atts_dels = (store_vec_t) {0};
            int64_t *ids = d->dels.items;
            qsort (ids, d->dels.n, sizeof *ids, store_cmp_id);
            d->items = d->dels.n + d->atts_dels.n;
            d->now = c->now;
            for (store_chunk_t *p = self->pending; p; p = p->next) {
                store_chunk_drop_ids (p, ids, d->dels.n);
                store_vec_drop_ids (&p->disp, sizeof (store_disp_t), ids, d->dels.n);
            }
            d->next = self->pending;
            self->pending = d;
        }
    }
    self->cur = NULL;
    self->disp_open = false;
    c->commit = true;
    c->gen_seq = self->turn_dels && self->turn_max_seq > self->gen_written
        ? self->turn_max_seq : 0;
    s_send (self, c);
    return store_writer_wait (self, what);
}

static zj_err_t
s_commit_turn (store_t *base)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    self->turn_open = false;
    if (!self->turn_head && !self->pending && (!self->cur || s_chunk_empty (self->cur)))
        return ZJ_OK;
    const char *what = "logging";
    int rc = s_commit_now (self, &what);
    if (rc == SQLITE_OK) {
        if (self->turn_dels && self->turn_max_seq > self->gen_written)
            self->gen_written = self->turn_max_seq;
        self->max_seq = self->turn_max_seq;
        self->turn_dels = false;
        self->degraded = false;
        s_recycle (self, self->turn_head);
        self->turn_head = self->turn_tail = NULL;
        return ZJ_OK;
    }
    zj_err_t err = rc == SQLITE_NOMEM ? ZJ_ENOMEM : store_fail (self, rc, what);
    if (rc == SQLITE_NOMEM)
        snprintf (self->why, sizeof self->why, "%s: out of memory (%s)", self->path, what);
    //  What the broker already acted on must reach the disk some time:
    //  try it alone now (it may fit without the new tasks), and with every
    //  later commit.
    bool had_new = false;
    store_chunk_t *keep = s_drop_new (self, &had_new);
    self->degraded = keep != NULL;
    if (keep && had_new) {
        self->pending = keep;
        if (s_commit_now (self, &what) == SQLITE_OK) {
            if (self->turn_dels && self->turn_max_seq > self->gen_written)
                self->gen_written = self->turn_max_seq;
            self->turn_dels = false;
            self->degraded = false;
            s_recycle (self, self->turn_head);
            self->turn_head = self->turn_tail = NULL;
            return err;
        }
        keep = s_drop_new (self, &had_new);
    }
    self->pending = keep;
    self->degraded = keep != NULL;
    return err;
}

static zj_err_t
s_gen_start (store_t *base, uint64_t gen)
{
    return store_generation_start (base, gen);
}

static bool
s_degraded (store_t *base)
{
    return ((store_sqlite_t *) base)->degraded;
}

static const char *
s_why (store_t *base)
{
    return ((store_sqlite_t *) base)->why;
}

static void
s_destroy (store_t *base)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    store_close (self);
    store_recover_free (base);
    store_runners_free (self);
    store_chunk_t *lists[] = {self->cur, self->turn_head, self->pending, self->spare};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        for (store_chunk_t *c = lists[i]; c;) {
            store_chunk_t *next = c->next;
            s_chunk_free (c);
            c = next;
        }
    free (self->json);
    free (self);
}

static const store_ops_t s_ops = {
    .name = "sqlite",
    .start_generation = s_gen_start,
    .begin_turn = s_begin_turn,
    .commit_turn = s_commit_turn,
    .put_tasks = s_put_tasks,
    .set_state = s_set_state,
    .put_outcome = s_put_outcome,
    .put_attempt = s_put_attempt,
    .reopen = s_reopen,
    .delete_task = s_delete_task,
    .put_submit = s_put_submit,
    .put_running = s_put_running,
    .backlog = s_backlog,
    .delete_submit = s_delete_submit,
    .recover = store_recover_all,
    .degraded = s_degraded,
    .why = s_why,
    .destroy = s_destroy,
};

store_t *
store_sqlite_new (const store_sqlite_config_t *config, char *why, size_t why_len)
{
    store_sqlite_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (why, why_len, "out of memory opening the store");
        return NULL;
    }
    self->base.ops = &s_ops;
    if (!store_open (self, config)) {
        snprintf (why, why_len, "%s", self->why);
        s_destroy (&self->base);
        return NULL;
    }
    return &self->base;
}
