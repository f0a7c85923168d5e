// SPDX-License-Identifier: MIT
//  gearman_worker - the libgearman side of bench/compare: one worker
//  process serving a no-op function, as zjob-worker serves `noop`.
//  Built by bench/compare with cc -lgearman (libgearman is not a zjob
//  dependency), never by meson.
#include <libgearman/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
s_noop (gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret_ptr)
{
    *result_size = 0;
    *ret_ptr = GEARMAN_SUCCESS;
    return NULL;
}

int
main (int argc, char *argv[])
{
    if (argc != 4) {
        fprintf (stderr, "Usage: gearman_worker HOST PORT FUNCTION\n"
                 "Serve FUNCTION as a no-op from the gearmand at HOST:PORT until killed.\n");
        return 2;
    }
    gearman_worker_st *worker = gearman_worker_create (NULL);
    if (!worker) {
        fprintf (stderr, "gearman_worker: out of memory\n");
        return 1;
    }
    gearman_return_t rc = gearman_worker_add_server (worker, argv[1], (in_port_t) atoi (argv[2]));
    if (rc == GEARMAN_SUCCESS)
        rc = gearman_worker_add_function (worker, argv[3], 0, s_noop, NULL);
    while (rc == GEARMAN_SUCCESS)
        rc = gearman_worker_work (worker);
    fprintf (stderr, "gearman_worker: %s\n", gearman_worker_error (worker));
    gearman_worker_free (worker);
    return 1;
}
