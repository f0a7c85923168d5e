// SPDX-License-Identifier: MIT
//  serve - the pool of task processes; see serve.h. A slot owns at most
//  one process (taskproc.c) and one call; it forgets a process the moment
//  it kills it. Calls wait in one FIFO for a slot whose process has said
//  hello and runs nothing.
#include "serve.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "framing.h"
#include "log.h"
#include "supervisor.h"
#include "taskproc.h"

typedef struct s_slot s_slot_t;

struct serve_call {
    serve_call_t *next;         //  queue link while queued
    serve_t *owner;             //  the pool
    s_slot_t *slot;             //  slot running it, or NULL while queued
    uint64_t id;                //  task id on the pipe, once started
    zj_str_t fn;                //  borrowed from the caller
    zj_raw_t args;              //  borrowed from the caller
    uint32_t chunk;             //  calls in a whole-chunk call, 0 for one call
    serve_done_fn *done;        //  outcome sink
    void *arg;                  //  for done
};

struct s_slot {
    serve_t *owner;             //  the pool
    uint32_t index;             //  0..slots-1
    taskproc_t *proc;           //  current process, or NULL while a restart waits
    bool ready;                 //  the process said hello
    bool chunks;                //  its hello offered the "chunk" feature
    serve_call_t *call;         //  call running on it, or NULL
    uv_timer_t restart;         //  pending start
    uint64_t backoff_ms;        //  last restart delay after a failure; 0 = none yet
    uint64_t started;           //  loop time of the last spawn
};

struct serve {
    uv_loop_t *loop;            //  borrowed
    serve_spec_t spec;          //  strings borrowed
    serve_change_fn *changed;   //  names learnt or changed
    void *changed_arg;          //  for changed
    s_slot_t *slots;            //  spec.slots entries
    serve_call_t *head;         //  queued calls, FIFO
    serve_call_t *tail;         //  last queued
    char **names;               //  functions of the last hello; owned
    size_t name_count;          //  entries in names
    bool chunks;                //  the last hello offered whole chunks
    uint64_t next_id;           //  last task id used
    int open;                   //  restart timers not yet closed (after destroy)
    bool destroyed;             //  serve_destroy ran; freed when open reaches 0
};

static void s_spawn (s_slot_t *slot);
static void s_dispatch (serve_t *self);

//  ---------------------------------------------------------------------
//  Slots

static bool
s_slot_idle (const s_slot_t *slot)
{
    return slot->proc && slot->ready && !slot->call;
}

static void
s_on_restart (uv_timer_t *timer)
{
    s_slot_t *slot = timer->data;
    if (!slot->owner->destroyed && !slot->proc)
        s_spawn (slot);
}

//  Start a new process for the slot after `delay_ms`.
static void
s_schedule (s_slot_t *slot, uint64_t delay_ms)
{
    if (!slot->owner->destroyed)
        uv_timer_start (&slot->restart, s_on_restart, delay_ms, 0);
}

//  Restart after a failure: the delay grows while processes die young.
static void
s_schedule_backoff (s_slot_t *slot)
{
    uint64_t uptime = uv_now (slot->owner->loop) - slot->started;
    slot->backoff_ms = supervisor_backoff (slot->backoff_ms, uptime);
    log_warn ("restarting task process", "slot=%u delay_ms=%llu", (unsigned) slot->index,
              (unsigned long long) slot->backoff_ms);
    s_schedule (slot, slot->backoff_ms);
}

//  Forget the slot's process and kill it (unless it ended). The running
//  call, if any, is the caller's to settle.
static void
s_detach (s_slot_t *slot)
{
    taskproc_kill (&slot->proc);
    slot->call = NULL;
    slot->ready = false;
}

static void
s_complete (serve_call_t *call, const outcome_t *out)
{
    serve_done_fn *done = call->done;
    void *arg = call->arg;
    free (call);
    done (out, arg);
}

//  No process could be started: fail what waits, rather than let it
//  wait for a command that may never run.
static void
s_start_failed (serve_t *self, const char *message)
{
    for (uint32_t i = 0; i < self->spec.slots; i++)
        if (self->slots[i].proc && self->slots[i].ready)
            return;
    while (self->head) {
        serve_call_t *call = self->head;
        self->head = call->next;
        if (!self->head)
            self->tail = NULL;
        outcome_t out;
        outcome_set_error (&out, "ProcessExited", message);
        s_complete (call, &out);
    }
}

//  The process broke the protocol, or sent nothing in time: kill it,
//  fail its call, restart with backoff.
static void
s_reject (s_slot_t *slot, const char *type, const char *why)
{
    serve_t *self = slot->owner;
    serve_call_t *call = slot->call;
    bool starting = !slot->ready;
    log_warn ("task process misbehaved", "slot=%u pid=%d error=%s why=\"%s\" action=restart",
              (unsigned) slot->index, taskproc_pid (slot->proc), type, why);
    s_detach (slot);
    s_schedule_backoff (slot);
    char message[400];
    snprintf (message, sizeof message, "task process (--serve) %s; it was restarted", why);
    if (call) {
        outcome_t out;
        outcome_set_error (&out, type, message);
        s_complete (call, &out);
    }
    if (starting)
        s_start_failed (self, message);
}

//  taskproc `ended`: the process ended on its own (crash, exit, closed
//  stdout). The running call fails with the exit status and stderr tail.
static void
s_on_ended (taskproc_t *proc, void *arg)
{
    s_slot_t *slot = arg;
    serve_t *self = slot->owner;
    serve_call_t *call = slot->call;
    bool starting = !slot->ready;
    int64_t status;
    int term_signal;
    size_t tail_len;
    taskproc_status (proc, &status, &term_signal);
    const char *tail = taskproc_tail (proc, &tail_len);
    char message[200];
    if (term_signal)
        snprintf (message, sizeof message, "task process (--serve) killed by signal %d%s",
                  term_signal, starting ? " before its hello" : "");
    else
        snprintf (message, sizeof message, "task process (--serve) exited with status %lld%s",
                  (long long) status, starting ? " before its hello" : "");
    //  The tail's last line says why, most often (a Python traceback).
    size_t end = tail_len, start;
    while (end > 0 && (tail[end - 1] == '\n' || tail[end - 1] == '\r'))
        end--;
    start = end;
    while (start > 0 && tail[start - 1] != '\n')
        start--;
    //  Dying before the hello is a broken command; later, a crash.
    log_emit (starting ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "task process exited",
              "slot=%u pid=%d status=%lld signal=%d running=%s last=\"%.*s\"",
              (unsigned) slot->index, taskproc_pid (proc), (long long) status, term_signal,
              call ? "yes" : "no", (int) (end - start > 300 ? 300 : end - start), tail + start);
    s_schedule_backoff (slot);
    //  The tail stays readable until the process's handles have closed,
    //  which is on a later loop turn.
    s_detach (slot);
    if (call) {
        outcome_t out;
        outcome_set_error (&out, "ProcessExited", message);
        out.err_traceback.ptr = tail;
        out.err_traceback.len = tail_len;
        s_complete (call, &out);
    }
    if (starting)
        s_start_failed (self, message);
}

//  taskproc `deadline`: no hello in time.
static void
s_on_deadline (taskproc_t *proc, void *arg)
{
    char why[80];
    snprintf (why, sizeof why, "sent no hello within %d s", SERVE_HELLO_MS / 1000);
    s_reject (arg, "ProtocolError", why);
}

//  taskproc `bad_length`.
static void
s_on_bad_length (taskproc_t *proc, size_t len, void *arg)
{
    s_slot_t *slot = arg;
    char why[120];
    snprintf (why, sizeof why, "sent a frame of %zu bytes; frames are 1 to %zu bytes",
              len, slot->owner->spec.max_frame);
    s_reject (slot, len ? "TooLarge" : "ProtocolError", why);
}

//  ---------------------------------------------------------------------
//  Calls

static void
s_start_call (s_slot_t *slot, serve_call_t *call)
{
    serve_t *self = slot->owner;
    call->slot = slot;
    call->id = ++self->next_id;
    slot->call = call;
    if (call->chunk && !slot->chunks) {
        //  Only when a process restarted with other code since the caller
        //  asked serve_chunks.
        slot->call = NULL;
        outcome_t out;
        outcome_set_error (&out, "ProtocolError",
                           "this task process does not take whole chunks; try again");
        s_complete (call, &out);
        return;
    }
    zj_enc_t *enc = taskproc_enc (slot->proc);
    framing_encode_task (enc, call->id, call->fn, call->args, call->chunk > 0);
    if (zj_enc_failed (enc)) {
        slot->call = NULL;
        outcome_t out;
        outcome_set_error (&out, "OutOfMemory", "worker is out of memory");
        s_complete (call, &out);
        return;
    }
    taskproc_send (slot->proc);
}

static void
s_dispatch (serve_t *self)
{
    for (uint32_t i = 0; i < self->spec.slots && self->head; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!s_slot_idle (slot))
            continue;
        serve_call_t *call = self->head;
        self->head = call->next;
        if (!self->head)
            self->tail = NULL;
        call->next = NULL;
        s_start_call (slot, call);
    }
}

//  ---------------------------------------------------------------------
//  Frames from a process

static bool
s_names_equal (serve_t *self, framing_msg_t msg)
{
    if (msg.name_count != self->name_count)
        return false;
    zj_str_t name;
    for (size_t i = 0; framing_next_name (&msg, &name); i++)
        if (strlen (self->names[i]) != name.len || memcmp (self->names[i], name.ptr, name.len))
            return false;
    return true;
}

//  Take the names of a hello; true when they differ from the last ones.
static bool
s_learn_names (serve_t *self, framing_msg_t *msg)
{
    if (s_names_equal (self, *msg))
        return false;
    char **names = calloc (msg->name_count, sizeof *names);
    size_t count = 0;
    zj_str_t name;
    while (names && framing_next_name (msg, &name)) {
        names[count] = strndup (name.ptr, name.len);
        if (!names[count])
            break;
        count++;
    }
    //  framing_next_name counts down: names left over mean strndup failed.
    if (!names || msg->name_count > 0) {
        for (size_t i = 0; i < count; i++)
            free (names[i]);
        free (names);
        log_error ("out of memory", "what=function-names");
        return false;
    }
    for (size_t i = 0; i < self->name_count; i++)
        free (self->names[i]);
    free (self->names);
    self->names = names;
    self->name_count = count;
    return true;
}

static void
s_on_hello (s_slot_t *slot, framing_msg_t *msg)
{
    serve_t *self = slot->owner;
    char text[120];
    if (msg->kind != FRAMING_HELLO) {
        s_reject (slot, "ProtocolError", "sent a result before its hello");
        return;
    }
    if (msg->version != FRAMING_VERSION) {
        snprintf (text, sizeof text, "speaks pipe protocol version %llu; this worker speaks %d",
                  (unsigned long long) msg->version, FRAMING_VERSION);
        s_reject (slot, "ProtocolError", text);
        return;
    }
    taskproc_deadline (slot->proc, 0);
    slot->ready = true;
    slot->chunks = msg->chunks;
    self->chunks = msg->chunks;
    log_info ("task process ready", "slot=%u pid=%d functions=%u chunks=%s",
              (unsigned) slot->index, taskproc_pid (slot->proc), (unsigned) msg->name_count,
              msg->chunks ? "yes" : "no");
    if (s_learn_names (self, msg) && self->changed)
        self->changed (self->changed_arg);
    s_dispatch (self);
}

//  taskproc `frame`.
static void
s_on_frame (taskproc_t *proc, const uint8_t *body, size_t len, void *arg)
{
    s_slot_t *slot = arg;
    serve_t *self = slot->owner;
    framing_msg_t msg;
    const char *why = NULL;
    char text[200];
    if (!framing_parse (body, len, &msg, &why)) {
        snprintf (text, sizeof text, "sent a malformed frame (%s)", why);
        s_reject (slot, "ProtocolError", text);
        return;
    }
    if (!slot->ready) {
        s_on_hello (slot, &msg);
        return;
    }
    if (msg.kind == FRAMING_HELLO) {
        s_reject (slot, "ProtocolError", "sent a second hello");
        return;
    }
    serve_call_t *call = slot->call;
    if (!call || msg.id != call->id) {
        snprintf (text, sizeof text, "answered task id %llu, which it was not running",
                  (unsigned long long) msg.id);
        s_reject (slot, "ProtocolError", text);
        return;
    }
    if (msg.kind == FRAMING_OK && call->chunk
    && !framing_check_chunk (msg.value, call->chunk, &why)) {
        snprintf (text, sizeof text, "sent a bad chunk result (%s)", why);
        s_reject (slot, "ProtocolError", text);
        return;
    }
    slot->call = NULL;
    outcome_t out;
    if (msg.kind == FRAMING_OK) {
        if (msg.value.len > self->spec.max_result) {
            snprintf (text, sizeof text, "result of %zu bytes is over the limit of %zu bytes",
                      msg.value.len, self->spec.max_result);
            outcome_set_error (&out, "TooLarge", text);
        }
        else
            outcome_set_ok (&out, msg.value.ptr, msg.value.len);
    }
    else {
        memset (&out, 0, sizeof out);
        out.ok = false;
        out.err_type = msg.err_type;
        out.err_message = msg.err_message;
        out.err_traceback = msg.err_traceback;
    }
    //  A process that works resets the backoff of the next failure.
    slot->backoff_ms = 0;
    s_complete (call, &out);
    s_dispatch (self);
}

static const taskproc_events_t s_events = {
    .frame = s_on_frame,
    .bad_length = s_on_bad_length,
    .deadline = s_on_deadline,
    .ended = s_on_ended,
};

static void
s_spawn (s_slot_t *slot)
{
    serve_t *self = slot->owner;
    char why[200];
    slot->started = uv_now (self->loop);
    slot->ready = slot->chunks = false;
    slot->proc = taskproc_start (self->loop, self->spec.command, self->spec.guard,
                                 self->spec.max_frame, slot->index, &s_events, slot,
                                 why, sizeof why);
    if (!slot->proc) {
        log_error ("cannot start task process", "slot=%u error=\"%s\"",
                   (unsigned) slot->index, why);
        s_schedule_backoff (slot);
        char message[260];
        snprintf (message, sizeof message, "task process (--serve): %s", why);
        s_start_failed (self, message);
        return;
    }
    log_debug ("task process started", "slot=%u pid=%d", (unsigned) slot->index,
               taskproc_pid (slot->proc));
    taskproc_deadline (slot->proc, SERVE_HELLO_MS);
}

//  ---------------------------------------------------------------------
//  Public

serve_t *
serve_new (uv_loop_t *loop, const serve_spec_t *spec, serve_change_fn *changed, void *arg)
{
    serve_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->spec = *spec;
    if (self->spec.slots == 0)
        self->spec.slots = 1;
    self->changed = changed;
    self->changed_arg = arg;
    self->slots = calloc (self->spec.slots, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    for (uint32_t i = 0; i < self->spec.slots; i++) {
        s_slot_t *slot = &self->slots[i];
        slot->owner = self;
        slot->index = i;
        uv_timer_init (loop, &slot->restart);
        slot->restart.data = slot;
    }
    for (uint32_t i = 0; i < self->spec.slots; i++)
        s_spawn (&self->slots[i]);
    return self;
}

static void
s_on_restart_close (uv_handle_t *handle)
{
    s_slot_t *slot = handle->data;
    serve_t *self = slot->owner;
    if (--self->open > 0)
        return;
    free (self->slots);
    free (self);
}

void
serve_destroy (serve_t **self_p)
{
    serve_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    self->destroyed = true;
    while (self->head) {
        serve_call_t *call = self->head;
        self->head = call->next;
        free (call);
    }
    self->tail = NULL;
    for (size_t i = 0; i < self->name_count; i++)
        free (self->names[i]);
    free (self->names);
    self->names = NULL;
    self->name_count = 0;
    self->open = (int) self->spec.slots;
    for (uint32_t i = 0; i < self->spec.slots; i++) {
        s_slot_t *slot = &self->slots[i];
        free (slot->call);
        s_detach (slot);
        uv_close ((uv_handle_t *) &slot->restart, s_on_restart_close);
    }
}

const char *const *
serve_functions (const serve_t *self, size_t *count)
{
    *count = self->name_count;
    return (const char *const *) self->names;
}

bool
serve_has (const serve_t *self, const char *fn, size_t len)
{
    for (size_t i = 0; i < self->name_count; i++)
        if (strlen (self->names[i]) == len && memcmp (self->names[i], fn, len) == 0)
            return true;
    return false;
}

bool
serve_chunks (const serve_t *self)
{
    return self->chunks;
}

serve_call_t *
serve_call (serve_t *self, zj_str_t fn, zj_raw_t args, uint32_t chunk,
            serve_done_fn *done, void *arg)
{
    serve_call_t *call = calloc (1, sizeof *call);
    if (!call)
        return NULL;
    call->owner = self;
    call->fn = fn;
    call->args = args;
    call->chunk = chunk;
    call->done = done;
    call->arg = arg;
    if (self->tail)
        self->tail->next = call;
    else
        self->head = call;
    self->tail = call;
    s_dispatch (self);
    return call;
}

void
serve_cancel (serve_call_t **call_p)
{
    serve_call_t *call = *call_p;
    if (!call)
        return;
    *call_p = NULL;
    serve_t *self = call->owner;
    s_slot_t *slot = call->slot;
    if (!slot) {
        serve_call_t **pp = &self->head;
        while (*pp && *pp != call)
            pp = &(*pp)->next;
        if (*pp) {
            *pp = call->next;
            if (self->tail == call) {
                serve_call_t *last = self->head;
                while (last && last->next)
                    last = last->next;
                self->tail = last;
            }
        }
        free (call);
        return;
    }
    //  The only way to stop a function mid-call is to end its process.
    log_debug ("task process killed", "slot=%u pid=%d reason=cancel", (unsigned) slot->index,
               slot->proc ? taskproc_pid (slot->proc) : 0);
    s_detach (slot);
    free (call);
    s_schedule (slot, 0);
}

int
serve_pid (const serve_t *self, uint32_t slot)
{
    if (slot >= self->spec.slots || !self->slots[slot].proc)
        return 0;
    return taskproc_pid (self->slots[slot].proc);
}

uint32_t
serve_idle (const serve_t *self)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->spec.slots; i++)
        n += s_slot_idle (&self->slots[i]);
    return n;
}
