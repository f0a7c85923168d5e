// SPDX-License-Identifier: MIT
//  store - the persistence interface zjobd calls at every state change,
//  as a vtable so backends can be swapped (memory now, SQLite later).
//  Calls within one loop turn form one group commit: the broker sends
//  replies that promise durability (SUBMITTED) only after commit_turn.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "msg.h"
#include "tasks.h"

typedef struct store store_t;

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
    uint16_t attempts;
    bool chunk;
    double age;                 //  seconds since submit (queued) or finish (final)
} store_record_t;

//  Return ZJ_OK to go on, anything else to stop recovery with that error.
typedef zj_err_t (store_recover_cb) (void *arg, const store_record_t *rec);

//  Every operation returns ZJ_OK, or ZJ_ENOSPC / ZJ_EIO when the backend
//  could not take the change (the broker then refuses the request).
typedef struct {
    const char *name;                                       //  "memory", "sqlite"
    zj_err_t (*begin_turn) (store_t *self);                 //  a loop turn starts
    zj_err_t (*commit_turn) (store_t *self);                //  make the turn durable
    zj_err_t (*put_tasks) (store_t *self, task_t *const *tasks, size_t count);  //  new, queued
    zj_err_t (*set_state) (store_t *self, const task_t *task);      //  queued <-> running
    zj_err_t (*put_outcome) (store_t *self, const task_t *task);    //  final state + payload
    zj_err_t (*delete_task) (store_t *self, const task_t *task);    //  retention ended
    zj_err_t (*recover) (store_t *self, store_recover_cb *cb, void *arg);
    void (*destroy) (store_t *self);                         //  free the backend
} store_ops_t;

//  Backends embed this as their first member.
struct store {
    const store_ops_t *ops;     //  the backend's operations
};

//  The memory backend: every call succeeds and keeps nothing.
//  Caller owns; free with store_destroy. NULL on OOM.
store_t *store_mem_new (void);

//  Free any backend; sets *self_p to NULL. Safe on NULL.
static inline void
store_destroy (store_t **self_p)
{
    if (self_p && *self_p) {
        (*self_p)->ops->destroy (*self_p);
        *self_p = NULL;
    }
}

static inline zj_err_t store_begin_turn (store_t *s) { return s->ops->begin_turn (s); }
static inline zj_err_t store_commit_turn (store_t *s) { return s->ops->commit_turn (s); }
static inline zj_err_t store_put_tasks (store_t *s, task_t *const *t, size_t n) { return s->ops->put_tasks (s, t, n); }
static inline zj_err_t store_set_state (store_t *s, const task_t *t) { return s->ops->set_state (s, t); }
static inline zj_err_t store_put_outcome (store_t *s, const task_t *t) { return s->ops->put_outcome (s, t); }
static inline zj_err_t store_delete_task (store_t *s, const task_t *t) { return s->ops->delete_task (s, t); }
static inline zj_err_t store_recover (store_t *s, store_recover_cb *cb, void *arg) { return s->ops->recover (s, cb, arg); }
