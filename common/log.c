// SPDX-License-Identifier: MIT
//  log - stderr event lines; see log.h.
#include "log.h"
#include <stdio.h>
#include <string.h>

static const char *s_prog = "zjob";
static log_level_t s_level = LOG_LEVEL_INFO;
static const char *s_names[] = {"error", "warn", "info", "debug"};

void
log_init (const char *prog, log_level_t level)
{
    s_prog = prog;
    s_level = level;
}

bool
log_level_parse (const char *text, log_level_t *level)
{
    for (int i = 0; i <= LOG_LEVEL_DEBUG; i++)
        if (strcmp (text, s_names[i]) == 0) {
            *level = (log_level_t) i;
            return true;
        }
    return false;
}

bool
log_enabled (log_level_t level)
{
    return level <= s_level;
}

void
log_emit (log_level_t level, const char *event, const char *fmt, ...)
{
    if (level > s_level)
        return;
    //  Format into one buffer so that the line reaches stderr in a single
    //  write and lines from several threads or processes never interleave.
    char line[2048];
    int n = snprintf (line, sizeof line, "%s: %s %s", s_prog, s_names[level], event);
    if (n < 0)
        return;
    if (fmt && *fmt && (size_t) n < sizeof line - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start (ap, fmt);
        int m = vsnprintf (line + n, sizeof line - n, fmt, ap);
        va_end (ap);
        if (m > 0)
            n += m;
    }
    if ((size_t) n > sizeof line - 2)
        n = sizeof line - 2;
    line[n++] = '\n';
    fwrite (line, 1, (size_t) n, stderr);
}
