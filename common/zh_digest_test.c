/*  zh_digest_test.c — SHA-256 against the FIPS 180-2 vectors, from threads. */
#include "common/zh_digest.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

/* SHA-256 ("abc") and SHA-256 ("") */
static const uint8_t s_abc[ZH_SHA256_LEN] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const uint8_t s_empty[ZH_SHA256_LEN] = {
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

static void
test_vectors (void **state)
{
    (void)state;
    uint8_t out[ZH_SHA256_LEN];
    assert_int_equal (zh_sha256 ("abc", 3, out), 0);
    assert_memory_equal (out, s_abc, sizeof out);
    assert_int_equal (zh_sha256 ("", 0, out), 0);
    assert_memory_equal (out, s_empty, sizeof out);
    /* one method for every caller */
    assert_non_null (zh_sha256_md ());
    assert_ptr_equal (zh_sha256_md (), zh_sha256_md ());
    assert_int_equal (EVP_MD_get_size (zh_sha256_md ()), ZH_SHA256_LEN);
}

static void *
s_hash_many (void *arg)
{
    (void)arg;
    uint8_t out[ZH_SHA256_LEN];
    for (int i = 0; i < 2000; i++)
        if (zh_sha256 ("abc", 3, out) != 0 || memcmp (out, s_abc, sizeof out) != 0)
            return (void *)1;
    return NULL;
}

static void
test_threads (void **state)
{
    (void)state;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        assert_int_equal (pthread_create (&t[i], NULL, s_hash_many, NULL), 0);
    for (int i = 0; i < 4; i++) {
        void *rc = (void *)1;
        assert_int_equal (pthread_join (t[i], &rc), 0);
        assert_null (rc);
    }
}

int zh_digest_test (void);

int
zh_digest_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_vectors),
        cmocka_unit_test (test_threads),
    };
    return cmocka_run_group_tests_name ("zh_digest_test", tests, NULL, NULL);
}
