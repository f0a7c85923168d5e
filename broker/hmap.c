// SPDX-License-Identifier: MIT
//  hmap - linear probing with backward-shift deletion (no tombstones), so
//  lookups stay short however many peers come and go; see hmap.h.
#include "hmap.h"
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint64_t hash;              //  full hash; 0 marks an empty slot
    const void *key;            //  borrowed from the record
    size_t len;                 //  key length
    void *val;                  //  the record
} slot_t;

struct hmap {
    slot_t *slots;              //  capacity slots, a power of two
    size_t cap;                 //  slot count
    size_t size;                //  used slots
};

uint64_t
hmap_hash (const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = UINT64_C (14695981039346656037);
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C (1099511628211);
    }
    return h ? h : 1;
}

hmap_t *
hmap_new (void)
{
    hmap_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = 16;
    self->slots = calloc (self->cap, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    return self;
}

void
hmap_destroy (hmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->slots);
    free (*self_p);
    *self_p = NULL;
}

static size_t
s_find (const hmap_t *self, uint64_t h, const void *key, size_t len)
{
    size_t mask = self->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const slot_t *s = &self->slots[i];
        if (s->hash == 0)
            return i;
        if (s->hash == h && s->len == len && memcmp (s->key, key, len) == 0)
            return i;
    }
}

void *
hmap_get (const hmap_t *self, const void *key, size_t len)
{
    size_t i = s_find (self, hmap_hash (key, len), key, len);
    return self->slots[i].hash ? self->slots[i].val : NULL;
}

static bool
s_grow (hmap_t *self)
{
    size_t cap = self->cap * 2;
    slot_t *slots = calloc (cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < self->cap; i++) {
        slot_t *s = &self->slots[i];
        if (!s->hash)
            continue;
        size_t j = s->hash & (cap - 1);
        while (slots[j].hash)
            j = (j + 1) & (cap - 1);
        slots[j] = *s;
    }
    free (self->slots);
    self->slots = slots;
    self->cap = cap;
    return true;
}

bool
hmap_put (hmap_t *self, const void *key, size_t len, void *val)
{
    if ((self->size + 1) * 2 > self->cap && !s_grow (self))
        return false;
    uint64_t h = hmap_hash (key, len);
    size_t i = s_find (self, h, key, len);
    self->slots[i] = (slot_t) {h, key, len, val};
    self->size++;
    return true;
}

void *
hmap_del (hmap_t *self, const void *key, size_t len)
{
    size_t i = s_find (self, hmap_hash (key, len), key, len);
    if (!self->slots[i].hash)
        return NULL;
    void *val = self->slots[i].val;
    //  Backward shift: move later members of the probe run into the hole
    //  when their home slot allows it, so no tombstones are needed.
    size_t mask = self->cap - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; self->slots[j].hash; j = (j + 1) & mask) {
        size_t home = self->slots[j].hash & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    }
    self->slots[hole] = (slot_t) {0};
    self->size--;
    return val;
}

size_t
hmap_size (const hmap_t *self)
{
    return self->size;
}

void *
hmap_next (const hmap_t *self, size_t *cursor)
{
    while (*cursor < self->cap) {
        const slot_t *s = &self->slots[(*cursor)++];
        if (s->hash)
            return s->val;
    }
    return NULL;
}
