// SPDX-License-Identifier: MIT
//  notify - sd_notify for the daemons; see notify.h. One datagram per timer tick
//  at most, so the cost is a few syscalls a second whatever the load.
#include "notify.h"
#include "log.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>

//  STATUS= is refreshed at least this often (milliseconds).
#define STATUS_MS 1000

struct notify {
    uv_timer_t timer;           //  watchdog pings and status updates
    bool enabled;               //  NOTIFY_SOCKET was set
    bool started;               //  timer initialised
    bool ready;                 //  READY=1 sent
    bool stopped;               //  STOPPING=1 sent, timer closing
    uint64_t watchdog_usec;     //  ping every this often, 0 = no watchdog
    notify_status_fn *status;   //  builds the STATUS= text
    void *arg;                  //  for status
    char last[256];             //  STATUS= text last sent
};

static void
s_send (notify_t *self, const char *state)
{
    int rc = sd_notify (0, state);
    if (rc < 0)
        log_debug ("sd_notify failed", "error=\"%s\"", strerror (-rc));
}

//  "WATCHDOG=1" and/or "STATUS=..." in one datagram; nothing when neither
//  is due.
static void
s_tick (notify_t *self)
{
    char text[sizeof self->last];
    text[0] = 0;
    self->status (self->arg, text, sizeof text);
    bool changed = strcmp (text, self->last) != 0;
    if (!changed && !self->watchdog_usec)
        return;
    char msg[sizeof text + 32];
    snprintf (msg, sizeof msg, "%s%s%s", self->watchdog_usec ? "WATCHDOG=1\n" : "",
              changed ? "STATUS=" : "", changed ? text : "");
    s_send (self, msg);
    if (changed)
        snprintf (self->last, sizeof self->last, "%s", text);
}

static void
s_on_timer (uv_timer_t *handle)
{
    s_tick (handle->data);
}

notify_t *
notify_new (uv_loop_t *loop, notify_status_fn *status, void *arg)
{
    notify_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->status = status;
    self->arg = arg;
    const char *socket = getenv ("NOTIFY_SOCKET");
    self->enabled = socket && *socket;
    if (!self->enabled)
        return self;
    uint64_t usec = 0;
    //  > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is us.
    if (sd_watchdog_enabled (0, &usec) > 0 && usec > 0)
        self->watchdog_usec = usec / 2;
    uint64_t ms = STATUS_MS;
    if (self->watchdog_usec && self->watchdog_usec / 1000 < ms)
        ms = self->watchdog_usec / 1000 ? self->watchdog_usec / 1000 : 1;
    uv_timer_init (loop, &self->timer);
    self->timer.data = self;
    self->started = true;
    uv_timer_start (&self->timer, s_on_timer, ms, ms);
    log_info ("systemd notify", "socket=%s watchdog_ms=%llu status_ms=%llu", socket,
              (unsigned long long) (self->watchdog_usec / 1000), (unsigned long long) ms);
    return self;
}

void
notify_ready (notify_t *self)
{
    if (!self || !self->enabled || self->ready)
        return;
    self->ready = true;
    char text[sizeof self->last];
    text[0] = 0;
    self->status (self->arg, text, sizeof text);
    char msg[sizeof text + 32];
    snprintf (msg, sizeof msg, "READY=1\nSTATUS=%s", text);
    s_send (self, msg);
    snprintf (self->last, sizeof self->last, "%s", text);
}

void
notify_stop (notify_t *self, const char *status)
{
    if (!self || !self->enabled || self->stopped)
        return;
    self->stopped = true;
    char msg[sizeof self->last + 32];
    snprintf (msg, sizeof msg, "STOPPING=1\nSTATUS=%s", status);
    s_send (self, msg);
    if (self->started)
        uv_close ((uv_handle_t *) &self->timer, NULL);
}

void
notify_destroy (notify_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

uint64_t
notify_watchdog_usec (const notify_t *self)
{
    return self ? self->watchdog_usec : 0;
}
