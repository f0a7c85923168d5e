// SPDX-License-Identifier: MIT
//  http - zjobd's metrics endpoint (--metrics ADDR:PORT): GET /metrics
//  answers with the Prometheus page. libmicrohttpd serves HTTP without a
//  thread of its own: its epoll fd is polled by the broker's libuv loop
//  and MHD_run is called from there, so the page is rendered on the loop
//  thread straight from the core's state (no lock, no stale snapshot),
//  and a stuck loop shows as a dead endpoint as it does to the watchdog.
//  MHD's sockets are non-blocking: a slow scraper cannot stall the loop.
#pragma once
#include <stddef.h>
#include <uv.h>

typedef struct http http_t;

//  Render the page; caller-owned text freed with free(), or NULL on OOM
//  (the scraper gets 500). Called on the loop thread.
typedef char *(http_render_fn) (void *arg, size_t *len);

//  Listen on `addr` ("HOST:PORT", "[V6]:PORT"; port 0 picks a free one)
//  and serve from `loop`. Caller owns; NULL on failure with a one-line
//  reason in `why` and *err set (EINVAL for a malformed address).
http_t *http_new (uv_loop_t *loop, const char *addr, http_render_fn *render, void *arg,
                  char *why, size_t why_len, int *err);
//  "http://HOST:PORT/metrics" with the port resolved. Borrowed.
const char *http_url (const http_t *self);
//  Stop serving and close the loop handles. Safe twice and on NULL.
void http_stop (http_t *self);
//  Free after the loop has run the close callbacks; sets *self_p to NULL.
void http_destroy (http_t **self_p);
