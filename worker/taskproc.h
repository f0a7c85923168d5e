// SPDX-License-Identifier: MIT
//  taskproc - one persistent task process of `--serve`: spawned in its own
//  process group (behind the exec guard), frames written to its stdin and
//  cut from its stdout (framing.h), its stderr logged a line at a time
//  with the tail kept for crash reports. Knows nothing of calls or slots:
//  serve.c decides what the frames mean and when to kill.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "msg.h"

//  stderr kept for the traceback of a crash: its last bytes.
#define TASKPROC_STDERR_TAIL (16 * 1024)
//  After the process exited (or closed stdout), how long to wait for the
//  rest of its output (or its exit) before giving up on it.
#define TASKPROC_GRACE_MS 500
//  Longest stderr line logged in one piece.
#define TASKPROC_LINE_MAX 1024

typedef struct taskproc taskproc_t;

//  What the owner hears, always from a loop callback. `proc` stays valid
//  during the call even if the owner kills it there.
typedef struct {
    //  One whole frame's body, borrowed for the call.
    void (*frame) (taskproc_t *proc, const uint8_t *body, size_t len, void *arg);
    //  A length prefix of 0 or over max_frame: the stream cannot go on.
    void (*bad_length) (taskproc_t *proc, size_t len, void *arg);
    //  The deadline set with taskproc_deadline passed.
    void (*deadline) (taskproc_t *proc, void *arg);
    //  The process ended on its own and its output is read (or the grace
    //  ran out): read taskproc_status and taskproc_tail, then release it
    //  with taskproc_kill.
    void (*ended) (taskproc_t *proc, void *arg);
} taskproc_events_t;

//  Start `/bin/sh -c command` (under `guard`, when not NULL) with pipes;
//  `index` names it in logs. events is borrowed and must outlive the
//  process. Returns the process, owned by the caller until taskproc_kill;
//  NULL with `why` filled when it could not start.
taskproc_t *taskproc_start (uv_loop_t *loop, const char *command, const char *guard,
                            size_t max_frame, uint32_t index,
                            const taskproc_events_t *events, void *arg,
                            char *why, size_t why_size);
//  Stop hearing about the process, kill its group (unless it already
//  ended) and free it once its handles have closed. Sets *self_p to NULL;
//  safe on NULL.
void taskproc_kill (taskproc_t **self_p);

//  The encoder for the next frame's body; taskproc_send writes it.
zj_enc_t *taskproc_enc (taskproc_t *self);
//  Write the body in taskproc_enc with its length prefix. What the pipe
//  cannot take at once is copied and written later, in order; the
//  encoder is free again when this returns. A process that went away is
//  reported through `ended`, not here.
void taskproc_send (taskproc_t *self);

//  Call events->deadline after `ms` (0 cancels).
void taskproc_deadline (taskproc_t *self, uint64_t ms);

//  Process id of the group leader (= process group).
int taskproc_pid (const taskproc_t *self);
//  How it ended: exit status, or the signal that killed it (else 0).
void taskproc_status (const taskproc_t *self, int64_t *status, int *term_signal);
//  The last TASKPROC_STDERR_TAIL bytes of its stderr; borrowed, valid
//  until the process is freed.
const char *taskproc_tail (const taskproc_t *self, size_t *len);
