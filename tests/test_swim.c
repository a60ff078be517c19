/*  test_swim.c - SWIM + Lifeguard (gossip/tm_swim.c) on the simulated
    network (gossip/tm_simnet.c): probing, indirect probes, suspicion,
    refutation, local health, leave, partitions, rejoin, identity reuse,
    signatures, malformed input, dissemination and reaping.

    Everything runs in simulated time with fixed seeds: deterministic, and
    the whole file takes a few seconds.  Crafted packets are built here by
    hand from docs/protocol-swim.md, so the tests check the document too.
*/
#include "tm_testutil.h"
#include "tm_common.h"
#include "tm_swim.h"
#include "tm_simnet.h"
#include <math.h>
#include <sodium.h>

//  --------------------------------------------------------------------
//  Event log shared by a test's nodes (each Criterion test is a process)

typedef struct {
    double at;                      //  Simulated time
    size_t node;                    //  Who saw it
    tm_swim_event_type_t type;      //  What
    uint8_t id [TM_SWIM_ID_SIZE];   //  About whom
    uint64_t incarnation;           //  Subject's incarnation
} s_seen_t;

static struct {
    tm_simnet_t *net;
    s_seen_t *seen;
    size_t count;
    size_t cap;
} s_log;

static void
s_on_event (void *arg, size_t node, const tm_swim_event_t *event)
{
    if (s_log.count == s_log.cap) {
        s_log.cap = s_log.cap? s_log.cap * 2: 1024;
        s_log.seen = (s_seen_t *) realloc (s_log.seen, s_log.cap * sizeof (s_seen_t));
    }
    s_seen_t *seen = &s_log.seen [s_log.count++];
    seen->at = tm_simnet_now (s_log.net);
    seen->node = node;
    seen->type = event->type;
    memcpy (seen->id, event->member.id, TM_SWIM_ID_SIZE);
    seen->incarnation = event->member.incarnation;
}

//  Events of TYPE about ID (any node if NODE is SIZE_MAX)
static size_t
s_events (tm_swim_event_type_t type, const uint8_t *id, size_t node)
{
    size_t n = 0;
    for (size_t i = 0; i < s_log.count; i++)
        if (s_log.seen [i].type == type && (!id || memcmp (s_log.seen [i].id, id, 32) == 0)
        && (node == SIZE_MAX || s_log.seen [i].node == node))
            n++;
    return n;
}

static bool
s_converged (tm_simnet_t *net, void *arg)
{
    return tm_simnet_converged (net);
}

typedef struct {
    size_t node;
    tm_swim_state_t state;
} s_target_t;

static bool
s_all_see (tm_simnet_t *net, void *arg)
{
    s_target_t *target = (s_target_t *) arg;
    return tm_simnet_all_see (net, target->node, target->state);
}

//  A network of N nodes with the fast profile, all joined through node 0
//  and converged.
static tm_simnet_t *
s_cluster (size_t n, uint64_t seed, double loss)
{
    tm_simnet_config_t net_config;
    tm_simnet_config_default (&net_config);
    net_config.seed = seed;
    net_config.loss = loss;
    tm_simnet_t *net = tm_simnet_new (&net_config);
    s_log.net = net;
    s_log.count = 0;
    tm_simnet_set_events (net, s_on_event, NULL);
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq (tm_simnet_add (net, &config, NULL, NULL, NULL, 0), (int) i);
        if (i)
            cr_assert_eq (tm_simnet_join (net, i, 0), 0);
    }
    cr_assert (tm_simnet_run_until (net, 30, s_converged, NULL, 0.01), "cluster did not converge");
    return net;
}

//  --------------------------------------------------------------------
//  Hand-built packets (docs/protocol-swim.md)

typedef struct {
    uint8_t buf [70000];
    size_t size;
    size_t count_at;                //  PUSH-PULL count field
    uint32_t facts;                 //  Facts added
    size_t bounds [256];            //  Sizes at which the packet is complete
    size_t bound_count;
} s_pkt_t;

static void
s_put (s_pkt_t *p, const void *data, size_t size)
{
    if (size)
        memcpy (p->buf + p->size, data, size);
    p->size += size;
}

static void
s_put_be (s_pkt_t *p, uint64_t value, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        p->buf [p->size++] = (uint8_t) (value >> (8 * i));
}

static void
s_header (s_pkt_t *p, int type, const uint8_t *sender)
{
    p->size = 0;
    p->facts = 0;
    p->bound_count = 0;
    uint8_t head [4] = { 'S', 'W', 1, (uint8_t) type };
    s_put (p, head, 4);
    s_put (p, sender, 32);
}

static void
s_bound (s_pkt_t *p)
{
    if (p->bound_count < 256)
        p->bounds [p->bound_count++] = p->size;
}

//  ALIVE fact; signed with SK (64-byte libsodium secret key) if not NULL
static void
s_alive (s_pkt_t *p, const uint8_t *id, uint64_t inc, const char *name,
         const char *address, const void *meta, size_t meta_size, const uint8_t *sk)
{
    uint8_t kind [2] = { 1, (uint8_t) (sk? 1: 0) };
    s_put (p, kind, 2);
    size_t body = p->size;
    s_put (p, id, 32);
    s_put_be (p, inc, 8);
    s_put_be (p, strlen (name), 1);
    s_put (p, name, strlen (name));
    s_put_be (p, strlen (address), 1);
    s_put (p, address, strlen (address));
    s_put_be (p, meta_size, 2);
    s_put (p, meta, meta_size);
    if (sk) {
        uint8_t signed_data [2048];
        memcpy (signed_data, "TMSWIM-A", 8);
        memcpy (signed_data + 8, p->buf + body, p->size - body);
        uint8_t sig [64];
        crypto_sign_detached (sig, NULL, signed_data, 8 + p->size - body, sk);
        s_put (p, sig, 64);
    }
    p->facts++;
    s_bound (p);
}

static void
s_suspect (s_pkt_t *p, const uint8_t *id, uint64_t inc, const uint8_t *from, bool hint)
{
    uint8_t kind [2] = { 2, (uint8_t) (hint? 2: 0) };
    s_put (p, kind, 2);
    s_put (p, id, 32);
    s_put_be (p, inc, 8);
    s_put (p, from, 32);
    p->facts++;
    s_bound (p);
}

static void
s_dead (s_pkt_t *p, const uint8_t *id, uint64_t inc)
{
    uint8_t kind [2] = { 3, 0 };
    s_put (p, kind, 2);
    s_put (p, id, 32);
    s_put_be (p, inc, 8);
    p->facts++;
    s_bound (p);
}

static void
s_left (s_pkt_t *p, const uint8_t *id, uint64_t inc, const uint8_t *sk)
{
    uint8_t kind [2] = { 4, (uint8_t) (sk? 1: 0) };
    s_put (p, kind, 2);
    size_t body = p->size;
    s_put (p, id, 32);
    s_put_be (p, inc, 8);
    if (sk) {
        uint8_t signed_data [48];
        memcpy (signed_data, "TMSWIM-L", 8);
        memcpy (signed_data + 8, p->buf + body, 40);
        uint8_t sig [64];
        crypto_sign_detached (sig, NULL, signed_data, 48, sk);
        s_put (p, sig, 64);
    }
    p->facts++;
    s_bound (p);
}

static void
s_push_pull_begin (s_pkt_t *p, const uint8_t *sender, bool reply)
{
    s_header (p, reply? 7: 6, sender);
    s_put_be (p, 0, 1);
    p->count_at = p->size;
    s_put_be (p, 0, 4);
}

static void
s_push_pull_end (s_pkt_t *p)
{
    for (int i = 0; i < 4; i++)
        p->buf [p->count_at + i] = (uint8_t) (p->facts >> (24 - 8 * i));
}

static void
s_fake_id (uint8_t *id, int n)
{
    memset (id, 0, 32);
    id [0] = 0xAB;
    id [1] = (uint8_t) n;
    id [2] = (uint8_t) (n >> 8);
    id [31] = 0x5A;
}

//  A standalone node (fast profile), fed by hand
static tm_swim_t *
s_lone (const uint8_t *id, tm_swim_config_t *config)
{
    tm_swim_config_t local;
    if (!config) {
        tm_swim_config_fast (&local);
        local.random_seed = 7;
        config = &local;
    }
    tm_swim_t *swim = tm_swim_new (config, id, "lone", "lone:7946", NULL, 0, 0);
    cr_assert_not_null (swim);
    return swim;
}

static void
s_drain (tm_swim_t *swim)
{
    tm_swim_packet_t packet;
    while (tm_swim_pop_outgoing (swim, &packet))
        free (packet.data);
}

//  Teaches SWIM about N fake members (ids s_fake_id 1..n) in one GOSSIP
static void
s_teach (tm_swim_t *swim, int n, double now)
{
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    uint8_t sender [32];
    s_fake_id (sender, 1);
    s_header (p, 5, sender);
    for (int i = 1; i <= n; i++) {
        uint8_t id [32];
        char name [16], address [32];
        s_fake_id (id, i);
        snprintf (name, sizeof name, "f%d", i);
        snprintf (address, sizeof address, "f%d:7946", i);
        s_alive (p, id, 1, name, address, NULL, 0, NULL);
    }
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, now), 0);
    free (p);
}

//  --------------------------------------------------------------------
//  Signatures with libsodium

typedef struct {
    uint8_t pk [crypto_sign_PUBLICKEYBYTES];
    uint8_t sk [crypto_sign_SECRETKEYBYTES];
} s_keys_t;

static int
s_sign (void *arg, const void *data, size_t size, uint8_t sig [64])
{
    s_keys_t *keys = (s_keys_t *) arg;
    return crypto_sign_detached (sig, NULL, (const uint8_t *) data, size, keys->sk);
}

static bool
s_verify (void *arg, const uint8_t id [32], const void *data, size_t size,
          const uint8_t sig [64])
{
    return crypto_sign_verify_detached (sig, (const uint8_t *) data, size, id) == 0;
}

//  Log only errors: the malformed-input tests provoke warnings by the
//  thousand
static void
s_quiet (void)
{
    tm_log_set_level ("error");
}

TestSuite (swim, .init = s_quiet);

//  --------------------------------------------------------------------
//  Probing

Test (swim, probes_succeed_and_nobody_is_suspected_on_a_healthy_network)
{
    tm_simnet_t *net = s_cluster (5, 11, 0);
    tm_simnet_run (net, tm_simnet_now (net) + 10);
    for (size_t i = 0; i < 5; i++) {
        tm_swim_stats_t stats;
        tm_swim_stats (tm_simnet_swim (net, i), &stats);
        cr_assert_gt (stats.probes, 100, "node %zu probed %lu times", i, stats.probes);
        cr_assert_eq (stats.probes_failed, 0);
        cr_assert_eq (tm_swim_awareness (tm_simnet_swim (net, i)), 0);
        cr_assert_eq (tm_swim_count (tm_simnet_swim (net, i), TM_SWIM_ALIVE), 5);
    }
    cr_assert_eq (s_events (TM_SWIM_EVENT_SUSPECT, NULL, SIZE_MAX), 0);
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, NULL, SIZE_MAX), 0);
    tm_simnet_destroy (&net);
}

static bool
s_cut_link_1_2 (void *arg, size_t from, size_t to, const uint8_t *data, size_t size)
{
    return !((from == 1 && to == 2) || (from == 2 && to == 1));
}

Test (swim, indirect_probe_succeeds_when_the_direct_path_is_lost)
{
    tm_simnet_t *net = s_cluster (5, 12, 0);
    tm_simnet_set_filter (net, s_cut_link_1_2, NULL);
    tm_simnet_run (net, tm_simnet_now (net) + 10);
    tm_swim_stats_t stats;
    tm_swim_stats (tm_simnet_swim (net, 1), &stats);
    cr_assert_gt (stats.indirect_probes, 0, "node 1 never asked for an indirect probe");
    cr_assert_eq (stats.probes_failed, 0, "indirect probes should have reached node 2");
    tm_swim_member_t member;
    cr_assert (tm_swim_member (tm_simnet_swim (net, 1), tm_simnet_id (net, 2), &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, NULL, SIZE_MAX), 0);
    cr_assert_eq (s_events (TM_SWIM_EVENT_SUSPECT, NULL, SIZE_MAX), 0);
    tm_simnet_destroy (&net);
}

Test (swim, killed_node_is_suspected_then_declared_dead_by_all)
{
    tm_simnet_t *net = s_cluster (8, 13, 0);
    const uint8_t *victim = tm_simnet_id (net, 3);
    double killed = tm_simnet_now (net);
    tm_simnet_kill (net, 3, false);
    s_target_t target = { 3, TM_SWIM_DEAD };
    cr_assert (tm_simnet_run_until (net, killed + 10, s_all_see, &target, 0.01));
    double detection = tm_simnet_now (net) - killed;
    //  Fast profile, N = 8: suspicion between 0.2 s and 1.2 s, plus probing
    cr_assert_lt (detection, 2.0, "detection took %.2f s", detection);
    //  Every node went through suspect before dead... or heard dead first
    cr_assert_gt (s_events (TM_SWIM_EVENT_SUSPECT, victim, SIZE_MAX), 0);
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, victim, SIZE_MAX), 7);
    for (size_t i = 0; i < s_log.count; i++)
        if (s_log.seen [i].type == TM_SWIM_EVENT_SUSPECT && memcmp (s_log.seen [i].id, victim, 32) == 0)
            cr_assert_geq (s_log.seen [i].at, killed);
    tm_simnet_destroy (&net);
}

static double s_cut_until;
static bool
s_cut_node_2 (void *arg, size_t from, size_t to, const uint8_t *data, size_t size)
{
    return to != 2 || tm_simnet_now (s_log.net) >= s_cut_until;
}

Test (swim, suspected_node_refutes_with_a_higher_incarnation)
{
    tm_simnet_t *net = s_cluster (6, 14, 0);
    tm_swim_t *two = tm_simnet_swim (net, 2);
    cr_assert_eq (tm_swim_incarnation (two), 0);
    //  Nothing reaches node 2 for 100 ms: its probers suspect it
    s_cut_until = tm_simnet_now (net) + 0.1;
    tm_simnet_set_filter (net, s_cut_node_2, NULL);
    tm_simnet_run (net, tm_simnet_now (net) + 5);
    cr_assert_gt (s_events (TM_SWIM_EVENT_SUSPECT, tm_simnet_id (net, 2), SIZE_MAX), 0,
                  "nobody suspected node 2");
    cr_assert_gt (tm_swim_incarnation (two), 0, "node 2 did not refute");
    tm_swim_stats_t stats;
    tm_swim_stats (two, &stats);
    cr_assert_geq (stats.refutations, 1);
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, tm_simnet_id (net, 2), SIZE_MAX), 0);
    cr_assert_gt (s_events (TM_SWIM_EVENT_ALIVE, tm_simnet_id (net, 2), SIZE_MAX), 0);
    for (size_t i = 0; i < 6; i++) {
        tm_swim_member_t member;
        cr_assert (tm_swim_member (tm_simnet_swim (net, i), tm_simnet_id (net, 2), &member));
        cr_assert_eq (member.state, TM_SWIM_ALIVE);
        cr_assert_eq (member.incarnation, tm_swim_incarnation (two));
    }
    tm_simnet_destroy (&net);
}

Test (swim, node_hearing_itself_suspected_refutes_at_once)
{
    uint8_t me [32], accuser [32];
    s_fake_id (me, 500);
    s_fake_id (accuser, 1);
    tm_swim_t *swim = s_lone (me, NULL);
    s_teach (swim, 3, 0);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    s_header (p, 5, accuser);
    s_suspect (p, me, 4, accuser, false);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 1), 0);
    cr_assert_eq (tm_swim_incarnation (swim), 5, "refutation must beat the accusation");
    cr_assert_eq (tm_swim_awareness (swim), 1, "being suspected lowers our health");
    //  The refutation is on its way
    tm_swim_tick (swim, 1.1);
    tm_swim_packet_t packet;
    cr_assert (tm_swim_pop_outgoing (swim, &packet));
    free (packet.data);
    s_drain (swim);
    //  Dead at our incarnation: refute again
    s_header (p, 5, accuser);
    s_dead (p, me, 5);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 2), 0);
    cr_assert_eq (tm_swim_incarnation (swim), 6);
    tm_swim_member_t self;
    cr_assert (tm_swim_member (swim, me, &self));
    cr_assert_eq (self.state, TM_SWIM_ALIVE);
    free (p);
    tm_swim_destroy (&swim);
    cr_assert_null (swim);
    tm_swim_destroy (&swim);            //  Idempotent
}

//  --------------------------------------------------------------------
//  Suspicion timeouts

Test (swim, suspicion_timeout_shrinks_with_independent_confirmations)
{
    uint8_t me [32], victim [32], a [32], b [32], c [32], d [32];
    s_fake_id (me, 500);
    s_fake_id (victim, 9);
    s_fake_id (a, 1); s_fake_id (b, 2); s_fake_id (c, 3); s_fake_id (d, 4);
    tm_swim_t *swim = s_lone (me, NULL);
    s_teach (swim, 9, 0);
    cr_assert_eq (tm_swim_size (swim), 10);
    //  N = 10, probe 50 ms, suspicion_mult 4: min = 4 * log10 (10) * 0.05
    //  = 0.2 s, max = 6 * min = 1.2 s, k = 4 - 2 = 2 confirmations
    double min = 0.2, max = 1.2, start = 1.0;
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    s_header (p, 5, a);
    s_suspect (p, victim, 1, a, false);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, start), 0);
    double deadline = 0;
    int confirmations = -1;
    cr_assert_eq (tm_swim_suspicion (swim, victim, &deadline, &confirmations), 0);
    cr_assert_float_eq (deadline, start + max, 1e-9);
    cr_assert_eq (confirmations, 0);

    //  A again: not independent
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, start + 0.05), 0);
    tm_swim_suspicion (swim, victim, &deadline, &confirmations);
    cr_assert_eq (confirmations, 0);
    cr_assert_float_eq (deadline, start + max, 1e-9);

    //  B: one confirmation, timeout = max - (max - min) * log 2 / log 3
    s_header (p, 5, b);
    s_suspect (p, victim, 1, b, false);
    cr_assert_eq (tm_swim_receive (swim, "f2:7946", p->buf, p->size, start + 0.1), 0);
    tm_swim_suspicion (swim, victim, &deadline, &confirmations);
    cr_assert_eq (confirmations, 1);
    double expected = start + max - (max - min) * log (2) / log (3);
    cr_assert_float_eq (deadline, expected, 1e-9);
    double after_one = deadline;

    //  C: k confirmations, timeout = min
    s_header (p, 5, c);
    s_suspect (p, victim, 1, c, false);
    cr_assert_eq (tm_swim_receive (swim, "f3:7946", p->buf, p->size, start + 0.15), 0);
    tm_swim_suspicion (swim, victim, &deadline, &confirmations);
    cr_assert_eq (confirmations, 2);
    cr_assert_float_eq (deadline, start + min, 1e-9);
    cr_assert_lt (deadline, after_one);

    //  D: beyond k, no further change
    s_header (p, 5, d);
    s_suspect (p, victim, 1, d, false);
    cr_assert_eq (tm_swim_receive (swim, "f4:7946", p->buf, p->size, start + 0.16), 0);
    tm_swim_suspicion (swim, victim, &deadline, &confirmations);
    cr_assert_eq (confirmations, 2);
    cr_assert_float_eq (deadline, start + min, 1e-9);

    //  The timer fires: one last PING to the suspect first...
    cr_assert_leq (tm_swim_next_deadline (swim), deadline);
    s_drain (swim);
    tm_swim_tick (swim, start + min);
    tm_swim_member_t member;
    cr_assert (tm_swim_member (swim, victim, &member));
    cr_assert_eq (member.state, TM_SWIM_SUSPECT);
    tm_swim_packet_t packet;
    cr_assert (tm_swim_pop_outgoing (swim, &packet));
    cr_assert_str_eq (packet.address, "f9:7946");
    cr_assert_eq (packet.data [3], 1, "a PING");
    free (packet.data);
    //  ...and with no answer within a probe interval, dead
    tm_swim_tick (swim, start + min + 0.05);
    cr_assert (tm_swim_member (swim, victim, &member));
    cr_assert_eq (member.state, TM_SWIM_DEAD);
    cr_assert_eq (tm_swim_suspicion (swim, victim, NULL, NULL), -1);
    free (p);
    tm_swim_destroy (&swim);
}

//  Finds the seq of the first PING to ADDRESS in SWIM's outbox (drains it)
static int64_t
s_ping_seq (tm_swim_t *swim, const char *address)
{
    int64_t seq = -1;
    tm_swim_packet_t packet;
    while (tm_swim_pop_outgoing (swim, &packet)) {
        if (seq < 0 && packet.data [3] == 1 && streq (packet.address, address))
            seq = (int64_t) packet.data [36] << 24 | packet.data [37] << 16
                | packet.data [38] << 8 | packet.data [39];
        free (packet.data);
    }
    return seq;
}

Test (swim, last_ping_before_conviction_lets_a_live_member_refute)
{
    uint8_t me [32], victim [32], a [32];
    s_fake_id (me, 500);
    s_fake_id (victim, 9);
    s_fake_id (a, 1);
    tm_swim_t *swim = s_lone (me, NULL);
    s_teach (swim, 9, 0);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    s_header (p, 5, a);
    s_suspect (p, victim, 1, a, false);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 1.0), 0);
    double deadline;
    tm_swim_suspicion (swim, victim, &deadline, NULL);
    s_drain (swim);
    tm_swim_tick (swim, deadline);
    int64_t seq = s_ping_seq (swim, "f9:7946");
    cr_assert_geq (seq, 0, "no last PING to the suspect");

    //  The suspect answers, its refutation piggybacked: no conviction
    s_header (p, 3, victim);
    s_put_be (p, (uint64_t) seq, 4);
    s_alive (p, victim, 2, "f9", "f9:7946", NULL, 0, NULL);
    cr_assert_eq (tm_swim_receive (swim, "f9:7946", p->buf, p->size, deadline + 0.01), 0);
    tm_swim_member_t member;
    cr_assert (tm_swim_member (swim, victim, &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    cr_assert_eq (member.incarnation, 2);

    //  Suspected again; this time the answer carries no refutation: the
    //  suspicion starts over instead of convicting
    s_header (p, 5, a);
    s_suspect (p, victim, 2, a, false);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 5.0), 0);
    tm_swim_suspicion (swim, victim, &deadline, NULL);
    s_drain (swim);
    tm_swim_tick (swim, deadline);
    seq = s_ping_seq (swim, "f9:7946");
    cr_assert_geq (seq, 0);
    s_header (p, 3, victim);
    s_put_be (p, (uint64_t) seq, 4);
    cr_assert_eq (tm_swim_receive (swim, "f9:7946", p->buf, p->size, deadline + 0.01), 0);
    double restarted;
    cr_assert_eq (tm_swim_suspicion (swim, victim, &restarted, NULL), 0);
    cr_assert_gt (restarted, deadline + 0.05);
    tm_swim_tick (swim, deadline + 0.06);
    cr_assert (tm_swim_member (swim, victim, &member));
    cr_assert_eq (member.state, TM_SWIM_SUSPECT);
    free (p);
    tm_swim_destroy (&swim);
}

Test (swim, stale_accusation_is_answered_with_our_current_alive_fact)
{
    uint8_t me [32], prober [32];
    s_fake_id (me, 500);
    s_fake_id (prober, 1);
    tm_swim_t *swim = s_lone (me, NULL);
    s_teach (swim, 3, 0);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    //  Suspected at 0: refute to 1; let the refutation run its course
    s_header (p, 5, prober);
    s_suspect (p, me, 0, prober, false);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 1), 0);
    cr_assert_eq (tm_swim_incarnation (swim), 1);
    for (int i = 0; i < 200; i++) {
        tm_swim_tick (swim, 1 + i * 0.01);
        s_drain (swim);
    }
    //  A prober that missed it pings us with the old suspicion attached
    s_header (p, 1, prober);
    s_put_be (p, 77, 4);
    s_put (p, me, 32);
    s_suspect (p, me, 0, prober, false);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 4), 0);
    cr_assert_eq (tm_swim_incarnation (swim), 1, "no new incarnation for a stale accusation");
    bool cured = false;
    tm_swim_packet_t packet;
    while (tm_swim_pop_outgoing (swim, &packet)) {
        if (packet.data [3] == 3)               //  The ACK
            for (size_t i = 40; i + 42 <= packet.size; i++)
                if (packet.data [i] == 1 && memcmp (packet.data + i + 2, me, 32) == 0
                &&  packet.data [i + 2 + 32 + 7] == 1)
                    cured = true;
        free (packet.data);
    }
    cr_assert (cured, "the ACK did not carry our alive fact at incarnation 1");
    free (p);
    tm_swim_destroy (&swim);
}

Test (swim, nodes_starved_of_cpu_are_not_declared_dead)
{
    //  LAN profile, 40 nodes, every packet to or from any node delayed by
    //  an exponential 50 ms: probes time out, suspicions fly, and every
    //  one of them must be refuted in time
    tm_simnet_config_t net_config;
    tm_simnet_config_default (&net_config);
    net_config.seed = 32;
    tm_simnet_t *net = tm_simnet_new (&net_config);
    s_log.net = net;
    s_log.count = 0;
    tm_simnet_set_events (net, s_on_event, NULL);
    tm_swim_config_t config;
    tm_swim_config_lan (&config);
    for (size_t i = 0; i < 40; i++) {
        tm_simnet_add (net, &config, NULL, NULL, NULL, 0);
        if (i)
            tm_simnet_join (net, i, 0);
    }
    cr_assert (tm_simnet_run_until (net, 10, s_converged, NULL, 0.01));
    for (size_t i = 0; i < 40; i++)
        tm_simnet_set_slow (net, i, 0.05);
    tm_simnet_run (net, tm_simnet_now (net) + 60);
    cr_assert_gt (s_events (TM_SWIM_EVENT_SUSPECT, NULL, SIZE_MAX), 10,
                  "the starvation model is too mild to test anything");
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, NULL, SIZE_MAX), 0);
    //  And Lifeguard noticed
    int raised = 0;
    for (size_t i = 0; i < 40; i++) {
        tm_swim_stats_t stats;
        tm_swim_stats (tm_simnet_swim (net, i), &stats);
        raised += stats.nacks_missed > 0;
    }
    cr_assert_gt (raised, 20);
    tm_simnet_destroy (&net);
}

Test (swim, hinted_accusations_cut_the_suspicion_to_the_hint_timeout)
{
    uint8_t me [32], victim [32], a [32], b [32];
    s_fake_id (me, 500);
    s_fake_id (victim, 9);
    s_fake_id (a, 1); s_fake_id (b, 2);
    tm_swim_t *swim = s_lone (me, NULL);
    s_teach (swim, 9, 0);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    s_header (p, 5, a);
    s_suspect (p, victim, 1, a, true);
    cr_assert_eq (tm_swim_receive (swim, "f1:7946", p->buf, p->size, 1.0), 0);
    double deadline;
    tm_swim_suspicion (swim, victim, &deadline, NULL);
    cr_assert_float_eq (deadline, 1.0 + 1.2, 1e-9, "one hinted accuser of k = 2 is not enough");
    s_header (p, 5, b);
    s_suspect (p, victim, 1, b, true);
    cr_assert_eq (tm_swim_receive (swim, "f2:7946", p->buf, p->size, 1.02), 0);
    tm_swim_suspicion (swim, victim, &deadline, NULL);
    //  suspicion_hint_mult 2 * probe_interval 0.05 = 0.1 s < min 0.2 s
    cr_assert_float_eq (deadline, 1.0 + 0.1, 1e-9);
    free (p);
    tm_swim_destroy (&swim);
}

Test (swim, transport_hint_gets_a_killed_node_declared_dead_sooner)
{
    double detection [2];
    for (int hint = 0; hint < 2; hint++) {
        tm_simnet_t *net = s_cluster (20, 15, 0);
        double killed = tm_simnet_now (net);
        tm_simnet_kill (net, 7, hint == 1);
        s_target_t target = { 7, TM_SWIM_DEAD };
        cr_assert (tm_simnet_run_until (net, killed + 10, s_all_see, &target, 0.005));
        detection [hint] = tm_simnet_now (net) - killed;
        tm_simnet_destroy (&net);
    }
    cr_assert_lt (detection [1], detection [0], "hint %.3f s, no hint %.3f s",
                  detection [1], detection [0]);
    //  Fast profile: probe 50 ms, hint timeout 100 ms
    cr_assert_lt (detection [1], 0.3, "hinted detection took %.3f s", detection [1]);
}

Test (swim, hint_alone_never_marks_a_reachable_member_suspect)
{
    tm_simnet_t *net = s_cluster (6, 16, 0);
    //  A spurious hint: the connection dropped but the node is fine
    cr_assert_eq (tm_swim_peer_unreachable (tm_simnet_swim (net, 0), tm_simnet_id (net, 4),
                                            tm_simnet_now (net)), 0);
    tm_simnet_run (net, tm_simnet_now (net) + 3);
    cr_assert_eq (s_events (TM_SWIM_EVENT_SUSPECT, NULL, SIZE_MAX), 0);
    uint8_t unknown [32];
    s_fake_id (unknown, 77);
    cr_assert_eq (tm_swim_peer_unreachable (tm_simnet_swim (net, 0), unknown,
                                            tm_simnet_now (net)), -1);
    cr_assert_eq (tm_swim_peer_unreachable (tm_simnet_swim (net, 0), tm_simnet_id (net, 0),
                                            tm_simnet_now (net)), -1);
    tm_simnet_destroy (&net);
}

//  --------------------------------------------------------------------
//  Lifeguard local health

static bool
s_deafen_node_0 (void *arg, size_t from, size_t to, const uint8_t *data, size_t size)
{
    return to != 0;
}

static uint64_t
s_probes (tm_simnet_t *net, size_t node)
{
    tm_swim_stats_t stats;
    tm_swim_stats (tm_simnet_swim (net, node), &stats);
    return stats.probes;
}

Test (swim, awareness_rises_under_missed_nacks_and_slows_our_probing)
{
    tm_simnet_t *net = s_cluster (6, 17, 0);
    tm_swim_t *zero = tm_simnet_swim (net, 0);
    double t = tm_simnet_now (net);
    uint64_t before = s_probes (net, 0);
    tm_simnet_run (net, t + 2);
    double healthy_rate = (s_probes (net, 0) - before) / 2.0;
    cr_assert_eq (tm_swim_awareness (zero), 0);

    //  Node 0 hears nothing: its probes, direct and indirect, all fail
    //  and no NACK comes back
    tm_simnet_set_filter (net, s_deafen_node_0, NULL);
    tm_simnet_run (net, t + 4);
    cr_assert_eq (tm_swim_awareness (zero), 7, "awareness %d", tm_swim_awareness (zero));
    tm_swim_stats_t stats;
    tm_swim_stats (zero, &stats);
    cr_assert_gt (stats.nacks_missed, 0);
    before = s_probes (net, 0);
    tm_simnet_run (net, t + 8);
    double sick_rate = (s_probes (net, 0) - before) / 4.0;
    //  Multiplier 8: about 2.5 probes/s instead of 20
    cr_assert_lt (sick_rate, healthy_rate / 4, "healthy %.1f/s, degraded %.1f/s",
                  healthy_rate, sick_rate);
    tm_simnet_destroy (&net);
}

Test (swim, a_probe_no_relay_answered_is_looked_at_again_before_anyone_is_accused)
{
    //  Node 0 goes deaf for 0.12 s: at least one of its probes (0.05 s
    //  each, fast profile) hears neither the ACK nor a single NACK.  That
    //  says the trouble is ours: the member is probed again, with the
    //  longer timeouts the raised health score gives, and the second look
    //  (once we hear again) finds it alive.  Nobody but node 0 may be
    //  suspected (the others do suspect deaf node 0, which refutes).
    tm_simnet_t *net = s_cluster (6, 19, 0);
    tm_swim_t *zero = tm_simnet_swim (net, 0);
    size_t seen = s_log.count;
    tm_simnet_set_filter (net, s_deafen_node_0, NULL);
    tm_simnet_run (net, tm_simnet_now (net) + 0.12);
    tm_simnet_set_filter (net, NULL, NULL);
    tm_simnet_run (net, tm_simnet_now (net) + 3);
    tm_swim_stats_t stats;
    tm_swim_stats (zero, &stats);
    cr_assert_geq (stats.probes_retried, 1, "no probe was looked at again");
    cr_assert_gt (stats.nacks_missed, 0);
    for (size_t i = seen; i < s_log.count; i++)
        cr_assert (s_log.seen [i].type != TM_SWIM_EVENT_SUSPECT
                   || memcmp (s_log.seen [i].id, tm_simnet_id (net, 0), 32) == 0,
                   "node %zu suspected a member that was fine all along", s_log.seen [i].node);
    tm_simnet_destroy (&net);
}

Test (swim, a_member_gone_for_good_is_still_accused_after_the_second_look)
{
    //  Node 0 deaf for good: its probes all fail without a NACK.  The
    //  second look must not turn into a third: it accuses as before.
    tm_simnet_t *net = s_cluster (6, 20, 0);
    tm_simnet_set_filter (net, s_deafen_node_0, NULL);
    tm_simnet_run (net, tm_simnet_now (net) + 3);
    tm_swim_stats_t stats;
    tm_swim_stats (tm_simnet_swim (net, 0), &stats);
    cr_assert_geq (stats.probes_retried, 1);
    cr_assert_gt (stats.probes_failed, stats.probes_retried, "failed %lu, retried %lu",
                  (unsigned long) stats.probes_failed, (unsigned long) stats.probes_retried);
    cr_assert_gt (s_events (TM_SWIM_EVENT_SUSPECT, NULL, 0), 0, "node 0 accused nobody");
    tm_simnet_destroy (&net);
}

Test (swim, nacks_from_intermediaries_keep_our_health_when_the_target_is_dead)
{
    tm_simnet_t *net = s_cluster (8, 18, 0);
    tm_simnet_kill (net, 5, false);
    tm_simnet_run (net, tm_simnet_now (net) + 5);
    for (size_t i = 0; i < 8; i++) {
        if (i == 5)
            continue;
        tm_swim_stats_t stats;
        tm_swim_stats (tm_simnet_swim (net, i), &stats);
        cr_assert_eq (stats.nacks_missed, 0, "node %zu missed %lu nacks", i, stats.nacks_missed);
        cr_assert_eq (tm_swim_awareness (tm_simnet_swim (net, i)), 0);
    }
    tm_simnet_destroy (&net);
}

//  The transport's say on whether its path to a member is too new to
//  judge it by: counts its calls, answers *arg
static int s_path_new_calls;

static bool
s_path_new (void *arg, const uint8_t id [TM_SWIM_ID_SIZE], const char *address,
            double now)
{
    s_path_new_calls++;
    cr_assert_str_eq (address, "f1:7946");
    return *(bool *) arg;
}

Test (swim, probe_failed_over_a_new_path_raises_no_suspicion_until_the_path_is_old)
{
    uint8_t me [32], f1 [32];
    s_fake_id (me, 0);
    s_fake_id (f1, 1);
    bool path_is_new = true;
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    config.random_seed = 7;
    config.path_new = s_path_new;
    config.path_arg = &path_is_new;
    s_path_new_calls = 0;
    tm_swim_t *swim = s_lone (me, &config);
    s_teach (swim, 1, 0);
    //  f1 never answers: every probe of it fails, and each is excused
    double t = 0;
    for (; t < 1; t += 0.01) {
        tm_swim_tick (swim, t);
        s_drain (swim);
    }
    tm_swim_stats_t stats;
    tm_swim_stats (swim, &stats);
    cr_assert_gt (stats.probes_failed, 0);
    cr_assert_eq (stats.probes_excused, stats.probes_failed);
    cr_assert_eq (s_path_new_calls, (int) stats.probes_failed);
    tm_swim_member_t member;
    cr_assert (tm_swim_member (swim, f1, &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    //  (Our health still counts them)
    cr_assert_gt (tm_swim_awareness (swim), 0);
    //  Once the path is old, the next failed probe is held against f1
    path_is_new = false;
    for (; t < 4 && member.state == TM_SWIM_ALIVE; t += 0.01) {
        tm_swim_tick (swim, t);
        s_drain (swim);
        cr_assert (tm_swim_member (swim, f1, &member));
    }
    cr_assert_neq (member.state, TM_SWIM_ALIVE, "f1 still alive at %.2f s", t);
    tm_swim_destroy (&swim);
}

//  --------------------------------------------------------------------
//  Leave, partition, rejoin, identity reuse, reaping

Test (swim, graceful_leave_is_seen_as_left_not_dead)
{
    tm_simnet_t *net = s_cluster (8, 19, 0);
    double t = tm_simnet_now (net);
    cr_assert_eq (tm_simnet_leave (net, 4, 1.0), 0);
    cr_assert_eq (tm_swim_leave (tm_simnet_swim (net, 4), t), -1, "leave twice");
    cr_assert_eq (tm_swim_set_meta (tm_simnet_swim (net, 4), "x", 1, t), -1);
    s_target_t target = { 4, TM_SWIM_LEFT };
    cr_assert (tm_simnet_run_until (net, t + 1, s_all_see, &target, 0.01));
    cr_assert_lt (tm_simnet_now (net) - t, 0.5);
    tm_simnet_run (net, t + 0.99);
    cr_assert (tm_swim_leave_done (tm_simnet_swim (net, 4)));
    tm_simnet_run (net, t + 4);
    cr_assert (tm_simnet_all_see (net, 4, TM_SWIM_LEFT));
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, tm_simnet_id (net, 4), SIZE_MAX), 0);
    cr_assert_eq (s_events (TM_SWIM_EVENT_LEFT, tm_simnet_id (net, 4), SIZE_MAX), 7);
    tm_simnet_destroy (&net);
}

static bool
s_sides_apart (tm_simnet_t *net, void *arg)
{
    for (size_t i = 0; i < 10; i++)
        for (size_t j = 0; j < 10; j++) {
            if ((i < 5) == (j < 5))
                continue;
            tm_swim_member_t member;
            if (!tm_swim_member (tm_simnet_swim (net, i), tm_simnet_id (net, j), &member)
            ||  member.state != TM_SWIM_DEAD)
                return false;
        }
    return true;
}

Test (swim, partition_heals_through_push_pull_and_views_converge)
{
    tm_simnet_t *net = s_cluster (10, 20, 0);
    for (size_t i = 5; i < 10; i++)
        tm_simnet_set_group (net, i, 1);
    double t = tm_simnet_now (net);
    cr_assert (tm_simnet_run_until (net, t + 4, s_sides_apart, NULL, 0.01),
               "the sides did not declare each other dead");
    //  Heal well after gossip-to-the-dead (1 s) and before reaping (5 s)
    tm_simnet_run (net, tm_simnet_now (net) + 1.5);
    tm_simnet_heal (net);
    double healed = tm_simnet_now (net);
    cr_assert (tm_simnet_run_until (net, healed + 30, s_converged, NULL, 0.01),
               "views did not converge after the heal");
    cr_assert_lt (tm_simnet_now (net) - healed, 3.5, "took %.2f s", tm_simnet_now (net) - healed);
    //  Everyone came back by refuting: higher incarnations all round
    for (size_t i = 0; i < 10; i++)
        cr_assert_gt (tm_swim_incarnation (tm_simnet_swim (net, i)), 0);
    tm_simnet_destroy (&net);
}

Test (swim, dead_node_rejoins_with_a_higher_incarnation)
{
    tm_simnet_t *net = s_cluster (6, 21, 0);
    tm_simnet_kill (net, 3, false);
    s_target_t dead = { 3, TM_SWIM_DEAD };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 5, s_all_see, &dead, 0.01));
    tm_swim_member_t member;
    tm_swim_member (tm_simnet_swim (net, 0), tm_simnet_id (net, 3), &member);
    uint64_t dead_incarnation = member.incarnation;
    size_t joined_before = s_events (TM_SWIM_EVENT_JOINED, tm_simnet_id (net, 3), SIZE_MAX);

    //  Same id, fresh process at incarnation 0
    cr_assert_eq (tm_simnet_restart (net, 3, NULL, NULL), 0);
    cr_assert_eq (tm_swim_incarnation (tm_simnet_swim (net, 3)), 0);
    cr_assert_eq (tm_simnet_join (net, 3, 0), 0);
    s_target_t alive = { 3, TM_SWIM_ALIVE };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 3, s_all_see, &alive, 0.01));
    cr_assert_gt (tm_swim_incarnation (tm_simnet_swim (net, 3)), dead_incarnation);
    cr_assert_eq (s_events (TM_SWIM_EVENT_JOINED, tm_simnet_id (net, 3), SIZE_MAX),
                  joined_before + 5);
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 3, s_converged, NULL, 0.01));
    tm_simnet_destroy (&net);
}


//  Restarted with the same id (same data directory) but at a new address,
//  as an agent with `--bind HOST:0` gets a new port: a new simulated
//  node with NODE's id and name, "n<new index>:7946", joined through
//  node 0.  NODE's process is stopped first if it still runs (it is not
//  told: nobody has noticed yet).  Returns the new node's index.
static size_t
s_restart_elsewhere (tm_simnet_t *net, size_t node)
{
    uint8_t id [32];
    memcpy (id, tm_simnet_id (net, node), 32);
    char name [16];
    snprintf (name, sizeof name, "n%zu", node);
    if (tm_simnet_status (net, node) != TM_SIMNET_STOPPED)
        tm_simnet_kill (net, node, false);
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    int moved = tm_simnet_add (net, &config, id, name, NULL, 0);
    cr_assert_geq (moved, 0);
    cr_assert_neq (strcmp (tm_simnet_address (net, (size_t) moved),
                           tm_simnet_address (net, node)), 0);
    cr_assert_eq (tm_swim_incarnation (tm_simnet_swim (net, (size_t) moved)), 0);
    cr_assert_eq (tm_simnet_join (net, (size_t) moved, 0), 0);
    return (size_t) moved;
}

//  Every running node but NODE lists it alive at its current address
static bool
s_all_see_alive_at_its_address (tm_simnet_t *net, void *arg)
{
    size_t node = *(size_t *) arg;
    if (!tm_simnet_all_see (net, node, TM_SWIM_ALIVE))
        return false;
    for (size_t i = 0; i < tm_simnet_size (net); i++) {
        tm_swim_member_t member;
        if (i != node && tm_simnet_status (net, i) == TM_SIMNET_RUNNING
        && (!tm_swim_member (tm_simnet_swim (net, i), tm_simnet_id (net, node), &member)
            || strcmp (member.address, tm_simnet_address (net, node)) != 0))
            return false;
    }
    return true;
}

//  What every restart on a new address must end in, well before anyone
//  reaps the old entry (fast profile: dead_reclaim 5 s): everyone lists
//  the id alive at the new address, above the incarnation they knew,
//  once (the id is the identity: no second entry, no conflict with its
//  own old address, nothing reaped); the views converge.
static void
s_assert_rejoined_at_new_address (tm_simnet_t *net, size_t moved, uint64_t old_incarnation,
                                  size_t members)
{
    const uint8_t *id = tm_simnet_id (net, moved);
    double restarted = tm_simnet_now (net);
    cr_assert (tm_simnet_run_until (net, restarted + 1, s_all_see_alive_at_its_address,
                                    &moved, 0.01),
               "not seen alive at its new address within 1 s");
    cr_assert_gt (tm_swim_incarnation (tm_simnet_swim (net, moved)), old_incarnation,
                  "it came back by refuting its previous life");
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 3, s_converged, NULL, 0.01));
    for (size_t i = 0; i < tm_simnet_size (net); i++) {
        if (tm_simnet_status (net, i) != TM_SIMNET_RUNNING)
            continue;
        tm_swim_t *swim = tm_simnet_swim (net, i);
        cr_assert_eq (tm_swim_size (swim), members, "node %zu lists %zu members",
                      i, tm_swim_size (swim));
        tm_swim_member_t member;
        cr_assert (tm_swim_member (swim, id, &member));
        cr_assert_eq (member.incarnation, tm_swim_incarnation (tm_simnet_swim (net, moved)));
    }
    cr_assert_eq (s_events (TM_SWIM_EVENT_REAPED, id, SIZE_MAX), 0);
    cr_assert_eq (s_events (TM_SWIM_EVENT_CONFLICT, NULL, SIZE_MAX), 0);
    //  And it stays: nothing probes the old address any more
    tm_simnet_run (net, tm_simnet_now (net) + 6);
    cr_assert (s_all_see_alive_at_its_address (net, &moved));
}

Test (swim, restarted_on_a_new_address_after_being_declared_dead_rejoins)
{
    tm_simnet_t *net = s_cluster (6, 31, 0);
    tm_simnet_kill (net, 3, false);
    s_target_t dead = { 3, TM_SWIM_DEAD };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 5, s_all_see, &dead, 0.01));
    tm_swim_member_t member;
    cr_assert (tm_swim_member (tm_simnet_swim (net, 0), tm_simnet_id (net, 3), &member));
    uint64_t dead_incarnation = member.incarnation;
    size_t moved = s_restart_elsewhere (net, 3);
    s_assert_rejoined_at_new_address (net, moved, dead_incarnation, 6);
    cr_assert_eq (s_events (TM_SWIM_EVENT_JOINED, tm_simnet_id (net, moved), SIZE_MAX),
                  5 + 5, "joined once at the start, and once back from dead");
    tm_simnet_destroy (&net);
}

Test (swim, restarted_on_a_new_address_after_leaving_rejoins)
{
    tm_simnet_t *net = s_cluster (6, 32, 0);
    cr_assert_eq (tm_simnet_leave (net, 3, 0.5), 0);
    s_target_t left = { 3, TM_SWIM_LEFT };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 2, s_all_see, &left, 0.01));
    tm_simnet_run (net, tm_simnet_now (net) + 0.6);
    cr_assert_eq (tm_simnet_status (net, 3), TM_SIMNET_STOPPED);
    uint64_t left_incarnation = tm_swim_incarnation (tm_simnet_swim (net, 3));
    size_t moved = s_restart_elsewhere (net, 3);
    s_assert_rejoined_at_new_address (net, moved, left_incarnation, 6);
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, tm_simnet_id (net, moved), SIZE_MAX), 0);
    tm_simnet_destroy (&net);
}

Test (swim, restarted_on_a_new_address_while_still_listed_alive_rejoins)
{
    tm_simnet_t *net = s_cluster (6, 33, 0);
    //  Killed and restarted before anyone noticed
    uint64_t incarnation = tm_swim_incarnation (tm_simnet_swim (net, 3));
    size_t moved = s_restart_elsewhere (net, 3);
    size_t dead_before = s_events (TM_SWIM_EVENT_DEAD, tm_simnet_id (net, moved), SIZE_MAX);
    s_assert_rejoined_at_new_address (net, moved, incarnation, 6);
    //  Its refutation came before any suspicion of the old address could
    //  ripen
    cr_assert_eq (s_events (TM_SWIM_EVENT_DEAD, tm_simnet_id (net, moved), SIZE_MAX),
                  dead_before);
    tm_simnet_destroy (&net);
}

static bool
s_someone_suspects_3 (tm_simnet_t *net, void *arg)
{
    return tm_simnet_count_seeing (net, tm_simnet_id (net, 3), TM_SWIM_SUSPECT) > 0;
}

Test (swim, restarted_on_a_new_address_while_suspected_rejoins)
{
    tm_simnet_t *net = s_cluster (6, 34, 0);
    tm_simnet_kill (net, 3, false);
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 2, s_someone_suspects_3,
                                    NULL, 0.001));
    cr_assert_eq (tm_simnet_count_seeing (net, tm_simnet_id (net, 3), TM_SWIM_DEAD), 0);
    tm_swim_member_t member;
    uint64_t incarnation = 0;
    for (size_t i = 0; i < 6; i++)
        if (i != 3 && tm_swim_member (tm_simnet_swim (net, i), tm_simnet_id (net, 3), &member)
        &&  member.incarnation > incarnation)
            incarnation = member.incarnation;
    size_t moved = s_restart_elsewhere (net, 3);
    s_assert_rejoined_at_new_address (net, moved, incarnation, 6);
    tm_simnet_destroy (&net);
}

//  True if PACKET carries an ALIVE fact about ID at INCARNATION at ADDRESS
static bool
s_carries_alive (const tm_swim_packet_t *packet, const uint8_t *id, uint64_t incarnation,
                 const char *address)
{
    uint8_t inc [8];
    for (int i = 0; i < 8; i++)
        inc [i] = (uint8_t) (incarnation >> (56 - 8 * i));
    for (size_t i = 36; i + 2 + 32 + 8 + 1 <= packet->size; i++) {
        const uint8_t *fact = packet->data + i;
        if (fact [0] != 1 || memcmp (fact + 2, id, 32) != 0 || memcmp (fact + 34, inc, 8) != 0)
            continue;
        size_t name_len = fact [42];
        size_t at = 43 + name_len;
        if (i + at + 1 + strlen (address) <= packet->size
        &&  fact [at] == strlen (address)
        &&  memcmp (fact + at + 1, address, strlen (address)) == 0)
            return true;
    }
    return false;
}

Test (swim, restarted_member_is_answered_where_it_is_and_moves_only_past_its_old_incarnation)
{
    cr_assert_geq (sodium_init (), 0);
    s_keys_t me, b, t, d;
    crypto_sign_keypair (me.pk, me.sk);
    crypto_sign_keypair (b.pk, b.sk);
    crypto_sign_keypair (t.pk, t.sk);
    crypto_sign_keypair (d.pk, d.sk);
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    config.random_seed = 5;
    config.sign = s_sign;
    config.verify = s_verify;
    config.crypto_arg = &me;
    tm_swim_t *swim = s_lone (me.pk, &config);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    tm_swim_member_t member;
    tm_swim_packet_t packet;

    //  B lives at b:1, at incarnation 5; T at t:1
    s_header (p, 5, b.pk);
    s_alive (p, b.pk, 5, "b", "b:1", NULL, 0, b.sk);
    s_alive (p, t.pk, 1, "t", "t:1", NULL, 0, t.sk);
    cr_assert_eq (tm_swim_receive (swim, "b:1", p->buf, p->size, 1), 0);
    cr_assert (tm_swim_member (swim, b.pk, &member));
    cr_assert_str_eq (member.address, "b:1");
    s_drain (swim);

    //  B restarts with its key at b:2 (incarnation 0) and joins through us
    s_push_pull_begin (p, b.pk, false);
    p->buf [36] = 1;                        //  Joining
    s_alive (p, b.pk, 0, "b", "b:2", NULL, 0, b.sk);
    s_push_pull_end (p);
    cr_assert_eq (tm_swim_receive (swim, "b:2", p->buf, p->size, 2), 0);
    //  Its fact is below what we know: it moves nothing...
    cr_assert (tm_swim_member (swim, b.pk, &member));
    cr_assert_eq (member.incarnation, 5);
    cr_assert_str_eq (member.address, "b:1");
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    //  ...but we answer where it is, with its previous life in our table
    bool answered = false;
    while (tm_swim_pop_outgoing (swim, &packet)) {
        cr_assert_str_neq (packet.address, "b:1", "answered at the old address");
        if (packet.data [3] == 7 && streq (packet.address, "b:2")) {
            answered = true;
            cr_assert (s_carries_alive (&packet, b.pk, 5, "b:1"),
                       "the reply does not tell B what to refute");
        }
        free (packet.data);
    }
    cr_assert (answered, "no PUSH-PULL-REPLY to b:2");

    //  Its PING and its PING-REQ are answered there too
    s_header (p, 1, b.pk);
    s_put_be (p, 77, 4);
    s_put (p, me.pk, 32);
    cr_assert_eq (tm_swim_receive (swim, "b:2", p->buf, p->size, 2.1), 0);
    cr_assert (tm_swim_pop_outgoing (swim, &packet));
    cr_assert_eq (packet.data [3], 3);
    cr_assert_str_eq (packet.address, "b:2");
    free (packet.data);
    s_drain (swim);
    s_header (p, 2, b.pk);
    s_put_be (p, 78, 4);
    s_put (p, t.pk, 32);
    s_put_be (p, 3, 1);
    s_put (p, "t:1", 3);
    s_put_be (p, 1, 1);
    cr_assert_eq (tm_swim_receive (swim, "b:2", p->buf, p->size, 2.2), 0);
    int64_t seq = s_ping_seq (swim, "t:1");
    cr_assert_geq (seq, 0, "no PING to t:1 for the PING-REQ");
    s_header (p, 3, t.pk);
    s_put_be (p, (uint64_t) seq, 4);
    cr_assert_eq (tm_swim_receive (swim, "t:1", p->buf, p->size, 2.21), 0);
    cr_assert (tm_swim_pop_outgoing (swim, &packet));
    cr_assert_eq (packet.data [3], 3, "the relayed ACK");
    cr_assert_str_eq (packet.address, "b:2");
    free (packet.data);
    s_drain (swim);

    //  B refutes past its previous life: signed, higher, at b:2.  It moves.
    s_header (p, 5, b.pk);
    s_alive (p, b.pk, 6, "b", "b:2", NULL, 0, b.sk);
    cr_assert_eq (tm_swim_receive (swim, "b:2", p->buf, p->size, 3), 0);
    cr_assert (tm_swim_member (swim, b.pk, &member));
    cr_assert_eq (member.incarnation, 6);
    cr_assert_str_eq (member.address, "b:2");
    cr_assert_eq (member.state, TM_SWIM_ALIVE);

    //  Its previous life's fact, genuine but stale, replayed by a relay:
    //  ignored.  A forged newer one: dropped.
    s_header (p, 5, d.pk);
    s_alive (p, b.pk, 5, "b", "b:1", NULL, 0, b.sk);
    s_alive (p, b.pk, 9, "b", "b:1", NULL, 0, d.sk);
    cr_assert_eq (tm_swim_receive (swim, "d:1", p->buf, p->size, 4), 0);
    cr_assert (tm_swim_member (swim, b.pk, &member));
    cr_assert_eq (member.incarnation, 6);
    cr_assert_str_eq (member.address, "b:2");
    tm_swim_stats_t stats;
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.bad_signatures, 1);

    //  Another identity claiming B's new address while B lives: both kept,
    //  a conflict, as before
    cr_assert_eq (stats.conflicts, 0);
    s_header (p, 5, d.pk);
    s_alive (p, d.pk, 1, "d", "b:2", NULL, 0, d.sk);
    cr_assert_eq (tm_swim_receive (swim, "b:2", p->buf, p->size, 5), 0);
    cr_assert (tm_swim_member (swim, d.pk, &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    cr_assert (tm_swim_member (swim, b.pk, &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    cr_assert_str_eq (member.address, "b:2");
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.conflicts, 1);
    free (p);
    tm_swim_destroy (&swim);
}
Test (swim, new_identity_at_a_dead_members_address_and_name_replaces_it)
{
    tm_simnet_t *net = s_cluster (6, 22, 0);
    uint8_t old_id [32];
    memcpy (old_id, tm_simnet_id (net, 3), 32);
    tm_simnet_kill (net, 3, false);
    s_target_t dead = { 3, TM_SWIM_DEAD };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 5, s_all_see, &dead, 0.01));

    uint8_t new_id [32];
    s_fake_id (new_id, 333);
    cr_assert_eq (tm_simnet_restart (net, 3, new_id, NULL), 0);     //  Same name "n3"
    cr_assert_eq (tm_simnet_join (net, 3, 0), 0);
    s_target_t alive = { 3, TM_SWIM_ALIVE };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 3, s_all_see, &alive, 0.01));
    cr_assert_eq (tm_simnet_count_seeing (net, old_id, -1), 0, "old identity still listed");
    cr_assert_eq (s_events (TM_SWIM_EVENT_REAPED, old_id, SIZE_MAX), 5);
    cr_assert_eq (s_events (TM_SWIM_EVENT_CONFLICT, NULL, SIZE_MAX), 0);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq (tm_swim_size (tm_simnet_swim (net, i)), 6);
    tm_simnet_destroy (&net);
}

Test (swim, new_identity_at_a_live_members_address_makes_the_old_one_die)
{
    tm_simnet_t *net = s_cluster (6, 23, 0);
    uint8_t old_id [32];
    memcpy (old_id, tm_simnet_id (net, 3), 32);
    //  The process at n3 restarts with a new key before anyone noticed
    uint8_t new_id [32];
    s_fake_id (new_id, 334);
    tm_simnet_kill (net, 3, false);
    cr_assert_eq (tm_simnet_restart (net, 3, new_id, NULL), 0);
    cr_assert_eq (tm_simnet_join (net, 3, 0), 0);
    double t = tm_simnet_now (net);
    tm_simnet_run (net, t + 4);
    //  Both claimed the address while the old one looked alive: a conflict
    cr_assert_gt (s_events (TM_SWIM_EVENT_CONFLICT, new_id, SIZE_MAX), 0);
    //  The new process answers only PINGs for its own id: the old id
    //  failed its probes and is dead (or already replaced) everywhere
    cr_assert_eq (tm_simnet_count_seeing (net, old_id, TM_SWIM_ALIVE), 0);
    cr_assert_eq (tm_simnet_count_seeing (net, old_id, TM_SWIM_SUSPECT), 0);
    cr_assert (tm_simnet_all_see (net, 3, TM_SWIM_ALIVE));
    tm_swim_stats_t stats;
    tm_swim_stats (tm_simnet_swim (net, 3), &stats);
    cr_assert_gt (stats.misdirected, 0, "nobody pinged the old id at the new process");
    tm_simnet_destroy (&net);
}

Test (swim, two_live_identities_with_one_name_are_both_kept_as_a_conflict)
{
    tm_simnet_t *net = s_cluster (5, 24, 0);
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    int twin = tm_simnet_add (net, &config, NULL, "n2", NULL, 0);
    cr_assert_eq (twin, 5);
    tm_simnet_join (net, 5, 0);
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 3, s_converged, NULL, 0.01));
    tm_simnet_run (net, tm_simnet_now (net) + 2);
    cr_assert (tm_simnet_all_see (net, 2, TM_SWIM_ALIVE));
    cr_assert (tm_simnet_all_see (net, 5, TM_SWIM_ALIVE));
    cr_assert_gt (s_events (TM_SWIM_EVENT_CONFLICT, NULL, SIZE_MAX), 0);
    tm_swim_stats_t stats;
    tm_swim_stats (tm_simnet_swim (net, 0), &stats);
    cr_assert_gt (stats.conflicts, 0);
    tm_simnet_destroy (&net);
}

Test (swim, dead_members_are_reaped_after_dead_reclaim)
{
    tm_simnet_t *net = s_cluster (6, 25, 0);
    const uint8_t *victim = tm_simnet_id (net, 2);
    tm_simnet_kill (net, 2, false);
    s_target_t dead = { 2, TM_SWIM_DEAD };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 5, s_all_see, &dead, 0.01));
    double seen_dead = tm_simnet_now (net);
    //  Fast profile: dead_reclaim 5 s
    tm_simnet_run (net, seen_dead + 4.0);
    cr_assert_eq (tm_simnet_count_seeing (net, victim, TM_SWIM_DEAD), 5);
    tm_simnet_run (net, seen_dead + 6.5);
    cr_assert_eq (tm_simnet_count_seeing (net, victim, -1), 0);
    cr_assert_eq (s_events (TM_SWIM_EVENT_REAPED, victim, SIZE_MAX), 5);
    for (size_t i = 0; i < 6; i++)
        if (i != 2)
            cr_assert_eq (tm_swim_size (tm_simnet_swim (net, i)), 5);
    tm_simnet_destroy (&net);
}

Test (swim, paused_node_is_declared_dead_then_comes_back_on_resume)
{
    tm_simnet_t *net = s_cluster (8, 26, 0);
    double t = tm_simnet_now (net);
    tm_simnet_pause (net, 6);
    s_target_t dead = { 6, TM_SWIM_DEAD };
    cr_assert (tm_simnet_run_until (net, t + 5, s_all_see, &dead, 0.01));
    cr_assert_lt (tm_simnet_now (net) - t, 2.0);
    tm_simnet_resume (net, 6);
    s_target_t alive = { 6, TM_SWIM_ALIVE };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 4, s_all_see, &alive, 0.01),
               "resumed node did not come back");
    cr_assert_gt (tm_swim_incarnation (tm_simnet_swim (net, 6)), 0);
    tm_simnet_destroy (&net);
}

//  --------------------------------------------------------------------
//  Signatures

Test (swim, forged_facts_with_bad_signatures_are_dropped_and_counted)
{
    cr_assert_geq (sodium_init (), 0);
    s_keys_t me, honest, forger;
    crypto_sign_keypair (me.pk, me.sk);
    crypto_sign_keypair (honest.pk, honest.sk);
    crypto_sign_keypair (forger.pk, forger.sk);
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    config.random_seed = 3;
    config.sign = s_sign;
    config.verify = s_verify;
    config.crypto_arg = &me;
    tm_swim_t *swim = s_lone (me.pk, &config);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    tm_swim_stats_t stats;

    //  An alive fact about HONEST signed by someone else
    s_header (p, 5, forger.pk);
    s_alive (p, honest.pk, 1, "honest", "honest:7946", "v1", 2, forger.sk);
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), 0);
    cr_assert_not (tm_swim_member (swim, honest.pk, NULL));
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.bad_signatures, 1);

    //  Unsigned: dropped too, since we verify
    s_header (p, 5, forger.pk);
    s_alive (p, honest.pk, 1, "honest", "honest:7946", "v1", 2, NULL);
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), 0);
    cr_assert_not (tm_swim_member (swim, honest.pk, NULL));
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.bad_signatures, 2);

    //  The real thing, relayed by the forger: accepted
    s_header (p, 5, forger.pk);
    s_alive (p, honest.pk, 1, "honest", "honest:7946", "v1", 2, honest.sk);
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), 0);
    tm_swim_member_t member;
    cr_assert (tm_swim_member (swim, honest.pk, &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    cr_assert_eq (member.meta_size, 2);

    //  A relay that changes the metadata of a signed fact
    s_header (p, 5, forger.pk);
    s_alive (p, honest.pk, 2, "honest", "honest:7946", "v2", 2, honest.sk);
    p->buf [p->size - 64 - 1] = '9';        //  "v2" -> "v9"
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 2), 0);
    cr_assert (tm_swim_member (swim, honest.pk, &member));
    cr_assert_eq (member.incarnation, 1);
    cr_assert_eq (memcmp (member.meta, "v1", 2), 0);
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.bad_signatures, 3);

    //  A forged leave
    s_header (p, 5, forger.pk);
    s_left (p, honest.pk, 1, forger.sk);
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 3), 0);
    cr_assert (tm_swim_member (swim, honest.pk, &member));
    cr_assert_eq (member.state, TM_SWIM_ALIVE);
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.bad_signatures, 4);

    //  The real leave
    s_header (p, 5, forger.pk);
    s_left (p, honest.pk, 1, honest.sk);
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 4), 0);
    cr_assert (tm_swim_member (swim, honest.pk, &member));
    cr_assert_eq (member.state, TM_SWIM_LEFT);

    //  Our own facts go out signed: a peer's verify accepts them
    tm_swim_set_meta (swim, "m", 1, 5);
    tm_swim_tick (swim, 10);
    free (p);
    tm_swim_destroy (&swim);
}

Test (swim, signed_cluster_converges_and_verifies_every_fact)
{
    cr_assert_geq (sodium_init (), 0);
    tm_simnet_config_t net_config;
    tm_simnet_config_default (&net_config);
    net_config.seed = 27;
    tm_simnet_t *net = tm_simnet_new (&net_config);
    s_log.net = net;
    tm_simnet_set_events (net, s_on_event, NULL);
    s_keys_t keys [5];
    for (int i = 0; i < 5; i++) {
        crypto_sign_keypair (keys [i].pk, keys [i].sk);
        tm_swim_config_t config;
        tm_swim_config_fast (&config);
        config.sign = s_sign;
        config.verify = s_verify;
        config.crypto_arg = &keys [i];
        cr_assert_eq (tm_simnet_add (net, &config, keys [i].pk, NULL, "meta", 4), i);
        if (i)
            tm_simnet_join (net, i, 0);
    }
    cr_assert (tm_simnet_run_until (net, 5, s_converged, NULL, 0.01));
    tm_simnet_leave (net, 4, 1);
    s_target_t left = { 4, TM_SWIM_LEFT };
    cr_assert (tm_simnet_run_until (net, tm_simnet_now (net) + 2, s_all_see, &left, 0.01));
    tm_swim_set_meta (tm_simnet_swim (net, 1), "meta2", 5, tm_simnet_now (net));
    tm_simnet_run (net, tm_simnet_now (net) + 2);
    for (int i = 0; i < 4; i++) {
        tm_swim_stats_t stats;
        tm_swim_stats (tm_simnet_swim (net, i), &stats);
        cr_assert_eq (stats.bad_signatures, 0);
        tm_swim_member_t member;
        cr_assert (tm_swim_member (tm_simnet_swim (net, i), keys [1].pk, &member));
        cr_assert_eq (member.meta_size, 5);
    }
    tm_simnet_destroy (&net);
}

//  --------------------------------------------------------------------
//  Malformed input

//  Valid packets of every type, for truncation and mutation
static size_t
s_samples (s_pkt_t *samples, const uint8_t *target)
{
    uint8_t sender [32], other [32];
    s_fake_id (sender, 1);
    s_fake_id (other, 2);
    size_t n = 0;
    s_header (&samples [n], 1, sender);                      //  PING
    s_put_be (&samples [n], 42, 4);
    s_put (&samples [n], target, 32);
    s_bound (&samples [n]);
    s_alive (&samples [n], other, 3, "other", "other:1", "meta", 4, NULL);
    n++;
    s_header (&samples [n], 2, sender);                      //  PING-REQ
    s_put_be (&samples [n], 43, 4);
    s_put (&samples [n], other, 32);
    s_put_be (&samples [n], 7, 1);
    s_put (&samples [n], "other:1", 7);
    s_put_be (&samples [n], 1, 1);
    s_bound (&samples [n]);
    s_suspect (&samples [n], other, 3, sender, true);
    n++;
    s_header (&samples [n], 3, sender);                      //  ACK
    s_put_be (&samples [n], 44, 4);
    s_bound (&samples [n]);
    s_dead (&samples [n], other, 3);
    n++;
    s_header (&samples [n], 4, sender);                      //  NACK
    s_put_be (&samples [n], 45, 4);
    s_bound (&samples [n]);
    n++;
    s_header (&samples [n], 5, sender);                      //  GOSSIP
    s_bound (&samples [n]);
    s_alive (&samples [n], sender, 1, "sender", "sender:9", NULL, 0, NULL);
    s_left (&samples [n], other, 4, NULL);
    s_suspect (&samples [n], target, 0, sender, false);
    n++;
    s_push_pull_begin (&samples [n], sender, false);          //  PUSH-PULL
    s_alive (&samples [n], sender, 1, "sender", "sender:9", NULL, 0, NULL);
    s_alive (&samples [n], other, 5, "other", "other:1", "x", 1, NULL);
    s_dead (&samples [n], other, 5);
    s_push_pull_end (&samples [n]);
    samples [n].bound_count = 1;
    samples [n].bounds [0] = samples [n].size;              //  Only complete
    n++;
    return n;
}

Test (swim, truncated_packets_are_rejected_and_counted)
{
    uint8_t me [32];
    s_fake_id (me, 500);
    tm_swim_t *swim = s_lone (me, NULL);
    s_pkt_t *samples = (s_pkt_t *) calloc (8, sizeof (s_pkt_t));
    size_t n = s_samples (samples, me);
    uint64_t rejected = 0;
    for (size_t k = 0; k < n; k++) {
        s_pkt_t *p = &samples [k];
        for (size_t len = 0; len <= p->size; len++) {
            bool complete = false;
            for (size_t b = 0; b < p->bound_count; b++)
                complete |= p->bounds [b] == len;
            uint8_t *copy = (uint8_t *) malloc (len + 1);    //  Exact size for ASan
            memcpy (copy, p->buf, len);
            int rc = tm_swim_receive (swim, "x:1", copy, len, 1);
            free (copy);
            s_drain (swim);
            if (complete)
                cr_assert_eq (rc, 0, "sample %zu cut at %zu should be valid", k, len);
            else {
                cr_assert_eq (rc, -1, "sample %zu cut at %zu accepted", k, len);
                rejected++;
            }
        }
    }
    tm_swim_stats_t stats;
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.malformed, rejected);
    free (samples);
    tm_swim_destroy (&swim);
}

Test (swim, bad_fields_are_rejected)
{
    uint8_t me [32], sender [32], other [32];
    s_fake_id (me, 500);
    s_fake_id (sender, 1);
    s_fake_id (other, 2);
    tm_swim_t *swim = s_lone (me, NULL);
    s_pkt_t *p = (s_pkt_t *) calloc (1, sizeof (s_pkt_t));
    struct { const char *name, *address; size_t meta; } bad [] = {
        { "tab\there", "ok:1", 0 },         //  Control character in the name
        { "n", "noport", 0 },               //  No port
        { "n", "host:0", 0 },               //  Port 0
        { "n", "host:65536", 0 },           //  Port too big
        { "n", ":7946", 0 },                //  No host
        { "n", "ho st:1", 0 },              //  Space
        { "n", "h:1", 1025 },               //  Metadata too big
        { "01234567890123456789012345678901234567890123456789012345678901234", "h:1", 0 },
    };
    static uint8_t meta [2000];
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_header (p, 5, sender);
        s_alive (p, other, 1, bad [i].name, bad [i].address, meta, bad [i].meta, NULL);
        cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1, "case %zu", i);
    }
    //  Unknown fact kind, unknown flags, bad version, bad type
    s_header (p, 5, sender);
    s_dead (p, other, 1);
    p->buf [36] = 9;
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    p->buf [36] = 3;
    p->buf [37] = 0x80;
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    p->buf [37] = 0;
    p->buf [2] = 2;
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    p->buf [2] = 1;
    p->buf [3] = 99;
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    p->buf [3] = 5;
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), 0);
    //  Push-pull whose count does not match its facts
    s_push_pull_begin (p, sender, true);
    s_dead (p, other, 1);
    s_push_pull_end (p);
    p->buf [p->count_at + 3] = 2;
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    p->buf [p->count_at] = 0xFF;                //  Absurd count
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    //  A gossip packet over 64 KiB
    s_header (p, 5, sender);
    while (p->size <= TM_SWIM_PACKET_MAX)
        s_dead (p, other, 1);
    cr_assert_eq (tm_swim_receive (swim, "x:1", p->buf, p->size, 1), -1);
    cr_assert_eq (tm_swim_receive (swim, "x:1", NULL, 0, 1), -1);
    //  None of it touched the table
    cr_assert_eq (tm_swim_size (swim), 1);
    tm_swim_stats_t stats;
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.malformed, 16);
    free (p);
    tm_swim_destroy (&swim);
}

Test (swim, garbage_and_mutated_packets_never_crash)
{
    uint8_t me [32];
    s_fake_id (me, 500);
    tm_swim_t *swim = s_lone (me, NULL);
    s_teach (swim, 5, 0);
    s_pkt_t *samples = (s_pkt_t *) calloc (8, sizeof (s_pkt_t));
    size_t n = s_samples (samples, me);
    uint64_t rng = 0x1234567;
    uint64_t failed = 0;
    uint8_t *buf = (uint8_t *) malloc (4096);
    for (int round = 0; round < 60000; round++) {
        rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t len;
        if (round % 3 == 0) {
            //  Pure garbage, sometimes with a valid header
            len = (rng >> 33) % 300;
            for (size_t i = 0; i < len; i++) {
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                buf [i] = (uint8_t) (rng >> 56);
            }
            if (round % 2 && len >= 4)
                memcpy (buf, "SW\x01", 3);
        }
        else {
            //  A valid packet with a few bytes changed
            s_pkt_t *sample = &samples [(rng >> 40) % n];
            len = sample->size;
            memcpy (buf, sample->buf, len);
            int mutations = 1 + (int) ((rng >> 20) % 4);
            for (int m = 0; m < mutations; m++) {
                rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t at = 4 + (rng >> 33) % (len - 4);    //  Keep the header
                buf [at] = (uint8_t) (rng >> 13);
            }
        }
        uint8_t *copy = (uint8_t *) malloc (len + 1);
        memcpy (copy, buf, len);
        if (tm_swim_receive (swim, "x:1", copy, len, 1 + round * 1e-4))
            failed++;
        free (copy);
        s_drain (swim);
        if (round % 1000 == 0)
            tm_swim_tick (swim, 1 + round * 1e-4);
    }
    tm_swim_stats_t stats;
    tm_swim_stats (swim, &stats);
    cr_assert_eq (stats.malformed, failed);
    cr_assert_gt (failed, 20000);
    //  Still a working node
    tm_swim_tick (swim, 100);
    cr_assert (tm_swim_member (swim, me, NULL));
    free (buf);
    free (samples);
    tm_swim_destroy (&swim);
}

//  --------------------------------------------------------------------
//  Dissemination, determinism, API

typedef struct {
    size_t node;
    uint64_t incarnation;
} s_update_t;

static bool
s_everyone_updated (tm_simnet_t *net, void *arg)
{
    s_update_t *update = (s_update_t *) arg;
    const uint8_t *id = tm_simnet_id (net, update->node);
    for (size_t i = 0; i < tm_simnet_size (net); i++) {
        tm_swim_member_t member;
        if (!tm_swim_member (tm_simnet_swim (net, i), id, &member)
        ||  member.incarnation < update->incarnation)
            return false;
    }
    return true;
}

Test (swim, dissemination_reaches_all_nodes_within_the_expected_rounds)
{
    for (int lossy = 0; lossy < 2; lossy++) {
        tm_simnet_t *net = s_cluster (64, 28 + lossy, lossy? 0.1: 0);
        tm_simnet_run (net, tm_simnet_now (net) + 3);       //  Let the joins' gossip drain
        double t = tm_simnet_now (net);
        cr_assert_eq (tm_swim_set_meta (tm_simnet_swim (net, 0), "v2", 2, t), 0);
        s_update_t update = { 0, 1 };
        cr_assert (tm_simnet_run_until (net, t + 2, s_everyone_updated, &update, 0.001));
        double took = tm_simnet_now (net) - t;
        //  Fan-out 3 every 20 ms plus piggybacking: log3 (64) ~ 4 rounds;
        //  allow 10 rounds, 15 with 10% loss
        double rounds = took / 0.02;
        cr_assert_lt (rounds, lossy? 15: 10, "took %.1f gossip rounds (loss %d)", rounds, lossy);
        tm_simnet_destroy (&net);
    }
}

Test (swim, a_seed_that_answers_late_is_retried)
{
    tm_simnet_config_t net_config;
    tm_simnet_config_default (&net_config);
    tm_simnet_t *net = tm_simnet_new (&net_config);
    tm_swim_config_t config;
    tm_swim_config_fast (&config);
    tm_simnet_add (net, &config, NULL, NULL, NULL, 0);
    tm_simnet_add (net, &config, NULL, NULL, NULL, 0);
    tm_simnet_kill (net, 0, false);                     //  Seed down
    tm_simnet_join (net, 1, 0);
    tm_simnet_run (net, 1);
    cr_assert_eq (tm_swim_size (tm_simnet_swim (net, 1)), 1);
    tm_simnet_restart (net, 0, NULL, NULL);              //  Seed back
    cr_assert (tm_simnet_run_until (net, 3, s_converged, NULL, 0.01));
    cr_assert_eq (tm_swim_size (tm_simnet_swim (net, 1)), 2);
    tm_simnet_destroy (&net);
}

Test (swim, same_seed_gives_the_same_run)
{
    uint64_t delivered [2];
    double now [2];
    for (int run = 0; run < 2; run++) {
        tm_simnet_t *net = s_cluster (30, 31, 0.05);
        tm_simnet_kill (net, 9, false);
        tm_simnet_run (net, tm_simnet_now (net) + 3);
        tm_simnet_stats_t stats;
        tm_simnet_stats (net, &stats);
        delivered [run] = stats.delivered;
        now [run] = tm_simnet_now (net);
        tm_simnet_destroy (&net);
    }
    cr_assert_eq (delivered [0], delivered [1]);
    cr_assert_float_eq (now [0], now [1], 1e-12);
}

Test (swim, new_rejects_bad_arguments_and_members_can_be_iterated)
{
    tm_log_set_level ("none");
    tm_swim_config_t config;
    tm_swim_config_lan (&config);
    uint8_t id [32];
    s_fake_id (id, 999);
    static uint8_t meta [TM_SWIM_META_MAX + 1];
    cr_assert_null (tm_swim_new (&config, id, "n", "no-port", NULL, 0, 0));
    cr_assert_null (tm_swim_new (&config, id, "n", NULL, NULL, 0, 0));
    cr_assert_null (tm_swim_new (&config, id, "n", "h:1", meta, sizeof meta, 0));
    cr_assert_null (tm_swim_new (&config, id,
        "0123456789012345678901234567890123456789012345678901234567890123456789", "h:1",
        NULL, 0, 0));
    tm_swim_config_t bad = config;
    bad.probe_timeout = 2 * bad.probe_interval;
    cr_assert_null (tm_swim_new (&bad, id, "n", "h:1", NULL, 0, 0));

    tm_swim_t *swim = tm_swim_new (&config, id, "me", "h:1", "m", 1, 0);
    cr_assert_not_null (swim);
    cr_assert_eq (tm_swim_join (swim, "h:1", 0), -1, "joining ourselves");
    cr_assert_eq (tm_swim_join (swim, "bad", 0), -1);
    s_teach (swim, 20, 0);
    cr_assert_eq (tm_swim_size (swim), 21);
    size_t by_state = 0;
    for (int s = 0; s < TM_SWIM_STATES; s++)
        by_state += tm_swim_count (swim, (tm_swim_state_t) s);
    cr_assert_eq (by_state, 21);
    size_t selves = 0, seen = 0;
    tm_swim_member_t member;
    for (size_t i = 0; tm_swim_member_at (swim, i, &member); i++) {
        seen++;
        selves += member.is_self;
        cr_assert (strchr (member.address, ':'));
    }
    cr_assert_eq (seen, 21);
    cr_assert_eq (selves, 1);
    cr_assert_str_eq (tm_swim_state_name (TM_SWIM_SUSPECT), "suspect");
    cr_assert_str_eq (tm_swim_event_name (TM_SWIM_EVENT_REAPED), "reaped");
    tm_swim_destroy (&swim);
}
