// SPDX-License-Identifier: MIT
//  peers - the broker's records of the peers it talks to, keyed by the
//  routing id their ROUTER socket sees: workers (registration, liveness,
//  scheduling state) and clients (only while they have subscriptions or
//  results waiting to be sent). No sockets here.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "msg.h"
#include "sched.h"

//  A ZeroMQ routing id: 1 to 255 bytes.
typedef struct {
    uint8_t len;                //  bytes used
    uint8_t bytes[255];         //  the id
} peer_id_t;

typedef struct worker worker_t;
struct worker {
    peer_id_t id;               //  routing id (map key)
    sched_worker_t sw;          //  credit, functions, held tasks
    char name[64];              //  self-chosen name from READY, may be empty
    char host[256];             //  host name from READY, may be empty
    int64_t pid;                //  process id from READY, 0 when not given
    const struct attempt_who *who;  //  host and pid, interned (attempts.h)
    double last_seen;           //  when it last sent anything
    double last_sent;           //  when we last sent it anything
    double heartbeat;           //  its own interval from READY, 0 when not given
    bool dead;                  //  lost; freed by peers_reap
    worker_t *dead_next;        //  link in the dead list
};

typedef struct client client_t;
struct client {
    peer_id_t id;               //  routing id (map key)
    size_t refs;                //  tasks it is subscribed to
    zj_enc_t *out;              //  RESULT entries not yet sent, or NULL
    uint32_t nout;              //  how many
    bool dirty;                 //  on the dirty list
    client_t *dirty_next;       //  link in it
};

typedef struct peers peers_t;

//  Create empty tables. Caller owns; free with peers_destroy. NULL on OOM.
peers_t *peers_new (void);
//  Free every record. Workers must be detached from sched first (their
//  held tasks are not touched); sets *self_p to NULL.
void peers_destroy (peers_t **self_p);

//  Hex of a routing id for logs and STATS (at most 64 bytes shown).
//  buf must hold 2 * 64 + 1 bytes; returns buf.
char *peers_id_hex (const peer_id_t *id, char *buf);
//  Fill *id from raw bytes; false when len is 0 or over 255.
bool peers_id_set (peer_id_t *id, const uint8_t *bytes, size_t len);

//  ---------------------------------------------------------------------
//  Workers

//  The live worker with this id, or NULL.
worker_t *peers_worker_find (peers_t *self, const peer_id_t *id);
//  New live worker record (not registered with sched yet). NULL on OOM.
//  Borrowed; valid until peers_reap after peers_worker_kill.
worker_t *peers_worker_add (peers_t *self, const peer_id_t *id, double now);
//  Forget the worker: a new READY from the same id makes a new record.
//  The memory stays valid until peers_reap; detach it from sched first.
void peers_worker_kill (peers_t *self, worker_t *w);
//  Free killed workers. Call when no pointer to them is in use.
void peers_reap (peers_t *self);
//  Iterate live workers: *cursor = 0 first; NULL at the end. Do not add
//  or kill workers while iterating (collect them, then act).
worker_t *peers_worker_next (peers_t *self, size_t *cursor);
size_t peers_worker_count (const peers_t *self);

//  ---------------------------------------------------------------------
//  Clients

//  The client with this id, made when missing. NULL on OOM. Borrowed:
//  valid while it has references or queued results (see peers_client_idle).
client_t *peers_client_get (peers_t *self, const peer_id_t *id);
//  Count one subscription more or less.
void peers_client_ref (client_t *c);
void peers_client_unref (peers_t *self, client_t *c);
//  Free the client now if it has no subscriptions and nothing queued.
void peers_client_idle (peers_t *self, client_t *c);
//  Queue one RESULT entry [ticket, state, payload] for c; payload NULL
//  means nil. Returns false on OOM (the entry is lost; the client can
//  FETCH again).
bool peers_client_push (peers_t *self, client_t *c, const char *ticket, size_t len,
                        zj_state_t state, const uint8_t *payload, size_t plen);
//  Next client with queued entries, taken off the dirty list; NULL at the end.
client_t *peers_client_dirty_pop (peers_t *self);
//  Iterate clients: *cursor = 0 first; NULL at the end. No changes meanwhile.
client_t *peers_client_next (peers_t *self, size_t *cursor);
size_t peers_client_count (const peers_t *self);
