// SPDX-License-Identifier: MIT
//  map_test - zj_map ordering and chunk result expansion, with the submit
//  step replaced by one that records each task and returns a detached
//  future that the test settles.
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include "harness.h"
#include "future.h"
#include "map.h"
#include "msg.h"

typedef struct {
    zj_future_t *futures[64];   //  one per submitted task; the fake holds a reference
    uint8_t *args[64];          //  copies of their args
    size_t lens[64];
    bool chunk[64];
    size_t count;
    int fail_at;                //  submit number that fails with QueueFull; -1 none
} fake_t;

static zj_future_t *s_submit (void *ctx, const uint8_t *args, size_t len, bool chunk,
                              zj_err_t *err)
{
    fake_t *fake = ctx;
    if ((int) fake->count == fake->fail_at) {
        *err = ZJ_EQUEUEFULL;
        return NULL;
    }
    zj_future_t *f = zj__future_new (NULL);
    atomic_fetch_add (&f->refs, 1);     //  the fake's own, dropped in s_fake_fini
    size_t i = fake->count++;
    fake->futures[i] = f;
    fake->args[i] = malloc (len);
    memcpy (fake->args[i], args, len);
    fake->lens[i] = len;
    fake->chunk[i] = chunk;
    *err = ZJ_OK;
    return f;
}

static void s_fake_fini (fake_t *fake)
{
    for (size_t i = 0; i < fake->count; i++) {
        //  Settle what the test left pending so the futures are freed.
        zj__future_complete (fake->futures[i], ZJ_ESHUTDOWN, NULL);
        zj__future_unref (fake->futures[i]);
        free (fake->args[i]);
    }
}

static void s_settle_enc (zj_future_t *f, zj_enc_t *enc)
{
    zj__lock ();
    bool settled = zj__future_settle_value (f, zj_enc_data (enc), zj_enc_size (enc));
    zj__unlock ();
    if (settled)
        zj__future_release (f);
}

//  Items [i] for i in 0..n-1, encoded into one buffer.
typedef struct {
    zj_enc_t *enc;
    const uint8_t *items[16];
    size_t lens[16];
} items_t;

static void s_items (items_t *it, size_t n)
{
    it->enc = zj_enc_new ();
    size_t offs[16];
    for (size_t i = 0; i < n; i++) {
        offs[i] = zj_enc_size (it->enc);
        zj_enc_array (it->enc, 1);
        zj_enc_int (it->enc, (int64_t) i * 10);
    }
    for (size_t i = 0; i < n; i++) {
        it->items[i] = zj_enc_data (it->enc) + offs[i];
        it->lens[i] = (i + 1 < n ? offs[i + 1] : zj_enc_size (it->enc)) - offs[i];
    }
}

static void test_plain_ordered (void)
{
    fake_t fake = {.fail_at = -1};
    items_t it;
    s_items (&it, 5);
    zj_err_t err;
    zj_map_t *map = zj__map_new_with (s_submit, &fake, it.items, it.lens, 5, 1, true, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_EQ (fake.count, 5);
    ASSERT_EQ (zj_map_count (map), 5);
    for (size_t i = 0; i < 5; i++) {
        ASSERT_TRUE (!fake.chunk[i]);
        ASSERT_EQ (fake.lens[i], it.lens[i]);
        ASSERT_TRUE (memcmp (fake.args[i], it.items[i], it.lens[i]) == 0);
    }
    size_t index = 99;
    const uint8_t *value;
    size_t len;
    const zj_error_t *error;
    ASSERT_ERR (zj_map_next (map, 0.01, &index, &value, &len, &error), ZJ_ETIMEDOUT);
    ASSERT_EQ (index, 99);

    //  Settle in reverse order; the map still yields 0, 1, 2...
    zj_enc_t *enc = zj_enc_new ();
    for (int i = 4; i >= 0; i--) {
        if (i == 3) {
            zj_outcome_t out = {.state = ZJ_STATE_FAILED, .err_type = {"KeyError", 8},
                                .err_message = {"k", 1}, .err_traceback = {"", 0}};
            zj__lock ();
            zj__future_settle_outcome (fake.futures[i], &out);
            zj__unlock ();
            zj__future_release (fake.futures[i]);
            continue;
        }
        zj_enc_reset (enc);
        zj_enc_int (enc, 100 + i);
        s_settle_enc (fake.futures[i], enc);
    }
    ASSERT_EQ (zj_map_done_count (map), 5);
    for (size_t i = 0; i < 5; i++) {
        zj_err_t rc = zj_map_next (map, -1, &index, &value, &len, &error);
        ASSERT_EQ (index, i);
        if (i == 3) {
            ASSERT_ERR (rc, ZJ_ETASK);
            ASSERT_STREQ (zj_error_type (error), "KeyError");
            ASSERT_TRUE (value == NULL);
            continue;
        }
        ASSERT_ERR (rc, ZJ_OK);
        ASSERT_TRUE (error == NULL);
        ASSERT_EQ (len, 1);
        ASSERT_EQ (value[0], 100 + i);
    }
    ASSERT_ERR (zj_map_next (map, -1, &index, &value, &len, &error), ZJ_ESHUTDOWN);
    ASSERT_ERR (zj_map_next (map, -1, &index, &value, &len, &error), ZJ_ESHUTDOWN);
    zj_map_destroy (&map);
    ASSERT_TRUE (map == NULL);
    zj_enc_destroy (&enc);
    zj_enc_destroy (&it.enc);
    s_fake_fini (&fake);
}

static void test_plain_unordered (void)
{
    fake_t fake = {.fail_at = -1};
    items_t it;
    s_items (&it, 4);
    zj_err_t err;
    zj_map_t *map = zj__map_new_with (s_submit, &fake, it.items, it.lens, 4, 1, false, &err);
    ASSERT_TRUE (map != NULL);
    int order[] = {2, 0, 3, 1};
    zj_enc_t *enc = zj_enc_new ();
    size_t index;
    const uint8_t *value;
    size_t len;
    for (int k = 0; k < 4; k++) {
        zj_enc_reset (enc);
        zj_enc_int (enc, order[k]);
        s_settle_enc (fake.futures[order[k]], enc);
        ASSERT_ERR (zj_map_next (map, 1, &index, &value, &len, NULL), ZJ_OK);
        ASSERT_EQ (index, (size_t) order[k]);
        ASSERT_EQ (value[0], order[k]);
    }
    ASSERT_ERR (zj_map_next (map, 1, &index, &value, &len, NULL), ZJ_ESHUTDOWN);
    zj_map_destroy (&map);
    zj_enc_destroy (&enc);
    zj_enc_destroy (&it.enc);
    s_fake_fini (&fake);
}

static void test_chunks (void)
{
    fake_t fake = {.fail_at = -1};
    items_t it;
    s_items (&it, 7);
    zj_err_t err;
    //  7 items, 3 per chunk: chunks of 3, 3 and 1.
    zj_map_t *map = zj__map_new_with (s_submit, &fake, it.items, it.lens, 7, 3, true, &err);
    ASSERT_ERR (err, ZJ_OK);
    ASSERT_EQ (fake.count, 3);
    ASSERT_TRUE (fake.chunk[0] && fake.chunk[2]);
    //  Chunk args: an array of the items' argument arrays.
    zj_enc_t *want = zj_enc_new ();
    zj_enc_array (want, 3);
    for (int i = 3; i < 6; i++)
        zj_enc_raw (want, it.items[i], it.lens[i]);
    ASSERT_EQ (fake.lens[1], zj_enc_size (want));
    ASSERT_TRUE (memcmp (fake.args[1], zj_enc_data (want), fake.lens[1]) == 0);
    zj_enc_destroy (&want);

    zj_enc_t *enc = zj_enc_new ();
    //  Chunk 0: [[true, 0], [false, ["ValueError", "item 1", "tb"]], [true, "two"]]
    zj_enc_array (enc, 3);
    zj_enc_array (enc, 2);
    zj_enc_bool (enc, true);
    zj_enc_int (enc, 0);
    zj_enc_array (enc, 2);
    zj_enc_bool (enc, false);
    zj_enc_array (enc, 3);
    zj_enc_cstr (enc, "ValueError");
    zj_enc_cstr (enc, "item 1");
    zj_enc_cstr (enc, "tb");
    zj_enc_array (enc, 3);      //  an extra element is ignored (protocol rule 3.3)
    zj_enc_bool (enc, true);
    zj_enc_cstr (enc, "two");
    zj_enc_nil (enc);
    s_settle_enc (fake.futures[0], enc);
    ASSERT_EQ (zj_map_done_count (map), 3);
    //  Chunk 2 (one item) failed as a whole.
    zj__future_complete (fake.futures[2], ZJ_EUNREACHABLE, "gone");
    ASSERT_EQ (zj_map_done_count (map), 4);

    size_t index;
    const uint8_t *value;
    size_t len;
    const zj_error_t *error;
    ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_OK);
    ASSERT_EQ (index, 0);
    ASSERT_EQ (len, 1);
    ASSERT_EQ (value[0], 0);
    ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_ETASK);
    ASSERT_EQ (index, 1);
    ASSERT_STREQ (zj_error_type (error), "ValueError");
    ASSERT_STREQ (zj_error_message (error), "item 1");
    ASSERT_STREQ (zj_error_traceback (error), "tb");
    ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_OK);
    ASSERT_EQ (index, 2);
    ASSERT_EQ (len, 4);
    ASSERT_TRUE (memcmp (value, "\xa3two", 4) == 0);
    //  Chunk 1 is not done: ordered output waits for it.
    ASSERT_ERR (zj_map_next (map, 0.01, &index, &value, &len, &error), ZJ_ETIMEDOUT);
    //  Its result is malformed: two pairs for three items.
    zj_enc_reset (enc);
    zj_enc_array (enc, 2);
    for (int k = 0; k < 2; k++) {
        zj_enc_array (enc, 2);
        zj_enc_bool (enc, true);
        zj_enc_nil (enc);
    }
    s_settle_enc (fake.futures[1], enc);
    for (size_t i = 3; i < 6; i++) {
        ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_EPROTO);
        ASSERT_EQ (index, i);
        ASSERT_STREQ (zj_error_type (error), "ProtocolError");
    }
    ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_EUNREACHABLE);
    ASSERT_EQ (index, 6);
    ASSERT_STREQ (zj_error_type (error), "BrokerUnreachable");
    ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_ESHUTDOWN);
    ASSERT_EQ (zj_map_done_count (map), 7);
    zj_map_destroy (&map);
    zj_enc_destroy (&enc);
    zj_enc_destroy (&it.enc);
    s_fake_fini (&fake);
}

//  Pairs that break the [ok, payload] shape, read with the bounded reader:
//  each bad pair is a ProtocolError for its item, the good ones still count.
static void test_bad_pairs (void)
{
    fake_t fake = {.fail_at = -1};
    items_t it;
    s_items (&it, 4);
    zj_err_t err;
    zj_map_t *map = zj__map_new_with (s_submit, &fake, it.items, it.lens, 4, 4, true, &err);
    ASSERT_ERR (err, ZJ_OK);
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 4);
    zj_enc_array (enc, 2);      //  [1, "x"]: the flag is not a bool
    zj_enc_int (enc, 1);
    zj_enc_cstr (enc, "x");
    zj_enc_array (enc, 2);      //  [false, 7]: the error is not [type, message, tb]
    zj_enc_bool (enc, false);
    zj_enc_int (enc, 7);
    zj_enc_array (enc, 2);      //  [false, ["T", 3]]: a message that is not a string
    zj_enc_bool (enc, false);
    zj_enc_array (enc, 2);
    zj_enc_cstr (enc, "T");
    zj_enc_int (enc, 3);
    zj_enc_array (enc, 2);      //  [true, 40]: fine
    zj_enc_bool (enc, true);
    zj_enc_int (enc, 40);
    s_settle_enc (fake.futures[0], enc);
    size_t index;
    const uint8_t *value;
    size_t len;
    const zj_error_t *error;
    //  A bad flag leaves the rest of the chunk unreadable.
    for (size_t i = 0; i < 4; i++) {
        ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_EPROTO);
        ASSERT_EQ (index, i);
        ASSERT_STREQ (zj_error_type (error), "ProtocolError");
    }
    zj_map_destroy (&map);

    //  The same without the bad flag: the bad errors are per item.
    map = zj__map_new_with (s_submit, &fake, it.items, it.lens, 3, 3, true, &err);
    zj_enc_reset (enc);
    zj_enc_array (enc, 3);
    zj_enc_array (enc, 2);
    zj_enc_bool (enc, false);
    zj_enc_int (enc, 7);
    zj_enc_array (enc, 2);
    zj_enc_bool (enc, false);
    zj_enc_array (enc, 2);
    zj_enc_cstr (enc, "T");
    zj_enc_int (enc, 3);
    zj_enc_array (enc, 2);
    zj_enc_bool (enc, true);
    zj_enc_int (enc, 40);
    s_settle_enc (fake.futures[1], enc);
    for (size_t i = 0; i < 2; i++) {
        ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_EPROTO);
        ASSERT_EQ (index, i);
        ASSERT_STREQ (zj_error_type (error), "ProtocolError");
    }
    ASSERT_ERR (zj_map_next (map, 0, &index, &value, &len, &error), ZJ_OK);
    ASSERT_EQ (index, 2);
    ASSERT_EQ (len, 1);
    ASSERT_EQ (value[0], 40);
    zj_map_destroy (&map);

    //  Truncated and lying headers are refused, never read past.
    const uint8_t trunc[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    ASSERT_TRUE (!zj__is_array (trunc, sizeof trunc));
    ASSERT_TRUE (!zj__is_array (trunc, 2));
    const uint8_t one[] = {0x91, 0x01};
    ASSERT_TRUE (zj__is_array (one, sizeof one));
    ASSERT_TRUE (!zj__is_array (one, 1));
    zj_enc_destroy (&enc);
    zj_enc_destroy (&it.enc);
    s_fake_fini (&fake);
}

static void test_bad_input (void)
{
    fake_t fake = {.fail_at = -1};
    items_t it;
    s_items (&it, 3);
    zj_err_t err;
    ASSERT_TRUE (zj__map_new_with (s_submit, &fake, it.items, it.lens, 3, 0, true, &err) == NULL);
    ASSERT_ERR (err, ZJ_EINVAL);
    //  An item that is not an argument array.
    const uint8_t not_array = 0x05;
    const uint8_t *bad[] = {it.items[0], &not_array};
    size_t lens[] = {it.lens[0], 1};
    ASSERT_TRUE (zj__map_new_with (s_submit, &fake, bad, lens, 2, 1, true, &err) == NULL);
    ASSERT_ERR (err, ZJ_EINVAL);
    ASSERT_EQ (fake.count, 0);
    //  A refused submit fails the map.
    fake.fail_at = 1;
    ASSERT_TRUE (zj__map_new_with (s_submit, &fake, it.items, it.lens, 3, 1, true, &err) == NULL);
    ASSERT_ERR (err, ZJ_EQUEUEFULL);
    //  An empty map ends at once.
    zj_map_t *map = zj__map_new_with (s_submit, &fake, NULL, NULL, 0, 1, true, &err);
    ASSERT_TRUE (map != NULL);
    ASSERT_ERR (zj_map_next (map, -1, NULL, NULL, NULL, NULL), ZJ_ESHUTDOWN);
    zj_map_destroy (&map);
    zj_enc_destroy (&it.enc);
    s_fake_fini (&fake);
}

int main (void)
{
    ZT_RUN (test_plain_ordered);
    ZT_RUN (test_plain_unordered);
    ZT_RUN (test_chunks);
    ZT_RUN (test_bad_pairs);
    ZT_RUN (test_bad_input);
    return 0;
}
