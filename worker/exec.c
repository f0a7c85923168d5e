// SPDX-License-Identifier: MIT
//  exec - one exec-handler command from spawn to outcome; see exec.h.
//  The command runs detached (setsid) so that kill(-pid) reaches every
//  process it started; this file never frees a handle outside its close
//  callback and never closes the process handle before the exit callback.
#include "exec.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "json.h"
#include "log.h"

#define S_READ_CHUNK (64 * 1024)

typedef struct {
    char *data;                 //  bytes read so far
    size_t len;                 //  bytes used
    size_t cap;                 //  bytes allocated
} s_buf_t;

struct exec {
    uv_process_t proc;          //  the shell
    uv_pipe_t in;               //  its stdin: we write the JSON arguments
    uv_pipe_t out;              //  its stdout: the result
    uv_pipe_t err;              //  its stderr: error line and traceback
    uv_timer_t grace;           //  bounds the wait for EOF after exit
    uv_write_t write_req;       //  the one write to stdin
    char *input;                //  JSON arguments; freed once written
    s_buf_t out_buf;            //  stdout
    s_buf_t err_buf;            //  stderr (its tail when over EXEC_MAX_STDERR)
    size_t max_stdout;          //  stdout limit
    exec_done_fn *done;         //  NULL once aborted
    void *arg;                  //  for done
    int open;                   //  handles not yet closed
    int pid;                    //  group leader (guard or shell): pid = pgid
    int64_t exit_status;        //  from the exit callback
    int term_signal;            //  from the exit callback
    bool exited;                //  exit callback ran
    bool out_eof;               //  stdout closed or abandoned
    bool err_eof;               //  stderr closed or abandoned
    bool finished;              //  outcome delivered (or aborted)
    bool too_large;             //  stdout went over max_stdout
    int read_error;             //  libuv error that cut stdout short, or 0
};

static void
s_on_close (uv_handle_t *handle)
{
    exec_t *self = handle->data;
    if (--self->open > 0)
        return;
    free (self->input);
    free (self->out_buf.data);
    free (self->err_buf.data);
    free (self);
}

static void
s_close (exec_t *self, uv_handle_t *handle)
{
    if (!uv_is_closing (handle))
        uv_close (handle, s_on_close);
}

//  Close every handle that may be closed now. The process handle waits
//  for its exit callback: closing it earlier leaves a zombie that libuv
//  no longer reaps.
static void
s_close_all (exec_t *self)
{
    s_close (self, (uv_handle_t *) &self->in);
    s_close (self, (uv_handle_t *) &self->out);
    s_close (self, (uv_handle_t *) &self->err);
    s_close (self, (uv_handle_t *) &self->grace);
    if (self->exited)
        s_close (self, (uv_handle_t *) &self->proc);
}

static void
s_kill_group (exec_t *self)
{
    if (self->pid > 0 && !self->exited)
        kill (-self->pid, SIGKILL);
}

static void
s_finish (exec_t *self)
{
    if (self->finished || !self->exited || !self->out_eof || !self->err_eof)
        return;
    self->finished = true;
    exec_done_fn *done = self->done;
    self->done = NULL;
    if (done) {
        outcome_t out;
        char msg[160];
        if (self->too_large) {
            snprintf (msg, sizeof msg,
                      "command wrote more than %zu bytes to stdout; the result is too large",
                      self->max_stdout);
            outcome_set_error (&out, "TooLarge", msg);
            done (&out, self->arg);
        }
        else
        if (self->read_error) {
            snprintf (msg, sizeof msg, "cannot read the command's stdout: %s",
                      uv_strerror (self->read_error));
            outcome_set_error (&out, "IOError", msg);
            done (&out, self->arg);
        }
        else {
            zj_enc_t *enc = zj_enc_new ();
            if (!enc) {
                outcome_set_error (&out, "OutOfMemory", "worker is out of memory");
                done (&out, self->arg);
            }
            else {
                const char *err = self->err_buf.data ? self->err_buf.data : "";
                exec_outcome_build (self->out_buf.data ? self->out_buf.data : "",
                                    self->out_buf.len, err, self->err_buf.len,
                                    self->exit_status, self->term_signal, enc,
                                    msg, sizeof msg, &out);
                done (&out, self->arg);
                zj_enc_destroy (&enc);
            }
        }
    }
    s_close_all (self);
}

static bool
s_reserve (s_buf_t *buf, size_t more)
{
    if (buf->cap - buf->len >= more)
        return true;
    size_t cap = buf->cap ? buf->cap : S_READ_CHUNK;
    while (cap - buf->len < more)
        cap *= 2;
    char *data = realloc (buf->data, cap);
    if (!data)
        return false;
    buf->data = data;
    buf->cap = cap;
    return true;
}

static void
s_on_alloc (uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    exec_t *self = handle->data;
    s_buf_t *b = handle == (uv_handle_t *) &self->out ? &self->out_buf : &self->err_buf;
    if (!s_reserve (b, S_READ_CHUNK)) {
        //  libuv turns an empty buffer into UV_ENOBUFS in the read callback.
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = b->data + b->len;
    buf->len = b->cap - b->len;
}

static void
s_stop_reading (exec_t *self, uv_pipe_t *pipe)
{
    uv_read_stop ((uv_stream_t *) pipe);
    s_close (self, (uv_handle_t *) pipe);
    if (pipe == &self->out)
        self->out_eof = true;
    else
        self->err_eof = true;
}

static void
s_on_read (uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    exec_t *self = stream->data;
    bool is_out = stream == (uv_stream_t *) &self->out;
    s_buf_t *b = is_out ? &self->out_buf : &self->err_buf;
    if (nread < 0) {
        if (nread != UV_EOF && is_out)
            self->read_error = (int) nread;
        if (nread != UV_EOF)
            log_warn ("exec read failed", "pid=%d stream=%s error=%s",
                      self->pid, is_out ? "stdout" : "stderr", uv_err_name ((int) nread));
        s_stop_reading (self, (uv_pipe_t *) stream);
        s_finish (self);
        return;
    }
    b->len += (size_t) nread;
    if (is_out && b->len > self->max_stdout) {
        self->too_large = true;
        s_kill_group (self);
        s_stop_reading (self, &self->out);
        s_finish (self);
    }
    else
    if (!is_out && b->len > 2 * (size_t) EXEC_MAX_STDERR) {
        //  Keep the tail: the error line is the last one.
        memmove (b->data, b->data + b->len - EXEC_MAX_STDERR, EXEC_MAX_STDERR);
        b->len = EXEC_MAX_STDERR;
    }
}

static void
s_on_grace (uv_timer_t *timer)
{
    exec_t *self = timer->data;
    //  Something outside the process group still holds stdout or stderr
    //  open: finish with what arrived.
    if (!self->out_eof)
        s_stop_reading (self, &self->out);
    if (!self->err_eof)
        s_stop_reading (self, &self->err);
    s_finish (self);
}

static void
s_on_exit (uv_process_t *proc, int64_t exit_status, int term_signal)
{
    exec_t *self = proc->data;
    self->exit_status = exit_status;
    self->term_signal = term_signal;
    if (!self->finished && (!self->out_eof || !self->err_eof)) {
        //  The shell is gone, but its pipes are open: background processes
        //  it left behind in its group hold them. They belong to the task,
        //  so end them; EOF follows. (Usually no member is left and this
        //  is ESRCH: the EOF is merely still in the queue.)
        kill (-self->pid, SIGKILL);
        uv_timer_start (&self->grace, s_on_grace, EXEC_GRACE_MS, 0);
    }
    self->exited = true;
    if (self->finished)
        s_close_all (self);
    else
        s_finish (self);
}

static void
s_on_write (uv_write_t *req, int status)
{
    exec_t *self = req->data;
    //  EPIPE is normal: a command need not read its arguments.
    if (status < 0 && status != UV_EPIPE && status != UV_ECANCELED)
        log_debug ("exec write failed", "pid=%d error=%s", self->pid, uv_err_name (status));
    free (self->input);
    self->input = NULL;
    s_close (self, (uv_handle_t *) &self->in);
}

int
exec_spawn (uv_loop_t *loop, uv_process_t *proc, uv_exit_cb exit_cb, const char *command,
            const char *guard, uv_pipe_t *in, uv_pipe_t *out, uv_pipe_t *err)
{
    char *sh_argv[] = {"sh", "-c", (char *) command, NULL};
    char worker_pid[24];
    snprintf (worker_pid, sizeof worker_pid, "%ld", (long) getpid ());
    char *guard_argv[] = {"zjob-worker", "--exec-guard", worker_pid, (char *) command, NULL};
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *) in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *) out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *) err;
    uv_process_options_t options = {
        .exit_cb = exit_cb,
        .file = guard ? guard : "/bin/sh",
        .args = guard ? guard_argv : sh_argv,
        //  Its own session and process group, so kill(-pid) ends the tree.
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 3,
        .stdio = stdio,
    };
    return uv_spawn (loop, proc, &options);
}

exec_t *
exec_start (uv_loop_t *loop, const exec_spec_t *spec, exec_done_fn *done, void *arg,
            char *why, size_t why_size)
{
    zj_err_t jerr = ZJ_OK;
    char *input = zj_json_from_msgpack (spec->args.ptr, spec->args.len, &jerr);
    if (!input) {
        snprintf (why, why_size, "cannot pass the arguments as JSON: %s", zj_strerror (jerr));
        return NULL;
    }
    exec_t *self = calloc (1, sizeof *self);
    if (!self) {
        free (input);
        snprintf (why, why_size, "worker is out of memory");
        return NULL;
    }
    self->input = input;
    self->max_stdout = spec->max_stdout;
    self->done = done;
    self->arg = arg;

    uv_pipe_init (loop, &self->in, 0);
    uv_pipe_init (loop, &self->out, 0);
    uv_pipe_init (loop, &self->err, 0);
    uv_timer_init (loop, &self->grace);
    self->in.data = self->out.data = self->err.data = self->grace.data = self;
    self->proc.data = self->write_req.data = self;

    int rc = exec_spawn (loop, &self->proc, s_on_exit, spec->command, spec->guard,
                         &self->in, &self->out, &self->err);
    //  The process handle is initialised even when the spawn failed.
    self->open = 5;
    if (rc < 0) {
        snprintf (why, why_size, "cannot start %s: %s", spec->guard ? spec->guard : "/bin/sh",
                  uv_strerror (rc));
        self->done = NULL;
        self->finished = true;
        self->exited = true;
        s_close_all (self);
        return NULL;
    }
    self->pid = self->proc.pid;

    uv_buf_t buf = uv_buf_init (input, (unsigned int) strlen (input));
    rc = uv_write (&self->write_req, (uv_stream_t *) &self->in, &buf, 1, s_on_write);
    if (rc < 0) {
        free (self->input);
        self->input = NULL;
        s_close (self, (uv_handle_t *) &self->in);
    }
    rc = uv_read_start ((uv_stream_t *) &self->out, s_on_alloc, s_on_read);
    if (rc < 0)
        s_stop_reading (self, &self->out);
    rc = uv_read_start ((uv_stream_t *) &self->err, s_on_alloc, s_on_read);
    if (rc < 0)
        s_stop_reading (self, &self->err);
    return self;
}

void
exec_abort (exec_t **self_p)
{
    exec_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    if (self->finished)
        return;             //  already delivered; the caller dropped it late
    self->done = NULL;
    self->finished = true;
    s_kill_group (self);
    if (!self->out_eof)
        s_stop_reading (self, &self->out);
    if (!self->err_eof)
        s_stop_reading (self, &self->err);
    s_close_all (self);
}

int
exec_pid (const exec_t *self)
{
    return self->pid;
}

//  ---------------------------------------------------------------------
//  Outcome rules: pure, unit-tested.

static bool
s_is_space (char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

//  Parse `Type: message` out of one line; false when it does not match.
static bool
s_parse_error_line (const char *line, size_t len, zj_str_t *type, zj_str_t *message)
{
    size_t i = 0;
    if (len == 0 || !((line[0] >= 'A' && line[0] <= 'Z') || (line[0] >= 'a' && line[0] <= 'z')
                      || line[0] == '_'))
        return false;
    for (i = 1; i < len; i++) {
        char c = line[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
              || c == '_' || c == '.'))
            break;
    }
    if (i >= len || line[i] != ':')
        return false;
    type->ptr = line;
    type->len = i;
    i++;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t end = len;
    while (end > i && s_is_space (line[end - 1]))
        end--;
    message->ptr = line + i;
    message->len = end - i;
    return true;
}

void
exec_outcome_build (const char *out, size_t out_len, const char *err, size_t err_len,
                    int64_t exit_status, int term_signal, zj_enc_t *enc,
                    char *msg, size_t msg_size, outcome_t *result)
{
    if (exit_status == 0 && term_signal == 0) {
        size_t start = 0, end = out_len;
        while (start < end && s_is_space (out[start]))
            start++;
        while (end > start && s_is_space (out[end - 1]))
            end--;
        zj_enc_reset (enc);
        if (end == start || zj_json_to_msgpack (enc, out + start, end - start) != ZJ_OK) {
            zj_enc_reset (enc);
            size_t len = out_len;
            if (len > 0 && out[len - 1] == '\n')
                len--;
            zj_enc_str (enc, out, len);
        }
        if (zj_enc_failed (enc)) {
            outcome_set_error (result, "OutOfMemory", "worker is out of memory");
            return;
        }
        outcome_set_ok (result, zj_enc_data (enc), zj_enc_size (enc));
        return;
    }
    //  Find the last line that holds more than whitespace.
    size_t end = err_len;
    zj_str_t type, message;
    bool parsed = false;
    while (end > 0) {
        while (end > 0 && s_is_space (err[end - 1]))
            end--;
        if (end == 0)
            break;
        size_t start = end;
        while (start > 0 && err[start - 1] != '\n')
            start--;
        parsed = s_parse_error_line (err + start, end - start, &type, &message);
        break;
    }
    memset (result, 0, sizeof *result);
    result->ok = false;
    if (parsed) {
        result->err_type = type;
        result->err_message = message;
    }
    else {
        if (term_signal)
            snprintf (msg, msg_size, "command killed by signal %d", term_signal);
        else
            snprintf (msg, msg_size, "command exited with status %lld", (long long) exit_status);
        result->err_type.ptr = "ExecError";
        result->err_type.len = strlen ("ExecError");
        result->err_message.ptr = msg;
        result->err_message.len = strlen (msg);
    }
    result->err_traceback.ptr = err_len ? err : "";
    result->err_traceback.len = err_len;
}

//  ---------------------------------------------------------------------
//  The guard process. Runs alone in its own process, so plain POSIX.

int
exec_guard_main (const char *worker_pid, const char *command)
{
    //  The worker's pid comes from the worker itself: by the time this
    //  runs, the worker may be gone already, and getppid () would name
    //  whoever adopted us.
    pid_t worker = (pid_t) atol (worker_pid);
    //  The worker starts this in a new session; when run any other way,
    //  lead a group of its own anyway, as kill (0, ...) below must reach
    //  the task and nothing else.
    if (getpgrp () != getpid () && setpgid (0, 0) < 0)
        return 126;
    //  Signals arrive through sigwaitinfo only.
    sigset_t set, old;
    sigemptyset (&set);
    sigaddset (&set, SIGCHLD);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGHUP);
    sigprocmask (SIG_BLOCK, &set, &old);
    prctl (PR_SET_PDEATHSIG, SIGTERM);
    if (getppid () != worker)
        return 125;             //  the worker died before we could watch it
    pid_t child = fork ();
    if (child < 0) {
        fprintf (stderr, "zjob-worker: cannot fork /bin/sh: %s\n", strerror (errno));
        return 126;
    }
    if (child == 0) {
        sigprocmask (SIG_SETMASK, &old, NULL);
        execl ("/bin/sh", "sh", "-c", command, (char *) NULL);
        fprintf (stderr, "zjob-worker: cannot run /bin/sh: %s\n", strerror (errno));
        _exit (127);
    }
    //  The shell has its own copies; holding ours would delay EOF.
    close (0);
    close (1);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo (&set, &info);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            //  The worker is gone (or someone wants the task dead): end
            //  the whole group, this process included.
            kill (0, SIGKILL);
            _exit (137);
        }
        int status;
        pid_t pid = waitpid (child, &status, WNOHANG);
        if (pid != child)
            continue;
        if (WIFEXITED (status))
            return WEXITSTATUS (status);
        if (WIFSIGNALED (status)) {
            //  Die the same way, so the worker reports the same signal.
            int term = WTERMSIG (status);
            signal (term, SIG_DFL);
            sigset_t one;
            sigemptyset (&one);
            sigaddset (&one, term);
            sigprocmask (SIG_UNBLOCK, &one, NULL);
            raise (term);
            return 128 + term;
        }
    }
}
