/*  zh_ops.h — the operations HTTP server embedded in scheduler and deliverer.
 *
 *  civetweb on ZHOOK_OPS_LISTEN, a few threads, no auth:
 *    GET /live     200 {"status":"live"} while the process runs
 *    GET /ready    200 {"status":"ready"} when ready_fn says so, else 503
 *    GET /metrics  Prometheus text from the registry
 *  plus the exact paths added with zh_ops_handle (for example the
 *  scheduler's /admin/backup, which does its own auth).
 *  Other paths are 404 problem+json; other methods 405 with Allow.
 *  ready_fn runs on civetweb threads: it must only read atomics. */
#ifndef ZH_OPS_H
#define ZH_OPS_H

#include "common/zh_metrics.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct _zh_ops_t zh_ops_t;
typedef bool (zh_ops_ready_fn) (void *arg);

/* An extra route: runs on a civetweb thread with the connection (struct
 * mg_connection *, opaque here) and arg; writes the whole response itself
 * (zh_ops_respond helps) and returns the HTTP status it sent. */
typedef int (zh_ops_handler_fn) (void *conn, void *arg);

/* Starts listening. metrics is borrowed (must outlive the server). Returns
 * NULL (after logging why) when the address cannot be bound. */
zh_ops_t *zh_ops_new (const char *listen, zh_metrics_t *metrics, zh_ops_ready_fn *ready,
                      void *ready_arg);
void zh_ops_destroy (zh_ops_t **self_p);

/* Adds an exact-path route (uri like "/admin/backup", no query) served by
 * fn with arg, every method; checked before the 404 catch-all. 0, or -1
 * on a bad uri, out of memory or more than 8 extra routes. */
int zh_ops_handle (zh_ops_t *self, const char *uri, zh_ops_handler_fn *fn, void *arg);

/* Writes a whole response on conn (from a zh_ops_handler_fn): status line,
 * Content-Type, Content-Length, no-store, Connection: close, then
 * extra_headers (each ending "\r\n", may be NULL) and body. Returns status. */
int zh_ops_respond (void *conn, int status, const char *type, const char *extra_headers,
                    const char *body, size_t body_len);

/* mg_stop (ctx), fast: civetweb 1.15's accept loop polls with a 2 s timeout
 * and only then sees its stop flag, so while mg_stop runs a helper thread
 * keeps connecting to the listener (listen "host:port", bound port) to wake
 * it. "0.0.0.0", "localhost" or no host are reached on 127.0.0.1; another
 * IPv4 literal as is; a host name is not resolved (plain mg_stop then). */
struct mg_context;
void zh_ops_stop_civetweb (struct mg_context *ctx, const char *listen, int port);

/* Port actually bound (useful when listen asked for port 0). */
int zh_ops_port (zh_ops_t *self);

#endif
