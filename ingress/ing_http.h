/*  ing_http.h — strict HTTP over civetweb for the ingress handlers.
 *
 *  civetweb 1.15's request parser is lenient: chunked wins over
 *  Content-Length, "Content-Length: 10abc" reads as 10, a second
 *  Content-Length is ignored (mg_get_header returns the first) and every
 *  body read gets a fresh timeout. So the ingress checks the request's own
 *  header list here (ing_http_check_headers) before anything else, reads
 *  the body itself with a size cap and a whole-body deadline, pre-scans
 *  JSON nesting depth, and writes every response (also civetweb's own
 *  error pages, through its http_error callback) with the same security
 *  headers.
 *
 *  The pure checks (length, header list, JSON depth) take no connection,
 *  so the unit tests and the request fuzzer call them directly. */
#ifndef ING_HTTP_H
#define ING_HTTP_H

#include <civetweb.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ING_REQUEST_ID_MAX 128
#define ING_JSON_MAX_DEPTH 32 /* arrays and objects nested deeper are 400 */

/* True for an X-Request-Id worth echoing: 1..128 of [A-Za-z0-9._:-]. */
bool ing_http_request_id_ok (const char *id);

/* True for "application/json" with optional parameters ("; charset=utf-8"),
 * any case; false for NULL. */
bool ing_http_is_json (const char *content_type);

/* Strict Content-Length value: 1..19 ASCII digits and nothing else (no
 * sign, no spaces, no suffix). 0 with *length set, or -1. */
int ing_http_parse_length (const char *text, uint64_t *length);

/* How the request frames its body, from ing_http_check_headers. */
typedef struct {
    bool chunked; /* Transfer-Encoding: chunked */
    bool has_length; /* one valid Content-Length */
    uint64_t length; /* its value, bytes */
} ing_http_framing_t;

typedef enum {
    ING_HTTP_OK = 0,
    ING_HTTP_BAD_LENGTH, /* Content-Length not a plain decimal number: 400 */
    ING_HTTP_DUP_LENGTH, /* Content-Length more than once: 400 */
    ING_HTTP_LENGTH_AND_CHUNKED, /* both Content-Length and Transfer-Encoding: 400 */
    ING_HTTP_BAD_TRANSFER_ENCODING, /* anything but one "chunked": 400 */
    ING_HTTP_BAD_HEADER, /* a name that is not a token, control bytes in a value: 400 */
    ING_HTTP_DUP_HEADER, /* Host, Content-Type, Authorization, Idempotency-Key or Origin twice: 400
                          */
    ING_HTTP_BAD_ENCODING, /* Content-Encoding other than identity: 415 */
    ING_HTTP_TOO_LARGE, /* declared length over max_body: 413 */
    ING_HTTP__COUNT
} ing_http_check_t;

/* Checks a request's header list (civetweb's, count entries; NULL names or
 * values are refused) and fills *framing. max_body caps a declared length. */
ing_http_check_t ing_http_check_headers (const struct mg_header *headers, int count,
                                         size_t max_body, ing_http_framing_t *framing);

/* HTTP status for a check result (200 for ING_HTTP_OK). */
int ing_http_check_status (ing_http_check_t rc);

/* Short reason (metric label, "duplicate_content_length") and a sentence
 * for the problem detail; static strings. */
const char *ing_http_check_reason (ing_http_check_t rc);
const char *ing_http_check_detail (ing_http_check_t rc);

/* True when arrays and objects in the JSON text nest at most max_depth
 * deep (strings and escapes are skipped; the text need not be valid JSON,
 * jansson judges that afterwards). */
bool ing_http_json_depth_ok (const char *text, size_t size, int max_depth);

/* The body deadline's watchdog. civetweb's mg_read keeps waiting as long
 * as each byte arrives within request_timeout_ms, so a client trickling
 * one byte a second would hold a read (and its worker thread) for hours.
 * A reader registers its socket with the deadline; this thread shuts the
 * socket's read side down when the deadline passes (checked every
 * ING_HTTP_WATCHDOG_TICK_MS), which ends the blocked read at once; the 408
 * can still be written. */
#define ING_HTTP_WATCHDOG_TICK_MS 20
#define ING_HTTP_WATCHDOG_SLOTS 4096 /* bodies being read at once (one per worker thread) */
typedef struct _ing_http_watchdog_t ing_http_watchdog_t;

/* Starts the watchdog thread; NULL when it cannot. */
ing_http_watchdog_t *ing_http_watchdog_new (void);
/* Stops and joins the thread (no reader may still be registered). */
void ing_http_watchdog_destroy (ing_http_watchdog_t **self_p);

typedef enum {
    ING_BODY_OK = 0,
    ING_BODY_TOO_LARGE, /* declared or actual size over the cap: 413 */
    ING_BODY_BAD_FRAMING, /* framing checks failed (ing_http_check_headers): 400 */
    ING_BODY_TIMEOUT, /* the whole body did not arrive before the deadline: 408 */
    ING_BODY_IO, /* the client went away, or sent less than it declared */
    ING_BODY_ENOMEM,
} ing_http_body_rc_t;

/* Reads the whole request body as framed (from ing_http_check_headers), at
 * most max bytes, until deadline_ms (zh_clock_mono_ms). With a watchdog
 * (may be NULL) a body still arriving at the deadline is cut off within
 * ING_HTTP_WATCHDOG_TICK_MS; without one, only between reads. On
 * ING_BODY_OK *body is a heap buffer (NUL-terminated, caller frees) of
 * *size bytes. */
ing_http_body_rc_t ing_http_read_body (struct mg_connection *conn,
                                       const ing_http_framing_t *framing, size_t max,
                                       int64_t deadline_ms, ing_http_watchdog_t *watchdog,
                                       char **body, size_t *size);

/* True when the token [tok, tok+n) is one of the comma-separated entries
 * of a header list such as Connection or Access-Control-Request-Headers
 * (spaces around entries ignored; case-insensitive when nocase). */
bool ing_http_list_has (const char *list, const char *tok, size_t n, bool nocase);

/* True when the request announces a body (Content-Length > 0 or chunked). */
bool ing_http_has_body (struct mg_connection *conn);

/* The security headers every response carries, name/value pairs,
 * ING_HTTP_SECURITY_HEADERS pairs (nosniff, no-store, DENY, CSP, no-referrer). */
#define ING_HTTP_SECURITY_HEADERS 5
extern const char *const ing_http_security_headers[2 * ING_HTTP_SECURITY_HEADERS];

/* Sends a complete response. headers: name/value pairs, count pairs (may
 * be 0); Content-Type, Content-Length and the security headers are added
 * here. keep_alive false closes the connection after it (used when the
 * request body was not read, so civetweb does not drain an unbounded
 * upload). 0, or -1 when the client is gone. */
int ing_http_send (struct mg_connection *conn, int status, const char *content_type,
                   const char *body, size_t size, const char *const *headers, size_t count,
                   bool keep_alive);

#endif
