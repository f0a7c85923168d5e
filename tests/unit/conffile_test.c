// SPDX-License-Identifier: MIT
//  conffile_test - ZPL config files into --key=value entries: keys,
//  sections, line numbers in errors, and merging with the command line.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "conffile.h"

static const conffile_key_t s_keys[] = {
    {"clients", false},
    {"retention", false},
    {"log-level", false},
    {"exec", true},
};
#define NKEYS (sizeof s_keys / sizeof s_keys[0])

static char s_path[64];

static void
s_write (const char *text)
{
    snprintf (s_path, sizeof s_path, "/tmp/conffile_test.XXXXXX");
    int fd = mkstemp (s_path);
    ASSERT_TRUE (fd >= 0);
    ASSERT_EQ (write (fd, text, strlen (text)), (long long) strlen (text));
    close (fd);
}

//  Load text; returns the conffile or NULL with why and line filled.
static conffile_t *
s_load (const char *text, char *why, size_t why_len, int *line)
{
    s_write (text);
    conffile_t *cf = conffile_load (s_path, s_keys, NKEYS, why, why_len, line);
    unlink (s_path);
    return cf;
}

static void
test_values_and_sections (void)
{
    char why[512];
    int line;
    conffile_t *cf = s_load ("# zjobd\n"
                             "\n"
                             "clients = tcp://127.0.0.1:5555   # inline comment\n"
                             "retention=60\n"
                             "exec\n"
                             "    # the handlers\n"
                             "    resize = \"python3 resize.py --size '10 x 10'\"\n"
                             "    hash = 'sha256sum # not a comment'\n"
                             "exec = upper=tr a-z A-Z\n"
                             "log-level = debug\n",
                             why, sizeof why, &line);
    if (!cf)
        ZT_FAIL ("load failed: line %d: %s", line, why);
    ASSERT_EQ (conffile_size (cf), 6);
    ASSERT_STREQ (conffile_entry (cf, 0), "--clients=tcp://127.0.0.1:5555");
    ASSERT_EQ (conffile_line (cf, 0), 3);
    ASSERT_STREQ (conffile_entry (cf, 1), "--retention=60");
    ASSERT_EQ (conffile_line (cf, 1), 4);
    ASSERT_STREQ (conffile_entry (cf, 2), "--exec=resize=python3 resize.py --size '10 x 10'");
    ASSERT_EQ (conffile_line (cf, 2), 7);
    ASSERT_STREQ (conffile_entry (cf, 3), "--exec=hash=sha256sum # not a comment");
    ASSERT_EQ (conffile_line (cf, 3), 8);
    ASSERT_STREQ (conffile_entry (cf, 4), "--exec=upper=tr a-z A-Z");
    ASSERT_EQ (conffile_line (cf, 4), 9);
    ASSERT_STREQ (conffile_entry (cf, 5), "--log-level=debug");
    ASSERT_EQ (conffile_line (cf, 5), 10);
    ASSERT_TRUE (conffile_entry (cf, 6) == NULL);
    conffile_destroy (&cf);
    conffile_destroy (&cf);
    ASSERT_TRUE (cf == NULL);
}

//  Each bad file: the line reported and a word the reason must hold.
static void
test_errors (void)
{
    struct {
        const char *text;
        int line;
        const char *says;
    } cases[] = {
        {"clients = a\nbogus = 1\n", 2, "unknown key 'bogus'"},
        {"clients = a\n\n# c\nretention = 1 2\nretention = 3\n", 5, "set twice (first on line 4)"},
        {"clients = a\nretention = \"1\" junk\n", 2, "syntax error: invalid syntax"},
        {"clients = a\n  retention = 1\n", 2, "syntax error: indent 4 spaces"},
        {"clients = a\nretention = \"1\n", 2, "syntax error: missing \""},
        {"clients = a\n        retention = 1\n", 2, "syntax error: indentation error"},
        {"clients\n    x = 1\n", 1, "takes a value, not a section"},
        {"retention =\n", 1, "has no value"},
        {"exec\n    a = 1\n    b = 2\n    a = 3\n", 4, "given twice in section 'exec' (first on line 2)"},
        {"exec\n    a\n", 2, "'exec/a' has no value"},
        {"exec\n    a = 1\n        b = 2\n", 3, "nested too deeply"},
        {"exec = a=1\n    b = 2\n", 1, "has a value too"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[512] = "";
        int line = -1;
        conffile_t *cf = s_load (cases[i].text, why, sizeof why, &line);
        if (cf)
            ZT_FAIL ("case %zu: loaded a bad file", i);
        if (line != cases[i].line || !strstr (why, cases[i].says))
            ZT_FAIL ("case %zu: got line %d \"%s\", expected line %d \"%s\"", i, line, why,
                     cases[i].line, cases[i].says);
    }
    //  A line zconfig would cut short.
    char long_text[1100 + 32];
    memset (long_text, 'x', 1100);
    memcpy (long_text, "clients = ", 10);
    strcpy (long_text + 1100, "\n");
    char why[512];
    int line;
    ASSERT_TRUE (s_load (long_text, why, sizeof why, &line) == NULL);
    ASSERT_EQ (line, 1);
    ASSERT_TRUE (strstr (why, "over 1024 bytes") != NULL);
    //  Missing file: no line, the errno text.
    ASSERT_TRUE (conffile_load ("/nonexistent/zjob.conf", s_keys, NKEYS, why, sizeof why, &line) == NULL);
    ASSERT_EQ (line, 0);
    ASSERT_TRUE (strstr (why, "No such file") != NULL);
}

static void
test_flag (void)
{
    bool missing;
    char *a1[] = {"p", "--retention", "5", "--config", "a.conf", "--config=b.conf", NULL};
    ASSERT_STREQ (conffile_flag (6, a1, &missing), "b.conf");
    ASSERT_TRUE (!missing);
    char *a2[] = {"p", "--config", NULL};
    ASSERT_TRUE (conffile_flag (2, a2, &missing) == NULL);
    ASSERT_TRUE (missing);
    char *a3[] = {"p", "--", "--config", "x", NULL};
    ASSERT_TRUE (conffile_flag (4, a3, &missing) == NULL);
    ASSERT_TRUE (!missing);
}

static void
test_argv (void)
{
    char why[512];
    int line;
    conffile_t *cf = s_load ("retention = 60\nexec\n    a = cmd-a\n    b = cmd-b\nexec = c=cmd-c\n",
                             why, sizeof why, &line);
    ASSERT_TRUE (cf != NULL);
    //  The command line gives exec b and c again (both forms): the
    //  file's b and c give way; a stays; retention is simply overridden
    //  by coming later.
    char *argv[] = {"prog", "--config", "x.conf", "--exec", "b=mine", "--retention=5",
                    "--exec=c=mine", NULL};
    int argc = 0;
    char **out = conffile_argv (cf, 7, argv, &argc);
    ASSERT_TRUE (out != NULL);
    const char *want[] = {"prog", "--retention=60", "--exec=a=cmd-a", "--exec", "b=mine",
                          "--retention=5", "--exec=c=mine"};
    ASSERT_EQ (argc, 7);
    for (int i = 0; i < argc; i++)
        ASSERT_STREQ (out[i], want[i]);
    ASSERT_TRUE (out[argc] == NULL);
    conffile_destroy (&cf);
}

static bool
s_check (void *arg, const char *entry, char *why, size_t why_len)
{
    int *calls = arg;
    (*calls)++;
    if (strcmp (entry, "--retention=never") == 0) {
        snprintf (why, why_len, "--retention needs a number, got 'never'");
        return false;
    }
    return true;
}

static void
test_apply (void)
{
    s_write ("clients = tcp://x:1\nretention = 7\n");
    char *argv[] = {"prog", "--config", s_path, "--log-level", "debug", NULL};
    int argc = 5;
    char **av = argv;
    conffile_t *file = NULL;
    int calls = 0;
    ASSERT_EQ (conffile_apply ("prog", s_keys, NKEYS, &argc, &av, s_check, &calls, &file), 1);
    ASSERT_EQ (calls, 2);
    ASSERT_EQ (argc, 5);
    ASSERT_STREQ (av[1], "--clients=tcp://x:1");
    ASSERT_STREQ (av[3], "--log-level");
    conffile_destroy (&file);
    unlink (s_path);

    //  A value the daemon's parser refuses: exit status 2.
    s_write ("clients = a\n\nretention = never\n");
    argv[2] = s_path;
    argc = 5;
    av = argv;
    calls = 0;
    ASSERT_EQ (conffile_apply ("prog", s_keys, NKEYS, &argc, &av, s_check, &calls, &file), 2);
    ASSERT_TRUE (file == NULL);
    ASSERT_TRUE (av == argv);
    unlink (s_path);

    //  No --config: nothing changes.
    char *plain[] = {"prog", "--retention", "1", NULL};
    argc = 3;
    av = plain;
    ASSERT_EQ (conffile_apply ("prog", s_keys, NKEYS, &argc, &av, s_check, &calls, &file), 0);
    ASSERT_TRUE (av == plain);
}

int
main (void)
{
    ZT_RUN (test_values_and_sections);
    ZT_RUN (test_errors);
    ZT_RUN (test_flag);
    ZT_RUN (test_argv);
    ZT_RUN (test_apply);
    return 0;
}
