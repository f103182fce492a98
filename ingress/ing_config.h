/*  ing_config.h — the ingress's configuration, read once from the environment.
 *
 *  ing_config_new () reads every ZHOOK_* variable the ingress uses, checks
 *  it, and logs one error line naming the variable when a value is bad (the
 *  program then exits 2). The result is read-only afterwards and shared by
 *  every thread. ing_config_vars lists the variables for --help. */
#ifndef ING_CONFIG_H
#define ING_CONFIG_H

#include "common/zh_config.h"
#include "common/zh_log.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    zh_log_level_t log_level; /* ZHOOK_LOG_LEVEL */
    char *listen; /* civetweb listening_ports, "host:port" */
    char *submit_endpoint; /* connect form, scheduler PULL */
    char *publish_endpoint; /* connect form, scheduler PUB */
    int http_threads; /* civetweb worker threads (one per keep-alive client) */
    int request_timeout_ms; /* wait for a scheduler reply, then 503 */
    size_t max_body_bytes; /* request bodies larger than this are 413 */
    bool auth; /* false: every request is tenant "default" */
    char *api_keys_file; /* TENANT SHA256HEX lines; NULL when auth is off and unset */
    char *instance_id; /* reply topic prefix, unique per ingress process */
    int ready_timeout_ms; /* /ready is 503 when the last heartbeat is older */
    bool allow_private_targets; /* no literal-address check of message URLs */
    char *allowed_cidrs; /* ZHOOK_ALLOWED_CIDRS for zh_netguard_new, or NULL */
} ing_config_t;

/* The variables for --help, ending with {NULL}. */
extern const zh_config_var_t ing_config_vars[];

/* Reads and validates the environment. NULL (after logging the variable)
 * when a value is bad or memory runs out. */
ing_config_t *ing_config_new (void);
void ing_config_destroy (ing_config_t **self_p);

#endif
