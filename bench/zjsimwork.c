// SPDX-License-Identifier: MIT
//  zjsimwork - many simulated zjob workers in one process, for measuring
//  how the broker scales with connected workers. Each is one DEALER that
//  speaks ZJP/1 (READY, answers TASKS with DONE nil at once, HEARTBEAT),
//  so the broker sees N real peers while this process stays light.
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>
#include "msg.h"

//  Seconds between HEARTBEATs from an otherwise silent simulated worker.
#define S_HEARTBEAT 1.0

typedef struct {
    void *sock;                 //  DEALER to the broker
    double last_sent;           //  when it last sent anything
} s_sim_t;

static volatile sig_atomic_t s_stop;

static void
s_on_signal (int sig)
{
    s_stop = 1;
}

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void
s_send (s_sim_t *sim, zj_enc_t *enc, double now)
{
    if (!zj_enc_failed (enc))
        zmq_send (sim->sock, zj_enc_data (enc), zj_enc_size (enc), ZMQ_DONTWAIT);
    sim->last_sent = now;
}

static void
s_ready (s_sim_t *sim, zj_enc_t *enc, int index, uint32_t credit, double now)
{
    char name[64];
    snprintf (name, sizeof name, "sim-%d", index);
    zj_enc_ready_begin (enc, name, "localhost", (int64_t) getpid (), S_HEARTBEAT, credit, 1);
    zj_enc_str (enc, "noop", 4);
    s_send (sim, enc, now);
}

//  Handle one message from the broker.
static void
s_on_message (s_sim_t *sim, zj_enc_t *enc, int index, uint32_t credit, const uint8_t *data,
              size_t size, double now)
{
    zj_msg_t msg;
    if (zj_msg_decode (data, size, ZJ_MAX_FRAME_DEFAULT, &msg, NULL) != ZJ_OK)
        return;
    if (msg.type == ZJ_MSG_TASKS) {
        static const uint8_t nil = 0xc0;
        zj_enc_outcomes_begin (enc, ZJ_MSG_DONE, msg.count);
        zj_job_t job;
        while (zj_msg_next_job (&msg, &job)) {
            zj_outcome_t out = {.ticket = job.ticket, .state = ZJ_STATE_DONE,
                                .value = {&nil, 1}};
            zj_enc_outcome (enc, &out);
        }
        s_send (sim, enc, now);
    }
    else if (msg.type == ZJ_MSG_ERROR || msg.type == ZJ_MSG_DISCONNECT)
        //  The broker forgot us (restart) or is going: register again.
        s_ready (sim, enc, index, credit, now);
}

int
main (int argc, char *argv[])
{
    const char *broker = "tcp://127.0.0.1:5556";
    int count = 1;
    long credit = 16;
    double max_secs = 3600;
    static const struct option opts[] = {
        {"broker", required_argument, NULL, 'b'}, {"workers", required_argument, NULL, 'w'},
        {"credit", required_argument, NULL, 'c'}, {"max-secs", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
            case 'b': broker = optarg; break;
            case 'w': count = atoi (optarg); break;
            case 'c': credit = atol (optarg); break;
            case 'm': max_secs = atof (optarg); break;
            case 'h':
                printf ("Usage: zjsimwork [--broker EP] [--workers N] [--credit N] "
                        "[--max-secs S]\n"
                        "Connect N simulated workers (default 1) to a zjobd worker endpoint;\n"
                        "each serves `noop` with the given credit (default 16), answering\n"
                        "at once. Stops on SIGTERM/SIGINT or after --max-secs (default 3600).\n"
                        "Exit status: 0 stopped, 1 runtime failure, 2 usage error.\n");
                return 0;
            default: return 2;
        }
    }
    if (count < 1 || count > 10000 || credit < 1 || credit > 1000000 || max_secs <= 0) {
        fprintf (stderr, "zjsimwork: --workers must be 1..10000 and --credit 1..1000000\n");
        return 2;
    }
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);

    void *ctx = zmq_ctx_new ();
    zmq_ctx_set (ctx, ZMQ_MAX_SOCKETS, count + 16);
    zj_enc_t *enc = zj_enc_new ();
    s_sim_t *sims = calloc ((size_t) count, sizeof *sims);
    zmq_pollitem_t *items = calloc ((size_t) count, sizeof *items);
    if (!ctx || !enc || !sims || !items) {
        fprintf (stderr, "zjsimwork: out of memory\n");
        return 1;
    }
    double now = s_now ();
    for (int i = 0; i < count; i++) {
        void *sock = zmq_socket (ctx, ZMQ_DEALER);
        if (!sock) {
            fprintf (stderr, "zjsimwork: socket %d: %s\n", i, zmq_strerror (errno));
            return 1;
        }
        char id[32];
        int len = snprintf (id, sizeof id, "sim%d-%d", (int) getpid (), i);
        int linger = 100;       //  room for the closing DISCONNECT
        zmq_setsockopt (sock, ZMQ_ROUTING_ID, id, (size_t) len);
        zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
        if (zmq_connect (sock, broker) != 0) {
            fprintf (stderr, "zjsimwork: cannot connect to %s: %s\n", broker,
                     zmq_strerror (errno));
            return 2;
        }
        sims[i].sock = sock;
        items[i].socket = sock;
        items[i].events = ZMQ_POLLIN;
        s_ready (&sims[i], enc, i, (uint32_t) credit, now);
    }
    double end = now + max_secs;
    while (!s_stop && (now = s_now ()) < end) {
        int n = zmq_poll (items, count, 100);
        if (n < 0 && errno != EINTR)
            break;
        now = s_now ();
        for (int i = 0; i < count; i++) {
            if (items[i].revents & ZMQ_POLLIN)
                for (;;) {
                    zmq_msg_t frame;
                    zmq_msg_init (&frame);
                    if (zmq_msg_recv (&frame, sims[i].sock, ZMQ_DONTWAIT) < 0) {
                        zmq_msg_close (&frame);
                        break;
                    }
                    s_on_message (&sims[i], enc, i, (uint32_t) credit, zmq_msg_data (&frame),
                                  zmq_msg_size (&frame), now);
                    zmq_msg_close (&frame);
                }
            if (now - sims[i].last_sent >= S_HEARTBEAT) {
                zj_enc_simple (enc, ZJ_MSG_HEARTBEAT, 0);
                s_send (&sims[i], enc, now);
            }
        }
    }
    for (int i = 0; i < count; i++) {
        zj_enc_simple (enc, ZJ_MSG_DISCONNECT, 0);
        s_send (&sims[i], enc, now);
        zmq_close (sims[i].sock);
    }
    zmq_ctx_term (ctx);
    zj_enc_destroy (&enc);
    free (sims);
    free (items);
    return 0;
}
