/*  zhook-keygen — makes a CURVE certificate pair for the internal sockets.
 *
 *      zhook-keygen [--force] PATH [NAME]
 *
 *  Writes PATH (the public certificate: give it to the other side, e.g. the
 *  scheduler's ZHOOK_CURVE_CLIENTS_DIR or the clients' ZHOOK_CURVE_SERVER_FILE)
 *  and PATH_secret (both keys, mode 0600: this process's
 *  ZHOOK_CURVE_SECRET_FILE), in CZMQ's zcert format with metadata name
 *  (NAME, default the file name), created-by and created-at. Refuses to
 *  overwrite existing files unless --force. No socket, no thread: a plain
 *  command-line tool, so it prints to stdout/stderr instead of logging.
 *  Exit 0 on success, 1 when a file cannot be written, 2 on bad usage. */
#include "common/zh_defaults.h"

#include <czmq.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S_PATH_MAX 240 /* zcert_load reads PATH_secret through a 256-byte buffer */

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: zhook-keygen [--force] PATH [NAME]\n"
             "  writes PATH (public CURVE certificate) and PATH_secret (secret, mode 0600)\n"
             "  scheduler: ZHOOK_CURVE_SECRET_FILE=scheduler_secret, and the public\n"
             "             certificates of ingresses and deliverers in ZHOOK_CURVE_CLIENTS_DIR\n"
             "  ingress, deliverer: ZHOOK_CURVE_SECRET_FILE=NAME_secret,\n"
             "             ZHOOK_CURVE_SERVER_FILE=scheduler (the public file)\n");
}

int
main (int argc, char **argv)
{
    bool force = false;
    int i = 1;
    if (i < argc && (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h"))) {
        s_usage (stdout);
        return 0;
    }
    if (i < argc && !strcmp (argv[i], "--version")) {
        printf ("zhook-keygen %s\n", ZH_VERSION);
        return 0;
    }
    if (i < argc && !strcmp (argv[i], "--force")) {
        force = true;
        i++;
    }
    if (argc - i < 1 || argc - i > 2 || argv[i][0] == '-' || !argv[i][0]) {
        s_usage (stderr);
        return 2;
    }
    const char *path = argv[i];
    const char *name = argc - i == 2 ? argv[i + 1] : NULL;
    if (!name) {
        const char *slash = strrchr (path, '/');
        name = slash ? slash + 1 : path;
    }
    if (strlen (path) > S_PATH_MAX) {
        fprintf (stderr, "zhook-keygen: path longer than %d bytes\n", S_PATH_MAX);
        return 2;
    }
    char secret[S_PATH_MAX + 16];
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (!force && (access (path, F_OK) == 0 || access (secret, F_OK) == 0)) {
        fprintf (stderr, "zhook-keygen: %s or %s exists (use --force to replace)\n", path, secret);
        return 1;
    }
    zsys_handler_set (NULL);
    if (!zsys_has_curve ()) {
        fprintf (stderr, "zhook-keygen: this libzmq has no CURVE support\n");
        return 1;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "zhook-keygen: cannot create a key pair\n");
        return 1;
    }
    char created[32];
    time_t now = time (NULL);
    struct tm tm;
    strftime (created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime_r (&now, &tm));
    zcert_set_meta (cert, "name", "%s", name);
    zcert_set_meta (cert, "created-by", "zhook-keygen %s", ZH_VERSION);
    zcert_set_meta (cert, "created-at", "%s", created);
    /* the secret file is born private: no window where others may read it */
    mode_t old = umask (077);
    int rc = zcert_save_secret (cert, secret);
    umask (old);
    if (rc == 0)
        rc = zcert_save_public (cert, path);
    if (rc == 0)
        rc = chmod (secret, 0600);
    if (rc != 0) {
        fprintf (stderr, "zhook-keygen: cannot write %s or %s\n", path, secret);
        zcert_destroy (&cert);
        return 1;
    }
    printf ("zhook-keygen: wrote %s (public key %s) and %s (secret)\n", path,
            zcert_public_txt (cert), secret);
    zcert_destroy (&cert);
    return 0;
}
