// SPDX-License-Identifier: MIT
//  zmq_baseline - the raw ZeroMQ ceiling for a broker shaped like zjobd:
//  one zmq_proxy process (ROUTER front, DEALER back) and N echo worker
//  processes, driven by a DEALER client doing small round trips, many in
//  flight and then one at a time. No zjob code at all.
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>
#include "bproc.h"
#include "bstat.h"

//  Far above what the window needs, so nothing waits on a high-water mark.
#define S_HWM 100000
#define S_MAX_WORKERS 64

typedef struct {
    int workers;                //  echo worker processes
    double secs;                //  throughput run length
    int inflight;               //  round trips in flight
    size_t samples;             //  ping-pong round trips
    size_t size;                //  message body bytes
    bool rep;                   //  REP workers (else DEALER echo)
    bool hop;                   //  client talks through an I/O thread, as libzjob does
    const char *json;           //  figures file, or NULL
} s_cfg_t;

static void
s_sockopts (void *sock)
{
    int hwm = S_HWM, linger = 0;
    zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
}

//  Child: bind both ends, report them on fd, and proxy until killed.
static void
s_proxy_main (int fd)
{
    void *ctx = zmq_ctx_new ();
    void *front = zmq_socket (ctx, ZMQ_ROUTER);
    void *back = zmq_socket (ctx, ZMQ_DEALER);
    s_sockopts (front);
    s_sockopts (back);
    char eps[2][256];
    size_t size = sizeof eps[0];
    if (zmq_bind (front, "tcp://127.0.0.1:*") != 0 || zmq_bind (back, "tcp://127.0.0.1:*") != 0) {
        fprintf (stderr, "zmq_baseline: proxy cannot bind: %s\n", zmq_strerror (errno));
        _exit (1);
    }
    zmq_getsockopt (front, ZMQ_LAST_ENDPOINT, eps[0], &size);
    size = sizeof eps[1];
    zmq_getsockopt (back, ZMQ_LAST_ENDPOINT, eps[1], &size);
    if (write (fd, eps, sizeof eps) != (ssize_t) sizeof eps)
        _exit (1);
    close (fd);
    zmq_proxy (front, back, NULL);
    _exit (0);
}

//  Child: echo every message back, all its frames, until killed.
static void
s_worker_main (const char *endpoint, bool rep)
{
    void *ctx = zmq_ctx_new ();
    void *sock = zmq_socket (ctx, rep ? ZMQ_REP : ZMQ_DEALER);
    s_sockopts (sock);
    if (zmq_connect (sock, endpoint) != 0)
        _exit (1);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    for (;;) {
        if (zmq_msg_recv (&msg, sock, 0) < 0)
            _exit (errno == ETERM ? 0 : 1);
        int more = zmq_msg_more (&msg);
        if (zmq_msg_send (&msg, sock, more ? ZMQ_SNDMORE : 0) < 0)
            _exit (1);
    }
}

static pid_t
s_fork (void)
{
    pid_t pid = fork ();
    if (pid == 0)
        prctl (PR_SET_PDEATHSIG, SIGKILL);
    return pid;
}

//  Send one request: [empty delimiter for REP] + body.
static int
s_send (void *sock, const s_cfg_t *cfg, const char *body)
{
    if (cfg->rep && zmq_send (sock, "", 0, ZMQ_SNDMORE) < 0)
        return -1;
    return zmq_send (sock, body, cfg->size, 0);
}

//  Receive one reply (all its frames). -1 on timeout (ZMQ_RCVTIMEO) or error.
static int
s_recv (void *sock)
{
    char buf[1024];
    int more = 0;
    size_t more_size = sizeof more;
    if (zmq_recv (sock, buf, sizeof buf, 0) < 0)
        return -1;
    zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &more_size);
    while (more) {
        if (zmq_recv (sock, buf, sizeof buf, 0) < 0)
            return -1;
        zmq_getsockopt (sock, ZMQ_RCVMORE, &more, &more_size);
    }
    return 0;
}

typedef struct {
    void *ctx;                  //  shared with the caller's thread
    const char *endpoint;       //  the proxy's front
} s_hop_t;

//  The client's I/O thread with --hop: the caller's messages cross an
//  inproc pipe to this thread, which owns the DEALER, and replies come
//  back the same way: one thread wake-up more each way, like libzjob's
//  API thread and I/O thread.
static void *
s_hop_main (void *arg)
{
    s_hop_t *hop = arg;
    void *inner = zmq_socket (hop->ctx, ZMQ_PAIR);
    void *outer = zmq_socket (hop->ctx, ZMQ_DEALER);
    s_sockopts (inner);
    s_sockopts (outer);
    zmq_bind (inner, "inproc://hop");
    zmq_connect (outer, hop->endpoint);
    zmq_proxy (inner, outer, NULL);     //  returns when the context terminates
    zmq_close (inner);
    zmq_close (outer);
    return NULL;
}

static void
s_usage (FILE *f)
{
    fprintf (f,
        "Usage: zmq_baseline [OPTION]...\n"
        "The raw ZeroMQ ceiling: a zmq_proxy ROUTER->DEALER process and N echo worker\n"
        "processes, a DEALER client doing round trips many in flight, then one at a time.\n\n"
        "  --workers N    echo worker processes (default 2)\n"
        "  --secs S       throughput run length (default 2)\n"
        "  --inflight N   round trips in flight (default 1000)\n"
        "  --samples N    one-at-a-time round trips (default 10000)\n"
        "  --size N       message body bytes (default 16)\n"
        "  --rep          REP echo workers (default: DEALER echo, the cheaper one)\n"
        "  --hop          the client sends through its own I/O thread (as libzjob)\n"
        "  --json FILE    also write the figures as JSON\n"
        "  --help         show this help and exit\n\n"
        "Exit status: 0 ok, 1 a run failed, 2 usage error.\n");
}

int
main (int argc, char *argv[])
{
    s_cfg_t cfg = {.workers = 2, .secs = 2, .inflight = 1000, .samples = 10000, .size = 16};
    static const struct option opts[] = {
        {"workers", required_argument, NULL, 'w'}, {"secs", required_argument, NULL, 's'},
        {"inflight", required_argument, NULL, 'i'}, {"samples", required_argument, NULL, 'n'},
        {"size", required_argument, NULL, 'z'}, {"rep", no_argument, NULL, 'r'},
        {"hop", no_argument, NULL, 'o'},
        {"json", required_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
            case 'w': cfg.workers = atoi (optarg); break;
            case 's': cfg.secs = atof (optarg); break;
            case 'i': cfg.inflight = atoi (optarg); break;
            case 'n': cfg.samples = strtoul (optarg, NULL, 10); break;
            case 'z': cfg.size = strtoul (optarg, NULL, 10); break;
            case 'r': cfg.rep = true; break;
            case 'o': cfg.hop = true; break;
            case 'j': cfg.json = optarg; break;
            case 'h': s_usage (stdout); return 0;
            default: s_usage (stderr); return 2;
        }
    }
    if (cfg.workers < 1 || cfg.workers > S_MAX_WORKERS || cfg.secs <= 0 || cfg.inflight < 1
        || cfg.samples < 1 || cfg.size < 1 || cfg.size > 1024) {
        fprintf (stderr, "zmq_baseline: bad arguments; see --help\n");
        return 2;
    }
    //  Every child is forked before this process makes a ZeroMQ context.
    int fds[2];
    if (pipe (fds) != 0)
        return 1;
    pid_t proxy = s_fork ();
    if (proxy == 0) {
        close (fds[0]);
        s_proxy_main (fds[1]);
    }
    close (fds[1]);
    char eps[2][256];
    if (proxy < 0 || read (fds[0], eps, sizeof eps) != (ssize_t) sizeof eps) {
        fprintf (stderr, "zmq_baseline: the proxy did not start\n");
        return 1;
    }
    close (fds[0]);
    pid_t workers[S_MAX_WORKERS];
    for (int i = 0; i < cfg.workers; i++)
        if ((workers[i] = s_fork ()) == 0)
            s_worker_main (eps[1], cfg.rep);

    void *ctx = zmq_ctx_new ();
    pthread_t hop_thread;
    s_hop_t hop = {ctx, eps[0]};
    void *sock = zmq_socket (ctx, cfg.hop ? ZMQ_PAIR : ZMQ_DEALER);
    s_sockopts (sock);
    int timeout_ms = 5000;
    zmq_setsockopt (sock, ZMQ_RCVTIMEO, &timeout_ms, sizeof timeout_ms);
    if (cfg.hop) {
        pthread_create (&hop_thread, NULL, s_hop_main, &hop);
        //  inproc needs the bind first; retry until the thread made it.
        while (zmq_connect (sock, "inproc://hop") != 0)
            bproc_sleep (0.001);
    }
    else
        zmq_connect (sock, eps[0]);
    char body[1024];
    memset (body, 'x', sizeof body);
    bool ok = true;
    //  Warm up until every worker has had time to connect: the proxy's
    //  DEALER spreads only over the workers connected at send time.
    double warm_end = bproc_now () + 0.3;
    while (ok && bproc_now () < warm_end)
        ok = s_send (sock, &cfg, body) == (int) cfg.size && s_recv (sock) == 0;

    //  Throughput: keep `inflight` round trips going.
    size_t done = 0;
    double cpu0 = bproc_cpu (proxy), t0 = bproc_now (), t1 = t0;
    for (int i = 0; ok && i < cfg.inflight; i++)
        ok = s_send (sock, &cfg, body) >= 0;
    double end = t0 + cfg.secs;
    while (ok) {
        if ((done & 255) == 0 && bproc_now () >= end)
            break;
        ok = s_recv (sock) == 0 && s_send (sock, &cfg, body) >= 0;
        done++;
    }
    for (int i = 0; ok && i < cfg.inflight; i++, done++)
        ok = s_recv (sock) == 0;
    t1 = bproc_now ();
    double cpu = bproc_cpu (proxy) - cpu0;
    double rate = (double) done / (t1 - t0);
    printf ("zmq_proxy%s, %d %s echo workers, %d x %zu-byte round trips in flight: "
            "%.0f round trips/s, proxy %.2f us CPU each\n", cfg.hop ? " (client I/O thread)" : "",
            cfg.workers, cfg.rep ? "REP" : "DEALER", cfg.inflight, cfg.size, rate, cpu * 1e6 / (double) done);
    bstat_set (rate, "zmq.rate");
    bstat_set (cpu * 1e6 / (double) done, "zmq.proxy_us");

    //  Latency: one round trip at a time.
    double *us = malloc (cfg.samples * sizeof *us);
    size_t n = 0;
    double lat_end = bproc_now () + 30;      //  bounded; samples end it sooner
    while (ok && us && n < cfg.samples && bproc_now () < lat_end) {
        double s0 = bproc_now ();
        ok = s_send (sock, &cfg, body) >= 0 && s_recv (sock) == 0;
        us[n++] = (bproc_now () - s0) * 1e6;
    }
    if (ok && n) {
        bstat_sort (us, n);
        printf ("zmq_proxy ping-pong, one at a time: p50 %.0f us  p99 %.0f us  p99.9 %.0f us  "
                "(%zu samples)\n", bstat_pct (us, n, 50), bstat_pct (us, n, 99),
                bstat_pct (us, n, 99.9), n);
        bstat_set (bstat_pct (us, n, 50), "zmq.lat.p50_us");
        bstat_set (bstat_pct (us, n, 99), "zmq.lat.p99_us");
        bstat_set (bstat_pct (us, n, 99.9), "zmq.lat.p999_us");
        bstat_set ((double) n, "zmq.lat.samples");
    }
    free (us);
    if (!ok)
        fprintf (stderr, "zmq_baseline: a round trip did not come back within 5 s\n");
    zmq_close (sock);
    zmq_ctx_term (ctx);
    if (cfg.hop)
        pthread_join (hop_thread, NULL);
    for (int i = 0; i < cfg.workers; i++)
        kill (workers[i], SIGKILL);
    kill (proxy, SIGKILL);
    for (int i = 0; i < cfg.workers; i++)
        waitpid (workers[i], NULL, 0);
    waitpid (proxy, NULL, 0);
    if (cfg.json && bstat_write (cfg.json) != 0) {
        fprintf (stderr, "zmq_baseline: cannot write %s\n", cfg.json);
        ok = false;
    }
    bstat_clear ();
    return ok ? 0 : 1;
}
