/*  zh_hostile.c — a deliberately hostile HTTP receiver for the e2e tests.
 *
 *      zh_hostile PORTFILE MODE [ARG]
 *
 *  Listens on 127.0.0.1:0, writes the port to PORTFILE, and answers every
 *  connection with one behaviour, on raw sockets (civetweb would refuse to
 *  send most of these):
 *      bigbody MB    200 OK with a Content-Length of MB MiB, then the bytes
 *      headers N     200 OK with N header lines
 *      trickle       the response one byte per second, forever
 *      redirect URL  302 Found, Location: URL
 *      hang          reads the request, never answers
 *  One JSON line per accepted connection on stdout ({"t_ms","conn","mode"}),
 *  and one when it ends ({"t_ms","conn","event":"closed","sent"}). A thread
 *  per connection; SIGTERM ends the process (exit 0). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum { M_BIGBODY, M_HEADERS, M_TRICKLE, M_REDIRECT, M_HANG } s_mode_t;

static s_mode_t s_mode;
static const char *s_mode_name;
static long s_arg_n; // MB for bigbody, N for headers
static const char *s_arg_url; // redirect target
static pthread_mutex_t s_out_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct {
    int fd;
    long conn;
} s_conn_t;

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One log line; sent < 0 for the accept line. */
static void
s_line (long conn, long long sent)
{
    pthread_mutex_lock (&s_out_lock);
    if (sent < 0)
        printf ("{\"t_ms\":%lld,\"conn\":%ld,\"mode\":\"%s\"}\n", s_now_ms (), conn, s_mode_name);
    else
        printf ("{\"t_ms\":%lld,\"conn\":%ld,\"mode\":\"%s\",\"event\":\"closed\","
                "\"sent\":%lld}\n",
                s_now_ms (), conn, s_mode_name, sent);
    fflush (stdout);
    pthread_mutex_unlock (&s_out_lock);
}

/* Writes all of buf; returns 0, or -1 when the peer is gone. */
static int
s_send_all (int fd, const char *buf, size_t len, long long *sent)
{
    while (len > 0) {
        ssize_t n = send (fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
        *sent += n;
    }
    return 0;
}

/* Reads one request: the head, then Content-Length bytes of body.
 * Returns 0, or -1 when the peer closed or sent something unreadable. */
static int
s_read_request (int fd)
{
    char head[16384];
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        if (have >= sizeof head - 1)
            return -1;
        ssize_t n = recv (fd, head + have, 1, 0); /* byte by byte: never read past the head */
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        have++;
        head[have] = 0;
        if (have >= 4 && !memcmp (head + have - 4, "\r\n\r\n", 4))
            end = head + have;
    }
    long long body = 0;
    for (char *p = head; (p = strchr (p, '\n')) != NULL;) {
        p++;
        if (!strncasecmp (p, "content-length:", 15)) {
            body = strtoll (p + 15, NULL, 10);
            break;
        }
    }
    char buf[4096];
    while (body > 0) {
        ssize_t n = recv (fd, buf, body < (long long)sizeof buf ? (size_t)body : sizeof buf, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        body -= n;
    }
    return 0;
}

static void *
s_serve (void *arg)
{
    s_conn_t *c = arg;
    int fd = c->fd;
    long long sent = 0;
    s_line (c->conn, -1);
    if (s_mode != M_HANG)
        (void)s_read_request (fd); /* when the peer left, answering fails below */
    char head[1024];
    switch (s_mode) {
    case M_BIGBODY: {
        long long total = (long long)s_arg_n << 20;
        int n = snprintf (head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                          "Content-Length: %lld\r\n\r\n",
                          total);
        if (s_send_all (fd, head, (size_t)n, &sent))
            break;
        static char chunk[65536];
        memset (chunk, 'x', sizeof chunk);
        for (long long left = total; left > 0;) {
            size_t k = left < (long long)sizeof chunk ? (size_t)left : sizeof chunk;
            if (s_send_all (fd, chunk, k, &sent))
                break;
            left -= (long long)k;
        }
        break;
    }
    case M_HEADERS: {
        if (s_send_all (fd, "HTTP/1.1 200 OK\r\n", 17, &sent))
            break;
        int failed = 0;
        for (long i = 0; i < s_arg_n && !failed; i++) {
            int n = snprintf (head, sizeof head, "X-Hostile-%ld: %ld\r\n", i, i);
            failed = s_send_all (fd, head, (size_t)n, &sent);
        }
        if (!failed)
            s_send_all (fd, "Content-Length: 2\r\n\r\nok", 23, &sent);
        break;
    }
    case M_TRICKLE: {
        /* the status line never even completes in any useful time */
        static const char text[] = "HTTP/1.1 200 OK\r\nX-Slow: ";
        for (size_t i = 0;; i++) {
            char ch = i < sizeof text - 1 ? text[i] : 'z';
            if (s_send_all (fd, &ch, 1, &sent))
                break;
            sleep (1);
        }
        break;
    }
    case M_REDIRECT: {
        int n =
            snprintf (head, sizeof head,
                      "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n", s_arg_url);
        /* keep-alive: the same answer to every request on the connection */
        if (n > 0 && (size_t)n < sizeof head)
            while (s_send_all (fd, head, (size_t)n, &sent) == 0 && s_read_request (fd) == 0)
                ;
        break;
    }
    case M_HANG: {
        char buf[4096];
        ssize_t n;
        while ((n = recv (fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR))
            ;
        break;
    }
    }
    close (fd);
    s_line (c->conn, sent);
    free (c);
    return NULL;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: zh_hostile PORTFILE bigbody MB | headers N | trickle | "
                     "redirect URL | hang\n");
    return 2;
}

static int
s_parse_count (const char *text, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || !end || *end || v < 0 || v > max)
        return -1;
    *out = v;
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 3)
        return s_usage ();
    const char *portfile = argv[1];
    s_mode_name = argv[2];
    if (!strcmp (argv[2], "bigbody") && argc == 4 && !s_parse_count (argv[3], 1 << 20, &s_arg_n))
        s_mode = M_BIGBODY;
    else if (!strcmp (argv[2], "headers") && argc == 4 &&
             !s_parse_count (argv[3], 10000000, &s_arg_n))
        s_mode = M_HEADERS;
    else if (!strcmp (argv[2], "trickle") && argc == 3)
        s_mode = M_TRICKLE;
    else if (!strcmp (argv[2], "redirect") && argc == 4 && !strpbrk (argv[3], "\r\n")) {
        s_mode = M_REDIRECT;
        s_arg_url = argv[3];
    }
    else if (!strcmp (argv[2], "hang") && argc == 3)
        s_mode = M_HANG;
    else
        return s_usage ();
    signal (SIGPIPE, SIG_IGN);

    int lfd = socket (AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) {
        perror ("socket");
        return 1;
    }
    int one = 1;
    setsockopt (lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa;
    memset (&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    if (bind (lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen (lfd, 128) != 0 ||
        getsockname (lfd, (struct sockaddr *)&sa, &len) != 0) {
        perror ("bind/listen");
        return 1;
    }
    char tmp[4096];
    snprintf (tmp, sizeof tmp, "%s.tmp", portfile);
    FILE *pf = fopen (tmp, "w");
    if (!pf || fprintf (pf, "%d\n", ntohs (sa.sin_port)) < 0 || fclose (pf) != 0 ||
        rename (tmp, portfile) != 0) {
        perror ("portfile");
        return 1;
    }
    long conns = 0;
    for (;;) {
        int fd = accept (lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
                continue;
            perror ("accept");
            return 1;
        }
        s_conn_t *c = malloc (sizeof *c);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init (&attr);
        pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
        if (!c) {
            close (fd);
            continue;
        }
        c->fd = fd;
        c->conn = ++conns;
        if (pthread_create (&t, &attr, s_serve, c) != 0) {
            close (fd);
            free (c);
        }
        pthread_attr_destroy (&attr);
    }
}
