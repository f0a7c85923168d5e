// SPDX-License-Identifier: MIT
//  broker_test - the broker core end to end without sockets: frames in,
//  frames out through a fake send. Submit, dispatch within credit,
//  results, queue limits, worker loss and WorkerLost, unknown workers,
//  malformed frames, FETCH/STATUS/CANCEL, retention, failed sends.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "broker_rig.h"

static void
test_submit_dispatch_result (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 2, "echo", 0.0);
    rig_submit (b, "C1", 5, "echo", 3, 0, 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_EQ (msg.req, 5);
    ASSERT_EQ (msg.count, 3);
    char tickets[3][32];
    zj_str_t s;
    for (int i = 0; zj_msg_next_str (&msg, &s); i++)
        rig_copy (tickets[i], s);
    ASSERT_TRUE (strncmp (tickets[0], broker_generation (b), 8) == 0);
    //  Credit 2: exactly two tasks go out, in one TASKS message.
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_TASKS, 1, &msg));
    rig_find ("W1", ZJ_MSG_TASKS, 0, &msg);
    zj_job_t job;
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    ASSERT_VIEWEQ (job.ticket, tickets[0]);
    ASSERT_VIEWEQ (job.fn, "echo");
    ASSERT_EQ (job.args.len, 2);
    ASSERT_EQ (job.args.ptr[1], 0x2a);

    //  DONE for the first: RESULT to the submitter with the value's bytes,
    //  and the freed credit sends the third task.
    rig_done (b, "W1", (zj_str_t) {tickets[0], strlen (tickets[0])}, true, 0.1);
    rig_flush (b, 0.1);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 1);
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_VIEWEQ (out.ticket, tickets[0]);
    ASSERT_EQ (out.state, ZJ_STATE_DONE);
    ASSERT_EQ (out.value.len, 3);
    ASSERT_TRUE (memcmp (out.value.ptr, "\xa2ok", 3) == 0);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_EQ (msg.count, 1);

    //  A DONE again for the same ticket is discarded: no RESULT.
    rig_done (b, "W1", (zj_str_t) {tickets[0], strlen (tickets[0])}, true, 0.2);
    rig_flush (b, 0.2);
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));

    //  Two outcomes in one turn reach the client as one RESULT.
    rig_done (b, "W1", (zj_str_t) {tickets[1], strlen (tickets[1])}, false, 0.3);
    rig_done (b, "W1", (zj_str_t) {tickets[2], strlen (tickets[2])}, true, 0.3);
    rig_flush (b, 0.3);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_EQ (out.state, ZJ_STATE_FAILED);
    ASSERT_VIEWEQ (out.err_type, "ValueError");
    ASSERT_VIEWEQ (out.err_message, "bad");
    ASSERT_VIEWEQ (out.err_traceback, "tb");
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 1, &msg));

    //  STATUS of all three, and of junk.
    const char *list[] = {tickets[0], tickets[1], "nope"};
    rig_tickets (ZJ_MSG_STATUS, list, 3);
    rig_in (b, BROKER_CLIENTS, "C2", 0.4);
    rig_flush (b, 0.4);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_STATUS_REPLY, 0, &msg));
    ASSERT_EQ (msg.req, 7);
    zj_state_t st;
    ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
    ASSERT_EQ (st, ZJ_STATE_DONE);
    ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
    ASSERT_EQ (st, ZJ_STATE_FAILED);
    ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
    ASSERT_VIEWEQ (s, "nope");
    ASSERT_EQ (st, ZJ_STATE_UNKNOWN);

    //  STATS and PING answer with the request's id.
    zj_enc_simple (rig_enc, ZJ_MSG_STATS, 9);
    rig_in (b, BROKER_CLIENTS, "C2", 0.5);
    zj_enc_simple (rig_enc, ZJ_MSG_PING, 10);
    rig_in (b, BROKER_CLIENTS, "C2", 0.5);
    rig_flush (b, 0.5);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_STATS_REPLY, 0, &msg));
    ASSERT_EQ (msg.req, 9);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_PONG, 0, &msg));
    ASSERT_EQ (msg.req, 10);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_queue_full_and_waiting (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 3, 60);
    rig_submit (b, "C1", 1, "nobody", 2, 0, 0.0);
    rig_submit (b, "C1", 2, "nobody", 2, 0, 0.0);       //  2 + 2 > 3: refused whole
    rig_submit (b, "C1", 3, "nobody", 1, 0, 0.0);       //  fits
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_EQ (msg.req, 1);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_EQ (msg.req, 2);
    ASSERT_VIEWEQ (msg.err_code, "QueueFull");
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 1, &msg));
    ASSERT_EQ (msg.req, 3);
    //  No worker runs "nobody": the tasks wait and STATS shows the queue.
    zj_enc_simple (rig_enc, ZJ_MSG_STATS, 4);
    rig_in (b, BROKER_CLIENTS, "C1", 0.0);
    rig_flush (b, 2.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_STATS_REPLY, 0, &msg));
    ASSERT_TRUE (msg.stats.len > 0);
    //  The map holds "depth" 3 for "nobody": look for the bytes.
    const uint8_t *p = msg.stats.ptr;
    bool found = false;
    for (size_t i = 0; i + 7 <= msg.stats.len; i++)
        if (memcmp (p + i, "\xa5" "depth\x03", 7) == 0)
            found = true;
    ASSERT_TRUE (found);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_worker_lost (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);            //  max_retries 1, liveness 3
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    //  Quiet for one interval: the broker sends a HEARTBEAT.
    broker_tick (b, 1.0);
    rig_flush (b, 1.0);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_HEARTBEAT, 0, &msg));
    //  A heartbeat from the worker keeps it alive.
    zj_enc_simple (rig_enc, ZJ_MSG_HEARTBEAT, 0);
    rig_in (b, BROKER_WORKERS, "W1", 2.5);
    broker_tick (b, 3.2);
    rig_flush (b, 3.2);
    //  Then silence past 3 intervals: lost; the task is requeued (attempt
    //  1 of max_retries 1) and goes to the next worker.
    broker_tick (b, 5.6);
    rig_flush (b, 5.6);
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    //  The lost worker speaks again: it is told it is unknown.
    rig_done (b, "W1", (zj_str_t) {"x", 1}, true, 5.7);
    rig_flush (b, 5.7);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "ProtocolError");
    ASSERT_VIEWEQ (msg.err_message, "unknown worker");
    rig_ready (b, "W2", 1, "f", 6.0);
    rig_flush (b, 6.0);
    ASSERT_TRUE (rig_find ("W2", ZJ_MSG_TASKS, 0, &msg));
    //  W2 disconnects: second loss, no attempts left: failed, WorkerLost.
    zj_enc_simple (rig_enc, ZJ_MSG_DISCONNECT, 0);
    rig_in (b, BROKER_WORKERS, "W2", 6.5);
    rig_flush (b, 6.5);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_EQ (out.state, ZJ_STATE_FAILED);
    ASSERT_VIEWEQ (out.err_type, "WorkerLost");
    ASSERT_VIEWEQ (out.err_message, "worker lost on each of 2 attempts");
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_bad_frames (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    zj_msg_t msg;
    //  Garbage.
    broker_on_message (b, BROKER_CLIENTS, (const uint8_t *) "C1", 2,
                       (const uint8_t *) "\xdd\xff\xff\xff\xff", 5, 1, 0.0);
    //  Two body frames.
    zj_enc_simple (rig_enc, ZJ_MSG_PING, 3);
    broker_on_message (b, BROKER_CLIENTS, (const uint8_t *) "C2", 2, zj_enc_data (rig_enc),
                       zj_enc_size (rig_enc), 2, 0.0);
    //  Version 2, with a readable request id.
    static const uint8_t v2[] = {0x93, 0x02, 0x0c, 0x05};
    broker_on_message (b, BROKER_CLIENTS, (const uint8_t *) "C3", 2, v2, sizeof v2, 1, 0.0);
    //  A client message on the worker socket, a worker message on the
    //  client socket.
    zj_enc_simple (rig_enc, ZJ_MSG_PING, 4);
    rig_in (b, BROKER_WORKERS, "W1", 0.0);
    zj_enc_ready_begin (rig_enc, "w", "host", 123, 0, 1, 1);
    zj_enc_cstr (rig_enc, "f");
    rig_in (b, BROKER_CLIENTS, "C4", 0.0);
    //  Empty frame.
    broker_on_message (b, BROKER_CLIENTS, (const uint8_t *) "C5", 2, (const uint8_t *) "", 0, 1, 0.0);
    rig_flush (b, 0.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "ProtocolError");
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "ProtocolError");
    ASSERT_TRUE (!rig_find ("C2", ZJ_MSG_PONG, 0, &msg));
    ASSERT_TRUE (rig_find ("C3", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "VersionMismatch");
    ASSERT_EQ (msg.req, 5);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_code, "ProtocolError");
    ASSERT_EQ (msg.req, 4);
    ASSERT_TRUE (rig_find ("C4", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_TRUE (rig_find ("C5", ZJ_MSG_ERROR, 0, &msg));
    //  The broker still works.
    rig_submit (b, "C1", 8, "f", 1, 0, 0.0);
    rig_flush (b, 0.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  CANCEL [tickets] with options {"running": false}, req 7, in rig_enc.
static void
s_cancel_queued_only (const char *const *tickets, int n)
{
    zj_enc_reset (rig_enc);
    zj_enc_array (rig_enc, 5);
    zj_enc_uint (rig_enc, 1);
    zj_enc_uint (rig_enc, ZJ_MSG_CANCEL);
    zj_enc_uint (rig_enc, 7);
    zj_enc_array (rig_enc, (uint32_t) n);
    for (int i = 0; i < n; i++)
        zj_enc_cstr (rig_enc, tickets[i]);
    zj_enc_map (rig_enc, 2);
    zj_enc_cstr (rig_enc, "other");
    zj_enc_nil (rig_enc);
    zj_enc_cstr (rig_enc, "running");
    zj_enc_bool (rig_enc, false);
}

//  Submit n tasks of fn as C1 (req 1) and copy their tickets.
static void
s_submit_tickets (broker_t *b, const char *fn, int n, char (*t)[32], double now)
{
    rig_submit (b, "C1", 1, fn, n, 0, now);
    rig_flush (b, now);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    zj_str_t s;
    for (int i = 0; i < n && zj_msg_next_str (&msg, &s); i++)
        rig_copy (t[i], s);
}

//  The first ticket of the nth ABORT to `worker` is `ticket`, and it has n.
static void
s_assert_abort (const char *worker, int nth, const char *ticket, uint32_t count)
{
    zj_msg_t msg;
    ASSERT_TRUE (rig_find (worker, ZJ_MSG_ABORT, nth, &msg));
    ASSERT_EQ (msg.count, count);
    zj_str_t s;
    ASSERT_TRUE (zj_msg_next_str (&msg, &s));
    ASSERT_VIEWEQ (s, ticket);
}

static void
test_cancel_running (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 2, "f", 0.0);
    char t[4][32];
    s_submit_tickets (b, "f", 4, t, 0.0);
    //  t0, t1 run on W1. Cancel both running ones and a queued one: all
    //  cancelled, one ABORT for the two, and the freed credit takes t3.
    const char *cancel[] = {t[0], t[2], t[1]};
    rig_tickets (ZJ_MSG_CANCEL, cancel, 3);
    rig_in (b, BROKER_CLIENTS, "C2", 1.0);
    rig_flush (b, 1.0);
    zj_msg_t msg;
    zj_str_t s;
    zj_state_t st;
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_CANCEL_REPLY, 0, &msg));
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
        ASSERT_EQ (st, ZJ_STATE_CANCELLED);
    }
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 3);
    zj_outcome_t out;
    while (zj_msg_next_outcome (&msg, &out))
        ASSERT_EQ (out.state, ZJ_STATE_CANCELLED);
    s_assert_abort ("W1", 0, t[0], 2);
    ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_ABORT, 1, &msg));
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    zj_job_t job;
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    ASSERT_VIEWEQ (job.ticket, t[3]);
    //  A DONE for the cancelled t0 crossing the ABORT is discarded: no
    //  second outcome, and STATUS still says cancelled.
    rig_done (b, "W1", (zj_str_t) {t[0], strlen (t[0])}, true, 1.1);
    rig_flush (b, 1.1);
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    const char *status[] = {t[0]};
    rig_tickets (ZJ_MSG_STATUS, status, 1);
    rig_in (b, BROKER_CLIENTS, "C2", 1.2);
    rig_flush (b, 1.2);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_STATUS_REPLY, 0, &msg));
    ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
    ASSERT_EQ (st, ZJ_STATE_CANCELLED);
    //  Cancelling it again is too late: cancelled, no second ABORT.
    rig_tickets (ZJ_MSG_CANCEL, status, 1);
    rig_in (b, BROKER_CLIENTS, "C2", 1.3);
    rig_flush (b, 1.3);
    ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_ABORT, 0, &msg));
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_timeout_backstop (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 2, "f", 0.0);
    //  Two tasks with a 0.5 s timeout, one without.
    zj_enc_submit_begin (rig_enc, 1, 3, NULL);
    for (int i = 0; i < 3; i++) {
        zj_task_t task = {.fn = {"f", 1}, .args = {(const uint8_t *) "\x91\x2a", 2},
                          .timeout = i < 2 ? 0.5 : 0, .max_retries = -1};
        zj_enc_task (rig_enc, &task);
    }
    rig_in (b, BROKER_CLIENTS, "C1", 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    char t[3][32];
    zj_str_t s;
    for (int i = 0; zj_msg_next_str (&msg, &s); i++)
        rig_copy (t[i], s);
    //  The worker answers t1 in time; t0 stays silent. Heartbeats keep
    //  W1 alive. Grace is max(1 s, 2 heartbeats) = 2 s: nothing at 2.4 s.
    rig_done (b, "W1", (zj_str_t) {t[1], strlen (t[1])}, true, 0.3);
    rig_flush (b, 0.3);
    for (double now = 0.5; now < 2.45; now += 0.5) {
        zj_enc_simple (rig_enc, ZJ_MSG_HEARTBEAT, 0);
        rig_in (b, BROKER_WORKERS, "W1", now);
        broker_tick (b, now);
        rig_flush (b, now);
        ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
        ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_ABORT, 0, &msg));
    }
    //  Past 0.5 + 2: t0 fails TimeoutError, W1 gets ABORT, and t1's stale
    //  deadline and t2 (no timeout, now running) change nothing.
    broker_tick (b, 2.6);
    rig_flush (b, 2.6);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 1);
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_VIEWEQ (out.ticket, t[0]);
    ASSERT_EQ (out.state, ZJ_STATE_FAILED);
    ASSERT_VIEWEQ (out.err_type, "TimeoutError");
    ASSERT_VIEWEQ (out.err_message, "task exceeded its timeout of 0.5 s");
    s_assert_abort ("W1", 0, t[0], 1);
    broker_tick (b, 100.0);
    rig_flush (b, 100.0);
    ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_ABORT, 0, &msg));
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

//  READY again from W1 with info "held".
static void
s_ready_held (broker_t *b, const char *const *held, uint32_t n, double now)
{
    zj_str_t list[4];
    for (uint32_t i = 0; i < n; i++)
        list[i] = (zj_str_t) {held[i], strlen (held[i])};
    zj_enc_ready_held_begin (rig_enc, "w", "host", 123, 0, 3, 1, list, n);
    zj_enc_cstr (rig_enc, "f");
    rig_in (b, BROKER_WORKERS, "W1", now);
}

static void
test_ready_held (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);     //  max_retries 1
    rig_ready (b, "W1", 3, "f", 0.0);
    char t[3][32];
    s_submit_tickets (b, "f", 3, t, 0.0);
    //  W1 reconnects and says it holds only t1 (and a ticket we do not
    //  know): t0 and t2 were lost on the way; they are queued again and,
    //  the credit being free, sent again in the same turn.
    const char *held[] = {t[1], "nope-1"};
    s_ready_held (b, held, 2, 1.0);
    rig_flush (b, 1.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    zj_job_t job;
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    ASSERT_VIEWEQ (job.ticket, t[0]);
    ASSERT_TRUE (zj_msg_next_job (&msg, &job));
    ASSERT_VIEWEQ (job.ticket, t[2]);
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    //  t1 is still W1's: its DONE counts.
    rig_done (b, "W1", (zj_str_t) {t[1], strlen (t[1])}, true, 1.1);
    rig_flush (b, 1.1);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    zj_outcome_t out;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_VIEWEQ (out.ticket, t[1]);
    ASSERT_EQ (out.state, ZJ_STATE_DONE);
    //  READY without "held" changes nothing.
    rig_ready (b, "W1", 3, "f", 1.2);
    rig_flush (b, 1.2);
    ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    ASSERT_TRUE (!rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    //  An empty "held": both lost a second time, past max_retries 1:
    //  WorkerLost naming the attempts.
    s_ready_held (b, NULL, 0, 1.3);
    rig_flush (b, 1.3);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &out));
    ASSERT_EQ (out.state, ZJ_STATE_FAILED);
    ASSERT_VIEWEQ (out.err_type, "WorkerLost");
    ASSERT_VIEWEQ (out.err_message, "worker lost on each of 2 attempts");
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_fetch_cancel_expire (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 10);
    rig_ready (b, "W1", 1, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 3, 0, 0.0);
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    char t[3][32];
    zj_str_t s;
    for (int i = 0; zj_msg_next_str (&msg, &s); i++)
        rig_copy (t[i], s);
    //  t0 is running on W1; t1 and t2 queued. Cancel, with running tasks
    //  left alone ({"running": false}, as concurrent.futures does), t0
    //  (too late), t1 (cancelled) and junk (unknown).
    const char *cancel[] = {t[0], t[1], "zzzz"};
    s_cancel_queued_only (cancel, 3);
    rig_in (b, BROKER_CLIENTS, "C2", 1.0);
    rig_flush (b, 1.0);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_CANCEL_REPLY, 0, &msg));
    zj_state_t st;
    zj_msg_next_state (&msg, &s, &st);
    ASSERT_EQ (st, ZJ_STATE_RUNNING);
    zj_msg_next_state (&msg, &s, &st);
    ASSERT_EQ (st, ZJ_STATE_CANCELLED);
    zj_msg_next_state (&msg, &s, &st);
    ASSERT_EQ (st, ZJ_STATE_UNKNOWN);
    //  The submitter hears about the cancel.
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    zj_outcome_t out;
    zj_msg_next_outcome (&msg, &out);
    ASSERT_VIEWEQ (out.ticket, t[1]);
    ASSERT_EQ (out.state, ZJ_STATE_CANCELLED);
    //  C3 fetches everything: t1 (final) and junk at once; t0 and t2 later.
    const char *fetch[] = {t[0], t[1], t[2], "junk"};
    rig_tickets (ZJ_MSG_FETCH, fetch, 4);
    rig_in (b, BROKER_CLIENTS, "C3", 2.0);
    rig_flush (b, 2.0);
    ASSERT_TRUE (rig_find ("C3", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_EQ (msg.count, 2);
    zj_msg_next_outcome (&msg, &out);
    ASSERT_EQ (out.state, ZJ_STATE_CANCELLED);
    zj_msg_next_outcome (&msg, &out);
    ASSERT_EQ (out.state, ZJ_STATE_UNKNOWN);
    //  t0 finishes: both subscribers hear; then t2 runs and finishes.
    rig_done (b, "W1", (zj_str_t) {t[0], strlen (t[0])}, true, 3.0);
    rig_flush (b, 3.0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_RESULT, 0, &msg));
    ASSERT_TRUE (rig_find ("C3", ZJ_MSG_RESULT, 0, &msg));
    rig_done (b, "W1", (zj_str_t) {t[2], strlen (t[2])}, true, 4.0);
    rig_flush (b, 4.0);
    ASSERT_TRUE (rig_find ("C3", ZJ_MSG_RESULT, 0, &msg));
    //  Retention 10 s: at 13.5 t0 (finished at 3) and t1 (1) are gone, t2
    //  (4) is still there.
    ASSERT_TRUE (!broker_expire (b, 13.5));
    const char *status[] = {t[0], t[1], t[2]};
    rig_tickets (ZJ_MSG_STATUS, status, 3);
    rig_in (b, BROKER_CLIENTS, "C2", 13.5);
    rig_tickets (ZJ_MSG_FETCH, status, 1);
    rig_in (b, BROKER_CLIENTS, "C2", 13.5);
    rig_flush (b, 13.5);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_STATUS_REPLY, 0, &msg));
    zj_msg_next_state (&msg, &s, &st);
    ASSERT_EQ (st, ZJ_STATE_EXPIRED);
    zj_msg_next_state (&msg, &s, &st);
    ASSERT_EQ (st, ZJ_STATE_EXPIRED);
    zj_msg_next_state (&msg, &s, &st);
    ASSERT_EQ (st, ZJ_STATE_DONE);
    ASSERT_TRUE (rig_find ("C2", ZJ_MSG_RESULT, 0, &msg));
    zj_msg_next_outcome (&msg, &out);
    ASSERT_EQ (out.state, ZJ_STATE_EXPIRED);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_send_failures (void)
{
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 100, 60);
    rig_ready (b, "W1", 2, "f", 0.0);
    rig_ready (b, "W2", 2, "f", 0.0);
    rig_submit (b, "C1", 1, "f", 2, 0, 0.0);
    //  W1's queue is full: its tasks come back and go to W2 next turn.
    strcpy (rig_fail_id, "W1");
    rig_fail_err = EAGAIN;
    rig_flush (b, 0.0);
    zj_msg_t msg;
    bool more = broker_flush (b, 0.0, rig_send, NULL);
    (void) more;
    ASSERT_TRUE (rig_find ("W2", ZJ_MSG_TASKS, 0, &msg));
    uint32_t total = msg.count;
    if (rig_find ("W2", ZJ_MSG_TASKS, 1, &msg))
        total += msg.count;
    ASSERT_EQ (total, 2);
    ASSERT_TRUE (!rig_find ("W1", ZJ_MSG_TASKS, 0, &msg));
    //  The next tick lifts the pause. W1 then vanishes (EHOSTUNREACH on
    //  its TASKS): it is lost and its task waits, with no attempt spent,
    //  since W2 has no credit left.
    broker_tick (b, 0.1);
    rig_submit (b, "C1", 2, "f", 1, 0, 0.1);
    strcpy (rig_fail_id, "W1");
    rig_fail_err = EHOSTUNREACH;
    rig_flush (b, 0.1);
    ASSERT_EQ (rig_fail_err, 0);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    zj_str_t s;
    char ticket[32];
    ASSERT_TRUE (zj_msg_next_str (&msg, &s));
    rig_copy (ticket, s);
    const char *list[] = {ticket};
    rig_tickets (ZJ_MSG_STATUS, list, 1);
    rig_in (b, BROKER_CLIENTS, "C1", 0.2);
    zj_enc_simple (rig_enc, ZJ_MSG_HEARTBEAT, 0);
    rig_in (b, BROKER_WORKERS, "W1", 0.2);
    rig_flush (b, 0.2);
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_STATUS_REPLY, 0, &msg));
    zj_state_t st;
    ASSERT_TRUE (zj_msg_next_state (&msg, &s, &st));
    ASSERT_EQ (st, ZJ_STATE_QUEUED);
    ASSERT_TRUE (rig_find ("W1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_VIEWEQ (msg.err_message, "unknown worker");
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

static void
test_queue_full_new_function_twice (void)
{
    //  A refused batch that names a new function more than once frees
    //  its record once (broker_fuzz found a use after free here).
    store_t *store = store_mem_new ();
    broker_t *b = rig_broker (store, 3, 60);
    rig_submit (b, "C1", 1, "fresh", 5, 0, 0.0);        //  5 > 3: refused whole
    rig_submit (b, "C1", 2, "fresh", 3, 0, 0.0);        //  the record is made again
    rig_flush (b, 0.0);
    zj_msg_t msg;
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_ERROR, 0, &msg));
    ASSERT_EQ (msg.req, 1);
    ASSERT_VIEWEQ (msg.err_code, "QueueFull");
    ASSERT_TRUE (rig_find ("C1", ZJ_MSG_SUBMITTED, 0, &msg));
    ASSERT_EQ (msg.req, 2);
    rig_clear ();
    broker_destroy (&b);
    store_destroy (&store);
}

int
main (void)
{
    rig_enc = zj_enc_new ();
    ZT_RUN (test_submit_dispatch_result);
    ZT_RUN (test_queue_full_and_waiting);
    ZT_RUN (test_worker_lost);
    ZT_RUN (test_bad_frames);
    ZT_RUN (test_fetch_cancel_expire);
    ZT_RUN (test_send_failures);
    ZT_RUN (test_queue_full_new_function_twice);
    ZT_RUN (test_cancel_running);
    ZT_RUN (test_timeout_backstop);
    ZT_RUN (test_ready_held);
    zj_enc_destroy (&rig_enc);
    return 0;
}
