// SPDX-License-Identifier: MIT
//  hmap - small open-addressing hash map from a byte string to a record.
//  The key bytes are borrowed from the record and must stay unchanged
//  while the record is in the map. Used for function names and peer
//  routing ids; the task table has its own map keyed by sequence number.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct hmap hmap_t;

//  Create an empty map. Caller owns; free with hmap_destroy. NULL on OOM.
hmap_t *hmap_new (void);
//  Free the map (not the records); sets *self_p to NULL. Safe on NULL.
void hmap_destroy (hmap_t **self_p);
//  The record stored under key, or NULL.
void *hmap_get (const hmap_t *self, const void *key, size_t len);
//  Store val under key (key borrowed from val's memory). The key must not
//  be present. Returns false on OOM (the map is unchanged).
bool hmap_put (hmap_t *self, const void *key, size_t len, void *val);
//  Remove key; returns the record that was stored, or NULL.
void *hmap_del (hmap_t *self, const void *key, size_t len);
//  Number of records.
size_t hmap_size (const hmap_t *self);
//  Iterate: pass *cursor = 0 first; returns the next record or NULL at the
//  end. Do not insert or delete while iterating.
void *hmap_next (const hmap_t *self, size_t *cursor);
//  FNV-1a, also handy elsewhere.
uint64_t hmap_hash (const void *key, size_t len);
