// SPDX-License-Identifier: MIT
//  zjrun - zjbench's measurements over libzjob; see zjrun.h. Only the
//  public API (client/zjob.h) is used, so the figures are what any
//  program linking libzjob gets.
#include "zjrun.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bproc.h"
#include "bstat.h"

//  An empty msgpack array: a no-op's argument list.
static const uint8_t s_no_args[] = {0x90};
//  How long one result may take before the run is declared stuck.
#define S_RESULT_TIMEOUT 30.0

typedef struct {
    double t0;
    double broker0;
    double worker0;
    double client0;
} s_meter_t;

static void
s_meter_begin (const zjrun_procs_t *procs, s_meter_t *m)
{
    m->broker0 = bproc_cpu (procs->broker);
    m->worker0 = procs->workers > 0 ? bproc_group_cpu (procs->workers) : 0;
    m->client0 = bproc_self_cpu ();
    m->t0 = bproc_now ();
}

static void
s_meter_end (const zjrun_procs_t *procs, const s_meter_t *m, zjrun_tput_t *out)
{
    out->secs = bproc_now () - m->t0;
    out->broker_cpu = bproc_cpu (procs->broker) - m->broker0;
    out->worker_cpu = procs->workers > 0 ? bproc_group_cpu (procs->workers) - m->worker0 : 0;
    out->client_cpu = bproc_self_cpu () - m->client0;
}

//  Wait for f's outcome and drop it. False when it did not come in time.
static bool
s_collect (zj_future_t **f_p, zjrun_tput_t *out)
{
    zj_err_t rc = zj_future_result (*f_p, S_RESULT_TIMEOUT, NULL, NULL);
    zj_future_destroy (f_p);
    if (rc == ZJ_ETIMEDOUT) {
        fprintf (stderr, "zjbench: a task took more than %g s; giving up this run\n",
                 S_RESULT_TIMEOUT);
        return false;
    }
    out->tasks++;
    if (rc != ZJ_OK) {
        if (out->failed++ == 0)
            fprintf (stderr, "zjbench: a task ended %s\n", zj_client_err_name (rc));
    }
    return true;
}

static zj_future_t *
s_submit_noop (zj_client_t *client)
{
    zj_err_t err = ZJ_OK;
    zj_future_t *f = zj_submit (client, "noop", s_no_args, sizeof s_no_args, NULL, &err);
    if (!f)
        fprintf (stderr, "zjbench: submit refused: %s\n", zj_client_err_name (err));
    return f;
}

bool
zjrun_batch (zj_client_t *client, const zjrun_procs_t *procs, size_t batch, size_t depth,
             double secs, zjrun_tput_t *out)
{
    memset (out, 0, sizeof *out);
    size_t cap = batch * depth;
    zj_future_t **ring = calloc (cap, sizeof *ring);
    if (!ring)
        return false;
    size_t head = 0, used = 0;
    bool ok = true;
    s_meter_t m;
    s_meter_begin (procs, &m);
    double end = m.t0 + secs;
    while (ok && bproc_now () < end) {
        if (used == cap)
            for (size_t i = 0; ok && i < batch; i++, used--, head = (head + 1) % cap)
                ok = s_collect (&ring[head], out);
        for (size_t i = 0; ok && i < batch; i++) {
            zj_future_t *f = s_submit_noop (client);
            if (!f)
                ok = false;
            else
                ring[(head + used++) % cap] = f;
        }
    }
    for (; used; used--, head = (head + 1) % cap)
        if (ok)
            ok = s_collect (&ring[head], out);
        else
            zj_future_destroy (&ring[head]);
    s_meter_end (procs, &m, out);
    free (ring);
    return ok;
}

bool
zjrun_window (zj_client_t *client, const zjrun_procs_t *procs, size_t window, double secs,
              zjrun_tput_t *out)
{
    //  A window is bursts of one: each result awaited lets one more in.
    return zjrun_batch (client, procs, 1, window, secs, out);
}

bool
zjrun_map (zj_client_t *client, const zjrun_procs_t *procs, size_t chunksize, size_t count,
           double secs, zjrun_tput_t *out)
{
    memset (out, 0, sizeof *out);
    if (count == 0)
        count = 1;
    const uint8_t **items = malloc (count * sizeof *items);
    size_t *lens = malloc (count * sizeof *lens);
    if (!items || !lens) {
        free (items);
        free (lens);
        return false;
    }
    for (size_t i = 0; i < count; i++) {
        items[i] = s_no_args;
        lens[i] = sizeof s_no_args;
    }
    bool ok = true;
    s_meter_t m;
    s_meter_begin (procs, &m);
    double end = m.t0 + secs;
    do {
        zj_err_t err = ZJ_OK;
        zj_map_t *map = zj_map_new (client, "noop", items, lens, count, chunksize, true,
                                    NULL, &err);
        if (!map) {
            fprintf (stderr, "zjbench: map refused: %s\n", zj_client_err_name (err));
            ok = false;
            break;
        }
        for (;;) {
            size_t index;
            const uint8_t *value;
            size_t len;
            const zj_error_t *error;
            zj_err_t rc = zj_map_next (map, S_RESULT_TIMEOUT, &index, &value, &len, &error);
            if (rc == ZJ_ESHUTDOWN)
                break;
            if (rc == ZJ_ETIMEDOUT) {
                fprintf (stderr, "zjbench: a map item took more than %g s\n", S_RESULT_TIMEOUT);
                ok = false;
                break;
            }
            out->tasks++;
            if (rc != ZJ_OK && out->failed++ == 0)
                fprintf (stderr, "zjbench: a map item ended %s\n", zj_client_err_name (rc));
        }
        zj_map_destroy (&map);
    } while (ok && bproc_now () < end);
    s_meter_end (procs, &m, out);
    free (items);
    free (lens);
    return ok;
}

bool
zjrun_latency (zj_client_t *client, size_t samples, double max_secs, zjrun_lat_t *out)
{
    memset (out, 0, sizeof *out);
    double *us = malloc ((samples ? samples : 1) * sizeof *us);
    if (!us)
        return false;
    bool ok = true;
    double end = bproc_now () + max_secs, sum = 0;
    size_t n = 0;
    while (n < samples) {
        double t0 = bproc_now ();
        if (t0 >= end)
            break;
        zj_future_t *f = s_submit_noop (client);
        if (!f) {
            ok = false;
            break;
        }
        zj_err_t rc = zj_future_result (f, S_RESULT_TIMEOUT, NULL, NULL);
        double dt = (bproc_now () - t0) * 1e6;
        zj_future_destroy (&f);
        if (rc != ZJ_OK) {
            fprintf (stderr, "zjbench: latency task ended %s\n", zj_client_err_name (rc));
            ok = false;
            break;
        }
        us[n++] = dt;
        sum += dt;
    }
    bstat_sort (us, n);
    out->n = n;
    out->p50 = bstat_pct (us, n, 50);
    out->p99 = bstat_pct (us, n, 99);
    out->p999 = bstat_pct (us, n, 99.9);
    out->mean = n ? sum / (double) n : 0;
    free (us);
    return ok && n > 0;
}

typedef struct {
    zj_client_t *client;        //  this thread's own client
    size_t window;              //  tasks in flight
    double secs;                //  run length
    zjrun_procs_t none;         //  no /proc reads inside threads
    zjrun_tput_t out;           //  what it measured
    bool ok;                    //  it finished without a stuck task
} s_thread_t;

static void *
s_client_main (void *arg)
{
    s_thread_t *t = arg;
    t->ok = zjrun_window (t->client, &t->none, t->window, t->secs, &t->out);
    return NULL;
}

bool
zjrun_clients (const char *endpoint, size_t nclients, const zjrun_procs_t *procs,
               size_t window, double secs, zjrun_tput_t *out)
{
    memset (out, 0, sizeof *out);
    s_thread_t *threads = calloc (nclients, sizeof *threads);
    pthread_t *ids = calloc (nclients, sizeof *ids);
    bool ok = threads && ids;
    size_t made = 0;
    for (; ok && made < nclients; made++) {
        zj_err_t err = ZJ_OK;
        threads[made].client = zj_client_new (endpoint, NULL, &err);
        threads[made].window = window;
        threads[made].secs = secs;
        if (!threads[made].client) {
            fprintf (stderr, "zjbench: client %zu: %s\n", made, zj_client_err_name (err));
            ok = false;
            break;
        }
    }
    size_t started = 0;
    s_meter_t m;
    if (ok) {
        s_meter_begin (procs, &m);
        for (; started < made; started++)
            if (pthread_create (&ids[started], NULL, s_client_main, &threads[started]) != 0) {
                ok = false;
                break;
            }
        for (size_t i = 0; i < started; i++) {
            pthread_join (ids[i], NULL);
            ok = ok && threads[i].ok;
            out->tasks += threads[i].out.tasks;
            out->failed += threads[i].out.failed;
        }
        s_meter_end (procs, &m, out);
    }
    for (size_t i = 0; i < made; i++)
        zj_client_destroy (&threads[i].client);
    free (threads);
    free (ids);
    return ok;
}

bool
zjrun_fill (zj_client_t *client, const char *fn, size_t count, size_t arg_bytes,
            const size_t *at, size_t nat, zjrun_fill_cb *cb, void *arg)
{
    //  [bin8 of arg_bytes - 3 bytes]: an argument list of exactly arg_bytes.
    if (arg_bytes < 3 || arg_bytes > 258)
        return false;
    uint8_t args[258];
    args[0] = 0x91;
    args[1] = 0xc4;
    args[2] = (uint8_t) (arg_bytes - 3);
    memset (args + 3, 'x', arg_bytes - 3);
    enum { CHUNK = 10000 };
    zj_future_t **fs = malloc (CHUNK * sizeof *fs);
    if (!fs)
        return false;
    bool ok = true;
    size_t queued = 0, next_at = 0;
    while (ok && queued < count) {
        size_t n = count - queued < CHUNK ? count - queued : CHUNK;
        if (next_at < nat && at[next_at] > queued && at[next_at] - queued < n)
            n = at[next_at] - queued;
        size_t made = 0;
        for (; made < n; made++) {
            zj_err_t err = ZJ_OK;
            fs[made] = zj_submit (client, fn, args, arg_bytes, NULL, &err);
            if (!fs[made]) {
                fprintf (stderr, "zjbench: submit refused: %s\n", zj_client_err_name (err));
                ok = false;
                break;
            }
        }
        for (size_t i = 0; i < made; i++) {
            zj_err_t err = ZJ_OK;
            if (ok && !zj_future_wait_ticket (fs[i], S_RESULT_TIMEOUT, &err)) {
                fprintf (stderr, "zjbench: no ticket after %zu queued: %s\n", queued + i,
                         zj_client_err_name (err));
                ok = false;
            }
            //  Dropping the future keeps the task: the broker still holds it.
            zj_future_destroy (&fs[i]);
        }
        queued += made;
        while (ok && next_at < nat && at[next_at] <= queued)
            if (at[next_at++] == queued && cb)
                cb (queued, arg);
    }
    free (fs);
    return ok;
}
