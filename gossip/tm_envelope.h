/*  tm_envelope.h - signed peer messages, the join proof and the LAN
    beacon, with replay protection and drop counters.

    Every message between peers travels as one envelope (one ZeroMQ
    frame), inside a CurveZMQ session:

        offset  size  field
        0       1     magic/version, 0xE1
        1       1     type (1 JOIN, 2 WELCOME, 3 HELLO; 1..15 are
                      this module's, 16..255 the protocol's; 0 is
                      invalid)
        2       32    sender's node Ed25519 public key
        34      8     sequence (u64, big-endian)
        42      8     timestamp, ms since the epoch (u64)
        50      4     payload length (u32)
        54      n     payload
        54+n    64    Ed25519 signature by the sender of bytes 0..54+n

    tm_envelope_open checks, in this order, and stops at the first
    failure: size and framing (garbage, truncated, oversized), sender
    (revoked, unknown), signature, timestamp (more than max skew from our
    clock: stale), sequence (replay).  Only an envelope that passed every
    check updates the replay state.  Every drop is counted by reason.

    Replay protection: per sender, the highest sequence accepted and a
    64-wide window below it (RFC 4303 style), so that messages reordered
    by a few places still pass and a repeat never does.  A sender's
    sequence starts at its wall clock in microseconds when its
    tm_envelope is created, so it grows across restarts.  State for a
    sender is forgotten once nothing from it was accepted for twice the
    skew plus a second: by then a replay of anything it sent is stale.

    Senders: a member (certificate on file) or, for introductions only,
    an unknown key: JOIN to a member, WELCOME to a pinned joiner, HELLO
    to a member.  A HELLO carries the sender's own certificate, which
    tm_envelope_open verifies and files, so the sender is a known member
    from then on: a node sends one on each new connection, since only
    the member that admitted it knows its certificate at first.  The
    caller authenticates a JOIN or WELCOME by its payload
    (tm_envelope_join_verify, tm_keys_welcome_accept).  At most
    TM_ENVELOPE_MAX_STRANGERS unknown senders are tracked at once;
    beyond that introductions are dropped as unknown.

    One tm_envelope per node identity and process (two would reuse
    sequence numbers).  Not thread-safe.
*/
#ifndef TM_ENVELOPE_H_INCLUDED
#define TM_ENVELOPE_H_INCLUDED

#include "tm_common.h"
#include "tm_keys.h"

#define TM_ENVELOPE_MAGIC        0xE1
#define TM_ENVELOPE_HEADER       54     //  Bytes before the payload
#define TM_ENVELOPE_OVERHEAD     (TM_ENVELOPE_HEADER + TM_KEYS_SIGNATURE_BYTES)
#define TM_ENVELOPE_JOIN         1      //  Joiner -> member: join proof
#define TM_ENVELOPE_WELCOME      2      //  Member -> joiner: tm_keys_welcome
#define TM_ENVELOPE_HELLO        3      //  Member -> member: its certificate
#define TM_ENVELOPE_FIRST_FREE   16     //  First type free for the protocol
#define TM_ENVELOPE_MAX_PAYLOAD  (4 * 1024 * 1024)  //  Default limit
#define TM_ENVELOPE_MAX_SKEW_MS  60000  //  Default clock tolerance
#define TM_ENVELOPE_WINDOW       64     //  Reordering tolerated
#define TM_ENVELOPE_MAX_STRANGERS 1024  //  Unknown senders tracked
#define TM_ENVELOPE_NONCE_BYTES  16     //  Join proof nonce
#define TM_ENVELOPE_MAC_BYTES    32     //  crypto_auth (HMAC-SHA-512-256)

//  Beacon (zbeacon, UDP): "TMB1" | cluster id [8] | node pk [32] |
//  port u16 | timestamp ms u64 | MAC [32] over the bytes before it.
#define TM_BEACON_BYTES          (4 + 8 + 32 + 2 + 8 + 32)
#define TM_BEACON_MAX_SKEW_MS    30000
#define TM_BEACON_PREFIX         "TMB1"

typedef struct _tm_envelope_t tm_envelope_t;

//  What became of an input.  Negative values are drop reasons.
typedef enum {
    TM_ENVELOPE_OK = 0,
    TM_ENVELOPE_GARBAGE = -1,       //  Not ours: magic, type, framing
    TM_ENVELOPE_TRUNCATED = -2,     //  Shorter than its fields say
    TM_ENVELOPE_OVERSIZED = -3,     //  Longer than the limit
    TM_ENVELOPE_BAD_SIGNATURE = -4, //  Signature does not verify
    TM_ENVELOPE_UNKNOWN_SENDER = -5,//  No certificate, not an introduction
    TM_ENVELOPE_REVOKED = -6,       //  Sender is revoked
    TM_ENVELOPE_REPLAY = -7,        //  Sequence already seen or too old
    TM_ENVELOPE_STALE = -8,         //  Timestamp too far from our clock
    TM_ENVELOPE_FOREIGN = -9,       //  Beacon of another cluster
    TM_ENVELOPE_BAD_MAC = -10       //  Beacon or join proof MAC wrong
} tm_envelope_verdict_t;
#define TM_ENVELOPE_VERDICTS 11

//  An opened envelope.  PAYLOAD points into the caller's buffer.
typedef struct {
    uint8_t type;                               //  Message type
    uint8_t sender [TM_KEYS_PUBLIC_BYTES];      //  Verified sender key
    uint64_t sequence;                          //  Sender's sequence
    uint64_t timestamp_ms;                      //  Sender's clock
    const uint8_t *payload;                     //  Borrowed
    size_t payload_size;                        //  Its size
    bool introduction;                          //  JOIN or WELCOME from a key
                                                //  without certificate:
                                                //  authenticate by payload
} tm_envelope_msg_t;

//  A clock in ms since the epoch; tests give their own.
typedef uint64_t (tm_envelope_clock_fn) (void *arg);

//  Creates an envelope codec for the node in KEYS (borrowed: must
//  outlive it).  Never fails.
tm_envelope_t *tm_envelope_new (tm_keys_t *keys);
void tm_envelope_destroy (tm_envelope_t **self_p);

//  Limits: largest payload accepted and sealed (default
//  TM_ENVELOPE_MAX_PAYLOAD; set ZMQ_MAXMSGSIZE to at least this plus
//  TM_ENVELOPE_OVERHEAD), clock tolerance (default 60 s).
void tm_envelope_set_max_payload (tm_envelope_t *self, size_t max_payload);
void tm_envelope_set_max_skew (tm_envelope_t *self, uint64_t max_skew_ms);

//  Replaces the wall clock (NULL restores it).
void tm_envelope_set_clock (tm_envelope_t *self, tm_envelope_clock_fn *clock, void *arg);

//  The clock in use, ms since the epoch.
uint64_t tm_envelope_now (tm_envelope_t *self);

//  Seals PAYLOAD as a TYPE envelope from this node.  Returns a new frame,
//  or NULL (logged) if SIZE is over the payload limit.
zframe_t *tm_envelope_seal (tm_envelope_t *self, uint8_t type, const void *payload, size_t size);

//  Opens DATA (from the network).  Returns TM_ENVELOPE_OK and fills *MSG,
//  or a negative verdict, counted.  Never asserts on DATA.
int tm_envelope_open (tm_envelope_t *self, const uint8_t *data, size_t size,
                      tm_envelope_msg_t *msg);

//  Seals a HELLO envelope carrying this node's certificate (members
//  only).  Returns a new frame, or NULL with *err set.
zframe_t *tm_envelope_hello_seal (tm_envelope_t *self, char **err);

//  Seals a JOIN envelope: proves, for this node's key, knowledge of the
//  newest join secret (the token's, when pinned), and asks to be called
//  NAME.  Returns a new frame, or NULL with *err set.
zframe_t *tm_envelope_join_seal (tm_envelope_t *self, const char *name, char **err);

//  Checks the join proof in an opened JOIN envelope against every join
//  secret still admitting.  Returns TM_ENVELOPE_OK and the requested name
//  in NAME, or a verdict (counted): garbage (malformed), stale, bad MAC.
int tm_envelope_join_verify (tm_envelope_t *self, const tm_envelope_msg_t *msg,
                             char name [TM_KEYS_NAME_MAX + 1]);

//  Fills BEACON for this node listening on PORT, MAC'ed with the newest
//  join secret.  Returns 0, or -1 if there is no cluster or PORT is 0.
int tm_envelope_beacon_encode (tm_envelope_t *self, uint16_t port,
                               uint8_t beacon [TM_BEACON_BYTES]);

//  Verifies a received beacon.  Returns TM_ENVELOPE_OK with the sender's
//  key and port, or a verdict (counted): garbage, truncated, oversized,
//  foreign (another cluster), bad MAC (no join secret that still admits
//  matches), stale (timestamp more than 30 s off), revoked.
int tm_envelope_beacon_verify (tm_envelope_t *self, const uint8_t *data, size_t size,
                               uint8_t node_pk [TM_KEYS_PUBLIC_BYTES], uint16_t *port);

//  Inputs dropped for VERDICT (a negative verdict), all drops, and
//  envelopes accepted.
uint64_t tm_envelope_dropped (tm_envelope_t *self, int verdict);
uint64_t tm_envelope_dropped_total (tm_envelope_t *self);
uint64_t tm_envelope_accepted (tm_envelope_t *self);

//  "ok", "garbage", "truncated", ... (for logs and metrics).
const char *tm_envelope_verdict_name (int verdict);

#endif
