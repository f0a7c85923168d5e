// SPDX-License-Identifier: MIT
//  future_test - the zj_future_t state machine, done-callbacks (exactly
//  once), zj_wait and zj_as_completed, with futures settled by a test
//  thread instead of a broker.
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "future.h"
#include "wait.h"

//  Settle f as done with the bytes of `value` (a msgpack object).
static void s_done (zj_future_t *f, const void *value, size_t len)
{
    zj__lock ();
    bool settled = zj__future_settle_value (f, value, len);
    zj__unlock ();
    if (settled)
        zj__future_release (f);
}

static void s_failed (zj_future_t *f, const char *type, const char *message, const char *tb)
{
    zj_outcome_t out = {
        .state = ZJ_STATE_FAILED,
        .err_type = {type, strlen (type)},
        .err_message = {message, strlen (message)},
        .err_traceback = {tb, strlen (tb)},
    };
    zj__lock ();
    bool settled = zj__future_settle_outcome (f, &out);
    zj__unlock ();
    if (settled)
        zj__future_release (f);
}

static void s_sleep_ms (int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    nanosleep (&ts, NULL);
}

//  A thread that settles futures one after the other, `gap_ms` apart.
typedef struct {
    zj_future_t **futures;      //  settled in this order
    size_t count;
    int gap_ms;
    bool fail_last;             //  the last one fails instead of succeeding
} settler_t;

static void *s_settler (void *arg)
{
    settler_t *s = arg;
    for (size_t i = 0; i < s->count; i++) {
        s_sleep_ms (s->gap_ms);
        if (s->fail_last && i + 1 == s->count)
            s_failed (s->futures[i], "ValueError", "bad", "");
        else {
            uint8_t v = (uint8_t) i;    //  positive fixint i
            s_done (s->futures[i], &v, 1);
        }
    }
    return NULL;
}

typedef struct {
    atomic_int calls;           //  times the callback ran
    pthread_t thread;           //  where it ran last
    zj_future_state_t seen;     //  the state it saw
} cb_probe_t;

static void s_probe_cb (zj_future_t *f, void *arg)
{
    cb_probe_t *p = arg;
    atomic_fetch_add (&p->calls, 1);
    p->thread = pthread_self ();
    p->seen = zj_future_state (f);
}

static void test_done_value (void)
{
    zj_future_t *f = zj__future_new (NULL);
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_PENDING);
    ASSERT_TRUE (!zj_future_done (f));
    ASSERT_TRUE (zj_future_ticket (f) == NULL);
    ASSERT_ERR (zj_future_result (f, 0, NULL, NULL), ZJ_ETIMEDOUT);
    ASSERT_ERR (zj_future_result (f, 0.02, NULL, NULL), ZJ_ETIMEDOUT);
    ASSERT_ERR (zj_future_code (f), ZJ_ETIMEDOUT);

    const uint8_t value[] = {0x92, 0x01, 0xa1, 'x'};   //  [1, "x"]
    s_done (f, value, sizeof value);
    ASSERT_TRUE (zj_future_done (f));
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_DONE);
    const uint8_t *got;
    size_t len;
    ASSERT_ERR (zj_future_result (f, -1, &got, &len), ZJ_OK);
    ASSERT_EQ (len, sizeof value);
    ASSERT_TRUE (memcmp (got, value, len) == 0);
    char *json;
    ASSERT_ERR (zj_future_result_json (f, 0, &json), ZJ_OK);
    ASSERT_STREQ (json, "[1,\"x\"]");
    free (json);
    zj_err_t err;
    ASSERT_TRUE (zj_future_exception (f, 0, &err) == NULL);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_ERR (zj_future_code (f), ZJ_OK);
    ASSERT_ERR (zj_future_cancel (f), ZJ_ETOOLATE);

    //  A final state never changes.
    zj__lock ();
    ASSERT_TRUE (!zj__future_settle_error (f, ZJ_EUNREACHABLE, NULL));
    zj__unlock ();
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_DONE);
    zj_future_destroy (&f);
    ASSERT_TRUE (f == NULL);
    zj_future_destroy (&f);     //  idempotent
}

static void test_failed_and_cancelled (void)
{
    zj_future_t *f = zj__future_new (NULL);
    s_failed (f, "ValueError", "x==2", "Traceback: line 3\n");
    zj_err_t err;
    const zj_error_t *e = zj_future_exception (f, 0, &err);
    ASSERT_ERR (err, ZJ_ETASK);
    ASSERT_TRUE (e != NULL);
    ASSERT_STREQ (zj_error_type (e), "ValueError");
    ASSERT_STREQ (zj_error_message (e), "x==2");
    ASSERT_STREQ (zj_error_traceback (e), "Traceback: line 3\n");
    ASSERT_EQ (zj_future_state (f), ZJ_FUTURE_FAILED);
    ASSERT_ERR (zj_future_result (f, 1, NULL, NULL), ZJ_ETASK);
    char *json = (char *) 1;
    ASSERT_ERR (zj_future_result_json (f, 0, &json), ZJ_ETASK);
    ASSERT_TRUE (json == NULL);
    zj_future_destroy (&f);

    //  Local failures carry an error too, typed by the code's name.
    f = zj__future_new (NULL);
    zj__future_complete (f, ZJ_EUNREACHABLE, "no answer from tcp://x:1 after 5 s");
    e = zj_future_exception (f, 0, &err);
    ASSERT_ERR (err, ZJ_EUNREACHABLE);
    ASSERT_STREQ (zj_error_type (e), "BrokerUnreachable");
    ASSERT_STREQ (zj_error_message (e), "no answer from tcp://x:1 after 5 s");
    ASSERT_STREQ (zj_error_traceback (e), "");
    zj_future_destroy (&f);

    f = zj__future_new (NULL);
    zj__future_complete (f, ZJ_ECANCELLED, NULL);
    ASSERT_TRUE (zj_future_cancelled (f));
    ASSERT_TRUE (zj_future_done (f));
    ASSERT_ERR (zj_future_cancel (f), ZJ_OK);   //  already cancelled: true, like Python
    ASSERT_TRUE (zj_future_exception (f, 0, &err) == NULL);
    ASSERT_ERR (err, ZJ_ECANCELLED);
    zj_future_destroy (&f);

    //  Outcomes that only answer lookups.
    f = zj__future_new (NULL);
    zj_outcome_t out = {.state = ZJ_STATE_EXPIRED};
    zj__lock ();
    ASSERT_TRUE (zj__future_settle_outcome (f, &out));
    zj__unlock ();
    zj__future_release (f);
    ASSERT_ERR (zj_future_code (f), ZJ_EEXPIRED);
    zj_future_destroy (&f);
}

static void test_callbacks_once (void)
{
    cb_probe_t a = {0}, b = {0}, late = {0};
    zj_future_t *f = zj__future_new (NULL);
    ASSERT_ERR (zj_future_add_done_callback (f, s_probe_cb, &a), ZJ_OK);
    ASSERT_ERR (zj_future_add_done_callback (f, s_probe_cb, &b), ZJ_OK);
    ASSERT_ERR (zj_future_add_done_callback (f, NULL, NULL), ZJ_EINVAL);
    ASSERT_EQ (atomic_load (&a.calls), 0);

    settler_t s = {&f, 1, 10, false};
    pthread_t t;
    pthread_create (&t, NULL, s_settler, &s);
    ASSERT_ERR (zj_future_result (f, -1, NULL, NULL), ZJ_OK);
    pthread_join (t, NULL);
    ASSERT_EQ (atomic_load (&a.calls), 1);
    ASSERT_EQ (atomic_load (&b.calls), 1);
    ASSERT_TRUE (pthread_equal (a.thread, t));  //  on the settling thread
    ASSERT_EQ (a.seen, ZJ_FUTURE_DONE);

    //  On a future that is already done: at once, on the caller's thread.
    ASSERT_ERR (zj_future_add_done_callback (f, s_probe_cb, &late), ZJ_OK);
    ASSERT_EQ (atomic_load (&late.calls), 1);
    ASSERT_TRUE (pthread_equal (late.thread, pthread_self ()));

    //  Settling again runs nothing again.
    zj__lock ();
    ASSERT_TRUE (!zj__future_settle_error (f, ZJ_ESHUTDOWN, NULL));
    zj__unlock ();
    ASSERT_EQ (atomic_load (&a.calls), 1);
    ASSERT_EQ (atomic_load (&late.calls), 1);
    zj_future_destroy (&f);
}

static void test_destroy_pending (void)
{
    //  The caller drops its reference first; the settler's keeps the
    //  future alive, and its callbacks still run exactly once.
    cb_probe_t p = {0};
    zj_future_t *f = zj__future_new (NULL);
    zj_future_add_done_callback (f, s_probe_cb, &p);
    zj_future_t *keep = f;
    zj_future_destroy (&f);
    zj__future_complete (keep, ZJ_ESHUTDOWN, NULL);
    ASSERT_EQ (atomic_load (&p.calls), 1);
    ASSERT_EQ (p.seen, ZJ_FUTURE_FAILED);
}

static void test_wait_ticket (void)
{
    zj_future_t *f = zj__future_new (NULL);
    zj_err_t err;
    ASSERT_TRUE (zj_future_wait_ticket (f, 0.01, &err) == NULL);
    ASSERT_ERR (err, ZJ_ETIMEDOUT);
    zj__lock ();
    zj__future_set_ticket (f, "abc-123", 7);
    zj__unlock ();
    ASSERT_STREQ (zj_future_wait_ticket (f, -1, &err), "abc-123");
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_STREQ (zj_future_ticket (f), "abc-123");
    zj__future_complete (f, ZJ_ESHUTDOWN, NULL);
    zj_future_destroy (&f);

    //  A future refused before it got a ticket reports why.
    f = zj__future_new (NULL);
    zj__future_complete (f, ZJ_EQUEUEFULL, "queue full");
    ASSERT_TRUE (zj_future_wait_ticket (f, -1, &err) == NULL);
    ASSERT_ERR (err, ZJ_EQUEUEFULL);
    zj_future_destroy (&f);
}

static void test_wait_many (void)
{
    enum { N = 4 };
    zj_future_t *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = zj__future_new (NULL);
    bool done[N];

    //  Nothing final: every condition times out.
    ASSERT_EQ (zj_wait (fs, N, ZJ_FIRST_COMPLETED, 0, done), 0);
    ASSERT_EQ (zj_wait (fs, N, ZJ_ALL_COMPLETED, 0.02, done), 0);
    ASSERT_TRUE (!done[0] && !done[3]);

    //  FIRST_COMPLETED wakes on the first settle.
    zj_future_t *order1[] = {fs[2]};
    settler_t s1 = {order1, 1, 20, false};
    pthread_t t;
    pthread_create (&t, NULL, s_settler, &s1);
    ASSERT_EQ (zj_wait (fs, N, ZJ_FIRST_COMPLETED, 5, done), 1);
    ASSERT_TRUE (done[2] && !done[0] && !done[1] && !done[3]);
    pthread_join (t, NULL);

    //  FIRST_EXCEPTION ignores successes and returns on the failure.
    zj_future_t *order2[] = {fs[0], fs[3]};
    settler_t s2 = {order2, 2, 20, true};
    pthread_create (&t, NULL, s_settler, &s2);
    ASSERT_EQ (zj_wait (fs, N, ZJ_FIRST_EXCEPTION, 5, done), 3);
    ASSERT_TRUE (done[0] && done[2] && done[3] && !done[1]);
    ASSERT_EQ (zj_future_state (fs[3]), ZJ_FUTURE_FAILED);
    pthread_join (t, NULL);

    //  ALL_COMPLETED with a short timeout returns what is final.
    ASSERT_EQ (zj_wait (fs, N, ZJ_ALL_COMPLETED, 0.02, NULL), 3);
    zj_future_t *order3[] = {fs[1]};
    settler_t s3 = {order3, 1, 20, false};
    pthread_create (&t, NULL, s_settler, &s3);
    ASSERT_EQ (zj_wait (fs, N, ZJ_ALL_COMPLETED, -1, done), N);
    pthread_join (t, NULL);
    //  FIRST_EXCEPTION without any failure is ALL_COMPLETED; here there is one.
    ASSERT_EQ (zj_wait (fs, N, ZJ_FIRST_EXCEPTION, -1, NULL), N);
    ASSERT_EQ (zj_wait (NULL, 0, ZJ_ALL_COMPLETED, -1, NULL), 0);
    for (int i = 0; i < N; i++)
        zj_future_destroy (&fs[i]);
}

static void test_as_completed (void)
{
    enum { N = 5 };
    zj_future_t *fs[N];
    for (int i = 0; i < N; i++)
        fs[i] = zj__future_new (NULL);
    //  One is final before the iterator exists: it comes first.
    uint8_t v = 7;
    s_done (fs[4], &v, 1);
    zj_iter_t *it = zj_as_completed (fs, N);
    ASSERT_TRUE (it != NULL);
    zj_err_t err;
    ASSERT_TRUE (zj_iter_next (it, 0, &err) == fs[4]);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_TRUE (zj_iter_next (it, 0.01, &err) == NULL);
    ASSERT_ERR (err, ZJ_ETIMEDOUT);

    zj_future_t *order[] = {fs[2], fs[0], fs[3], fs[1]};
    settler_t s = {order, 4, 5, false};
    pthread_t t;
    pthread_create (&t, NULL, s_settler, &s);
    for (int i = 0; i < 4; i++) {
        zj_future_t *f = zj_iter_next (it, 5, &err);
        ASSERT_ERR (err, ZJ_OK);
        ASSERT_TRUE (f == order[i]);
        ASSERT_TRUE (zj_future_done (f));
    }
    pthread_join (t, NULL);
    ASSERT_TRUE (zj_iter_next (it, -1, &err) == NULL);
    ASSERT_ERR (err, ZJ_OK);
    zj_iter_destroy (&it);
    ASSERT_TRUE (it == NULL);

    //  Weighted (what zj_map counts items with).
    zj_future_t *gs[3];
    for (int i = 0; i < 3; i++)
        gs[i] = zj__future_new (NULL);
    it = zj__iter_new (gs, 3, 10, 4);
    ASSERT_EQ (zj__iter_weight_final (it), 0);
    s_done (gs[2], &v, 1);
    ASSERT_EQ (zj__iter_weight_final (it), 4);
    s_done (gs[0], &v, 1);
    ASSERT_EQ (zj__iter_weight_final (it), 14);
    //  Destroying the iterator with a future still pending unregisters it.
    zj_iter_destroy (&it);
    s_done (gs[1], &v, 1);
    for (int i = 0; i < 3; i++)
        zj_future_destroy (&gs[i]);
    for (int i = 0; i < N; i++)
        zj_future_destroy (&fs[i]);
}

//  Many threads settle many futures while one thread consumes them with
//  as_completed: every future comes out exactly once.
typedef struct {
    zj_future_t **futures;
    size_t from;
    size_t to;
} range_t;

static void *s_settle_range (void *arg)
{
    range_t *r = arg;
    for (size_t i = r->from; i < r->to; i++) {
        uint8_t v = 1;
        s_done (r->futures[i], &v, 1);
    }
    return NULL;
}

static void test_stress (void)
{
    enum { N = 20000, T = 4 };
    zj_future_t **fs = calloc (N, sizeof *fs);
    for (int i = 0; i < N; i++)
        fs[i] = zj__future_new (NULL);
    zj_iter_t *it = zj_as_completed (fs, N);
    pthread_t ts[T];
    range_t rs[T];
    for (int k = 0; k < T; k++) {
        rs[k] = (range_t) {fs, (size_t) k * N / T, (size_t) (k + 1) * N / T};
        pthread_create (&ts[k], NULL, s_settle_range, &rs[k]);
    }
    char *seen = calloc (N, 1);
    size_t count = 0, i;
    zj_err_t err;
    while ((i = zj__iter_next_index (it, 10, &err)) != SIZE_MAX) {
        count++;
        ASSERT_EQ (seen[i], 0);
        ASSERT_TRUE (zj_future_done (fs[i]));
        seen[i] = 1;
    }
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_EQ (count, N);
    for (int k = 0; k < T; k++)
        pthread_join (ts[k], NULL);
    zj_iter_destroy (&it);
    for (i = 0; i < N; i++)
        zj_future_destroy (&fs[i]);
    free (fs);
    free (seen);
}

int main (void)
{
    ZT_RUN (test_done_value);
    ZT_RUN (test_failed_and_cancelled);
    ZT_RUN (test_callbacks_once);
    ZT_RUN (test_destroy_pending);
    ZT_RUN (test_wait_ticket);
    ZT_RUN (test_wait_many);
    ZT_RUN (test_as_completed);
    ZT_RUN (test_stress);
    return 0;
}
