// SPDX-License-Identifier: MIT
//  notify - a daemon's side of systemd's notify protocol (zjobd and
//  zjob-worker), through libsystemd's sd_notify: READY=1 once serving,
//  STATUS= with a one-line summary, WATCHDOG=1 from a timer on the event
//  loop (so a stuck loop stops the pings and systemd restarts the
//  service), STOPPING=1 at shutdown. Every call does nothing when
//  NOTIFY_SOCKET is unset. Loop thread only.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct notify notify_t;

//  Write the current one-line status (e.g. "serving: 3 queued, 1 running,
//  2 workers") into buf.
typedef void (notify_status_fn) (void *arg, char *buf, size_t len);

//  Start: when NOTIFY_SOCKET is set, a timer on `loop` sends WATCHDOG=1 at
//  half of WATCHDOG_USEC (when systemd asked for a watchdog) and STATUS=
//  when it changed, at least once a second. `status` is called on the
//  loop thread. Caller owns; NULL on OOM. Close with notify_stop before
//  the loop's last run, free with notify_destroy after it.
notify_t *notify_new (uv_loop_t *loop, notify_status_fn *status, void *arg);
//  Tell systemd the service is up (READY=1 and the first STATUS=).
void notify_ready (notify_t *self);
//  Tell systemd the service is stopping, with `status` (e.g. "stopping:
//  telling workers and clients") as its STATUS=, and close the timer.
//  Safe twice.
void notify_stop (notify_t *self, const char *status);
//  Free; the loop must have closed the timer (run after notify_stop).
//  Sets *self_p to NULL.
void notify_destroy (notify_t **self_p);
//  The watchdog ping interval in microseconds, 0 when none was asked for.
uint64_t notify_watchdog_usec (const notify_t *self);
