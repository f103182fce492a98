/*  zh_rawhttp.c — sends raw request bytes to 127.0.0.1:PORT and prints the
 *  response's status code, for requests curl will not make (duplicate or
 *  malformed Content-Length, CL + TE, bare LF, oversized headers).
 *
 *      zh_rawhttp PORT TIMEOUT_MS [OUTFILE] < request-bytes
 *
 *  Reads the whole request from stdin, connects, sends it, and reads the
 *  response until its headers and Content-Length bytes arrived, the server
 *  closed, or TIMEOUT_MS passed. Prints the status code ("000" when no
 *  status line came: closed or timed out) and the elapsed milliseconds on
 *  one line; OUTFILE (when given) gets the raw response. Exit 0 when a
 *  status line arrived, 1 otherwise, 2 on bad usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RAW_MAX (4 << 20)

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
    if (errno || end == text || *end || v < min || v > max)
        return -1;
    return v;
}

/* Bytes of the whole response when its headers are complete and carry
 * Content-Length (else 0: read until close or timeout). */
static size_t
s_expected (const char *buf, size_t len)
{
    const char *end = memmem (buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    for (const char *p = buf; p < end;) {
        const char *eol = memmem (p, (size_t)(end - p) + 2, "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 && !strncasecmp (p, "Content-Length:", 15)) {
            long n = strtol (p + 15, NULL, 10);
            return n >= 0 ? head + (size_t)n : 0;
        }
        p = eol + 2;
    }
    /* 204 and 304 have no body */
    if (len >= 12 && (!strncmp (buf + 9, "204", 3) || !strncmp (buf + 9, "304", 3)))
        return head;
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 3 || argc > 4) {
        fprintf (stderr, "usage: zh_rawhttp PORT TIMEOUT_MS [OUTFILE] < request\n");
        return 2;
    }
    long port = s_number (argv[1], 1, 65535), timeout = s_number (argv[2], 1, 600000);
    if (port < 0 || timeout < 0) {
        fprintf (stderr, "zh_rawhttp: bad PORT or TIMEOUT_MS\n");
        return 2;
    }
    char *req = malloc (RAW_MAX), *resp = malloc (RAW_MAX);
    if (!req || !resp)
        return 2;
    size_t req_len = fread (req, 1, RAW_MAX, stdin);

    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = htons ((uint16_t)port);
    long long t0 = s_now_ms ();
    if (fd < 0 || connect (fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror ("zh_rawhttp: connect");
        free (req);
        free (resp);
        return 1;
    }
    size_t sent = 0;
    while (sent < req_len) {
        ssize_t n = send (fd, req + sent, req_len - sent, MSG_NOSIGNAL);
        if (n <= 0)
            break; /* the server may answer (413) before taking everything */
        sent += (size_t)n;
    }
    size_t len = 0;
    for (;;) {
        size_t want = s_expected (resp, len);
        if (want && len >= want)
            break;
        long long left = timeout - (s_now_ms () - t0);
        if (left <= 0 || len == RAW_MAX)
            break;
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll (&pfd, 1, (int)left) <= 0)
            break;
        ssize_t n = recv (fd, resp + len, RAW_MAX - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close (fd);
    long long elapsed = s_now_ms () - t0;
    int ok = len >= 12 && !strncmp (resp, "HTTP/1.", 7);
    printf ("%.3s %lld\n", ok ? resp + 9 : "000", elapsed);
    if (argc == 4) {
        FILE *out = fopen (argv[3], "wb");
        if (out) {
            fwrite (resp, 1, len, out);
            fclose (out);
        }
    }
    free (req);
    free (resp);
    return ok ? 0 : 1;
}
