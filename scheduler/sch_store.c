/*  sch_store.c — LMDB store of the scheduler (layout in sch_store.h).
 *
 *  Every state change of a message rewrites its record and moves its keys
 *  in the secondary indexes (due, dead, ended) in the same transaction, so
 *  the indexes never disagree with the records after a crash. Counts per
 *  status live in meta and change in the same transaction too: STATUS and
 *  the flow-control budget never scan the store. */
#include "scheduler/sch_store.h"
#include "common/zh_id.h"
#include "common/zh_log.h"

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S_LEASE_BIT (UINT64_C (1) << 63) /* due-key time flag: lease end */
#define S_TIME_MAX (INT64_C (1) << 62) /* due and ended times are clamped below this */
#define S_KEY_MAX 511 /* LMDB's default maximum key size */
#define S_STATUS_N (PROTO_ST_CANCELLED + 1)
#define S_IDEM_VERSION 1

struct _sch_store_t {
    MDB_env *env;
    MDB_dbi meta, messages, payloads, due, idem, idem_exp, dead, ended;
    MDB_txn *txn; // open write batch, or NULL
    sch_store_rc_t batch_rc; // first failure in the open batch
    sch_policy_t policy; // copied at open
    int64_t counts[S_STATUS_N]; // committed counts per status
    int64_t batch_counts[S_STATUS_N]; // counts as the open batch leaves them
    uint64_t rng; // splitmix64 state for backoff jitter
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
    sch_store_rc_t rc = mdb_rc == MDB_MAP_FULL ? SCH_STORE_FULL : SCH_STORE_ERROR;
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
        {"meta", &self->meta}, {"messages", &self->messages}, {"payloads", &self->payloads},
        {"due", &self->due},   {"idem", &self->idem},         {"idem_exp", &self->idem_exp},
        {"dead", &self->dead}, {"ended", &self->ended},
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
        if (ver != SCH_STORE_SCHEMA) {
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
    if (mkdir (dir, 0700) && errno != EEXIST) {
        zh_error ("store: cannot create data directory", "s:dir", dir, "s:error", strerror (errno),
                  NULL);
        goto out;
    }
    int mrc = mdb_env_create (&self->env);
    if (!mrc)
        mrc = mdb_env_set_maxdbs (self->env, 8);
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
    if (mdb_reader_check (self->env, &stale) == 0 && stale > 0)
        zh_warn ("store: cleared stale readers", "i:readers", (int64_t)stale, NULL);
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
    memcpy (self->batch_counts, self->counts, sizeof self->counts);
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
    if (rc != SCH_STORE_OK) {
        sch_store_abort (self);
        return rc;
    }
    int mrc = mdb_txn_commit (self->txn);
    self->txn = NULL;
    if (mrc) {
        self->batch_rc = SCH_STORE_OK;
        return s_fail (self, mrc, "commit");
    }
    memcpy (self->counts, self->batch_counts, sizeof self->counts);
    return SCH_STORE_OK;
}

/* --- accept ------------------------------------------------------------------ */

/* Idempotency entry: u8 version, u64 created ms, 32-byte body hash, u16
 * status, u32 n, then n x (u16 status, u64 deliver_at ms, u16 id length, id,
 * u16 error length, error), all big-endian. */
static uint8_t *
s_idem_encode (int64_t created_ms, const uint8_t *hash, const proto_reply_t *reply, size_t *size)
{
    size_t n = 1 + 8 + 32 + 2 + 4;
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
    if (!s_take (&r, &ver, 1) || ver != S_IDEM_VERSION || !s_take (&r, b8, 8) ||
        !s_take (&r, hash, 32) || !s_take_u16 (&r, &status) || !s_take (&r, b4, 4))
        return false;
    *created_ms = (int64_t)s_be64_get (b8);
    uint32_t n = (uint32_t)b4[0] << 24 | (uint32_t)b4[1] << 16 | (uint32_t)b4[2] << 8 | b4[3];
    if (!reply)
        return true;
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
    MDB_val k = {strlen (item->id), item->id}, v;
    int mrc = mdb_get (self->txn, self->messages, &k, &v);
    if (mrc == 0) {
        out->status = 409;
        out->error = strdup ("duplicate id");
        return out->error ? SCH_STORE_OK : s_fail (self, 0, "accept");
    }
    if (mrc != MDB_NOTFOUND)
        return s_fail (self, mrc, "read record");
    sch_store_rc_t rc = s_record_save (self, &rec, 0);
    if (rc == SCH_STORE_OK)
        rc = s_put (self, self->payloads, item->id, strlen (item->id), item->payload,
                    item->payload_size, 0, "write payload");
    if (rc == SCH_STORE_OK)
        rc = s_put_time (self, self->due, (uint64_t)due, item->id, "write due key");
    if (rc == SCH_STORE_OK)
        s_count_move (self, 0, PROTO_ST_SCHEDULED);
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
    size_t first = reply->item_count, accepted = 0;
    for (size_t i = 0; i < submit->item_count; i++) {
        proto_reply_item_t *it = proto_reply_add_item (reply);
        if (!it)
            return s_fail (self, 0, "accept");
        rc = s_accept_item (self, submit, &submit->items[i], now_ms, it);
        if (rc != SCH_STORE_OK)
            return rc;
        accepted += it->status == 202;
    }
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
s_defer_attempt (sch_store_t *self, proto_record_t *rec, const proto_result_t *result,
                 int64_t now_ms, sch_event_t *ev)
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
    rec->next_attempt_ms =
        s_clamp_time (now_ms + sch_policy_defer_ms (&self->policy, result->retry_after_ms));
    s_copy_trunc (ev->id, sizeof ev->id, rec->id);
    s_copy_trunc (ev->request_id, sizeof ev->request_id, rec->request_id);
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
        return s_defer_attempt (self, rec, result, now_ms, ev);
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
    ev->attempt = rec->attempt;
    ev->reason[0] = 0;
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
    return rc;
}

sch_store_rc_t
sch_store_result (sch_store_t *self, const proto_result_t *result, int64_t now_ms, sch_event_t *ev)
{
    memset (ev, 0, sizeof *ev);
    ev->kind = SCH_EVENT_STALE;
    s_copy_trunc (ev->id, sizeof ev->id, result->id);
    ev->attempt = result->attempt;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    proto_record_t *rec;
    rc = s_record_load (self, self->txn, result->id, &rec);
    if (rc == SCH_STORE_NOTFOUND || rc == SCH_STORE_INVALID)
        return SCH_STORE_OK;
    if (rc != SCH_STORE_OK)
        return rc;
    if (rec->status == PROTO_ST_IN_FLIGHT && rec->attempt == result->attempt)
        rc = s_finish_attempt (self, rec, result, now_ms, ev);
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

static proto_dispatch_t *
s_dispatch_from (sch_store_t *self, proto_record_t *rec, int64_t due_ms)
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
    d->secret = rec->secret;
    rec->secret = NULL;
    d->request_id = rec->request_id;
    rec->request_id = NULL;
    MDB_val k = {strlen (d->id), d->id}, v;
    int mrc = mdb_get (self->txn, self->payloads, &k, &v);
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
sch_store_lease (sch_store_t *self, int64_t now_ms, size_t max, proto_dispatch_t **out,
                 size_t *count)
{
    *count = 0;
    sch_store_rc_t rc = s_batch_check (self);
    if (rc != SCH_STORE_OK)
        return rc;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open (self->txn, self->due, &cur);
    if (mrc)
        return s_fail (self, mrc, "open cursor");
    while (*count < max && rc == SCH_STORE_OK) {
        MDB_val key, val;
        if (mdb_cursor_get (cur, &key, &val, MDB_FIRST) != 0 || key.mv_size <= 8)
            break;
        uint64_t t = s_be64_get (key.mv_data);
        if ((t & S_LEASE_BIT) || (int64_t)t > now_ms)
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
        rc = s_del (self, self->due, key.mv_data, key.mv_size, "delete due key");
        proto_status_t from = rec->status;
        rec->attempt++;
        rec->status = PROTO_ST_IN_FLIGHT;
        rec->next_attempt_ms =
            s_clamp_time (now_ms + (int64_t)rec->timeout_ms + self->policy.lease_margin_ms);
        if (rc == SCH_STORE_OK)
            rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms | S_LEASE_BIT, rec->id,
                             "write lease key");
        if (rc == SCH_STORE_OK)
            rc = s_record_save (self, rec, 0);
        if (rc == SCH_STORE_OK) {
            s_count_move (self, from, PROTO_ST_IN_FLIGHT);
            out[*count] = s_dispatch_from (self, rec, (int64_t)t);
            if (!out[*count])
                rc = s_fail (self, 0, "build dispatch");
            else
                (*count)++;
        }
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
        rc = s_put_time (self, self->due, (uint64_t)rec->next_attempt_ms, rec->id, "write due key");
    if (rc == SCH_STORE_OK)
        rc = s_record_save (self, rec, 0);
    if (rc == SCH_STORE_OK) {
        s_count_move (self, PROTO_ST_DEAD, PROTO_ST_SCHEDULED);
        s_record_hand_over (out, &rec);
    }
    proto_record_destroy (&rec);
    return rc;
}

/* --- purge ------------------------------------------------------------------- */

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
    for (int i = 0; i < S_STATUS_N; i++)
        out->by_status[i] = self->counts[i];
}
