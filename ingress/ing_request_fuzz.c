/*  ing_request_fuzz.c — libFuzzer target over what the ingress does with
 *  request bytes before the scheduler sees them.
 *
 *      make bin/fuzz/ing_request_fuzz
 *      bin/fuzz/ing_request_fuzz -max_total_time=60 tests/fuzz/ing_request_fuzz
 *
 *  An input is "HEADER LINES \r\n\r\n BODY" (no blank line: all body). The
 *  header lines ("Name: value", split on \n, \r dropped) go to
 *  ing_http_check_headers and ing_http_parse_length, and the Origin /
 *  Access-Control-Request-* values to the CORS decisions; the body goes
 *  to the JSON depth pre-scan and to every validator (message, batch,
 *  subscription, subscription update, rotation, event). Invariants (abort
 *  on breach): a check result maps to a 4xx or 200; a validator that says
 *  OK produced its fields, one that refuses leaves errors behind and its
 *  outputs cleared; a body deeper than ING_JSON_MAX_DEPTH never validates
 *  (the server refuses it before the validators; here it must at least not
 *  crash them). */
#include "common/zh_netguard.h"
#include "ingress/ing_cors.h"
#include "ingress/ing_http.h"
#include "ingress/ing_validate.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
const char *__asan_default_options (void);

const char *
__asan_default_options (void)
{
    return "quarantine_size_mb=32";
}

#define S_ASSERT(cond)                                                                             \
    do {                                                                                           \
        if (!(cond))                                                                               \
            abort ();                                                                              \
    } while (0)

#define S_MAX_HEADERS 64

static zh_netguard_t *s_guard;
static ing_cors_t *s_cors;

/* errors must be empty exactly when rc is OK. */
static void
s_check_rc (ing_valid_rc_t rc, json_t *errors)
{
    S_ASSERT (rc == ING_VALID_OK || rc == ING_VALID_MALFORMED || rc == ING_VALID_INVALID ||
              rc == ING_VALID_ENOMEM);
    if (rc == ING_VALID_MALFORMED || rc == ING_VALID_INVALID)
        S_ASSERT (json_array_size (errors) > 0);
    /* errors render as JSON (they go into a problem+json body) */
    char *text = json_dumps (errors, JSON_COMPACT);
    S_ASSERT (text || rc == ING_VALID_ENOMEM);
    free (text);
}

static void
s_headers (char *text, size_t size)
{
    struct mg_header headers[S_MAX_HEADERS];
    int count = 0;
    const char *origin = NULL, *acr_method = NULL, *acr_headers = NULL;
    char *p = text, *end = text + size;
    while (p < end && count < S_MAX_HEADERS) {
        char *eol = memchr (p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        *eol = 0;
        if (eol > p && eol[-1] == '\r')
            eol[-1] = 0;
        char *colon = strchr (p, ':');
        if (colon) {
            *colon = 0;
            char *value = colon + 1;
            while (*value == ' ')
                value++;
            headers[count].name = p;
            headers[count].value = value;
            count++;
            uint64_t n;
            if (ing_http_parse_length (value, &n) == 0)
                S_ASSERT (value[0] >= '0' && value[0] <= '9');
            if (!strcmp (p, "Origin"))
                origin = value;
            else if (!strcmp (p, "Access-Control-Request-Method"))
                acr_method = value;
            else if (!strcmp (p, "Access-Control-Request-Headers"))
                acr_headers = value;
        }
        p = eol + 1;
    }
    ing_http_framing_t framing;
    ing_http_check_t rc = ing_http_check_headers (headers, count, 4096, &framing);
    int status = ing_http_check_status (rc);
    S_ASSERT (status == 200 || (status >= 400 && status < 500));
    S_ASSERT (ing_http_check_reason (rc) && ing_http_check_detail (rc));
    if (rc == ING_HTTP_OK) {
        S_ASSERT (!(framing.chunked && framing.has_length));
        S_ASSERT (!framing.has_length || framing.length <= 4096);
    }
    ing_cors_verdict_t v = ing_cors_simple (s_cors, origin);
    S_ASSERT (v == ING_CORS_NONE || v == ING_CORS_ALLOW || v == ING_CORS_REFUSE);
    v = ing_cors_preflight (s_cors, origin, acr_method, acr_headers, "GET, POST");
    S_ASSERT (v == ING_CORS_ALLOW || v == ING_CORS_REFUSE);
    if (v == ING_CORS_ALLOW)
        S_ASSERT (origin && ing_cors_allowed (s_cors, origin));
    /* the origin list parser too */
    ing_cors_t *cors = ing_cors_new (origin, NULL);
    ing_cors_destroy (&cors);
}

static void
s_body (const char *body, size_t size)
{
    (void)ing_http_json_depth_ok (body, size, ING_JSON_MAX_DEPTH);

    json_t *errors = json_array ();
    proto_submit_t *submit = proto_submit_new ();
    proto_item_t *item = proto_submit_add_item (submit);
    ing_valid_rc_t rc = ing_validate_message (body, size, s_guard, item, errors);
    s_check_rc (rc, errors);
    if (rc == ING_VALID_OK)
        S_ASSERT (item->url && item->payload);
    else
        S_ASSERT (!item->url);
    proto_submit_destroy (&submit);
    json_decref (errors);

    errors = json_array ();
    submit = proto_submit_new ();
    json_t *results = NULL;
    rc = ing_validate_batch (body, size, s_guard, submit, &results, errors);
    s_check_rc (rc, errors);
    if (rc == ING_VALID_OK) {
        S_ASSERT (results);
        S_ASSERT (submit->item_count <= json_array_size (results));
        S_ASSERT (json_array_size (results) <= ING_BATCH_MAX);
    }
    else
        S_ASSERT (!results);
    json_decref (results);
    proto_submit_destroy (&submit);
    json_decref (errors);

    errors = json_array ();
    proto_subscription_t *sub = proto_subscription_new ();
    rc = ing_validate_subscription (body, size, s_guard, sub, errors);
    s_check_rc (rc, errors);
    if (rc == ING_VALID_OK)
        S_ASSERT (sub->topic && sub->url);
    proto_subscription_destroy (&sub);
    json_decref (errors);

    errors = json_array ();
    sub = proto_subscription_new ();
    uint32_t mask = 0;
    rc = ing_validate_subscription_update (body, size, sub, &mask, errors);
    s_check_rc (rc, errors);
    if (rc == ING_VALID_OK)
        S_ASSERT (mask != 0);
    proto_subscription_destroy (&sub);
    json_decref (errors);

    errors = json_array ();
    char *secret = NULL;
    rc = ing_validate_rotation (body, size, &secret, errors);
    s_check_rc (rc, errors);
    if (rc != ING_VALID_OK)
        S_ASSERT (!secret);
    free (secret);
    json_decref (errors);

    errors = json_array ();
    submit = proto_submit_new ();
    item = proto_submit_add_item (submit);
    char *topic = NULL;
    rc = ing_validate_event (body, size, &topic, item, errors);
    s_check_rc (rc, errors);
    if (rc == ING_VALID_OK)
        S_ASSERT (topic && !ing_check_topic (topic, false));
    else
        S_ASSERT (!topic);
    free (topic);
    proto_submit_destroy (&submit);
    json_decref (errors);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_guard) {
        const char *bad = NULL;
        s_guard = zh_netguard_new (false, NULL, &bad);
        s_cors = ing_cors_new ("https://app.example.com, http://localhost:3000", NULL);
        S_ASSERT (s_guard && s_cors);
    }
    char *copy = malloc (size + 1);
    if (!copy)
        return 0;
    memcpy (copy, data, size);
    copy[size] = 0;
    const char *split = memmem (copy, size, "\r\n\r\n", 4);
    size_t head = split ? (size_t)(split - copy) : 0;
    const char *body = split ? split + 4 : copy;
    size_t body_size = size - (split ? head + 4 : 0);
    /* the body first: s_headers writes NULs into the header part */
    s_body (body, body_size);
    if (split)
        s_headers (copy, head);
    free (copy);
    return 0;
}
