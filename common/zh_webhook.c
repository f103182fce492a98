/*  zh_webhook.c — Standard Webhooks signatures with OpenSSL (HMAC-SHA256 and
 *  Ed25519), shared by the deliverer (signing), the verify tool and tests.
 *
 *  Every base64 text is checked by hand before EVP_DecodeBlock sees it:
 *  EVP_DecodeBlock skips surrounding whitespace, wants whole quanta and
 *  counts padding as zero bytes, so alone it can neither refuse a bad key
 *  nor give the decoded length. Padding is optional on input and always
 *  written on output.
 *
 *  The signed content "id.timestamp.body" is assembled once per call into
 *  one buffer (Ed25519 signs in one shot: there is no streaming EdDSA), at
 *  the price of one copy of the body. */
#include "common/zh_webhook.h"
#include "common/zh_digest.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_HMAC_KEY_MAX 256 /* bytes of a decoded whsec_ key */
#define S_ED_LEN 32 /* Ed25519 seed and public key */
#define S_ED_SIG_LEN 64
#define S_HMAC_LEN 32
#define S_HMAC_B64 44 /* base64 chars of an HMAC-SHA256, padded */
#define S_ED_SIG_B64 88
#define S_B64_MAX (((S_HMAC_KEY_MAX + 2) / 3) * 4) /* longest base64 text we decode */
#define S_HEADER_MAX 4096 /* a longer webhook-signature header is refused unread */

typedef enum { S_KEY_HMAC, S_KEY_ED_PRIVATE, S_KEY_ED_PUBLIC } s_kind_t;

typedef struct {
    s_kind_t kind;
    size_t len; // bytes in key
    unsigned char key[S_HMAC_KEY_MAX + 3]; // decoded key (+3: EVP_DecodeBlock writes whole quanta)
} s_key_t;

/* --- base64 ---------------------------------------------------------------- */

static bool
s_b64_char (char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes len chars of standard base64 (padding optional) into out, which
 * holds at least (len + 3) / 4 * 3 bytes. Returns the byte count, or -1 when
 * the text is malformed or longer than S_B64_MAX. */
static int
s_b64_decode (const char *text, size_t len, unsigned char *out)
{
    if (len == 0 || len > S_B64_MAX)
        return -1;
    size_t chars = 0;
    while (chars < len && s_b64_char (text[chars]))
        chars++;
    size_t pad = len - chars;
    if (pad > 2)
        return -1;
    for (size_t i = chars; i < len; i++)
        if (text[i] != '=')
            return -1;
    if (pad && len % 4 != 0)
        return -1; /* padding only ever completes a quantum */
    if (chars % 4 == 1)
        return -1; /* 6 bits cannot end a byte */

    char padded[S_B64_MAX + 4];
    memcpy (padded, text, chars);
    size_t missing = (4 - chars % 4) % 4;
    memset (padded + chars, '=', missing);
    padded[chars + missing] = 0;
    int n = EVP_DecodeBlock (out, (const unsigned char *)padded, (int)(chars + missing));
    OPENSSL_cleanse (padded, sizeof padded);
    if (n < 0)
        return -1;
    n -= (int)missing;
    return n > 0 ? n : -1;
}

/* --- keys ------------------------------------------------------------------ */

/* The public half of a 32-byte seed into pub. 0 or -1. */
static int
s_ed_public (const unsigned char *seed, unsigned char *pub)
{
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key (EVP_PKEY_ED25519, NULL, seed, S_ED_LEN);
    size_t len = S_ED_LEN;
    int rc = pkey && EVP_PKEY_get_raw_public_key (pkey, pub, &len) == 1 && len == S_ED_LEN ? 0 : -1;
    EVP_PKEY_free (pkey);
    return rc;
}

/* Parses one key token of len chars. A whsk_ key is the 32-byte seed, or
 * the 64-byte seed-then-public form of libsodium whose public half must
 * match. Returns 0, or -1 (key wiped) when malformed. */
static int
s_key_parse (const char *text, size_t len, s_key_t *key)
{
    const char *b64;
    if (len > 6 && !memcmp (text, "whsec_", 6)) {
        key->kind = S_KEY_HMAC;
        b64 = text + 6;
    }
    else if (len > 5 && !memcmp (text, "whsk_", 5)) {
        key->kind = S_KEY_ED_PRIVATE;
        b64 = text + 5;
    }
    else if (len > 5 && !memcmp (text, "whpk_", 5)) {
        key->kind = S_KEY_ED_PUBLIC;
        b64 = text + 5;
    }
    else
        return -1;
    int n = s_b64_decode (b64, len - (size_t)(b64 - text), key->key);
    bool ok = n > 0;
    if (ok && key->kind == S_KEY_HMAC)
        ok = n <= S_HMAC_KEY_MAX;
    else if (ok && key->kind == S_KEY_ED_PUBLIC)
        ok = n == S_ED_LEN;
    else if (ok && key->kind == S_KEY_ED_PRIVATE) {
        ok = n == S_ED_LEN || n == 2 * S_ED_LEN;
        unsigned char pub[S_ED_LEN];
        if (ok)
            ok = s_ed_public (key->key, pub) == 0 &&
                 (n == S_ED_LEN || CRYPTO_memcmp (pub, key->key + S_ED_LEN, S_ED_LEN) == 0);
        n = S_ED_LEN;
    }
    if (!ok) {
        OPENSSL_cleanse (key, sizeof *key);
        return -1;
    }
    key->len = (size_t)n;
    return 0;
}

/* Parses a list of 1..ZH_WEBHOOK_KEYS_MAX keys separated by single spaces.
 * Returns the count, or -1 (keys wiped) when malformed. */
static int
s_keys_parse (const char *list, s_key_t *keys)
{
    if (!list || !*list)
        return -1;
    int count = 0;
    const char *p = list;
    while (true) {
        const char *end = strchr (p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        if (count == ZH_WEBHOOK_KEYS_MAX || s_key_parse (p, len, &keys[count]) != 0) {
            OPENSSL_cleanse (keys, sizeof (s_key_t) * ZH_WEBHOOK_KEYS_MAX);
            return -1;
        }
        count++;
        if (!end)
            break;
        p = end + 1; /* "a  b" and "a " leave an empty token, refused above */
    }
    return count;
}

bool
zh_webhook_keys_valid (const char *keys)
{
    s_key_t parsed[ZH_WEBHOOK_KEYS_MAX];
    int n = s_keys_parse (keys, parsed);
    bool ok = n > 0;
    for (int i = 0; i < n; i++)
        if (parsed[i].kind == S_KEY_ED_PUBLIC)
            ok = false; /* a public key cannot sign */
    OPENSSL_cleanse (parsed, sizeof parsed);
    return ok;
}

bool
zh_webhook_verify_keys_valid (const char *keys)
{
    s_key_t parsed[ZH_WEBHOOK_KEYS_MAX];
    int n = s_keys_parse (keys, parsed);
    OPENSSL_cleanse (parsed, sizeof parsed);
    return n > 0;
}

/* --- signing primitives ------------------------------------------------------ */

/* "id.ts.body" in a new buffer (caller frees); NULL on ENOMEM. */
static unsigned char *
s_content (const char *id, const char *ts, const uint8_t *body, size_t body_size, size_t *size)
{
    size_t id_len = strlen (id), ts_len = strlen (ts);
    if (body_size > SIZE_MAX - id_len - ts_len - 2)
        return NULL;
    *size = id_len + 1 + ts_len + 1 + body_size;
    unsigned char *buf = malloc (*size ? *size : 1);
    if (!buf)
        return NULL;
    memcpy (buf, id, id_len);
    buf[id_len] = '.';
    memcpy (buf + id_len + 1, ts, ts_len);
    buf[id_len + 1 + ts_len] = '.';
    if (body_size)
        memcpy (buf + id_len + ts_len + 2, body, body_size);
    return buf;
}

static int
s_hmac (const s_key_t *key, const unsigned char *msg, size_t size, unsigned char *mac)
{
    unsigned int len = 0;
    if (!HMAC (zh_sha256_md (), key->key, (int)key->len, msg, size, mac, &len) || len != S_HMAC_LEN)
        return -1;
    return 0;
}

/* An EVP_PKEY for an Ed25519 key (private or public), or NULL. */
static EVP_PKEY *
s_ed_pkey (const s_key_t *key)
{
    if (key->kind == S_KEY_ED_PRIVATE)
        return EVP_PKEY_new_raw_private_key (EVP_PKEY_ED25519, NULL, key->key, S_ED_LEN);
    return EVP_PKEY_new_raw_public_key (EVP_PKEY_ED25519, NULL, key->key, S_ED_LEN);
}

static int
s_ed_sign (const s_key_t *key, const unsigned char *msg, size_t size, unsigned char *sig)
{
    EVP_PKEY *pkey = s_ed_pkey (key);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    size_t len = S_ED_SIG_LEN;
    int rc = pkey && ctx && EVP_DigestSignInit (ctx, NULL, NULL, NULL, pkey) == 1 &&
                     EVP_DigestSign (ctx, sig, &len, msg, size) == 1 && len == S_ED_SIG_LEN
                 ? 0
                 : -1;
    EVP_MD_CTX_free (ctx);
    EVP_PKEY_free (pkey);
    return rc;
}

/* 1 when sig verifies, 0 otherwise. */
static int
s_ed_verify (const s_key_t *key, const unsigned char *msg, size_t size, const unsigned char *sig)
{
    EVP_PKEY *pkey = s_ed_pkey (key);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    int ok = pkey && ctx && EVP_DigestVerifyInit (ctx, NULL, NULL, NULL, pkey) == 1 &&
             EVP_DigestVerify (ctx, sig, S_ED_SIG_LEN, msg, size) == 1;
    EVP_MD_CTX_free (ctx);
    EVP_PKEY_free (pkey);
    return ok;
}

/* --- public API ------------------------------------------------------------ */

int
zh_webhook_sign (const char *keys, const char *id, int64_t timestamp, const uint8_t *body,
                 size_t body_size, char *out, size_t out_size)
{
    if (out && out_size)
        out[0] = 0;
    if (!out || !id || (!body && body_size))
        return -1;
    s_key_t parsed[ZH_WEBHOOK_KEYS_MAX];
    int count = s_keys_parse (keys, parsed);
    if (count < 0)
        return -1;

    char ts[24];
    snprintf (ts, sizeof ts, "%lld", (long long)timestamp);
    size_t size = 0;
    unsigned char *msg = s_content (id, ts, body, body_size, &size);
    int rc = msg ? 0 : -1;
    size_t used = 0;
    for (int i = 0; i < count && rc == 0; i++) {
        unsigned char raw[S_ED_SIG_LEN];
        size_t raw_len;
        const char *version;
        if (parsed[i].kind == S_KEY_HMAC) {
            rc = s_hmac (&parsed[i], msg, size, raw);
            raw_len = S_HMAC_LEN;
            version = "v1,";
        }
        else if (parsed[i].kind == S_KEY_ED_PRIVATE) {
            rc = s_ed_sign (&parsed[i], msg, size, raw);
            raw_len = S_ED_SIG_LEN;
            version = "v1a,";
        }
        else
            rc = -1; /* a public key cannot sign */
        if (rc)
            break;
        /* separator + version + base64 + NUL */
        size_t b64_len = (raw_len + 2) / 3 * 4;
        size_t need = (i ? 1 : 0) + strlen (version) + b64_len + 1;
        if (out_size - used < need) {
            rc = -1;
            break;
        }
        if (i)
            out[used++] = ' ';
        memcpy (out + used, version, strlen (version));
        used += strlen (version);
        EVP_EncodeBlock ((unsigned char *)out + used, raw, (int)raw_len);
        used += b64_len;
        out[used] = 0;
    }
    if (rc)
        out[0] = 0;
    free (msg);
    OPENSSL_cleanse (parsed, sizeof parsed);
    return rc;
}

/* Timestamp text: 1..18 decimal digits (no sign, no space). 0 or -1. */
static int
s_timestamp (const char *text, int64_t *out)
{
    size_t n = strlen (text);
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (text[i] - '0');
    }
    *out = v;
    return 0;
}

int
zh_webhook_verify (const char *keys, const char *id, const char *timestamp,
                   const char *signature_header, const uint8_t *body, size_t body_size,
                   int64_t now_s, int64_t tolerance_s)
{
    int64_t ts;
    if (!id || !timestamp || !signature_header || (!body && body_size) ||
        s_timestamp (timestamp, &ts) != 0 || strlen (signature_header) > S_HEADER_MAX)
        return -1;
    if (tolerance_s > 0) {
        uint64_t skew =
            ts >= now_s ? (uint64_t)ts - (uint64_t)now_s : (uint64_t)now_s - (uint64_t)ts;
        if (skew > (uint64_t)tolerance_s)
            return -1;
    }
    s_key_t parsed[ZH_WEBHOOK_KEYS_MAX];
    int count = s_keys_parse (keys, parsed);
    if (count < 0)
        return -1;
    size_t size = 0;
    unsigned char *msg = s_content (id, timestamp, body, body_size, &size);
    int rc = -1;
    if (!msg)
        goto out;

    /* the HMAC of each symmetric key, computed once whatever the header holds */
    unsigned char macs[ZH_WEBHOOK_KEYS_MAX][S_HMAC_LEN];
    bool have_mac[ZH_WEBHOOK_KEYS_MAX] = {false};
    for (int k = 0; k < count; k++)
        if (parsed[k].kind == S_KEY_HMAC)
            have_mac[k] = s_hmac (&parsed[k], msg, size, macs[k]) == 0;

    const char *p = signature_header;
    while (*p && rc != 0) {
        while (*p == ' ')
            p++;
        const char *end = strchr (p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        unsigned char sig[S_ED_SIG_LEN + 3];
        int n;
        if (len > 3 && len - 3 <= S_HMAC_B64 && !memcmp (p, "v1,", 3)) {
            n = s_b64_decode (p + 3, len - 3, sig);
            for (int k = 0; k < count && n == S_HMAC_LEN; k++)
                if (have_mac[k] && CRYPTO_memcmp (sig, macs[k], S_HMAC_LEN) == 0)
                    rc = 0;
        }
        else if (len > 4 && len - 4 <= S_ED_SIG_B64 && !memcmp (p, "v1a,", 4)) {
            n = s_b64_decode (p + 4, len - 4, sig);
            for (int k = 0; k < count && n == S_ED_SIG_LEN && rc != 0; k++)
                if (parsed[k].kind != S_KEY_HMAC && s_ed_verify (&parsed[k], msg, size, sig))
                    rc = 0;
        }
        /* other versions and malformed entries are skipped: another may verify */
        p += len;
    }
    OPENSSL_cleanse (macs, sizeof macs);

out:
    free (msg);
    OPENSSL_cleanse (parsed, sizeof parsed);
    return rc;
}

int
zh_webhook_public_key (const char *whsk, char *out, size_t out_size)
{
    if (out && out_size)
        out[0] = 0;
    if (!whsk || !out || out_size < 5 + 44 + 1)
        return -1;
    s_key_t key;
    if (s_key_parse (whsk, strlen (whsk), &key) != 0)
        return -1;
    unsigned char pub[S_ED_LEN];
    int rc = key.kind == S_KEY_ED_PRIVATE ? s_ed_public (key.key, pub) : -1;
    if (rc == 0) {
        memcpy (out, "whpk_", 5);
        EVP_EncodeBlock ((unsigned char *)out + 5, pub, S_ED_LEN);
    }
    OPENSSL_cleanse (&key, sizeof key);
    return rc;
}
