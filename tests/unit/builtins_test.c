// SPDX-License-Identifier: MIT
//  builtins_test - echo, sleep, fail and noop over raw msgpack arguments:
//  results, sleep's delay and argument validation.
#include "builtins.h"
#include "args.h"
#include "harness.h"
#include "msg.h"

static char s_msg[200];

//  Run `b` over the arguments built in `enc`.
static void
s_run (builtin_t b, zj_enc_t *enc, outcome_t *out, uint64_t *delay)
{
    zj_raw_t args = {zj_enc_data (enc), zj_enc_size (enc)};
    builtins_run (b, args, out, delay, s_msg, sizeof s_msg);
}

static void
s_assert_value (const outcome_t *out, const uint8_t *bytes, size_t len)
{
    ASSERT_TRUE (out->ok);
    ASSERT_EQ (out->value.len, len);
    ASSERT_TRUE (memcmp (out->value.ptr, bytes, len) == 0);
}

static void
test_find (void)
{
    ASSERT_EQ (builtins_find ("echo", 4), BUILTIN_ECHO);
    ASSERT_EQ (builtins_find ("sleep", 5), BUILTIN_SLEEP);
    ASSERT_EQ (builtins_find ("fail", 4), BUILTIN_FAIL);
    ASSERT_EQ (builtins_find ("noop", 4), BUILTIN_NOOP);
    ASSERT_EQ (builtins_find ("echoo", 5), BUILTIN_NONE);
    ASSERT_EQ (builtins_find ("ech", 3), BUILTIN_NONE);
    ASSERT_STREQ (builtins_name (BUILTIN_SLEEP), "sleep");
    ASSERT_STREQ (builtins_name (BUILTIN_NONE), "");
}

static void
test_echo (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_t *want = zj_enc_new ();
    outcome_t out;
    uint64_t delay = 99;

    //  No arguments: nil.
    zj_enc_array (enc, 0);
    s_run (BUILTIN_ECHO, enc, &out, &delay);
    s_assert_value (&out, args_nil, 1);
    ASSERT_EQ (delay, 0);

    //  One argument: that argument, whatever it is.
    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_map (enc, 1);
    zj_enc_cstr (enc, "a");
    zj_enc_int (enc, 1);
    zj_enc_map (want, 1);
    zj_enc_cstr (want, "a");
    zj_enc_int (want, 1);
    s_run (BUILTIN_ECHO, enc, &out, &delay);
    s_assert_value (&out, zj_enc_data (want), zj_enc_size (want));

    //  Several: the argument array itself.
    zj_enc_reset (enc);
    zj_enc_array (enc, 3);
    zj_enc_int (enc, 1);
    zj_enc_cstr (enc, "two");
    zj_enc_nil (enc);
    s_run (BUILTIN_ECHO, enc, &out, &delay);
    s_assert_value (&out, zj_enc_data (enc), zj_enc_size (enc));

    //  Not an array: BadArguments.
    zj_enc_reset (enc);
    zj_enc_int (enc, 7);
    s_run (BUILTIN_ECHO, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");
    ASSERT_VIEWEQ (out.err_message, "arguments must be an array, got integer");
    zj_enc_destroy (&enc);
    zj_enc_destroy (&want);
}

static void
test_noop (void)
{
    zj_enc_t *enc = zj_enc_new ();
    outcome_t out;
    uint64_t delay;
    zj_enc_array (enc, 2);
    zj_enc_int (enc, 1);
    zj_enc_int (enc, 2);
    s_run (BUILTIN_NOOP, enc, &out, &delay);
    s_assert_value (&out, args_nil, 1);
    zj_enc_destroy (&enc);
}

static void
test_sleep (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_t *want = zj_enc_new ();
    outcome_t out;
    uint64_t delay;

    //  sleep 0.25 -> waits 250 ms, returns 0.25
    zj_enc_array (enc, 1);
    zj_enc_double (enc, 0.25);
    zj_enc_double (want, 0.25);
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    s_assert_value (&out, zj_enc_data (want), zj_enc_size (want));
    ASSERT_EQ (delay, 250);

    //  sleep 2 "v" -> waits 2000 ms, returns "v"
    zj_enc_reset (enc);
    zj_enc_array (enc, 2);
    zj_enc_int (enc, 2);
    zj_enc_cstr (enc, "v");
    zj_enc_reset (want);
    zj_enc_cstr (want, "v");
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    s_assert_value (&out, zj_enc_data (want), zj_enc_size (want));
    ASSERT_EQ (delay, 2000);

    //  sleep 0 -> no wait at all
    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_int (enc, 0);
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    ASSERT_TRUE (out.ok);
    ASSERT_EQ (delay, 0);

    //  A sub-millisecond sleep still waits (rounds up).
    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_double (enc, 0.0001);
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    ASSERT_EQ (delay, 1);

    //  sleep "abc" -> BadArguments naming the problem
    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_cstr (enc, "abc");
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");
    ASSERT_VIEWEQ (out.err_message, "sleep: SECONDS must be a number, got string");
    ASSERT_EQ (delay, 0);

    //  negative, none, too many
    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_int (enc, -1);
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");
    ASSERT_TRUE (strstr (s_msg, "between 0 and") != NULL);

    zj_enc_reset (enc);
    zj_enc_array (enc, 0);
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_message, "sleep takes SECONDS [VALUE], got 0 arguments");

    zj_enc_reset (enc);
    zj_enc_array (enc, 3);
    zj_enc_int (enc, 1);
    zj_enc_int (enc, 2);
    zj_enc_int (enc, 3);
    s_run (BUILTIN_SLEEP, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_message, "sleep takes SECONDS [VALUE], got 3 arguments");
    zj_enc_destroy (&enc);
    zj_enc_destroy (&want);
}

static void
test_fail (void)
{
    zj_enc_t *enc = zj_enc_new ();
    outcome_t out;
    uint64_t delay;

    zj_enc_array (enc, 2);
    zj_enc_cstr (enc, "ValueError");
    zj_enc_cstr (enc, "x==2");
    s_run (BUILTIN_FAIL, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_type, "ValueError");
    ASSERT_VIEWEQ (out.err_message, "x==2");
    ASSERT_EQ (out.err_traceback.len, 0);
    ASSERT_EQ (delay, 0);

    //  The message may be left out.
    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_cstr (enc, "KeyError");
    s_run (BUILTIN_FAIL, enc, &out, &delay);
    ASSERT_TRUE (!out.ok);
    ASSERT_VIEWEQ (out.err_type, "KeyError");
    ASSERT_VIEWEQ (out.err_message, "");

    //  TYPE must be a non-empty string.
    zj_enc_reset (enc);
    zj_enc_array (enc, 2);
    zj_enc_int (enc, 3);
    zj_enc_cstr (enc, "m");
    s_run (BUILTIN_FAIL, enc, &out, &delay);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");
    ASSERT_VIEWEQ (out.err_message, "fail: TYPE must be a non-empty string, got integer");

    zj_enc_reset (enc);
    zj_enc_array (enc, 1);
    zj_enc_cstr (enc, "");
    s_run (BUILTIN_FAIL, enc, &out, &delay);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");

    zj_enc_reset (enc);
    zj_enc_array (enc, 2);
    zj_enc_cstr (enc, "E");
    zj_enc_array (enc, 0);
    s_run (BUILTIN_FAIL, enc, &out, &delay);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");
    ASSERT_VIEWEQ (out.err_message, "fail: MESSAGE must be a string, got array");

    zj_enc_reset (enc);
    zj_enc_array (enc, 0);
    s_run (BUILTIN_FAIL, enc, &out, &delay);
    ASSERT_VIEWEQ (out.err_type, "BadArguments");
    ASSERT_VIEWEQ (out.err_message, "fail takes TYPE [MESSAGE], got 0 arguments");
    zj_enc_destroy (&enc);
}

int
main (void)
{
    ZT_RUN (test_find);
    ZT_RUN (test_echo);
    ZT_RUN (test_noop);
    ZT_RUN (test_sleep);
    ZT_RUN (test_fail);
    return 0;
}
