// SPDX-License-Identifier: MIT
//  fuzz - what the fuzz targets share. MUST marks a broken promise of the
//  code under test, not a malformed input: it crashes loudly so that
//  libFuzzer keeps the input (and the replay test fails on it).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MUST(cond)                                                          \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf (stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
            abort ();                                                       \
        }                                                                   \
    } while (0)

//  The entry point libFuzzer calls, and replay.c without libFuzzer.
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
