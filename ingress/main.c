/*  zhook-ingress — the HTTP API for producers and operators.
 *
 *  Binds:     HTTP on ZHOOK_LISTEN (civetweb; default 0.0.0.0:8080)
 *  Connects:  PUSH -> scheduler submit  (ZHOOK_SUBMIT_ENDPOINT, tcp://HOST:5555)
 *                     proto_submit_t / proto_command_t, one PUSH per worker thread
 *             SUB  <- scheduler publish (ZHOOK_PUBLISH_ENDPOINT, tcp://HOST:5556)
 *                     [<instance>.<n>][proto_reply_t], one SUB per worker thread;
 *                     ["hb"][proto_heartbeat_t] on the heartbeat watcher's SUB
 *  Threads:   main (waits for SIGTERM/SIGINT), civetweb's listener and
 *             ZHOOK_HTTP_THREADS workers, the heartbeat watcher, ZeroMQ I/O.
 *
 *  Stateless: any number of replicas may run; each needs a unique
 *  ZHOOK_INSTANCE_ID (the default, ing-<hostname>-<pid>, is). */
#include "common/zh_log.h"
#include "common/zh_signal.h"
#include "ingress/ing_config.h"
#include "ingress/ing_server.h"

#include <time.h>

int
main (int argc, char **argv)
{
    zh_log_init ("ingress", ZH_LOG_INFO);
    int args =
        zh_config_args (argc, argv, "HTTP API of the zhook webhook scheduler", ing_config_vars);
    if (args != 0)
        return args > 0 ? 0 : 2;
    ing_config_t *cfg = ing_config_new ();
    if (!cfg)
        return 2;
    zh_log_init ("ingress", cfg->log_level);
    if (zh_signal_init () != 0) {
        zh_error ("cannot install signal handlers", NULL);
        ing_config_destroy (&cfg);
        return 1;
    }
    bool config_error = false;
    ing_server_t *server = ing_server_new (cfg, &config_error);
    if (!server) {
        ing_config_destroy (&cfg);
        return config_error ? 2 : 1;
    }
    zh_signal_unblock ();
    zh_info ("ingress started", "s:instance", cfg->instance_id, NULL);
    while (!zh_signal_stopping ()) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep (&ts, NULL);
    }
    zh_info ("stopping: draining requests in progress", NULL);
    ing_server_destroy (&server);
    ing_config_destroy (&cfg);
    zh_info ("ingress stopped", NULL);
    return 0;
}
