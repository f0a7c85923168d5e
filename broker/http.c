// SPDX-License-Identifier: MIT
//  http - libmicrohttpd on the broker's libuv loop; see http.h. We bind
//  the listening socket ourselves (clear errors, port 0 resolved) and
//  hand it to MHD, which runs in external-epoll mode: one uv_poll on its
//  epoll fd plus a timer for its connection timeouts.
#include "http.h"
#include "log.h"
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

//  Seconds an idle scrape connection is kept, and connections at once.
#define IDLE_SECONDS 10
#define MAX_CONNECTIONS 32

struct http {
    struct MHD_Daemon *mhd;     //  the server
    uv_poll_t poll;             //  on MHD's epoll fd
    uv_timer_t timer;           //  MHD's next timeout
    bool started;               //  handles initialised
    bool stopped;               //  http_stop called
    http_render_fn *render;     //  makes the page
    void *arg;                  //  for render
    char url[128];              //  http://HOST:PORT/metrics
};

static const char s_content_type[] = "text/plain; version=0.0.4; charset=utf-8";

static enum MHD_Result
s_reply (struct MHD_Connection *conn, unsigned int status, const char *text)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (strlen (text), (void *) text,
                                                              MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header (r, "Content-Type", "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (r, "Allow", "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response (conn, status, r);
    MHD_destroy_response (r);
    return rc;
}

static enum MHD_Result
s_on_request (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
              const char *version, const char *upload, size_t *upload_size, void **state)
{
    http_t *self = cls;
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        return s_reply (conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD are served\n");
    if (strcmp (url, "/metrics") != 0)
        return s_reply (conn, MHD_HTTP_NOT_FOUND,
                        "zjobd serves its Prometheus metrics at /metrics\n");
    size_t len = 0;
    char *text = self->render (self->arg, &len);
    if (!text)
        return s_reply (conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    struct MHD_Response *r = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free (text);
        return MHD_NO;
    }
    MHD_add_response_header (r, "Content-Type", s_content_type);
    enum MHD_Result rc = MHD_queue_response (conn, MHD_HTTP_OK, r);
    MHD_destroy_response (r);
    return rc;
}

static void
s_on_mhd_log (void *cls, const char *fmt, va_list ap)
{
    char text[256];
    vsnprintf (text, sizeof text, fmt, ap);
    //  MHD's messages end with a newline; one event per line.
    text[strcspn (text, "\r\n")] = 0;
    for (char *p = text; *p; p++)
        if (*p == '"')
            *p = '\'';
    log_warn ("metrics http", "why=\"%s\"", text);
}

static void s_on_timer (uv_timer_t *handle);

//  Let MHD work, then arm the timer for its next deadline.
static void
s_run (http_t *self)
{
    if (self->stopped)
        return;
    MHD_run (self->mhd);
    MHD_UNSIGNED_LONG_LONG ms = 0;
    if (MHD_get_timeout (self->mhd, &ms) == MHD_YES)
        uv_timer_start (&self->timer, s_on_timer, ms, 0);
    else
        uv_timer_stop (&self->timer);
}

static void
s_on_poll (uv_poll_t *handle, int status, int events)
{
    s_run (handle->data);
}

static void
s_on_timer (uv_timer_t *handle)
{
    s_run (handle->data);
}

//  Split "HOST:PORT" / "[V6]:PORT" into host (NULL for "*" or empty) and
//  port. False when malformed.
static bool
s_split (const char *addr, char *host, size_t hlen, char *port, size_t plen)
{
    const char *colon = strrchr (addr, ':');
    if (!colon || !colon[1] || strlen (colon + 1) >= plen)
        return false;
    for (const char *p = colon + 1; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    strcpy (port, colon + 1);
    const char *h = addr;
    size_t n = (size_t) (colon - addr);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
        h++;
        n -= 2;
    }
    if (n >= hlen)
        return false;
    memcpy (host, h, n);
    host[n] = 0;
    return true;
}

//  A listening TCP socket on addr, or -1 with why and *err.
static int
s_listen (const char *addr, char *url, size_t url_len, char *why, size_t why_len, int *err)
{
    char host[256], port[8];
    if (!s_split (addr, host, sizeof host, port, sizeof port) || atoi (port) > 65535) {
        *err = EINVAL;
        snprintf (why, why_len, "--metrics '%s': expected HOST:PORT, e.g. 127.0.0.1:9464 or [::1]:9464", addr);
        return -1;
    }
    bool any = host[0] == 0 || strcmp (host, "*") == 0;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    hints.ai_family = any ? AF_INET : AF_UNSPEC;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo (any ? NULL : host, port, &hints, &res);
    if (rc != 0) {
        *err = EINVAL;
        snprintf (why, why_len, "--metrics '%s': cannot resolve '%s': %s", addr, host, gai_strerror (rc));
        return -1;
    }
    int fd = socket (res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind (fd, res->ai_addr, res->ai_addrlen) != 0 || listen (fd, 64) != 0) {
        *err = errno;
        snprintf (why, why_len, "cannot listen for metrics on %s: %s; pick another --metrics address",
                  addr, strerror (*err));
        if (fd >= 0)
            close (fd);
        freeaddrinfo (res);
        return -1;
    }
    freeaddrinfo (res);
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char text[INET6_ADDRSTRLEN] = "?";
    unsigned bound = 0;
    if (getsockname (fd, (struct sockaddr *) &ss, &sslen) == 0) {
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
            inet_ntop (AF_INET6, &a->sin6_addr, text, sizeof text);
            bound = ntohs (a->sin6_port);
        }
        else {
            struct sockaddr_in *a = (struct sockaddr_in *) &ss;
            inet_ntop (AF_INET, &a->sin_addr, text, sizeof text);
            bound = ntohs (a->sin_port);
        }
    }
    snprintf (url, url_len, ss.ss_family == AF_INET6 ? "http://[%s]:%u/metrics"
                                                     : "http://%s:%u/metrics", text, bound);
    return fd;
}

http_t *
http_new (uv_loop_t *loop, const char *addr, http_render_fn *render, void *arg, char *why,
          size_t why_len, int *err)
{
    *err = 0;
    http_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = ENOMEM;
        snprintf (why, why_len, "out of memory");
        return NULL;
    }
    self->render = render;
    self->arg = arg;
    int fd = s_listen (addr, self->url, sizeof self->url, why, why_len, err);
    if (fd < 0) {
        free (self);
        return NULL;
    }
    //  No internal thread: MHD_run from the loop (see http.h).
    //  The logger first, or MHD complains through its own.
    self->mhd = MHD_start_daemon (MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                  s_on_request, self,
                                  MHD_OPTION_EXTERNAL_LOGGER, s_on_mhd_log, NULL,
                                  MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) IDLE_SECONDS,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned int) MAX_CONNECTIONS,
                                  MHD_OPTION_END);
    const union MHD_DaemonInfo *info = self->mhd
        ? MHD_get_daemon_info (self->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    int rc = info ? uv_poll_init (loop, &self->poll, info->epoll_fd) : UV_EINVAL;
    if (rc != 0) {
        *err = EIO;
        snprintf (why, why_len, "cannot start the metrics server on %s%s%s", addr,
                  self->mhd ? ": " : "", self->mhd ? uv_strerror (rc) : "");
        if (self->mhd)
            MHD_stop_daemon (self->mhd);
        else
            close (fd);
        free (self);
        return NULL;
    }
    uv_timer_init (loop, &self->timer);
    self->poll.data = self->timer.data = self;
    self->started = true;
    uv_poll_start (&self->poll, UV_READABLE, s_on_poll);
    s_run (self);
    return self;
}

const char *
http_url (const http_t *self)
{
    return self->url;
}

void
http_stop (http_t *self)
{
    if (!self || self->stopped)
        return;
    self->stopped = true;
    //  Stop polling before MHD closes the epoll fd under libuv.
    uv_poll_stop (&self->poll);
    uv_close ((uv_handle_t *) &self->poll, NULL);
    uv_close ((uv_handle_t *) &self->timer, NULL);
    MHD_stop_daemon (self->mhd);
    self->mhd = NULL;
}

void
http_destroy (http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    http_t *self = *self_p;
    if (self->mhd)
        MHD_stop_daemon (self->mhd);
    free (self);
    *self_p = NULL;
}
