// SPDX-License-Identifier: MIT
//  bstat - percentiles and named figures; see bstat.h. A flat array is
//  plenty for the few hundred figures one run produces.
#include "bstat.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char key[96];               //  figure name, e.g. "zjob.w2.window.tasks_per_s"
    double value;               //  its value
} s_fig_t;

static s_fig_t *s_figs;         //  recorded figures, in first-set order
static size_t s_count;          //  entries used
static size_t s_cap;            //  entries allocated

static int
s_cmp (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

void
bstat_sort (double *samples, size_t n)
{
    qsort (samples, n, sizeof *samples, s_cmp);
}

double
bstat_pct (const double *sorted, size_t n, double p)
{
    if (n == 0)
        return 0;
    double rank = ceil (p / 100.0 * (double) n);
    size_t i = rank < 1 ? 0 : (size_t) rank - 1;
    return sorted[i < n ? i : n - 1];
}

void
bstat_set (double value, const char *key_fmt, ...)
{
    char key[96];
    va_list ap;
    va_start (ap, key_fmt);
    vsnprintf (key, sizeof key, key_fmt, ap);
    va_end (ap);
    for (size_t i = 0; i < s_count; i++)
        if (strcmp (s_figs[i].key, key) == 0) {
            s_figs[i].value = value;
            return;
        }
    if (s_count == s_cap) {
        size_t cap = s_cap ? s_cap * 2 : 64;
        s_fig_t *figs = realloc (s_figs, cap * sizeof *figs);
        if (!figs)
            return;             //  a figure lost, not a crash
        s_figs = figs;
        s_cap = cap;
    }
    memcpy (s_figs[s_count].key, key, sizeof key);
    s_figs[s_count++].value = value;
}

int
bstat_write (const char *path)
{
    FILE *f = strcmp (path, "-") == 0 ? stdout : fopen (path, "w");
    if (!f)
        return -1;
    fprintf (f, "{\n");
    for (size_t i = 0; i < s_count; i++)
        fprintf (f, "  \"%s\": %.9g%s\n", s_figs[i].key,
                 isfinite (s_figs[i].value) ? s_figs[i].value : -1.0,
                 i + 1 < s_count ? "," : "");
    fprintf (f, "}\n");
    if (f == stdout)
        return fflush (f) == 0 ? 0 : -1;
    return fclose (f) == 0 ? 0 : -1;
}

void
bstat_clear (void)
{
    free (s_figs);
    s_figs = NULL;
    s_count = s_cap = 0;
}
