/*  tm_envelope.c - signed peer messages, the join proof and the LAN
    beacon, with replay protection and drop counters.

    Join proof, the payload of a JOIN envelope:

        "TMJ1" | timestamp ms u64 | nonce [16] | name length u8 | name |
        MAC [32]

    MAC = crypto_auth (HMAC-SHA-512-256) keyed with
    crypto_kdf_derive_from_key (join secret, id 1, "tmjoin01"), over

        "TMJ1" | cluster pk [32] | joiner pk [32] | timestamp | nonce |
        name length | name

    Binding the cluster and the joiner's key means a proof seen by one
    member cannot admit any other key, nor be used with another cluster.
    The beacon MAC uses id 2, context "tmbeacon", so the two keys are
    unrelated.
*/
#include "tm_envelope.h"
#include "tm_wire.h"
#include <sodium.h>
#include <time.h>

#define S_JOIN_MIN    (4 + 8 + TM_ENVELOPE_NONCE_BYTES + 1 + 1 + TM_ENVELOPE_MAC_BYTES)
#define S_JOIN_CTX    "tmjoin01"
#define S_BEACON_CTX  "tmbeacon"
#define S_HEX_SIZE    (2 * TM_KEYS_PUBLIC_BYTES + 1)

//  Replay state of one sender.
typedef struct {
    uint64_t highest;           //  Highest sequence accepted
    uint64_t seen;              //  Bit i set: highest - i accepted
    uint64_t last_ms;           //  Our clock when we last accepted one
    bool stranger;              //  Sender had no certificate
} s_window_t;

struct _tm_envelope_t {
    tm_keys_t *keys;                        //  Identity, membership (borrowed)
    uint64_t sequence;                      //  Last sequence sealed
    size_t max_payload;                     //  Largest payload accepted
    uint64_t max_skew_ms;                   //  Clock tolerance
    tm_envelope_clock_fn *clock;            //  Clock, or NULL for the wall
    void *clock_arg;                        //  Its argument
    zhashx_t *senders;                      //  hex pk -> s_window_t *
    size_t strangers;                       //  Windows of unknown senders
    uint64_t pruned_ms;                     //  When we last pruned senders
    uint64_t accepted;                      //  Envelopes accepted
    uint64_t dropped [TM_ENVELOPE_VERDICTS];//  Drops, by -verdict
};

static const char *s_verdict_names [TM_ENVELOPE_VERDICTS] = {
    "ok", "garbage", "truncated", "oversized", "bad_signature",
    "unknown_sender", "revoked", "replay", "stale", "foreign", "bad_mac"
};


static uint64_t
s_wall_ms (void *arg)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
s_distance (uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}


tm_envelope_t *
tm_envelope_new (tm_keys_t *keys)
{
    assert (keys);
    if (sodium_init () < 0)
        abort ();               //  tm_keys_new succeeded, so it cannot fail
    tm_envelope_t *self = (tm_envelope_t *) zmalloc (sizeof (tm_envelope_t));
    self->keys = keys;
    self->max_payload = TM_ENVELOPE_MAX_PAYLOAD;
    self->max_skew_ms = TM_ENVELOPE_MAX_SKEW_MS;
    self->senders = zhashx_new ();
    zhashx_set_destructor (self->senders, s_free_item);
    //  Microseconds of wall clock: above whatever we sent before a restart
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    self->sequence = (uint64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    return self;
}

void
tm_envelope_destroy (tm_envelope_t **self_p)
{
    assert (self_p);
    tm_envelope_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->senders);
    free (self);
    *self_p = NULL;
}

void
tm_envelope_set_max_payload (tm_envelope_t *self, size_t max_payload)
{
    assert (self);
    assert (max_payload <= UINT32_MAX - TM_ENVELOPE_OVERHEAD);
    self->max_payload = max_payload;
}

void
tm_envelope_set_max_skew (tm_envelope_t *self, uint64_t max_skew_ms)
{
    assert (self);
    self->max_skew_ms = max_skew_ms;
}

void
tm_envelope_set_clock (tm_envelope_t *self, tm_envelope_clock_fn *clock, void *arg)
{
    assert (self);
    self->clock = clock;
    self->clock_arg = arg;
}

uint64_t
tm_envelope_now (tm_envelope_t *self)
{
    assert (self);
    return self->clock ? self->clock (self->clock_arg) : s_wall_ms (NULL);
}

//  ---------------------------------------------------------------------
//  Envelopes

zframe_t *
tm_envelope_seal (tm_envelope_t *self, uint8_t type, const void *payload, size_t size)
{
    assert (self && type != 0 && (payload || size == 0));
    if (size > self->max_payload) {
        tm_warn ("envelope", "not sending a %zu-byte payload (limit %zu)", size, self->max_payload);
        return NULL;
    }
    zframe_t *frame = zframe_new (NULL, TM_ENVELOPE_OVERHEAD + size);
    uint8_t *data = zframe_data (frame);
    data [0] = TM_ENVELOPE_MAGIC;
    data [1] = type;
    memcpy (data + 2, tm_keys_node_public (self->keys), TM_KEYS_PUBLIC_BYTES);
    tm_wire_put_u64 (data + 34, ++self->sequence);
    tm_wire_put_u64 (data + 42, tm_envelope_now (self));
    tm_wire_put_u32 (data + 50, (uint32_t) size);
    if (size)
        memcpy (data + TM_ENVELOPE_HEADER, payload, size);
    tm_keys_sign (self->keys, data, TM_ENVELOPE_HEADER + size, data + TM_ENVELOPE_HEADER + size);
    return frame;
}

//  Forgets senders from which nothing was accepted for longer than any
//  replay could still pass the timestamp check.
static void
s_prune (tm_envelope_t *self, uint64_t now)
{
    if (now < self->pruned_ms + 1000)
        return;
    self->pruned_ms = now;
    uint64_t keep = 2 * self->max_skew_ms + 1000;
    zlistx_t *keys = zhashx_keys (self->senders);
    for (const char *key = (const char *) zlistx_first (keys);
         key; key = (const char *) zlistx_next (keys)) {
        s_window_t *window = (s_window_t *) zhashx_lookup (self->senders, key);
        if (now > window->last_ms && now - window->last_ms > keep) {
            if (window->stranger)
                self->strangers--;
            zhashx_delete (self->senders, key);
        }
    }
    zlistx_destroy (&keys);
}

static bool
s_window_fresh (const s_window_t *window, uint64_t sequence)
{
    if (sequence > window->highest)
        return true;
    uint64_t back = window->highest - sequence;
    return back < TM_ENVELOPE_WINDOW && !(window->seen & (1ULL << back));
}

static void
s_window_accept (s_window_t *window, uint64_t sequence)
{
    if (sequence > window->highest) {
        uint64_t shift = sequence - window->highest;
        window->seen = shift >= TM_ENVELOPE_WINDOW ? 1 : window->seen << shift | 1;
        window->highest = sequence;
    }
    else
        window->seen |= 1ULL << (window->highest - sequence);
}

//  Files the certificate in a HELLO from SENDER.  Returns 0 if it is
//  SENDER's and issued by our cluster, else -1.
static int
s_hello_learn (tm_envelope_t *self, const uint8_t *sender, const uint8_t *payload, size_t size)
{
    tm_cert_t cert;
    char *err = NULL;
    int rc = tm_keys_cert_decode (payload, size, &cert, &err);
    if (rc == 0 && memcmp (cert.node_pk, sender, TM_KEYS_PUBLIC_BYTES) != 0)
        rc = tm_fail (&err, "certificate is another node's");
    if (rc == 0 && tm_keys_member_add (self->keys, &cert, &err) < 0)
        rc = -1;
    if (rc != 0)
        tm_debug ("envelope", "HELLO refused: %s", err);
    free (err);
    return rc;
}

static int
s_open (tm_envelope_t *self, const uint8_t *data, size_t size, tm_envelope_msg_t *msg)
{
    if (!data || size == 0)
        return TM_ENVELOPE_GARBAGE;
    if (size > TM_ENVELOPE_OVERHEAD + self->max_payload)
        return TM_ENVELOPE_OVERSIZED;
    if (data [0] != TM_ENVELOPE_MAGIC)
        return TM_ENVELOPE_GARBAGE;
    if (size < TM_ENVELOPE_OVERHEAD)
        return TM_ENVELOPE_TRUNCATED;
    uint8_t type = data [1];
    if (type == 0)
        return TM_ENVELOPE_GARBAGE;
    size_t payload_size = tm_wire_get_u32 (data + 50);
    if (payload_size > self->max_payload)
        return TM_ENVELOPE_OVERSIZED;
    if (TM_ENVELOPE_OVERHEAD + payload_size > size)
        return TM_ENVELOPE_TRUNCATED;
    if (TM_ENVELOPE_OVERHEAD + payload_size < size)
        return TM_ENVELOPE_GARBAGE;        //  Bytes after the signature

    const uint8_t *sender = data + 2;
    tm_keys_status_t status = tm_keys_status (self->keys, sender);
    if (status == TM_KEYS_REVOKED)
        return TM_ENVELOPE_REVOKED;
    bool stranger = status != TM_KEYS_MEMBER;
    if (stranger) {
        bool member = tm_keys_is_member (self->keys);
        bool pinned = tm_keys_has_cluster (self->keys) && !member;
        if (!((type == TM_ENVELOPE_JOIN && member) || (type == TM_ENVELOPE_WELCOME && pinned)
              || (type == TM_ENVELOPE_HELLO && member)))
            return TM_ENVELOPE_UNKNOWN_SENDER;
    }
    size_t signed_size = TM_ENVELOPE_HEADER + payload_size;
    if (!tm_keys_verify (sender, data, signed_size, data + signed_size))
        return TM_ENVELOPE_BAD_SIGNATURE;
    if (type == TM_ENVELOPE_HELLO) {
        //  A certificate is self-authenticating (signed by the cluster),
        //  so filing it even from a replay is harmless
        if (s_hello_learn (self, sender, data + TM_ENVELOPE_HEADER, payload_size) != 0)
            return TM_ENVELOPE_UNKNOWN_SENDER;
        stranger = false;
    }

    uint64_t now = tm_envelope_now (self);
    uint64_t timestamp = tm_wire_get_u64 (data + 42);
    if (s_distance (now, timestamp) > self->max_skew_ms)
        return TM_ENVELOPE_STALE;

    s_prune (self, now);
    uint64_t sequence = tm_wire_get_u64 (data + 34);
    char hex [S_HEX_SIZE];
    sodium_bin2hex (hex, sizeof hex, sender, TM_KEYS_PUBLIC_BYTES);
    s_window_t *window = (s_window_t *) zhashx_lookup (self->senders, hex);
    if (window && !s_window_fresh (window, sequence))
        return TM_ENVELOPE_REPLAY;
    if (!window) {
        if (stranger && self->strangers >= TM_ENVELOPE_MAX_STRANGERS)
            return TM_ENVELOPE_UNKNOWN_SENDER;
        window = (s_window_t *) zmalloc (sizeof (s_window_t));
        window->highest = sequence;
        window->seen = 1;
        window->stranger = stranger;
        self->strangers += stranger;
        zhashx_insert (self->senders, hex, window);
    }
    else {
        s_window_accept (window, sequence);
        if (window->stranger && !stranger) {
            window->stranger = false;       //  Joined since
            self->strangers--;
        }
    }
    window->last_ms = now;

    msg->type = type;
    memcpy (msg->sender, sender, TM_KEYS_PUBLIC_BYTES);
    msg->sequence = sequence;
    msg->timestamp_ms = timestamp;
    msg->payload = data + TM_ENVELOPE_HEADER;
    msg->payload_size = payload_size;
    msg->introduction = stranger;
    return TM_ENVELOPE_OK;
}

//  Counts VERDICT; returns it.
static int
s_count (tm_envelope_t *self, int verdict, const char *what, size_t size)
{
    if (verdict == TM_ENVELOPE_OK)
        self->accepted++;
    else {
        assert (verdict < 0 && -verdict < TM_ENVELOPE_VERDICTS);
        self->dropped [-verdict]++;
        tm_debug ("envelope", "dropped %s (%zu bytes): %s", what, size,
                  s_verdict_names [-verdict]);
    }
    return verdict;
}

int
tm_envelope_open (tm_envelope_t *self, const uint8_t *data, size_t size, tm_envelope_msg_t *msg)
{
    assert (self && msg);
    memset (msg, 0, sizeof *msg);
    int verdict = s_open (self, data, size, msg);
    if (verdict != TM_ENVELOPE_OK)
        memset (msg, 0, sizeof *msg);
    return s_count (self, verdict, "envelope", size);
}

zframe_t *
tm_envelope_hello_seal (tm_envelope_t *self, char **err)
{
    assert (self);
    const tm_cert_t *cert = tm_keys_node_cert (self->keys);
    if (!cert) {
        tm_fail (err, "hello: this node is not a member");
        return NULL;
    }
    uint8_t buf [TM_KEYS_CERT_MAX];
    size_t size = tm_keys_cert_encode (cert, buf, sizeof buf);
    return tm_envelope_seal (self, TM_ENVELOPE_HELLO, buf, size);
}

//  ---------------------------------------------------------------------
//  Join proof

static void
s_join_mac (const uint8_t *secret, const uint8_t *cluster_pk, const uint8_t *joiner_pk,
            const uint8_t *proof, size_t proof_size, uint8_t mac [TM_ENVELOPE_MAC_BYTES])
{
    uint8_t key [crypto_auth_KEYBYTES];
    crypto_kdf_derive_from_key (key, sizeof key, 1, S_JOIN_CTX, secret);
    crypto_auth_hmacsha512256_state state;
    crypto_auth_hmacsha512256_init (&state, key, sizeof key);
    crypto_auth_hmacsha512256_update (&state, proof, 4);
    crypto_auth_hmacsha512256_update (&state, cluster_pk, TM_KEYS_PUBLIC_BYTES);
    crypto_auth_hmacsha512256_update (&state, joiner_pk, TM_KEYS_PUBLIC_BYTES);
    crypto_auth_hmacsha512256_update (&state, proof + 4, proof_size - 4);
    crypto_auth_hmacsha512256_final (&state, mac);
    sodium_memzero (&state, sizeof state);
    sodium_memzero (key, sizeof key);
}

zframe_t *
tm_envelope_join_seal (tm_envelope_t *self, const char *name, char **err)
{
    assert (self && name);
    const uint8_t *secret = tm_keys_join_secret (self->keys);
    if (!tm_keys_has_cluster (self->keys) || !secret) {
        tm_fail (err, "join: no cluster pinned (no token)");
        return NULL;
    }
    size_t name_len = strnlen (name, TM_KEYS_NAME_MAX + 1);
    if (!tm_keys_name_valid (name, name_len)) {
        tm_fail (err, "join: invalid node name (1 to %d of A-Z a-z 0-9 . _ -)", TM_KEYS_NAME_MAX);
        return NULL;
    }
    uint8_t proof [S_JOIN_MIN - 1 + TM_KEYS_NAME_MAX];
    size_t size = 0;
    memcpy (proof, "TMJ1", 4);
    size += 4;
    tm_wire_put_u64 (proof + size, tm_envelope_now (self));
    size += 8;
    randombytes_buf (proof + size, TM_ENVELOPE_NONCE_BYTES);
    size += TM_ENVELOPE_NONCE_BYTES;
    proof [size++] = (uint8_t) name_len;
    memcpy (proof + size, name, name_len);
    size += name_len;
    s_join_mac (secret, tm_keys_cluster_public (self->keys), tm_keys_node_public (self->keys),
                proof, size, proof + size);
    size += TM_ENVELOPE_MAC_BYTES;
    return tm_envelope_seal (self, TM_ENVELOPE_JOIN, proof, size);
}

static int
s_join_verify (tm_envelope_t *self, const tm_envelope_msg_t *msg, char *name)
{
    if (msg->type != TM_ENVELOPE_JOIN || !tm_keys_has_cluster (self->keys))
        return TM_ENVELOPE_GARBAGE;
    const uint8_t *proof = msg->payload;
    size_t size = msg->payload_size;
    if (!proof || size < S_JOIN_MIN)
        return TM_ENVELOPE_TRUNCATED;
    if (memcmp (proof, "TMJ1", 4) != 0)
        return TM_ENVELOPE_GARBAGE;
    size_t name_len = proof [4 + 8 + TM_ENVELOPE_NONCE_BYTES];
    const char *name_at = (const char *) proof + 4 + 8 + TM_ENVELOPE_NONCE_BYTES + 1;
    if (size != S_JOIN_MIN - 1 + name_len || !tm_keys_name_valid (name_at, name_len))
        return TM_ENVELOPE_GARBAGE;
    if (s_distance (tm_envelope_now (self), tm_wire_get_u64 (proof + 4)) > self->max_skew_ms)
        return TM_ENVELOPE_STALE;
    const uint8_t *secrets [TM_KEYS_MAX_SECRETS];
    size_t count = tm_keys_join_secrets (self->keys, tm_envelope_now (self),
                                         secrets, TM_KEYS_MAX_SECRETS);
    size_t signed_size = size - TM_ENVELOPE_MAC_BYTES;
    bool good = false;
    for (size_t i = 0; i < count && !good; i++) {
        uint8_t mac [TM_ENVELOPE_MAC_BYTES];
        s_join_mac (secrets [i], tm_keys_cluster_public (self->keys), msg->sender,
                    proof, signed_size, mac);
        good = sodium_memcmp (mac, proof + signed_size, sizeof mac) == 0;
    }
    if (!good)
        return TM_ENVELOPE_BAD_MAC;
    memcpy (name, name_at, name_len);
    name [name_len] = 0;
    return TM_ENVELOPE_OK;
}

int
tm_envelope_join_verify (tm_envelope_t *self, const tm_envelope_msg_t *msg,
                         char name [TM_KEYS_NAME_MAX + 1])
{
    assert (self && msg && name);
    name [0] = 0;
    int verdict = s_join_verify (self, msg, name);
    //  The envelope was counted as accepted already: count drops only
    if (verdict != TM_ENVELOPE_OK)
        s_count (self, verdict, "join proof", msg->payload_size);
    return verdict;
}

//  ---------------------------------------------------------------------
//  Beacon

static void
s_beacon_mac (const uint8_t *secret, const uint8_t *beacon, uint8_t mac [TM_ENVELOPE_MAC_BYTES])
{
    uint8_t key [crypto_auth_KEYBYTES];
    crypto_kdf_derive_from_key (key, sizeof key, 2, S_BEACON_CTX, secret);
    crypto_auth (mac, beacon, TM_BEACON_BYTES - TM_ENVELOPE_MAC_BYTES, key);
    sodium_memzero (key, sizeof key);
}

int
tm_envelope_beacon_encode (tm_envelope_t *self, uint16_t port, uint8_t beacon [TM_BEACON_BYTES])
{
    assert (self && beacon);
    const uint8_t *secret = tm_keys_join_secret (self->keys);
    if (!tm_keys_has_cluster (self->keys) || !secret || port == 0)
        return -1;
    memcpy (beacon, TM_BEACON_PREFIX, 4);
    memcpy (beacon + 4, tm_keys_cluster_id (self->keys), TM_KEYS_CLUSTER_ID_BYTES);
    memcpy (beacon + 12, tm_keys_node_public (self->keys), TM_KEYS_PUBLIC_BYTES);
    tm_wire_put_u16 (beacon + 44, port);
    tm_wire_put_u64 (beacon + 46, tm_envelope_now (self));
    s_beacon_mac (secret, beacon, beacon + 54);
    return 0;
}

static int
s_beacon_verify (tm_envelope_t *self, const uint8_t *data, size_t size,
                 uint8_t *node_pk, uint16_t *port)
{
    if (!data || size == 0)
        return TM_ENVELOPE_GARBAGE;
    if (size > TM_BEACON_BYTES)
        return TM_ENVELOPE_OVERSIZED;
    if (memcmp (data, TM_BEACON_PREFIX, size < 4 ? size : 4) != 0)
        return TM_ENVELOPE_GARBAGE;
    if (size < TM_BEACON_BYTES)
        return TM_ENVELOPE_TRUNCATED;
    if (!tm_keys_has_cluster (self->keys)
    ||  memcmp (data + 4, tm_keys_cluster_id (self->keys), TM_KEYS_CLUSTER_ID_BYTES) != 0)
        return TM_ENVELOPE_FOREIGN;
    if (tm_wire_get_u16 (data + 44) == 0)
        return TM_ENVELOPE_GARBAGE;
    uint64_t now = tm_envelope_now (self);
    const uint8_t *secrets [TM_KEYS_MAX_SECRETS];
    size_t count = tm_keys_join_secrets (self->keys, now, secrets, TM_KEYS_MAX_SECRETS);
    bool good = false;
    for (size_t i = 0; i < count && !good; i++) {
        uint8_t mac [TM_ENVELOPE_MAC_BYTES];
        s_beacon_mac (secrets [i], data, mac);
        good = sodium_memcmp (mac, data + 54, sizeof mac) == 0;
    }
    if (!good)
        return TM_ENVELOPE_BAD_MAC;
    if (s_distance (now, tm_wire_get_u64 (data + 46)) > TM_BEACON_MAX_SKEW_MS)
        return TM_ENVELOPE_STALE;
    if (tm_keys_status (self->keys, data + 12) == TM_KEYS_REVOKED)
        return TM_ENVELOPE_REVOKED;
    memcpy (node_pk, data + 12, TM_KEYS_PUBLIC_BYTES);
    *port = tm_wire_get_u16 (data + 44);
    return TM_ENVELOPE_OK;
}

int
tm_envelope_beacon_verify (tm_envelope_t *self, const uint8_t *data, size_t size,
                           uint8_t node_pk [TM_KEYS_PUBLIC_BYTES], uint16_t *port)
{
    assert (self && node_pk && port);
    *port = 0;
    int verdict = s_beacon_verify (self, data, size, node_pk, port);
    //  Beacons are not envelopes: count their drops, not their successes
    if (verdict != TM_ENVELOPE_OK)
        s_count (self, verdict, "beacon", size);
    return verdict;
}

//  ---------------------------------------------------------------------
//  Counters

uint64_t
tm_envelope_dropped (tm_envelope_t *self, int verdict)
{
    assert (self);
    if (verdict >= 0 || -verdict >= TM_ENVELOPE_VERDICTS)
        return 0;
    return self->dropped [-verdict];
}

uint64_t
tm_envelope_dropped_total (tm_envelope_t *self)
{
    assert (self);
    uint64_t total = 0;
    for (int i = 1; i < TM_ENVELOPE_VERDICTS; i++)
        total += self->dropped [i];
    return total;
}

uint64_t
tm_envelope_accepted (tm_envelope_t *self)
{
    assert (self);
    return self->accepted;
}

const char *
tm_envelope_verdict_name (int verdict)
{
    if (verdict > 0 || -verdict >= TM_ENVELOPE_VERDICTS)
        return "unknown";
    return s_verdict_names [-verdict];
}
