// SPDX-License-Identifier: MIT
//  client - the executor side of libzjob: zj_client_new/destroy/shutdown,
//  zj_submit, zj_fetch and the synchronous ticket calls. API threads only
//  append to the outbound queue here; client/io.c owns the socket.
#include "client.h"
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include "future.h"
#include "io.h"
#include "json.h"
#include "log.h"
#include "map.h"

//  A SUBMIT batch closes at opts.batch tasks or at this many bytes, so
//  that one frame stays well under the broker's default frame limit.
#define ZJ_BATCH_BYTES (8u * 1024 * 1024)

//  ---------------------------------------------------------------------
//  Requests

zj__req_t *zj__req_new (zj_msg_type_t type, bool sync)
{
    zj__req_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->type = type;
    self->sync = sync;
    self->state = -1;
    if (sync)
        zj__cond_init (&self->cv);
    return self;
}

void zj__req_destroy (zj__req_t **self_p)
{
    zj__req_t *self = *self_p;
    if (!self)
        return;
    if (self->sync)
        pthread_cond_destroy (&self->cv);
    free (self->items);
    free (self->arena);
    free (self->json);
    free (self);
    *self_p = NULL;
}

void zj__req_finish_locked (zj__req_t *self, zj_err_t err)
{
    if (!self->sync || self->done)
        return;
    self->err = err;
    self->done = true;
    if (self->abandoned)
        zj__req_destroy (&self);
    else
        pthread_cond_signal (&self->cv);
}

//  Room for one more item; false on OOM.
static bool s_req_reserve (zj__req_t *self)
{
    if (self->nitems < self->cap)
        return true;
    uint32_t cap = self->cap ? self->cap * 2 : 16;
    zj__item_t *items = realloc (self->items, cap * sizeof *items);
    if (!items)
        return false;
    self->items = items;
    self->cap = cap;
    return true;
}

//  The item's retry_on as a msgpack array of strings in the arena (kept
//  for resends like the args). False on OOM.
static bool s_item_retry_on (zj__req_t *req, zj__item_t *item, const zj_task_opts_t *opts)
{
    zj_enc_t *enc = zj_enc_new ();
    if (!enc)
        return false;
    zj_enc_array (enc, (uint32_t) opts->nretry_on);
    for (size_t i = 0; i < opts->nretry_on; i++)
        zj_enc_cstr (enc, opts->retry_on[i] ? opts->retry_on[i] : "");
    bool ok = !zj_enc_failed (enc);
    if (ok) {
        item->retry_off = zj__req_append (req, zj_enc_data (enc), zj_enc_size (enc));
        item->retry_len = zj_enc_size (enc);
        ok = item->retry_off != SIZE_MAX;
    }
    if (!ok)
        item->retry_len = 0;
    zj_enc_destroy (&enc);
    return ok;
}

size_t zj__req_append (zj__req_t *self, const void *data, size_t len)
{
    if (self->arena_len + len > self->arena_cap) {
        size_t cap = self->arena_cap ? self->arena_cap : 4096;
        while (cap < self->arena_len + len)
            cap *= 2;
        uint8_t *arena = realloc (self->arena, cap);
        if (!arena)
            return SIZE_MAX;
        self->arena = arena;
        self->arena_cap = cap;
    }
    size_t off = self->arena_len;
    memcpy (self->arena + off, data, len);
    self->arena_len += len;
    return off;
}

//  ---------------------------------------------------------------------
//  Queue

void zj__client_wake (zj_client_t *self)
{
    uint64_t one = 1;
    //  EAGAIN means the counter is already non-zero: the thread will wake.
    ssize_t rc = write (self->wake_fd, &one, sizeof one);
    (void) rc;
}

void zj__client_enqueue_locked (zj_client_t *self, zj__req_t *req)
{
    req->next = NULL;
    if (self->queue_tail)
        self->queue_tail->next = req;
    else
        self->queue = req;
    self->queue_tail = req;
    //  Also when the queue was not empty: the I/O thread may be holding a
    //  SUBMIT batch back to fill it (io.c), and this one is now behind it.
    zj__client_wake (self);
}

void zj__client_on_settle (zj_client_t *self)
{
    if (self->npending > 0 && --self->npending == 0)
        pthread_cond_broadcast (&self->idle_cv);
}

double zj__client_connect_timeout (zj_client_t *self)
{
    return self->opts.connect_timeout;
}

//  ---------------------------------------------------------------------
//  Lifecycle

//  libzjob has its own copy of the event log (common/ is linked in
//  privately): warnings by default, as a library should, or the level
//  named by $ZJOB_LOG_LEVEL.
static pthread_once_t s_log_once = PTHREAD_ONCE_INIT;

static void s_log_setup (void)
{
    log_level_t level = LOG_LEVEL_WARN;
    const char *env = getenv ("ZJOB_LOG_LEVEL");
    if (env && !log_level_parse (env, &level))
        level = LOG_LEVEL_WARN;
    log_init ("zjob", level);
}

//  ZJ__CLIENT_ID_LEN hex digits from the system's random source. The id
//  must not repeat across clients that share a broker, ever: the broker
//  keeps (client, req) pairs across its restarts.
static void s_make_id (char *id)
{
    uint8_t bytes[ZJ__CLIENT_ID_LEN / 2];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = getrandom (bytes + got, sizeof bytes - got, 0);
        if (n > 0)
            got += (size_t) n;
        else if (n < 0 && errno != EINTR)
            break;
    }
    if (got < sizeof bytes) {
        //  No random source (seccomp, very old kernel): time, pid and an
        //  address still tell this client from the others.
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        uint64_t mix[2] = {(uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec,
                           (uint64_t) getpid () << 32 ^ (uint64_t) (uintptr_t) id};
        memcpy (bytes, mix, sizeof bytes < sizeof mix ? sizeof bytes : sizeof mix);
    }
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof bytes; i++) {
        id[2 * i] = hex[bytes[i] >> 4];
        id[2 * i + 1] = hex[bytes[i] & 15];
    }
    id[ZJ__CLIENT_ID_LEN] = 0;
}

zj_client_t *zj_client_new (const char *endpoint, const zj_client_opts_t *opts, zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    if (!endpoint || !*endpoint) {
        *err = ZJ_EINVAL;
        return NULL;
    }
    zj_client_t *self = calloc (1, sizeof *self);
    if (!self || !(self->endpoint = strdup (endpoint))) {
        free (self);
        *err = ZJ_ENOMEM;
        return NULL;
    }
    self->opts.connect_timeout = 5;
    self->opts.heartbeat = 1;
    self->opts.liveness = 5;
    self->opts.batch = 1000;
    self->opts.reconnect_timeout = 60;
    if (opts) {
        if (opts->connect_timeout > 0)
            self->opts.connect_timeout = opts->connect_timeout;
        if (opts->heartbeat > 0)
            self->opts.heartbeat = opts->heartbeat;
        if (opts->liveness > 0)
            self->opts.liveness = opts->liveness;
        if (opts->batch > 0)
            self->opts.batch = opts->batch;
        if (opts->reconnect_timeout > 0)
            self->opts.reconnect_timeout = opts->reconnect_timeout;
        //  Borrowed until zj__io_start has read the files.
        self->opts.curve_secret_file = opts->curve_secret_file;
        self->opts.broker_key_file = opts->broker_key_file;
    }
    s_make_id (self->id);
    pthread_once (&s_log_once, s_log_setup);
    zj__cond_init (&self->idle_cv);
    self->wake_fd = -1;
    *err = zj__io_start (self);
    if (*err != ZJ_OK) {
        zj__io_stop (self);
        pthread_cond_destroy (&self->idle_cv);
        free (self->endpoint);
        free (self);
        return NULL;
    }
    return self;
}

void zj_client_shutdown (zj_client_t *self, bool wait, bool cancel_futures)
{
    if (!self)
        return;
    zj__lock ();
    self->shut = true;
    if (cancel_futures && !self->cancel_all) {
        self->cancel_all = true;
        zj__client_wake (self);
    }
    while (wait && self->npending > 0)
        zj__cond_wait (&self->idle_cv, NULL);
    zj__unlock ();
}

void zj_client_destroy (zj_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zj_client_t *self = *self_p;
    //  A caller that already chose how to shut down (e.g. wait=false to
    //  leave tasks running) is not made to wait again here.
    zj__lock ();
    bool shut = self->shut;
    zj__unlock ();
    if (!shut)
        zj_client_shutdown (self, true, false);
    zj__io_stop (self);
    pthread_cond_destroy (&self->idle_cv);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Submitting

static bool s_name_ok (const char *s, size_t max)
{
    size_t len = s ? strnlen (s, max + 1) : 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e)
            return false;
    return true;
}

zj_future_t *zj__submit (zj_client_t *self, const char *fn, const void *args,
                         size_t args_len, const zj_task_opts_t *opts, bool chunk,
                         zj_err_t *err)
{
    static const uint8_t empty_array = 0x90;
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    if (!args || args_len == 0) {
        args = &empty_array;
        args_len = 1;
    }
    if (!self || !s_name_ok (fn, ZJ_MAX_FN) || !zj__is_array (args, args_len)
        || (opts && opts->timeout < 0)) {
        *err = ZJ_EINVAL;
        return NULL;
    }
    zj_future_t *future = zj__future_new (self);
    if (!future) {
        *err = ZJ_ENOMEM;
        return NULL;
    }
    size_t fn_len = strlen (fn);
    zj__lock ();
    if (self->shut) {
        zj__unlock ();
        free (future);
        *err = ZJ_ESHUTDOWN;
        return NULL;
    }
    //  Coalesce with the batch at the tail of the queue when it has room.
    zj__req_t *req = self->queue_tail;
    bool fresh = !req || req->type != ZJ_MSG_SUBMIT || req->nitems >= self->opts.batch
              || (req->arena_len > 0 && req->arena_len + fn_len + args_len > ZJ_BATCH_BYTES);
    if (fresh && !(req = zj__req_new (ZJ_MSG_SUBMIT, false)))
        goto oom;
    if (!s_req_reserve (req))
        goto oom;
    zj__item_t *item = &req->items[req->nitems];
    item->fn_off = zj__req_append (req, fn, fn_len);
    item->fn_len = fn_len;
    item->args_off = item->fn_off == SIZE_MAX ? SIZE_MAX : zj__req_append (req, args, args_len);
    item->args_len = args_len;
    if (item->args_off == SIZE_MAX)
        goto oom;
    item->future = future;
    item->priority = opts ? opts->priority : 0;
    item->timeout = opts ? opts->timeout : 0;
    //  zj_task_opts_t: 0 = broker default, negative = none; the wire: -1 = default.
    item->max_retries = !opts || opts->max_retries == 0 ? -1
                      : opts->max_retries < 0 ? 0 : opts->max_retries;
    item->chunk = chunk;
    item->retry_len = 0;
    if (opts && opts->nretry_on && !s_item_retry_on (req, item, opts))
        goto oom;
    req->nitems++;
    self->npending++;
    if (fresh)
        zj__client_enqueue_locked (self, req);
    zj__unlock ();
    *err = ZJ_OK;
    return future;

oom:
    if (fresh)
        zj__req_destroy (&req);
    zj__unlock ();
    free (future);
    *err = ZJ_ENOMEM;
    return NULL;
}

zj_future_t *zj_submit (zj_client_t *self, const char *fn, const void *args,
                        size_t args_len, const zj_task_opts_t *opts, zj_err_t *err)
{
    return zj__submit (self, fn, args, args_len, opts, false, err);
}

zj_future_t *zj_submit_json (zj_client_t *self, const char *fn, const char *args_json,
                             const zj_task_opts_t *opts, zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    zj_enc_t *enc = zj_enc_new ();
    if (!enc) {
        *err = ZJ_ENOMEM;
        return NULL;
    }
    zj_err_t rc = ZJ_OK;
    if (!args_json)
        zj_enc_array (enc, 0);
    else {
        //  A JSON array is the argument list; any other value is the one argument.
        const char *p = args_json;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (*p != '[')
            zj_enc_array (enc, 1);
        rc = zj_json_to_msgpack (enc, args_json, strlen (args_json));
    }
    zj_future_t *future = NULL;
    if (rc != ZJ_OK)
        *err = rc;
    else if (zj_enc_failed (enc))
        *err = ZJ_ENOMEM;
    else
        future = zj_submit (self, fn, zj_enc_data (enc), zj_enc_size (enc), opts, err);
    zj_enc_destroy (&enc);
    return future;
}

zj_future_t *zj_fetch (zj_client_t *self, const char *ticket, zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    if (!self || !s_name_ok (ticket, ZJ_MAX_TICKET)) {
        *err = ZJ_EINVAL;
        return NULL;
    }
    zj_future_t *future = zj__future_new (self);
    if (!future) {
        *err = ZJ_ENOMEM;
        return NULL;
    }
    zj__lock ();
    zj__future_set_ticket (future, ticket, strlen (ticket));
    if (self->shut) {
        zj__unlock ();
        free (future);
        *err = ZJ_ESHUTDOWN;
        return NULL;
    }
    zj__req_t *req = self->queue_tail;
    bool fresh = !req || req->type != ZJ_MSG_FETCH || req->nitems >= self->opts.batch;
    if ((fresh && !(req = zj__req_new (ZJ_MSG_FETCH, false))) || !s_req_reserve (req)) {
        if (fresh)
            zj__req_destroy (&req);
        zj__unlock ();
        free (future);
        *err = ZJ_ENOMEM;
        return NULL;
    }
    memset (&req->items[req->nitems], 0, sizeof req->items[0]);
    req->items[req->nitems++].future = future;
    self->npending++;
    if (fresh)
        zj__client_enqueue_locked (self, req);
    zj__unlock ();
    *err = ZJ_OK;
    return future;
}

//  ---------------------------------------------------------------------
//  Synchronous calls

//  Queue a sync request and wait up to timeout. On ZJ_OK the caller reads
//  the answer from req and destroys it; otherwise req is gone.
static zj_err_t s_call (zj_client_t *self, zj__req_t **req_p, double timeout)
{
    zj__req_t *req = *req_p;
    struct timespec ts;
    const struct timespec *deadline = zj__deadline (timeout, &ts);
    zj__lock ();
    if (self->stopping) {
        zj__unlock ();
        zj__req_destroy (req_p);
        return ZJ_ESHUTDOWN;
    }
    zj__client_enqueue_locked (self, req);
    bool in_time = true;
    while (!req->done && in_time)
        in_time = zj__cond_wait (&req->cv, deadline);
    zj_err_t rc = req->done ? req->err : ZJ_ETIMEDOUT;
    if (!req->done) {
        //  The I/O thread still holds it; it frees it when it finishes.
        req->abandoned = true;
        *req_p = NULL;
    }
    else if (rc != ZJ_OK)
        zj__req_destroy (req_p);
    zj__unlock ();
    return rc;
}

int zj__client_ticket_call (zj_client_t *self, zj_msg_type_t type, const char *ticket,
                            double timeout, zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    if (!self || !s_name_ok (ticket, ZJ_MAX_TICKET)) {
        *err = ZJ_EINVAL;
        return -1;
    }
    zj__req_t *req = zj__req_new (type, true);
    if (!req) {
        *err = ZJ_ENOMEM;
        return -1;
    }
    strcpy (req->ticket, ticket);
    *err = s_call (self, &req, timeout);
    if (*err != ZJ_OK)
        return -1;
    int state = req->state;
    zj__req_destroy (&req);
    if (state < 0)
        *err = ZJ_EPROTO;
    return state;
}

int zj_client_status (zj_client_t *self, const char *ticket, zj_err_t *err)
{
    return zj__client_ticket_call (self, ZJ_MSG_STATUS, ticket, -1, err);
}

int zj_client_status_attempts (zj_client_t *self, const char *ticket, char **attempts,
                               zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    *attempts = NULL;
    if (!self || !s_name_ok (ticket, ZJ_MAX_TICKET)) {
        *err = ZJ_EINVAL;
        return -1;
    }
    zj__req_t *req = zj__req_new (ZJ_MSG_STATUS, true);
    if (!req) {
        *err = ZJ_ENOMEM;
        return -1;
    }
    req->attempts = true;
    strcpy (req->ticket, ticket);
    *err = s_call (self, &req, -1);
    if (*err != ZJ_OK)
        return -1;
    int state = req->state;
    //  A broker that ignores the option answers without a history.
    *attempts = req->json ? req->json : strdup ("[]");
    req->json = NULL;
    zj__req_destroy (&req);
    if (state < 0 || !*attempts) {
        free (*attempts);
        *attempts = NULL;
        *err = state < 0 ? ZJ_EPROTO : ZJ_ENOMEM;
        return -1;
    }
    return state;
}

int zj_client_cancel (zj_client_t *self, const char *ticket, zj_err_t *err)
{
    return zj__client_ticket_call (self, ZJ_MSG_CANCEL, ticket, -1, err);
}

int zj_client_retry (zj_client_t *self, const char *ticket, zj_err_t *err)
{
    return zj__client_ticket_call (self, ZJ_MSG_RETRY, ticket, -1, err);
}

zj_err_t zj_client_ping (zj_client_t *self, double timeout)
{
    if (!self)
        return ZJ_EINVAL;
    zj__req_t *req = zj__req_new (ZJ_MSG_PING, true);
    if (!req)
        return ZJ_ENOMEM;
    zj_err_t rc = s_call (self, &req, timeout);
    zj__req_destroy (&req);
    return rc == ZJ_ETIMEDOUT ? ZJ_EUNREACHABLE : rc;
}

char *zj_client_stats_json (zj_client_t *self, zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    if (!self) {
        *err = ZJ_EINVAL;
        return NULL;
    }
    zj__req_t *req = zj__req_new (ZJ_MSG_STATS, true);
    if (!req) {
        *err = ZJ_ENOMEM;
        return NULL;
    }
    *err = s_call (self, &req, -1);
    if (*err != ZJ_OK)
        return NULL;
    char *json = req->json;
    req->json = NULL;
    zj__req_destroy (&req);
    if (!json)
        *err = ZJ_EPROTO;
    return json;
}

const char *zj_client_err_name (zj_err_t err)
{
    return zj_err_name (err);
}

const char *zj_client_strerror (zj_err_t err)
{
    return zj_strerror (err);
}
