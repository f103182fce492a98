/*  zh_receiver.c — scriptable HTTP webhook receiver for the end-to-end tests.
 *
 *      zh_receiver LOGFILE PORTFILE [PORT [THREADS]]
 *
 *  Listens on 127.0.0.1:PORT (0 or absent: any free port) with civetweb and
 *  writes the bound port to PORTFILE (written to PORTFILE.tmp then renamed,
 *  so a reader never sees half a number). Every request is answered as its
 *  query string says, with state kept per webhook-id header:
 *
 *      fail=N         the first N requests for this webhook-id answer `code`
 *                     (default 500), later ones 200
 *      code=C         without fail: always answer C
 *      fail_pct=P     without fail: each request fails (answers `code`,
 *                     default 500) with probability P percent (0..100),
 *                     decided by a hash of (seed, webhook-id, n): random
 *                     across requests, reproducible for the same ids
 *      seed=S         seed of fail_pct (default 0)
 *      retry_after=S  add "Retry-After: S" to non-2xx answers
 *      delay_ms=M     sleep M ms before answering (timeouts, in-flight work)
 *      delay_n=K      only delay the first K requests of a webhook-id
 *      secret=KEYS    verify webhook-signature with zh_webhook_verify (KEYS:
 *                     whsec_/whpk_ keys, space-separated, URL-encoded: "+"
 *                     as %2B, "/" as %2F, the space as %20; timestamps
 *                     within 300 s) and log the outcome as "sig_valid"
 *      save=1         write the raw body and the webhook-id, -timestamp and
 *                     -signature values (exact bytes, no newline) to
 *                     $ZH_RECEIVER_SAVE_DIR/<webhook-id>.<n>.{body,id,
 *                     timestamp,signature}, before answering (ignored when
 *                     the variable is unset or the id is not [A-Za-z0-9_-])
 *
 *  One JSON line per request is appended to LOGFILE (one write(2), under a
 *  lock): {"t_ms" (wall-clock ms at arrival, read before anything else),
 *  "done_ms", "path", "query", "webhook_id", "webhook_timestamp",
 *  "has_signature", "sig_valid" (null unless secret= was given), "n" (nth
 *  request for this webhook-id), "status", "body_len", "x_tag" (the X-Tag
 *  request header, or null), "traceparent" (the header, or null)}, written once the
 *  answer is sent. LOGFILE.arrivals gets {"t_ms","webhook_id","n"} as soon
 *  as the request is read, before any delay: what is in flight right now. SIGTERM or SIGINT stops
 * it with exit status 0.
 *
 *  Keep-alive is off so that each civetweb thread is free again after one
 *  request (civetweb parks a thread per open keep-alive connection). */
#include "common/zh_webhook.h"

#include <civetweb.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RCV_BUCKETS 16384
#define RCV_FIELD_MAX 512
#define RCV_LINE_MAX 4096
#define RCV_BODY_MAX (1024 * 1024)
#define RCV_KEYS_MAX 2048 /* a secret= key list, decoded */
#define RCV_TOLERANCE_S 300

typedef struct rcv_entry {
    struct rcv_entry *next; // next in the bucket chain
    uint64_t count; // requests seen for this webhook-id
    char id[]; // webhook-id (NUL-terminated)
} rcv_entry_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static rcv_entry_t *s_table[RCV_BUCKETS];
static int s_log_fd = -1;
static int s_arrivals_fd = -1;
static const char *s_save_dir; // ZH_RECEIVER_SAVE_DIR or NULL

static int64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_sleep_ms (long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR)
        ;
}

static uint32_t
s_hash (const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

//  Returns the request number (1, 2, ...) for this webhook-id, or 0 when
//  out of memory.
static uint64_t
s_count_request (const char *id)
{
    uint32_t b = s_hash (id) % RCV_BUCKETS;
    uint64_t n = 0;
    pthread_mutex_lock (&s_lock);
    rcv_entry_t *e = s_table[b];
    while (e && strcmp (e->id, id) != 0)
        e = e->next;
    if (!e) {
        size_t len = strlen (id);
        e = malloc (sizeof *e + len + 1);
        if (e) {
            memcpy (e->id, id, len + 1);
            e->count = 0;
            e->next = s_table[b];
            s_table[b] = e;
        }
    }
    if (e)
        n = ++e->count;
    pthread_mutex_unlock (&s_lock);
    return n;
}

static void
s_table_free (void)
{
    for (int b = 0; b < RCV_BUCKETS; b++) {
        rcv_entry_t *e = s_table[b];
        while (e) {
            rcv_entry_t *next = e->next;
            free (e);
            e = next;
        }
        s_table[b] = NULL;
    }
}

//  Reads a non-negative integer query variable; returns def when absent or
//  not a number in 0..max.
static long
s_query_long (const char *query, const char *name, long def, long max)
{
    if (!query)
        return def;
    char buf[32];
    int len = mg_get_var (query, strlen (query), name, buf, sizeof buf);
    if (len <= 0)
        return def;
    char *end = NULL;
    errno = 0;
    long value = strtol (buf, &end, 10);
    if (errno || end == buf || *end || value < 0 || value > max)
        return def;
    return value;
}

//  Appends s as a JSON string (with quotes) or null; returns the new length.
static int
s_json_str (char *buf, int len, int cap, const char *s)
{
    if (!s)
        return len + snprintf (buf + len, len < cap ? (size_t)(cap - len) : 0, "null");
    if (len + 2 >= cap)
        return len;
    buf[len++] = '"';
    for (int i = 0; i < RCV_FIELD_MAX && s[i] && len < cap - 8; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)c;
        }
        else if (c < 0x20 || c == 0x7f)
            len += snprintf (buf + len, (size_t)(cap - len), "\\u%04x", c);
        else
            buf[len++] = (char)c;
    }
    buf[len++] = '"';
    buf[len] = '\0';
    return len;
}

//  fail_pct: a pseudo-random 0..99 from (seed, webhook-id, request number),
//  FNV-1a over the id then a splitmix64 finaliser.
static int
s_roll_pct (long seed, const char *id, uint64_t n)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)seed;
    for (const char *p = id ? id : ""; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ull;
    }
    h ^= n * 0x9e3779b97f4a7c15ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    h ^= h >> 31;
    return (int)(h % 100);
}

static const char *
s_reason (int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 410:
        return "Gone";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

//  Writes size bytes to DIR/ID.N.SUFFIX (created or truncated). 0 or -1.
static int
s_save_file (const char *id, uint64_t n, const char *suffix, const void *data, size_t size)
{
    char path[4096];
    if (snprintf (path, sizeof path, "%s/%s.%llu.%s", s_save_dir, id, (unsigned long long)n,
                  suffix) >= (int)sizeof path)
        return -1;
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    const char *p = data;
    while (size) {
        ssize_t w = write (fd, p, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close (fd);
            return -1;
        }
        p += w;
        size -= (size_t)w;
    }
    return close (fd);
}

//  save=1: the body and the three webhook-* values, for independent checks.
static void
s_save (const char *id, uint64_t n, const char *ts, const char *sig, const char *body,
        size_t body_len)
{
    if (!s_save_dir || !id || !*id ||
        strspn (id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                    "vwxyz0123456789_-") != strlen (id))
        return;
    if (s_save_file (id, n, "body", body, body_len) || s_save_file (id, n, "id", id, strlen (id)) ||
        s_save_file (id, n, "timestamp", ts ? ts : "", ts ? strlen (ts) : 0) ||
        s_save_file (id, n, "signature", sig ? sig : "", sig ? strlen (sig) : 0))
        fprintf (stderr, "zh_receiver: cannot save request %s.%llu\n", id, (unsigned long long)n);
}

static int
s_handle (struct mg_connection *conn, void *arg)
{
    (void)arg;
    int64_t t_ms = s_wall_ms ();
    const struct mg_request_info *ri = mg_get_request_info (conn);
    const char *query = ri->query_string;
    const char *wid = mg_get_header (conn, "webhook-id");
    const char *wts = mg_get_header (conn, "webhook-timestamp");
    const char *sig = mg_get_header (conn, "webhook-signature");
    const char *tag = mg_get_header (conn, "x-tag");

    //  The body is kept (up to RCV_BODY_MAX) for the signature check.
    long long body_len = 0;
    char *body = malloc (RCV_BODY_MAX);
    char chunk[8192];
    int got;
    while ((got = mg_read (conn, chunk, sizeof chunk)) > 0) {
        if (body && body_len + got <= RCV_BODY_MAX)
            memcpy (body + body_len, chunk, (size_t)got);
        body_len += got;
    }
    const char *sig_valid = "null";
    char secret[RCV_KEYS_MAX];
    if (query && mg_get_var (query, strlen (query), "secret", secret, sizeof secret) > 0) {
        bool valid =
            body && body_len <= RCV_BODY_MAX && wid && wts && sig &&
            zh_webhook_verify (secret, wid, wts, sig, (const uint8_t *)body, (size_t)body_len,
                               s_wall_ms () / 1000, RCV_TOLERANCE_S) == 0;
        sig_valid = valid ? "true" : "false";
    }

    uint64_t n = s_count_request (wid ? wid : "");
    if (s_query_long (query, "save", 0, 1) == 1 && body && body_len <= RCV_BODY_MAX)
        s_save (wid, n, wts, sig, body, (size_t)body_len);
    free (body);
    long fail = s_query_long (query, "fail", -1, 1000000);
    long code = s_query_long (query, "code", -1, 599);
    long retry_after = s_query_long (query, "retry_after", -1, 1000000);
    long delay_ms = s_query_long (query, "delay_ms", 0, 600000);
    long delay_n = s_query_long (query, "delay_n", 0, 1000000);
    long fail_pct = s_query_long (query, "fail_pct", 0, 100);
    long seed = s_query_long (query, "seed", 0, 1000000000);
    if (code != -1 && code < 100)
        code = -1;

    int status = 200;
    if (fail >= 0)
        status = (long long)n <= fail ? (code > 0 ? (int)code : 500) : 200;
    else if (fail_pct > 0)
        status = s_roll_pct (seed, wid, n) < fail_pct ? (code > 0 ? (int)code : 500) : 200;
    else if (code > 0)
        status = (int)code;

    char arrival[RCV_FIELD_MAX + 128];
    int alen =
        snprintf (arrival, sizeof arrival, "{\"t_ms\":%lld,\"webhook_id\":", (long long)t_ms);
    alen = s_json_str (arrival, alen, sizeof arrival, wid);
    alen += snprintf (arrival + alen, sizeof arrival - (size_t)alen, ",\"n\":%llu}\n",
                      (unsigned long long)n);
    if (alen < (int)sizeof arrival) {
        pthread_mutex_lock (&s_lock);
        ssize_t awritten = write (s_arrivals_fd, arrival, (size_t)alen);
        pthread_mutex_unlock (&s_lock);
        if (awritten != alen)
            fprintf (stderr, "zh_receiver: arrivals write failed\n");
    }

    if (delay_ms > 0 && (delay_n == 0 || (long long)n <= delay_n))
        s_sleep_ms (delay_ms);

    char extra[64] = "";
    if (retry_after >= 0 && (status < 200 || status > 299))
        snprintf (extra, sizeof extra, "Retry-After: %ld\r\n", retry_after);
    const char *answer = status >= 200 && status <= 299 ? "ok\n" : "scripted failure\n";
    mg_printf (conn,
               "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
               "%sConnection: close\r\n\r\n%s",
               status, s_reason (status), strlen (answer), extra, answer);
    int64_t done_ms = s_wall_ms ();

    char line[RCV_LINE_MAX];
    int len =
        snprintf (line, sizeof line, "{\"t_ms\":%lld,\"done_ms\":%lld,\"path\":", (long long)t_ms,
                  (long long)done_ms);
    len = s_json_str (line, len, sizeof line, ri->local_uri);
    len += snprintf (line + len, sizeof line - (size_t)len, ",\"query\":");
    len = s_json_str (line, len, sizeof line, query);
    len += snprintf (line + len, sizeof line - (size_t)len, ",\"webhook_id\":");
    len = s_json_str (line, len, sizeof line, wid);
    len += snprintf (line + len, sizeof line - (size_t)len, ",\"webhook_timestamp\":");
    len = s_json_str (line, len, sizeof line, wts);
    len += snprintf (line + len, sizeof line - (size_t)len,
                     ",\"has_signature\":%s,\"sig_valid\":%s,\"n\":%llu,\"status\":%d,"
                     "\"body_len\":%lld,\"x_tag\":",
                     sig ? "true" : "false", sig_valid, (unsigned long long)n, status, body_len);
    if (len < (int)sizeof line)
        len = s_json_str (line, len, sizeof line, tag);
    if (len < (int)sizeof line)
        len += snprintf (line + len, sizeof line - (size_t)len, ",\"traceparent\":");
    if (len < (int)sizeof line)
        len = s_json_str (line, len, sizeof line, mg_get_header (conn, "traceparent"));
    if (len < (int)sizeof line)
        len += snprintf (line + len, sizeof line - (size_t)len, "}\n");
    if (len >= (int)sizeof line) {
        len = (int)sizeof line - 1;
        line[len - 1] = '\n';
    }
    pthread_mutex_lock (&s_lock);
    ssize_t written = write (s_log_fd, line, (size_t)len);
    pthread_mutex_unlock (&s_lock);
    if (written != len)
        fprintf (stderr, "zh_receiver: log write failed\n");
    return status;
}

static int
s_write_port_file (const char *path, int port)
{
    char tmp[4096];
    if (snprintf (tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return -1;
    FILE *f = fopen (tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf (f, "%d\n", port) > 0;
    if (fclose (f) != 0)
        ok = 0;
    if (!ok || rename (tmp, path) != 0)
        return -1;
    return 0;
}

static long
s_arg_long (const char *text, long min, long max, long def)
{
    char *end = NULL;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return def;
    return value;
}

int
main (int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf (stderr, "usage: zh_receiver LOGFILE PORTFILE [PORT [THREADS]]\n");
        return 2;
    }
    long port = argc > 3 ? s_arg_long (argv[3], 0, 65535, -1) : 0;
    long threads = argc > 4 ? s_arg_long (argv[4], 1, 1024, -1) : 64;
    if (port < 0 || threads < 0) {
        fprintf (stderr, "zh_receiver: bad PORT or THREADS\n");
        return 2;
    }
    s_save_dir = getenv ("ZH_RECEIVER_SAVE_DIR");
    if (s_save_dir && !*s_save_dir)
        s_save_dir = NULL;
    s_log_fd = open (argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    char arrivals[4096];
    if (snprintf (arrivals, sizeof arrivals, "%s.arrivals", argv[1]) >= (int)sizeof arrivals) {
        fprintf (stderr, "zh_receiver: LOGFILE path too long\n");
        return 2;
    }
    if (s_log_fd < 0) {
        perror ("zh_receiver: log file");
        return 1;
    }
    s_arrivals_fd = open (arrivals, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s_arrivals_fd < 0) {
        perror ("zh_receiver: arrivals file");
        close (s_log_fd);
        return 1;
    }
    //  Signals are taken by sigwait in this thread; civetweb's threads
    //  inherit the blocked mask.
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    pthread_sigmask (SIG_BLOCK, &set, NULL);
    signal (SIGPIPE, SIG_IGN);

    char listen[64], nthreads[32];
    snprintf (listen, sizeof listen, "127.0.0.1:%ld", port);
    snprintf (nthreads, sizeof nthreads, "%ld", threads);
    const char *options[] = {"listening_ports",
                             listen,
                             "num_threads",
                             nthreads,
                             "enable_keep_alive",
                             "no",
                             "request_timeout_ms",
                             "120000",
                             "linger_timeout_ms",
                             "0",
                             NULL};
    mg_init_library (0);
    struct mg_callbacks callbacks;
    memset (&callbacks, 0, sizeof callbacks);
    struct mg_context *ctx = mg_start (&callbacks, NULL, options);
    if (!ctx) {
        fprintf (stderr, "zh_receiver: cannot listen on %s\n", listen);
        close (s_log_fd);
        close (s_arrivals_fd);
        return 1;
    }
    mg_set_request_handler (ctx, "/", s_handle, NULL);
    struct mg_server_port ports[4];
    int nports = mg_get_server_ports (ctx, 4, ports);
    int rc = 0;
    if (nports < 1 || ports[0].port <= 0 || s_write_port_file (argv[2], ports[0].port) != 0) {
        fprintf (stderr, "zh_receiver: cannot report the bound port\n");
        rc = 1;
    }
    else {
        int sig = 0;
        while (sigwait (&set, &sig) != 0)
            ;
    }
    mg_stop (ctx);
    mg_exit_library ();
    close (s_log_fd);
    close (s_arrivals_fd);
    s_table_free ();
    return rc;
}
