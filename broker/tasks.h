// SPDX-License-Identifier: MIT
//  tasks - the ticket table: every task record the broker holds, from
//  submit until its retention ends. Owns records, final-state
//  transitions, subscriber lists and retention; queues and workers are
//  sched's business. Pure logic: callers pass `now` (seconds, monotonic).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "msg.h"

struct sched_fn;
struct sched_worker;
struct client;
struct store;
struct attempt_who;
struct attempt_log;

#define TASK_CHUNK      0x01    //  args is an array of argument arrays
#define TASK_NO_OUTCOME 0x02    //  final, but the outcome could not be kept (OOM)
//  0x04 TASK_UNSENT (sched.h), 0x08 TASK_MARK (broker_int.h)
#define TASK_DEAD       0x10    //  failed after its retries ran out: a dead letter

//  One task. A single allocation: the struct, then `len` bytes of blob,
//  which hold the msgpack args while the task is queued or running and
//  the msgpack outcome payload once it is final; a failed task keeps its
//  args in front of the payload (args_len bytes), so that it can run again. Fields are public to
//  the broker's modules; each field says which module writes it.
typedef struct task task_t;
struct task {
    task_t *next;               //  link in exactly one list: a queue level
    task_t *prev;               //  (sched), a worker's held list (sched) or
                                //  the retention list (tasks)
    uint64_t gen;               //  ticket generation
    uint64_t seq;               //  ticket sequence number
    struct sched_fn *fn;        //  function and queue; a counted reference
    struct sched_worker *worker;//  holder while running (sched)
    struct client *owner;       //  first subscriber (usually the submitter)
    struct task_subs *subs;     //  further subscribers, or NULL
    int64_t priority;           //  higher runs first
    double timeout;             //  seconds the task may run; 0 = no limit
    double since;               //  queued: submit time; final: finish time
    uint32_t len;               //  blob bytes
    uint16_t max_retries;       //  requeues allowed after worker loss
    uint16_t attempts;          //  dispatches lost with their worker so far
    uint8_t state;              //  zj_state_t (sched sets QUEUED/RUNNING)
    uint8_t flags;              //  TASK_* bits
    float wait;                 //  seconds from submit to the last dispatch
                                //  (report.c; fits in what was padding)
    float run;                  //  seconds the last attempt ran, set when
                                //  the task became final (broker.c)
    uint32_t args_len;          //  failed: bytes of args kept in front of
                                //  the payload for a retry (tasks.c); 0
                                //  otherwise (fits in what was padding)
    const struct attempt_who *who;  //  worker of the current or last
                                //  attempt, interned; NULL if none (broker)
    struct attempt_log *log;    //  earlier attempts that did not finish the
                                //  task, or NULL (attempts.h; owned)
    uint8_t blob[];             //  args, then the outcome payload
};

//  Counters since start, for STATS.
typedef struct {
    uint64_t submitted;         //  accepted by SUBMIT
    uint64_t completed;         //  finished done
    uint64_t failed;            //  finished failed
    uint64_t cancelled;         //  cancelled while queued
    uint64_t expired;           //  final records deleted after retention
    uint64_t retried;           //  requeued after a worker was lost
} tasks_counters_t;

typedef struct tasks tasks_t;

//  Create an empty table for the tickets of generation `gen`. `store` is
//  borrowed and told about every new, finished and deleted record.
//  Caller owns; free with tasks_destroy. NULL on OOM.
tasks_t *tasks_new (uint64_t gen, struct store *store);
//  Free every record (without telling the store); sets *self_p to NULL.
void tasks_destroy (tasks_t **self_p);

//  The generation of new tickets.
uint64_t tasks_generation (const tasks_t *self);
//  Counters; the broker bumps `retried` itself.
tasks_counters_t *tasks_counters (tasks_t *self);
//  Records in the table, and how many are in each final state.
size_t tasks_size (const tasks_t *self);
size_t tasks_count (const tasks_t *self, zj_state_t state);
//  Bytes held by records (structs and blobs, not the index).
size_t tasks_bytes (const tasks_t *self);

//  Make a record for one SUBMIT entry with the next sequence number: state
//  QUEUED, not yet in any queue. Copies spec->args; takes a reference to
//  nothing (the caller refs fn). Returns NULL on OOM or when the args are
//  larger than 4 GiB. The record belongs to the table.
task_t *tasks_add (tasks_t *self, struct sched_fn *fn, const zj_task_t *spec,
                   uint16_t max_retries, double now);
//  Put a record back the way a store recovered it (any generation and
//  state except UNKNOWN/EXPIRED). `blob` is args or the final payload.
//  NULL on OOM or when a record with that ticket exists.
task_t *tasks_restore (tasks_t *self, uint64_t gen, uint64_t seq, struct sched_fn *fn,
                       zj_state_t state, const uint8_t *blob, size_t len, double since);
//  Give a restored failed record the args it kept (copied), so that it
//  can be retried. The record may move: use the returned pointer. On OOM
//  (or when it is not failed) the record is returned unchanged.
task_t *tasks_restore_args (tasks_t *self, task_t *task, const uint8_t *args, size_t len);
//  After the last tasks_restore: order the retention list by finish time
//  (records came back in submit order).
void tasks_restore_done (tasks_t *self);
//  Remember an earlier generation that issued tickets 1..max_seq, so that
//  a deleted one of them is EXPIRED rather than UNKNOWN. False on OOM.
bool tasks_add_generation (tasks_t *self, uint64_t gen, uint64_t max_seq);
//  Tell the store about records just made by tasks_add, as one batch.
zj_err_t tasks_persist (tasks_t *self, task_t *const *tasks, size_t count);
//  Undo tasks_add for a batch that was refused: the record is forgotten
//  and freed, and the store is not told. The record must be in no queue
//  and have no subscribers; it may be final (cancelled in the same
//  turn). Drop the newest first: the last sequence numbers handed out
//  are given back. Sets *task_p to NULL.
void tasks_drop (tasks_t *self, task_t **task_p);

//  The record for (gen, seq), or NULL.
task_t *tasks_find (const tasks_t *self, uint64_t gen, uint64_t seq);
//  Look a ticket up. Returns the task's state and sets *task_p, or returns
//  UNKNOWN (never issued here, or not ours) or EXPIRED (issued by this
//  generation and deleted after retention) with *task_p = NULL.
zj_state_t tasks_lookup (const tasks_t *self, const char *ticket, size_t len,
                         task_t **task_p);
//  Write the task's ticket into buf (>= TICKET_MAX + 1 bytes); returns length.
size_t tasks_ticket (const task_t *task, char *buf);

//  Subscribers. Returns 1 when `client` was added, 0 when it already was a
//  subscriber, -1 on OOM. The caller counts the reference on the client.
int tasks_subscribe (task_t *task, struct client *client);
//  Number of subscribers and the i-th one.
size_t tasks_sub_count (const task_t *task);
struct client *tasks_sub_at (const task_t *task, size_t i);
//  Forget every subscriber (the caller drops its references first).
void tasks_sub_clear (task_t *task);

//  Move an unlinked (not queued, not held) task to final `state` with
//  `payload` (one msgpack object: the result, [type, message, traceback]
//  or nil). Drops the args (a failed task keeps them), stores the payload, counts the outcome, tells
//  the store and starts the retention clock. The record may move: use the
//  returned pointer. Subscribers must have been served and cleared first.
task_t *tasks_finish (tasks_t *self, task_t *task, zj_state_t state,
                      const uint8_t *payload, size_t len, double now);
//  The final record that finished last, or NULL; ->prev goes back in
//  finish order (the retention list).
task_t *tasks_newest_final (const tasks_t *self);
//  The outcome payload of a final task, or NULL (TASK_NO_OUTCOME).
const uint8_t *tasks_payload (const task_t *task, size_t *len);
//  A task's args: those it runs with while queued or running, those a
//  failed task kept; NULL when none are kept (done, cancelled). Borrowed.
const uint8_t *tasks_args (const task_t *task, size_t *len);
//  Queue a failed task that kept its args again (RETRY): it leaves the
//  retention list, its blob becomes its args, its state QUEUED with
//  `now` as its new submit time, TASK_DEAD is cleared, and the store is
//  told (store_reopen: set task->attempts first). The caller queues it.
//  The record may move: use the returned pointer. NULL (nothing changed)
//  when it is not failed or kept no args.
task_t *tasks_reopen (tasks_t *self, task_t *task, double now);

//  Called for each record tasks_expire deletes, before it is freed.
typedef void (tasks_expire_cb) (void *arg, task_t *task);
//  Delete at most `max` final records whose finish time is `retention`
//  seconds or more before `now`, oldest first. Returns how many; *more is
//  set when further records are already due.
size_t tasks_expire (tasks_t *self, double now, double retention, size_t max,
                     tasks_expire_cb *cb, void *arg, bool *more);
