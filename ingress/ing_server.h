/*  ing_server.h — the ingress HTTP API: civetweb routes over the bridge.
 *
 *  Routes (SPEC §3, docs/ARCHITECTURE.md "HTTP API details"):
 *      POST   /v1/messages                  submit one message        202
 *      POST   /v1/messages/batch            submit up to 1000         202
 *      GET    /v1/messages/{id}             the record                200
 *      DELETE /v1/messages/{id}             cancel                    200 / 409
 *      GET    /v1/dead-letters              newest first, paginated   200
 *      POST   /v1/dead-letters/{id}/replay  back to scheduled         200 / 409
 *      GET    /v1/status                    scheduler counts          200
 *      POST   /v1/subscriptions             create (secret shown)     201
 *      GET    /v1/subscriptions             ?topic=&limit=&after=     200
 *      GET    /v1/subscriptions/{id}        one subscription          200
 *      PATCH  /v1/subscriptions/{id}        enabled, rate_limit, description  200
 *      DELETE /v1/subscriptions/{id}        the deleted subscription  200
 *      POST   /v1/subscriptions/{id}/rotate-secret  new secret shown  200
 *      POST   /v1/events                    fan out to subscriptions  202
 *      GET    /v1/events/{id}               the event and its messages 200
 *      GET    /live  /ready  /metrics       no auth
 *  Every response carries X-Request-Id; errors are application/problem+json.
 *
 *  Threads: civetweb's listener and http_threads workers, each worker with
 *  its own bridge sockets (init_thread/exit_thread callbacks), plus the
 *  bridge's heartbeat watcher. */
#ifndef ING_SERVER_H
#define ING_SERVER_H

#include "ingress/ing_config.h"

#include <stdint.h>

typedef struct _ing_server_t ing_server_t;

/* Loads the API keys, connects the bridge and starts listening. cfg is
 * borrowed and must outlive the server. NULL (after logging why) when the
 * keys file is bad (*config_error set true) or the address cannot be bound
 * or a socket cannot be made (*config_error false). config_error may be NULL. */
ing_server_t *ing_server_new (const ing_config_t *cfg, bool *config_error);

/* Graceful shutdown, step one (main thread, after SIGTERM): from now on
 * /ready and every new API request answer 503 (Retry-After, connection
 * closed); waits until the requests admitted before have been answered or
 * the monotonic deadline passes, then makes those still waiting for the
 * scheduler give up (503), gives them up to 200 ms more to answer, and logs
 * how many were abandoned. Returns that number (0: nothing abandoned). */
int ing_server_drain (ing_server_t *self, int64_t deadline_mono);

/* Stops civetweb (woken, so in milliseconds, once handlers return), closes
 * every socket. Call ing_server_drain first for a graceful stop. */
void ing_server_destroy (ing_server_t **self_p);

/* Reloads the API keys file (SIGHUP, from the main thread) while requests
 * keep being served: 0 when the new keys are in force, -1 when the file is
 * bad and the old keys stay (logged). */
int ing_server_reload (ing_server_t *self);

/* The port actually bound (useful when cfg->listen asked for port 0). */
int ing_server_port (ing_server_t *self);

#endif
