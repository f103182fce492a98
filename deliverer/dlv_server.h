/*  dlv_server.h — the deliverer process loop.
 *
 *  Owns the dispatch PULL socket, the results PUSH socket, the HTTP engine
 *  (dlv_http), the metrics registry and the ops HTTP server. One thread
 *  (the caller of dlv_server_run) does all socket and curl work; the ops
 *  server's civetweb threads only read atomics and the metrics registry.
 *
 *  Readiness (/ready): both sockets have a live TCP connection to the
 *  scheduler, as reported by ZeroMQ socket monitors (CONNECTED /
 *  DISCONNECTED events), and the process is not stopping. */
#ifndef DLV_SERVER_H
#define DLV_SERVER_H

#include "deliverer/dlv_config.h"

typedef struct _dlv_server_t dlv_server_t;

/* Creates metrics, the ops server and the two sockets (connecting them) and
 * the HTTP engine. cfg is borrowed and must outlive the server. Call after
 * zh_signal_init () and curl_global_init (). NULL (after logging why) when
 * a socket, the ops listener or curl cannot be set up. */
dlv_server_t *dlv_server_new (const dlv_config_t *cfg);

/* Closes everything; the results socket lingers up to
 * ZHOOK_SHUTDOWN_GRACE_MS at context shutdown so reports get out. Accepts
 * NULL, nulls *self_p. */
void dlv_server_destroy (dlv_server_t **self_p);

/* Runs until zh_signal_stopping (): takes dispatches while slots are free,
 * delivers them (or, when the destination is busy or its circuit open,
 * sends them straight back as "deferred": see dlv_hosts.h), reports results
 * and heartbeats. Then stops taking work,
 * lets in-flight attempts finish within the grace period, reports the rest
 * as "aborted". Returns 0 after a clean stop, -1 on a runtime failure (the
 * stop sequence has run in both cases). */
int dlv_server_run (dlv_server_t *self);

/* Asks dlv_server_run to stop as SIGTERM would. Safe from any thread (tests,
 * an embedding program). */
void dlv_server_stop (dlv_server_t *self);

/* Port of the ops server (useful when ZHOOK_OPS_LISTEN asked for port 0). */
int dlv_server_ops_port (dlv_server_t *self);

#endif
