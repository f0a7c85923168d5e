// SPDX-License-Identifier: MIT
//  cli - the zjob command. Parses with cli_args, calls libzjob, prints;
//  every broker interaction is a libzjob call. The only file in client/
//  that decides the process's exit code.
#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli_args.h"
#include "cli_table.h"
#include "curvekeys.h"
#include "json.h"
#include "log.h"
#include "zj_config.h"
#include "zjob.h"

typedef struct {
    const cli_args_t *args;     //  parsed command line
    zj_client_t *client;        //  connected client
} cli_t;

static double s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  Explain err on stderr; returns the exit code. ticket may be NULL;
//  error (may be NULL) carries the broker's or the task's words.
static int s_report (cli_t *cli, zj_err_t err, const char *ticket, const zj_error_t *error)
{
    const char *ep = cli->args->broker;
    const char *msg = error && *zj_error_message (error) ? zj_error_message (error)
                                                          : zj_client_strerror (err);
    switch (err) {
        case ZJ_ETASK:
            fprintf (stderr, "%s: %s\n", zj_error_type (error), zj_error_message (error));
            if (*zj_error_traceback (error)) {
                const char *tb = zj_error_traceback (error);
                fputs (tb, stderr);
                if (tb[strlen (tb) - 1] != '\n')
                    fputc ('\n', stderr);
            }
            break;
        case ZJ_EUNREACHABLE:
            fprintf (stderr, "zjob: cannot reach the broker at %s after %g s: is zjobd running? "
                     "(set --broker or ZJOB_BROKER)%s\n", ep, cli->args->connect_timeout,
                     cli->args->curve_secret
                         ? "; with CURVE, also check that the broker lists this client's "
                           ".key in --client-keys and that --broker-key is its public key"
                         : "; a broker that requires CURVE refuses clients without "
                           "--curve-secret and --broker-key");
            break;
        case ZJ_EBROKERLOST:
            //  libzjob says which: gone for good, or back without the task.
            if (error && *zj_error_message (error))
                fprintf (stderr, "zjob: %s", msg);
            else
                fprintf (stderr, "zjob: lost the broker at %s; is zjobd still running?", ep);
            if (ticket)
                fprintf (stderr, " (ticket %s)", ticket);
            fputc ('\n', stderr);
            break;
        case ZJ_ENOTICKET:
            fprintf (stderr, "zjob: unknown ticket %s: no task has this ticket on the broker "
                     "at %s\n", ticket ? ticket : "?", ep);
            break;
        case ZJ_EEXPIRED:
            fprintf (stderr, "zjob: ticket %s has expired: the broker deleted its record after "
                     "its retention time\n", ticket ? ticket : "?");
            break;
        case ZJ_ECANCELLED:
            fprintf (stderr, "zjob: task %s was cancelled\n", ticket ? ticket : "");
            break;
        case ZJ_EQUEUEFULL:
            fprintf (stderr, "zjob: the broker refused the task: QueueFull: %s; try again "
                     "later\n", msg);
            break;
        case ZJ_ETOOLARGE:
            fprintf (stderr, "zjob: the broker refused the task: TooLarge: %s; send smaller "
                     "arguments (or raise zjobd --max-frame)\n", msg);
            break;
        case ZJ_ESHUTDOWN:
            fprintf (stderr, "zjob: the broker at %s is shutting down and accepts nothing new "
                     "(%s); try again when it is back\n", ep, msg);
            break;
        case ZJ_ENOSPC:
            fprintf (stderr, "zjob: the broker's store is full: %s; free disk space on the "
                     "broker's host\n", msg);
            break;
        case ZJ_EPROTO:
        case ZJ_EVERSION:
            fprintf (stderr, "zjob: the broker at %s refused the request: %s: %s; do zjobd and "
                     "zjob have the same version (%s)?\n", ep, zj_client_err_name (err), msg,
                     ZJ_VERSION);
            break;
        case ZJ_EINVAL:
            if (ticket)
                fprintf (stderr, "zjob: '%s' is not a ticket: tickets are 1-%d printable "
                         "characters without spaces, as `zjob submit` prints them\n", ticket,
                         ZJ_MAX_TICKET);
            else
                fprintf (stderr, "zjob: '%s' is not a function name: names are 1-%d printable "
                         "characters without spaces\n", cli->args->fn ? cli->args->fn : "",
                         ZJ_MAX_FN);
            break;
        default:
            fprintf (stderr, "zjob: %s: %s\n", zj_client_err_name (err), msg);
            break;
    }
    return cli_exit_code (err);
}

//  Wait for f and print its result like `zjob run`.
static int s_wait_print (cli_t *cli, zj_future_t *f, const char *ticket)
{
    char *json = NULL;
    zj_err_t err = zj_future_result_json (f, cli->args->timeout, &json);
    if (!ticket)
        ticket = zj_future_ticket (f);
    if (err == ZJ_OK) {
        puts (json);
        free (json);
        return fflush (stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    }
    if (err == ZJ_ETIMEDOUT) {
        if (!ticket)
            ticket = zj_future_wait_ticket (f, cli->args->connect_timeout, NULL);
        if (ticket)
            fprintf (stderr, "zjob: timed out after %g s waiting for task %s; it goes on: get "
                     "its result later with `zjob result %s`\n", cli->args->timeout, ticket,
                     ticket);
        else
            fprintf (stderr, "zjob: timed out after %g s before the broker accepted the task\n",
                     cli->args->timeout);
        return CLI_EXIT_TIMEOUT;
    }
    return s_report (cli, err, ticket, zj_future_exception (f, 0, NULL));
}

static int s_cmd_run (cli_t *cli, bool wait)
{
    const cli_args_t *a = cli->args;
    zj_enc_t *enc = zj_enc_new ();
    if (!enc)
        return s_report (cli, ZJ_ENOMEM, NULL, NULL);
    zj_enc_array (enc, (uint32_t) a->nargs);
    for (size_t i = 0; i < a->nargs; i++)
        zj_json_arg_to_msgpack (enc, a->args[i]);
    //  zj_task_opts_t: 0 = broker default, negative = no retries.
    zj_task_opts_t opts = {
        .priority = a->priority,
        .timeout = a->task_timeout,
        .max_retries = a->max_retries < 0 ? 0 : a->max_retries == 0 ? -1 : a->max_retries,
        .retry_on = a->retry_on,
        .nretry_on = a->nretry_on,
    };
    zj_err_t err = zj_enc_failed (enc) ? ZJ_ENOMEM : ZJ_OK;
    zj_future_t *f = err ? NULL : zj_submit (cli->client, a->fn, zj_enc_data (enc),
                                             zj_enc_size (enc), &opts, &err);
    zj_enc_destroy (&enc);
    if (!f)
        return s_report (cli, err, NULL, NULL);
    int code;
    if (wait)
        code = s_wait_print (cli, f, NULL);
    else {
        const char *ticket = zj_future_wait_ticket (f, -1, &err);
        if (ticket) {
            puts (ticket);
            code = fflush (stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
        }
        else
            code = s_report (cli, err, NULL, zj_future_exception (f, 0, NULL));
    }
    zj_future_destroy (&f);
    return code;
}

static int s_cmd_result (cli_t *cli)
{
    zj_err_t err;
    zj_future_t *f = zj_fetch (cli->client, cli->args->ticket, &err);
    if (!f)
        return s_report (cli, err, cli->args->ticket, NULL);
    int code = s_wait_print (cli, f, cli->args->ticket);
    zj_future_destroy (&f);
    return code;
}

//  status --json: {"ticket", "state", "attempts": [...]}.
static int s_status_json (cli_t *cli, const char *ticket)
{
    zj_err_t err;
    char *text = NULL;
    int state = zj_client_status_attempts (cli->client, ticket, &text, &err);
    if (state < 0)
        return s_report (cli, err, ticket, NULL);
    json_t *attempts = json_loads (text, JSON_DECODE_ANY, NULL);
    free (text);
    json_t *obj = json_pack ("{s:s, s:s, s:o}", "ticket", ticket, "state",
                             zj_state_name ((zj_state_t) state), "attempts",
                             attempts ? attempts : json_array ());
    char *out = obj ? json_dumps (obj, JSON_COMPACT) : NULL;
    json_decref (obj);
    if (!out)
        return s_report (cli, ZJ_ENOMEM, ticket, NULL);
    puts (out);
    free (out);
    if (state == ZJ_STATE_UNKNOWN || state == ZJ_STATE_EXPIRED)
        return s_report (cli, state == ZJ_STATE_UNKNOWN ? ZJ_ENOTICKET : ZJ_EEXPIRED, ticket, NULL);
    return CLI_EXIT_OK;
}

static int s_cmd_status (cli_t *cli)
{
    zj_err_t err;
    const char *ticket = cli->args->ticket;
    if (cli->args->json)
        return s_status_json (cli, ticket);
    int state = zj_client_status (cli->client, ticket, &err);
    if (state < 0)
        return s_report (cli, err, ticket, NULL);
    if (state == ZJ_STATE_UNKNOWN || state == ZJ_STATE_EXPIRED)
        return s_report (cli, state == ZJ_STATE_UNKNOWN ? ZJ_ENOTICKET : ZJ_EEXPIRED, ticket, NULL);
    puts (zj_state_name ((zj_state_t) state));
    return CLI_EXIT_OK;
}

static int s_cmd_cancel (cli_t *cli)
{
    zj_err_t err;
    const char *ticket = cli->args->ticket;
    int state = zj_client_cancel (cli->client, ticket, &err);
    if (state < 0)
        return s_report (cli, err, ticket, NULL);
    switch (state) {
        case ZJ_STATE_CANCELLED:
            puts ("cancelled");
            return CLI_EXIT_OK;
        case ZJ_STATE_UNKNOWN:
        case ZJ_STATE_EXPIRED:
            return s_report (cli, state == ZJ_STATE_UNKNOWN ? ZJ_ENOTICKET : ZJ_EEXPIRED,
                             ticket, NULL);
        case ZJ_STATE_RUNNING:
        case ZJ_STATE_DONE:
        case ZJ_STATE_FAILED:
            fprintf (stderr, "zjob: cannot cancel %s: it is already %s\n", ticket,
                     zj_state_name ((zj_state_t) state));
            return CLI_EXIT_TOOLATE;
        default:
            fprintf (stderr, "zjob: the broker did not cancel %s (it answered: %s)\n", ticket,
                     zj_state_name ((zj_state_t) state));
            return CLI_EXIT_FAILED;
    }
}

static int s_cmd_retry (cli_t *cli)
{
    zj_err_t err;
    const char *ticket = cli->args->ticket;
    int state = zj_client_retry (cli->client, ticket, &err);
    if (state < 0)
        return s_report (cli, err, ticket, NULL);
    switch (state) {
        case ZJ_STATE_QUEUED:
            break;
        case ZJ_STATE_UNKNOWN:
        case ZJ_STATE_EXPIRED:
            return s_report (cli, state == ZJ_STATE_UNKNOWN ? ZJ_ENOTICKET : ZJ_EEXPIRED,
                             ticket, NULL);
        case ZJ_STATE_FAILED:
            fprintf (stderr, "zjob: the broker kept no arguments for %s (it was out of "
                     "memory when the task failed), so it cannot run it again; submit the "
                     "task again\n", ticket);
            return CLI_EXIT_FAILED;
        default:
            fprintf (stderr, "zjob: cannot retry %s: it is %s, not failed; only a failed "
                     "task runs again\n", ticket, zj_state_name ((zj_state_t) state));
            return CLI_EXIT_TOOLATE;
    }
    if (!cli->args->wait) {
        puts ("queued");
        return fflush (stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    }
    zj_future_t *f = zj_fetch (cli->client, ticket, &err);
    if (!f)
        return s_report (cli, err, ticket, NULL);
    int code = s_wait_print (cli, f, ticket);
    zj_future_destroy (&f);
    return code;
}

//  `zjob workers` and `zjob queues`: the STATS map's list under key, as
//  JSON for scripts or as a table for people.
static int s_cmd_list (cli_t *cli, const char *key, char *(*table) (const json_t *stats))
{
    zj_err_t err;
    char *text = zj_client_stats_json (cli->client, &err);
    if (!text)
        return s_report (cli, err, NULL, NULL);
    json_error_t jerr;
    json_t *stats = json_loads (text, 0, &jerr);
    free (text);
    const json_t *list = json_object_get (stats, key);
    if (!json_is_array (list)) {
        fprintf (stderr, "zjob: the broker at %s sent statistics without a '%s' list; do "
                 "zjobd and zjob have the same version (%s)?\n", cli->args->broker, key,
                 ZJ_VERSION);
        json_decref (stats);
        return CLI_EXIT_REFUSED;
    }
    char *out = cli->args->json ? json_dumps (list, JSON_INDENT (2) | JSON_PRESERVE_ORDER)
                                : table (stats);
    json_decref (stats);
    if (!out)
        return s_report (cli, ZJ_ENOMEM, NULL, NULL);
    fputs (out, stdout);
    if (cli->args->json)
        fputc ('\n', stdout);
    free (out);
    return fflush (stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

static int s_cmd_stats (cli_t *cli)
{
    zj_err_t err;
    char *text = zj_client_stats_json (cli->client, &err);
    if (!text)
        return s_report (cli, err, NULL, NULL);
    json_error_t jerr;
    json_t *json = json_loads (text, JSON_DECODE_ANY, &jerr);
    //  The broker puts its Prometheus page in the map: print it alone
    //  for --format prometheus, and leave it out of the JSON.
    json_t *page = json_object_get (json, "metrics");
    if (cli->args->prometheus) {
        bool ok = json_is_string (page);
        if (ok)
            fputs (json_string_value (page), stdout);
        else
            fprintf (stderr, "zjob: this broker sends no Prometheus metrics; upgrade zjobd\n");
        json_decref (json);
        free (text);
        return ok && fflush (stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    }
    json_object_del (json, "metrics");
    char *pretty = json ? json_dumps (json, JSON_INDENT (2) | JSON_PRESERVE_ORDER) : NULL;
    puts (pretty ? pretty : text);
    free (pretty);
    json_decref (json);
    free (text);
    return fflush (stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILED;
}

//  ---------------------------------------------------------------------
//  map: stdin is read while earlier windows run; each window is one
//  zj_map, and windows are printed oldest first so that the output keeps
//  the input order.

#define MAP_WINDOW 10000        //  items per zj_map when input comes fast
#define MAP_INFLIGHT 100000     //  items read and not yet printed, at most
#define MAP_READ 65536          //  bytes per read()

typedef struct {
    zj_map_t *map;              //  owned
    size_t base;                //  input position of its first item
} map_window_t;

typedef struct {
    cli_t *cli;
    //  input
    char *buf;                  //  bytes read and not yet split into lines; owned
    size_t len;
    size_t cap;
    bool eof;                   //  stdin is finished
    //  lines encoded, waiting for the next window
    zj_enc_t *enc;              //  their argument arrays back to back
    size_t *offs;               //  start of each in enc; owned
    size_t npending;
    size_t offs_cap;
    //  windows, oldest first
    map_window_t *win;          //  owned ring
    size_t win_head;
    size_t nwin;
    size_t win_cap;
    //  counts
    size_t launched;            //  items handed to zj_map
    size_t printed;             //  results printed
    size_t failed;              //  ... of which failed
    bool bar;                   //  stderr is a terminal: draw progress
    double started;             //  when the map began
    double last_bar;            //  when the bar was last drawn
} map_t;

static void s_bar (map_t *m, bool force)
{
    double now = s_now ();
    if (!m->bar || (!force && now - m->last_bar < 0.1))
        return;
    m->last_bar = now;
    size_t total = m->launched + m->npending;
    size_t filled = total ? m->printed * 20 / total : 0;
    char bar[21];
    for (size_t i = 0; i < 20; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[20] = 0;
    double rate = now > m->started ? (double) m->printed / (now - m->started) : 0;
    fprintf (stderr, "\r[%s] %zu/%zu items  %zu failed  %.1f items/s", bar, m->printed, total,
             m->failed, rate);
    fflush (stderr);
}

//  Encode one input line (NUL-terminated in place) as a pending item.
static bool s_line (map_t *m, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        line[--len] = 0;
    if (cli_line_blank (line, len))
        return true;
    if (m->npending == m->offs_cap) {
        size_t cap = m->offs_cap ? m->offs_cap * 2 : 1024;
        size_t *offs = realloc (m->offs, cap * sizeof *offs);
        if (!offs)
            return false;
        m->offs = offs;
        m->offs_cap = cap;
    }
    m->offs[m->npending++] = zj_enc_size (m->enc);
    cli_line_to_args (m->enc, line);
    return !zj_enc_failed (m->enc);
}

//  Read what stdin has within wait_ms (-1: block) and split it into
//  lines. Returns 1 when bytes came, 0 when none, -1 on OOM.
static int s_read (map_t *m, int wait_ms)
{
    struct pollfd pfd = {.fd = 0, .events = POLLIN};
    int ready = poll (&pfd, 1, wait_ms);
    if (ready <= 0)
        return 0;
    if (m->cap - m->len < MAP_READ + 1) {
        size_t cap = m->cap ? m->cap * 2 : 2 * MAP_READ;
        while (cap - m->len < MAP_READ + 1)
            cap *= 2;
        char *buf = realloc (m->buf, cap);
        if (!buf)
            return -1;
        m->buf = buf;
        m->cap = cap;
    }
    ssize_t n = read (0, m->buf + m->len, MAP_READ);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        if (n < 0)
            fprintf (stderr, "zjob: reading stdin failed: %s; using the lines read so far\n",
                     strerror (errno));
        m->eof = true;
        if (m->len) {
            m->buf[m->len] = 0;
            bool ok = s_line (m, m->buf, m->len);
            m->len = 0;
            return ok ? 1 : -1;
        }
        return 1;
    }
    m->len += (size_t) n;
    size_t start = 0;
    for (size_t i = m->len - (size_t) n; i < m->len; i++) {
        if (m->buf[i] != '\n')
            continue;
        m->buf[i] = 0;
        if (!s_line (m, m->buf + start, i - start))
            return -1;
        start = i + 1;
    }
    memmove (m->buf, m->buf + start, m->len - start);
    m->len -= start;
    return 1;
}

static zj_err_t s_launch (map_t *m)
{
    size_t n = m->npending;
    const uint8_t **items = malloc (n * sizeof *items);
    size_t *lens = malloc (n * sizeof *lens);
    zj_err_t err = items && lens ? ZJ_OK : ZJ_ENOMEM;
    const uint8_t *data = zj_enc_data (m->enc);
    size_t size = zj_enc_size (m->enc);
    for (size_t i = 0; i < n && !err; i++) {
        items[i] = data + m->offs[i];
        lens[i] = (i + 1 < n ? m->offs[i + 1] : size) - m->offs[i];
    }
    zj_map_t *map = NULL;
    if (!err)
        map = zj_map_new (m->cli->client, m->cli->args->fn, (const uint8_t *const *) items,
                          lens, n, m->cli->args->chunksize, !m->cli->args->unordered, NULL, &err);
    free (items);
    free (lens);
    if (!map)
        return err;
    m->win[(m->win_head + m->nwin++) % m->win_cap] = (map_window_t) {map, m->launched};
    m->launched += n;
    m->npending = 0;
    zj_enc_reset (m->enc);
    return ZJ_OK;
}

static void s_print_error (map_t *m, size_t index, const zj_error_t *error, zj_err_t err)
{
    const char *type = error ? zj_error_type (error) : zj_client_err_name (err);
    const char *message = error ? zj_error_message (error) : zj_client_strerror (err);
    json_t *line = json_pack ("{s:{s:s,s:s}}", "error", "type", type, "message", message);
    char *text = line ? json_dumps (line, JSON_COMPACT) : NULL;
    puts (text ? text : "{\"error\":{\"type\":\"OutOfMemory\",\"message\":\"\"}}");
    free (text);
    json_decref (line);
    if (m->bar)
        fputs ("\r\033[K", stderr);
    //  Counted from 1, as people count lines of input.
    fprintf (stderr, "item %zu failed: %s: %s\n", index + 1, type, message);
}

//  Print the results that are ready, waiting up to `wait` for the first.
//  Returns ZJ_OK, or a broker-level error that ends the map.
static zj_err_t s_drain (map_t *m, double wait)
{
    for (int i = 0; i < 10000 && m->nwin; i++) {
        map_window_t *w = &m->win[m->win_head];
        size_t index;
        const uint8_t *value;
        size_t len;
        const zj_error_t *error;
        zj_err_t rc = zj_map_next (w->map, i ? 0 : wait, &index, &value, &len, &error);
        if (rc == ZJ_ETIMEDOUT)
            break;
        if (rc == ZJ_ESHUTDOWN) {
            zj_map_destroy (&w->map);
            m->win_head = (m->win_head + 1) % m->win_cap;
            m->nwin--;
            continue;
        }
        if (rc == ZJ_EUNREACHABLE || rc == ZJ_EBROKERLOST)
            return rc;
        size_t global = w->base + index;
        if (rc == ZJ_OK) {
            zj_err_t jerr;
            char *json = zj_json_from_msgpack (value, len, &jerr);
            if (json)
                puts (json);
            else
                s_print_error (m, global, NULL, jerr);
            m->failed += json == NULL;
            free (json);
        }
        else {
            s_print_error (m, global, error, rc);
            m->failed++;
        }
        m->printed++;
    }
    fflush (stdout);
    return ZJ_OK;
}

static int s_cmd_map (cli_t *cli)
{
    const cli_args_t *a = cli->args;
    map_t m = {.cli = cli, .bar = isatty (2) == 1, .started = s_now ()};
    m.enc = zj_enc_new ();
    m.win_cap = MAP_INFLIGHT + 1;   //  a window holds one item at least
    m.win = calloc (m.win_cap, sizeof *m.win);
    int code = CLI_EXIT_OK;
    if (!m.enc || !m.win) {
        code = s_report (cli, ZJ_ENOMEM, NULL, NULL);
        goto done;
    }
    size_t window = MAP_WINDOW < a->chunksize ? a->chunksize
                  : MAP_WINDOW / a->chunksize * a->chunksize;
    double deadline = a->timeout >= 0 ? s_now () + a->timeout : INFINITY;
    for (;;) {
        size_t inflight = m.launched - m.printed;
        bool room = inflight + m.npending < MAP_INFLIGHT;
        int got = 0;
        if (!m.eof && room) {
            //  Block on stdin only when nothing else needs attention.
            int wait_ms = m.nwin ? 0 : m.npending ? 20 : -1;
            if (wait_ms < 0 && isfinite (deadline))
                wait_ms = (int) fmax (1, (deadline - s_now ()) * 1000);
            got = s_read (&m, wait_ms);
            if (got < 0) {
                code = s_report (cli, ZJ_ENOMEM, NULL, NULL);
                goto done;
            }
        }
        if (m.npending && (m.npending >= window || m.eof || !got || !room)) {
            zj_err_t err = s_launch (&m);
            if (err != ZJ_OK) {
                code = s_report (cli, err, NULL, NULL);
                goto done;
            }
        }
        if (m.eof && !m.npending && !m.nwin)
            break;
        if (m.nwin) {
            double wait = m.eof || !room ? 0.1 : 0.01;
            zj_err_t err = s_drain (&m, fmin (wait, fmax (0, deadline - s_now ())));
            if (err != ZJ_OK) {
                if (m.bar)
                    fputs ("\r\033[K", stderr);
                code = s_report (cli, err, NULL, NULL);
                goto done;
            }
        }
        s_bar (&m, false);
        if (s_now () >= deadline) {
            if (m.bar)
                fputs ("\r\033[K", stderr);
            fprintf (stderr, "zjob: map timed out after %g s with %zu of %zu items done; the "
                     "remaining tasks go on\n", a->timeout, m.printed, m.launched + m.npending);
            code = CLI_EXIT_TIMEOUT;
            goto done;
        }
    }
    s_bar (&m, true);
    if (m.bar)
        fputc ('\n', stderr);
    code = m.failed ? CLI_EXIT_FAILED : CLI_EXIT_OK;
done:
    for (size_t i = 0; i < m.nwin; i++)
        zj_map_destroy (&m.win[(m.win_head + i) % m.win_cap].map);
    free (m.win);
    free (m.offs);
    free (m.buf);
    zj_enc_destroy (&m.enc);
    return code;
}

//  ---------------------------------------------------------------------
//  Keys

static int s_cmd_keygen (const char *name)
{
    char pub[4096], sec[4096];
    if (snprintf (pub, sizeof pub, "%s.key", name) >= (int) sizeof pub
        || snprintf (sec, sizeof sec, "%s.key_secret", name) >= (int) sizeof sec) {
        fprintf (stderr, "zjob: keygen: the name '%s' is too long\n", name);
        return CLI_EXIT_USAGE;
    }
    if (access (pub, F_OK) == 0 || access (sec, F_OK) == 0) {
        fprintf (stderr, "zjob: keygen: %s or %s exists already; a new key would lock out "
                 "whoever holds the old one: remove them first or pick another NAME\n", pub, sec);
        return CLI_EXIT_FAILED;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "zjob: keygen: cannot make a key pair (libzmq without CURVE?)\n");
        return CLI_EXIT_FAILED;
    }
    char host[256] = "";
    gethostname (host, sizeof host - 1);
    zcert_set_meta (cert, "name", "%s", name);
    zcert_set_meta (cert, "host", "%s", host);
    //  The secret file is born private: nobody else may read it, ever.
    mode_t old = umask (077);
    int rc = zcert_save (cert, pub);
    umask (old);
    zcert_destroy (&cert);
    if (rc != 0 || chmod (pub, 0644) != 0) {
        fprintf (stderr, "zjob: keygen: cannot write %s and %s: %s\n", pub, sec, strerror (errno));
        return CLI_EXIT_FAILED;
    }
    printf ("%s\n%s\n", pub, sec);
    return CLI_EXIT_OK;
}

//  Check the key files before connecting, to say which one is wrong.
static bool s_keys_ok (const cli_args_t *args)
{
    if (!args->curve_secret && !args->broker_key)
        return true;
    if (!args->curve_secret || !args->broker_key) {
        fprintf (stderr, "zjob: CURVE needs both --curve-secret FILE (ours) and --broker-key "
                 "FILE (the broker's public certificate), or ZJOB_CURVE_SECRET and "
                 "ZJOB_BROKER_KEY\n");
        return false;
    }
    curvekeys_t keys;
    char why[512];
    if (curvekeys_load (&keys, args->curve_secret, args->broker_key, "--curve-secret",
                        "--broker-key", why, sizeof why))
        return true;
    fprintf (stderr, "zjob: %s\n", why);
    return false;
}

//  ---------------------------------------------------------------------

int main (int argc, char **argv)
{
    log_init ("zjob", LOG_LEVEL_WARN);
    cli_args_t args;
    if (!cli_args_parse (&args, argc, argv, getenv ("ZJOB_BROKER"))) {
        fprintf (stderr, "zjob: %s\n%s\nTry 'zjob %s%s--help' for more.\n", args.error,
                 cli_usage_line (args.cmd), cli_cmd_name (args.cmd), args.cmd ? " " : "");
        cli_args_fini (&args);
        return CLI_EXIT_USAGE;
    }
    if (args.version) {
        printf ("zjob %s\n", ZJ_VERSION);
        cli_args_fini (&args);
        return CLI_EXIT_OK;
    }
    if (args.help || args.cmd == CLI_HELP || args.cmd == CLI_NONE) {
        bool usage_error = args.cmd == CLI_NONE && !args.help;
        fputs (cli_help (args.cmd == CLI_HELP ? args.help_cmd : args.cmd),
               usage_error ? stderr : stdout);
        cli_args_fini (&args);
        return usage_error ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (args.cmd == CLI_KEYGEN) {
        int code = s_cmd_keygen (args.keygen_name);
        cli_args_fini (&args);
        return code;
    }
    const char *env = getenv ("ZJOB_CURVE_SECRET");
    if (!args.curve_secret && env && *env)
        args.curve_secret = env;
    env = getenv ("ZJOB_BROKER_KEY");
    if (!args.broker_key && env && *env)
        args.broker_key = env;
    if (!s_keys_ok (&args)) {
        cli_args_fini (&args);
        return CLI_EXIT_USAGE;
    }
    zj_client_opts_t opts = {.connect_timeout = args.connect_timeout,
                             .reconnect_timeout = args.reconnect_timeout,
                             .curve_secret_file = args.curve_secret,
                             .broker_key_file = args.broker_key};
    zj_err_t err;
    cli_t cli = {.args = &args};
    cli.client = zj_client_new (args.broker, &opts, &err);
    if (!cli.client) {
        if (err == ZJ_EINVAL)
            fprintf (stderr, "zjob: '%s' is not a broker endpoint: expected e.g. %s "
                     "(check --broker or ZJOB_BROKER)\n", args.broker, CLI_DEFAULT_BROKER);
        else
            fprintf (stderr, "zjob: cannot start the client: %s\n", zj_client_strerror (err));
        cli_args_fini (&args);
        return err == ZJ_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FAILED;
    }
    int code;
    switch (args.cmd) {
        case CLI_RUN:    code = s_cmd_run (&cli, true); break;
        case CLI_SUBMIT: code = s_cmd_run (&cli, false); break;
        case CLI_RESULT: code = s_cmd_result (&cli); break;
        case CLI_STATUS: code = s_cmd_status (&cli); break;
        case CLI_CANCEL: code = s_cmd_cancel (&cli); break;
        case CLI_MAP:    code = s_cmd_map (&cli); break;
        case CLI_STATS:  code = s_cmd_stats (&cli); break;
        case CLI_WORKERS: code = s_cmd_list (&cli, "workers", cli_table_workers); break;
        case CLI_QUEUES: code = s_cmd_list (&cli, "queues", cli_table_queues); break;
        case CLI_FAILED: code = s_cmd_list (&cli, "dead_letters", cli_table_failed); break;
        case CLI_RETRY:  code = s_cmd_retry (&cli); break;
        default:         code = CLI_EXIT_USAGE; break;
    }
    //  Leave running tasks alone: after a timeout or `submit`, the tasks
    //  must go on without this process.
    zj_client_shutdown (cli.client, false, false);
    zj_client_destroy (&cli.client);
    cli_args_fini (&args);
    return code;
}
