// SPDX-License-Identifier: MIT
//  link - decides, from silence and DISCONNECT, whether the broker is
//  there: unreachable before its first answer (pending work fails at
//  once), lost after it (futures stay pending while new sockets try
//  again, then ask for every result again). Never reads the socket.
#include "link.h"
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>
#include "future.h"
#include "io.h"
#include "log.h"

//  Each reconnect attempt is a new socket that waits this long for an
//  answer, doubling from the first to the last value.
#define ZJ_BACKOFF_FIRST 0.1
#define ZJ_BACKOFF_MAX 2.0

bool zj__link_has_work (zj_client_t *self)
{
    return self->inflight || self->sendq || self->tickets.count > 0;
}

bool zj__link_may_send (zj_client_t *self)
{
    return self->link != ZJ__LINK_RECONNECTING;
}

//  A fresh socket that has heard nothing yet. Only for a client with
//  nothing pending (failed just before, or idle).
static void s_restart (zj_client_t *self)
{
    zj__io_socket_close (self, true);
    if (!zj__io_socket_open (self))
        log_warn ("reconnect failed", "endpoint=%s error=\"%s\"", self->endpoint,
                  zmq_strerror (errno));
    self->link = ZJ__LINK_CONNECTING;
    self->had_work = false;
}

//  The broker answered once and is gone now. The futures stay pending.
//  Requests sent and not answered go again once the broker is back, with
//  their req ids: SUBMITs (the broker dedupes by client and req) and the
//  synchronous calls. Sent FETCHes are dropped: every ticket in the table
//  is fetched again anyway.
static void s_lost (zj_client_t *self, double now, const char *why)
{
    atomic_fetch_add (&self->losses, 1);
    zj__req_t *again = NULL, *again_tail = NULL;
    zj__req_t *req = self->inflight;
    self->inflight = self->inflight_tail = NULL;
    size_t nagain = 0;
    zj__lock ();
    while (req) {
        zj__req_t *next = req->next;
        if (req->type == ZJ_MSG_SUBMIT)
            self->submits_inflight--;
        if (req->type == ZJ_MSG_FETCH)
            zj__req_destroy (&req);
        else if (req->sync && req->abandoned)
            zj__req_finish_locked (req, ZJ_EBROKERLOST);    //  frees it
        else {
            zj__io_list_append (&again, &again_tail, req);
            nagain++;
        }
        req = next;
    }
    zj__unlock ();
    log_warn ("broker lost", "endpoint=%s why=\"%s\" tickets=%zu resend=%zu "
              "reconnect_timeout=%g", self->endpoint, why, self->tickets.count, nagain,
              self->opts.reconnect_timeout);
    //  They go first, in the order they were sent.
    if (again) {
        again_tail->next = self->sendq;
        if (self->sendq)
            self->sendq->prev = again_tail;
        else
            self->sendq_tail = again_tail;
        self->sendq = again;
    }
    zj__io_socket_close (self, true);
    self->link = ZJ__LINK_RECONNECTING;
    self->lost_at = now;
    self->lost_why = why;
    self->attempt_at = now;
    self->backoff = 0;          //  the first attempt is at once
}

//  A new socket (the old one may hold a connection to a hung broker, and
//  messages for it), and a PING whose answer ends the reconnect.
static void s_attempt (zj_client_t *self, double now)
{
    zj__io_socket_close (self, true);
    if (zj__io_socket_open (self))
        zj__io_send_ping (self);
    else
        log_warn ("reconnect failed", "endpoint=%s error=\"%s\"", self->endpoint,
                  zmq_strerror (errno));
    self->attempt_at = now;
    self->backoff = self->backoff == 0 ? ZJ_BACKOFF_FIRST
                                       : fmin (self->backoff * 2, ZJ_BACKOFF_MAX);
}

static void s_give_up (zj_client_t *self, double now)
{
    char message[512];
    snprintf (message, sizeof message, "lost the broker at %s (%s) and it did not answer "
              "again within %g s; is zjobd running? A submitted task may still finish if "
              "the broker comes back with its state", self->endpoint, self->lost_why,
              self->opts.reconnect_timeout);
    log_warn ("broker gone", "endpoint=%s why=\"%s\" waited=%.3f", self->endpoint,
              self->lost_why, now - self->lost_at);
    zj__io_fail_all (self, ZJ_EBROKERLOST, message);
    s_restart (self);
}

typedef struct {
    zj_client_t *client;        //  whose tickets
    zj__req_t *head;            //  FETCH requests built so far, in order
    zj__req_t *tail;
    bool oom;                   //  an allocation failed
} s_refetch_t;

static void s_refetch_each (zj_future_t *f, void *arg)
{
    s_refetch_t *walk = arg;
    zj__req_t *req = walk->tail;
    if (!req || req->nitems >= walk->client->opts.batch) {
        req = zj__req_new (ZJ_MSG_FETCH, false);
        if (!req) {
            walk->oom = true;
            return;
        }
        zj__io_list_append (&walk->head, &walk->tail, req);
    }
    walk->oom |= !zj__io_arena_add_ticket (req, f->ticket);
    f->refetched = true;
}

//  The broker answers again: FETCH every ticket a future waits for (an
//  answer "unknown" then means the broker lost the task), ahead of the
//  requests that go again.
static void s_recover (zj_client_t *self, double now)
{
    atomic_fetch_add (&self->recoveries, 1);
    log_info ("broker back", "endpoint=%s after=%.3f tickets=%zu", self->endpoint,
              now - self->lost_at, self->tickets.count);
    self->link = ZJ__LINK_UP;
    s_refetch_t walk = {self, NULL, NULL, false};
    zj__tickets_each (&self->tickets, s_refetch_each, &walk);
    if (walk.tail) {
        walk.tail->next = self->sendq;
        if (self->sendq)
            self->sendq->prev = walk.tail;
        else
            self->sendq_tail = walk.tail;
        self->sendq = walk.head;
    }
    if (walk.oom)
        zj__io_fail_all (self, ZJ_ENOMEM, "no memory to fetch results again after the broker "
                         "came back");
}

void zj__link_heard (zj_client_t *self, double now)
{
    self->silent_since = now;
    if (self->link == ZJ__LINK_RECONNECTING)
        s_recover (self, now);
    self->link = ZJ__LINK_UP;
}

void zj__link_gone (zj_client_t *self, double now, const char *why)
{
    //  Never answered on this connection: a refused CURVE handshake, or a
    //  broker that went away before answering. ZeroMQ tries again by
    //  itself and connect_timeout decides, as for a broker not there.
    if (self->link == ZJ__LINK_CONNECTING)
        return;
    if (self->link == ZJ__LINK_RECONNECTING) {
        //  What the probe reached is going away too: the next attempt.
        zj__io_socket_close (self, true);
        return;
    }
    //  A FETCH already sent waits for nothing: its futures are in the
    //  ticket table (and an idle client has none).
    zj__req_t *req = self->inflight;
    while (req) {
        zj__req_t *next = req->next;
        if (req->type == ZJ_MSG_FETCH) {
            zj__io_list_remove (&self->inflight, &self->inflight_tail, req);
            zj__req_destroy (&req);
        }
        req = next;
    }
    if (zj__link_has_work (self))
        s_lost (self, now, why);
    else
        s_restart (self);
}

void zj__link_check (zj_client_t *self, double now)
{
    if (self->link == ZJ__LINK_RECONNECTING) {
        if (!zj__link_has_work (self))
            s_restart (self);
        else if (now - self->lost_at >= self->opts.reconnect_timeout)
            s_give_up (self, now);
        else if (now - self->attempt_at >= self->backoff)
            s_attempt (self, now);
        return;
    }
    if (!zj__link_has_work (self)) {
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
    if (self->link == ZJ__LINK_CONNECTING && silent >= self->opts.connect_timeout) {
        char message[512];
        snprintf (message, sizeof message, "no answer from the broker at %s after %g s",
                  self->endpoint, self->opts.connect_timeout);
        log_debug ("broker unreachable", "endpoint=%s", self->endpoint);
        zj__io_fail_all (self, ZJ_EUNREACHABLE, message);
        s_restart (self);
    }
    else if (self->link == ZJ__LINK_UP && silent >= lost_after)
        s_lost (self, now, "it stopped answering");
    else if ((self->link == ZJ__LINK_CONNECTING && self->last_ping < self->silent_since)
             || (silent >= self->opts.heartbeat
                 && now - self->last_ping >= self->opts.heartbeat)) {
        //  On a new connection at once: a FETCH has no answer of its own,
        //  and until something answers, a broker that hangs (or dies)
        //  after taking it would count as one that was never there.
        zj__io_send_ping (self);
        self->last_ping = now;
    }
}

long zj__link_poll_timeout (zj_client_t *self, double now)
{
    double next;
    if (self->link == ZJ__LINK_RECONNECTING)
        next = fmin (self->attempt_at + self->backoff,
                     self->lost_at + self->opts.reconnect_timeout);
    else {
        if (!zj__link_has_work (self))
            return -1;
        double limit = self->link == ZJ__LINK_UP ? self->opts.heartbeat * self->opts.liveness
                                                 : self->opts.connect_timeout;
        next = fmin (self->silent_since + limit,
                     fmax (self->silent_since, self->last_ping) + self->opts.heartbeat);
    }
    double ms = ceil ((next - now) * 1000);
    return ms < 1 ? 1 : ms > 1000 ? 1000 : (long) ms;
}
