// SPDX-License-Identifier: MIT
//  store_ckpt - copies the SQLite write-ahead log into the database from
//  a thread of its own, on a connection of its own, so that the event
//  loop never waits for a checkpoint's writes and fsyncs. The loop's
//  connection only appends to the log; its WAL hook wakes this thread.
//  The thread touches nothing but its connection and the fields below.
#include "store_sqlite_int.h"
#include "log.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Frames (pages) in the log that make a checkpoint worthwhile: about
//  4 MiB, SQLite's own default.
#define CKPT_FRAMES 1000
//  Past this many the writer checkpoints itself, waiting: the thread is
//  not keeping up and the log must not grow without bound.
#define CKPT_FRAMES_MAX 65536

struct store_ckpt {
    pthread_t thread;           //  the checkpointer
    pthread_mutex_t mu;         //  guards the three flags
    pthread_cond_t cv;          //  signals them
    bool wanted;                //  a checkpoint is due
    bool stop;                  //  the store is closing
    bool failing;               //  the last checkpoint failed (logged once)
    sqlite3 *db;                //  the thread's connection
};

static void *
s_run (void *arg)
{
    store_ckpt_t *self = arg;
    pthread_mutex_lock (&self->mu);
    while (!self->stop) {
        if (!self->wanted) {
            pthread_cond_wait (&self->cv, &self->mu);
            continue;
        }
        self->wanted = false;
        pthread_mutex_unlock (&self->mu);
        //  PASSIVE: copy what no reader still needs, never wait for the
        //  writer; the writer restarts the log once all of it is copied.
        int log_frames = 0, done = 0;
        int rc = sqlite3_wal_checkpoint_v2 (self->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                            &log_frames, &done);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY && !self->failing)
            log_warn ("store checkpoint failed", "error=\"%s\" hint=\"the write-ahead log "
                      "grows until a checkpoint succeeds; check the disk\"",
                      sqlite3_errmsg (self->db));
        self->failing = rc != SQLITE_OK && rc != SQLITE_BUSY;
        pthread_mutex_lock (&self->mu);
    }
    pthread_mutex_unlock (&self->mu);
    return NULL;
}

//  SQLite calls this on the loop's connection after every commit.
static int
s_wal_hook (void *arg, sqlite3 *db, const char *name, int frames)
{
    store_ckpt_t *self = arg;
    if (frames >= CKPT_FRAMES_MAX) {
        sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    if (frames >= CKPT_FRAMES) {
        pthread_mutex_lock (&self->mu);
        if (!self->wanted) {
            self->wanted = true;
            pthread_cond_signal (&self->cv);
        }
        pthread_mutex_unlock (&self->mu);
    }
    return SQLITE_OK;
}

bool
store_ckpt_start (store_sqlite_t *self)
{
    store_ckpt_t *c = calloc (1, sizeof *c);
    if (!c) {
        snprintf (self->why, sizeof self->why, "out of memory");
        return false;
    }
    int rc = sqlite3_open_v2 (self->path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout (c->db, 1000);
        //  The checkpoint's fsyncs follow the connection's setting.
        rc = sqlite3_exec (c->db, self->full_sync ? "PRAGMA synchronous = FULL"
                                                  : "PRAGMA synchronous = NORMAL",
                           NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf (self->why, sizeof self->why, "%s: %s (opening the checkpointer)", self->path,
                  c->db ? sqlite3_errmsg (c->db) : sqlite3_errstr (rc));
        sqlite3_close (c->db);
        free (c);
        return false;
    }
    pthread_mutex_init (&c->mu, NULL);
    pthread_cond_init (&c->cv, NULL);
    if (pthread_create (&c->thread, NULL, s_run, c) != 0) {
        snprintf (self->why, sizeof self->why, "cannot start the checkpoint thread");
        pthread_mutex_destroy (&c->mu);
        pthread_cond_destroy (&c->cv);
        sqlite3_close (c->db);
        free (c);
        return false;
    }
    self->ckpt = c;
    //  From now on only the thread checkpoints (unless it falls behind).
    sqlite3_wal_autocheckpoint (self->db, 0);
    sqlite3_wal_hook (self->db, s_wal_hook, c);
    return true;
}

void
store_ckpt_stop (store_sqlite_t *self)
{
    store_ckpt_t *c = self->ckpt;
    if (!c)
        return;
    if (self->db)
        sqlite3_wal_hook (self->db, NULL, NULL);
    pthread_mutex_lock (&c->mu);
    c->stop = true;
    pthread_cond_signal (&c->cv);
    pthread_mutex_unlock (&c->mu);
    pthread_join (c->thread, NULL);
    pthread_mutex_destroy (&c->mu);
    pthread_cond_destroy (&c->cv);
    sqlite3_close (c->db);
    free (c);
    self->ckpt = NULL;
}
