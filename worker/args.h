// SPDX-License-Identifier: MIT
//  args - read task arguments straight from raw msgpack bytes that the
//  codec already validated: array iteration and scalar views, with no
//  copying and no allocation (the hot path of echo and noop).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "msg.h"

//  A cursor over the elements of one msgpack array.
typedef struct {
    const uint8_t *cur;         //  next element
    const uint8_t *end;         //  end of the bytes given to args_iter_init
    uint32_t count;             //  elements in the array
    uint32_t left;              //  elements not yet returned
} args_iter_t;

//  Start iterating the array in `raw`. False when raw is not an array
//  (the iterator is then empty).
bool args_iter_init (args_iter_t *it, zj_raw_t raw);
//  Next element as a raw view into the same bytes. False at the end, or
//  when the bytes are malformed.
bool args_iter_next (args_iter_t *it, zj_raw_t *item);

//  An integer or float as a double. False for anything else.
bool args_number (zj_raw_t raw, double *value);
//  A msgpack str as a view (not NUL-terminated). False for anything else.
bool args_string (zj_raw_t raw, zj_str_t *str);
//  True when raw is an array.
bool args_is_array (zj_raw_t raw);
//  What raw is, for messages: "nil", "boolean", "integer", "float",
//  "string", "binary", "array", "map", "extension" or "nothing".
const char *args_type_name (zj_raw_t raw);

//  msgpack nil, one byte, for results that are nil.
extern const uint8_t args_nil[1];
