/*  dlv_sign.c — Standard Webhooks signatures with OpenSSL's EVP_MAC.
 *
 *  The base64 of the secret is checked by hand before EVP_DecodeBlock sees
 *  it: EVP_DecodeBlock skips surrounding whitespace, wants a multiple of 4
 *  and counts padding as zero bytes, so it alone cannot tell a good secret
 *  from a bad one nor give the key length. */
#include "deliverer/dlv_sign.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

#define S_PREFIX "whsec_"
#define S_PREFIX_LEN 6
/* base64 text of DLV_SIGN_KEY_MAX bytes, padded */
#define S_B64_MAX (((DLV_SIGN_KEY_MAX + 2) / 3) * 4)

static bool
s_b64_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes the key of a "whsec_" secret into key (>= DLV_SIGN_KEY_MAX + 3
 * bytes). Returns the key length, or -1 when malformed. */
static int
s_decode_key (const char *secret, unsigned char *key)
{
    if (!secret || strncmp (secret, S_PREFIX, S_PREFIX_LEN) != 0)
        return -1;
    const char *b64 = secret + S_PREFIX_LEN;
    size_t len = strlen (b64);
    if (len == 0 || len > S_B64_MAX)
        return -1;
    size_t chars = 0;
    while (chars < len && s_b64_char (b64[chars]))
        chars++;
    size_t pad = len - chars;
    if (pad > 2)
        return -1;
    for (size_t i = chars; i < len; i++)
        if (b64[i] != '=')
            return -1;
    if (pad && len % 4 != 0)
        return -1; /* padding only ever completes a quantum */
    if (chars % 4 == 1)
        return -1; /* 6 bits cannot end a byte */

    /* re-pad so EVP_DecodeBlock gets whole quanta */
    char padded[S_B64_MAX + 4];
    memcpy (padded, b64, chars);
    size_t missing = (4 - chars % 4) % 4;
    memset (padded + chars, '=', missing);
    padded[chars + missing] = 0;
    int n = EVP_DecodeBlock (key, (const unsigned char *)padded, (int)(chars + missing));
    explicit_bzero (padded, sizeof padded);
    if (n < 0)
        return -1;
    n -= (int)missing;
    if (n < 1 || n > DLV_SIGN_KEY_MAX) {
        explicit_bzero (key, DLV_SIGN_KEY_MAX + 3);
        return -1;
    }
    return n;
}

bool
dlv_sign_secret_valid (const char *secret)
{
    unsigned char key[DLV_SIGN_KEY_MAX + 3];
    int n = s_decode_key (secret, key);
    explicit_bzero (key, sizeof key);
    return n > 0;
}

int
dlv_sign (const char *secret, const char *id, int64_t timestamp, const uint8_t *body,
          size_t body_size, char *out, size_t out_size)
{
    if (out && out_size)
        out[0] = 0;
    if (!out || out_size < DLV_SIGN_MAX || !id || (!body && body_size))
        return -1;
    unsigned char key[DLV_SIGN_KEY_MAX + 3];
    int key_len = s_decode_key (secret, key);
    if (key_len < 0)
        return -1;

    char ts[24];
    int ts_len = snprintf (ts, sizeof ts, "%lld", (long long)timestamp);
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    int rc = -1;
    EVP_MAC *hmac = EVP_MAC_fetch (NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = hmac ? EVP_MAC_CTX_new (hmac) : NULL;
    if (!ctx)
        goto out;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end (),
    };
    if (!EVP_MAC_init (ctx, key, (size_t)key_len, params) ||
        !EVP_MAC_update (ctx, (const unsigned char *)id, strlen (id)) ||
        !EVP_MAC_update (ctx, (const unsigned char *)".", 1) ||
        !EVP_MAC_update (ctx, (const unsigned char *)ts, (size_t)ts_len) ||
        !EVP_MAC_update (ctx, (const unsigned char *)".", 1) ||
        (body_size && !EVP_MAC_update (ctx, body, body_size)) ||
        !EVP_MAC_final (ctx, mac, &mac_len, sizeof mac) || mac_len != 32)
        goto out;
    memcpy (out, "v1,", 3);
    /* 32 bytes -> 44 chars + NUL, within DLV_SIGN_MAX - 3 */
    if (EVP_EncodeBlock ((unsigned char *)out + 3, mac, (int)mac_len) != 44)
        goto out;
    rc = 0;

out:
    if (rc)
        out[0] = 0;
    explicit_bzero (key, sizeof key);
    explicit_bzero (mac, sizeof mac);
    EVP_MAC_CTX_free (ctx);
    EVP_MAC_free (hmac);
    return rc;
}
