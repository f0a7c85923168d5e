// SPDX-License-Identifier: MIT
//  decode_fuzz - libFuzzer target over the codec: any bytes through
//  zj_msg_decode, every entry of an accepted frame read back, every value
//  rendered as JSON, and the frame re-encoded and decoded again. Also
//  feeds the bytes to the JSON parser and the JSON writer. Built by
//  tests/fuzz/meson.build (-Dfuzzing=true links libFuzzer; every build
//  replays the corpora through it); scripts/fuzz runs it.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "msg.h"
#include "fuzz.h"

static zj_enc_t *s_enc;

//  A value the decoder accepted is valid on its own and renders as JSON.
static void s_value (zj_raw_t raw)
{
    MUST (zj_raw_check (raw.ptr, raw.len) == ZJ_OK);
    zj_err_t err;
    char *json = zj_json_from_msgpack (raw.ptr, raw.len, &err);
    MUST (json && err == ZJ_OK && !strchr (json, '\n'));
    free (json);
}

//  Read every entry, re-encode the message, and decode it again.
static void s_walk (zj_msg_t msg)
{
    uint32_t seen = 0;
    switch (msg.type) {
        case ZJ_MSG_SUBMIT: {
            zj_task_t t;
            char client[ZJ_MAX_CLIENT + 1] = "";
            memcpy (client, msg.client.ptr ? msg.client.ptr : "", msg.client.len);
            zj_enc_submit_begin (s_enc, msg.req, msg.count, msg.client.ptr ? client : NULL);
            for (; zj_msg_next_task (&msg, &t); seen++) {
                s_value (t.args);
                zj_enc_task (s_enc, &t);
            }
            break;
        }
        case ZJ_MSG_TASKS: {
            zj_job_t j;
            zj_enc_jobs_begin (s_enc, msg.count);
            for (; zj_msg_next_job (&msg, &j); seen++) {
                s_value (j.args);
                zj_enc_job (s_enc, &j);
            }
            break;
        }
        case ZJ_MSG_RESULT: case ZJ_MSG_DONE: {
            zj_outcome_t o;
            zj_enc_outcomes_begin (s_enc, msg.type, msg.count);
            for (; zj_msg_next_outcome (&msg, &o); seen++) {
                if (o.state == ZJ_STATE_DONE)
                    s_value (o.value);
                zj_enc_outcome (s_enc, &o);
            }
            break;
        }
        case ZJ_MSG_STATUS_REPLY: case ZJ_MSG_CANCEL_REPLY: case ZJ_MSG_RETRY_REPLY: {
            zj_str_t ticket;
            zj_state_t state;
            zj_enc_states_begin (s_enc, msg.type, msg.req, msg.count);
            for (; zj_msg_next_state (&msg, &ticket, &state); seen++)
                zj_enc_state (s_enc, ticket.ptr, ticket.len, state);
            break;
        }
        case ZJ_MSG_STATS_REPLY:
            s_value (msg.stats);
            zj_enc_stats_begin (s_enc, msg.req);
            zj_enc_raw (s_enc, msg.stats.ptr, msg.stats.len);
            break;
        case ZJ_MSG_ERROR:
            zj_enc_error (s_enc, msg.req,
                          zj_err_from_name (msg.err_code.ptr, msg.err_code.len), "x");
            break;
        case ZJ_MSG_READY: {
            zj_str_t fn;
            zj_enc_ready_begin (s_enc, "n", "h", msg.pid, msg.heartbeat, msg.credit, msg.count);
            for (; zj_msg_next_str (&msg, &fn); seen++)
                zj_enc_str (s_enc, fn.ptr, fn.len);
            break;
        }
        case ZJ_MSG_SUBMITTED: case ZJ_MSG_FETCH: case ZJ_MSG_STATUS:
        case ZJ_MSG_CANCEL: case ZJ_MSG_ABORT: case ZJ_MSG_RETURN: case ZJ_MSG_RETRY: {
            zj_str_t ticket;
            zj_enc_tickets_begin (s_enc, msg.type, msg.req, msg.count);
            for (; zj_msg_next_str (&msg, &ticket); seen++)
                zj_enc_str (s_enc, ticket.ptr, ticket.len);
            break;
        }
        default:
            zj_enc_simple (s_enc, msg.type, msg.req);
            break;
    }
    MUST (seen == msg.count);
    MUST (!zj_enc_failed (s_enc));
    zj_msg_t again;
    MUST (zj_msg_decode (zj_enc_data (s_enc), zj_enc_size (s_enc),
                         ZJ_MAX_FRAME_DEFAULT, &again, NULL) == ZJ_OK);
    MUST (again.type == msg.type && again.count == msg.count);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_enc)
        s_enc = zj_enc_new ();

    zj_msg_t msg;
    const char *why = NULL;
    zj_err_t err = zj_msg_decode (data, size, ZJ_MAX_FRAME_DEFAULT, &msg, &why);
    MUST (err == ZJ_OK || err == ZJ_EPROTO || err == ZJ_EVERSION);
    MUST (err == ZJ_OK || why != NULL);
    if (err == ZJ_OK)
        s_walk (msg);

    //  The same bytes as a standalone value, and as JSON text.
    char *json = zj_json_from_msgpack (data, size, &err);
    MUST ((json != NULL) == (zj_raw_check (data, size) == ZJ_OK));
    free (json);
    zj_enc_reset (s_enc);
    if (zj_json_to_msgpack (s_enc, (const char *) data, size) == ZJ_OK)
        MUST (zj_raw_check (zj_enc_data (s_enc), zj_enc_size (s_enc)) == ZJ_OK);
    return 0;
}
