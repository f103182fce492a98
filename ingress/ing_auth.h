/*  ing_auth.h — API keys: "Authorization: Bearer <key>" to a tenant.
 *
 *  The keys file holds one "TENANT SHA256HEX" per line (the hex SHA-256 of
 *  the key; '#' starts a comment line; blank lines ignored). Only hashes are
 *  kept in memory. A presented key is hashed and compared with every entry
 *  in constant time, so neither the key nor which entry matched leaks
 *  through timing.
 *
 *  Reload (SIGHUP): ing_auth_reload () reads the file into a new table and
 *  swaps it in under a write lock; checks hold the read lock only while
 *  comparing and copy the tenant name out, so a request in progress never
 *  sees a table being freed, and no request fails during the swap. A file
 *  that cannot be read or parsed keeps the old table (one error logged).
 *  Every function is safe from any thread. */
#ifndef ING_AUTH_H
#define ING_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define ING_TENANT_MAX 64 /* tenant names: 1..64 of [A-Za-z0-9._-] */
#define ING_AUTH_KEY_MAX 4096 /* longer bearer tokens are refused unhashed */
#define ING_AUTH_LINE_SIZE (ING_TENANT_MAX + 1 + 64 + 1) /* a keys-file line + NUL */

typedef struct _ing_auth_t ing_auth_t;

/* enabled false: every request is tenant "default" (keys_file ignored, may
 * be NULL) and a warning is logged. enabled true: loads keys_file (its path
 * is kept for reloads); NULL (after logging the file and line) when it
 * cannot be read, a line is malformed, or it holds no key. */
ing_auth_t *ing_auth_new (bool enabled, const char *keys_file);
void ing_auth_destroy (ing_auth_t **self_p);

/* Reads the keys file again and swaps the new table in. 0 when swapped
 * (an info line with the key count), -1 when the file is bad or memory
 * runs out: the old keys stay in force and one error line says why.
 * Disabled auth: 0, nothing to do. */
int ing_auth_reload (ing_auth_t *self);

/* True, with the tenant copied into tenant (ING_TENANT_MAX + 1 bytes),
 * when authorization (an Authorization header value, NULL when absent) is
 * "Bearer <key>" with a known key. False for a missing, malformed, unknown
 * or revoked key: the caller answers all of them the same way. */
bool ing_auth_check (ing_auth_t *self, const char *authorization, char tenant[ING_TENANT_MAX + 1]);

/* Number of keys in force (0 when disabled). */
size_t ing_auth_key_count (ing_auth_t *self);

bool ing_auth_enabled (const ing_auth_t *self);

/* The keys-file line "TENANT SHA256HEX" for a new key (key_size bytes;
 * surrounding blanks and line ends are trimmed as a request's would be).
 * tenant NULL writes the placeholder "TENANT". 0, or -1 when the key is
 * empty or longer than ING_AUTH_KEY_MAX, the tenant name is invalid or
 * line (>= ING_AUTH_LINE_SIZE bytes) is too small. */
int ing_auth_hash_line (const char *key, size_t key_size, const char *tenant, char *line,
                        size_t line_size);

#endif
