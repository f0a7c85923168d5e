// SPDX-License-Identifier: MIT
//  msg - the zjob wire protocol ZJP/1 as a pure codec: message types,
//  zero-copy decoding with strict validation, and a reusable encoder.
//  No sockets, clock, files or czmq here. docs/protocol.md is the spec;
//  this header is its C form.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"

#define ZJ_PROTO_VERSION 1

//  Default codec limits; zjobd can lower or raise them by flag.
#define ZJ_MAX_FRAME_DEFAULT  (64u * 1024 * 1024)   //  bytes in one frame
#define ZJ_MAX_DEPTH          32                    //  nesting of containers
#define ZJ_MAX_TICKET         64                    //  bytes in a ticket
#define ZJ_MAX_FN             128                   //  bytes in a function name
#define ZJ_MAX_CLIENT         64                    //  bytes in a SUBMIT client id

//  Message types. The number travels on the wire; never renumber.
typedef enum {
    ZJ_MSG_SUBMIT = 1,          //  C->B  tasks to run
    ZJ_MSG_SUBMITTED = 2,       //  B->C  one ticket per task, in order
    ZJ_MSG_FETCH = 3,           //  C->B  send me RESULT for these tickets when final
    ZJ_MSG_STATUS = 4,          //  C->B  current state of these tickets
    ZJ_MSG_STATUS_REPLY = 5,    //  B->C  [ticket, state] pairs
    ZJ_MSG_CANCEL = 6,          //  C->B  cancel these tickets
    ZJ_MSG_CANCEL_REPLY = 7,    //  B->C  [ticket, state after the attempt] pairs
    ZJ_MSG_STATS = 8,           //  C->B  broker statistics, please
    ZJ_MSG_STATS_REPLY = 9,     //  B->C  one msgpack map
    ZJ_MSG_RESULT = 10,         //  B->C  final outcomes, pushed
    ZJ_MSG_ERROR = 11,          //  any   a request was refused or a frame was bad
    ZJ_MSG_PING = 12,           //  C->B  liveness probe; answered by PONG
    ZJ_MSG_PONG = 13,           //  B->C
    ZJ_MSG_RETRY = 14,          //  C->B  run these failed tickets again
    ZJ_MSG_RETRY_REPLY = 15,    //  B->C  [ticket, state after the attempt] pairs
    ZJ_MSG_READY = 20,          //  W->B  register functions and credit
    ZJ_MSG_TASKS = 21,          //  B->W  tasks to run (never more than credit)
    ZJ_MSG_DONE = 22,           //  W->B  outcomes of tasks; each frees one credit
    ZJ_MSG_HEARTBEAT = 23,      //  W<->B liveness
    ZJ_MSG_ABORT = 24,          //  B->W  stop running these tickets (cancel, timeout)
    ZJ_MSG_DISCONNECT = 25,     //  W<->B and B->C  the sender is going away
    ZJ_MSG_RETURN = 26,         //  W->B  tickets given back unstarted; frees credit
} zj_msg_type_t;

//  Task states as they travel on the wire. UNKNOWN and EXPIRED only
//  answer lookups; a task is never stored in them.
typedef enum {
    ZJ_STATE_QUEUED = 1,
    ZJ_STATE_RUNNING = 2,
    ZJ_STATE_DONE = 3,
    ZJ_STATE_FAILED = 4,
    ZJ_STATE_CANCELLED = 5,
    ZJ_STATE_UNKNOWN = 6,
    ZJ_STATE_EXPIRED = 7,
} zj_state_t;

//  "queued", "running", ... ; "invalid" for anything else. Static storage.
const char *zj_state_name (zj_state_t state);
//  True for DONE, FAILED and CANCELLED.
bool zj_state_is_final (zj_state_t state);

//  Views into a decoded frame. They borrow the frame's bytes and are
//  valid as long as the frame is. Strings are not NUL-terminated.
typedef struct {
    const char *ptr;            //  first byte, or NULL when absent
    size_t len;                 //  length in bytes
} zj_str_t;

typedef struct {
    const uint8_t *ptr;         //  one complete msgpack object
    size_t len;                 //  its encoded length
} zj_raw_t;

//  One task inside SUBMIT.
typedef struct {
    zj_str_t fn;                //  function name, 1..ZJ_MAX_FN bytes
    zj_raw_t args;              //  msgpack array of arguments
    int64_t priority;           //  higher runs first; default 0
    double timeout;             //  seconds the task may run; 0 = no limit
    int64_t max_retries;        //  -1 = broker default
    bool chunk;                 //  args is an array of argument arrays (map chunks)
    zj_raw_t retry_on;          //  array of error type strings whose raise is
                                //  retried within max_retries; {NULL, 0} = none
} zj_task_t;

//  One task inside TASKS (broker to worker).
typedef struct {
    zj_str_t ticket;            //  the task's ticket
    zj_str_t fn;                //  function to run
    zj_raw_t args;              //  msgpack array of arguments
    double timeout;             //  seconds the task may run; 0 = no limit
    bool chunk;                 //  run fn over each element; result is an array
                                //  of [ok, value-or-error] pairs
} zj_job_t;

//  A final outcome: an entry of RESULT (broker to client) or of DONE
//  (worker to broker, where state is DONE or FAILED only).
typedef struct {
    zj_str_t ticket;            //  whose outcome
    zj_state_t state;           //  DONE, FAILED, CANCELLED, UNKNOWN or EXPIRED
    zj_raw_t value;             //  DONE: the result, any msgpack object
    zj_str_t err_type;          //  FAILED: e.g. "ValueError"
    zj_str_t err_message;       //  FAILED: e.g. "x==2"
    zj_str_t err_traceback;     //  FAILED: remote details, may be empty
} zj_outcome_t;

//  A decoded message. Fixed fields are set by zj_msg_decode; list
//  entries are read one at a time with the zj_msg_next_* call that
//  matches the type. Borrows the frame; holds no heap memory.
typedef struct {
    zj_msg_type_t type;         //  what this is
    uint64_t req;               //  request id chosen by the requester; 0 = none
    uint32_t count;             //  entries in the list (tasks, tickets, outcomes...)
    //  SUBMIT
    zj_str_t client;            //  the submitter's id for idempotent resends, or
                                //  {NULL, 0} when absent
    //  READY
    zj_str_t name;              //  worker's self-chosen name (may be empty)
    zj_str_t host;              //  worker's host name (may be empty)
    int64_t pid;                //  worker's process id (0 when not given)
    double heartbeat;           //  worker's heartbeat interval, seconds (0 when not given)
    uint32_t credit;            //  tasks the worker may hold at once, >= 1
    bool has_held;              //  info had "held": the tickets the worker holds
    uint32_t nheld;             //  how many; read them with zj_msg_next_held
    //  STATUS
    bool want_attempts;         //  options {"attempts": true}: reply entries
                                //  carry each ticket's attempt history
    //  CANCEL
    bool keep_running;          //  options {"running": false}: cancel queued
                                //  tasks only (concurrent.futures semantics)
    //  ERROR
    zj_str_t err_code;          //  stable name, e.g. "QueueFull"
    zj_str_t err_message;       //  human text
    //  STATS_REPLY
    zj_raw_t stats;             //  one msgpack map
    //  private iteration state
    const uint8_t *cur;         //  next list entry
    const uint8_t *end;         //  end of frame
    uint32_t left;              //  entries not yet read
    const uint8_t *held_cur;    //  READY: next "held" ticket
    uint32_t held_left;         //  READY: "held" tickets not yet read
} zj_msg_t;

//  Decode and fully validate one frame: version, type, every field's type,
//  every list entry, string lengths, nesting depth (<= ZJ_MAX_DEPTH) and
//  container counts (never more than the bytes left). On success fills
//  *msg, whose views point into `data`. Returns ZJ_OK, ZJ_EVERSION (a
//  well-formed header with another version), ZJ_ETOOLARGE (size over
//  max_frame) or ZJ_EPROTO; on error *msg is unspecified and `why`, when
//  not NULL, gets a static string naming the first problem.
zj_err_t zj_msg_decode (const uint8_t *data, size_t size, size_t max_frame,
                        zj_msg_t *msg, const char **why);

//  Read the next list entry. Return false when the list is exhausted.
//  Call only the one that matches msg->type; the frame was validated, so
//  these cannot fail otherwise.
bool zj_msg_next_task (zj_msg_t *msg, zj_task_t *task);            //  SUBMIT
bool zj_msg_next_job (zj_msg_t *msg, zj_job_t *job);               //  TASKS
bool zj_msg_next_outcome (zj_msg_t *msg, zj_outcome_t *out);       //  RESULT, DONE
//  SUBMITTED, FETCH, STATUS, CANCEL, RETRY, ABORT, RETURN: a ticket each;
//  READY: a function name each.
bool zj_msg_next_str (zj_msg_t *msg, zj_str_t *str);
//  STATUS_REPLY, CANCEL_REPLY, RETRY_REPLY
bool zj_msg_next_state (zj_msg_t *msg, zj_str_t *ticket, zj_state_t *state);
//  STATUS_REPLY: the same, and the entry's 3rd element (the attempt
//  history, protocol 5.4) as raw msgpack, or {NULL, 0} when absent.
bool zj_msg_next_state_attempts (zj_msg_t *msg, zj_str_t *ticket, zj_state_t *state,
                                 zj_raw_t *attempts);
//  READY: the next ticket of info "held" (false when exhausted or absent).
bool zj_msg_next_held (zj_msg_t *msg, zj_str_t *ticket);

//  Validate that `data` holds exactly one msgpack object within the codec's
//  limits (depth, counts vs bytes). Used on payloads before unpacking.
zj_err_t zj_raw_check (const uint8_t *data, size_t size);
//  Encoded length of the msgpack object starting at data, or 0 when it is
//  not one complete valid object within size bytes.
size_t zj_raw_span (const uint8_t *data, size_t size);

//  ---------------------------------------------------------------------
//  Encoder: a growable buffer reused across messages, so the hot path
//  allocates nothing once it has warmed up.

typedef struct zj_enc zj_enc_t;

//  New empty encoder. Caller owns; free with zj_enc_destroy. NULL on OOM.
zj_enc_t *zj_enc_new (void);
//  Free the encoder; sets *self_p to NULL. Safe on NULL.
void zj_enc_destroy (zj_enc_t **self_p);
//  Forget the contents; keep the memory.
void zj_enc_reset (zj_enc_t *self);
//  The bytes encoded so far. Borrowed; valid until the next call.
const uint8_t *zj_enc_data (zj_enc_t *self);
size_t zj_enc_size (zj_enc_t *self);
//  Take the buffer: caller owns *data and frees it with free().
//  The encoder is left empty.
uint8_t *zj_enc_take (zj_enc_t *self, size_t *size);

//  Every message is [version, type, req, ...]. The *_begin calls reset the
//  encoder and write the header; the caller then writes exactly `count`
//  entries with the matching zj_enc_* entry call.
void zj_enc_simple (zj_enc_t *self, zj_msg_type_t type, uint64_t req);  //  PING, PONG, HEARTBEAT, DISCONNECT, STATS
void zj_enc_error (zj_enc_t *self, uint64_t req, zj_err_t code, const char *message);
//  SUBMIT: header; then exactly `count` zj_enc_task calls. `client` (1 to
//  ZJ_MAX_CLIENT printable ASCII bytes, NUL-terminated, copied) is the
//  sender's id that makes (client, req) idempotent; NULL leaves it out.
//  It travels after the tasks: the last zj_enc_task call writes it.
void zj_enc_submit_begin (zj_enc_t *self, uint64_t req, uint32_t count, const char *client);
void zj_enc_task (zj_enc_t *self, const zj_task_t *task);
//  SUBMITTED, FETCH, STATUS, CANCEL, RETRY, ABORT, RETURN
void zj_enc_tickets_begin (zj_enc_t *self, zj_msg_type_t type, uint64_t req, uint32_t count);
void zj_enc_str (zj_enc_t *self, const char *ptr, size_t len);
//  STATUS_REPLY, CANCEL_REPLY, RETRY_REPLY
void zj_enc_states_begin (zj_enc_t *self, zj_msg_type_t type, uint64_t req, uint32_t count);
void zj_enc_state (zj_enc_t *self, const char *ticket, size_t len, zj_state_t state);
//  STATUS with options {"attempts": true}: header; then exactly `count`
//  tickets with zj_enc_str; then zj_enc_status_attempts_end (the options).
void zj_enc_status_attempts_begin (zj_enc_t *self, uint64_t req, uint32_t count);
void zj_enc_status_attempts_end (zj_enc_t *self);
//  RESULT (req 0) and DONE (req 0)
void zj_enc_outcomes_begin (zj_enc_t *self, zj_msg_type_t type, uint32_t count);
void zj_enc_outcome (zj_enc_t *self, const zj_outcome_t *out);
//  TASKS
void zj_enc_jobs_begin (zj_enc_t *self, uint32_t count);
void zj_enc_job (zj_enc_t *self, const zj_job_t *job);
//  READY: header and info; then `count` function names with zj_enc_str.
//  heartbeat: the worker's heartbeat interval in seconds (0 = not sent); the
//  broker then heartbeats this worker at least that often.
void zj_enc_ready_begin (zj_enc_t *self, const char *name, const char *host,
                         int64_t pid, double heartbeat, uint32_t credit, uint32_t count);
//  The same with info "held": the `nheld` tickets in held[] that the worker
//  still holds (running, waiting, or finished with DONE not yet sent).
//  held NULL leaves the key out; held non-NULL with nheld 0 sends [].
void zj_enc_ready_held_begin (zj_enc_t *self, const char *name, const char *host,
                              int64_t pid, double heartbeat, uint32_t credit,
                              uint32_t count, const zj_str_t *held, uint32_t nheld);
//  STATS_REPLY: header; then exactly one map built with the generic calls.
void zj_enc_stats_begin (zj_enc_t *self, uint64_t req);

//  Generic msgpack building, for values and the stats map.
void zj_enc_array (zj_enc_t *self, uint32_t count);
void zj_enc_map (zj_enc_t *self, uint32_t count);
void zj_enc_cstr (zj_enc_t *self, const char *s);    //  NUL-terminated
void zj_enc_int (zj_enc_t *self, int64_t v);
void zj_enc_uint (zj_enc_t *self, uint64_t v);
void zj_enc_double (zj_enc_t *self, double v);
void zj_enc_bool (zj_enc_t *self, bool v);
void zj_enc_nil (zj_enc_t *self);
//  Append bytes that already are one msgpack object (copied).
void zj_enc_raw (zj_enc_t *self, const void *data, size_t len);
//  True when an allocation failed since the last reset; the contents
//  are then unusable.
bool zj_enc_failed (zj_enc_t *self);
