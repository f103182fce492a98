/*  zh_config.h — reading and validating ZHOOK_* environment variables.
 *
 *  Each stage declares a table of zh_config_var_t (for --help and the README)
 *  and fills its own xxx_config_t with these readers once at start. Every
 *  reader logs exactly one error line naming the variable and the expected
 *  form when the value is bad, and returns -1; the stage then exits 2.
 *  Any variable may instead be given as NAME_FILE=path: the file's content,
 *  with trailing newlines removed, is the value (for secrets). */
#ifndef ZH_CONFIG_H
#define ZH_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name; /* "ZHOOK_LISTEN" */
    const char *def; /* default as shown in --help ("" when unset) */
    const char *help; /* one line */
} zh_config_var_t;

/* Value of name (or name_FILE); *out is a heap copy (caller frees), or a
 * copy of def, or NULL when def is NULL and the variable is unset. */
int zh_config_string (const char *name, const char *def, char **out);

/* Decimal integer in [min, max]; def when unset or empty. */
int zh_config_int (const char *name, int64_t def, int64_t min, int64_t max, int64_t *out);

/* 1/0, on/off, true/false, yes/no (any case); def when unset. */
int zh_config_bool (const char *name, bool def, bool *out);

/* "host:port" for an HTTP listener (civetweb form, IPv4 or a name, port
 * 0..65535). *out is a heap copy. */
int zh_config_listen (const char *name, const char *def, char **out);

/* A ZeroMQ endpoint. When unset: bind form "tcp://" "*" ":port" if host is NULL,
 * else connect form "tcp://host:port". A set value must start with tcp://,
 * ipc:// or inproc://. *out is a heap copy. */
int zh_config_endpoint (const char *name, const char *host, int port, char **out);

/* ZHOOK_INSTANCE_ID: the name of this process in logs, heartbeats and reply
 * topics, 1..ZH_INSTANCE_ID_MAX characters of [A-Za-z0-9._:-]. Unset or
 * empty: prefix "-" hostname "-" pid (other characters of the host name
 * become '-'). *out is a heap copy. */
#define ZH_INSTANCE_ID_MAX 64
int zh_config_instance_id (const char *prefix, char **out);

/* Handles argv: "--help"/"-h" prints usage and every variable with its
 * default to stdout and returns 1; "--version" prints the version and
 * returns 1; no arguments returns 0; anything else prints usage to stderr
 * and returns -1. vars ends with a {NULL} entry. */
int zh_config_args (int argc, char **argv, const char *summary, const zh_config_var_t *vars);

#endif
