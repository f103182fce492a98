/*  zh_trickle.c — hostile slow clients against an HTTP server on
 *  127.0.0.1, with a well-behaved probe measuring latency meanwhile.
 *
 *      zh_trickle PORT HEADERS BODIES IDLES INTERVAL_MS DURATION_MS
 *                 PROBE_FILE PROBE_EVERY_MS
 *
 *  Opens HEADERS connections that send a request line and then one header
 *  byte every INTERVAL_MS (never finishing the headers), BODIES that send
 *  complete headers announcing a 100000-byte JSON body and then one body
 *  byte every INTERVAL_MS, and IDLES that connect and send nothing. Each
 *  stops when the server closes it. Meanwhile a probe thread sends the raw
 *  request in PROBE_FILE (it should say "Connection: close") on a fresh
 *  connection every PROBE_EVERY_MS and times the full response.
 *
 *  After DURATION_MS prints, one line each:
 *      trickler KIND INDEX CUT_MS STATUS    (CUT_MS -1: still open; STATUS 000: none)
 *      kind KIND n=N cut=C max_cut_ms=M
 *      probe n=N ok=K p50_ms=A p99_ms=B max_ms=C   (ok: 2xx answers;
 *                                                  nearest-rank percentiles)
 *  Exit 0, or 2 on bad usage / socket failure. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TRICKLE_MAX 512
#define PROBE_MAX 100000

typedef enum { K_HEADERS, K_BODY, K_IDLE } kind_t;
static const char *s_kind_names[] = {"headers", "body", "idle"};

typedef struct {
    int fd;
    kind_t kind;
    int index;
    long long cut_ms; /* -1 while open */
    char status[4];
    size_t got; /* response bytes seen */
} trickler_t;

static int s_port;
static char *s_probe_req;
static size_t s_probe_len;
static long s_probe_every;
static atomic_int s_stop;
static long long s_lat[PROBE_MAX];
static int s_probe_n, s_probe_ok;

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long
s_number (const char *text, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) {
        fprintf (stderr, "zh_trickle: bad number '%s'\n", text);
        exit (2);
    }
    return v;
}

static int
s_connect (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t)s_port);
    if (connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close (fd);
        return -1;
    }
    return fd;
}

/* One probe request: its status code (0 when none) after reading the
 * whole response (Content-Length) or until close; 5 s at most. */
static int
s_probe_once (void)
{
    int fd = s_connect ();
    if (fd < 0)
        return 0;
    if (send (fd, s_probe_req, s_probe_len, MSG_NOSIGNAL) != (ssize_t)s_probe_len) {
        close (fd);
        return 0;
    }
    char buf[65536];
    size_t len = 0;
    long long end = s_now_ms () + 5000;
    for (;;) {
        const char *head = memmem (buf, len, "\r\n\r\n", 4);
        if (head) {
            const char *cl = strcasestr (buf, "\r\nContent-Length:");
            size_t want =
                (size_t)(head - buf) + 4 + (cl && cl < head ? strtoul (cl + 17, NULL, 10) : 0);
            if (len >= want)
                break;
        }
        long long left = end - s_now_ms ();
        struct pollfd pfd = {fd, POLLIN, 0};
        if (left <= 0 || len == sizeof buf - 1 || poll (&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = recv (fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = 0;
    }
    close (fd);
    buf[len] = 0;
    return len >= 12 && !strncmp (buf, "HTTP/1.", 7) ? (int)strtol (buf + 9, NULL, 10) : 0;
}

static void *
s_probe (void *arg)
{
    (void)arg;
    while (!atomic_load (&s_stop) && s_probe_n < PROBE_MAX) {
        long long t0 = s_now_ms ();
        int status = s_probe_once ();
        long long t1 = s_now_ms ();
        s_lat[s_probe_n++] = t1 - t0;
        if (status >= 200 && status < 300)
            s_probe_ok++;
        long long next = t0 + s_probe_every;
        while (!atomic_load (&s_stop) && s_now_ms () < next) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep (&ts, NULL);
        }
    }
    return NULL;
}

static int
s_cmp (const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted[0..n): the value at rank ceil (p/100 * n)
 * (1-based), so at most (100 - p)% of the samples lie above it; -1 when
 * n is 0. With n = 150, p99 is the 149th value, not the 148th. */
static long long
s_percentile (const long long *sorted, int n, int p)
{
    if (n <= 0)
        return -1;
    long long rank = ((long long)n * p + 99) / 100;
    if (rank < 1)
        rank = 1;
    return sorted[rank - 1];
}

static void
s_cut (trickler_t *t, long long now)
{
    if (t->cut_ms >= 0)
        return;
    t->cut_ms = now;
    close (t->fd);
    t->fd = -1;
}

int
main (int argc, char **argv)
{
    if (argc != 9) {
        fprintf (stderr, "usage: zh_trickle PORT HEADERS BODIES IDLES INTERVAL_MS DURATION_MS "
                         "PROBE_FILE PROBE_EVERY_MS\n");
        return 2;
    }
    s_port = (int)s_number (argv[1], 1, 65535);
    long counts[3] = {s_number (argv[2], 0, TRICKLE_MAX), s_number (argv[3], 0, TRICKLE_MAX),
                      s_number (argv[4], 0, TRICKLE_MAX)};
    long interval = s_number (argv[5], 1, 60000), duration = s_number (argv[6], 1, 600000);
    s_probe_every = s_number (argv[8], 1, 60000);
    if (counts[0] + counts[1] + counts[2] > TRICKLE_MAX) {
        fprintf (stderr, "zh_trickle: at most %d tricklers\n", TRICKLE_MAX);
        return 2;
    }
    FILE *pf = fopen (argv[7], "rb");
    s_probe_req = malloc (65536);
    if (!pf || !s_probe_req) {
        fprintf (stderr, "zh_trickle: cannot read %s\n", argv[7]);
        return 2;
    }
    s_probe_len = fread (s_probe_req, 1, 65536, pf);
    fclose (pf);

    static trickler_t t[TRICKLE_MAX];
    int n = 0;
    long long t0 = s_now_ms ();
    static const char head_start[] = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    static const char body_start[] = "POST /v1/messages HTTP/1.1\r\nHost: x\r\n"
                                     "Content-Type: application/json\r\n"
                                     "Content-Length: 100000\r\n\r\n{";
    for (int k = 0; k < 3; k++)
        for (long i = 0; i < counts[k]; i++) {
            trickler_t *c = &t[n++];
            c->kind = (kind_t)k;
            c->index = (int)i;
            c->cut_ms = -1;
            memcpy (c->status, "000", 4);
            c->fd = s_connect ();
            if (c->fd < 0) {
                perror ("zh_trickle: connect");
                return 2;
            }
            const char *start = k == K_HEADERS ? head_start : k == K_BODY ? body_start : NULL;
            if (start)
                send (c->fd, start, strlen (start), MSG_NOSIGNAL);
        }

    pthread_t probe;
    if (pthread_create (&probe, NULL, s_probe, NULL) != 0)
        return 2;

    struct pollfd pfds[TRICKLE_MAX];
    long long next_send = t0 + interval;
    for (;;) {
        long long now = s_now_ms ();
        if (now - t0 >= duration)
            break;
        if (now >= next_send) {
            for (int i = 0; i < n; i++)
                if (t[i].fd >= 0 && t[i].kind != K_IDLE &&
                    send (t[i].fd, t[i].kind == K_HEADERS ? "a" : " ", 1, MSG_NOSIGNAL) != 1)
                    s_cut (&t[i], now);
            next_send += interval;
        }
        int m = 0;
        for (int i = 0; i < n; i++)
            if (t[i].fd >= 0) {
                pfds[m].fd = t[i].fd;
                pfds[m].events = POLLIN;
                pfds[m].revents = 0;
                m++;
            }
        long long wait = next_send - now;
        if (wait > t0 + duration - now)
            wait = t0 + duration - now;
        if (poll (pfds, (nfds_t)m, wait > 0 ? (int)wait : 0) < 0 && errno != EINTR)
            break;
        now = s_now_ms ();
        for (int j = 0; j < m; j++) {
            if (!pfds[j].revents)
                continue;
            trickler_t *c = NULL;
            for (int i = 0; i < n; i++)
                if (t[i].fd == pfds[j].fd)
                    c = &t[i];
            if (!c)
                continue;
            char buf[4096];
            ssize_t r = recv (c->fd, buf, sizeof buf, 0);
            if (r <= 0) {
                s_cut (c, now);
                continue;
            }
            if (c->got == 0 && r >= 12 && !strncmp (buf, "HTTP/1.", 7))
                memcpy (c->status, buf + 9, 3);
            c->got += (size_t)r;
        }
    }
    atomic_store (&s_stop, 1);
    pthread_join (probe, NULL);

    long cut[3] = {0, 0, 0};
    long long max_cut[3] = {0, 0, 0};
    for (int i = 0; i < n; i++) {
        long long ms = t[i].cut_ms >= 0 ? t[i].cut_ms - t0 : -1;
        printf ("trickler %s %d %lld %s\n", s_kind_names[t[i].kind], t[i].index, ms, t[i].status);
        if (ms >= 0) {
            cut[t[i].kind]++;
            if (ms > max_cut[t[i].kind])
                max_cut[t[i].kind] = ms;
        }
        if (t[i].fd >= 0)
            close (t[i].fd);
    }
    for (int k = 0; k < 3; k++)
        printf ("kind %s n=%ld cut=%ld max_cut_ms=%lld\n", s_kind_names[k], counts[k], cut[k],
                max_cut[k]);
    qsort (s_lat, (size_t)s_probe_n, sizeof s_lat[0], s_cmp);
    long long p50 = s_percentile (s_lat, s_probe_n, 50);
    long long p99 = s_percentile (s_lat, s_probe_n, 99);
    long long mx = s_probe_n ? s_lat[s_probe_n - 1] : -1;
    printf ("probe n=%d ok=%d p50_ms=%lld p99_ms=%lld max_ms=%lld\n", s_probe_n, s_probe_ok, p50,
            p99, mx);
    free (s_probe_req);
    return 0;
}
