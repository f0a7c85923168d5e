// SPDX-License-Identifier: MIT
//  io - the client's background I/O thread: the only code that touches
//  the DEALER socket. Sends queued requests (SUBMITs coalesced), and
//  fails what waits when the broker is gone for good. Replies are read in
//  client/recv.c, the broker's liveness and reconnects are client/link.c.
//  Everything here but zj__io_start/stop runs on the I/O thread only.
//  Internal to libzjob.
#pragma once
#include "zjob.h"
#include "client.h"
#include "future.h"

//  The client trusts its broker more than the broker trusts clients, but
//  still bounds what one frame can make it allocate.
#define ZJ__CLIENT_MAX_FRAME ((size_t) ZJ_MAX_FRAME_DEFAULT * 4)

//  Create the context, wake-up eventfd and socket, connect, and start the
//  thread. ZJ_OK, ZJ_EINVAL (bad endpoint), ZJ_ENOMEM or ZJ_EIO. On
//  failure call zj__io_stop to free what was made.
zj_err_t zj__io_start (zj_client_t *self);
//  Stop the thread (failing every pending future and request with
//  ZJ_ESHUTDOWN), close the socket and free the I/O state. Idempotent.
void zj__io_stop (zj_client_t *self);

//  Request lists (sendq, inflight): doubly linked through next/prev.
void zj__io_list_append (zj__req_t **head, zj__req_t **tail, zj__req_t *req);
void zj__io_list_remove (zj__req_t **head, zj__req_t **tail, zj__req_t *req);
//  The tickets a FETCH or CANCEL keeps in its arena, NUL-separated:
//  the next one from *off (NULL at the end), and adding one (false on OOM).
const char *zj__io_arena_ticket (const zj__req_t *req, size_t *off);
bool zj__io_arena_add_ticket (zj__req_t *req, const char *ticket);

//  Settle everything that waits on req with code (lock held); finish a
//  sync request (its caller frees it), free any other.
void zj__io_req_fail (zj_client_t *self, zj__req_t *req, zj_err_t code,
                      const char *message, zj__chain_t *chain);
//  Fail every pending future and request of this client with code.
void zj__io_fail_all (zj_client_t *self, zj_err_t code, const char *message);
//  Add a ticket to the CANCEL being built in *req_p, queueing it when
//  full; zj__io_cancel_flush queues the last one.
void zj__io_cancel_add (zj_client_t *self, zj__req_t **req_p, const char *ticket);
void zj__io_cancel_flush (zj_client_t *self, zj__req_t **req_p);

//  Open the DEALER (our routing id, bounded linger and frame size) and
//  connect it; false with errno set on failure.
bool zj__io_socket_open (zj_client_t *self);
//  Close the socket (and its monitor); with drop, messages still queued
//  in it are thrown away so that nothing stale reaches a broker later.
void zj__io_socket_close (zj_client_t *self, bool drop);
//  Read the socket monitor's events; true when one says the connection
//  to the broker broke (the broker died or restarted, or the network).
bool zj__io_monitor_broke (zj_client_t *self);
//  Send a PING that nobody waits for: any answer proves the broker alive.
void zj__io_send_ping (zj_client_t *self);
