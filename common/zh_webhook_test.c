/*  zh_webhook_test.c — Standard Webhooks signing and verification against
 *  the specification's published vectors, rotation lists, and refusals. */
#include "common/zh_webhook.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

int zh_webhook_test (void);

#define S_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define S_SECRET2 "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn"
#define S_SK "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk="
/* the public half of S_SK, computed independently:
 * openssl pkey -inform DER -in <PKCS#8 of the seed> -pubout -outform DER | tail -c 32 | base64 */
#define S_PK "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g="
#define S_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define S_TS 1614265330
#define S_TS_TEXT "1614265330"
#define S_BODY "{\"test\": 2432232314}"
#define S_HMAC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define S_ED_SIG                                                                                   \
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag=="

static int
s_sign (const char *keys, char *out)
{
    return zh_webhook_sign (keys, S_ID, S_TS, (const uint8_t *)S_BODY, strlen (S_BODY), out,
                            ZH_WEBHOOK_SIG_MAX);
}

/* verify of the vector's id, timestamp and body, with no tolerance */
static int
s_verify (const char *keys, const char *header)
{
    return zh_webhook_verify (keys, S_ID, S_TS_TEXT, header, (const uint8_t *)S_BODY,
                              strlen (S_BODY), 0, 0);
}

static void
test_hmac_vector (void **state)
{
    (void)state;
    char sig[ZH_WEBHOOK_SIG_MAX];
    assert_int_equal (s_sign (S_SECRET, sig), 0);
    assert_string_equal (sig, S_HMAC_SIG);
    assert_int_equal (s_verify (S_SECRET, S_HMAC_SIG), 0);
}

static void
test_ed25519_vector (void **state)
{
    (void)state;
    char sig[ZH_WEBHOOK_SIG_MAX];
    assert_int_equal (s_sign (S_SK, sig), 0);
    assert_string_equal (sig, S_ED_SIG);
    /* receivers hold the public key; the private one also verifies */
    assert_int_equal (s_verify (S_PK, S_ED_SIG), 0);
    assert_int_equal (s_verify (S_SK, S_ED_SIG), 0);
    /* the libsodium 64-byte form (seed then public key) signs alike */
    /* seed "TESTSIGNINGKEYDONOTUSETHISFORANY" ‖ public key, base64 */
    const char *sk64 = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTllmU3h6Dt1JKqLSahf2FBSTeiu"
                       "s6i4rdBVBKUlrbjxz+A==";
    assert_true (zh_webhook_keys_valid (sk64));
    assert_int_equal (s_sign (sk64, sig), 0);
    assert_string_equal (sig, S_ED_SIG);
    /* ... but not when its public half does not match the seed */
    assert_false (zh_webhook_keys_valid ("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTllmU3h6"
                                         "Dt1JKqLSahf2FBSTeius6i4rdBVBKUlrbjxz+Q=="));
}

static void
test_public_key (void **state)
{
    (void)state;
    char pk[64];
    assert_int_equal (zh_webhook_public_key (S_SK, pk, sizeof pk), 0);
    assert_string_equal (pk, S_PK);
    /* not a private key, or too small a buffer */
    assert_int_equal (zh_webhook_public_key (S_PK, pk, sizeof pk), -1);
    assert_string_equal (pk, "");
    assert_int_equal (zh_webhook_public_key (S_SECRET, pk, sizeof pk), -1);
    assert_int_equal (zh_webhook_public_key ("whsk_AAAA", pk, sizeof pk), -1);
    assert_int_equal (zh_webhook_public_key (S_SK, pk, 49), -1);
    assert_int_equal (zh_webhook_public_key (NULL, pk, sizeof pk), -1);
}

static void
test_rotation_lists (void **state)
{
    (void)state;
    char sig[ZH_WEBHOOK_SIG_MAX], one[3 * ZH_WEBHOOK_SIG_MAX], two[ZH_WEBHOOK_SIG_MAX];
    assert_int_equal (s_sign (S_SECRET2, two), 0);

    /* two symmetric keys: two signatures in list order */
    assert_true (zh_webhook_keys_valid (S_SECRET " " S_SECRET2));
    assert_int_equal (s_sign (S_SECRET " " S_SECRET2, sig), 0);
    snprintf (one, sizeof one, "%s %s", S_HMAC_SIG, two);
    assert_string_equal (sig, one);
    assert_int_equal (s_sign (S_SECRET2 " " S_SECRET, sig), 0);
    snprintf (one, sizeof one, "%s %s", two, S_HMAC_SIG);
    assert_string_equal (sig, one);
    /* each key alone accepts the rotated header */
    assert_int_equal (s_verify (S_SECRET, sig), 0);
    assert_int_equal (s_verify (S_SECRET2, sig), 0);
    assert_int_equal (s_verify (S_SECRET " " S_SECRET2, sig), 0);

    /* three keys, mixed v1/v1a */
    const char *mixed = S_SECRET2 " " S_SK " " S_SECRET;
    assert_true (zh_webhook_keys_valid (mixed));
    assert_int_equal (s_sign (mixed, sig), 0);
    snprintf (one, sizeof one, "%s %s %s", two, S_ED_SIG, S_HMAC_SIG);
    assert_string_equal (sig, one);
    assert_int_equal (s_verify (S_PK, sig), 0);
    /* a public key verifies but cannot sign */
    assert_true (zh_webhook_verify_keys_valid (S_SECRET2 " " S_PK));
    assert_true (zh_webhook_verify_keys_valid (S_SK));
    assert_false (zh_webhook_keys_valid (S_SECRET2 " " S_PK));
    assert_false (zh_webhook_verify_keys_valid ("whpk_AAAA"));
    assert_false (zh_webhook_verify_keys_valid (S_PK "  " S_SECRET));
    assert_int_equal (s_verify (S_SECRET, sig), 0);
    assert_int_equal (s_verify (S_SECRET2 " " S_PK, sig), 0);
    assert_int_equal (s_verify ("whsec_a2V5MQ== " S_PK, sig), 0);
    assert_int_equal (s_verify ("whsec_a2V5MQ==", sig), -1);

    /* four keys fit in ZH_WEBHOOK_SIG_MAX even when all are Ed25519 */
    const char *four = S_SK " " S_SK " " S_SK " " S_SK;
    assert_true (zh_webhook_keys_valid (four));
    assert_int_equal (s_sign (four, sig), 0);
    assert_int_equal (strlen (sig), 4 * 92 + 3);
    /* a fifth is refused */
    assert_false (
        zh_webhook_keys_valid (S_SECRET " " S_SECRET " " S_SECRET " " S_SECRET " " S_SECRET));
}

static void
test_verify_refusals (void **state)
{
    (void)state;
    const char *body = S_BODY;
    size_t len = strlen (body);
    const char *both = S_HMAC_SIG " " S_ED_SIG;
    const char *keys = S_SECRET " " S_PK;
    assert_int_equal (s_verify (keys, both), 0);
    /* tampered body, id, timestamp */
    assert_int_equal (zh_webhook_verify (keys, S_ID, S_TS_TEXT, both,
                                         (const uint8_t *)"{\"test\": 2432232315}", len, 0, 0),
                      -1);
    assert_int_equal (
        zh_webhook_verify (keys, S_ID, S_TS_TEXT, both, (const uint8_t *)body, len - 1, 0, 0), -1);
    assert_int_equal (zh_webhook_verify (keys, "msg_p5jXN8AQM9LWM0D4loKWxJeK", S_TS_TEXT, both,
                                         (const uint8_t *)body, len, 0, 0),
                      -1);
    assert_int_equal (
        zh_webhook_verify (keys, S_ID, "1614265331", both, (const uint8_t *)body, len, 0, 0), -1);
    /* wrong keys */
    assert_int_equal (s_verify (S_SECRET2, both), -1);
    assert_int_equal (
        s_verify ("whpk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", S_ED_SIG), -1);
    /* a symmetric key never accepts a v1a signature nor a public key a v1 one */
    assert_int_equal (s_verify (S_SECRET, S_ED_SIG), -1);
    assert_int_equal (s_verify (S_PK, S_HMAC_SIG), -1);
    /* malformed headers */
    const char *bad_headers[] = {
        "",
        " ",
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* no version */
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* unknown version */
        "v1;g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1", /* truncated */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=AAAA", /* too long */
        "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=", /* url-safe alphabet */
        "v1,",
        "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeF"
        "iL8", /* short */
        "v1a," S_HMAC_SIG,
        NULL,
    };
    for (const char **h = bad_headers; *h; h++)
        if (s_verify (keys, *h) != -1)
            fail_msg ("header accepted: \"%s\"", *h);
    /* base64 padding is optional on input: the same bytes */
    assert_int_equal (s_verify (keys, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE"), 0);
    assert_int_equal (s_verify (keys, NULL), -1);
    /* a good signature among junk still verifies (receivers accept any one) */
    assert_int_equal (s_verify (keys, "v2,xyz  v1,AAAA " S_HMAC_SIG " v1a,!!"), 0);
    /* a header beyond 4096 bytes is not read */
    char huge[5000];
    memset (huge, ' ', sizeof huge);
    memcpy (huge + sizeof huge - 1 - strlen (S_HMAC_SIG), S_HMAC_SIG, strlen (S_HMAC_SIG));
    huge[sizeof huge - 1] = 0;
    assert_int_equal (s_verify (keys, huge), -1);
    /* malformed timestamps */
    const char *bad_ts[] = {
        "",           "-1614265330",         "+1614265330", " 1614265330", "1614265330 ",
        "16142653e0", "1234567890123456789", NULL};
    for (const char **t = bad_ts; *t; t++)
        assert_int_equal (
            zh_webhook_verify (keys, S_ID, *t, both, (const uint8_t *)body, len, 0, 0), -1);
    /* malformed key lists */
    assert_int_equal (s_verify ("", both), -1);
    assert_int_equal (s_verify (NULL, both), -1);
    assert_int_equal (s_verify (S_SECRET "  " S_PK, both), -1);
    assert_int_equal (s_verify ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", both), -1);
}

static void
test_tolerance (void **state)
{
    (void)state;
    const uint8_t *body = (const uint8_t *)S_BODY;
    size_t len = strlen (S_BODY);
    const char *sig = S_HMAC_SIG;
    /* within five minutes either way */
    for (int64_t d = -300; d <= 300; d += 150)
        assert_int_equal (
            zh_webhook_verify (S_SECRET, S_ID, S_TS_TEXT, sig, body, len, S_TS + d, 300), 0);
    assert_int_equal (
        zh_webhook_verify (S_SECRET, S_ID, S_TS_TEXT, sig, body, len, S_TS + 301, 300), -1);
    assert_int_equal (
        zh_webhook_verify (S_SECRET, S_ID, S_TS_TEXT, sig, body, len, S_TS - 301, 300), -1);
    /* a replay years later */
    assert_int_equal (
        zh_webhook_verify (S_SECRET, S_ID, S_TS_TEXT, sig, body, len, 1900000000, 300), -1);
    /* tolerance 0 turns the check off */
    assert_int_equal (zh_webhook_verify (S_SECRET, S_ID, S_TS_TEXT, sig, body, len, 1900000000, 0),
                      0);
    /* leading zeros are part of the signed text: the signature no longer matches */
    assert_int_equal (zh_webhook_verify (S_SECRET, S_ID, "01614265330", sig, body, len, S_TS, 300),
                      -1);
}

static void
test_inputs_change_signature (void **state)
{
    (void)state;
    char sig[ZH_WEBHOOK_SIG_MAX];
    const uint8_t *body = (const uint8_t *)S_BODY;
    size_t len = strlen (S_BODY);
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, S_TS + 1, body, len, sig, sizeof sig), 0);
    assert_string_not_equal (sig, S_HMAC_SIG);
    assert_int_equal (zh_webhook_sign (S_SECRET, "msg_other", S_TS, body, len, sig, sizeof sig), 0);
    assert_string_not_equal (sig, S_HMAC_SIG);
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, S_TS, body, len - 1, sig, sizeof sig), 0);
    assert_string_not_equal (sig, S_HMAC_SIG);
    assert_int_equal (zh_webhook_sign ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx", S_ID, S_TS, body,
                                       len, sig, sizeof sig),
                      0);
    assert_string_not_equal (sig, S_HMAC_SIG);
    /* same inputs, same signature (no hidden state between calls) */
    for (int i = 0; i < 3; i++) {
        assert_int_equal (s_sign (S_SECRET, sig), 0);
        assert_string_equal (sig, S_HMAC_SIG);
    }
}

static void
test_empty_body (void **state)
{
    (void)state;
    char sig[ZH_WEBHOOK_SIG_MAX], sig2[ZH_WEBHOOK_SIG_MAX];
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, 1, NULL, 0, sig, sizeof sig), 0);
    assert_int_equal (
        zh_webhook_sign (S_SECRET, S_ID, 1, (const uint8_t *)"", 0, sig2, sizeof sig2), 0);
    assert_string_equal (sig, sig2);
    assert_int_equal (strlen (sig), 3 + 44);
    assert_memory_equal (sig, "v1,", 3);
    assert_int_equal (zh_webhook_verify (S_SECRET, S_ID, "1", sig, NULL, 0, 0, 0), 0);
    /* a NULL body with a size is a bug in the caller, refused */
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, 1, NULL, 3, sig, sizeof sig), -1);
}

static void
test_padding_forms (void **state)
{
    (void)state;
    /* "a2V5" = "key" (no padding needed), "a2V5MQ==" = "key1", "a2V5MTI=" = "key12" */
    char a[ZH_WEBHOOK_SIG_MAX], b[ZH_WEBHOOK_SIG_MAX];
    assert_true (zh_webhook_keys_valid ("whsec_a2V5"));
    assert_true (zh_webhook_keys_valid ("whsec_a2V5MQ=="));
    assert_true (zh_webhook_keys_valid ("whsec_a2V5MTI="));
    /* padding may be left out */
    assert_true (zh_webhook_keys_valid ("whsec_a2V5MQ"));
    assert_true (zh_webhook_keys_valid ("whsec_a2V5MTI"));
    assert_true (zh_webhook_keys_valid ("whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk"));
    assert_int_equal (zh_webhook_sign ("whsec_a2V5MQ==", "x", 5, NULL, 0, a, sizeof a), 0);
    assert_int_equal (zh_webhook_sign ("whsec_a2V5MQ", "x", 5, NULL, 0, b, sizeof b), 0);
    assert_string_equal (a, b);
    /* HMAC-SHA256 (key "key1", "x.5.") computed independently (HMAC zero-pads
     * short keys, so only an outside value pins the decoded length):
     * printf 'x.5.' | openssl dgst -sha256 -mac HMAC -macopt key:key1 -binary | base64 */
    assert_string_equal (a, "v1,gMqNHlXwnQcOSeGil3S3N5ap1H4op035RfP3ZVvm4NY=");
}

static void
test_bad_keys (void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "whsec_",
        "whsk_",
        "whpk_",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* no prefix */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* prefix is case sensitive */
        "whsec_MfKQ9r8GKYqrTwjU PD8ILPZIo2LaLaSw", /* second token lacks a prefix */
        "whsec_MfKQ9r8GKYqrTwjU\nPD8ILPZIo2LaLaSw", /* newline */
        "whsec_MfKQ9r8GKYqrTwjU-PD8ILPZIo2LaLaSw", /* url-safe alphabet */
        "whsec_a2V5M", /* 4n+1 chars */
        "whsec_a2V5MQ===", /* three pad chars */
        "whsec_a2V5M===",
        "whsec_a2V5MQ=", /* padding not completing a quantum */
        "whsec_a2=V5MQ=", /* padding in the middle */
        "whsec_====",
        " whsec_a2V5", /* leading, trailing, double spaces */
        "whsec_a2V5 ",
        "whsec_a2V5  whsec_a2V5",
        "whsec_a2V5\twhsec_a2V5",
        "whsk_a2V5MQ==", /* Ed25519 seed of 4 bytes */
        "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlkx", /* 33 bytes */
        S_PK, /* a public key cannot sign */
        S_SECRET " " S_PK,
        "whxx_a2V5",
    };
    char sig[ZH_WEBHOOK_SIG_MAX];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (zh_webhook_keys_valid (bad[i]))
            fail_msg ("key list %zu accepted: \"%s\"", i, bad[i]);
        memcpy (sig, "garbage", 8);
        assert_int_equal (
            zh_webhook_sign (bad[i], S_ID, 1, (const uint8_t *)"{}", 2, sig, sizeof sig), -1);
        assert_string_equal (sig, "");
    }
    assert_false (zh_webhook_keys_valid (NULL));

    /* a symmetric key longer than 256 bytes, and one just at the limit */
    char long_secret[6 + 400 + 1];
    memcpy (long_secret, "whsec_", 6);
    memset (long_secret + 6, 'A', 400);
    long_secret[406] = 0;
    assert_false (zh_webhook_keys_valid (long_secret));
    char max_secret[6 + 344 + 1];
    memcpy (max_secret, "whsec_", 6);
    memset (max_secret + 6, 'A', 342);
    memcpy (max_secret + 6 + 342, "==", 2);
    max_secret[350] = 0;
    assert_true (zh_webhook_keys_valid (max_secret));
    assert_int_equal (zh_webhook_sign (max_secret, S_ID, 1, NULL, 0, sig, sizeof sig), 0);
}

static void
test_output_too_small (void **state)
{
    (void)state;
    char sig[ZH_WEBHOOK_SIG_MAX];
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, 1, NULL, 0, sig, 47), -1);
    assert_string_equal (sig, "");
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, 1, NULL, 0, sig, 48), 0);
    /* the second signature of a rotation does not fit: nothing half-written */
    assert_int_equal (zh_webhook_sign (S_SECRET " " S_SK, S_ID, 1, NULL, 0, sig, 100), -1);
    assert_string_equal (sig, "");
    assert_int_equal (zh_webhook_sign (S_SECRET, S_ID, 1, NULL, 0, NULL, 0), -1);
    assert_int_equal (zh_webhook_sign (S_SECRET, NULL, 1, NULL, 0, sig, sizeof sig), -1);
}

int
zh_webhook_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_hmac_vector),
        cmocka_unit_test (test_ed25519_vector),
        cmocka_unit_test (test_public_key),
        cmocka_unit_test (test_rotation_lists),
        cmocka_unit_test (test_verify_refusals),
        cmocka_unit_test (test_tolerance),
        cmocka_unit_test (test_inputs_change_signature),
        cmocka_unit_test (test_empty_body),
        cmocka_unit_test (test_padding_forms),
        cmocka_unit_test (test_bad_keys),
        cmocka_unit_test (test_output_too_small),
    };
    return cmocka_run_group_tests_name ("zh_webhook_test", tests, NULL, NULL);
}
