// SPDX-License-Identifier: MIT
//  bstat - percentiles and the named figures a benchmark hands to
//  bench/compare (one JSON object of numbers). Benchmarks only.
#pragma once
#include <stddef.h>

//  Sort samples[0..n) in place (ascending).
void bstat_sort (double *samples, size_t n);
//  The p-th percentile (0..100) of sorted samples by nearest rank; 0 when n is 0.
double bstat_pct (const double *sorted, size_t n, double p);
//  Record figure `key` (printf-style name) = value; a later call with the
//  same key replaces it. Keys longer than 95 bytes are cut.
void bstat_set (double value, const char *key_fmt, ...)
    __attribute__ ((format (printf, 2, 3)));
//  Write every figure as one JSON object to path ("-" = stdout).
//  Returns 0, or -1 with errno set.
int bstat_write (const char *path);
//  Forget every figure.
void bstat_clear (void);
