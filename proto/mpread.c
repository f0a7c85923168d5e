// SPDX-License-Identifier: MIT
//  mpread - validation of whole msgpack objects from untrusted bytes.
//  The per-item reader is inline in mpread.h; this walks nested objects
//  without recursion so that the depth bound, not the C stack, decides.
#include "mpread.h"

bool mpread_skip (mpread_t *r, unsigned max_depth)
{
    //  outer[k] = elements still to read in the k-th open container,
    //  saved while we walk a deeper one. `todo` is the current level's.
    uint64_t outer[MPREAD_MAX_DEPTH];
    unsigned open = 0;
    uint64_t todo = 1;
    mpread_item_t it;

    if (max_depth > MPREAD_MAX_DEPTH)
        max_depth = MPREAD_MAX_DEPTH;
    for (;;) {
        while (todo == 0) {
            if (open == 0)
                return true;
            todo = outer[--open];
        }
        todo--;
        if (!mpread_item (r, &it))
            return false;
        if (it.kind == MPREAD_ARRAY || it.kind == MPREAD_MAP) {
            //  An empty container still counts as one level of nesting.
            if (open == max_depth)
                return false;
            uint64_t n = it.kind == MPREAD_MAP ? 2 * (uint64_t) it.n : it.n;
            if (n == 0)
                continue;
            outer[open++] = todo;
            todo = n;
        }
    }
}
