// SPDX-License-Identifier: MIT
//  mpread - a bounded msgpack reader over untrusted bytes: one item at a
//  time, never reads past `end`, never allocates, refuses container headers
//  that claim more elements than bytes remain. The codec's own reader;
//  worker/ and client/ use it too, to read values the codec validated.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

//  What one item is. Integers are split by sign, whatever their wire
//  width: UINT holds every value >= 0, INT every value < 0.
typedef enum {
    MPREAD_NIL,
    MPREAD_BOOL,
    MPREAD_UINT,
    MPREAD_INT,
    MPREAD_FLOAT32,
    MPREAD_FLOAT64,
    MPREAD_STR,
    MPREAD_BIN,
    MPREAD_EXT,
    MPREAD_ARRAY,
    MPREAD_MAP,
} mpread_kind_t;

typedef struct {
    mpread_kind_t kind;         //  what was read
    union {
        bool b;                 //  BOOL
        uint64_t u;             //  UINT
        int64_t i;              //  INT (always negative)
        double d;               //  FLOAT32 (widened) and FLOAT64
        uint32_t n;             //  ARRAY: elements, MAP: pairs
        struct {
            const uint8_t *ptr; //  STR, BIN, EXT: first payload byte
            uint32_t len;       //  payload length
            int8_t type;        //  EXT only: the application type
        } s;
    };
} mpread_item_t;

//  A cursor: the next byte to read and the end of the readable bytes.
typedef struct {
    const uint8_t *p;           //  next byte
    const uint8_t *end;         //  one past the last byte
} mpread_t;

static inline uint16_t mpread_be16 (const uint8_t *p)
{
    return (uint16_t) ((uint16_t) p[0] << 8 | p[1]);
}

static inline uint32_t mpread_be32 (const uint8_t *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static inline uint64_t mpread_be64 (const uint8_t *p)
{
    return (uint64_t) mpread_be32 (p) << 32 | mpread_be32 (p + 4);
}

//  Read one item's header (and, for STR/BIN/EXT, skip its payload). For
//  ARRAY and MAP the elements follow and are read by further calls.
//  Returns false, with the cursor somewhere inside the item, when the
//  bytes are truncated, use the never-used byte 0xc1, or a container
//  claims more elements than bytes remain (a map's pairs count twice).
static inline bool mpread_item (mpread_t *r, mpread_item_t *it)
{
    if (r->p >= r->end)
        return false;
    uint8_t b = *r->p++;
    size_t left = (size_t) (r->end - r->p);
    size_t need;                //  bytes of header after the type byte
    uint32_t len;

    if (b <= 0x7f) {
        it->kind = MPREAD_UINT;
        it->u = b;
        return true;
    }
    if (b >= 0xe0) {
        it->kind = MPREAD_INT;
        it->i = (int8_t) b;
        return true;
    }
    if (b <= 0x8f) {
        it->kind = MPREAD_MAP;
        it->n = b & 0x0f;
        return 2 * (size_t) it->n <= left;
    }
    if (b <= 0x9f) {
        it->kind = MPREAD_ARRAY;
        it->n = b & 0x0f;
        return it->n <= left;
    }
    if (b <= 0xbf) {
        len = b & 0x1f;
        it->kind = MPREAD_STR;
        goto payload;
    }
    switch (b) {
        case 0xc0: it->kind = MPREAD_NIL; return true;
        case 0xc2: it->kind = MPREAD_BOOL; it->b = false; return true;
        case 0xc3: it->kind = MPREAD_BOOL; it->b = true; return true;
        case 0xc4: case 0xc5: case 0xc6:
            it->kind = MPREAD_BIN;
            need = (size_t) 1 << (b - 0xc4);
            goto sized;
        case 0xd9: case 0xda: case 0xdb:
            it->kind = MPREAD_STR;
            need = (size_t) 1 << (b - 0xd9);
            goto sized;
        case 0xc7: case 0xc8: case 0xc9:
            it->kind = MPREAD_EXT;
            need = (size_t) 1 << (b - 0xc7);
            goto sized;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            it->kind = MPREAD_EXT;
            len = 1u << (b - 0xd4);
            goto payload;
        case 0xca:
            if (left < 4)
                return false;
            {
                uint32_t v = mpread_be32 (r->p);
                float f;
                memcpy (&f, &v, 4);
                it->kind = MPREAD_FLOAT32;
                it->d = f;
            }
            r->p += 4;
            return true;
        case 0xcb:
            if (left < 8)
                return false;
            {
                uint64_t v = mpread_be64 (r->p);
                memcpy (&it->d, &v, 8);
                it->kind = MPREAD_FLOAT64;
            }
            r->p += 8;
            return true;
        case 0xcc: if (left < 1) return false;
            it->kind = MPREAD_UINT; it->u = r->p[0]; r->p += 1; return true;
        case 0xcd: if (left < 2) return false;
            it->kind = MPREAD_UINT; it->u = mpread_be16 (r->p); r->p += 2; return true;
        case 0xce: if (left < 4) return false;
            it->kind = MPREAD_UINT; it->u = mpread_be32 (r->p); r->p += 4; return true;
        case 0xcf: if (left < 8) return false;
            it->kind = MPREAD_UINT; it->u = mpread_be64 (r->p); r->p += 8; return true;
        case 0xd0: if (left < 1) return false;
            it->i = (int8_t) r->p[0]; r->p += 1; goto sign;
        case 0xd1: if (left < 2) return false;
            it->i = (int16_t) mpread_be16 (r->p); r->p += 2; goto sign;
        case 0xd2: if (left < 4) return false;
            it->i = (int32_t) mpread_be32 (r->p); r->p += 4; goto sign;
        case 0xd3: if (left < 8) return false;
            it->i = (int64_t) mpread_be64 (r->p); r->p += 8; goto sign;
        case 0xdc: case 0xdd:
            need = b == 0xdc ? 2 : 4;
            if (left < need)
                return false;
            it->kind = MPREAD_ARRAY;
            it->n = need == 2 ? mpread_be16 (r->p) : mpread_be32 (r->p);
            r->p += need;
            return it->n <= left - need;
        case 0xde: case 0xdf:
            need = b == 0xde ? 2 : 4;
            if (left < need)
                return false;
            it->kind = MPREAD_MAP;
            it->n = need == 2 ? mpread_be16 (r->p) : mpread_be32 (r->p);
            r->p += need;
            return 2 * (uint64_t) it->n <= left - need;
        default:                //  0xc1: never used
            return false;
    }

sign:
    //  Signed formats may carry non-negative values; fold them into UINT
    //  so callers check one kind for "a non-negative integer".
    if (it->i >= 0) {
        it->u = (uint64_t) it->i;
        it->kind = MPREAD_UINT;
    }
    else
        it->kind = MPREAD_INT;
    return true;

sized:
    if (left < need)
        return false;
    len = need == 1 ? r->p[0] : need == 2 ? mpread_be16 (r->p) : mpread_be32 (r->p);
    r->p += need;
    left -= need;
    if (it->kind == MPREAD_EXT) {
        if (left < 1)
            return false;
        it->s.type = (int8_t) *r->p++;
        left--;
    }
    goto body;

payload:
    if (it->kind == MPREAD_EXT) {
        if (left < 1)
            return false;
        it->s.type = (int8_t) *r->p++;
        left--;
    }

body:
    if (len > left)
        return false;
    it->s.ptr = r->p;
    it->s.len = len;
    r->p += len;
    return true;
}

//  True when the next byte starts an array (peek; no bytes consumed).
static inline bool mpread_at_array (const mpread_t *r)
{
    return r->p < r->end && ((*r->p & 0xf0) == 0x90 || *r->p == 0xdc || *r->p == 0xdd);
}

//  True when the next byte starts a map.
static inline bool mpread_at_map (const mpread_t *r)
{
    return r->p < r->end && ((*r->p & 0xf0) == 0x80 || *r->p == 0xde || *r->p == 0xdf);
}

//  True when the next byte starts a string.
static inline bool mpread_at_str (const mpread_t *r)
{
    return r->p < r->end
        && ((*r->p & 0xe0) == 0xa0 || *r->p == 0xd9 || *r->p == 0xda || *r->p == 0xdb);
}

//  Validate and step over one complete object whose containers nest at
//  most `max_depth` deep (max_depth <= MPREAD_MAX_DEPTH). Iterative, so a
//  hostile nesting cannot grow the C stack. False when malformed.
#define MPREAD_MAX_DEPTH 64
bool mpread_skip (mpread_t *r, unsigned max_depth);
