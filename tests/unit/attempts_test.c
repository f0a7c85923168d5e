// SPDX-License-Identifier: MIT
//  attempts_test - attempt history: interning, outcome classification, and
//  the records the broker keeps for runs that were lost, then finished.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "broker_rig.h"
#include "broker/broker_int.h"
#include "broker/ticket.h"

static void
test_intern_and_classify (void)
{
    attempts_t *a = attempts_new ();
    ASSERT_TRUE (a);
    const attempt_who_t *x = attempts_intern (a, "hostA", 10);
    const attempt_who_t *y = attempts_intern (a, "hostA", 11);
    ASSERT_TRUE (x && y && x != y);
    ASSERT_TRUE (attempts_intern (a, "hostA", 10) == x);
    ASSERT_STREQ (x->host, "hostA");
    ASSERT_EQ (attempts_classify ("WorkerLost", 10, "", 0), ATTEMPT_LOST);
    ASSERT_EQ (attempts_classify ("TimeoutError", 12, "", 0), ATTEMPT_TIMEOUT);
    ASSERT_EQ (attempts_classify ("ProcessExited", 13, "x", 1), ATTEMPT_CRASHED);
    const char *sig = "command killed by signal 9";
    ASSERT_EQ (attempts_classify ("ExecError", 9, sig, strlen (sig)), ATTEMPT_CRASHED);
    const char *st = "command exited with status 1";
    ASSERT_EQ (attempts_classify ("ExecError", 9, st, strlen (st)), ATTEMPT_RAISED);
    ASSERT_EQ (attempts_classify ("ValueError", 10, "bad", 3), ATTEMPT_RAISED);
    ASSERT_STREQ (attempts_outcome_name (ATTEMPT_LOST), "lost");
    attempt_log_t *log = NULL;
    attempt_t rec = {.start = 1, .end = 2, .who = x, .outcome = ATTEMPT_LOST};
    for (int i = 0; i < 5; i++)
        ASSERT_TRUE (attempts_log_push (&log, &rec));
    ASSERT_EQ (log->n, 5);
    attempts_log_free (&log);
    ASSERT_TRUE (log == NULL);
    attempts_destroy (&a);
    ASSERT_TRUE (a == NULL);
}

//  Lost on W1, then done on W2: two attempts, lost then done, with times.
static void
test_lost_then_done (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);            //  max_retries 1
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    task_t *task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_TRUE (task && task->state == ZJ_STATE_RUNNING);
    ASSERT_EQ (attempts_count (task), 1);
    attempt_t a;
    ASSERT_TRUE (attempts_at (task, 0, &a));
    ASSERT_EQ (a.outcome, ATTEMPT_RUNNING);
    ASSERT_STREQ (a.who->host, "host");
    ASSERT_EQ (a.who->pid, 123);
    zj_enc_simple (rig_enc, ZJ_MSG_DISCONNECT, 0);
    rig_in (b, BROKER_WORKERS, "W1", 1.5);
    rig_flush (b, 1.5);
    ASSERT_EQ (task->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (attempts_count (task), 1);
    rig_ready (b, "W2", 1, "f", 2.0);
    rig_flush (b, 2.0);
    ASSERT_TRUE (rig_find ("W2", ZJ_MSG_TASKS, 0, &msg));
    zj_str_t ticket;
    char buf[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (task, buf);
    ticket = (zj_str_t) {buf, tlen};
    rig_done (b, "W2", ticket, true, 5.0);
    rig_flush (b, 5.0);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_TRUE (task && task->state == ZJ_STATE_DONE);
    ASSERT_EQ (attempts_count (task), 2);
    ASSERT_TRUE (attempts_at (task, 0, &a));
    ASSERT_EQ (a.outcome, ATTEMPT_LOST);
    ASSERT_TRUE (a.start == 0.0 && a.end == 1.5);
    ASSERT_STREQ (a.error, "WorkerLost");
    ASSERT_TRUE (attempts_at (task, 1, &a));
    ASSERT_EQ (a.outcome, ATTEMPT_DONE);
    ASSERT_TRUE (a.start == 2.0 && a.end == 5.0);
    ASSERT_TRUE (!attempts_at (task, 2, &a));
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  A task that raised: one attempt, raised, with its error type.
static void
test_raised (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    task_t *task = tasks_find (b->tasks, b->gen, 1);
    char buf[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (task, buf);
    rig_done (b, "W1", (zj_str_t) {buf, tlen}, false, 1.0);
    rig_flush (b, 1.0);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_TRUE (task && task->state == ZJ_STATE_FAILED);
    attempt_t a;
    ASSERT_EQ (attempts_count (task), 1);
    ASSERT_TRUE (attempts_at (task, 0, &a));
    ASSERT_EQ (a.outcome, ATTEMPT_RAISED);
    ASSERT_STREQ (a.error, "ValueError");
    //  Raised without retry_on: failed, not a dead letter.
    ASSERT_TRUE (!(task->flags & TASK_DEAD));
    ASSERT_EQ (b->dead, 0);
    //  Cancelled while queued: no attempt at all.
    rig_submit (b, "C1", 2, "f", 1, 0, 2.0);
    rig_flush (b, 2.0);
    rig_submit (b, "C1", 3, "f", 1, 0, 2.0);
    rig_flush (b, 2.0);
    task_t *q = tasks_find (b->tasks, b->gen, 3);
    ASSERT_TRUE (q && q->state == ZJ_STATE_QUEUED);
    ASSERT_EQ (attempts_count (q), 0);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
s_crash (broker_t *b, const char *worker, task_t *task, double now)
{
    char buf[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (task, buf);
    zj_enc_outcomes_begin (rig_enc, ZJ_MSG_DONE, 1);
    zj_outcome_t out = {
        .ticket = {buf, tlen},
        .state = ZJ_STATE_FAILED,
        .err_type = {"ExecError", 9},
        .err_message = {"command killed by signal 9", 26},
        .err_traceback = {"", 0},
    };
    zj_enc_outcome (rig_enc, &out);
    rig_in (b, BROKER_WORKERS, worker, now);
}

//  A crash is retried within max_retries (1 here); the second crash
//  stands and the ticket fails with the crash's own error.
static void
test_crash_retried (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    task_t *task = tasks_find (b->tasks, b->gen, 1);
    s_crash (b, "W1", task, 1.0);
    rig_flush (b, 1.0);
    zj_msg_t msg;
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));   //  dispatched again
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (task->state, ZJ_STATE_RUNNING);
    s_crash (b, "W1", task, 2.0);
    rig_flush (b, 2.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_EQ (out.state, ZJ_STATE_FAILED);
    ASSERT_VIEWEQ (out.err_type, "ExecError");
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (attempts_count (task), 2);
    attempt_t a;
    ASSERT_TRUE (attempts_at (task, 0, &a));
    ASSERT_EQ (a.outcome, ATTEMPT_CRASHED);
    ASSERT_STREQ (a.error, "ExecError");
    ASSERT_TRUE (attempts_at (task, 1, &a));
    ASSERT_EQ (a.outcome, ATTEMPT_CRASHED);
    ASSERT_TRUE (a.start == 1.0 && a.end == 2.0);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  retry_on: a raised ValueError is retried within max_retries (1), a
//  TypeError is not.
static void
test_retry_on (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 1, "f", 0.0);
    static const uint8_t retry_on[] = {0x91, 0xaa, 'V', 'a', 'l', 'u', 'e', 'E', 'r', 'r', 'o', 'r'};
    static const uint8_t args[] = {0x90};
    zj_enc_submit_begin (rig_enc, 1, 1, NULL);
    zj_enc_task (rig_enc, &(zj_task_t) {
        .fn = {"f", 1},
        .args = {args, 1},
        .max_retries = -1,
        .retry_on = {retry_on, sizeof retry_on},
    });
    rig_in (b, BROKER_CLIENTS, "C1", 0.0);
    rig_flush (b, 0.0);
    task_t *task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_TRUE (task && task->log && task->log->retry_on);
    ASSERT_TRUE (attempts_retry_on (task->log, "ValueError", 10));
    ASSERT_TRUE (!attempts_retry_on (task->log, "TypeError", 9));
    char buf[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (task, buf);
    rig_done (b, "W1", (zj_str_t) {buf, tlen}, false, 1.0);    //  ValueError
    rig_flush (b, 1.0);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (task->state, ZJ_STATE_RUNNING);                 //  retried at once
    rig_done (b, "W1", (zj_str_t) {buf, tlen}, false, 2.0);
    rig_flush (b, 2.0);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (task->state, ZJ_STATE_FAILED);                  //  budget spent
    attempt_t a;
    ASSERT_EQ (attempts_count (task), 2);
    ASSERT_TRUE (attempts_at (task, 0, &a) && a.outcome == ATTEMPT_RAISED);
    ASSERT_STREQ (a.error, "ValueError");
    ASSERT_TRUE (attempts_at (task, 1, &a) && a.outcome == ATTEMPT_RAISED);
    //  Its retries ran out: a dead letter.
    ASSERT_TRUE (task->flags & TASK_DEAD);
    ASSERT_EQ (b->dead, 1);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  A crash, then a lost worker: WorkerLost says how the runs ended, and
//  the dead letter runs again on RETRY with its args, its history kept
//  and its budget renewed; the retrying client gets the outcome.
static void
test_retry (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);            //  max_retries 1
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    task_t *task = tasks_find (b->tasks, b->gen, 1);
    s_crash (b, "W1", task, 1.0);
    rig_flush (b, 1.0);
    zj_enc_simple (rig_enc, ZJ_MSG_DISCONNECT, 0);
    rig_in (b, BROKER_WORKERS, "W1", 2.0);
    rig_flush (b, 2.0);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (task->state, ZJ_STATE_FAILED);
    ASSERT_TRUE (task->flags & TASK_DEAD);
    ASSERT_EQ (b->dead, 1);
    size_t plen;
    const uint8_t *p = tasks_payload (task, &plen);
    ASSERT_TRUE (p && plen > 40);
    ASSERT_TRUE (memmem (p, plen, "worker lost on the last of 2 attempts (1 lost, 1 crashed",
                         56) != NULL);
    size_t alen;
    const uint8_t *args = tasks_args (task, &alen);
    ASSERT_TRUE (args && alen == 2 && args[0] == 0x91 && args[1] == 42);
    char buf[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (task, buf);
    rig_submit (b, "C1", 2, "f", 1, 0, 2.0);                    //  ticket 2, queued
    rig_flush (b, 2.0);
    const char *tickets[] = {buf, "zzzzzzzz-00000001", NULL};
    char queued[TICKET_MAX + 1];
    tasks_ticket (tasks_find (b->tasks, b->gen, 2), queued);
    tickets[2] = queued;
    rig_tickets (ZJ_MSG_RETRY, tickets, 3);
    rig_in (b, BROKER_CLIENTS, "C2", 3.0);
    rig_flush (b, 3.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_RETRY_REPLY, 0, &msg));
    zj_str_t t;
    zj_state_t st;
    ASSERT_TRUE (zj_msg_next_state (&msg, &t, &st) && st == ZJ_STATE_QUEUED);
    ASSERT_TRUE (zj_msg_next_state (&msg, &t, &st) && st == ZJ_STATE_UNKNOWN);
    ASSERT_TRUE (zj_msg_next_state (&msg, &t, &st) && st == ZJ_STATE_QUEUED);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (task->state, ZJ_STATE_QUEUED);
    ASSERT_TRUE (!(task->flags & TASK_DEAD));
    ASSERT_EQ (b->dead, 0);
    ASSERT_EQ (task->attempts, 0);
    ASSERT_EQ (attempts_count (task), 2);                       //  crashed, lost
    //  A new worker runs it with the same args; C2 hears the outcome.
    rig_ready (b, "W2", 2, "f", 4.0);
    rig_flush (b, 4.0);
    ASSERT_TRUE (rig_find ("W2", ZJ_MSG_TASKS, 0, &msg));
    zj_job_t job;
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    ASSERT_TRUE (job.args.len == 2 && job.args.ptr[1] == 42);
    rig_done (b, "W2", (zj_str_t) {buf, tlen}, true, 5.0);
    rig_flush (b, 5.0);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_RESULT, 0, &msg));
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_EQ (out.state, ZJ_STATE_DONE);
    task = tasks_find (b->tasks, b->gen, 1);
    ASSERT_EQ (attempts_count (task), 3);
    attempt_t a;
    ASSERT_TRUE (attempts_at (task, 0, &a) && a.outcome == ATTEMPT_CRASHED);
    ASSERT_TRUE (attempts_at (task, 1, &a) && a.outcome == ATTEMPT_LOST);
    ASSERT_TRUE (a.start == 1.0 && a.end == 2.0);
    ASSERT_TRUE (attempts_at (task, 2, &a) && a.outcome == ATTEMPT_DONE);
    ASSERT_TRUE (a.start == 4.0 && a.end == 5.0);
    ASSERT_TRUE (!tasks_args (task, &alen));                    //  done: args dropped
    //  Done is final: a second RETRY changes nothing.
    rig_clear ();
    rig_tickets (ZJ_MSG_RETRY, tickets, 1);
    rig_in (b, BROKER_CLIENTS, "C2", 6.0);
    rig_flush (b, 6.0);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_RETRY_REPLY, 0, &msg));
    ASSERT_TRUE (zj_msg_next_state (&msg, &t, &st) && st == ZJ_STATE_DONE);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  RETRY queues tasks, so --max-queued applies: refused whole, QueueFull.
static void
test_retry_queue_full (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 1, 60);                //  max_queued 1
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    rig_submit (b, "C1", 2, "f", 1, 0, 0.0);                 //  waits for W1
    rig_flush (b, 0.0);
    char buf[TICKET_MAX + 1];
    size_t tlen = tasks_ticket (tasks_find (b->tasks, b->gen, 1), buf);
    rig_done (b, "W1", (zj_str_t) {buf, tlen}, false, 1.0);  //  raised; 2 runs
    rig_flush (b, 1.0);
    rig_submit (b, "C1", 3, "f", 1, 0, 1.0);                 //  queued: depth 1
    rig_flush (b, 1.0);
    ASSERT_EQ (tasks_find (b->tasks, b->gen, 1)->state, ZJ_STATE_FAILED);
    const char *tickets[] = {buf};
    rig_tickets (ZJ_MSG_RETRY, tickets, 1);
    rig_in (b, BROKER_CLIENTS, "C2", 2.0);
    rig_flush (b, 2.0);
    zj_msg_t msg;
    ASSERT_TRUE (!rig_find ("C2", ZJ_MSG_RETRY_REPLY, 0, &msg));
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "QueueFull");
    ASSERT_EQ (tasks_find (b->tasks, b->gen, 1)->state, ZJ_STATE_FAILED);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

int
main (void)
{
    rig_enc = zj_enc_new ();
    ZT_RUN (test_intern_and_classify);
    ZT_RUN (test_lost_then_done);
    ZT_RUN (test_raised);
    ZT_RUN (test_crash_retried);
    ZT_RUN (test_retry_on);
    ZT_RUN (test_retry);
    ZT_RUN (test_retry_queue_full);
    zj_enc_destroy (&rig_enc);
    return 0;
}
