// SPDX-License-Identifier: MIT
//  json_test - JSON text <-> msgpack: exact bytes one way, exact text the
//  other, the CLI's ARG rule, and the renderings JSON has no form for.
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "json.h"
#include "msg.h"

//  JSON -> msgpack must give exactly these bytes.
static void s_expect_bytes (const char *json, const char *bytes, size_t len)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_err_t err = zj_json_to_msgpack (enc, json, strlen (json));
    if (err != ZJ_OK)
        ZT_FAIL ("%s: %s", json, zj_err_name (err));
    if (zj_enc_size (enc) != len || memcmp (zj_enc_data (enc), bytes, len) != 0)
        ZT_FAIL ("%s: %zu bytes, not the %zu expected", json, zj_enc_size (enc), len);
    zj_enc_destroy (&enc);
}

//  msgpack bytes -> JSON must give exactly `expect`.
static void s_expect_text (const char *bytes, size_t len, const char *expect)
{
    zj_err_t err = ZJ_EIO;
    char *json = zj_json_from_msgpack ((const uint8_t *) bytes, len, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_STREQ (json, expect);
    free (json);
}

//  JSON -> msgpack -> JSON gives `expect` (NULL: the input itself).
static void s_expect_round_trip (const char *json, const char *expect)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_err_t err = zj_json_to_msgpack (enc, json, strlen (json));
    if (err != ZJ_OK)
        ZT_FAIL ("%s: %s", json, zj_err_name (err));
    ASSERT_ERR (zj_raw_check (zj_enc_data (enc), zj_enc_size (enc)), ZJ_OK);
    char *back = zj_json_from_msgpack (zj_enc_data (enc), zj_enc_size (enc), NULL);
    ASSERT_STREQ (back, expect ? expect : json);
    ASSERT_TRUE (strchr (back, '\n') == NULL);
    free (back);
    zj_enc_destroy (&enc);
}

static void s_expect_arg (const char *arg, const char *bytes, size_t len)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_json_arg_to_msgpack (enc, arg);
    if (zj_enc_size (enc) != len || memcmp (zj_enc_data (enc), bytes, len) != 0)
        ZT_FAIL ("arg '%s': %zu bytes, not the %zu expected", arg, zj_enc_size (enc), len);
    zj_enc_destroy (&enc);
}

#define BYTES(s) s, sizeof (s) - 1

static void test_to_msgpack (void)
{
    s_expect_bytes ("[1,\"x\",null,true,false,{\"a\":{}},[]]",
                    BYTES ("\x97\x01\xa1x\xc0\xc3\xc2\x81\xa1" "a\x80\x90"));
    //  Integers stay integers, every other number is a double.
    s_expect_bytes ("2", BYTES ("\x02"));
    s_expect_bytes ("-1", BYTES ("\xff"));
    s_expect_bytes ("-200", BYTES ("\xd1\xff\x38"));
    s_expect_bytes ("300", BYTES ("\xcd\x01\x2c"));
    s_expect_bytes ("2.0", BYTES ("\xcb\x40\x00\x00\x00\x00\x00\x00\x00"));
    s_expect_bytes ("1e2", BYTES ("\xcb\x40\x59\x00\x00\x00\x00\x00\x00"));
    s_expect_bytes ("\"a\\u0000b\"", BYTES ("\xa3" "a\0b"));
    s_expect_bytes ("  \"x\"  ", BYTES ("\xa1x"));
}

static void test_to_msgpack_errors (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 1);
    const char *bad [] = {
        "", "   ", "[1,", "{\"a\"}", "hello", "'x'", "[1] [2]", "01", "NaN",
        "\"\\ud800\"", "18446744073709551616", "1e999",
        "{\"k\\u0000\":1}",         //  jansson keeps no NUL in keys
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        if (zj_json_to_msgpack (enc, bad [i], strlen (bad [i])) != ZJ_EJSON)
            ZT_FAIL ("'%s' should be refused", bad [i]);
        ASSERT_EQ (zj_enc_size (enc), 1);        //  untouched
    }
    ASSERT_ERR (zj_json_to_msgpack (enc, NULL, 0), ZJ_EJSON);
    //  Not NUL-terminated: only `len` bytes count.
    ASSERT_ERR (zj_json_to_msgpack (enc, "[1]garbage", 3), ZJ_OK);
    ASSERT_EQ (zj_enc_size (enc), 3);
    //  Nesting the codec would refuse is refused here, where it is clear.
    char deep [2 * (ZJ_MAX_DEPTH + 1) + 1];
    memset (deep, '[', ZJ_MAX_DEPTH);
    memset (deep + ZJ_MAX_DEPTH, ']', ZJ_MAX_DEPTH);
    ASSERT_ERR (zj_json_to_msgpack (enc, deep, 2 * ZJ_MAX_DEPTH), ZJ_OK);
    memset (deep, '[', ZJ_MAX_DEPTH + 1);
    memset (deep + ZJ_MAX_DEPTH + 1, ']', ZJ_MAX_DEPTH + 1);
    ASSERT_ERR (zj_json_to_msgpack (enc, deep, 2 * (ZJ_MAX_DEPTH + 1)), ZJ_EJSON);
    zj_enc_destroy (&enc);
}

static void test_round_trips (void)
{
    s_expect_round_trip ("{\"a\":[1,2.5,\"x\",null,true,false],\"b\":{\"c\":{},\"d\":[]}}", NULL);
    s_expect_round_trip ("[]", NULL);
    s_expect_round_trip ("{}", NULL);
    s_expect_round_trip ("null", NULL);
    s_expect_round_trip ("\"\"", NULL);
    //  key order is kept
    s_expect_round_trip ("{\"z\":1,\"a\":2,\"m\":3}", NULL);
    //  ints vs reals: a real keeps its point
    s_expect_round_trip ("[0,-1,2.0,-0.0,0.5,100.0]", NULL);
    s_expect_round_trip ("1e2", "100.0");
    s_expect_round_trip ("[0.1,0.3,3.141592653589793,1e+300,-2.5e-300,1.7976931348623157e+308]", NULL);
    s_expect_round_trip ("[9223372036854775807,-9223372036854775808]", NULL);
    s_expect_round_trip ("[1,[2,[3,[4,[5,{\"k\":[6]}]]]]]", NULL);
    //  unicode, raw in and out; escapes only where JSON needs them
    s_expect_round_trip ("\"h\\u00e9llo \\u263a \\ud83d\\ude00\"", "\"h\xc3\xa9llo \xe2\x98\xba \xf0\x9f\x98\x80\"");
    s_expect_round_trip ("\"h\xc3\xa9llo\"", NULL);
    s_expect_round_trip ("\"q\\\" b\\\\ n\\n t\\t r\\r\\b\\f c\\u0001 z\\u001f /\"", NULL);
    s_expect_round_trip ("\"a\\u0000b\"", NULL);
    s_expect_round_trip ("{\"k\":\"\\u007f\"}", "{\"k\":\"\x7f\"}");
}

static void test_arg_rule (void)
{
    s_expect_arg ("hello", BYTES ("\xa5hello"));
    s_expect_arg ("3", BYTES ("\x03"));
    s_expect_arg ("-3", BYTES ("\xfd"));
    s_expect_arg ("3.5", BYTES ("\xcb\x40\x0c\x00\x00\x00\x00\x00\x00"));
    s_expect_arg ("[1,2]", BYTES ("\x92\x01\x02"));
    s_expect_arg ("\"x\"", BYTES ("\xa1x"));
    s_expect_arg ("\"3\"", BYTES ("\xa1" "3"));
    s_expect_arg ("null", BYTES ("\xc0"));
    s_expect_arg ("true", BYTES ("\xc3"));
    s_expect_arg ("{\"a\":1}", BYTES ("\x81\xa1" "a\x01"));
    s_expect_arg ("", BYTES ("\xa0"));
    s_expect_arg ("[1,", BYTES ("\xa3[1,"));
    s_expect_arg ("1 2", BYTES ("\xa3" "1 2"));
    s_expect_arg ("True", BYTES ("\xa4True"));
    s_expect_arg ("/tmp/a b", BYTES ("\xa8/tmp/a b"));
    s_expect_arg (NULL, BYTES ("\xa0"));
}

static void test_from_msgpack (void)
{
    //  bin: a string when it is UTF-8, else base64
    s_expect_text (BYTES ("\xc4\x02hi"), "\"hi\"");
    s_expect_text (BYTES ("\xc4\x03\xff\xfe\xfd"), "{\"$bin\":\"//79\"}");
    s_expect_text (BYTES ("\xc4\x02\xff\xfe"), "{\"$bin\":\"//4=\"}");
    s_expect_text (BYTES ("\xc4\x01\xff"), "{\"$bin\":\"/w==\"}");
    s_expect_text (BYTES ("\xc4\x00"), "\"\"");
    //  str with bytes that are not UTF-8: overlong, surrogate, cut short
    s_expect_text (BYTES ("\xa2\xc0\x80"), "{\"$bin\":\"wIA=\"}");
    s_expect_text (BYTES ("\xa3\xed\xa0\x80"), "{\"$bin\":\"7aCA\"}");
    s_expect_text (BYTES ("\xa2\xe2\x98"), "{\"$bin\":\"4pg=\"}");
    s_expect_text (BYTES ("\xa4\xf4\x90\x80\x80"), "{\"$bin\":\"9JCAgA==\"}");
    s_expect_text (BYTES ("\xa4\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\"");
    //  ext
    s_expect_text (BYTES ("\xd4\x05\x41"), "{\"$ext\":[5,\"QQ==\"]}");
    s_expect_text (BYTES ("\xc7\x00\xff"), "{\"$ext\":[-1,\"\"]}");
    //  scalar keys that are not strings become their JSON text; array,
    //  map, bin and ext keys the base64 of their bytes
    s_expect_text (BYTES ("\x82\x01\x02\xc0\xc3"), "{\"1\":2,\"null\":true}");
    s_expect_text (BYTES ("\x81\x92\x01\xa1x\x03"), "{\"$msgpack:kgGheA==\":3}");
    s_expect_text (BYTES ("\x81\xc4\x01\xff\x00"), "{\"$msgpack:xAH/\":0}");
    //  Map keys nested 30 deep render in linear size, not doubling per
    //  level through repeated escaping (a decode-fuzzer timeout).
    {
        uint8_t deep[64];
        size_t n = 0;
        for (int i = 0; i < 30; i++)
            deep[n++] = 0x81;           //  {key: ...} whose key is the next map
        deep[n++] = 0x01;               //  innermost key 1
        for (int i = 0; i < 30; i++)
            deep[n++] = 0x02;           //  value 2 at every level
        zj_err_t err;
        char *json = zj_json_from_msgpack (deep, n, &err);
        ASSERT_TRUE (json != NULL);
        ASSERT_TRUE (strlen (json) < 200);
        free (json);
    }
    //  numbers
    s_expect_text (BYTES ("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), "18446744073709551615");
    s_expect_text (BYTES ("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"), "-9223372036854775808");
    s_expect_text (BYTES ("\xd0\x05"), "5");
    s_expect_text (BYTES ("\xca\x3d\xcc\xcc\xcd"), "0.1");            //  float32 0.1
    s_expect_text (BYTES ("\xca\x40\x00\x00\x00"), "2.0");
    s_expect_text (BYTES ("\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a"), "0.1");
    //  NaN and infinities have no JSON form: null
    s_expect_text (BYTES ("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"), "null");
    s_expect_text (BYTES ("\xcb\xff\xf0\x00\x00\x00\x00\x00\x00"), "null");
    s_expect_text (BYTES ("\xca\x7f\x80\x00\x00"), "null");
    //  a big array is one line
    s_expect_text (BYTES ("\x93\xa2\x0a\x0d\x90\x80"), "[\"\\n\\r\",[],{}]");
}

static void test_from_msgpack_errors (void)
{
    const char *bad [] = {
        "", "\xc1", "\x92\x01", ("\xa3" "ab"), "\xdd\xff\xff\xff\xff", "\xc0\xc0",
        "\xcb\x00",
    };
    size_t lens [] = { 0, 1, 2, 3, 5, 2, 2 };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        zj_err_t err = ZJ_OK;
        char *json = zj_json_from_msgpack ((const uint8_t *) bad [i], lens [i], &err);
        ASSERT_TRUE (json == NULL);
        ASSERT_ERR (err, ZJ_EPROTO);
        ASSERT_TRUE (zj_json_from_msgpack ((const uint8_t *) bad [i], lens [i], NULL) == NULL);
    }
    ASSERT_TRUE (zj_json_from_msgpack (NULL, 0, NULL) == NULL);
    //  Deeper than the codec's limit is refused, not recursed into.
    uint8_t deep [ZJ_MAX_DEPTH + 1];
    memset (deep, 0x91, sizeof deep);
    deep [ZJ_MAX_DEPTH] = 0x90;
    zj_err_t err = ZJ_OK;
    ASSERT_TRUE (zj_json_from_msgpack (deep, sizeof deep, &err) == NULL);
    ASSERT_ERR (err, ZJ_EPROTO);
    char *json = zj_json_from_msgpack (deep + 1, sizeof deep - 1, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_EQ (strlen (json), 2 * ZJ_MAX_DEPTH);
    free (json);
}

//  A long value renders whole (the output buffer grows).
static void test_large (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 10000);
    for (int i = 0; i < 10000; i++)
        zj_enc_cstr (enc, "0123456789");
    zj_err_t err;
    char *json = zj_json_from_msgpack (zj_enc_data (enc), zj_enc_size (enc), &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_EQ (strlen (json), 2 + 10000 * 12 + 9999);
    ASSERT_TRUE (json [0] == '[' && json [strlen (json) - 1] == ']');
    free (json);
    zj_enc_destroy (&enc);
}

int main (void)
{
    ZT_RUN (test_to_msgpack);
    ZT_RUN (test_to_msgpack_errors);
    ZT_RUN (test_round_trips);
    ZT_RUN (test_arg_rule);
    ZT_RUN (test_from_msgpack);
    ZT_RUN (test_from_msgpack_errors);
    ZT_RUN (test_large);
    return 0;
}
