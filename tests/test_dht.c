/*  test_dht.c - integration: the result cache's DHT over real agents on
    loopback (dht-cache/tm_dht.h, docs/caching.md, 4).

    Agents as in tm_cluster.h (fast profile).  The test speaks the
    control socket (tm_control_call) to put and get entries.  Entries
    are signed with the node key of one of the agents, read from its
    data directory (tm_keys_new): only a member may sign an entry the
    cache takes, so a key of the test's own would be refused.
*/
#include "tm_cluster.h"
#include "tm_cacheentry.h"
#include "tm_control.h"
#include "tm_keys.h"
#include <jansson.h>
#include <sodium.h>

TestSuite (dht, .fini = tmc_cleanup, .timeout = 90);

//  Starts COUNT agents with EXTRA options ("--cache-replicas", R ...):
//  the first creates the cluster.  Waits until all see all alive.
static void
s_cluster (tmc_agent_t **agents, const char **names, int count, const char *replicas)
{
    agents [0] = tmc_start (names [0], NULL, "--cache-replicas", replicas, NULL);
    char *token = tmc_token (agents [0], 10);
    for (int i = 1; i < count; i++)
        agents [i] = tmc_start (names [i], token, "--cache-replicas", replicas, NULL);
    tmc_wait_mesh (agents, count, 30);
    free (token);
}

//  Calls AGENT's control socket; returns the reply (NULL with *ERR on
//  an error reply).
static json_t *
s_call (tmc_agent_t *agent, json_t *request, char **err)
{
    json_t *reply = tm_control_call (agent->dir, request, 15, err);
    json_decref (request);
    if (!reply && *err && strstr (*err, "no agent running")) {
        char *tail = tmc_log_tail (agent, 3000);
        cr_assert_fail ("'%s' does not answer: %s\n%s", agent->name, *err, tail);
    }
    return reply;
}

//  A key of 32 bytes from SEED, in hex.
static void
s_key (const char *seed, int n, char hex [TM_CACHE_HEX])
{
    uint8_t bytes [32];
    char text [256];
    snprintf (text, sizeof text, "%s-%d", seed, n);
    crypto_generichash (bytes, sizeof bytes, (const uint8_t *) text, strlen (text), NULL, 0);
    tm_cache_hex (bytes, hex);
}

//  A signed entry under key HEX for test TEST_ID created at CREATED,
//  signed with SIGNER's node key.  Returns its encoding (caller frees).
static char *
s_entry (tmc_agent_t *signer, const char *hex, const char *test_id, double created)
{
    char *err = NULL;
    tm_keys_t *keys = tm_keys_new (signer->dir, &err);
    cr_assert_not_null (keys, "keys of '%s': %s", signer->name, err);
    tm_cacheentry_t *entry = tm_cacheentry_new ();
    snprintf (entry->key, sizeof entry->key, "%s", hex);
    s_key ("ident", (int) strlen (test_id), entry->ident);
    s_key ("decl", 1, entry->decl);
    entry->test_id = strdup (test_id);
    entry->status = TM_STATUS_PASSED;
    entry->duration = 0.5;
    entry->created = created;
    entry->member = strdup (signer->name);
    tm_cacheentry_sign (entry, tm_keys_node_secret (keys));
    size_t size;
    char *encoded = tm_cacheentry_encode (entry, &size);
    tm_cacheentry_destroy (&entry);
    tm_keys_destroy (&keys);
    return encoded;
}

//  Puts COUNT entries (keys s_key (SEED, 0..COUNT-1), tests "SEED/i")
//  through AGENT, signed by SIGNER.
static void
s_put (tmc_agent_t *agent, tmc_agent_t *signer, const char *seed, int count, double created)
{
    json_t *items = json_array ();
    for (int i = 0; i < count; i++) {
        char hex [TM_CACHE_HEX], test_id [128];
        s_key (seed, i, hex);
        snprintf (test_id, sizeof test_id, "%s/%d", seed, i);
        char *entry = s_entry (signer, hex, test_id, created);
        json_array_append_new (items, json_pack ("[s, s]", hex, entry));
        free (entry);
    }
    char *err = NULL;
    json_t *reply = s_call (agent, json_pack ("{s:s, s:s, s:o}", "cmd", "cache-put",
                                              "kind", "entry", "items", items), &err);
    cr_assert_not_null (reply, "cache-put through '%s': %s", agent->name, err);
    json_decref (reply);
}

//  Gets the COUNT keys of SEED through AGENT; returns how many were found.
static int
s_found (tmc_agent_t *agent, const char *seed, int count)
{
    json_t *keys = json_array ();
    for (int i = 0; i < count; i++) {
        char hex [TM_CACHE_HEX];
        s_key (seed, i, hex);
        json_array_append_new (keys, json_string (hex));
    }
    char *err = NULL;
    json_t *reply = s_call (agent, json_pack ("{s:s, s:s, s:o}", "cmd", "cache-get",
                                              "kind", "entry", "keys", keys), &err);
    cr_assert_not_null (reply, "cache-get through '%s': %s", agent->name, err);
    json_t *values = json_object_get (reply, "values");
    cr_assert_eq (json_array_size (values), (size_t) count, "one value per key");
    int found = 0;
    for (int i = 0; i < count; i++)
        found += json_is_string (json_array_get (values, i));
    json_decref (reply);
    return found;
}

//  Waits until s_found gives WANT (polling), or fails after TIMEOUT s.
static void
s_wait_found (tmc_agent_t *agent, const char *seed, int count, int want, double timeout)
{
    double end = tmu_now () + timeout;
    int found;
    while ((found = s_found (agent, seed, count)) != want) {
        if (tmu_now () > end) {
            char *tail = tmc_log_tail (agent, 1500);
            cr_assert_fail ("'%s' finds %d of %d, want %d\n%s", agent->name, found, count,
                            want, tail);
        }
        usleep (50000);
    }
}

Test (dht, put_through_one_agent_is_gettable_through_another)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    s_cluster (agents, names, 3, "2");
    s_put (agents [0], agents [0], "one", 50, tm_wall_now () - 10);
    s_wait_found (agents [2], "one", 50, 50, 10);
    s_wait_found (agents [1], "one", 50, 50, 10);
    //  With R = 2 of 3, each member holds about two thirds
    json_t *stats = tmc_stats (agents [0]);
    cr_assert_gt (tmc_counter (stats, "cache.puts"), 0);
    json_decref (stats);
    //  cache-stats lists every member's share
    char *err = NULL;
    json_t *reply = s_call (agents [1], json_pack ("{s:s}", "cmd", "cache-stats"), &err);
    cr_assert_not_null (reply, "%s", err);
    cr_assert_eq (json_integer_value (json_object_get (reply, "replicas")), 2);
    json_t *members = json_object_get (reply, "members");
    cr_assert_eq (json_array_size (members), 3, "%s", json_dumps (reply, 0));
    long long entries = 0;
    size_t i;
    json_t *member;
    json_array_foreach (members, i, member)
        entries += json_integer_value (json_object_get (member, "entries"));
    cr_assert_eq (entries, 100, "R = 2: 100 copies of 50 entries, not %lld", entries);
    json_decref (reply);
}

Test (dht, value_is_served_after_the_agent_it_was_put_through_is_killed)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    s_cluster (agents, names, 3, "3");
    s_put (agents [0], agents [0], "kill", 20, tm_wall_now () - 10);
    s_wait_found (agents [1], "kill", 20, 20, 10);
    tmc_kill (agents [0]);
    //  At once (a1 may still look alive: its owners' silence is skipped)
    double start = tmu_now ();
    cr_assert_eq (s_found (agents [2], "kill", 20), 20);
    cr_assert_lt (tmu_now () - start, 2.5, "a GET takes at most about 2 s");
    tmc_wait_state (agents [1], "a1", "dead|gone", 10);
    cr_assert_eq (s_found (agents [1], "kill", 20), 20);
}

//  Keys AGENT's peers asked of it (cache.remote_gets).
static long long
s_remote_gets (tmc_agent_t *agent)
{
    json_t *stats = tmc_stats (agent);
    long long asked = tmc_counter (stats, "cache.remote_gets");
    json_decref (stats);
    return asked;
}

//  Every member owns every key (R = 3 of 3): a lookup is answered from
//  the asker's own share, and no peer is asked.
Test (dht, an_owner_answers_from_its_own_share_without_asking_its_peers)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    s_cluster (agents, names, 3, "3");
    s_put (agents [0], agents [0], "own", 30, tm_wall_now () - 10);
    s_wait_found (agents [1], "own", 30, 30, 10);
    long long asked [3];
    for (int i = 0; i < 3; i++)
        asked [i] = s_remote_gets (agents [i]);
    cr_assert_eq (s_found (agents [2], "own", 30), 30);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (s_remote_gets (agents [i]), asked [i],
                      "'%s' was asked for keys c1 holds", names [i]);
}

Test (dht, entry_with_a_tampered_signature_is_refused_and_counted)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    s_cluster (agents, names, 3, "3");
    char hex [TM_CACHE_HEX];
    s_key ("bad", 0, hex);
    char *entry = s_entry (agents [1], hex, "bad/0", tm_wall_now () - 10);
    //  Flip one hex digit of the signature
    char *sig = strstr (entry, "\"sig\"");
    cr_assert_not_null (sig);
    char *digit = strchr (sig + 5, '"') + 1;
    *digit = *digit == '0' ? '1' : '0';
    char *err = NULL;
    json_t *reply = s_call (agents [0], json_pack ("{s:s, s:s, s:[[s, s]]}", "cmd", "cache-put",
                                                   "kind", "entry", "items", hex, entry), &err);
    cr_assert_not_null (reply, "%s", err);
    json_decref (reply);
    free (entry);
    tmc_wait_counter (agents [0], "cache.bad_signature", 1, 10);
    cr_assert_eq (s_found (agents [2], "bad", 1), 0);
    cr_assert_eq (s_found (agents [0], "bad", 1), 0);
    //  An entry signed by a key that is no member's is refused too
    tmc_agent_t *stranger = tmc_start ("x1", NULL, NULL);
    tmc_wait_ready (stranger, 10);
    char other [TM_CACHE_HEX];
    s_key ("stranger", 0, other);
    entry = s_entry (stranger, other, "stranger/0", tm_wall_now () - 10);
    reply = s_call (agents [0], json_pack ("{s:s, s:s, s:[[s, s]]}", "cmd", "cache-put",
                                           "kind", "entry", "items", other, entry), &err);
    cr_assert_not_null (reply, "%s", err);
    json_decref (reply);
    free (entry);
    tmc_wait_counter (agents [0], "cache.bad_signature", 2, 10);
    cr_assert_eq (s_found (agents [1], "stranger", 1), 0);
}

Test (dht, joining_agent_receives_the_keys_it_owns_by_handoff)
{
    tmc_agent_t *agents [4];
    const char *names [] = { "a1", "b1", "c1", "d1" };
    s_cluster (agents, names, 3, "2");
    s_put (agents [0], agents [0], "hand", 200, tm_wall_now () - 10);
    s_wait_found (agents [1], "hand", 200, 200, 10);
    char *token = tmc_token (agents [0], 10);
    agents [3] = tmc_start ("d1", token, "--cache-replicas", "2", NULL);
    free (token);
    tmc_wait_mesh (agents, 4, 30);
    //  d1 owns about half of the keys (R = 2 of 4): the others hand them
    tmc_wait_counter (agents [3], "cache.puts", 40, 15);
    //  ... and what moved away from the old owners was deleted there: the
    //  cluster keeps R copies, not more
    double end = tmu_now () + 15;
    long long entries = 0;
    while (tmu_now () < end) {
        char *err = NULL;
        json_t *reply = s_call (agents [3], json_pack ("{s:s}", "cmd", "cache-stats"), &err);
        cr_assert_not_null (reply, "%s", err);
        entries = 0;
        size_t i;
        json_t *member;
        json_array_foreach (json_object_get (reply, "members"), i, member)
            entries += json_integer_value (json_object_get (member, "entries"));
        json_decref (reply);
        if (entries == 400)
            break;
        usleep (100000);
    }
    cr_assert_eq (entries, 400, "R = 2: 400 copies of 200 entries, not %lld", entries);
    //  Every key is still found, through the newcomer too
    cr_assert_eq (s_found (agents [3], "hand", 200), 200);
}

Test (dht, invalidate_deletes_matching_entries_everywhere_and_refuses_older_ones)
{
    tmc_agent_t *agents [3];
    const char *names [] = { "a1", "b1", "c1" };
    s_cluster (agents, names, 3, "3");
    double old = tm_wall_now () - 100;
    s_put (agents [0], agents [0], "net", 10, old);
    s_put (agents [0], agents [0], "disk", 10, old);
    s_wait_found (agents [2], "net", 10, 10, 10);
    s_wait_found (agents [2], "disk", 10, 10, 10);
    char *err = NULL;
    json_t *reply = s_call (agents [1], json_pack ("{s:s, s:s}", "cmd", "cache-invalidate",
                                                   "glob", "net/*"), &err);
    cr_assert_not_null (reply, "%s", err);
    cr_assert_eq (json_integer_value (json_object_get (reply, "deleted")), 10);
    json_decref (reply);
    //  Gone from every share (R = 3: every member held them)
    for (int i = 0; i < 3; i++)
        tmc_wait_counter (agents [i], "cache.tombstoned", 10, 10);
    cr_assert_eq (s_found (agents [0], "net", 10), 0);
    cr_assert_eq (s_found (agents [2], "disk", 10), 10);
    //  Put back as they were (older than the tombstone): refused
    s_put (agents [2], agents [0], "net", 10, old);
    tmc_wait_counter (agents [2], "cache.tombstoned", 20, 10);
    cr_assert_eq (s_found (agents [1], "net", 10), 0);
    //  A result newer than the tombstone is taken
    s_put (agents [2], agents [0], "net", 10, tm_wall_now () + 1);
    s_wait_found (agents [1], "net", 10, 10, 10);
}

Test (dht, garbage_keys_get_an_error_not_a_crash)
{
    tmc_agent_t *agents [1];
    const char *names [] = { "a1" };
    s_cluster (agents, names, 1, "3");
    char *err = NULL;
    json_t *reply = s_call (agents [0], json_pack ("{s:s, s:s, s:[s]}", "cmd", "cache-get",
                                                   "kind", "entry", "keys", "zz"), &err);
    cr_assert_null (reply);
    cr_assert_not_null (strstr (err, "hex"), "%s", err);
    free (err);
    err = NULL;
    reply = s_call (agents [0], json_pack ("{s:s, s:s, s:[i]}", "cmd", "cache-get",
                                           "kind", "nonsense", "keys", 3), &err);
    cr_assert_null (reply);
    free (err);
    err = NULL;
    reply = s_call (agents [0], json_pack ("{s:s, s:s, s:[[s]]}", "cmd", "cache-put",
                                           "kind", "entry", "items", "zz"), &err);
    cr_assert_null (reply);
    free (err);
    err = NULL;
    //  The agent still answers
    cr_assert_eq (s_found (agents [0], "nothing", 3), 0);
    tmc_assert_running (agents [0]);
}

//  A batched 10,000-key get through one agent of 5 (R = 3), every key
//  present: every value comes back, from owners on every member.  (How
//  long it takes is tools/bench/cache.sh's, not a test's.)
Test (dht, ten_thousand_keys_in_one_get_all_come_back)
{
    tmc_agent_t *agents [5];
    const char *names [] = { "a1", "b1", "c1", "d1", "e1" };
    s_cluster (agents, names, 5, "3");
    for (int chunk = 0; chunk < 10; chunk++) {
        char seed [32];
        snprintf (seed, sizeof seed, "bench%d", chunk);
        s_put (agents [chunk % 5], agents [0], seed, 1000, tm_wall_now () - 10);
    }
    json_t *keys = json_array ();
    for (int chunk = 0; chunk < 10; chunk++) {
        char seed [32];
        snprintf (seed, sizeof seed, "bench%d", chunk);
        for (int i = 0; i < 1000; i++) {
            char hex [TM_CACHE_HEX];
            s_key (seed, i, hex);
            json_array_append_new (keys, json_string (hex));
        }
    }
    //  Wait for the puts to land (the last chunk found everywhere)
    s_wait_found (agents [1], "bench9", 1000, 1000, 30);
    for (int round = 0; round < 2; round++) {
        char *err = NULL;
        json_t *reply = s_call (agents [2], json_pack ("{s:s, s:s, s:O}", "cmd", "cache-get",
                                                       "kind", "entry", "keys", keys), &err);
        cr_assert_not_null (reply, "%s", err);
        json_t *values = json_object_get (reply, "values");
        size_t found = 0, i;
        json_t *value;
        json_array_foreach (values, i, value)
            found += json_is_string (value);
        cr_assert_eq (found, 10000, "round %d: %zu of 10000 found", round, found);
        json_decref (reply);
    }
    json_decref (keys);
}
