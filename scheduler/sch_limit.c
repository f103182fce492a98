/*  sch_limit.c — token buckets in a chained hash map with an LRU list.
 *
 *  The table has a power-of-two number of slots (about 2 x max), chains are
 *  singly linked, the LRU list doubly linked: lookup, touch and eviction are
 *  O(1) on average, memory is bounded by max entries. */
#include "scheduler/sch_limit.h"

#include <stdlib.h>
#include <string.h>

typedef struct s_entry_t {
    struct s_entry_t *chain; // next entry in the same hash slot
    struct s_entry_t *prev, *next; // LRU list: head = most recent
    uint64_t hash;
    sch_bucket_t bucket;
    char key[]; // NUL-terminated subscription id
} s_entry_t;

struct _sch_limit_t {
    s_entry_t **slots;
    size_t slot_mask; // slot count - 1
    size_t max, size;
    s_entry_t *head, *tail; // LRU list ends
};

int64_t
sch_bucket_take (sch_bucket_t *b, uint32_t rate, int64_t now_ms)
{
    if (rate == 0)
        return 0;
    double cap = rate > 1 ? (double)rate : 1.0;
    if (b->last_ms == 0 || b->rate != rate) {
        b->tokens = cap;
        b->last_ms = now_ms;
        b->rate = rate;
    }
    else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > cap)
            b->tokens = cap;
        b->last_ms = now_ms;
    }
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return 0;
    }
    double wait = (1.0 - b->tokens) * 1000.0 / rate;
    int64_t ms = (int64_t)wait;
    if ((double)ms < wait)
        ms++;
    return ms < 1 ? 1 : ms;
}

static int64_t
s_ceil_ms (double ms)
{
    ms -= 1e-6; /* 0.998 tokens at 2/s is 1 ms away, not 1.0000000000000009 */
    int64_t r = (int64_t)ms;
    return (double)r < ms ? r + 1 : r;
}

int64_t
sch_bucket_take_n (sch_bucket_t *b, uint32_t rate, uint32_t burst, uint32_t n, int64_t now_ms,
                   sch_limit_info_t *info)
{
    if (rate == 0)
        return 0;
    if (burst < 1)
        burst = 1;
    double cap = (double)burst;
    if (b->last_ms == 0 || b->rate != rate) {
        b->tokens = cap;
        b->last_ms = now_ms;
        b->rate = rate;
    }
    else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        b->last_ms = now_ms;
    }
    if (b->tokens > cap)
        b->tokens = cap;
    int64_t wait = 0;
    if (n > burst)
        wait = -1;
    else if (b->tokens >= (double)n)
        b->tokens -= (double)n;
    else {
        wait = s_ceil_ms (((double)n - b->tokens) * 1000.0 / rate);
        if (wait < 1)
            wait = 1;
    }
    if (info) {
        info->limit = burst;
        info->remaining = b->tokens >= 0 ? (uint32_t)b->tokens : 0;
        info->reset_ms = s_ceil_ms ((cap - b->tokens) * 1000.0 / rate);
        info->retry_after_ms = wait > 0 ? wait : 0;
    }
    return wait;
}

static uint64_t
s_hash (const char *key)
{
    uint64_t h = UINT64_C (1469598103934665603); /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * UINT64_C (1099511628211);
    return h;
}

sch_limit_t *
sch_limit_new (size_t max)
{
    if (max < 1)
        max = 1;
    sch_limit_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    size_t slots = 16;
    while (slots < 2 * max)
        slots <<= 1;
    self->slots = calloc (slots, sizeof *self->slots);
    if (!self->slots) {
        free (self);
        return NULL;
    }
    self->slot_mask = slots - 1;
    self->max = max;
    return self;
}

void
sch_limit_destroy (sch_limit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sch_limit_t *self = *self_p;
    for (s_entry_t *e = self->head, *next; e; e = next) {
        next = e->next;
        free (e);
    }
    free (self->slots);
    free (self);
    *self_p = NULL;
}

static void
s_unlink_lru (sch_limit_t *self, s_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        self->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        self->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
s_push_front (sch_limit_t *self, s_entry_t *e)
{
    e->prev = NULL;
    e->next = self->head;
    if (self->head)
        self->head->prev = e;
    self->head = e;
    if (!self->tail)
        self->tail = e;
}

/* Removes e from its chain and the LRU list and frees it. */
static void
s_remove (sch_limit_t *self, s_entry_t *e)
{
    s_entry_t **pp = &self->slots[e->hash & self->slot_mask];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    s_unlink_lru (self, e);
    free (e);
    self->size--;
}

static s_entry_t *
s_find (sch_limit_t *self, const char *key, uint64_t h)
{
    for (s_entry_t *e = self->slots[h & self->slot_mask]; e; e = e->chain)
        if (e->hash == h && strcmp (e->key, key) == 0)
            return e;
    return NULL;
}

/* key's entry, made (full) when missing and moved to the LRU head; NULL
 * when out of memory. */
static s_entry_t *
s_touch (sch_limit_t *self, const char *key)
{
    uint64_t h = s_hash (key);
    s_entry_t *e = s_find (self, key, h);
    if (e)
        s_unlink_lru (self, e);
    else {
        if (self->size >= self->max && self->tail)
            s_remove (self, self->tail);
        size_t len = strlen (key);
        e = calloc (1, sizeof *e + len + 1);
        if (!e)
            return NULL;
        memcpy (e->key, key, len + 1);
        e->hash = h;
        e->chain = self->slots[h & self->slot_mask];
        self->slots[h & self->slot_mask] = e;
        self->size++;
    }
    s_push_front (self, e);
    return e;
}

int64_t
sch_limit_take (sch_limit_t *self, const char *key, uint32_t rate, int64_t now_ms)
{
    if (rate == 0 || !key)
        return 0;
    s_entry_t *e = s_touch (self, key);
    return e ? sch_bucket_take (&e->bucket, rate, now_ms) : 0;
}

int64_t
sch_limit_take_n (sch_limit_t *self, const char *key, uint32_t rate, uint32_t burst, uint32_t n,
                  int64_t now_ms, sch_limit_info_t *info)
{
    if (rate == 0 || !key)
        return 0;
    s_entry_t *e = s_touch (self, key);
    return e ? sch_bucket_take_n (&e->bucket, rate, burst, n, now_ms, info) : 0;
}

void
sch_limit_give (sch_limit_t *self, const char *key, uint32_t burst, uint32_t n)
{
    if (!key || n == 0)
        return;
    s_entry_t *e = s_find (self, key, s_hash (key));
    if (!e)
        return;
    e->bucket.tokens += (double)n;
    if (e->bucket.tokens > (double)(burst < 1 ? 1 : burst))
        e->bucket.tokens = (double)(burst < 1 ? 1 : burst);
}

void
sch_limit_forget (sch_limit_t *self, const char *key)
{
    if (!key)
        return;
    s_entry_t *e = s_find (self, key, s_hash (key));
    if (e)
        s_remove (self, e);
}

size_t
sch_limit_size (const sch_limit_t *self)
{
    return self->size;
}
