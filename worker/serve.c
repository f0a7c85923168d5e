// SPDX-License-Identifier: MIT
//  serve - persistent task processes; see serve.h. A process is a
//  detached group (kill(-pid) reaches all of it); its handles are freed
//  only in their close callbacks, and its process handle is closed only
//  after the exit callback, so no zombie is left unreaped. A slot forgets
//  a process the moment it kills it; the process then only cleans up.
#include "serve.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "exec.h"
#include "framing.h"
#include "log.h"
#include "supervisor.h"

//  Bytes asked of the pipe per read.
#define S_READ_CHUNK (64 * 1024)

typedef enum {
    S_STARTING,                 //  spawned, hello not yet read
    S_READY,                    //  hello read: takes calls
} s_pstate_t;

typedef struct s_proc s_proc_t;
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

//  A write the pipe could not take at once.
typedef struct {
    uv_write_t req;             //  libuv request
    uint8_t header[FRAMING_HEADER]; //  length prefix
    uint8_t *data;              //  frame body; owned
} s_write_t;

struct s_proc {
    s_slot_t *slot;             //  owning slot; NULL once killed or given up
    uint32_t index;             //  slot index, for logs
    uv_process_t proc;          //  the guard (or shell): its pid is the group
    uv_pipe_t in;               //  its stdin: task frames
    uv_pipe_t out;              //  its stdout: hello, ok, error frames
    uv_pipe_t err;              //  its stderr: logged, tail kept
    uv_timer_t timer;           //  hello deadline, then the grace after exit
    int open;                   //  handles not yet closed
    int pid;                    //  group leader
    s_pstate_t state;           //  handshake done?
    bool chunks;                //  its hello offered the "chunk" feature
    bool exited;                //  exit callback ran
    bool out_eof;               //  stdout closed
    bool err_eof;               //  stderr closed
    int64_t status;             //  exit status
    int term_signal;            //  signal that ended it, or 0
    framing_reader_t reader;    //  stdout bytes
    zj_enc_t *enc;              //  task frame being written
    char errbuf[4096];          //  stderr read buffer
    char tail[SERVE_STDERR_TAIL];   //  last stderr bytes
    size_t tail_len;            //  bytes in tail
    char line[SERVE_LINE_MAX];  //  stderr line being assembled for the log
    size_t line_len;            //  bytes in line
};

struct s_slot {
    serve_t *owner;             //  the pool
    uint32_t index;             //  0..slots-1
    s_proc_t *proc;             //  current process, or NULL while a restart waits
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
    bool chunks;                //  the last hello offered whole chunks
    size_t name_count;          //  entries in names
    uint64_t next_id;           //  last task id used
    int open;                   //  restart timers not yet closed (after destroy)
    bool destroyed;             //  serve_destroy ran; freed when open reaches 0
};

static void s_spawn (s_slot_t *slot);
static void s_dispatch (serve_t *self);
static void s_on_timer (uv_timer_t *timer);

//  ---------------------------------------------------------------------
//  Process handles

static void
s_on_proc_close (uv_handle_t *handle)
{
    s_proc_t *proc = handle->data;
    if (--proc->open > 0)
        return;
    framing_reader_clear (&proc->reader);
    zj_enc_destroy (&proc->enc);
    free (proc);
}

static void
s_close (s_proc_t *proc, uv_handle_t *handle)
{
    if (!uv_is_closing (handle))
        uv_close (handle, s_on_proc_close);
}

//  Close what may be closed now; the process handle waits for its exit.
static void
s_close_all (s_proc_t *proc)
{
    s_close (proc, (uv_handle_t *) &proc->in);
    s_close (proc, (uv_handle_t *) &proc->out);
    s_close (proc, (uv_handle_t *) &proc->err);
    s_close (proc, (uv_handle_t *) &proc->timer);
    if (proc->exited)
        s_close (proc, (uv_handle_t *) &proc->proc);
}

static void
s_kill_group (s_proc_t *proc)
{
    if (proc->pid > 0 && !proc->exited)
        kill (-proc->pid, SIGKILL);
}

//  ---------------------------------------------------------------------
//  Slots

static bool
s_slot_idle (const s_slot_t *slot)
{
    return slot->proc && slot->proc->state == S_READY && !slot->call;
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

//  Forget the slot's process and kill its group; its handles close on
//  their own. The running call, if any, is the caller's to settle.
static void
s_detach (s_slot_t *slot)
{
    s_proc_t *proc = slot->proc;
    slot->proc = NULL;
    slot->call = NULL;
    if (!proc)
        return;
    proc->slot = NULL;
    s_kill_group (proc);
    s_close_all (proc);
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
        if (self->slots[i].proc && self->slots[i].proc->state == S_READY)
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
s_reject (s_proc_t *proc, const char *type, const char *why)
{
    s_slot_t *slot = proc->slot;
    serve_t *self = slot->owner;
    serve_call_t *call = slot->call;
    bool starting = proc->state == S_STARTING;
    log_warn ("task process misbehaved", "slot=%u pid=%d error=%s why=\"%s\" action=restart",
              (unsigned) proc->index, proc->pid, type, why);
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

//  The process ended on its own (crash, exit, closed stdout): report the
//  running call as failed with the exit status and the stderr tail.
static void
s_crashed (s_proc_t *proc)
{
    s_slot_t *slot = proc->slot;
    serve_t *self = slot->owner;
    serve_call_t *call = slot->call;
    bool starting = proc->state == S_STARTING;
    char message[200];
    if (proc->term_signal)
        snprintf (message, sizeof message, "task process (--serve) killed by signal %d%s",
                  proc->term_signal, starting ? " before its hello" : "");
    else
        snprintf (message, sizeof message, "task process (--serve) exited with status %lld%s",
                  (long long) proc->status, starting ? " before its hello" : "");
    //  The tail's last line says why, most often (a Python traceback).
    size_t end = proc->tail_len, start;
    while (end > 0 && (proc->tail[end - 1] == '\n' || proc->tail[end - 1] == '\r'))
        end--;
    start = end;
    while (start > 0 && proc->tail[start - 1] != '\n')
        start--;
    //  Dying before the hello is a broken command; later, a crash.
    log_emit (starting ? LOG_LEVEL_ERROR : LOG_LEVEL_WARN, "task process exited",
              "slot=%u pid=%d status=%lld signal=%d running=%s last=\"%.*s\"",
              (unsigned) proc->index, proc->pid, (long long) proc->status, proc->term_signal,
              call ? "yes" : "no", (int) (end - start > 300 ? 300 : end - start),
              proc->tail + start);
    slot->proc = NULL;
    slot->call = NULL;
    proc->slot = NULL;
    s_close_all (proc);
    s_schedule_backoff (slot);
    if (call) {
        outcome_t out;
        outcome_set_error (&out, "ProcessExited", message);
        out.err_traceback.ptr = proc->tail;
        out.err_traceback.len = proc->tail_len;
        s_complete (call, &out);
    }
    if (starting)
        s_start_failed (self, message);
}

static void
s_maybe_crashed (s_proc_t *proc)
{
    if (proc->slot && proc->exited && proc->out_eof && proc->err_eof)
        s_crashed (proc);
}

//  ---------------------------------------------------------------------
//  Writing task frames

static void
s_on_write (uv_write_t *req, int status)
{
    s_write_t *w = (s_write_t *) req;
    if (status < 0 && status != UV_ECANCELED && status != UV_EPIPE)
        log_debug ("task process write failed", "error=%s", uv_err_name (status));
    free (w->data);
    free (w);
}

//  Write the frame in proc->enc. What the pipe cannot take now is handed
//  to uv_write with its own copy, so enc is free for the next frame.
static void
s_write (s_proc_t *proc)
{
    uint8_t header[FRAMING_HEADER];
    size_t len = zj_enc_size (proc->enc);
    framing_put_header (header, len);
    uv_buf_t bufs[2] = {
        uv_buf_init ((char *) header, FRAMING_HEADER),
        uv_buf_init ((char *) zj_enc_data (proc->enc), (unsigned int) len),
    };
    int n = uv_try_write ((uv_stream_t *) &proc->in, bufs, 2);
    if (n >= 0 && (size_t) n == FRAMING_HEADER + len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        //  The process is gone; its exit callback reports the call.
        log_debug ("task process write failed", "slot=%u pid=%d error=%s",
                   (unsigned) proc->index, proc->pid, uv_err_name (n));
        return;
    }
    size_t done = n > 0 ? (size_t) n : 0;
    s_write_t *w = calloc (1, sizeof *w);
    size_t size;
    uint8_t *data = w ? zj_enc_take (proc->enc, &size) : NULL;
    if (!data) {
        free (w);
        log_error ("out of memory", "what=task-frame slot=%u", (unsigned) proc->index);
        s_kill_group (proc);
        return;
    }
    memcpy (w->header, header, FRAMING_HEADER);
    w->data = data;
    uv_buf_t rest[2];
    unsigned nbufs = 0;
    if (done < FRAMING_HEADER)
        rest[nbufs++] = uv_buf_init ((char *) w->header + done, (unsigned int) (FRAMING_HEADER - done));
    size_t body_done = done > FRAMING_HEADER ? done - FRAMING_HEADER : 0;
    rest[nbufs++] = uv_buf_init ((char *) data + body_done, (unsigned int) (size - body_done));
    int rc = uv_write (&w->req, (uv_stream_t *) &proc->in, rest, nbufs, s_on_write);
    if (rc < 0) {
        log_debug ("task process write failed", "slot=%u pid=%d error=%s",
                   (unsigned) proc->index, proc->pid, uv_err_name (rc));
        free (w->data);
        free (w);
    }
}

static void
s_start_call (s_slot_t *slot, serve_call_t *call)
{
    serve_t *self = slot->owner;
    call->slot = slot;
    call->id = ++self->next_id;
    slot->call = call;
    if (call->chunk && !slot->proc->chunks) {
        //  Only when a process restarted with other code since the caller
        //  asked serve_chunks.
        slot->call = NULL;
        outcome_t out;
        outcome_set_error (&out, "ProtocolError",
                           "this task process does not take whole chunks; try again");
        s_complete (call, &out);
        return;
    }
    framing_encode_task (slot->proc->enc, call->id, call->fn, call->args, call->chunk > 0);
    if (zj_enc_failed (slot->proc->enc)) {
        slot->call = NULL;
        outcome_t out;
        outcome_set_error (&out, "OutOfMemory", "worker is out of memory");
        s_complete (call, &out);
        return;
    }
    s_write (slot->proc);
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
//  Reading frames

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
s_on_frame (s_proc_t *proc, const uint8_t *body, size_t len)
{
    s_slot_t *slot = proc->slot;
    serve_t *self = slot->owner;
    framing_msg_t msg;
    const char *why = NULL;
    char text[200];
    if (!framing_parse (body, len, &msg, &why)) {
        snprintf (text, sizeof text, "sent a malformed frame (%s)", why);
        s_reject (proc, "ProtocolError", text);
        return;
    }
    if (proc->state == S_STARTING) {
        if (msg.kind != FRAMING_HELLO) {
            s_reject (proc, "ProtocolError", "sent a result before its hello");
            return;
        }
        if (msg.version != FRAMING_VERSION) {
            snprintf (text, sizeof text, "speaks pipe protocol version %llu; this worker speaks %d",
                      (unsigned long long) msg.version, FRAMING_VERSION);
            s_reject (proc, "ProtocolError", text);
            return;
        }
        uv_timer_stop (&proc->timer);
        proc->state = S_READY;
        proc->chunks = msg.chunks;
        self->chunks = msg.chunks;
        log_info ("task process ready", "slot=%u pid=%d functions=%u", (unsigned) proc->index,
                  proc->pid, (unsigned) msg.name_count);
        if (s_learn_names (self, &msg) && self->changed)
            self->changed (self->changed_arg);
        s_dispatch (self);
        return;
    }
    if (msg.kind == FRAMING_HELLO) {
        s_reject (proc, "ProtocolError", "sent a second hello");
        return;
    }
    serve_call_t *call = slot->call;
    if (!call || msg.id != call->id) {
        snprintf (text, sizeof text, "answered task id %llu, which it was not running",
                  (unsigned long long) msg.id);
        s_reject (proc, "ProtocolError", text);
        return;
    }
    if (msg.kind == FRAMING_OK && call->chunk
    && !framing_check_chunk (msg.value, call->chunk, &why)) {
        snprintf (text, sizeof text, "sent a bad chunk result (%s)", why);
        s_reject (proc, "ProtocolError", text);
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

static void
s_on_alloc (uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    s_proc_t *proc = handle->data;
    size_t size = 0;
    uint8_t *space = framing_reader_space (&proc->reader, S_READ_CHUNK, &size);
    //  An empty buffer makes libuv report UV_ENOBUFS to the read callback.
    *buf = uv_buf_init ((char *) space, space ? (unsigned int) size : 0);
}

static void
s_on_out_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    s_proc_t *proc = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        proc->out_eof = true;
        s_close (proc, (uv_handle_t *) &proc->out);
        if (!proc->slot)
            return;
        if (nread == UV_ENOBUFS) {
            s_reject (proc, "OutOfMemory", "sent more than the worker could buffer");
            return;
        }
        //  Without stdout the process can serve nothing. It is most
        //  likely exiting: give it a moment, then end it (s_on_timer);
        //  its exit says how it went.
        if (!proc->exited)
            uv_timer_start (&proc->timer, s_on_timer, SERVE_GRACE_MS, 0);
        s_maybe_crashed (proc);
        return;
    }
    framing_reader_commit (&proc->reader, (size_t) nread);
    while (proc->slot) {
        const uint8_t *body;
        size_t len;
        framing_status_t st = framing_reader_next (&proc->reader, &body, &len);
        if (st == FRAMING_MORE)
            break;
        if (st == FRAMING_BAD_LENGTH) {
            char why[120];
            snprintf (why, sizeof why, "sent a frame of %zu bytes; frames are 1 to %zu bytes",
                      len, proc->reader.max_frame);
            s_reject (proc, len ? "TooLarge" : "ProtocolError", why);
            break;
        }
        s_on_frame (proc, body, len);
    }
}

//  Keep the last SERVE_STDERR_TAIL bytes of stderr.
static void
s_tail_append (s_proc_t *proc, const char *data, size_t n)
{
    if (n >= SERVE_STDERR_TAIL) {
        memcpy (proc->tail, data + n - SERVE_STDERR_TAIL, SERVE_STDERR_TAIL);
        proc->tail_len = SERVE_STDERR_TAIL;
        return;
    }
    if (proc->tail_len + n > SERVE_STDERR_TAIL) {
        size_t drop = proc->tail_len + n - SERVE_STDERR_TAIL;
        memmove (proc->tail, proc->tail + drop, proc->tail_len - drop);
        proc->tail_len -= drop;
    }
    memcpy (proc->tail + proc->tail_len, data, n);
    proc->tail_len += n;
}

static void
s_log_line (s_proc_t *proc)
{
    log_info ("task process output", "slot=%u pid=%d line=\"%.*s\"", (unsigned) proc->index,
              proc->pid, (int) proc->line_len, proc->line);
    proc->line_len = 0;
}

static void
s_on_err_alloc (uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    s_proc_t *proc = handle->data;
    *buf = uv_buf_init (proc->errbuf, sizeof proc->errbuf);
}

static void
s_on_err_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    s_proc_t *proc = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (proc->line_len)
            s_log_line (proc);
        proc->err_eof = true;
        s_close (proc, (uv_handle_t *) &proc->err);
        s_maybe_crashed (proc);
        return;
    }
    s_tail_append (proc, buf->base, (size_t) nread);
    //  What the process prints (a print () in a task, a warning) goes to
    //  the worker's log a line at a time.
    for (ssize_t i = 0; i < nread; i++) {
        char c = buf->base[i];
        if (c == '\n')
            s_log_line (proc);
        else {
            proc->line[proc->line_len++] = c == '"' ? '\'' : c;
            if (proc->line_len == sizeof proc->line)
                s_log_line (proc);
        }
    }
}

static void
s_on_timer (uv_timer_t *timer)
{
    s_proc_t *proc = timer->data;
    if (!proc->slot)
        return;
    if (proc->exited) {
        //  The grace after exit ran out: something outside the group
        //  holds its pipes. Report with what arrived.
        s_crashed (proc);
        return;
    }
    if (proc->out_eof) {
        //  It closed stdout but lives on: end it.
        s_kill_group (proc);
        return;
    }
    char why[80];
    snprintf (why, sizeof why, "sent no hello within %d s", SERVE_HELLO_MS / 1000);
    s_reject (proc, "ProtocolError", why);
}

static void
s_on_exit (uv_process_t *handle, int64_t exit_status, int term_signal)
{
    s_proc_t *proc = handle->data;
    proc->exited = true;
    proc->status = exit_status;
    proc->term_signal = term_signal;
    if (!proc->slot) {
        s_close_all (proc);
        return;
    }
    if (!proc->out_eof || !proc->err_eof) {
        //  Members of its group may still hold the pipes: end them, and
        //  bound the wait for the last bytes.
        kill (-proc->pid, SIGKILL);
        uv_timer_start (&proc->timer, s_on_timer, SERVE_GRACE_MS, 0);
    }
    s_maybe_crashed (proc);
}

static void
s_spawn (s_slot_t *slot)
{
    serve_t *self = slot->owner;
    s_proc_t *proc = calloc (1, sizeof *proc);
    if (proc)
        proc->enc = zj_enc_new ();
    if (!proc || !proc->enc) {
        free (proc);
        log_error ("out of memory", "what=task-process slot=%u", (unsigned) slot->index);
        s_schedule_backoff (slot);
        return;
    }
    proc->slot = slot;
    proc->index = slot->index;
    framing_reader_init (&proc->reader, self->spec.max_frame);
    uv_pipe_init (self->loop, &proc->in, 0);
    uv_pipe_init (self->loop, &proc->out, 0);
    uv_pipe_init (self->loop, &proc->err, 0);
    uv_timer_init (self->loop, &proc->timer);
    proc->in.data = proc->out.data = proc->err.data = proc->timer.data = proc;
    proc->proc.data = proc;

    int rc = exec_spawn (self->loop, &proc->proc, s_on_exit, self->spec.command,
                         self->spec.guard, &proc->in, &proc->out, &proc->err);
    //  The process handle is initialised even when the spawn failed.
    proc->open = 5;
    slot->started = uv_now (self->loop);
    if (rc < 0) {
        log_error ("cannot start task process", "slot=%u file=%s error=\"%s\"",
                   (unsigned) slot->index, self->spec.guard ? self->spec.guard : "/bin/sh",
                   uv_strerror (rc));
        proc->exited = true;
        proc->slot = NULL;
        s_close_all (proc);
        s_schedule_backoff (slot);
        char message[200];
        snprintf (message, sizeof message, "cannot start the task process (--serve): %s",
                  uv_strerror (rc));
        s_start_failed (self, message);
        return;
    }
    proc->pid = proc->proc.pid;
    proc->state = S_STARTING;
    slot->proc = proc;
    log_debug ("task process started", "slot=%u pid=%d", (unsigned) slot->index, proc->pid);
    if (uv_read_start ((uv_stream_t *) &proc->out, s_on_alloc, s_on_out_read) < 0)
        proc->out_eof = true;
    if (uv_read_start ((uv_stream_t *) &proc->err, s_on_err_alloc, s_on_err_read) < 0)
        proc->err_eof = true;
    uv_timer_start (&proc->timer, s_on_timer, SERVE_HELLO_MS, 0);
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
               slot->proc ? slot->proc->pid : 0);
    s_detach (slot);
    free (call);
    s_schedule (slot, 0);
}

int
serve_pid (const serve_t *self, uint32_t slot)
{
    if (slot >= self->spec.slots || !self->slots[slot].proc)
        return 0;
    return self->slots[slot].proc->pid;
}

uint32_t
serve_idle (const serve_t *self)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < self->spec.slots; i++)
        n += s_slot_idle (&self->slots[i]);
    return n;
}
