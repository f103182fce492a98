/*  sch_server.h — the scheduler process: sockets, store, loop, ops server.
 *
 *  One thread owns the four sockets and the LMDB store (docs/ARCHITECTURE.md):
 *
 *      submit   PULL bind  <- ingress   proto_submit_t, proto_command_t
 *      publish  PUB  bind  -> ingress   [reply_to][proto_reply_t], ["hb"][heartbeat]
 *      dispatch PUSH bind  -> deliverer proto_dispatch_t (after the lease commit)
 *      results  PULL bind  <- deliverer proto_result_t, proto_heartbeat_t
 *
 *  civetweb threads serve /live, /ready and /metrics (zh_ops); they only
 *  read atomics. The loop waits on submit and results with a computed
 *  timeout (first due key when there is dispatch budget, first lease end,
 *  next heartbeat, next purge): nothing scans the store on a timer. */
#ifndef SCH_SERVER_H
#define SCH_SERVER_H

#include "scheduler/sch_config.h"

typedef struct _sch_server_t sch_server_t;

/* Opens the store, binds the sockets, starts the ops server. config is
 * borrowed and must outlive the server. NULL (after logging why) on failure. */
sch_server_t *sch_server_new (const sch_config_t *config);

/* Runs the loop until zh_signal_stopping (); the current step finishes and
 * its replies are published. Returns 0 on a clean stop, -1 on a runtime
 * failure (logged). */
int sch_server_run (sch_server_t *self);

/* Closes sockets (with linger), the ops server and the store; nulls *self_p. */
void sch_server_destroy (sch_server_t **self_p);

#endif
