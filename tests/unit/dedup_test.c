// SPDX-License-Identifier: MIT
//  dedup_test - the memory of idempotent submits: find, add, remove,
//  expiry in submit order in bounded batches, and long ids.
#include <stdint.h>
#include <string.h>
#include "harness.h"
#include "broker/dedup.h"

static zj_str_t
s_id (const char *text)
{
    return (zj_str_t) {text, strlen (text)};
}

static size_t s_forgotten;
static void s_forgot (void *arg, const dedup_entry_t *e) { s_forgotten++; }

static void
test_find_add_remove (void)
{
    dedup_t *d = dedup_new ();
    ASSERT_TRUE (d);
    ASSERT_TRUE (dedup_find (d, s_id ("c1"), 1) == NULL);
    dedup_entry_t *e = dedup_add (d, s_id ("c1"), 1, 77, 10, 3, 5.0);
    ASSERT_TRUE (e);
    ASSERT_TRUE (dedup_find (d, s_id ("c1"), 1) == e);
    ASSERT_EQ (e->gen, 77);
    ASSERT_EQ (e->seq, 10);
    ASSERT_EQ (e->count, 3);
    ASSERT_VIEWEQ (dedup_client (e), "c1");
    //  The key is the pair: another req or another client is not found,
    //  nor is a client whose id is a prefix of the other's.
    ASSERT_TRUE (dedup_find (d, s_id ("c1"), 2) == NULL);
    ASSERT_TRUE (dedup_find (d, s_id ("c2"), 1) == NULL);
    ASSERT_TRUE (dedup_find (d, s_id ("c"), 1) == NULL);
    ASSERT_TRUE (dedup_add (d, s_id ("c1"), 2, 77, 13, 1, 6.0));
    ASSERT_EQ (dedup_size (d), 2);
    dedup_remove (d, e);
    ASSERT_TRUE (dedup_find (d, s_id ("c1"), 1) == NULL);
    ASSERT_TRUE (dedup_find (d, s_id ("c1"), 2) != NULL);
    ASSERT_EQ (dedup_size (d), 1);
    //  Ids over 64 bytes and empty ones are neither stored nor found.
    char big[66];
    memset (big, 'x', 65);
    big[65] = '\0';
    ASSERT_TRUE (dedup_add (d, s_id (big), 1, 1, 1, 1, 0) == NULL);
    ASSERT_TRUE (dedup_find (d, s_id (big), 1) == NULL);
    ASSERT_TRUE (dedup_add (d, (zj_str_t) {"", 0}, 1, 1, 1, 1, 0) == NULL);
    big[64] = '\0';
    ASSERT_TRUE (dedup_add (d, s_id (big), UINT64_MAX, 1, 1, 1, 7.0));
    ASSERT_TRUE (dedup_find (d, s_id (big), UINT64_MAX));
    dedup_destroy (&d);
    ASSERT_TRUE (d == NULL);
    dedup_destroy (&d);
}

static void
test_expire (void)
{
    dedup_t *d = dedup_new ();
    char id[16];
    for (int i = 0; i < 10; i++) {
        snprintf (id, sizeof id, "client-%d", i);
        ASSERT_TRUE (dedup_add (d, s_id (id), (uint64_t) i, 1, (uint64_t) i, 1, (double) i));
    }
    bool more = false;
    s_forgotten = 0;
    //  Retention 5 at time 8: submits at 0..3 are due; batches of 3.
    ASSERT_EQ (dedup_expire (d, 8.0, 5.0, 3, s_forgot, NULL, &more), 3);
    ASSERT_TRUE (more);
    ASSERT_EQ (dedup_expire (d, 8.0, 5.0, 3, s_forgot, NULL, &more), 1);
    ASSERT_TRUE (!more);
    ASSERT_EQ (s_forgotten, 4);
    ASSERT_TRUE (dedup_find (d, s_id ("client-3"), 3) == NULL);
    ASSERT_TRUE (dedup_find (d, s_id ("client-4"), 4) != NULL);
    ASSERT_EQ (dedup_expire (d, 100.0, 5.0, 100, NULL, NULL, &more), 6);
    ASSERT_EQ (dedup_size (d), 0);
    dedup_destroy (&d);
}

int
main (void)
{
    ZT_RUN (test_find_add_remove);
    ZT_RUN (test_expire);
    return 0;
}
