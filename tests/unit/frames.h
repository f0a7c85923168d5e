// SPDX-License-Identifier: MIT
//  frames - helpers shared by the codec tests (codec_test, codec_reject_test).
//  Test code only: failures abort through harness.h.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "msg.h"

//  The frame under test, in a buffer of exactly its size. Owned here.
extern uint8_t *frames_data;
extern size_t frames_size;

//  Make the frame under test a copy of data.
void frames_set (const uint8_t *data, size_t size);
//  ... a copy of what enc holds (which must not have failed).
void frames_take (zj_enc_t *enc);
//  ... the msgpack form of JSON text written with ' for ", e.g. "[1,'a']".
void frames_json (const char *text);
//  ... bytes from hex pairs, spaces ignored, 'text' as its ASCII bytes,
//  e.g. "94 01 0c 00" or "a3 'pid'".
void frames_hex (const char *hex);
//  Write the msgpack form of JSON text (' for ") into enc, after a reset.
void frames_json_bytes (zj_enc_t *enc, const char *text);
//  Decode the frame under test with the default size limit.
zj_err_t frames_decode (zj_msg_t *msg, const char **why);

//  A value's msgpack bytes from JSON text (' for "); valid until
//  frames_free_all.
zj_raw_t frames_raw (const char *text);
//  True when a view lies inside the frame under test (or is empty and NULL).
bool frames_inside (const void *ptr, size_t len);
//  NUL-terminated copy of a view, cut at an embedded NUL. Caller frees.
char *frames_cstr (zj_str_t s);

//  Encode a decoded message again with the encoder API.
void frames_reencode (const zj_msg_t *decoded, zj_enc_t *enc);
//  Abort unless b (a's re-encoding, decoded) says the same as a.
void frames_expect_same (zj_msg_t a, zj_msg_t b);
//  Decode the frame under test, which our encoder made: it must re-encode
//  to the same bytes and decode to the same message. Returns the message.
zj_msg_t frames_round_trip (void);
//  Free the frame under test and every frames_raw buffer.
void frames_free_all (void);

static inline zj_str_t S (const char *s)
{
    return (zj_str_t) { s, strlen (s) };
}

static inline bool frames_raw_eq (zj_raw_t a, zj_raw_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp (a.ptr, b.ptr, a.len) == 0);
}

static inline bool frames_str_eq (zj_str_t a, zj_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp (a.ptr, b.ptr, a.len) == 0);
}

//  Decode the frame under test and demand `code` (and a reason on failure).
#define EXPECT_FRAME(label, code)                                           \
    do {                                                                    \
        zj_msg_t m_;                                                        \
        const char *w_ = NULL;                                              \
        zj_err_t e_ = frames_decode (&m_, &w_);                             \
        if (e_ != (code))                                                   \
            ZT_FAIL ("%s: got %s (%s), expected %s", label, zj_err_name (e_), \
                     w_ ? w_ : "no reason", zj_err_name (code));            \
        if (e_ != ZJ_OK && !w_)                                             \
            ZT_FAIL ("%s: refused without a reason", label);                \
    } while (0)

#define EXPECT_JSON(text, code)  do { frames_json (text); EXPECT_FRAME (text, code); } while (0)
#define EXPECT_HEX(hex, code)    do { frames_hex (hex); EXPECT_FRAME (hex, code); } while (0)
