// SPDX-License-Identifier: MIT
//  store_attempts_test - what schema version 2 of the SQLite store keeps
//  beyond states and payloads: each ticket's runs that did not finish it,
//  the worker and run time of the run that did, the dead-letter mark,
//  retry_on, a failed task's args, reopens (in call order within a turn,
//  and kept through failed commits), their deletion with the task, the
//  runners table that names workers once, and the in-place upgrade of a
//  version-1 store.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sqlite3.h>
#include "harness.h"
#include "store_rig.h"
#include "broker/attempts.h"

//  A record as recovery reported it, with copies of what it points to.
typedef struct {
    store_record_t rec;
    uint8_t blob[64];
    uint8_t args[64];
    uint8_t retry[64];
    char host[32];
    store_attempt_t runs[8];
    char run_host[8][32];
    char run_error[8][40];
} got_t;

static got_t s_got[2048];
static size_t s_ngot;

//  Copy a view into buf (its first cap bytes: the tests compare short
//  ones) and point the view at the copy.
static void
s_keep (const void **ptr, size_t len, void *buf, size_t cap)
{
    if (*ptr && len)
        memcpy (buf, *ptr, len < cap ? len : cap);
    if (*ptr)
        *ptr = buf;
}

static zj_err_t
s_on_task (void *arg, const store_record_t *rec)
{
    ASSERT_TRUE (s_ngot < 2048 && rec->nruns <= 8);
    got_t *g = &s_got[s_ngot++];
    g->rec = *rec;
    s_keep ((const void **) &g->rec.blob, rec->len, g->blob, sizeof g->blob);
    s_keep ((const void **) &g->rec.args, rec->args_len, g->args, sizeof g->args);
    s_keep ((const void **) &g->rec.retry_on, rec->retry_len, g->retry, sizeof g->retry);
    s_keep ((const void **) &g->rec.host.ptr, rec->host.len, g->host, sizeof g->host);
    for (size_t i = 0; i < rec->nruns; i++) {
        g->runs[i] = rec->runs[i];
        s_keep ((const void **) &g->runs[i].host.ptr, rec->runs[i].host.len, g->run_host[i],
                sizeof g->run_host[i]);
        s_keep ((const void **) &g->runs[i].error.ptr, rec->runs[i].error.len,
                g->run_error[i], sizeof g->run_error[i]);
    }
    g->rec.runs = rec->nruns ? g->runs : NULL;
    return ZJ_OK;
}

//  Open dir again as generation gen and recover everything.
static store_t *
s_reopen_store (const char *dir, uint64_t gen)
{
    store_t *store = s_open (dir, 0, NULL);
    ASSERT_ERR (store_start_generation (store, gen), ZJ_OK);
    s_ngot = 0;
    store_recover_t cb = {NULL, NULL, s_on_task, NULL};
    ASSERT_ERR (store_recover (store, &cb), ZJ_OK);
    return store;
}

//  The recovered record of ticket (gen, seq); gen 0: of any generation.
static const store_record_t *
s_rec_of (uint64_t gen, uint64_t seq)
{
    for (size_t i = 0; i < s_ngot; i++)
        if (s_got[i].rec.seq == seq && (!gen || s_got[i].rec.gen == gen))
            return &s_got[i].rec;
    ZT_FAIL ("no record of ticket number %llu", (unsigned long long) seq);
}

static const store_record_t *
s_rec (uint64_t seq)
{
    return s_rec_of (0, seq);
}

static double
s_wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  msgpack ["ValueError", "m", ""]
static const uint8_t FAILED[] = {0x93, 0xaa, 'V', 'a', 'l', 'u', 'e', 'E', 'r', 'r', 'o', 'r',
                                 0xa1, 'm', 0xa0};
//  msgpack ["IOError", "Busy"]
static const uint8_t RETRY_ON[] = {0x92, 0xa7, 'I', 'O', 'E', 'r', 'r', 'o', 'r', 0xa4, 'B', 'u',
                                   's', 'y'};
static const uint8_t NIL[] = {0xc0};

//  Finish a task as the broker would, after its run of `run` seconds on
//  `who`: done with RESULT, or failed with FAILED.
static task_t *
s_finish (rig_t *r, task_t *t, const attempt_who_t *who, double run, zj_state_t state)
{
    t->state = ZJ_STATE_RUNNING;
    t->who = who;
    t->run = (float) run;
    return state == ZJ_STATE_DONE
        ? tasks_finish (r->tasks, t, ZJ_STATE_DONE, RESULT, sizeof RESULT, 1.0)
        : tasks_finish (r->tasks, t, ZJ_STATE_FAILED, FAILED, sizeof FAILED, 1.0);
}

static task_t *
s_fail (rig_t *r, task_t *t, const attempt_who_t *who, double run)
{
    return s_finish (r, t, who, run, ZJ_STATE_FAILED);
}

static task_t *
s_done (rig_t *r, task_t *t, const attempt_who_t *who, double run)
{
    return s_finish (r, t, who, run, ZJ_STATE_DONE);
}

//  A run that did not finish task t, logged as the broker does: in the
//  task's attempt log, then in the store.
static void
s_attempt (rig_t *r, task_t *t, const store_attempt_t *a)
{
    attempt_t entry = {.start = a->start, .end = a->end, .outcome = a->outcome};
    ASSERT_TRUE (attempts_log_push (&t->log, &entry));
    ASSERT_ERR (store_put_attempt (r->store, t, a), ZJ_OK);
}

//  Queue a failed task again as RETRY does, with `attempts` on record.
static void
s_retry (rig_t *r, task_t *t, uint16_t attempts)
{
    t->state = ZJ_STATE_QUEUED;
    t->attempts = attempts;
    t->flags &= (uint8_t) ~TASK_DEAD;
    ASSERT_ERR (store_reopen (r->store, t), ZJ_OK);
}

static void
test_history (void)
{
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 100);
    attempts_t *whos = attempts_new ();
    const attempt_who_t *w1 = attempts_intern (whos, "host-a", 4242);
    ASSERT_TRUE (whos && w1);
    double t0 = s_wall ();
    store_begin_turn (r.store);
    //  q: queued, with retry_on and two runs that were lost or crashed.
    zj_task_t spec = {.fn = {"echo", 4}, .args = {ARGS, sizeof ARGS}, .max_retries = -1};
    task_t *q = tasks_add (r.tasks, r.fn, &spec, 4, 0.0);
    ASSERT_TRUE (q && attempts_set_retry_on (&q->log, RETRY_ON, sizeof RETRY_ON));
    ASSERT_ERR (tasks_persist (r.tasks, &q, 1), ZJ_OK);
    store_attempt_t a2 = {.n = 2, .end = 1020.0, .outcome = ATTEMPT_CRASHED,
                          .error = {"Segfault", 8}};
    store_attempt_t a1 = {.n = 1, .host = {"host-a", 6}, .pid = 4242, .start = 1000.25,
                          .end = 1010.5, .outcome = ATTEMPT_LOST, .error = {"WorkerLost", 10}};
    s_attempt (&r, q, &a2);
    s_attempt (&r, q, &a1);
    //  run: out on a worker. done: finished on w1 after 2.5 s. dead:
    //  failed for good. cancelled: while queued, so no run finished it.
    task_t *run = s_add (&r, 0);
    task_t *done = s_add (&r, 0);
    task_t *dead = s_add (&r, 0);
    task_t *cancelled = s_add (&r, 0);
    run->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, run);
    done->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, done);
    done->who = w1;
    done->run = 2.5f;
    done = tasks_finish (r.tasks, done, ZJ_STATE_DONE, RESULT, sizeof RESULT, 1.0);
    dead->flags |= TASK_DEAD;
    dead = s_fail (&r, dead, w1, 0.5);
    store_attempt_t d1 = {.n = 1, .host = {"host-b", 6}, .pid = 7, .start = 900.0, .end = 901.0,
                          .outcome = ATTEMPT_TIMEOUT, .error = {"TimeoutError", 12}};
    s_attempt (&r, dead, &d1);
    cancelled = tasks_finish (r.tasks, cancelled, ZJ_STATE_CANCELLED, NIL, sizeof NIL, 1.0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    //  Writing run 2 again replaces it.
    store_begin_turn (r.store);
    a2.error = (zj_str_t) {"ProcessExited", 13};
    s_attempt (&r, q, &a2);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    double t1 = s_wall ();
    uint64_t sq = q->seq, srun = run->seq, sdone = done->seq, sdead = dead->seq,
             scancelled = cancelled->seq;
    s_unrig (&r);
    attempts_destroy (&whos);

    store_t *store = s_reopen_store (dir, 101);
    ASSERT_EQ (s_ngot, 5);
    const store_record_t *rec = s_rec (sq);
    ASSERT_EQ (rec->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (rec->retry_len, sizeof RETRY_ON);
    ASSERT_TRUE (memcmp (rec->retry_on, RETRY_ON, sizeof RETRY_ON) == 0);
    ASSERT_EQ (rec->nruns, 2);
    ASSERT_EQ (rec->runs[0].n, 1);
    ASSERT_VIEWEQ (rec->runs[0].host, "host-a");
    ASSERT_EQ (rec->runs[0].pid, 4242);
    ASSERT_TRUE (rec->runs[0].start == 1000.25 && rec->runs[0].end == 1010.5);
    ASSERT_EQ (rec->runs[0].outcome, ATTEMPT_LOST);
    ASSERT_VIEWEQ (rec->runs[0].error, "WorkerLost");
    ASSERT_EQ (rec->runs[1].n, 2);
    ASSERT_EQ (rec->runs[1].host.len, 0);
    ASSERT_EQ (rec->runs[1].pid, 0);
    ASSERT_TRUE (rec->runs[1].start == 0 && rec->runs[1].end == 1020.0);
    ASSERT_EQ (rec->runs[1].outcome, ATTEMPT_CRASHED);
    ASSERT_VIEWEQ (rec->runs[1].error, "ProcessExited");

    rec = s_rec (srun);
    ASSERT_EQ (rec->state, ZJ_STATE_RUNNING);
    ASSERT_TRUE (rec->dispatched >= t0 - 0.001 && rec->dispatched <= t1 + 0.001);
    ASSERT_TRUE (!rec->retry_on && !rec->nruns && !rec->runs);

    rec = s_rec (sdone);
    ASSERT_EQ (rec->state, ZJ_STATE_DONE);
    ASSERT_VIEWEQ (rec->host, "host-a");
    ASSERT_EQ (rec->pid, 4242);
    ASSERT_TRUE (fabs (rec->run - 2.5) < 0.001);
    ASSERT_TRUE (!rec->dead && !rec->args);

    rec = s_rec (sdead);
    ASSERT_EQ (rec->state, ZJ_STATE_FAILED);
    ASSERT_TRUE (rec->dead);
    ASSERT_TRUE (fabs (rec->run - 0.5) < 0.001);
    ASSERT_EQ (rec->args_len, sizeof ARGS);
    ASSERT_TRUE (memcmp (rec->args, ARGS, sizeof ARGS) == 0);
    ASSERT_EQ (rec->len, sizeof FAILED);
    ASSERT_TRUE (memcmp (rec->blob, FAILED, sizeof FAILED) == 0);
    ASSERT_EQ (rec->nruns, 1);
    ASSERT_EQ (rec->runs[0].outcome, ATTEMPT_TIMEOUT);
    ASSERT_VIEWEQ (rec->runs[0].host, "host-b");

    rec = s_rec (scancelled);
    ASSERT_EQ (rec->state, ZJ_STATE_CANCELLED);
    ASSERT_TRUE (rec->host.ptr && rec->host.len == 0);
    ASSERT_TRUE (rec->pid == 0 && rec->run == 0 && !rec->dead && !rec->args);
    store_destroy (&store);

    //  What an operator reads: outcome names, the dead letter, the worker.
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts a JOIN runners r ON r.id = a.runner"
                             " WHERE outcome = 'lost' AND host = 'host-a' AND error = 'WorkerLost'"),
               1);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts WHERE runner IS NULL"
                             " AND start IS NULL AND outcome = 'crashed'"), 1);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE dead = 1"
                             " AND state = 'failed' AND host = 'host-a' AND pid = 4242"), 1);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM outcomes WHERE run_us IS NULL"), 1);
    ASSERT_EQ (s_count (dir, "SELECT run_us FROM outcomes WHERE dead = 1"), 500000);
}

static void
test_reopen (void)
{
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 200);
    store_begin_turn (r.store);
    task_t *old = s_add (&r, 0);        //  failed in an earlier turn, then reopened
    task_t *same = s_add (&r, 0);       //  failed and reopened in one turn
    task_t *back = s_add (&r, 0);       //  failed, reopened, cancelled in one turn
    task_t *far = s_add (&r, 0);        //  ... with chunks handed over in between
    task_t *sent = s_add (&r, 0);       //  reopened, then sent to a worker
    s_add (&r, 0);                      //  queued all along: keeps its submit time
    old = s_fail (&r, old, NULL, 0);
    sent = s_fail (&r, sent, NULL, 0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);

    store_begin_turn (r.store);
    s_retry (&r, old, 3);
    same = s_fail (&r, same, NULL, 0);
    s_retry (&r, same, 1);
    back = s_fail (&r, back, NULL, 0);
    s_retry (&r, back, 0);
    back->state = ZJ_STATE_CANCELLED;
    ASSERT_ERR (store_put_outcome (r.store, back), ZJ_OK);
    //  More than a chunk's worth of changes between each step for `far`.
    far = s_fail (&r, far, NULL, 0);
    for (int i = 0; i < 600; i++)
        s_add (&r, 0);
    s_retry (&r, far, 2);
    for (int i = 0; i < 600; i++)
        s_add (&r, 0);
    far->state = ZJ_STATE_CANCELLED;
    ASSERT_ERR (store_put_outcome (r.store, far), ZJ_OK);
    s_retry (&r, sent, 1);
    sent->state = ZJ_STATE_RUNNING;
    store_set_state (r.store, sent);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    uint64_t sold = old->seq, ssame = same->seq, sback = back->seq, sfar = far->seq,
             ssent = sent->seq;
    s_unrig (&r);

    store_t *store = s_reopen_store (dir, 201);
    ASSERT_EQ (s_ngot, 1206);
    const store_record_t *rec = s_rec (sold);
    ASSERT_EQ (rec->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (rec->attempts, 3);
    ASSERT_EQ (rec->len, sizeof ARGS);
    ASSERT_TRUE (memcmp (rec->blob, ARGS, sizeof ARGS) == 0);
    rec = s_rec (ssame);
    ASSERT_EQ (rec->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (rec->attempts, 1);
    ASSERT_TRUE (memcmp (rec->blob, ARGS, sizeof ARGS) == 0);
    ASSERT_EQ (s_rec (sback)->state, ZJ_STATE_CANCELLED);
    ASSERT_EQ (s_rec (sfar)->state, ZJ_STATE_CANCELLED);
    rec = s_rec (ssent);
    ASSERT_EQ (rec->state, ZJ_STATE_RUNNING);
    ASSERT_EQ (rec->attempts, 1);
    store_destroy (&store);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE state = 'queued'"), 1203);
    //  A reopened task is submitted anew (its queue age counts from the
    //  retry); the 6th task of the first turn kept its time.
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM (SELECT submitted FROM tasks ORDER BY id"
                             " LIMIT 6) WHERE submitted > (SELECT min (submitted) FROM tasks)"),
               5);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM outcomes"), 2);
}

static void
test_delete (void)
{
    //  A task's runs go with it when its retention ends, also when it
    //  ends in the turn that wrote them.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 300);
    store_begin_turn (r.store);
    task_t *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = s_add (&r, 0);
        for (uint16_t n = 1; n <= 2; n++) {
            store_attempt_t a = {.n = n, .end = 5.0, .outcome = ATTEMPT_LOST};
            s_attempt (&r, t[i], &a);
        }
        t[i] = s_fail (&r, t[i], NULL, 0);
    }
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts"), 6);
    store_begin_turn (r.store);
    store_delete_task (r.store, t[0]);
    task_t *brief = s_add (&r, 0);
    store_attempt_t a = {.n = 1, .end = 5.0, .outcome = ATTEMPT_CRASHED};
    s_attempt (&r, brief, &a);
    brief = s_fail (&r, brief, NULL, 0);
    store_delete_task (r.store, brief);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts"), 4);
    //  Runs written for a task without a log (the broker lost it) stay
    //  when it is deleted, until the store opens again.
    store_begin_turn (r.store);
    attempts_log_free (&t[1]->log);
    store_delete_task (r.store, t[1]);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts"), 4);
    s_unrig (&r);
    store_t *store = s_reopen_store (dir, 301);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts"), 2);
    ASSERT_EQ (s_ngot, 1);
    ASSERT_EQ (s_got[0].rec.nruns, 2);
    store_destroy (&store);
}

static void
test_degraded (void)
{
    //  A full store: the turn's reopen and runs are kept with the other
    //  changes of accepted tasks and written once there is room.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 30, NULL), 400);
    store_begin_turn (r.store);
    task_t *failed = s_add (&r, 0);
    task_t *busy = s_add (&r, 0);
    task_t *gone = s_add (&r, 0);
    store_attempt_t g = {.n = 1, .end = 1.0, .outcome = ATTEMPT_LOST};
    s_attempt (&r, gone, &g);
    failed = s_fail (&r, failed, NULL, 0);
    gone = s_fail (&r, gone, NULL, 0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    task_t *fill[40];
    size_t nfill = s_fill_up (&r, fill, 40);
    //  The kept changes do not fit either: the store stays degraded.
    store_begin_turn (r.store);
    s_retry (&r, failed, 2);
    store_attempt_t a = {.n = 1, .host = {"host-c", 6}, .pid = 9, .start = 1.0, .end = 2.0,
                         .outcome = ATTEMPT_CRASHED, .error = {"Signal9", 7}};
    s_attempt (&r, failed, &a);
    busy = tasks_finish (r.tasks, busy, ZJ_STATE_DONE, s_huge, sizeof s_huge, 1.0);
    s_add_big (&r);
    s_commit_degraded (&r);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts"), 1);
    //  A delete while degraded goes first, with its task's runs.
    store_begin_turn (r.store);
    store_delete_task (r.store, gone);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_ENOSPC);
    s_make_room (&r, fill, nfill);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM attempts"), 1);
    uint64_t sfailed = failed->seq, sbusy = busy->seq;
    s_unrig (&r);

    store_t *store = s_reopen_store (dir, 401);
    ASSERT_EQ (s_ngot, 2);
    const store_record_t *rec = s_rec (sfailed);
    ASSERT_EQ (rec->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (rec->attempts, 2);
    ASSERT_EQ (rec->nruns, 1);
    ASSERT_VIEWEQ (rec->runs[0].host, "host-c");
    ASSERT_VIEWEQ (rec->runs[0].error, "Signal9");
    ASSERT_EQ (s_rec (sbusy)->state, ZJ_STATE_DONE);
    store_destroy (&store);
}

static void
test_runners (void)
{
    //  Outcomes and runs name their worker by its row in runners: one row
    //  per identity, written with the first change that names it, its id
    //  kept across restarts; rows nothing names any more go at recovery.
    const char *dir = s_fresh ();
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 500);
    attempts_t *whos = attempts_new ();
    const attempt_who_t *wa = attempts_intern (whos, "host-a", 11);
    const attempt_who_t *wb = attempts_intern (whos, "host-b", 22);
    const attempt_who_t *anon = attempts_intern (whos, "", 0);
    const attempt_who_t *pid_only = attempts_intern (whos, "", 33);
    //  An identity made where an earlier one was freed: same address,
    //  another worker.
    attempt_who_t *moved = calloc (1, sizeof *moved + 16);
    ASSERT_TRUE (wa && wb && anon && pid_only && moved);
    strcpy (moved->host, "host-a");
    moved->pid = 11;
    task_t *t[10];
    store_begin_turn (r.store);
    for (int i = 0; i < 10; i++)
        t[i] = s_add (&r, 0);
    t[0] = s_done (&r, t[0], wa, 0.25);
    t[3] = s_done (&r, t[3], wb, 0.5);
    t[4] = s_fail (&r, t[4], anon, 1.0);
    t[5] = s_done (&r, t[5], pid_only, 0.5);
    store_attempt_t a6 = {.n = 1, .host = {"host-a", 6}, .pid = 11, .end = 3.0,
                          .outcome = ATTEMPT_LOST};
    store_attempt_t a7 = {.n = 1, .host = {"host-c", 6}, .pid = 44, .end = 3.0,
                          .outcome = ATTEMPT_CRASHED};
    s_attempt (&r, t[6], &a6);
    s_attempt (&r, t[7], &a7);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    store_begin_turn (r.store);
    t[1] = s_done (&r, t[1], wa, 0.25);
    t[2] = s_done (&r, t[2], wa, 0.25);
    t[8] = s_done (&r, t[8], moved, 0.25);
    strcpy (moved->host, "host-d");
    moved->pid = 55;
    t[9] = s_done (&r, t[9], moved, 0.25);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM runners"), 5);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM outcomes o JOIN runners r ON r.id = o.runner"
                             " WHERE r.host = 'host-a' AND r.pid = 11"), 4);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM outcomes o JOIN runners r ON r.id = o.runner"
                             " WHERE r.host = 'host-d' AND r.pid = 55"), 1);
    //  A worker that gave neither host nor pid has no row; its run still
    //  counts (run_us is set).
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM outcomes WHERE runner IS NULL"
                             " AND run_us = 1000000 AND state = 4"), 1);
    //  task_states reads a missing host or pid as NULL, as before.
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE host IS NULL AND pid = 33"),
               1);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE host = 'host-b'"
                             " AND pid = 22"), 1);
    //  host-d's only task goes: its row goes when the store next recovers.
    store_begin_turn (r.store);
    store_delete_task (r.store, t[9]);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    uint64_t seq[10];
    for (int i = 0; i < 10; i++)
        seq[i] = t[i]->seq;
    s_unrig (&r);
    attempts_destroy (&whos);
    free (moved);
    int64_t id_b = (int64_t) s_count (dir, "SELECT id FROM runners WHERE host = 'host-b'");
    int64_t id_max = (int64_t) s_count (dir, "SELECT max (id) FROM runners");

    s_rig (&r, s_open (dir, 0, NULL), 501);
    s_ngot = 0;
    store_recover_t cb = {NULL, NULL, s_on_task, NULL};
    ASSERT_ERR (store_recover (r.store, &cb), ZJ_OK);
    ASSERT_EQ (s_ngot, 9);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM runners"), 4);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM runners WHERE host = 'host-d'"), 0);
    const store_record_t *rec;
    for (int i = 0; i < 3; i++) {
        rec = s_rec_of (500, seq[i]);
        ASSERT_VIEWEQ (rec->host, "host-a");
        ASSERT_EQ (rec->pid, 11);
        ASSERT_TRUE (fabs (rec->run - 0.25) < 0.001);
    }
    rec = s_rec_of (500, seq[3]);
    ASSERT_VIEWEQ (rec->host, "host-b");
    ASSERT_EQ (rec->pid, 22);
    rec = s_rec_of (500, seq[4]);
    ASSERT_TRUE (rec->host.ptr && rec->host.len == 0 && rec->pid == 0);
    ASSERT_TRUE (fabs (rec->run - 1.0) < 0.001);
    rec = s_rec_of (500, seq[5]);
    ASSERT_TRUE (rec->host.len == 0 && rec->pid == 33);
    rec = s_rec_of (500, seq[6]);
    ASSERT_EQ (rec->nruns, 1);
    ASSERT_VIEWEQ (rec->runs[0].host, "host-a");
    ASSERT_EQ (rec->runs[0].pid, 11);
    rec = s_rec_of (500, seq[7]);
    ASSERT_VIEWEQ (rec->runs[0].host, "host-c");
    ASSERT_EQ (rec->runs[0].pid, 44);
    rec = s_rec_of (500, seq[8]);
    ASSERT_VIEWEQ (rec->host, "host-a");
    //  After the restart: a known worker keeps its row, a new one gets an
    //  id above every id handed out before.
    whos = attempts_new ();
    wb = attempts_intern (whos, "host-b", 22);
    const attempt_who_t *we = attempts_intern (whos, "host-e", 66);
    ASSERT_TRUE (whos && wb && we);
    store_begin_turn (r.store);
    task_t *u0 = s_done (&r, s_add (&r, 0), wb, 0.5);
    task_t *u1 = s_add (&r, 0);
    store_attempt_t b1 = {.n = 1, .host = {"host-b", 6}, .pid = 22, .end = 3.0,
                          .outcome = ATTEMPT_LOST};
    s_attempt (&r, u1, &b1);
    u1 = s_done (&r, u1, we, 0.5);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    uint64_t su0 = u0->seq, su1 = u1->seq;
    s_unrig (&r);
    attempts_destroy (&whos);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM runners"), 5);
    ASSERT_EQ ((int64_t) s_count (dir, "SELECT id FROM runners WHERE host = 'host-b'"), id_b);
    ASSERT_TRUE ((int64_t) s_count (dir, "SELECT id FROM runners WHERE host = 'host-e'")
                 > id_max);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM outcomes o JOIN runners r ON r.id = o.runner"
                             " WHERE r.host = 'host-b'"), 2);

    store_t *store = s_reopen_store (dir, 502);
    ASSERT_EQ (s_ngot, 11);
    ASSERT_VIEWEQ (s_rec_of (501, su0)->host, "host-b");
    rec = s_rec_of (501, su1);
    ASSERT_VIEWEQ (rec->host, "host-e");
    ASSERT_EQ (rec->pid, 66);
    ASSERT_VIEWEQ (rec->runs[0].host, "host-b");
    ASSERT_VIEWEQ (s_rec_of (500, seq[3])->host, "host-b");
    store_destroy (&store);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM runners"), 5);
}

//  Schema version 1, as zjobd wrote it before attempts were kept.
static const char s_schema_v1[] =
    "PRAGMA application_id = 2053795682; PRAGMA user_version = 1;"
    "CREATE TABLE generations (gen INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    "  slot INTEGER UNIQUE, started REAL NOT NULL, max_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE tasks (id INTEGER PRIMARY KEY, ticket TEXT NOT NULL, fn TEXT NOT NULL,"
    "  args BLOB NOT NULL, priority INTEGER NOT NULL, timeout REAL NOT NULL,"
    "  max_retries INTEGER NOT NULL, chunk INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    "  requeued INTEGER NOT NULL, submitted REAL NOT NULL);"
    "CREATE TABLE dispatches (id INTEGER PRIMARY KEY, at REAL NOT NULL, tasks TEXT NOT NULL);"
    "CREATE TABLE outcomes (id INTEGER PRIMARY KEY, state INTEGER NOT NULL,"
    "  finished REAL NOT NULL, error_type TEXT, error_message TEXT, payload BLOB);"
    "CREATE TABLE submits (client TEXT NOT NULL, req INTEGER NOT NULL,"
    "  first_id INTEGER NOT NULL, count INTEGER NOT NULL, submitted REAL NOT NULL,"
    "  PRIMARY KEY (client, req)) WITHOUT ROWID;"
    "CREATE VIEW task_states AS"
    "  WITH sent AS (SELECT j.value AS id, max (d.id) AS row, max (d.at) AS at"
    "                FROM dispatches d, json_each (d.tasks) j GROUP BY j.value)"
    "  SELECT t.ticket, t.fn,"
    "    CASE WHEN o.state = 3 THEN 'done' WHEN o.state = 4 THEN 'failed'"
    "         WHEN o.state = 5 THEN 'cancelled' WHEN s.row > t.requeued THEN 'running'"
    "         ELSE 'queued' END AS state,"
    "    t.priority, t.attempts,"
    "    datetime (t.submitted, 'unixepoch') AS submitted,"
    "    datetime (s.at, 'unixepoch') AS dispatched,"
    "    datetime (o.finished, 'unixepoch') AS finished,"
    "    o.error_type, o.error_message, t.id"
    "  FROM tasks t LEFT JOIN outcomes o ON o.id = t.id LEFT JOIN sent s ON s.id = t.id;"
    //  Generation 77 in slot 1: a queued, a running, a done and a failed task.
    "INSERT INTO generations VALUES (77, 'aaaaaacd', 1, 1000.0, 4);"
    "INSERT INTO tasks VALUES (281474976710657, 'aaaaaacd-00000001', 'echo', x'9201a178',"
    "  0, 0, 3, 0, 0, 0, 1000.0);"
    "INSERT INTO tasks VALUES (281474976710658, 'aaaaaacd-00000002', 'echo', x'9201a178',"
    "  0, 0, 3, 0, 1, 0, 1000.0);"
    "INSERT INTO tasks VALUES (281474976710659, 'aaaaaacd-00000003', 'echo', x'9201a178',"
    "  0, 0, 3, 0, 0, 0, 1000.0);"
    "INSERT INTO tasks VALUES (281474976710660, 'aaaaaacd-00000004', 'echo', x'9201a178',"
    "  0, 0, 3, 0, 0, 0, 1000.0);"
    "INSERT INTO dispatches VALUES (1, 1001.0, '[281474976710658]');"
    "INSERT INTO outcomes VALUES (281474976710659, 3, 1002.0, NULL, NULL, x'a26f6b');"
    "INSERT INTO outcomes VALUES (281474976710660, 4, 1002.0, 'ValueError', 'm',"
    "  x'93aa56616c75654572726f72a16da0');";

static void
s_make_v1 (const char *dir, const char *extra)
{
    ASSERT_EQ (mkdir (dir, 0700), 0);
    char path[128];
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    sqlite3 *db;
    ASSERT_EQ (sqlite3_open (path, &db), SQLITE_OK);
    ASSERT_EQ (sqlite3_exec (db, s_schema_v1, NULL, NULL, NULL), SQLITE_OK);
    if (extra)
        ASSERT_EQ (sqlite3_exec (db, extra, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close (db);
}

static void
test_upgrade (void)
{
    const char *dir = s_fresh ();
    s_make_v1 (dir, NULL);
    store_t *store = s_reopen_store (dir, 78);
    ASSERT_EQ (s_ngot, 4);
    ASSERT_EQ (s_rec (1)->state, ZJ_STATE_QUEUED);
    ASSERT_TRUE (memcmp (s_rec (1)->blob, ARGS, sizeof ARGS) == 0);
    ASSERT_TRUE (!s_rec (1)->retry_on && !s_rec (1)->nruns);
    ASSERT_EQ (s_rec (2)->state, ZJ_STATE_RUNNING);
    ASSERT_EQ (s_rec (2)->attempts, 1);
    ASSERT_TRUE (s_rec (2)->dispatched == 1001.0);
    ASSERT_EQ (s_rec (3)->state, ZJ_STATE_DONE);
    ASSERT_TRUE (memcmp (s_rec (3)->blob, RESULT, sizeof RESULT) == 0);
    ASSERT_TRUE (s_rec (3)->run == 0 && s_rec (3)->host.len == 0 && !s_rec (3)->dead);
    ASSERT_EQ (s_rec (4)->state, ZJ_STATE_FAILED);
    ASSERT_TRUE (memcmp (s_rec (4)->args, ARGS, sizeof ARGS) == 0);
    store_destroy (&store);
    ASSERT_EQ (s_count (dir, "PRAGMA user_version"), 2);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE dead = 0"), 4);
    ASSERT_EQ (s_count (dir, "SELECT count (*) FROM task_states WHERE state = 'running'"), 1);

    //  The upgraded store takes what version 2 adds: the failed task is
    //  reopened with a run on record.
    rig_t r;
    s_rig (&r, s_open (dir, 0, NULL), 79);
    s_ngot = 0;
    store_recover_t cb = {NULL, NULL, s_on_task, NULL};
    ASSERT_ERR (store_recover (r.store, &cb), ZJ_OK);      //  learns generation 77's slot
    task_t *t = tasks_restore (r.tasks, 77, 4, r.fn, ZJ_STATE_FAILED, FAILED, sizeof FAILED, 0);
    ASSERT_TRUE (t);
    store_begin_turn (r.store);
    store_attempt_t a = {.n = 1, .host = {"host-u", 6}, .pid = 5, .end = 1002.0,
                         .outcome = ATTEMPT_RAISED, .error = {"ValueError", 10}};
    s_attempt (&r, t, &a);
    s_retry (&r, t, 0);
    ASSERT_ERR (store_commit_turn (r.store), ZJ_OK);
    s_unrig (&r);
    store = s_reopen_store (dir, 80);
    ASSERT_EQ (s_rec (4)->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (s_rec (4)->nruns, 1);
    ASSERT_EQ (s_rec (4)->runs[0].outcome, ATTEMPT_RAISED);
    ASSERT_VIEWEQ (s_rec (4)->runs[0].host, "host-u");
    ASSERT_EQ (s_rec (4)->runs[0].pid, 5);
    store_destroy (&store);

    //  A version this zjobd does not know is refused, as before.
    dir = s_fresh ();
    s_make_v1 (dir, "PRAGMA user_version = 3");
    char why[700] = "";
    ASSERT_TRUE (s_open (dir, 0, why) == NULL);
    ASSERT_TRUE (strstr (why, "schema version 3, this zjobd knows 2") != NULL);

    //  A version 2 of development builds, with a worker in every outcome
    //  row, is refused with what to do.
    dir = s_fresh ();
    s_make_v1 (dir, "PRAGMA user_version = 2; ALTER TABLE outcomes ADD COLUMN host TEXT;");
    ASSERT_TRUE (s_open (dir, 0, why) == NULL);
    ASSERT_TRUE (strstr (why, "development build") && strstr (why, "move it away"));
}

int
main (void)
{
    ZT_RUN (test_history);
    ZT_RUN (test_reopen);
    ZT_RUN (test_delete);
    ZT_RUN (test_degraded);
    ZT_RUN (test_runners);
    ZT_RUN (test_upgrade);
    if (s_dir[0])
        s_rmdir (s_dir);
    return 0;
}
