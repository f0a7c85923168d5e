// SPDX-License-Identifier: MIT
//  serve - the persistent task processes of `--serve COMMAND`: one per
//  slot (taskproc.h), fed task frames on stdin and answering on stdout
//  (framing.h, docs/protocol.md "Task processes"). Learns the served
//  function names from the hello, restarts a process at once after the
//  worker killed it (timeout, abort) and with backoff after it died or
//  misbehaved, and reports a crash as the failure of the call it was
//  running.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "msg.h"
#include "outcome.h"

//  How long a new process may take to send its hello before it is killed.
#define SERVE_HELLO_MS 60000

typedef struct serve serve_t;
typedef struct serve_call serve_call_t;

//  What to run.
typedef struct {
    const char *command;        //  shell command; borrowed, must outlive the pool
    uint32_t slots;             //  processes, one call each at a time; >= 1
    size_t max_frame;           //  largest frame a process may send
    size_t max_result;          //  results over this fail the call with TooLarge
    const char *guard;          //  program run as `GUARD --exec-guard PID COMMAND`,
                                //  or NULL for plain /bin/sh; borrowed
} serve_spec_t;

//  The outcome of one call; `out` and its views are borrowed for the
//  call. The call object is gone once this returns.
typedef void (serve_done_fn) (const outcome_t *out, void *arg);
//  The list of served functions was learnt or changed (a hello).
typedef void (serve_change_fn) (void *arg);

//  Start spec->slots processes on `loop`. `changed` runs after every
//  hello that names a different list than the last one. Caller owns;
//  free with serve_destroy. NULL on OOM.
serve_t *serve_new (uv_loop_t *loop, const serve_spec_t *spec,
                    serve_change_fn *changed, void *arg);
//  Kill every process and free the pool; calls still queued or running
//  get no outcome. Handles close on later turns of the loop. Sets
//  *self_p to NULL; safe on NULL.
void serve_destroy (serve_t **self_p);

//  The function names of the last hello (none before the first).
//  Borrowed; valid until the next turn of the loop.
const char *const *serve_functions (const serve_t *self, size_t *count);
//  True when the last hello named `fn` (len bytes).
bool serve_has (const serve_t *self, const char *fn, size_t len);

//  True when the last hello offered whole chunks (serve_call's `chunk`).
bool serve_chunks (const serve_t *self);

//  Call `fn` with `args` (one msgpack array) on the next free process,
//  queueing while none is free. With `chunk` > 0, args is the array of
//  `chunk` argument arrays of a chunk task (docs/protocol.md 5.14), sent
//  whole, and the outcome's value is the chunk's result array, checked
//  (ask serve_chunks first). Both views are borrowed and must stay valid
//  until `done` runs or the call is cancelled. `done` runs once, from a
//  later loop callback, never inside this call. NULL on OOM (then `done`
//  never runs).
serve_call_t *serve_call (serve_t *self, zj_str_t fn, zj_raw_t args, uint32_t chunk,
                          serve_done_fn *done, void *arg);
//  Drop a call: a queued one is forgotten; a running one has its process
//  group killed, and the slot starts a new process at once. `done` never
//  runs. Sets *call_p to NULL; safe on NULL.
void serve_cancel (serve_call_t **call_p);

//  Process id (= process group) of slot `slot`'s current process, or 0.
int serve_pid (const serve_t *self, uint32_t slot);
//  Slots whose process finished its hello and runs no call.
uint32_t serve_idle (const serve_t *self);
