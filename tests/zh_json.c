/*  zh_json.c — tiny JSON field extractor for the end-to-end scripts (no jq).
 *
 *      zh_json PATH [FILE]        reads FILE (or stdin), prints the value
 *
 *  PATH is a dot-separated walk: object keys, array indexes (numbers), and a
 *  final "#" for the length of an array, object or string. "." alone is the
 *  whole document. Strings print raw (no quotes), numbers/true/false/null as
 *  JSON, arrays and objects as compact JSON. Each value ends with a newline.
 *
 *      zh_json attempts.#            -> 3
 *      zh_json attempts.1.status_code -> 500
 *      zh_json errors.0.field        -> url
 *
 *  Exit status: 0 found, 1 not found (nothing printed), 2 usage or bad JSON. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_step (json_t *node, const char *key)
{
    if (json_is_object (node))
        return json_object_get (node, key);
    if (json_is_array (node)) {
        char *end = NULL;
        errno = 0;
        long index = strtol (key, &end, 10);
        if (errno || end == key || *end || index < 0)
            return NULL;
        return json_array_get (node, (size_t)index);
    }
    return NULL;
}

static int
s_print (json_t *node)
{
    if (json_is_string (node)) {
        fwrite (json_string_value (node), 1, json_string_length (node), stdout);
        putchar ('\n');
        return 0;
    }
    char *text = json_dumps (node, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return 2;
    printf ("%s\n", text);
    free (text);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf (stderr, "usage: zh_json PATH [FILE]\n");
        return 2;
    }
    json_error_t error;
    json_t *root = argc == 3 ? json_load_file (argv[2], JSON_DECODE_ANY, &error)
                             : json_loadf (stdin, JSON_DECODE_ANY, &error);
    if (!root) {
        fprintf (stderr, "zh_json: bad JSON: %s (line %d)\n", error.text, error.line);
        return 2;
    }
    char *path = strdup (argv[1]);
    if (!path) {
        json_decref (root);
        return 2;
    }
    json_t *node = root;
    int rc = 0;
    char *rest = path;
    while (node && rest && *rest) {
        char *dot = strchr (rest, '.');
        if (dot)
            *dot = '\0';
        if (*rest == '\0') {
            //  a leading or doubled dot: stay on this node
        }
        else if (strcmp (rest, "#") == 0 && !dot) {
            size_t n = json_is_array (node)    ? json_array_size (node)
                       : json_is_object (node) ? json_object_size (node)
                       : json_is_string (node) ? json_string_length (node)
                                               : 0;
            if (!json_is_array (node) && !json_is_object (node) && !json_is_string (node))
                rc = 1;
            else
                printf ("%zu\n", n);
            free (path);
            json_decref (root);
            return rc;
        }
        else
            node = s_step (node, rest);
        rest = dot ? dot + 1 : NULL;
    }
    rc = node ? s_print (node) : 1;
    free (path);
    json_decref (root);
    return rc;
}
