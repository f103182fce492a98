/*  zh_digest.h — SHA-256 through one OpenSSL method fetched once per process.
 *
 *  OpenSSL 3 looks an algorithm up in its method store on every
 *  EVP_sha256 () use (an "implicit fetch"), under a lock all threads share:
 *  with the ingress's HTTP threads hashing every API key that lock was a
 *  futex per request. Fetching SHA-256 once and handing the same EVP_MD to
 *  every caller removes the lookup and the lock. */
#ifndef ZH_DIGEST_H
#define ZH_DIGEST_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#define ZH_SHA256_LEN 32

/* The process's SHA-256 method (fetched on first use, thread-safe, never
 * freed); NULL only when OpenSSL cannot provide it. Borrowed: do not free. */
const EVP_MD *zh_sha256_md (void);

/* out = SHA-256 of data[0..size); 0 or -1. */
int zh_sha256 (const void *data, size_t size, uint8_t out[ZH_SHA256_LEN]);

#endif
