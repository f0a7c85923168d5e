// SPDX-License-Identifier: MIT
//  report - systemd status line and Prometheus page from the core's
//  state; see report.h. Reads broker internals, changes nothing.
#include "report.h"
#include "broker_int.h"
#include <stdio.h>

void
report_status (broker_t *self, char *buf, size_t len)
{
    snprintf (buf, len, "%s: %zu queued, %zu running, %zu workers",
              self->shutting_down ? "stopping" : "serving", sched_queued (self->sched),
              sched_running (self->sched), peers_worker_count (self->peers));
}
