// SPDX-License-Identifier: MIT
//  tasks - task records, their index by ticket, subscribers, final
//  states and retention; see tasks.h. Never touches queues or sockets.
#include "tasks.h"
#include "attempts.h"
#include "store.h"
#include "ticket.h"
#include <stdlib.h>
#include <string.h>

//  Subscribers past the first; rare (a FETCH from another client).
struct task_subs {
    uint32_t n;                 //  used
    uint32_t cap;               //  allocated
    struct client *c[];         //  subscribers
};

typedef struct {
    uint64_t seq;               //  key
    task_t *task;               //  NULL marks an empty slot
} slot_t;

//  An earlier generation: its tickets 1..max_seq were issued.
typedef struct {
    uint64_t gen;
    uint64_t max_seq;
} tasks_gen_t;

struct tasks {
    uint64_t gen;               //  generation of new tickets
    uint64_t next_seq;          //  next sequence number to hand out
    store_t *store;             //  borrowed persistence backend
    slot_t *slots;              //  index: open addressing by seq
    size_t cap;                 //  slot count, a power of two
    unsigned shift;             //  64 - log2(cap), for Fibonacci hashing
    size_t size;                //  records
    size_t bytes;               //  bytes in records
    size_t finals[3];           //  records done, failed, cancelled
    task_t *ret_head;           //  retention list, oldest finish first
    task_t *ret_tail;
    tasks_counters_t counters;  //  since start
    tasks_gen_t *gens;          //  earlier generations, sorted by gen
    size_t ngens;
};

static inline size_t
s_home (const tasks_t *self, uint64_t seq)
{
    return (size_t) ((seq * UINT64_C (0x9E3779B97F4A7C15)) >> self->shift);
}

static size_t
s_find (const tasks_t *self, uint64_t gen, uint64_t seq)
{
    size_t mask = self->cap - 1;
    for (size_t i = s_home (self, seq);; i = (i + 1) & mask) {
        const slot_t *s = &self->slots[i];
        if (!s->task || (s->seq == seq && s->task->gen == gen))
            return i;
    }
}

static bool
s_grow (tasks_t *self)
{
    size_t cap = self->cap * 2;
    slot_t *slots = calloc (cap, sizeof *slots);
    if (!slots)
        return false;
    slot_t *old = self->slots;
    size_t old_cap = self->cap;
    self->slots = slots;
    self->cap = cap;
    self->shift--;
    for (size_t i = 0; i < old_cap; i++) {
        if (!old[i].task)
            continue;
        size_t j = s_home (self, old[i].seq);
        while (slots[j].task)
            j = (j + 1) & (cap - 1);
        slots[j] = old[i];
    }
    free (old);
    return true;
}

static bool
s_index_put (tasks_t *self, task_t *task)
{
    if ((self->size + 1) * 2 > self->cap && !s_grow (self))
        return false;
    size_t i = s_find (self, task->gen, task->seq);
    self->slots[i] = (slot_t) {task->seq, task};
    self->size++;
    return true;
}

static void
s_index_del (tasks_t *self, const task_t *task)
{
    size_t i = s_find (self, task->gen, task->seq);
    if (self->slots[i].task != task)
        return;
    size_t mask = self->cap - 1;
    size_t hole = i;
    for (size_t j = (i + 1) & mask; self->slots[j].task; j = (j + 1) & mask) {
        size_t home = s_home (self, self->slots[j].seq);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            self->slots[hole] = self->slots[j];
            hole = j;
        }
    }
    self->slots[hole] = (slot_t) {0, NULL};
    self->size--;
}

tasks_t *
tasks_new (uint64_t gen, store_t *store)
{
    tasks_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->gen = gen;
    self->next_seq = 1;
    self->store = store;
    self->cap = 1024;
    self->shift = 64 - 10;
    self->slots = calloc (self->cap, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_free (task_t *task)
{
    free (task->subs);
    attempts_log_free (&task->log);
    free (task);
}

void
tasks_destroy (tasks_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tasks_t *self = *self_p;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].task)
            s_free (self->slots[i].task);
    free (self->slots);
    free (self->gens);
    free (self);
    *self_p = NULL;
}

uint64_t tasks_generation (const tasks_t *self) { return self->gen; }
tasks_counters_t *tasks_counters (tasks_t *self) { return &self->counters; }
size_t tasks_size (const tasks_t *self) { return self->size; }
size_t tasks_bytes (const tasks_t *self) { return self->bytes; }

size_t
tasks_count (const tasks_t *self, zj_state_t state)
{
    if (state >= ZJ_STATE_DONE && state <= ZJ_STATE_CANCELLED)
        return self->finals[state - ZJ_STATE_DONE];
    return 0;
}

static task_t *
s_alloc (const uint8_t *blob, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    task_t *task = malloc (sizeof *task + len);
    if (!task)
        return NULL;
    memset (task, 0, sizeof *task);
    memcpy (task->blob, blob, len);
    task->len = (uint32_t) len;
    return task;
}

task_t *
tasks_add (tasks_t *self, struct sched_fn *fn, const zj_task_t *spec,
           uint16_t max_retries, double now)
{
    task_t *task = s_alloc (spec->args.ptr, spec->args.len);
    if (!task)
        return NULL;
    task->gen = self->gen;
    task->seq = self->next_seq;
    task->fn = fn;
    task->priority = spec->priority;
    task->timeout = spec->timeout > 0 ? spec->timeout : 0;
    task->since = now;
    task->max_retries = max_retries;
    task->state = ZJ_STATE_QUEUED;
    task->flags = spec->chunk ? TASK_CHUNK : 0;
    if (!s_index_put (self, task)) {
        free (task);
        return NULL;
    }
    self->next_seq++;
    self->bytes += sizeof *task + task->len;
    self->counters.submitted++;
    return task;
}

static void
s_ret_unlink (tasks_t *self, task_t *task)
{
    if (task->prev)
        task->prev->next = task->next;
    else
        self->ret_head = task->next;
    if (task->next)
        task->next->prev = task->prev;
    else
        self->ret_tail = task->prev;
    task->next = task->prev = NULL;
}

static void
s_ret_append (tasks_t *self, task_t *task)
{
    task->next = NULL;
    task->prev = self->ret_tail;
    if (self->ret_tail)
        self->ret_tail->next = task;
    else
        self->ret_head = task;
    self->ret_tail = task;
}

task_t *
tasks_restore (tasks_t *self, uint64_t gen, uint64_t seq, struct sched_fn *fn,
               zj_state_t state, const uint8_t *blob, size_t len, double since)
{
    if (state < ZJ_STATE_QUEUED || state > ZJ_STATE_CANCELLED)
        return NULL;
    //  One probe finds both a duplicate and the free slot (a recovery of a
    //  million records spends much of its time here).
    if ((self->size + 1) * 2 > self->cap && !s_grow (self))
        return NULL;
    size_t slot = s_find (self, gen, seq);
    if (self->slots[slot].task)
        return NULL;
    task_t *task = s_alloc (blob, len);
    if (!task)
        return NULL;
    task->gen = gen;
    task->seq = seq;
    task->fn = fn;
    task->since = since;
    task->state = (uint8_t) state;
    self->slots[slot] = (slot_t) {seq, task};
    self->size++;
    if (gen == self->gen && seq >= self->next_seq)
        self->next_seq = seq + 1;
    self->bytes += sizeof *task + task->len;
    if (zj_state_is_final (state)) {
        self->finals[state - ZJ_STATE_DONE]++;
        s_ret_append (self, task);
    }
    return task;
}

task_t *
tasks_restore_args (tasks_t *self, task_t *task, const uint8_t *args, size_t len)
{
    if (task->state != ZJ_STATE_FAILED || task->args_len || !len
        || len > UINT32_MAX - task->len)
        return task;
    size_t slot = s_find (self, task->gen, task->seq);
    task_t *moved = realloc (task, sizeof *task + len + task->len);
    if (!moved)
        return task;
    //  The retention list points at the record: relink its neighbours.
    if (moved->prev)
        moved->prev->next = moved;
    else
        self->ret_head = moved;
    if (moved->next)
        moved->next->prev = moved;
    else
        self->ret_tail = moved;
    self->slots[slot].task = moved;
    memmove (moved->blob + len, moved->blob, moved->len);
    memcpy (moved->blob, args, len);
    moved->len += (uint32_t) len;
    moved->args_len = (uint32_t) len;
    self->bytes += len;
    return moved;
}

static int
s_cmp_since (const void *a, const void *b)
{
    const task_t *x = *(task_t *const *) a, *y = *(task_t *const *) b;
    if (x->since != y->since)
        return x->since < y->since ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void
tasks_restore_done (tasks_t *self)
{
    size_t n = 0;
    for (task_t *t = self->ret_head; t; t = t->next)
        n++;
    task_t **all = n > 1 ? malloc (n * sizeof *all) : NULL;
    if (!all)
        return;             //  unsorted, records only expire a little late
    n = 0;
    for (task_t *t = self->ret_head; t; t = t->next)
        all[n++] = t;
    qsort (all, n, sizeof *all, s_cmp_since);
    self->ret_head = self->ret_tail = NULL;
    for (size_t i = 0; i < n; i++)
        s_ret_append (self, all[i]);
    free (all);
}

static int
s_cmp_gen (const void *a, const void *b)
{
    uint64_t x = ((const tasks_gen_t *) a)->gen, y = ((const tasks_gen_t *) b)->gen;
    return (x > y) - (x < y);
}

bool
tasks_add_generation (tasks_t *self, uint64_t gen, uint64_t max_seq)
{
    tasks_gen_t *gens = realloc (self->gens, (self->ngens + 1) * sizeof *gens);
    if (!gens)
        return false;
    self->gens = gens;
    size_t i = self->ngens;
    while (i > 0 && gens[i - 1].gen > gen) {
        gens[i] = gens[i - 1];
        i--;
    }
    gens[i] = (tasks_gen_t) {gen, max_seq};
    self->ngens++;
    return true;
}

zj_err_t
tasks_persist (tasks_t *self, task_t *const *tasks, size_t count)
{
    return count ? store_put_tasks (self->store, tasks, count) : ZJ_OK;
}

void
tasks_drop (tasks_t *self, task_t **task_p)
{
    if (!task_p || !*task_p)
        return;
    task_t *task = *task_p;
    s_index_del (self, task);
    self->bytes -= sizeof *task + task->len;
    self->counters.submitted--;
    if (zj_state_is_final ((zj_state_t) task->state)) {
        s_ret_unlink (self, task);
        self->finals[task->state - ZJ_STATE_DONE]--;
        if (task->state == ZJ_STATE_DONE)
            self->counters.completed--;
        else if (task->state == ZJ_STATE_FAILED)
            self->counters.failed--;
        else
            self->counters.cancelled--;
    }
    //  Give the number back when it was the last one handed out, so a
    //  refused batch leaves no "expired" holes behind.
    if (task->gen == self->gen && task->seq + 1 == self->next_seq)
        self->next_seq--;
    s_free (task);
    *task_p = NULL;
}

task_t *
tasks_find (const tasks_t *self, uint64_t gen, uint64_t seq)
{
    return self->slots[s_find (self, gen, seq)].task;
}

zj_state_t
tasks_lookup (const tasks_t *self, const char *ticket, size_t len, task_t **task_p)
{
    *task_p = NULL;
    uint64_t gen, seq;
    if (!ticket_parse (ticket, len, &gen, &seq))
        return ZJ_STATE_UNKNOWN;
    task_t *task = tasks_find (self, gen, seq);
    if (task) {
        *task_p = task;
        return (zj_state_t) task->state;
    }
    if (gen == self->gen && seq >= 1 && seq < self->next_seq)
        return ZJ_STATE_EXPIRED;
    tasks_gen_t key = {gen, 0};
    const tasks_gen_t *old = self->ngens
        ? bsearch (&key, self->gens, self->ngens, sizeof key, s_cmp_gen) : NULL;
    if (old && seq >= 1 && seq <= old->max_seq)
        return ZJ_STATE_EXPIRED;
    return ZJ_STATE_UNKNOWN;
}

size_t
tasks_ticket (const task_t *task, char *buf)
{
    return ticket_format (task->gen, task->seq, buf);
}

int
tasks_subscribe (task_t *task, struct client *client)
{
    if (!task->owner) {
        task->owner = client;
        return 1;
    }
    if (task->owner == client)
        return 0;
    struct task_subs *subs = task->subs;
    if (subs)
        for (uint32_t i = 0; i < subs->n; i++)
            if (subs->c[i] == client)
                return 0;
    if (!subs || subs->n == subs->cap) {
        uint32_t cap = subs ? subs->cap * 2 : 2;
        struct task_subs *grown = realloc (subs, sizeof *subs + cap * sizeof subs->c[0]);
        if (!grown)
            return -1;
        if (!subs)
            grown->n = 0;
        grown->cap = cap;
        task->subs = subs = grown;
    }
    subs->c[subs->n++] = client;
    return 1;
}

size_t
tasks_sub_count (const task_t *task)
{
    return (task->owner ? 1 : 0) + (task->subs ? task->subs->n : 0);
}

struct client *
tasks_sub_at (const task_t *task, size_t i)
{
    if (task->owner) {
        if (i == 0)
            return task->owner;
        i--;
    }
    return task->subs && i < task->subs->n ? task->subs->c[i] : NULL;
}

void
tasks_sub_clear (task_t *task)
{
    task->owner = NULL;
    free (task->subs);
    task->subs = NULL;
}

task_t *
tasks_finish (tasks_t *self, task_t *task, zj_state_t state,
              const uint8_t *payload, size_t len, double now)
{
    size_t old_bytes = sizeof *task + task->len;
    task_t *moved = task;
    //  A failed task keeps its args in front of the payload: a retry runs
    //  it again without the client.
    size_t keep = state == ZJ_STATE_FAILED && !zj_state_is_final ((zj_state_t) task->state)
                  && len <= UINT32_MAX - task->len ? task->len : 0;
    len += keep;
    if (len != task->len) {
        //  Find the index slot first: realloc may move the record.
        size_t slot = s_find (self, task->gen, task->seq);
        moved = len <= UINT32_MAX ? realloc (task, sizeof *task + len) : NULL;
        if (!moved && len > task->len) {
            //  Keep the record and a final state; the outcome is lost and
            //  readers report that instead of failing the whole broker.
            moved = task;
            moved->flags |= TASK_NO_OUTCOME;
            len = keep = 0;
            state = ZJ_STATE_FAILED;
        }
        else if (!moved)
            moved = task;       //  a failed shrink leaves the old block
        self->slots[slot].task = moved;
    }
    if (len > keep)
        memcpy (moved->blob + keep, payload, len - keep);
    moved->len = (uint32_t) len;
    moved->args_len = (uint32_t) keep;
    moved->state = (uint8_t) state;
    moved->since = now;
    moved->worker = NULL;
    self->bytes = self->bytes - old_bytes + sizeof *moved + len;
    self->finals[state - ZJ_STATE_DONE]++;
    if (state == ZJ_STATE_DONE)
        self->counters.completed++;
    else if (state == ZJ_STATE_FAILED)
        self->counters.failed++;
    else
        self->counters.cancelled++;
    s_ret_append (self, moved);
    store_put_outcome (self->store, moved);
    return moved;
}

task_t *
tasks_newest_final (const tasks_t *self)
{
    return self->ret_tail;
}

const uint8_t *
tasks_payload (const task_t *task, size_t *len)
{
    *len = task->len - task->args_len;
    return (task->flags & TASK_NO_OUTCOME) ? NULL : task->blob + task->args_len;
}

const uint8_t *
tasks_args (const task_t *task, size_t *len)
{
    *len = 0;
    if (!zj_state_is_final ((zj_state_t) task->state)) {
        *len = task->len;
        return task->blob;
    }
    if (task->state != ZJ_STATE_FAILED || !task->args_len)
        return NULL;
    *len = task->args_len;
    return task->blob;
}

task_t *
tasks_reopen (tasks_t *self, task_t *task, double now)
{
    if (task->state != ZJ_STATE_FAILED || !task->args_len)
        return NULL;
    s_ret_unlink (self, task);
    self->finals[ZJ_STATE_FAILED - ZJ_STATE_DONE]--;
    size_t old_bytes = sizeof *task + task->len;
    //  Drop the payload; a failed shrink leaves the old block, harmless.
    size_t slot = s_find (self, task->gen, task->seq);
    task_t *moved = realloc (task, sizeof *task + task->args_len);
    if (!moved)
        moved = task;
    self->slots[slot].task = moved;
    moved->len = moved->args_len;
    moved->args_len = 0;
    moved->state = ZJ_STATE_QUEUED;
    moved->since = now;
    moved->flags &= (uint8_t) ~(TASK_DEAD | TASK_NO_OUTCOME);
    self->bytes = self->bytes - old_bytes + sizeof *moved + moved->len;
    store_reopen (self->store, moved);
    return moved;
}

size_t
tasks_expire (tasks_t *self, double now, double retention, size_t max,
              tasks_expire_cb *cb, void *arg, bool *more)
{
    size_t n = 0;
    while (self->ret_head && self->ret_head->since + retention <= now) {
        if (n == max) {
            if (more)
                *more = true;
            return n;
        }
        task_t *task = self->ret_head;
        self->ret_head = task->next;
        if (self->ret_head)
            self->ret_head->prev = NULL;
        else
            self->ret_tail = NULL;
        store_delete_task (self->store, task);
        if (cb)
            cb (arg, task);
        s_index_del (self, task);
        self->bytes -= sizeof *task + task->len;
        self->finals[task->state - ZJ_STATE_DONE]--;
        self->counters.expired++;
        s_free (task);
        n++;
    }
    if (more)
        *more = false;
    return n;
}
