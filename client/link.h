// SPDX-License-Identifier: MIT
//  link - the client's view of the broker's liveness: unreachable at
//  first contact, lost after answering (silence or DISCONNECT), and the
//  reconnect that follows: new sockets with backoff, then FETCH again for
//  every pending ticket and resend every unacknowledged request. I/O
//  thread only. Internal to libzjob.
#pragma once
#include <stdbool.h>
#include "client.h"

//  Act on the clock: ping while waiting, declare the broker unreachable
//  or lost, make the next reconnect attempt, or give up on reconnecting.
void zj__link_check (zj_client_t *self, double now);
//  Milliseconds until zj__link_check has something to do; -1 when idle.
long zj__link_poll_timeout (zj_client_t *self, double now);
//  A valid message came from the broker on the current socket.
void zj__link_heard (zj_client_t *self, double now);
//  The broker is going away (it said DISCONNECT) or the connection broke;
//  why says which, for the logs and errors. Requests may have reached it.
void zj__link_gone (zj_client_t *self, double now, const char *why);
//  False while reconnecting: requests wait in sendq until the broker
//  answers, so that none goes to a socket that may be dropped.
bool zj__link_may_send (zj_client_t *self);
//  True when requests or futures wait for the broker.
bool zj__link_has_work (zj_client_t *self);
