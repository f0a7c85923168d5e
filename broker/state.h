// SPDX-License-Identifier: MIT
//  state - where zjobd keeps its store and how durable it is: the
//  --state-dir default, the --durability modes, opening the backend and
//  starting a generation it has never seen. Used by main.c only.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "store.h"

typedef enum {
    STATE_MEMORY = 0,           //  no store: a restart loses every task
    STATE_NORMAL,               //  SQLite WAL, synchronous=NORMAL
    STATE_FULL,                 //  SQLite WAL, synchronous=FULL
} state_durability_t;

typedef struct {
    const char *dir;            //  --state-dir, or NULL for the default
    state_durability_t durability;      //  --durability
    uint32_t max_pages;         //  ZJOBD_STORE_MAX_PAGES (tests: a full disk)
} state_config_t;

//  "memory", "normal" or "full" -> *out. False for anything else.
bool state_durability_parse (const char *text, state_durability_t *out);
const char *state_durability_name (state_durability_t d);

//  The default state directory: $STATE_DIRECTORY (its first entry, as
//  systemd's StateDirectory= sets it), else /var/lib/zjob when running as
//  root, else $XDG_STATE_HOME/zjob, else ~/.local/state/zjob. Writes it
//  into buf; false (with a reason in buf) when none can be worked out.
bool state_default_dir (char *buf, size_t len);

//  Open the store the settings ask for: the memory backend, or SQLite in
//  the state directory. *dir_out (may be NULL) gets the directory used
//  (static storage). NULL with a reason in `why` on failure. Caller owns;
//  free with store_destroy.
store_t *state_open (const state_config_t *config, const char **dir_out, char *why,
                     size_t why_len);

//  Draw random generations until the store takes one it has not seen.
//  False with a reason in `why`.
bool state_generation (store_t *store, uint64_t *gen, char *why, size_t why_len);
