/*  zh_metrics_test.c — registry, exposition format and concurrent updates. */
#include "common/zh_metrics.h"

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define THREADS 4
#define ITERATIONS 100000

static void
test_counter_gauge_render (void **state)
{
    (void)state;
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    zh_counter_t *ok = zh_metrics_counter (m, "zhook_test_requests_total", "Requests served.",
                                           "route=\"messages\",code=\"202\"");
    zh_gauge_t *g = zh_metrics_gauge (m, "zhook_test_backlog", "Messages waiting.", NULL);
    zh_counter_t *bad = zh_metrics_counter (m, "zhook_test_requests_total", "Requests served.",
                                            "route=\"messages\",code=\"400\"");
    assert_non_null (ok);
    assert_non_null (g);
    assert_non_null (bad);
    zh_counter_inc (ok);
    zh_counter_add (ok, 41);
    zh_counter_inc (bad);
    zh_gauge_set (g, 10);
    zh_gauge_add (g, -13);
    assert_int_equal (zh_counter_value (ok), 42);
    assert_int_equal (zh_gauge_value (g), -3);

    char *text = zh_metrics_render (m);
    assert_non_null (text);
    /* series of one family are grouped under one HELP/TYPE, whatever the
     * registration order */
    assert_string_equal (text, "# HELP zhook_test_requests_total Requests served.\n"
                               "# TYPE zhook_test_requests_total counter\n"
                               "zhook_test_requests_total{route=\"messages\",code=\"202\"} 42\n"
                               "zhook_test_requests_total{route=\"messages\",code=\"400\"} 1\n"
                               "# HELP zhook_test_backlog Messages waiting.\n"
                               "# TYPE zhook_test_backlog gauge\n"
                               "zhook_test_backlog -3\n");
    free (text);
    zh_metrics_destroy (&m);
    assert_null (m);
    zh_metrics_destroy (&m); /* NULL is fine */
}

static void
test_histogram_render (void **state)
{
    (void)state;
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    const double bounds[] = {0.125, 1, 2.5};
    zh_histogram_t *h = zh_metrics_histogram (m, "zhook_test_latency_seconds", "Latency.",
                                              "route=\"x\"", bounds, 3);
    zh_histogram_t *plain =
        zh_metrics_histogram (m, "zhook_test_plain_seconds", "Plain.", NULL, bounds, 1);
    assert_non_null (h);
    assert_non_null (plain);
    zh_histogram_observe (h, 0.0625);
    zh_histogram_observe (h, 0.125); /* le is inclusive */
    zh_histogram_observe (h, 0.5);
    zh_histogram_observe (h, 3);
    zh_histogram_observe (h, 100);
    zh_histogram_observe (h, NAN); /* ignored */
    zh_histogram_observe (plain, 0.25);

    char *text = zh_metrics_render (m);
    assert_non_null (text);
    assert_string_equal (text, "# HELP zhook_test_latency_seconds Latency.\n"
                               "# TYPE zhook_test_latency_seconds histogram\n"
                               "zhook_test_latency_seconds_bucket{route=\"x\",le=\"0.125\"} 2\n"
                               "zhook_test_latency_seconds_bucket{route=\"x\",le=\"1\"} 3\n"
                               "zhook_test_latency_seconds_bucket{route=\"x\",le=\"2.5\"} 3\n"
                               "zhook_test_latency_seconds_bucket{route=\"x\",le=\"+Inf\"} 5\n"
                               "zhook_test_latency_seconds_sum{route=\"x\"} 103.6875\n"
                               "zhook_test_latency_seconds_count{route=\"x\"} 5\n"
                               "# HELP zhook_test_plain_seconds Plain.\n"
                               "# TYPE zhook_test_plain_seconds histogram\n"
                               "zhook_test_plain_seconds_bucket{le=\"0.125\"} 0\n"
                               "zhook_test_plain_seconds_bucket{le=\"+Inf\"} 1\n"
                               "zhook_test_plain_seconds_sum 0.25\n"
                               "zhook_test_plain_seconds_count 1\n");
    free (text);
    zh_metrics_destroy (&m);
}

static void
test_latency_bounds (void **state)
{
    (void)state;
    assert_int_equal (zh_metrics_latency_bounds_n, 14);
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    zh_histogram_t *h = zh_metrics_histogram (m, "lat", "L.", NULL, zh_metrics_latency_bounds,
                                              zh_metrics_latency_bounds_n);
    assert_non_null (h);
    zh_histogram_observe (h, 0.1);
    char *text = zh_metrics_render (m);
    assert_non_null (text);
    const char *les[] = {"0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
                         "0.25",  "0.5",    "1",     "2.5",  "5",     "10",   "30"};
    for (size_t i = 0; i < 14; i++) {
        char want[64];
        snprintf (want, sizeof want, "lat_bucket{le=\"%s\"} %d\n", les[i], i >= 6 ? 1 : 0);
        assert_non_null (strstr (text, want));
    }
    assert_non_null (strstr (text, "lat_bucket{le=\"+Inf\"} 1\nlat_sum 0.1\nlat_count 1\n"));
    free (text);
    zh_metrics_destroy (&m);
}

static void
test_help_escaping (void **state)
{
    (void)state;
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    zh_gauge_t *g = zh_metrics_gauge (m, "g", "back\\slash\nnewline \"quoted\"", NULL);
    assert_non_null (g);
    char *text = zh_metrics_render (m);
    assert_string_equal (text, "# HELP g back\\\\slash\\nnewline \"quoted\"\n"
                               "# TYPE g gauge\n"
                               "g 0\n");
    free (text);
    zh_metrics_destroy (&m);
}

static void
test_invalid_names (void **state)
{
    (void)state;
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    const char *bad[] = {"", "1abc", "a-b", "a b", "a.b", "caf\xc3\xa9", "a{x}", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_null (zh_metrics_counter (m, bad[i], "h", NULL));
        assert_null (zh_metrics_gauge (m, bad[i], "h", NULL));
        assert_null (zh_metrics_histogram (m, bad[i], "h", NULL, zh_metrics_latency_bounds, 3));
    }
    assert_null (zh_metrics_counter (m, NULL, "h", NULL));
    assert_non_null (zh_metrics_counter (m, ":a", "h", NULL));
    assert_non_null (zh_metrics_counter (m, "_a1:b_2", "h", NULL));

    /* label text must be name="value" pairs */
    assert_null (zh_metrics_counter (m, "c", "h", "x=1"));
    assert_null (zh_metrics_counter (m, "c", "h", "x=\"a\nb\""));
    assert_null (zh_metrics_counter (m, "c", "h", "x=\"a\","));
    assert_null (zh_metrics_counter (m, "c", "h", "1x=\"a\""));
    assert_null (zh_metrics_counter (m, "c", "h", "x=\"unterminated"));
    assert_null (zh_metrics_counter (m, "c", "h", "x=\"bad \\escape\""));
    assert_non_null (zh_metrics_counter (m, "c", "h", "x=\"quote \\\" slash \\\\ nl \\n\""));
    /* a histogram's own labels cannot use le; bounds must ascend */
    assert_null (zh_metrics_histogram (m, "h", "h", "le=\"1\"", zh_metrics_latency_bounds, 3));
    const double down[] = {1, 0.5};
    assert_null (zh_metrics_histogram (m, "h", "h", NULL, down, 2));
    const double dup[] = {1, 1};
    assert_null (zh_metrics_histogram (m, "h", "h", NULL, dup, 2));
    const double inf[] = {1, INFINITY};
    assert_null (zh_metrics_histogram (m, "h", "h", NULL, inf, 2));

    /* one family, one type */
    assert_non_null (zh_metrics_counter (m, "typed", "h", NULL));
    assert_null (zh_metrics_gauge (m, "typed", "h", "a=\"b\""));
    assert_null (zh_metrics_histogram (m, "typed", "h", NULL, zh_metrics_latency_bounds, 3));

    /* the same series registered twice is the same series */
    zh_counter_t *c1 = zh_metrics_counter (m, "same", "h", "k=\"v\"");
    zh_counter_t *c2 = zh_metrics_counter (m, "same", "h", "k=\"v\"");
    assert_non_null (c1);
    assert_ptr_equal (c1, c2);
    zh_histogram_t *h1 = zh_metrics_histogram (m, "hh", "h", NULL, zh_metrics_latency_bounds, 3);
    assert_non_null (h1);
    assert_ptr_equal (h1, zh_metrics_histogram (m, "hh", "h", NULL, zh_metrics_latency_bounds, 3));
    assert_null (zh_metrics_histogram (m, "hh", "h", NULL, zh_metrics_latency_bounds, 4));
    zh_metrics_destroy (&m);
}

typedef struct {
    zh_counter_t *counter;
    zh_gauge_t *gauge;
    zh_histogram_t *histogram;
} shared_t;

static void *
s_hammer (void *arg)
{
    shared_t *sh = arg;
    for (int i = 0; i < ITERATIONS; i++) {
        zh_counter_inc (sh->counter);
        zh_gauge_add (sh->gauge, (i & 1) ? -1 : 2);
        zh_histogram_observe (sh->histogram, (i & 1) ? 0.5 : 2);
    }
    return NULL;
}

static void
test_concurrent_updates (void **state)
{
    (void)state;
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    const double bounds[] = {1};
    shared_t sh = {
        zh_metrics_counter (m, "c_total", "c", NULL),
        zh_metrics_gauge (m, "g", "g", NULL),
        zh_metrics_histogram (m, "h", "h", NULL, bounds, 1),
    };
    assert_non_null (sh.counter);
    assert_non_null (sh.gauge);
    assert_non_null (sh.histogram);
    pthread_t threads[THREADS];
    for (int t = 0; t < THREADS; t++)
        assert_int_equal (pthread_create (&threads[t], NULL, s_hammer, &sh), 0);
    /* scrapes run concurrently with the updates */
    for (int i = 0; i < 20; i++) {
        char *text = zh_metrics_render (m);
        assert_non_null (text);
        free (text);
    }
    for (int t = 0; t < THREADS; t++)
        assert_int_equal (pthread_join (threads[t], NULL), 0);

    assert_int_equal (zh_counter_value (sh.counter), THREADS * ITERATIONS);
    assert_int_equal (zh_gauge_value (sh.gauge), THREADS * ITERATIONS / 2);
    char *text = zh_metrics_render (m);
    assert_non_null (text);
    char want[256];
    /* half the observations are 0.5 (le=1), half 2; sum exact in binary */
    snprintf (want, sizeof want,
              "h_bucket{le=\"1\"} %d\nh_bucket{le=\"+Inf\"} %d\nh_sum %d\nh_count %d\n",
              THREADS * ITERATIONS / 2, THREADS * ITERATIONS, THREADS * ITERATIONS / 2 * 5 / 2,
              THREADS * ITERATIONS);
    assert_non_null (strstr (text, want));
    snprintf (want, sizeof want, "c_total %d\n", THREADS * ITERATIONS);
    assert_non_null (strstr (text, want));
    free (text);
    zh_metrics_destroy (&m);
}

static void
test_empty_registry (void **state)
{
    (void)state;
    zh_metrics_t *m = zh_metrics_new ();
    assert_non_null (m);
    char *text = zh_metrics_render (m);
    assert_non_null (text);
    assert_string_equal (text, "");
    free (text);
    zh_metrics_destroy (&m);
}

int zh_metrics_test (void);

int
zh_metrics_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_counter_gauge_render), cmocka_unit_test (test_histogram_render),
        cmocka_unit_test (test_latency_bounds),       cmocka_unit_test (test_help_escaping),
        cmocka_unit_test (test_invalid_names),        cmocka_unit_test (test_concurrent_updates),
        cmocka_unit_test (test_empty_registry),
    };
    return cmocka_run_group_tests_name ("zh_metrics_test", tests, NULL, NULL);
}
