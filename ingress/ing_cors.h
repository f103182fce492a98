/*  ing_cors.h — CORS decisions from the ZHOOK_CORS_ORIGINS allowlist.
 *
 *  Origins are compared exactly (scheme://host[:port], as browsers send
 *  them); no wildcards and no credentials, so a page on another origin can
 *  use the API only when the operator listed it. An empty list turns CORS
 *  off: no Access-Control-* header is ever sent and every preflight is
 *  refused. Pure decisions: the HTTP layer writes the headers. */
#ifndef ING_CORS_H
#define ING_CORS_H

#include <stdbool.h>
#include <stddef.h>

#define ING_CORS_ORIGIN_MAX 200 /* longest origin accepted in the list */
#define ING_CORS_MAX_AGE "600" /* seconds a browser may cache a preflight answer */
/* Request headers a browser may send (Access-Control-Allow-Headers). */
#define ING_CORS_ALLOW_HEADERS "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
/* Response headers a page may read (Access-Control-Expose-Headers). */
#define ING_CORS_EXPOSE_HEADERS                                                                    \
    "X-Request-Id, Location, Retry-After, Idempotent-Replayed, RateLimit-Limit, "                  \
    "RateLimit-Remaining, RateLimit-Reset"

typedef struct _ing_cors_t ing_cors_t;

/* Parses a comma-separated list of origins (spaces around entries are
 * ignored; NULL or "" = CORS off). NULL on a malformed entry, with *bad
 * (when bad is not NULL) pointing at it inside origins, or on ENOMEM with
 * *bad NULL. An origin is http:// or https:// and a host with an optional
 * port, nothing after it, at most ING_CORS_ORIGIN_MAX bytes. */
ing_cors_t *ing_cors_new (const char *origins, const char **bad);
void ing_cors_destroy (ing_cors_t **self_p);

/* True when at least one origin is listed. */
bool ing_cors_enabled (const ing_cors_t *self);

/* True when origin (may be NULL) is exactly one of the listed origins. */
bool ing_cors_allowed (const ing_cors_t *self, const char *origin);

typedef enum {
    ING_CORS_NONE = 0, /* not a CORS request, or CORS off: no CORS headers */
    ING_CORS_ALLOW, /* an allowed origin: Allow-Origin, Vary, Expose-Headers */
    ING_CORS_REFUSE, /* an origin not listed: no CORS headers (the browser blocks) */
} ing_cors_verdict_t;

/* Verdict for an ordinary request carrying Origin (may be NULL). */
ing_cors_verdict_t ing_cors_simple (const ing_cors_t *self, const char *origin);

/* Verdict for a preflight (OPTIONS with Origin and
 * Access-Control-Request-Method): ALLOW when the origin is listed, the
 * requested method is one of allow_methods ("GET, POST") and every
 * requested header (comma-separated, any case; may be NULL) is one of
 * ING_CORS_ALLOW_HEADERS; else REFUSE (403 without CORS headers). */
ing_cors_verdict_t ing_cors_preflight (const ing_cors_t *self, const char *origin,
                                       const char *request_method, const char *request_headers,
                                       const char *allow_methods);

#endif
