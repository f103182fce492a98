/*  dlv_config.c — the deliverer's environment, read and validated at start. */
#include "deliverer/dlv_config.h"
#include "common/zh_defaults.h"
#include "common/zh_netguard.h"
#include "common/zh_webhook.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DLV_BODY_MAX_LIMIT 65536

#define S_STR(x) #x
#define S_XSTR(x) S_STR (x)

const zh_config_var_t dlv_config_vars[] = {
    {"ZHOOK_LOG_LEVEL", ZH_DEF_LOG_LEVEL, "debug | info | warn | error"},
    {"ZHOOK_SCHEDULER_HOST", ZH_DEF_SCHEDULER_HOST,
     "scheduler host used by the two endpoints below when they are unset"},
    {"ZHOOK_DISPATCH_ENDPOINT", "tcp://HOST:" S_XSTR (ZH_DEF_DISPATCH_PORT),
     "scheduler dispatch socket (this PULL connects)"},
    {"ZHOOK_RESULTS_ENDPOINT", "tcp://HOST:" S_XSTR (ZH_DEF_RESULTS_PORT),
     "scheduler results socket (this PUSH connects)"},
    ZH_CURVE_VARS_CLIENT,
    {"ZHOOK_OPS_LISTEN", ZH_DEF_DLV_OPS_LISTEN, "host:port of /live, /ready and /metrics"},
    {"ZHOOK_CONCURRENCY", S_XSTR (ZH_DEF_CONCURRENCY),
     "HTTP attempts in flight at most (1..10000)"},
    {"ZHOOK_PREFETCH", "ZHOOK_CONCURRENCY",
     "dispatches leased to this deliverer beyond ZHOOK_CONCURRENCY, waiting here for a free "
     "slot, so slots refill without waiting for the scheduler (0..30000)"},
    {"ZHOOK_HEARTBEAT_MS", S_XSTR (ZH_DEF_HEARTBEAT_MS),
     "heartbeat period towards the scheduler (100..60000)"},
    {"ZHOOK_SHUTDOWN_GRACE_MS", S_XSTR (ZH_DEF_SHUTDOWN_GRACE_MS),
     "on SIGTERM, time in-flight attempts get before they are aborted (0..600000)"},
    {"ZHOOK_RESPONSE_BODY_MAX", S_XSTR (ZH_DEF_RESPONSE_BODY_MAX),
     "bytes of a failed response body kept in the attempt history (0..65536)"},
    {"ZHOOK_ALLOW_PRIVATE_TARGETS", S_XSTR (ZH_DEF_ALLOW_PRIVATE_TARGETS),
     "1 lets deliveries reach loopback/private/link-local addresses (development only)"},
    {"ZHOOK_ALLOWED_CIDRS", "",
     "IPv4/IPv6 CIDRs deliveries may reach although private (\"10.20.0.0/16, fd00:1::/64\")"},
    {"ZHOOK_EGRESS_PROXY", "",
     "http:// or https:// proxy every delivery goes through (or ZHOOK_EGRESS_PROXY_FILE)"},
    {"ZHOOK_SIGNING_SECRET", "",
     "whsec_/whsk_ key list signing messages that carry none (or ZHOOK_SIGNING_SECRET_FILE)"},
    {"ZHOOK_INSTANCE_ID", "dlv-<hostname>-<pid>", "deliverer id in heartbeats and results"},
    {"ZHOOK_HOST_CONCURRENCY", S_XSTR (ZH_DEF_HOST_CONCURRENCY),
     "attempts in flight per destination host (1..ZHOOK_CONCURRENCY)"},
    {"ZHOOK_CIRCUIT_FAILURES", S_XSTR (ZH_DEF_CIRCUIT_FAILURES),
     "consecutive failures that open a host's circuit (0 = never, ..1000)"},
    {"ZHOOK_CIRCUIT_COOLDOWN_MS", S_XSTR (ZH_DEF_CIRCUIT_COOLDOWN_MS),
     "how long an open circuit holds a host's messages back (100..3600000)"},
    {NULL, NULL, NULL},
};

/* Empty means unset; a malformed entry is named (CIDRs are no secret). */
static int
s_allowed_cidrs_check (dlv_config_t *self)
{
    if (self->allowed_cidrs && !self->allowed_cidrs[strspn (self->allowed_cidrs, ", \t")]) {
        free (self->allowed_cidrs);
        self->allowed_cidrs = NULL;
    }
    if (!self->allowed_cidrs)
        return 0;
    const char *bad = NULL;
    zh_netguard_t *guard = zh_netguard_new (false, self->allowed_cidrs, &bad);
    if (guard) {
        zh_netguard_destroy (&guard);
        return 0;
    }
    if (!bad) {
        zh_error ("out of memory reading ZHOOK_ALLOWED_CIDRS", NULL);
        return -1;
    }
    char entry[64];
    size_t len = strcspn (bad, ", \t");
    snprintf (entry, sizeof entry, "%.*s", (int)(len < 63 ? len : 63), bad);
    zh_error ("configuration: invalid value", "s:variable", "ZHOOK_ALLOWED_CIDRS", "s:entry", entry,
              "s:expected", "IPv4 or IPv6 CIDRs (a.b.c.d/n, x:y::/n), comma-separated", NULL);
    return -1;
}

/* An absolute http:// or https:// URL with a host. It may carry
 * credentials, so the value is never echoed. */
static int
s_egress_proxy_check (dlv_config_t *self)
{
    if (self->egress_proxy && !*self->egress_proxy) {
        free (self->egress_proxy);
        self->egress_proxy = NULL;
    }
    if (!self->egress_proxy)
        return 0;
    const char *p = self->egress_proxy;
    bool ok = !strncasecmp (p, "http://", 7) || !strncasecmp (p, "https://", 8);
    for (; ok && *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            ok = false;
    CURLU *u = ok ? curl_url () : NULL;
    char *host = NULL;
    if (ok && (!u || curl_url_set (u, CURLUPART_URL, self->egress_proxy, 0) != CURLUE_OK ||
               curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host))
        ok = false;
    curl_free (host);
    curl_url_cleanup (u);
    if (ok)
        return 0;
    zh_error ("configuration: invalid value", "s:variable", "ZHOOK_EGRESS_PROXY", "s:expected",
              "an http:// or https:// proxy URL (http://proxy.internal:3128)", NULL);
    return -1;
}

dlv_config_t *
dlv_config_new (void)
{
    dlv_config_t *self = calloc (1, sizeof *self);
    char *level = NULL, *host = NULL;
    if (!self)
        return NULL;
    int64_t v;

    if (zh_config_string ("ZHOOK_LOG_LEVEL", ZH_DEF_LOG_LEVEL, &level))
        goto fail;
    if (zh_log_level_parse (level, &self->log_level)) {
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_LOG_LEVEL", "s:expected",
                  "debug, info, warn or error", NULL);
        goto fail;
    }
    if (zh_config_string ("ZHOOK_SCHEDULER_HOST", ZH_DEF_SCHEDULER_HOST, &host))
        goto fail;
    if (!*host || strpbrk (host, "/ \t")) {
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_SCHEDULER_HOST",
                  "s:expected", "a host name or address", NULL);
        goto fail;
    }
    if (zh_config_endpoint ("ZHOOK_DISPATCH_ENDPOINT", host, ZH_DEF_DISPATCH_PORT,
                            &self->dispatch_endpoint) ||
        zh_config_endpoint ("ZHOOK_RESULTS_ENDPOINT", host, ZH_DEF_RESULTS_PORT,
                            &self->results_endpoint))
        goto fail;
    if (zh_curve_config_read (&self->curve, ZH_CURVE_CLIENT))
        goto fail;
    if (zh_config_listen ("ZHOOK_OPS_LISTEN", ZH_DEF_DLV_OPS_LISTEN, &self->ops_listen))
        goto fail;
    if (zh_config_int ("ZHOOK_CONCURRENCY", ZH_DEF_CONCURRENCY, 1, DLV_CONCURRENCY_MAX, &v))
        goto fail;
    self->concurrency = (uint32_t)v;
    if (zh_config_int ("ZHOOK_PREFETCH", self->concurrency, 0, DLV_PREFETCH_MAX, &v))
        goto fail;
    self->prefetch = (uint32_t)v;
    if (zh_config_int ("ZHOOK_HEARTBEAT_MS", ZH_DEF_HEARTBEAT_MS, 100, 60000, &v))
        goto fail;
    self->heartbeat_ms = (uint32_t)v;
    if (zh_config_int ("ZHOOK_SHUTDOWN_GRACE_MS", ZH_DEF_SHUTDOWN_GRACE_MS, 0, 600000, &v))
        goto fail;
    self->shutdown_grace_ms = (uint32_t)v;
    if (zh_config_int ("ZHOOK_RESPONSE_BODY_MAX", ZH_DEF_RESPONSE_BODY_MAX, 0, DLV_BODY_MAX_LIMIT,
                       &v))
        goto fail;
    self->response_body_max = (size_t)v;
    if (zh_config_bool ("ZHOOK_ALLOW_PRIVATE_TARGETS", ZH_DEF_ALLOW_PRIVATE_TARGETS != 0,
                        &self->allow_private_targets))
        goto fail;
    if (zh_config_string ("ZHOOK_ALLOWED_CIDRS", NULL, &self->allowed_cidrs) ||
        s_allowed_cidrs_check (self) ||
        zh_config_string ("ZHOOK_EGRESS_PROXY", NULL, &self->egress_proxy) ||
        s_egress_proxy_check (self))
        goto fail;
    if (zh_config_string ("ZHOOK_SIGNING_SECRET", NULL, &self->signing_secret))
        goto fail;
    if (self->signing_secret && !*self->signing_secret) {
        free (self->signing_secret);
        self->signing_secret = NULL;
    }
    if (self->signing_secret && !zh_webhook_keys_valid (self->signing_secret)) {
        /* the value itself is a secret: name the variable, never echo it */
        zh_error ("configuration: invalid value", "s:variable", "ZHOOK_SIGNING_SECRET",
                  "s:expected", "whsec_/whsk_ keys (base64), up to 4 separated by single spaces",
                  NULL);
        goto fail;
    }
    if (zh_config_instance_id ("dlv", &self->instance_id))
        goto fail;
    if (zh_config_int ("ZHOOK_HOST_CONCURRENCY", ZH_DEF_HOST_CONCURRENCY, 1, self->concurrency, &v))
        goto fail;
    self->host_concurrency = (uint32_t)v;
    if (zh_config_int ("ZHOOK_CIRCUIT_FAILURES", ZH_DEF_CIRCUIT_FAILURES, 0, 1000, &v))
        goto fail;
    self->circuit_failures = (uint32_t)v;
    if (zh_config_int ("ZHOOK_CIRCUIT_COOLDOWN_MS", ZH_DEF_CIRCUIT_COOLDOWN_MS, 100, 3600000, &v))
        goto fail;
    self->circuit_cooldown_ms = (uint32_t)v;
    free (level);
    free (host);
    return self;

fail:
    free (level);
    free (host);
    dlv_config_destroy (&self);
    return NULL;
}

void
dlv_config_destroy (dlv_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dlv_config_t *self = *self_p;
    zh_curve_config_clear (&self->curve);
    free (self->dispatch_endpoint);
    free (self->results_endpoint);
    free (self->ops_listen);
    free (self->allowed_cidrs);
    if (self->egress_proxy) {
        explicit_bzero (self->egress_proxy, strlen (self->egress_proxy)); /* may hold credentials */
        free (self->egress_proxy);
    }
    if (self->signing_secret) {
        explicit_bzero (self->signing_secret, strlen (self->signing_secret));
        free (self->signing_secret);
    }
    free (self->instance_id);
    free (self);
    *self_p = NULL;
}
