/*  zh_freeport.c — prints N distinct free TCP ports on 127.0.0.1.
 *
 *      zh_freeport N        (1..64)
 *
 *  Binds N sockets to 127.0.0.1:0 at once (so the kernel hands out distinct
 *  ports), prints each port on its own line, then closes them. The ports are
 *  free for the test scripts to give to the programs they start; a port can
 *  in principle be taken by someone else in between, which is acceptable for
 *  tests that run one at a time. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FREEPORT_MAX 64

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: zh_freeport N\n");
        return 2;
    }
    char *end = NULL;
    errno = 0;
    long count = strtol (argv[1], &end, 10);
    if (errno || end == argv[1] || *end || count < 1 || count > FREEPORT_MAX) {
        fprintf (stderr, "zh_freeport: N must be 1..%d\n", FREEPORT_MAX);
        return 2;
    }
    int fds[FREEPORT_MAX];
    int ports[FREEPORT_MAX];
    int opened = 0;
    int rc = 0;
    for (long i = 0; i < count; i++) {
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror ("zh_freeport: socket");
            rc = 1;
            goto out;
        }
        fds[opened++] = fd;
        struct sockaddr_in addr;
        memset (&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        if (bind (fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            getsockname (fd, (struct sockaddr *)&addr, &len) != 0) {
            perror ("zh_freeport: bind");
            rc = 1;
            goto out;
        }
        ports[i] = ntohs (addr.sin_port);
    }
    for (long i = 0; i < count; i++)
        printf ("%d\n", ports[i]);
    if (fflush (stdout) != 0)
        rc = 1;
out:
    for (int i = 0; i < opened; i++)
        close (fds[i]);
    return rc;
}
