// SPDX-License-Identifier: MIT
//  store_write - the SQLite store's writer thread: it owns the loop's
//  connection while the broker runs and turns the chunks of a turn's log
//  into rows while the loop goes on with the turn; the chunk marked
//  commit ends the transaction, and the loop waits only for what is left
//  then. Statements write many rows each. Nothing here touches the
//  broker: only chunks, statements and the fields named in the struct.
#include "store_sqlite_int.h"
#include "attempts.h"
#include "mpread.h"
#include "ticket.h"
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct store_writer {
    pthread_t thread;           //  the writer
    pthread_mutex_t mu;         //  guards everything below
    pthread_cond_t work;        //  chunks queued, or stop
    pthread_cond_t done;        //  a commit's result is ready
    store_chunk_t *head;        //  queue, oldest first
    store_chunk_t *tail;
    bool stop;                  //  the store is closing
    bool ready;                 //  a commit finished: result and what are set
    int result;                 //  its SQLite code
    const char *what;           //  the step that failed
    //  Writer thread only:
    bool in_txn;                //  a transaction is open
    int rc;                     //  the first failure in it
    const char *fail;           //  ... and its step
};

//  Step a statement whose parameters are bound, then reset it.
static int
s_run (sqlite3_stmt *st)
{
    int rc = sqlite3_step (st);
    sqlite3_reset (st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

//  Bind text, or NULL when there is none (an operator reads NULL as
//  "unknown" more easily than an empty string).
static void
s_bind_text (sqlite3_stmt *st, int p, const void *text, size_t len)
{
    if (len)
        sqlite3_bind_text (st, p, text, (int) len, SQLITE_STATIC);
    else
        sqlite3_bind_null (st, p);
}

//  Bind an integer, or NULL for 0 (a runner that is not known).
static void
s_bind_int (sqlite3_stmt *st, int p, int64_t v)
{
    if (v)
        sqlite3_bind_int64 (st, p, v);
    else
        sqlite3_bind_null (st, p);
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
s_write_inserts (store_sqlite_t *self, store_chunk_t *c)
{
    const store_ins_t *ins = c->ins.items;
    char tickets[STORE_ROWS][TICKET_MAX + 1];
    for (size_t i = 0; i < c->ins.n;) {
        int s = s_size_for (c->ins.n - i);
        sqlite3_stmt *st = self->mr[MR_INSERT][s];
        int p = 1;
        for (int r = 0; r < store_sizes[s]; r++, i++) {
            const store_ins_t *x = &ins[i];
            size_t tlen = ticket_format (self->gen, x->seq, tickets[r]);
            sqlite3_bind_int64 (st, p++, x->id);
            sqlite3_bind_text (st, p++, tickets[r], (int) tlen, SQLITE_STATIC);
            sqlite3_bind_text (st, p++, (const char *) c->arena + x->fn, (int) x->fn_len,
                               SQLITE_STATIC);
            sqlite3_bind_blob (st, p++, c->arena + x->args, (int) x->args_len, SQLITE_STATIC);
            sqlite3_bind_int64 (st, p++, x->priority);
            sqlite3_bind_double (st, p++, x->timeout);
            sqlite3_bind_int (st, p++, x->max_retries);
            sqlite3_bind_int (st, p++, x->chunk);
            sqlite3_bind_int (st, p++, x->attempts);
            sqlite3_bind_double (st, p++, c->now);
            if (x->retry_len)
                sqlite3_bind_blob (st, p++, c->arena + x->retry, (int) x->retry_len,
                                   SQLITE_STATIC);
            else
                sqlite3_bind_null (st, p++);
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
//  A row never spans chunks: handing a chunk over closes its row.
static int
s_write_dispatches (store_sqlite_t *self, store_chunk_t *c)
{
    const store_disp_t *d = c->disp.items;
    for (size_t i = 0; i < c->disp.n;) {
        size_t j = i;
        while (j < c->disp.n && d[j].row == d[i].row)
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
        sqlite3_bind_double (st, 2, c->now);
        sqlite3_bind_text (st, 3, self->json, (int) len, SQLITE_STATIC);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
        i = j;
    }
    return SQLITE_OK;
}

static int
s_write_requeues (store_sqlite_t *self, store_chunk_t *c)
{
    const store_state_t *states = c->states.items;
    for (size_t i = 0; i < c->states.n; i++) {
        sqlite3_stmt *st = self->st[ST_REQUEUE];
        sqlite3_bind_int64 (st, 1, states[i].id);
        sqlite3_bind_int (st, 2, states[i].attempts);
        sqlite3_bind_int64 (st, 3, states[i].requeued);
        if (states[i].submitted > 0)
            sqlite3_bind_double (st, 4, states[i].submitted);
        else
            sqlite3_bind_null (st, 4);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    if (!c->trim_below)
        return SQLITE_OK;
    sqlite3_stmt *st = self->st[ST_TRIM];
    sqlite3_bind_int64 (st, 1, c->trim_below);
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

//  Row ids from n items of `stride` bytes (each beginning with its id)
//  into the multi-row statements of each kind: DELETE ... WHERE id IN.
static int
s_write_ids (store_sqlite_t *self, const store_mr_t *kinds, size_t nkinds, const void *items,
             size_t stride, size_t n)
{
    const uint8_t *p = items;
    for (size_t i = 0; i < n;) {
        int s = s_size_for (n - i);
        for (size_t k = 0; k < nkinds; k++) {
            sqlite3_stmt *st = self->mr[kinds[k]][s];
            for (int r = 0; r < store_sizes[s]; r++)
                sqlite3_bind_int64 (st, r + 1,
                                    *(const int64_t *) (p + (i + (size_t) r) * stride));
            int rc = s_run (st);
            if (rc != SQLITE_OK)
                return rc;
        }
        i += (size_t) store_sizes[s];
    }
    return SQLITE_OK;
}

//  n final states, none of them a reopen.
static int
s_write_finals (store_sqlite_t *self, store_chunk_t *c, const store_out_t *outs, size_t n)
{
    for (size_t i = 0; i < n;) {
        int s = s_size_for (n - i);
        sqlite3_stmt *st = self->mr[MR_OUTCOME][s];
        int p = 1;
        for (int r = 0; r < store_sizes[s]; r++, i++) {
            const store_out_t *o = &outs[i];
            const uint8_t *payload = c->arena + o->off;
            sqlite3_bind_int64 (st, p++, o->id);
            sqlite3_bind_int (st, p++, o->state);
            sqlite3_bind_double (st, p++, c->now);
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
            //  run_us stays NULL when no run finished the task. Whole
            //  microseconds take 2 to 4 bytes where a REAL takes 8.
            s_bind_int (st, p++, o->runner);
            if (o->has_who)
                sqlite3_bind_int64 (st, p++, llround (o->run * 1e6));
            else
                sqlite3_bind_null (st, p++);
            sqlite3_bind_int (st, p++, o->dead);
        }
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

//  Outcomes and reopens in the order they were logged: each run of one
//  kind as multi-row statements, so that the last change to a task wins.
//  (A reopen's attempts and requeue mark go with the requeues.)
static int
s_write_outcomes (store_sqlite_t *self, store_chunk_t *c)
{
    static const store_mr_t reopen_kinds[] = {MR_DEL_OUTCOMES};
    const store_out_t *outs = c->outs.items;
    for (size_t i = 0; i < c->outs.n;) {
        bool reopen = outs[i].state == STORE_REOPEN;
        size_t j = i + 1;
        while (j < c->outs.n && (outs[j].state == STORE_REOPEN) == reopen)
            j++;
        int rc = reopen ? s_write_ids (self, reopen_kinds, 1, outs + i, sizeof *outs, j - i)
                        : s_write_finals (self, c, outs + i, j - i);
        if (rc != SQLITE_OK)
            return rc;
        i = j;
    }
    return SQLITE_OK;
}

//  The rows of identities first named in this chunk: a few per worker
//  process over the broker's life, so one row per statement. Written
//  before the outcomes and runs that name them (the same transaction).
static int
s_write_runners (store_sqlite_t *self, store_chunk_t *c)
{
    store_runner_t *const *runners = c->runners.items;
    sqlite3_stmt *st = self->st[ST_RUNNER];
    for (size_t i = 0; i < c->runners.n; i++) {
        const store_runner_t *r = runners[i];
        sqlite3_bind_int64 (st, 1, r->id);
        sqlite3_bind_text (st, 2, r->host, (int) r->host_len, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 3, r->pid);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

//  Runs that did not finish their task: rare (lost, crashed or timed
//  out runs), so one row per statement.
static int
s_write_attempts (store_sqlite_t *self, store_chunk_t *c)
{
    const store_att_t *atts = c->atts.items;
    sqlite3_stmt *st = self->st[ST_ATTEMPT];
    for (size_t i = 0; i < c->atts.n; i++) {
        const store_att_t *a = &atts[i];
        const char *name = attempts_outcome_name ((attempt_outcome_t) a->outcome);
        sqlite3_bind_int64 (st, 1, a->id);
        sqlite3_bind_int (st, 2, a->n);
        s_bind_int (st, 3, a->runner);
        if (a->start > 0)
            sqlite3_bind_double (st, 4, a->start);
        else
            sqlite3_bind_null (st, 4);
        sqlite3_bind_double (st, 5, a->end);
        sqlite3_bind_text (st, 6, name, -1, SQLITE_STATIC);
        s_bind_text (st, 7, c->arena + a->error, a->error_len);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static int
s_write_deletes (store_sqlite_t *self, store_chunk_t *c)
{
    static const store_mr_t kinds[] = {MR_DEL_TASKS, MR_DEL_OUTCOMES};
    static const store_mr_t atts[] = {MR_DEL_ATTEMPTS};
    int rc = s_write_ids (self, kinds, 2, c->dels.items, sizeof (int64_t), c->dels.n);
    if (rc == SQLITE_OK)
        rc = s_write_ids (self, atts, 1, c->atts_dels.items, sizeof (int64_t), c->atts_dels.n);
    return rc;
}

static int
s_write_submits (store_sqlite_t *self, store_chunk_t *c)
{
    const store_sub_t *puts = c->sub_puts.items;
    for (size_t i = 0; i < c->sub_puts.n; i++) {
        sqlite3_stmt *st = self->st[ST_SUB_PUT];
        sqlite3_bind_text (st, 1, (const char *) c->arena + puts[i].client,
                           (int) puts[i].client_len, SQLITE_STATIC);
        sqlite3_bind_int64 (st, 2, (int64_t) puts[i].req);
        sqlite3_bind_int64 (st, 3, puts[i].first);
        sqlite3_bind_int (st, 4, (int) puts[i].count);
        sqlite3_bind_double (st, 5, c->now);
        int rc = s_run (st);
        if (rc != SQLITE_OK)
            return rc;
    }
    const store_sub_t *dels = c->sub_dels.items;
    for (size_t i = 0; i < c->sub_dels.n; i++) {
        sqlite3_stmt *st = self->st[ST_SUB_DEL];
        sqlite3_bind_text (st, 1, (const char *) c->arena + dels[i].client,
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
s_write_generation (store_sqlite_t *self, store_chunk_t *c)
{
    if (!c->gen_seq)
        return SQLITE_OK;
    sqlite3_stmt *st = self->st[ST_GEN_MAXSEQ];
    sqlite3_bind_int64 (st, 1, (int64_t) c->gen_seq);
    sqlite3_bind_int64 (st, 2, (int64_t) self->gen);
    return s_run (st);
}

//  Deletes are written first, to make room in a full store. A task
//  deleted in the chunk it was made or finished in (retention 0) is then
//  left out of its inserts, states, outcomes and attempts.
static void
s_skip_deleted (store_chunk_t *c)
{
    if (!c->dels.n)
        return;
    qsort (c->dels.items, c->dels.n, sizeof (int64_t), store_cmp_id);
    store_chunk_drop_ids (c, c->dels.items, c->dels.n);
}

//  One chunk's rows, inside the open transaction.
static int
s_write_chunk (store_sqlite_t *self, store_chunk_t *c, const char **what)
{
    static const struct {
        int (*fn) (store_sqlite_t *self, store_chunk_t *c);
        const char *what;
    } steps[] = {
        {s_write_deletes, "deleting expired tasks"},
        {s_write_inserts, "writing new tasks"},
        {s_write_dispatches, "writing dispatches"},
        {s_write_requeues, "writing requeues"},
        {s_write_runners, "writing runners"},
        {s_write_outcomes, "writing outcomes"},
        {s_write_attempts, "writing attempts"},
        {s_write_submits, "writing submits"},
        {s_write_generation, "writing the generation"},
    };
    if (c->failed) {
        *what = "logging (out of memory)";
        return SQLITE_NOMEM;
    }
    s_skip_deleted (c);
    int rc = SQLITE_OK;
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof steps / sizeof steps[0]; i++) {
        *what = steps[i].what;
        rc = steps[i].fn (self, c);
    }
    return rc;
}

//  The writer's part for one chunk: open the transaction if needed,
//  write (unless it already failed), and end it on a commit chunk.
//  Returns true when it ended a transaction (w->result is set).
static bool
s_handle (store_sqlite_t *self, store_writer_t *w, store_chunk_t *c)
{
    if (!w->in_txn) {
        w->in_txn = true;
        w->fail = "starting a transaction";
        w->rc = s_run (self->st[ST_BEGIN]);
    }
    if (w->rc == SQLITE_OK)
        w->rc = s_write_chunk (self, c, &w->fail);
    if (!c->commit)
        return false;
    if (w->rc == SQLITE_OK) {
        w->fail = "committing";
        w->rc = s_run (self->st[ST_COMMIT]);
    }
    if (w->rc != SQLITE_OK && !sqlite3_get_autocommit (self->db))
        s_run (self->st[ST_ROLLBACK]);
    w->in_txn = false;
    return true;
}

static void *
s_run_writer (void *arg)
{
    store_sqlite_t *self = arg;
    store_writer_t *w = self->writer;
    pthread_mutex_lock (&w->mu);
    for (;;) {
        while (!w->head && !w->stop)
            pthread_cond_wait (&w->work, &w->mu);
        if (!w->head)
            break;
        store_chunk_t *c = w->head;
        w->head = c->qnext;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock (&w->mu);
        bool ended = s_handle (self, w, c);
        pthread_mutex_lock (&w->mu);
        if (ended) {
            w->result = w->rc;
            w->what = w->fail;
            w->ready = true;
            pthread_cond_signal (&w->done);
        }
    }
    pthread_mutex_unlock (&w->mu);
    return NULL;
}

bool
store_writer_start (store_sqlite_t *self)
{
    store_writer_t *w = calloc (1, sizeof *w);
    if (!w) {
        snprintf (self->why, sizeof self->why, "out of memory");
        return false;
    }
    pthread_mutex_init (&w->mu, NULL);
    pthread_cond_init (&w->work, NULL);
    pthread_cond_init (&w->done, NULL);
    self->writer = w;
    if (pthread_create (&w->thread, NULL, s_run_writer, self) != 0) {
        snprintf (self->why, sizeof self->why, "cannot start the store's writer thread");
        pthread_mutex_destroy (&w->mu);
        pthread_cond_destroy (&w->work);
        pthread_cond_destroy (&w->done);
        free (w);
        self->writer = NULL;
        return false;
    }
    return true;
}

void
store_writer_stop (store_sqlite_t *self)
{
    store_writer_t *w = self->writer;
    if (!w)
        return;
    pthread_mutex_lock (&w->mu);
    w->stop = true;
    pthread_cond_signal (&w->work);
    pthread_mutex_unlock (&w->mu);
    pthread_join (w->thread, NULL);
    //  A transaction the loop never finished (it stopped mid-turn) is
    //  rolled back: those changes were never acknowledged.
    if (w->in_txn && !sqlite3_get_autocommit (self->db))
        s_run (self->st[ST_ROLLBACK]);
    pthread_mutex_destroy (&w->mu);
    pthread_cond_destroy (&w->work);
    pthread_cond_destroy (&w->done);
    free (w);
    self->writer = NULL;
}

void
store_writer_put (store_sqlite_t *self, store_chunk_t *first, store_chunk_t *last)
{
    store_writer_t *w = self->writer;
    last->qnext = NULL;
    pthread_mutex_lock (&w->mu);
    if (w->tail)
        w->tail->qnext = first;
    else
        w->head = first;
    w->tail = last;
    pthread_cond_signal (&w->work);
    pthread_mutex_unlock (&w->mu);
}

int
store_writer_wait (store_sqlite_t *self, const char **what)
{
    store_writer_t *w = self->writer;
    pthread_mutex_lock (&w->mu);
    while (!w->ready)
        pthread_cond_wait (&w->done, &w->mu);
    w->ready = false;
    int rc = w->result;
    *what = w->what;
    pthread_mutex_unlock (&w->mu);
    return rc;
}
