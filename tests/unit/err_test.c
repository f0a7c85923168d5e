// SPDX-License-Identifier: MIT
//  err_test - the error table: every code has a distinct stable name and a
//  text, and wire names map back to codes.
#include <string.h>
#include "harness.h"
#include "err.h"

static void test_every_code_named (void)
{
    for (int i = 0; i < ZJ_ERR_COUNT; i++) {
        const char *name = zj_err_name ((zj_err_t) i);
        ASSERT_TRUE (name && *name);
        ASSERT_TRUE (strcmp (name, "UnknownError") != 0);
        ASSERT_TRUE (zj_strerror ((zj_err_t) i) && *zj_strerror ((zj_err_t) i));
        for (int k = 0; k < i; k++)
            ASSERT_TRUE (strcmp (name, zj_err_name ((zj_err_t) k)) != 0);
    }
}

static void test_stable_names (void)
{
    //  These travel on the wire (docs/protocol.md 5.12) and must not change.
    ASSERT_STREQ (zj_err_name (ZJ_OK), "OK");
    ASSERT_STREQ (zj_err_name (ZJ_EPROTO), "ProtocolError");
    ASSERT_STREQ (zj_err_name (ZJ_EVERSION), "VersionMismatch");
    ASSERT_STREQ (zj_err_name (ZJ_ETOOLARGE), "TooLarge");
    ASSERT_STREQ (zj_err_name (ZJ_EQUEUEFULL), "QueueFull");
    ASSERT_STREQ (zj_err_name (ZJ_ENOTICKET), "UnknownTicket");
    ASSERT_STREQ (zj_err_name (ZJ_EEXPIRED), "Expired");
    ASSERT_STREQ (zj_err_name (ZJ_ESHUTDOWN), "ShutDown");
    ASSERT_STREQ (zj_err_name (ZJ_ENOSPC), "NoSpace");
    ASSERT_STREQ (zj_err_name (ZJ_ETIMEDOUT), "TimeoutError");
    ASSERT_STREQ (zj_err_name (ZJ_ECANCELLED), "CancelledError");
    ASSERT_STREQ (zj_err_name (ZJ_EWORKERLOST), "WorkerLost");
    ASSERT_STREQ (zj_err_name (ZJ_EJSON), "JSONError");
}

static void test_out_of_range (void)
{
    ASSERT_STREQ (zj_err_name (ZJ_ERR_COUNT), "UnknownError");
    ASSERT_STREQ (zj_err_name ((zj_err_t) -1), "UnknownError");
    ASSERT_STREQ (zj_strerror ((zj_err_t) 9999), "unknown error code");
}

static void test_from_name (void)
{
    for (int i = 1; i < ZJ_ERR_COUNT; i++) {
        const char *name = zj_err_name ((zj_err_t) i);
        ASSERT_ERR (zj_err_from_name (name, strlen (name)), (zj_err_t) i);
    }
    //  Not NUL-terminated: the view comes straight from a frame.
    const char *wire = "QueueFullXYZ";
    ASSERT_ERR (zj_err_from_name (wire, 9), ZJ_EQUEUEFULL);
    ASSERT_ERR (zj_err_from_name (wire, 12), ZJ_EPROTO);
    ASSERT_ERR (zj_err_from_name ("QueueFul", 8), ZJ_EPROTO);
    ASSERT_ERR (zj_err_from_name ("queuefull", 9), ZJ_EPROTO);
    ASSERT_ERR (zj_err_from_name ("", 0), ZJ_EPROTO);
    ASSERT_ERR (zj_err_from_name (NULL, 0), ZJ_EPROTO);
    //  An ERROR that says "OK" is still an error.
    ASSERT_ERR (zj_err_from_name ("OK", 2), ZJ_EPROTO);
}

int main (void)
{
    ZT_RUN (test_every_code_named);
    ZT_RUN (test_stable_names);
    ZT_RUN (test_out_of_range);
    ZT_RUN (test_from_name);
    return 0;
}
