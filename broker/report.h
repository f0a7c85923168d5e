// SPDX-License-Identifier: MIT
//  report - what zjobd tells the world outside ZeroMQ about itself: the
//  one-line STATUS= for systemd and the Prometheus page, both read from
//  the core's state, and the hooks through which the core feeds the
//  metrics (each a few increments, no allocation after a function's
//  first task). Loop thread only, like the core.
#pragma once
#include <stddef.h>
#include "broker.h"
#include "metrics.h"
#include "msg.h"
#include "sched.h"
#include "tasks.h"

//  "serving: N queued, M running, K workers" into buf (truncated to len).
void report_status (broker_t *self, char *buf, size_t len);
//  The Prometheus text exposition (format 0.0.4) of the broker at `now`.
//  Caller owns the NUL-terminated text; free with free(). NULL on OOM.
char *report_metrics (broker_t *self, double now, size_t *len);

//  The metric series of `fn`, looked up by name once and then cached in
//  its sched stats. NULL on OOM (metrics_* calls accept NULL).
metrics_fn_t *report_fn (broker_t *self, sched_fn_t *fn);
//  A task reached final `state` (done, failed or cancelled).
void report_outcome (broker_t *self, sched_fn_t *fn, zj_state_t state);
//  A task is being sent to a worker at `now`: remember and observe its
//  queue wait.
void report_dispatch (broker_t *self, task_t *task, double now);
//  A worker answered a task it was sent: observe its run time.
void report_run (broker_t *self, const task_t *task, double now);
