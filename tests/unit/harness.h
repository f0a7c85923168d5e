// SPDX-License-Identifier: MIT
//  harness - tiny assertion macros for the unit tests. Each failure
//  prints file:line and both values, then aborts the test executable
//  (one executable per module, so a failure cannot hide the others).
#pragma once
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "err.h"

#define ZT_FAIL(...)                                                        \
    do {                                                                    \
        fprintf (stderr, "%s:%d: ", __FILE__, __LINE__);                    \
        fprintf (stderr, __VA_ARGS__);                                      \
        fputc ('\n', stderr);                                               \
        abort ();                                                           \
    } while (0)

#define ASSERT_TRUE(c)                                                      \
    do { if (!(c)) ZT_FAIL ("expected true: %s", #c); } while (0)

#define ASSERT_EQ(a, b)                                                     \
    do {                                                                    \
        long long za_ = (long long) (a), zb_ = (long long) (b);             \
        if (za_ != zb_)                                                     \
            ZT_FAIL ("%s == %s: got %lld, expected %lld", #a, #b, za_, zb_); \
    } while (0)

#define ASSERT_STREQ(a, b)                                                  \
    do {                                                                    \
        const char *za_ = (a), *zb_ = (b);                                  \
        if (!za_ || !zb_ || strcmp (za_, zb_) != 0)                         \
            ZT_FAIL ("%s == %s: got \"%s\", expected \"%s\"", #a, #b,       \
                     za_ ? za_ : "(null)", zb_ ? zb_ : "(null)");           \
    } while (0)

//  Compare a view (ptr, len) to a C string.
#define ASSERT_VIEWEQ(view, s)                                              \
    do {                                                                    \
        const char *zs_ = (s);                                              \
        if ((view).len != strlen (zs_) || memcmp ((view).ptr, zs_, (view).len) != 0) \
            ZT_FAIL ("%s == %s: got \"%.*s\", expected \"%s\"", #view, #s,  \
                     (int) (view).len, (view).ptr ? (view).ptr : "", zs_);  \
    } while (0)

#define ASSERT_ERR(expr, code)                                              \
    do {                                                                    \
        zj_err_t ze_ = (expr);                                              \
        if (ze_ != (code))                                                  \
            ZT_FAIL ("%s: got %s, expected %s", #expr, zj_err_name (ze_),   \
                     zj_err_name (code));                                   \
    } while (0)

#define ZT_RUN(fn)                                                          \
    do { fprintf (stderr, "  %s\n", #fn); fn (); } while (0)
