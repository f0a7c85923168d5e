// SPDX-License-Identifier: MIT
//  peers - worker and client records keyed by routing id; see peers.h.
#include "peers.h"
#include "hmap.h"
#include <stdlib.h>
#include <string.h>

struct peers {
    hmap_t *workers;            //  id -> worker_t, live ones
    hmap_t *clients;            //  id -> client_t
    worker_t *dead;             //  killed workers awaiting peers_reap
    client_t *dirty_head;       //  clients with queued entries, FIFO
    client_t *dirty_tail;
};

peers_t *
peers_new (void)
{
    peers_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->workers = hmap_new ();
    self->clients = hmap_new ();
    if (!self->workers || !self->clients) {
        peers_destroy (&self);
        return NULL;
    }
    return self;
}

static void
s_client_free (client_t *c)
{
    zj_enc_destroy (&c->out);
    free (c);
}

static void
s_worker_free (worker_t *w)
{
    sched_worker_fini (&w->sw);
    free (w);
}

void
peers_destroy (peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    peers_t *self = *self_p;
    size_t cursor = 0;
    void *rec;
    if (self->workers)
        while ((rec = hmap_next (self->workers, &cursor)))
            s_worker_free (rec);
    cursor = 0;
    if (self->clients)
        while ((rec = hmap_next (self->clients, &cursor)))
            s_client_free (rec);
    peers_reap (self);
    hmap_destroy (&self->workers);
    hmap_destroy (&self->clients);
    free (self);
    *self_p = NULL;
}

char *
peers_id_hex (const peer_id_t *id, char *buf)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = id->len < 64 ? id->len : 64;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hex[id->bytes[i] >> 4];
        buf[2 * i + 1] = hex[id->bytes[i] & 15];
    }
    buf[2 * n] = '\0';
    return buf;
}

bool
peers_id_set (peer_id_t *id, const uint8_t *bytes, size_t len)
{
    if (len == 0 || len > sizeof id->bytes)
        return false;
    id->len = (uint8_t) len;
    memcpy (id->bytes, bytes, len);
    return true;
}

worker_t *
peers_worker_find (peers_t *self, const peer_id_t *id)
{
    return hmap_get (self->workers, id->bytes, id->len);
}

worker_t *
peers_worker_add (peers_t *self, const peer_id_t *id, double now)
{
    worker_t *w = calloc (1, sizeof *w);
    if (!w)
        return NULL;
    w->id = *id;
    sched_worker_init (&w->sw, w);
    w->last_seen = now;
    w->last_sent = now;
    if (!hmap_put (self->workers, w->id.bytes, w->id.len, w)) {
        free (w);
        return NULL;
    }
    return w;
}

void
peers_worker_kill (peers_t *self, worker_t *w)
{
    if (w->dead)
        return;
    hmap_del (self->workers, w->id.bytes, w->id.len);
    w->dead = true;
    w->dead_next = self->dead;
    self->dead = w;
}

void
peers_reap (peers_t *self)
{
    while (self->dead) {
        worker_t *w = self->dead;
        self->dead = w->dead_next;
        s_worker_free (w);
    }
}

worker_t *
peers_worker_next (peers_t *self, size_t *cursor)
{
    return hmap_next (self->workers, cursor);
}

size_t
peers_worker_count (const peers_t *self)
{
    return hmap_size (self->workers);
}

client_t *
peers_client_get (peers_t *self, const peer_id_t *id)
{
    client_t *c = hmap_get (self->clients, id->bytes, id->len);
    if (c)
        return c;
    c = calloc (1, sizeof *c);
    if (!c)
        return NULL;
    c->id = *id;
    if (!hmap_put (self->clients, c->id.bytes, c->id.len, c)) {
        free (c);
        return NULL;
    }
    return c;
}

void
peers_client_ref (client_t *c)
{
    c->refs++;
}

void
peers_client_idle (peers_t *self, client_t *c)
{
    if (c->refs == 0 && c->nout == 0 && !c->dirty) {
        hmap_del (self->clients, c->id.bytes, c->id.len);
        s_client_free (c);
    }
}

void
peers_client_unref (peers_t *self, client_t *c)
{
    if (c->refs)
        c->refs--;
    peers_client_idle (self, c);
}

bool
peers_client_push (peers_t *self, client_t *c, const char *ticket, size_t len,
                   zj_state_t state, const uint8_t *payload, size_t plen)
{
    if (!c->out) {
        c->out = zj_enc_new ();
        if (!c->out)
            return false;
    }
    if (c->nout == 0)
        zj_enc_reset (c->out);
    zj_enc_array (c->out, 3);
    zj_enc_str (c->out, ticket, len);
    zj_enc_uint (c->out, (uint64_t) state);
    if (payload)
        zj_enc_raw (c->out, payload, plen);
    else
        zj_enc_nil (c->out);
    if (zj_enc_failed (c->out)) {
        //  The buffer is unusable now: drop what was queued with it.
        zj_enc_reset (c->out);
        c->nout = 0;
        return false;
    }
    c->nout++;
    if (!c->dirty) {
        c->dirty = true;
        c->dirty_next = NULL;
        if (self->dirty_tail)
            self->dirty_tail->dirty_next = c;
        else
            self->dirty_head = c;
        self->dirty_tail = c;
    }
    return true;
}

client_t *
peers_client_dirty_pop (peers_t *self)
{
    client_t *c = self->dirty_head;
    if (c) {
        self->dirty_head = c->dirty_next;
        if (!self->dirty_head)
            self->dirty_tail = NULL;
        c->dirty = false;
    }
    return c;
}

client_t *
peers_client_next (peers_t *self, size_t *cursor)
{
    return hmap_next (self->clients, cursor);
}

size_t
peers_client_count (const peers_t *self)
{
    return hmap_size (self->clients);
}
