/*  zhook-deliverer — performs HTTP deliveries for the scheduler.
 *
 *  Connects:  PULL  ZHOOK_DISPATCH_ENDPOINT (tcp://HOST:5557)  <- dispatches
 *             PUSH  ZHOOK_RESULTS_ENDPOINT  (tcp://HOST:5558)  -> results, heartbeats
 *  Receives:  proto_dispatch_t, only while one of ZHOOK_CONCURRENCY slots is free
 *  Sends:     proto_result_t per finished attempt; proto_heartbeat_t at start,
 *             every ZHOOK_HEARTBEAT_MS and when stopping
 *  HTTP out:  POSTs to receivers with libcurl's multi interface (one CURLM)
 *  Listens:   ZHOOK_OPS_LISTEN: /live, /ready, /metrics
 *  Threads:   main (sockets + curl, the only one touching them); ZeroMQ I/O;
 *             civetweb workers of the ops server; curl's resolver threads
 *
 *  SIGTERM/SIGINT: stop pulling, finish in-flight attempts within
 *  ZHOOK_SHUTDOWN_GRACE_MS, report the rest as "aborted", exit 0.
 *  Exit codes: 0 clean stop, 1 runtime failure, 2 configuration error. */
#include "common/zh_log.h"
#include "common/zh_signal.h"
#include "deliverer/dlv_config.h"
#include "deliverer/dlv_server.h"

#include <curl/curl.h>

int
main (int argc, char **argv)
{
    zh_log_init ("deliverer", ZH_LOG_INFO);
    int args =
        zh_config_args (argc, argv, "delivers webhooks for zhook-scheduler", dlv_config_vars);
    if (args != 0)
        return args > 0 ? 0 : 2;
    dlv_config_t *cfg = dlv_config_new ();
    if (!cfg)
        return 2;
    zh_log_init ("deliverer", cfg->log_level);
    if (cfg->allow_private_targets)
        zh_warn ("ZHOOK_ALLOW_PRIVATE_TARGETS is on: deliveries may reach private addresses", NULL);

    int rc = 1;
    if (zh_signal_init () != 0) {
        zh_error ("cannot install signal handlers", NULL);
        dlv_config_destroy (&cfg);
        return 1;
    }
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        zh_error ("curl_global_init failed", NULL);
        dlv_config_destroy (&cfg);
        return 1;
    }
    dlv_server_t *server = dlv_server_new (cfg);
    if (server && zh_signal_unblock () == 0)
        rc = dlv_server_run (server) == 0 ? 0 : 1;
    dlv_server_destroy (&server);
    curl_global_cleanup ();
    dlv_config_destroy (&cfg);
    return rc;
}
