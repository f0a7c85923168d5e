// SPDX-License-Identifier: MIT
//  io - the client's I/O thread: owns the DEALER, sends what API threads
//  queued, settles futures from the broker's answers, and fails them when
//  the broker cannot be reached or goes silent. Never blocks on a send.
#include "io.h"
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>
#include "client.h"
#include "future.h"
#include "json.h"
#include "log.h"

//  Messages are batches, so a few thousand queued messages already mean
//  millions of tasks; the bound only keeps a dead peer from eating memory.
#define ZJ_HWM 100000
//  Bounded linger: closing never hangs on a broker that is gone.
#define ZJ_LINGER_MS 200
//  The client trusts its broker more than the broker trusts clients, but
//  still bounds what one frame can make it allocate.
#define ZJ_CLIENT_MAX_FRAME ((size_t) ZJ_MAX_FRAME_DEFAULT * 4)
//  Messages handled per wake-up before the queue gets another look.
#define ZJ_DRAIN_MAX 1024

//  Futures settled under the lock, released (callbacks run, reference
//  dropped) after it, in settle order. Linked through future->tnext,
//  which is free once a future has left the ticket table.
typedef struct {
    zj_future_t *head;
    zj_future_t *tail;
} s_chain_t;

static void s_chain_push (s_chain_t *chain, zj_future_t *f)
{
    f->tnext = NULL;
    if (chain->tail)
        chain->tail->tnext = f;
    else
        chain->head = f;
    chain->tail = f;
}

static void s_chain_release (s_chain_t *chain)
{
    zj_future_t *f = chain->head;
    while (f) {
        zj_future_t *next = f->tnext;
        f->tnext = NULL;
        zj__future_release (f);
        f = next;
    }
    chain->head = chain->tail = NULL;
}

static void s_settle (zj_future_t *f, zj_err_t code, const char *message, s_chain_t *chain)
{
    if (zj__future_settle_error (f, code, message))
        s_chain_push (chain, f);
}

//  ---------------------------------------------------------------------
//  Request lists (I/O thread only)

static void s_list_append (zj__req_t **head, zj__req_t **tail, zj__req_t *req)
{
    req->next = NULL;
    req->prev = *tail;
    if (*tail)
        (*tail)->next = req;
    else
        *head = req;
    *tail = req;
}

static void s_list_remove (zj__req_t **head, zj__req_t **tail, zj__req_t *req)
{
    if (req->prev)
        req->prev->next = req->next;
    else
        *head = req->next;
    if (req->next)
        req->next->prev = req->prev;
    else
        *tail = req->prev;
    req->next = req->prev = NULL;
}

static zj__req_t *s_inflight_find (zj_client_t *self, uint64_t id)
{
    //  Replies come in request order, so the match is nearly always first.
    for (zj__req_t *req = self->inflight; req; req = req->next)
        if (req->id == id)
            return req;
    return NULL;
}

//  Walk the tickets a sent FETCH or a CANCEL keeps in its arena.
static const char *s_arena_ticket (const zj__req_t *req, size_t *off)
{
    if (*off >= req->arena_len)
        return NULL;
    const char *ticket = (const char *) req->arena + *off;
    *off += strlen (ticket) + 1;
    return ticket;
}

static bool s_arena_add_ticket (zj__req_t *req, const char *ticket)
{
    if (zj__req_append (req, ticket, strlen (ticket) + 1) == SIZE_MAX)
        return false;
    req->nitems++;
    return true;
}

//  Settle everything that waits on req with code (lock held); finish a
//  sync request (its caller frees it), free any other.
static void s_req_fail (zj_client_t *self, zj__req_t *req, zj_err_t code,
                        const char *message, s_chain_t *chain)
{
    if (req->type == ZJ_MSG_SUBMIT || (req->type == ZJ_MSG_FETCH && req->items))
        for (uint32_t i = 0; i < req->nitems; i++)
            s_settle (req->items[i].future, code, message, chain);
    else if (req->type == ZJ_MSG_FETCH) {
        //  Sent: its futures wait in the ticket table.
        size_t off = 0;
        const char *ticket;
        while ((ticket = s_arena_ticket (req, &off))) {
            zj_future_t *f = zj__tickets_take (&self->tickets, ticket, strlen (ticket));
            while (f) {
                zj_future_t *next = f->tnext;
                s_settle (f, code, message, chain);
                f = next;
            }
        }
    }
    if (req->sync)
        zj__req_finish_locked (req, code);
    else
        zj__req_destroy (&req);
}

//  Fail every pending future and request of this client with code.
static void s_fail_all (zj_client_t *self, zj_err_t code, const char *message)
{
    s_chain_t chain = {NULL, NULL};
    zj__lock ();
    zj_future_t *f = zj__tickets_take_all (&self->tickets);
    while (f) {
        zj_future_t *next = f->tnext;
        s_settle (f, code, message, &chain);
        f = next;
    }
    //  The queue too: it may hold a SUBMIT batch back (s_take_queue).
    zj__req_t *lists[3] = {self->sendq, self->inflight, self->queue};
    self->sendq = self->sendq_tail = NULL;
    self->inflight = self->inflight_tail = NULL;
    self->queue = self->queue_tail = NULL;
    self->submits_inflight = 0;
    for (int i = 0; i < 3; i++) {
        zj__req_t *req = lists[i];
        while (req) {
            zj__req_t *next = req->next;
            s_req_fail (self, req, code, message, &chain);
            req = next;
        }
    }
    zj__unlock ();
    s_chain_release (&chain);
}

//  ---------------------------------------------------------------------
//  Socket

static bool s_socket_open (zj_client_t *self)
{
    void *sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!sock)
        return false;
    int linger = ZJ_LINGER_MS;
    int hwm = ZJ_HWM;
    int64_t max = (int64_t) ZJ_CLIENT_MAX_FRAME;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    if (zmq_connect (sock, self->endpoint) != 0) {
        linger = 0;
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (sock);
        return false;
    }
    self->sock = sock;
    return true;
}

//  Close the socket; with drop, messages still queued in it are thrown
//  away so that requests we already failed never reach a broker later.
static void s_socket_close (zj_client_t *self, bool drop)
{
    if (!self->sock)
        return;
    if (drop) {
        int linger = 0;
        zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    zmq_close (self->sock);
    self->sock = NULL;
}

//  The broker is gone (unreachable, or silent past liveness). Today every
//  pending future fails and a fresh socket is made. Seam for reconnect:
//  keep the ticket table here, and once the new socket hears from the
//  broker, re-FETCH every ticket in it instead of failing the futures.
static void s_broker_gone (zj_client_t *self, zj_err_t code, const char *message)
{
    log_debug ("broker lost", "endpoint=%s error=%s", self->endpoint, zj_err_name (code));
    s_fail_all (self, code, message);
    s_socket_close (self, true);
    if (!s_socket_open (self))
        log_warn ("reconnect failed", "endpoint=%s error=\"%s\"", self->endpoint,
                  zmq_strerror (errno));
    self->heard = false;
    self->had_work = false;
}

//  ---------------------------------------------------------------------
//  Sending

//  Encode req into self->enc.
static void s_encode (zj_client_t *self, zj__req_t *req)
{
    zj_enc_t *enc = self->enc;
    size_t off = 0;
    const char *ticket;
    switch (req->type) {
        case ZJ_MSG_SUBMIT:
            zj_enc_submit_begin (enc, req->id, req->nitems, NULL);
            for (uint32_t i = 0; i < req->nitems; i++) {
                const zj__item_t *it = &req->items[i];
                zj_task_t task = {
                    .fn = {(const char *) req->arena + it->fn_off, it->fn_len},
                    .args = {req->arena + it->args_off, it->args_len},
                    .priority = it->priority,
                    .timeout = it->timeout,
                    .max_retries = it->max_retries,
                    .chunk = it->chunk,
                };
                zj_enc_task (enc, &task);
            }
            break;
        case ZJ_MSG_FETCH:
        case ZJ_MSG_CANCEL:
        case ZJ_MSG_STATUS:
            if (req->sync) {
                zj_enc_tickets_begin (enc, req->type, req->id, 1);
                zj_enc_str (enc, req->ticket, strlen (req->ticket));
                break;
            }
            zj_enc_tickets_begin (enc, req->type, req->id, req->nitems);
            while ((ticket = s_arena_ticket (req, &off)))
                zj_enc_str (enc, ticket, strlen (ticket));
            break;
        default:                //  STATS, PING
            zj_enc_simple (enc, req->type, req->id);
            break;
    }
}

//  A FETCH about to be sent: its futures join the ticket table (RESULT
//  entries may follow at once) and the request keeps only the tickets.
static void s_fetch_prepare (zj_client_t *self, zj__req_t *req)
{
    s_chain_t chain = {NULL, NULL};
    zj__item_t *items = req->items;
    uint32_t n = req->nitems;
    req->items = NULL;
    req->nitems = 0;
    zj__lock ();
    for (uint32_t i = 0; i < n; i++) {
        zj_future_t *f = items[i].future;
        if (!s_arena_add_ticket (req, f->ticket) || !zj__tickets_add (&self->tickets, f))
            s_settle (f, ZJ_ENOMEM, "no memory to fetch the ticket", &chain);
    }
    zj__unlock ();
    free (items);
    s_chain_release (&chain);
}

//  Try to send req. 0 when sent, EAGAIN when the socket is full, else an
//  errno that fails it.
static int s_send (zj_client_t *self, zj__req_t *req)
{
    if (!self->sock)
        return EHOSTUNREACH;
    if (req->type == ZJ_MSG_FETCH && req->items)
        s_fetch_prepare (self, req);
    if (req->id == 0)
        req->id = self->next_req++;
    s_encode (self, req);
    if (zj_enc_failed (self->enc))
        return ENOMEM;
    if (zmq_send (self->sock, zj_enc_data (self->enc), zj_enc_size (self->enc), ZMQ_DONTWAIT) < 0)
        return errno;
    return 0;
}

static void s_flush (zj_client_t *self)
{
    while (self->sendq) {
        zj__req_t *req = self->sendq;
        int rc = s_send (self, req);
        if (rc == EAGAIN)
            break;
        s_list_remove (&self->sendq, &self->sendq_tail, req);
        if (rc != 0) {
            s_chain_t chain = {NULL, NULL};
            zj_err_t code = rc == ENOMEM ? ZJ_ENOMEM : ZJ_EUNREACHABLE;
            zj__lock ();
            s_req_fail (self, req, code, zmq_strerror (rc), &chain);
            zj__unlock ();
            s_chain_release (&chain);
            continue;
        }
        if (req->type == ZJ_MSG_SUBMIT) {
            self->submits_inflight++;
            //  The bytes are on their way; only the futures are needed now.
            free (req->arena);
            req->arena = NULL;
            req->arena_len = req->arena_cap = 0;
        }
        if (req->type == ZJ_MSG_CANCEL && !req->sync)
            zj__req_destroy (&req);     //  CANCEL_REPLY is handled by ticket
        else
            s_list_append (&self->inflight, &self->inflight_tail, req);
    }
}

static void s_send_ping (zj_client_t *self)
{
    if (!self->sock || self->sendq)
        return;
    //  Untracked: any answer at all proves the broker alive.
    zj_enc_simple (self->enc, ZJ_MSG_PING, self->next_req++);
    if (!zj_enc_failed (self->enc))
        zmq_send (self->sock, zj_enc_data (self->enc), zj_enc_size (self->enc), ZMQ_DONTWAIT);
}

//  Ask the broker to cancel tickets (shutdown with cancel_futures).
static void s_cancel_add (zj_client_t *self, zj__req_t **req_p, const char *ticket)
{
    if (*req_p && (*req_p)->nitems >= self->opts.batch) {
        s_list_append (&self->sendq, &self->sendq_tail, *req_p);
        *req_p = NULL;
    }
    if (!*req_p && !(*req_p = zj__req_new (ZJ_MSG_CANCEL, false)))
        return;
    s_arena_add_ticket (*req_p, ticket);
}

static void s_cancel_flush (zj_client_t *self, zj__req_t **req_p)
{
    if (*req_p && (*req_p)->nitems)
        s_list_append (&self->sendq, &self->sendq_tail, *req_p);
    else
        zj__req_destroy (req_p);
    *req_p = NULL;
}

typedef struct {
    zj_client_t *client;
    zj__req_t *req;
} s_cancel_walk_t;

static void s_cancel_each (zj_future_t *f, void *arg)
{
    s_cancel_walk_t *walk = arg;
    s_cancel_add (walk->client, &walk->req, f->ticket);
}

static void s_cancel_pending (zj_client_t *self)
{
    //  Submits not sent yet never reach the broker.
    s_chain_t chain = {NULL, NULL};
    zj__lock ();
    zj__req_t *req = self->sendq;
    while (req) {
        zj__req_t *next = req->next;
        if (req->type == ZJ_MSG_SUBMIT) {
            s_list_remove (&self->sendq, &self->sendq_tail, req);
            s_req_fail (self, req, ZJ_ECANCELLED, NULL, &chain);
        }
        req = next;
    }
    zj__unlock ();
    s_chain_release (&chain);
    //  Submitted ones: the broker cancels those still queued; SUBMITTED
    //  replies still to come are handled in s_on_submitted.
    s_cancel_walk_t walk = {self, NULL};
    zj__tickets_each (&self->tickets, s_cancel_each, &walk);
    s_cancel_flush (self, &walk.req);
}

//  ---------------------------------------------------------------------
//  Receiving

static void s_on_submitted (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    if (!req || req->type != ZJ_MSG_SUBMIT) {
        log_debug ("stray reply", "type=SUBMITTED req=%llu", (unsigned long long) msg->req);
        return;
    }
    s_list_remove (&self->inflight, &self->inflight_tail, req);
    self->submits_inflight--;
    zj__req_t *cancel = NULL;
    s_chain_t chain = {NULL, NULL};
    zj__lock ();
    uint32_t i = 0;
    zj_str_t ticket;
    while (i < req->nitems && zj_msg_next_str (msg, &ticket)) {
        zj_future_t *f = req->items[i++].future;
        zj__future_set_ticket (f, ticket.ptr, ticket.len);
        if (!zj__tickets_add (&self->tickets, f))
            s_settle (f, ZJ_ENOMEM, "no memory to track the ticket", &chain);
        else if (self->cancelling)
            s_cancel_add (self, &cancel, f->ticket);
    }
    for (; i < req->nitems; i++)
        s_settle (req->items[i].future, ZJ_EPROTO,
                  "the broker answered with fewer tickets than tasks", &chain);
    zj__unlock ();
    s_chain_release (&chain);
    s_cancel_flush (self, &cancel);
    zj__req_destroy (&req);
}

static void s_on_result (zj_client_t *self, zj_msg_t *msg)
{
    s_chain_t chain = {NULL, NULL};
    zj_outcome_t out;
    zj__lock ();
    while (zj_msg_next_outcome (msg, &out)) {
        //  Entries for tickets nobody here waits for are ignored (5.7).
        zj_future_t *f = zj__tickets_take (&self->tickets, out.ticket.ptr, out.ticket.len);
        while (f) {
            zj_future_t *next = f->tnext;
            if (zj__future_settle_outcome (f, &out))
                s_chain_push (&chain, f);
            f = next;
        }
    }
    zj__unlock ();
    s_chain_release (&chain);
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
    s_list_remove (&self->inflight, &self->inflight_tail, req);
    if (req->type == ZJ_MSG_SUBMIT)
        self->submits_inflight--;
    zj_err_t code = zj_err_from_name (msg->err_code.ptr, msg->err_code.len);
    char message[1024];
    snprintf (message, sizeof message, "%.*s", (int) msg->err_message.len,
              msg->err_message.ptr ? msg->err_message.ptr : "");
    s_chain_t chain = {NULL, NULL};
    zj__lock ();
    s_req_fail (self, req, code, message, &chain);
    zj__unlock ();
    s_chain_release (&chain);
}

static void s_on_states (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    bool match = req && req->sync
              && req->type == (msg->type == ZJ_MSG_CANCEL_REPLY ? ZJ_MSG_CANCEL : ZJ_MSG_STATUS);
    if (!match)
        req = NULL;
    if (req)
        s_list_remove (&self->inflight, &self->inflight_tail, req);
    s_chain_t chain = {NULL, NULL};
    zj_str_t ticket;
    zj_state_t state;
    bool first = true;
    zj__lock ();
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
                s_settle (f, ZJ_ECANCELLED, NULL, &chain);
                f = next;
            }
        }
    }
    if (req)
        zj__req_finish_locked (req, ZJ_OK);
    zj__unlock ();
    s_chain_release (&chain);
}

static void s_on_stats (zj_client_t *self, zj_msg_t *msg)
{
    zj__req_t *req = s_inflight_find (self, msg->req);
    if (!req || req->type != ZJ_MSG_STATS)
        return;
    s_list_remove (&self->inflight, &self->inflight_tail, req);
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
        return;                 //  our own heartbeat
    s_list_remove (&self->inflight, &self->inflight_tail, req);
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
            s_list_remove (&self->inflight, &self->inflight_tail, req);
            zj__req_destroy (&req);
        }
        req = next;
    }
}

static void s_on_message (zj_client_t *self, const uint8_t *data, size_t size)
{
    zj_msg_t msg;
    const char *why = NULL;
    zj_err_t rc = zj_msg_decode (data, size, ZJ_CLIENT_MAX_FRAME, &msg, &why);
    if (rc != ZJ_OK) {
        log_warn ("bad frame", "peer=broker endpoint=%s error=%s why=\"%s\"",
                  self->endpoint, zj_err_name (rc), why ? why : "");
        return;
    }
    self->heard = true;
    self->silent_since = zj__now ();
    if (msg.req)
        s_retire_fetches (self, msg.req);
    switch (msg.type) {
        case ZJ_MSG_SUBMITTED:    s_on_submitted (self, &msg); break;
        case ZJ_MSG_RESULT:       s_on_result (self, &msg); break;
        case ZJ_MSG_ERROR:        s_on_error (self, &msg); break;
        case ZJ_MSG_STATUS_REPLY:
        case ZJ_MSG_CANCEL_REPLY: s_on_states (self, &msg); break;
        case ZJ_MSG_STATS_REPLY:  s_on_stats (self, &msg); break;
        case ZJ_MSG_PONG:         s_on_pong (self, &msg); break;
        default:
            //  DISCONNECT: the broker is going away; if it does not come
            //  back, the liveness check fails what is pending.
            log_debug ("ignored message", "type=%d", (int) msg.type);
            break;
    }
}

static void s_drain (zj_client_t *self)
{
    for (int i = 0; i < ZJ_DRAIN_MAX && self->sock; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        bool more = zmq_msg_more (&frame);
        if (!more)
            s_on_message (self, zmq_msg_data (&frame), zmq_msg_size (&frame));
        else {
            log_warn ("bad frame", "peer=broker endpoint=%s error=ProtocolError "
                      "why=\"more than one frame\"", self->endpoint);
            while (more && zmq_msg_recv (&frame, self->sock, 0) >= 0)
                more = zmq_msg_more (&frame);
        }
        zmq_msg_close (&frame);
    }
}

//  ---------------------------------------------------------------------
//  Reachability

static bool s_has_work (zj_client_t *self)
{
    return self->inflight || self->sendq || self->tickets.count > 0;
}

static void s_check_broker (zj_client_t *self, double now)
{
    if (!s_has_work (self)) {
        self->had_work = false;
        return;
    }
    if (!self->had_work) {
        //  Silence counts only while something waits for the broker.
        self->had_work = true;
        self->silent_since = now;
    }
    double silent = now - self->silent_since;
    double lost_after = self->opts.heartbeat * self->opts.liveness;
    char message[512];
    if (!self->heard && silent >= self->opts.connect_timeout) {
        snprintf (message, sizeof message, "no answer from the broker at %s after %g s",
                  self->endpoint, self->opts.connect_timeout);
        s_broker_gone (self, ZJ_EUNREACHABLE, message);
    }
    else if (self->heard && silent >= lost_after) {
        snprintf (message, sizeof message, "the broker at %s stopped answering for %g s",
                  self->endpoint, lost_after);
        s_broker_gone (self, ZJ_EBROKERLOST, message);
    }
    else if (silent >= self->opts.heartbeat && now - self->last_ping >= self->opts.heartbeat) {
        s_send_ping (self);
        self->last_ping = now;
    }
}

//  Milliseconds until s_check_broker has something to do; -1 when idle.
static long s_poll_timeout (zj_client_t *self, double now)
{
    if (!s_has_work (self))
        return -1;
    double limit = self->heard ? self->opts.heartbeat * self->opts.liveness
                               : self->opts.connect_timeout;
    double next = self->silent_since + limit;
    double ping_at = fmax (self->silent_since, self->last_ping) + self->opts.heartbeat;
    if (ping_at < next)
        next = ping_at;
    double ms = ceil ((next - now) * 1000);
    return ms < 1 ? 1 : ms > 1000 ? 1000 : (long) ms;
}

//  ---------------------------------------------------------------------
//  Thread

//  Take the outbound queue (lock held). Like Nagle's algorithm: while a
//  SUBMIT is waiting for its SUBMITTED, a tail batch that is not full
//  stays in the queue and keeps filling, so a burst of zj_submit calls
//  becomes a few full batches; a lone submit still leaves at once.
static zj__req_t *s_take_queue (zj_client_t *self, bool may_hold)
{
    zj__req_t *taken = self->queue;
    zj__req_t *tail = self->queue_tail;
    bool hold = may_hold && tail && tail->type == ZJ_MSG_SUBMIT
             && tail->nitems < self->opts.batch && self->submits_inflight > 0;
    if (!hold) {
        self->queue = self->queue_tail = NULL;
        return taken;
    }
    if (taken == tail)
        return NULL;
    zj__req_t *prev = taken;
    while (prev->next != tail)
        prev = prev->next;
    prev->next = NULL;
    self->queue = tail;
    return taken;
}

static void *s_main (void *arg)
{
    zj_client_t *self = arg;
    for (;;) {
        zj__lock ();
        bool stop = self->stopping;
        bool cancel = self->cancel_all && !self->cancelling;
        zj__req_t *taken = s_take_queue (self, !stop && !cancel);
        zj__unlock ();
        while (taken) {
            zj__req_t *next = taken->next;
            s_list_append (&self->sendq, &self->sendq_tail, taken);
            taken = next;
        }
        if (stop)
            break;
        if (cancel) {
            self->cancelling = true;
            s_cancel_pending (self);
        }
        s_flush (self);
        s_check_broker (self, zj__now ());

        zmq_pollitem_t items[2] = {
            {NULL, self->wake_fd, ZMQ_POLLIN, 0},
            {self->sock, 0, ZMQ_POLLIN | (self->sendq ? ZMQ_POLLOUT : 0), 0},
        };
        int n = zmq_poll (items, self->sock ? 2 : 1, s_poll_timeout (self, zj__now ()));
        if (n < 0 && errno == ETERM)
            break;
        if (n <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t count;
            ssize_t rc = read (self->wake_fd, &count, sizeof count);
            (void) rc;
        }
        if (self->sock && (items[1].revents & ZMQ_POLLIN))
            s_drain (self);
    }
    s_fail_all (self, ZJ_ESHUTDOWN, "the client was destroyed before the task finished");
    s_socket_close (self, false);
    return NULL;
}

zj_err_t zj__io_start (zj_client_t *self)
{
    self->next_req = 1;
    self->ctx = zmq_ctx_new ();
    self->enc = zj_enc_new ();
    if (!self->ctx || !self->enc)
        return ZJ_ENOMEM;
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->wake_fd < 0)
        return ZJ_EIO;
    if (!s_socket_open (self))
        return errno == ENOMEM ? ZJ_ENOMEM : ZJ_EINVAL;
    //  The socket moves to the new thread; pthread_create is the barrier.
    if (pthread_create (&self->thread, NULL, s_main, self) != 0)
        return ZJ_EIO;
    self->thread_started = true;
    return ZJ_OK;
}

void zj__io_stop (zj_client_t *self)
{
    if (self->thread_started) {
        zj__lock ();
        self->stopping = true;
        zj__unlock ();
        zj__client_wake (self);
        pthread_join (self->thread, NULL);
        self->thread_started = false;
    }
    s_socket_close (self, true);
    if (self->ctx) {
        zmq_ctx_term (self->ctx);
        self->ctx = NULL;
    }
    if (self->wake_fd >= 0) {
        close (self->wake_fd);
        self->wake_fd = -1;
    }
    zj_enc_destroy (&self->enc);
    zj__tickets_fini (&self->tickets);
}
