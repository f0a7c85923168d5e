// SPDX-License-Identifier: MIT
//  metrics - Prometheus series and their text exposition; see metrics.h.
//  Buckets hold plain (not cumulative) counts so that an observation
//  touches one of them; rendering adds them up.
#include "metrics.h"
#include "hmap.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Bucket upper bounds in seconds, for both histograms: tasks run from
//  sub-millisecond built-ins to hour-long jobs, and queue waits span the
//  same range under backlog.
static const double s_bounds[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
};
#define NBOUNDS (sizeof s_bounds / sizeof s_bounds[0])

//  Longest function name kept (ZJ_MAX_FN in proto/msg.h).
#define NAME_MAX_BYTES 128

typedef struct {
    uint64_t buckets[NBOUNDS + 1];  //  per bucket; the last is +Inf
    double sum;                 //  seconds observed in all
} histogram_t;

struct metrics_fn {
    char name[NAME_MAX_BYTES];  //  function name, not NUL-terminated (map key)
    size_t len;                 //  its length
    uint64_t counters[METRICS_EVENTS];  //  by metrics_event_t
    histogram_t wait;           //  submit to dispatch
    histogram_t run;            //  dispatch to outcome
    size_t depth;               //  gauge: queued tasks
    size_t running;             //  gauge: tasks out on workers
    double oldest;              //  gauge: age of the oldest queued task
};

struct metrics {
    hmap_t *map;                //  name -> metrics_fn_t
    metrics_fn_t **all;         //  every series in creation order, owned
    size_t count;               //  series made, "_other" included
    size_t cap;
    metrics_fn_t *other;        //  shared series past the limit, or NULL
};

static const struct {
    const char *name;           //  family name
    const char *help;           //  HELP text
} s_events[METRICS_EVENTS] = {
    {"zjob_tasks_submitted_total", "Tasks accepted by the broker."},
    {"zjob_tasks_completed_total", "Tasks that finished done."},
    {"zjob_tasks_failed_total", "Tasks that finished failed (an error from the task, or WorkerLost)."},
    {"zjob_tasks_retried_total", "Tasks queued again after their worker was lost."},
    {"zjob_tasks_cancelled_total", "Tasks cancelled while queued."},
    {"zjob_tasks_expired_total", "Finished tasks deleted after their retention."},
};

metrics_t *
metrics_new (void)
{
    metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->map = hmap_new ();
    if (!self->map) {
        free (self);
        return NULL;
    }
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->all[i]);
    free (self->all);
    hmap_destroy (&self->map);
    free (self);
    *self_p = NULL;
}

static metrics_fn_t *
s_add (metrics_t *self, const char *name, size_t len)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        metrics_fn_t **all = realloc (self->all, cap * sizeof *all);
        if (!all)
            return NULL;
        self->all = all;
        self->cap = cap;
    }
    metrics_fn_t *fn = calloc (1, sizeof *fn);
    if (!fn)
        return NULL;
    fn->len = len;
    memcpy (fn->name, name, len);
    self->all[self->count++] = fn;
    return fn;
}

metrics_fn_t *
metrics_fn (metrics_t *self, const char *name, size_t len)
{
    if (len > NAME_MAX_BYTES)
        len = NAME_MAX_BYTES;
    metrics_fn_t *fn = hmap_get (self->map, name, len);
    if (fn)
        return fn;
    if (self->count - (self->other != NULL) >= METRICS_MAX_FUNCTIONS) {
        if (!self->other)
            self->other = s_add (self, "_other", 6);
        return self->other;
    }
    fn = s_add (self, name, len);
    if (fn && !hmap_put (self->map, fn->name, fn->len, fn)) {
        //  Unreachable through the map: take it back.
        self->count--;
        free (fn);
        fn = NULL;
    }
    return fn;
}

void
metrics_count (metrics_fn_t *fn, metrics_event_t event)
{
    if (fn && event < METRICS_EVENTS)
        fn->counters[event]++;
}

uint64_t
metrics_counter (const metrics_fn_t *fn, metrics_event_t event)
{
    return fn && event < METRICS_EVENTS ? fn->counters[event] : 0;
}

static void
s_observe (histogram_t *h, double seconds)
{
    if (!(seconds >= 0))            //  also NaN: a clock step, not a task
        seconds = 0;
    //  First bound >= seconds (le is inclusive).
    size_t lo = 0, hi = NBOUNDS;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s_bounds[mid] < seconds)
            lo = mid + 1;
        else
            hi = mid;
    }
    h->buckets[lo]++;
    h->sum += seconds;
}

void
metrics_observe_wait (metrics_fn_t *fn, double seconds)
{
    if (fn)
        s_observe (&fn->wait, seconds);
}

void
metrics_observe_run (metrics_fn_t *fn, double seconds)
{
    if (fn)
        s_observe (&fn->run, seconds);
}

void
metrics_gauges_clear (metrics_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        self->all[i]->depth = 0;
        self->all[i]->running = 0;
        self->all[i]->oldest = 0;
    }
}

void
metrics_gauges_add (metrics_fn_t *fn, size_t depth, size_t running, double oldest_age)
{
    if (!fn)
        return;
    fn->depth += depth;
    fn->running += running;
    if (oldest_age > fn->oldest)
        fn->oldest = oldest_age;
}

//  ---------------------------------------------------------------------
//  Exposition

//  Length of the valid UTF-8 sequence at p (at most n bytes), or 0.
static size_t
s_utf8_len (const unsigned char *p, size_t n)
{
    size_t need = p[0] < 0x80 ? 1 : (p[0] & 0xe0) == 0xc0 ? 2 : (p[0] & 0xf0) == 0xe0 ? 3
                : (p[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (need == 0 || need > n || (need == 2 && p[0] < 0xc2))
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return need;
}

//  A label value: backslash, quote and newline escaped as the format
//  asks, and bytes that are not UTF-8 (names are client-chosen bytes)
//  replaced by U+FFFD.
static void
s_label (FILE *out, const char *name, size_t len)
{
    const unsigned char *p = (const unsigned char *) name;
    for (size_t i = 0; i < len;) {
        size_t n = s_utf8_len (p + i, len - i);
        if (n == 0) {
            fputs ("\xef\xbf\xbd", out);
            i++;
        }
        else
        if (p[i] == '\\' || p[i] == '"') {
            fputc ('\\', out);
            fputc (p[i++], out);
        }
        else
        if (p[i] == '\n') {
            fputs ("\\n", out);
            i++;
        }
        else {
            fwrite (p + i, 1, n, out);
            i += n;
        }
    }
}

static void
s_sample_start (FILE *out, const char *family, const char *suffix, const metrics_fn_t *fn)
{
    fprintf (out, "%s%s{function=\"", family, suffix);
    s_label (out, fn->name, fn->len);
    fputc ('"', out);
}

static void
s_histogram (FILE *out, const char *family, const char *help, metrics_fn_t **fns, size_t n,
             size_t offset)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s histogram\n", family, help, family);
    for (size_t i = 0; i < n; i++) {
        const histogram_t *h = (const histogram_t *) ((const char *) fns[i] + offset);
        uint64_t total = 0;
        for (size_t b = 0; b <= NBOUNDS; b++) {
            total += h->buckets[b];
            s_sample_start (out, family, "_bucket", fns[i]);
            if (b < NBOUNDS)
                fprintf (out, ",le=\"%g\"} %llu\n", s_bounds[b], (unsigned long long) total);
            else
                fprintf (out, ",le=\"+Inf\"} %llu\n", (unsigned long long) total);
        }
        s_sample_start (out, family, "_sum", fns[i]);
        fprintf (out, "} %.9g\n", h->sum);
        s_sample_start (out, family, "_count", fns[i]);
        fprintf (out, "} %llu\n", (unsigned long long) total);
    }
}

static int
s_by_name (const void *a, const void *b)
{
    const metrics_fn_t *x = *(metrics_fn_t *const *) a, *y = *(metrics_fn_t *const *) b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp (x->name, y->name, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

char *
metrics_render (metrics_t *self, const metrics_global_t *g, size_t *len)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    metrics_fn_t **fns = malloc ((self->count ? self->count : 1) * sizeof *fns);
    if (!fns) {
        fclose (out);
        free (text);
        return NULL;
    }
    size_t n = self->count;
    if (n) {
        memcpy (fns, self->all, n * sizeof *fns);
        qsort (fns, n, sizeof *fns, s_by_name);
    }

    for (int e = 0; e < METRICS_EVENTS; e++) {
        fprintf (out, "# HELP %s %s\n# TYPE %s counter\n", s_events[e].name, s_events[e].help,
                 s_events[e].name);
        for (size_t i = 0; i < n; i++) {
            s_sample_start (out, s_events[e].name, "", fns[i]);
            fprintf (out, "} %llu\n", (unsigned long long) fns[i]->counters[e]);
        }
    }
    fputs ("# HELP zjob_queue_depth Tasks queued, waiting for a worker.\n"
           "# TYPE zjob_queue_depth gauge\n", out);
    for (size_t i = 0; i < n; i++) {
        s_sample_start (out, "zjob_queue_depth", "", fns[i]);
        fprintf (out, "} %zu\n", fns[i]->depth);
    }
    fputs ("# HELP zjob_tasks_running Tasks handed to workers and not finished.\n"
           "# TYPE zjob_tasks_running gauge\n", out);
    for (size_t i = 0; i < n; i++) {
        s_sample_start (out, "zjob_tasks_running", "", fns[i]);
        fprintf (out, "} %zu\n", fns[i]->running);
    }
    fputs ("# HELP zjob_queue_oldest_age_seconds Age of the oldest queued task (0 when none).\n"
           "# TYPE zjob_queue_oldest_age_seconds gauge\n", out);
    for (size_t i = 0; i < n; i++) {
        s_sample_start (out, "zjob_queue_oldest_age_seconds", "", fns[i]);
        fprintf (out, "} %.6f\n", fns[i]->oldest);
    }
    s_histogram (out, "zjob_task_wait_seconds",
                 "Time from submit to dispatch to a worker (the last dispatch when retried).",
                 fns, n, offsetof (metrics_fn_t, wait));
    s_histogram (out, "zjob_task_run_seconds",
                 "Time from dispatch to the worker's outcome.", fns, n,
                 offsetof (metrics_fn_t, run));
    fprintf (out,
             "# HELP zjob_workers_alive Workers registered and heard from within their liveness.\n"
             "# TYPE zjob_workers_alive gauge\n"
             "zjob_workers_alive %zu\n"
             "# HELP zjob_clients Clients with subscriptions or results waiting.\n"
             "# TYPE zjob_clients gauge\n"
             "zjob_clients %zu\n"
             "# HELP zjob_tasks_held Task records held: queued, running and finished within retention.\n"
             "# TYPE zjob_tasks_held gauge\n"
             "zjob_tasks_held %zu\n"
             "# HELP zjob_uptime_seconds Seconds since the broker started.\n"
             "# TYPE zjob_uptime_seconds gauge\n"
             "zjob_uptime_seconds %.3f\n"
             "# HELP zjob_build_info The broker's version and ticket generation.\n"
             "# TYPE zjob_build_info gauge\n"
             "zjob_build_info{version=\"",
             g->workers, g->clients, g->tasks, g->uptime);
    s_label (out, g->version, strlen (g->version));
    fputs ("\",generation=\"", out);
    s_label (out, g->generation, strlen (g->generation));
    fputs ("\"} 1\n", out);
    free (fns);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    *len = size;
    return text;
}
