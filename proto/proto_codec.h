/*  proto_codec.h — internal to proto/: the table-driven msgpack codec.
 *
 *  Every wire message is described once, as a table of fields (key, kind,
 *  offset in the C struct, flags). The same table drives the encoder, the
 *  decoder and the destructor, so a key cannot be encoded under one name and
 *  decoded under another. The per-message files (proto_submit.c, ...) hold
 *  the tables and the thin public functions declared in proto.h; the tables
 *  are the layout reference together with proto/README.md.
 *
 *  Not part of the contract: other folders include only proto/proto.h. */
#ifndef PROTO_CODEC_H
#define PROTO_CODEC_H

#include "proto/proto.h"

#include <stddef.h>

typedef enum {
    PROTO_K_STR = 1, /* char *: msgpack str (bin accepted), no NUL inside */
    PROTO_K_BYTES, /* uint8_t * + size_t at count_offset: msgpack bin (str accepted) */
    PROTO_K_HASH32, /* uint8_t[32]: bin of exactly 32 bytes, omitted when all zero */
    PROTO_K_BOOL, /* bool */
    PROTO_K_U16, /* uint16_t */
    PROTO_K_U32, /* uint32_t */
    PROTO_K_U64, /* uint64_t */
    PROTO_K_I64, /* int64_t */
    PROTO_K_ENUM, /* an int-sized enum, within [min, max] */
    PROTO_K_HEADERS, /* proto_header_t * + count: array of [name, value] str pairs */
    PROTO_K_STATS, /* proto_stat_t * + count: map of name str -> int */
    PROTO_K_ARRAY, /* sub->size-byte elements + count: array of maps of class sub */
    PROTO_K_OBJECT, /* pointer to one heap struct of class sub (NULL: absent): a map */
} proto_kind_t;

#define PROTO_F_REQUIRED 1u /* decode fails without it; encode fails when unset */
#define PROTO_F_PRIVATE 2u /* left out by proto_codec_encode (with_private=false) */
#define PROTO_F_NEST_PRIVATE 4u /* ARRAY, OBJECT: nested maps always carry their private fields */

typedef struct proto_class_s proto_class_t;

typedef struct {
    const char *key; /* msgpack map key */
    proto_kind_t kind;
    unsigned flags; /* PROTO_F_* */
    size_t offset; /* of the value in the struct */
    size_t count_offset; /* BYTES, HEADERS, STATS, ARRAY: the size_t count */
    int64_t min, max; /* ENUM: accepted range */
    const proto_class_t *sub; /* ARRAY: element class */
} proto_field_t;

struct proto_class_s {
    const char *type; /* "t" of a top-level frame; NULL for nested maps */
    const proto_field_t *fields;
    size_t field_count; /* at most 62 */
    size_t size; /* sizeof the struct */
    /* Cross-field rules checked after a decode (NULL: none); 0 when valid. */
    int (*validate) (const void *obj);
};

#define PROTO_FIELD(k, kd, T, m, fl)                                                               \
    {                                                                                              \
        .key = (k), .kind = (kd), .flags = (fl), .offset = offsetof (T, m)                         \
    }
#define PROTO_FIELD_N(k, kd, T, m, n, fl)                                                          \
    {                                                                                              \
        .key = (k), .kind = (kd), .flags = (fl), .offset = offsetof (T, m),                        \
        .count_offset = offsetof (T, n)                                                            \
    }
#define PROTO_FIELD_ENUM(k, T, m, lo, hi, fl)                                                      \
    {                                                                                              \
        .key = (k), .kind = PROTO_K_ENUM, .flags = (fl), .offset = offsetof (T, m), .min = (lo),   \
        .max = (hi)                                                                                \
    }
#define PROTO_FIELD_ARRAY(k, T, m, n, cls, fl)                                                     \
    {                                                                                              \
        .key = (k), .kind = PROTO_K_ARRAY, .flags = (fl), .offset = offsetof (T, m),               \
        .count_offset = offsetof (T, n), .sub = (cls)                                              \
    }
#define PROTO_FIELD_OBJECT(k, T, m, cls, fl)                                                       \
    {                                                                                              \
        .key = (k), .kind = PROTO_K_OBJECT, .flags = (fl), .offset = offsetof (T, m), .sub = (cls) \
    }
#define PROTO_COUNT(a) (sizeof (a) / sizeof ((a)[0]))

/* The record map without "t"/"v", as nested in reply.records (proto_record.c). */
extern const proto_class_t proto_record_nested_class;

/* The subscription map without "t"/"v", as nested in command.sub and
 * reply.subs (proto_subscription.c); nothing required, no cross-field check. */
extern const proto_class_t proto_subscription_nested_class;

/* Encodes obj as one map ("t" and "v" first when cls->type is set) into a
 * heap buffer the caller frees. -1 on ENOMEM, on a required field left
 * unset, an enum out of range, or a frame over PROTO_MAX_FRAME. */
int proto_codec_encode (const proto_class_t *cls, const void *obj, bool with_private,
                        uint8_t **data, size_t *size);

/* Decodes a top-level frame of class cls into obj (zeroed or holding its
 * defaults, owning nothing yet). On failure obj may hold partial results:
 * the caller releases them with proto_codec_clear. */
proto_rc_t proto_codec_decode (const proto_class_t *cls, const uint8_t *data, size_t size,
                               void *obj);

/* Frees everything obj owns (not obj itself) and zeroes those fields. */
void proto_codec_clear (const proto_class_t *cls, void *obj);

/* Grows *array (of *count elements of elem_size bytes) by one zeroed element
 * and returns it; NULL on ENOMEM (array unchanged). Earlier element pointers
 * are invalidated. */
void *proto_codec_append (void **array, size_t *count, size_t elem_size);

#endif
