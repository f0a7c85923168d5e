// SPDX-License-Identifier: MIT
//  store_test - the SQLite store on its own: open and create, what
//  recovery gives back (states, options, attempts, outcomes, submits,
//  generations), deletes, a full store (commits fail, the turn's new
//  tasks are dropped, the rest is kept and written later), and the bad
//  states an operator may meet: a damaged, truncated or foreign file, a
//  log without its database, an unusable directory, a second zjobd.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include "harness.h"
#include "store_rig.h"
#include "broker/ticket.h"

//  What recovery reported.
typedef struct {
    store_record_t rec[64];
    uint8_t blob[64][64];
    char fn[64][16];
    size_t n;
    uint64_t gens[8];
    uint64_t gen_max[8];
    size_t ngens;
    store_submit_t subs[8];
    char clients[8][80];
    size_t nsubs;
} seen_t;

static zj_err_t
s_on_gen (void *arg, uint64_t gen, uint64_t max_seq)
{
    seen_t *s = arg;
    s->gens[s->ngens] = gen;
    s->gen_max[s->ngens++] = max_seq;
    return ZJ_OK;
}

static zj_err_t
s_on_sub (void *arg, const store_submit_t *sub)
{
    seen_t *s = arg;
    s->subs[s->nsubs] = *sub;
    memcpy (s->clients[s->nsubs], sub->client.ptr, sub->client.len);
    s->clients[s->nsubs][sub->client.len] = '\0';
    s->subs[s->nsubs].client.ptr = s->clients[s->nsubs];
    s->nsubs++;
    return ZJ_OK;
}

static zj_err_t
s_on_task (void *arg, const store_record_t *rec)
{
    seen_t *s = arg;
    ASSERT_TRUE (s->n < 64 && rec->fn.len < 16);
    s->rec[s->n] = *rec;
    memcpy (s->blob[s->n], rec->blob, rec->len < 64 ? rec->len : 64);
    s->rec[s->n].blob = s->blob[s->n];
    memcpy (s->fn[s->n], rec->fn.ptr, rec->fn.len);
    s->fn[s->n][rec->fn.len] = '\0';
    s->rec[s->n].fn.ptr = s->fn[s->n];
    s->n++;
    return ZJ_OK;
}

static void
s_recover (store_t *store, seen_t *seen)
{
    memset (seen, 0, sizeof *seen);
    store_recover_t cb = {s_on_gen, s_on_sub, s_on_task, seen};
    ASSERT_ERR (store_recover (store, &cb), ZJ_OK);
}

static void
test_round_trip (void)
{
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 1000);
    store_begin_turn (r.store);
    task_t *q = s_add (&r, 5);          //  stays queued
    task_t *run = s_add (&r, 0);        //  out on a worker
    task_t *back = s_add (&r, 2);       //  sent, then back in its queue
    task_t *done = s_add (&r, 0);       //  finished
    task_t *gone = s_add (&r, 0);       //  finished and deleted
    zj_str_t client = {"client-a", 8};
    ASSERT_ERR (store_put_submit (r.store, client, 42, 1000, q->seq, 5), ZJ_OK);
    ASSERT_ERR (store_put_submit (r.store, (zj_str_t) {"client-b", 8}, 1, 1000, q->seq, 1),
                ZJ_OK);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    //  An empty turn writes nothing and succeeds.
    store_begin_turn (r.store);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);

    store_begin_turn (r.store);
    run->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, run);
    back->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, back);
    back->state = ZJ_STATE_QUEUED;
    back->attempts = 2;
    store_set_state (r.store, back);
    done->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, done);
    done = tasks_finish (r.tasks, done, ZJ_STATE_DONE, RESULT, sizeof RESULT, 1.0);
    gone = tasks_finish (r.tasks, gone, ZJ_STATE_FAILED, (const uint8_t *) "\x93\xa1T\xa1m\xa0",
                         7, 1.0);
    ASSERT_ERR (store_delete_submit (r.store, (zj_str_t) {"client-b", 8}, 1), ZJ_OK);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    store_begin_turn (r.store);
    store_delete_task (r.store, gone);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    s_unrig (&r);

    //  A new start: the earlier generation, its submit and its tasks in
    //  submit order, each as it was left.
    store_t *store = s_open (dir, 0, NULL);
    ASSERT_ERR (store_start_generation (store, 1000), ZJ_EINVAL);      //  taken
    ASSERT_ERR (store_start_generation (store, 2000), ZJ_OK);
    seen_t seen;
    s_recover (store, &seen);
    ASSERT_EQ (seen.ngens, 1);
    ASSERT_EQ (seen.gens[0], 1000);
    ASSERT_EQ (seen.gen_max[0], 5);
    ASSERT_EQ (seen.nsubs, 1);
    ASSERT_STREQ (seen.clients[0], "client-a");
    ASSERT_EQ (seen.subs[0].req, 42);
    ASSERT_EQ (seen.subs[0].gen, 1000);
    ASSERT_EQ (seen.subs[0].seq, 1);
    ASSERT_EQ (seen.subs[0].count, 5);
    ASSERT_EQ (seen.n, 4);
    store_record_t *rec = seen.rec;
    for (size_t i = 0; i < 4; i++) {
        ASSERT_EQ (rec[i].gen, 1000);
        ASSERT_VIEWEQ (rec[i].fn, "echo");
        ASSERT_TRUE (rec[i].age >= 0 && rec[i].age < 60);
    }
    ASSERT_EQ (rec[0].seq, 1);
    ASSERT_EQ (rec[0].state, ZJ_STATE_QUEUED);
    ASSERT_EQ (rec[0].priority, 5);
    ASSERT_TRUE (rec[0].timeout == 1.5);
    ASSERT_EQ (rec[0].max_retries, 4);
    ASSERT_EQ (rec[0].attempts, 0);
    ASSERT_TRUE (!rec[0].chunk);
    ASSERT_EQ (rec[0].len, sizeof ARGS);
    ASSERT_TRUE (memcmp (rec[0].blob, ARGS, sizeof ARGS) == 0);
    ASSERT_EQ (rec[1].state, ZJ_STATE_RUNNING);
    ASSERT_EQ (rec[2].state, ZJ_STATE_QUEUED);
    ASSERT_EQ (rec[2].attempts, 2);
    ASSERT_TRUE (rec[2].chunk);
    ASSERT_EQ (rec[3].state, ZJ_STATE_DONE);
    ASSERT_EQ (rec[3].len, sizeof RESULT);
    ASSERT_TRUE (memcmp (rec[3].blob, RESULT, sizeof RESULT) == 0);
    store_destroy (&store);

    //  What an operator sees with the sqlite3 shell.
    char path[128];
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    sqlite3 *db;
    ASSERT_EQ (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ (sqlite3_prepare_v2 (db, "SELECT ticket, state FROM task_states ORDER BY id",
                                   -1, &st, NULL), SQLITE_OK);
    const char *want[] = {"queued", "running", "queued", "done"};
    char ticket[TICKET_MAX + 1];
    for (int i = 0; i < 4; i++) {
        ASSERT_EQ (sqlite3_step (st), SQLITE_ROW);
        ticket_format (1000, (uint64_t) i + 1, ticket);
        ASSERT_STREQ ((const char *) sqlite3_column_text (st, 0), ticket);
        ASSERT_STREQ ((const char *) sqlite3_column_text (st, 1), want[i]);
    }
    ASSERT_EQ (sqlite3_step (st), SQLITE_DONE);
    sqlite3_finalize (st);
    sqlite3_close (db);
}

static void
test_error_columns (void)
{
    //  A failed task's type and message are readable columns.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 7);
    store_begin_turn (r.store);
    task_t *t = s_add (&r, 0);
    static const uint8_t failed[] = {0x93, 0xaa, 'V', 'a', 'l', 'u', 'e', 'E', 'r', 'r', 'o', 'r',
                                     0xa4, 'x', '=', '=', '2', 0xa2, 't', 'b'};
    tasks_finish (r.tasks, t, ZJ_STATE_FAILED, failed, sizeof failed, 1.0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    s_unrig (&r);
    char path[128];
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    sqlite3 *db;
    ASSERT_EQ (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ (sqlite3_prepare_v2 (db, "SELECT state, error_type, error_message, length (payload)"
                                   " FROM outcomes", -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ (sqlite3_step (st), SQLITE_ROW);
    ASSERT_EQ (sqlite3_column_int (st, 0), ZJ_STATE_FAILED);
    ASSERT_STREQ ((const char *) sqlite3_column_text (st, 1), "ValueError");
    ASSERT_STREQ ((const char *) sqlite3_column_text (st, 2), "x==2");
    ASSERT_EQ (sqlite3_column_int (st, 3), sizeof failed);
    sqlite3_finalize (st);
    sqlite3_close (db);
}

static void
test_many_rows (void)
{
    //  Batches larger than one statement, with sizes that need every
    //  statement size, come back complete and in order.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 9);
    enum { N = 64 * 3 + 8 * 2 + 5 };
    task_t *all[N];
    store_begin_turn (r.store);
    for (int i = 0; i < N; i++) {
        zj_task_t spec = {.fn = {"echo", 4}, .args = {ARGS, sizeof ARGS}, .max_retries = -1};
        all[i] = tasks_add (r.tasks, r.fn, &spec, 1, 0.0);
    }
    ASSERT_ERR (tasks_persist (r.tasks, all, N), ZJ_OK);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    store_begin_turn (r.store);
    for (int i = 0; i < N; i++) {
        all[i]->state = ZJ_STATE_RUNNING;
        store_set_state (r.store, all[i]);
    }
    for (int i = 0; i < N; i += 2)
        all[i] = tasks_finish (r.tasks, all[i], ZJ_STATE_DONE, RESULT, sizeof RESULT, 1.0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    store_begin_turn (r.store);
    for (int i = 0; i < N; i += 4)
        store_delete_task (r.store, all[i]);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    s_unrig (&r);

    store_t *store = s_open (dir, 0, NULL);
    ASSERT_ERR (store_start_generation (store, 10), ZJ_OK);
    size_t count[8] = {0};
    uint64_t last = 0;
    sqlite3 *db;
    char path[128];
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    ASSERT_EQ (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ (sqlite3_prepare_v2 (db, "SELECT state FROM task_states ORDER BY id", -1, &st, NULL),
               SQLITE_OK);
    while (sqlite3_step (st) == SQLITE_ROW) {
        const char *state = (const char *) sqlite3_column_text (st, 0);
        count[strcmp (state, "done") == 0 ? 3 : strcmp (state, "running") == 0 ? 2 : 1]++;
        last++;
    }
    sqlite3_finalize (st);
    sqlite3_close (db);
    size_t deleted = (N + 3) / 4, finished = (N + 1) / 2;
    ASSERT_EQ (last, N - deleted);
    ASSERT_EQ (count[3], finished - deleted);
    ASSERT_EQ (count[2], N - finished);
    store_destroy (&store);
}

static void
test_full (void)
{
    //  A store held to a few pages fills up: the commit fails with
    //  NoSpace naming the file, the turn's new tasks are dropped (never
    //  written), and the outcome of a task accepted earlier is kept and
    //  written once deletes make room.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 30, NULL), 5);
    store_begin_turn (r.store);
    task_t *first = s_add (&r, 0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    //  Fill it with tasks whose args take a page each.
    task_t *fill[40];
    size_t nfill = s_fill_up (&r, fill, 40);
    ASSERT_TRUE (strstr (store_why (r.store), "zjob.db") != NULL);
    ASSERT_TRUE (strstr (store_why (r.store), "full") != NULL);
    ASSERT_TRUE (!store_degraded (r.store));       //  nothing else was waiting
    //  The next turn: a big outcome for an accepted task and another new
    //  task. The commit fails; the outcome stays pending (degraded).
    store_begin_turn (r.store);
    first = tasks_finish (r.tasks, first, ZJ_STATE_DONE, s_huge, sizeof s_huge, 1.0);
    s_add_big (&r);
    //  Retried at every commit, still failing.
    s_commit_degraded (&r);
    //  Deleting accepted tasks makes room; the kept outcome goes in.
    s_make_room (&r, fill, nfill);
    s_unrig (&r);

    store_t *store = s_open (dir, 30, NULL);
    ASSERT_ERR (store_start_generation (store, 6), ZJ_OK);
    seen_t seen;
    s_recover (store, &seen);
    ASSERT_EQ (seen.n, 1);
    ASSERT_EQ (seen.rec[0].seq, 1);
    ASSERT_EQ (seen.rec[0].state, ZJ_STATE_DONE);
    ASSERT_EQ (seen.rec[0].len, sizeof s_huge);
    store_destroy (&store);
}

static void
test_dispatch_rows (void)
{
    //  Dispatches are rows of many ids; a requeue marks which rows no
    //  longer count for a task; a snapshot of what runs replaces them.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 40);
    store_begin_turn (r.store);
    task_t *a = s_add (&r, 0), *b = s_add (&r, 0), *c = s_add (&r, 0);
    s_add (&r, 0);                      //  d: never sent
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    store_begin_turn (r.store);
    task_t *sent[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        sent[i]->state = ZJ_STATE_RUNNING;
        store_set_state (r.store, sent[i]);
    }
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    //  b is taken back and sent again in one turn; c only taken back.
    store_begin_turn (r.store);
    b->state = ZJ_STATE_QUEUED;
    b->attempts = 1;
    store_set_state (r.store, b);
    b->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, b);
    c->state = ZJ_STATE_QUEUED;
    c->attempts = 1;
    store_set_state (r.store, c);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    ASSERT_EQ (r.store->ops->backlog (r.store), 4);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM dispatches"), 2);
    s_unrig (&r);

    store_t *store = s_open (dir, 0, NULL);
    ASSERT_ERR (store_start_generation (store, 41), ZJ_OK);
    seen_t seen;
    s_recover (store, &seen);
    //  No task was deleted: the generation's highest number comes from
    //  its tasks.
    ASSERT_EQ (seen.gen_max[0], 4);
    ASSERT_EQ (seen.n, 4);
    ASSERT_EQ (seen.rec[0].state, ZJ_STATE_RUNNING);
    ASSERT_EQ (seen.rec[1].state, ZJ_STATE_RUNNING);
    ASSERT_EQ (seen.rec[1].attempts, 1);
    ASSERT_EQ (seen.rec[2].state, ZJ_STATE_QUEUED);
    ASSERT_EQ (seen.rec[2].attempts, 1);
    ASSERT_EQ (seen.rec[3].state, ZJ_STATE_QUEUED);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE state = 'running'"), 2);
    store_destroy (&store);

    //  b finishes; a snapshot says only a runs: older rows go.
    s_rig (&r, s_open (dir, 0, NULL), 42);
    tasks_restore (r.tasks, 40, 1, r.fn, ZJ_STATE_QUEUED, ARGS, sizeof ARGS, 0.0);
    task_t *rb = tasks_restore (r.tasks, 40, 2, r.fn, ZJ_STATE_QUEUED, ARGS, sizeof ARGS, 0.0);
    task_t *ra = tasks_find (r.tasks, 40, 1);
    seen_t ignore;
    s_recover (r.store, &ignore);       //  learns the slot of generation 40
    store_begin_turn (r.store);
    tasks_finish (r.tasks, rb, ZJ_STATE_DONE, RESULT, sizeof RESULT, 1.0);
    ra->state = ZJ_STATE_RUNNING;
    ASSERT_ERR (store_put_running (r.store, &ra, 1), ZJ_OK);
    ASSERT_EQ (store_backlog (r.store), 0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM dispatches"), 1);
    s_unrig (&r);
    store = s_open (dir, 0, NULL);
    ASSERT_ERR (store_start_generation (store, 43), ZJ_OK);
    s_recover (store, &seen);
    ASSERT_EQ (seen.n, 4);
    ASSERT_EQ (seen.rec[0].state, ZJ_STATE_RUNNING);
    ASSERT_EQ (seen.rec[1].state, ZJ_STATE_DONE);
    ASSERT_EQ (seen.rec[2].state, ZJ_STATE_QUEUED);
    ASSERT_EQ (seen.rec[3].state, ZJ_STATE_QUEUED);
    store_destroy (&store);
}

//  Write `len` bytes of `fill` at `offset` of a file, or cut it there.
static void
s_damage (const char *path, long offset, int fill, size_t len, bool truncate_it)
{
    int fd = open (path, O_RDWR);
    ASSERT_TRUE (fd >= 0);
    if (truncate_it)
        ASSERT_EQ (ftruncate (fd, offset), 0);
    else {
        uint8_t buf[4096];
        memset (buf, fill, sizeof buf);
        ASSERT_EQ (pwrite (fd, buf, len, offset), (ssize_t) len);
    }
    close (fd);
}

//  A store with a thousand tasks, closed cleanly (no log left).
static void
s_filled (const char *dir)
{
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 3);
    store_begin_turn (r.store);
    for (int i = 0; i < 1000; i++)
        s_add (&r, i % 3);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    s_unrig (&r);
}

//  Opening (and recovering) fails with a message holding `needle`.
static void
s_expect_bad (const char *dir, const char *needle)
{
    char why[700] = "";
    store_t *store = s_open (dir, 0, why);
    if (store) {
        zj_err_t rc = store_start_generation (store, 99);
        if (rc == ZJ_OK) {
            seen_t seen;
            store_recover_t cb = {s_on_gen, s_on_sub, NULL, &seen};
            memset (&seen, 0, sizeof seen);
            rc = store_recover (store, &cb);
        }
        if (rc == ZJ_OK)
            ZT_FAIL ("a damaged store opened and recovered (wanted \"%s\")", needle);
        snprintf (why, sizeof why, "%s", store_why (store));
        store_destroy (&store);
    }
    if (!strstr (why, needle))
        ZT_FAIL ("message \"%s\" lacks \"%s\"", why, needle);
}

static void
test_bad_state (void)
{
    char path[128], other[128];
    //  A header overwritten: not a database.
    const char *dir = s_fresh ();
    s_filled (dir);
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    s_damage (path, 0, 'x', 100, false);
    s_expect_bad (dir, "zjob.db");
    s_expect_bad (dir, "move zjob.db");
    //  Cut in half.
    dir = s_fresh ();
    s_filled (dir);
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    struct stat st;
    ASSERT_EQ (stat (path, &st), 0);
    s_damage (path, (long) st.st_size / 2, 0, 0, true);
    s_expect_bad (dir, "damaged");
    //  Pages of tasks overwritten with garbage.
    dir = s_fresh ();
    s_filled (dir);
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    for (long page = 3; page < 12; page++)
        s_damage (path, page * 4096, 0x5a, 4096, false);
    s_expect_bad (dir, "damaged");
    //  A SQLite database of another program.
    dir = s_fresh ();
    ASSERT_EQ (mkdir (dir, 0700), 0);
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    sqlite3 *db;
    ASSERT_EQ (sqlite3_open (path, &db), SQLITE_OK);
    ASSERT_EQ (sqlite3_exec (db, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
    s_expect_bad (dir, "not a zjob store");
    //  A log whose database is gone.
    dir = s_fresh ();
    ASSERT_EQ (mkdir (dir, 0700), 0);
    snprintf (path, sizeof path, "%s/zjob.db-wal", dir);
    FILE *f = fopen (path, "w");
    ASSERT_TRUE (f && fputs ("log", f) >= 0);
    fclose (f);
    s_expect_bad (dir, "is missing but its write-ahead log");
    //  A directory that cannot be made (a file is in the way).
    dir = s_fresh ();
    ASSERT_EQ (mkdir (dir, 0700), 0);
    snprintf (path, sizeof path, "%s/file", dir);
    f = fopen (path, "w");
    fclose (f);
    snprintf (other, sizeof other, "%s/file/state", dir);
    s_expect_bad (other, "cannot create state directory");
    s_expect_bad (path, "not a directory");
    //  The database path is a directory.
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    ASSERT_EQ (mkdir (path, 0700), 0);
    s_expect_bad (dir, "not a regular file");
}

static void
test_one_broker_per_dir (void)
{
    const char *dir = s_fresh ();
    store_t *a = s_open (dir, 0, NULL);
    char why[700] = "";
    store_t *b = s_open (dir, 0, why);
    ASSERT_TRUE (b == NULL);
    ASSERT_TRUE (strstr (why, "in use by another zjobd") != NULL);
    char pid[32];
    snprintf (pid, sizeof pid, "pid %ld", (long) getpid ());
    ASSERT_TRUE (strstr (why, pid) != NULL);
    store_destroy (&a);
    b = s_open (dir, 0, NULL);
    store_destroy (&b);
}

int
main (void)
{
    ZT_RUN (test_round_trip);
    ZT_RUN (test_error_columns);
    ZT_RUN (test_many_rows);
    ZT_RUN (test_dispatch_rows);
    ZT_RUN (test_full);
    ZT_RUN (test_bad_state);
    ZT_RUN (test_one_broker_per_dir);
    if (s_dir[0])
        s_rmdir (s_dir);
    return 0;
}
