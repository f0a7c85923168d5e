// SPDX-License-Identifier: MIT
//  supervisor - the parent of `--procs N` worker processes: starts N
//  copies of this program (exec, never a bare fork: children hold ZeroMQ
//  sockets, the parent holds none), restarts any that dies with backoff,
//  and stops them all on SIGTERM or SIGINT.
#pragma once
#include "options.h"

//  Environment variable that marks a child and carries "INDEX:PARENT_PID".
#define SUPERVISOR_CHILD_ENV "ZJOB_WORKER_CHILD"

//  Restart delays: the first, the cap, and how long a child must stay up
//  for the delay to start over.
#define SUPERVISOR_BACKOFF_MIN_MS 100
#define SUPERVISOR_BACKOFF_MAX_MS 10000
#define SUPERVISOR_STABLE_MS 10000
//  How long stopping children get after SIGTERM, beyond --drain-timeout,
//  before SIGKILL.
#define SUPERVISOR_STOP_MS 10000

//  Run options->procs children of program `self_exe` with the same
//  arguments (both borrowed) until SIGTERM or SIGINT. Returns the exit
//  code: 0 after a clean stop, 1 when the supervisor itself could not run.
int supervisor_run (const options_t *options, const char *self_exe, char **argv);

//  Delay before the next restart of a child that ran `uptime_ms` after
//  the previous delay `prev_ms` (0 when it never restarted). Pure.
uint64_t supervisor_backoff (uint64_t prev_ms, uint64_t uptime_ms);

//  Parse a child marker "INDEX:PARENT_PID". False when malformed.
bool supervisor_parse_marker (const char *text, int *index, int *parent);
