/*  zh_defaults.h — every configuration default of every stage, in one place.
 *
 *  Each stage's *_config.c reads ZHOOK_* variables with these defaults;
 *  README.md's variable table and each program's --help are kept in step
 *  with this file. */
#ifndef ZH_DEFAULTS_H
#define ZH_DEFAULTS_H

#define ZH_VERSION "0.1.0"

/* Shared by every stage */
#define ZH_DEF_LOG_LEVEL "info"
#define ZH_DEF_SCHEDULER_HOST "127.0.0.1" /* connect side shorthand */
#define ZH_DEF_SUBMIT_PORT 5555 /* scheduler PULL  <- ingress PUSH */
#define ZH_DEF_PUBLISH_PORT 5556 /* scheduler PUB   -> ingress SUB */
#define ZH_DEF_DISPATCH_PORT 5557 /* scheduler PUSH  -> deliverer PULL */
#define ZH_DEF_RESULTS_PORT 5558 /* scheduler PULL  <- deliverer PUSH */
#define ZH_DEF_HEARTBEAT_MS 1000 /* heartbeat period of scheduler and deliverers */

/* Ingress */
#define ZH_DEF_LISTEN "0.0.0.0:8080"
#define ZH_DEF_HTTP_THREADS 64 /* civetweb serves one keep-alive connection per thread */
#define ZH_DEF_REQUEST_TIMEOUT_MS 5000 /* wait for the scheduler's reply, then 503 */
#define ZH_DEF_MAX_BODY_BYTES 262144
#define ZH_DEF_AUTH "on"
#define ZH_DEF_READY_HB_MS 3000 /* /ready fails this long after the last scheduler heartbeat */

/* Ingress, edge protection */
#define ZH_DEF_HEADER_TIMEOUT_MS 5000
#define ZH_DEF_BODY_TIMEOUT_MS 10000
#define ZH_DEF_KEEP_ALIVE_TIMEOUT_MS 5000
#define ZH_DEF_LISTEN_BACKLOG 128
#define ZH_DEF_IP_RATE 0 /* requests per second per client IP; 0 = unlimited */
#define ZH_DEF_IP_BURST 0 /* 0 = one second's worth (the rate) */

/* Scheduler */
#define ZH_DEF_DATA_DIR "./data"
#define ZH_DEF_MAP_SIZE_MB 4096 /* LMDB map; the file is sparse */
#define ZH_DEF_SCH_OPS_LISTEN "0.0.0.0:9090"
#define ZH_DEF_MAX_ATTEMPTS 8
#define ZH_DEF_TIMEOUT_MS 10000
#define ZH_DEF_RETRY_BASE_MS 1000
#define ZH_DEF_RETRY_MAX_MS 3600000
#define ZH_DEF_RETENTION_HOURS 72
#define ZH_DEF_IDEMPOTENCY_HOURS 24
#define ZH_DEF_LEASE_MARGIN_MS 5000 /* lease = attempt timeout + this margin */
#define ZH_DEF_COMMIT_BATCH 1000 /* most submissions applied in one write txn */
#define ZH_DEF_DISPATCH_BATCH 256 /* most dispatches leased in one write txn */
#define ZH_DEF_DISPATCH_LEAD_MS 50 /* due within this: leased ahead, sent when due */
#define ZH_DEF_PURGE_BATCH 500 /* most ended messages purged in one write txn */
#define ZH_DEF_PURGE_INTERVAL_MS 60000 /* period of the retention purge */
#define ZH_DEF_READER_CHECK_MS 60000 /* period of mdb_reader_check (stale reader slots) */
#define ZH_DEF_SECRET_OVERLAP_HOURS 24 /* previous secret still signs this long after a rotate */
#define ZH_DEF_DISABLE_AFTER_HOURS 120 /* a subscription failing this long is disabled */
#define ZH_DEF_TENANT_RATE 0 /* accepted messages per second per tenant; 0 = unlimited */
#define ZH_DEF_TENANT_BURST 0 /* bucket size; 0 = one second's worth (the rate) */
#define ZH_DEF_DELIVERER_TIMEOUT_MS 3000 /* a deliverer silent this long has no capacity */

/* Deliverer */
#define ZH_DEF_DLV_OPS_LISTEN "0.0.0.0:9091"
#define ZH_DEF_CONCURRENCY 64
#define ZH_DEF_SHUTDOWN_GRACE_MS 10000
#define ZH_DEF_RESPONSE_BODY_MAX 4096 /* bytes of a failed response kept in the history */
#define ZH_DEF_ALLOW_PRIVATE_TARGETS 0
#define ZH_DEF_HOST_CONCURRENCY 16 /* per destination host and deliverer */
#define ZH_DEF_CIRCUIT_FAILURES 5 /* consecutive failures that open a host's circuit */
#define ZH_DEF_CIRCUIT_COOLDOWN_MS 30000

#endif
