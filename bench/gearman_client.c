// SPDX-License-Identifier: MIT
//  gearman_client - the libgearman side of bench/compare: pipelined no-op
//  jobs (results back, as zjob's windowed tasks), one-at-a-time round
//  trips, or filling a queue with background jobs. Prints one JSON
//  object. Built by bench/compare with cc -lgearman, never by meson.
#include <libgearman/gearman.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static double
s_pct (const double *sorted, size_t n, double p)
{
    double rank = ceil (p / 100.0 * (double) n);
    size_t i = rank < 1 ? 0 : (size_t) rank - 1;
    return n ? sorted[i < n ? i : n - 1] : 0;
}

//  Rounds of `batch` foreground jobs added then run together, for `secs`.
static int
s_tput (gearman_client_st *client, const char *fn, size_t batch, double secs)
{
    size_t done = 0;
    double t0 = s_now (), end = t0 + secs;
    while (s_now () < end) {
        for (size_t i = 0; i < batch; i++) {
            gearman_return_t rc;
            gearman_client_add_task (client, NULL, NULL, fn, NULL, "x", 1, &rc);
            if (rc != GEARMAN_SUCCESS) {
                fprintf (stderr, "gearman_client: add_task: %s\n", gearman_client_error (client));
                return 1;
            }
        }
        if (gearman_client_run_tasks (client) != GEARMAN_SUCCESS) {
            fprintf (stderr, "gearman_client: run_tasks: %s\n", gearman_client_error (client));
            return 1;
        }
        gearman_client_task_free_all (client);
        done += batch;
    }
    double secs_used = s_now () - t0;
    printf ("{\"jobs\": %zu, \"secs\": %.6f, \"rate\": %.1f}\n", done, secs_used,
            (double) done / secs_used);
    return 0;
}

//  One gearman_client_do at a time.
static int
s_latency (gearman_client_st *client, const char *fn, size_t samples, double max_secs)
{
    double *us = malloc (samples * sizeof *us);
    size_t n = 0;
    double end = s_now () + max_secs;
    while (us && n < samples && s_now () < end) {
        double t0 = s_now ();
        size_t size = 0;
        gearman_return_t rc;
        void *result = gearman_client_do (client, fn, NULL, "x", 1, &size, &rc);
        free (result);
        if (rc != GEARMAN_SUCCESS) {
            fprintf (stderr, "gearman_client: do: %s\n", gearman_client_error (client));
            free (us);
            return 1;
        }
        us[n++] = (s_now () - t0) * 1e6;
    }
    qsort (us, n, sizeof *us, s_cmp);
    printf ("{\"samples\": %zu, \"p50_us\": %.1f, \"p99_us\": %.1f, \"p999_us\": %.1f}\n", n,
            s_pct (us, n, 50), s_pct (us, n, 99), s_pct (us, n, 99.9));
    free (us);
    return 0;
}

//  `count` background jobs of `bytes` workload each for a function no
//  worker serves: they stay queued in gearmand.
static int
s_fill (gearman_client_st *client, const char *fn, size_t count, size_t bytes)
{
    char *payload = malloc (bytes + 1);
    memset (payload, 'x', bytes);
    size_t done = 0;
    double t0 = s_now ();
    while (done < count) {
        size_t n = count - done < 1000 ? count - done : 1000;
        for (size_t i = 0; i < n; i++) {
            gearman_return_t rc;
            gearman_client_add_task_background (client, NULL, NULL, fn, NULL, payload, bytes, &rc);
            if (rc != GEARMAN_SUCCESS) {
                fprintf (stderr, "gearman_client: add_task_background: %s\n",
                         gearman_client_error (client));
                return 1;
            }
        }
        if (gearman_client_run_tasks (client) != GEARMAN_SUCCESS) {
            fprintf (stderr, "gearman_client: run_tasks: %s\n", gearman_client_error (client));
            return 1;
        }
        gearman_client_task_free_all (client);
        done += n;
    }
    double secs = s_now () - t0;
    printf ("{\"jobs\": %zu, \"secs\": %.6f, \"rate\": %.1f}\n", done, secs, (double) done / secs);
    free (payload);
    return 0;
}

int
main (int argc, char *argv[])
{
    if (argc != 7) {
        fprintf (stderr,
                 "Usage: gearman_client HOST PORT FUNCTION MODE N SECS\n"
                 "  MODE tput: rounds of N pipelined jobs for SECS seconds\n"
                 "  MODE lat:  N jobs one at a time (at most SECS seconds)\n"
                 "  MODE fill: N background jobs of SECS bytes each, left queued\n"
                 "Prints one JSON object. Exit status: 0 ok, 1 failure, 2 usage.\n");
        return 2;
    }
    gearman_client_st *client = gearman_client_create (NULL);
    if (!client
        || gearman_client_add_server (client, argv[1], (in_port_t) atoi (argv[2]))
               != GEARMAN_SUCCESS) {
        fprintf (stderr, "gearman_client: cannot set up a client for %s:%s\n", argv[1], argv[2]);
        return 1;
    }
    size_t n = strtoul (argv[5], NULL, 10);
    double secs = atof (argv[6]);
    int rc = 2;
    if (strcmp (argv[4], "tput") == 0)
        rc = s_tput (client, argv[3], n, secs);
    else if (strcmp (argv[4], "lat") == 0)
        rc = s_latency (client, argv[3], n, secs);
    else if (strcmp (argv[4], "fill") == 0)
        rc = s_fill (client, argv[3], n, (size_t) secs);
    else
        fprintf (stderr, "gearman_client: unknown mode %s\n", argv[4]);
    gearman_client_free (client);
    return rc;
}
