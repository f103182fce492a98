/*  sch_store_test.c — the LMDB store: accept, tenancy, idempotency, due
 *  order, leases and fencing, retries, deferrals (not attempts), dead
 *  letters and replay, cancel,
 *  purge, durability across reopen, schema refusal and a full map. Time is
 *  driven by the tests (now_ms arguments); every store lives in a mkdtemp
 *  directory removed afterwards. */
#include "scheduler/sch_store.h"
#include "common/zh_log.h"

#include <fcntl.h>
#include <lmdb.h>
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
    *state = fx; /* owned by the teardown from here on, even on failure */
    snprintf (fx->dir, sizeof fx->dir, "/tmp/sch_store_test.XXXXXX");
    if (!mkdtemp (fx->dir))
        return -1;
    fx->policy = s_policy;
    sch_store_rc_t rc;
    fx->store = sch_store_new (fx->dir, 64 << 20, &fx->policy, &rc);
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

/* --- helpers ----------------------------------------------------------------- */

static proto_submit_t *
s_submit (const char *tenant, const char *id, int64_t deliver_at, const char *idem,
          uint8_t hash_byte)
{
    proto_submit_t *s = proto_submit_new ();
    assert_non_null (s);
    s->reply_to = strdup ("ing.1");
    s->tenant = strdup (tenant);
    s->request_id = strdup ("req-1");
    if (idem) {
        s->idem_key = strdup (idem);
        memset (s->idem_hash, hash_byte, sizeof s->idem_hash);
    }
    proto_item_t *it = proto_submit_add_item (s);
    assert_non_null (it);
    it->id = strdup (id);
    it->url = strdup ("https://example.com/hook");
    it->payload = (uint8_t *)strdup ("{\"n\":1}");
    it->payload_size = 7;
    it->deliver_at_ms = deliver_at;
    it->secret = strdup ("whsec_c2VjcmV0");
    return s;
}

/* Accepts one message in its own batch; returns the reply status. */
static uint16_t
s_accept (sch_store_t *store, const char *tenant, const char *id, int64_t deliver_at, int64_t now)
{
    proto_submit_t *s = s_submit (tenant, id, deliver_at, NULL, 0);
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (store, s, now, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    assert_int_equal (r->item_count, 1);
    uint16_t status = r->items[0].status;
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
    return status;
}

static proto_record_t *
s_get (sch_store_t *store, const char *tenant, const char *id)
{
    proto_record_t *rec = proto_record_new ();
    assert_non_null (rec);
    if (sch_store_get (store, tenant, id, rec) != SCH_STORE_OK)
        proto_record_destroy (&rec);
    return rec;
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

/* Leases exactly the message id (the only one due) and returns its attempt. */
static uint32_t
s_lease_one (sch_store_t *store, const char *id, int64_t now)
{
    proto_dispatch_t *d[4] = {0};
    assert_int_equal (s_lease (store, now, 4, d), 1);
    assert_string_equal (d[0]->id, id);
    uint32_t attempt = d[0]->attempt;
    proto_dispatch_destroy (&d[0]);
    return attempt;
}

static sch_event_t
s_result (sch_store_t *store, const char *id, uint32_t attempt, uint16_t code, const char *error,
          int64_t now)
{
    proto_result_t r;
    memset (&r, 0, sizeof r);
    r.id = (char *)id;
    r.attempt = attempt;
    r.deliverer = "dlv-1";
    r.status_code = code;
    r.error = (char *)error;
    r.retry_after_ms = -1;
    r.latency_ms = 12;
    r.at_ms = now;
    r.body = code >= 300 ? "oops" : NULL;
    sch_event_t ev;
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    assert_int_equal (sch_store_result (store, &r, now, &ev), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    return ev;
}

static int64_t
s_count (sch_store_t *store, proto_status_t st)
{
    sch_store_counts_t c;
    sch_store_counts (store, &c);
    return c.by_status[st];
}

/* Drives id through max_attempts failures to dead; returns the time it died. */
static int64_t
s_kill (sch_store_t *store, const char *id, int64_t now)
{
    for (int i = 0; i < 3; i++) {
        proto_record_t *rec = s_get (store, "acme", id);
        assert_non_null (rec);
        now = rec->next_attempt_ms > now ? rec->next_attempt_ms : now;
        proto_record_destroy (&rec);
        uint32_t a = s_lease_one (store, id, now);
        sch_event_t ev = s_result (store, id, a, 500, NULL, now + 10);
        assert_int_equal (ev.kind, i < 2 ? SCH_EVENT_RETRY : SCH_EVENT_DEAD);
        now += 10;
    }
    return now;
}

/* --- tests ------------------------------------------------------------------- */

static void
test_accept_and_get (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0 + 5000, T0), 202);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_1");
    assert_non_null (rec);
    assert_string_equal (rec->url, "https://example.com/hook");
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    assert_int_equal (rec->created_ms, T0);
    assert_int_equal (rec->deliver_at_ms, T0 + 5000);
    assert_int_equal (rec->next_attempt_ms, T0 + 5000);
    assert_int_equal (rec->max_attempts, 3); /* policy default */
    assert_int_equal (rec->timeout_ms, 1000);
    assert_null (rec->secret); /* public view */
    assert_null (rec->payload);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);
    /* same id again: refused per item, the first one untouched */
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0, T0), 409);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);
    /* delay_ms when deliver_at is 0 */
    proto_submit_t *s = s_submit ("acme", "msg_2", 0, NULL, 0);
    s->items[0].delay_ms = 750;
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (r->status, 202);
    assert_int_equal (r->items[0].deliver_at_ms, T0 + 750);
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
    assert_null (s_get (fx->store, "acme", "msg_nope"));
}

static void
test_tenant_isolation (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0, T0), 202);
    assert_null (s_get (fx->store, "other", "msg_1"));
    proto_record_t *rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (fx->store, "other", "msg_1", T0, rec), SCH_STORE_NOTFOUND);
    assert_int_equal (sch_store_replay (fx->store, "other", "msg_1", T0, rec), SCH_STORE_NOTFOUND);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_record_destroy (&rec);
    /* still scheduled for its owner */
    rec = s_get (fx->store, "acme", "msg_1");
    assert_non_null (rec);
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    proto_record_destroy (&rec);
    /* dead letters of one tenant are invisible to another */
    s_kill (fx->store, "msg_1", T0);
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_dead_list (fx->store, "other", 10, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->record_count, 0);
    proto_reply_destroy (&r);
}

static void
test_idempotency (void **state)
{
    fixture_t *fx = *state;
    proto_submit_t *s = s_submit ("acme", "msg_a", T0, "key-1", 0xAA);
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_false (r->replayed);
    assert_string_equal (r->items[0].id, "msg_a");
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);

    /* the retry carries a new id (the ingress generates one) and the same body */
    s = s_submit ("acme", "msg_b", T0, "key-1", 0xAA);
    r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0 + 1000, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_true (r->replayed);
    assert_int_equal (r->status, 202);
    assert_int_equal (r->item_count, 1);
    assert_string_equal (r->items[0].id, "msg_a");
    assert_int_equal (r->items[0].deliver_at_ms, T0);
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
    assert_null (s_get (fx->store, "acme", "msg_b"));
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);

    /* same key, different body: conflict */
    s = s_submit ("acme", "msg_c", T0, "key-1", 0xBB);
    r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0 + 2000, r), SCH_STORE_CONFLICT);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
    assert_null (s_get (fx->store, "acme", "msg_c"));

    /* the same key for another tenant is another key */
    s = s_submit ("other", "msg_d", T0, "key-1", 0xBB);
    r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0 + 2000, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_false (r->replayed);
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);

    /* after the window the key is new again (even before the purge ran) */
    s = s_submit ("acme", "msg_e", T0, "key-1", 0xBB);
    r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0 + 600000, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_false (r->replayed);
    assert_string_equal (r->items[0].id, "msg_e");
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);

    /* purging the old expiry entry must not delete the rewritten key */
    size_t m, i;
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (fx->store, T0 + 602000, 100, &m, &i), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (i, 1); /* other/key-1 expired; acme/key-1 was rewritten at +600000 */
    s = s_submit ("acme", "msg_f", T0, "key-1", 0xBB);
    r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0 + 600000 + 2000, r), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_true (r->replayed);
    assert_string_equal (r->items[0].id, "msg_e");
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
    /* and after its own window it is purged */
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (fx->store, T0 + 1200000, 100, &m, &i), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (i, 1);
}

static void
test_due_order_never_early (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_c", T0 + 3000, T0), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_a", T0 + 1000, T0), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_b", T0 + 2000, T0), 202);
    int64_t due, lease;
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, T0 + 1000);
    assert_int_equal (lease, INT64_MAX);

    proto_dispatch_t *d[8] = {0};
    assert_int_equal (s_lease (fx->store, T0 + 999, 8, d), 0);
    assert_int_equal (s_lease (fx->store, T0 + 2500, 8, d), 2);
    assert_string_equal (d[0]->id, "msg_a");
    assert_string_equal (d[1]->id, "msg_b");
    assert_int_equal (d[0]->attempt, 1);
    assert_int_equal (d[0]->due_ms, T0 + 1000);
    assert_int_equal (d[0]->lease_until_ms, T0 + 2500 + 1000 + 500);
    assert_int_equal (d[0]->timeout_ms, 1000);
    assert_string_equal (d[0]->url, "https://example.com/hook");
    assert_int_equal (d[0]->payload_size, 7);
    assert_memory_equal (d[0]->payload, "{\"n\":1}", 7);
    assert_string_equal (d[0]->secret, "whsec_c2VjcmV0");
    assert_string_equal (d[0]->request_id, "req-1");
    proto_dispatch_destroy (&d[0]);
    proto_dispatch_destroy (&d[1]);

    proto_record_t *rec = s_get (fx->store, "acme", "msg_a");
    assert_int_equal (rec->status, PROTO_ST_IN_FLIGHT);
    assert_int_equal (rec->attempt, 1);
    assert_int_equal (rec->next_attempt_ms, T0 + 4000);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 2);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);

    /* the due walk now starts at msg_c; the first lease end is visible */
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, T0 + 3000);
    assert_int_equal (lease, T0 + 4000);
    /* a lease is not "due": leasing later only takes msg_c */
    assert_int_equal (s_lease (fx->store, T0 + 3500, 8, d), 1);
    assert_string_equal (d[0]->id, "msg_c");
    proto_dispatch_destroy (&d[0]);
    /* max bounds a walk */
    assert_int_equal (s_accept (fx->store, "acme", "msg_d", T0, T0), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_e", T0, T0), 202);
    assert_int_equal (s_lease (fx->store, T0 + 3500, 1, d), 1);
    assert_string_equal (d[0]->id, "msg_d");
    proto_dispatch_destroy (&d[0]);
}

static void
test_results_and_fencing (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0, T0), 202);
    uint32_t a = s_lease_one (fx->store, "msg_1", T0);
    assert_int_equal (a, 1);
    /* a result for another attempt is stale and changes nothing */
    sch_event_t ev = s_result (fx->store, "msg_1", 7, 200, NULL, T0 + 10);
    assert_int_equal (ev.kind, SCH_EVENT_STALE);
    ev = s_result (fx->store, "msg_unknown", 1, 200, NULL, T0 + 10);
    assert_int_equal (ev.kind, SCH_EVENT_STALE);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_IN_FLIGHT);
    assert_int_equal (rec->attempt_count, 0);
    proto_record_destroy (&rec);

    /* 503 without Retry-After: retry, slowed to the backoff of the second
     * failure (2000 ms +-20%) */
    ev = s_result (fx->store, "msg_1", 1, 503, NULL, T0 + 20);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    assert_string_equal (ev.request_id, "req-1");
    assert_true (ev.next_ms >= T0 + 20 + 1600 && ev.next_ms <= T0 + 20 + 2400);
    rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_RETRYING);
    assert_int_equal (rec->next_attempt_ms, ev.next_ms);
    assert_int_equal (rec->attempt_count, 1);
    assert_int_equal (rec->attempts[0].n, 1);
    assert_int_equal (rec->attempts[0].status_code, 503);
    assert_string_equal (rec->attempts[0].body, "oops");
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_RETRYING), 1);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 0);
    /* the same result again is stale now */
    assert_int_equal (s_result (fx->store, "msg_1", 1, 503, NULL, T0 + 30).kind, SCH_EVENT_STALE);
    /* not before the backoff */
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (fx->store, ev.next_ms - 1, 2, d), 0);
    a = s_lease_one (fx->store, "msg_1", ev.next_ms);
    assert_int_equal (a, 2);
    ev = s_result (fx->store, "msg_1", 2, 204, NULL, ev.next_ms + 5);
    assert_int_equal (ev.kind, SCH_EVENT_DELIVERED);
    rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_DELIVERED);
    assert_int_equal (rec->next_attempt_ms, 0);
    assert_true (rec->ended_ms > 0);
    assert_int_equal (rec->attempt_count, 2);
    assert_null (rec->attempts[1].body);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_DELIVERED), 1);
    assert_int_equal (s_result (fx->store, "msg_1", 2, 204, NULL, T0 + 99999).kind,
                      SCH_EVENT_STALE);

    /* 410 and blocked destinations are dead at once */
    assert_int_equal (s_accept (fx->store, "acme", "msg_2", T0, T0), 202);
    a = s_lease_one (fx->store, "msg_2", T0 + 100000);
    ev = s_result (fx->store, "msg_2", a, 410, NULL, T0 + 100010);
    assert_int_equal (ev.kind, SCH_EVENT_DEAD);
    assert_string_equal (ev.reason, "gone");
    assert_int_equal (s_accept (fx->store, "acme", "msg_3", T0, T0), 202);
    a = s_lease_one (fx->store, "msg_3", T0 + 100000);
    ev = s_result (fx->store, "msg_3", a, 0, "blocked_destination", T0 + 100010);
    assert_int_equal (ev.kind, SCH_EVENT_DEAD);
    rec = s_get (fx->store, "acme", "msg_3");
    assert_string_equal (rec->dead_reason, "blocked_destination");
    assert_string_equal (rec->attempts[0].error, "blocked_destination");
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_DEAD), 2);
}

static sch_event_t
s_defer (sch_store_t *store, const char *id, uint32_t attempt, int64_t retry_after_ms, int64_t now)
{
    proto_result_t r;
    memset (&r, 0, sizeof r);
    r.id = (char *)id;
    r.attempt = attempt;
    r.deliverer = "dlv-1";
    r.error = "deferred";
    r.retry_after_ms = retry_after_ms;
    r.at_ms = now;
    sch_event_t ev;
    assert_int_equal (sch_store_begin (store), SCH_STORE_OK);
    assert_int_equal (sch_store_result (store, &r, now, &ev), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (store), SCH_STORE_OK);
    return ev;
}

static void
test_deferred_is_not_an_attempt (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0, T0), 202);
    int64_t now = T0;
    uint32_t a = s_lease_one (fx->store, "msg_1", now);
    assert_int_equal (a, 1);
    sch_event_t ev = s_defer (fx->store, "msg_1", a, 700, now + 5);
    assert_int_equal (ev.kind, SCH_EVENT_DEFERRED);
    assert_int_equal (ev.next_ms, now + 5 + 700);
    assert_string_equal (ev.id, "msg_1");
    /* back to scheduled, no history, the lease released */
    proto_record_t *rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    assert_int_equal (rec->attempt_count, 0);
    assert_int_equal (rec->attempt, 1);
    assert_int_equal (rec->next_attempt_ms, now + 705);
    assert_null (rec->dead_reason);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 0);
    int64_t due, lease;
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, now + 705);
    assert_int_equal (lease, INT64_MAX);
    /* the same deferral again is stale */
    assert_int_equal (s_defer (fx->store, "msg_1", a, 700, now + 6).kind, SCH_EVENT_STALE);
    /* not due before the wait; then leased with the next fencing token */
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (fx->store, now + 704, 2, d), 0);
    now += 705;
    a = s_lease_one (fx->store, "msg_1", now);
    assert_int_equal (a, 2);
    /* a late deferral of the old attempt is stale */
    assert_int_equal (s_defer (fx->store, "msg_1", 1, 700, now).kind, SCH_EVENT_STALE);

    /* deferred far more often than max_attempts (3): never dead */
    for (int i = 0; i < 10; i++) {
        ev = s_defer (fx->store, "msg_1", a, 100, now);
        assert_int_equal (ev.kind, SCH_EVENT_DEFERRED);
        now = ev.next_ms;
        a = s_lease_one (fx->store, "msg_1", now);
    }
    assert_int_equal (a, 12);
    /* the first real failure is still failure k = 1: backoff 1000 +-20% */
    ev = s_result (fx->store, "msg_1", a, 500, NULL, now);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    assert_true (ev.next_ms >= now + 800 && ev.next_ms <= now + 1200);
    rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->attempt_count, 1);
    assert_int_equal (rec->attempts[0].n, 12);
    proto_record_destroy (&rec);

    /* deferred after a failure: back to retrying; the wait is clamped */
    now = ev.next_ms;
    a = s_lease_one (fx->store, "msg_1", now);
    ev = s_defer (fx->store, "msg_1", a, 0, now);
    assert_int_equal (ev.kind, SCH_EVENT_DEFERRED);
    assert_int_equal (ev.next_ms, now + SCH_POLICY_DEFER_MIN_MS);
    rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_RETRYING);
    assert_int_equal (rec->attempt_count, 1);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_RETRYING), 1);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 0);
    now = ev.next_ms;
    a = s_lease_one (fx->store, "msg_1", now);
    ev = s_defer (fx->store, "msg_1", a, -1, now);
    assert_int_equal (ev.next_ms, now + SCH_POLICY_DEFER_DEFAULT_MS);
    now = ev.next_ms;
    a = s_lease_one (fx->store, "msg_1", now);
    ev = s_defer (fx->store, "msg_1", a, INT64_MAX / 2, now);
    assert_int_equal (ev.next_ms, now + s_policy.retry_max_ms);
    now = ev.next_ms;

    /* failures 2 and 3 since the replay: dead "max_attempts" at the third */
    a = s_lease_one (fx->store, "msg_1", now);
    ev = s_result (fx->store, "msg_1", a, 500, NULL, now);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    /* k = 2: backoff 2000 +-20% */
    assert_true (ev.next_ms >= now + 1600 && ev.next_ms <= now + 2400);
    now = ev.next_ms;
    a = s_lease_one (fx->store, "msg_1", now);
    ev = s_defer (fx->store, "msg_1", a, 100, now);
    now = ev.next_ms;
    a = s_lease_one (fx->store, "msg_1", now);
    ev = s_result (fx->store, "msg_1", a, 500, NULL, now);
    assert_int_equal (ev.kind, SCH_EVENT_DEAD);
    assert_string_equal (ev.reason, "max_attempts");
    rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_DEAD);
    assert_int_equal (rec->attempt_count, 3);
    proto_record_destroy (&rec);
    /* a deferral of an ended message is stale */
    assert_int_equal (s_defer (fx->store, "msg_1", a, 100, now).kind, SCH_EVENT_STALE);
    assert_int_equal (s_count (fx->store, PROTO_ST_DEAD), 1);
    assert_int_equal (s_count (fx->store, PROTO_ST_RETRYING), 0);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 0);

    /* a replayed message deferred on its first attempt is scheduled again */
    rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_replay (fx->store, "acme", "msg_1", now, rec), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_record_destroy (&rec);
    a = s_lease_one (fx->store, "msg_1", now);
    assert_int_equal (s_defer (fx->store, "msg_1", a, 100, now).kind, SCH_EVENT_DEFERRED);
    rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    assert_int_equal (rec->attempt_count, 3);
    proto_record_destroy (&rec);
}

/* Leasing ahead (ZHOOK_DISPATCH_LEAD_MS): what is due by the horizon is
 * leased now, its lease counted from its due time, its dispatch still
 * carrying that due time; a lease given back (the scheduler stopping
 * before it was due) counts no attempt and is due again at that time; one
 * cancelled meanwhile stays cancelled. */
static void
test_lease_ahead_and_release (void **state)
{
    fixture_t *fx = *state;
    int64_t now = T0;
    assert_int_equal (s_accept (fx->store, "acme", "msg_a", now + 30, now), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_b", now + 80, now), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_c", now + 40, now), 202);
    proto_dispatch_t *d[4] = {0};
    size_t n = 0;
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_lease (fx->store, now, now + 50, 4, d, &n), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (n, 2); /* msg_b (due at +80) is beyond the horizon */
    assert_string_equal (d[0]->id, "msg_a");
    assert_string_equal (d[1]->id, "msg_c");
    assert_int_equal (d[0]->due_ms, now + 30);
    assert_int_equal (d[0]->attempt, 1);
    /* the lease runs from the due time, not from now */
    int64_t lease_end = now + 30 + s_policy.timeout_ms + s_policy.lease_margin_ms;
    assert_int_equal (d[0]->lease_until_ms, lease_end);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_a");
    assert_int_equal (rec->status, PROTO_ST_IN_FLIGHT);
    assert_int_equal (rec->next_attempt_ms, lease_end);
    proto_record_destroy (&rec);
    int64_t due, lease;
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, now + 80);
    assert_int_equal (lease, lease_end);
    /* a horizon before now is now: nothing more */
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_lease (fx->store, now, now - 1000, 4, d + 2, &n), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (n, 0);

    /* msg_c is cancelled while held; then both leases are given back */
    rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (fx->store, "acme", "msg_c", now + 5, rec), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_record_destroy (&rec);
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_release (fx->store, d[0], now + 10), SCH_STORE_OK);
    assert_int_equal (sch_store_release (fx->store, d[1], now + 10), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    rec = s_get (fx->store, "acme", "msg_a");
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    assert_int_equal (rec->next_attempt_ms, now + 30); /* due at its time again */
    assert_int_equal (rec->attempt_count, 0); /* no attempt recorded */
    proto_record_destroy (&rec);
    rec = s_get (fx->store, "acme", "msg_c");
    assert_int_equal (rec->status, PROTO_ST_CANCELLED);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 0);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 2);
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, now + 30);
    assert_int_equal (lease, INT64_MAX);
    /* the same release again is a no-op: the attempt is no longer in flight */
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_release (fx->store, d[0], now + 10), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 2);
    proto_dispatch_destroy (&d[0]);
    proto_dispatch_destroy (&d[1]);

    /* never early: not before +30 without a horizon; at +30 the next
     * attempt, counted as the first of the message (k = 1) */
    assert_int_equal (s_lease (fx->store, now + 29, 4, d), 0);
    assert_int_equal (s_lease (fx->store, now + 30, 4, d), 1);
    assert_string_equal (d[0]->id, "msg_a");
    assert_int_equal (d[0]->attempt, 2);
    sch_event_t ev = s_result (fx->store, "msg_a", 2, 500, NULL, now + 31);
    assert_int_equal (ev.kind, SCH_EVENT_RETRY);
    assert_true (ev.next_ms >= now + 31 + 800 && ev.next_ms <= now + 31 + 1200); /* k = 1 */
    proto_dispatch_destroy (&d[0]);
    /* a release for a message gone from the store is a no-op */
    proto_dispatch_t *ghost = proto_dispatch_new ();
    assert_non_null (ghost);
    ghost->id = strdup ("msg_nope");
    ghost->attempt = 1;
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_release (fx->store, ghost, now), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_dispatch_destroy (&ghost);
}

static void
test_lease_expiry (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0, T0), 202);
    assert_int_equal (s_lease_one (fx->store, "msg_1", T0), 1);
    int64_t lease_end = T0 + 1500;
    sch_event_t evs[4];
    size_t n;
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_expire (fx->store, lease_end - 1, 4, evs, &n), SCH_STORE_OK);
    assert_int_equal (n, 0);
    assert_int_equal (sch_store_expire (fx->store, lease_end, 4, evs, &n), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (n, 1);
    assert_int_equal (evs[0].kind, SCH_EVENT_RETRY);
    assert_true (evs[0].lease_expired);
    assert_int_equal (evs[0].attempt, 1);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 0);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_1");
    assert_int_equal (rec->status, PROTO_ST_RETRYING);
    assert_string_equal (rec->attempts[0].error, "lease_expired");
    int64_t next = rec->next_attempt_ms;
    proto_record_destroy (&rec);
    /* the late result of the expired attempt is stale */
    assert_int_equal (s_result (fx->store, "msg_1", 1, 200, NULL, lease_end + 1).kind,
                      SCH_EVENT_STALE);
    /* re-dispatched with a higher attempt */
    assert_int_equal (s_lease_one (fx->store, "msg_1", next), 2);
    /* the lease count survives a reopen (recounted from the lease keys) */
    sch_store_destroy (&fx->store);
    fx->store = sch_store_new (fx->dir, 64 << 20, &fx->policy, NULL);
    assert_non_null (fx->store);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 1);
    int64_t due, lease;
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, INT64_MAX);
    assert_int_equal (lease, next + 1500);
    /* third expiry of a 3-attempt message: dead "max_attempts" */
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_expire (fx->store, lease, 4, evs, &n), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    rec = s_get (fx->store, "acme", "msg_1");
    next = rec->next_attempt_ms;
    proto_record_destroy (&rec);
    assert_int_equal (s_lease_one (fx->store, "msg_1", next), 3);
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_expire (fx->store, next + 1500, 4, evs, &n), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (n, 1);
    assert_int_equal (evs[0].kind, SCH_EVENT_DEAD);
    assert_string_equal (evs[0].reason, "max_attempts");
}

static void
test_dead_letters_and_replay (void **state)
{
    fixture_t *fx = *state;
    char id[32];
    for (int i = 0; i < 5; i++) {
        snprintf (id, sizeof id, "msg_%d", i);
        assert_int_equal (s_accept (fx->store, "acme", id, T0, T0), 202);
        s_kill (fx->store, id, T0 + i * 100000); /* dies later for larger i */
    }
    assert_int_equal (s_accept (fx->store, "zeta", "msg_z", T0, T0), 202);
    {
        /* another tenant's dead message sits between acme's */
        proto_record_t *rec;
        int64_t now = T0 + 250000;
        for (int i = 0; i < 3; i++) {
            proto_dispatch_t *d[2] = {0};
            size_t n = s_lease (fx->store, now, 2, d);
            assert_int_equal (n, 1);
            s_result (fx->store, "msg_z", d[0]->attempt, 500, NULL, now);
            proto_dispatch_destroy (&d[0]);
            rec = proto_record_new ();
            assert_int_equal (sch_store_get (fx->store, "zeta", "msg_z", rec), SCH_STORE_OK);
            now = rec->next_attempt_ms ? rec->next_attempt_ms : now;
            proto_record_destroy (&rec);
        }
    }
    assert_int_equal (s_count (fx->store, PROTO_ST_DEAD), 6);

    /* newest first, two per page */
    const char *expect[] = {"msg_4", "msg_3", "msg_2", "msg_1", "msg_0"};
    char *after = NULL;
    size_t seen = 0;
    for (int page = 0; page < 4 && seen < 5; page++) {
        proto_reply_t *r = proto_reply_new ();
        assert_int_equal (sch_store_dead_list (fx->store, "acme", 2, after, r), SCH_STORE_OK);
        free (after);
        after = r->next ? strdup (r->next) : NULL;
        for (size_t i = 0; i < r->record_count; i++) {
            assert_string_equal (r->records[i].id, expect[seen++]);
            assert_int_equal (r->records[i].status, PROTO_ST_DEAD);
            assert_string_equal (r->records[i].dead_reason, "max_attempts");
            assert_null (r->records[i].secret);
        }
        proto_reply_destroy (&r);
    }
    assert_int_equal (seen, 5);
    /* the cursor after the last page ends the list */
    if (after) {
        proto_reply_t *r = proto_reply_new ();
        assert_int_equal (sch_store_dead_list (fx->store, "acme", 2, after, r), SCH_STORE_OK);
        assert_int_equal (r->record_count, 0);
        assert_null (r->next);
        proto_reply_destroy (&r);
        free (after);
    }
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_dead_list (fx->store, "acme", 2, "garbage", r), SCH_STORE_INVALID);
    assert_int_equal (sch_store_dead_list (fx->store, "acme", 1000, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->record_count, 5);
    assert_null (r->next);
    proto_reply_destroy (&r);

    /* replay: scheduled now, attempts counted afresh, history kept */
    int64_t now = T0 + 1000000;
    proto_record_t *rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_replay (fx->store, "acme", "msg_2", now, rec), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    assert_int_equal (rec->attempt_base, 3);
    assert_int_equal (rec->next_attempt_ms, now);
    assert_int_equal (rec->attempt_count, 3);
    assert_null (rec->dead_reason);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_DEAD), 5);
    rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_replay (fx->store, "acme", "msg_2", now, rec), SCH_STORE_CONFLICT);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_record_destroy (&rec);
    r = proto_reply_new ();
    assert_int_equal (sch_store_dead_list (fx->store, "acme", 10, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->record_count, 4);
    proto_reply_destroy (&r);
    /* two failures retry, the third since the replay kills it again */
    uint32_t a = s_lease_one (fx->store, "msg_2", now);
    assert_int_equal (a, 4);
    assert_int_equal (s_result (fx->store, "msg_2", a, 500, NULL, now).kind, SCH_EVENT_RETRY);
    now += 60000;
    a = s_lease_one (fx->store, "msg_2", now);
    assert_int_equal (s_result (fx->store, "msg_2", a, 500, NULL, now).kind, SCH_EVENT_RETRY);
    now += 60000;
    a = s_lease_one (fx->store, "msg_2", now);
    assert_int_equal (a, 6);
    assert_int_equal (s_result (fx->store, "msg_2", a, 500, NULL, now).kind, SCH_EVENT_DEAD);
}

static void
test_cancel (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0 + 1000, T0), 202);
    proto_record_t *rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (fx->store, "acme", "msg_1", T0, rec), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (rec->status, PROTO_ST_CANCELLED);
    assert_int_equal (rec->ended_ms, T0);
    proto_record_destroy (&rec);
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (fx->store, T0 + 5000, 2, d), 0);
    /* ended: 409-equivalent, the record comes back unchanged */
    rec = proto_record_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (fx->store, "acme", "msg_1", T0 + 1, rec),
                      SCH_STORE_CONFLICT);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (rec->status, PROTO_ST_CANCELLED);
    assert_int_equal (rec->ended_ms, T0);
    proto_record_destroy (&rec);
    /* cancelling an in-flight message fences its result out */
    assert_int_equal (s_accept (fx->store, "acme", "msg_2", T0, T0), 202);
    uint32_t a = s_lease_one (fx->store, "msg_2", T0);
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_cancel (fx->store, "acme", "msg_2", T0 + 5, NULL), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 0);
    assert_int_equal (s_count (fx->store, PROTO_ST_CANCELLED), 2);
    assert_int_equal (s_result (fx->store, "msg_2", a, 200, NULL, T0 + 10).kind, SCH_EVENT_STALE);
    int64_t due, lease;
    assert_int_equal (sch_store_next (fx->store, &due, &lease), SCH_STORE_OK);
    assert_int_equal (due, INT64_MAX);
    assert_int_equal (lease, INT64_MAX);
}

static void
test_purge_after_retention (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0, T0), 202);
    uint32_t a = s_lease_one (fx->store, "msg_1", T0);
    assert_int_equal (s_result (fx->store, "msg_1", a, 200, NULL, T0 + 10).kind,
                      SCH_EVENT_DELIVERED);
    assert_int_equal (s_accept (fx->store, "acme", "msg_2", T0, T0), 202);
    int64_t died = s_kill (fx->store, "msg_2", T0 + 20);
    assert_int_equal (s_accept (fx->store, "acme", "msg_3", T0 + 10000000, T0), 202);
    size_t m, i;
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (fx->store, T0 + 10 + 3600000 - 1, 100, &m, &i),
                      SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (m, 0);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_1");
    assert_non_null (rec);
    proto_record_destroy (&rec);
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (fx->store, T0 + 10 + 3600000, 100, &m, &i), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (m, 1);
    assert_null (s_get (fx->store, "acme", "msg_1"));
    assert_int_equal (s_count (fx->store, PROTO_ST_DELIVERED), 0);
    /* the dead one goes when its own retention ends, with its dead-letter entry */
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_purge (fx->store, died + 3600000, 1, &m, &i), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    assert_int_equal (m, 1);
    assert_null (s_get (fx->store, "acme", "msg_2"));
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_dead_list (fx->store, "acme", 10, NULL, r), SCH_STORE_OK);
    assert_int_equal (r->record_count, 0);
    proto_reply_destroy (&r);
    assert_int_equal (s_count (fx->store, PROTO_ST_DEAD), 0);
    /* waiting messages are never purged */
    rec = s_get (fx->store, "acme", "msg_3");
    assert_non_null (rec);
    proto_record_destroy (&rec);
}

static void
test_durable_across_reopen (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_1", T0 + 1000, T0), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_2", T0, T0), 202);
    assert_int_equal (s_lease_one (fx->store, "msg_2", T0), 1);
    /* an aborted batch leaves nothing */
    proto_submit_t *s = s_submit ("acme", "msg_3", T0, NULL, 0);
    proto_reply_t *r = proto_reply_new ();
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_accept (fx->store, s, T0, r), SCH_STORE_OK);
    sch_store_abort (fx->store);
    proto_reply_destroy (&r);
    proto_submit_destroy (&s);
    sch_store_destroy (&fx->store);

    fx->store = sch_store_new (fx->dir, 64 << 20, &fx->policy, NULL);
    assert_non_null (fx->store);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_1");
    assert_non_null (rec);
    assert_int_equal (rec->status, PROTO_ST_SCHEDULED);
    proto_record_destroy (&rec);
    rec = s_get (fx->store, "acme", "msg_2");
    assert_non_null (rec);
    assert_int_equal (rec->status, PROTO_ST_IN_FLIGHT);
    proto_record_destroy (&rec);
    assert_null (s_get (fx->store, "acme", "msg_3"));
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 1);
    proto_dispatch_t *d[2] = {0};
    assert_int_equal (s_lease (fx->store, T0 + 1000, 2, d), 1);
    assert_string_equal (d[0]->id, "msg_1");
    assert_memory_equal (d[0]->payload, "{\"n\":1}", 7);
    proto_dispatch_destroy (&d[0]);
}

static void
test_schema_mismatch_refused (void **state)
{
    fixture_t *fx = *state;
    sch_store_destroy (&fx->store);
    /* write a newer schema version with plain LMDB */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 8), 0);
    assert_int_equal (mdb_env_open (env, fx->dir, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    assert_int_equal (mdb_dbi_open (txn, "meta", 0, &meta), 0);
    uint8_t ver[4] = {0, 0, 0, SCH_STORE_SCHEMA + 1};
    MDB_val k = {14, "schema_version"}, v = {4, ver};
    assert_int_equal (mdb_put (txn, meta, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    sch_store_rc_t rc = SCH_STORE_OK;
    assert_null (sch_store_new (fx->dir, 64 << 20, &fx->policy, &rc));
    assert_int_equal (rc, SCH_STORE_ESCHEMA);
}

/* A schema-1 store (no broker databases) opens: upgraded in place, its
 * messages intact, and the broker works on it. */
static void
test_schema1_upgraded (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_old", T0, T0), 202);
    sch_store_destroy (&fx->store);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta, dbi;
    assert_int_equal (mdb_env_create (&env), 0);
    assert_int_equal (mdb_env_set_maxdbs (env, 16), 0);
    assert_int_equal (mdb_env_open (env, fx->dir, 0, 0600), 0);
    assert_int_equal (mdb_txn_begin (env, NULL, 0, &txn), 0);
    const char *broker[] = {"subs", "subs_topic", "events", "events_exp", "order"};
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal (mdb_dbi_open (txn, broker[i], 0, &dbi), 0);
        assert_int_equal (mdb_drop (txn, dbi, 1), 0);
    }
    assert_int_equal (mdb_dbi_open (txn, "meta", 0, &meta), 0);
    uint8_t ver[4] = {0, 0, 0, 1};
    MDB_val k = {14, "schema_version"}, v = {4, ver};
    assert_int_equal (mdb_put (txn, meta, &k, &v, 0), 0);
    assert_int_equal (mdb_txn_commit (txn), 0);
    mdb_env_close (env);

    sch_store_rc_t rc = SCH_STORE_ERROR;
    fx->store = sch_store_new (fx->dir, 64 << 20, &fx->policy, &rc);
    assert_non_null (fx->store);
    assert_int_equal (rc, SCH_STORE_OK);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_old");
    assert_non_null (rec);
    proto_record_destroy (&rec);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), 1);
    proto_subscription_t in, out;
    memset (&in, 0, sizeof in);
    memset (&out, 0, sizeof out);
    in.id = "sub_1";
    in.topic = "a.b";
    in.url = "https://example.com/s";
    in.secret = "whsec_c2VjcmV0";
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_sub_create (fx->store, "acme", &in, T0, &out), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    proto_subscription_clear (&out);
    /* the version now reads 2: a second open is plain */
    sch_store_destroy (&fx->store);
    fx->store = sch_store_new (fx->dir, 64 << 20, &fx->policy, &rc);
    assert_non_null (fx->store);
    sch_store_counts_t c;
    sch_store_counts (fx->store, &c);
    assert_int_equal (c.subs_enabled, 1);
}

static void
test_map_full (void **state)
{
    fixture_t *fx = *state;
    sch_store_destroy (&fx->store);
    s_rmdir (fx->dir);
    assert_non_null (mkdtemp (strcpy (fx->dir, "/tmp/sch_store_test.XXXXXX")));
    sch_store_rc_t rc;
    fx->store = sch_store_new (fx->dir, 1 << 20, &fx->policy, &rc);
    assert_non_null (fx->store);
    size_t big = 16 * 1024;
    int accepted = 0;
    rc = SCH_STORE_OK;
    for (int i = 0; i < 1000 && rc == SCH_STORE_OK; i++) {
        char id[32];
        snprintf (id, sizeof id, "msg_%04d", i);
        proto_submit_t *s = s_submit ("acme", id, T0, NULL, 0);
        free (s->items[0].payload);
        s->items[0].payload = calloc (1, big);
        s->items[0].payload_size = big;
        proto_reply_t *r = proto_reply_new ();
        assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
        rc = sch_store_accept (fx->store, s, T0, r);
        if (rc == SCH_STORE_OK)
            rc = sch_store_commit (fx->store);
        else
            sch_store_abort (fx->store);
        if (rc == SCH_STORE_OK)
            accepted++;
        proto_reply_destroy (&r);
        proto_submit_destroy (&s);
    }
    assert_int_equal (rc, SCH_STORE_FULL);
    assert_true (accepted > 5);
    assert_false (sch_store_in_batch (fx->store));
    /* still usable: reads work, counts match, a batch that fits commits */
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED), accepted);
    proto_record_t *rec = s_get (fx->store, "acme", "msg_0000");
    assert_non_null (rec);
    proto_record_destroy (&rec);
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_commit (fx->store), SCH_STORE_OK);
    /* the reserve: accepting stops, but leases (and results) still commit */
    uint64_t used = 0, size = 0;
    assert_int_equal (sch_store_space (fx->store, &used, &size), SCH_STORE_OK);
    assert_int_equal (size, 1 << 20);
    assert_true (used > 0 && used <= size);
    assert_true (sch_store_reserve_reached (fx->store));
    proto_dispatch_t *ds[4];
    size_t leased = s_lease (fx->store, T0 + 1, 4, ds);
    assert_int_equal (leased, 4);
    for (size_t i = 0; i < leased; i++)
        proto_dispatch_destroy (&ds[i]);
    assert_int_equal (s_count (fx->store, PROTO_ST_IN_FLIGHT), 4);
    /* the operator's way out: a larger map; everything committed is there */
    sch_store_destroy (&fx->store);
    fx->store = sch_store_new (fx->dir, 8 << 20, &fx->policy, NULL);
    assert_non_null (fx->store);
    assert_int_equal (s_count (fx->store, PROTO_ST_SCHEDULED) +
                          s_count (fx->store, PROTO_ST_IN_FLIGHT),
                      accepted);
    for (int i = 0; i < accepted; i++) {
        char id[32];
        snprintf (id, sizeof id, "msg_%04d", i);
        rec = s_get (fx->store, "acme", id);
        assert_non_null (rec);
        proto_record_destroy (&rec);
    }
    assert_int_equal (s_accept (fx->store, "acme", "msg_again", T0, T0), 202);
}

/* A hot compacted copy opens as a store holding the same messages. */
static void
test_backup_and_readers (void **state)
{
    fixture_t *fx = *state;
    assert_int_equal (s_accept (fx->store, "acme", "msg_b1", T0 + 5000, T0), 202);
    assert_int_equal (s_accept (fx->store, "acme", "msg_b2", T0 + 6000, T0), 202);
    int cleared = -1;
    assert_int_equal (sch_store_reader_check (fx->store, &cleared), SCH_STORE_OK);
    assert_int_equal (cleared, 0);
    uint64_t used = 0, size = 0;
    assert_int_equal (sch_store_space (fx->store, &used, &size), SCH_STORE_OK);
    assert_int_equal (size, 64 << 20);
    assert_false (sch_store_reserve_reached (fx->store));
    /* not inside a batch */
    assert_int_equal (sch_store_begin (fx->store), SCH_STORE_OK);
    assert_int_equal (sch_store_space (fx->store, &used, &size), SCH_STORE_ERROR);
    sch_store_abort (fx->store);

    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/sch_store_bk.XXXXXX");
    assert_non_null (mkdtemp (dir));
    char path[128];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    int fd = open (path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true (fd >= 0);
    assert_int_equal (sch_store_backup (fx->store, fd), SCH_STORE_OK);
    close (fd);
    assert_int_equal (sch_store_backup (fx->store, -1), SCH_STORE_ERROR);
    sch_store_rc_t rc;
    sch_store_t *copy = sch_store_new (dir, 64 << 20, &fx->policy, &rc);
    assert_non_null (copy);
    assert_int_equal (s_count (copy, PROTO_ST_SCHEDULED), 2);
    proto_record_t *rec = s_get (copy, "acme", "msg_b2");
    assert_non_null (rec);
    assert_int_equal (rec->deliver_at_ms, T0 + 6000);
    proto_record_destroy (&rec);
    sch_store_destroy (&copy);
    s_rmdir (dir);
}

int sch_store_test (void);

int
sch_store_test (void)
{
    zh_log_init ("scheduler", ZH_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_accept_and_get, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_backup_and_readers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_tenant_isolation, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_idempotency, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_due_order_never_early, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_results_and_fencing, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_deferred_is_not_an_attempt, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lease_ahead_and_release, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_lease_expiry, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_dead_letters_and_replay, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cancel, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_purge_after_retention, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_durable_across_reopen, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_schema_mismatch_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_schema1_upgraded, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_map_full, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("sch_store_test", tests, NULL, NULL);
}
