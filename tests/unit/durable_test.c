// SPDX-License-Identifier: MIT
//  durable_test - the broker core with its stores: idempotent resubmits,
//  a commit that fails (the turn's submits are refused, nothing of them
//  stays, accepted tasks go on), and a restart on a SQLite store after a
//  crash (queued, running and finished tasks, remembered submits,
//  expired tickets of the earlier generation).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "harness.h"
#include "broker_rig.h"

static void
s_tickets_of (zj_msg_t *msg, char tickets[][32], int n)
{
    zj_str_t s;
    for (int i = 0; i < n; i++) {
        ASSERT_TRUE (zj_msg_next_str (msg, &s));
        rig_copy (tickets[i], s);
    }
}

//  STATS tasks.queued, read the simple way: the broker's own count.
static size_t
s_queued (broker_t *b, double now)
{
    zj_enc_simple (rig_enc, ZJ_MSG_STATS, 77);
    rig_in (b, BROKER_CLIENTS, "S", now);
    rig_flush (b, now);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("S", ZJ_MSG_STATS_REPLY, 0, &msg));
    //  "queued" is the first key of the "tasks" map: find its value.
    const uint8_t *p = msg.stats.ptr, *end = p + msg.stats.len;
    for (; p + 7 < end; p++)
        if (memcmp (p, "\xa6queued", 7) == 0) {
            uint8_t v = p[7];
            if (v <= 0x7f)
                return v;
            if (v == 0xcc)
                return p[8];
            if (v == 0xcd)
                return (size_t) p[8] << 8 | p[9];
        }
    ZT_FAIL ("no queued count in STATS");
}

static void
test_resubmit (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_submit_as (b, "C1", 5, "echo", 3, 0, 0.0, "client-x");
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    char first[3][32], again[3][32];
    s_tickets_of (&msg, first, 3);
    //  The same (client, req) from a new connection: the same tickets,
    //  nothing new queued.
    rig_submit_as (b, "C1b", 5, "echo", 3, 0, 0.1, "client-x");
    rig_flush (b, 0.1);
    ASSERT_TRUE (rig_find ("C1b", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_EQ (msg.req, 5);
    s_tickets_of (&msg, again, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_STREQ (again[i], first[i]);
    ASSERT_EQ (s_queued (b, 0.1), 3);
    //  Another req, or another client, is a new submit.
    rig_submit_as (b, "C1", 6, "echo", 1, 0, 0.2, "client-x");
    rig_submit_as (b, "C2", 5, "echo", 1, 0, 0.2, "client-y");
    rig_submit (b, "C3", 5, "echo", 1, 0, 0.2);
    rig_flush (b, 0.2);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_TRUE (rig_find ("C3", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_EQ (s_queued (b, 0.2), 6);
    //  A known pair with another number of tasks is a mistake.
    rig_submit_as (b, "C1", 5, "echo", 2, 0, 0.3, "client-x");
    rig_flush (b, 0.3);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "ProtocolError");
    ASSERT_TRUE (strstr (msg.err_message.ptr, "batch of 3 tasks") != NULL);

    //  Once a task finished, the resend also brings its result at once,
    //  and the resender hears of the others when they finish.
    rig_ready (b, "W1", 1, "echo", 0.4);
    rig_flush (b, 0.4);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    zj_job_t job;
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    ASSERT_VIEWEQ (job.ticket, first[0]);
    rig_done (b, "W1", (zj_str_t) {first[0], strlen (first[0])}, true, 0.5);
    rig_flush (b, 0.5);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    char second[32];
    rig_copy (second, job.ticket);
    ASSERT_STREQ (second, first[1]);
    rig_submit_as (b, "C9", 5, "echo", 3, 0, 0.6, "client-x");
    rig_flush (b, 0.6);
    ASSERT_TRUE (rig_find ("C9", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_TRUE (rig_find ("C9", ZJ_MSG_RESULT, 0, &msg));
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_VIEWEQ (out.ticket, first[0]);
    ASSERT_EQ (out.state, ZJ_STATE_DONE);
    rig_done (b, "W1", (zj_str_t) {second, strlen (second)}, true, 0.7);
    rig_flush (b, 0.7);
    ASSERT_TRUE (rig_find ("C9", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));

    //  Remembered for the retention time after the submit, then not.
    ASSERT_TRUE (!broker_expire (b, 59.0));
    rig_submit_as (b, "C1", 5, "echo", 3, 0, 59.0, "client-x");
    rig_flush (b, 59.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_EQ (s_queued (b, 59.0), 3);
    while (broker_expire (b, 61.0))
        ;
    rig_submit_as (b, "C1", 5, "echo", 3, 0, 61.0, "client-x");
    rig_flush (b, 61.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    s_tickets_of (&msg, again, 3);
    ASSERT_TRUE (strcmp (again[0], first[0]) != 0);
    ASSERT_EQ (s_queued (b, 61.0), 6);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  A memory store whose commits fail while s_full is set.
static bool s_full;
static zj_err_t s_full_commit (store_t *s) { return s_full ? ZJ_ENOSPC : ZJ_OK; }
static const char *s_full_why (store_t *s) { return "/x/zjob.db: database or disk is full"; }

static void
test_commit_fails (void)
{
    store_t *mem = store_mem_new ();
    store_ops_t ops = *mem->ops;
    ops.commit_turn = s_full_commit;
    ops.why = s_full_why;
    store_t store = {.ops = &ops};
    broker_t *b = rig_broker (&store, 100, 60);
    //  Accepted while the store works.
    rig_submit (b, "C1", 1, "echo", 2, 0, 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    char accepted[2][32];
    s_tickets_of (&msg, accepted, 2);
    //  The store fills up: this turn's submits, a plain one, one with a
    //  client id and its resend in the same turn, are all refused, and
    //  nothing of them stays.
    s_full = true;
    rig_submit (b, "C2", 2, "echo", 3, 0, 1.0);
    rig_submit_as (b, "C3", 3, "other", 1, 0, 1.0, "client-z");
    rig_submit_as (b, "C4", 3, "other", 1, 0, 1.0, "client-z");
    rig_ready (b, "W1", 10, "echo", 1.0);
    rig_flush (b, 1.0);
    const char *refused[] = {"C2", "C3", "C4"};
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE (!rig_find (refused[i], ZJ_MSG_SUBMITTED, 0, &msg));
        ASSERT_TRUE (rig_find (refused[i], ZJ_MSG_ERROR, 0, &msg));
        ASSERT_VIEWEQ (msg.err_code, "NoSpace");
        ASSERT_TRUE (strstr (msg.err_message.ptr, "broker store is full: /x/zjob.db") != NULL);
        ASSERT_TRUE (strstr (msg.err_message.ptr, "nothing of this submit was accepted") != NULL);
    }
    //  The accepted tasks go on: both reach the worker, their results
    //  reach the client although the store still fails.
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    ASSERT_EQ (s_queued (b, 1.0), 0);
    rig_done (b, "W1", (zj_str_t) {accepted[0], strlen (accepted[0])}, true, 1.1);
    rig_flush (b, 1.1);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    //  The refused tickets were never issued, and their numbers are given
    //  again once the store takes writes.
    s_full = false;
    rig_submit (b, "C2", 4, "echo", 1, 0, 2.0);
    rig_submit_as (b, "C3", 3, "other", 1, 0, 2.0, "client-z");
    rig_flush (b, 2.0);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_SUBMITTED, 0, &msg));
    char next[1][32];
    s_tickets_of (&msg, next, 1);
    char want[32];
    snprintf (want, sizeof want, "%.8s-00000003", accepted[0]);
    ASSERT_STREQ (next[0], want);
    ASSERT_TRUE (rig_find ("C3", ZJ_MSG_SUBMITTED, 0, &msg));
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&mem);
}

static void
test_restart (void)
{
    char dir[] = "/tmp/zjob-durable-test-XXXXXX";
    ASSERT_TRUE (mkdtemp (dir));
    store_sqlite_config_t cfg = {.dir = dir};
    char why[700];
    store_t *store = store_sqlite_new (&cfg, why, sizeof why);
    ASSERT_TRUE (store);
    ASSERT_ERR (store_start_generation (store, 12345), ZJ_OK);
    broker_t *b = rig_broker (store, 100, 60);
    ASSERT_ERR (broker_recover (b, 0.0, NULL), ZJ_OK);
    //  Six tasks at two priorities; W1 (credit 2) runs both high ones,
    //  finishes one and takes the first low one: two are out on it when
    //  the broker dies.
    rig_submit_as (b, "C1", 1, "echo", 3, 0, 0.0, "client-r");
    rig_submit (b, "C1", 2, "echo", 2, 9, 0.0);
    rig_submit (b, "C1", 3, "other", 1, 0, 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    char low[3][32], high[2][32], other[1][32];
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    s_tickets_of (&msg, low, 3);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 1, &msg));
    s_tickets_of (&msg, high, 2);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 2, &msg));
    s_tickets_of (&msg, other, 1);
    rig_ready (b, "W1", 2, "echo", 0.1);
    rig_flush (b, 0.1);
    //  high[0] finishes, high[1] stays out on W1.
    rig_done (b, "W1", (zj_str_t) {high[0], strlen (high[0])}, true, 0.2);
    rig_flush (b, 0.2);
    rig_flush (b, 0.2);
    rig_clear ();
    //  kill -9: nothing more is written, nothing is shut down.
    broker_destroy (&b);
    store_destroy (&store);

    store = store_sqlite_new (&cfg, why, sizeof why);
    ASSERT_TRUE (store);
    ASSERT_ERR (store_start_generation (store, 999), ZJ_OK);
    broker_config_t bc = {.retention = 60, .heartbeat = 1, .liveness = 3, .max_retries = 1,
                          .max_frame = ZJ_MAX_FRAME_DEFAULT, .max_queued = 100};
    b = broker_new (&bc, 999, store, 100.0);
    broker_recovery_t found;
    ASSERT_ERR (broker_recover (b, 100.0, &found), ZJ_OK);
    ASSERT_EQ (found.generations, 1);
    ASSERT_EQ (found.submits, 1);
    ASSERT_EQ (found.queued, 3);
    ASSERT_EQ (found.requeued, 2);
    ASSERT_EQ (found.lost, 0);
    ASSERT_EQ (found.finished, 1);
    rig_flush (b, 100.0);
    //  A client that did not submit them fetches: the finished result at
    //  once, the rest when they run.
    const char *all[] = {high[0], high[1], low[0], "12345678-0000zzzz"};
    rig_tickets (ZJ_MSG_FETCH, all, 4);
    rig_in (b, BROKER_CLIENTS, "F", 100.1);
    rig_flush (b, 100.1);
    ASSERT_TRUE (rig_find ("F", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_VIEWEQ (out.ticket, high[0]);
    ASSERT_EQ (out.state, ZJ_STATE_DONE);
    ASSERT_TRUE (memcmp (out.value.ptr, "\xa2ok", 3) == 0);
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_EQ (out.state, ZJ_STATE_UNKNOWN);
    //  Queue order survived: the requeued high-priority task first, then
    //  the low ones in submit order.
    rig_ready (b, "W2", 10, "echo", 100.2);
    rig_flush (b, 100.2);
    ASSERT_TRUE (rig_find ("W2", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_EQ (msg.count, 4);
    const char *order[] = {high[1], low[0], low[1], low[2]};
    zj_job_t job;
    for (int i = 0; i < 4; i++) {
        ASSERT_TRUE (zj_msg_next_job (&msg, &job));
        ASSERT_VIEWEQ (job.ticket, order[i]);
    }
    //  The resend of the remembered submit gets its tickets back.
    rig_submit_as (b, "C5", 1, "echo", 3, 0, 100.3, "client-r");
    rig_flush (b, 100.3);
    ASSERT_TRUE (rig_find ("C5", ZJ_MSG_SUBMITTED, 0, &msg));
    char again[3][32];
    s_tickets_of (&msg, again, 3);
    for (int i = 0; i < 3; i++)
        ASSERT_STREQ (again[i], low[i]);
    //  The requeued ones had their attempt counted: losing them again
    //  uses up max_retries 1 and fails them WorkerLost; low[1] and
    //  low[2] are queued again.
    zj_enc_simple (rig_enc, ZJ_MSG_DISCONNECT, 0);
    rig_in (b, BROKER_WORKERS, "W2", 100.4);
    rig_flush (b, 100.4);
    ASSERT_TRUE (rig_find ("F", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    for (int i = 0; i < 2; i++) {
        ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
        ASSERT_TRUE (out.ticket.len == strlen (high[1])
                     && (memcmp (out.ticket.ptr, high[1], out.ticket.len) == 0
                         || memcmp (out.ticket.ptr, low[0], out.ticket.len) == 0));
        ASSERT_EQ (out.state, ZJ_STATE_FAILED);
        ASSERT_VIEWEQ (out.err_type, "WorkerLost");
    }
    ASSERT_EQ (s_queued (b, 100.5), 3);
    //  After retention the earlier generation's tickets read expired, not
    //  unknown, though their records are gone.
    while (broker_expire (b, 1000.0))
        ;
    rig_flush (b, 1000.0);
    const char *gone[] = {high[0]};
    rig_tickets (ZJ_MSG_STATUS, gone, 1);
    rig_in (b, BROKER_CLIENTS, "F", 1000.1);
    rig_flush (b, 1000.1);
    ASSERT_TRUE (rig_find ("F", ZJ_MSG_STATUS_REPLY, 0, &msg));
    zj_str_t s;
    zj_state_t st;
    ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
    ASSERT_EQ (st, ZJ_STATE_EXPIRED);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ (system (cmd), 0);
}

static void
test_snapshot (void)
{
    //  Past 100,000 dispatch records the broker hands the store every task
    //  out on a worker, and older records go: a restart still knows which
    //  tasks were running, from one row.
    char dir[] = "/tmp/zjob-durable-test-XXXXXX";
    ASSERT_TRUE (mkdtemp (dir));
    store_sqlite_config_t cfg = {.dir = dir};
    char why[700];
    store_t *store = store_sqlite_new (&cfg, why, sizeof why);
    ASSERT_TRUE (store);
    ASSERT_ERR (store_start_generation (store, 12345), ZJ_OK);     //  rig_broker's
    broker_t *b = rig_broker (store, 1000000, 3600);
    ASSERT_ERR (broker_recover (b, 0.0, NULL), ZJ_OK);
    enum { N = 100000 + 500 };
    for (int i = 0; i < N; i += 500)
        rig_submit (b, "C1", (uint64_t) i + 1, "echo", 500, 0, 0.0);
    rig_flush (b, 0.0);
    //  Credit for all but 500 of them: 100,000 dispatch records.
    rig_ready (b, "W1", N - 500, "echo", 0.1);
    rig_flush (b, 0.1);
    rig_flush (b, 0.1);
    ASSERT_TRUE (store_backlog (store) >= 100000);
    broker_expire (b, 0.2);
    rig_flush (b, 0.2);
    ASSERT_EQ (store_backlog (store), 0);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);

    char path[128];
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    sqlite3 *db;
    ASSERT_EQ (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ (sqlite3_prepare_v2 (db, "SELECT count (*) FROM dispatches", -1, &st, NULL),
               SQLITE_OK);
    ASSERT_EQ (sqlite3_step (st), SQLITE_ROW);
    ASSERT_EQ (sqlite3_column_int (st, 0), 1);
    sqlite3_finalize (st);
    //  Its row lists every running task.
    ASSERT_EQ (sqlite3_prepare_v2 (db, "SELECT count (*) FROM dispatches d, json_each (d.tasks)",
                                   -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ (sqlite3_step (st), SQLITE_ROW);
    ASSERT_EQ (sqlite3_column_int (st, 0), N - 500);
    sqlite3_finalize (st);
    sqlite3_close (db);

    store = store_sqlite_new (&cfg, why, sizeof why);
    ASSERT_TRUE (store);
    ASSERT_ERR (store_start_generation (store, 778), ZJ_OK);
    broker_config_t bc = {.retention = 60, .heartbeat = 1, .liveness = 3, .max_retries = 1,
                          .max_frame = ZJ_MAX_FRAME_DEFAULT, .max_queued = 1000000};
    b = broker_new (&bc, 778, store, 0.0);
    broker_recovery_t found;
    ASSERT_ERR (broker_recover (b, 0.0, &found), ZJ_OK);
    ASSERT_EQ (found.requeued, N - 500);
    ASSERT_EQ (found.queued, 500);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ (system (cmd), 0);
}

int
main (void)
{
    rig_enc = zj_enc_new ();
    ZT_RUN (test_resubmit);
    ZT_RUN (test_commit_fails);
    ZT_RUN (test_restart);
    ZT_RUN (test_snapshot);
    zj_enc_destroy (&rig_enc);
    return 0;
}
