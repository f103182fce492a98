/*  proto_heartbeat.c — heartbeat: scheduler -> ingress ("hb" topic), deliverer -> scheduler.
 *
 *  {"t":"heartbeat","v":1, "from":str, "at":int, "cap":uint, "free":uint,
 *   "ready":bool, "stop":bool}
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static const proto_field_t s_heartbeat_fields[] = {
    PROTO_FIELD ("from", PROTO_K_STR, proto_heartbeat_t, from, PROTO_F_REQUIRED),
    PROTO_FIELD ("at", PROTO_K_I64, proto_heartbeat_t, at_ms, PROTO_F_REQUIRED),
    PROTO_FIELD ("cap", PROTO_K_U32, proto_heartbeat_t, capacity, 0),
    PROTO_FIELD ("free", PROTO_K_U32, proto_heartbeat_t, free, 0),
    PROTO_FIELD ("ready", PROTO_K_BOOL, proto_heartbeat_t, ready, 0),
    PROTO_FIELD ("stop", PROTO_K_BOOL, proto_heartbeat_t, stopping, 0),
};

static const proto_class_t s_heartbeat_class = {
    .type = "heartbeat",
    .fields = s_heartbeat_fields,
    .field_count = PROTO_COUNT (s_heartbeat_fields),
    .size = sizeof (proto_heartbeat_t),
};

proto_heartbeat_t *
proto_heartbeat_new (void)
{
    return calloc (1, sizeof (proto_heartbeat_t));
}

void
proto_heartbeat_destroy (proto_heartbeat_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_heartbeat_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

int
proto_heartbeat_encode (const proto_heartbeat_t *self, uint8_t **data, size_t *size)
{
    return proto_codec_encode (&s_heartbeat_class, self, true, data, size);
}

proto_rc_t
proto_heartbeat_decode (const uint8_t *data, size_t size, proto_heartbeat_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_heartbeat_t *self = proto_heartbeat_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_heartbeat_class, data, size, self);
    if (rc != PROTO_OK)
        proto_heartbeat_destroy (&self);
    *self_p = self;
    return rc;
}
