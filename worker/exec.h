// SPDX-License-Identifier: MIT
//  exec - runs one exec-handler command: `/bin/sh -c COMMAND` in its own
//  session and process group, the task's arguments as a JSON array on
//  stdin, stdout and stderr collected (bounded), and the outcome built by
//  the rules of docs (JSON or string result; `Type: message` errors).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "msg.h"
#include "outcome.h"

//  stderr kept for the traceback: its last EXEC_MAX_STDERR bytes.
#define EXEC_MAX_STDERR (1024 * 1024)
//  How long to wait for stdout/stderr to close after the command exited
//  before giving up on processes that escaped its process group.
#define EXEC_GRACE_MS 2000

typedef struct exec exec_t;

//  What to run.
typedef struct {
    const char *command;        //  shell command; borrowed for the call
    zj_raw_t args;              //  one msgpack array; borrowed for the call
    size_t max_stdout;          //  stdout over this fails the task (TooLarge)
    const char *guard;          //  program to run as `GUARD --exec-guard PID COMMAND`
                                //  (see exec_guard_main), or NULL for plain /bin/sh
} exec_spec_t;

//  Called once when the command has finished; `out` and its views are
//  borrowed for the call. The exec_t frees itself after the call returns.
typedef void (exec_done_fn) (const outcome_t *out, void *arg);

//  Start spec->command with spec->args as JSON on stdin. Returns the
//  running command, owned by itself until `done` runs or exec_abort;
//  NULL on failure with `why` filled, and then `done` never runs.
exec_t *exec_start (uv_loop_t *loop, const exec_spec_t *spec,
                    exec_done_fn *done, void *arg, char *why, size_t why_size);

//  Start `/bin/sh -c command` in its own session and process group (so
//  kill(-pid) ends the tree), under `guard` (`GUARD --exec-guard PID
//  COMMAND`) when not NULL; its stdin, stdout and stderr are the three
//  pipes, which must be initialised on `loop`. Returns uv_spawn's result;
//  `proc` is initialised, and must be closed, either way. Shared by exec
//  commands and --serve task processes.
int exec_spawn (uv_loop_t *loop, uv_process_t *proc, uv_exit_cb exit_cb, const char *command,
                const char *guard, uv_pipe_t *in, uv_pipe_t *out, uv_pipe_t *err);

//  Kill the command's whole process group. `done` never runs; the object
//  frees itself once the process has been reaped. Sets *self_p to NULL.
//  Safe on NULL.
void exec_abort (exec_t **self_p);

//  Process id of the command's group leader (the guard, else the shell).
int exec_pid (const exec_t *self);

//  The guard: a program's main calls this when started as
//  `PROGRAM --exec-guard WORKER_PID COMMAND`, and returns its result. It
//  leads the task's process group, runs `/bin/sh -c COMMAND` and exits as
//  the shell did; when the worker that started it dies (even by SIGKILL)
//  it kills the whole group, so no task outlives its worker.
int exec_guard_main (const char *worker_pid, const char *command);

//  Build the outcome of a finished command from what it wrote and how it
//  ended (exit_status, or term_signal when a signal killed it). Exit 0:
//  success, the value is stdout parsed as JSON after trimming whitespace,
//  else stdout as a string less one trailing newline, encoded into `enc`
//  (reset first). Otherwise a failure: type and message from a last
//  non-empty stderr line `Type: message`, else ExecError with a message
//  in `msg`; the traceback is all of stderr. Views in *out borrow stdout,
//  stderr, enc and msg.
void exec_outcome_build (const char *out, size_t out_len, const char *err, size_t err_len,
                         int64_t exit_status, int term_signal, zj_enc_t *enc,
                         char *msg, size_t msg_size, outcome_t *result);
