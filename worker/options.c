// SPDX-License-Identifier: MIT
//  options - zjob-worker flags; see options.h. Accepts `--flag VALUE`
//  and `--flag=VALUE`; every error names the flag and the fix.
#include "options.h"
#include <zmq.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "msg.h"

#define S_DEFAULT_BROKER "tcp://127.0.0.1:5556"

void
options_usage (FILE *out)
{
    fprintf (out,
"Usage: zjob-worker [OPTIONS]\n"
"Run zjob tasks from a zjobd broker: the built-in functions echo, sleep,\n"
"fail and noop, any command given with --exec, and the functions of a\n"
"persistent task process given with --serve.\n"
"\n"
"Options:\n"
"  --config FILE       read settings from FILE first (ZPL, e.g.\n"
"                      /etc/zjob/worker-NAME.conf: `procs = 4`, and an `exec`\n"
"                      section of `NAME = COMMAND` lines; every flag below is\n"
"                      a key); flags given here override it\n"
"  --broker EP         broker's worker endpoint (default $ZJOB_WORKER_BROKER,\n"
"                      else " S_DEFAULT_BROKER ")\n"
"  --exec NAME=COMMAND serve function NAME by running `/bin/sh -c COMMAND` per\n"
"                      task, the arguments as a JSON array on stdin; stdout is\n"
"                      the result (JSON, else a string); a non-zero exit fails\n"
"                      the task, typed by a last stderr line `Type: message`.\n"
"                      Repeatable; replaces a built-in of the same name.\n"
"  --serve COMMAND     start COMMAND (`/bin/sh -c`) once per task slot (each\n"
"                      unit of --concurrency in each process) and stream tasks\n"
"                      to it over stdin/stdout as length-prefixed msgpack\n"
"                      frames; it names its functions in a hello. E.g.\n"
"                      --serve 'python3 -m zjob.serve mymodule'. A task that\n"
"                      times out or is aborted kills and restarts its process.\n"
"                      See docs/protocol.md, \"Task processes\".\n"
"  --procs N           worker processes, supervised and restarted (default 1)\n"
"  --concurrency N     tasks each process runs at once (default 1)\n"
"  --prefetch N        extra tasks each process holds ready (default 0)\n"
"  --name NAME         worker name shown in broker stats (default: host name)\n"
"  --heartbeat SEC     heartbeat interval in seconds (default 1)\n"
"  --liveness N        heartbeats missed before the broker counts as lost and\n"
"                      the worker reconnects (default 5)\n"
"  --drain-timeout SEC on SIGTERM, seconds running tasks may take to finish\n"
"                      before they are aborted and given back (default 30)\n"
"  --max-frame BYTES   largest message accepted from the broker (default %u)\n"
"  --log-level LEVEL   error, warn, info or debug (default info)\n"
"  --curve-secret FILE this worker's secret certificate (NAME.key_secret from\n"
"                      `zjob keygen NAME`; NAME.key goes in the directory of\n"
"                      zjobd --worker-keys): talk CURVE to the broker\n"
"  --broker-key FILE   the broker's public certificate; needed with\n"
"                      --curve-secret (see docs/security.md)\n"
"  --help              print this help and exit\n"
"  --version           print the version and exit\n"
"\n"
"Built-in functions:\n"
"  echo ARG...         returns its argument, or its arguments as an array\n"
"  sleep SEC [VALUE]   waits SEC seconds, returns VALUE if given, else SEC\n"
"  fail TYPE MESSAGE   fails with that error type and message\n"
"  noop                returns null\n"
"\n"
"Signals: SIGTERM or SIGINT drains every process: it takes no new tasks,\n"
"gives back the ones not started, lets running ones finish (up to\n"
"--drain-timeout), then exits 0. A second signal stops at once.\n"
"Exit codes: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n",
             ZJ_MAX_FRAME_DEFAULT);
}

void
options_clear (options_t *self)
{
    for (size_t i = 0; i < self->exec_count; i++)
        free (self->execs[i].name);
    free (self->execs);
    memset (self, 0, sizeof *self);
}

bool
options_parse_exec (const char *arg, char **name_p, const char **command_p,
                    char *why, size_t why_size)
{
    const char *eq = strchr (arg, '=');
    if (!eq) {
        snprintf (why, why_size,
                  "--exec '%s': expected NAME=COMMAND, e.g. --exec 'resize=python3 resize.py'",
                  arg);
        return false;
    }
    size_t len = (size_t) (eq - arg);
    if (len == 0 || len > ZJ_MAX_FN) {
        snprintf (why, why_size,
                  "--exec '%s': NAME must be 1 to %d characters before '='", arg, ZJ_MAX_FN);
        return false;
    }
    for (size_t i = 0; i < len; i++)
        if (arg[i] < 0x21 || arg[i] > 0x7e) {
            snprintf (why, why_size,
                      "--exec '%s': NAME may hold only printable ASCII without spaces", arg);
            return false;
        }
    const char *command = eq + 1;
    while (*command == ' ' || *command == '\t')
        command++;
    if (*command == 0) {
        snprintf (why, why_size, "--exec '%s': COMMAND after '=' is empty", arg);
        return false;
    }
    char *name = strndup (arg, len);
    if (!name) {
        snprintf (why, why_size, "out of memory");
        return false;
    }
    *name_p = name;
    *command_p = command;
    return true;
}

const options_exec_t *
options_find_exec (const options_t *self, const char *name, size_t len)
{
    for (size_t i = 0; i < self->exec_count; i++)
        if (strlen (self->execs[i].name) == len && memcmp (self->execs[i].name, name, len) == 0)
            return &self->execs[i];
    return NULL;
}

static bool
s_parse_uint (const char *text, uint64_t min, uint64_t max, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *value = v;
    return true;
}

static bool
s_parse_seconds (const char *text, double min, double max, double *value)
{
    if (!text || !*text)
        return false;
    errno = 0;
    char *end;
    double v = strtod (text, &end);
    if (errno || *end || !isfinite (v) || v < min || v > max)
        return false;
    *value = v;
    return true;
}

static bool
s_add_exec (options_t *self, const char *arg, char *why, size_t why_size)
{
    char *name;
    const char *command;
    if (!options_parse_exec (arg, &name, &command, why, why_size))
        return false;
    if (options_find_exec (self, name, strlen (name))) {
        snprintf (why, why_size, "--exec: function '%s' is given twice; keep one", name);
        free (name);
        return false;
    }
    options_exec_t *execs = realloc (self->execs, (self->exec_count + 1) * sizeof *execs);
    if (!execs) {
        snprintf (why, why_size, "out of memory");
        free (name);
        return false;
    }
    self->execs = execs;
    self->execs[self->exec_count].name = name;
    self->execs[self->exec_count].command = command;
    self->exec_count++;
    return true;
}

//  Read --curve-secret and --broker-key into the binary keys.
static bool
s_load_keys (options_t *self, char *why, size_t why_size)
{
    if (!self->curve_secret_file || !self->broker_key_file) {
        snprintf (why, why_size, "CURVE needs both --curve-secret FILE (this worker's "
                  "NAME.key_secret) and --broker-key FILE (the broker's public certificate)");
        return false;
    }
    self->curve = curvekeys_load (&self->keys, self->curve_secret_file, self->broker_key_file,
                                  "--curve-secret", "--broker-key", why, why_size);
    return self->curve;
}

options_action_t
options_parse (options_t *self, int argc, char **argv, char *why, size_t why_size)
{
    memset (self, 0, sizeof *self);
    const char *env = getenv ("ZJOB_WORKER_BROKER");
    self->broker = env && *env ? env : S_DEFAULT_BROKER;
    self->procs = 1;
    self->concurrency = 1;
    self->prefetch = 0;
    self->heartbeat = 1.0;
    self->liveness = 5;
    self->drain_timeout = 30;
    self->max_frame = ZJ_MAX_FRAME_DEFAULT;
    self->log_level = LOG_LEVEL_INFO;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0)
            return OPTIONS_HELP;
        if (strcmp (arg, "--version") == 0)
            return OPTIONS_VERSION;
        if (strncmp (arg, "--", 2) != 0) {
            snprintf (why, why_size,
                      "unexpected argument '%s'; zjob-worker takes only flags (see --help)", arg);
            return OPTIONS_USAGE;
        }
        //  Split --flag=VALUE, or take VALUE from the next argument.
        char flag[32];
        const char *value = NULL;
        const char *eq = strchr (arg, '=');
        size_t flen = eq ? (size_t) (eq - arg) : strlen (arg);
        if (flen >= sizeof flag) {
            snprintf (why, why_size, "unknown flag '%s' (see --help)", arg);
            return OPTIONS_USAGE;
        }
        memcpy (flag, arg, flen);
        flag[flen] = 0;
        static const char *known[] = {"--broker", "--exec", "--serve", "--procs", "--concurrency",
                                      "--prefetch", "--name", "--heartbeat", "--liveness",
                                      "--max-frame", "--log-level", "--curve-secret",
                                      "--broker-key", "--drain-timeout"};
        bool is_known = false;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            if (strcmp (flag, known[k]) == 0)
                is_known = true;
        if (!is_known) {
            snprintf (why, why_size, "unknown flag '%s' (see --help)", flag);
            return OPTIONS_USAGE;
        }
        if (eq)
            value = eq + 1;
        else
        if (i + 1 < argc)
            value = argv[++i];
        else {
            snprintf (why, why_size, "%s needs a value (see --help)", flag);
            return OPTIONS_USAGE;
        }

        uint64_t n;
        if (strcmp (flag, "--broker") == 0) {
            if (!strstr (value, "://")) {
                snprintf (why, why_size,
                          "--broker '%s': expected an endpoint like tcp://HOST:PORT", value);
                return OPTIONS_USAGE;
            }
            self->broker = value;
        }
        else
        if (strcmp (flag, "--exec") == 0) {
            if (!s_add_exec (self, value, why, why_size))
                return OPTIONS_USAGE;
        }
        else
        if (strcmp (flag, "--serve") == 0) {
            if (self->serve) {
                snprintf (why, why_size,
                          "--serve is given twice; give it once (one command may serve "
                          "many modules, e.g. 'python3 -m zjob.serve mod1 mod2')");
                return OPTIONS_USAGE;
            }
            const char *command = value;
            while (*command == ' ' || *command == '\t')
                command++;
            if (*command == 0) {
                snprintf (why, why_size, "--serve: COMMAND is empty");
                return OPTIONS_USAGE;
            }
            self->serve = command;
        }
        else
        if (strcmp (flag, "--procs") == 0) {
            if (!s_parse_uint (value, 1, 1024, &n)) {
                snprintf (why, why_size, "--procs '%s': expected a whole number from 1 to 1024", value);
                return OPTIONS_USAGE;
            }
            self->procs = (uint32_t) n;
        }
        else
        if (strcmp (flag, "--concurrency") == 0) {
            if (!s_parse_uint (value, 1, 1000000, &n)) {
                snprintf (why, why_size,
                          "--concurrency '%s': expected a whole number from 1 to 1000000", value);
                return OPTIONS_USAGE;
            }
            self->concurrency = (uint32_t) n;
        }
        else
        if (strcmp (flag, "--prefetch") == 0) {
            if (!s_parse_uint (value, 0, 1000000, &n)) {
                snprintf (why, why_size,
                          "--prefetch '%s': expected a whole number from 0 to 1000000", value);
                return OPTIONS_USAGE;
            }
            self->prefetch = (uint32_t) n;
        }
        else
        if (strcmp (flag, "--name") == 0) {
            size_t len = strlen (value);
            if (len == 0 || len > 128) {
                snprintf (why, why_size, "--name: expected 1 to 128 characters");
                return OPTIONS_USAGE;
            }
            self->name = value;
        }
        else
        if (strcmp (flag, "--heartbeat") == 0) {
            if (!s_parse_seconds (value, 0.01, 3600, &self->heartbeat)) {
                snprintf (why, why_size,
                          "--heartbeat '%s': expected seconds from 0.01 to 3600, e.g. 1 or 0.5", value);
                return OPTIONS_USAGE;
            }
        }
        else
        if (strcmp (flag, "--liveness") == 0) {
            if (!s_parse_uint (value, 1, 1000, &n)) {
                snprintf (why, why_size, "--liveness '%s': expected a whole number from 1 to 1000", value);
                return OPTIONS_USAGE;
            }
            self->liveness = (uint32_t) n;
        }
        else
        if (strcmp (flag, "--drain-timeout") == 0) {
            if (!s_parse_seconds (value, 0, 86400, &self->drain_timeout)) {
                snprintf (why, why_size,
                          "--drain-timeout '%s': expected seconds from 0 to 86400, e.g. 30", value);
                return OPTIONS_USAGE;
            }
        }
        else
        if (strcmp (flag, "--max-frame") == 0) {
            if (!s_parse_uint (value, 1024, (uint64_t) 1 << 31, &n)) {
                snprintf (why, why_size,
                          "--max-frame '%s': expected bytes from 1024 to 2147483648", value);
                return OPTIONS_USAGE;
            }
            self->max_frame = (size_t) n;
        }
        else
        if (strcmp (flag, "--curve-secret") == 0)
            self->curve_secret_file = value;
        else
        if (strcmp (flag, "--broker-key") == 0)
            self->broker_key_file = value;
        else
        if (strcmp (flag, "--log-level") == 0) {
            if (!log_level_parse (value, &self->log_level)) {
                snprintf (why, why_size,
                          "--log-level '%s': expected error, warn, info or debug", value);
                return OPTIONS_USAGE;
            }
        }
    }
    if ((self->curve_secret_file || self->broker_key_file)
        && !s_load_keys (self, why, why_size))
        return OPTIONS_USAGE;
    if (self->serve && self->concurrency > OPTIONS_MAX_SERVE_SLOTS) {
        snprintf (why, why_size,
                  "--concurrency %u with --serve would start %u task processes per worker "
                  "process; use at most %d (add --procs instead)",
                  (unsigned) self->concurrency, (unsigned) self->concurrency,
                  OPTIONS_MAX_SERVE_SLOTS);
        return OPTIONS_USAGE;
    }
    return OPTIONS_RUN;
}
