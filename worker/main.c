// SPDX-License-Identifier: MIT
//  zjob-worker - entry point: flags, logging, and the choice between one
//  in-process worker, a supervisor of --procs N workers, or (when started
//  by that supervisor) one supervised worker. The only place that exits.
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "conffile.h"
#include "exec.h"
#include "log.h"
#include "options.h"
#include "session.h"
#include "supervisor.h"
#include "zj_config.h"

//  This program's path, for running itself as a supervised worker or an
//  exec guard. The file it names is what runs; when it was deleted (an
//  upgrade in place), /proc/self/exe still reaches the running binary.
static void
s_self_exe (char *path, size_t size)
{
    ssize_t n = readlink ("/proc/self/exe", path, size - 1);
    if (n > 0) {
        path[n] = 0;
        if (access (path, X_OK) == 0)
            return;
    }
    snprintf (path, size, "/proc/self/exe");
}

//  Config file keys: every flag but --config, --help and --version.
//  A flag added to options.c needs its key here too.
static const conffile_key_t s_conf_keys[] = {
    {"broker", false}, {"exec", true}, {"serve", false}, {"procs", false}, {"concurrency", false},
    {"prefetch", false}, {"name", false}, {"heartbeat", false}, {"liveness", false},
    {"max-frame", false}, {"log-level", false}, {"curve-secret", false}, {"broker-key", false},
    {"drain-timeout", false},
};

//  conffile_check_fn: one config entry, parsed alone.
static bool
s_check_entry (void *arg, const char *entry, char *why, size_t why_len)
{
    options_t scratch;
    char *one[] = {(char *) "zjob-worker", (char *) entry, NULL};
    bool ok = options_parse (&scratch, 2, one, why, why_len) == OPTIONS_RUN;
    options_clear (&scratch);
    return ok;
}

int
main (int argc, char **argv)
{
    //  Hidden mode: this process guards one exec command (see exec.h).
    if (argc == 4 && strcmp (argv[1], "--exec-guard") == 0)
        return exec_guard_main (argv[2], argv[3]);

    //  Writing arguments to a command that exited must give EPIPE, not
    //  kill the worker. (libuv resets signals in the children it spawns.)
    signal (SIGPIPE, SIG_IGN);

    int child = -1, parent = 0;
    const char *marker = getenv (SUPERVISOR_CHILD_ENV);
    if (marker) {
        if (!supervisor_parse_marker (marker, &child, &parent))
            child = -1;
        //  Exec handlers started from here must not look like workers.
        unsetenv (SUPERVISOR_CHILD_ENV);
    }

    //  The file's settings go first, so that flags given after them win.
    //  Supervised children get the merged flags, not --config.
    conffile_t *file = NULL;
    if (conffile_apply ("zjob-worker", s_conf_keys, sizeof s_conf_keys / sizeof s_conf_keys[0],
                        &argc, &argv, s_check_entry, NULL, &file) == 2)
        return 2;
    options_t options;
    char why[512] = "";
    char self_exe[PATH_MAX];
    options_action_t action = options_parse (&options, argc, argv, why, sizeof why);
    int code = 0;
    switch (action) {
        case OPTIONS_HELP:
            options_usage (stdout);
            break;
        case OPTIONS_VERSION:
            printf ("zjob-worker %s\n", ZJ_VERSION);
            break;
        case OPTIONS_USAGE:
            fprintf (stderr, "zjob-worker: %s\n", why);
            code = 2;
            break;
        case OPTIONS_RUN:
            log_init ("zjob-worker", options.log_level);
            s_self_exe (self_exe, sizeof self_exe);
            if (child >= 0) {
                //  A supervised worker ends with its supervisor, even one
                //  killed with SIGKILL.
                prctl (PR_SET_PDEATHSIG, SIGTERM);
                if (getppid () != parent) {
                    log_error ("supervisor gone before start", "proc=%d", child);
                    code = 1;
                }
                else
                    code = session_run (&options, child, self_exe);
            }
            else
            if (!session_check_endpoint (options.broker, why, sizeof why)) {
                fprintf (stderr, "zjob-worker: %s\n", why);
                code = 2;
            }
            else
            if (options.procs > 1)
                code = supervisor_run (&options, self_exe, argv);
            else
                code = session_run (&options, 0, self_exe);
            break;
    }
    options_clear (&options);
    conffile_destroy (&file);
    return code;
}
