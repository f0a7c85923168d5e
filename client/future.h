// SPDX-License-Identifier: MIT
//  future - the zj_future_t state machine shared by libzjob's modules:
//  outcome storage, done-callbacks, and the waiter registrations that
//  zj_future_result, zj_wait and zj_as_completed sleep on. No sockets:
//  the I/O thread (client/io.c) and unit tests settle futures through
//  the zj__future_settle_* calls. Internal to libzjob; not installed.
#pragma once
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zjob.h"
#include "msg.h"

//  One lock guards the state of every future, waiter and client queue in
//  the process. Futures outlive their client and zj_wait may mix futures
//  of several clients; a single lock makes both trivially safe, and the
//  I/O thread takes it once per message, not once per task.
void zj__lock (void);
void zj__unlock (void);
//  Initialise a condition variable that measures timeouts on
//  CLOCK_MONOTONIC. Use it only with the global lock.
void zj__cond_init (pthread_cond_t *cv);
//  Wait on cv (lock held) until signalled or until `deadline` (NULL =
//  forever). Returns false when the deadline passed.
bool zj__cond_wait (pthread_cond_t *cv, const struct timespec *deadline);
//  Deadline `timeout` seconds from now on CLOCK_MONOTONIC. Returns NULL
//  (wait forever) when timeout is negative, else ts.
const struct timespec *zj__deadline (double timeout, struct timespec *ts);
//  Seconds on CLOCK_MONOTONIC.
double zj__now (void);

struct zj_error {
    char *type;                 //  e.g. "ValueError"; owned, NUL-terminated
    char *message;              //  e.g. "x==2"; owned
    char *traceback;            //  remote details; owned, may be ""
};

//  Set the three strings from (ptr, len) views; NULL views become "".
//  Frees what was there. Returns false on OOM (the error is then empty).
bool zj__error_set (zj_error_t *self, const char *type, size_t type_len,
                    const char *message, size_t message_len,
                    const char *traceback, size_t traceback_len);
//  Free the strings; the struct itself is the caller's.
void zj__error_clear (zj_error_t *self);

typedef struct zj__waiter zj__waiter_t;

//  A waiter's registration on one future. Settling the future detaches
//  every node, records it in its waiter and wakes the waiter's thread.
typedef struct zj__wnode {
    struct zj__wnode *prev;     //  in the future's list
    struct zj__wnode *next;
    zj__waiter_t *waiter;       //  who to wake
    zj_future_t *future;        //  where it is linked (valid while linked)
    size_t index;               //  position of the future in the waiter's set
    size_t weight;              //  added to waiter->weight_final on settle
    bool linked;                //  still in the future's list
} zj__wnode_t;

//  One sleeping thread (zj_future_result, zj_wait, an iterator). Each has
//  its own condition variable so that settling a future wakes only the
//  threads that wait for it.
struct zj__waiter {
    pthread_cond_t cv;          //  signalled on every settle of a registered future
    size_t *ready;              //  indices of settled futures, in settle order; may be NULL
    size_t nready;              //  entries written to ready
    size_t nsettled;            //  registered futures settled so far
    size_t nfailed;             //  ... of which failed (not done, not cancelled)
    size_t weight_final;        //  sum of the settled nodes' weights
};

//  Initialise with room for `ready_cap` indices (0: do not record).
//  Returns false on OOM.
bool zj__waiter_init (zj__waiter_t *self, size_t ready_cap);
void zj__waiter_fini (zj__waiter_t *self);
//  Register node on future f (lock held; f must not be final).
void zj__wnode_link (zj__wnode_t *node, zj__waiter_t *waiter, zj_future_t *f,
                     size_t index, size_t weight);
//  Remove node when still registered (lock held).
void zj__wnode_unlink (zj__wnode_t *node);

typedef struct zj__cbnode {
    struct zj__cbnode *next;    //  next callback, in registration order
    zj_done_cb *cb;             //  the user's function
    void *arg;                  //  its argument
} zj__cbnode_t;

struct zj_future {
    atomic_int refs;            //  the caller's reference + the settler's while pending
    zj_client_t *client;        //  borrowed, valid while pending; NULL for detached futures
    zj_future_state_t state;    //  under the lock
    zj_err_t code;              //  final code: ZJ_OK when done
    bool has_ticket;            //  ticket[] is set; never changes afterwards
    char ticket[ZJ_MAX_TICKET + 1];     //  NUL-terminated
    uint8_t *value;             //  DONE: owned copy of the result (msgpack)
    size_t value_len;           //  its length
    zj_error_t error;           //  FAILED: owned strings
    zj__cbnode_t *cbs;          //  callbacks to run at settle, then the ones to run now
    zj__wnode_t *waiters;       //  registered waiters (under the lock)
    zj_future_t *tnext;         //  I/O thread only: next in the ticket table chain
    bool in_table;              //  I/O thread only: linked in the ticket table
    bool refetched;             //  I/O thread only: fetched again after a reconnect,
                                //  so "unknown" means the broker lost the task
};

//  A pending future with two references: the caller's and the settler's
//  (dropped by zj__future_release). client may be NULL (tests). NULL on OOM.
zj_future_t *zj__future_new (zj_client_t *client);
//  True for DONE, FAILED and CANCELLED (lock held).
bool zj__future_final (const zj_future_t *self);
//  Record the ticket and wake zj_future_wait_ticket (lock held).
void zj__future_set_ticket (zj_future_t *self, const char *ticket, size_t len);

//  Settle from a broker outcome (RESULT entry); lock held. Returns false
//  when the future was already final (nothing changes). After unlocking,
//  the settler calls zj__future_release to run the callbacks.
bool zj__future_settle_outcome (zj_future_t *self, const zj_outcome_t *out);
//  Settle with a local code: ZJ_ECANCELLED cancels; any other code fails
//  the future with an error of type zj_err_name(code) and `message`
//  (may be NULL: zj_strerror(code)). Lock held. Returns false when final.
bool zj__future_settle_error (zj_future_t *self, zj_err_t code, const char *message);
//  Settle as done with a copy of value (lock held). Tests use it.
bool zj__future_settle_value (zj_future_t *self, const void *value, size_t len);
//  Run the callbacks collected by the settle call and drop the settler's
//  reference. Call without the lock, exactly once per future, after it
//  was settled.
void zj__future_release (zj_future_t *self);
//  lock + settle_error + unlock + release, for a settler holding no lock.
void zj__future_complete (zj_future_t *self, zj_err_t code, const char *message);
//  Drop one reference; frees the future at zero.
void zj__future_unref (zj_future_t *self);
//  Wait (lock held) until final (or, with ticket_enough, until the ticket
//  is known) or the deadline. Returns whether that happened.
bool zj__future_wait (zj_future_t *self, const struct timespec *deadline, bool ticket_enough);

//  Futures settled under the lock, to release (callbacks run, settler's
//  reference dropped) after unlocking, in settle order. Linked through
//  future->tnext, which is free once a future has left the ticket table.
typedef struct {
    zj_future_t *head;
    zj_future_t *tail;
} zj__chain_t;

//  Append a future that was just settled (lock held).
void zj__chain_push (zj__chain_t *self, zj_future_t *f);
//  zj__future_settle_error, and push when it settled (lock held).
void zj__chain_settle (zj__chain_t *self, zj_future_t *f, zj_err_t code, const char *message);
//  Release every future in the chain, then empty it. Call without the lock.
void zj__chain_release (zj__chain_t *self);
