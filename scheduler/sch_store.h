/*  sch_store.h — the scheduler's durable store: one LMDB environment.
 *
 *  Layout (docs/ARCHITECTURE.md, "Scheduler store"); every key time is a
 *  u64 big-endian wall-clock millisecond count so keys sort by time:
 *
 *      meta      "schema_version" -> u32 BE (SCH_STORE_SCHEMA); "counts" ->
 *                u64 BE per status (kept in the same txn as every change)
 *      messages  id -> proto_record_t encoded with private fields, no payload
 *      payloads  id -> payload bytes
 *      due       u64 BE time || id -> empty. Waiting messages use their due
 *                time; leased (in flight) messages use lease end with bit 63
 *                set, so "what is due" is a walk from the first key and
 *                "which lease ended" a seek to 2^63, whatever the backlog.
 *      idem      tenant || 0x00 || key -> created ms, body hash, reply items
 *      idem_exp  u64 BE created ms || tenant || 0x00 || key -> empty
 *      dead      u64 BE dead ms || id -> empty (newest first: walk backwards)
 *      ended     u64 BE ended ms || id -> empty (retention purge walk)
 *      subs      subscription id -> proto_subscription_t with private fields
 *      subs_topic tenant || 0x00 || topic || 0x00 || id -> empty (exact
 *                topics and "a.b.*" patterns stored as written)
 *      events    event id -> tenant, topic, created ms, message ids
 *      events_exp u64 BE check ms || event id -> empty (event purge walk)
 *      order     SHA-256 (tenant 0x00 scope 0x00 ordering key) || u64 BE
 *                acceptance sequence -> message id; scope = subscription id
 *                for fanned-out messages, else the URL. Only the first live
 *                entry of a queue (its head) is in the due index.
 *      meta also holds "sub_counts" (u64 BE enabled, disabled) and
 *                "order_seq" (u64 BE last acceptance sequence).
 *
 *  Writes go through a batch: sch_store_begin opens one write transaction,
 *  any number of write operations join it, sch_store_commit commits it with
 *  a full sync (never MDB_NOSYNC/NOMETASYNC/MAPASYNC). The first failure of
 *  an operation poisons the batch (every later operation and the commit
 *  return that code and the transaction is aborted): callers that want the
 *  other operations kept replay them one batch each. Read operations use the
 *  open batch when there is one (they see its changes), else a read txn.
 *
 *  No clock inside: every function that needs the time takes now_ms (wall
 *  clock), so tests drive time. One thread uses a store at a time. */
#ifndef SCH_STORE_H
#define SCH_STORE_H

#include "proto/proto.h"
#include "scheduler/sch_policy.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCH_STORE_SCHEMA 2 /* schema_version written by this build (1 is upgraded) */
#define SCH_STORE_ID_MAX 128 /* longest message id accepted, bytes */
#define SCH_STORE_TENANT_MAX 128 /* longest tenant name accepted, bytes */
#define SCH_STORE_IDEM_MAX 255 /* longest Idempotency-Key accepted, bytes */
#define SCH_STORE_BODY_MAX 4096 /* response body bytes kept per attempt */
#define SCH_STORE_DL_SCAN 10000 /* dead entries examined per DL_LIST page at most */
#define SCH_STORE_HISTORY_MAX 128 /* attempts kept per record (the newest) */
#define SCH_STORE_TOPIC_MAX 200 /* longest topic or pattern, bytes (keys stay < 511) */
#define SCH_STORE_FANOUT_MAX 10000 /* enabled subscriptions one event may reach */

typedef enum {
    SCH_STORE_OK = 0,
    SCH_STORE_NOTFOUND, /* no such message for this tenant (or none at all) */
    SCH_STORE_CONFLICT, /* ended (cancel), not dead (replay), idempotency body mismatch */
    SCH_STORE_INVALID, /* bad argument from the wire: id, tenant, key, cursor too long */
    SCH_STORE_FULL, /* MDB_MAP_FULL: the batch was aborted (answer 507) */
    SCH_STORE_ESCHEMA, /* the store has a schema this build does not know */
    SCH_STORE_ERROR, /* any other LMDB or memory failure (logged) */
} sch_store_rc_t;

const char *sch_store_strerror (sch_store_rc_t rc);

typedef struct _sch_store_t sch_store_t;

/* Messages per status, committed state (index = proto_status_t). */
typedef struct {
    int64_t by_status[PROTO_ST_CANCELLED + 1];
    int64_t subs_enabled; // subscriptions that receive events
    int64_t subs_disabled; // subscriptions disabled (user, gone, failing)
} sch_store_counts_t;

/* What an applied result or an expired lease did, for logs and metrics. */
typedef enum {
    SCH_EVENT_STALE = 0, /* result ignored: unknown id, other attempt, not in flight */
    SCH_EVENT_DELIVERED,
    SCH_EVENT_RETRY,
    SCH_EVENT_DEAD,
    SCH_EVENT_DEFERRED, /* the deliverer did not start it: due again at next_ms, no attempt spent */
} sch_event_kind_t;

typedef struct {
    sch_event_kind_t kind;
    bool lease_expired; // the attempt ended by lease expiry
    uint32_t attempt; // attempt number concerned
    int64_t next_ms; // RETRY, DEFERRED: when the next attempt is due
    char id[SCH_STORE_ID_MAX + 1]; // message id (truncated copy for logs)
    char request_id[SCH_STORE_ID_MAX + 1]; // accepting request id (truncated), or ""
    char trace_id[33]; // trace id of the message's traceparent, or ""
    char reason[32]; // DEAD: "max_attempts", "gone", ...; else ""
    char subscription_id[SCH_STORE_ID_MAX + 1]; // of a fanned-out message, else ""
    char sub_disabled[16]; // "gone" or "failing" when this outcome disabled it, else ""
} sch_event_t;

/* Opens (creating dir and environment when missing) the store in dir with
 * a map of map_bytes; policy is copied. Clears stale readers
 * (mdb_reader_check). Refuses a newer or unreadable schema
 * (SCH_STORE_ESCHEMA). NULL on failure, with *rc set when rc is not NULL. */
sch_store_t *sch_store_new (const char *dir, uint64_t map_bytes, const sch_policy_t *policy,
                            sch_store_rc_t *rc);
/* Aborts an open batch, closes the environment, nulls *self_p; accepts NULL. */
void sch_store_destroy (sch_store_t **self_p);

/* --- write batches ------------------------------------------------------ */
sch_store_rc_t sch_store_begin (sch_store_t *self);
/* Commits with a full sync. SCH_STORE_FULL/ERROR: aborted, nothing kept. */
sch_store_rc_t sch_store_commit (sch_store_t *self);
void sch_store_abort (sch_store_t *self);
/* True between begin and commit/abort. */
bool sch_store_in_batch (sch_store_t *self);

/* --- write operations (inside a batch) ------------------------------------ */

/* Event publish: when submit->topic is set, items[0] is the event (its id
 * the "evt_" id) and every enabled subscription of (tenant, topic) gets one
 * message in this same transaction: subscriptions of the exact topic, then
 * of each pattern made from the topic's dot-prefixes ("a.b.c" -> "a.b.*",
 * "a.*", "*"), one range scan each. Each message takes a new msg_ id, the
 * subscription's url, headers and secret, the event's payload (stored once,
 * under the event id), due time, max_attempts, timeout and ordering key
 * (queue scope: the subscription). reply->event_id is set and one item per
 * message appended; reply->status 202 even with no message. Refused with
 * reply->status 400 (bad event id or topic), 409 (duplicate event id) or
 * 422 (more than SCH_STORE_FANOUT_MAX subscriptions), no item, return OK.
 *
 * Ordered messages (item ordering_key): a message joins the queue of
 * (tenant, scope, key) in acceptance order and enters the due index only
 * as its head; the next one enters when the head ends (delivered, dead,
 * cancelled), at max (its deliver_at, now).
 *
 * Accepts every item of submit for submit->tenant, honouring its
 * idempotency key: on a replay within the window reply gets the original
 * items and replayed = true; a different body hash is SCH_STORE_CONFLICT.
 * On SCH_STORE_OK reply->status is 202 (or the status of the first item
 * when none was stored) and one reply item per submitted item is appended:
 * 202, or 409 "duplicate id" / 400 "invalid id or url" for an item that
 * cannot be stored. SCH_STORE_INVALID: tenant empty or longer than
 * SCH_STORE_TENANT_MAX, key longer than SCH_STORE_IDEM_MAX. On any code
 * but OK the caller discards reply (items may have been appended). */
sch_store_rc_t sch_store_accept (sch_store_t *self, const proto_submit_t *submit, int64_t now_ms,
                                 proto_reply_t *reply);

/* Cancels a message of tenant that has not ended. SCH_STORE_CONFLICT when
 * it ended. On OK and CONFLICT fills out (a zeroed record, for example from
 * proto_reply_add_record) with the public view; out may be NULL. */
sch_store_rc_t sch_store_cancel (sch_store_t *self, const char *tenant, const char *id,
                                 int64_t now_ms, proto_record_t *out);

/* Dead message back to scheduled, due now, attempts counted afresh
 * (attempt_base = attempt). SCH_STORE_CONFLICT when not dead. */
sch_store_rc_t sch_store_replay (sch_store_t *self, const char *tenant, const char *id,
                                 int64_t now_ms, proto_record_t *out);

/* Leases up to max messages whose due time is <= horizon_ms (at least
 * now_ms; above it: leased ahead, for the caller to send when due), oldest
 * first.
 * A fanned-out message is signed with its subscription's current key list
 * ("secret previous_secret" within the rotation overlap) and takes a token
 * of its subscription's rate limit; without a token it is not leased but
 * due again when the next token is there (at most max such moves a call);
 * such messages are never leased ahead. Otherwise:
 * attempt += 1, status in_flight, due key moved to lease end (the later of
 * now and the due time, + timeout + lease margin). out (room for max)
 * receives one dispatch per lease, owned by the caller, to send only after
 * the commit and not before its due_ms. */
sch_store_rc_t sch_store_lease (sch_store_t *self, int64_t now_ms, int64_t horizon_ms, size_t max,
                                proto_dispatch_t **out, size_t *count);

/* Gives back the lease of dispatch d, not sent (held for its due time
 * when the scheduler stopped): no attempt counted, status as before the
 * lease, due again at d's due time (now_ms if that passed). A message no
 * longer in flight in d's attempt (cancelled meanwhile) is left alone. */
sch_store_rc_t sch_store_release (sch_store_t *self, const proto_dispatch_t *d, int64_t now_ms);

/* Records result. A result for another attempt, for a message not in
 * flight or unknown is stale: ev->kind = SCH_EVENT_STALE, nothing changes.
 * A "deferred" result (the deliverer did not start the attempt: destination
 * busy or circuit open) is not an attempt: no history entry, attempt_base
 * moves with attempt so max_attempts and the backoff step are unchanged
 * (the fencing token still advances at the next lease), the status goes
 * back to scheduled or retrying, due after sch_policy_defer_ms
 * (result->retry_after_ms): ev->kind = SCH_EVENT_DEFERRED. */
sch_store_rc_t sch_store_result (sch_store_t *self, const proto_result_t *result, int64_t now_ms,
                                 sch_event_t *ev);

/* Ends up to max leases whose end is <= now_ms as failed attempts
 * ("lease_expired"): retry with backoff or dead. evs has room for max. */
sch_store_rc_t sch_store_expire (sch_store_t *self, int64_t now_ms, size_t max, sch_event_t *evs,
                                 size_t *count);

/* Deletes up to max ended messages older than the retention window and up
 * to max idempotency entries older than theirs; checks up to max events
 * past their retention: deleted (with their payload) when none of their
 * messages is stored any more, else checked again one retention later. */
sch_store_rc_t sch_store_purge (sch_store_t *self, int64_t now_ms, size_t max, size_t *messages,
                                size_t *idem);

/* --- reads (inside a batch or not) ---------------------------------------- */

/* Fills out (zeroed) with the public view of tenant's message id.
 * SCH_STORE_NOTFOUND for unknown ids and other tenants' ids. */
sch_store_rc_t sch_store_get (sch_store_t *self, const char *tenant, const char *id,
                              proto_record_t *out);

/* Dead letters of tenant, newest first: up to limit records appended to
 * reply->records, reply->next set (heap) to the cursor of the next page or
 * NULL at the end. after is a cursor from a previous page or NULL; a
 * malformed cursor is SCH_STORE_INVALID. */
sch_store_rc_t sch_store_dead_list (sch_store_t *self, const char *tenant, uint32_t limit,
                                    const char *after, proto_reply_t *reply);

/* Earliest waiting due time and earliest lease end; INT64_MAX when none. */
sch_store_rc_t sch_store_next (sch_store_t *self, int64_t *due_ms, int64_t *lease_ms);

/* Counts per status and of subscriptions: as the open batch leaves them
 * when one is open (so flow control inside a batch sees the leases its
 * results ended), else the committed ones. */
void sch_store_counts (sch_store_t *self, sch_store_counts_t *out);

/* --- subscriptions and events ----------------------------------------------
 * Every out subscription is a zeroed struct (for example from
 * proto_reply_add_subscription) filled with every field, secrets included;
 * on NOTFOUND it is left zeroed. Another tenant's ids are NOTFOUND. */

/* Creates sub (id and secret given by the ingress) for tenant, enabled,
 * created_ms = updated_ms = now. SCH_STORE_INVALID: bad id, topic (empty,
 * over SCH_STORE_TOPIC_MAX, a '*' anywhere but a final ".*" or alone), no
 * url or secret; SCH_STORE_CONFLICT: the id exists. */
sch_store_rc_t sch_store_sub_create (sch_store_t *self, const char *tenant,
                                     const proto_subscription_t *sub, int64_t now_ms,
                                     proto_subscription_t *out);

sch_store_rc_t sch_store_sub_get (sch_store_t *self, const char *tenant, const char *id,
                                  proto_subscription_t *out);

/* tenant's subscriptions ordered by topic then id (only those of exactly
 * topic when it is not NULL): up to limit (1..1000) appended to
 * reply->subscriptions, reply->next set (heap) when more remain. A
 * malformed cursor is SCH_STORE_INVALID. */
sch_store_rc_t sch_store_sub_list (sch_store_t *self, const char *tenant, const char *topic,
                                   uint32_t limit, const char *after, proto_reply_t *reply);

/* Deletes it (out: as it was). Its pending messages still deliver, signed
 * with the secret they were fanned out with; new events skip it. */
sch_store_rc_t sch_store_sub_delete (sch_store_t *self, const char *tenant, const char *id,
                                     proto_subscription_t *out);

/* secret becomes the current secret, the old one previous_secret,
 * rotated_ms = now: for ZHOOK_SECRET_OVERLAP_HOURS every dispatch of its
 * messages (pending ones too) carries both signatures. */
sch_store_rc_t sch_store_sub_rotate (sch_store_t *self, const char *tenant, const char *id,
                                     const char *secret, int64_t now_ms, proto_subscription_t *out);

/* Applies the fields of changes named by mask (PROTO_SUB_SET_*): enabled
 * (false: disabled_reason "user"; true: reason and failing_since cleared;
 * nothing is replayed), rate_limit, description (NULL clears it).
 * *user_disabled (may be NULL) is set when this disabled it. */
sch_store_rc_t sch_store_sub_update (sch_store_t *self, const char *tenant, const char *id,
                                     const proto_subscription_t *changes, uint32_t mask,
                                     int64_t now_ms, proto_subscription_t *out,
                                     bool *user_disabled);

/* Event id of tenant: reply->event_id, topic, event_created_ms and the
 * public records of its messages still stored (each with only its latest
 * attempt and no response bodies, so a 1,000-message event fits a frame;
 * GET /v1/messages/{id} has the full history). */
sch_store_rc_t sch_store_event_get (sch_store_t *self, const char *tenant, const char *id,
                                    proto_reply_t *reply);

/* --- capacity, readers, backup ---------------------------------------------- */

/* Map use: used = pages in use (high-water mark minus the free list) and
 * size = the map, in bytes. Outside a batch only (else SCH_STORE_ERROR).
 * Also refreshes the reserve: sch_store_accept refuses (SCH_STORE_FULL)
 * while fewer than max (64 pages, map/20) pages (at most 32 MiB) are free,
 * so results, leases, cancels and the purge still commit on a full store.
 * Commits refresh it themselves after accepting when near the reserve. */
sch_store_rc_t sch_store_space (sch_store_t *self, uint64_t *used, uint64_t *size);

/* True while accept refuses for the reserve (as of the last refresh). */
bool sch_store_reserve_reached (sch_store_t *self);

/* mdb_reader_check: frees reader slots of dead processes; *cleared = how many. */
sch_store_rc_t sch_store_reader_check (sch_store_t *self, int *cleared);

/* Reader slots of dead processes that sch_store_new's own check freed. */
int sch_store_readers_cleared_at_open (const sch_store_t *self);

/* Hot, compacted copy of the environment written to fd (a file or pipe):
 * mdb_env_copyfd2 with MDB_CP_COMPACT, in its own read transaction. The
 * one function another thread may call while the loop uses the store. */
sch_store_rc_t sch_store_backup (sch_store_t *self, int fd);

#endif
