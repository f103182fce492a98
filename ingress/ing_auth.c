/*  ing_auth.c — API key file loading, reload and constant-time lookup.
 *
 *  The key table is immutable once built; a reload builds a new one and
 *  swaps the pointer under a rwlock. Readers hold the read lock for the
 *  compare loop only (a few microseconds per thousand keys), which is the
 *  simplest scheme with no use-after-free: the writer waits for them, and
 *  the old table is freed after the swap, outside the lock. */
#include "ingress/ing_auth.h"
#include "common/zh_digest.h"
#include "common/zh_log.h"

#include <errno.h>
#include <pthread.h>
#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ING_AUTH_LINE_MAX 1024

typedef struct {
    char tenant[ING_TENANT_MAX + 1];
    unsigned char hash[32];
} s_entry_t;

typedef struct {
    s_entry_t *entries;
    size_t count;
} s_table_t;

struct _ing_auth_t {
    bool enabled;
    char *path; // the keys file, read again on reload
    pthread_rwlock_t lock; // guards table: readers compare, a reload swaps
    s_table_t *table; // keys in force; never NULL when enabled
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

static void
s_table_destroy (s_table_t **table_p)
{
    s_table_t *table = *table_p;
    if (!table)
        return;
    if (table->entries) {
        OPENSSL_cleanse (table->entries, table->count * sizeof *table->entries);
        free (table->entries);
    }
    free (table);
    *table_p = NULL;
}

typedef struct {
    const char *why; // what is wrong, for the one error line
    int64_t line; // 1-based line number, 0 when not about a line
    int error; // errno when the file could not be read, else 0
} s_load_error_t;

/* A new table from the file at path, or NULL with *err filled. */
static s_table_t *
s_load (const char *path, s_load_error_t *err)
{
    memset (err, 0, sizeof *err);
    s_table_t *table = calloc (1, sizeof *table);
    if (!table) {
        err->why = "out of memory";
        return NULL;
    }
    FILE *f = fopen (path, "r");
    if (!f) {
        err->error = errno;
        err->why = "cannot read the API keys file";
        s_table_destroy (&table);
        return NULL;
    }
    char line[ING_AUTH_LINE_MAX];
    int64_t lineno = 0;
    size_t cap = 0;
    bool ok = false;
    while (fgets (line, sizeof line, f)) {
        lineno++;
        size_t n = strlen (line);
        if (n == sizeof line - 1 && line[n - 1] != '\n' && !feof (f)) {
            err->why = "line too long in the API keys file";
            err->line = lineno;
            goto out;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        const char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (table->count == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            s_entry_t *grown = realloc (table->entries, ncap * sizeof *grown);
            if (!grown) {
                err->why = "out of memory";
                goto out;
            }
            table->entries = grown;
            cap = ncap;
        }
        const char *why = NULL;
        if (s_parse_line (line, &table->entries[table->count], &why)) {
            err->why = why;
            err->line = lineno;
            goto out;
        }
        table->count++;
    }
    if (ferror (f)) {
        err->why = "cannot read the API keys file";
        goto out;
    }
    if (table->count == 0) {
        err->why = "the API keys file holds no key (or set ZHOOK_AUTH=off for local development)";
        goto out;
    }
    ok = true;
out:
    fclose (f);
    OPENSSL_cleanse (line, sizeof line);
    if (!ok)
        s_table_destroy (&table);
    return table;
}

static void
s_log_load_error (const char *msg, const char *path, const s_load_error_t *err)
{
    zh_error (msg, "s:variable", "ZHOOK_API_KEYS_FILE", "s:path", path, "s:error", err->why,
              "i:line", err->line, "s:errno", err->error ? strerror (err->error) : NULL, NULL);
}

ing_auth_t *
ing_auth_new (bool enabled, const char *keys_file)
{
    ing_auth_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_rwlock_init (&self->lock, NULL) != 0) {
        free (self);
        return NULL;
    }
    self->enabled = enabled;
    if (!enabled) {
        zh_warn ("authentication disabled: development mode (ZHOOK_AUTH=off); every request is "
                 "served as tenant \"default\"",
                 NULL);
        return self;
    }
    if (!keys_file) {
        zh_error ("configuration: ZHOOK_API_KEYS_FILE is required when ZHOOK_AUTH is on",
                  "s:variable", "ZHOOK_API_KEYS_FILE", NULL);
        ing_auth_destroy (&self);
        return NULL;
    }
    s_load_error_t err;
    if (!(self->path = strdup (keys_file)) || !(self->table = s_load (keys_file, &err))) {
        if (self->path)
            s_log_load_error ("configuration: bad API keys file", keys_file, &err);
        ing_auth_destroy (&self);
        return NULL;
    }
    zh_info ("API keys loaded", "u:keys", (uint64_t)self->table->count, NULL);
    return self;
}

void
ing_auth_destroy (ing_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_auth_t *self = *self_p;
    s_table_destroy (&self->table);
    free (self->path);
    pthread_rwlock_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

int
ing_auth_reload (ing_auth_t *self)
{
    if (!self->enabled)
        return 0;
    s_load_error_t err;
    s_table_t *fresh = s_load (self->path, &err);
    if (!fresh) {
        s_log_load_error ("API keys reload failed: the previous keys stay in force", self->path,
                          &err);
        return -1;
    }
    size_t count = fresh->count;
    pthread_rwlock_wrlock (&self->lock);
    s_table_t *old = self->table;
    self->table = fresh;
    pthread_rwlock_unlock (&self->lock);
    s_table_destroy (&old);
    zh_info ("API keys reloaded", "u:keys", (uint64_t)count, NULL);
    return 0;
}

/* The key of a "Bearer <key>" value, trimmed; NULL when malformed. */
static const char *
s_bearer (const char *authorization, size_t *n)
{
    if (!authorization || strncasecmp (authorization, "Bearer", 6) != 0)
        return NULL;
    const char *key = authorization + 6;
    if (*key != ' ' && *key != '\t')
        return NULL;
    while (*key == ' ' || *key == '\t')
        key++;
    size_t len = strlen (key);
    while (len > 0 && (key[len - 1] == ' ' || key[len - 1] == '\t'))
        len--;
    if (len == 0 || len > ING_AUTH_KEY_MAX)
        return NULL;
    *n = len;
    return key;
}

bool
ing_auth_check (ing_auth_t *self, const char *authorization, char tenant[ING_TENANT_MAX + 1])
{
    tenant[0] = 0;
    if (!self->enabled) {
        memcpy (tenant, "default", sizeof "default");
        return true;
    }
    size_t n = 0;
    const char *key = s_bearer (authorization, &n);
    if (!key)
        return false;
    uint8_t hash[ZH_SHA256_LEN];
    if (zh_sha256 (key, n, hash) != 0)
        return false;
    /* every entry is compared: the time taken does not depend on which matched */
    bool found = false;
    pthread_rwlock_rdlock (&self->lock);
    const s_table_t *table = self->table;
    for (size_t i = 0; i < table->count; i++) {
        int differs = CRYPTO_memcmp (hash, table->entries[i].hash, sizeof hash);
        if (!differs && !found) {
            memcpy (tenant, table->entries[i].tenant, ING_TENANT_MAX + 1);
            found = true;
        }
    }
    pthread_rwlock_unlock (&self->lock);
    OPENSSL_cleanse (hash, sizeof hash);
    return found;
}

size_t
ing_auth_key_count (ing_auth_t *self)
{
    if (!self->enabled)
        return 0;
    pthread_rwlock_rdlock (&self->lock);
    size_t n = self->table->count;
    pthread_rwlock_unlock (&self->lock);
    return n;
}

bool
ing_auth_enabled (const ing_auth_t *self)
{
    return self->enabled;
}

int
ing_auth_hash_line (const char *key, size_t key_size, const char *tenant, char *line,
                    size_t line_size)
{
    const char *name = tenant ? tenant : "TENANT";
    if (!key || !s_tenant_ok (name, strlen (name)) || line_size < ING_AUTH_LINE_SIZE)
        return -1;
    while (key_size > 0 && (*key == ' ' || *key == '\t')) {
        key++;
        key_size--;
    }
    while (key_size > 0 && (key[key_size - 1] == ' ' || key[key_size - 1] == '\t' ||
                            key[key_size - 1] == '\n' || key[key_size - 1] == '\r'))
        key_size--;
    if (key_size == 0 || key_size > ING_AUTH_KEY_MAX || memchr (key, 0, key_size) ||
        memchr (key, '\n', key_size) || memchr (key, '\r', key_size))
        return -1;
    uint8_t hash[ZH_SHA256_LEN];
    if (zh_sha256 (key, key_size, hash) != 0)
        return -1;
    static const char digits[] = "0123456789abcdef";
    size_t len = strlen (name);
    memcpy (line, name, len);
    line[len++] = ' ';
    for (size_t i = 0; i < sizeof hash; i++) {
        line[len++] = digits[hash[i] >> 4];
        line[len++] = digits[hash[i] & 15];
    }
    line[len] = 0;
    OPENSSL_cleanse (hash, sizeof hash);
    return 0;
}
