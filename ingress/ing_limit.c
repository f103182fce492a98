/*  ing_limit.c — client address resolution and per-IP token buckets.
 *
 *  The bucket table is split into ING_LIMIT_STRIPES stripes by hash, each a
 *  chained hash map with its own LRU list and mutex, so 64 civetweb threads
 *  rarely wait for one another; memory is bounded by ING_LIMIT_MAX_CLIENTS
 *  entries in all. */
#include "ingress/ing_limit.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ING_LIMIT_STRIPES 16
#define ING_LIMIT_CIDRS_MAX 64
#define ING_LIMIT_ENTRY_MAX 64 /* longest X-Forwarded-For entry considered */

typedef struct {
    int family; // AF_INET or AF_INET6
    unsigned char addr[16]; // network address, family's size
    unsigned prefix; // prefix length in bits
} s_cidr_t;

typedef struct s_entry_t {
    struct s_entry_t *chain; // next in the hash slot
    struct s_entry_t *prev, *next; // LRU list, head = most recent
    uint64_t hash;
    double tokens; // 0..burst
    int64_t last_ms; // monotonic ms of the last refill
    char ip[ING_LIMIT_IP_SIZE];
} s_entry_t;

typedef struct {
    pthread_mutex_t lock;
    s_entry_t **slots;
    size_t slot_mask;
    size_t size, max;
    s_entry_t *head, *tail;
} s_stripe_t;

struct _ing_limit_t {
    uint32_t rate; // tokens per second, 0 = unlimited
    uint32_t burst; // bucket size
    s_cidr_t cidrs[ING_LIMIT_CIDRS_MAX]; // trusted proxies
    size_t cidr_count;
    s_stripe_t stripes[ING_LIMIT_STRIPES];
    size_t stripe_count; // stripes initialised (for destroy)
};

/* --- addresses ----------------------------------------------------------- */

/* Parses an address (IPv4, IPv6, "[v6]", "v4:port", "[v6]:port") into
 * family/addr; 0 or -1. */
static int
s_parse_addr (const char *text, size_t n, int *family, unsigned char addr[16])
{
    char buf[ING_LIMIT_ENTRY_MAX];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy (buf, text, n);
    buf[n] = 0;
    char *p = buf;
    if (*p == '[') {
        char *close = strchr (p, ']');
        if (!close || (close[1] && close[1] != ':'))
            return -1;
        *close = 0;
        p++;
    }
    else {
        char *colon = strchr (p, ':');
        if (colon && !strchr (colon + 1, ':'))
            *colon = 0; /* "v4:port" */
    }
    if (inet_pton (AF_INET, p, addr) == 1) {
        *family = AF_INET;
        return 0;
    }
    if (inet_pton (AF_INET6, p, addr) == 1) {
        /* an IPv4-mapped IPv6 address is that IPv4 address */
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp (addr, mapped, 12) == 0) {
            memmove (addr, addr + 12, 4);
            *family = AF_INET;
        }
        else
            *family = AF_INET6;
        return 0;
    }
    return -1;
}

static int
s_parse_cidr (const char *text, size_t n, s_cidr_t *cidr)
{
    const char *slash = memchr (text, '/', n);
    size_t alen = slash ? (size_t)(slash - text) : n;
    if (s_parse_addr (text, alen, &cidr->family, cidr->addr))
        return -1;
    unsigned max = cidr->family == AF_INET ? 32 : 128;
    cidr->prefix = max;
    if (slash) {
        const char *d = slash + 1, *end = text + n;
        if (d == end || end - d > 3)
            return -1;
        unsigned v = 0;
        for (; d < end; d++) {
            if (*d < '0' || *d > '9')
                return -1;
            v = v * 10 + (unsigned)(*d - '0');
        }
        if (v > max)
            return -1;
        cidr->prefix = v;
    }
    return 0;
}

static bool
s_in_cidr (const s_cidr_t *c, int family, const unsigned char addr[16])
{
    if (c->family != family)
        return false;
    unsigned bits = c->prefix, i = 0;
    for (; bits >= 8; bits -= 8, i++)
        if (addr[i] != c->addr[i])
            return false;
    if (bits) {
        unsigned char mask = (unsigned char)(0xff << (8 - bits));
        if ((addr[i] & mask) != (c->addr[i] & mask))
            return false;
    }
    return true;
}

static bool
s_trusted_addr (const ing_limit_t *self, int family, const unsigned char addr[16])
{
    for (size_t i = 0; i < self->cidr_count; i++)
        if (s_in_cidr (&self->cidrs[i], family, addr))
            return true;
    return false;
}

/* Fills out[] (at most ING_LIMIT_CIDRS_MAX) from list; -1 with *bad set. */
static int
s_parse_list (const char *list, s_cidr_t *out, size_t *count, const char **bad)
{
    *count = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        size_t n = strcspn (p, ", \t");
        s_cidr_t cidr;
        if (*count == ING_LIMIT_CIDRS_MAX || s_parse_cidr (p, n, &cidr)) {
            if (bad)
                *bad = p;
            return -1;
        }
        if (out)
            out[*count] = cidr;
        (*count)++;
        p += n;
    }
    return 0;
}

int
ing_limit_check_cidrs (const char *list, const char **bad)
{
    size_t count;
    return s_parse_list (list, NULL, &count, bad);
}

bool
ing_limit_trusted (const ing_limit_t *self, const char *ip)
{
    int family;
    unsigned char addr[16];
    if (!ip || s_parse_addr (ip, strlen (ip), &family, addr))
        return false;
    return s_trusted_addr (self, family, addr);
}

static void
s_format (int family, const unsigned char addr[16], char *ip, size_t ip_size)
{
    if (!inet_ntop (family, addr, ip, (socklen_t)ip_size))
        snprintf (ip, ip_size, "unknown");
}

bool
ing_limit_resolve (const ing_limit_t *lim, const char *peer, const char *xff, const char *xfp,
                   bool tls, char *ip, size_t ip_size, bool *https)
{
    if (https)
        *https = tls;
    int family;
    unsigned char addr[16];
    if (!peer || s_parse_addr (peer, strlen (peer), &family, addr)) {
        snprintf (ip, ip_size, "unknown");
        return false;
    }
    s_format (family, addr, ip, ip_size);
    if (!lim || !s_trusted_addr (lim, family, addr))
        return true;
    /* the peer is a trusted proxy: believe what it says about the scheme */
    if (https && xfp) {
        const char *last = strrchr (xfp, ',');
        last = last ? last + 1 : xfp;
        while (*last == ' ' || *last == '\t')
            last++;
        size_t n = strcspn (last, " \t");
        if (n == 5 && strncasecmp (last, "https", 5) == 0)
            *https = true;
        else if (n == 4 && strncasecmp (last, "http", 4) == 0)
            *https = tls;
    }
    if (!xff)
        return true;
    /* walk right to left; each hop so far is trusted */
    const char *end = xff + strlen (xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        end = start > xff ? start - 1 : xff;
        if (a == b)
            continue; /* empty element ("a,,b") */
        int f2;
        unsigned char a2[16];
        if (s_parse_addr (a, (size_t)(b - a), &f2, a2))
            break; /* garbage from a trusted hop: the last trusted hop is the client */
        s_format (f2, a2, ip, ip_size);
        if (!s_trusted_addr (lim, f2, a2))
            return true;
    }
    return true;
}

bool
ing_limit_client (const struct mg_connection *conn, const ing_limit_t *lim, char *ip,
                  size_t ip_size, bool *https)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    if (!ri) {
        snprintf (ip, ip_size, "unknown");
        if (https)
            *https = false;
        return false;
    }
    /* every X-Forwarded-For header, in order, as one list */
    char xff[1024];
    size_t len = 0;
    const char *xfp = NULL;
    for (int i = 0; i < ri->num_headers; i++) {
        const char *name = ri->http_headers[i].name, *value = ri->http_headers[i].value;
        if (!name || !value)
            continue;
        if (!strcasecmp (name, "X-Forwarded-Proto"))
            xfp = value;
        else if (!strcasecmp (name, "X-Forwarded-For")) {
            size_t n = strlen (value);
            if (len + n + 2 > sizeof xff) {
                len = 0; /* keep the right end: the hops nearest to us decide */
            }
            if (n + 2 > sizeof xff)
                continue;
            if (len)
                xff[len++] = ',';
            memcpy (xff + len, value, n);
            len += n;
        }
    }
    xff[len] = 0;
    return ing_limit_resolve (lim, ri->remote_addr, len ? xff : NULL, xfp, ri->is_ssl != 0, ip,
                              ip_size, https);
}

/* --- buckets --------------------------------------------------------------- */

ing_limit_t *
ing_limit_new (uint32_t rate, uint32_t burst, const char *trusted_proxies, const char **bad_cidr)
{
    ing_limit_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (s_parse_list (trusted_proxies, self->cidrs, &self->cidr_count, bad_cidr)) {
        free (self);
        return NULL;
    }
    self->rate = rate;
    self->burst = burst ? burst : rate;
    if (rate == 0)
        return self;
    size_t per = ING_LIMIT_MAX_CLIENTS / ING_LIMIT_STRIPES, slots = 16;
    while (slots < 2 * per)
        slots <<= 1;
    for (size_t i = 0; i < ING_LIMIT_STRIPES; i++) {
        s_stripe_t *s = &self->stripes[i];
        if (pthread_mutex_init (&s->lock, NULL) != 0)
            goto fail;
        self->stripe_count++;
        s->slots = calloc (slots, sizeof *s->slots);
        if (!s->slots)
            goto fail;
        s->slot_mask = slots - 1;
        s->max = per;
    }
    return self;
fail:
    ing_limit_destroy (&self);
    return NULL;
}

void
ing_limit_destroy (ing_limit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_limit_t *self = *self_p;
    for (size_t i = 0; i < self->stripe_count; i++) {
        s_stripe_t *s = &self->stripes[i];
        for (s_entry_t *e = s->head, *next; e; e = next) {
            next = e->next;
            free (e);
        }
        free (s->slots);
        pthread_mutex_destroy (&s->lock);
    }
    free (self);
    *self_p = NULL;
}

bool
ing_limit_enabled (const ing_limit_t *self)
{
    return self->rate > 0;
}

static uint64_t
s_hash (const char *key)
{
    uint64_t h = UINT64_C (1469598103934665603); /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * UINT64_C (1099511628211);
    return h;
}

static void
s_unlink (s_stripe_t *s, s_entry_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->tail = e->prev;
    e->prev = e->next = NULL;
}

static void
s_push_front (s_stripe_t *s, s_entry_t *e)
{
    e->next = s->head;
    if (s->head)
        s->head->prev = e;
    s->head = e;
    if (!s->tail)
        s->tail = e;
}

static void
s_evict_tail (s_stripe_t *s)
{
    s_entry_t *e = s->tail;
    s_entry_t **pp = &s->slots[e->hash & s->slot_mask];
    while (*pp && *pp != e)
        pp = &(*pp)->chain;
    if (*pp)
        *pp = e->chain;
    s_unlink (s, e);
    free (e);
    s->size--;
}

static int64_t
s_ceil_ms (double ms)
{
    ms -= 1e-6; /* 0.998 tokens at 2/s is 1 ms away, not 1.0000000000000009 */
    int64_t r = (int64_t)ms;
    return (double)r < ms ? r + 1 : r;
}

bool
ing_limit_take (ing_limit_t *self, const char *ip, int64_t now_ms, ing_limit_info_t *info)
{
    if (self->rate == 0)
        return true;
    uint64_t h = s_hash (ip);
    s_stripe_t *s = &self->stripes[(h >> 32) % ING_LIMIT_STRIPES];
    double cap = (double)self->burst;
    pthread_mutex_lock (&s->lock);
    s_entry_t *e = s->slots[h & s->slot_mask];
    while (e && !(e->hash == h && strcmp (e->ip, ip) == 0))
        e = e->chain;
    if (e)
        s_unlink (s, e);
    else {
        if (s->size >= s->max && s->tail)
            s_evict_tail (s);
        e = calloc (1, sizeof *e);
        if (!e) {
            pthread_mutex_unlock (&s->lock);
            return true;
        }
        snprintf (e->ip, sizeof e->ip, "%s", ip);
        e->hash = h;
        e->tokens = cap;
        e->last_ms = now_ms;
        e->chain = s->slots[h & s->slot_mask];
        s->slots[h & s->slot_mask] = e;
        s->size++;
    }
    s_push_front (s, e);
    if (now_ms > e->last_ms) {
        e->tokens += (double)(now_ms - e->last_ms) * self->rate / 1000.0;
        if (e->tokens > cap)
            e->tokens = cap;
        e->last_ms = now_ms;
    }
    bool allowed = e->tokens >= 1.0;
    if (allowed)
        e->tokens -= 1.0;
    double tokens = e->tokens;
    pthread_mutex_unlock (&s->lock);
    if (info) {
        info->limit = self->burst;
        info->remaining = (uint32_t)tokens;
        info->reset_ms = s_ceil_ms ((cap - tokens) * 1000.0 / self->rate);
        int64_t wait = allowed ? 0 : s_ceil_ms ((1.0 - tokens) * 1000.0 / self->rate);
        info->retry_after_ms = !allowed && wait < 1 ? 1 : wait;
    }
    return allowed;
}
