/*  zhook-ingress — the HTTP API for producers and operators.
 *
 *  Binds:     HTTP on ZHOOK_LISTEN (civetweb; default 0.0.0.0:8080)
 *  Connects:  PUSH -> scheduler submit  (ZHOOK_SUBMIT_ENDPOINT, tcp://HOST:5555)
 *                     proto_submit_t / proto_command_t, one PUSH shared by the
 *                     worker threads (ing_bridge)
 *             SUB  <- scheduler publish (ZHOOK_PUBLISH_ENDPOINT, tcp://HOST:5556)
 *                     [<instance>.][proto_reply_t...] and ["hb"][proto_heartbeat_t],
 *                     read by the bridge's reader thread
 *  SIGTERM/SIGINT: /ready and new requests answer 503 (connection closed);
 *  requests in progress finish (their scheduler replies arrive) within
 *  ZHOOK_SHUTDOWN_GRACE_MS, the rest are abandoned (503, logged); civetweb
 *  stops; exit 0.
 *  Threads:   main (waits for SIGTERM/SIGINT), civetweb's listener and
 *             ZHOOK_HTTP_THREADS workers, the heartbeat watcher, ZeroMQ I/O.
 *
 *  Stateless: any number of replicas may run; each needs a unique
 *  ZHOOK_INSTANCE_ID (the default, ing-<hostname>-<pid>, is).
 *
 *  SIGHUP reloads ZHOOK_API_KEYS_FILE without dropping a request.
 *  `zhook-ingress --hash-key [TENANT]` reads a new API key on stdin and
 *  prints its keys-file line ("TENANT <sha256 hex>"), then exits. */
#include "common/zh_clock.h"
#include "common/zh_log.h"
#include "common/zh_signal.h"
#include "ingress/ing_config.h"
#include "ingress/ing_server.h"

#include "ingress/ing_auth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* --hash-key [TENANT]: stdin holds the key (one line); 0, or 2 on misuse. */
static int
s_hash_key (const char *tenant)
{
    char key[ING_AUTH_KEY_MAX + 4], line[ING_AUTH_LINE_SIZE];
    size_t n = fread (key, 1, sizeof key, stdin);
    int rc = 2;
    if (n == sizeof key)
        fputs ("zhook-ingress --hash-key: the key is too long\n", stderr);
    else if (ing_auth_hash_line (key, n, tenant, line, sizeof line) != 0)
        fputs ("usage: echo -n KEY | zhook-ingress --hash-key [TENANT]\n"
               "  the key must be one line of 1..4096 bytes; TENANT 1..64 of [A-Za-z0-9._-]\n",
               stderr);
    else {
        puts (line);
        rc = 0;
    }
    OPENSSL_cleanse (key, sizeof key);
    return rc;
}

int
main (int argc, char **argv)
{
    zh_log_init ("ingress", ZH_LOG_INFO);
    if (argc >= 2 && argc <= 3 && !strcmp (argv[1], "--hash-key"))
        return s_hash_key (argc == 3 ? argv[2] : NULL);
    int args =
        zh_config_args (argc, argv,
                        "HTTP API of the zhook webhook scheduler "
                        "(zhook-ingress --hash-key [TENANT] < keyfile: print a keys-file line)",
                        ing_config_vars);
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
        if (zh_signal_take_reload ())
            ing_server_reload (server);
    }
    /* the grace covers both steps: draining gets all but a reserve kept for
     * stopping civetweb and closing the sockets */
    int64_t t0 = zh_clock_mono_ms ();
    int64_t grace = cfg->shutdown_grace_ms;
    int64_t reserve = grace / 3 < 1000 ? grace / 3 : 1000;
    int abandoned = ing_server_drain (server, t0 + grace - reserve);
    ing_server_destroy (&server);
    zh_info ("ingress stopped", "i:stop_ms", zh_clock_mono_ms () - t0, "i:abandoned",
             (int64_t)abandoned, NULL);
    ing_config_destroy (&cfg);
    return 0;
}
