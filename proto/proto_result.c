/*  proto_result.c — result: deliverer -> scheduler, the outcome of one attempt.
 *
 *  {"t":"result","v":1, "id":str, "att":uint, "dlv":str?, "sc":uint,
 *   "lat":uint, "err":str?, "ra":int, "body":str?, "at":int}
 *  A missing "ra" decodes as -1 (no Retry-After).
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static const proto_field_t s_result_fields[] = {
    PROTO_FIELD ("id", PROTO_K_STR, proto_result_t, id, PROTO_F_REQUIRED),
    PROTO_FIELD ("att", PROTO_K_U32, proto_result_t, attempt, PROTO_F_REQUIRED),
    PROTO_FIELD ("dlv", PROTO_K_STR, proto_result_t, deliverer, 0),
    PROTO_FIELD ("sc", PROTO_K_U16, proto_result_t, status_code, 0),
    PROTO_FIELD ("lat", PROTO_K_U32, proto_result_t, latency_ms, 0),
    PROTO_FIELD ("err", PROTO_K_STR, proto_result_t, error, 0),
    PROTO_FIELD ("ra", PROTO_K_I64, proto_result_t, retry_after_ms, 0),
    PROTO_FIELD ("body", PROTO_K_STR, proto_result_t, body, 0),
    PROTO_FIELD ("at", PROTO_K_I64, proto_result_t, at_ms, 0),
};

static const proto_class_t s_result_class = {
    .type = "result",
    .fields = s_result_fields,
    .field_count = PROTO_COUNT (s_result_fields),
    .size = sizeof (proto_result_t),
};

proto_result_t *
proto_result_new (void)
{
    proto_result_t *self = calloc (1, sizeof (proto_result_t));
    if (self)
        self->retry_after_ms = -1;
    return self;
}

void
proto_result_destroy (proto_result_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_result_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

int
proto_result_encode (const proto_result_t *self, uint8_t **data, size_t *size)
{
    return proto_codec_encode (&s_result_class, self, true, data, size);
}

proto_rc_t
proto_result_decode (const uint8_t *data, size_t size, proto_result_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_result_t *self = proto_result_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_result_class, data, size, self);
    if (rc != PROTO_OK)
        proto_result_destroy (&self);
    *self_p = self;
    return rc;
}
