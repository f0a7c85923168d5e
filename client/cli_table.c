// SPDX-License-Identifier: MIT
//  cli_table - renders the STATS map's workers and queues as aligned text
//  tables. Reads only what it knows and shows "-" for a missing key, so a
//  broker that adds keys, or lacks some, never breaks the output.
#include "cli_table.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE_MAX_COLS 12
//  A FUNCTIONS cell longer than this is cut and says how many it left out.
#define TABLE_FUNCTIONS_WIDTH 40
//  Worker ids are long hex strings; a prefix tells them apart.
#define TABLE_ID_WIDTH 12

typedef struct {
    const char *head;           //  column title
    bool right;                 //  right-aligned (numbers)
} col_t;

typedef struct {
    const col_t *cols;          //  borrowed
    size_t ncols;
    char **cells;               //  rows x ncols strings, row-major; owned
    size_t nrows;
    size_t cap;                 //  rows allocated
    bool oom;                   //  an allocation failed; render gives NULL
} table_t;

static void s_table_add (table_t *self, const char *const *row)
{
    if (self->nrows == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        char **cells = realloc (self->cells, cap * self->ncols * sizeof *cells);
        if (!cells) {
            self->oom = true;
            return;
        }
        self->cells = cells;
        self->cap = cap;
    }
    for (size_t c = 0; c < self->ncols; c++) {
        char *cell = strdup (row[c] ? row[c] : "-");
        self->oom |= cell == NULL;
        self->cells[self->nrows * self->ncols + c] = cell;
    }
    self->nrows++;
}

static void s_table_fini (table_t *self)
{
    for (size_t i = 0; i < self->nrows * self->ncols; i++)
        free (self->cells[i]);
    free (self->cells);
    self->cells = NULL;
    self->nrows = self->cap = 0;
}

//  Header plus rows, columns two spaces apart, no trailing blanks; the
//  line `none` when there are no rows.
static char *s_table_render (table_t *self, const char *none)
{
    if (self->oom)
        return NULL;
    if (self->nrows == 0)
        return strdup (none);
    size_t width[TABLE_MAX_COLS];
    for (size_t c = 0; c < self->ncols; c++) {
        width[c] = strlen (self->cols[c].head);
        for (size_t r = 0; r < self->nrows; r++) {
            size_t len = strlen (self->cells[r * self->ncols + c]);
            if (len > width[c])
                width[c] = len;
        }
    }
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    for (size_t r = 0; r <= self->nrows; r++) {
        for (size_t c = 0; c < self->ncols; c++) {
            const char *cell = r == 0 ? self->cols[c].head
                                      : self->cells[(r - 1) * self->ncols + c];
            bool last = c + 1 == self->ncols;
            int pad = (int) (width[c] - strlen (cell));
            if (self->cols[c].right)
                fprintf (out, "%*s%s", pad, "", cell);
            else
                fprintf (out, "%s%*s", cell, last ? 0 : pad, "");
            if (!last)
                fputs ("  ", out);
        }
        fputc ('\n', out);
    }
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

//  ---------------------------------------------------------------------
//  Cells

char *cli_table_age (double seconds, char *buf, size_t size)
{
    if (!isfinite (seconds) || seconds < 0)
        snprintf (buf, size, "-");
    else if (seconds < 10)
        snprintf (buf, size, "%.1fs", seconds);
    else if (seconds < 60)
        snprintf (buf, size, "%.0fs", floor (seconds));
    else if (seconds < 3600)
        snprintf (buf, size, "%dm%02ds", (int) (seconds / 60), (int) fmod (seconds, 60));
    else if (seconds < 86400)
        snprintf (buf, size, "%dh%02dm", (int) (seconds / 3600),
                  (int) fmod (seconds, 3600) / 60);
    else
        snprintf (buf, size, "%.0fd%02dh", floor (seconds / 86400),
                  (int) fmod (seconds, 86400) / 3600);
    return buf;
}

//  A string or a number as text; NULL (shown "-") for anything else.
static const char *s_cell (const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get (obj, key);
    if (json_is_string (v))
        return json_string_value (v);
    if (json_is_integer (v))
        snprintf (buf, size, "%lld", (long long) json_integer_value (v));
    else if (json_is_real (v))
        snprintf (buf, size, "%g", json_real_value (v));
    else
        return NULL;
    return buf;
}

static const char *s_age_cell (const json_t *obj, const char *key, char *buf, size_t size)
{
    const json_t *v = json_object_get (obj, key);
    return json_is_number (v) ? cli_table_age (json_number_value (v), buf, size) : NULL;
}

//  "echo,sleep,fail", cut to TABLE_FUNCTIONS_WIDTH with "+N" for the rest.
static const char *s_functions_cell (const json_t *obj, char *buf, size_t size)
{
    const json_t *fns = json_object_get (obj, "functions");
    if (!json_is_array (fns))
        return NULL;
    size_t n = json_array_size (fns), used = 0, shown = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++) {
        const char *fn = json_string_value (json_array_get (fns, i));
        if (!fn)
            continue;
        size_t len = strlen (fn) + (shown ? 1 : 0);
        if (used + len > TABLE_FUNCTIONS_WIDTH && shown) {
            snprintf (buf + used, size - used, ",+%zu", n - i);
            break;
        }
        used += (size_t) snprintf (buf + used, size - used, "%s%s", shown ? "," : "", fn);
        if (used >= size)
            break;
        shown++;
    }
    return buf;
}

//  ---------------------------------------------------------------------
//  Workers

//  How the broker judges the worker: its own "liveness" key when it sends
//  one; else derived from last_seen and the broker's top-level "heartbeat"
//  and "liveness", when those are there; else NULL (column left out).
static const char *s_liveness (const json_t *stats, const json_t *w, char *buf, size_t size)
{
    const char *own = s_cell (w, "liveness", buf, size);
    if (own)
        return own;
    const json_t *hb = json_object_get (stats, "heartbeat");
    const json_t *lv = json_object_get (stats, "liveness");
    const json_t *seen = json_object_get (w, "last_seen");
    if (!json_is_number (hb) || !json_is_number (lv) || !json_is_number (seen)
        || json_number_value (hb) <= 0)
        return NULL;
    double missed = floor (json_number_value (seen) / json_number_value (hb));
    if (missed < 2)
        snprintf (buf, size, "ok");
    else
        snprintf (buf, size, "late %.0f/%.0f", missed, json_number_value (lv));
    return buf;
}

static int s_worker_cmp (const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *) a, *y = *(const json_t *const *) b;
    const char *nx = json_string_value (json_object_get (x, "name"));
    const char *ny = json_string_value (json_object_get (y, "name"));
    int rc = strcmp (nx ? nx : "", ny ? ny : "");
    if (rc)
        return rc;
    const char *ix = json_string_value (json_object_get (x, "id"));
    const char *iy = json_string_value (json_object_get (y, "id"));
    return strcmp (ix ? ix : "", iy ? iy : "");
}

//  The array under key, sorted for people (the broker's order is its
//  own). Caller frees the returned array; *n its length; NULL on OOM.
static const json_t **s_sorted (const json_t *stats, const char *key, size_t *n,
                                int (*cmp) (const void *, const void *))
{
    const json_t *arr = json_object_get (stats, key);
    *n = json_is_array (arr) ? json_array_size (arr) : 0;
    const json_t **items = malloc ((*n ? *n : 1) * sizeof *items);
    if (!items)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (json_is_object (json_array_get (arr, i)))
            items[k++] = json_array_get (arr, i);
    *n = k;
    qsort (items, k, sizeof *items, cmp);
    return items;
}

char *cli_table_workers (const json_t *stats)
{
    static const col_t cols[] = {
        {"ID", false}, {"NAME", false}, {"HOST", false}, {"PID", true},
        {"FUNCTIONS", false}, {"CREDIT", true}, {"RUNNING", true},
        {"LAST SEEN", true}, {"LIVENESS", false},
    };
    size_t n;
    const json_t **ws = s_sorted (stats, "workers", &n, s_worker_cmp);
    if (!ws)
        return NULL;
    char scratch[32];
    bool liveness = false;
    for (size_t i = 0; i < n && !liveness; i++)
        liveness = s_liveness (stats, ws[i], scratch, sizeof scratch) != NULL;
    table_t t = {cols, liveness ? 9 : 8, NULL, 0, 0, false};
    for (size_t i = 0; i < n; i++) {
        char id[TABLE_ID_WIDTH + 1], pid[32], fns[TABLE_FUNCTIONS_WIDTH + 16];
        char credit[32], running[32], seen[32], live[64];
        const char *full_id = json_string_value (json_object_get (ws[i], "id"));
        if (full_id)
            snprintf (id, sizeof id, "%s", full_id);
        const char *row[] = {
            full_id ? id : NULL,
            s_cell (ws[i], "name", scratch, sizeof scratch),
            json_string_value (json_object_get (ws[i], "host")),
            s_cell (ws[i], "pid", pid, sizeof pid),
            s_functions_cell (ws[i], fns, sizeof fns),
            s_cell (ws[i], "credit", credit, sizeof credit),
            s_cell (ws[i], "running", running, sizeof running),
            s_age_cell (ws[i], "last_seen", seen, sizeof seen),
            s_liveness (stats, ws[i], live, sizeof live),
        };
        //  An empty name reads better as "-" in a table.
        if (row[1] && !*row[1])
            row[1] = NULL;
        s_table_add (&t, row);
    }
    free (ws);
    char *text = s_table_render (&t, "no workers are registered\n");
    s_table_fini (&t);
    return text;
}

//  ---------------------------------------------------------------------
//  Queues

static int s_queue_cmp (const void *a, const void *b)
{
    const json_t *x = *(const json_t *const *) a, *y = *(const json_t *const *) b;
    const char *fx = json_string_value (json_object_get (x, "function"));
    const char *fy = json_string_value (json_object_get (y, "function"));
    return strcmp (fx ? fx : "", fy ? fy : "");
}

char *cli_table_failed (const json_t *stats)
{
    static const col_t cols[] = {
        {"TICKET", false}, {"FUNCTION", false}, {"ATTEMPTS", true}, {"AGE", true},
        {"ERROR", false},
    };
    const json_t *list = json_object_get (stats, "dead_letters");
    table_t t = {cols, sizeof cols / sizeof cols[0], NULL, 0, 0, false};
    size_t i;
    const json_t *d;
    json_array_foreach (list, i, d) {
        if (!json_is_object (d))
            continue;
        char b[2][32];
        char error[200];
        snprintf (error, sizeof error, "%s: %s",
                  json_string_value (json_object_get (d, "error")) ?: "",
                  json_string_value (json_object_get (d, "message")) ?: "");
        const char *row[] = {
            json_string_value (json_object_get (d, "ticket")),
            json_string_value (json_object_get (d, "function")),
            s_cell (d, "attempts", b[0], sizeof b[0]),
            s_age_cell (d, "age", b[1], sizeof b[1]),
            error,
        };
        s_table_add (&t, row);
    }
    char *text = s_table_render (&t, "no dead letters: no task failed after its retries\n");
    s_table_fini (&t);
    return text;
}

char *cli_table_queues (const json_t *stats)
{
    static const col_t cols[] = {
        {"FUNCTION", false}, {"DEPTH", true}, {"RUNNING", true}, {"WORKERS", true},
        {"OLDEST", true}, {"SUBMITTED", true}, {"COMPLETED", true}, {"FAILED", true},
        {"CANCELLED", true},
    };
    size_t n;
    const json_t **qs = s_sorted (stats, "queues", &n, s_queue_cmp);
    if (!qs)
        return NULL;
    table_t t = {cols, sizeof cols / sizeof cols[0], NULL, 0, 0, false};
    for (size_t i = 0; i < n; i++) {
        char b[8][32];
        //  An empty queue has no oldest task, whatever age the broker says.
        const json_t *depth = json_object_get (qs[i], "depth");
        bool empty = json_is_integer (depth) && json_integer_value (depth) == 0;
        const char *row[] = {
            json_string_value (json_object_get (qs[i], "function")),
            s_cell (qs[i], "depth", b[0], sizeof b[0]),
            s_cell (qs[i], "running", b[1], sizeof b[1]),
            s_cell (qs[i], "workers", b[2], sizeof b[2]),
            empty ? NULL : s_age_cell (qs[i], "oldest_age", b[3], sizeof b[3]),
            s_cell (qs[i], "submitted", b[4], sizeof b[4]),
            s_cell (qs[i], "completed", b[5], sizeof b[5]),
            s_cell (qs[i], "failed", b[6], sizeof b[6]),
            s_cell (qs[i], "cancelled", b[7], sizeof b[7]),
        };
        s_table_add (&t, row);
    }
    free (qs);
    char *text = s_table_render (&t, "no queues: no task was submitted and no worker "
                                     "registered\n");
    s_table_fini (&t);
    return text;
}
