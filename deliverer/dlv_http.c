/*  dlv_http.c — libcurl multi engine: attempts in, proto_result_t out.
 *
 *  Slots are a fixed array of `concurrency` entries with a stack of free
 *  indices; an easy handle is created the first time its slot is used and
 *  then reset and reused, so a steady load allocates only the header list
 *  and the (capped) response body per attempt. The SSRF guard sits in
 *  CURLOPT_OPENSOCKETFUNCTION, which sees every resolved address before any
 *  SYN is sent, so a DNS answer that changes between check and connect
 *  cannot slip past it. */
#include "deliverer/dlv_http.h"
#include "common/zh_clock.h"
#include "common/zh_defaults.h"
#include "common/zh_log.h"
#include "deliverer/dlv_sign.h"

#include <arpa/inet.h>
#include <assert.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_RETRY_AFTER_CAP_MS (10LL * 365 * 24 * 3600 * 1000)

typedef struct {
    dlv_http_t *owner;
    CURL *easy; // reused across attempts; NULL until first use
    proto_dispatch_t *dispatch; // the attempt in flight, NULL when the slot is free
    struct curl_slist *headers; // request headers of this attempt
    char *body; // first bytes of the response body
    size_t body_len; // bytes in body, <= owner->body_max
    bool blocked; // the SSRF guard refused an address of this attempt
    int64_t start_us; // monotonic start, for latency
} s_slot_t;

struct _dlv_http_t {
    CURLM *multi;
    s_slot_t *slots; // capacity entries
    uint32_t *free_stack; // indices of free slots
    uint32_t free_count; // entries in free_stack
    uint32_t capacity; // ZHOOK_CONCURRENCY
    size_t body_max; // ZHOOK_RESPONSE_BODY_MAX
    bool allow_private; // ZHOOK_ALLOW_PRIVATE_TARGETS
    char *default_secret; // ZHOOK_SIGNING_SECRET or NULL
    char *instance_id; // result.deliverer
    char user_agent[32]; // "zhook/<version>"
    dlv_http_done_fn *done;
    void *done_arg;
};

/* --- pure helpers -------------------------------------------------------- */

static bool
s_ipv4_blocked (uint32_t a)
{
    return (a >> 24) == 0 /* 0.0.0.0/8 "this network" */
           || (a >> 24) == 10 /* 10/8 RFC 1918 */
           || (a & 0xFFC00000u) == 0x64400000u /* 100.64/10 CGNAT */
           || (a >> 24) == 127 /* loopback */
           || (a & 0xFFFF0000u) == 0xA9FE0000u /* 169.254/16 link-local, cloud metadata */
           || (a & 0xFFF00000u) == 0xAC100000u /* 172.16/12 RFC 1918 */
           || (a & 0xFFFF0000u) == 0xC0A80000u /* 192.168/16 RFC 1918 */
           || (a >> 28) >= 0xE; /* 224/4 multicast, 240/4 reserved + broadcast */
}

static uint32_t
s_v4_at (const uint8_t *b)
{
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) | ((uint32_t)b[2] << 8) | b[3];
}

static bool
s_zero (const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return false;
    return true;
}

bool
dlv_http_address_blocked (const struct sockaddr *sa)
{
    if (!sa)
        return true;
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in in;
        memcpy (&in, sa, sizeof in);
        return s_ipv4_blocked (ntohl (in.sin_addr.s_addr));
    }
    if (sa->sa_family != AF_INET6)
        return true;
    struct sockaddr_in6 in6;
    memcpy (&in6, sa, sizeof in6);
    const uint8_t *b = in6.sin6_addr.s6_addr;
    if (s_zero (b, 12))
        return true; /* ::, ::1, IPv4-compatible ::/96 */
    if (s_zero (b, 10) && b[10] == 0xff && b[11] == 0xff)
        return s_ipv4_blocked (s_v4_at (b + 12)); /* IPv4-mapped */
    if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && s_zero (b + 4, 8))
        return s_ipv4_blocked (s_v4_at (b + 12)); /* NAT64 well-known prefix */
    if (b[0] == 0x20 && b[1] == 0x02)
        return s_ipv4_blocked (s_v4_at (b + 2)); /* 6to4 embeds the IPv4 router */
    return (b[0] & 0xfe) == 0xfc /* fc00::/7 unique local */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) /* fe80::/10 link-local */
           || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) /* fec0::/10 site-local */
           || b[0] == 0xff; /* ff00::/8 multicast */
}

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

static curl_socket_t
s_on_open_socket (void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    s_slot_t *slot = clientp;
    (void)purpose;
    struct sockaddr_storage ss;
    memset (&ss, 0, sizeof ss);
    size_t len = address->addrlen < sizeof ss ? address->addrlen : sizeof ss;
    memcpy (&ss, &address->addr, len);
    if (dlv_http_address_blocked ((const struct sockaddr *)&ss)) {
        slot->blocked = true;
        return CURL_SOCKET_BAD;
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
    self->allow_private = cfg->allow_private_targets;
    self->done = done;
    self->done_arg = done_arg;
    snprintf (self->user_agent, sizeof self->user_agent, "zhook/%s", ZH_VERSION);
    self->slots = calloc (self->capacity, sizeof *self->slots);
    self->free_stack = calloc (self->capacity, sizeof *self->free_stack);
    self->instance_id = strdup (cfg->instance_id);
    if (cfg->signing_secret)
        self->default_secret = strdup (cfg->signing_secret);
    self->multi = curl_multi_init ();
    if (!self->slots || !self->free_stack || !self->instance_id || !self->multi ||
        (cfg->signing_secret && !self->default_secret)) {
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

/* Returns the slot to the free stack; the dispatch and buffers are freed. */
static void
s_slot_release (dlv_http_t *self, s_slot_t *slot)
{
    curl_multi_remove_handle (self->multi, slot->easy);
    curl_slist_free_all (slot->headers);
    slot->headers = NULL;
    free (slot->body);
    slot->body = NULL;
    slot->body_len = 0;
    slot->blocked = false;
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
    const char *secret = (d->secret && *d->secret) ? d->secret : self->default_secret;
    if (secret) {
        char sig[DLV_SIGN_MAX];
        if (dlv_sign (secret, d->id, timestamp, d->payload, d->payload_size, sig, sizeof sig)) {
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

int
dlv_http_start (dlv_http_t *self, proto_dispatch_t **dispatch_p)
{
    assert (dispatch_p && *dispatch_p);
    if (self->free_count == 0)
        return -1;
    uint32_t index = self->free_stack[self->free_count - 1];
    s_slot_t *slot = &self->slots[index];
    if (!slot->easy) {
        slot->easy = curl_easy_init ();
        if (!slot->easy)
            return -1;
    }
    else
        curl_easy_reset (slot->easy);
    self->free_count--;
    slot->dispatch = *dispatch_p;
    *dispatch_p = NULL;
    slot->start_us = zh_clock_mono_us ();
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
    if (curl_easy_setopt (e, CURLOPT_URL, d->url) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_TIMEOUT_MS, (long)d->timeout_ms) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_POST, 1L) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)d->payload_size) !=
            CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_POSTFIELDS, d->payload ? (const char *)d->payload : empty) !=
            CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_HTTPHEADER, slot->headers) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_USERAGENT, self->user_agent) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_WRITEFUNCTION, s_on_body) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_WRITEDATA, slot) != CURLE_OK ||
        curl_easy_setopt (e, CURLOPT_PRIVATE, slot) != CURLE_OK)
        goto refuse;
    if (!self->allow_private &&
        (curl_easy_setopt (e, CURLOPT_OPENSOCKETFUNCTION, s_on_open_socket) != CURLE_OK ||
         curl_easy_setopt (e, CURLOPT_OPENSOCKETDATA, slot) != CURLE_OK))
        goto refuse;
    if (curl_multi_add_handle (self->multi, e) != CURLM_OK)
        goto refuse;
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

int
dlv_http_perform (dlv_http_t *self)
{
    int running = 0;
    if (curl_multi_perform (self->multi, &running) != CURLM_OK)
        return -1;
    int reported = 0;
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
            error = slot->blocked ? "blocked_destination" : dlv_http_error_name (code);
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
        return -1;
    return ms;
}

void
dlv_http_abort_all (dlv_http_t *self)
{
    for (uint32_t i = 0; i < self->capacity; i++)
        if (self->slots[i].dispatch)
            s_finish (self, &self->slots[i], 0, "aborted", -1);
}
