// SPDX-License-Identifier: MIT
//  conffile - config files read with zconfig; see conffile.h. zconfig
//  parses; this file only maps its tree back to line numbers (zconfig
//  keeps none) and catches the message zconfig prints on a syntax error.
#include "conffile.h"
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

//  zconfig cuts longer lines silently; refuse them instead.
#define LINE_MAX_BYTES 1024
//  Config files are small; anything bigger is a mistake.
#define FILE_MAX_BYTES (1024 * 1024)

struct conffile {
    char **entries;             //  "--key=value", owned
    int *lines;                 //  line of each entry
    size_t count;               //  entries used
    size_t cap;                 //  entries allocated
    char **argv;                //  vector from conffile_argv, owned (not its strings)
};

//  The characters a ZPL name may hold (the set zconfig accepts).
static bool
s_is_namechar (int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || strchr ("$-_@.&+/", c) != NULL;
}

static char *
s_read_file (const char *path, char *why, size_t why_len)
{
    FILE *f = fopen (path, "rb");
    if (!f) {
        snprintf (why, why_len, "cannot read the file: %s", strerror (errno));
        return NULL;
    }
    char *text = malloc (FILE_MAX_BYTES + 1);
    size_t n = text ? fread (text, 1, FILE_MAX_BYTES + 1, f) : 0;
    bool failed = text && ferror (f);
    fclose (f);
    if (!text || failed || n > FILE_MAX_BYTES) {
        snprintf (why, why_len, "%s", !text ? "out of memory"
                                     : failed ? "cannot read the file"
                                              : "file is over 1 MiB; is it the right file?");
        free (text);
        return NULL;
    }
    text[n] = 0;
    if (strlen (text) != n) {
        snprintf (why, why_len, "file holds a NUL byte; is it a text file?");
        free (text);
        return NULL;
    }
    return text;
}

//  Line numbers of the lines that make a zconfig item, in file order:
//  those whose first non-blank character starts a name. zconfig appends
//  each item as the last child of its parent, so this order is the
//  tree's pre-order. Also refuses lines zconfig would cut. Returns the
//  count, or -1 with *bad_line set; *lines_p is owned by the caller.
static int
s_item_lines (const char *text, int **lines_p, int *bad_line)
{
    size_t cap = 16, n = 0;
    int *lines = malloc (cap * sizeof *lines);
    if (!lines)
        return *bad_line = 0, -1;
    int lineno = 0;
    for (const char *p = text; *p;) {
        const char *eol = strchr (p, '\n');
        size_t len = eol ? (size_t) (eol - p) : strlen (p);
        lineno++;
        if (len > LINE_MAX_BYTES) {
            free (lines);
            *bad_line = lineno;
            return -1;
        }
        const char *q = p;
        while (q < p + len && *q == ' ')
            q++;
        if (q < p + len && s_is_namechar ((unsigned char) *q)) {
            if (n == cap) {
                int *more = realloc (lines, (cap *= 2) * sizeof *lines);
                if (!more) {
                    free (lines);
                    return *bad_line = 0, -1;
                }
                lines = more;
            }
            lines[n++] = lineno;
        }
        p = eol ? eol + 1 : p + len;
    }
    *lines_p = lines;
    return (int) n;
}

//  Parse with zconfig, catching what it prints on stdout about a syntax
//  error ("... E (zconfig): (LINE) REASON") so that the reason reaches
//  our own error line instead of the journal as a stray line.
static zconfig_t *
s_parse (const char *text, char *why, size_t why_len, int *line)
{
    fflush (stdout);
    int saved = dup (STDOUT_FILENO);
    FILE *capture = saved >= 0 ? tmpfile () : NULL;
    if (capture)
        dup2 (fileno (capture), STDOUT_FILENO);
    zconfig_t *root = zconfig_str_load (text);
    char said[512] = "";
    if (capture) {
        fflush (stdout);
        dup2 (saved, STDOUT_FILENO);
        rewind (capture);
        size_t n = fread (said, 1, sizeof said - 1, capture);
        said[n] = 0;
        fclose (capture);
    }
    if (saved >= 0)
        close (saved);
    if (root)
        return root;
    *line = 0;
    snprintf (why, why_len, "not valid ZPL");
    const char *at = strstr (said, "(zconfig): (");
    if (at) {
        char *end;
        long n = strtol (at + 12, &end, 10);
        if (end[0] == ')' && end[1] == ' ' && n > 0 && n < 1000000) {
            *line = (int) n;
            size_t rlen = strcspn (end + 2, "\n");
            snprintf (why, why_len, "syntax error: %.*s", (int) rlen, end + 2);
        }
    }
    return NULL;
}

static const conffile_key_t *
s_key_find (const conffile_key_t *keys, size_t nkeys, const char *name)
{
    for (size_t i = 0; i < nkeys; i++)
        if (strcmp (keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static bool
s_push (conffile_t *self, int line, const char *key, const char *name, const char *value)
{
    if (self->count == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        char **entries = realloc (self->entries, cap * sizeof *entries);
        if (entries)
            self->entries = entries;
        int *lines = realloc (self->lines, cap * sizeof *lines);
        if (lines)
            self->lines = lines;
        if (!entries || !lines)
            return false;
        self->cap = cap;
    }
    size_t len = 3 + strlen (key) + 1 + (name ? strlen (name) + 1 : 0) + strlen (value) + 1;
    char *entry = malloc (len);
    if (!entry)
        return false;
    if (name)
        snprintf (entry, len, "--%s=%s=%s", key, name, value);
    else
        snprintf (entry, len, "--%s=%s", key, value);
    self->entries[self->count] = entry;
    self->lines[self->count++] = line;
    return true;
}

//  The line of the item before `item` with the same name under the same
//  parent, or 0.
static int
s_twin_line (zconfig_t *first, zconfig_t *item, const int *lines, int first_index)
{
    int index = first_index;
    for (zconfig_t *c = first; c && c != item; c = zconfig_next (c)) {
        if (strcmp (zconfig_name (c), zconfig_name (item)) == 0)
            return lines[index];
        //  Skip c and its whole subtree in the pre-order numbering.
        index++;
        for (zconfig_t *g = zconfig_child (c); g; g = zconfig_next (g))
            index++;
    }
    return 0;
}

//  Walk the tree (two levels deep at most) into entries. `lines` maps
//  pre-order item numbers to line numbers.
static bool
s_walk (conffile_t *self, zconfig_t *root, const conffile_key_t *keys, size_t nkeys,
        const int *lines, int nlines, char *why, size_t why_len, int *line)
{
    int index = 0;
    zconfig_t *first = zconfig_child (root);
    for (zconfig_t *item = first; item; item = zconfig_next (item)) {
        int item_index = index;
        *line = item_index < nlines ? lines[item_index] : 0;
        index++;
        const char *name = zconfig_name (item);
        const char *value = zconfig_value (item);
        const conffile_key_t *key = s_key_find (keys, nkeys, name);
        if (!key) {
            snprintf (why, why_len, "unknown key '%s'", name);
            return false;
        }
        int twin = s_twin_line (first, item, lines, 0);
        if (twin && !key->section) {
            snprintf (why, why_len, "'%s' is set twice (first on line %d); keep one", name, twin);
            return false;
        }
        zconfig_t *child = zconfig_child (item);
        if (child && !key->section) {
            snprintf (why, why_len, "'%s' takes a value, not a section: write '%s = VALUE' and remove the indented lines below it",
                      name, name);
            return false;
        }
        if (!child && !*value) {
            snprintf (why, why_len, "'%s' has no value: write '%s = VALUE'", name, name);
            return false;
        }
        if (child && *value) {
            snprintf (why, why_len, "section '%s' has a value too; give either '%s = NAME=VALUE' or indented 'NAME = VALUE' lines",
                      name, name);
            return false;
        }
        if (!child && !s_push (self, *line, name, NULL, value)) {
            snprintf (why, why_len, "out of memory");
            return false;
        }
        for (zconfig_t *c = child; c; c = zconfig_next (c)) {
            *line = index < nlines ? lines[index] : 0;
            index++;
            const char *cname = zconfig_name (c);
            int ctwin = s_twin_line (child, c, lines, item_index + 1);
            if (ctwin) {
                snprintf (why, why_len, "'%s' is given twice in section '%s' (first on line %d); keep one",
                          cname, name, ctwin);
                return false;
            }
            if (zconfig_child (c)) {
                //  Its first child comes next in pre-order: point there.
                if (index < nlines)
                    *line = lines[index];
                snprintf (why, why_len, "'%s/%s' is nested too deeply; sections hold only 'NAME = VALUE' lines",
                          name, cname);
                return false;
            }
            if (!*zconfig_value (c)) {
                snprintf (why, why_len, "'%s/%s' has no value: write '%s = VALUE'", name, cname, cname);
                return false;
            }
            if (!s_push (self, *line, name, cname, zconfig_value (c))) {
                snprintf (why, why_len, "out of memory");
                return false;
            }
        }
    }
    return true;
}

conffile_t *
conffile_load (const char *path, const conffile_key_t *keys, size_t nkeys, char *why,
               size_t why_len, int *line)
{
    *line = 0;
    char *text = s_read_file (path, why, why_len);
    if (!text)
        return NULL;
    int *lines = NULL;
    int nlines = s_item_lines (text, &lines, line);
    if (nlines < 0) {
        snprintf (why, why_len, *line ? "line is over %d bytes" : "out of memory", LINE_MAX_BYTES);
        free (text);
        return NULL;
    }
    zconfig_t *root = s_parse (text, why, why_len, line);
    free (text);
    conffile_t *self = root ? calloc (1, sizeof *self) : NULL;
    if (root && !self)
        snprintf (why, why_len, "out of memory");
    if (self && !s_walk (self, root, keys, nkeys, lines, nlines, why, why_len, line))
        conffile_destroy (&self);
    zconfig_destroy (&root);
    free (lines);
    return self;
}

void
conffile_destroy (conffile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    conffile_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->entries[i]);
    free (self->entries);
    free (self->lines);
    free (self->argv);
    free (self);
    *self_p = NULL;
}

size_t
conffile_size (const conffile_t *self)
{
    return self->count;
}

const char *
conffile_entry (const conffile_t *self, size_t i)
{
    return i < self->count ? self->entries[i] : NULL;
}

int
conffile_line (const conffile_t *self, size_t i)
{
    return i < self->count ? self->lines[i] : 0;
}

//  Length of "--config" matched at arg: 0 (no), or 1 for "--config" alone
//  and 2 for "--config=FILE".
static int
s_config_form (const char *arg)
{
    if (strcmp (arg, "--config") == 0)
        return 1;
    return strncmp (arg, "--config=", 9) == 0 ? 2 : 0;
}

const char *
conffile_flag (int argc, char **argv, bool *missing)
{
    const char *path = NULL;
    *missing = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv[i], "--") == 0)
            break;
        int form = s_config_form (argv[i]);
        if (form == 2)
            path = argv[i] + 9;
        else
        if (form == 1) {
            if (i + 1 >= argc) {
                *missing = true;
                return NULL;
            }
            path = argv[++i];
        }
    }
    return path;
}

//  True when the command line gives section entry `entry`
//  ("--key=NAME=...") again for the same NAME.
static bool
s_overridden (const char *entry, int argc, char **argv)
{
    const char *eq = strchr (entry + 2, '=');
    const char *eq2 = eq ? strchr (eq + 1, '=') : NULL;
    if (!eq2)
        return false;
    size_t klen = (size_t) (eq - entry);           //  "--key"
    size_t nlen = (size_t) (eq2 - eq);             //  "=NAME" or "NAME"
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = NULL;
        if (strncmp (arg, entry, klen) != 0)
            continue;
        if (arg[klen] == '=')
            value = arg + klen + 1;
        else
        if (arg[klen] == 0 && i + 1 < argc)
            value = argv[i + 1];
        if (value && strncmp (value, eq + 1, nlen - 1) == 0 && value[nlen - 1] == '=')
            return true;
    }
    return false;
}

char **
conffile_argv (conffile_t *self, int argc, char **argv, int *argc_out)
{
    free (self->argv);
    self->argv = calloc ((size_t) argc + self->count + 1, sizeof *self->argv);
    if (!self->argv)
        return NULL;
    int n = 0;
    self->argv[n++] = argv[0];
    for (size_t i = 0; i < self->count; i++)
        if (!s_overridden (self->entries[i], argc, argv))
            self->argv[n++] = self->entries[i];
    bool flags = true;
    for (int i = 1; i < argc; i++) {
        if (flags && strcmp (argv[i], "--") == 0)
            flags = false;
        int form = flags ? s_config_form (argv[i]) : 0;
        if (form == 1)
            i++;
        else
        if (form == 0)
            self->argv[n++] = argv[i];
    }
    self->argv[n] = NULL;
    *argc_out = n;
    return self->argv;
}

static void
s_report (const char *prog, const char *path, int line, const char *why)
{
    char where[64] = "";
    if (line > 0)
        snprintf (where, sizeof where, " line=%d", line);
    //  Quotes inside the reason would end the field early.
    char clean[600];
    size_t n = 0;
    for (const char *p = why; *p && n < sizeof clean - 1; p++)
        clean[n++] = *p == '"' ? '\'' : *p;
    clean[n] = 0;
    fprintf (stderr, "%s: error bad config file=%s%s why=\"%s\" hint=\"fix the file (ZPL: "
             "'key = value', 4-space indents); the keys are the flags of %s --help\"\n",
             prog, path, where, clean, prog);
}

int
conffile_apply (const char *prog, const conffile_key_t *keys, size_t nkeys, int *argc,
                char ***argv, conffile_check_fn *check, void *arg, conffile_t **file_p)
{
    *file_p = NULL;
    bool missing;
    const char *path = conffile_flag (*argc, *argv, &missing);
    if (missing) {
        fprintf (stderr, "%s: error usage why=\"--config needs a FILE\" hint=\"run %s --help\"\n",
                 prog, prog);
        return 2;
    }
    if (!path)
        return 0;
    char why[512];
    int line;
    conffile_t *self = conffile_load (path, keys, nkeys, why, sizeof why, &line);
    if (!self) {
        s_report (prog, path, line, why);
        return 2;
    }
    for (size_t i = 0; i < self->count; i++) {
        why[0] = 0;
        if (!check (arg, self->entries[i], why, sizeof why)) {
            s_report (prog, path, self->lines[i], why[0] ? why : "bad value");
            conffile_destroy (&self);
            return 2;
        }
    }
    int n;
    char **merged = conffile_argv (self, *argc, *argv, &n);
    if (!merged) {
        s_report (prog, path, 0, "out of memory");
        conffile_destroy (&self);
        return 2;
    }
    *argc = n;
    *argv = merged;
    *file_p = self;
    return 1;
}
