// SPDX-License-Identifier: MIT
//  store_recover - reading the SQLite store back at start (the workers
//  named in it, generations, remembered submits, then tasks in submit
//  order, one id range per generation) and starting the new generation
//  with its slot.
#include "store_sqlite_int.h"
#include "attempts.h"
#include "ticket.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  A generation's slot is unknown for ids of generations never recovered.
#define NO_GEN UINT64_MAX

static int
s_cmp_slot (const void *a, const void *b)
{
    uint64_t x = ((const store_slot_t *) a)->gen, y = ((const store_slot_t *) b)->gen;
    return (x > y) - (x < y);
}

int64_t
store_recover_id (const store_t *base, uint64_t gen, uint64_t seq)
{
    const store_sqlite_t *self = (const store_sqlite_t *) base;
    store_slot_t key = {gen, 0};
    const store_slot_t *s = self->nslots
        ? bsearch (&key, self->slots, self->nslots, sizeof key, s_cmp_slot) : NULL;
    return s ? STORE_ID (s->slot, seq) : 0;
}

void
store_recover_free (store_t *base)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    free (self->slots);
    self->slots = NULL;
    self->nslots = 0;
}

//  ---------------------------------------------------------------------
//  Runners

//  A new entry for (host, pid) with row id `id`, in both maps. NULL on OOM.
static store_runner_t *
s_runner_add (store_sqlite_t *self, int64_t id, const char *host, size_t len, int64_t pid)
{
    store_runner_t *r = malloc (sizeof *r + len + 1);
    if (!r)
        return NULL;
    *r = (store_runner_t) {.id = id, .host_len = (uint32_t) len, .pid = pid};
    if (len)
        memcpy (r->host, host, len);
    r->host[len] = '\0';
    if (!hmap_put (self->runners, &r->pid, sizeof r->pid + len, r)) {
        free (r);
        return NULL;
    }
    if (!hmap_put (self->runner_ids, &r->id, sizeof r->id, r)) {
        hmap_del (self->runners, &r->pid, sizeof r->pid + len);
        free (r);
        return NULL;
    }
    return r;
}

//  Out of both maps, and freed.
static void
s_runner_drop (store_sqlite_t *self, store_runner_t *r)
{
    hmap_del (self->runners, &r->pid, sizeof r->pid + r->host_len);
    hmap_del (self->runner_ids, &r->id, sizeof r->id);
    free (r);
}

//  The entry of (host, pid), len at most STORE_HOST_MAX, or NULL.
static store_runner_t *
s_runner_find (store_sqlite_t *self, const char *host, size_t len, int64_t pid)
{
    uint8_t key[sizeof pid + STORE_HOST_MAX];
    memcpy (key, &pid, sizeof pid);
    if (len)
        memcpy (key + sizeof pid, host, len);
    return hmap_get (self->runners, key, sizeof pid + len);
}

store_runner_t *
store_runner_get (store_sqlite_t *self, const char *host, size_t len, int64_t pid)
{
    if (len > STORE_HOST_MAX)
        len = STORE_HOST_MAX;
    if (!len && !pid)
        return NULL;
    store_runner_t *r = s_runner_find (self, host, len, pid);
    if (!r && (r = s_runner_add (self, self->next_runner, host, len, pid)))
        self->next_runner++;
    return r;
}

//  The runner with row id `id`, or NULL (NULL in the row, or a row that
//  is missing: the worker reads as unknown then).
static store_runner_t *
s_runner_by_id (store_sqlite_t *self, int64_t id)
{
    return id ? hmap_get (self->runner_ids, &id, sizeof id) : NULL;
}

bool
store_runners_load (store_sqlite_t *self)
{
    self->runners = hmap_new ();
    self->runner_ids = hmap_new ();
    self->next_runner = 1;
    if (!self->runners || !self->runner_ids) {
        snprintf (self->why, sizeof self->why, "out of memory");
        return false;
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (self->db, "SELECT id, host, pid FROM runners", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t id = sqlite3_column_int64 (st, 0);
        const char *host = (const char *) sqlite3_column_text (st, 1);
        size_t len = host ? (size_t) sqlite3_column_bytes (st, 1) : 0;
        int64_t pid = sqlite3_column_int64 (st, 2);
        if (id >= self->next_runner)
            self->next_runner = id + 1;
        //  Rows an identity has twice, or that name no one, are never
        //  looked up; ids above them are not handed out again.
        if (id < 1 || len > STORE_HOST_MAX || (!len && !pid)
            || s_runner_find (self, host, len, pid))
            continue;
        store_runner_t *r = s_runner_add (self, id, host, len, pid);
        if (!r) {
            sqlite3_finalize (st);
            snprintf (self->why, sizeof self->why, "out of memory reading %s", self->path);
            return false;
        }
        r->logged = true;
    }
    sqlite3_finalize (st);
    if (rc != SQLITE_DONE && rc != SQLITE_OK) {
        store_fail (self, rc, "reading runners");
        return false;
    }
    return true;
}

void
store_runners_free (store_sqlite_t *self)
{
    size_t cursor = 0;
    store_runner_t *r;
    while (self->runners && (r = hmap_next (self->runners, &cursor)))
        free (r);
    hmap_destroy (&self->runners);
    hmap_destroy (&self->runner_ids);
}

//  Delete the rows of the runners that nothing recovered names (their
//  tasks are gone), so that the table holds the workers of the tasks on
//  record, not every worker process that ever finished a task. Only
//  after a whole recovery; a failure leaves them for the next one.
static void
s_runners_prune (store_sqlite_t *self)
{
    size_t n = 0, cursor = 0;
    store_runner_t *r;
    while ((r = hmap_next (self->runners, &cursor)))
        n += !r->used;
    store_runner_t **gone = n ? malloc (n * sizeof *gone) : NULL;
    if (!gone)
        return;
    n = cursor = 0;
    while ((r = hmap_next (self->runners, &cursor)))
        if (!r->used)
            gone[n++] = r;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2 (self->db, "DELETE FROM runners WHERE id = ?", -1, &st, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        sqlite3_bind_int64 (st, 1, gone[i]->id);
        rc = sqlite3_step (st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
        sqlite3_reset (st);
    }
    sqlite3_finalize (st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit (self->db))
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        for (size_t i = 0; i < n; i++)
            s_runner_drop (self, gone[i]);
        memset (self->who_cache, 0, sizeof self->who_cache);
    }
    free (gone);
}

//  A slot no task or submit uses, taken from the generation that had it;
//  only needed once the slots have all been handed out (32767 starts).
static int64_t
s_free_slot (store_sqlite_t *self, int *rc)
{
    sqlite3_stmt *st = NULL;
    *rc = sqlite3_prepare_v2 (self->db,
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE id BETWEEN ?1 AND ?2)"
        " OR EXISTS (SELECT 1 FROM submits WHERE first_id BETWEEN ?1 AND ?2)", -1, &st, NULL);
    int64_t found = -1;
    for (int64_t slot = 1; *rc == SQLITE_OK && slot <= STORE_SLOT_MAX && found < 0; slot++) {
        sqlite3_bind_int64 (st, 1, STORE_ID (slot, 0));
        sqlite3_bind_int64 (st, 2, STORE_ID (slot, STORE_SEQ_MAX));
        *rc = sqlite3_step (st);
        if (*rc == SQLITE_ROW) {
            if (sqlite3_column_int (st, 0) == 0)
                found = slot;
            *rc = SQLITE_OK;
        }
        sqlite3_reset (st);
    }
    sqlite3_finalize (st);
    if (*rc == SQLITE_OK && found > 0) {
        char sql[96];
        snprintf (sql, sizeof sql, "UPDATE generations SET slot = NULL WHERE slot = %lld",
                  (long long) found);
        *rc = sqlite3_exec (self->db, sql, NULL, NULL, NULL);
    }
    return found;
}

zj_err_t
store_generation_start (store_t *base, uint64_t gen)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    int64_t slot = -1;
    bool taken = false;
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2 (self->db,
            "SELECT EXISTS (SELECT 1 FROM generations WHERE gen = ?),"
            " (SELECT coalesce (max (slot), 0) + 1 FROM generations)", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_int64 (st, 1, (int64_t) gen);
        rc = sqlite3_step (st);
        if (rc == SQLITE_ROW) {
            taken = sqlite3_column_int (st, 0) != 0;
            slot = sqlite3_column_int64 (st, 1);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize (st);
    st = NULL;
    if (rc == SQLITE_OK && !taken && slot > STORE_SLOT_MAX)
        slot = s_free_slot (self, &rc);
    if (rc == SQLITE_OK && !taken && slot > 0)
        rc = sqlite3_prepare_v2 (self->db,
            "INSERT INTO generations (gen, name, slot, started, max_seq) VALUES (?, ?, ?, ?, 0)",
            -1, &st, NULL);
    if (rc == SQLITE_OK && st) {
        char name[TICKET_GEN_CHARS + 1];
        ticket_generation_text (gen, name);
        sqlite3_bind_int64 (st, 1, (int64_t) gen);
        sqlite3_bind_text (st, 2, name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64 (st, 3, slot);
        sqlite3_bind_double (st, 4, store_wall ());
        rc = sqlite3_step (st);
        rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize (st);
    if (rc == SQLITE_OK && !taken && slot > 0)
        rc = sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK || taken || slot <= 0) {
        zj_err_t err = rc != SQLITE_OK ? store_fail (self, rc, "starting a generation") : ZJ_EINVAL;
        if (!sqlite3_get_autocommit (self->db))
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        if (rc == SQLITE_OK && !taken) {
            snprintf (self->why, sizeof self->why,
                      "%s: every generation slot holds tasks; let retention delete some",
                      self->path);
            err = ZJ_ENOSPC;
        }
        return err;
    }
    self->gen = gen;
    self->slot = slot;
    self->max_seq = self->turn_max_seq = 0;
    return ZJ_OK;
}

//  ---------------------------------------------------------------------
//  Recovery

//  Task id -> the newest dispatch row holding it and when that row was
//  written: open addressing, from the dispatches table (kept short by
//  snapshots).
typedef struct {
    int64_t *keys;              //  task ids, 0 = empty
    int64_t *rows;              //  dispatch row ids
    double *ats;                //  their `at`
    size_t cap;                 //  a power of two
    size_t n;
} sent_t;

static size_t
s_slot (const sent_t *m, int64_t key)
{
    uint64_t h = (uint64_t) key * UINT64_C (0x9E3779B97F4A7C15);
    size_t i = (size_t) (h >> 20) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void
s_sent_free (sent_t *m)
{
    free (m->keys);
    free (m->rows);
    free (m->ats);
}

static bool
s_sent_put (sent_t *m, int64_t key, int64_t row, double at)
{
    if ((m->n + 1) * 2 > m->cap) {
        sent_t g = {.cap = m->cap ? m->cap * 2 : 1024};
        g.keys = calloc (g.cap, sizeof *g.keys);
        g.rows = malloc (g.cap * sizeof *g.rows);
        g.ats = malloc (g.cap * sizeof *g.ats);
        if (!g.keys || !g.rows || !g.ats) {
            s_sent_free (&g);
            return false;
        }
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = s_slot (&g, m->keys[i]);
                g.keys[j] = m->keys[i];
                g.rows[j] = m->rows[i];
                g.ats[j] = m->ats[i];
                g.n++;
            }
        s_sent_free (m);
        *m = g;
    }
    size_t i = s_slot (m, key);
    if (!m->keys[i]) {
        m->keys[i] = key;
        m->rows[i] = row;
        m->ats[i] = at;
        m->n++;
    }
    else
    if (row > m->rows[i]) {
        m->rows[i] = row;
        m->ats[i] = at;
    }
    return true;
}

//  The newest dispatch row holding task `key` (0: none) and its time.
static int64_t
s_sent_get (const sent_t *m, int64_t key, double *at)
{
    *at = 0;
    if (!m->cap)
        return 0;
    size_t i = s_slot (m, key);
    if (!m->keys[i])
        return 0;
    *at = m->ats[i];
    return m->rows[i];
}

//  Read every dispatch row's JSON list of ids into the map.
static zj_err_t
s_dispatches (store_sqlite_t *self, sent_t *sent)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (self->db, "SELECT id, tasks, at FROM dispatches", -1, &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step (st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t row = sqlite3_column_int64 (st, 0);
        double at = sqlite3_column_double (st, 2);
        const char *p = (const char *) sqlite3_column_text (st, 1);
        const char *end = p ? p + sqlite3_column_bytes (st, 1) : NULL;
        while (p && p < end) {
            if (*p < '0' || *p > '9') {
                p++;
                continue;
            }
            int64_t id = 0;
            while (p < end && *p >= '0' && *p <= '9')
                id = id * 10 + (*p++ - '0');
            if (id && !s_sent_put (sent, id, row, at)) {
                sqlite3_finalize (st);
                return ZJ_ENOMEM;
            }
        }
    }
    sqlite3_finalize (st);
    return rc == SQLITE_DONE || rc == SQLITE_OK ? ZJ_OK : store_fail (self, rc, "reading dispatches");
}

//  The highest sequence number of a generation: what its row says, or
//  what its tasks say when they were issued after it was last written.
static uint64_t
s_max_seq (store_sqlite_t *self, int64_t slot, uint64_t stored)
{
    sqlite3_stmt *st = NULL;
    uint64_t max = stored;
    if (sqlite3_prepare_v2 (self->db, "SELECT max (id) FROM tasks WHERE id BETWEEN ? AND ?", -1,
                            &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64 (st, 1, STORE_ID (slot, 0));
        sqlite3_bind_int64 (st, 2, STORE_ID (slot, STORE_SEQ_MAX));
        if (sqlite3_step (st) == SQLITE_ROW && sqlite3_column_type (st, 0) != SQLITE_NULL) {
            uint64_t seq = (uint64_t) sqlite3_column_int64 (st, 0) & STORE_SEQ_MAX;
            if (seq > max)
                max = seq;
        }
    }
    sqlite3_finalize (st);
    return max;
}

static zj_err_t
s_generations (store_sqlite_t *self, const store_recover_t *cb, uint64_t *gen_of_slot)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (self->db,
        "SELECT gen, slot, max_seq FROM generations ORDER BY started, gen", -1, &st, NULL);
    zj_err_t err = ZJ_OK;
    while (rc == SQLITE_OK && err == ZJ_OK && (rc = sqlite3_step (st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        uint64_t gen = (uint64_t) sqlite3_column_int64 (st, 0);
        if (gen == self->gen)
            continue;
        uint64_t max_seq = (uint64_t) sqlite3_column_int64 (st, 2);
        if (sqlite3_column_type (st, 1) != SQLITE_NULL) {
            int64_t slot = sqlite3_column_int64 (st, 1);
            max_seq = s_max_seq (self, slot, max_seq);
            if (slot >= 1 && slot <= STORE_SLOT_MAX) {
                gen_of_slot[slot] = gen;
                store_slot_t *grown = realloc (self->slots, (self->nslots + 1) * sizeof *grown);
                if (!grown) {
                    err = ZJ_ENOMEM;
                    break;
                }
                self->slots = grown;
                self->slots[self->nslots++] = (store_slot_t) {gen, slot};
            }
        }
        if (cb->generation)
            err = cb->generation (cb->arg, gen, max_seq);
    }
    sqlite3_finalize (st);
    if (self->nslots)
        qsort (self->slots, self->nslots, sizeof *self->slots, s_cmp_slot);
    if (err != ZJ_OK)
        return err;
    return rc == SQLITE_DONE || rc == SQLITE_OK ? ZJ_OK : store_fail (self, rc, "reading generations");
}

static zj_err_t
s_submits (store_sqlite_t *self, const store_recover_t *cb, const uint64_t *gen_of_slot,
           double now)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2 (self->db,
        "SELECT client, req, first_id, count, submitted FROM submits ORDER BY submitted", -1,
        &st, NULL);
    zj_err_t err = ZJ_OK;
    while (rc == SQLITE_OK && err == ZJ_OK && (rc = sqlite3_step (st)) == SQLITE_ROW) {
        rc = SQLITE_OK;
        int64_t first = sqlite3_column_int64 (st, 2);
        int64_t slot = first >> STORE_SEQ_BITS;
        if (slot < 1 || slot > STORE_SLOT_MAX || gen_of_slot[slot] == NO_GEN || !cb->submit)
            continue;
        double age = now - sqlite3_column_double (st, 4);
        store_submit_t sub = {
            .client = {(const char *) sqlite3_column_text (st, 0),
                       (size_t) sqlite3_column_bytes (st, 0)},
            .req = (uint64_t) sqlite3_column_int64 (st, 1),
            .gen = gen_of_slot[slot],
            .seq = (uint64_t) first & STORE_SEQ_MAX,
            .count = (uint32_t) sqlite3_column_int64 (st, 3),
            .age = age > 0 ? age : 0,
        };
        if (sub.client.ptr && sub.count > 0)
            err = cb->submit (cb->arg, &sub);
    }
    sqlite3_finalize (st);
    if (err != ZJ_OK)
        return err;
    return rc == SQLITE_DONE || rc == SQLITE_OK ? ZJ_OK : store_fail (self, rc, "reading submits");
}

//  The attempts rows of one generation, stepped alongside its tasks
//  (both in id order): a merge, not a query per task.
typedef struct {
    sqlite3_stmt *st;           //  ... FROM attempts WHERE id BETWEEN ORDER BY id, n
    bool on_row;                //  st is on a row not yet taken
    int rc;                     //  the first failed step, or SQLITE_OK
    store_attempt_t *runs;      //  the current task's runs
    size_t n;
    size_t cap;
    char *text;                 //  their error bytes
    size_t text_len;
    size_t text_cap;
} runs_t;

static void
s_runs_free (runs_t *m)
{
    sqlite3_finalize (m->st);
    free (m->runs);
    free (m->text);
}

static void
s_runs_step (runs_t *m)
{
    int rc = sqlite3_step (m->st);
    m->on_row = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE && m->rc == SQLITE_OK)
        m->rc = rc;
}

//  Room for `need` items of `size` bytes in *items (capacity *cap).
static bool
s_grow (void *items_p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t grown = *cap ? *cap : 16;
    while (grown < need)
        grown *= 2;
    void *items = realloc (*(void **) items_p, grown * size);
    if (!items)
        return false;
    *(void **) items_p = items;
    *cap = grown;
    return true;
}

//  Start on generation `slot`'s rows.
static void
s_runs_start (runs_t *m, int64_t slot)
{
    sqlite3_reset (m->st);
    sqlite3_bind_int64 (m->st, 1, STORE_ID (slot, 0));
    sqlite3_bind_int64 (m->st, 2, STORE_ID (slot, STORE_SEQ_MAX));
    s_runs_step (m);
}

//  Copy column `col` of the current row into m->text; returns its offset
//  (the text may move until the task's runs are all read).
static bool
s_runs_text (runs_t *m, int col, size_t *off, size_t *len)
{
    const void *p = sqlite3_column_text (m->st, col);
    *len = p ? (size_t) sqlite3_column_bytes (m->st, col) : 0;
    *off = m->text_len;
    if (!s_grow (&m->text, &m->text_cap, m->text_len + *len, 1))
        return false;
    if (*len)
        memcpy (m->text + m->text_len, p, *len);
    m->text_len += *len;
    return true;
}

static uint8_t
s_outcome (const char *name)
{
    for (int o = ATTEMPT_RUNNING; name && o <= ATTEMPT_CANCELLED; o++)
        if (strcmp (name, attempts_outcome_name ((attempt_outcome_t) o)) == 0)
            return (uint8_t) o;
    return ATTEMPT_LOST;        //  written by a newer zjobd: it ended, somehow
}

//  A recovered row's worker as host and pid ("" and 0 when unknown);
//  its runner is marked used, so that pruning keeps it.
static void
s_runner_of (store_sqlite_t *self, sqlite3_stmt *st, int col, zj_str_t *host, int64_t *pid)
{
    store_runner_t *r = s_runner_by_id (self, sqlite3_column_int64 (st, col));
    *host = r ? (zj_str_t) {r->host, r->host_len} : (zj_str_t) {"", 0};
    *pid = r ? r->pid : 0;
    if (r)
        r->used = true;
}

//  Read task `id`'s runs into m->runs[0..n), skipping rows of ids before
//  it (a task the main query left out). False on OOM.
static bool
s_runs_of (store_sqlite_t *self, runs_t *m, int64_t id)
{
    m->n = m->text_len = 0;
    while (m->on_row && sqlite3_column_int64 (m->st, 0) < id)
        s_runs_step (m);
    size_t off;
    while (m->on_row && sqlite3_column_int64 (m->st, 0) == id) {
        if (!s_grow (&m->runs, &m->cap, m->n + 1, sizeof *m->runs))
            return false;
        store_attempt_t *a = &m->runs[m->n++];
        *a = (store_attempt_t) {
            .n = (uint16_t) sqlite3_column_int (m->st, 1),
            .start = sqlite3_column_double (m->st, 3),
            .end = sqlite3_column_double (m->st, 4),
            .outcome = s_outcome ((const char *) sqlite3_column_text (m->st, 5)),
        };
        s_runner_of (self, m->st, 2, &a->host, &a->pid);
        //  An offset now, a pointer once the text stops moving.
        if (!s_runs_text (m, 6, &off, &a->error.len))
            return false;
        a->error.ptr = (const char *) (uintptr_t) off;
        s_runs_step (m);
    }
    for (size_t i = 0; i < m->n; i++)
        m->runs[i].error.ptr = m->text + (uintptr_t) m->runs[i].error.ptr;
    return true;
}

//  The main query's columns.
enum {
    C_ID, C_FN, C_ARGS, C_PRIORITY, C_TIMEOUT, C_MAX_RETRIES, C_CHUNK, C_ATTEMPTS,
    C_SUBMITTED, C_REQUEUED, C_RETRY_ON, C_STATE, C_FINISHED, C_PAYLOAD, C_RUNNER,
    C_RUN_US, C_DEAD
};

//  A blob column, or NULL when it is NULL or empty.
static const uint8_t *
s_blob (sqlite3_stmt *st, int col, size_t *len)
{
    const uint8_t *p = sqlite3_column_blob (st, col);
    *len = p ? (size_t) sqlite3_column_bytes (st, col) : 0;
    return *len ? p : NULL;
}

//  Every task of one generation, in id (submit) order.
static zj_err_t
s_tasks (store_sqlite_t *self, sqlite3_stmt *st, runs_t *runs, const store_recover_t *cb,
         const sent_t *sent, uint64_t gen, int64_t slot, double now)
{
    static const uint8_t nil = 0xc0;
    //  Empty args are stored as an empty blob, which reads as NULL.
    static const uint8_t empty = 0x90;
    sqlite3_bind_int64 (st, 1, STORE_ID (slot, 0));
    sqlite3_bind_int64 (st, 2, STORE_ID (slot, STORE_SEQ_MAX));
    s_runs_start (runs, slot);
    zj_err_t err = ZJ_OK;
    int rc;
    while (err == ZJ_OK && (rc = sqlite3_step (st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64 (st, C_ID);
        store_record_t rec = {
            .gen = gen,
            .seq = (uint64_t) id & STORE_SEQ_MAX,
            .priority = sqlite3_column_int64 (st, C_PRIORITY),
            .timeout = sqlite3_column_double (st, C_TIMEOUT),
            .max_retries = (uint16_t) sqlite3_column_int (st, C_MAX_RETRIES),
            .chunk = sqlite3_column_int (st, C_CHUNK) != 0,
            .attempts = (uint16_t) sqlite3_column_int (st, C_ATTEMPTS),
            .host = {"", 0},
        };
        rec.retry_on = s_blob (st, C_RETRY_ON, &rec.retry_len);
        double since;
        if (sqlite3_column_type (st, C_STATE) != SQLITE_NULL) {
            rec.state = (zj_state_t) sqlite3_column_int (st, C_STATE);
            since = sqlite3_column_double (st, C_FINISHED);
            rec.blob = sqlite3_column_blob (st, C_PAYLOAD);
            rec.len = (size_t) sqlite3_column_bytes (st, C_PAYLOAD);
            if (!rec.blob || !rec.len) {
                rec.blob = &nil;
                rec.len = 1;
            }
            s_runner_of (self, st, C_RUNNER, &rec.host, &rec.pid);
            int64_t run_us = sqlite3_column_int64 (st, C_RUN_US);
            rec.run = run_us > 0 ? (double) run_us / 1e6 : 0;
            rec.dead = sqlite3_column_int (st, C_DEAD) != 0;
            if (rec.state == ZJ_STATE_FAILED) {
                //  Kept so that RETRY can run it again.
                rec.args = s_blob (st, C_ARGS, &rec.args_len);
                if (!rec.args) {
                    rec.args = &empty;
                    rec.args_len = 1;
                }
            }
        }
        else {
            double at;
            bool running = s_sent_get (sent, id, &at) > sqlite3_column_int64 (st, C_REQUEUED);
            rec.state = running ? ZJ_STATE_RUNNING : ZJ_STATE_QUEUED;
            rec.dispatched = running ? at : 0;
            since = sqlite3_column_double (st, C_SUBMITTED);
            rec.blob = sqlite3_column_blob (st, C_ARGS);
            rec.len = (size_t) sqlite3_column_bytes (st, C_ARGS);
        }
        rec.fn.ptr = (const char *) sqlite3_column_text (st, C_FN);
        rec.fn.len = (size_t) sqlite3_column_bytes (st, C_FN);
        rec.age = now > since ? now - since : 0;
        if (rec.state < ZJ_STATE_QUEUED || rec.state > ZJ_STATE_CANCELLED || !rec.fn.ptr
            || !rec.fn.len || (!rec.blob && rec.len))
            continue;
        if (!rec.blob) {
            rec.blob = &empty;
            rec.len = 1;
        }
        if (!s_runs_of (self, runs, id)) {
            err = ZJ_ENOMEM;
            break;
        }
        rec.runs = runs->n ? runs->runs : NULL;
        rec.nruns = runs->n;
        err = cb->task (cb->arg, &rec);
    }
    sqlite3_reset (st);
    if (err != ZJ_OK)
        return err;
    if (runs->rc != SQLITE_OK)
        return store_fail (self, runs->rc, "reading attempts");
    return rc == SQLITE_DONE ? ZJ_OK : store_fail (self, rc, "reading tasks");
}

zj_err_t
store_recover_all (store_t *base, const store_recover_t *cb)
{
    store_sqlite_t *self = (store_sqlite_t *) base;
    uint64_t *gen_of_slot = malloc ((STORE_SLOT_MAX + 1) * sizeof *gen_of_slot);
    if (!gen_of_slot)
        return ZJ_ENOMEM;
    for (size_t i = 0; i <= STORE_SLOT_MAX; i++)
        gen_of_slot[i] = NO_GEN;
    store_recover_free (base);
    //  The callbacks log changes (requeues, WorkerLost outcomes); the
    //  writer must not touch the connection while it is read here.
    self->reading = true;
    double now = store_wall ();
    zj_err_t err = s_generations (self, cb, gen_of_slot);
    if (err == ZJ_OK)
        err = s_submits (self, cb, gen_of_slot, now);
    sent_t sent = {0};
    if (err == ZJ_OK && cb->task)
        err = s_dispatches (self, &sent);
    sqlite3_stmt *st = NULL;
    runs_t runs = {0};
    if (err == ZJ_OK && cb->task) {
        //  Columns in the order of C_ID ... C_DEAD.
        int rc = sqlite3_prepare_v2 (self->db,
            "SELECT t.id, t.fn, t.args, t.priority, t.timeout, t.max_retries, t.chunk,"
            " t.attempts, t.submitted, t.requeued, t.retry_on, o.state, o.finished, o.payload,"
            " o.runner, o.run_us, o.dead"
            " FROM tasks t LEFT JOIN outcomes o ON o.id = t.id"
            " WHERE t.id BETWEEN ?1 AND ?2 ORDER BY t.id", -1, &st, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_prepare_v2 (self->db,
                "SELECT id, n, runner, start, end, outcome, error FROM attempts"
                " WHERE id BETWEEN ?1 AND ?2 ORDER BY id, n", -1, &runs.st, NULL);
        if (rc != SQLITE_OK)
            err = store_fail (self, rc, "reading tasks");
    }
    //  Generations in the order they started, so that older work is
    //  queued first.
    sqlite3_stmt *order = NULL;
    if (err == ZJ_OK && st) {
        int rc = sqlite3_prepare_v2 (self->db,
            "SELECT gen, slot FROM generations WHERE slot IS NOT NULL ORDER BY started, gen",
            -1, &order, NULL);
        while (err == ZJ_OK && rc == SQLITE_OK && (rc = sqlite3_step (order)) == SQLITE_ROW) {
            rc = SQLITE_OK;
            uint64_t gen = (uint64_t) sqlite3_column_int64 (order, 0);
            if (gen != self->gen)
                err = s_tasks (self, st, &runs, cb, &sent, gen, sqlite3_column_int64 (order, 1),
                               now);
        }
        if (err == ZJ_OK && rc != SQLITE_DONE && rc != SQLITE_OK)
            err = store_fail (self, rc, "reading generations");
    }
    sqlite3_finalize (order);
    sqlite3_finalize (st);
    s_runs_free (&runs);
    if (err == ZJ_OK && cb->task)
        s_runners_prune (self);
    self->reading = false;
    s_sent_free (&sent);
    free (gen_of_slot);
    return err;
}
