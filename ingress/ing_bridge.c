/*  ing_bridge.c — per-thread PUSH/SUB pairs and the heartbeat watcher. */
#include "ingress/ing_bridge.h"
#include "common/zh_clock.h"
#include "common/zh_id.h"
#include "common/zh_log.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The scheduler refuses to start a commit past deadline_ms, but one begun
 * just before it finishes a little later: waiting this much longer turns
 * most such races into a 202 instead of a 503 for a committed message. */
#define ING_BRIDGE_GRACE_MS 250
#define ING_BRIDGE_SLICE_MS 100 /* longest wait between checks of abandon */
#define ING_BRIDGE_HB_POLL_MS 100

struct _ing_bridge_t {
    char *submit_endpoint;
    char *publish_endpoint;
    char *instance_id;
    int ready_timeout_ms;
    zh_gauge_t *up; /* borrowed, may be NULL */
    zh_curve_t *curve; /* CURVE client keys, read by every worker thread (immutable) */
    zsock_t *hb_sub; /* owned by the heartbeat thread once it runs */
    zsock_t *hb_mon; /* PAIR of hb_sub's monitor: handshake results (same owner) */
    bool refused; /* the last handshake failed authentication (logged once per streak) */
    pthread_t hb_thread;
    bool hb_started;
    atomic_bool stop;
    atomic_bool abandon; /* shutdown grace over: waiting requests give up */
    atomic_int_fast64_t last_hb_ms; /* monotonic ms of the last ready heartbeat; 0 = never */
    atomic_uint next_worker; /* numbers worker topics */
};

struct _ing_bridge_worker_t {
    ing_bridge_t *bridge;
    zsock_t *push;
    zsock_t *sub;
    char topic[160];
    size_t topic_len;
    uint64_t corr; /* last correlation id used */
};

/* --- heartbeat watcher ------------------------------------------------- */

static void
s_hb_frame (ing_bridge_t *self)
{
    void *sock = zsock_resolve (self->hb_sub);
    zmq_msg_t topic, body;
    zmq_msg_init (&topic);
    zmq_msg_init (&body);
    if (zmq_msg_recv (&topic, sock, ZMQ_DONTWAIT) < 0)
        goto out;
    if (!zmq_msg_more (&topic))
        goto out;
    if (zmq_msg_recv (&body, sock, ZMQ_DONTWAIT) < 0)
        goto out;
    bool more = zmq_msg_more (&body);
    while (more) { /* not our format: drain the rest of the message */
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    if (zmq_msg_size (&topic) != 2 || memcmp (zmq_msg_data (&topic), "hb", 2) != 0)
        goto out;
    proto_heartbeat_t *hb = NULL;
    proto_rc_t rc = proto_heartbeat_decode (zmq_msg_data (&body), zmq_msg_size (&body), &hb);
    if (rc != PROTO_OK) {
        zh_warn ("malformed scheduler heartbeat ignored", "s:error", proto_strerror (rc), NULL);
        goto out;
    }
    if (hb->ready)
        atomic_store (&self->last_hb_ms, zh_clock_mono_ms ());
    proto_heartbeat_destroy (&hb);
out:
    zmq_msg_close (&body);
    zmq_msg_close (&topic);
}

/* Reads the monitor's events: [u16 event, u32 value][endpoint]. A refused
 * CURVE key is worth one error line, not one per reconnect. */
static void
s_hb_monitor (ing_bridge_t *self)
{
    void *sock = zsock_resolve (self->hb_mon);
    for (int i = 0; i < 100; i++) {
        zmq_msg_t msg;
        zmq_msg_init (&msg);
        if (zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&msg);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&msg) >= 6)
            memcpy (&event, zmq_msg_data (&msg), sizeof event);
        bool more = zmq_msg_more (&msg);
        zmq_msg_close (&msg);
        while (more) {
            zmq_msg_init (&msg);
            more = zmq_msg_recv (&msg, sock, ZMQ_DONTWAIT) >= 0 && zmq_msg_more (&msg);
            zmq_msg_close (&msg);
        }
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            self->refused = false;
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH && !self->refused) {
            self->refused = true;
            zh_error ("the scheduler refused this ingress's CURVE key: add its public "
                      "certificate to the scheduler's ZHOOK_CURVE_CLIENTS_DIR",
                      "s:endpoint", self->publish_endpoint, NULL);
        }
    }
}

static void *
s_hb_run (void *arg)
{
    ing_bridge_t *self = arg;
    bool was_up = false;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t items[2] = {{zsock_resolve (self->hb_sub), 0, ZMQ_POLLIN, 0},
                                   {zsock_resolve (self->hb_mon), 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll (items, 2, ING_BRIDGE_HB_POLL_MS);
        zmq_pollitem_t item = items[0];
        if (items[1].revents & ZMQ_POLLIN)
            s_hb_monitor (self);
        if (n < 0 && errno != EINTR) {
            zh_error ("heartbeat watcher: poll failed", "s:error", zmq_strerror (errno), NULL);
            break;
        }
        if (n > 0)
            for (int i = 0; i < 1000 && (item.revents & ZMQ_POLLIN); i++) {
                s_hb_frame (self);
                if (zmq_poll (&item, 1, 0) <= 0)
                    break;
            }
        bool up = ing_bridge_ready (self);
        if (self->up)
            zh_gauge_set (self->up, up ? 1 : 0);
        if (up != was_up) {
            if (up)
                zh_info ("scheduler heartbeat seen: ready", NULL);
            else
                zh_warn ("no scheduler heartbeat: not ready", "i:timeout_ms",
                         (int64_t)self->ready_timeout_ms, NULL);
            was_up = up;
        }
    }
    return NULL;
}

ing_bridge_t *
ing_bridge_new (const char *submit_endpoint, const char *publish_endpoint,
                const zh_curve_config_t *curve, const char *instance_id, int ready_timeout_ms,
                zh_gauge_t *up)
{
    ing_bridge_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    atomic_init (&self->stop, false);
    atomic_init (&self->abandon, false);
    atomic_init (&self->last_hb_ms, 0);
    atomic_init (&self->next_worker, 0);
    self->ready_timeout_ms = ready_timeout_ms;
    self->up = up;
    self->submit_endpoint = strdup (submit_endpoint);
    self->publish_endpoint = strdup (publish_endpoint);
    self->instance_id = strdup (instance_id);
    if (!self->submit_endpoint || !self->publish_endpoint || !self->instance_id)
        goto fail;
    /* before any worker thread makes a socket: zsys_init is not reentrant */
    if (!zsys_init ())
        goto fail;
    self->curve = zh_curve_new (curve, ZH_CURVE_CLIENT);
    if (!self->curve)
        goto fail;
    self->hb_sub = zsock_new (ZMQ_SUB);
    if (!self->hb_sub)
        goto fail;
    zh_curve_apply (self->curve, self->hb_sub);
    char mon_endpoint[64];
    snprintf (mon_endpoint, sizeof mon_endpoint, "inproc://ing-hb-monitor-%p", (void *)self);
    if (zmq_socket_monitor (zsock_resolve (self->hb_sub), mon_endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        goto fail;
    self->hb_mon = zsock_new (ZMQ_PAIR);
    if (!self->hb_mon || zsock_connect (self->hb_mon, "%s", mon_endpoint) != 0)
        goto fail;
    zsock_set_linger (self->hb_sub, 0);
    zsock_set_subscribe (self->hb_sub, "hb");
    if (zsock_connect (self->hb_sub, "%s", publish_endpoint) != 0) {
        zh_error ("cannot connect to the scheduler's publish socket", "s:endpoint",
                  publish_endpoint, NULL);
        goto fail;
    }
    if (pthread_create (&self->hb_thread, NULL, s_hb_run, self) != 0)
        goto fail;
    self->hb_started = true;
    zh_info ("connecting to the scheduler", "s:submit", submit_endpoint, "s:publish",
             publish_endpoint, "s:instance", instance_id, NULL);
    return self;
fail:
    ing_bridge_destroy (&self);
    return NULL;
}

void
ing_bridge_destroy (ing_bridge_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_bridge_t *self = *self_p;
    if (self->hb_started) {
        atomic_store (&self->stop, true);
        pthread_join (self->hb_thread, NULL);
    }
    if (self->hb_mon)
        zmq_socket_monitor (zsock_resolve (self->hb_sub), NULL, 0);
    zsock_destroy (&self->hb_mon);
    zsock_destroy (&self->hb_sub);
    zh_curve_destroy (&self->curve);
    free (self->instance_id);
    free (self->publish_endpoint);
    free (self->submit_endpoint);
    free (self);
    *self_p = NULL;
}

int64_t
ing_bridge_heartbeat_age_ms (ing_bridge_t *self)
{
    int64_t last = atomic_load (&self->last_hb_ms);
    if (last == 0)
        return -1;
    return zh_clock_mono_ms () - last;
}

bool
ing_bridge_ready (ing_bridge_t *self)
{
    int64_t age = ing_bridge_heartbeat_age_ms (self);
    return age >= 0 && age <= self->ready_timeout_ms;
}

/* --- workers ----------------------------------------------------------- */

ing_bridge_worker_t *
ing_bridge_worker_new (ing_bridge_t *bridge)
{
    ing_bridge_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->bridge = bridge;
    unsigned n = atomic_fetch_add (&bridge->next_worker, 1);
    snprintf (self->topic, sizeof self->topic, "%s.%u", bridge->instance_id, n);
    self->topic_len = strlen (self->topic);
    /* replies to an earlier run of a thread with the same topic must not
     * match: start the counter at a random point */
    self->corr = zh_random_u64 () >> 16;

    self->push = zsock_new (ZMQ_PUSH);
    self->sub = zsock_new (ZMQ_SUB);
    if (!self->push || !self->sub)
        goto fail;
    zsock_set_immediate (self->push, 1);
    zsock_set_linger (self->push, 0);
    zsock_set_linger (self->sub, 0);
    zsock_set_subscribe (self->sub, self->topic);
    zh_curve_apply (bridge->curve, self->push);
    zh_curve_apply (bridge->curve, self->sub);
    if (zsock_connect (self->push, "%s", bridge->submit_endpoint) != 0 ||
        zsock_connect (self->sub, "%s", bridge->publish_endpoint) != 0)
        goto fail;
    return self;
fail:
    zh_error ("cannot create the scheduler sockets of a worker thread", "s:topic", self->topic,
              NULL);
    ing_bridge_worker_destroy (&self);
    return NULL;
}

void
ing_bridge_worker_destroy (ing_bridge_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_bridge_worker_t *self = *self_p;
    zsock_destroy (&self->sub);
    zsock_destroy (&self->push);
    free (self);
    *self_p = NULL;
}

const char *
ing_bridge_worker_topic (ing_bridge_worker_t *self)
{
    return self->topic;
}

/* Reads one whole message from the SUB socket; returns 1 with *reply when
 * it is our reply to corr, 0 when it was something else or the wait timed
 * out or was interrupted (the caller's loop owns the deadline), -1 when the
 * socket failed. */
static int
s_recv_one (ing_bridge_worker_t *self, uint64_t corr, int timeout_ms, proto_reply_t **reply)
{
    void *sock = zsock_resolve (self->sub);
    zsock_set_rcvtimeo (self->sub, timeout_ms);
    zmq_msg_t topic, body;
    zmq_msg_init (&topic);
    zmq_msg_init (&body);
    int rc = 0;
    if (zmq_msg_recv (&topic, sock, 0) < 0) {
        rc = errno == EINTR || errno == EAGAIN ? 0 : -1;
        goto out;
    }
    bool more = zmq_msg_more (&topic);
    bool have_body = false;
    if (more) {
        have_body = zmq_msg_recv (&body, sock, 0) >= 0;
        more = have_body && zmq_msg_more (&body);
    }
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, sock, 0) >= 0 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    /* subscriptions match by prefix: "ing-a.1" also receives "ing-a.12" */
    if (!have_body || zmq_msg_size (&topic) != self->topic_len ||
        memcmp (zmq_msg_data (&topic), self->topic, self->topic_len) != 0)
        goto out;
    proto_reply_t *r = NULL;
    proto_rc_t prc = proto_reply_decode (zmq_msg_data (&body), zmq_msg_size (&body), &r);
    if (prc != PROTO_OK) {
        zh_warn ("malformed scheduler reply ignored", "s:error", proto_strerror (prc), NULL);
        goto out;
    }
    if (r->corr != corr) {
        proto_reply_destroy (&r);
        goto out;
    }
    *reply = r;
    rc = 1;
out:
    zmq_msg_close (&body);
    zmq_msg_close (&topic);
    return rc;
}

static ing_bridge_rc_t
s_request (ing_bridge_worker_t *self, uint8_t *data, size_t size, uint64_t corr,
           int64_t deadline_mono, proto_reply_t **reply)
{
    int64_t left = deadline_mono - zh_clock_mono_ms ();
    if (left <= 0)
        return ING_BRIDGE_UNREACHABLE;
    zsock_set_sndtimeo (self->push, (int)left);
    int sent;
    do
        sent = zmq_send (zsock_resolve (self->push), data, size, 0);
    while (sent < 0 && errno == EINTR && zh_clock_mono_ms () < deadline_mono);
    if (sent < 0)
        return ING_BRIDGE_UNREACHABLE;
    int64_t wait_until = deadline_mono + ING_BRIDGE_GRACE_MS;
    for (;;) {
        left = wait_until - zh_clock_mono_ms ();
        if (left <= 0 || atomic_load (&self->bridge->abandon))
            return ING_BRIDGE_TIMEOUT;
        /* in slices, so a shutdown's ing_bridge_abandon is seen promptly */
        if (left > ING_BRIDGE_SLICE_MS)
            left = ING_BRIDGE_SLICE_MS;
        int rc = s_recv_one (self, corr, (int)left, reply);
        if (rc > 0)
            return ING_BRIDGE_OK;
        if (rc < 0)
            return ING_BRIDGE_TIMEOUT;
    }
}

/* Sets reply_to to our topic; the old string is freed. */
static int
s_set_reply_to (char **reply_to, const char *topic)
{
    char *copy = strdup (topic);
    if (!copy)
        return -1;
    free (*reply_to);
    *reply_to = copy;
    return 0;
}

ing_bridge_rc_t
ing_bridge_submit (ing_bridge_worker_t *self, proto_submit_t *submit, int timeout_ms,
                   proto_reply_t **reply)
{
    *reply = NULL;
    if (s_set_reply_to (&submit->reply_to, self->topic))
        return ING_BRIDGE_ERROR;
    submit->corr = ++self->corr;
    submit->deadline_ms = zh_clock_wall_ms () + timeout_ms;
    int64_t deadline_mono = zh_clock_mono_ms () + timeout_ms;
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_submit_encode (submit, &data, &size) != 0)
        return ING_BRIDGE_ERROR;
    ing_bridge_rc_t rc = s_request (self, data, size, submit->corr, deadline_mono, reply);
    free (data);
    return rc;
}

ing_bridge_rc_t
ing_bridge_command (ing_bridge_worker_t *self, proto_command_t *command, int timeout_ms,
                    proto_reply_t **reply)
{
    *reply = NULL;
    if (s_set_reply_to (&command->reply_to, self->topic))
        return ING_BRIDGE_ERROR;
    command->corr = ++self->corr;
    command->deadline_ms = zh_clock_wall_ms () + timeout_ms;
    int64_t deadline_mono = zh_clock_mono_ms () + timeout_ms;
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_command_encode (command, &data, &size) != 0)
        return ING_BRIDGE_ERROR;
    ing_bridge_rc_t rc = s_request (self, data, size, command->corr, deadline_mono, reply);
    free (data);
    return rc;
}

void
ing_bridge_abandon (ing_bridge_t *self)
{
    atomic_store (&self->abandon, true);
}
