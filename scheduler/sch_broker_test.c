/*  sch_broker_test.c — the event broker in the store: subscriptions (create,
 *  list, get, rotate, update, delete, tenancy), fan-out with wildcard
 *  patterns in the accepting transaction, idempotent events, secret
 *  rotation at dispatch, subscription health (410, failing too long, also
 *  with ZHOOK_DISABLE_AFTER_HOURS read by sch_config),
 *  per-subscription rate limits and their token buckets, ordered delivery,
 *  and a 1,000-subscription fan-out whose reply fits a frame. Time is
 *  driven by the tests; every store lives in a mkdtemp directory. */
#include "scheduler/sch_config.h"
#include "scheduler/sch_limit.h"
#include "scheduler/sch_store.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#define T0 1700000000000LL /* a fixed "now", ms */
#define OVERLAP_MS 3600000 /* secret overlap of the fixture */
#define DISABLE_MS 10000 /* failing this long disables, in the fixture */

typedef struct {
    char dir[64]; // mkdtemp directory holding the environment
    sch_policy_t policy;
    sch_store_t *store;
} fixture_t;

static const sch_policy_t s_policy = {
    .max_attempts = 3,
    .timeout_ms = 1000,
    .retry_base_ms = 1000,
    .retry_max_ms = 60000,
    .lease_margin_ms = 500,
    .retention_ms = 3600000,
    .idempotency_ms = 600000,
    .secret_overlap_ms = OVERLAP_MS,
    .disable_after_ms = DISABLE_MS,
};

static void
s_rmdir (const char *dir)
{
    const char *files[] = {"data.mdb", "lock.mdb"};
    char path[128];
    for (size_t i = 0; i < 2; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, files[i]);
        unlink (path);
    }
    rmdir (dir);
}

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof *fx);
    if (!fx)
        return -1;
    *state = fx;
    snprintf (fx->dir, sizeof fx->dir, "/tmp/sch_broker_test.XXXXXX");
    if (!mkdtemp (fx->dir))
        return -1;
    fx->policy = s_policy;
    sch_store_rc_t rc;
    fx->store = sch_store_new (fx->dir, 256 << 20, &fx->policy, &rc);
    return fx->store ? 0 : -1;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    sch_store_destroy (&fx->store);
    s_rmdir (fx->dir);
    free (fx);
    return 0;
}

/* --- helpers ------------------------------------------------------------------- */

static sch_store_rc_t
s_sub_try (sch_store_t *store, const char *tenant, const char *id, const char *topic,
           const char *url, const char *secret)
{
    proto_subscription_t in, out;
    memset (&in, 0, sizeof in);
    memset (&out, 0, sizeof out);
    proto_header_t h = {"X-Sub", (char *)id};
    in.id = (char *)id;
    in.topic = (char *)topic;
    in.url = (char *)url;
    in.secret = (char *)secret;
    in.headers = &h;
    in.header_count = 1;
    in.description = "test";
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    sch_store_rc_t rc = sch_store_sub_create (store, tenant, &in, T0, &out);
    if (rc == SCH_STORE_OK) {
        assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
        assert_string_equal (out.id, id);
        assert_string_equal (out.tenant, tenant);
        assert_string_equal (out.secret, secret);
        assert_true (out.enabled);
        assert_int_equal (out.created_ms, T0);
    }
    else
        sch_store_abort (store);
    proto_subscription_clear (&out);
    return rc;
}

static void
s_sub (sch_store_t *store, const char *tenant, const char *id, const char *topic)
{
    char url[128], secret[64];
    snprintf (url, sizeof url, "https://example.com/%s", id);
    snprintf (secret, sizeof secret, "whsec_%s", id);
    assert_int_equal (s_sub_try (store, tenant, id, topic, url, secret), SCH_STORE_OK);
}

/* Publishes an event; returns the reply (caller destroys). */
static proto_reply_t *
s_publish_full (sch_store_t *store, const char *tenant, const char *evt, const char *topic,
                const char *okey, const char *idem, uint8_t hash_byte, int64_t now,
                sch_store_rc_t *rc_out)
{
    proto_submit_t *s = proto_submit_new ();
    assert_non_null (s);
    s->reply_to = strdup ("ing.1");
    s->tenant = strdup (tenant);
    s->request_id = strdup ("req-e");
    s->topic = strdup (topic);
    if (idem) {
        s->idem_key = strdup (idem);
        memset (s->idem_hash, hash_byte, sizeof s->idem_hash);
    }
    proto_item_t *it = proto_submit_add_item (s);
    assert_non_null (it);
    it->id = strdup (evt);
    it->url = strdup ("");
    it->payload = (uint8_t *)strdup ("{\"e\":1}");
    it->payload_size = 7;
    it->deliver_at_ms = 0;
    if (okey)
        it->ordering_key = strdup (okey);
    proto_reply_t *r = proto_reply_new ();
    assert_non_null (r);
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    sch_store_rc_t rc = sch_store_accept (store, s, now, r);
    if (rc == SCH_STORE_OK)
        assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    else
        sch_store_abort (store);
    if (rc_out)
        *rc_out = rc;
    proto_submit_destroy (&s);
    return r;
}

static proto_reply_t *
s_publish (sch_store_t *store, const char *tenant, const char *evt, const char *topic, int64_t now)
{
    sch_store_rc_t rc;
    proto_reply_t *r = s_publish_full (store, tenant, evt, topic, NULL, NULL, 0, now, &rc);
    assert_int_equal (rc, SCH_STORE_OK);
    return r;
}

/* Accepts one direct message with an ordering key (NULL: unordered). */
static void
s_accept_ordered (sch_store_t *store, const char *id, const char *url, const char *okey,
                  int64_t now)
{
    proto_submit_t *s = proto_submit_new ();
    assert_non_null (s);
    s->reply_to = strdup ("ing.1");
    s->tenant = strdup ("acme");
    proto_item_t *it = proto_submit_add_item (s);
    it->id = strdup (id);
    it->url = strdup (url);
    it->payload = (uint8_t *)strdup ("{}");
    it->payload_size = 2;
    it->deliver_at_ms = now;
    if (okey)
        it->ordering_key = strdup (okey);
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (store, s, now, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    assert_int_equal (r->items[0].status, 202);
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
}

static size_t
s_lease (sch_store_t *store, int64_t now, size_t max, proto_dispatch_t **out)
{
    size_t n = 0;
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    assert_int_equal (sch_store_lease (store, now, now, max, out, &n), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    return n;
}

/* Leases what is due at now; ids (sorted by lease order) into a space-
 * separated string for easy comparison; attempts into att (by index). */
static void
s_lease_ids (sch_store_t *store, int64_t now, char *ids, size_t size, uint32_t *att)
{
    proto_dispatch_t *d[64] = {0};
    size_t n = s_lease (store, now, 64, d);
    ids[0] = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen (ids);
        snprintf (ids + len, size - len, "%s%s", i ? " " : "", d[i]->id);
        if (att)
            att[i] = d[i]->attempt;
        proto_dispatch_destroy (&d[i]);
    }
}

static sch_event_t
s_result (sch_store_t *store, const char *id, uint32_t attempt, uint16_t code, int64_t now)
{
    proto_result_t r;
    memset (&r, 0, sizeof r);
    r.id = (char *)id;
    r.attempt = attempt;
    r.deliverer = "dlv-1";
    r.status_code = code;
    r.retry_after_ms = -1;
    r.at_ms = now;
    sch_event_t ev;
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    assert_int_equal (sch_store_result (store, &r, now, &ev), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    return ev;
}

static proto_record_t *
s_get (sch_store_t *store, const char *id)
{
    proto_record_t *rec = proto_record_new ();
    assert_non_null (rec);
    if (sch_store_get (store, "acme", id, rec) != SCH_STORE_OK)
        proto_record_destroy (&rec);
    return rec;
}

static proto_subscription_t *
s_sub_get (sch_store_t *store, const char *tenant, const char *id)
{
    proto_subscription_t *sub = proto_subscription_new ();
    assert_non_null (sub);
    if (sch_store_sub_get (store, tenant, id, sub) != SCH_STORE_OK)
        proto_subscription_destroy (&sub);
    return sub;
}

static sch_store_rc_t
s_sub_enable (sch_store_t *store, const char *id, bool enabled, bool *user_disabled)
{
    proto_subscription_t ch, out;
    memset (&ch, 0, sizeof ch);
    memset (&out, 0, sizeof out);
    ch.enabled = enabled;
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    sch_store_rc_t rc = sch_store_sub_update (store, "acme", id, &ch, PROTO_SUB_SET_ENABLED, T0 + 1,
                                              &out, user_disabled);
    if (rc == SCH_STORE_OK)
        assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    else
        sch_store_abort (store);
    if (rc == SCH_STORE_OK)
        assert_int_equal (out.enabled, enabled);
    proto_subscription_clear (&out);
    return rc;
}

/* Index of the reply item whose record came from subscription sub, or -1. */
static int
s_item_of (sch_store_t *store, const proto_reply_t *r, const char *sub)
{
    for (size_t i = 0; i < r->item_count; i++) {
        proto_record_t *rec = s_get (store, r->items[i].id);
        assert_non_null (rec);
        bool match = rec->subscription_id && strcmp (rec->subscription_id, sub) == 0;
        proto_record_destroy (&rec);
        if (match)
            return (int)i;
    }
    return -1;
}

/* --- token buckets --------------------------------------------------------------- */

static void
test_bucket_math (void **state)
{
    (void)state;
    sch_bucket_t b;
    memset (&b, 0, sizeof b);
    /* rate 0: unlimited */
    for (int i = 0; i < 100; i++)
        assert_int_equal (sch_bucket_take (&b, 0, T0), 0);
    /* rate 2: starts full with 2 tokens */
    memset (&b, 0, sizeof b);
    assert_int_equal (sch_bucket_take (&b, 2, T0), 0);
    assert_int_equal (sch_bucket_take (&b, 2, T0), 0);
    assert_int_equal (sch_bucket_take (&b, 2, T0), 500);
    assert_int_equal (sch_bucket_take (&b, 2, T0 + 250), 250);
    assert_int_equal (sch_bucket_take (&b, 2, T0 + 500), 0);
    assert_int_equal (sch_bucket_take (&b, 2, T0 + 500), 500);
    /* refill is capped at one second's worth */
    assert_int_equal (sch_bucket_take (&b, 2, T0 + 100000), 0);
    assert_int_equal (sch_bucket_take (&b, 2, T0 + 100000), 0);
    assert_true (sch_bucket_take (&b, 2, T0 + 100000) > 0);
    /* a clock going back refills nothing */
    assert_true (sch_bucket_take (&b, 2, T0) > 0);
    /* rate 1: one token; rate 3: waits round up (333.3 -> 334) */
    memset (&b, 0, sizeof b);
    assert_int_equal (sch_bucket_take (&b, 1, T0), 0);
    assert_int_equal (sch_bucket_take (&b, 1, T0), 1000);
    memset (&b, 0, sizeof b);
    for (int i = 0; i < 3; i++)
        assert_int_equal (sch_bucket_take (&b, 3, T0), 0);
    assert_int_equal (sch_bucket_take (&b, 3, T0), 334);
    /* a rate change refills at the new rate */
    assert_int_equal (sch_bucket_take (&b, 10, T0), 0);
    /* 1,000 per second over 10 s: exactly 10,000 + the initial 1,000 */
    memset (&b, 0, sizeof b);
    int taken = 0;
    for (int64_t t = T0; t <= T0 + 10000; t++)
        while (sch_bucket_take (&b, 1000, t) == 0)
            taken++;
    assert_int_equal (taken, 11000);
}

static void
test_limit_map_lru (void **state)
{
    (void)state;
    sch_limit_t *l = sch_limit_new (2);
    assert_non_null (l);
    assert_int_equal (sch_limit_take (l, "a", 1, T0), 0);
    assert_int_equal (sch_limit_take (l, "a", 1, T0), 1000);
    assert_int_equal (sch_limit_take (l, "b", 1, T0), 0);
    assert_int_equal (sch_limit_size (l), 2);
    /* "a" is least recently used after touching "b"... touch "a" again */
    assert_int_equal (sch_limit_take (l, "a", 1, T0), 1000);
    assert_int_equal (sch_limit_take (l, "c", 1, T0), 0); /* evicts "b" */
    assert_int_equal (sch_limit_size (l), 2);
    assert_int_equal (sch_limit_take (l, "a", 1, T0), 1000); /* "a" kept */
    assert_int_equal (sch_limit_take (l, "b", 1, T0), 0); /* "b" forgotten: full again */
    sch_limit_forget (l, "b");
    assert_int_equal (sch_limit_size (l), 1);
    assert_int_equal (sch_limit_take (l, "x", 0, T0), 0); /* unlimited: no bucket */
    assert_int_equal (sch_limit_size (l), 1);
    sch_limit_destroy (&l);
    assert_null (l);
    /* many keys in a small map */
    l = sch_limit_new (100);
    char key[32];
    for (int i = 0; i < 10000; i++) {
        snprintf (key, sizeof key, "sub_%d", i);
        assert_int_equal (sch_limit_take (l, key, 5, T0), 0);
    }
    assert_int_equal (sch_limit_size (l), 100);
    sch_limit_destroy (&l);
}

/* --- subscriptions ------------------------------------------------------------------ */

static void
test_subscription_crud (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_a", "order.created");
    assert_int_equal (s_sub_try (st, "acme", "sub_a", "x", "https://e.com", "whsec_x"),
                      SCH_STORE_CONFLICT);
    const char *bad[] = {"", "a*", "a.*.b", "*.a", "a.b*"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal (s_sub_try (st, "acme", "sub_bad", bad[i], "https://e.com", "whsec_x"),
                          SCH_STORE_INVALID);
    assert_int_equal (s_sub_try (st, "acme", "sub_bad", "ok", "https://e.com", ""),
                      SCH_STORE_INVALID);
    s_sub (st, "acme", "sub_b", "order.*");
    s_sub (st, "acme", "sub_c", "*");
    s_sub (st, "acme", "sub_d", "order.created");
    s_sub (st, "acme", "sub_e", "billing");
    s_sub (st, "other", "sub_o", "order.created");

    proto_subscription_t *sub = s_sub_get (st, "acme", "sub_a");
    assert_non_null (sub);
    assert_string_equal (sub->topic, "order.created");
    assert_string_equal (sub->url, "https://example.com/sub_a");
    assert_string_equal (sub->description, "test");
    assert_int_equal (sub->header_count, 1);
    assert_string_equal (sub->headers[0].value, "sub_a");
    proto_subscription_destroy (&sub);
    assert_null (s_sub_get (st, "other", "sub_a"));
    assert_null (s_sub_get (st, "acme", "sub_o"));
    assert_null (s_sub_get (st, "acme", "sub_nope"));

    /* list: by topic then id, pages of 2 */
    const char *want[] = {"sub_c", "sub_e", "sub_b", "sub_a", "sub_d"}; /* "*" < "b" < "o" */
    char *after = NULL;
    size_t seen = 0;
    for (int page = 0; page < 5; page++) {
        proto_reply_t *r = proto_reply_new ();
        assert_int_equal (sch_store_sub_list (st, "acme", NULL, 2, after, r), SCH_STORE_OK);
        for (size_t i = 0; i < r->subscription_count; i++) {
            assert_true (seen < 5);
            assert_string_equal (r->subscriptions[i].id, want[seen++]);
        }
        free (after);
        after = r->next ? strdup (r->next) : NULL;
        proto_reply_destroy (&r);
        if (!after)
            break;
    }
    assert_int_equal (seen, 5);
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_sub_list (st, "acme", "order.created", 10, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->subscription_count, 2);
    assert_string_equal (r->subscriptions[0].id, "sub_a");
    assert_string_equal (r->subscriptions[1].id, "sub_d");
    assert_null (r->next);
    proto_reply_destroy (&r);
    r = proto_reply_new ();
    assert_int_equal (sch_store_sub_list (st, "acme", NULL, 10, "zz", r), SCH_STORE_INVALID);
    proto_reply_destroy (&r);

    /* rotate */
    proto_subscription_t out;
    memset (&out, 0, sizeof out);
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_sub_rotate (st, "acme", "sub_a", "whsec_new", T0 + 5, &out),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_sub_rotate (st, "other", "sub_a", "whsec_new", T0 + 5, NULL),
                      SCH_STORE_NOTFOUND);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    assert_string_equal (out.secret, "whsec_new");
    assert_string_equal (out.previous_secret, "whsec_sub_a");
    assert_int_equal (out.rotated_ms, T0 + 5);
    proto_subscription_clear (&out);

    /* update: disable by the user, rate limit, description */
    sch_store_counts_t c;
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 6);
    assert_int_equal (c.subs_disabled, 0);
    bool user = false;
    assert_int_equal (s_sub_enable (st, "sub_a", false, &user), SCH_STORE_OK);
    assert_true (user);
    sub = s_sub_get (st, "acme", "sub_a");
    assert_false (sub->enabled);
    assert_string_equal (sub->disabled_reason, "user");
    proto_subscription_destroy (&sub);
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 5);
    assert_int_equal (c.subs_disabled, 1);
    proto_subscription_t ch;
    memset (&ch, 0, sizeof ch);
    ch.rate_limit = 7;
    ch.description = "new words";
    ch.enabled = true; /* not in the mask: ignored */
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_sub_update (st, "acme", "sub_a", &ch,
                                            PROTO_SUB_SET_RATE_LIMIT | PROTO_SUB_SET_DESCRIPTION,
                                            T0 + 9, NULL, NULL),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    sub = s_sub_get (st, "acme", "sub_a");
    assert_false (sub->enabled);
    assert_int_equal (sub->rate_limit, 7);
    assert_string_equal (sub->description, "new words");
    assert_int_equal (sub->updated_ms, T0 + 9);
    proto_subscription_destroy (&sub);

    /* delete */
    memset (&out, 0, sizeof out);
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_sub_delete (st, "other", "sub_a", &out), SCH_STORE_NOTFOUND);
    assert_int_equal (sch_store_sub_delete (st, "acme", "sub_a", &out), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    assert_string_equal (out.id, "sub_a");
    proto_subscription_clear (&out);
    assert_null (s_sub_get (st, "acme", "sub_a"));
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 5);
    assert_int_equal (c.subs_disabled, 0);
    r = proto_reply_new ();
    assert_int_equal (sch_store_sub_list (st, "acme", "order.created", 10, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->subscription_count, 1);
    proto_reply_destroy (&r);
}

/* --- fan-out -------------------------------------------------------------------------- */

static void
test_fanout_and_patterns (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_1", "order.created.eu");
    s_sub (st, "acme", "sub_2", "order.created.eu");
    s_sub (st, "acme", "sub_3", "order.created.*");
    s_sub (st, "acme", "sub_4", "order.*");
    s_sub (st, "acme", "sub_5", "*");
    s_sub (st, "acme", "sub_6", "order.created"); /* another topic */
    s_sub (st, "acme", "sub_7", "order.created.eu.x"); /* deeper: no */
    s_sub (st, "acme", "sub_8", "order.created.eu"); /* disabled below */
    s_sub (st, "other", "sub_9", "order.created.eu"); /* another tenant */
    assert_int_equal (s_sub_enable (st, "sub_8", false, NULL), SCH_STORE_OK);

    proto_reply_t *r = s_publish (st, "acme", "evt_1", "order.created.eu", T0);
    assert_int_equal (r->status, 202);
    assert_string_equal (r->event_id, "evt_1");
    assert_int_equal (r->item_count, 5);
    const char *subs[] = {"sub_1", "sub_2", "sub_3", "sub_4", "sub_5"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal (r->items[i].status, 202);
        assert_int_equal (r->items[i].deliver_at_ms, T0);
        assert_int_equal (s_item_of (st, r, subs[i]), (int)i); /* exact first, then patterns */
        proto_record_t *rec = s_get (st, r->items[i].id);
        assert_non_null (rec);
        assert_string_equal (rec->event_id, "evt_1");
        assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
        assert_int_equal (strncmp (rec->id, "msg_", 4), 0);
        char url[64];
        snprintf (url, sizeof url, "https://example.com/%s", subs[i]);
        assert_string_equal (rec->url, url);
        proto_record_destroy (&rec);
    }
    /* dispatches: each with its subscription's url, headers, secret and the payload */
    proto_dispatch_t *d[16] = {0};
    assert_int_equal (s_lease (st, T0, 16, d), 5);
    for (size_t i = 0; i < 5; i++) {
        size_t k = 0;
        while (k < 5 && strcmp (d[i]->id, r->items[k].id) != 0)
            k++;
        assert_true (k < 5);
        if (k >= 5)
            return;
        char secret[64];
        snprintf (secret, sizeof secret, "whsec_%s", subs[k]);
        assert_string_equal (d[i]->secret, secret);
        assert_int_equal (d[i]->payload_size, 7);
        assert_memory_equal (d[i]->payload, "{\"e\":1}", 7);
        assert_int_equal (d[i]->header_count, 1);
        assert_string_equal (d[i]->headers[0].value, subs[k]);
        proto_dispatch_destroy (&d[i]);
    }

    /* EVENT_GET: this tenant only */
    proto_reply_t *g = proto_reply_new ();
    assert_int_equal (sch_store_event_get (st, "acme", "evt_1", g), SCH_STORE_OK);
    assert_string_equal (g->event_id, "evt_1");
    assert_string_equal (g->topic, "order.created.eu");
    assert_int_equal (g->event_created_ms, T0);
    assert_int_equal (g->record_count, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal (g->records[i].id, r->items[i].id);
        assert_int_equal (g->records[i].status, PROTO_ST_IN_FLIGHT);
        assert_null (g->records[i].secret);
    }
    proto_reply_destroy (&g);
    g = proto_reply_new ();
    assert_int_equal (sch_store_event_get (st, "other", "evt_1", g), SCH_STORE_NOTFOUND);
    assert_int_equal (sch_store_event_get (st, "acme", "evt_nope", g), SCH_STORE_NOTFOUND);
    proto_reply_destroy (&g);
    proto_reply_destroy (&r);

    /* a topic nobody follows: 202, no message */
    r = s_publish (st, "nobody", "evt_2", "billing.paid", T0);
    assert_int_equal (r->status, 202);
    assert_int_equal (r->item_count, 0);
    assert_string_equal (r->event_id, "evt_2");
    proto_reply_destroy (&r);
    /* "*" alone catches a one-word topic */
    r = s_publish (st, "acme", "evt_3", "ping", T0);
    assert_int_equal (r->item_count, 1);
    assert_int_equal (s_item_of (st, r, "sub_5"), 0);
    proto_reply_destroy (&r);
    /* the same event id again: 409, nothing written */
    r = s_publish (st, "acme", "evt_3", "ping", T0);
    assert_int_equal (r->status, 409);
    assert_int_equal (r->item_count, 0);
    proto_reply_destroy (&r);
    /* a topic with a wildcard is not publishable */
    r = s_publish (st, "acme", "evt_4", "order.*", T0);
    assert_int_equal (r->status, 400);
    proto_reply_destroy (&r);

    /* delete one: the next event reaches one fewer; its pending message still delivers */
    proto_subscription_t out;
    memset (&out, 0, sizeof out);
    r = s_publish (st, "acme", "evt_5", "order.created.eu", T0 + 10);
    assert_int_equal (r->item_count, 5);
    int k2 = s_item_of (st, r, "sub_2");
    assert_true (k2 >= 0);
    char pending[64];
    snprintf (pending, sizeof pending, "%s", r->items[k2].id);
    proto_reply_destroy (&r);
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_sub_delete (st, "acme", "sub_2", &out), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    proto_subscription_clear (&out);
    r = s_publish (st, "acme", "evt_6", "order.created.eu", T0 + 20);
    assert_int_equal (r->item_count, 4);
    assert_int_equal (s_item_of (st, r, "sub_2"), -1);
    proto_reply_destroy (&r);
    /* evt_3 (1), evt_5 (5, one of them to the deleted sub_2), evt_6 (4) */
    assert_int_equal (s_lease (st, T0 + 20, 16, d), 10);
    bool found = false;
    for (size_t i = 0; i < 10; i++) {
        if (strcmp (d[i]->id, pending) == 0) {
            found = true;
            assert_string_equal (d[i]->secret, "whsec_sub_2"); /* its fan-out secret */
            assert_int_equal (d[i]->payload_size, 7);
        }
        proto_dispatch_destroy (&d[i]);
    }
    assert_true (found);
}

static void
test_event_idempotency (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_1", "t");
    s_sub (st, "acme", "sub_2", "t");
    sch_store_rc_t rc;
    proto_reply_t *a = s_publish_full (st, "acme", "evt_a", "t", NULL, "key-1", 1, T0, &rc);
    assert_int_equal (rc, SCH_STORE_OK);
    assert_int_equal (a->item_count, 2);
    assert_false (a->replayed);
    /* the producer retries with a new event id (generated per request) */
    proto_reply_t *b = s_publish_full (st, "acme", "evt_b", "t", NULL, "key-1", 1, T0 + 5, &rc);
    assert_int_equal (rc, SCH_STORE_OK);
    assert_true (b->replayed);
    assert_int_equal (b->status, 202);
    assert_string_equal (b->event_id, "evt_a");
    assert_int_equal (b->item_count, 2);
    for (size_t i = 0; i < 2; i++)
        assert_string_equal (b->items[i].id, a->items[i].id);
    proto_reply_destroy (&b);
    /* nothing new was fanned out */
    proto_dispatch_t *d[8] = {0};
    assert_int_equal (s_lease (st, T0 + 5, 8, d), 2);
    for (size_t i = 0; i < 2; i++)
        proto_dispatch_destroy (&d[i]);
    /* another body: conflict */
    b = s_publish_full (st, "acme", "evt_c", "t", NULL, "key-1", 2, T0 + 6, &rc);
    assert_int_equal (rc, SCH_STORE_CONFLICT);
    proto_reply_destroy (&b);
    /* the same key for another tenant is its own */
    b = s_publish_full (st, "other", "evt_d", "t", NULL, "key-1", 1, T0 + 6, &rc);
    assert_int_equal (rc, SCH_STORE_OK);
    assert_false (b->replayed);
    assert_string_equal (b->event_id, "evt_d");
    assert_int_equal (b->item_count, 0);
    proto_reply_destroy (&b);
    proto_reply_destroy (&a);
}

/* --- rotation ----------------------------------------------------------------------------- */

static void
test_rotation_at_dispatch (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_r", "t");
    proto_reply_t *r1 = s_publish (st, "acme", "evt_1", "t", T0);
    proto_reply_t *r2 = s_publish (st, "acme", "evt_2", "t", T0);
    /* rotate while both are pending: the rotation applies to them too */
    proto_subscription_t out;
    memset (&out, 0, sizeof out);
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_sub_rotate (st, "acme", "sub_r", "whsec_bmV3", T0 + 1000, &out),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    proto_subscription_clear (&out);
    proto_dispatch_t *d[4] = {0};
    assert_int_equal (s_lease (st, T0 + 2000, 1, d), 1);
    assert_string_equal (d[0]->id, r1->items[0].id);
    assert_string_equal (d[0]->secret, "whsec_bmV3 whsec_sub_r");
    proto_dispatch_destroy (&d[0]);
    /* after the overlap: the new secret alone */
    assert_int_equal (s_lease (st, T0 + 1000 + OVERLAP_MS, 1, d), 1);
    assert_string_equal (d[0]->id, r2->items[0].id);
    assert_string_equal (d[0]->secret, "whsec_bmV3");
    proto_dispatch_destroy (&d[0]);
    proto_reply_destroy (&r1);
    proto_reply_destroy (&r2);
}

/* --- health ---------------------------------------------------------------------------------- */

static void
test_health_gone_and_reenable (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_g", "t");
    s_sub (st, "acme", "sub_ok", "t");
    proto_reply_t *r = s_publish (st, "acme", "evt_1", "t", T0);
    int kg = s_item_of (st, r, "sub_g");
    char gid[64];
    snprintf (gid, sizeof gid, "%s", r->items[kg].id);
    proto_reply_destroy (&r);
    proto_dispatch_t *d[4] = {0};
    size_t n = s_lease (st, T0, 4, d);
    assert_int_equal (n, 2);
    uint32_t att = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp (d[i]->id, gid) == 0)
            att = d[i]->attempt;
        proto_dispatch_destroy (&d[i]);
    }
    sch_event_t ev = s_result (st, gid, att, 410, T0 + 10);
    assert_int_equal (ev.kind, SCH_EVENT_DEAD);
    assert_string_equal (ev.sub_disabled, "gone");
    assert_string_equal (ev.subscription_id, "sub_g");
    proto_subscription_t *sub = s_sub_get (st, "acme", "sub_g");
    assert_false (sub->enabled);
    assert_string_equal (sub->disabled_reason, "gone");
    proto_subscription_destroy (&sub);
    sch_store_counts_t c;
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 1);
    assert_int_equal (c.subs_disabled, 1);
    /* later events skip it */
    r = s_publish (st, "acme", "evt_2", "t", T0 + 20);
    assert_int_equal (r->item_count, 1);
    assert_int_equal (s_item_of (st, r, "sub_g"), -1);
    proto_reply_destroy (&r);
    /* re-enabling: reason cleared, nothing replayed, the next event reaches it */
    assert_int_equal (s_sub_enable (st, "sub_g", true, NULL), SCH_STORE_OK);
    sub = s_sub_get (st, "acme", "sub_g");
    assert_true (sub->enabled);
    assert_null (sub->disabled_reason);
    assert_int_equal (sub->failing_since_ms, 0);
    proto_subscription_destroy (&sub);
    proto_record_t *rec = s_get (st, gid);
    assert_int_equal (rec->status, PROTO_ST_DEAD); /* not replayed */
    proto_record_destroy (&rec);
    r = s_publish (st, "acme", "evt_3", "t", T0 + 30);
    assert_int_equal (r->item_count, 2);
    assert_true (s_item_of (st, r, "sub_g") >= 0);
    proto_reply_destroy (&r);
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 2);
    assert_int_equal (c.subs_disabled, 0);
}

/* Leases the single due message of a fresh event to sub_f and answers code at now. */
static sch_event_t
s_event_attempt (sch_store_t *st, const char *evt, uint16_t code, int64_t now)
{
    proto_reply_t *r = s_publish (st, "acme", evt, "f", now);
    assert_int_equal (r->item_count, 1);
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (st, now, 2, d), 1);
    assert_string_equal (d[0]->id, r->items[0].id);
    sch_event_t ev = s_result (st, d[0]->id, d[0]->attempt, code, now);
    if (ev.kind == SCH_EVENT_RETRY) {
        /* out of the way of the next step (a cancel is no attempt) */
        assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
        assert_int_equal (sch_store_cancel (st, "acme", d[0]->id, now, NULL), SCH_STORE_OK);
        assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    }
    proto_dispatch_destroy (&d[0]);
    proto_reply_destroy (&r);
    return ev;
}

static void
test_health_failing_too_long (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_f", "f");
    sch_event_t ev = s_event_attempt (st, "evt_1", 500, T0);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    proto_subscription_t *sub = s_sub_get (st, "acme", "sub_f");
    assert_int_equal (sub->failing_since_ms, T0);
    proto_subscription_destroy (&sub);
    /* a success clears the run */
    ev = s_event_attempt (st, "evt_2", 200, T0 + 5000);
    assert_int_equal (ev.kind, SCH_EVENT_DELIVERED);
    sub = s_sub_get (st, "acme", "sub_f");
    assert_int_equal (sub->failing_since_ms, 0);
    proto_subscription_destroy (&sub);
    /* a new run: short of DISABLE_MS nothing happens, at DISABLE_MS it is disabled */
    ev = s_event_attempt (st, "evt_3", 503, T0 + 6000);
    assert_string_equal (ev.sub_disabled, "");
    ev = s_event_attempt (st, "evt_4", 500, T0 + 6000 + DISABLE_MS - 1);
    assert_string_equal (ev.sub_disabled, "");
    ev = s_event_attempt (st, "evt_5", 500, T0 + 6000 + DISABLE_MS);
    assert_string_equal (ev.sub_disabled, "failing");
    sub = s_sub_get (st, "acme", "sub_f");
    assert_false (sub->enabled);
    assert_string_equal (sub->disabled_reason, "failing");
    assert_int_equal (sub->failing_since_ms, T0 + 6000);
    proto_subscription_destroy (&sub);
    /* re-enable clears failing_since */
    assert_int_equal (s_sub_enable (st, "sub_f", true, NULL), SCH_STORE_OK);
    sub = s_sub_get (st, "acme", "sub_f");
    assert_true (sub->enabled);
    assert_int_equal (sub->failing_since_ms, 0);
    proto_subscription_destroy (&sub);
}

/* ZHOOK_DISABLE_AFTER_HOURS=2 as the scheduler reads it, applied by the store:
 * failing for 2 h less 1 ms keeps the subscription, 2 h disables it
 * ("failing", what the API shows and the disabled_total{reason} metric
 * counts); it then shows in get, list and counts, later events skip it, and
 * re-enabling replays nothing. The store's clock is the test's, so hours
 * pass at once (an e2e cannot: the variable takes whole hours >= 1). */
static void
test_health_disable_after_hours_config (void **state)
{
    fixture_t *fx = *state;
    setenv ("ZHOOK_CURVE", "off", 1);
    setenv ("ZHOOK_DISABLE_AFTER_HOURS", "2", 1);
    sch_config_t *cfg = sch_config_new ();
    unsetenv ("ZHOOK_DISABLE_AFTER_HOURS");
    unsetenv ("ZHOOK_CURVE");
    assert_non_null (cfg);
    assert_int_equal (cfg->policy.disable_after_ms, 7200000);
    sch_store_destroy (&fx->store);
    fx->policy = cfg->policy;
    sch_config_destroy (&cfg);
    sch_store_rc_t orc;
    fx->store = sch_store_new (fx->dir, 256 << 20, &fx->policy, &orc);
    assert_non_null (fx->store);
    sch_store_t *st = fx->store;
    const int64_t two_h = 2 * 3600 * 1000LL;
    s_sub (st, "acme", "sub_f", "f");
    s_sub (st, "acme", "sub_ok", "g"); /* another topic, healthy: untouched */
    sch_event_t ev = s_event_attempt (st, "evt_1", 500, T0);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    assert_string_equal (ev.sub_disabled, "");
    ev = s_event_attempt (st, "evt_2", 502, T0 + two_h - 1);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    assert_string_equal (ev.sub_disabled, "");
    proto_subscription_t *sub = s_sub_get (st, "acme", "sub_f");
    assert_true (sub->enabled);
    assert_int_equal (sub->failing_since_ms, T0);
    proto_subscription_destroy (&sub);
    ev = s_event_attempt (st, "evt_3", 500, T0 + two_h);
    assert_string_equal (ev.sub_disabled, "failing");
    assert_string_equal (ev.subscription_id, "sub_f");
    /* what GET /v1/subscriptions/{id} renders */
    sub = s_sub_get (st, "acme", "sub_f");
    assert_false (sub->enabled);
    assert_string_equal (sub->disabled_reason, "failing");
    proto_subscription_destroy (&sub);
    /* ... and the list */
    proto_reply_t *r = proto_reply_new ();
    assert_non_null (r);
    assert_int_equal (sch_store_sub_list (st, "acme", "f", 10, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->subscription_count, 1);
    assert_string_equal (r->subscriptions[0].id, "sub_f");
    assert_false (r->subscriptions[0].enabled);
    assert_string_equal (r->subscriptions[0].disabled_reason, "failing");
    proto_reply_destroy (&r);
    sch_store_counts_t c;
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 1);
    assert_int_equal (c.subs_disabled, 1);
    sub = s_sub_get (st, "acme", "sub_ok");
    assert_true (sub->enabled);
    assert_int_equal (sub->failing_since_ms, 0);
    proto_subscription_destroy (&sub);
    /* later events skip it */
    r = s_publish (st, "acme", "evt_4", "f", T0 + two_h + 10);
    assert_int_equal (r->item_count, 0);
    proto_reply_destroy (&r);
    /* re-enabled: reason and run cleared, nothing due (nothing replayed),
     * the next event reaches it */
    assert_int_equal (s_sub_enable (st, "sub_f", true, NULL), SCH_STORE_OK);
    sub = s_sub_get (st, "acme", "sub_f");
    assert_true (sub->enabled);
    assert_null (sub->disabled_reason);
    assert_int_equal (sub->failing_since_ms, 0);
    proto_subscription_destroy (&sub);
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (st, T0 + two_h + 20, 2, d), 0);
    ev = s_event_attempt (st, "evt_5", 200, T0 + two_h + 30);
    assert_int_equal (ev.kind, SCH_EVENT_DELIVERED);
    sch_store_counts (st, &c);
    assert_int_equal (c.subs_enabled, 2);
    assert_int_equal (c.subs_disabled, 0);
}

/* --- rate limit ------------------------------------------------------------------------------- */

static void
test_rate_limit_at_lease (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_r", "t");
    s_sub (st, "acme", "sub_u", "t"); /* unlimited, same events */
    proto_subscription_t ch;
    memset (&ch, 0, sizeof ch);
    ch.rate_limit = 2;
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (
        sch_store_sub_update (st, "acme", "sub_r", &ch, PROTO_SUB_SET_RATE_LIMIT, T0, NULL, NULL),
        SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    char evt[16];
    for (int i = 0; i < 5; i++) {
        snprintf (evt, sizeof evt, "evt_%d", i);
        proto_reply_t *r = s_publish (st, "acme", evt, "t", T0);
        proto_reply_destroy (&r);
    }
    /* at T0: 2 of sub_r (the bucket's burst), all 5 of sub_u */
    proto_dispatch_t *d[16] = {0};
    size_t n = s_lease (st, T0, 16, d);
    assert_int_equal (n, 7);
    for (size_t i = 0; i < n; i++)
        proto_dispatch_destroy (&d[i]);
    int64_t due, lease;
    assert_int_equal (sch_store_next (st, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, T0 + 500); /* moved by the time to the next token */
    /* never leased ahead (its token is taken when due): a horizon past
     * T0 + 500 at T0 + 480 leases nothing and takes no token */
    size_t ahead = 0;
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_lease (st, T0 + 480, T0 + 530, 16, d, &ahead), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    assert_int_equal (ahead, 0);
    assert_int_equal (sch_store_next (st, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, T0 + 500);
    assert_int_equal (s_lease (st, T0 + 499, 16, d), 0);
    n = s_lease (st, T0 + 500, 16, d);
    assert_int_equal (n, 1);
    proto_dispatch_destroy (&d[0]);
    n = s_lease (st, T0 + 1000, 16, d);
    assert_int_equal (n, 1);
    proto_dispatch_destroy (&d[0]);
    n = s_lease (st, T0 + 1500, 16, d);
    assert_int_equal (n, 1);
    proto_dispatch_destroy (&d[0]);
    assert_int_equal (s_lease (st, T0 + 10000, 16, d), 0); /* all 5 of sub_r leased */
    /* lifting the limit (rate 0) lets everything through at once */
    ch.rate_limit = 0;
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (
        sch_store_sub_update (st, "acme", "sub_r", &ch, PROTO_SUB_SET_RATE_LIMIT, T0, NULL, NULL),
        SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    for (int i = 5; i < 9; i++) {
        snprintf (evt, sizeof evt, "evt_%d", i);
        proto_reply_t *r = s_publish (st, "acme", evt, "t", T0 + 20000);
        proto_reply_destroy (&r);
    }
    n = s_lease (st, T0 + 20000, 16, d);
    assert_int_equal (n, 8);
    for (size_t i = 0; i < n; i++)
        proto_dispatch_destroy (&d[i]);
}

/* --- ordered delivery ---------------------------------------------------------------------------
 */

#define URL_A "https://a.example.com/hook"
#define URL_B "https://b.example.com/hook"

static void
test_ordered_acceptance_order_with_failures (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    char ids[512];
    uint32_t att[64];
    s_accept_ordered (st, "msg_1", URL_A, "k", T0);
    s_accept_ordered (st, "msg_2", URL_A, "k", T0);
    s_accept_ordered (st, "msg_3", URL_A, "k", T0);
    s_accept_ordered (st, "msg_u1", URL_A, NULL, T0);
    s_accept_ordered (st, "msg_u2", URL_A, NULL, T0);
    /* waiting ones are scheduled, readable, not due */
    proto_record_t *rec = s_get (st, "msg_2");
    assert_non_null (rec);
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    assert_string_equal (rec->ordering_key, "k");
    proto_record_destroy (&rec);
    s_lease_ids (st, T0, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_1 msg_u1 msg_u2"); /* unordered ones in parallel */
    s_result (st, "msg_u1", att[1], 200, T0 + 1);
    s_result (st, "msg_u2", att[2], 200, T0 + 1);
    /* the head fails: it retries, the others of its key wait */
    sch_event_t ev = s_result (st, "msg_1", att[0], 500, T0 + 10);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    s_lease_ids (st, ev.next_ms - 1, ids, sizeof ids, att);
    assert_string_equal (ids, "");
    s_lease_ids (st, ev.next_ms, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_1");
    int64_t now = ev.next_ms;
    /* delivered: the next one is due at once */
    ev = s_result (st, "msg_1", att[0], 200, now + 5);
    assert_int_equal (ev.kind, SCH_EVENT_DELIVERED);
    s_lease_ids (st, now + 5, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_2");
    /* a lease expiry is a failed attempt: still the head */
    size_t cnt = 0;
    sch_event_t evs[4];
    int64_t lease_end = now + 5 + 1000 + 500;
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_expire (st, lease_end, 4, evs, &cnt), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    assert_int_equal (cnt, 1);
    assert_int_equal (evs[0].kind, SCH_EVENT_RETRY);
    s_lease_ids (st, evs[0].next_ms, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_2");
    ev = s_result (st, "msg_2", att[0], 204, evs[0].next_ms + 1);
    assert_int_equal (ev.kind, SCH_EVENT_DELIVERED);
    s_lease_ids (st, evs[0].next_ms + 1, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_3");
    ev = s_result (st, "msg_3", att[0], 200, evs[0].next_ms + 2);
    s_lease_ids (st, T0 + 3600000, ids, sizeof ids, att);
    assert_string_equal (ids, "");
    /* the queue is empty: a new message of the key is due at once */
    s_accept_ordered (st, "msg_4", URL_A, "k", T0 + 100000);
    s_lease_ids (st, T0 + 100000, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_4");
}

static void
test_ordered_dead_head_releases (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    char ids[512];
    uint32_t att[64];
    s_accept_ordered (st, "msg_1", URL_A, "k", T0);
    s_accept_ordered (st, "msg_2", URL_A, "k", T0);
    int64_t now = T0;
    for (int i = 0; i < 3; i++) {
        s_lease_ids (st, now, ids, sizeof ids, att);
        assert_string_equal (ids, "msg_1");
        sch_event_t ev = s_result (st, "msg_1", att[0], 500, now + 1);
        assert_int_equal (ev.kind, i < 2 ? SCH_EVENT_RETRY : SCH_EVENT_DEAD);
        now = i < 2 ? ev.next_ms : now + 1;
    }
    s_lease_ids (st, now, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_2");
    /* replaying the dead one puts it at the tail: it waits for msg_2 */
    proto_record_t out;
    memset (&out, 0, sizeof out);
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_replay (st, "acme", "msg_1", now, &out), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    proto_record_t *tmp = proto_record_new ();
    *tmp = out;
    proto_record_destroy (&tmp);
    s_lease_ids (st, now + 1, ids, sizeof ids, NULL);
    assert_string_equal (ids, "");
    sch_event_t ev = s_result (st, "msg_2", att[0], 200, now + 2);
    assert_int_equal (ev.kind, SCH_EVENT_DELIVERED);
    s_lease_ids (st, now + 2, ids, sizeof ids, NULL);
    assert_string_equal (ids, "msg_1");
}

static void
test_ordered_cancel_waiting_and_head (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    char ids[512];
    uint32_t att[64];
    for (int i = 1; i <= 4; i++) {
        char id[16];
        snprintf (id, sizeof id, "msg_%d", i);
        s_accept_ordered (st, id, URL_A, "k", T0);
    }
    s_lease_ids (st, T0, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_1");
    /* cancel a waiting one: nothing else moves */
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (st, "acme", "msg_2", T0 + 1, NULL), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    s_lease_ids (st, T0 + 1, ids, sizeof ids, NULL);
    assert_string_equal (ids, "");
    /* the head ends: the cancelled one is skipped */
    s_result (st, "msg_1", att[0], 200, T0 + 2);
    s_lease_ids (st, T0 + 2, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_3");
    /* cancelling the (in-flight) head releases the next at once */
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (st, "acme", "msg_3", T0 + 3, NULL), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    s_lease_ids (st, T0 + 3, ids, sizeof ids, NULL);
    assert_string_equal (ids, "msg_4");
    /* the late result of the cancelled head is stale */
    sch_event_t ev = s_result (st, "msg_3", att[0], 200, T0 + 4);
    assert_int_equal (ev.kind, SCH_EVENT_STALE);
}

static void
test_ordered_keys_independent (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    char ids[512];
    uint32_t att[64];
    s_accept_ordered (st, "msg_a1", URL_A, "a", T0);
    s_accept_ordered (st, "msg_a2", URL_A, "a", T0);
    s_accept_ordered (st, "msg_b1", URL_A, "b", T0);
    s_accept_ordered (st, "msg_b2", URL_A, "b", T0);
    s_accept_ordered (st, "msg_c1", URL_B, "a", T0); /* same key, other URL: own queue */
    s_lease_ids (st, T0, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_a1 msg_b1 msg_c1");
    /* a1 keeps failing; b moves on */
    sch_event_t ev = s_result (st, "msg_a1", att[0], 500, T0 + 1);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    s_result (st, "msg_b1", att[1], 200, T0 + 1);
    s_lease_ids (st, T0 + 1, ids, sizeof ids, att);
    assert_string_equal (ids, "msg_b2");
    /* fan-out: the queue's scope is the subscription */
    s_sub (st, "acme", "sub_1", "t");
    s_sub (st, "acme", "sub_2", "t");
    sch_store_rc_t rc;
    proto_reply_t *r1 = s_publish_full (st, "acme", "evt_1", "t", "o", NULL, 0, T0 + 2, &rc);
    proto_reply_t *r2 = s_publish_full (st, "acme", "evt_2", "t", "o", NULL, 0, T0 + 2, &rc);
    proto_dispatch_t *d[8] = {0};
    size_t n = s_lease (st, T0 + 2, 8, d);
    assert_int_equal (n, 2); /* the first event's message of each subscription */
    for (size_t i = 0; i < n; i++) {
        assert_true (strcmp (d[i]->id, r1->items[0].id) == 0 ||
                     strcmp (d[i]->id, r1->items[1].id) == 0);
        proto_record_t *rec = s_get (st, d[i]->id);
        assert_string_equal (rec->ordering_key, "o");
        proto_record_destroy (&rec);
        s_result (st, d[i]->id, d[i]->attempt, 200, T0 + 3);
        proto_dispatch_destroy (&d[i]);
    }
    n = s_lease (st, T0 + 3, 8, d);
    assert_int_equal (n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_true (strcmp (d[i]->id, r2->items[0].id) == 0 ||
                     strcmp (d[i]->id, r2->items[1].id) == 0);
        proto_dispatch_destroy (&d[i]);
    }
    proto_reply_destroy (&r1);
    proto_reply_destroy (&r2);
}

/* Acceptance order survives a reopen (the sequence is persisted) */
static void
test_ordered_survives_reopen (void **state)
{
    fixture_t *fx = *state;
    char ids[512];
    uint32_t att[64];
    s_accept_ordered (fx->store, "msg_1", URL_A, "k", T0);
    s_accept_ordered (fx->store, "msg_2", URL_A, "k", T0);
    sch_store_destroy (&fx->store);
    sch_store_rc_t rc;
    fx->store = sch_store_new (fx->dir, 256 << 20, &fx->policy, &rc);
    assert_non_null (fx->store);
    s_accept_ordered (fx->store, "msg_0", URL_A, "k", T0); /* smaller id, accepted later */
    for (int i = 0; i < 3; i++) {
        const char *want[] = {"msg_1", "msg_2", "msg_0"};
        s_lease_ids (fx->store, T0 + i, ids, sizeof ids, att);
        assert_string_equal (ids, want[i]);
        s_result (fx->store, want[i], att[0], 200, T0 + i);
    }
}

/* --- one event, 1,000 subscriptions ----------------------------------------------------------- */

static void
test_fanout_1000_one_transaction (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    proto_subscription_t in;
    memset (&in, 0, sizeof in);
    char id[32], url[128];
    in.topic = "big.topic";
    in.secret = "whsec_c2VjcmV0";
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    for (int i = 0; i < 1000; i++) {
        snprintf (id, sizeof id, "sub_%04d", i);
        snprintf (url, sizeof url, "https://receiver-%04d.example.com/webhooks/zhook", i);
        in.id = id;
        in.url = url;
        assert_int_equal (sch_store_sub_create (st, "acme", &in, T0, NULL), SCH_STORE_OK);
    }
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    /* one batch = one transaction: begin, accept, commit */
    proto_reply_t *r = s_publish (st, "acme", "evt_big", "big.topic", T0);
    assert_int_equal (r->status, 202);
    assert_int_equal (r->item_count, 1000);
    uint8_t *data = NULL;
    size_t size = 0;
    assert_int_equal (proto_reply_encode (r, &data, &size), 0);
    assert_true (size < PROTO_MAX_FRAME);
    assert_true (size < 100000); /* about 60 bytes an item */
    free (data);
    proto_reply_destroy (&r);
    sch_store_counts_t c;
    sch_store_counts (st, &c);
    assert_int_equal (c.by_status[PROTO_ST_SCHEDULED], 1000);
    /* EVENT_GET of it fits a frame too */
    proto_reply_t *g = proto_reply_new ();
    assert_int_equal (sch_store_event_get (st, "acme", "evt_big", g), SCH_STORE_OK);
    assert_int_equal (g->record_count, 1000);
    assert_int_equal (proto_reply_encode (g, &data, &size), 0);
    assert_true (size < PROTO_MAX_FRAME);
    free (data);
    proto_reply_destroy (&g);
    /* list pages over 1,000 */
    size_t seen = 0;
    char *after = NULL;
    do {
        proto_reply_t *l = proto_reply_new ();
        assert_int_equal (sch_store_sub_list (st, "acme", "big.topic", 300, after, l),
                          SCH_STORE_OK);
        seen += l->subscription_count;
        free (after);
        after = l->next ? strdup (l->next) : NULL;
        proto_reply_destroy (&l);
    } while (after);
    assert_int_equal (seen, 1000);
}

/* Events are purged with their payload once none of their messages is stored. */
static void
test_event_purge (void **state)
{
    fixture_t *fx = *state;
    sch_store_t *st = fx->store;
    s_sub (st, "acme", "sub_1", "t");
    proto_reply_t *r = s_publish (st, "acme", "evt_1", "t", T0);
    char mid[64];
    snprintf (mid, sizeof mid, "%s", r->items[0].id);
    proto_reply_destroy (&r);
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (st, T0, 2, d), 1);
    int64_t end = T0 + 10;
    s_result (st, mid, d[0]->attempt, 200, end);
    proto_dispatch_destroy (&d[0]);
    size_t m = 0, i = 0;
    proto_reply_t *g = proto_reply_new ();
    /* the event outlives its retention while its message is stored */
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (st, T0 + fx->policy.retention_ms, 100, &m, &i),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    assert_int_equal (m, 0);
    assert_int_equal (sch_store_event_get (st, "acme", "evt_1", g), SCH_STORE_OK);
    proto_reply_destroy (&g);
    /* message purged; the event one retention after its recheck */
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (st, end + fx->policy.retention_ms, 100, &m, &i),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    assert_int_equal (m, 1);
    assert_int_equal (sch_store_begin (st), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (st, T0 + 3 * fx->policy.retention_ms, 100, &m, &i),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_commit (st), SCH_STORE_OK);
    g = proto_reply_new ();
    assert_int_equal (sch_store_event_get (st, "acme", "evt_1", g), SCH_STORE_NOTFOUND);
    proto_reply_destroy (&g);
}

int sch_broker_test (void);

int
sch_broker_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_bucket_math),
        cmocka_unit_test (test_limit_map_lru),
        cmocka_unit_test_setup_teardown (test_subscription_crud, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_fanout_and_patterns, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_rotation_at_dispatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_health_gone_and_reenable, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_health_failing_too_long, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_health_disable_after_hours_config, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_rate_limit_at_lease, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ordered_acceptance_order_with_failures, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_ordered_dead_head_releases, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ordered_cancel_waiting_and_head, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ordered_keys_independent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_ordered_survives_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_fanout_1000_one_transaction, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_event_purge, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("sch_broker_test", tests, NULL, NULL);
}
