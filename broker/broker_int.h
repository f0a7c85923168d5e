// SPDX-License-Identifier: MIT
//  broker_int - the core's private state, shared by broker.c (turns,
//  outbox, task endings), clients.c, workers.c and stats.c. Nothing
//  outside broker_*.c, clients.c, workers.c and stats.c includes this.
#pragma once
#include "attempts.h"
#include "broker.h"
#include "dedup.h"
#include "metrics.h"
#include "peers.h"
#include "sched.h"
#include "tasks.h"

//  What an outbox entry carries, for handling a failed send.
typedef enum {
    OUT_REPLY = 0,              //  anything but TASKS
    OUT_TASKS,                  //  a TASKS batch: failure takes the tasks back
} out_kind_t;

typedef struct {
    uint8_t sock;               //  broker_sock_t
    uint8_t kind;               //  out_kind_t
    peer_id_t id;               //  destination
    uint8_t *body;              //  owned frame bytes (malloc)
    size_t len;                 //  frame size
    worker_t *worker;           //  OUT_TASKS: destination record
    task_t *first;              //  OUT_TASKS: first task, the rest follow by ->next
    uint32_t ntasks;            //  OUT_TASKS: how many
} out_t;

//  An ABORT owed to a worker for one ticket, sent with the next flush.
typedef struct {
    worker_t *worker;           //  holder when the task was taken back
    uint64_t gen;               //  the ticket
    uint64_t seq;
} abort_t;

//  When a running task with a timeout is failed by the broker itself (the
//  worker's own timer should have fired first). An entry is stale once
//  the task left that dispatch: `wait` (submit to dispatch) then differs.
typedef struct {
    double at;                  //  dispatch + timeout + grace
    uint64_t gen;               //  the ticket
    uint64_t seq;
    float wait;                 //  task->wait of that dispatch
} deadline_t;

//  Set on a held task while READY's "held" list is matched (workers.c).
#define TASK_MARK 0x08

//  A SUBMIT answered in this turn. If the turn's commit fails, its new
//  tasks are taken back and its reply becomes ERROR NoSpace.
typedef struct {
    size_t out;                 //  outbox index of the SUBMITTED reply
    uint64_t req;               //  the request, for the ERROR
    uint64_t seq;               //  first new task's sequence number
    uint32_t n;                 //  new tasks (0: a resend answered from dedup)
    dedup_entry_t *entry;       //  (client, req) remembered this turn, or NULL
} turn_submit_t;

struct broker {
    broker_config_t cfg;        //  limits and timings
    uint64_t gen;               //  ticket generation
    char gen_text[9];           //  the same, as text
    double started;             //  start time, for uptime
    store_t *store;             //  borrowed persistence backend
    bool turn_open;             //  store_begin_turn called, commit pending
    tasks_t *tasks;             //  the ticket table
    sched_t *sched;             //  queues and dispatch
    peers_t *peers;             //  workers and clients
    zj_enc_t *enc;              //  replies being built
    zj_enc_t *tmp;              //  small payloads (error triples)
    zj_enc_t *hdr;              //  RESULT headers, built while tmp may be in use
    out_t *out;                 //  messages queued for the end of the turn
    size_t nout;
    size_t cap_out;
    task_t **scratch_tasks;     //  per-request work arrays
    sched_fn_t **scratch_fns;
    size_t cap_scratch;
    metrics_t *metrics;         //  Prometheus series (report.c)
    dedup_t *dedup;             //  idempotent submits by (client, req)
    turn_submit_t *turn_subs;   //  SUBMITs answered this turn
    size_t nturn_subs;
    size_t cap_turn_subs;
    bool store_bad;             //  a commit failed; not yet all written again
    double store_retry;         //  last retry of a degraded store
    double store_warned;        //  last warning about it
    abort_t *aborts;            //  ABORTs owed, sent with the next flush
    size_t naborts;
    size_t cap_aborts;
    deadline_t *deadlines;      //  min-heap on `at` of dispatched tasks
    size_t ndeadlines;          //  with a timeout (timeouts.c)
    size_t cap_deadlines;
    bool shutting_down;         //  refusing new work
    double warn_window;         //  start of the current bad-frame second
    uint32_t warn_count;        //  bad-frame warnings in it
    uint32_t warn_dropped;      //  warnings suppressed in it
    attempts_t *attempts;       //  interned worker identities of attempts
    size_t dead;                //  TASK_DEAD records held
};

//  Flush RESULT entries to a client's own message once this many bytes
//  are waiting, and cut TASKS batches at about the same size.
#define BROKER_BATCH_BYTES (1024 * 1024)

//  Start a store turn if none is open (every change happens inside one).
void broker_turn (broker_t *self);
//  Make sure the scratch arrays hold n entries. False on OOM.
bool broker_scratch (broker_t *self, size_t n);
//  Free the function records in fns[0..n) that nothing references, once
//  each even when listed twice.
void broker_release_fns (broker_t *self, sched_fn_t **fns, uint32_t n);
//  Queue the message in self->enc (or enc) for `id` on `sock`.
void broker_reply (broker_t *self, broker_sock_t sock, const peer_id_t *id, zj_enc_t *enc);
//  Queue an ERROR for `id`.
void broker_reply_error (broker_t *self, broker_sock_t sock, const peer_id_t *id,
                         uint64_t req, zj_err_t code, const char *message);
//  Log (rate-limited) a frame that could not be used and answer ERROR.
void broker_bad_frame (broker_t *self, broker_sock_t sock, const peer_id_t *id,
                       uint64_t req, zj_err_t code, const char *why, double now);
//  Bring an unlinked task to a final state: serve its subscribers a RESULT
//  entry, drop their subscriptions and store the outcome. Returns the
//  (possibly moved) record.
task_t *broker_finish (broker_t *self, task_t *task, zj_state_t state,
                       const uint8_t *payload, size_t len, double now);
//  Build a failed payload [type, message, traceback] in self->tmp.
void broker_error_payload (broker_t *self, const char *type, size_t tlen, const char *msg,
                           size_t mlen, const char *tb, size_t tblen);
//  A task held by a worker was taken away by the broker (cancel, timeout):
//  free its credit and owe the worker an ABORT for it (sent with the next
//  flush). The task is unlinked; the caller finishes it.
void broker_abort (broker_t *self, task_t *task);
//  A task its worker no longer holds (lost worker, or missing from READY
//  "held"), already unlinked: count the attempt, then requeue it in front
//  of its level or fail it WorkerLost when no attempts are left. Returns
//  true when it was requeued.
bool broker_task_lost (broker_t *self, task_t *task, double now);
//  A task whose run just ended without finishing it (`outcome`, with
//  error type `type`), already unlinked: when attempts are left, log the
//  run, count it and mark the task QUEUED (the caller requeues it) and
//  return true; else change nothing and return false.
bool broker_task_retry (broker_t *self, task_t *task, attempt_outcome_t outcome,
                        const char *type, size_t tlen, double now);
//  Append a run that did not finish the task to its attempt log and to
//  the store. On OOM the run is only missing from the history (logged).
void broker_log_attempt (broker_t *self, task_t *task, const attempt_t *a);
//  Fail an unlinked task whose last run was lost, with no retries left:
//  WorkerLost naming how its runs ended; a dead letter. Returns the
//  (possibly moved) record.
task_t *broker_fail_lost (broker_t *self, task_t *task, double now);
//  Seconds to add to the loop's monotonic clock for unix time.
double broker_wall_offset (void);
//  A worker vanished or said goodbye: requeue or fail what it held and
//  forget it. `why` goes to the log.
void broker_worker_lost (broker_t *self, worker_t *w, const char *why, bool warn, double now);

//  Note a SUBMIT answered this turn (its reply is the outbox entry at
//  index `out`). False on OOM.
bool broker_turn_submit (broker_t *self, size_t out, uint64_t req, uint64_t seq, uint32_t n,
                         dedup_entry_t *entry);
//  True when `entry` was made by a SUBMIT of this turn.
bool broker_turn_has (const broker_t *self, const dedup_entry_t *entry);
//  Commit the turn's changes (commit.c); when that fails, take back the
//  turn's SUBMITs and turn their replies into ERROR NoSpace.
void broker_commit (broker_t *self, double now);

//  Per-socket message handlers (clients.c, workers.c); msg is decoded.
void clients_handle (broker_t *self, const peer_id_t *id, zj_msg_t *msg, double now);
void workers_handle (broker_t *self, const peer_id_t *id, worker_t *w, zj_msg_t *msg,
                     double now);
//  Note the deadline of a task just dispatched with a timeout (timeouts.c).
void timeouts_arm (broker_t *self, const task_t *task);
//  Fail running tasks whose deadline passed, at most `max` per call.
//  Returns how many were failed.
size_t timeouts_check (broker_t *self, double now, size_t max);
//  Build STATS_REPLY for `req` into enc (stats.c).
void stats_encode (broker_t *self, zj_enc_t *enc, uint64_t req, double now);
