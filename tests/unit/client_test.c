// SPDX-License-Identifier: MIT
//  client_test - libzjob's client and I/O thread against a fake broker (a
//  ROUTER in a test thread speaking ZJP/1 with the proto codec), and
//  reachability against a closed loopback port.
//  Fake broker functions: "echo" returns its args array; "hold" never
//  finishes (queued: cancellable); "busy" never finishes (running);
//  "full" is refused with QueueFull. Like zjobd, the fake dedupes SUBMITs
//  by (client, req), and the tests can make it lose a reply, hang, say
//  DISCONNECT or forget every task (a restart without a store).
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include "harness.h"
#include "client.h"
#include "future.h"
#include "msg.h"
#include "zjob.h"

typedef struct {
    void *ctx;
    void *router;
    char endpoint[64];          //  where clients connect
    pthread_t thread;
    atomic_bool stop;
    atomic_bool mute;           //  answer nothing (a hung broker)
    atomic_int submits;         //  SUBMIT messages received
    atomic_int tasks;           //  tasks received
    atomic_int max_batch;       //  most tasks in one SUBMIT
    atomic_int pings;
    atomic_int muted;           //  messages received and ignored while mute
    atomic_bool drop_submitted; //  accept the next SUBMIT, answer nothing, go mute
    atomic_bool fetch_done;     //  FETCH answers held tickets: done, value "again"
    atomic_bool forget;         //  forget every task (restart without a store)
    atomic_bool say_disconnect; //  send DISCONNECT to the last peer
    atomic_bool restart;        //  close the socket and bind a new one (a crash and restart)
    atomic_int resubmits;       //  SUBMITs that repeated a known (client, req)
    atomic_int fetched_held;    //  held tickets asked for by FETCH
    char last_client[ZJ_MAX_CLIENT + 1];    //  client id of the last SUBMIT
    struct {
        char client[ZJ_MAX_CLIENT + 1];
        uint64_t req;
        int first;              //  sequence number of its first ticket
        uint32_t count;         //  tasks in it
    } seen[256];                //  accepted (client, req) pairs
    int nseen;
    uint8_t peer[256];          //  routing id of the last message
    size_t peer_len;
    int seq;                    //  ticket sequence
    char held[4096][16];        //  tickets of "hold"/"busy" tasks
    int held_state[4096];
    int nheld;
    zj_enc_t *enc;
    zj_enc_t *res;              //  RESULT entries of the message being handled
    int nres;
} fake_t;

static double s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void s_send (fake_t *fake, zmq_msg_t *id, zj_enc_t *enc)
{
    zmq_msg_t copy;
    zmq_msg_init (&copy);
    zmq_msg_copy (&copy, id);
    zmq_msg_send (&copy, fake->router, ZMQ_SNDMORE);
    zmq_send (fake->router, zj_enc_data (enc), zj_enc_size (enc), 0);
}

static int s_find_held (fake_t *fake, const char *ptr, size_t len)
{
    for (int i = 0; i < fake->nheld; i++)
        if (strlen (fake->held[i]) == len && memcmp (fake->held[i], ptr, len) == 0)
            return i;
    return -1;
}

static void s_handle (fake_t *fake, zmq_msg_t *id, const uint8_t *data, size_t size)
{
    zj_msg_t msg;
    const char *why;
    ASSERT_ERR (zj_msg_decode (data, size, ZJ_MAX_FRAME_DEFAULT, &msg, &why), ZJ_OK);
    zj_enc_t *enc = fake->enc;
    zj_str_t t;
    switch (msg.type) {
        case ZJ_MSG_SUBMIT: {
            atomic_fetch_add (&fake->submits, 1);
            atomic_fetch_add (&fake->tasks, (int) msg.count);
            if ((int) msg.count > atomic_load (&fake->max_batch))
                atomic_store (&fake->max_batch, (int) msg.count);
            //  Collect the outcomes first: SUBMITTED must go out before RESULT.
            zj_msg_t copy = msg;
            zj_task_t task;
            bool full = false;
            while (zj_msg_next_task (&copy, &task))
                full |= task.fn.len == 4 && memcmp (task.fn.ptr, "full", 4) == 0;
            if (full) {
                zj_enc_error (enc, msg.req, ZJ_EQUEUEFULL, "queue of full is at 3 tasks");
                s_send (fake, id, enc);
                return;
            }
            snprintf (fake->last_client, sizeof fake->last_client, "%.*s",
                      (int) msg.client.len, msg.client.ptr ? msg.client.ptr : "");
            for (int i = 0; i < fake->nseen; i++) {
                if (fake->seen[i].req != msg.req || strcmp (fake->seen[i].client,
                                                            fake->last_client) != 0)
                    continue;
                //  A resend: the tickets of the first, nothing new.
                ASSERT_EQ (fake->seen[i].count, msg.count);
                atomic_fetch_add (&fake->resubmits, 1);
                atomic_fetch_sub (&fake->tasks, (int) msg.count);
                zj_enc_tickets_begin (enc, ZJ_MSG_SUBMITTED, msg.req, msg.count);
                for (uint32_t k = 0; k < msg.count; k++) {
                    char ticket[16];
                    snprintf (ticket, sizeof ticket, "t-%d", fake->seen[i].first + (int) k);
                    zj_enc_str (enc, ticket, strlen (ticket));
                }
                s_send (fake, id, enc);
                return;
            }
            if (msg.client.len && fake->nseen < 256) {
                strcpy (fake->seen[fake->nseen].client, fake->last_client);
                fake->seen[fake->nseen].req = msg.req;
                fake->seen[fake->nseen].first = fake->seq;
                fake->seen[fake->nseen++].count = msg.count;
            }
            zj_enc_tickets_begin (enc, ZJ_MSG_SUBMITTED, msg.req, msg.count);
            zj_enc_reset (fake->res);
            fake->nres = 0;
            while (zj_msg_next_task (&msg, &task)) {
                char ticket[16];
                snprintf (ticket, sizeof ticket, "t-%d", fake->seq++);
                zj_enc_str (enc, ticket, strlen (ticket));
                bool echo = task.fn.len == 4 && memcmp (task.fn.ptr, "echo", 4) == 0;
                if (echo) {
                    zj_outcome_t out = {.ticket = {ticket, strlen (ticket)},
                                        .state = ZJ_STATE_DONE, .value = task.args};
                    zj_enc_outcome (fake->res, &out);
                    fake->nres++;
                }
                else if (fake->nheld < 4096) {
                    strcpy (fake->held[fake->nheld], ticket);
                    fake->held_state[fake->nheld++] =
                        task.fn.ptr[0] == 'b' ? ZJ_STATE_RUNNING : ZJ_STATE_QUEUED;
                }
            }
            if (atomic_exchange (&fake->drop_submitted, false)) {
                //  Accepted, but the reply is lost with the broker.
                atomic_store (&fake->mute, true);
                return;
            }
            s_send (fake, id, enc);
            if (fake->nres) {
                //  RESULT header written around the collected entries.
                zj_enc_outcomes_begin (enc, ZJ_MSG_RESULT, (uint32_t) fake->nres);
                zj_enc_raw (enc, zj_enc_data (fake->res), zj_enc_size (fake->res));
                s_send (fake, id, enc);
            }
            return;
        }
        case ZJ_MSG_FETCH: {
            zj_enc_t *res = fake->res;
            zj_enc_reset (res);
            fake->nres = 0;
            while (zj_msg_next_str (&msg, &t)) {
                zj_outcome_t out = {.ticket = t, .state = ZJ_STATE_UNKNOWN};
                int i = s_find_held (fake, t.ptr, t.len);
                if (i >= 0) {
                    atomic_fetch_add (&fake->fetched_held, 1);
                    if (fake->held_state[i] == ZJ_STATE_CANCELLED)
                        out.state = ZJ_STATE_CANCELLED;
                    else if (atomic_load (&fake->fetch_done)) {
                        out.state = ZJ_STATE_DONE;
                        out.value = (zj_raw_t) {(const uint8_t *) "\xa5" "again", 6};
                    }
                    else
                        continue;       //  not final: its RESULT comes later
                }
                if (t.len == 4 && memcmp (t.ptr, "gone", 4) == 0)
                    out.state = ZJ_STATE_EXPIRED;
                if (t.len == 4 && memcmp (t.ptr, "fail", 4) == 0) {
                    out.state = ZJ_STATE_FAILED;
                    out.err_type = (zj_str_t) {"ValueError", 10};
                    out.err_message = (zj_str_t) {"x==2", 4};
                    out.err_traceback = (zj_str_t) {"tb", 2};
                }
                zj_enc_outcome (res, &out);
                fake->nres++;
            }
            if (fake->nres) {
                zj_enc_outcomes_begin (enc, ZJ_MSG_RESULT, (uint32_t) fake->nres);
                zj_enc_raw (enc, zj_enc_data (res), zj_enc_size (res));
                s_send (fake, id, enc);
            }
            return;
        }
        case ZJ_MSG_STATUS:
        case ZJ_MSG_CANCEL: {
            bool cancel = msg.type == ZJ_MSG_CANCEL;
            zj_enc_states_begin (enc, cancel ? ZJ_MSG_CANCEL_REPLY : ZJ_MSG_STATUS_REPLY,
                                 msg.req, msg.count);
            zj_enc_t *res = fake->res;
            zj_enc_reset (res);
            fake->nres = 0;
            while (zj_msg_next_str (&msg, &t)) {
                int i = s_find_held (fake, t.ptr, t.len);
                int state = i < 0 ? ZJ_STATE_UNKNOWN : fake->held_state[i];
                if (cancel && state == ZJ_STATE_QUEUED) {
                    state = fake->held_state[i] = ZJ_STATE_CANCELLED;
                    zj_outcome_t out = {.ticket = t, .state = ZJ_STATE_CANCELLED};
                    zj_enc_outcome (res, &out);
                    fake->nres++;
                }
                zj_enc_state (enc, t.ptr, t.len, (zj_state_t) state);
            }
            s_send (fake, id, enc);
            if (fake->nres) {
                //  Subscribers hear of the cancel too, as the broker does.
                zj_enc_outcomes_begin (enc, ZJ_MSG_RESULT, (uint32_t) fake->nres);
                zj_enc_raw (enc, zj_enc_data (res), zj_enc_size (res));
                s_send (fake, id, enc);
            }
            return;
        }
        case ZJ_MSG_STATS:
            zj_enc_stats_begin (enc, msg.req);
            zj_enc_map (enc, 1);
            zj_enc_cstr (enc, "version");
            zj_enc_cstr (enc, "fake");
            s_send (fake, id, enc);
            return;
        case ZJ_MSG_PING:
            atomic_fetch_add (&fake->pings, 1);
            zj_enc_simple (enc, ZJ_MSG_PONG, msg.req);
            s_send (fake, id, enc);
            return;
        default:
            ZT_FAIL ("fake broker: unexpected message type %d", msg.type);
    }
}

//  What the tests ask of the fake from their own thread.
//  A ROUTER bound to endpoint (a free port when it ends in ":*").
static void *s_fake_bind (void *ctx, const char *endpoint)
{
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    int linger = 0, hwm = 0, one = 1;
    zmq_setsockopt (router, ZMQ_LINGER, &linger, sizeof linger);
    //  As zjobd: a client reconnecting with its routing id takes it over.
    zmq_setsockopt (router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt (router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    //  The old socket's port is freed in the background: retry a while.
    double deadline = s_now () + 5;
    while (zmq_bind (router, endpoint) != 0) {
        if (s_now () > deadline)
            ZT_FAIL ("cannot bind %s: %s", endpoint, zmq_strerror (errno));
        usleep (10000);
    }
    return router;
}

static void s_fake_orders (fake_t *fake)
{
    if (atomic_load (&fake->restart)) {
        zmq_close (fake->router);
        fake->router = s_fake_bind (fake->ctx, fake->endpoint);
        atomic_store (&fake->restart, false);
    }
    if (atomic_exchange (&fake->forget, false)) {
        fake->nheld = 0;
        fake->nseen = 0;
    }
    if (atomic_exchange (&fake->say_disconnect, false) && fake->peer_len) {
        zj_enc_simple (fake->enc, ZJ_MSG_DISCONNECT, 0);
        zmq_send (fake->router, fake->peer, fake->peer_len, ZMQ_SNDMORE);
        zmq_send (fake->router, zj_enc_data (fake->enc), zj_enc_size (fake->enc), 0);
    }
}

static void *s_fake_main (void *arg)
{
    fake_t *fake = arg;
    while (!atomic_load (&fake->stop)) {
        s_fake_orders (fake);
        zmq_pollitem_t item = {fake->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        zmq_msg_init (&body);
        zmq_msg_recv (&id, fake->router, 0);
        ASSERT_TRUE (zmq_msg_more (&id));
        zmq_msg_recv (&body, fake->router, 0);
        ASSERT_TRUE (!zmq_msg_more (&body));
        fake->peer_len = zmq_msg_size (&id) < sizeof fake->peer ? zmq_msg_size (&id) : 0;
        memcpy (fake->peer, zmq_msg_data (&id), fake->peer_len);
        if (atomic_load (&fake->mute))
            atomic_fetch_add (&fake->muted, 1);
        else
            s_handle (fake, &id, zmq_msg_data (&body), zmq_msg_size (&body));
        zmq_msg_close (&id);
        zmq_msg_close (&body);
    }
    return NULL;
}

static fake_t *s_fake_start (void)
{
    fake_t *fake = calloc (1, sizeof *fake);
    fake->ctx = zmq_ctx_new ();
    fake->router = s_fake_bind (fake->ctx, "tcp://127.0.0.1:*");
    size_t len = sizeof fake->endpoint;
    zmq_getsockopt (fake->router, ZMQ_LAST_ENDPOINT, fake->endpoint, &len);
    fake->enc = zj_enc_new ();
    fake->res = zj_enc_new ();
    pthread_create (&fake->thread, NULL, s_fake_main, fake);
    return fake;
}

static void s_fake_stop (fake_t **fake_p)
{
    fake_t *fake = *fake_p;
    atomic_store (&fake->stop, true);
    pthread_join (fake->thread, NULL);
    zmq_close (fake->router);
    zmq_ctx_term (fake->ctx);
    zj_enc_destroy (&fake->enc);
    zj_enc_destroy (&fake->res);
    free (fake);
    *fake_p = NULL;
}

//  A loopback port nobody listens on: bind an ephemeral port and close it.
static int s_closed_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    ASSERT_EQ (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname (fd, (struct sockaddr *) &addr, &len);
    close (fd);
    return ntohs (addr.sin_port);
}

static atomic_int s_callbacks;
static fake_t *s_fake;         //  the broker of the tests below

static void s_count_cb (zj_future_t *f, void *arg)
{
    (void) f;
    (void) arg;
    atomic_fetch_add (&s_callbacks, 1);
}

static void test_bad_endpoint (void)
{
    zj_err_t err;
    ASSERT_TRUE (zj_client_new ("not an endpoint", NULL, &err) == NULL);
    ASSERT_ERR (err, ZJ_EINVAL);
    ASSERT_TRUE (zj_client_new (NULL, NULL, &err) == NULL);
    ASSERT_ERR (err, ZJ_EINVAL);
}

static void test_unreachable (void)
{
    char ep[64];
    snprintf (ep, sizeof ep, "tcp://127.0.0.1:%d", s_closed_port ());
    zj_client_opts_t opts = {.connect_timeout = 0.5};
    zj_err_t err;
    zj_client_t *c = zj_client_new (ep, &opts, &err);
    ASSERT_TRUE (c != NULL);
    double t0 = s_now ();
    zj_future_t *f = zj_submit_json (c, "echo", "[1]", NULL, &err);
    ASSERT_TRUE (f != NULL);
    ASSERT_ERR (zj_future_result (f, 10, NULL, NULL), ZJ_EUNREACHABLE);
    double took = s_now () - t0;
    ASSERT_TRUE (took >= 0.45);
    ASSERT_TRUE (took < 3);     //  within the connect timeout, not the 10 s wait
    ASSERT_STREQ (zj_error_type (zj_future_exception (f, 0, NULL)), "BrokerUnreachable");
    ASSERT_ERR (zj_client_ping (c, 10), ZJ_EUNREACHABLE);
    ASSERT_EQ (zj_client_status (c, "t-1", &err), -1);
    ASSERT_ERR (err, ZJ_EUNREACHABLE);
    zj_client_destroy (&c);
    ASSERT_TRUE (c == NULL);
    //  The future outlives its client.
    ASSERT_ERR (zj_future_code (f), ZJ_EUNREACHABLE);
    zj_future_destroy (&f);
}

static void test_submit_many (void)
{
    fake_t *fake = s_fake;
    enum { N = 20000 };
    zj_err_t err;
    zj_client_opts_t opts = {.batch = 500};
    zj_client_t *c = zj_client_new (fake->endpoint, &opts, &err);
    ASSERT_ERR (zj_client_ping (c, 5), ZJ_OK);
    zj_future_t **fs = calloc (N, sizeof *fs);
    atomic_store (&s_callbacks, 0);
    int submits0 = atomic_load (&fake->submits);
    zj_enc_t *enc = zj_enc_new ();
    for (int i = 0; i < N; i++) {
        zj_enc_reset (enc);
        zj_enc_array (enc, 1);
        zj_enc_int (enc, i);
        fs[i] = zj_submit (c, "echo", zj_enc_data (enc), zj_enc_size (enc), NULL, &err);
        ASSERT_TRUE (fs[i] != NULL);
        if (i % 3 == 0)
            zj_future_add_done_callback (fs[i], s_count_cb, NULL);
    }
    ASSERT_EQ (zj_wait (fs, N, ZJ_ALL_COMPLETED, -1, NULL), N);
    for (int i = 0; i < N; i++) {
        const uint8_t *v;
        size_t len;
        ASSERT_ERR (zj_future_result (fs[i], 0, &v, &len), ZJ_OK);
        zj_enc_reset (enc);
        zj_enc_array (enc, 1);
        zj_enc_int (enc, i);
        ASSERT_EQ (len, zj_enc_size (enc));
        ASSERT_TRUE (memcmp (v, zj_enc_data (enc), len) == 0);
        ASSERT_TRUE (zj_future_ticket (fs[i]) != NULL);
        zj_future_destroy (&fs[i]);
    }
    //  Batched: far fewer messages than tasks, none over the batch size.
    int submits = atomic_load (&fake->submits) - submits0;
    fprintf (stderr, "    %d tasks in %d SUBMIT messages\n", N, submits);
    ASSERT_TRUE (submits <= N / 100);
    ASSERT_TRUE (atomic_load (&fake->max_batch) <= 500);
    //  As in concurrent.futures, wait() may return before the I/O thread
    //  has run the last callbacks: give them a bounded moment, then count.
    for (int i = 0; i < 5000 && atomic_load (&s_callbacks) < (N + 2) / 3; i++)
        usleep (1000);
    ASSERT_EQ (atomic_load (&s_callbacks), (N + 2) / 3);
    zj_enc_destroy (&enc);
    free (fs);
    zj_client_destroy (&c);
}

static void test_fetch_and_lookups (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_t *c = zj_client_new (fake->endpoint, NULL, &err);
    zj_future_t *f = zj_fetch (c, "nope", &err);
    ASSERT_ERR (zj_future_result (f, 5, NULL, NULL), ZJ_ENOTICKET);
    zj_future_destroy (&f);
    f = zj_fetch (c, "gone", &err);
    ASSERT_ERR (zj_future_result (f, 5, NULL, NULL), ZJ_EEXPIRED);
    zj_future_destroy (&f);
    f = zj_fetch (c, "fail", &err);
    const zj_error_t *e = zj_future_exception (f, 5, &err);
    ASSERT_ERR (err, ZJ_ETASK);
    ASSERT_STREQ (zj_error_type (e), "ValueError");
    ASSERT_STREQ (zj_error_traceback (e), "tb");
    zj_future_destroy (&f);
    ASSERT_TRUE (zj_fetch (c, "has space", &err) == NULL);
    ASSERT_ERR (err, ZJ_EINVAL);

    //  Refused batch.
    f = zj_submit_json (c, "full", "[]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (f, 5, &err) == NULL);
    ASSERT_ERR (err, ZJ_EQUEUEFULL);
    ASSERT_ERR (zj_future_result (f, 0, NULL, NULL), ZJ_EQUEUEFULL);
    ASSERT_STREQ (zj_error_message (zj_future_exception (f, 0, NULL)),
                  "queue of full is at 3 tasks");
    zj_future_destroy (&f);

    //  Cancel a queued task: OK, and the future is cancelled.
    f = zj_submit_json (c, "hold", "[1]", NULL, &err);
    ASSERT_TRUE (!zj_future_running (f));
    ASSERT_ERR (zj_future_cancel (f), ZJ_OK);
    ASSERT_TRUE (zj_future_cancelled (f));
    ASSERT_ERR (zj_future_result (f, 0, NULL, NULL), ZJ_ECANCELLED);
    ASSERT_ERR (zj_future_cancel (f), ZJ_OK);
    zj_future_destroy (&f);

    //  A running task cannot be cancelled.
    f = zj_submit_json (c, "busy", NULL, NULL, &err);
    const char *ticket = zj_future_wait_ticket (f, 5, &err);
    ASSERT_TRUE (ticket != NULL);
    ASSERT_TRUE (zj_future_running (f));
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_RUNNING);
    ASSERT_ERR (zj_future_cancel (f), ZJ_ETOOLATE);
    ASSERT_EQ (zj_client_status (c, ticket, &err), ZJ_STATE_RUNNING);
    ASSERT_EQ (zj_client_cancel (c, ticket, &err), ZJ_STATE_RUNNING);
    ASSERT_EQ (zj_client_status (c, "zzz", &err), ZJ_STATE_UNKNOWN);
    ASSERT_EQ (zj_client_status (c, "", &err), -1);
    ASSERT_ERR (err, ZJ_EINVAL);
    //  Dropping a pending future is safe; the client still tracks it.
    zj_future_destroy (&f);

    char *stats = zj_client_stats_json (c, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_STREQ (stats, "{\"version\":\"fake\"}");
    free (stats);

    //  Shutdown without waiting; destroy fails what is still pending.
    zj_future_t *held = zj_submit_json (c, "hold", "[2]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (held, 5, &err) != NULL);
    zj_client_shutdown (c, false, false);
    ASSERT_TRUE (zj_submit_json (c, "echo", "[]", NULL, &err) == NULL);
    ASSERT_ERR (err, ZJ_ESHUTDOWN);
    zj_client_destroy (&c);
    ASSERT_ERR (zj_future_code (held), ZJ_ESHUTDOWN);
    zj_future_destroy (&held);
}

static void test_shutdown_cancel (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_t *c = zj_client_new (fake->endpoint, NULL, &err);
    zj_future_t *fs[3];
    fs[0] = zj_submit_json (c, "hold", "[1]", NULL, &err);
    fs[1] = zj_submit_json (c, "hold", "[2]", NULL, &err);
    fs[2] = zj_submit_json (c, "echo", "[3]", NULL, &err);
    ASSERT_ERR (zj_future_result (fs[2], 5, NULL, NULL), ZJ_OK);
    //  cancel_futures: queued tasks are cancelled at the broker; wait
    //  returns once every future is final.
    zj_client_shutdown (c, true, true);
    ASSERT_TRUE (zj_future_cancelled (fs[0]));
    ASSERT_TRUE (zj_future_cancelled (fs[1]));
    ASSERT_EQ (zj_future_state (fs[2]), ZJ_FUTURE_DONE);
    zj_client_destroy (&c);
    for (int i = 0; i < 3; i++)
        zj_future_destroy (&fs[i]);
}

//  Poll a counter of the client until it reaches want (bounded).
static void s_wait_count (atomic_uint *counter, unsigned want, double timeout)
{
    double deadline = s_now () + timeout;
    while (atomic_load (counter) < want) {
        if (s_now () > deadline)
            ZT_FAIL ("counter stuck at %u, expected %u", atomic_load (counter), want);
        usleep (2000);
    }
}

//  Fast liveness so that a hung fake is noticed in 0.3 s.
static zj_client_t *s_quick_client (double reconnect_timeout)
{
    zj_client_opts_t opts = {.heartbeat = 0.1, .liveness = 3, .connect_timeout = 2,
                             .reconnect_timeout = reconnect_timeout};
    zj_err_t err;
    zj_client_t *c = zj_client_new (s_fake->endpoint, &opts, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_ERR (zj_client_ping (c, 5), ZJ_OK);
    return c;
}

static void test_broker_lost (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_t *c = s_quick_client (0.5);
    zj_future_t *f = zj_submit_json (c, "hold", "[]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (f, 5, &err) != NULL);
    //  Heartbeats keep a silent wait alive while the broker answers PINGs.
    int pings = atomic_load (&fake->pings);
    ASSERT_ERR (zj_future_result (f, 0.5, NULL, NULL), ZJ_ETIMEDOUT);
    ASSERT_TRUE (atomic_load (&fake->pings) > pings);
    //  Then the broker hangs: lost after liveness x heartbeat, and after
    //  reconnect_timeout of trying again, the future fails.
    int muted = atomic_load (&fake->muted);
    atomic_store (&fake->mute, true);
    double t0 = s_now ();
    ASSERT_ERR (zj_future_result (f, 10, NULL, NULL), ZJ_EBROKERLOST);
    //  No wall-clock bounds here (sanitizer builds run slowly): that the
    //  wait ends in BrokerLost, not in its own 10 s timeout, is the point.
    double took = s_now () - t0;
    ASSERT_EQ (atomic_load (&c->losses), 1);
    ASSERT_EQ (atomic_load (&c->recoveries), 0);
    //  Backoff, not a busy loop: ~3 heartbeats, then probes at 0, 0.1, 0.3 s.
    int sent = atomic_load (&fake->muted) - muted;
    fprintf (stderr, "    %d messages to the hung broker in %.2f s\n", sent, took);
    ASSERT_TRUE (sent >= 3 && sent <= 12);
    const zj_error_t *e = zj_future_exception (f, 0, NULL);
    ASSERT_STREQ (zj_error_type (e), "BrokerLost");
    ASSERT_TRUE (strstr (zj_error_message (e), "did not answer again within 0.5 s"));
    atomic_store (&fake->mute, false);
    //  The client goes on with a fresh connection.
    zj_future_t *g = zj_submit_json (c, "echo", "[5]", NULL, &err);
    char *json;
    ASSERT_ERR (zj_future_result_json (g, 5, &json), ZJ_OK);
    ASSERT_STREQ (json, "[5]");
    free (json);
    zj_future_destroy (&g);
    zj_future_destroy (&f);
    zj_client_destroy (&c);
}

//  The broker takes a SUBMIT and goes silent before SUBMITTED: after the
//  reconnect the same batch goes again with the same req and client id,
//  and the broker's dedupe answers with the first tickets.
static void test_resend_submit (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_t *c = s_quick_client (10);
    ASSERT_EQ (strlen (c->id), 32);
    int tasks = atomic_load (&fake->tasks);
    int resubmits = atomic_load (&fake->resubmits);
    int nheld = fake->nheld;
    atomic_store (&fake->drop_submitted, true);
    zj_future_t *f = zj_submit_json (c, "hold", "[1]", NULL, &err);
    zj_future_t *g = zj_submit_json (c, "hold", "[2]", NULL, &err);
    s_wait_count (&c->losses, 1, 5);
    ASSERT_TRUE (zj_future_ticket (f) == NULL);
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_PENDING);
    atomic_store (&fake->mute, false);
    const char *ticket = zj_future_wait_ticket (f, 5, &err);
    ASSERT_TRUE (ticket != NULL);
    ASSERT_TRUE (zj_future_wait_ticket (g, 5, &err) != NULL);
    ASSERT_EQ (atomic_load (&c->recoveries), 1);
    //  One SUBMIT was sent again; no task was created twice.
    ASSERT_EQ (atomic_load (&fake->resubmits), resubmits + 1);
    ASSERT_EQ (atomic_load (&fake->tasks), tasks + 2);
    ASSERT_EQ (fake->nheld, nheld + 2);
    ASSERT_STREQ (fake->last_client, c->id);
    ASSERT_STREQ (ticket, fake->held[nheld]);
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_PENDING);
    zj_client_shutdown (c, false, false);
    zj_client_destroy (&c);
    zj_future_destroy (&f);
    zj_future_destroy (&g);
}

//  Two futures on one held ticket (a submit and a fetch); then the fake
//  hangs until the client counts it lost, and stays mute.
static void s_two_then_hang (zj_client_t *c, zj_future_t **f, zj_future_t **g)
{
    zj_err_t err;
    *f = zj_submit_json (c, "hold", "[1]", NULL, &err);
    const char *ticket = zj_future_wait_ticket (*f, 5, &err);
    ASSERT_TRUE (ticket != NULL);
    *g = zj_fetch (c, ticket, &err);
    ASSERT_ERR (zj_future_result (*g, 0.2, NULL, NULL), ZJ_ETIMEDOUT);
    atomic_store (&s_fake->mute, true);
    s_wait_count (&c->losses, 1, 5);
}

//  A hung broker comes back with its state: every pending ticket is
//  fetched again and its result arrives.
static void test_refetch_after_reconnect (void)
{
    fake_t *fake = s_fake;
    zj_client_t *c = s_quick_client (10);
    zj_future_t *f, *g;
    int fetched = atomic_load (&fake->fetched_held);
    s_two_then_hang (c, &f, &g);
    ASSERT_TRUE (atomic_load (&fake->fetched_held) > fetched);     //  g's FETCH
    fetched = atomic_load (&fake->fetched_held);
    atomic_store (&fake->fetch_done, true);
    atomic_store (&fake->mute, false);
    char *json;
    ASSERT_ERR (zj_future_result_json (f, 5, &json), ZJ_OK);
    ASSERT_STREQ (json, "\"again\"");
    free (json);
    ASSERT_ERR (zj_future_result_json (g, 5, &json), ZJ_OK);
    ASSERT_STREQ (json, "\"again\"");
    free (json);
    ASSERT_TRUE (atomic_load (&fake->fetched_held) > fetched);
    ASSERT_EQ (atomic_load (&c->recoveries), 1);
    atomic_store (&fake->fetch_done, false);
    zj_future_destroy (&f);
    zj_future_destroy (&g);
    zj_client_destroy (&c);
}

//  The broker comes back without its state: the tickets it gave are
//  unknown now, and their futures fail with BrokerLost, not hang.
static void test_brokerlost_on_unknown (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_t *c = s_quick_client (10);
    zj_future_t *f, *g;
    s_two_then_hang (c, &f, &g);
    const char *ticket = zj_future_ticket (f);
    atomic_store (&fake->forget, true);
    while (atomic_load (&fake->forget))
        usleep (1000);
    atomic_store (&fake->mute, false);
    ASSERT_ERR (zj_future_result (f, 5, NULL, NULL), ZJ_EBROKERLOST);
    ASSERT_ERR (zj_future_result (g, 5, NULL, NULL), ZJ_EBROKERLOST);
    const zj_error_t *e = zj_future_exception (f, 0, NULL);
    ASSERT_STREQ (zj_error_type (e), "BrokerLost");
    ASSERT_TRUE (strstr (zj_error_message (e), "restarted without the task's state"));
    //  A ticket asked for after the reconnect is plainly unknown.
    zj_future_t *h = zj_fetch (c, ticket, &err);
    ASSERT_ERR (zj_future_result (h, 5, NULL, NULL), ZJ_ENOTICKET);
    zj_future_destroy (&f);
    zj_future_destroy (&g);
    zj_future_destroy (&h);
    zj_client_destroy (&c);
}

//  Submit a held task, then pull trigger (say DISCONNECT, or restart):
//  the client, whose heartbeats are too slow to notice, reconnects at
//  once, fetches the ticket again and gets the fake's "again". The
//  client's first loss.
static void s_expect_again (zj_client_t *c, atomic_bool *trigger)
{
    zj_err_t err;
    zj_future_t *f = zj_submit_json (c, "hold", "[1]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (f, 5, &err) != NULL);
    atomic_store (&s_fake->fetch_done, true);
    double t0 = s_now ();
    atomic_store (trigger, true);
    char *json;
    ASSERT_ERR (zj_future_result_json (f, 5, &json), ZJ_OK);
    ASSERT_TRUE (s_now () - t0 < 3);
    ASSERT_STREQ (json, "\"again\"");
    free (json);
    ASSERT_EQ (atomic_load (&c->losses), 1);
    atomic_store (&s_fake->fetch_done, false);
    zj_future_destroy (&f);
}

//  DISCONNECT (the broker's SIGTERM) starts the reconnect at once, long
//  before heartbeat silence would.
static void test_disconnect (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_opts_t opts = {.heartbeat = 1, .liveness = 5, .reconnect_timeout = 10};
    zj_client_t *c = zj_client_new (fake->endpoint, &opts, &err);
    s_expect_again (c, &fake->say_disconnect);
    ASSERT_EQ (atomic_load (&c->recoveries), 1);
    //  An idle client told DISCONNECT just starts afresh. (The PING may
    //  cross the DISCONNECT; then it is in flight and goes again.)
    atomic_store (&fake->say_disconnect, true);
    while (atomic_load (&fake->say_disconnect))
        usleep (1000);
    ASSERT_ERR (zj_client_ping (c, 5), ZJ_OK);
    ASSERT_TRUE (atomic_load (&c->losses) <= 2);
    zj_client_destroy (&c);
}

//  The broker dies and a new one binds the same port, between two
//  heartbeats: the broken connection, not silence, starts the reconnect.
static void test_restart_between_heartbeats (void)
{
    fake_t *fake = s_fake;
    zj_err_t err;
    zj_client_opts_t opts = {.heartbeat = 1, .liveness = 5, .reconnect_timeout = 10};
    zj_client_t *c = zj_client_new (fake->endpoint, &opts, &err);
    //  Restarted with its state: the result comes through.
    s_expect_again (c, &fake->restart);
    //  Restarted without it: BrokerLost.
    zj_future_t *g = zj_submit_json (c, "hold", "[2]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (g, 5, &err) != NULL);
    atomic_store (&fake->forget, true);
    atomic_store (&fake->restart, true);
    ASSERT_ERR (zj_future_result (g, 5, NULL, NULL), ZJ_EBROKERLOST);
    ASSERT_EQ (atomic_load (&c->losses), 2);
    ASSERT_EQ (atomic_load (&c->recoveries), 2);
    zj_future_destroy (&g);
    zj_client_destroy (&c);
}

int main (void)
{
    ZT_RUN (test_bad_endpoint);
    ZT_RUN (test_unreachable);
    s_fake = s_fake_start ();
    ZT_RUN (test_submit_many);
    ZT_RUN (test_fetch_and_lookups);
    ZT_RUN (test_shutdown_cancel);
    ZT_RUN (test_broker_lost);
    ZT_RUN (test_resend_submit);
    ZT_RUN (test_refetch_after_reconnect);
    ZT_RUN (test_brokerlost_on_unknown);
    ZT_RUN (test_disconnect);
    ZT_RUN (test_restart_between_heartbeats);
    s_fake_stop (&s_fake);
    return 0;
}
