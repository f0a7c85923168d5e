// SPDX-License-Identifier: MIT
//  curvekeys - reading zjob keygen's certificates and setting them on a
//  client socket (see curvekeys.h).
#include "curvekeys.h"
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool
curvekeys_load (curvekeys_t *self, const char *secret_file, const char *broker_file,
                const char *secret_opt, const char *broker_opt, char *why, size_t why_size)
{
    if (!zmq_has ("curve")) {
        snprintf (why, why_size, "this libzmq was built without CURVE; install a libzmq "
                  "with CURVE (Debian's libzmq5 has it) or leave out %s", secret_opt);
        return false;
    }
    const char *files[2] = {secret_file, broker_file};
    const char *opts[2] = {secret_opt, broker_opt};
    for (int i = 0; i < 2; i++)
        if (access (files[i], R_OK) != 0) {
            snprintf (why, why_size, "cannot read %s %s: %s", opts[i], files[i],
                      strerror (errno));
            return false;
        }
    zcert_t *mine = zcert_load (secret_file);
    zcert_t *broker = zcert_load (broker_file);
    bool ok = false;
    //  A public certificate reads as one whose secret key is all zeros.
    if (!mine || strspn (zcert_secret_txt (mine), "0") == 40)
        snprintf (why, why_size, "%s %s: %s; give the NAME.key_secret file that zjob keygen "
                  "NAME wrote", secret_opt, secret_file,
                  mine ? "holds no secret key" : "cannot read a certificate from it");
    else if (!broker)
        snprintf (why, why_size, "%s %s: cannot read a certificate from it; give the "
                  "broker's public NAME.key file", broker_opt, broker_file);
    else {
        memcpy (self->public_key, zcert_public_key (mine), 32);
        memcpy (self->secret_key, zcert_secret_key (mine), 32);
        memcpy (self->server_key, zcert_public_key (broker), 32);
        ok = true;
    }
    zcert_destroy (&mine);
    zcert_destroy (&broker);
    return ok;
}

bool
curvekeys_apply (const curvekeys_t *self, void *sock)
{
    return zmq_setsockopt (sock, ZMQ_CURVE_SERVERKEY, self->server_key, 32) == 0
        && zmq_setsockopt (sock, ZMQ_CURVE_PUBLICKEY, self->public_key, 32) == 0
        && zmq_setsockopt (sock, ZMQ_CURVE_SECRETKEY, self->secret_key, 32) == 0;
}
