// SPDX-License-Identifier: MIT
//  framing_test - the --serve pipe protocol: frames cut from a byte
//  stream however it is split, bad lengths refused before allocation,
//  hello/ok/error parsed, every malformed shape refused with a reason,
//  and task frames encoded as the document says.
#include <stdlib.h>
#include "framing.h"
#include "harness.h"
#include "json.h"
#include "msg.h"

//  Feed `len` bytes to the reader, as one read from the pipe would.
static void
s_feed (framing_reader_t *r, const uint8_t *data, size_t len)
{
    size_t size;
    uint8_t *space = framing_reader_space (r, len, &size);
    ASSERT_TRUE (space && size >= len);
    memcpy (space, data, len);
    framing_reader_commit (r, len);
}

//  A frame: prefix + body encoded from JSON by the codec's JSON bridge.
static size_t
s_frame_json (uint8_t *out, size_t cap, const char *json)
{
    zj_enc_t *enc = zj_enc_new ();
    ASSERT_ERR (zj_json_to_msgpack (enc, json, strlen (json)), ZJ_OK);
    size_t len = zj_enc_size (enc);
    ASSERT_TRUE (len + FRAMING_HEADER <= cap);
    framing_put_header (out, len);
    memcpy (out + FRAMING_HEADER, zj_enc_data (enc), len);
    zj_enc_destroy (&enc);
    return len + FRAMING_HEADER;
}

static void
test_reader_splits_and_joins (void)
{
    uint8_t stream[256];
    size_t n1 = s_frame_json (stream, sizeof stream, "[\"ok\", 1, \"one\"]");
    size_t n2 = s_frame_json (stream + n1, sizeof stream - n1, "[\"ok\", 2, [1, 2, 3]]");
    size_t total = n1 + n2;
    //  Every way of cutting the stream in two pieces gives the same frames.
    for (size_t cut = 0; cut <= total; cut++) {
        framing_reader_t r;
        framing_reader_init (&r, 1024);
        const uint8_t *body;
        size_t len;
        int frames = 0;
        s_feed (&r, stream, cut);
        while (framing_reader_next (&r, &body, &len) == FRAMING_FRAME) {
            frames++;
            ASSERT_EQ (len, frames == 1 ? n1 - 4 : n2 - 4);
        }
        s_feed (&r, stream + cut, total - cut);
        while (framing_reader_next (&r, &body, &len) == FRAMING_FRAME) {
            frames++;
            framing_msg_t msg;
            const char *why;
            ASSERT_TRUE (framing_parse (body, len, &msg, &why));
            ASSERT_EQ (msg.id, (uint64_t) frames);
        }
        ASSERT_EQ (frames, 2);
        ASSERT_EQ (framing_reader_pending (&r), 0);
        framing_reader_clear (&r);
    }
}

static void
test_reader_byte_at_a_time (void)
{
    uint8_t stream[256];
    size_t n = s_frame_json (stream, sizeof stream, "[\"hello\", 1, [\"m:f\", \"m:g\"]]");
    framing_reader_t r;
    framing_reader_init (&r, 1024);
    const uint8_t *body;
    size_t len;
    for (size_t i = 0; i + 1 < n; i++) {
        s_feed (&r, stream + i, 1);
        ASSERT_EQ (framing_reader_next (&r, &body, &len), FRAMING_MORE);
    }
    s_feed (&r, stream + n - 1, 1);
    ASSERT_EQ (framing_reader_next (&r, &body, &len), FRAMING_FRAME);
    framing_msg_t msg;
    const char *why;
    ASSERT_TRUE (framing_parse (body, len, &msg, &why));
    ASSERT_EQ (msg.kind, FRAMING_HELLO);
    ASSERT_EQ (msg.version, 1);
    zj_str_t name;
    ASSERT_TRUE (framing_next_name (&msg, &name));
    ASSERT_VIEWEQ (name, "m:f");
    ASSERT_TRUE (framing_next_name (&msg, &name));
    ASSERT_VIEWEQ (name, "m:g");
    ASSERT_TRUE (!framing_next_name (&msg, &name));
    framing_reader_clear (&r);
}

static void
test_reader_refuses_bad_lengths (void)
{
    framing_reader_t r;
    const uint8_t *body;
    size_t len;
    //  Over the limit: refused from the prefix alone, nothing allocated for it.
    framing_reader_init (&r, 100);
    uint8_t big[4] = {0, 0, 0, 101};
    s_feed (&r, big, 4);
    ASSERT_EQ (framing_reader_next (&r, &body, &len), FRAMING_BAD_LENGTH);
    ASSERT_EQ (len, 101);
    ASSERT_TRUE (r.cap <= 4096);
    framing_reader_clear (&r);
    //  4 GiB - 1 claimed.
    uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
    s_feed (&r, huge, 4);
    ASSERT_EQ (framing_reader_next (&r, &body, &len), FRAMING_BAD_LENGTH);
    framing_reader_clear (&r);
    //  Zero-length frames are not frames.
    uint8_t zero[4] = {0, 0, 0, 0};
    s_feed (&r, zero, 4);
    ASSERT_EQ (framing_reader_next (&r, &body, &len), FRAMING_BAD_LENGTH);
    ASSERT_EQ (len, 0);
    framing_reader_clear (&r);
    //  Exactly at the limit is fine.
    uint8_t ok[4 + 100] = {0, 0, 0, 100};
    s_feed (&r, ok, sizeof ok);
    ASSERT_EQ (framing_reader_next (&r, &body, &len), FRAMING_FRAME);
    ASSERT_EQ (len, 100);
    framing_reader_clear (&r);
}

//  Parse a frame given as JSON. The views in *msg point into a static
//  encoder, valid until the next call.
static void
s_parse_json (const char *json, framing_msg_t *msg, bool expect_ok, const char *why_part)
{
    static zj_enc_t *enc;
    if (!enc)
        enc = zj_enc_new ();
    zj_enc_reset (enc);
    ASSERT_ERR (zj_json_to_msgpack (enc, json, strlen (json)), ZJ_OK);
    const char *why = NULL;
    bool ok = framing_parse (zj_enc_data (enc), zj_enc_size (enc), msg, &why);
    if (ok != expect_ok)
        ZT_FAIL ("framing_parse (%s): got %s (%s)", json, ok ? "ok" : "refused", why ? why : "");
    if (!ok && why_part && !strstr (why, why_part))
        ZT_FAIL ("framing_parse (%s): reason \"%s\" lacks \"%s\"", json, why, why_part);
}

static void
test_parse_ok_and_error (void)
{
    framing_msg_t msg;
    zj_enc_t *enc = zj_enc_new ();
    //  ok with a nested value; the value view covers exactly that object.
    zj_enc_array (enc, 3);
    zj_enc_cstr (enc, "ok");
    zj_enc_uint (enc, 7);
    zj_enc_map (enc, 1);
    zj_enc_cstr (enc, "a");
    zj_enc_array (enc, 2);
    zj_enc_int (enc, -1);
    zj_enc_double (enc, 2.5);
    const char *why;
    ASSERT_TRUE (framing_parse (zj_enc_data (enc), zj_enc_size (enc), &msg, &why));
    ASSERT_EQ (msg.kind, FRAMING_OK);
    ASSERT_EQ (msg.id, 7);
    char *json = zj_json_from_msgpack (msg.value.ptr, msg.value.len, NULL);
    ASSERT_STREQ (json, "{\"a\":[-1,2.5]}");
    free (json);
    zj_enc_destroy (&enc);

    s_parse_json ("[\"error\", 3, \"ValueError\", \"x==2\", \"Traceback...\"]", &msg, true, NULL);
    ASSERT_EQ (msg.kind, FRAMING_ERROR);
    ASSERT_EQ (msg.id, 3);
    ASSERT_VIEWEQ (msg.err_type, "ValueError");
    ASSERT_VIEWEQ (msg.err_message, "x==2");
    ASSERT_VIEWEQ (msg.err_traceback, "Traceback...");
    //  Later versions may add elements: they are ignored.
    s_parse_json ("[\"ok\", 4, null, {\"later\": true}]", &msg, true, NULL);
    ASSERT_EQ (msg.id, 4);
    s_parse_json ("[\"hello\", 1, [\"f\"]]", &msg, true, NULL);
    ASSERT_TRUE (!msg.chunks);
    s_parse_json ("[\"hello\", 1, [\"f\"], {\"chunk\": true, \"later\": [1]}, \"extra\"]",
                  &msg, true, NULL);
    ASSERT_TRUE (msg.chunks);
    s_parse_json ("[\"hello\", 1, [\"f\"], {\"chunk\": 1}]", &msg, true, NULL);
    ASSERT_TRUE (!msg.chunks);          //  not a boolean: not offered
}

static void
test_parse_refusals (void)
{
    framing_msg_t msg;
    s_parse_json ("{\"ok\": 1}", &msg, false, "array");
    s_parse_json ("[]", &msg, false, "kind");
    s_parse_json ("[1, 2, 3]", &msg, false, "kind");
    s_parse_json ("[\"result\", 1, 2]", &msg, false, "unknown message kind");
    s_parse_json ("[\"ok\", 1]", &msg, false, "id and a value");
    s_parse_json ("[\"ok\", -1, 2]", &msg, false, "task id");
    s_parse_json ("[\"ok\", \"1\", 2]", &msg, false, "task id");
    s_parse_json ("[\"error\", 1, \"T\", \"m\"]", &msg, false, "traceback");
    s_parse_json ("[\"error\", 1, \"\", \"m\", \"\"]", &msg, false, "type");
    s_parse_json ("[\"error\", 1, \"T\", 5, \"\"]", &msg, false, "message");
    s_parse_json ("[\"hello\", 1]", &msg, false, "version");
    s_parse_json ("[\"hello\", \"1\", [\"f\"]]", &msg, false, "version");
    s_parse_json ("[\"hello\", 1, []]", &msg, false, "at least one");
    s_parse_json ("[\"hello\", 1, \"f\"]", &msg, false, "array");
    s_parse_json ("[\"hello\", 1, [\"has space\"]]", &msg, false, "printable");
    s_parse_json ("[\"hello\", 1, [7]]", &msg, false, "string");
    s_parse_json ("[\"hello\", 1, [\"f\"], \"features\"]", &msg, false, "map of features");
    s_parse_json ("[\"hello\", 1, [\"f\"], {\"1\": 2, \"chunk\": true}]", &msg, true, NULL);
    //  A 129-byte name is one too many.
    char json[256];
    char name[130];
    memset (name, 'f', 129);
    name[129] = 0;
    snprintf (json, sizeof json, "[\"hello\", 1, [\"%s\"]]", name);
    s_parse_json (json, &msg, false, "printable");
    name[128] = 0;
    snprintf (json, sizeof json, "[\"hello\", 1, [\"%s\"]]", name);
    s_parse_json (json, &msg, true, NULL);

    //  A value nested 33 deep is refused (the broker would refuse the DONE).
    zj_enc_t *enc = zj_enc_new ();
    zj_enc_array (enc, 3);
    zj_enc_cstr (enc, "ok");
    zj_enc_uint (enc, 1);
    for (int i = 0; i < 33; i++)
        zj_enc_array (enc, 1);
    zj_enc_nil (enc);
    const char *why;
    ASSERT_TRUE (!framing_parse (zj_enc_data (enc), zj_enc_size (enc), &msg, &why));
    ASSERT_TRUE (strstr (why, "deeper") != NULL);
    //  Truncated bodies and trailing garbage are refused.
    zj_enc_reset (enc);
    zj_enc_array (enc, 3);
    zj_enc_cstr (enc, "ok");
    zj_enc_uint (enc, 1);
    zj_enc_cstr (enc, "value");
    size_t len = zj_enc_size (enc);
    for (size_t cut = 0; cut < len; cut++)
        ASSERT_TRUE (!framing_parse (zj_enc_data (enc), cut, &msg, &why));
    uint8_t longer[64];
    memcpy (longer, zj_enc_data (enc), len);
    longer[len] = 0xc0;
    ASSERT_TRUE (!framing_parse (longer, len + 1, &msg, &why));
    //  An array header that claims more elements than bytes remain.
    uint8_t liar[] = {0x93, 0xa2, 'o', 'k', 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff};
    ASSERT_TRUE (!framing_parse (liar, sizeof liar, &msg, &why));
    zj_enc_destroy (&enc);
}

//  Check a chunk result given as JSON.
static bool
s_chunk_ok (const char *json, uint32_t count)
{
    zj_enc_t *enc = zj_enc_new ();
    ASSERT_ERR (zj_json_to_msgpack (enc, json, strlen (json)), ZJ_OK);
    zj_raw_t raw = {zj_enc_data (enc), zj_enc_size (enc)};
    const char *why = NULL;
    bool ok = framing_check_chunk (raw, count, &why);
    ASSERT_TRUE (ok || why);
    zj_enc_destroy (&enc);
    return ok;
}

static void
test_check_chunk (void)
{
    ASSERT_TRUE (s_chunk_ok ("[[true, 1], [false, [\"ValueError\", \"x==2\", \"tb\"]], [true, {\"a\": [null]}]]", 3));
    ASSERT_TRUE (s_chunk_ok ("[]", 0));
    ASSERT_TRUE (!s_chunk_ok ("[[true, 1]]", 2));                  //  too few entries
    ASSERT_TRUE (!s_chunk_ok ("[[true, 1], [true, 2]]", 1));       //  too many
    ASSERT_TRUE (!s_chunk_ok ("{\"a\": 1}", 1));
    ASSERT_TRUE (!s_chunk_ok ("[[1, 1]]", 1));                     //  ok not a boolean
    ASSERT_TRUE (!s_chunk_ok ("[[true]]", 1));
    ASSERT_TRUE (!s_chunk_ok ("[[false, \"oops\"]]", 1));          //  error not a triple
    ASSERT_TRUE (!s_chunk_ok ("[[false, [\"T\", \"m\"]]]", 1));
    ASSERT_TRUE (!s_chunk_ok ("[[false, [\"T\", \"m\", 3]]]", 1));
}

static void
test_encode_task (void)
{
    zj_enc_t *args = zj_enc_new ();
    ASSERT_ERR (zj_json_to_msgpack (args, "[1, \"two\", [3]]", 15), ZJ_OK);
    zj_enc_t *enc = zj_enc_new ();
    zj_str_t fn = {"mod:fn", 6};
    zj_raw_t raw = {zj_enc_data (args), zj_enc_size (args)};
    framing_encode_task (enc, 42, fn, raw, false);
    char *json = zj_json_from_msgpack (zj_enc_data (enc), zj_enc_size (enc), NULL);
    ASSERT_STREQ (json, "[\"task\",42,\"mod:fn\",[1,\"two\",[3]]]");
    free (json);
    framing_encode_task (enc, 43, fn, raw, true);
    json = zj_json_from_msgpack (zj_enc_data (enc), zj_enc_size (enc), NULL);
    ASSERT_STREQ (json, "[\"chunk\",43,\"mod:fn\",[1,\"two\",[3]]]");
    free (json);
    uint8_t header[4];
    framing_put_header (header, 0x01020304);
    ASSERT_EQ (header[0], 1);
    ASSERT_EQ (header[3], 4);
    zj_enc_destroy (&enc);
    zj_enc_destroy (&args);
}

int
main (void)
{
    ZT_RUN (test_reader_splits_and_joins);
    ZT_RUN (test_reader_byte_at_a_time);
    ZT_RUN (test_reader_refuses_bad_lengths);
    ZT_RUN (test_parse_ok_and_error);
    ZT_RUN (test_parse_refusals);
    ZT_RUN (test_check_chunk);
    ZT_RUN (test_encode_task);
    return 0;
}
