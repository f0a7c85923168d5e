// SPDX-License-Identifier: MIT
//  future - zj_future_t: outcome, callbacks (exactly once) and waits.
//  Never touches a socket; requests to the broker go through client.c.
#include "future.h"
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "client.h"
#include "json.h"

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

void zj__lock (void)
{
    pthread_mutex_lock (&s_lock);
}

void zj__unlock (void)
{
    pthread_mutex_unlock (&s_lock);
}

void zj__cond_init (pthread_cond_t *cv)
{
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (cv, &attr);
    pthread_condattr_destroy (&attr);
}

bool zj__cond_wait (pthread_cond_t *cv, const struct timespec *deadline)
{
    if (!deadline) {
        pthread_cond_wait (cv, &s_lock);
        return true;
    }
    return pthread_cond_timedwait (cv, &s_lock, deadline) != ETIMEDOUT;
}

const struct timespec *zj__deadline (double timeout, struct timespec *ts)
{
    if (timeout < 0 || isnan (timeout))
        return NULL;
    if (timeout > 1e9)
        timeout = 1e9;          //  ~31 years: far enough, and no overflow
    clock_gettime (CLOCK_MONOTONIC, ts);
    double whole = floor (timeout);
    ts->tv_sec += (time_t) whole;
    ts->tv_nsec += (long) ((timeout - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
    return ts;
}

double zj__now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  ---------------------------------------------------------------------
//  Errors

static char *s_strndup (const char *ptr, size_t len)
{
    char *s = malloc (len + 1);
    if (s) {
        if (len)
            memcpy (s, ptr, len);
        s[len] = 0;
    }
    return s;
}

void zj__error_clear (zj_error_t *self)
{
    free (self->type);
    free (self->message);
    free (self->traceback);
    self->type = self->message = self->traceback = NULL;
}

bool zj__error_set (zj_error_t *self, const char *type, size_t type_len,
                    const char *message, size_t message_len,
                    const char *traceback, size_t traceback_len)
{
    zj__error_clear (self);
    self->type = s_strndup (type ? type : "", type ? type_len : 0);
    self->message = s_strndup (message ? message : "", message ? message_len : 0);
    self->traceback = s_strndup (traceback ? traceback : "", traceback ? traceback_len : 0);
    if (self->type && self->message && self->traceback)
        return true;
    zj__error_clear (self);
    return false;
}

const char *zj_error_type (const zj_error_t *self)
{
    return self && self->type ? self->type : "";
}

const char *zj_error_message (const zj_error_t *self)
{
    return self && self->message ? self->message : "";
}

const char *zj_error_traceback (const zj_error_t *self)
{
    return self && self->traceback ? self->traceback : "";
}

//  ---------------------------------------------------------------------
//  Waiters

bool zj__waiter_init (zj__waiter_t *self, size_t ready_cap)
{
    memset (self, 0, sizeof *self);
    if (ready_cap) {
        self->ready = malloc (ready_cap * sizeof *self->ready);
        if (!self->ready)
            return false;
    }
    zj__cond_init (&self->cv);
    return true;
}

void zj__waiter_fini (zj__waiter_t *self)
{
    pthread_cond_destroy (&self->cv);
    free (self->ready);
    self->ready = NULL;
}

void zj__wnode_link (zj__wnode_t *node, zj__waiter_t *waiter, zj_future_t *f,
                     size_t index, size_t weight)
{
    node->waiter = waiter;
    node->future = f;
    node->index = index;
    node->weight = weight;
    node->prev = NULL;
    node->next = f->waiters;
    if (f->waiters)
        f->waiters->prev = node;
    f->waiters = node;
    node->linked = true;
}

void zj__wnode_unlink (zj__wnode_t *node)
{
    if (!node->linked)
        return;
    if (node->prev)
        node->prev->next = node->next;
    else
        node->future->waiters = node->next;
    if (node->next)
        node->next->prev = node->prev;
    node->linked = false;
}

//  Wake every registered waiter without detaching (the ticket arrived).
static void s_poke_waiters (zj_future_t *self)
{
    for (zj__wnode_t *n = self->waiters; n; n = n->next)
        pthread_cond_signal (&n->waiter->cv);
}

//  ---------------------------------------------------------------------
//  Futures

zj_future_t *zj__future_new (zj_client_t *client)
{
    zj_future_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    atomic_init (&self->refs, 2);
    self->client = client;
    self->state = ZJ_FUTURE_PENDING;
    return self;
}

bool zj__future_final (const zj_future_t *self)
{
    return self->state >= ZJ_FUTURE_DONE;
}

void zj__future_set_ticket (zj_future_t *self, const char *ticket, size_t len)
{
    if (self->has_ticket)
        return;
    if (len > ZJ_MAX_TICKET)
        len = ZJ_MAX_TICKET;
    memcpy (self->ticket, ticket, len);
    self->ticket[len] = 0;
    self->has_ticket = true;
    s_poke_waiters (self);
}

//  Common tail of every settle: the state is final now. Detach the
//  waiters (each hears once), keep the callbacks for zj__future_release.
static void s_settled (zj_future_t *self)
{
    bool failed = self->state == ZJ_FUTURE_FAILED;
    zj__wnode_t *n = self->waiters;
    self->waiters = NULL;
    while (n) {
        zj__wnode_t *next = n->next;
        zj__waiter_t *w = n->waiter;
        n->linked = false;
        if (w->ready)
            w->ready[w->nready++] = n->index;
        w->nsettled++;
        if (failed)
            w->nfailed++;
        w->weight_final += n->weight;
        pthread_cond_signal (&w->cv);
        n = next;
    }
    if (self->client)
        zj__client_on_settle (self->client);
}

bool zj__future_settle_value (zj_future_t *self, const void *value, size_t len)
{
    if (zj__future_final (self))
        return false;
    self->value = malloc (len ? len : 1);
    if (!self->value)
        return zj__future_settle_error (self, ZJ_ENOMEM, "no memory for the task's result");
    memcpy (self->value, value, len);
    self->value_len = len;
    self->state = ZJ_FUTURE_DONE;
    self->code = ZJ_OK;
    s_settled (self);
    return true;
}

bool zj__future_settle_error (zj_future_t *self, zj_err_t code, const char *message)
{
    if (zj__future_final (self))
        return false;
    if (code == ZJ_ECANCELLED)
        self->state = ZJ_FUTURE_CANCELLED;
    else {
        const char *type = zj_err_name (code);
        if (!message)
            message = zj_strerror (code);
        zj__error_set (&self->error, type, strlen (type), message, strlen (message), "", 0);
        self->state = ZJ_FUTURE_FAILED;
    }
    self->code = code;
    s_settled (self);
    return true;
}

bool zj__future_settle_outcome (zj_future_t *self, const zj_outcome_t *out)
{
    switch (out->state) {
        case ZJ_STATE_DONE:
            return zj__future_settle_value (self, out->value.ptr, out->value.len);
        case ZJ_STATE_FAILED:
            if (zj__future_final (self))
                return false;
            if (!zj__error_set (&self->error, out->err_type.ptr, out->err_type.len,
                                out->err_message.ptr, out->err_message.len,
                                out->err_traceback.ptr, out->err_traceback.len))
                return zj__future_settle_error (self, ZJ_ENOMEM, "no memory for the task's error");
            self->state = ZJ_FUTURE_FAILED;
            self->code = ZJ_ETASK;
            s_settled (self);
            return true;
        case ZJ_STATE_CANCELLED:
            return zj__future_settle_error (self, ZJ_ECANCELLED, NULL);
        case ZJ_STATE_UNKNOWN:
            return zj__future_settle_error (self, ZJ_ENOTICKET,
                                            "no task has this ticket on the broker");
        case ZJ_STATE_EXPIRED:
            return zj__future_settle_error (self, ZJ_EEXPIRED,
                                            "the task's result was deleted after the retention time");
        default:
            return zj__future_settle_error (self, ZJ_EPROTO, "the broker sent an invalid state");
    }
}

void zj__future_unref (zj_future_t *self)
{
    if (atomic_fetch_sub (&self->refs, 1) != 1)
        return;
    //  The last reference: no waiter can be registered (waiters borrow a
    //  reference) and the settler is gone.
    while (self->cbs) {
        zj__cbnode_t *next = self->cbs->next;
        free (self->cbs);
        self->cbs = next;
    }
    free (self->value);
    zj__error_clear (&self->error);
    free (self);
}

void zj__future_release (zj_future_t *self)
{
    //  Final now, so no callback can be added to the list any more:
    //  zj_future_add_done_callback runs new ones at once.
    zj__lock ();
    zj__cbnode_t *cbs = self->cbs;
    self->cbs = NULL;
    zj__unlock ();
    while (cbs) {
        zj__cbnode_t *next = cbs->next;
        cbs->cb (self, cbs->arg);
        free (cbs);
        cbs = next;
    }
    zj__future_unref (self);
}

void zj__future_complete (zj_future_t *self, zj_err_t code, const char *message)
{
    zj__lock ();
    bool settled = zj__future_settle_error (self, code, message);
    zj__unlock ();
    if (settled)
        zj__future_release (self);
}

static bool s_ready (const zj_future_t *self, bool ticket_enough)
{
    return zj__future_final (self) || (ticket_enough && self->has_ticket);
}

bool zj__future_wait (zj_future_t *self, const struct timespec *deadline, bool ticket_enough)
{
    if (s_ready (self, ticket_enough))
        return true;
    zj__waiter_t w;
    if (!zj__waiter_init (&w, 0))
        return false;
    zj__wnode_t node;
    zj__wnode_link (&node, &w, self, 0, 1);
    bool in_time = true;
    while (!s_ready (self, ticket_enough) && in_time)
        in_time = zj__cond_wait (&w.cv, deadline);
    zj__wnode_unlink (&node);
    zj__waiter_fini (&w);
    return s_ready (self, ticket_enough);
}

//  ---------------------------------------------------------------------
//  Public API

void zj_future_destroy (zj_future_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zj__future_unref (*self_p);
    *self_p = NULL;
}

const char *zj_future_ticket (zj_future_t *self)
{
    zj__lock ();
    bool has = self->has_ticket;
    zj__unlock ();
    return has ? self->ticket : NULL;
}

const char *zj_future_wait_ticket (zj_future_t *self, double timeout, zj_err_t *err)
{
    struct timespec ts;
    const struct timespec *deadline = zj__deadline (timeout, &ts);
    zj__lock ();
    if (timeout != 0)
        zj__future_wait (self, deadline, true);
    zj_err_t rc = self->has_ticket ? ZJ_OK
                : zj__future_final (self) ? self->code : ZJ_ETIMEDOUT;
    zj__unlock ();
    if (err)
        *err = rc;
    return rc == ZJ_OK ? self->ticket : NULL;
}

zj_future_state_t zj_future_state (zj_future_t *self)
{
    zj__lock ();
    zj_future_state_t state = self->state;
    zj__unlock ();
    return state;
}

bool zj_future_done (zj_future_t *self)
{
    zj__lock ();
    bool final = zj__future_final (self);
    zj__unlock ();
    return final;
}

bool zj_future_cancelled (zj_future_t *self)
{
    return zj_future_state (self) == ZJ_FUTURE_CANCELLED;
}

bool zj_future_running (zj_future_t *self)
{
    zj__lock ();
    bool ask = !zj__future_final (self) && self->has_ticket && self->client;
    zj_client_t *client = self->client;
    zj__unlock ();
    if (!ask)
        return zj_future_state (self) == ZJ_FUTURE_RUNNING;
    zj_err_t err;
    int state = zj__client_ticket_call (client, ZJ_MSG_STATUS, self->ticket,
                                        zj__client_connect_timeout (client), &err);
    zj__lock ();
    if (!zj__future_final (self)) {
        if (state == ZJ_STATE_RUNNING)
            self->state = ZJ_FUTURE_RUNNING;
        else if (state == ZJ_STATE_QUEUED)
            self->state = ZJ_FUTURE_PENDING;
    }
    bool running = self->state == ZJ_FUTURE_RUNNING;
    zj__unlock ();
    return running;
}

zj_err_t zj_future_cancel (zj_future_t *self)
{
    zj__lock ();
    zj_future_state_t state = self->state;
    zj_client_t *client = self->client;
    zj__unlock ();
    if (state == ZJ_FUTURE_CANCELLED)
        return ZJ_OK;
    if (zj__future_final (self) || !client)
        return ZJ_ETOOLATE;
    //  The broker names the task by ticket, so wait for SUBMITTED; the
    //  client's reachability checks bound this wait.
    zj_err_t err;
    const char *ticket = zj_future_wait_ticket (self, -1, &err);
    if (!ticket)
        return zj_future_cancelled (self) ? ZJ_OK : ZJ_ETOOLATE;
    int after = zj__client_ticket_call (client, ZJ_MSG_CANCEL, ticket, -1, &err);
    //  On CANCEL_REPLY "cancelled" the I/O thread settled this future
    //  before waking us; any other answer leaves it as it was.
    if (after == ZJ_STATE_CANCELLED || zj_future_cancelled (self))
        return ZJ_OK;
    if (after < 0)
        return err;
    if (after == ZJ_STATE_UNKNOWN || after == ZJ_STATE_EXPIRED)
        return after == ZJ_STATE_UNKNOWN ? ZJ_ENOTICKET : ZJ_EEXPIRED;
    return ZJ_ETOOLATE;
}

zj_err_t zj_future_result (zj_future_t *self, double timeout,
                           const uint8_t **value, size_t *len)
{
    struct timespec ts;
    const struct timespec *deadline = zj__deadline (timeout, &ts);
    zj__lock ();
    bool final = timeout == 0 ? zj__future_final (self)
                              : zj__future_wait (self, deadline, false);
    zj_err_t rc = final ? self->code : ZJ_ETIMEDOUT;
    zj__unlock ();
    //  The value never changes once final, so it may be read unlocked.
    if (value)
        *value = rc == ZJ_OK ? self->value : NULL;
    if (len)
        *len = rc == ZJ_OK ? self->value_len : 0;
    return rc;
}

zj_err_t zj_future_result_json (zj_future_t *self, double timeout, char **json)
{
    const uint8_t *value;
    size_t len;
    *json = NULL;
    zj_err_t rc = zj_future_result (self, timeout, &value, &len);
    if (rc != ZJ_OK)
        return rc;
    zj_err_t jerr = ZJ_OK;
    *json = zj_json_from_msgpack (value, len, &jerr);
    return *json ? ZJ_OK : jerr;
}

const zj_error_t *zj_future_exception (zj_future_t *self, double timeout, zj_err_t *err)
{
    zj_err_t rc = zj_future_result (self, timeout, NULL, NULL);
    if (err)
        *err = rc;
    //  Like Python: a failure of any kind is an exception; cancelled,
    //  done and still-pending futures have none.
    bool failed = rc != ZJ_OK && rc != ZJ_ETIMEDOUT && rc != ZJ_ECANCELLED;
    return failed ? &self->error : NULL;
}

zj_err_t zj_future_code (zj_future_t *self)
{
    return zj_future_result (self, 0, NULL, NULL);
}

zj_err_t zj_future_add_done_callback (zj_future_t *self, zj_done_cb *cb, void *arg)
{
    if (!self || !cb)
        return ZJ_EINVAL;
    zj__cbnode_t *node = malloc (sizeof *node);
    if (!node)
        return ZJ_ENOMEM;
    node->cb = cb;
    node->arg = arg;
    node->next = NULL;
    zj__lock ();
    //  Until zj__future_release has taken the list, a settled future's
    //  callbacks have not run yet; appending keeps them in order and still
    //  exactly once. After that the list is NULL and final: run now.
    bool now = zj__future_final (self) && !self->cbs;
    if (!now) {
        zj__cbnode_t **tail = &self->cbs;
        while (*tail)
            tail = &(*tail)->next;
        *tail = node;
    }
    zj__unlock ();
    if (now) {
        cb (self, arg);
        free (node);
    }
    return ZJ_OK;
}

//  ---------------------------------------------------------------------
//  Chains of settled futures

void zj__chain_push (zj__chain_t *self, zj_future_t *f)
{
    f->tnext = NULL;
    if (self->tail)
        self->tail->tnext = f;
    else
        self->head = f;
    self->tail = f;
}

void zj__chain_settle (zj__chain_t *self, zj_future_t *f, zj_err_t code, const char *message)
{
    if (zj__future_settle_error (f, code, message))
        zj__chain_push (self, f);
}

void zj__chain_release (zj__chain_t *self)
{
    zj_future_t *f = self->head;
    while (f) {
        zj_future_t *next = f->tnext;
        f->tnext = NULL;
        zj__future_release (f);
        f = next;
    }
    self->head = self->tail = NULL;
}
