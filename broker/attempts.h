// SPDX-License-Identifier: MIT
//  attempts - each ticket's attempt history: who ran it (interned worker
//  host and pid), when, and how each run ended. Kept small on purpose: a
//  task holds the identity of its current or last run and its run time;
//  only runs that ended without finishing the task go to a lazily made log.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "msg.h"

struct task;

//  How one attempt ended.
typedef enum {
    ATTEMPT_RUNNING = 0,        //  not yet ended
    ATTEMPT_DONE,               //  returned a result
    ATTEMPT_RAISED,             //  the task raised an error
    ATTEMPT_CRASHED,            //  the task's process died (ProcessExited, signal)
    ATTEMPT_TIMEOUT,            //  TimeoutError: the broker aborted it
    ATTEMPT_LOST,               //  its worker was lost
    ATTEMPT_CANCELLED,          //  cancelled while it ran
} attempt_outcome_t;

//  A worker identity, interned: lives as long as the table that made it.
typedef struct attempt_who attempt_who_t;
struct attempt_who {
    attempt_who_t *next;        //  intern list
    int64_t pid;                //  0 when the worker gave none
    char host[];                //  may be empty
};

//  One attempt, as reported.
typedef struct {
    double start;               //  monotonic seconds (the broker's `now`)
    double end;                 //  0 while running
    const attempt_who_t *who;   //  NULL when unknown (e.g. recovered)
    uint8_t outcome;            //  attempt_outcome_t
    char error[39];             //  error type, "" when none (truncated)
} attempt_t;

//  A task's extras, made on first need: attempts that ended without
//  finishing it (oldest first), and the SUBMIT option retry_on.
typedef struct attempt_log {
    uint16_t n;
    uint16_t cap;
    uint32_t retry_len;         //  bytes of retry_on
    uint8_t *retry_on;          //  msgpack array of error type strings, or NULL
    attempt_t a[];
} attempt_log_t;

typedef struct attempts attempts_t;

//  The intern table of worker identities. Caller owns; NULL on OOM.
attempts_t *attempts_new (void);
//  Free it and every identity; sets *self_p to NULL.
void attempts_destroy (attempts_t **self_p);
//  The identity for (host, pid), made once. NULL on OOM.
const attempt_who_t *attempts_intern (attempts_t *self, const char *host, int64_t pid);

//  Append `a` to *log_p, making or growing the log. False on OOM.
bool attempts_log_push (attempt_log_t **log_p, const attempt_t *a);
//  Free a log; sets *log_p to NULL.
void attempts_log_free (attempt_log_t **log_p);
//  Keep a copy of SUBMIT's retry_on array (validated by the codec) in
//  *log_p, making it if need be. False on OOM.
bool attempts_set_retry_on (attempt_log_t **log_p, const uint8_t *raw, size_t len);
//  True when error type `type` is in the task's retry_on.
bool attempts_retry_on (const attempt_log_t *log, const char *type, size_t len);

//  How a run that ended with an error of this type and message counts.
attempt_outcome_t attempts_classify (const char *type, size_t tlen, const char *msg,
                                     size_t mlen);
//  Lower-case name of an outcome, as on the wire: "running", "done"...
const char *attempts_outcome_name (attempt_outcome_t outcome);

//  How many attempts a task has on record, and the i-th (oldest first);
//  the last one is derived from the task's own state and outcome payload.
size_t attempts_count (const struct task *task);
bool attempts_at (const struct task *task, size_t i, attempt_t *out);
