// SPDX-License-Identifier: MIT
//  report - systemd status line, Prometheus page and the metric hooks;
//  see report.h. Reads broker internals; changes only the metrics.
#include "report.h"
#include "broker_int.h"
#include "zj_config.h"
#include <stdio.h>

void
report_status (broker_t *self, char *buf, size_t len)
{
    snprintf (buf, len, "%s: %zu queued, %zu running, %zu workers",
              self->shutting_down ? "stopping" : "serving", sched_queued (self->sched),
              sched_running (self->sched), peers_worker_count (self->peers));
}

metrics_fn_t *
report_fn (broker_t *self, sched_fn_t *fn)
{
    sched_fn_stats_t *fs = sched_fn_stats (fn);
    if (!fs->series) {
        size_t len;
        const char *name = sched_fn_name (fn, &len);
        fs->series = metrics_fn (self->metrics, name, len);
    }
    return fs->series;
}

void
report_outcome (broker_t *self, sched_fn_t *fn, zj_state_t state)
{
    metrics_event_t event = state == ZJ_STATE_DONE     ? METRICS_COMPLETED
                          : state == ZJ_STATE_FAILED   ? METRICS_FAILED
                          : state == ZJ_STATE_CANCELLED ? METRICS_CANCELLED
                                                        : METRICS_EVENTS;
    metrics_count (report_fn (self, fn), event);
}

void
report_dispatch (broker_t *self, task_t *task, double now)
{
    //  `since` stays the submit time while a task is queued or running.
    double wait = now - task->since;
    task->wait = (float) wait;
    metrics_observe_wait (report_fn (self, task->fn), wait);
}

void
report_run (broker_t *self, const task_t *task, double now)
{
    metrics_observe_run (report_fn (self, task->fn), now - task->since - (double) task->wait);
}

char *
report_metrics (broker_t *self, double now, size_t *len)
{
    metrics_gauges_clear (self->metrics);
    size_t cursor = 0;
    sched_fn_t *fn;
    while ((fn = sched_fn_next (self->sched, &cursor))) {
        double oldest = sched_fn_oldest (fn);
        metrics_gauges_add (report_fn (self, fn), sched_fn_depth (fn), sched_fn_running (fn),
                            oldest < 0 ? 0 : now - oldest);
    }
    metrics_global_t global = {
        .version = ZJ_VERSION,
        .generation = self->gen_text,
        .uptime = now - self->started,
        .workers = peers_worker_count (self->peers),
        .clients = peers_client_count (self->peers),
        .tasks = tasks_size (self->tasks),
    };
    return metrics_render (self->metrics, &global, len);
}
