/*  tm_keys.h - node identity, cluster keys, certificates, join secrets
    and revocations, kept in DATADIR/keys.

    Every node has its own Ed25519 identity (node.key), created on first
    use.  A node is a *member* of a cluster when it also holds:

      - the cluster Ed25519 keypair (cluster.key).  Every member holds
        the secret key: there is no central node, and any member admits
        joiners and signs rotations and revocations;
      - a membership certificate for its own key (node.cert), signed by
        the cluster key;
      - the join secrets (join.secrets): the current one and any older
        one still inside its grace period;
      - the revocation list (revoked) and the certificates of the members
        it knows (members).

    CurveZMQ: the Curve25519 conversion of the cluster key is the SERVER
    keypair of every member's peer socket; the conversion of a node's key
    is its CLIENT keypair.  The z85 texts below go straight to
    zsock_set_curve_*.

    A node that has parsed a token but not yet joined is *pinned*: it
    knows the cluster public key and one join secret, in memory only.
    tm_keys_welcome_accept makes it a member and writes the files.

    Everything signed by the cluster key starts with its own 4-byte tag
    ("TMC1" certificate, "TMS1" join secret, "TMR1" revocation) and the
    8-byte cluster id, so one kind can never be taken for another or for
    another cluster's.  docs/security.md gives every layout.

    Key files are written with mode 0600 (a fresh file opened with
    O_CREAT|O_EXCL, then renamed into place) and are refused when they
    are symbolic links, not ours, or open to group or others.

    Times are milliseconds since the epoch (uint64_t), passed in by the
    caller so that tests control them.  Not thread-safe: one owner.
*/
#ifndef TM_KEYS_H_INCLUDED
#define TM_KEYS_H_INCLUDED

#include "tm_common.h"

#define TM_KEYS_PUBLIC_BYTES     32     //  Ed25519 / Curve25519 public key
#define TM_KEYS_SECRET_BYTES     32     //  A join secret
#define TM_KEYS_SIGNATURE_BYTES  64     //  Ed25519 signature
#define TM_KEYS_CLUSTER_ID_BYTES 8      //  BLAKE2b-256 (cluster pk), first 8
#define TM_KEYS_Z85_SIZE         41     //  z85 text of a key, NUL included
#define TM_KEYS_NAME_MAX         64     //  Node name: [A-Za-z0-9._-], 1..64
#define TM_KEYS_MAX_SECRETS      8      //  Join secrets kept at once
#define TM_KEYS_GRACE_DEFAULT_MS (10 * 60 * 1000)
#define TM_KEYS_GRACE_MAX_MS     (7ULL * 24 * 3600 * 1000)
//  Encoded sizes
#define TM_KEYS_CERT_MIN         (4 + 8 + 32 + 8 + 1 + 1 + 64)
#define TM_KEYS_CERT_MAX         (TM_KEYS_CERT_MIN - 1 + TM_KEYS_NAME_MAX)
#define TM_KEYS_ROTATION_BYTES   (4 + 8 + 32 + 8 + 8 + 64)
#define TM_KEYS_REVOCATION_BYTES (4 + 8 + 32 + 8 + 64)

typedef struct _tm_keys_t tm_keys_t;

//  A membership certificate: "node_pk, called name, is a member since
//  issued_ms", signed by the cluster key.  A value type.
typedef struct {
    uint8_t cluster_id [TM_KEYS_CLUSTER_ID_BYTES];  //  Issuing cluster
    uint8_t node_pk [TM_KEYS_PUBLIC_BYTES];         //  The member's key
    uint64_t issued_ms;                             //  When it was issued
    char name [TM_KEYS_NAME_MAX + 1];               //  The member's name
    uint8_t signature [TM_KEYS_SIGNATURE_BYTES];    //  By the cluster key
} tm_cert_t;

typedef enum {
    TM_KEYS_UNKNOWN = 0,        //  No certificate on file
    TM_KEYS_MEMBER,             //  A certified member
    TM_KEYS_REVOKED             //  Revoked: drop whatever it sends
} tm_keys_status_t;

//  True if NAME (LEN bytes) is a valid node name: 1 to TM_KEYS_NAME_MAX
//  of [A-Za-z0-9._-].  The one rule for names, wherever they come from.
bool tm_keys_name_valid (const char *name, size_t len);

//  ---------------------------------------------------------------------
//  Life cycle

//  Opens DATADIR/keys (creating it, mode 0700), loads the node identity
//  or creates one, and loads the cluster membership if there is one.
//  Returns NULL with *err set if a file is unsafe (permissions, owner,
//  symlink), corrupt, or fails verification.
tm_keys_t *tm_keys_new (const char *datadir, char **err);

//  Destroys the object, wiping every secret from memory.  Idempotent.
void tm_keys_destroy (tm_keys_t **self_p);

//  ---------------------------------------------------------------------
//  This node's identity

//  The node's Ed25519 public key (32 bytes, borrowed).
const uint8_t *tm_keys_node_public (tm_keys_t *self);

//  The node's Ed25519 secret key (64 bytes, libsodium's form; borrowed,
//  wiped by tm_keys_destroy), for signing structures of other modules
//  (cache entries and tombstones, dht-cache/tm_cacheentry.h).
const uint8_t *tm_keys_node_secret (tm_keys_t *self);

//  The node's CURVE client keypair, z85 text (borrowed).
const char *tm_keys_node_curve_public (tm_keys_t *self);
const char *tm_keys_node_curve_secret (tm_keys_t *self);

//  Signs DATA with the node key.  Callers that sign their own structures
//  (gossiped facts) start them with a 4-byte tag of their own so that no
//  signed structure can be read as another (see docs/security.md).
void tm_keys_sign (tm_keys_t *self, const void *data, size_t size,
                   uint8_t signature [TM_KEYS_SIGNATURE_BYTES]);

//  True if SIGNATURE is NODE_PK's signature of DATA.
bool tm_keys_verify (const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES],
                     const void *data, size_t size,
                     const uint8_t signature [TM_KEYS_SIGNATURE_BYTES]);

//  Writes the z85 text of NODE_PK's CURVE public key into Z85: what a
//  ZAP handler sees as the peer's key.  Returns -1 if NODE_PK is not a
//  valid Ed25519 point.
int tm_keys_curve_of (const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES],
                      char z85 [TM_KEYS_Z85_SIZE]);

//  The CurveZMQ client keypair of a CLI that is not a member, derived
//  from a join secret: seed = BLAKE2b-256 (key JOIN_SECRET, message
//  "testmesh client key v1"), then crypto_box_seed_keypair.  Whoever
//  holds the token can submit runs to an agent's client port; the agent
//  accepts the keys derived from its join secrets that still admit.
//  PUBLIC_Z85 and SECRET_Z85 get the keys in z85 (either may be NULL).
void tm_keys_client_curve (const uint8_t join_secret [TM_KEYS_PUBLIC_BYTES],
                           char public_z85 [TM_KEYS_Z85_SIZE],
                           char secret_z85 [TM_KEYS_Z85_SIZE]);

//  ---------------------------------------------------------------------
//  The cluster

//  True once the cluster key is known: pinned from a token or member.
bool tm_keys_has_cluster (tm_keys_t *self);

//  True if this node holds the cluster secret key and a certificate.
bool tm_keys_is_member (tm_keys_t *self);

//  True if the revocation list names this node: it must stop.
bool tm_keys_self_revoked (tm_keys_t *self);

//  The cluster public key and id (borrowed), or NULL without a cluster.
const uint8_t *tm_keys_cluster_public (tm_keys_t *self);
const uint8_t *tm_keys_cluster_id (tm_keys_t *self);

//  The CURVE server keypair, z85 (borrowed).  The public key is there
//  once the cluster is known; the secret key only for members (else NULL).
const char *tm_keys_cluster_curve_public (tm_keys_t *self);
const char *tm_keys_cluster_curve_secret (tm_keys_t *self);

//  Creates a new cluster with this node, called NAME, as its first
//  member: a cluster keypair, a first join secret and a certificate,
//  written to disk.  Returns 0, or -1 with *err set (already in a
//  cluster, bad name, cannot write).
int tm_keys_cluster_create (tm_keys_t *self, const char *name,
                            uint64_t now_ms, char **err);

//  Pins the cluster from a parsed token: CLUSTER_PK and JOIN_SECRET, in
//  memory only.  Returns 0; -1 with *err set if this node is already a
//  member of another cluster.  A member of the same cluster is left as
//  it is (it does not need the token).
int tm_keys_cluster_pin (tm_keys_t *self,
                         const uint8_t cluster_pk [TM_KEYS_PUBLIC_BYTES],
                         const uint8_t join_secret [TM_KEYS_SECRET_BYTES],
                         char **err);

//  This node's certificate, or NULL if not a member (borrowed).
const tm_cert_t *tm_keys_node_cert (tm_keys_t *self);

//  ---------------------------------------------------------------------
//  Certificates

//  Issues a certificate for NODE_PK called NAME (members only).
//  Returns 0, or -1 with *err set.
int tm_keys_cert_issue (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES],
                        const char *name, uint64_t now_ms, tm_cert_t *cert, char **err);

//  Encodes CERT into BUF.  Returns the size written, or 0 if SIZE is too
//  small or CERT's name is invalid.  TM_KEYS_CERT_MAX bytes always do.
size_t tm_keys_cert_encode (const tm_cert_t *cert, uint8_t *buf, size_t size);

//  Decodes a certificate, checking every length and field, but not the
//  signature.  Returns 0, or -1 with *err set.
int tm_keys_cert_decode (const uint8_t *data, size_t size, tm_cert_t *cert, char **err);

//  Checks that CERT was issued by CLUSTER_PK.  Returns 0, or -1 with *err
//  set ("for another cluster", "signature does not verify").
int tm_keys_cert_verify (const uint8_t cluster_pk [TM_KEYS_PUBLIC_BYTES],
                         const tm_cert_t *cert, char **err);

//  ---------------------------------------------------------------------
//  Members

//  Records a member's certificate after verifying it against our
//  cluster.  Returns 1 if it was new (or newer than the one on file),
//  0 if already known, -1 with *err set if it does not verify or names
//  a revoked node.  A certificate already on file byte for byte is not
//  verified again.  The members file is NOT written here: a node
//  learning N certificates while a cluster forms would write (and
//  fsync) an O(N) file N times; tm_keys_flush writes it, and so does
//  tm_keys_destroy.  What a crash loses is learnt again by gossip.
int tm_keys_member_add (tm_keys_t *self, const tm_cert_t *cert, char **err);

//  Writes the members file if certificates were added since it was last
//  written (by tm_keys_member_add or tm_keys_welcome_encode); the owner
//  calls it from time to time (the gossip actor: every 10 s).  Returns
//  0, or -1 if the write failed (logged; retried at the next call).
int tm_keys_flush (tm_keys_t *self);

//  What we know of NODE_PK.
tm_keys_status_t tm_keys_status (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES]);

//  NODE_PK's certificate, or NULL (borrowed, valid until the next change).
const tm_cert_t *tm_keys_member (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES]);

//  Finds the one member called NAME.  Returns 0 and fills NODE_PK, or -1
//  with *err set if there is none or more than one.
int tm_keys_member_find (tm_keys_t *self, const char *name,
                         uint8_t node_pk [TM_KEYS_PUBLIC_BYTES], char **err);

//  Number of members on file (this node included).
size_t tm_keys_member_count (tm_keys_t *self);

//  ---------------------------------------------------------------------
//  Join secrets

//  The join secrets that admit joiners at NOW_MS, newest first, as
//  borrowed pointers into SECRETS (at most MAX).  Returns the count.
//  The newest is valid until a newer one exists; an older one stays
//  valid until its successor's issue time plus that successor's grace.
size_t tm_keys_join_secrets (tm_keys_t *self, uint64_t now_ms,
                             const uint8_t *secrets [], size_t max);

//  The newest join secret (what a new token carries), or NULL (borrowed).
const uint8_t *tm_keys_join_secret (tm_keys_t *self);

//  Rotates the join secret (members only): a new random secret, issued
//  at NOW_MS; every older one stops admitting at NOW_MS + GRACE_MS.
//  Writes the signed fact to gossip into FACT.  Returns 0, or -1 with
//  *err set (not a member, grace beyond TM_KEYS_GRACE_MAX_MS).
int tm_keys_rotate (tm_keys_t *self, uint64_t grace_ms, uint64_t now_ms,
                    uint8_t fact [TM_KEYS_ROTATION_BYTES], char **err);

//  Applies a gossiped rotation fact.  Returns 1 if new, 0 if known (a
//  fact held byte for byte is not verified again), -1 with *err set if
//  it is malformed, from another cluster or not signed by the cluster key.
int tm_keys_rotation_apply (tm_keys_t *self, const uint8_t *data, size_t size, char **err);

//  ---------------------------------------------------------------------
//  Revocation

//  Revokes NODE_PK (members only; not this node): it is dropped from the
//  members and everything it sends is refused.  Writes the signed fact to
//  gossip into FACT.  Returns 0, or -1 with *err set.
int tm_keys_revoke (tm_keys_t *self, const uint8_t node_pk [TM_KEYS_PUBLIC_BYTES],
                    uint64_t now_ms, uint8_t fact [TM_KEYS_REVOCATION_BYTES], char **err);

//  Applies a gossiped revocation fact.  Returns 1 if new, 0 if known (a
//  fact held byte for byte is not verified again), -1 with *err set if
//  it is malformed, from another cluster or forged.
int tm_keys_revocation_apply (tm_keys_t *self, const uint8_t *data, size_t size, char **err);

//  True if CURVE_PK (a peer's CURVE public key, 32 bytes, as a ZAP
//  handler gets it) belongs to a revoked node.
bool tm_keys_curve_revoked (tm_keys_t *self, const uint8_t curve_pk [TM_KEYS_PUBLIC_BYTES]);

//  Number of revoked nodes.
size_t tm_keys_revoked_count (tm_keys_t *self);

//  ---------------------------------------------------------------------
//  Admission

//  Builds the WELCOME payload a member sends to a joiner that proved the
//  join secret (members only): the joiner's certificate (NAME), the
//  cluster secret key and join secrets sealed to the joiner's own key
//  (crypto_box_seal to the Curve25519 conversion of JOINER_PK, so only
//  that node can read them whatever the transport), the members'
//  certificates and the revocations.  Returns a new buffer (caller wipes
//  and frees) and its size in *SIZE, or NULL with *err set.
uint8_t *tm_keys_welcome_encode (tm_keys_t *self, const uint8_t joiner_pk [TM_KEYS_PUBLIC_BYTES],
                                 const char *name, uint64_t now_ms, size_t *size, char **err);

//  Accepts a WELCOME from SENDER_PK (pinned nodes only).  Checks that the
//  certificate is ours and issued by the pinned cluster, that the sealed
//  cluster secret key matches the pinned public key, that SENDER_PK is a
//  certified member, and every signature; then writes the membership
//  to disk.  Returns 0, or -1 with *err set (nothing changes).
int tm_keys_welcome_accept (tm_keys_t *self, const uint8_t sender_pk [TM_KEYS_PUBLIC_BYTES],
                            const uint8_t *data, size_t size, char **err);

#endif
