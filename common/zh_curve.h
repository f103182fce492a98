/*  zh_curve.h — CURVE authentication and encryption of the internal ZeroMQ
 *  sockets, shared by the three stages.
 *
 *  Without it anyone who reaches the scheduler's ports can submit without an
 *  API key or report fake outcomes. With it (ZHOOK_CURVE=on, the default):
 *
 *      scheduler  every socket is a CURVE server with the scheduler's key
 *                 pair; a zauth actor (the ZAP handler of the process)
 *                 admits only clients whose public certificate is in
 *                 ZHOOK_CURVE_CLIENTS_DIR (re-read when the directory
 *                 changes, so a key is added or revoked without a restart)
 *      ingress,   every socket is a CURVE client with its own key pair and
 *      deliverer  the scheduler's public key (ZHOOK_CURVE_SERVER_FILE)
 *
 *  A refused client never completes the handshake: its PUSH has no peer, its
 *  SUB gets nothing and nothing it sends reaches the scheduler.
 *
 *  Keys are CZMQ certificates (zcert_save format, `zhook-keygen` makes
 *  them): NAME holds the public key, NAME_secret both keys; a path to
 *  either may be given where a public certificate is wanted.
 *
 *  ZHOOK_CURVE=off leaves the sockets unauthenticated and in clear text, for
 *  local development only; the stage logs a loud warning at start. */
#ifndef ZH_CURVE_H
#define ZH_CURVE_H

#include <czmq.h>
#include <stdbool.h>

typedef enum {
    ZH_CURVE_SERVER, /* the scheduler: binds, authenticates clients */
    ZH_CURVE_CLIENT, /* ingress and deliverer: connect with their own keys */
} zh_curve_role_t;

typedef struct {
    bool enabled; // ZHOOK_CURVE (default on)
    char *secret_file; // ZHOOK_CURVE_SECRET_FILE: this process's certificate with its secret key
    char *server_file; // ZHOOK_CURVE_SERVER_FILE (clients): the scheduler's public certificate
    char *clients_dir; // ZHOOK_CURVE_CLIENTS_DIR (server): allowlisted client public certificates
} zh_curve_config_t;

/* --help entries for a stage's zh_config_var_t table (no trailing comma). */
#define ZH_CURVE_VAR_ON                                                                            \
    {                                                                                              \
        "ZHOOK_CURVE", "on",                                                                       \
            "on: internal ZeroMQ sockets use CURVE (authenticated, encrypted); off: development "  \
            "only, loudly warned"                                                                  \
    }
#define ZH_CURVE_VAR_SECRET                                                                        \
    {                                                                                              \
        "ZHOOK_CURVE_SECRET_FILE", "",                                                             \
            "this process's CURVE certificate with its secret key (the NAME_secret file); "        \
            "required when ZHOOK_CURVE=on"                                                         \
    }
#define ZH_CURVE_VARS_SERVER                                                                       \
    ZH_CURVE_VAR_ON, ZH_CURVE_VAR_SECRET,                                                          \
    {                                                                                              \
        "ZHOOK_CURVE_CLIENTS_DIR", "",                                                             \
            "directory of allowlisted client public certificates (ingresses, deliverers); "        \
            "required when ZHOOK_CURVE=on"                                                         \
    }
#define ZH_CURVE_VARS_CLIENT                                                                       \
    ZH_CURVE_VAR_ON, ZH_CURVE_VAR_SECRET,                                                          \
    {                                                                                              \
        "ZHOOK_CURVE_SERVER_FILE", "",                                                             \
            "the scheduler's public CURVE certificate; required when ZHOOK_CURVE=on"               \
    }

/* Reads ZHOOK_CURVE and the variables of the role into *self (zeroed
 * first) and checks them: with CURVE on, libzmq must support it and every
 * file must load (the secret file with a secret key) and the clients
 * directory must exist. Returns 0, or -1 after one error line naming the
 * variable (the stage exits 2). Call zh_curve_config_clear in both cases. */
int zh_curve_config_read (zh_curve_config_t *self, zh_curve_role_t role);

/* Frees the strings of *self; accepts NULL. */
void zh_curve_config_clear (zh_curve_config_t *self);

typedef struct _zh_curve_t zh_curve_t;

/* Loads the keys of the role. A server also starts the zauth actor: call
 * after zh_signal_init () (its thread inherits the blocked signals) and
 * before any socket binds, and destroy it after every socket is closed.
 * With CURVE off, returns an object that leaves sockets alone and logs the
 * development-mode warning. NULL (logged) on failure. */
zh_curve_t *zh_curve_new (const zh_curve_config_t *config, zh_curve_role_t role);

/* Stops zauth (server), frees the keys; nulls *self_p. */
void zh_curve_destroy (zh_curve_t **self_p);

/* Makes sock a CURVE server (server role) or a client of the scheduler
 * (client role); call before bind/connect. Reads only immutable keys, so
 * any thread may call it on a socket it owns. No-op with CURVE off. */
void zh_curve_apply (zh_curve_t *self, zsock_t *sock);

/* True when CURVE is on. */
bool zh_curve_enabled (const zh_curve_t *self);

/* Z85 text of this process's public key (40 characters), "" when off. The
 * public key is no secret: it may be logged to help operators. */
const char *zh_curve_public_txt (zh_curve_t *self);

#endif
