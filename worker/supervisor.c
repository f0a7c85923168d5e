// SPDX-License-Identifier: MIT
//  supervisor - spawns, watches and restarts worker processes; see
//  supervisor.h. Holds no ZeroMQ state, so spawning is always safe; libuv
//  owns SIGCHLD and reaps every child through its exit callback.
#include "supervisor.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "log.h"
#include "notify.h"

extern char **environ;

typedef struct supervisor supervisor_t;

typedef struct {
    supervisor_t *owner;        //  back pointer for callbacks
    int index;                  //  0..procs-1
    uv_process_t *proc;         //  running child, or NULL; freed on close
    uv_timer_t restart;         //  pending restart
    uint64_t started;           //  loop time of the last spawn
    uint64_t backoff_ms;        //  last restart delay, 0 before the first
    int pid;                    //  child's pid while it runs
    char marker[64];            //  "ZJOB_WORKER_CHILD=INDEX:PPID"
} s_child_t;

struct supervisor {
    const options_t *options;   //  borrowed
    const char *self_exe;       //  borrowed: the program to run
    char **argv;                //  borrowed: the children's arguments
    char **env;                 //  environ less any marker, plus a slot for it
    size_t env_slot;            //  index of the marker slot in env
    uv_loop_t loop;             //  the supervisor's loop
    uv_signal_t sigterm;        //  stop
    uv_signal_t sigint;         //  stop
    uv_timer_t kill_timer;      //  SIGKILL for children slow to stop
    s_child_t *children;        //  options->procs entries
    int alive;                  //  children running now
    uint64_t restarts;          //  children restarted since start
    bool stopping;              //  a signal came
    notify_t *notify;           //  systemd (Type=notify, watchdog)
};

uint64_t
supervisor_backoff (uint64_t prev_ms, uint64_t uptime_ms)
{
    if (prev_ms == 0 || uptime_ms >= SUPERVISOR_STABLE_MS)
        return SUPERVISOR_BACKOFF_MIN_MS;
    uint64_t next = prev_ms * 2;
    return next > SUPERVISOR_BACKOFF_MAX_MS ? SUPERVISOR_BACKOFF_MAX_MS : next;
}

bool
supervisor_parse_marker (const char *text, int *index, int *parent)
{
    if (!text)
        return false;
    char *end;
    errno = 0;
    long i = strtol (text, &end, 10);
    if (errno || end == text || *end != ':' || i < 0 || i > 1000000)
        return false;
    const char *p = end + 1;
    long pp = strtol (p, &end, 10);
    if (errno || end == p || *end || pp <= 0 || pp > 0x7fffffff)
        return false;
    *index = (int) i;
    *parent = (int) pp;
    return true;
}

static void s_spawn (s_child_t *child);

static void
s_on_proc_close (uv_handle_t *handle)
{
    free (handle);
}

static void
s_maybe_done (supervisor_t *self)
{
    if (!self->stopping || self->alive > 0)
        return;
    uv_close ((uv_handle_t *) &self->kill_timer, NULL);
    uv_close ((uv_handle_t *) &self->sigterm, NULL);
    uv_close ((uv_handle_t *) &self->sigint, NULL);
    for (int i = 0; i < (int) self->options->procs; i++)
        uv_close ((uv_handle_t *) &self->children[i].restart, NULL);
}

static void
s_on_restart (uv_timer_t *timer)
{
    s_child_t *child = timer->data;
    if (!child->owner->stopping)
        s_spawn (child);
}

static void
s_schedule (s_child_t *child, uint64_t uptime_ms)
{
    child->backoff_ms = supervisor_backoff (child->backoff_ms, uptime_ms);
    log_warn ("restarting child", "proc=%d delay_ms=%llu", child->index,
              (unsigned long long) child->backoff_ms);
    child->owner->restarts++;
    uv_timer_start (&child->restart, s_on_restart, child->backoff_ms, 0);
}

static void
s_on_exit (uv_process_t *proc, int64_t exit_status, int term_signal)
{
    s_child_t *child = proc->data;
    supervisor_t *self = child->owner;
    uint64_t uptime = uv_now (&self->loop) - child->started;
    uv_close ((uv_handle_t *) proc, s_on_proc_close);
    child->proc = NULL;
    self->alive--;
    if (self->stopping) {
        log_info ("child stopped", "proc=%d pid=%d status=%lld signal=%d", child->index,
                  child->pid, (long long) exit_status, term_signal);
        s_maybe_done (self);
        return;
    }
    log_warn ("child exited", "proc=%d pid=%d status=%lld signal=%d uptime_ms=%llu",
              child->index, child->pid, (long long) exit_status, term_signal,
              (unsigned long long) uptime);
    s_schedule (child, uptime);
}

static void
s_spawn (s_child_t *child)
{
    supervisor_t *self = child->owner;
    uv_process_t *proc = calloc (1, sizeof *proc);
    if (!proc) {
        log_error ("cannot start child", "proc=%d error=\"out of memory\"", child->index);
        s_schedule (child, 0);
        return;
    }
    proc->data = child;
    self->env[self->env_slot] = child->marker;
    uv_stdio_container_t stdio[3];
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = 1;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = 2;
    uv_process_options_t options = {
        .exit_cb = s_on_exit,
        .file = self->self_exe,
        .args = self->argv,
        .env = self->env,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn (&self->loop, proc, &options);
    if (rc < 0) {
        log_error ("cannot start child", "proc=%d error=\"%s\"", child->index, uv_strerror (rc));
        uv_close ((uv_handle_t *) proc, s_on_proc_close);
        s_schedule (child, 0);
        return;
    }
    child->proc = proc;
    child->pid = proc->pid;
    child->started = uv_now (&self->loop);
    self->alive++;
    log_debug ("child started", "proc=%d pid=%d", child->index, child->pid);
}

static void
s_on_kill_timer (uv_timer_t *timer)
{
    supervisor_t *self = timer->data;
    for (int i = 0; i < (int) self->options->procs; i++)
        if (self->children[i].proc) {
            log_warn ("child slow to stop", "proc=%d pid=%d action=SIGKILL",
                      i, self->children[i].pid);
            uv_process_kill (self->children[i].proc, SIGKILL);
        }
}

static void
s_on_signal (uv_signal_t *handle, int signum)
{
    supervisor_t *self = handle->data;
    if (self->stopping) {
        //  A second signal: children stop at once on theirs (giving back
        //  their running tasks); the kill timer stays the backstop.
        log_info ("stopping now", "reason=%s children=%d",
                  signum == SIGINT ? "SIGINT" : "SIGTERM", self->alive);
        for (int i = 0; i < (int) self->options->procs; i++)
            if (self->children[i].proc)
                uv_process_kill (self->children[i].proc, SIGTERM);
        return;
    }
    self->stopping = true;
    log_info ("stopping", "reason=%s children=%d", signum == SIGINT ? "SIGINT" : "SIGTERM",
              self->alive);
    notify_stop (self->notify, "stopping: worker processes draining their tasks");
    for (int i = 0; i < (int) self->options->procs; i++) {
        uv_timer_stop (&self->children[i].restart);
        if (self->children[i].proc)
            uv_process_kill (self->children[i].proc, SIGTERM);
    }
    //  Children drain first: their running tasks may take --drain-timeout.
    uint64_t wait_ms = (uint64_t) (self->options->drain_timeout * 1000.0) + SUPERVISOR_STOP_MS;
    uv_timer_start (&self->kill_timer, s_on_kill_timer, wait_ms, 0);
    s_maybe_done (self);
}

//  notify_status_fn: how many worker processes run.
static void
s_status (void *arg, char *buf, size_t len)
{
    supervisor_t *self = arg;
    snprintf (buf, len, "%d of %u worker processes running, %llu restarts", self->alive,
              (unsigned) self->options->procs, (unsigned long long) self->restarts);
}

//  Whether an environment entry is systemd's notify socket or watchdog:
//  those are the supervisor's (NotifyAccess=main), not its children's.
static bool
s_systemd_var (const char *entry)
{
    static const char *names[] = {"NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp (entry, names[i], strlen (names[i])) == 0)
            return true;
    return false;
}

//  environ without any old marker, with one free slot for ours.
static char **
s_child_env (size_t *slot)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc (n + 2, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    size_t prefix = strlen (SUPERVISOR_CHILD_ENV "=");
    for (size_t i = 0; i < n; i++)
        if (strncmp (environ[i], SUPERVISOR_CHILD_ENV "=", prefix) != 0
            && !s_systemd_var (environ[i]))
            env[k++] = environ[i];
    *slot = k;
    return env;
}

int
supervisor_run (const options_t *options, const char *self_exe, char **argv)
{
    supervisor_t *self = calloc (1, sizeof *self);
    int code = 1;
    if (!self)
        return 1;
    self->options = options;
    self->self_exe = self_exe;
    self->argv = argv;
    self->children = calloc (options->procs, sizeof *self->children);
    self->env = s_child_env (&self->env_slot);
    if (!self->children || !self->env || uv_loop_init (&self->loop) < 0) {
        log_error ("supervisor failed to start", "error=\"out of memory\"");
        free (self->children);
        free (self->env);
        free (self);
        return 1;
    }
    uv_signal_init (&self->loop, &self->sigterm);
    uv_signal_init (&self->loop, &self->sigint);
    uv_timer_init (&self->loop, &self->kill_timer);
    self->sigterm.data = self->sigint.data = self->kill_timer.data = self;
    uv_signal_start (&self->sigterm, s_on_signal, SIGTERM);
    uv_signal_start (&self->sigint, s_on_signal, SIGINT);
    log_info ("supervising", "procs=%u broker=%s pid=%d", (unsigned) options->procs,
              options->broker, (int) getpid ());
    for (int i = 0; i < (int) options->procs; i++) {
        s_child_t *child = &self->children[i];
        child->owner = self;
        child->index = i;
        snprintf (child->marker, sizeof child->marker, "%s=%d:%d", SUPERVISOR_CHILD_ENV, i,
                  (int) getpid ());
        uv_timer_init (&self->loop, &child->restart);
        child->restart.data = child;
        s_spawn (child);
    }
    self->notify = notify_new (&self->loop, s_status, self);
    notify_ready (self->notify);
    uv_run (&self->loop, UV_RUN_DEFAULT);
    notify_destroy (&self->notify);
    code = uv_loop_close (&self->loop) == 0 ? 0 : 1;
    if (code != 0)
        log_error ("supervisor loop not empty at exit", "children=%d", self->alive);
    else
        log_info ("stopped", "procs=%u", (unsigned) options->procs);
    free (self->children);
    free (self->env);
    free (self);
    return code;
}
