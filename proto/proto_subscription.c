/*  proto_subscription.c — subscription: an event-broker subscription, as
 *  stored by the scheduler and carried in commands and replies.
 *
 *  {"t":"subscription","v":1, "id":str, "ten":str?*, "tp":str, "url":str,
 *   "hd":[[n,v],...]?, "desc":str?, "sec":str?*, "psec":str?*, "rot":int,
 *   "en":bool, "dr":str?, "rl":uint, "fs":int, "cr":int, "up":int}
 *  (* private: left out with with_private = false)
 *  A top-level frame requires "id", "tp" and "url". command.sub and
 *  reply.subs hold the same map without "t"/"v" and with nothing required:
 *  an update carries only the fields its update_mask names. reply.subs are
 *  always encoded with their private fields (the internal socket is
 *  trusted; the ingress decides when a secret is shown).
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static int
s_subscription_validate (const void *obj)
{
    const proto_subscription_t *self = obj;
    return self->id && self->topic && self->url ? 0 : -1;
}

static const proto_field_t s_subscription_fields[] = {
    PROTO_FIELD ("id", PROTO_K_STR, proto_subscription_t, id, 0),
    PROTO_FIELD ("ten", PROTO_K_STR, proto_subscription_t, tenant, PROTO_F_PRIVATE),
    PROTO_FIELD ("tp", PROTO_K_STR, proto_subscription_t, topic, 0),
    PROTO_FIELD ("url", PROTO_K_STR, proto_subscription_t, url, 0),
    PROTO_FIELD_N ("hd", PROTO_K_HEADERS, proto_subscription_t, headers, header_count, 0),
    PROTO_FIELD ("desc", PROTO_K_STR, proto_subscription_t, description, 0),
    PROTO_FIELD ("sec", PROTO_K_STR, proto_subscription_t, secret, PROTO_F_PRIVATE),
    PROTO_FIELD ("psec", PROTO_K_STR, proto_subscription_t, previous_secret, PROTO_F_PRIVATE),
    PROTO_FIELD ("rot", PROTO_K_I64, proto_subscription_t, rotated_ms, 0),
    PROTO_FIELD ("en", PROTO_K_BOOL, proto_subscription_t, enabled, 0),
    PROTO_FIELD ("dr", PROTO_K_STR, proto_subscription_t, disabled_reason, 0),
    PROTO_FIELD ("rl", PROTO_K_U32, proto_subscription_t, rate_limit, 0),
    PROTO_FIELD ("fs", PROTO_K_I64, proto_subscription_t, failing_since_ms, 0),
    PROTO_FIELD ("cr", PROTO_K_I64, proto_subscription_t, created_ms, 0),
    PROTO_FIELD ("up", PROTO_K_I64, proto_subscription_t, updated_ms, 0),
};

static const proto_class_t s_subscription_class = {
    .type = "subscription",
    .fields = s_subscription_fields,
    .field_count = PROTO_COUNT (s_subscription_fields),
    .size = sizeof (proto_subscription_t),
    .validate = s_subscription_validate,
};

const proto_class_t proto_subscription_nested_class = {
    .type = NULL,
    .fields = s_subscription_fields,
    .field_count = PROTO_COUNT (s_subscription_fields),
    .size = sizeof (proto_subscription_t),
};

proto_subscription_t *
proto_subscription_new (void)
{
    return calloc (1, sizeof (proto_subscription_t));
}

void
proto_subscription_clear (proto_subscription_t *self)
{
    if (self)
        proto_codec_clear (&s_subscription_class, self);
}

void
proto_subscription_destroy (proto_subscription_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_subscription_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

int
proto_subscription_encode (const proto_subscription_t *self, bool with_private, uint8_t **data,
                           size_t *size)
{
    if (self && s_subscription_validate (self)) {
        *data = NULL;
        *size = 0;
        return -1;
    }
    return proto_codec_encode (&s_subscription_class, self, with_private, data, size);
}

proto_rc_t
proto_subscription_decode (const uint8_t *data, size_t size, proto_subscription_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_subscription_t *self = proto_subscription_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_subscription_class, data, size, self);
    if (rc != PROTO_OK)
        proto_subscription_destroy (&self);
    *self_p = self;
    return rc;
}
