/*  zh_log.h — JSON-lines logger to stdout, shared by every stage.
 *
 *  One object per line: {"ts","level","stage","msg", fields...}. Fields are
 *  passed as (key, value) pairs whose key starts with a one-letter type tag:
 *
 *      zh_log (ZH_LOG_INFO, "dispatched",
 *              "s:id", id, "i:attempt", (int64_t) n, "b:replayed", true, NULL);
 *
 *  Tags: s = const char * (NULL prints null), i = int64_t, u = uint64_t,
 *  d = double, b = bool (passed as int). The list ends with NULL.
 *  A line is written with one write(2), so lines from threads never interleave.
 *  Never pass secrets, keys, payloads or signatures. */
#ifndef ZH_LOG_H
#define ZH_LOG_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { ZH_LOG_DEBUG = 0, ZH_LOG_INFO, ZH_LOG_WARN, ZH_LOG_ERROR } zh_log_level_t;

/* Sets the stage name written in every line and the minimum level. */
void zh_log_init (const char *stage, zh_log_level_t level);

/* Parses "debug" | "info" | "warn" | "error"; returns 0, or -1 on anything else. */
int zh_log_level_parse (const char *text, zh_log_level_t *level);

/* True when lines of this level are written (skip building costly fields). */
bool zh_log_enabled (zh_log_level_t level);

void zh_log (zh_log_level_t level, const char *msg, ...);

#define zh_debug(...) zh_log (ZH_LOG_DEBUG, __VA_ARGS__)
#define zh_info(...) zh_log (ZH_LOG_INFO, __VA_ARGS__)
#define zh_warn(...) zh_log (ZH_LOG_WARN, __VA_ARGS__)
#define zh_error(...) zh_log (ZH_LOG_ERROR, __VA_ARGS__)

/* Appends s to buf as a JSON string body (no quotes), escaping as needed.
 * Returns the new length, or -1 when it does not fit in cap (buf unchanged
 * beyond len). Shared with the metrics renderer. */
int zh_json_escape (char *buf, int len, int cap, const char *s);

#endif
