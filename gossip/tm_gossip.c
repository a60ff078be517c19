/*  tm_gossip.c - the gossip actor: membership over real ZeroMQ sockets.

    Messages between peers are envelopes (tm_envelope) of these types:

        JOIN     (1)  joiner -> member, on the joiner's client socket:
                      join proof
        WELCOME  (2)  member -> joiner, back on the same connection
        HELLO    (3)  member -> member, first on every connection: the
                      sender's certificate, so the receiver knows it
        SWIM    (16)  any -> any: [address length u8][sender's address]
                      [tm_swim packet]; the address is where to answer
        FACTS   (17)  member -> member: [kind u8][length u16][bytes]...
                      kind 1 certificate, 2 join-secret rotation,
                      3 revocation; each fact is signed by the cluster key
                      or (certificates) verified against it
        WORK    (18)  member -> member: an opaque payload of the work
                      protocol (node/tm_workpool.c), passed to the owner's
                      work socket; the envelope's signer is its author
        CACHE   (19)  member -> member: an opaque payload of the cache
                      protocol (dht-cache/tm_dht.c), passed to the owner's
                      cache socket, as WORK to the work socket

    Channels.  The work socket and the cache socket are two instances of
    one thing (s_channel_t): a PAIR to a local actor, one envelope type,
    the same HELLO/SEND/MEMBER/SYNCED/RECV/UNSENT protocol (tm_gossip.h).
    One implementation serves both; the poll set has one item per channel.

    Rotations and revocations spread epidemically when they are made: to
    TM_FACTS_FANOUT random members, each of which passes on what is new
    to it.  Certificates do not: the admitting member pushes a new one to
    TM_FACTS_FANOUT members and nobody passes it on, because no member
    needs a third party's copy to accept a node's envelopes: a node sends
    its own certificate (HELLO) first on every connection it sends over,
    its own or one a member opened to it (s_inbound_send).  Passing
    certificates on cost three FACTS per member per joiner, O(N^2)
    envelopes to form a cluster (18,000 of 50,000 at N = 100).  Then
    anti-entropy: every TM_FACTS_INTERVAL (jittered) we send one random
    alive member every certificate we know for the members in our
    table, plus the rotations and revocations seen since we started, so
    every member ends up with every certificate (for `members remove
    NAME`, and for WELCOMEs it gives).

    Transport.  Members connect to each other's server, a ROUTER bound on
    the peer address, from their client, ONE ROUTER connected to every
    peer address they send to.  One connection serves a pair both ways:
    to a member that opened one to us (its metadata says "duplex") we
    send over it while we have none of our own to it (s_inbound_*), and
    what comes back on our client connections is read like what reaches
    the server.  That saves a third or more of the CurveZMQ handshakes
    of a forming cluster (pairs whose ends connect at once keep two).
    Bound to one IPv4 address, we connect from it.  The one client socket
    can reach every member because
    every member's server uses the same CURVE keypair, the cluster's: the
    client pins that server key and presents our node key.  Before each
    zmq_connect we set ZMQ_CONNECT_ROUTING_ID to a fresh id of our own
    (s_peer_t.rid), and send [that id][envelope].  With
    ZMQ_ROUTER_MANDATORY and ZMQ_DONTWAIT a send to a full queue fails
    (EAGAIN) instead of vanishing, and we drop and count it; ZMQ_IMMEDIATE
    stays 0, so a peer's queue exists from zmq_connect on and what we send
    while its connection is pending waits there (up to TM_PEER_HWM).  A
    connection that libzmq ends for good (a protocol error: it does not
    retry those) makes sends fail with EHOSTUNREACH: we then forget the
    peer, and the next send connects afresh.  So does a member that joins
    at an address whose connection dropped (it left, died, or its port
    went to a new node): libzmq's reconnection has backed off by then (up
    to reconnect_ivl_max), and what we send it would wait in the queue.  One
    socket monitor on the client reports CONNECTED, DISCONNECTED and
    HANDSHAKE_SUCCEEDED with the endpoint we connected to, which names
    the peer.  A disconnect is a hint to SWIM; and until a connection
    has worked both ways (handshake done, an envelope from the member
    since), for at most TM_PEER_GRACE, SWIM holds no failed probe over it
    against the member (s_swim_path_new).  So the loop
    polls six sockets whatever the cluster's size, where a DEALER and a
    monitor per peer made every wake-up cost O(N).

    Connections are authenticated twice: CurveZMQ (the client must know
    the cluster's server key, which only the token gives) with a ZAP
    handler that refuses revoked keys and names the client's key as the
    connection's User-Id; and the envelope, whose signer must be that
    same key, so an envelope cannot be replayed over another member's
    connection.

    Invariants:
    1. Every packet tm_swim emits is either queued on the client socket
       for its peer, or on the server socket for a member's connection,
       or counted as dropped; the outbox is drained after every call.
    2. A peer (s_peer_t) exists only for an address we sent to; it is
       in self->peers under its address and in self->peer_rids under its
       routing id, and its connection exists exactly as long as it does.
    3. A routing id is never used twice in one process: libzmq asserts
       when a connect reuses the id of a connection it still holds
       (router_t::identify_peer), and a disconnect completes later.
    4. Only envelopes that tm_envelope_open accepted reach tm_swim or the
       fact handlers.
    5. An inbound entry (s_inbound_t) is keyed by the address of the
       member's signed alive fact, names the connection that carried an
       envelope the member signed, and goes when that connection closes
       or the member joins again, dies, leaves or is revoked.
*/
#include "tm_gossip.h"
#include "tm_envelope.h"
#include "tm_keys.h"
#include "tm_token.h"
#include <jansson.h>
#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <sys/utsname.h>
#include <arpa/inet.h>
#include <unistd.h>

#define TM_TYPE_SWIM          16        //  1..15 belong to tm_envelope
#define TM_TYPE_FACTS         17
#define TM_TYPE_WORK          18
#define TM_TYPE_CACHE         19
#define TM_META_INTERVAL      0.5       //  s between metadata updates (load)
#define TM_FACT_CERT          1
#define TM_FACT_ROTATION      2
#define TM_FACT_REVOCATION    3
#define TM_FACTS_INTERVAL     10.0      //  s between anti-entropy rounds
#define TM_JOIN_RETRY         1.0       //  s between JOIN attempts
#define TM_JOIN_DUPLICATE_MS  3000      //  ms after admitting a key in which
                                        //  its JOINs are taken as duplicates
#define TM_REJOIN_INTERVAL    5.0       //  s between "alone? join the seeds again"
#define TM_PEER_HWM           128       //  Packets queued per peer
#define TM_PEER_GRACE         3.0       //  s after opening a connection in which
                                        //  a probe that fails over it is excused
#define TM_PEERS_FILE         "peers"   //  Remembered addresses, in DATADIR
#define TM_BEACON_REFRESH     5.0       //  s between fresh beacon payloads
#define TM_JOIN_RATE          50        //  JOINs per peer IP and second (agents
                                        //  on one host share their IP)

typedef enum { STATE_JOINING, STATE_MEMBER, STATE_LEFT } s_state_t;

//  A channel: a PAIR to a local actor whose payloads travel between
//  members as envelopes of one type (tm_gossip.h, "Work socket").
typedef enum { CHANNEL_WORK, CHANNEL_CACHE, CHANNELS } s_channel_id_t;
typedef struct {
    const char *name;           //  "work", "cache": logs and stats
    uint8_t type;               //  Envelope type of its payloads
    bool load;                  //  Takes LOAD (the work pool's)
    bool revoked_state;         //  Reports revoked members as state "revoked"
    zsock_t *sock;              //  PAIR to the local actor, NULL without one
    bool ready;                 //  The actor said HELLO: send it events
    uint64_t dropped;           //  Payloads for unknown or gone members, or
                                //  that arrived before HELLO
} s_channel_t;

//  A peer address we send to: one connection of the client socket.
typedef struct {
    char *address;              //  "host:port", the key in self->peers
    char *endpoint;             //  "tcp://host:port", as connected and as
                                //  the monitor's events name it
    char rid [16];              //  Routing id on the client socket, "p%08x";
                                //  the key in self->peer_rids
    bool connected;             //  Monitor saw CONNECTED, not DISCONNECTED since
    bool ever_connected;        //  Monitor saw CONNECTED once
    bool join_queued;           //  A JOIN waits for the connection to come up
    double opened;              //  tm_now () when we connected, and
    double opened_wall;         //  tm_wall_now () (s_swim_path_new)
    bool handshaken;            //  Monitor saw its CURVE handshake succeed
} s_peer_t;

//  A member's connection to our server that we may answer over: one
//  connection per pair instead of one each way halves the CurveZMQ
//  handshakes (0.8 ms of CPU each) of a forming cluster, and an answer
//  no longer waits for a handshake of its own.
typedef struct {
    zframe_t *rid;              //  Its routing id on the server socket
    uint8_t id [TM_SWIM_ID_SIZE];   //  The member that opened it
    int fd;                     //  Its socket, as the server's monitor
                                //  names it when it closes
    bool hello_sent;            //  Our certificate went first on it
} s_inbound_t;

typedef struct {
    zsock_t *pipe;              //  Our command pipe
    tm_gossip_config_t *config; //  Borrowed until we signal; then copied fields
    char *datadir;              //  Data directory
    char *name;                 //  Our node name
    char *advertise;            //  "host:port" we are reached at
    char *bind_host_port;       //  --bind "host:port"
    char *source;               //  IPv4 address our connections start from
                                //  (the --bind host), or NULL: the system's
    char *advertise_option;     //  --advertise, or NULL
    double beacon_interval;     //  s between beacons
    int slots;                  //  Test slots (metadata)
    char **labels;              //  "k=v" labels (metadata)
    tm_keys_t *keys;            //  Identity and cluster keys
    tm_envelope_t *envelope;    //  Seal and open, replay state, counters
    tm_swim_t *swim;            //  Membership state machine, NULL until member
    tm_swim_config_t swim_config;   //  Its timing
    zsock_t *server;            //  ROUTER, CURVE server, bound
    zsock_t *server_monitor;    //  PAIR receiving its DISCONNECTED events
    int server_fd;              //  Socket of the message being handled
    zactor_t *beacon;           //  zbeacon, or NULL
    zsock_t *client;            //  ROUTER, CURVE client, connected to every
                                //  peer; NULL until the first send
    zsock_t *client_monitor;    //  PAIR receiving the client's events
    zhashx_t *peers;            //  address -> s_peer_t (owns them)
    zhashx_t *peer_rids;        //  routing id -> s_peer_t (borrowed)
    zhashx_t *inbound;          //  member address -> s_inbound_t: the
                                //  connection it opened to our server,
                                //  which we send over while we have none
                                //  of our own to it (s_send)
    uint32_t next_rid;          //  Last routing id number given out
    zhashx_t *curves;           //  hex node id -> z85 CURVE key (cache)
    zhashx_t *heard;            //  hex id -> double * (last envelope time)
    zlistx_t *seeds;            //  char * addresses to join through
    zlistx_t *facts;            //  zframe_t * rotation/revocation facts seen
    s_state_t state;            //  Joining, member, left
    double next_join;           //  When to send JOIN again
    double join_deadline;       //  When joining gives up
    double join_timeout;        //  Seconds joining may take
    double next_beacon;         //  When to publish a fresh beacon
    zhashx_t *join_rate;        //  Peer IP -> s_rate_t, JOINs this second
    double next_facts;          //  When to run anti-entropy
    double next_rejoin;         //  When to check whether we are alone
    double leave_deadline;      //  When a leave stops waiting
    bool leave_pending;         //  Owner waits for "LEFT"
    char *leave_call;           //  The call id to answer LEFT with
    bool terminated;            //  $TERM
    uint64_t peer_errors;       //  Sends that failed (peer queue full)
    uint64_t inbound_sent;      //  Envelopes sent over members' connections
    uint64_t inbound_lost;      //  ... that had closed (then sent over ours)
    uint64_t unexpected_dropped;//  Messages back on our client connections
                                //  when none was expected (not joining)
    uint64_t facts_rejected;    //  Facts that did not verify
    uint64_t swim_dropped;      //  SWIM payloads with a bad address prefix
    uint64_t zap_refused;       //  Connections refused by ZAP (revoked keys)
    uint64_t multipart_dropped; //  Peer messages not of exactly one frame
    uint64_t joins_limited;     //  JOINs dropped by the rate limit
    uint64_t joins_duplicate;   //  JOINs of a key admitted moments ago
    uint64_t sender_mismatch;   //  Envelopes signed by another key than the connection's
    zsock_t *zap;               //  ZAP handler (REP), NULL if another owns it
    s_channel_t channels [CHANNELS];    //  Work pool's and cache actor's sockets
    int free_slots;             //  Load gossiped in our metadata
    int queue_length;           //  (set by the work pool's LOAD)
    bool meta_dirty;            //  Load changed since the last metadata
    double next_meta;           //  When the metadata may change again
    char boot [17];             //  Random per process, in our metadata: a
                                //  member restarted before anyone saw it
                                //  dead is a new process holding nothing
} s_gossip_t;

//  ---------------------------------------------------------------------
//  Small helpers

static void
s_hex (const uint8_t *id, char hex [2 * TM_SWIM_ID_SIZE + 1])
{
    sodium_bin2hex (hex, 2 * TM_SWIM_ID_SIZE + 1, id, TM_SWIM_ID_SIZE);
}

static uint64_t
s_now_ms (void)
{
    return (uint64_t) (tm_wall_now () * 1000);
}

//  Splits "host:port" (host may be "[v6]").  Returns -1 if malformed.
static int
s_split_address (const char *address, char *host, size_t host_max, int *port)
{
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address)
        return -1;
    char *end;
    long value = strtol (colon + 1, &end, 10);
    if (*end || value < 0 || value > 65535)
        return -1;
    size_t length = (size_t) (colon - address);
    if (length >= host_max)
        return -1;
    memcpy (host, address, length);
    host [length] = 0;
    *port = (int) value;
    return 0;
}

//  ---------------------------------------------------------------------
//  Metadata gossiped with our alive facts: version, slots, labels.

static char *
s_meta (s_gossip_t *self, size_t *size)
{
    json_t *labels = json_object ();
    struct utsname uts;
    if (uname (&uts) == 0) {
        char os [65];
        snprintf (os, sizeof os, "%s", uts.sysname);
        for (char *c = os; *c; c++)
            *c = (char) tolower ((unsigned char) *c);
        json_object_set_new (labels, "os", json_string (os));
        json_object_set_new (labels, "arch", json_string (uts.machine));
    }
    for (char **label = self->labels; label && *label; label++) {
        const char *eq = strchr (*label, '=');
        if (!eq)
            continue;
        char *key = strndup (*label, (size_t) (eq - *label));
        json_object_set_new (labels, key, json_string (eq + 1));
        free (key);
    }
    //  duplex: we read what members send back on our connections
    json_t *meta = json_pack ("{s:s, s:s, s:b, s:i, s:i, s:i, s:o}",
                              "version", TM_VERSION,
                              "boot", self->boot,
                              "duplex", 1,
                              "slots", self->slots,
                              "free", self->free_slots,
                              "queue", self->queue_length,
                              "labels", labels);
    char *text = json_dumps (meta, JSON_COMPACT);
    json_decref (meta);
    *size = strlen (text);
    if (*size > TM_SWIM_META_MAX) {
        //  Too many labels: drop them rather than fail to start
        tm_warn ("gossip", "labels do not fit in %d bytes of metadata; dropped",
                 TM_SWIM_META_MAX);
        free (text);
        text = tm_strdupf ("{\"version\":\"%s\",\"boot\":\"%s\",\"duplex\":true,"
                           "\"slots\":%d}",
                           TM_VERSION, self->boot, self->slots);
        *size = strlen (text);
    }
    return text;
}

//  ---------------------------------------------------------------------
//  Peers: one client ROUTER, one connection and routing id per address

static void
s_peer_destroy (void **item_p)
{
    s_peer_t *peer = (s_peer_t *) *item_p;
    if (!peer)
        return;
    free (peer->address);
    free (peer->endpoint);
    free (peer);
    *item_p = NULL;
}

//  Creates the client socket and its monitor on first use, once the
//  cluster's server key is known (pinned from a token, or member).
//  Returns 0, or -1 if there is no server key yet.
static int
s_client_require (s_gossip_t *self)
{
    if (self->client)
        return 0;
    const char *server_key = tm_keys_cluster_curve_public (self->keys);
    if (!server_key)
        return -1;
    self->client = zsock_new (ZMQ_ROUTER);
    assert (self->client);
    zsock_set_linger (self->client, 0);
    zsock_set_sndhwm (self->client, TM_PEER_HWM);       //  Per connection
    zsock_set_maxmsgsize (self->client, TM_SWIM_PUSH_PULL_MAX + 4096);
    zsock_set_reconnect_ivl (self->client, 100);
    zsock_set_reconnect_ivl_max (self->client, 2000);
    //  A send to a full queue or to no connection fails instead of being
    //  dropped unseen, so we count it; with ZMQ_DONTWAIT it never blocks
    zsock_set_router_mandatory (self->client, 1);
    zsock_set_curve_serverkey (self->client, server_key);
    zsock_set_curve_publickey (self->client, tm_keys_node_curve_public (self->keys));
    zsock_set_curve_secretkey (self->client, tm_keys_node_curve_secret (self->keys));
    //  Watch the connections: a drop is a hint for SWIM.  The events name
    //  the endpoint we connected to, which names the peer
    char *monitor_endpoint = tm_strdupf ("inproc://tm-gossip-monitor-%p", (void *) self);
    int rc = zmq_socket_monitor (zsock_resolve (self->client), monitor_endpoint,
                                 ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED
                               | ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    assert (rc == 0);
    self->client_monitor = zsock_new (ZMQ_PAIR);
    assert (self->client_monitor);
    zsock_set_rcvtimeo (self->client_monitor, 0);   //  Drained until empty
    rc = zsock_connect (self->client_monitor, "%s", monitor_endpoint);
    assert (rc == 0);
    free (monitor_endpoint);
    return 0;
}

//  Queues FRAME (taken) for PEER.  Returns 0; -1 if its queue is full
//  (EAGAIN); -2 if its connection is gone for good (EHOSTUNREACH: libzmq
//  ends a connection on a protocol error, such as a frame over
//  ZMQ_MAXMSGSIZE from the server, and does not retry it).  On failure
//  the frame is destroyed.  Never blocks.
static int
s_peer_send (s_gossip_t *self, s_peer_t *peer, zframe_t **frame_p)
{
    void *client = zsock_resolve (self->client);
    //  The ROUTER checks the peer's queue on the routing id frame; once
    //  that is accepted the body goes to the same queue
    if (zmq_send (client, peer->rid, strlen (peer->rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1) {
        int gone = zmq_errno () == EHOSTUNREACH;
        zframe_destroy (frame_p);
        return gone ? -2 : -1;
    }
    if (zframe_send (frame_p, self->client, ZFRAME_DONTWAIT) != 0) {
        zframe_destroy (frame_p);
        return -1;
    }
    return 0;
}

//  Queues our certificate first on PEER's connection, so the receiver
//  knows us before our first SWIM packet arrives.  Joiners have none.
static void
s_hello (s_gossip_t *self, s_peer_t *peer)
{
    if (!tm_keys_is_member (self->keys))
        return;
    zframe_t *hello = tm_envelope_hello_seal (self->envelope, NULL);
    if (hello)
        s_peer_send (self, peer, &hello);
}

//  Returns the peer for ADDRESS, connecting the client to it if it is
//  new.  Returns NULL if ADDRESS is malformed or we have no cluster key.
static s_peer_t *
s_peer_require (s_gossip_t *self, const char *address)
{
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, address);
    if (peer)
        return peer;
    char host [TM_SWIM_ADDRESS_MAX + 1];
    int port;
    if (s_split_address (address, host, sizeof host, &port) != 0 || port == 0)
        return NULL;
    if (s_client_require (self) != 0)
        return NULL;
    peer = (s_peer_t *) zmalloc (sizeof (s_peer_t));
    peer->address = strdup (address);
    //  "tcp://SOURCE:0;HOST:PORT" makes libzmq bind the connection to
    //  our --bind address before it connects; the monitor names it so
    peer->endpoint = self->source
                   ? tm_strdupf ("tcp://%s:0;%s", self->source, address)
                   : tm_strdupf ("tcp://%s", address);
    //  A fresh id for every connection (invariant 3); it starts with a
    //  letter, as ids that start with a zero byte are libzmq's own
    snprintf (peer->rid, sizeof peer->rid, "p%08" PRIx32, ++self->next_rid);
    void *client = zsock_resolve (self->client);
    if (zmq_setsockopt (client, ZMQ_CONNECT_ROUTING_ID, peer->rid, strlen (peer->rid)) != 0
    ||  zmq_connect (client, peer->endpoint) != 0) {
        tm_warn ("gossip", "cannot connect to %s: %s", address, zmq_strerror (zmq_errno ()));
        void *item = peer;
        s_peer_destroy (&item);
        return NULL;
    }
    zhashx_insert (self->peers, address, peer);
    zhashx_insert (self->peer_rids, peer->rid, peer);
    peer->opened = tm_now ();
    peer->opened_wall = tm_wall_now ();
    s_hello (self, peer);
    return peer;
}

//  Closes PEER's connection and destroys it.  What was queued for it is
//  dropped.  The caller must hold no other pointer to PEER.
static void
s_peer_forget (s_gossip_t *self, s_peer_t *peer)
{
    zmq_disconnect (zsock_resolve (self->client), peer->endpoint);
    zhashx_delete (self->peer_rids, peer->rid);
    zhashx_delete (self->peers, peer->address);        //  Destroys it
}

//  ---------------------------------------------------------------------
//  Inbound connections: members' connections to our server

static void
s_inbound_destroy (void **item_p)
{
    s_inbound_t *inbound = (s_inbound_t *) *item_p;
    if (!inbound)
        return;
    zframe_destroy (&inbound->rid);
    free (inbound);
    *item_p = NULL;
}

//  True if MEMBER reads what arrives on the connections it opened
//  ("duplex" in its metadata).  Agents before it dropped all of that
//  (s_handle_client), so they must be answered over our own connection.
static bool
s_member_duplex (const tm_swim_member_t *member)
{
    if (!member->meta || member->meta_size == 0)
        return false;
    json_t *meta = json_loadb ((const char *) member->meta, member->meta_size, 0, NULL);
    bool duplex = json_is_true (json_object_get (meta, "duplex"));
    json_decref (meta);
    return duplex;
}

//  Notes that an envelope from member SENDER, which passed every check,
//  came on our server's connection ROUTING_ID: what we send to its
//  address may go back that way.  The address is the one of its signed
//  alive fact, not the one its packet names, so nobody can draw another
//  member's traffic to its own connection.
static void
s_inbound_note (s_gossip_t *self, const uint8_t *sender, zframe_t *routing_id)
{
    tm_swim_member_t member;
    if (!self->swim || !tm_swim_member (self->swim, sender, &member) || member.is_self
    ||  member.state == TM_SWIM_DEAD || member.state == TM_SWIM_LEFT)
        return;
    s_inbound_t *inbound = (s_inbound_t *) zhashx_lookup (self->inbound, member.address);
    if (inbound && zframe_eq (inbound->rid, routing_id))
        return;                 //  The common case: nothing changed
    if (!s_member_duplex (&member))
        return;
    if (!inbound) {
        inbound = (s_inbound_t *) zmalloc (sizeof (s_inbound_t));
        zhashx_insert (self->inbound, member.address, inbound);
    }
    zframe_destroy (&inbound->rid);
    inbound->rid = zframe_dup (routing_id);
    inbound->fd = self->server_fd;
    memcpy (inbound->id, sender, TM_SWIM_ID_SIZE);
    inbound->hello_sent = false;
}

//  Forgets the member connection noted for ADDRESS, if any.
static void
s_inbound_forget (s_gossip_t *self, const char *address)
{
    zhashx_delete (self->inbound, address);
}

//  Queues one frame on the server connection RID.  Returns 0; -1 if its
//  queue is full; -2 if the connection is gone.  On failure FRAME is
//  left to the caller.  Never blocks (ZMQ_ROUTER_MANDATORY, DONTWAIT).
static int
s_inbound_send_frame (s_gossip_t *self, zframe_t *rid, zframe_t **frame_p)
{
    void *server = zsock_resolve (self->server);
    if (zmq_send (server, zframe_data (rid), zframe_size (rid), ZMQ_SNDMORE | ZMQ_DONTWAIT) == -1)
        return zmq_errno () == EHOSTUNREACH ? -2 : -1;
    //  Accepted the routing id: the body goes to the same queue, which
    //  had room (a full one fails on the first frame)
    if (zframe_send (frame_p, self->server, ZFRAME_DONTWAIT) != 0)
        return -1;
    return 0;
}

//  Sends FRAME over INBOUND, our certificate first if it did not go yet
//  (the member may not know us yet: it learns certificates from HELLOs
//  and anti-entropy).  Returns as s_inbound_send_frame.
static int
s_inbound_send (s_gossip_t *self, s_inbound_t *inbound, zframe_t **frame_p)
{
    if (!inbound->hello_sent) {
        zframe_t *hello = tm_envelope_hello_seal (self->envelope, NULL);
        int rc = hello ? s_inbound_send_frame (self, inbound->rid, &hello) : 0;
        zframe_destroy (&hello);
        if (rc != 0)
            return rc;
        inbound->hello_sent = true;
    }
    return s_inbound_send_frame (self, inbound->rid, frame_p);
}

//  Sends FRAME (taken) to ADDRESS: over our connection to it if we have
//  one, else over the member's connection to us if it opened one, else
//  over a new connection of ours.  A full queue drops it: peers are
//  datagram-like, SWIM tolerates loss.
static void
s_send (s_gossip_t *self, const char *address, zframe_t **frame_p)
{
    if (!zhashx_lookup (self->peers, address)) {
        s_inbound_t *inbound = (s_inbound_t *) zhashx_lookup (self->inbound, address);
        int rc = inbound && self->server ? s_inbound_send (self, inbound, frame_p) : -2;
        if (rc == 0) {
            self->inbound_sent++;
            return;
        }
        if (rc == -1) {
            self->peer_errors++;
            zframe_destroy (frame_p);
            return;
        }
        if (inbound) {
            //  It closed (the member restarted, or died): ours from now on
            self->inbound_lost++;
            s_inbound_forget (self, address);
        }
    }
    s_peer_t *peer = s_peer_require (self, address);
    int rc = peer ? s_peer_send (self, peer, frame_p) : -1;
    if (rc != 0) {
        self->peer_errors++;
        zframe_destroy (frame_p);
    }
    //  A connection libzmq gave up on: the next send makes a fresh one
    if (rc == -2)
        s_peer_forget (self, peer);
}

//  Handles one client monitor event: [event u16][value u32], endpoint.
//  A reconnection gets our HELLO again; a disconnect of a member's
//  address is a hint to SWIM.
static void
s_client_event (s_gossip_t *self, zmsg_t *msg)
{
    zframe_t *event_frame = zmsg_first (msg);
    zframe_t *endpoint_frame = zmsg_next (msg);
    if (!event_frame || zframe_size (event_frame) < 2 || !endpoint_frame)
        return;
    uint16_t event;
    memcpy (&event, zframe_data (event_frame), 2);
    //  "tcp://" + an address we connected to; anything else is not ours
    char endpoint [TM_SWIM_ADDRESS_MAX + 8];
    size_t size = zframe_size (endpoint_frame);
    if (size >= sizeof endpoint)
        return;
    memcpy (endpoint, zframe_data (endpoint_frame), size);
    endpoint [size] = 0;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return;
    const char *source_end = strchr (endpoint, ';');
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers,
                                                 source_end ? source_end + 1 : endpoint + 6);
    if (!peer)
        return;                 //  Forgotten since (revoked)
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
        peer->handshaken = true;
    else
    if (event == ZMQ_EVENT_CONNECTED) {
        //  A reconnection may reach a restarted peer: introduce us again
        if (peer->ever_connected)
            s_hello (self, peer);
        peer->connected = peer->ever_connected = true;
        peer->join_queued = false;
    }
    else
    if (event == ZMQ_EVENT_DISCONNECTED && peer->connected) {
        peer->connected = false;
        for (size_t i = 0; self->swim && i < tm_swim_size (self->swim); i++) {
            tm_swim_member_t member;
            if (tm_swim_member_at (self->swim, i, &member) && !member.is_self
            &&  streq (member.address, peer->address)) {
                tm_debug ("gossip", "connection to %s (%s) dropped",
                          member.name, peer->address);
                uint8_t id [TM_SWIM_ID_SIZE];
                memcpy (id, member.id, sizeof id);
                tm_swim_peer_unreachable (self->swim, id, tm_now ());
                break;
            }
        }
    }
}

//  Handles one server monitor event: a member's connection to us closed
//  ([DISCONNECTED u16][socket u32], endpoint).  The member it came from
//  loses its entry (we send over a connection of ours from now on) and,
//  like a drop of ours, is a hint to SWIM: its process may be gone.  A
//  socket number is reused once closed; if a new connection took it
//  before we read this, the hint goes to an innocent member, which costs
//  one probe out of turn (a hint never makes a member suspect).
static void
s_server_event (s_gossip_t *self, zmsg_t *msg)
{
    zframe_t *event_frame = zmsg_first (msg);
    if (!event_frame || zframe_size (event_frame) < 6)
        return;
    uint16_t event;
    uint32_t fd;
    memcpy (&event, zframe_data (event_frame), 2);
    memcpy (&fd, zframe_data (event_frame) + 2, 4);
    if (event != ZMQ_EVENT_DISCONNECTED)
        return;
    for (s_inbound_t *inbound = (s_inbound_t *) zhashx_first (self->inbound); inbound;
         inbound = (s_inbound_t *) zhashx_next (self->inbound))
        if (inbound->fd == (int) fd) {
            char address [TM_SWIM_ADDRESS_MAX + 1];
            snprintf (address, sizeof address, "%s",
                      (const char *) zhashx_cursor (self->inbound));
            uint8_t id [TM_SWIM_ID_SIZE];
            memcpy (id, inbound->id, sizeof id);
            tm_debug ("gossip", "connection from %s dropped", address);
            s_inbound_forget (self, address);
            if (self->swim)
                tm_swim_peer_unreachable (self->swim, id, tm_now ());
            return;
        }
}

//  Reads MONITOR until it is empty, or for a bounded burst (the loop
//  comes back: the socket stays readable), giving HANDLER each event.
static void
s_monitor_drain (s_gossip_t *self, zsock_t *monitor,
                 void (*handler) (s_gossip_t *, zmsg_t *))
{
    for (int burst = 0; burst < 256; burst++) {
        zmsg_t *msg = zmsg_recv (monitor);
        if (!msg)
            break;
        handler (self, msg);
        zmsg_destroy (&msg);
    }
}

//  ---------------------------------------------------------------------
//  SWIM plumbing

static void
s_drain (s_gossip_t *self)
{
    if (!self->swim)
        return;
    tm_swim_packet_t packet;
    size_t address_size = strlen (self->advertise);
    while (tm_swim_pop_outgoing (self->swim, &packet)) {
        if (packet.has_id && tm_keys_status (self->keys, packet.id) == TM_KEYS_REVOKED) {
            free (packet.data);         //  We talk no more to a revoked node
            continue;
        }
        size_t size = 1 + address_size + packet.size;
        uint8_t *payload = (uint8_t *) malloc (size);
        assert (payload);
        payload [0] = (uint8_t) address_size;
        memcpy (payload + 1, self->advertise, address_size);
        memcpy (payload + 1 + address_size, packet.data, packet.size);
        zframe_t *frame = tm_envelope_seal (self->envelope, TM_TYPE_SWIM, payload, size);
        free (payload);
        free (packet.data);
        if (frame)
            s_send (self, packet.address, &frame);
    }
}

static int
s_swim_sign (void *arg, const void *data, size_t size, uint8_t sig [TM_SWIM_SIG_SIZE])
{
    tm_keys_sign ((tm_keys_t *) arg, data, size, sig);
    return 0;
}

static bool
s_swim_verify (void *arg, const uint8_t id [TM_SWIM_ID_SIZE], const void *data,
               size_t size, const uint8_t sig [TM_SWIM_SIG_SIZE])
{
    tm_keys_t *keys = (tm_keys_t *) arg;
    //  A fact about a revoked node is void, however well signed
    if (tm_keys_status (keys, id) == TM_KEYS_REVOKED)
        return false;
    return tm_keys_verify (id, data, size, sig);
}

//  True if the path to member ID at ADDRESS is too new to judge it by:
//  our connection to it was opened less than TM_PEER_GRACE ago and it has
//  not yet shown both ways to work (its CURVE handshake done, and an
//  envelope from the member since we opened it, which came on its own
//  connection to us, the way its ACKs come).  Each pair of members needs
//  a handshake each way, and while a cluster forms every member opens
//  one to every other at once: at N = 100 on two cores a handshake took
//  0.55 s (median; up to 4 s) against a probe timeout of 0.1 s, and the
//  ~400 probes that failed on them kept members suspecting each other
//  (13,000-30,000 'suspect' events over all logs) until the mesh was
//  complete, ~10 s.  A member that dies once the path has worked is
//  judged as before; one that never answered, once the grace is over.
static bool
s_swim_path_new (void *arg, const uint8_t id [TM_SWIM_ID_SIZE], const char *address,
                 double now)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, address);
    if (!peer || now - peer->opened >= TM_PEER_GRACE)
        return false;
    char hex [2 * TM_SWIM_ID_SIZE + 1];
    s_hex (id, hex);
    double *heard = (double *) zhashx_lookup (self->heard, hex);
    bool answered = heard && *heard >= peer->opened_wall;
    return !(peer->handshaken && answered);
}

//  Tells CHANNEL's actor about MEMBER: "MEMBER" id name state address
//  meta.
static void
s_channel_member (s_gossip_t *self, s_channel_t *channel, const tm_swim_member_t *member)
{
    if (!channel->sock || !channel->ready)
        return;
    char hex [2 * TM_SWIM_ID_SIZE + 1];
    s_hex (member->id, hex);
    char *meta = strndup (member->meta ? (const char *) member->meta : "",
                          member->meta_size);
    const char *state = tm_swim_state_name (member->state);
    if (channel->revoked_state && !member->is_self
    &&  tm_keys_status (self->keys, member->id) == TM_KEYS_REVOKED)
        state = "revoked";
    zsock_send (channel->sock, "ssssss", "MEMBER", hex, member->name, state,
                member->address, meta);
    free (meta);
}

//  s_channel_member to every channel.
static void
s_channels_member (s_gossip_t *self, const tm_swim_member_t *member)
{
    for (int i = 0; i < CHANNELS; i++)
        s_channel_member (self, &self->channels [i], member);
}

static void
s_swim_event (void *arg, const tm_swim_event_t *event)
{
    s_gossip_t *self = (s_gossip_t *) arg;
    const tm_swim_member_t *member = &event->member;
    if (event->type != TM_SWIM_EVENT_CONFLICT)
        s_channels_member (self, member);
    if (event->type == TM_SWIM_EVENT_JOINED && !member->is_self) {
        //  A member (new, or back) at an address whose connection was up
        //  and dropped: libzmq would reconnect after its backoff, up to
        //  reconnect_ivl_max later, and our probes would wait in the
        //  queue meanwhile, failing; a new identity that took a departed
        //  member's port was declared dead that way.  A fresh connection
        //  starts now, and is a new path (TM_PEER_GRACE) until it works
        s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, member->address);
        if (peer && peer->ever_connected && !peer->connected) {
            tm_debug ("gossip", "connection to %s (%s) renewed: it joined", member->name,
                      member->address);
            s_peer_forget (self, peer);
        }
    }
    //  A member's connection to us is its own process's: a new identity,
    //  a dead or departed member, makes it worthless
    s_inbound_t *inbound = member->is_self ? NULL
                         : (s_inbound_t *) zhashx_lookup (self->inbound, member->address);
    if (inbound
    &&  (event->type == TM_SWIM_EVENT_JOINED || event->type == TM_SWIM_EVENT_DEAD
     ||  event->type == TM_SWIM_EVENT_LEFT
     ||  memcmp (inbound->id, member->id, TM_SWIM_ID_SIZE) != 0))
        s_inbound_forget (self, member->address);
    if (event->type == TM_SWIM_EVENT_CONFLICT)
        tm_warn ("gossip", "member '%s' (%s): another node claims its %s",
                 member->name, member->address, event->conflict);
    else
    if (event->type == TM_SWIM_EVENT_UPDATED)
        //  Load in metadata changes every half second during runs
        tm_debug ("gossip", "member '%s' (%s) %s", member->name, member->address,
                  tm_swim_event_name (event->type));
    else
        tm_info ("gossip", "member '%s' (%s) %s", member->name, member->address,
                 tm_swim_event_name (event->type));
}

//  ---------------------------------------------------------------------
//  Facts: certificates, rotations, revocations

static void
s_facts_append (zchunk_t *chunk, uint8_t kind, const void *data, size_t size)
{
    uint8_t header [3] = { kind, (uint8_t) (size >> 8), (uint8_t) size };
    zchunk_extend (chunk, header, 3);
    zchunk_extend (chunk, data, size);
}

//  Builds the FACTS payload: the certificates of the members in our
//  table, and the rotations and revocations seen.
static zchunk_t *
s_facts_build (s_gossip_t *self)
{
    zchunk_t *chunk = zchunk_new (NULL, 4096);
    for (size_t i = 0; i < tm_swim_size (self->swim); i++) {
        tm_swim_member_t member;
        if (!tm_swim_member_at (self->swim, i, &member))
            continue;
        const tm_cert_t *cert = tm_keys_member (self->keys, member.id);
        uint8_t buffer [TM_KEYS_CERT_MAX];
        size_t size = cert ? tm_keys_cert_encode (cert, buffer, sizeof buffer) : 0;
        if (size)
            s_facts_append (chunk, TM_FACT_CERT, buffer, size);
    }
    for (zframe_t *fact = (zframe_t *) zlistx_first (self->facts); fact;
         fact = (zframe_t *) zlistx_next (self->facts))
        s_facts_append (chunk, zframe_data (fact) [0], zframe_data (fact) + 1,
                        zframe_size (fact) - 1);
    return chunk;
}

//  Sends CHUNK (FACTS payload) to up to COUNT random alive members.
static void
s_facts_send_chunk (s_gossip_t *self, zchunk_t *chunk, size_t count)
{
    size_t size = tm_swim_size (self->swim);
    size_t start = size ? randombytes_uniform ((uint32_t) size) : 0;
    for (size_t n = 0; n < size && count > 0; n++) {
        tm_swim_member_t member;
        if (tm_swim_member_at (self->swim, (start + n) % size, &member)
        &&  !member.is_self && member.state == TM_SWIM_ALIVE
        &&  tm_keys_status (self->keys, member.id) != TM_KEYS_REVOKED) {
            //  (A revoked member may look alive for a while: no connection
            //  to it again, as s_disconnect_revoked closed it)
            zframe_t *frame = tm_envelope_seal (self->envelope, TM_TYPE_FACTS,
                                                zchunk_data (chunk), zchunk_size (chunk));
            if (frame)
                s_send (self, member.address, &frame);
            count--;
        }
    }
}

//  Anti-entropy: all our facts to one random alive member.
static void
s_facts_spread (s_gossip_t *self)
{
    if (!self->swim)
        return;
    zchunk_t *chunk = s_facts_build (self);
    s_facts_send_chunk (self, chunk, 1);
    zchunk_destroy (&chunk);
}

//  Epidemic spread of NEW facts only: a few random members pass them on
//  in turn when they find them new, as SWIM disseminates its own updates.
//  Sending every fact to every member on each change cost O(N^2)
//  messages per join, which starved a forming cluster of 50.  (Only
//  rotations and revocations are passed on: s_facts_apply.)
#define TM_FACTS_FANOUT 3

static void
s_facts_push (s_gossip_t *self, zchunk_t *fresh)
{
    if (self->swim && zchunk_size (fresh) > 0)
        s_facts_send_chunk (self, fresh, TM_FACTS_FANOUT);
}

//  Remembers a rotation or revocation fact, to pass on.
static void
s_facts_remember (s_gossip_t *self, uint8_t kind, const uint8_t *data, size_t size)
{
    zframe_t *fact = zframe_new (NULL, size + 1);
    zframe_data (fact) [0] = kind;
    memcpy (zframe_data (fact) + 1, data, size);
    zlistx_add_end (self->facts, fact);
}

//  Drops the connections to members whose key is now revoked.  Their
//  packets are already refused (envelope, ZAP); this stops ours to them.
static void
s_disconnect_revoked (s_gossip_t *self)
{
    for (size_t i = 0; self->swim && i < tm_swim_size (self->swim); i++) {
        tm_swim_member_t member;
        if (tm_swim_member_at (self->swim, i, &member) && !member.is_self
        &&  tm_keys_status (self->keys, member.id) == TM_KEYS_REVOKED) {
            //  No caller holds a peer pointer across the handling of a
            //  fact or a command, so the peer goes at once
            s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, member.address);
            if (peer)
                s_peer_forget (self, peer);
            s_inbound_forget (self, member.address);
            //  The channels that care learn it now, not when SWIM finds
            //  it dead (the cache refuses what a revoked member signed)
            s_channels_member (self, &member);
        }
    }
}

//  Applies a FACTS payload; appends the facts that were new to FRESH,
//  for the caller to pass on.
static void
s_facts_apply (s_gossip_t *self, const uint8_t *data, size_t size, zchunk_t *fresh)
{
    while (size >= 3) {
        uint8_t kind = data [0];
        size_t length = ((size_t) data [1] << 8) | data [2];
        if (length > size - 3)
            break;              //  Truncated: drop the rest
        const uint8_t *fact = data + 3;
        char *err = NULL;
        int rc = -1;
        if (kind == TM_FACT_CERT) {
            tm_cert_t cert;
            if (tm_keys_cert_decode (fact, length, &cert, &err) == 0)
                rc = tm_keys_member_add (self->keys, &cert, &err);
        }
        else
        if (kind == TM_FACT_ROTATION) {
            rc = tm_keys_rotation_apply (self->keys, fact, length, &err);
            if (rc == 1)
                s_facts_remember (self, kind, fact, length);
        }
        else
        if (kind == TM_FACT_REVOCATION) {
            rc = tm_keys_revocation_apply (self->keys, fact, length, &err);
            if (rc == 1) {
                s_facts_remember (self, kind, fact, length);
                s_disconnect_revoked (self);
                tm_warn ("gossip", "a node was revoked from the cluster");
            }
        }
        if (rc < 0) {
            self->facts_rejected++;
            tm_debug ("gossip", "fact rejected: %s", err ? err : "unknown kind");
        }
        //  New rotations and revocations go on; certificates do not (see
        //  the top of this file)
        if (rc == 1 && kind != TM_FACT_CERT)
            s_facts_append (fresh, kind, fact, length);
        free (err);
        data += 3 + length;
        size -= 3 + length;
    }
}

//  Pushes one fact we made or admitted (a certificate, a rotation, a
//  revocation) to a few members, who pass it on.
static void
s_facts_push_one (s_gossip_t *self, uint8_t kind, const void *data, size_t size)
{
    zchunk_t *chunk = zchunk_new (NULL, size + 3);
    s_facts_append (chunk, kind, data, size);
    s_facts_push (self, chunk);
    zchunk_destroy (&chunk);
}

//  ---------------------------------------------------------------------
//  Becoming a member

//  Writes the addresses of alive members to DATADIR/peers, so a
//  restarted agent finds its way back without a token.
static void
s_peers_save (s_gossip_t *self)
{
    if (!self->swim)
        return;
    char *path = tm_strdupf ("%s/%s", self->datadir, TM_PEERS_FILE);
    char *temp = tm_strdupf ("%s.tmp", path);
    FILE *file = fopen (temp, "w");
    if (file) {
        //  The seeds we joined through, and every member alive now
        for (char *seed = (char *) zlistx_first (self->seeds); seed;
             seed = (char *) zlistx_next (self->seeds))
            fprintf (file, "%s\n", seed);
        for (size_t i = 0; i < tm_swim_size (self->swim); i++) {
            tm_swim_member_t member;
            if (tm_swim_member_at (self->swim, i, &member) && !member.is_self
            &&  member.state == TM_SWIM_ALIVE)
                fprintf (file, "%s\n", member.address);
        }
        if (fclose (file) == 0)
            rename (temp, path);
    }
    free (temp);
    free (path);
}

static void
s_peers_load (s_gossip_t *self)
{
    char *path = tm_strdupf ("%s/%s", self->datadir, TM_PEERS_FILE);
    FILE *file = fopen (path, "r");
    free (path);
    if (!file)
        return;
    char line [TM_SWIM_ADDRESS_MAX + 2];
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\r\n")] = 0;
        if (*line && !(self->advertise && streq (line, self->advertise)))
            zlistx_add_end (self->seeds, strdup (line));
    }
    fclose (file);
}

//  Creates the server ROUTER, a CURVE server with the cluster key, and
//  binds it to self->bind_host_port (port 0 = any free port); sets
//  self->advertise.  Only members bind: a joiner has no cluster secret
//  yet, and security options apply to a listener only when it is bound.
//  Returns 0, or -1 with *err set.
static int
s_server_bind (s_gossip_t *self, char **err)
{
    char host [TM_SWIM_ADDRESS_MAX + 1];
    int port;
    if (s_split_address (self->bind_host_port, host, sizeof host, &port) != 0)
        return tm_fail (err, "--bind wants HOST:PORT, not '%s'", self->bind_host_port);
    self->server = zsock_new (ZMQ_ROUTER);
    zsock_set_linger (self->server, 0);
    zsock_set_maxmsgsize (self->server, TM_SWIM_PUSH_PULL_MAX + 4096);
    zsock_set_rcvhwm (self->server, 10000);
    //  We answer members over their connections (s_inbound_send): a send
    //  to one that closed or is full fails, counted, and never blocks
    zsock_set_sndhwm (self->server, TM_PEER_HWM);
    zsock_set_router_mandatory (self->server, 1);
    zsock_set_curve_server (self->server, 1);
    zsock_set_zap_domain (self->server, "testmesh");
    zsock_set_curve_secretkey (self->server, tm_keys_cluster_curve_secret (self->keys));
    zsock_set_curve_publickey (self->server, tm_keys_cluster_curve_public (self->keys));
    int bound = port ? zsock_bind (self->server, "tcp://%s:%d", host, port)
                     : zsock_bind (self->server, "tcp://%s:*", host);
    if (bound < 0)
        return tm_fail (err, "cannot bind %s: %s", self->bind_host_port,
                        zmq_strerror (zmq_errno ()));
    //  A member's connection to us that closes is a hint about it, as a
    //  drop of ours to it is (s_server_event)
    char *monitor_endpoint = tm_strdupf ("inproc://tm-gossip-server-monitor-%p", (void *) self);
    int rc = zmq_socket_monitor (zsock_resolve (self->server), monitor_endpoint,
                                 ZMQ_EVENT_DISCONNECTED);
    assert (rc == 0);
    self->server_monitor = zsock_new (ZMQ_PAIR);
    assert (self->server_monitor);
    zsock_set_rcvtimeo (self->server_monitor, 0);
    rc = zsock_connect (self->server_monitor, "%s", monitor_endpoint);
    assert (rc == 0);
    free (monitor_endpoint);
    if (self->advertise_option)
        self->advertise = strdup (self->advertise_option);
    else {
        //  0.0.0.0 is not an address a peer can use: ask the system
        char hostname [256];
        snprintf (hostname, sizeof hostname, "%s", host);
        if (streq (host, "0.0.0.0") || streq (host, "*")) {
            char *name = zsys_hostname ();
            snprintf (hostname, sizeof hostname, "%s", name ? name : "localhost");
            free (name);
        }
        self->advertise = tm_strdupf ("%s:%d", hostname, port ? port : bound);
    }
    return 0;
}

//  Announces us on the LAN, once we are a member with a port to give.
static void
s_beacon_publish (s_gossip_t *self)
{
    if (!self->beacon || !self->advertise)
        return;
    uint8_t beacon [TM_BEACON_BYTES];
    char host [TM_SWIM_ADDRESS_MAX + 1];
    int port = 0;
    s_split_address (self->advertise, host, sizeof host, &port);
    //  The payload carries a timestamp that receivers check (at most
    //  30 s old): zbeacon repeats one payload, so we refresh it
    if (tm_envelope_beacon_encode (self->envelope, (uint16_t) port, beacon) == 0)
        zsock_send (self->beacon, "sbi", "PUBLISH", beacon, sizeof beacon,
                    (int) (self->beacon_interval * 1000));
    self->next_beacon = tm_now () + TM_BEACON_REFRESH;
}

static void s_channels_snapshot (s_gossip_t *self);

//  Binds the CURVE server and starts SWIM.  Returns -1 with *err set.
static int
s_start_member (s_gossip_t *self, char **err)
{
    if (!self->server && s_server_bind (self, err) != 0)
        return -1;
    size_t meta_size;
    char *meta = s_meta (self, &meta_size);
    self->swim_config.sign = s_swim_sign;
    self->swim_config.verify = s_swim_verify;
    self->swim_config.crypto_arg = self->keys;
    self->swim_config.on_event = s_swim_event;
    self->swim_config.event_arg = self;
    self->swim_config.path_new = s_swim_path_new;
    self->swim_config.path_arg = self;
    self->swim = tm_swim_new (&self->swim_config, tm_keys_node_public (self->keys),
                              self->name, self->advertise, meta, meta_size, tm_now ());
    free (meta);
    if (!self->swim)
        return tm_fail (err, "cannot start membership (bad name or address '%s')",
                        self->advertise);
    for (char *seed = (char *) zlistx_first (self->seeds); seed;
         seed = (char *) zlistx_next (self->seeds))
        tm_swim_join (self->swim, seed, tm_now ());
    self->state = STATE_MEMBER;
    self->next_facts = tm_now ()
                     + TM_FACTS_INTERVAL * (0.5 + randombytes_uniform (1001) / 1000.0);
    //  Connections opened while we were joining (to our seeds) carried no
    //  HELLO, as we had no certificate: introduce us on them now, before
    //  the caller drains our first SWIM packets onto them.  Only the seed
    //  that admitted us knows us otherwise
    for (s_peer_t *peer = (s_peer_t *) zhashx_first (self->peers); peer;
         peer = (s_peer_t *) zhashx_next (self->peers))
        s_hello (self, peer);
    s_beacon_publish (self);
    s_channels_snapshot (self);
    return 0;
}

//  Sends JOIN to every seed we know.
static void
s_join_attempt (s_gossip_t *self)
{
    for (char *seed = (char *) zlistx_first (self->seeds); seed;
         seed = (char *) zlistx_next (self->seeds)) {
        //  A JOIN still queued for a connection that is not up yet goes
        //  out when it is: one more behind it would get us admitted twice
        //  (two certificates, two WELCOMEs, and a second slot of the
        //  seed's rate limit that another joiner was waiting for)
        s_peer_t *peer = (s_peer_t *) zhashx_lookup (self->peers, seed);
        if (peer && peer->join_queued && !peer->connected)
            continue;
        char *err = NULL;
        zframe_t *frame = tm_envelope_join_seal (self->envelope, self->name, &err);
        if (!frame) {
            tm_warn ("gossip", "cannot build a join request: %s", err);
            free (err);
            return;
        }
        s_send (self, seed, &frame);
        peer = (s_peer_t *) zhashx_lookup (self->peers, seed);
        if (peer)
            peer->join_queued = !peer->connected;
    }
    self->next_join = tm_now () + TM_JOIN_RETRY;
}

static void
s_seed_add (s_gossip_t *self, const char *address)
{
    if (self->advertise && streq (address, self->advertise))
        return;
    for (char *seed = (char *) zlistx_first (self->seeds); seed;
         seed = (char *) zlistx_next (self->seeds))
        if (streq (seed, address))
            return;
    zlistx_add_end (self->seeds, strdup (address));
}

//  ---------------------------------------------------------------------
//  Inbound

//  Answers one ZAP request (RFC 27) for the server socket: any CURVE
//  client key that is not revoked may connect (joiners are unknown until
//  admitted); the key, in z85, becomes the connection's User-Id.
static void
s_handle_zap (s_gossip_t *self)
{
    zmsg_t *request = zmsg_recv (self->zap);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *identity = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *key = zmsg_pop (request);
    char z85 [TM_KEYS_Z85_SIZE] = "";
    bool ok = mechanism && streq (mechanism, "CURVE") && key && zframe_size (key) == 32;
    if (ok && domain && streq (domain, TM_GOSSIP_CLIENT_DOMAIN)) {
        //  The agent's client port: only keys derived from a join
        //  secret that still admits (tm_keys_client_curve)
        const uint8_t *secrets [8];
        size_t count = tm_keys_join_secrets (self->keys, s_now_ms (), secrets, 8);
        char offered [TM_KEYS_Z85_SIZE], allowed [TM_KEYS_Z85_SIZE];
        zmq_z85_encode (offered, zframe_data (key), 32);
        ok = false;
        for (size_t i = 0; i < count && !ok; i++) {
            tm_keys_client_curve (secrets [i], allowed, NULL);
            ok = streq (offered, allowed);
        }
    }
    else
        ok = ok && !tm_keys_curve_revoked (self->keys, zframe_data (key));
    if (ok)
        zmq_z85_encode (z85, zframe_data (key), 32);
    else
        self->zap_refused++;
    zstr_sendx (self->zap, "1.0", sequence ? sequence : "", ok ? "200" : "400",
                ok ? "OK" : "refused", z85, "", NULL);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&identity);
    zstr_free (&mechanism);
    zframe_destroy (&key);
    zmsg_destroy (&request);
}

//  True if the envelope's signer SENDER (HEX, its hex form) is the client
//  whose CURVE key carried BODY (ZAP put it in User-Id).  Without a ZAP
//  handler (a second gossip actor in one process, in tests) there is
//  nothing to compare.
//
//  Converting an Ed25519 key to its CURVE key costs about as much as
//  checking a signature (libsodium checks the point's subgroup, a scalar
//  multiplication), and every envelope needs it: we keep each sender's
//  z85 CURVE key.  It is a function of the key, so it cannot go stale;
//  only senders whose envelope passed tm_envelope_open get here, and
//  the cache is emptied if it ever holds TM_CURVE_CACHE_MAX keys.
#define TM_CURVE_CACHE_MAX 4096

static bool
s_sender_matches_connection (s_gossip_t *self, zframe_t *body, const uint8_t *sender,
                             const char *hex)
{
    const char *user_id = zframe_meta (body, "User-Id");
    if (!self->zap)
        return true;
    if (!user_id)
        return false;
    const char *z85 = (const char *) zhashx_lookup (self->curves, hex);
    if (!z85) {
        char fresh [TM_KEYS_Z85_SIZE];
        if (tm_keys_curve_of (sender, fresh) != 0)
            return false;
        if (zhashx_size (self->curves) >= TM_CURVE_CACHE_MAX)
            zhashx_purge (self->curves);
        zhashx_insert (self->curves, hex, strdup (fresh));
        z85 = (const char *) zhashx_lookup (self->curves, hex);
    }
    return streq (user_id, z85);
}

//  A JOIN costs us a signature check and, if good, a certificate: allow
//  TM_JOIN_RATE per peer address and second, and no more.
typedef struct {
    double second;              //  Start of the current one-second window
    int count;                  //  JOINs in it
} s_rate_t;

static bool
s_join_allowed (s_gossip_t *self, const char *address)
{
    if (!address)
        address = "?";
    double now = tm_now ();
    s_rate_t *rate = (s_rate_t *) zhashx_lookup (self->join_rate, address);
    if (!rate) {
        if (zhashx_size (self->join_rate) > 4096)
            zhashx_purge (self->join_rate);     //  Bounded memory under a flood
        rate = (s_rate_t *) zmalloc (sizeof (s_rate_t));
        zhashx_insert (self->join_rate, address, rate);
    }
    if (now - rate->second >= 1.0) {
        rate->second = now;
        rate->count = 0;
    }
    return ++rate->count <= TM_JOIN_RATE;
}

//  Hands a member's envelope ENV (it passed every check; HEX is its
//  sender) to SWIM, a channel or the facts, by type.  The same for
//  envelopes on its connection to us and on ours to it.
static void
s_dispatch (s_gossip_t *self, tm_envelope_msg_t *env, const char *hex)
{
    if (env->type == TM_TYPE_SWIM && self->swim && !env->introduction) {
        size_t length = env->payload_size ? env->payload [0] : 0;
        if (env->payload_size < 1 + length || length > TM_SWIM_ADDRESS_MAX) {
            self->swim_dropped++;
            return;
        }
        char address [TM_SWIM_ADDRESS_MAX + 1];
        memcpy (address, env->payload + 1, length);
        address [length] = 0;
        //  A packet it rejects, tm_swim counts (stats.malformed): not again here
        tm_swim_receive (self->swim, address, env->payload + 1 + length,
                         env->payload_size - 1 - length, tm_now ());
    }
    else
    if ((env->type == TM_TYPE_WORK || env->type == TM_TYPE_CACHE)
    &&  self->state == STATE_MEMBER && !env->introduction) {
        s_channel_t *channel = &self->channels [env->type == TM_TYPE_WORK ? CHANNEL_WORK
                                                                         : CHANNEL_CACHE];
        if (channel->sock && channel->ready) {
            zframe_t *payload = zframe_new (env->payload, env->payload_size);
            zsock_send (channel->sock, "ssf", "RECV", hex, payload);
            zframe_destroy (&payload);
        }
        else
            channel->dropped++;
    }
    else
    if (env->type == TM_TYPE_FACTS && self->state == STATE_MEMBER && !env->introduction) {
        zchunk_t *fresh = zchunk_new (NULL, 256);
        s_facts_apply (self, env->payload, env->payload_size, fresh);
        s_facts_push (self, fresh);
        zchunk_destroy (&fresh);
    }
}

//  Handles one message on the server ROUTER: [routing id][envelope].
static void
s_handle_server (s_gossip_t *self)
{
    //  The routing id by hand, for the socket it came on (ZMQ_SRCFD):
    //  s_inbound_note keeps it, s_server_event matches it
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, zsock_resolve (self->server), ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&part);
        return;
    }
    self->server_fd = zmq_msg_get (&part, ZMQ_SRCFD);
    zframe_t *routing_id = zframe_new (zmq_msg_data (&part), zmq_msg_size (&part));
    bool more = zmq_msg_more (&part);
    zmq_msg_close (&part);
    zmsg_t *msg = more ? zmsg_recv (self->server) : zmsg_new ();
    zframe_t *body = msg ? zmsg_pop (msg) : NULL;
    tm_envelope_msg_t env;
    if (!msg || !body || zmsg_size (msg) != 0) {
        self->multipart_dropped++;
        goto done;
    }
    if (tm_envelope_open (self->envelope, zframe_data (body), zframe_size (body), &env)
        != TM_ENVELOPE_OK)
        goto done;              //  Counted by tm_envelope
    char hex [2 * TM_SWIM_ID_SIZE + 1];
    s_hex (env.sender, hex);
    if (!s_sender_matches_connection (self, body, env.sender, hex)) {
        self->sender_mismatch++;
        goto done;
    }
    double *heard = (double *) zhashx_lookup (self->heard, hex);
    if (!heard) {
        heard = (double *) zmalloc (sizeof (double));
        zhashx_insert (self->heard, hex, heard);
    }
    *heard = tm_wall_now ();

    if (env.type == TM_ENVELOPE_JOIN && self->state == STATE_MEMBER) {
        //  Admitted moments ago (by us or another member): the joiner sent
        //  this before the WELCOME, which is on its way, reached it (a busy
        //  seed answers late).  Answering again would issue a second
        //  certificate and take a slot of the rate limit that another
        //  joiner needs; a joiner whose WELCOME was lost asks again and is
        //  answered once the window is over
        const tm_cert_t *known = tm_keys_member (self->keys, env.sender);
        uint64_t now_ms = s_now_ms ();
        if (known && now_ms >= known->issued_ms
        &&  now_ms - known->issued_ms < TM_JOIN_DUPLICATE_MS) {
            self->joins_duplicate++;
            goto done;
        }
        if (!s_join_allowed (self, zframe_meta (body, "Peer-Address"))) {
            self->joins_limited++;
            goto done;
        }
        char name [TM_KEYS_NAME_MAX + 1];
        if (tm_envelope_join_verify (self->envelope, &env, name) != TM_ENVELOPE_OK) {
            tm_warn ("gossip", "refused a join request: %s", "bad or expired token");
            goto done;
        }
        size_t size;
        char *err = NULL;
        uint8_t *welcome = tm_keys_welcome_encode (self->keys, env.sender, name,
                                                   s_now_ms (), &size, &err);
        if (!welcome) {
            tm_warn ("gossip", "cannot admit '%s': %s", name, err);
            free (err);
            goto done;
        }
        zframe_t *reply = tm_envelope_seal (self->envelope, TM_ENVELOPE_WELCOME,
                                            welcome, size);
        sodium_memzero (welcome, size);
        free (welcome);
        //  Lost if the joiner's connection closed or is full: it asks again
        if (reply && s_inbound_send_frame (self, routing_id, &reply) != 0)
            self->peer_errors++;
        zframe_destroy (&reply);
        tm_info ("gossip", "admitted '%s' to the cluster", name);
        //  Everyone must learn the newcomer's certificate (it also sends
        //  it itself, as HELLO, on each connection it opens)
        const tm_cert_t *cert = tm_keys_member (self->keys, env.sender);
        uint8_t encoded [TM_KEYS_CERT_MAX];
        size_t encoded_size = cert ? tm_keys_cert_encode (cert, encoded, sizeof encoded) : 0;
        if (encoded_size)
            s_facts_push_one (self, TM_FACT_CERT, encoded, encoded_size);
    }
    else
    if (!env.introduction) {
        //  Noted after: the packet may be what puts its sender in our
        //  table (a joiner's first push-pull), and our answer is only
        //  queued at the end of the loop's turn (s_drain)
        s_dispatch (self, &env, hex);
        if (self->state == STATE_MEMBER)
            s_inbound_note (self, env.sender, routing_id);
    }
done:
    zframe_destroy (&routing_id);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
}

//  Handles one message on the client ROUTER: [our routing id][envelope].
//  A joiner expects its WELCOME this way.  A member gets what members
//  answer over its connections (s_inbound_send): a sender our table
//  holds must be the member at the address we connected to.
static void
s_handle_client (s_gossip_t *self)
{
    zmsg_t *msg = zmsg_recv (self->client);
    if (!msg)
        return;
    zframe_t *rid = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    s_peer_t *peer = NULL;
    tm_envelope_msg_t env;
    if (!rid || !body || zmsg_size (msg) != 0) {
        self->multipart_dropped++;
        goto done;
    }
    //  Routing ids are ours ("p%08x"), so a short string
    char key [sizeof peer->rid];
    if (zframe_size (rid) < sizeof key) {
        memcpy (key, zframe_data (rid), zframe_size (rid));
        key [zframe_size (rid)] = 0;
        peer = (s_peer_t *) zhashx_lookup (self->peer_rids, key);
    }
    if (!peer) {
        self->unexpected_dropped++;     //  Forgotten since (revoked, renewed)
        goto done;
    }
    if (self->state != STATE_JOINING) {
        if (!self->swim) {
            self->unexpected_dropped++;
            goto done;
        }
        if (tm_envelope_open (self->envelope, zframe_data (body), zframe_size (body), &env)
            != TM_ENVELOPE_OK || env.introduction)
            goto done;          //  Counted by tm_envelope; a HELLO is filed
        if (env.type == TM_ENVELOPE_HELLO)
            goto done;
        //  The signature names the sender whatever the connection.  One
        //  our table places elsewhere has no business here; one it does
        //  not hold yet is normal (a seed's push-pull answer, a member
        //  that learnt of us first)
        tm_swim_member_t member;
        if (tm_swim_member (self->swim, env.sender, &member)
        &&  !streq (member.address, peer->address)) {
            self->sender_mismatch++;
            goto done;
        }
        char hex [2 * TM_SWIM_ID_SIZE + 1];
        s_hex (env.sender, hex);
        double *heard = (double *) zhashx_lookup (self->heard, hex);
        if (!heard) {
            heard = (double *) zmalloc (sizeof (double));
            zhashx_insert (self->heard, hex, heard);
        }
        *heard = tm_wall_now ();
        s_dispatch (self, &env, hex);
        goto done;
    }
    if (tm_envelope_open (self->envelope, zframe_data (body), zframe_size (body), &env)
        == TM_ENVELOPE_OK
    &&  env.type == TM_ENVELOPE_WELCOME) {
        char *err = NULL;
        char *address = strdup (peer->address);
        if (tm_keys_welcome_accept (self->keys, env.sender, env.payload,
                                    env.payload_size, &err) == 0) {
            tm_info ("gossip", "joined the cluster through %s", address);
            //  Join SWIM through the member that admitted us first
            zlistx_purge (self->seeds);
            zlistx_add_end (self->seeds, strdup (address));
            if (s_start_member (self, &err) != 0) {
                tm_error ("gossip", "%s", err);
                self->terminated = true;
            }
            else
                s_peers_save (self);    //  A restart right now can rejoin
            s_drain (self);
        }
        else
            tm_warn ("gossip", "WELCOME from %s refused: %s", address, err);
        free (address);
        free (err);
    }
done:
    zframe_destroy (&rid);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
}

static void
s_handle_beacon (s_gossip_t *self)
{
    char *ip = NULL;
    zframe_t *data = NULL;
    if (zsock_recv (self->beacon, "sf", &ip, &data) == 0 && ip && data) {
        uint8_t node_pk [TM_KEYS_PUBLIC_BYTES];
        uint16_t port;
        if (tm_envelope_beacon_verify (self->envelope, zframe_data (data),
                                       zframe_size (data), node_pk, &port) == TM_ENVELOPE_OK
        &&  memcmp (node_pk, tm_keys_node_public (self->keys), sizeof node_pk) != 0) {
            char *address = tm_strdupf ("%s:%u", ip, (unsigned) port);
            if (self->state == STATE_JOINING) {
                s_seed_add (self, address);
                if (tm_now () >= self->next_join - TM_JOIN_RETRY + 0.2)
                    s_join_attempt (self);
            }
            else
            if (self->swim && !tm_swim_member (self->swim, node_pk, NULL))
                tm_swim_join (self->swim, address, tm_now ());
            free (address);
        }
    }
    free (ip);
    zframe_destroy (&data);
}

//  ---------------------------------------------------------------------
//  Channels: the work pool's and the cache actor's sockets (tm_gossip.h:
//  "Work socket", "Cache socket")

static void
s_parse_hex_id (const char *hex, uint8_t id [TM_SWIM_ID_SIZE], bool *ok)
{
    *ok = hex && strlen (hex) == 2 * TM_SWIM_ID_SIZE
       && sodium_hex2bin (id, TM_SWIM_ID_SIZE, hex, strlen (hex), NULL, NULL, NULL) == 0;
}

//  Our id, the member table and SYNCED to CHANNEL, once we are a member.
static void
s_channel_snapshot (s_gossip_t *self, s_channel_t *channel)
{
    if (!channel->sock || !channel->ready || !self->swim)
        return;
    char hex [2 * TM_SWIM_ID_SIZE + 1];
    s_hex (tm_swim_id (self->swim), hex);
    zsock_send (channel->sock, "ss", "SELF", hex);
    for (size_t i = 0; i < tm_swim_size (self->swim); i++) {
        tm_swim_member_t member;
        if (tm_swim_member_at (self->swim, i, &member))
            s_channel_member (self, channel, &member);
    }
    zsock_send (channel->sock, "s", "SYNCED");
}

static void
s_channels_snapshot (s_gossip_t *self)
{
    for (int i = 0; i < CHANNELS; i++)
        s_channel_snapshot (self, &self->channels [i]);
}

//  One command from CHANNEL's actor.
static void
s_handle_channel (s_gossip_t *self, s_channel_t *channel)
{
    zmsg_t *msg = zmsg_recv (channel->sock);
    if (!msg)
        return;
    char *command = zmsg_popstr (msg);
    if (command && streq (command, "HELLO")) {
        //  The snapshot first, then every change as it happens; a joiner
        //  sends it once admitted (s_start_member)
        channel->ready = true;
        s_channel_snapshot (self, channel);
    }
    else
    if (command && streq (command, "SEND") && zmsg_size (msg) == 2) {
        char *hex = zmsg_popstr (msg);
        zframe_t *payload = zmsg_pop (msg);
        uint8_t id [TM_SWIM_ID_SIZE];
        bool ok;
        s_parse_hex_id (hex, id, &ok);
        tm_swim_member_t member;
        if (ok && self->swim && memcmp (id, tm_swim_id (self->swim), TM_SWIM_ID_SIZE) == 0)
            //  To ourselves: the same path as from a peer, without the wire
            zsock_send (channel->sock, "ssf", "RECV", hex, payload);
        else
        if (ok && self->swim && tm_swim_member (self->swim, id, &member)
        &&  member.state != TM_SWIM_DEAD && member.state != TM_SWIM_LEFT
        &&  tm_keys_status (self->keys, id) != TM_KEYS_REVOKED) {
            zframe_t *frame = tm_envelope_seal (self->envelope, channel->type,
                                                zframe_data (payload), zframe_size (payload));
            if (frame)
                s_send (self, member.address, &frame);
            else {
                channel->dropped++;
                zsock_send (channel->sock, "ssf", "UNSENT", hex, payload);
            }
        }
        else {
            //  The actor's view of the members follows ours: it may have
            //  sent this before it heard that ID died; it gets it back
            channel->dropped++;
            zsock_send (channel->sock, "ssf", "UNSENT", hex ? hex : "", payload);
        }
        free (hex);
        zframe_destroy (&payload);
    }
    else
    if (command && streq (command, "LOAD") && channel->load && zmsg_size (msg) == 2) {
        char *free_slots = zmsg_popstr (msg), *queue = zmsg_popstr (msg);
        int f = atoi (free_slots ? free_slots : "0"), q = atoi (queue ? queue : "0");
        if (f != self->free_slots || q != self->queue_length) {
            self->free_slots = f;
            self->queue_length = q;
            self->meta_dirty = true;
        }
        free (free_slots);
        free (queue);
    }
    free (command);
    zmsg_destroy (&msg);
}

//  Load in our metadata changes at most every TM_META_INTERVAL: each
//  change is a signed alive fact that every member receives.
static void
s_meta_refresh (s_gossip_t *self, double now)
{
    if (!self->meta_dirty || !self->swim || self->state != STATE_MEMBER
    ||  now < self->next_meta)
        return;
    size_t size;
    char *meta = s_meta (self, &size);
    tm_swim_set_meta (self->swim, meta, size, now);
    free (meta);
    self->meta_dirty = false;
    self->next_meta = now + TM_META_INTERVAL;
}

//  ---------------------------------------------------------------------
//  Commands from the owner

static const char *
s_state_name (s_gossip_t *self)
{
    return self->state == STATE_JOINING ? "joining"
         : self->state == STATE_MEMBER ? "member" : "left";
}

static char *
s_members_json (s_gossip_t *self)
{
    json_t *list = json_array ();
    double now_mono = tm_now (), now_wall = tm_wall_now ();
    for (size_t i = 0; self->swim && i < tm_swim_size (self->swim); i++) {
        tm_swim_member_t member;
        if (!tm_swim_member_at (self->swim, i, &member))
            continue;
        char hex [2 * TM_SWIM_ID_SIZE + 1];
        s_hex (member.id, hex);
        double *heard = (double *) zhashx_lookup (self->heard, hex);
        json_error_t error;
        json_t *meta = member.meta_size
                     ? json_loadb ((const char *) member.meta, member.meta_size, 0, &error)
                     : NULL;
        json_t *entry = json_pack ("{s:s, s:s, s:s, s:s, s:I, s:b, s:f}",
                                   "name", member.name,
                                   "id", hex,
                                   "address", member.address,
                                   "state", tm_swim_state_name (member.state),
                                   "incarnation", (json_int_t) member.incarnation,
                                   "self", member.is_self,
                                   "since", now_wall - (now_mono - member.state_change));
        if (member.is_self)
            json_object_set_new (entry, "last_heard", json_real (now_wall));
        else
            json_object_set_new (entry, "last_heard",
                                 heard ? json_real (*heard) : json_null ());
        if (meta && json_is_object (meta)) {
            const char *key;
            json_t *value;
            json_object_foreach (meta, key, value)
                json_object_set (entry, key, value);
        }
        json_decref (meta);
        json_array_append_new (list, entry);
    }
    if (!self->swim) {
        //  Joining: only ourselves, as the table does not exist yet
        char hex [2 * TM_SWIM_ID_SIZE + 1];
        s_hex (tm_keys_node_public (self->keys), hex);
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:s, s:b}",
                               "name", self->name, "id", hex,
                               "address", "", "state", "joining",
                               "self", 1));
    }
    char *text = json_dumps (list, JSON_COMPACT);
    json_decref (list);
    return text;
}

//  Formats a token whose seeds are us and up to 3 other alive members.
//  GRACE_MS > 0 rotates first: the older secrets admit for GRACE_MS more.
static char *
s_token_json (s_gossip_t *self, uint64_t grace_ms)
{
    bool rotate = grace_ms > 0;
    char *err = NULL;
    if (!tm_keys_is_member (self->keys))
        return tm_strdupf ("{\"error\":\"not a member yet (still joining)\"}");
    if (rotate) {
        uint8_t fact [TM_KEYS_ROTATION_BYTES];
        if (tm_keys_rotate (self->keys, grace_ms, s_now_ms (), fact, &err) != 0) {
            json_t *reply = json_pack ("{s:s}", "error", err);
            free (err);
            char *text = json_dumps (reply, JSON_COMPACT);
            json_decref (reply);
            return text;
        }
        s_facts_remember (self, TM_FACT_ROTATION, fact, sizeof fact);
        s_facts_push_one (self, TM_FACT_ROTATION, fact, sizeof fact);
        tm_info ("gossip", "join secret rotated; the old one admits for %.0f more s",
                 grace_ms / 1000.0);
    }
    tm_token_t token;
    memset (&token, 0, sizeof token);
    memcpy (token.cluster_pk, tm_keys_cluster_public (self->keys), TM_TOKEN_KEY_BYTES);
    memcpy (token.join_secret, tm_keys_join_secret (self->keys), TM_TOKEN_KEY_BYTES);
    tm_token_add_seed (&token, self->advertise, NULL);
    for (size_t i = 0; self->swim && i < tm_swim_size (self->swim) && token.seed_count < 4; i++) {
        tm_swim_member_t member;
        if (tm_swim_member_at (self->swim, i, &member) && !member.is_self
        &&  member.state == TM_SWIM_ALIVE)
            tm_token_add_seed (&token, member.address, NULL);
    }
    char *text = tm_token_format (&token, &err);
    tm_token_wipe (&token);
    json_t *reply = text ? json_pack ("{s:s}", "token", text)
                         : json_pack ("{s:s}", "error", err);
    if (text) {
        sodium_memzero (text, strlen (text));
        free (text);
    }
    free (err);
    char *answer = json_dumps (reply, JSON_COMPACT);
    json_decref (reply);
    return answer;
}

static char *
s_remove_json (s_gossip_t *self, const char *name)
{
    char *err = NULL;
    uint8_t node_pk [TM_KEYS_PUBLIC_BYTES];
    uint8_t fact [TM_KEYS_REVOCATION_BYTES];
    json_t *reply;
    if (tm_keys_member_find (self->keys, name, node_pk, &err) != 0
    ||  tm_keys_revoke (self->keys, node_pk, s_now_ms (), fact, &err) != 0)
        reply = json_pack ("{s:s}", "error", err ? err : "cannot revoke");
    else {
        s_facts_remember (self, TM_FACT_REVOCATION, fact, sizeof fact);
        s_facts_push_one (self, TM_FACT_REVOCATION, fact, sizeof fact);
        s_disconnect_revoked (self);
        tm_warn ("gossip", "revoked '%s'", name);
        reply = json_pack ("{s:s}", "removed", name);
    }
    free (err);
    char *text = json_dumps (reply, JSON_COMPACT);
    json_decref (reply);
    return text;
}

static char *
s_stats_json (s_gossip_t *self)
{
    json_t *stats = json_object ();
    json_t *dropped = json_object ();
    for (int verdict = -1; verdict > -TM_ENVELOPE_VERDICTS; verdict--)
        json_object_set_new (dropped, tm_envelope_verdict_name (verdict),
                             json_integer ((json_int_t) tm_envelope_dropped (self->envelope,
                                                                             verdict)));
    json_object_set_new (stats, "dropped", dropped);
    json_object_set_new (stats, "dropped_total",
                         json_integer ((json_int_t) tm_envelope_dropped_total (self->envelope)));
    json_object_set_new (stats, "accepted",
                         json_integer ((json_int_t) tm_envelope_accepted (self->envelope)));
    json_object_set_new (stats, "facts_rejected", json_integer ((json_int_t) self->facts_rejected));
    json_object_set_new (stats, "peer_send_errors", json_integer ((json_int_t) self->peer_errors));
    json_object_set_new (stats, "inbound_sent", json_integer ((json_int_t) self->inbound_sent));
    json_object_set_new (stats, "inbound_lost", json_integer ((json_int_t) self->inbound_lost));
    json_object_set_new (stats, "inbound_connections",
                         json_integer ((json_int_t) zhashx_size (self->inbound)));
    json_object_set_new (stats, "peer_connections",
                         json_integer ((json_int_t) zhashx_size (self->peers)));
    json_object_set_new (stats, "unexpected_dropped",
                         json_integer ((json_int_t) self->unexpected_dropped));
    json_object_set_new (stats, "peer_connections",
                         json_integer ((json_int_t) zhashx_size (self->peers)));
    json_object_set_new (stats, "zap_refused", json_integer ((json_int_t) self->zap_refused));
    json_object_set_new (stats, "multipart_dropped",
                         json_integer ((json_int_t) self->multipart_dropped));
    json_object_set_new (stats, "joins_limited", json_integer ((json_int_t) self->joins_limited));
    json_object_set_new (stats, "joins_duplicate",
                         json_integer ((json_int_t) self->joins_duplicate));
    json_object_set_new (stats, "sender_mismatch",
                         json_integer ((json_int_t) self->sender_mismatch));
    for (int i = 0; i < CHANNELS; i++) {
        char key [32];
        snprintf (key, sizeof key, "%s_dropped", self->channels [i].name);
        json_object_set_new (stats, key,
                             json_integer ((json_int_t) self->channels [i].dropped));
    }
    if (self->swim) {
        tm_swim_stats_t swim;
        tm_swim_stats (self->swim, &swim);
        json_object_set_new (stats, "swim_malformed",
                             json_integer ((json_int_t) (swim.malformed + self->swim_dropped)));
        json_object_set_new (stats, "swim_bad_signatures",
                             json_integer ((json_int_t) swim.bad_signatures));
        json_object_set_new (stats, "probes", json_integer ((json_int_t) swim.probes));
        json_object_set_new (stats, "probes_failed",
                             json_integer ((json_int_t) swim.probes_failed));
        json_object_set_new (stats, "probes_excused",
                             json_integer ((json_int_t) swim.probes_excused));
        json_object_set_new (stats, "probes_retried",
                             json_integer ((json_int_t) swim.probes_retried));
        json_object_set_new (stats, "awareness", json_integer (tm_swim_awareness (self->swim)));
    }
    json_object_set_new (stats, "state", json_string (s_state_name (self)));
    char *text = json_dumps (stats, JSON_COMPACT);
    json_decref (stats);
    return text;
}

static void
s_handle_pipe (s_gossip_t *self)
{
    char *command = NULL, *arg = NULL, *call = NULL;
    if (zsock_recv (self->pipe, "sss", &command, &arg, &call) != 0 || !command) {
        self->terminated = true;
        return;
    }
    char *answer = NULL;
    if (streq (command, "$TERM"))
        self->terminated = true;
    else
    if (streq (command, "MEMBERS"))
        answer = s_members_json (self);
    else
    if (streq (command, "TOKEN"))
        answer = s_token_json (self, arg ? strtoull (arg, NULL, 10) : 0);
    else
    if (streq (command, "REMOVE"))
        answer = s_remove_json (self, arg ? arg : "");
    else
    if (streq (command, "STATS"))
        answer = s_stats_json (self);
    else
    if (streq (command, "SERVERKEY"))
        //  For the agent's client port (a CurveZMQ server like ours)
        answer = self->state == STATE_MEMBER && tm_keys_cluster_curve_secret (self->keys)
               ? tm_strdupf ("{\"secret\":\"%s\"}", tm_keys_cluster_curve_secret (self->keys))
               : strdup ("{\"error\":\"not a member yet\"}");
    else
    if (streq (command, "STATUS"))
        answer = tm_strdupf ("{\"state\":\"%s\",\"address\":\"%s\"}",
                             s_state_name (self), self->advertise ? self->advertise : "");
    else
    if (streq (command, "LEAVE")) {
        if (self->swim && self->state == STATE_MEMBER) {
            tm_swim_leave (self->swim, tm_now ());
            s_drain (self);
            self->state = STATE_LEFT;
            self->leave_pending = true;
            zstr_free (&self->leave_call);
            self->leave_call = call;    //  Answered with LEFT later
            call = NULL;
            self->leave_deadline = tm_now () + 1.0;
        }
        else
            answer = strdup ("LEFT");
    }
    else
        answer = tm_strdupf ("{\"error\":\"unknown command %s\"}", command);
    if (answer) {
        zsock_send (self->pipe, "ss", call ? call : "", answer);
        free (answer);
    }
    free (command);
    free (arg);
    free (call);
}

//  ---------------------------------------------------------------------
//  Start-up and the loop

static int
s_setup (s_gossip_t *self, char **err)
{
    tm_gossip_config_t *config = self->config;
    self->keys = tm_keys_new (config->datadir, err);
    if (!self->keys)
        return -1;
    if (tm_keys_self_revoked (self->keys))
        return tm_fail (err, "this node was removed from its cluster; "
                        "start it with a fresh data directory");
    self->envelope = tm_envelope_new (self->keys);
    //  One ZAP handler per ZeroMQ context, so per process: a second
    //  gossip actor in one process (unit tests) goes without
    self->zap = zsock_new (ZMQ_REP);
    if (zsock_bind (self->zap, "inproc://zeromq.zap.01") != 0) {
        tm_warn ("gossip", "another ZAP handler runs in this process: connections "
                 "are not checked against revocations");
        zsock_destroy (&self->zap);
    }
    tm_envelope_set_max_payload (self->envelope, TM_SWIM_PUSH_PULL_MAX + 1024);

    self->channels [CHANNEL_WORK] = (s_channel_t) {
        .name = "work", .type = TM_TYPE_WORK, .load = true };
    self->channels [CHANNEL_CACHE] = (s_channel_t) {
        .name = "cache", .type = TM_TYPE_CACHE, .revoked_state = true };
    const char *endpoints [CHANNELS] = { config->work_endpoint, config->cache_endpoint };
    for (int i = 0; i < CHANNELS; i++) {
        s_channel_t *channel = &self->channels [i];
        if (!endpoints [i])
            continue;
        channel->sock = zsock_new (ZMQ_PAIR);
        zsock_set_sndhwm (channel->sock, 0);    //  Never drop between threads
        zsock_set_rcvhwm (channel->sock, 0);
        //  ... but never block on it either: with no high-water mark a send
        //  can only fail when the actor is gone (the agent destroys it
        //  before us), and a PAIR with no peer would block that send, and
        //  with it our $TERM, for ever
        zsock_set_sndtimeo (channel->sock, 0);
        if (zsock_bind (channel->sock, "%s", endpoints [i]) != 0)
            return tm_fail (err, "cannot bind the %s socket %s", channel->name, endpoints [i]);
    }
    self->free_slots = config->slots;
    self->bind_host_port = strdup (config->bind);
    //  Bound to one IPv4 address: connect from it too, as memberlist's
    //  UDP packets leave from its bind address.  Peers then see the
    //  address we advertise (their per-address JOIN rate limit counts
    //  machines, not the interface a route happens to pick), and agents
    //  on one host with an address each (127.0.0.N) look like the LAN
    //  machines they stand for.  A wildcard bind leaves it to the system
    char bind_host [TM_SWIM_ADDRESS_MAX + 1];
    int bind_port;
    struct in_addr bind_in;
    if (s_split_address (self->bind_host_port, bind_host, sizeof bind_host, &bind_port) == 0
    &&  inet_pton (AF_INET, bind_host, &bind_in) == 1 && bind_in.s_addr != htonl (INADDR_ANY))
        self->source = strdup (bind_host);
    self->beacon_interval = config->beacon_interval > 0 ? config->beacon_interval : 1.0;
    if (config->advertise && *config->advertise)
        self->advertise_option = strdup (config->advertise);

    //  Token, membership or a new cluster
    tm_token_t token;
    memset (&token, 0, sizeof token);
    if (config->token) {
        if (tm_token_parse (config->token, &token, err) != 0)
            return -1;
        if (tm_keys_cluster_pin (self->keys, token.cluster_pk, token.join_secret, err) != 0) {
            tm_token_wipe (&token);
            return -1;
        }
        for (size_t i = 0; i < token.seed_count; i++)
            s_seed_add (self, token.seeds [i]);
        tm_token_wipe (&token);
    }
    s_peers_load (self);
    if (tm_keys_is_member (self->keys)) {
        if (s_start_member (self, err) != 0)
            return -1;
    }
    else
    if (tm_keys_has_cluster (self->keys)) {
        self->state = STATE_JOINING;
        self->join_timeout = config->join_timeout > 0 ? config->join_timeout : 60;
        self->join_deadline = tm_now () + self->join_timeout;
        if (zlistx_size (self->seeds) == 0 && !config->beacon)
            return tm_fail (err, "the token has no seed address and --no-beacon is "
                            "set: there is no way to find a member");
        s_join_attempt (self);
    }
    else {
        if (tm_keys_cluster_create (self->keys, self->name, s_now_ms (), err) != 0)
            return -1;
        tm_info ("gossip", "created a new cluster");
        if (s_start_member (self, err) != 0)
            return -1;
    }

    if (config->beacon) {
        self->beacon = zactor_new (zbeacon, NULL);
        zsock_send (self->beacon, "si", "CONFIGURE", config->beacon_port);
        char *hostname = zstr_recv (self->beacon);
        if (!hostname || !*hostname) {
            tm_warn ("gossip", "no interface for UDP broadcast: LAN discovery is off");
            zactor_destroy (&self->beacon);
        }
        else {
            zsock_send (self->beacon, "sb", "SUBSCRIBE", TM_BEACON_PREFIX,
                        strlen (TM_BEACON_PREFIX));
            s_beacon_publish (self);
        }
        free (hostname);
    }
    return 0;
}

static void
s_destroy (s_gossip_t *self)
{
    s_peers_save (self);
    zactor_destroy (&self->beacon);
    tm_swim_destroy (&self->swim);
    zhashx_destroy (&self->peer_rids);
    zhashx_destroy (&self->inbound);
    zhashx_destroy (&self->peers);
    zsock_destroy (&self->client);          //  Stops its monitor too
    zsock_destroy (&self->client_monitor);
    zhashx_destroy (&self->curves);
    zhashx_destroy (&self->heard);
    zhashx_destroy (&self->join_rate);
    zlistx_destroy (&self->seeds);
    zlistx_destroy (&self->facts);
    zsock_destroy (&self->server);         //  Stops its monitor too
    zsock_destroy (&self->server_monitor);
    zsock_destroy (&self->zap);
    for (int i = 0; i < CHANNELS; i++)
        zsock_destroy (&self->channels [i].sock);
    tm_envelope_destroy (&self->envelope);
    tm_keys_destroy (&self->keys);
    free (self->advertise);
    free (self->bind_host_port);
    free (self->source);
    free (self->leave_call);
    tm_strv_free (&self->labels);
    free (self->advertise_option);
    free (self->name);
    free (self->datadir);
}

static void
s_frame_destroy (void **item_p)
{
    zframe_destroy ((zframe_t **) item_p);
}


void
tm_gossip_actor (zsock_t *pipe, void *args)
{
    s_gossip_t self = { 0 };
    self.pipe = pipe;
    self.config = (tm_gossip_config_t *) args;
    self.datadir = strdup (self.config->datadir);
    self.name = strdup (self.config->name);
    self.swim_config = self.config->swim;
    self.slots = self.config->slots;
    self.labels = tm_strv_dup (self.config->labels);
    uint8_t boot [8];
    randombytes_buf (boot, sizeof boot);
    sodium_bin2hex (self.boot, sizeof self.boot, boot, sizeof boot);
    self.peers = zhashx_new ();
    zhashx_set_destructor (self.peers, s_peer_destroy);
    self.peer_rids = zhashx_new ();
    self.inbound = zhashx_new ();
    zhashx_set_destructor (self.inbound, s_inbound_destroy);
    self.curves = zhashx_new ();
    zhashx_set_destructor (self.curves, (zhashx_destructor_fn *) zstr_free);
    self.join_rate = zhashx_new ();
    zhashx_set_destructor (self.join_rate, (zhashx_destructor_fn *) zstr_free);
    self.heard = zhashx_new ();
    zhashx_set_destructor (self.heard, (zhashx_destructor_fn *) zstr_free);
    self.seeds = zlistx_new ();
    zlistx_set_destructor (self.seeds, (zlistx_destructor_fn *) zstr_free);
    self.facts = zlistx_new ();
    zlistx_set_destructor (self.facts, s_frame_destroy);

    char *err = NULL;
    if (s_setup (&self, &err) != 0) {
        self.config->error = err;
        s_destroy (&self);
        zsock_signal (pipe, 1);
        return;
    }
    self.config->bound = strdup (self.advertise ? self.advertise : "(joining)");
    //  The config belongs to the caller from here on
    self.config = NULL;
    zsock_signal (pipe, 0);
    s_drain (&self);

    while (!self.terminated) {
        //  Nine items whatever the number of peers: the cost of a wake-up
        //  does not grow with the cluster.  Absent sockets poll nothing
        zmq_pollitem_t items [] = {
            { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
            { self.server ? zsock_resolve (self.server) : NULL, -1,
              self.server ? ZMQ_POLLIN : 0, 0 },
            { self.beacon ? zsock_resolve (self.beacon) : NULL, -1,
              self.beacon ? ZMQ_POLLIN : 0, 0 },
            { self.zap ? zsock_resolve (self.zap) : NULL, -1,
              self.zap ? ZMQ_POLLIN : 0, 0 },
            { self.client ? zsock_resolve (self.client) : NULL, -1,
              self.client ? ZMQ_POLLIN : 0, 0 },
            { self.client_monitor ? zsock_resolve (self.client_monitor) : NULL, -1,
              self.client_monitor ? ZMQ_POLLIN : 0, 0 },
            { self.channels [0].sock ? zsock_resolve (self.channels [0].sock) : NULL, -1,
              self.channels [0].sock ? ZMQ_POLLIN : 0, 0 },
            { self.channels [1].sock ? zsock_resolve (self.channels [1].sock) : NULL, -1,
              self.channels [1].sock ? ZMQ_POLLIN : 0, 0 },
            { self.server_monitor ? zsock_resolve (self.server_monitor) : NULL, -1,
              self.server_monitor ? ZMQ_POLLIN : 0, 0 }
        };
        assert (CHANNELS == 2);     //  Items 6 and 7
        double now = tm_now ();
        double next = now + 1.0;
        if (self.swim && tm_swim_next_deadline (self.swim) < next)
            next = tm_swim_next_deadline (self.swim);
        if (self.state == STATE_JOINING && self.next_join < next)
            next = self.next_join;
        if (self.leave_pending && self.leave_deadline < next)
            next = self.leave_deadline;
        if (self.meta_dirty && self.next_meta < next)
            next = self.next_meta;
        long timeout = next > now ? (long) ((next - now) * 1000) + 1 : 0;
        if (zmq_poll (items, sizeof items / sizeof items [0], timeout) < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if (items [0].revents & ZMQ_POLLIN)
            s_handle_pipe (&self);
        if (self.terminated)
            break;
        if (self.server && (items [1].revents & ZMQ_POLLIN))
            for (int burst = 0; burst < 64 && (zsock_events (self.server) & ZMQ_POLLIN); burst++)
                s_handle_server (&self);
        if (self.beacon && (items [2].revents & ZMQ_POLLIN))
            s_handle_beacon (&self);
        //  Every connection a peer opens waits for our ZAP answer before
        //  it carries anything: answer all that are pending, not one per
        //  wake-up (a forming cluster opens N - 1 of them at once)
        if (self.zap && (items [3].revents & ZMQ_POLLIN))
            for (int burst = 0; burst < 64 && (zsock_events (self.zap) & ZMQ_POLLIN); burst++)
                s_handle_zap (&self);
        //  The client and its monitor may have been created since the poll
        if (items [4].socket && (items [4].revents & ZMQ_POLLIN))
            for (int burst = 0; burst < 64 && (zsock_events (self.client) & ZMQ_POLLIN); burst++)
                s_handle_client (&self);
        if (items [5].socket && (items [5].revents & ZMQ_POLLIN))
            s_monitor_drain (&self, self.client_monitor, s_client_event);
        if (items [8].socket && (items [8].revents & ZMQ_POLLIN))
            s_monitor_drain (&self, self.server_monitor, s_server_event);
        for (int i = 0; i < CHANNELS; i++) {
            s_channel_t *channel = &self.channels [i];
            if (channel->sock && (items [6 + i].revents & ZMQ_POLLIN))
                for (int burst = 0; burst < 256 && (zsock_events (channel->sock) & ZMQ_POLLIN);
                     burst++)
                    s_handle_channel (&self, channel);
        }
        now = tm_now ();
        if (self.swim) {
            if (tm_swim_next_deadline (self.swim) <= now)
                tm_swim_tick (self.swim, now);
            //  Alone in our table with seeds to try: SWIM's own join gives
            //  up after ten attempts, and a busy seed (the first agent,
            //  admitting everyone) may not have answered in time
            if (self.state == STATE_MEMBER && now >= self.next_rejoin) {
                if (tm_swim_count (self.swim, TM_SWIM_ALIVE) <= 1)
                    for (char *seed = (char *) zlistx_first (self.seeds); seed;
                         seed = (char *) zlistx_next (self.seeds))
                        tm_swim_join (self.swim, seed, now);
                self.next_rejoin = now + TM_REJOIN_INTERVAL;
            }
            if (self.state == STATE_MEMBER && now >= self.next_facts) {
                s_facts_spread (&self);
                //  What we learnt goes to disk now, not as it comes: a
                //  forming cluster of N would write (and fsync) the
                //  members file N times.  A crash loses what anti-entropy
                //  and HELLOs teach again
                s_peers_save (&self);
                tm_keys_flush (self.keys);
                //  Jittered, so that agents started together (a fleet
                //  booted at once) do not all write and fsync at once:
                //  a stalled gossip thread answers no probe
                self.next_facts = now + TM_FACTS_INTERVAL
                                * (0.75 + 0.5 * randombytes_uniform (1001) / 1000.0);
            }
        }
        s_meta_refresh (&self, now);
        if (self.beacon && self.state == STATE_MEMBER && now >= self.next_beacon)
            s_beacon_publish (&self);
        if (self.state == STATE_JOINING && now >= self.join_deadline) {
            char *reason = tm_strdupf ("could not join: no member admitted us within "
                                       "%g s (a wrong or expired token, or no seed "
                                       "reachable)", self.join_timeout);
            zsock_send (pipe, "ss", "FAILED", reason);
            free (reason);
            break;
        }
        if (self.state == STATE_JOINING && now >= self.next_join)
            s_join_attempt (&self);
        s_drain (&self);
        if (self.leave_pending
        &&  (tm_swim_leave_done (self.swim) || now >= self.leave_deadline)) {
            self.leave_pending = false;
            zsock_send (pipe, "ss", self.leave_call ? self.leave_call : "", "LEFT");
        }
    }
    s_destroy (&self);
}

char *
tm_gossip_call (zactor_t *gossip, const char *command, const char *arg, double timeout)
{
    assert (gossip && command);
    //  Each call carries an id that its answer echoes: an answer that
    //  arrives after an earlier call gave up is recognised and dropped
    static uint64_t s_calls;
    char call [32];
    snprintf (call, sizeof call, "%" PRIu64, ++s_calls);
    zsock_send (gossip, "sss", command, arg ? arg : "", call);
    zpoller_t *poller = zpoller_new (gossip, NULL);
    char *answer = NULL;
    double deadline = tm_now () + timeout;
    while (!answer && tm_now () < deadline) {
        if (!zpoller_wait (poller, (int) ((deadline - tm_now ()) * 1000) + 1))
            break;
        char *id = NULL, *text = NULL;
        if (zsock_recv (gossip, "ss", &id, &text) != 0) {
            free (id);
            break;
        }
        if (id && streq (id, "FAILED")) {
            answer = tm_strdupf ("FAILED %s", text ? text : "");
            free (text);
        }
        else
        if (id && streq (id, call))
            answer = text;
        else
            free (text);        //  A late answer to an earlier call
        free (id);
    }
    zpoller_destroy (&poller);
    return answer;
}
