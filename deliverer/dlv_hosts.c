/*  dlv_hosts.c — per-destination in-flight counts and circuit breakers.
 *
 *  A chained hash table (bucket count: a power of two >= the cap, so chains
 *  stay short) indexes the entries; the hash is FNV-1a over the origin
 *  mixed with a per-process seed, so a producer cannot aim URLs at one
 *  chain without knowing it. Each entry also sits on one of three LRU
 *  lists by what forgetting it would cost: idle (closed, nothing in
 *  flight: free to forget), held (circuit not closed, nothing in flight:
 *  forgetting loses a cool-down) and busy (attempts in flight: never
 *  forgotten). Eviction takes the tail of idle, else of held: O(1). */
#include "deliverer/dlv_hosts.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { S_CLOSED = 0, S_OPEN, S_HALF_OPEN } s_state_t;

typedef enum { S_IDLE = 0, S_HELD, S_BUSY, S_LISTS } s_list_id_t;

typedef struct _s_entry_t s_entry_t;
struct _s_entry_t {
    char *origin; // key, heap
    uint64_t hash; // of origin
    s_entry_t *chain; // next in the bucket
    s_entry_t *prev, *next; // neighbours on its LRU list (head = most recent)
    s_list_id_t list; // the list it is on
    uint32_t in_flight; // attempts acquired and not released
    uint32_t failures; // consecutive failed attempts while closed
    s_state_t state;
    int64_t open_until_ms; // OPEN: end of the cool-down (monotonic)
    bool trial; // HALF_OPEN: the trial attempt is in flight
};

typedef struct {
    s_entry_t *head, *tail;
} s_list_t;

#define S_MEMO 64 /* URLs whose origin is remembered */

struct _dlv_hosts_t {
    uint32_t host_concurrency; // 0 = no cap
    uint32_t circuit_failures; // 0 = circuits never open
    int64_t cooldown_ms;
    size_t max_entries; // cap on entries
    size_t count; // entries now
    size_t open_count; // entries whose circuit is not closed
    s_entry_t **buckets;
    size_t bucket_mask; // bucket count - 1
    s_list_t lists[S_LISTS];
    uint64_t seed; // hash seed
    uint64_t rng; // splitmix64 state for jitter
    struct {
        char *url; // a URL seen recently, or NULL
        char *origin; // its dlv_hosts_origin
    } memo[S_MEMO]; // direct-mapped by URL hash: bounded, S_MEMO URLs at most
};

/* --- helpers ---------------------------------------------------------------- */

static uint64_t
s_random (dlv_hosts_t *self)
{
    uint64_t z = (self->rng += UINT64_C (0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C (0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t
s_hash (const dlv_hosts_t *self, const char *s)
{
    uint64_t h = UINT64_C (0xcbf29ce484222325) ^ self->seed;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C (0x100000001b3);
    }
    /* final avalanche so the low bits (the bucket) depend on every byte */
    h ^= h >> 33;
    h *= UINT64_C (0xff51afd7ed558ccd);
    h ^= h >> 33;
    return h;
}

static int64_t
s_busy_wait (dlv_hosts_t *self)
{
    uint64_t span = DLV_HOSTS_BUSY_MAX_MS - DLV_HOSTS_BUSY_MIN_MS + 1;
    return DLV_HOSTS_BUSY_MIN_MS + (int64_t)(s_random (self) % span);
}

static s_list_id_t
s_list_for (const s_entry_t *e)
{
    return e->in_flight > 0 ? S_BUSY : e->state != S_CLOSED ? S_HELD : S_IDLE;
}

static void
s_unlink (dlv_hosts_t *self, s_entry_t *e)
{
    s_list_t *l = &self->lists[e->list];
    if (e->prev)
        e->prev->next = e->next;
    else
        l->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        l->tail = e->prev;
    e->prev = e->next = NULL;
}

/* Puts the unlinked e at the head (most recent) of the list its state
 * calls for. */
static void
s_link (dlv_hosts_t *self, s_entry_t *e)
{
    e->list = s_list_for (e);
    s_list_t *l = &self->lists[e->list];
    e->next = l->head;
    if (l->head)
        l->head->prev = e;
    l->head = e;
    if (!l->tail)
        l->tail = e;
}

static void
s_touch (dlv_hosts_t *self, s_entry_t *e)
{
    s_unlink (self, e);
    s_link (self, e);
}

static s_entry_t *
s_find (const dlv_hosts_t *self, const char *origin, uint64_t hash)
{
    for (s_entry_t *e = self->buckets[hash & self->bucket_mask]; e; e = e->chain)
        if (e->hash == hash && strcmp (e->origin, origin) == 0)
            return e;
    return NULL;
}

static void
s_forget (dlv_hosts_t *self, s_entry_t *e)
{
    s_entry_t **pp = &self->buckets[e->hash & self->bucket_mask];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    s_unlink (self, e);
    if (e->state != S_CLOSED)
        self->open_count--;
    self->count--;
    free (e->origin);
    free (e);
}

/* The entry of origin, created (evicting one when at the cap) if needed;
 * NULL when memory fails or nothing can be evicted. */
static s_entry_t *
s_get (dlv_hosts_t *self, const char *origin)
{
    uint64_t hash = s_hash (self, origin);
    s_entry_t *e = s_find (self, origin, hash);
    if (e)
        return e;
    if (self->count >= self->max_entries) {
        s_entry_t *victim = self->lists[S_IDLE].tail;
        if (!victim)
            victim = self->lists[S_HELD].tail;
        if (!victim)
            return NULL;
        s_forget (self, victim);
    }
    e = calloc (1, sizeof *e);
    if (!e)
        return NULL;
    e->origin = strdup (origin);
    if (!e->origin) {
        free (e);
        return NULL;
    }
    e->hash = hash;
    size_t b = hash & self->bucket_mask;
    e->chain = self->buckets[b];
    self->buckets[b] = e;
    s_link (self, e);
    self->count++;
    return e;
}

static void
s_open (dlv_hosts_t *self, s_entry_t *e, int64_t now_ms)
{
    if (e->state == S_CLOSED)
        self->open_count++;
    e->state = S_OPEN;
    e->open_until_ms = now_ms + self->cooldown_ms;
    e->trial = false;
    e->failures = 0;
}

/* --- public ------------------------------------------------------------------ */

dlv_hosts_t *
dlv_hosts_new (uint32_t host_concurrency, uint32_t circuit_failures, uint32_t cooldown_ms,
               size_t max_entries, uint64_t seed)
{
    dlv_hosts_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->host_concurrency = host_concurrency;
    self->circuit_failures = circuit_failures;
    self->cooldown_ms = cooldown_ms;
    self->max_entries = max_entries ? max_entries : DLV_HOSTS_MAX;
    self->seed = seed;
    self->rng = seed ^ UINT64_C (0x5851F42D4C957F2D);
    size_t buckets = 16;
    while (buckets < self->max_entries && buckets < ((size_t)1 << 30))
        buckets <<= 1;
    self->buckets = calloc (buckets, sizeof *self->buckets);
    if (!self->buckets) {
        free (self);
        return NULL;
    }
    self->bucket_mask = buckets - 1;
    return self;
}

void
dlv_hosts_destroy (dlv_hosts_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dlv_hosts_t *self = *self_p;
    for (int l = 0; l < S_LISTS; l++) {
        s_entry_t *e = self->lists[l].head;
        while (e) {
            s_entry_t *next = e->next;
            free (e->origin);
            free (e);
            e = next;
        }
    }
    for (size_t i = 0; i < S_MEMO; i++) {
        free (self->memo[i].url);
        free (self->memo[i].origin);
    }
    free (self->buckets);
    free (self);
    *self_p = NULL;
}

char *
dlv_hosts_origin (const char *url)
{
    char *scheme = NULL, *host = NULL, *port = NULL, *origin = NULL;
    CURLU *u = curl_url ();
    if (!u || !url || curl_url_set (u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get (u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    size_t size = strlen (scheme) + strlen (host) + strlen (port) + sizeof "://:";
    origin = malloc (size);
    if (!origin)
        goto out;
    snprintf (origin, size, "%s://%s:%s", scheme, host, port);
    for (char *p = origin; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
out:
    curl_free (scheme);
    curl_free (host);
    curl_free (port);
    curl_url_cleanup (u);
    return origin;
}

const char *
dlv_hosts_origin_of (dlv_hosts_t *self, const char *url)
{
    if (!url)
        return NULL;
    size_t i = (size_t)(s_hash (self, url) % S_MEMO);
    if (self->memo[i].url && strcmp (self->memo[i].url, url) == 0)
        return self->memo[i].origin;
    char *origin = dlv_hosts_origin (url);
    char *copy = origin ? strdup (url) : NULL;
    if (!copy) {
        free (origin);
        return NULL;
    }
    free (self->memo[i].url);
    free (self->memo[i].origin);
    self->memo[i].url = copy;
    self->memo[i].origin = origin;
    return origin;
}

dlv_hosts_verdict_t
dlv_hosts_acquire (dlv_hosts_t *self, const char *origin, int64_t now_ms, int64_t *wait_ms)
{
    *wait_ms = 0;
    s_entry_t *e = s_get (self, origin);
    if (!e)
        return DLV_HOSTS_GO; /* fail open: fairness is not worth refusing work */
    dlv_hosts_verdict_t verdict = DLV_HOSTS_GO;
    if (e->state == S_OPEN && now_ms < e->open_until_ms) {
        *wait_ms =
            e->open_until_ms - now_ms + (int64_t)(s_random (self) % (DLV_HOSTS_OPEN_JITTER_MS + 1));
        verdict = DLV_HOSTS_OPEN;
    }
    else {
        if (e->state == S_OPEN) {
            e->state = S_HALF_OPEN;
            e->trial = false;
        }
        if (e->state == S_HALF_OPEN && e->trial) {
            *wait_ms = s_busy_wait (self);
            verdict = DLV_HOSTS_OPEN;
        }
        else if (self->host_concurrency && e->in_flight >= self->host_concurrency) {
            *wait_ms = s_busy_wait (self);
            verdict = DLV_HOSTS_BUSY;
        }
        else {
            if (e->state == S_HALF_OPEN)
                e->trial = true;
            e->in_flight++;
        }
    }
    s_touch (self, e);
    return verdict;
}

dlv_hosts_change_t
dlv_hosts_release (dlv_hosts_t *self, const char *origin, dlv_hosts_outcome_t outcome,
                   int64_t now_ms)
{
    s_entry_t *e = s_find (self, origin, s_hash (self, origin));
    if (!e)
        return DLV_HOSTS_SAME;
    if (e->in_flight > 0)
        e->in_flight--;
    dlv_hosts_change_t change = DLV_HOSTS_SAME;
    switch (outcome) {
    case DLV_HOSTS_SUCCESS:
        e->failures = 0;
        if (e->state != S_CLOSED) {
            e->state = S_CLOSED;
            e->trial = false;
            self->open_count--;
            change = DLV_HOSTS_CLOSED;
        }
        break;
    case DLV_HOSTS_FAILURE:
        if (e->state == S_HALF_OPEN) {
            s_open (self, e, now_ms);
            change = DLV_HOSTS_OPENED;
        }
        else if (e->state == S_CLOSED && self->circuit_failures &&
                 ++e->failures >= self->circuit_failures) {
            s_open (self, e, now_ms);
            change = DLV_HOSTS_OPENED;
        }
        break;
    case DLV_HOSTS_NEUTRAL:
        if (e->state == S_HALF_OPEN)
            e->trial = false; /* the trial said nothing: let another one go */
        break;
    }
    s_touch (self, e);
    return change;
}

dlv_hosts_outcome_t
dlv_hosts_outcome (const proto_result_t *result)
{
    if (result->error) {
        static const char *const failures[] = {"timeout", "connect", "dns", "tls", "network"};
        for (size_t i = 0; i < sizeof failures / sizeof failures[0]; i++)
            if (strcmp (result->error, failures[i]) == 0)
                return DLV_HOSTS_FAILURE;
        return DLV_HOSTS_NEUTRAL;
    }
    if (result->status_code >= 500 || result->status_code == 429)
        return DLV_HOSTS_FAILURE;
    return DLV_HOSTS_SUCCESS;
}

size_t
dlv_hosts_open_count (const dlv_hosts_t *self)
{
    return self->open_count;
}

size_t
dlv_hosts_size (const dlv_hosts_t *self)
{
    return self->count;
}
