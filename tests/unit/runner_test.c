// SPDX-License-Identifier: MIT
//  runner_test - task lifecycle on a real libuv loop: built-ins finish at
//  once, sleeps overlap up to `concurrency`, the rest waits in FIFO order;
//  chunks, timeouts, aborts, giving back held tasks, unknown functions.
#include <signal.h>
#include <stdlib.h>
#include "harness.h"
#include "json.h"
#include "msg.h"
#include "runner.h"

#define S_MAX 32

typedef struct {
    int count;                  //  outcomes so far
    char ticket[S_MAX][16];     //  in arrival order
    bool ok[S_MAX];
    char *text[S_MAX];          //  ok: value as JSON; failed: "Type: message"
} s_log_t;

static void
s_on_done (zj_str_t ticket, const outcome_t *out, void *arg)
{
    s_log_t *log = arg;
    ASSERT_TRUE (log->count < S_MAX);
    int i = log->count++;
    snprintf (log->ticket[i], sizeof log->ticket[i], "%.*s", (int) ticket.len, ticket.ptr);
    log->ok[i] = out->ok;
    if (out->ok)
        log->text[i] = zj_json_from_msgpack (out->value.ptr, out->value.len, NULL);
    else {
        char buf[512];
        snprintf (buf, sizeof buf, "%.*s: %.*s", (int) out->err_type.len, out->err_type.ptr,
                  (int) out->err_message.len, out->err_message.ptr);
        log->text[i] = strdup (buf);
    }
}

static void
s_log_clear (s_log_t *log)
{
    for (int i = 0; i < log->count; i++)
        free (log->text[i]);
    memset (log, 0, sizeof *log);
}

//  Index of `ticket` in the log, or -1.
static int
s_find (s_log_t *log, const char *ticket)
{
    for (int i = 0; i < log->count; i++)
        if (strcmp (log->ticket[i], ticket) == 0)
            return i;
    return -1;
}

static void
s_submit (runner_t *runner, const char *ticket, const char *fn, const char *args_json,
          double timeout, bool chunk)
{
    zj_enc_t *enc = zj_enc_new ();
    ASSERT_ERR (zj_json_to_msgpack (enc, args_json, strlen (args_json)), ZJ_OK);
    zj_job_t job = {
        .ticket = {ticket, strlen (ticket)},
        .fn = {fn, strlen (fn)},
        .args = {zj_enc_data (enc), zj_enc_size (enc)},
        .timeout = timeout,
        .chunk = chunk,
    };
    ASSERT_ERR (runner_submit (runner, &job), ZJ_OK);
    zj_enc_destroy (&enc);      //  the runner copied what it needs
}

static options_t s_options;

static void
s_setup (uv_loop_t *loop, uint32_t concurrency)
{
    memset (&s_options, 0, sizeof s_options);
    s_options.concurrency = concurrency;
    s_options.max_frame = ZJ_MAX_FRAME_DEFAULT;
    static options_exec_t execs[] = {
        {"upper", "tr a-z A-Z"},
        {"echo", "echo replaced"},  //  an exec handler replaces a built-in
        {"boom", "echo 'ZeroDivisionError: division by zero' >&2; exit 1"},
    };
    s_options.execs = execs;
    s_options.exec_count = 3;
    uv_loop_init (loop);
}

static void
s_teardown (uv_loop_t *loop, runner_t **runner)
{
    runner_destroy (runner);
    uv_run (loop, UV_RUN_DEFAULT);
    ASSERT_EQ (uv_loop_close (loop), 0);
}

static void
test_functions (void)
{
    uv_loop_t loop;
    s_setup (&loop, 1);
    s_log_t log = {0};
    runner_t *runner = runner_new (&loop, &s_options, NULL, s_on_done, &log);
    size_t count;
    const char *const *fns = runner_functions (runner, &count);
    ASSERT_EQ (count, 6);
    ASSERT_STREQ (fns[0], "sleep");
    ASSERT_STREQ (fns[1], "fail");
    ASSERT_STREQ (fns[2], "noop");
    ASSERT_STREQ (fns[3], "upper");
    ASSERT_STREQ (fns[4], "echo");
    ASSERT_STREQ (fns[5], "boom");
    s_teardown (&loop, &runner);
}

static void
test_builtins_and_fifo (void)
{
    uv_loop_t loop;
    s_setup (&loop, 1);
    s_log_t log = {0};
    runner_t *runner = runner_new (&loop, &s_options, NULL, s_on_done, &log);
    //  Built-ins finish inside submit when a slot is free.
    s_submit (runner, "n1", "noop", "[]", 0, false);
    ASSERT_EQ (log.count, 1);
    ASSERT_STREQ (log.text[0], "null");
    s_submit (runner, "f1", "fail", "[\"KeyError\", \"k\"]", 0, false);
    ASSERT_STREQ (log.text[1], "KeyError: k");
    s_submit (runner, "u1", "nosuchfn", "[]", 0, false);
    ASSERT_STREQ (log.text[2], "UnknownFunction: function 'nosuchfn' is not served by this worker");
    //  One slot: a sleep holds it, the rest wait in order.
    s_submit (runner, "s1", "sleep", "[0.05, \"a\"]", 0, false);
    s_submit (runner, "s2", "sleep", "[0.01, \"b\"]", 0, false);
    s_submit (runner, "n2", "noop", "[]", 0, false);
    ASSERT_EQ (log.count, 3);
    ASSERT_EQ (runner_running (runner), 1);
    ASSERT_EQ (runner_held (runner), 2);
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (log.count, 6);
    ASSERT_STREQ (log.ticket[3], "s1");
    ASSERT_STREQ (log.text[3], "\"a\"");
    ASSERT_STREQ (log.ticket[4], "s2");
    ASSERT_STREQ (log.ticket[5], "n2");
    ASSERT_EQ (runner_running (runner), 0);
    s_log_clear (&log);
    s_teardown (&loop, &runner);
}

static void
test_concurrency (void)
{
    uv_loop_t loop;
    s_setup (&loop, 3);
    s_log_t log = {0};
    runner_t *runner = runner_new (&loop, &s_options, NULL, s_on_done, &log);
    //  Three slots: the short sleep started last finishes first.
    s_submit (runner, "a", "sleep", "[0.2]", 0, false);
    s_submit (runner, "b", "sleep", "[0.2]", 0, false);
    s_submit (runner, "c", "sleep", "[0.01]", 0, false);
    s_submit (runner, "d", "sleep", "[0.01]", 0, false);
    ASSERT_EQ (runner_running (runner), 3);
    ASSERT_EQ (runner_held (runner), 1);
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (log.count, 4);
    ASSERT_STREQ (log.ticket[0], "c");
    ASSERT_STREQ (log.ticket[1], "d");
    s_log_clear (&log);
    s_teardown (&loop, &runner);
}

static void
test_exec_and_chunks (void)
{
    uv_loop_t loop;
    s_setup (&loop, 2);
    s_log_t log = {0};
    runner_t *runner = runner_new (&loop, &s_options, NULL, s_on_done, &log);
    s_submit (runner, "e1", "upper", "[\"abc\"]", 0, false);
    s_submit (runner, "e2", "echo", "[1]", 0, false);
    s_submit (runner, "k1", "upper", "[[\"x\"], [\"y\", 2]]", 0, true);
    s_submit (runner, "k2", "sleep", "[[0.01, \"p\"], [\"bad\"], [0]]", 0, true);
    s_submit (runner, "k3", "boom", "[[1], [2]]", 0, true);
    s_submit (runner, "k4", "noop", "[]", 0, true);
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (log.count, 6);
    ASSERT_STREQ (log.text[s_find (&log, "e1")], "[\"ABC\"]");
    ASSERT_STREQ (log.text[s_find (&log, "e2")], "\"replaced\"");
    ASSERT_STREQ (log.text[s_find (&log, "k1")], "[[true,[\"X\"]],[true,[\"Y\",2]]]");
    ASSERT_STREQ (log.text[s_find (&log, "k2")],
                  "[[true,\"p\"],[false,[\"BadArguments\","
                  "\"sleep: SECONDS must be a number, got string\",\"\"]],[true,0]]");
    ASSERT_STREQ (log.text[s_find (&log, "k3")],
                  "[[false,[\"ZeroDivisionError\",\"division by zero\","
                  "\"ZeroDivisionError: division by zero\\n\"]],"
                  "[false,[\"ZeroDivisionError\",\"division by zero\","
                  "\"ZeroDivisionError: division by zero\\n\"]]]");
    ASSERT_STREQ (log.text[s_find (&log, "k4")], "[]");
    s_log_clear (&log);
    s_teardown (&loop, &runner);
}

static void
test_timeouts (void)
{
    uv_loop_t loop;
    s_setup (&loop, 4);
    static options_exec_t execs[] = {{"hang", "sleep 33"}};
    s_options.execs = execs;
    s_options.exec_count = 1;
    s_log_t log = {0};
    runner_t *runner = runner_new (&loop, &s_options, NULL, s_on_done, &log);
    s_submit (runner, "t1", "sleep", "[10]", 0.05, false);
    s_submit (runner, "t2", "hang", "[]", 0.1, false);
    s_submit (runner, "t3", "sleep", "[[0.01], [10]]", 0.1, true);
    s_submit (runner, "t4", "sleep", "[0.01]", 5, false);
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (log.count, 4);
    ASSERT_STREQ (log.text[s_find (&log, "t1")], "TimeoutError: task exceeded its timeout of 0.05 s");
    ASSERT_STREQ (log.text[s_find (&log, "t2")], "TimeoutError: task exceeded its timeout of 0.1 s");
    ASSERT_STREQ (log.text[s_find (&log, "t3")], "TimeoutError: task exceeded its timeout of 0.1 s");
    ASSERT_STREQ (log.text[s_find (&log, "t4")], "0.01");
    s_log_clear (&log);
    s_teardown (&loop, &runner);
}

static void
s_collect (zj_str_t ticket, void *arg)
{
    char *list = arg;
    strncat (list, ticket.ptr, ticket.len);
    strcat (list, ",");
}

static void
test_abort_and_return (void)
{
    uv_loop_t loop;
    s_setup (&loop, 1);
    static options_exec_t execs[] = {{"hang", "sleep 34"}};
    s_options.execs = execs;
    s_options.exec_count = 1;
    s_log_t log = {0};
    runner_t *runner = runner_new (&loop, &s_options, NULL, s_on_done, &log);
    s_submit (runner, "r1", "hang", "[]", 0, false);
    s_submit (runner, "h1", "sleep", "[0.01]", 0, false);
    s_submit (runner, "h2", "noop", "[]", 0, false);
    s_submit (runner, "h3", "noop", "[]", 0, false);
    ASSERT_EQ (runner_held (runner), 3);
    //  Aborting a held task forgets it; aborting the running one frees
    //  its slot and the next held task starts.
    ASSERT_TRUE (runner_abort (runner, (zj_str_t) {"h2", 2}));
    ASSERT_TRUE (!runner_abort (runner, (zj_str_t) {"zz", 2}));
    ASSERT_TRUE (runner_abort (runner, (zj_str_t) {"r1", 2}));
    ASSERT_EQ (runner_running (runner), 1);     //  h1 sleeping
    ASSERT_EQ (runner_held (runner), 1);        //  h3
    char list[64] = "";
    ASSERT_EQ (runner_return_held (runner, s_collect, list), 1);
    ASSERT_STREQ (list, "h3,");
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (log.count, 1);
    ASSERT_STREQ (log.ticket[0], "h1");
    //  Nothing reports after abort_all either.
    s_submit (runner, "r2", "hang", "[]", 0, false);
    s_submit (runner, "r3", "noop", "[]", 0, false);
    runner_abort_all (runner);
    uv_run (&loop, UV_RUN_DEFAULT);
    ASSERT_EQ (log.count, 1);
    ASSERT_EQ (runner_running (runner) + runner_held (runner), 0);
    s_log_clear (&log);
    s_teardown (&loop, &runner);
}

int
main (void)
{
    //  As in zjob-worker: a command that does not read its stdin must
    //  give EPIPE, not kill the test.
    signal (SIGPIPE, SIG_IGN);
    ZT_RUN (test_functions);
    ZT_RUN (test_builtins_and_fifo);
    ZT_RUN (test_concurrency);
    ZT_RUN (test_exec_and_chunks);
    ZT_RUN (test_timeouts);
    ZT_RUN (test_abort_and_return);
    return 0;
}
