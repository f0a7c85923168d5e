// SPDX-License-Identifier: MIT
//  session - the broker link of one worker process; see session.h.
//  ZMQ_FD is edge-triggered: every pass that may have consumed the edge
//  (a receive, a send) ends by reading ZMQ_EVENTS, and an idle handle
//  keeps the loop from sleeping while messages wait. Outcomes finished in
//  one loop turn leave as one DONE message.
#include "session.h"
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>
#include "log.h"
#include "msg.h"
#include "notify.h"
#include "runner.h"

//  Messages read per pass, so that a flood cannot starve timers.
#define S_DRAIN_BUDGET 256
//  A DONE batch this large leaves at once rather than at the turn's end.
#define S_FLUSH_BYTES (4u * 1024 * 1024)
//  libzmq's own reconnects of a link: soon after a cut ends, and then at
//  least once a second.
#define S_RECONNECT_IVL_MS 100
#define S_RECONNECT_IVL_MAX_MS 1000
//  How long a closing socket may try to deliver what it holds.
#define S_LINGER_MS 0
#define S_STOP_LINGER_MS 500

typedef struct {
    const options_t *options;   //  borrowed
    int proc;                   //  index under the supervisor, for logs
    uv_loop_t loop;             //  this process's loop
    uv_signal_t sigterm;        //  stop
    uv_signal_t sigint;         //  stop
    uv_timer_t tick;            //  heartbeat and liveness, every interval
    uv_timer_t retry;           //  reconnect after the broker said DISCONNECT
    uv_timer_t drain;           //  end of the drain: abort what still runs
    uv_prepare_t prepare;       //  end of turn: drain, flush, re-arm
    uv_idle_t idle;             //  running while messages wait unread
    uv_poll_t *poll;            //  watches the socket's ZMQ_FD; freed on close
    void *ctx;                  //  ZeroMQ context
    void *sock;                 //  DEALER to the broker, or NULL between links
    runner_t *runner;           //  the tasks
    notify_t *notify;           //  systemd, when run alone (Type=notify)
    zj_enc_t *out;              //  message being sent
    zj_enc_t *done;             //  DONE entries of this turn
    uint32_t done_count;        //  entries in done
    zj_enc_t *ret;              //  RETURN tickets not yet sent
    uint32_t ret_count;         //  entries in ret
    zj_enc_t *sent;             //  DONE entries sent on this link lately
    uint32_t sent_count;        //  entries in sent
    uint64_t sent_last;         //  loop time of the newest entry in sent
    zj_enc_t *sent_old;         //  the generation before sent
    uint32_t sent_old_count;    //  entries in sent_old
    uint64_t sent_old_last;     //  loop time of the newest entry in sent_old
    zj_str_t *held;             //  READY: tickets listed as held
    size_t held_count;          //  entries in held
    size_t held_cap;            //  room in held
    bool held_failed;           //  out of memory while listing
    bool ready_sent;            //  a READY left: later ones carry "held"
    uint64_t interval_ms;       //  heartbeat interval
    uint64_t last_sent;         //  loop time of the last send
    uint64_t last_heard;        //  loop time of the last receive (or connect)
    bool heard;                 //  heard from the broker on this link
    void *monitor;              //  PAIR reading the link's connect events, or NULL
    bool connected;             //  the link had a connection (or no monitor)
    uint32_t links;             //  links made, to name monitor endpoints
    uint32_t credit;            //  credit sent in READY; lowered while draining
    bool lost_logged;           //  "unreachable" was logged for this outage
    uint64_t silent_logged;     //  loop time "still silent" was last logged
    bool ready_pending;         //  READY could not be sent yet
    bool stopping;              //  a signal came; no new tasks
    int exit_code;              //  what session_run returns
    char host[256];             //  host name, for READY
    uint8_t id[16];             //  routing id, kept across reconnects
} session_t;

static void s_connect (session_t *self);
static void s_stop (session_t *self, const char *reason);

static const char *
s_name (session_t *self)
{
    return self->options->name ? self->options->name : self->host;
}

//  Send the encoder's bytes as one message. 0 or -1 with errno.
static int
s_send (session_t *self, zj_enc_t *enc)
{
    if (!self->sock) {
        errno = ENOTCONN;
        return -1;
    }
    if (zj_enc_failed (enc)) {
        errno = ENOMEM;
        return -1;
    }
    int rc;
    do
        rc = zmq_send (self->sock, zj_enc_data (enc), zj_enc_size (enc), ZMQ_DONTWAIT);
    while (rc < 0 && errno == EINTR);
    if (rc < 0)
        return -1;
    self->last_sent = uv_now (&self->loop);
    return 0;
}

//  runner_ticket_fn: list one ticket as held (a borrowed view).
static void
s_hold (zj_str_t ticket, void *arg)
{
    session_t *self = arg;
    if (self->held_count == self->held_cap) {
        size_t cap = self->held_cap ? 2 * self->held_cap : 64;
        zj_str_t *held = realloc (self->held, cap * sizeof *held);
        if (!held) {
            self->held_failed = true;
            return;
        }
        self->held = held;
        self->held_cap = cap;
    }
    self->held[self->held_count++] = ticket;
}

//  List the tickets of the `count` entries in `entries` (DONE outcomes or
//  RETURN tickets) by decoding them as one message built in `scratch`,
//  which the views point into.
static void
s_hold_encoded (session_t *self, zj_enc_t *scratch, zj_msg_type_t type,
                zj_enc_t *entries, uint32_t count)
{
    if (count == 0)
        return;
    if (type == ZJ_MSG_DONE)
        zj_enc_outcomes_begin (scratch, type, count);
    else
        zj_enc_tickets_begin (scratch, type, 0, count);
    zj_enc_raw (scratch, zj_enc_data (entries), zj_enc_size (entries));
    zj_msg_t msg;
    if (zj_enc_failed (scratch)
    || zj_msg_decode (zj_enc_data (scratch), zj_enc_size (scratch), SIZE_MAX, &msg, NULL) != ZJ_OK) {
        self->held_failed = true;
        return;
    }
    zj_outcome_t out;
    zj_str_t ticket;
    if (type == ZJ_MSG_DONE)
        while (zj_msg_next_outcome (&msg, &out))
            s_hold (out.ticket, self);
    else
        while (zj_msg_next_str (&msg, &ticket))
            s_hold (ticket, self);
}

//  READY. Every READY after the first lists the tickets this process
//  still holds (protocol 5.9): running, waiting for a slot, and finished
//  or given back with the DONE or RETURN not sent yet (those go after
//  the READY on the same link). Entries sent on the link before it went
//  out already, in order. Without the list, a broker that kept this
//  worker across a reconnect would wait forever for a task whose TASKS
//  or DONE died with the old socket.
static void
s_send_ready (session_t *self)
{
    size_t count;
    const char *const *functions = runner_functions (self->runner, &count);
    uint32_t credit = self->credit;
    zj_enc_t *done = NULL, *ret = NULL;
    const zj_str_t *held = NULL;
    static const zj_str_t none;
    self->held_count = 0;
    self->held_failed = false;
    if (self->ready_sent) {
        done = zj_enc_new ();
        ret = zj_enc_new ();
        if (done && ret) {
            runner_each (self->runner, s_hold, self);
            s_hold_encoded (self, done, ZJ_MSG_DONE, self->done, self->done_count);
            s_hold_encoded (self, ret, ZJ_MSG_RETURN, self->ret, self->ret_count);
        }
        //  Without a complete list, send none: the broker then keeps
        //  every task it counts as ours.
        if (done && ret && !self->held_failed)
            held = self->held_count ? self->held : &none;
        else
            log_warn ("ready without held", "error=\"out of memory\"");
    }
    zj_enc_ready_held_begin (self->out, s_name (self), self->host, (int64_t) getpid (),
                             self->options->heartbeat, (uint32_t) credit, (uint32_t) count,
                             held, held ? (uint32_t) self->held_count : 0);
    for (size_t i = 0; i < count; i++)
        zj_enc_str (self->out, functions[i], strlen (functions[i]));
    self->ready_pending = s_send (self, self->out) < 0;
    zj_enc_destroy (&done);
    zj_enc_destroy (&ret);
    if (self->ready_pending)
        log_warn ("ready not sent", "error=\"%s\" retry=next-heartbeat", zmq_strerror (errno));
    else {
        if (held)
            log_debug ("ready", "held=%zu", self->held_count);
        self->ready_sent = true;
    }
}

//  Send pending DONE entries and RETURN tickets. What cannot be sent now
//  (no link, peer at its high-water mark) stays for a later turn.
static void
s_flush (session_t *self)
{
    if (self->done_count > 0 && self->sock) {
        zj_enc_outcomes_begin (self->out, ZJ_MSG_DONE, self->done_count);
        zj_enc_raw (self->out, zj_enc_data (self->done), zj_enc_size (self->done));
        if (s_send (self, self->out) == 0) {
            //  Kept until the link proves alive after it (s_age_sent).
            zj_enc_raw (self->sent, zj_enc_data (self->done), zj_enc_size (self->done));
            self->sent_count += self->done_count;
            self->sent_last = self->last_sent;
            zj_enc_reset (self->done);
            self->done_count = 0;
        }
        else
        if (errno != EAGAIN)
            log_warn ("done not sent", "outcomes=%u error=\"%s\"",
                      (unsigned) self->done_count, zmq_strerror (errno));
    }
    if (self->ret_count > 0 && self->sock) {
        zj_enc_tickets_begin (self->out, ZJ_MSG_RETURN, 0, self->ret_count);
        zj_enc_raw (self->out, zj_enc_data (self->ret), zj_enc_size (self->ret));
        if (s_send (self, self->out) == 0) {
            zj_enc_reset (self->ret);
            self->ret_count = 0;
        }
    }
}

static void
s_on_done (zj_str_t ticket, const outcome_t *out, void *arg)
{
    session_t *self = arg;
    zj_outcome_t entry;
    memset (&entry, 0, sizeof entry);
    entry.ticket = ticket;
    entry.state = out->ok ? ZJ_STATE_DONE : ZJ_STATE_FAILED;
    entry.value = out->value;
    entry.err_type = out->err_type;
    entry.err_message = out->err_message;
    entry.err_traceback = out->err_traceback;
    zj_enc_outcome (self->done, &entry);
    self->done_count++;
    if (zj_enc_size (self->done) >= S_FLUSH_BYTES)
        s_flush (self);
}

static void
s_add_return (zj_str_t ticket, void *arg)
{
    session_t *self = arg;
    zj_enc_str (self->ret, ticket.ptr, ticket.len);
    self->ret_count++;
}

//  ZeroMQ does not say when a message left, so DONE entries sent on a
//  link are kept in two generations: once the broker has been heard a
//  full heartbeat interval after the newest entry of the older one was
//  sent, the link carried it (this assumes a round trip shorter than an
//  interval, and a link not stalled at its high-water mark). Bounds the
//  memory to a few intervals of outcomes.
static void
s_age_sent (session_t *self)
{
    if (self->sent_old_count && self->heard
    && self->last_heard >= self->sent_old_last + self->interval_ms) {
        zj_enc_reset (self->sent_old);
        self->sent_old_count = 0;
    }
    if (!self->sent_old_count && self->sent_count) {
        zj_enc_t *enc = self->sent_old;
        self->sent_old = self->sent;
        self->sent_old_count = self->sent_count;
        self->sent_old_last = self->sent_last;
        self->sent = enc;
        self->sent_count = 0;
    }
}

//  The link is closing: its queue dies with it (linger), so outcomes not
//  known to have arrived go to the front of the next link's DONE. A
//  duplicate DONE is discarded by the broker.
static void
s_requeue_sent (session_t *self)
{
    uint32_t count = self->sent_old_count + self->sent_count;
    if (count == 0)
        return;
    zj_enc_raw (self->sent_old, zj_enc_data (self->sent), zj_enc_size (self->sent));
    zj_enc_raw (self->sent_old, zj_enc_data (self->done), zj_enc_size (self->done));
    zj_enc_t *enc = self->done;
    self->done = self->sent_old;
    self->done_count += count;
    self->sent_old = enc;
    zj_enc_reset (self->sent_old);
    zj_enc_reset (self->sent);
    self->sent_old_count = self->sent_count = 0;
    log_info ("resending outcomes", "outcomes=%u reason=\"link replaced\"", (unsigned) count);
}

static void
s_on_poll_close (uv_handle_t *handle)
{
    free (handle);
}

//  Watch `sock` for connections: a link that never connected is not
//  replaced for silence (s_on_tick). Without a monitor the link counts as
//  connected, as before.
static void
s_monitor_open (session_t *self, void *sock)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://zjob-worker-link-%u", ++self->links);
    self->connected = true;
    if (zmq_socket_monitor (sock, endpoint, ZMQ_EVENT_CONNECTED) < 0)
        return;
    void *pair = zmq_socket (self->ctx, ZMQ_PAIR);
    if (!pair || zmq_connect (pair, endpoint) < 0) {
        if (pair)
            zmq_close (pair);
        zmq_socket_monitor (sock, NULL, 0);
        return;
    }
    int linger = 0;
    zmq_setsockopt (pair, ZMQ_LINGER, &linger, sizeof linger);
    self->monitor = pair;
    self->connected = false;
}

//  Stop watching `sock`'s connections.
static void
s_monitor_close (session_t *self, void *sock)
{
    if (self->monitor) {
        zmq_socket_monitor (sock, NULL, 0);
        zmq_close (self->monitor);
        self->monitor = NULL;
    }
}

//  Read the monitor's events: [event u16, value u32] then the endpoint.
static void
s_monitor_read (session_t *self)
{
    while (self->monitor) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&frame) >= sizeof event)
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
        if (event == ZMQ_EVENT_CONNECTED)
            self->connected = true;
        bool more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
        if (more) {
            zmq_msg_init (&frame);
            zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT);
            zmq_msg_close (&frame);
        }
    }
}

static void
s_close_socket (session_t *self, int linger)
{
    if (self->poll) {
        //  Stop watching the fd before ZeroMQ closes it.
        uv_close ((uv_handle_t *) self->poll, s_on_poll_close);
        self->poll = NULL;
    }
    s_monitor_close (self, self->sock);
    if (self->sock) {
        zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close (self->sock);
        self->sock = NULL;
        if (self->runner)
            s_requeue_sent (self);
    }
    if (self->idle.loop)
        uv_idle_stop (&self->idle);
}

static bool
s_readable (session_t *self)
{
    if (!self->sock)
        return false;
    int events = 0;
    size_t size = sizeof events;
    if (zmq_getsockopt (self->sock, ZMQ_EVENTS, &events, &size) < 0)
        return false;
    return (events & ZMQ_POLLIN) != 0;
}

static void
s_on_retry (uv_timer_t *timer)
{
    session_t *self = timer->data;
    if (!self->stopping && !self->sock)
        s_connect (self);
}

static void
s_handle_tasks (session_t *self, zj_msg_t *msg)
{
    zj_job_t job;
    while (zj_msg_next_job (msg, &job)) {
        //  While stopping, or when the task cannot be held, give it back
        //  so that the broker hands it to another worker at once.
        if (self->stopping || runner_submit (self->runner, &job) != ZJ_OK)
            s_add_return (job.ticket, self);
    }
}

static void
s_handle (session_t *self, const uint8_t *data, size_t size)
{
    zj_msg_t msg;
    const char *why = NULL;
    zj_err_t err = zj_msg_decode (data, size, self->options->max_frame, &msg, &why);
    if (err != ZJ_OK) {
        log_warn ("bad frame", "peer=broker size=%zu error=%s why=\"%s\"",
                  size, zj_err_name (err), why ? why : "");
        return;
    }
    switch (msg.type) {
        case ZJ_MSG_TASKS:
            s_handle_tasks (self, &msg);
            break;
        case ZJ_MSG_HEARTBEAT:
            break;
        case ZJ_MSG_ABORT: {
            zj_str_t ticket;
            while (zj_msg_next_str (&msg, &ticket))
                if (!runner_abort (self->runner, ticket))
                    log_debug ("abort of unknown task", "ticket=%.*s",
                               (int) ticket.len, ticket.ptr);
            break;
        }
        case ZJ_MSG_ERROR:
            if (msg.err_code.len == strlen ("ProtocolError")
            && memcmp (msg.err_code.ptr, "ProtocolError", msg.err_code.len) == 0
            && msg.err_message.len == strlen ("unknown worker")
            && memcmp (msg.err_message.ptr, "unknown worker", msg.err_message.len) == 0) {
                log_info ("registering again", "broker=%s reason=\"unknown worker\"",
                          self->options->broker);
                s_send_ready (self);
            }
            else
                log_warn ("broker error", "code=%.*s message=\"%.*s\"",
                          (int) msg.err_code.len, msg.err_code.ptr,
                          (int) msg.err_message.len, msg.err_message.ptr);
            break;
        case ZJ_MSG_DISCONNECT:
            //  The broker is going away; it may come back, and will not
            //  know this worker then. Link again after one interval.
            log_warn ("broker disconnected", "broker=%s retry_ms=%llu",
                      self->options->broker, (unsigned long long) self->interval_ms);
            s_close_socket (self, S_LINGER_MS);
            uv_timer_start (&self->retry, s_on_retry, self->interval_ms, 0);
            break;
        default:
            log_warn ("unexpected message", "peer=broker type=%d", (int) msg.type);
            break;
    }
}

//  Read and handle up to S_DRAIN_BUDGET messages.
static void
s_drain (session_t *self)
{
    for (int n = 0; n < S_DRAIN_BUDGET && self->sock; n++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close (&frame);
            if (e == EINTR)
                continue;
            if (e != EAGAIN)
                log_warn ("receive failed", "error=\"%s\"", zmq_strerror (e));
            break;
        }
        self->last_heard = uv_now (&self->loop);
        self->heard = true;
        self->lost_logged = false;
        if (zmq_msg_more (&frame)) {
            //  Every message is one frame; drop all parts of this one.
            size_t parts = 1;
            while (zmq_msg_more (&frame)) {
                zmq_msg_close (&frame);
                zmq_msg_init (&frame);
                if (zmq_msg_recv (&frame, self->sock, 0) < 0)
                    break;
                parts++;
            }
            zmq_msg_close (&frame);
            log_warn ("bad frame", "peer=broker error=ProtocolError why=\"%zu frames in one message\"",
                      parts);
            continue;
        }
        s_handle (self, zmq_msg_data (&frame), zmq_msg_size (&frame));
        zmq_msg_close (&frame);
    }
}

static void
s_on_idle (uv_idle_t *idle)
{
    //  Only here to keep the loop from blocking; the prepare handle works.
}

//  End of a loop turn: read what waits, send this turn's outcomes, and
//  decide whether the loop may sleep.
static void
s_on_prepare (uv_prepare_t *prepare)
{
    session_t *self = prepare->data;
    s_drain (self);
    if (self->stopping && self->runner) {
        uint32_t running = runner_running (self->runner);
        if (running == 0) {
            uv_timer_stop (&self->drain);
            s_stop (self, "drained");
            return;
        }
        if (running < self->credit && self->sock) {
            //  READY before the DONE that frees the slot.
            self->credit = running;
            s_send_ready (self);
        }
    }
    s_flush (self);
    if (s_readable (self))
        uv_idle_start (&self->idle, s_on_idle);
    else
        uv_idle_stop (&self->idle);
}

static void
s_on_poll (uv_poll_t *poll, int status, int events)
{
    session_t *self = poll->data;
    if (status < 0) {
        log_warn ("poll failed", "error=%s", uv_err_name (status));
        return;
    }
    s_drain (self);
}

static void
s_connect (session_t *self)
{
    void *sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!sock) {
        log_error ("socket failed", "error=\"%s\" retry_ms=%llu", zmq_strerror (errno),
                   (unsigned long long) self->interval_ms);
        uv_timer_start (&self->retry, s_on_retry, self->interval_ms, 0);
        return;
    }
    int linger = S_LINGER_MS;
    int64_t max = (int64_t) self->options->max_frame;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    int ivl = S_RECONNECT_IVL_MS, ivl_max = S_RECONNECT_IVL_MAX_MS;
    zmq_setsockopt (sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt (sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    //  The same routing id on every link of this process: after a reconnect
    //  the broker (ROUTER_HANDOVER) still knows the worker and the tasks it
    //  holds, so their outcomes are accepted rather than discarded.
    zmq_setsockopt (sock, ZMQ_ROUTING_ID, self->id, sizeof self->id);
    if (self->options->curve)
        curvekeys_apply (&self->options->keys, sock);
    //  Watch before connecting: on a fast link the connection is made at
    //  once, and an event from before the monitor is lost for good (the
    //  link then never counted as connected, and a silent broker was
    //  waited for instead of being replaced).
    s_monitor_open (self, sock);
    if (zmq_connect (sock, self->options->broker) < 0) {
        log_error ("connect failed", "broker=%s error=\"%s\" retry_ms=%llu",
                   self->options->broker, zmq_strerror (errno),
                   (unsigned long long) self->interval_ms);
        s_monitor_close (self, sock);
        zmq_close (sock);
        uv_timer_start (&self->retry, s_on_retry, self->interval_ms, 0);
        return;
    }
    int fd;
    size_t size = sizeof fd;
    uv_poll_t *poll = malloc (sizeof *poll);
    if (zmq_getsockopt (sock, ZMQ_FD, &fd, &size) < 0 || !poll
    || uv_poll_init (&self->loop, poll, fd) < 0) {
        log_error ("cannot watch socket", "broker=%s retry_ms=%llu", self->options->broker,
                   (unsigned long long) self->interval_ms);
        free (poll);
        s_monitor_close (self, sock);
        zmq_close (sock);
        uv_timer_start (&self->retry, s_on_retry, self->interval_ms, 0);
        return;
    }
    poll->data = self;
    uv_poll_start (poll, UV_READABLE, s_on_poll);
    self->sock = sock;
    self->poll = poll;
    self->last_heard = uv_now (&self->loop);
    self->heard = false;
    s_send_ready (self);
}

static void
s_on_tick (uv_timer_t *timer)
{
    session_t *self = timer->data;
    //  While draining the link lives on: heartbeats, DONE, reconnects.
    if (!self->sock || !self->runner)
        return;
    uint64_t now = uv_now (&self->loop);
    uint64_t window = self->options->liveness * self->interval_ms;
    s_monitor_read (self);
    if (now - self->last_heard >= window && !self->heard && !self->connected) {
        //  This link never connected (its monitor saw no connection):
        //  libzmq retries every S_RECONNECT_IVL_MS up to
        //  S_RECONNECT_IVL_MAX_MS by itself. A new socket would connect
        //  no sooner, and closing this one would drop what waits in it
        //  (READY, DONE). Keep it; only a link that connected and then
        //  went silent is replaced below.
        if (!self->lost_logged) {
            log_warn ("broker not answering", "broker=%s silent_ms=%llu running=%u action=wait",
                      self->options->broker, (unsigned long long) (now - self->last_heard),
                      (unsigned) runner_running (self->runner));
            self->silent_logged = now;
        }
        else
        if (now - self->silent_logged >= window) {
            log_debug ("broker still silent", "broker=%s connecting=yes", self->options->broker);
            self->silent_logged = now;
        }
        self->lost_logged = true;
    }
    else
    if (now - self->last_heard >= window) {
        //  Paranoid Pirate: the broker is gone or forgot us. A fresh
        //  socket gets a fresh identity and registers again; tasks still
        //  running here report on the new link.
        if (!self->lost_logged)
            log_warn ("broker lost", "broker=%s silent_ms=%llu running=%u action=reconnect",
                      self->options->broker, (unsigned long long) (now - self->last_heard),
                      (unsigned) runner_running (self->runner));
        else
            log_debug ("broker still silent", "broker=%s", self->options->broker);
        self->lost_logged = true;
        self->silent_logged = now;
        s_close_socket (self, S_LINGER_MS);
        s_connect (self);
        return;
    }
    if (self->ready_pending)
        s_send_ready (self);
    s_age_sent (self);
    s_flush (self);
    if (now - self->last_sent >= self->interval_ms) {
        zj_enc_simple (self->out, ZJ_MSG_HEARTBEAT, 0);
        s_send (self, self->out);
    }
    //  Sends may have consumed the ZMQ_FD edge.
    if (s_readable (self))
        uv_idle_start (&self->idle, s_on_idle);
}

//  The function list changed (a --serve process sent its hello): the
//  first time, link to the broker now that READY can name everything;
//  later, register again with the new list (READY replaces the old one).
static void
s_on_change (void *arg)
{
    session_t *self = arg;
    if (self->stopping)
        return;
    size_t count;
    runner_functions (self->runner, &count);
    log_info ("functions changed", "count=%zu linked=%s", count, self->sock ? "yes" : "no");
    if (self->sock)
        s_send_ready (self);
    else
    if (!uv_is_active ((uv_handle_t *) &self->retry))
        s_connect (self);
}

static void
s_close_handle (uv_handle_t *handle)
{
    if (!uv_is_closing (handle))
        uv_close (handle, NULL);
}

//  notify_status_fn: the link and the load, for `systemctl status`.
static void
s_status (void *arg, char *buf, size_t len)
{
    session_t *self = arg;
    uint32_t running = self->runner ? runner_running (self->runner) : 0;
    if (self->sock && self->heard)
        snprintf (buf, len, "serving %s: %u tasks running", self->options->broker,
                  (unsigned) running);
    else
        snprintf (buf, len, "waiting for the broker at %s: %u tasks running",
                  self->options->broker, (unsigned) running);
}

//  Stop: give back held tasks, end running ones, say goodbye, and let
//  the loop run dry.
static void
s_stop (session_t *self, const char *reason)
{
    if (!self->runner)
        return;
    self->stopping = true;
    notify_stop (self->notify, "stopping");
    uint32_t running = runner_running (self->runner);
    uint32_t returned = runner_return_held (self->runner, s_add_return, self);
    //  Destroying the runner also ends the task processes of --serve,
    //  whose restarts would otherwise keep the loop alive.
    runner_destroy (&self->runner);
    log_info ("stopping", "reason=%s proc=%d returned=%u aborted=%u", reason, self->proc,
              (unsigned) returned, (unsigned) running);
    s_flush (self);
    if (self->sock) {
        zj_enc_simple (self->out, ZJ_MSG_DISCONNECT, 0);
        s_send (self, self->out);
    }
    s_close_socket (self, S_STOP_LINGER_MS);
    s_close_handle ((uv_handle_t *) &self->sigterm);
    s_close_handle ((uv_handle_t *) &self->sigint);
    s_close_handle ((uv_handle_t *) &self->tick);
    s_close_handle ((uv_handle_t *) &self->retry);
    s_close_handle ((uv_handle_t *) &self->drain);
    s_close_handle ((uv_handle_t *) &self->prepare);
    s_close_handle ((uv_handle_t *) &self->idle);
}

//  The drain is over before its tasks are: give the running ones back
//  (the broker requeues RETURNed tasks without counting an attempt) and
//  stop, which kills them.
static void
s_abort_running (session_t *self, const char *reason)
{
    uint32_t running = runner_running (self->runner);
    runner_each (self->runner, s_add_return, self);
    log_warn ("drain cut short", "reason=%s proc=%d returned=%u", reason, self->proc,
              (unsigned) running);
    s_stop (self, reason);
}

static void
s_on_drain_timeout (uv_timer_t *timer)
{
    s_abort_running (timer->data, "drain-timeout");
}

//  Graceful drain (SIGTERM, SIGINT): take no new task (TASKS that still
//  come are given back), give back the unstarted ones now, and let the
//  running ones finish within --drain-timeout; s_on_prepare stops once
//  none runs. READY again with the credit lowered to what runs, so that
//  the broker does not keep sending tasks only to get them back. A
//  second signal stops at once.
static void
s_on_signal (uv_signal_t *handle, int signum)
{
    session_t *self = handle->data;
    const char *reason = signum == SIGINT ? "SIGINT" : "SIGTERM";
    if (!self->runner)
        return;
    if (self->stopping) {
        s_abort_running (self, reason);
        return;
    }
    self->stopping = true;
    uint32_t returned = runner_return_held (self->runner, s_add_return, self);
    uint32_t running = runner_running (self->runner);
    char status[96];
    snprintf (status, sizeof status, "stopping: draining %u running tasks", (unsigned) running);
    notify_stop (self->notify, status);
    log_info ("draining", "reason=%s proc=%d returned=%u running=%u timeout_s=%g", reason,
              self->proc, (unsigned) returned, (unsigned) running, self->options->drain_timeout);
    if (running == 0) {
        s_stop (self, reason);
        return;
    }
    self->credit = running;
    if (self->sock && self->ready_sent)
        s_send_ready (self);
    s_flush (self);
    double ms = ceil (self->options->drain_timeout * 1000.0);
    uv_timer_start (&self->drain, s_on_drain_timeout, (uint64_t) ms, 0);
}

int
session_run (const options_t *options, int proc, const char *self_exe)
{
    session_t *self = calloc (1, sizeof *self);
    if (!self) {
        log_error ("out of memory", "what=session");
        return 1;
    }
    self->options = options;
    self->proc = proc;
    self->credit = options->concurrency + options->prefetch;
    double ms = options->heartbeat * 1000.0;
    self->interval_ms = ms < 1 ? 1 : (uint64_t) ms;
    //  A routing id must not start with a zero byte (libzmq reserves those).
    if (getrandom (self->id, sizeof self->id, 0) != (ssize_t) sizeof self->id)
        for (size_t i = 0; i < sizeof self->id; i++)
            self->id[i] = (uint8_t) (rand () ^ getpid () >> (i % 4));
    self->id[0] |= 0x80;
    if (gethostname (self->host, sizeof self->host - 1) < 0)
        snprintf (self->host, sizeof self->host, "localhost");
    int rc = uv_loop_init (&self->loop);
    if (rc < 0) {
        log_error ("event loop failed", "error=\"%s\"", uv_strerror (rc));
        free (self);
        return 1;
    }
    self->out = zj_enc_new ();
    self->done = zj_enc_new ();
    self->ret = zj_enc_new ();
    self->sent = zj_enc_new ();
    self->sent_old = zj_enc_new ();
    self->runner = runner_new (&self->loop, options, self_exe, s_on_done, self);
    self->ctx = zmq_ctx_new ();
    if (!self->out || !self->done || !self->ret || !self->sent || !self->sent_old
    || !self->runner || !self->ctx) {
        log_error ("startup failed", "error=\"out of memory or no ZeroMQ context\"");
        self->exit_code = 1;
        goto cleanup;
    }
    uv_signal_init (&self->loop, &self->sigterm);
    uv_signal_init (&self->loop, &self->sigint);
    uv_timer_init (&self->loop, &self->tick);
    uv_timer_init (&self->loop, &self->retry);
    uv_timer_init (&self->loop, &self->drain);
    uv_prepare_init (&self->loop, &self->prepare);
    uv_idle_init (&self->loop, &self->idle);
    self->sigterm.data = self->sigint.data = self->tick.data = self->retry.data = self;
    self->drain.data = self;
    self->prepare.data = self->idle.data = self;
    uv_signal_start (&self->sigterm, s_on_signal, SIGTERM);
    uv_signal_start (&self->sigint, s_on_signal, SIGINT);
    uv_prepare_start (&self->prepare, s_on_prepare);
    uv_timer_start (&self->tick, s_on_tick, self->interval_ms, self->interval_ms);
    //  Under a supervisor NOTIFY_SOCKET is not passed on: this does
    //  nothing there, and speaks for the worker when it runs alone.
    self->notify = notify_new (&self->loop, s_status, self);
    notify_ready (self->notify);

    runner_on_change (self->runner, s_on_change, self);
    if (runner_ready (self->runner)) {
        size_t count;
        const char *const *functions = runner_functions (self->runner, &count);
        char list[1024] = "";
        for (size_t i = 0, n = 0; i < count && n < sizeof list; i++)
            n += (size_t) snprintf (list + n, sizeof list - n, "%s%s", i ? "," : "", functions[i]);
        log_info ("connecting", "broker=%s proc=%d pid=%d worker=%s credit=%llu functions=%s",
                  options->broker, proc, (int) getpid (), s_name (self),
                  (unsigned long long) options->concurrency + options->prefetch, list);
        s_connect (self);
    }
    else
        //  READY must name the task processes' functions: link once one
        //  of them has said hello (s_on_change).
        log_info ("starting task processes", "proc=%d pid=%d command=\"%s\" slots=%u",
                  proc, (int) getpid (), options->serve, (unsigned) options->concurrency);
    uv_run (&self->loop, UV_RUN_DEFAULT);

cleanup:
    runner_destroy (&self->runner);
    s_close_socket (self, S_STOP_LINGER_MS);
    //  Let closing handles (aborted commands, timers) finish.
    uv_run (&self->loop, UV_RUN_DEFAULT);
    if (uv_loop_close (&self->loop) != 0)
        log_warn ("event loop not empty at exit", "proc=%d", proc);
    notify_destroy (&self->notify);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    zj_enc_destroy (&self->out);
    zj_enc_destroy (&self->done);
    zj_enc_destroy (&self->ret);
    zj_enc_destroy (&self->sent);
    zj_enc_destroy (&self->sent_old);
    free (self->held);
    int code = self->exit_code;
    free (self);
    return code;
}

bool
session_check_endpoint (const char *endpoint, char *why, size_t why_size)
{
    void *ctx = zmq_ctx_new ();
    void *sock = ctx ? zmq_socket (ctx, ZMQ_DEALER) : NULL;
    bool ok = sock != NULL;
    if (!ok)
        snprintf (why, why_size, "cannot create a ZeroMQ socket: %s", zmq_strerror (errno));
    else {
        int linger = 0;
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect (sock, endpoint) < 0) {
            snprintf (why, why_size,
                      "--broker '%s': %s; give an endpoint like tcp://HOST:PORT",
                      endpoint, zmq_strerror (errno));
            ok = false;
        }
        zmq_close (sock);
    }
    if (ctx)
        zmq_ctx_term (ctx);
    return ok;
}
