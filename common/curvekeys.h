// SPDX-License-Identifier: MIT
//  curvekeys - the CURVE keys a client or a worker connects with: read
//  from the certificate files `zjob keygen` writes (czmq's zcert) and set
//  on a ZeroMQ socket. One place for the rules both sides follow.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint8_t public_key[32];     //  ours
    uint8_t secret_key[32];     //  ours
    uint8_t server_key[32];     //  the broker's public key
} curvekeys_t;

//  Read our secret certificate (NAME.key_secret) and the broker's public
//  one (NAME.key) into *self. On failure returns false and writes into
//  `why` which file is wrong and what to give instead; `secret_opt` and
//  `broker_opt` name the options the files came from ("--curve-secret").
bool curvekeys_load (curvekeys_t *self, const char *secret_file, const char *broker_file,
                     const char *secret_opt, const char *broker_opt, char *why,
                     size_t why_size);
//  Make `sock` (a ZeroMQ socket, not yet connected) a CURVE client of
//  the broker with these keys. False when libzmq refuses an option.
bool curvekeys_apply (const curvekeys_t *self, void *sock);
