// SPDX-License-Identifier: MIT
//  tickets - the I/O thread's table from ticket to the futures waiting for
//  that ticket's RESULT (several futures may share a ticket: a submit and
//  a fetch, or two fetches). Only the I/O thread uses it; no locking.
#pragma once
#include <stdbool.h>
#include <stddef.h>

typedef struct zj_future zj_future_t;

typedef struct {
    zj_future_t **buckets;      //  chains linked through future->tnext; owned array
    size_t nbuckets;            //  a power of two, or 0 before the first add
    size_t count;               //  futures in the table
} zj__tickets_t;

//  Free the bucket array (not the futures). The table is empty afterwards.
void zj__tickets_fini (zj__tickets_t *self);
//  Add a future whose ticket is set. Returns false on OOM (not added).
bool zj__tickets_add (zj__tickets_t *self, zj_future_t *f);
//  Remove and return every future with this ticket, chained by tnext;
//  NULL when none.
zj_future_t *zj__tickets_take (zj__tickets_t *self, const char *ticket, size_t len);
//  Remove one future when present.
void zj__tickets_remove (zj__tickets_t *self, zj_future_t *f);
//  Remove and return every future, chained by tnext.
zj_future_t *zj__tickets_take_all (zj__tickets_t *self);
//  Call fn on every future (the table must not change during the walk).
void zj__tickets_each (zj__tickets_t *self, void (*fn) (zj_future_t *f, void *arg), void *arg);
