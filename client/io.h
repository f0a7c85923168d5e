// SPDX-License-Identifier: MIT
//  io - the client's background I/O thread: the only code that touches
//  the DEALER socket. Sends queued requests (SUBMITs coalesced), matches
//  replies by req, settles futures from RESULT, and decides when the
//  broker is unreachable or lost. Internal to libzjob.
#pragma once
#include "zjob.h"

//  Create the context, wake-up eventfd and socket, connect, and start the
//  thread. ZJ_OK, ZJ_EINVAL (bad endpoint), ZJ_ENOMEM or ZJ_EIO. On
//  failure call zj__io_stop to free what was made.
zj_err_t zj__io_start (zj_client_t *self);
//  Stop the thread (failing every pending future and request with
//  ZJ_ESHUTDOWN), close the socket and free the I/O state. Idempotent.
void zj__io_stop (zj_client_t *self);
