// SPDX-License-Identifier: MIT
//  tasks_test - the ticket table: records, lookups (unknown vs expired),
//  final states, subscribers, retention with an injected clock, and the
//  store calls at each change.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "broker/store.h"
#include "broker/tasks.h"
#include "broker/ticket.h"

//  A store that counts what it is told.
typedef struct {
    store_t base;
    size_t put, states, outcomes, deletes;
} count_store_t;

static zj_err_t s_turn (store_t *s) { return ZJ_OK; }
static zj_err_t s_put (store_t *s, task_t *const *t, size_t n) { ((count_store_t *) s)->put += n; return ZJ_OK; }
static zj_err_t s_state (store_t *s, const task_t *t) { ((count_store_t *) s)->states++; return ZJ_OK; }
static zj_err_t s_outcome (store_t *s, const task_t *t) { ((count_store_t *) s)->outcomes++; return ZJ_OK; }
static zj_err_t s_delete (store_t *s, const task_t *t) { ((count_store_t *) s)->deletes++; return ZJ_OK; }
static void s_destroy (store_t *s) {}
static const store_ops_t s_ops = {
    .name = "count", .begin_turn = s_turn, .commit_turn = s_turn, .put_tasks = s_put,
    .set_state = s_state, .put_outcome = s_outcome, .delete_task = s_delete,
    .destroy = s_destroy,
};

static count_store_t s_mem = {.base.ops = &s_ops};

static const uint8_t ARGS[] = {0x92, 0x01, 0xa1, 'x'};      //  [1, "x"]

static zj_task_t
s_spec (void)
{
    zj_task_t spec = {
        .fn = {"echo", 4},
        .args = {ARGS, sizeof ARGS},
        .priority = 3,
        .timeout = 2.5,
        .max_retries = -1,
        .chunk = true,
    };
    return spec;
}

static void
test_add_lookup (void)
{
    count_store_t store = {.base.ops = &s_ops};
    tasks_t *tasks = tasks_new (77, &store.base);
    ASSERT_TRUE (tasks);
    zj_task_t spec = s_spec ();
    task_t *t = tasks_add (tasks, NULL, &spec, 3, 10.0);
    ASSERT_TRUE (t);
    ASSERT_EQ (t->gen, 77);
    ASSERT_EQ (t->seq, 1);
    ASSERT_EQ (t->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (t->len, sizeof ARGS);
    ASSERT_TRUE (memcmp (t->blob, ARGS, sizeof ARGS) == 0);
    ASSERT_EQ (t->priority, 3);
    ASSERT_TRUE (t->timeout == 2.5);
    ASSERT_EQ (t->flags & TASK_CHUNK, TASK_CHUNK);
    ASSERT_EQ (t->max_retries, 3);
    //  The record stays small: the brief targets under 200 bytes + args.
    ASSERT_TRUE (sizeof (task_t) <= 128);
    ASSERT_EQ (tasks_persist (tasks, &t, 1), ZJ_OK);
    ASSERT_EQ (store.put, 1);

    char ticket[TICKET_MAX + 1];
    size_t len = tasks_ticket (t, ticket);
    task_t *found;
    ASSERT_EQ (tasks_lookup (tasks, ticket, len, &found), ZJ_STATE_QUEUED);
    ASSERT_TRUE (found == t);
    //  Same generation, never issued: unknown.
    ticket_format (77, 2, ticket);
    ASSERT_EQ (tasks_lookup (tasks, ticket, strlen (ticket), &found), ZJ_STATE_UNKNOWN);
    ASSERT_TRUE (found == NULL);
    //  Another generation: unknown.
    ticket_format (78, 1, ticket);
    ASSERT_EQ (tasks_lookup (tasks, ticket, strlen (ticket), &found), ZJ_STATE_UNKNOWN);
    //  Not a ticket at all: unknown.
    ASSERT_EQ (tasks_lookup (tasks, "hello", 5, &found), ZJ_STATE_UNKNOWN);
    ASSERT_EQ (tasks_size (tasks), 1);
    tasks_destroy (&tasks);
    ASSERT_TRUE (tasks == NULL);
    tasks_destroy (&tasks);
}

static void
test_finish_and_expire (void)
{
    count_store_t store = {.base.ops = &s_ops};
    tasks_t *tasks = tasks_new (5, &store.base);
    zj_task_t spec = s_spec ();
    task_t *a = tasks_add (tasks, NULL, &spec, 3, 1.0);
    task_t *b = tasks_add (tasks, NULL, &spec, 3, 1.0);
    task_t *c = tasks_add (tasks, NULL, &spec, 3, 1.0);
    //  A large result forces the record to move.
    size_t big = 100000;
    uint8_t *payload = malloc (big);
    payload[0] = 0xc6;          //  bin32 header, then bytes
    payload[1] = 0;
    payload[2] = (uint8_t) ((big - 5) >> 16);
    payload[3] = (uint8_t) ((big - 5) >> 8);
    payload[4] = (uint8_t) (big - 5);
    memset (payload + 5, 0xab, big - 5);
    a = tasks_finish (tasks, a, ZJ_STATE_DONE, payload, big, 10.0);
    static const uint8_t nil = 0xc0;
    c = tasks_finish (tasks, c, ZJ_STATE_CANCELLED, &nil, 1, 12.0);
    ASSERT_EQ (store.outcomes, 2);
    ASSERT_EQ (tasks_count (tasks, ZJ_STATE_DONE), 1);
    ASSERT_EQ (tasks_count (tasks, ZJ_STATE_CANCELLED), 1);
    ASSERT_EQ (tasks_counters (tasks)->completed, 1);
    ASSERT_EQ (tasks_counters (tasks)->cancelled, 1);

    char ticket[TICKET_MAX + 1];
    size_t len = tasks_ticket (a, ticket);
    task_t *found;
    ASSERT_EQ (tasks_lookup (tasks, ticket, len, &found), ZJ_STATE_DONE);
    ASSERT_TRUE (found == a);
    size_t plen;
    const uint8_t *p = tasks_payload (a, &plen);
    ASSERT_EQ (plen, big);
    ASSERT_TRUE (memcmp (p, payload, big) == 0);
    free (payload);

    //  Retention 5 s: a (finished at 10) goes at 15, c (12) at 17, b stays.
    bool more = true;
    ASSERT_EQ (tasks_expire (tasks, 14.9, 5.0, 100, NULL, NULL, &more), 0);
    ASSERT_TRUE (!more);
    ASSERT_EQ (tasks_expire (tasks, 15.0, 5.0, 100, NULL, NULL, &more), 1);
    ASSERT_EQ (store.deletes, 1);
    ASSERT_EQ (tasks_lookup (tasks, ticket, len, &found), ZJ_STATE_EXPIRED);
    ASSERT_TRUE (found == NULL);
    ASSERT_EQ (tasks_counters (tasks)->expired, 1);
    ASSERT_EQ (tasks_count (tasks, ZJ_STATE_DONE), 0);
    ASSERT_EQ (tasks_expire (tasks, 100.0, 5.0, 100, NULL, NULL, &more), 1);
    //  The unfinished task never expires.
    len = tasks_ticket (b, ticket);
    ASSERT_EQ (tasks_lookup (tasks, ticket, len, &found), ZJ_STATE_QUEUED);
    ASSERT_EQ (tasks_size (tasks), 1);
    tasks_destroy (&tasks);
}

static size_t s_seen;
static void s_count_cb (void *arg, task_t *task) { s_seen++; }

static void
test_expire_batches (void)
{
    count_store_t store = {.base.ops = &s_ops};
    tasks_t *tasks = tasks_new (5, &store.base);
    zj_task_t spec = s_spec ();
    static const uint8_t nil = 0xc0;
    for (int i = 0; i < 25; i++) {
        task_t *t = tasks_add (tasks, NULL, &spec, 3, 0.0);
        tasks_finish (tasks, t, ZJ_STATE_DONE, &nil, 1, (double) i);
    }
    bool more = false;
    s_seen = 0;
    //  At 30 with retention 10, tasks finished at 0..20 are due: 21 of them.
    ASSERT_EQ (tasks_expire (tasks, 30.0, 10.0, 10, s_count_cb, NULL, &more), 10);
    ASSERT_TRUE (more);
    ASSERT_EQ (tasks_expire (tasks, 30.0, 10.0, 10, s_count_cb, NULL, &more), 10);
    ASSERT_TRUE (more);
    ASSERT_EQ (tasks_expire (tasks, 30.0, 10.0, 10, s_count_cb, NULL, &more), 1);
    ASSERT_TRUE (!more);
    ASSERT_EQ (s_seen, 21);
    ASSERT_EQ (tasks_size (tasks), 4);
    tasks_destroy (&tasks);
}

static void
test_subscribers (void)
{
    tasks_t *tasks = tasks_new (5, &s_mem.base);
    zj_task_t spec = s_spec ();
    task_t *t = tasks_add (tasks, NULL, &spec, 3, 0.0);
    struct client *c1 = (struct client *) (uintptr_t) 0x1000;
    struct client *c2 = (struct client *) (uintptr_t) 0x2000;
    struct client *c3 = (struct client *) (uintptr_t) 0x3000;
    ASSERT_EQ (tasks_sub_count (t), 0);
    ASSERT_EQ (tasks_subscribe (t, c1), 1);
    ASSERT_EQ (tasks_subscribe (t, c1), 0);
    ASSERT_EQ (tasks_subscribe (t, c2), 1);
    ASSERT_EQ (tasks_subscribe (t, c3), 1);
    ASSERT_EQ (tasks_subscribe (t, c2), 0);
    ASSERT_EQ (tasks_sub_count (t), 3);
    ASSERT_TRUE (tasks_sub_at (t, 0) == c1);
    ASSERT_TRUE (tasks_sub_at (t, 1) == c2);
    ASSERT_TRUE (tasks_sub_at (t, 2) == c3);
    ASSERT_TRUE (tasks_sub_at (t, 3) == NULL);
    tasks_sub_clear (t);
    ASSERT_EQ (tasks_sub_count (t), 0);
    ASSERT_EQ (tasks_subscribe (t, c3), 1);
    //  destroy frees the subscriber array too (valgrind/ASan would tell).
    ASSERT_EQ (tasks_subscribe (t, c2), 1);
    tasks_destroy (&tasks);
}

static void
test_drop_gives_seq_back (void)
{
    tasks_t *tasks = tasks_new (5, &s_mem.base);
    zj_task_t spec = s_spec ();
    task_t *a = tasks_add (tasks, NULL, &spec, 3, 0.0);
    task_t *b = tasks_add (tasks, NULL, &spec, 3, 0.0);
    ASSERT_EQ (b->seq, 2);
    tasks_drop (tasks, &b);
    ASSERT_TRUE (b == NULL);
    char ticket[TICKET_MAX + 1];
    ticket_format (5, 2, ticket);
    task_t *found;
    //  A refused batch leaves no "expired" ticket behind.
    ASSERT_EQ (tasks_lookup (tasks, ticket, strlen (ticket), &found), ZJ_STATE_UNKNOWN);
    b = tasks_add (tasks, NULL, &spec, 3, 0.0);
    ASSERT_EQ (b->seq, 2);
    ASSERT_EQ (tasks_counters (tasks)->submitted, 2);
    ASSERT_TRUE (a != b);
    tasks_destroy (&tasks);
}

static void
test_many (void)
{
    //  Grow the index well past its first size, finish every other task,
    //  expire those, and find the rest.
    tasks_t *tasks = tasks_new (9, &s_mem.base);
    zj_task_t spec = s_spec ();
    enum { N = 50000 };
    static const uint8_t nil = 0xc0;
    for (int i = 0; i < N; i++) {
        task_t *t = tasks_add (tasks, NULL, &spec, 3, 0.0);
        ASSERT_TRUE (t);
        if (i % 2)
            tasks_finish (tasks, t, ZJ_STATE_DONE, &nil, 1, 1.0);
    }
    ASSERT_EQ (tasks_size (tasks), N);
    ASSERT_EQ (tasks_expire (tasks, 2.0, 0.5, N, NULL, NULL, NULL), N / 2);
    for (uint64_t seq = 1; seq <= N; seq++) {
        task_t *t = tasks_find (tasks, 9, seq);
        if (seq % 2)
            ASSERT_TRUE (t && t->seq == seq && t->state == ZJ_STATE_QUEUED);
        else
            ASSERT_TRUE (t == NULL);
    }
    ASSERT_TRUE (tasks_bytes (tasks) >= (N / 2) * (sizeof (task_t) + sizeof ARGS));
    tasks_destroy (&tasks);
}

static void
test_restore (void)
{
    tasks_t *tasks = tasks_new (9, &s_mem.base);
    static const uint8_t nil = 0xc0;
    task_t *old = tasks_restore (tasks, 3, 40, NULL, ZJ_STATE_DONE, &nil, 1, 0.0);
    ASSERT_TRUE (old);
    ASSERT_TRUE (tasks_restore (tasks, 3, 40, NULL, ZJ_STATE_DONE, &nil, 1, 0.0) == NULL);
    task_t *mine = tasks_restore (tasks, 9, 7, NULL, ZJ_STATE_QUEUED, ARGS, sizeof ARGS, 0.0);
    ASSERT_TRUE (mine);
    //  New tickets continue after restored ones of the same generation.
    zj_task_t spec = s_spec ();
    task_t *t = tasks_add (tasks, NULL, &spec, 3, 0.0);
    ASSERT_EQ (t->seq, 8);
    ASSERT_EQ (tasks_count (tasks, ZJ_STATE_DONE), 1);
    char ticket[TICKET_MAX + 1];
    ticket_format (3, 40, ticket);
    task_t *found;
    ASSERT_EQ (tasks_lookup (tasks, ticket, strlen (ticket), &found), ZJ_STATE_DONE);
    ASSERT_TRUE (found == old);
    tasks_destroy (&tasks);
}

static void
test_earlier_generations (void)
{
    //  After a restart, a deleted ticket of an earlier generation is
    //  expired up to that generation's highest sequence number, unknown
    //  past it, and a generation never heard of stays unknown.
    tasks_t *tasks = tasks_new (9, &s_mem.base);
    ASSERT_TRUE (tasks_add_generation (tasks, 500, 20));
    ASSERT_TRUE (tasks_add_generation (tasks, 4, 3));
    ASSERT_TRUE (tasks_add_generation (tasks, 77, 1));
    char ticket[TICKET_MAX + 1];
    task_t *found;
    struct { uint64_t gen, seq; zj_state_t want; } cases[] = {
        {500, 1, ZJ_STATE_EXPIRED}, {500, 20, ZJ_STATE_EXPIRED}, {500, 21, ZJ_STATE_UNKNOWN},
        {4, 3, ZJ_STATE_EXPIRED}, {4, 4, ZJ_STATE_UNKNOWN}, {77, 1, ZJ_STATE_EXPIRED},
        {78, 1, ZJ_STATE_UNKNOWN}, {500, 0, ZJ_STATE_UNKNOWN},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ticket_format (cases[i].gen, cases[i].seq, ticket);
        ASSERT_EQ (tasks_lookup (tasks, ticket, strlen (ticket), &found), cases[i].want);
    }
    //  A restored record wins over "expired".
    static const uint8_t nil = 0xc0;
    ASSERT_TRUE (tasks_restore (tasks, 500, 5, NULL, ZJ_STATE_DONE, &nil, 1, 0.0));
    ticket_format (500, 5, ticket);
    ASSERT_EQ (tasks_lookup (tasks, ticket, strlen (ticket), &found), ZJ_STATE_DONE);
    tasks_destroy (&tasks);
}

static void
test_restore_retention_order (void)
{
    //  Records come back in submit order; retention must go by finish
    //  time, or a late finisher would hold back every later expiry.
    tasks_t *tasks = tasks_new (9, &s_mem.base);
    static const uint8_t nil = 0xc0;
    double finished[] = {50, 10, 40, 20, 30};
    for (int i = 0; i < 5; i++)
        ASSERT_TRUE (tasks_restore (tasks, 3, (uint64_t) i + 1, NULL, ZJ_STATE_DONE, &nil, 1,
                                    finished[i]));
    tasks_restore_done (tasks);
    bool more;
    //  At 35 with retention 10, those finished at 10 and 20 are due.
    ASSERT_EQ (tasks_expire (tasks, 35, 10, 100, NULL, NULL, &more), 2);
    ASSERT_TRUE (tasks_find (tasks, 3, 2) == NULL && tasks_find (tasks, 3, 4) == NULL);
    ASSERT_TRUE (tasks_find (tasks, 3, 1) && tasks_find (tasks, 3, 3) && tasks_find (tasks, 3, 5));
    ASSERT_EQ (tasks_expire (tasks, 60, 10, 100, NULL, NULL, &more), 3);
    ASSERT_EQ (tasks_size (tasks), 0);
    tasks_destroy (&tasks);
}

static void
test_drop_final (void)
{
    //  A refused batch may hold a task cancelled in the same turn: drop
    //  takes it off the retention list and undoes its counts.
    tasks_t *tasks = tasks_new (5, &s_mem.base);
    zj_task_t spec = s_spec ();
    static const uint8_t nil = 0xc0;
    task_t *a = tasks_add (tasks, NULL, &spec, 3, 0.0);
    task_t *b = tasks_add (tasks, NULL, &spec, 3, 0.0);
    b = tasks_finish (tasks, b, ZJ_STATE_CANCELLED, &nil, 1, 1.0);
    ASSERT_EQ (tasks_count (tasks, ZJ_STATE_CANCELLED), 1);
    tasks_drop (tasks, &b);
    tasks_drop (tasks, &a);
    ASSERT_EQ (tasks_size (tasks), 0);
    ASSERT_EQ (tasks_count (tasks, ZJ_STATE_CANCELLED), 0);
    ASSERT_EQ (tasks_counters (tasks)->cancelled, 0);
    ASSERT_EQ (tasks_counters (tasks)->submitted, 0);
    bool more;
    ASSERT_EQ (tasks_expire (tasks, 100, 1, 100, NULL, NULL, &more), 0);
    a = tasks_add (tasks, NULL, &spec, 3, 0.0);
    ASSERT_EQ (a->seq, 1);
    tasks_destroy (&tasks);
}

int
main (void)
{
    ZT_RUN (test_add_lookup);
    ZT_RUN (test_finish_and_expire);
    ZT_RUN (test_expire_batches);
    ZT_RUN (test_subscribers);
    ZT_RUN (test_drop_gives_seq_back);
    ZT_RUN (test_many);
    ZT_RUN (test_restore);
    ZT_RUN (test_earlier_generations);
    ZT_RUN (test_restore_retention_order);
    ZT_RUN (test_drop_final);
    return 0;
}
