/*  zh_id_test.c — ULID ids: format, validity, order, time prefix, threads. */
#include "common/zh_clock.h"
#include "common/zh_id.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define THREADS 4
#define IDS_PER_THREAD 20000

static const char s_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* Milliseconds encoded in the first 10 ULID characters. */
static int64_t
s_ulid_ms (const char *ulid)
{
    int64_t ms = 0;
    for (int i = 0; i < 10; i++) {
        const char *p = strchr (s_alphabet, ulid[i]);
        assert_non_null (p);
        ms = ms * 32 + (p - s_alphabet);
    }
    return ms;
}

static void
test_format (void **state)
{
    (void)state;
    char id[ZH_ID_MAX];
    assert_int_equal (zh_id_new ("msg", id, sizeof id), 0);
    assert_int_equal (strlen (id), 4 + ZH_ULID_LEN);
    assert_memory_equal (id, "msg_", 4);
    for (int i = 4; id[i]; i++)
        assert_non_null (strchr (s_alphabet, id[i]));
    assert_true (zh_id_valid (id, "msg"));
    assert_false (zh_id_valid (id, "evt"));
    assert_false (zh_id_valid (id, "ms"));

    /* exactly the room needed, and one byte short */
    char small[4 + ZH_ULID_LEN + 1];
    assert_int_equal (zh_id_new ("msg", small, sizeof small), 0);
    assert_true (zh_id_valid (small, "msg"));
    assert_int_equal (zh_id_new ("msg", small, sizeof small - 1), -1);
}

static void
test_valid (void **state)
{
    (void)state;
    assert_true (zh_id_valid ("msg_01ARZ3NDEKTSV4RRFFQ69G5FAV", "msg"));
    assert_true (zh_id_valid ("msg_7ZZZZZZZZZZZZZZZZZZZZZZZZZ", "msg"));
    const char *bad[] = {
        "msg_01ARZ3NDEKTSV4RRFFQ69G5FA", /* 25 chars */
        "msg_01ARZ3NDEKTSV4RRFFQ69G5FAVX", /* 27 chars */
        "msg_01arz3ndektsv4rrffq69g5fav", /* lower case */
        "msg_01ARZ3NDEKTSV4RRFFQ69G5FAI", /* I, L, O, U are not Crockford */
        "msg_01ARZ3NDEKTSV4RRFFQ69G5FAL",
        "msg_01ARZ3NDEKTSV4RRFFQ69G5FAO",
        "msg_01ARZ3NDEKTSV4RRFFQ69G5FAU",
        "msg_81ARZ3NDEKTSV4RRFFQ69G5FAV", /* first char > 7 overflows 128 bits */
        "msg-01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "msg01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "evt_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "msg_01ARZ3NDEKTSV4RRFF 69G5FAV",
        "msg_",
        "",
        NULL,
    };
    for (int i = 0; bad[i]; i++)
        if (zh_id_valid (bad[i], "msg"))
            fail_msg ("accepted \"%s\"", bad[i]);
    assert_false (zh_id_valid (NULL, "msg"));
}

static void
test_strictly_increasing (void **state)
{
    (void)state;
    char prev[ZH_ID_MAX], cur[ZH_ID_MAX];
    assert_int_equal (zh_id_new ("msg", prev, sizeof prev), 0);
    for (int i = 0; i < 100000; i++) {
        assert_int_equal (zh_id_new ("msg", cur, sizeof cur), 0);
        if (strcmp (prev, cur) >= 0)
            fail_msg ("id %d not increasing: %s then %s", i, prev, cur);
        memcpy (prev, cur, sizeof cur);
    }
}

static void
test_time_prefix (void **state)
{
    (void)state;
    int64_t before = zh_clock_wall_ms ();
    char id[ZH_ID_MAX];
    assert_int_equal (zh_id_new ("evt", id, sizeof id), 0);
    int64_t after = zh_clock_wall_ms ();
    int64_t ms = s_ulid_ms (id + 4);
    /* within the call, or slightly ahead if earlier tests borrowed
     * milliseconds to stay monotonic */
    assert_true (ms >= before);
    assert_true (ms <= after + 1000);
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (a, b);
}

static void *
s_make_ids (void *arg)
{
    char (*ids)[ZH_ID_MAX] = arg;
    for (int i = 0; i < IDS_PER_THREAD; i++)
        if (zh_id_new ("msg", ids[i], ZH_ID_MAX))
            return (void *)1;
    return NULL;
}

static void
test_threads_unique (void **state)
{
    (void)state;
    char (*ids)[ZH_ID_MAX] = calloc (THREADS * IDS_PER_THREAD, ZH_ID_MAX);
    assert_non_null (ids);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal (pthread_create (&threads[t], NULL, s_make_ids, ids + t * IDS_PER_THREAD),
                          0);
    for (int t = 0; t < THREADS; t++) {
        void *rc;
        assert_int_equal (pthread_join (threads[t], &rc), 0);
        assert_null (rc);
    }
    /* each thread's ids increase; all ids are distinct */
    for (int t = 0; t < THREADS; t++)
        for (int i = 1; i < IDS_PER_THREAD; i++)
            assert_true (strcmp (ids[t * IDS_PER_THREAD + i - 1], ids[t * IDS_PER_THREAD + i]) < 0);
    qsort (ids, THREADS * IDS_PER_THREAD, ZH_ID_MAX, s_cmp);
    for (int i = 1; i < THREADS * IDS_PER_THREAD; i++)
        assert_true (strcmp (ids[i - 1], ids[i]) < 0);
    free (ids);
}

static void
test_random (void **state)
{
    (void)state;
    uint8_t a[32], b[32];
    assert_int_equal (zh_random_bytes (a, sizeof a), 0);
    assert_int_equal (zh_random_bytes (b, sizeof b), 0);
    assert_memory_not_equal (a, b, sizeof a);
    assert_int_equal (zh_random_bytes (a, 0), 0);
    assert_true (zh_random_u64 () != zh_random_u64 () || zh_random_u64 () != zh_random_u64 ());
}

/* Small reads come from a pool per thread refilled from the kernel: across
 * many refills no two reads are the same, and large reads bypass it. */
static void
test_random_pool (void **state)
{
    (void)state;
    enum { N = 2000 };
    static uint8_t seen[N][16];
    for (int i = 0; i < N; i++) {
        assert_int_equal (zh_random_bytes (seen[i], sizeof seen[i]), 0);
        for (int j = 0; j < i; j++)
            assert_memory_not_equal (seen[i], seen[j], sizeof seen[i]);
    }
    uint8_t big[4096], zero[4096];
    memset (big, 0, sizeof big);
    memset (zero, 0, sizeof zero);
    assert_int_equal (zh_random_bytes (big, sizeof big), 0);
    assert_memory_not_equal (big, zero, sizeof big);
}

int zh_id_test (void);

int
zh_id_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_format),
        cmocka_unit_test (test_valid),
        cmocka_unit_test (test_strictly_increasing),
        cmocka_unit_test (test_time_prefix),
        cmocka_unit_test (test_threads_unique),
        cmocka_unit_test (test_random),
        cmocka_unit_test (test_random_pool),
    };
    return cmocka_run_group_tests_name ("zh_id_test", tests, NULL, NULL);
}
