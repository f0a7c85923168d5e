// SPDX-License-Identifier: MIT
//  store_mem - the memory backend: keeps nothing, so a restart loses
//  every task. The seam where the SQLite backend will plug in.
#include "store.h"
#include <stdlib.h>

static zj_err_t s_turn (store_t *self) { return ZJ_OK; }
static zj_err_t s_put_tasks (store_t *self, task_t *const *tasks, size_t count) { return ZJ_OK; }
static zj_err_t s_one (store_t *self, const task_t *task) { return ZJ_OK; }
static zj_err_t s_recover (store_t *self, store_recover_cb *cb, void *arg) { return ZJ_OK; }
static void s_destroy (store_t *self) { free (self); }

static const store_ops_t s_ops = {
    .name = "memory",
    .begin_turn = s_turn,
    .commit_turn = s_turn,
    .put_tasks = s_put_tasks,
    .set_state = s_one,
    .put_outcome = s_one,
    .delete_task = s_one,
    .recover = s_recover,
    .destroy = s_destroy,
};

store_t *
store_mem_new (void)
{
    store_t *self = malloc (sizeof *self);
    if (self)
        self->ops = &s_ops;
    return self;
}
