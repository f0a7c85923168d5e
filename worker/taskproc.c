// SPDX-License-Identifier: MIT
//  taskproc - one task process and its three pipes; see taskproc.h. The
//  process runs detached (kill(-pid) reaches its whole group); handles are
//  freed only in their close callbacks, and the process handle is closed
//  only after its exit callback, so no zombie is left unreaped. Once the
//  owner kills it, the process only cleans up and reports nothing.
#include "taskproc.h"
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "exec.h"
#include "framing.h"
#include "log.h"

//  Bytes asked of the pipe per read.
#define S_READ_CHUNK (64 * 1024)

//  A write the pipe could not take at once.
typedef struct {
    uv_write_t req;             //  libuv request
    uint8_t header[FRAMING_HEADER]; //  length prefix
    uint8_t *data;              //  frame body; owned
} s_write_t;

struct taskproc {
    const taskproc_events_t *events;    //  owner's callbacks; borrowed
    void *arg;                  //  for events
    bool detached;              //  the owner killed it: report nothing
    uint32_t index;             //  slot index, for logs
    uv_process_t proc;          //  the guard (or shell): its pid is the group
    uv_pipe_t in;               //  its stdin: frames to it
    uv_pipe_t out;              //  its stdout: frames from it
    uv_pipe_t err;              //  its stderr: logged, tail kept
    uv_timer_t deadline;        //  the owner's deadline
    uv_timer_t grace;           //  bounds the wait for output or exit
    int open;                   //  handles not yet closed
    int pid;                    //  group leader
    bool exited;                //  exit callback ran
    bool out_eof;               //  stdout closed
    bool err_eof;               //  stderr closed
    int64_t status;             //  exit status
    int term_signal;            //  signal that ended it, or 0
    framing_reader_t reader;    //  stdout bytes
    zj_enc_t *enc;              //  next frame's body
    char errbuf[4096];          //  stderr read buffer
    char tail[TASKPROC_STDERR_TAIL];    //  last stderr bytes
    size_t tail_len;            //  bytes in tail
    char line[TASKPROC_LINE_MAX];   //  stderr line being assembled for the log
    size_t line_len;            //  bytes in line
};

static void
s_on_close (uv_handle_t *handle)
{
    taskproc_t *self = handle->data;
    if (--self->open > 0)
        return;
    framing_reader_clear (&self->reader);
    zj_enc_destroy (&self->enc);
    free (self);
}

static void
s_close (taskproc_t *self, uv_handle_t *handle)
{
    if (!uv_is_closing (handle))
        uv_close (handle, s_on_close);
}

//  Close what may be closed now; the process handle waits for its exit.
static void
s_close_all (taskproc_t *self)
{
    s_close (self, (uv_handle_t *) &self->in);
    s_close (self, (uv_handle_t *) &self->out);
    s_close (self, (uv_handle_t *) &self->err);
    s_close (self, (uv_handle_t *) &self->deadline);
    s_close (self, (uv_handle_t *) &self->grace);
    if (self->exited)
        s_close (self, (uv_handle_t *) &self->proc);
}

static void
s_kill_group (taskproc_t *self)
{
    if (self->pid > 0 && !self->exited)
        kill (-self->pid, SIGKILL);
}

//  Tell the owner once the process has ended and its output is read.
static void
s_maybe_ended (taskproc_t *self)
{
    if (!self->detached && self->exited && self->out_eof && self->err_eof)
        self->events->ended (self, self->arg);
}

static void
s_on_grace (uv_timer_t *timer)
{
    taskproc_t *self = timer->data;
    if (self->detached)
        return;
    if (self->exited)
        //  Something outside the group holds its pipes: report with what
        //  arrived.
        self->events->ended (self, self->arg);
    else
        //  It closed stdout but lives on: end it; its exit follows.
        s_kill_group (self);
}

static void
s_on_deadline (uv_timer_t *timer)
{
    taskproc_t *self = timer->data;
    if (!self->detached)
        self->events->deadline (self, self->arg);
}

static void
s_on_alloc (uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    taskproc_t *self = handle->data;
    size_t size = 0;
    uint8_t *space = framing_reader_space (&self->reader, S_READ_CHUNK, &size);
    //  An empty buffer makes libuv report UV_ENOBUFS to the read callback.
    *buf = uv_buf_init ((char *) space, space ? (unsigned int) size : 0);
}

static void
s_on_out_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    taskproc_t *self = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread == UV_ENOBUFS)
            log_error ("out of memory", "what=task-process-output slot=%u pid=%d",
                       (unsigned) self->index, self->pid);
        self->out_eof = true;
        s_close (self, (uv_handle_t *) &self->out);
        if (self->detached)
            return;
        //  Without stdout it can serve nothing. It is most likely exiting:
        //  give it a moment, then end it (s_on_grace).
        if (!self->exited)
            uv_timer_start (&self->grace, s_on_grace, TASKPROC_GRACE_MS, 0);
        s_maybe_ended (self);
        return;
    }
    framing_reader_commit (&self->reader, (size_t) nread);
    while (!self->detached) {
        const uint8_t *body;
        size_t len;
        framing_status_t st = framing_reader_next (&self->reader, &body, &len);
        if (st == FRAMING_MORE)
            break;
        if (st == FRAMING_BAD_LENGTH) {
            self->events->bad_length (self, len, self->arg);
            break;
        }
        self->events->frame (self, body, len, self->arg);
    }
}

//  Keep the last TASKPROC_STDERR_TAIL bytes of stderr.
static void
s_tail_append (taskproc_t *self, const char *data, size_t n)
{
    if (n >= TASKPROC_STDERR_TAIL) {
        memcpy (self->tail, data + n - TASKPROC_STDERR_TAIL, TASKPROC_STDERR_TAIL);
        self->tail_len = TASKPROC_STDERR_TAIL;
        return;
    }
    if (self->tail_len + n > TASKPROC_STDERR_TAIL) {
        size_t drop = self->tail_len + n - TASKPROC_STDERR_TAIL;
        memmove (self->tail, self->tail + drop, self->tail_len - drop);
        self->tail_len -= drop;
    }
    memcpy (self->tail + self->tail_len, data, n);
    self->tail_len += n;
}

static void
s_log_line (taskproc_t *self)
{
    log_info ("task process output", "slot=%u pid=%d line=\"%.*s\"", (unsigned) self->index,
              self->pid, (int) self->line_len, self->line);
    self->line_len = 0;
}

static void
s_on_err_alloc (uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    taskproc_t *self = handle->data;
    *buf = uv_buf_init (self->errbuf, sizeof self->errbuf);
}

static void
s_on_err_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    taskproc_t *self = stream->data;
    if (nread == 0)
        return;
    if (nread < 0) {
        if (self->line_len)
            s_log_line (self);
        self->err_eof = true;
        s_close (self, (uv_handle_t *) &self->err);
        s_maybe_ended (self);
        return;
    }
    s_tail_append (self, buf->base, (size_t) nread);
    //  What the process prints (a print () in a task, a warning) goes to
    //  the worker's log a line at a time.
    for (ssize_t i = 0; i < nread; i++) {
        char c = buf->base[i];
        if (c == '\n')
            s_log_line (self);
        else {
            self->line[self->line_len++] = c == '"' ? '\'' : c;
            if (self->line_len == sizeof self->line)
                s_log_line (self);
        }
    }
}

static void
s_on_exit (uv_process_t *handle, int64_t exit_status, int term_signal)
{
    taskproc_t *self = handle->data;
    self->exited = true;
    self->status = exit_status;
    self->term_signal = term_signal;
    if (self->detached) {
        s_close_all (self);
        return;
    }
    if (!self->out_eof || !self->err_eof) {
        //  Members of its group may still hold the pipes: end them, and
        //  bound the wait for the last bytes.
        kill (-self->pid, SIGKILL);
        uv_timer_start (&self->grace, s_on_grace, TASKPROC_GRACE_MS, 0);
    }
    s_maybe_ended (self);
}

taskproc_t *
taskproc_start (uv_loop_t *loop, const char *command, const char *guard, size_t max_frame,
                uint32_t index, const taskproc_events_t *events, void *arg,
                char *why, size_t why_size)
{
    taskproc_t *self = calloc (1, sizeof *self);
    if (self)
        self->enc = zj_enc_new ();
    if (!self || !self->enc) {
        free (self);
        snprintf (why, why_size, "worker is out of memory");
        return NULL;
    }
    self->events = events;
    self->arg = arg;
    self->index = index;
    framing_reader_init (&self->reader, max_frame);
    uv_pipe_init (loop, &self->in, 0);
    uv_pipe_init (loop, &self->out, 0);
    uv_pipe_init (loop, &self->err, 0);
    uv_timer_init (loop, &self->deadline);
    uv_timer_init (loop, &self->grace);
    self->in.data = self->out.data = self->err.data = self;
    self->deadline.data = self->grace.data = self->proc.data = self;
    int rc = exec_spawn (loop, &self->proc, s_on_exit, command, guard,
                         &self->in, &self->out, &self->err);
    //  The process handle is initialised even when the spawn failed.
    self->open = 6;
    if (rc < 0) {
        snprintf (why, why_size, "cannot start %s: %s", guard ? guard : "/bin/sh",
                  uv_strerror (rc));
        self->detached = self->exited = true;
        s_close_all (self);
        return NULL;
    }
    self->pid = self->proc.pid;
    if (uv_read_start ((uv_stream_t *) &self->out, s_on_alloc, s_on_out_read) < 0)
        self->out_eof = true;
    if (uv_read_start ((uv_stream_t *) &self->err, s_on_err_alloc, s_on_err_read) < 0)
        self->err_eof = true;
    return self;
}

void
taskproc_kill (taskproc_t **self_p)
{
    taskproc_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    self->detached = true;
    s_kill_group (self);
    s_close_all (self);
}

zj_enc_t *
taskproc_enc (taskproc_t *self)
{
    return self->enc;
}

static void
s_on_write (uv_write_t *req, int status)
{
    s_write_t *w = (s_write_t *) req;
    if (status < 0 && status != UV_ECANCELED && status != UV_EPIPE)
        log_debug ("task process write failed", "error=%s", uv_err_name (status));
    free (w->data);
    free (w);
}

void
taskproc_send (taskproc_t *self)
{
    uint8_t header[FRAMING_HEADER];
    size_t len = zj_enc_size (self->enc);
    framing_put_header (header, len);
    uv_buf_t bufs[2] = {
        uv_buf_init ((char *) header, FRAMING_HEADER),
        uv_buf_init ((char *) zj_enc_data (self->enc), (unsigned int) len),
    };
    //  uv_try_write refuses (EAGAIN) while earlier writes wait, so frames
    //  stay in order.
    int n = uv_try_write ((uv_stream_t *) &self->in, bufs, 2);
    if (n >= 0 && (size_t) n == FRAMING_HEADER + len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        log_debug ("task process write failed", "slot=%u pid=%d error=%s",
                   (unsigned) self->index, self->pid, uv_err_name (n));
        return;
    }
    size_t done = n > 0 ? (size_t) n : 0;
    s_write_t *w = calloc (1, sizeof *w);
    size_t size;
    uint8_t *data = w ? zj_enc_take (self->enc, &size) : NULL;
    if (!data) {
        free (w);
        log_error ("out of memory", "what=task-frame slot=%u", (unsigned) self->index);
        s_kill_group (self);
        return;
    }
    memcpy (w->header, header, FRAMING_HEADER);
    w->data = data;
    uv_buf_t rest[2];
    unsigned nbufs = 0;
    if (done < FRAMING_HEADER)
        rest[nbufs++] = uv_buf_init ((char *) w->header + done,
                                     (unsigned int) (FRAMING_HEADER - done));
    size_t body_done = done > FRAMING_HEADER ? done - FRAMING_HEADER : 0;
    rest[nbufs++] = uv_buf_init ((char *) data + body_done, (unsigned int) (size - body_done));
    int rc = uv_write (&w->req, (uv_stream_t *) &self->in, rest, nbufs, s_on_write);
    if (rc < 0) {
        log_debug ("task process write failed", "slot=%u pid=%d error=%s",
                   (unsigned) self->index, self->pid, uv_err_name (rc));
        free (w->data);
        free (w);
    }
}

void
taskproc_deadline (taskproc_t *self, uint64_t ms)
{
    if (ms == 0)
        uv_timer_stop (&self->deadline);
    else
        uv_timer_start (&self->deadline, s_on_deadline, ms, 0);
}

int
taskproc_pid (const taskproc_t *self)
{
    return self->pid;
}

void
taskproc_status (const taskproc_t *self, int64_t *status, int *term_signal)
{
    *status = self->status;
    *term_signal = self->term_signal;
}

const char *
taskproc_tail (const taskproc_t *self, size_t *len)
{
    *len = self->tail_len;
    return self->tail;
}
