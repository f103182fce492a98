/*  proto_submit.c — submit: ingress -> scheduler, messages to accept.
 *
 *  {"t":"submit","v":1, "rt":str, "corr":uint, "rid":str?, "ten":str,
 *   "ik":str?, "ih":bin32?, "dl":int,
 *   "items":[{"id":str, "url":str, "pl":bin, "hd":[[name,value],...]?,
 *             "at":int, "delay":int, "ma":uint, "to":uint, "sec":str?,
 *             "ok":str?, "trp":str?}, ...],
 *   "tp":str?}
 *  With "tp" (an event publish) "items" holds exactly one item: the event.
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static const proto_field_t s_item_fields[] = {
    PROTO_FIELD ("id", PROTO_K_STR, proto_item_t, id, PROTO_F_REQUIRED),
    PROTO_FIELD ("url", PROTO_K_STR, proto_item_t, url, PROTO_F_REQUIRED),
    PROTO_FIELD_N ("pl", PROTO_K_BYTES, proto_item_t, payload, payload_size, PROTO_F_REQUIRED),
    PROTO_FIELD_N ("hd", PROTO_K_HEADERS, proto_item_t, headers, header_count, 0),
    PROTO_FIELD ("at", PROTO_K_I64, proto_item_t, deliver_at_ms, 0),
    PROTO_FIELD ("delay", PROTO_K_I64, proto_item_t, delay_ms, 0),
    PROTO_FIELD ("ma", PROTO_K_U32, proto_item_t, max_attempts, 0),
    PROTO_FIELD ("to", PROTO_K_U32, proto_item_t, timeout_ms, 0),
    PROTO_FIELD ("sec", PROTO_K_STR, proto_item_t, secret, 0),
    PROTO_FIELD ("ok", PROTO_K_STR, proto_item_t, ordering_key, 0),
    PROTO_FIELD ("trp", PROTO_K_STR, proto_item_t, traceparent, 0),
};

static const proto_class_t s_item_class = {
    .type = NULL,
    .fields = s_item_fields,
    .field_count = PROTO_COUNT (s_item_fields),
    .size = sizeof (proto_item_t),
};

static const proto_field_t s_submit_fields[] = {
    PROTO_FIELD ("rt", PROTO_K_STR, proto_submit_t, reply_to, PROTO_F_REQUIRED),
    PROTO_FIELD ("corr", PROTO_K_U64, proto_submit_t, corr, PROTO_F_REQUIRED),
    PROTO_FIELD ("rid", PROTO_K_STR, proto_submit_t, request_id, 0),
    PROTO_FIELD ("ten", PROTO_K_STR, proto_submit_t, tenant, PROTO_F_REQUIRED),
    PROTO_FIELD ("ik", PROTO_K_STR, proto_submit_t, idem_key, 0),
    PROTO_FIELD ("ih", PROTO_K_HASH32, proto_submit_t, idem_hash, 0),
    PROTO_FIELD ("dl", PROTO_K_I64, proto_submit_t, deadline_ms, PROTO_F_REQUIRED),
    PROTO_FIELD_ARRAY ("items", proto_submit_t, items, item_count, &s_item_class, PROTO_F_REQUIRED),
    PROTO_FIELD ("tp", PROTO_K_STR, proto_submit_t, topic, 0),
};

/* An event publish carries exactly one item, the event itself. */
static int
s_submit_validate (const void *obj)
{
    const proto_submit_t *self = obj;
    return self->topic && self->item_count != 1 ? -1 : 0;
}

static const proto_class_t s_submit_class = {
    .type = "submit",
    .fields = s_submit_fields,
    .field_count = PROTO_COUNT (s_submit_fields),
    .size = sizeof (proto_submit_t),
    .validate = s_submit_validate,
};

proto_submit_t *
proto_submit_new (void)
{
    return calloc (1, sizeof (proto_submit_t));
}

void
proto_submit_destroy (proto_submit_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_submit_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

proto_item_t *
proto_submit_add_item (proto_submit_t *self)
{
    assert (self);
    void *items = self->items;
    proto_item_t *item = proto_codec_append (&items, &self->item_count, sizeof *item);
    self->items = items;
    return item;
}

int
proto_submit_encode (const proto_submit_t *self, uint8_t **data, size_t *size)
{
    if (self && s_submit_validate (self)) {
        *data = NULL;
        *size = 0;
        return -1;
    }
    return proto_codec_encode (&s_submit_class, self, true, data, size);
}

proto_rc_t
proto_submit_decode (const uint8_t *data, size_t size, proto_submit_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_submit_t *self = proto_submit_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_submit_class, data, size, self);
    if (rc != PROTO_OK)
        proto_submit_destroy (&self);
    *self_p = self;
    return rc;
}
