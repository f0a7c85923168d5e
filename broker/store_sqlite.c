// SPDX-License-Identifier: MIT
//  store_sqlite - the durable backend: a turn's changes are logged in
//  memory (bytes copied into one reused arena, no allocation per task)
//  and written at commit_turn in one transaction, with statements that
//  take many rows each. Opening is in store_open.c, recovery in
//  store_recover.c; docs/store.md has the schema.
#include "store_sqlite_int.h"
#include "mpread.h"
#include "sched.h"
#include "ticket.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  ---------------------------------------------------------------------
//  The turn log

static void *
s_vec_push (store_sqlite_t *self, store_vec_t *v, size_t size)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        void *items = realloc (v->items, cap * size);
        if (!items) {
            self->arena_failed = true;
            return NULL;
        }
        v->items = items;
        v->cap = cap;
    }
    return (uint8_t *) v->items + size * v->n++;
}

//  Copy bytes into the arena; returns the offset (0 on failure, with
//  arena_failed set: the commit then fails like a full store).
static size_t
s_copy (store_sqlite_t *self, const void *data, size_t len)
{
    if (self->arena_len + len > self->arena_cap) {
        size_t cap = self->arena_cap ? self->arena_cap : 64 * 1024;
        while (cap < self->arena_len + len)
            cap *= 2;
        uint8_t *arena = realloc (self->arena, cap);
        if (!arena) {
            self->arena_failed = true;
            return 0;
        }
        self->arena = arena;
        self->arena_cap = cap;
    }
    size_t off = self->arena_len;
    if (len)
        memcpy (self->arena + off, data, len);
    self->arena_len += len;
    return off;
}

static void
s_log_clear (store_sqlite_t *self)
{
    self->ins.n = self->states.n = self->outs.n = self->dels.n = self->disp.n = 0;
    self->trim_below = 0;
    self->sub_puts.n = self->sub_dels.n = 0;
    self->arena_len = 0;
    self->arena_failed = false;
    //  Give a burst's memory back.
    if (self->arena_cap > 64 * 1024 * 1024) {
        free (self->arena);
        self->arena = NULL;
        self->arena_cap = 0;
    }
}

static bool
s_log_empty (const store_sqlite_t *self)
{
    return !self->ins.n && !self->states.n && !self->outs.n && !self->dels.n && !self->disp.n
        && !self->sub_puts.n && !self->sub_dels.n && !self->trim_below;
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
        store_ins_t *ins = s_vec_push (self, &self->ins, sizeof *ins);
        if (!ins)
            return ZJ_ENOMEM;
        size_t flen;
        const char *fname = sched_fn_name (t->fn, &flen);
        ins->id = STORE_ID (self->slot, t->seq);
        ins->seq = t->seq;
        ins->fn_len = (uint32_t) flen;
        ins->fn = s_copy (self, fname, flen);
        ins->args_len = t->len;
        ins->args = s_copy (self, t->blob, t->len);
        ins->priority = t->priority;
        ins->timeout = t->timeout;
        ins->max_retries = t->max_retries;
        ins->attempts = t->attempts;
        ins->chunk = (t->flags & TASK_CHUNK) != 0;
        if (t->seq > self->turn_max_seq)
            self->turn_max_seq = t->seq;
    }
    return self->arena_failed ? ZJ_ENOMEM : ZJ_OK;
}

static zj_err_t
s_set_state (store_t *base, const task_t *task)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    s_begin_turn (base);
    if (task->state == ZJ_STATE_RUNNING) {
        store_disp_t *d = s_vec_push (self, &self->disp, sizeof *d);
        if (!d)
            return ZJ_ENOMEM;
        if (!self->disp_open) {
            self->dseq++;
            self->disp_open = true;
        }
        d->id = s_id (self, task);
        d->row = self->dseq;
        self->backlog++;
        return ZJ_OK;
    }
    //  Taken back: no dispatch row up to this one counts for the task,
    //  and a later dispatch goes into a newer row.
    store_state_t *st = s_vec_push (self, &self->states, sizeof *st);
    if (!st)
        return ZJ_ENOMEM;
    st->id = s_id (self, task);
    st->attempts = task->attempts;
    st->requeued = self->dseq;
    self->disp_open = false;
    return ZJ_OK;
}

static zj_err_t
s_put_running (store_t *base, task_t *const *tasks, size_t count)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    s_begin_turn (base);
    //  One row with every task out on a worker now replaces all before it.
    self->dseq++;
    for (size_t i = 0; i < count; i++) {
        store_disp_t *d = s_vec_push (self, &self->disp, sizeof *d);
        if (!d)
            return ZJ_ENOMEM;
        d->id = s_id (self, tasks[i]);
        d->row = self->dseq;
    }
    if (!count) {
        //  An empty row still marks where the snapshot was taken.
        store_disp_t *d = s_vec_push (self, &self->disp, sizeof *d);
        if (!d)
            return ZJ_ENOMEM;
        *d = (store_disp_t) {0, self->dseq};
    }
    self->trim_below = self->dseq;
    self->disp_open = false;
    self->backlog = 0;
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
    s_begin_turn (base);
    store_out_t *o = s_vec_push (self, &self->outs, sizeof *o);
    if (!o)
        return ZJ_ENOMEM;
    size_t len;
    const uint8_t *payload = tasks_payload (task, &len);
    o->id = s_id (self, task);
    o->state = task->state;
    o->has_payload = payload != NULL;
    o->len = payload ? len : 0;
    o->off = payload ? s_copy (self, payload, len) : 0;
    return self->arena_failed ? ZJ_ENOMEM : ZJ_OK;
}

static zj_err_t
s_delete_task (store_t *base, const task_t *task)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    s_begin_turn (base);
    int64_t *id = s_vec_push (self, &self->dels, sizeof *id);
    if (!id)
        return ZJ_ENOMEM;
    *id = s_id (self, task);
    return ZJ_OK;
}

static zj_err_t
s_sub (store_sqlite_t *self, store_vec_t *v, zj_str_t client, uint64_t req, int64_t first,
       uint32_t count)
{
    s_begin_turn (&self->base);
    store_sub_t *s = s_vec_push (self, v, sizeof *s);
    if (!s)
        return ZJ_ENOMEM;
    s->client_len = (uint32_t) client.len;
    s->client = s_copy (self, client.ptr, client.len);
    s->req = req;
    s->first = first;
    s->count = count;
    return self->arena_failed ? ZJ_ENOMEM : ZJ_OK;
}

static zj_err_t
s_put_submit (store_t *base, zj_str_t client, uint64_t req, uint64_t gen, uint64_t seq,
              uint32_t count)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    int64_t first = gen == self->gen ? STORE_ID (self->slot, seq)
                                     : store_recover_id (base, gen, seq);
    return s_sub (self, &self->sub_puts, client, req, first, count);
}

static zj_err_t
s_delete_submit (store_t *base, zj_str_t client, uint64_t req)
{
    return s_sub ((store_sqlite_t *) base, &((store_sqlite_t *) base)->sub_dels, client, req,
                  0, 0);
}

//  ---------------------------------------------------------------------
//  Commit

//  Step a statement whose parameters are bound, then reset it.
static int
s_run (sqlite3_stmt *st)
{
    int rc = sqlite3_step (st);
    sqlite3_reset (st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

//  The size index for n rows left: the largest statement that fits.
static int
s_size_for (size_t n)
{
    for (int s = 0; s < STORE_SIZES; s++)
        if ((size_t) store_sizes[s] <= n)
            return s;
    return STORE_SIZES - 1;
}

static int
s_write_inserts (store_sqlite_t *self)
{
    const store_ins_t *ins = self->ins.items;
    char tickets[STORE_ROWS][TICKET_MAX + 1];
    for (size_t i = 0; i < self->ins.n;) {
        int s = s_size_for (self->ins.n - i);
        sqlite3_stmt *st = self->mr[MR_INSERT][s];
        int p = 1;
        for (int r = 0; r < store_sizes[s]; r++, i++) {
            const store_ins_t *x = &ins[i];
            size_t tlen = ticket_format (self->gen, x->seq, tickets[r]);
            sqlite3_bind_int64 (st, p++, x->id);
            sqlite3_bind_text (st, p++, tickets[r], (int) tlen, SQLITE_STATIC);
            sqlite3_bind_text (st, p++, (const char *) self->arena + x->fn, (int) x->fn_len,
                               SQLITE_STATIC);
            sqlite3_bind_blob (st, p++, self->arena + x->args, (int) x->args_len, SQLITE_STATIC);
            sqlite3_bind_int64 (st, p++, x->priority);
            sqlite3_bind_double (st, p++, x->timeout);
            sqlite3_bind_int (st, p++, x->max_retries);
            sqlite3_bind_int (st, p++, x->chunk);
            sqlite3_bind_int (st, p++, x->attempts);
            sqlite3_bind_double (st, p++, self->now);
        }
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

//  The decimal digits of v into p; returns their count.
static size_t
s_digits (char *p, uint64_t v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        p[i] = tmp[n - 1 - i];
    return n;
}

//  One dispatches row per run of entries with the same row id, its task
//  ids as a JSON array (readable with json_each in the sqlite3 shell).
static int
s_write_dispatches (store_sqlite_t *self)
{
    const store_disp_t *d = self->disp.items;
    for (size_t i = 0; i < self->disp.n;) {
        size_t j = i;
        while (j < self->disp.n && d[j].row == d[i].row)
            j++;
        size_t need = (j - i) * 21 + 3;
        if (need > self->json_cap) {
            char *json = realloc (self->json, need);
            if (!json)
                return SQLITE_NOMEM;
            self->json = json;
            self->json_cap = need;
        }
        size_t len = 0;
        self->json[len++] = '[';
        for (size_t k = i; k < j; k++) {
            if (!d[k].id)
                continue;       //  the marker of an empty snapshot
            if (len > 1)
                self->json[len++] = ',';
            len += s_digits (self->json + len, (uint64_t) d[k].id);
        }
        self->json[len++] = ']';
        sqlite3_stmt *st = self->st[ST_DISPATCH];
        sqlite3_bind_int64 (st, 1, d[i].row);
        sqlite3_bind_double (st, 2, self->now);
        sqlite3_bind_text (st, 3, self->json, (int) len, SQLITE_STATIC);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
        i = j;
    }
    return SQLITE_OK;
}

static int
s_write_requeues (store_sqlite_t *self)
{
    const store_state_t *states = self->states.items;
    for (size_t i = 0; i < self->states.n; i++) {
        sqlite3_stmt *st = self->st[ST_REQUEUE];
        sqlite3_bind_int64 (st, 1, states[i].id);
        sqlite3_bind_int (st, 2, states[i].attempts);
        sqlite3_bind_int64 (st, 3, states[i].requeued);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (!self->trim_below)
        return SQLITE_OK;
    sqlite3_stmt *st = self->st[ST_TRIM];
    sqlite3_bind_int64 (st, 1, self->trim_below);
    return s_run (st);
}

//  The type and message strings of a failed payload [type, message, tb],
//  so that an operator can read them with the sqlite3 shell.
static void
s_error_text (const uint8_t *p, size_t len, zj_str_t *type, zj_str_t *msg)
{
    mpread_t r = {p, p + len};
    mpread_item_t it;
    type->ptr = msg->ptr = NULL;
    type->len = msg->len = 0;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY || it.n < 2)
        return;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_STR)
        return;
    *type = (zj_str_t) {(const char *) it.s.ptr, it.s.len};
    if (mpread_item (&r, &it) && it.kind == MPREAD_STR)
        *msg = (zj_str_t) {(const char *) it.s.ptr, it.s.len};
}

static int
s_write_outcomes (store_sqlite_t *self)
{
    const store_out_t *outs = self->outs.items;
    for (size_t i = 0; i < self->outs.n;) {
        int s = s_size_for (self->outs.n - i);
        sqlite3_stmt *st = self->mr[MR_OUTCOME][s];
        int p = 1;
        for (int r = 0; r < store_sizes[s]; r++, i++) {
            const store_out_t *o = &outs[i];
            const uint8_t *payload = self->arena + o->off;
            sqlite3_bind_int64 (st, p++, o->id);
            sqlite3_bind_int (st, p++, o->state);
            sqlite3_bind_double (st, p++, self->now);
            zj_str_t type = {NULL, 0}, msg = {NULL, 0};
            if (o->state == ZJ_STATE_FAILED && o->has_payload)
                s_error_text (payload, o->len, &type, &msg);
            if (type.ptr)
                sqlite3_bind_text (st, p++, type.ptr, (int) type.len, SQLITE_STATIC);
            else
                sqlite3_bind_null (st, p++);
            if (msg.ptr)
                sqlite3_bind_text (st, p++, msg.ptr, (int) msg.len, SQLITE_STATIC);
            else
                sqlite3_bind_null (st, p++);
            if (o->has_payload)
                sqlite3_bind_blob (st, p++, payload, (int) o->len, SQLITE_STATIC);
            else
                sqlite3_bind_null (st, p++);
        }
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int
s_write_deletes (store_sqlite_t *self)
{
    const int64_t *ids = self->dels.items;
    for (size_t i = 0; i < self->dels.n;) {
        int s = s_size_for (self->dels.n - i);
        for (int k = MR_DEL_TASKS; k <= MR_DEL_OUTCOMES; k++) {
            sqlite3_stmt *st = self->mr[k][s];
            for (int r = 0; r < store_sizes[s]; r++)
                sqlite3_bind_int64 (st, r + 1, ids[i + (size_t) r]);
            int rc = s_run (st);
            if (rc != SQLITE_OK)
                return rc;
        }
        i += (size_t) store_sizes[s];
    }
    return SQLITE_OK;
}

static int
s_write_submits (store_sqlite_t *self)
{
    const store_sub_t *puts = self->sub_puts.items;
    for (size_t i = 0; i < self->sub_puts.n; i++) {
        sqlite3_stmt *st = self->st[ST_SUB_PUT];
        sqlite3_bind_text (st, 1, (const char *) self->arena + puts[i].client,
                           (int) puts[i].client_len, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, (int64_t) puts[i].req);
        sqlite3_bind_int64 (st, 3, puts[i].first);
        sqlite3_bind_int (st, 4, (int) puts[i].count);
        sqlite3_bind_double (st, 5, self->now);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    const store_sub_t *dels = self->sub_dels.items;
    for (size_t i = 0; i < self->sub_dels.n; i++) {
        sqlite3_stmt *st = self->st[ST_SUB_DEL];
        sqlite3_bind_text (st, 1, (const char *) self->arena + dels[i].client,
                           (int) dels[i].client_len, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, (int64_t) dels[i].req);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

//  The generation's highest sequence number tells a deleted ticket from
//  one never issued. Rows in tasks already tell it for the others, so it
//  is written only with deletes (and at close).
static int
s_write_generation (store_sqlite_t *self)
{
    if (!self->dels.n || self->turn_max_seq <= self->gen_written)
        return SQLITE_OK;
    sqlite3_stmt *st = self->st[ST_GEN_MAXSEQ];
    sqlite3_bind_int64 (st, 1, (int64_t) self->turn_max_seq);
    sqlite3_bind_int64 (st, 2, (int64_t) self->gen);
    return s_run (st);
}

static int s_cmp_id (const void *a, const void *b);
static bool s_dropped (const int64_t *ids, size_t n, int64_t id);

//  Deletes are written first, to make room in a full store. A task
//  deleted in the turn it was made or finished in (retention 0) is then
//  left out of the inserts, states and outcomes.
static void
s_skip_deleted (store_sqlite_t *self)
{
    if (!self->dels.n)
        return;
    int64_t *dels = self->dels.items;
    size_t nd = self->dels.n;
    qsort (dels, nd, sizeof *dels, s_cmp_id);
    size_t k = 0;
    store_ins_t *ins = self->ins.items;
    for (size_t i = 0; i < self->ins.n; i++)
        if (!s_dropped (dels, nd, ins[i].id))
            ins[k++] = ins[i];
    self->ins.n = k;
    k = 0;
    store_state_t *states = self->states.items;
    for (size_t i = 0; i < self->states.n; i++)
        if (!s_dropped (dels, nd, states[i].id))
            states[k++] = states[i];
    self->states.n = k;
    k = 0;
    store_out_t *outs = self->outs.items;
    for (size_t i = 0; i < self->outs.n; i++)
        if (!s_dropped (dels, nd, outs[i].id))
            outs[k++] = outs[i];
    self->outs.n = k;
    k = 0;
    store_disp_t *disp = self->disp.items;
    for (size_t i = 0; i < self->disp.n; i++)
        if (!s_dropped (dels, nd, disp[i].id))
            disp[k++] = disp[i];
    self->disp.n = k;
}

//  One transaction with everything logged. Returns an SQLite code and
//  sets *what to the step that failed.
static int
s_write (store_sqlite_t *self, const char **what)
{
    static const struct {
        int (*fn) (store_sqlite_t *self);
        const char *what;
    } steps[] = {
        {s_write_deletes, "deleting expired tasks"},
        {s_write_inserts, "writing new tasks"},
        {s_write_dispatches, "writing dispatches"},
        {s_write_requeues, "writing requeues"},
        {s_write_outcomes, "writing outcomes"},
        {s_write_submits, "writing submits"},
        {s_write_generation, "writing the generation"},
    };
    s_skip_deleted (self);
    *what = "starting a transaction";
    int rc = s_run (self->st[ST_BEGIN]);
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof steps / sizeof steps[0]; i++) {
        *what = steps[i].what;
        rc = steps[i].fn (self);
    }
    if (rc == SQLITE_OK) {
        *what = "committing";
        rc = s_run (self->st[ST_COMMIT]);
    }
    if (rc != SQLITE_OK && !sqlite3_get_autocommit (self->db))
        s_run (self->st[ST_ROLLBACK]);
    return rc;
}

static int
s_cmp_id (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static bool
s_dropped (const int64_t *ids, size_t n, int64_t id)
{
    return n && bsearch (&id, ids, n, sizeof id, s_cmp_id);
}

//  After a failed commit: forget the turn's new tasks and submits (the
//  broker refuses them) and whatever else refers to those tasks, keep
//  the rest, and compact the arena to what is kept.
static void
s_drop_new (store_sqlite_t *self)
{
    size_t nd = self->ins.n;
    int64_t *dropped = nd ? malloc (nd * sizeof *dropped) : NULL;
    for (size_t i = 0; dropped && i < nd; i++)
        dropped[i] = ((store_ins_t *) self->ins.items)[i].id;
    if (dropped)
        qsort (dropped, nd, sizeof *dropped, s_cmp_id);
    else
        nd = 0;
    uint8_t *old = self->arena;
    size_t old_len = self->arena_len;
    self->arena = NULL;
    self->arena_len = self->arena_cap = 0;
    self->ins.n = 0;
    self->sub_puts.n = 0;
    size_t k = 0;
    store_state_t *states = self->states.items;
    for (size_t i = 0; i < self->states.n; i++)
        if (!s_dropped (dropped, nd, states[i].id))
            states[k++] = states[i];
    self->states.n = k;
    k = 0;
    store_disp_t *disp = self->disp.items;
    for (size_t i = 0; i < self->disp.n; i++)
        if (!s_dropped (dropped, nd, disp[i].id))
            disp[k++] = disp[i];
    self->disp.n = k;
    k = 0;
    store_out_t *outs = self->outs.items;
    for (size_t i = 0; i < self->outs.n; i++)
        if (!s_dropped (dropped, nd, outs[i].id)) {
            outs[k] = outs[i];
            outs[k].off = s_copy (self, old + outs[i].off, outs[i].len);
            k++;
        }
    self->outs.n = k;
    k = 0;
    int64_t *dels = self->dels.items;
    for (size_t i = 0; i < self->dels.n; i++)
        if (!s_dropped (dropped, nd, dels[i]))
            dels[k++] = dels[i];
    self->dels.n = k;
    store_sub_t *sd = self->sub_dels.items;
    for (size_t i = 0; i < self->sub_dels.n; i++)
        sd[i].client = s_copy (self, old + sd[i].client, sd[i].client_len);
    (void) old_len;
    free (old);
    free (dropped);
    self->turn_max_seq = self->max_seq;
}

static zj_err_t
s_commit_turn (store_t *base)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    self->turn_open = false;
    if (s_log_empty (self)) {
        s_log_clear (self);
        return ZJ_OK;
    }
    const char *what = "logging";
    int rc = self->arena_failed ? SQLITE_NOMEM : s_write (self, &what);
    //  Later dispatches go into a row of their own.
    self->disp_open = false;
    if (rc == SQLITE_OK) {
        if (self->dels.n && self->turn_max_seq > self->gen_written)
            self->gen_written = self->turn_max_seq;
        self->max_seq = self->turn_max_seq;
        self->degraded = false;
        s_log_clear (self);
        return ZJ_OK;
    }
    zj_err_t err = rc == SQLITE_NOMEM ? ZJ_ENOMEM : store_fail (self, rc, what);
    if (rc == SQLITE_NOMEM)
        snprintf (self->why, sizeof self->why, "%s: out of memory (%s)", self->path, what);
    //  What the broker already acted on must reach the disk some time:
    //  try it alone now, and at every later commit.
    bool had_new = self->ins.n || self->sub_puts.n;
    s_drop_new (self);
    self->degraded = false;
    if (!s_log_empty (self)) {
        self->degraded = true;
        if (had_new && !self->arena_failed && s_write (self, &what) == SQLITE_OK) {
            self->degraded = false;
            s_log_clear (self);
        }
    }
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
    free (self->arena);
    free (self->ins.items);
    free (self->states.items);
    free (self->disp.items);
    free (self->json);
    free (self->outs.items);
    free (self->dels.items);
    free (self->sub_puts.items);
    free (self->sub_dels.items);
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
