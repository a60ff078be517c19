/*  tm_swim.c - SWIM membership with Lifeguard, as a pure state machine.

    No sockets, no clock: time comes in as `now`, packets leave through
    an outbox.  See tm_swim.h for the contract and docs/protocol-swim.md
    for the wire format (summarised again above the decoder below).

    THE PROTOCOL, IN ONE PAGE

    Probing.  Every probe interval we probe one member, walking a shuffled
    list round-robin (reshuffled each round; newcomers are slotted at a
    random place in the part of the round still to come).  A probe is a
    PING; if no ACK comes within the probe timeout we ask indirect_checks
    random alive members to PING-REQ it: each pings the target and relays
    its ACK, or answers NACK when its own ping timed out.  A probe with no
    ACK by the end of the probe interval makes us suspect the target.
    Pinging a suspect member carries the SUSPECT fact too, so that it can
    refute at once (Lifeguard's "buddy system").

    Local health (Lifeguard LHA-probe).  A score 0 .. awareness_max - 1:
    +1 for each NACK we expected and did not get (or +1 for a failed probe
    when no NACK could be expected), +1 each time we must refute a
    suspicion of ourselves, -1 for each successful probe.  The probe
    interval and the probe timeout are multiplied by score + 1: a node
    that is itself slow (CPU starved, its packets late) probes less often
    and waits longer before accusing anyone.  A probe that ends with not
    one NACK back from its relays says more about us than about the
    member: we probe that member again at once, with the timeouts our
    raised score now scales, and suspect it only if the second look fails
    too (s_probe_failed).

    Suspicion (Lifeguard LHA-suspicion).  With N members, k =
    suspicion_mult - 2 (0 if N - 2 < k), min = suspicion_mult *
    max (1, log10 N) * probe_interval, max = suspicion_max_timeout_mult *
    min.  The timer starts at max (at min when k is 0) and each
    independent confirmation (a SUSPECT from an accuser we have not counted
    yet) pulls it toward min:  timeout = max - (max - min) *
    log (n + 1) / log (k + 1), never below min.  A new confirmation is
    re-gossiped so that others can count it too.  When the timer fires we
    send the member one last PING (carrying the suspicion) and declare it
    dead only if no ACK comes within a probe interval; an ACK normally
    carries its refutation (next paragraph), else the suspicion starts
    over.  (memberlist convicts when the timer fires.  Gossip delivers a
    refutation to each node only about retransmit-limit times; with every
    node starved of CPU and a thousand refutations a minute, a few nodes
    missed one each minute and convicted a live member.)

    Transport hints.  tm_swim_peer_unreachable starts an immediate probe
    of the member.  If that probe fails too, our SUSPECT fact carries the
    hint flag.  Once max (1, k) of a suspicion's accusers carry the flag
    the timeout becomes min (timeout, suspicion_hint_mult *
    probe_interval).  A TCP connection that drops AND a direct probe AND k
    indirect probes that fail, seen by k accusers, is strong evidence:
    that is how a SIGKILLed agent is seen dead in well under a second
    while a merely slow one (its connections stay up) still gets the full
    suspicion time to refute.

    Refutation.  A node that hears itself suspected or declared dead, or
    hears an alive fact about itself that is newer than (or different
    from) its own, bumps its incarnation past it and broadcasts alive.
    Alive at a higher incarnation beats any state; at the same incarnation
    suspect beats alive, dead beats both, left beats dead.  A suspicion of
    us at an incarnation we have already refuted means its sender missed
    the refutation: we queue our alive fact again (no new incarnation), so
    that our answer to that very packet carries it.

    Dissemination.  Every change is queued for broadcast and piggybacked on
    PING, PING-REQ, ACK, NACK and on GOSSIP packets sent every
    gossip_interval to gossip_nodes random members (and to members dead
    for less than gossip_to_the_dead).  Each update is sent at most
    retransmit_mult * ceil (log10 (N + 1)) times, least-sent first.  The
    queue holds one entry per member: a newer fact about a member replaces
    the older one (memberlist's "invalidates"), and the bytes are encoded
    from the member's current state when a packet is built.

    Push-pull.  Every push_pull_interval (times ceil (log2 N - log2 32) + 1
    above 32 members, as memberlist scales it) we exchange the full table
    with one random alive member, and half the time also with one random
    dead member (Serf's reconnect: this is what heals a partition after
    both sides have declared the other dead).  Joining is a push-pull with
    a seed (retried with backoff), and once our broadcast queue has
    drained after the join, one catch-up push-pull with a random member
    (s_catch_up says why).  When merging a push-pull, a member the peer
    thinks dead is only suspected here: it gets its chance to refute.

    Leaving.  tm_swim_leave marks us left at our incarnation and broadcasts
    a left fact signed by us.  Left is final for that incarnation; a node
    that comes back does so with a higher incarnation (a restarted node
    starts at 0, hears itself dead or left, and refutes past it).

    Reaping.  A member dead or left for dead_reclaim seconds is removed.

    Names and addresses reused by a NEW identity.  Ids are the identity;
    names and addresses are claims.  When a member (new, or an existing
    one whose address or name changes) claims an address or a name that
    another id holds:
      - if the other id is dead or left, it is reaped at once (REAPED):
        the new identity replaces it, as memberlist reclaims a dead node;
      - if the other id is alive or suspect, both are kept, the conflict
        is logged and counted, and a CONFLICT event names both ids: the
        owner decides (the agent shows both, and the scheduler places work
        by id).  For an address this settles itself: only one process can
        listen there, it answers only PINGs addressed to its own id, so the
        other id fails its probes and goes suspect, dead and reaped.
    The same id may change its address or name at a higher incarnation:
    the fact is signed by its key, so it is the same node, moved.  Never
    at the same or a lower one, in any state: a stale or replayed fact
    cannot move a member back.

    Restarted elsewhere.  A node restarted with its key (same data
    directory) starts at incarnation 0, and may come back on another
    address while the others still list it (in any state) at the old
    one.  Its join push-pull carries its alive fact at 0: ignored, as
    not above what they know.  But they answer where the packet came
    from (s_reply_address), not at the table's address, so it hears its
    previous life (alive, suspect, dead or left at incarnation i),
    refutes at i + 1 from its new address, and that signed alive fact
    moves it everywhere (s_on_alive), within a round trip and a gossip
    spread.  Answered at the old address it would run alone until
    reaped.  (memberlist answers at the packet's source too; keyed by
    name, it lets a left node, or a dead one after DeadNodeReclaimTime,
    move even at a lower incarnation and calls a live one on a new
    address a conflict.  An id is a key: its signed higher incarnation
    is enough, and a lower one never moves anything.)

    MEMBER STATES

                     alive fact, inc > known
          +-----------------------------------------------+
          |                                               |
          v     suspect (inc >= known)   timer fires      |
      [ALIVE] -------------------> [SUSPECT] -------> [DEAD] ---+
          |  ^                        |                 |  ^     |
          |  | alive, inc > known     | dead fact       |  |     | left fact
          |  +------------------------+---------------->+  |     v
          |                                                |  [LEFT]
          +--- dead fact (inc >= known) -------------------+     |
          +--- left fact (inc >= known) ------------------------>+
                                                                 |
      DEAD or LEFT for dead_reclaim seconds, or replaced by a new id: reaped

    TRANSITIONS AND THE FUNCTION THAT MAKES EACH

      from      to        cause                                  function
      (none)    ALIVE     alive fact about an unknown id          s_on_alive
      ALIVE     ALIVE     alive fact, higher incarnation (may
                          carry a new address, name or meta)      s_on_alive
      ALIVE     SUSPECT   suspect fact / our probe failed         s_on_suspect
      SUSPECT   SUSPECT   confirmation from a new accuser         s_suspicion_confirm
      SUSPECT   ALIVE     alive fact, higher incarnation (idem)   s_on_alive
      SUSPECT   DEAD      suspicion timer fired, last PING unanswered
                                                          s_suspicions_tick,
                                                          s_declare_dead
      ALIVE,SUSPECT DEAD  dead fact (gossip)                      s_on_dead
      any       LEFT      left fact (signed by the subject)       s_on_left
      DEAD,LEFT ALIVE     alive fact, higher incarnation (rejoin,
                          maybe at a new address)                 s_on_alive
      any       (same)    alive fact, same or lower incarnation,  s_on_alive
                          any address: ignored, so that stale and
                          replayed facts move nothing (a restarted
                          node is answered where it is and refutes:
                          "Restarted elsewhere")                  s_reply_address
      DEAD,LEFT (gone)    dead_reclaim elapsed                    s_reap
      DEAD,LEFT (gone)    a new id claims its address or name     s_claims
      self      self      suspected / dead / newer alive: refute  s_refute
      self      LEFT      tm_swim_leave                           tm_swim_leave

    INVARIANTS (checked by s_invariants_hold; the O(N) ones only while the
    table holds at most S_FULL_CHECK_MAX members, so that the 10,000-node
    simulator stays fast with assertions on)

      1. members [self_index] is us; self_index < count <= capacity.
      2. by_id maps every member's id to its index and nothing else, so
         ids are unique; by_address holds every member once; by_name holds
         every member with a non-empty name once.
      3. state_count [s] is the number of members in state s; they sum to
         count.
      4. We are never SUSPECT or DEAD in our own table; we are LEFT
         exactly when `left` is set.
      5. probe_order is a permutation of 0 .. count - 1, members
         [probe_order [p]].probe_pos == p, and probe_index <= count.
      6. A member is in broadcast bucket b exactly when its bc_transmits
         is b (< S_BUCKETS), at position bc_pos of bucket b; bc_count is
         the number of queued members and the sum of the bucket counts;
         a bucket holds between count and count + 1.5 chunks' room.
      7. There is a suspicion for a member exactly when that member is in
         the table and SUSPECT; susp_next is at most every suspicion's
         deadline; n <= k and hinted <= accusers.
      8. 0 <= awareness < awareness_max.
      9. Relays are sorted by deadline and number at most S_RELAYS_MAX;
         the first relay_nacked of them are past their NACK time.
     10. The outbox list holds out_count packets, at most S_OUTBOX_MAX.

    PROFILES (seconds)
                                   LAN     fast   memberlist LAN
      probe_interval               0.2     0.05   1.0
      probe_timeout                0.1     0.02   0.5
      indirect_checks              3       3      3
      retransmit_mult              4       4      4
      suspicion_mult               4       4      4
      suspicion_max_timeout_mult   6       6      6
      suspicion_hint_mult          2       2      (none)
      awareness_max                8       8      8
      gossip_interval              0.2     0.02   0.2
      gossip_nodes                 3       3      3
      gossip_to_the_dead           10      1      30
      push_pull_interval           15      1      30
      dead_reclaim                 300     5      (0: never; Serf 24 h)
      packet_size                  8192    8192   1400 (UDP)

    The trade-off.  memberlist's LAN profile needs about 10 s to see a
    silent failure at N = 100 (suspicion min = 4 * log10 (100) * 1 s =
    8 s, plus probing).  testmesh wants a SIGSTOPped agent seen dead in
    < 5 s at p99 and a SIGKILLed one in < 1 s on one LAN, so the LAN
    profile probes five times as often: at N = 100 the suspicion min is
    1.6 s and max 9.6 s, so a silent failure is seen in about 2-3 s once
    two independent confirmations arrive, and a killed agent whose TCP
    connections drop in about 0.7 s through the transport hint.  The
    price: five times the probe traffic (10 packets/s per agent, most
    under 100 bytes, plus 15 GOSSIP a second while there is news: gossip
    keeps memberlist's 0.2 s, since faster gossip cost a forming cluster
    of 100 on two cores more CPU than it saved in rounds; see
    docs/protocol-swim.md) and less slack for a starved node to refute: it
    has 1.6 s, not 8 s, once others confirm.  Lifeguard is what keeps that
    safe: a starved prober's own timeouts grow up to 8x, it collects
    missed NACKs instead of accusing, and the suspected node refutes as
    soon as any packet reaches it; and two additions here: the last PING
    before conviction, and the answer to stale accusations.  Simulated
    with every one of 100 or 1000 nodes starved (exponential 50-100 ms
    on each packet) for a minute: no false 'dead'.  Packets are bigger
    than memberlist's because the transport is ZeroMQ over TCP, not UDP:
    no fragmentation limit.
*/
#include "tm_swim.h"
#include "tm_common.h"
#include <endian.h>
#include <math.h>
#include <sodium.h>

#define S_NONE              UINT32_MAX
#define S_SLOT_EMPTY        UINT32_MAX  //  Free hash slot
#define S_SLOT_INDEX        0xFFFFFFu   //  Member index bits of a slot
#define S_MEMBERS_MAX       0xFFFFFEu   //  Members per table (24 bits)
#define S_NOT_QUEUED        0xFF
#define S_BUCKETS           128     //  Max transmits of one broadcast
#define S_HINT_PROBES       8       //  Concurrent probes started by hints
#define S_PROBES            (1 + S_HINT_PROBES)
#define S_RELAYS_MAX        128     //  PING-REQs we relay at once
#define S_JOINS_MAX         16      //  Seeds we are trying at once
#define S_JOIN_ATTEMPTS     10      //  Then we give up on a seed
#define S_OUTBOX_MAX        4096    //  Packets waiting to be popped
#define S_FULL_CHECK_MAX    256     //  O(N) invariant checks up to this N
#define S_CLAIMS_MAX        8       //  Holders of one name/address handled

//  Wire constants (docs/protocol-swim.md)
#define S_MAGIC0            0x53    //  'S'
#define S_MAGIC1            0x57    //  'W'
#define S_VERSION           1
#define S_HEADER_SIZE       36      //  magic, version, type, sender id
enum {
    S_PING = 1, S_PING_REQ = 2, S_ACK = 3, S_NACK = 4, S_GOSSIP = 5,
    S_PUSH_PULL = 6, S_PUSH_PULL_REPLY = 7
};
enum { S_FACT_ALIVE = 1, S_FACT_SUSPECT = 2, S_FACT_DEAD = 3, S_FACT_LEFT = 4 };
#define S_FLAG_SIGNED       0x01    //  Fact carries the subject's signature
#define S_FLAG_HINT         0x02    //  SUSPECT: accuser's transport saw a drop
#define S_PP_JOIN           0x01    //  PUSH-PULL: sender is joining
#define S_PR_NACK           0x01    //  PING-REQ: requester wants a NACK
#define S_FACT_MIN          42      //  Smallest fact (DEAD)
#define S_ALIVE_BODY_MAX    (32 + 8 + 1 + TM_SWIM_NAME_MAX + 1 + TM_SWIM_ADDRESS_MAX \
                             + 2 + TM_SWIM_META_MAX)
#define S_TAG_ALIVE         "TMSWIM-A"  //  8-byte domain tags of signed data
#define S_TAG_LEFT          "TMSWIM-L"

//  Info blob flags
#define S_INFO_ALIVE_SIG    0x01
#define S_INFO_LEFT_SIG     0x02

//  One member.  Kept small: the simulator holds 10^8 of them.  Name,
//  address, metadata and signatures live in one blob, inside the member
//  when it fits in S_INFO_INLINE bytes (no metadata, short name and
//  address: one cache miss less when we gossip it), else on the heap:
//      u8 name_len, name, NUL, u8 address_len, address, NUL,
//      u16 meta_size (host order), meta, u8 sig flags,
//      [alive signature 64], [left signature 64]
#define S_INFO_INLINE 24
typedef struct {
    uint8_t id [TM_SWIM_ID_SIZE];   //  Public key
    uint64_t incarnation;           //  Highest incarnation known
    union {
        uint8_t *heap;              //  Blob on the heap
        uint8_t bytes [S_INFO_INLINE];  //  Blob inline
    } info;                         //  Name, address, meta, signatures
    float state_change;             //  When the state last changed, s after
                                    //  epoch (a float: 80 bytes, not 88;
                                    //  8 ms resolution after a day up)
    uint32_t bc_pos;                //  Position in its broadcast bucket
    uint32_t probe_pos;             //  Our position in probe_order
    uint8_t state;                  //  tm_swim_state_t
    uint8_t bc_transmits;           //  Bucket if queued, else S_NOT_QUEUED
    bool info_inline;               //  info.bytes holds the blob
} s_member_t;
_Static_assert (sizeof (s_member_t) == 80, "s_member_t grew: it is held 10^8 times");

//  Parsed view of an info blob
typedef struct {
    const char *name;               //  NUL-terminated
    size_t name_len;                //  Bytes
    const char *address;            //  NUL-terminated
    size_t address_len;             //  Bytes
    const uint8_t *meta;            //  Metadata
    size_t meta_size;               //  Bytes
    const uint8_t *alive_sig;       //  Or NULL
    const uint8_t *left_sig;        //  Or NULL
    size_t size;                    //  Bytes in the blob
} s_info_t;

//  A broadcast bucket: members whose current fact was sent `b` times,
//  oldest first (the newest are taken first, from the end).  Entries
//  live in fixed chunks of S_CHUNK: a join storm pushes every member
//  through every bucket in turn, and arrays that grew and shrank with it
//  fragmented the heap (or, as separate mappings, ran into the kernel's
//  65,530 per process) at 10^4 nodes.  Equal-sized chunks are recycled.
#define S_CHUNK 256
typedef struct {
    uint32_t **chunks;              //  Chunks of member indices
    uint32_t count;                 //  Entries
    uint32_t nchunks;               //  Chunks allocated
    uint32_t chunk_cap;             //  Room in chunks
} s_bucket_t;

static inline uint32_t *
s_bucket_at (s_bucket_t *bucket, uint32_t pos)
{
    return &bucket->chunks [pos / S_CHUNK][pos % S_CHUNK];
}

//  Open-addressing hash index of member indices (linear probing)
typedef struct {
    uint32_t *slots;                //  Hash tag << 24 | member index, or empty
    uint32_t mask;                  //  Capacity - 1 (capacity is 2^n)
    uint32_t count;                 //  Slots in use
} s_index_t;
enum { S_BY_ID, S_BY_NAME, S_BY_ADDRESS };

//  A suspicion timer (memberlist's suspicion.go)
typedef struct {
    uint8_t id [TM_SWIM_ID_SIZE];   //  Suspect member
    double start;                   //  When we began suspecting
    double min;                     //  Shortest timeout
    double max;                     //  Longest timeout (the start value)
    double deadline;                //  When it turns into dead
    int k;                          //  Confirmations wanted to reach min
    int n;                          //  Independent confirmations so far
    int hinted;                     //  Accusers whose transport saw a drop
    uint8_t last_from [TM_SWIM_ID_SIZE];   //  Accuser in the fact we gossip
    bool last_hint;                 //  And its hint flag
    int accusers_count;             //  Accuser ids held
    int accusers_cap;               //  Room in accusers
    uint8_t (*accusers) [TM_SWIM_ID_SIZE]; //  First accuser + confirmers
    bool verifying;                 //  Timer fired; last PING out (deadline
                                    //  is then the end of its wait)
    uint32_t verify_seq;            //  Sequence number of that PING
} s_suspicion_t;

//  A probe in flight.  Slot 0 is the round-robin probe, the others were
//  started by transport hints.
typedef struct {
    bool active;                    //  Slot in use
    bool hinted;                    //  Started by (or hit by) a hint
    bool indirect_sent;             //  PING-REQs went out
    uint8_t target [TM_SWIM_ID_SIZE];  //  Member probed
    uint64_t incarnation;           //  Its incarnation when we started
    uint32_t seq;                   //  Sequence number of PING and PING-REQs
    double start;                   //  When the PING went out
    double ack_deadline;            //  Direct timeout: then indirect
    double deadline;                //  End of the probe: then suspect
    int nacks_expected;             //  PING-REQs sent
    int nacks;                      //  NACKs received
    bool retry;                     //  The second look after a silent
                                    //  failure (s_probe_failed)
} s_probe_t;

//  A PING-REQ we are relaying
typedef struct {
    uint32_t seq;                   //  Our PING to the target
    uint32_t origin_seq;            //  The requester's sequence number
    uint8_t origin_id [TM_SWIM_ID_SIZE];  //  The requester
    char origin_address [TM_SWIM_ADDRESS_MAX + 1];  //  Where to answer it
                                    //  (s_reply_address at request time)
    bool want_nack;                 //  Requester wants a NACK on timeout
    double deadline;                //  NACK time
    double expire;                  //  Forget it (a late ACK is still relayed)
} s_relay_t;

//  A seed we are joining through
typedef struct {
    char address [TM_SWIM_ADDRESS_MAX + 1];  //  Seed address
    double next_attempt;            //  When to (re)send the push-pull
    int attempts;                   //  Sent so far
} s_join_t;

//  A dead or left member waiting for reaping (FIFO; stale entries are
//  skipped by comparing state_change)
typedef struct {
    uint8_t id [TM_SWIM_ID_SIZE];   //  Member
    float since;                    //  Its state_change when queued
} s_reap_t;

//  An outbox entry
typedef struct _s_out_t {
    struct _s_out_t *next;          //  Next packet, or NULL
    tm_swim_packet_t packet;        //  The packet
} s_out_t;

struct _tm_swim_t {
    tm_swim_config_t config;        //  Copy of the owner's config
    s_member_t *members;            //  Member table, dense
    uint32_t count;                 //  Members in the table
    uint32_t capacity;              //  Room in members
    uint32_t self_index;            //  Our own entry
    uint32_t state_count [TM_SWIM_STATES];  //  Members per state
    s_index_t by_id;                //  id -> member
    s_index_t by_name;              //  name -> members (multimap)
    s_index_t by_address;           //  address -> members (multimap)
    uint32_t *probe_order;          //  Shuffled member indices
    uint32_t probe_index;           //  Next position to probe
    s_bucket_t buckets [S_BUCKETS]; //  Broadcast queue, by times sent
    uint32_t bc_count;              //  Members queued for broadcast
    uint32_t *bc_pick;              //  Scratch: members picked for a packet
    uint32_t *offsets;              //  Scratch: fact offsets of a packet
    size_t offsets_cap;             //  Room in offsets
    s_suspicion_t **susp;           //  Suspicion timers
    size_t susp_count;              //  In use
    size_t susp_cap;                //  Room
    double susp_next;               //  Earliest suspicion deadline
    s_probe_t probes [S_PROBES];    //  Probes in flight
    bool retry_pending;             //  The next probe is the second look
    uint8_t retry_id [TM_SWIM_ID_SIZE];    //  at this member (s_probe_failed)
    s_relay_t *relays;              //  PING-REQs being relayed, by deadline
    size_t relay_cap;               //  Room in relays (grown on demand)
    size_t relay_count;             //  In use
    size_t relay_nacked;            //  Leading relays past their NACK time
    s_join_t joins [S_JOINS_MAX];   //  Seeds being joined
    size_t join_count;              //  In use
    s_reap_t *reaps;                //  Ring of dead/left members to reap
    size_t reap_head;               //  Oldest entry
    size_t reap_count;              //  Entries
    size_t reap_cap;                //  Room (power of two)
    s_out_t *out_head;              //  Outbox, oldest first
    s_out_t *out_tail;              //  Newest
    size_t out_count;               //  Packets in the outbox
    double next_probe;              //  Next round-robin probe
    double next_gossip;             //  Next gossip round
    double next_push_pull;          //  Next state sync
    double catch_up;                //  Post-join sync not before this, or 0
    int catch_up_tries;             //  Catch-up push-pulls sent, unanswered
    double now;                     //  Latest time seen
    double epoch;                   //  Time at creation: member times count from it
    int awareness;                  //  Lifeguard health score
    uint32_t seq;                   //  Last sequence number used
    bool left;                      //  We have left
    uint64_t rng;                   //  splitmix64 state
    uint64_t hash_key [2];          //  Keys of the hash indices
    tm_swim_stats_t stats;          //  Counters
};

typedef struct {
    uint8_t *buf;                   //  Buffer
    size_t size;                    //  Bytes written
    size_t cap;                     //  Bytes available in buf
    size_t limit;                   //  Grow up to this (0: fixed buffer)
    bool ok;                        //  False once something did not fit
} s_writer_t;

typedef struct {
    const uint8_t *p;               //  Next byte
    const uint8_t *end;             //  End of input
    bool ok;                        //  False once a read ran past the end
} s_reader_t;

//  A decoded fact: pointers into the packet
typedef struct {
    int kind;                       //  S_FACT_*
    uint8_t flags;                  //  S_FLAG_*
    const uint8_t *id;              //  Subject
    uint64_t incarnation;           //  Its incarnation
    const uint8_t *from;            //  SUSPECT: accuser
    const uint8_t *name;            //  ALIVE: name bytes (not NUL-terminated)
    size_t name_len;
    const uint8_t *address;         //  ALIVE: address bytes
    size_t address_len;
    const uint8_t *meta;            //  ALIVE: metadata
    size_t meta_size;
    const uint8_t *sig;             //  ALIVE/LEFT: signature, or NULL
    const uint8_t *body;            //  Signed bytes (after the tag)
    size_t body_size;
    uint64_t hash;                  //  s_hash_id (id) if known, else 0
} s_fact_t;

//  A decoded packet: pointers into the input
typedef struct {
    int type;                       //  S_PING ...
    const uint8_t *sender;          //  Sender id
    uint32_t seq;                   //  PING, PING-REQ, ACK, NACK
    const uint8_t *target;          //  PING, PING-REQ
    const uint8_t *target_address;  //  PING-REQ
    size_t target_address_len;
    uint8_t flags;                  //  PING-REQ, PUSH-PULL
    uint32_t count;                 //  Facts
    const uint8_t *facts;           //  First fact
    const uint8_t *end;             //  End of the facts
    const uint8_t *data;            //  Start of the packet
    uint32_t **offsets;             //  Where to record each fact's offset
    size_t *offsets_cap;            //  (caller's growable array), or NULL
} s_packet_t;

enum { S_SOURCE_GOSSIP, S_SOURCE_PUSH_PULL };
enum { S_PICK_ALIVE, S_PICK_GOSSIP };

static void s_emit (tm_swim_t *self, tm_swim_event_type_t type, uint32_t mi,
                    const uint8_t *other_id, const char *conflict);
static void s_bc_push (tm_swim_t *self, uint32_t mi);
static void s_bc_unlink (tm_swim_t *self, uint32_t mi);
static void s_on_suspect (tm_swim_t *self, const uint8_t *id, uint64_t hash,
                          uint64_t incarnation, const uint8_t *from, bool hint, double now);
static void s_suspicion_remove (tm_swim_t *self, const uint8_t *id);
static void s_declare_dead (tm_swim_t *self, const uint8_t *id, double now);
static bool s_invariants_hold (tm_swim_t *self);

//  --------------------------------------------------------------------
//  Small helpers

static const char *
s_short (const uint8_t *id, char buf [17])
{
    static const char hex [] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        buf [2 * i] = hex [id [i] >> 4];
        buf [2 * i + 1] = hex [id [i] & 15];
    }
    buf [16] = 0;
    return buf;
}

static uint64_t
s_rand (tm_swim_t *self)
{
    uint64_t z = (self->rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

//  Uniform in [0, n)
static uint32_t
s_rand_below (tm_swim_t *self, uint32_t n)
{
    return (uint32_t) (((s_rand (self) >> 32) * (uint64_t) n) >> 32);
}

//  Uniform in [0, 1)
static double
s_rand_unit (tm_swim_t *self)
{
    return (s_rand (self) >> 11) * (1.0 / 9007199254740992.0);
}

static inline uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 30; x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27; x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

//  Keyed hash of an id.  Ids come from the network, so the mixing is
//  keyed per instance: nobody can aim ids at one bucket without the key.
static uint64_t
s_hash_id (tm_swim_t *self, const uint8_t *id)
{
    uint64_t w [4];
    memcpy (w, id, 32);
    uint64_t h = s_mix (w [0] ^ self->hash_key [0]);
    h = s_mix (h ^ w [1] ^ self->hash_key [1]);
    h = s_mix (h ^ w [2]);
    return s_mix (h ^ w [3]);
}

static uint64_t
s_hash_bytes (tm_swim_t *self, const void *data, size_t size)
{
    const uint8_t *p = (const uint8_t *) data;
    uint64_t h = 0xCBF29CE484222325ULL ^ self->hash_key [0];
    for (size_t i = 0; i < size; i++)
        h = (h ^ p [i]) * 0x100000001B3ULL;
    return s_mix (h ^ self->hash_key [1] ^ size);
}

static inline float
s_since_epoch (tm_swim_t *self, double now)
{
    return (float) (now - self->epoch);
}

static double
s_scale (tm_swim_t *self)
{
    return (double) (self->awareness + 1);
}

static void
s_awareness_delta (tm_swim_t *self, int delta)
{
    int score = self->awareness + delta;
    if (score < 0)
        score = 0;
    if (score > self->config.awareness_max - 1)
        score = self->config.awareness_max - 1;
    if (score != self->awareness)
        tm_debug ("swim", "local health score %d -> %d", self->awareness, score);
    self->awareness = score;
}

//  Name: at most 64 bytes, no control characters (UTF-8 is fine).
static bool
s_name_valid (const uint8_t *name, size_t len)
{
    if (len > TM_SWIM_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (name [i] < 0x20 || name [i] == 0x7F)
            return false;
    return true;
}

//  Address: "host:port", 1..255 printable ASCII characters without
//  spaces, a non-empty host, and after the last ':' a port 1..65535.
static bool
s_address_valid (const uint8_t *address, size_t len)
{
    if (len < 3 || len > TM_SWIM_ADDRESS_MAX)
        return false;
    size_t colon = len;
    for (size_t i = 0; i < len; i++) {
        if (address [i] <= 0x20 || address [i] >= 0x7F)
            return false;
        if (address [i] == ':')
            colon = i;
    }
    if (colon == len || colon == 0 || len - colon - 1 < 1 || len - colon - 1 > 5)
        return false;
    unsigned port = 0;
    for (size_t i = colon + 1; i < len; i++) {
        if (address [i] < '0' || address [i] > '9')
            return false;
        port = port * 10 + (address [i] - '0');
    }
    return port >= 1 && port <= 65535;
}

//  --------------------------------------------------------------------
//  Info blobs

static s_info_t
s_info (const uint8_t *blob)
{
    s_info_t info;
    const uint8_t *p = blob;
    info.name_len = *p++;
    info.name = (const char *) p;
    p += info.name_len + 1;
    info.address_len = *p++;
    info.address = (const char *) p;
    p += info.address_len + 1;
    uint16_t meta_size;
    memcpy (&meta_size, p, 2);
    p += 2;
    info.meta_size = meta_size;
    info.meta = p;
    p += meta_size;
    uint8_t sigs = *p++;
    info.alive_sig = NULL;
    info.left_sig = NULL;
    if (sigs & S_INFO_ALIVE_SIG) {
        info.alive_sig = p;
        p += TM_SWIM_SIG_SIZE;
    }
    if (sigs & S_INFO_LEFT_SIG) {
        info.left_sig = p;
        p += TM_SWIM_SIG_SIZE;
    }
    info.size = p - blob;
    return info;
}

static uint8_t *
s_info_new (const void *name, size_t name_len, const void *address, size_t address_len,
            const void *meta, size_t meta_size,
            const uint8_t *alive_sig, const uint8_t *left_sig)
{
    size_t size = 1 + name_len + 1 + 1 + address_len + 1 + 2 + meta_size + 1
                + (alive_sig ? TM_SWIM_SIG_SIZE : 0) + (left_sig ? TM_SWIM_SIG_SIZE : 0);
    uint8_t *blob = (uint8_t *) malloc (size);
    assert (blob);
    uint8_t *p = blob;
    *p++ = (uint8_t) name_len;
    if (name_len)
        memcpy (p, name, name_len);
    p += name_len;
    *p++ = 0;
    *p++ = (uint8_t) address_len;
    memcpy (p, address, address_len);
    p += address_len;
    *p++ = 0;
    uint16_t meta16 = (uint16_t) meta_size;
    memcpy (p, &meta16, 2);
    p += 2;
    if (meta_size)
        memcpy (p, meta, meta_size);
    p += meta_size;
    *p++ = (alive_sig ? S_INFO_ALIVE_SIG : 0) | (left_sig ? S_INFO_LEFT_SIG : 0);
    if (alive_sig) {
        memcpy (p, alive_sig, TM_SWIM_SIG_SIZE);
        p += TM_SWIM_SIG_SIZE;
    }
    if (left_sig)
        memcpy (p, left_sig, TM_SWIM_SIG_SIZE);
    return blob;
}

static inline const uint8_t *
s_blob (const s_member_t *member)
{
    return member->info_inline? member->info.bytes: member->info.heap;
}

//  Stores BLOB (taking ownership) as MEMBER's info, inline if it fits.
static void
s_blob_store (s_member_t *member, uint8_t *blob)
{
    size_t size = s_info (blob).size;
    if (size <= S_INFO_INLINE) {
        memcpy (member->info.bytes, blob, size);
        member->info_inline = true;
        free (blob);
    }
    else {
        member->info.heap = blob;
        member->info_inline = false;
    }
}

static void
s_blob_free (s_member_t *member)
{
    if (!member->info_inline)
        free (member->info.heap);
    member->info_inline = false;
    member->info.heap = NULL;
}

//  --------------------------------------------------------------------
//  Hash indices

static uint64_t
s_member_hash (tm_swim_t *self, int kind, uint32_t mi)
{
    s_member_t *member = &self->members [mi];
    if (kind == S_BY_ID)
        return s_hash_id (self, member->id);
    s_info_t info = s_info (s_blob (member));
    if (kind == S_BY_NAME)
        return s_hash_bytes (self, info.name, info.name_len);
    return s_hash_bytes (self, info.address, info.address_len);
}

//  A slot holds the top 8 bits of the key's hash (a tag) and a 24-bit
//  member index, so that a lookup skips other keys without touching the
//  member table: at 10^4 members per node and 10^4 nodes every touch is a
//  cache miss.
static inline uint32_t
s_slot (uint64_t hash, uint32_t mi)
{
    return (uint32_t) (hash >> 56) << 24 | mi;
}

static inline bool
s_slot_tag_is (uint32_t slot, uint64_t hash)
{
    return slot >> 24 == (uint32_t) (hash >> 56);
}

static void
s_index_init (s_index_t *index, uint32_t capacity)
{
    index->slots = (uint32_t *) malloc (capacity * sizeof (uint32_t));
    assert (index->slots);
    memset (index->slots, 0xFF, capacity * sizeof (uint32_t));
    index->mask = capacity - 1;
    index->count = 0;
}

static void
s_index_place (s_index_t *index, uint64_t hash, uint32_t mi)
{
    uint32_t slot = (uint32_t) hash & index->mask;
    while (index->slots [slot] != S_SLOT_EMPTY)
        slot = (slot + 1) & index->mask;
    index->slots [slot] = s_slot (hash, mi);
    index->count++;
}

static void
s_index_insert (tm_swim_t *self, s_index_t *index, int kind, uint32_t mi)
{
    //  Keep the load at most 0.8: with tags in the slots a longer probe
    //  sequence costs little (16 slots per cache line)
    if ((uint64_t) (index->count + 1) * 10 > (uint64_t) (index->mask + 1) * 8) {
        uint32_t *old = index->slots;
        uint32_t old_capacity = index->mask + 1;
        s_index_init (index, old_capacity * 2);
        for (uint32_t i = 0; i < old_capacity; i++)
            if (old [i] != S_SLOT_EMPTY) {
                uint32_t other = old [i] & S_SLOT_INDEX;
                s_index_place (index, s_member_hash (self, kind, other), other);
            }
        free (old);
    }
    s_index_place (index, s_member_hash (self, kind, mi), mi);
}

//  Returns the slot holding MI, whose key hashes to HASH.
static uint32_t
s_index_slot (s_index_t *index, uint64_t hash, uint32_t mi)
{
    uint32_t want = s_slot (hash, mi);
    uint32_t slot = (uint32_t) hash & index->mask;
    while (index->slots [slot] != want) {
        assert (index->slots [slot] != S_SLOT_EMPTY);
        slot = (slot + 1) & index->mask;
    }
    return slot;
}

//  Removes MI (still in the table, so its key can be hashed).
static void
s_index_remove (tm_swim_t *self, s_index_t *index, int kind, uint32_t mi)
{
    uint32_t hole = s_index_slot (index, s_member_hash (self, kind, mi), mi);
    //  Backward-shift deletion keeps probe chains unbroken
    uint32_t j = hole;
    while (true) {
        j = (j + 1) & index->mask;
        uint32_t entry = index->slots [j];
        if (entry == S_SLOT_EMPTY)
            break;
        uint32_t home = (uint32_t) s_member_hash (self, kind, entry & S_SLOT_INDEX)
                      & index->mask;
        //  Move ENTRY into the hole unless its home lies cyclically in (hole, j]
        bool between = hole <= j? (home > hole && home <= j)
                                : (home > hole || home <= j);
        if (!between) {
            index->slots [hole] = entry;
            hole = j;
        }
    }
    index->slots [hole] = S_SLOT_EMPTY;
    index->count--;
}

//  Member data moved from OLD_MI to NEW_MI: repoint its slot.
static void
s_index_moved (tm_swim_t *self, s_index_t *index, int kind, uint32_t old_mi, uint32_t new_mi)
{
    uint64_t hash = s_member_hash (self, kind, new_mi);
    uint32_t slot = s_index_slot (index, hash, old_mi);
    index->slots [slot] = s_slot (hash, new_mi);
}

//  Looks ID up; HASH is s_hash_id (id), or 0 to compute it here.
static uint32_t
s_find_hashed (tm_swim_t *self, const uint8_t *id, uint64_t hash)
{
    s_index_t *index = &self->by_id;
    if (hash == 0)
        hash = s_hash_id (self, id);
    uint32_t slot = (uint32_t) hash & index->mask;
    while (true) {
        uint32_t entry = index->slots [slot];
        if (entry == S_SLOT_EMPTY)
            return S_NONE;
        if (s_slot_tag_is (entry, hash)) {
            uint32_t mi = entry & S_SLOT_INDEX;
            if (memcmp (self->members [mi].id, id, TM_SWIM_ID_SIZE) == 0)
                return mi;
        }
        slot = (slot + 1) & index->mask;
    }
}

static uint32_t
s_find (tm_swim_t *self, const uint8_t *id)
{
    return s_find_hashed (self, id, 0);
}

//  Collects up to MAX members (other than EXCEPT) whose name or address
//  (KIND) equals KEY.  Returns how many.
static int
s_find_by_key (tm_swim_t *self, int kind, const void *key, size_t len,
               uint32_t except, uint32_t *out, int max)
{
    s_index_t *index = kind == S_BY_NAME? &self->by_name: &self->by_address;
    int found = 0;
    uint64_t hash = s_hash_bytes (self, key, len);
    uint32_t slot = (uint32_t) hash & index->mask;
    while (found < max) {
        uint32_t entry = index->slots [slot];
        if (entry == S_SLOT_EMPTY)
            break;
        uint32_t mi = entry & S_SLOT_INDEX;
        if (mi != except && s_slot_tag_is (entry, hash)) {
            s_info_t info = s_info (s_blob (&self->members [mi]));
            const char *other = kind == S_BY_NAME? info.name: info.address;
            size_t other_len = kind == S_BY_NAME? info.name_len: info.address_len;
            if (other_len == len && memcmp (other, key, len) == 0)
                out [found++] = mi;
        }
        slot = (slot + 1) & index->mask;
    }
    return found;
}

//  --------------------------------------------------------------------
//  Member table

static void
s_view (tm_swim_t *self, uint32_t mi, tm_swim_member_t *view)
{
    s_member_t *member = &self->members [mi];
    s_info_t info = s_info (s_blob (member));
    view->id = member->id;
    view->name = info.name;
    view->address = info.address;
    view->meta = info.meta_size? info.meta: NULL;
    view->meta_size = info.meta_size;
    view->incarnation = member->incarnation;
    view->state = (tm_swim_state_t) member->state;
    view->state_change = self->epoch + member->state_change;
    view->is_self = mi == self->self_index;
}

static void
s_reap_push (tm_swim_t *self, const uint8_t *id, float since)
{
    if (self->reap_count == self->reap_cap) {
        size_t new_cap = self->reap_cap? self->reap_cap * 2: 16;
        s_reap_t *ring = (s_reap_t *) malloc (new_cap * sizeof (s_reap_t));
        assert (ring);
        for (size_t i = 0; i < self->reap_count; i++)
            ring [i] = self->reaps [(self->reap_head + i) & (self->reap_cap - 1)];
        free (self->reaps);
        self->reaps = ring;
        self->reap_head = 0;
        self->reap_cap = new_cap;
    }
    s_reap_t *entry = &self->reaps [(self->reap_head + self->reap_count) & (self->reap_cap - 1)];
    memcpy (entry->id, id, TM_SWIM_ID_SIZE);
    entry->since = since;
    self->reap_count++;
}

static void
s_set_state (tm_swim_t *self, uint32_t mi, tm_swim_state_t state, double now)
{
    s_member_t *member = &self->members [mi];
    if (member->state != state) {
        self->state_count [member->state]--;
        self->state_count [state]++;
        member->state = (uint8_t) state;
    }
    member->state_change = s_since_epoch (self, now);
    if (state == TM_SWIM_DEAD || state == TM_SWIM_LEFT)
        s_reap_push (self, member->id, member->state_change);
}

//  Appends a member; returns its index.  Takes ownership of INFO.
static uint32_t
s_member_add (tm_swim_t *self, const uint8_t *id, uint8_t *info,
              uint64_t incarnation, tm_swim_state_t state, double now)
{
    if (self->count == self->capacity) {
        //  Grow by an eighth: at 10^4 members per node and 10^4 nodes the
        //  slack is most of the memory; big arrays are mmapped by glibc and
        //  grown with mremap, so growing often is cheap
        uint32_t capacity = self->capacity + self->capacity / 8 + 16;
        self->members = (s_member_t *) realloc (self->members, capacity * sizeof (s_member_t));
        self->probe_order = (uint32_t *) realloc (self->probe_order, capacity * sizeof (uint32_t));
        assert (self->members && self->probe_order);
        self->capacity = capacity;
    }
    uint32_t mi = self->count++;
    s_member_t *member = &self->members [mi];
    memset (member, 0, sizeof *member);
    memcpy (member->id, id, TM_SWIM_ID_SIZE);
    member->incarnation = incarnation;
    member->state_change = s_since_epoch (self, now);
    s_blob_store (member, info);
    member->bc_pos = 0;
    member->bc_transmits = S_NOT_QUEUED;
    member->state = (uint8_t) state;
    self->state_count [state]++;

    s_index_insert (self, &self->by_id, S_BY_ID, mi);
    s_index_insert (self, &self->by_address, S_BY_ADDRESS, mi);
    if (s_info (s_blob (member)).name_len)
        s_index_insert (self, &self->by_name, S_BY_NAME, mi);

    //  Slot it at a random place in what is left of this probe round, so
    //  that it is probed soon and new members do not bunch up at the end
    uint32_t pos = mi;
    self->probe_order [pos] = mi;
    member->probe_pos = pos;
    uint32_t span = pos - self->probe_index + 1;
    uint32_t swap = self->probe_index + s_rand_below (self, span);
    if (swap != pos) {
        uint32_t other = self->probe_order [swap];
        self->probe_order [swap] = mi;
        self->probe_order [pos] = other;
        member->probe_pos = swap;
        self->members [other].probe_pos = pos;
    }
    return mi;
}

//  Removes position POS from the probe order, keeping the members not
//  yet probed this round in the unprobed part.
static void
s_probe_order_remove (tm_swim_t *self, uint32_t pos)
{
    uint32_t last = self->count - 1;
    if (pos < self->probe_index) {
        //  Fill the hole with the last probed entry, then move the hole there
        uint32_t q = self->probe_index - 1;
        self->probe_order [pos] = self->probe_order [q];
        self->members [self->probe_order [pos]].probe_pos = pos;
        pos = q;
        self->probe_index--;
    }
    //  Then the last entry into the hole, unless the hole is the last
    //  position (the entry there may just have moved to the first hole)
    if (pos != last) {
        self->probe_order [pos] = self->probe_order [last];
        self->members [self->probe_order [pos]].probe_pos = pos;
    }
}

//  Removes member MI from the table (emitting REAPED first).
static void
s_member_remove (tm_swim_t *self, uint32_t mi)
{
    assert (mi != self->self_index);
    s_emit (self, TM_SWIM_EVENT_REAPED, mi, NULL, NULL);
    s_member_t *member = &self->members [mi];
    if (member->state == TM_SWIM_SUSPECT)
        s_suspicion_remove (self, member->id);
    if (member->bc_transmits != S_NOT_QUEUED)
        s_bc_unlink (self, mi);
    s_index_remove (self, &self->by_id, S_BY_ID, mi);
    s_index_remove (self, &self->by_address, S_BY_ADDRESS, mi);
    if (s_info (s_blob (member)).name_len)
        s_index_remove (self, &self->by_name, S_BY_NAME, mi);
    s_probe_order_remove (self, member->probe_pos);
    self->state_count [member->state]--;
    s_blob_free (member);

    //  Move the last member into the hole and repoint what refers to it
    uint32_t last = self->count - 1;
    if (mi != last) {
        self->members [mi] = self->members [last];
        member = &self->members [mi];
        s_index_moved (self, &self->by_id, S_BY_ID, last, mi);
        s_index_moved (self, &self->by_address, S_BY_ADDRESS, last, mi);
        if (s_info (s_blob (member)).name_len)
            s_index_moved (self, &self->by_name, S_BY_NAME, last, mi);
        self->probe_order [member->probe_pos] = mi;
        if (member->bc_transmits != S_NOT_QUEUED)
            *s_bucket_at (&self->buckets [member->bc_transmits], member->bc_pos) = mi;
        if (self->self_index == last)
            self->self_index = mi;
    }
    self->count--;
}

//  Replaces member MI's info blob (name, address, meta, signatures),
//  keeping the name and address indices right.
static void
s_member_set_info (tm_swim_t *self, uint32_t mi, uint8_t *info)
{
    s_member_t *member = &self->members [mi];
    s_info_t old_info = s_info (s_blob (member));
    s_info_t new_info = s_info (info);
    //  OLD_INFO points into the member: compare before replacing
    bool address_same = old_info.address_len == new_info.address_len
        && memcmp (old_info.address, new_info.address, new_info.address_len) == 0;
    bool name_same = old_info.name_len == new_info.name_len
        && memcmp (old_info.name, new_info.name, new_info.name_len) == 0;
    if (!address_same)
        s_index_remove (self, &self->by_address, S_BY_ADDRESS, mi);
    if (!name_same && old_info.name_len)
        s_index_remove (self, &self->by_name, S_BY_NAME, mi);
    s_blob_free (member);
    s_blob_store (member, info);
    if (!address_same)
        s_index_insert (self, &self->by_address, S_BY_ADDRESS, mi);
    if (!name_same && new_info.name_len)
        s_index_insert (self, &self->by_name, S_BY_NAME, mi);
}

static void
s_emit (tm_swim_t *self, tm_swim_event_type_t type, uint32_t mi,
        const uint8_t *other_id, const char *conflict)
{
    if (!self->config.on_event)
        return;
    tm_swim_event_t event;
    event.type = type;
    s_view (self, mi, &event.member);
    event.other_id = other_id;
    event.conflict = conflict;
    self->config.on_event (self->config.event_arg, &event);
}

//  --------------------------------------------------------------------
//  Broadcast queue: buckets by times sent, newest first in each bucket

static uint32_t
s_retransmit_limit (tm_swim_t *self)
{
    int limit = self->config.retransmit_mult * (int) ceil (log10 ((double) self->count + 1));
    if (limit < 1)
        limit = 1;
    if (limit > S_BUCKETS - 1)
        limit = S_BUCKETS - 1;
    return (uint32_t) limit;
}

static void
s_bc_unlink (tm_swim_t *self, uint32_t mi)
{
    s_member_t *member = &self->members [mi];
    assert (member->bc_transmits != S_NOT_QUEUED);
    s_bucket_t *bucket = &self->buckets [member->bc_transmits];
    uint32_t last = *s_bucket_at (bucket, --bucket->count);
    if (last != mi) {
        *s_bucket_at (bucket, member->bc_pos) = last;
        self->members [last].bc_pos = member->bc_pos;
    }
    member->bc_transmits = S_NOT_QUEUED;
    self->bc_count--;
    //  Give a chunk back once half of the one before it is free too
    if (bucket->nchunks
    &&  bucket->count + S_CHUNK / 2 <= (bucket->nchunks - 1) * S_CHUNK) {
        free (bucket->chunks [--bucket->nchunks]);
        if (bucket->nchunks == 0) {
            free (bucket->chunks);
            bucket->chunks = NULL;
            bucket->chunk_cap = 0;
        }
    }
}

static void
s_bc_link (tm_swim_t *self, uint32_t mi, uint8_t b)
{
    s_bucket_t *bucket = &self->buckets [b];
    if (bucket->count == bucket->nchunks * S_CHUNK) {
        if (bucket->nchunks == bucket->chunk_cap) {
            bucket->chunk_cap = bucket->chunk_cap? bucket->chunk_cap * 2: 4;
            bucket->chunks = (uint32_t **) realloc (bucket->chunks,
                                                    bucket->chunk_cap * sizeof (uint32_t *));
            assert (bucket->chunks);
        }
        bucket->chunks [bucket->nchunks] = (uint32_t *) malloc (S_CHUNK * sizeof (uint32_t));
        assert (bucket->chunks [bucket->nchunks]);
        bucket->nchunks++;
    }
    s_member_t *member = &self->members [mi];
    member->bc_transmits = b;
    member->bc_pos = bucket->count;
    *s_bucket_at (bucket, bucket->count++) = mi;
    self->bc_count++;
}

//  Queues member MI's current state for broadcast, as new.
static void
s_bc_push (tm_swim_t *self, uint32_t mi)
{
    if (self->members [mi].bc_transmits != S_NOT_QUEUED)
        s_bc_unlink (self, mi);
    s_bc_link (self, mi, 0);
}

//  --------------------------------------------------------------------
//  Encoding

static void
s_writer_fixed (s_writer_t *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->size = 0;
    w->cap = cap;
    w->limit = 0;
    w->ok = true;
}

static bool
s_writer_room (s_writer_t *w, size_t n)
{
    if (!w->ok)
        return false;
    if (w->size + n <= w->cap)
        return true;
    if (w->limit == 0 || w->size + n > w->limit) {
        w->ok = false;
        return false;
    }
    size_t cap = w->cap * 2;
    while (cap < w->size + n)
        cap *= 2;
    if (cap > w->limit)
        cap = w->limit;
    w->buf = (uint8_t *) realloc (w->buf, cap);
    assert (w->buf);
    w->cap = cap;
    return true;
}

static void
s_put_u8 (s_writer_t *w, uint8_t v)
{
    if (s_writer_room (w, 1))
        w->buf [w->size++] = v;
}

static void
s_put_u16 (s_writer_t *w, uint16_t v)
{
    if (s_writer_room (w, 2)) {
        w->buf [w->size++] = (uint8_t) (v >> 8);
        w->buf [w->size++] = (uint8_t) v;
    }
}

static void
s_put_u32 (s_writer_t *w, uint32_t v)
{
    if (s_writer_room (w, 4))
        for (int shift = 24; shift >= 0; shift -= 8)
            w->buf [w->size++] = (uint8_t) (v >> shift);
}

static void
s_put_u64 (s_writer_t *w, uint64_t v)
{
    if (s_writer_room (w, 8))
        for (int shift = 56; shift >= 0; shift -= 8)
            w->buf [w->size++] = (uint8_t) (v >> shift);
}

static void
s_put_bytes (s_writer_t *w, const void *data, size_t size)
{
    if (size && s_writer_room (w, size)) {
        memcpy (w->buf + w->size, data, size);
        w->size += size;
    }
}

//  The ALIVE body that the subject signs: id, incarnation, name,
//  address, meta, exactly as on the wire.
static void
s_put_alive_body (s_writer_t *w, const uint8_t *id, uint64_t incarnation, const s_info_t *info)
{
    s_put_bytes (w, id, TM_SWIM_ID_SIZE);
    s_put_u64 (w, incarnation);
    s_put_u8 (w, (uint8_t) info->name_len);
    s_put_bytes (w, info->name, info->name_len);
    s_put_u8 (w, (uint8_t) info->address_len);
    s_put_bytes (w, info->address, info->address_len);
    s_put_u16 (w, (uint16_t) info->meta_size);
    s_put_bytes (w, info->meta, info->meta_size);
}

static s_suspicion_t *
s_suspicion_find (tm_swim_t *self, const uint8_t *id, size_t *position)
{
    for (size_t i = 0; i < self->susp_count; i++)
        if (memcmp (self->susp [i]->id, id, TM_SWIM_ID_SIZE) == 0) {
            if (position)
                *position = i;
            return self->susp [i];
        }
    return NULL;
}

static uint8_t *
s_be (uint8_t *p, uint64_t v, int bytes)
{
    for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8)
        *p++ = (uint8_t) (v >> shift);
    return p;
}

//  Writes member's ALIVE fact if it fits.  Returns false if it did not
//  (nothing written).  This is the hot path of dissemination: one check,
//  straight copies.
static bool
s_put_alive_fact (s_writer_t *w, s_member_t *member)
{
    s_info_t info = s_info (s_blob (member));
    size_t need = 2 + 32 + 8 + 1 + info.name_len + 1 + info.address_len + 2
                + info.meta_size + (info.alive_sig? TM_SWIM_SIG_SIZE: 0);
    if (w->limit == 0? w->cap - w->size < need: !s_writer_room (w, need))
        return false;
    uint8_t *p = w->buf + w->size;
    *p++ = S_FACT_ALIVE;
    *p++ = info.alive_sig? S_FLAG_SIGNED: 0;
    memcpy (p, member->id, TM_SWIM_ID_SIZE);
    p = s_be (p + TM_SWIM_ID_SIZE, member->incarnation, 8);
    *p++ = (uint8_t) info.name_len;
    memcpy (p, info.name, info.name_len);
    p += info.name_len;
    *p++ = (uint8_t) info.address_len;
    memcpy (p, info.address, info.address_len);
    p += info.address_len;
    p = s_be (p, info.meta_size, 2);
    if (info.meta_size)
        memcpy (p, info.meta, info.meta_size);
    p += info.meta_size;
    if (info.alive_sig)
        memcpy (p, info.alive_sig, TM_SWIM_SIG_SIZE);
    w->size += need;
    return true;
}

static void
s_put_suspect_fact (s_writer_t *w, const uint8_t *id, uint64_t incarnation,
                    const uint8_t *from, bool hint)
{
    s_put_u8 (w, S_FACT_SUSPECT);
    s_put_u8 (w, hint? S_FLAG_HINT: 0);
    s_put_bytes (w, id, TM_SWIM_ID_SIZE);
    s_put_u64 (w, incarnation);
    s_put_bytes (w, from, TM_SWIM_ID_SIZE);
}

//  Writes the fact that describes member MI's current state, if it fits
//  in what is left of W.  Returns false if it did not (nothing written;
//  W stays usable unless it is a growing writer at its limit).
static bool
s_put_fact (tm_swim_t *self, s_writer_t *w, uint32_t mi)
{
    s_member_t *member = &self->members [mi];
    size_t mark = w->size;
    switch (member->state) {
        case TM_SWIM_ALIVE:
            return s_put_alive_fact (w, member);
        case TM_SWIM_SUSPECT: {
            if (w->limit == 0 && w->cap - w->size < 2 + 32 + 8 + 32)
                return false;
            s_suspicion_t *susp = s_suspicion_find (self, member->id, NULL);
            s_put_suspect_fact (w, member->id, member->incarnation,
                                susp? susp->last_from: self->members [self->self_index].id,
                                susp? susp->last_hint: false);
            break;
        }
        case TM_SWIM_DEAD:
            if (w->limit == 0 && w->cap - w->size < 2 + 32 + 8)
                return false;
            s_put_u8 (w, S_FACT_DEAD);
            s_put_u8 (w, 0);
            s_put_bytes (w, member->id, TM_SWIM_ID_SIZE);
            s_put_u64 (w, member->incarnation);
            break;
        default: {
            s_info_t info = s_info (s_blob (member));
            if (w->limit == 0
            &&  w->cap - w->size < 2 + 32 + 8 + (info.left_sig? TM_SWIM_SIG_SIZE: 0))
                return false;
            s_put_u8 (w, S_FACT_LEFT);
            s_put_u8 (w, info.left_sig? S_FLAG_SIGNED: 0);
            s_put_bytes (w, member->id, TM_SWIM_ID_SIZE);
            s_put_u64 (w, member->incarnation);
            if (info.left_sig)
                s_put_bytes (w, info.left_sig, TM_SWIM_SIG_SIZE);
        }
    }
    if (!w->ok) {
        w->size = mark;
        return false;
    }
    return true;
}

//  Piggybacks queued broadcasts, least-sent first, into what is left of
//  the packet.  Returns the number of facts added.
static size_t
s_bc_fill (tm_swim_t *self, s_writer_t *w)
{
    if (self->bc_count == 0)
        return 0;
    uint32_t limit = s_retransmit_limit (self);
    size_t picked = 0;
    size_t scanned = 0;
    for (uint32_t b = 0; b < S_BUCKETS && self->bc_count; b++) {
        s_bucket_t *bucket = &self->buckets [b];
        if (bucket->count == 0)
            continue;
        if (b >= limit) {
            //  The cluster shrank: these have been sent enough
            while (bucket->count)
                s_bc_unlink (self, *s_bucket_at (bucket, bucket->count - 1));
            continue;
        }
        //  Newest first.  Members and their info blobs are cache misses:
        //  prefetch them a few entries ahead.
        for (uint32_t i = bucket->count; i-- > 0; ) {
            if (i >= 16)
                __builtin_prefetch (&self->members [*s_bucket_at (bucket, i - 16)]);
            if (i >= 8) {
                s_member_t *ahead = &self->members [*s_bucket_at (bucket, i - 8)];
                if (!ahead->info_inline)
                    __builtin_prefetch (ahead->info.heap);
            }
            if (w->cap - w->size < S_FACT_MIN || scanned > picked + 64)
                goto done;
            scanned++;
            uint32_t mi = *s_bucket_at (bucket, i);
            if (s_put_fact (self, w, mi))
                self->bc_pick [picked++] = mi;
        }
    }
done:
    for (size_t i = 0; i < picked; i++) {
        uint32_t mi = self->bc_pick [i];
        uint32_t sent = self->members [mi].bc_transmits + 1u;
        s_bc_unlink (self, mi);
        if (sent < limit)
            s_bc_link (self, mi, (uint8_t) sent);
    }
    return picked;
}

//  Starts a packet of TYPE in a new buffer of packet_size bytes.
static void
s_begin (tm_swim_t *self, s_writer_t *w, int type)
{
    uint8_t *buf = (uint8_t *) malloc (self->config.packet_size);
    assert (buf);
    s_writer_fixed (w, buf, self->config.packet_size);
    s_put_u8 (w, S_MAGIC0);
    s_put_u8 (w, S_MAGIC1);
    s_put_u8 (w, S_VERSION);
    s_put_u8 (w, (uint8_t) type);
    s_put_bytes (w, self->members [self->self_index].id, TM_SWIM_ID_SIZE);
}

//  Queues DATA (ownership taken) for ADDRESS.
static void
s_queue (tm_swim_t *self, const char *address, const uint8_t *id, uint8_t *data, size_t size)
{
    if (self->out_count >= S_OUTBOX_MAX) {
        self->stats.outbox_dropped++;
        free (data);
        return;
    }
    s_out_t *out = (s_out_t *) calloc (1, sizeof (s_out_t));
    assert (out);
    snprintf (out->packet.address, sizeof out->packet.address, "%s", address);
    if (id) {
        memcpy (out->packet.id, id, TM_SWIM_ID_SIZE);
        out->packet.has_id = true;
    }
    out->packet.data = data;
    out->packet.size = size;
    if (self->out_tail)
        self->out_tail->next = out;
    else
        self->out_head = out;
    self->out_tail = out;
    self->out_count++;
    self->stats.packets_out++;
    self->stats.bytes_out += size;
}

//  Queues the packet built in W (shrunk to its size: glibc does that in
//  place, without copying).
static void
s_commit (tm_swim_t *self, s_writer_t *w, const char *address, const uint8_t *id)
{
    assert (w->ok);
    uint8_t *data = (uint8_t *) realloc (w->buf, w->size);
    assert (data);
    s_queue (self, address, id, data, w->size);
}

//  Drops the packet built in W.
static void
s_abandon (s_writer_t *w)
{
    free (w->buf);
    w->buf = NULL;
}

static const char *
s_address_of (tm_swim_t *self, uint32_t mi)
{
    return s_info (s_blob (&self->members [mi])).address;
}

//  Sends PING SEQ to TARGET at ADDRESS; carries the suspect fact when the
//  target is suspect (buddy system), then piggybacked broadcasts.
static void
s_send_ping (tm_swim_t *self, uint32_t seq, const uint8_t *target, const char *address)
{
    s_writer_t w;
    s_begin (self, &w, S_PING);
    s_put_u32 (&w, seq);
    s_put_bytes (&w, target, TM_SWIM_ID_SIZE);
    uint32_t mi = s_find (self, target);
    if (mi != S_NONE && self->members [mi].state == TM_SWIM_SUSPECT)
        s_put_fact (self, &w, mi);
    s_bc_fill (self, &w);
    s_commit (self, &w, address, target);
}

//  Sends ACK or NACK SEQ to ADDRESS.
static void
s_send_ack (tm_swim_t *self, int type, uint32_t seq, const char *address, const uint8_t *id)
{
    s_writer_t w;
    s_begin (self, &w, type);
    s_put_u32 (&w, seq);
    s_bc_fill (self, &w);
    s_commit (self, &w, address, id);
}

static void
s_send_ping_req (tm_swim_t *self, uint32_t via, uint32_t seq, uint32_t target)
{
    s_writer_t w;
    s_begin (self, &w, S_PING_REQ);
    s_put_u32 (&w, seq);
    s_put_bytes (&w, self->members [target].id, TM_SWIM_ID_SIZE);
    s_info_t info = s_info (s_blob (&self->members [target]));
    s_put_u8 (&w, (uint8_t) info.address_len);
    s_put_bytes (&w, info.address, info.address_len);
    s_put_u8 (&w, S_PR_NACK);
    s_bc_fill (self, &w);
    s_commit (self, &w, s_address_of (self, via), self->members [via].id);
}

//  Sends our whole table as a PUSH-PULL (TYPE) to ADDRESS.
static void
s_send_push_pull (tm_swim_t *self, int type, bool join, const char *address, const uint8_t *id)
{
    s_writer_t w;
    w.cap = 4096;
    w.buf = (uint8_t *) malloc (w.cap);
    assert (w.buf);
    w.size = 0;
    w.limit = TM_SWIM_PUSH_PULL_MAX;
    w.ok = true;
    s_put_u8 (&w, S_MAGIC0);
    s_put_u8 (&w, S_MAGIC1);
    s_put_u8 (&w, S_VERSION);
    s_put_u8 (&w, (uint8_t) type);
    s_put_bytes (&w, self->members [self->self_index].id, TM_SWIM_ID_SIZE);
    s_put_u8 (&w, join? S_PP_JOIN: 0);
    size_t count_at = w.size;
    s_put_u32 (&w, 0);
    uint32_t facts = 0;
    for (uint32_t mi = 0; mi < self->count && w.ok; mi++) {
        s_member_t *member = &self->members [mi];
        size_t mark = w.size;
        uint32_t added = 1;
        //  A suspect member goes as alive + suspect, so that a peer that
        //  never heard of it learns it, then suspects it
        if (member->state == TM_SWIM_SUSPECT) {
            s_put_alive_fact (&w, member);
            added++;
        }
        s_put_fact (self, &w, mi);
        if (!w.ok) {
            //  Table bigger than TM_SWIM_PUSH_PULL_MAX: send what fits
            tm_warn ("swim", "push-pull state truncated at %u of %u members",
                     facts, self->count);
            w.ok = true;
            w.size = mark;
            break;
        }
        facts += added;
    }
    for (int i = 0; i < 4; i++)
        w.buf [count_at + i] = (uint8_t) (facts >> (24 - 8 * i));
    s_queue (self, address, id, w.buf, w.size);
}

//  --------------------------------------------------------------------
//  Signatures

static void
s_sign_self (tm_swim_t *self, bool leaving)
{
    s_member_t *me = &self->members [self->self_index];
    if (!self->config.sign)
        return;
    s_info_t info = s_info (s_blob (me));
    uint8_t buf [8 + S_ALIVE_BODY_MAX];
    s_writer_t w;
    s_writer_fixed (&w, buf, sizeof buf);
    uint8_t alive_sig [TM_SWIM_SIG_SIZE];
    uint8_t left_sig [TM_SWIM_SIG_SIZE];
    bool have_alive = false, have_left = false;
    if (!leaving) {
        s_put_bytes (&w, S_TAG_ALIVE, 8);
        s_put_alive_body (&w, me->id, me->incarnation, &info);
        have_alive = self->config.sign (self->config.crypto_arg, w.buf, w.size, alive_sig) == 0;
    }
    else {
        s_put_bytes (&w, S_TAG_LEFT, 8);
        s_put_bytes (&w, me->id, TM_SWIM_ID_SIZE);
        s_put_u64 (&w, me->incarnation);
        have_left = self->config.sign (self->config.crypto_arg, w.buf, w.size, left_sig) == 0;
        if (info.alive_sig) {
            memcpy (alive_sig, info.alive_sig, TM_SWIM_SIG_SIZE);
            have_alive = true;
        }
    }
    if (!have_alive && !leaving)
        tm_warn ("swim", "could not sign our alive fact; verifying peers will drop it");
    uint8_t *blob = s_info_new (info.name, info.name_len, info.address, info.address_len,
                                info.meta, info.meta_size,
                                have_alive? alive_sig: NULL, have_left? left_sig: NULL);
    s_member_set_info (self, self->self_index, blob);
}

//  True if the fact's signature is good, or signatures are off.
static bool
s_fact_verified (tm_swim_t *self, const s_fact_t *fact)
{
    if (!self->config.verify)
        return true;
    if (!fact->sig) {
        self->stats.bad_signatures++;
        return false;
    }
    uint8_t buf [8 + S_ALIVE_BODY_MAX];
    memcpy (buf, fact->kind == S_FACT_ALIVE? S_TAG_ALIVE: S_TAG_LEFT, 8);
    memcpy (buf + 8, fact->body, fact->body_size);
    if (!self->config.verify (self->config.crypto_arg, fact->id, buf, 8 + fact->body_size,
                              fact->sig)) {
        char hex [17];
        tm_warn ("swim", "dropped %s fact about %s: bad signature",
                 fact->kind == S_FACT_ALIVE? "alive": "left", s_short (fact->id, hex));
        self->stats.bad_signatures++;
        return false;
    }
    return true;
}

//  --------------------------------------------------------------------
//  Suspicion timers

static double
s_suspicion_deadline (tm_swim_t *self, s_suspicion_t *susp)
{
    double timeout;
    if (susp->k < 1)
        timeout = susp->min;
    else {
        double frac = log (susp->n + 1.0) / log (susp->k + 1.0);
        timeout = susp->max - frac * (susp->max - susp->min);
        if (timeout < susp->min)
            timeout = susp->min;
    }
    int hints_wanted = susp->k > 1? susp->k: 1;
    if (susp->hinted >= hints_wanted) {
        double hint_timeout = self->config.suspicion_hint_mult * self->config.probe_interval;
        if (hint_timeout < timeout)
            timeout = hint_timeout;
    }
    return susp->start + timeout;
}

static void
s_suspicion_next (tm_swim_t *self)
{
    self->susp_next = INFINITY;
    for (size_t i = 0; i < self->susp_count; i++)
        if (self->susp [i]->deadline < self->susp_next)
            self->susp_next = self->susp [i]->deadline;
}

static void
s_suspicion_new (tm_swim_t *self, const uint8_t *id, const uint8_t *from, bool hint, double now)
{
    s_suspicion_t *susp = (s_suspicion_t *) calloc (1, sizeof (s_suspicion_t));
    assert (susp);
    memcpy (susp->id, id, TM_SWIM_ID_SIZE);
    int k = self->config.suspicion_mult - 2;
    int n = (int) self->count;
    if (n - 2 < k)
        k = 0;
    double scale = log10 ((double) (n > 1? n: 1));
    if (scale < 1)
        scale = 1;
    susp->k = k;
    susp->min = self->config.suspicion_mult * scale * self->config.probe_interval;
    susp->max = self->config.suspicion_max_timeout_mult * susp->min;
    susp->start = now;
    susp->accusers_cap = k + (k > 1? k: 1) + 2;
    susp->accusers = (uint8_t (*) [TM_SWIM_ID_SIZE]) malloc (susp->accusers_cap * TM_SWIM_ID_SIZE);
    assert (susp->accusers);
    memcpy (susp->accusers [0], from, TM_SWIM_ID_SIZE);
    susp->accusers_count = 1;
    susp->hinted = hint? 1: 0;
    memcpy (susp->last_from, from, TM_SWIM_ID_SIZE);
    susp->last_hint = hint;
    susp->deadline = s_suspicion_deadline (self, susp);
    if (self->susp_count == self->susp_cap) {
        self->susp_cap = self->susp_cap? self->susp_cap * 2: 8;
        self->susp = (s_suspicion_t **) realloc (self->susp, self->susp_cap * sizeof (void *));
        assert (self->susp);
    }
    self->susp [self->susp_count++] = susp;
    if (susp->deadline < self->susp_next)
        self->susp_next = susp->deadline;
}

static void
s_suspicion_remove (tm_swim_t *self, const uint8_t *id)
{
    size_t position;
    s_suspicion_t *susp = s_suspicion_find (self, id, &position);
    if (!susp)
        return;
    free (susp->accusers);
    free (susp);
    self->susp [position] = self->susp [--self->susp_count];
    s_suspicion_next (self);
}

//  Counts FROM as an independent confirmation.  Returns true if it was
//  new information (to be re-gossiped): a new accuser while fewer than k
//  confirmations are in, or a new hinted accuser while fewer than the
//  hinted accusers wanted are in.
static bool
s_suspicion_confirm (tm_swim_t *self, s_suspicion_t *susp, const uint8_t *from, bool hint)
{
    int hints_wanted = susp->k > 1? susp->k: 1;
    bool want_plain = susp->n < susp->k;
    bool want_hint = hint && susp->hinted < hints_wanted;
    if (!want_plain && !want_hint)
        return false;
    for (int i = 0; i < susp->accusers_count; i++)
        if (memcmp (susp->accusers [i], from, TM_SWIM_ID_SIZE) == 0)
            return false;
    if (susp->accusers_count == susp->accusers_cap)
        return false;
    memcpy (susp->accusers [susp->accusers_count++], from, TM_SWIM_ID_SIZE);
    if (want_plain)
        susp->n++;
    if (hint)
        susp->hinted++;
    memcpy (susp->last_from, from, TM_SWIM_ID_SIZE);
    susp->last_hint = hint;
    if (!susp->verifying) {
        susp->deadline = s_suspicion_deadline (self, susp);
        s_suspicion_next (self);
    }
    return true;
}

//  --------------------------------------------------------------------
//  State transitions

//  We are accused (suspect, dead, left, or an alive fact about us newer
//  than ours): take an incarnation past ACCUSED and broadcast alive.
static void
s_refute (tm_swim_t *self, uint64_t accused)
{
    s_member_t *me = &self->members [self->self_index];
    uint64_t incarnation = me->incarnation + 1;
    if (accused >= incarnation)
        incarnation = accused + 1;
    me->incarnation = incarnation;
    s_awareness_delta (self, 1);
    self->stats.refutations++;
    s_sign_self (self, false);
    s_bc_push (self, self->self_index);
    tm_info ("swim", "refuting: incarnation now %llu", (unsigned long long) incarnation);
}

//  Handles a name or address that member ID (about to be added or
//  changed, index SUBJECT or S_NONE) claims.  Dead or left holders are
//  reaped now; live holders are returned in CONFLICTS (ids) for a
//  CONFLICT event once the subject is in place.
static int
s_claims (tm_swim_t *self, int kind, const void *key, size_t len, uint32_t subject,
          uint8_t conflicts [][TM_SWIM_ID_SIZE], int conflict_count)
{
    if (len == 0)
        return conflict_count;
    uint32_t holders [S_CLAIMS_MAX];
    int found = s_find_by_key (self, kind, key, len, subject, holders, S_CLAIMS_MAX);
    uint8_t reap [S_CLAIMS_MAX][TM_SWIM_ID_SIZE];
    int reap_count = 0;
    for (int i = 0; i < found; i++) {
        s_member_t *holder = &self->members [holders [i]];
        if (holders [i] != self->self_index
        && (holder->state == TM_SWIM_DEAD || holder->state == TM_SWIM_LEFT))
            memcpy (reap [reap_count++], holder->id, TM_SWIM_ID_SIZE);
        else
        if (conflict_count < S_CLAIMS_MAX)
            memcpy (conflicts [conflict_count++], holder->id, TM_SWIM_ID_SIZE);
    }
    for (int i = 0; i < reap_count; i++) {
        uint32_t mi = s_find (self, reap [i]);
        char hex [17];
        tm_info ("swim", "member %s replaced by a new identity with its %s",
                 s_short (reap [i], hex), kind == S_BY_NAME? "name": "address");
        s_member_remove (self, mi);
    }
    return conflict_count;
}

static void
s_report_conflicts (tm_swim_t *self, uint32_t mi, int kind,
                    uint8_t conflicts [][TM_SWIM_ID_SIZE], int count)
{
    for (int i = 0; i < count; i++) {
        char hex1 [17], hex2 [17];
        const char *what = kind == S_BY_NAME? "name": "address";
        tm_warn ("swim", "conflict: %s and %s both claim %s '%s'",
                 s_short (self->members [mi].id, hex1), s_short (conflicts [i], hex2), what,
                 kind == S_BY_NAME? s_info (s_blob (&self->members [mi])).name
                                  : s_address_of (self, mi));
        self->stats.conflicts++;
        s_emit (self, TM_SWIM_EVENT_CONFLICT, mi, conflicts [i], what);
    }
}

static bool
s_info_equal_fact (const s_info_t *info, const s_fact_t *fact)
{
    return info->name_len == fact->name_len
        && memcmp (info->name, fact->name, fact->name_len) == 0
        && info->address_len == fact->address_len
        && memcmp (info->address, fact->address, fact->address_len) == 0
        && info->meta_size == fact->meta_size
        && (fact->meta_size == 0 || memcmp (info->meta, fact->meta, fact->meta_size) == 0);
}

static void
s_on_alive (tm_swim_t *self, const s_fact_t *fact, double now)
{
    uint32_t mi = s_find_hashed (self, fact->id, fact->hash);
    if (mi == self->self_index) {
        s_member_t *me = &self->members [mi];
        if (self->left)
            return;
        s_info_t info = s_info (s_blob (me));
        if (fact->incarnation < me->incarnation
        || (fact->incarnation == me->incarnation && s_info_equal_fact (&info, fact)))
            return;
        if (s_fact_verified (self, fact))
            s_refute (self, fact->incarnation);
        return;
    }
    if (mi != S_NONE && fact->incarnation <= self->members [mi].incarnation)
        return;             //  Nothing new: the common case, and cheap
    if (!s_fact_verified (self, fact))
        return;

    uint8_t *blob = s_info_new (fact->name, fact->name_len, fact->address, fact->address_len,
                                fact->meta, fact->meta_size, fact->sig, NULL);
    uint8_t name_conflicts [S_CLAIMS_MAX][TM_SWIM_ID_SIZE];
    uint8_t address_conflicts [S_CLAIMS_MAX][TM_SWIM_ID_SIZE];
    int name_count = 0, address_count = 0;
    char hex [17];

    if (mi == S_NONE && self->count >= S_MEMBERS_MAX) {
        free (blob);
        tm_warn ("swim", "member table full: dropped a new member");
        return;
    }
    if (mi == S_NONE) {
        address_count = s_claims (self, S_BY_ADDRESS, fact->address, fact->address_len,
                                  S_NONE, address_conflicts, 0);
        name_count = s_claims (self, S_BY_NAME, fact->name, fact->name_len,
                               S_NONE, name_conflicts, 0);
        mi = s_member_add (self, fact->id, blob, fact->incarnation, TM_SWIM_ALIVE, now);
        s_bc_push (self, mi);
        tm_debug ("swim", "member %s joined (%.*s at %.*s)", s_short (fact->id, hex),
                  (int) fact->name_len, fact->name, (int) fact->address_len, fact->address);
        s_emit (self, TM_SWIM_EVENT_JOINED, mi, NULL, NULL);
    }
    else {
        s_member_t *member = &self->members [mi];
        s_info_t info = s_info (s_blob (member));
        bool address_changed = info.address_len != fact->address_len
            || memcmp (info.address, fact->address, fact->address_len) != 0;
        bool name_changed = info.name_len != fact->name_len
            || memcmp (info.name, fact->name, fact->name_len) != 0;
        bool changed = !s_info_equal_fact (&info, fact);
        if (address_changed)
            address_count = s_claims (self, S_BY_ADDRESS, fact->address, fact->address_len,
                                      mi, address_conflicts, 0);
        if (name_changed)
            name_count = s_claims (self, S_BY_NAME, fact->name, fact->name_len,
                                   mi, name_conflicts, 0);
        //  s_claims may have moved members around
        mi = s_find (self, fact->id);
        member = &self->members [mi];
        tm_swim_state_t old_state = (tm_swim_state_t) member->state;
        s_member_set_info (self, mi, blob);
        member->incarnation = fact->incarnation;
        if (old_state == TM_SWIM_SUSPECT)
            s_suspicion_remove (self, member->id);
        if (old_state != TM_SWIM_ALIVE)
            s_set_state (self, mi, TM_SWIM_ALIVE, now);
        s_bc_push (self, mi);
        if (old_state == TM_SWIM_DEAD || old_state == TM_SWIM_LEFT) {
            tm_debug ("swim", "member %s rejoined", s_short (fact->id, hex));
            s_emit (self, TM_SWIM_EVENT_JOINED, mi, NULL, NULL);
        }
        else
        if (old_state == TM_SWIM_SUSPECT) {
            tm_debug ("swim", "member %s alive again", s_short (fact->id, hex));
            s_emit (self, TM_SWIM_EVENT_ALIVE, mi, NULL, NULL);
        }
        else
        if (changed)
            s_emit (self, TM_SWIM_EVENT_UPDATED, mi, NULL, NULL);
    }
    s_report_conflicts (self, mi, S_BY_ADDRESS, address_conflicts, address_count);
    s_report_conflicts (self, mi, S_BY_NAME, name_conflicts, name_count);
}

//  A suspect or dead fact about us at an incarnation we have already
//  refuted: whoever still spreads it missed our refutation (gossip
//  delivers it to each node only about retransmit-limit times, and a
//  refutation has a short life).  Queue our alive fact again, so that
//  the answer to this very packet carries it: the buddy PING to a suspect
//  carries the suspicion, and its ACK now carries the cure.  memberlist
//  ignores stale accusations; measured here with all 100 nodes starved of
//  CPU (exponential 25 ms delays), that left about one false 'dead' a
//  minute, each a node that had missed the refutation.
static void
s_stale_accusation (tm_swim_t *self, uint32_t mi)
{
    if (mi == self->self_index && !self->left
    &&  self->members [mi].bc_transmits == S_NOT_QUEUED)
        s_bc_push (self, mi);
}

static void
s_on_suspect (tm_swim_t *self, const uint8_t *id, uint64_t hash, uint64_t incarnation,
              const uint8_t *from, bool hint, double now)
{
    uint32_t mi = s_find_hashed (self, id, hash);
    if (mi == S_NONE)
        return;             //  Never heard of it: ignore
    s_member_t *member = &self->members [mi];
    if (incarnation < member->incarnation) {
        s_stale_accusation (self, mi);
        return;
    }
    s_suspicion_t *susp = s_suspicion_find (self, id, NULL);
    if (susp) {
        if (s_suspicion_confirm (self, susp, from, hint))
            s_bc_push (self, mi);
        return;
    }
    if (member->state != TM_SWIM_ALIVE)
        return;
    if (mi == self->self_index) {
        if (!self->left)
            s_refute (self, incarnation);
        return;
    }
    char hex [17];
    tm_debug ("swim", "member %s suspect%s", s_short (id, hex), hint? " (hinted)": "");
    member->incarnation = incarnation;
    s_set_state (self, mi, TM_SWIM_SUSPECT, now);
    s_suspicion_new (self, id, from, hint, now);
    s_bc_push (self, mi);
    s_emit (self, TM_SWIM_EVENT_SUSPECT, mi, NULL, NULL);
}

static void
s_on_dead (tm_swim_t *self, const uint8_t *id, uint64_t hash, uint64_t incarnation, double now)
{
    uint32_t mi = s_find_hashed (self, id, hash);
    if (mi == S_NONE)
        return;
    s_member_t *member = &self->members [mi];
    if (incarnation < member->incarnation) {
        s_stale_accusation (self, mi);
        return;
    }
    if (member->state == TM_SWIM_DEAD || member->state == TM_SWIM_LEFT)
        return;
    if (mi == self->self_index) {
        if (!self->left)
            s_refute (self, incarnation);
        return;
    }
    char hex [17];
    tm_debug ("swim", "member %s dead", s_short (id, hex));
    s_suspicion_remove (self, id);
    member->incarnation = incarnation;
    s_set_state (self, mi, TM_SWIM_DEAD, now);
    s_bc_push (self, mi);
    s_emit (self, TM_SWIM_EVENT_DEAD, mi, NULL, NULL);
}

//  Suspicion timers that fired.  Before convicting, one last PING (it
//  carries the suspicion: s_send_ping): if the member is alive its ACK
//  carries its refutation (s_stale_accusation) and the suspicion ends
//  there.  Gossip delivers a refutation to each node only about
//  retransmit-limit times, and across a thousand refutations a minute
//  (every node starved of CPU) a few suspecting nodes miss it: without
//  this check each of those convicted a live member.  The wait is one
//  probe interval (times our health multiplier), as for any probe: a
//  starved member answers late, and conviction is final; one probe
//  timeout for a hinted suspicion.
static void
s_suspicions_tick (tm_swim_t *self, double now)
{
    uint8_t due [64][TM_SWIM_ID_SIZE];
    int n = 0;
    for (size_t i = 0; i < self->susp_count && n < 64; i++) {
        s_suspicion_t *susp = self->susp [i];
        if (susp->deadline > now)
            continue;
        uint32_t mi = s_find (self, susp->id);
        if (susp->verifying || mi == S_NONE)
            memcpy (due [n++], susp->id, TM_SWIM_ID_SIZE);
        else {
            //  Hinted: connections dropped and probes failed, seen by
            //  several accusers; the short wait keeps SIGKILL under 1 s
            int hints_wanted = susp->k > 1? susp->k: 1;
            double wait = susp->hinted >= hints_wanted? self->config.probe_timeout
                                                      : self->config.probe_interval;
            susp->verifying = true;
            susp->verify_seq = ++self->seq;
            susp->deadline = now + wait * s_scale (self);
            s_send_ping (self, susp->verify_seq, susp->id, s_address_of (self, mi));
        }
    }
    for (int i = 0; i < n; i++)
        s_declare_dead (self, due [i], now);
    s_suspicion_next (self);
}

//  The last PING before conviction was answered, but the answer did not
//  carry a refutation (it normally does): the member lives, so start
//  the suspicion over rather than convict it.
static bool
s_suspicion_answered (tm_swim_t *self, uint32_t seq, double now)
{
    for (size_t i = 0; i < self->susp_count; i++) {
        s_suspicion_t *susp = self->susp [i];
        if (susp->verifying && susp->verify_seq == seq) {
            susp->verifying = false;
            susp->start = now;
            susp->deadline = s_suspicion_deadline (self, susp);
            s_suspicion_next (self);
            return true;
        }
    }
    return false;
}

//  Our suspicion of MI stands: convict.
static void
s_declare_dead (tm_swim_t *self, const uint8_t *id, double now)
{
    uint32_t mi = s_find (self, id);
    if (mi == S_NONE)
        return;
    s_on_dead (self, id, 0, self->members [mi].incarnation, now);
}

static void
s_on_left (tm_swim_t *self, const s_fact_t *fact, double now)
{
    uint32_t mi = s_find_hashed (self, fact->id, fact->hash);
    if (mi == S_NONE)
        return;
    s_member_t *member = &self->members [mi];
    if (fact->incarnation < member->incarnation || member->state == TM_SWIM_LEFT)
        return;
    if (!s_fact_verified (self, fact))
        return;
    if (mi == self->self_index) {
        //  A left fact about us we did not send: an old one replayed, or
        //  our previous life's.  We are here, so refute it.
        s_refute (self, fact->incarnation);
        return;
    }
    char hex [17];
    tm_debug ("swim", "member %s left", s_short (fact->id, hex));
    s_suspicion_remove (self, fact->id);
    member->incarnation = fact->incarnation;
    s_info_t info = s_info (s_blob (member));
    uint8_t *blob = s_info_new (info.name, info.name_len, info.address, info.address_len,
                                info.meta, info.meta_size, info.alive_sig, fact->sig);
    s_member_set_info (self, mi, blob);
    s_set_state (self, mi, TM_SWIM_LEFT, now);
    s_bc_push (self, mi);
    s_emit (self, TM_SWIM_EVENT_LEFT, mi, NULL, NULL);
}

//  --------------------------------------------------------------------
//  Decoding.  Every function checks every length and field before use.
//
//  Packet:  'S' 'W' version=1 type  sender-id[32]  body  facts...
//    PING (1)        seq:u32 target-id[32]
//    PING-REQ (2)    seq:u32 target-id[32] addr-len:u8 addr flags:u8
//    ACK (3), NACK (4)  seq:u32
//    GOSSIP (5)      (no body)
//    PUSH-PULL (6), PUSH-PULL-REPLY (7)  flags:u8 count:u32, then exactly
//                    count facts and nothing after them
//  Facts (all but push-pull: any number, up to the end of the packet):
//    ALIVE (1)   flags id[32] inc:u64 name-len:u8 name addr-len:u8 addr
//                meta-len:u16 meta [sig[64] if flags & SIGNED]
//    SUSPECT (2) flags id[32] inc:u64 from[32]      (flags: HINT)
//    DEAD (3)    flags id[32] inc:u64               (flags: 0)
//    LEFT (4)    flags id[32] inc:u64 [sig[64] if flags & SIGNED]
//  Integers are big-endian.

static uint8_t
s_get_u8 (s_reader_t *r)
{
    if (r->end - r->p < 1) {
        r->ok = false;
        return 0;
    }
    return *r->p++;
}

static uint64_t
s_get_uint (s_reader_t *r, int bytes)
{
    if (r->end - r->p < bytes) {
        r->ok = false;
        r->p = r->end;
        return 0;
    }
    uint64_t value;
    if (bytes == 8) {
        memcpy (&value, r->p, 8);
        value = be64toh (value);
    }
    else
    if (bytes == 4) {
        uint32_t v32;
        memcpy (&v32, r->p, 4);
        value = be32toh (v32);
    }
    else {
        value = 0;
        for (int i = 0; i < bytes; i++)
            value = (value << 8) | r->p [i];
    }
    r->p += bytes;
    return value;
}

static const uint8_t *
s_get_bytes (s_reader_t *r, size_t n)
{
    if ((size_t) (r->end - r->p) < n) {
        r->ok = false;
        r->p = r->end;
        return NULL;
    }
    const uint8_t *bytes = r->p;
    r->p += n;
    return bytes;
}

//  The fact decoders run twice on a packet: first with CHECK to validate
//  every fact (nothing is applied unless the whole packet is good), then
//  without it to apply them.

static int
s_decode_alive (s_reader_t *r, s_fact_t *fact, bool check)
{
    fact->body = r->p;
    fact->id = s_get_bytes (r, TM_SWIM_ID_SIZE);
    fact->incarnation = s_get_uint (r, 8);
    fact->name_len = s_get_u8 (r);
    fact->name = s_get_bytes (r, fact->name_len);
    fact->address_len = s_get_u8 (r);
    fact->address = s_get_bytes (r, fact->address_len);
    fact->meta_size = s_get_uint (r, 2);
    fact->meta = s_get_bytes (r, fact->meta_size);
    if (!r->ok)
        return -1;
    fact->body_size = r->p - fact->body;
    if (check
    && (fact->flags & ~S_FLAG_SIGNED
    ||  !s_name_valid (fact->name, fact->name_len)
    ||  !s_address_valid (fact->address, fact->address_len)
    ||  fact->meta_size > TM_SWIM_META_MAX))
        return -1;
    if (fact->flags & S_FLAG_SIGNED) {
        fact->sig = s_get_bytes (r, TM_SWIM_SIG_SIZE);
        if (!r->ok)
            return -1;
    }
    return 0;
}

static int
s_decode_suspect (s_reader_t *r, s_fact_t *fact)
{
    fact->id = s_get_bytes (r, TM_SWIM_ID_SIZE);
    fact->incarnation = s_get_uint (r, 8);
    fact->from = s_get_bytes (r, TM_SWIM_ID_SIZE);
    if (!r->ok || fact->flags & ~S_FLAG_HINT)
        return -1;
    return 0;
}

static int
s_decode_dead (s_reader_t *r, s_fact_t *fact)
{
    fact->id = s_get_bytes (r, TM_SWIM_ID_SIZE);
    fact->incarnation = s_get_uint (r, 8);
    if (!r->ok || fact->flags != 0)
        return -1;
    return 0;
}

static int
s_decode_left (s_reader_t *r, s_fact_t *fact)
{
    fact->body = r->p;
    fact->id = s_get_bytes (r, TM_SWIM_ID_SIZE);
    fact->incarnation = s_get_uint (r, 8);
    if (!r->ok || fact->flags & ~S_FLAG_SIGNED)
        return -1;
    fact->body_size = r->p - fact->body;
    if (fact->flags & S_FLAG_SIGNED) {
        fact->sig = s_get_bytes (r, TM_SWIM_SIG_SIZE);
        if (!r->ok)
            return -1;
    }
    return 0;
}

static int
s_decode_fact (s_reader_t *r, s_fact_t *fact, bool check)
{
    fact->sig = NULL;
    fact->from = NULL;
    fact->hash = 0;
    fact->kind = s_get_u8 (r);
    fact->flags = s_get_u8 (r);
    if (!r->ok)
        return -1;
    switch (fact->kind) {
        case S_FACT_ALIVE:   return s_decode_alive (r, fact, check);
        case S_FACT_SUSPECT: return s_decode_suspect (r, fact);
        case S_FACT_DEAD:    return s_decode_dead (r, fact);
        case S_FACT_LEFT:    return s_decode_left (r, fact);
        default:             return -1;
    }
}

//  Checks every fact up to the end of the packet; sets packet->count.
static int
s_decode_facts (s_reader_t *r, s_packet_t *packet)
{
    packet->facts = r->p;
    packet->end = r->end;
    packet->count = 0;
    while (r->p < r->end) {
        if (packet->offsets) {
            if (packet->count == *packet->offsets_cap) {
                *packet->offsets_cap = *packet->offsets_cap? *packet->offsets_cap * 2: 256;
                *packet->offsets = (uint32_t *) realloc (*packet->offsets,
                                                         *packet->offsets_cap * sizeof (uint32_t));
                assert (*packet->offsets);
            }
            (*packet->offsets) [packet->count] = (uint32_t) (r->p - packet->data);
        }
        s_fact_t fact;
        if (s_decode_fact (r, &fact, true))
            return -1;
        packet->count++;
    }
    return 0;
}

static int
s_decode_ping (s_reader_t *r, s_packet_t *packet)
{
    packet->seq = (uint32_t) s_get_uint (r, 4);
    packet->target = s_get_bytes (r, TM_SWIM_ID_SIZE);
    if (!r->ok)
        return -1;
    return s_decode_facts (r, packet);
}

static int
s_decode_ping_req (s_reader_t *r, s_packet_t *packet)
{
    packet->seq = (uint32_t) s_get_uint (r, 4);
    packet->target = s_get_bytes (r, TM_SWIM_ID_SIZE);
    packet->target_address_len = s_get_u8 (r);
    packet->target_address = s_get_bytes (r, packet->target_address_len);
    packet->flags = s_get_u8 (r);
    if (!r->ok || packet->flags & ~S_PR_NACK
    ||  !s_address_valid (packet->target_address, packet->target_address_len))
        return -1;
    return s_decode_facts (r, packet);
}

static int
s_decode_ack (s_reader_t *r, s_packet_t *packet)
{
    packet->seq = (uint32_t) s_get_uint (r, 4);
    if (!r->ok)
        return -1;
    return s_decode_facts (r, packet);
}

static int
s_decode_gossip (s_reader_t *r, s_packet_t *packet)
{
    return s_decode_facts (r, packet);
}

static int
s_decode_push_pull (s_reader_t *r, s_packet_t *packet)
{
    packet->flags = s_get_u8 (r);
    uint32_t count = (uint32_t) s_get_uint (r, 4);
    if (!r->ok || packet->flags & ~S_PP_JOIN)
        return -1;
    //  Each fact takes at least S_FACT_MIN bytes: reject absurd counts early
    if ((uint64_t) count * S_FACT_MIN > (uint64_t) (r->end - r->p))
        return -1;
    if (s_decode_facts (r, packet) || packet->count != count)
        return -1;
    return 0;
}

//  Decodes and checks the whole packet.  If OFFSETS is not NULL the
//  offset of each fact is recorded there (grown with realloc).
static int
s_decode_packet (const uint8_t *data, size_t size, s_packet_t *packet,
                 uint32_t **offsets, size_t *offsets_cap)
{
    memset (packet, 0, sizeof *packet);
    packet->data = data;
    packet->offsets = offsets;
    packet->offsets_cap = offsets_cap;
    if (size < S_HEADER_SIZE || size > TM_SWIM_PUSH_PULL_MAX)
        return -1;
    s_reader_t reader = { data, data + size, true };
    s_reader_t *r = &reader;
    uint8_t magic0 = s_get_u8 (r);
    uint8_t magic1 = s_get_u8 (r);
    uint8_t version = s_get_u8 (r);
    packet->type = s_get_u8 (r);
    packet->sender = s_get_bytes (r, TM_SWIM_ID_SIZE);
    if (!r->ok || magic0 != S_MAGIC0 || magic1 != S_MAGIC1 || version != S_VERSION)
        return -1;
    if (packet->type != S_PUSH_PULL && packet->type != S_PUSH_PULL_REPLY
    &&  size > TM_SWIM_PACKET_MAX)
        return -1;
    switch (packet->type) {
        case S_PING:            return s_decode_ping (r, packet);
        case S_PING_REQ:        return s_decode_ping_req (r, packet);
        case S_ACK:
        case S_NACK:            return s_decode_ack (r, packet);
        case S_GOSSIP:          return s_decode_gossip (r, packet);
        case S_PUSH_PULL:
        case S_PUSH_PULL_REPLY: return s_decode_push_pull (r, packet);
        default:                return -1;
    }
}

static void
s_apply_fact (tm_swim_t *self, const s_fact_t *fact, const s_packet_t *packet,
              int source, double now)
{
    self->stats.facts_in++;
    switch (fact->kind) {
        case S_FACT_ALIVE:
            s_on_alive (self, fact, now);
            break;
        case S_FACT_SUSPECT:
            s_on_suspect (self, fact->id, fact->hash, fact->incarnation, fact->from,
                          (fact->flags & S_FLAG_HINT) != 0, now);
            break;
        case S_FACT_DEAD:
            //  A peer's push-pull saying dead only makes us suspect:
            //  the member gets its chance to refute
            if (source == S_SOURCE_PUSH_PULL)
                s_on_suspect (self, fact->id, fact->hash, fact->incarnation, packet->sender,
                              false, now);
            else
                s_on_dead (self, fact->id, fact->hash, fact->incarnation, now);
            break;
        case S_FACT_LEFT:
            s_on_left (self, fact, now);
            break;
    }
}

//  Applies the facts of an already-validated packet, in chunks: first
//  prefetch the hash slots of a chunk's ids, then the members they point
//  to, then apply.  Most facts are about members we already know at
//  that incarnation; this turns their two cache misses each into
//  overlapping ones, which is most of the simulator's time at 10^4 nodes.
static void
s_apply_facts (tm_swim_t *self, const s_packet_t *packet, int source, double now)
{
    //  A software pipeline over the facts: hash an id and prefetch its
    //  slot S_SLOT_AHEAD facts ahead of applying it, read the slot and
    //  prefetch the member S_MEMBER_AHEAD facts ahead.
    enum { S_SLOT_AHEAD = 16, S_MEMBER_AHEAD = 8, RING = 32 };
    uint64_t hashes [RING];
    const uint32_t *offsets = self->offsets;
    uint32_t n = packet->count;
    for (uint32_t i = 0; i < n + S_SLOT_AHEAD; i++) {
        if (i < n) {
            uint64_t hash = s_hash_id (self, packet->data + offsets [i] + 2);
            hashes [i % RING] = hash;
            __builtin_prefetch (&self->by_id.slots [(uint32_t) hash & self->by_id.mask]);
        }
        uint32_t m = i - (S_SLOT_AHEAD - S_MEMBER_AHEAD);
        if (i >= S_SLOT_AHEAD - S_MEMBER_AHEAD && m < n) {
            uint64_t hash = hashes [m % RING];
            uint32_t entry = self->by_id.slots [(uint32_t) hash & self->by_id.mask];
            if (entry != S_SLOT_EMPTY && s_slot_tag_is (entry, hash)) {
                s_member_t *member = &self->members [entry & S_SLOT_INDEX];
                __builtin_prefetch (member);
                __builtin_prefetch ((uint8_t *) member + 39);
            }
        }
        if (i >= S_SLOT_AHEAD) {
            uint32_t a = i - S_SLOT_AHEAD;
            const uint8_t *start = packet->data + offsets [a];
            if (start [0] == S_FACT_ALIVE) {
                //  Most facts are alive facts we already have: look at the
                //  id and incarnation only (s_on_alive's first test)
                uint64_t incarnation;
                memcpy (&incarnation, start + 2 + TM_SWIM_ID_SIZE, 8);
                incarnation = be64toh (incarnation);
                uint32_t mi = s_find_hashed (self, start + 2, hashes [a % RING]);
                if (mi != S_NONE && mi != self->self_index
                &&  incarnation <= self->members [mi].incarnation) {
                    self->stats.facts_in++;
                    continue;
                }
            }
            s_reader_t r = { start, packet->end, true };
            s_fact_t fact;
            int rc = s_decode_fact (&r, &fact, false);
            assert (rc == 0);       //  Validated by s_decode_packet
            (void) rc;
            fact.hash = hashes [a % RING];
            s_apply_fact (self, &fact, packet, source, now);
        }
    }
}

//  --------------------------------------------------------------------
//  Probing

static bool
s_being_probed (tm_swim_t *self, const uint8_t *id)
{
    for (int i = 0; i < S_PROBES; i++)
        if (self->probes [i].active
        &&  memcmp (self->probes [i].target, id, TM_SWIM_ID_SIZE) == 0)
            return true;
    return false;
}

//  Picks up to K distinct random members, not us, not EXCEPT, matching
//  FILTER.  Returns how many.
static int
s_pick (tm_swim_t *self, int k, int filter, uint32_t except, uint32_t *out, double now)
{
    int found = 0;
    uint32_t seen = 0;
    bool small = self->count <= (uint32_t) (4 * k + 32);
    uint32_t attempts = small? self->count: (uint32_t) (3 * k + 16);
    for (uint32_t a = 0; a < attempts && (small || found < k); a++) {
        uint32_t mi = small? a: s_rand_below (self, self->count);
        if (mi == self->self_index || mi == except)
            continue;
        s_member_t *member = &self->members [mi];
        bool ok;
        if (filter == S_PICK_ALIVE)
            ok = member->state == TM_SWIM_ALIVE;
        else
            ok = member->state == TM_SWIM_ALIVE || member->state == TM_SWIM_SUSPECT
              || (member->state == TM_SWIM_DEAD
                  && s_since_epoch (self, now) - member->state_change
                     < self->config.gossip_to_the_dead);
        if (!ok)
            continue;
        if (small) {
            //  Reservoir sampling: a uniform k-subset of the eligible
            seen++;
            if (found < k)
                out [found++] = mi;
            else {
                uint32_t j = s_rand_below (self, seen);
                if (j < (uint32_t) k)
                    out [j] = mi;
            }
        }
        else {
            bool dup = false;
            for (int i = 0; i < found; i++)
                dup |= out [i] == mi;
            if (!dup)
                out [found++] = mi;
        }
    }
    return found;
}

static void
s_probe_start (tm_swim_t *self, s_probe_t *probe, uint32_t mi, bool hinted, double now)
{
    s_member_t *member = &self->members [mi];
    memset (probe, 0, sizeof *probe);
    probe->active = true;
    probe->hinted = hinted;
    memcpy (probe->target, member->id, TM_SWIM_ID_SIZE);
    probe->incarnation = member->incarnation;
    probe->seq = ++self->seq;
    probe->start = now;
    probe->ack_deadline = now + self->config.probe_timeout * s_scale (self);
    probe->deadline = now + self->config.probe_interval * s_scale (self);
    self->stats.probes++;
    s_send_ping (self, probe->seq, member->id, s_address_of (self, mi));
}

static void
s_probe_success (tm_swim_t *self, s_probe_t *probe)
{
    probe->active = false;
    s_awareness_delta (self, -1);
}

static void
s_probe_failed (tm_swim_t *self, s_probe_t *probe, double now)
{
    probe->active = false;
    self->stats.probes_failed++;
    char hex [17];
    //  Lifeguard: missing NACKs mean the trouble may be ours
    int delta = 1;
    if (probe->nacks_expected > 0) {
        delta = probe->nacks_expected - probe->nacks;
        self->stats.nacks_missed += delta;
    }
    s_awareness_delta (self, delta);
    //  Over a path the transport is still setting up (a first connection
    //  and its handshake, which on a busy host can take longer than the
    //  probe) a missing ACK is no evidence against the member: its next
    //  probe, or other members', judges it.  (Our health still counts
    //  it: a host that slow wants longer probes.)
    uint32_t mi = s_find (self, probe->target);
    if (self->config.path_new && mi != S_NONE
    &&  self->config.path_new (self->config.path_arg, probe->target,
                               s_address_of (self, mi), now)) {
        self->stats.probes_excused++;
        tm_debug ("swim", "probe of %s failed over a new path: excused",
                  s_short (probe->target, hex));
        return;
    }
    //  Lifeguard again: no relay answered, not even with a NACK, so we
    //  heard from nobody, and the likeliest trouble is ours (a starved
    //  process, a saturated host), not the member's.  memberlist accuses
    //  anyway; we look once more first, at once and with the timeouts our
    //  raised health score now scales, and accuse only if that fails too.
    //  While 100 agents formed a cluster on two cores, ~20 probes a run
    //  ended this way (no NACK of 3, awareness 0 before) and each sent a
    //  suspicion and its refutation round the whole cluster; with the
    //  second look 2-3 did.  A member that is really gone costs one probe
    //  more (its relays NACK when we are healthy, so it rarely gets here)
    if (probe->nacks_expected > 0 && probe->nacks == 0 && !probe->retry && !probe->hinted
    &&  mi != S_NONE) {
        self->stats.probes_retried++;
        self->retry_pending = true;
        memcpy (self->retry_id, probe->target, TM_SWIM_ID_SIZE);
        self->next_probe = now;
        tm_debug ("swim", "probe of %s failed and no relay answered: looking again",
                  s_short (probe->target, hex));
        return;
    }
    tm_debug ("swim", "probe of %s failed (%d/%d nacks)", s_short (probe->target, hex),
              probe->nacks, probe->nacks_expected);
    s_on_suspect (self, probe->target, 0, probe->incarnation,
                  self->members [self->self_index].id, probe->hinted, now);
}

//  Advances probes in flight: indirect probes at the direct timeout,
//  suspicion at the end.
static void
s_probes_tick (tm_swim_t *self, double now)
{
    for (int i = 0; i < S_PROBES; i++) {
        s_probe_t *probe = &self->probes [i];
        if (!probe->active)
            continue;
        if (now >= probe->deadline) {
            s_probe_failed (self, probe, now);
            continue;
        }
        if (!probe->indirect_sent && now >= probe->ack_deadline) {
            probe->indirect_sent = true;
            uint32_t target = s_find (self, probe->target);
            if (target == S_NONE)
                continue;
            uint32_t via [64];
            int k = self->config.indirect_checks < 64? self->config.indirect_checks: 64;
            int n = s_pick (self, k, S_PICK_ALIVE, target, via, now);
            for (int j = 0; j < n; j++)
                s_send_ping_req (self, via [j], probe->seq, target);
            probe->nacks_expected = n;
            self->stats.indirect_probes += n;
        }
    }
}

//  Next member in the shuffled round-robin, or S_NONE.
static uint32_t
s_probe_next_target (tm_swim_t *self)
{
    for (uint32_t checked = 0; checked <= self->count; checked++) {
        if (self->probe_index >= self->count) {
            //  New round: reshuffle
            for (uint32_t i = self->count - 1; i > 0; i--) {
                uint32_t j = s_rand_below (self, i + 1);
                uint32_t t = self->probe_order [i];
                self->probe_order [i] = self->probe_order [j];
                self->probe_order [j] = t;
            }
            for (uint32_t i = 0; i < self->count; i++)
                self->members [self->probe_order [i]].probe_pos = i;
            self->probe_index = 0;
        }
        uint32_t mi = self->probe_order [self->probe_index++];
        s_member_t *member = &self->members [mi];
        if (mi == self->self_index
        ||  member->state == TM_SWIM_DEAD || member->state == TM_SWIM_LEFT
        ||  s_being_probed (self, member->id))
            continue;
        return mi;
    }
    return S_NONE;
}

static void
s_on_ack (tm_swim_t *self, uint32_t seq, double now)
{
    if (self->susp_count && s_suspicion_answered (self, seq, now))
        return;
    for (int i = 0; i < S_PROBES; i++)
        if (self->probes [i].active && self->probes [i].seq == seq) {
            s_probe_success (self, &self->probes [i]);
            return;
        }
    for (size_t i = 0; i < self->relay_count; i++)
        if (self->relays [i].seq == seq) {
            //  Back where the PING-REQ came from (s_reply_address)
            s_relay_t *relay = &self->relays [i];
            s_send_ack (self, S_ACK, relay->origin_seq, relay->origin_address, relay->origin_id);
            memmove (relay, relay + 1, (self->relay_count - i - 1) * sizeof (s_relay_t));
            self->relay_count--;
            if (i < self->relay_nacked)
                self->relay_nacked--;
            return;
        }
}

static void
s_on_nack (tm_swim_t *self, uint32_t seq)
{
    for (int i = 0; i < S_PROBES; i++) {
        s_probe_t *probe = &self->probes [i];
        if (probe->active && probe->seq == seq && probe->indirect_sent
        &&  probe->nacks < probe->nacks_expected) {
            probe->nacks++;
            return;
        }
    }
}

//  The NACK goes out before the requester's probe ends: it sent the
//  PING-REQ at probe_timeout and gives up at probe_interval (both times its
//  health multiplier), so we wait at most 80% of what is left of that.
static double
s_relay_timeout (tm_swim_t *self)
{
    double timeout = 0.8 * (self->config.probe_interval - self->config.probe_timeout);
    return timeout < self->config.probe_timeout? timeout: self->config.probe_timeout;
}

static void
s_relays_tick (tm_swim_t *self, double now)
{
    //  Relays are sorted by deadline, and expire a fixed time after it, so
    //  the NACKed ones are a prefix and the expired ones a prefix of that
    while (self->relay_nacked < self->relay_count
    &&     self->relays [self->relay_nacked].deadline <= now) {
        s_relay_t *relay = &self->relays [self->relay_nacked++];
        if (relay->want_nack)
            s_send_ack (self, S_NACK, relay->origin_seq, relay->origin_address,
                        relay->origin_id);
    }
    size_t expired = 0;
    while (expired < self->relay_nacked && self->relays [expired].expire <= now)
        expired++;
    if (expired) {
        memmove (self->relays, self->relays + expired,
                 (self->relay_count - expired) * sizeof (s_relay_t));
        self->relay_count -= expired;
        self->relay_nacked -= expired;
    }
}

//  Where to answer SENDER: FROM_ADDRESS, where it says it is now, if
//  valid; else the address our table has for it; else NULL.
//  FROM_ADDRESS first because the table may hold a previous life's: a
//  node restarted with its key on a new port sends its join push-pull
//  from there, at incarnation 0, so we keep its old entry (a lower
//  incarnation changes nothing) and, answering at the old address, it
//  never learned the incarnation it must refute past: it rejoined only
//  once we had reaped it (5 minutes, LAN profile).  Answered where it
//  is, it hears its old self, refutes, and its signed alive fact at the
//  higher incarnation moves its address everywhere (s_on_alive).
//  memberlist answers at the packet's source too.  An answer is all
//  FROM_ADDRESS ever gets: it never changes the table, so a replayed
//  packet cannot move anyone.
static const char *
s_reply_address (tm_swim_t *self, const uint8_t *sender, const char *from_address)
{
    if (from_address && s_address_valid ((const uint8_t *) from_address, strlen (from_address)))
        return from_address;
    uint32_t mi = s_find (self, sender);
    if (mi != S_NONE)
        return s_address_of (self, mi);
    return NULL;
}

static void
s_on_ping_req (tm_swim_t *self, const s_packet_t *packet, const char *from_address, double now)
{
    const char *origin_address = s_reply_address (self, packet->sender, from_address);
    if (!origin_address)
        return;
    if (memcmp (packet->target, self->members [self->self_index].id, TM_SWIM_ID_SIZE) == 0) {
        //  We are the target: answer directly
        s_send_ack (self, S_ACK, packet->seq, origin_address, packet->sender);
        return;
    }
    if (self->relay_count == S_RELAYS_MAX) {
        self->stats.relays_dropped++;
        return;
    }
    if (self->relay_count == self->relay_cap) {
        self->relay_cap = self->relay_cap? self->relay_cap * 2: 4;
        self->relays = (s_relay_t *) realloc (self->relays, self->relay_cap * sizeof (s_relay_t));
        assert (self->relays);
    }
    s_relay_t *relay = &self->relays [self->relay_count++];
    relay->seq = ++self->seq;
    relay->origin_seq = packet->seq;
    memcpy (relay->origin_id, packet->sender, TM_SWIM_ID_SIZE);
    snprintf (relay->origin_address, sizeof relay->origin_address, "%s", origin_address);
    relay->want_nack = (packet->flags & S_PR_NACK) != 0;
    relay->deadline = now + s_relay_timeout (self);
    if (self->relay_count > 1 && relay->deadline < relay [-1].deadline)
        relay->deadline = relay [-1].deadline;      //  Keep the FIFO sorted
    relay->expire = relay->deadline + self->config.probe_timeout;
    char target_address [TM_SWIM_ADDRESS_MAX + 1];
    memcpy (target_address, packet->target_address, packet->target_address_len);
    target_address [packet->target_address_len] = 0;
    s_send_ping (self, relay->seq, packet->target, target_address);
}

//  --------------------------------------------------------------------
//  Gossip, push-pull, joins, reaping

static void
s_gossip (tm_swim_t *self, int nodes, double now)
{
    if (self->bc_count == 0)
        return;
    uint32_t targets [64];
    int n = s_pick (self, nodes < 64? nodes: 64, S_PICK_GOSSIP, S_NONE, targets, now);
    for (int i = 0; i < n && self->bc_count; i++) {
        s_writer_t w;
        s_begin (self, &w, S_GOSSIP);
        if (s_bc_fill (self, &w) == 0) {
            s_abandon (&w);
            break;
        }
        s_commit (self, &w, s_address_of (self, targets [i]), self->members [targets [i]].id);
    }
}

static double
s_push_pull_interval (tm_swim_t *self)
{
    double interval = self->config.push_pull_interval;
    if (self->count > 32)
        interval *= ceil (log2 ((double) self->count) - log2 (32.0)) + 1;
    return interval;
}

static void
s_push_pull (tm_swim_t *self, double now)
{
    uint32_t target;
    if (s_pick (self, 1, S_PICK_ALIVE, S_NONE, &target, now) == 1)
        s_send_push_pull (self, S_PUSH_PULL, false, s_address_of (self, target),
                          self->members [target].id);
    //  Reconnect: half the time, also sync with a random dead member.
    //  After a partition each side thinks the other dead; this is how
    //  they find each other again.
    if (self->reap_count && s_rand_below (self, 2) == 0) {
        s_reap_t *entry = &self->reaps [(self->reap_head + s_rand_below (self, (uint32_t) self->reap_count))
                                        & (self->reap_cap - 1)];
        uint32_t mi = s_find (self, entry->id);
        if (mi != S_NONE && self->members [mi].state == TM_SWIM_DEAD)
            s_send_push_pull (self, S_PUSH_PULL, false, s_address_of (self, mi),
                              self->members [mi].id);
    }
}

static void
s_joins_tick (tm_swim_t *self, double now)
{
    for (size_t i = 0; i < self->join_count; ) {
        s_join_t *join = &self->joins [i];
        if (join->next_attempt > now) {
            i++;
            continue;
        }
        if (join->attempts == S_JOIN_ATTEMPTS) {
            tm_warn ("swim", "giving up joining through %s: no answer", join->address);
            *join = self->joins [--self->join_count];
            continue;
        }
        //  Backoff: 2 probe intervals, doubling, at most a push-pull interval
        double wait = 2 * self->config.probe_interval * (double) (1u << join->attempts);
        if (wait > self->config.push_pull_interval)
            wait = self->config.push_pull_interval;
        join->attempts++;
        join->next_attempt = now + wait;
        s_send_push_pull (self, S_PUSH_PULL, true, join->address, NULL);
        i++;
    }
}

static void
s_joins_answered (tm_swim_t *self, const uint8_t *sender, const char *from_address, double now)
{
    uint32_t mi = s_find (self, sender);
    const char *known = mi != S_NONE? s_address_of (self, mi): NULL;
    for (size_t i = 0; i < self->join_count; ) {
        if ((from_address && streq (self->joins [i].address, from_address))
        ||  (known && streq (self->joins [i].address, known))) {
            self->joins [i] = self->joins [--self->join_count];
            //  Catch-up sync: see s_catch_up
            self->catch_up = now + 10 * self->config.gossip_interval;
            self->catch_up_tries = 0;
        }
        else
            i++;
    }
}

//  Gossip delivers a fact to each node about retransmit-limit times on
//  average, so in a join storm of N nodes about N^2 * e^-limit (node,
//  member) pairs are still missing when the gossip is over; the periodic
//  push-pull (scaled: minutes at 10^4 nodes) would be the only cure.  So
//  a node that joined does one early push-pull as soon as its broadcast
//  queue has drained (the storm it took part in is over), at least 10
//  gossip intervals after the seed answered.
//  It is retried (3 tries) until a push-pull reply comes back: a lost
//  catch-up left a node missing members until the periodic sync.
static void
s_catch_up (tm_swim_t *self, double now)
{
    if (self->catch_up > 0 && now >= self->catch_up && self->bc_count == 0) {
        if (self->left || self->catch_up_tries == 3) {
            self->catch_up = 0;
            return;
        }
        uint32_t target;
        if (s_pick (self, 1, S_PICK_ALIVE, S_NONE, &target, now) == 1)
            s_send_push_pull (self, S_PUSH_PULL, false, s_address_of (self, target),
                              self->members [target].id);
        self->catch_up_tries++;
        self->catch_up = now + 5 * self->config.probe_interval;
    }
}

static void
s_reap (tm_swim_t *self, double now)
{
    while (self->reap_count) {
        s_reap_t *entry = &self->reaps [self->reap_head];
        if (self->epoch + entry->since + self->config.dead_reclaim > now)
            break;
        uint32_t mi = s_find (self, entry->id);
        if (mi != S_NONE && mi != self->self_index
        && (self->members [mi].state == TM_SWIM_DEAD || self->members [mi].state == TM_SWIM_LEFT)
        &&  self->members [mi].state_change == entry->since) {
            char hex [17];
            tm_debug ("swim", "reaping %s", s_short (entry->id, hex));
            s_member_remove (self, mi);
        }
        self->reap_head = (self->reap_head + 1) & (self->reap_cap - 1);
        self->reap_count--;
    }
}

//  --------------------------------------------------------------------
//  Public API

void
tm_swim_config_lan (tm_swim_config_t *config)
{
    memset (config, 0, sizeof *config);
    config->probe_interval = 0.2;
    config->probe_timeout = 0.1;
    config->indirect_checks = 3;
    config->retransmit_mult = 4;
    config->suspicion_mult = 4;
    config->suspicion_max_timeout_mult = 6;
    config->suspicion_hint_mult = 2;
    config->awareness_max = 8;
    config->gossip_interval = 0.2;
    config->gossip_nodes = 3;
    config->gossip_to_the_dead = 10;
    config->push_pull_interval = 15;
    config->dead_reclaim = 300;
    config->packet_size = 8192;
}

void
tm_swim_config_fast (tm_swim_config_t *config)
{
    tm_swim_config_lan (config);
    config->probe_interval = 0.05;
    config->probe_timeout = 0.02;
    config->gossip_interval = 0.02;
    config->gossip_to_the_dead = 1;
    config->push_pull_interval = 1;
    config->dead_reclaim = 5;
}

static bool
s_config_valid (const tm_swim_config_t *c)
{
    return c->probe_interval > 0 && c->probe_timeout > 0
        && c->probe_timeout <= c->probe_interval
        && c->indirect_checks >= 0 && c->retransmit_mult >= 1
        && c->suspicion_mult >= 1 && c->suspicion_max_timeout_mult >= 1
        && c->suspicion_hint_mult >= 1 && c->awareness_max >= 1
        && c->gossip_interval > 0 && c->gossip_nodes >= 1
        && c->gossip_to_the_dead >= 0 && c->push_pull_interval > 0
        && c->dead_reclaim >= 0
        && c->packet_size >= 512 && c->packet_size <= TM_SWIM_PACKET_MAX;
}

tm_swim_t *
tm_swim_new (const tm_swim_config_t *config, const uint8_t id [TM_SWIM_ID_SIZE],
             const char *name, const char *address,
             const void *meta, size_t meta_size, double now)
{
    assert (config && id);
    if (!name)
        name = "";
    if (!s_config_valid (config)) {
        tm_error ("swim", "invalid configuration");
        return NULL;
    }
    if (!address || !s_address_valid ((const uint8_t *) address, strlen (address))) {
        tm_error ("swim", "invalid address '%s': want host:port", address? address: "(null)");
        return NULL;
    }
    if (!s_name_valid ((const uint8_t *) name, strlen (name))) {
        tm_error ("swim", "invalid name: at most %d bytes, no control characters",
                  TM_SWIM_NAME_MAX);
        return NULL;
    }
    if (meta_size > TM_SWIM_META_MAX || (meta_size && !meta)) {
        tm_error ("swim", "metadata over %d bytes", TM_SWIM_META_MAX);
        return NULL;
    }
    tm_swim_t *self = (tm_swim_t *) calloc (1, sizeof (tm_swim_t));
    assert (self);
    self->config = *config;
    self->rng = config->random_seed;
    if (self->rng == 0)
        randombytes_buf (&self->rng, sizeof self->rng);
    self->hash_key [0] = s_rand (self);
    self->hash_key [1] = s_rand (self);
    s_index_init (&self->by_id, 16);
    s_index_init (&self->by_name, 16);
    s_index_init (&self->by_address, 16);
    for (int b = 0; b < S_BUCKETS; b++)
        memset (&self->buckets [b], 0, sizeof (s_bucket_t));
    self->bc_pick = (uint32_t *) malloc ((config->packet_size / S_FACT_MIN + 1) * sizeof (uint32_t));
    assert (self->bc_pick);
    self->susp_next = INFINITY;
    self->epoch = now;

    uint8_t *blob = s_info_new (name, strlen (name), address, strlen (address),
                                meta, meta_size, NULL, NULL);
    self->self_index = s_member_add (self, id, blob, 0, TM_SWIM_ALIVE, now);
    s_sign_self (self, false);
    self->now = now;
    //  Stagger the timers so that nodes started together do not tick together
    self->next_probe = now + s_rand_unit (self) * config->probe_interval;
    self->next_gossip = now + s_rand_unit (self) * config->gossip_interval;
    self->next_push_pull = now + (1 + s_rand_unit (self)) * config->push_pull_interval;
    assert (s_invariants_hold (self));
    return self;
}

void
tm_swim_destroy (tm_swim_t **self_p)
{
    assert (self_p);
    tm_swim_t *self = *self_p;
    if (!self)
        return;
    for (uint32_t i = 0; i < self->count; i++)
        s_blob_free (&self->members [i]);
    free (self->members);
    free (self->probe_order);
    free (self->by_id.slots);
    free (self->by_name.slots);
    free (self->by_address.slots);
    for (size_t i = 0; i < self->susp_count; i++) {
        free (self->susp [i]->accusers);
        free (self->susp [i]);
    }
    free (self->susp);
    free (self->relays);
    free (self->reaps);
    while (self->out_head) {
        s_out_t *next = self->out_head->next;
        free (self->out_head->packet.data);
        free (self->out_head);
        self->out_head = next;
    }
    free (self->bc_pick);
    free (self->offsets);
    for (int b = 0; b < S_BUCKETS; b++) {
        for (uint32_t c = 0; c < self->buckets [b].nchunks; c++)
            free (self->buckets [b].chunks [c]);
        free (self->buckets [b].chunks);
    }
    free (self);
    *self_p = NULL;
}

int
tm_swim_join (tm_swim_t *self, const char *seed_address, double now)
{
    assert (self);
    if (!seed_address || !s_address_valid ((const uint8_t *) seed_address, strlen (seed_address))
    ||  streq (seed_address, s_address_of (self, self->self_index))) {
        tm_warn ("swim", "cannot join through '%s'", seed_address? seed_address: "(null)");
        return -1;
    }
    if (self->left)
        return -1;
    for (size_t i = 0; i < self->join_count; i++)
        if (streq (self->joins [i].address, seed_address)) {
            self->joins [i].next_attempt = now;
            self->joins [i].attempts = 0;
            s_joins_tick (self, now);
            return 0;
        }
    if (self->join_count == S_JOINS_MAX)
        return -1;
    s_join_t *join = &self->joins [self->join_count++];
    snprintf (join->address, sizeof join->address, "%s", seed_address);
    join->next_attempt = now;
    join->attempts = 0;
    s_joins_tick (self, now);
    return 0;
}

int
tm_swim_receive (tm_swim_t *self, const char *from_address,
                 const void *data, size_t size, double now)
{
    assert (self);
    if (now > self->now)
        self->now = now;
    self->stats.packets_in++;
    self->stats.bytes_in += size;
    s_packet_t packet;
    if (!data || s_decode_packet ((const uint8_t *) data, size, &packet,
                                  &self->offsets, &self->offsets_cap)) {
        self->stats.malformed++;
        tm_debug ("swim", "malformed packet (%zu bytes) from %s", size,
                  from_address? from_address: "?");
        return -1;
    }
    //  A copy: applying facts may grow (move) the member table
    uint8_t self_id [TM_SWIM_ID_SIZE];
    memcpy (self_id, self->members [self->self_index].id, TM_SWIM_ID_SIZE);
    if (memcmp (packet.sender, self_id, TM_SWIM_ID_SIZE) == 0) {
        self->stats.misdirected++;      //  Our own packet came back
        return 0;
    }
    int source = packet.type == S_PUSH_PULL || packet.type == S_PUSH_PULL_REPLY
               ? S_SOURCE_PUSH_PULL: S_SOURCE_GOSSIP;
    //  Facts first, so that an answer carries what they changed (a
    //  refutation, typically).  Everything new is re-gossiped, the state
    //  pulled from a seed included: every node that knows a fact spreads
    //  it, so a node that missed it gets about retransmit-limit chances.
    //  (Not re-gossiping bootstrap state halves a join storm's traffic but
    //  stalls the epidemic: measured at N = 100, 30 s instead of 0.2 s.)
    s_apply_facts (self, &packet, source, now);
    if (self->offsets_cap > 4096) {
        //  A big push-pull: do not keep its scratch for good
        free (self->offsets);
        self->offsets = NULL;
        self->offsets_cap = 0;
    }

    switch (packet.type) {
        case S_PING:
            if (memcmp (packet.target, self_id, TM_SWIM_ID_SIZE) != 0) {
                //  For an id that used to live at our address
                self->stats.misdirected++;
                break;
            }
            {
                const char *address = s_reply_address (self, packet.sender, from_address);
                if (address)
                    s_send_ack (self, S_ACK, packet.seq, address, packet.sender);
            }
            break;
        case S_PING_REQ:
            s_on_ping_req (self, &packet, from_address, now);
            break;
        case S_ACK:
            s_on_ack (self, packet.seq, now);
            break;
        case S_NACK:
            s_on_nack (self, packet.seq);
            break;
        case S_GOSSIP:
            break;
        case S_PUSH_PULL: {
            const char *address = s_reply_address (self, packet.sender, from_address);
            if (address)
                s_send_push_pull (self, S_PUSH_PULL_REPLY, false, address, packet.sender);
            s_joins_answered (self, packet.sender, from_address, now);
            break;
        }
        case S_PUSH_PULL_REPLY:
            if (self->catch_up_tries > 0) {
                self->catch_up = 0;             //  Caught up
                self->catch_up_tries = 0;
            }
            s_joins_answered (self, packet.sender, from_address, now);
            break;
    }
    assert (s_invariants_hold (self));
    return 0;
}

void
tm_swim_tick (tm_swim_t *self, double now)
{
    assert (self);
    if (now > self->now)
        self->now = now;
    if (now >= self->susp_next)
        s_suspicions_tick (self, now);
    s_probes_tick (self, now);
    s_relays_tick (self, now);

    if (!self->left && now >= self->next_probe) {
        if (!self->probes [0].active) {
            uint32_t mi = S_NONE;
            if (self->retry_pending) {
                self->retry_pending = false;
                mi = s_find (self, self->retry_id);
                if (mi == self->self_index || s_being_probed (self, self->retry_id)
                ||  (mi != S_NONE && self->members [mi].state != TM_SWIM_ALIVE
                                  && self->members [mi].state != TM_SWIM_SUSPECT))
                    mi = S_NONE;
                if (mi != S_NONE) {
                    s_probe_start (self, &self->probes [0], mi, false, now);
                    self->probes [0].retry = true;
                }
            }
            if (mi == S_NONE) {
                mi = s_probe_next_target (self);
                if (mi != S_NONE)
                    s_probe_start (self, &self->probes [0], mi, false, now);
            }
        }
        self->next_probe = now + self->config.probe_interval * s_scale (self);
    }
    if (now >= self->next_gossip) {
        s_gossip (self, self->config.gossip_nodes, now);
        self->next_gossip += self->config.gossip_interval;
        if (self->next_gossip <= now)
            self->next_gossip = now + self->config.gossip_interval;
    }
    if (now >= self->next_push_pull) {
        if (!self->left)
            s_push_pull (self, now);
        self->next_push_pull = now + s_push_pull_interval (self);
    }
    if (self->join_count)
        s_joins_tick (self, now);
    s_catch_up (self, now);
    s_reap (self, now);
    assert (s_invariants_hold (self));
}

double
tm_swim_next_deadline (tm_swim_t *self)
{
    assert (self);
    double next = self->next_push_pull;
    if (!self->left && self->next_probe < next)
        next = self->next_probe;
    if (self->bc_count && self->next_gossip < next)
        next = self->next_gossip;
    if (self->catch_up > 0 && self->bc_count == 0 && self->catch_up < next)
        next = self->catch_up;
    if (self->susp_next < next)
        next = self->susp_next;
    for (int i = 0; i < S_PROBES; i++) {
        s_probe_t *probe = &self->probes [i];
        if (probe->active) {
            double due = probe->indirect_sent? probe->deadline: probe->ack_deadline;
            if (due < next)
                next = due;
        }
    }
    if (self->relay_nacked < self->relay_count
    &&  self->relays [self->relay_nacked].deadline < next)
        next = self->relays [self->relay_nacked].deadline;
    if (self->relay_nacked && self->relays [0].expire < next)
        next = self->relays [0].expire;
    for (size_t i = 0; i < self->join_count; i++)
        if (self->joins [i].next_attempt < next)
            next = self->joins [i].next_attempt;
    if (self->reap_count) {
        double due = self->epoch + self->reaps [self->reap_head].since
                   + self->config.dead_reclaim;
        if (due < next)
            next = due;
    }
    return next;
}

bool
tm_swim_pop_outgoing (tm_swim_t *self, tm_swim_packet_t *packet)
{
    assert (self && packet);
    s_out_t *out = self->out_head;
    if (!out)
        return false;
    self->out_head = out->next;
    if (!self->out_head)
        self->out_tail = NULL;
    self->out_count--;
    *packet = out->packet;
    free (out);
    return true;
}

int
tm_swim_leave (tm_swim_t *self, double now)
{
    assert (self);
    if (self->left)
        return -1;
    self->left = true;
    s_set_state (self, self->self_index, TM_SWIM_LEFT, now);
    s_sign_self (self, true);
    for (int i = 0; i < S_PROBES; i++)
        self->probes [i].active = false;
    self->join_count = 0;
    s_bc_push (self, self->self_index);
    //  Tell a few members right away, in case the owner exits soon
    s_gossip (self, 2 * self->config.gossip_nodes, now);
    tm_info ("swim", "left the cluster at incarnation %llu",
             (unsigned long long) self->members [self->self_index].incarnation);
    assert (s_invariants_hold (self));
    return 0;
}

bool
tm_swim_leave_done (tm_swim_t *self)
{
    assert (self);
    if (!self->left)
        return false;
    return self->members [self->self_index].bc_transmits == S_NOT_QUEUED
        || self->state_count [TM_SWIM_ALIVE] + self->state_count [TM_SWIM_SUSPECT] == 0;
}

int
tm_swim_set_meta (tm_swim_t *self, const void *meta, size_t meta_size, double now)
{
    assert (self);
    if (self->left || meta_size > TM_SWIM_META_MAX || (meta_size && !meta))
        return -1;
    s_member_t *me = &self->members [self->self_index];
    s_info_t info = s_info (s_blob (me));
    uint8_t *blob = s_info_new (info.name, info.name_len, info.address, info.address_len,
                                meta, meta_size, NULL, NULL);
    s_member_set_info (self, self->self_index, blob);
    me = &self->members [self->self_index];
    me->incarnation++;
    s_sign_self (self, false);
    s_bc_push (self, self->self_index);
    assert (s_invariants_hold (self));
    return 0;
}

int
tm_swim_peer_unreachable (tm_swim_t *self, const uint8_t id [TM_SWIM_ID_SIZE], double now)
{
    assert (self && id);
    uint32_t mi = s_find (self, id);
    if (mi == S_NONE || mi == self->self_index || self->left)
        return -1;
    s_member_t *member = &self->members [mi];
    if (member->state == TM_SWIM_DEAD || member->state == TM_SWIM_LEFT)
        return -1;
    for (int i = 0; i < S_PROBES; i++)
        if (self->probes [i].active
        &&  memcmp (self->probes [i].target, id, TM_SWIM_ID_SIZE) == 0) {
            self->probes [i].hinted = true;     //  Already on it
            return 0;
        }
    for (int i = 1; i < S_PROBES; i++)
        if (!self->probes [i].active) {
            char hex [17];
            tm_debug ("swim", "transport hint: probing %s now", s_short (id, hex));
            s_probe_start (self, &self->probes [i], mi, true, now);
            return 0;
        }
    return -1;
}

size_t
tm_swim_size (tm_swim_t *self)
{
    assert (self);
    return self->count;
}

size_t
tm_swim_count (tm_swim_t *self, tm_swim_state_t state)
{
    assert (self);
    return (unsigned) state < TM_SWIM_STATES? self->state_count [state]: 0;
}

bool
tm_swim_member_at (tm_swim_t *self, size_t index, tm_swim_member_t *member)
{
    assert (self && member);
    if (index >= self->count)
        return false;
    s_view (self, (uint32_t) index, member);
    return true;
}

bool
tm_swim_member (tm_swim_t *self, const uint8_t id [TM_SWIM_ID_SIZE], tm_swim_member_t *member)
{
    assert (self && id);
    uint32_t mi = s_find (self, id);
    if (mi == S_NONE)
        return false;
    if (member)
        s_view (self, mi, member);
    return true;
}

const uint8_t *
tm_swim_id (tm_swim_t *self)
{
    assert (self);
    return self->members [self->self_index].id;
}

uint64_t
tm_swim_incarnation (tm_swim_t *self)
{
    assert (self);
    return self->members [self->self_index].incarnation;
}

int
tm_swim_awareness (tm_swim_t *self)
{
    assert (self);
    return self->awareness;
}

int
tm_swim_suspicion (tm_swim_t *self, const uint8_t id [TM_SWIM_ID_SIZE],
                   double *deadline, int *confirmations)
{
    assert (self && id);
    s_suspicion_t *susp = s_suspicion_find (self, id, NULL);
    if (!susp)
        return -1;
    if (deadline)
        *deadline = susp->deadline;
    if (confirmations)
        *confirmations = susp->n;
    return 0;
}

void
tm_swim_stats (tm_swim_t *self, tm_swim_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
}

const char *
tm_swim_state_name (tm_swim_state_t state)
{
    static const char *names [] = { "alive", "suspect", "dead", "left" };
    return (unsigned) state < TM_SWIM_STATES? names [state]: "?";
}

const char *
tm_swim_event_name (tm_swim_event_type_t type)
{
    static const char *names [] = {
        "joined", "updated", "suspect", "alive", "dead", "left", "reaped", "conflict"
    };
    return (unsigned) type <= TM_SWIM_EVENT_CONFLICT? names [type]: "?";
}

//  --------------------------------------------------------------------
//  Invariants (numbered as in the comment at the top)

static bool
s_invariants_hold (tm_swim_t *self)
{
    //  1
    if (self->count == 0 || self->self_index >= self->count || self->count > self->capacity)
        return false;
    //  3 (sum), 4
    uint32_t sum = 0;
    for (int s = 0; s < TM_SWIM_STATES; s++)
        sum += self->state_count [s];
    if (sum != self->count)
        return false;
    s_member_t *me = &self->members [self->self_index];
    if (me->state == TM_SWIM_SUSPECT || me->state == TM_SWIM_DEAD)
        return false;
    if ((me->state == TM_SWIM_LEFT) != self->left)
        return false;
    //  2 (counts)
    if (self->by_id.count != self->count || self->by_address.count != self->count)
        return false;
    //  5 (bound)
    if (self->probe_index > self->count)
        return false;
    //  8
    if (self->awareness < 0 || self->awareness >= self->config.awareness_max)
        return false;
    //  9, 10 (bounds)
    if (self->relay_count > S_RELAYS_MAX || self->out_count > S_OUTBOX_MAX)
        return false;
    if (self->susp_count > self->state_count [TM_SWIM_SUSPECT])
        return false;
    if (self->count > S_FULL_CHECK_MAX)
        return true;

    //  The O(N) checks
    uint32_t counts [TM_SWIM_STATES] = { 0 };
    uint32_t named = 0;
    uint32_t queued = 0;
    for (uint32_t mi = 0; mi < self->count; mi++) {
        s_member_t *member = &self->members [mi];
        if (member->state >= TM_SWIM_STATES)
            return false;
        counts [member->state]++;
        if (s_find (self, member->id) != mi)                            //  2
            return false;
        if (s_info (s_blob (member)).name_len)
            named++;
        if (member->probe_pos >= self->count
        ||  self->probe_order [member->probe_pos] != mi)                //  5
            return false;
        if (member->bc_transmits != S_NOT_QUEUED) {                     //  6
            queued++;
            if (member->bc_transmits >= S_BUCKETS)
                return false;
            s_bucket_t *bucket = &self->buckets [member->bc_transmits];
            if (member->bc_pos >= bucket->count || *s_bucket_at (bucket, member->bc_pos) != mi)
                return false;
        }
        bool suspected = s_suspicion_find (self, member->id, NULL) != NULL;
        if (suspected != (member->state == TM_SWIM_SUSPECT))            //  7
            return false;
    }
    for (int s = 0; s < TM_SWIM_STATES; s++)                            //  3
        if (counts [s] != self->state_count [s])
            return false;
    if (named != self->by_name.count)                                   //  2
        return false;
    if (queued != self->bc_count)                                       //  6
        return false;
    uint32_t in_buckets = 0;
    for (int b = 0; b < S_BUCKETS; b++) {
        s_bucket_t *bucket = &self->buckets [b];
        in_buckets += bucket->count;
        if (bucket->count > bucket->nchunks * S_CHUNK
        || (bucket->nchunks && (bucket->nchunks - 1) * S_CHUNK >= bucket->count + S_CHUNK / 2))
            return false;
    }
    if (in_buckets != self->bc_count)
        return false;
    for (size_t i = 0; i < self->susp_count; i++) {                     //  7
        s_suspicion_t *susp = self->susp [i];
        if (susp->deadline < self->susp_next || susp->n > susp->k
        ||  susp->hinted > susp->accusers_count)
            return false;
    }
    if (self->relay_nacked > self->relay_count)                         //  9
        return false;
    for (size_t i = 1; i < self->relay_count; i++)
        if (self->relays [i].deadline < self->relays [i - 1].deadline)
            return false;
    size_t outs = 0;                                                    //  10
    for (s_out_t *out = self->out_head; out; out = out->next)
        outs++;
    return outs == self->out_count;
}
