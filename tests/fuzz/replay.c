// SPDX-License-Identifier: MIT
//  replay - runs a fuzz target's LLVMFuzzerTestOneInput over saved inputs
//  without libFuzzer, so every build (gcc, sanitizers) replays the seed
//  corpora and every crash that became a regression on each test run.
//  Usage: <target>_replay PATH...  (files, or directories of inputs; a
//  missing directory is an empty one, as git keeps no empty directories).
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz.h"

//  Run one file through the target. False when it cannot be read.
static int
s_replay_file (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "replay: cannot open %s: %s\n", path, strerror (errno));
        return 0;
    }
    size_t cap = 4096, size = 0;
    uint8_t *data = malloc (cap);
    while (data) {
        size += fread (data + size, 1, cap - size, file);
        if (size < cap)
            break;
        uint8_t *bigger = realloc (data, cap *= 2);
        if (!bigger)
            free (data);
        data = bigger;
    }
    int ok = data && !ferror (file);
    fclose (file);
    if (!ok) {
        fprintf (stderr, "replay: cannot read %s\n", path);
        free (data);
        return 0;
    }
    //  An exact-size copy, so the sanitizers see any read past the input.
    uint8_t *exact = malloc (size ? size : 1);
    if (!exact) {
        free (data);
        return 0;
    }
    memcpy (exact, data, size);
    free (data);
    LLVMFuzzerTestOneInput (exact, size);
    free (exact);
    return 1;
}

static int
s_by_name (const struct dirent **a, const struct dirent **b)
{
    return strcmp ((*a)->d_name, (*b)->d_name);
}

//  Replay every regular file in `dir` (not dot files, not README*), in
//  name order. Adds to *count; false on a read error.
static int
s_replay_dir (const char *dir, size_t *count)
{
    struct dirent **names;
    int n = scandir (dir, &names, NULL, s_by_name);
    if (n < 0) {
        if (errno == ENOENT)
            return 1;
        fprintf (stderr, "replay: cannot list %s: %s\n", dir, strerror (errno));
        return 0;
    }
    int ok = 1;
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        char path[4096];
        struct stat st;
        if (name[0] != '.' && strncmp (name, "README", 6) != 0
            && snprintf (path, sizeof path, "%s/%s", dir, name) < (int) sizeof path
            && stat (path, &st) == 0 && S_ISREG (st.st_mode)) {
            if (s_replay_file (path))
                (*count)++;
            else
                ok = 0;
        }
        free (names[i]);
    }
    free (names);
    return ok;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: %s PATH...\n"
                 "Replay saved fuzz inputs (files or directories of files) through\n"
                 "the fuzz target. Exit 0 when every input ran, 1 on a read error\n"
                 "or when no input was found; a crash aborts.\n", argv[0]);
        return 2;
    }
    size_t total = 0;
    int ok = 1;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        size_t count = 0;
        if (stat (argv[i], &st) == 0 && S_ISREG (st.st_mode)) {
            count = (size_t) s_replay_file (argv[i]);
            ok &= (int) count;
        }
        else
            ok &= s_replay_dir (argv[i], &count);
        fprintf (stderr, "replay: %zu inputs from %s\n", count, argv[i]);
        total += count;
    }
    if (total == 0) {
        fprintf (stderr, "replay: no inputs found; check the paths\n");
        return 1;
    }
    fprintf (stderr, "replay: %zu inputs, no crash\n", total);
    return ok ? 0 : 1;
}
