/*  proto_codec.c — the table-driven msgpack encoder, decoder and destructor.
 *
 *  Encoding packs one map per struct with msgpack-c's packer: "t" and "v"
 *  first on top-level frames, then every field of the table that is set
 *  (integers and booleans always; strings, bytes, lists and nested objects
 *  when present).
 *
 *  Decoding never hands bytes to msgpack-c before proto_check () has
 *  accepted them (see proto_check.c); the unpacked object tree points into
 *  the frame, and every string is copied out (NUL-terminated, NUL inside
 *  refused) before the tree is freed. Known keys are type- and
 *  range-checked, a known key given twice is malformed (two readers could
 *  otherwise disagree on the value), unknown and non-string keys are
 *  ignored, and nil counts as absent. */
#include "proto/proto_codec.h"

#include <assert.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* msgpack-c starts every sbuffer and every unpack zone with an 8 KiB
 * allocation: one malloc/free of a "large" chunk per frame, each making
 * glibc consolidate its fast bins (a few percent of every stage's CPU).
 * Encoding starts from a buffer the size of a typical frame instead, and
 * decoding reuses one zone per thread, cleared after each frame (the tree
 * only lives until its strings are copied out). */
#define S_ENCODE_INITIAL 512 /* first buffer of an encode, doubled as needed */
#define S_ZONE_CHUNK 4096 /* chunk of a thread's decode zone */

static pthread_once_t s_zone_once = PTHREAD_ONCE_INIT;
static pthread_key_t s_zone_key;
static bool s_zone_key_ok;

static void
s_zone_free (void *zone)
{
    msgpack_zone_free (zone);
}

static void
s_zone_key_make (void)
{
    s_zone_key_ok = pthread_key_create (&s_zone_key, s_zone_free) == 0;
}

/* This thread's decode zone (made on first use, freed at thread exit), or
 * NULL when none can be had: the caller then uses a zone of its own. */
static msgpack_zone *
s_thread_zone (void)
{
    pthread_once (&s_zone_once, s_zone_key_make);
    if (!s_zone_key_ok)
        return NULL;
    msgpack_zone *zone = pthread_getspecific (s_zone_key);
    if (!zone) {
        zone = msgpack_zone_new (S_ZONE_CHUNK);
        if (zone && pthread_setspecific (s_zone_key, zone) != 0) {
            msgpack_zone_free (zone);
            zone = NULL;
        }
    }
    return zone;
}

_Static_assert(sizeof (proto_op_t) == sizeof (int), "enums are stored as int");
_Static_assert(sizeof (proto_status_t) == sizeof (int), "enums are stored as int");

const char *
proto_strerror (proto_rc_t rc)
{
    switch (rc) {
    case PROTO_OK:
        return "ok";
    case PROTO_EMALFORMED:
        return "malformed frame";
    case PROTO_EVERSION:
        return "unsupported protocol version";
    case PROTO_ETYPE:
        return "unexpected message type";
    case PROTO_ENOMEM:
        return "out of memory";
    }
    return "unknown error";
}

const char *
proto_status_name (proto_status_t st)
{
    switch (st) {
    case PROTO_ST_SCHEDULED:
        return "scheduled";
    case PROTO_ST_IN_FLIGHT:
        return "in_flight";
    case PROTO_ST_RETRYING:
        return "retrying";
    case PROTO_ST_DELIVERED:
        return "delivered";
    case PROTO_ST_DEAD:
        return "dead";
    case PROTO_ST_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

/* --- field access -------------------------------------------------------- */

#define S_AT(base, off, T) ((T *)(void *)((uint8_t *)(base) + (off)))
#define S_CAT(base, off, T) ((const T *)(const void *)((const uint8_t *)(base) + (off)))

/* The list pointer of field f (any element type) without type punning. */
static void *
s_get_ptr (const void *obj, size_t offset)
{
    void *ptr;
    memcpy (&ptr, (const uint8_t *)obj + offset, sizeof ptr);
    return ptr;
}

static void
s_set_ptr (void *obj, size_t offset, void *ptr)
{
    memcpy ((uint8_t *)obj + offset, &ptr, sizeof ptr);
}

/* --- encoding ------------------------------------------------------------ */

/* 1 when f is to be packed, 0 when left out, -1 when its value is invalid. */
static int
s_field_state (const proto_field_t *f, const void *obj, bool with_private)
{
    if ((f->flags & PROTO_F_PRIVATE) && !with_private)
        return 0;
    bool required = (f->flags & PROTO_F_REQUIRED) != 0;
    switch (f->kind) {
    case PROTO_K_STR:
        if (*S_CAT (obj, f->offset, char *))
            return 1;
        return required ? -1 : 0;
    case PROTO_K_BYTES: {
        size_t count = *S_CAT (obj, f->count_offset, size_t);
        if (*S_CAT (obj, f->offset, uint8_t *))
            return 1;
        return count > 0 || required ? -1 : 0;
    }
    case PROTO_K_HASH32: {
        const uint8_t *hash = S_CAT (obj, f->offset, uint8_t);
        for (size_t i = 0; i < 32; i++)
            if (hash[i])
                return 1;
        return required ? 1 : 0;
    }
    case PROTO_K_HEADERS:
    case PROTO_K_STATS:
    case PROTO_K_ARRAY: {
        size_t count = *S_CAT (obj, f->count_offset, size_t);
        if (count > 0 && !s_get_ptr (obj, f->offset))
            return -1;
        return count > 0 || required ? 1 : 0;
    }
    case PROTO_K_OBJECT:
        if (s_get_ptr (obj, f->offset))
            return 1;
        return required ? -1 : 0;
    default:
        return 1;
    }
}

static int
s_pack_str (msgpack_packer *pk, const char *s)
{
    size_t len = strlen (s);
    if (len > UINT32_MAX)
        return -1;
    return msgpack_pack_str_with_body (pk, s, len);
}

static int s_encode_map (msgpack_packer *pk, const proto_class_t *cls, const void *obj,
                         bool with_private);

static int
s_encode_value (msgpack_packer *pk, const proto_field_t *f, const void *obj, bool with_private)
{
    switch (f->kind) {
    case PROTO_K_STR:
        return s_pack_str (pk, *S_CAT (obj, f->offset, char *));
    case PROTO_K_BYTES: {
        size_t count = *S_CAT (obj, f->count_offset, size_t);
        if (count > UINT32_MAX || msgpack_pack_bin (pk, count))
            return -1;
        return msgpack_pack_bin_body (pk, *S_CAT (obj, f->offset, uint8_t *), count);
    }
    case PROTO_K_HASH32:
        if (msgpack_pack_bin (pk, 32))
            return -1;
        return msgpack_pack_bin_body (pk, S_CAT (obj, f->offset, uint8_t), 32);
    case PROTO_K_BOOL:
        return *S_CAT (obj, f->offset, bool) ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
    case PROTO_K_U16:
        return msgpack_pack_uint64 (pk, *S_CAT (obj, f->offset, uint16_t));
    case PROTO_K_U32:
        return msgpack_pack_uint64 (pk, *S_CAT (obj, f->offset, uint32_t));
    case PROTO_K_U64:
        return msgpack_pack_uint64 (pk, *S_CAT (obj, f->offset, uint64_t));
    case PROTO_K_I64:
        return msgpack_pack_int64 (pk, *S_CAT (obj, f->offset, int64_t));
    case PROTO_K_ENUM: {
        int value;
        memcpy (&value, S_CAT (obj, f->offset, uint8_t), sizeof value);
        if (value < f->min || value > f->max)
            return -1;
        return msgpack_pack_int64 (pk, value);
    }
    case PROTO_K_HEADERS: {
        const proto_header_t *headers = *S_CAT (obj, f->offset, proto_header_t *);
        size_t count = *S_CAT (obj, f->count_offset, size_t);
        if (count > UINT32_MAX || msgpack_pack_array (pk, count))
            return -1;
        for (size_t i = 0; i < count; i++) {
            if (!headers[i].name || !headers[i].value || msgpack_pack_array (pk, 2) ||
                s_pack_str (pk, headers[i].name) || s_pack_str (pk, headers[i].value))
                return -1;
        }
        return 0;
    }
    case PROTO_K_STATS: {
        const proto_stat_t *stats = *S_CAT (obj, f->offset, proto_stat_t *);
        size_t count = *S_CAT (obj, f->count_offset, size_t);
        if (count > UINT32_MAX || msgpack_pack_map (pk, count))
            return -1;
        for (size_t i = 0; i < count; i++) {
            if (!stats[i].name || s_pack_str (pk, stats[i].name) ||
                msgpack_pack_int64 (pk, stats[i].value))
                return -1;
        }
        return 0;
    }
    case PROTO_K_ARRAY: {
        const uint8_t *elems = s_get_ptr (obj, f->offset);
        size_t count = *S_CAT (obj, f->count_offset, size_t);
        bool nest_private = with_private || (f->flags & PROTO_F_NEST_PRIVATE) != 0;
        if (count > UINT32_MAX || msgpack_pack_array (pk, count))
            return -1;
        for (size_t i = 0; i < count; i++)
            if (s_encode_map (pk, f->sub, elems + i * f->sub->size, nest_private))
                return -1;
        return 0;
    }
    case PROTO_K_OBJECT:
        return s_encode_map (pk, f->sub, s_get_ptr (obj, f->offset),
                             with_private || (f->flags & PROTO_F_NEST_PRIVATE) != 0);
    }
    return -1;
}

static int
s_encode_map (msgpack_packer *pk, const proto_class_t *cls, const void *obj, bool with_private)
{
    size_t pairs = cls->type ? 2 : 0;
    for (size_t i = 0; i < cls->field_count; i++) {
        int state = s_field_state (&cls->fields[i], obj, with_private);
        if (state < 0)
            return -1;
        pairs += (size_t)state;
    }
    if (msgpack_pack_map (pk, pairs))
        return -1;
    if (cls->type && (s_pack_str (pk, "t") || s_pack_str (pk, cls->type) || s_pack_str (pk, "v") ||
                      msgpack_pack_uint64 (pk, PROTO_VERSION)))
        return -1;
    for (size_t i = 0; i < cls->field_count; i++) {
        const proto_field_t *f = &cls->fields[i];
        if (s_field_state (f, obj, with_private) == 1 &&
            (s_pack_str (pk, f->key) || s_encode_value (pk, f, obj, with_private)))
            return -1;
    }
    return 0;
}

int
proto_codec_encode (const proto_class_t *cls, const void *obj, bool with_private, uint8_t **data,
                    size_t *size)
{
    assert (cls && data && size);
    *data = NULL;
    *size = 0;
    if (!obj)
        return -1;
    msgpack_sbuffer sbuf;
    msgpack_packer pk;
    msgpack_sbuffer_init (&sbuf);
    /* msgpack_sbuffer_write doubles alloc when it is short: a smaller start */
    sbuf.data = malloc (S_ENCODE_INITIAL);
    if (!sbuf.data)
        return -1;
    sbuf.alloc = S_ENCODE_INITIAL;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    if (s_encode_map (&pk, cls, obj, with_private) || sbuf.size > PROTO_MAX_FRAME) {
        msgpack_sbuffer_destroy (&sbuf);
        return -1;
    }
    /* The sbuffer grows with realloc: its buffer is ours to free (). */
    *size = sbuf.size;
    *data = (uint8_t *)msgpack_sbuffer_release (&sbuf);
    return 0;
}

/* --- decoding ------------------------------------------------------------ */

static int
s_text (const msgpack_object *o, const char **ptr, size_t *len)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        *ptr = o->via.str.ptr;
        *len = o->via.str.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *ptr = o->via.bin.ptr;
        *len = o->via.bin.size;
        return 0;
    }
    return -1;
}

static bool
s_text_is (const msgpack_object *o, const char *text)
{
    const char *ptr;
    size_t len;
    return s_text (o, &ptr, &len) == 0 && len == strlen (text) && memcmp (ptr, text, len) == 0;
}

static proto_rc_t
s_copy_str (const msgpack_object *o, char **out)
{
    const char *ptr;
    size_t len;
    if (s_text (o, &ptr, &len) || memchr (ptr, '\0', len))
        return PROTO_EMALFORMED;
    char *copy = malloc (len + 1);
    if (!copy)
        return PROTO_ENOMEM;
    memcpy (copy, ptr, len);
    copy[len] = '\0';
    *out = copy;
    return PROTO_OK;
}

static proto_rc_t
s_get_u64 (const msgpack_object *o, uint64_t max, uint64_t *value)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return PROTO_EMALFORMED;
    *value = o->via.u64;
    return PROTO_OK;
}

static proto_rc_t
s_get_i64 (const msgpack_object *o, int64_t min, int64_t max, int64_t *value)
{
    int64_t v;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX)
        v = (int64_t)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        v = o->via.i64;
    else
        return PROTO_EMALFORMED;
    if (v < min || v > max)
        return PROTO_EMALFORMED;
    *value = v;
    return PROTO_OK;
}

/* Returns the zeroed slot for element i of list field f while decoding,
 * growing the list by doubling, so memory follows the elements actually
 * decoded rather than the count the frame announces; the field's count
 * becomes i + 1 so a later failure frees what was decoded. NULL on ENOMEM. */
static void *
s_list_slot (void *obj, const proto_field_t *f, size_t *cap, size_t i, size_t elem_size,
             size_t total)
{
    uint8_t *array = s_get_ptr (obj, f->offset);
    if (i >= *cap) {
        size_t new_cap = *cap ? *cap * 2 : 4;
        if (new_cap > total)
            new_cap = total;
        if (new_cap > SIZE_MAX / elem_size)
            return NULL;
        uint8_t *grown = realloc (array, new_cap * elem_size);
        if (!grown)
            return NULL;
        memset (grown + *cap * elem_size, 0, (new_cap - *cap) * elem_size);
        array = grown;
        s_set_ptr (obj, f->offset, array);
        *cap = new_cap;
    }
    *S_AT (obj, f->count_offset, size_t) = i + 1;
    return array + i * elem_size;
}

static proto_rc_t s_decode_map (const proto_class_t *cls, const msgpack_object *o, void *obj,
                                bool top);

static proto_rc_t
s_decode_value (const proto_field_t *f, const msgpack_object *o, void *obj)
{
    proto_rc_t rc;
    uint64_t u;
    int64_t i;
    switch (f->kind) {
    case PROTO_K_STR:
        return s_copy_str (o, S_AT (obj, f->offset, char *));
    case PROTO_K_BYTES: {
        const char *ptr;
        size_t len;
        if (s_text (o, &ptr, &len))
            return PROTO_EMALFORMED;
        uint8_t *copy = malloc (len ? len : 1);
        if (!copy)
            return PROTO_ENOMEM;
        memcpy (copy, ptr, len);
        *S_AT (obj, f->offset, uint8_t *) = copy;
        *S_AT (obj, f->count_offset, size_t) = len;
        return PROTO_OK;
    }
    case PROTO_K_HASH32: {
        const char *ptr;
        size_t len;
        if (s_text (o, &ptr, &len) || len != 32)
            return PROTO_EMALFORMED;
        memcpy (S_AT (obj, f->offset, uint8_t), ptr, 32);
        return PROTO_OK;
    }
    case PROTO_K_BOOL:
        if (o->type != MSGPACK_OBJECT_BOOLEAN)
            return PROTO_EMALFORMED;
        *S_AT (obj, f->offset, bool) = o->via.boolean;
        return PROTO_OK;
    case PROTO_K_U16:
        if ((rc = s_get_u64 (o, UINT16_MAX, &u)))
            return rc;
        *S_AT (obj, f->offset, uint16_t) = (uint16_t)u;
        return PROTO_OK;
    case PROTO_K_U32:
        if ((rc = s_get_u64 (o, UINT32_MAX, &u)))
            return rc;
        *S_AT (obj, f->offset, uint32_t) = (uint32_t)u;
        return PROTO_OK;
    case PROTO_K_U64:
        if ((rc = s_get_u64 (o, UINT64_MAX, &u)))
            return rc;
        *S_AT (obj, f->offset, uint64_t) = u;
        return PROTO_OK;
    case PROTO_K_I64:
        if ((rc = s_get_i64 (o, INT64_MIN, INT64_MAX, &i)))
            return rc;
        *S_AT (obj, f->offset, int64_t) = i;
        return PROTO_OK;
    case PROTO_K_ENUM: {
        if ((rc = s_get_i64 (o, f->min, f->max, &i)))
            return rc;
        int value = (int)i;
        memcpy (S_AT (obj, f->offset, uint8_t), &value, sizeof value);
        return PROTO_OK;
    }
    case PROTO_K_HEADERS: {
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return PROTO_EMALFORMED;
        size_t cap = 0;
        for (size_t n = 0; n < o->via.array.size; n++) {
            const msgpack_object *pair = &o->via.array.ptr[n];
            proto_header_t *header =
                s_list_slot (obj, f, &cap, n, sizeof *header, o->via.array.size);
            if (!header)
                return PROTO_ENOMEM;
            if (pair->type != MSGPACK_OBJECT_ARRAY || pair->via.array.size != 2)
                return PROTO_EMALFORMED;
            if ((rc = s_copy_str (&pair->via.array.ptr[0], &header->name)) ||
                (rc = s_copy_str (&pair->via.array.ptr[1], &header->value)))
                return rc;
        }
        return PROTO_OK;
    }
    case PROTO_K_STATS: {
        if (o->type != MSGPACK_OBJECT_MAP)
            return PROTO_EMALFORMED;
        size_t cap = 0;
        for (size_t n = 0; n < o->via.map.size; n++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[n];
            proto_stat_t *stat = s_list_slot (obj, f, &cap, n, sizeof *stat, o->via.map.size);
            if (!stat)
                return PROTO_ENOMEM;
            if ((rc = s_copy_str (&kv->key, &stat->name)) ||
                (rc = s_get_i64 (&kv->val, INT64_MIN, INT64_MAX, &stat->value)))
                return rc;
        }
        return PROTO_OK;
    }
    case PROTO_K_ARRAY: {
        if (o->type != MSGPACK_OBJECT_ARRAY)
            return PROTO_EMALFORMED;
        size_t cap = 0;
        for (size_t n = 0; n < o->via.array.size; n++) {
            void *elem = s_list_slot (obj, f, &cap, n, f->sub->size, o->via.array.size);
            if (!elem)
                return PROTO_ENOMEM;
            if ((rc = s_decode_map (f->sub, &o->via.array.ptr[n], elem, false)))
                return rc;
        }
        return PROTO_OK;
    }
    case PROTO_K_OBJECT: {
        if (o->type != MSGPACK_OBJECT_MAP)
            return PROTO_EMALFORMED;
        void *elem = calloc (1, f->sub->size);
        if (!elem)
            return PROTO_ENOMEM;
        s_set_ptr (obj, f->offset, elem); /* owned from here: a failure below frees it */
        return s_decode_map (f->sub, o, elem, false);
    }
    }
    return PROTO_EMALFORMED;
}

static proto_rc_t
s_decode_map (const proto_class_t *cls, const msgpack_object *o, void *obj, bool top)
{
    assert (cls->field_count <= 62);
    if (o->type != MSGPACK_OBJECT_MAP)
        return PROTO_EMALFORMED;
    uint64_t seen = 0;
    size_t next = 0; /* the field after the last one found: encoders write table order */
    for (size_t k = 0; k < o->via.map.size; k++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[k];
        if (top && (s_text_is (&kv->key, "t") || s_text_is (&kv->key, "v")))
            continue; /* checked by s_check_header */
        size_t i = cls->field_count;
        for (size_t n = 0; n < cls->field_count; n++) {
            size_t j = (next + n) % cls->field_count;
            if (s_text_is (&kv->key, cls->fields[j].key)) {
                i = j;
                break;
            }
        }
        if (i == cls->field_count)
            continue; /* unknown key: newer writers may add fields */
        next = i + 1;
        const proto_field_t *f = &cls->fields[i];
        if (seen & ((uint64_t)1 << i))
            return PROTO_EMALFORMED;
        seen |= (uint64_t)1 << i;
        if (kv->val.type == MSGPACK_OBJECT_NIL) {
            if (f->flags & PROTO_F_REQUIRED)
                return PROTO_EMALFORMED;
            continue;
        }
        proto_rc_t rc = s_decode_value (f, &kv->val, obj);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < cls->field_count; i++)
        if ((cls->fields[i].flags & PROTO_F_REQUIRED) && !(seen & ((uint64_t)1 << i)))
            return PROTO_EMALFORMED;
    if (cls->validate && cls->validate (obj))
        return PROTO_EMALFORMED;
    return PROTO_OK;
}

/* "t" must name type and "v" be PROTO_VERSION; each given exactly once. */
static proto_rc_t
s_check_header (const msgpack_object *o, const char *type)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return PROTO_EMALFORMED;
    const msgpack_object *t = NULL, *v = NULL;
    for (size_t k = 0; k < o->via.map.size; k++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[k];
        const msgpack_object **slot = s_text_is (&kv->key, "t")   ? &t
                                      : s_text_is (&kv->key, "v") ? &v
                                                                  : NULL;
        if (!slot)
            continue;
        if (*slot)
            return PROTO_EMALFORMED;
        *slot = &kv->val;
    }
    const char *ptr;
    size_t len;
    if (!t || s_text (t, &ptr, &len))
        return PROTO_EMALFORMED;
    if (!s_text_is (t, type))
        return PROTO_ETYPE;
    if (!v ||
        (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER && v->type != MSGPACK_OBJECT_NEGATIVE_INTEGER))
        return PROTO_EMALFORMED;
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 != PROTO_VERSION)
        return PROTO_EVERSION;
    return PROTO_OK;
}

proto_rc_t
proto_codec_decode (const proto_class_t *cls, const uint8_t *data, size_t size, void *obj)
{
    assert (cls && cls->type && obj);
    proto_rc_t rc = proto_check (data, size);
    if (rc)
        return rc;
    msgpack_zone *zone = s_thread_zone (), *own = NULL;
    if (!zone && !(zone = own = msgpack_zone_new (S_ZONE_CHUNK)))
        return PROTO_ENOMEM;
    msgpack_object root;
    size_t offset = 0;
    msgpack_unpack_return ur = msgpack_unpack ((const char *)data, size, &offset, zone, &root);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = PROTO_ENOMEM;
    else if (ur != MSGPACK_UNPACK_SUCCESS || offset != size)
        rc = PROTO_EMALFORMED;
    else {
        rc = s_check_header (&root, cls->type);
        if (rc == PROTO_OK)
            rc = s_decode_map (cls, &root, obj, true);
    }
    if (own)
        msgpack_zone_free (own);
    else
        msgpack_zone_clear (zone);
    return rc;
}

/* --- ownership ----------------------------------------------------------- */

void
proto_codec_clear (const proto_class_t *cls, void *obj)
{
    for (size_t i = 0; i < cls->field_count; i++) {
        const proto_field_t *f = &cls->fields[i];
        switch (f->kind) {
        case PROTO_K_STR: {
            char **s = S_AT (obj, f->offset, char *);
            free (*s);
            *s = NULL;
            break;
        }
        case PROTO_K_BYTES: {
            uint8_t **bytes = S_AT (obj, f->offset, uint8_t *);
            free (*bytes);
            *bytes = NULL;
            *S_AT (obj, f->count_offset, size_t) = 0;
            break;
        }
        case PROTO_K_HEADERS: {
            proto_header_t **headers = S_AT (obj, f->offset, proto_header_t *);
            size_t *count = S_AT (obj, f->count_offset, size_t);
            for (size_t n = 0; *headers && n < *count; n++) {
                free ((*headers)[n].name);
                free ((*headers)[n].value);
            }
            free (*headers);
            *headers = NULL;
            *count = 0;
            break;
        }
        case PROTO_K_STATS: {
            proto_stat_t **stats = S_AT (obj, f->offset, proto_stat_t *);
            size_t *count = S_AT (obj, f->count_offset, size_t);
            for (size_t n = 0; *stats && n < *count; n++)
                free ((*stats)[n].name);
            free (*stats);
            *stats = NULL;
            *count = 0;
            break;
        }
        case PROTO_K_ARRAY: {
            uint8_t *elems = s_get_ptr (obj, f->offset);
            size_t *count = S_AT (obj, f->count_offset, size_t);
            for (size_t n = 0; elems && n < *count; n++)
                proto_codec_clear (f->sub, elems + n * f->sub->size);
            free (elems);
            s_set_ptr (obj, f->offset, NULL);
            *count = 0;
            break;
        }
        case PROTO_K_OBJECT: {
            void *elem = s_get_ptr (obj, f->offset);
            if (elem)
                proto_codec_clear (f->sub, elem);
            free (elem);
            s_set_ptr (obj, f->offset, NULL);
            break;
        }
        default:
            break;
        }
    }
}

void *
proto_codec_append (void **array, size_t *count, size_t elem_size)
{
    assert (array && count && elem_size);
    if (*count >= SIZE_MAX / elem_size - 1)
        return NULL;
    uint8_t *grown = realloc (*array, (*count + 1) * elem_size);
    if (!grown)
        return NULL;
    uint8_t *elem = grown + *count * elem_size;
    memset (elem, 0, elem_size);
    *array = grown;
    (*count)++;
    return elem;
}
