// SPDX-License-Identifier: MIT
//  zjob.h - libzjob, the C futures API of zjob. It mirrors Python's
//  concurrent.futures: submit -> future; map; as_completed; wait;
//  result(timeout), exception, done, running, cancelled, cancel,
//  add_done_callback; shutdown.
//
//  Threading: a client owns one background I/O thread that talks to the
//  broker. Every call here is thread-safe. Done-callbacks run on that I/O
//  thread (or at once on the caller's thread when the future is already
//  done), exactly once, and must not block.
//
//  Values: arguments and results are msgpack objects. The *_json calls
//  take and give JSON text instead.
//
//  Timeouts are in seconds as doubles; a negative timeout waits forever.
//
//  Logs: rare events (the broker lost, a malformed frame) are written to
//  stderr as `zjob: LEVEL EVENT key=value...` lines; warnings and errors
//  only, unless $ZJOB_LOG_LEVEL (error, warn, info, debug) says otherwise
//  when the first client is made.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ZJ_EXPORT __attribute__ ((visibility ("default")))
#else
#define ZJ_EXPORT
#endif

#include "err.h"

typedef struct zj_client zj_client_t;
typedef struct zj_future zj_future_t;
typedef struct zj_error zj_error_t;
typedef struct zj_map zj_map_t;
typedef struct zj_iter zj_iter_t;

//  Future states as the client sees them.
typedef enum {
    ZJ_FUTURE_PENDING = 0,      //  submitted, not final (queued or running)
    ZJ_FUTURE_RUNNING,          //  known to be running (see zj_future_running)
    ZJ_FUTURE_DONE,             //  has a result
    ZJ_FUTURE_FAILED,           //  has an error (zj_future_exception)
    ZJ_FUTURE_CANCELLED,        //  cancelled
} zj_future_state_t;

//  ---------------------------------------------------------------------
//  Client (the executor)

typedef struct {
    double connect_timeout;     //  seconds to wait for the broker's first answer
                                //  before failing with ZJ_EUNREACHABLE; default 5
    double heartbeat;           //  seconds between PINGs while waiting; default 1
    int liveness;               //  missed PONGs before the broker counts as lost; default 5
    uint32_t batch;             //  most tasks in one SUBMIT; default 1000
    double reconnect_timeout;   //  seconds to keep reconnecting to a lost broker before
                                //  pending futures fail with ZJ_EBROKERLOST; default 60
    const char *curve_secret_file;  //  this client's secret certificate (NAME.key_secret
                                //  from `zjob keygen NAME`), or NULL for no CURVE; read
                                //  by zj_client_new, which fails with ZJ_EINVAL when it
                                //  or broker_key_file is unreadable or only one is given
    const char *broker_key_file;    //  the broker's public certificate (NAME.key); with
                                //  both set, every byte to and from the broker is
                                //  encrypted and a broker without the matching secret
                                //  key is unreachable (docs/security.md)
} zj_client_opts_t;

//  Connect to the broker's client endpoint (e.g. "tcp://127.0.0.1:5555").
//  Connecting never blocks; an unreachable broker shows up as
//  ZJ_EUNREACHABLE on the first call that needs an answer. opts may be
//  NULL for defaults. Caller owns; free with zj_client_destroy. Returns
//  NULL with *err set (ZJ_EINVAL for a bad endpoint, ZJ_ENOMEM).
//
//  A broker that answered once and is then lost (silent for liveness x
//  heartbeat, or it sent DISCONNECT) does not fail the futures: the
//  client reconnects (backoff 100 ms doubling to 2 s) for up to
//  reconnect_timeout, then asks again for the result of every pending
//  future and resends every SUBMIT that was not acknowledged. Each SUBMIT
//  carries the client's random id and a request id, so a resend never
//  creates a second task. A task that the restarted broker does not know
//  (it kept no state) fails with ZJ_EBROKERLOST.
ZJ_EXPORT zj_client_t *zj_client_new (const char *endpoint,
                                      const zj_client_opts_t *opts, zj_err_t *err);
//  shutdown(wait=true, cancel_futures=false), then free. Futures still
//  held by the caller stay valid (and are failed with ZJ_ESHUTDOWN if not
//  final). When zj_client_shutdown was called before, destroy does not
//  wait again: shutdown(false, false) then destroy leaves tasks running
//  at the broker and returns at once. Sets *self_p to NULL. Safe on NULL.
//  Must not be called from a done-callback.
ZJ_EXPORT void zj_client_destroy (zj_client_t **self_p);
//  Like Executor.shutdown: no new submits are accepted (ZJ_ESHUTDOWN);
//  with cancel_futures, pending futures are cancelled (queued tasks at
//  the broker too); with wait, blocks until every future is final.
ZJ_EXPORT void zj_client_shutdown (zj_client_t *self, bool wait, bool cancel_futures);
//  Ask the broker whether it is there. ZJ_OK, ZJ_EUNREACHABLE.
ZJ_EXPORT zj_err_t zj_client_ping (zj_client_t *self, double timeout);

//  Per-task options; zero-initialise, then set what you need.
typedef struct {
    int64_t priority;           //  higher runs first; default 0
    double timeout;             //  seconds the task may run; 0 = no limit
    int64_t max_retries;        //  retries on worker loss: 0 = broker default,
                                //  negative = none, positive = that many
    const char *const *retry_on;    //  error types (NUL-terminated) whose
    size_t nretry_on;           //  raise is retried too, within max_retries
} zj_task_opts_t;

//  ---------------------------------------------------------------------
//  Submitting

//  Submit fn(args...). args is a msgpack array (copied). Returns a future
//  the caller owns (free with zj_future_destroy), or NULL with *err set
//  (ZJ_ESHUTDOWN, ZJ_EINVAL, ZJ_ENOMEM). Does not wait for the broker:
//  a refusal (QueueFull, TooLarge, unreachable) arrives as the future's
//  error. Submits from one thread are batched automatically.
ZJ_EXPORT zj_future_t *zj_submit (zj_client_t *self, const char *fn,
                                  const void *args, size_t args_len,
                                  const zj_task_opts_t *opts, zj_err_t *err);
//  Same, with args as JSON text: a JSON array is the argument list.
ZJ_EXPORT zj_future_t *zj_submit_json (zj_client_t *self, const char *fn,
                                       const char *args_json,
                                       const zj_task_opts_t *opts, zj_err_t *err);
//  A future for an existing ticket, submitted by anyone. Its outcome is
//  fetched from the broker; an unknown ticket fails with ZJ_ENOTICKET,
//  an expired one with ZJ_EEXPIRED. Caller owns the future.
ZJ_EXPORT zj_future_t *zj_fetch (zj_client_t *self, const char *ticket, zj_err_t *err);

//  ---------------------------------------------------------------------
//  Futures

//  Drop the caller's reference. The task is not cancelled. Sets *self_p
//  to NULL. Safe on NULL.
ZJ_EXPORT void zj_future_destroy (zj_future_t **self_p);
//  The ticket, or NULL while the broker has not yet answered the submit.
//  Borrowed; valid while the future is.
ZJ_EXPORT const char *zj_future_ticket (zj_future_t *self);
//  Waits up to timeout for the ticket (the broker's SUBMITTED).
//  Borrowed; NULL with *err set on timeout or refusal.
ZJ_EXPORT const char *zj_future_wait_ticket (zj_future_t *self, double timeout, zj_err_t *err);
ZJ_EXPORT zj_future_state_t zj_future_state (zj_future_t *self);
//  True when final: done, failed or cancelled.
ZJ_EXPORT bool zj_future_done (zj_future_t *self);
ZJ_EXPORT bool zj_future_cancelled (zj_future_t *self);
//  Asks the broker (bounded by the client's connect_timeout) whether the
//  task is running now.
ZJ_EXPORT bool zj_future_running (zj_future_t *self);
//  Cancel. ZJ_OK when the future is now cancelled (it was queued);
//  ZJ_ETOOLATE when it is running or final. May ask the broker.
ZJ_EXPORT zj_err_t zj_future_cancel (zj_future_t *self);

//  Wait up to timeout for the outcome. ZJ_OK: *value/*len (msgpack,
//  borrowed; valid while the future is) hold the result; either may be
//  NULL. ZJ_ETASK: the task failed, see zj_future_exception.
//  ZJ_ECANCELLED, ZJ_ETIMEDOUT (the task goes on), ZJ_ENOTICKET,
//  ZJ_EEXPIRED, ZJ_EUNREACHABLE, ZJ_EBROKERLOST, ZJ_EQUEUEFULL,
//  ZJ_ETOOLARGE, ZJ_ESHUTDOWN.
ZJ_EXPORT zj_err_t zj_future_result (zj_future_t *self, double timeout,
                                     const uint8_t **value, size_t *len);
//  Same; the result as JSON text. Caller owns *json; free with free().
ZJ_EXPORT zj_err_t zj_future_result_json (zj_future_t *self, double timeout, char **json);
//  Wait up to timeout; the task's error when it failed, else NULL.
//  Borrowed; valid while the future is. *err (may be NULL) is as
//  zj_future_result returns.
ZJ_EXPORT const zj_error_t *zj_future_exception (zj_future_t *self, double timeout,
                                                 zj_err_t *err);
//  The future's error code once final (ZJ_OK when done).
ZJ_EXPORT zj_err_t zj_future_code (zj_future_t *self);

//  Called once when the future becomes final; at once, on the caller's
//  thread, when it already is. The future is borrowed for the call.
typedef void (zj_done_cb) (zj_future_t *future, void *arg);
ZJ_EXPORT zj_err_t zj_future_add_done_callback (zj_future_t *self, zj_done_cb *cb, void *arg);

//  Errors carried by failed tasks (remote or local, such as WorkerLost).
//  All strings borrowed; valid while the owning future is.
ZJ_EXPORT const char *zj_error_type (const zj_error_t *self);       //  "ValueError"
ZJ_EXPORT const char *zj_error_message (const zj_error_t *self);    //  "x==2"
ZJ_EXPORT const char *zj_error_traceback (const zj_error_t *self);  //  may be ""

//  ---------------------------------------------------------------------
//  Waiting on many

typedef enum {
    ZJ_FIRST_COMPLETED = 0,
    ZJ_FIRST_EXCEPTION = 1,
    ZJ_ALL_COMPLETED = 2,
} zj_return_when_t;

//  Like concurrent.futures.wait: blocks until the condition holds or the
//  timeout passes. done[i] is set true for each final future (done may
//  be NULL). Returns the number of final futures.
ZJ_EXPORT size_t zj_wait (zj_future_t **futures, size_t count, zj_return_when_t when,
                          double timeout, bool *done);

//  Like as_completed: an iterator that yields each future as it becomes
//  final. The futures are borrowed and must outlive the iterator.
//  Caller owns the iterator; free with zj_iter_destroy.
ZJ_EXPORT zj_iter_t *zj_as_completed (zj_future_t **futures, size_t count);
//  Next final future (borrowed), NULL when all were yielded (*err ZJ_OK)
//  or on timeout (*err ZJ_ETIMEDOUT; the timeout counts from this call).
ZJ_EXPORT zj_future_t *zj_iter_next (zj_iter_t *self, double timeout, zj_err_t *err);
ZJ_EXPORT void zj_iter_destroy (zj_iter_t **self_p);

//  ---------------------------------------------------------------------
//  Map: fn over many argument lists, chunksize items per task, results
//  in input order (or as completed when unordered).

//  Start a map. items[i] is a msgpack array of arguments (copied).
//  chunksize >= 1. Caller owns; free with zj_map_destroy (which does not
//  cancel the tasks).
ZJ_EXPORT zj_map_t *zj_map_new (zj_client_t *self, const char *fn,
                                const uint8_t *const *items, const size_t *lens,
                                size_t count, size_t chunksize, bool ordered,
                                const zj_task_opts_t *opts, zj_err_t *err);
//  Next result. Returns ZJ_OK with *index set and *value/*len (borrowed
//  until the next call) holding the result; ZJ_ETASK with *error set for
//  an item that failed (the map goes on); ZJ_ETIMEDOUT; ZJ_ESHUTDOWN at
//  the end (no more items; *index untouched); or a broker error for the
//  item. Items come in input order unless ordered was false.
ZJ_EXPORT zj_err_t zj_map_next (zj_map_t *self, double timeout, size_t *index,
                                const uint8_t **value, size_t *len,
                                const zj_error_t **error);
//  Items finished so far, and in all.
ZJ_EXPORT size_t zj_map_done_count (zj_map_t *self);
ZJ_EXPORT size_t zj_map_count (zj_map_t *self);
ZJ_EXPORT void zj_map_destroy (zj_map_t **self_p);

//  ---------------------------------------------------------------------
//  Tickets and the broker, without futures.

//  State of a ticket at the broker (ZJ_STATE_* numbers from
//  docs/protocol.md: 1 queued ... 7 expired), or -1 with *err set.
ZJ_EXPORT int zj_client_status (zj_client_t *self, const char *ticket, zj_err_t *err);
//  The same, and the ticket's attempt history as JSON text: an array of
//  {"n","host","pid","start","end","outcome","error"} (protocol 5.4).
//  *attempts is caller-owned (free()); NULL when -1 is returned.
ZJ_EXPORT int zj_client_status_attempts (zj_client_t *self, const char *ticket,
                                         char **attempts, zj_err_t *err);
//  Cancel by ticket: the state after the attempt (5 when cancelled), or
//  -1 with *err set.
ZJ_EXPORT int zj_client_cancel (zj_client_t *self, const char *ticket, zj_err_t *err);
//  Run a failed task again (RETRY, protocol 5.15): same ticket, same args
//  and options, its history kept and its retries renewed. Returns the
//  state after the attempt: 1 (queued) when it was queued again, the
//  unchanged state otherwise (2 running, 3 done, 4 a failed task the
//  broker kept no args for, 5 cancelled, 6 unknown, 7 expired; 1 also
//  when it was queued already), or -1 with *err set. zj_fetch gives a
//  future for its new outcome.
ZJ_EXPORT int zj_client_retry (zj_client_t *self, const char *ticket, zj_err_t *err);
//  Broker statistics as JSON text. Caller owns; free with free().
ZJ_EXPORT char *zj_client_stats_json (zj_client_t *self, zj_err_t *err);

//  Re-exported from proto/err.h for convenience.
ZJ_EXPORT const char *zj_client_err_name (zj_err_t err);
ZJ_EXPORT const char *zj_client_strerror (zj_err_t err);

#ifdef __cplusplus
}
#endif
