/*  ing_config.c — reads the ingress's ZHOOK_* variables (zh_config readers). */
#include "ingress/ing_config.h"
#include "ingress/ing_cors.h"
#include "common/zh_defaults.h"
#include "common/zh_netguard.h"
#include "ingress/ing_limit.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ING_STR_(x) #x
#define ING_STR(x) ING_STR_ (x)

const zh_config_var_t ing_config_vars[] = {
    {"ZHOOK_LOG_LEVEL", ZH_DEF_LOG_LEVEL, "debug, info, warn or error"},
    {"ZHOOK_LISTEN", ZH_DEF_LISTEN,
     "HTTP API address host:port (IPv4; no TLS: terminate it in front)"},
    {"ZHOOK_SCHEDULER_HOST", ZH_DEF_SCHEDULER_HOST,
     "scheduler host used by the two endpoints below when they are unset"},
    {"ZHOOK_SUBMIT_ENDPOINT", "tcp://<SCHEDULER_HOST>:" ING_STR (ZH_DEF_SUBMIT_PORT),
     "scheduler submit socket (PUSH connects here)"},
    {"ZHOOK_PUBLISH_ENDPOINT", "tcp://<SCHEDULER_HOST>:" ING_STR (ZH_DEF_PUBLISH_PORT),
     "scheduler publish socket (SUB connects here: replies and heartbeats)"},
    ZH_CURVE_VARS_CLIENT,
    {"ZHOOK_HTTP_THREADS", ING_STR (ZH_DEF_HTTP_THREADS),
     "civetweb worker threads; each serves one keep-alive connection at a time"},
    {"ZHOOK_REQUEST_TIMEOUT_MS", ING_STR (ZH_DEF_REQUEST_TIMEOUT_MS),
     "how long a request waits for the scheduler before answering 503"},
    {"ZHOOK_MAX_BODY_BYTES", ING_STR (ZH_DEF_MAX_BODY_BYTES),
     "larger request bodies are refused with 413"},
    {"ZHOOK_AUTH", ZH_DEF_AUTH,
     "on: Bearer API keys required; off: development only, tenant \"default\""},
    {"ZHOOK_API_KEYS_FILE", "",
     "API keys, one \"TENANT SHA256HEX\" per line (required when ZHOOK_AUTH=on)"},
    {"ZHOOK_INSTANCE_ID", "ing-<hostname>-<pid>",
     "reply topic of this ingress; unique per process"},
    {"ZHOOK_READY_TIMEOUT_MS", ING_STR (ZH_DEF_READY_HB_MS),
     "/ready answers 503 when no scheduler heartbeat came within this time"},
    {"ZHOOK_SHUTDOWN_GRACE_MS", ING_STR (ZH_DEF_SHUTDOWN_GRACE_MS),
     "SIGTERM: new requests get 503, requests in progress this long to finish (0..600000)"},
    {"ZHOOK_ALLOW_PRIVATE_TARGETS", ING_STR (ZH_DEF_ALLOW_PRIVATE_TARGETS),
     "1 accepts URLs naming loopback/private/link-local addresses (development only)"},
    {"ZHOOK_ALLOWED_CIDRS", "",
     "private ranges URLs may name anyway, comma-separated CIDRs (10.20.0.0/16, fd00::/64)"},
    {"ZHOOK_HEADER_TIMEOUT_MS", ING_STR (ZH_DEF_HEADER_TIMEOUT_MS),
     "a request line and headers must arrive within this time, else the connection is closed"},
    {"ZHOOK_BODY_TIMEOUT_MS", ING_STR (ZH_DEF_BODY_TIMEOUT_MS),
     "a request body must arrive within this time, else 408 and the connection is closed"},
    {"ZHOOK_KEEP_ALIVE_TIMEOUT_MS", ING_STR (ZH_DEF_KEEP_ALIVE_TIMEOUT_MS),
     "an idle keep-alive connection (which holds a worker thread) is closed after this"},
    {"ZHOOK_LISTEN_BACKLOG", ING_STR (ZH_DEF_LISTEN_BACKLOG),
     "connections the kernel queues while every HTTP thread is busy"},
    {"ZHOOK_CORS_ORIGINS", "",
     "browser origins allowed to call the API, exact and comma-separated "
     "(https://app.example.com); empty: no CORS headers"},
    {"ZHOOK_IP_RATE", ING_STR (ZH_DEF_IP_RATE),
     "requests per second per client IP at each ingress (not /live, /ready, /metrics); "
     "0 = unlimited"},
    {"ZHOOK_IP_BURST", ING_STR (ZH_DEF_IP_BURST),
     "most requests a client IP may make at once (token bucket size); 0 = the rate"},
    {"ZHOOK_TRUSTED_PROXIES", "",
     "proxies whose X-Forwarded-For/-Proto are believed, comma-separated CIDRs "
     "(10.0.0.0/8, 172.16.0.0/12); empty: the TCP peer is the client"},
    {NULL, NULL, NULL},
};

void
ing_config_destroy (ing_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_config_t *self = *self_p;
    free (self->trusted_proxies);
    zh_curve_config_clear (&self->curve);
    free (self->cors_origins);
    free (self->allowed_cidrs);
    free (self->instance_id);
    free (self->api_keys_file);
    free (self->publish_endpoint);
    free (self->submit_endpoint);
    free (self->listen);
    free (self);
    *self_p = NULL;
}

ing_config_t *
ing_config_new (void)
{
    ing_config_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char *text = NULL, *host = NULL;
    int64_t n;

    if (zh_config_string ("ZHOOK_LOG_LEVEL", ZH_DEF_LOG_LEVEL, &text))
        goto fail;
    if (zh_log_level_parse (text, &self->log_level)) {
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_LOG_LEVEL", "s:expected",
                  "debug, info, warn or error", NULL);
        goto fail;
    }
    free (text);
    text = NULL;

    if (zh_config_listen ("ZHOOK_LISTEN", ZH_DEF_LISTEN, &self->listen))
        goto fail;
    if (zh_config_string ("ZHOOK_SCHEDULER_HOST", ZH_DEF_SCHEDULER_HOST, &host))
        goto fail;
    if (!*host || strpbrk (host, "/: ")) {
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_SCHEDULER_HOST",
                  "s:expected", "a host name or IPv4 address", NULL);
        goto fail;
    }
    if (zh_config_endpoint ("ZHOOK_SUBMIT_ENDPOINT", host, ZH_DEF_SUBMIT_PORT,
                            &self->submit_endpoint) ||
        zh_config_endpoint ("ZHOOK_PUBLISH_ENDPOINT", host, ZH_DEF_PUBLISH_PORT,
                            &self->publish_endpoint))
        goto fail;
    free (host);
    host = NULL;
    if (zh_curve_config_read (&self->curve, ZH_CURVE_CLIENT))
        goto fail;

    if (zh_config_int ("ZHOOK_HTTP_THREADS", ZH_DEF_HTTP_THREADS, 1, 1024, &n))
        goto fail;
    self->http_threads = (int)n;
    if (zh_config_int ("ZHOOK_REQUEST_TIMEOUT_MS", ZH_DEF_REQUEST_TIMEOUT_MS, 100, 600000, &n))
        goto fail;
    self->request_timeout_ms = (int)n;
    if (zh_config_int ("ZHOOK_MAX_BODY_BYTES", ZH_DEF_MAX_BODY_BYTES, 1024, 64 << 20, &n))
        goto fail;
    self->max_body_bytes = (size_t)n;
    if (zh_config_int ("ZHOOK_READY_TIMEOUT_MS", ZH_DEF_READY_HB_MS, 100, 600000, &n))
        goto fail;
    self->ready_timeout_ms = (int)n;
    if (zh_config_int ("ZHOOK_SHUTDOWN_GRACE_MS", ZH_DEF_SHUTDOWN_GRACE_MS, 0, 600000, &n))
        goto fail;
    self->shutdown_grace_ms = (int)n;

    if (zh_config_bool ("ZHOOK_AUTH", true, &self->auth))
        goto fail;
    if (zh_config_string ("ZHOOK_API_KEYS_FILE", NULL, &self->api_keys_file))
        goto fail;
    if (self->api_keys_file && !*self->api_keys_file) {
        free (self->api_keys_file);
        self->api_keys_file = NULL;
    }
    if (self->auth && !self->api_keys_file) {
        zh_error ("configuration: ZHOOK_API_KEYS_FILE is required when ZHOOK_AUTH is on "
                  "(set ZHOOK_AUTH=off only for local development)",
                  "s:variable", "ZHOOK_API_KEYS_FILE", NULL);
        goto fail;
    }

    if (zh_config_bool ("ZHOOK_ALLOW_PRIVATE_TARGETS", ZH_DEF_ALLOW_PRIVATE_TARGETS != 0,
                        &self->allow_private_targets))
        goto fail;
    if (zh_config_string ("ZHOOK_ALLOWED_CIDRS", NULL, &self->allowed_cidrs))
        goto fail;
    if (self->allowed_cidrs && !*self->allowed_cidrs) {
        free (self->allowed_cidrs);
        self->allowed_cidrs = NULL;
    }
    /* checked here, so a bad entry stops the start with one line; the
     * server builds its own guard from the same text */
    const char *bad_cidr = NULL;
    zh_netguard_t *guard =
        zh_netguard_new (self->allow_private_targets, self->allowed_cidrs, &bad_cidr);
    if (!guard) {
        if (bad_cidr) {
            char entry[64];
            snprintf (entry, sizeof entry, "%.*s", (int)strcspn (bad_cidr, ", "), bad_cidr);
            zh_error ("configuration: invalid value", "s:variable", "ZHOOK_ALLOWED_CIDRS",
                      "s:entry", entry, "s:expected",
                      "comma-separated IPv4/IPv6 CIDRs such as 10.20.0.0/16", NULL);
        }
        goto fail;
    }
    zh_netguard_destroy (&guard);

    if (zh_config_int ("ZHOOK_HEADER_TIMEOUT_MS", ZH_DEF_HEADER_TIMEOUT_MS, 100, 600000, &n))
        goto fail;
    self->header_timeout_ms = (int)n;
    if (zh_config_int ("ZHOOK_BODY_TIMEOUT_MS", ZH_DEF_BODY_TIMEOUT_MS, 100, 600000, &n))
        goto fail;
    self->body_timeout_ms = (int)n;
    if (zh_config_int ("ZHOOK_KEEP_ALIVE_TIMEOUT_MS", ZH_DEF_KEEP_ALIVE_TIMEOUT_MS, 100, 600000,
                       &n))
        goto fail;
    self->keep_alive_timeout_ms = (int)n;
    if (zh_config_int ("ZHOOK_LISTEN_BACKLOG", ZH_DEF_LISTEN_BACKLOG, 1, 65535, &n))
        goto fail;
    self->listen_backlog = (int)n;
    if (zh_config_string ("ZHOOK_CORS_ORIGINS", NULL, &self->cors_origins))
        goto fail;
    if (self->cors_origins && !*self->cors_origins) {
        free (self->cors_origins);
        self->cors_origins = NULL;
    }
    const char *bad_origin = NULL;
    ing_cors_t *cors = ing_cors_new (self->cors_origins, &bad_origin);
    if (!cors) {
        if (bad_origin) {
            char entry[ING_CORS_ORIGIN_MAX + 1];
            snprintf (entry, sizeof entry, "%.*s", (int)strcspn (bad_origin, ","), bad_origin);
            zh_error ("configuration: invalid value", "s:variable", "ZHOOK_CORS_ORIGINS", "s:entry",
                      entry, "s:expected",
                      "comma-separated origins such as https://app.example.com:8443", NULL);
        }
        goto fail;
    }
    ing_cors_destroy (&cors);

    if (zh_config_int ("ZHOOK_IP_RATE", ZH_DEF_IP_RATE, 0, 1000000, &n))
        goto fail;
    self->ip_rate = (uint32_t)n;
    if (zh_config_int ("ZHOOK_IP_BURST", ZH_DEF_IP_BURST, 0, 1000000, &n))
        goto fail;
    self->ip_burst = (uint32_t)(n > 0 ? n : self->ip_rate);
    if (zh_config_string ("ZHOOK_TRUSTED_PROXIES", NULL, &self->trusted_proxies))
        goto fail;
    if (self->trusted_proxies && !*self->trusted_proxies) {
        free (self->trusted_proxies);
        self->trusted_proxies = NULL;
    }
    const char *bad_proxy = NULL;
    if (ing_limit_check_cidrs (self->trusted_proxies, &bad_proxy)) {
        char entry[64];
        snprintf (entry, sizeof entry, "%.*s", (int)strcspn (bad_proxy, ", \t"), bad_proxy);
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_TRUSTED_PROXIES", "s:entry",
                  entry, "s:expected", "comma-separated IPv4/IPv6 addresses or CIDRs (at most 64)",
                  NULL);
        goto fail;
    }

    if (zh_config_instance_id ("ing", &self->instance_id))
        goto fail;
    return self;

fail:
    free (text);
    free (host);
    ing_config_destroy (&self);
    return NULL;
}
