// SPDX-License-Identifier: MIT
//  msg - decoding and strict validation of ZJP/1 frames (docs/protocol.md)
//  with the bounded reader in mpread.h: zero-copy, no allocation, never
//  trusts a length or count from the peer. The encoder is in enc.c.
#include <math.h>
#include <string.h>
#include "msg.h"
#include "mpread.h"

//  Values (args, results, stats, unknown trailing fields) are checked on
//  their own: each may nest ZJ_MAX_DEPTH containers deep, wherever it sits
//  in the frame. So zj_raw_check() on a value predicts exactly whether a
//  frame carrying it will be accepted.

#define FAIL(text) do { *why = (text); return false; } while (0)

static const char *s_state_names[] = {
    "invalid", "queued", "running", "done", "failed", "cancelled", "unknown", "expired",
};

const char *zj_state_name (zj_state_t state)
{
    if (state < ZJ_STATE_QUEUED || state > ZJ_STATE_EXPIRED)
        return s_state_names[0];
    return s_state_names[state];
}

bool zj_state_is_final (zj_state_t state)
{
    return state == ZJ_STATE_DONE || state == ZJ_STATE_FAILED
        || state == ZJ_STATE_CANCELLED;
}

//  Field readers: each consumes one item and says whether it had the type.

static bool s_read_array (mpread_t *r, uint32_t *n)
{
    mpread_item_t it;
    if (!mpread_at_array (r) || !mpread_item (r, &it))
        return false;
    *n = it.n;
    return true;
}

static bool s_read_map (mpread_t *r, uint32_t *n)
{
    mpread_item_t it;
    if (!mpread_at_map (r) || !mpread_item (r, &it))
        return false;
    *n = it.n;
    return true;
}

static bool s_read_uint (mpread_t *r, uint64_t *v)
{
    mpread_item_t it;
    if (!mpread_item (r, &it) || it.kind != MPREAD_UINT)
        return false;
    *v = it.u;
    return true;
}

static bool s_read_int (mpread_t *r, int64_t *v)
{
    mpread_item_t it;
    if (!mpread_item (r, &it))
        return false;
    if (it.kind == MPREAD_INT)
        *v = it.i;
    else
    if (it.kind == MPREAD_UINT && it.u <= INT64_MAX)
        *v = (int64_t) it.u;
    else
        return false;
    return true;
}

static bool s_read_number (mpread_t *r, double *v)
{
    mpread_item_t it;
    if (!mpread_item (r, &it))
        return false;
    switch (it.kind) {
        case MPREAD_UINT: *v = (double) it.u; return true;
        case MPREAD_INT: *v = (double) it.i; return true;
        case MPREAD_FLOAT32: case MPREAD_FLOAT64: *v = it.d; return true;
        default: return false;
    }
}

static bool s_read_bool (mpread_t *r, bool *v)
{
    mpread_item_t it;
    if (!mpread_item (r, &it) || it.kind != MPREAD_BOOL)
        return false;
    *v = it.b;
    return true;
}

static bool s_read_str (mpread_t *r, zj_str_t *s)
{
    mpread_item_t it;
    if (!mpread_at_str (r) || !mpread_item (r, &it))
        return false;
    s->ptr = (const char *) it.s.ptr;
    s->len = it.s.len;
    return true;
}

//  A ticket or function name: 1..max bytes of printable ASCII.
//  Every ticket is checked several times per task on every hop, so check
//  eight bytes at a time: a byte is outside 0x21..0x7e exactly when its
//  lane of (x - 0x21..) | (0x7e.. - x) | x has the top bit set. A borrow
//  crosses into the next lane only from a lane that is already invalid.
static bool s_is_name (zj_str_t s, size_t max)
{
    if (s.len == 0 || s.len > max)
        return false;
    const uint64_t lo = 0x2121212121212121ull, hi = 0x7e7e7e7e7e7e7e7eull;
    const uint64_t top = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= s.len; i += 8) {
        uint64_t x;
        memcpy (&x, s.ptr + i, 8);
        if (((x - lo) | (hi - x) | x) & top)
            return false;
    }
    for (; i < s.len; i++) {
        unsigned char c = (unsigned char) s.ptr[i];
        if (c < 0x21 || c > 0x7e)
            return false;
    }
    return true;
}

static bool s_read_ticket (mpread_t *r, zj_str_t *s, const char **why)
{
    if (!s_read_str (r, s))
        FAIL ("ticket is not a string");
    if (!s_is_name (*s, ZJ_MAX_TICKET))
        FAIL ("ticket is not 1-64 bytes of printable ASCII");
    return true;
}

static bool s_read_fn (mpread_t *r, zj_str_t *s, const char **why)
{
    if (!s_read_str (r, s))
        FAIL ("function name is not a string");
    if (!s_is_name (*s, ZJ_MAX_FN))
        FAIL ("function name is not 1-128 bytes of printable ASCII");
    return true;
}

//  One complete value of any type; records its bytes.
static bool s_read_value (mpread_t *r, zj_raw_t *raw)
{
    const uint8_t *start = r->p;
    if (!mpread_skip (r, ZJ_MAX_DEPTH))
        return false;
    raw->ptr = start;
    raw->len = (size_t) (r->p - start);
    return true;
}

//  Fields past the known ones: ignored, but still well-formed.
static bool s_skip_extra (mpread_t *r, uint32_t n, const char **why)
{
    for (uint32_t i = 0; i < n; i++)
        if (!mpread_skip (r, ZJ_MAX_DEPTH))
            FAIL ("malformed or too deeply nested extra field");
    return true;
}

//  An entry array of at least `min` elements; *extra gets the surplus.
static bool s_read_entry (mpread_t *r, uint32_t min, uint32_t *extra)
{
    uint32_t n;
    if (!s_read_array (r, &n) || n < min)
        return false;
    *extra = n - min;
    return true;
}

static bool s_key_is (zj_str_t key, const char *name)
{
    size_t len = strlen (name);
    return key.len == len && memcmp (key.ptr, name, len) == 0;
}

//  args of a chunk task: every element must itself be an argument array.
//  The args span was validated already, so only the types are checked.
static bool s_args_are_chunks (zj_raw_t args)
{
    mpread_t r = { args.ptr, args.ptr + args.len };
    uint32_t n;
    if (!s_read_array (&r, &n))
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!mpread_at_array (&r) || !mpread_skip (&r, ZJ_MAX_DEPTH))
            return false;
    return true;
}

static bool s_read_args (mpread_t *r, zj_raw_t *args, const char **why)
{
    if (!mpread_at_array (r))
        FAIL ("args is not an array");
    if (!s_read_value (r, args))
        FAIL ("args is malformed or nested too deeply");
    return true;
}

//  A timeout: a number of seconds, finite and not negative.
static bool s_read_timeout (mpread_t *r, double *timeout, const char **why)
{
    if (!s_read_number (r, timeout))
        FAIL ("timeout is not a number");
    if (!isfinite (*timeout) || *timeout < 0)
        FAIL ("timeout is negative or not finite");
    return true;
}

//  Entry parsers. Each validates one list entry completely and fills the
//  view; decoding and the zj_msg_next_* calls share them, so what was
//  accepted is exactly what is read back.

//  [fn, args, options, ...]
static bool s_parse_task (mpread_t *r, zj_task_t *task, const char **why)
{
    uint32_t extra, pairs;
    if (!s_read_entry (r, 3, &extra))
        FAIL ("task is not an array of at least 3 elements [fn, args, options]");
    if (!s_read_fn (r, &task->fn, why)
    ||  !s_read_args (r, &task->args, why))
        return false;
    if (!s_read_map (r, &pairs))
        FAIL ("task options is not a map");
    task->priority = 0;
    task->timeout = 0;
    task->max_retries = -1;
    task->chunk = false;
    task->retry_on = (zj_raw_t) {NULL, 0};
    for (uint32_t i = 0; i < pairs; i++) {
        zj_str_t key;
        if (!mpread_at_str (r)) {
            //  Unknown (non-string) key: ignored, but must be well-formed.
            if (!mpread_skip (r, ZJ_MAX_DEPTH) || !mpread_skip (r, ZJ_MAX_DEPTH))
                FAIL ("task options holds a malformed entry");
            continue;
        }
        if (!s_read_str (r, &key))
            FAIL ("task options holds a malformed key");
        if (s_key_is (key, "priority")) {
            if (!s_read_int (r, &task->priority))
                FAIL ("task option priority is not a 64-bit integer");
        }
        else
        if (s_key_is (key, "timeout")) {
            if (!s_read_timeout (r, &task->timeout, why))
                FAIL ("task option timeout is not a finite number >= 0");
        }
        else
        if (s_key_is (key, "max_retries")) {
            if (!s_read_int (r, &task->max_retries))
                FAIL ("task option max_retries is not a 64-bit integer");
            //  Every negative count means "the broker's default".
            if (task->max_retries < 0)
                task->max_retries = -1;
        }
        else
        if (s_key_is (key, "chunk")) {
            if (!s_read_bool (r, &task->chunk))
                FAIL ("task option chunk is not a boolean");
        }
        else
        if (s_key_is (key, "retry_on")) {
            const uint8_t *start = r->p;
            uint32_t n;
            zj_str_t type;
            if (!s_read_array (r, &n))
                FAIL ("task option retry_on is not an array of strings");
            for (uint32_t k = 0; k < n; k++)
                if (!mpread_at_str (r) || !s_read_str (r, &type))
                    FAIL ("task option retry_on is not an array of strings");
            task->retry_on = n ? (zj_raw_t) {start, (size_t) (r->p - start)}
                               : (zj_raw_t) {NULL, 0};
        }
        else
        if (!mpread_skip (r, ZJ_MAX_DEPTH))
            FAIL ("task options holds a malformed value");
    }
    if (task->chunk && !s_args_are_chunks (task->args))
        FAIL ("chunk task args is not an array of argument arrays");
    return s_skip_extra (r, extra, why);
}

//  [ticket, fn, args, timeout, chunk, ...]
static bool s_parse_job (mpread_t *r, zj_job_t *job, const char **why)
{
    uint32_t extra;
    if (!s_read_entry (r, 5, &extra))
        FAIL ("job is not an array of at least 5 elements [ticket, fn, args, timeout, chunk]");
    if (!s_read_ticket (r, &job->ticket, why)
    ||  !s_read_fn (r, &job->fn, why)
    ||  !s_read_args (r, &job->args, why)
    ||  !s_read_timeout (r, &job->timeout, why))
        return false;
    if (!s_read_bool (r, &job->chunk))
        FAIL ("job chunk is not a boolean");
    if (job->chunk && !s_args_are_chunks (job->args))
        FAIL ("chunk job args is not an array of argument arrays");
    return s_skip_extra (r, extra, why);
}

//  [ticket, state, payload, ...]; DONE carries only states 3 and 4.
static bool s_parse_outcome (mpread_t *r, zj_outcome_t *out, bool done_only,
                             const char **why)
{
    uint32_t extra;
    uint64_t state;
    if (!s_read_entry (r, 3, &extra))
        FAIL ("outcome is not an array of at least 3 elements [ticket, state, payload]");
    if (!s_read_ticket (r, &out->ticket, why))
        return false;
    if (!s_read_uint (r, &state))
        FAIL ("outcome state is not a positive integer");
    if (state < ZJ_STATE_DONE || state > (done_only ? ZJ_STATE_FAILED : ZJ_STATE_EXPIRED))
        FAIL (done_only ? "DONE outcome state is not 3 (done) or 4 (failed)"
                        : "outcome state is not 3..7");
    out->state = (zj_state_t) state;
    out->value = (zj_raw_t) { NULL, 0 };
    out->err_type = out->err_message = out->err_traceback = (zj_str_t) { NULL, 0 };
    if (state == ZJ_STATE_DONE) {
        if (!s_read_value (r, &out->value))
            FAIL ("result value is malformed or nested too deeply");
    }
    else
    if (state == ZJ_STATE_FAILED) {
        uint32_t err_extra;
        if (!s_read_entry (r, 3, &err_extra))
            FAIL ("failed outcome payload is not [type, message, traceback]");
        if (!s_read_str (r, &out->err_type))
            FAIL ("error type is not a string");
        if (!s_read_str (r, &out->err_message))
            FAIL ("error message is not a string");
        if (!s_read_str (r, &out->err_traceback))
            FAIL ("error traceback is not a string");
        if (!s_skip_extra (r, err_extra, why))
            return false;
    }
    else {
        mpread_item_t it;
        if (!mpread_item (r, &it) || it.kind != MPREAD_NIL)
            FAIL ("payload of a cancelled, unknown or expired outcome is not nil");
    }
    return s_skip_extra (r, extra, why);
}

//  [ticket, state, ...] with any state 1..7.
//  `attempts`, when not NULL, gets the raw 3rd element (STATUS_REPLY's
//  attempt history), or {NULL, 0} when there is none.
static bool s_parse_state (mpread_t *r, zj_str_t *ticket, zj_state_t *state,
                           zj_raw_t *attempts, const char **why)
{
    uint32_t extra;
    uint64_t v;
    if (!s_read_entry (r, 2, &extra))
        FAIL ("state entry is not an array of at least 2 elements [ticket, state]");
    if (!s_read_ticket (r, ticket, why))
        return false;
    if (!s_read_uint (r, &v) || v < ZJ_STATE_QUEUED || v > ZJ_STATE_EXPIRED)
        FAIL ("state is not an integer 1..7");
    *state = (zj_state_t) v;
    if (attempts) {
        *attempts = (zj_raw_t) {NULL, 0};
        if (extra > 0 && mpread_at_array (r)) {
            const uint8_t *start = r->p;
            if (!mpread_skip (r, ZJ_MAX_DEPTH))
                FAIL ("state entry holds a malformed attempt list");
            *attempts = (zj_raw_t) {start, (size_t) (r->p - start)};
            extra--;
        }
    }
    return s_skip_extra (r, extra, why);
}

//  READY's info map: "name", "host", "pid", "heartbeat", "held"; other keys
//  are ignored.
static bool s_parse_info (mpread_t *r, zj_msg_t *msg, const char **why)
{
    uint32_t pairs;
    if (!s_read_map (r, &pairs))
        FAIL ("READY info is not a map");
    for (uint32_t i = 0; i < pairs; i++) {
        zj_str_t key;
        if (!mpread_at_str (r)) {
            if (!mpread_skip (r, ZJ_MAX_DEPTH) || !mpread_skip (r, ZJ_MAX_DEPTH))
                FAIL ("READY info holds a malformed entry");
            continue;
        }
        if (!s_read_str (r, &key))
            FAIL ("READY info holds a malformed key");
        if (s_key_is (key, "name")) {
            if (!s_read_str (r, &msg->name))
                FAIL ("READY info name is not a string");
        }
        else
        if (s_key_is (key, "host")) {
            if (!s_read_str (r, &msg->host))
                FAIL ("READY info host is not a string");
        }
        else
        if (s_key_is (key, "pid")) {
            if (!s_read_int (r, &msg->pid))
                FAIL ("READY info pid is not an integer");
        }
        else
        if (s_key_is (key, "heartbeat")) {
            if (!s_read_number (r, &msg->heartbeat) || !(msg->heartbeat > 0)
                || msg->heartbeat > 3600)
                FAIL ("READY info heartbeat is not a number of seconds in (0, 3600]");
        }
        else
        if (s_key_is (key, "held")) {
            uint32_t nheld;
            zj_str_t ticket;
            if (!s_read_array (r, &nheld))
                FAIL ("READY info held is not an array of tickets");
            msg->has_held = true;
            msg->nheld = msg->held_left = nheld;
            msg->held_cur = r->p;
            for (uint32_t k = 0; k < nheld; k++)
                if (!s_read_ticket (r, &ticket, why))
                    return false;
        }
        else
        if (!mpread_skip (r, ZJ_MAX_DEPTH))
            FAIL ("READY info holds a malformed value");
    }
    return true;
}

//  CANCEL's options map: "running" (bool); STATUS's: "attempts" (bool);
//  other keys are ignored.
static bool s_parse_cancel_options (mpread_t *r, zj_msg_t *msg, const char **why)
{
    bool cancel = msg->type == ZJ_MSG_CANCEL;
    uint32_t pairs;
    if (!s_read_map (r, &pairs))
        FAIL (cancel ? "CANCEL options is not a map" : "STATUS options is not a map");
    for (uint32_t i = 0; i < pairs; i++) {
        zj_str_t key = {NULL, 0};
        if (mpread_at_str (r)) {
            if (!s_read_str (r, &key))
                FAIL ("options hold a malformed key");
        }
        else
        if (!mpread_skip (r, ZJ_MAX_DEPTH))
            FAIL ("options hold a malformed key");
        if (key.ptr && s_key_is (key, cancel ? "running" : "attempts")) {
            mpread_item_t it;
            if (!mpread_item (r, &it) || it.kind != MPREAD_BOOL)
                FAIL (cancel ? "CANCEL option running is not a bool"
                             : "STATUS option attempts is not a bool");
            if (cancel)
                msg->keep_running = !it.b;
            else
                msg->want_attempts = it.b;
        }
        else
        if (!mpread_skip (r, ZJ_MAX_DEPTH))
            FAIL ("CANCEL options hold a malformed value");
    }
    return true;
}

//  Frames

//  Fields after [version, type, req] that each type needs.
static int s_fields (uint64_t type)
{
    switch (type) {
        case ZJ_MSG_STATS: case ZJ_MSG_PING: case ZJ_MSG_PONG:
        case ZJ_MSG_HEARTBEAT: case ZJ_MSG_DISCONNECT:
            return 0;
        case ZJ_MSG_SUBMIT: case ZJ_MSG_SUBMITTED: case ZJ_MSG_FETCH:
        case ZJ_MSG_STATUS: case ZJ_MSG_STATUS_REPLY: case ZJ_MSG_CANCEL:
        case ZJ_MSG_CANCEL_REPLY: case ZJ_MSG_STATS_REPLY: case ZJ_MSG_RESULT:
        case ZJ_MSG_TASKS: case ZJ_MSG_DONE: case ZJ_MSG_ABORT: case ZJ_MSG_RETURN:
        case ZJ_MSG_RETRY: case ZJ_MSG_RETRY_REPLY:
            return 1;
        case ZJ_MSG_ERROR:
            return 2;
        case ZJ_MSG_READY:
            return 3;
        default:
            return -1;
    }
}

//  Validate every entry of the list that starts at r; leaves r after it.
static bool s_parse_list (mpread_t *r, zj_msg_t *msg, const char **why)
{
    uint32_t n;
    if (!s_read_array (r, &n))
        FAIL ("the list field is not an array");
    msg->count = msg->left = n;
    msg->cur = r->p;
    switch (msg->type) {
        case ZJ_MSG_SUBMIT: {
            zj_task_t task;
            if (n == 0)
                FAIL ("SUBMIT carries no tasks");
            for (uint32_t i = 0; i < n; i++)
                if (!s_parse_task (r, &task, why))
                    return false;
            return true;
        }
        case ZJ_MSG_TASKS: {
            zj_job_t job;
            for (uint32_t i = 0; i < n; i++)
                if (!s_parse_job (r, &job, why))
                    return false;
            return true;
        }
        case ZJ_MSG_RESULT: case ZJ_MSG_DONE: {
            zj_outcome_t out;
            bool done_only = msg->type == ZJ_MSG_DONE;
            for (uint32_t i = 0; i < n; i++)
                if (!s_parse_outcome (r, &out, done_only, why))
                    return false;
            return true;
        }
        case ZJ_MSG_STATUS_REPLY: case ZJ_MSG_CANCEL_REPLY: case ZJ_MSG_RETRY_REPLY: {
            zj_str_t ticket;
            zj_state_t state;
            for (uint32_t i = 0; i < n; i++)
                if (!s_parse_state (r, &ticket, &state, NULL, why))
                    return false;
            return true;
        }
        case ZJ_MSG_READY: {
            zj_str_t fn;
            if (n == 0)
                FAIL ("READY lists no functions");
            for (uint32_t i = 0; i < n; i++)
                if (!s_read_fn (r, &fn, why))
                    return false;
            return true;
        }
        default: {              //  lists of tickets
            zj_str_t ticket;
            for (uint32_t i = 0; i < n; i++)
                if (!s_read_ticket (r, &ticket, why))
                    return false;
            return true;
        }
    }
}

static zj_err_t s_decode (const uint8_t *data, size_t size, size_t max_frame,
                          zj_msg_t *msg, const char **why)
{
    uint32_t n;
    uint64_t version, type;

    *msg = (zj_msg_t) { 0 };
    if (size > max_frame) {
        *why = "frame is larger than the size limit";
        return ZJ_ETOOLARGE;
    }
    if (size == 0 || !data) {
        *why = "frame is empty";
        return ZJ_EPROTO;
    }
    mpread_t r = { data, data + size };
    if (!s_read_array (&r, &n)) {
        *why = "frame is not a msgpack array";
        return ZJ_EPROTO;
    }
    if (n < 3) {
        *why = "frame has fewer than 3 elements [version, type, req]";
        return ZJ_EPROTO;
    }
    if (!s_read_uint (&r, &version)) {
        *why = "version is not a positive integer";
        return ZJ_EPROTO;
    }
    if (!s_read_uint (&r, &type)) {
        *why = "message type is not a positive integer";
        return ZJ_EPROTO;
    }
    if (!s_read_uint (&r, &msg->req)) {
        *why = "req is not a positive integer";
        return ZJ_EPROTO;
    }
    if (version != ZJ_PROTO_VERSION) {
        //  Nothing past the header can be trusted to have our layout.
        *why = "protocol version is not 1";
        return ZJ_EVERSION;
    }
    int fields = s_fields (type);
    if (fields < 0) {
        *why = "unknown message type";
        return ZJ_EPROTO;
    }
    if (n - 3 < (uint32_t) fields) {
        *why = "message has fewer fields than its type needs";
        return ZJ_EPROTO;
    }
    msg->type = (zj_msg_type_t) type;

    bool ok = true;
    switch (msg->type) {
        case ZJ_MSG_ERROR:
            if (!s_read_str (&r, &msg->err_code))
                *why = "ERROR code is not a string", ok = false;
            else
            if (!s_read_str (&r, &msg->err_message))
                *why = "ERROR message is not a string", ok = false;
            break;
        case ZJ_MSG_STATS_REPLY:
            if (!mpread_at_map (&r))
                *why = "STATS_REPLY stats is not a map", ok = false;
            else
            if (!s_read_value (&r, &msg->stats))
                *why = "STATS_REPLY stats is malformed or nested too deeply", ok = false;
            break;
        case ZJ_MSG_READY: {
            uint64_t credit;
            if (!s_parse_info (&r, msg, why))
                ok = false;
            else
            if (!s_read_uint (&r, &credit) || credit < 1 || credit > UINT32_MAX)
                *why = "READY credit is not an integer 1..2^32-1", ok = false;
            else {
                msg->credit = (uint32_t) credit;
                ok = s_parse_list (&r, msg, why);
            }
            break;
        }
        case ZJ_MSG_SUBMIT:
            ok = s_parse_list (&r, msg, why);
            //  The optional client id: nil is the same as absent.
            if (ok && n - 3 > (uint32_t) fields) {
                if (mpread_at_str (&r)) {
                    if (!s_read_str (&r, &msg->client) || !s_is_name (msg->client, ZJ_MAX_CLIENT))
                        *why = "SUBMIT client is not 1..64 bytes of printable ASCII", ok = false;
                }
                else
                if (r.p < r.end && *r.p == 0xc0)
                    r.p++;
                else
                    *why = "SUBMIT client is neither a string nor nil", ok = false;
                fields++;
            }
            break;
        case ZJ_MSG_CANCEL: case ZJ_MSG_STATUS:
            ok = s_parse_list (&r, msg, why);
            //  Optional options map; "running": false keeps running tasks.
            if (ok && n - 3 > (uint32_t) fields) {
                ok = s_parse_cancel_options (&r, msg, why);
                fields++;
            }
            break;
        default:
            if (fields == 1)
                ok = s_parse_list (&r, msg, why);
            break;
    }
    if (!ok || !s_skip_extra (&r, n - 3 - (uint32_t) fields, why))
        return ZJ_EPROTO;
    if (r.p != r.end) {
        *why = "bytes after the end of the message";
        return ZJ_EPROTO;
    }
    msg->end = r.end;
    return ZJ_OK;
}

zj_err_t zj_msg_decode (const uint8_t *data, size_t size, size_t max_frame,
                        zj_msg_t *msg, const char **why)
{
    const char *ignored;
    if (!why)
        why = &ignored;
    *why = NULL;
    zj_err_t err = s_decode (data, size, max_frame, msg, why);
    if (err != ZJ_OK) {
        //  Leave nothing a careless caller could iterate over.
        msg->left = 0;
        msg->cur = msg->end = NULL;
        msg->held_left = 0;
    }
    return err;
}

//  Iteration over a validated frame. The entry parsers cannot fail here;
//  if a caller asks for the wrong kind of entry, they answer false.

static bool s_next_begin (zj_msg_t *msg, mpread_t *r)
{
    if (msg->left == 0 || !msg->cur)
        return false;
    r->p = msg->cur;
    r->end = msg->end;
    return true;
}

static bool s_next_end (zj_msg_t *msg, mpread_t *r, bool ok)
{
    if (!ok) {
        msg->left = 0;
        return false;
    }
    msg->cur = r->p;
    msg->left--;
    return true;
}

bool zj_msg_next_task (zj_msg_t *msg, zj_task_t *task)
{
    mpread_t r;
    const char *why;
    if (msg->type != ZJ_MSG_SUBMIT || !s_next_begin (msg, &r))
        return false;
    return s_next_end (msg, &r, s_parse_task (&r, task, &why));
}

bool zj_msg_next_job (zj_msg_t *msg, zj_job_t *job)
{
    mpread_t r;
    const char *why;
    if (msg->type != ZJ_MSG_TASKS || !s_next_begin (msg, &r))
        return false;
    return s_next_end (msg, &r, s_parse_job (&r, job, &why));
}

bool zj_msg_next_outcome (zj_msg_t *msg, zj_outcome_t *out)
{
    mpread_t r;
    const char *why;
    if ((msg->type != ZJ_MSG_RESULT && msg->type != ZJ_MSG_DONE)
    ||  !s_next_begin (msg, &r))
        return false;
    return s_next_end (msg, &r,
                       s_parse_outcome (&r, out, msg->type == ZJ_MSG_DONE, &why));
}

bool zj_msg_next_str (zj_msg_t *msg, zj_str_t *str)
{
    mpread_t r;
    const char *why;
    bool ok;
    switch (msg->type) {
        case ZJ_MSG_SUBMITTED: case ZJ_MSG_FETCH: case ZJ_MSG_STATUS:
        case ZJ_MSG_CANCEL: case ZJ_MSG_ABORT: case ZJ_MSG_RETURN:
        case ZJ_MSG_RETRY: case ZJ_MSG_READY:
            break;
        default:
            return false;
    }
    if (!s_next_begin (msg, &r))
        return false;
    if (msg->type == ZJ_MSG_READY)
        ok = s_read_fn (&r, str, &why);
    else
        ok = s_read_ticket (&r, str, &why);
    return s_next_end (msg, &r, ok);
}

bool zj_msg_next_state (zj_msg_t *msg, zj_str_t *ticket, zj_state_t *state)
{
    mpread_t r;
    const char *why;
    if ((msg->type != ZJ_MSG_STATUS_REPLY && msg->type != ZJ_MSG_CANCEL_REPLY
         && msg->type != ZJ_MSG_RETRY_REPLY)
    ||  !s_next_begin (msg, &r))
        return false;
    return s_next_end (msg, &r, s_parse_state (&r, ticket, state, NULL, &why));
}

bool zj_msg_next_state_attempts (zj_msg_t *msg, zj_str_t *ticket, zj_state_t *state,
                                 zj_raw_t *attempts)
{
    mpread_t r;
    const char *why;
    if (msg->type != ZJ_MSG_STATUS_REPLY || !s_next_begin (msg, &r))
        return false;
    return s_next_end (msg, &r, s_parse_state (&r, ticket, state, attempts, &why));
}

bool zj_msg_next_held (zj_msg_t *msg, zj_str_t *ticket)
{
    const char *why;
    if (msg->type != ZJ_MSG_READY || !msg->held_left || !msg->held_cur)
        return false;
    mpread_t r = { msg->held_cur, msg->end };
    if (!s_read_ticket (&r, ticket, &why)) {
        msg->held_left = 0;
        return false;
    }
    msg->held_cur = r.p;
    msg->held_left--;
    return true;
}

//  Standalone values

size_t zj_raw_span (const uint8_t *data, size_t size)
{
    if (!data || size == 0)
        return 0;
    mpread_t r = { data, data + size };
    if (!mpread_skip (&r, ZJ_MAX_DEPTH))
        return 0;
    return (size_t) (r.p - data);
}

zj_err_t zj_raw_check (const uint8_t *data, size_t size)
{
    size_t span = zj_raw_span (data, size);
    return span > 0 && span == size ? ZJ_OK : ZJ_EPROTO;
}
