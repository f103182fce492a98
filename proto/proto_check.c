/*  proto_check.c — the non-allocating msgpack walker run before any decode.
 *
 *  msgpack-c's unpacker believes the counts in a frame: the five bytes
 *  `dd ff 00 00 00` (array32 of 4278190080 elements) make it allocate
 *  ~96 GB before noticing that no element follows (msgpack-c issue 1013).
 *  proto_check walks the raw bytes first, with an explicit stack of at most
 *  PROTO_MAX_DEPTH levels, and refuses any length or count that the bytes
 *  left in the frame could not back (every object takes at least one byte).
 *  Once a frame has passed, the unpacker allocates at most a small constant
 *  times the frame size (one msgpack_object per object actually present).
 *
 *  proto_peek_type reuses the walker to find "t" in the top-level map
 *  without unpacking. */
#include "proto/proto.h"

#include <stdlib.h>
#include <string.h>

typedef enum {
    S_SCALAR, /* nil, bool, int, float */
    S_STR,
    S_BIN,
    S_EXT,
    S_ARRAY,
    S_MAP,
} s_class_t;

typedef struct {
    s_class_t cls;
    size_t body; /* STR, BIN, EXT: offset of the bytes (EXT: after its type byte) */
    uint64_t len; /* STR, BIN, EXT: byte length; ARRAY: elements; MAP: pairs */
} s_head_t;

static uint64_t
s_big_endian (const uint8_t *p, size_t n)
{
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++)
        value = (value << 8) | p[i];
    return value;
}

/* Reads the header of the object at data[*pos] and, for str/bin/ext, skips
 * its bytes; *pos ends after what was read. -1 when a byte is missing or the
 * marker is 0xc1 (never used). Container elements are not read. */
static int
s_read_head (const uint8_t *data, size_t size, size_t *pos, s_head_t *head)
{
    if (*pos >= size)
        return -1;
    uint8_t marker = data[*pos];
    size_t p = *pos + 1;
    size_t fixed = 0; /* scalar bytes after the marker */
    size_t len_size = 0; /* size of the length or count field */
    bool has_len = false;
    head->cls = S_SCALAR;
    head->len = 0;
    head->body = 0;

    if (marker <= 0x7f || marker >= 0xe0 || marker == 0xc0 || marker == 0xc2 || marker == 0xc3)
        ;
    else if (marker <= 0x8f) {
        head->cls = S_MAP;
        head->len = marker & 0x0f;
    }
    else if (marker <= 0x9f) {
        head->cls = S_ARRAY;
        head->len = marker & 0x0f;
    }
    else if (marker <= 0xbf) {
        head->cls = S_STR;
        head->len = marker & 0x1f;
        has_len = true;
    }
    else
        switch (marker) {
        case 0xc4:
        case 0xc5:
        case 0xc6:
            head->cls = S_BIN;
            len_size = (size_t)1 << (marker - 0xc4);
            has_len = true;
            break;
        case 0xc7:
        case 0xc8:
        case 0xc9:
            head->cls = S_EXT;
            len_size = (size_t)1 << (marker - 0xc7);
            has_len = true;
            break;
        case 0xca:
            fixed = 4;
            break;
        case 0xcb:
            fixed = 8;
            break;
        case 0xcc:
        case 0xcd:
        case 0xce:
        case 0xcf:
            fixed = (size_t)1 << (marker - 0xcc);
            break;
        case 0xd0:
        case 0xd1:
        case 0xd2:
        case 0xd3:
            fixed = (size_t)1 << (marker - 0xd0);
            break;
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            head->cls = S_EXT;
            head->len = (uint64_t)1 << (marker - 0xd4);
            has_len = true;
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            head->cls = S_STR;
            len_size = (size_t)1 << (marker - 0xd9);
            has_len = true;
            break;
        case 0xdc:
        case 0xdd:
            head->cls = S_ARRAY;
            len_size = (size_t)2 << (marker - 0xdc);
            break;
        case 0xde:
        case 0xdf:
            head->cls = S_MAP;
            len_size = (size_t)2 << (marker - 0xde);
            break;
        default: /* 0xc1 */
            return -1;
        }

    if (fixed > size - p)
        return -1;
    p += fixed;
    if (len_size > 0) {
        if (len_size > size - p)
            return -1;
        head->len = s_big_endian (data + p, len_size);
        p += len_size;
    }
    if (has_len) {
        if (head->cls == S_EXT) {
            if (p >= size)
                return -1; /* the ext type byte */
            p++;
        }
        if (head->len > size - p)
            return -1;
        head->body = p;
        p += (size_t)head->len;
    }
    *pos = p;
    return 0;
}

/* Reads exactly one complete object at data[*pos] (within size) and moves
 * *pos past it. Nesting deeper than PROTO_MAX_DEPTH, or more elements
 * announced than bytes left to hold them, is -1. */
static int
s_walk (const uint8_t *data, size_t size, size_t *pos)
{
    uint64_t left[PROTO_MAX_DEPTH + 1]; /* objects still to read per open level */
    size_t depth = 0; /* containers open around the next object */
    uint64_t pending = 1; /* sum of left[0..depth] */
    left[0] = 1;
    while (pending > 0) {
        while (left[depth] == 0)
            depth--;
        s_head_t head;
        if (s_read_head (data, size, pos, &head))
            return -1;
        left[depth]--;
        pending--;
        if (head.cls == S_ARRAY || head.cls == S_MAP) {
            if (depth + 1 > PROTO_MAX_DEPTH)
                return -1;
            uint64_t children = head.cls == S_MAP ? 2 * head.len : head.len;
            /* Each announced or still pending object needs at least a byte. */
            if (children > size - *pos || pending > size - *pos - children)
                return -1;
            if (children > 0) {
                left[++depth] = children;
                pending += children;
            }
        }
    }
    return 0;
}

proto_rc_t
proto_check (const uint8_t *data, size_t size)
{
    if (!data || size == 0 || size > PROTO_MAX_FRAME)
        return PROTO_EMALFORMED;
    size_t pos = 0;
    if (s_walk (data, size, &pos) || pos != size)
        return PROTO_EMALFORMED;
    return PROTO_OK;
}

proto_rc_t
proto_split (const uint8_t *data, size_t size, size_t *len)
{
    *len = 0;
    if (!data || size == 0 || size > PROTO_MAX_FRAME)
        return PROTO_EMALFORMED;
    size_t pos = 0;
    if (s_walk (data, size, &pos) || pos == 0 || pos > size)
        return PROTO_EMALFORMED;
    *len = pos;
    return PROTO_OK;
}

proto_rc_t
proto_frame_each (const uint8_t *data, size_t size,
                  proto_rc_t (*fn) (void *arg, const uint8_t *msg, size_t len), void *arg,
                  size_t *count)
{
    size_t n = 0, len = 0;
    proto_rc_t rc = size == 0 ? PROTO_EMALFORMED : PROTO_OK;
    for (size_t off = 0; off < size && rc == PROTO_OK; off += len) {
        rc = n == PROTO_FRAME_MAX_MSGS ? PROTO_EMALFORMED
                                       : proto_split (data + off, size - off, &len);
        if (rc == PROTO_OK)
            rc = fn (arg, data + off, len);
        if (rc == PROTO_OK)
            n++;
    }
    if (count)
        *count = n;
    return rc;
}

int
proto_frame_add (proto_frame_t *self, const uint8_t *msg, size_t size)
{
    if (size > PROTO_MAX_FRAME - self->size)
        return -1;
    if (self->size + size > self->cap) {
        size_t cap = self->cap ? self->cap : 4096;
        while (cap < self->size + size)
            cap *= 2;
        uint8_t *data = realloc (self->data, cap);
        if (!data)
            return -1;
        self->data = data;
        self->cap = cap;
    }
    memcpy (self->data + self->size, msg, size);
    self->size += size;
    self->count++;
    return 0;
}

bool
proto_frame_full (const proto_frame_t *self)
{
    return self->count >= PROTO_FRAME_MAX_MSGS || self->size >= PROTO_FRAME_SOFT_BYTES;
}

void
proto_frame_reset (proto_frame_t *self)
{
    self->size = 0;
    self->count = 0;
}

void
proto_frame_free (proto_frame_t *self)
{
    free (self->data);
    memset (self, 0, sizeof *self);
}

static const struct {
    const char *name;
    proto_type_t type;
} s_types[] = {
    {"submit", PROTO_T_SUBMIT}, {"command", PROTO_T_COMMAND},
    {"reply", PROTO_T_REPLY},   {"dispatch", PROTO_T_DISPATCH},
    {"result", PROTO_T_RESULT}, {"heartbeat", PROTO_T_HEARTBEAT},
    {"record", PROTO_T_RECORD}, {"subscription", PROTO_T_SUBSCRIPTION},
};

static bool
s_is_text (const uint8_t *data, const s_head_t *head, const char *text)
{
    size_t len = strlen (text);
    return (head->cls == S_STR || head->cls == S_BIN) && head->len == len &&
           memcmp (data + head->body, text, len) == 0;
}

proto_type_t
proto_peek_type (const uint8_t *data, size_t size)
{
    if (proto_check (data, size) != PROTO_OK)
        return PROTO_T_UNKNOWN;
    size_t pos = 0;
    s_head_t map;
    if (s_read_head (data, size, &pos, &map) || map.cls != S_MAP)
        return PROTO_T_UNKNOWN;
    proto_type_t found = PROTO_T_UNKNOWN;
    bool seen = false;
    for (uint64_t i = 0; i < map.len; i++) {
        size_t key_at = pos, value_at;
        s_head_t key, value;
        if (s_walk (data, size, &pos))
            return PROTO_T_UNKNOWN;
        value_at = pos;
        if (s_walk (data, size, &pos))
            return PROTO_T_UNKNOWN;
        if (s_read_head (data, size, &key_at, &key) || !s_is_text (data, &key, "t"))
            continue;
        if (seen)
            return PROTO_T_UNKNOWN; /* two "t": the decoders refuse it too */
        seen = true;
        if (s_read_head (data, size, &value_at, &value))
            return PROTO_T_UNKNOWN;
        for (size_t t = 0; t < sizeof (s_types) / sizeof (s_types[0]); t++)
            if (s_is_text (data, &value, s_types[t].name))
                found = s_types[t].type;
    }
    return found;
}
