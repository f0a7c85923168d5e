// SPDX-License-Identifier: MIT
//  main - zjobd's entry point: flags, configuration, signals, the
//  endpoints file. The only place in zjobd that exits.
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include "broker.h"
#include "conffile.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "msg.h"
#include "notify.h"
#include "report.h"
#include "security.h"
#include "state.h"
#include "store.h"
#include "ticket.h"
#include "zj_config.h"

#define EXIT_USAGE 2

typedef struct {
    const char *clients;        //  --clients
    const char *workers;        //  --workers
    const char *endpoints_file; //  --endpoints-file, or NULL
    const char *metrics;        //  --metrics ADDR:PORT, or NULL
    security_config_t curve;    //  --curve-secret, --client-keys, --worker-keys
    broker_config_t broker;     //  the core's settings
    state_config_t state;       //  --state-dir, --durability
    log_level_t log_level;      //  --log-level
} config_t;

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: zjobd [OPTION]...\n"
        "The zjob broker: takes tasks from clients on one ZeroMQ socket, hands them\n"
        "to workers on another and keeps their results for a while.\n"
        "\n"
        "  --config FILE         read settings from FILE first (ZPL, e.g.\n"
        "                        /etc/zjob/zjobd.conf: `retention = 600`; every flag\n"
        "                        below is a key); flags given here override it\n"
        "  --clients EP          endpoint for clients (default tcp://127.0.0.1:5555)\n"
        "  --workers EP          endpoint for workers (default tcp://127.0.0.1:5556)\n"
        "                        a port of * picks a free port\n"
        "  --endpoints-file FILE after binding, write `clients=EP` and `workers=EP`\n"
        "                        lines to FILE (atomically), with ports resolved\n"
        "  --retention SEC       keep finished tasks this long (default 3600)\n"
        "  --heartbeat SEC       heartbeat interval with workers (default 1)\n"
        "  --liveness N          heartbeats of silence before a worker is lost (default 5)\n"
        "  --max-retries N       requeues of a task whose worker was lost (default 3)\n"
        "  --max-frame BYTES     largest message accepted (default %u)\n"
        "  --max-queued N        queued tasks per function (default 10000000)\n"
        "  --max-queued-per-client N\n"
        "                        unfinished tasks one client connection may have\n"
        "                        (default 1000000); a SUBMIT over it gets QueueFull\n"
        "  --max-args BYTES      largest arguments of one task (default 16 MiB); a\n"
        "                        SUBMIT with a larger one is refused whole: TooLarge\n"
        "  --max-result BYTES    largest result of one task (default 16 MiB); a larger\n"
        "                        one makes the task fail with TooLarge\n"
        "  --curve-secret FILE   the broker's secret certificate (NAME.key_secret from\n"
        "                        zjob keygen NAME): both sockets require CURVE, which\n"
        "                        encrypts and authenticates every connection\n"
        "  --client-keys DIR     public certificates (NAME.key) of admitted clients\n"
        "  --worker-keys DIR     public certificates of admitted workers; a key in only\n"
        "                        one list cannot use the other socket (docs/security.md)\n"
        "  --metrics ADDR:PORT   serve Prometheus metrics at http://ADDR:PORT/metrics\n"
        "                        (e.g. 127.0.0.1:9464; port 0 picks a free port)\n"
        "  --state-dir DIR       where the store (DIR/zjob.db) lives; made when missing;\n"
        "                        default $STATE_DIRECTORY (systemd), else /var/lib/zjob\n"
        "                        as root, else $XDG_STATE_HOME/zjob or ~/.local/state/zjob\n"
        "  --durability MODE     what an accepted task survives (default normal):\n"
        "                        memory  nothing: no store, a restart loses every task\n"
        "                        normal  a zjobd crash or kill -9 (SQLite WAL, fsync at\n"
        "                                checkpoints); a power loss or OS crash may lose\n"
        "                                the last moments' changes\n"
        "                        full    also a power loss or OS crash (fsync at every\n"
        "                                commit; slower)\n"
        "  --log-level LEVEL     error, warn, info or debug (default info)\n"
        "  --help                show this help and exit\n"
        "  --version             show the version and exit\n"
        "\n"
        "SIGTERM or SIGINT stops the broker cleanly: workers and waiting clients\n"
        "are told DISCONNECT. A SUBMIT is answered only once its tasks are stored;\n"
        "at the next start queued and running tasks are queued again and results\n"
        "stay fetchable until their retention ends (docs/store.md).\n"
        "\n"
        "Exit status: 0 clean stop, 1 runtime failure (e.g. cannot bind, or cannot\n"
        "use its store: the message names the file and what to do),\n"
        "2 usage or configuration error.\n",
        ZJ_MAX_FRAME_DEFAULT);
}

//  While a config file entry is checked, usage errors go here instead of
//  stderr, so that conffile reports them with the file and line.
static char *s_capture;
static size_t s_capture_len;
//  The config file: flags in argv point into it until exit.
static conffile_t *s_conffile;

static void
s_usage_error (const char *fmt, const char *flag, const char *value)
{
    char why[512];
    snprintf (why, sizeof why, fmt, flag, value);
    if (s_capture) {
        snprintf (s_capture, s_capture_len, "%s", why);
        return;
    }
    fprintf (stderr, "zjobd: error usage why=\"%s\" hint=\"run zjobd --help\"\n", why);
}

static bool
s_parse_double (const char *text, double min, double *out)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (v) || v < min)
        return false;
    *out = v;
    return true;
}

static bool
s_parse_uint (const char *text, unsigned long long min, unsigned long long max,
              unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*text == '-')
        return false;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || end == text || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

//  Returns -1 to go on, or an exit status.
static int
s_parse (int argc, char **argv, config_t *cfg)
{
    enum { O_CLIENTS = 256, O_WORKERS, O_ENDPOINTS, O_RETENTION, O_HEARTBEAT, O_LIVENESS,
           O_RETRIES, O_FRAME, O_QUEUED, O_LOG, O_HELP, O_VERSION, O_STATE_DIR, O_DURABILITY, O_METRICS,
           O_PER_CLIENT, O_ARGS, O_RESULT, O_SECRET, O_CLIENT_KEYS, O_WORKER_KEYS };
    //  Every flag but help and version is a config key too: list new
    //  ones in s_conf_keys.
    static const struct option opts[] = {
        {"clients", required_argument, NULL, O_CLIENTS},
        {"workers", required_argument, NULL, O_WORKERS},
        {"endpoints-file", required_argument, NULL, O_ENDPOINTS},
        {"retention", required_argument, NULL, O_RETENTION},
        {"heartbeat", required_argument, NULL, O_HEARTBEAT},
        {"liveness", required_argument, NULL, O_LIVENESS},
        {"max-retries", required_argument, NULL, O_RETRIES},
        {"max-frame", required_argument, NULL, O_FRAME},
        {"max-queued", required_argument, NULL, O_QUEUED},
        {"log-level", required_argument, NULL, O_LOG},
        {"state-dir", required_argument, NULL, O_STATE_DIR},
        {"durability", required_argument, NULL, O_DURABILITY},
        {"metrics", required_argument, NULL, O_METRICS},
        {"max-queued-per-client", required_argument, NULL, O_PER_CLIENT},
        {"max-args", required_argument, NULL, O_ARGS},
        {"max-result", required_argument, NULL, O_RESULT},
        {"curve-secret", required_argument, NULL, O_SECRET},
        {"client-keys", required_argument, NULL, O_CLIENT_KEYS},
        {"worker-keys", required_argument, NULL, O_WORKER_KEYS},
        {"help", no_argument, NULL, O_HELP},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    opterr = 0;
    int c;
    unsigned long long u;
    while ((c = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
            case O_CLIENTS: cfg->clients = optarg; break;
            case O_WORKERS: cfg->workers = optarg; break;
            case O_ENDPOINTS: cfg->endpoints_file = optarg; break;
            case O_METRICS: cfg->metrics = optarg; break;
            case O_SECRET: cfg->curve.secret_file = optarg; break;
            case O_CLIENT_KEYS: cfg->curve.client_keys = optarg; break;
            case O_WORKER_KEYS: cfg->curve.worker_keys = optarg; break;
            case O_PER_CLIENT:
                if (!s_parse_uint (optarg, 1, SIZE_MAX, &u)) {
                    s_usage_error ("%s needs a whole number >= 1, got '%s'", "--max-queued-per-client", optarg);
                    return EXIT_USAGE;
                }
                cfg->broker.max_queued_per_client = (size_t) u;
                break;
            case O_ARGS:
            case O_RESULT:
                if (!s_parse_uint (optarg, 1, SIZE_MAX, &u)) {
                    s_usage_error ("%s needs a byte count >= 1, got '%s'",
                                   c == O_ARGS ? "--max-args" : "--max-result", optarg);
                    return EXIT_USAGE;
                }
                *(c == O_ARGS ? &cfg->broker.max_args : &cfg->broker.max_result) = (size_t) u;
                break;
            case O_RETENTION:
                if (!s_parse_double (optarg, 0, &cfg->broker.retention)) {
                    s_usage_error ("%s needs a number of seconds >= 0, got '%s'", "--retention", optarg);
                    return EXIT_USAGE;
                }
                break;
            case O_HEARTBEAT:
                if (!s_parse_double (optarg, 0.001, &cfg->broker.heartbeat)
                    || cfg->broker.heartbeat > 86400) {
                    s_usage_error ("%s needs seconds between 0.001 and 86400, got '%s'", "--heartbeat", optarg);
                    return EXIT_USAGE;
                }
                break;
            case O_LIVENESS:
                if (!s_parse_uint (optarg, 1, 1000000, &u)) {
                    s_usage_error ("%s needs a whole number >= 1, got '%s'", "--liveness", optarg);
                    return EXIT_USAGE;
                }
                cfg->broker.liveness = (uint32_t) u;
                break;
            case O_RETRIES:
                if (!s_parse_uint (optarg, 0, UINT16_MAX, &u)) {
                    s_usage_error ("%s needs a whole number from 0 to 65535, got '%s'", "--max-retries", optarg);
                    return EXIT_USAGE;
                }
                cfg->broker.max_retries = (uint16_t) u;
                break;
            case O_FRAME:
                if (!s_parse_uint (optarg, 1024, (unsigned long long) INT32_MAX * 2, &u)) {
                    s_usage_error ("%s needs a byte count from 1024 to 4294967294, got '%s'", "--max-frame", optarg);
                    return EXIT_USAGE;
                }
                cfg->broker.max_frame = (size_t) u;
                break;
            case O_QUEUED:
                if (!s_parse_uint (optarg, 1, SIZE_MAX, &u)) {
                    s_usage_error ("%s needs a whole number >= 1, got '%s'", "--max-queued", optarg);
                    return EXIT_USAGE;
                }
                cfg->broker.max_queued = (size_t) u;
                break;
            case O_STATE_DIR: cfg->state.dir = optarg; break;
            case O_DURABILITY:
                if (!state_durability_parse (optarg, &cfg->state.durability)) {
                    s_usage_error ("%s needs memory, normal or full, got '%s'", "--durability", optarg);
                    return EXIT_USAGE;
                }
                break;
            case O_LOG:
                if (!log_level_parse (optarg, &cfg->log_level)) {
                    s_usage_error ("%s needs error, warn, info or debug, got '%s'", "--log-level", optarg);
                    return EXIT_USAGE;
                }
                break;
            case O_HELP:
                s_usage (stdout);
                return 0;
            case O_VERSION:
                printf ("zjobd %s (protocol ZJP/%d)\n", ZJ_VERSION, ZJ_PROTO_VERSION);
                return 0;
            default:
                s_usage_error ("unknown flag or missing value: %s%s", argv[optind - 1], "");
                return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        s_usage_error ("%s takes no arguments, got '%s'", "zjobd", argv[optind]);
        return EXIT_USAGE;
    }
    return -1;
}

//  Config file keys: every flag but --config, --help and --version.
static const conffile_key_t s_conf_keys[] = {
    {"clients", false}, {"workers", false}, {"endpoints-file", false},
    {"retention", false}, {"heartbeat", false}, {"liveness", false},
    {"max-retries", false}, {"max-frame", false}, {"max-queued", false},
    {"log-level", false}, {"state-dir", false}, {"durability", false}, {"metrics", false},
    {"max-queued-per-client", false}, {"max-args", false}, {"max-result", false},
    {"curve-secret", false}, {"client-keys", false}, {"worker-keys", false},
};

//  conffile_check_fn: one config entry, parsed alone into scratch settings.
static bool
s_check_entry (void *arg, const char *entry, char *why, size_t why_len)
{
    config_t scratch = *(config_t *) arg;
    char *one[] = {(char *) "zjobd", (char *) entry, NULL};
    s_capture = why;
    s_capture_len = why_len;
    optind = 0;                 //  GNU getopt: start afresh
    int rc = s_parse (2, one, &scratch);
    s_capture = NULL;
    optind = 0;
    return rc < 0;
}

//  Write both endpoints to path through a temporary file and rename, so a
//  reader never sees half a file.
static bool
s_write_endpoints (const char *path, const char *clients, const char *workers)
{
    char tmp[4096];
    if (snprintf (tmp, sizeof tmp, "%s.tmp.%ld", path, (long) getpid ()) >= (int) sizeof tmp) {
        errno = ENAMETOOLONG;
        return false;
    }
    FILE *f = fopen (tmp, "w");
    if (!f)
        return false;
    fprintf (f, "clients=%s\nworkers=%s\n", clients, workers);
    if (fflush (f) != 0 || fsync (fileno (f)) != 0) {
        int err = errno;
        fclose (f);
        unlink (tmp);
        errno = err;
        return false;
    }
    if (fclose (f) != 0 || rename (tmp, path) != 0) {
        int err = errno;
        unlink (tmp);
        errno = err;
        return false;
    }
    return true;
}

//  A socket reachable from other machines without CURVE hands every
//  task's arguments to whoever connects: say so where operators look.
static void
s_warn_open (const config_t *cfg, const char *clients, const char *workers)
{
    if (cfg->curve.secret_file)
        return;
    const char *eps[2] = {clients, workers};
    for (int i = 0; i < 2; i++) {
        if (security_endpoint_local (eps[i]))
            continue;
        const char *port = strrchr (eps[i], ':');
        log_warn ("no authentication",
                  "socket=%s endpoint=%s why=\"the %s socket is bound to a non-loopback "
                  "address without CURVE: anyone who can reach port %s can %s\" "
                  "hint=\"configure --curve-secret, --client-keys and --worker-keys "
                  "(docs/security.md), or bind 127.0.0.1\"",
                  i ? "workers" : "clients", eps[i], i ? "workers" : "clients",
                  port ? port + 1 : "?",
                  i ? "register as a worker and read every task's arguments and "
                      "forge their results"
                    : "submit tasks, and read or cancel any task's result");
    }
}

typedef struct {
    loop_t *loop;               //  what to stop
    notify_t *notify;           //  systemd, told STOPPING=1
    http_t *http;               //  metrics endpoint, or NULL
    uv_signal_t sigint;         //  SIGINT watcher
    uv_signal_t sigterm;        //  SIGTERM watcher
} signals_t;

static void
s_on_signal (uv_signal_t *handle, int signum)
{
    signals_t *sig = handle->data;
    log_info ("signal received", "signal=%s action=stop", signum == SIGINT ? "SIGINT" : "SIGTERM");
    uv_close ((uv_handle_t *) &sig->sigint, NULL);
    uv_close ((uv_handle_t *) &sig->sigterm, NULL);
    notify_stop (sig->notify, "stopping: telling workers and clients");
    http_stop (sig->http);
    loop_stop (sig->loop);
}

//  http_render_fn: the Prometheus page.
static char *
s_metrics (void *arg, size_t *len)
{
    return report_metrics (arg, (double) uv_hrtime () / 1e9, len);
}

//  notify_status_fn: the core's one-line summary.
static void
s_status (void *arg, char *buf, size_t len)
{
    report_status (arg, buf, len);
}

int
main (int argc, char **argv)
{
    config_t cfg = {
        .clients = "tcp://127.0.0.1:5555",
        .workers = "tcp://127.0.0.1:5556",
        .broker = {
            .retention = 3600,
            .heartbeat = 1,
            .liveness = 5,
            .max_retries = 3,
            .max_frame = ZJ_MAX_FRAME_DEFAULT,
            .max_queued = 10000000,
            .max_queued_per_client = 1000000,
            .max_args = 16u << 20,
            .max_result = 16u << 20,
        },
        .state = {.durability = STATE_NORMAL},
        .log_level = LOG_LEVEL_INFO,
    };
    //  The file's settings go first, so that flags given after them win.
    int status = conffile_apply ("zjobd", s_conf_keys, sizeof s_conf_keys / sizeof s_conf_keys[0],
                                 &argc, &argv, s_check_entry, &cfg, &s_conffile);
    if (status == 2)
        return EXIT_USAGE;
    status = s_parse (argc, argv, &cfg);
    if (status >= 0)
        return status;
    if (!cfg.curve.secret_file && (cfg.curve.client_keys || cfg.curve.worker_keys)) {
        s_usage_error ("%s%s need --curve-secret FILE: without the broker's key pair no "
                       "key can be checked", "--client-keys and --worker-keys", "");
        return EXIT_USAGE;
    }
    log_init ("zjobd", cfg.log_level);
    signal (SIGPIPE, SIG_IGN);

    //  A hidden test hook: a page limit makes a small "full disk".
    const char *pages = getenv ("ZJOBD_STORE_MAX_PAGES");
    cfg.state.max_pages = pages ? (uint32_t) strtoul (pages, NULL, 10) : 0;
    if (cfg.state.durability != STATE_MEMORY)
        cfg.broker.expire_batch = 500;      //  deletes are writes: <= 1000 rows a turn
    const char *state_dir;
    char swhy[700];
    uint64_t gen;
    store_t *store = state_open (&cfg.state, &state_dir, swhy, sizeof swhy);
    if (!store || !state_generation (store, &gen, swhy, sizeof swhy)) {
        log_error ("store failed", "durability=%s why=\"%s\"",
                   state_durability_name (cfg.state.durability), swhy);
        store_destroy (&store);
        return 1;
    }
    double t0 = (double) uv_hrtime () / 1e9;
    broker_t *broker = broker_new (&cfg.broker, gen, store, t0);
    if (!broker) {
        log_error ("out of memory", "what=startup");
        store_destroy (&store);
        return 1;
    }
    broker_recovery_t found;
    zj_err_t rc = broker_recover (broker, t0, &found);
    if (rc != ZJ_OK) {
        log_error ("recovery failed", "store=%s error=%s why=\"%s\"", store->ops->name,
                   zj_err_name (rc), store_why (store));
        broker_destroy (&broker);
        store_destroy (&store);
        return 1;
    }
    log_info ("recovered", "store=%s durability=%s dir=%s queued=%zu requeued=%zu lost=%zu "
              "finished=%zu submits=%zu generations=%zu seconds=%.3f", store->ops->name,
              state_durability_name (cfg.state.durability), state_dir, found.queued,
              found.requeued, found.lost, found.finished, found.submits, found.generations,
              (double) uv_hrtime () / 1e9 - t0);
    loop_config_t lcfg = {
        .clients = cfg.clients,
        .workers = cfg.workers,
        .max_frame = cfg.broker.max_frame,
        .heartbeat = cfg.broker.heartbeat,
        .curve = cfg.curve.secret_file ? &cfg.curve : NULL,
    };
    char why[512];
    int err = 0;
    loop_t *loop = loop_new (&lcfg, broker, why, sizeof why, &err);
    if (!loop) {
        log_error ("startup failed", "why=\"%s\"", why);
        broker_destroy (&broker);
        store_destroy (&store);
        //  A malformed endpoint is a configuration error; the rest is runtime.
        return err == EINVAL || err == EPROTONOSUPPORT ? EXIT_USAGE : 1;
    }
    const char *clients = loop_endpoint (loop, BROKER_CLIENTS);
    const char *workers = loop_endpoint (loop, BROKER_WORKERS);
    //  Metrics before the endpoints file, so that whoever waits for that
    //  file finds the metrics URL logged too.
    int fail = 0;
    http_t *http = NULL;
    if (cfg.metrics) {
        http = http_new (loop_uv (loop), cfg.metrics, s_metrics, broker, why, sizeof why, &err);
        if (http)
            log_info ("metrics listening", "url=%s", http_url (http));
        else {
            log_error ("startup failed", "why=\"%s\"", why);
            fail = err == EINVAL ? EXIT_USAGE : 1;
        }
    }
    if (!fail && cfg.endpoints_file && !s_write_endpoints (cfg.endpoints_file, clients, workers)) {
        log_error ("endpoints file failed", "path=%s why=\"%s\" hint=\"check the directory exists and is writable\"",
                   cfg.endpoints_file, strerror (errno));
        fail = 1;
    }
    if (fail) {
        http_stop (http);
        loop_stop (loop);
        loop_run (loop);
        http_destroy (&http);
        loop_destroy (&loop);
        broker_destroy (&broker);
        store_destroy (&store);
        return fail;
    }
    signals_t sig = {.loop = loop, .http = http};
    uv_signal_init (loop_uv (loop), &sig.sigint);
    uv_signal_init (loop_uv (loop), &sig.sigterm);
    sig.sigint.data = sig.sigterm.data = &sig;
    uv_signal_start (&sig.sigint, s_on_signal, SIGINT);
    uv_signal_start (&sig.sigterm, s_on_signal, SIGTERM);
    log_info ("listening", "clients=%s workers=%s generation=%s store=%s curve=%s", clients,
              workers, broker_generation (broker), store->ops->name,
              cfg.curve.secret_file ? "on" : "off");
    s_warn_open (&cfg, clients, workers);
    //  Ready for systemd once bound and announced (NULL on OOM: no-op).
    sig.notify = notify_new (loop_uv (loop), s_status, broker);
    notify_ready (sig.notify);

    loop_run (loop);

    notify_destroy (&sig.notify);
    http_destroy (&sig.http);
    loop_destroy (&loop);
    broker_destroy (&broker);
    store_destroy (&store);
    conffile_destroy (&s_conffile);
    log_info ("stopped", "status=0");
    return 0;
}
