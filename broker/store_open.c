// SPDX-License-Identifier: MIT
//  store_open - opening the SQLite store: the state directory and its
//  lock, the database file and its checks (ours, not damaged, writable),
//  the schema (docs/store.md) and the prepared statements. Every failure
//  names the file and says what to do.
#include "store_sqlite_int.h"
#include "log.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const int store_sizes[STORE_SIZES] = {STORE_ROWS, 8, 1};

//  The schema; docs/store.md explains every column. Columns added since
//  version 1 come last in their tables, as ALTER TABLE puts them.
static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS generations ("
    "  gen INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  slot INTEGER UNIQUE,"
    "  started REAL NOT NULL,"
    "  max_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS tasks ("
    "  id INTEGER PRIMARY KEY,"
    "  ticket TEXT NOT NULL,"
    "  fn TEXT NOT NULL,"
    "  args BLOB NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  timeout REAL NOT NULL,"
    "  max_retries INTEGER NOT NULL,"
    "  chunk INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  requeued INTEGER NOT NULL,"
    "  submitted REAL NOT NULL,"
    "  retry_on BLOB);"
    "CREATE TABLE IF NOT EXISTS dispatches ("
    "  id INTEGER PRIMARY KEY,"
    "  at REAL NOT NULL,"
    "  tasks TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS outcomes ("
    "  id INTEGER PRIMARY KEY,"
    "  state INTEGER NOT NULL,"
    "  finished REAL NOT NULL,"
    "  error_type TEXT,"
    "  error_message TEXT,"
    "  payload BLOB,"
    "  runner INTEGER,"
    "  run_us INTEGER,"
    "  dead INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS runners ("
    "  id INTEGER PRIMARY KEY,"
    "  host TEXT NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  UNIQUE (host, pid));"
    "CREATE TABLE IF NOT EXISTS attempts ("
    "  id INTEGER NOT NULL,"
    "  n INTEGER NOT NULL,"
    "  runner INTEGER,"
    "  start REAL,"
    "  end REAL,"
    "  outcome TEXT,"
    "  error TEXT,"
    "  PRIMARY KEY (id, n)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS submits ("
    "  client TEXT NOT NULL,"
    "  req INTEGER NOT NULL,"
    "  first_id INTEGER NOT NULL,"
    "  count INTEGER NOT NULL,"
    "  submitted REAL NOT NULL,"
    "  PRIMARY KEY (client, req)) WITHOUT ROWID;"
    "CREATE VIEW IF NOT EXISTS task_states AS"
    "  WITH sent AS (SELECT j.value AS id, max (d.id) AS row, max (d.at) AS at"
    "                FROM dispatches d, json_each (d.tasks) j GROUP BY j.value)"
    "  SELECT t.ticket, t.fn,"
    "    CASE WHEN o.state = 3 THEN 'done' WHEN o.state = 4 THEN 'failed'"
    "         WHEN o.state = 5 THEN 'cancelled' WHEN s.row > t.requeued THEN 'running'"
    "         ELSE 'queued' END AS state,"
    "    t.priority, t.attempts,"
    "    datetime (t.submitted, 'unixepoch') AS submitted,"
    "    datetime (s.at, 'unixepoch') AS dispatched,"
    "    datetime (o.finished, 'unixepoch') AS finished,"
    "    o.error_type, o.error_message, t.id,"
    "    coalesce (o.dead, 0) AS dead, nullif (r.host, '') AS host, nullif (r.pid, 0) AS pid"
    "  FROM tasks t LEFT JOIN outcomes o ON o.id = t.id LEFT JOIN runners r ON r.id = o.runner"
    "  LEFT JOIN sent s ON s.id = t.id;";

//  Version 1 to 2, before s_schema adds the runners and attempts tables
//  and the view (dropped here: it gained columns).
static const char s_upgrade_1[] =
    "DROP VIEW IF EXISTS task_states;"
    "ALTER TABLE tasks ADD COLUMN retry_on BLOB;"
    "ALTER TABLE outcomes ADD COLUMN runner INTEGER;"
    "ALTER TABLE outcomes ADD COLUMN run_us INTEGER;"
    "ALTER TABLE outcomes ADD COLUMN dead INTEGER NOT NULL DEFAULT 0;";

static const char *s_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_REQUEUE] = "UPDATE tasks SET attempts = ?2, requeued = ?3,"
                   " submitted = coalesce (?4, submitted) WHERE id = ?1",
    [ST_DISPATCH] = "INSERT OR REPLACE INTO dispatches (id, at, tasks) VALUES (?, ?, ?)",
    [ST_TRIM] = "DELETE FROM dispatches WHERE id < ?",
    [ST_SUB_PUT] = "INSERT OR REPLACE INTO submits (client, req, first_id, count, submitted)"
                   " VALUES (?, ?, ?, ?, ?)",
    [ST_SUB_DEL] = "DELETE FROM submits WHERE client = ? AND req = ?",
    [ST_GEN_MAXSEQ] = "UPDATE generations SET max_seq = ? WHERE gen = ?",
    [ST_ATTEMPT] = "INSERT OR REPLACE INTO attempts (id, n, runner, start, end, outcome, error)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
    //  IGNORE: a row already there (written before a failed commit was
    //  retried) is the same row.
    [ST_RUNNER] = "INSERT OR IGNORE INTO runners (id, host, pid) VALUES (?, ?, ?)",
};

//  Multi-row statements: a head, then `row` repeated, comma-separated
//  (or, for the deletes, `?` repeated inside IN (...)).
static const struct {
    const char *head;
    const char *row;
    const char *tail;
} s_mr[MR_COUNT] = {
    [MR_INSERT] = {"INSERT INTO tasks (id, ticket, fn, args, priority, timeout, max_retries,"
                   " chunk, attempts, requeued, submitted, retry_on) VALUES ",
                   "(?,?,?,?,?,?,?,?,?,0,?,?)", ""},
    [MR_OUTCOME] = {"INSERT OR REPLACE INTO outcomes (id, state, finished, error_type,"
                    " error_message, payload, runner, run_us, dead) VALUES ",
                    "(?,?,?,?,?,?,?,?,?)", ""},
    [MR_DEL_TASKS] = {"DELETE FROM tasks WHERE id IN (", "?", ")"},
    [MR_DEL_OUTCOMES] = {"DELETE FROM outcomes WHERE id IN (", "?", ")"},
    [MR_DEL_ATTEMPTS] = {"DELETE FROM attempts WHERE id IN (", "?", ")"},
};

double
store_wall (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

zj_err_t
store_fail (store_sqlite_t *self, int rc, const char *what)
{
    int base = rc & 0xff;
    const char *msg = self->db ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc);
    if (base == SQLITE_FULL)
        snprintf (self->why, sizeof self->why,
                  "%s: %s (%s); free disk space in %s", self->path, msg, what, self->dir);
    else
    if (base == SQLITE_CORRUPT || base == SQLITE_NOTADB)
        snprintf (self->why, sizeof self->why,
                  "%s is damaged: %s (%s); stop zjobd, move zjob.db* out of %s (or restore a backup) "
                  "and start again", self->path, msg, what, self->dir);
    else
    if (base == SQLITE_BUSY || base == SQLITE_LOCKED)
        snprintf (self->why, sizeof self->why,
                  "%s is locked by another program: %s (%s); do not write to the store while "
                  "zjobd runs", self->path, msg, what);
    else
        snprintf (self->why, sizeof self->why, "%s: %s (%s)", self->path, msg, what);
    return base == SQLITE_FULL ? ZJ_ENOSPC : ZJ_EIO;
}

//  mkdir -p with mode 0750 for what is made.
static bool
s_mkdirs (store_sqlite_t *self, const char *dir)
{
    char path[4096];
    size_t len = strlen (dir);
    if (len == 0 || len >= sizeof path) {
        snprintf (self->why, sizeof self->why, "state directory '%s' is not a usable path", dir);
        return false;
    }
    memcpy (path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir (path, 0750) != 0 && errno != EEXIST) {
            snprintf (self->why, sizeof self->why,
                      "cannot create state directory %s: %s; create it or pick another "
                      "with --state-dir", path, strerror (errno));
            return false;
        }
        path[i] = c;
    }
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        snprintf (self->why, sizeof self->why,
                  "state directory %s is not a directory; pick another with --state-dir", dir);
        return false;
    }
    if (access (dir, W_OK | X_OK) != 0) {
        snprintf (self->why, sizeof self->why,
                  "state directory %s is not writable: %s; fix its owner and mode or pick "
                  "another with --state-dir", dir, strerror (errno));
        return false;
    }
    return true;
}

//  One zjobd per directory: a second one would hand out work twice.
static bool
s_lock (store_sqlite_t *self)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/zjob.lock", self->dir);
    self->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (self->lock_fd < 0) {
        snprintf (self->why, sizeof self->why, "cannot open %.400s: %s; check the state directory",
                  path, strerror (errno));
        return false;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread (self->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn (pid, "\n")] = '\0';
        snprintf (self->why, sizeof self->why,
                  "state directory %s is in use by another zjobd (pid %s); stop it or pick "
                  "another --state-dir", self->dir, pid[0] ? pid : "unknown");
        close (self->lock_fd);
        self->lock_fd = -1;
        return false;
    }
    char pid[32];
    int n = snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
    if (ftruncate (self->lock_fd, 0) != 0 || pwrite (self->lock_fd, pid, (size_t) n, 0) != n) {
        //  Only the message of a second zjobd needs it; go on.
    }
    return true;
}

static int
s_exec (store_sqlite_t *self, const char *sql)
{
    return sqlite3_exec (self->db, sql, NULL, NULL, NULL);
}

//  The first integer of a one-row query, or -1.
static int64_t
s_query_int (store_sqlite_t *self, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    *rc = sqlite3_prepare_v2 (self->db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step (st);
        if (*rc == SQLITE_ROW) {
            v = sqlite3_column_int64 (st, 0);
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize (st);
    return v;
}

static bool
s_prepare (store_sqlite_t *self)
{
    for (int i = 0; i < ST_COUNT; i++) {
        int rc = sqlite3_prepare_v3 (self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                     &self->st[i], NULL);
        if (rc != SQLITE_OK) {
            store_fail (self, rc, "preparing statements");
            return false;
        }
    }
    char sql[8192];
    for (int k = 0; k < MR_COUNT; k++)
        for (int s = 0; s < STORE_SIZES; s++) {
            size_t len = (size_t) snprintf (sql, sizeof sql, "%s", s_mr[k].head);
            for (int r = 0; r < store_sizes[s]; r++)
                len += (size_t) snprintf (sql + len, sizeof sql - len, "%s%s", r ? "," : "",
                                          s_mr[k].row);
            snprintf (sql + len, sizeof sql - len, "%s", s_mr[k].tail);
            int rc = sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                         &self->mr[k][s], NULL);
            if (rc != SQLITE_OK) {
                store_fail (self, rc, "preparing statements");
                return false;
            }
        }
    return true;
}

//  Create the schema (after `before`, an upgrade's changes, if given) and
//  stamp it with the id and version, in one transaction: a crash leaves
//  the file as it was.
static bool
s_make_schema (store_sqlite_t *self, const char *before, const char *what)
{
    char sql[128];
    snprintf (sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d;",
              STORE_APP_ID, STORE_SCHEMA_VERSION);
    int rc = s_exec (self, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK && before)
        rc = s_exec (self, before);
    if (rc == SQLITE_OK)
        rc = s_exec (self, s_schema);
    if (rc == SQLITE_OK)
        rc = s_exec (self, sql);
    if (rc == SQLITE_OK)
        rc = s_exec (self, "COMMIT");
    if (rc != SQLITE_OK) {
        store_fail (self, rc, what);
        if (!sqlite3_get_autocommit (self->db))
            s_exec (self, "ROLLBACK");
        return false;
    }
    return true;
}

//  A fresh file gets the schema; an existing one must be ours, of a
//  version we know (version 1 is upgraded), and readable from end to end
//  of its header.
static bool
s_check_schema (store_sqlite_t *self, bool fresh)
{
    int rc;
    int64_t app = s_query_int (self, "PRAGMA application_id", &rc);
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "reading the header");
        return false;
    }
    int64_t version = s_query_int (self, "PRAGMA user_version", &rc);
    int64_t tables = s_query_int (self, "SELECT count(*) FROM sqlite_schema", &rc);
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "reading the schema");
        return false;
    }
    if (app == 0 && version == 0 && tables == 0)
        return s_make_schema (self, NULL, fresh ? "creating the schema"
                                                : "creating the schema in an empty file");
    if (app != STORE_APP_ID) {
        snprintf (self->why, sizeof self->why,
                  "%s is a SQLite database but not a zjob store (application_id %lld); move it "
                  "away or pick another --state-dir", self->path, (long long) app);
        return false;
    }
    if (version == 1) {
        if (!s_make_schema (self, s_upgrade_1, "upgrading the schema from version 1"))
            return false;
        log_info ("store upgraded", "path=%s from=1 to=%d", self->path, STORE_SCHEMA_VERSION);
        return true;
    }
    if (version != STORE_SCHEMA_VERSION) {
        snprintf (self->why, sizeof self->why,
                  "%s has store schema version %lld, this zjobd knows %d; run the zjobd that "
                  "wrote it, or move it away to start empty", self->path, (long long) version,
                  STORE_SCHEMA_VERSION);
        return false;
    }
    //  Development builds wrote a version 2 that named workers in every
    //  outcome row; it was never released, so it is refused, not upgraded.
    int64_t named = s_query_int (self, "SELECT count (*) FROM pragma_table_info ('outcomes')"
                                       " WHERE name = 'host'", &rc);
    if (rc == SQLITE_OK && named > 0) {
        snprintf (self->why, sizeof self->why,
                  "%s was written by a development build of zjobd (schema version 2 without "
                  "the runners table); move it away to start empty", self->path);
        return false;
    }
    //  An upgrade of a store written by this version would add what is
    //  missing; CREATE ... IF NOT EXISTS makes this a no-op otherwise.
    if (rc == SQLITE_OK)
        rc = s_exec (self, s_schema);
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "checking the schema");
        return false;
    }
    return true;
}

bool
store_open (store_sqlite_t *self, const store_sqlite_config_t *config)
{
    self->lock_fd = -1;
    self->full_sync = config->full_sync;
    self->dir = strdup (config->dir);
    size_t plen = strlen (config->dir) + sizeof "/zjob.db";
    self->path = malloc (plen);
    if (!self->dir || !self->path) {
        snprintf (self->why, sizeof self->why, "out of memory");
        return false;
    }
    snprintf (self->path, plen, "%s/zjob.db", config->dir);
    if (!s_mkdirs (self, config->dir) || !s_lock (self))
        return false;

    struct stat st;
    bool fresh = stat (self->path, &st) != 0;
    if (fresh) {
        //  A log without its database cannot be applied to a new one.
        char wal[4200];
        snprintf (wal, sizeof wal, "%s-wal", self->path);
        if (stat (wal, &st) == 0 && st.st_size > 0) {
            snprintf (self->why, sizeof self->why,
                      "%s is missing but its write-ahead log %s-wal is there: the store lost "
                      "its main file; restore zjob.db from a backup, or move the -wal file "
                      "away to start empty", self->path, self->path);
            return false;
        }
    }
    else
    if (!S_ISREG (st.st_mode)) {
        snprintf (self->why, sizeof self->why, "%s is not a regular file; move it away",
                  self->path);
        return false;
    }
    int rc = sqlite3_open_v2 (self->path, &self->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "opening");
        return false;
    }
    sqlite3_extended_result_codes (self->db, 1);
    if (sqlite3_db_readonly (self->db, "main") == 1) {
        snprintf (self->why, sizeof self->why,
                  "%s is read-only; give zjobd write access to it and to %s", self->path,
                  self->dir);
        return false;
    }
    //  Another program writing the file (an operator's sqlite3 shell)
    //  holds the lock briefly at most; wait that long, not forever.
    sqlite3_busy_timeout (self->db, 2000);
    //  WAL: commits append to one log, readers (the sqlite3 shell) never
    //  block the broker. synchronous NORMAL fsyncs at checkpoints only,
    //  FULL at every commit.
    rc = s_exec (self, "PRAGMA page_size = 4096");
    if (rc == SQLITE_OK) {
        sqlite3_stmt *q = NULL;
        rc = sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1, &q, NULL);
        if (rc == SQLITE_OK && (rc = sqlite3_step (q)) == SQLITE_ROW) {
            const char *mode = (const char *) sqlite3_column_text (q, 0);
            rc = mode && strcmp (mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
        }
        sqlite3_finalize (q);
    }
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "switching to WAL mode");
        return false;
    }
    rc = s_exec (self, config->full_sync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (rc == SQLITE_OK)
        rc = s_exec (self, "PRAGMA cache_size = -16384; PRAGMA temp_store = MEMORY;"
                           "PRAGMA journal_size_limit = 67108864;"
                           "PRAGMA foreign_keys = OFF");
    if (rc == SQLITE_OK && config->max_pages) {
        char sql[64];
        snprintf (sql, sizeof sql, "PRAGMA max_page_count = %u", config->max_pages);
        rc = s_exec (self, sql);
    }
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "setting up");
        return false;
    }
    if (!s_check_schema (self, fresh) || !s_prepare (self))
        return false;
    //  Runs left without their task (deleted while the broker had lost
    //  its log of them) go before a new generation could reuse the ids.
    rc = s_exec (self, "DELETE FROM attempts WHERE id NOT IN (SELECT id FROM tasks)");
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "deleting orphaned attempts");
        return false;
    }
    self->dseq = s_query_int (self, "SELECT coalesce (max (id), 0) FROM dispatches", &rc);
    if (rc != SQLITE_OK) {
        store_fail (self, rc, "reading dispatches");
        return false;
    }
    return store_runners_load (self) && store_ckpt_start (self) && store_writer_start (self);
}

void
store_close (store_sqlite_t *self)
{
    store_writer_stop (self);
    store_ckpt_stop (self);
    if (self->db && self->st[ST_GEN_MAXSEQ] && self->max_seq > self->gen_written) {
        sqlite3_stmt *st = self->st[ST_GEN_MAXSEQ];
        sqlite3_bind_int64 (st, 1, (int64_t) self->max_seq);
        sqlite3_bind_int64 (st, 2, (int64_t) self->gen);
        sqlite3_step (st);
        sqlite3_reset (st);
    }
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize (self->st[i]);
    for (int k = 0; k < MR_COUNT; k++)
        for (int s = 0; s < STORE_SIZES; s++)
            sqlite3_finalize (self->mr[k][s]);
    //  The last connection to close checkpoints the log into the main
    //  file and deletes it.
    if (self->db)
        sqlite3_close (self->db);
    self->db = NULL;
    if (self->lock_fd >= 0)
        close (self->lock_fd);
    self->lock_fd = -1;
    free (self->path);
    free (self->dir);
    self->path = self->dir = NULL;
}
