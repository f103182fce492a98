/*  proto_record.c — record: a message as stored by the scheduler and shown by GET.
 *
 *  {"t":"record","v":1, "id":str, "ten":str?*, "url":str, "hd":[[n,v],...]?*,
 *   "pl":bin?*, "sec":str?*, "rid":str?*, "st":uint (proto_status_t),
 *   "ma":uint, "to":uint, "cr":int, "at":int, "nx":int, "att":uint, "ab":uint,
 *   "dr":str?, "sid":str?, "eid":str?, "ok":str?, "trp":str?*, "end":int,
 *   "hist":[{"n":uint, "at":int, "sc":uint, "lat":uint, "err":str?, "body":str?}]?}
 *  (* private: left out of the public view, with_private = false)
 *  reply.records holds the same map without "t" and "v".
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static const proto_field_t s_attempt_fields[] = {
    PROTO_FIELD ("n", PROTO_K_U32, proto_attempt_t, n, PROTO_F_REQUIRED),
    PROTO_FIELD ("at", PROTO_K_I64, proto_attempt_t, at_ms, 0),
    PROTO_FIELD ("sc", PROTO_K_U16, proto_attempt_t, status_code, 0),
    PROTO_FIELD ("lat", PROTO_K_U32, proto_attempt_t, latency_ms, 0),
    PROTO_FIELD ("err", PROTO_K_STR, proto_attempt_t, error, 0),
    PROTO_FIELD ("body", PROTO_K_STR, proto_attempt_t, body, 0),
};

static const proto_class_t s_attempt_class = {
    .type = NULL,
    .fields = s_attempt_fields,
    .field_count = PROTO_COUNT (s_attempt_fields),
    .size = sizeof (proto_attempt_t),
};

static const proto_field_t s_record_fields[] = {
    PROTO_FIELD ("id", PROTO_K_STR, proto_record_t, id, PROTO_F_REQUIRED),
    PROTO_FIELD ("ten", PROTO_K_STR, proto_record_t, tenant, PROTO_F_PRIVATE),
    PROTO_FIELD ("url", PROTO_K_STR, proto_record_t, url, PROTO_F_REQUIRED),
    PROTO_FIELD_N ("hd", PROTO_K_HEADERS, proto_record_t, headers, header_count, PROTO_F_PRIVATE),
    PROTO_FIELD_N ("pl", PROTO_K_BYTES, proto_record_t, payload, payload_size, PROTO_F_PRIVATE),
    PROTO_FIELD ("sec", PROTO_K_STR, proto_record_t, secret, PROTO_F_PRIVATE),
    PROTO_FIELD ("rid", PROTO_K_STR, proto_record_t, request_id, PROTO_F_PRIVATE),
    PROTO_FIELD_ENUM ("st", proto_record_t, status, PROTO_ST_SCHEDULED, PROTO_ST_CANCELLED,
                      PROTO_F_REQUIRED),
    PROTO_FIELD ("ma", PROTO_K_U32, proto_record_t, max_attempts, 0),
    PROTO_FIELD ("to", PROTO_K_U32, proto_record_t, timeout_ms, 0),
    PROTO_FIELD ("cr", PROTO_K_I64, proto_record_t, created_ms, 0),
    PROTO_FIELD ("at", PROTO_K_I64, proto_record_t, deliver_at_ms, 0),
    PROTO_FIELD ("nx", PROTO_K_I64, proto_record_t, next_attempt_ms, 0),
    PROTO_FIELD ("att", PROTO_K_U32, proto_record_t, attempt, 0),
    PROTO_FIELD ("ab", PROTO_K_U32, proto_record_t, attempt_base, 0),
    PROTO_FIELD ("dr", PROTO_K_STR, proto_record_t, dead_reason, 0),
    PROTO_FIELD ("sid", PROTO_K_STR, proto_record_t, subscription_id, 0),
    PROTO_FIELD ("eid", PROTO_K_STR, proto_record_t, event_id, 0),
    PROTO_FIELD ("ok", PROTO_K_STR, proto_record_t, ordering_key, 0),
    PROTO_FIELD ("trp", PROTO_K_STR, proto_record_t, traceparent, PROTO_F_PRIVATE),
    PROTO_FIELD ("end", PROTO_K_I64, proto_record_t, ended_ms, 0),
    PROTO_FIELD_ARRAY ("hist", proto_record_t, attempts, attempt_count, &s_attempt_class, 0),
};

static const proto_class_t s_record_class = {
    .type = "record",
    .fields = s_record_fields,
    .field_count = PROTO_COUNT (s_record_fields),
    .size = sizeof (proto_record_t),
};

const proto_class_t proto_record_nested_class = {
    .type = NULL,
    .fields = s_record_fields,
    .field_count = PROTO_COUNT (s_record_fields),
    .size = sizeof (proto_record_t),
};

proto_record_t *
proto_record_new (void)
{
    return calloc (1, sizeof (proto_record_t));
}

void
proto_record_destroy (proto_record_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_record_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

proto_attempt_t *
proto_record_add_attempt (proto_record_t *self)
{
    assert (self);
    void *attempts = self->attempts;
    proto_attempt_t *attempt =
        proto_codec_append (&attempts, &self->attempt_count, sizeof *attempt);
    self->attempts = attempts;
    return attempt;
}

int
proto_record_encode (const proto_record_t *self, bool with_private, uint8_t **data, size_t *size)
{
    return proto_codec_encode (&s_record_class, self, with_private, data, size);
}

proto_rc_t
proto_record_decode (const uint8_t *data, size_t size, proto_record_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_record_t *self = proto_record_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_record_class, data, size, self);
    if (rc != PROTO_OK)
        proto_record_destroy (&self);
    *self_p = self;
    return rc;
}
