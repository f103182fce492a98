/*  zh_config.c — environment readers. getenv is only called from here, and
 *  only during start-up (config is read-only afterwards). */
#include "common/zh_config.h"
#include "common/zh_defaults.h"
#include "common/zh_log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ZH_CONFIG_FILE_MAX 65536

/* Reads NAME or NAME_FILE. Returns 0 with *value (heap, or NULL if unset), -1 on error. */
static int
s_raw (const char *name, char **value)
{
    *value = NULL;
    const char *v = getenv (name);
    char file_var[128];
    snprintf (file_var, sizeof file_var, "%s_FILE", name);
    const char *path = getenv (file_var);
    if (v && path) {
        zh_error ("configuration: set either the variable or its _FILE form, not both",
                  "s:variable", name, NULL);
        return -1;
    }
    if (v) {
        *value = strdup (v);
        return *value ? 0 : -1;
    }
    if (!path)
        return 0;
    FILE *f = fopen (path, "rb");
    if (!f) {
        zh_error ("configuration: cannot read file", "s:variable", file_var, "s:error",
                  strerror (errno), NULL);
        return -1;
    }
    char *buf = malloc (ZH_CONFIG_FILE_MAX + 1);
    size_t n = buf ? fread (buf, 1, ZH_CONFIG_FILE_MAX + 1, f) : 0;
    int failed = !buf || ferror (f) || n > ZH_CONFIG_FILE_MAX;
    fclose (f);
    if (failed) {
        zh_error ("configuration: file unreadable or larger than 64 KiB", "s:variable", file_var,
                  NULL);
        free (buf);
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = 0;
    if (memchr (buf, 0, n)) {
        zh_error ("configuration: file contains a NUL byte", "s:variable", file_var, NULL);
        free (buf);
        return -1;
    }
    *value = buf;
    return 0;
}

static void
s_invalid (const char *name, const char *expected)
{
    zh_error ("configuration: invalid value", "s:variable", name, "s:expected", expected, NULL);
}

int
zh_config_string (const char *name, const char *def, char **out)
{
    char *v;
    if (s_raw (name, &v))
        return -1;
    if (!v && def)
        v = strdup (def);
    *out = v;
    return (def && !v) ? -1 : 0;
}

int
zh_config_int (const char *name, int64_t def, int64_t min, int64_t max, int64_t *out)
{
    char *v;
    if (s_raw (name, &v))
        return -1;
    if (!v || !*v) {
        free (v);
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long long n = strtoll (v, &end, 10);
    int bad = errno || end == v || *end || n < min || n > max;
    free (v);
    if (bad) {
        char expected[96];
        snprintf (expected, sizeof expected, "an integer from %lld to %lld", (long long)min,
                  (long long)max);
        s_invalid (name, expected);
        return -1;
    }
    *out = n;
    return 0;
}

int
zh_config_bool (const char *name, bool def, bool *out)
{
    char *v;
    if (s_raw (name, &v))
        return -1;
    int rc = 0;
    if (!v || !*v)
        *out = def;
    else if (!strcasecmp (v, "1") || !strcasecmp (v, "on") || !strcasecmp (v, "true") ||
             !strcasecmp (v, "yes"))
        *out = true;
    else if (!strcasecmp (v, "0") || !strcasecmp (v, "off") || !strcasecmp (v, "false") ||
             !strcasecmp (v, "no"))
        *out = false;
    else {
        s_invalid (name, "one of 1/0, on/off, true/false, yes/no");
        rc = -1;
    }
    free (v);
    return rc;
}

int
zh_config_listen (const char *name, const char *def, char **out)
{
    char *v;
    if (zh_config_string (name, def, &v))
        return -1;
    const char *colon = v ? strrchr (v, ':') : NULL;
    int ok = colon && colon != v && colon[1];
    if (ok) {
        char *end;
        errno = 0;
        long port = strtol (colon + 1, &end, 10);
        /* digits only: strtol alone would take " 80" or "+80" */
        ok = colon[1] >= '0' && colon[1] <= '9' && !errno && !*end && port >= 0 && port <= 65535;
        for (const char *p = v; ok && p < colon; p++)
            ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '-';
    }
    if (!ok) {
        s_invalid (name, "host:port, for example 0.0.0.0:8080");
        free (v);
        return -1;
    }
    *out = v;
    return 0;
}

int
zh_config_endpoint (const char *name, const char *host, int port, char **out)
{
    char def[300];
    if (host)
        snprintf (def, sizeof def, "tcp://%s:%d", host, port);
    else
        snprintf (def, sizeof def, "tcp://*:%d", port);
    char *v;
    if (zh_config_string (name, def, &v))
        return -1;
    if (strncmp (v, "tcp://", 6) && strncmp (v, "ipc://", 6) && strncmp (v, "inproc://", 9)) {
        s_invalid (name, "a ZeroMQ endpoint such as tcp://host:port or ipc:///path");
        free (v);
        return -1;
    }
    if (!strncmp (v, "tcp://", 6) && !strchr (v + 6, ':')) {
        s_invalid (name, "a tcp endpoint with a port, tcp://host:port");
        free (v);
        return -1;
    }
    *out = v;
    return 0;
}

static bool
s_instance_char (char c, bool colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || (colon && c == ':');
}

int
zh_config_instance_id (const char *prefix, char **out)
{
    char *v;
    if (zh_config_string ("ZHOOK_INSTANCE_ID", NULL, &v))
        return -1;
    if (!v || !*v) {
        free (v);
        char host[ZH_INSTANCE_ID_MAX] = "";
        if (gethostname (host, sizeof host - 1) != 0 || !host[0])
            snprintf (host, sizeof host, "host");
        host[sizeof host - 1] = 0;
        for (char *p = host; *p; p++)
            if (!s_instance_char (*p, false) || *p == '_')
                *p = '-';
        host[32] = 0; /* room for the prefix and the pid */
        char buf[ZH_INSTANCE_ID_MAX + 1];
        snprintf (buf, sizeof buf, "%s-%s-%ld", prefix, host, (long)getpid ());
        v = strdup (buf);
        if (!v)
            return -1;
    }
    size_t n = strlen (v);
    bool ok = n > 0 && n <= ZH_INSTANCE_ID_MAX;
    for (const char *p = v; ok && *p; p++)
        ok = s_instance_char (*p, true);
    if (!ok) {
        s_invalid ("ZHOOK_INSTANCE_ID", "1..64 characters of A-Z a-z 0-9 . _ : -");
        free (v);
        return -1;
    }
    *out = v;
    return 0;
}

int
zh_config_args (int argc, char **argv, const char *summary, const zh_config_var_t *vars)
{
    if (argc < 2)
        return 0;
    if (argc == 2 && (!strcmp (argv[1], "--help") || !strcmp (argv[1], "-h"))) {
        printf ("%s %s — %s\n\nUsage: %s [--help | --version]\n\n"
                "Configuration is read from the environment (any VAR may also be\n"
                "given as VAR_FILE=/path/to/file holding the value):\n\n",
                argv[0], ZH_VERSION, summary, argv[0]);
        for (const zh_config_var_t *v = vars; v->name; v++)
            printf ("  %-30s default: %s\n  %-30s %s\n", v->name,
                    (v->def && *v->def) ? v->def : "(unset)", "", v->help);
        return 1;
    }
    if (argc == 2 && !strcmp (argv[1], "--version")) {
        printf ("zhook %s\n", ZH_VERSION);
        return 1;
    }
    fprintf (stderr, "usage: %s [--help | --version]\n", argv[0]);
    return -1;
}
