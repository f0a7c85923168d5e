// SPDX-License-Identifier: MIT
//  wait - zj_wait and zj_as_completed. Each call registers one waiter on
//  the futures it watches, so a settle wakes exactly the threads that
//  wait for that future (no thundering herd on a shared condition).
#include "wait.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "future.h"

struct zj_iter {
    zj__waiter_t waiter;        //  ready[] lists settled futures in settle order
    zj__wnode_t *nodes;         //  one registration per future
    zj_future_t **futures;      //  copy of the caller's array; futures borrowed
    size_t count;               //  futures watched
    size_t yielded;             //  ready entries handed out
};

zj_iter_t *zj__iter_new (zj_future_t **futures, size_t count, size_t weight,
                         size_t last_weight)
{
    zj_iter_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->count = count;
    self->nodes = calloc (count ? count : 1, sizeof *self->nodes);
    self->futures = malloc ((count ? count : 1) * sizeof *self->futures);
    if (!self->nodes || !self->futures || !zj__waiter_init (&self->waiter, count ? count : 1)) {
        free (self->nodes);
        free (self->futures);
        free (self);
        return NULL;
    }
    if (count)
        memcpy (self->futures, futures, count * sizeof *futures);
    zj__lock ();
    for (size_t i = 0; i < count; i++) {
        zj_future_t *f = futures[i];
        size_t w = i + 1 == count ? last_weight : weight;
        if (zj__future_final (f)) {
            self->waiter.ready[self->waiter.nready++] = i;
            self->waiter.nsettled++;
            self->waiter.weight_final += w;
        }
        else
            zj__wnode_link (&self->nodes[i], &self->waiter, f, i, w);
    }
    zj__unlock ();
    return self;
}

zj_iter_t *zj_as_completed (zj_future_t **futures, size_t count)
{
    if (!futures && count)
        return NULL;
    return zj__iter_new (futures, count, 1, 1);
}

size_t zj__iter_weight_final (zj_iter_t *self)
{
    zj__lock ();
    size_t weight = self->waiter.weight_final;
    zj__unlock ();
    return weight;
}

size_t zj__iter_next_index (zj_iter_t *self, double timeout, zj_err_t *err)
{
    struct timespec ts;
    const struct timespec *deadline = zj__deadline (timeout, &ts);
    size_t index = SIZE_MAX;
    zj_err_t rc = ZJ_OK;
    zj__lock ();
    bool in_time = timeout != 0;
    while (self->yielded == self->waiter.nready && self->yielded < self->count && in_time)
        in_time = zj__cond_wait (&self->waiter.cv, deadline);
    if (self->yielded < self->waiter.nready)
        index = self->waiter.ready[self->yielded++];
    else if (self->yielded < self->count)
        rc = ZJ_ETIMEDOUT;
    zj__unlock ();
    if (err)
        *err = rc;
    return index;
}

zj_future_t *zj_iter_next (zj_iter_t *self, double timeout, zj_err_t *err)
{
    size_t index = zj__iter_next_index (self, timeout, err);
    return index == SIZE_MAX ? NULL : self->futures[index];
}

void zj_iter_destroy (zj_iter_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zj_iter_t *self = *self_p;
    zj__lock ();
    for (size_t i = 0; i < self->count; i++)
        zj__wnode_unlink (&self->nodes[i]);
    zj__unlock ();
    zj__waiter_fini (&self->waiter);
    free (self->nodes);
    free (self->futures);
    free (self);
    *self_p = NULL;
}

static bool s_condition (zj_return_when_t when, size_t count, size_t final, size_t failed)
{
    if (final == count)
        return true;
    if (when == ZJ_FIRST_COMPLETED)
        return final > 0;
    if (when == ZJ_FIRST_EXCEPTION)
        return failed > 0;
    return false;
}

size_t zj_wait (zj_future_t **futures, size_t count, zj_return_when_t when,
                double timeout, bool *done)
{
    struct timespec ts;
    const struct timespec *deadline = zj__deadline (timeout, &ts);
    size_t final = 0, failed = 0;
    zj__lock ();
    for (size_t i = 0; i < count; i++) {
        if (zj__future_final (futures[i])) {
            final++;
            failed += futures[i]->state == ZJ_FUTURE_FAILED;
        }
    }
    zj__waiter_t w;
    zj__wnode_t *nodes = NULL;
    if (!s_condition (when, count, final, failed) && timeout != 0
        && (nodes = calloc (count, sizeof *nodes)) && zj__waiter_init (&w, 0)) {
        for (size_t i = 0; i < count; i++)
            if (!zj__future_final (futures[i]))
                zj__wnode_link (&nodes[i], &w, futures[i], i, 1);
        bool in_time = true;
        while (in_time && !s_condition (when, count, final + w.nsettled, failed + w.nfailed))
            in_time = zj__cond_wait (&w.cv, deadline);
        for (size_t i = 0; i < count; i++)
            zj__wnode_unlink (&nodes[i]);
        zj__waiter_fini (&w);
    }
    free (nodes);
    final = 0;
    for (size_t i = 0; i < count; i++) {
        bool is_final = zj__future_final (futures[i]);
        final += is_final;
        if (done)
            done[i] = is_final;
    }
    zj__unlock ();
    return final;
}
