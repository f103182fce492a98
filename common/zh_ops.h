/*  zh_ops.h — the operations HTTP server embedded in scheduler and deliverer.
 *
 *  civetweb on ZHOOK_OPS_LISTEN, a few threads, no auth:
 *    GET /live     200 {"status":"live"} while the process runs
 *    GET /ready    200 {"status":"ready"} when ready_fn says so, else 503
 *    GET /metrics  Prometheus text from the registry
 *  Other paths are 404 problem+json; other methods 405 with Allow.
 *  ready_fn runs on civetweb threads: it must only read atomics. */
#ifndef ZH_OPS_H
#define ZH_OPS_H

#include "common/zh_metrics.h"
#include <stdbool.h>

typedef struct _zh_ops_t zh_ops_t;
typedef bool (zh_ops_ready_fn) (void *arg);

/* Starts listening. metrics is borrowed (must outlive the server). Returns
 * NULL (after logging why) when the address cannot be bound. */
zh_ops_t *zh_ops_new (const char *listen, zh_metrics_t *metrics, zh_ops_ready_fn *ready,
                      void *ready_arg);
void zh_ops_destroy (zh_ops_t **self_p);

/* Port actually bound (useful when listen asked for port 0). */
int zh_ops_port (zh_ops_t *self);

#endif
