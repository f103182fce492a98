/*  ing_http.c — request body reading and response writing (civetweb). */
#include "ingress/ing_http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool
ing_http_request_id_ok (const char *id)
{
    if (!id)
        return false;
    size_t n = strlen (id);
    if (n == 0 || n > ING_REQUEST_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == ':' || *p == '-'))
            return false;
    return true;
}

bool
ing_http_is_json (const char *content_type)
{
    if (!content_type)
        return false;
    const char *p = content_type;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp (p, "application/json", 16) != 0)
        return false;
    p += 16;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == 0 || *p == ';';
}

static bool
s_chunked (struct mg_connection *conn)
{
    const char *te = mg_get_header (conn, "Transfer-Encoding");
    return te && strcasestr (te, "chunked") != NULL;
}

bool
ing_http_has_body (struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info (conn);
    return s_chunked (conn) || (ri && ri->content_length > 0);
}

ing_http_body_rc_t
ing_http_read_body (struct mg_connection *conn, size_t max, char **body, size_t *size)
{
    *body = NULL;
    *size = 0;
    const char *cl = mg_get_header (conn, "Content-Length");
    bool chunked = s_chunked (conn);
    size_t declared = 0;
    if (cl) {
        if (chunked || !*cl)
            return ING_BODY_BAD_FRAMING;
        for (const char *p = cl; *p; p++) {
            if (*p < '0' || *p > '9')
                return ING_BODY_BAD_FRAMING;
            if (declared > max)
                return ING_BODY_TOO_LARGE; /* stop before overflowing */
            declared = declared * 10 + (size_t)(*p - '0');
        }
        if (declared > max)
            return ING_BODY_TOO_LARGE;
    }
    /* declared length: exact buffer; chunked: grow, one byte past the cap
     * tells us it is too large */
    size_t cap = cl ? declared : (max < 16384 ? max : 16384);
    char *buf = malloc (cap + 1);
    if (!buf)
        return ING_BODY_ENOMEM;
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            if (cl || cap > max)
                break;
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *grown = realloc (buf, ncap + 1);
            if (!grown) {
                free (buf);
                return ING_BODY_ENOMEM;
            }
            buf = grown;
            cap = ncap;
        }
        int n = mg_read (conn, buf + len, cap - len);
        if (n < 0) {
            free (buf);
            return ING_BODY_IO;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            free (buf);
            return ING_BODY_TOO_LARGE;
        }
    }
    if (cl && len != declared) {
        free (buf);
        return ING_BODY_IO;
    }
    buf[len] = 0;
    *body = buf;
    *size = len;
    return ING_BODY_OK;
}

int
ing_http_send (struct mg_connection *conn, int status, const char *content_type, const char *body,
               size_t size, const char *const *headers, size_t count, bool keep_alive)
{
    if (!keep_alive)
        mg_disable_connection_keep_alive (conn);
    if (mg_response_header_start (conn, status) != 0)
        return -1;
    char length[32];
    snprintf (length, sizeof length, "%zu", size);
    mg_response_header_add (conn, "Content-Type", content_type, -1);
    mg_response_header_add (conn, "Content-Length", length, -1);
    mg_response_header_add (conn, "Cache-Control", "no-store", -1);
    for (size_t i = 0; i < count; i++)
        mg_response_header_add (conn, headers[2 * i], headers[2 * i + 1], -1);
    if (mg_response_header_send (conn) != 0)
        return -1;
    const struct mg_request_info *ri = mg_get_request_info (conn);
    if (size == 0 || (ri && ri->request_method && !strcmp (ri->request_method, "HEAD")))
        return 0;
    return mg_write (conn, body, size) == (int)size ? 0 : -1;
}
