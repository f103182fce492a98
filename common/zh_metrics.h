/*  zh_metrics.h — a small Prometheus registry: counters, gauges, histograms.
 *
 *  Families and series are registered at start-up, from one thread, before
 *  any other thread reads the registry; afterwards updates are lock-free
 *  atomics from any thread and zh_metrics_render () may run concurrently
 *  (civetweb's /metrics handler). No Debian C library offers a Prometheus
 *  client, so this is the small piece written here (text format 0.0.4).
 *
 *  A series is a family name plus an optional label string, written exactly
 *  as it appears between braces: "route=\"messages\",code=\"202\"". Series of
 *  one family must share name, help and type; they are grouped on render. */
#ifndef ZH_METRICS_H
#define ZH_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _zh_metrics_t zh_metrics_t;
typedef struct _zh_counter_t zh_counter_t;
typedef struct _zh_gauge_t zh_gauge_t;
typedef struct _zh_histogram_t zh_histogram_t;

zh_metrics_t *zh_metrics_new (void);
void zh_metrics_destroy (zh_metrics_t **self_p);

/* Registration returns a series owned by the registry (valid until destroy),
 * or NULL when out of memory or the name is not a valid metric name.
 * labels may be NULL. */
zh_counter_t *zh_metrics_counter (zh_metrics_t *self, const char *name, const char *help,
                                  const char *labels);
zh_gauge_t *zh_metrics_gauge (zh_metrics_t *self, const char *name, const char *help,
                              const char *labels);
/* bounds: ascending upper bounds (le), n of them; +Inf is implicit. */
zh_histogram_t *zh_metrics_histogram (zh_metrics_t *self, const char *name, const char *help,
                                      const char *labels, const double *bounds, size_t n);

void zh_counter_add (zh_counter_t *c, uint64_t n);
static inline void
zh_counter_inc (zh_counter_t *c)
{
    zh_counter_add (c, 1);
}
uint64_t zh_counter_value (const zh_counter_t *c);
void zh_gauge_set (zh_gauge_t *g, int64_t v);
void zh_gauge_add (zh_gauge_t *g, int64_t delta);
int64_t zh_gauge_value (const zh_gauge_t *g);
void zh_histogram_observe (zh_histogram_t *h, double v);

/* Prometheus text exposition of every series; heap string, caller frees;
 * NULL when out of memory. */
char *zh_metrics_render (zh_metrics_t *self);

/* Bucket bounds in seconds, for latency histograms: 1 ms .. 30 s. */
extern const double zh_metrics_latency_bounds[];
extern const size_t zh_metrics_latency_bounds_n;

#endif
