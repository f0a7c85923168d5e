// SPDX-License-Identifier: MIT
//  client - zj_client_t: the outbound request queue that API threads fill
//  and the I/O thread (client/io.c) drains. API threads never touch the
//  socket. Internal to libzjob; not installed.
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zjob.h"
#include "msg.h"
#include "tickets.h"
#include "curvekeys.h"

//  One task of a SUBMIT batch, or one ticket of a FETCH: its future and,
//  for a submit until SUBMITTED, where its bytes sit in the batch arena.
typedef struct {
    zj_future_t *future;        //  the settler's reference is held by the client
    size_t fn_off;              //  SUBMIT: function name in arena
    size_t fn_len;
    size_t args_off;            //  SUBMIT: msgpack args array in arena
    size_t args_len;
    int64_t priority;           //  SUBMIT options, as on the wire
    double timeout;
    int64_t max_retries;        //  -1 = broker default
    bool chunk;
    size_t retry_off;           //  SUBMIT: msgpack retry_on array in arena
    size_t retry_len;           //  0 = none
} zj__item_t;

typedef struct zj__req zj__req_t;

//  One request to the broker. SUBMIT and FETCH carry items and coalesce;
//  the others are synchronous calls an API thread waits for.
struct zj__req {
    zj__req_t *next;            //  in the outbound queue, then in the I/O thread's lists
    zj__req_t *prev;            //  in the in-flight list
    zj_msg_type_t type;         //  SUBMIT, FETCH, STATUS, CANCEL, STATS or PING
    uint64_t id;                //  req on the wire: 0 until first sent, then kept for resends
    zj__item_t *items;          //  SUBMIT, FETCH: the tasks or tickets
    uint32_t nitems;
    uint32_t cap;
    uint8_t *arena;             //  SUBMIT: fn and args, kept until answered for a resend;
                                //  FETCH, CANCEL: NUL-separated tickets once sent
    size_t arena_len;
    size_t arena_cap;
    //  synchronous calls: the caller sleeps on cv (with the global lock)
    bool sync;                  //  a caller waits for this one
    bool done;                  //  answered or failed; the fields below are set
    bool abandoned;             //  the caller gave up; the I/O thread frees it
    pthread_cond_t cv;          //  signalled when done
    char ticket[ZJ_MAX_TICKET + 1];     //  STATUS, CANCEL: the ticket asked about
    zj_err_t err;               //  ZJ_OK or why it failed
    int state;                  //  STATUS, CANCEL: the answer (ZJ_STATE_*)
    char *json;                 //  STATS: the answer as JSON text; STATUS with
                                //  attempts: the attempt list as JSON; owned
    bool attempts;              //  STATUS: ask for the attempt history
};

//  Length of a client id: 16 random bytes in hex.
#define ZJ__CLIENT_ID_LEN 32

//  Where the I/O thread stands with the broker (client/link.c).
typedef enum {
    ZJ__LINK_CONNECTING = 0,    //  socket open, no answer on it yet
    ZJ__LINK_UP,                //  the broker answered on this socket
    ZJ__LINK_RECONNECTING,      //  lost after answering: new sockets until it answers again
} zj__link_t;

struct zj_client {
    char *endpoint;             //  the broker's client endpoint; owned
    zj_client_opts_t opts;      //  defaults filled in
    char id[ZJ__CLIENT_ID_LEN + 1];     //  random for the client's life: the SUBMIT
                                        //  client id and the socket's routing id
    //  Shared with API threads, under the global lock (future.h)
    zj__req_t *queue;           //  outbound requests, oldest first
    zj__req_t *queue_tail;
    bool stopping;              //  the I/O thread must fail everything and exit
    bool shut;                  //  zj_client_shutdown was called: no new submits
    bool cancel_all;            //  shutdown(cancel_futures): cancel what is pending
    size_t npending;            //  futures of this client not yet final
    pthread_cond_t idle_cv;     //  signalled when npending drops to 0
    //  The I/O thread's own state (client/io.c)
    pthread_t thread;           //  the I/O thread
    bool thread_started;        //  thread is joinable
    int wake_fd;                //  eventfd: written when the queue becomes non-empty
    void *ctx;                  //  private ZeroMQ context
    void *sock;                 //  the DEALER; only the I/O thread uses it once started
    void *monitor;              //  PAIR receiving the DEALER's disconnect events, or NULL
    bool curve;                 //  connect with CURVE: the keys below are set
    curvekeys_t keys;           //  ours and the broker's
    unsigned monitor_seq;       //  makes each monitor's inproc endpoint unique
    zj_enc_t *enc;              //  reused encoder
    zj__req_t *sendq;           //  taken from queue, not yet sent (socket full)
    zj__req_t *sendq_tail;
    zj__req_t *inflight;        //  sent, waiting for a reply; oldest first
    zj__req_t *inflight_tail;
    zj__tickets_t tickets;      //  ticket -> futures waiting for a RESULT
    uint64_t next_req;          //  next req id; never 0, never reused
    uint32_t submits_inflight;  //  SUBMITs sent and not yet answered
    bool cancelling;            //  cancel_all was acted upon
    //  The link to the broker (client/link.c); I/O thread only
    zj__link_t link;            //  see zj__link_t
    double silent_since;        //  last message from the broker, or when work began
    double last_ping;           //  when the last PING was sent
    bool had_work;              //  something waited for the broker at the last check
    double lost_at;             //  RECONNECTING: when the broker was lost
    double attempt_at;          //  RECONNECTING: when the current socket was made
    double backoff;             //  RECONNECTING: how long that socket may wait
    const char *lost_why;       //  RECONNECTING: how it was lost; static text
    atomic_uint losses;         //  times the broker was lost (read by tests)
    atomic_uint recoveries;     //  times a lost broker answered again (read by tests)
};

//  Wake the I/O thread (lock held or not).
void zj__client_wake (zj_client_t *self);
//  Append a request to the outbound queue and wake the I/O thread. Lock
//  held. Tasks coalesce into the tail SUBMIT without a new request, so
//  this wakes once per batch, not once per task.
void zj__client_enqueue_locked (zj_client_t *self, zj__req_t *req);
//  A future of this client became final (lock held).
void zj__client_on_settle (zj_client_t *self);
//  Submit with the chunk option (client/map.c). As zj_submit.
zj_future_t *zj__submit (zj_client_t *self, const char *fn, const void *args,
                         size_t args_len, const zj_task_opts_t *opts, bool chunk,
                         zj_err_t *err);
//  STATUS or CANCEL one ticket and wait up to timeout (negative: until the
//  reachability checks give up). Returns the state or -1 with *err set.
int zj__client_ticket_call (zj_client_t *self, zj_msg_type_t type, const char *ticket,
                            double timeout, zj_err_t *err);
double zj__client_connect_timeout (zj_client_t *self);

//  New request of `type`; sync ones get a condition variable. NULL on OOM.
zj__req_t *zj__req_new (zj_msg_type_t type, bool sync);
void zj__req_destroy (zj__req_t **self_p);
//  Copy bytes to the request's arena; returns their offset, or SIZE_MAX
//  on OOM.
size_t zj__req_append (zj__req_t *self, const void *data, size_t len);
//  Finish a request with err (lock held): wake the caller of a sync
//  request, or free an abandoned one. Non-sync requests are freed by
//  the caller of this function.
void zj__req_finish_locked (zj__req_t *self, zj_err_t err);
