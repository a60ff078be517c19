/*  test_gossip_badinput.c - integration: bad input on a real agent's peer
    port.

    Each test starts one agent (the first of a new cluster), reads its join
    token and becomes, in this process, what a peer would be: it parses the
    token (tm_token_parse), pins the cluster in a scratch identity of its own
    (tm_keys_new + tm_keys_cluster_pin) and so learns the CURVE server key,
    then connects DEALER sockets to the agent's peer address as CURVE
    clients.  What it sends is built by hand (forged envelopes, garbage)
    or sealed by the library's own tm_envelope with that identity: the
    agent cannot tell this process from another agent.

    The agent is alone in its cluster, so nothing but this test talks to
    it and its counters (`testmesh stats`) move only by what the test
    sends: every test asserts the exact increase of the counter that
    matches its input, that `accepted` did not move unless the input was
    valid, and that the agent still answers `members` afterwards, then
    leaves and exits 0 on SIGTERM (under `make asan`, a leak or a memory
    error that the input caused turns that into 23).

    What each test covers, by layer:
      transport   clients without the cluster key (wrong CURVE server key,
                  no CURVE, raw TCP): nothing reaches the agent; a frame
                  over ZMQ_MAXMSGSIZE: ZeroMQ drops that connection only;
                  the agent answers a node whose metadata does not say
                  "duplex" on a connection of its own (its client
                  socket), HELLO first, and checks what comes back on
                  that connection like what reaches its server
      framing     garbage, empty frames, truncated and oversized envelopes,
                  multi-frame messages (tm_envelope_open, s_handle_server)
      sender      unknown senders, bad signatures, an envelope signed by
                  another key than its connection's (sender_mismatch),
                  revoked senders (envelope and ZAP)
      freshness   stale timestamps, replays (the same frame again, and the
                  reordering window)
      payload     a real JOIN admitted (WELCOME accepted, so this process
                  is then a member), then SWIM and FACTS payloads that are
                  well signed but malformed (swim_malformed, facts_rejected);
                  a second JOIN right after admission (joins_duplicate)
*/
#include "tm_cluster.h"
#include "tm_envelope.h"
#include "tm_keys.h"
#include "tm_swim.h"
#include "tm_token.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>

//  The agent's limits (gossip/tm_gossip.c): its server socket's
//  ZMQ_MAXMSGSIZE (s_server_bind) and the largest envelope payload it
//  opens (s_setup).
#define S_SOCKET_MAX   (TM_SWIM_PUSH_PULL_MAX + 4096)
#define S_PAYLOAD_MAX  (TM_SWIM_PUSH_PULL_MAX + 1024)
//  Envelope types of tm_gossip.c
#define S_TYPE_SWIM    16
#define S_TYPE_FACTS   17
#define S_SOCKETS_MAX  16

//  What one test holds; released by s_fini.
static struct {
    tmc_agent_t *agent;         //  The agent under test
    char *address;              //  Its peer address, "127.0.0.1:PORT"
    uint8_t agent_pk [32];      //  Its node key (its id)
    tm_token_t token;           //  Its cluster's token, parsed
    char *keys_dir;             //  Our identity's data directory
    tm_keys_t *keys;            //  Our identity, pinned to the cluster
    tm_envelope_t *envelope;    //  Seals and opens as that identity
    zsock_t *sockets [S_SOCKETS_MAX];   //  Every socket we made
    int socket_count;           //  How many
    int fd;                     //  Raw TCP socket, or -1
} s;

static void
s_fini (void)
{
    for (int i = 0; i < s.socket_count; i++)
        zsock_destroy (&s.sockets [i]);
    s.socket_count = 0;
    if (s.fd > 0)
        close (s.fd);
    tm_envelope_destroy (&s.envelope);
    tm_keys_destroy (&s.keys);
    if (s.keys_dir) {
        tmu_rmrf (s.keys_dir);
        free (s.keys_dir);
        s.keys_dir = NULL;
    }
    tm_token_wipe (&s.token);
    free (s.address);
    s.address = NULL;
    tmc_cleanup ();
}

TestSuite (gossip_badinput, .fini = s_fini, .timeout = 45);

static zsock_t *
s_keep (zsock_t *socket)
{
    cr_assert_not_null (socket);
    cr_assert_lt (s.socket_count, S_SOCKETS_MAX);
    s.sockets [s.socket_count++] = socket;
    return socket;
}

//  Starts the agent and pins our identity to its cluster.
static void
s_setup (void)
{
    tm_log_threshold = TM_LOG_ERROR;    //  The library's log, in this process
    s.fd = -1;
    s.agent = tmc_start ("a1", NULL, NULL);
    char *text = tmc_token (s.agent, 10);
    tmc_wait_ready (s.agent, 10);
    char *err = NULL;
    cr_assert_eq (tm_token_parse (text, &s.token, &err), 0, "%s", err);
    sodium_memzero (text, strlen (text));
    free (text);
    s.keys_dir = tmu_scratch ();
    s.keys = tm_keys_new (s.keys_dir, &err);
    cr_assert_not_null (s.keys, "%s", err);
    cr_assert_eq (tm_keys_cluster_pin (s.keys, s.token.cluster_pk, s.token.join_secret, &err),
                  0, "%s", err);
    s.envelope = tm_envelope_new (s.keys);
    //  Where it listens, and who it is: its own entry in members
    json_t *members = tmc_members_of (s.agent);
    json_t *self = tmc_member (members, "a1");
    s.address = strdup (json_string_value (json_object_get (self, "address")));
    const char *id = json_string_value (json_object_get (self, "id"));
    cr_assert_eq (sodium_hex2bin (s.agent_pk, 32, id, strlen (id), NULL, NULL, NULL), 0);
    json_decref (members);
}

//  --------------------------------------------------------------------
//  Sockets

//  A DEALER to the agent: a CURVE client of SERVER_KEY with the keypair
//  PUBLIC/SECRET (z85), or a plain client if SERVER_KEY is NULL.  If
//  MONITOR is given, it receives the DEALER's events (set up before the
//  connection, so that none is missed).
static zsock_t *
s_client (const char *server_key, const char *public, const char *secret, zsock_t **monitor)
{
    zsock_t *dealer = s_keep (zsock_new (ZMQ_DEALER));
    zsock_set_linger (dealer, 0);
    zsock_set_reconnect_ivl (dealer, 100);
    zsock_set_sndtimeo (dealer, 5000);
    if (server_key) {
        zsock_set_curve_serverkey (dealer, server_key);
        zsock_set_curve_publickey (dealer, public);
        zsock_set_curve_secretkey (dealer, secret);
    }
    if (monitor) {
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "inproc://badinput-monitor-%p", (void *) dealer);
        cr_assert_eq (zmq_socket_monitor (zsock_resolve (dealer), endpoint, ZMQ_EVENT_ALL), 0);
        *monitor = s_keep (zsock_new (ZMQ_PAIR));
        cr_assert_eq (zsock_connect (*monitor, "%s", endpoint), 0);
    }
    cr_assert_eq (zsock_connect (dealer, "tcp://%s", s.address), 0);
    return dealer;
}

//  A CURVE client with the right server key and a fresh keypair that
//  belongs to nobody in the cluster.
static zsock_t *
s_stranger (zsock_t **monitor)
{
    zcert_t *cert = zcert_new ();
    zsock_t *dealer = s_client (tm_keys_cluster_curve_public (s.keys), zcert_public_txt (cert),
                                zcert_secret_txt (cert), monitor);
    zcert_destroy (&cert);
    return dealer;
}

//  A CURVE client with our identity's keypair: what a real peer uses.
static zsock_t *
s_as_us (zsock_t **monitor)
{
    return s_client (tm_keys_cluster_curve_public (s.keys), tm_keys_node_curve_public (s.keys),
                     tm_keys_node_curve_secret (s.keys), monitor);
}

//  Waits for an event in MASK on MONITOR.  Returns the event (and its
//  value in *VALUE if given), or 0 after TIMEOUT s.  Events not in MASK
//  are skipped; SEEN, if given, collects every event.
static int
s_wait_event (zsock_t *monitor, int mask, double timeout, int *value, int *seen)
{
    double end = tmu_now () + timeout;
    zpoller_t *poller = zpoller_new (monitor, NULL);
    int found = 0;
    while (!found && tmu_now () < end) {
        int wait = (int) ((end - tmu_now ()) * 1000) + 1;
        if (!zpoller_wait (poller, wait))
            continue;
        zmsg_t *msg = zmsg_recv (monitor);
        zframe_t *frame = msg ? zmsg_first (msg) : NULL;
        if (frame && zframe_size (frame) >= 6) {
            uint16_t event;
            uint32_t event_value;
            memcpy (&event, zframe_data (frame), 2);
            memcpy (&event_value, zframe_data (frame) + 2, 4);
            if (seen)
                *seen |= event;
            if (event & mask) {
                found = event;
                if (value)
                    *value = (int) event_value;
            }
        }
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return found;
}

//  Waits until the client behind MONITOR completed its CURVE handshake
//  (and the agent's ZAP handler let it in).
static void
s_wait_handshake (zsock_t *monitor)
{
    int seen = 0;
    cr_assert (s_wait_event (monitor, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 10, NULL, &seen),
               "no CURVE handshake with the agent within 10 s (events 0x%x)", seen);
}

//  Sends DATA as one frame (MORE: more frames follow).
static void
s_send (zsock_t *dealer, const void *data, size_t size, bool more)
{
    cr_assert_eq (zmq_send (zsock_resolve (dealer), data, size, more ? ZMQ_SNDMORE : 0),
                  (int) size, "send: %s", zmq_strerror (zmq_errno ()));
}

//  Sends FRAME, keeping it.
static void
s_send_frame (zsock_t *dealer, zframe_t *frame)
{
    s_send (dealer, zframe_data (frame), zframe_size (frame), false);
}

//  --------------------------------------------------------------------
//  Envelopes

static void
s_put (uint8_t *p, uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, value >>= 8)
        p [i] = (uint8_t) value;
}

static uint64_t
s_now_ms (void)
{
    return (uint64_t) (tm_wall_now () * 1000);
}

//  An envelope built by hand (tm_envelope.h): TYPE from SENDER, the
//  payload length field CLAIMED, then ACTUAL bytes of payload (random),
//  then a random signature.  Returns a new frame.
static zframe_t *
s_forge (uint8_t type, const uint8_t *sender, uint32_t claimed, size_t actual)
{
    zframe_t *frame = zframe_new (NULL, TM_ENVELOPE_OVERHEAD + actual);
    uint8_t *data = zframe_data (frame);
    randombytes_buf (data, zframe_size (frame));
    data [0] = TM_ENVELOPE_MAGIC;
    data [1] = type;
    memcpy (data + 2, sender, 32);
    s_put (data + 34, randombytes_random (), 8);
    s_put (data + 42, s_now_ms (), 8);
    s_put (data + 50, claimed, 4);
    return frame;
}

//  A JOIN sealed by our identity, as an agent with the token sends it.
static zframe_t *
s_join_envelope (const char *name)
{
    char *err = NULL;
    zframe_t *frame = tm_envelope_join_seal (s.envelope, name, &err);
    cr_assert_not_null (frame, "%s", err);
    return frame;
}

//  A SWIM envelope (tm_gossip.c): [address length][address][packet].
static zframe_t *
s_swim_envelope (const char *address, const void *packet, size_t size)
{
    size_t length = strlen (address);
    uint8_t payload [512];
    cr_assert_lt (1 + length + size, sizeof payload);
    payload [0] = (uint8_t) length;
    memcpy (payload + 1, address, length);
    memcpy (payload + 1 + length, packet, size);
    zframe_t *frame = tm_envelope_seal (s.envelope, S_TYPE_SWIM, payload, 1 + length + size);
    cr_assert_not_null (frame);
    return frame;
}

//  --------------------------------------------------------------------
//  Counters

//  A snapshot of the counters a test looks at.
typedef struct {
    long long accepted, garbage, truncated, oversized, bad_signature, unknown_sender,
              revoked, replay, stale, dropped_total, multipart, mismatch, zap_refused,
              swim_malformed, facts_rejected;
} s_counters_t;

static s_counters_t
s_counters (void)
{
    json_t *stats = tmc_stats (s.agent);
    s_counters_t c = {
        tmc_counter (stats, "accepted"), tmc_counter (stats, "dropped.garbage"),
        tmc_counter (stats, "dropped.truncated"), tmc_counter (stats, "dropped.oversized"),
        tmc_counter (stats, "dropped.bad_signature"),
        tmc_counter (stats, "dropped.unknown_sender"), tmc_counter (stats, "dropped.revoked"),
        tmc_counter (stats, "dropped.replay"), tmc_counter (stats, "dropped.stale"),
        tmc_counter (stats, "dropped_total"), tmc_counter (stats, "multipart_dropped"),
        tmc_counter (stats, "sender_mismatch"), tmc_counter (stats, "zap_refused"),
        tmc_counter (stats, "swim_malformed"), tmc_counter (stats, "facts_rejected")
    };
    json_decref (stats);
    return c;
}

//  Waits until the counter at PATH is BASE + DELTA, then checks that it
//  did not go past.  Returns the counters then.
static s_counters_t
s_expect (const char *path, long long base, long long delta)
{
    tmc_wait_counter (s.agent, path, base + delta, 10);
    json_t *stats = tmc_stats (s.agent);
    long long value = tmc_counter (stats, path);
    char *text = json_dumps (stats, JSON_COMPACT);
    cr_assert_eq (value, base + delta, "%s went from %lld to %lld, not +%lld\n%s", path, base,
                  value, delta, text);
    free (text);
    json_decref (stats);
    return s_counters ();
}

//  The agent is running, answers `members`, and is alive in it.
static void
s_assert_agent_fine (void)
{
    tmc_assert_running (s.agent);
    json_t *members = tmc_members_of (s.agent);
    cr_assert_str_eq (tmc_state (members, "a1"), "alive");
    json_decref (members);
}

//  The end of a test: the agent is fine, and leaves and exits 0 on
//  SIGTERM (under `make asan`, a leak or a memory error the input caused
//  makes that status 23).
static void
s_finish (void)
{
    s_assert_agent_fine ();
    int status = tmc_stop (s.agent);
    char *tail = tmc_log_tail (s.agent, 3000);
    cr_assert_eq (status, 0, "the agent exited %d after the test:\n%s", status, tail);
    free (tail);
}

//  Does the real join: JOIN over a connection with our own key, WELCOME
//  back, accepted.  This process is a member from then on.  Returns the
//  connection; *JOIN_P gets the JOIN frame sent (caller destroys).
static zsock_t *
s_join_for_real (const char *name, zframe_t **join_p)
{
    zsock_t *monitor;
    zsock_t *dealer = s_as_us (&monitor);
    s_wait_handshake (monitor);
    zframe_t *join = s_join_envelope (name);
    s_send_frame (dealer, join);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    cr_assert_not_null (zpoller_wait (poller, 10000), "no WELCOME within 10 s");
    zpoller_destroy (&poller);
    zframe_t *reply = zframe_recv (dealer);
    cr_assert_not_null (reply);
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (s.envelope, zframe_data (reply), zframe_size (reply), &msg),
                  TM_ENVELOPE_OK, "the agent's answer does not open");
    cr_assert_eq (msg.type, TM_ENVELOPE_WELCOME);
    char *err = NULL;
    cr_assert_eq (tm_keys_welcome_accept (s.keys, msg.sender, msg.payload, msg.payload_size,
                                          &err), 0, "WELCOME refused: %s", err);
    cr_assert (tm_keys_is_member (s.keys));
    zframe_destroy (&reply);
    *join_p = join;
    return dealer;
}

//  --------------------------------------------------------------------
//  Framing

Test (gossip_badinput, garbage_and_empty_frames_are_counted_as_garbage)
{
    s_setup ();
    zsock_t *monitor;
    zsock_t *dealer = s_stranger (&monitor);
    s_wait_handshake (monitor);
    s_counters_t before = s_counters ();
    int sent = 0;
    //  Random bytes of random sizes, never starting with the magic
    for (int i = 0; i < 100; i++) {
        uint8_t buffer [2048];
        size_t size = 1 + randombytes_uniform (sizeof buffer);
        randombytes_buf (buffer, size);
        if (buffer [0] == TM_ENVELOPE_MAGIC)
            buffer [0] = 0;
        s_send (dealer, buffer, size, false);
        sent++;
    }
    //  An empty frame
    s_send (dealer, "", 0, false);
    sent++;
    //  Type 0, which no envelope has
    zframe_t *frame = s_forge (0, s.agent_pk, 10, 10);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    sent++;
    //  Bytes after the signature
    frame = s_forge (S_TYPE_SWIM, s.agent_pk, 10, 15);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    sent++;
    s_counters_t after = s_expect ("dropped.garbage", before.garbage, sent);
    cr_assert_eq (after.accepted, before.accepted, "garbage was accepted");
    cr_assert_eq (after.dropped_total, before.dropped_total + sent);
    s_finish ();
}

Test (gossip_badinput, truncated_envelopes_are_counted_as_truncated)
{
    s_setup ();
    zsock_t *dealer = s_stranger (NULL);
    s_counters_t before = s_counters ();
    //  Every proper prefix of a real JOIN envelope: shorter than its
    //  header and signature, or than the payload length it announces
    zframe_t *join = s_join_envelope ("t1");
    size_t size = zframe_size (join);
    for (size_t length = 1; length < size; length++)
        s_send (dealer, zframe_data (join), length, false);
    //  A header that announces 1000 bytes of payload and brings 50
    zframe_t *frame = s_forge (S_TYPE_SWIM, s.agent_pk, 1000, 50);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    s_counters_t after = s_expect ("dropped.truncated", before.truncated, (long long) size);
    cr_assert_eq (after.accepted, before.accepted);
    cr_assert_eq (after.dropped_total, before.dropped_total + (long long) size);
    //  The whole envelope still opens: the prefixes left no state behind
    s_send_frame (dealer, join);
    after = s_expect ("accepted", before.accepted, 1);
    zframe_destroy (&join);
    s_finish ();
}

Test (gossip_badinput, oversized_envelopes_are_counted_and_a_frame_over_the_socket_limit_costs_its_connection)
{
    s_setup ();
    zsock_t *monitor;
    zsock_t *dealer = s_stranger (&monitor);
    s_wait_handshake (monitor);
    s_counters_t before = s_counters ();
    //  Small frames that announce an impossible payload
    zframe_t *frame = s_forge (S_TYPE_SWIM, s.agent_pk, UINT32_MAX, 10);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    frame = s_forge (S_TYPE_SWIM, s.agent_pk, S_PAYLOAD_MAX + 1, 10);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    //  A frame that ZeroMQ lets through (under ZMQ_MAXMSGSIZE) but that
    //  is one byte over the envelope limit
    frame = s_forge (S_TYPE_SWIM, s.agent_pk, S_PAYLOAD_MAX + 1, S_PAYLOAD_MAX + 1);
    cr_assert_leq (zframe_size (frame), S_SOCKET_MAX);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    s_counters_t after = s_expect ("dropped.oversized", before.oversized, 3);
    cr_assert_eq (after.accepted, before.accepted);
    s_assert_agent_fine ();

    //  Over ZMQ_MAXMSGSIZE: the agent's ZeroMQ closes this connection
    //  before the frame reaches the agent, which counts nothing
    frame = s_forge (S_TYPE_SWIM, s.agent_pk, S_SOCKET_MAX, S_SOCKET_MAX);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    int seen = 0;
    cr_assert (s_wait_event (monitor, ZMQ_EVENT_DISCONNECTED, 10, NULL, &seen),
               "the agent kept a connection that sent %d bytes (events 0x%x)",
               S_SOCKET_MAX + TM_ENVELOPE_OVERHEAD, seen);
    //  The DEALER reconnects; the next frame on it is read as usual
    s_wait_handshake (monitor);
    s_send (dealer, "x", 1, false);
    after = s_expect ("dropped.garbage", before.garbage, 1);
    cr_assert_eq (after.oversized, before.oversized + 3, "the dropped frame was not counted");
    cr_assert_eq (after.accepted, before.accepted);
    s_finish ();
}

Test (gossip_badinput, multi_frame_messages_are_dropped_and_counted)
{
    s_setup ();
    zsock_t *dealer = s_stranger (NULL);
    s_counters_t before = s_counters ();
    int sent = 0;
    //  A valid JOIN with a frame after it is not a JOIN
    zframe_t *join = s_join_envelope ("t1");
    s_send (dealer, zframe_data (join), zframe_size (join), true);
    s_send (dealer, "x", 1, false);
    sent++;
    //  Two empty frames
    s_send (dealer, "", 0, true);
    s_send (dealer, "", 0, false);
    sent++;
    //  Random messages of 2 to 5 frames
    for (int i = 0; i < 30; i++) {
        int frames = 2 + (int) randombytes_uniform (4);
        for (int f = 0; f < frames; f++) {
            uint8_t buffer [256];
            size_t size = randombytes_uniform (sizeof buffer);
            randombytes_buf (buffer, size);
            s_send (dealer, buffer, size, f + 1 < frames);
        }
        sent++;
    }
    s_counters_t after = s_expect ("multipart_dropped", before.multipart, sent);
    cr_assert_eq (after.accepted, before.accepted, "a frame of a multi-frame message was read");
    cr_assert_eq (after.dropped_total, before.dropped_total,
                  "multi-frame messages are counted apart from the envelope drops");
    //  The same JOIN alone is read (and then refused, as this connection's
    //  key is not its signer's): the connection is fine
    s_send_frame (dealer, join);
    s_expect ("accepted", before.accepted, 1);
    zframe_destroy (&join);
    s_finish ();
}

//  --------------------------------------------------------------------
//  Senders

Test (gossip_badinput, bad_signatures_are_counted)
{
    s_setup ();
    zsock_t *dealer = s_stranger (NULL);
    s_counters_t before = s_counters ();
    //  A SWIM envelope that claims to come from the agent itself, a member
    zframe_t *frame = s_forge (S_TYPE_SWIM, s.agent_pk, 20, 20);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    //  A HELLO (which strangers may send) from our key, signature random
    frame = s_forge (TM_ENVELOPE_HELLO, tm_keys_node_public (s.keys), 20, 20);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    //  A real JOIN with one payload byte changed, and one with one
    //  signature byte changed
    frame = s_join_envelope ("t1");
    zframe_data (frame) [TM_ENVELOPE_HEADER + 5] ^= 0x01;
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    frame = s_join_envelope ("t1");
    zframe_data (frame) [zframe_size (frame) - 1] ^= 0x80;
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    //  A real JOIN whose sender field names the agent
    frame = s_join_envelope ("t1");
    memcpy (zframe_data (frame) + 2, s.agent_pk, 32);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    s_counters_t after = s_expect ("dropped.bad_signature", before.bad_signature, 5);
    cr_assert_eq (after.accepted, before.accepted);
    cr_assert_eq (after.dropped_total, before.dropped_total + 5);
    s_finish ();
}

Test (gossip_badinput, well_signed_messages_from_unknown_senders_are_counted)
{
    s_setup ();
    zsock_t *dealer = s_as_us (NULL);
    s_counters_t before = s_counters ();
    //  We hold the token but are no member: only JOIN and HELLO may come
    //  from a key without a certificate (and HELLO only with one inside)
    zframe_t *frame = s_swim_envelope ("127.0.0.1:9", "x", 1);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    frame = tm_envelope_seal (s.envelope, S_TYPE_FACTS, "\x01\x00\x00", 3);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    frame = tm_envelope_seal (s.envelope, TM_ENVELOPE_WELCOME, "welcome", 7);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    //  A HELLO whose certificate is garbage
    frame = tm_envelope_seal (s.envelope, TM_ENVELOPE_HELLO, "not a certificate", 17);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    //  A type nobody uses
    frame = tm_envelope_seal (s.envelope, 200, "?", 1);
    s_send_frame (dealer, frame);
    zframe_destroy (&frame);
    s_counters_t after = s_expect ("dropped.unknown_sender", before.unknown_sender, 5);
    cr_assert_eq (after.accepted, before.accepted);
    cr_assert_eq (after.dropped_total, before.dropped_total + 5);
    s_finish ();
}

Test (gossip_badinput, envelope_signed_by_another_key_than_its_connection_is_refused)
{
    s_setup ();
    //  A valid JOIN by our identity, carried by a connection with another
    //  CURVE key: as if a peer relayed or replayed someone else's
    zsock_t *dealer = s_stranger (NULL);
    s_counters_t before = s_counters ();
    zframe_t *join = s_join_envelope ("t1");
    s_send_frame (dealer, join);
    zframe_destroy (&join);
    s_counters_t after = s_expect ("sender_mismatch", before.mismatch, 1);
    //  tm_envelope accepted it (the signature is good) before the check
    cr_assert_eq (after.accepted, before.accepted + 1);
    //  ... and nobody was admitted: no WELCOME comes back
    zpoller_t *poller = zpoller_new (dealer, NULL);
    cr_assert_null (zpoller_wait (poller, 300), "the agent answered a mismatched JOIN");
    zpoller_destroy (&poller);
    char *log = tmu_slurp (tmc_file (s.agent, "agent.err"));
    cr_assert_null (strstr (log, "admitted"), "%s", log);
    free (log);
    s_finish ();
}

Test (gossip_badinput, revoked_member_is_refused_by_envelope_and_by_zap)
{
    s_setup ();
    zframe_t *join;
    zsock_t *dealer = s_join_for_real ("t1", &join);
    zframe_destroy (&join);
    s_counters_t before = s_counters ();
    tmu_run_t run = tmu_testmesh (15, "members", "remove", "t1", "--data", s.agent->dir);
    cr_assert_eq (run.status, 0, "members remove t1: exit %d\n%s", run.status, run.err);
    tmu_run_free (&run);
    //  On the connection it already has: its envelopes are revoked
    zframe_t *hello = tm_envelope_hello_seal (s.envelope, NULL);
    cr_assert_not_null (hello);
    s_send_frame (dealer, hello);
    zframe_destroy (&hello);
    zframe_t *swim = s_swim_envelope ("127.0.0.1:9", "x", 1);
    s_send_frame (dealer, swim);
    zframe_destroy (&swim);
    s_counters_t after = s_expect ("dropped.revoked", before.revoked, 2);
    cr_assert_eq (after.accepted, before.accepted);
    //  A new connection with its key: ZAP says no (400)
    zsock_t *monitor;
    s_as_us (&monitor);
    int value = 0, seen = 0;
    cr_assert (s_wait_event (monitor, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, 10, &value, &seen),
               "no refusal of a revoked key (events 0x%x)", seen);
    cr_assert_eq (value, 400);
    cr_assert_eq (seen & ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0);
    //  (once per attempt: the DEALER keeps reconnecting)
    tmc_wait_counter (s.agent, "zap_refused", before.zap_refused + 1, 10);
    after = s_counters ();
    cr_assert_eq (after.accepted, before.accepted);
    s_finish ();
}

//  --------------------------------------------------------------------
//  Freshness

static uint64_t
s_clock_skewed (void *arg)
{
    return s_now_ms () + *(int64_t *) arg;
}

Test (gossip_badinput, envelopes_from_the_past_or_future_are_counted_as_stale)
{
    s_setup ();
    zsock_t *dealer = s_as_us (NULL);
    s_counters_t before = s_counters ();
    //  The default tolerance is 60 s (TM_ENVELOPE_MAX_SKEW_MS)
    int64_t skews [] = { -120000, 120000, -3600000 };
    for (int i = 0; i < 3; i++) {
        tm_envelope_set_clock (s.envelope, s_clock_skewed, &skews [i]);
        zframe_t *join = s_join_envelope ("t1");
        s_send_frame (dealer, join);
        zframe_destroy (&join);
    }
    tm_envelope_set_clock (s.envelope, NULL, NULL);
    s_counters_t after = s_expect ("dropped.stale", before.stale, 3);
    cr_assert_eq (after.accepted, before.accepted);
    cr_assert (!tm_keys_is_member (s.keys));
    s_finish ();
}

Test (gossip_badinput, real_join_is_admitted_and_replays_of_it_or_of_later_envelopes_are_counted)
{
    s_setup ();
    s_counters_t before = s_counters ();
    zframe_t *join;
    zsock_t *dealer = s_join_for_real ("t1", &join);
    s_counters_t after = s_expect ("accepted", before.accepted, 1);

    //  The same JOIN again, on the same connection and on a new one
    s_send_frame (dealer, join);
    zsock_t *other = s_as_us (NULL);
    s_send_frame (other, join);
    after = s_expect ("dropped.replay", before.replay, 2);
    cr_assert_eq (after.accepted, before.accepted + 1);
    zframe_destroy (&join);

    //  As a member now: a HELLO is accepted; SWIM and FACTS payloads that
    //  are well signed but malformed get past the envelope and are
    //  rejected by the layer above, and counted there
    zframe_t *hello = tm_envelope_hello_seal (s.envelope, NULL);
    s_send_frame (dealer, hello);
    zframe_destroy (&hello);
    after = s_expect ("accepted", before.accepted, 2);
    s_counters_t base = after;
    zframe_t *swim = s_swim_envelope ("127.0.0.1:9", "not a swim packet", 17);
    s_send_frame (dealer, swim);
    uint8_t long_address [] = { 200, 'x' };     //  Announces 200 bytes, brings 1
    zframe_t *bad_address = tm_envelope_seal (s.envelope, S_TYPE_SWIM, long_address, 2);
    s_send_frame (dealer, bad_address);
    zframe_destroy (&bad_address);
    zframe_t *empty = tm_envelope_seal (s.envelope, S_TYPE_SWIM, NULL, 0);
    s_send_frame (dealer, empty);
    zframe_destroy (&empty);
    after = s_expect ("swim_malformed", base.swim_malformed, 3);
    cr_assert_eq (after.accepted, base.accepted + 3);
    //  A certificate fact that does not decode, and one of an unknown kind
    uint8_t facts [] = { 1, 0, 5, 'h', 'e', 'l', 'l', 'o', 9, 0, 1, 'z' };
    zframe_t *fact = tm_envelope_seal (s.envelope, S_TYPE_FACTS, facts, sizeof facts);
    s_send_frame (dealer, fact);
    zframe_destroy (&fact);
    after = s_expect ("facts_rejected", base.facts_rejected, 2);
    cr_assert_eq (after.accepted, base.accepted + 4);

    //  Replay of the SWIM envelope
    s_send_frame (dealer, swim);
    after = s_expect ("dropped.replay", before.replay, 3);
    cr_assert_eq (after.swim_malformed, base.swim_malformed + 3, "a replay reached SWIM");
    zframe_destroy (&swim);

    //  Reordering within the window passes; a repeat never does
    zframe_t *first = tm_envelope_hello_seal (s.envelope, NULL);
    zframe_t *second = tm_envelope_hello_seal (s.envelope, NULL);
    s_send_frame (dealer, second);
    s_send_frame (dealer, first);
    after = s_expect ("accepted", base.accepted, 6);
    s_send_frame (dealer, first);
    s_send_frame (dealer, second);
    after = s_expect ("dropped.replay", before.replay, 5);
    //  ... and one older than the window (64 envelopes back) is a replay
    for (int i = 0; i < TM_ENVELOPE_WINDOW + 1; i++) {
        zframe_t *newer = tm_envelope_hello_seal (s.envelope, NULL);
        s_send_frame (dealer, newer);
        zframe_destroy (&newer);
    }
    after = s_expect ("accepted", base.accepted, 6 + TM_ENVELOPE_WINDOW + 1);
    s_send_frame (dealer, first);
    after = s_expect ("dropped.replay", before.replay, 6);
    zframe_destroy (&first);
    zframe_destroy (&second);
    s_finish ();
}

Test (gossip_badinput, second_join_of_a_key_just_admitted_is_a_duplicate_and_gets_no_welcome)
{
    s_setup ();
    zframe_t *join;
    zsock_t *dealer = s_join_for_real ("t1", &join);
    zframe_destroy (&join);
    json_t *stats = tmc_stats (s.agent);
    long long duplicate = tmc_counter (stats, "joins_duplicate");
    long long limited = tmc_counter (stats, "joins_limited");
    json_decref (stats);
    //  A fresh JOIN (not a replay), as a joiner whose WELCOME is still on
    //  its way sends one a second later
    zframe_t *again = s_join_envelope ("t1");
    s_send_frame (dealer, again);
    zframe_destroy (&again);
    s_expect ("joins_duplicate", duplicate, 1);
    stats = tmc_stats (s.agent);
    cr_assert_eq (tmc_counter (stats, "joins_limited"), limited);
    json_decref (stats);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    cr_assert_null (zpoller_wait (poller, 500), "a second WELCOME came back");
    zpoller_destroy (&poller);
    s_finish ();
}

//  --------------------------------------------------------------------
//  Transport

Test (gossip_badinput, clients_without_the_cluster_key_get_nothing_through)
{
    s_setup ();
    s_counters_t before = s_counters ();
    zframe_t *join = s_join_envelope ("t1");
    //  A CURVE client that pins another server key
    zcert_t *wrong = zcert_new ();
    zcert_t *cert = zcert_new ();
    zsock_t *monitor;
    zsock_t *dealer = s_client (zcert_public_txt (wrong), zcert_public_txt (cert),
                                zcert_secret_txt (cert), &monitor);
    zcert_destroy (&wrong);
    zcert_destroy (&cert);
    s_send_frame (dealer, join);
    s_send (dealer, "garbage", 7, false);
    int seen = 0;
    int failed = ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
               | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_DISCONNECTED;
    //  Twice: the first attempt and a reconnection both fail
    cr_assert (s_wait_event (monitor, failed, 10, NULL, &seen), "events 0x%x", seen);
    cr_assert (s_wait_event (monitor, ZMQ_EVENT_CONNECTED, 10, NULL, &seen), "events 0x%x", seen);
    cr_assert (s_wait_event (monitor, failed, 10, NULL, &seen), "events 0x%x", seen);
    cr_assert_eq (seen & ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, "a wrong server key got in");

    //  A client without CURVE
    dealer = s_client (NULL, NULL, NULL, &monitor);
    s_send_frame (dealer, join);
    seen = 0;
    cr_assert (s_wait_event (monitor, failed, 10, NULL, &seen), "events 0x%x", seen);
    cr_assert_eq (seen & ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 0, "a plain client got in");

    //  Raw TCP: 64 KB of noise, then the agent hangs up
    char host [64];
    int port = 0;
    cr_assert_eq (sscanf (s.address, "%63[^:]:%d", host, &port), 2);
    s.fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in where = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, host, &where.sin_addr);
    cr_assert_eq (connect (s.fd, (struct sockaddr *) &where, sizeof where), 0);
    struct timeval timeout = { 5, 0 };
    setsockopt (s.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt (s.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    uint8_t noise [65536];
    randombytes_buf (noise, sizeof noise);
    ssize_t wrote = send (s.fd, noise, sizeof noise, MSG_NOSIGNAL);
    cr_assert_gt (wrote, 0);
    //  Read its greeting until it hangs up: end of file or a reset, not
    //  the receive timeout
    uint8_t reply [256];
    ssize_t got;
    while ((got = recv (s.fd, reply, sizeof reply, 0)) > 0)
        ;
    cr_assert (got == 0 || errno == ECONNRESET,
               "the agent did not hang up on a raw TCP client: %s", strerror (errno));
    close (s.fd);
    s.fd = -1;

    //  A barrier: one garbage frame on a good connection is counted, and
    //  it is the only thing that was
    zsock_t *good = s_stranger (NULL);
    s_send (good, "x", 1, false);
    s_counters_t after = s_expect ("dropped.garbage", before.garbage, 1);
    cr_assert_eq (after.accepted, before.accepted, "a JOIN got through without the cluster key");
    cr_assert_eq (after.dropped_total, before.dropped_total + 1);
    cr_assert_eq (after.multipart, before.multipart);
    cr_assert_eq (after.zap_refused, before.zap_refused,
                  "ZAP is not even asked when CURVE fails");
    zframe_destroy (&join);
    s_finish ();
}

//  Signs for our tm_swim instance with our identity (tm_gossip.c does the
//  same for the agent's).
static int
s_swim_sign (void *arg, const void *data, size_t size, uint8_t sig [TM_SWIM_SIG_SIZE])
{
    tm_keys_sign ((tm_keys_t *) arg, data, size, sig);
    return 0;
}

//  Receives one message on our server ROUTER: [routing id][envelope].
//  Returns the envelope (caller destroys) and the routing id in *RID_P.
static zframe_t *
s_recv_on (zsock_t *server, zframe_t **rid_p, double timeout)
{
    zpoller_t *poller = zpoller_new (server, NULL);
    zframe_t *body = NULL;
    if (zpoller_wait (poller, (int) (timeout * 1000))) {
        zmsg_t *msg = zmsg_recv (server);
        cr_assert_not_null (msg);
        cr_assert_eq (zmsg_size (msg), 2, "the agent sent %zu frames", zmsg_size (msg));
        *rid_p = zmsg_pop (msg);
        body = zmsg_pop (msg);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return body;
}

Test (gossip_badinput, agent_answers_on_its_own_connection_hello_first_and_checks_what_comes_back)
{
    s_setup ();
    zframe_t *join;
    zsock_t *dealer = s_join_for_real ("t1", &join);
    zframe_destroy (&join);
    //  As a member we can be a server of the cluster: the agent's client
    //  socket pins the cluster key, which every member's server uses
    zsock_t *server = s_keep (zsock_new (ZMQ_ROUTER));
    zsock_set_linger (server, 0);
    zsock_set_curve_server (server, 1);
    zsock_set_curve_secretkey (server, tm_keys_cluster_curve_secret (s.keys));
    zsock_set_curve_publickey (server, tm_keys_cluster_curve_public (s.keys));
    int port = zsock_bind (server, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    char address [32];
    snprintf (address, sizeof address, "127.0.0.1:%d", port);

    //  A state sync from us, naming our server as where to answer
    tm_swim_config_t config;
    tm_swim_config_lan (&config);
    config.sign = s_swim_sign;
    config.crypto_arg = s.keys;
    tm_swim_t *swim = tm_swim_new (&config, tm_keys_node_public (s.keys), "t1", address,
                                   NULL, 0, tmu_now ());
    cr_assert_not_null (swim);
    cr_assert_eq (tm_swim_join (swim, s.address, tmu_now ()), 0);
    tm_swim_packet_t packet;
    cr_assert (tm_swim_pop_outgoing (swim, &packet));
    size_t length = strlen (address);
    uint8_t *payload = (uint8_t *) malloc (1 + length + packet.size);
    payload [0] = (uint8_t) length;
    memcpy (payload + 1, address, length);
    memcpy (payload + 1 + length, packet.data, packet.size);
    zframe_t *sync = tm_envelope_seal (s.envelope, S_TYPE_SWIM, payload, 1 + length + packet.size);
    free (payload);
    free (packet.data);
    while (tm_swim_pop_outgoing (swim, &packet))
        free (packet.data);
    tm_swim_destroy (&swim);
    s_send_frame (dealer, sync);
    zframe_destroy (&sync);

    //  The answer comes on a connection of the agent's own, its
    //  certificate (HELLO) first, then SWIM
    zframe_t *rid = NULL;
    zframe_t *first = s_recv_on (server, &rid, 10);
    cr_assert_not_null (first, "the agent did not connect back within 10 s");
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (s.envelope, zframe_data (first), zframe_size (first), &msg),
                  TM_ENVELOPE_OK);
    cr_assert_eq (msg.type, TM_ENVELOPE_HELLO, "first came type %d, not HELLO", msg.type);
    cr_assert_eq (memcmp (msg.sender, s.agent_pk, 32), 0);
    zframe_t *second_rid = NULL;
    zframe_t *second = s_recv_on (server, &second_rid, 10);
    cr_assert_not_null (second, "no SWIM answer after the HELLO");
    cr_assert_eq (tm_envelope_open (s.envelope, zframe_data (second), zframe_size (second), &msg),
                  TM_ENVELOPE_OK);
    cr_assert_eq (msg.type, S_TYPE_SWIM);
    cr_assert (zframe_eq (rid, second_rid), "the answer came on another connection");

    //  What comes back on it is checked like what comes to its server
    //  (members answer over each other's connections): garbage and a
    //  forged signature are dropped and counted, a good envelope from the
    //  member at that address is accepted
    s_counters_t before = s_counters ();
    zmsg_t *back = zmsg_new ();
    zmsg_append (back, &rid);
    zmsg_addmem (back, "junk", 4);
    cr_assert_eq (zmsg_send (&back, server), 0);
    s_counters_t after = s_expect ("dropped.garbage", before.garbage, 1);
    cr_assert_eq (after.accepted, before.accepted);

    zframe_t *forged = tm_envelope_hello_seal (s.envelope, NULL);
    zframe_data (forged) [zframe_size (forged) - 1] ^= 0x01;    //  The signature's last byte
    back = zmsg_new ();
    zmsg_addmem (back, zframe_data (second_rid), zframe_size (second_rid));
    zmsg_append (back, &forged);
    cr_assert_eq (zmsg_send (&back, server), 0);
    after = s_expect ("dropped.bad_signature", before.bad_signature, 1);
    cr_assert_eq (after.accepted, before.accepted, "a forged envelope was accepted");

    zframe_t *hello = tm_envelope_hello_seal (s.envelope, NULL);
    back = zmsg_new ();
    zmsg_addmem (back, zframe_data (second_rid), zframe_size (second_rid));
    zmsg_append (back, &hello);
    cr_assert_eq (zmsg_send (&back, server), 0);
    after = s_expect ("accepted", before.accepted, 1);
    cr_assert_eq (after.dropped_total, before.dropped_total + 2);
    cr_assert_eq (after.mismatch, before.mismatch);
    s_assert_agent_fine ();
    zframe_destroy (&first);
    zframe_destroy (&second);
    zframe_destroy (&second_rid);
    s_finish ();
}
