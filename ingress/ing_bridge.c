/*  ing_bridge.c — one shared PUSH, one reader thread with the SUB, and a
 *  reply slot per civetweb worker thread. */
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
#include <time.h>

/* The scheduler refuses to start a commit past deadline_ms, but one begun
 * just before it finishes a little later: waiting this much longer turns
 * most such races into a 202 instead of a 503 for a committed message. */
#define ING_BRIDGE_GRACE_MS 250
#define ING_BRIDGE_SLICE_MS 100 /* longest wait between checks of abandon */
#define ING_BRIDGE_POLL_MS 100 /* the reader's poll: heartbeat age is re-checked this often */
#define ING_BRIDGE_RETRY_MS 2 /* a send refused (no scheduler connected) is retried this often */
#define ING_BRIDGE_MAX_WORKERS 2048 /* reply slots: civetweb threads of one process */
#define ING_BRIDGE_DRAIN 1000 /* most messages the reader takes per wake-up */

/* Where a worker thread waits for its reply. The reader thread fills it. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC: signalled when reply is set */
    uint64_t waiting; /* corr being waited for; 0 = nobody waits */
    proto_reply_t *reply; /* the reply to waiting, owned here until taken */
} s_slot_t;

struct _ing_bridge_t {
    char *submit_endpoint;
    char *publish_endpoint;
    char *instance_id;
    char prefix[160]; /* "<instance>.": the topic of this ingress's replies */
    size_t prefix_len;
    int ready_timeout_ms;
    zh_gauge_t *up; /* borrowed, may be NULL */
    zh_curve_t *curve; /* CURVE client keys (immutable once made) */
    /* every worker thread sends through this one socket, under push_lock:
     * one connection instead of one per thread lets ZeroMQ batch many
     * requests into one TCP write, and the scheduler's replies into one read */
    zsock_t *push;
    pthread_mutex_t push_lock;
    bool push_lock_made;
    zsock_t *sub; /* "hb" and the reply prefix; owned by the reader thread once it runs */
    zsock_t *mon; /* PAIR of sub's monitor: handshake results (same owner) */
    bool refused; /* the last handshake failed authentication (logged once per streak) */
    s_slot_t *slots; /* ING_BRIDGE_MAX_WORKERS, indexed by a worker's number */
    size_t slots_made; /* slots whose mutex and condvar exist */
    pthread_t reader;
    bool reader_started;
    atomic_bool stop;
    atomic_bool abandon; /* shutdown grace over: waiting requests give up */
    atomic_int_fast64_t last_hb_ms; /* monotonic ms of the last ready heartbeat; 0 = never */
    atomic_uint next_worker; /* numbers the workers' reply slots */
};

struct _ing_bridge_worker_t {
    ing_bridge_t *bridge;
    unsigned index; /* its reply slot, carried in the top bits of corr */
    uint64_t corr; /* counter part of the last correlation id used */
};

/* --- heartbeat watcher ------------------------------------------------- */

/* Replies come on this ingress's one topic (its prefix), several per frame
 * (proto_frame_each); a reply names its worker in the top bits of corr. */
#define S_CORR_SLOT_SHIFT 48
#define S_CORR_COUNTER_MASK ((UINT64_C (1) << S_CORR_SLOT_SHIFT) - 1)

/* One reply for one of our workers (proto_frame_each): to its slot if it
 * still waits for that corr, else dropped (late reply to an earlier
 * request). A reply that does not decode ends the frame. */
static proto_rc_t
s_deliver_one (void *arg, const uint8_t *body, size_t body_len)
{
    ing_bridge_t *self = arg;
    proto_reply_t *r = NULL;
    proto_rc_t prc = proto_reply_decode (body, body_len, &r);
    if (prc != PROTO_OK)
        return prc;
    uint64_t index = r->corr >> S_CORR_SLOT_SHIFT;
    if (index < self->slots_made) {
        s_slot_t *slot = &self->slots[index];
        bool wake = false;
        pthread_mutex_lock (&slot->lock);
        if (slot->waiting != 0 && slot->waiting == r->corr && !slot->reply) {
            slot->reply = r;
            r = NULL;
            wake = true;
        }
        pthread_mutex_unlock (&slot->lock);
        /* signalled after the unlock: woken inside it, the worker would
         * block at once on the mutex this thread still holds (two more
         * futex calls and a context switch per request); a worker that
         * already left sees a spurious wake-up on its next wait */
        if (wake)
            pthread_cond_signal (&slot->cond);
    }
    proto_reply_destroy (&r);
    return PROTO_OK;
}

/* A frame of replies: each whole one is delivered; a malformed one ends
 * the frame (the requests of the rest time out, answered 503). */
static void
s_deliver (ing_bridge_t *self, const uint8_t *body, size_t body_len)
{
    size_t kept = 0;
    proto_rc_t prc = proto_frame_each (body, body_len, s_deliver_one, self, &kept);
    if (prc != PROTO_OK)
        zh_warn ("malformed scheduler reply frame: the rest ignored", "s:error",
                 proto_strerror (prc), "i:kept", (int64_t)kept, NULL);
}

/* Reads one whole message from the SUB: a heartbeat or a reply. */
static void
s_frame (ing_bridge_t *self)
{
    void *sock = zsock_resolve (self->sub);
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
    const uint8_t *t = zmq_msg_data (&topic);
    size_t tn = zmq_msg_size (&topic);
    if (tn == self->prefix_len && memcmp (t, self->prefix, self->prefix_len) == 0) {
        s_deliver (self, zmq_msg_data (&body), zmq_msg_size (&body));
        goto out;
    }
    if (tn != 2 || memcmp (t, "hb", 2) != 0)
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
 * CURVE key is worth one error line, not one per reconnect.
 *
 * A disconnect forgets the last heartbeat: until one arrives over the new
 * connection, this ingress is not ready and refuses submissions (503,
 * nothing sent). A heartbeat received after the reconnect proves the
 * scheduler's PUB holds our subscriptions (they travel first on the
 * connection), so its replies reach us; before that, a request that a
 * restarted scheduler committed at once could have its 202 published into
 * the void and be answered 503 here. */
static void
s_hb_monitor (ing_bridge_t *self)
{
    void *sock = zsock_resolve (self->mon);
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
        if (event == ZMQ_EVENT_DISCONNECTED)
            atomic_store (&self->last_hb_ms, 0);
        else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
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
s_reader_run (void *arg)
{
    ing_bridge_t *self = arg;
    bool was_up = false;
    while (!atomic_load (&self->stop)) {
        zmq_pollitem_t items[2] = {{zsock_resolve (self->sub), 0, ZMQ_POLLIN, 0},
                                   {zsock_resolve (self->mon), 0, ZMQ_POLLIN, 0}};
        int n = zmq_poll (items, 2, ING_BRIDGE_POLL_MS);
        zmq_pollitem_t item = items[0];
        if (items[1].revents & ZMQ_POLLIN)
            s_hb_monitor (self);
        if (n < 0 && errno != EINTR) {
            zh_error ("scheduler reader: poll failed", "s:error", zmq_strerror (errno), NULL);
            break;
        }
        if (n > 0)
            for (int i = 0; i < ING_BRIDGE_DRAIN && (item.revents & ZMQ_POLLIN); i++) {
                s_frame (self);
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
    int pn = snprintf (self->prefix, sizeof self->prefix, "%s.", instance_id);
    if (pn <= 0 || (size_t)pn >= sizeof self->prefix)
        goto fail;
    self->prefix_len = (size_t)pn;
    self->slots = calloc (ING_BRIDGE_MAX_WORKERS, sizeof *self->slots);
    if (!self->slots)
        goto fail;
    pthread_condattr_t attr;
    if (pthread_condattr_init (&attr) != 0)
        goto fail;
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    for (; self->slots_made < ING_BRIDGE_MAX_WORKERS; self->slots_made++) {
        s_slot_t *slot = &self->slots[self->slots_made];
        if (pthread_mutex_init (&slot->lock, NULL) != 0)
            break;
        if (pthread_cond_init (&slot->cond, &attr) != 0) {
            pthread_mutex_destroy (&slot->lock);
            break;
        }
    }
    pthread_condattr_destroy (&attr);
    if (self->slots_made < ING_BRIDGE_MAX_WORKERS)
        goto fail;
    if (pthread_mutex_init (&self->push_lock, NULL) != 0)
        goto fail;
    self->push_lock_made = true;
    /* before any worker thread makes a socket: zsys_init is not reentrant */
    if (!zsys_init ())
        goto fail;
    self->curve = zh_curve_new (curve, ZH_CURVE_CLIENT);
    if (!self->curve)
        goto fail;
    self->push = zsock_new (ZMQ_PUSH);
    self->sub = zsock_new (ZMQ_SUB);
    if (!self->push || !self->sub)
        goto fail;
    zsock_set_immediate (self->push, 1); /* no queueing to an absent scheduler */
    zsock_set_linger (self->push, 0);
    zh_curve_apply (self->curve, self->push);
    zh_curve_apply (self->curve, self->sub);
    char mon_endpoint[64];
    snprintf (mon_endpoint, sizeof mon_endpoint, "inproc://ing-hb-monitor-%p", (void *)self);
    if (zmq_socket_monitor (zsock_resolve (self->sub), mon_endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_DISCONNECTED) != 0)
        goto fail;
    self->mon = zsock_new (ZMQ_PAIR);
    if (!self->mon || zsock_connect (self->mon, "%s", mon_endpoint) != 0)
        goto fail;
    zsock_set_linger (self->sub, 0);
    zsock_set_subscribe (self->sub, "hb");
    zsock_set_subscribe (self->sub, self->prefix);
    if (zsock_connect (self->sub, "%s", publish_endpoint) != 0) {
        zh_error ("cannot connect to the scheduler's publish socket", "s:endpoint",
                  publish_endpoint, NULL);
        goto fail;
    }
    if (zsock_connect (self->push, "%s", submit_endpoint) != 0) {
        zh_error ("cannot connect to the scheduler's submit socket", "s:endpoint", submit_endpoint,
                  NULL);
        goto fail;
    }
    if (pthread_create (&self->reader, NULL, s_reader_run, self) != 0)
        goto fail;
    self->reader_started = true;
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
    if (self->reader_started) {
        atomic_store (&self->stop, true);
        pthread_join (self->reader, NULL);
    }
    if (self->mon)
        zmq_socket_monitor (zsock_resolve (self->sub), NULL, 0);
    zsock_destroy (&self->mon);
    zsock_destroy (&self->sub);
    zsock_destroy (&self->push);
    if (self->push_lock_made)
        pthread_mutex_destroy (&self->push_lock);
    for (size_t i = 0; i < self->slots_made; i++) {
        proto_reply_destroy (&self->slots[i].reply);
        pthread_cond_destroy (&self->slots[i].cond);
        pthread_mutex_destroy (&self->slots[i].lock);
    }
    free (self->slots);
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
    unsigned n = atomic_fetch_add (&bridge->next_worker, 1);
    if (n >= ING_BRIDGE_MAX_WORKERS) {
        zh_error ("too many ingress worker threads for the reply slots", "i:max",
                  (int64_t)ING_BRIDGE_MAX_WORKERS, NULL);
        return NULL;
    }
    ing_bridge_worker_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->bridge = bridge;
    self->index = n;
    /* replies to an earlier run of a thread with the same slot must not
     * match: start the counter at a random point */
    self->corr = zh_random_u64 () & S_CORR_COUNTER_MASK;
    return self;
}

void
ing_bridge_worker_destroy (ing_bridge_worker_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_bridge_worker_t *self = *self_p;
    s_slot_t *slot = &self->bridge->slots[self->index];
    pthread_mutex_lock (&slot->lock);
    slot->waiting = 0;
    proto_reply_destroy (&slot->reply);
    pthread_mutex_unlock (&slot->lock);
    free (self);
    *self_p = NULL;
}

const char *
ing_bridge_worker_topic (ing_bridge_worker_t *self)
{
    return self->bridge->prefix;
}

/* Sends on the shared PUSH without blocking under the lock: while no
 * scheduler is connected (ZMQ_IMMEDIATE) or the pipe is full, retries
 * until the deadline. 0 sent, -1 not. */
static int
s_send (ing_bridge_t *bridge, const uint8_t *data, size_t size, int64_t deadline_mono)
{
    void *sock = zsock_resolve (bridge->push);
    for (;;) {
        pthread_mutex_lock (&bridge->push_lock);
        int sent = zmq_send (sock, data, size, ZMQ_DONTWAIT);
        int err = errno;
        pthread_mutex_unlock (&bridge->push_lock);
        if (sent >= 0)
            return 0;
        if (err != EAGAIN && err != EINTR)
            return -1;
        if (zh_clock_mono_ms () + ING_BRIDGE_RETRY_MS >= deadline_mono ||
            atomic_load (&bridge->abandon))
            return -1;
        struct timespec pause = {0, ING_BRIDGE_RETRY_MS * 1000000L};
        nanosleep (&pause, NULL);
    }
}

static ing_bridge_rc_t
s_request (ing_bridge_worker_t *self, uint8_t *data, size_t size, uint64_t corr,
           int64_t deadline_mono, proto_reply_t **reply)
{
    ing_bridge_t *bridge = self->bridge;
    s_slot_t *slot = &bridge->slots[self->index];
    if (deadline_mono - zh_clock_mono_ms () <= 0)
        return ING_BRIDGE_UNREACHABLE;
    /* waiting is set before the send, so even an instant reply finds it */
    pthread_mutex_lock (&slot->lock);
    slot->waiting = corr;
    proto_reply_destroy (&slot->reply);
    pthread_mutex_unlock (&slot->lock);
    ing_bridge_rc_t rc = ING_BRIDGE_TIMEOUT;
    if (s_send (bridge, data, size, deadline_mono) != 0)
        rc = ING_BRIDGE_UNREACHABLE;
    int64_t wait_until = deadline_mono + ING_BRIDGE_GRACE_MS;
    pthread_mutex_lock (&slot->lock);
    while (rc == ING_BRIDGE_TIMEOUT && !slot->reply) {
        int64_t now = zh_clock_mono_ms ();
        if (now >= wait_until || atomic_load (&bridge->abandon))
            break;
        /* in slices, so a shutdown's ing_bridge_abandon is seen promptly */
        int64_t until =
            wait_until - now > ING_BRIDGE_SLICE_MS ? now + ING_BRIDGE_SLICE_MS : wait_until;
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        int64_t ns = (int64_t)ts.tv_nsec + (until - now) * 1000000;
        ts.tv_sec += (time_t)(ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait (&slot->cond, &slot->lock, &ts);
    }
    if (slot->reply) {
        *reply = slot->reply;
        slot->reply = NULL;
        rc = ING_BRIDGE_OK;
    }
    slot->waiting = 0;
    pthread_mutex_unlock (&slot->lock);
    return rc;
}

/* The next correlation id: the worker's slot in the top bits, a counter
 * below (never 0, which means nobody waits). */
static uint64_t
s_next_corr (ing_bridge_worker_t *self)
{
    self->corr = (self->corr + 1) & S_CORR_COUNTER_MASK;
    if (self->corr == 0)
        self->corr = 1;
    return ((uint64_t)self->index << S_CORR_SLOT_SHIFT) | self->corr;
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
    if (s_set_reply_to (&submit->reply_to, self->bridge->prefix))
        return ING_BRIDGE_ERROR;
    submit->corr = s_next_corr (self);
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
    if (s_set_reply_to (&command->reply_to, self->bridge->prefix))
        return ING_BRIDGE_ERROR;
    command->corr = s_next_corr (self);
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
