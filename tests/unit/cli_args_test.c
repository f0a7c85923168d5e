// SPDX-License-Identifier: MIT
//  cli_args_test - the zjob command line: commands, options anywhere,
//  negative numbers as ARGs, usage errors, exit codes, map input lines.
#include "harness.h"
#include "cli_args.h"
#include "msg.h"

#define ARGV(...) ((char *[]) {"zjob", __VA_ARGS__, NULL})
#define ARGC(...) ((int) (sizeof ((char *[]) {"zjob", __VA_ARGS__}) / sizeof (char *)))
#define PARSE(a, env, ...) cli_args_parse (a, ARGC (__VA_ARGS__), ARGV (__VA_ARGS__), env)

static void test_run (void)
{
    cli_args_t a;
    ASSERT_TRUE (PARSE (&a, NULL, "run", "echo", "1", "-2", "x y", "--timeout", "2.5",
                        "--priority=-3", "--task-timeout", "0"));
    ASSERT_EQ (a.cmd, CLI_RUN);
    ASSERT_STREQ (a.fn, "echo");
    ASSERT_EQ (a.nargs, 3);
    ASSERT_STREQ (a.args[0], "1");
    ASSERT_STREQ (a.args[1], "-2");     //  a negative number is an ARG
    ASSERT_STREQ (a.args[2], "x y");
    ASSERT_TRUE (a.timeout == 2.5);
    ASSERT_EQ (a.priority, -3);
    ASSERT_TRUE (a.task_timeout == 0);
    ASSERT_STREQ (a.broker, CLI_DEFAULT_BROKER);
    ASSERT_TRUE (a.connect_timeout == 5);
    ASSERT_TRUE (a.reconnect_timeout == 60);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "result", "t", "--reconnect-timeout", "2.5"));
    ASSERT_TRUE (a.reconnect_timeout == 2.5);
    cli_args_fini (&a);

    //  Global options before the command, env broker, -- for dashed ARGs.
    ASSERT_TRUE (PARSE (&a, "tcp://env:1", "--connect-timeout", "0.5", "run", "f", "--",
                        "--not-an-option", "-x"));
    ASSERT_STREQ (a.broker, "tcp://env:1");
    ASSERT_TRUE (a.connect_timeout == 0.5);
    ASSERT_EQ (a.nargs, 2);
    ASSERT_STREQ (a.args[0], "--not-an-option");
    ASSERT_STREQ (a.args[1], "-x");
    ASSERT_TRUE (a.timeout < 0);        //  default: wait forever
    cli_args_fini (&a);

    //  --broker wins over the environment.
    ASSERT_TRUE (PARSE (&a, "tcp://env:1", "submit", "f", "--broker", "tcp://flag:2"));
    ASSERT_EQ (a.cmd, CLI_SUBMIT);
    ASSERT_STREQ (a.broker, "tcp://flag:2");
    ASSERT_EQ (a.nargs, 0);
    cli_args_fini (&a);
}

static void test_other_commands (void)
{
    cli_args_t a;
    ASSERT_TRUE (PARSE (&a, NULL, "result", "abc-1", "--timeout", "0"));
    ASSERT_EQ (a.cmd, CLI_RESULT);
    ASSERT_STREQ (a.ticket, "abc-1");
    ASSERT_TRUE (a.timeout == 0);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "status", "t"));
    ASSERT_EQ (a.cmd, CLI_STATUS);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "cancel", "t"));
    ASSERT_EQ (a.cmd, CLI_CANCEL);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "retry", "t"));
    ASSERT_EQ (a.cmd, CLI_RETRY);
    ASSERT_STREQ (a.ticket, "t");
    ASSERT_TRUE (!a.wait);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "retry", "--wait", "t", "--timeout", "2.5"));
    ASSERT_TRUE (a.wait && a.timeout == 2.5);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "map", "f", "--unordered", "--chunksize", "50"));
    ASSERT_EQ (a.cmd, CLI_MAP);
    ASSERT_TRUE (a.unordered);
    ASSERT_EQ (a.chunksize, 50);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "stats"));
    ASSERT_EQ (a.cmd, CLI_STATS);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "workers"));
    ASSERT_EQ (a.cmd, CLI_WORKERS);
    ASSERT_TRUE (!a.json);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "--json", "queues"));
    ASSERT_EQ (a.cmd, CLI_QUEUES);
    ASSERT_TRUE (a.json);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "help", "map"));
    ASSERT_EQ (a.cmd, CLI_HELP);
    ASSERT_EQ (a.help_cmd, CLI_MAP);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "map", "--help"));
    ASSERT_TRUE (a.help);
    ASSERT_EQ (a.cmd, CLI_MAP);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "-h"));
    ASSERT_TRUE (a.help);
    ASSERT_EQ (a.cmd, CLI_NONE);
    cli_args_fini (&a);
    ASSERT_TRUE (PARSE (&a, NULL, "--version"));
    ASSERT_TRUE (a.version);
    cli_args_fini (&a);
}

static void s_expect_error (cli_args_t *a, bool ok, const char *fragment)
{
    ASSERT_TRUE (!ok);
    if (!strstr (a->error, fragment))
        ZT_FAIL ("error \"%s\" lacks \"%s\"", a->error, fragment);
    cli_args_fini (a);
}

static void test_usage_errors (void)
{
    cli_args_t a;
    s_expect_error (&a, PARSE (&a, NULL, "frobnicate"), "unknown command");
    s_expect_error (&a, PARSE (&a, NULL, "run"), "needs a function name");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "--bogus"), "unknown option '--bogus'");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "-x"), "unknown option '-x'");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "--timeout"), "needs a value");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "--timeout", "soon"), "number of seconds");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "--timeout", "-1"), "number of seconds");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "--priority", "1.5"), "whole number");
    s_expect_error (&a, PARSE (&a, NULL, "submit", "f", "--timeout", "1"), "takes no --timeout");
    s_expect_error (&a, PARSE (&a, NULL, "status"), "exactly one TICKET");
    s_expect_error (&a, PARSE (&a, NULL, "cancel", "a", "b"), "exactly one TICKET");
    s_expect_error (&a, PARSE (&a, NULL, "retry"), "exactly one TICKET");
    s_expect_error (&a, PARSE (&a, NULL, "retry", "t", "--timeout", "1"), "with --wait");
    s_expect_error (&a, PARSE (&a, NULL, "result", "t", "--wait"), "takes no --wait");
    s_expect_error (&a, PARSE (&a, NULL, "map", "f", "--chunksize", "0"), "at least 1");
    s_expect_error (&a, PARSE (&a, NULL, "map", "f", "1"), "from stdin");
    s_expect_error (&a, PARSE (&a, NULL, "stats", "x"), "no operands");
    s_expect_error (&a, PARSE (&a, NULL, "workers", "x"), "zjob workers takes no operands");
    s_expect_error (&a, PARSE (&a, NULL, "run", "f", "--json"), "takes no --json");
    s_expect_error (&a, PARSE (&a, NULL, "--connect-timeout", "0", "stats"), "above 0");
    s_expect_error (&a, PARSE (&a, NULL, "--reconnect-timeout", "x", "run", "f"), "seconds");
    s_expect_error (&a, PARSE (&a, NULL, "--unordered=1", "map", "f"), "takes no value");
    s_expect_error (&a, PARSE (&a, NULL, "help", "nope"), "not a zjob command");
}

static void test_help_and_codes (void)
{
    ASSERT_TRUE (strstr (cli_help (CLI_NONE), "Exit codes:"));
    ASSERT_TRUE (strstr (cli_help (CLI_MAP), "--chunksize N"));
    ASSERT_TRUE (strstr (cli_help (CLI_MAP), "Exit codes:"));
    ASSERT_TRUE (strstr (cli_help (CLI_RUN), "--task-timeout SEC"));
    ASSERT_TRUE (strstr (cli_usage_line (CLI_CANCEL), "zjob cancel TICKET"));
    ASSERT_TRUE (strstr (cli_help (CLI_RETRY), "--wait"));
    ASSERT_TRUE (strstr (cli_help (CLI_NONE), "  retry TICKET"));
    ASSERT_TRUE (strstr (cli_help (CLI_WORKERS), "LAST SEEN"));
    ASSERT_TRUE (strstr (cli_help (CLI_QUEUES), "--json"));
    ASSERT_TRUE (strstr (cli_help (CLI_NONE), "  workers "));
    ASSERT_EQ (cli_exit_code (ZJ_OK), 0);
    ASSERT_EQ (cli_exit_code (ZJ_ETASK), 1);
    ASSERT_EQ (cli_exit_code (ZJ_ETIMEDOUT), 3);
    ASSERT_EQ (cli_exit_code (ZJ_EUNREACHABLE), 4);
    ASSERT_EQ (cli_exit_code (ZJ_EBROKERLOST), 4);
    ASSERT_EQ (cli_exit_code (ZJ_ECANCELLED), 5);
    ASSERT_EQ (cli_exit_code (ZJ_ENOTICKET), 6);
    ASSERT_EQ (cli_exit_code (ZJ_EEXPIRED), 6);
    ASSERT_EQ (cli_exit_code (ZJ_EQUEUEFULL), 7);
    ASSERT_EQ (cli_exit_code (ZJ_ETOOLARGE), 7);
    ASSERT_EQ (cli_exit_code (ZJ_ESHUTDOWN), 7);
    ASSERT_EQ (cli_exit_code (ZJ_EPROTO), 7);
    ASSERT_EQ (cli_exit_code (ZJ_ETOOLATE), 8);
}

static void s_expect_args (const char *line, const uint8_t *want, size_t len)
{
    zj_enc_t *enc = zj_enc_new ();
    cli_line_to_args (enc, line);
    if (zj_enc_size (enc) != len || memcmp (zj_enc_data (enc), want, len) != 0)
        ZT_FAIL ("line \"%s\": %zu bytes, expected %zu", line, zj_enc_size (enc), len);
    zj_enc_destroy (&enc);
}

static void test_map_lines (void)
{
    s_expect_args ("[1, \"a\"]", (const uint8_t *) "\x92\x01\xa1" "a", 4);    //  the list
    s_expect_args ("  [2]", (const uint8_t *) "\x91\x02", 2);
    s_expect_args ("7", (const uint8_t *) "\x91\x07", 2);                  //  one JSON value
    s_expect_args ("{\"k\":1}", (const uint8_t *) "\x91\x81\xa1k\x01", 5);
    s_expect_args ("hello world", (const uint8_t *) "\x91\xabhello world", 13);   //  bare text
    s_expect_args ("[oops", (const uint8_t *) "\x91\xa5[oops", 7);           //  not JSON: text
    ASSERT_TRUE (cli_line_blank ("", 0));
    ASSERT_TRUE (cli_line_blank (" \t\r", 3));
    ASSERT_TRUE (!cli_line_blank (" x", 2));
}

int main (void)
{
    ZT_RUN (test_run);
    ZT_RUN (test_other_commands);
    ZT_RUN (test_usage_errors);
    ZT_RUN (test_help_and_codes);
    ZT_RUN (test_map_lines);
    return 0;
}
