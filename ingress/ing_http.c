/*  ing_http.c — strict request checks, body reading and response writing
 *  over civetweb. */
#include "ingress/ing_http.h"
#include "common/zh_clock.h"

#include <arpa/inet.h>
#include <assert.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#define ING_READ_PIECE 16384 /* bytes asked of one mg_read: the deadline is checked between */

const char *const ing_http_security_headers[2 * ING_HTTP_SECURITY_HEADERS] = {
    "X-Content-Type-Options", "nosniff",     "Cache-Control",           "no-store",
    "X-Frame-Options",        "DENY",        "Content-Security-Policy", "default-src 'none'",
    "Referrer-Policy",        "no-referrer",
};

bool
ing_http_request_id_ok (const char *id)
{
    if (!id)
        return false;
    size_t n = strlen (id);
    if (n == 0 || n > ING_REQUEST_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return false;
    return true;
}

bool
ing_http_is_json (const char *content_type)
{
    if (!content_type)
        return false;
    const char *p = content_type;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp (p, "application/json", 16) != 0)
        return false;
    p += 16;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == 0 || *p == ';';
}

int
ing_http_parse_length (const char *text, uint64_t *length)
{
    if (!text || !*text)
        return -1;
    uint64_t value = 0;
    size_t digits = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || ++digits > 19)
            return -1; /* 19 digits cannot overflow 64 bits */
        value = value * 10 + (uint64_t)(*p - '0');
    }
    *length = value;
    return 0;
}

/* An RFC 9110 token character. */
static bool
s_tchar (unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr ("!#$%&'*+-.^_`|~", c));
}

static bool
s_name_ok (const char *name)
{
    if (!*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!s_tchar (*p))
            return false;
    return true;
}

/* Field values: visible bytes, spaces and tabs (obs-text 0x80+ allowed);
 * CR, LF, NUL and other controls are an injection attempt. */
static bool
s_value_ok (const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

ing_http_check_t
ing_http_check_headers (const struct mg_header *headers, int count, size_t max_body,
                        ing_http_framing_t *framing)
{
    memset (framing, 0, sizeof *framing);
    static const char *const singletons[] = {"Host", "Content-Type", "Authorization",
                                             "Idempotency-Key", "Origin"};
    enum { SINGLETONS = sizeof singletons / sizeof singletons[0] };
    int lengths = 0, encodings = 0, seen[SINGLETONS] = {0};
    ing_http_check_t rc = ING_HTTP_OK;
    for (int i = 0; i < count; i++) {
        const char *name = headers[i].name, *value = headers[i].value;
        if (!name || !value || !s_name_ok (name) || !s_value_ok (value))
            return ING_HTTP_BAD_HEADER;
        /* the first of two is what civetweb hands us, maybe not what a
         * proxy in front acted on */
        for (size_t k = 0; k < SINGLETONS; k++)
            if (!strcasecmp (name, singletons[k]) && ++seen[k] > 1)
                return ING_HTTP_DUP_HEADER;
        if (!strcasecmp (name, "Content-Length")) {
            if (++lengths > 1)
                return ING_HTTP_DUP_LENGTH;
            if (ing_http_parse_length (value, &framing->length))
                return ING_HTTP_BAD_LENGTH;
            framing->has_length = true;
        }
        else if (!strcasecmp (name, "Transfer-Encoding")) {
            if (++encodings > 1 || strcasecmp (value, "chunked") != 0)
                return ING_HTTP_BAD_TRANSFER_ENCODING;
            framing->chunked = true;
        }
        else if (!strcasecmp (name, "Content-Encoding")) {
            /* no decompression here: a compressed body would be read as
             * JSON garbage, and decompressing invites zip bombs */
            if (strcasecmp (value, "identity") != 0)
                rc = ING_HTTP_BAD_ENCODING;
        }
    }
    if (framing->has_length && framing->chunked)
        return ING_HTTP_LENGTH_AND_CHUNKED;
    if (rc != ING_HTTP_OK)
        return rc;
    if (framing->has_length && framing->length > (uint64_t)max_body)
        return ING_HTTP_TOO_LARGE;
    return ING_HTTP_OK;
}

int
ing_http_check_status (ing_http_check_t rc)
{
    switch (rc) {
    case ING_HTTP_OK:
        return 200;
    case ING_HTTP_BAD_ENCODING:
        return 415;
    case ING_HTTP_TOO_LARGE:
        return 413;
    default:
        return 400;
    }
}

const char *
ing_http_check_reason (ing_http_check_t rc)
{
    switch (rc) {
    case ING_HTTP_OK:
        return "ok";
    case ING_HTTP_BAD_LENGTH:
        return "bad_content_length";
    case ING_HTTP_DUP_LENGTH:
        return "duplicate_content_length";
    case ING_HTTP_LENGTH_AND_CHUNKED:
        return "length_and_chunked";
    case ING_HTTP_BAD_TRANSFER_ENCODING:
        return "bad_transfer_encoding";
    case ING_HTTP_BAD_HEADER:
        return "bad_header";
    case ING_HTTP_DUP_HEADER:
        return "duplicate_header";
    case ING_HTTP_BAD_ENCODING:
        return "content_encoding";
    case ING_HTTP_TOO_LARGE:
        return "body_too_large";
    default:
        return "other";
    }
}

const char *
ing_http_check_detail (ing_http_check_t rc)
{
    switch (rc) {
    case ING_HTTP_OK:
        return "ok";
    case ING_HTTP_BAD_LENGTH:
        return "Content-Length must be a plain decimal number";
    case ING_HTTP_DUP_LENGTH:
        return "Content-Length must appear at most once";
    case ING_HTTP_LENGTH_AND_CHUNKED:
        return "a request must not carry both Content-Length and Transfer-Encoding";
    case ING_HTTP_BAD_TRANSFER_ENCODING:
        return "the only Transfer-Encoding accepted is a single \"chunked\"";
    case ING_HTTP_BAD_HEADER:
        return "a header name is not a token or a header value holds control characters";
    case ING_HTTP_DUP_HEADER:
        return "Host, Content-Type, Authorization, Idempotency-Key and Origin must appear at most "
               "once";
    case ING_HTTP_BAD_ENCODING:
        return "request bodies must not be compressed (Content-Encoding: identity only)";
    case ING_HTTP_TOO_LARGE:
        return "the declared request body is larger than allowed";
    default:
        return "malformed request";
    }
}

bool
ing_http_json_depth_ok (const char *text, size_t size, int max_depth)
{
    int depth = 0;
    bool in_string = false;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte cannot end the string */
            else if (c == '"')
                in_string = false;
        }
        else if (c == '"')
            in_string = true;
        else if (c == '[' || c == '{') {
            if (++depth > max_depth)
                return false;
        }
        else if ((c == ']' || c == '}') && depth > 0)
            depth--;
    }
    return true;
}

/* --- body deadline watchdog ------------------------------------------- */

typedef struct {
    int fd; /* -1: free */
    int64_t deadline_ms; /* zh_clock_mono_ms */
    bool fired; /* read side shut down */
} s_slot_t;

struct _ing_http_watchdog_t {
    pthread_mutex_t mutex; /* guards slots: an fd is shut down only while registered */
    pthread_t thread;
    atomic_bool stop;
    s_slot_t slots[ING_HTTP_WATCHDOG_SLOTS];
};

static void *
s_watchdog_run (void *arg)
{
    ing_http_watchdog_t *self = arg;
    while (!atomic_load (&self->stop)) {
        struct timespec tick = {0, ING_HTTP_WATCHDOG_TICK_MS * 1000 * 1000};
        nanosleep (&tick, NULL);
        int64_t now = zh_clock_mono_ms ();
        pthread_mutex_lock (&self->mutex);
        for (size_t i = 0; i < ING_HTTP_WATCHDOG_SLOTS; i++) {
            s_slot_t *slot = &self->slots[i];
            if (slot->fd >= 0 && !slot->fired && now >= slot->deadline_ms) {
                shutdown (slot->fd, SHUT_RD);
                slot->fired = true;
            }
        }
        pthread_mutex_unlock (&self->mutex);
    }
    return NULL;
}

ing_http_watchdog_t *
ing_http_watchdog_new (void)
{
    ing_http_watchdog_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    for (size_t i = 0; i < ING_HTTP_WATCHDOG_SLOTS; i++)
        self->slots[i].fd = -1;
    pthread_mutex_init (&self->mutex, NULL);
    if (pthread_create (&self->thread, NULL, s_watchdog_run, self) != 0) {
        pthread_mutex_destroy (&self->mutex);
        free (self);
        return NULL;
    }
    return self;
}

void
ing_http_watchdog_destroy (ing_http_watchdog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_http_watchdog_t *self = *self_p;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

/* A slot for fd until deadline_ms, or -1 when all are taken. */
static int
s_watch (ing_http_watchdog_t *self, int fd, int64_t deadline_ms)
{
    int found = -1;
    pthread_mutex_lock (&self->mutex);
    for (int i = 0; i < ING_HTTP_WATCHDOG_SLOTS && found < 0; i++)
        if (self->slots[i].fd < 0) {
            self->slots[i] = (s_slot_t){fd, deadline_ms, false};
            found = i;
        }
    pthread_mutex_unlock (&self->mutex);
    return found;
}

/* Frees the slot; true when the watchdog fired on it. */
static bool
s_unwatch (ing_http_watchdog_t *self, int slot)
{
    pthread_mutex_lock (&self->mutex);
    bool fired = self->slots[slot].fired;
    self->slots[slot].fd = -1;
    pthread_mutex_unlock (&self->mutex);
    return fired;
}

/* civetweb 1.15 does not expose a connection's socket: it is the one whose
 * peer and local port are the request's (IPv4 only, as civetweb here). */
static bool
s_is_conn_fd (int fd, const struct mg_request_info *ri)
{
    struct sockaddr_storage peer, local;
    socklen_t plen = sizeof peer, llen = sizeof local;
    if (getpeername (fd, (struct sockaddr *)&peer, &plen) != 0 || peer.ss_family != AF_INET ||
        getsockname (fd, (struct sockaddr *)&local, &llen) != 0 || local.ss_family != AF_INET)
        return false;
    const struct sockaddr_in *p = (const struct sockaddr_in *)&peer;
    const struct sockaddr_in *l = (const struct sockaddr_in *)&local;
    if (ntohs (p->sin_port) != ri->remote_port || ntohs (l->sin_port) != ri->server_port)
        return false;
    char ip[INET_ADDRSTRLEN];
    return inet_ntop (AF_INET, &p->sin_addr, ip, sizeof ip) && !strcmp (ip, ri->remote_addr);
}

/* The connection's socket, or -1. A worker thread serves one connection
 * at a time, so the last answer is remembered per thread and re-checked
 * (two system calls) before the descriptors are scanned again. */
static int
s_conn_fd (struct mg_connection *conn)
{
    static _Thread_local int cached = -1;
    const struct mg_request_info *ri = mg_get_request_info (conn);
    if (!ri)
        return -1;
    if (cached >= 0 && s_is_conn_fd (cached, ri))
        return cached;
    cached = -1;
    DIR *dir = opendir ("/proc/self/fd");
    if (!dir)
        return -1;
    struct dirent *e;
    while ((e = readdir (dir)) != NULL) {
        char *end = NULL;
        long fd = strtol (e->d_name, &end, 10);
        if (end == e->d_name || *end || fd < 0 || fd == dirfd (dir))
            continue;
        if (s_is_conn_fd ((int)fd, ri)) {
            cached = (int)fd;
            break;
        }
    }
    closedir (dir);
    return cached;
}

bool
ing_http_has_body (struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    if (!ri)
        return false;
    for (int i = 0; i < ri->num_headers; i++)
        if (ri->http_headers[i].name && !strcasecmp (ri->http_headers[i].name, "Transfer-Encoding"))
            return true;
    return ri->content_length > 0;
}

ing_http_body_rc_t
ing_http_read_body (struct mg_connection *conn, const ing_http_framing_t *framing, size_t max,
                    int64_t deadline_ms, ing_http_watchdog_t *watchdog, char **body, size_t *size)
{
    *body = NULL;
    *size = 0;
    if (framing->has_length && framing->chunked)
        return ING_BODY_BAD_FRAMING;
    if (framing->has_length && framing->length > (uint64_t)max)
        return ING_BODY_TOO_LARGE;
    bool declared = framing->has_length;
    size_t want = declared ? (size_t)framing->length : 0;
    if (!declared && !framing->chunked)
        want = 0; /* no body */
    /* declared length: exact buffer; chunked: grow, one byte past the cap
     * tells us it is too large */
    size_t cap = declared || !framing->chunked ? want : (max < 16384 ? max : 16384);
    char *buf = malloc (cap + 1);
    if (!buf)
        return ING_BODY_ENOMEM;
    size_t len = 0;
    ing_http_body_rc_t rc = ING_BODY_OK;
    int fd = watchdog && cap > 0 ? s_conn_fd (conn) : -1;
    int slot = fd >= 0 ? s_watch (watchdog, fd, deadline_ms) : -1;
    for (;;) {
        if (len == cap) {
            if (declared || !framing->chunked || cap > max)
                break;
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc (buf, ncap + 1);
            if (!grown) {
                rc = ING_BODY_ENOMEM;
                goto out;
            }
            buf = grown;
            cap = ncap;
        }
        if (zh_clock_mono_ms () >= deadline_ms) {
            rc = ING_BODY_TIMEOUT;
            goto out;
        }
        size_t piece = cap - len > ING_READ_PIECE ? ING_READ_PIECE : cap - len;
        int n = mg_read (conn, buf + len, piece);
        if (n < 0) {
            rc = ING_BODY_IO;
            goto out;
        }
        if (n == 0) {
            if (declared && len < want)
                rc = zh_clock_mono_ms () >= deadline_ms ? ING_BODY_TIMEOUT : ING_BODY_IO;
            break;
        }
        len += (size_t)n;
        if (len > max) {
            rc = ING_BODY_TOO_LARGE;
            goto out;
        }
    }
out:
    if (slot >= 0 && s_unwatch (watchdog, slot) && rc != ING_BODY_TOO_LARGE)
        rc = ING_BODY_TIMEOUT; /* the read ended because its socket was shut down */
    if (rc != ING_BODY_OK) {
        free (buf);
        return rc;
    }
    buf[len] = 0;
    *body = buf;
    *size = len;
    return ING_BODY_OK;
}

bool
ing_http_list_has (const char *list, const char *tok, size_t n, bool nocase)
{
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        size_t m = strcspn (p, ",");
        while (m > 0 && p[m - 1] == ' ')
            m--;
        if (m == n && m > 0 && (nocase ? !strncasecmp (p, tok, n) : !strncmp (p, tok, n)))
            return true;
        p += strcspn (p, ",");
    }
    return false;
}

/* True when civetweb would keep this connection open after the response
 * (its should_keep_alive): a Connection header must offer keep-alive, and
 * without one only HTTP/1.1 keeps it. */
static bool
s_client_keeps_alive (struct mg_connection *conn, const struct mg_request_info *ri)
{
    const char *connection = mg_get_header (conn, "Connection");
    if (connection)
        return ing_http_list_has (connection, "keep-alive", 10, true);
    return ri && ri->http_version && strcmp (ri->http_version, "1.1") == 0;
}

/* The response is written into a buffer sized for it first: add each
 * piece's length, then copy. */
static char *
s_put (char *at, const char *bytes, size_t n)
{
    memcpy (at, bytes, n);
    return at + n;
}

static size_t
s_header_size (const char *name, const char *value)
{
    return strlen (name) + 2 + strlen (value) + 2;
}

static char *
s_put_header (char *at, const char *name, const char *value)
{
    at = s_put (at, name, strlen (name));
    at = s_put (at, ": ", 2);
    at = s_put (at, value, strlen (value));
    return s_put (at, "\r\n", 2);
}

/* The response goes out as one buffer in one mg_write: civetweb's
 * mg_response_header_send writes every header line with its own send(2),
 * 15 system calls per response, which made it the largest single cost of
 * the ingress under load (bench/RESULTS.md, profile). What civetweb would
 * add itself is added here: Date, and Connection as it will act on it. */
int
ing_http_send (struct mg_connection *conn, int status, const char *content_type, const char *body,
               size_t size, const char *const *headers, size_t count, bool keep_alive)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    if (keep_alive && !s_client_keeps_alive (conn, ri))
        keep_alive = false;
    if (!keep_alive)
        mg_disable_connection_keep_alive (conn);
    if (status < 100 || status > 999)
        return -1;
    bool head = ri && ri->request_method && strcmp (ri->request_method, "HEAD") == 0;

    /* Date changes once a second: each civetweb thread formats it once */
    static _Thread_local time_t date_second = 0;
    static _Thread_local char date[40];
    time_t now = time (NULL);
    if (now != date_second) {
        struct tm tm;
        if (!gmtime_r (&now, &tm) ||
            strftime (date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
            date[0] = 0;
        date_second = now;
    }

    char status_line[160];
    int n = snprintf (status_line, sizeof status_line, "HTTP/%s %d %s\r\n",
                      ri && ri->http_version ? ri->http_version : "1.1", status,
                      mg_get_response_code_text (conn, status));
    if (n <= 0 || (size_t)n >= sizeof status_line)
        return -1;
    char length[32];
    snprintf (length, sizeof length, "%zu", size);
    bool has_length = status != 204 && status != 304;
    const char *connection = keep_alive ? "keep-alive" : "close";
    size_t body_size = size > 0 && !head ? size : 0;

    size_t total = (size_t)n + s_header_size ("Connection", connection) + 2 + body_size;
    if (content_type)
        total += s_header_size ("Content-Type", content_type);
    if (has_length)
        total += s_header_size ("Content-Length", length);
    for (size_t i = 0; i < ING_HTTP_SECURITY_HEADERS; i++)
        total +=
            s_header_size (ing_http_security_headers[2 * i], ing_http_security_headers[2 * i + 1]);
    for (size_t i = 0; i < count; i++)
        total += s_header_size (headers[2 * i], headers[2 * i + 1]);
    if (date[0])
        total += s_header_size ("Date", date);

    char stack[4096];
    char *buf = total <= sizeof stack ? stack : malloc (total);
    if (!buf)
        return -1;
    char *at = s_put (buf, status_line, (size_t)n);
    if (content_type)
        at = s_put_header (at, "Content-Type", content_type);
    if (has_length)
        at = s_put_header (at, "Content-Length", length);
    for (size_t i = 0; i < ING_HTTP_SECURITY_HEADERS; i++)
        at = s_put_header (at, ing_http_security_headers[2 * i],
                           ing_http_security_headers[2 * i + 1]);
    for (size_t i = 0; i < count; i++)
        at = s_put_header (at, headers[2 * i], headers[2 * i + 1]);
    if (date[0])
        at = s_put_header (at, "Date", date);
    at = s_put_header (at, "Connection", connection);
    at = s_put (at, "\r\n", 2);
    if (body_size)
        at = s_put (at, body, body_size);
    assert ((size_t)(at - buf) == total);
    int rc = mg_write (conn, buf, total) == (int)total ? 0 : -1;
    if (buf != stack)
        free (buf);
    return rc;
}
