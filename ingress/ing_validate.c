/*  ing_validate.c — checks every field of a message, subscription or event
 *  before it reaches the scheduler, so that the scheduler can trust what it
 *  stores and a producer learns of every mistake at once (422 with each
 *  field named).
 *
 *  Unknown top-level fields are refused rather than ignored: a misspelt
 *  "delay_ms" would otherwise silently mean "deliver now". */
#include "ingress/ing_validate.h"
#include "common/zh_clock.h"
#include "common/zh_webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ING_FIELD_MAX 256 /* longest field name echoed back in an error */

int
ing_errors_add (json_t *errors, const char *field, const char *message)
{
    json_t *e = json_pack ("{s:s, s:s}", "field", field, "message", message);
    if (!e)
        return -1;
    return json_array_append_new (errors, e);
}

/* prefix + name, cut on a UTF-8 boundary so jansson accepts it (names come
 * from parsed JSON, so only the cut can break a sequence). */
static void
s_field (char *buf, size_t size, const char *prefix, const char *name)
{
    snprintf (buf, size, "%s%s", prefix, name);
    size_t n = strlen (buf), i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)buf[i];
        size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if (i + len > n) {
            buf[i] = 0;
            break;
        }
        i += len;
    }
}

static int
s_add (json_t *errors, const char *prefix, const char *name, const char *message)
{
    char field[ING_FIELD_MAX];
    s_field (field, sizeof field, prefix, name);
    return ing_errors_add (errors, field, message);
}

/* --- single checks ----------------------------------------------------- */

static bool
s_alnum (int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int
s_hex (int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The guard's verdict on the URL host [host, end): a name is percent-decoded
 * first, as curl does, so "%31%32%37.0.0.1" is seen as 127.0.0.1. */
static const char *
s_check_target (const zh_netguard_t *guard, const char *host, const char *end)
{
    char buf[ING_URL_MAX + 1];
    size_t n = 0;
    for (const char *p = host; p < end; p++) {
        int hi, lo;
        if (*host != '[' && *p == '%' && end - p >= 3 && (hi = s_hex (p[1])) >= 0 &&
            (lo = s_hex (p[2])) >= 0) {
            buf[n++] = (char)(hi * 16 + lo);
            p += 2;
        }
        else
            buf[n++] = *p;
    }
    buf[n] = 0;
    if (strlen (buf) != n)
        return "has a malformed host"; /* %00 */
    if (zh_netguard_check_host (guard, buf))
        return "must not point at a loopback, private, link-local or other internal address "
               "(ZHOOK_ALLOW_PRIVATE_TARGETS=1 allows it for development)";
    return NULL;
}

const char *
ing_check_url (const char *url, const zh_netguard_t *guard)
{
    size_t n = strlen (url);
    if (n == 0)
        return "must be an absolute http or https URL";
    if (n > ING_URL_MAX)
        return "must be at most 2048 bytes";
    for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
        if (*p <= 0x20 || *p == 0x7f)
            return "must not contain spaces or control characters";
        if (*p >= 0x80)
            return "must be ASCII (percent-encode other characters)";
    }
    const char *rest;
    if (strncasecmp (url, "http://", 7) == 0)
        rest = url + 7;
    else if (strncasecmp (url, "https://", 8) == 0)
        rest = url + 8;
    else
        return "must be an absolute http or https URL";

    size_t alen = strcspn (rest, "/?#");
    const char *auth = rest, *end = rest + alen;
    const char *at = NULL;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            at = p;
    const char *host = at ? at + 1 : auth;
    const char *host_end, *port = NULL;
    if (host < end && *host == '[') {
        const char *close = memchr (host, ']', (size_t)(end - host));
        if (!close || close == host + 1)
            return "has a malformed IPv6 host";
        for (const char *p = host + 1; p < close; p++)
            if (!(s_alnum (*p) || *p == ':' || *p == '.'))
                return "has a malformed IPv6 host";
        host_end = close + 1;
        if (host_end < end) {
            if (*host_end != ':')
                return "has a malformed host";
            port = host_end + 1;
        }
    }
    else {
        host_end = host;
        while (host_end < end && *host_end != ':')
            host_end++;
        if (host_end == host)
            return "must have a host";
        for (const char *p = host; p < host_end; p++)
            if (!(s_alnum (*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' || *p == '%'))
                return "has a malformed host";
        if (host_end < end)
            port = host_end + 1;
    }
    if (port) {
        long value = 0;
        if (port == end || end - port > 5)
            return "has a malformed port";
        for (const char *p = port; p < end; p++) {
            if (*p < '0' || *p > '9')
                return "has a malformed port";
            value = value * 10 + (*p - '0');
        }
        if (value < 1 || value > 65535)
            return "has a port outside 1..65535";
    }
    return guard ? s_check_target (guard, host, host_end) : NULL;
}

const char *
ing_check_secret (const char *secret)
{
    static const char *bad = "must be whsec_ (standard base64 of 24 to 64 bytes) or whsk_ "
                             "(Ed25519) keys, at most 4, separated by single spaces";
    if (!zh_webhook_keys_valid (secret))
        return bad;
    /* a producer's shared secret must be strong: 24..64 bytes (Standard
     * Webhooks); the list is well-formed here, so counting chars is enough */
    for (const char *k = secret; k; k = strchr (k, ' ') ? strchr (k, ' ') + 1 : NULL) {
        if (strncmp (k, "whsec_", 6) != 0)
            continue;
        size_t chars = strcspn (k + 6, "= ");
        size_t bytes = chars * 3 / 4;
        if (bytes < ING_SECRET_MIN_BYTES || bytes > ING_SECRET_MAX_BYTES)
            return bad;
    }
    return NULL;
}

const char *
ing_check_header_name (const char *name)
{
    size_t n = strlen (name);
    if (n == 0 || n > ING_HEADER_NAME_MAX)
        return "header names must be 1 to 256 characters";
    for (const char *p = name; *p; p++)
        if (!(s_alnum (*p) || strchr ("!#$%&'*+-.^_`|~", *p)))
            return "header names must be HTTP tokens";
    if (!strcasecmp (name, "host") || !strcasecmp (name, "content-length") ||
        !strcasecmp (name, "transfer-encoding") || !strcasecmp (name, "connection"))
        return "this header is set by the HTTP client and cannot be given";
    if (!strncasecmp (name, "webhook-", 8))
        return "webhook-* headers are set by zhook and cannot be given";
    if (!strcasecmp (name, "traceparent") || !strcasecmp (name, "tracestate"))
        return "trace context headers are set by zhook (send traceparent on the API request)";
    return NULL;
}

const char *
ing_check_header_value (const char *value)
{
    if (strlen (value) > ING_HEADER_VALUE_MAX)
        return "header values must be at most 8192 bytes";
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return "header values must not contain CR, LF, NUL or other control characters";
    return NULL;
}

const char *
ing_check_idempotency_key (const char *key)
{
    size_t n = strlen (key);
    if (n == 0 || n > 255)
        return "must be 1 to 255 characters";
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return "must be printable ASCII";
    return NULL;
}

const char *
ing_check_ordering_key (const char *key)
{
    return ing_check_idempotency_key (key);
}

/* Topics are matched by the scheduler with plain byte compares: one case,
 * one separator and no escapes keep "order.*" cheap and unambiguous. */
const char *
ing_check_topic (const char *topic, bool pattern)
{
    size_t n = strlen (topic);
    if (n == 0 || n > ING_TOPIC_MAX)
        return "must be 1 to 128 bytes";
    if (strchr (topic, '*')) {
        if (!pattern)
            return "an event topic cannot contain * (wildcards are for subscriptions)";
        if (strcmp (topic, "*") == 0)
            return NULL;
        if (n < 3 || strcmp (topic + n - 2, ".*") != 0 || memchr (topic, '*', n - 1))
            return "* is allowed only as the whole topic (\"*\") or as the last segment "
                   "(\"order.*\")";
        n -= 2; /* check the prefix */
    }
    size_t segment = 0;
    for (size_t i = 0; i < n; i++) {
        char c = topic[i];
        if (c == '.') {
            if (segment == 0)
                return "must not have an empty segment (a leading, trailing or double dot)";
            segment = 0;
        }
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            segment++;
        else
            return "must be dot-separated segments of lowercase a-z, 0-9, _ and -";
    }
    if (segment == 0)
        return "must not have an empty segment (a leading, trailing or double dot)";
    return NULL;
}

const char *
ing_check_subscription_secret (const char *secret)
{
    if (strncmp (secret, "whsec_", 6) != 0 || strchr (secret, ' '))
        return "must be one whsec_ key (standard base64 of 24 to 64 bytes)";
    return ing_check_secret (secret) ? "must be one whsec_ key (standard base64 of 24 to 64 bytes)"
                                     : NULL;
}

/* --- one message ------------------------------------------------------- */

static const char *s_known_fields[] = {
    "url",          "payload",    "deliver_at", "delay_ms",     "headers",
    "max_attempts", "timeout_ms", "secret",     "ordering_key", NULL};

static void
s_item_clear (proto_item_t *item)
{
    free (item->url);
    free (item->payload);
    for (size_t i = 0; i < item->header_count; i++) {
        free (item->headers[i].name);
        free (item->headers[i].value);
    }
    free (item->headers);
    free (item->secret);
    free (item->ordering_key);
    char *id = item->id;
    memset (item, 0, sizeof *item);
    item->id = id;
}

/* Integer field in [min, max]; 1 when absent, 0 when set, -1 on error (added). */
static int
s_int_field (const json_t *obj, const char *name, int64_t min, int64_t max, const char *prefix,
             json_t *errors, int64_t *out, int *oom)
{
    const json_t *v = json_object_get (obj, name);
    if (!v)
        return 1;
    if (!json_is_integer (v) || json_integer_value (v) < min || json_integer_value (v) > max) {
        char msg[96];
        snprintf (msg, sizeof msg, "must be an integer from %lld to %lld", (long long)min,
                  (long long)max);
        if (s_add (errors, prefix, name, msg))
            *oom = 1;
        return -1;
    }
    *out = json_integer_value (v);
    return 0;
}

/* Refuses every key of obj not in known (NULL-terminated); 1 when one was. */
static int
s_unknown_fields (const json_t *obj, const char **known, const char *prefix, json_t *errors,
                  int *oom)
{
    int bad = 0;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *)obj, key, value)
    {
        bool found = false;
        for (const char **k = known; *k && !found; k++)
            found = !strcmp (*k, key);
        if (!found) {
            *oom |= s_add (errors, prefix, key, "unknown field") != 0;
            bad = 1;
        }
    }
    return bad;
}

typedef struct {
    proto_header_t *headers;
    size_t header_count;
} s_header_list_t;

static int
s_headers (const json_t *v, const char *prefix, s_header_list_t *list, json_t *errors, int *oom)
{
    char field[ING_FIELD_MAX];
    int bad = 0;
    if (!json_is_object (v)) {
        *oom |= s_add (errors, prefix, "headers", "must be an object of string to string") != 0;
        return -1;
    }
    size_t n = json_object_size (v);
    if (n > ING_HEADERS_MAX) {
        *oom |= s_add (errors, prefix, "headers", "must have at most 32 entries") != 0;
        return -1;
    }
    if (n == 0)
        return 0;
    list->headers = calloc (n, sizeof *list->headers);
    if (!list->headers) {
        *oom = 1;
        return -1;
    }
    const char *name;
    json_t *value;
    json_object_foreach ((json_t *)v, name, value)
    {
        char sub[ING_FIELD_MAX];
        snprintf (sub, sizeof sub, "headers.%s", name);
        s_field (field, sizeof field, prefix, sub);
        const char *why = ing_check_header_name (name);
        if (!why && !json_is_string (value))
            why = "header values must be strings";
        if (!why)
            why = ing_check_header_value (json_string_value (value));
        if (!why)
            for (size_t i = 0; i < list->header_count; i++)
                if (!strcasecmp (list->headers[i].name, name))
                    why = "header given twice (names are case-insensitive)";
        if (why) {
            *oom |= ing_errors_add (errors, field, why) != 0;
            bad = 1;
            continue;
        }
        proto_header_t *h = &list->headers[list->header_count];
        h->name = strdup (name);
        h->value = strdup (json_string_value (value));
        list->header_count++;
        if (!h->name || !h->value) {
            *oom = 1;
            return -1;
        }
    }
    return bad ? -1 : 0;
}

/* deliver_at xor delay_ms into item; 1 when invalid (errors added). */
static int
s_due (const json_t *obj, const char *prefix, proto_item_t *item, json_t *errors, int *oom)
{
    int bad = 0;
    const json_t *deliver_at = json_object_get (obj, "deliver_at");
    int64_t delay = 0;
    int has_delay = s_int_field (obj, "delay_ms", 0, ING_DELAY_MAX_MS, prefix, errors, &delay, oom);
    if (has_delay < 0)
        bad = 1;
    else if (has_delay == 0)
        item->delay_ms = delay;
    if (deliver_at) {
        int64_t ms = 0;
        if (has_delay != 1) {
            *oom |=
                s_add (errors, prefix, "deliver_at", "give deliver_at or delay_ms, not both") != 0;
            bad = 1;
        }
        else if (!json_is_string (deliver_at) ||
                 zh_time_parse (json_string_value (deliver_at), &ms) != 0) {
            *oom |= s_add (errors, prefix, "deliver_at",
                           "must be an RFC 3339 date-time such as 2026-11-22T10:00:00Z") != 0;
            bad = 1;
        }
        else
            item->deliver_at_ms = ms;
    }
    return bad;
}

/* Optional ordering_key into item; 1 when invalid (errors added). */
static int
s_ordering_key (const json_t *obj, const char *prefix, proto_item_t *item, json_t *errors, int *oom)
{
    const json_t *key = json_object_get (obj, "ordering_key");
    if (!key)
        return 0;
    const char *why = json_is_string (key) ? ing_check_ordering_key (json_string_value (key))
                                           : "must be a string";
    if (why) {
        *oom |= s_add (errors, prefix, "ordering_key", why) != 0;
        return 1;
    }
    if (!(item->ordering_key = strdup (json_string_value (key))))
        *oom = 1;
    return 0;
}

ing_valid_rc_t
ing_validate_item (const json_t *obj, const char *prefix, const zh_netguard_t *guard,
                   proto_item_t *item, json_t *errors)
{
    int oom = 0, bad = 0;
    if (!json_is_object (obj)) {
        char field[ING_FIELD_MAX];
        snprintf (field, sizeof field, "%s", prefix);
        size_t n = strlen (field);
        if (n && field[n - 1] == '.')
            field[n - 1] = 0;
        if (ing_errors_add (errors, *field ? field : "body", "must be a JSON object"))
            return ING_VALID_ENOMEM;
        return ING_VALID_INVALID;
    }

    bad |= s_unknown_fields (obj, s_known_fields, prefix, errors, &oom);

    /* url */
    const json_t *url = json_object_get (obj, "url");
    if (!url) {
        oom |= s_add (errors, prefix, "url", "is required") != 0;
        bad = 1;
    }
    else if (!json_is_string (url)) {
        oom |= s_add (errors, prefix, "url", "must be a string") != 0;
        bad = 1;
    }
    else {
        const char *why = ing_check_url (json_string_value (url), guard);
        if (why) {
            oom |= s_add (errors, prefix, "url", why) != 0;
            bad = 1;
        }
        else if (!(item->url = strdup (json_string_value (url))))
            oom = 1;
    }

    /* payload: any JSON value, re-serialized compactly as the delivery body */
    const json_t *payload = json_object_get (obj, "payload");
    if (!payload) {
        oom |= s_add (errors, prefix, "payload", "is required") != 0;
        bad = 1;
    }
    else {
        char *text = json_dumps (payload, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            oom = 1;
        else {
            item->payload = (uint8_t *)text;
            item->payload_size = strlen (text);
        }
    }

    bad |= s_due (obj, prefix, item, errors, &oom);
    bad |= s_ordering_key (obj, prefix, item, errors, &oom);

    /* headers */
    const json_t *headers = json_object_get (obj, "headers");
    if (headers) {
        s_header_list_t list = {NULL, 0};
        if (s_headers (headers, prefix, &list, errors, &oom))
            bad = 1;
        item->headers = list.headers;
        item->header_count = list.header_count;
    }

    /* max_attempts, timeout_ms: 0 on the wire means "scheduler default" */
    int64_t n;
    int rc = s_int_field (obj, "max_attempts", 1, 100, prefix, errors, &n, &oom);
    if (rc < 0)
        bad = 1;
    else if (rc == 0)
        item->max_attempts = (uint32_t)n;
    rc = s_int_field (obj, "timeout_ms", 100, 60000, prefix, errors, &n, &oom);
    if (rc < 0)
        bad = 1;
    else if (rc == 0)
        item->timeout_ms = (uint32_t)n;

    /* secret */
    const json_t *secret = json_object_get (obj, "secret");
    if (secret) {
        const char *why = json_is_string (secret) ? ing_check_secret (json_string_value (secret))
                                                  : "must be a string";
        if (why) {
            oom |= s_add (errors, prefix, "secret", why) != 0;
            bad = 1;
        }
        else if (!(item->secret = strdup (json_string_value (secret))))
            oom = 1;
    }

    if (oom || bad) {
        s_item_clear (item);
        return oom ? ING_VALID_ENOMEM : ING_VALID_INVALID;
    }
    return ING_VALID_OK;
}

/* --- bodies ------------------------------------------------------------ */

static json_t *
s_parse (const char *body, size_t size, json_t *errors, ing_valid_rc_t *rc)
{
    json_error_t err;
    json_t *root = json_loadb (body, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!root) {
        char msg[256];
        snprintf (msg, sizeof msg, "not valid JSON: %s (line %d, column %d)", err.text, err.line,
                  err.column);
        *rc = ing_errors_add (errors, "body", msg) ? ING_VALID_ENOMEM : ING_VALID_MALFORMED;
    }
    return root;
}

ing_valid_rc_t
ing_validate_message (const char *body, size_t size, const zh_netguard_t *guard, proto_item_t *item,
                      json_t *errors)
{
    ing_valid_rc_t rc;
    json_t *root = s_parse (body, size, errors, &rc);
    if (!root)
        return rc;
    rc = ing_validate_item (root, "", guard, item, errors);
    json_decref (root);
    return rc;
}

ing_valid_rc_t
ing_validate_batch (const char *body, size_t size, const zh_netguard_t *guard,
                    proto_submit_t *submit, json_t **results, json_t *errors)
{
    *results = NULL;
    ing_valid_rc_t rc;
    json_t *root = s_parse (body, size, errors, &rc);
    if (!root)
        return rc;
    rc = ING_VALID_INVALID;
    json_t *list = NULL;
    if (!json_is_object (root)) {
        if (ing_errors_add (errors, "body", "must be a JSON object {\"messages\": [...]}"))
            rc = ING_VALID_ENOMEM;
        goto out;
    }
    const char *key;
    json_t *value;
    int bad = 0;
    json_object_foreach (root, key, value)
    {
        if (strcmp (key, "messages")) {
            if (s_add (errors, "", key, "unknown field")) {
                rc = ING_VALID_ENOMEM;
                goto out;
            }
            bad = 1;
        }
    }
    const json_t *messages = json_object_get (root, "messages");
    const char *why = NULL;
    if (!messages)
        why = "is required";
    else if (!json_is_array (messages))
        why = "must be an array of message objects";
    else if (json_array_size (messages) == 0 || json_array_size (messages) > ING_BATCH_MAX)
        why = "must hold 1 to 1000 messages";
    if (why) {
        if (ing_errors_add (errors, "messages", why))
            rc = ING_VALID_ENOMEM;
        goto out;
    }
    if (bad)
        goto out;

    list = json_array ();
    if (!list) {
        rc = ING_VALID_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < json_array_size (messages); i++) {
        char prefix[32];
        snprintf (prefix, sizeof prefix, "messages[%zu].", i);
        proto_item_t tmp;
        memset (&tmp, 0, sizeof tmp);
        json_t *item_errors = json_array ();
        if (!item_errors) {
            rc = ING_VALID_ENOMEM;
            goto out;
        }
        ing_valid_rc_t irc =
            ing_validate_item (json_array_get (messages, i), prefix, guard, &tmp, item_errors);
        if (irc == ING_VALID_ENOMEM) {
            json_decref (item_errors);
            rc = ING_VALID_ENOMEM;
            goto out;
        }
        if (irc == ING_VALID_OK) {
            json_decref (item_errors);
            proto_item_t *item = proto_submit_add_item (submit);
            if (!item) {
                s_item_clear (&tmp);
                rc = ING_VALID_ENOMEM;
                goto out;
            }
            char *id = item->id;
            *item = tmp;
            item->id = id;
            if (json_array_append_new (list, json_null ())) {
                rc = ING_VALID_ENOMEM;
                goto out;
            }
        }
        else if (json_array_append_new (list, item_errors)) {
            rc = ING_VALID_ENOMEM;
            goto out;
        }
    }
    *results = list;
    list = NULL;
    rc = ING_VALID_OK;
out:
    json_decref (list);
    json_decref (root);
    return rc;
}

/* --- subscriptions and events ------------------------------------------ */

static void
s_subscription_reset (proto_subscription_t *sub)
{
    proto_subscription_clear (sub);
    memset (sub, 0, sizeof *sub);
}

/* A required or optional string field checked by check (NULL: any string
 * up to max bytes); copied into *out. 1 when invalid (errors added). */
static int
s_string_field (const json_t *obj, const char *name, bool required, size_t max,
                const char *(*check) (const char *), char **out, json_t *errors, int *oom)
{
    const json_t *v = json_object_get (obj, name);
    const char *why = NULL;
    if (!v)
        why = required ? "is required" : NULL;
    else if (!json_is_string (v))
        why = "must be a string";
    else if (check)
        why = check (json_string_value (v));
    else if (json_string_length (v) > max ||
             strlen (json_string_value (v)) != json_string_length (v))
        why = "must be at most 1024 bytes, without NUL";
    if (why) {
        *oom |= s_add (errors, "", name, why) != 0;
        return 1;
    }
    if (v && !(*out = strdup (json_string_value (v))))
        *oom = 1;
    return 0;
}

static const char *
s_check_pattern (const char *topic)
{
    return ing_check_topic (topic, true);
}

static const char *
s_check_event_topic (const char *topic)
{
    return ing_check_topic (topic, false);
}

/* rate_limit into sub; 1 when invalid. */
static int
s_rate_limit (const json_t *obj, proto_subscription_t *sub, json_t *errors, int *oom, bool *set)
{
    int64_t n = 0;
    int rc = s_int_field (obj, "rate_limit", 0, ING_RATE_LIMIT_MAX, "", errors, &n, oom);
    if (rc == 0) {
        sub->rate_limit = (uint32_t)n;
        *set = true;
    }
    return rc < 0;
}

static const char *s_subscription_fields[] = {"topic",       "url",        "secret", "headers",
                                              "description", "rate_limit", NULL};

ing_valid_rc_t
ing_validate_subscription (const char *body, size_t size, const zh_netguard_t *guard,
                           proto_subscription_t *sub, json_t *errors)
{
    ing_valid_rc_t rc;
    json_t *root = s_parse (body, size, errors, &rc);
    if (!root)
        return rc;
    int oom = 0, bad = 0;
    if (!json_is_object (root)) {
        json_decref (root);
        return ing_errors_add (errors, "body", "must be a JSON object") ? ING_VALID_ENOMEM
                                                                        : ING_VALID_INVALID;
    }
    bad |= s_unknown_fields (root, s_subscription_fields, "", errors, &oom);
    bad |= s_string_field (root, "topic", true, 0, s_check_pattern, &sub->topic, errors, &oom);

    const json_t *url = json_object_get (root, "url");
    const char *why = !url                    ? "is required"
                      : !json_is_string (url) ? "must be a string"
                                              : ing_check_url (json_string_value (url), guard);
    if (why) {
        oom |= s_add (errors, "", "url", why) != 0;
        bad = 1;
    }
    else if (!(sub->url = strdup (json_string_value (url))))
        oom = 1;

    bad |= s_string_field (root, "secret", false, 0, ing_check_subscription_secret, &sub->secret,
                           errors, &oom);
    bad |= s_string_field (root, "description", false, ING_DESCRIPTION_MAX, NULL, &sub->description,
                           errors, &oom);
    const json_t *headers = json_object_get (root, "headers");
    if (headers) {
        s_header_list_t list = {NULL, 0};
        if (s_headers (headers, "", &list, errors, &oom))
            bad = 1;
        sub->headers = list.headers;
        sub->header_count = list.header_count;
    }
    bool set = false;
    bad |= s_rate_limit (root, sub, errors, &oom, &set);
    json_decref (root);
    if (oom || bad) {
        s_subscription_reset (sub);
        return oom ? ING_VALID_ENOMEM : ING_VALID_INVALID;
    }
    return ING_VALID_OK;
}

static const char *s_update_fields[] = {"enabled", "rate_limit", "description", NULL};

ing_valid_rc_t
ing_validate_subscription_update (const char *body, size_t size, proto_subscription_t *sub,
                                  uint32_t *mask, json_t *errors)
{
    *mask = 0;
    ing_valid_rc_t rc;
    json_t *root = s_parse (body, size, errors, &rc);
    if (!root)
        return rc;
    int oom = 0, bad = 0;
    if (!json_is_object (root)) {
        json_decref (root);
        return ing_errors_add (errors, "body", "must be a JSON object") ? ING_VALID_ENOMEM
                                                                        : ING_VALID_INVALID;
    }
    bad |= s_unknown_fields (root, s_update_fields, "", errors, &oom);
    const json_t *enabled = json_object_get (root, "enabled");
    if (enabled && !json_is_boolean (enabled)) {
        oom |= s_add (errors, "", "enabled", "must be true or false") != 0;
        bad = 1;
    }
    else if (enabled) {
        sub->enabled = json_is_true (enabled);
        *mask |= PROTO_SUB_SET_ENABLED;
    }
    bool set = false;
    bad |= s_rate_limit (root, sub, errors, &oom, &set);
    if (set)
        *mask |= PROTO_SUB_SET_RATE_LIMIT;
    const json_t *description = json_object_get (root, "description");
    if (json_is_null (description)) /* null clears it */
        *mask |= PROTO_SUB_SET_DESCRIPTION;
    else if (description) {
        int before = bad;
        bad |= s_string_field (root, "description", false, ING_DESCRIPTION_MAX, NULL,
                               &sub->description, errors, &oom);
        if (bad == before)
            *mask |= PROTO_SUB_SET_DESCRIPTION;
    }
    if (!bad && !oom && *mask == 0) {
        oom |= ing_errors_add (errors, "body",
                               "give at least one of enabled, rate_limit, description") != 0;
        bad = 1;
    }
    json_decref (root);
    if (oom || bad) {
        s_subscription_reset (sub);
        *mask = 0;
        return oom ? ING_VALID_ENOMEM : ING_VALID_INVALID;
    }
    return ING_VALID_OK;
}

static const char *s_rotation_fields[] = {"secret", NULL};

ing_valid_rc_t
ing_validate_rotation (const char *body, size_t size, char **secret, json_t *errors)
{
    *secret = NULL;
    ing_valid_rc_t rc;
    json_t *root = s_parse (body, size, errors, &rc);
    if (!root)
        return rc;
    int oom = 0, bad = 0;
    if (!json_is_object (root)) {
        json_decref (root);
        return ing_errors_add (errors, "body", "must be a JSON object") ? ING_VALID_ENOMEM
                                                                        : ING_VALID_INVALID;
    }
    bad |= s_unknown_fields (root, s_rotation_fields, "", errors, &oom);
    bad |= s_string_field (root, "secret", false, 0, ing_check_subscription_secret, secret, errors,
                           &oom);
    json_decref (root);
    if (oom || bad) {
        free (*secret);
        *secret = NULL;
        return oom ? ING_VALID_ENOMEM : ING_VALID_INVALID;
    }
    return ING_VALID_OK;
}

static const char *s_event_fields[] = {"topic",    "payload",      "deliver_at",
                                       "delay_ms", "ordering_key", NULL};

ing_valid_rc_t
ing_validate_event (const char *body, size_t size, char **topic, proto_item_t *item, json_t *errors)
{
    *topic = NULL;
    ing_valid_rc_t rc;
    json_t *root = s_parse (body, size, errors, &rc);
    if (!root)
        return rc;
    int oom = 0, bad = 0;
    if (!json_is_object (root)) {
        json_decref (root);
        return ing_errors_add (errors, "body", "must be a JSON object") ? ING_VALID_ENOMEM
                                                                        : ING_VALID_INVALID;
    }
    bad |= s_unknown_fields (root, s_event_fields, "", errors, &oom);
    bad |= s_string_field (root, "topic", true, 0, s_check_event_topic, topic, errors, &oom);
    const json_t *payload = json_object_get (root, "payload");
    if (!payload) {
        oom |= s_add (errors, "", "payload", "is required") != 0;
        bad = 1;
    }
    else {
        char *text = json_dumps (payload, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!text)
            oom = 1;
        else {
            item->payload = (uint8_t *)text;
            item->payload_size = strlen (text);
        }
    }
    bad |= s_due (root, "", item, errors, &oom);
    bad |= s_ordering_key (root, "", item, errors, &oom);
    /* the scheduler fills each fanned-out message's url from its subscription */
    if (!bad && !oom && !(item->url = strdup ("")))
        oom = 1;
    json_decref (root);
    if (oom || bad) {
        s_item_clear (item);
        free (*topic);
        *topic = NULL;
        return oom ? ING_VALID_ENOMEM : ING_VALID_INVALID;
    }
    return ING_VALID_OK;
}
