/*  zh_curve.c — CURVE keys from zcert files, the zauth allowlist, socket
 *  options. The variables are read here, once, by each stage's config. */
#include "common/zh_curve.h"
#include "common/zh_config.h"
#include "common/zh_log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* zcert_load appends "_secret" in a 256-byte buffer: longer paths would be
 * cut silently */
#define S_PATH_MAX 240

/* A draft option of libzmq 4.3 (Debian's library accepts it): without it a
 * CURVE server whose ZAP handler is gone admits any key, ZAP domain or not */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

struct _zh_curve_t {
    zh_curve_role_t role;
    bool enabled;
    zcert_t *cert; // own key pair
    char server_key[41]; // client: the scheduler's public key, Z85
    zactor_t *auth; // server: the zauth actor (ZAP handler)
};

static bool
s_zero (const byte *key)
{
    byte any = 0;
    for (int i = 0; i < 32; i++)
        any |= key[i];
    return any == 0;
}

/* True when the file holds a zcert public-key line. CZMQ's parser leaks on
 * some syntax errors (ASan saw it on a plain text file), so text that is
 * plainly no certificate never reaches it. */
static bool
s_looks_like_cert (const char *path)
{
    FILE *fp = fopen (path, "r");
    if (!fp)
        return false;
    char line[512];
    bool found = false;
    while (!found && fgets (line, sizeof line, fp)) {
        const char *p = line + strspn (line, " \t");
        if (strncmp (p, "public-key = \"", 14) != 0)
            continue;
        p += 14;
        size_t n = strcspn (p, "\"");
        found = n == 40 && p[n] == '"';
    }
    fclose (fp);
    return found;
}

/* Loads a certificate; a secret key is required when need_secret. Logs
 * one line naming the variable and returns NULL when it cannot be used. */
static zcert_t *
s_load (const char *variable, const char *path, bool need_secret)
{
    const char *why = NULL;
    zcert_t *cert = NULL;
    struct stat st;
    if (strlen (path) > S_PATH_MAX)
        why = "path longer than 240 bytes";
    else if (stat (path, &st) != 0)
        why = strerror (errno);
    else if (!S_ISREG (st.st_mode))
        why = "not a regular file";
    else if (!s_looks_like_cert (path) || !(cert = zcert_load (path)) ||
             s_zero (zcert_public_key (cert)))
        why = "not a CURVE certificate (zcert format, as zhook-keygen writes)";
    else if (need_secret && s_zero (zcert_secret_key (cert)))
        why = "holds no secret key (give the NAME_secret file)";
    if (!why)
        return cert;
    zcert_destroy (&cert);
    zh_error ("configuration: cannot use the CURVE certificate", "s:variable", variable, "s:path",
              path, "s:error", why, NULL);
    return NULL;
}

/* Reads a path variable; empty counts as unset. With CURVE on it is
 * required. */
static int
s_path (const char *variable, bool required, char **out)
{
    if (zh_config_string (variable, NULL, out))
        return -1;
    if (*out && !**out) {
        free (*out);
        *out = NULL;
    }
    if (!*out && required) {
        zh_error ("configuration: required when ZHOOK_CURVE is on (ZHOOK_CURVE=off only for "
                  "local development)",
                  "s:variable", variable, NULL);
        return -1;
    }
    return 0;
}

/* Number of regular files in dir, or -1 (logged) when it is no directory. */
static int
s_count_certs (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d) {
        zh_error ("configuration: cannot open the client certificates directory", "s:variable",
                  "ZHOOK_CURVE_CLIENTS_DIR", "s:path", dir, "s:error", strerror (errno), NULL);
        return -1;
    }
    int n = 0;
    struct dirent *e;
    while ((e = readdir (d)))
        if (e->d_name[0] != '.')
            n++;
    closedir (d);
    return n;
}

int
zh_curve_config_read (zh_curve_config_t *self, zh_curve_role_t role)
{
    memset (self, 0, sizeof *self);
    if (zh_config_bool ("ZHOOK_CURVE", true, &self->enabled))
        return -1;
    bool on = self->enabled;
    if (s_path ("ZHOOK_CURVE_SECRET_FILE", on, &self->secret_file))
        return -1;
    if (role == ZH_CURVE_SERVER && s_path ("ZHOOK_CURVE_CLIENTS_DIR", on, &self->clients_dir))
        return -1;
    if (role == ZH_CURVE_CLIENT && s_path ("ZHOOK_CURVE_SERVER_FILE", on, &self->server_file))
        return -1;
    if (!on)
        return 0;
    if (!zmq_has ("curve")) {
        zh_error ("configuration: this libzmq has no CURVE support (set ZHOOK_CURVE=off only "
                  "for local development)",
                  "s:variable", "ZHOOK_CURVE", NULL);
        return -1;
    }
    zcert_t *cert = s_load ("ZHOOK_CURVE_SECRET_FILE", self->secret_file, true);
    if (!cert)
        return -1;
    zcert_destroy (&cert);
    if (role == ZH_CURVE_CLIENT) {
        cert = s_load ("ZHOOK_CURVE_SERVER_FILE", self->server_file, false);
        if (!cert)
            return -1;
        zcert_destroy (&cert);
    }
    else {
        int n = s_count_certs (self->clients_dir);
        if (n < 0)
            return -1;
        if (n == 0)
            zh_warn ("ZHOOK_CURVE_CLIENTS_DIR holds no certificate: every ingress and deliverer "
                     "will be refused until one is added",
                     "s:path", self->clients_dir, NULL);
    }
    return 0;
}

void
zh_curve_config_clear (zh_curve_config_t *self)
{
    if (!self)
        return;
    free (self->secret_file);
    free (self->server_file);
    free (self->clients_dir);
    memset (self, 0, sizeof *self);
}

zh_curve_t *
zh_curve_new (const zh_curve_config_t *config, zh_curve_role_t role)
{
    zh_curve_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->role = role;
    self->enabled = config->enabled;
    if (!self->enabled) {
        zh_warn ("internal sockets unauthenticated: development mode (ZHOOK_CURVE=off): anyone "
                 "reaching the ZeroMQ ports can submit or report results; never run this in "
                 "production",
                 "s:variable", "ZHOOK_CURVE", NULL);
        return self;
    }
    /* the files were checked at start; they may have changed since */
    self->cert = s_load ("ZHOOK_CURVE_SECRET_FILE", config->secret_file, true);
    if (!self->cert)
        goto fail;
    if (role == ZH_CURVE_CLIENT) {
        zcert_t *server = s_load ("ZHOOK_CURVE_SERVER_FILE", config->server_file, false);
        if (!server)
            goto fail;
        snprintf (self->server_key, sizeof self->server_key, "%s", zcert_public_txt (server));
        zcert_destroy (&server);
        zh_info ("internal sockets: CURVE client", "s:public_key", zcert_public_txt (self->cert),
                 "s:server_key", self->server_key, NULL);
        return self;
    }
    self->auth = zactor_new (zauth, NULL);
    if (!self->auth) {
        zh_error ("cannot start the CURVE authenticator (zauth)", NULL);
        goto fail;
    }
    if (zstr_sendx (self->auth, "CURVE", config->clients_dir, NULL) != 0 ||
        zsock_wait (self->auth) != 0) {
        zh_error ("cannot configure the CURVE authenticator", "s:path", config->clients_dir, NULL);
        goto fail;
    }
    zsock_t *probe = zsock_new (ZMQ_PULL);
    int one = 1;
    if (!probe ||
        zmq_setsockopt (zsock_resolve (probe), ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one) != 0)
        zh_warn ("this libzmq cannot enforce ZAP (ZMQ_ZAP_ENFORCE_DOMAIN): clients are checked "
                 "while the authenticator runs, but not fail-closed",
                 NULL);
    zsock_destroy (&probe);
    zh_info ("internal sockets: CURVE server, clients allowlisted by directory", "s:public_key",
             zcert_public_txt (self->cert), "s:clients_dir", config->clients_dir, NULL);
    return self;
fail:
    zh_curve_destroy (&self);
    return NULL;
}

void
zh_curve_destroy (zh_curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zh_curve_t *self = *self_p;
    zactor_destroy (&self->auth);
    zcert_destroy (&self->cert);
    free (self);
    *self_p = NULL;
}

void
zh_curve_apply (zh_curve_t *self, zsock_t *sock)
{
    assert (self);
    if (!self->enabled)
        return;
    if (self->role == ZH_CURVE_SERVER) {
        zsock_set_curve_server (sock, 1);
        /* fail closed: were zauth gone, refuse every client rather than
         * admit any key (checked once in zh_curve_new) */
        zsock_set_zap_domain (sock, "zhook");
        int one = 1;
        zmq_setsockopt (zsock_resolve (sock), ZMQ_ZAP_ENFORCE_DOMAIN, &one, sizeof one);
    }
    zcert_apply (self->cert, sock);
    if (self->role == ZH_CURVE_CLIENT)
        zsock_set_curve_serverkey (sock, self->server_key);
}

bool
zh_curve_enabled (const zh_curve_t *self)
{
    return self && self->enabled;
}

const char *
zh_curve_public_txt (zh_curve_t *self)
{
    return self && self->cert ? zcert_public_txt (self->cert) : "";
}
