// SPDX-License-Identifier: MIT
//  recv - the broker's messages on the client's I/O thread: replies
//  matched to in-flight requests by req, RESULT entries settling futures
//  through the ticket table. Never sends; requests go out in client/io.c.
#include "recv.h"
#include <stdio.h>
#include <string.h>
#include <zmq.h>
#include "future.h"
#include "io.h"
#include "json.h"
#include "link.h"
#include "log.h"

//  Messages handled per wake-up before the queue gets another look.
#define ZJ_DRAIN_MAX 1024

static zj__req_t *s_inflight_find (zj_client_t *self, uint64_t id)
{
    //  Replies come in request order, so the match is nearly always first.
    for (zj__req_t *req = self->inflight; req; req = req->next)
        if (req->id == id)
            return req;
    return NULL;
}

static void s_on_submitted (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    if (!req || req->type != ZJ_MSG_SUBMIT) {
        //  Also the second answer to a SUBMIT resent after a reconnect.
        log_debug ("stray reply", "type=SUBMITTED req=%llu", (unsigned long long) msg->req);
        return;
    }
    zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
    self->submits_inflight--;
    zj__req_t *cancel = NULL;
    zj__chain_t chain = {NULL, NULL};
    zj__lock ();
    uint32_t i = 0;
    zj_str_t ticket;
    while (i < req->nitems && zj_msg_next_str (msg, &ticket)) {
        zj_future_t *f = req->items[i++].future;
        zj__future_set_ticket (f, ticket.ptr, ticket.len);
        if (!zj__tickets_add (&self->tickets, f))
            zj__chain_settle (&chain, f, ZJ_ENOMEM, "no memory to track the ticket");
        else if (self->cancelling)
            zj__io_cancel_add (self, &cancel, f->ticket);
    }
    for (; i < req->nitems; i++)
        zj__chain_settle (&chain, req->items[i].future, ZJ_EPROTO,
                          "the broker answered with fewer tickets than tasks");
    zj__unlock ();
    zj__chain_release (&chain);
    zj__io_cancel_flush (self, &cancel);
    zj__req_destroy (&req);
}

static void s_on_result (zj_client_t *self, zj_msg_t *msg)
{
    zj__chain_t chain = {NULL, NULL};
    zj_outcome_t out;
    char lost[512] = "";
    zj__lock ();
    while (zj_msg_next_outcome (msg, &out)) {
        //  Entries for tickets nobody here waits for are ignored (5.7).
        zj_future_t *f = zj__tickets_take (&self->tickets, out.ticket.ptr, out.ticket.len);
        while (f) {
            zj_future_t *next = f->tnext;
            if (out.state == ZJ_STATE_UNKNOWN && f->refetched) {
                //  The broker knew this ticket before it went away.
                if (!*lost)
                    snprintf (lost, sizeof lost, "the broker at %s restarted without the "
                              "task's state (it keeps tasks in memory only, or lost its "
                              "store): submit the task again", self->endpoint);
                zj__chain_settle (&chain, f, ZJ_EBROKERLOST, lost);
            }
            else if (zj__future_settle_outcome (f, &out))
                zj__chain_push (&chain, f);
            f = next;
        }
    }
    zj__unlock ();
    zj__chain_release (&chain);
}

static void s_on_error (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = msg->req ? s_inflight_find (self, msg->req) : NULL;
    if (!req) {
        log_warn ("broker error", "endpoint=%s req=%llu code=%.*s message=\"%.*s\"",
                  self->endpoint, (unsigned long long) msg->req,
                  (int) msg->err_code.len, msg->err_code.ptr,
                  (int) msg->err_message.len, msg->err_message.ptr);
        return;
    }
    zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
    if (req->type == ZJ_MSG_SUBMIT)
        self->submits_inflight--;
    zj_err_t code = zj_err_from_name (msg->err_code.ptr, msg->err_code.len);
    char message[1024];
    snprintf (message, sizeof message, "%.*s", (int) msg->err_message.len,
              msg->err_message.ptr ? msg->err_message.ptr : "");
    zj__chain_t chain = {NULL, NULL};
    zj__lock ();
    zj__io_req_fail (self, req, code, message, &chain);
    zj__unlock ();
    zj__chain_release (&chain);
}

static void s_on_states (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    zj_msg_type_t asked = msg->type == ZJ_MSG_CANCEL_REPLY ? ZJ_MSG_CANCEL
                        : msg->type == ZJ_MSG_RETRY_REPLY ? ZJ_MSG_RETRY : ZJ_MSG_STATUS;
    bool match = req && req->sync && req->type == asked;
    if (!match)
        req = NULL;
    if (req)
        zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
    zj__chain_t chain = {NULL, NULL};
    zj_str_t ticket;
    zj_state_t state;
    bool first = true;
    //  The attempt history of a STATUS that asked for it, as JSON.
    char *json = NULL;
    zj_err_t jerr = ZJ_OK;
    if (req && req->attempts && msg->type == ZJ_MSG_STATUS_REPLY) {
        zj_msg_t copy = *msg;
        zj_raw_t raw;
        if (zj_msg_next_state_attempts (&copy, &ticket, &state, &raw) && raw.ptr)
            json = zj_json_from_msgpack (raw.ptr, raw.len, &jerr);
    }
    zj__lock ();
    if (req)
        req->json = json;
    while (zj_msg_next_state (msg, &ticket, &state)) {
        if (first && req)
            req->state = (int) state;
        first = false;
        //  Settle here, before the caller of zj_future_cancel wakes, so
        //  that the future is cancelled when the call returns ZJ_OK.
        if (msg->type == ZJ_MSG_CANCEL_REPLY && state == ZJ_STATE_CANCELLED) {
            zj_future_t *f = zj__tickets_take (&self->tickets, ticket.ptr, ticket.len);
            while (f) {
                zj_future_t *next = f->tnext;
                zj__chain_settle (&chain, f, ZJ_ECANCELLED, NULL);
                f = next;
            }
        }
    }
    if (req)
        zj__req_finish_locked (req, ZJ_OK);
    zj__unlock ();
    zj__chain_release (&chain);
}

static void s_on_stats (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    if (!req || req->type != ZJ_MSG_STATS)
        return;
    zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
    zj_err_t err = ZJ_OK;
    char *json = zj_json_from_msgpack (msg->stats.ptr, msg->stats.len, &err);
    zj__lock ();
    req->json = json;
    zj__req_finish_locked (req, json ? ZJ_OK : err);
    zj__unlock ();
}

static void s_on_pong (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    if (!req || req->type != ZJ_MSG_PING)
        return;                 //  our own heartbeat or reconnect probe
    zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
    zj__lock ();
    zj__req_finish_locked (req, ZJ_OK);
    zj__unlock ();
}

//  FETCH has no reply of its own; the broker serves one peer's requests
//  in order, so an answer to a later request means the FETCH was taken.
static void s_retire_fetches (zj_client_t *self, uint64_t answered)
{
    zj__req_t *req = self->inflight;
    while (req && req->id < answered) {
        zj__req_t *next = req->next;
        if (req->type == ZJ_MSG_FETCH) {
            zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
            zj__req_destroy (&req);
        }
        req = next;
    }
}

void zj__recv_message (zj_client_t *self, const uint8_t *data, size_t size)
{
    zj_msg_t msg;
    const char *why = NULL;
    zj_err_t rc = zj_msg_decode (data, size, ZJ__CLIENT_MAX_FRAME, &msg, &why);
    if (rc != ZJ_OK) {
        log_warn ("bad frame", "peer=broker endpoint=%s error=%s why=\"%s\"",
                  self->endpoint, zj_err_name (rc), why ? why : "");
        return;
    }
    //  A broker going away proves nothing about the one that comes next.
    if (msg.type != ZJ_MSG_DISCONNECT)
        zj__link_heard (self, zj__now ());
    if (msg.req)
        s_retire_fetches (self, msg.req);
    switch (msg.type) {
        case ZJ_MSG_SUBMITTED:    s_on_submitted (self, &msg); break;
        case ZJ_MSG_RESULT:       s_on_result (self, &msg); break;
        case ZJ_MSG_ERROR:        s_on_error (self, &msg); break;
        case ZJ_MSG_STATUS_REPLY:
        case ZJ_MSG_CANCEL_REPLY: s_on_states (self, &msg); break;
        case ZJ_MSG_RETRY_REPLY: s_on_states (self, &msg); break;
        case ZJ_MSG_STATS_REPLY:  s_on_stats (self, &msg); break;
        case ZJ_MSG_PONG:         s_on_pong (self, &msg); break;
        case ZJ_MSG_DISCONNECT:   zj__link_gone (self, zj__now (), "it sent DISCONNECT"); break;
        default:
            log_debug ("ignored message", "type=%d", (int) msg.type);
            break;
    }
}

void zj__recv_drain (zj_client_t *self)
{
    //  The socket goes away when a DISCONNECT is handled: stop there.
    for (int i = 0; i < ZJ_DRAIN_MAX && self->sock; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        bool more = zmq_msg_more (&frame);
        if (!more)
            zj__recv_message (self, zmq_msg_data (&frame), zmq_msg_size (&frame));
        else {
            log_warn ("bad frame", "peer=broker endpoint=%s error=ProtocolError "
                      "why=\"more than one frame\"", self->endpoint);
            while (more && zmq_msg_recv (&frame, self->sock, 0) >= 0)
                more = zmq_msg_more (&frame);
        }
        zmq_msg_close (&frame);
    }
}
