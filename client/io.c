// SPDX-License-Identifier: MIT
//  io - the client's I/O thread: owns the DEALER, sends what API threads
//  queued, and fails what waits when the broker is gone for good. Never
//  blocks on a send. Answers are read in recv.c; liveness is link.c.
#include "io.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <zmq.h>
#include <zmq.h>
#include "link.h"
#include "log.h"
#include "recv.h"

//  Messages are batches, so a few thousand queued messages already mean
//  millions of tasks; the bound only keeps a dead peer from eating memory.
#define ZJ_HWM 100000
//  Bounded linger: closing never hangs on a broker that is gone.
#define ZJ_LINGER_MS 200
//  ZeroMQ's own reconnect of a socket to a broker that is down backs off
//  like ours (link.c) instead of retrying every 100 ms.
#define ZJ_RECONNECT_MAX_MS 2000

//  ---------------------------------------------------------------------
//  Request lists (I/O thread only)

void zj__io_list_append (zj__req_t **head, zj__req_t **tail, zj__req_t *req)
{
    req->next = NULL;
    req->prev = *tail;
    if (*tail)
        (*tail)->next = req;
    else
        *head = req;
    *tail = req;
}

void zj__io_list_remove (zj__req_t **head, zj__req_t **tail, zj__req_t *req)
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

const char *zj__io_arena_ticket (const zj__req_t *req, size_t *off)
{
    if (*off >= req->arena_len)
        return NULL;
    const char *ticket = (const char *) req->arena + *off;
    *off += strlen (ticket) + 1;
    return ticket;
}

bool zj__io_arena_add_ticket (zj__req_t *req, const char *ticket)
{
    if (zj__req_append (req, ticket, strlen (ticket) + 1) == SIZE_MAX)
        return false;
    req->nitems++;
    return true;
}

void zj__io_req_fail (zj_client_t *self, zj__req_t *req, zj_err_t code,
                      const char *message, zj__chain_t *chain)
{
    if (req->type == ZJ_MSG_SUBMIT || (req->type == ZJ_MSG_FETCH && req->items))
        for (uint32_t i = 0; i < req->nitems; i++)
            zj__chain_settle (chain, req->items[i].future, code, message);
    else if (req->type == ZJ_MSG_FETCH) {
        //  Sent: its futures wait in the ticket table.
        size_t off = 0;
        const char *ticket;
        while ((ticket = zj__io_arena_ticket (req, &off))) {
            zj_future_t *f = zj__tickets_take (&self->tickets, ticket, strlen (ticket));
            while (f) {
                zj_future_t *next = f->tnext;
                zj__chain_settle (chain, f, code, message);
                f = next;
            }
        }
    }
    if (req->sync)
        zj__req_finish_locked (req, code);
    else
        zj__req_destroy (&req);
}

void zj__io_fail_all (zj_client_t *self, zj_err_t code, const char *message)
{
    zj__chain_t chain = {NULL, NULL};
    zj__lock ();
    zj_future_t *f = zj__tickets_take_all (&self->tickets);
    while (f) {
        zj_future_t *next = f->tnext;
        zj__chain_settle (&chain, f, code, message);
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
            zj__io_req_fail (self, req, code, message, &chain);
            req = next;
        }
    }
    zj__unlock ();
    zj__chain_release (&chain);
}

//  ---------------------------------------------------------------------
//  Socket

//  Watch the DEALER for a broken connection. Heartbeats alone miss a
//  broker that restarts between two of them: ZeroMQ reconnects the
//  socket by itself, and the new broker answers PINGs without knowing
//  our subscriptions. Without a monitor, only the heartbeats remain.
static void s_monitor_open (zj_client_t *self)
{
    char endpoint[96];
    snprintf (endpoint, sizeof endpoint, "inproc://zjob-monitor-%s-%u", self->id,
              self->monitor_seq++);
    if (zmq_socket_monitor (self->sock, endpoint, ZMQ_EVENT_DISCONNECTED) != 0)
        return;
    void *pair = zmq_socket (self->ctx, ZMQ_PAIR);
    int linger = 0;
    if (pair && zmq_setsockopt (pair, ZMQ_LINGER, &linger, sizeof linger) == 0
        && zmq_connect (pair, endpoint) == 0) {
        self->monitor = pair;
        return;
    }
    if (pair)
        zmq_close (pair);
    zmq_socket_monitor (self->sock, NULL, 0);
    log_debug ("no socket monitor", "endpoint=%s error=\"%s\"", self->endpoint,
               zmq_strerror (errno));
}

//  Read the key files named in the options into self (the names are
//  borrowed from the caller of zj_client_new: cleared afterwards).
static zj_err_t s_curve_load (zj_client_t *self)
{
    const char *secret_file = self->opts.curve_secret_file;
    const char *broker_file = self->opts.broker_key_file;
    self->opts.curve_secret_file = self->opts.broker_key_file = NULL;
    if (!secret_file && !broker_file)
        return ZJ_OK;
    char why[512];
    if (!secret_file || !broker_file
        || !curvekeys_load (&self->keys, secret_file, broker_file, "curve_secret_file",
                            "broker_key_file", why, sizeof why))
        return ZJ_EINVAL;
    self->curve = true;
    return ZJ_OK;
}

bool zj__io_socket_open (zj_client_t *self)
{
    void *sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!sock)
        return false;
    int linger = ZJ_LINGER_MS;
    int hwm = ZJ_HWM;
    int ivl_max = ZJ_RECONNECT_MAX_MS;
    int64_t max = (int64_t) ZJ__CLIENT_MAX_FRAME;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    zmq_setsockopt (sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    //  The same routing id on every socket of this client: a broker that
    //  did not restart (ROUTER_HANDOVER) keeps its subscriptions for us.
    zmq_setsockopt (sock, ZMQ_ROUTING_ID, self->id, strlen (self->id));
    if (self->curve && !curvekeys_apply (&self->keys, sock)) {
        zmq_close (sock);
        return false;
    }
    if (zmq_connect (sock, self->endpoint) != 0) {
        int err = errno;
        linger = 0;
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (sock);
        errno = err;
        return false;
    }
    self->sock = sock;
    s_monitor_open (self);
    return true;
}

void zj__io_socket_close (zj_client_t *self, bool drop)
{
    if (!self->sock)
        return;
    if (self->monitor) {
        zmq_socket_monitor (self->sock, NULL, 0);
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
    if (drop) {
        int linger = 0;
        zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger);
    }
    zmq_close (self->sock);
    self->sock = NULL;
}

bool zj__io_monitor_broke (zj_client_t *self)
{
    bool broke = false;
    while (self->monitor) {
        //  An event is two frames: [u16 event, u32 value] and the endpoint.
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&frame) >= sizeof event)
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
        broke |= event == ZMQ_EVENT_DISCONNECTED;
        while (zmq_msg_more (&frame) && zmq_msg_recv (&frame, self->monitor, 0) >= 0)
            ;
        zmq_msg_close (&frame);
    }
    return broke;
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
            //  The client id makes (client, req) idempotent: a SUBMIT sent
            //  again after a reconnect never creates a second task.
            zj_enc_submit_begin (enc, req->id, req->nitems, self->id);
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
                if (it->retry_len)
                    task.retry_on = (zj_raw_t) {req->arena + it->retry_off, it->retry_len};
                zj_enc_task (enc, &task);
            }
            break;
        case ZJ_MSG_FETCH:
        case ZJ_MSG_CANCEL:
        case ZJ_MSG_STATUS:
        case ZJ_MSG_RETRY:
            if (req->sync && req->attempts) {
                zj_enc_status_attempts_begin (enc, req->id, 1);
                zj_enc_str (enc, req->ticket, strlen (req->ticket));
                zj_enc_status_attempts_end (enc);
                break;
            }
            if (req->sync) {
                zj_enc_tickets_begin (enc, req->type, req->id, 1);
                zj_enc_str (enc, req->ticket, strlen (req->ticket));
                break;
            }
            zj_enc_tickets_begin (enc, req->type, req->id, req->nitems);
            while ((ticket = zj__io_arena_ticket (req, &off)))
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
    zj__chain_t chain = {NULL, NULL};
    zj__item_t *items = req->items;
    uint32_t n = req->nitems;
    req->items = NULL;
    req->nitems = 0;
    zj__lock ();
    for (uint32_t i = 0; i < n; i++) {
        zj_future_t *f = items[i].future;
        if (!zj__io_arena_add_ticket (req, f->ticket) || !zj__tickets_add (&self->tickets, f))
            zj__chain_settle (&chain, f, ZJ_ENOMEM, "no memory to fetch the ticket");
    }
    zj__unlock ();
    free (items);
    zj__chain_release (&chain);
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
    if (!zj__link_may_send (self))
        return;
    while (self->sendq) {
        zj__req_t *req = self->sendq;
        int rc = s_send (self, req);
        if (rc == EAGAIN)
            break;
        zj__io_list_remove (&self->sendq, &self->sendq_tail, req);
        if (rc != 0) {
            zj__chain_t chain = {NULL, NULL};
            zj_err_t code = rc == ENOMEM ? ZJ_ENOMEM : ZJ_EUNREACHABLE;
            zj__lock ();
            zj__io_req_fail (self, req, code, zmq_strerror (rc), &chain);
            zj__unlock ();
            zj__chain_release (&chain);
            continue;
        }
        //  A SUBMIT keeps its bytes until SUBMITTED: it may go again.
        if (req->type == ZJ_MSG_SUBMIT)
            self->submits_inflight++;
        if (req->type == ZJ_MSG_CANCEL && !req->sync)
            zj__req_destroy (&req);     //  CANCEL_REPLY is handled by ticket
        else
            zj__io_list_append (&self->inflight, &self->inflight_tail, req);
    }
}

void zj__io_send_ping (zj_client_t *self)
{
    if (!self->sock)
        return;
    zj_enc_simple (self->enc, ZJ_MSG_PING, self->next_req++);
    if (!zj_enc_failed (self->enc))
        zmq_send (self->sock, zj_enc_data (self->enc), zj_enc_size (self->enc), ZMQ_DONTWAIT);
}

//  Ask the broker to cancel tickets (shutdown with cancel_futures).
void zj__io_cancel_add (zj_client_t *self, zj__req_t **req_p, const char *ticket)
{
    if (*req_p && (*req_p)->nitems >= self->opts.batch) {
        zj__io_list_append (&self->sendq, &self->sendq_tail, *req_p);
        *req_p = NULL;
    }
    if (!*req_p && !(*req_p = zj__req_new (ZJ_MSG_CANCEL, false)))
        return;
    zj__io_arena_add_ticket (*req_p, ticket);
}

void zj__io_cancel_flush (zj_client_t *self, zj__req_t **req_p)
{
    if (*req_p && (*req_p)->nitems)
        zj__io_list_append (&self->sendq, &self->sendq_tail, *req_p);
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
    zj__io_cancel_add (walk->client, &walk->req, f->ticket);
}

static void s_cancel_pending (zj_client_t *self)
{
    //  Submits never sent never reach the broker. One sent before a
    //  reconnect (it has a req id) may have been accepted: it goes again,
    //  and its tasks are cancelled once SUBMITTED names them.
    zj__chain_t chain = {NULL, NULL};
    zj__lock ();
    zj__req_t *req = self->sendq;
    while (req) {
        zj__req_t *next = req->next;
        if (req->type == ZJ_MSG_SUBMIT && req->id == 0) {
            zj__io_list_remove (&self->sendq, &self->sendq_tail, req);
            zj__io_req_fail (self, req, ZJ_ECANCELLED, NULL, &chain);
        }
        req = next;
    }
    zj__unlock ();
    zj__chain_release (&chain);
    //  Submitted ones: the broker cancels those still queued; SUBMITTED
    //  replies still to come are handled in recv.c.
    s_cancel_walk_t walk = {self, NULL};
    zj__tickets_each (&self->tickets, s_cancel_each, &walk);
    zj__io_cancel_flush (self, &walk.req);
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
            zj__io_list_append (&self->sendq, &self->sendq_tail, taken);
            taken = next;
        }
        if (stop)
            break;
        if (cancel) {
            self->cancelling = true;
            s_cancel_pending (self);
        }
        s_flush (self);
        zj__link_check (self, zj__now ());

        zmq_pollitem_t items[3] = {
            {NULL, self->wake_fd, ZMQ_POLLIN, 0},
            {self->sock, 0, ZMQ_POLLIN | (self->sendq && zj__link_may_send (self)
                                          ? ZMQ_POLLOUT : 0), 0},
            {self->monitor, 0, ZMQ_POLLIN, 0},
        };
        int nitems = !self->sock ? 1 : !self->monitor ? 2 : 3;
        int n = zmq_poll (items, nitems, zj__link_poll_timeout (self, zj__now ()));
        if (n < 0 && errno == ETERM)
            break;
        if (n <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN) {
            uint64_t count;
            ssize_t rc = read (self->wake_fd, &count, sizeof count);
            (void) rc;
        }
        //  Messages that came before the break first: a DISCONNECT among them.
        if (self->sock && (items[1].revents & ZMQ_POLLIN))
            zj__recv_drain (self);
        if (nitems == 3 && self->monitor && (items[2].revents & ZMQ_POLLIN)
            && zj__io_monitor_broke (self))
            zj__link_gone (self, zj__now (), "the connection broke");
    }
    zj__io_fail_all (self, ZJ_ESHUTDOWN, "the client was destroyed before the task finished");
    zj__io_socket_close (self, false);
    return NULL;
}

zj_err_t zj__io_start (zj_client_t *self)
{
    self->next_req = 1;
    zj_err_t rc = s_curve_load (self);
    if (rc != ZJ_OK)
        return rc;
    self->ctx = zmq_ctx_new ();
    self->enc = zj_enc_new ();
    if (!self->ctx || !self->enc)
        return ZJ_ENOMEM;
    self->wake_fd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->wake_fd < 0)
        return ZJ_EIO;
    if (!zj__io_socket_open (self))
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
    zj__io_socket_close (self, true);
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
