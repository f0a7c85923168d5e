// SPDX-License-Identifier: MIT
//  args - raw msgpack argument views; see args.h. Every read goes through
//  the project's bounded reader (mpread.h), so nothing here decodes
//  msgpack by hand or reads past the bytes given.
#include "args.h"
#include <string.h>
#include "mpread.h"

const uint8_t args_nil[1] = {0xc0};

//  The first item of raw; false when there is none or it is malformed.
static bool
s_item (zj_raw_t raw, mpread_item_t *item, mpread_t *r)
{
    if (!raw.ptr || raw.len == 0)
        return false;
    r->p = raw.ptr;
    r->end = raw.ptr + raw.len;
    return mpread_item (r, item);
}

bool
args_is_array (zj_raw_t raw)
{
    mpread_t r = {raw.ptr, raw.ptr ? raw.ptr + raw.len : NULL};
    return raw.ptr && mpread_at_array (&r);
}

bool
args_iter_init (args_iter_t *it, zj_raw_t raw)
{
    memset (it, 0, sizeof *it);
    mpread_item_t item;
    mpread_t r;
    if (!s_item (raw, &item, &r) || item.kind != MPREAD_ARRAY)
        return false;
    it->count = it->left = item.n;
    it->cur = r.p;
    it->end = r.end;
    return true;
}

bool
args_iter_next (args_iter_t *it, zj_raw_t *item)
{
    if (it->left == 0 || it->cur >= it->end)
        return false;
    size_t span = zj_raw_span (it->cur, (size_t) (it->end - it->cur));
    if (span == 0) {
        it->left = 0;
        return false;
    }
    item->ptr = it->cur;
    item->len = span;
    it->cur += span;
    it->left--;
    return true;
}

bool
args_number (zj_raw_t raw, double *value)
{
    mpread_item_t item;
    mpread_t r;
    if (!s_item (raw, &item, &r))
        return false;
    switch (item.kind) {
        case MPREAD_UINT: *value = (double) item.u; return true;
        case MPREAD_INT: *value = (double) item.i; return true;
        case MPREAD_FLOAT32:
        case MPREAD_FLOAT64: *value = item.d; return true;
        default: return false;
    }
}

bool
args_string (zj_raw_t raw, zj_str_t *str)
{
    mpread_item_t item;
    mpread_t r;
    if (!s_item (raw, &item, &r) || item.kind != MPREAD_STR)
        return false;
    str->ptr = (const char *) item.s.ptr;
    str->len = item.s.len;
    return true;
}

const char *
args_type_name (zj_raw_t raw)
{
    static const char *names[] = {
        [MPREAD_NIL] = "nil", [MPREAD_BOOL] = "boolean", [MPREAD_UINT] = "integer",
        [MPREAD_INT] = "integer", [MPREAD_FLOAT32] = "float", [MPREAD_FLOAT64] = "float",
        [MPREAD_STR] = "string", [MPREAD_BIN] = "binary", [MPREAD_EXT] = "extension",
        [MPREAD_ARRAY] = "array", [MPREAD_MAP] = "map",
    };
    mpread_item_t item;
    mpread_t r;
    if (!raw.ptr || raw.len == 0)
        return "nothing";
    if (!s_item (raw, &item, &r))
        return "malformed msgpack";
    return names[item.kind];
}
