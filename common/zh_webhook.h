/*  zh_webhook.h — Standard Webhooks signing and verification.
 *
 *  Keys are written as in the Standard Webhooks specification:
 *    whsec_<base64 key>     symmetric: "v1,"  base64 HMAC-SHA256 (key, id.ts.body)
 *    whsk_<base64 seed>     Ed25519 private key (32-byte seed): "v1a," base64 signature
 *    whpk_<base64 pubkey>   Ed25519 public key, for verifiers only
 *  A key list is one or more keys separated by single spaces (at most
 *  ZH_WEBHOOK_KEYS_MAX): during a rotation the sender signs with every key and
 *  the webhook-signature header carries every signature, space-separated, in
 *  list order; a receiver accepts the message when any one verifies.
 *  HMAC and Ed25519 come from OpenSSL (HMAC / EVP_DigestSign); the base64 is
 *  the standard alphabet with padding. Pure functions, thread-safe; decoded
 *  key bytes are wiped before returning. Nothing here logs. */
#ifndef ZH_WEBHOOK_H
#define ZH_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZH_WEBHOOK_KEYS_MAX 4
#define ZH_WEBHOOK_SIG_MAX 512 /* a full header value: 4 x "v1a," + 88 chars + spaces + NUL */

/* True when keys is a well-formed list of signing keys (whsec_ / whsk_),
 * 1..ZH_WEBHOOK_KEYS_MAX of them, each decoding to a usable key. */
bool zh_webhook_keys_valid (const char *keys);

/* True when keys is a well-formed list of verification keys (whsec_, whpk_,
 * or whsk_ whose public half is used), 1..ZH_WEBHOOK_KEYS_MAX of them. */
bool zh_webhook_verify_keys_valid (const char *keys);

/* Writes the webhook-signature header value for id, timestamp (unix seconds)
 * and the exact body bytes into out. Returns 0, or -1 on a malformed key list,
 * out too small or an OpenSSL failure (out is then ""). */
int zh_webhook_sign (const char *keys, const char *id, int64_t timestamp, const uint8_t *body,
                     size_t body_size, char *out, size_t out_size);

/* Checks a received message: keys is a list of whsec_ and/or whpk_ keys (a
 * whsk_ key is accepted too and its public half used). Returns 0 when at
 * least one signature in the header verifies with one of the keys and, when
 * tolerance_s > 0, |now_s - timestamp| <= tolerance_s; -1 otherwise.
 * timestamp is the header's text (decimal digits only). Comparisons are
 * constant-time. */
int zh_webhook_verify (const char *keys, const char *id, const char *timestamp,
                       const char *signature_header, const uint8_t *body, size_t body_size,
                       int64_t now_s, int64_t tolerance_s);

/* Writes "whpk_<base64>" for the "whsk_..." private key into out. 0 or -1. */
int zh_webhook_public_key (const char *whsk, char *out, size_t out_size);

#endif
