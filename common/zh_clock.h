/*  zh_clock.h — wall and monotonic clocks in milliseconds, RFC 3339 text.
 *
 *  Due times, leases and attempt times are wall-clock milliseconds since the
 *  Unix epoch (they are stored and compared across restarts); durations and
 *  timeouts inside one process use the monotonic clock. */
#ifndef ZH_CLOCK_H
#define ZH_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t zh_clock_wall_ms (void);
int64_t zh_clock_mono_ms (void);
/* Monotonic microseconds, for latency measurements. */
int64_t zh_clock_mono_us (void);

/* Writes "2026-11-22T10:00:00.123Z" (24 chars + NUL); buf needs >= 25 bytes.
 * Returns 0, or -1 when ms is out of the representable range or buf too small. */
int zh_time_format (int64_t ms, char *buf, size_t size);

/* Parses an RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)",
 * 't'/'z' accepted, fraction truncated to milliseconds. Years 1970..9999.
 * Returns 0 and sets *ms, or -1 on anything malformed. */
int zh_time_parse (const char *text, int64_t *ms);

#endif
