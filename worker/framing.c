// SPDX-License-Identifier: MIT
//  framing - length-prefixed msgpack frames on a pipe; see framing.h.
//  Everything a process sends is untrusted: lengths are bounded before
//  any allocation, and bodies are read with the bounded mpread reader.
#include "framing.h"
#include <stdlib.h>
#include <string.h>

#define FAIL(text) do { *why = (text); return false; } while (0)

void
framing_reader_init (framing_reader_t *self, size_t max_frame)
{
    memset (self, 0, sizeof *self);
    self->max_frame = max_frame;
}

void
framing_reader_clear (framing_reader_t *self)
{
    free (self->buf);
    size_t max_frame = self->max_frame;
    framing_reader_init (self, max_frame);
}

uint8_t *
framing_reader_space (framing_reader_t *self, size_t want, size_t *size)
{
    if (self->off > 0) {
        //  Move what is left to the front: frames are consumed whole, so
        //  this copies at most one partial frame.
        memmove (self->buf, self->buf + self->off, self->len - self->off);
        self->len -= self->off;
        self->off = 0;
    }
    if (want == 0)
        want = 1;
    if (self->cap - self->len < want) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap - self->len < want)
            cap *= 2;
        uint8_t *buf = realloc (self->buf, cap);
        if (!buf)
            return NULL;
        self->buf = buf;
        self->cap = cap;
    }
    *size = self->cap - self->len;
    return self->buf + self->len;
}

void
framing_reader_commit (framing_reader_t *self, size_t n)
{
    self->len += n;
}

size_t
framing_reader_pending (const framing_reader_t *self)
{
    return self->len - self->off;
}

framing_status_t
framing_reader_next (framing_reader_t *self, const uint8_t **body, size_t *len)
{
    size_t have = self->len - self->off;
    if (have < FRAMING_HEADER)
        return FRAMING_MORE;
    const uint8_t *p = self->buf + self->off;
    size_t n = mpread_be32 (p);
    if (n == 0 || n > self->max_frame) {
        *len = n;
        return FRAMING_BAD_LENGTH;
    }
    if (have - FRAMING_HEADER < n)
        return FRAMING_MORE;
    *body = p + FRAMING_HEADER;
    *len = n;
    self->off += FRAMING_HEADER + n;
    return FRAMING_FRAME;
}

//  Read one str item; false when the next item is not a str.
static bool
s_str (mpread_t *r, zj_str_t *str)
{
    mpread_item_t it;
    if (!mpread_item (r, &it) || it.kind != MPREAD_STR)
        return false;
    str->ptr = (const char *) it.s.ptr;
    str->len = it.s.len;
    return true;
}

static bool
s_uint (mpread_t *r, uint64_t *value)
{
    mpread_item_t it;
    if (!mpread_item (r, &it) || it.kind != MPREAD_UINT)
        return false;
    *value = it.u;
    return true;
}

static bool
s_is (zj_str_t str, const char *text)
{
    return str.len == strlen (text) && memcmp (str.ptr, text, str.len) == 0;
}

static bool
s_name_ok (zj_str_t name)
{
    if (name.len == 0 || name.len > ZJ_MAX_FN)
        return false;
    for (size_t i = 0; i < name.len; i++)
        if ((uint8_t) name.ptr[i] < 0x21 || (uint8_t) name.ptr[i] > 0x7e)
            return false;
    return true;
}

//  Validate the rest of the array after `used` elements: each extra
//  element must be a well-formed object (it is skipped, not used).
static bool
s_rest (mpread_t *r, uint32_t count, uint32_t used)
{
    for (uint32_t i = used; i < count; i++)
        if (!mpread_skip (r, ZJ_MAX_DEPTH))
            return false;
    return r->p == r->end;
}

bool
framing_parse (const uint8_t *body, size_t len, framing_msg_t *msg, const char **why)
{
    memset (msg, 0, sizeof *msg);
    mpread_t r = {body, body + len};
    mpread_item_t it;
    zj_str_t kind;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY)
        FAIL ("a frame must hold one msgpack array");
    uint32_t count = it.n;
    if (count < 1 || !s_str (&r, &kind))
        FAIL ("the first element must be the message kind, a string");
    if (s_is (kind, "hello")) {
        msg->kind = FRAMING_HELLO;
        if (count < 3)
            FAIL ("hello needs a version and a list of function names");
        if (!s_uint (&r, &msg->version))
            FAIL ("hello: the version must be a non-negative integer");
        if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY)
            FAIL ("hello: the function names must be an array");
        if (it.n == 0)
            FAIL ("hello: the process must serve at least one function");
        msg->name_count = it.n;
        msg->names = r;
        for (uint32_t i = 0; i < it.n; i++) {
            zj_str_t name;
            if (!s_str (&r, &name))
                FAIL ("hello: every function name must be a string");
            if (!s_name_ok (name))
                FAIL ("hello: function names are 1 to 128 printable ASCII characters");
        }
        //  An optional map of features; unknown keys are for later versions.
        if (count >= 4) {
            if (!mpread_item (&r, &it) || it.kind != MPREAD_MAP)
                FAIL ("hello: the fourth element must be a map of features");
            for (uint32_t i = 0, pairs = it.n; i < pairs; i++) {
                zj_str_t key;
                mpread_item_t value;
                if (!s_str (&r, &key))
                    FAIL ("hello: feature names must be strings");
                const uint8_t *at = r.p;
                if (!mpread_skip (&r, ZJ_MAX_DEPTH))
                    FAIL ("hello: a feature value is malformed");
                mpread_t v = {at, r.p};
                if (s_is (key, "chunk") && mpread_item (&v, &value) && value.kind == MPREAD_BOOL)
                    msg->chunks = value.b;
            }
        }
        if (!s_rest (&r, count, count >= 4 ? 4 : 3))
            FAIL ("hello: malformed trailing elements");
        return true;
    }
    bool ok = s_is (kind, "ok");
    if (!ok && !s_is (kind, "error"))
        FAIL ("unknown message kind; expected hello, ok or error");
    msg->kind = ok ? FRAMING_OK : FRAMING_ERROR;
    if (count < (ok ? 3u : 5u))
        FAIL (ok ? "ok needs an id and a value"
                 : "error needs an id, a type, a message and a traceback");
    if (!s_uint (&r, &msg->id))
        FAIL ("the task id must be a non-negative integer");
    if (ok) {
        const uint8_t *start = r.p;
        if (!mpread_skip (&r, ZJ_MAX_DEPTH))
            FAIL ("ok: the value is malformed or nests deeper than 32");
        msg->value.ptr = start;
        msg->value.len = (size_t) (r.p - start);
        if (!s_rest (&r, count, 3))
            FAIL ("ok: malformed trailing elements");
        return true;
    }
    if (!s_str (&r, &msg->err_type) || msg->err_type.len == 0)
        FAIL ("error: the type must be a non-empty string");
    if (!s_str (&r, &msg->err_message))
        FAIL ("error: the message must be a string");
    if (!s_str (&r, &msg->err_traceback))
        FAIL ("error: the traceback must be a string");
    if (!s_rest (&r, count, 5))
        FAIL ("error: malformed trailing elements");
    return true;
}

bool
framing_next_name (framing_msg_t *msg, zj_str_t *name)
{
    if (msg->kind != FRAMING_HELLO || msg->name_count == 0)
        return false;
    msg->name_count--;
    return s_str (&msg->names, name);
}

void
framing_encode_task (zj_enc_t *enc, uint64_t id, zj_str_t fn, zj_raw_t args, bool chunk)
{
    zj_enc_reset (enc);
    zj_enc_array (enc, 4);
    zj_enc_cstr (enc, chunk ? "chunk" : "task");
    zj_enc_uint (enc, id);
    zj_enc_str (enc, fn.ptr, fn.len);
    zj_enc_raw (enc, args.ptr, args.len);
}

bool
framing_check_chunk (zj_raw_t value, uint32_t count, const char **why)
{
    mpread_t r = {value.ptr, value.ptr + value.len};
    mpread_item_t it;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY || it.n != count)
        FAIL ("a chunk result must be an array with one entry per call");
    for (uint32_t i = 0; i < count; i++) {
        if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY || it.n != 2
        || !mpread_item (&r, &it) || it.kind != MPREAD_BOOL)
            FAIL ("a chunk result entry must be [ok, payload] with ok a boolean");
        if (it.b) {
            if (!mpread_skip (&r, ZJ_MAX_DEPTH))
                FAIL ("a chunk result value is malformed");
            continue;
        }
        zj_str_t text;
        if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY || it.n != 3
        || !s_str (&r, &text) || !s_str (&r, &text) || !s_str (&r, &text))
            FAIL ("a failed chunk entry must carry [type, message, traceback]");
    }
    if (r.p != r.end)
        FAIL ("a chunk result has bytes after its last entry");
    return true;
}

void
framing_put_header (uint8_t header[FRAMING_HEADER], size_t len)
{
    header[0] = (uint8_t) (len >> 24);
    header[1] = (uint8_t) (len >> 16);
    header[2] = (uint8_t) (len >> 8);
    header[3] = (uint8_t) len;
}
