/*  ing_cors.c — the CORS allowlist and its decisions. */
#include "ingress/ing_cors.h"
#include "ingress/ing_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct _ing_cors_t {
    char **origins; /* exact origins, heap */
    size_t count;
};

void
ing_cors_destroy (ing_cors_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ing_cors_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        free (self->origins[i]);
    free (self->origins);
    free (self);
    *self_p = NULL;
}

/* scheme://host[:port] with nothing after it. */
static bool
s_origin_ok (const char *o, size_t n)
{
    if (n == 0 || n > ING_CORS_ORIGIN_MAX)
        return false;
    size_t skip;
    if (n > 7 && !strncmp (o, "http://", 7))
        skip = 7;
    else if (n > 8 && !strncmp (o, "https://", 8))
        skip = 8;
    else
        return false;
    bool port = false;
    size_t digits = 0;
    for (size_t i = skip; i < n; i++) {
        char c = o[i];
        if (port) {
            if (c < '0' || c > '9' || ++digits > 5)
                return false;
        }
        else if (c == ':' && i > skip)
            port = true;
        else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
            return false; /* browsers send hosts lowercased; [v6] is not supported */
    }
    return !port || digits > 0;
}

ing_cors_t *
ing_cors_new (const char *origins, const char **bad)
{
    if (bad)
        *bad = NULL;
    ing_cors_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    const char *p = origins ? origins : "";
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t n = strcspn (p, ",");
        size_t trimmed = n;
        while (trimmed > 0 && (p[trimmed - 1] == ' ' || p[trimmed - 1] == '\t'))
            trimmed--;
        if (trimmed > 0) {
            if (!s_origin_ok (p, trimmed)) {
                if (bad)
                    *bad = p;
                goto fail;
            }
            char **grown = realloc (self->origins, (self->count + 1) * sizeof *grown);
            if (!grown)
                goto fail;
            self->origins = grown;
            if (!(self->origins[self->count] = strndup (p, trimmed)))
                goto fail;
            self->count++;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return self;
fail:
    ing_cors_destroy (&self);
    return NULL;
}

bool
ing_cors_enabled (const ing_cors_t *self)
{
    return self && self->count > 0;
}

bool
ing_cors_allowed (const ing_cors_t *self, const char *origin)
{
    if (!self || !origin)
        return false;
    for (size_t i = 0; i < self->count; i++)
        if (!strcmp (self->origins[i], origin))
            return true;
    return false;
}

ing_cors_verdict_t
ing_cors_simple (const ing_cors_t *self, const char *origin)
{
    if (!ing_cors_enabled (self) || !origin)
        return ING_CORS_NONE;
    return ing_cors_allowed (self, origin) ? ING_CORS_ALLOW : ING_CORS_REFUSE;
}

ing_cors_verdict_t
ing_cors_preflight (const ing_cors_t *self, const char *origin, const char *request_method,
                    const char *request_headers, const char *allow_methods)
{
    if (!ing_cors_allowed (self, origin) || !request_method || !allow_methods || !*request_method ||
        !ing_http_list_has (allow_methods, request_method, strlen (request_method), false))
        return ING_CORS_REFUSE;
    const char *p = request_headers ? request_headers : "";
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn (p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m > 0 && !ing_http_list_has (ING_CORS_ALLOW_HEADERS, p, m, true))
            return ING_CORS_REFUSE;
        p += n;
    }
    return ING_CORS_ALLOW;
}
