/*  ing_server_test.c — the HTTP API over real sockets against a fake
 *  scheduler: a PULL + PUB pair in a CZMQ actor that answers with canned
 *  replies and publishes heartbeats. Listens on 127.0.0.1:0 and binds the
 *  ZeroMQ endpoints to ephemeral ports. */
#include "common/zh_clock.h"
#include "common/zh_id.h"
#include "common/zh_trace.h"
#include "ingress/ing_config.h"
#include "ingress/ing_server.h"
#include "proto/proto.h"

#include <czmq.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define API_KEY "test-key-1"
#define KNOWN_ID "msg_01JD0000000000000000000001"
#define KNOWN_SUB "sub_01JD0000000000000000000001"
#define KNOWN_EVT "evt_01JD0000000000000000000001"
#define OLD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

typedef enum { FAKE_ANSWER = 0, FAKE_SILENT, FAKE_FULL, FAKE_DOWN } fake_mode_t;

/* What the fake scheduler saw last (guarded by mutex). */
typedef struct {
    pthread_mutex_t mutex;
    atomic_int mode;
    atomic_int submits;
    atomic_int commands;
    char tenant[64];
    char idem_key[256];
    uint8_t idem_hash[32];
    char reply_to[160];
    char request_id[160];
    char url[256];
    char payload[256];
    size_t item_count;
    proto_op_t op;
    uint32_t limit;
    char topic[160]; /* submit.topic or command.topic */
    char item_id[64];
    char ordering_key[300];
    char traceparent[64]; /* items[0].traceparent */
    char id[64]; /* command.id */
    char after[300];
    bool has_sub; /* command.subscription */
    char sub_id[64];
    char sub_tenant[64];
    char sub_topic[160];
    char sub_url[256];
    char sub_secret[128];
    bool sub_enabled;
    uint32_t sub_rate_limit;
    uint32_t update_mask;
} fake_seen_t;

typedef struct {
    zactor_t *fake;
    fake_seen_t seen;
    int submit_port;
    int publish_port;
    char dir[64];
    char keys[128];
    ing_config_t cfg;
    ing_server_t *server;
    int port;
} fixture_t;

/* --- the fake scheduler ------------------------------------------------ */

static void
s_publish (zsock_t *pub, const char *topic, proto_reply_t *reply)
{
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_reply_encode (reply, &data, &size) == 0) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, topic);
        zmsg_addmem (msg, data, size);
        zmsg_send (&msg, pub);
    }
    free (data);
}

static void
s_fake_submit (fixture_t *f, zsock_t *pub, proto_submit_t *s)
{
    fake_seen_t *seen = &f->seen;
    pthread_mutex_lock (&seen->mutex);
    snprintf (seen->tenant, sizeof seen->tenant, "%s", s->tenant);
    snprintf (seen->idem_key, sizeof seen->idem_key, "%s", s->idem_key ? s->idem_key : "");
    memcpy (seen->idem_hash, s->idem_hash, 32);
    snprintf (seen->reply_to, sizeof seen->reply_to, "%s", s->reply_to);
    snprintf (seen->request_id, sizeof seen->request_id, "%s", s->request_id ? s->request_id : "");
    seen->item_count = s->item_count;
    snprintf (seen->topic, sizeof seen->topic, "%s", s->topic ? s->topic : "");
    if (s->item_count) {
        snprintf (seen->item_id, sizeof seen->item_id, "%s", s->items[0].id);
        snprintf (seen->ordering_key, sizeof seen->ordering_key, "%s",
                  s->items[0].ordering_key ? s->items[0].ordering_key : "");
        snprintf (seen->traceparent, sizeof seen->traceparent, "%s",
                  s->items[0].traceparent ? s->items[0].traceparent : "");
        snprintf (seen->url, sizeof seen->url, "%s", s->items[0].url);
        snprintf (seen->payload, sizeof seen->payload, "%.*s", (int)s->items[0].payload_size,
                  (const char *)s->items[0].payload);
    }
    pthread_mutex_unlock (&seen->mutex);
    atomic_fetch_add (&seen->submits, 1);

    int mode = atomic_load (&seen->mode);
    if (mode == FAKE_SILENT)
        return;
    proto_reply_t *reply = proto_reply_new ();
    reply->corr = s->corr;
    if (mode == FAKE_FULL) {
        reply->status = 507;
        reply->error = strdup ("store full");
    }
    else if (s->idem_key && !strcmp (s->idem_key, "conflict")) {
        reply->status = 409;
        reply->error = strdup ("Idempotency-Key reused with another body");
    }
    else if (s->topic) {
        /* an event: two followers, or none for "nobody.home" */
        reply->status = 202;
        reply->replayed = s->idem_key && !strcmp (s->idem_key, "replay-me");
        reply->event_id = strdup (reply->replayed ? KNOWN_EVT : s->items[0].id);
        for (int i = 0; strcmp (s->topic, "nobody.home") && i < 2; i++) {
            proto_reply_item_t *it = proto_reply_add_item (reply);
            char id[ZH_ID_MAX];
            zh_id_new ("msg", id, sizeof id);
            it->id = strdup (id);
            it->status = 202;
        }
    }
    else {
        reply->status = 202;
        reply->replayed = s->idem_key && !strcmp (s->idem_key, "replay-me");
        for (size_t i = 0; i < s->item_count; i++) {
            proto_reply_item_t *it = proto_reply_add_item (reply);
            it->id = strdup (reply->replayed ? KNOWN_ID : s->items[i].id);
            it->status = 202;
            it->deliver_at_ms = zh_clock_wall_ms () + s->items[i].delay_ms;
        }
    }
    s_publish (pub, s->reply_to, reply);
    proto_reply_destroy (&reply);
}

/* The known subscription as the store would answer, secrets included. */
static void
s_fake_subscription (proto_subscription_t *sub, const char *secret)
{
    sub->id = strdup (KNOWN_SUB);
    sub->tenant = strdup ("acme");
    sub->topic = strdup ("order.*");
    sub->url = strdup ("https://example.com/orders");
    sub->secret = strdup (secret ? secret : OLD_SECRET);
    sub->previous_secret = secret ? strdup (OLD_SECRET) : NULL;
    sub->enabled = true;
    sub->created_ms = zh_clock_wall_ms ();
    sub->updated_ms = sub->created_ms;
}

/* Subscription and event ops; false when c is another op. */
static bool
s_fake_broker (proto_command_t *c, proto_reply_t *reply)
{
    proto_subscription_t *in = c->subscription;
    switch (c->op) {
    case PROTO_OP_SUB_CREATE: {
        proto_subscription_t *sub = proto_reply_add_subscription (reply);
        sub->id = strdup (in->id ? in->id : "sub_missing");
        sub->tenant = strdup (c->tenant);
        sub->topic = strdup (in->topic);
        sub->url = strdup (in->url);
        sub->secret = in->secret ? strdup (in->secret) : NULL;
        sub->description = in->description ? strdup (in->description) : NULL;
        sub->enabled = in->enabled;
        sub->rate_limit = in->rate_limit;
        sub->created_ms = zh_clock_wall_ms ();
        reply->status = 201;
        return true;
    }
    case PROTO_OP_SUB_LIST:
        for (int i = 0; i < 2; i++)
            s_fake_subscription (proto_reply_add_subscription (reply), NULL);
        reply->next = strdup ("sub-cursor");
        return true;
    case PROTO_OP_SUB_GET:
    case PROTO_OP_SUB_DELETE:
    case PROTO_OP_SUB_UPDATE:
    case PROTO_OP_SUB_ROTATE:
        if (strcmp (c->id, KNOWN_SUB)) {
            reply->status = 404;
            reply->error = strdup ("no such subscription");
            return true;
        }
        proto_subscription_t *sub = proto_reply_add_subscription (reply);
        s_fake_subscription (sub, c->op == PROTO_OP_SUB_ROTATE ? in->secret : NULL);
        if (c->op == PROTO_OP_SUB_UPDATE && (c->update_mask & PROTO_SUB_SET_ENABLED)) {
            sub->enabled = in->enabled;
            sub->disabled_reason = in->enabled ? NULL : strdup ("user");
        }
        if (c->op == PROTO_OP_SUB_UPDATE && (c->update_mask & PROTO_SUB_SET_RATE_LIMIT))
            sub->rate_limit = in->rate_limit;
        return true;
    case PROTO_OP_EVENT_GET:
        if (strcmp (c->id, KNOWN_EVT)) {
            reply->status = 404;
            reply->error = strdup ("no such event");
            return true;
        }
        reply->event_id = strdup (KNOWN_EVT);
        reply->topic = strdup ("order.created");
        reply->event_created_ms = zh_clock_wall_ms ();
        proto_record_t *r = proto_reply_add_record (reply);
        r->id = strdup (KNOWN_ID);
        r->url = strdup ("https://example.com/orders");
        r->status = PROTO_ST_DELIVERED;
        r->subscription_id = strdup (KNOWN_SUB);
        r->event_id = strdup (KNOWN_EVT);
        return true;
    default:
        return false;
    }
}

static void
s_fake_command (fixture_t *f, zsock_t *pub, proto_command_t *c)
{
    fake_seen_t *seen = &f->seen;
    pthread_mutex_lock (&seen->mutex);
    snprintf (seen->tenant, sizeof seen->tenant, "%s", c->tenant);
    seen->op = c->op;
    seen->limit = c->limit;
    snprintf (seen->topic, sizeof seen->topic, "%s", c->topic ? c->topic : "");
    snprintf (seen->id, sizeof seen->id, "%s", c->id ? c->id : "");
    snprintf (seen->after, sizeof seen->after, "%s", c->after ? c->after : "");
    seen->update_mask = c->update_mask;
    proto_subscription_t *sub = c->subscription;
    seen->has_sub = sub != NULL;
    snprintf (seen->sub_id, sizeof seen->sub_id, "%s", sub && sub->id ? sub->id : "");
    snprintf (seen->sub_tenant, sizeof seen->sub_tenant, "%s",
              sub && sub->tenant ? sub->tenant : "");
    snprintf (seen->sub_topic, sizeof seen->sub_topic, "%s", sub && sub->topic ? sub->topic : "");
    snprintf (seen->sub_url, sizeof seen->sub_url, "%s", sub && sub->url ? sub->url : "");
    snprintf (seen->sub_secret, sizeof seen->sub_secret, "%s",
              sub && sub->secret ? sub->secret : "");
    seen->sub_enabled = sub && sub->enabled;
    seen->sub_rate_limit = sub ? sub->rate_limit : 0;
    pthread_mutex_unlock (&seen->mutex);
    atomic_fetch_add (&seen->commands, 1);
    if (atomic_load (&seen->mode) == FAKE_SILENT)
        return;
    proto_reply_t *reply = proto_reply_new ();
    reply->corr = c->corr;
    reply->status = 200;
    if (s_fake_broker (c, reply))
        ; /* answered */
    else if (c->op == PROTO_OP_STATUS) {
        proto_reply_add_stat (reply, "scheduled", 7);
        proto_reply_add_stat (reply, "dead", 1);
    }
    else if (c->op == PROTO_OP_DL_LIST) {
        proto_record_t *r = proto_reply_add_record (reply);
        r->id = strdup (KNOWN_ID);
        r->url = strdup ("https://example.com/");
        r->status = PROTO_ST_DEAD;
        r->dead_reason = strdup ("max_attempts");
        reply->next = strdup ("cursor-2");
    }
    else if (c->id && !strcmp (c->id, KNOWN_ID)) {
        proto_record_t *r = proto_reply_add_record (reply);
        r->id = strdup (KNOWN_ID);
        r->url = strdup ("https://example.com/");
        r->status = c->op == PROTO_OP_CANCEL ? PROTO_ST_CANCELLED : PROTO_ST_SCHEDULED;
        r->created_ms = zh_clock_wall_ms ();
        r->deliver_at_ms = r->created_ms;
    }
    else {
        reply->status = 404;
        reply->error = strdup ("no such message");
    }
    s_publish (pub, c->reply_to, reply);
    proto_reply_destroy (&reply);
}

static void
s_fake_actor (zsock_t *pipe, void *arg)
{
    fixture_t *f = arg;
    zsock_t *pull = zsock_new (ZMQ_PULL);
    zsock_t *pub = zsock_new (ZMQ_PUB);
    assert (pull && pub);
    f->submit_port = zsock_bind (pull, "tcp://127.0.0.1:*");
    f->publish_port = zsock_bind (pub, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, pull, NULL);
    int64_t next_hb = 0;
    while (true) {
        if (zh_clock_mono_ms () >= next_hb && atomic_load (&f->seen.mode) != FAKE_DOWN) {
            proto_heartbeat_t *hb = proto_heartbeat_new ();
            hb->from = strdup ("scheduler");
            hb->at_ms = zh_clock_wall_ms ();
            hb->ready = true;
            uint8_t *data = NULL;
            size_t size = 0;
            if (proto_heartbeat_encode (hb, &data, &size) == 0) {
                zmsg_t *msg = zmsg_new ();
                zmsg_addstr (msg, "hb");
                zmsg_addmem (msg, data, size);
                zmsg_send (&msg, pub);
            }
            free (data);
            proto_heartbeat_destroy (&hb);
            next_hb = zh_clock_mono_ms () + 50;
        }
        void *which = zpoller_wait (poller, 20);
        if (which == pipe)
            break;
        if (which != pull)
            continue;
        zframe_t *frame = zframe_recv (pull);
        if (!frame)
            continue;
        const uint8_t *data = zframe_data (frame);
        size_t size = zframe_size (frame);
        proto_type_t type = proto_peek_type (data, size);
        if (type == PROTO_T_SUBMIT) {
            proto_submit_t *s = NULL;
            if (proto_submit_decode (data, size, &s) == PROTO_OK)
                s_fake_submit (f, pub, s);
            proto_submit_destroy (&s);
        }
        else if (type == PROTO_T_COMMAND) {
            proto_command_t *c = NULL;
            if (proto_command_decode (data, size, &c) == PROTO_OK)
                s_fake_command (f, pub, c);
            proto_command_destroy (&c);
        }
        zframe_destroy (&frame);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&pub);
    zsock_destroy (&pull);
}

/* --- HTTP client ------------------------------------------------------- */

typedef struct {
    long status;
    char headers[4096];
    size_t headers_len;
    char body[262144];
    size_t body_len;
} response_t;

static size_t
s_on_body (char *data, size_t size, size_t n, void *arg)
{
    response_t *r = arg;
    size_t len = size * n;
    size_t room = sizeof r->body - 1 - r->body_len;
    memcpy (r->body + r->body_len, data, len < room ? len : room);
    r->body_len += len < room ? len : room;
    r->body[r->body_len] = 0;
    return len;
}

static size_t
s_on_header (char *data, size_t size, size_t n, void *arg)
{
    response_t *r = arg;
    size_t len = size * n;
    size_t room = sizeof r->headers - 1 - r->headers_len;
    memcpy (r->headers + r->headers_len, data, len < room ? len : room);
    r->headers_len += len < room ? len : room;
    r->headers[r->headers_len] = 0;
    return len;
}

/* headers: NULL-terminated list of "Name: value" lines. */
static void
s_http (fixture_t *f, const char *method, const char *path, const char *body, const char **headers,
        response_t *r)
{
    memset (r, 0, sizeof *r);
    CURL *curl = curl_easy_init ();
    assert_non_null (curl);
    char url[256];
    snprintf (url, sizeof url, "http://127.0.0.1:%d%s", f->port, path);
    struct curl_slist *list = curl_slist_append (NULL, "Expect:");
    for (const char **h = headers; h && *h; h++)
        list = curl_slist_append (list, *h);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, r);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, r);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    if (body)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform (curl);
    if (rc != CURLE_OK)
        print_error ("curl: %s\n", curl_easy_strerror (rc));
    assert_int_equal (rc, CURLE_OK);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all (list);
    curl_easy_cleanup (curl);
}

/* Value of a response header (case-insensitive name), or NULL. */
static const char *
s_header (response_t *r, const char *name, char *buf, size_t size)
{
    size_t n = strlen (name);
    for (char *line = r->headers; line && *line;) {
        char *eol = strstr (line, "\r\n");
        if (!strncasecmp (line, name, n) && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            size_t len = eol ? (size_t)(eol - v) : strlen (v);
            snprintf (buf, size, "%.*s", (int)len, v);
            return buf;
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

static json_t *
s_json (response_t *r)
{
    json_t *v = json_loads (r->body, 0, NULL);
    if (!v)
        print_error ("not JSON: %s\n", r->body);
    assert_non_null (v);
    return v;
}

/* Value of one series in /metrics (name with labels and the space), or -1. */
static int64_t
s_metric (fixture_t *f, const char *series)
{
    response_t r;
    s_http (f, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal (r.status, 200);
    char line[256];
    snprintf (line, sizeof line, "\n%s", series); /* a sample, not the HELP line */
    const char *p = strstr (r.body, line);
    return p ? strtoll (p + strlen (line), NULL, 10) : -1;
}

/* The series once it reaches at least want (the counter is bumped just
 * after the response is sent), or its value at a 2 s deadline. */
static int64_t
s_metric_at_least (fixture_t *f, const char *series, int64_t want)
{
    int64_t deadline = zh_clock_mono_ms () + 2000, value;
    while ((value = s_metric (f, series)) < want && zh_clock_mono_ms () < deadline)
        usleep (10 * 1000);
    return value;
}

static const char *s_auth_json[] = {"Authorization: Bearer " API_KEY,
                                    "Content-Type: application/json", NULL};

/* --- fixture ----------------------------------------------------------- */

static int
s_setup (void **state)
{
    fixture_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    pthread_mutex_init (&f->seen.mutex, NULL);
    f->fake = zactor_new (s_fake_actor, f);
    assert_non_null (f->fake);
    assert_true (f->submit_port > 0 && f->publish_port > 0);

    snprintf (f->dir, sizeof f->dir, "/tmp/ing_server_test.XXXXXX");
    assert_non_null (mkdtemp (f->dir));
    snprintf (f->keys, sizeof f->keys, "%s/keys", f->dir);
    unsigned char hash[32];
    unsigned int n = 0;
    assert_true (EVP_Digest (API_KEY, strlen (API_KEY), hash, &n, EVP_sha256 (), NULL));
    FILE *file = fopen (f->keys, "w");
    assert_non_null (file);
    fprintf (file, "acme ");
    for (int i = 0; i < 32; i++)
        fprintf (file, "%02x", hash[i]);
    fprintf (file, "\n");
    fclose (file);

    static char submit[64], publish[64];
    snprintf (submit, sizeof submit, "tcp://127.0.0.1:%d", f->submit_port);
    snprintf (publish, sizeof publish, "tcp://127.0.0.1:%d", f->publish_port);
    f->cfg.log_level = ZH_LOG_WARN;
    f->cfg.listen = "127.0.0.1:0";
    f->cfg.submit_endpoint = submit;
    f->cfg.publish_endpoint = publish;
    f->cfg.http_threads = 4;
    f->cfg.request_timeout_ms = 400;
    f->cfg.max_body_bytes = 4096;
    f->cfg.auth = true;
    f->cfg.api_keys_file = f->keys;
    f->cfg.instance_id = "ing-test";
    f->cfg.ready_timeout_ms = 1000;
    zh_log_init ("ingress", ZH_LOG_WARN);
    f->server = ing_server_new (&f->cfg, NULL);
    assert_non_null (f->server);
    f->port = ing_server_port (f->server);
    assert_true (f->port > 0);

    /* wait, with a deadline, until the scheduler is heard, then answers */
    int64_t deadline = zh_clock_mono_ms () + 5000;
    response_t r;
    do {
        s_http (f, "GET", "/ready", NULL, NULL, &r);
    } while (r.status != 200 && zh_clock_mono_ms () < deadline && usleep (20 * 1000) == 0);
    assert_int_equal (r.status, 200);
    do {
        s_http (f, "GET", "/v1/status", NULL, s_auth_json, &r);
    } while (r.status != 200 && zh_clock_mono_ms () < deadline && usleep (20 * 1000) == 0);
    assert_int_equal (r.status, 200);
    *state = f;
    return 0;
}

/* Each test starts with a scheduler that answers. */
static int
s_reset (void **state)
{
    fixture_t *f = *state;
    atomic_store (&f->seen.mode, FAKE_ANSWER);
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *f = *state;
    ing_server_destroy (&f->server);
    zactor_destroy (&f->fake);
    unlink (f->keys);
    rmdir (f->dir);
    pthread_mutex_destroy (&f->seen.mutex);
    free (f);
    return 0;
}

/* --- tests ------------------------------------------------------------- */

static void
test_create (void **state)
{
    fixture_t *f = *state;
    const char *body = "{\"url\":\"https://example.com/hook\",\"payload\":{\"n\": 1}}";
    const char *headers[] = {"Authorization: Bearer " API_KEY,
                             "Content-Type: application/json; charset=utf-8",
                             "X-Request-Id: my-req.1",
                             "Idempotency-Key: order-42",
                             "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                             NULL};
    response_t r;
    s_http (f, "POST", "/v1/messages", body, headers, &r);
    assert_int_equal (r.status, 202);
    char buf[256], location[256];
    assert_non_null (s_header (&r, "X-Request-Id", buf, sizeof buf));
    assert_string_equal (buf, "my-req.1");
    assert_non_null (s_header (&r, "Content-Type", buf, sizeof buf));
    assert_string_equal (buf, "application/json");
    assert_null (s_header (&r, "Idempotent-Replayed", buf, sizeof buf));
    assert_non_null (s_header (&r, "Location", location, sizeof location));
    json_t *o = s_json (&r);
    const char *id = json_string_value (json_object_get (o, "id"));
    assert_non_null (id);
    assert_true (zh_id_valid (id, "msg"));
    snprintf (buf, sizeof buf, "/v1/messages/%s", id);
    assert_string_equal (location, buf);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "scheduled");
    assert_true (json_is_string (json_object_get (o, "deliver_at")));
    json_decref (o);

    /* what reached the scheduler */
    unsigned char hash[32];
    unsigned int n = 0;
    assert_true (EVP_Digest (body, strlen (body), hash, &n, EVP_sha256 (), NULL));
    pthread_mutex_lock (&f->seen.mutex);
    assert_string_equal (f->seen.tenant, "acme");
    assert_string_equal (f->seen.idem_key, "order-42");
    assert_memory_equal (f->seen.idem_hash, hash, 32);
    assert_string_equal (f->seen.request_id, "my-req.1");
    assert_int_equal (strncmp (f->seen.reply_to, "ing-test.", 9), 0);
    assert_string_equal (f->seen.url, "https://example.com/hook");
    assert_string_equal (f->seen.payload, "{\"n\":1}");
    assert_string_equal (f->seen.traceparent,
                         "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    pthread_mutex_unlock (&f->seen.mutex);

    /* an insane request id is replaced by a generated one; an invalid
     * traceparent is ignored and a new trace started */
    const char *bad_rid[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                             "X-Request-Id: has space",
                             "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                             NULL};
    s_http (f, "POST", "/v1/messages", body, bad_rid, &r);
    assert_int_equal (r.status, 202);
    assert_non_null (s_header (&r, "X-Request-Id", buf, sizeof buf));
    assert_true (zh_id_valid (buf, "req"));
    pthread_mutex_lock (&f->seen.mutex);
    assert_true (zh_trace_valid (f->seen.traceparent));
    assert_int_equal (strstr (f->seen.traceparent, "-00f067aa0ba902b7-") == NULL, 1);
    pthread_mutex_unlock (&f->seen.mutex);
}

static void
test_idempotency (void **state)
{
    fixture_t *f = *state;
    const char *body = "{\"url\":\"https://example.com/hook\",\"payload\":1}";
    const char *replay[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                            "Idempotency-Key: replay-me", NULL};
    response_t r;
    char buf[128];
    s_http (f, "POST", "/v1/messages", body, replay, &r);
    assert_int_equal (r.status, 202);
    assert_non_null (s_header (&r, "Idempotent-Replayed", buf, sizeof buf));
    assert_string_equal (buf, "true");
    assert_non_null (s_header (&r, "Location", buf, sizeof buf));
    assert_string_equal (buf, "/v1/messages/" KNOWN_ID);

    const char *conflict[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                              "Idempotency-Key: conflict", NULL};
    s_http (f, "POST", "/v1/messages", body, conflict, &r);
    assert_int_equal (r.status, 409);

    char long_key[300] = "Idempotency-Key: ";
    memset (long_key + strlen (long_key), 'k', 256);
    long_key[17 + 256] = 0;
    const char *too_long[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                              long_key, NULL};
    int before = atomic_load (&f->seen.submits);
    s_http (f, "POST", "/v1/messages", body, too_long, &r);
    assert_int_equal (r.status, 422);
    assert_non_null (strstr (r.body, "\"field\":\"Idempotency-Key\""));
    assert_int_equal (atomic_load (&f->seen.submits), before);
}

static void
test_auth (void **state)
{
    fixture_t *f = *state;
    const char *body = "{\"url\":\"https://example.com/hook\",\"payload\":1}";
    const char *none[] = {"Content-Type: application/json", NULL};
    const char *wrong[] = {"Authorization: Bearer nope", "Content-Type: application/json", NULL};
    response_t r1, r2;
    char buf[128];
    s_http (f, "POST", "/v1/messages", body, none, &r1);
    s_http (f, "POST", "/v1/messages", body, wrong, &r2);
    assert_int_equal (r1.status, 401);
    assert_int_equal (r2.status, 401);
    assert_string_equal (r1.body, r2.body);
    assert_non_null (s_header (&r1, "WWW-Authenticate", buf, sizeof buf));
    assert_int_equal (strncmp (buf, "Bearer", 6), 0);
    assert_non_null (s_header (&r1, "Content-Type", buf, sizeof buf));
    assert_string_equal (buf, "application/problem+json");
    s_http (f, "GET", "/v1/messages/" KNOWN_ID, NULL, none, &r1);
    assert_int_equal (r1.status, 401);
    s_http (f, "GET", "/v1/status", NULL, wrong, &r1);
    assert_int_equal (r1.status, 401);
    /* probes need no key */
    s_http (f, "GET", "/live", NULL, NULL, &r1);
    assert_int_equal (r1.status, 200);
}

static void
test_validation_errors (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[128];
    int before = atomic_load (&f->seen.submits);
    s_http (f, "POST", "/v1/messages", "{\"url\":\"ftp://x\",\"payload\":1,\"delay\":3}",
            s_auth_json, &r);
    assert_int_equal (r.status, 422);
    json_t *o = s_json (&r);
    assert_int_equal (json_integer_value (json_object_get (o, "status")), 422);
    assert_int_equal (json_array_size (json_object_get (o, "errors")), 2);
    json_decref (o);
    s_http (f, "POST", "/v1/messages", "{\"url\":", s_auth_json, &r);
    assert_int_equal (r.status, 400);
    assert_non_null (s_header (&r, "Content-Type", buf, sizeof buf));
    assert_string_equal (buf, "application/problem+json");
    const char *text[] = {"Authorization: Bearer " API_KEY, "Content-Type: text/plain", NULL};
    s_http (f, "POST", "/v1/messages", "{}", text, &r);
    assert_int_equal (r.status, 415);
    char big[6000];
    memset (big, ' ', sizeof big);
    big[sizeof big - 1] = 0;
    s_http (f, "POST", "/v1/messages", big, s_auth_json, &r);
    assert_int_equal (r.status, 413);
    /* the server hands its address guard (on by default) to validation */
    s_http (f, "POST", "/v1/messages", "{\"url\":\"http://127.1:9/\",\"payload\":1}", s_auth_json,
            &r);
    assert_int_equal (r.status, 422);
    o = s_json (&r);
    json_t *e = json_array_get (json_object_get (o, "errors"), 0);
    assert_string_equal (json_string_value (json_object_get (e, "field")), "url");
    json_decref (o);
    assert_int_equal (atomic_load (&f->seen.submits), before);
}

static void
test_routing (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[128];
    s_http (f, "GET", "/v1/messages", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 405);
    assert_non_null (s_header (&r, "Allow", buf, sizeof buf));
    assert_string_equal (buf, "POST");
    s_http (f, "PUT", "/v1/messages/" KNOWN_ID, "{}", s_auth_json, &r);
    assert_int_equal (r.status, 405);
    assert_non_null (s_header (&r, "Allow", buf, sizeof buf));
    assert_string_equal (buf, "GET, DELETE");
    s_http (f, "GET", "/v1/messagesX", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    s_http (f, "GET", "/nope", NULL, NULL, &r);
    assert_int_equal (r.status, 404);
    assert_non_null (s_header (&r, "X-Request-Id", buf, sizeof buf));
    s_http (f, "GET", "/v1/messages/" KNOWN_ID "/extra", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
}

static void
test_get_cancel (void **state)
{
    fixture_t *f = *state;
    response_t r;
    s_http (f, "GET", "/v1/messages/" KNOWN_ID, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    json_t *o = s_json (&r);
    assert_string_equal (json_string_value (json_object_get (o, "id")), KNOWN_ID);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "scheduled");
    assert_true (json_is_array (json_object_get (o, "attempts")));
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_GET);
    assert_string_equal (f->seen.tenant, "acme");
    pthread_mutex_unlock (&f->seen.mutex);

    s_http (f, "DELETE", "/v1/messages/" KNOWN_ID, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    o = s_json (&r);
    assert_string_equal (json_string_value (json_object_get (o, "status")), "cancelled");
    json_decref (o);

    /* unknown id: the scheduler says 404; malformed: 404 without asking */
    s_http (f, "GET", "/v1/messages/msg_01JD0000000000000000000009", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    int before = atomic_load (&f->seen.commands);
    s_http (f, "GET", "/v1/messages/msg_notaulid", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    s_http (f, "POST", "/v1/dead-letters/evt_01JD0000000000000000000001/replay", NULL, s_auth_json,
            &r);
    assert_int_equal (r.status, 404);
    assert_int_equal (atomic_load (&f->seen.commands), before);

    s_http (f, "POST", "/v1/dead-letters/" KNOWN_ID "/replay", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_REPLAY);
    pthread_mutex_unlock (&f->seen.mutex);
}

static void
test_dead_letters_and_status (void **state)
{
    fixture_t *f = *state;
    response_t r;
    s_http (f, "GET", "/v1/dead-letters", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    json_t *o = s_json (&r);
    assert_int_equal (json_array_size (json_object_get (o, "items")), 1);
    assert_string_equal (json_string_value (json_object_get (o, "next")), "cursor-2");
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_DL_LIST);
    assert_int_equal (f->seen.limit, 100);
    pthread_mutex_unlock (&f->seen.mutex);
    s_http (f, "GET", "/v1/dead-letters?limit=5&after=cursor-2", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.limit, 5);
    pthread_mutex_unlock (&f->seen.mutex);
    const char *bad[] = {
        "/v1/dead-letters?limit=0", "/v1/dead-letters?limit=1001", "/v1/dead-letters?limit=abc",
        "/v1/dead-letters?limit=",  "/v1/dead-letters?after=",     NULL};
    for (const char **p = bad; *p; p++) {
        s_http (f, "GET", *p, NULL, s_auth_json, &r);
        assert_int_equal (r.status, 422);
    }
    s_http (f, "GET", "/v1/status", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    o = s_json (&r);
    assert_int_equal (json_integer_value (json_object_get (o, "scheduled")), 7);
    json_decref (o);
}

static void
test_batch (void **state)
{
    fixture_t *f = *state;
    response_t r;
    s_http (f, "POST", "/v1/messages/batch",
            "{\"messages\":[{\"url\":\"https://a.example/"
            "\",\"payload\":1},{\"url\":\"bad\",\"payload\":2},"
            "{\"url\":\"https://b.example/\",\"payload\":3}]}",
            s_auth_json, &r);
    assert_int_equal (r.status, 202);
    json_t *o = s_json (&r);
    json_t *items = json_object_get (o, "items");
    assert_int_equal (json_array_size (items), 3);
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 0), "status")),
                         "scheduled");
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 1), "status")),
                         "invalid");
    assert_string_equal (json_string_value (json_object_get (json_array_get (items, 2), "status")),
                         "scheduled");
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.item_count, 2);
    pthread_mutex_unlock (&f->seen.mutex);
    /* nothing valid: 422 listing every error */
    s_http (f, "POST", "/v1/messages/batch", "{\"messages\":[{\"url\":\"bad\",\"payload\":2}]}",
            s_auth_json, &r);
    assert_int_equal (r.status, 422);
    assert_non_null (strstr (r.body, "messages[0].url"));
}

static void
test_scheduler_failures (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[128];
    const char *body = "{\"url\":\"https://example.com/hook\",\"payload\":1}";
    int64_t timeouts_before = s_metric (f, "zhook_ingress_scheduler_timeouts_total ");
    int64_t full_before =
        s_metric (f, "zhook_ingress_requests_total{route=\"create_message\",code=\"507\"} ");
    atomic_store (&f->seen.mode, FAKE_SILENT);
    int64_t start = zh_clock_mono_ms ();
    s_http (f, "POST", "/v1/messages", body, s_auth_json, &r);
    int64_t took = zh_clock_mono_ms () - start;
    assert_int_equal (r.status, 503);
    assert_non_null (s_header (&r, "Retry-After", buf, sizeof buf));
    assert_string_equal (buf, "1");
    assert_true (took >= 400 && took < 3000);
    s_http (f, "GET", "/v1/messages/" KNOWN_ID, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 503);

    atomic_store (&f->seen.mode, FAKE_FULL);
    s_http (f, "POST", "/v1/messages", body, s_auth_json, &r);
    assert_int_equal (r.status, 507);
    assert_non_null (s_header (&r, "Retry-After", buf, sizeof buf));
    atomic_store (&f->seen.mode, FAKE_ANSWER);

    /* the late replies of the silent phase do not confuse the next request */
    s_http (f, "GET", "/v1/messages/" KNOWN_ID, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);

    s_http (f, "GET", "/metrics", NULL, NULL, &r);
    assert_int_equal (r.status, 200);
    assert_int_equal (s_metric (f, "zhook_ingress_scheduler_timeouts_total "), timeouts_before + 2);
    assert_int_equal (s_metric (f, "zhook_ingress_scheduler_up "), 1);
    assert_int_equal (
        s_metric (f, "zhook_ingress_requests_total{route=\"create_message\",code=\"507\"} "),
        full_before + 1);
    assert_non_null (
        strstr (r.body, "zhook_ingress_request_duration_seconds_bucket{route=\"get_message\""));
}

static void
test_scheduler_down (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[128];
    /* no heartbeats: /ready turns 503 within ready_timeout_ms (1 s) */
    atomic_store (&f->seen.mode, FAKE_DOWN);
    int64_t deadline = zh_clock_mono_ms () + 3000;
    do {
        s_http (f, "GET", "/ready", NULL, NULL, &r);
    } while (r.status == 200 && zh_clock_mono_ms () < deadline && usleep (20 * 1000) == 0);
    assert_int_equal (r.status, 503);
    assert_non_null (s_header (&r, "Retry-After", buf, sizeof buf));
    assert_int_equal (s_metric (f, "zhook_ingress_scheduler_up "), 0);
    /* requests fail fast instead of waiting for the request timeout */
    int before = atomic_load (&f->seen.submits);
    int64_t start = zh_clock_mono_ms ();
    s_http (f, "POST", "/v1/messages", "{\"url\":\"https://example.com/\",\"payload\":1}",
            s_auth_json, &r);
    assert_int_equal (r.status, 503);
    assert_true (zh_clock_mono_ms () - start < 300);
    assert_int_equal (atomic_load (&f->seen.submits), before);
    /* and recover with the heartbeat */
    atomic_store (&f->seen.mode, FAKE_ANSWER);
    deadline = zh_clock_mono_ms () + 3000;
    do {
        s_http (f, "GET", "/ready", NULL, NULL, &r);
    } while (r.status != 200 && zh_clock_mono_ms () < deadline && usleep (20 * 1000) == 0);
    assert_int_equal (r.status, 200);
    s_http (f, "GET", "/v1/messages/" KNOWN_ID, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
}

/* --- subscriptions and events ------------------------------------------ */

/* Copies a seen string under the mutex. */
static void
s_seen (fixture_t *f, const char *field, char *buf, size_t size)
{
    pthread_mutex_lock (&f->seen.mutex);
    snprintf (buf, size, "%s", field);
    pthread_mutex_unlock (&f->seen.mutex);
}

static void
test_subscription_create (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[256], seen[256];
    int64_t created_before =
        s_metric (f, "zhook_ingress_requests_total{route=\"create_subscription\",code=\"201\"} ");
    s_http (f, "POST", "/v1/subscriptions",
            "{\"topic\":\"order.*\",\"url\":\"https://example.com/orders\",\"description\":\"wh\","
            "\"rate_limit\":50,\"headers\":{\"X-Team\":\"a\"}}",
            s_auth_json, &r);
    assert_int_equal (r.status, 201);
    json_t *o = s_json (&r);
    const char *id = json_string_value (json_object_get (o, "id"));
    assert_non_null (id);
    assert_true (zh_id_valid (id, "sub"));
    assert_non_null (s_header (&r, "Location", buf, sizeof buf));
    snprintf (seen, sizeof seen, "/v1/subscriptions/%s", id);
    assert_string_equal (buf, seen);
    /* a generated secret: whsec_ + base64 of 32 random bytes, shown once */
    const char *secret = json_string_value (json_object_get (o, "secret"));
    assert_non_null (secret);
    assert_int_equal (strncmp (secret, "whsec_", 6), 0);
    assert_int_equal (strlen (secret), 6 + 44);
    assert_string_equal (json_string_value (json_object_get (o, "topic")), "order.*");
    assert_true (json_is_true (json_object_get (o, "enabled")));
    assert_int_equal (json_integer_value (json_object_get (o, "rate_limit")), 50);
    assert_null (json_object_get (o, "previous_secret"));
    /* what the scheduler got: the same id and secret, this tenant, enabled */
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_SUB_CREATE);
    assert_true (f->seen.has_sub);
    assert_string_equal (f->seen.sub_id, id);
    assert_string_equal (f->seen.sub_secret, secret);
    assert_string_equal (f->seen.sub_tenant, "acme");
    assert_string_equal (f->seen.tenant, "acme");
    assert_string_equal (f->seen.sub_topic, "order.*");
    assert_string_equal (f->seen.sub_url, "https://example.com/orders");
    assert_true (f->seen.sub_enabled);
    assert_int_equal (f->seen.sub_rate_limit, 50);
    pthread_mutex_unlock (&f->seen.mutex);
    char first[128];
    snprintf (first, sizeof first, "%s", secret);
    json_decref (o);
    assert_int_equal (
        s_metric_at_least (
            f, "zhook_ingress_requests_total{route=\"create_subscription\",code=\"201\"} ",
            created_before + 1),
        created_before + 1);

    /* each generated secret is new; a given one is kept */
    s_http (f, "POST", "/v1/subscriptions", "{\"topic\":\"*\",\"url\":\"https://example.com/\"}",
            s_auth_json, &r);
    assert_int_equal (r.status, 201);
    o = s_json (&r);
    assert_string_not_equal (json_string_value (json_object_get (o, "secret")), first);
    json_decref (o);
    s_http (f, "POST", "/v1/subscriptions",
            "{\"topic\":\"a\",\"url\":\"https://example.com/\",\"secret\":\"" OLD_SECRET "\"}",
            s_auth_json, &r);
    assert_int_equal (r.status, 201);
    o = s_json (&r);
    assert_string_equal (json_string_value (json_object_get (o, "secret")), OLD_SECRET);
    json_decref (o);

    /* invalid bodies never reach the scheduler */
    int before = atomic_load (&f->seen.commands);
    s_http (f, "POST", "/v1/subscriptions",
            "{\"topic\":\"Order.*\",\"url\":\"http://127.0.0.1/\",\"rate_limit\":20000}",
            s_auth_json, &r);
    assert_int_equal (r.status, 422);
    o = s_json (&r);
    assert_int_equal (json_array_size (json_object_get (o, "errors")), 3);
    json_decref (o);
    s_http (f, "POST", "/v1/subscriptions", "{\"topic\":", s_auth_json, &r);
    assert_int_equal (r.status, 400);
    const char *none[] = {"Content-Type: application/json", NULL};
    s_http (f, "POST", "/v1/subscriptions", "{\"topic\":\"a\",\"url\":\"https://e.com/\"}", none,
            &r);
    assert_int_equal (r.status, 401);
    assert_int_equal (atomic_load (&f->seen.commands), before);
    s_http (f, "PUT", "/v1/subscriptions", "{}", s_auth_json, &r);
    assert_int_equal (r.status, 405);
    assert_non_null (s_header (&r, "Allow", buf, sizeof buf));
    assert_string_equal (buf, "GET, POST");
}

static void
test_subscription_read_and_change (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[256];
    /* get, delete: never the secret */
    const char *methods[] = {"GET", "DELETE"};
    proto_op_t ops[] = {PROTO_OP_SUB_GET, PROTO_OP_SUB_DELETE};
    for (int i = 0; i < 2; i++) {
        s_http (f, methods[i], "/v1/subscriptions/" KNOWN_SUB, NULL, s_auth_json, &r);
        assert_int_equal (r.status, 200);
        assert_null (strstr (r.body, "whsec_"));
        json_t *o = s_json (&r);
        assert_string_equal (json_string_value (json_object_get (o, "id")), KNOWN_SUB);
        assert_null (json_object_get (o, "secret"));
        json_decref (o);
        pthread_mutex_lock (&f->seen.mutex);
        assert_int_equal (f->seen.op, ops[i]);
        assert_string_equal (f->seen.id, KNOWN_SUB);
        pthread_mutex_unlock (&f->seen.mutex);
    }
    /* unknown: the scheduler's 404 names a subscription; malformed: 404 without asking */
    s_http (f, "GET", "/v1/subscriptions/sub_01JD0000000000000000000009", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    assert_non_null (strstr (r.body, "no such subscription"));
    int before = atomic_load (&f->seen.commands);
    const char *malformed[] = {"/v1/subscriptions/" KNOWN_ID, "/v1/subscriptions/sub_x",
                               "/v1/subscriptions/", NULL};
    for (const char **p = malformed; *p; p++) {
        s_http (f, "GET", *p, NULL, s_auth_json, &r);
        assert_int_equal (r.status, 404);
    }
    s_http (f, "POST", "/v1/subscriptions/sub_x/rotate-secret", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    s_http (f, "PATCH", "/v1/subscriptions/sub_x", "{\"enabled\":true}", s_auth_json, &r);
    assert_int_equal (r.status, 404);
    assert_int_equal (atomic_load (&f->seen.commands), before);
    s_http (f, "PUT", "/v1/subscriptions/" KNOWN_SUB, "{}", s_auth_json, &r);
    assert_int_equal (r.status, 405);
    assert_non_null (s_header (&r, "Allow", buf, sizeof buf));
    assert_string_equal (buf, "GET, PATCH, DELETE");

    /* PATCH: the fields given, their mask bits */
    s_http (f, "PATCH", "/v1/subscriptions/" KNOWN_SUB, "{\"enabled\":false,\"rate_limit\":9}",
            s_auth_json, &r);
    assert_int_equal (r.status, 200);
    json_t *o = s_json (&r);
    assert_true (json_is_false (json_object_get (o, "enabled")));
    assert_string_equal (json_string_value (json_object_get (o, "disabled_reason")), "user");
    assert_int_equal (json_integer_value (json_object_get (o, "rate_limit")), 9);
    assert_null (json_object_get (o, "secret"));
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_SUB_UPDATE);
    assert_int_equal (f->seen.update_mask, PROTO_SUB_SET_ENABLED | PROTO_SUB_SET_RATE_LIMIT);
    assert_false (f->seen.sub_enabled);
    assert_int_equal (f->seen.sub_rate_limit, 9);
    pthread_mutex_unlock (&f->seen.mutex);
    before = atomic_load (&f->seen.commands);
    s_http (f, "PATCH", "/v1/subscriptions/" KNOWN_SUB, "{}", s_auth_json, &r);
    assert_int_equal (r.status, 422);
    s_http (f, "PATCH", "/v1/subscriptions/" KNOWN_SUB, "{\"url\":\"https://e.com/\"}", s_auth_json,
            &r);
    assert_int_equal (r.status, 422);
    assert_non_null (strstr (r.body, "\"field\":\"url\""));
    assert_int_equal (atomic_load (&f->seen.commands), before);

    /* rotate: a new generated secret, shown once */
    s_http (f, "POST", "/v1/subscriptions/" KNOWN_SUB "/rotate-secret", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    o = s_json (&r);
    const char *secret = json_string_value (json_object_get (o, "secret"));
    assert_non_null (secret);
    assert_int_equal (strlen (secret), 50);
    assert_string_not_equal (secret, OLD_SECRET);
    assert_null (strstr (r.body, OLD_SECRET)); /* the previous one is never shown */
    s_seen (f, f->seen.sub_secret, buf, sizeof buf);
    assert_string_equal (buf, secret);
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_SUB_ROTATE);
    assert_string_equal (f->seen.id, KNOWN_SUB);
    pthread_mutex_unlock (&f->seen.mutex);
    /* or the one given */
    const char *given = "{\"secret\":\"whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn\"}";
    s_http (f, "POST", "/v1/subscriptions/" KNOWN_SUB "/rotate-secret", given, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    assert_non_null (strstr (r.body, "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZn"));
    s_http (f, "POST", "/v1/subscriptions/" KNOWN_SUB "/rotate-secret", "{\"secret\":\"x\"}",
            s_auth_json, &r);
    assert_int_equal (r.status, 422);
    s_http (f, "POST", "/v1/subscriptions/sub_01JD0000000000000000000009/rotate-secret", NULL,
            s_auth_json, &r);
    assert_int_equal (r.status, 404);
}

static void
test_subscription_list (void **state)
{
    fixture_t *f = *state;
    response_t r;
    s_http (f, "GET", "/v1/subscriptions", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    assert_null (strstr (r.body, "whsec_"));
    json_t *o = s_json (&r);
    assert_int_equal (json_array_size (json_object_get (o, "items")), 2);
    assert_string_equal (json_string_value (json_object_get (o, "next")), "sub-cursor");
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_SUB_LIST);
    assert_int_equal (f->seen.limit, 100);
    assert_string_equal (f->seen.topic, "");
    pthread_mutex_unlock (&f->seen.mutex);
    s_http (f, "GET", "/v1/subscriptions?topic=order.*&limit=5&after=sub-cursor", NULL, s_auth_json,
            &r);
    assert_int_equal (r.status, 200);
    pthread_mutex_lock (&f->seen.mutex);
    assert_string_equal (f->seen.topic, "order.*");
    assert_int_equal (f->seen.limit, 5);
    assert_string_equal (f->seen.after, "sub-cursor");
    pthread_mutex_unlock (&f->seen.mutex);
    const char *bad[] = {"/v1/subscriptions?topic=", "/v1/subscriptions?topic=Order",
                         "/v1/subscriptions?topic=a..b", "/v1/subscriptions?limit=0", NULL};
    int before = atomic_load (&f->seen.commands);
    for (const char **p = bad; *p; p++) {
        s_http (f, "GET", *p, NULL, s_auth_json, &r);
        assert_int_equal (r.status, 422);
    }
    assert_int_equal (atomic_load (&f->seen.commands), before);
}

static void
test_events (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[256], location[256];
    const char *headers[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                             "Idempotency-Key: evt-1", NULL};
    const char *body = "{\"topic\":\"order.created\",\"payload\":{\"n\":1},\"delay_ms\":5,"
                       "\"ordering_key\":\"order-7\"}";
    s_http (f, "POST", "/v1/events", body, headers, &r);
    assert_int_equal (r.status, 202);
    json_t *o = s_json (&r);
    assert_int_equal (json_object_size (o), 2);
    const char *id = json_string_value (json_object_get (o, "id"));
    assert_true (zh_id_valid (id, "evt"));
    json_t *messages = json_object_get (o, "messages");
    assert_int_equal (json_array_size (messages), 2);
    assert_true (zh_id_valid (json_string_value (json_array_get (messages, 0)), "msg"));
    assert_non_null (s_header (&r, "Location", location, sizeof location));
    snprintf (buf, sizeof buf, "/v1/events/%s", id);
    assert_string_equal (location, buf);
    assert_null (s_header (&r, "Idempotent-Replayed", buf, sizeof buf));
    /* one submit: topic set, the event as its only item, url empty */
    pthread_mutex_lock (&f->seen.mutex);
    assert_string_equal (f->seen.topic, "order.created");
    assert_int_equal (f->seen.item_count, 1);
    assert_string_equal (f->seen.item_id, id);
    assert_string_equal (f->seen.url, "");
    assert_string_equal (f->seen.payload, "{\"n\":1}");
    assert_string_equal (f->seen.ordering_key, "order-7");
    assert_string_equal (f->seen.idem_key, "evt-1");
    assert_string_equal (f->seen.tenant, "acme");
    pthread_mutex_unlock (&f->seen.mutex);
    json_decref (o);

    /* a topic nobody follows: 202 and no messages */
    s_http (f, "POST", "/v1/events", "{\"topic\":\"nobody.home\",\"payload\":1}", s_auth_json, &r);
    assert_int_equal (r.status, 202);
    o = s_json (&r);
    assert_true (json_is_array (json_object_get (o, "messages")));
    assert_int_equal (json_array_size (json_object_get (o, "messages")), 0);
    json_decref (o);

    /* an idempotent replay answers the original event */
    const char *replay[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                            "Idempotency-Key: replay-me", NULL};
    s_http (f, "POST", "/v1/events", "{\"topic\":\"a\",\"payload\":1}", replay, &r);
    assert_int_equal (r.status, 202);
    assert_non_null (s_header (&r, "Idempotent-Replayed", buf, sizeof buf));
    assert_non_null (strstr (r.body, KNOWN_EVT));
    const char *conflict[] = {"Authorization: Bearer " API_KEY, "Content-Type: application/json",
                              "Idempotency-Key: conflict", NULL};
    s_http (f, "POST", "/v1/events", "{\"topic\":\"a\",\"payload\":1}", conflict, &r);
    assert_int_equal (r.status, 409);

    /* invalid: never submitted */
    int before = atomic_load (&f->seen.submits);
    s_http (f, "POST", "/v1/events", "{\"topic\":\"order.*\",\"payload\":1}", s_auth_json, &r);
    assert_int_equal (r.status, 422);
    assert_non_null (strstr (r.body, "\"field\":\"topic\""));
    s_http (f, "POST", "/v1/events", "{\"topic\":\"a\"}", s_auth_json, &r);
    assert_int_equal (r.status, 422);
    assert_int_equal (atomic_load (&f->seen.submits), before);
    s_http (f, "GET", "/v1/events", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 405);

    /* the event and its messages */
    s_http (f, "GET", "/v1/events/" KNOWN_EVT, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 200);
    o = s_json (&r);
    assert_string_equal (json_string_value (json_object_get (o, "id")), KNOWN_EVT);
    assert_string_equal (json_string_value (json_object_get (o, "topic")), "order.created");
    assert_true (json_is_string (json_object_get (o, "created_at")));
    json_t *m = json_array_get (json_object_get (o, "messages"), 0);
    assert_string_equal (json_string_value (json_object_get (m, "subscription_id")), KNOWN_SUB);
    assert_string_equal (json_string_value (json_object_get (m, "status")), "delivered");
    json_decref (o);
    pthread_mutex_lock (&f->seen.mutex);
    assert_int_equal (f->seen.op, PROTO_OP_EVENT_GET);
    assert_string_equal (f->seen.id, KNOWN_EVT);
    pthread_mutex_unlock (&f->seen.mutex);
    s_http (f, "GET", "/v1/events/evt_01JD0000000000000000000009", NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    assert_non_null (strstr (r.body, "no such event"));
    before = atomic_load (&f->seen.commands);
    s_http (f, "GET", "/v1/events/" KNOWN_ID, NULL, s_auth_json, &r);
    assert_int_equal (r.status, 404);
    assert_int_equal (atomic_load (&f->seen.commands), before);
    assert_true (
        s_metric_at_least (f, "zhook_ingress_requests_total{route=\"publish_event\",code=\"202\"} ",
                           3) >= 3);
}

static void
test_message_ordering_key (void **state)
{
    fixture_t *f = *state;
    response_t r;
    char buf[300];
    s_http (f, "POST", "/v1/messages",
            "{\"url\":\"https://example.com/\",\"payload\":1,\"ordering_key\":\"customer-1\"}",
            s_auth_json, &r);
    assert_int_equal (r.status, 202);
    s_seen (f, f->seen.ordering_key, buf, sizeof buf);
    assert_string_equal (buf, "customer-1");
    assert_int_equal (f->seen.topic[0], 0);
    s_http (f, "POST", "/v1/messages",
            "{\"url\":\"https://example.com/\",\"payload\":1,\"ordering_key\":\"\"}", s_auth_json,
            &r);
    assert_int_equal (r.status, 422);
}

int ing_server_test (void);

int
ing_server_test (void)
{
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup (test_create, s_reset),
        cmocka_unit_test_setup (test_idempotency, s_reset),
        cmocka_unit_test_setup (test_auth, s_reset),
        cmocka_unit_test_setup (test_validation_errors, s_reset),
        cmocka_unit_test_setup (test_routing, s_reset),
        cmocka_unit_test_setup (test_get_cancel, s_reset),
        cmocka_unit_test_setup (test_dead_letters_and_status, s_reset),
        cmocka_unit_test_setup (test_batch, s_reset),
        cmocka_unit_test_setup (test_subscription_create, s_reset),
        cmocka_unit_test_setup (test_subscription_read_and_change, s_reset),
        cmocka_unit_test_setup (test_subscription_list, s_reset),
        cmocka_unit_test_setup (test_events, s_reset),
        cmocka_unit_test_setup (test_message_ordering_key, s_reset),
        cmocka_unit_test_setup (test_scheduler_failures, s_reset),
        cmocka_unit_test_setup (test_scheduler_down, s_reset),
    };
    int rc = cmocka_run_group_tests_name ("ing_server_test", tests, s_setup, s_teardown);
    curl_global_cleanup ();
    return rc;
}
