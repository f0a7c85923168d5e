// SPDX-License-Identifier: MIT
//  broker_fuzz - libFuzzer target over the broker core: each input is a
//  script of frames from a few client and worker peers, clock steps,
//  flushes with failing sends and store failures, run against one
//  socket-free broker (as tests/unit/broker_test.c drives it). Every
//  frame the broker sends must decode, and the broker must not leak.
//  Built by tests/fuzz/meson.build; see scripts/fuzz.
//
//  Script: one config byte, then operations until the input ends. Each
//  operation is one byte (op % OP_COUNT) and its operands; a missing
//  operand reads as 0. Raw frames carry arbitrary bytes; the structured
//  operations build valid frames, reusing tickets the broker handed out,
//  so that the fuzzer reaches dispatch, results and cancels quickly.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "broker/broker.h"
#include "broker/store.h"
#include "log.h"
#include "msg.h"
#include "fuzz.h"

enum {
    OP_CLIENT_FRAME, OP_WORKER_FRAME, OP_FRAMES, OP_CLOCK, OP_FLUSH,
    OP_DONE, OP_TICKETS, OP_RETURN, OP_SUBMIT, OP_READY, OP_WORKER_SIMPLE,
    OP_STORE, OP_SHUTDOWN, OP_COUNT
};

#define MAX_TICKETS 64
#define MAX_SENDS   (1u << 16)          //  per input, bounds the work

//  Peer ids per socket: two readable ones, one shaped like a libzmq-made
//  id (it holds NULs), and an empty one, which the broker must ignore.
typedef struct {
    const char *bytes;          //  the id
    size_t len;                 //  its length (ids may hold NULs)
} peer_t;
static const peer_t s_clients[] = {{"C1", 2}, {"C2", 2}, {"\x00\x80\x00\x00\x01", 5}, {"", 0}};
static const peer_t s_workers[] = {{"W1", 2}, {"W2", 2}, {"\x00\x80\x00\x00\x02", 5}, {"", 0}};
static const char *s_fns[] = {"echo", "sleep", "f", "x.y_z"};
#define NPEERS (sizeof s_clients / sizeof s_clients[0])
#define NFNS   (sizeof s_fns / sizeof s_fns[0])

//  One input's state: the script cursor, the tickets the broker sent,
//  and the failure modes the script switched on.
typedef struct {
    const uint8_t *p;           //  next script byte
    const uint8_t *end;         //  end of the script
    double now;                 //  the broker's clock
    char tickets[MAX_TICKETS][ZJ_MAX_TICKET + 1];   //  seen in SUBMITTED and TASKS
    uint32_t nseen;             //  tickets seen so far (ring index)
    uint8_t send_fail;          //  bit i: the i-th send of a flush fails (mod 8)
    int send_err;               //  with this errno
    uint32_t nsent;             //  sends this flush
    uint32_t total;             //  sends this input
    uint8_t store_fail;         //  bit per store operation that fails
} fuzz_t;

static zj_enc_t *s_enc;
//  BROKER_FUZZ_TRACE=1 prints every frame the broker sends (to write seeds).
static bool s_trace;

static uint8_t
s_byte (fuzz_t *f)
{
    return f->p < f->end ? *f->p++ : 0;
}

static uint16_t
s_u16 (fuzz_t *f)
{
    uint16_t lo = s_byte (f);
    return (uint16_t) (lo | (uint16_t) s_byte (f) << 8);
}

//  ---------------------------------------------------------------------
//  A store whose operations fail when the script says so: the memory
//  backend's operations, with the common ones wrapped.

typedef struct {
    store_t base;               //  must be first
    fuzz_t *fuzz;               //  whose failure bits apply
    store_t *mem;               //  the memory backend it wraps
    store_ops_t ops;            //  mem's operations, some replaced
} fstore_t;

static zj_err_t
s_fail (store_t *self, int bit)
{
    fuzz_t *f = ((fstore_t *) self)->fuzz;
    return f->store_fail & (1u << bit) ? (bit & 1 ? ZJ_EIO : ZJ_ENOSPC) : ZJ_OK;
}

static zj_err_t s_begin (store_t *s) { return s_fail (s, 0); }
static zj_err_t s_commit (store_t *s) { return s_fail (s, 1); }
static zj_err_t s_put_tasks (store_t *s, task_t *const *t, size_t n) { return s_fail (s, 2); }
static zj_err_t s_set_state (store_t *s, const task_t *t) { return s_fail (s, 3); }
static zj_err_t s_put_outcome (store_t *s, const task_t *t) { return s_fail (s, 4); }
static zj_err_t s_delete (store_t *s, const task_t *t) { return s_fail (s, 5); }
static zj_err_t s_put_attempt (store_t *s, const task_t *t, const store_attempt_t *a) { return s_fail (s, 6); }
static zj_err_t s_reopen (store_t *s, const task_t *t) { return s_fail (s, 7); }

static void
s_store_destroy (store_t *s)
{
    fstore_t *self = (fstore_t *) s;
    store_destroy (&self->mem);
    free (self);
}

//  Caller owns; free with store_destroy.
static store_t *
s_store_new (fuzz_t *f)
{
    fstore_t *self = calloc (1, sizeof *self);
    MUST (self);
    self->mem = store_mem_new ();
    MUST (self->mem);
    self->fuzz = f;
    self->ops = *self->mem->ops;
    self->ops.name = "fuzz";
    self->ops.begin_turn = s_begin;
    self->ops.commit_turn = s_commit;
    self->ops.put_tasks = s_put_tasks;
    self->ops.set_state = s_set_state;
    self->ops.put_outcome = s_put_outcome;
    self->ops.delete_task = s_delete;
    self->ops.put_attempt = s_put_attempt;
    self->ops.reopen = s_reopen;
    self->ops.destroy = s_store_destroy;
    self->base.ops = &self->ops;
    return &self->base;
}

//  ---------------------------------------------------------------------
//  Sends: every frame must decode; tickets are kept for later operations.

static void
s_remember (fuzz_t *f, zj_str_t ticket)
{
    MUST (ticket.len > 0 && ticket.len <= ZJ_MAX_TICKET);
    char *slot = f->tickets[f->nseen++ % MAX_TICKETS];
    memcpy (slot, ticket.ptr, ticket.len);
    slot[ticket.len] = '\0';
}

static int
s_send (void *arg, broker_sock_t sock, const uint8_t *id, size_t idlen, uint8_t *body,
        size_t len)
{
    fuzz_t *f = arg;
    MUST (idlen > 0);
    zj_msg_t msg;
    const char *why = NULL;
    zj_err_t rc = zj_msg_decode (body, len, ZJ_MAX_FRAME_DEFAULT, &msg, &why);
    if (rc != ZJ_OK)
        fprintf (stderr, "broker_fuzz: undecodable frame from the broker: %s\n", why);
    MUST (rc == ZJ_OK);
    if (s_trace)
        fprintf (stderr, "broker_fuzz: t=%.2f send %s/%.*s type=%d req=%llu count=%u\n",
                 f->now, sock == BROKER_CLIENTS ? "clients" : "workers", (int) idlen,
                 (const char *) id, (int) msg.type, (unsigned long long) msg.req, msg.count);
    zj_str_t s;
    zj_job_t job;
    if (msg.type == ZJ_MSG_SUBMITTED)
        while (zj_msg_next_str (&msg, &s))
            s_remember (f, s);
    else if (msg.type == ZJ_MSG_TASKS) {
        MUST (sock == BROKER_WORKERS);
        while (zj_msg_next_job (&msg, &job))
            s_remember (f, job.ticket);
    }
    free (body);
    f->total++;
    if (f->send_fail & (1u << (f->nsent++ % 8)))
        return f->send_err;
    return 0;
}

//  ---------------------------------------------------------------------
//  Operations

static const peer_t *
s_peer (fuzz_t *f, broker_sock_t sock)
{
    uint8_t b = s_byte (f);
    return &(sock == BROKER_CLIENTS ? s_clients : s_workers)[b % NPEERS];
}

static void
s_deliver (broker_t *b, fuzz_t *f, broker_sock_t sock, const peer_t *peer, size_t frames)
{
    broker_on_message (b, sock, (const uint8_t *) peer->bytes, peer->len, zj_enc_data (s_enc),
                       zj_enc_size (s_enc), frames, f->now);
}

static void
s_raw_frame (broker_t *b, fuzz_t *f, broker_sock_t sock, size_t frames)
{
    const peer_t *peer = s_peer (f, sock);
    size_t len = s_u16 (f);
    size_t left = (size_t) (f->end - f->p);
    if (len > left)
        len = left;
    //  A copy of exactly `len` bytes, so ASan sees any read past the frame.
    uint8_t *data = malloc (len ? len : 1);
    MUST (data);
    memcpy (data, f->p, len);
    f->p += len;
    broker_on_message (b, sock, (const uint8_t *) peer->bytes, peer->len, data, len, frames,
                       f->now);
    free (data);
}

static const char *
s_ticket (fuzz_t *f)
{
    uint8_t b = s_byte (f);
    if (f->nseen == 0 || b == 0xff)
        return "00000000-nope";
    uint32_t n = f->nseen < MAX_TICKETS ? f->nseen : MAX_TICKETS;
    return f->tickets[b % n];
}

static void
s_flush (broker_t *b, fuzz_t *f)
{
    f->send_fail = s_byte (f);
    static const int errs[] = {EHOSTUNREACH, EAGAIN, EIO};
    f->send_err = errs[s_byte (f) % 3];
    f->nsent = 0;
    //  A flush may leave work for another turn; the loop would come back.
    for (int i = 0; i < 4 && broker_flush (b, f->now, s_send, f); i++)
        ;
    f->send_fail = 0;
}

static void
s_clock (broker_t *b, fuzz_t *f, double step)
{
    f->now += step;
    broker_tick (b, f->now);
    for (int i = 0; i < 64 && broker_expire (b, f->now); i++)
        ;
}

static void
s_done (broker_t *b, fuzz_t *f)
{
    const peer_t *peer = s_peer (f, BROKER_WORKERS);
    uint8_t n = s_byte (f) % 4 + 1;
    zj_enc_outcomes_begin (s_enc, ZJ_MSG_DONE, n);
    for (uint8_t i = 0; i < n; i++) {
        const char *t = s_ticket (f);
        uint8_t how = s_byte (f);
        zj_outcome_t out = {.ticket = {t, strlen (t)}};
        if (how & 1) {
            out.state = ZJ_STATE_FAILED;
            out.err_type = (zj_str_t) {"ValueError", 10};
            out.err_message = (zj_str_t) {"bad", how & 2 ? 3 : 0};
            out.err_traceback = (zj_str_t) {"tb", how & 4 ? 2 : 0};
        }
        else {
            //  The integer 1, or for chunks [[true, 1], [false, ["E", "m", ""]]].
            static const uint8_t pairs[] = {0x92, 0x92, 0xc3, 0x01, 0x92, 0xc2, 0x93,
                                            0xa1, 'E', 0xa1, 'm', 0xa0};
            out.state = ZJ_STATE_DONE;
            out.value = how & 2 ? (zj_raw_t) {pairs, sizeof pairs} : (zj_raw_t) {pairs + 3, 1};
        }
        zj_enc_outcome (s_enc, &out);
    }
    s_deliver (b, f, BROKER_WORKERS, peer, 1);
}

static void
s_tickets (broker_t *b, fuzz_t *f, broker_sock_t sock, zj_msg_type_t type)
{
    const peer_t *peer = s_peer (f, sock);
    uint8_t n = s_byte (f) % 4 + 1;
    zj_enc_tickets_begin (s_enc, type, s_byte (f), n);
    for (uint8_t i = 0; i < n; i++)
        zj_enc_cstr (s_enc, s_ticket (f));
    s_deliver (b, f, sock, peer, 1);
}

static void
s_client_tickets (broker_t *b, fuzz_t *f)
{
    static const zj_msg_type_t types[] = {ZJ_MSG_FETCH, ZJ_MSG_STATUS, ZJ_MSG_CANCEL,
                                          ZJ_MSG_RETRY};
    s_tickets (b, f, BROKER_CLIENTS, types[s_byte (f) % 4]);
}

static void
s_submit (broker_t *b, fuzz_t *f)
{
    static const uint8_t args[] = {0x92, 0x2a, 0xa1, 'x'};         //  [42, "x"]
    static const uint8_t chunk[] = {0x92, 0x91, 0x01, 0x90};        //  [[1], []]
    const peer_t *peer = s_peer (f, BROKER_CLIENTS);
    uint8_t n = s_byte (f) % 8 + 1;
    zj_enc_submit_begin (s_enc, s_byte (f), n, NULL);
    for (uint8_t i = 0; i < n; i++) {
        uint8_t how = s_byte (f);
        const char *fn = s_fns[how % NFNS];
        bool is_chunk = how & 0x04;
        zj_task_t t = {
            .fn = {fn, strlen (fn)},
            .args = is_chunk ? (zj_raw_t) {chunk, sizeof chunk} : (zj_raw_t) {args, sizeof args},
            .priority = (int8_t) s_byte (f),
            .timeout = how & 0x08 ? 0.5 : 0,
            .max_retries = how & 0x10 ? (how >> 5) : -1,
            .chunk = is_chunk,
        };
        zj_enc_task (s_enc, &t);
    }
    s_deliver (b, f, BROKER_CLIENTS, peer, 1);
}

static void
s_ready (broker_t *b, fuzz_t *f)
{
    const peer_t *peer = s_peer (f, BROKER_WORKERS);
    uint8_t credit = s_byte (f) % 16 + 1;
    uint8_t mask = s_byte (f);
    uint8_t hb = s_byte (f);
    uint32_t n = 0;
    for (size_t i = 0; i < NFNS; i++)
        n += (mask >> i) & 1;
    if (n == 0) {
        mask = 1;
        n = 1;
    }
    zj_enc_ready_begin (s_enc, "w", "host", 42, hb % 8 * 0.25, credit, n);
    for (size_t i = 0; i < NFNS; i++)
        if ((mask >> i) & 1)
            zj_enc_cstr (s_enc, s_fns[i]);
    s_deliver (b, f, BROKER_WORKERS, peer, 1);
}

static void
s_worker_simple (broker_t *b, fuzz_t *f)
{
    const peer_t *peer = s_peer (f, BROKER_WORKERS);
    uint8_t what = s_byte (f);
    zj_enc_simple (s_enc, what & 1 ? ZJ_MSG_DISCONNECT : ZJ_MSG_HEARTBEAT, 0);
    s_deliver (b, f, BROKER_WORKERS, peer, 1);
}

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_enc) {
        s_enc = zj_enc_new ();
        s_trace = getenv ("BROKER_FUZZ_TRACE") != NULL;
    }
    fuzz_t *f = calloc (1, sizeof *f);
    MUST (f && s_enc);
    f->p = data;
    f->end = data + size;
    store_t *store = s_store_new (f);

    //  The config byte picks tight or loose limits, and whether every
    //  debug line is formatted too (run with -close_fd_mask=2 to mute them).
    uint8_t cfg = s_byte (f);
    log_init ("broker_fuzz", cfg & 0x80 ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR);
    broker_config_t config = {
        .retention = cfg & 0x01 ? 2.0 : 3600.0,
        .heartbeat = 1.0,
        .liveness = (cfg >> 1) % 4,
        .max_retries = (cfg >> 3) % 4,
        .max_frame = cfg & 0x20 ? 96 : ZJ_MAX_FRAME_DEFAULT,
        .max_queued = cfg & 0x40 ? 3 : 1000,
    };
    broker_t *b = broker_new (&config, 12345, store, 0.0);
    MUST (b);
    MUST (broker_recover (b, 0.0, NULL) == ZJ_OK);

    while (f->p < f->end && f->total < MAX_SENDS) {
        switch (s_byte (f) % OP_COUNT) {
            case OP_CLIENT_FRAME: s_raw_frame (b, f, BROKER_CLIENTS, 1); break;
            case OP_WORKER_FRAME: s_raw_frame (b, f, BROKER_WORKERS, 1); break;
            case OP_FRAMES: {
                uint8_t k = s_byte (f);
                s_raw_frame (b, f, k & 1 ? BROKER_WORKERS : BROKER_CLIENTS, (k >> 1) % 2 * 2);
                break;
            }
            case OP_CLOCK: s_clock (b, f, s_byte (f) * 0.05); break;
            case OP_FLUSH: s_flush (b, f); break;
            case OP_DONE: s_done (b, f); break;
            case OP_TICKETS: s_client_tickets (b, f); break;
            case OP_RETURN: s_tickets (b, f, BROKER_WORKERS, ZJ_MSG_RETURN); break;
            case OP_SUBMIT: s_submit (b, f); break;
            case OP_READY: s_ready (b, f); break;
            case OP_WORKER_SIMPLE: s_worker_simple (b, f); break;
            case OP_STORE: f->store_fail = s_byte (f); break;
            case OP_SHUTDOWN: broker_shutdown (b, f->now); break;
        }
    }
    //  Wind down as zjobd does: a last flush, time past every deadline
    //  and retention, shutdown, and a final flush.
    f->p = f->end;
    f->store_fail = 0;
    s_flush (b, f);
    s_clock (b, f, 10.0);
    s_clock (b, f, 4000.0);
    s_flush (b, f);
    broker_shutdown (b, f->now);
    s_flush (b, f);
    broker_destroy (&b);
    store_destroy (&store);
    free (f);
    return 0;
}
