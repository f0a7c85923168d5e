// SPDX-License-Identifier: MIT
//  security - CURVE for zjobd's two sockets: the broker's key pair, one
//  allow-list of public certificates per socket, and the ZAP handler that
//  checks a connecting peer's key against the list of the socket it
//  reached. Runs on the broker's loop; decides nothing about tasks.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "broker.h"

typedef struct security security_t;

typedef struct {
    const char *secret_file;    //  the broker's secret certificate (zcert)
    const char *client_keys;    //  directory of public certificates of clients
    const char *worker_keys;    //  directory of public certificates of workers
} security_config_t;

//  Load the broker's certificate, open both allow-lists and bind the ZAP
//  handler in `ctx` (inproc://zeromq.zap.01: one per context, so before
//  any CURVE socket binds). Caller owns; free with security_destroy.
//  NULL on failure, with a one-line reason (naming the file and what to
//  do) in `why`.
security_t *security_new (const security_config_t *config, void *ctx, char *why,
                          size_t why_len);
//  Close the ZAP socket and free the stores; sets *self_p to NULL.
void security_destroy (security_t **self_p);
//  Make `sock` a CURVE server with the broker's key, in the ZAP domain of
//  `which` ("clients" or "workers"). Call before binding. False with
//  errno set when libzmq refuses an option.
bool security_apply (security_t *self, void *sock, broker_sock_t which);
//  The ZAP socket, for polling its ZMQ_FD. Borrowed.
void *security_socket (security_t *self);
//  Answer up to `budget` waiting ZAP requests; true when the budget ran
//  out (more may wait).
bool security_drain (security_t *self, size_t budget);
//  The broker's public key as Z85 text (40 characters). Borrowed.
const char *security_public_txt (security_t *self);

//  True when `endpoint` can only be reached from this machine: ipc://,
//  inproc://, or tcp:// on 127.0.0.0/8, ::1 or localhost.
bool security_endpoint_local (const char *endpoint);
