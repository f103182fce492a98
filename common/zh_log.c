/*  zh_log.c — JSON-lines logger. Formats into a stack buffer and writes it
 *  with one write(2): no locks, and lines from civetweb threads stay whole.
 *  Lines longer than the buffer are cut and marked "truncated":true. */
#include "common/zh_log.h"
#include "common/zh_clock.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ZH_LOG_LINE_MAX 4096

static char s_stage[32] = "zhook";
static zh_log_level_t s_level = ZH_LOG_INFO;
static const char *s_level_names[] = {"debug", "info", "warn", "error"};

void
zh_log_init (const char *stage, zh_log_level_t level)
{
    snprintf (s_stage, sizeof s_stage, "%s", stage);
    s_level = level;
}

int
zh_log_level_parse (const char *text, zh_log_level_t *level)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp (text, s_level_names[i]) == 0) {
            *level = (zh_log_level_t)i;
            return 0;
        }
    return -1;
}

bool
zh_log_enabled (zh_log_level_t level)
{
    return level >= s_level;
}

/* Escapes the character at p into esc (up to 6 bytes) and returns how many
 * input bytes it consumed; *n is the escaped length. Invalid UTF-8 (stray
 * continuation bytes, overlongs, surrogates, truncated sequences) becomes
 * U+FFFD so that a hostile string never makes the line invalid JSON. */
static int
s_escape_char (const unsigned char *p, char *esc, int *n)
{
    static const char hex[] = "0123456789abcdef";
    switch (*p) {
    case '"':
        memcpy (esc, "\\\"", 2);
        *n = 2;
        return 1;
    case '\\':
        memcpy (esc, "\\\\", 2);
        *n = 2;
        return 1;
    case '\n':
        memcpy (esc, "\\n", 2);
        *n = 2;
        return 1;
    case '\r':
        memcpy (esc, "\\r", 2);
        *n = 2;
        return 1;
    case '\t':
        memcpy (esc, "\\t", 2);
        *n = 2;
        return 1;
    default:
        break;
    }
    if (*p < 0x20 || *p == 0x7f) {
        memcpy (esc, "\\u00", 4);
        esc[4] = hex[*p >> 4];
        esc[5] = hex[*p & 15];
        *n = 6;
        return 1;
    }
    if (*p < 0x80) {
        esc[0] = (char)*p;
        *n = 1;
        return 1;
    }
    int len = (*p >= 0xc2 && *p <= 0xdf)   ? 2
              : (*p >= 0xe0 && *p <= 0xef) ? 3
              : (*p >= 0xf0 && *p <= 0xf4) ? 4
                                           : 0;
    int ok = len > 0;
    for (int i = 1; ok && i < len; i++)
        ok = (p[i] & 0xc0) == 0x80;
    if (ok && len == 3) /* overlong forms and UTF-16 surrogates */
        ok = !(p[0] == 0xe0 && p[1] < 0xa0) && !(p[0] == 0xed && p[1] >= 0xa0);
    if (ok && len == 4) /* overlong forms and beyond U+10FFFF */
        ok = !(p[0] == 0xf0 && p[1] < 0x90) && !(p[0] == 0xf4 && p[1] >= 0x90);
    if (!ok) {
        memcpy (esc, "\xef\xbf\xbd", 3); /* U+FFFD */
        *n = 3;
        return 1;
    }
    memcpy (esc, p, (size_t)len);
    *n = len;
    return len;
}

int
zh_json_escape (char *buf, int len, int cap, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        char esc[8];
        int n;
        int used = s_escape_char (p, esc, &n);
        if (len + n >= cap)
            return -1;
        memcpy (buf + len, esc, (size_t)n);
        len += n;
        p += used;
    }
    buf[len] = 0;
    return len;
}

/* Appends s as a JSON string cut to fit before cap (whole characters only,
 * closing quote always written). Used for a message too long for the line. */
static int
s_append_str_cut (char *buf, int len, int cap, const char *s)
{
    if (len + 2 >= cap)
        return cap;
    buf[len++] = '"';
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        char esc[8];
        int n;
        int used = s_escape_char (p, esc, &n);
        if (len + n + 1 >= cap)
            break;
        memcpy (buf + len, esc, (size_t)n);
        len += n;
        p += used;
    }
    buf[len++] = '"';
    return len;
}

/* Appends formatted text; on overflow leaves len at cap (marks truncation). */
static int
s_append (char *buf, int len, int cap, const char *fmt, ...)
{
    if (len >= cap)
        return cap;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf + len, (size_t)(cap - len), fmt, ap);
    va_end (ap);
    return (n < 0 || len + n >= cap) ? cap : len + n;
}

static int
s_append_str (char *buf, int len, int cap, const char *s)
{
    if (len >= cap)
        return cap;
    if (!s)
        return s_append (buf, len, cap, "null");
    len = s_append (buf, len, cap, "\"");
    int n = zh_json_escape (buf, len, cap, s);
    if (n < 0)
        return cap;
    return s_append (buf, n, cap, "\"");
}

void
zh_log (zh_log_level_t level, const char *msg, ...)
{
    if (level < s_level)
        return;
    char line[ZH_LOG_LINE_MAX];
    const int cap = ZH_LOG_LINE_MAX - 32; /* room for the truncation mark */
    char ts[32];
    zh_time_format (zh_clock_wall_ms (), ts, sizeof ts);
    int len = s_append (line, 0, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"stage\":", ts,
                        s_level_names[level]);
    len = s_append_str (line, len, cap, s_stage);
    len = s_append (line, len, cap, ",\"msg\":");
    const int head_len = len; /* the line up to the message text */
    len = s_append_str (line, len, cap, msg);
    const int base_len = len; /* ... and with the whole message */

    va_list ap;
    va_start (ap, msg);
    const char *key;
    while ((key = va_arg (ap, const char *)) != NULL) {
        if (strlen (key) < 3 || key[1] != ':') {
            (void)va_arg (ap, void *);
            continue; /* a bug in the caller; skip the pair rather than crash */
        }
        len = s_append (line, len, cap, ",");
        len = s_append_str (line, len, cap, key + 2);
        len = s_append (line, len, cap, ":");
        switch (key[0]) {
        case 's':
            len = s_append_str (line, len, cap, va_arg (ap, const char *));
            break;
        case 'i':
            len = s_append (line, len, cap, "%lld", (long long)va_arg (ap, int64_t));
            break;
        case 'u':
            len = s_append (line, len, cap, "%llu", (unsigned long long)va_arg (ap, uint64_t));
            break;
        case 'd': {
            double d = va_arg (ap, double);
            /* JSON has no NaN or infinity */
            len = isfinite (d) ? s_append (line, len, cap, "%.3f", d)
                               : s_append (line, len, cap, "null");
            break;
        }
        case 'b':
            len = s_append (line, len, cap, va_arg (ap, int) ? "true" : "false");
            break;
        default:
            len = s_append (line, len, cap, "null");
            (void)va_arg (ap, void *);
        }
    }
    va_end (ap);
    if (len >= cap) {
        /* fields did not fit: keep the head of the line (the message cut to
         * fit if it alone is too long), say so, stay valid JSON */
        if (base_len < cap)
            len = base_len;
        else
            len = s_append_str_cut (line, head_len, cap, msg ? msg : "");
        len += snprintf (line + len, (size_t)(ZH_LOG_LINE_MAX - len), ",\"truncated\":true}\n");
    }
    else {
        line[len++] = '}';
        line[len++] = '\n';
    }
    ssize_t off = 0;
    while (off < len) {
        ssize_t n = write (STDOUT_FILENO, line + off, (size_t)(len - off));
        if (n <= 0)
            break; /* stdout gone: nothing better to do with a log line */
        off += n;
    }
}
