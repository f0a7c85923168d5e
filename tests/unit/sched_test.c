// SPDX-License-Identifier: MIT
//  sched_test - priorities and FIFO, credit never exceeded, dispatch only
//  to workers that registered the function, round robin, worker loss and
//  requeue order, cancel, function record lifetime.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "broker/sched.h"

static task_t *
s_task (sched_fn_t *fn, uint64_t seq, int64_t prio)
{
    task_t *t = calloc (1, sizeof *t);
    t->fn = fn;
    t->seq = seq;
    t->priority = prio;
    sched_fn_ref (fn);
    return t;
}

static void
s_free (sched_t *sched, task_t *t)
{
    sched_fn_unref (sched, t->fn);
    free (t);
}

//  Take the worker's unsent batch; returns how many and copies seqs.
static uint32_t
s_take (sched_t *sched, sched_worker_t *expect, uint64_t *seqs)
{
    sched_worker_t *w;
    uint32_t n;
    task_t *t = sched_batch_take (sched, &w, &n);
    if (!t)
        return 0;
    ASSERT_TRUE (w == expect);
    for (uint32_t i = 0; i < n; i++, t = t->next) {
        ASSERT_EQ (t->state, ZJ_STATE_RUNNING);
        ASSERT_TRUE (t->worker == w);
        ASSERT_TRUE (!(t->flags & TASK_UNSENT));
        if (seqs)
            seqs[i] = t->seq;
    }
    return n;
}

static void
test_priority_fifo (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fn = sched_fn_get (sched, "f", 1);
    int64_t prios[] = {0, 5, 0, 5, -1, 9, 0};
    task_t *t[7];
    for (int i = 0; i < 7; i++) {
        t[i] = s_task (fn, (uint64_t) i + 1, prios[i]);
        sched_enqueue (sched, t[i]);
    }
    ASSERT_EQ (sched_fn_depth (fn), 7);
    ASSERT_EQ (sched_fn_levels (fn), 4);
    ASSERT_EQ (sched_queued (sched), 7);
    //  No worker yet: nothing moves.
    ASSERT_EQ (sched_dispatch (sched), 0);
    sched_worker_t w;
    sched_worker_init (&w, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &w, 100, &fn, 1));
    ASSERT_TRUE (sched_dirty (sched));
    ASSERT_EQ (sched_dispatch (sched), 7);
    uint64_t seqs[7];
    ASSERT_EQ (s_take (sched, &w, seqs), 7);
    //  9, then 5s in submit order, then 0s in order, then -1.
    uint64_t want[] = {6, 2, 4, 1, 3, 7, 5};
    for (int i = 0; i < 7; i++)
        ASSERT_EQ (seqs[i], want[i]);
    ASSERT_EQ (sched_fn_depth (fn), 0);
    ASSERT_EQ (sched_fn_levels (fn), 0);
    ASSERT_EQ (sched_running (sched), 7);
    for (int i = 0; i < 7; i++) {
        sched_worker_release (sched, &w, t[i]);
        s_free (sched, t[i]);
    }
    ASSERT_EQ (sched_running (sched), 0);
    sched_worker_detach (sched, &w, NULL, NULL);
    sched_worker_fini (&w);
    //  The last reference gone, the function record goes too.
    ASSERT_TRUE (sched_fn_find (sched, "f", 1) == NULL);
    sched_destroy (&sched);
    ASSERT_TRUE (sched == NULL);
}

static void
test_credit (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fn = sched_fn_get (sched, "f", 1);
    task_t *t[10];
    for (int i = 0; i < 10; i++) {
        t[i] = s_task (fn, (uint64_t) i + 1, 0);
        sched_enqueue (sched, t[i]);
    }
    sched_worker_t w;
    sched_worker_init (&w, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &w, 2, &fn, 1));
    ASSERT_EQ (sched_dispatch (sched), 2);
    ASSERT_EQ (w.held, 2);
    //  Dispatching again without freed credit gives nothing.
    ASSERT_EQ (sched_dispatch (sched), 0);
    ASSERT_EQ (s_take (sched, &w, NULL), 2);
    ASSERT_EQ (s_take (sched, &w, NULL), 0);
    //  One answer frees one credit, and exactly one more task goes out.
    sched_worker_release (sched, &w, t[0]);
    ASSERT_EQ (sched_dispatch (sched), 1);
    ASSERT_EQ (w.held, 2);
    ASSERT_EQ (sched_fn_depth (fn), 7);
    //  Lowering the credit below what it holds sends nothing until it
    //  has answered enough.
    ASSERT_TRUE (sched_worker_set (sched, &w, 1, &fn, 1));
    ASSERT_EQ (sched_dispatch (sched), 0);
    sched_worker_release (sched, &w, t[1]);
    ASSERT_EQ (sched_dispatch (sched), 0);
    sched_worker_release (sched, &w, t[2]);
    ASSERT_EQ (sched_dispatch (sched), 1);
    ASSERT_EQ (w.held, 1);
    sched_worker_detach (sched, &w, NULL, NULL);
    ASSERT_EQ (sched_fn_depth (fn), 7);
    sched_worker_fini (&w);
    for (int i = 0; i < 10; i++) {
        if (t[i]->state == ZJ_STATE_QUEUED)
            sched_remove (sched, t[i]);
        s_free (sched, t[i]);
    }
    sched_destroy (&sched);
}

static void
test_registered_only (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *a = sched_fn_get (sched, "a", 1);
    sched_fn_t *b = sched_fn_get (sched, "b", 1);
    sched_fn_t *c = sched_fn_get (sched, "c", 1);
    sched_worker_t wa, wb;
    sched_worker_init (&wa, NULL);
    sched_worker_init (&wb, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &wa, 10, &a, 1));
    ASSERT_TRUE (sched_worker_set (sched, &wb, 10, &b, 1));
    task_t *ta = s_task (a, 1, 0), *tb = s_task (b, 2, 0), *tc = s_task (c, 3, 0);
    sched_enqueue (sched, ta);
    sched_enqueue (sched, tb);
    sched_enqueue (sched, tc);
    ASSERT_EQ (sched_dispatch (sched), 2);
    ASSERT_TRUE (ta->worker == &wa);
    ASSERT_TRUE (tb->worker == &wb);
    //  Nobody runs "c": it waits in its queue.
    ASSERT_EQ (tc->state, ZJ_STATE_QUEUED);
    ASSERT_EQ (sched_fn_depth (c), 1);
    ASSERT_EQ (sched_fn_workers (c), 0);
    //  Re-registering wa for "c" instead of "a" lets "c" run, on wa.
    ASSERT_TRUE (sched_worker_set (sched, &wa, 10, &c, 1));
    ASSERT_EQ (sched_fn_workers (a), 0);
    ASSERT_EQ (sched_dispatch (sched), 1);
    ASSERT_TRUE (tc->worker == &wa);
    //  The task of "a" it held stays with it.
    ASSERT_TRUE (ta->worker == &wa);
    ASSERT_EQ (wa.held, 2);
    sched_worker_release (sched, &wa, ta);
    sched_worker_release (sched, &wa, tc);
    sched_worker_release (sched, &wb, tb);
    s_free (sched, ta);
    s_free (sched, tb);
    s_free (sched, tc);
    sched_worker_detach (sched, &wa, NULL, NULL);
    sched_worker_detach (sched, &wb, NULL, NULL);
    sched_worker_fini (&wa);
    sched_worker_fini (&wb);
    ASSERT_TRUE (sched_fn_next (sched, &(size_t) {0}) == NULL);
    sched_destroy (&sched);
}

static void
test_round_robin (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fn = sched_fn_get (sched, "f", 1);
    sched_worker_t w[3];
    for (int i = 0; i < 3; i++) {
        sched_worker_init (&w[i], NULL);
        ASSERT_TRUE (sched_worker_set (sched, &w[i], 10, &fn, 1));
    }
    task_t *t[9];
    for (int i = 0; i < 9; i++) {
        t[i] = s_task (fn, (uint64_t) i + 1, 0);
        sched_enqueue (sched, t[i]);
    }
    //  Nine tasks over three idle workers: three each, not ten to one.
    ASSERT_EQ (sched_dispatch (sched), 9);
    for (int i = 0; i < 3; i++)
        ASSERT_EQ (w[i].held, 3);
    for (int i = 0; i < 9; i++)
        sched_worker_release (sched, t[i]->worker, t[i]);
    //  One task at a time: successive dispatches rotate the first worker.
    int hits[3] = {0, 0, 0};
    for (int i = 0; i < 9; i++) {
        sched_enqueue (sched, t[i]);
        ASSERT_EQ (sched_dispatch (sched), 1);
        for (int k = 0; k < 3; k++)
            if (t[i]->worker == &w[k])
                hits[k]++;
        sched_worker_release (sched, t[i]->worker, t[i]);
    }
    for (int k = 0; k < 3; k++)
        ASSERT_EQ (hits[k], 3);
    for (int i = 0; i < 9; i++)
        s_free (sched, t[i]);
    for (int i = 0; i < 3; i++) {
        sched_worker_detach (sched, &w[i], NULL, NULL);
        sched_worker_fini (&w[i]);
    }
    sched_destroy (&sched);
}

static int s_lost_calls;
static bool
s_lost (void *arg, task_t *task)
{
    s_lost_calls++;
    task->attempts++;
    //  Pretend max_retries = 1: the second loss fails the task.
    if (task->attempts > 1) {
        task->state = ZJ_STATE_FAILED;
        return false;
    }
    return true;
}

static void
test_worker_loss (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fn = sched_fn_get (sched, "f", 1);
    task_t *t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = s_task (fn, (uint64_t) i + 1, 0);
        sched_enqueue (sched, t[i]);
    }
    sched_worker_t w;
    sched_worker_init (&w, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &w, 3, &fn, 1));
    ASSERT_EQ (sched_dispatch (sched), 3);
    ASSERT_EQ (s_take (sched, &w, NULL), 3);           //  1, 2, 3 sent
    sched_worker_release (sched, &w, t[0]);             //  1 answered
    ASSERT_EQ (sched_dispatch (sched), 1);              //  4 assigned, not sent
    ASSERT_TRUE (t[3]->flags & TASK_UNSENT);
    s_lost_calls = 0;
    sched_worker_detach (sched, &w, s_lost, NULL);
    //  Only the tasks that reached the worker count as an attempt.
    ASSERT_EQ (s_lost_calls, 2);
    ASSERT_EQ (t[1]->attempts, 1);
    ASSERT_EQ (t[2]->attempts, 1);
    ASSERT_EQ (t[3]->attempts, 0);
    ASSERT_EQ (w.held, 0);
    ASSERT_EQ (w.nfns, 0);
    ASSERT_EQ (sched_fn_workers (fn), 0);
    //  Requeued in front, in their original order: 2 3 4, then 5 6.
    ASSERT_EQ (sched_fn_depth (fn), 5);
    sched_worker_t w2;
    sched_worker_init (&w2, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &w2, 10, &fn, 1));
    ASSERT_EQ (sched_dispatch (sched), 5);
    uint64_t seqs[5];
    ASSERT_EQ (s_take (sched, &w2, seqs), 5);
    uint64_t want[] = {2, 3, 4, 5, 6};
    for (int i = 0; i < 5; i++)
        ASSERT_EQ (seqs[i], want[i]);
    //  Lost again: 2 and 3 fail (second loss), 4, 5 and 6 come back.
    s_lost_calls = 0;
    sched_worker_detach (sched, &w2, s_lost, NULL);
    ASSERT_EQ (s_lost_calls, 5);
    ASSERT_EQ (t[1]->state, ZJ_STATE_FAILED);
    ASSERT_EQ (t[2]->state, ZJ_STATE_FAILED);
    ASSERT_EQ (sched_fn_depth (fn), 3);
    ASSERT_EQ (sched_running (sched), 0);
    for (int i = 3; i < 6; i++)
        sched_remove (sched, t[i]);
    for (int i = 0; i < 6; i++)
        s_free (sched, t[i]);
    sched_worker_fini (&w);
    sched_worker_fini (&w2);
    sched_destroy (&sched);
}

static void
test_unassign_and_return (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fn = sched_fn_get (sched, "f", 1);
    task_t *t[4];
    for (int i = 0; i < 4; i++) {
        t[i] = s_task (fn, (uint64_t) i + 1, 0);
        sched_enqueue (sched, t[i]);
    }
    sched_worker_t w;
    sched_worker_init (&w, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &w, 2, &fn, 1));
    ASSERT_EQ (sched_dispatch (sched), 2);
    sched_worker_t *got;
    uint32_t n;
    task_t *first = sched_batch_take (sched, &got, &n);
    ASSERT_EQ (n, 2);
    //  The send failed: both go back in front, in order, unchanged.
    sched_worker_unassign (sched, &w, first, n);
    ASSERT_EQ (w.held, 0);
    ASSERT_EQ (t[0]->attempts, 0);
    ASSERT_EQ (sched_fn_depth (fn), 4);
    sched_worker_pause (sched, &w, true);
    ASSERT_EQ (sched_dispatch (sched), 0);
    sched_worker_pause (sched, &w, false);
    ASSERT_EQ (sched_dispatch (sched), 2);
    ASSERT_TRUE (t[0]->worker == &w && t[1]->worker == &w);
    s_take (sched, &w, NULL);
    //  RETURN of task 1: released and requeued in front of 3.
    sched_worker_release (sched, &w, t[0]);
    sched_requeue (sched, t[0]);
    ASSERT_EQ (sched_dispatch (sched), 1);
    ASSERT_TRUE (t[0]->worker == &w);
    ASSERT_EQ (t[2]->state, ZJ_STATE_QUEUED);
    sched_worker_detach (sched, &w, NULL, NULL);
    sched_worker_fini (&w);
    for (int i = 0; i < 4; i++) {
        sched_remove (sched, t[i]);
        s_free (sched, t[i]);
    }
    ASSERT_EQ (sched_queued (sched), 0);
    sched_destroy (&sched);
}

static void
test_cancel (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fn = sched_fn_get (sched, "f", 1);
    task_t *t[5];
    int64_t prios[] = {1, 1, 2, 1, 2};
    for (int i = 0; i < 5; i++) {
        t[i] = s_task (fn, (uint64_t) i + 1, prios[i]);
        sched_enqueue (sched, t[i]);
    }
    //  Remove from the middle, the head and a whole level.
    sched_remove (sched, t[1]);
    sched_remove (sched, t[0]);
    sched_remove (sched, t[2]);
    sched_remove (sched, t[4]);
    ASSERT_EQ (sched_fn_levels (fn), 1);
    ASSERT_EQ (sched_fn_depth (fn), 1);
    sched_worker_t w;
    sched_worker_init (&w, NULL);
    ASSERT_TRUE (sched_worker_set (sched, &w, 10, &fn, 1));
    ASSERT_EQ (sched_dispatch (sched), 1);
    ASSERT_TRUE (t[3]->worker == &w);
    sched_worker_detach (sched, &w, NULL, NULL);
    sched_remove (sched, t[3]);
    sched_worker_fini (&w);
    for (int i = 0; i < 5; i++)
        s_free (sched, t[i]);
    sched_destroy (&sched);
}

static void
test_multi_function_worker (void)
{
    sched_t *sched = sched_new ();
    sched_fn_t *fns[2] = {sched_fn_get (sched, "a", 1), sched_fn_get (sched, "b", 1)};
    sched_worker_t w;
    sched_worker_init (&w, NULL);
    //  Listing a function twice registers it once.
    sched_fn_t *list[3] = {fns[0], fns[1], fns[0]};
    ASSERT_TRUE (sched_worker_set (sched, &w, 4, list, 3));
    ASSERT_EQ (w.nfns, 2);
    ASSERT_EQ (sched_fn_workers (fns[0]), 1);
    task_t *t[6];
    for (int i = 0; i < 6; i++) {
        t[i] = s_task (fns[i % 2], (uint64_t) i + 1, 0);
        sched_enqueue (sched, t[i]);
    }
    ASSERT_EQ (sched_dispatch (sched), 4);
    ASSERT_EQ (w.held, 4);
    sched_worker_detach (sched, &w, NULL, NULL);
    sched_worker_fini (&w);
    for (int i = 0; i < 6; i++) {
        sched_remove (sched, t[i]);
        s_free (sched, t[i]);
    }
    sched_destroy (&sched);
}

int
main (void)
{
    ZT_RUN (test_priority_fifo);
    ZT_RUN (test_credit);
    ZT_RUN (test_registered_only);
    ZT_RUN (test_round_robin);
    ZT_RUN (test_worker_loss);
    ZT_RUN (test_unassign_and_return);
    ZT_RUN (test_cancel);
    ZT_RUN (test_multi_function_worker);
    return 0;
}
