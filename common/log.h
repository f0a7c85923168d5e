// SPDX-License-Identifier: MIT
//  log - one event per line on stderr, for journald:
//  `<prog>: <level> <event> key=value ...`. Shared by zjobd, zjob-worker
//  and the zjob CLI. Not thread-safe to reconfigure; safe to call from
//  any thread (one fprintf per line).
#pragma once
#include <stdarg.h>
#include <stdbool.h>

typedef enum {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN,
    LOG_LEVEL_INFO,
    LOG_LEVEL_DEBUG,
} log_level_t;

//  Set the program name printed first on each line (borrowed; must
//  outlive logging) and the least severe level printed.
void log_init (const char *prog, log_level_t level);
//  Parse "error", "warn", "info" or "debug". Returns false when unknown.
bool log_level_parse (const char *text, log_level_t *level);
//  True when a line at this level would be printed; use it to skip
//  building expensive fields.
bool log_enabled (log_level_t level);
//  Print `<prog>: <level> <event> <fields>`; `fmt` formats the fields,
//  which should be key=value pairs (quote values that hold spaces).
void log_emit (log_level_t level, const char *event, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

#define log_error(event, ...) log_emit (LOG_LEVEL_ERROR, event, __VA_ARGS__)
#define log_warn(event, ...)  log_emit (LOG_LEVEL_WARN, event, __VA_ARGS__)
#define log_info(event, ...)  log_emit (LOG_LEVEL_INFO, event, __VA_ARGS__)
#define log_debug(event, ...) \
    do { if (log_enabled (LOG_LEVEL_DEBUG)) log_emit (LOG_LEVEL_DEBUG, event, __VA_ARGS__); } while (0)
