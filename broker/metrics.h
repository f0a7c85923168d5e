// SPDX-License-Identifier: MIT
//  metrics - zjobd's Prometheus series: per-function task counters and
//  histograms of queue wait and run time, kept for the broker's lifetime
//  (a function's series outlive its queue record), and their text
//  exposition (format 0.0.4). Pure: no clock, no I/O. Counting an event
//  is an increment; observing a duration is a binary search over 19
//  bucket bounds and an increment. Loop thread only.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  Functions with a series of their own; tasks of further functions are
//  counted together under function="_other", so that clients inventing
//  names cannot grow the page without bound.
#define METRICS_MAX_FUNCTIONS 1000

typedef struct metrics metrics_t;
typedef struct metrics_fn metrics_fn_t;

//  Task events counted per function (zjob_tasks_<event>_total).
typedef enum {
    METRICS_SUBMITTED = 0,      //  accepted by SUBMIT
    METRICS_COMPLETED,          //  finished done
    METRICS_FAILED,             //  finished failed (by the task or WorkerLost)
    METRICS_RETRIED,            //  queued again after its worker was lost
    METRICS_CANCELLED,          //  cancelled while queued
    METRICS_EXPIRED,            //  final record deleted after retention
    METRICS_EVENTS              //  how many kinds
} metrics_event_t;

//  State of the whole broker at render time.
typedef struct {
    const char *version;        //  zjob version, for zjob_build_info
    const char *generation;     //  ticket generation, likewise
    double uptime;              //  seconds since start
    size_t workers;             //  workers alive (registered and heard from)
    size_t clients;             //  clients with subscriptions or results queued
    size_t tasks;               //  task records held (queued, running, retained)
} metrics_global_t;

//  Create an empty registry. Caller owns; free with metrics_destroy.
//  NULL on OOM.
metrics_t *metrics_new (void);
//  Free every series; sets *self_p to NULL.
void metrics_destroy (metrics_t **self_p);

//  The series of function `name` (len bytes), made when missing; the
//  shared "_other" series past METRICS_MAX_FUNCTIONS. NULL on OOM (the
//  event goes uncounted). Borrowed; valid until metrics_destroy.
metrics_fn_t *metrics_fn (metrics_t *self, const char *name, size_t len);
//  Count one event. fn may be NULL (nothing happens).
void metrics_count (metrics_fn_t *fn, metrics_event_t event);
//  Observe a task's queue wait (submit to dispatch) or run time (dispatch
//  to outcome), in seconds. fn may be NULL.
void metrics_observe_wait (metrics_fn_t *fn, double seconds);
void metrics_observe_run (metrics_fn_t *fn, double seconds);
//  A counter's value, for tests and the STATS extras.
uint64_t metrics_counter (const metrics_fn_t *fn, metrics_event_t event);

//  Gauges are set from the live queues just before rendering: clear them
//  all, then add each function's queued and running tasks and the age of
//  its oldest queued task (the largest wins when functions share "_other").
void metrics_gauges_clear (metrics_t *self);
void metrics_gauges_add (metrics_fn_t *fn, size_t depth, size_t running, double oldest_age);

//  The exposition of every series and of `global`, functions sorted by
//  name. Caller owns the NUL-terminated text; free with free(). NULL on
//  OOM.
char *metrics_render (metrics_t *self, const metrics_global_t *global, size_t *len);
