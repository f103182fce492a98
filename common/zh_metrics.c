/*  zh_metrics.c — Prometheus registry and text exposition (format 0.0.4).
 *
 *  Families keep registration order, and so do the series of a family, so a
 *  scrape is stable and diffable. Updates touch only the series' atomics;
 *  the family list is guarded by a mutex taken by registration and render
 *  (never by updates), so a late registration cannot race a scrape.
 *
 *  Histogram buckets are stored per bucket (not cumulative) and summed on
 *  render; _count is the sum of the buckets read in that render, so the
 *  +Inf bucket always equals _count in one scrape. The sum is a double kept
 *  as its bit pattern in an atomic integer and updated by compare-and-swap. */
#include "common/zh_metrics.h"
#include "common/zh_log.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { ZH_KIND_COUNTER, ZH_KIND_GAUGE, ZH_KIND_HISTOGRAM } zh_kind_t;

struct _zh_counter_t {
    _Atomic uint64_t value; // events since start
};

struct _zh_gauge_t {
    _Atomic int64_t value; // current level
};

struct _zh_histogram_t {
    double *bounds; // ascending upper bounds, n of them (+Inf implicit)
    size_t n; // number of finite bounds
    _Atomic uint64_t *buckets; // n + 1 per-bucket (not cumulative) counts
    _Atomic uint64_t sum_bits; // double sum of observations, as its bit pattern
};

typedef struct _series_t series_t;
struct _series_t {
    char *labels; // exposition label text without braces, "" when none
    union {
        zh_counter_t counter;
        zh_gauge_t gauge;
        zh_histogram_t histogram;
    } u;
    series_t *next; // next series of the family, registration order
};

typedef struct _family_t family_t;
struct _family_t {
    char *name; // metric family name
    char *help; // help text as given (escaped on render)
    zh_kind_t kind; // counter, gauge or histogram
    series_t *series; // first series
    series_t *last; // last series, for appending
    family_t *next; // next family, registration order
};

struct _zh_metrics_t {
    pthread_mutex_t lock; // guards the family list (not the values)
    family_t *families; // first family
    family_t *last; // last family, for appending
};

const double zh_metrics_latency_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                            0.25,  0.5,    1,     2.5,  5,     10,   30};
const size_t zh_metrics_latency_bounds_n =
    sizeof zh_metrics_latency_bounds / sizeof zh_metrics_latency_bounds[0];

static const char *s_kind_names[] = {"counter", "gauge", "histogram"};

zh_metrics_t *
zh_metrics_new (void)
{
    zh_metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_mutex_init (&self->lock, NULL)) {
        free (self);
        return NULL;
    }
    return self;
}

static void
s_series_destroy (series_t *s, zh_kind_t kind)
{
    if (kind == ZH_KIND_HISTOGRAM) {
        free (s->u.histogram.bounds);
        free ((void *)s->u.histogram.buckets);
    }
    free (s->labels);
    free (s);
}

static void
s_family_destroy (family_t *f)
{
    series_t *s = f->series;
    while (s) {
        series_t *next = s->next;
        s_series_destroy (s, f->kind);
        s = next;
    }
    free (f->name);
    free (f->help);
    free (f);
}

void
zh_metrics_destroy (zh_metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zh_metrics_t *self = *self_p;
    family_t *f = self->families;
    while (f) {
        family_t *next = f->next;
        s_family_destroy (f);
        f = next;
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool
s_name_valid (const char *name)
{
    if (!name || !*name)
        return false;
    for (const char *p = name; *p; p++) {
        bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == ':';
        bool digit = *p >= '0' && *p <= '9';
        if (!alpha && !(digit && p != name))
            return false;
    }
    return true;
}

/* Label text as written between braces: name="value"(,name="value")*, names
 * [a-zA-Z_][a-zA-Z0-9_]*, values with only \\, \" and \n escapes and no raw
 * newline. A histogram's own labels must not use "le". */
static bool
s_labels_valid (const char *labels, bool is_histogram)
{
    const char *p = labels;
    if (!*p)
        return true;
    for (;;) {
        const char *name = p;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
            return false;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '_')
            p++;
        if (is_histogram && p - name == 2 && name[0] == 'l' && name[1] == 'e')
            return false;
        if (*p++ != '=' || *p++ != '"')
            return false;
        while (*p != '"') {
            if (*p == 0 || *p == '\n')
                return false;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return false;
            }
            p++;
        }
        p++;
        if (*p == 0)
            return true;
        if (*p++ != ',')
            return false;
    }
}

/* Finds or creates the series (name, labels) of the given kind. Returns the
 * series, or NULL after logging when the name, the labels or the kind are
 * wrong; *created says whether it is new. Caller holds the lock. */
static series_t *
s_series_get (zh_metrics_t *self, const char *name, const char *help, const char *labels,
              zh_kind_t kind, bool *created)
{
    *created = false;
    if (!labels)
        labels = "";
    if (!s_name_valid (name)) {
        zh_error ("metrics: invalid metric name", "s:name", name, NULL);
        return NULL;
    }
    if (!s_labels_valid (labels, kind == ZH_KIND_HISTOGRAM)) {
        zh_error ("metrics: invalid label text", "s:name", name, "s:labels", labels, NULL);
        return NULL;
    }
    family_t *f = self->families;
    while (f && strcmp (f->name, name) != 0)
        f = f->next;
    if (f) {
        if (f->kind != kind) {
            zh_error ("metrics: family registered with another type", "s:name", name, "s:type",
                      s_kind_names[f->kind], NULL);
            return NULL;
        }
        for (series_t *s = f->series; s; s = s->next)
            if (strcmp (s->labels, labels) == 0)
                return s;
    }
    else {
        f = calloc (1, sizeof *f);
        if (!f)
            return NULL;
        f->name = strdup (name);
        f->help = strdup (help ? help : "");
        f->kind = kind;
        if (!f->name || !f->help) {
            s_family_destroy (f);
            return NULL;
        }
        if (self->last)
            self->last->next = f;
        else
            self->families = f;
        self->last = f;
    }
    series_t *s = calloc (1, sizeof *s);
    if (!s)
        return NULL;
    s->labels = strdup (labels);
    if (!s->labels) {
        free (s);
        return NULL;
    }
    if (f->last)
        f->last->next = s;
    else
        f->series = s;
    f->last = s;
    *created = true;
    return s;
}

zh_counter_t *
zh_metrics_counter (zh_metrics_t *self, const char *name, const char *help, const char *labels)
{
    bool created;
    pthread_mutex_lock (&self->lock);
    series_t *s = s_series_get (self, name, help, labels, ZH_KIND_COUNTER, &created);
    pthread_mutex_unlock (&self->lock);
    return s ? &s->u.counter : NULL;
}

zh_gauge_t *
zh_metrics_gauge (zh_metrics_t *self, const char *name, const char *help, const char *labels)
{
    bool created;
    pthread_mutex_lock (&self->lock);
    series_t *s = s_series_get (self, name, help, labels, ZH_KIND_GAUGE, &created);
    pthread_mutex_unlock (&self->lock);
    return s ? &s->u.gauge : NULL;
}

zh_histogram_t *
zh_metrics_histogram (zh_metrics_t *self, const char *name, const char *help, const char *labels,
                      const double *bounds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite (bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
            zh_error ("metrics: histogram bounds must be finite and ascending", "s:name", name,
                      NULL);
            return NULL;
        }
    bool created;
    zh_histogram_t *h = NULL;
    pthread_mutex_lock (&self->lock);
    series_t *s = s_series_get (self, name, help, labels, ZH_KIND_HISTOGRAM, &created);
    if (s && created) {
        h = &s->u.histogram;
        h->n = n;
        h->bounds = malloc ((n ? n : 1) * sizeof (double));
        h->buckets = calloc (n + 1, sizeof (_Atomic uint64_t));
        if (!h->bounds || !h->buckets) {
            /* leave a valid empty series behind rather than unlink it */
            free (h->bounds);
            free ((void *)h->buckets);
            h->bounds = NULL;
            h->buckets = NULL;
            h->n = 0;
            h = NULL;
        }
        else {
            if (n)
                memcpy (h->bounds, bounds, n * sizeof (double));
            for (size_t i = 0; i <= n; i++)
                atomic_init (&h->buckets[i], 0);
            atomic_init (&h->sum_bits, 0); /* bit pattern of 0.0 */
        }
    }
    else if (s) {
        /* an existing series: only the same bounds make it the same histogram */
        h = &s->u.histogram;
        if (!h->buckets || h->n != n || (n && memcmp (h->bounds, bounds, n * sizeof (double)))) {
            zh_error ("metrics: histogram registered again with other bounds", "s:name", name,
                      NULL);
            h = NULL;
        }
    }
    pthread_mutex_unlock (&self->lock);
    return h;
}

void
zh_counter_add (zh_counter_t *c, uint64_t n)
{
    atomic_fetch_add_explicit (&c->value, n, memory_order_relaxed);
}

uint64_t
zh_counter_value (const zh_counter_t *c)
{
    return atomic_load_explicit (&((zh_counter_t *)c)->value, memory_order_relaxed);
}

void
zh_gauge_set (zh_gauge_t *g, int64_t v)
{
    atomic_store_explicit (&g->value, v, memory_order_relaxed);
}

void
zh_gauge_add (zh_gauge_t *g, int64_t delta)
{
    atomic_fetch_add_explicit (&g->value, delta, memory_order_relaxed);
}

int64_t
zh_gauge_value (const zh_gauge_t *g)
{
    return atomic_load_explicit (&((zh_gauge_t *)g)->value, memory_order_relaxed);
}

static double
s_bits_double (uint64_t bits)
{
    double d;
    memcpy (&d, &bits, sizeof d);
    return d;
}

static uint64_t
s_double_bits (double d)
{
    uint64_t bits;
    memcpy (&bits, &d, sizeof bits);
    return bits;
}

void
zh_histogram_observe (zh_histogram_t *h, double v)
{
    if (isnan (v))
        return; /* would poison the sum forever */
    size_t i = 0;
    while (i < h->n && v > h->bounds[i])
        i++;
    atomic_fetch_add_explicit (&h->buckets[i], 1, memory_order_relaxed);
    uint64_t old = atomic_load_explicit (&h->sum_bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit (&h->sum_bits, &old,
                                                   s_double_bits (s_bits_double (old) + v),
                                                   memory_order_relaxed, memory_order_relaxed))
        ;
}

/* --- rendering ----------------------------------------------------------- */

typedef struct {
    char *data; // heap text, NUL-terminated
    size_t len; // bytes used, without the NUL
    size_t cap; // bytes allocated
    bool failed; // an allocation failed; the text is incomplete
} strbuf_t;

static void
s_reserve (strbuf_t *b, size_t more)
{
    if (b->failed || b->len + more + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *data = realloc (b->data, cap);
    if (!data) {
        b->failed = true;
        return;
    }
    b->data = data;
    b->cap = cap;
}

static void s_printf (strbuf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_printf (strbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (NULL, 0, fmt, ap);
    va_end (ap);
    if (n < 0) {
        b->failed = true;
        return;
    }
    s_reserve (b, (size_t)n);
    if (b->failed)
        return;
    va_start (ap, fmt);
    vsnprintf (b->data + b->len, b->cap - b->len, fmt, ap);
    va_end (ap);
    b->len += (size_t)n;
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static void
s_help (strbuf_t *b, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            s_printf (b, "\\\\");
        else if (*p == '\n')
            s_printf (b, "\\n");
        else
            s_printf (b, "%c", *p);
    }
}

/* Shortest of %.15g / %.17g that reads back as the same double. */
static void
s_double (char *out, size_t size, double v)
{
    if (isinf (v)) {
        snprintf (out, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (isnan (v)) {
        snprintf (out, size, "NaN");
        return;
    }
    snprintf (out, size, "%.15g", v);
    if (strtod (out, NULL) != v)
        snprintf (out, size, "%.17g", v);
}

static void
s_render_histogram (strbuf_t *b, const char *name, const series_t *s)
{
    const zh_histogram_t *h = &s->u.histogram;
    const char *sep = *s->labels ? "," : "";
    uint64_t cumulative = 0;
    char le[40];
    for (size_t i = 0; h->buckets && i <= h->n; i++) {
        cumulative +=
            atomic_load_explicit (&((zh_histogram_t *)h)->buckets[i], memory_order_relaxed);
        if (i < h->n)
            s_double (le, sizeof le, h->bounds[i]);
        else
            snprintf (le, sizeof le, "+Inf");
        s_printf (b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, s->labels, sep, le,
                  (unsigned long long)cumulative);
    }
    if (!h->buckets)
        s_printf (b, "%s_bucket{%s%sle=\"+Inf\"} 0\n", name, s->labels, sep);
    char sum[40];
    s_double (sum, sizeof sum,
              s_bits_double (
                  atomic_load_explicit (&((zh_histogram_t *)h)->sum_bits, memory_order_relaxed)));
    if (*s->labels) {
        s_printf (b, "%s_sum{%s} %s\n", name, s->labels, sum);
        s_printf (b, "%s_count{%s} %llu\n", name, s->labels, (unsigned long long)cumulative);
    }
    else {
        s_printf (b, "%s_sum %s\n", name, sum);
        s_printf (b, "%s_count %llu\n", name, (unsigned long long)cumulative);
    }
}

char *
zh_metrics_render (zh_metrics_t *self)
{
    strbuf_t b = {NULL, 0, 0, false};
    s_reserve (&b, 0);
    if (b.failed)
        return NULL;
    b.data[0] = 0;
    pthread_mutex_lock (&self->lock);
    for (const family_t *f = self->families; f; f = f->next) {
        s_printf (&b, "# HELP %s ", f->name);
        s_help (&b, f->help);
        s_printf (&b, "\n# TYPE %s %s\n", f->name, s_kind_names[f->kind]);
        for (const series_t *s = f->series; s; s = s->next) {
            const char *open = *s->labels ? "{" : "";
            const char *close = *s->labels ? "}" : "";
            if (f->kind == ZH_KIND_COUNTER)
                s_printf (&b, "%s%s%s%s %llu\n", f->name, open, s->labels, close,
                          (unsigned long long)zh_counter_value (&s->u.counter));
            else if (f->kind == ZH_KIND_GAUGE)
                s_printf (&b, "%s%s%s%s %lld\n", f->name, open, s->labels, close,
                          (long long)zh_gauge_value (&s->u.gauge));
            else
                s_render_histogram (&b, f->name, s);
        }
    }
    pthread_mutex_unlock (&self->lock);
    if (b.failed) {
        free (b.data);
        return NULL;
    }
    return b.data;
}
