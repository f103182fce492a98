/*  zh_id.h — sortable identifiers: prefix + "_" + ULID.
 *
 *  A ULID is 26 Crockford base32 characters: 48 bits of wall-clock
 *  milliseconds then 80 random bits (getrandom). Ids of one process are
 *  strictly increasing (within a millisecond the random part is incremented),
 *  so "msg_..." ids sort by creation time, and the id alone routes a message
 *  to its shard. */
#ifndef ZH_ID_H
#define ZH_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZH_ULID_LEN 26
#define ZH_ID_MAX 48 /* buffer size that fits any prefix we use + ULID + NUL */

/* Writes prefix "_" ULID into buf. Returns 0, or -1 when buf is too small or
 * no randomness is available. Thread-safe. */
int zh_id_new (const char *prefix, char *buf, size_t size);

/* True when id is exactly prefix "_" followed by a well-formed ULID. */
bool zh_id_valid (const char *id, const char *prefix);

/* Fills buf with n bytes of the kernel's CSPRNG (getrandom, pooled per
 * thread for small reads); returns 0 or -1. */
int zh_random_bytes (void *buf, size_t n);

/* A random 64-bit number (jitter, instance ids); never fails (falls back to
 * the clock mixed with a counter if the kernel refuses). */
uint64_t zh_random_u64 (void);

#endif
