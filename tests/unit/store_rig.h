// SPDX-License-Identifier: MIT
//  store_rig - what the SQLite store's unit tests share: a fresh state
//  directory per test, opening the store, a task table and functions for
//  the store to write about, and a one-number query of the database.
#pragma once
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "harness.h"
#include "broker/sched.h"
#include "broker/store.h"
#include "broker/tasks.h"

static char s_dir[64];

static inline void
s_rmdir (const char *dir)
{
    char cmd[256];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    ASSERT_EQ (system (cmd), 0);
}

//  A fresh state directory path (not made: the store makes it).
static inline const char *
s_fresh (void)
{
    if (s_dir[0])
        s_rmdir (s_dir);
    snprintf (s_dir, sizeof s_dir, "/tmp/zjob-store-test-XXXXXX");
    ASSERT_TRUE (mkdtemp (s_dir));
    ASSERT_EQ (rmdir (s_dir), 0);
    return s_dir;
}

static inline store_t *
s_open (const char *dir, uint32_t max_pages, char *why)
{
    store_sqlite_config_t cfg = {.dir = dir, .max_pages = max_pages};
    char buf[700];
    store_t *store = store_sqlite_new (&cfg, why ? why : buf, why ? 700 : sizeof buf);
    if (!store && !why)
        ZT_FAIL ("store_sqlite_new: %s", buf);
    return store;
}

static const uint8_t ARGS[] = {0x92, 0x01, 0xa1, 'x'};      //  [1, "x"]
static const uint8_t RESULT[] = {0xa2, 'o', 'k'};           //  "ok"

//  Tasks and functions for the store to write about.
typedef struct {
    store_t *store;
    tasks_t *tasks;
    sched_t *sched;
    sched_fn_t *fn;
} rig_t;

static inline void
s_rig (rig_t *r, store_t *store, uint64_t gen)
{
    r->store = store;
    ASSERT_ERR (store_start_generation (store, gen), ZJ_OK);
    r->tasks = tasks_new (gen, store);
    r->sched = sched_new ();
    r->fn = sched_fn_get (r->sched, "echo", 4);
    ASSERT_TRUE (r->tasks && r->sched && r->fn);
}

static inline void
s_unrig (rig_t *r)
{
    tasks_destroy (&r->tasks);
    sched_destroy (&r->sched);
    store_destroy (&r->store);
}

static inline task_t *
s_add (rig_t *r, int64_t prio)
{
    zj_task_t spec = {.fn = {"echo", 4}, .args = {ARGS, sizeof ARGS}, .priority = prio,
                      .timeout = 1.5, .max_retries = -1, .chunk = prio == 2};
    task_t *t = tasks_add (r->tasks, r->fn, &spec, 4, 0.0);
    ASSERT_TRUE (t);
    ASSERT_ERR (tasks_persist (r->tasks, &t, 1), ZJ_OK);
    return t;
}

//  msgpack [bin] of a page's size, and an outcome payload of five pages.
static uint8_t s_big[3000] = {0x91, 0xc5, (sizeof s_big - 4) >> 8, (sizeof s_big - 4) & 0xff};
static uint8_t s_huge[20000] = {0x91, 0xc5, (sizeof s_huge - 4) >> 8,
                                (sizeof s_huge - 4) & 0xff};

//  A new task (persisted) with s_big as its args.
static inline task_t *
s_add_big (rig_t *r)
{
    zj_task_t spec = {.fn = {"echo", 4}, .args = {s_big, sizeof s_big}, .max_retries = -1};
    task_t *t = tasks_add (r->tasks, r->fn, &spec, 1, 0.0);
    ASSERT_TRUE (t);
    tasks_persist (r->tasks, &t, 1);
    return t;
}

//  A store opened with a page limit: commit big tasks, one a turn, until
//  the store is full (the last one is refused). Returns how many turns
//  that took; fill[] holds their tasks.
static inline size_t
s_fill_up (rig_t *r, task_t **fill, size_t max)
{
    size_t n = 0;
    zj_err_t rc = ZJ_OK;
    while (rc == ZJ_OK && n < max) {
        store_begin_turn (r->store);
        fill[n++] = s_add_big (r);
        rc = store_commit_turn (r->store);
    }
    ASSERT_ERR (rc, ZJ_ENOSPC);
    return n;
}

//  The turn's commit fails, and the changes it kept cannot be written at
//  the next commit either: the store stays degraded.
static inline void
s_commit_degraded (rig_t *r)
{
    ASSERT_ERR (store_commit_turn (r->store), ZJ_ENOSPC);
    ASSERT_TRUE (store_degraded (r->store));
    store_begin_turn (r->store);
    ASSERT_ERR (store_commit_turn (r->store), ZJ_ENOSPC);
    ASSERT_TRUE (store_degraded (r->store));
}

//  Delete what s_fill_up stored: the kept changes go in.
static inline void
s_make_room (rig_t *r, task_t **fill, size_t nfill)
{
    store_begin_turn (r->store);
    for (size_t i = 0; i + 1 < nfill; i++)
        store_delete_task (r->store, fill[i]);
    ASSERT_ERR (store_commit_turn (r->store), ZJ_OK);
    ASSERT_TRUE (!store_degraded (r->store));
}

static inline size_t
s_count (const char *dir, const char *sql)
{
    char path[128];
    snprintf (path, sizeof path, "%s/zjob.db", dir);
    sqlite3 *db;
    ASSERT_EQ (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st;
    ASSERT_EQ (sqlite3_prepare_v2 (db, sql, -1, &st, NULL), SQLITE_OK);
    ASSERT_EQ (sqlite3_step (st), SQLITE_ROW);
    size_t n = (size_t) sqlite3_column_int64 (st, 0);
    sqlite3_finalize (st);
    sqlite3_close (db);
    return n;
}
