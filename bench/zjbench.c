// SPDX-License-Identifier: MIT
//  zjbench - zjob's load generator: starts zjobd and zjob-worker on free
//  loopback ports, drives them through libzjob (bench/zjrun.c), prints a
//  table and optionally writes every figure as JSON for bench/compare.
//  Everything it starts it stops, by process group id.
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "bproc.h"
#include "bstat.h"
#include "zjob.h"
#include "zjrun.h"

#ifndef ZJB_ZJOBD
#define ZJB_ZJOBD "zjobd"
#endif
#ifndef ZJB_WORKER
#define ZJB_WORKER "zjob-worker"
#endif
#ifndef ZJB_SIMWORK
#define ZJB_SIMWORK "zjsimwork"
#endif

#define S_MAX_COUNTS 8
static const size_t s_chunks[] = {1, 10, 100, 1000};
#define S_NCHUNKS (sizeof s_chunks / sizeof s_chunks[0])
//  Argument bytes of each queued task in the memory figure.
#define S_PAYLOAD 100

//  Parts of a run, for --only.
enum {
    S_WINDOW = 1, S_BATCH = 2, S_MAP = 4, S_LATENCY = 8, S_MEMORY = 16, S_DURABILITY = 32,
    S_SCALE = 64,
};
static const char *s_part_names[] = {"window", "batch", "map", "latency", "memory",
                                     "durability", "scale"};

typedef struct {
    const char *zjobd;          //  broker program
    const char *worker;         //  worker program
    const char *simwork;        //  simulated-worker program (--scale)
    bool quick;                 //  a smoke run of about a second
    unsigned parts;             //  S_* bits: what to measure
    int counts[S_MAX_COUNTS];   //  worker process counts to measure
    size_t ncounts;
    double secs;                //  length of each throughput measurement
    size_t window;              //  tasks in flight, windowed mode
    size_t batch;               //  tasks per burst, batched mode
    size_t prefetch;            //  worker --prefetch
    size_t queued;              //  tasks queued for the memory figure
    size_t samples;             //  latency round trips
    const char *json;           //  write figures here, or NULL
    bool has_durability;        //  zjobd knows --durability
    bool has_state_dir;         //  zjobd knows --state-dir
    char dir[64];               //  scratch directory (logs, endpoints, state)
} s_cfg_t;

typedef struct {
    pid_t pid;                  //  zjobd, also its process group
    char clients[256];          //  its client endpoint
    char workers[256];          //  its worker endpoint
} s_broker_t;

static volatile sig_atomic_t s_interrupted;

static int
s_rm_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    return remove (path);
}

static void
s_on_signal (int sig)
{
    s_interrupted = 1;
}

//  ---------------------------------------------------------------------
//  Processes

//  Start zjobd on free ports. durability NULL: memory mode when the flag
//  exists. False (logged) when it does not come up.
static bool
s_broker_start (const s_cfg_t *cfg, s_broker_t *b, const char *durability)
{
    static int serial;
    char ep_file[128], log_file[128], state_dir[128];
    int n = ++serial;
    snprintf (ep_file, sizeof ep_file, "%s/endpoints-%d", cfg->dir, n);
    snprintf (log_file, sizeof log_file, "%s/zjobd-%d.log", cfg->dir, n);
    snprintf (state_dir, sizeof state_dir, "%s/state-%d", cfg->dir, n);
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *) cfg->zjobd;
    argv[argc++] = "--clients";
    argv[argc++] = "tcp://127.0.0.1:*";
    argv[argc++] = "--workers";
    argv[argc++] = "tcp://127.0.0.1:*";
    argv[argc++] = "--endpoints-file";
    argv[argc++] = ep_file;
    argv[argc++] = "--log-level";
    argv[argc++] = "warn";
    if (cfg->has_durability) {
        argv[argc++] = "--durability";
        argv[argc++] = (char *) (durability ? durability : "memory");
        if (cfg->has_state_dir) {
            argv[argc++] = "--state-dir";
            argv[argc++] = state_dir;
        }
    }
    argv[argc] = NULL;
    memset (b, 0, sizeof *b);
    b->pid = bproc_spawn (argv, log_file);
    if (b->pid < 0
        || !bproc_read_endpoints (ep_file, 10, b->clients, b->workers, sizeof b->clients)) {
        fprintf (stderr, "zjbench: zjobd did not come up; see %s\n", log_file);
        bproc_stop (b->pid, 1);
        b->pid = 0;
        return false;
    }
    return true;
}

static void
s_broker_stop (s_broker_t *b)
{
    bproc_stop (b->pid, 5);
    b->pid = 0;
}

static pid_t
s_workers_start (const s_cfg_t *cfg, const s_broker_t *b, int procs)
{
    char log_file[128], nprocs[16], prefetch[16];
    snprintf (log_file, sizeof log_file, "%s/worker.log", cfg->dir);
    snprintf (nprocs, sizeof nprocs, "%d", procs);
    snprintf (prefetch, sizeof prefetch, "%zu", cfg->prefetch);
    char *argv[] = {(char *) cfg->worker, "--broker", (char *) b->workers, "--procs", nprocs,
                    "--prefetch", prefetch, "--log-level", "warn", NULL};
    return bproc_spawn (argv, log_file);
}

static pid_t
s_simwork_start (const s_cfg_t *cfg, const s_broker_t *b, int workers, int credit)
{
    char log_file[128], nworkers[16], ncredit[16];
    snprintf (log_file, sizeof log_file, "%s/simwork.log", cfg->dir);
    snprintf (nworkers, sizeof nworkers, "%d", workers);
    snprintf (ncredit, sizeof ncredit, "%d", credit);
    char *argv[] = {(char *) cfg->simwork, "--broker", (char *) b->workers, "--workers",
                    nworkers, "--credit", ncredit, NULL};
    return bproc_spawn (argv, log_file);
}

//  Read one integer from the broker's STATS: workers registered (key
//  "workers"), or tasks queued + running (key "backlog"). -1 on error.
static long
s_stats (zj_client_t *client, const char *what)
{
    zj_err_t err = ZJ_OK;
    char *text = zj_client_stats_json (client, &err);
    if (!text)
        return -1;
    json_t *root = json_loads (text, 0, NULL);
    free (text);
    long value = -1;
    if (root && strcmp (what, "workers") == 0)
        value = (long) json_array_size (json_object_get (root, "workers"));
    else if (root) {
        json_t *tasks = json_object_get (root, "tasks");
        value = (long) json_integer_value (json_object_get (tasks, "queued"))
              + (long) json_integer_value (json_object_get (tasks, "running"));
    }
    json_decref (root);
    return value;
}

//  Wait until `n` workers are registered. False after timeout seconds.
static bool
s_wait_workers (zj_client_t *client, long n, double timeout)
{
    double deadline = bproc_now () + timeout;
    while (bproc_now () < deadline && !s_interrupted) {
        if (s_stats (client, "workers") >= n)
            return true;
        bproc_sleep (0.02);
    }
    fprintf (stderr, "zjbench: %ld workers did not register within %g s\n", n, timeout);
    return false;
}

//  A broker, its workers (real or simulated) and one client.
typedef struct {
    s_broker_t b;               //  zjobd
    zjrun_procs_t p;            //  pids whose CPU is measured
    zj_client_t *client;        //  connected to b
} s_session_t;

//  Start workers for s: `n` zjob-worker processes, or with sim_credit > 0
//  `n` simulated workers of that credit. Waits until they registered.
static bool
s_session_workers (const s_cfg_t *cfg, s_session_t *s, int n, int sim_credit)
{
    s->p.workers = sim_credit > 0 ? s_simwork_start (cfg, &s->b, n, sim_credit)
                                  : s_workers_start (cfg, &s->b, n);
    return s->p.workers > 0 && s_wait_workers (s->client, n, sim_credit > 0 ? 60 : 15);
}

//  Start zjobd (durability as in s_broker_start), a client, and `n`
//  workers as s_session_workers (none when n is 0). False when any part
//  failed; call s_session_close either way.
static bool
s_session_open (const s_cfg_t *cfg, s_session_t *s, const char *durability, int n,
                int sim_credit)
{
    memset (s, 0, sizeof *s);
    if (!s_broker_start (cfg, &s->b, durability))
        return false;
    s->p.broker = s->b.pid;
    zj_err_t err = ZJ_OK;
    s->client = zj_client_new (s->b.clients, NULL, &err);
    if (!s->client) {
        fprintf (stderr, "zjbench: cannot make a client for %s: %s\n", s->b.clients,
                 zj_client_err_name (err));
        return false;
    }
    //  A ping makes sure the broker answers before anything is measured.
    if (zj_client_ping (s->client, 5) != ZJ_OK) {
        fprintf (stderr, "zjbench: zjobd at %s does not answer\n", s->b.clients);
        return false;
    }
    return n == 0 || s_session_workers (cfg, s, n, sim_credit);
}

static void
s_session_close (s_session_t *s)
{
    zj_client_destroy (&s->client);
    bproc_stop (s->p.workers, 5);
    s->p.workers = 0;
    s_broker_stop (&s->b);
}


//  ---------------------------------------------------------------------
//  Output

static double
s_us_per (double cpu, size_t n)
{
    return n ? cpu * 1e6 / (double) n : 0;
}

static void
s_print_tput (const char *what, const zjrun_tput_t *t, const char *unit)
{
    double rate = t->secs > 0 ? (double) t->tasks / t->secs : 0;
    printf ("  %-34s %11.0f %-8s broker %5.2f  workers %5.2f  client %5.2f us/%s%s\n", what,
            rate, unit, s_us_per (t->broker_cpu, t->tasks), s_us_per (t->worker_cpu, t->tasks),
            s_us_per (t->client_cpu, t->tasks), strcmp (unit, "items/s") == 0 ? "item" : "task",
            t->failed ? "  (some failed)" : "");
    fflush (stdout);
}

static void
s_record_tput (const char *key, const zjrun_tput_t *t)
{
    double rate = t->secs > 0 ? (double) t->tasks / t->secs : 0;
    bstat_set (rate, "%s.rate", key);
    bstat_set (s_us_per (t->broker_cpu, t->tasks), "%s.broker_us", key);
    bstat_set (s_us_per (t->worker_cpu, t->tasks), "%s.worker_us", key);
    bstat_set (s_us_per (t->client_cpu, t->tasks), "%s.client_us", key);
    bstat_set ((double) t->failed, "%s.failed", key);
    bstat_set ((double) t->tasks, "%s.tasks", key);
}

//  Print a throughput line and record its figures under `key`.
static void
s_report (const zjrun_tput_t *t, const char *unit, const char *key, const char *what_fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_report (const zjrun_tput_t *t, const char *unit, const char *key, const char *what_fmt, ...)
{
    char what[80];
    va_list ap;
    va_start (ap, what_fmt);
    vsnprintf (what, sizeof what, what_fmt, ap);
    va_end (ap);
    s_print_tput (what, t, unit);
    s_record_tput (key, t);
}

//  ---------------------------------------------------------------------
//  Sections

//  Throughput, map and latency with `procs` real worker processes.
static bool
s_bench_workers (const s_cfg_t *cfg, int procs)
{
    printf ("\n%d worker process%s (zjob-worker --procs %d --prefetch %zu):\n", procs,
            procs == 1 ? "" : "es", procs, cfg->prefetch);
    s_session_t s;
    bool ok = s_session_open (cfg, &s, NULL, procs, 0);
    char key[64];
    zjrun_tput_t t;
    //  Warm up: connections, allocator, page faults.
    if (ok)
        zjrun_window (s.client, &s.p, cfg->window, cfg->secs / 4, &t);
    if (ok && (cfg->parts & S_WINDOW)) {
        long long rss0 = bproc_rss (s.b.pid);
        ok = zjrun_window (s.client, &s.p, cfg->window, cfg->secs, &t);
        snprintf (key, sizeof key, "w%d.window", procs);
        s_report (&t, "tasks/s", key, "tasks, %zu in flight", cfg->window);
        //  Finished tasks stay for --retention; what each one costs until then.
        double kept = t.tasks ? (double) (bproc_rss (s.b.pid) - rss0) / (double) t.tasks : 0;
        printf ("  %-34s %11.0f B of broker RSS per finished task kept\n", "", kept);
        bstat_set (kept, "w%d.window.kept_b", procs);
    }
    if (ok && !s_interrupted && (cfg->parts & S_BATCH)) {
        ok = zjrun_batch (s.client, &s.p, cfg->batch, 4, cfg->secs, &t);
        snprintf (key, sizeof key, "w%d.batch", procs);
        s_report (&t, "tasks/s", key, "tasks, bursts of %zu (4 in flight)", cfg->batch);
    }
    for (size_t i = 0; ok && !s_interrupted && (cfg->parts & S_MAP) && i < S_NCHUNKS; i++) {
        size_t cs = s_chunks[i];
        //  Large enough that pipeline fill and drain stay small per map.
        size_t count = cs * 2000;
        count = count < 50000 ? 50000 : count > 2000000 ? 2000000 : count;
        if (cfg->quick)
            count = cs * 20;
        ok = zjrun_map (s.client, &s.p, cs, count, cfg->secs, &t);
        snprintf (key, sizeof key, "w%d.map%zu", procs, cs);
        s_report (&t, "items/s", key, "map, chunksize %zu", cs);
    }
    if (ok && !s_interrupted && (cfg->parts & S_LATENCY)) {
        zjrun_lat_t lat;
        ok = zjrun_latency (s.client, cfg->samples, 30, &lat);
        printf ("  %-34s p50 %.0f us  p99 %.0f us  p99.9 %.0f us  mean %.0f us  (%zu)\n",
                "one at a time, round trip", lat.p50, lat.p99, lat.p999, lat.mean, lat.n);
        bstat_set (lat.p50, "w%d.lat.p50_us", procs);
        bstat_set (lat.p99, "w%d.lat.p99_us", procs);
        bstat_set (lat.p999, "w%d.lat.p999_us", procs);
        bstat_set ((double) lat.n, "w%d.lat.samples", procs);
    }
    s_session_close (&s);
    return ok;
}

typedef struct {
    pid_t broker;               //  whose RSS
    long long base;             //  RSS before the first task
} s_rss_t;

static void
s_on_filled (size_t queued, void *arg)
{
    s_rss_t *r = arg;
    long long rss = bproc_rss (r->broker);
    double per = (double) (rss - r->base) / (double) queued;
    printf ("  %-34s %11zu tasks  RSS %7.1f MiB  %6.0f B/task (%.0f beyond the %d-byte args)\n",
            "queued, no worker", queued, (double) rss / 1048576.0, per, per - S_PAYLOAD,
            S_PAYLOAD);
    fflush (stdout);
    bstat_set (per - S_PAYLOAD, "mem.q%zu.overhead_b", queued);
    bstat_set ((double) rss, "mem.q%zu.rss_b", queued);
}

//  Broker memory per queued task, then the rate at which 2 workers drain
//  that backlog.
static bool
s_bench_memory (const s_cfg_t *cfg)
{
    printf ("\nBroker memory (tasks with %d-byte argument lists, RSS from /proc):\n", S_PAYLOAD);
    s_session_t s;
    bool ok = s_session_open (cfg, &s, NULL, 0, 0);
    s_rss_t r = {s.b.pid, bproc_rss (s.b.pid)};
    bstat_set ((double) r.base, "mem.base_rss_b");
    size_t at[8], nat = 0;
    for (size_t n = 10000; n < cfg->queued && nat < 7; n *= 10)
        at[nat++] = n;
    at[nat++] = cfg->queued;
    double cpu0 = bproc_cpu (s.b.pid), t0 = bproc_now ();
    ok = ok && zjrun_fill (s.client, "noop", cfg->queued, S_PAYLOAD, at, nat, s_on_filled, &r);
    if (ok) {
        double secs = bproc_now () - t0, cpu = bproc_cpu (s.b.pid) - cpu0;
        printf ("  %-34s %11.0f tasks/s  broker %5.2f us/task\n", "submit only (no worker)",
                (double) cfg->queued / secs, s_us_per (cpu, cfg->queued));
        bstat_set ((double) cfg->queued / secs, "mem.submit_rate");
        bstat_set (s_us_per (cpu, cfg->queued), "mem.submit_broker_us");
        bstat_set ((double) (bproc_rss (s.b.pid) - r.base) / (double) cfg->queued - S_PAYLOAD,
                   "mem.overhead_b");
        cpu0 = bproc_cpu (s.b.pid);
        t0 = bproc_now ();
    }
    if (ok && s_session_workers (cfg, &s, 2, 0)) {
        double deadline = t0 + 120;
        long left = -1;
        while (!s_interrupted && bproc_now () < deadline
               && (left = s_stats (s.client, "backlog")) != 0)
            bproc_sleep (0.005);
        double secs = bproc_now () - t0, cpu = bproc_cpu (s.b.pid) - cpu0;
        if (left == 0) {
            printf ("  %-34s %11.0f tasks/s  broker %5.2f us/task (incl. worker start)\n",
                    "drain the backlog, 2 workers", (double) cfg->queued / secs,
                    s_us_per (cpu, cfg->queued));
            bstat_set ((double) cfg->queued / secs, "mem.drain_rate");
            bstat_set (s_us_per (cpu, cfg->queued), "mem.drain_broker_us");
        }
        else
            fprintf (stderr, "zjbench: the backlog did not drain (%ld left)\n", left);
    }
    s_session_close (&s);
    return ok;
}

//  Windowed throughput with 2 workers in each durability mode.
static void
s_bench_durability (const s_cfg_t *cfg)
{
    static const char *modes[] = {"memory", "normal", "full"};
    printf ("\nDurability modes (2 workers, %zu in flight):\n", cfg->window);
    for (size_t i = 0; i < 3 && !s_interrupted; i++) {
        s_session_t s;
        zjrun_tput_t t;
        char key[64];
        snprintf (key, sizeof key, "dur.%s", modes[i]);
        if (s_session_open (cfg, &s, modes[i], 2, 0)
            && zjrun_window (s.client, &s.p, cfg->window, cfg->secs, &t))
            s_report (&t, "tasks/s", key, "durability %s", modes[i]);
        s_session_close (&s);
    }
}

//  Throughput as simulated workers and clients grow.
static void
s_bench_scale (const s_cfg_t *cfg)
{
    static const int sims[] = {1, 10, 100, 1000};
    printf ("\nSimulated workers (one zjsimwork process, one DEALER each, %zu in flight):\n",
            cfg->window);
    for (size_t i = 0; i < 4 && !s_interrupted; i++) {
        //  Total credit about the same at every size.
        int credit = sims[i] >= 1000 ? 2 : 2000 / sims[i];
        s_session_t s;
        zjrun_tput_t t;
        char key[64];
        snprintf (key, sizeof key, "scale.sim%d", sims[i]);
        bool ok = s_session_open (cfg, &s, NULL, 0, 0);
        long long rss0 = bproc_rss (s.b.pid);
        ok = ok && s_session_workers (cfg, &s, sims[i], credit);
        //  Read before the run: finished tasks stay in memory for --retention.
        double per_worker = (double) (bproc_rss (s.b.pid) - rss0) / sims[i];
        if (ok && zjrun_window (s.client, &s.p, cfg->window, cfg->secs, &t)) {
            s_report (&t, "tasks/s", key, "%d workers, credit %d", sims[i], credit);
            printf ("  %-34s %11.0f B of broker RSS per connected worker\n", "", per_worker);
            bstat_set (per_worker, "scale.sim%d.rss_per_worker_b", sims[i]);
        }
        s_session_close (&s);
    }
    static const size_t clients[] = {1, 4, 16, 64};
    printf ("\nClients (threads, each its own zj_client_t; 2 workers; %zu in flight in all):\n",
            cfg->window);
    s_session_t s;
    if (s_session_open (cfg, &s, NULL, 2, 0))
        for (size_t i = 0; i < 4 && !s_interrupted; i++) {
            zjrun_tput_t t;
            char key[64];
            size_t each = cfg->window / clients[i] < 8 ? 8 : cfg->window / clients[i];
            snprintf (key, sizeof key, "scale.clients%zu", clients[i]);
            if (!zjrun_clients (s.b.clients, clients[i], &s.p, each, cfg->secs, &t))
                break;
            s_report (&t, "tasks/s", key, "%zu clients, %zu in flight each", clients[i], each);
        }
    s_session_close (&s);
}

//  ---------------------------------------------------------------------
//  Main

static void
s_usage (FILE *f)
{
    fprintf (f,
        "Usage: zjbench [OPTION]...\n"
        "Measure zjob end to end: starts zjobd and zjob-worker on free loopback ports,\n"
        "drives them through libzjob, prints a table, and stops what it started.\n\n"
        "  --quick            a smoke run of about a second (figures mean nothing)\n"
        "  --workers LIST     worker process counts, comma-separated (default 1,2,4)\n"
        "  --secs S           seconds per throughput measurement (default 1.5)\n"
        "  --window N         tasks in flight in windowed mode (default 1000)\n"
        "  --batch N          tasks per burst in batched mode (default 1000)\n"
        "  --prefetch N       zjob-worker --prefetch (default 100)\n"
        "  --queued N         tasks queued for the memory figure (default 1000000)\n"
        "  --samples N        one-at-a-time round trips for latency (default 10000)\n"
        "  --scale            also simulated workers (1..1000) and clients (1..64)\n"
        "  --no-memory        skip the memory figure\n"
        "  --only LIST        only these parts, comma-separated: window, batch, map,\n"
        "                     latency, memory, durability, scale\n"
        "  --json FILE        also write every figure as one JSON object\n"
        "  --zjobd PATH       broker program (default the one built with this)\n"
        "  --zjob-worker PATH worker program (default the one built with this)\n"
        "  --zjsimwork PATH   simulated-worker program (default the one built with this)\n"
        "  --help             show this help and exit\n\n"
        "Exit status: 0 every measurement ran, 1 one failed, 2 usage error.\n");
}

static bool
s_parse_counts (const char *text, s_cfg_t *cfg)
{
    cfg->ncounts = 0;
    char *copy = strdup (text), *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        int n = atoi (tok);
        if (n < 1 || n > 64 || cfg->ncounts == S_MAX_COUNTS) {
            free (copy);
            return false;
        }
        cfg->counts[cfg->ncounts++] = n;
    }
    free (copy);
    return cfg->ncounts > 0;
}

static bool
s_parse_parts (const char *text, unsigned *parts)
{
    *parts = 0;
    char *copy = strdup (text), *save = NULL;
    bool ok = copy != NULL;
    for (char *tok = strtok_r (copy, ",", &save); ok && tok; tok = strtok_r (NULL, ",", &save)) {
        size_t i = 0;
        while (i < sizeof s_part_names / sizeof *s_part_names && strcmp (tok, s_part_names[i]))
            i++;
        ok = i < sizeof s_part_names / sizeof *s_part_names;
        *parts |= 1u << i;
    }
    free (copy);
    return ok && *parts;
}

int
main (int argc, char *argv[])
{
    s_cfg_t cfg = {
        .zjobd = ZJB_ZJOBD, .worker = ZJB_WORKER, .simwork = ZJB_SIMWORK,
        .counts = {1, 2, 4}, .ncounts = 3, .secs = 1.5, .window = 1000, .batch = 1000,
        .prefetch = 100, .queued = 1000000, .samples = 10000,
    };
    bool counts_set = false;
    cfg.parts = S_WINDOW | S_BATCH | S_MAP | S_LATENCY | S_MEMORY | S_DURABILITY;
    enum { O_QUICK = 256, O_WORKERS, O_SECS, O_WINDOW, O_BATCH, O_PREFETCH, O_QUEUED,
           O_SAMPLES, O_SCALE, O_NOMEM, O_JSON, O_ZJOBD, O_WORKER, O_SIM, O_ONLY, O_HELP };
    static const struct option opts[] = {
        {"quick", no_argument, NULL, O_QUICK}, {"workers", required_argument, NULL, O_WORKERS},
        {"secs", required_argument, NULL, O_SECS}, {"window", required_argument, NULL, O_WINDOW},
        {"batch", required_argument, NULL, O_BATCH},
        {"prefetch", required_argument, NULL, O_PREFETCH},
        {"queued", required_argument, NULL, O_QUEUED},
        {"samples", required_argument, NULL, O_SAMPLES},
        {"scale", no_argument, NULL, O_SCALE}, {"no-memory", no_argument, NULL, O_NOMEM},
        {"json", required_argument, NULL, O_JSON}, {"zjobd", required_argument, NULL, O_ZJOBD},
        {"zjob-worker", required_argument, NULL, O_WORKER},
        {"zjsimwork", required_argument, NULL, O_SIM}, {"help", no_argument, NULL, O_HELP},
        {"only", required_argument, NULL, O_ONLY},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
            case O_QUICK: cfg.quick = true; break;
            case O_WORKERS:
                counts_set = true;
                if (!s_parse_counts (optarg, &cfg)) {
                    fprintf (stderr, "zjbench: --workers wants counts 1..64 like 1,2,4\n");
                    return 2;
                }
                break;
            case O_SECS: cfg.secs = atof (optarg); break;
            case O_WINDOW: cfg.window = strtoul (optarg, NULL, 10); break;
            case O_BATCH: cfg.batch = strtoul (optarg, NULL, 10); break;
            case O_PREFETCH: cfg.prefetch = strtoul (optarg, NULL, 10); break;
            case O_QUEUED: cfg.queued = strtoul (optarg, NULL, 10); break;
            case O_SAMPLES: cfg.samples = strtoul (optarg, NULL, 10); break;
            case O_SCALE: cfg.parts |= S_SCALE; break;
            case O_NOMEM: cfg.parts &= ~(unsigned) S_MEMORY; break;
            case O_ONLY:
                if (!s_parse_parts (optarg, &cfg.parts)) {
                    fprintf (stderr, "zjbench: --only wants parts among window, batch, map, "
                             "latency, memory, durability, scale\n");
                    return 2;
                }
                break;
            case O_JSON: cfg.json = optarg; break;
            case O_ZJOBD: cfg.zjobd = optarg; break;
            case O_WORKER: cfg.worker = optarg; break;
            case O_SIM: cfg.simwork = optarg; break;
            case O_HELP: s_usage (stdout); return 0;
            default: s_usage (stderr); return 2;
        }
    }
    if (optind < argc || cfg.secs <= 0 || cfg.window < 1 || cfg.batch < 1 || cfg.queued < 1
        || cfg.samples < 1) {
        fprintf (stderr, "zjbench: bad arguments; see zjbench --help\n");
        return 2;
    }
    if (cfg.quick) {
        cfg.secs = 0.05;
        cfg.queued = 20000;
        cfg.samples = 100;
        if (!counts_set) {
            cfg.counts[0] = 2;
            cfg.ncounts = 1;
        }
    }
    if (access (cfg.zjobd, X_OK) != 0 || access (cfg.worker, X_OK) != 0) {
        fprintf (stderr, "zjbench: cannot run %s or %s; build them (meson compile) or pass "
                 "--zjobd/--zjob-worker\n", cfg.zjobd, cfg.worker);
        return 2;
    }
    snprintf (cfg.dir, sizeof cfg.dir, "/tmp/zjbench-XXXXXX");
    if (!mkdtemp (cfg.dir)) {
        fprintf (stderr, "zjbench: cannot make a scratch directory: %s\n", strerror (errno));
        return 1;
    }
    cfg.has_durability = bproc_help_has (cfg.zjobd, "--durability");
    cfg.has_state_dir = bproc_help_has (cfg.zjobd, "--state-dir");
    signal (SIGINT, s_on_signal);
    signal (SIGTERM, s_on_signal);
    signal (SIGPIPE, SIG_IGN);

    printf ("zjbench: no-op tasks through zjobd on loopback; broker %s mode;\n"
            "logs in %s (kept on failure)\n", cfg.has_durability ? "--durability memory" : "in-memory", cfg.dir);
    printf ("CPU columns: microseconds of CPU per task (or map item) in zjobd, in the "
            "worker processes, and in this client process.\n");
    bool ok = true;
    bool per_count = cfg.parts & (S_WINDOW | S_BATCH | S_MAP | S_LATENCY);
    for (size_t i = 0; per_count && i < cfg.ncounts && !s_interrupted; i++)
        ok = s_bench_workers (&cfg, cfg.counts[i]) && ok;
    if ((cfg.parts & S_MEMORY) && !s_interrupted)
        ok = s_bench_memory (&cfg) && ok;
    if (cfg.has_durability && (cfg.parts & S_DURABILITY) && !cfg.quick && !s_interrupted)
        s_bench_durability (&cfg);
    if ((cfg.parts & S_SCALE) && !s_interrupted)
        s_bench_scale (&cfg);
    if (cfg.json && bstat_write (cfg.json) != 0) {
        fprintf (stderr, "zjbench: cannot write %s: %s\n", cfg.json, strerror (errno));
        ok = false;
    }
    bstat_clear ();
    if (ok) {
        //  Logs are kept only when something went wrong.
        nftw (cfg.dir, s_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        printf ("\nzjbench: done\n");
    }
    return s_interrupted ? 1 : ok ? 0 : 1;
}
