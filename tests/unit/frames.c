// SPDX-License-Identifier: MIT
//  frames - helpers shared by the codec tests: the frame under test kept in
//  an exact-size buffer (so ASan and valgrind see any over-read), frames
//  from JSON or hex, and re-encoding a decoded message for comparison.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "frames.h"
#include "harness.h"
#include "json.h"

//  The frame under test, in a buffer of exactly its size, so that any
//  read past the end is caught by ASan or valgrind.
uint8_t *frames_data;
size_t frames_size;

//  Buffers handed out by frames_raw, freed by frames_free_all.
static void *s_pool [256];
static size_t s_pooled;

static void *s_keep (void *p)
{
    if (s_pooled == sizeof s_pool / sizeof s_pool [0])
        ZT_FAIL ("test pool full");
    return s_pool [s_pooled++] = p;
}

void frames_set (const uint8_t *data, size_t size)
{
    free (frames_data);
    frames_data = malloc (size ? size : 1);
    if (size)
        memcpy (frames_data, data, size);
    frames_size = size;
}

void frames_take (zj_enc_t *enc)
{
    ASSERT_TRUE (!zj_enc_failed (enc));
    frames_set (zj_enc_data (enc), zj_enc_size (enc));
}

//  JSON text with ' for " (readable in C), e.g. "[1,'a']".
void frames_json_bytes (zj_enc_t *enc, const char *text)
{
    char *json = strdup (text);
    for (char *c = json; *c; c++)
        if (*c == '\'')
            *c = '"';
    zj_enc_reset (enc);
    if (zj_json_to_msgpack (enc, json, strlen (json)) != ZJ_OK)
        ZT_FAIL ("bad test JSON: %s", text);
    free (json);
}

void frames_json (const char *text)
{
    zj_enc_t *enc = zj_enc_new ();
    frames_json_bytes (enc, text);
    frames_take (enc);
    zj_enc_destroy (&enc);
}

//  Bytes from hex pairs, spaces ignored, 'text' as its ASCII bytes:
//  "94 01 0c 00", "a3 'pid'".
void frames_hex (const char *hex)
{
    uint8_t buf [4096];
    size_t n = 0;
    for (const char *c = hex; *c; ) {
        if (*c == ' ') {
            c++;
            continue;
        }
        if (*c == '\'') {
            for (c++; *c && *c != '\'' && n < sizeof buf; c++)
                buf [n++] = (uint8_t) *c;
            if (*c)
                c++;
            continue;
        }
        unsigned v;
        if (sscanf (c, "%2x", &v) != 1 || n == sizeof buf)
            ZT_FAIL ("bad test hex: %s", hex);
        buf [n++] = (uint8_t) v;
        c += 2;
    }
    frames_set (buf, n);
}

zj_err_t frames_decode (zj_msg_t *msg, const char **why)
{
    return zj_msg_decode (frames_data, frames_size, ZJ_MAX_FRAME_DEFAULT, msg, why);
}

//  A value's msgpack bytes from JSON, kept until exit.
zj_raw_t frames_raw (const char *text)
{
    zj_enc_t *enc = zj_enc_new ();
    frames_json_bytes (enc, text);
    size_t size;
    uint8_t *bytes = zj_enc_take (enc, &size);
    zj_enc_destroy (&enc);
    return (zj_raw_t) { s_keep (bytes), size };
}

//  A view lies inside the current frame.
bool frames_inside (const void *ptr, size_t len)
{
    const uint8_t *p = ptr;
    if (!p)
        return len == 0;
    return p >= frames_data && p + len <= frames_data + frames_size;
}

//  NUL-terminated copy of a view, cut at an embedded NUL like a C string.
char *frames_cstr (zj_str_t s)
{
    char *c = malloc (s.len + 1);
    memcpy (c, s.ptr ? s.ptr : "", s.len);
    c [s.len] = 0;
    return c;
}

//  Encode a decoded message again with the encoder API.
void frames_reencode (const zj_msg_t *decoded, zj_enc_t *enc)
{
    zj_msg_t msg = *decoded;
    switch (msg.type) {
        case ZJ_MSG_STATS: case ZJ_MSG_PING: case ZJ_MSG_PONG:
        case ZJ_MSG_HEARTBEAT: case ZJ_MSG_DISCONNECT:
            zj_enc_simple (enc, msg.type, msg.req);
            break;
        case ZJ_MSG_ERROR:
            zj_enc_reset (enc);
            zj_enc_array (enc, 5);
            zj_enc_uint (enc, 1);
            zj_enc_uint (enc, ZJ_MSG_ERROR);
            zj_enc_uint (enc, msg.req);
            zj_enc_str (enc, msg.err_code.ptr, msg.err_code.len);
            zj_enc_str (enc, msg.err_message.ptr, msg.err_message.len);
            break;
        case ZJ_MSG_STATS_REPLY:
            zj_enc_stats_begin (enc, msg.req);
            zj_enc_raw (enc, msg.stats.ptr, msg.stats.len);
            break;
        case ZJ_MSG_SUBMIT: {
            zj_task_t task;
            char *client = msg.client.ptr ? frames_cstr (msg.client) : NULL;
            zj_enc_submit_begin (enc, msg.req, msg.count, client);
            free (client);
            while (zj_msg_next_task (&msg, &task))
                zj_enc_task (enc, &task);
            break;
        }
        case ZJ_MSG_TASKS: {
            zj_job_t job;
            zj_enc_jobs_begin (enc, msg.count);
            while (zj_msg_next_job (&msg, &job))
                zj_enc_job (enc, &job);
            break;
        }
        case ZJ_MSG_RESULT: case ZJ_MSG_DONE: {
            zj_outcome_t out;
            zj_enc_outcomes_begin (enc, msg.type, msg.count);
            while (zj_msg_next_outcome (&msg, &out))
                zj_enc_outcome (enc, &out);
            break;
        }
        case ZJ_MSG_STATUS_REPLY: case ZJ_MSG_CANCEL_REPLY: case ZJ_MSG_RETRY_REPLY: {
            zj_str_t ticket;
            zj_state_t state;
            zj_enc_states_begin (enc, msg.type, msg.req, msg.count);
            while (zj_msg_next_state (&msg, &ticket, &state))
                zj_enc_state (enc, ticket.ptr, ticket.len, state);
            break;
        }
        case ZJ_MSG_READY: {
            char *name = msg.name.ptr ? frames_cstr (msg.name) : NULL;
            char *host = msg.host.ptr ? frames_cstr (msg.host) : NULL;
            zj_str_t fn;
            zj_enc_ready_begin (enc, name, host, msg.pid, msg.heartbeat, msg.credit, msg.count);
            while (zj_msg_next_str (&msg, &fn))
                zj_enc_str (enc, fn.ptr, fn.len);
            free (name);
            free (host);
            break;
        }
        default: {
            zj_str_t ticket;
            zj_enc_tickets_begin (enc, msg.type, msg.req, msg.count);
            while (zj_msg_next_str (&msg, &ticket))
                zj_enc_str (enc, ticket.ptr, ticket.len);
            break;
        }
    }
}

//  Two decoded messages say the same thing (a is the original, b its
//  re-encoding: req is 0 where the encoder fixes it, pid <= 0 is dropped,
//  names are cut at a NUL).
void frames_expect_same (zj_msg_t a, zj_msg_t b)
{
    ASSERT_EQ (a.type, b.type);
    ASSERT_EQ (a.count, b.count);
    bool req_fixed = a.type == ZJ_MSG_RESULT || a.type == ZJ_MSG_DONE
                  || a.type == ZJ_MSG_TASKS || a.type == ZJ_MSG_READY;
    ASSERT_EQ (req_fixed ? 0 : a.req, b.req);
    ASSERT_TRUE (frames_str_eq (a.err_code, b.err_code));
    ASSERT_TRUE (frames_str_eq (a.err_message, b.err_message));
    ASSERT_TRUE (frames_raw_eq (a.stats, b.stats));
    ASSERT_TRUE (frames_str_eq (a.client, b.client));
    if (a.type == ZJ_MSG_READY) {
        ASSERT_EQ (a.credit, b.credit);
        ASSERT_EQ (a.pid > 0 ? a.pid : 0, b.pid);
        char *name = frames_cstr (a.name), *host = frames_cstr (a.host);
        ASSERT_TRUE (frames_str_eq (b.name, (zj_str_t) { a.name.ptr ? name : NULL, strlen (name) }));
        ASSERT_TRUE (frames_str_eq (b.host, (zj_str_t) { a.host.ptr ? host : NULL, strlen (host) }));
        free (name);
        free (host);
    }
    for (uint32_t i = 0; i < a.count; i++) {
        switch (a.type) {
            case ZJ_MSG_SUBMIT: {
                zj_task_t x, y;
                ASSERT_TRUE (zj_msg_next_task (&a, &x) && zj_msg_next_task (&b, &y));
                ASSERT_TRUE (frames_str_eq (x.fn, y.fn) && frames_raw_eq (x.args, y.args));
                ASSERT_EQ (x.priority, y.priority);
                ASSERT_TRUE (x.timeout == y.timeout);
                ASSERT_EQ (x.max_retries, y.max_retries);
                ASSERT_EQ (x.chunk, y.chunk);
                break;
            }
            case ZJ_MSG_TASKS: {
                zj_job_t x, y;
                ASSERT_TRUE (zj_msg_next_job (&a, &x) && zj_msg_next_job (&b, &y));
                ASSERT_TRUE (frames_str_eq (x.ticket, y.ticket) && frames_str_eq (x.fn, y.fn));
                ASSERT_TRUE (frames_raw_eq (x.args, y.args));
                ASSERT_TRUE (x.timeout == y.timeout);
                ASSERT_EQ (x.chunk, y.chunk);
                break;
            }
            case ZJ_MSG_RESULT: case ZJ_MSG_DONE: {
                zj_outcome_t x, y;
                ASSERT_TRUE (zj_msg_next_outcome (&a, &x) && zj_msg_next_outcome (&b, &y));
                ASSERT_TRUE (frames_str_eq (x.ticket, y.ticket));
                ASSERT_EQ (x.state, y.state);
                ASSERT_TRUE (frames_raw_eq (x.value, y.value));
                ASSERT_TRUE (frames_str_eq (x.err_type, y.err_type));
                ASSERT_TRUE (frames_str_eq (x.err_message, y.err_message));
                ASSERT_TRUE (frames_str_eq (x.err_traceback, y.err_traceback));
                break;
            }
            case ZJ_MSG_STATUS_REPLY: case ZJ_MSG_CANCEL_REPLY: case ZJ_MSG_RETRY_REPLY: {
                zj_str_t tx, ty;
                zj_state_t sx, sy;
                ASSERT_TRUE (zj_msg_next_state (&a, &tx, &sx) && zj_msg_next_state (&b, &ty, &sy));
                ASSERT_TRUE (frames_str_eq (tx, ty));
                ASSERT_EQ (sx, sy);
                break;
            }
            default: {
                zj_str_t x, y;
                ASSERT_TRUE (zj_msg_next_str (&a, &x) && zj_msg_next_str (&b, &y));
                ASSERT_TRUE (frames_str_eq (x, y));
                break;
            }
        }
    }
}

//  The current frame, decoded, must re-encode to exactly the same bytes
//  (true of every frame our encoder made) and decode to the same message.
zj_msg_t frames_round_trip (void)
{
    zj_msg_t msg, again;
    const char *why = NULL;
    zj_err_t err = frames_decode (&msg, &why);
    if (err != ZJ_OK)
        ZT_FAIL ("decode: %s (%s)", zj_err_name (err), why ? why : "-");
    zj_enc_t *enc = zj_enc_new ();
    frames_reencode (&msg, enc);
    ASSERT_TRUE (!zj_enc_failed (enc));
    ASSERT_EQ (zj_enc_size (enc), frames_size);
    ASSERT_TRUE (memcmp (zj_enc_data (enc), frames_data, frames_size) == 0);
    ASSERT_ERR (zj_msg_decode (zj_enc_data (enc), zj_enc_size (enc),
                               ZJ_MAX_FRAME_DEFAULT, &again, NULL), ZJ_OK);
    frames_expect_same (msg, again);
    zj_enc_destroy (&enc);
    return msg;
}

void frames_free_all (void)
{
    free (frames_data);
    frames_data = NULL;
    frames_size = 0;
    for (size_t i = 0; i < s_pooled; i++)
        free (s_pool [i]);
    s_pooled = 0;
}
