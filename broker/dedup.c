// SPDX-License-Identifier: MIT
//  dedup - (client, req) -> tickets, with an age list for retention; see
//  dedup.h. One allocation per remembered SUBMIT (a batch), not per task.
#include "dedup.h"
#include "hmap.h"
#include <stdlib.h>
#include <string.h>

struct dedup {
    hmap_t *map;                //  key -> dedup_entry_t
    dedup_entry_t *head;        //  oldest
    dedup_entry_t *tail;        //  newest
};

dedup_t *
dedup_new (void)
{
    dedup_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->map = hmap_new ();
    if (!self->map) {
        free (self);
        return NULL;
    }
    return self;
}

void
dedup_destroy (dedup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dedup_t *self = *self_p;
    dedup_entry_t *e = self->head;
    while (e) {
        dedup_entry_t *next = e->next;
        free (e);
        e = next;
    }
    hmap_destroy (&self->map);
    free (self);
    *self_p = NULL;
}

size_t
dedup_size (const dedup_t *self)
{
    return hmap_size (self->map);
}

//  The map key: the client id, then req in big-endian order.
static size_t
s_key (uint8_t *key, zj_str_t client, uint64_t req)
{
    memcpy (key, client.ptr, client.len);
    for (int i = 0; i < 8; i++)
        key[client.len + (size_t) i] = (uint8_t) (req >> (56 - 8 * i));
    return client.len + 8;
}

dedup_entry_t *
dedup_find (const dedup_t *self, zj_str_t client, uint64_t req)
{
    if (!client.ptr || client.len == 0 || client.len > ZJ_MAX_CLIENT)
        return NULL;
    uint8_t key[ZJ_MAX_CLIENT + 8];
    size_t len = s_key (key, client, req);
    return hmap_get (self->map, key, len);
}

dedup_entry_t *
dedup_add (dedup_t *self, zj_str_t client, uint64_t req, uint64_t gen, uint64_t seq,
           uint32_t count, double at)
{
    if (!client.ptr || client.len == 0 || client.len > ZJ_MAX_CLIENT)
        return NULL;
    dedup_entry_t *e = malloc (sizeof *e);
    if (!e)
        return NULL;
    e->at = at;
    e->gen = gen;
    e->seq = seq;
    e->count = count;
    e->req = req;
    e->client_len = (uint8_t) client.len;
    e->key_len = (uint8_t) s_key (e->key, client, req);
    if (!hmap_put (self->map, e->key, e->key_len, e)) {
        free (e);
        return NULL;
    }
    e->next = NULL;
    e->prev = self->tail;
    if (self->tail)
        self->tail->next = e;
    else
        self->head = e;
    self->tail = e;
    return e;
}

zj_str_t
dedup_client (const dedup_entry_t *entry)
{
    return (zj_str_t) {(const char *) entry->key, entry->client_len};
}

void
dedup_remove (dedup_t *self, dedup_entry_t *e)
{
    hmap_del (self->map, e->key, e->key_len);
    if (e->prev)
        e->prev->next = e->next;
    else
        self->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->tail = e->prev;
    free (e);
}

size_t
dedup_expire (dedup_t *self, double now, double retention, size_t max, dedup_expire_cb *cb,
              void *arg, bool *more)
{
    size_t n = 0;
    if (more)
        *more = false;
    while (self->head && self->head->at + retention <= now) {
        if (n == max) {
            if (more)
                *more = true;
            break;
        }
        if (cb)
            cb (arg, self->head);
        dedup_remove (self, self->head);
        n++;
    }
    return n;
}
