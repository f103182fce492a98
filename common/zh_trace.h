/*  zh_trace.h — W3C Trace Context `traceparent` values (version 00).
 *
 *  "00-" 32 hex trace id "-" 16 hex parent (span) id "-" 2 hex flags,
 *  lowercase, 55 bytes. The ingress validates the producer's header or
 *  starts a new trace; the deliverer sends each attempt as a child span
 *  (same trace id and flags, a new random span id). zhook records no spans
 *  of its own: the ids are for correlation in logs and at the receiver. */
#ifndef ZH_TRACE_H
#define ZH_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define ZH_TRACEPARENT_LEN 55
#define ZH_TRACEPARENT_SIZE (ZH_TRACEPARENT_LEN + 1) /* buffer for one value + NUL */
#define ZH_TRACE_ID_SIZE 33 /* 32 hex + NUL */
#define ZH_SPAN_ID_SIZE 17 /* 16 hex + NUL */

/* True for a well-formed version-00 traceparent: exact length, lowercase
 * hex, trace id and parent id not all zero. False for NULL. */
bool zh_trace_valid (const char *traceparent);

/* Starts a trace: a new random trace id and span id, flags "01" (sampled:
 * the producer did not decide, so downstream may record). buf holds at
 * least ZH_TRACEPARENT_SIZE. 0, or -1 when buf is too small or no
 * randomness is available. */
int zh_trace_new (char *buf, size_t size);

/* A child of a valid parent: same trace id and flags, a new random span
 * id. buf holds at least ZH_TRACEPARENT_SIZE; span_id (may be NULL) gets
 * the new span id (ZH_SPAN_ID_SIZE). 0, or -1 when the parent is not valid,
 * a buffer is too small or no randomness is available. */
int zh_trace_child (const char *parent, char *buf, size_t size, char *span_id, size_t span_size);

/* Copies the trace id of a valid traceparent into buf (ZH_TRACE_ID_SIZE);
 * returns buf, or NULL when traceparent is not valid (buf then empty). */
const char *zh_trace_id (const char *traceparent, char *buf, size_t size);

/* Copies the parent-id (span id) field into buf (ZH_SPAN_ID_SIZE); returns
 * buf, or NULL when traceparent is not valid (buf then empty). */
const char *zh_trace_span_id (const char *traceparent, char *buf, size_t size);

#endif
