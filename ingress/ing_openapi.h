/*  ing_openapi.h — the OpenAPI 3.1 document of the HTTP API, served at
 *  GET /openapi.json.
 *
 *  ingress/openapi.json is kept in the repository; the Makefile turns it into
 *  build/gen/ing_openapi_doc.c (a NUL-terminated byte array) at build time,
 *  part of the ingress library, so the binary serves exactly the committed
 *  document and needs no file at run time. */
#ifndef ING_OPENAPI_H
#define ING_OPENAPI_H

#include <stddef.h>

/* The document (static, NUL-terminated, UTF-8 JSON); *size is its length
 * without the NUL. */
const char *ing_openapi_doc (size_t *size);

#endif
