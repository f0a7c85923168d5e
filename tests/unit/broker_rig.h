// SPDX-License-Identifier: MIT
//  broker_rig - drives the broker core in unit tests without sockets:
//  frames in through broker_on_message, frames out through a send
//  function that keeps them for the test to decode and look at.
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "broker/broker.h"
#include "broker/store.h"
#include "msg.h"

typedef struct {
    broker_sock_t sock;
    uint8_t id[8];
    size_t idlen;
    uint8_t *body;
    size_t len;
} sent_t;

//  Frames sent since the last rig_clear (bodies owned here).
extern sent_t rig_sent[256];
extern size_t rig_nsent;
//  The next send to peer rig_fail_id fails with rig_fail_err (once).
extern int rig_fail_err;
extern char rig_fail_id[8];
//  The frame being built for rig_in; made by the test's main.
extern zj_enc_t *rig_enc;

//  broker_send_fn that records frames.
int rig_send (void *arg, broker_sock_t sock, const uint8_t *id, size_t idlen, uint8_t *body,
              size_t len);
//  Forget the recorded frames.
void rig_clear (void);
//  Forget them, then end the turn.
void rig_flush (broker_t *b, double now);
//  The nth (0-based) frame of `type` sent to `id`, decoded into *msg.
bool rig_find (const char *id, zj_msg_type_t type, int nth, zj_msg_t *msg);
//  Hand the frame in rig_enc to the broker as from peer `id`.
void rig_in (broker_t *b, broker_sock_t sock, const char *id, double now);
//  SUBMIT n tasks [42] of fn at priority prio, as peer `peer`, with a
//  client id (or NULL).
void rig_submit_as (broker_t *b, const char *peer, uint64_t req, const char *fn, int n,
                    int64_t prio, double now, const char *client);
void rig_submit (broker_t *b, const char *client, uint64_t req, const char *fn, int n,
                 int64_t prio, double now);
//  READY from worker `worker` with credit for fn.
void rig_ready (broker_t *b, const char *worker, uint32_t credit, const char *fn, double now);
//  DONE for one ticket: "ok" or ValueError("bad").
void rig_done (broker_t *b, const char *worker, zj_str_t ticket, bool ok, double now);
//  A ticket-list request of `type` (req 7) in rig_enc.
void rig_tickets (zj_msg_type_t type, const char *const *tickets, int n);
//  A broker for generation 12345: heartbeat 1 s, liveness 3, max_retries 1.
broker_t *rig_broker (store_t *store, size_t max_queued, double retention);
//  Copy a view into dst as a C string.
void rig_copy (char *dst, zj_str_t s);
