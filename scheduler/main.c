/*  =========================================================================
    zhook-scheduler — the durable heart of zhook: accepts, times, dispatches,
    retries and dead-letters webhook messages, with LMDB as the only truth.

    Binds (CZMQ, docs/ARCHITECTURE.md):
        submit   PULL  ZHOOK_SUBMIT_ENDPOINT   (port 5555) <- ingress PUSH
        publish  PUB   ZHOOK_PUBLISH_ENDPOINT  (port 5556) -> ingress SUB
        dispatch PUSH  ZHOOK_DISPATCH_ENDPOINT (port 5557) -> deliverer PULL
        results  PULL  ZHOOK_RESULTS_ENDPOINT  (port 5558) <- deliverer PUSH
        ops HTTP       ZHOOK_OPS_LISTEN        (0.0.0.0:9090) /live /ready /metrics

    Receives submissions and commands (submit), results and deliverer
    heartbeats (results). Sends replies on the requester's topic and its own
    heartbeat on "hb" (publish) only after the synced commit; sends due
    deliveries (dispatch) only after their lease is committed.

    Threads: the main thread owns every socket and the store; ZeroMQ's I/O
    thread; civetweb's threads for the ops server (read atomics only).
    SIGTERM/SIGINT: the current step finishes, replies go out, sockets close
    with linger, LMDB closes; exit 0. Exit 2 on bad configuration, 1 on a
    runtime failure.
    =========================================================================
*/
#include "scheduler/sch_config.h"
#include "scheduler/sch_server.h"
#include "common/zh_defaults.h"
#include "common/zh_log.h"
#include "common/zh_signal.h"

int
main (int argc, char **argv)
{
    int rc = zh_config_args (argc, argv,
                             "the LMDB-backed scheduler: accepts, times and dispatches "
                             "webhook messages",
                             sch_config_vars);
    if (rc)
        return rc > 0 ? 0 : 2;
    zh_log_init ("scheduler", ZH_LOG_INFO);
    sch_config_t *config = sch_config_new ();
    if (!config)
        return 2;
    zh_log_init ("scheduler", config->log_level);
    if (zh_signal_init ()) {
        zh_error ("cannot install signal handlers", NULL);
        sch_config_destroy (&config);
        return 1;
    }
    sch_server_t *server = sch_server_new (config);
    if (!server) {
        sch_config_destroy (&config);
        return 1;
    }
    /* every thread (ZeroMQ I/O, civetweb) now exists with the signals blocked:
     * let them reach this thread only */
    zh_signal_unblock ();
    rc = sch_server_run (server) == 0 ? 0 : 1;
    sch_server_destroy (&server);
    zh_info ("scheduler stopped", NULL);
    sch_config_destroy (&config);
    return rc;
}
