// SPDX-License-Identifier: MIT
//  store_sqlite_int - the SQLite backend's private state, shared by
//  store_sqlite.c (the turn log and its group commit), store_open.c
//  (state directory, lock, schema, checks) and store_recover.c. Nothing
//  else includes this.
#pragma once
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hmap.h"
#include "store.h"

//  A task's row id: the generation's slot (1..SLOT_MAX) above the
//  sequence number, so that a generation's tasks are one id range in
//  submit order and rows are appended at the end of the table.
#define STORE_SEQ_BITS 48
#define STORE_SEQ_MAX ((UINT64_C (1) << STORE_SEQ_BITS) - 1)
#define STORE_SLOT_MAX 32767
#define STORE_ID(slot, seq) ((int64_t) (((uint64_t) (slot) << STORE_SEQ_BITS) | (seq)))

//  Rows written by one statement at most: several rows per statement
//  save most of SQLite's per-statement cost; 64 rows of tasks stay far
//  below the parameter limit.
#define STORE_ROWS 64
//  Statement sizes: 64 rows, then 8, then 1 for what is left.
#define STORE_SIZES 3

//  The schema version in PRAGMA user_version, and 'zjob' in
//  PRAGMA application_id so that another program's database is refused.
//  Version 1 (no attempt history, retry_on or dead letters) is upgraded
//  in place when opened (store_open.c).
#define STORE_SCHEMA_VERSION 2
#define STORE_APP_ID 0x7a6a6f62

//  Buffered changes of a turn. Bytes (function names, args, payloads,
//  client ids) are copied into the arena: a task may be freed or moved
//  before the commit.
typedef struct {
    int64_t id;                 //  row id
    uint64_t seq;               //  for the ticket text
    size_t fn;                  //  arena offset of the function name
    size_t args;                //  arena offset of the args
    uint32_t fn_len;
    uint32_t args_len;
    int64_t priority;
    double timeout;
    uint16_t max_retries;
    uint16_t attempts;
    bool chunk;
    uint32_t retry_len;         //  bytes of retry_on, 0 when none
    size_t retry;               //  arena offset of retry_on
} store_ins_t;

//  A task taken back from a worker (requeue), or reopened (RETRY).
typedef struct {
    int64_t id;                 //  row id
    uint16_t attempts;          //  attempts so far
    int64_t requeued;           //  the last dispatch row written before it
    double submitted;           //  reopen: its new submit time (unix); 0: unchanged
} store_state_t;

//  A task sent to a worker: recorded as one id in a dispatch row.
typedef struct {
    int64_t id;                 //  task row id
    int64_t row;                //  dispatches row id it goes into
} store_disp_t;

//  A worker identity (host, pid) and its row in the runners table, so
//  that outcomes and attempts name their worker with one integer. Made
//  by the loop (store_runner_get) the first time the store meets the
//  identity, or loaded when the store opens; the writer thread reads id,
//  pid and host, which never change, and the entry lives until the store
//  closes (or, never used, until recovery prunes its row).
typedef struct {
    int64_t id;                 //  runners.id, from 1
    uint32_t host_len;          //  bytes of host
    bool logged;                //  its row is on disk or in a chunk's log
    bool used;                  //  named by a row recovery read or by a
                                //  change logged since the store opened
    int64_t pid;                //  0 when the worker gave none
    char host[];                //  NUL-terminated, may be empty; with pid
                                //  before it, the key of the runners map
} store_runner_t;
_Static_assert (offsetof (store_runner_t, host) == offsetof (store_runner_t, pid) + sizeof (int64_t),
                "the runners map's key is pid and host, adjacent");

//  Hosts longer than this are cut (a worker's READY carries at most 255).
#define STORE_HOST_MAX 255

//  The direct-mapped cache from an interned identity (attempts.h) to its
//  runner: one compare per outcome instead of hashing the host. Entries
//  are checked against the runner's host and pid, so an identity freed
//  and another made at its address cannot be mistaken for it.
#define STORE_WHO_CACHE 256
typedef struct {
    const void *who;            //  the attempt_who_t, or NULL
    store_runner_t *runner;     //  its runner
} store_who_t;

//  A final state, or (state 0, STORE_REOPEN) a reopen that deletes it.
//  Both go into one vector so that the writer applies them to the
//  outcomes table in call order: outcome, reopen, outcome in one turn
//  leaves the last.
#define STORE_REOPEN 0
typedef struct {
    int64_t id;                 //  row id
    uint8_t state;              //  DONE, FAILED or CANCELLED; STORE_REOPEN
    bool has_payload;           //  false: the outcome was lost (OOM)
    bool has_who;               //  a run finished it: run is set
    bool dead;                  //  TASK_DEAD
    int64_t runner;             //  its worker's runners.id, 0 when unknown
    double run;                 //  seconds the finishing run took
    size_t off;                 //  arena offset of the payload
    size_t len;
} store_out_t;

//  A run that ended without finishing its task (put_attempt).
typedef struct {
    int64_t id;                 //  task row id
    uint16_t n;                 //  its place in the task's history
    uint8_t outcome;            //  attempt_outcome_t
    uint32_t error_len;
    size_t error;               //  arena offset of the error type
    int64_t runner;             //  its worker's runners.id, 0 when unknown
    double start;               //  unix seconds, 0 when unknown
    double end;
} store_att_t;

typedef struct {
    size_t client;              //  arena offset of the client id
    uint32_t client_len;
    uint64_t req;
    int64_t first;              //  row id of the first ticket (put only)
    uint32_t count;             //  tickets (put only)
} store_sub_t;

//  A growable array of fixed-size items, reused across turns.
typedef struct {
    void *items;
    size_t n;
    size_t cap;
} store_vec_t;

typedef struct store_ckpt store_ckpt_t;
typedef struct store_writer store_writer_t;

//  The slot of an earlier generation.
typedef struct {
    uint64_t gen;               //  generation
    int64_t slot;               //  its slot
} store_slot_t;

//  The statements, prepared once.
typedef enum {
    ST_BEGIN, ST_COMMIT, ST_ROLLBACK,
    ST_REQUEUE, ST_DISPATCH, ST_TRIM,
    ST_SUB_PUT, ST_SUB_DEL, ST_GEN_MAXSEQ, ST_ATTEMPT, ST_RUNNER,
    ST_COUNT
} store_st_t;

typedef enum {
    MR_INSERT, MR_OUTCOME, MR_DEL_TASKS, MR_DEL_OUTCOMES, MR_DEL_ATTEMPTS,
    MR_COUNT
} store_mr_t;

//  A piece of a turn's log: the changes, with their bytes (function
//  names, args, payloads, client ids) copied into the chunk's arena,
//  since a task may be freed or moved before the commit. Filled by the
//  loop; handed to the writer thread when full, so that SQLite works on
//  it while the loop goes on with the turn; never touched by the loop
//  again until the writer has said how the commit went.
typedef struct store_chunk store_chunk_t;
struct store_chunk {
    store_chunk_t *next;        //  in a turn, the pending list or the free list
    store_chunk_t *qnext;       //  in the writer's queue
    store_vec_t ins;            //  store_ins_t: new tasks
    store_vec_t states;         //  store_state_t: requeues and reopens
    store_vec_t disp;           //  store_disp_t: dispatches, in row order
    store_vec_t outs;           //  store_out_t: outcomes and reopens
    store_vec_t atts;           //  store_att_t: runs that did not finish
    store_vec_t runners;        //  store_runner_t *: rows for identities
                                //  first named in this chunk; they need
                                //  no arena, so no failure drops them
    store_vec_t dels;           //  int64_t: ids whose retention ended
    store_vec_t atts_dels;      //  int64_t: those of them with runs on
                                //  record (few: the rest skip the
                                //  attempts table, which costs per id)
    store_vec_t sub_puts;       //  store_sub_t
    store_vec_t sub_dels;       //  store_sub_t
    uint8_t *arena;             //  the bytes the items point into
    size_t arena_len;
    size_t arena_cap;
    size_t items;               //  logged items, to decide when it is full
    bool failed;                //  an allocation failed while logging it
    double now;                 //  wall clock for its rows (unix seconds)
    int64_t trim_below;         //  delete dispatch rows below this id (0: none)
    bool commit;                //  the last chunk of a transaction
    uint64_t gen_seq;           //  commit: write generations.max_seq (0: no)
};

typedef struct {
    store_t base;               //  ops; must be first
    sqlite3 *db;                //  the connection (the writer's, once started)
    char *path;                 //  DIR/zjob.db
    char *dir;                  //  the state directory
    int lock_fd;                //  DIR/zjob.lock, flock'ed while open
    bool full_sync;             //  synchronous=FULL
    uint64_t gen;               //  the current generation
    int64_t slot;               //  its slot
    uint64_t max_seq;           //  highest sequence number committed
    uint64_t gen_written;       //  ... as the generations row says
    uint64_t turn_max_seq;      //  ... including this turn's inserts
    bool turn_dels;             //  this turn deletes tasks
    double now;                 //  wall clock of the turn (unix seconds)
    bool turn_open;             //  begin_turn called
    bool degraded;              //  the last commit failed with changes kept
    char why[700];              //  the last failure in words
    sqlite3_stmt *st[ST_COUNT];                 //  one-row statements
    sqlite3_stmt *mr[MR_COUNT][STORE_SIZES];    //  multi-row statements
    //  The log, loop side
    store_chunk_t *cur;         //  being filled, or NULL
    store_chunk_t *turn_head;   //  handed to the writer this turn
    store_chunk_t *turn_tail;
    store_chunk_t *pending;     //  kept from failed commits, written first
    store_chunk_t *spare;       //  free chunks, buffers kept
    bool reading;               //  the loop uses the connection (recovery):
                                //  no chunk goes to the writer meanwhile
    //  The writer thread (store_write.c)
    store_writer_t *writer;
    store_slot_t *slots;        //  earlier generations' slots, sorted by gen
    size_t nslots;
    store_ckpt_t *ckpt;         //  the checkpoint thread, or NULL
    //  Dispatches are kept as rows of many task ids (one per turn), not a
    //  row per task: a task is running when a dispatch row newer than its
    //  `requeued` mark holds it. A snapshot of every running task lets
    //  older rows go.
    int64_t dseq;               //  the last dispatch row id handed out
    bool disp_open;             //  dispatches may join row dseq
    size_t backlog;             //  dispatch ids written since the last snapshot
    char *json;                 //  the writer's scratch for a row's id list
    size_t json_cap;
    //  Worker identities (store_recover.c), loop side.
    hmap_t *runners;            //  (pid, host) -> store_runner_t, owns them
    hmap_t *runner_ids;         //  runners.id -> the same entries
    int64_t next_runner;        //  the id the next new identity gets
    store_who_t who_cache[STORE_WHO_CACHE];
} store_sqlite_t;

//  Rows per statement of size index i (64, 8, 1).
extern const int store_sizes[STORE_SIZES];

//  store_open.c: make the directory, take the lock, open and check the
//  database, create the schema and prepare the statements. False with
//  self->why set on failure.
bool store_open (store_sqlite_t *self, const store_sqlite_config_t *config);
//  Finalize statements, close the database, drop the lock.
void store_close (store_sqlite_t *self);
//  Record the SQLite error of the last call in self->why, with context.
//  Returns ZJ_ENOSPC for a full disk or store, ZJ_EIO for the rest.
zj_err_t store_fail (store_sqlite_t *self, int rc, const char *what);
//  Wall clock, unix seconds.
double store_wall (void);

//  store_ckpt.c: checkpoints in a thread of their own, woken by the
//  loop's connection after commits. False with self->why set.
bool store_ckpt_start (store_sqlite_t *self);
//  Stop and join the thread (before the loop's connection closes).
void store_ckpt_stop (store_sqlite_t *self);

//  store_write.c: the writer thread runs the SQL of the chunks it is
//  handed; the chunk marked commit ends the transaction.
bool store_writer_start (store_sqlite_t *self);
void store_writer_stop (store_sqlite_t *self);
//  Hand chunks over (a list linked by ->qnext, in order). Loop thread.
void store_writer_put (store_sqlite_t *self, store_chunk_t *first, store_chunk_t *last);
//  Wait until the writer has finished a chunk marked commit; returns its
//  SQLite result and, on failure, the step (*what). Loop thread.
int store_writer_wait (store_sqlite_t *self, const char **what);

//  store_recover.c: the recover operation; it also learns the slots of
//  earlier generations.
zj_err_t store_recover_all (store_t *base, const store_recover_t *cb);
//  start_generation: pick a slot and insert the generation's row.
zj_err_t store_generation_start (store_t *base, uint64_t gen);
//  The row id of (gen, seq) for a generation recovered earlier (0 when
//  the generation is unknown: nothing then matches it).
int64_t store_recover_id (const store_t *base, uint64_t gen, uint64_t seq);
//  Free what recovery kept.
void store_recover_free (store_t *base);
//  Read the runners table into self->runners (at open, before anything
//  is logged) and learn the next free id. False with self->why set.
bool store_runners_load (store_sqlite_t *self);
//  The runner of identity (host, pid), made (with the next id, not yet
//  logged) when new; NULL when the identity names no one ("" and 0) or
//  on OOM. Loop thread.
store_runner_t *store_runner_get (store_sqlite_t *self, const char *host, size_t len,
                                  int64_t pid);
//  Free every runner (when the store closes, after the writer stopped).
void store_runners_free (store_sqlite_t *self);

//  qsort/bsearch order of row ids, shared by the loop's and the writer's
//  filtering of deleted tasks.
static inline int
store_cmp_id (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  True when `id` is among the n sorted ids.
static inline bool
store_id_in (const int64_t *ids, size_t n, int64_t id)
{
    return n && bsearch (&id, ids, n, sizeof id, store_cmp_id);
}

//  Keep the items of vector v (of `size`-byte items whose first field is
//  a row id) that are not among the n sorted ids.
static inline void
store_vec_drop_ids (store_vec_t *v, size_t size, const int64_t *ids, size_t n)
{
    if (!n)
        return;
    size_t k = 0;
    for (size_t i = 0; i < v->n; i++) {
        uint8_t *item = (uint8_t *) v->items + i * size;
        if (!store_id_in (ids, n, *(const int64_t *) item)) {
            if (k != i)
                memmove ((uint8_t *) v->items + k * size, item, size);
            k++;
        }
    }
    v->n = k;
}

//  Drop the changes of the n sorted ids (deleted or refused tasks) from
//  c: inserts, requeues, outcomes, reopens and attempts. Dispatch rows
//  are the caller's choice.
static inline void
store_chunk_drop_ids (store_chunk_t *c, const int64_t *ids, size_t n)
{
    store_vec_drop_ids (&c->ins, sizeof (store_ins_t), ids, n);
    store_vec_drop_ids (&c->states, sizeof (store_state_t), ids, n);
    store_vec_drop_ids (&c->outs, sizeof (store_out_t), ids, n);
    store_vec_drop_ids (&c->atts, sizeof (store_att_t), ids, n);
}
