/*  zh_zmqpeer.c — a rogue (or honest) ZeroMQ peer for the CURVE tests.
 *
 *      zh_zmqpeer ENDPOINT KIND [ARG...] [--secret FILE] [--server FILE]
 *                 [--random-key] [--wait-ms MS]
 *
 *  Connects a PUSH to ENDPOINT (a scheduler submit or results socket) and
 *  pushes one frame of KIND:
 *      submit ID URL         a well-formed proto_submit_t, tenant "default",
 *                            accepting message ID for URL due in 10 minutes
 *      result ID ATTEMPT CODE   a proto_result_t (deliverer "zh_zmqpeer")
 *      heartbeat NAME CAP    a deliverer heartbeat, ready, CAP free slots
 *      garbage               bytes that decode as nothing
 *  Keys: none (plain ZMTP), --random-key (CURVE with a fresh key pair nobody
 *  allowlisted) or --secret FILE (CURVE with that zcert); the last two need
 *  --server FILE, the scheduler's public certificate.
 *
 *  Waits up to --wait-ms (default 2000) for the handshake, sends, and when
 *  the handshake succeeded keeps the socket open (linger) until the frame
 *  is out. Prints one JSON line: {"kind","handshake","sent"} where
 *  handshake is "ok", "refused" (ZAP said no), "protocol" (mechanism
 *  mismatch or bad key) or "none" (no answer in time). Exit 0 when it ran,
 *  1 on a local failure, 2 on bad usage: the tests assert on what the
 *  scheduler did, not on this exit code. */
#include "common/zh_clock.h"
#include "proto/proto.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
s_usage (void)
{
    fprintf (stderr, "usage: zh_zmqpeer ENDPOINT submit ID URL | result ID ATTEMPT CODE |\n"
                     "       heartbeat NAME CAP | garbage  [--secret FILE] [--server FILE]\n"
                     "       [--random-key] [--wait-ms MS]\n");
    return 2;
}

static bool
s_number (const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || !end || *end || end == text || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* Encodes the frame of kind with args; 0 or -1 (bad arguments). */
static int
s_frame (const char *kind, char **args, int nargs, uint8_t **data, size_t *size)
{
    long a = 0, b = 0;
    int rc = -1;
    if (!strcmp (kind, "submit") && nargs == 2) {
        proto_submit_t *s = proto_submit_new ();
        proto_item_t *item = s ? proto_submit_add_item (s) : NULL;
        if (item) {
            s->reply_to = strdup ("zh_zmqpeer");
            s->tenant = strdup ("default");
            s->corr = 1;
            s->deadline_ms = zh_clock_wall_ms () + 10000;
            item->id = strdup (args[0]);
            item->url = strdup (args[1]);
            item->payload = (uint8_t *)strdup ("{}");
            item->payload_size = 2;
            item->delay_ms = 600000;
            if (s->reply_to && s->tenant && item->id && item->url && item->payload)
                rc = proto_submit_encode (s, data, size);
        }
        proto_submit_destroy (&s);
    }
    else if (!strcmp (kind, "result") && nargs == 3 && s_number (args[1], 0, 1000000, &a) &&
             s_number (args[2], 0, 999, &b)) {
        proto_result_t *r = proto_result_new ();
        if (r) {
            r->id = strdup (args[0]);
            r->deliverer = strdup ("zh_zmqpeer");
            r->attempt = (uint32_t)a;
            r->status_code = (uint16_t)b;
            r->retry_after_ms = -1;
            r->at_ms = zh_clock_wall_ms ();
            if (r->id && r->deliverer)
                rc = proto_result_encode (r, data, size);
        }
        proto_result_destroy (&r);
    }
    else if (!strcmp (kind, "heartbeat") && nargs == 2 && s_number (args[1], 0, 10000, &a)) {
        proto_heartbeat_t *hb = proto_heartbeat_new ();
        if (hb) {
            hb->from = strdup (args[0]);
            hb->at_ms = zh_clock_wall_ms ();
            hb->capacity = (uint32_t)a;
            hb->free = (uint32_t)a;
            hb->ready = true;
            if (hb->from)
                rc = proto_heartbeat_encode (hb, data, size);
        }
        proto_heartbeat_destroy (&hb);
    }
    else if (!strcmp (kind, "garbage") && nargs == 0) {
        *data = (uint8_t *)strdup ("\xc1 not msgpack");
        *size = *data ? strlen ((char *)*data) : 0;
        rc = *data ? 0 : -1;
    }
    return rc;
}

/* Waits for the first handshake event of the monitor; returns its name. */
static const char *
s_handshake (zsock_t *mon, int wait_ms)
{
    int64_t end = zh_clock_mono_ms () + wait_ms;
    zpoller_t *poller = zpoller_new (mon, NULL);
    const char *result = "none";
    while (poller && zh_clock_mono_ms () < end) {
        if (!zpoller_wait (poller, (int)(end - zh_clock_mono_ms ())))
            break;
        zmsg_t *msg = zmsg_recv (mon);
        zframe_t *frame = msg ? zmsg_first (msg) : NULL;
        uint16_t event = 0;
        if (frame && zframe_size (frame) >= 6)
            memcpy (&event, zframe_data (frame), sizeof event);
        zmsg_destroy (&msg);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            result = "ok";
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            result = "refused";
        else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
            result = "protocol";
        else
            continue;
        break;
    }
    zpoller_destroy (&poller);
    return result;
}

int
main (int argc, char **argv)
{
    if (argc < 3)
        return s_usage ();
    const char *endpoint = argv[1], *kind = argv[2];
    const char *secret = NULL, *server = NULL;
    bool random_key = false;
    long wait_ms = 2000;
    char *args[4];
    int nargs = 0;
    for (int i = 3; i < argc; i++) {
        if (!strcmp (argv[i], "--secret") && i + 1 < argc)
            secret = argv[++i];
        else if (!strcmp (argv[i], "--server") && i + 1 < argc)
            server = argv[++i];
        else if (!strcmp (argv[i], "--random-key"))
            random_key = true;
        else if (!strcmp (argv[i], "--wait-ms") && i + 1 < argc) {
            if (!s_number (argv[++i], 1, 600000, &wait_ms))
                return s_usage ();
        }
        else if (argv[i][0] != '-' && nargs < 4)
            args[nargs++] = argv[i];
        else
            return s_usage ();
    }
    if ((secret || random_key) != (server != NULL) || (secret && random_key))
        return s_usage ();
    uint8_t *data = NULL;
    size_t size = 0;
    if (s_frame (kind, args, nargs, &data, &size) != 0)
        return s_usage ();

    zsys_handler_set (NULL);
    int rc = 1;
    zcert_t *cert = NULL, *server_cert = NULL;
    zsock_t *push = zsock_new (ZMQ_PUSH);
    zsock_t *mon = zsock_new (ZMQ_PAIR);
    if (!push || !mon)
        goto out;
    if (secret || random_key) {
        cert = secret ? zcert_load (secret) : zcert_new ();
        server_cert = zcert_load (server);
        if (!cert || !server_cert) {
            fprintf (stderr, "zh_zmqpeer: cannot load %s\n", cert ? server : secret);
            goto out;
        }
        zcert_apply (cert, push);
        zsock_set_curve_serverkey (push, zcert_public_txt (server_cert));
    }
    char mon_ep[64];
    snprintf (mon_ep, sizeof mon_ep, "inproc://zh_zmqpeer-%p", (void *)push);
    if (zmq_socket_monitor (zsock_resolve (push), mon_ep,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                                ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0 ||
        zsock_connect (mon, "%s", mon_ep) != 0 || zsock_connect (push, "%s", endpoint) != 0) {
        fprintf (stderr, "zh_zmqpeer: cannot connect to %s\n", endpoint);
        goto out;
    }
    const char *handshake = s_handshake (mon, (int)wait_ms);
    /* queued even without a peer: delivered only if the handshake let us in */
    bool sent = zmq_send (zsock_resolve (push), data, size, ZMQ_DONTWAIT) == (int)size;
    zsock_set_linger (push, strcmp (handshake, "ok") ? 100 : (int)wait_ms);
    printf ("{\"kind\":\"%s\",\"handshake\":\"%s\",\"sent\":%s}\n", kind, handshake,
            sent ? "true" : "false");
    fflush (stdout);
    rc = 0;
out:
    if (push)
        zmq_socket_monitor (zsock_resolve (push), NULL, 0);
    zsock_destroy (&mon);
    zsock_destroy (&push);
    zcert_destroy (&cert);
    zcert_destroy (&server_cert);
    free (data);
    return rc;
}
