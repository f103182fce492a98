/*  zh_trace.c — W3C traceparent parsing and generation. */
#include "common/zh_trace.h"
#include "common/zh_id.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>

static const char s_hex[] = "0123456789abcdef";

/* n lowercase hex digits at p; *nonzero set when any is not '0'. */
static bool
s_hex_run (const char *p, size_t n, bool *nonzero)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return false;
        any |= p[i] != '0';
    }
    if (nonzero)
        *nonzero = any;
    return true;
}

bool
zh_trace_valid (const char *tp)
{
    if (!tp || strlen (tp) != ZH_TRACEPARENT_LEN)
        return false;
    bool trace_set = false, span_set = false;
    return tp[0] == '0' && tp[1] == '0' && tp[2] == '-' && s_hex_run (tp + 3, 32, &trace_set) &&
           trace_set && tp[35] == '-' && s_hex_run (tp + 36, 16, &span_set) && span_set &&
           tp[52] == '-' && s_hex_run (tp + 53, 2, NULL);
}

/* n random lowercase hex digits into p, never all zero. */
static int
s_random_hex (char *p, size_t n)
{
    uint8_t bytes[16];
    assert (n <= 2 * sizeof bytes && n % 2 == 0);
    if (zh_random_bytes (bytes, n / 2) != 0)
        return -1;
    bytes[0] |= bytes[0] ? 0 : 1; /* all-zero ids are invalid */
    for (size_t i = 0; i < n / 2; i++) {
        p[2 * i] = s_hex[bytes[i] >> 4];
        p[2 * i + 1] = s_hex[bytes[i] & 15];
    }
    return 0;
}

int
zh_trace_new (char *buf, size_t size)
{
    if (!buf || size < ZH_TRACEPARENT_SIZE)
        return -1;
    char tp[ZH_TRACEPARENT_SIZE] = "00-";
    if (s_random_hex (tp + 3, 32) || s_random_hex (tp + 36, 16))
        return -1;
    tp[35] = tp[52] = '-';
    tp[53] = '0';
    tp[54] = '1';
    tp[55] = 0;
    memcpy (buf, tp, sizeof tp);
    return 0;
}

int
zh_trace_child (const char *parent, char *buf, size_t size, char *span_id, size_t span_size)
{
    if (!zh_trace_valid (parent) || !buf || size < ZH_TRACEPARENT_SIZE ||
        (span_id && span_size < ZH_SPAN_ID_SIZE))
        return -1;
    char tp[ZH_TRACEPARENT_SIZE];
    memcpy (tp, parent, sizeof tp);
    if (s_random_hex (tp + 36, 16))
        return -1;
    memcpy (buf, tp, sizeof tp);
    if (span_id) {
        memcpy (span_id, tp + 36, 16);
        span_id[16] = 0;
    }
    return 0;
}

const char *
zh_trace_id (const char *tp, char *buf, size_t size)
{
    if (!buf || size < ZH_TRACE_ID_SIZE)
        return NULL;
    buf[0] = 0;
    if (!zh_trace_valid (tp))
        return NULL;
    memcpy (buf, tp + 3, 32);
    buf[32] = 0;
    return buf;
}

const char *
zh_trace_span_id (const char *tp, char *buf, size_t size)
{
    if (!buf || size < ZH_SPAN_ID_SIZE)
        return NULL;
    buf[0] = 0;
    if (!zh_trace_valid (tp))
        return NULL;
    memcpy (buf, tp + 36, 16);
    buf[16] = 0;
    return buf;
}
