// SPDX-License-Identifier: MIT
//  runner - task lifecycle for one worker process; see runner.h.
//  Built-ins finish inside the call that starts them; sleep and exec
//  finish from a timer or an exit callback. A task's memory is freed only
//  once its timers have closed; the runner never frees it sooner.
#include "runner.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "args.h"
#include "builtins.h"
#include "exec.h"
#include "log.h"
#include "serve.h"

//  Room left in a frame for everything but the result.
#define S_FRAME_MARGIN (64 * 1024)
//  Timeouts beyond this (about 31 years) count as this.
#define S_MAX_TIMEOUT_MS 1e12

typedef enum { S_HELD, S_RUNNING, S_ENDED } s_state_t;

typedef struct task task_t;
struct task {
    task_t *prev;               //  held queue or running list
    task_t *next;
    runner_t *runner;           //  owner
    s_state_t state;            //  where in its life
    zj_str_t ticket;            //  points into buf
    zj_str_t fn;                //  points into buf
    zj_raw_t args;              //  points into buf
    builtin_t builtin;          //  BUILTIN_NONE for exec handlers and unknowns
    const char *command;        //  exec handler's command, or NULL
    double timeout;             //  seconds; 0 = none
    bool chunk;                 //  args is an array of argument arrays
    args_iter_t iter;           //  chunk: next element
    zj_enc_t *chunk_enc;        //  chunk: [ok, payload] pairs so far
    exec_t *exec;               //  running command, or NULL
    serve_call_t *call;         //  running or queued call to a task process, or NULL
    outcome_t pending;          //  sleep: the outcome once the timer fires
    uv_timer_t sleep_timer;     //  sleep's wait
    uv_timer_t deadline;        //  the task's timeout
    bool sleep_init;            //  sleep_timer was initialised
    bool deadline_init;         //  deadline was initialised
    int open;                   //  timers not yet closed
    char msg[200];              //  error message text
    uint8_t buf[];              //  ticket, function name, then args
};

typedef struct {
    task_t *head;               //  first
    task_t *tail;               //  last
    uint32_t size;              //  entries
} s_list_t;

struct runner {
    uv_loop_t *loop;            //  borrowed
    const options_t *options;   //  borrowed
    const char *guard;          //  exec guard program, or NULL; borrowed
    runner_done_fn *done;       //  outcome sink
    void *done_arg;             //  for done
    s_list_t held;              //  waiting for a slot, FIFO
    s_list_t running;           //  started, not ended
    uint32_t concurrency;       //  slots
    size_t max_stdout;          //  exec result limit
    bool pumping;               //  s_pump is on the stack
    const char **functions;     //  served names (borrowed strings)
    size_t function_count;      //  entries in functions
    serve_t *serve;             //  --serve task processes, or NULL
    runner_change_fn *changed;  //  function list changed, or NULL
    void *changed_arg;          //  for changed
};

static void s_pump (runner_t *self);

static void
s_list_push (s_list_t *list, task_t *task)
{
    task->next = NULL;
    task->prev = list->tail;
    if (list->tail)
        list->tail->next = task;
    else
        list->head = task;
    list->tail = task;
    list->size++;
}

static void
s_list_remove (s_list_t *list, task_t *task)
{
    if (task->prev)
        task->prev->next = task->next;
    else
        list->head = task->next;
    if (task->next)
        task->next->prev = task->prev;
    else
        list->tail = task->prev;
    task->prev = task->next = NULL;
    list->size--;
}

static void
s_on_timer_close (uv_handle_t *handle)
{
    task_t *task = handle->data;
    if (--task->open == 0)
        free (task);
}

//  Free the task, now or once its timers have closed.
static void
s_release (task_t *task)
{
    zj_enc_destroy (&task->chunk_enc);
    if (task->sleep_init) {
        task->open++;
        uv_close ((uv_handle_t *) &task->sleep_timer, s_on_timer_close);
    }
    if (task->deadline_init) {
        task->open++;
        uv_close ((uv_handle_t *) &task->deadline, s_on_timer_close);
    }
    if (task->open == 0)
        free (task);
}

//  End a running task: report the outcome, free the slot, start the next.
static void
s_finish (task_t *task, const outcome_t *out)
{
    runner_t *self = task->runner;
    if (task->state != S_RUNNING)
        return;
    task->state = S_ENDED;
    if (task->sleep_init)
        uv_timer_stop (&task->sleep_timer);
    if (task->deadline_init)
        uv_timer_stop (&task->deadline);
    s_list_remove (&self->running, task);
    log_debug ("task done", "ticket=%.*s ok=%s", (int) task->ticket.len, task->ticket.ptr,
               out->ok ? "true" : "false");
    self->done (task->ticket, out, self->done_arg);
    s_release (task);
    s_pump (self);
}

//  Append one chunk element's outcome as [ok, payload].
static void
s_record (task_t *task, const outcome_t *out)
{
    zj_enc_t *enc = task->chunk_enc;
    zj_enc_array (enc, 2);
    zj_enc_bool (enc, out->ok);
    if (out->ok)
        zj_enc_raw (enc, out->value.ptr, out->value.len);
    else {
        zj_enc_array (enc, 3);
        zj_enc_str (enc, out->err_type.ptr, out->err_type.len);
        zj_enc_str (enc, out->err_message.ptr, out->err_message.len);
        zj_enc_str (enc, out->err_traceback.ptr, out->err_traceback.len);
    }
}

static void s_on_sleep (uv_timer_t *timer);
static void s_on_exec_done (const outcome_t *out, void *arg);
static void s_on_serve_done (const outcome_t *out, void *arg);

//  One call of the task's function over `args`. True when *out holds
//  the outcome now; false when a timer or the command will deliver it.
static bool
s_call (task_t *task, zj_raw_t args, outcome_t *out)
{
    runner_t *self = task->runner;
    if (task->command) {
        exec_spec_t spec = {
            .command = task->command,
            .args = args,
            .max_stdout = self->max_stdout,
            .guard = self->guard,
        };
        task->exec = exec_start (self->loop, &spec, s_on_exec_done, task,
                                 task->msg, sizeof task->msg);
        if (task->exec)
            return false;
        outcome_set_error (out, "ExecError", task->msg);
        return true;
    }
    if (self->serve && serve_has (self->serve, task->fn.ptr, task->fn.len)) {
        task->call = serve_call (self->serve, task->fn, args, 0, s_on_serve_done, task);
        if (task->call)
            return false;
        outcome_set_error (out, "OutOfMemory", "worker is out of memory");
        return true;
    }
    if (task->builtin == BUILTIN_NONE) {
        snprintf (task->msg, sizeof task->msg, "function '%.*s' is not served by this worker",
                  (int) task->fn.len, task->fn.ptr);
        outcome_set_error (out, "UnknownFunction", task->msg);
        return true;
    }
    uint64_t delay_ms;
    builtins_run (task->builtin, args, out, &delay_ms, task->msg, sizeof task->msg);
    if (delay_ms == 0)
        return true;
    if (!task->sleep_init) {
        uv_timer_init (self->loop, &task->sleep_timer);
        task->sleep_timer.data = task;
        task->sleep_init = true;
    }
    task->pending = *out;
    uv_timer_start (&task->sleep_timer, s_on_sleep, delay_ms, 0);
    return false;
}

//  Run chunk elements until one has to wait, or all are done.
static void
s_advance (task_t *task)
{
    zj_raw_t elem;
    outcome_t out;
    while (args_iter_next (&task->iter, &elem)) {
        if (!args_is_array (elem)) {
            snprintf (task->msg, sizeof task->msg,
                      "chunk element %u is not an argument array but %s",
                      (unsigned) (task->iter.count - task->iter.left - 1), args_type_name (elem));
            outcome_set_error (&out, "BadArguments", task->msg);
            s_record (task, &out);
            continue;
        }
        if (!s_call (task, elem, &out))
            return;
        s_record (task, &out);
    }
    if (task->iter.left > 0)
        outcome_set_error (&out, "BadArguments", "chunk arguments are malformed");
    else
    if (zj_enc_failed (task->chunk_enc))
        outcome_set_error (&out, "OutOfMemory", "worker is out of memory");
    else
        outcome_set_ok (&out, zj_enc_data (task->chunk_enc), zj_enc_size (task->chunk_enc));
    s_finish (task, &out);
}

//  A call that had to wait has its outcome.
static void
s_resume (task_t *task, const outcome_t *out)
{
    if (task->chunk) {
        s_record (task, out);
        s_advance (task);
    }
    else
        s_finish (task, out);
}

static void
s_on_sleep (uv_timer_t *timer)
{
    task_t *task = timer->data;
    outcome_t out = task->pending;
    s_resume (task, &out);
}

static void
s_on_exec_done (const outcome_t *out, void *arg)
{
    task_t *task = arg;
    task->exec = NULL;
    s_resume (task, out);
}

static void
s_on_serve_done (const outcome_t *out, void *arg)
{
    task_t *task = arg;
    task->call = NULL;
    s_resume (task, out);
}

//  The whole chunk went to a task process as one frame.
static void
s_on_serve_chunk_done (const outcome_t *out, void *arg)
{
    task_t *task = arg;
    task->call = NULL;
    s_finish (task, out);
}

static void
s_on_deadline (uv_timer_t *timer)
{
    task_t *task = timer->data;
    exec_abort (&task->exec);
    serve_cancel (&task->call);
    snprintf (task->msg, sizeof task->msg, "task exceeded its timeout of %g s", task->timeout);
    outcome_t out;
    outcome_set_error (&out, "TimeoutError", task->msg);
    s_finish (task, &out);
}

static void
s_start (task_t *task)
{
    runner_t *self = task->runner;
    task->state = S_RUNNING;
    s_list_push (&self->running, task);
    log_debug ("task start", "ticket=%.*s function=%.*s", (int) task->ticket.len, task->ticket.ptr,
               (int) task->fn.len, task->fn.ptr);
    if (task->timeout > 0) {
        uv_timer_init (self->loop, &task->deadline);
        task->deadline.data = task;
        task->deadline_init = true;
        double ms = ceil (task->timeout * 1000.0);
        uv_timer_start (&task->deadline, s_on_deadline,
                        ms < S_MAX_TIMEOUT_MS ? (uint64_t) ms : (uint64_t) S_MAX_TIMEOUT_MS, 0);
    }
    outcome_t out;
    if (task->chunk) {
        if (!args_iter_init (&task->iter, task->args)) {
            snprintf (task->msg, sizeof task->msg,
                      "chunk arguments must be an array of argument arrays, got %s",
                      args_type_name (task->args));
            outcome_set_error (&out, "BadArguments", task->msg);
            s_finish (task, &out);
            return;
        }
        //  A task process that takes whole chunks gets one frame, not one
        //  round trip per element.
        if (self->serve && task->iter.count > 0 && serve_chunks (self->serve)
        && serve_has (self->serve, task->fn.ptr, task->fn.len) && !task->command) {
            task->call = serve_call (self->serve, task->fn, task->args, task->iter.count,
                                     s_on_serve_chunk_done, task);
            if (!task->call) {
                outcome_set_error (&out, "OutOfMemory", "worker is out of memory");
                s_finish (task, &out);
            }
            return;
        }
        task->chunk_enc = zj_enc_new ();
        if (!task->chunk_enc) {
            outcome_set_error (&out, "OutOfMemory", "worker is out of memory");
            s_finish (task, &out);
            return;
        }
        zj_enc_array (task->chunk_enc, task->iter.count);
        s_advance (task);
    }
    else
    if (s_call (task, task->args, &out))
        s_finish (task, &out);
}

static void
s_pump (runner_t *self)
{
    //  Finishing a task pumps again; the loop below already covers that.
    if (self->pumping)
        return;
    self->pumping = true;
    while (self->running.size < self->concurrency && self->held.head) {
        task_t *task = self->held.head;
        s_list_remove (&self->held, task);
        s_start (task);
    }
    self->pumping = false;
}

//  Stop a running task without an outcome.
static void
s_kill (task_t *task)
{
    runner_t *self = task->runner;
    exec_abort (&task->exec);
    serve_cancel (&task->call);
    if (task->sleep_init)
        uv_timer_stop (&task->sleep_timer);
    if (task->deadline_init)
        uv_timer_stop (&task->deadline);
    task->state = S_ENDED;
    s_list_remove (&self->running, task);
    s_release (task);
}

//  (Re)build the served names: exec handlers win over task processes,
//  which win over built-ins of the same name.
static bool
s_list_functions (runner_t *self)
{
    const options_t *options = self->options;
    size_t serve_count = 0;
    const char *const *served = self->serve ? serve_functions (self->serve, &serve_count) : NULL;
    const char **functions = calloc (BUILTIN_COUNT + options->exec_count + serve_count,
                                     sizeof (char *));
    if (!functions)
        return false;
    size_t n = 0;
    for (int b = BUILTIN_NONE + 1; b < BUILTIN_COUNT; b++) {
        const char *name = builtins_name ((builtin_t) b);
        if (!options_find_exec (options, name, strlen (name))
        && !(self->serve && serve_has (self->serve, name, strlen (name))))
            functions[n++] = name;
    }
    for (size_t i = 0; i < options->exec_count; i++)
        functions[n++] = options->execs[i].name;
    for (size_t i = 0; i < serve_count; i++)
        if (!options_find_exec (options, served[i], strlen (served[i])))
            functions[n++] = served[i];
    free (self->functions);
    self->functions = functions;
    self->function_count = n;
    return true;
}

static void
s_on_serve_change (void *arg)
{
    runner_t *self = arg;
    if (!s_list_functions (self)) {
        log_error ("out of memory", "what=function-list");
        return;
    }
    if (self->changed)
        self->changed (self->changed_arg);
}

runner_t *
runner_new (uv_loop_t *loop, const options_t *options, const char *guard,
            runner_done_fn *done, void *arg)
{
    runner_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    self->options = options;
    self->guard = guard;
    self->done = done;
    self->done_arg = arg;
    self->concurrency = options->concurrency ? options->concurrency : 1;
    self->max_stdout = options->max_frame > 2 * S_FRAME_MARGIN
                     ? options->max_frame - S_FRAME_MARGIN : options->max_frame / 2;
    if (options->serve) {
        serve_spec_t spec = {
            .command = options->serve,
            .slots = self->concurrency,
            .max_frame = options->max_frame,
            .max_result = self->max_stdout,
            .guard = guard,
        };
        self->serve = serve_new (loop, &spec, s_on_serve_change, self);
        if (!self->serve) {
            free (self);
            return NULL;
        }
    }
    if (!s_list_functions (self)) {
        serve_destroy (&self->serve);
        free (self);
        return NULL;
    }
    return self;
}

void
runner_destroy (runner_t **self_p)
{
    runner_t *self = *self_p;
    if (!self)
        return;
    *self_p = NULL;
    runner_abort_all (self);
    serve_destroy (&self->serve);
    free (self->functions);
    free (self);
}

void
runner_on_change (runner_t *self, runner_change_fn *fn, void *arg)
{
    self->changed = fn;
    self->changed_arg = arg;
}

bool
runner_ready (const runner_t *self)
{
    size_t count = 0;
    return !self->serve || (serve_functions (self->serve, &count), count > 0);
}

const char *const *
runner_functions (const runner_t *self, size_t *count)
{
    *count = self->function_count;
    return self->functions;
}

zj_err_t
runner_submit (runner_t *self, const zj_job_t *job)
{
    //  One allocation per task: the struct, then copies of the views.
    task_t *task = malloc (sizeof *task + job->ticket.len + job->fn.len + job->args.len);
    if (!task)
        return ZJ_ENOMEM;
    memset (task, 0, sizeof *task);
    task->runner = self;
    task->state = S_HELD;
    uint8_t *p = task->buf;
    memcpy (p, job->ticket.ptr, job->ticket.len);
    task->ticket.ptr = (const char *) p;
    task->ticket.len = job->ticket.len;
    p += job->ticket.len;
    memcpy (p, job->fn.ptr, job->fn.len);
    task->fn.ptr = (const char *) p;
    task->fn.len = job->fn.len;
    p += job->fn.len;
    if (job->args.len)
        memcpy (p, job->args.ptr, job->args.len);
    task->args.ptr = p;
    task->args.len = job->args.len;
    task->timeout = job->timeout > 0 ? job->timeout : 0;
    task->chunk = job->chunk;
    const options_exec_t *handler = options_find_exec (self->options, job->fn.ptr, job->fn.len);
    if (handler)
        task->command = handler->command;
    else
        task->builtin = builtins_find (job->fn.ptr, job->fn.len);
    s_list_push (&self->held, task);
    s_pump (self);
    return ZJ_OK;
}

static task_t *
s_find (s_list_t *list, zj_str_t ticket)
{
    for (task_t *task = list->head; task; task = task->next)
        if (task->ticket.len == ticket.len && memcmp (task->ticket.ptr, ticket.ptr, ticket.len) == 0)
            return task;
    return NULL;
}

bool
runner_abort (runner_t *self, zj_str_t ticket)
{
    task_t *task = s_find (&self->held, ticket);
    if (task) {
        s_list_remove (&self->held, task);
        s_release (task);
        return true;
    }
    task = s_find (&self->running, ticket);
    if (!task)
        return false;
    log_debug ("task aborted", "ticket=%.*s", (int) ticket.len, ticket.ptr);
    s_kill (task);
    s_pump (self);
    return true;
}

void
runner_abort_all (runner_t *self)
{
    while (self->held.head) {
        task_t *task = self->held.head;
        s_list_remove (&self->held, task);
        s_release (task);
    }
    while (self->running.head)
        s_kill (self->running.head);
}

uint32_t
runner_return_held (runner_t *self, runner_ticket_fn *fn, void *arg)
{
    uint32_t count = 0;
    while (self->held.head) {
        task_t *task = self->held.head;
        s_list_remove (&self->held, task);
        fn (task->ticket, arg);
        s_release (task);
        count++;
    }
    return count;
}

void
runner_each (const runner_t *self, runner_ticket_fn *fn, void *arg)
{
    for (const task_t *task = self->running.head; task; task = task->next)
        fn (task->ticket, arg);
    for (const task_t *task = self->held.head; task; task = task->next)
        fn (task->ticket, arg);
}

uint32_t
runner_running (const runner_t *self)
{
    return self->running.size;
}

uint32_t
runner_held (const runner_t *self)
{
    return self->held.size;
}
