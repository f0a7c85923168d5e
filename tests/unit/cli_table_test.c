// SPDX-License-Identifier: MIT
//  cli_table_test - the `zjob workers` and `zjob queues` tables from STATS
//  maps: alignment, sorting, missing and extra keys, ages, empty lists.
#include <jansson.h>
#include "harness.h"
#include "cli_table.h"

static json_t *s_load (const char *text)
{
    json_error_t jerr;
    json_t *json = json_loads (text, 0, &jerr);
    if (!json)
        ZT_FAIL ("bad fixture at line %d: %s", jerr.line, jerr.text);
    return json;
}

static void test_age (void)
{
    char buf[32];
    ASSERT_STREQ (cli_table_age (0, buf, sizeof buf), "0.0s");
    ASSERT_STREQ (cli_table_age (0.34, buf, sizeof buf), "0.3s");
    ASSERT_STREQ (cli_table_age (12.7, buf, sizeof buf), "12s");
    ASSERT_STREQ (cli_table_age (185, buf, sizeof buf), "3m05s");
    ASSERT_STREQ (cli_table_age (7380, buf, sizeof buf), "2h03m");
    ASSERT_STREQ (cli_table_age (4 * 86400 + 7 * 3600 + 5, buf, sizeof buf), "4d07h");
    ASSERT_STREQ (cli_table_age (-1, buf, sizeof buf), "-");
}

static void test_workers (void)
{
    //  As zjobd sends it, plus an unknown key and a worker missing some.
    json_t *stats = s_load (
        "{\"version\": \"0.1.0\", \"workers\": ["
        " {\"id\": \"b1ecc647bdc14fd04ac2508506683195\", \"name\": \"w2\", \"host\": \"vm\","
        "  \"pid\": 1445, \"functions\": [\"echo\", \"sleep\"], \"credit\": 2,"
        "  \"running\": 2, \"last_seen\": 0.25, \"future_key\": [1]},"
        " {\"id\": \"8d54e469808e234396ef57a1ba2f1de3\", \"name\": \"w1\", \"host\": \"big-host\","
        "  \"pid\": 7, \"functions\": [\"alpha-function-one\", \"beta-function-two\","
        "  \"gamma-function-three\", \"delta\"], \"credit\": 16, \"running\": 0,"
        "  \"last_seen\": 75},"
        " {\"id\": \"00aa\", \"name\": \"\"},"
        " 42]}");
    char *text = cli_table_workers (stats);
    ASSERT_TRUE (text != NULL);
    fputs (text, stderr);
    const char *want =
        "ID            NAME  HOST       PID  FUNCTIONS                                "
        "CREDIT  RUNNING  LAST SEEN\n"
        "00aa          -     -            -  -                                             "
        "-        -          -\n"
        "8d54e469808e  w1    big-host     7  alpha-function-one,beta-function-two,+2      "
        "16        0      1m15s\n"
        "b1ecc647bdc1  w2    vm        1445  echo,sleep                                    "
        "2        2       0.2s\n";
    ASSERT_STREQ (text, want);
    free (text);
    //  No trailing blanks on any line when the last column is text.
    json_object_set_new (stats, "heartbeat", json_real (1.0));
    json_object_set_new (stats, "liveness", json_integer (5));
    text = cli_table_workers (stats);
    ASSERT_TRUE (strstr (text, "LAST SEEN  LIVENESS\n") != NULL);
    ASSERT_TRUE (strstr (text, "1m15s  late 75/5\n") != NULL);
    ASSERT_TRUE (strstr (text, "0.2s  ok\n") != NULL);
    ASSERT_TRUE (strstr (text, " \n") == NULL);
    free (text);
    json_decref (stats);

    //  The broker's own word wins.
    stats = s_load ("{\"workers\": [{\"id\": \"1\", \"liveness\": \"alive\"}]}");
    text = cli_table_workers (stats);
    ASSERT_TRUE (strstr (text, "alive\n") != NULL);
    free (text);
    json_decref (stats);

    stats = s_load ("{\"workers\": []}");
    text = cli_table_workers (stats);
    ASSERT_STREQ (text, "no workers are registered\n");
    free (text);
    json_decref (stats);
}

static void test_queues (void)
{
    json_t *stats = s_load (
        "{\"queues\": ["
        " {\"function\": \"sleep\", \"depth\": 3, \"oldest_age\": 0.314, \"running\": 4,"
        "  \"workers\": 2, \"priority_levels\": 1, \"submitted\": 7, \"completed\": 0,"
        "  \"failed\": 0, \"cancelled\": 0},"
        " {\"function\": \"echo\", \"depth\": 0, \"oldest_age\": 0.0, \"running\": 0,"
        "  \"workers\": 2, \"submitted\": 123456, \"completed\": 123456, \"failed\": 1,"
        "  \"cancelled\": 0},"
        " {\"function\": \"bare\"}]}");
    char *text = cli_table_queues (stats);
    ASSERT_TRUE (text != NULL);
    fputs (text, stderr);
    const char *want =
        "FUNCTION  DEPTH  RUNNING  WORKERS  OLDEST  SUBMITTED  COMPLETED  FAILED  CANCELLED\n"
        "bare          -        -        -       -          -          -       -          -\n"
        "echo          0        0        2       -     123456     123456       1          0\n"
        "sleep         3        4        2    0.3s          7          0       0          0\n";
    ASSERT_STREQ (text, want);
    free (text);
    json_decref (stats);

    stats = s_load ("{\"version\": \"x\"}");
    text = cli_table_queues (stats);
    ASSERT_STREQ (text, "no queues: no task was submitted and no worker registered\n");
    free (text);
    json_decref (stats);
}

int main (void)
{
    ZT_RUN (test_age);
    ZT_RUN (test_workers);
    ZT_RUN (test_queues);
    return 0;
}
