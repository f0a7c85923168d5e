// SPDX-License-Identifier: MIT
//  loop - zjobd's I/O: the two ROUTER sockets, a libuv loop polling their
//  ZMQ_FDs (edge-triggered: drained on every wake), the end-of-turn flush
//  and the heartbeat and retention timers. Moves bytes between ZeroMQ and
//  the broker core; makes no decisions of its own.
#pragma once
#include <stddef.h>
#include <uv.h>
#include "broker.h"
#include "security.h"

typedef struct loop loop_t;

typedef struct {
    const char *clients;        //  endpoint to bind the client socket to
    const char *workers;        //  endpoint to bind the worker socket to
    size_t max_frame;           //  ZMQ_MAXMSGSIZE
    double heartbeat;           //  seconds; timers tick a few times per interval
    const security_config_t *curve; //  CURVE keys and allow-lists, or NULL for none
} loop_config_t;

//  Create the sockets and bind them; `broker` is borrowed and must outlive
//  the loop. On failure returns NULL, writes a one-line reason into `why`
//  and sets *err to the errno value (EINVAL for a bad endpoint or key
//  file). With config->curve, both sockets are CURVE servers and a ZAP
//  handler on the loop admits only the listed keys (security.h).
loop_t *loop_new (const loop_config_t *config, broker_t *broker, char *why, size_t why_len,
                  int *err);
//  Close the sockets (waiting at most half a second for queued messages)
//  and free the loop; sets *self_p to NULL. The uv loop must have
//  stopped (every other handle on it closed).
void loop_destroy (loop_t **self_p);
//  The endpoint a socket is bound to, with a `*` port resolved. Borrowed.
const char *loop_endpoint (const loop_t *self, broker_sock_t sock);
//  The libuv loop, for the caller's own handles (signals). Borrowed.
uv_loop_t *loop_uv (loop_t *self);
//  Run until loop_stop and until every handle on the uv loop is closed.
//  Returns 0.
int loop_run (loop_t *self);
//  Graceful stop: the broker refuses new work and says DISCONNECT, the
//  last messages are sent, the loop's handles close. Safe to call twice.
void loop_stop (loop_t *self);
