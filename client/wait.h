// SPDX-License-Identifier: MIT
//  wait - waiting on many futures: zj_wait, zj_as_completed and the
//  weighted iterator that zj_map counts finished items with. Internal.
#pragma once
#include <stddef.h>
#include "zjob.h"

//  As zj_as_completed; each future adds `weight` (the last one
//  `last_weight`) to zj__iter_weight_final when it settles, which lets a
//  map count items while it watches chunks. Caller owns the iterator.
zj_iter_t *zj__iter_new (zj_future_t **futures, size_t count, size_t weight,
                         size_t last_weight);
//  As zj_iter_next, but gives the position of the future in the array
//  (SIZE_MAX when none, with *err as zj_iter_next sets it).
size_t zj__iter_next_index (zj_iter_t *self, double timeout, zj_err_t *err);
//  Sum of the weights of the futures that are final so far.
size_t zj__iter_weight_final (zj_iter_t *self);
