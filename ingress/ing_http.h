/*  ing_http.h — small HTTP helpers over civetweb for the ingress handlers.
 *
 *  civetweb's request parser is lenient (a "Content-Length: 10abc" reads as
 *  10, chunked wins over Content-Length), so the body is read here, with a
 *  hard cap checked before reading when the length is declared and while
 *  reading when it is chunked. */
#ifndef ING_HTTP_H
#define ING_HTTP_H

#include <civetweb.h>
#include <stdbool.h>
#include <stddef.h>

#define ING_REQUEST_ID_MAX 128

/* True for an X-Request-Id worth echoing: 1..128 of [A-Za-z0-9._:-]. */
bool ing_http_request_id_ok (const char *id);

/* True for "application/json" with optional parameters ("; charset=utf-8"),
 * any case; false for NULL. */
bool ing_http_is_json (const char *content_type);

typedef enum {
    ING_BODY_OK = 0,
    ING_BODY_TOO_LARGE, /* declared or actual size over the cap: 413 */
    ING_BODY_BAD_FRAMING, /* malformed Content-Length, or both it and chunked: 400 */
    ING_BODY_IO, /* the client went away or timed out */
    ING_BODY_ENOMEM,
} ing_http_body_rc_t;

/* Reads the whole request body, at most max bytes. On ING_BODY_OK *body is
 * a heap buffer (NUL-terminated, caller frees) of *size bytes. */
ing_http_body_rc_t ing_http_read_body (struct mg_connection *conn, size_t max, char **body,
                                       size_t *size);

/* True when the request announces a body (Content-Length > 0 or chunked). */
bool ing_http_has_body (struct mg_connection *conn);

/* Sends a complete response. headers: name/value pairs, count pairs (may
 * be 0); Content-Type, Content-Length and Cache-Control are added here.
 * keep_alive false closes the connection after it (used when the request
 * body was not read, so civetweb does not drain an unbounded upload).
 * 0, or -1 when the client is gone. */
int ing_http_send (struct mg_connection *conn, int status, const char *content_type,
                   const char *body, size_t size, const char *const *headers, size_t count,
                   bool keep_alive);

#endif
