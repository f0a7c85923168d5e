// SPDX-License-Identifier: MIT
//  broker - zjobd's core: turns received frames into state changes and
//  queued replies, and queued replies into sends through a function the
//  caller provides. No sockets and no clock reads here (`now` is passed
//  in, seconds on a monotonic clock), so the core runs in unit tests.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "store.h"

typedef struct broker broker_t;

typedef struct {
    double retention;           //  seconds a final task is kept
    double heartbeat;           //  seconds between heartbeats
    uint32_t liveness;          //  heartbeats of silence before a worker is lost
    uint16_t max_retries;       //  requeues after worker loss, by default
    size_t max_frame;           //  largest frame accepted
    size_t max_queued;          //  queued tasks per function
} broker_config_t;

//  The two ROUTER sockets.
typedef enum {
    BROKER_CLIENTS = 0,
    BROKER_WORKERS = 1,
} broker_sock_t;

//  Send one message to peer `id` on `sock`. Takes ownership of `body`
//  (free it with free()) whatever happens. Returns 0, EHOSTUNREACH when
//  the peer is not connected, EAGAIN when its queue is full, or another
//  errno value.
typedef int (broker_send_fn) (void *arg, broker_sock_t sock, const uint8_t *id,
                              size_t idlen, uint8_t *body, size_t len);

//  Create the core for ticket generation `gen`. `store` is borrowed and
//  must outlive the broker. Caller owns; free with broker_destroy. NULL
//  on OOM.
broker_t *broker_new (const broker_config_t *config, uint64_t gen, store_t *store,
                      double now);
//  Free everything (queued messages are dropped); sets *self_p to NULL.
void broker_destroy (broker_t **self_p);
//  Load the tasks the store kept. Returns ZJ_OK or the store's error.
zj_err_t broker_recover (broker_t *self, double now);
//  The generation as 8 characters (static to the broker).
const char *broker_generation (const broker_t *self);

//  One message from a ROUTER socket: routing id, the first body frame and
//  the number of body frames (anything but 1 is a protocol error). Bytes
//  are borrowed for the call.
void broker_on_message (broker_t *self, broker_sock_t sock, const uint8_t *id, size_t idlen,
                        const uint8_t *data, size_t size, size_t frames, double now);
//  Heartbeats to quiet workers, loss of silent ones. Call a few times per
//  heartbeat interval.
void broker_tick (broker_t *self, double now);
//  Delete a bounded batch of tasks whose retention ended. Returns true
//  when more are already due (call again soon, the loop must not stall).
bool broker_expire (broker_t *self, double now);
//  End of a loop turn: dispatch, build TASKS and RESULT batches, commit
//  the store, then send everything queued. Returns true when work is
//  left for another turn right away.
bool broker_flush (broker_t *self, double now, broker_send_fn *send, void *arg);
//  Stop accepting work: SUBMIT gets ShutDown from now on, and DISCONNECT
//  is queued for every worker and every client with subscriptions.
//  Flush afterwards to send them.
void broker_shutdown (broker_t *self, double now);
