// SPDX-License-Identifier: MIT
//  cli_args - argv parsing, help texts and exit codes of the zjob CLI.
//  Pure: no I/O, no broker.
#include "cli_args.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

//  Options, and the commands that take them (bit per cli_cmd_t).
typedef enum {
    OPT_BROKER,
    OPT_CONNECT_TIMEOUT,
    OPT_RECONNECT_TIMEOUT,
    OPT_HELP,
    OPT_VERSION,
    OPT_TIMEOUT,
    OPT_PRIORITY,
    OPT_TASK_TIMEOUT,
    OPT_UNORDERED,
    OPT_CHUNKSIZE,
    OPT_JSON,
    OPT_FORMAT,
    OPT_CURVE_SECRET,
    OPT_BROKER_KEY,
    OPT_RETRY_ON,
    OPT_MAX_RETRIES,
    OPT_WAIT,
} opt_id_t;

#define CMD(c) (1u << (c))
#define ALL_CMDS 0xffffffffu

static const struct {
    const char *name;           //  without the leading "--"
    opt_id_t id;
    bool value;                 //  takes a value
    unsigned cmds;              //  commands that accept it
} s_opts[] = {
    {"broker", OPT_BROKER, true, ALL_CMDS},
    {"connect-timeout", OPT_CONNECT_TIMEOUT, true, ALL_CMDS},
    {"reconnect-timeout", OPT_RECONNECT_TIMEOUT, true, ALL_CMDS},
    {"help", OPT_HELP, false, ALL_CMDS},
    {"version", OPT_VERSION, false, ALL_CMDS},
    {"timeout", OPT_TIMEOUT, true, CMD (CLI_RUN) | CMD (CLI_RESULT) | CMD (CLI_MAP)
                                   | CMD (CLI_RETRY)},
    {"wait", OPT_WAIT, false, CMD (CLI_RETRY)},
    {"priority", OPT_PRIORITY, true, CMD (CLI_RUN) | CMD (CLI_SUBMIT)},
    {"task-timeout", OPT_TASK_TIMEOUT, true, CMD (CLI_RUN) | CMD (CLI_SUBMIT)},
    {"retry-on", OPT_RETRY_ON, true, CMD (CLI_RUN) | CMD (CLI_SUBMIT)},
    {"max-retries", OPT_MAX_RETRIES, true, CMD (CLI_RUN) | CMD (CLI_SUBMIT)},
    {"unordered", OPT_UNORDERED, false, CMD (CLI_MAP)},
    {"chunksize", OPT_CHUNKSIZE, true, CMD (CLI_MAP)},
    {"json", OPT_JSON, false, CMD (CLI_WORKERS) | CMD (CLI_QUEUES) | CMD (CLI_STATUS)
                                 | CMD (CLI_FAILED)},
    {"format", OPT_FORMAT, true, CMD (CLI_STATS)},
    {"curve-secret", OPT_CURVE_SECRET, true, ALL_CMDS},
    {"broker-key", OPT_BROKER_KEY, true, ALL_CMDS},
};
#define NOPTS (sizeof s_opts / sizeof s_opts[0])

static const char *s_names[] = {"", "run", "submit", "result", "status",
                                "cancel", "map", "stats", "workers", "queues", "failed", "retry",
                                "keygen", "help"};

const char *cli_cmd_name (cli_cmd_t cmd)
{
    return cmd <= CLI_HELP ? s_names[cmd] : "";
}

static cli_cmd_t s_cmd_parse (const char *s)
{
    for (int c = CLI_RUN; c <= CLI_HELP; c++)
        if (strcmp (s, s_names[c]) == 0)
            return (cli_cmd_t) c;
    return CLI_NONE;
}

static bool s_fail (cli_args_t *self, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, ap);
    va_end (ap);
    return false;
}

//  "-1", "-2.5", "-1e3": a negative number is an ARG, not an option.
static bool s_is_number (const char *s)
{
    char *end;
    errno = 0;
    strtod (s, &end);
    return end != s && *end == 0;
}

static bool s_seconds (cli_args_t *self, const char *opt, const char *text, bool zero_ok,
                       double *out)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (end == text || *end || errno || !isfinite (v) || v < 0 || (v == 0 && !zero_ok))
        return s_fail (self, "--%s wants a number of seconds%s, not '%s'", opt,
                       zero_ok ? " (0 or more)" : " above 0", text);
    *out = v;
    return true;
}

static bool s_integer (cli_args_t *self, const char *opt, const char *text, int64_t min,
                       int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (end == text || *end || errno || v < min)
        return s_fail (self, "--%s wants a whole number%s, not '%s'", opt,
                       min == 0 ? " of at least 0" : min > INT64_MIN ? " of at least 1" : "",
                       text);
    *out = v;
    return true;
}

static bool s_set_option (cli_args_t *self, opt_id_t id, const char *name, const char *value)
{
    int64_t n;
    switch (id) {
        case OPT_BROKER:
            if (!*value)
                return s_fail (self, "--broker wants an endpoint such as %s", CLI_DEFAULT_BROKER);
            self->broker = value;
            return true;
        case OPT_CONNECT_TIMEOUT:
            return s_seconds (self, name, value, false, &self->connect_timeout);
        case OPT_RECONNECT_TIMEOUT:
            return s_seconds (self, name, value, false, &self->reconnect_timeout);
        case OPT_HELP:
            self->help = true;
            return true;
        case OPT_VERSION:
            self->version = true;
            return true;
        case OPT_TIMEOUT:
            return s_seconds (self, name, value, true, &self->timeout);
        case OPT_PRIORITY:
            return s_integer (self, name, value, INT64_MIN, &self->priority);
        case OPT_TASK_TIMEOUT:
            return s_seconds (self, name, value, true, &self->task_timeout);
        case OPT_RETRY_ON:
            if (self->nretry_on == CLI_MAX_RETRY_ON)
                return s_fail (self, "--retry-on: at most %d error types", CLI_MAX_RETRY_ON);
            if (!*value)
                return s_fail (self, "--retry-on wants an error type, e.g. ConnectionError");
            self->retry_on[self->nretry_on++] = value;
            return true;
        case OPT_MAX_RETRIES:
            return s_integer (self, name, value, 0, &self->max_retries);
        case OPT_UNORDERED:
            self->unordered = true;
            return true;
        case OPT_WAIT:
            self->wait = true;
            return true;
        case OPT_CHUNKSIZE:
            if (!s_integer (self, name, value, 1, &n))
                return false;
            self->chunksize = (size_t) n;
            return true;
        case OPT_JSON:
            self->json = true;
            return true;
        case OPT_FORMAT:
            if (strcmp (value, "json") != 0 && strcmp (value, "prometheus") != 0)
                return s_fail (self, "--format wants json or prometheus, not '%s'", value);
            self->prometheus = strcmp (value, "prometheus") == 0;
            return true;
        case OPT_CURVE_SECRET:
        case OPT_BROKER_KEY:
            if (!*value)
                return s_fail (self, "--%s wants a certificate file (see zjob keygen)", name);
            *(id == OPT_CURVE_SECRET ? &self->curve_secret : &self->broker_key) = value;
            return true;
    }
    return false;
}

bool cli_args_parse (cli_args_t *self, int argc, char **argv, const char *env_broker)
{
    memset (self, 0, sizeof *self);
    self->broker = env_broker && *env_broker ? env_broker : CLI_DEFAULT_BROKER;
    self->connect_timeout = 5;
    self->reconnect_timeout = 60;
    self->timeout = -1;
    self->chunksize = 1;
    self->max_retries = -1;
    //  Positional words in order: the command first, then its operands.
    const char **words = calloc ((size_t) (argc > 0 ? argc : 1), sizeof *words);
    if (!words)
        return s_fail (self, "out of memory");
    size_t nwords = 0;
    unsigned seen = 0;          //  bit per opt_id_t
    bool options = true;        //  false after "--"
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options || arg[0] != '-' || arg[1] == 0 || s_is_number (arg)) {
            words[nwords++] = arg;
            continue;
        }
        if (strcmp (arg, "--") == 0) {
            options = false;
            continue;
        }
        if (strcmp (arg, "-h") == 0)
            arg = "--help";
        if (arg[1] != '-') {
            free (words);
            return s_fail (self, "unknown option '%s'", arg);
        }
        const char *name = arg + 2;
        const char *eq = strchr (name, '=');
        size_t len = eq ? (size_t) (eq - name) : strlen (name);
        size_t k = 0;
        while (k < NOPTS && (strlen (s_opts[k].name) != len || strncmp (s_opts[k].name, name, len)))
            k++;
        if (k == NOPTS) {
            free (words);
            return s_fail (self, "unknown option '--%.*s'", (int) len, name);
        }
        const char *value = NULL;
        if (s_opts[k].value) {
            if (eq)
                value = eq + 1;
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                free (words);
                return s_fail (self, "--%s needs a value", s_opts[k].name);
            }
        }
        else if (eq) {
            free (words);
            return s_fail (self, "--%s takes no value", s_opts[k].name);
        }
        if (!s_set_option (self, s_opts[k].id, s_opts[k].name, value)) {
            free (words);
            return false;
        }
        seen |= 1u << s_opts[k].id;
    }
    self->args = words;
    if (nwords == 0)
        return true;            //  main shows the help (or the version)
    self->cmd = s_cmd_parse (words[0]);
    if (self->cmd == CLI_NONE)
        return s_fail (self, "unknown command '%s'", words[0]);
    for (size_t k = 0; k < NOPTS; k++)
        if ((seen & (1u << s_opts[k].id)) && !(s_opts[k].cmds & CMD (self->cmd)))
            return s_fail (self, "zjob %s takes no --%s option", s_names[self->cmd], s_opts[k].name);
    const char **ops = words + 1;
    size_t nops = nwords - 1;
    if (self->help)
        return true;            //  `zjob run --help` needs no operands
    switch (self->cmd) {
        case CLI_RUN:
        case CLI_SUBMIT:
        case CLI_MAP:
            if (nops == 0)
                return s_fail (self, "zjob %s needs a function name", s_names[self->cmd]);
            if (self->cmd == CLI_MAP && nops > 1)
                return s_fail (self, "zjob map takes its arguments from stdin, one task per "
                                     "line, not from the command line ('%s')", ops[1]);
            self->fn = ops[0];
            if (strlen (self->fn) > ZJ_MAX_FN)
                return s_fail (self, "the function name is longer than %d bytes", ZJ_MAX_FN);
            //  Shift the ARGs to the front of the owned array.
            memmove (words, ops + 1, (nops - 1) * sizeof *words);
            self->nargs = nops - 1;
            return true;
        case CLI_RESULT:
        case CLI_STATUS:
        case CLI_CANCEL:
        case CLI_RETRY:
            if (nops != 1)
                return s_fail (self, "zjob %s needs exactly one TICKET", s_names[self->cmd]);
            if (self->cmd == CLI_RETRY && self->timeout >= 0 && !self->wait)
                return s_fail (self, "zjob retry --timeout only applies with --wait");
            self->ticket = ops[0];
            return true;
        case CLI_STATS:
        case CLI_WORKERS:
        case CLI_QUEUES:
        case CLI_FAILED:
            if (nops)
                return s_fail (self, "zjob %s takes no operands ('%s')", s_names[self->cmd],
                               ops[0]);
            return true;
        case CLI_KEYGEN:
            if (nops != 1 || !*ops[0])
                return s_fail (self, "zjob keygen needs exactly one NAME");
            self->keygen_name = ops[0];
            return true;
        case CLI_HELP:
            if (nops > 1)
                return s_fail (self, "zjob help takes at most one COMMAND");
            if (nops == 1 && (self->help_cmd = s_cmd_parse (ops[0])) == CLI_NONE)
                return s_fail (self, "no help for '%s': not a zjob command", ops[0]);
            return true;
        default:
            return true;
    }
}

void cli_args_fini (cli_args_t *self)
{
    free (self->args);
    self->args = NULL;
    self->nargs = 0;
}

//  ---------------------------------------------------------------------
//  Help

#define EXIT_CODES \
    "Exit codes:\n" \
    "  0  ok\n" \
    "  1  the task failed (map: at least one item failed)\n" \
    "  2  usage error\n" \
    "  3  timed out waiting (the task goes on)\n" \
    "  4  broker unreachable or lost\n" \
    "  5  the task was cancelled\n" \
    "  6  unknown or expired ticket\n" \
    "  7  refused by the broker (QueueFull, TooLarge, ShutDown, ProtocolError)\n" \
    "  8  cancel refused: the task is already running or finished; retry\n" \
    "     refused: the task has not failed\n"

#define GLOBAL_OPTS \
    "Global options (anywhere on the line):\n" \
    "  --broker EP            the broker's client endpoint (env ZJOB_BROKER,\n" \
    "                         default " CLI_DEFAULT_BROKER ")\n" \
    "  --connect-timeout SEC  give up on an unreachable broker after SEC seconds\n" \
    "                         (default 5)\n" \
    "  --curve-secret FILE    this client's secret certificate (NAME.key_secret from\n" \
    "                         zjob keygen; env ZJOB_CURVE_SECRET): talk CURVE\n" \
    "  --broker-key FILE      the broker's public certificate (NAME.key; env\n" \
    "                         ZJOB_BROKER_KEY); needed with --curve-secret\n" \
    "  --reconnect-timeout SEC\n" \
    "                         when the broker goes away while zjob waits, keep\n" \
    "                         reconnecting this long (default 60): a broker that\n" \
    "                         comes back with its state still gives the result\n" \
    "  -h, --help             show help; `zjob help COMMAND` for one command\n" \
    "  --version              print the version\n"

#define ARG_RULE \
    "Each ARG is a JSON value when the whole ARG parses as JSON (42, 2.5, true,\n" \
    "null, \"text\", [1,2], {\"a\":1}); otherwise it is the string itself.\n" \
    "Use -- before ARGs that start with '--'.\n"

static const char *s_usage[] = {
    [CLI_NONE] = "usage: zjob [--broker EP] [--connect-timeout SEC] COMMAND [ARGS...]",
    [CLI_RUN] = "usage: zjob run FN [ARG...] [--timeout SEC] [--priority N] [--task-timeout SEC]\n"
                "                [--max-retries N] [--retry-on TYPE]...",
    [CLI_SUBMIT] = "usage: zjob submit FN [ARG...] [--priority N] [--task-timeout SEC]\n"
                   "                [--max-retries N] [--retry-on TYPE]...",
    [CLI_RESULT] = "usage: zjob result TICKET [--timeout SEC]",
    [CLI_STATUS] = "usage: zjob status [--json] TICKET",
    [CLI_CANCEL] = "usage: zjob cancel TICKET",
    [CLI_MAP] = "usage: zjob map FN [--unordered] [--chunksize N] [--timeout SEC] < LINES",
    [CLI_STATS] = "usage: zjob stats [--format json|prometheus]",
    [CLI_WORKERS] = "usage: zjob workers [--json]",
    [CLI_QUEUES] = "usage: zjob queues [--json]",
    [CLI_FAILED] = "usage: zjob failed [--json]",
    [CLI_RETRY] = "usage: zjob retry TICKET [--wait [--timeout SEC]]",
    [CLI_KEYGEN] = "usage: zjob keygen NAME",
    [CLI_HELP] = "usage: zjob help [COMMAND]",
};

static const char *s_help[] = {
    [CLI_NONE] =
        "usage: zjob [--broker EP] [--connect-timeout SEC] COMMAND [ARGS...]\n"
        "\n"
        "Run functions on zjob workers through the zjobd broker.\n"
        "\n"
        "Commands:\n"
        "  run FN [ARG...]     submit a task, wait, print its result as JSON\n"
        "  submit FN [ARG...]  submit a task and print its ticket\n"
        "  result TICKET       wait for a task's result and print it\n"
        "  status TICKET       print a task's state (queued, running, done, failed,\n"
        "                      cancelled)\n"
        "  cancel TICKET       cancel a task that has not started yet\n"
        "  map FN              run FN once per line of stdin; print one result per line\n"
        "  stats               print the broker's statistics as JSON\n"
        "  workers             list the workers: host, pid, functions, credit, load\n"
        "  queues              list the queues: depth, oldest task, counts\n"
        "  failed              list dead letters: tasks failed after their retries\n"
        "  retry TICKET        run a failed task again (a dead letter, say)\n"
        "  keygen NAME         write a CURVE key pair: NAME.key, NAME.key_secret\n"
        "  help [COMMAND]      show help for a command\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_RUN] =
        "usage: zjob run FN [ARG...] [--timeout SEC] [--priority N] [--task-timeout SEC]\n"
        "                [--max-retries N] [--retry-on TYPE]...\n"
        "\n"
        "Submit FN(ARG...), wait for it, and print its result on stdout as one line\n"
        "of JSON. When the task fails, stderr shows 'Type: message' and then the\n"
        "remote traceback, and the exit code is 1.\n"
        "\n" ARG_RULE "\n"
        "Options:\n"
        "  --timeout SEC       stop waiting after SEC seconds (exit 3); the task goes\n"
        "                      on, and stderr gives its ticket for `zjob result`\n"
        "  --priority N        higher runs first (default 0)\n"
        "  --task-timeout SEC  the worker stops the task after SEC seconds\n"
        "                      (default: no limit)\n"
        "  --max-retries N     runs after the first when a worker is lost, the\n"
        "                      task's process crashes or --retry-on matches\n"
        "                      (default: the broker's --max-retries)\n"
        "  --retry-on TYPE     retry a raised error of this type too (repeatable)\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_SUBMIT] =
        "usage: zjob submit FN [ARG...] [--priority N] [--task-timeout SEC]\n"
        "                [--max-retries N] [--retry-on TYPE]...\n"
        "\n"
        "Submit FN(ARG...) and print its ticket on stdout as soon as the broker has\n"
        "accepted it. Get the result later with `zjob result TICKET`.\n"
        "\n" ARG_RULE "\n"
        "Options:\n"
        "  --priority N        higher runs first (default 0)\n"
        "  --task-timeout SEC  the worker stops the task after SEC seconds\n"
        "  --max-retries N     runs after the first when a worker is lost, the\n"
        "                      task's process crashes or --retry-on matches\n"
        "                      (default: the broker's --max-retries)\n"
        "  --retry-on TYPE     retry a raised error of this type too (repeatable)\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_RESULT] =
        "usage: zjob result TICKET [--timeout SEC]\n"
        "\n"
        "Wait for the task TICKET (submitted by anyone) and print its result as\n"
        "`zjob run` does.\n"
        "\n"
        "Options:\n"
        "  --timeout SEC  stop waiting after SEC seconds (exit 3)\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_STATUS] =
        "usage: zjob status [--json] TICKET\n"
        "\n"
        "Print the state of the task TICKET: queued, running, done, failed or\n"
        "cancelled. An unknown or expired ticket exits with 6.\n"
        "\n"
        "Options:\n"
        "  --json  print {\"ticket\", \"state\", \"attempts\"} instead: every run of\n"
        "          the task with its worker host and pid, start and end (unix\n"
        "          seconds), outcome (running, done, raised, crashed, timeout,\n"
        "          lost, cancelled) and error type\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_CANCEL] =
        "usage: zjob cancel TICKET\n"
        "\n"
        "Cancel the task TICKET if it is still queued, and print 'cancelled'. A\n"
        "task that is already running or finished is not touched (exit 8).\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_MAP] =
        "usage: zjob map FN [--unordered] [--chunksize N] [--timeout SEC] < LINES\n"
        "\n"
        "Run FN once per line of stdin and print one JSON result per line on stdout,\n"
        "in input order. A line holding a JSON array is the argument list; any other\n"
        "JSON value, or bare text, is the single argument; empty lines are skipped.\n"
        "Tasks are submitted while stdin is still being read.\n"
        "\n"
        "A failed item prints {\"error\": {\"type\": T, \"message\": M}} in its place on\n"
        "stdout and 'item N failed: T: M' on stderr (items count from 1); the\n"
        "others go on. On a terminal, stderr shows a progress bar.\n"
        "\n"
        "Options:\n"
        "  --unordered    print results as they complete; the output order no longer\n"
        "                 matches the input order\n"
        "  --chunksize N  send N items per task (fewer, larger messages; default 1)\n"
        "  --timeout SEC  give up after SEC seconds in all (exit 3); tasks go on\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_STATS] =
        "usage: zjob stats [--format json|prometheus]\n"
        "\n"
        "Print the broker's statistics (tasks, counters, queues, workers) as JSON.\n"
        "\n"
        "Options:\n"
        "  --format prometheus  print the broker's Prometheus metrics instead (the\n"
        "                       page zjobd --metrics serves over HTTP)\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_WORKERS] =
        "usage: zjob workers [--json]\n"
        "\n"
        "List the workers registered with the broker, one per line, sorted by name:\n"
        "  ID         the start of the worker's id\n"
        "  NAME       the name it gave (zjob-worker --name)\n"
        "  HOST, PID  where its process runs\n"
        "  FUNCTIONS  what it runs (+N: N more not shown)\n"
        "  CREDIT     tasks it may hold at once\n"
        "  RUNNING    tasks it holds now\n"
        "  LAST SEEN  time since the broker last heard from it\n"
        "  LIVENESS   how the broker judges it, when the broker says\n"
        "\n"
        "Options:\n"
        "  --json  print the broker's worker list as JSON instead, for scripts\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_QUEUES] =
        "usage: zjob queues [--json]\n"
        "\n"
        "List the broker's queues, one per function, sorted by function:\n"
        "  DEPTH      tasks waiting for a worker\n"
        "  RUNNING    tasks at workers\n"
        "  WORKERS    workers that run the function\n"
        "  OLDEST     how long the oldest waiting task has waited\n"
        "  SUBMITTED, COMPLETED, FAILED, CANCELLED  counts since the broker started\n"
        "\n"
        "Options:\n"
        "  --json  print the broker's queue list as JSON instead, for scripts\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_FAILED] =
        "usage: zjob failed [--json]\n"
        "\n"
        "List the dead letters the broker still holds (newest first, at most 100):\n"
        "tasks that failed after their retries ran out (worker lost, process\n"
        "crashed, or a --retry-on error type each time):\n"
        "  TICKET     the task\n"
        "  FUNCTION   its function\n"
        "  ATTEMPTS   runs on record (zjob status --json TICKET shows them)\n"
        "  AGE        how long ago it failed\n"
        "  ERROR      the last error, 'Type: message'\n"
        "Run one again with `zjob retry TICKET`.\n"
        "\n"
        "Options:\n"
        "  --json  print the list as JSON instead, for scripts\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_RETRY] =
        "usage: zjob retry TICKET [--wait [--timeout SEC]]\n"
        "\n"
        "Run the failed task TICKET again, with the arguments and options it was\n"
        "submitted with, and print 'queued'. The ticket stays the same: it is\n"
        "queued again, its earlier runs stay in its history (zjob status --json),\n"
        "and it gets its --max-retries again. `zjob result TICKET` then waits for\n"
        "the new outcome. A task that is queued, running, done or cancelled is not\n"
        "touched (exit 8); an unknown or expired ticket exits with 6.\n"
        "\n"
        "Options:\n"
        "  --wait         wait for the new outcome and print it as `zjob result` does\n"
        "  --timeout SEC  with --wait: stop waiting after SEC seconds (exit 3)\n"
        "\n" GLOBAL_OPTS "\n" EXIT_CODES,
    [CLI_KEYGEN] =
        "usage: zjob keygen NAME\n"
        "\n"
        "Write a new CURVE key pair: NAME.key (the public certificate: copy it to the\n"
        "broker's --client-keys or --worker-keys directory, or give a broker's to\n"
        "clients and workers as --broker-key) and NAME.key_secret (the secret one,\n"
        "mode 600: it stays on this machine, given as --curve-secret). Refuses to\n"
        "overwrite existing files. Needs no broker. See docs/security.md.\n"
        "\n"
        "Exit codes: 0 written; 1 could not write; 2 usage error.\n",
    [CLI_HELP] = NULL,
};

const char *cli_usage_line (cli_cmd_t cmd)
{
    return cmd <= CLI_HELP ? s_usage[cmd] : s_usage[CLI_NONE];
}

const char *cli_help (cli_cmd_t cmd)
{
    return cmd > CLI_NONE && cmd < CLI_HELP ? s_help[cmd] : s_help[CLI_NONE];
}

//  ---------------------------------------------------------------------
//  Exit codes and map lines

int cli_exit_code (zj_err_t err)
{
    switch (err) {
        case ZJ_OK:
            return CLI_EXIT_OK;
        case ZJ_EINVAL:
        case ZJ_EJSON:
            return CLI_EXIT_USAGE;
        case ZJ_ETIMEDOUT:
            return CLI_EXIT_TIMEOUT;
        case ZJ_EUNREACHABLE:
        case ZJ_EBROKERLOST:
            return CLI_EXIT_UNREACHABLE;
        case ZJ_ECANCELLED:
            return CLI_EXIT_CANCELLED;
        case ZJ_ENOTICKET:
        case ZJ_EEXPIRED:
            return CLI_EXIT_NOTICKET;
        case ZJ_EPROTO:
        case ZJ_EVERSION:
        case ZJ_ETOOLARGE:
        case ZJ_EQUEUEFULL:
        case ZJ_ESHUTDOWN:
        case ZJ_ENOSPC:
            return CLI_EXIT_REFUSED;
        case ZJ_ETOOLATE:
            return CLI_EXIT_TOOLATE;
        default:
            return CLI_EXIT_FAILED;
    }
}

bool cli_line_blank (const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!isspace ((unsigned char) line[i]))
            return false;
    return true;
}

void cli_line_to_args (zj_enc_t *enc, const char *line)
{
    const char *p = line;
    while (isspace ((unsigned char) *p))
        p++;
    if (*p == '[' && zj_json_to_msgpack (enc, line, strlen (line)) == ZJ_OK)
        return;
    zj_enc_array (enc, 1);
    zj_json_arg_to_msgpack (enc, line);
}
