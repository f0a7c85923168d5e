// SPDX-License-Identifier: MIT
//  builtins - echo, sleep, fail, noop over raw msgpack; see builtins.h.
//  Results are views into the task's own argument bytes: nothing here
//  allocates, so echo and noop cost no more than the bookkeeping.
#include "builtins.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "args.h"

//  Longest sleep accepted: a year. Longer is a typo, not a plan, and it
//  keeps the millisecond count far from overflow.
#define S_SLEEP_MAX (365.0 * 24 * 3600)

static const char *s_names[BUILTIN_COUNT] = {"", "echo", "sleep", "fail", "noop"};

builtin_t
builtins_find (const char *name, size_t len)
{
    for (int i = 1; i < BUILTIN_COUNT; i++)
        if (strlen (s_names[i]) == len && memcmp (s_names[i], name, len) == 0)
            return (builtin_t) i;
    return BUILTIN_NONE;
}

const char *
builtins_name (builtin_t builtin)
{
    return builtin > BUILTIN_NONE && builtin < BUILTIN_COUNT ? s_names[builtin] : "";
}

static void
s_bad (outcome_t *out, char *msg, size_t msg_size, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_bad (outcome_t *out, char *msg, size_t msg_size, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg, msg_size, fmt, ap);
    va_end (ap);
    outcome_set_error (out, "BadArguments", msg);
}

static void
s_echo (args_iter_t *it, zj_raw_t args, outcome_t *out)
{
    zj_raw_t first;
    if (it->count == 0 || !args_iter_next (it, &first))
        outcome_set_ok (out, args_nil, sizeof args_nil);
    else
    if (it->count == 1)
        outcome_set_ok (out, first.ptr, first.len);
    else
        //  Several arguments: the result is the argument array itself.
        outcome_set_ok (out, args.ptr, args.len);
}

static void
s_sleep (args_iter_t *it, outcome_t *out, uint64_t *delay_ms, char *msg, size_t msg_size)
{
    zj_raw_t seconds, value;
    double s;
    if (it->count < 1 || it->count > 2) {
        s_bad (out, msg, msg_size,
               "sleep takes SECONDS [VALUE], got %u arguments", (unsigned) it->count);
        return;
    }
    if (!args_iter_next (it, &seconds) || !args_number (seconds, &s)) {
        s_bad (out, msg, msg_size, "sleep: SECONDS must be a number, got %s",
               args_type_name (seconds));
        return;
    }
    if (!(s >= 0 && s <= S_SLEEP_MAX)) {
        s_bad (out, msg, msg_size,
               "sleep: SECONDS must be between 0 and %.0f, got %g", S_SLEEP_MAX, s);
        return;
    }
    if (it->count == 2 && args_iter_next (it, &value))
        outcome_set_ok (out, value.ptr, value.len);
    else
        outcome_set_ok (out, seconds.ptr, seconds.len);
    *delay_ms = (uint64_t) ceil (s * 1000.0);
}

static void
s_fail (args_iter_t *it, outcome_t *out, char *msg, size_t msg_size)
{
    zj_raw_t type_raw, message_raw = {NULL, 0};
    zj_str_t type, message = {"", 0};
    if (it->count < 1 || it->count > 2) {
        s_bad (out, msg, msg_size,
               "fail takes TYPE [MESSAGE], got %u arguments", (unsigned) it->count);
        return;
    }
    if (!args_iter_next (it, &type_raw) || !args_string (type_raw, &type) || type.len == 0) {
        s_bad (out, msg, msg_size, "fail: TYPE must be a non-empty string, got %s",
               args_type_name (type_raw));
        return;
    }
    if (it->count == 2
    && (!args_iter_next (it, &message_raw) || !args_string (message_raw, &message))) {
        s_bad (out, msg, msg_size, "fail: MESSAGE must be a string, got %s",
               args_type_name (message_raw));
        return;
    }
    memset (out, 0, sizeof *out);
    out->ok = false;
    out->err_type = type;
    out->err_message = message;
    out->err_traceback.ptr = "";
}

void
builtins_run (builtin_t builtin, zj_raw_t args, outcome_t *out,
              uint64_t *delay_ms, char *msg, size_t msg_size)
{
    args_iter_t it;
    *delay_ms = 0;
    if (!args_iter_init (&it, args)) {
        s_bad (out, msg, msg_size, "arguments must be an array, got %s",
               args_type_name (args));
        return;
    }
    switch (builtin) {
        case BUILTIN_ECHO:
            s_echo (&it, args, out);
            break;
        case BUILTIN_SLEEP:
            s_sleep (&it, out, delay_ms, msg, msg_size);
            break;
        case BUILTIN_FAIL:
            s_fail (&it, out, msg, msg_size);
            break;
        case BUILTIN_NOOP:
            outcome_set_ok (out, args_nil, sizeof args_nil);
            break;
        default:
            snprintf (msg, msg_size, "no built-in function number %d", (int) builtin);
            outcome_set_error (out, "UnknownFunction", msg);
            break;
    }
}
