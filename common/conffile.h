// SPDX-License-Identifier: MIT
//  conffile - a daemon's config file (`--config FILE`): ZPL read with
//  czmq's zconfig, checked against the daemon's keys, and turned into
//  `--key=value` arguments placed before the command line's, so that the
//  daemon's own flag parser validates both and a flag given on the
//  command line wins. Every error names the file and, when it has one,
//  the line. Used by zjobd and zjob-worker at startup (one thread).
#pragma once
#include <stdbool.h>
#include <stddef.h>

//  One accepted key: a flag's name without the leading "--".
typedef struct {
    const char *name;           //  e.g. "max-queued"
    bool section;               //  repeatable flag (--exec NAME=COMMAND): the
                                //  key is a section whose children `NAME =
                                //  VALUE` each give --key=NAME=VALUE; a plain
                                //  `key = NAME=VALUE` line works too
} conffile_key_t;

typedef struct conffile conffile_t;

//  Check one entry such as "--retention=60" with the daemon's own flag
//  parser, on scratch settings. Returns true when valid, else writes a
//  one-line reason into `why`.
typedef bool (conffile_check_fn) (void *arg, const char *entry, char *why, size_t why_len);

//  Read and check `path` against keys[0..nkeys). Returns the entries, or
//  NULL with a one-line reason in `why` and the offending line in *line
//  (0 when the file as a whole is at fault: missing, unreadable).
//  Caller owns; free with conffile_destroy.
conffile_t *conffile_load (const char *path, const conffile_key_t *keys, size_t nkeys,
                           char *why, size_t why_len, int *line);
//  Free the entries and any vector from conffile_argv; sets *self_p to NULL.
void conffile_destroy (conffile_t **self_p);
//  Number of entries, in file order.
size_t conffile_size (const conffile_t *self);
//  Entry i as "--key=value". Borrowed; valid until conffile_destroy.
const char *conffile_entry (const conffile_t *self, size_t i);
//  The line entry i came from (1-based).
int conffile_line (const conffile_t *self, size_t i);

//  The value of `--config FILE` or `--config=FILE` among argv's flags
//  (before any "--"), the last one when repeated, or NULL. Sets *missing
//  when --config ends the command line without a value.
const char *conffile_flag (int argc, char **argv, bool *missing);
//  A new argument vector: argv[0], the file's entries, then argv[1..]
//  without --config and its value. A section entry whose NAME the
//  command line gives again (--key NAME=... or --key=NAME=...) is left
//  out, so the flag replaces it. NULL on OOM. The array belongs to self;
//  the strings are borrowed from self and argv.
char **conffile_argv (conffile_t *self, int argc, char **argv, int *argc_out);

//  Everything a daemon's main does with --config: find it, load the file,
//  check each entry alone through `check`, and replace *argc and *argv by
//  the merged vector. Returns 0 with no --config (nothing changed), 1 when
//  *argv was replaced (free *file_p with conffile_destroy after the last
//  use of argv), or 2 (the usage exit status) after printing one line
//  `PROG: error bad config file=F line=N why="..." hint="..."` to stderr.
int conffile_apply (const char *prog, const conffile_key_t *keys, size_t nkeys, int *argc,
                    char ***argv, conffile_check_fn *check, void *arg, conffile_t **file_p);
