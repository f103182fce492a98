/*  zhook-verify — checks a Standard Webhooks signature the way zhook makes
 *  it, for receivers and scripts; also derives public keys and makes new
 *  keys. A thin command line over common/zh_webhook (the same code the
 *  deliverer signs with), no sockets, no threads.
 *
 *      zhook-verify [--key KEYS] --id ID --timestamp TS --signature SIG
 *                   [--tolerance S] [BODYFILE | -]
 *          prints "valid" (exit 0) or "invalid" (exit 1); 2 on usage errors.
 *          KEYS (whsec_/whpk_/whsk_, space-separated) may instead come from
 *          ZHOOK_VERIFY_KEYS or the file named by ZHOOK_VERIFY_KEYS_FILE, so
 *          they stay out of `ps`. The body is read from BODYFILE or stdin.
 *      zhook-verify --public-key [whsk_... | -]    prints the whpk_ key
 *      zhook-verify --generate hmac | ed25519      prints a new key (pair) */
#include "common/zh_webhook.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define V_BODY_MAX (64u << 20) /* zhook bodies are far smaller (ZHOOK_MAX_BODY_BYTES) */
#define V_KEYS_MAX 4096 /* bytes of a key list read from a file or stdin */
#define V_DEFAULT_TOLERANCE 300 /* seconds, as the Standard Webhooks libraries */
#define V_HMAC_BYTES 32

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: zhook-verify [--key KEYS] --id ID --timestamp TS --signature SIG\n"
             "                    [--tolerance S] [BODYFILE | -]\n"
             "       zhook-verify --public-key [whsk_... | -]\n"
             "       zhook-verify --generate hmac | ed25519\n"
             "\n"
             "Checks a webhook-signature header over \"ID.TS.BODY\" (Standard Webhooks).\n"
             "Prints \"valid\" (exit 0) or \"invalid\" (exit 1); exit 2 on usage errors.\n"
             "  --key KEYS       whsec_ / whpk_ / whsk_ keys, space-separated; default from\n"
             "                   ZHOOK_VERIFY_KEYS or the file ZHOOK_VERIFY_KEYS_FILE\n"
             "  --id, --timestamp, --signature   the webhook-id, webhook-timestamp and\n"
             "                   webhook-signature header values as received\n"
             "  --tolerance S    refuse timestamps more than S seconds from now\n"
             "                   (default %d; 0 turns the check off)\n"
             "  BODYFILE         the raw request body (default and \"-\": stdin)\n"
             "  --public-key K   prints the whpk_ public key of an Ed25519 whsk_ key\n"
             "                   (K absent or \"-\": read from stdin)\n"
             "  --generate hmac     prints a new whsec_ secret (32 random bytes)\n"
             "  --generate ed25519  prints a new whsk_ private key, then its whpk_ key\n",
             V_DEFAULT_TOLERANCE);
}

/* Reads all of f into a new buffer (caller frees); NULL when larger than max
 * or unreadable. */
static unsigned char *
s_read_all (FILE *f, size_t max, size_t *size)
{
    size_t cap = 65536, len = 0;
    unsigned char *buf = malloc (cap);
    if (!buf)
        return NULL;
    while (true) {
        if (len == cap) {
            if (cap >= max) {
                free (buf);
                return NULL;
            }
            size_t grown_cap = cap * 2 > max ? max : cap * 2;
            unsigned char *grown = realloc (buf, grown_cap);
            if (!grown) {
                free (buf);
                return NULL;
            }
            buf = grown;
            cap = grown_cap;
        }
        size_t n = fread (buf + len, 1, cap - len, f);
        len += n;
        if (n == 0)
            break;
    }
    if (ferror (f)) {
        free (buf);
        return NULL;
    }
    *size = len;
    return buf;
}

/* A key (list) from a stream or file: trailing newlines and spaces cut. */
static char *
s_read_keys (FILE *f)
{
    size_t size = 0;
    unsigned char *raw = s_read_all (f, V_KEYS_MAX, &size);
    if (!raw)
        return NULL;
    while (size && (raw[size - 1] == '\n' || raw[size - 1] == '\r' || raw[size - 1] == ' '))
        size--;
    char *text = malloc (size + 1);
    if (text) {
        memcpy (text, raw, size);
        text[size] = 0;
    }
    OPENSSL_cleanse (raw, size);
    free (raw);
    if (text && strlen (text) != size) {
        free (text); /* a NUL inside */
        return NULL;
    }
    return text;
}

static int
s_public_key (const char *arg)
{
    char *owned = NULL;
    if (!arg || !strcmp (arg, "-")) {
        owned = s_read_keys (stdin);
        if (!owned) {
            fprintf (stderr, "zhook-verify: cannot read the key from stdin\n");
            return 2;
        }
        arg = owned;
    }
    char pk[64];
    int rc = zh_webhook_public_key (arg, pk, sizeof pk);
    if (owned) {
        OPENSSL_cleanse (owned, strlen (owned));
        free (owned);
    }
    if (rc) {
        fprintf (stderr, "zhook-verify: not an Ed25519 private key (whsk_<base64 of 32 bytes>)\n");
        return 2;
    }
    printf ("%s\n", pk);
    return 0;
}

static int
s_generate (const char *kind)
{
    unsigned char key[V_HMAC_BYTES];
    char text[8 + 2 * V_HMAC_BYTES];
    int rc = 1;
    if (!strcmp (kind, "hmac")) {
        if (RAND_bytes (key, sizeof key) == 1) {
            memcpy (text, "whsec_", 6);
            EVP_EncodeBlock ((unsigned char *)text + 6, key, sizeof key);
            printf ("%s\n", text);
            rc = 0;
        }
    }
    else if (!strcmp (kind, "ed25519")) {
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
        size_t len = sizeof key;
        char pk[64];
        if (pkey && EVP_PKEY_get_raw_private_key (pkey, key, &len) == 1 && len == 32) {
            memcpy (text, "whsk_", 5);
            EVP_EncodeBlock ((unsigned char *)text + 5, key, 32);
            if (zh_webhook_public_key (text, pk, sizeof pk) == 0) {
                printf ("%s\n%s\n", text, pk);
                rc = 0;
            }
        }
        EVP_PKEY_free (pkey);
    }
    else {
        fprintf (stderr, "zhook-verify: --generate takes hmac or ed25519\n");
        return 2;
    }
    OPENSSL_cleanse (key, sizeof key);
    OPENSSL_cleanse (text, sizeof text);
    if (rc)
        fprintf (stderr, "zhook-verify: key generation failed\n");
    return rc;
}

/* Keys from --key, else ZHOOK_VERIFY_KEYS, else ZHOOK_VERIFY_KEYS_FILE. */
static char *
s_keys (const char *arg)
{
    if (arg)
        return strdup (arg);
    const char *env = getenv ("ZHOOK_VERIFY_KEYS");
    if (env && *env)
        return strdup (env);
    const char *path = getenv ("ZHOOK_VERIFY_KEYS_FILE");
    if (!path || !*path)
        return NULL;
    FILE *f = fopen (path, "rb");
    if (!f) {
        fprintf (stderr, "zhook-verify: ZHOOK_VERIFY_KEYS_FILE: %s\n", strerror (errno));
        return NULL;
    }
    char *keys = s_read_keys (f);
    fclose (f);
    return keys;
}

int
main (int argc, char **argv)
{
    const char *key = NULL, *id = NULL, *ts = NULL, *sig = NULL, *body_path = NULL;
    long long tolerance = V_DEFAULT_TOLERANCE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp (a, "--help") || !strcmp (a, "-h")) {
            s_usage (stdout);
            return 0;
        }
        if (!strcmp (a, "--public-key"))
            return i + 2 < argc ? (s_usage (stderr), 2) : s_public_key (next);
        if (!strcmp (a, "--generate")) {
            if (!next || i + 2 < argc) {
                s_usage (stderr);
                return 2;
            }
            return s_generate (next);
        }
        const char **slot = !strcmp (a, "--key")         ? &key
                            : !strcmp (a, "--id")        ? &id
                            : !strcmp (a, "--timestamp") ? &ts
                            : !strcmp (a, "--signature") ? &sig
                                                         : NULL;
        if (slot && next) {
            *slot = next;
            i++;
        }
        else if (!strcmp (a, "--tolerance") && next) {
            char *end = NULL;
            errno = 0;
            tolerance = strtoll (next, &end, 10);
            if (errno || end == next || *end || tolerance < 0 || tolerance > 100LL * 365 * 86400) {
                fprintf (stderr, "zhook-verify: --tolerance takes seconds (0 = no check)\n");
                return 2;
            }
            i++;
        }
        else if ((a[0] != '-' || !strcmp (a, "-")) && !body_path)
            body_path = a;
        else {
            fprintf (stderr, "zhook-verify: unexpected argument %s\n", a);
            s_usage (stderr);
            return 2;
        }
    }
    if (!id || !ts || !sig) {
        fprintf (stderr, "zhook-verify: --id, --timestamp and --signature are required\n");
        s_usage (stderr);
        return 2;
    }
    char *keys = s_keys (key);
    if (!keys) {
        fprintf (stderr, "zhook-verify: no keys: give --key or set ZHOOK_VERIFY_KEYS\n");
        return 2;
    }
    FILE *f = !body_path || !strcmp (body_path, "-") ? stdin : fopen (body_path, "rb");
    if (!f) {
        fprintf (stderr, "zhook-verify: %s: %s\n", body_path, strerror (errno));
        OPENSSL_cleanse (keys, strlen (keys));
        free (keys);
        return 2;
    }
    size_t size = 0;
    unsigned char *body = s_read_all (f, V_BODY_MAX, &size);
    if (f != stdin)
        fclose (f);
    int rc = 2;
    if (!body)
        fprintf (stderr, "zhook-verify: cannot read the body (at most %u bytes)\n", V_BODY_MAX);
    else {
        /* a malformed key list is a usage error, not an invalid message */
        if (!zh_webhook_verify_keys_valid (keys))
            fprintf (stderr, "zhook-verify: malformed key list (whsec_/whpk_/whsk_ <base64>, "
                             "single spaces)\n");
        else {
            rc = zh_webhook_verify (keys, id, ts, sig, body, size, (int64_t)time (NULL),
                                    (int64_t)tolerance) == 0
                     ? 0
                     : 1;
            printf ("%s\n", rc == 0 ? "valid" : "invalid");
        }
        free (body);
    }
    OPENSSL_cleanse (keys, strlen (keys));
    free (keys);
    return rc;
}
