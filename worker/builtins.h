// SPDX-License-Identifier: MIT
//  builtins - the functions every worker offers without configuration:
//  echo, sleep, fail, noop. Pure: they read raw msgpack arguments and
//  fill an outcome; sleep only says how long to wait (the runner waits
//  with a libuv timer, so several sleeps run at once).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "outcome.h"

typedef enum {
    BUILTIN_NONE = 0,           //  not a built-in
    BUILTIN_ECHO,               //  echo ARG...: the argument, or all as an array; none -> nil
    BUILTIN_SLEEP,              //  sleep SECONDS [VALUE]: VALUE if given, else SECONDS
    BUILTIN_FAIL,               //  fail TYPE [MESSAGE]: fails with that type and message
    BUILTIN_NOOP,               //  noop: nil
    BUILTIN_COUNT
} builtin_t;

//  The built-in with this name, or BUILTIN_NONE.
builtin_t builtins_find (const char *name, size_t len);
//  Name of a built-in; "" for BUILTIN_NONE. Static storage.
const char *builtins_name (builtin_t builtin);

//  Run `builtin` over `args` (one msgpack array). Fills *out with views
//  into `args` or static storage, or into `msg` (msg_size bytes, used for
//  BadArguments messages); they live as long as those do. *delay_ms gets
//  how long to wait before the outcome counts (sleep), else 0.
void builtins_run (builtin_t builtin, zj_raw_t args, outcome_t *out,
                   uint64_t *delay_ms, char *msg, size_t msg_size);
