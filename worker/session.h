// SPDX-License-Identifier: MIT
//  session - one worker process's link to the broker: a DEALER socket
//  watched by libuv, READY/TASKS/DONE/ABORT, heartbeats and reconnects
//  (Paranoid Pirate), and a clean stop on SIGTERM or SIGINT. Owns the
//  process's event loop; the runner does the work.
#pragma once
#include <stddef.h>
#include "options.h"

//  Serve tasks until SIGTERM or SIGINT. `proc` numbers this process among
//  the supervisor's children (0 when unsupervised), for logs. `self_exe`
//  is this program's path, run as the guard of exec commands (borrowed).
//  Returns the process exit code: 0 after a clean stop, 1 on a runtime
//  failure.
int session_run (const options_t *options, int proc, const char *self_exe);

//  Check that `endpoint` is one ZeroMQ can connect to, without sending
//  anything. False with `why` filled when it is not.
bool session_check_endpoint (const char *endpoint, char *why, size_t why_size);
