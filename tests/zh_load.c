/*  zh_load.c — load client for the end-to-end tests (libcurl multi).
 *
 *      zh_load BASE TARGET CLIENTS COUNT OUTFILE [--mixed-delays MAX_MS]
 *              [--rate PER_S] [--deadline-ms MS] [--key-prefix P]
 *
 *  POSTs COUNT messages to BASE/v1/messages over CLIENTS concurrent
 *  keep-alive connections; message i is {"url": TARGET, "payload": {"seq": i},
 *  "delay_ms": d} with d spread over 0..MAX_MS when --mixed-delays is given
 *  (else no delay). Each message has its own Idempotency-Key (P-i); a request
 *  answered 503/502/504/429 or failing at the connection level is sent again
 *  with the same key and body after a short backoff (50 ms doubling to
 *  500 ms) until it gets another answer or the deadline (default 120 s)
 *  passes. --rate bounds how many new messages start per second overall.
 *
 *  With ZH_LOAD_API_KEY set, every request sends "Authorization: Bearer" it.
 *  Writes one line per 202 to OUTFILE: "ID DELIVER_AT KEY". Prints one
 *  summary line on stdout:
 *      zh_load: count=N accepted=N s503=N conn_errors=N other=N gave_up=N elapsed_ms=N
 *  Exit status 0 when every message was accepted, 3 otherwise, 2 on usage. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOAD_MAX_CLIENTS 256
#define LOAD_BODY_MAX (64 * 1024)

typedef struct {
    CURL *easy; // one handle per client: its connection is reused
    struct curl_slist *hdrs; // request headers of the current try
    char *req; // request body of the current message
    char resp[LOAD_BODY_MAX]; // response body (truncated)
    size_t resp_len; // bytes in resp
    long index; // message being sent, -1 when idle
    int tries; // tries of this message so far
    int64_t not_before; // monotonic ms before which no retry starts
    bool busy; // a transfer is in the multi handle
} load_slot_t;

typedef struct {
    long accepted, s503, conn_errors, other, gave_up;
} load_stats_t;

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t
s_on_body (char *data, size_t size, size_t nmemb, void *arg)
{
    load_slot_t *slot = arg;
    size_t n = size * nmemb;
    size_t room = LOAD_BODY_MAX - 1 - slot->resp_len;
    size_t take = n < room ? n : room;
    memcpy (slot->resp + slot->resp_len, data, take);
    slot->resp_len += take;
    slot->resp[slot->resp_len] = '\0';
    return n;
}

static long
s_parse_long (const char *text, long min, long max)
{
    char *end = NULL;
    errno = 0;
    long value = strtol (text, &end, 10);
    if (errno || end == text || *end || value < min || value > max)
        return -1;
    return value;
}

//  Builds the body and headers of message `index` and adds the transfer.
static int
s_start (CURLM *multi, load_slot_t *slot, const char *url, const char *target, long delay_max,
         const char *key_prefix)
{
    if (!slot->req) {
        long delay = delay_max > 0 ? (slot->index * 7919) % (delay_max + 1) : 0;
        json_t *body = json_pack ("{s:s, s:{s:i}, s:i}", "url", target, "payload", "seq",
                                  (json_int_t)slot->index, "delay_ms", (json_int_t)delay);
        if (!body)
            return -1;
        slot->req = json_dumps (body, JSON_COMPACT);
        json_decref (body);
        if (!slot->req)
            return -1;
    }
    char key[300];
    snprintf (key, sizeof key, "Idempotency-Key: %s-%ld", key_prefix, slot->index);
    curl_slist_free_all (slot->hdrs);
    slot->hdrs = curl_slist_append (NULL, "Content-Type: application/json");
    if (slot->hdrs)
        slot->hdrs = curl_slist_append (slot->hdrs, key);
    if (slot->hdrs)
        slot->hdrs = curl_slist_append (slot->hdrs, "Expect:");
    const char *api_key = getenv ("ZH_LOAD_API_KEY");
    if (slot->hdrs && api_key && *api_key) {
        char auth[300];
        snprintf (auth, sizeof auth, "Authorization: Bearer %s", api_key);
        slot->hdrs = curl_slist_append (slot->hdrs, auth);
    }
    if (!slot->hdrs)
        return -1;
    slot->resp_len = 0;
    slot->resp[0] = '\0';
    curl_easy_setopt (slot->easy, CURLOPT_URL, url);
    curl_easy_setopt (slot->easy, CURLOPT_POSTFIELDS, slot->req);
    curl_easy_setopt (slot->easy, CURLOPT_HTTPHEADER, slot->hdrs);
    curl_easy_setopt (slot->easy, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt (slot->easy, CURLOPT_WRITEDATA, slot);
    curl_easy_setopt (slot->easy, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt (slot->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt (slot->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (slot->easy, CURLOPT_PRIVATE, slot);
    if (curl_multi_add_handle (multi, slot->easy) != CURLM_OK)
        return -1;
    slot->busy = true;
    slot->tries++;
    return 0;
}

static void
s_release (load_slot_t *slot)
{
    free (slot->req);
    slot->req = NULL;
    slot->index = -1;
    slot->tries = 0;
    slot->not_before = 0;
}

//  Handles a finished transfer; returns true when the message is settled.
static bool
s_finish (load_slot_t *slot, CURLcode code, FILE *out, const char *key_prefix, load_stats_t *stats)
{
    long status = 0;
    if (code == CURLE_OK)
        curl_easy_getinfo (slot->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK || status == 503 || status == 502 || status == 504 || status == 429) {
        if (code != CURLE_OK)
            stats->conn_errors++;
        else
            stats->s503 += status == 503;
        int shift = slot->tries < 4 ? slot->tries : 4;
        int64_t backoff = 50LL << shift;
        slot->not_before = s_mono_ms () + (backoff > 500 ? 500 : backoff);
        return false;
    }
    if (status == 202) {
        json_error_t error;
        json_t *reply = json_loads (slot->resp, 0, &error);
        const char *id = reply ? json_string_value (json_object_get (reply, "id")) : NULL;
        const char *due = reply ? json_string_value (json_object_get (reply, "deliver_at")) : NULL;
        if (id) {
            fprintf (out, "%s %s %s-%ld\n", id, due ? due : "-", key_prefix, slot->index);
            fflush (out);
            stats->accepted++;
        }
        else {
            fprintf (stderr, "zh_load: 202 without an id: %.200s\n", slot->resp);
            stats->other++;
        }
        json_decref (reply);
        return true;
    }
    fprintf (stderr, "zh_load: message %ld: status %ld: %.300s\n", slot->index, status, slot->resp);
    stats->other++;
    return true;
}

int
main (int argc, char **argv)
{
    if (argc < 6) {
        fprintf (stderr, "usage: zh_load BASE TARGET CLIENTS COUNT OUTFILE [--mixed-delays MAX_MS]"
                         " [--rate PER_S] [--deadline-ms MS] [--key-prefix P]\n");
        return 2;
    }
    const char *base = argv[1];
    const char *target = argv[2];
    long clients = s_parse_long (argv[3], 1, LOAD_MAX_CLIENTS);
    long count = s_parse_long (argv[4], 1, 10000000);
    const char *outpath = argv[5];
    long delay_max = 0, rate = 0, deadline_ms = 120000;
    char default_prefix[64];
    snprintf (default_prefix, sizeof default_prefix, "load-%ld-%ld", (long)getpid (),
              (long)time (NULL));
    const char *key_prefix = default_prefix;
    for (int i = 6; i < argc; i++) {
        if (i + 1 >= argc) {
            fprintf (stderr, "zh_load: %s needs a value\n", argv[i]);
            return 2;
        }
        if (strcmp (argv[i], "--mixed-delays") == 0)
            delay_max = s_parse_long (argv[++i], 0, 86400000);
        else if (strcmp (argv[i], "--rate") == 0)
            rate = s_parse_long (argv[++i], 0, 10000000);
        else if (strcmp (argv[i], "--deadline-ms") == 0)
            deadline_ms = s_parse_long (argv[++i], 1, 86400000);
        else if (strcmp (argv[i], "--key-prefix") == 0)
            key_prefix = argv[++i];
        else {
            fprintf (stderr, "zh_load: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (clients < 0 || count < 0 || delay_max < 0 || rate < 0 || deadline_ms < 0 ||
        strlen (key_prefix) > 200) {
        fprintf (stderr, "zh_load: bad argument\n");
        return 2;
    }
    char url[2048];
    if (snprintf (url, sizeof url, "%s/v1/messages", base) >= (int)sizeof url) {
        fprintf (stderr, "zh_load: BASE too long\n");
        return 2;
    }
    FILE *out = fopen (outpath, "w");
    if (!out) {
        perror ("zh_load: OUTFILE");
        return 2;
    }
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fclose (out);
        return 2;
    }
    CURLM *multi = curl_multi_init ();
    load_slot_t *slots = calloc ((size_t)clients, sizeof *slots);
    int rc = 0;
    if (!multi || !slots) {
        rc = 2;
        goto out;
    }
    curl_multi_setopt (multi, CURLMOPT_MAX_HOST_CONNECTIONS, clients);
    for (long i = 0; i < clients; i++) {
        slots[i].easy = curl_easy_init ();
        slots[i].index = -1;
        if (!slots[i].easy) {
            rc = 2;
            goto out;
        }
    }
    load_stats_t stats = {0, 0, 0, 0, 0};
    int64_t start = s_mono_ms ();
    int64_t deadline = start + deadline_ms;
    long next = 0, settled = 0;
    while (settled < count) {
        int64_t now = s_mono_ms ();
        if (now >= deadline)
            break;
        long allowed = rate > 0 ? (long)((now - start) * rate / 1000) + 1 : count;
        for (long i = 0; i < clients; i++) {
            load_slot_t *slot = &slots[i];
            if (slot->busy)
                continue;
            if (slot->index < 0) {
                if (next >= count || next >= allowed)
                    continue;
                slot->index = next++;
            }
            if (slot->not_before > now)
                continue;
            if (s_start (multi, slot, url, target, delay_max, key_prefix) != 0) {
                fprintf (stderr, "zh_load: cannot start a request\n");
                rc = 2;
                goto out;
            }
        }
        int running = 0;
        curl_multi_perform (multi, &running);
        CURLMsg *msg;
        int left = 0;
        while ((msg = curl_multi_info_read (multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            load_slot_t *slot = NULL;
            curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
            CURLcode code = msg->data.result;
            curl_multi_remove_handle (multi, msg->easy_handle);
            slot->busy = false;
            if (s_finish (slot, code, out, key_prefix, &stats)) {
                s_release (slot);
                settled++;
            }
        }
        curl_multi_poll (multi, NULL, 0, 10, NULL);
    }
    stats.gave_up = count - settled;
    if (stats.accepted != count)
        rc = 3;
    printf ("zh_load: count=%ld accepted=%ld s503=%ld conn_errors=%ld other=%ld gave_up=%ld "
            "elapsed_ms=%lld\n",
            count, stats.accepted, stats.s503, stats.conn_errors, stats.other, stats.gave_up,
            (long long)(s_mono_ms () - start));
out:
    if (slots) {
        for (long i = 0; i < clients; i++) {
            if (slots[i].easy) {
                if (slots[i].busy)
                    curl_multi_remove_handle (multi, slots[i].easy);
                curl_easy_cleanup (slots[i].easy);
            }
            curl_slist_free_all (slots[i].hdrs);
            free (slots[i].req);
        }
        free (slots);
    }
    if (multi)
        curl_multi_cleanup (multi);
    curl_global_cleanup ();
    if (fclose (out) != 0 && rc == 0)
        rc = 2;
    return rc;
}
