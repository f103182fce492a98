/*  ing_openapi_test.c — the OpenAPI document embedded in the ingress: valid
 *  JSON without duplicate keys, OpenAPI 3.1.x, every local $ref resolves,
 *  every operation has an id and responses, errors are problem+json, and
 *  the id and topic patterns agree with the code that makes and checks them
 *  (zh_id_new, ing_check_topic). tests/e2e/t_openapi.sh checks the document
 *  against the served routes and the OpenAPI 3.1 schema. */
#include "ingress/ing_openapi.h"
#include "common/zh_id.h"
#include "ingress/ing_validate.h"

#include <jansson.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static json_t *
s_doc (void)
{
    size_t size = 0;
    const char *text = ing_openapi_doc (&size);
    assert_non_null (text);
    assert_int_equal (strlen (text), size);
    json_error_t err;
    json_t *doc = json_loadb (text, size, JSON_REJECT_DUPLICATES, &err);
    if (!doc)
        fail_msg ("openapi.json line %d: %s", err.line, err.text);
    return doc;
}

/* The value at a local reference "#/a/b/c", or NULL. */
static json_t *
s_resolve (json_t *doc, const char *ref)
{
    if (strncmp (ref, "#/", 2) != 0)
        return NULL;
    char buf[256];
    snprintf (buf, sizeof buf, "%s", ref + 2);
    json_t *cur = doc;
    char *save = NULL;
    for (char *part = strtok_r (buf, "/", &save); part && cur; part = strtok_r (NULL, "/", &save))
        cur = json_object_get (cur, part);
    return cur;
}

static void
s_check_refs (json_t *doc, json_t *node, size_t *count)
{
    if (json_is_array (node)) {
        size_t i;
        json_t *v;
        json_array_foreach (node, i, v)
        {
            s_check_refs (doc, v, count);
        }
        return;
    }
    if (!json_is_object (node))
        return;
    const char *key;
    json_t *v;
    json_object_foreach (node, key, v)
    {
        if (!strcmp (key, "$ref")) {
            assert_true (json_is_string (v));
            if (!s_resolve (doc, json_string_value (v)))
                fail_msg ("unresolved $ref %s", json_string_value (v));
            (*count)++;
        }
        else
            s_check_refs (doc, v, count);
    }
}

static void
test_document (void **state)
{
    (void)state;
    json_t *doc = s_doc ();
    const char *version = json_string_value (json_object_get (doc, "openapi"));
    assert_non_null (version);
    assert_int_equal (strncmp (version, "3.1.", 4), 0);
    assert_non_null (json_string_value (json_object_get (json_object_get (doc, "info"), "title")));
    size_t refs = 0;
    s_check_refs (doc, doc, &refs);
    assert_true (refs > 50);

    json_t *bearer = s_resolve (doc, "#/components/securitySchemes/bearer");
    assert_string_equal (json_string_value (json_object_get (bearer, "type")), "http");
    assert_string_equal (json_string_value (json_object_get (bearer, "scheme")), "bearer");
    json_t *problem = s_resolve (doc, "#/components/schemas/Problem/required");
    assert_int_equal (json_array_size (problem), 4);
    json_decref (doc);
}

/* Every operation: unique operationId, responses, problem+json errors, and
 * no auth exactly on the operations endpoints served without a key. */
static void
test_operations (void **state)
{
    (void)state;
    static const char *methods[] = {"get", "post", "patch", "delete", "put", NULL};
    json_t *doc = s_doc ();
    json_t *ids = json_object ();
    const char *path;
    json_t *item;
    size_t ops = 0;
    json_object_foreach (json_object_get (doc, "paths"), path, item)
    {
        for (const char **m = methods; *m; m++) {
            json_t *op = json_object_get (item, *m);
            if (!op)
                continue;
            ops++;
            const char *id = json_string_value (json_object_get (op, "operationId"));
            assert_non_null (id);
            if (json_object_get (ids, id))
                fail_msg ("operationId %s twice", id);
            json_object_set_new (ids, id, json_true ());
            json_t *responses = json_object_get (op, "responses");
            assert_true (json_object_size (responses) >= 2);
            assert_non_null (json_object_get (responses, "default"));
            json_t *security = json_object_get (op, "security");
            bool open = !strcmp (path, "/live") || !strcmp (path, "/ready") ||
                        !strcmp (path, "/metrics") || !strcmp (path, "/openapi.json");
            if (open)
                assert_true (json_is_array (security) && json_array_size (security) == 0);
            else {
                assert_null (security); /* the document's bearer requirement */
                assert_non_null (json_object_get (responses, "401"));
            }
            /* templated paths declare their {id} */
            if (strstr (path, "{id}"))
                assert_non_null (json_object_get (item, "parameters"));
        }
    }
    assert_int_equal (ops, 19);
    json_t *error = s_resolve (doc, "#/components/responses/Error/content");
    assert_non_null (json_object_get (error, "application/problem+json"));
    json_decref (ids);
    json_decref (doc);
}

static bool
s_matches (const char *pattern, const char *text)
{
    regex_t re;
    assert_int_equal (regcomp (&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec (&re, text, 0, NULL, 0) == 0;
    regfree (&re);
    return ok;
}

static const char *
s_pattern (json_t *doc, const char *schema)
{
    char ref[128];
    snprintf (ref, sizeof ref, "#/components/schemas/%s/pattern", schema);
    const char *p = json_string_value (s_resolve (doc, ref));
    assert_non_null (p);
    return p;
}

/* The documented patterns accept what the code makes and refuse the rest. */
static void
test_patterns_agree_with_code (void **state)
{
    (void)state;
    json_t *doc = s_doc ();
    static const char *kinds[][2] = {
        {"MessageId", "msg"}, {"SubscriptionId", "sub"}, {"EventId", "evt"}};
    for (size_t k = 0; k < 3; k++) {
        const char *p = s_pattern (doc, kinds[k][0]);
        for (int i = 0; i < 50; i++) {
            char id[ZH_ID_MAX];
            assert_int_equal (zh_id_new (kinds[k][1], id, sizeof id), 0);
            assert_true (zh_id_valid (id, kinds[k][1]));
            if (!s_matches (p, id))
                fail_msg ("%s pattern refuses %s", kinds[k][0], id);
        }
        assert_false (s_matches (p, "msg_01jd0000000000000000000000"));
        assert_false (s_matches (p, "xyz_01JD0000000000000000000000"));
    }
    static const char *topics[] = {"order.created",
                                   "a",
                                   "billing.invoice-paid",
                                   "x_1.y-2.z",
                                   "order.*",
                                   "*",
                                   "Order.created",
                                   "order..created",
                                   ".order",
                                   "order.",
                                   "order.*.x",
                                   "**",
                                   "ord*",
                                   "order created",
                                   "a.*",
                                   "*.a",
                                   "é",
                                   NULL};
    const char *event = s_pattern (doc, "Topic");
    const char *pattern = s_pattern (doc, "TopicPattern");
    for (const char **t = topics; *t; t++) {
        if ((ing_check_topic (*t, false) == NULL) != s_matches (event, *t))
            fail_msg ("Topic pattern and ing_check_topic disagree on \"%s\"", *t);
        if ((ing_check_topic (*t, true) == NULL) != s_matches (pattern, *t))
            fail_msg ("TopicPattern and ing_check_topic disagree on \"%s\"", *t);
    }
    json_decref (doc);
}

int ing_openapi_test (void);

int
ing_openapi_test (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_document),
        cmocka_unit_test (test_operations),
        cmocka_unit_test (test_patterns_agree_with_code),
    };
    return cmocka_run_group_tests_name ("ing_openapi_test", tests, NULL, NULL);
}
