/*  proto_dispatch.c — dispatch: scheduler -> deliverer, one attempt to make.
 *
 *  {"t":"dispatch","v":1, "id":str, "att":uint, "due":int, "lease":int,
 *   "url":str, "hd":[[name,value],...]?, "pl":bin, "sec":str?, "to":uint,
 *   "rid":str?, "trp":str?}
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static const proto_field_t s_dispatch_fields[] = {
    PROTO_FIELD ("id", PROTO_K_STR, proto_dispatch_t, id, PROTO_F_REQUIRED),
    PROTO_FIELD ("att", PROTO_K_U32, proto_dispatch_t, attempt, PROTO_F_REQUIRED),
    PROTO_FIELD ("due", PROTO_K_I64, proto_dispatch_t, due_ms, 0),
    PROTO_FIELD ("lease", PROTO_K_I64, proto_dispatch_t, lease_until_ms, PROTO_F_REQUIRED),
    PROTO_FIELD ("url", PROTO_K_STR, proto_dispatch_t, url, PROTO_F_REQUIRED),
    PROTO_FIELD_N ("hd", PROTO_K_HEADERS, proto_dispatch_t, headers, header_count, 0),
    PROTO_FIELD_N ("pl", PROTO_K_BYTES, proto_dispatch_t, payload, payload_size, PROTO_F_REQUIRED),
    PROTO_FIELD ("sec", PROTO_K_STR, proto_dispatch_t, secret, 0),
    PROTO_FIELD ("to", PROTO_K_U32, proto_dispatch_t, timeout_ms, PROTO_F_REQUIRED),
    PROTO_FIELD ("rid", PROTO_K_STR, proto_dispatch_t, request_id, 0),
    PROTO_FIELD ("trp", PROTO_K_STR, proto_dispatch_t, traceparent, 0),
};

static const proto_class_t s_dispatch_class = {
    .type = "dispatch",
    .fields = s_dispatch_fields,
    .field_count = PROTO_COUNT (s_dispatch_fields),
    .size = sizeof (proto_dispatch_t),
};

proto_dispatch_t *
proto_dispatch_new (void)
{
    return calloc (1, sizeof (proto_dispatch_t));
}

void
proto_dispatch_destroy (proto_dispatch_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_dispatch_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

int
proto_dispatch_encode (const proto_dispatch_t *self, uint8_t **data, size_t *size)
{
    return proto_codec_encode (&s_dispatch_class, self, true, data, size);
}

proto_rc_t
proto_dispatch_decode (const uint8_t *data, size_t size, proto_dispatch_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_dispatch_t *self = proto_dispatch_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_dispatch_class, data, size, self);
    if (rc != PROTO_OK)
        proto_dispatch_destroy (&self);
    *self_p = self;
    return rc;
}
