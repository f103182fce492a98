/*  dlv_server_test.c — the deliverer loop between a fake scheduler (ZeroMQ
 *  PUSH/PULL bound on 127.0.0.1 ephemeral ports) and a civetweb receiver:
 *  heartbeats, readiness, results, bad and stale frames, metrics, the
 *  stop sequence (in-flight finishes within grace, the rest is "aborted"),
 *  and fairness: a busy destination or an open circuit sends work back as
 *  "deferred" while another destination (the receiver's second port) is
 *  served. */
#include "common/zh_clock.h"
#include "deliverer/dlv_server.h"
#include "proto/proto.h"

#include <civetweb.h>
#include <curl/curl.h>
#include <czmq.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

int dlv_server_test (void);

/* The receiver serves the whole group: civetweb's mg_stop takes ~2 s. */
static struct mg_context *s_web;
static int s_web_port;
static int s_web_port2; // second listening port: another destination (origin)
static atomic_int s_hits; // requests received
static atomic_bool s_release; // lets /sleep handlers return
static atomic_int s_sleepers; // /sleep handlers running

typedef struct {
    int web_port;
    zsock_t *dispatch; // fake scheduler PUSH (bound)
    zsock_t *results; // fake scheduler PULL (bound)
    char dispatch_ep[64];
    char results_ep[64];
    dlv_config_t cfg;
    dlv_server_t *server;
    pthread_t thread;
    int run_rc;
    proto_heartbeat_t *last_hb; // latest heartbeat seen
    int heartbeats;
    zframe_t *batch; // the results frame being read (several messages)
    size_t batch_off; // where its next message starts
    int batches; // results frames that carried more than one message
} fixture_t;

static int
s_handler (struct mg_connection *conn, void *cbdata)
{
    (void)cbdata;
    const struct mg_request_info *ri = mg_get_request_info (conn);
    char buf[1024];
    while (mg_read (conn, buf, sizeof buf) > 0)
        ;
    atomic_fetch_add (&s_hits, 1);
    int status = 200;
    if (!strcmp (ri->local_uri, "/fail"))
        status = 503;
    else if (!strcmp (ri->local_uri, "/slow"))
        usleep (150 * 1000);
    else if (!strcmp (ri->local_uri, "/sleep")) {
        atomic_fetch_add (&s_sleepers, 1);
        for (int i = 0; i < 300 && !atomic_load (&s_release); i++)
            usleep (10 * 1000);
        atomic_fetch_sub (&s_sleepers, 1);
    }
    mg_printf (conn, "HTTP/1.1 %d X\r\nContent-Length: 4\r\n\r\nbody", status);
    return status;
}

static void *
s_run (void *arg)
{
    fixture_t *f = arg;
    f->run_rc = dlv_server_run (f->server);
    return NULL;
}

static int
s_group_setup (void **state)
{
    (void)state;
    const char *options[] = {"listening_ports", "127.0.0.1:0,127.0.0.1:0", "num_threads", "8",
                             NULL};
    struct mg_callbacks cb;
    memset (&cb, 0, sizeof cb);
    s_web = mg_start (&cb, NULL, options);
    if (!s_web)
        return -1;
    mg_set_request_handler (s_web, "/", s_handler, NULL);
    struct mg_server_port ports[2];
    if (mg_get_server_ports (s_web, 2, ports) < 2)
        return -1;
    s_web_port = ports[0].port;
    s_web_port2 = ports[1].port;
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    atomic_store (&s_release, true);
    if (s_web)
        mg_stop (s_web);
    s_web = NULL;
    return 0;
}

static int
s_setup_with (void **state, uint32_t host_concurrency, uint32_t circuit_failures,
              uint32_t cooldown_ms, uint32_t prefetch)
{
    fixture_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    atomic_store (&s_hits, 0);
    atomic_store (&s_release, false);
    f->web_port = s_web_port;

    f->dispatch = zsock_new (ZMQ_PUSH);
    f->results = zsock_new (ZMQ_PULL);
    assert_non_null (f->dispatch);
    assert_non_null (f->results);
    zsock_set_linger (f->dispatch, 0);
    zsock_set_rcvtimeo (f->results, 100);
    int p1 = zsock_bind (f->dispatch, "tcp://127.0.0.1:*");
    int p2 = zsock_bind (f->results, "tcp://127.0.0.1:*");
    assert_true (p1 > 0 && p2 > 0);
    snprintf (f->dispatch_ep, sizeof f->dispatch_ep, "tcp://127.0.0.1:%d", p1);
    snprintf (f->results_ep, sizeof f->results_ep, "tcp://127.0.0.1:%d", p2);

    f->cfg.log_level = ZH_LOG_INFO;
    f->cfg.dispatch_endpoint = f->dispatch_ep;
    f->cfg.results_endpoint = f->results_ep;
    f->cfg.ops_listen = "127.0.0.1:0";
    f->cfg.concurrency = 4;
    f->cfg.prefetch = prefetch;
    f->cfg.heartbeat_ms = 100;
    f->cfg.shutdown_grace_ms = 400;
    f->cfg.response_body_max = 64;
    f->cfg.allow_private_targets = true;
    f->cfg.instance_id = "dlv-test-1";
    f->cfg.host_concurrency = host_concurrency;
    f->cfg.circuit_failures = circuit_failures;
    f->cfg.circuit_cooldown_ms = cooldown_ms;
    f->server = dlv_server_new (&f->cfg);
    assert_non_null (f->server);
    assert_true (dlv_server_ops_port (f->server) > 0);
    assert_int_equal (pthread_create (&f->thread, NULL, s_run, f), 0);
    *state = f;
    return 0;
}

static int
s_setup (void **state)
{
    return s_setup_with (state, 4, 0, 1000, 0);
}

/* four slots and four dispatches more taken ahead */
static int
s_setup_prefetch (void **state)
{
    return s_setup_with (state, 4, 0, 1000, 4);
}

/* one attempt per destination, circuits open after 2 failures for 400 ms */
static int
s_setup_fair (void **state)
{
    return s_setup_with (state, 1, 2, 400, 0);
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    atomic_store (&s_release, true);
    if (f->server) {
        dlv_server_stop (f->server);
        pthread_join (f->thread, NULL);
        dlv_server_destroy (&f->server);
    }
    zsock_destroy (&f->dispatch);
    zsock_destroy (&f->results);
    int64_t deadline = zh_clock_mono_ms () + 4000;
    while (atomic_load (&s_sleepers) > 0 && zh_clock_mono_ms () < deadline)
        usleep (5 * 1000);
    proto_heartbeat_destroy (&f->last_hb);
    zframe_destroy (&f->batch);
    free (f);
    return 0;
}

/* Next result within timeout_ms, recording heartbeats on the way; NULL if none. */
static proto_result_t *
s_next_result (fixture_t *f, int timeout_ms)
{
    int64_t deadline = zh_clock_mono_ms () + timeout_ms;
    while (zh_clock_mono_ms () < deadline) {
        if (!f->batch) {
            f->batch = zframe_recv (f->results);
            f->batch_off = 0;
            if (!f->batch)
                continue;
        }
        const uint8_t *frame_data = zframe_data (f->batch);
        size_t frame_size = zframe_size (f->batch), size = 0;
        /* a frame is one or more whole messages (proto_split) */
        assert_int_equal (proto_split (frame_data + f->batch_off, frame_size - f->batch_off, &size),
                          PROTO_OK);
        const uint8_t *data = frame_data + f->batch_off;
        f->batch_off += size;
        if (f->batch_off > size && f->batch_off == frame_size)
            f->batches++;
        proto_type_t t = proto_peek_type (data, size);
        proto_heartbeat_t *hb = NULL;
        proto_result_t *r = NULL;
        if (t == PROTO_T_HEARTBEAT)
            assert_int_equal (proto_heartbeat_decode (data, size, &hb), PROTO_OK);
        else {
            assert_int_equal (t, PROTO_T_RESULT);
            assert_int_equal (proto_result_decode (data, size, &r), PROTO_OK);
        }
        if (f->batch_off == frame_size)
            zframe_destroy (&f->batch);
        if (r)
            return r;
        proto_heartbeat_destroy (&f->last_hb);
        f->last_hb = hb;
        f->heartbeats++;
    }
    return NULL;
}

/* Waits until a heartbeat says ready (both sockets connected). */
static void
s_wait_ready (fixture_t *f)
{
    int64_t deadline = zh_clock_mono_ms () + 5000;
    while (zh_clock_mono_ms () < deadline) {
        proto_result_t *r = s_next_result (f, 100);
        assert_null (r);
        if (f->last_hb && f->last_hb->ready)
            return;
    }
    fail_msg ("deliverer never reported ready");
}

static proto_dispatch_t *
s_dispatch_new (int port, const char *id, const char *path, uint32_t timeout_ms,
                int64_t lease_left_ms)
{
    proto_dispatch_t *d = proto_dispatch_new ();
    assert_non_null (d);
    char url[96];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    d->id = strdup (id);
    d->attempt = 2;
    d->url = strdup (url);
    d->timeout_ms = timeout_ms;
    d->due_ms = zh_clock_wall_ms ();
    d->lease_until_ms = zh_clock_wall_ms () + lease_left_ms;
    d->payload = (uint8_t *)strdup ("{}");
    d->payload_size = 2;
    d->request_id = strdup ("req-1");
    return d;
}

static void
s_send_dispatch_to (fixture_t *f, int port, const char *id, const char *path, uint32_t timeout_ms,
                    int64_t lease_left_ms)
{
    proto_dispatch_t *d = s_dispatch_new (port, id, path, timeout_ms, lease_left_ms);
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (proto_dispatch_encode (d, &data, &size), 0);
    assert_int_equal (zmq_send (zsock_resolve (f->dispatch), data, size, 0), (int)size);
    free (data);
    proto_dispatch_destroy (&d);
}

/* One batched frame of n dispatches to path, ids "msg_B<i>". */
static void
s_send_batch (fixture_t *f, size_t n, const char *path)
{
    proto_frame_t frame = {0};
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf (id, sizeof id, "msg_B%zu", i);
        proto_dispatch_t *d = s_dispatch_new (f->web_port, id, path, 5000, 20000);
        uint8_t *data = NULL;
        size_t size = 0;
        assert_int_equal (proto_dispatch_encode (d, &data, &size), 0);
        assert_int_equal (proto_frame_add (&frame, data, size), 0);
        free (data);
        proto_dispatch_destroy (&d);
    }
    assert_int_equal (zmq_send (zsock_resolve (f->dispatch), frame.data, frame.size, 0),
                      (int)frame.size);
    proto_frame_free (&frame);
}

static void
s_send_dispatch (fixture_t *f, const char *id, const char *path, uint32_t timeout_ms,
                 int64_t lease_left_ms)
{
    s_send_dispatch_to (f, f->web_port, id, path, timeout_ms, lease_left_ms);
}

static size_t
s_collect (char *data, size_t size, size_t nmemb, void *userp)
{
    char *buf = userp;
    size_t have = strlen (buf), n = size * nmemb;
    size_t room = 65535 - have;
    memcpy (buf + have, data, n < room ? n : room);
    buf[have + (n < room ? n : room)] = 0;
    return n;
}

/* GET http://127.0.0.1:ops/path into buf (64 KiB); returns the status. */
static long
s_ops_get (fixture_t *f, const char *path, char *buf)
{
    buf[0] = 0;
    char url[96];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", dlv_server_ops_port (f->server), path);
    CURL *e = curl_easy_init ();
    assert_non_null (e);
    curl_easy_setopt (e, CURLOPT_URL, url);
    curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (e, CURLOPT_WRITEDATA, buf);
    curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, 3000L);
    curl_easy_setopt (e, CURLOPT_PROXY, "");
    assert_int_equal (curl_easy_perform (e), CURLE_OK);
    long status = 0;
    curl_easy_getinfo (e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (e);
    return status;
}

static void
test_deliver_and_report (void **state)
{
    fixture_t *f = *state;
    s_wait_ready (f);
    assert_string_equal (f->last_hb->from, "dlv-test-1");
    assert_int_equal (f->last_hb->capacity, 4);
    assert_int_equal (f->last_hb->free, 4);
    assert_false (f->last_hb->stopping);
    static char buf[65536];
    assert_int_equal (s_ops_get (f, "/ready", buf), 200);

    s_send_dispatch (f, "msg_A", "/ok", 2000, 10000);
    proto_result_t *r = s_next_result (f, 3000);
    assert_non_null (r);
    assert_string_equal (r->id, "msg_A");
    assert_int_equal (r->attempt, 2);
    assert_string_equal (r->deliverer, "dlv-test-1");
    assert_int_equal (r->status_code, 200);
    assert_null (r->error);
    assert_null (r->body);
    proto_result_destroy (&r);

    /* a bad frame and a dispatch that cannot finish within its lease give
     * no result; the next dispatch is answered normally */
    assert_int_equal (zmq_send (zsock_resolve (f->dispatch), "garbage", 7, 0), 7);
    s_send_dispatch (f, "msg_STALE", "/ok", 2000, 1000);
    s_send_dispatch (f, "msg_B", "/fail", 2000, 10000);
    r = s_next_result (f, 3000);
    assert_non_null (r);
    assert_string_equal (r->id, "msg_B");
    assert_int_equal (r->status_code, 503);
    assert_string_equal (r->body, "body");
    proto_result_destroy (&r);
    assert_int_equal (atomic_load (&s_hits), 2);

    assert_int_equal (s_ops_get (f, "/metrics", buf), 200);
    assert_non_null (strstr (buf, "zhook_deliverer_attempts_total{outcome=\"success\"} 1"));
    assert_non_null (strstr (buf, "zhook_deliverer_attempts_total{outcome=\"failure\"} 1"));
    assert_non_null (strstr (buf, "zhook_deliverer_bad_frames_total 1"));
    assert_non_null (strstr (buf, "zhook_deliverer_stale_dispatches_total 1"));
    assert_non_null (strstr (buf, "zhook_deliverer_capacity 4"));
    assert_non_null (strstr (buf, "zhook_deliverer_attempt_latency_seconds_count 2"));
}

static void
test_stop_finishes_then_aborts (void **state)
{
    fixture_t *f = *state;
    s_wait_ready (f);
    /* /slow ends within the grace period, /sleep does not */
    s_send_dispatch (f, "msg_SLOW", "/slow", 5000, 20000);
    s_send_dispatch (f, "msg_SLEEP", "/sleep", 5000, 20000);
    int64_t deadline = zh_clock_mono_ms () + 3000;
    while (atomic_load (&s_hits) < 2 && zh_clock_mono_ms () < deadline)
        usleep (5 * 1000);
    /* both requests are at the receiver (hits counts on arrival for these) */
    int64_t t0 = zh_clock_mono_ms ();
    dlv_server_stop (f->server);

    bool slow_ok = false, sleep_aborted = false;
    for (int i = 0; i < 2; i++) {
        proto_result_t *r = s_next_result (f, 3000);
        assert_non_null (r);
        if (!strcmp (r->id, "msg_SLOW")) {
            assert_int_equal (r->status_code, 200);
            assert_null (r->error);
            slow_ok = true;
        }
        else {
            assert_string_equal (r->id, "msg_SLEEP");
            assert_string_equal (r->error, "aborted");
            assert_int_equal (r->status_code, 0);
            sleep_aborted = true;
        }
        proto_result_destroy (&r);
    }
    assert_true (slow_ok && sleep_aborted);
    int64_t took = zh_clock_mono_ms () - t0;
    assert_true (took >= 300 && took < 2000); /* grace is 400 ms */
    pthread_join (f->thread, NULL);
    assert_int_equal (f->run_rc, 0);
    /* the last heartbeat announces the stop */
    s_next_result (f, 300);
    assert_non_null (f->last_hb);
    assert_true (f->last_hb->stopping);
    assert_false (f->last_hb->ready);
    dlv_server_destroy (&f->server);
}

/* ZHOOK_PREFETCH: one frame of 8 dispatches to a deliverer of 4 slots and
 * a prefetch of 4: the heartbeat announces 8, 4 attempts start and 4 wait
 * (zhook_deliverer_queued 4). At a stop the 4 waiting go back at once as
 * deferred with no wait (not attempted: the receiver saw only 4), counted
 * as deferred_total{reason="stopping"}; the 4 running are aborted after
 * the grace period. */
static void s_wait_sleepers (int n);

static void
test_prefetch_queues_and_gives_back (void **state)
{
    fixture_t *f = *state;
    s_wait_ready (f);
    assert_int_equal (f->last_hb->capacity, 8);
    atomic_store (&s_hits, 0);
    s_send_batch (f, 8, "/sleep");
    s_wait_sleepers (4);
    char buf[65536] = "";
    int64_t deadline = zh_clock_mono_ms () + 2000;
    while (zh_clock_mono_ms () < deadline) {
        assert_int_equal (s_ops_get (f, "/metrics", buf), 200);
        if (strstr (buf, "\nzhook_deliverer_queued 4\n"))
            break;
        usleep (10 * 1000);
    }
    assert_non_null (strstr (buf, "\nzhook_deliverer_queued 4\n"));
    assert_non_null (strstr (buf, "\nzhook_deliverer_in_flight 4\n"));
    usleep (100 * 1000); /* nothing more starts while the slots are busy */
    assert_int_equal (atomic_load (&s_sleepers), 4);

    dlv_server_stop (f->server);
    int given_back = 0, aborted = 0;
    for (int i = 0; i < 8; i++) {
        proto_result_t *r = s_next_result (f, 3000);
        assert_non_null (r);
        if (r->error && !strcmp (r->error, "deferred")) {
            assert_int_equal (aborted, 0); /* given back before the grace ends */
            assert_int_equal (r->retry_after_ms, 0);
            assert_int_equal (r->attempt, 2);
            given_back++;
        }
        else {
            assert_string_equal (r->error, "aborted");
            aborted++;
        }
        proto_result_destroy (&r);
    }
    assert_int_equal (given_back, 4);
    assert_int_equal (aborted, 4);
    assert_int_equal (atomic_load (&s_hits), 4);
    pthread_join (f->thread, NULL);
    assert_int_equal (f->run_rc, 0);
    assert_int_equal (s_ops_get (f, "/metrics", buf), 200);
    assert_non_null (strstr (buf, "zhook_deliverer_deferred_total{reason=\"stopping\"} 4\n"));
    assert_non_null (strstr (buf, "\nzhook_deliverer_queued 0\n"));
    dlv_server_destroy (&f->server);
}

static void
s_wait_sleepers (int n)
{
    int64_t deadline = zh_clock_mono_ms () + 3000;
    while (atomic_load (&s_sleepers) < n && zh_clock_mono_ms () < deadline)
        usleep (2 * 1000);
    assert_int_equal (atomic_load (&s_sleepers), n);
}

/* Next result, which must be for id; the caller destroys it. */
static proto_result_t *
s_expect (fixture_t *f, const char *id, int timeout_ms)
{
    proto_result_t *r = s_next_result (f, timeout_ms);
    assert_non_null (r);
    assert_string_equal (r->id, id);
    return r;
}

static void
test_busy_destination_defers (void **state)
{
    fixture_t *f = *state;
    s_wait_ready (f);
    /* one attempt holds the destination (host_concurrency 1) */
    s_send_dispatch (f, "msg_HOLD", "/sleep", 5000, 20000);
    s_wait_sleepers (1);
    /* the next one for the same origin (another path) comes straight back */
    int64_t t0 = zh_clock_mono_ms ();
    s_send_dispatch (f, "msg_WAIT", "/ok?token=x", 2000, 10000);
    proto_result_t *r = s_expect (f, "msg_WAIT", 2000);
    assert_true (zh_clock_mono_ms () - t0 < 1000);
    assert_string_equal (r->error, "deferred");
    assert_int_equal (r->attempt, 2);
    assert_int_equal (r->status_code, 0);
    assert_string_equal (r->deliverer, "dlv-test-1");
    assert_true (r->retry_after_ms >= 200 && r->retry_after_ms <= 1000);
    assert_true (r->at_ms > 0);
    proto_result_destroy (&r);
    assert_int_equal (atomic_load (&s_hits), 1);
    /* another destination is served meanwhile */
    s_send_dispatch_to (f, s_web_port2, "msg_OTHER", "/ok", 2000, 10000);
    r = s_expect (f, "msg_OTHER", 3000);
    assert_int_equal (r->status_code, 200);
    assert_null (r->error);
    proto_result_destroy (&r);
    /* the held attempt ends; the destination takes work again */
    atomic_store (&s_release, true);
    r = s_expect (f, "msg_HOLD", 4000);
    assert_int_equal (r->status_code, 200);
    proto_result_destroy (&r);
    s_send_dispatch (f, "msg_AGAIN", "/ok", 2000, 10000);
    r = s_expect (f, "msg_AGAIN", 3000);
    assert_int_equal (r->status_code, 200);
    proto_result_destroy (&r);

    static char buf[65536];
    assert_int_equal (s_ops_get (f, "/metrics", buf), 200);
    assert_non_null (strstr (buf, "zhook_deliverer_deferred_total{reason=\"host_busy\"} 1"));
    assert_non_null (strstr (buf, "zhook_deliverer_deferred_total{reason=\"circuit_open\"} 0"));
    /* deferrals are not attempts */
    assert_non_null (strstr (buf, "zhook_deliverer_attempts_total{outcome=\"success\"} 3"));
    assert_non_null (strstr (buf, "zhook_deliverer_attempt_latency_seconds_count 3"));
    assert_non_null (strstr (buf, "zhook_deliverer_open_circuits 0"));
}

static void
test_circuit_opens_and_recovers (void **state)
{
    fixture_t *f = *state;
    s_wait_ready (f);
    static char buf[65536];
    /* two failures in a row (503) open the circuit */
    s_send_dispatch (f, "msg_F1", "/fail", 2000, 10000);
    proto_result_t *r = s_expect (f, "msg_F1", 3000);
    assert_int_equal (r->status_code, 503);
    proto_result_destroy (&r);
    s_send_dispatch (f, "msg_F2", "/fail", 2000, 10000);
    r = s_expect (f, "msg_F2", 3000);
    assert_int_equal (r->status_code, 503);
    proto_result_destroy (&r);
    int64_t opened = zh_clock_mono_ms ();
    assert_int_equal (s_ops_get (f, "/metrics", buf), 200);
    assert_non_null (strstr (buf, "zhook_deliverer_open_circuits 1"));

    /* open: deferred for the rest of the cool-down, nothing sent */
    s_send_dispatch (f, "msg_HELD", "/ok", 2000, 10000);
    r = s_expect (f, "msg_HELD", 2000);
    assert_string_equal (r->error, "deferred");
    assert_true (r->retry_after_ms >= 1 && r->retry_after_ms <= 400 + 250);
    int64_t wait = r->retry_after_ms;
    proto_result_destroy (&r);
    assert_int_equal (atomic_load (&s_hits), 2);
    /* the other destination is not affected */
    s_send_dispatch_to (f, s_web_port2, "msg_OTHER", "/ok", 2000, 10000);
    r = s_expect (f, "msg_OTHER", 3000);
    assert_int_equal (r->status_code, 200);
    proto_result_destroy (&r);

    /* after the cool-down: one trial; others wait while it runs */
    while (zh_clock_mono_ms () < opened + 420)
        usleep (5 * 1000);
    (void)wait;
    s_send_dispatch (f, "msg_TRIAL", "/sleep", 5000, 20000);
    s_wait_sleepers (1);
    s_send_dispatch (f, "msg_BEHIND", "/ok", 2000, 10000);
    r = s_expect (f, "msg_BEHIND", 2000);
    assert_string_equal (r->error, "deferred");
    assert_true (r->retry_after_ms >= 200 && r->retry_after_ms <= 1000);
    proto_result_destroy (&r);
    /* the trial succeeds: closed */
    atomic_store (&s_release, true);
    r = s_expect (f, "msg_TRIAL", 4000);
    assert_int_equal (r->status_code, 200);
    proto_result_destroy (&r);
    s_send_dispatch (f, "msg_AFTER", "/ok", 2000, 10000);
    r = s_expect (f, "msg_AFTER", 3000);
    assert_int_equal (r->status_code, 200);
    assert_null (r->error);
    proto_result_destroy (&r);

    assert_int_equal (s_ops_get (f, "/metrics", buf), 200);
    assert_non_null (strstr (buf, "zhook_deliverer_open_circuits 0"));
    assert_non_null (strstr (buf, "zhook_deliverer_deferred_total{reason=\"circuit_open\"} 2"));
    assert_non_null (strstr (buf, "zhook_deliverer_deferred_total{reason=\"host_busy\"} 0"));
    assert_non_null (strstr (buf, "zhook_deliverer_attempts_total{outcome=\"failure\"} 2"));
}

int
dlv_server_test (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_deliver_and_report, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_stop_finishes_then_aborts, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_prefetch_queues_and_gives_back, s_setup_prefetch,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_busy_destination_defers, s_setup_fair, s_teardown),
        cmocka_unit_test_setup_teardown (test_circuit_opens_and_recovers, s_setup_fair, s_teardown),
    };
    int rc =
        cmocka_run_group_tests_name ("dlv_server_test", tests, s_group_setup, s_group_teardown);
    curl_global_cleanup ();
    return rc;
}
