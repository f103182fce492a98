/*  proto_reply.c — reply: scheduler -> ingress on the PUB socket, topic = reply_to.
 *
 *  {"t":"reply","v":1, "corr":uint, "st":uint, "rp":bool, "err":str?,
 *   "items":[{"id":str?, "st":uint, "at":int, "err":str?}]?,
 *   "recs":[record map without "t"/"v", public view]?, "next":str?,
 *   "stats":{name: int, ...}?,
 *   "subs":[subscription map without "t"/"v", private fields included]?,
 *   "eid":str?, "tp":str?, "ecr":int,
 *   "ra":int, "rl":uint, "rr":uint, "rs":int}
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const proto_field_t s_reply_item_fields[] = {
    PROTO_FIELD ("id", PROTO_K_STR, proto_reply_item_t, id, 0),
    PROTO_FIELD ("st", PROTO_K_U16, proto_reply_item_t, status, PROTO_F_REQUIRED),
    PROTO_FIELD ("at", PROTO_K_I64, proto_reply_item_t, deliver_at_ms, 0),
    PROTO_FIELD ("err", PROTO_K_STR, proto_reply_item_t, error, 0),
};

static const proto_class_t s_reply_item_class = {
    .type = NULL,
    .fields = s_reply_item_fields,
    .field_count = PROTO_COUNT (s_reply_item_fields),
    .size = sizeof (proto_reply_item_t),
};

static const proto_field_t s_reply_fields[] = {
    PROTO_FIELD ("corr", PROTO_K_U64, proto_reply_t, corr, PROTO_F_REQUIRED),
    PROTO_FIELD ("st", PROTO_K_U16, proto_reply_t, status, PROTO_F_REQUIRED),
    PROTO_FIELD ("rp", PROTO_K_BOOL, proto_reply_t, replayed, 0),
    PROTO_FIELD ("err", PROTO_K_STR, proto_reply_t, error, 0),
    PROTO_FIELD_ARRAY ("items", proto_reply_t, items, item_count, &s_reply_item_class, 0),
    PROTO_FIELD_ARRAY ("recs", proto_reply_t, records, record_count, &proto_record_nested_class, 0),
    PROTO_FIELD ("next", PROTO_K_STR, proto_reply_t, next, 0),
    PROTO_FIELD_N ("stats", PROTO_K_STATS, proto_reply_t, stats, stat_count, 0),
    PROTO_FIELD_ARRAY ("subs", proto_reply_t, subscriptions, subscription_count,
                       &proto_subscription_nested_class, PROTO_F_NEST_PRIVATE),
    PROTO_FIELD ("eid", PROTO_K_STR, proto_reply_t, event_id, 0),
    PROTO_FIELD ("tp", PROTO_K_STR, proto_reply_t, topic, 0),
    PROTO_FIELD ("ecr", PROTO_K_I64, proto_reply_t, event_created_ms, 0),
    PROTO_FIELD ("ra", PROTO_K_I64, proto_reply_t, retry_after_ms, 0),
    PROTO_FIELD ("rl", PROTO_K_U32, proto_reply_t, rate_limit, 0),
    PROTO_FIELD ("rr", PROTO_K_U32, proto_reply_t, rate_remaining, 0),
    PROTO_FIELD ("rs", PROTO_K_I64, proto_reply_t, rate_reset_ms, 0),
};

static const proto_class_t s_reply_class = {
    .type = "reply",
    .fields = s_reply_fields,
    .field_count = PROTO_COUNT (s_reply_fields),
    .size = sizeof (proto_reply_t),
};

proto_reply_t *
proto_reply_new (void)
{
    return calloc (1, sizeof (proto_reply_t));
}

void
proto_reply_destroy (proto_reply_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_reply_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

proto_reply_item_t *
proto_reply_add_item (proto_reply_t *self)
{
    assert (self);
    void *items = self->items;
    proto_reply_item_t *item = proto_codec_append (&items, &self->item_count, sizeof *item);
    self->items = items;
    return item;
}

proto_record_t *
proto_reply_add_record (proto_reply_t *self)
{
    assert (self);
    void *records = self->records;
    proto_record_t *record = proto_codec_append (&records, &self->record_count, sizeof *record);
    self->records = records;
    return record;
}

int
proto_reply_add_stat (proto_reply_t *self, const char *name, int64_t value)
{
    assert (self && name);
    char *copy = strdup (name);
    if (!copy)
        return -1;
    void *stats = self->stats;
    proto_stat_t *stat = proto_codec_append (&stats, &self->stat_count, sizeof *stat);
    self->stats = stats;
    if (!stat) {
        free (copy);
        return -1;
    }
    stat->name = copy;
    stat->value = value;
    return 0;
}

proto_subscription_t *
proto_reply_add_subscription (proto_reply_t *self)
{
    assert (self);
    void *subs = self->subscriptions;
    proto_subscription_t *sub = proto_codec_append (&subs, &self->subscription_count, sizeof *sub);
    self->subscriptions = subs;
    return sub;
}

/* Records always travel as public views: a reply goes to the ingress.
 * Subscriptions keep their secrets (PROTO_F_NEST_PRIVATE): the ingress
 * shows them only in answers to create and rotate-secret. */
int
proto_reply_encode (const proto_reply_t *self, uint8_t **data, size_t *size)
{
    return proto_codec_encode (&s_reply_class, self, false, data, size);
}

proto_rc_t
proto_reply_decode (const uint8_t *data, size_t size, proto_reply_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_reply_t *self = proto_reply_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_reply_class, data, size, self);
    if (rc != PROTO_OK)
        proto_reply_destroy (&self);
    *self_p = self;
    return rc;
}
