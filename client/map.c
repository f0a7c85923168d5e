// SPDX-License-Identifier: MIT
//  map - zj_map_*: submits ceil(count/chunksize) tasks, then yields one
//  result per item, in input order or as chunks complete. A chunk's
//  future is dropped once its items were yielded, so memory follows the
//  results not yet consumed.
#include "map.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "future.h"
#include "mpread.h"
#include "msg.h"
#include "wait.h"

struct zj_map {
    zj_future_t **chunks;       //  one future per chunk; NULL once consumed
    size_t nchunks;             //  ceil(count / chunksize)
    size_t chunksize;           //  items per task; 1 = plain tasks
    size_t count;               //  items in all
    bool ordered;               //  yield in input order
    zj_iter_t *iter;            //  watches every chunk: done count, completion order
    size_t yielded;             //  items handed out
    size_t next_chunk;          //  ordered: the chunk to open next
    size_t cur;                 //  the open chunk, or SIZE_MAX
    size_t cur_pos;             //  next item within it
    size_t cur_n;               //  items in it
    zj_err_t cur_code;          //  the chunk task's code (ZJ_EPROTO: bad result shape)
    const uint8_t *rd;          //  chunked: next [ok, payload] pair in the result
    const uint8_t *rd_end;      //  end of the result
    size_t spent;               //  a consumed chunk to drop on the next call, or SIZE_MAX
    zj_error_t item_error;      //  error of the last chunk item that failed
};

//  ---------------------------------------------------------------------
//  Reading chunk results ([[bool, any], ...] and [str, str, str]) with
//  the project's bounded reader; zj_raw_span steps over whole values.

//  An array header at p; returns the first element, or NULL.
static const uint8_t *s_read_array (const uint8_t *p, const uint8_t *end, uint32_t *n)
{
    mpread_t r = {p, end};
    mpread_item_t it;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_ARRAY)
        return NULL;
    *n = it.n;
    return r.p;
}

//  A string at p; returns the byte after it, or NULL.
static const uint8_t *s_read_str (const uint8_t *p, const uint8_t *end,
                                  const char **s, size_t *len)
{
    mpread_t r = {p, end};
    mpread_item_t it;
    if (!mpread_item (&r, &it) || it.kind != MPREAD_STR)
        return NULL;
    *s = (const char *) it.s.ptr;
    *len = it.s.len;
    return r.p;
}

//  One pair [ok, payload]. Sets *value/*len (ok) or map->item_error (not
//  ok). Returns ZJ_OK, ZJ_ETASK or ZJ_EPROTO; advances map->rd.
static zj_err_t s_read_pair (zj_map_t *self, const uint8_t **value, size_t *len)
{
    const uint8_t *p = self->rd, *end = self->rd_end;
    size_t span = zj_raw_span (p, (size_t) (end - p));
    uint32_t n;
    mpread_item_t flag;
    if (!span || !(p = s_read_array (p, end, &n)) || n < 2)
        goto bad;
    mpread_t r = {p, end};
    if (!mpread_item (&r, &flag) || flag.kind != MPREAD_BOOL)
        goto bad;
    bool ok = flag.b;
    p = r.p;
    size_t vlen = zj_raw_span (p, (size_t) (end - p));
    if (!vlen)
        goto bad;
    self->rd += span;           //  past extra elements too (rule 3.3)
    if (ok) {
        *value = p;
        *len = vlen;
        return ZJ_OK;
    }
    const char *s[3] = {"", "", ""};
    size_t l[3] = {0, 0, 0};
    const uint8_t *q = s_read_array (p, p + vlen, &n);
    for (uint32_t i = 0; q && i < 3 && i < n; i++)
        q = s_read_str (q, p + vlen, &s[i], &l[i]);
    if (!q || n < 2) {
        const char *why = "the worker sent a malformed error for this item";
        zj__error_set (&self->item_error, "ProtocolError", 13, why, strlen (why), "", 0);
        return ZJ_EPROTO;
    }
    zj__error_set (&self->item_error, s[0], l[0], s[1], l[1], s[2], l[2]);
    return ZJ_ETASK;

bad:
    self->rd = end;             //  the rest of the chunk cannot be trusted
    {
        const char *why = "the chunk's result is not an array of [ok, value] pairs";
        zj__error_set (&self->item_error, "ProtocolError", 13, why, strlen (why), "", 0);
    }
    return ZJ_EPROTO;
}

//  ---------------------------------------------------------------------
//  Map

bool zj__is_array (const uint8_t *data, size_t len)
{
    uint32_t n;
    return data && len && s_read_array (data, data + len, &n)
        && zj_raw_span (data, len) == len;
}

static size_t s_chunk_items (const zj_map_t *self, size_t chunk)
{
    size_t first = chunk * self->chunksize;
    size_t left = self->count - first;
    return left < self->chunksize ? left : self->chunksize;
}

zj_map_t *zj__map_new_with (zj__map_submit_fn *submit, void *ctx,
                            const uint8_t *const *items, const size_t *lens,
                            size_t count, size_t chunksize, bool ordered, zj_err_t *err)
{
    zj_err_t dummy;
    if (!err)
        err = &dummy;
    if (chunksize == 0 || (count && (!items || !lens))) {
        *err = ZJ_EINVAL;
        return NULL;
    }
    for (size_t i = 0; i < count; i++)
        if (!zj__is_array (items[i], lens[i])) {
            *err = ZJ_EINVAL;
            return NULL;
        }
    zj_map_t *self = calloc (1, sizeof *self);
    if (!self) {
        *err = ZJ_ENOMEM;
        return NULL;
    }
    self->count = count;
    self->chunksize = chunksize;
    self->nchunks = count / chunksize + (count % chunksize != 0);
    self->ordered = ordered;
    self->cur = SIZE_MAX;
    self->spent = SIZE_MAX;
    self->chunks = calloc (self->nchunks ? self->nchunks : 1, sizeof *self->chunks);
    zj_enc_t *enc = chunksize > 1 ? zj_enc_new () : NULL;
    *err = self->chunks && (enc || chunksize == 1) ? ZJ_OK : ZJ_ENOMEM;
    for (size_t c = 0; c < self->nchunks && *err == ZJ_OK; c++) {
        size_t first = c * chunksize, n = s_chunk_items (self, c);
        if (chunksize == 1)
            self->chunks[c] = submit (ctx, items[first], lens[first], false, err);
        else {
            zj_enc_reset (enc);
            zj_enc_array (enc, (uint32_t) n);
            for (size_t i = first; i < first + n; i++)
                zj_enc_raw (enc, items[i], lens[i]);
            if (zj_enc_failed (enc))
                *err = ZJ_ENOMEM;
            else
                self->chunks[c] = submit (ctx, zj_enc_data (enc), zj_enc_size (enc), true, err);
        }
    }
    zj_enc_destroy (&enc);
    if (*err == ZJ_OK) {
        size_t last = self->nchunks ? s_chunk_items (self, self->nchunks - 1) : 0;
        self->iter = zj__iter_new (self->chunks, self->nchunks, chunksize, last);
        if (!self->iter)
            *err = ZJ_ENOMEM;
    }
    if (*err != ZJ_OK) {
        //  Tasks already submitted run on; their futures are dropped.
        zj_map_destroy (&self);
        return NULL;
    }
    return self;
}

typedef struct {
    zj_client_t *client;        //  where to submit
    const char *fn;             //  the function
    const zj_task_opts_t *opts; //  per-task options, may be NULL
} s_submit_ctx_t;

static zj_future_t *s_submit (void *arg, const uint8_t *args, size_t len, bool chunk,
                              zj_err_t *err)
{
    s_submit_ctx_t *ctx = arg;
    return zj__submit (ctx->client, ctx->fn, args, len, ctx->opts, chunk, err);
}

zj_map_t *zj_map_new (zj_client_t *self, const char *fn,
                      const uint8_t *const *items, const size_t *lens,
                      size_t count, size_t chunksize, bool ordered,
                      const zj_task_opts_t *opts, zj_err_t *err)
{
    s_submit_ctx_t ctx = {self, fn, opts};
    if (!self || !fn) {
        if (err)
            *err = ZJ_EINVAL;
        return NULL;
    }
    return zj__map_new_with (s_submit, &ctx, items, lens, count, chunksize, ordered, err);
}

//  Open chunk c, whose future is final.
static void s_open (zj_map_t *self, size_t c)
{
    self->cur = c;
    self->cur_pos = 0;
    self->cur_n = s_chunk_items (self, c);
    const uint8_t *value;
    size_t len;
    self->cur_code = zj_future_result (self->chunks[c], 0, &value, &len);
    if (self->chunksize == 1 || self->cur_code != ZJ_OK)
        return;
    uint32_t n;
    const uint8_t *end = value + len;
    self->rd = s_read_array (value, end, &n);
    self->rd_end = end;
    if (!self->rd || n != self->cur_n) {
        self->rd = end;
        self->cur_code = ZJ_EPROTO;
        const char *why = "the chunk's result does not hold one [ok, value] pair per item";
        zj__error_set (&self->item_error, "ProtocolError", 13, why, strlen (why), "", 0);
    }
}

zj_err_t zj_map_next (zj_map_t *self, double timeout, size_t *index,
                      const uint8_t **value, size_t *len, const zj_error_t **error)
{
    if (value)
        *value = NULL;
    if (len)
        *len = 0;
    if (error)
        *error = NULL;
    if (self->spent != SIZE_MAX) {
        //  Its last item's value was borrowed until this call.
        zj_future_destroy (&self->chunks[self->spent]);
        self->spent = SIZE_MAX;
    }
    if (self->yielded == self->count)
        return ZJ_ESHUTDOWN;
    if (self->cur == SIZE_MAX) {
        zj_err_t rc = ZJ_OK;
        size_t c;
        if (self->ordered) {
            c = self->next_chunk;
            rc = zj_future_result (self->chunks[c], timeout, NULL, NULL);
            if (rc == ZJ_ETIMEDOUT)
                return rc;
            self->next_chunk++;
        }
        else if ((c = zj__iter_next_index (self->iter, timeout, &rc)) == SIZE_MAX)
            return rc == ZJ_OK ? ZJ_ESHUTDOWN : rc;
        s_open (self, c);
    }
    zj_future_t *chunk = self->chunks[self->cur];
    size_t item = self->cur * self->chunksize + self->cur_pos;
    const uint8_t *v = NULL;
    size_t vlen = 0;
    const zj_error_t *e = NULL;
    zj_err_t rc = self->cur_code;
    if (rc == ZJ_OK && self->chunksize == 1)
        zj_future_result (chunk, 0, &v, &vlen);
    else if (rc == ZJ_OK) {
        rc = s_read_pair (self, &v, &vlen);
        e = rc == ZJ_OK ? NULL : &self->item_error;
    }
    else if (rc == ZJ_EPROTO && self->chunksize > 1)
        e = &self->item_error;
    else
        e = zj_future_exception (chunk, 0, NULL);
    if (++self->cur_pos == self->cur_n) {
        self->spent = self->cur;
        self->cur = SIZE_MAX;
    }
    self->yielded++;
    if (index)
        *index = item;
    if (value)
        *value = v;
    if (len)
        *len = vlen;
    if (error)
        *error = e;
    return rc;
}

size_t zj_map_done_count (zj_map_t *self)
{
    return self->iter ? zj__iter_weight_final (self->iter) : 0;
}

size_t zj_map_count (zj_map_t *self)
{
    return self->count;
}

void zj_map_destroy (zj_map_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zj_map_t *self = *self_p;
    zj_iter_destroy (&self->iter);
    for (size_t c = 0; self->chunks && c < self->nchunks; c++)
        zj_future_destroy (&self->chunks[c]);
    free (self->chunks);
    zj__error_clear (&self->item_error);
    free (self);
    *self_p = NULL;
}
