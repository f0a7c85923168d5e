// SPDX-License-Identifier: MIT
//  sched - decides which worker runs which queued task. Per-function
//  queues (higher priority first, FIFO within a level), credit-limited
//  dispatch, round robin among workers with free credit. Pure logic: no
//  sockets, no clock; task records belong to tasks.c.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "tasks.h"

//  Set on a task that sched gave a worker but the broker has not yet sent.
#define TASK_UNSENT 0x04

typedef struct sched sched_t;
typedef struct sched_fn sched_fn_t;
typedef struct sched_worker sched_worker_t;

//  Per-function counters since the function's record was made; the broker
//  bumps them (sched only reads none of them).
typedef struct {
    uint64_t submitted;         //  tasks accepted
    uint64_t completed;         //  finished done
    uint64_t failed;            //  finished failed
    uint64_t cancelled;         //  cancelled while queued
    struct metrics_fn *series;  //  its Prometheus series (report.c), or NULL
                                //  until first used; outlives this record
} sched_fn_stats_t;

//  Scheduling state of one worker, embedded in its peer record (the peer
//  owns the memory; sched_worker_fini frees what sched allocated).
struct sched_worker {
    void *owner;                //  the peer record this is embedded in
    uint32_t credit;            //  tasks it may hold at once
    uint32_t held;              //  tasks it holds (sent or about to be)
    uint32_t batch;             //  of those, assigned but not yet sent (the
                                //  last `batch` entries of the held list)
    bool paused;                //  send queue full: no dispatch for now
    bool in_batch;              //  on sched's list of workers with a batch
    bool in_freed;              //  on sched's list of workers with freed credit
    task_t *head;               //  held tasks in assignment order
    task_t *tail;
    sched_fn_t **fns;           //  registered functions
    uint32_t nfns;
    uint32_t fn_rr;             //  rotates which function is served first
    sched_worker_t *batch_next; //  link in sched's batch list
    sched_worker_t *freed_next; //  link in sched's freed-credit list
};

//  Create an empty scheduler. Caller owns; free with sched_destroy.
//  NULL on OOM.
sched_t *sched_new (void);
//  Free the scheduler and every function record. Task records are not
//  touched (tasks.c owns them); workers must have been finalised.
void sched_destroy (sched_t **self_p);

//  ---------------------------------------------------------------------
//  Functions. A function record lives while something references it:
//  task records (queued, running or retained) and registered workers.

//  The record for `name`, made empty (with no references) when missing.
//  Borrowed. NULL on OOM or when len is 0 or over ZJ_MAX_FN.
sched_fn_t *sched_fn_get (sched_t *self, const char *name, size_t len);
//  The record for `name`, or NULL.
sched_fn_t *sched_fn_find (sched_t *self, const char *name, size_t len);
void sched_fn_ref (sched_fn_t *fn);
//  Drop one reference; frees the record when none are left.
void sched_fn_unref (sched_t *self, sched_fn_t *fn);
//  Free the record if nothing references it (e.g. after a refused batch).
void sched_fn_release_unused (sched_t *self, sched_fn_t *fn);
//  Name (not NUL-terminated) and its length.
const char *sched_fn_name (const sched_fn_t *fn, size_t *len);
//  Queued tasks, held tasks, registered workers, priority levels in use.
size_t sched_fn_depth (const sched_fn_t *fn);
size_t sched_fn_running (const sched_fn_t *fn);
size_t sched_fn_workers (const sched_fn_t *fn);
size_t sched_fn_levels (const sched_fn_t *fn);
//  Submit time of the oldest queued task, or -1 when none is queued.
double sched_fn_oldest (const sched_fn_t *fn);
//  Counters the broker maintains; borrowed.
sched_fn_stats_t *sched_fn_stats (sched_fn_t *fn);
//  Tasks counted against the queue limit by a SUBMIT being checked.
uint32_t *sched_fn_pending (sched_fn_t *fn);
//  Iterate all functions: *cursor = 0 first; NULL at the end.
sched_fn_t *sched_fn_next (const sched_t *self, size_t *cursor);

//  ---------------------------------------------------------------------
//  Queues. Tasks must have task->fn set and be in no list.

//  Append a task to its function's queue (behind its priority level).
void sched_enqueue (sched_t *self, task_t *task);
//  Put a task back in front of its priority level (it was out on a
//  worker that vanished, or was given back).
void sched_requeue (sched_t *self, task_t *task);
//  Take a queued task out of its queue (cancel).
void sched_remove (sched_t *self, task_t *task);
//  Totals over all functions.
size_t sched_queued (const sched_t *self);
size_t sched_running (const sched_t *self);

//  ---------------------------------------------------------------------
//  Workers.

//  Start an embedded worker record for peer `owner`: no credit, no functions.
void sched_worker_init (sched_worker_t *w, void *owner);
//  Register or re-register: credit and the functions it runs replace the
//  previous ones; tasks it holds stay with it. Returns false on OOM
//  (registration unchanged).
bool sched_worker_set (sched_t *self, sched_worker_t *w, uint32_t credit,
                       sched_fn_t *const *fns, uint32_t nfns);
//  A held task was answered (DONE or RETURN): unlink it and free its credit.
//  The caller then finishes or requeues the task.
void sched_worker_release (sched_t *self, sched_worker_t *w, task_t *task);
//  Stop or resume dispatching to w (used while its send queue is full).
void sched_worker_pause (sched_t *self, sched_worker_t *w, bool paused);

//  Called by sched_worker_detach for every task that had reached the
//  worker, newest first. Return true to have it requeued in front of its
//  level (after bumping attempts, say), or false when the callee took the
//  task (e.g. failed it); it is unlinked either way.
typedef bool (sched_lost_cb) (void *arg, task_t *task);
//  The worker is gone: unregister it, requeue its unsent batch unchanged
//  and hand each task it held to `cb`. Leaves w empty and unregistered.
void sched_worker_detach (sched_t *self, sched_worker_t *w, sched_lost_cb *cb, void *arg);
//  Free what sched allocated in w; w must be detached.
void sched_worker_fini (sched_worker_t *w);

//  ---------------------------------------------------------------------
//  Dispatch.

//  Give queued tasks to workers with free credit: round robin among a
//  function's workers, one task each per pass, never past credit. Tasks
//  move to the worker's held list with state RUNNING and TASK_UNSENT.
//  Returns how many tasks were assigned.
size_t sched_dispatch (sched_t *self);
//  True when something happened since the last dispatch that may let it
//  assign more (new tasks, freed credit, new workers).
bool sched_dirty (const sched_t *self);
//  The next worker with unsent tasks: returns the first of them (they
//  follow by ->next), sets *w and *n, and marks them sent. NULL when no
//  worker has unsent tasks.
task_t *sched_batch_take (sched_t *self, sched_worker_t **w, uint32_t *n);
//  Sending the n tasks starting at `first` to w failed: take them back
//  and put them in front of their queues unchanged.
void sched_worker_unassign (sched_t *self, sched_worker_t *w, task_t *first, uint32_t n);
