/*  sch_store.c — LMDB store of the scheduler (layout in sch_store.h).
 *
 *  Every state change of a message rewrites its record and moves its keys
 *  in the secondary indexes (due, dead, ended) in the same transaction, so
 *  the indexes never disagree with the records after a crash. Counts per
 *  status live in meta and change in the same transaction too: STATUS and
 *  the flow-control budget never scan the store. */
#include "scheduler/sch_store.h"
#include "scheduler/sch_limit.h"
#include "common/zh_digest.h"
#include "common/zh_id.h"
#include "common/zh_log.h"
#include "common/zh_trace.h"

#include <errno.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_LEASE_BIT (UINT64_C (1) << 63) /* due-key time flag: lease end */
#define S_TIME_MAX (INT64_C (1) << 62) /* due and ended times are clamped below this */
#define S_KEY_MAX 511 /* LMDB's default maximum key size */
#define S_STATUS_N (PROTO_ST_CANCELLED + 1)
#define S_IDEM_VERSION 2 /* 2 adds the event id; 1 is still read */
#define S_EVENT_VERSION 1
#define S_ORDER_PREFIX 32 /* SHA-256 of tenant, scope and ordering key */

struct _sch_store_t {
    MDB_env *env;
    MDB_dbi meta, messages, payloads, due, idem, idem_exp, dead, ended;
    MDB_dbi subs, subs_topic, events, events_exp, order;
    MDB_txn *txn; // open write batch, or NULL
    sch_store_rc_t batch_rc; // first failure in the open batch
    sch_policy_t policy; // copied at open
    int64_t counts[S_STATUS_N]; // committed counts per status
    int64_t batch_counts[S_STATUS_N]; // counts as the open batch leaves them
    int64_t sub_counts[2]; // committed subscriptions: [0] enabled, [1] disabled
    int64_t batch_sub_counts[2]; // ... as the open batch leaves them
    uint64_t seq, batch_seq; // last acceptance sequence of ordered messages
    sch_limit_t *limit; // per-subscription token buckets (memory only)
    uint64_t rng; // splitmix64 state for backoff jitter
    uint64_t free_pages; // map pages not in use at the last sch_store_space
    uint64_t reserve_pages; // accept refuses below this: room for results and leases
    bool batch_accepts; // the open batch accepted submissions
    int readers_cleared_at_open; // stale reader slots the check at open freed
};

const char *
sch_store_strerror (sch_store_rc_t rc)
{
    switch (rc) {
    case SCH_STORE_OK:
        return "ok";
    case SCH_STORE_NOTFOUND:
        return "not found";
    case SCH_STORE_CONFLICT:
        return "conflict";
    case SCH_STORE_INVALID:
        return "invalid argument";
    case SCH_STORE_FULL:
        return "store full";
    case SCH_STORE_ESCHEMA:
        return "unsupported schema version";
    case SCH_STORE_ERROR:
        return "store error";
    }
    return "unknown";
}

/* --- small helpers --------------------------------------------------------- */

static void
s_be64_put (uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static uint64_t
s_be64_get (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t
s_random (sch_store_t *self)
{
    uint64_t z = (self->rng += UINT64_C (0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C (0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int64_t
s_clamp_time (int64_t t)
{
    return t < 0 ? 0 : t >= S_TIME_MAX ? S_TIME_MAX - 1 : t;
}

/* time || id key into buf (room for 8 + SCH_STORE_ID_MAX); returns its size */
static size_t
s_time_key (uint8_t *buf, uint64_t t, const char *id)
{
    size_t len = strlen (id);
    s_be64_put (buf, t);
    memcpy (buf + 8, id, len);
    return 8 + len;
}

static bool
s_id_ok (const char *id)
{
    if (!id)
        return false;
    size_t len = strlen (id);
    return len > 0 && len <= SCH_STORE_ID_MAX;
}

static bool
s_tenant_ok (const char *tenant)
{
    if (!tenant)
        return false;
    size_t len = strlen (tenant);
    return len > 0 && len <= SCH_STORE_TENANT_MAX;
}

static bool
s_ended (proto_status_t st)
{
    return st == PROTO_ST_DELIVERED || st == PROTO_ST_DEAD || st == PROTO_ST_CANCELLED;
}

static void
s_copy_trunc (char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen (src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy (dst, src, n);
    dst[n] = 0;
}

/* Maps an LMDB failure to a store code, logs it, and poisons the batch. */
static sch_store_rc_t
s_fail (sch_store_t *self, int mdb_rc, const char *what)
{
    /* a full disk is the same fault as a full map for the client: 507 */
    sch_store_rc_t rc = (mdb_rc == MDB_MAP_FULL || mdb_rc == ENOSPC || mdb_rc == EDQUOT)
                            ? SCH_STORE_FULL
                            : SCH_STORE_ERROR;
    if (rc == SCH_STORE_FULL)
        zh_warn ("store full: transaction aborted", "s:op", what, NULL);
    else
        zh_error ("store operation failed", "s:op", what, "s:error",
                  mdb_rc ? mdb_strerror (mdb_rc) : "out of memory or corrupt data", NULL);
    if (self->txn && self->batch_rc == SCH_STORE_OK)
        self->batch_rc = rc;
    return rc;
}

static sch_store_rc_t
s_put (sch_store_t *self, MDB_dbi dbi, const void *key, size_t klen, const void *val, size_t vlen,
       unsigned flags, const char *what)
{
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = mdb_put (self->txn, dbi, &k, &v, flags);
    return rc ? s_fail (self, rc, what) : SCH_STORE_OK;
}

/* Deletes a key; a missing key is fine (indexes are cleaned idempotently). */
static sch_store_rc_t
s_del (sch_store_t *self, MDB_dbi dbi, const void *key, size_t klen, const char *what)
{
    MDB_val k = {klen, (void *)key};
    int rc = mdb_del (self->txn, dbi, &k, NULL);
    return (rc && rc != MDB_NOTFOUND) ? s_fail (self, rc, what) : SCH_STORE_OK;
}

static sch_store_rc_t
s_put_time (sch_store_t *self, MDB_dbi dbi, uint64_t t, const char *id, const char *what)
{
    uint8_t key[8 + SCH_STORE_ID_MAX];
    return s_put (self, dbi, key, s_time_key (key, t, id), "", 0, 0, what);
}

static sch_store_rc_t
s_del_time (sch_store_t *self, MDB_dbi dbi, uint64_t t, const char *id, const char *what)
{
    uint8_t key[8 + SCH_STORE_ID_MAX];
    return s_del (self, dbi, key, s_time_key (key, t, id), what);
}

static void
s_count_move (sch_store_t *self, proto_status_t from, proto_status_t to)
{
    if (from > 0 && from < S_STATUS_N)
        self->batch_counts[from]--;
    if (to > 0 && to < S_STATUS_N)
        self->batch_counts[to]++;
}

/* A read transaction, or the open batch. */
static sch_store_rc_t
s_read_begin (sch_store_t *self, MDB_txn **txn)
{
    if (self->txn) {
        *txn = self->txn;
        return SCH_STORE_OK;
    }
    int rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, txn);
    return rc ? s_fail (self, rc, "read txn") : SCH_STORE_OK;
}

static void
s_read_end (sch_store_t *self, MDB_txn *txn)
{
    if (txn && txn != self->txn)
        mdb_txn_abort (txn);
}

static sch_store_rc_t
s_record_load (sch_store_t *self, MDB_txn *txn, const char *id, proto_record_t **rec)
{
    *rec = NULL;
    if (!s_id_ok (id))
        return SCH_STORE_NOTFOUND;
    MDB_val k = {strlen (id), (void *)id}, v;
    int rc = mdb_get (txn, self->messages, &k, &v);
    if (rc == MDB_NOTFOUND)
        return SCH_STORE_NOTFOUND;
    if (rc)
        return s_fail (self, rc, "read record");
    if (proto_record_decode (v.mv_data, v.mv_size, rec) != PROTO_OK || !(*rec)->id ||
        strcmp ((*rec)->id, id) != 0 || !(*rec)->url) {
        /* not fatal to the batch: callers skip or refuse this one record */
        proto_record_destroy (rec);
        zh_error ("store: undecodable record", "s:id", id, NULL);
        return SCH_STORE_INVALID;
    }
    return SCH_STORE_OK;
}

/* Loads id only when it belongs to tenant; other tenants' ids are NOTFOUND. */
static sch_store_rc_t
s_record_load_owned (sch_store_t *self, MDB_txn *txn, const char *tenant, const char *id,
                     proto_record_t **rec)
{
    sch_store_rc_t rc = s_record_load (self, txn, id, rec);
    if (rc == SCH_STORE_INVALID)
        return SCH_STORE_ERROR;
    if (rc == SCH_STORE_OK && (!tenant || !(*rec)->tenant || strcmp (tenant, (*rec)->tenant))) {
        proto_record_destroy (rec);
        rc = SCH_STORE_NOTFOUND;
    }
    return rc;
}

static sch_store_rc_t
s_record_save (sch_store_t *self, const proto_record_t *rec, unsigned flags)
{
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_record_encode (rec, true, &data, &size))
        return s_fail (self, 0, "encode record");
    sch_store_rc_t rc =
        s_put (self, self->messages, rec->id, strlen (rec->id), data, size, flags, "write record");
    free (data);
    return rc;
}

/* Moves rec into out as a public view (no secret, headers or payload) and
 * destroys rec. out may be NULL. */
static void
s_record_hand_over (proto_record_t *out, proto_record_t **rec_p)
{
    proto_record_t *rec = *rec_p;
    if (out && rec) {
        free (rec->secret);
        rec->secret = NULL;
        free (rec->payload);
        rec->payload = NULL;
        rec->payload_size = 0;
        for (size_t i = 0; i < rec->header_count; i++) {
            free (rec->headers[i].name);
            free (rec->headers[i].value);
        }
        free (rec->headers);
        rec->headers = NULL;
        rec->header_count = 0;
        *out = *rec;
        memset (rec, 0, sizeof *rec);
    }
    proto_record_destroy (rec_p);
}

static sch_store_rc_t
s_batch_check (sch_store_t *self)
{
    if (!self->txn) {
        zh_error ("store: write operation outside a batch", NULL);
        return SCH_STORE_ERROR;
    }
    return self->batch_rc;
}

/* --- open / close ------------------------------------------------------------ */

static sch_store_rc_t
s_open_dbis (sch_store_t *self, MDB_txn *txn)
{
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbis[] = {
        {"meta", &self->meta},         {"messages", &self->messages},
        {"payloads", &self->payloads}, {"due", &self->due},
        {"idem", &self->idem},         {"idem_exp", &self->idem_exp},
        {"dead", &self->dead},         {"ended", &self->ended},
        {"subs", &self->subs},         {"subs_topic", &self->subs_topic},
        {"events", &self->events},     {"events_exp", &self->events_exp},
        {"order", &self->order},
    };
    for (size_t i = 0; i < sizeof dbis / sizeof dbis[0]; i++) {
        int rc = mdb_dbi_open (txn, dbis[i].name, MDB_CREATE, dbis[i].dbi);
        if (rc) {
            zh_error ("store: cannot open database", "s:dbi", dbis[i].name, "s:error",
                      mdb_strerror (rc), NULL);
            return rc == MDB_MAP_FULL ? SCH_STORE_FULL : SCH_STORE_ERROR;
        }
    }
    return SCH_STORE_OK;
}

/* Checks or writes schema_version; loads the counts and recounts leases. */
static sch_store_rc_t
s_open_meta (sch_store_t *self, MDB_txn *txn)
{
    MDB_val k = {14, "schema_version"}, v;
    int rc = mdb_get (txn, self->meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        MDB_stat st;
        if (mdb_stat (txn, self->messages, &st) == 0 && st.ms_entries > 0) {
            zh_error ("store: records without a schema version; refusing to open", NULL);
            return SCH_STORE_ESCHEMA;
        }
        uint8_t ver[4] = {0, 0, 0, SCH_STORE_SCHEMA};
        MDB_val vv = {4, ver};
        rc = mdb_put (txn, self->meta, &k, &vv, 0);
        if (rc)
            return rc == MDB_MAP_FULL ? SCH_STORE_FULL : SCH_STORE_ERROR;
    }
    else if (rc)
        return SCH_STORE_ERROR;
    else {
        const uint8_t *p = v.mv_data;
        uint32_t ver =
            v.mv_size == 4
                ? ((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3])
                : 0;
        if (ver == 1) {
            /* schema 1 lacks only the broker databases, created above with
             * MDB_CREATE in this same transaction: upgrade in place */
            uint8_t nv[4] = {0, 0, 0, SCH_STORE_SCHEMA};
            MDB_val vv = {4, nv};
            rc = mdb_put (txn, self->meta, &k, &vv, 0);
            if (rc)
                return rc == MDB_MAP_FULL ? SCH_STORE_FULL : SCH_STORE_ERROR;
            zh_info ("store: upgraded schema", "i:from", (int64_t)1, "i:to",
                     (int64_t)SCH_STORE_SCHEMA, NULL);
        }
        else if (ver != SCH_STORE_SCHEMA) {
            zh_error ("store: unsupported schema version; refusing to open", "i:found",
                      (int64_t)ver, "i:supported", (int64_t)SCH_STORE_SCHEMA, NULL);
            return SCH_STORE_ESCHEMA;
        }
    }
    MDB_val ck = {6, "counts"}, cv;
    rc = mdb_get (txn, self->meta, &ck, &cv);
    if (rc == 0 && cv.mv_size == 8 * S_STATUS_N) {
        for (int i = 0; i < S_STATUS_N; i++)
            self->counts[i] = (int64_t)s_be64_get ((const uint8_t *)cv.mv_data + 8 * i);
    }
    MDB_val sk = {10, "sub_counts"}, sv;
    if (mdb_get (txn, self->meta, &sk, &sv) == 0 && sv.mv_size == 16) {
        self->sub_counts[0] = (int64_t)s_be64_get (sv.mv_data);
        self->sub_counts[1] = (int64_t)s_be64_get ((const uint8_t *)sv.mv_data + 8);
    }
    MDB_val qk = {9, "order_seq"}, qv;
    if (mdb_get (txn, self->meta, &qk, &qv) == 0 && qv.mv_size == 8)
        self->seq = s_be64_get (qv.mv_data);
    /* outstanding leases are recounted from the lease region (bounded by capacity) */
    MDB_cursor *cur;
    if (mdb_cursor_open (txn, self->due, &cur))
        return SCH_STORE_ERROR;
    uint8_t start[8];
    s_be64_put (start, S_LEASE_BIT);
    MDB_val key = {8, start}, val;
    int64_t leases = 0;
    for (rc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get (cur, &key, &val, MDB_NEXT))
        leases++;
    mdb_cursor_close (cur);
    self->counts[PROTO_ST_IN_FLIGHT] = leases;
    return SCH_STORE_OK;
}

sch_store_t *
sch_store_new (const char *dir, uint64_t map_bytes, const sch_policy_t *policy,
               sch_store_rc_t *rc_out)
{
    sch_store_rc_t rc = SCH_STORE_ERROR;
    MDB_txn *txn = NULL;
    sch_store_t *self = calloc (1, sizeof *self);
    if (!self)
        goto out;
    self->policy = *policy;
    self->rng = zh_random_u64 ();
    self->limit = sch_limit_new (SCH_LIMIT_DEFAULT_MAX);
    if (!self->limit)
        goto out;
    if (mkdir (dir, 0700) && errno != EEXIST) {
        zh_error ("store: cannot create data directory", "s:dir", dir, "s:error", strerror (errno),
                  NULL);
        goto out;
    }
    int mrc = mdb_env_create (&self->env);
    if (!mrc)
        mrc = mdb_env_set_maxdbs (self->env, 16);
    if (!mrc)
        mrc = mdb_env_set_mapsize (self->env, (size_t)map_bytes);
    if (!mrc)
        mrc = mdb_env_open (self->env, dir, 0, 0600);
    if (mrc) {
        zh_error ("store: cannot open LMDB environment", "s:dir", dir, "s:error",
                  mdb_strerror (mrc), NULL);
        goto out;
    }
    int stale = 0;
    if (mdb_reader_check (self->env, &stale) == 0 && stale > 0) {
        zh_warn ("store: cleared stale readers", "i:readers", (int64_t)stale, NULL);
        self->readers_cleared_at_open = stale;
    }
    mrc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (mrc) {
        zh_error ("store: cannot begin transaction", "s:error", mdb_strerror (mrc), NULL);
        goto out;
    }
    rc = s_open_dbis (self, txn);
    if (rc == SCH_STORE_OK)
        rc = s_open_meta (self, txn);
    if (rc != SCH_STORE_OK)
        goto out;
    mrc = mdb_txn_commit (txn);
    txn = NULL;
    if (mrc) {
        zh_error ("store: cannot commit", "s:error", mdb_strerror (mrc), NULL);
        rc = mrc == MDB_MAP_FULL ? SCH_STORE_FULL : SCH_STORE_ERROR;
        goto out;
    }
    /* 1/20 of the map, 64 pages .. 32 MiB: a result or lease txn always fits */
    MDB_stat est;
    if (mdb_env_stat (self->env, &est) == 0 && est.ms_psize > 0) {
        uint64_t pages = map_bytes / est.ms_psize, reserve = pages / 20;
        uint64_t cap = ((uint64_t)32 << 20) / est.ms_psize;
        self->reserve_pages = reserve < 64 ? 64 : reserve > cap ? cap : reserve;
        if (self->reserve_pages > pages / 2)
            self->reserve_pages = pages / 2;
    }
    self->free_pages = UINT64_MAX;
    uint64_t used, size;
    (void)sch_store_space (self, &used, &size);
    rc = SCH_STORE_OK;
out:
    if (txn)
        mdb_txn_abort (txn);
    if (rc_out)
        *rc_out = rc;
    if (rc != SCH_STORE_OK)
        sch_store_destroy (&self);
    return self;
}

void
sch_store_destroy (sch_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sch_store_t *self = *self_p;
    if (self->txn)
        mdb_txn_abort (self->txn);
    if (self->env)
        mdb_env_close (self->env);
    sch_limit_destroy (&self->limit);
    free (self);
    *self_p = NULL;
}

/* --- batches ----------------------------------------------------------------- */

sch_store_rc_t
sch_store_begin (sch_store_t *self)
{
    if (self->txn) {
        zh_error ("store: batch already open", NULL);
        return SCH_STORE_ERROR;
    }
    int rc = mdb_txn_begin (self->env, NULL, 0, &self->txn);
    if (rc) {
        self->txn = NULL;
        return s_fail (self, rc, "begin");
    }
    self->batch_rc = SCH_STORE_OK;
    self->batch_accepts = false;
    memcpy (self->batch_counts, self->counts, sizeof self->counts);
    memcpy (self->batch_sub_counts, self->sub_counts, sizeof self->sub_counts);
    self->batch_seq = self->seq;
    return SCH_STORE_OK;
}

void
sch_store_abort (sch_store_t *self)
{
    if (self->txn)
        mdb_txn_abort (self->txn);
    self->txn = NULL;
    self->batch_rc = SCH_STORE_OK;
}

bool
sch_store_in_batch (sch_store_t *self)
{
    return self->txn != NULL;
}

sch_store_rc_t
sch_store_commit (sch_store_t *self)
{
    if (!self->txn)
        return SCH_STORE_ERROR;
    sch_store_rc_t rc = self->batch_rc;
    if (rc == SCH_STORE_OK && memcmp (self->batch_counts, self->counts, sizeof self->counts)) {
        uint8_t buf[8 * S_STATUS_N];
        for (int i = 0; i < S_STATUS_N; i++)
            s_be64_put (buf + 8 * i, (uint64_t)self->batch_counts[i]);
        rc = s_put (self, self->meta, "counts", 6, buf, sizeof buf, 0, "write counts");
    }
    if (rc == SCH_STORE_OK &&
        memcmp (self->batch_sub_counts, self->sub_counts, sizeof self->sub_counts)) {
        uint8_t buf[16];
        s_be64_put (buf, (uint64_t)self->batch_sub_counts[0]);
        s_be64_put (buf + 8, (uint64_t)self->batch_sub_counts[1]);
        rc = s_put (self, self->meta, "sub_counts", 10, buf, sizeof buf, 0,
                    "write subscription counts");
    }
    if (rc == SCH_STORE_OK && self->batch_seq != self->seq) {
        uint8_t buf[8];
        s_be64_put (buf, self->batch_seq);
        rc = s_put (self, self->meta, "order_seq", 9, buf, sizeof buf, 0, "write order sequence");
    }
    if (rc != SCH_STORE_OK) {
        sch_store_abort (self);
        return rc;
    }
    int mrc = mdb_txn_commit (self->txn);
    self->txn = NULL;
    bool accepts = self->batch_accepts;
    self->batch_accepts = false;
    uint64_t used, size;
    if (mrc) {
        self->batch_rc = SCH_STORE_OK;
        rc = s_fail (self, mrc, "commit");
        if (rc == SCH_STORE_FULL)
            (void)sch_store_space (self, &used, &size);
        return rc;
    }
    /* near the reserve, look again after every batch that accepted */
    if (accepts && self->free_pages < 4 * self->reserve_pages)
        (void)sch_store_space (self, &used, &size);
    memcpy (self->counts, self->batch_counts, sizeof self->counts);
    memcpy (self->sub_counts, self->batch_sub_counts, sizeof self->sub_counts);
    self->seq = self->batch_seq;
    return SCH_STORE_OK;
}

/* --- subscriptions: load and save ---------------------------------------------- */

static sch_store_rc_t
s_sub_load (sch_store_t *self, MDB_txn *txn, const char *id, proto_subscription_t **sub)
{
    *sub = NULL;
    if (!s_id_ok (id))
        return SCH_STORE_NOTFOUND;
    MDB_val k = {strlen (id), (void *)id}, v;
    int rc = mdb_get (txn, self->subs, &k, &v);
    if (rc == MDB_NOTFOUND)
        return SCH_STORE_NOTFOUND;
    if (rc)
        return s_fail (self, rc, "read subscription");
    if (proto_subscription_decode (v.mv_data, v.mv_size, sub) != PROTO_OK || !(*sub)->id ||
        strcmp ((*sub)->id, id) != 0 || !(*sub)->tenant || !(*sub)->topic || !(*sub)->url) {
        proto_subscription_destroy (sub);
        zh_error ("store: undecodable subscription", "s:id", id, NULL);
        return SCH_STORE_INVALID;
    }
    return SCH_STORE_OK;
}

/* Loads id only when it belongs to tenant; other tenants' ids are NOTFOUND. */
static sch_store_rc_t
s_sub_load_owned (sch_store_t *self, MDB_txn *txn, const char *tenant, const char *id,
                  proto_subscription_t **sub)
{
    sch_store_rc_t rc = s_sub_load (self, txn, id, sub);
    if (rc == SCH_STORE_INVALID)
        return SCH_STORE_ERROR;
    if (rc == SCH_STORE_OK && (!tenant || strcmp (tenant, (*sub)->tenant))) {
        proto_subscription_destroy (sub);
        rc = SCH_STORE_NOTFOUND;
    }
    return rc;
}

static sch_store_rc_t
s_sub_save (sch_store_t *self, const proto_subscription_t *sub)
{
    uint8_t *data = NULL;
    size_t size = 0;
    if (proto_subscription_encode (sub, true, &data, &size))
        return s_fail (self, 0, "encode subscription");
    sch_store_rc_t rc =
        s_put (self, self->subs, sub->id, strlen (sub->id), data, size, 0, "write subscription");
    free (data);
    return rc;
}

/* Moves *sub_p's fields into out (may be NULL) and destroys *sub_p. */
static void
s_sub_hand_over (proto_subscription_t *out, proto_subscription_t **sub_p)
{
    if (out && *sub_p) {
        *out = **sub_p;
        memset (*sub_p, 0, sizeof **sub_p);
    }
    proto_subscription_destroy (sub_p);
}

/* tenant 0x00 topic 0x00 [id] into buf (room for S_KEY_MAX); 0 when too long */
static size_t
s_topic_key (uint8_t *buf, const char *tenant, const char *topic, const char *id)
{
    size_t tl = strlen (tenant), pl = strlen (topic), il = id ? strlen (id) : 0;
    if (tl + 1 + pl + 1 + il > S_KEY_MAX)
        return 0;
    memcpy (buf, tenant, tl);
    buf[tl] = 0;
    memcpy (buf + tl + 1, topic, pl);
    buf[tl + 1 + pl] = 0;
    if (il)
        memcpy (buf + tl + pl + 2, id, il);
    return tl + pl + 2 + il;
}

/* Subscription counts: state 0 enabled, 1 disabled, -1 none. */
static void
s_sub_count_move (sch_store_t *self, int from, int to)
{
    if (from >= 0)
        self->batch_sub_counts[from]--;
    if (to >= 0)
        self->batch_sub_counts[to]++;
}

static int
s_sub_state (const proto_subscription_t *sub)
{
    return sub->enabled ? 0 : 1;
}

/* --- ordered delivery ------------------------------------------------------------- */

/* The queue of rec: SHA-256 (tenant 0x00 scope 0x00 ordering key), scope =
 * subscription id for fanned-out messages, else the URL (URLs run to 2048
 * bytes while LMDB keys stop at 511: hashing keeps keys fixed and short). */
static sch_store_rc_t
s_order_prefix (sch_store_t *self, const proto_record_t *rec, uint8_t *out)
{
    const char *scope = rec->subscription_id ? rec->subscription_id : rec->url;
    const char *tenant = rec->tenant ? rec->tenant : "";
    EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
    unsigned int len = 0;
    bool ok = ctx && EVP_DigestInit_ex (ctx, zh_sha256_md (), NULL) == 1 &&
              EVP_DigestUpdate (ctx, tenant, strlen (tenant) + 1) == 1 &&
              EVP_DigestUpdate (ctx, scope, strlen (scope) + 1) == 1 &&
              EVP_DigestUpdate (ctx, rec->ordering_key, strlen (rec->ordering_key)) == 1 &&
              EVP_DigestFinal_ex (ctx, out, &len) == 1 && len == S_ORDER_PREFIX;
    EVP_MD_CTX_free (ctx);
    return ok ? SCH_STORE_OK : s_fail (self, 0, "hash ordering key");
}

/* Appends rec at the tail of its queue (next acceptance sequence). */
static sch_store_rc_t
s_order_append (sch_store_t *self, const proto_record_t *rec, uint8_t *prefix)
{
    uint8_t key[S_ORDER_PREFIX + 8];
    sch_store_rc_t rc = s_order_prefix (self, rec, prefix);
    if (rc != SCH_STORE_OK)
        return rc;
    memcpy (key, prefix, S_ORDER_PREFIX);
    s_be64_put (key + S_ORDER_PREFIX, ++self->batch_seq);
    return s_put (self, self->order, key, sizeof key, rec->id, strlen (rec->id), 0,
                  "write order key");
}

/* Makes sure the head of queue prefix is in the due index: entries whose
 * message ended or is gone (cancelled while waiting, purged) are dropped
 * from the front; the first live one, if waiting, enters the due index at
 * max (its due time, now). Bounded by the dropped entries, each dropped
 * once. */
static sch_store_rc_t
s_order_advance (sch_store_t *self, const uint8_t *prefix, int64_t now_ms)
{
    sch_store_rc_t rc = SCH_STORE_OK;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->order, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    while (rc == SCH_STORE_OK) {
        MDB_val key = {S_ORDER_PREFIX, (void *)prefix}, val;
        mrc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE);
        if (mrc == MDB_NOTFOUND || (mrc == 0 && (key.mv_size != S_ORDER_PREFIX + 8 ||
                                                 memcmp (key.mv_data, prefix, S_ORDER_PREFIX))))
            break; /* the queue is empty */
        if (mrc) {
            rc = s_fail (self, mrc, "read order key");
            break;
        }
        uint8_t okey[S_ORDER_PREFIX + 8];
        memcpy (okey, key.mv_data, sizeof okey);
        char id[SCH_STORE_ID_MAX + 1];
        proto_record_t *rec = NULL;
        sch_store_rc_t lrc = SCH_STORE_NOTFOUND;
        if (val.mv_size > 0 && val.mv_size <= SCH_STORE_ID_MAX &&
            !memchr (val.mv_data, 0, val.mv_size)) {
            memcpy (id, val.mv_data, val.mv_size);
            id[val.mv_size] = 0;
            lrc = s_record_load (self, self->txn, id, &rec);
        }
        if (lrc == SCH_STORE_OK && !s_ended (rec->status)) {
            if (rec->status != PROTO_ST_IN_FLIGHT) {
                uint8_t dkey[8 + SCH_STORE_ID_MAX];
                MDB_val dk = {s_time_key (dkey, (uint64_t)rec->next_attempt_ms, rec->id), dkey}, dv;
                mrc = mdb_get (self->txn, self->due, &dk, &dv);
                if (mrc == MDB_NOTFOUND) {
                    if (rec->next_attempt_ms < now_ms)
                        rec->next_attempt_ms = s_clamp_time (now_ms);
                    rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id,
                                     "write due key");
                    if (rc == SCH_STORE_OK)
                        rc = s_record_save (self, rec, 0);
                }
                else if (mrc)
                    rc = s_fail (self, mrc, "read due key");
            }
            proto_record_destroy (&rec);
            break;
        }
        proto_record_destroy (&rec);
        if (lrc != SCH_STORE_OK && lrc != SCH_STORE_NOTFOUND && lrc != SCH_STORE_INVALID) {
            rc = lrc;
            break;
        }
        rc = s_del (self, self->order, okey, sizeof okey, "delete order key");
    }
    mdb_cursor_close (cur);
    return rc;
}

/* After rec (ordered) ended: its queue moves on. */
static sch_store_rc_t
s_order_release (sch_store_t *self, const proto_record_t *rec, int64_t now_ms)
{
    if (!rec->ordering_key)
        return SCH_STORE_OK;
    uint8_t prefix[S_ORDER_PREFIX];
    sch_store_rc_t rc = s_order_prefix (self, rec, prefix);
    return rc == SCH_STORE_OK ? s_order_advance (self, prefix, now_ms) : rc;
}

/* Stores a new message rec (fields borrowed): record, payload when given,
 * then the due index, or its ordering queue (which puts it in the due
 * index when it is the head). */
static sch_store_rc_t
s_message_insert (sch_store_t *self, proto_record_t *rec, const uint8_t *payload,
                  size_t payload_size, bool with_payload, int64_t now_ms)
{
    sch_store_rc_t rc = s_record_save (self, rec, 0);
    if (rc == SCH_STORE_OK && with_payload)
        rc = s_put (self, self->payloads, rec->id, strlen (rec->id), payload, payload_size, 0,
                    "write payload");
    if (rc == SCH_STORE_OK) {
        if (rec->ordering_key) {
            uint8_t prefix[S_ORDER_PREFIX];
            rc = s_order_append (self, rec, prefix);
            if (rc == SCH_STORE_OK)
                rc = s_order_advance (self, prefix, now_ms);
        }
        else
            rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id,
                             "write due key");
    }
    if (rc == SCH_STORE_OK)
        s_count_move (self, 0, PROTO_ST_SCHEDULED);
    return rc;
}

/* Health of rec's subscription after an attempt that ended with outcome:
 * a success clears failing_since; a 410 disables it ("gone"); a failure
 * starts the failing run or, once it lasted disable_after_ms, disables it
 * ("failing"). Writes the subscription only when something changes. */
static sch_store_rc_t
s_sub_health (sch_store_t *self, const proto_record_t *rec, sch_outcome_t outcome,
              const char *reason, int64_t now_ms, sch_event_t *ev)
{
    proto_subscription_t *sub = NULL;
    sch_store_rc_t rc = s_sub_load (self, self->txn, rec->subscription_id, &sub);
    if (rc == SCH_STORE_NOTFOUND || rc == SCH_STORE_INVALID)
        return SCH_STORE_OK; /* deleted since, or unreadable: nothing to track */
    if (rc != SCH_STORE_OK)
        return rc;
    bool changed = false;
    const char *disable = NULL;
    if (outcome == SCH_OUTCOME_DELIVERED) {
        changed = sub->failing_since_ms != 0;
        sub->failing_since_ms = 0;
    }
    else if (reason && strcmp (reason, "gone") == 0)
        disable = "gone";
    else if (sub->failing_since_ms == 0) {
        sub->failing_since_ms = now_ms > 0 ? now_ms : 1;
        changed = true;
    }
    else if (self->policy.disable_after_ms > 0 &&
             now_ms - sub->failing_since_ms >= self->policy.disable_after_ms)
        disable = "failing";
    if (disable && sub->enabled) {
        free (sub->disabled_reason);
        if (!(sub->disabled_reason = strdup (disable))) {
            proto_subscription_destroy (&sub);
            return s_fail (self, 0, "disable subscription");
        }
        sub->enabled = false;
        sub->updated_ms = now_ms;
        s_sub_count_move (self, 0, 1);
        s_copy_trunc (ev->sub_disabled, sizeof ev->sub_disabled, disable);
        changed = true;
    }
    if (changed)
        rc = s_sub_save (self, sub);
    proto_subscription_destroy (&sub);
    return rc;
}

/* --- accept ------------------------------------------------------------------ */

/* Idempotency entry: u8 version, u64 created ms, 32-byte body hash, u16
 * status, u32 n, (version 2:) u16 event id length, event id, then n x (u16
 * status, u64 deliver_at ms, u16 id length, id, u16 error length, error),
 * all big-endian. */
static uint8_t *
s_idem_encode (int64_t created_ms, const uint8_t *hash, const proto_reply_t *reply, size_t *size)
{
    size_t evlen = reply->event_id ? strlen (reply->event_id) : 0;
    if (evlen > 0xFFFF)
        evlen = 0xFFFF;
    size_t n = 1 + 8 + 32 + 2 + 4 + 2 + evlen;
    for (size_t i = 0; i < reply->item_count; i++) {
        const proto_reply_item_t *it = &reply->items[i];
        n += 2 + 8 + 2 + (it->id ? strlen (it->id) : 0) + 2 + (it->error ? strlen (it->error) : 0);
    }
    uint8_t *buf = malloc (n), *p = buf;
    if (!buf)
        return NULL;
    *p++ = S_IDEM_VERSION;
    s_be64_put (p, (uint64_t)created_ms);
    p += 8;
    memcpy (p, hash, 32);
    p += 32;
    *p++ = (uint8_t)(reply->status >> 8);
    *p++ = (uint8_t)reply->status;
    uint32_t count = (uint32_t)reply->item_count;
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(count >> (8 * i));
    *p++ = (uint8_t)(evlen >> 8);
    *p++ = (uint8_t)evlen;
    if (evlen)
        memcpy (p, reply->event_id, evlen);
    p += evlen;
    for (size_t i = 0; i < reply->item_count; i++) {
        const proto_reply_item_t *it = &reply->items[i];
        *p++ = (uint8_t)(it->status >> 8);
        *p++ = (uint8_t)it->status;
        s_be64_put (p, (uint64_t)it->deliver_at_ms);
        p += 8;
        const char *strs[2] = {it->id, it->error};
        for (int s = 0; s < 2; s++) {
            size_t len = strs[s] ? strlen (strs[s]) : 0;
            if (len > 0xFFFF)
                len = 0xFFFF;
            *p++ = (uint8_t)(len >> 8);
            *p++ = (uint8_t)len;
            if (len)
                memcpy (p, strs[s], len);
            p += len;
        }
    }
    *size = (size_t)(p - buf);
    return buf;
}

typedef struct {
    const uint8_t *p;
    size_t left;
} s_reader_t;

static bool
s_take (s_reader_t *r, void *dst, size_t n)
{
    if (r->left < n)
        return false;
    if (dst)
        memcpy (dst, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

static bool
s_take_u16 (s_reader_t *r, uint16_t *v)
{
    uint8_t b[2];
    if (!s_take (r, b, 2))
        return false;
    *v = (uint16_t)(b[0] << 8 | b[1]);
    return true;
}

static bool
s_take_str (s_reader_t *r, char **out)
{
    uint16_t len;
    if (!s_take_u16 (r, &len) || r->left < len)
        return false;
    *out = NULL;
    if (len == 0)
        return s_take (r, NULL, 0);
    if (memchr (r->p, 0, len))
        return false;
    *out = strndup ((const char *)r->p, len);
    return *out && s_take (r, NULL, len);
}

/* Reads the header of an idempotency entry; the items when reply is not NULL. */
static bool
s_idem_decode (const MDB_val *v, int64_t *created_ms, uint8_t *hash, proto_reply_t *reply)
{
    s_reader_t r = {v->mv_data, v->mv_size};
    uint8_t ver, b8[8], b4[4];
    uint16_t status;
    if (!s_take (&r, &ver, 1) || ver < 1 || ver > S_IDEM_VERSION || !s_take (&r, b8, 8) ||
        !s_take (&r, hash, 32) || !s_take_u16 (&r, &status) || !s_take (&r, b4, 4))
        return false;
    *created_ms = (int64_t)s_be64_get (b8);
    uint32_t n = (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
    if (!reply)
        return true;
    char *event_id = NULL;
    if (ver >= 2 && !s_take_str (&r, &event_id))
        return false;
    free (reply->event_id);
    reply->event_id = event_id;
    if (n > r.left / 14)
        return false;
    reply->status = status;
    for (uint32_t i = 0; i < n; i++) {
        proto_reply_item_t *it = proto_reply_add_item (reply);
        uint16_t st;
        if (!it || !s_take_u16 (&r, &st) || !s_take (&r, b8, 8) || !s_take_str (&r, &it->id) ||
            !s_take_str (&r, &it->error))
            return false;
        it->status = st;
        it->deliver_at_ms = (int64_t)s_be64_get (b8);
    }
    return true;
}

static sch_store_rc_t
s_accept_item (sch_store_t *self, const proto_submit_t *submit, const proto_item_t *item,
               int64_t now_ms, proto_reply_item_t *out)
{
    out->status = 202;
    if (!s_id_ok (item->id) || !item->url) {
        out->status = 400;
        out->error = strdup ("invalid id or url");
        return out->error ? SCH_STORE_OK : s_fail (self, 0, "accept");
    }
    if (!(out->id = strdup (item->id)))
        return s_fail (self, 0, "accept");
    int64_t due = item->deliver_at_ms > 0 ? item->deliver_at_ms
                                          : now_ms + (item->delay_ms > 0 ? item->delay_ms : 0);
    due = s_clamp_time (due);
    out->deliver_at_ms = due;
    proto_record_t rec;
    memset (&rec, 0, sizeof rec);
    rec.id = item->id;
    rec.tenant = submit->tenant;
    rec.url = item->url;
    rec.headers = item->headers;
    rec.header_count = item->header_count;
    rec.secret = item->secret;
    rec.request_id = submit->request_id;
    rec.status = PROTO_ST_SCHEDULED;
    rec.max_attempts = item->max_attempts ? item->max_attempts : self->policy.max_attempts;
    rec.timeout_ms = item->timeout_ms ? item->timeout_ms : self->policy.timeout_ms;
    rec.created_ms = now_ms;
    rec.deliver_at_ms = due;
    rec.next_attempt_ms = due;
    rec.ordering_key = item->ordering_key;
    rec.traceparent = item->traceparent;
    MDB_val k = {strlen (item->id), item->id}, v;
    int mrc = mdb_get (self->txn, self->messages, &k, &v);
    if (mrc == 0) {
        out->status = 409;
        out->error = strdup ("duplicate id");
        return out->error ? SCH_STORE_OK : s_fail (self, 0, "accept");
    }
    if (mrc != MDB_NOTFOUND)
        return s_fail (self, mrc, "read record");
    return s_message_insert (self, &rec, item->payload, item->payload_size, true, now_ms);
}

static bool
s_topic_ok (const char *topic, bool pattern)
{
    size_t len = topic ? strlen (topic) : 0;
    if (len == 0 || len > SCH_STORE_TOPIC_MAX)
        return false;
    const char *star = strchr (topic, '*');
    if (!star)
        return true;
    /* "*" alone or one final ".*" */
    return pattern && star == topic + len - 1 && (len == 1 || topic[len - 2] == '.');
}

/* Appends to *subs (grown as needed) the enabled subscriptions stored under
 * tenant 0x00 topic 0x00: one range scan. */
static sch_store_rc_t
s_fanout_collect (sch_store_t *self, const char *tenant, const char *topic,
                  proto_subscription_t ***subs, size_t *count, size_t *alloc)
{
    uint8_t prefix[S_KEY_MAX + 1];
    size_t plen = s_topic_key (prefix, tenant, topic, NULL);
    if (plen == 0)
        return SCH_STORE_OK;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->subs_topic, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    sch_store_rc_t rc = SCH_STORE_OK;
    MDB_val key = {plen, prefix}, val;
    for (mrc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE); mrc == 0 && rc == SCH_STORE_OK;
         mrc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size <= plen || memcmp (key.mv_data, prefix, plen))
            break;
        size_t il = key.mv_size - plen;
        char id[SCH_STORE_ID_MAX + 1];
        if (il > SCH_STORE_ID_MAX || memchr ((const char *)key.mv_data + plen, 0, il))
            continue;
        memcpy (id, (const char *)key.mv_data + plen, il);
        id[il] = 0;
        proto_subscription_t *sub = NULL;
        sch_store_rc_t lrc = s_sub_load (self, self->txn, id, &sub);
        if (lrc == SCH_STORE_NOTFOUND || lrc == SCH_STORE_INVALID)
            continue;
        if (lrc != SCH_STORE_OK) {
            rc = lrc;
            break;
        }
        if (!sub->enabled) {
            proto_subscription_destroy (&sub);
            continue;
        }
        if (*count > SCH_STORE_FANOUT_MAX) {
            proto_subscription_destroy (&sub);
            break; /* over the cap: the caller refuses the event */
        }
        if (*count == *alloc) {
            size_t n = *alloc ? *alloc * 2 : 16;
            proto_subscription_t **grown = realloc (*subs, n * sizeof *grown);
            if (!grown) {
                proto_subscription_destroy (&sub);
                rc = s_fail (self, 0, "fan-out");
                break;
            }
            *subs = grown;
            *alloc = n;
        }
        (*subs)[(*count)++] = sub;
    }
    if (mrc && mrc != MDB_NOTFOUND && rc == SCH_STORE_OK)
        rc = s_fail (self, mrc, "read subscriptions");
    mdb_cursor_close (cur);
    return rc;
}

/* Event record: u8 version, u64 created ms, u16+tenant, u16+topic, u32 n,
 * n x u16+message id, big-endian. */
static uint8_t *
s_event_encode (const char *tenant, const char *topic, int64_t created_ms,
                const proto_reply_t *reply, size_t *size)
{
    size_t n = 1 + 8 + 2 + strlen (tenant) + 2 + strlen (topic) + 4;
    for (size_t i = 0; i < reply->item_count; i++)
        n += 2 + strlen (reply->items[i].id);
    uint8_t *buf = malloc (n), *p = buf;
    if (!buf)
        return NULL;
    *p++ = S_EVENT_VERSION;
    s_be64_put (p, (uint64_t)created_ms);
    p += 8;
    const char *strs[2] = {tenant, topic};
    for (int i = 0; i < 2; i++) {
        size_t len = strlen (strs[i]);
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
        memcpy (p, strs[i], len);
        p += len;
    }
    uint32_t count = (uint32_t)reply->item_count;
    for (int i = 3; i >= 0; i--)
        *p++ = (uint8_t)(count >> (8 * i));
    for (size_t i = 0; i < reply->item_count; i++) {
        size_t len = strlen (reply->items[i].id);
        *p++ = (uint8_t)(len >> 8);
        *p++ = (uint8_t)len;
        memcpy (p, reply->items[i].id, len);
        p += len;
    }
    *size = n;
    return buf;
}

typedef struct {
    char *tenant, *topic; // heap
    int64_t created_ms;
    char **ids; // heap array of heap strings
    size_t count;
} s_event_t;

static void
s_event_clear (s_event_t *ev)
{
    free (ev->tenant);
    free (ev->topic);
    for (size_t i = 0; i < ev->count; i++)
        free (ev->ids[i]);
    free (ev->ids);
    memset (ev, 0, sizeof *ev);
}

static bool
s_event_decode (const MDB_val *v, s_event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    s_reader_t r = {v->mv_data, v->mv_size};
    uint8_t ver, b8[8], b4[4];
    if (!s_take (&r, &ver, 1) || ver != S_EVENT_VERSION || !s_take (&r, b8, 8) ||
        !s_take_str (&r, &ev->tenant) || !s_take_str (&r, &ev->topic) || !ev->tenant ||
        !ev->topic || !s_take (&r, b4, 4))
        goto fail;
    ev->created_ms = (int64_t)s_be64_get (b8);
    uint32_t n = (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
    if (n > r.left / 3)
        goto fail;
    ev->ids = calloc (n ? n : 1, sizeof *ev->ids);
    if (!ev->ids)
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        if (!s_take_str (&r, &ev->ids[i]) || !ev->ids[i])
            goto fail;
        ev->count++;
    }
    return true;
fail:
    s_event_clear (ev);
    return false;
}

static sch_store_rc_t
s_event_refuse (sch_store_t *self, proto_reply_t *reply, uint16_t status, const char *error)
{
    reply->status = status;
    free (reply->error);
    reply->error = strdup (error);
    return reply->error ? SCH_STORE_OK : s_fail (self, 0, "event");
}

/* The event publish of sch_store_accept (see the header). */
static sch_store_rc_t
s_accept_event (sch_store_t *self, const proto_submit_t *submit, int64_t now_ms,
                proto_reply_t *reply)
{
    const proto_item_t *item = submit->item_count == 1 ? &submit->items[0] : NULL;
    if (!item || !s_id_ok (item->id) || !s_topic_ok (submit->topic, false))
        return s_event_refuse (self, reply, 400, "invalid event id or topic");
    MDB_val ek = {strlen (item->id), item->id}, ev;
    int mrc = mdb_get (self->txn, self->events, &ek, &ev);
    if (mrc == 0)
        return s_event_refuse (self, reply, 409, "duplicate id");
    if (mrc != MDB_NOTFOUND)
        return s_fail (self, mrc, "read event");
    /* the subscriptions first, so an over-large fan-out is refused before
     * anything is written */
    proto_subscription_t **subs = NULL;
    size_t count = 0, alloc = 0;
    sch_store_rc_t rc =
        s_fanout_collect (self, submit->tenant, submit->topic, &subs, &count, &alloc);
    char pattern[SCH_STORE_TOPIC_MAX + 3];
    size_t tl = strlen (submit->topic);
    for (size_t i = tl; i > 0 && rc == SCH_STORE_OK; i--) {
        if (submit->topic[i - 1] != '.')
            continue;
        memcpy (pattern, submit->topic, i); /* "a.b." */
        pattern[i] = '*';
        pattern[i + 1] = 0;
        rc = s_fanout_collect (self, submit->tenant, pattern, &subs, &count, &alloc);
    }
    if (rc == SCH_STORE_OK)
        rc = s_fanout_collect (self, submit->tenant, "*", &subs, &count, &alloc);
    if (rc == SCH_STORE_OK && count > SCH_STORE_FANOUT_MAX)
        rc = s_event_refuse (self, reply, 422, "too many subscriptions for one event");
    else if (rc == SCH_STORE_OK) {
        int64_t due = item->deliver_at_ms > 0 ? item->deliver_at_ms
                                              : now_ms + (item->delay_ms > 0 ? item->delay_ms : 0);
        due = s_clamp_time (due);
        if (!(reply->event_id = strdup (item->id)))
            rc = s_fail (self, 0, "event");
        /* the payload once, under the event id: 1,000 subscriptions do not
         * write it 1,000 times */
        if (rc == SCH_STORE_OK)
            rc = s_put (self, self->payloads, item->id, strlen (item->id), item->payload,
                        item->payload_size, 0, "write payload");
        for (size_t i = 0; i < count && rc == SCH_STORE_OK; i++) {
            proto_reply_item_t *out = proto_reply_add_item (reply);
            char id[ZH_ID_MAX];
            if (!out || zh_id_new ("msg", id, sizeof id) || !(out->id = strdup (id))) {
                rc = s_fail (self, 0, "fan-out");
                break;
            }
            out->status = 202;
            out->deliver_at_ms = due;
            proto_record_t rec;
            memset (&rec, 0, sizeof rec);
            rec.id = id;
            rec.tenant = submit->tenant;
            rec.url = subs[i]->url;
            rec.headers = subs[i]->headers;
            rec.header_count = subs[i]->header_count;
            rec.secret = subs[i]->secret; /* used only when the subscription is deleted */
            rec.request_id = submit->request_id;
            rec.status = PROTO_ST_SCHEDULED;
            rec.max_attempts = item->max_attempts ? item->max_attempts : self->policy.max_attempts;
            rec.timeout_ms = item->timeout_ms ? item->timeout_ms : self->policy.timeout_ms;
            rec.created_ms = now_ms;
            rec.deliver_at_ms = due;
            rec.next_attempt_ms = due;
            rec.subscription_id = subs[i]->id;
            rec.event_id = item->id;
            rec.ordering_key = item->ordering_key;
            rec.traceparent = item->traceparent; /* every fanned-out message: the event's trace */
            rc = s_message_insert (self, &rec, NULL, 0, false, now_ms);
        }
        size_t size = 0;
        uint8_t *data = NULL;
        if (rc == SCH_STORE_OK &&
            !(data = s_event_encode (submit->tenant, submit->topic, now_ms, reply, &size)))
            rc = s_fail (self, 0, "encode event");
        if (rc == SCH_STORE_OK)
            rc = s_put (self, self->events, item->id, strlen (item->id), data, size, 0,
                        "write event");
        free (data);
        if (rc == SCH_STORE_OK)
            rc = s_put_time (self, self->events_exp, (uint64_t)now_ms, item->id,
                             "write event expiry");
        if (rc == SCH_STORE_OK)
            reply->status = 202;
    }
    for (size_t i = 0; i < count; i++)
        proto_subscription_destroy (&subs[i]);
    free (subs);
    return rc;
}

sch_store_rc_t
sch_store_accept (sch_store_t *self, const proto_submit_t *submit, int64_t now_ms,
                  proto_reply_t *reply)
{
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    if (!s_tenant_ok (submit->tenant))
        return SCH_STORE_INVALID;
    if (self->free_pages < self->reserve_pages)
        return s_fail (self, MDB_MAP_FULL, "accept (map reserve reached)");
    self->batch_accepts = true;
    uint8_t ikey[SCH_STORE_TENANT_MAX + 1 + SCH_STORE_IDEM_MAX];
    size_t ilen = 0;
    if (submit->idem_key) {
        size_t tl = strlen (submit->tenant), kl = strlen (submit->idem_key);
        if (kl == 0 || kl > SCH_STORE_IDEM_MAX)
            return SCH_STORE_INVALID;
        memcpy (ikey, submit->tenant, tl);
        ikey[tl] = 0;
        memcpy (ikey + tl + 1, submit->idem_key, kl);
        ilen = tl + 1 + kl;
        MDB_val k = {ilen, ikey}, v;
        int mrc = mdb_get (self->txn, self->idem, &k, &v);
        if (mrc && mrc != MDB_NOTFOUND)
            return s_fail (self, mrc, "read idempotency key");
        int64_t created;
        uint8_t hash[32];
        if (mrc == 0 && s_idem_decode (&v, &created, hash, NULL)) {
            if (created + self->policy.idempotency_ms > now_ms) {
                if (memcmp (hash, submit->idem_hash, 32) != 0)
                    return SCH_STORE_CONFLICT;
                proto_reply_t *tmp = proto_reply_new ();
                if (!tmp)
                    return s_fail (self, 0, "idempotent replay");
                if (!s_idem_decode (&v, &created, hash, tmp)) {
                    proto_reply_destroy (&tmp);
                    zh_error ("store: undecodable idempotency entry", NULL);
                    return s_fail (self, 0, "idempotent replay");
                }
                /* hand the items over to reply */
                for (size_t i = 0; i < tmp->item_count; i++) {
                    proto_reply_item_t *it = proto_reply_add_item (reply);
                    if (!it) {
                        proto_reply_destroy (&tmp);
                        return s_fail (self, 0, "idempotent replay");
                    }
                    *it = tmp->items[i];
                    memset (&tmp->items[i], 0, sizeof tmp->items[i]);
                }
                free (reply->event_id);
                reply->event_id = tmp->event_id;
                tmp->event_id = NULL;
                reply->status = tmp->status;
                reply->replayed = true;
                proto_reply_destroy (&tmp);
                return SCH_STORE_OK;
            }
            /* expired but not yet purged: forget it and accept afresh */
            uint8_t xkey[8 + sizeof ikey];
            s_be64_put (xkey, (uint64_t)created);
            memcpy (xkey + 8, ikey, ilen);
            rc = s_del (self, self->idem_exp, xkey, 8 + ilen, "delete idempotency expiry");
            if (rc != SCH_STORE_OK)
                return rc;
        }
    }
    if (submit->topic) {
        rc = s_accept_event (self, submit, now_ms, reply);
        if (rc != SCH_STORE_OK || reply->status != 202 || !submit->idem_key)
            return rc; /* a refused event leaves no idempotency entry */
    }
    size_t first = reply->item_count, accepted = 0;
    for (size_t i = 0; i < submit->item_count && !submit->topic; i++) {
        proto_reply_item_t *it = proto_reply_add_item (reply);
        if (!it)
            return s_fail (self, 0, "accept");
        rc = s_accept_item (self, submit, &submit->items[i], now_ms, it);
        if (rc != SCH_STORE_OK)
            return rc;
        accepted += it->status == 202;
    }
    if (!submit->topic)
        reply->status = accepted || submit->item_count == 0 ? 202 : reply->items[first].status;
    if (submit->idem_key) {
        size_t size;
        uint8_t *entry = s_idem_encode (now_ms, submit->idem_hash, reply, &size);
        if (!entry)
            return s_fail (self, 0, "encode idempotency entry");
        rc = s_put (self, self->idem, ikey, ilen, entry, size, 0, "write idempotency key");
        free (entry);
        uint8_t xkey[8 + sizeof ikey];
        s_be64_put (xkey, (uint64_t)now_ms);
        memcpy (xkey + 8, ikey, ilen);
        if (rc == SCH_STORE_OK)
            rc = s_put (self, self->idem_exp, xkey, 8 + ilen, "", 0, 0, "write idempotency expiry");
    }
    return rc;
}

/* --- attempts ------------------------------------------------------------------ */

static char *
s_body_copy (const char *body)
{
    if (!body)
        return NULL;
    size_t n = strlen (body);
    if (n > SCH_STORE_BODY_MAX) {
        n = SCH_STORE_BODY_MAX;
        while (n > 0 && ((unsigned char)body[n] & 0xC0) == 0x80)
            n--; /* never cut a UTF-8 sequence */
    }
    return strndup (body, n);
}

/* Gives the lease of the in-flight rec back without an attempt (the
 * deliverer deferred it): no history, attempt_base follows attempt so k is
 * unchanged, status as before the lease (k == 1: no attempt since the
 * last replay, so scheduled), due again after the deferral wait. */
static sch_store_rc_t
s_defer_attempt (sch_store_t *self, proto_record_t *rec, int64_t next_ms, sch_event_t *ev)
{
    sch_store_rc_t rc = s_del_time (self, self->due, (uint64_t)rec->next_attempt_ms | S_LEASE_BIT,
                                    rec->id, "delete lease key");
    if (rc != SCH_STORE_OK)
        return rc;
    uint32_t k = rec->attempt - rec->attempt_base;
    if (rec->attempt_base < rec->attempt)
        rec->attempt_base++;
    proto_status_t from = rec->status;
    rec->status = k <= 1 ? PROTO_ST_SCHEDULED : PROTO_ST_RETRYING;
    rec->next_attempt_ms = s_clamp_time (next_ms);
    s_copy_trunc (ev->id, sizeof ev->id, rec->id);
    s_copy_trunc (ev->request_id, sizeof ev->request_id, rec->request_id);
    zh_trace_id (rec->traceparent, ev->trace_id, sizeof ev->trace_id);
    ev->kind = SCH_EVENT_DEFERRED;
    ev->attempt = rec->attempt;
    ev->reason[0] = 0;
    ev->next_ms = rec->next_attempt_ms;
    rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id, "write due key");
    if (rc == SCH_STORE_OK)
        rc = s_record_save (self, rec, 0);
    if (rc == SCH_STORE_OK)
        s_count_move (self, from, rec->status);
    return rc;
}

/* Ends the current attempt of the in-flight rec with result: history,
 * lease key removed, outcome applied, rec saved. */
static sch_store_rc_t
s_finish_attempt (sch_store_t *self, proto_record_t *rec, const proto_result_t *result,
                  int64_t now_ms, sch_event_t *ev)
{
    uint32_t k = rec->attempt - rec->attempt_base;
    const char *reason;
    sch_outcome_t outcome = sch_policy_classify (result, k, rec->max_attempts, &reason);
    if (outcome == SCH_OUTCOME_DEFERRED)
        return s_defer_attempt (
            self, rec, now_ms + sch_policy_defer_ms (&self->policy, result->retry_after_ms), ev);
    if (rec->attempt_count >= SCH_STORE_HISTORY_MAX) {
        /* replays could grow a record without end: forget the oldest attempt */
        free (rec->attempts[0].error);
        free (rec->attempts[0].body);
        memmove (rec->attempts, rec->attempts + 1,
                 (rec->attempt_count - 1) * sizeof rec->attempts[0]);
        rec->attempt_count--;
    }
    proto_attempt_t *a = proto_record_add_attempt (rec);
    if (!a)
        return s_fail (self, 0, "record attempt");
    a->n = rec->attempt;
    a->at_ms = result->at_ms > 0 ? result->at_ms : now_ms;
    a->status_code = result->status_code;
    a->latency_ms = result->latency_ms;
    if ((result->error && !(a->error = strdup (result->error))) ||
        (result->body && !(a->body = s_body_copy (result->body))))
        return s_fail (self, 0, "record attempt");
    sch_store_rc_t rc = s_del_time (self, self->due, (uint64_t)rec->next_attempt_ms | S_LEASE_BIT,
                                    rec->id, "delete lease key");
    if (rc != SCH_STORE_OK)
        return rc;
    s_copy_trunc (ev->id, sizeof ev->id, rec->id);
    s_copy_trunc (ev->request_id, sizeof ev->request_id, rec->request_id);
    zh_trace_id (rec->traceparent, ev->trace_id, sizeof ev->trace_id);
    s_copy_trunc (ev->subscription_id, sizeof ev->subscription_id, rec->subscription_id);
    ev->attempt = rec->attempt;
    ev->reason[0] = 0;
    ev->sub_disabled[0] = 0;
    ev->next_ms = 0;
    proto_status_t from = rec->status;
    if (outcome == SCH_OUTCOME_RETRY) {
        int64_t delay = sch_policy_retry_delay_ms (&self->policy, result, k, s_random (self));
        rec->status = PROTO_ST_RETRYING;
        rec->next_attempt_ms = s_clamp_time (now_ms + delay);
        ev->kind = SCH_EVENT_RETRY;
        ev->next_ms = rec->next_attempt_ms;
        rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id, "write due key");
    }
    else {
        rec->status = outcome == SCH_OUTCOME_DELIVERED ? PROTO_ST_DELIVERED : PROTO_ST_DEAD;
        rec->next_attempt_ms = 0;
        rec->ended_ms = s_clamp_time (now_ms);
        ev->kind = outcome == SCH_OUTCOME_DELIVERED ? SCH_EVENT_DELIVERED : SCH_EVENT_DEAD;
        if (outcome == SCH_OUTCOME_DEAD) {
            free (rec->dead_reason);
            if (!(rec->dead_reason = strdup (reason)))
                return s_fail (self, 0, "record attempt");
            s_copy_trunc (ev->reason, sizeof ev->reason, reason);
            rc = s_put_time (self, self->dead, (uint64_t)rec->ended_ms, rec->id, "write dead key");
        }
        if (rc == SCH_STORE_OK)
            rc =
                s_put_time (self, self->ended, (uint64_t)rec->ended_ms, rec->id, "write ended key");
    }
    if (rc == SCH_STORE_OK)
        rc = s_record_save (self, rec, 0);
    if (rc == SCH_STORE_OK)
        s_count_move (self, from, rec->status);
    if (rc == SCH_STORE_OK && s_ended (rec->status))
        rc = s_order_release (self, rec, now_ms);
    if (rc == SCH_STORE_OK && rec->subscription_id)
        rc = s_sub_health (self, rec, outcome, reason, now_ms, ev);
    return rc;
}

/* In the open batch: the record of id when it is in flight in attempt;
 * *rec NULL (and OK) when it is not, or is gone or unreadable. */
static sch_store_rc_t
s_load_attempt (sch_store_t *self, const char *id, uint32_t attempt, proto_record_t **rec)
{
    *rec = NULL;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_record_t *r = NULL;
    rc = s_record_load (self, self->txn, id, &r);
    if (rc == SCH_STORE_NOTFOUND || rc == SCH_STORE_INVALID)
        return SCH_STORE_OK;
    if (rc != SCH_STORE_OK)
        return rc;
    if (r->status == PROTO_ST_IN_FLIGHT && r->attempt == attempt)
        *rec = r;
    else
        proto_record_destroy (&r);
    return SCH_STORE_OK;
}

sch_store_rc_t
sch_store_result (sch_store_t *self, const proto_result_t *result, int64_t now_ms, sch_event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    ev->kind = SCH_EVENT_STALE;
    s_copy_trunc (ev->id, sizeof ev->id, result->id);
    ev->attempt = result->attempt;
    proto_record_t *rec;
    sch_store_rc_t rc = s_load_attempt (self, result->id, result->attempt, &rec);
    if (rc == SCH_STORE_OK && rec)
        rc = s_finish_attempt (self, rec, result, now_ms, ev);
    proto_record_destroy (&rec);
    return rc;
}

sch_store_rc_t
sch_store_release (sch_store_t *self, const proto_dispatch_t *d, int64_t now_ms)
{
    proto_record_t *rec;
    sch_store_rc_t rc = s_load_attempt (self, d->id, d->attempt, &rec);
    sch_event_t ev;
    memset (&ev, 0, sizeof ev);
    if (rc == SCH_STORE_OK && rec)
        rc = s_defer_attempt (self, rec, d->due_ms > now_ms ? d->due_ms : now_ms, &ev);
    proto_record_destroy (&rec);
    return rc;
}

/* Position cur on the first key >= start; false when there is none. */
static bool
s_seek (MDB_cursor *cur, uint64_t start, MDB_val *key)
{
    uint8_t buf[8];
    s_be64_put (buf, start);
    key->mv_size = 8;
    key->mv_data = buf;
    MDB_val val;
    return mdb_cursor_get (cur, key, &val, MDB_SET_RANGE) == 0 && key->mv_size > 8;
}

/* Copies the id of a time||id key into buf; false when malformed. */
static bool
s_key_id (const MDB_val *key, char *buf)
{
    size_t len = key->mv_size - 8;
    if (key->mv_size <= 8 || len > SCH_STORE_ID_MAX ||
        memchr ((const char *)key->mv_data + 8, 0, len))
        return false;
    memcpy (buf, (const char *)key->mv_data + 8, len);
    buf[len] = 0;
    return true;
}

/* Deletes an index key that has no matching record (never expected). */
static sch_store_rc_t
s_drop_orphan (sch_store_t *self, MDB_dbi dbi, const MDB_val *key, const char *what)
{
    zh_warn ("store: dropping index key without a matching record", "s:index", what, NULL);
    return s_del (self, dbi, key->mv_data, key->mv_size, what);
}

sch_store_rc_t
sch_store_expire (sch_store_t *self, int64_t now_ms, size_t max, sch_event_t *evs, size_t *count)
{
    *count = 0;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->due, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    proto_result_t expired;
    memset (&expired, 0, sizeof expired);
    expired.error = "lease_expired";
    expired.retry_after_ms = -1;
    while (*count < max && rc == SCH_STORE_OK) {
        MDB_val key;
        if (!s_seek (cur, S_LEASE_BIT, &key))
            break;
        uint64_t t = s_be64_get (key.mv_data) & ~S_LEASE_BIT;
        if ((int64_t)t > now_ms)
            break;
        char id[SCH_STORE_ID_MAX + 1];
        proto_record_t *rec = NULL;
        if (s_key_id (&key, id))
            rc = s_record_load (self, self->txn, id, &rec);
        if (rc == SCH_STORE_NOTFOUND || rc == SCH_STORE_INVALID ||
            (rc == SCH_STORE_OK &&
             (!rec || rec->status != PROTO_ST_IN_FLIGHT || (uint64_t)rec->next_attempt_ms != t))) {
            rc = s_drop_orphan (self, self->due, &key, "due");
            proto_record_destroy (&rec);
            continue;
        }
        if (rc == SCH_STORE_OK) {
            sch_event_t *ev = &evs[*count];
            memset (ev, 0, sizeof *ev);
            expired.at_ms = now_ms;
            rc = s_finish_attempt (self, rec, &expired, now_ms, ev);
            ev->lease_expired = true;
            if (rc == SCH_STORE_OK)
                (*count)++;
        }
        proto_record_destroy (&rec);
    }
    mdb_cursor_close (cur);
    return rc;
}

/* --- lease ------------------------------------------------------------------- */

/* The signing keys of a subscription's message at now_ms: "secret" or,
 * within the overlap after a rotation, "secret previous_secret". Heap. */
static char *
s_sub_keys (const sch_store_t *self, const proto_subscription_t *sub, int64_t now_ms)
{
    if (!sub->secret)
        return NULL;
    if (!sub->previous_secret || !*sub->previous_secret || sub->rotated_ms <= 0 ||
        now_ms >= sub->rotated_ms + self->policy.secret_overlap_ms)
        return strdup (sub->secret);
    size_t a = strlen (sub->secret), b = strlen (sub->previous_secret);
    char *keys = malloc (a + 1 + b + 1);
    if (keys) {
        memcpy (keys, sub->secret, a);
        keys[a] = ' ';
        memcpy (keys + a + 1, sub->previous_secret, b + 1);
    }
    return keys;
}

/* The dispatch of the just-leased rec; sub is its live subscription or
 * NULL (not fanned out, or deleted: the record's own secret signs). */
static proto_dispatch_t *
s_dispatch_from (sch_store_t *self, proto_record_t *rec, int64_t due_ms,
                 const proto_subscription_t *sub, int64_t now_ms)
{
    proto_dispatch_t *d = proto_dispatch_new ();
    if (!d)
        return NULL;
    d->attempt = rec->attempt;
    d->due_ms = due_ms;
    d->lease_until_ms = rec->next_attempt_ms;
    d->timeout_ms = rec->timeout_ms;
    d->id = strdup (rec->id);
    d->url = strdup (rec->url);
    if (!d->id || !d->url)
        goto fail;
    /* the record is discarded after this: take its heap strings */
    d->headers = rec->headers;
    d->header_count = rec->header_count;
    rec->headers = NULL;
    rec->header_count = 0;
    if (sub && sub->secret) {
        if (!(d->secret = s_sub_keys (self, sub, now_ms)))
            goto fail;
    }
    else {
        d->secret = rec->secret;
        rec->secret = NULL;
    }
    d->request_id = rec->request_id;
    rec->request_id = NULL;
    d->traceparent = rec->traceparent;
    rec->traceparent = NULL;
    MDB_val k = {strlen (d->id), d->id}, v;
    int mrc = mdb_get (self->txn, self->payloads, &k, &v);
    if (mrc == MDB_NOTFOUND && rec->event_id) {
        /* fanned out: the payload is stored once under the event id */
        k.mv_size = strlen (rec->event_id);
        k.mv_data = rec->event_id;
        mrc = mdb_get (self->txn, self->payloads, &k, &v);
    }
    if (mrc == 0) {
        d->payload = malloc (v.mv_size ? v.mv_size : 1);
        if (!d->payload)
            goto fail;
        memcpy (d->payload, v.mv_data, v.mv_size);
        d->payload_size = v.mv_size;
    }
    else if (mrc != MDB_NOTFOUND)
        goto fail;
    return d;
fail:
    proto_dispatch_destroy (&d);
    return NULL;
}

sch_store_rc_t
sch_store_lease (sch_store_t *self, int64_t now_ms, int64_t horizon_ms, size_t max,
                 proto_dispatch_t **out, size_t *count)
{
    if (horizon_ms < now_ms)
        horizon_ms = now_ms;
    *count = 0;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->due, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    size_t limited = 0; /* rate-limited messages moved later: bounded too */
    while (*count < max && limited < max && rc == SCH_STORE_OK) {
        MDB_val key, val;
        if (mdb_cursor_get (cur, &key, &val, MDB_FIRST) != 0 || key.mv_size <= 8)
            break;
        uint64_t t = s_be64_get (key.mv_data);
        if ((t & S_LEASE_BIT) || (int64_t)t > horizon_ms)
            break;
        char id[SCH_STORE_ID_MAX + 1];
        proto_record_t *rec = NULL;
        if (s_key_id (&key, id))
            rc = s_record_load (self, self->txn, id, &rec);
        if (rc == SCH_STORE_NOTFOUND || rc == SCH_STORE_INVALID ||
            (rc == SCH_STORE_OK &&
             (!rec || (uint64_t)rec->next_attempt_ms != t ||
              (rec->status != PROTO_ST_SCHEDULED && rec->status != PROTO_ST_RETRYING)))) {
            rc = s_drop_orphan (self, self->due, &key, "due");
            proto_record_destroy (&rec);
            continue;
        }
        if (rc != SCH_STORE_OK)
            break;
        proto_subscription_t *sub = NULL;
        if (rec->subscription_id) {
            sch_store_rc_t src = s_sub_load (self, self->txn, rec->subscription_id, &sub);
            if (src != SCH_STORE_OK && src != SCH_STORE_NOTFOUND && src != SCH_STORE_INVALID) {
                proto_record_destroy (&rec);
                rc = src;
                break;
            }
        }
        if (sub && sub->rate_limit && (int64_t)t > now_ms) {
            /* a rate-limited subscription's tokens are taken when due,
             * not ahead; everything due by now came before this key */
            proto_subscription_destroy (&sub);
            proto_record_destroy (&rec);
            break;
        }
        int64_t wait = sub && sub->rate_limit
                           ? sch_limit_take (self->limit, sub->id, sub->rate_limit, now_ms)
                           : 0;
        rc = s_del (self, self->due, key.mv_data, key.mv_size, "delete due key");
        if (wait > 0) {
            /* no token: due again when the next one is there, not leased */
            rec->next_attempt_ms = s_clamp_time (now_ms + wait);
            if (rc == SCH_STORE_OK)
                rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id,
                                 "write due key");
            if (rc == SCH_STORE_OK)
                rc = s_record_save (self, rec, 0);
            limited++;
            proto_subscription_destroy (&sub);
            proto_record_destroy (&rec);
            continue;
        }
        proto_status_t from = rec->status;
        rec->attempt++;
        rec->status = PROTO_ST_IN_FLIGHT;
        /* leased ahead (t > now): the attempt starts at t, so does the lease */
        int64_t start = (int64_t)t > now_ms ? (int64_t)t : now_ms;
        rec->next_attempt_ms =
            s_clamp_time (start + (int64_t)rec->timeout_ms + self->policy.lease_margin_ms);
        if (rc == SCH_STORE_OK)
            rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms | S_LEASE_BIT, rec->id,
                             "write lease key");
        if (rc == SCH_STORE_OK)
            rc = s_record_save (self, rec, 0);
        if (rc == SCH_STORE_OK) {
            s_count_move (self, from, PROTO_ST_IN_FLIGHT);
            out[*count] = s_dispatch_from (self, rec, (int64_t)t, sub, now_ms);
            if (!out[*count])
                rc = s_fail (self, 0, "build dispatch");
            else
                (*count)++;
        }
        proto_subscription_destroy (&sub);
        proto_record_destroy (&rec);
    }
    mdb_cursor_close (cur);
    if (rc != SCH_STORE_OK) {
        for (size_t i = 0; i < *count; i++)
            proto_dispatch_destroy (&out[i]);
        *count = 0;
    }
    return rc;
}

/* --- cancel / replay ---------------------------------------------------------- */

sch_store_rc_t
sch_store_cancel (sch_store_t *self, const char *tenant, const char *id, int64_t now_ms,
                  proto_record_t *out)
{
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_record_t *rec;
    rc = s_record_load_owned (self, self->txn, tenant, id, &rec);
    if (rc != SCH_STORE_OK)
        return rc;
    if (s_ended (rec->status)) {
        s_record_hand_over (out, &rec);
        return SCH_STORE_CONFLICT;
    }
    uint64_t t = (uint64_t)rec->next_attempt_ms;
    if (rec->status == PROTO_ST_IN_FLIGHT)
        t |= S_LEASE_BIT;
    proto_status_t from = rec->status;
    rc = s_del_time (self, self->due, t, rec->id, "delete due key");
    rec->status = PROTO_ST_CANCELLED;
    rec->next_attempt_ms = 0;
    rec->ended_ms = s_clamp_time (now_ms);
    if (rc == SCH_STORE_OK)
        rc = s_put_time (self, self->ended, (uint64_t)rec->ended_ms, rec->id, "write ended key");
    if (rc == SCH_STORE_OK)
        rc = s_record_save (self, rec, 0);
    if (rc == SCH_STORE_OK)
        rc = s_order_release (self, rec, now_ms);
    if (rc == SCH_STORE_OK) {
        s_count_move (self, from, PROTO_ST_CANCELLED);
        s_record_hand_over (out, &rec);
    }
    proto_record_destroy (&rec);
    return rc;
}

sch_store_rc_t
sch_store_replay (sch_store_t *self, const char *tenant, const char *id, int64_t now_ms,
                  proto_record_t *out)
{
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_record_t *rec;
    rc = s_record_load_owned (self, self->txn, tenant, id, &rec);
    if (rc != SCH_STORE_OK)
        return rc;
    if (rec->status != PROTO_ST_DEAD) {
        s_record_hand_over (out, &rec);
        return SCH_STORE_CONFLICT;
    }
    rc = s_del_time (self, self->dead, (uint64_t)rec->ended_ms, rec->id, "delete dead key");
    if (rc == SCH_STORE_OK)
        rc = s_del_time (self, self->ended, (uint64_t)rec->ended_ms, rec->id, "delete ended key");
    rec->status = PROTO_ST_SCHEDULED;
    rec->attempt_base = rec->attempt;
    free (rec->dead_reason);
    rec->dead_reason = NULL;
    rec->ended_ms = 0;
    rec->next_attempt_ms = s_clamp_time (now_ms);
    if (rc == SCH_STORE_OK)
        rc = s_record_save (self, rec, 0);
    if (rc == SCH_STORE_OK && rec->ordering_key) {
        /* back at the tail of its queue: due now if the queue is empty */
        uint8_t prefix[S_ORDER_PREFIX];
        rc = s_order_append (self, rec, prefix);
        if (rc == SCH_STORE_OK)
            rc = s_order_advance (self, prefix, now_ms);
        proto_record_t *fresh = NULL;
        if (rc == SCH_STORE_OK && s_record_load (self, self->txn, id, &fresh) == SCH_STORE_OK) {
            proto_record_destroy (&rec); /* the advance may have moved its due time */
            rec = fresh;
        }
    }
    else if (rc == SCH_STORE_OK)
        rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id, "write due key");
    if (rc == SCH_STORE_OK) {
        s_count_move (self, PROTO_ST_DEAD, PROTO_ST_SCHEDULED);
        s_record_hand_over (out, &rec);
    }
    proto_record_destroy (&rec);
    return rc;
}

/* --- purge ------------------------------------------------------------------- */

/* Events are kept while any of their messages is: one whose retention has
 * passed is deleted (with its payload) when none of its messages is still
 * stored, else checked again one retention later. Up to max per call. */
static sch_store_rc_t
s_purge_events (sch_store_t *self, int64_t now_ms, size_t max)
{
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->events_exp, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    sch_store_rc_t rc = SCH_STORE_OK;
    for (size_t done = 0; done < max && rc == SCH_STORE_OK; done++) {
        MDB_val key, val;
        if (mdb_cursor_get (cur, &key, &val, MDB_FIRST) != 0 || key.mv_size <= 8)
            break;
        int64_t t = (int64_t)s_be64_get (key.mv_data);
        if (t + self->policy.retention_ms > now_ms)
            break;
        char id[SCH_STORE_ID_MAX + 1];
        bool ok = s_key_id (&key, id);
        rc = s_del (self, self->events_exp, key.mv_data, key.mv_size, "delete event expiry");
        if (!ok || rc != SCH_STORE_OK)
            continue;
        MDB_val ek = {strlen (id), id}, ev;
        mrc = mdb_get (self->txn, self->events, &ek, &ev);
        if (mrc == MDB_NOTFOUND)
            continue;
        if (mrc) {
            rc = s_fail (self, mrc, "read event");
            break;
        }
        s_event_t event;
        bool live = false;
        if (s_event_decode (&ev, &event)) {
            for (size_t i = 0; i < event.count && !live; i++) {
                MDB_val mk = {strlen (event.ids[i]), event.ids[i]}, mv;
                mrc = mdb_get (self->txn, self->messages, &mk, &mv);
                if (mrc == 0)
                    live = true;
                else if (mrc != MDB_NOTFOUND)
                    rc = s_fail (self, mrc, "read record");
            }
            s_event_clear (&event);
        }
        if (rc != SCH_STORE_OK)
            break;
        if (live)
            rc = s_put_time (self, self->events_exp, (uint64_t)s_clamp_time (now_ms), id,
                             "write event expiry");
        else {
            rc = s_del (self, self->events, id, strlen (id), "delete event");
            if (rc == SCH_STORE_OK)
                rc = s_del (self, self->payloads, id, strlen (id), "delete event payload");
        }
    }
    mdb_cursor_close (cur);
    return rc;
}

sch_store_rc_t
sch_store_purge (sch_store_t *self, int64_t now_ms, size_t max, size_t *messages, size_t *idem)
{
    *messages = *idem = 0;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->ended, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    while (*messages < max && rc == SCH_STORE_OK) {
        MDB_val key, val;
        if (mdb_cursor_get (cur, &key, &val, MDB_FIRST) != 0 || key.mv_size < 8)
            break;
        int64_t t = (int64_t)s_be64_get (key.mv_data);
        if (t + self->policy.retention_ms > now_ms)
            break;
        char id[SCH_STORE_ID_MAX + 1];
        proto_record_t *rec = NULL;
        if (s_key_id (&key, id)) {
            rc = s_record_load (self, self->txn, id, &rec);
            if (rc == SCH_STORE_OK && rec->ended_ms == t && s_ended (rec->status)) {
                if (rec->status == PROTO_ST_DEAD)
                    rc = s_del_time (self, self->dead, (uint64_t)t, id, "delete dead key");
                if (rc == SCH_STORE_OK)
                    rc = s_del (self, self->messages, id, strlen (id), "delete record");
                if (rc == SCH_STORE_OK)
                    rc = s_del (self, self->payloads, id, strlen (id), "delete payload");
                if (rc == SCH_STORE_OK)
                    s_count_move (self, rec->status, 0);
            }
            else if (rc == SCH_STORE_INVALID) {
                rc = s_del (self, self->messages, id, strlen (id), "delete record");
                if (rc == SCH_STORE_OK)
                    rc = s_del (self, self->payloads, id, strlen (id), "delete payload");
            }
            else if (rc == SCH_STORE_NOTFOUND || rc == SCH_STORE_OK)
                rc = SCH_STORE_OK; /* index key outlived its record: just drop it */
        }
        proto_record_destroy (&rec);
        if (rc == SCH_STORE_OK)
            rc = s_del (self, self->ended, key.mv_data, key.mv_size, "delete ended key");
        if (rc == SCH_STORE_OK)
            (*messages)++;
    }
    mdb_cursor_close (cur);
    if (rc != SCH_STORE_OK)
        return rc;
    mrc = mdb_cursor_open (self->txn, self->idem_exp, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    while (*idem < max && rc == SCH_STORE_OK) {
        MDB_val key, val;
        if (mdb_cursor_get (cur, &key, &val, MDB_FIRST) != 0 || key.mv_size < 8)
            break;
        int64_t t = (int64_t)s_be64_get (key.mv_data);
        if (t + self->policy.idempotency_ms > now_ms)
            break;
        /* the entry may have been rewritten since (expired, then reused): keep a newer one */
        MDB_val ik = {key.mv_size - 8, (uint8_t *)key.mv_data + 8}, iv;
        int64_t created = -1;
        uint8_t hash[32];
        mrc = mdb_get (self->txn, self->idem, &ik, &iv);
        if (mrc && mrc != MDB_NOTFOUND)
            rc = s_fail (self, mrc, "read idempotency key");
        else if (mrc == 0 && (!s_idem_decode (&iv, &created, hash, NULL) || created == t))
            rc = s_del (self, self->idem, ik.mv_data, ik.mv_size, "delete idempotency key");
        if (rc == SCH_STORE_OK)
            rc =
                s_del (self, self->idem_exp, key.mv_data, key.mv_size, "delete idempotency expiry");
        if (rc == SCH_STORE_OK)
            (*idem)++;
    }
    mdb_cursor_close (cur);
    if (rc == SCH_STORE_OK)
        rc = s_purge_events (self, now_ms, max);
    return rc;
}

/* --- reads --------------------------------------------------------------------- */

sch_store_rc_t
sch_store_get (sch_store_t *self, const char *tenant, const char *id, proto_record_t *out)
{
    MDB_txn *txn;
    sch_store_rc_t rc = s_read_begin (self, &txn);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_record_t *rec;
    rc = s_record_load_owned (self, txn, tenant, id, &rec);
    if (rc == SCH_STORE_OK)
        s_record_hand_over (out, &rec);
    s_read_end (self, txn);
    return rc;
}

static char *
s_cursor_format (const MDB_val *key)
{
    size_t idlen = key->mv_size - 8;
    char *buf = malloc (16 + idlen + 1);
    if (!buf)
        return NULL;
    static const char hex[] = "0123456789abcdef";
    const uint8_t *p = key->mv_data;
    for (int i = 0; i < 8; i++) {
        buf[2 * i] = hex[p[i] >> 4];
        buf[2 * i + 1] = hex[p[i] & 15];
    }
    memcpy (buf + 16, p + 8, idlen);
    buf[16 + idlen] = 0;
    return buf;
}

/* "16 hex digits of the dead time" followed by the id -> key; false when malformed */
static bool
s_cursor_parse (const char *text, uint8_t *key, size_t *klen)
{
    size_t len = strlen (text);
    if (len <= 16 || len > 16 + SCH_STORE_ID_MAX)
        return false;
    for (int i = 0; i < 8; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = text[2 * i + j];
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        key[i] = (uint8_t)v;
    }
    memcpy (key + 8, text + 16, len - 16);
    *klen = len - 8;
    return true;
}

sch_store_rc_t
sch_store_dead_list (sch_store_t *self, const char *tenant, uint32_t limit, const char *after,
                     proto_reply_t *reply)
{
    uint8_t ckey[8 + SCH_STORE_ID_MAX];
    size_t clen = 0;
    if (after && !s_cursor_parse (after, ckey, &clen))
        return SCH_STORE_INVALID;
    if (limit == 0)
        limit = 1;
    MDB_txn *txn;
    sch_store_rc_t rc = s_read_begin (self, &txn);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur = NULL;
    int mrc = mdb_cursor_open (txn, self->dead, &cur);
    if (mrc) {
        rc = s_fail (self, mrc, "open cursor");
        goto out;
    }
    MDB_val key, val;
    if (after) {
        /* strictly older than the cursor key */
        key.mv_size = clen;
        key.mv_data = ckey;
        mrc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE);
        mrc = mrc == 0 ? mdb_cursor_get (cur, &key, &val, MDB_PREV)
                       : mdb_cursor_get (cur, &key, &val, MDB_LAST);
    }
    else
        mrc = mdb_cursor_get (cur, &key, &val, MDB_LAST);
    uint32_t found = 0, examined = 0;
    MDB_val last = {0, NULL};
    while (mrc == 0 && found < limit && examined < SCH_STORE_DL_SCAN) {
        examined++;
        last = key;
        char id[SCH_STORE_ID_MAX + 1];
        proto_record_t *rec = NULL;
        if (s_key_id (&key, id)) {
            sch_store_rc_t lrc = s_record_load_owned (self, txn, tenant, id, &rec);
            if (lrc == SCH_STORE_OK && rec->status == PROTO_ST_DEAD) {
                proto_record_t *slot = proto_reply_add_record (reply);
                if (!slot) {
                    proto_record_destroy (&rec);
                    rc = s_fail (self, 0, "dead-letter list");
                    goto out;
                }
                s_record_hand_over (slot, &rec);
                found++;
            }
            else if (lrc != SCH_STORE_OK && lrc != SCH_STORE_NOTFOUND && lrc != SCH_STORE_ERROR) {
                rc = lrc;
                goto out;
            }
            proto_record_destroy (&rec);
        }
        mrc = mdb_cursor_get (cur, &key, &val, MDB_PREV);
    }
    free (reply->next);
    reply->next = NULL;
    if (mrc == 0 && last.mv_data) {
        /* more entries remain past the last one examined */
        reply->next = s_cursor_format (&last);
        if (!reply->next)
            rc = s_fail (self, 0, "dead-letter cursor");
    }
out:
    if (cur)
        mdb_cursor_close (cur);
    s_read_end (self, txn);
    return rc;
}

sch_store_rc_t
sch_store_next (sch_store_t *self, int64_t *due_ms, int64_t *lease_ms)
{
    *due_ms = *lease_ms = INT64_MAX;
    MDB_txn *txn;
    sch_store_rc_t rc = s_read_begin (self, &txn);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (txn, self->due, &cur);
    if (mrc) {
        rc = s_fail (self, mrc, "open cursor");
        s_read_end (self, txn);
        return rc;
    }
    MDB_val key, val;
    if (mdb_cursor_get (cur, &key, &val, MDB_FIRST) == 0 && key.mv_size >= 8) {
        uint64_t t = s_be64_get (key.mv_data);
        if (!(t & S_LEASE_BIT))
            *due_ms = (int64_t)t;
    }
    if (s_seek (cur, S_LEASE_BIT, &key))
        *lease_ms = (int64_t)(s_be64_get (key.mv_data) & ~S_LEASE_BIT);
    mdb_cursor_close (cur);
    s_read_end (self, txn);
    return SCH_STORE_OK;
}

void
sch_store_counts (sch_store_t *self, sch_store_counts_t *out)
{
    memset (out, 0, sizeof *out);
    const int64_t *counts = self->txn ? self->batch_counts : self->counts;
    const int64_t *subs = self->txn ? self->batch_sub_counts : self->sub_counts;
    for (int i = 0; i < S_STATUS_N; i++)
        out->by_status[i] = counts[i];
    out->subs_enabled = subs[0];
    out->subs_disabled = subs[1];
}

/* --- subscriptions ---------------------------------------------------------------- */

static sch_store_rc_t
s_sub_dup_str (sch_store_t *self, char **dst, const char *src)
{
    *dst = NULL;
    if (src && !(*dst = strdup (src)))
        return s_fail (self, 0, "copy subscription");
    return SCH_STORE_OK;
}

sch_store_rc_t
sch_store_sub_create (sch_store_t *self, const char *tenant, const proto_subscription_t *sub,
                      int64_t now_ms, proto_subscription_t *out)
{
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    if (!s_tenant_ok (tenant) || !sub || !s_id_ok (sub->id) || !s_topic_ok (sub->topic, true) ||
        !sub->url || !*sub->url || !sub->secret || !*sub->secret)
        return SCH_STORE_INVALID;
    uint8_t tkey[S_KEY_MAX + 1];
    size_t tlen = s_topic_key (tkey, tenant, sub->topic, sub->id);
    if (tlen == 0)
        return SCH_STORE_INVALID;
    MDB_val k = {strlen (sub->id), sub->id}, v;
    int mrc = mdb_get (self->txn, self->subs, &k, &v);
    if (mrc == 0)
        return SCH_STORE_CONFLICT;
    if (mrc != MDB_NOTFOUND)
        return s_fail (self, mrc, "read subscription");
    proto_subscription_t *s = proto_subscription_new ();
    if (!s)
        return s_fail (self, 0, "create subscription");
    s->header_count = 0;
    if (sub->header_count) {
        s->headers = calloc (sub->header_count, sizeof *s->headers);
        if (!s->headers)
            rc = s_fail (self, 0, "create subscription");
        for (size_t i = 0; i < sub->header_count && rc == SCH_STORE_OK; i++) {
            s->header_count++;
            rc = s_sub_dup_str (self, &s->headers[i].name, sub->headers[i].name);
            if (rc == SCH_STORE_OK)
                rc = s_sub_dup_str (self, &s->headers[i].value, sub->headers[i].value);
        }
    }
    if (rc == SCH_STORE_OK)
        rc = s_sub_dup_str (self, &s->id, sub->id);
    if (rc == SCH_STORE_OK)
        rc = s_sub_dup_str (self, &s->tenant, tenant);
    if (rc == SCH_STORE_OK)
        rc = s_sub_dup_str (self, &s->topic, sub->topic);
    if (rc == SCH_STORE_OK)
        rc = s_sub_dup_str (self, &s->url, sub->url);
    if (rc == SCH_STORE_OK)
        rc = s_sub_dup_str (self, &s->description, sub->description);
    if (rc == SCH_STORE_OK)
        rc = s_sub_dup_str (self, &s->secret, sub->secret);
    s->enabled = true;
    s->rate_limit = sub->rate_limit;
    s->created_ms = s->updated_ms = now_ms;
    if (rc == SCH_STORE_OK)
        rc = s_sub_save (self, s);
    if (rc == SCH_STORE_OK)
        rc = s_put (self, self->subs_topic, tkey, tlen, "", 0, 0, "write subscription topic");
    if (rc == SCH_STORE_OK) {
        s_sub_count_move (self, -1, 0);
        sch_limit_forget (self->limit, s->id);
        s_sub_hand_over (out, &s);
    }
    proto_subscription_destroy (&s);
    return rc;
}

sch_store_rc_t
sch_store_sub_get (sch_store_t *self, const char *tenant, const char *id, proto_subscription_t *out)
{
    MDB_txn *txn;
    sch_store_rc_t rc = s_read_begin (self, &txn);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_subscription_t *sub;
    rc = s_sub_load_owned (self, txn, tenant, id, &sub);
    if (rc == SCH_STORE_OK)
        s_sub_hand_over (out, &sub);
    s_read_end (self, txn);
    return rc;
}

sch_store_rc_t
sch_store_sub_delete (sch_store_t *self, const char *tenant, const char *id,
                      proto_subscription_t *out)
{
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_subscription_t *sub;
    rc = s_sub_load_owned (self, self->txn, tenant, id, &sub);
    if (rc != SCH_STORE_OK)
        return rc;
    uint8_t tkey[S_KEY_MAX + 1];
    size_t tlen = s_topic_key (tkey, sub->tenant, sub->topic, sub->id);
    if (tlen)
        rc = s_del (self, self->subs_topic, tkey, tlen, "delete subscription topic");
    if (rc == SCH_STORE_OK)
        rc = s_del (self, self->subs, sub->id, strlen (sub->id), "delete subscription");
    if (rc == SCH_STORE_OK) {
        s_sub_count_move (self, s_sub_state (sub), -1);
        sch_limit_forget (self->limit, sub->id);
        s_sub_hand_over (out, &sub);
    }
    proto_subscription_destroy (&sub);
    return rc;
}

sch_store_rc_t
sch_store_sub_rotate (sch_store_t *self, const char *tenant, const char *id, const char *secret,
                      int64_t now_ms, proto_subscription_t *out)
{
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    if (!secret || !*secret)
        return SCH_STORE_INVALID;
    proto_subscription_t *sub;
    rc = s_sub_load_owned (self, self->txn, tenant, id, &sub);
    if (rc != SCH_STORE_OK)
        return rc;
    char *fresh = strdup (secret);
    if (!fresh) {
        proto_subscription_destroy (&sub);
        return s_fail (self, 0, "rotate secret");
    }
    free (sub->previous_secret);
    sub->previous_secret = sub->secret;
    sub->secret = fresh;
    sub->rotated_ms = now_ms;
    sub->updated_ms = now_ms;
    rc = s_sub_save (self, sub);
    if (rc == SCH_STORE_OK)
        s_sub_hand_over (out, &sub);
    proto_subscription_destroy (&sub);
    return rc;
}

sch_store_rc_t
sch_store_sub_update (sch_store_t *self, const char *tenant, const char *id,
                      const proto_subscription_t *changes, uint32_t mask, int64_t now_ms,
                      proto_subscription_t *out, bool *user_disabled)
{
    if (user_disabled)
        *user_disabled = false;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    if (!changes)
        return SCH_STORE_INVALID;
    proto_subscription_t *sub;
    rc = s_sub_load_owned (self, self->txn, tenant, id, &sub);
    if (rc != SCH_STORE_OK)
        return rc;
    int from = s_sub_state (sub);
    if ((mask & PROTO_SUB_SET_ENABLED) && changes->enabled != sub->enabled) {
        free (sub->disabled_reason);
        sub->disabled_reason = NULL;
        sub->enabled = changes->enabled;
        if (sub->enabled)
            sub->failing_since_ms = 0; /* a fresh start; nothing is replayed */
        else if (!(sub->disabled_reason = strdup ("user")))
            rc = s_fail (self, 0, "update subscription");
        else if (user_disabled)
            *user_disabled = true;
    }
    if (mask & PROTO_SUB_SET_RATE_LIMIT) {
        sub->rate_limit = changes->rate_limit;
        sch_limit_forget (self->limit, sub->id);
    }
    if ((mask & PROTO_SUB_SET_DESCRIPTION) && rc == SCH_STORE_OK) {
        free (sub->description);
        rc = s_sub_dup_str (self, &sub->description, changes->description);
    }
    sub->updated_ms = now_ms;
    if (rc == SCH_STORE_OK)
        rc = s_sub_save (self, sub);
    if (rc == SCH_STORE_OK) {
        s_sub_count_move (self, from, s_sub_state (sub));
        s_sub_hand_over (out, &sub);
    }
    proto_subscription_destroy (&sub);
    return rc;
}

/* List cursor: hex of the key after "tenant 0x00" (topic 0x00 id). */
static char *
s_hex (const uint8_t *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char *buf = malloc (2 * n + 1);
    if (!buf)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hex[p[i] >> 4];
        buf[2 * i + 1] = hex[p[i] & 15];
    }
    buf[2 * n] = 0;
    return buf;
}

static bool
s_unhex (const char *text, uint8_t *out, size_t room, size_t *n)
{
    size_t len = strlen (text);
    if (len == 0 || len % 2 || len / 2 > room)
        return false;
    for (size_t i = 0; i < len / 2; i++) {
        int v = 0;
        for (int j = 0; j < 2; j++) {
            char c = text[2 * i + j];
            int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
            if (d < 0)
                return false;
            v = v * 16 + d;
        }
        out[i] = (uint8_t)v;
    }
    *n = len / 2;
    return true;
}

sch_store_rc_t
sch_store_sub_list (sch_store_t *self, const char *tenant, const char *topic, uint32_t limit,
                    const char *after, proto_reply_t *reply)
{
    if (!s_tenant_ok (tenant))
        return SCH_STORE_INVALID;
    if (topic && !s_topic_ok (topic, true))
        return SCH_STORE_OK; /* no subscription can have it: an empty page */
    if (limit == 0)
        limit = 1;
    if (limit > 1000)
        limit = 1000;
    uint8_t prefix[S_KEY_MAX + 1], start[S_KEY_MAX + 1];
    size_t tl = strlen (tenant), plen, slen;
    if (topic)
        plen = s_topic_key (prefix, tenant, topic, NULL);
    else {
        memcpy (prefix, tenant, tl);
        prefix[tl] = 0;
        plen = tl + 1;
    }
    if (plen == 0)
        return SCH_STORE_OK;
    memcpy (start, prefix, plen);
    slen = plen;
    if (after) {
        size_t n;
        if (!s_unhex (after, start + tl + 1, S_KEY_MAX - tl - 1, &n))
            return SCH_STORE_INVALID;
        slen = tl + 1 + n;
        if (slen < plen || memcmp (start, prefix, plen))
            return SCH_STORE_INVALID;
    }
    MDB_txn *txn;
    sch_store_rc_t rc = s_read_begin (self, &txn);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur = NULL;
    int mrc = mdb_cursor_open (txn, self->subs_topic, &cur);
    if (mrc) {
        rc = s_fail (self, mrc, "open cursor");
        goto out;
    }
    MDB_val key = {slen, start}, val;
    mrc = mdb_cursor_get (cur, &key, &val, MDB_SET_RANGE);
    if (mrc == 0 && after && key.mv_size == slen && memcmp (key.mv_data, start, slen) == 0)
        mrc = mdb_cursor_get (cur, &key, &val, MDB_NEXT); /* strictly after the cursor */
    uint32_t found = 0;
    MDB_val last = {0, NULL};
    free (reply->next);
    reply->next = NULL;
    for (; mrc == 0; mrc = mdb_cursor_get (cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size <= plen || memcmp (key.mv_data, prefix, plen))
            break;
        if (found == limit) {
            reply->next = s_hex ((const uint8_t *)last.mv_data + tl + 1, last.mv_size - tl - 1);
            if (!reply->next)
                rc = s_fail (self, 0, "subscription cursor");
            break;
        }
        last = key;
        /* the id follows the last 0x00 of the key (topics and ids hold none) */
        const uint8_t *k = key.mv_data;
        size_t i = key.mv_size;
        while (i > 0 && k[i - 1] != 0)
            i--;
        size_t il = key.mv_size - i;
        if (il == 0 || il > SCH_STORE_ID_MAX)
            continue;
        char id[SCH_STORE_ID_MAX + 1];
        memcpy (id, k + i, il);
        id[il] = 0;
        proto_subscription_t *sub = NULL;
        sch_store_rc_t lrc = s_sub_load_owned (self, txn, tenant, id, &sub);
        if (lrc == SCH_STORE_NOTFOUND || lrc == SCH_STORE_ERROR)
            continue;
        proto_subscription_t *slot = proto_reply_add_subscription (reply);
        if (!slot) {
            proto_subscription_destroy (&sub);
            rc = s_fail (self, 0, "subscription list");
            break;
        }
        s_sub_hand_over (slot, &sub);
        found++;
    }
out:
    if (cur)
        mdb_cursor_close (cur);
    s_read_end (self, txn);
    return rc;
}

/* --- events ------------------------------------------------------------------------ */

sch_store_rc_t
sch_store_event_get (sch_store_t *self, const char *tenant, const char *id, proto_reply_t *reply)
{
    if (!s_id_ok (id) || !tenant)
        return SCH_STORE_NOTFOUND;
    MDB_txn *txn;
    sch_store_rc_t rc = s_read_begin (self, &txn);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_val k = {strlen (id), (void *)id}, v;
    s_event_t ev;
    memset (&ev, 0, sizeof ev);
    int mrc = mdb_get (txn, self->events, &k, &v);
    if (mrc == MDB_NOTFOUND)
        rc = SCH_STORE_NOTFOUND;
    else if (mrc)
        rc = s_fail (self, mrc, "read event");
    else if (!s_event_decode (&v, &ev)) {
        zh_error ("store: undecodable event", "s:id", id, NULL);
        rc = SCH_STORE_ERROR;
    }
    else if (strcmp (ev.tenant, tenant))
        rc = SCH_STORE_NOTFOUND;
    if (rc == SCH_STORE_OK) {
        free (reply->event_id);
        free (reply->topic);
        reply->event_id = strdup (id);
        reply->topic = ev.topic;
        ev.topic = NULL;
        reply->event_created_ms = ev.created_ms;
        if (!reply->event_id)
            rc = s_fail (self, 0, "event");
    }
    for (size_t i = 0; i < ev.count && rc == SCH_STORE_OK; i++) {
        proto_record_t *rec = NULL;
        if (s_record_load_owned (self, txn, tenant, ev.ids[i], &rec) != SCH_STORE_OK)
            continue; /* purged */
        /* only the latest attempt, without response bodies: a 1,000-message
         * event stays far below PROTO_MAX_FRAME */
        for (size_t a = 0; a < rec->attempt_count; a++) {
            free (rec->attempts[a].body);
            rec->attempts[a].body = NULL;
        }
        if (rec->attempt_count > 1) {
            for (size_t a = 0; a + 1 < rec->attempt_count; a++)
                free (rec->attempts[a].error);
            rec->attempts[0] = rec->attempts[rec->attempt_count - 1];
            rec->attempt_count = 1;
        }
        proto_record_t *slot = proto_reply_add_record (reply);
        if (!slot) {
            proto_record_destroy (&rec);
            rc = s_fail (self, 0, "event records");
            break;
        }
        s_record_hand_over (slot, &rec);
    }
    s_event_clear (&ev);
    s_read_end (self, txn);
    return rc;
}

/* --- capacity, readers, backup ---------------------------------------------------- */

sch_store_rc_t
sch_store_space (sch_store_t *self, uint64_t *used, uint64_t *size)
{
    *used = *size = 0;
    if (self->txn)
        return SCH_STORE_ERROR;
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info (self->env, &info) || mdb_env_stat (self->env, &st) || st.ms_psize == 0)
        return SCH_STORE_ERROR;
    MDB_txn *txn;
    int mrc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
    if (mrc)
        return SCH_STORE_ERROR;
    /* the free list (dbi 0): each value an ID list led by its length */
    uint64_t free_listed = 0;
    MDB_cursor *cur;
    mrc = mdb_cursor_open (txn, 0, &cur);
    if (mrc == 0) {
        MDB_val k, v;
        for (mrc = mdb_cursor_get (cur, &k, &v, MDB_FIRST); mrc == 0;
             mrc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) {
            size_t n = 0;
            if (v.mv_size >= sizeof n)
                memcpy (&n, v.mv_data, sizeof n);
            free_listed += n;
        }
        mdb_cursor_close (cur);
    }
    mdb_txn_abort (txn);
    if (mrc != MDB_NOTFOUND)
        return SCH_STORE_ERROR;
    uint64_t pages = (uint64_t)info.me_mapsize / st.ms_psize;
    uint64_t high = (uint64_t)info.me_last_pgno + 1;
    uint64_t in_use = high > free_listed ? high - free_listed : 0;
    self->free_pages = pages > in_use ? pages - in_use : 0;
    *used = in_use * st.ms_psize;
    *size = (uint64_t)info.me_mapsize;
    return SCH_STORE_OK;
}

bool
sch_store_reserve_reached (sch_store_t *self)
{
    return self->free_pages < self->reserve_pages;
}

int
sch_store_readers_cleared_at_open (const sch_store_t *self)
{
    return self->readers_cleared_at_open;
}

sch_store_rc_t
sch_store_reader_check (sch_store_t *self, int *cleared)
{
    *cleared = 0;
    int mrc = mdb_reader_check (self->env, cleared);
    if (mrc) {
        zh_error ("store: reader check failed", "s:error", mdb_strerror (mrc), NULL);
        return SCH_STORE_ERROR;
    }
    return SCH_STORE_OK;
}

sch_store_rc_t
sch_store_backup (sch_store_t *self, int fd)
{
    int mrc = mdb_env_copyfd2 (self->env, fd, MDB_CP_COMPACT);
    if (mrc) {
        zh_error ("store: backup failed", "s:error", mdb_strerror (mrc), NULL);
        return mrc == ENOSPC || mrc == EDQUOT ? SCH_STORE_FULL : SCH_STORE_ERROR;
    }
    return SCH_STORE_OK;
}
