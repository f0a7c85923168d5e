// SPDX-License-Identifier: MIT
//  args_test - raw msgpack argument views: array iteration, numbers,
//  strings and type names, on bytes built with the codec's encoder.
#include <math.h>
#include "args.h"
#include "harness.h"
#include "msg.h"

static zj_raw_t
s_raw (zj_enc_t *enc)
{
    zj_raw_t raw = {zj_enc_data (enc), zj_enc_size (enc)};
    return raw;
}

static void
test_iterate (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 3);
    zj_enc_int (enc, -5);
    zj_enc_cstr (enc, "hi");
    zj_enc_array (enc, 2);
    zj_enc_nil (enc);
    zj_enc_double (enc, 2.5);
    args_iter_t it;
    ASSERT_TRUE (args_iter_init (&it, s_raw (enc)));
    ASSERT_EQ (it.count, 3);
    zj_raw_t item;
    double d;
    zj_str_t s;
    ASSERT_TRUE (args_iter_next (&it, &item));
    ASSERT_TRUE (args_number (item, &d));
    ASSERT_EQ (d, -5);
    ASSERT_STREQ (args_type_name (item), "integer");
    ASSERT_TRUE (args_iter_next (&it, &item));
    ASSERT_TRUE (args_string (item, &s));
    ASSERT_VIEWEQ (s, "hi");
    ASSERT_TRUE (!args_number (item, &d));
    ASSERT_TRUE (args_iter_next (&it, &item));
    ASSERT_TRUE (args_is_array (item));
    ASSERT_EQ (item.len, 1 + 1 + 9);
    ASSERT_TRUE (!args_iter_next (&it, &item));
    zj_enc_destroy (&enc);
}

static void
test_large_array (void)
{
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 70000);      //  array 32 header
    for (int i = 0; i < 70000; i++)
        zj_enc_uint (enc, (uint64_t) i);
    args_iter_t it;
    ASSERT_TRUE (args_iter_init (&it, s_raw (enc)));
    ASSERT_EQ (it.count, 70000);
    zj_raw_t item;
    double d = -1;
    uint32_t n = 0;
    while (args_iter_next (&it, &item)) {
        ASSERT_TRUE (args_number (item, &d));
        ASSERT_EQ (d, n);
        n++;
    }
    ASSERT_EQ (n, 70000);
    zj_enc_destroy (&enc);
}

static void
test_numbers (void)
{
    zj_enc_t *enc = zj_enc_new ();
    int64_t ints[] = {0, 127, 128, 255, 256, 65536, -1, -33, -129, -40000, 5000000000LL,
                      -5000000000LL};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        zj_enc_reset (enc);
        zj_enc_int (enc, ints[i]);
        double d;
        ASSERT_TRUE (args_number (s_raw (enc), &d));
        ASSERT_EQ (d, ints[i]);
    }
    zj_enc_reset (enc);
    zj_enc_uint (enc, UINT64_MAX);
    double d;
    ASSERT_TRUE (args_number (s_raw (enc), &d));
    ASSERT_TRUE (d > 1.8e19);
    zj_enc_reset (enc);
    zj_enc_double (enc, 0.25);
    ASSERT_TRUE (args_number (s_raw (enc), &d));
    ASSERT_TRUE (d == 0.25);
    ASSERT_STREQ (args_type_name (s_raw (enc)), "float");
    //  float32 written by hand: 1.5f
    uint8_t f32[] = {0xca, 0x3f, 0xc0, 0x00, 0x00};
    zj_raw_t raw = {f32, sizeof f32};
    ASSERT_TRUE (args_number (raw, &d));
    ASSERT_TRUE (d == 1.5);
    //  truncated input is refused
    raw.len = 3;
    ASSERT_TRUE (!args_number (raw, &d));
    zj_enc_destroy (&enc);
}

static void
test_strings_and_types (void)
{
    zj_enc_t *enc = zj_enc_new ();
    char big[300];
    memset (big, 'x', sizeof big);
    zj_enc_str (enc, big, sizeof big);      //  str16
    zj_str_t s;
    ASSERT_TRUE (args_string (s_raw (enc), &s));
    ASSERT_EQ (s.len, 300);
    ASSERT_TRUE (s.ptr[0] == 'x' && s.ptr[299] == 'x');
    zj_enc_reset (enc);
    zj_enc_bool (enc, true);
    ASSERT_STREQ (args_type_name (s_raw (enc)), "boolean");
    ASSERT_TRUE (!args_string (s_raw (enc), &s));
    zj_enc_reset (enc);
    zj_enc_map (enc, 0);
    ASSERT_STREQ (args_type_name (s_raw (enc)), "map");
    ASSERT_TRUE (!args_is_array (s_raw (enc)));
    args_iter_t it;
    ASSERT_TRUE (!args_iter_init (&it, s_raw (enc)));
    zj_raw_t none = {NULL, 0};
    ASSERT_STREQ (args_type_name (none), "nothing");
    zj_raw_t nil = {args_nil, 1};
    ASSERT_STREQ (args_type_name (nil), "nil");
    zj_enc_destroy (&enc);
}

int
main (void)
{
    ZT_RUN (test_iterate);
    ZT_RUN (test_large_array);
    ZT_RUN (test_numbers);
    ZT_RUN (test_strings_and_types);
    return 0;
}
