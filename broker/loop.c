// SPDX-License-Identifier: MIT
//  loop - libuv + libzmq plumbing for zjobd; see loop.h. ZMQ_FD only says
//  "something changed": every wake drains until EAGAIN (within a budget),
//  and the check phase re-reads ZMQ_EVENTS after sending, because a send
//  can swallow the edge that announced new input.
#include "loop.h"
#include "log.h"
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

//  Messages read per socket per wake before letting the loop flush:
//  bounds latency under a flood without a syscall per message.
#define DRAIN_BUDGET 1024
//  High-water marks: far above what batching needs, low enough to bound
//  memory held for a peer that stopped reading.
#define HWM 100000
//  Milliseconds close waits for queued messages (DISCONNECT at shutdown).
#define LINGER_MS 500
//  Bodies up to this size are copied into ZeroMQ; larger ones are handed
//  over without a copy.
#define COPY_BYTES 512

static const char *s_sock_name[] = {"clients", "workers"};

struct loop {
    uv_loop_t uv;               //  the event loop
    void *ctx;                  //  ZeroMQ context
    void *sock[2];              //  ROUTER sockets, by broker_sock_t
    char endpoint[2][256];      //  resolved bound endpoints
    uv_poll_t poll[2];          //  on each socket's ZMQ_FD
    security_t *security;       //  CURVE keys and ZAP handler, or NULL
    uv_poll_t zap_poll;         //  on the ZAP socket's ZMQ_FD
    uv_check_t check;           //  end of turn: flush
    uv_idle_t idle;             //  keeps turning while work is left
    uv_timer_t tick;            //  heartbeats and liveness
    uv_timer_t expire;          //  retention
    bool idle_on;               //  idle handle started
    bool expire_more;           //  retention has more due right now
    bool stopping;              //  loop_stop called
    broker_t *broker;           //  borrowed core
    double heartbeat;           //  seconds
};

static double
s_now (void)
{
    return (double) uv_hrtime () / 1e9;
}

static void
s_free_body (void *data, void *hint)
{
    free (data);
}

static int
s_send (void *arg, broker_sock_t which, const uint8_t *id, size_t idlen, uint8_t *body,
        size_t len)
{
    loop_t *self = arg;
    void *sock = self->sock[which];
    //  ROUTER_MANDATORY makes the routing frame fail with EHOSTUNREACH
    //  (peer gone) or EAGAIN (its queue is full) instead of dropping.
    if (zmq_send (sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        int err = errno;
        free (body);
        return err;
    }
    if (len <= COPY_BYTES) {
        int rc = zmq_send (sock, body, len, ZMQ_DONTWAIT);
        int err = errno;
        free (body);
        return rc < 0 ? err : 0;
    }
    zmq_msg_t msg;
    if (zmq_msg_init_data (&msg, body, len, s_free_body, NULL) != 0) {
        free (body);
        return ENOMEM;
    }
    if (zmq_msg_send (&msg, sock, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close (&msg);
        return err;
    }
    return 0;
}

//  Read up to `budget` messages. Returns true when the budget ran out
//  (more may be waiting).
static bool
s_drain (loop_t *self, broker_sock_t which, size_t budget)
{
    void *sock = self->sock[which];
    double now = s_now ();
    for (size_t n = 0; n < budget; n++) {
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        if (zmq_msg_recv (&id, sock, ZMQ_DONTWAIT) < 0) {
            int err = errno;
            zmq_msg_close (&id);
            if (err != EAGAIN && err != EINTR)
                log_warn ("receive failed", "socket=%s error=\"%s\"", s_sock_name[which],
                          zmq_strerror (err));
            return false;
        }
        zmq_msg_init (&body);
        size_t frames = 0;
        if (zmq_msg_more (&id)) {
            //  The parts of a message arrive together: this cannot block.
            if (zmq_msg_recv (&body, sock, 0) >= 0) {
                frames = 1;
                bool more = zmq_msg_more (&body);
                while (more) {
                    zmq_msg_t extra;
                    zmq_msg_init (&extra);
                    if (zmq_msg_recv (&extra, sock, 0) < 0)
                        more = false;
                    else {
                        frames++;
                        more = zmq_msg_more (&extra);
                    }
                    zmq_msg_close (&extra);
                }
            }
        }
        broker_on_message (self->broker, which, zmq_msg_data (&id), zmq_msg_size (&id),
                           zmq_msg_data (&body), zmq_msg_size (&body), frames, now);
        zmq_msg_close (&body);
        zmq_msg_close (&id);
    }
    return true;
}

static bool
s_readable (loop_t *self, broker_sock_t which)
{
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (self->sock[which], ZMQ_EVENTS, &events, &size) != 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

static void s_on_idle (uv_idle_t *handle);

static void
s_idle_set (loop_t *self, bool on)
{
    if (self->stopping || on == self->idle_on)
        return;
    self->idle_on = on;
    if (on)
        uv_idle_start (&self->idle, s_on_idle);
    else
        uv_idle_stop (&self->idle);
}

static void
s_on_poll (uv_poll_t *handle, int status, int events)
{
    loop_t *self = handle->data;
    broker_sock_t which = handle == &self->poll[BROKER_CLIENTS] ? BROKER_CLIENTS : BROKER_WORKERS;
    if (s_drain (self, which, DRAIN_BUDGET))
        s_idle_set (self, true);
}

//  ZAP requests wait for an answer before a peer can send anything, so
//  they are answered on every wake and every turn.
static void
s_on_zap (uv_poll_t *handle, int status, int events)
{
    loop_t *self = handle->data;
    if (security_drain (self->security, DRAIN_BUDGET))
        s_idle_set (self, true);
}

static void
s_on_idle (uv_idle_t *handle)
{
    loop_t *self = handle->data;
    if (self->security)
        security_drain (self->security, DRAIN_BUDGET);
    s_drain (self, BROKER_WORKERS, DRAIN_BUDGET);
    s_drain (self, BROKER_CLIENTS, DRAIN_BUDGET);
    if (self->expire_more)
        self->expire_more = broker_expire (self->broker, s_now ());
}

static void
s_on_check (uv_check_t *handle)
{
    loop_t *self = handle->data;
    bool more = broker_flush (self->broker, s_now (), s_send, self);
    //  Sending may have consumed the edge of new input: look again.
    more = s_readable (self, BROKER_WORKERS) || more;
    more = s_readable (self, BROKER_CLIENTS) || more;
    if (self->security) {
        int events = 0;
        size_t size = sizeof events;
        zmq_getsockopt (security_socket (self->security), ZMQ_EVENTS, &events, &size);
        more = (events & ZMQ_POLLIN) || more;
    }
    s_idle_set (self, more || self->expire_more);
}

static void
s_on_tick (uv_timer_t *handle)
{
    loop_t *self = handle->data;
    broker_tick (self->broker, s_now ());
}

static void
s_on_expire (uv_timer_t *handle)
{
    loop_t *self = handle->data;
    self->expire_more = broker_expire (self->broker, s_now ());
}

static bool
s_setup (loop_t *self, broker_sock_t which, const char *endpoint, size_t max_frame,
         char *why, size_t why_len, int *err)
{
    void *sock = zmq_socket (self->ctx, ZMQ_ROUTER);
    if (!sock) {
        *err = errno;
        snprintf (why, why_len, "cannot create the %s socket: %s", s_sock_name[which],
                  zmq_strerror (*err));
        return false;
    }
    self->sock[which] = sock;
    int one = 1, hwm = HWM, linger = LINGER_MS;
    int64_t maxmsg = max_frame > INT64_MAX ? -1 : (int64_t) max_frame;
    zmq_setsockopt (sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    //  A peer that reconnects with the same explicit routing id takes
    //  its id over instead of being refused.
    zmq_setsockopt (sock, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (self->security && !security_apply (self->security, sock, which)) {
        *err = errno;
        snprintf (why, why_len, "cannot make the %s socket a CURVE server: %s",
                  s_sock_name[which], zmq_strerror (*err));
        return false;
    }
    if (zmq_bind (sock, endpoint) != 0) {
        *err = errno;
        snprintf (why, why_len, "cannot bind the %s socket to %s: %s; pick another endpoint with --%s",
                  s_sock_name[which], endpoint, zmq_strerror (*err), s_sock_name[which]);
        return false;
    }
    size_t size = sizeof self->endpoint[which];
    if (zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, self->endpoint[which], &size) != 0)
        snprintf (self->endpoint[which], sizeof self->endpoint[which], "%s", endpoint);
    return true;
}

static bool
s_poll_start (loop_t *self, void *sock, const char *name, uv_poll_t *poll, uv_poll_cb cb,
              char *why, size_t why_len, int *err)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (zmq_getsockopt (sock, ZMQ_FD, &fd, &size) != 0) {
        *err = errno;
        snprintf (why, why_len, "cannot get the %s socket's ZMQ_FD: %s", name,
                  zmq_strerror (*err));
        return false;
    }
    int rc = uv_poll_init (&self->uv, poll, fd);
    if (rc == 0) {
        poll->data = self;
        rc = uv_poll_start (poll, UV_READABLE, cb);
    }
    if (rc != 0) {
        *err = EIO;
        snprintf (why, why_len, "cannot poll the %s socket: %s", name, uv_strerror (rc));
        return false;
    }
    return true;
}

loop_t *
loop_new (const loop_config_t *config, broker_t *broker, char *why, size_t why_len, int *err)
{
    loop_t *self = calloc (1, sizeof *self);
    *err = 0;
    if (!self) {
        *err = ENOMEM;
        snprintf (why, why_len, "out of memory");
        return NULL;
    }
    self->broker = broker;
    self->heartbeat = config->heartbeat;
    int rc = uv_loop_init (&self->uv);
    if (rc != 0) {
        *err = EIO;
        snprintf (why, why_len, "cannot start the event loop: %s", uv_strerror (rc));
        free (self);
        return NULL;
    }
    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        *err = errno;
        snprintf (why, why_len, "cannot create a ZeroMQ context: %s", zmq_strerror (*err));
        uv_loop_close (&self->uv);
        free (self);
        return NULL;
    }
    //  The ZAP handler binds first: a CURVE socket that finds none
    //  admits every key.
    if (config->curve) {
        self->security = security_new (config->curve, self->ctx, why, why_len);
        if (!self->security) {
            *err = EINVAL;
            loop_destroy (&self);
            return NULL;
        }
    }
    if (!s_setup (self, BROKER_CLIENTS, config->clients, config->max_frame, why, why_len, err)
        || !s_setup (self, BROKER_WORKERS, config->workers, config->max_frame, why, why_len, err)
        || !s_poll_start (self, self->sock[BROKER_CLIENTS], "clients", &self->poll[BROKER_CLIENTS],
                          s_on_poll, why, why_len, err)
        || !s_poll_start (self, self->sock[BROKER_WORKERS], "workers", &self->poll[BROKER_WORKERS],
                          s_on_poll, why, why_len, err)
        || (self->security
            && !s_poll_start (self, security_socket (self->security), "ZAP", &self->zap_poll,
                              s_on_zap, why, why_len, err))) {
        self->stopping = true;
        for (int i = 0; i < 2; i++)
            if (self->poll[i].data == self)     //  set once initialised
                uv_close ((uv_handle_t *) &self->poll[i], NULL);
        if (self->zap_poll.data == self)
            uv_close ((uv_handle_t *) &self->zap_poll, NULL);
        uv_run (&self->uv, UV_RUN_DEFAULT);
        loop_destroy (&self);
        return NULL;
    }
    uv_check_init (&self->uv, &self->check);
    uv_idle_init (&self->uv, &self->idle);
    uv_timer_init (&self->uv, &self->tick);
    uv_timer_init (&self->uv, &self->expire);
    self->check.data = self->idle.data = self->tick.data = self->expire.data = self;
    uv_check_start (&self->check, s_on_check);
    //  Several ticks per heartbeat interval keep heartbeats and loss
    //  detection within a fraction of an interval of their due time; at
    //  least 20 a second, since a worker may ask for a shorter interval.
    double ms = config->heartbeat * 1000.0 / 4.0;
    uint64_t tick_ms = ms < 10 ? 10 : ms > 50 ? 50 : (uint64_t) ms;
    uv_timer_start (&self->tick, s_on_tick, tick_ms, tick_ms);
    uv_timer_start (&self->expire, s_on_expire, 100, 100);
    return self;
}

void
loop_destroy (loop_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    loop_t *self = *self_p;
    for (int i = 0; i < 2; i++)
        if (self->sock[i])
            zmq_close (self->sock[i]);
    security_destroy (&self->security);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    if (uv_loop_close (&self->uv) != 0)
        log_warn ("event loop busy at exit", "why=\"a handle was left open\"");
    free (self);
    *self_p = NULL;
}

const char *
loop_endpoint (const loop_t *self, broker_sock_t sock)
{
    return self->endpoint[sock];
}

uv_loop_t *
loop_uv (loop_t *self)
{
    return &self->uv;
}

int
loop_run (loop_t *self)
{
    uv_run (&self->uv, UV_RUN_DEFAULT);
    return 0;
}

void
loop_stop (loop_t *self)
{
    if (self->stopping)
        return;
    double now = s_now ();
    broker_shutdown (self->broker, now);
    broker_flush (self->broker, now, s_send, self);
    self->stopping = true;
    for (int i = 0; i < 2; i++)
        uv_close ((uv_handle_t *) &self->poll[i], NULL);
    if (self->security)
        uv_close ((uv_handle_t *) &self->zap_poll, NULL);
    uv_close ((uv_handle_t *) &self->check, NULL);
    uv_close ((uv_handle_t *) &self->idle, NULL);
    uv_close ((uv_handle_t *) &self->tick, NULL);
    uv_close ((uv_handle_t *) &self->expire, NULL);
}
