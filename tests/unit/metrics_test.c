// SPDX-License-Identifier: MIT
//  metrics_test - counters, histogram buckets (le is inclusive), gauges,
//  the text exposition, label escaping and the cap on functions.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "broker/metrics.h"

static const metrics_global_t s_global = {
    .version = "1.2.3", .generation = "abcd0123", .uptime = 12.5,
    .workers = 2, .clients = 1, .tasks = 9,
};

static char *
s_render (metrics_t *m)
{
    size_t len = 0;
    char *text = metrics_render (m, &s_global, &len);
    ASSERT_TRUE (text != NULL);
    ASSERT_EQ (strlen (text), len);
    return text;
}

//  The page must hold this exact line.
#define ASSERT_LINE(text, line)                                             \
    do {                                                                    \
        char want_[512];                                                    \
        snprintf (want_, sizeof want_, "\n%s\n", line);                     \
        if (!strstr (text, want_))                                          \
            ZT_FAIL ("no line \"%s\" in:\n%s", line, text);                 \
    } while (0)

static void
test_counters_and_gauges (void)
{
    metrics_t *m = metrics_new ();
    ASSERT_TRUE (m != NULL);
    metrics_fn_t *echo = metrics_fn (m, "echo", 4);
    ASSERT_TRUE (echo != NULL);
    ASSERT_TRUE (metrics_fn (m, "echo", 4) == echo);
    metrics_fn_t *fail = metrics_fn (m, "fail", 4);
    ASSERT_TRUE (fail != echo);
    for (int i = 0; i < 5; i++) {
        metrics_count (echo, METRICS_SUBMITTED);
        metrics_count (echo, METRICS_COMPLETED);
    }
    metrics_count (fail, METRICS_SUBMITTED);
    metrics_count (fail, METRICS_FAILED);
    metrics_count (fail, METRICS_RETRIED);
    metrics_count (NULL, METRICS_FAILED);
    ASSERT_EQ (metrics_counter (echo, METRICS_SUBMITTED), 5);
    ASSERT_EQ (metrics_counter (fail, METRICS_RETRIED), 1);
    metrics_gauges_clear (m);
    metrics_gauges_add (echo, 3, 1, 0.25);
    char *text = s_render (m);
    ASSERT_LINE (text, "# TYPE zjob_tasks_submitted_total counter");
    ASSERT_LINE (text, "zjob_tasks_submitted_total{function=\"echo\"} 5");
    ASSERT_LINE (text, "zjob_tasks_completed_total{function=\"echo\"} 5");
    ASSERT_LINE (text, "zjob_tasks_failed_total{function=\"fail\"} 1");
    ASSERT_LINE (text, "zjob_tasks_retried_total{function=\"fail\"} 1");
    ASSERT_LINE (text, "zjob_tasks_cancelled_total{function=\"echo\"} 0");
    ASSERT_LINE (text, "zjob_tasks_expired_total{function=\"fail\"} 0");
    ASSERT_LINE (text, "zjob_queue_depth{function=\"echo\"} 3");
    ASSERT_LINE (text, "zjob_queue_depth{function=\"fail\"} 0");
    ASSERT_LINE (text, "zjob_tasks_running{function=\"echo\"} 1");
    ASSERT_LINE (text, "zjob_queue_oldest_age_seconds{function=\"echo\"} 0.250000");
    ASSERT_LINE (text, "zjob_workers_alive 2");
    ASSERT_LINE (text, "zjob_clients 1");
    ASSERT_LINE (text, "zjob_tasks_held 9");
    ASSERT_LINE (text, "zjob_build_info{version=\"1.2.3\",generation=\"abcd0123\"} 1");
    //  Functions sorted by name within a family.
    ASSERT_TRUE (strstr (text, "submitted_total{function=\"echo\"}")
                 < strstr (text, "submitted_total{function=\"fail\"}"));
    ASSERT_TRUE (text[strlen (text) - 1] == '\n');
    free (text);
    //  Gauges start over at each clear.
    metrics_gauges_clear (m);
    text = s_render (m);
    ASSERT_LINE (text, "zjob_queue_depth{function=\"echo\"} 0");
    free (text);
    metrics_destroy (&m);
    metrics_destroy (&m);
    ASSERT_TRUE (m == NULL);
}

static void
test_histograms (void)
{
    metrics_t *m = metrics_new ();
    metrics_fn_t *fn = metrics_fn (m, "f", 1);
    metrics_observe_wait (fn, 0.001);   //  on a bound: counted in le="0.001"
    metrics_observe_wait (fn, 0.0011);
    metrics_observe_wait (fn, 7200);    //  past the last bound
    metrics_observe_wait (fn, -1);      //  clock step: counted as 0
    metrics_observe_run (fn, 0.3);
    metrics_observe_run (NULL, 1);
    char *text = s_render (m);
    ASSERT_LINE (text, "# TYPE zjob_task_wait_seconds histogram");
    ASSERT_LINE (text, "zjob_task_wait_seconds_bucket{function=\"f\",le=\"0.0005\"} 1");
    ASSERT_LINE (text, "zjob_task_wait_seconds_bucket{function=\"f\",le=\"0.001\"} 2");
    ASSERT_LINE (text, "zjob_task_wait_seconds_bucket{function=\"f\",le=\"0.0025\"} 3");
    ASSERT_LINE (text, "zjob_task_wait_seconds_bucket{function=\"f\",le=\"3600\"} 3");
    ASSERT_LINE (text, "zjob_task_wait_seconds_bucket{function=\"f\",le=\"+Inf\"} 4");
    ASSERT_LINE (text, "zjob_task_wait_seconds_sum{function=\"f\"} 7200.0021");
    ASSERT_LINE (text, "zjob_task_wait_seconds_count{function=\"f\"} 4");
    ASSERT_LINE (text, "zjob_task_run_seconds_bucket{function=\"f\",le=\"0.25\"} 0");
    ASSERT_LINE (text, "zjob_task_run_seconds_bucket{function=\"f\",le=\"0.5\"} 1");
    ASSERT_LINE (text, "zjob_task_run_seconds_count{function=\"f\"} 1");
    free (text);
    metrics_destroy (&m);
}

static void
test_labels (void)
{
    metrics_t *m = metrics_new ();
    const char odd[] = "a\"b\\c\nd\xff\xc3\xa9";   //  quote, backslash, newline, bad byte, é
    metrics_count (metrics_fn (m, odd, sizeof odd - 1), METRICS_SUBMITTED);
    char *text = s_render (m);
    ASSERT_LINE (text, "zjob_tasks_submitted_total{function=\"a\\\"b\\\\c\\nd\xef\xbf\xbd\xc3\xa9\"} 1");
    free (text);
    metrics_destroy (&m);
}

static void
test_cap (void)
{
    metrics_t *m = metrics_new ();
    char name[32];
    for (int i = 0; i < METRICS_MAX_FUNCTIONS; i++) {
        int n = snprintf (name, sizeof name, "fn%04d", i);
        metrics_count (metrics_fn (m, name, (size_t) n), METRICS_SUBMITTED);
    }
    metrics_fn_t *other = metrics_fn (m, "late1", 5);
    ASSERT_TRUE (other != NULL);
    ASSERT_TRUE (metrics_fn (m, "late2", 5) == other);
    //  Known functions keep their own series.
    ASSERT_TRUE (metrics_fn (m, "fn0007", 6) != other);
    metrics_count (other, METRICS_SUBMITTED);
    metrics_count (metrics_fn (m, "late2", 5), METRICS_SUBMITTED);
    metrics_gauges_clear (m);
    metrics_gauges_add (metrics_fn (m, "late1", 5), 2, 0, 1.0);
    metrics_gauges_add (metrics_fn (m, "late2", 5), 3, 0, 4.0);
    char *text = s_render (m);
    ASSERT_LINE (text, "zjob_tasks_submitted_total{function=\"_other\"} 2");
    ASSERT_LINE (text, "zjob_queue_depth{function=\"_other\"} 5");
    ASSERT_LINE (text, "zjob_queue_oldest_age_seconds{function=\"_other\"} 4.000000");
    ASSERT_LINE (text, "zjob_tasks_submitted_total{function=\"fn0999\"} 1");
    ASSERT_TRUE (strstr (text, "late1") == NULL);
    free (text);
    metrics_destroy (&m);
}

int
main (void)
{
    ZT_RUN (test_counters_and_gauges);
    ZT_RUN (test_histograms);
    ZT_RUN (test_labels);
    ZT_RUN (test_cap);
    return 0;
}
