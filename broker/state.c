// SPDX-License-Identifier: MIT
//  state - the state directory, durability modes and the start of a
//  generation; see state.h.
#include "state.h"
#include "ticket.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *s_names[] = {"memory", "normal", "full"};

bool
state_durability_parse (const char *text, state_durability_t *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp (text, s_names[i]) == 0) {
            *out = (state_durability_t) i;
            return true;
        }
    return false;
}

const char *
state_durability_name (state_durability_t d)
{
    return d <= STATE_FULL ? s_names[d] : "invalid";
}

bool
state_default_dir (char *buf, size_t len)
{
    const char *sd = getenv ("STATE_DIRECTORY");
    if (sd && *sd) {
        //  systemd lists one directory per StateDirectory= entry.
        size_t n = strcspn (sd, ":");
        snprintf (buf, len, "%.*s", (int) n, sd);
        return true;
    }
    if (geteuid () == 0) {
        snprintf (buf, len, "/var/lib/zjob");
        return true;
    }
    const char *xdg = getenv ("XDG_STATE_HOME");
    if (xdg && xdg[0] == '/') {
        snprintf (buf, len, "%s/zjob", xdg);
        return true;
    }
    const char *home = getenv ("HOME");
    if (home && home[0] == '/') {
        snprintf (buf, len, "%s/.local/state/zjob", home);
        return true;
    }
    snprintf (buf, len, "no state directory: HOME is not set; give one with --state-dir");
    return false;
}

store_t *
state_open (const state_config_t *config, const char **dir_out, char *why, size_t why_len)
{
    static char dir[4096];
    if (dir_out)
        *dir_out = "-";
    if (config->durability == STATE_MEMORY) {
        store_t *store = store_mem_new ();
        if (!store)
            snprintf (why, why_len, "out of memory");
        return store;
    }
    if (config->dir)
        snprintf (dir, sizeof dir, "%s", config->dir);
    else
    if (!state_default_dir (dir, sizeof dir)) {
        snprintf (why, why_len, "%s", dir);
        return NULL;
    }
    if (dir_out)
        *dir_out = dir;
    store_sqlite_config_t sc = {
        .dir = dir,
        .full_sync = config->durability == STATE_FULL,
        .max_pages = config->max_pages,
    };
    return store_sqlite_new (&sc, why, why_len);
}

bool
state_generation (store_t *store, uint64_t *gen, char *why, size_t why_len)
{
    //  Two starts drawing the same 40 bits are unlikely; a store that
    //  says so is answered with another draw.
    for (int tries = 0; tries < 16; tries++) {
        if (!ticket_generation_new (gen)) {
            snprintf (why, why_len, "getrandom failed: %s; check the kernel's random source",
                      strerror (errno));
            return false;
        }
        zj_err_t rc = store_start_generation (store, *gen);
        if (rc == ZJ_OK)
            return true;
        if (rc != ZJ_EINVAL) {
            snprintf (why, why_len, "%s", store_why (store));
            return false;
        }
    }
    snprintf (why, why_len, "no unused generation after 16 draws; the random source is broken");
    return false;
}
