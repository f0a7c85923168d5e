// SPDX-License-Identifier: MIT
//  zjrun - the measurements of zjbench, each driving a running broker
//  through libzjob: windowed and batched no-op tasks, chunked map,
//  one-at-a-time latency, and filling a queue. Processes are started by
//  the caller (bench/zjbench.c); these calls only read their CPU time.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "zjob.h"

//  Whose CPU a measurement reads from /proc.
typedef struct {
    pid_t broker;               //  zjobd
    pid_t workers;              //  the workers' process group, or 0
} zjrun_procs_t;

//  A throughput measurement.
typedef struct {
    double secs;                //  wall time from first submit to last result
    size_t tasks;               //  tasks (map: items) that completed
    size_t failed;              //  of which did not end ZJ_OK
    double broker_cpu;          //  CPU seconds zjobd used meanwhile
    double worker_cpu;          //  CPU seconds of the worker processes
    double client_cpu;          //  CPU seconds of this process (all threads)
} zjrun_tput_t;

//  One-at-a-time round trips, in microseconds.
typedef struct {
    size_t n;                   //  samples
    double p50;
    double p99;
    double p999;
    double mean;
} zjrun_lat_t;

//  Called by zjrun_fill after each `count` tasks are queued (all tickets in).
typedef void (zjrun_fill_cb) (size_t queued, void *arg);

//  Individual no-op tasks, each its own future, `window` in flight: once
//  the window is full the oldest is awaited before the next submit. Runs
//  for about `secs`. False when a result did not come within 30 s.
bool zjrun_window (zj_client_t *client, const zjrun_procs_t *procs, size_t window,
                   double secs, zjrun_tput_t *out);
//  Bursts of `batch` submits back to back, up to `depth` bursts in
//  flight; a burst is awaited whole before the next is sent.
bool zjrun_batch (zj_client_t *client, const zjrun_procs_t *procs, size_t batch,
                  size_t depth, double secs, zjrun_tput_t *out);
//  Maps of `count` no-op items at `chunksize`, one after another (at
//  least one) for about `secs`.
bool zjrun_map (zj_client_t *client, const zjrun_procs_t *procs, size_t chunksize,
                size_t count, double secs, zjrun_tput_t *out);
//  `samples` sequential submit + result round trips (stops early after
//  `max_secs`).
bool zjrun_latency (zj_client_t *client, size_t samples, double max_secs, zjrun_lat_t *out);
//  `nclients` threads, each with its own client on `endpoint`, run
//  zjrun_window with `window` tasks in flight each; figures are summed.
bool zjrun_clients (const char *endpoint, size_t nclients, const zjrun_procs_t *procs,
                    size_t window, double secs, zjrun_tput_t *out);
//  Queue `count` tasks of function `fn` whose argument list is `arg_bytes`
//  long, waiting for every ticket. `at` (ascending, `nat` entries) lists
//  queue sizes at which `cb` is called. False on a refusal or timeout.
bool zjrun_fill (zj_client_t *client, const char *fn, size_t count, size_t arg_bytes,
                 const size_t *at, size_t nat, zjrun_fill_cb *cb, void *arg);
