// SPDX-License-Identifier: MIT
//  api_test - drives libzjob, the C futures API, against a real zjobd
//  with a zjob-worker serving the built-ins (started by test_api.py).
//  Usage: api_test CLIENT_ENDPOINT
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "zjob.h"
#include "../unit/harness.h"

static const char *s_endpoint;

static zj_client_t *
s_client (void)
{
    zj_err_t err = ZJ_OK;
    zj_client_t *client = zj_client_new (s_endpoint, NULL, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_TRUE (client);
    return client;
}

static void
s_assert_json (zj_future_t *f, const char *expected)
{
    char *json = NULL;
    ASSERT_ERR (zj_future_result_json (f, 10, &json), ZJ_OK);
    ASSERT_STREQ (json, expected);
    free (json);
}

static void
test_submit_result (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    zj_future_t *f = zj_submit_json (c, "echo", "[\"hi\", 2]", NULL, &err);
    ASSERT_TRUE (f);
    s_assert_json (f, "[\"hi\",2]");
    ASSERT_TRUE (zj_future_done (f));
    ASSERT_TRUE (!zj_future_cancelled (f));
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_DONE);
    ASSERT_TRUE (zj_future_ticket (f));
    //  Raw msgpack arguments: [7] is 0x91 0x07; echo of one argument is it.
    const uint8_t args[] = {0x91, 0x07};
    zj_future_t *g = zj_submit (c, "echo", args, sizeof args, NULL, &err);
    const uint8_t *value;
    size_t len;
    ASSERT_ERR (zj_future_result (g, 10, &value, &len), ZJ_OK);
    ASSERT_EQ (len, 1);
    ASSERT_EQ (value[0], 0x07);
    zj_future_destroy (&f);
    zj_future_destroy (&g);
    ASSERT_TRUE (f == NULL);
    zj_client_destroy (&c);
    ASSERT_TRUE (c == NULL);
}

static void
test_exception (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    zj_future_t *f = zj_submit_json (c, "fail", "[\"ValueError\", \"x==2\"]", NULL, &err);
    const uint8_t *value;
    size_t len;
    ASSERT_ERR (zj_future_result (f, 10, &value, &len), ZJ_ETASK);
    const zj_error_t *e = zj_future_exception (f, 0, &err);
    ASSERT_TRUE (e);
    ASSERT_STREQ (zj_error_type (e), "ValueError");
    ASSERT_STREQ (zj_error_message (e), "x==2");
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_FAILED);
    //  exception() of a successful future is NULL.
    zj_future_t *g = zj_submit_json (c, "noop", "[]", NULL, &err);
    ASSERT_TRUE (zj_future_exception (g, 10, &err) == NULL);
    ASSERT_ERR (err, ZJ_OK);
    zj_future_destroy (&f);
    zj_future_destroy (&g);
    zj_client_destroy (&c);
}

static void
test_result_timeout_then_result (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    zj_future_t *f = zj_submit_json (c, "sleep", "[0.5, \"late\"]", NULL, &err);
    const uint8_t *value;
    size_t len;
    ASSERT_ERR (zj_future_result (f, 0.05, &value, &len), ZJ_ETIMEDOUT);
    ASSERT_TRUE (!zj_future_done (f));
    s_assert_json (f, "\"late\"");
    zj_future_destroy (&f);
    zj_client_destroy (&c);
}

static atomic_int s_callbacks;

static void
s_on_done (zj_future_t *future, void *arg)
{
    ASSERT_TRUE (zj_future_done (future));
    atomic_fetch_add (&s_callbacks, 1);
    atomic_fetch_add ((atomic_int *) arg, 1);
}

static void
test_done_callbacks (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    atomic_int mine = 0;
    zj_future_t *f = zj_submit_json (c, "sleep", "[0.1]", NULL, &err);
    ASSERT_ERR (zj_future_add_done_callback (f, s_on_done, &mine), ZJ_OK);
    s_assert_json (f, "0.1");
    //  The callback may run just after result() returns; wait for it.
    for (int i = 0; i < 500 && atomic_load (&mine) == 0; i++)
        usleep (1000);
    ASSERT_EQ (atomic_load (&mine), 1);
    //  On a done future it runs at once, on this thread.
    ASSERT_ERR (zj_future_add_done_callback (f, s_on_done, &mine), ZJ_OK);
    ASSERT_EQ (atomic_load (&mine), 2);
    zj_future_destroy (&f);
    zj_client_destroy (&c);
}

static void
test_wait_and_as_completed (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    zj_future_t *fs[3];
    fs[0] = zj_submit_json (c, "sleep", "[0.6, 0]", NULL, &err);
    fs[1] = zj_submit_json (c, "sleep", "[0.01, 1]", NULL, &err);
    fs[2] = zj_submit_json (c, "sleep", "[0.3, 2]", NULL, &err);
    bool done[3];
    size_t n = zj_wait (fs, 3, ZJ_FIRST_COMPLETED, 10, done);
    ASSERT_TRUE (n >= 1);
    ASSERT_TRUE (done[1]);
    //  A short timeout returns before everything is done.
    n = zj_wait (fs, 3, ZJ_ALL_COMPLETED, 0.0, done);
    ASSERT_TRUE (n < 3);
    n = zj_wait (fs, 3, ZJ_ALL_COMPLETED, 10, done);
    ASSERT_EQ (n, 3);

    //  as_completed yields in completion order: 1, 2, 0.
    zj_future_t *gs[3];
    gs[0] = zj_submit_json (c, "sleep", "[0.6, 0]", NULL, &err);
    gs[1] = zj_submit_json (c, "sleep", "[0.01, 1]", NULL, &err);
    gs[2] = zj_submit_json (c, "sleep", "[0.3, 2]", NULL, &err);
    zj_iter_t *it = zj_as_completed (gs, 3);
    const char *order[] = {"1", "2", "0"};
    for (int i = 0; i < 3; i++) {
        zj_future_t *f = zj_iter_next (it, 10, &err);
        ASSERT_TRUE (f);
        s_assert_json (f, order[i]);
    }
    ASSERT_TRUE (zj_iter_next (it, 1, &err) == NULL);
    ASSERT_ERR (err, ZJ_OK);
    zj_iter_destroy (&it);
    for (int i = 0; i < 3; i++) {
        zj_future_destroy (&fs[i]);
        zj_future_destroy (&gs[i]);
    }

    //  FIRST_EXCEPTION stops at the failure, before the slow task.
    zj_future_t *hs[2];
    hs[0] = zj_submit_json (c, "sleep", "[2]", NULL, &err);
    hs[1] = zj_submit_json (c, "fail", "[\"E\", \"m\"]", NULL, &err);
    n = zj_wait (hs, 2, ZJ_FIRST_EXCEPTION, 10, done);
    ASSERT_EQ (n, 1);
    ASSERT_TRUE (done[1] && !done[0]);
    zj_future_destroy (&hs[0]);
    zj_future_destroy (&hs[1]);
    zj_client_destroy (&c);
}

static void
test_map_ordered_chunked (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    enum { N = 500 };
    uint8_t bufs[N][4];
    const uint8_t *items[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        //  [i] as msgpack: fixarray(1) + uint16
        bufs[i][0] = 0x91;
        bufs[i][1] = 0xcd;
        bufs[i][2] = (uint8_t) (i >> 8);
        bufs[i][3] = (uint8_t) i;
        items[i] = bufs[i];
        lens[i] = 4;
    }
    size_t chunks[] = {1, 7, 100};
    for (size_t k = 0; k < 3; k++) {
        zj_map_t *m = zj_map_new (c, "echo", items, lens, N, chunks[k], true, NULL, &err);
        ASSERT_TRUE (m);
        ASSERT_EQ (zj_map_count (m), N);
        for (size_t i = 0; i < N; i++) {
            size_t index = 999999;
            const uint8_t *value;
            size_t len;
            const zj_error_t *e = NULL;
            ASSERT_ERR (zj_map_next (m, 10, &index, &value, &len, &e), ZJ_OK);
            ASSERT_EQ (index, i);
            //  echo of one argument returns it: uint16 i (or a smaller int)
            uint64_t got = value[0] < 0x80 ? value[0]
                         : value[0] == 0xcc ? value[1]
                         : (uint64_t) value[1] << 8 | value[2];
            ASSERT_EQ (got, i);
        }
        size_t index;
        const uint8_t *value;
        size_t len;
        const zj_error_t *e;
        ASSERT_ERR (zj_map_next (m, 1, &index, &value, &len, &e), ZJ_ESHUTDOWN);
        ASSERT_EQ (zj_map_done_count (m), N);
        zj_map_destroy (&m);
    }
    zj_client_destroy (&c);
}

static void
test_map_item_error_goes_on (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    //  sleep "abc" fails with BadArguments; the others succeed.
    const uint8_t a0[] = {0x91, 0x00};
    const uint8_t a1[] = {0x91, 0xa3, 'a', 'b', 'c'};
    const uint8_t a2[] = {0x91, 0x00};
    const uint8_t *items[] = {a0, a1, a2};
    size_t lens[] = {sizeof a0, sizeof a1, sizeof a2};
    for (size_t chunk = 1; chunk <= 3; chunk += 2) {
        zj_map_t *m = zj_map_new (c, "sleep", items, lens, 3, chunk, true, NULL, &err);
        size_t index;
        const uint8_t *value;
        size_t len;
        const zj_error_t *e = NULL;
        ASSERT_ERR (zj_map_next (m, 10, &index, &value, &len, &e), ZJ_OK);
        ASSERT_ERR (zj_map_next (m, 10, &index, &value, &len, &e), ZJ_ETASK);
        ASSERT_EQ (index, 1);
        ASSERT_STREQ (zj_error_type (e), "BadArguments");
        ASSERT_ERR (zj_map_next (m, 10, &index, &value, &len, &e), ZJ_OK);
        ASSERT_EQ (index, 2);
        zj_map_destroy (&m);
    }
    zj_client_destroy (&c);
}

static void
test_cancel_and_fetch_by_ticket (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    //  No worker serves "nobody": the task stays queued and can be cancelled.
    zj_future_t *f = zj_submit_json (c, "nobody", "[]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (f, 10, &err));
    ASSERT_TRUE (!zj_future_running (f));
    ASSERT_ERR (zj_future_cancel (f), ZJ_OK);
    ASSERT_TRUE (zj_future_cancelled (f));
    ASSERT_TRUE (zj_future_done (f));
    const uint8_t *value;
    size_t len;
    ASSERT_ERR (zj_future_result (f, 1, &value, &len), ZJ_ECANCELLED);

    //  A finished one cannot be cancelled.
    zj_future_t *g = zj_submit_json (c, "echo", "[5]", NULL, &err);
    s_assert_json (g, "5");
    ASSERT_ERR (zj_future_cancel (g), ZJ_ETOOLATE);

    //  A second client fetches g by ticket, and an unknown ticket fails.
    zj_client_t *other = s_client ();
    zj_future_t *h = zj_fetch (other, zj_future_ticket (g), &err);
    s_assert_json (h, "5");
    zj_future_t *u = zj_fetch (other, "nosuchgen-00000001", &err);
    ASSERT_ERR (zj_future_result (u, 10, &value, &len), ZJ_ENOTICKET);
    ASSERT_EQ (zj_client_status (other, zj_future_ticket (f), &err), 5);
    ASSERT_EQ (zj_client_status (other, zj_future_ticket (g), &err), 3);
    char *stats = zj_client_stats_json (other, &err);
    ASSERT_TRUE (stats && strstr (stats, "\"workers\""));
    free (stats);
    zj_future_destroy (&f);
    zj_future_destroy (&g);
    zj_future_destroy (&h);
    zj_future_destroy (&u);
    zj_client_destroy (&other);
    zj_client_destroy (&c);
}

static void
test_shutdown (void)
{
    zj_client_t *c = s_client ();
    zj_err_t err;
    zj_future_t *queued = zj_submit_json (c, "nobody", "[]", NULL, &err);
    zj_future_t *quick = zj_submit_json (c, "sleep", "[0.2, 1]", NULL, &err);
    ASSERT_TRUE (zj_future_wait_ticket (queued, 10, &err));
    //  cancel_futures cancels what is still queued; wait waits for the rest.
    zj_client_shutdown (c, true, true);
    ASSERT_TRUE (zj_future_cancelled (queued));
    ASSERT_TRUE (zj_future_done (quick));
    ASSERT_TRUE (zj_submit_json (c, "noop", "[]", NULL, &err) == NULL);
    ASSERT_ERR (err, ZJ_ESHUTDOWN);
    zj_future_destroy (&queued);
    zj_future_destroy (&quick);
    zj_client_destroy (&c);
}

enum { THREADS = 4, PER_THREAD = 2000 };

typedef struct {
    zj_client_t *client;        //  shared by every thread
    zj_future_t **futures;      //  this thread's slice
    int base;                   //  first value this thread submits
} s_submitter_t;

static void *
s_submit_many (void *arg)
{
    s_submitter_t *self = arg;
    zj_err_t err;
    for (int i = 0; i < PER_THREAD; i++) {
        char args[32];
        snprintf (args, sizeof args, "[%d]", self->base + i);
        self->futures[i] = zj_submit_json (self->client, "echo", args, NULL, &err);
        ASSERT_TRUE (self->futures[i]);
    }
    return NULL;
}

static void
test_many_submits_threads (void)
{
    //  Several threads submit at once through one client; every future
    //  completes with its own value.
    zj_client_t *c = s_client ();
    zj_future_t **fs = calloc (THREADS * PER_THREAD, sizeof *fs);
    pthread_t threads[THREADS];
    s_submitter_t jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (s_submitter_t) {c, fs + t * PER_THREAD, t * PER_THREAD};
        ASSERT_EQ (pthread_create (&threads[t], NULL, s_submit_many, &jobs[t]), 0);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join (threads[t], NULL);
    ASSERT_EQ (zj_wait (fs, THREADS * PER_THREAD, ZJ_ALL_COMPLETED, 60, NULL),
               THREADS * PER_THREAD);
    for (int i = 0; i < THREADS * PER_THREAD; i++) {
        char want[32];
        snprintf (want, sizeof want, "%d", i);
        s_assert_json (fs[i], want);
        zj_future_destroy (&fs[i]);
    }
    free (fs);
    zj_client_destroy (&c);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: api_test CLIENT_ENDPOINT\n");
        return 2;
    }
    s_endpoint = argv[1];
    ZT_RUN (test_submit_result);
    ZT_RUN (test_exception);
    ZT_RUN (test_result_timeout_then_result);
    ZT_RUN (test_done_callbacks);
    ZT_RUN (test_wait_and_as_completed);
    ZT_RUN (test_map_ordered_chunked);
    ZT_RUN (test_map_item_error_goes_on);
    ZT_RUN (test_cancel_and_fetch_by_ticket);
    ZT_RUN (test_shutdown);
    ZT_RUN (test_many_submits_threads);
    fprintf (stderr, "api_test: all passed\n");
    return 0;
}
