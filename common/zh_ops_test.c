/*  zh_ops_test.c — the operations server over a real socket on 127.0.0.1:0. */
#include "common/zh_metrics.h"
#include "common/zh_ops.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

typedef struct {
    int status; // HTTP status, 0 when unparsable
    char head[4096]; // status line and headers
    char body[16384]; // body, NUL-terminated
    size_t body_len; // bytes of body
} response_t;

typedef struct {
    zh_metrics_t *metrics;
    zh_ops_t *ops;
    atomic_bool ready;
    int port;
} fixture_t;

/* One request on a fresh connection; the server closes after the answer. */
static int
s_fetch (int port, const char *method, const char *path, response_t *r)
{
    memset (r, 0, sizeof *r);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {5, 0};
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons ((uint16_t)port);
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    if (connect (fd, (struct sockaddr *)&sa, sizeof sa)) {
        close (fd);
        return -1;
    }
    char req[512];
    int n = snprintf (req, sizeof req,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      "Content-Length: 0\r\n\r\n",
                      method, path);
    if (write (fd, req, (size_t)n) != n) {
        close (fd);
        return -1;
    }
    static char raw[sizeof r->head + sizeof r->body];
    size_t len = 0;
    for (;;) {
        ssize_t got = read (fd, raw + len, sizeof raw - 1 - len);
        if (got <= 0)
            break;
        len += (size_t)got;
        if (len == sizeof raw - 1)
            break;
    }
    close (fd);
    raw[len] = 0;
    char *end = strstr (raw, "\r\n\r\n");
    if (!end)
        return -1;
    size_t head_len = (size_t)(end - raw);
    if (head_len >= sizeof r->head)
        return -1;
    memcpy (r->head, raw, head_len);
    r->body_len = len - head_len - 4;
    memcpy (r->body, end + 4, r->body_len);
    if (sscanf (r->head, "HTTP/1.1 %d", &r->status) != 1)
        return -1;
    return 0;
}

/* Value of header name (case-insensitive), copied into out; NULL if absent. */
static const char *
s_header (const response_t *r, const char *name, char *out, size_t size)
{
    size_t nlen = strlen (name);
    const char *line = strstr (r->head, "\r\n");
    while (line) {
        line += 2;
        if (strncasecmp (line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            const char *eol = strstr (v, "\r\n");
            size_t vlen = eol ? (size_t)(eol - v) : strlen (v);
            if (vlen >= size)
                return NULL;
            memcpy (out, v, vlen);
            out[vlen] = 0;
            return out;
        }
        line = strstr (line, "\r\n");
    }
    return NULL;
}

static void
s_assert_common_headers (const response_t *r)
{
    char v[256];
    assert_non_null (s_header (r, "Cache-Control", v, sizeof v));
    assert_string_equal (v, "no-store");
    assert_non_null (s_header (r, "X-Content-Type-Options", v, sizeof v));
    assert_string_equal (v, "nosniff");
    assert_non_null (s_header (r, "Content-Length", v, sizeof v));
}

static bool
s_ready (void *arg)
{
    fixture_t *f = arg;
    return atomic_load (&f->ready);
}

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    if (!f)
        return -1;
    atomic_init (&f->ready, false);
    f->metrics = zh_metrics_new ();
    zh_counter_t *c = f->metrics ? zh_metrics_counter (f->metrics, "zhook_test_scrapes_total",
                                                       "Scrapes.", "kind=\"unit\"")
                                 : NULL;
    if (c) {
        zh_counter_add (c, 7);
        f->ops = zh_ops_new ("127.0.0.1:0", f->metrics, s_ready, f);
    }
    if (!f->ops) {
        zh_metrics_destroy (&f->metrics);
        free (f);
        return -1;
    }
    f->port = zh_ops_port (f->ops);
    *state = f;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    zh_ops_destroy (&f->ops);
    zh_metrics_destroy (&f->metrics);
    free (f);
    return 0;
}

static void
test_port (void **state)
{
    fixture_t *f = *state;
    assert_true (f->port > 0 && f->port < 65536);
}

static void
test_live (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char v[256];
    assert_int_equal (s_fetch (f->port, "GET", "/live", &r), 0);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.body, "{\"status\":\"live\"}");
    assert_non_null (s_header (&r, "Content-Type", v, sizeof v));
    assert_string_equal (v, "application/json");
    s_assert_common_headers (&r);
    /* the query string does not change the path */
    assert_int_equal (s_fetch (f->port, "GET", "/live?verbose=1", &r), 0);
    assert_int_equal (r.status, 200);
}

static void
test_head (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char v[256];
    assert_int_equal (s_fetch (f->port, "HEAD", "/live", &r), 0);
    assert_int_equal (r.status, 200);
    assert_int_equal (r.body_len, 0);
    assert_non_null (s_header (&r, "Content-Length", v, sizeof v));
    assert_string_equal (v, "17");
}

static void
test_ready_toggles (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char v[256];
    atomic_store (&f->ready, false);
    assert_int_equal (s_fetch (f->port, "GET", "/ready", &r), 0);
    assert_int_equal (r.status, 503);
    assert_string_equal (r.body, "{\"status\":\"not_ready\"}");
    assert_non_null (s_header (&r, "Content-Type", v, sizeof v));
    assert_string_equal (v, "application/json");
    s_assert_common_headers (&r);

    atomic_store (&f->ready, true);
    assert_int_equal (s_fetch (f->port, "GET", "/ready", &r), 0);
    assert_int_equal (r.status, 200);
    assert_string_equal (r.body, "{\"status\":\"ready\"}");

    atomic_store (&f->ready, false);
    assert_int_equal (s_fetch (f->port, "GET", "/ready", &r), 0);
    assert_int_equal (r.status, 503);
}

static void
test_metrics (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char v[256];
    assert_int_equal (s_fetch (f->port, "GET", "/metrics", &r), 0);
    assert_int_equal (r.status, 200);
    assert_non_null (s_header (&r, "Content-Type", v, sizeof v));
    assert_string_equal (v, "text/plain; version=0.0.4; charset=utf-8");
    s_assert_common_headers (&r);
    assert_string_equal (r.body, "# HELP zhook_test_scrapes_total Scrapes.\n"
                                 "# TYPE zhook_test_scrapes_total counter\n"
                                 "zhook_test_scrapes_total{kind=\"unit\"} 7\n");
    assert_non_null (s_header (&r, "Content-Length", v, sizeof v));
    assert_int_equal (strtol (v, NULL, 10), (long)r.body_len);
}

static void
test_not_found (void **state)
{
    fixture_t *f = *state;
    const char *paths[] = {"/nope", "/", "/livex", "/live/x", "/metrics/", "/readyz", NULL};
    for (int i = 0; paths[i]; i++) {
        response_t r;
        char v[256];
        assert_int_equal (s_fetch (f->port, "GET", paths[i], &r), 0);
        assert_int_equal (r.status, 404);
        assert_non_null (s_header (&r, "Content-Type", v, sizeof v));
        assert_string_equal (v, "application/problem+json");
        assert_non_null (strstr (r.body, "\"status\":404"));
        s_assert_common_headers (&r);
    }
}

static void
test_method_not_allowed (void **state)
{
    fixture_t *f = *state;
    const char *methods[] = {"POST", "PUT", "DELETE", "PATCH", NULL};
    const char *paths[] = {"/live", "/ready", "/metrics", NULL};
    for (int i = 0; methods[i]; i++)
        for (int j = 0; paths[j]; j++) {
            response_t r;
            char v[256];
            assert_int_equal (s_fetch (f->port, methods[i], paths[j], &r), 0);
            assert_int_equal (r.status, 405);
            assert_non_null (s_header (&r, "Allow", v, sizeof v));
            assert_string_equal (v, "GET, HEAD");
            assert_non_null (s_header (&r, "Content-Type", v, sizeof v));
            assert_string_equal (v, "application/problem+json");
            assert_non_null (strstr (r.body, "\"status\":405"));
            s_assert_common_headers (&r);
        }
}

static void
test_no_ready_fn_and_no_metrics (void **state)
{
    (void)state;
    zh_ops_t *ops = zh_ops_new ("127.0.0.1:0", NULL, NULL, NULL);
    assert_non_null (ops);
    int port = zh_ops_port (ops);
    response_t r;
    assert_int_equal (s_fetch (port, "GET", "/ready", &r), 0);
    assert_int_equal (r.status, 200);
    assert_int_equal (s_fetch (port, "GET", "/metrics", &r), 0);
    assert_int_equal (r.status, 200);
    assert_int_equal (r.body_len, 0);
    zh_ops_destroy (&ops);
    assert_null (ops);
    zh_ops_destroy (&ops);
}

static void
test_bind_failure (void **state)
{
    fixture_t *f = *state;
    char listen[64];
    snprintf (listen, sizeof listen, "127.0.0.1:%d", f->port);
    assert_null (zh_ops_new (listen, f->metrics, NULL, NULL));
    assert_null (zh_ops_new ("not an address", f->metrics, NULL, NULL));
}

static int
s_on_extra (void *conn, void *arg)
{
    int *calls = arg;
    (*calls)++;
    static const char body[] = "extra";
    return zh_ops_respond (conn, 201, "text/plain", "X-Extra: 1\r\n", body, sizeof body - 1);
}

static void
test_handle (void **state)
{
    (void)state;
    zh_ops_t *ops = zh_ops_new ("127.0.0.1:0", NULL, NULL, NULL);
    assert_non_null (ops);
    int port = zh_ops_port (ops), calls = 0;
    assert_int_equal (zh_ops_handle (ops, "/admin/extra", s_on_extra, &calls), 0);
    assert_int_equal (zh_ops_handle (ops, "no-slash", s_on_extra, &calls), -1);
    assert_int_equal (zh_ops_handle (ops, "/x$", s_on_extra, &calls), -1);
    assert_int_equal (zh_ops_handle (ops, "/x", NULL, &calls), -1);
    response_t r;
    char v[256];
    assert_int_equal (s_fetch (port, "POST", "/admin/extra", &r), 0);
    assert_int_equal (r.status, 201);
    assert_string_equal (r.body, "extra");
    assert_non_null (s_header (&r, "X-Extra", v, sizeof v));
    assert_string_equal (v, "1");
    s_assert_common_headers (&r);
    assert_int_equal (calls, 1);
    /* exact path only; the built-in routes and the catch-all still answer */
    assert_int_equal (s_fetch (port, "GET", "/admin/extra/x", &r), 0);
    assert_int_equal (r.status, 404);
    assert_int_equal (s_fetch (port, "GET", "/admin/extrax", &r), 0);
    assert_int_equal (r.status, 404);
    assert_int_equal (s_fetch (port, "GET", "/live", &r), 0);
    assert_int_equal (r.status, 200);
    assert_int_equal (calls, 1);
    /* the table is bounded */
    int added = 1;
    char uri[32];
    for (int i = 0; i < 20; i++) {
        snprintf (uri, sizeof uri, "/r%d", i);
        if (zh_ops_handle (ops, uri, s_on_extra, &calls) == 0)
            added++;
    }
    assert_int_equal (added, 8);
    assert_int_equal (s_fetch (port, "GET", "/r3", &r), 0);
    assert_int_equal (r.status, 201);
    assert_int_equal (calls, 2);
    assert_int_equal (s_fetch (port, "GET", "/r9", &r), 0);
    assert_int_equal (r.status, 404);
    zh_ops_destroy (&ops);
}

int zh_ops_test (void);

int
zh_ops_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_port),
        cmocka_unit_test (test_live),
        cmocka_unit_test (test_head),
        cmocka_unit_test (test_ready_toggles),
        cmocka_unit_test (test_metrics),
        cmocka_unit_test (test_not_found),
        cmocka_unit_test (test_method_not_allowed),
        cmocka_unit_test (test_no_ready_fn_and_no_metrics),
        cmocka_unit_test (test_bind_failure),
        cmocka_unit_test (test_handle),
    };
    return cmocka_run_group_tests_name ("zh_ops_test", tests, s_setup, s_teardown);
}
