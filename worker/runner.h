// SPDX-License-Identifier: MIT
//  runner - the tasks of one worker process: holds what the broker sent,
//  runs at most `concurrency` at once (FIFO for the rest), runs chunks
//  element by element, enforces timeouts, and reports each outcome once.
//  Knows nothing of sockets: the session feeds jobs and sends outcomes.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "msg.h"
#include "options.h"
#include "outcome.h"

typedef struct runner runner_t;

//  Called once for each task that finished (done or failed), never for a
//  task that was aborted or given back. `ticket` and `out` are borrowed
//  for the call. Must not call back into the runner.
typedef void (runner_done_fn) (zj_str_t ticket, const outcome_t *out, void *arg);

//  Called once per ticket by runner_return_held; borrowed for the call.
typedef void (runner_ticket_fn) (zj_str_t ticket, void *arg);

//  Called when the list of served functions changed (a --serve process
//  named its functions, or named different ones after a restart).
typedef void (runner_change_fn) (void *arg);

//  New runner on `loop` serving the built-ins, `options`' exec handlers
//  and, with options->serve, the functions its task processes name
//  (started at once, one per unit of concurrency). options is borrowed
//  and must outlive the runner. `guard` is the program that wraps exec
//  commands and task processes (see exec_guard_main), or NULL to run
//  /bin/sh directly; borrowed. Caller owns; free with runner_destroy.
//  NULL on OOM.
runner_t *runner_new (uv_loop_t *loop, const options_t *options, const char *guard,
                      runner_done_fn *done, void *arg);
//  Abort every task and free the runner; sets *self_p to NULL. Handles
//  of aborted tasks close on later turns of the loop: run the loop until
//  it has no handles before closing it.
void runner_destroy (runner_t **self_p);

//  The function names this runner serves (built-ins not replaced by an
//  exec handler or a task process, exec handlers, then the task
//  processes' functions). Borrowed; valid until the next change callback.
const char *const *runner_functions (const runner_t *self, size_t *count);
//  Be told when runner_functions changes. `fn` runs on the loop.
void runner_on_change (runner_t *self, runner_change_fn *fn, void *arg);
//  True when the function list is complete: always without --serve,
//  else once a task process has sent its hello. Register only then.
bool runner_ready (const runner_t *self);

//  Take a job (its fields are copied): run it at once when fewer than
//  `concurrency` tasks run, else hold it. The done callback may run
//  before this returns (built-ins finish at once). Returns ZJ_OK or
//  ZJ_ENOMEM (the job was not taken; the callback never runs for it).
zj_err_t runner_submit (runner_t *self, const zj_job_t *job);

//  Stop the task with this ticket, held or running: an exec command's
//  process group is killed, timers are cancelled, and no outcome is
//  reported. Returns false when no such task is here.
bool runner_abort (runner_t *self, zj_str_t ticket);
//  Abort every task, held or running.
void runner_abort_all (runner_t *self);

//  Give back every held (unstarted) task: `fn` sees each ticket, then
//  the tasks are forgotten. Returns how many.
uint32_t runner_return_held (runner_t *self, runner_ticket_fn *fn, void *arg);

//  Call `fn` with the ticket of every task here, running then held,
//  without changing anything. `fn` must not call back into the runner.
void runner_each (const runner_t *self, runner_ticket_fn *fn, void *arg);

//  Tasks running now, and tasks held unstarted.
uint32_t runner_running (const runner_t *self);
uint32_t runner_held (const runner_t *self);
