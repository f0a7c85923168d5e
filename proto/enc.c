// SPDX-License-Identifier: MIT
//  enc - the ZJP/1 encoder: msgpack-c's packer writing into one reusable
//  sbuffer. The only file of proto/ that includes <msgpack.h>. Never fails
//  loudly: an allocation failure sets a flag the caller checks once.
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include "msg.h"

struct zj_enc {
    msgpack_sbuffer buf;        //  the bytes; memory kept across resets
    msgpack_packer pk;          //  writes into buf
    bool failed;                //  an allocation failed since the last reset
    uint32_t tasks_left;        //  SUBMIT: zj_enc_task calls before the client id
    uint8_t client_len;         //  SUBMIT: client id to write after the tasks, 0 = none
    char client[ZJ_MAX_CLIENT]; //  its bytes
};

zj_enc_t *zj_enc_new (void)
{
    zj_enc_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    msgpack_sbuffer_init (&self->buf);
    msgpack_packer_init (&self->pk, &self->buf, msgpack_sbuffer_write);
    return self;
}

void zj_enc_destroy (zj_enc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    msgpack_sbuffer_destroy (&(*self_p)->buf);
    free (*self_p);
    *self_p = NULL;
}

void zj_enc_reset (zj_enc_t *self)
{
    msgpack_sbuffer_clear (&self->buf);
    self->failed = false;
    self->tasks_left = 0;
    self->client_len = 0;
}

const uint8_t *zj_enc_data (zj_enc_t *self)
{
    return (const uint8_t *) self->buf.data;
}

size_t zj_enc_size (zj_enc_t *self)
{
    return self->buf.size;
}

uint8_t *zj_enc_take (zj_enc_t *self, size_t *size)
{
    //  A failed buffer has holes in it; hand over nothing rather than that.
    if (self->failed) {
        zj_enc_reset (self);
        if (size)
            *size = 0;
        return NULL;
    }
    if (size)
        *size = self->buf.size;
    return (uint8_t *) msgpack_sbuffer_release (&self->buf);
}

bool zj_enc_failed (zj_enc_t *self)
{
    return self->failed;
}

//  Every msgpack_pack_* call returns the sbuffer's write result.
#define CHECK(call) do { if ((call) != 0) self->failed = true; } while (0)

//  Generic values

void zj_enc_array (zj_enc_t *self, uint32_t count)
{
    CHECK (msgpack_pack_array (&self->pk, count));
}

void zj_enc_map (zj_enc_t *self, uint32_t count)
{
    CHECK (msgpack_pack_map (&self->pk, count));
}

void zj_enc_str (zj_enc_t *self, const char *ptr, size_t len)
{
    //  msgpack lengths are 32-bit; the packer would silently truncate.
    if (len > UINT32_MAX || (!ptr && len > 0)) {
        self->failed = true;
        return;
    }
    CHECK (msgpack_pack_str (&self->pk, len));
    if (len > 0)
        CHECK (msgpack_pack_str_body (&self->pk, ptr, len));
}

void zj_enc_cstr (zj_enc_t *self, const char *s)
{
    zj_enc_str (self, s ? s : "", s ? strlen (s) : 0);
}

void zj_enc_int (zj_enc_t *self, int64_t v)
{
    CHECK (msgpack_pack_int64 (&self->pk, v));
}

void zj_enc_uint (zj_enc_t *self, uint64_t v)
{
    CHECK (msgpack_pack_uint64 (&self->pk, v));
}

void zj_enc_double (zj_enc_t *self, double v)
{
    CHECK (msgpack_pack_double (&self->pk, v));
}

void zj_enc_bool (zj_enc_t *self, bool v)
{
    CHECK (v ? msgpack_pack_true (&self->pk) : msgpack_pack_false (&self->pk));
}

void zj_enc_nil (zj_enc_t *self)
{
    CHECK (msgpack_pack_nil (&self->pk));
}

void zj_enc_raw (zj_enc_t *self, const void *data, size_t len)
{
    if (len == 0)
        return;
    if (!data) {
        self->failed = true;
        return;
    }
    CHECK (msgpack_sbuffer_write (&self->buf, data, len));
}

//  A value view, or `fallback` (one msgpack byte) when it is absent.
static void s_enc_value (zj_enc_t *self, zj_raw_t raw, uint8_t fallback)
{
    if (raw.ptr && raw.len > 0)
        zj_enc_raw (self, raw.ptr, raw.len);
    else
        zj_enc_raw (self, &fallback, 1);
}

//  Seconds: most timeouts are 0, which takes one byte as an integer.
static void s_enc_seconds (zj_enc_t *self, double v)
{
    if (v == 0)
        zj_enc_uint (self, 0);
    else
        zj_enc_double (self, v);
}

//  Messages

static void s_header (zj_enc_t *self, uint32_t elements, zj_msg_type_t type, uint64_t req)
{
    zj_enc_reset (self);
    zj_enc_array (self, elements);
    zj_enc_uint (self, ZJ_PROTO_VERSION);
    zj_enc_uint (self, (uint64_t) type);
    zj_enc_uint (self, req);
}

void zj_enc_simple (zj_enc_t *self, zj_msg_type_t type, uint64_t req)
{
    s_header (self, 3, type, req);
}

void zj_enc_error (zj_enc_t *self, uint64_t req, zj_err_t code, const char *message)
{
    s_header (self, 5, ZJ_MSG_ERROR, req);
    zj_enc_cstr (self, zj_err_name (code));
    zj_enc_cstr (self, message ? message : zj_strerror (code));
}

void zj_enc_submit_begin (zj_enc_t *self, uint64_t req, uint32_t count, const char *client)
{
    size_t len = client ? strlen (client) : 0;
    s_header (self, client ? 5 : 4, ZJ_MSG_SUBMIT, req);
    zj_enc_array (self, count);
    if (!client)
        return;
    //  The decoder refuses a SUBMIT with a bad id: fail here instead.
    bool ok = len >= 1 && len <= ZJ_MAX_CLIENT && count > 0;
    for (size_t i = 0; ok && i < len; i++)
        ok = client[i] >= 0x21 && client[i] <= 0x7e;
    if (!ok) {
        self->failed = true;
        return;
    }
    memcpy (self->client, client, len);
    self->client_len = (uint8_t) len;
    self->tasks_left = count;
}

void zj_enc_task (zj_enc_t *self, const zj_task_t *task)
{
    //  Only options that differ from the defaults travel, so the common
    //  task carries an empty map (one byte).
    bool priority = task->priority != 0;
    bool timeout = task->timeout != 0;
    bool retries = task->max_retries >= 0;
    bool chunk = task->chunk;
    bool retry_on = task->retry_on.ptr && task->retry_on.len;

    zj_enc_array (self, 3);
    zj_enc_str (self, task->fn.ptr, task->fn.len);
    s_enc_value (self, task->args, 0x90);
    zj_enc_map (self, (uint32_t) priority + timeout + retries + chunk + retry_on);
    if (priority) {
        zj_enc_cstr (self, "priority");
        zj_enc_int (self, task->priority);
    }
    if (timeout) {
        zj_enc_cstr (self, "timeout");
        zj_enc_double (self, task->timeout);
    }
    if (retries) {
        zj_enc_cstr (self, "max_retries");
        zj_enc_int (self, task->max_retries);
    }
    if (chunk) {
        zj_enc_cstr (self, "chunk");
        zj_enc_bool (self, true);
    }
    if (retry_on) {
        zj_enc_cstr (self, "retry_on");
        zj_enc_raw (self, task->retry_on.ptr, task->retry_on.len);
    }
    if (self->client_len && self->tasks_left && --self->tasks_left == 0)
        zj_enc_str (self, self->client, self->client_len);
}

void zj_enc_tickets_begin (zj_enc_t *self, zj_msg_type_t type, uint64_t req, uint32_t count)
{
    s_header (self, 4, type, req);
    zj_enc_array (self, count);
}

void zj_enc_status_attempts_begin (zj_enc_t *self, uint64_t req, uint32_t count)
{
    s_header (self, 5, ZJ_MSG_STATUS, req);
    zj_enc_array (self, count);
}

void zj_enc_status_attempts_end (zj_enc_t *self)
{
    zj_enc_map (self, 1);
    zj_enc_cstr (self, "attempts");
    zj_enc_bool (self, true);
}

void zj_enc_states_begin (zj_enc_t *self, zj_msg_type_t type, uint64_t req, uint32_t count)
{
    s_header (self, 4, type, req);
    zj_enc_array (self, count);
}

void zj_enc_state (zj_enc_t *self, const char *ticket, size_t len, zj_state_t state)
{
    zj_enc_array (self, 2);
    zj_enc_str (self, ticket, len);
    zj_enc_uint (self, (uint64_t) state);
}

void zj_enc_outcomes_begin (zj_enc_t *self, zj_msg_type_t type, uint32_t count)
{
    s_header (self, 4, type, 0);
    zj_enc_array (self, count);
}

void zj_enc_outcome (zj_enc_t *self, const zj_outcome_t *out)
{
    zj_enc_array (self, 3);
    zj_enc_str (self, out->ticket.ptr, out->ticket.len);
    zj_enc_uint (self, (uint64_t) out->state);
    if (out->state == ZJ_STATE_DONE)
        s_enc_value (self, out->value, 0xc0);
    else
    if (out->state == ZJ_STATE_FAILED) {
        zj_enc_array (self, 3);
        zj_enc_str (self, out->err_type.ptr, out->err_type.len);
        zj_enc_str (self, out->err_message.ptr, out->err_message.len);
        zj_enc_str (self, out->err_traceback.ptr, out->err_traceback.len);
    }
    else
        zj_enc_nil (self);
}

void zj_enc_jobs_begin (zj_enc_t *self, uint32_t count)
{
    s_header (self, 4, ZJ_MSG_TASKS, 0);
    zj_enc_array (self, count);
}

void zj_enc_job (zj_enc_t *self, const zj_job_t *job)
{
    zj_enc_array (self, 5);
    zj_enc_str (self, job->ticket.ptr, job->ticket.len);
    zj_enc_str (self, job->fn.ptr, job->fn.len);
    s_enc_value (self, job->args, 0x90);
    s_enc_seconds (self, job->timeout);
    zj_enc_bool (self, job->chunk);
}

void zj_enc_ready_begin (zj_enc_t *self, const char *name, const char *host,
                         int64_t pid, double heartbeat, uint32_t credit, uint32_t count)
{
    zj_enc_ready_held_begin (self, name, host, pid, heartbeat, credit, count, NULL, 0);
}

void zj_enc_ready_held_begin (zj_enc_t *self, const char *name, const char *host,
                              int64_t pid, double heartbeat, uint32_t credit,
                              uint32_t count, const zj_str_t *held, uint32_t nheld)
{
    s_header (self, 6, ZJ_MSG_READY, 0);
    zj_enc_map (self, (uint32_t) (name != NULL) + (host != NULL) + (pid > 0) + (heartbeat > 0)
                      + (held != NULL));
    if (name) {
        zj_enc_cstr (self, "name");
        zj_enc_cstr (self, name);
    }
    if (host) {
        zj_enc_cstr (self, "host");
        zj_enc_cstr (self, host);
    }
    if (pid > 0) {
        zj_enc_cstr (self, "pid");
        zj_enc_int (self, pid);
    }
    if (heartbeat > 0) {
        zj_enc_cstr (self, "heartbeat");
        zj_enc_double (self, heartbeat);
    }
    if (held) {
        zj_enc_cstr (self, "held");
        zj_enc_array (self, nheld);
        for (uint32_t i = 0; i < nheld; i++)
            zj_enc_str (self, held[i].ptr, held[i].len);
    }
    zj_enc_uint (self, credit);
    zj_enc_array (self, count);
}

void zj_enc_stats_begin (zj_enc_t *self, uint64_t req)
{
    s_header (self, 4, ZJ_MSG_STATS_REPLY, req);
}
