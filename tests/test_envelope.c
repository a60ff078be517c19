/*  test_envelope.c - signed envelopes, replay protection, drop counters,
    the join proof and the LAN beacon. */
#include "tm_testutil.h"
#include "tm_envelope.h"
#include <sodium.h>

//  A node: its data directory, keys, codec and a clock the test drives.
typedef struct {
    char *dir;
    tm_keys_t *keys;
    tm_envelope_t *env;
    uint64_t now;               //  Its clock, ms
} s_node_t;

static uint64_t
s_clock (void *arg)
{
    return ((s_node_t *) arg)->now;
}

static uint64_t
s_wall (void)
{
    return (uint64_t) (tm_wall_now () * 1000);
}

static s_node_t *
s_node_new (void)
{
    s_node_t *node = (s_node_t *) calloc (1, sizeof (s_node_t));
    node->dir = tmu_scratch ();
    char *err = NULL;
    node->keys = tm_keys_new (node->dir, &err);
    cr_assert_not_null (node->keys, "%s", err);
    node->env = tm_envelope_new (node->keys);
    node->now = s_wall ();
    tm_envelope_set_clock (node->env, s_clock, node);
    return node;
}

static void
s_node_destroy (s_node_t **node_p)
{
    s_node_t *node = *node_p;
    tm_envelope_destroy (&node->env);
    cr_assert_null (node->env);
    tm_envelope_destroy (&node->env);
    tm_keys_destroy (&node->keys);
    tmu_rmrf (node->dir);
    free (node->dir);
    free (node);
    *node_p = NULL;
}

static s_node_t *
s_founder (void)
{
    s_node_t *node = s_node_new ();
    cr_assert_eq (tm_keys_cluster_create (node->keys, "alpha", node->now, NULL), 0);
    return node;
}

//  Pins JOINER to FOUNDER's cluster with FOUNDER's current token.
static void
s_pin (s_node_t *founder, s_node_t *joiner)
{
    cr_assert_eq (tm_keys_cluster_pin (joiner->keys, tm_keys_cluster_public (founder->keys),
                                       tm_keys_join_secret (founder->keys), NULL), 0);
}

//  The whole admission, through envelopes: JOIN, proof, WELCOME.
static void
s_join (s_node_t *founder, s_node_t *joiner, const char *name)
{
    s_pin (founder, joiner);
    zframe_t *join = tm_envelope_join_seal (joiner->env, name, NULL);
    cr_assert_not_null (join);
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (founder->env, zframe_data (join), zframe_size (join), &msg),
                  TM_ENVELOPE_OK);
    cr_assert (msg.introduction);
    char asked [TM_KEYS_NAME_MAX + 1];
    cr_assert_eq (tm_envelope_join_verify (founder->env, &msg, asked), TM_ENVELOPE_OK);
    cr_assert_str_eq (asked, name);
    size_t size = 0;
    uint8_t *payload = tm_keys_welcome_encode (founder->keys, msg.sender, asked,
                                               founder->now, &size, NULL);
    cr_assert_not_null (payload);
    zframe_t *welcome = tm_envelope_seal (founder->env, TM_ENVELOPE_WELCOME, payload, size);
    free (payload);
    cr_assert_eq (tm_envelope_open (joiner->env, zframe_data (welcome), zframe_size (welcome),
                                    &msg), TM_ENVELOPE_OK);
    cr_assert (msg.introduction);
    char *err = NULL;
    cr_assert_eq (tm_keys_welcome_accept (joiner->keys, msg.sender, msg.payload,
                                          msg.payload_size, &err), 0, "%s", err);
    zframe_destroy (&join);
    zframe_destroy (&welcome);
}

static int
s_open_frame (s_node_t *node, zframe_t *frame)
{
    tm_envelope_msg_t msg;
    return tm_envelope_open (node->env, zframe_data (frame), zframe_size (frame), &msg);
}

//  ---------------------------------------------------------------------
//  Envelopes

Test (envelope, round_trip_delivers_type_sender_and_payload)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    const char *text = "run task 42";
    zframe_t *frame = tm_envelope_seal (a->env, 7, text, strlen (text));
    cr_assert_eq (zframe_size (frame), TM_ENVELOPE_OVERHEAD + strlen (text));
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (b->env, zframe_data (frame), zframe_size (frame), &msg),
                  TM_ENVELOPE_OK);
    cr_assert_eq (msg.type, 7);
    cr_assert_eq (memcmp (msg.sender, tm_keys_node_public (a->keys), 32), 0);
    cr_assert_eq (msg.payload_size, strlen (text));
    cr_assert_eq (memcmp (msg.payload, text, msg.payload_size), 0);
    cr_assert_not (msg.introduction);
    cr_assert_eq (msg.timestamp_ms, a->now);
    //  An empty payload is fine too
    zframe_t *empty = tm_envelope_seal (a->env, 9, NULL, 0);
    cr_assert_eq (s_open_frame (b, empty), TM_ENVELOPE_OK);
    cr_assert_eq (tm_envelope_accepted (b->env), 3);        //  WELCOME + 2
    cr_assert_eq (tm_envelope_dropped_total (b->env), 0);
    zframe_destroy (&frame);
    zframe_destroy (&empty);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, every_bit_flip_is_rejected_and_counted)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    uint8_t payload [40];
    memset (payload, 0x5a, sizeof payload);
    zframe_t *frame = tm_envelope_seal (a->env, 7, payload, sizeof payload);
    size_t size = zframe_size (frame);
    uint8_t *data = (uint8_t *) malloc (size);
    memcpy (data, zframe_data (frame), size);
    uint64_t flips = 0;
    for (size_t i = 0; i < size; i++)
        for (int bit = 0; bit < 8; bit++) {
            data [i] ^= 1 << bit;
            tm_envelope_msg_t msg;
            int verdict = tm_envelope_open (b->env, data, size, &msg);
            cr_assert (verdict == TM_ENVELOPE_BAD_SIGNATURE || verdict == TM_ENVELOPE_GARBAGE
                    || verdict == TM_ENVELOPE_TRUNCATED || verdict == TM_ENVELOPE_OVERSIZED
                    || verdict == TM_ENVELOPE_UNKNOWN_SENDER,
                       "flip of byte %zu bit %d: %s", i, bit, tm_envelope_verdict_name (verdict));
            data [i] ^= 1 << bit;
            flips++;
        }
    cr_assert_eq (tm_envelope_dropped_total (b->env), flips);
    //  Flips in the signed header and payload are signature failures
    cr_assert_gt (tm_envelope_dropped (b->env, TM_ENVELOPE_BAD_SIGNATURE), 8 * (size - 100));
    cr_assert_gt (tm_envelope_dropped (b->env, TM_ENVELOPE_GARBAGE), 0);
    cr_assert_gt (tm_envelope_dropped (b->env, TM_ENVELOPE_UNKNOWN_SENDER), 0);
    //  The original still opens: no flip consumed its sequence number
    cr_assert_eq (tm_envelope_open (b->env, data, size, &(tm_envelope_msg_t) { 0 }), TM_ENVELOPE_OK);
    free (data);
    zframe_destroy (&frame);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, truncated_inputs_are_rejected_as_truncated)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    zframe_t *frame = tm_envelope_seal (a->env, 7, "payload", 7);
    for (size_t cut = 1; cut < zframe_size (frame); cut++) {
        tm_envelope_msg_t msg;
        cr_assert_eq (tm_envelope_open (b->env, zframe_data (frame), cut, &msg),
                      TM_ENVELOPE_TRUNCATED, "cut at %zu", cut);
        cr_assert_null (msg.payload);
    }
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (b->env, zframe_data (frame), 0, &msg), TM_ENVELOPE_GARBAGE);
    cr_assert_eq (tm_envelope_open (b->env, NULL, 10, &msg), TM_ENVELOPE_GARBAGE);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_TRUNCATED), zframe_size (frame) - 1);
    zframe_destroy (&frame);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, oversized_inputs_are_rejected_before_any_crypto)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    tm_envelope_set_max_payload (a->env, 1 << 20);
    tm_envelope_set_max_payload (b->env, 1000);
    uint8_t *big = (uint8_t *) calloc (1, 5000);
    zframe_t *frame = tm_envelope_seal (a->env, 7, big, 5000);
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_OVERSIZED);
    zframe_destroy (&frame);
    //  A small frame that claims a huge payload
    frame = tm_envelope_seal (a->env, 7, big, 10);
    uint8_t *data = zframe_data (frame);
    data [50] = 0xff;
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_OVERSIZED);
    //  ... or a little more than it carries, or less
    data [50] = 0;
    data [53] = 11;
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_TRUNCATED);
    data [53] = 9;
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_GARBAGE);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_OVERSIZED), 2);
    //  The sender refuses to seal over its own limit
    tm_envelope_set_max_payload (a->env, 100);
    tm_log_threshold = TM_LOG_NONE;
    cr_assert_null (tm_envelope_seal (a->env, 7, big, 101));
    zframe_destroy (&frame);
    free (big);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, random_garbage_never_crashes_and_is_always_counted)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    uint64_t before = tm_envelope_dropped_total (b->env);
    uint8_t buf [600];
    zframe_t *frame = tm_envelope_seal (a->env, 7, "x", 1);
    for (int i = 0; i < 20000; i++) {
        size_t size = randombytes_uniform (sizeof buf + 1);
        randombytes_buf (buf, size);
        if (i % 2 && size > 0)
            buf [0] = TM_ENVELOPE_MAGIC;        //  Get past the first check
        if (i % 4 == 3 && size >= 54) {          //  ... and look well framed
            memcpy (buf, zframe_data (frame), 34);
            buf [50] = buf [51] = 0;
            buf [52] = (uint8_t) ((size - TM_ENVELOPE_OVERHEAD) >> 8);
            buf [53] = (uint8_t) (size - TM_ENVELOPE_OVERHEAD);
        }
        tm_envelope_msg_t msg;
        cr_assert_neq (tm_envelope_open (b->env, buf, size, &msg), TM_ENVELOPE_OK);
        uint8_t pk [32];
        uint16_t port;
        cr_assert_neq (tm_envelope_beacon_verify (b->env, buf, size, pk, &port), TM_ENVELOPE_OK);
    }
    cr_assert_eq (tm_envelope_dropped_total (b->env) - before, 40000);
    cr_assert_gt (tm_envelope_dropped (b->env, TM_ENVELOPE_BAD_SIGNATURE), 0);
    zframe_destroy (&frame);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, replayed_envelope_is_rejected)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    zframe_t *frame = tm_envelope_seal (a->env, 7, "once", 4);
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_OK);
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_REPLAY);
    b->now += 30000;            //  Still within the skew: still a replay
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_REPLAY);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_REPLAY), 2);
    zframe_destroy (&frame);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, reordered_envelopes_within_the_window_pass_once_each)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    zframe_t *frames [100];
    for (int i = 0; i < 100; i++)
        frames [i] = tm_envelope_seal (a->env, 7, "n", 1);
    //  Newest first: the 63 before it are still in the window
    cr_assert_eq (s_open_frame (b, frames [99]), TM_ENVELOPE_OK);
    for (int i = 98; i >= 99 - (TM_ENVELOPE_WINDOW - 1); i--)
        cr_assert_eq (s_open_frame (b, frames [i]), TM_ENVELOPE_OK, "frame %d", i);
    for (int i = 99 - TM_ENVELOPE_WINDOW; i >= 0; i--)
        cr_assert_eq (s_open_frame (b, frames [i]), TM_ENVELOPE_REPLAY, "frame %d", i);
    for (int i = 0; i < 100; i++)
        cr_assert_eq (s_open_frame (b, frames [i]), TM_ENVELOPE_REPLAY);
    for (int i = 0; i < 100; i++)
        zframe_destroy (&frames [i]);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, stale_timestamp_is_rejected_either_way)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    a->now = b->now - TM_ENVELOPE_MAX_SKEW_MS - 1;
    zframe_t *old = tm_envelope_seal (a->env, 7, "old", 3);
    cr_assert_eq (s_open_frame (b, old), TM_ENVELOPE_STALE);
    a->now = b->now + TM_ENVELOPE_MAX_SKEW_MS + 1;
    zframe_t *future = tm_envelope_seal (a->env, 7, "future", 6);
    cr_assert_eq (s_open_frame (b, future), TM_ENVELOPE_STALE);
    a->now = b->now - TM_ENVELOPE_MAX_SKEW_MS;
    zframe_t *edge = tm_envelope_seal (a->env, 7, "edge", 4);
    cr_assert_eq (s_open_frame (b, edge), TM_ENVELOPE_OK);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_STALE), 2);
    //  Tolerance is configurable
    tm_envelope_set_max_skew (b->env, 10 * TM_ENVELOPE_MAX_SKEW_MS);
    cr_assert_eq (s_open_frame (b, future), TM_ENVELOPE_OK);
    zframe_destroy (&old);
    zframe_destroy (&future);
    zframe_destroy (&edge);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, replay_state_expires_only_when_replays_are_stale_anyway)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    zframe_t *first = tm_envelope_seal (a->env, 7, "1", 1);
    cr_assert_eq (s_open_frame (b, first), TM_ENVELOPE_OK);
    //  Long after, the old frame is stale, never accepted again
    b->now += 3 * TM_ENVELOPE_MAX_SKEW_MS;
    cr_assert_eq (s_open_frame (b, first), TM_ENVELOPE_STALE);
    //  A restarted sender whose clock stepped back (lower sequences) is
    //  accepted once its old state is forgotten
    tm_envelope_destroy (&a->env);
    a->env = tm_envelope_new (a->keys);
    a->now = b->now;
    tm_envelope_set_clock (a->env, s_clock, a);
    zframe_t *second = tm_envelope_seal (a->env, 7, "2", 1);
    uint8_t *data = zframe_data (second);
    memset (data + 34, 0, 8);   //  Sequence 1 (re-signed below)
    data [41] = 1;
    tm_keys_sign (a->keys, data, zframe_size (second) - 64, data + zframe_size (second) - 64);
    cr_assert_eq (s_open_frame (b, second), TM_ENVELOPE_OK);
    cr_assert_eq (s_open_frame (b, second), TM_ENVELOPE_REPLAY);
    zframe_destroy (&first);
    zframe_destroy (&second);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, unknown_sender_is_rejected)
{
    s_node_t *a = s_founder (), *b = s_node_new (), *stranger = s_node_new ();
    s_join (a, b, "beta");
    //  Same cluster pinned (it has the token) but not admitted
    s_pin (a, stranger);
    zframe_t *frame = tm_envelope_seal (stranger->env, 7, "hi", 2);
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_UNKNOWN_SENDER);
    //  A stranger may only introduce itself: JOIN to a member...
    zframe_t *welcome = tm_envelope_seal (stranger->env, TM_ENVELOPE_WELCOME, "x", 1);
    cr_assert_eq (s_open_frame (b, welcome), TM_ENVELOPE_UNKNOWN_SENDER);
    //  ... and a WELCOME only to a pinned node
    s_node_t *c = s_node_new ();
    s_pin (a, c);
    zframe_t *join = tm_envelope_seal (stranger->env, TM_ENVELOPE_JOIN, "x", 1);
    cr_assert_eq (s_open_frame (c, join), TM_ENVELOPE_UNKNOWN_SENDER);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_UNKNOWN_SENDER), 2);
    zframe_destroy (&frame);
    zframe_destroy (&welcome);
    zframe_destroy (&join);
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&c);
    s_node_destroy (&stranger);
}

Test (envelope, revoked_sender_is_rejected)
{
    tm_log_threshold = TM_LOG_NONE;
    s_node_t *a = s_founder (), *b = s_node_new (), *c = s_node_new ();
    s_join (a, b, "beta");
    s_join (a, c, "gamma");
    tm_keys_member_add (b->keys, tm_keys_node_cert (c->keys), NULL);
    zframe_t *before = tm_envelope_seal (c->env, 7, "hi", 2);
    zframe_t *after = tm_envelope_seal (c->env, 7, "hi", 2);
    cr_assert_eq (s_open_frame (b, before), TM_ENVELOPE_OK);
    uint8_t fact [TM_KEYS_REVOCATION_BYTES];
    cr_assert_eq (tm_keys_revoke (a->keys, tm_keys_node_public (c->keys), a->now, fact, NULL), 0);
    cr_assert_eq (tm_keys_revocation_apply (b->keys, fact, sizeof fact, NULL), 1);
    cr_assert_eq (s_open_frame (b, after), TM_ENVELOPE_REVOKED);
    //  Not even as an introduction
    zframe_t *join = tm_envelope_join_seal (c->env, "gamma", NULL);
    cr_assert_eq (s_open_frame (a, join), TM_ENVELOPE_REVOKED);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_REVOKED), 1);
    zframe_destroy (&before);
    zframe_destroy (&after);
    zframe_destroy (&join);
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&c);
}

Test (envelope, forged_envelope_claiming_another_senders_key_is_rejected)
{
    s_node_t *a = s_founder (), *b = s_node_new (), *c = s_node_new ();
    s_join (a, b, "beta");
    s_join (a, c, "gamma");
    tm_keys_member_add (b->keys, tm_keys_node_cert (c->keys), NULL);
    //  C, a member, writes an envelope in A's name and signs it itself
    zframe_t *frame = tm_envelope_seal (c->env, 7, "from A, honest", 14);
    uint8_t *data = zframe_data (frame);
    memcpy (data + 2, tm_keys_node_public (a->keys), 32);
    size_t size = zframe_size (frame);
    tm_keys_sign (c->keys, data, size - 64, data + size - 64);
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_BAD_SIGNATURE);
    //  Or splices A's signature from a real envelope onto its own payload
    zframe_t *real = tm_envelope_seal (a->env, 7, "from A, really", 14);
    memcpy (data + size - 64, zframe_data (real) + zframe_size (real) - 64, 64);
    cr_assert_eq (s_open_frame (b, frame), TM_ENVELOPE_BAD_SIGNATURE);
    cr_assert_eq (tm_envelope_dropped (b->env, TM_ENVELOPE_BAD_SIGNATURE), 2);
    cr_assert_eq (s_open_frame (b, real), TM_ENVELOPE_OK);
    zframe_destroy (&frame);
    zframe_destroy (&real);
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&c);
}

//  ---------------------------------------------------------------------
//  Join proof

Test (envelope, join_proof_with_a_wrong_secret_is_rejected)
{
    s_node_t *a = s_founder (), *j = s_node_new ();
    uint8_t wrong [32];
    randombytes_buf (wrong, sizeof wrong);
    tm_keys_cluster_pin (j->keys, tm_keys_cluster_public (a->keys), wrong, NULL);
    zframe_t *join = tm_envelope_join_seal (j->env, "joiner", NULL);
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (join), zframe_size (join), &msg),
                  TM_ENVELOPE_OK);
    char name [TM_KEYS_NAME_MAX + 1];
    cr_assert_eq (tm_envelope_join_verify (a->env, &msg, name), TM_ENVELOPE_BAD_MAC);
    cr_assert_eq (tm_envelope_dropped (a->env, TM_ENVELOPE_BAD_MAC), 1);
    cr_assert_str_eq (name, "");
    zframe_destroy (&join);
    s_node_destroy (&a);
    s_node_destroy (&j);
}

Test (envelope, join_proof_is_bound_to_the_joiners_key)
{
    s_node_t *a = s_founder (), *j = s_node_new (), *k = s_node_new ();
    s_pin (a, j);
    s_pin (a, k);
    //  K re-sends J's proof under its own key: the MAC names J's key
    zframe_t *join = tm_envelope_join_seal (j->env, "joiner", NULL);
    zframe_t *stolen = tm_envelope_seal (k->env, TM_ENVELOPE_JOIN,
                                         zframe_data (join) + TM_ENVELOPE_HEADER,
                                         zframe_size (join) - TM_ENVELOPE_OVERHEAD);
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (stolen), zframe_size (stolen), &msg),
                  TM_ENVELOPE_OK);
    char name [TM_KEYS_NAME_MAX + 1];
    cr_assert_eq (tm_envelope_join_verify (a->env, &msg, name), TM_ENVELOPE_BAD_MAC);
    //  J's own passes; replayed, its envelope is refused
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (join), zframe_size (join), &msg),
                  TM_ENVELOPE_OK);
    cr_assert_eq (tm_envelope_join_verify (a->env, &msg, name), TM_ENVELOPE_OK);
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (join), zframe_size (join), &msg),
                  TM_ENVELOPE_REPLAY);
    //  Malformed proofs are garbage or truncated, never a crash
    for (size_t cut = 0; cut < zframe_size (join) - TM_ENVELOPE_OVERHEAD; cut++) {
        zframe_t *short_join = tm_envelope_seal (j->env, TM_ENVELOPE_JOIN,
                                                 zframe_data (join) + TM_ENVELOPE_HEADER, cut);
        cr_assert_eq (tm_envelope_open (a->env, zframe_data (short_join),
                                        zframe_size (short_join), &msg), TM_ENVELOPE_OK);
        int verdict = tm_envelope_join_verify (a->env, &msg, name);
        cr_assert (verdict == TM_ENVELOPE_TRUNCATED || verdict == TM_ENVELOPE_GARBAGE,
                   "cut %zu: %s", cut, tm_envelope_verdict_name (verdict));
        zframe_destroy (&short_join);
    }
    zframe_destroy (&join);
    zframe_destroy (&stolen);
    s_node_destroy (&a);
    s_node_destroy (&j);
    s_node_destroy (&k);
}

Test (envelope, old_token_stops_admitting_after_the_grace_period)
{
    s_node_t *a = s_founder (), *old = s_node_new (), *late = s_node_new ();
    s_pin (a, old);             //  Both hold the token from before rotation
    s_pin (a, late);
    uint8_t fact [TM_KEYS_ROTATION_BYTES];
    a->now += 1000;
    cr_assert_eq (tm_keys_rotate (a->keys, 10000, a->now, fact, NULL), 0);
    char name [TM_KEYS_NAME_MAX + 1];
    tm_envelope_msg_t msg;
    //  Within the grace period
    old->now = a->now += 9000;
    zframe_t *join = tm_envelope_join_seal (old->env, "old", NULL);
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (join), zframe_size (join), &msg), 0);
    cr_assert_eq (tm_envelope_join_verify (a->env, &msg, name), TM_ENVELOPE_OK);
    zframe_destroy (&join);
    //  After it
    late->now = a->now += 1000;
    join = tm_envelope_join_seal (late->env, "late", NULL);
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (join), zframe_size (join), &msg), 0);
    cr_assert_eq (tm_envelope_join_verify (a->env, &msg, name), TM_ENVELOPE_BAD_MAC);
    zframe_destroy (&join);
    //  The new token admits
    s_node_t *fresh = s_node_new ();
    fresh->now = a->now;
    s_pin (a, fresh);
    join = tm_envelope_join_seal (fresh->env, "fresh", NULL);
    cr_assert_eq (tm_envelope_open (a->env, zframe_data (join), zframe_size (join), &msg), 0);
    cr_assert_eq (tm_envelope_join_verify (a->env, &msg, name), TM_ENVELOPE_OK);
    zframe_destroy (&join);
    s_node_destroy (&a);
    s_node_destroy (&old);
    s_node_destroy (&late);
    s_node_destroy (&fresh);
}

//  ---------------------------------------------------------------------
//  Beacon

Test (envelope, beacon_round_trips_and_fits_zbeacon)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    cr_assert_leq (TM_BEACON_BYTES, 255);
    uint8_t beacon [TM_BEACON_BYTES];
    cr_assert_eq (tm_envelope_beacon_encode (a->env, 5670, beacon), 0);
    cr_assert_eq (memcmp (beacon, "TMB1", 4), 0);
    uint8_t pk [32];
    uint16_t port = 0;
    cr_assert_eq (tm_envelope_beacon_verify (b->env, beacon, sizeof beacon, pk, &port),
                  TM_ENVELOPE_OK);
    cr_assert_eq (port, 5670);
    cr_assert_eq (memcmp (pk, tm_keys_node_public (a->keys), 32), 0);
    cr_assert_eq (tm_envelope_beacon_encode (a->env, 0, beacon), -1);
    s_node_t *lonely = s_node_new ();
    cr_assert_eq (tm_envelope_beacon_encode (lonely->env, 5670, beacon), -1);
    s_node_destroy (&lonely);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, beacon_with_a_wrong_secret_is_rejected)
{
    s_node_t *a = s_founder (), *liar = s_node_new ();
    //  Knows the cluster key (it is no secret) but not the join secret
    uint8_t wrong [32];
    randombytes_buf (wrong, sizeof wrong);
    tm_keys_cluster_pin (liar->keys, tm_keys_cluster_public (a->keys), wrong, NULL);
    uint8_t beacon [TM_BEACON_BYTES];
    cr_assert_eq (tm_envelope_beacon_encode (liar->env, 5670, beacon), 0);
    uint8_t pk [32];
    uint16_t port = 0;
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, sizeof beacon, pk, &port),
                  TM_ENVELOPE_BAD_MAC);
    cr_assert_eq (port, 0);
    cr_assert_eq (tm_envelope_dropped (a->env, TM_ENVELOPE_BAD_MAC), 1);
    //  Every bit flip of a good beacon is refused
    s_node_t *b = s_node_new ();
    s_join (a, b, "beta");
    cr_assert_eq (tm_envelope_beacon_encode (b->env, 5670, beacon), 0);
    for (size_t i = 0; i < sizeof beacon; i++)
        for (int bit = 0; bit < 8; bit++) {
            beacon [i] ^= 1 << bit;
            cr_assert_neq (tm_envelope_beacon_verify (a->env, beacon, sizeof beacon, pk, &port),
                           TM_ENVELOPE_OK, "flip %zu/%d", i, bit);
            beacon [i] ^= 1 << bit;
        }
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, sizeof beacon, pk, &port),
                  TM_ENVELOPE_OK);
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&liar);
}

Test (envelope, beacon_with_the_grace_secret_is_accepted_until_expiry)
{
    s_node_t *a = s_founder (), *b = s_node_new ();
    s_join (a, b, "beta");
    //  A rotates; B has not heard yet and still beacons with the old one
    uint8_t fact [TM_KEYS_ROTATION_BYTES];
    a->now += 1000;
    cr_assert_eq (tm_keys_rotate (a->keys, 20000, a->now, fact, NULL), 0);
    uint64_t expiry = a->now + 20000;
    uint8_t beacon [TM_BEACON_BYTES], pk [32];
    uint16_t port;
    b->now = a->now = expiry - 1;
    cr_assert_eq (tm_envelope_beacon_encode (b->env, 5670, beacon), 0);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, sizeof beacon, pk, &port),
                  TM_ENVELOPE_OK);
    b->now = a->now = expiry;
    cr_assert_eq (tm_envelope_beacon_encode (b->env, 5670, beacon), 0);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, sizeof beacon, pk, &port),
                  TM_ENVELOPE_BAD_MAC);
    //  Once B learns the rotation, its beacons pass again
    cr_assert_eq (tm_keys_rotation_apply (b->keys, fact, sizeof fact, NULL), 1);
    cr_assert_eq (tm_envelope_beacon_encode (b->env, 5670, beacon), 0);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, sizeof beacon, pk, &port),
                  TM_ENVELOPE_OK);
    s_node_destroy (&a);
    s_node_destroy (&b);
}

Test (envelope, stale_foreign_malformed_and_revoked_beacons_are_rejected)
{
    tm_log_threshold = TM_LOG_NONE;
    s_node_t *a = s_founder (), *b = s_node_new (), *other = s_founder ();
    s_join (a, b, "beta");
    uint8_t beacon [TM_BEACON_BYTES + 1], pk [32];
    uint16_t port;
    //  Stale: replayed 31 s later
    cr_assert_eq (tm_envelope_beacon_encode (b->env, 5670, beacon), 0);
    a->now = b->now + TM_BEACON_MAX_SKEW_MS + 1;
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, TM_BEACON_BYTES, pk, &port),
                  TM_ENVELOPE_STALE);
    a->now = b->now;
    //  Another cluster on the same LAN
    cr_assert_eq (tm_envelope_beacon_encode (other->env, 5670, beacon), 0);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, TM_BEACON_BYTES, pk, &port),
                  TM_ENVELOPE_FOREIGN);
    //  Sizes
    cr_assert_eq (tm_envelope_beacon_encode (b->env, 5670, beacon), 0);
    for (size_t cut = 4; cut < TM_BEACON_BYTES; cut++)
        cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, cut, pk, &port),
                      TM_ENVELOPE_TRUNCATED);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, TM_BEACON_BYTES + 1, pk, &port),
                  TM_ENVELOPE_OVERSIZED);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, (const uint8_t *) "ZRE\x01", 4, pk, &port),
                  TM_ENVELOPE_GARBAGE);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, 0, pk, &port),
                  TM_ENVELOPE_GARBAGE);
    //  Revoked
    uint8_t fact [TM_KEYS_REVOCATION_BYTES];
    cr_assert_eq (tm_keys_revoke (a->keys, tm_keys_node_public (b->keys), a->now, fact, NULL), 0);
    cr_assert_eq (tm_envelope_beacon_verify (a->env, beacon, TM_BEACON_BYTES, pk, &port),
                  TM_ENVELOPE_REVOKED);
    cr_assert_str_eq (tm_envelope_verdict_name (TM_ENVELOPE_REVOKED), "revoked");
    cr_assert_str_eq (tm_envelope_verdict_name (TM_ENVELOPE_OK), "ok");
    cr_assert_str_eq (tm_envelope_verdict_name (-99), "unknown");
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&other);
}

Test (envelope, hello_introduces_a_member_admitted_elsewhere)
{
    s_node_t *a = s_founder (), *b = s_node_new (), *c = s_node_new ();
    s_join (a, b, "beta");
    s_join (a, c, "gamma");     //  B has never heard of C
    zframe_t *early = tm_envelope_seal (c->env, 20, "hi", 2);
    cr_assert_eq (s_open_frame (b, early), TM_ENVELOPE_UNKNOWN_SENDER);
    zframe_t *hello = tm_envelope_hello_seal (c->env, NULL);
    cr_assert_not_null (hello);
    tm_envelope_msg_t msg;
    cr_assert_eq (tm_envelope_open (b->env, zframe_data (hello), zframe_size (hello), &msg),
                  TM_ENVELOPE_OK);
    cr_assert_not (msg.introduction);
    cr_assert_eq (tm_keys_status (b->keys, tm_keys_node_public (c->keys)), TM_KEYS_MEMBER);
    zframe_t *later = tm_envelope_seal (c->env, 20, "hi", 2);
    cr_assert_eq (s_open_frame (b, later), TM_ENVELOPE_OK);
    //  Learnt for good: B's members file has C after a restart (once
    //  written: the owner flushes learnt certificates, tm_keys_flush)
    cr_assert_eq (tm_keys_flush (b->keys), 0);
    tm_keys_t *reloaded = tm_keys_new (b->dir, NULL);
    cr_assert_eq (tm_keys_status (reloaded, tm_keys_node_public (c->keys)), TM_KEYS_MEMBER);
    tm_keys_destroy (&reloaded);
    zframe_destroy (&early);
    zframe_destroy (&hello);
    zframe_destroy (&later);
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&c);
}

Test (envelope, hello_with_a_borrowed_or_foreign_certificate_is_rejected)
{
    s_node_t *a = s_founder (), *b = s_node_new (), *c = s_node_new ();
    s_node_t *other = s_founder (), *stranger = s_node_new ();
    s_join (a, b, "beta");
    s_pin (a, stranger);
    //  The stranger presents B's certificate (public, so easy to copy)
    uint8_t cert [TM_KEYS_CERT_MAX];
    size_t size = tm_keys_cert_encode (tm_keys_node_cert (b->keys), cert, sizeof cert);
    zframe_t *borrowed = tm_envelope_seal (stranger->env, TM_ENVELOPE_HELLO, cert, size);
    cr_assert_eq (s_open_frame (a, borrowed), TM_ENVELOPE_UNKNOWN_SENDER);
    //  A member of another cluster presents its own
    zframe_t *foreign = tm_envelope_hello_seal (other->env, NULL);
    cr_assert_eq (s_open_frame (a, foreign), TM_ENVELOPE_UNKNOWN_SENDER);
    //  Garbage in place of a certificate
    zframe_t *junk = tm_envelope_seal (stranger->env, TM_ENVELOPE_HELLO, "junk", 4);
    cr_assert_eq (s_open_frame (a, junk), TM_ENVELOPE_UNKNOWN_SENDER);
    cr_assert_eq (tm_keys_member_count (a->keys), 2);
    //  Only members take a HELLO, and only members send one
    cr_assert_null (tm_envelope_hello_seal (stranger->env, NULL));
    s_pin (a, c);
    zframe_t *hello = tm_envelope_hello_seal (b->env, NULL);
    cr_assert_eq (s_open_frame (c, hello), TM_ENVELOPE_UNKNOWN_SENDER);
    zframe_destroy (&borrowed);
    zframe_destroy (&foreign);
    zframe_destroy (&junk);
    zframe_destroy (&hello);
    s_node_destroy (&a);
    s_node_destroy (&b);
    s_node_destroy (&c);
    s_node_destroy (&other);
    s_node_destroy (&stranger);
}
