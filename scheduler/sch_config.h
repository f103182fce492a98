/*  sch_config.h — the scheduler's settings, read once from the environment.
 *
 *  sch_config_new () reads every ZHOOK_* variable the scheduler knows (table
 *  sch_config_vars, also printed by --help), validates it and returns a
 *  read-only struct. A bad value is logged by common/zh_config (one line
 *  naming the variable) and sch_config_new returns NULL: main exits 2. */
#ifndef SCH_CONFIG_H
#define SCH_CONFIG_H

#include "common/zh_config.h"
#include "common/zh_curve.h"
#include "common/zh_log.h"
#include "scheduler/sch_policy.h"

#include <stdint.h>

typedef struct {
    zh_log_level_t log_level; // ZHOOK_LOG_LEVEL
    char *data_dir; // LMDB environment directory (created when missing)
    uint64_t map_size_mb; // LMDB map size in MiB, 1..1048576
    char *ops_listen; // host:port of /live, /ready, /metrics
    char *submit_endpoint; // PULL binds here (ingress submissions and commands)
    char *publish_endpoint; // PUB binds here (replies, heartbeats)
    char *dispatch_endpoint; // PUSH binds here (due deliveries)
    char *results_endpoint; // PULL binds here (deliverer results, heartbeats)
    zh_curve_config_t curve; // ZHOOK_CURVE*: every socket a CURVE server, clients allowlisted
    uint32_t heartbeat_ms; // heartbeat period and ZMTP heartbeat interval, ms
    uint32_t commit_batch; // most submissions or results applied per write txn
    uint32_t dispatch_batch; // most dispatches leased per write txn
    uint32_t dispatch_lead_ms; // due within this: leased ahead, held, sent when due (0: off)
    uint32_t purge_batch; // most ended messages purged per write txn
    uint32_t deliverer_timeout_ms; // a deliverer silent this long has no capacity, ms
    uint32_t shutdown_grace_ms; // SIGTERM: bound on the last batch and socket linger, ms
    uint32_t purge_interval_ms; // period of the retention purge, ms
    uint32_t reader_check_ms; // period of mdb_reader_check (stale reader slots), ms
    char *admin_token; // ZHOOK_ADMIN_TOKEN: bearer of /admin/backup; NULL = disabled
    uint32_t tenant_rate; // accepted messages per second per tenant, 0 = unlimited
    uint32_t tenant_burst; // most messages a tenant may submit at once (>= 1 when rate > 0)
    sch_policy_t policy; // delivery policy (attempts, backoff, windows)
} sch_config_t;

/* Every variable with its default, for --help; ends with {NULL}. */
extern const zh_config_var_t sch_config_vars[];

/* Reads and validates the environment. NULL (after logging the variable)
 * on a bad value or out of memory. */
sch_config_t *sch_config_new (void);

/* Frees the config and nulls *self_p; accepts NULL. */
void sch_config_destroy (sch_config_t **self_p);

#endif
