// SPDX-License-Identifier: MIT
//  supervisor_test - the restart backoff (100 ms doubling to 10 s, reset
//  after 10 s up) and the child marker "INDEX:PARENT_PID".
#include "harness.h"
#include "supervisor.h"

static void
test_backoff (void)
{
    //  First restart, and any restart after a stable run: the minimum.
    ASSERT_EQ (supervisor_backoff (0, 0), 100);
    ASSERT_EQ (supervisor_backoff (0, 50000), 100);
    ASSERT_EQ (supervisor_backoff (6400, SUPERVISOR_STABLE_MS), 100);
    //  Quick deaths double the delay up to the cap.
    uint64_t d = 0;
    uint64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        d = supervisor_backoff (d, 5);
        ASSERT_EQ (d, want[i]);
    }
    ASSERT_EQ (supervisor_backoff (10000, SUPERVISOR_STABLE_MS - 1), 10000);
}

static void
test_marker (void)
{
    int index = -1, parent = -1;
    ASSERT_TRUE (supervisor_parse_marker ("3:4242", &index, &parent));
    ASSERT_EQ (index, 3);
    ASSERT_EQ (parent, 4242);
    ASSERT_TRUE (supervisor_parse_marker ("0:1", &index, &parent));
    ASSERT_EQ (index, 0);
    const char *bad[] = {"", "3", "3:", ":5", "a:5", "3:5x", "-1:5", "3:0", "3:-2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (supervisor_parse_marker (bad[i], &index, &parent))
            ZT_FAIL ("marker \"%s\" was accepted", bad[i]);
    ASSERT_TRUE (!supervisor_parse_marker (NULL, &index, &parent));
}

int
main (void)
{
    ZT_RUN (test_backoff);
    ZT_RUN (test_marker);
    return 0;
}
