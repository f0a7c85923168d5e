// SPDX-License-Identifier: MIT
//  dedup - the broker's memory of idempotent submits: (client, req) ->
//  the tickets that SUBMIT got, for the retention time after the submit,
//  so that a resent SUBMIT is answered with them and creates nothing.
//  Pure logic: callers pass `now`; the store keeps a copy.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "msg.h"

typedef struct dedup dedup_t;

//  One remembered submit. Fields are read-only outside dedup.c.
typedef struct dedup_entry dedup_entry_t;
struct dedup_entry {
    dedup_entry_t *next;        //  age list, oldest first
    dedup_entry_t *prev;
    double at;                  //  submit time
    uint64_t gen;               //  generation of the tickets
    uint64_t seq;               //  first ticket's sequence number
    uint32_t count;             //  tickets, consecutive
    uint64_t req;               //  the client's request id
    uint8_t client_len;         //  bytes of client id at the start of key
    uint8_t key_len;            //  client id + 8 bytes of req
    uint8_t key[ZJ_MAX_CLIENT + 8];     //  the map key
};

//  Create an empty memory. Caller owns; free with dedup_destroy. NULL on OOM.
dedup_t *dedup_new (void);
//  Free every entry; sets *self_p to NULL. Safe on NULL.
void dedup_destroy (dedup_t **self_p);
//  Entries held.
size_t dedup_size (const dedup_t *self);

//  The entry for (client, req), or NULL.
dedup_entry_t *dedup_find (const dedup_t *self, zj_str_t client, uint64_t req);
//  Remember (client, req) -> count tickets from (gen, seq), submitted at
//  `at` (entries must be added in time order). The pair must not be
//  known. Returns the entry (borrowed, valid until removed or expired),
//  or NULL on OOM or a client id longer than ZJ_MAX_CLIENT.
dedup_entry_t *dedup_add (dedup_t *self, zj_str_t client, uint64_t req, uint64_t gen,
                          uint64_t seq, uint32_t count, double at);
//  Forget an entry (its SUBMIT was refused after all).
void dedup_remove (dedup_t *self, dedup_entry_t *entry);
//  The client id of an entry.
zj_str_t dedup_client (const dedup_entry_t *entry);

//  Called for each entry dedup_expire forgets, before it is freed.
typedef void (dedup_expire_cb) (void *arg, const dedup_entry_t *entry);
//  Forget at most `max` entries submitted `retention` seconds or more
//  before `now`, oldest first. Returns how many; *more is set when more
//  are already due.
size_t dedup_expire (dedup_t *self, double now, double retention, size_t max,
                     dedup_expire_cb *cb, void *arg, bool *more);
