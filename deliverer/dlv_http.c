/*  dlv_http.c — libcurl multi engine: attempts in, proto_result_t out.
 *
 *  Slots are a fixed array of `concurrency` entries with a stack of free
 *  indices; an easy handle is created the first time its slot is used and
 *  then reused with the options all attempts share (set once; each attempt
 *  sets only URL, timeout, body and headers), so a steady load allocates
 *  only the header list and the (capped) response body per attempt. The SSRF guard
 *  (common/zh_netguard) sits in CURLOPT_OPENSOCKETFUNCTION, which sees every
 *  resolved address before any SYN is sent, so a DNS answer that changes
 *  between check and connect cannot slip past it.
 *
 *  With ZHOOK_EGRESS_PROXY every connection goes to the proxy, so the socket
 *  callback would only see the proxy's address. The destination is then
 *  checked before the transfer starts: a literal host at once, a name by
 *  resolving it (getaddrinfo_a, polled from dlv_http_perform so the loop
 *  never blocks) and refusing it when any of its addresses is refused. The
 *  proxy resolves the name again when it connects; a DNS answer that changes
 *  in between (rebinding) is the proxy's own policy to stop, which is why a
 *  proxy used for egress must refuse private destinations itself.
 *
 *  Hostile receivers: at most body_max bytes of a response are kept, and a
 *  transfer is cut once the body runs S_BODY_DISCARD_MAX past that (the
 *  status is known by then, so the attempt ends as that HTTP response);
 *  more than S_HEADERS_MAX response headers or S_HEADER_BYTES_MAX bytes of
 *  them end it with "response_headers_too_large"; CURLOPT_TIMEOUT_MS bounds
 *  the whole transfer, so a receiver trickling one byte a second is cut at
 *  the attempt's timeout. Per attempt memory is therefore bounded by the
 *  caps whatever a receiver sends. */
#include "deliverer/dlv_http.h"
#include "common/zh_clock.h"
#include "common/zh_defaults.h"
#include "common/zh_log.h"
#include "common/zh_netguard.h"
#include "common/zh_trace.h"
#include "common/zh_webhook.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_RETRY_AFTER_CAP_MS (10LL * 365 * 24 * 3600 * 1000)
#define S_BODY_DISCARD_MAX (64 * 1024) /* body bytes read and dropped past body_max */
#define S_HEADERS_MAX 100 /* response header lines per attempt */
#define S_HEADER_BYTES_MAX (16 * 1024) /* response header bytes per attempt */
#define S_RESOLVE_POLL_MS 10 /* how often a pending proxy-mode resolution is polled */

/* Reasons the guard gives (zh_netguard_check), one blocked_total series each. */
static const char *const s_block_reasons[] = {
    "loopback",  "private",  "cgnat", "link_local", "multicast", "unspecified",
    "broadcast", "reserved", "ula",   "zone_id",    "invalid",   "unsupported_family",
    "other",
};
#define S_BLOCK_REASONS (sizeof s_block_reasons / sizeof *s_block_reasons)

/* A proxy-mode name resolution: getaddrinfo_a reads these until it is done,
 * so it outlives an attempt that ends first (timeout, abort) on the orphan
 * list. */
typedef struct _s_resolve_t {
    struct gaicb cb; // request; cb.ar_result holds the answer
    struct addrinfo hints; // AF_UNSPEC, SOCK_STREAM
    struct _s_resolve_t *next; // orphan list link
    char host[]; // the name being resolved
} s_resolve_t;

typedef struct {
    dlv_http_t *owner;
    CURL *easy; // reused across attempts; NULL until first use
    proto_dispatch_t *dispatch; // the attempt in flight, NULL when the slot is free
    struct curl_slist *headers; // request headers of this attempt
    char *body; // first bytes of the response body
    size_t body_len; // bytes in body, <= owner->body_max
    const char *blocked; // reason the SSRF guard refused an address, or NULL
    char blocked_addr[INET6_ADDRSTRLEN]; // that address, for the log
    s_resolve_t *resolve; // proxy mode: destination name being resolved, or NULL
    bool in_multi; // the easy handle was added to the multi handle
    uint64_t body_seen; // response body bytes received
    bool body_cut; // stopped reading a body that ran past the cap
    uint32_t header_count; // response header lines received
    size_t header_bytes; // response header bytes received
    bool headers_cut; // stopped at the header caps
    int64_t start_us; // monotonic start, for latency
} s_slot_t;

struct _dlv_http_t {
    CURLM *multi;
    s_slot_t *slots; // capacity entries
    uint32_t *free_stack; // indices of free slots
    uint32_t free_count; // entries in free_stack
    uint32_t capacity; // ZHOOK_CONCURRENCY
    size_t body_max; // ZHOOK_RESPONSE_BODY_MAX
    zh_netguard_t *guard; // ZHOOK_ALLOW_PRIVATE_TARGETS + ZHOOK_ALLOWED_CIDRS
    char *proxy; // ZHOOK_EGRESS_PROXY or NULL
    s_resolve_t *orphans; // resolutions whose attempt ended before they did
    uint32_t resolving; // slots waiting on a proxy-mode resolution
    zh_counter_t *m_blocked[S_BLOCK_REASONS]; // blocked_total{reason}, NULL until metrics_init
    zh_counter_t *m_cut_body; // responses_cut_total{cap="body"}
    zh_counter_t *m_cut_headers; // responses_cut_total{cap="headers"}
    char *default_secret; // ZHOOK_SIGNING_SECRET or NULL
    char *instance_id; // result.deliverer
    char user_agent[32]; // "zhook/<version>"
    dlv_http_done_fn *done;
    void *done_arg;
};

/* --- pure helpers -------------------------------------------------------- */

int64_t
dlv_http_retry_after_ms (const char *value, int64_t now_ms)
{
    if (!value)
        return -1;
    while (*value == ' ' || *value == '\t')
        value++;
    size_t len = strlen (value);
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
    if (len == 0 || len > 64)
        return -1;
    char text[65];
    memcpy (text, value, len);
    text[len] = 0;

    if (text[0] >= '0' && text[0] <= '9') {
        int64_t seconds = 0;
        for (size_t i = 0; i < len; i++) {
            if (text[i] < '0' || text[i] > '9')
                return -1;
            if (seconds <= S_RETRY_AFTER_CAP_MS / 1000)
                seconds = seconds * 10 + (text[i] - '0');
        }
        int64_t ms = seconds > S_RETRY_AFTER_CAP_MS / 1000 ? S_RETRY_AFTER_CAP_MS : seconds * 1000;
        return ms;
    }
    /* an HTTP-date always starts with the day name ("Sun, 06 Nov 1994 ...") */
    if (!((text[0] >= 'A' && text[0] <= 'Z') || (text[0] >= 'a' && text[0] <= 'z')))
        return -1;
    time_t t = curl_getdate (text, NULL);
    if (t == (time_t)-1 || t < 0)
        return -1;
    if ((int64_t)t > (INT64_MAX / 1000) - 1)
        return S_RETRY_AFTER_CAP_MS;
    int64_t ms = (int64_t)t * 1000 - now_ms;
    if (ms < 0)
        return 0;
    return ms > S_RETRY_AFTER_CAP_MS ? S_RETRY_AFTER_CAP_MS : ms;
}

const char *
dlv_http_error_name (CURLcode code)
{
    switch (code) {
    case CURLE_OK:
        return NULL;
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_CONNECT:
        return "connect";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "dns";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return "tls";
    default:
        return "network";
    }
}

/* A heap copy of the captured body that is valid UTF-8 without NUL (it ends
 * up in msgpack strings and JSON): each byte of a bad or truncated sequence
 * becomes '?'. */
static char *
s_body_text (const char *buf, size_t len)
{
    char *out = malloc (len + 1);
    if (!out)
        return NULL;
    const unsigned char *s = (const unsigned char *)buf;
    size_t i = 0, o = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t need = 0;
        uint32_t min = 0;
        if (c >= 0x01 && c < 0x80) {
            out[o++] = (char)c;
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF)
            need = 1, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF)
            need = 2, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4)
            need = 3, min = 0x10000;
        bool ok = need > 0;
        uint32_t cp = need ? (uint32_t)(c & (0x3F >> need)) : 0;
        for (size_t k = 1; ok && k <= need; k++) {
            if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        ok = ok && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        if (ok) {
            memcpy (out + o, s + i, need + 1);
            o += need + 1;
            i += need + 1;
        }
        else {
            out[o++] = '?';
            i++;
        }
    }
    out[o] = 0;
    return out;
}

/* --- curl callbacks ----------------------------------------------------- */

static size_t
s_on_body (char *data, size_t size, size_t nmemb, void *userp)
{
    s_slot_t *slot = userp;
    size_t n = size * nmemb;
    slot->body_seen += n;
    if (slot->body_seen > (uint64_t)slot->owner->body_max + S_BODY_DISCARD_MAX) {
        /* the status is known: end the attempt as that response rather
         * than read a body of any size (curl reports CURLE_WRITE_ERROR) */
        slot->body_cut = true;
        return 0;
    }
    long status = 0;
    curl_easy_getinfo (slot->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status <= 299)
        return n; /* a success keeps no body */
    size_t room = slot->owner->body_max - slot->body_len;
    size_t take = n < room ? n : room;
    if (take) {
        if (!slot->body) {
            slot->body = malloc (slot->owner->body_max);
            if (!slot->body)
                return n; /* keep the attempt; lose only the excerpt */
        }
        memcpy (slot->body + slot->body_len, data, take);
        slot->body_len += take;
    }
    return n; /* the rest is read and discarded */
}

/* Counts response header lines (of every response of the attempt: 1xx,
 * the final one) and stops at the caps; curl keeps them for
 * curl_easy_header, so the caps also bound that store. */
static size_t
s_on_header (char *data, size_t size, size_t nmemb, void *userp)
{
    s_slot_t *slot = userp;
    (void)data;
    size_t n = size * nmemb;
    slot->header_count++;
    slot->header_bytes += n;
    if (slot->header_count > S_HEADERS_MAX || slot->header_bytes > S_HEADER_BYTES_MAX) {
        slot->headers_cut = true;
        return 0;
    }
    return n;
}

/* Notes the first refused address of an attempt. */
static void
s_note_blocked (s_slot_t *slot, const char *reason, const struct sockaddr *sa)
{
    if (slot->blocked)
        return;
    slot->blocked = reason;
    slot->blocked_addr[0] = 0;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
                   slot->blocked_addr, sizeof slot->blocked_addr);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
                   slot->blocked_addr, sizeof slot->blocked_addr);
}

static curl_socket_t
s_on_open_socket (void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    s_slot_t *slot = clientp;
    (void)purpose;
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    size_t len = address->addrlen < sizeof ss ? address->addrlen : sizeof ss;
    memcpy (&ss, &address->addr, len);
    const char *reason = zh_netguard_check (slot->owner->guard, (const struct sockaddr *)&ss);
    if (reason) {
        s_note_blocked (slot, reason, (const struct sockaddr *)&ss);
        return CURL_SOCKET_BAD; /* no SYN is sent */
    }
    return socket (address->family, address->socktype, address->protocol);
}

/* --- life cycle ---------------------------------------------------------- */

dlv_http_t *
dlv_http_new (const dlv_config_t *cfg, dlv_http_done_fn *done, void *done_arg)
{
    assert (cfg && done && cfg->concurrency >= 1 && cfg->instance_id);
    dlv_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->capacity = cfg->concurrency;
    self->body_max = cfg->response_body_max;
    self->done = done;
    self->done_arg = done_arg;
    snprintf (self->user_agent, sizeof self->user_agent, "zhook/%s", ZH_VERSION);
    self->slots = calloc (self->capacity, sizeof *self->slots);
    self->free_stack = calloc (self->capacity, sizeof *self->free_stack);
    self->instance_id = strdup (cfg->instance_id);
    if (cfg->signing_secret)
        self->default_secret = strdup (cfg->signing_secret);
    if (cfg->egress_proxy)
        self->proxy = strdup (cfg->egress_proxy);
    const char *bad_cidr = NULL;
    self->guard = zh_netguard_new (cfg->allow_private_targets, cfg->allowed_cidrs, &bad_cidr);
    if (!self->guard && bad_cidr)
        zh_error ("invalid ZHOOK_ALLOWED_CIDRS entry", NULL);
    self->multi = curl_multi_init ();
    if (!self->slots || !self->free_stack || !self->instance_id || !self->multi || !self->guard ||
        (cfg->signing_secret && !self->default_secret) || (cfg->egress_proxy && !self->proxy)) {
        dlv_http_destroy (&self);
        return NULL;
    }
    /* connection pool sized for every slot, so keep-alive connections survive */
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS, (long)self->capacity);
    for (uint32_t i = 0; i < self->capacity; i++) {
        self->slots[i].owner = self;
        self->free_stack[i] = self->capacity - 1 - i;
    }
    self->free_count = self->capacity;
    return self;
}

/* Frees a resolution that is done, else queues it on the orphan list
 * until it is (getaddrinfo_a still writes into it). */
static void
s_resolve_drop (dlv_http_t *self, s_resolve_t *r)
{
    if (!r)
        return;
    if (gai_error (&r->cb) == EAI_INPROGRESS && gai_cancel (&r->cb) == EAI_NOTCANCELED) {
        r->next = self->orphans;
        self->orphans = r;
        return;
    }
    if (r->cb.ar_result)
        freeaddrinfo (r->cb.ar_result);
    free (r);
}

/* Frees the orphans whose resolution has finished; with wait, first waits
 * for all of them (destroy). */
static void
s_orphans_reap (dlv_http_t *self, bool wait)
{
    s_resolve_t **link = &self->orphans;
    while (*link) {
        s_resolve_t *r = *link;
        if (wait)
            while (gai_error (&r->cb) == EAI_INPROGRESS) {
                const struct gaicb *list[1] = {&r->cb};
                gai_suspend (list, 1, NULL);
            }
        if (gai_error (&r->cb) == EAI_INPROGRESS) {
            link = &r->next;
            continue;
        }
        *link = r->next;
        if (r->cb.ar_result)
            freeaddrinfo (r->cb.ar_result);
        free (r);
    }
}

/* Returns the slot to the free stack; the dispatch and buffers are freed. */
static void
s_slot_release (dlv_http_t *self, s_slot_t *slot)
{
    if (slot->in_multi)
        curl_multi_remove_handle (self->multi, slot->easy);
    slot->in_multi = false;
    s_resolve_drop (self, slot->resolve);
    slot->resolve = NULL;
    curl_slist_free_all (slot->headers);
    slot->headers = NULL;
    free (slot->body);
    slot->body = NULL;
    slot->body_len = 0;
    slot->blocked = NULL;
    slot->body_seen = 0;
    slot->body_cut = false;
    slot->header_count = 0;
    slot->header_bytes = 0;
    slot->headers_cut = false;
    proto_dispatch_destroy (&slot->dispatch);
    self->free_stack[self->free_count++] = (uint32_t)(slot - self->slots);
}

void
dlv_http_destroy (dlv_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dlv_http_t *self = *self_p;
    for (uint32_t i = 0; self->slots && i < self->capacity; i++) {
        s_slot_t *slot = &self->slots[i];
        if (slot->dispatch)
            s_slot_release (self, slot);
        if (slot->easy)
            curl_easy_cleanup (slot->easy);
    }
    if (self->multi)
        curl_multi_cleanup (self->multi);
    s_orphans_reap (self, true);
    zh_netguard_destroy (&self->guard);
    if (self->proxy) {
        explicit_bzero (self->proxy, strlen (self->proxy)); /* may hold credentials */
        free (self->proxy);
    }
    if (self->default_secret) {
        explicit_bzero (self->default_secret, strlen (self->default_secret));
        free (self->default_secret);
    }
    free (self->instance_id);
    free (self->free_stack);
    free (self->slots);
    free (self);
    *self_p = NULL;
}

uint32_t
dlv_http_in_flight (const dlv_http_t *self)
{
    return self->capacity - self->free_count;
}

uint32_t
dlv_http_free_slots (const dlv_http_t *self)
{
    return self->free_count;
}

/* --- one attempt --------------------------------------------------------- */

/* A field name as RFC 9110 token. */
static bool
s_token (const char *s)
{
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr ("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

/* No CR, LF (no header injection) and no other control but HTAB. */
static bool
s_field_value (const char *s)
{
    if (!s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/* Names the deliverer sets itself or that would break framing. */
static bool
s_reserved (const char *name)
{
    static const char *const names[] = {"host",
                                        "content-length",
                                        "transfer-encoding",
                                        "connection",
                                        "content-type",
                                        "user-agent",
                                        "expect",
                                        "traceparent", /* zhook sends the trace context */
                                        "tracestate",
                                        NULL};
    for (const char *const *n = names; *n; n++)
        if (!strcasecmp (name, *n))
            return true;
    return !strncasecmp (name, "webhook-", 8);
}

static int
s_append (struct curl_slist **list, const char *name, const char *value)
{
    size_t n = strlen (name) + strlen (value) + 3;
    char *line = malloc (n);
    if (!line)
        return -1;
    /* "Name;" is curl's way to send a header with an empty value */
    if (*value)
        snprintf (line, n, "%s: %s", name, value);
    else
        snprintf (line, n, "%s;", name);
    struct curl_slist *grown = curl_slist_append (*list, line);
    free (line);
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* Builds the request headers; sets *bad_secret when the message's secret
 * cannot be used. Returns 0, or -1 on ENOMEM or an unusable secret. */
static int
s_build_headers (dlv_http_t *self, s_slot_t *slot, int64_t timestamp, bool *bad_secret)
{
    const proto_dispatch_t *d = slot->dispatch;
    struct curl_slist **list = &slot->headers;
    *bad_secret = false;
    if (s_append (list, "Content-Type", "application/json"))
        return -1;
    for (size_t i = 0; i < d->header_count; i++) {
        const proto_header_t *h = &d->headers[i];
        if (!s_token (h->name) || !s_field_value (h->value) || s_reserved (h->name)) {
            zh_warn ("message header skipped", "s:id", d->id, "s:header",
                     s_token (h->name) ? h->name : "(invalid name)", NULL);
            continue;
        }
        if (s_append (list, h->name, h->value))
            return -1;
    }
    char ts[24];
    snprintf (ts, sizeof ts, "%lld", (long long)timestamp);
    if (s_append (list, "webhook-id", d->id) || s_append (list, "webhook-timestamp", ts))
        return -1;
    if (d->traceparent && s_append (list, "traceparent", d->traceparent))
        return -1;
    const char *secret = (d->secret && *d->secret) ? d->secret : self->default_secret;
    if (secret) {
        char sig[ZH_WEBHOOK_SIG_MAX];
        if (zh_webhook_sign (secret, d->id, timestamp, d->payload, d->payload_size, sig,
                             sizeof sig)) {
            *bad_secret = true;
            return -1;
        }
        int rc = s_append (list, "webhook-signature", sig);
        explicit_bzero (sig, sizeof sig);
        if (rc)
            return -1;
    }
    /* "Expect:" with nothing after the colon removes curl's 100-continue
     * header (where "Expect;" would send an empty one) */
    struct curl_slist *grown = curl_slist_append (*list, "Expect:");
    if (!grown)
        return -1;
    *list = grown;
    return 0;
}

/* Fills and reports a result, then frees the slot. */
static void
s_finish (dlv_http_t *self, s_slot_t *slot, uint16_t status, const char *error,
          int64_t retry_after_ms)
{
    const proto_dispatch_t *d = slot->dispatch;
    proto_result_t *r = proto_result_new ();
    int64_t latency_us = zh_clock_mono_us () - slot->start_us;
    if (r) {
        r->id = strdup (d->id);
        r->attempt = d->attempt;
        r->deliverer = strdup (self->instance_id);
        r->status_code = status;
        r->latency_ms = latency_us <= 0                  ? 0
                        : latency_us / 1000 > UINT32_MAX ? UINT32_MAX
                                                         : (uint32_t)(latency_us / 1000);
        r->error = error ? strdup (error) : NULL;
        r->retry_after_ms = retry_after_ms;
        r->body = NULL;
        if (!error && (status < 200 || status > 299) && slot->body_len)
            r->body = s_body_text (slot->body, slot->body_len);
        r->at_ms = zh_clock_wall_ms ();
    }
    if (!r || !r->id || !r->deliverer || (error && !r->error))
        zh_error ("out of memory reporting an attempt; its lease will bring it back", "s:id", d->id,
                  NULL);
    else
        self->done (self->done_arg, d, r);
    proto_result_destroy (&r);
    s_slot_release (self, slot);
}

/* Reports an attempt the SSRF guard refused: counted by reason, logged
 * with the refused address (never the URL: it may carry credentials). */
static void
s_finish_blocked (dlv_http_t *self, s_slot_t *slot)
{
    const char *reason = slot->blocked ? slot->blocked : "other";
    size_t i = 0;
    while (i < S_BLOCK_REASONS - 1 && strcmp (s_block_reasons[i], reason))
        i++;
    if (self->m_blocked[i])
        zh_counter_inc (self->m_blocked[i]);
    zh_warn ("delivery refused by the SSRF guard", "s:id", slot->dispatch->id, "s:reason", reason,
             "s:address", slot->blocked_addr[0] ? slot->blocked_addr : "(host)", NULL);
    s_finish (self, slot, 0, "blocked_destination", -1);
}

/* True when host (URL form, IPv6 in brackets) is an address literal. */
static bool
s_host_literal (const char *host)
{
    if (host[0] == '[' || strchr (host, ':'))
        return true;
    char buf[256];
    size_t len = strlen (host);
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy (buf, host, len + 1);
    if (len > 1 && buf[len - 1] == '.')
        buf[len - 1] = 0;
    struct in_addr a;
    return inet_aton (buf, &a) == 1;
}

typedef enum { S_PRE_GO, S_PRE_PENDING, S_PRE_DONE } s_precheck_t;

/* Proxy mode: the socket callback only sees the proxy, so the destination
 * is checked here. S_PRE_GO: start the transfer now; S_PRE_PENDING: the
 * name is being resolved (slot->resolve); S_PRE_DONE: the attempt was
 * reported (refused, or the resolution could not start). */
static s_precheck_t
s_proxy_precheck (dlv_http_t *self, s_slot_t *slot)
{
    CURLU *u = curl_url ();
    char *host = NULL;
    if (!u || curl_url_set (u, CURLUPART_URL, slot->dispatch->url, 0) != CURLUE_OK ||
        curl_url_get (u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host) {
        /* curl fails the transfer itself, with the same parser */
        curl_url_cleanup (u);
        return S_PRE_GO;
    }
    curl_url_cleanup (u);
    s_precheck_t rc = S_PRE_GO;
    const char *reason = zh_netguard_check_host (self->guard, host);
    if (reason) {
        s_note_blocked (slot, reason, NULL);
        s_finish_blocked (self, slot);
        rc = S_PRE_DONE;
    }
    else if (!s_host_literal (host)) {
        size_t len = strlen (host);
        s_resolve_t *r = calloc (1, sizeof *r + len + 1);
        if (r) {
            memcpy (r->host, host, len + 1);
            r->hints.ai_family = AF_UNSPEC;
            r->hints.ai_socktype = SOCK_STREAM;
            r->cb.ar_name = r->host;
            r->cb.ar_request = &r->hints;
            struct gaicb *list[1] = {&r->cb};
            if (getaddrinfo_a (GAI_NOWAIT, list, 1, NULL) != 0) {
                free (r);
                r = NULL;
            }
        }
        if (r) {
            slot->resolve = r;
            rc = S_PRE_PENDING;
        }
        else {
            s_finish (self, slot, 0, "dns", -1);
            rc = S_PRE_DONE;
        }
    }
    curl_free (host);
    return rc;
}

/* Each attempt is a new child span of the producer's trace: the dispatch
 * carries the child from here on (sent, and seen by the done callback). A
 * traceparent that is not valid is dropped, not sent. */
static void
s_child_span (proto_dispatch_t *d)
{
    if (!d->traceparent)
        return;
    char child[ZH_TRACEPARENT_SIZE];
    if (zh_trace_child (d->traceparent, child, sizeof child, NULL, 0) == 0)
        memcpy (d->traceparent, child, sizeof child); /* a valid parent has the same length */
    else {
        free (d->traceparent);
        d->traceparent = NULL;
    }
}

/* A slot's easy handle with every option that is the same for all its
 * attempts: set once, not reset and set again per attempt (curl_easy_reset
 * and twenty setopts, several copying strings, were a good part of an
 * attempt's cost). dlv_http_start sets what differs: URL, timeout, body,
 * headers. NULL when curl refuses. */
static CURL *
s_easy_new (dlv_http_t *self, s_slot_t *slot)
{
    CURL *e = curl_easy_init ();
    if (!e)
        return NULL;
    if (curl_easy_setopt (e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        /* "" also keeps curl from reading proxies from the environment */
        curl_easy_setopt (e, CURLOPT_PROXY, self->proxy ? self->proxy : "") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_NOPROXY, "") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_PROXY_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_PROXY_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_USERAGENT, self->user_agent) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, s_on_body) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_WRITEDATA, slot) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_HEADERFUNCTION, s_on_header) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_HEADERDATA, slot) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_PRIVATE, slot) != CURLE_OK ||
        /* through a proxy every socket goes to the proxy: the destination
         * is checked by s_proxy_precheck instead */
        (!self->proxy &&
         (curl_easy_setopt (e, CURLOPT_OPENSOCKETFUNCTION, s_on_open_socket) != CURLE_OK ||
          curl_easy_setopt (e, CURLOPT_OPENSOCKETDATA, slot) != CURLE_OK))) {
        curl_easy_cleanup (e);
        return NULL;
    }
    return e;
}

int
dlv_http_start (dlv_http_t *self, proto_dispatch_t **dispatch_p)
{
    assert (dispatch_p && *dispatch_p);
    if (self->free_count == 0)
        return -1;
    uint32_t index = self->free_stack[self->free_count - 1];
    s_slot_t *slot = &self->slots[index];
    if (!slot->easy && !(slot->easy = s_easy_new (self, slot)))
        return -1;
    self->free_count--;
    slot->dispatch = *dispatch_p;
    *dispatch_p = NULL;
    slot->start_us = zh_clock_mono_us ();
    s_child_span (slot->dispatch);
    const proto_dispatch_t *d = slot->dispatch;

    bool bad_secret = false;
    if (s_build_headers (self, slot, zh_clock_wall_ms () / 1000, &bad_secret)) {
        if (bad_secret) {
            /* nothing can be sent unsigned: report it like any failed attempt */
            s_finish (self, slot, 0, "invalid_secret", -1);
            return 0;
        }
        goto refuse;
    }
    static const char empty[] = "";
    CURL *e = slot->easy;
    /* what differs between attempts; the rest was set once (s_easy_new) */
    if (curl_easy_setopt (e, CURLOPT_URL, d->url) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->payload_size) !=
            CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, d->payload ? (const char *)d->payload : empty) !=
            CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_HTTPHEADER, slot->headers) != CURLE_OK)
        goto refuse;
    if (self->proxy) {
        s_precheck_t pre = s_proxy_precheck (self, slot);
        if (pre == S_PRE_DONE)
            return 0;
        if (pre == S_PRE_PENDING) {
            self->resolving++;
            return 0;
        }
    }
    if (curl_multi_add_handle (self->multi, e) != CURLM_OK)
        goto refuse;
    slot->in_multi = true;
    return 0;

refuse:
    /* give the dispatch back untouched, the slot back to the stack */
    *dispatch_p = slot->dispatch;
    slot->dispatch = NULL;
    curl_slist_free_all (slot->headers);
    slot->headers = NULL;
    self->free_stack[self->free_count++] = index;
    return -1;
}

/* Proxy mode: moves the attempts whose destination name is resolved on to
 * the transfer, or reports them (refused, unresolvable, out of time). */
static int
s_poll_resolving (dlv_http_t *self)
{
    int reported = 0;
    int64_t now_us = zh_clock_mono_us ();
    for (uint32_t i = 0; i < self->capacity && self->resolving > 0; i++) {
        s_slot_t *slot = &self->slots[i];
        if (!slot->dispatch || !slot->resolve)
            continue;
        s_resolve_t *r = slot->resolve;
        int rc = gai_error (&r->cb);
        if (rc == EAI_INPROGRESS &&
            now_us - slot->start_us < (int64_t)slot->dispatch->timeout_ms * 1000)
            continue;
        self->resolving--;
        reported++;
        if (rc == EAI_INPROGRESS) {
            s_finish (self, slot, 0, "timeout", -1);
            continue;
        }
        if (rc != 0) {
            s_finish (self, slot, 0, "dns", -1);
            continue;
        }
        /* every address must pass: the proxy may connect to any of them */
        for (const struct addrinfo *ai = r->cb.ar_result; ai; ai = ai->ai_next) {
            const char *reason = zh_netguard_check (self->guard, ai->ai_addr);
            if (reason)
                s_note_blocked (slot, reason, ai->ai_addr);
        }
        if (slot->blocked) {
            s_finish_blocked (self, slot);
            continue;
        }
        s_resolve_drop (self, r);
        slot->resolve = NULL;
        if (curl_multi_add_handle (self->multi, slot->easy) != CURLM_OK) {
            s_finish (self, slot, 0, "network", -1);
            continue;
        }
        slot->in_multi = true;
        reported--; /* not reported after all: it is on its way */
    }
    return reported;
}

int
dlv_http_perform (dlv_http_t *self)
{
    int reported = 0;
    if (self->resolving > 0)
        reported += s_poll_resolving (self);
    if (self->orphans)
        s_orphans_reap (self, false);
    int running = 0;
    if (curl_multi_perform (self->multi, &running) != CURLM_OK)
        return -1;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read (self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        s_slot_t *slot = NULL;
        curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
        assert (slot && slot->dispatch && slot->easy == msg->easy_handle);
        CURLcode code = msg->data.result;
        long status = 0;
        int64_t retry_after = -1;
        const char *error = NULL;
        if (slot->headers_cut) {
            if (self->m_cut_headers)
                zh_counter_inc (self->m_cut_headers);
            zh_warn ("response headers over the cap; attempt ended", "s:id", slot->dispatch->id,
                     "i:headers", (int64_t)slot->header_count, "i:bytes",
                     (int64_t)slot->header_bytes, NULL);
            s_finish (self, slot, 0, "response_headers_too_large", -1);
            reported++;
            continue;
        }
        if (slot->blocked && code != CURLE_OK) {
            s_finish_blocked (self, slot);
            reported++;
            continue;
        }
        if (slot->body_cut && code == CURLE_WRITE_ERROR) {
            /* the body ran past the cap: the response is what we got */
            if (self->m_cut_body)
                zh_counter_inc (self->m_cut_body);
            code = CURLE_OK;
        }
        if (code == CURLE_OK) {
            curl_easy_getinfo (slot->easy, CURLINFO_RESPONSE_CODE, &status);
            if (status < 0 || status > 999)
                status = 0;
            struct curl_header *h = NULL;
            if (curl_easy_header (slot->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) ==
                    CURLHE_OK &&
                h)
                retry_after = dlv_http_retry_after_ms (h->value, zh_clock_wall_ms ());
        }
        else
            error = dlv_http_error_name (code);
        s_finish (self, slot, (uint16_t)status, error, retry_after);
        reported++;
    }
    return reported;
}

int
dlv_http_wait (dlv_http_t *self, const int *fds, size_t n, int timeout_ms)
{
    assert (n <= DLV_HTTP_WAIT_FDS_MAX);
    struct curl_waitfd extra[DLV_HTTP_WAIT_FDS_MAX];
    for (size_t i = 0; i < n; i++)
        extra[i] = (struct curl_waitfd){.fd = fds[i], .events = CURL_WAIT_POLLIN, .revents = 0};
    if (timeout_ms < 0)
        timeout_ms = 0;
    CURLMcode rc = curl_multi_poll (self->multi, n ? extra : NULL, (unsigned)n, timeout_ms, NULL);
    return rc == CURLM_OK ? 0 : -1;
}

void
dlv_http_wakeup (dlv_http_t *self)
{
    curl_multi_wakeup (self->multi);
}

long
dlv_http_timeout (dlv_http_t *self)
{
    long ms = -1;
    if (curl_multi_timeout (self->multi, &ms) != CURLM_OK)
        ms = -1;
    /* pending proxy-mode resolutions are polled, not signalled */
    if (self->resolving > 0 && (ms < 0 || ms > S_RESOLVE_POLL_MS))
        ms = S_RESOLVE_POLL_MS;
    return ms;
}

void
dlv_http_abort_all (dlv_http_t *self)
{
    for (uint32_t i = 0; i < self->capacity; i++)
        if (self->slots[i].dispatch)
            s_finish (self, &self->slots[i], 0, "aborted", -1);
    self->resolving = 0;
}

int
dlv_http_metrics_init (dlv_http_t *self, zh_metrics_t *metrics)
{
    for (size_t i = 0; i < S_BLOCK_REASONS; i++) {
        char labels[64];
        snprintf (labels, sizeof labels, "reason=\"%s\"", s_block_reasons[i]);
        self->m_blocked[i] =
            zh_metrics_counter (metrics, "zhook_deliverer_blocked_total",
                                "Attempts refused by the SSRF guard, by reason", labels);
        if (!self->m_blocked[i])
            return -1;
    }
    const char *cut = "zhook_deliverer_responses_cut_total";
    const char *cut_help = "Responses cut short at the body or header caps";
    self->m_cut_body = zh_metrics_counter (metrics, cut, cut_help, "cap=\"body\"");
    self->m_cut_headers = zh_metrics_counter (metrics, cut, cut_help, "cap=\"headers\"");
    return self->m_cut_body && self->m_cut_headers ? 0 : -1;
}
