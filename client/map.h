// SPDX-License-Identifier: MIT
//  map - zj_map_t: fn over many argument lists, one task per chunk, and
//  the expansion of a chunk's [[ok, payload], ...] result into items.
//  Internal seams for tests; the public calls are in zjob.h.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zjob.h"

//  How a map submits one task: args is a msgpack array (the item's
//  arguments, or with chunk an array of items' argument arrays). Returns
//  a future the map owns, or NULL with *err set.
typedef zj_future_t *(zj__map_submit_fn) (void *ctx, const uint8_t *args, size_t len,
                                          bool chunk, zj_err_t *err);

//  zj_map_new with the submitting step injected (tests settle the
//  futures themselves). Submits every chunk before returning.
zj_map_t *zj__map_new_with (zj__map_submit_fn *submit, void *ctx,
                            const uint8_t *const *items, const size_t *lens,
                            size_t count, size_t chunksize, bool ordered, zj_err_t *err);

//  True when data is exactly one msgpack array.
bool zj__is_array (const uint8_t *data, size_t len);
