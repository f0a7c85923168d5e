// SPDX-License-Identifier: MIT
//  codec_test - every ZJP/1 message type round-trips: encode -> decode ->
//  iterate (every field checked) -> re-encode to the very same bytes.
//  Malformed frames are in codec_reject_test.c.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "frames.h"
#include "harness.h"
#include "json.h"
#include "msg.h"

static void test_submit (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_task_t t [3] = {
        { .fn = S ("echo"), .args = frames_raw ("[1,'two',3.5,null,true,{'k':[]}]"),
          .max_retries = -1 },
        { .fn = S ("sleep"), .args = frames_raw ("[0.5]"), .priority = -3, .timeout = 2.5,
          .max_retries = 0 },
        { .fn = S ("a.b:c~!"), .args = frames_raw ("[[1],[2,3],[]]"), .priority = INT64_MAX,
          .timeout = 1e-3, .max_retries = 7, .chunk = true },
    };
    zj_enc_submit_begin (enc, 42, 3, NULL);
    for (int i = 0; i < 3; i++)
        zj_enc_task (enc, &t [i]);
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_SUBMIT);
    ASSERT_EQ (msg.req, 42);
    ASSERT_EQ (msg.count, 3);
    for (int i = 0; i < 3; i++) {
        zj_task_t got;
        memset (&got, 0x5a, sizeof got);
        ASSERT_TRUE (zj_msg_next_task (&msg, &got));
        ASSERT_TRUE (frames_str_eq (got.fn, t [i].fn));
        ASSERT_TRUE (frames_raw_eq (got.args, t [i].args));
        ASSERT_TRUE (frames_inside (got.fn.ptr, got.fn.len) && frames_inside (got.args.ptr, got.args.len));
        ASSERT_EQ (got.priority, t [i].priority);
        ASSERT_TRUE (got.timeout == t [i].timeout);
        ASSERT_EQ (got.max_retries, t [i].max_retries);
        ASSERT_EQ (got.chunk, t [i].chunk);
    }
    zj_task_t extra;
    ASSERT_TRUE (!zj_msg_next_task (&msg, &extra));
    ASSERT_TRUE (!zj_msg_next_task (&msg, &extra));

    //  The default task's options are an empty map: one byte, 0x80.
    zj_enc_submit_begin (enc, 1, 1, NULL);
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .args = frames_raw ("[]"), .max_retries = -1 });
    frames_take (enc);
    uint8_t expect [] = { 0x94, 0x01, 0x01, 0x01, 0x91, 0x93, 0xa1, 'f', 0x90, 0x80 };
    ASSERT_EQ (frames_size, sizeof expect);
    ASSERT_TRUE (memcmp (frames_data, expect, sizeof expect) == 0);

    //  Absent args travel as an empty array.
    zj_enc_submit_begin (enc, 1, 1, NULL);
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .max_retries = -1 });
    frames_take (enc);
    ASSERT_TRUE (memcmp (frames_data, expect, sizeof expect) == 0);
    zj_enc_destroy (&enc);
}

static void test_submit_client (void)
{
    zj_enc_t *enc = zj_enc_new ();
    //  The client id is the fifth element, written after the last task.
    zj_enc_submit_begin (enc, 9, 2, "cli-42");
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .max_retries = -1 });
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("g"), .max_retries = -1 });
    frames_take (enc);
    uint8_t expect [] = { 0x95, 0x01, 0x01, 0x09, 0x92, 0x93, 0xa1, 'f', 0x90, 0x80,
                          0x93, 0xa1, 'g', 0x90, 0x80, 0xa6, 'c', 'l', 'i', '-', '4', '2' };
    ASSERT_EQ (frames_size, sizeof expect);
    ASSERT_TRUE (memcmp (frames_data, expect, sizeof expect) == 0);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_VIEWEQ (msg.client, "cli-42");
    ASSERT_TRUE (frames_inside (msg.client.ptr, msg.client.len));
    ASSERT_EQ (msg.count, 2);

    //  Without one, the field is absent and the view empty.
    zj_enc_submit_begin (enc, 9, 1, NULL);
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .max_retries = -1 });
    frames_take (enc);
    msg = frames_round_trip ();
    ASSERT_TRUE (msg.client.ptr == NULL && msg.client.len == 0);

    //  64 bytes is the longest id; a reset forgets a pending one.
    const char *longest = "0123456789012345678901234567890123456789012345678901234567890123";
    zj_enc_submit_begin (enc, 1, 1, longest);
    zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .max_retries = -1 });
    frames_take (enc);
    msg = frames_round_trip ();
    ASSERT_VIEWEQ (msg.client, longest);
    zj_enc_submit_begin (enc, 1, 3, "pending");
    zj_enc_tickets_begin (enc, ZJ_MSG_FETCH, 1, 1);
    zj_enc_cstr (enc, "t");
    frames_take (enc);
    msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_FETCH);

    //  Ids the decoder would refuse fail at the encoder instead.
    const char *bad [] = { "", "has space", "tab\t",
                           "01234567890123456789012345678901234567890123456789012345678901234" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        zj_enc_submit_begin (enc, 1, 1, bad [i]);
        zj_enc_task (enc, &(zj_task_t) { .fn = S ("f"), .max_retries = -1 });
        ASSERT_TRUE (zj_enc_failed (enc));
    }
    zj_enc_destroy (&enc);
}

static void test_tickets (void)
{
    static const zj_msg_type_t types [] = {
        ZJ_MSG_SUBMITTED, ZJ_MSG_FETCH, ZJ_MSG_STATUS, ZJ_MSG_CANCEL,
        ZJ_MSG_ABORT, ZJ_MSG_RETURN, ZJ_MSG_RETRY,
    };
    const char *tickets [] = {
        "abcdefgh-00000001", "x", "!~",
        "0123456789012345678901234567890123456789012345678901234567890123",   //  64
    };
    zj_enc_t *enc = zj_enc_new ();
    for (size_t k = 0; k < sizeof types / sizeof types [0]; k++) {
        zj_enc_tickets_begin (enc, types [k], 7 + k, 4);
        for (int i = 0; i < 4; i++)
            zj_enc_str (enc, tickets [i], strlen (tickets [i]));
        frames_take (enc);
        zj_msg_t msg = frames_round_trip ();
        ASSERT_EQ (msg.type, types [k]);
        ASSERT_EQ (msg.req, 7 + k);
        ASSERT_EQ (msg.count, 4);
        zj_str_t s;
        for (int i = 0; i < 4; i++) {
            ASSERT_TRUE (zj_msg_next_str (&msg, &s));
            ASSERT_VIEWEQ (s, tickets [i]);
        }
        ASSERT_TRUE (!zj_msg_next_str (&msg, &s));
        //  The other iterators refuse this message.
        zj_msg_t again;
        ASSERT_ERR (frames_decode (&again, NULL), ZJ_OK);
        zj_task_t task;
        zj_outcome_t out;
        zj_state_t state;
        ASSERT_TRUE (!zj_msg_next_task (&again, &task));
        ASSERT_TRUE (!zj_msg_next_outcome (&again, &out));
        ASSERT_TRUE (!zj_msg_next_state (&again, &s, &state));
        ASSERT_EQ (again.left, 4);
    }
    //  An empty list is fine for tickets.
    zj_enc_tickets_begin (enc, ZJ_MSG_FETCH, 1, 0);
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.count, 0);
    zj_enc_destroy (&enc);
}

static void test_states (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_msg_type_t types [] = { ZJ_MSG_STATUS_REPLY, ZJ_MSG_CANCEL_REPLY, ZJ_MSG_RETRY_REPLY };
    for (int k = 0; k < 3; k++) {
        zj_enc_states_begin (enc, types [k], 99, 7);
        for (int s = 1; s <= 7; s++) {
            char ticket [16];
            snprintf (ticket, sizeof ticket, "t-%d", s);
            zj_enc_state (enc, ticket, strlen (ticket), (zj_state_t) s);
        }
        frames_take (enc);
        zj_msg_t msg = frames_round_trip ();
        ASSERT_EQ (msg.type, types [k]);
        ASSERT_EQ (msg.req, 99);
        ASSERT_EQ (msg.count, 7);
        for (int s = 1; s <= 7; s++) {
            zj_str_t ticket;
            zj_state_t state;
            char expect [16];
            snprintf (expect, sizeof expect, "t-%d", s);
            ASSERT_TRUE (zj_msg_next_state (&msg, &ticket, &state));
            ASSERT_VIEWEQ (ticket, expect);
            ASSERT_EQ (state, s);
        }
        zj_str_t ticket;
        zj_state_t state;
        ASSERT_TRUE (!zj_msg_next_state (&msg, &ticket, &state));
    }
    zj_enc_destroy (&enc);
}

//  STATUS {"attempts": true} and reply entries carrying a history (decode
//  only: the re-encoder in frames.c writes the plain forms).
static void test_status_attempts (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_status_attempts_begin (enc, 5, 1);
    zj_enc_cstr (enc, "t-1");
    zj_enc_status_attempts_end (enc);
    frames_take (enc);
    zj_msg_t msg;
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    ASSERT_EQ (msg.type, ZJ_MSG_STATUS);
    ASSERT_TRUE (msg.want_attempts);
    zj_enc_tickets_begin (enc, ZJ_MSG_STATUS, 6, 1);
    zj_enc_cstr (enc, "t-1");
    frames_take (enc);
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    ASSERT_TRUE (!msg.want_attempts);
    //  Reply: one entry with a history, one without.
    zj_enc_states_begin (enc, ZJ_MSG_STATUS_REPLY, 5, 2);
    zj_enc_array (enc, 3);
    zj_enc_cstr (enc, "t-1");
    zj_enc_uint (enc, ZJ_STATE_DONE);
    zj_enc_array (enc, 1);
    zj_enc_map (enc, 1);
    zj_enc_cstr (enc, "outcome");
    zj_enc_cstr (enc, "done");
    zj_enc_state (enc, "t-2", 3, ZJ_STATE_QUEUED);
    frames_take (enc);
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_OK);
    zj_str_t ticket;
    zj_state_t state;
    zj_raw_t raw;
    ASSERT_TRUE (zj_msg_next_state_attempts (&msg, &ticket, &state, &raw));
    ASSERT_VIEWEQ (ticket, "t-1");
    ASSERT_EQ (state, ZJ_STATE_DONE);
    ASSERT_TRUE (raw.ptr && raw.len == 1 + 1 + 8 + 5);
    ASSERT_EQ (raw.ptr[0], 0x91);
    ASSERT_TRUE (zj_msg_next_state_attempts (&msg, &ticket, &state, &raw));
    ASSERT_VIEWEQ (ticket, "t-2");
    ASSERT_TRUE (raw.ptr == NULL);
    zj_enc_destroy (&enc);
}

//  SUBMIT option retry_on: an array of strings travels raw; anything else
//  is refused.
static void test_retry_on (void)
{
    zj_enc_t *enc = zj_enc_new ();
    static const uint8_t args[] = {0x90};
    static const uint8_t good[] = {0x92, 0xa1, 'A', 0xa1, 'B'};
    static const uint8_t bad[] = {0x91, 0x01};
    zj_enc_submit_begin (enc, 3, 1, NULL);
    zj_enc_task (enc, &(zj_task_t) {.fn = {"f", 1}, .args = {args, 1}, .max_retries = -1,
                                    .retry_on = {good, sizeof good}});
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    zj_task_t task;
    ASSERT_TRUE (zj_msg_next_task (&msg, &task));
    ASSERT_TRUE (task.retry_on.len == sizeof good
                 && memcmp (task.retry_on.ptr, good, sizeof good) == 0);
    zj_enc_submit_begin (enc, 3, 1, NULL);
    zj_enc_task (enc, &(zj_task_t) {.fn = {"f", 1}, .args = {args, 1}, .max_retries = -1,
                                    .retry_on = {bad, sizeof bad}});
    frames_take (enc);
    ASSERT_ERR (frames_decode (&msg, NULL), ZJ_EPROTO);
    zj_enc_destroy (&enc);
}

static void test_simple (void)
{
    zj_msg_type_t types [] = {
        ZJ_MSG_STATS, ZJ_MSG_PING, ZJ_MSG_PONG, ZJ_MSG_HEARTBEAT, ZJ_MSG_DISCONNECT,
    };
    zj_enc_t *enc = zj_enc_new ();
    for (int k = 0; k < 5; k++) {
        zj_enc_simple (enc, types [k], UINT64_MAX - k);
        frames_take (enc);
        zj_msg_t msg = frames_round_trip ();
        ASSERT_EQ (msg.type, types [k]);
        ASSERT_TRUE (msg.req == UINT64_MAX - k);
        ASSERT_EQ (msg.count, 0);
        zj_str_t s;
        ASSERT_TRUE (!zj_msg_next_str (&msg, &s));
    }
    zj_enc_simple (enc, ZJ_MSG_PING, 5);
    frames_take (enc);
    uint8_t ping [] = { 0x93, 0x01, 0x0c, 0x05 };
    ASSERT_EQ (frames_size, 4);
    ASSERT_TRUE (memcmp (frames_data, ping, 4) == 0);
    zj_enc_destroy (&enc);
}

static void test_error (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_error (enc, 12, ZJ_EQUEUEFULL, "queue echo holds 10000000 tasks");
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_ERROR);
    ASSERT_EQ (msg.req, 12);
    ASSERT_VIEWEQ (msg.err_code, "QueueFull");
    ASSERT_VIEWEQ (msg.err_message, "queue echo holds 10000000 tasks");
    ASSERT_ERR (zj_err_from_name (msg.err_code.ptr, msg.err_code.len), ZJ_EQUEUEFULL);
    //  NULL message: the code's own text.
    zj_enc_error (enc, 0, ZJ_EPROTO, NULL);
    frames_take (enc);
    msg = frames_round_trip ();
    ASSERT_VIEWEQ (msg.err_code, "ProtocolError");
    ASSERT_VIEWEQ (msg.err_message, zj_strerror (ZJ_EPROTO));
    zj_enc_destroy (&enc);
}

static void test_stats_reply (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_stats_begin (enc, 8);
    zj_enc_map (enc, 2);
    zj_enc_cstr (enc, "version");
    zj_enc_cstr (enc, "0.1.0");
    zj_enc_cstr (enc, "tasks");
    zj_enc_map (enc, 1);
    zj_enc_cstr (enc, "queued");
    zj_enc_uint (enc, 3);
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_STATS_REPLY);
    ASSERT_EQ (msg.req, 8);
    ASSERT_TRUE (frames_inside (msg.stats.ptr, msg.stats.len));
    ASSERT_ERR (zj_raw_check (msg.stats.ptr, msg.stats.len), ZJ_OK);
    char *json = zj_json_from_msgpack (msg.stats.ptr, msg.stats.len, NULL);
    ASSERT_STREQ (json, "{\"version\":\"0.1.0\",\"tasks\":{\"queued\":3}}");
    free (json);
    zj_enc_destroy (&enc);
}

static void test_outcomes (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_outcome_t o [5] = {
        { .ticket = S ("t1"), .state = ZJ_STATE_DONE, .value = frames_raw ("{'a':[1,2.5,'x']}") },
        { .ticket = S ("t2"), .state = ZJ_STATE_FAILED, .err_type = S ("ValueError"),
          .err_message = S ("x==2"), .err_traceback = S ("Traceback:\n  line 1\n") },
        { .ticket = S ("t3"), .state = ZJ_STATE_CANCELLED },
        { .ticket = S ("t4"), .state = ZJ_STATE_UNKNOWN },
        { .ticket = S ("t5"), .state = ZJ_STATE_EXPIRED },
    };
    zj_enc_outcomes_begin (enc, ZJ_MSG_RESULT, 5);
    for (int i = 0; i < 5; i++)
        zj_enc_outcome (enc, &o [i]);
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_RESULT);
    ASSERT_EQ (msg.req, 0);
    ASSERT_EQ (msg.count, 5);
    for (int i = 0; i < 5; i++) {
        zj_outcome_t got;
        ASSERT_TRUE (zj_msg_next_outcome (&msg, &got));
        ASSERT_TRUE (frames_str_eq (got.ticket, o [i].ticket));
        ASSERT_EQ (got.state, o [i].state);
        ASSERT_TRUE (frames_raw_eq (got.value, o [i].value));
        ASSERT_TRUE (frames_str_eq (got.err_type, o [i].err_type));
        ASSERT_TRUE (frames_str_eq (got.err_message, o [i].err_message));
        ASSERT_TRUE (frames_str_eq (got.err_traceback, o [i].err_traceback));
        if (o [i].state != ZJ_STATE_DONE)
            ASSERT_TRUE (got.value.ptr == NULL);
    }
    //  DONE carries only done and failed.
    zj_enc_outcomes_begin (enc, ZJ_MSG_DONE, 2);
    zj_enc_outcome (enc, &o [0]);
    zj_enc_outcome (enc, &o [1]);
    frames_take (enc);
    msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_DONE);
    ASSERT_EQ (msg.count, 2);
    zj_enc_outcomes_begin (enc, ZJ_MSG_DONE, 1);
    zj_enc_outcome (enc, &o [2]);
    frames_take (enc);
    EXPECT_FRAME ("DONE with a cancelled outcome", ZJ_EPROTO);
    //  A DONE outcome without a value view carries nil.
    zj_enc_outcomes_begin (enc, ZJ_MSG_DONE, 1);
    zj_enc_outcome (enc, &(zj_outcome_t) { .ticket = S ("t"), .state = ZJ_STATE_DONE });
    frames_take (enc);
    msg = frames_round_trip ();
    zj_outcome_t got;
    ASSERT_TRUE (zj_msg_next_outcome (&msg, &got));
    ASSERT_EQ (got.value.len, 1);
    ASSERT_EQ (got.value.ptr [0], 0xc0);
    zj_enc_destroy (&enc);
}

static void test_ready (void)
{
    zj_enc_t *enc = zj_enc_new ();
    const char *fns [] = { "echo", "sleep", "my.module:function" };
    zj_enc_ready_begin (enc, "w1", "host.example", 4242, 0.25, 16, 3);
    for (int i = 0; i < 3; i++)
        zj_enc_cstr (enc, fns [i]);
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_READY);
    ASSERT_VIEWEQ (msg.name, "w1");
    ASSERT_VIEWEQ (msg.host, "host.example");
    ASSERT_EQ (msg.pid, 4242);
    ASSERT_TRUE (msg.heartbeat == 0.25);
    ASSERT_EQ (msg.credit, 16);
    ASSERT_EQ (msg.count, 3);
    zj_str_t fn;
    for (int i = 0; i < 3; i++) {
        ASSERT_TRUE (zj_msg_next_str (&msg, &fn));
        ASSERT_VIEWEQ (fn, fns [i]);
    }
    ASSERT_TRUE (!zj_msg_next_str (&msg, &fn));

    //  Everything in info is optional.
    zj_enc_ready_begin (enc, NULL, NULL, 0, 0, UINT32_MAX, 1);
    zj_enc_cstr (enc, "f");
    frames_take (enc);
    msg = frames_round_trip ();
    ASSERT_TRUE (msg.name.ptr == NULL && msg.name.len == 0);
    ASSERT_TRUE (msg.host.ptr == NULL && msg.host.len == 0);
    ASSERT_EQ (msg.pid, 0);
    ASSERT_TRUE (msg.credit == UINT32_MAX);
    //  Unknown info keys, even non-string ones, are ignored.
    EXPECT_JSON ("[1,20,0,{'name':'n','os':'linux','cpus':[4]},1,['f']]", ZJ_OK);
    frames_hex ("96 01 14 00 82 01 02 a3 70 69 64 07 01 91 a1 66");
    zj_msg_t m;
    ASSERT_ERR (frames_decode (&m, NULL), ZJ_OK);
    ASSERT_EQ (m.pid, 7);
    zj_enc_destroy (&enc);
}

static void test_tasks (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_job_t j [3] = {
        { .ticket = S ("aaaaaaaa-00000001"), .fn = S ("echo"), .args = frames_raw ("['hi',1]") },
        { .ticket = S ("aaaaaaaa-00000002"), .fn = S ("sleep"), .args = frames_raw ("[1]"),
          .timeout = 30.5 },
        { .ticket = S ("aaaaaaaa-00000003"), .fn = S ("echo"), .args = frames_raw ("[[1],[2]]"),
          .timeout = 0, .chunk = true },
    };
    zj_enc_jobs_begin (enc, 3);
    for (int i = 0; i < 3; i++)
        zj_enc_job (enc, &j [i]);
    frames_take (enc);
    zj_msg_t msg = frames_round_trip ();
    ASSERT_EQ (msg.type, ZJ_MSG_TASKS);
    ASSERT_EQ (msg.count, 3);
    for (int i = 0; i < 3; i++) {
        zj_job_t got;
        ASSERT_TRUE (zj_msg_next_job (&msg, &got));
        ASSERT_TRUE (frames_str_eq (got.ticket, j [i].ticket));
        ASSERT_TRUE (frames_str_eq (got.fn, j [i].fn));
        ASSERT_TRUE (frames_raw_eq (got.args, j [i].args));
        ASSERT_TRUE (got.timeout == j [i].timeout);
        ASSERT_EQ (got.chunk, j [i].chunk);
    }
    zj_job_t got;
    ASSERT_TRUE (!zj_msg_next_job (&msg, &got));
    zj_enc_destroy (&enc);
}

static void test_encoder_buffer (void)
{
    zj_enc_t *enc = zj_enc_new ();
    ASSERT_TRUE (enc);
    zj_enc_simple (enc, ZJ_MSG_PING, 1);
    size_t size = 0;
    uint8_t *bytes = zj_enc_take (enc, &size);
    ASSERT_EQ (size, 4);
    ASSERT_EQ (bytes [1], 1);
    ASSERT_EQ (zj_enc_size (enc), 0);
    free (bytes);
    //  Still usable after take, and reset keeps nothing.
    zj_enc_simple (enc, ZJ_MSG_PONG, 2);
    ASSERT_EQ (zj_enc_size (enc), 4);
    ASSERT_EQ (zj_enc_data (enc) [2], ZJ_MSG_PONG);
    zj_enc_reset (enc);
    ASSERT_EQ (zj_enc_size (enc), 0);
    //  A string msgpack cannot hold marks the encoder failed; take then
    //  hands over nothing, and reset clears the mark.
    zj_enc_str (enc, "x", (size_t) UINT32_MAX + 1);
    ASSERT_TRUE (zj_enc_failed (enc));
    bytes = zj_enc_take (enc, &size);
    ASSERT_TRUE (bytes == NULL && size == 0);
    ASSERT_TRUE (!zj_enc_failed (enc));
    //  Raw bytes are appended verbatim.
    zj_enc_array (enc, 2);
    zj_enc_raw (enc, "\xc3", 1);
    zj_enc_raw (enc, NULL, 0);
    zj_enc_nil (enc);
    ASSERT_EQ (zj_enc_size (enc), 3);
    ASSERT_TRUE (memcmp (zj_enc_data (enc), "\x92\xc3\xc0", 3) == 0);
    zj_enc_destroy (&enc);
    ASSERT_TRUE (enc == NULL);
    zj_enc_destroy (&enc);
    zj_enc_destroy (NULL);
}

static void test_state_names (void)
{
    ASSERT_STREQ (zj_state_name (ZJ_STATE_QUEUED), "queued");
    ASSERT_STREQ (zj_state_name (ZJ_STATE_RUNNING), "running");
    ASSERT_STREQ (zj_state_name (ZJ_STATE_DONE), "done");
    ASSERT_STREQ (zj_state_name (ZJ_STATE_FAILED), "failed");
    ASSERT_STREQ (zj_state_name (ZJ_STATE_CANCELLED), "cancelled");
    ASSERT_STREQ (zj_state_name (ZJ_STATE_UNKNOWN), "unknown");
    ASSERT_STREQ (zj_state_name (ZJ_STATE_EXPIRED), "expired");
    ASSERT_STREQ (zj_state_name ((zj_state_t) 0), "invalid");
    ASSERT_STREQ (zj_state_name ((zj_state_t) 8), "invalid");
    ASSERT_TRUE (zj_state_is_final (ZJ_STATE_DONE));
    ASSERT_TRUE (zj_state_is_final (ZJ_STATE_FAILED));
    ASSERT_TRUE (zj_state_is_final (ZJ_STATE_CANCELLED));
    ASSERT_TRUE (!zj_state_is_final (ZJ_STATE_QUEUED));
    ASSERT_TRUE (!zj_state_is_final (ZJ_STATE_RUNNING));
    ASSERT_TRUE (!zj_state_is_final (ZJ_STATE_UNKNOWN));
    ASSERT_TRUE (!zj_state_is_final (ZJ_STATE_EXPIRED));
}

int main (void)
{
    ZT_RUN (test_submit);
    ZT_RUN (test_submit_client);
    ZT_RUN (test_tickets);
    ZT_RUN (test_states);
    ZT_RUN (test_status_attempts);
    ZT_RUN (test_retry_on);
    ZT_RUN (test_simple);
    ZT_RUN (test_error);
    ZT_RUN (test_stats_reply);
    ZT_RUN (test_outcomes);
    ZT_RUN (test_ready);
    ZT_RUN (test_tasks);
    ZT_RUN (test_encoder_buffer);
    ZT_RUN (test_state_names);
    frames_free_all ();
    return 0;
}
