/*  zh_signal.h — process signal handling shared by the three programs.
 *
 *  Replaces CZMQ's own SIGINT/SIGTERM handler (zsys_handler_set (NULL)),
 *  which would otherwise make blocking receives return silently. Call
 *  zh_signal_init () before creating any CZMQ socket. SIGTERM and SIGINT set
 *  the stop flag; SIGHUP sets the reload flag; SIGPIPE is ignored. Blocking
 *  calls (zmq_poll, curl_multi_poll) return early with EINTR, so loops check
 *  zh_signal_stopping () after every wake-up.
 *
 *  So that the main thread is the one interrupted, zh_signal_init () blocks
 *  these signals; threads started afterwards (ZeroMQ I/O, civetweb, curl's
 *  resolver) inherit the mask; the main thread calls zh_signal_unblock ()
 *  once every other thread is running. */
#ifndef ZH_SIGNAL_H
#define ZH_SIGNAL_H

#include <stdbool.h>

int zh_signal_init (void);
int zh_signal_unblock (void);
bool zh_signal_stopping (void);
/* True once after each SIGHUP (the flag is cleared by reading it). */
bool zh_signal_take_reload (void);
/* Asks the process to stop, as SIGTERM would (tests, fatal errors). */
void zh_signal_request_stop (void);

#endif
