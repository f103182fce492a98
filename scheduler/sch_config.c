/*  sch_config.c — the scheduler's environment, read and validated at start. */
#include "scheduler/sch_config.h"
#include "common/zh_defaults.h"

#include <stdlib.h>
#include <string.h>

#define S_STR(x) #x
#define S_XSTR(x) S_STR (x)

const zh_config_var_t sch_config_vars[] = {
    {"ZHOOK_LOG_LEVEL", ZH_DEF_LOG_LEVEL, "debug | info | warn | error"},
    {"ZHOOK_DATA_DIR", ZH_DEF_DATA_DIR, "LMDB store directory (created when missing; not NFS)"},
    {"ZHOOK_MAP_SIZE_MB", S_XSTR (ZH_DEF_MAP_SIZE_MB),
     "LMDB map size in MiB, the most the store can hold (1..1048576; the file is sparse)"},
    {"ZHOOK_OPS_LISTEN", ZH_DEF_SCH_OPS_LISTEN, "host:port of /live, /ready and /metrics"},
    {"ZHOOK_SUBMIT_ENDPOINT", "tcp://*:" S_XSTR (ZH_DEF_SUBMIT_PORT),
     "submit PULL binds here (ingress submissions and commands)"},
    {"ZHOOK_PUBLISH_ENDPOINT", "tcp://*:" S_XSTR (ZH_DEF_PUBLISH_PORT),
     "publish PUB binds here (replies and heartbeats to ingresses)"},
    {"ZHOOK_DISPATCH_ENDPOINT", "tcp://*:" S_XSTR (ZH_DEF_DISPATCH_PORT),
     "dispatch PUSH binds here (due deliveries to deliverers)"},
    {"ZHOOK_RESULTS_ENDPOINT", "tcp://*:" S_XSTR (ZH_DEF_RESULTS_PORT),
     "results PULL binds here (outcomes and heartbeats of deliverers)"},
    ZH_CURVE_VARS_SERVER,
    {"ZHOOK_SHUTDOWN_GRACE_MS", S_XSTR (ZH_DEF_SHUTDOWN_GRACE_MS),
     "SIGTERM: the last batch is answered, replies and dispatches get at most this long to leave "
     "(0..600000)"},
    {"ZHOOK_HEARTBEAT_MS", S_XSTR (ZH_DEF_HEARTBEAT_MS),
     "heartbeat period; also the ZMTP heartbeat of the dispatch socket (100..60000)"},
    {"ZHOOK_MAX_ATTEMPTS", S_XSTR (ZH_DEF_MAX_ATTEMPTS),
     "attempts of a message that sets none (1..100)"},
    {"ZHOOK_TIMEOUT_MS", S_XSTR (ZH_DEF_TIMEOUT_MS),
     "per-attempt timeout of a message that sets none (100..60000)"},
    {"ZHOOK_RETRY_BASE_MS", S_XSTR (ZH_DEF_RETRY_BASE_MS),
     "backoff base: attempt k+1 waits about base*2^(k-1), +-20% (1..86400000)"},
    {"ZHOOK_RETRY_MAX_MS", S_XSTR (ZH_DEF_RETRY_MAX_MS),
     "longest wait between attempts, also the cap on Retry-After (1..604800000)"},
    {"ZHOOK_RETENTION_HOURS", S_XSTR (ZH_DEF_RETENTION_HOURS),
     "how long delivered, dead and cancelled messages stay readable; 0 = purged at the next "
     "purge (0..87600)"},
    {"ZHOOK_IDEMPOTENCY_HOURS", S_XSTR (ZH_DEF_IDEMPOTENCY_HOURS),
     "how long an Idempotency-Key is remembered (1..8760)"},
    {"ZHOOK_LEASE_MARGIN_MS", S_XSTR (ZH_DEF_LEASE_MARGIN_MS),
     "lease = attempt timeout + this margin; then the message is dispatched again "
     "(100..600000)"},
    {"ZHOOK_COMMIT_BATCH", S_XSTR (ZH_DEF_COMMIT_BATCH),
     "most submissions or results applied in one synced write transaction (1..100000)"},
    {"ZHOOK_DISPATCH_BATCH", S_XSTR (ZH_DEF_DISPATCH_BATCH),
     "most dispatches leased in one write transaction (1..100000)"},
    {"ZHOOK_DISPATCH_LEAD_MS", S_XSTR (ZH_DEF_DISPATCH_LEAD_MS),
     "messages due within this are leased (committed) ahead and sent from memory when due, so "
     "no commit sits between due time and dispatch; 0 = lease when due (0..1000)"},
    {"ZHOOK_PURGE_BATCH", S_XSTR (ZH_DEF_PURGE_BATCH),
     "most ended messages purged in one write transaction (1..100000)"},
    {"ZHOOK_DELIVERER_TIMEOUT_MS", S_XSTR (ZH_DEF_DELIVERER_TIMEOUT_MS),
     "a deliverer not heard for this long gets no work (100..600000)"},
    {"ZHOOK_PURGE_INTERVAL_MS", S_XSTR (ZH_DEF_PURGE_INTERVAL_MS),
     "period of the retention purge (100..86400000)"},
    {"ZHOOK_READER_CHECK_MS", S_XSTR (ZH_DEF_READER_CHECK_MS),
     "period of the LMDB stale-reader check (mdb_reader_check) (100..86400000)"},
    {"ZHOOK_ADMIN_TOKEN", "",
     "bearer token of GET /admin/backup on the ops port; empty = backup endpoint disabled"},
    {"ZHOOK_SECRET_OVERLAP_HOURS", S_XSTR (ZH_DEF_SECRET_OVERLAP_HOURS),
     "after a secret rotation, deliveries are signed with the new and the previous secret "
     "this long (0..8760)"},
    {"ZHOOK_DISABLE_AFTER_HOURS", S_XSTR (ZH_DEF_DISABLE_AFTER_HOURS),
     "a subscription whose deliveries fail without a success this long is disabled "
     "(1..87600)"},
    {"ZHOOK_TENANT_RATE", S_XSTR (ZH_DEF_TENANT_RATE),
     "accepted messages per second per tenant, for every ingress together; a batch counts "
     "its items, an event counts 1; 0 = unlimited (0..1000000)"},
    {"ZHOOK_TENANT_BURST", S_XSTR (ZH_DEF_TENANT_BURST),
     "most messages a tenant may submit at once (token bucket size); 0 = the rate (0..1000000)"},
    {NULL, NULL, NULL},
};

sch_config_t *
sch_config_new (void)
{
    sch_config_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char *level = NULL;
    int64_t map_mb, hb, commit, dispatch, lead, purge, dlv_to, purge_ivl, grace;
    int64_t max_att, timeout, base, max, ret_h, idem_h, margin, overlap_h, disable_h;
    int64_t tenant_rate, tenant_burst, reader_ms;
    int rc = zh_config_string ("ZHOOK_LOG_LEVEL", ZH_DEF_LOG_LEVEL, &level);
    if (rc == 0 && zh_log_level_parse (level, &self->log_level)) {
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_LOG_LEVEL", "s:expected",
                  "debug, info, warn or error", NULL);
        rc = -1;
    }
    free (level);
    if (rc || zh_config_string ("ZHOOK_DATA_DIR", ZH_DEF_DATA_DIR, &self->data_dir) ||
        zh_config_int ("ZHOOK_MAP_SIZE_MB", ZH_DEF_MAP_SIZE_MB, 1, 1048576, &map_mb) ||
        zh_config_listen ("ZHOOK_OPS_LISTEN", ZH_DEF_SCH_OPS_LISTEN, &self->ops_listen) ||
        zh_config_endpoint ("ZHOOK_SUBMIT_ENDPOINT", NULL, ZH_DEF_SUBMIT_PORT,
                            &self->submit_endpoint) ||
        zh_config_endpoint ("ZHOOK_PUBLISH_ENDPOINT", NULL, ZH_DEF_PUBLISH_PORT,
                            &self->publish_endpoint) ||
        zh_config_endpoint ("ZHOOK_DISPATCH_ENDPOINT", NULL, ZH_DEF_DISPATCH_PORT,
                            &self->dispatch_endpoint) ||
        zh_config_endpoint ("ZHOOK_RESULTS_ENDPOINT", NULL, ZH_DEF_RESULTS_PORT,
                            &self->results_endpoint) ||
        zh_config_int ("ZHOOK_HEARTBEAT_MS", ZH_DEF_HEARTBEAT_MS, 100, 60000, &hb) ||
        zh_config_int ("ZHOOK_SHUTDOWN_GRACE_MS", ZH_DEF_SHUTDOWN_GRACE_MS, 0, 600000, &grace) ||
        zh_config_int ("ZHOOK_MAX_ATTEMPTS", ZH_DEF_MAX_ATTEMPTS, 1, 100, &max_att) ||
        zh_config_int ("ZHOOK_TIMEOUT_MS", ZH_DEF_TIMEOUT_MS, 100, 60000, &timeout) ||
        zh_config_int ("ZHOOK_RETRY_BASE_MS", ZH_DEF_RETRY_BASE_MS, 1, 86400000, &base) ||
        zh_config_int ("ZHOOK_RETRY_MAX_MS", ZH_DEF_RETRY_MAX_MS, 1, 604800000, &max) ||
        zh_config_int ("ZHOOK_RETENTION_HOURS", ZH_DEF_RETENTION_HOURS, 0, 87600, &ret_h) ||
        zh_config_int ("ZHOOK_IDEMPOTENCY_HOURS", ZH_DEF_IDEMPOTENCY_HOURS, 1, 8760, &idem_h) ||
        zh_config_int ("ZHOOK_LEASE_MARGIN_MS", ZH_DEF_LEASE_MARGIN_MS, 100, 600000, &margin) ||
        zh_config_int ("ZHOOK_COMMIT_BATCH", ZH_DEF_COMMIT_BATCH, 1, 100000, &commit) ||
        zh_config_int ("ZHOOK_DISPATCH_BATCH", ZH_DEF_DISPATCH_BATCH, 1, 100000, &dispatch) ||
        zh_config_int ("ZHOOK_DISPATCH_LEAD_MS", ZH_DEF_DISPATCH_LEAD_MS, 0, 1000, &lead) ||
        zh_config_int ("ZHOOK_PURGE_BATCH", ZH_DEF_PURGE_BATCH, 1, 100000, &purge) ||
        zh_config_int ("ZHOOK_DELIVERER_TIMEOUT_MS", ZH_DEF_DELIVERER_TIMEOUT_MS, 100, 600000,
                       &dlv_to) ||
        zh_config_int ("ZHOOK_PURGE_INTERVAL_MS", ZH_DEF_PURGE_INTERVAL_MS, 100, 86400000,
                       &purge_ivl) ||
        zh_config_int ("ZHOOK_READER_CHECK_MS", ZH_DEF_READER_CHECK_MS, 100, 86400000,
                       &reader_ms) ||
        zh_config_string ("ZHOOK_ADMIN_TOKEN", "", &self->admin_token) ||
        zh_config_int ("ZHOOK_SECRET_OVERLAP_HOURS", ZH_DEF_SECRET_OVERLAP_HOURS, 0, 8760,
                       &overlap_h) ||
        zh_config_int ("ZHOOK_DISABLE_AFTER_HOURS", ZH_DEF_DISABLE_AFTER_HOURS, 1, 87600,
                       &disable_h) ||
        zh_config_int ("ZHOOK_TENANT_RATE", ZH_DEF_TENANT_RATE, 0, 1000000, &tenant_rate) ||
        zh_config_int ("ZHOOK_TENANT_BURST", ZH_DEF_TENANT_BURST, 0, 1000000, &tenant_burst)) {
        sch_config_destroy (&self);
        return NULL;
    }
    if (base > max) {
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_RETRY_BASE_MS", "s:expected",
                  "at most ZHOOK_RETRY_MAX_MS", NULL);
        sch_config_destroy (&self);
        return NULL;
    }
    self->tenant_rate = (uint32_t)tenant_rate;
    self->tenant_burst = (uint32_t)(tenant_burst > 0 ? tenant_burst : tenant_rate);
    self->map_size_mb = (uint64_t)map_mb;
    self->heartbeat_ms = (uint32_t)hb;
    self->commit_batch = (uint32_t)commit;
    self->dispatch_batch = (uint32_t)dispatch;
    self->dispatch_lead_ms = (uint32_t)lead;
    self->purge_batch = (uint32_t)purge;
    self->deliverer_timeout_ms = (uint32_t)dlv_to;
    self->shutdown_grace_ms = (uint32_t)grace;
    self->purge_interval_ms = (uint32_t)purge_ivl;
    self->reader_check_ms = (uint32_t)reader_ms;
    if (self->admin_token && !*self->admin_token) {
        free (self->admin_token);
        self->admin_token = NULL;
    }
    self->policy.max_attempts = (uint32_t)max_att;
    self->policy.timeout_ms = (uint32_t)timeout;
    self->policy.retry_base_ms = base;
    self->policy.retry_max_ms = max;
    self->policy.lease_margin_ms = margin;
    self->policy.retention_ms = ret_h * 3600 * 1000;
    self->policy.idempotency_ms = idem_h * 3600 * 1000;
    self->policy.secret_overlap_ms = overlap_h * 3600 * 1000;
    self->policy.disable_after_ms = disable_h * 3600 * 1000;
    if (zh_curve_config_read (&self->curve, ZH_CURVE_SERVER)) {
        sch_config_destroy (&self);
        return NULL;
    }
    return self;
}

void
sch_config_destroy (sch_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sch_config_t *self = *self_p;
    zh_curve_config_clear (&self->curve);
    free (self->data_dir);
    if (self->admin_token)
        memset (self->admin_token, 0, strlen (self->admin_token));
    free (self->admin_token);
    free (self->ops_listen);
    free (self->submit_endpoint);
    free (self->publish_endpoint);
    free (self->dispatch_endpoint);
    free (self->results_endpoint);
    free (self);
    *self_p = NULL;
}
