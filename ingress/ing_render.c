/*  ing_render.c — proto replies to JSON response bodies (jansson). */
#include "ingress/ing_render.h"
#include "common/zh_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *
ing_render_time (int64_t ms)
{
    char buf[32];
    if (ms <= 0 || zh_time_format (ms, buf, sizeof buf) != 0)
        return json_null ();
    return json_string (buf);
}

/* Length of the valid UTF-8 sequence at p (RFC 3629: no overlongs,
 * surrogates or code points past U+10FFFF), or 0. */
static size_t
s_utf8_len (const unsigned char *p)
{
    if (p[0] < 0x80)
        return 1;
    size_t n;
    uint32_t cp;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) {
        n = 2;
        cp = p[0] & 0x1F;
    }
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        cp = p[0] & 0x0F;
    }
    else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        cp = p[0] & 0x07;
    }
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

/* Strings from the scheduler are not trusted to be UTF-8 (a truncated
 * response body may be cut anywhere): invalid bytes become U+FFFD rather
 * than failing the whole response. NULL only on ENOMEM. */
static json_t *
s_string_or_null (const char *s)
{
    if (!s)
        return json_null ();
    json_t *v = json_string (s);
    if (v)
        return v;
    size_t n = strlen (s);
    char *clean = malloc (n * 3 + 1);
    if (!clean)
        return NULL;
    size_t out = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = s_utf8_len (p);
        if (len) {
            memcpy (clean + out, p, len);
            out += len;
            p += len;
        }
        else {
            memcpy (clean + out, "\xEF\xBF\xBD", 3);
            out += 3;
            p++;
        }
    }
    clean[out] = 0;
    v = json_stringn (clean, out);
    free (clean);
    return v;
}

/* json_object_set_new with a failure flag, so builders stay flat. */
static void
s_set (json_t *obj, const char *key, json_t *value, int *failed)
{
    if (!value || json_object_set_new (obj, key, value))
        *failed = 1;
}

/* The one exit of every builder: o, or NULL (o released) when anything failed. */
static json_t *
s_done (json_t *o, int failed)
{
    if (failed) {
        json_decref (o);
        return NULL;
    }
    return o;
}

/* The public views of reply's records as an array; NULL on ENOMEM. */
static json_t *
s_records (const proto_reply_t *reply)
{
    json_t *a = json_array ();
    for (size_t i = 0; a && i < reply->record_count; i++)
        if (json_array_append_new (a, ing_render_record (&reply->records[i]))) {
            json_decref (a);
            return NULL;
        }
    return a;
}

/* {"items": items, "next": cursor|null}: one page of a list. Takes items. */
static json_t *
s_page (json_t *items, const char *next)
{
    json_t *o = json_object ();
    if (!o) {
        json_decref (items);
        return NULL;
    }
    int failed = 0;
    s_set (o, "items", items, &failed);
    s_set (o, "next", s_string_or_null (next), &failed);
    return s_done (o, failed);
}

static json_t *
s_attempt (const proto_attempt_t *a)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    int failed = 0;
    s_set (o, "n", json_integer (a->n), &failed);
    s_set (o, "at", ing_render_time (a->at_ms), &failed);
    s_set (o, "status_code", a->status_code ? json_integer (a->status_code) : json_null (),
           &failed);
    s_set (o, "latency_ms", json_integer (a->latency_ms), &failed);
    s_set (o, "error", s_string_or_null (a->error), &failed);
    s_set (o, "response_body", s_string_or_null (a->body), &failed);
    return s_done (o, failed);
}

json_t *
ing_render_record (const proto_record_t *r)
{
    json_t *o = json_object ();
    json_t *attempts = json_array ();
    if (!o || !attempts) {
        json_decref (o);
        json_decref (attempts);
        return NULL;
    }
    int failed = 0;
    s_set (o, "id", s_string_or_null (r->id), &failed);
    s_set (o, "url", s_string_or_null (r->url), &failed);
    s_set (o, "status", json_string (proto_status_name (r->status)), &failed);
    s_set (o, "created_at", ing_render_time (r->created_ms), &failed);
    s_set (o, "deliver_at", ing_render_time (r->deliver_at_ms), &failed);
    s_set (o, "next_attempt_at", ing_render_time (r->ended_ms ? 0 : r->next_attempt_ms), &failed);
    s_set (o, "ended_at", ing_render_time (r->ended_ms), &failed);
    s_set (o, "dead_reason", s_string_or_null (r->dead_reason), &failed);
    s_set (o, "max_attempts", r->max_attempts ? json_integer (r->max_attempts) : json_null (),
           &failed);
    s_set (o, "timeout_ms", r->timeout_ms ? json_integer (r->timeout_ms) : json_null (), &failed);
    s_set (o, "ordering_key", s_string_or_null (r->ordering_key), &failed);
    s_set (o, "subscription_id", s_string_or_null (r->subscription_id), &failed);
    s_set (o, "event_id", s_string_or_null (r->event_id), &failed);
    for (size_t i = 0; i < r->attempt_count && !failed; i++) {
        json_t *a = s_attempt (&r->attempts[i]);
        if (!a || json_array_append_new (attempts, a))
            failed = 1;
    }
    s_set (o, "attempts", attempts, &failed);
    return s_done (o, failed);
}

json_t *
ing_render_accepted (const proto_reply_item_t *item)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    int failed = 0;
    s_set (o, "id", s_string_or_null (item->id), &failed);
    s_set (o, "status", json_string ("scheduled"), &failed);
    s_set (o, "deliver_at", ing_render_time (item->deliver_at_ms), &failed);
    return s_done (o, failed);
}

json_t *
ing_render_dead_letters (const proto_reply_t *reply)
{
    json_t *items = s_records (reply);
    return items ? s_page (items, reply->next) : NULL;
}

json_t *
ing_render_status (const proto_reply_t *reply)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    int failed = 0;
    for (size_t i = 0; i < reply->stat_count && !failed; i++)
        if (reply->stats[i].name)
            s_set (o, reply->stats[i].name, json_integer (reply->stats[i].value), &failed);
    return s_done (o, failed);
}

json_t *
ing_render_subscription (const proto_subscription_t *sub, bool with_secret)
{
    json_t *o = json_object ();
    json_t *headers = json_object ();
    if (!o || !headers) {
        json_decref (o);
        json_decref (headers);
        return NULL;
    }
    int failed = 0;
    for (size_t i = 0; i < sub->header_count && !failed; i++)
        if (sub->headers[i].name)
            s_set (headers, sub->headers[i].name, s_string_or_null (sub->headers[i].value),
                   &failed);
    s_set (o, "id", s_string_or_null (sub->id), &failed);
    s_set (o, "topic", s_string_or_null (sub->topic), &failed);
    s_set (o, "url", s_string_or_null (sub->url), &failed);
    s_set (o, "headers", headers, &failed);
    s_set (o, "description", s_string_or_null (sub->description), &failed);
    s_set (o, "enabled", json_boolean (sub->enabled), &failed);
    s_set (o, "disabled_reason", s_string_or_null (sub->enabled ? NULL : sub->disabled_reason),
           &failed);
    s_set (o, "rate_limit", json_integer (sub->rate_limit), &failed);
    s_set (o, "created_at", ing_render_time (sub->created_ms), &failed);
    s_set (o, "updated_at", ing_render_time (sub->updated_ms), &failed);
    s_set (o, "rotated_at", ing_render_time (sub->rotated_ms), &failed);
    s_set (o, "failing_since", ing_render_time (sub->failing_since_ms), &failed);
    if (with_secret)
        s_set (o, "secret", s_string_or_null (sub->secret), &failed);
    return s_done (o, failed);
}

json_t *
ing_render_subscriptions (const proto_reply_t *reply)
{
    json_t *items = json_array ();
    for (size_t i = 0; items && i < reply->subscription_count; i++)
        if (json_array_append_new (items,
                                   ing_render_subscription (&reply->subscriptions[i], false))) {
            json_decref (items);
            return NULL;
        }
    return items ? s_page (items, reply->next) : NULL;
}

json_t *
ing_render_event_accepted (const proto_reply_t *reply, const char *event_id)
{
    json_t *o = json_object ();
    json_t *ids = json_array ();
    if (!o || !ids) {
        json_decref (o);
        json_decref (ids);
        return NULL;
    }
    int failed = 0;
    for (size_t i = 0; i < reply->item_count && !failed; i++) {
        const proto_reply_item_t *item = &reply->items[i];
        if (item->status != 202 || !item->id)
            continue;
        json_t *id = s_string_or_null (item->id);
        if (!id || json_array_append_new (ids, id))
            failed = 1;
    }
    s_set (o, "id", s_string_or_null (reply->event_id ? reply->event_id : event_id), &failed);
    s_set (o, "messages", ids, &failed);
    return s_done (o, failed);
}

json_t *
ing_render_event (const proto_reply_t *reply)
{
    json_t *o = json_object ();
    if (!o)
        return NULL;
    int failed = 0;
    s_set (o, "id", s_string_or_null (reply->event_id), &failed);
    s_set (o, "topic", s_string_or_null (reply->topic), &failed);
    s_set (o, "created_at", ing_render_time (reply->event_created_ms), &failed);
    s_set (o, "messages", s_records (reply), &failed);
    return s_done (o, failed);
}

typedef struct {
    int status;
    const char *title;
    const char *slug;
} s_problem_kind_t;

static const s_problem_kind_t s_kinds[] = {
    {400, "Bad Request", "malformed-request"},
    {401, "Unauthorized", "unauthorized"},
    {403, "Forbidden", "forbidden"},
    {404, "Not Found", "not-found"},
    {405, "Method Not Allowed", "method-not-allowed"},
    {409, "Conflict", "conflict"},
    {413, "Content Too Large", "body-too-large"},
    {415, "Unsupported Media Type", "unsupported-media-type"},
    {422, "Unprocessable Content", "validation-failed"},
    {429, "Too Many Requests", "rate-limited"},
    {500, "Internal Server Error", "internal-error"},
    {503, "Service Unavailable", "scheduler-unavailable"},
    {507, "Insufficient Storage", "store-full"},
    {0, NULL, NULL},
};

const char *
ing_render_title (int status)
{
    for (const s_problem_kind_t *k = s_kinds; k->status; k++)
        if (k->status == status)
            return k->title;
    return status >= 500 ? "Server Error" : "Client Error";
}

const char *
ing_render_slug (int status)
{
    for (const s_problem_kind_t *k = s_kinds; k->status; k++)
        if (k->status == status)
            return k->slug;
    return status >= 500 ? "server-error" : "client-error";
}

json_t *
ing_render_problem (int status, const char *detail, json_t *errors)
{
    json_t *o = json_object ();
    if (!o) {
        json_decref (errors);
        return NULL;
    }
    char type[128];
    snprintf (type, sizeof type, "https://zhook.dev/problems/%s", ing_render_slug (status));
    int failed = 0;
    s_set (o, "type", json_string (type), &failed);
    s_set (o, "title", json_string (ing_render_title (status)), &failed);
    s_set (o, "status", json_integer (status), &failed);
    s_set (o, "detail", s_string_or_null (detail ? detail : ing_render_title (status)), &failed);
    if (errors)
        s_set (o, "errors", errors, &failed);
    return s_done (o, failed);
}

static json_t *
s_batch_entry (const json_t *result, const proto_reply_item_t *item)
{
    int failed = 0;
    if (!json_is_null (result)) {
        json_t *o = json_object ();
        if (!o)
            return NULL;
        s_set (o, "status", json_string ("invalid"), &failed);
        s_set (o, "error",
               ing_render_problem (422, "the message is invalid", json_deep_copy (result)),
               &failed);
        if (failed) {
            json_decref (o);
            return NULL;
        }
        return o;
    }
    if (item->status == 202)
        return ing_render_accepted (item);
    json_t *o = json_object ();
    if (!o)
        return NULL;
    s_set (o, "status", json_string ("rejected"), &failed);
    s_set (o, "error", ing_render_problem (item->status, item->error, NULL), &failed);
    return s_done (o, failed);
}

json_t *
ing_render_batch (const json_t *results, const proto_reply_t *reply)
{
    json_t *o = json_object ();
    json_t *items = json_array ();
    if (!o || !items) {
        json_decref (o);
        json_decref (items);
        return NULL;
    }
    int failed = 0;
    size_t next = 0;
    for (size_t i = 0; i < json_array_size (results) && !failed; i++) {
        const json_t *result = json_array_get (results, i);
        const proto_reply_item_t *item = NULL;
        if (json_is_null (result)) {
            if (!reply || next >= reply->item_count) {
                failed = 1;
                break;
            }
            item = &reply->items[next++];
        }
        json_t *e = s_batch_entry (result, item);
        if (!e || json_array_append_new (items, e))
            failed = 1;
    }
    s_set (o, "items", items, &failed);
    return s_done (o, failed);
}
