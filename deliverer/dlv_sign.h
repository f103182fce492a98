/*  dlv_sign.h — Standard Webhooks v1 signatures (HMAC-SHA256, base64).
 *
 *  A secret is "whsec_" followed by the standard base64 (padding optional)
 *  of the key, 1..DLV_SIGN_KEY_MAX bytes. The signature of an attempt is
 *      "v1," base64 (HMAC-SHA256 (key, id "." timestamp "." body))
 *  which receivers check against the webhook-id, webhook-timestamp and the
 *  raw body. Pure functions, thread-safe; no secret or signature is logged. */
#ifndef DLV_SIGN_H
#define DLV_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DLV_SIGN_KEY_MAX 256 /* bytes of decoded key we accept */
#define DLV_SIGN_MAX 48 /* "v1," + 44 base64 chars + NUL */

/* True when secret is a well-formed "whsec_<base64>" with a 1..256 byte key. */
bool dlv_sign_secret_valid (const char *secret);

/* Writes the NUL-terminated "v1,<base64>" signature into out (size >=
 * DLV_SIGN_MAX). body may be NULL when body_size is 0. Returns 0, or -1 when
 * the secret is malformed, out is too small or OpenSSL fails (out is then "").
 * The decoded key is wiped before returning. */
int dlv_sign (const char *secret, const char *id, int64_t timestamp, const uint8_t *body,
              size_t body_size, char *out, size_t out_size);

#endif
