// SPDX-License-Identifier: MIT
//  store_mem - the memory backend (--durability memory): keeps nothing,
//  so a restart loses every task. Every call succeeds at once.
#include "store.h"
#include <stdlib.h>

static zj_err_t s_gen (store_t *self, uint64_t gen) { return ZJ_OK; }
static zj_err_t s_turn (store_t *self) { return ZJ_OK; }
static zj_err_t s_put_tasks (store_t *self, task_t *const *tasks, size_t count) { return ZJ_OK; }
static zj_err_t s_one (store_t *self, const task_t *task) { return ZJ_OK; }
static zj_err_t s_put_submit (store_t *self, zj_str_t client, uint64_t req, uint64_t gen,
                              uint64_t seq, uint32_t count) { return ZJ_OK; }
static zj_err_t s_delete_submit (store_t *self, zj_str_t client, uint64_t req) { return ZJ_OK; }
static zj_err_t s_recover (store_t *self, const store_recover_t *cb) { return ZJ_OK; }
static bool s_degraded (store_t *self) { return false; }
static const char *s_why (store_t *self) { return ""; }
static void s_destroy (store_t *self) { free (self); }

static const store_ops_t s_ops = {
    .name = "memory",
    .start_generation = s_gen,
    .begin_turn = s_turn,
    .commit_turn = s_turn,
    .put_tasks = s_put_tasks,
    .set_state = s_one,
    .put_outcome = s_one,
    .delete_task = s_one,
    .put_submit = s_put_submit,
    .delete_submit = s_delete_submit,
    .recover = s_recover,
    .degraded = s_degraded,
    .why = s_why,
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
