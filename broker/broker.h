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
    size_t max_queued_per_client;   //  unfinished tasks one client may have; 0 = no limit
    size_t max_args;            //  largest args of one task in bytes; 0 = no limit
    size_t max_result;          //  largest result of one task in bytes; 0 = no limit
    size_t expire_batch;        //  records deleted per broker_expire call;
                                //  0 = 8192 (a durable store wants fewer)
} broker_config_t;

//  What broker_recover found.
typedef struct {
    size_t generations;         //  earlier generations
    size_t submits;             //  remembered idempotent submits
    size_t queued;              //  tasks queued again as they were
    size_t requeued;            //  tasks that were out on a worker, queued again
    size_t lost;                //  ... failed WorkerLost instead (no attempts left)
    size_t finished;            //  final tasks, results fetchable
} broker_recovery_t;

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
//  Load what the store kept: queued tasks are queued again in submit
//  order, tasks that were out on a worker are queued again with that
//  attempt counted (or fail WorkerLost), final ones stay fetchable until
//  their retention ends. Fills *found (may be NULL). Returns ZJ_OK or
//  the store's error.
zj_err_t broker_recover (broker_t *self, double now, broker_recovery_t *found);
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
//  End of a loop turn: commit the store (a failed commit turns the
//  turn's SUBMITTED replies into ERROR NoSpace and takes their tasks
//  back), dispatch, build TASKS and RESULT batches, then send everything
//  queued. Dispatch marks are committed with the next turn. Returns true
//  when work is left for another turn right away.
bool broker_flush (broker_t *self, double now, broker_send_fn *send, void *arg);
//  Stop accepting work: SUBMIT gets ShutDown from now on, and DISCONNECT
//  is queued for every worker and every client with subscriptions.
//  Flush afterwards to send them.
void broker_shutdown (broker_t *self, double now);
