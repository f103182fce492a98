/*  proto_command.c — command: ingress -> scheduler, queries and state changes.
 *
 *  {"t":"command","v":1, "rt":str, "corr":uint, "rid":str?, "ten":str,
 *   "op":uint (proto_op_t), "id":str?, "lim":uint, "after":str?, "dl":int,
 *   "tp":str?, "sub":{subscription map without "t"/"v"}?, "um":uint}
 *  GET, CANCEL, REPLAY, SUB_GET, SUB_DELETE, SUB_ROTATE, SUB_UPDATE and
 *  EVENT_GET require "id"; SUB_CREATE requires "sub" with "tp" and "url";
 *  SUB_ROTATE requires "sub" with "sec" (the new secret, made by the
 *  ingress); SUB_UPDATE requires "sub" (the fields "um" names).
 *
 *  proto/README.md describes every key; proto_codec.c does the work. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <stdlib.h>

static int
s_command_validate (const void *obj)
{
    const proto_command_t *self = obj;
    const proto_subscription_t *sub = self->subscription;
    switch (self->op) {
    case PROTO_OP_GET:
    case PROTO_OP_CANCEL:
    case PROTO_OP_REPLAY:
    case PROTO_OP_SUB_GET:
    case PROTO_OP_SUB_DELETE:
    case PROTO_OP_EVENT_GET:
        return self->id ? 0 : -1;
    case PROTO_OP_SUB_CREATE:
        return sub && sub->topic && sub->url ? 0 : -1;
    case PROTO_OP_SUB_ROTATE:
        return self->id && sub && sub->secret ? 0 : -1;
    case PROTO_OP_SUB_UPDATE:
        return self->id && sub ? 0 : -1;
    default:
        return 0;
    }
}

static const proto_field_t s_command_fields[] = {
    PROTO_FIELD ("rt", PROTO_K_STR, proto_command_t, reply_to, PROTO_F_REQUIRED),
    PROTO_FIELD ("corr", PROTO_K_U64, proto_command_t, corr, PROTO_F_REQUIRED),
    PROTO_FIELD ("rid", PROTO_K_STR, proto_command_t, request_id, 0),
    PROTO_FIELD ("ten", PROTO_K_STR, proto_command_t, tenant, PROTO_F_REQUIRED),
    PROTO_FIELD_ENUM ("op", proto_command_t, op, PROTO_OP_GET, PROTO_OP_EVENT_GET,
                      PROTO_F_REQUIRED),
    PROTO_FIELD ("id", PROTO_K_STR, proto_command_t, id, 0),
    PROTO_FIELD ("lim", PROTO_K_U32, proto_command_t, limit, 0),
    PROTO_FIELD ("after", PROTO_K_STR, proto_command_t, after, 0),
    PROTO_FIELD ("dl", PROTO_K_I64, proto_command_t, deadline_ms, PROTO_F_REQUIRED),
    PROTO_FIELD ("tp", PROTO_K_STR, proto_command_t, topic, 0),
    PROTO_FIELD_OBJECT ("sub", proto_command_t, subscription, &proto_subscription_nested_class, 0),
    PROTO_FIELD ("um", PROTO_K_U32, proto_command_t, update_mask, 0),
};

static const proto_class_t s_command_class = {
    .type = "command",
    .fields = s_command_fields,
    .field_count = PROTO_COUNT (s_command_fields),
    .size = sizeof (proto_command_t),
    .validate = s_command_validate,
};

proto_command_t *
proto_command_new (void)
{
    return calloc (1, sizeof (proto_command_t));
}

void
proto_command_destroy (proto_command_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        proto_codec_clear (&s_command_class, *self_p);
        free (*self_p);
        *self_p = NULL;
    }
}

int
proto_command_encode (const proto_command_t *self, uint8_t **data, size_t *size)
{
    if (self && s_command_validate (self)) {
        *data = NULL;
        *size = 0;
        return -1;
    }
    return proto_codec_encode (&s_command_class, self, true, data, size);
}

proto_rc_t
proto_command_decode (const uint8_t *data, size_t size, proto_command_t **self_p)
{
    assert (self_p);
    *self_p = NULL;
    proto_command_t *self = proto_command_new ();
    if (!self)
        return PROTO_ENOMEM;
    proto_rc_t rc = proto_codec_decode (&s_command_class, data, size, self);
    if (rc != PROTO_OK)
        proto_command_destroy (&self);
    *self_p = self;
    return rc;
}
