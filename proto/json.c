// SPDX-License-Identifier: MIT
//  json - JSON text <-> msgpack values for people and exec handlers.
//  JSON is parsed with jansson; msgpack is rendered to JSON by a small
//  writer over the bounded reader, after zj_raw_check has vetted it.
//
//  Rendering rules beyond plain JSON: doubles print in the shortest form
//  that reads back to the same value, always with a '.' or exponent (2.0,
//  0.1, 1e+300); NaN and infinities, which JSON cannot express, print as
//  null; a str or bin that is not valid UTF-8 prints as {"$bin":"<base64>"};
//  an ext prints as {"$ext":[type,"<base64>"]}; a map key that is a
//  number, bool or nil prints as its JSON text, e.g. {1:2} -> {"1":2}, and
//  any other non-string key (array, map, bin, ext) as "$msgpack:<base64>"
//  of its bytes.
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "mpread.h"

//  JSON -> msgpack

//  Nesting of a parsed value, counting containers only. jansson already
//  bounds its parser's depth (2048), so recursion here is safe.
static int s_json_depth (json_t *json)
{
    int deepest = 0;
    if (json_is_array (json)) {
        size_t i;
        json_t *v;
        json_array_foreach (json, i, v) {
            int d = s_json_depth (v);
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    if (json_is_object (json)) {
        for (void *it = json_object_iter (json); it; it = json_object_iter_next (json, it)) {
            int d = s_json_depth (json_object_iter_value (it));
            if (d > deepest)
                deepest = d;
        }
        return deepest + 1;
    }
    return 0;
}

static void s_pack (zj_enc_t *enc, json_t *json)
{
    switch (json_typeof (json)) {
        case JSON_OBJECT:
            zj_enc_map (enc, (uint32_t) json_object_size (json));
            for (void *it = json_object_iter (json); it; it = json_object_iter_next (json, it)) {
                zj_enc_str (enc, json_object_iter_key (it), json_object_iter_key_len (it));
                s_pack (enc, json_object_iter_value (it));
            }
            break;
        case JSON_ARRAY:
            zj_enc_array (enc, (uint32_t) json_array_size (json));
            for (size_t i = 0; i < json_array_size (json); i++)
                s_pack (enc, json_array_get (json, i));
            break;
        case JSON_STRING:
            zj_enc_str (enc, json_string_value (json), json_string_length (json));
            break;
        case JSON_INTEGER:
            zj_enc_int (enc, (int64_t) json_integer_value (json));
            break;
        case JSON_REAL:
            zj_enc_double (enc, json_real_value (json));
            break;
        case JSON_TRUE:
            zj_enc_bool (enc, true);
            break;
        case JSON_FALSE:
            zj_enc_bool (enc, false);
            break;
        case JSON_NULL:
            zj_enc_nil (enc);
            break;
    }
}

zj_err_t zj_json_to_msgpack (zj_enc_t *enc, const char *text, size_t len)
{
    json_error_t error;
    if (!text)
        return ZJ_EJSON;
    json_t *json = json_loadb (text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &error);
    if (!json)
        return ZJ_EJSON;
    //  Deeper than the codec accepts would only fail later, at the broker,
    //  as a ProtocolError far from its cause.
    if (s_json_depth (json) > ZJ_MAX_DEPTH) {
        json_decref (json);
        return ZJ_EJSON;
    }
    s_pack (enc, json);
    json_decref (json);
    return ZJ_OK;
}

void zj_json_arg_to_msgpack (zj_enc_t *enc, const char *arg)
{
    if (!arg)
        arg = "";
    size_t len = strlen (arg);
    if (zj_json_to_msgpack (enc, arg, len) != ZJ_OK)
        zj_enc_str (enc, arg, len);
}

//  msgpack -> JSON

//  A growing output string.
typedef struct {
    char *buf;                  //  the text, NUL-terminated when done
    size_t len;                 //  bytes written
    size_t cap;                 //  bytes allocated
    bool failed;                //  an allocation failed
} out_t;

static void s_put (out_t *out, const char *s, size_t n)
{
    if (out->failed)
        return;
    if (out->cap - out->len <= n) {
        size_t cap = out->cap ? out->cap : 64;
        while (cap - out->len <= n) {
            if (cap > SIZE_MAX / 2) {
                out->failed = true;
                return;
            }
            cap *= 2;
        }
        char *buf = realloc (out->buf, cap);
        if (!buf) {
            out->failed = true;
            return;
        }
        out->buf = buf;
        out->cap = cap;
    }
    memcpy (out->buf + out->len, s, n);
    out->len += n;
    out->buf[out->len] = 0;
}

static void s_puts (out_t *out, const char *s)
{
    s_put (out, s, strlen (s));
}

//  Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
static bool s_utf8_valid (const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = p [i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            more = 1; cp = c & 0x1f; min = 0x80;
        }
        else
        if (c >= 0xe0 && c <= 0xef) {
            more = 2; cp = c & 0x0f; min = 0x800;
        }
        else
        if (c >= 0xf0 && c <= 0xf4) {
            more = 3; cp = c & 0x07; min = 0x10000;
        }
        else
            return false;
        if (n - i <= more)
            return false;
        for (size_t k = 1; k <= more; k++) {
            if ((p [i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p [i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += more + 1;
    }
    return true;
}

static void s_put_string (out_t *out, const char *s, size_t n)
{
    static const char hex [] = "0123456789abcdef";
    size_t run = 0;             //  start of bytes that need no escape
    s_put (out, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s [i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        s_put (out, s + run, i - run);
        run = i + 1;
        char esc [7] = { '\\', 0 };
        size_t len = 2;
        switch (c) {
            case '"': esc [1] = '"'; break;
            case '\\': esc [1] = '\\'; break;
            case '\b': esc [1] = 'b'; break;
            case '\f': esc [1] = 'f'; break;
            case '\n': esc [1] = 'n'; break;
            case '\r': esc [1] = 'r'; break;
            case '\t': esc [1] = 't'; break;
            default:
                memcpy (esc + 1, "u00", 3);
                esc [4] = hex [c >> 4];
                esc [5] = hex [c & 15];
                len = 6;
        }
        s_put (out, esc, len);
    }
    s_put (out, s + run, n - run);
    s_put (out, "\"", 1);
}

static void s_put_base64_body (out_t *out, const uint8_t *p, size_t n);

static void s_put_base64 (out_t *out, const uint8_t *p, size_t n)
{
    s_put (out, "\"", 1);
    s_put_base64_body (out, p, n);
    s_put (out, "\"", 1);
}

static void s_put_base64_body (out_t *out, const uint8_t *p, size_t n)
{
    static const char abc [] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t) p [i] << 16;
        if (i + 1 < n)
            v |= (uint32_t) p [i + 1] << 8;
        if (i + 2 < n)
            v |= p [i + 2];
        char quad [4] = {
            abc [v >> 18], abc [(v >> 12) & 63],
            i + 1 < n ? abc [(v >> 6) & 63] : '=',
            i + 2 < n ? abc [v & 63] : '=',
        };
        s_put (out, quad, 4);
    }
}

//  The shortest %g form that reads back to the same value, so 0.1 prints
//  as 0.1, not 0.10000000000000001; a float32 is shortened as a float.
static void s_put_real (out_t *out, double d, bool single)
{
    if (!isfinite (d)) {
        s_puts (out, "null");
        return;
    }
    char text [40];
    int from = single ? 6 : 15, to = single ? 9 : 17;
    for (int prec = from; prec <= to; prec++) {
        snprintf (text, sizeof text, "%.*g", prec, d);
        if (single ? strtof (text, NULL) == (float) d : strtod (text, NULL) == d)
            break;
    }
    //  %g follows LC_NUMERIC; JSON wants '.' whatever the locale.
    bool real = false;
    for (char *c = text; *c; c++) {
        if (*c == ',')
            *c = '.';
        if (*c == '.' || *c == 'e')
            real = true;
    }
    s_puts (out, text);
    if (!real)
        s_puts (out, ".0");     //  keep 2.0 a real: it must not read back as 2
}

static void s_put_value (out_t *out, mpread_t *r);

//  A map key: a UTF-8 string as itself, anything else as its JSON text.
static void s_put_key (out_t *out, mpread_t *r)
{
    mpread_item_t it;
    mpread_t peek = *r;
    if (mpread_at_str (r) && mpread_item (&peek, &it)
    &&  s_utf8_valid (it.s.ptr, it.s.len)) {
        *r = peek;
        s_put_string (out, (const char *) it.s.ptr, it.s.len);
        return;
    }
    //  A container key as its JSON text, escaped as a string, would be
    //  escaped again by every key around it: output doubling per level of
    //  nesting (the decode fuzzer found a 113-byte frame taking seconds).
    //  Such keys print as the base64 of their bytes: linear, and exact.
    if (!mpread_item (&peek, &it))
        return;                 //  cannot happen: the value was validated
    if (it.kind == MPREAD_ARRAY || it.kind == MPREAD_MAP || it.kind == MPREAD_BIN
        || it.kind == MPREAD_EXT || it.kind == MPREAD_STR) {
        const uint8_t *start = r->p;
        if (!mpread_skip (r, ZJ_MAX_DEPTH)) {
            out->failed = true;
            return;
        }
        s_put (out, "\"$msgpack:", 10);
        s_put_base64_body (out, start, (size_t) (r->p - start));
        s_put (out, "\"", 1);
        return;
    }
    out_t key = { 0 };
    s_put_value (&key, r);
    if (key.failed)
        out->failed = true;
    else
        s_put_string (out, key.buf, key.len);
    free (key.buf);
}

//  One value from a validated object: cannot meet malformed bytes, and
//  recursion is bounded by ZJ_MAX_DEPTH.
static void s_put_value (out_t *out, mpread_t *r)
{
    mpread_item_t it;
    char num [24];
    if (!mpread_item (r, &it)) {
        out->failed = true;
        return;
    }
    switch (it.kind) {
        case MPREAD_NIL:
            s_puts (out, "null");
            break;
        case MPREAD_BOOL:
            s_puts (out, it.b ? "true" : "false");
            break;
        case MPREAD_UINT:
            snprintf (num, sizeof num, "%" PRIu64, it.u);
            s_puts (out, num);
            break;
        case MPREAD_INT:
            snprintf (num, sizeof num, "%" PRId64, it.i);
            s_puts (out, num);
            break;
        case MPREAD_FLOAT32:
        case MPREAD_FLOAT64:
            s_put_real (out, it.d, it.kind == MPREAD_FLOAT32);
            break;
        case MPREAD_STR:
        case MPREAD_BIN:
            if (s_utf8_valid (it.s.ptr, it.s.len))
                s_put_string (out, (const char *) it.s.ptr, it.s.len);
            else {
                s_puts (out, "{\"$bin\":");
                s_put_base64 (out, it.s.ptr, it.s.len);
                s_puts (out, "}");
            }
            break;
        case MPREAD_EXT:
            snprintf (num, sizeof num, "%d", it.s.type);
            s_puts (out, "{\"$ext\":[");
            s_puts (out, num);
            s_puts (out, ",");
            s_put_base64 (out, it.s.ptr, it.s.len);
            s_puts (out, "]}");
            break;
        case MPREAD_ARRAY:
            s_puts (out, "[");
            for (uint32_t i = 0; i < it.n && !out->failed; i++) {
                if (i > 0)
                    s_puts (out, ",");
                s_put_value (out, r);
            }
            s_puts (out, "]");
            break;
        case MPREAD_MAP:
            s_puts (out, "{");
            for (uint32_t i = 0; i < it.n && !out->failed; i++) {
                if (i > 0)
                    s_puts (out, ",");
                s_put_key (out, r);
                s_puts (out, ":");
                s_put_value (out, r);
            }
            s_puts (out, "}");
            break;
    }
}

char *zj_json_from_msgpack (const uint8_t *data, size_t size, zj_err_t *err)
{
    zj_err_t ignored;
    if (!err)
        err = &ignored;
    if (zj_raw_check (data, size) != ZJ_OK) {
        *err = ZJ_EPROTO;
        return NULL;
    }
    out_t out = { 0 };
    mpread_t r = { data, data + size };
    s_put_value (&out, &r);
    if (out.failed) {
        free (out.buf);
        *err = ZJ_ENOMEM;
        return NULL;
    }
    *err = ZJ_OK;
    return out.buf;
}
