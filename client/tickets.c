// SPDX-License-Identifier: MIT
//  tickets - ticket -> futures hash table with chaining (FNV-1a). Grows
//  by doubling so that a map over a million tasks stays O(1) per RESULT.
#include "tickets.h"
#include <stdlib.h>
#include <string.h>
#include "future.h"

static size_t s_hash (const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (uint8_t) s[i];
        h *= 1099511628211ull;
    }
    return (size_t) (h ^ (h >> 29));
}

void zj__tickets_fini (zj__tickets_t *self)
{
    free (self->buckets);
    memset (self, 0, sizeof *self);
}

static bool s_grow (zj__tickets_t *self)
{
    size_t n = self->nbuckets ? self->nbuckets * 2 : 1024;
    zj_future_t **b = calloc (n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < self->nbuckets; i++) {
        zj_future_t *f = self->buckets[i];
        while (f) {
            zj_future_t *next = f->tnext;
            size_t k = s_hash (f->ticket, strlen (f->ticket)) & (n - 1);
            f->tnext = b[k];
            b[k] = f;
            f = next;
        }
    }
    free (self->buckets);
    self->buckets = b;
    self->nbuckets = n;
    return true;
}

bool zj__tickets_add (zj__tickets_t *self, zj_future_t *f)
{
    if (self->count >= self->nbuckets && !s_grow (self) && self->nbuckets == 0)
        return false;
    size_t k = s_hash (f->ticket, strlen (f->ticket)) & (self->nbuckets - 1);
    f->tnext = self->buckets[k];
    self->buckets[k] = f;
    f->in_table = true;
    self->count++;
    return true;
}

zj_future_t *zj__tickets_take (zj__tickets_t *self, const char *ticket, size_t len)
{
    if (!self->nbuckets)
        return NULL;
    zj_future_t *taken = NULL;
    zj_future_t **link = &self->buckets[s_hash (ticket, len) & (self->nbuckets - 1)];
    while (*link) {
        zj_future_t *f = *link;
        if (strncmp (f->ticket, ticket, len) == 0 && f->ticket[len] == 0) {
            *link = f->tnext;
            f->tnext = taken;
            f->in_table = false;
            taken = f;
            self->count--;
        }
        else
            link = &f->tnext;
    }
    return taken;
}

void zj__tickets_remove (zj__tickets_t *self, zj_future_t *f)
{
    if (!f->in_table)
        return;
    zj_future_t **link = &self->buckets[s_hash (f->ticket, strlen (f->ticket))
                                        & (self->nbuckets - 1)];
    while (*link && *link != f)
        link = &(*link)->tnext;
    if (*link) {
        *link = f->tnext;
        f->tnext = NULL;
        f->in_table = false;
        self->count--;
    }
}

zj_future_t *zj__tickets_take_all (zj__tickets_t *self)
{
    zj_future_t *taken = NULL;
    for (size_t i = 0; i < self->nbuckets; i++) {
        while (self->buckets[i]) {
            zj_future_t *f = self->buckets[i];
            self->buckets[i] = f->tnext;
            f->tnext = taken;
            f->in_table = false;
            taken = f;
        }
    }
    self->count = 0;
    return taken;
}

void zj__tickets_each (zj__tickets_t *self, void (*fn) (zj_future_t *f, void *arg), void *arg)
{
    for (size_t i = 0; i < self->nbuckets; i++)
        for (zj_future_t *f = self->buckets[i]; f; f = f->tnext)
            fn (f, arg);
}
