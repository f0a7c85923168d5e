// SPDX-License-Identifier: MIT
//  outcome - how one task (or one chunk element) ended, as borrowed views.
//  Shared by builtins, exec and runner; the session turns it into a DONE
//  entry. Holds no memory: whoever fills it says how long the views live.
#pragma once
#include <stdbool.h>
#include <string.h>
#include "msg.h"

typedef struct {
    bool ok;                    //  true: `value` is the result; false: err_*
    zj_raw_t value;             //  ok: one msgpack object
    zj_str_t err_type;          //  failed: e.g. "ValueError"
    zj_str_t err_message;       //  failed: one line of human text
    zj_str_t err_traceback;     //  failed: remote details, may be empty
} outcome_t;

//  Fill *out as a success with `value` (borrowed).
static inline void
outcome_set_ok (outcome_t *out, const uint8_t *value, size_t len)
{
    memset (out, 0, sizeof *out);
    out->ok = true;
    out->value.ptr = value;
    out->value.len = len;
}

//  Fill *out as a failure; `type` and `message` are NUL-terminated and
//  borrowed; the traceback is empty.
static inline void
outcome_set_error (outcome_t *out, const char *type, const char *message)
{
    memset (out, 0, sizeof *out);
    out->ok = false;
    out->err_type.ptr = type;
    out->err_type.len = strlen (type);
    out->err_message.ptr = message;
    out->err_message.len = strlen (message);
    out->err_traceback.ptr = "";
    out->err_traceback.len = 0;
}
