// SPDX-License-Identifier: MIT
//  args - raw msgpack argument views; see args.h. Relies on the codec's
//  zj_raw_span for element bounds, so it never reads past the bytes given.
#include "args.h"
#include <string.h>

const uint8_t args_nil[1] = {0xc0};

static uint32_t
s_be (const uint8_t *p, size_t n)
{
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

bool
args_is_array (zj_raw_t raw)
{
    if (!raw.ptr || raw.len == 0)
        return false;
    uint8_t b = raw.ptr[0];
    return (b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd;
}

bool
args_iter_init (args_iter_t *it, zj_raw_t raw)
{
    memset (it, 0, sizeof *it);
    if (!args_is_array (raw))
        return false;
    uint8_t b = raw.ptr[0];
    size_t hdr = b == 0xdc ? 3 : b == 0xdd ? 5 : 1;
    if (raw.len < hdr)
        return false;
    it->count = hdr == 1 ? (uint32_t) (b & 0x0f) : s_be (raw.ptr + 1, hdr - 1);
    it->left = it->count;
    it->cur = raw.ptr + hdr;
    it->end = raw.ptr + raw.len;
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
    if (!raw.ptr || raw.len == 0)
        return false;
    const uint8_t *p = raw.ptr;
    uint8_t b = p[0];
    size_t n = raw.len - 1;
    if (b <= 0x7f) {
        *value = b;
        return true;
    }
    if (b >= 0xe0) {
        *value = (int8_t) b;
        return true;
    }
    switch (b) {
        case 0xcc: if (n < 1) return false; *value = p[1]; return true;
        case 0xcd: if (n < 2) return false; *value = s_be (p + 1, 2); return true;
        case 0xce: if (n < 4) return false; *value = s_be (p + 1, 4); return true;
        case 0xcf:
            if (n < 8) return false;
            *value = (double) ((uint64_t) s_be (p + 1, 4) << 32 | s_be (p + 5, 4));
            return true;
        case 0xd0: if (n < 1) return false; *value = (int8_t) p[1]; return true;
        case 0xd1: if (n < 2) return false; *value = (int16_t) s_be (p + 1, 2); return true;
        case 0xd2: if (n < 4) return false; *value = (int32_t) s_be (p + 1, 4); return true;
        case 0xd3:
            if (n < 8) return false;
            *value = (double) (int64_t) ((uint64_t) s_be (p + 1, 4) << 32 | s_be (p + 5, 4));
            return true;
        case 0xca: {
            if (n < 4) return false;
            uint32_t v = s_be (p + 1, 4);
            float f;
            memcpy (&f, &v, 4);
            *value = f;
            return true;
        }
        case 0xcb: {
            if (n < 8) return false;
            uint64_t v = (uint64_t) s_be (p + 1, 4) << 32 | s_be (p + 5, 4);
            memcpy (value, &v, 8);
            return true;
        }
        default:
            return false;
    }
}

bool
args_string (zj_raw_t raw, zj_str_t *str)
{
    if (!raw.ptr || raw.len == 0)
        return false;
    uint8_t b = raw.ptr[0];
    size_t hdr, len;
    if ((b & 0xe0) == 0xa0) {
        hdr = 1;
        len = b & 0x1f;
    }
    else if (b >= 0xd9 && b <= 0xdb) {
        hdr = 1 + ((size_t) 1 << (b - 0xd9));
        if (raw.len < hdr)
            return false;
        len = s_be (raw.ptr + 1, hdr - 1);
    }
    else
        return false;
    if (raw.len - hdr < len)
        return false;
    str->ptr = (const char *) raw.ptr + hdr;
    str->len = len;
    return true;
}

const char *
args_type_name (zj_raw_t raw)
{
    if (!raw.ptr || raw.len == 0)
        return "nothing";
    uint8_t b = raw.ptr[0];
    if (b <= 0x7f || b >= 0xe0 || (b >= 0xcc && b <= 0xd3))
        return "integer";
    if (b <= 0x8f || b == 0xde || b == 0xdf)
        return "map";
    if (b <= 0x9f || b == 0xdc || b == 0xdd)
        return "array";
    if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb))
        return "string";
    switch (b) {
        case 0xc0: return "nil";
        case 0xc2: case 0xc3: return "boolean";
        case 0xc4: case 0xc5: case 0xc6: return "binary";
        case 0xca: case 0xcb: return "float";
        default: return "extension";
    }
}
