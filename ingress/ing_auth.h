/*  ing_auth.h — API keys: "Authorization: Bearer <key>" to a tenant.
 *
 *  The keys file holds one "TENANT SHA256HEX" per line (the hex SHA-256 of
 *  the key; '#' starts a comment line; blank lines ignored). Only hashes are
 *  kept in memory. A presented key is hashed and compared with every entry
 *  in constant time, so neither the key nor which entry matched leaks
 *  through timing. Read-only after _new: safe from every civetweb thread. */
#ifndef ING_AUTH_H
#define ING_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define ING_TENANT_MAX 64 /* tenant names: 1..64 of [A-Za-z0-9._-] */

typedef struct _ing_auth_t ing_auth_t;

/* enabled false: every request is tenant "default" (keys_file ignored, may
 * be NULL) and a warning is logged. enabled true: loads keys_file; NULL
 * (after logging the file and line) when it cannot be read, a line is
 * malformed, or it holds no key. */
ing_auth_t *ing_auth_new (bool enabled, const char *keys_file);
void ing_auth_destroy (ing_auth_t **self_p);

/* The tenant of an Authorization header value (NULL when absent), or NULL
 * when it is missing, not "Bearer <key>", or the key is unknown. The
 * returned string lives as long as self. */
const char *ing_auth_check (const ing_auth_t *self, const char *authorization);

/* Number of keys loaded (0 when disabled). */
size_t ing_auth_key_count (const ing_auth_t *self);

bool ing_auth_enabled (const ing_auth_t *self);

#endif
