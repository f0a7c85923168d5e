// SPDX-License-Identifier: MIT
//  options_test - zjob-worker flags: --exec NAME=COMMAND, numbers,
//  defaults, both flag forms, and the messages for mistakes.
#include <stdlib.h>
#include "harness.h"
#include "options.h"

static char s_why[512];

static options_action_t
s_parse (options_t *o, const char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    s_why[0] = 0;
    return options_parse (o, argc, (char **) args, s_why, sizeof s_why);
}

static void
test_parse_exec (void)
{
    char *name;
    const char *command;
    ASSERT_TRUE (options_parse_exec ("resize=python3 resize.py --w=3", &name, &command,
                                     s_why, sizeof s_why));
    ASSERT_STREQ (name, "resize");
    ASSERT_STREQ (command, "python3 resize.py --w=3");
    free (name);
    ASSERT_TRUE (options_parse_exec ("a.b-c=  cat", &name, &command, s_why, sizeof s_why));
    ASSERT_STREQ (name, "a.b-c");
    ASSERT_STREQ (command, "cat");
    free (name);

    ASSERT_TRUE (!options_parse_exec ("noequals", &name, &command, s_why, sizeof s_why));
    ASSERT_TRUE (strstr (s_why, "expected NAME=COMMAND") != NULL);
    ASSERT_TRUE (!options_parse_exec ("=cat", &name, &command, s_why, sizeof s_why));
    ASSERT_TRUE (strstr (s_why, "NAME must be 1 to 128") != NULL);
    ASSERT_TRUE (!options_parse_exec ("name=", &name, &command, s_why, sizeof s_why));
    ASSERT_TRUE (strstr (s_why, "COMMAND after '=' is empty") != NULL);
    ASSERT_TRUE (!options_parse_exec ("my fn=cat", &name, &command, s_why, sizeof s_why));
    ASSERT_TRUE (strstr (s_why, "printable ASCII") != NULL);
    char longname[200];
    memset (longname, 'n', 129);
    strcpy (longname + 129, "=cat");
    ASSERT_TRUE (!options_parse_exec (longname, &name, &command, s_why, sizeof s_why));
}

static void
test_defaults (void)
{
    unsetenv ("ZJOB_WORKER_BROKER");
    options_t o;
    const char *args[] = {"zjob-worker", NULL};
    ASSERT_EQ (s_parse (&o, args), OPTIONS_RUN);
    ASSERT_STREQ (o.broker, "tcp://127.0.0.1:5556");
    ASSERT_EQ (o.procs, 1);
    ASSERT_EQ (o.concurrency, 1);
    ASSERT_EQ (o.prefetch, 0);
    ASSERT_EQ (o.liveness, 5);
    ASSERT_TRUE (o.heartbeat == 1.0);
    ASSERT_EQ (o.exec_count, 0);
    ASSERT_TRUE (o.name == NULL);
    ASSERT_EQ (o.log_level, LOG_LEVEL_INFO);
    options_clear (&o);

    setenv ("ZJOB_WORKER_BROKER", "tcp://10.0.0.1:7000", 1);
    ASSERT_EQ (s_parse (&o, args), OPTIONS_RUN);
    ASSERT_STREQ (o.broker, "tcp://10.0.0.1:7000");
    options_clear (&o);
    //  The flag wins over the environment.
    const char *args2[] = {"zjob-worker", "--broker", "ipc:///tmp/x", NULL};
    ASSERT_EQ (s_parse (&o, args2), OPTIONS_RUN);
    ASSERT_STREQ (o.broker, "ipc:///tmp/x");
    options_clear (&o);
    unsetenv ("ZJOB_WORKER_BROKER");
}

static void
test_all_flags (void)
{
    options_t o;
    const char *args[] = {"zjob-worker", "--exec", "add=python3 add.py", "--exec=txt=cat",
                          "--procs", "4", "--concurrency=8", "--prefetch", "2",
                          "--name", "gpu1", "--heartbeat", "0.25", "--liveness", "3",
                          "--max-frame", "1048576", "--log-level", "debug", NULL};
    ASSERT_EQ (s_parse (&o, args), OPTIONS_RUN);
    ASSERT_EQ (o.exec_count, 2);
    ASSERT_STREQ (o.execs[0].name, "add");
    ASSERT_STREQ (o.execs[0].command, "python3 add.py");
    ASSERT_STREQ (o.execs[1].name, "txt");
    ASSERT_STREQ (o.execs[1].command, "cat");
    ASSERT_TRUE (options_find_exec (&o, "txt", 3) == &o.execs[1]);
    ASSERT_TRUE (options_find_exec (&o, "tx", 2) == NULL);
    ASSERT_EQ (o.procs, 4);
    ASSERT_EQ (o.concurrency, 8);
    ASSERT_EQ (o.prefetch, 2);
    ASSERT_STREQ (o.name, "gpu1");
    ASSERT_TRUE (o.heartbeat == 0.25);
    ASSERT_EQ (o.liveness, 3);
    ASSERT_EQ (o.max_frame, 1048576);
    ASSERT_EQ (o.log_level, LOG_LEVEL_DEBUG);
    options_clear (&o);
    ASSERT_EQ (o.exec_count, 0);
    ASSERT_TRUE (o.execs == NULL);
}

static void
test_mistakes (void)
{
    options_t o;
    struct { const char *args[7]; options_action_t action; const char *why; } cases[] = {
        {{"w", "--help", NULL}, OPTIONS_HELP, ""},
        {{"w", "--version", NULL}, OPTIONS_VERSION, ""},
        {{"w", "--procs", "0", NULL}, OPTIONS_USAGE, "--procs '0': expected a whole number"},
        {{"w", "--procs", "2x", NULL}, OPTIONS_USAGE, "--procs '2x'"},
        {{"w", "--concurrency", "-1", NULL}, OPTIONS_USAGE, "--concurrency '-1'"},
        {{"w", "--heartbeat", "0", NULL}, OPTIONS_USAGE, "--heartbeat '0'"},
        {{"w", "--heartbeat", "nan", NULL}, OPTIONS_USAGE, "--heartbeat 'nan'"},
        {{"w", "--log-level", "loud", NULL}, OPTIONS_USAGE, "expected error, warn, info or debug"},
        {{"w", "--procs", NULL}, OPTIONS_USAGE, "--procs needs a value"},
        {{"w", "--frobnicate", NULL}, OPTIONS_USAGE, "unknown flag '--frobnicate'"},
        {{"w", "stray", NULL}, OPTIONS_USAGE, "unexpected argument 'stray'"},
        {{"w", "--broker", "localhost", NULL}, OPTIONS_USAGE, "expected an endpoint"},
        {{"w", "--exec", "a=cat", "--exec", "a=tac", NULL}, OPTIONS_USAGE, "given twice"},
        {{"w", "--exec", "nocommand", NULL}, OPTIONS_USAGE, "expected NAME=COMMAND"},
        {{"w", "--serve", "a", "--serve", "b", NULL}, OPTIONS_USAGE, "--serve is given twice"},
        {{"w", "--serve", "  ", NULL}, OPTIONS_USAGE, "--serve: COMMAND is empty"},
        {{"w", "--serve", "x", "--concurrency", "2000", NULL}, OPTIONS_USAGE,
         "would start 2000 task processes"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        options_action_t action = s_parse (&o, cases[i].args);
        if (action != cases[i].action || !strstr (s_why, cases[i].why))
            ZT_FAIL ("case %zu (%s %s): action %d why \"%s\"", i, cases[i].args[1],
                     cases[i].args[2] ? cases[i].args[2] : "", (int) action, s_why);
        options_clear (&o);
    }
}

static void
test_serve (void)
{
    options_t o;
    const char *none[] = {"w", NULL};
    ASSERT_EQ (s_parse (&o, none), OPTIONS_RUN);
    ASSERT_TRUE (o.serve == NULL);
    options_clear (&o);
    const char *args[] = {"w", "--serve", " python3 -m zjob.serve mod", "--concurrency", "4", NULL};
    ASSERT_EQ (s_parse (&o, args), OPTIONS_RUN);
    ASSERT_STREQ (o.serve, "python3 -m zjob.serve mod");
    ASSERT_EQ (o.concurrency, 4);
    options_clear (&o);
    const char *eq[] = {"w", "--serve=cat", NULL};
    ASSERT_EQ (s_parse (&o, eq), OPTIONS_RUN);
    ASSERT_STREQ (o.serve, "cat");
    options_clear (&o);
}

int
main (void)
{
    ZT_RUN (test_parse_exec);
    ZT_RUN (test_defaults);
    ZT_RUN (test_all_flags);
    ZT_RUN (test_mistakes);
    ZT_RUN (test_serve);
    return 0;
}
