// SPDX-License-Identifier: MIT
//  sched - per-function priority queues and credit-based dispatch; see
//  sched.h. Never reads the clock, never touches a socket.
#include "sched.h"
#include "hmap.h"
#include <stdlib.h>
#include <string.h>

//  One priority level of a queue: a FIFO linked through the tasks.
typedef struct {
    int64_t prio;               //  priority of every task in it
    task_t *head;               //  next to run
    task_t *tail;               //  last submitted
} level_t;

struct sched_fn {
    char name[ZJ_MAX_FN];       //  function name (hmap key, not NUL-terminated)
    size_t len;                 //  name length
    size_t refs;                //  task records + registered workers
    level_t *levels;            //  sorted by priority, highest first
    uint32_t nlevels;
    uint32_t cap_levels;
    size_t depth;               //  queued tasks
    size_t running;             //  tasks held by workers
    uint32_t pending;           //  tasks of a SUBMIT under check
    sched_worker_t **workers;   //  registered workers
    uint32_t nworkers;
    uint32_t cap_workers;
    uint32_t rr;                //  which worker a dispatch starts with
    bool dirty;                 //  on sched's dirty list
    sched_fn_t *dirty_next;     //  link in it
    sched_fn_stats_t stats;     //  counters the broker keeps
};

struct sched {
    hmap_t *fns;                //  name -> sched_fn_t
    sched_fn_t *dirty_head;     //  functions worth a dispatch pass, FIFO
    sched_fn_t *dirty_tail;
    sched_worker_t *freed;      //  workers whose credit was freed (LIFO)
    sched_worker_t *batch_head; //  workers with unsent tasks, FIFO
    sched_worker_t *batch_tail;
    sched_worker_t **cand;      //  scratch: workers with credit in a pass
    uint32_t cap_cand;
    size_t queued;              //  total queued
    size_t running;             //  total held
};

sched_t *
sched_new (void)
{
    sched_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->fns = hmap_new ();
    if (!self->fns) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_fn_free (sched_fn_t *fn)
{
    free (fn->levels);
    free (fn->workers);
    free (fn);
}

void
sched_destroy (sched_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sched_t *self = *self_p;
    size_t cursor = 0;
    sched_fn_t *fn;
    while ((fn = hmap_next (self->fns, &cursor)))
        s_fn_free (fn);
    hmap_destroy (&self->fns);
    free (self->cand);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Functions

sched_fn_t *
sched_fn_find (sched_t *self, const char *name, size_t len)
{
    return hmap_get (self->fns, name, len);
}

sched_fn_t *
sched_fn_get (sched_t *self, const char *name, size_t len)
{
    if (len == 0 || len > ZJ_MAX_FN)
        return NULL;
    sched_fn_t *fn = hmap_get (self->fns, name, len);
    if (fn)
        return fn;
    fn = calloc (1, sizeof *fn);
    if (!fn)
        return NULL;
    memcpy (fn->name, name, len);
    fn->len = len;
    fn->cap_levels = 4;
    fn->levels = malloc (fn->cap_levels * sizeof *fn->levels);
    if (!fn->levels || !hmap_put (self->fns, fn->name, fn->len, fn)) {
        s_fn_free (fn);
        return NULL;
    }
    return fn;
}

static void
s_fn_delete (sched_t *self, sched_fn_t *fn)
{
    if (fn->dirty) {
        sched_fn_t **pp = &self->dirty_head, *last = NULL;
        while (*pp && *pp != fn) {
            last = *pp;
            pp = &(*pp)->dirty_next;
        }
        if (*pp)
            *pp = fn->dirty_next;
        if (self->dirty_tail == fn)
            self->dirty_tail = last;
    }
    hmap_del (self->fns, fn->name, fn->len);
    s_fn_free (fn);
}

void
sched_fn_ref (sched_fn_t *fn)
{
    fn->refs++;
}

void
sched_fn_unref (sched_t *self, sched_fn_t *fn)
{
    if (fn->refs && --fn->refs == 0 && fn->depth == 0 && fn->nworkers == 0)
        s_fn_delete (self, fn);
}

void
sched_fn_release_unused (sched_t *self, sched_fn_t *fn)
{
    if (fn->refs == 0 && fn->depth == 0 && fn->nworkers == 0)
        s_fn_delete (self, fn);
}

const char *
sched_fn_name (const sched_fn_t *fn, size_t *len)
{
    *len = fn->len;
    return fn->name;
}

size_t sched_fn_depth (const sched_fn_t *fn) { return fn->depth; }
size_t sched_fn_running (const sched_fn_t *fn) { return fn->running; }
size_t sched_fn_workers (const sched_fn_t *fn) { return fn->nworkers; }
size_t sched_fn_levels (const sched_fn_t *fn) { return fn->nlevels; }
sched_fn_stats_t *sched_fn_stats (sched_fn_t *fn) { return &fn->stats; }
uint32_t *sched_fn_pending (sched_fn_t *fn) { return &fn->pending; }

double
sched_fn_oldest (const sched_fn_t *fn)
{
    double oldest = -1;
    for (uint32_t i = 0; i < fn->nlevels; i++) {
        //  The head of a level is its oldest task, except after a requeue,
        //  which puts a task that is older still in front.
        const task_t *t = fn->levels[i].head;
        if (t && (oldest < 0 || t->since < oldest))
            oldest = t->since;
    }
    return oldest;
}

sched_fn_t *
sched_fn_next (const sched_t *self, size_t *cursor)
{
    return hmap_next (self->fns, cursor);
}

static void
s_mark_dirty (sched_t *self, sched_fn_t *fn)
{
    if (fn->dirty || fn->depth == 0 || fn->nworkers == 0)
        return;
    fn->dirty = true;
    fn->dirty_next = NULL;
    if (self->dirty_tail)
        self->dirty_tail->dirty_next = fn;
    else
        self->dirty_head = fn;
    self->dirty_tail = fn;
}

//  ---------------------------------------------------------------------
//  Queues

//  Index of the level with priority prio, or where it would go.
static uint32_t
s_level_search (const sched_fn_t *fn, int64_t prio, bool *found)
{
    uint32_t lo = 0, hi = fn->nlevels;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (fn->levels[mid].prio == prio) {
            *found = true;
            return mid;
        }
        if (fn->levels[mid].prio > prio)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

//  The level for prio, made when missing. NULL on OOM.
static level_t *
s_level_get (sched_fn_t *fn, int64_t prio)
{
    bool found;
    uint32_t i = s_level_search (fn, prio, &found);
    if (found)
        return &fn->levels[i];
    if (fn->nlevels == fn->cap_levels) {
        uint32_t cap = fn->cap_levels ? fn->cap_levels * 2 : 4;
        level_t *levels = realloc (fn->levels, cap * sizeof *levels);
        if (!levels)
            return NULL;
        fn->levels = levels;
        fn->cap_levels = cap;
    }
    memmove (&fn->levels[i + 1], &fn->levels[i], (fn->nlevels - i) * sizeof *fn->levels);
    fn->levels[i] = (level_t) {prio, NULL, NULL};
    fn->nlevels++;
    return &fn->levels[i];
}

static void
s_level_drop_if_empty (sched_fn_t *fn, level_t *level)
{
    if (level->head)
        return;
    uint32_t i = (uint32_t) (level - fn->levels);
    memmove (&fn->levels[i], &fn->levels[i + 1], (fn->nlevels - i - 1) * sizeof *fn->levels);
    fn->nlevels--;
}

//  Queue a task at the back (front = false) or front of its level. When
//  a new level cannot be allocated, the task joins the nearest existing
//  level and takes its priority instead of getting lost. There always is
//  one: the array starts with room for several (see sched_fn_get).
static void
s_push (sched_t *self, task_t *task, bool front)
{
    sched_fn_t *fn = task->fn;
    level_t *level = s_level_get (fn, task->priority);
    if (!level) {
        bool found;
        uint32_t i = s_level_search (fn, task->priority, &found);
        level = &fn->levels[i < fn->nlevels ? i : fn->nlevels - 1];
        task->priority = level->prio;
    }
    if (front) {
        task->prev = NULL;
        task->next = level->head;
        if (level->head)
            level->head->prev = task;
        else
            level->tail = task;
        level->head = task;
    }
    else {
        task->next = NULL;
        task->prev = level->tail;
        if (level->tail)
            level->tail->next = task;
        else
            level->head = task;
        level->tail = task;
    }
    task->state = ZJ_STATE_QUEUED;
    task->worker = NULL;
    fn->depth++;
    self->queued++;
    s_mark_dirty (self, fn);
}

void
sched_enqueue (sched_t *self, task_t *task)
{
    s_push (self, task, false);
}

void
sched_requeue (sched_t *self, task_t *task)
{
    s_push (self, task, true);
}

static void
s_unlink (sched_fn_t *fn, level_t *level, task_t *task)
{
    if (task->prev)
        task->prev->next = task->next;
    else
        level->head = task->next;
    if (task->next)
        task->next->prev = task->prev;
    else
        level->tail = task->prev;
    task->next = task->prev = NULL;
    fn->depth--;
}

void
sched_remove (sched_t *self, task_t *task)
{
    sched_fn_t *fn = task->fn;
    bool found;
    uint32_t i = s_level_search (fn, task->priority, &found);
    if (!found)
        return;
    s_unlink (fn, &fn->levels[i], task);
    s_level_drop_if_empty (fn, &fn->levels[i]);
    self->queued--;
}

size_t sched_queued (const sched_t *self) { return self->queued; }
size_t sched_running (const sched_t *self) { return self->running; }

//  ---------------------------------------------------------------------
//  Workers

void
sched_worker_init (sched_worker_t *w, void *owner)
{
    memset (w, 0, sizeof *w);
    w->owner = owner;
}

static void
s_fn_remove_worker (sched_t *self, sched_fn_t *fn, sched_worker_t *w)
{
    for (uint32_t i = 0; i < fn->nworkers; i++)
        if (fn->workers[i] == w) {
            memmove (&fn->workers[i], &fn->workers[i + 1],
                     (fn->nworkers - i - 1) * sizeof *fn->workers);
            fn->nworkers--;
            break;
        }
    sched_fn_unref (self, fn);
}

static bool
s_fn_add_worker (sched_fn_t *fn, sched_worker_t *w)
{
    if (fn->nworkers == fn->cap_workers) {
        uint32_t cap = fn->cap_workers ? fn->cap_workers * 2 : 4;
        sched_worker_t **workers = realloc (fn->workers, cap * sizeof *workers);
        if (!workers)
            return false;
        fn->workers = workers;
        fn->cap_workers = cap;
    }
    fn->workers[fn->nworkers++] = w;
    fn->refs++;
    return true;
}

static void
s_worker_freed (sched_t *self, sched_worker_t *w)
{
    if (w->in_freed)
        return;
    w->in_freed = true;
    w->freed_next = self->freed;
    self->freed = w;
}

bool
sched_worker_set (sched_t *self, sched_worker_t *w, uint32_t credit,
                  sched_fn_t *const *fns, uint32_t nfns)
{
    sched_fn_t **list = malloc ((nfns ? nfns : 1) * sizeof *list);
    if (!list)
        return false;
    //  Add to the new functions first so that a shared function keeps a
    //  reference throughout and is never freed in between.
    uint32_t n = 0;
    for (uint32_t i = 0; i < nfns; i++) {
        bool dup = false;
        for (uint32_t j = 0; j < n && !dup; j++)
            dup = list[j] == fns[i];
        if (dup)
            continue;
        if (!s_fn_add_worker (fns[i], w)) {
            for (uint32_t j = 0; j < n; j++)
                s_fn_remove_worker (self, list[j], w);
            free (list);
            return false;
        }
        list[n++] = fns[i];
    }
    for (uint32_t i = 0; i < w->nfns; i++)
        s_fn_remove_worker (self, w->fns[i], w);
    free (w->fns);
    w->fns = list;
    w->nfns = n;
    w->credit = credit;
    w->fn_rr = 0;
    s_worker_freed (self, w);
    return true;
}

static void
s_held_unlink (sched_worker_t *w, task_t *task)
{
    if (task->prev)
        task->prev->next = task->next;
    else
        w->head = task->next;
    if (task->next)
        task->next->prev = task->prev;
    else
        w->tail = task->prev;
    task->next = task->prev = NULL;
}

static void
s_release (sched_t *self, sched_worker_t *w, task_t *task)
{
    s_held_unlink (w, task);
    if (task->flags & TASK_UNSENT) {
        task->flags &= (uint8_t) ~TASK_UNSENT;
        w->batch--;
    }
    w->held--;
    task->fn->running--;
    self->running--;
    task->worker = NULL;
}

void
sched_worker_release (sched_t *self, sched_worker_t *w, task_t *task)
{
    s_release (self, w, task);
    s_worker_freed (self, w);
}

void
sched_worker_pause (sched_t *self, sched_worker_t *w, bool paused)
{
    w->paused = paused;
    if (!paused)
        s_worker_freed (self, w);
}

static void
s_list_remove (sched_worker_t **head, sched_worker_t **tail, sched_worker_t *w,
               size_t link_offset)
{
    sched_worker_t *last = NULL;
    for (sched_worker_t **pp = head; *pp;) {
        sched_worker_t **next_p = (sched_worker_t **) ((char *) *pp + link_offset);
        if (*pp == w) {
            *pp = *next_p;
            if (tail && *tail == w)
                *tail = last;
            return;
        }
        last = *pp;
        pp = next_p;
    }
}

void
sched_worker_detach (sched_t *self, sched_worker_t *w, sched_lost_cb *cb, void *arg)
{
    if (w->in_batch) {
        s_list_remove (&self->batch_head, &self->batch_tail, w,
                       offsetof (sched_worker_t, batch_next));
        w->in_batch = false;
    }
    if (w->in_freed) {
        s_list_remove (&self->freed, NULL, w, offsetof (sched_worker_t, freed_next));
        w->in_freed = false;
    }
    //  Newest first, each in front of its level: the original order is
    //  kept. Unsent tasks never reached the worker and go back as they were.
    while (w->tail) {
        task_t *task = w->tail;
        bool unsent = task->flags & TASK_UNSENT;
        s_release (self, w, task);
        if (unsent || !cb || cb (arg, task))
            s_push (self, task, true);
    }
    //  Unregister without allocating, so that losing a worker cannot fail.
    for (uint32_t i = 0; i < w->nfns; i++)
        s_fn_remove_worker (self, w->fns[i], w);
    free (w->fns);
    w->fns = NULL;
    w->nfns = 0;
    w->credit = 0;
}

void
sched_worker_fini (sched_worker_t *w)
{
    free (w->fns);
    w->fns = NULL;
    w->nfns = 0;
}

//  ---------------------------------------------------------------------
//  Dispatch

bool
sched_dirty (const sched_t *self)
{
    return self->dirty_head || self->freed;
}

static void
s_assign (sched_t *self, sched_fn_t *fn, sched_worker_t *w)
{
    level_t *level = &fn->levels[0];
    task_t *task = level->head;
    s_unlink (fn, level, task);
    s_level_drop_if_empty (fn, level);
    self->queued--;
    task->next = NULL;
    task->prev = w->tail;
    if (w->tail)
        w->tail->next = task;
    else
        w->head = task;
    w->tail = task;
    task->state = ZJ_STATE_RUNNING;
    task->worker = w;
    task->flags |= TASK_UNSENT;
    w->held++;
    w->batch++;
    fn->running++;
    self->running++;
    if (!w->in_batch) {
        w->in_batch = true;
        w->batch_next = NULL;
        if (self->batch_tail)
            self->batch_tail->batch_next = w;
        else
            self->batch_head = w;
        self->batch_tail = w;
    }
}

static size_t
s_dispatch_fn (sched_t *self, sched_fn_t *fn)
{
    if (fn->cap_workers > self->cap_cand) {
        sched_worker_t **cand = realloc (self->cand, fn->cap_workers * sizeof *cand);
        if (!cand)
            return 0;
        self->cand = cand;
        self->cap_cand = fn->cap_workers;
    }
    uint32_t n = fn->nworkers, nc = 0;
    for (uint32_t i = 0; i < n; i++) {
        sched_worker_t *w = fn->workers[(fn->rr + i) % n];
        if (!w->paused && w->held < w->credit)
            self->cand[nc++] = w;
    }
    fn->rr = (fn->rr + 1) % n;
    size_t assigned = 0;
    while (nc && fn->depth) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < nc; i++) {
            sched_worker_t *w = self->cand[i];
            if (fn->depth) {
                s_assign (self, fn, w);
                assigned++;
            }
            if (w->held < w->credit)
                self->cand[kept++] = w;
        }
        nc = kept;
    }
    return assigned;
}

size_t
sched_dispatch (sched_t *self)
{
    //  Workers with new credit make their functions worth a pass; start
    //  at a rotating function so that none of a worker's functions
    //  always comes first.
    while (self->freed) {
        sched_worker_t *w = self->freed;
        self->freed = w->freed_next;
        w->in_freed = false;
        if (w->paused || w->held >= w->credit || !w->nfns)
            continue;
        for (uint32_t i = 0; i < w->nfns; i++)
            s_mark_dirty (self, w->fns[(w->fn_rr + i) % w->nfns]);
        w->fn_rr = (w->fn_rr + 1) % w->nfns;
    }
    size_t assigned = 0;
    while (self->dirty_head) {
        sched_fn_t *fn = self->dirty_head;
        self->dirty_head = fn->dirty_next;
        if (!self->dirty_head)
            self->dirty_tail = NULL;
        fn->dirty = false;
        if (fn->depth && fn->nworkers)
            assigned += s_dispatch_fn (self, fn);
    }
    return assigned;
}

task_t *
sched_batch_take (sched_t *self, sched_worker_t **w_p, uint32_t *n_p)
{
    while (self->batch_head) {
        sched_worker_t *w = self->batch_head;
        self->batch_head = w->batch_next;
        if (!self->batch_head)
            self->batch_tail = NULL;
        w->in_batch = false;
        uint32_t n = w->batch;
        if (n == 0)
            continue;
        task_t *first = w->tail;
        for (uint32_t i = 1; i < n; i++)
            first = first->prev;
        task_t *t = first;
        for (uint32_t i = 0; i < n; i++, t = t->next)
            t->flags &= (uint8_t) ~TASK_UNSENT;
        w->batch = 0;
        *w_p = w;
        *n_p = n;
        return first;
    }
    return NULL;
}

void
sched_worker_unassign (sched_t *self, sched_worker_t *w, task_t *first, uint32_t n)
{
    if (!n)
        return;
    task_t *last = first;
    for (uint32_t i = 1; i < n; i++)
        last = last->next;
    //  Newest first so that each lands in front of the one after it.
    for (uint32_t i = 0; i < n; i++) {
        task_t *prev = last->prev;
        s_release (self, w, last);
        s_push (self, last, true);
        last = prev;
    }
    s_worker_freed (self, w);
}
