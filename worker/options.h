// SPDX-License-Identifier: MIT
//  options - the zjob-worker command line: flags, defaults, validation
//  and the usage text. No I/O besides reading the environment for
//  defaults, so every rule is unit-testable.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "curvekeys.h"
#include "log.h"

//  Most task processes one worker process starts for --serve.
#define OPTIONS_MAX_SERVE_SLOTS 1024

//  One exec handler from --exec NAME=COMMAND.
typedef struct {
    char *name;                 //  function name; owned
    const char *command;        //  shell command; borrowed from argv
} options_exec_t;

typedef struct {
    const char *broker;         //  endpoint; borrowed from argv or the environment
    options_exec_t *execs;      //  exec handlers in flag order; owned
    size_t exec_count;          //  entries in execs
    const char *serve;          //  --serve COMMAND, or NULL; borrowed from argv
    uint32_t procs;             //  worker processes (1 = no supervisor)
    uint32_t concurrency;       //  tasks run at once per process
    uint32_t prefetch;          //  extra tasks held per process
    const char *name;           //  worker name sent in READY; borrowed, or NULL
    double heartbeat;           //  seconds between heartbeats
    uint32_t liveness;          //  silent heartbeats before the broker counts as lost
    double drain_timeout;       //  seconds running tasks may take to finish on SIGTERM
    size_t max_frame;           //  largest frame accepted from the broker
    log_level_t log_level;      //  least severe level printed
    const char *curve_secret_file;  //  --curve-secret FILE, or NULL; borrowed
    const char *broker_key_file;    //  --broker-key FILE, or NULL; borrowed
    bool curve;                 //  both given and read: the keys below are set
    curvekeys_t keys;           //  ours and the broker's
} options_t;

typedef enum {
    OPTIONS_RUN,                //  options are valid: run
    OPTIONS_HELP,               //  --help was given
    OPTIONS_VERSION,            //  --version was given
    OPTIONS_USAGE,              //  bad command line; `why` says what to fix
} options_action_t;

//  Parse argv (argv[0] is the program). Fills *self, which must be freed
//  with options_clear whatever the result. On OPTIONS_USAGE, `why` gets
//  a one-line message that names the flag and what to do.
options_action_t options_parse (options_t *self, int argc, char **argv,
                                char *why, size_t why_size);
//  Free what options_parse allocated; leaves *self zeroed.
void options_clear (options_t *self);

//  Split "NAME=COMMAND". On success *name_p is a new string (caller frees
//  with free()) and *command_p points into arg. False with `why` filled
//  when NAME is not 1..128 printable ASCII characters without '=' or
//  COMMAND is empty.
bool options_parse_exec (const char *arg, char **name_p, const char **command_p,
                         char *why, size_t why_size);

//  The exec handler named `name` (len bytes), or NULL.
const options_exec_t *options_find_exec (const options_t *self, const char *name, size_t len);

//  Print the usage text.
void options_usage (FILE *out);
