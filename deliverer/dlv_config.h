/*  dlv_config.h — the deliverer's settings, read once from the environment.
 *
 *  dlv_config_new () reads every ZHOOK_* variable the deliverer knows (table
 *  dlv_config_vars, also printed by --help), validates it and returns a
 *  read-only struct. A bad value is logged by common/zh_config (one line
 *  naming the variable) and dlv_config_new returns NULL: main exits 2. */
#ifndef DLV_CONFIG_H
#define DLV_CONFIG_H

#include "common/zh_config.h"
#include "common/zh_curve.h"
#include "common/zh_log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLV_CONCURRENCY_MAX 10000
#define DLV_PREFETCH_MAX 30000

typedef struct {
    zh_log_level_t log_level; // ZHOOK_LOG_LEVEL
    char *dispatch_endpoint; // PULL connects here (tcp://HOST:5557)
    char *results_endpoint; // PUSH connects here (tcp://HOST:5558)
    zh_curve_config_t curve; // ZHOOK_CURVE*: CURVE client keys and the scheduler's key
    char *ops_listen; // host:port of /live, /ready, /metrics
    uint32_t concurrency; // attempts in flight at most, 1..10000
    uint32_t prefetch; // dispatches taken beyond concurrency, waiting for a slot
    uint32_t heartbeat_ms; // period of heartbeats to the scheduler
    uint32_t shutdown_grace_ms; // time in-flight attempts get after SIGTERM
    size_t response_body_max; // bytes of a failed response kept, 0..65536
    bool allow_private_targets; // true lifts the SSRF guard (development, tests)
    char *allowed_cidrs; // ZHOOK_ALLOWED_CIDRS: private CIDRs admitted anyway, or NULL
    char *egress_proxy; // ZHOOK_EGRESS_PROXY: http(s):// proxy for every attempt, or NULL
    char *signing_secret; // "whsec_..." used when a message has none, or NULL
    char *instance_id; // deliverer id in heartbeats and results
    uint32_t host_concurrency; // attempts in flight per destination host, 1..concurrency
    uint32_t circuit_failures; // consecutive failures of a host that open its circuit, 0 = never
    uint32_t circuit_cooldown_ms; // how long an open circuit holds the host's messages back
} dlv_config_t;

/* Every variable with its default, for --help; ends with {NULL}. */
extern const zh_config_var_t dlv_config_vars[];

/* Reads and validates the environment. NULL (after logging the variable)
 * on a bad value or out of memory. */
dlv_config_t *dlv_config_new (void);

/* Frees the config and nulls *self_p; accepts NULL. */
void dlv_config_destroy (dlv_config_t **self_p);

#endif
