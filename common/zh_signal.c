/*  zh_signal.c — stop and reload flags set from signal handlers. */
#include "common/zh_signal.h"

#include <czmq.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int s_stop;
static atomic_int s_reload;

static void
s_on_signal (int sig)
{
    if (sig == SIGHUP)
        atomic_store (&s_reload, 1);
    else
        atomic_store (&s_stop, 1);
}

int
zh_signal_init (void)
{
    zsys_handler_set (NULL);
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    /* no SA_RESTART: blocking polls must return so loops see the flag */
    if (sigaction (SIGTERM, &sa, NULL) || sigaction (SIGINT, &sa, NULL) ||
        sigaction (SIGHUP, &sa, NULL))
        return -1;
    sa.sa_handler = SIG_IGN;
    if (sigaction (SIGPIPE, &sa, NULL))
        return -1;
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGHUP);
    return pthread_sigmask (SIG_BLOCK, &set, NULL) ? -1 : 0;
}

int
zh_signal_unblock (void)
{
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGTERM);
    sigaddset (&set, SIGINT);
    sigaddset (&set, SIGHUP);
    return pthread_sigmask (SIG_UNBLOCK, &set, NULL) ? -1 : 0;
}

bool
zh_signal_stopping (void)
{
    return atomic_load (&s_stop) != 0;
}

bool
zh_signal_take_reload (void)
{
    return atomic_exchange (&s_reload, 0) != 0;
}

void
zh_signal_request_stop (void)
{
    atomic_store (&s_stop, 1);
}
