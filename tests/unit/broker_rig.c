// SPDX-License-Identifier: MIT
//  broker_rig - the broker core's test driver; see broker_rig.h.
#include "broker_rig.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"


sent_t rig_sent[256];
size_t rig_nsent;
int rig_fail_err;          //  next send to rig_fail_id fails with this
char rig_fail_id[8];

int
rig_send (void *arg, broker_sock_t sock, const uint8_t *id, size_t idlen, uint8_t *body, size_t len)
{
    if (rig_fail_err && idlen == strlen (rig_fail_id) && memcmp (id, rig_fail_id, idlen) == 0) {
        int err = rig_fail_err;
        rig_fail_err = 0;
        free (body);
        return err;
    }
    ASSERT_TRUE (rig_nsent < 256);
    sent_t *s = &rig_sent[rig_nsent++];
    s->sock = sock;
    memcpy (s->id, id, idlen < 8 ? idlen : 8);
    s->idlen = idlen;
    s->body = body;
    s->len = len;
    return 0;
}

void
rig_clear (void)
{
    for (size_t i = 0; i < rig_nsent; i++)
        free (rig_sent[i].body);
    rig_nsent = 0;
}

void
rig_flush (broker_t *b, double now)
{
    rig_clear ();
    broker_flush (b, now, rig_send, NULL);
}

//  The n-th (0-based) message sent to `id` with type `type`, decoded.
bool
rig_find (const char *id, zj_msg_type_t type, int nth, zj_msg_t *msg)
{
    for (size_t i = 0; i < rig_nsent; i++) {
        sent_t *s = &rig_sent[i];
        if (s->idlen != strlen (id) || memcmp (s->id, id, s->idlen) != 0)
            continue;
        const char *why = NULL;
        zj_err_t rc = zj_msg_decode (s->body, s->len, ZJ_MAX_FRAME_DEFAULT, msg, &why);
        if (rc != ZJ_OK)
            ZT_FAIL ("broker sent an undecodable frame: %s", why ? why : "?");
        if (msg->type == type && nth-- == 0)
            return true;
    }
    return false;
}

zj_enc_t *rig_enc;

void
rig_in (broker_t *b, broker_sock_t sock, const char *id, double now)
{
    broker_on_message (b, sock, (const uint8_t *) id, strlen (id), zj_enc_data (rig_enc),
                       zj_enc_size (rig_enc), 1, now);
}

void
rig_submit_as (broker_t *b, const char *peer, uint64_t req, const char *fn, int n,
               int64_t prio, double now, const char *client)
{
    static const uint8_t args[] = {0x91, 0x2a};        //  [42]
    zj_enc_submit_begin (rig_enc, req, (uint32_t) n, client);
    for (int i = 0; i < n; i++) {
        zj_task_t t = {.fn = {fn, strlen (fn)}, .args = {args, sizeof args},
                       .priority = prio, .max_retries = -1};
        zj_enc_task (rig_enc, &t);
    }
    rig_in (b, BROKER_CLIENTS, peer, now);
}

void
rig_submit (broker_t *b, const char *client, uint64_t req, const char *fn, int n,
            int64_t prio, double now)
{
    rig_submit_as (b, client, req, fn, n, prio, now, NULL);
}

void
rig_ready (broker_t *b, const char *worker, uint32_t credit, const char *fn, double now)
{
    zj_enc_ready_begin (rig_enc, "w", "host", 123, 0, credit, 1);
    zj_enc_cstr (rig_enc, fn);
    rig_in (b, BROKER_WORKERS, worker, now);
}

void
rig_done (broker_t *b, const char *worker, zj_str_t ticket, bool ok, double now)
{
    static const uint8_t value[] = {0xa2, 'o', 'k'};    //  "ok"
    zj_enc_outcomes_begin (rig_enc, ZJ_MSG_DONE, 1);
    zj_outcome_t out = {.ticket = ticket, .state = ok ? ZJ_STATE_DONE : ZJ_STATE_FAILED};
    if (ok)
        out.value = (zj_raw_t) {value, sizeof value};
    else {
        out.err_type = (zj_str_t) {"ValueError", 10};
        out.err_message = (zj_str_t) {"bad", 3};
        out.err_traceback = (zj_str_t) {"tb", 2};
    }
    zj_enc_outcome (rig_enc, &out);
    rig_in (b, BROKER_WORKERS, worker, now);
}

void
rig_tickets (zj_msg_type_t type, const char *const *tickets, int n)
{
    zj_enc_tickets_begin (rig_enc, type, 7, (uint32_t) n);
    for (int i = 0; i < n; i++)
        zj_enc_cstr (rig_enc, tickets[i]);
}

broker_t *
rig_broker (store_t *store, size_t max_queued, double retention)
{
    broker_config_t cfg = {
        .retention = retention, .heartbeat = 1.0, .liveness = 3, .max_retries = 1,
        .max_frame = ZJ_MAX_FRAME_DEFAULT, .max_queued = max_queued,
    };
    broker_t *b = broker_new (&cfg, 12345, store, 0.0);
    ASSERT_TRUE (b);
    return b;
}

void
rig_copy (char *dst, zj_str_t s)
{
    memcpy (dst, s.ptr, s.len);
    dst[s.len] = '\0';
}

