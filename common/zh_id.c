/*  zh_id.c — ULID generation and checking. */
#include "common/zh_id.h"
#include "common/zh_clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

static const char s_alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t s_last_ms;
static uint8_t s_last_rand[10];

static int
s_getrandom (uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom (p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

/* The kernel's CSPRNG, read S_POOL bytes at a time into a pool per thread:
 * ids, trace and span ids take 8 to 16 bytes several times per request,
 * and one getrandom(2) each was a system call per use (OpenSSL's RAND_bytes
 * is no better here: 3.0 takes a process-wide write lock on every call).
 * Bytes are handed out once and wiped from the pool as they go; nothing
 * here forks, so no two users ever see the same bytes. */
#define S_POOL 256

static _Thread_local uint8_t s_pool[S_POOL];
static _Thread_local size_t s_pool_used = S_POOL; // bytes of s_pool handed out

int
zh_random_bytes (void *buf, size_t n)
{
    if (n > S_POOL / 4)
        return s_getrandom (buf, n);
    if (n > S_POOL - s_pool_used) {
        if (s_getrandom (s_pool, S_POOL) != 0)
            return -1;
        s_pool_used = 0;
    }
    memcpy (buf, s_pool + s_pool_used, n);
    explicit_bzero (s_pool + s_pool_used, n);
    s_pool_used += n;
    return 0;
}

uint64_t
zh_random_u64 (void)
{
    static _Atomic uint64_t counter;
    uint64_t v;
    if (zh_random_bytes (&v, sizeof v) == 0)
        return v;
    v = (uint64_t)zh_clock_mono_us () ^ (++counter * 0x9E3779B97F4A7C15ULL);
    return v;
}

int
zh_id_new (const char *prefix, char *buf, size_t size)
{
    size_t plen = strlen (prefix);
    if (size < plen + 1 + ZH_ULID_LEN + 1)
        return -1;
    uint8_t bytes[16];
    int64_t now = zh_clock_wall_ms ();
    pthread_mutex_lock (&s_lock);
    if (now <= s_last_ms) {
        /* same (or earlier) millisecond: increment the random part, keep order */
        now = s_last_ms;
        int i = 9;
        while (i >= 0 && ++s_last_rand[i] == 0)
            i--;
        if (i < 0)
            now = ++s_last_ms; /* 80-bit overflow: borrow the next millisecond */
    }
    else if (zh_random_bytes (s_last_rand, sizeof s_last_rand) != 0) {
        pthread_mutex_unlock (&s_lock);
        return -1;
    }
    s_last_ms = now;
    for (int i = 0; i < 6; i++)
        bytes[i] = (uint8_t)((uint64_t)now >> (40 - 8 * i));
    memcpy (bytes + 6, s_last_rand, 10);
    pthread_mutex_unlock (&s_lock);

    memcpy (buf, prefix, plen);
    buf[plen] = '_';
    char *out = buf + plen + 1;
    /* 128 bits -> 26 chars: the first char carries the top 3 bits */
    int bit = -2; /* 26*5 = 130 bits: two leading zero bits */
    for (int c = 0; c < ZH_ULID_LEN; c++) {
        int v = 0;
        for (int k = 0; k < 5; k++, bit++) {
            int b = 0;
            if (bit >= 0)
                b = (bytes[bit / 8] >> (7 - bit % 8)) & 1;
            v = (v << 1) | b;
        }
        out[c] = s_alphabet[v];
    }
    out[ZH_ULID_LEN] = 0;
    return 0;
}

bool
zh_id_valid (const char *id, const char *prefix)
{
    if (!id)
        return false;
    size_t plen = strlen (prefix);
    if (strncmp (id, prefix, plen) != 0 || id[plen] != '_')
        return false;
    const char *u = id + plen + 1;
    if (strlen (u) != ZH_ULID_LEN || u[0] > '7')
        return false;
    for (int i = 0; i < ZH_ULID_LEN; i++)
        if (!u[i] || !strchr (s_alphabet, u[i]))
            return false;
    return true;
}
