// SPDX-License-Identifier: MIT
//  report - what zjobd tells the world outside ZeroMQ about itself: the
//  one-line STATUS= for systemd and the Prometheus page, both read from
//  the core's state. Loop thread only, like the core.
#pragma once
#include <stddef.h>
#include "broker.h"

//  "serving: N queued, M running, K workers" into buf (truncated to len).
void report_status (broker_t *self, char *buf, size_t len);
