/*  tm_swim.h - SWIM membership with Lifeguard, as a pure state machine.

    tm_swim is the membership and failure detector of a testmesh cluster:
    SWIM (Das, Gupta, Motivala 2002) with the Lifeguard refinements that
    HashiCorp memberlist ships (local health awareness, dynamic suspicion
    timeouts, NACKs from indirect probes, the buddy system).

    It owns no socket and reads no clock.  The owner feeds it:
        tm_swim_receive ()   every packet that arrived, with the time;
        tm_swim_tick ()      at tm_swim_next_deadline () (or any time later);
    and after every call drains tm_swim_pop_outgoing () and sends what it
    gets.  The real agent drives it with ZeroMQ, the simulator
    (tm_simnet) with a heap of simulated deliveries: the same code runs in
    both.

    Members are keyed by a 32-byte id: the node's Ed25519 public key.
    The facts a node asserts about itself (alive, left) can be signed by
    that node and verified by every receiver, so a relay cannot forge
    them; see the sign/verify callbacks in the config.

    Wire format: docs/protocol-swim.md.  State machine, invariants and the
    rules for names and addresses reused by a new identity: the comment at
    the top of tm_swim.c.

    Callers MUST
      1. call every function from one thread (no locking inside);
      2. drain tm_swim_pop_outgoing after every call that may queue
         packets (receive, tick, join, leave, set_meta, peer_unreachable),
         free each packet's data, and send it to packet.address: the outbox
         holds at most 4096 packets and drops beyond that;
      3. call tm_swim_tick at tm_swim_next_deadline () or soon after, and
         pass a `now` that never goes backwards (one monotonic clock);
      4. pass as from_address the address at which the sender can be
         reached now, or NULL: answers go there (to the sender's address
         in the table only when it is NULL), so that a node restarted on
         a new address hears its previous life and refutes it; it never
         changes the table;
      5. not call back into the instance from the event callback, except
         the read-only functions (member, member_at, count, size, ...);
      6. give every node of a cluster the same sign/verify setting:
         a verifying node drops every unsigned alive and left fact;
      7. allow frames up to TM_SWIM_PUSH_PULL_MAX for push-pull packets.

    Not thread-safe: one owner thread calls every function.
*/
#ifndef TM_SWIM_H_INCLUDED
#define TM_SWIM_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TM_SWIM_ID_SIZE        32       //  Ed25519 public key
#define TM_SWIM_SIG_SIZE       64       //  Ed25519 signature
#define TM_SWIM_NAME_MAX       64       //  Bytes, without the terminating NUL
#define TM_SWIM_ADDRESS_MAX    255      //  "host:port", without the NUL
#define TM_SWIM_META_MAX       1024     //  Opaque metadata blob
#define TM_SWIM_PACKET_MAX     65536    //  Any packet but push-pull
#define TM_SWIM_PUSH_PULL_MAX  (16 * 1024 * 1024)  //  Push-pull state sync

typedef struct _tm_swim_t tm_swim_t;

//  Member states.  LEFT is final for an incarnation: only an alive fact
//  with a higher incarnation brings the member back.
typedef enum {
    TM_SWIM_ALIVE = 0,
    TM_SWIM_SUSPECT,
    TM_SWIM_DEAD,
    TM_SWIM_LEFT
} tm_swim_state_t;
#define TM_SWIM_STATES 4

//  A read-only view of a member.  Pointers are borrowed: valid until the
//  next call that may change the table (receive, tick, join, leave,
//  set_meta, peer_unreachable, destroy).
typedef struct {
    const uint8_t *id;          //  TM_SWIM_ID_SIZE bytes
    const char *name;           //  NUL-terminated, may be empty
    const char *address;        //  "host:port", NUL-terminated
    const void *meta;           //  Metadata (may be NULL when meta_size is 0)
    size_t meta_size;           //  Bytes of metadata
    uint64_t incarnation;       //  Highest incarnation known
    tm_swim_state_t state;      //  Current state
    double state_change;         //  When the state last changed (owner's clock)
    bool is_self;               //  This is the local node
} tm_swim_member_t;

typedef enum {
    TM_SWIM_EVENT_JOINED = 0,   //  New member, or back from dead/left
    TM_SWIM_EVENT_UPDATED,      //  Alive member changed name, address or meta
    TM_SWIM_EVENT_SUSPECT,      //  Alive member is suspected
    TM_SWIM_EVENT_ALIVE,        //  Suspect member refuted: alive again
    TM_SWIM_EVENT_DEAD,         //  Declared dead
    TM_SWIM_EVENT_LEFT,         //  Left gracefully
    TM_SWIM_EVENT_REAPED,       //  Removed from the table
    TM_SWIM_EVENT_CONFLICT      //  Another live id claims this member's
                                //  name or address (see tm_swim.c)
} tm_swim_event_type_t;

typedef struct {
    tm_swim_event_type_t type;  //  What happened
    tm_swim_member_t member;    //  The member, after the change
    const uint8_t *other_id;    //  CONFLICT: the other id, else NULL
    const char *conflict;       //  CONFLICT: "name" or "address", else NULL
} tm_swim_event_t;

//  Event callback.  Called synchronously from inside receive, tick, etc.
//  It may read (tm_swim_member, tm_swim_count, ...) but MUST NOT call a
//  function that changes the instance.
typedef void (tm_swim_event_fn) (void *arg, const tm_swim_event_t *event);

//  Signs DATA with the local node's secret key.  Returns 0, or -1 if it
//  cannot (the fact then goes out unsigned and verifying peers drop it).
typedef int (tm_swim_sign_fn) (void *arg, const void *data, size_t size,
                               uint8_t sig [TM_SWIM_SIG_SIZE]);
//  Returns true if SIG is ID's signature over DATA.  DATA comes from the
//  network: the callback must handle any bytes.
typedef bool (tm_swim_verify_fn) (void *arg, const uint8_t id [TM_SWIM_ID_SIZE],
                                  const void *data, size_t size,
                                  const uint8_t sig [TM_SWIM_SIG_SIZE]);

//  Returns true if the transport's path to member ID at ADDRESS is too
//  new to judge the member by: a connection opened moments ago may still
//  be in its handshake, so a probe that failed over it says nothing about
//  the member.  NOW is the time given to tm_swim.
typedef bool (tm_swim_path_new_fn) (void *arg, const uint8_t id [TM_SWIM_ID_SIZE],
                                    const char *address, double now);

typedef struct {
    double probe_interval;       //  s between probes (times health multiplier)
    double probe_timeout;        //  s to wait for a direct ACK (times multiplier)
    int indirect_checks;         //  Peers asked to PING-REQ on a failed probe
    int retransmit_mult;         //  Retransmits: mult * ceil (log10 (N + 1))
    int suspicion_mult;          //  Suspicion min: mult * log10 (N) * probe_interval
    int suspicion_max_timeout_mult;  //  Suspicion max = mult * min
    int suspicion_hint_mult;     //  With enough transport-hinted accusers the
                                 //  timeout drops to mult * probe_interval
    int awareness_max;           //  Health multiplier is 1 .. awareness_max
    double gossip_interval;      //  s between gossip rounds
    int gossip_nodes;            //  Members gossiped to per round
    double gossip_to_the_dead;   //  s we keep gossiping to a dead member
    double push_pull_interval;   //  s between state syncs (scaled up over 32 members)
    double dead_reclaim;         //  s before a dead or left member is reaped
    size_t packet_size;          //  Byte budget of a packet carrying gossip
                                 //  (at most TM_SWIM_PACKET_MAX)
    uint64_t random_seed;        //  PRNG seed; 0 draws one from the OS
    tm_swim_sign_fn *sign;       //  NULL: our facts go out unsigned
    tm_swim_verify_fn *verify;   //  NULL: signatures are not checked; else
                                 //  alive/left facts without a good one are dropped
    void *crypto_arg;            //  Passed to sign and verify
    tm_swim_event_fn *on_event;  //  NULL: no events
    void *event_arg;             //  Passed to on_event
    tm_swim_path_new_fn *path_new;   //  NULL: every failed probe counts; else
                                 //  one over a new path is excused: no
                                 //  suspicion (health still counts it)
    void *path_arg;              //  Passed to path_new
} tm_swim_config_t;

//  Counters, for tests, the simulator and the agent's status output.
typedef struct {
    uint64_t packets_in;         //  Packets given to tm_swim_receive
    uint64_t packets_out;        //  Packets queued for sending
    uint64_t bytes_in;           //  Their bytes
    uint64_t bytes_out;          //  Their bytes
    uint64_t malformed;          //  Packets the decoder rejected
    uint64_t bad_signatures;     //  Facts dropped: signature missing or wrong
    uint64_t misdirected;        //  PINGs for another id, packets from ourselves
    uint64_t probes;             //  Probes started
    uint64_t probes_failed;      //  Probes that ended without an ACK
    uint64_t probes_excused;     //  Of those, not held against the member:
                                 //  the path to it was new (path_new)
    uint64_t probes_retried;     //  Of those, looked at again before any
                                 //  accusation: no relay answered at all
    uint64_t indirect_probes;    //  PING-REQs sent
    uint64_t nacks_missed;       //  NACKs expected but not received
    uint64_t relays_dropped;     //  PING-REQs refused: too many in flight
    uint64_t refutations;        //  Times we refuted a suspicion of ourselves
    uint64_t conflicts;          //  Name or address claimed by two live ids
    uint64_t facts_in;           //  Facts decoded (piggyback and push-pull)
    uint64_t outbox_dropped;     //  Packets dropped: outbox full
} tm_swim_stats_t;

//  An outgoing packet.  DATA belongs to the caller after
//  tm_swim_pop_outgoing, who frees it with free ().
typedef struct {
    char address [TM_SWIM_ADDRESS_MAX + 1];   //  Destination "host:port"
    uint8_t id [TM_SWIM_ID_SIZE];             //  Destination id, if has_id
    bool has_id;                //  False for joins to a seed address
    uint8_t *data;              //  Encoded packet (caller frees)
    size_t size;                //  Bytes in data
} tm_swim_packet_t;

//  Fills CONFIG with the LAN profile (loopback or one data centre):
//  probes every 200 ms.  See tm_swim.c, "Profiles", for the values and
//  the trade-off against memberlist's LAN defaults.
void
    tm_swim_config_lan (tm_swim_config_t *config);

//  Fills CONFIG with the fast profile for tests: probes every 50 ms,
//  gossip every 20 ms, reaping after 5 s.
void
    tm_swim_config_fast (tm_swim_config_t *config);

//  Creates a member table holding only ourselves, alive at incarnation 0.
//  NAME may be empty; ADDRESS is "host:port" where peers reach us.
//  Returns NULL if an argument is invalid (bad address, name too long,
//  meta too big, config out of range).
tm_swim_t *
    tm_swim_new (const tm_swim_config_t *config, const uint8_t id [TM_SWIM_ID_SIZE],
                 const char *name, const char *address,
                 const void *meta, size_t meta_size, double now);

//  Destroys the instance and every queued packet.  Idempotent; sets
//  *self_p to NULL.
void
    tm_swim_destroy (tm_swim_t **self_p);

//  Queues a push-pull state sync with a seed whose id is not known yet,
//  retried until the seed answers: after 2 probe intervals, then twice as
//  long each time up to a push-pull interval, 10 attempts in all (LAN
//  profile: about a minute).  Returns -1 if the address is invalid or is our own.
int
    tm_swim_join (tm_swim_t *self, const char *seed_address, double now);

//  Handles one packet.  FROM_ADDRESS is where the sender can be reached
//  (used only to answer a sender we do not know yet), or NULL.  Returns
//  0, or -1 if the packet is malformed (counted in stats.malformed; the
//  instance is unchanged).  Facts with bad signatures are dropped one by
//  one and counted; the packet still returns 0.
int
    tm_swim_receive (tm_swim_t *self, const char *from_address,
                     const void *data, size_t size, double now);

//  Runs every timer that is due at NOW: probes, indirect probes, NACKs,
//  suspicion timeouts, gossip, push-pull, join retries, reaping.
void
    tm_swim_tick (tm_swim_t *self, double now);

//  Returns the time at which tm_swim_tick must next be called.  It can
//  move earlier after receive, join, leave, set_meta or peer_unreachable.
double
    tm_swim_next_deadline (tm_swim_t *self);

//  Takes the oldest queued packet.  Returns false if there is none.  The
//  caller owns packet->data and frees it.  The outbox holds at most 4096
//  packets: drain it after every call.
bool
    tm_swim_pop_outgoing (tm_swim_t *self, tm_swim_packet_t *packet);

//  Leaves gracefully: marks ourselves left, broadcasts a (signed) left
//  fact at once to a few members, and keeps gossiping it.  We stop
//  probing and never refute afterwards.  Returns -1 if already left.
int
    tm_swim_leave (tm_swim_t *self, double now);

//  True once our left fact has been retransmitted as often as any
//  broadcast is (or there is nobody left to tell): the owner may exit.
bool
    tm_swim_leave_done (tm_swim_t *self);

//  Replaces our metadata, bumps our incarnation and broadcasts alive.
//  Returns -1 if META is too big or we have left.
int
    tm_swim_set_meta (tm_swim_t *self, const void *meta, size_t meta_size,
                      double now);

//  A hint from the transport: the connection to ID dropped (the ZeroMQ
//  socket monitor saw a disconnect).  Starts an immediate probe of ID
//  out of turn; if that probe fails our suspicion carries the hint, and
//  once enough independent accusers carry it the suspicion timeout drops
//  to suspicion_hint_mult probe intervals.  It never marks a member
//  suspect by itself.  Returns -1 if ID is unknown, ourselves, dead or
//  left, or too many hinted probes are in flight.
int
    tm_swim_peer_unreachable (tm_swim_t *self, const uint8_t id [TM_SWIM_ID_SIZE],
                              double now);

//  Number of members in the table, ourselves included.
size_t
    tm_swim_size (tm_swim_t *self);

//  Number of members in STATE, ourselves included.
size_t
    tm_swim_count (tm_swim_t *self, tm_swim_state_t state);

//  Fills MEMBER with the member at INDEX (0 .. size - 1; the order is
//  arbitrary and changes when members are reaped).  Returns false if
//  INDEX is out of range.
bool
    tm_swim_member_at (tm_swim_t *self, size_t index, tm_swim_member_t *member);

//  Looks a member up by id.  MEMBER may be NULL to test presence.
bool
    tm_swim_member (tm_swim_t *self, const uint8_t id [TM_SWIM_ID_SIZE],
                    tm_swim_member_t *member);

//  Our id, borrowed.
const uint8_t *
    tm_swim_id (tm_swim_t *self);

//  Our current incarnation.
uint64_t
    tm_swim_incarnation (tm_swim_t *self);

//  Lifeguard local health score, 0 (healthy) .. awareness_max - 1.
//  Probe interval and timeouts are multiplied by score + 1.
int
    tm_swim_awareness (tm_swim_t *self);

//  If ID is suspect, sets *deadline to when the suspicion turns into
//  dead and *confirmations to the independent confirmations counted so
//  far (either may be NULL) and returns 0; else returns -1.
int
    tm_swim_suspicion (tm_swim_t *self, const uint8_t id [TM_SWIM_ID_SIZE],
                       double *deadline, int *confirmations);

//  Copies the counters.
void
    tm_swim_stats (tm_swim_t *self, tm_swim_stats_t *stats);

//  Returns a state's name: "alive", "suspect", "dead", "left".
const char *
    tm_swim_state_name (tm_swim_state_t state);

//  Returns an event type's name: "joined", "updated", ...
const char *
    tm_swim_event_name (tm_swim_event_type_t type);

#endif
