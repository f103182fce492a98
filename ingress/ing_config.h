/*  ing_config.h — the ingress's configuration, read once from the environment.
 *
 *  ing_config_new () reads every ZHOOK_* variable the ingress uses, checks
 *  it, and logs one error line naming the variable when a value is bad (the
 *  program then exits 2). The result is read-only afterwards and shared by
 *  every thread. ing_config_vars lists the variables for --help. */
#ifndef ING_CONFIG_H
#define ING_CONFIG_H

#include "common/zh_config.h"
#include "common/zh_curve.h"
#include "common/zh_log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    zh_log_level_t log_level; /* ZHOOK_LOG_LEVEL */
    char *listen; /* civetweb listening_ports, "host:port" */
    char *submit_endpoint; /* connect form, scheduler PULL */
    char *publish_endpoint; /* connect form, scheduler PUB */
    zh_curve_config_t curve; /* ZHOOK_CURVE*: CURVE client keys and the scheduler's key */
    int http_threads; /* civetweb worker threads (one per keep-alive client) */
    int request_timeout_ms; /* wait for a scheduler reply, then 503 */
    size_t max_body_bytes; /* request bodies larger than this are 413 */
    bool auth; /* false: every request is tenant "default" */
    char *api_keys_file; /* TENANT SHA256HEX lines; NULL when auth is off and unset */
    char *instance_id; /* reply topic prefix, unique per ingress process */
    int ready_timeout_ms; /* /ready is 503 when the last heartbeat is older */
    int shutdown_grace_ms; /* SIGTERM: requests in progress get this long, then abandoned */
    bool allow_private_targets; /* no literal-address check of message URLs */
    char *allowed_cidrs; /* ZHOOK_ALLOWED_CIDRS for zh_netguard_new, or NULL */
    uint32_t ip_rate; /* requests per second per client IP at this ingress, 0 = unlimited */
    uint32_t ip_burst; /* most requests a client IP may make at once (>= 1 when ip_rate > 0) */
    char *trusted_proxies; /* ZHOOK_TRUSTED_PROXIES: X-Forwarded-* believed from these, or NULL */
    int header_timeout_ms; /* request line + headers (civetweb request_timeout_ms); 0 = default */
    int body_timeout_ms; /* whole request body, from the first body read; 0 = default */
    int keep_alive_timeout_ms; /* idle keep-alive connection closed after this; 0 = default */
    int listen_backlog; /* connections the kernel queues while every thread is busy; 0 = default */
    char *cors_origins; /* ZHOOK_CORS_ORIGINS, exact origins comma-separated, or NULL (off) */
} ing_config_t;

/* The variables for --help, ending with {NULL}. */
extern const zh_config_var_t ing_config_vars[];

/* Reads and validates the environment. NULL (after logging the variable)
 * when a value is bad or memory runs out. */
ing_config_t *ing_config_new (void);
void ing_config_destroy (ing_config_t **self_p);

#endif
