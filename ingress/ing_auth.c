/*  ing_auth.c — API key file loading and constant-time lookup. */
#include "ingress/ing_auth.h"
#include "common/zh_log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ING_AUTH_LINE_MAX 1024
#define ING_AUTH_KEY_MAX 4096 /* longer bearer tokens are refused unhashed */

typedef struct {
    char tenant[ING_TENANT_MAX + 1];
    unsigned char hash[32];
} s_entry_t;

struct _ing_auth_t {
    bool enabled;
    s_entry_t *entries;
    size_t count;
};

static bool
s_tenant_ok (const char *t, size_t n)
{
    if (n == 0 || n > ING_TENANT_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int
s_hex (char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses one non-comment line into e; 0, or -1 with *why set. */
static int
s_parse_line (char *line, s_entry_t *e, const char **why)
{
    char *p = line;
    while (*p == ' ' || *p == '\t')
        p++;
    char *tenant = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    size_t tlen = (size_t)(p - tenant);
    while (*p == ' ' || *p == '\t')
        p++;
    char *hex = p;
    while (*p && *p != ' ' && *p != '\t')
        p++;
    size_t hlen = (size_t)(p - hex);
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p || hlen == 0) {
        *why = "expected \"TENANT SHA256HEX\"";
        return -1;
    }
    if (!s_tenant_ok (tenant, tlen)) {
        *why = "tenant must be 1..64 characters of [A-Za-z0-9._-]";
        return -1;
    }
    if (hlen != 64) {
        *why = "key hash must be 64 hex digits (SHA-256 of the key)";
        return -1;
    }
    for (size_t i = 0; i < 32; i++) {
        int hi = s_hex (hex[2 * i]), lo = s_hex (hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            *why = "key hash must be 64 hex digits (SHA-256 of the key)";
            return -1;
        }
        e->hash[i] = (unsigned char)(hi << 4 | lo);
    }
    memcpy (e->tenant, tenant, tlen);
    e->tenant[tlen] = 0;
    return 0;
}

static int
s_load (ing_auth_t *self, const char *path)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        zh_error ("configuration: cannot read the API keys file", "s:variable",
                  "ZHOOK_API_KEYS_FILE", "s:path", path, "s:error", strerror (errno), NULL);
        return -1;
    }
    char line[ING_AUTH_LINE_MAX];
    int64_t lineno = 0;
    int rc = -1;
    size_t cap = 0;
    while (fgets (line, sizeof line, f)) {
        lineno++;
        size_t n = strlen (line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof (f)) {
            zh_error ("configuration: line too long in the API keys file", "s:variable",
                      "ZHOOK_API_KEYS_FILE", "i:line", lineno, NULL);
            goto out;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (self->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            s_entry_t *grown = realloc (self->entries, ncap * sizeof *grown);
            if (!grown)
                goto out;
            self->entries = grown;
            cap = ncap;
        }
        const char *why = NULL;
        if (s_parse_line (line, &self->entries[self->count], &why)) {
            zh_error ("configuration: malformed line in the API keys file", "s:variable",
                      "ZHOOK_API_KEYS_FILE", "i:line", lineno, "s:expected", why, NULL);
            goto out;
        }
        self->count++;
    }
    if (ferror (f)) {
        zh_error ("configuration: cannot read the API keys file", "s:variable",
                  "ZHOOK_API_KEYS_FILE", "s:path", path, NULL);
        goto out;
    }
    if (self->count == 0) {
        zh_error ("configuration: the API keys file holds no key (or set ZHOOK_AUTH=off for "
                  "local development)",
                  "s:variable", "ZHOOK_API_KEYS_FILE", "s:path", path, NULL);
        goto out;
    }
    rc = 0;
out:
    fclose (f);
    OPENSSL_cleanse (line, sizeof line);
    return rc;
}

ing_auth_t *
ing_auth_new (bool enabled, const char *keys_file)
{
    ing_auth_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->enabled = enabled;
    if (!enabled) {
        zh_warn ("authentication disabled: development mode (ZHOOK_AUTH=off); every request is "
                 "served as tenant \"default\"",
                 NULL);
        return self;
    }
    if (!keys_file || s_load (self, keys_file)) {
        if (!keys_file)
            zh_error ("configuration: ZHOOK_API_KEYS_FILE is required when ZHOOK_AUTH is on",
                      "s:variable", "ZHOOK_API_KEYS_FILE", NULL);
        ing_auth_destroy (&self);
        return NULL;
    }
    zh_info ("API keys loaded", "u:keys", (uint64_t)self->count, NULL);
    return self;
}

void
ing_auth_destroy (ing_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_auth_t *self = *self_p;
    if (self->entries) {
        OPENSSL_cleanse (self->entries, self->count * sizeof *self->entries);
        free (self->entries);
    }
    free (self);
    *self_p = NULL;
}

const char *
ing_auth_check (const ing_auth_t *self, const char *authorization)
{
    if (!self->enabled)
        return "default";
    if (!authorization || strncasecmp (authorization, "Bearer", 6) != 0)
        return NULL;
    const char *key = authorization + 6;
    if (*key != ' ' && *key != '\t')
        return NULL;
    while (*key == ' ' || *key == '\t')
        key++;
    size_t n = strlen (key);
    while (n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    if (n == 0 || n > ING_AUTH_KEY_MAX)
        return NULL;
    unsigned char hash[32];
    unsigned int hlen = 0;
    if (!EVP_Digest (key, n, hash, &hlen, EVP_sha256 (), NULL) || hlen != sizeof hash)
        return NULL;
    /* every entry is compared: the time taken does not depend on which matched */
    const char *tenant = NULL;
    for (size_t i = 0; i < self->count; i++) {
        int differs = CRYPTO_memcmp (hash, self->entries[i].hash, sizeof hash);
        if (!differs && !tenant)
            tenant = self->entries[i].tenant;
    }
    OPENSSL_cleanse (hash, sizeof hash);
    return tenant;
}

size_t
ing_auth_key_count (const ing_auth_t *self)
{
    return self->enabled ? self->count : 0;
}

bool
ing_auth_enabled (const ing_auth_t *self)
{
    return self->enabled;
}
