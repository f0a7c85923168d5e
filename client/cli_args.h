// SPDX-License-Identifier: MIT
//  cli_args - the zjob command line: parsing argv into cli_args_t, help
//  texts, exit codes, and turning a `zjob map` input line into arguments.
//  No I/O and no broker, so that every rule is unit-testable.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "err.h"
#include "msg.h"

#define CLI_DEFAULT_BROKER "tcp://127.0.0.1:5555"

//  Exit codes of the CLI (see the brief's shared conventions).
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILED = 1,        //  the task failed (or some map items did)
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_TIMEOUT = 3,
    CLI_EXIT_UNREACHABLE = 4,
    CLI_EXIT_CANCELLED = 5,
    CLI_EXIT_NOTICKET = 6,      //  unknown or expired ticket
    CLI_EXIT_REFUSED = 7,       //  QueueFull, TooLarge, ShutDown, ProtocolError
    CLI_EXIT_TOOLATE = 8,       //  cancel came too late, or retry of a task not failed
};

typedef enum {
    CLI_NONE = 0,               //  no command given
    CLI_RUN,
    CLI_SUBMIT,
    CLI_RESULT,
    CLI_STATUS,
    CLI_CANCEL,
    CLI_MAP,
    CLI_STATS,
    CLI_WORKERS,
    CLI_QUEUES,
    CLI_FAILED,
    CLI_RETRY,
    CLI_KEYGEN,
    CLI_HELP,
} cli_cmd_t;

//  --retry-on given at most this many times.
#define CLI_MAX_RETRY_ON 16

typedef struct {
    const char *broker;         //  endpoint; borrowed from argv, env or a literal
    double connect_timeout;     //  seconds before "unreachable"; default 5
    double reconnect_timeout;   //  seconds to wait for a lost broker to come back; default 60
    cli_cmd_t cmd;              //  the command
    bool help;                  //  --help/-h: show help for cmd (or the general help)
    bool version;               //  --version
    cli_cmd_t help_cmd;         //  `zjob help COMMAND`: which command
    const char *fn;             //  run, submit, map: the function; borrowed
    const char *ticket;         //  result, status, cancel, retry; borrowed
    const char **args;          //  run, submit: the ARGs (borrowed strings); owned array
    size_t nargs;               //  entries in args
    double timeout;             //  --timeout: seconds to wait; negative = forever
    int64_t priority;           //  --priority; default 0
    double task_timeout;        //  --task-timeout: seconds the task may run; 0 = no limit
    int64_t max_retries;        //  --max-retries; -1 = the broker's default
    const char *retry_on[CLI_MAX_RETRY_ON]; //  --retry-on TYPE (borrowed from argv)
    size_t nretry_on;
    bool unordered;             //  map --unordered
    size_t chunksize;           //  map --chunksize; default 1
    bool json;                  //  workers, queues --json: for scripts
    bool wait;                  //  retry --wait: wait for the new outcome
    bool prometheus;            //  stats --format prometheus: the metrics page
    const char *curve_secret;   //  --curve-secret FILE: our certificate, or NULL
    const char *broker_key;     //  --broker-key FILE: the broker's public one, or NULL
    const char *keygen_name;    //  keygen NAME: the file name stem; borrowed
    char error[256];            //  the usage error when parsing failed
} cli_args_t;

//  Parse argv (argv[0] is the program). env_broker is $ZJOB_BROKER (may
//  be NULL); --broker wins over it. Returns false with self->error set
//  on a usage error. Call cli_args_fini afterwards in both cases.
bool cli_args_parse (cli_args_t *self, int argc, char **argv, const char *env_broker);
//  Free what parsing allocated.
void cli_args_fini (cli_args_t *self);

//  "run", "map", ...; "" for CLI_NONE.
const char *cli_cmd_name (cli_cmd_t cmd);
//  The one-line usage of cmd (the general one for CLI_NONE/CLI_HELP).
const char *cli_usage_line (cli_cmd_t cmd);
//  The full --help text of cmd (the general one for CLI_NONE/CLI_HELP).
const char *cli_help (cli_cmd_t cmd);
//  The exit code for a call's error code.
int cli_exit_code (zj_err_t err);

//  True when the line holds only whitespace (map skips it).
bool cli_line_blank (const char *line, size_t len);
//  Append the msgpack argument array for one map input line (NUL-
//  terminated, without its newline): a JSON array is the argument list,
//  any other JSON value or bare text is the single argument.
void cli_line_to_args (zj_enc_t *enc, const char *line);
