// SPDX-License-Identifier: MIT
//  ticket_test - ticket format, parsing back, canonical form, uniqueness.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "broker/ticket.h"

static void
test_format (void)
{
    char buf[TICKET_MAX + 1];
    ASSERT_EQ (ticket_format (0, 1, buf), 17);
    ASSERT_STREQ (buf, "00000000-00000001");
    ticket_format (TICKET_GEN_MAX, 31, buf);
    ASSERT_STREQ (buf, "zzzzzzzz-0000000z");
    //  32 = "10" in base 32; the alphabet skips i, l, o and u.
    ticket_format (0, 32 + 18, buf);
    ASSERT_STREQ (buf, "00000000-0000001j");
    //  Past 8 digits the sequence grows instead of wrapping.
    ticket_format (1, UINT64_C (1) << 40, buf);
    ASSERT_STREQ (buf, "00000001-100000000");
    ASSERT_EQ (ticket_format (1, UINT64_MAX, buf), TICKET_MAX);
    ASSERT_STREQ (buf, "00000001-fzzzzzzzzzzzz");
    char gen[9];
    ticket_generation_text (UINT64_C (0x123456789a), gen);
    ASSERT_EQ (strlen (gen), 8);
}

static void
test_alphabet (void)
{
    char buf[TICKET_MAX + 1];
    for (uint64_t v = 0; v < 32; v++) {
        ticket_format (v, v, buf);
        for (const char *p = buf; *p; p++) {
            ASSERT_TRUE ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-');
            ASSERT_TRUE (*p != 'i' && *p != 'l' && *p != 'o' && *p != 'u');
        }
    }
}

static void
test_roundtrip (void)
{
    uint64_t values[] = {0, 1, 31, 32, 1000, UINT64_C (1) << 39, (UINT64_C (1) << 40) - 1,
                         UINT64_C (1) << 40, UINT64_C (123456789012345), UINT64_MAX - 1,
                         UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char buf[TICKET_MAX + 1];
        uint64_t gen = values[i] & TICKET_GEN_MAX, seq = values[i];
        size_t len = ticket_format (gen, seq, buf);
        uint64_t g2, s2;
        ASSERT_TRUE (ticket_parse (buf, len, &g2, &s2));
        ASSERT_EQ (g2, gen);
        ASSERT_TRUE (s2 == seq);
    }
}

static void
test_parse_rejects (void)
{
    uint64_t g, s;
    const char *bad[] = {
        "",
        "00000000",
        "00000000-0000001",             //  seq too short
        "000000000-00000001",           //  gen too long
        "00000000_00000001",            //  no dash
        "0000000I-00000001",            //  upper case
        "0000000i-00000001",            //  not in the alphabet
        "00000000-0000000u",
        "00000000-000000001",           //  second spelling of 1
        "00000000-g0000000000000",      //  past 64 bits and too long
        "00000000-g000000000000",       //  13 digits, over 2^64
        "00000000-00000001 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ticket_parse (bad[i], strlen (bad[i]), &g, &s))
            ZT_FAIL ("accepted \"%s\"", bad[i]);
    ASSERT_TRUE (ticket_parse ("abcdefgh-jkmnpqrs", 17, &g, &s));
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (a, b);
}

static void
test_unique (void)
{
    enum { N = 100000 };
    char (*all)[TICKET_MAX + 1] = malloc (N * sizeof *all);
    ASSERT_TRUE (all);
    uint64_t gen;
    ASSERT_TRUE (ticket_generation_new (&gen));
    ASSERT_TRUE (gen <= TICKET_GEN_MAX);
    for (uint64_t i = 0; i < N; i++)
        ticket_format (gen, i + 1, all[i]);
    qsort (all, N, sizeof *all, s_cmp);
    for (size_t i = 1; i < N; i++)
        ASSERT_TRUE (strcmp (all[i - 1], all[i]) != 0);
    free (all);
    //  Two generations drawn from 40 random bits differ.
    uint64_t g1, g2;
    ASSERT_TRUE (ticket_generation_new (&g1));
    ASSERT_TRUE (ticket_generation_new (&g2));
    ASSERT_TRUE (g1 != g2);
}

int
main (void)
{
    ZT_RUN (test_format);
    ZT_RUN (test_alphabet);
    ZT_RUN (test_roundtrip);
    ZT_RUN (test_parse_rejects);
    ZT_RUN (test_unique);
    return 0;
}
