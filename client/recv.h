// SPDX-License-Identifier: MIT
//  recv - what the client's I/O thread does with each message from the
//  broker: match replies to requests by req, settle futures from RESULT,
//  and tell client/link.c what it heard. I/O thread only. Internal.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "client.h"

//  Decode and handle one frame from the broker. A malformed frame is
//  logged and dropped.
void zj__recv_message (zj_client_t *self, const uint8_t *data, size_t size);
//  Read what the socket holds, up to a bounded number of messages.
void zj__recv_drain (zj_client_t *self);
