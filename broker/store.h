// SPDX-License-Identifier: MIT
//  store - the persistence interface zjobd calls at every state change,
//  as a vtable so that backends can be swapped: memory (keeps nothing)
//  and SQLite (store_sqlite.c). Calls within one loop turn form one group
//  commit: the broker sends replies that promise durability (SUBMITTED)
//  only after commit_turn said they are stored.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "msg.h"
#include "tasks.h"

typedef struct store store_t;

//  One run of a task that ended without finishing it (an entry of the
//  task's attempt log, attempts.h), as the store keeps it. Times are unix
//  seconds: the broker converts from and to its monotonic clock.
typedef struct {
    uint16_t n;                 //  its place in the task's history: 1, 2, ...
    zj_str_t host;              //  the worker's host, "" when unknown
    int64_t pid;                //  the worker's pid, 0 when unknown
    double start;               //  when it was dispatched, 0 when unknown
    double end;                 //  when it ended
    uint8_t outcome;            //  attempt_outcome_t
    zj_str_t error;             //  error type, "" when none
} store_attempt_t;

//  One task as a backend saved it, handed to the broker on recover.
//  Views are valid for the duration of the callback only.
typedef struct {
    uint64_t gen;               //  ticket generation
    uint64_t seq;               //  ticket sequence number
    zj_str_t fn;                //  function name
    zj_state_t state;           //  as saved; RUNNING means it was out on a worker
    const uint8_t *blob;        //  args (queued/running) or outcome payload (final)
    size_t len;                 //  blob bytes
    int64_t priority;           //  submit options
    double timeout;
    uint16_t max_retries;
    uint16_t attempts;          //  dispatches lost with their worker, not
                                //  counting the one a RUNNING task was on
    bool chunk;
    double age;                 //  seconds since submit (queued) or finish (final)
    const uint8_t *retry_on;    //  SUBMIT's retry_on (a msgpack array), or NULL
    size_t retry_len;
    //  Final records: the run that finished the task ("" / 0 / 0 when
    //  none ran, e.g. cancelled while queued) and, for a failed one, the
    //  args kept so that it can be retried (NULL when not kept).
    zj_str_t host;              //  its worker's host
    int64_t pid;                //  its worker's pid
    double run;                 //  seconds it ran
    bool dead;                  //  failed after its retries ran out (TASK_DEAD)
    const uint8_t *args;
    size_t args_len;
    //  RUNNING records: unix seconds of the dispatch, 0 when unknown.
    double dispatched;
    //  Earlier runs that did not finish the task, oldest first.
    const store_attempt_t *runs;
    size_t nruns;
} store_record_t;

//  One remembered idempotent SUBMIT: (client, req) got `count` tickets
//  from (gen, seq) on.
typedef struct {
    zj_str_t client;            //  the client's id
    uint64_t req;               //  its request id
    uint64_t gen;               //  generation of the tickets
    uint64_t seq;               //  sequence number of the first ticket
    uint32_t count;             //  tickets, consecutive
    double age;                 //  seconds since the submit
} store_submit_t;

//  What recover reports, in this order: every earlier generation, every
//  remembered submit (oldest first), then every task (in submit order
//  within a generation, generations in the order they started). Each
//  callback returns ZJ_OK to go on, anything else to stop recovery with
//  that error.
typedef struct {
    zj_err_t (*generation) (void *arg, uint64_t gen, uint64_t max_seq);
    zj_err_t (*submit) (void *arg, const store_submit_t *sub);
    zj_err_t (*task) (void *arg, const store_record_t *rec);
    void *arg;                  //  passed to each
} store_recover_t;

//  Every operation returns ZJ_OK, or ZJ_ENOSPC / ZJ_EIO when the backend
//  could not take the change. Changes are only buffered until
//  commit_turn, which writes them in one transaction. When that fails,
//  the turn's new tasks and new submits are dropped (the broker refuses
//  them) and every other change is kept and written again at the next
//  commit: tasks already accepted go on.
typedef struct {
    const char *name;                                       //  "memory", "sqlite"
    //  Start generation `gen` (ZJ_EINVAL: it is taken; draw another).
    zj_err_t (*start_generation) (store_t *self, uint64_t gen);
    zj_err_t (*begin_turn) (store_t *self);                 //  a loop turn starts
    zj_err_t (*commit_turn) (store_t *self);                //  make the turn durable
    //  New, queued tasks, with their retry_on (task->log) when they have one.
    zj_err_t (*put_tasks) (store_t *self, task_t *const *tasks, size_t count);
    zj_err_t (*set_state) (store_t *self, const task_t *task);      //  queued <-> running
    //  Final state + payload; also the worker (task->who) and run time
    //  (task->run) of the run that finished it, and TASK_DEAD.
    zj_err_t (*put_outcome) (store_t *self, const task_t *task);
    //  A run that ended without finishing the task: one entry of its
    //  attempt log, kept until the task is deleted. Writing an entry with
    //  an n already stored replaces it. Only for a task whose log
    //  (task->log) is set: delete_task looks there to know that the task
    //  has runs to delete.
    zj_err_t (*put_attempt) (store_t *self, const task_t *task, const store_attempt_t *a);
    //  A failed task queued again (RETRY): it is no longer final (its
    //  outcome goes), its args are the stored ones, its attempts count is
    //  task->attempts and it is not running. Changes to one task within a
    //  turn take effect in call order (an outcome, a reopen, then another
    //  outcome leaves the last one).
    zj_err_t (*reopen) (store_t *self, const task_t *task);
    zj_err_t (*delete_task) (store_t *self, const task_t *task);    //  retention ended
    //  Remember an idempotent submit / forget it (retention ended).
    zj_err_t (*put_submit) (store_t *self, zj_str_t client, uint64_t req, uint64_t gen,
                            uint64_t seq, uint32_t count);
    zj_err_t (*delete_submit) (store_t *self, zj_str_t client, uint64_t req);
    //  Every task out on a worker right now, so that older dispatch
    //  records can go; called when backlog says they have piled up.
    zj_err_t (*put_running) (store_t *self, task_t *const *tasks, size_t count);
    //  Dispatches recorded since the last put_running.
    size_t (*backlog) (store_t *self);
    zj_err_t (*recover) (store_t *self, const store_recover_t *cb);
    //  True while commits fail (changes are waiting to be written again).
    bool (*degraded) (store_t *self);
    //  The last failure in words, naming the file; "" when none. Borrowed.
    const char *(*why) (store_t *self);
    void (*destroy) (store_t *self);                         //  free the backend
} store_ops_t;

//  Backends embed this as their first member.
struct store {
    const store_ops_t *ops;     //  the backend's operations
};

//  The memory backend: every call succeeds and keeps nothing.
//  Caller owns; free with store_destroy. NULL on OOM.
store_t *store_mem_new (void);

//  The SQLite backend's settings.
typedef struct {
    const char *dir;            //  state directory, made when missing
    bool full_sync;             //  fsync every commit (durability full)
    uint32_t max_pages;         //  0, or a page limit (tests: a full disk)
} store_sqlite_config_t;

//  Open (or create) DIR/zjob.db, with an exclusive lock on the
//  directory. On failure returns NULL and writes into `why` what went
//  wrong, naming the file, and what to do. Caller owns; free with
//  store_destroy.
store_t *store_sqlite_new (const store_sqlite_config_t *config, char *why, size_t why_len);

//  Free any backend; sets *self_p to NULL. Safe on NULL.
static inline void
store_destroy (store_t **self_p)
{
    if (self_p && *self_p) {
        (*self_p)->ops->destroy (*self_p);
        *self_p = NULL;
    }
}

//  start_generation, put_attempt, reopen, put_submit, delete_submit,
//  put_running, backlog, degraded and why may be NULL in a backend (a test double): nothing to
//  do, never degraded.
static inline zj_err_t store_start_generation (store_t *s, uint64_t gen) { return s->ops->start_generation ? s->ops->start_generation (s, gen) : ZJ_OK; }
static inline zj_err_t store_begin_turn (store_t *s) { return s->ops->begin_turn (s); }
static inline zj_err_t store_commit_turn (store_t *s) { return s->ops->commit_turn (s); }
static inline zj_err_t store_put_tasks (store_t *s, task_t *const *t, size_t n) { return s->ops->put_tasks (s, t, n); }
static inline zj_err_t store_set_state (store_t *s, const task_t *t) { return s->ops->set_state (s, t); }
static inline zj_err_t store_put_outcome (store_t *s, const task_t *t) { return s->ops->put_outcome (s, t); }
static inline zj_err_t store_delete_task (store_t *s, const task_t *t) { return s->ops->delete_task (s, t); }
static inline zj_err_t store_put_attempt (store_t *s, const task_t *t, const store_attempt_t *a) { return s->ops->put_attempt ? s->ops->put_attempt (s, t, a) : ZJ_OK; }
static inline zj_err_t store_reopen (store_t *s, const task_t *t) { return s->ops->reopen ? s->ops->reopen (s, t) : ZJ_OK; }
static inline zj_err_t store_put_submit (store_t *s, zj_str_t client, uint64_t req, uint64_t gen, uint64_t seq, uint32_t count) { return s->ops->put_submit ? s->ops->put_submit (s, client, req, gen, seq, count) : ZJ_OK; }
static inline zj_err_t store_delete_submit (store_t *s, zj_str_t client, uint64_t req) { return s->ops->delete_submit ? s->ops->delete_submit (s, client, req) : ZJ_OK; }
static inline zj_err_t store_recover (store_t *s, const store_recover_t *cb) { return s->ops->recover (s, cb); }
static inline zj_err_t store_put_running (store_t *s, task_t *const *t, size_t n) { return s->ops->put_running ? s->ops->put_running (s, t, n) : ZJ_OK; }
static inline size_t store_backlog (store_t *s) { return s->ops->backlog ? s->ops->backlog (s) : 0; }
static inline bool store_degraded (store_t *s) { return s->ops->degraded && s->ops->degraded (s); }
static inline const char *store_why (store_t *s) { return s->ops->why ? s->ops->why (s) : ""; }
