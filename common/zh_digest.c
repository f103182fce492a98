/*  zh_digest.c — SHA-256 with a method fetched once (see zh_digest.h). */
#include "common/zh_digest.h"

#include <pthread.h>

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static EVP_MD *s_sha256;

static void
s_fetch (void)
{
    s_sha256 = EVP_MD_fetch (NULL, "SHA256", NULL);
}

const EVP_MD *
zh_sha256_md (void)
{
    pthread_once (&s_once, s_fetch);
    return s_sha256;
}

int
zh_sha256 (const void *data, size_t size, uint8_t out[ZH_SHA256_LEN])
{
    const EVP_MD *md = zh_sha256_md ();
    unsigned int len = 0;
    if (!md || EVP_Digest (data, size, out, &len, md, NULL) != 1 || len != ZH_SHA256_LEN)
        return -1;
    return 0;
}
