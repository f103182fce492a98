/*  zh_ops.c — operations HTTP server: /live, /ready, /metrics on civetweb.
 *
 *  civetweb matches handler URIs by prefix, so the three paths are
 *  registered with "$" (exact) and a catch-all "/" answers 404; civetweb
 *  tries patterns in registration order, so the catch-all goes last.
 *  Keep-alive stays off (civetweb's default): each of the few worker threads
 *  serves one request and is free again, so a scraper holding a connection
 *  open cannot starve the probes. */
#include "common/zh_ops.h"
#include "common/zh_log.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ZH_OPS_ROUTES_MAX 8 /* zh_ops_handle routes at most */

struct _zh_ops_t {
    struct mg_context *ctx; // civetweb server
    zh_metrics_t *metrics; // borrowed registry rendered by /metrics
    zh_ops_ready_fn *ready; // readiness probe, NULL = always ready
    void *ready_arg; // argument of ready
    struct {
        char pattern[128]; // the exact path with "$" (civetweb: end of uri)
        zh_ops_handler_fn *fn;
        void *arg;
    } routes[ZH_OPS_ROUTES_MAX]; // zh_ops_handle routes
    size_t route_count;
    char listen[128]; // the listen address, to wake civetweb on stop
};

#define ZH_OPS_JSON "application/json"
#define ZH_OPS_PROBLEM "application/problem+json"
#define ZH_OPS_PROM "text/plain; version=0.0.4; charset=utf-8"

static const char *
s_reason (int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

/* Writes a whole response; the body is omitted for HEAD (headers unchanged). */
static int
s_respond (struct mg_connection *conn, int status, const char *type, const char *extra_headers,
           const char *body, size_t body_len)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    bool head = ri && ri->request_method && strcmp (ri->request_method, "HEAD") == 0;
    mg_printf (conn,
               "HTTP/1.1 %d %s\r\n"
               "Content-Type: %s\r\n"
               "Content-Length: %zu\r\n"
               "Cache-Control: no-store\r\n"
               "X-Content-Type-Options: nosniff\r\n"
               "%s"
               "Connection: close\r\n"
               "\r\n",
               status, s_reason (status), type, body_len, extra_headers ? extra_headers : "");
    if (!head && body_len > 0)
        mg_write (conn, body, body_len);
    return status;
}

static int
s_problem (struct mg_connection *conn, int status, const char *slug, const char *detail,
           const char *extra_headers)
{
    char body[512];
    int n = snprintf (body, sizeof body,
                      "{\"type\":\"https://zhook.dev/problems/%s\",\"title\":\"%s\","
                      "\"status\":%d,\"detail\":\"%s\"}",
                      slug, s_reason (status), status, detail);
    if (n < 0 || (size_t)n >= sizeof body)
        n = 0;
    return s_respond (conn, status, ZH_OPS_PROBLEM, extra_headers, body, (size_t)n);
}

/* GET and HEAD only; anything else has been answered 405 when this is false. */
static bool
s_method_ok (struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    const char *m = ri ? ri->request_method : NULL;
    if (m && (strcmp (m, "GET") == 0 || strcmp (m, "HEAD") == 0))
        return true;
    s_problem (conn, 405, "method-not-allowed", "only GET and HEAD are allowed here",
               "Allow: GET, HEAD\r\n");
    return false;
}

static int
s_on_live (struct mg_connection *conn, void *arg)
{
    (void)arg;
    if (!s_method_ok (conn))
        return 405;
    static const char body[] = "{\"status\":\"live\"}";
    return s_respond (conn, 200, ZH_OPS_JSON, NULL, body, sizeof body - 1);
}

static int
s_on_ready (struct mg_connection *conn, void *arg)
{
    zh_ops_t *self = arg;
    if (!s_method_ok (conn))
        return 405;
    if (!self->ready || self->ready (self->ready_arg)) {
        static const char body[] = "{\"status\":\"ready\"}";
        return s_respond (conn, 200, ZH_OPS_JSON, NULL, body, sizeof body - 1);
    }
    static const char body[] = "{\"status\":\"not_ready\"}";
    return s_respond (conn, 503, ZH_OPS_JSON, NULL, body, sizeof body - 1);
}

static int
s_on_metrics (struct mg_connection *conn, void *arg)
{
    zh_ops_t *self = arg;
    if (!s_method_ok (conn))
        return 405;
    if (!self->metrics)
        return s_respond (conn, 200, ZH_OPS_PROM, NULL, "", 0);
    char *text = zh_metrics_render (self->metrics);
    if (!text)
        return s_problem (conn, 500, "internal", "out of memory rendering metrics", NULL);
    int rc = s_respond (conn, 200, ZH_OPS_PROM, NULL, text, strlen (text));
    free (text);
    return rc;
}

static int
s_on_other (struct mg_connection *conn, void *arg)
{
    (void)arg;
    return s_problem (conn, 404, "not-found", "no such path; try /live, /ready or /metrics", NULL);
}

static int
s_on_route (struct mg_connection *conn, void *arg)
{
    zh_ops_t *self = mg_get_user_data (mg_get_context (conn));
    size_t i = (size_t)(uintptr_t)arg;
    if (!self || i >= self->route_count)
        return s_problem (conn, 500, "internal", "route lost", NULL);
    return self->routes[i].fn (conn, self->routes[i].arg);
}

int
zh_ops_respond (void *conn, int status, const char *type, const char *extra_headers,
                const char *body, size_t body_len)
{
    return s_respond (conn, status, type, extra_headers, body, body_len);
}

int
zh_ops_handle (zh_ops_t *self, const char *uri, zh_ops_handler_fn *fn, void *arg)
{
    if (!self || !uri || uri[0] != '/' || !fn ||
        strlen (uri) + 2 > sizeof self->routes[0].pattern || strpbrk (uri, "?*$|#") ||
        self->route_count == ZH_OPS_ROUTES_MAX)
        return -1;
    size_t i = self->route_count++;
    snprintf (self->routes[i].pattern, sizeof self->routes[i].pattern, "%s$", uri);
    self->routes[i].fn = fn;
    self->routes[i].arg = arg;
    /* patterns match in registration order: move the catch-all behind it */
    mg_set_request_handler (self->ctx, "/", NULL, NULL);
    mg_set_request_handler (self->ctx, self->routes[i].pattern, s_on_route, (void *)(uintptr_t)i);
    mg_set_request_handler (self->ctx, "/", s_on_other, self);
    return 0;
}

/* civetweb's own complaints (bind failures, bad requests) as JSON lines. */
static int
s_on_log (const struct mg_connection *conn, const char *message)
{
    (void)conn;
    zh_warn ("ops: civetweb", "s:detail", message, NULL);
    return 1;
}

zh_ops_t *
zh_ops_new (const char *listen, zh_metrics_t *metrics, zh_ops_ready_fn *ready, void *ready_arg)
{
    if (!listen || !*listen) {
        zh_error ("ops: no listen address", NULL);
        return NULL;
    }
    zh_ops_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->metrics = metrics;
    self->ready = ready;
    self->ready_arg = ready_arg;
    snprintf (self->listen, sizeof self->listen, "%s", listen);

    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof callbacks);
    callbacks.log_message = s_on_log;
    const char *options[] = {
        "listening_ports",   listen, "num_threads", "4", "request_timeout_ms", "10000",
        "enable_keep_alive", "no",   NULL};
    self->ctx = mg_start (&callbacks, self, options);
    if (!self->ctx) {
        zh_error ("ops: cannot start the operations server", "s:listen", listen, NULL);
        free (self);
        return NULL;
    }
    mg_set_request_handler (self->ctx, "/live$", s_on_live, self);
    mg_set_request_handler (self->ctx, "/ready$", s_on_ready, self);
    mg_set_request_handler (self->ctx, "/metrics$", s_on_metrics, self);
    mg_set_request_handler (self->ctx, "/", s_on_other, self);
    zh_info ("ops: listening", "s:listen", listen, "i:port", (int64_t)zh_ops_port (self), NULL);
    return self;
}

typedef struct {
    struct sockaddr_in addr; // the listener, on an address this host can reach
    atomic_bool done; // mg_stop has returned
} s_waker_t;

static void *
s_waker (void *arg)
{
    s_waker_t *waker = arg;
    const struct timespec pause = {0, 20 * 1000 * 1000};
    while (!atomic_load (&waker->done)) {
        int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        (void)connect (fd, (struct sockaddr *)&waker->addr, sizeof waker->addr);
        close (fd);
        nanosleep (&pause, NULL);
    }
    return NULL;
}

void
zh_ops_stop_civetweb (struct mg_context *ctx, const char *listen, int port)
{
    s_waker_t waker;
    memset (&waker, 0, sizeof waker);
    atomic_init (&waker.done, false);
    waker.addr.sin_family = AF_INET;
    waker.addr.sin_port = htons ((uint16_t)port);
    char host[64] = "127.0.0.1";
    const char *colon = listen ? strrchr (listen, ':') : NULL;
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    if (hlen > 0 && hlen < sizeof host) {
        memcpy (host, listen, hlen);
        host[hlen] = 0;
        if (!strcmp (host, "0.0.0.0") || !strcmp (host, "localhost"))
            snprintf (host, sizeof host, "127.0.0.1");
    }
    bool can_wake = port > 0 && inet_pton (AF_INET, host, &waker.addr.sin_addr) == 1;
    pthread_t thread;
    bool waking = can_wake && pthread_create (&thread, NULL, s_waker, &waker) == 0;
    mg_stop (ctx);
    atomic_store (&waker.done, true);
    if (waking)
        pthread_join (thread, NULL);
}

void
zh_ops_destroy (zh_ops_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zh_ops_t *self = *self_p;
    if (self->ctx)
        zh_ops_stop_civetweb (self->ctx, self->listen, zh_ops_port (self));
    free (self);
    *self_p = NULL;
}

int
zh_ops_port (zh_ops_t *self)
{
    struct mg_server_port ports[4];
    memset (ports, 0, sizeof ports);
    int n = mg_get_server_ports (self->ctx, 4, ports);
    return n > 0 ? ports[0].port : -1;
}
