/*  test_cli_store.c - integration: the content store's bounds and the
    handoff of blobs to their new owners (docs/caching.md, 4 and 6;
    docs/scheduling.md, "Inputs").

    Real agents on loopback (tm_cluster.h).  A run ships its files to
    the members that run its tests and to the blobs' owners; these tests
    then watch each member's DATADIR/store:
      - a store keeps under its cap (--store-size), except for what a
        queued or running task needs, which it never loses;
      - `testmesh cache gc` reclaims what the CLI added behind the
        agent's back, and `cache stats` reports each member's store;
      - a member that joins, or comes back with an empty store, gets
        the blobs it now owns without any run asking for them, and only
        those; a member's death hands its blobs to the next owner.
    Every wait is for a condition, with a deadline.
*/
#include "tm_cluster.h"
#include "tm_rendezvous.h"
#include "tm_store.h"
#include <dirent.h>
#include <sodium.h>

TestSuite (cli_store, .fini = tmc_cleanup, .timeout = 180);

//  Writes SIZE bytes seeded by SEED to PATH.
static void
s_write (const char *path, size_t size, int seed)
{
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file, "cannot write %s", path);
    for (size_t i = 0; i < size; i++)
        fputc ((int) ((i * 31 + i / 977 + (size_t) seed * 7) & 0xff), file);
    fclose (file);
}

//  The digest of the file at PATH into HEX.
static void
s_digest (const char *path, char hex [65])
{
    FILE *file = fopen (path, "rb");
    cr_assert_not_null (file);
    crypto_generichash_state state;
    crypto_generichash_init (&state, NULL, 0, 32);
    unsigned char buffer [65536];
    size_t got;
    while ((got = fread (buffer, 1, sizeof buffer, file)) > 0)
        crypto_generichash_update (&state, buffer, got);
    fclose (file);
    unsigned char digest [32];
    crypto_generichash_final (&state, digest, sizeof digest);
    sodium_bin2hex (hex, 65, digest, sizeof digest);
}

//  Blobs in AGENT's store and their bytes (temporary files left out).
static int
s_store_blobs (tmc_agent_t *agent, long long *bytes)
{
    DIR *dir = opendir (tmc_file (agent, "store"));
    int count = 0;
    if (bytes)
        *bytes = 0;
    struct dirent *entry;
    while (dir && (entry = readdir (dir))) {
        if (strlen (entry->d_name) != 64)
            continue;
        char path [4400];
        snprintf (path, sizeof path, "%s/store/%s", agent->dir, entry->d_name);
        struct stat st;
        if (stat (path, &st) == 0) {
            count++;
            if (bytes)
                *bytes += st.st_size;
        }
    }
    if (dir)
        closedir (dir);
    return count;
}

static bool
s_stored (tmc_agent_t *agent, const char *hex)
{
    char path [4400];
    snprintf (path, sizeof path, "%s/store/%s", agent->dir, hex);
    struct stat st;
    return stat (path, &st) == 0;
}

//  A suite in DIR: COUNT tests of bin/check.sh, each declaring INPUTS
//  (a glob under data/) and checking that every file of data/ is there.
static char *
s_suite (const char *dir, int count, const char *inputs, const char *requires)
{
    char *path = tmu_join (dir, "bin");
    mkdir (path, 0755);
    free (path);
    path = tmu_join (dir, "bin/check.sh");
    tmu_write (path, "#!/bin/sh\n"
                     "for f in data/*; do [ -s \"$f\" ] || { echo \"no $f\"; exit 3; }; done\n"
                     "[ -n \"$TESTMESH_WORK_DIR\" ] || exit 4\n"
                     "exit 0\n");
    chmod (path, 0755);
    free (path);
    path = tmu_join (dir, "suite.ini");
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < count; i++)
        fprintf (file, "[test \"t%d\"]\ncommand = ./bin/check.sh\ninputs = %s\n%s%s%s"
                       "timeout = 60\n\n", i, inputs, requires ? "requires = " : "",
                       requires ? requires : "", requires ? "\n" : "");
    fclose (file);
    return path;
}

//  `testmesh stats` counter PATH of AGENT.
static long long
s_counter (tmc_agent_t *agent, const char *path)
{
    json_t *stats = tmc_stats (agent);
    long long value = tmc_counter (stats, path);
    json_decref (stats);
    return value;
}

//  The hex ids of AGENTS (COUNT, NULL ones skipped), as OBSERVER lists
//  them, into IDS (each 65 bytes).
static void
s_ids (tmc_agent_t *observer, tmc_agent_t **agents, int count, char ids [][65])
{
    json_t *members = tmc_members_of (observer);
    for (int i = 0; i < count; i++) {
        ids [i][0] = 0;
        if (!agents [i])
            continue;
        json_t *member = tmc_member (members, agents [i]->name);
        cr_assert_not_null (member, "%s is not listed", agents [i]->name);
        snprintf (ids [i], 65, "%s", json_string_value (json_object_get (member, "id")));
    }
    json_decref (members);
}

//  True if AGENTS [WHICH] is one of blob HEX's R owners among the
//  alive AGENTS (COUNT, NULL ones dead), whose ids are IDS.
static bool
s_owns (tmc_agent_t **agents, int count, char ids [][65], int which, const char *hex,
        size_t r)
{
    const char *alive [16];
    int index [16];
    size_t n = 0;
    for (int i = 0; i < count; i++)
        if (agents [i]) {
            alive [n] = ids [i];
            index [n++] = i;
        }
    uint8_t key [32];
    cr_assert_eq (sodium_hex2bin (key, sizeof key, hex, 64, NULL, NULL, NULL), 0);
    size_t picked [16];
    size_t found = tm_rendezvous_owners (key, alive, n, r, picked);
    for (size_t k = 0; k < found; k++)
        if (index [picked [k]] == which)
            return true;
    return false;
}

//  Waits until every owner among AGENTS of every blob in HEXES (COUNT)
//  has it.  Fails with the first missing one after TIMEOUT s.
static void
s_wait_placed (tmc_agent_t **agents, int count, char ids [][65], char hexes [][65],
               int blobs, size_t r, double timeout)
{
    double end = tmu_now () + timeout;
    for (int b = 0; b < blobs; b++)
        for (int i = 0; i < count; i++) {
            if (!agents [i] || !s_owns (agents, count, ids, i, hexes [b], r))
                continue;
            while (!s_stored (agents [i], hexes [b])) {
                tmc_assert_running (agents [i]);
                if (tmu_now () > end) {
                    char *tail = tmc_log_tail (agents [i], 2000);
                    cr_assert_fail ("%s owns blob %d (%.16s...) and does not have it after "
                                    "%.0f s\n%s", agents [i]->name, b, hexes [b], timeout, tail);
                }
                usleep (20000);
            }
        }
}

Test (cli_store, store_keeps_under_its_cap_and_never_loses_what_a_task_needs)
{
    //  Three inputs of 600 KiB, every test needs all three, the stores
    //  hold 1 MiB: the run fits only because what its tasks need is
    //  pinned while they wait and run
    tmc_agent_t *agents [2];
    agents [0] = tmc_start ("a1", NULL, "--slots", "1", "--store-size", "1M", NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "2", "--store-size", "1M",
                           "--label", "pool=two", NULL);
    free (token);
    tmc_wait_mesh (agents, 2, 30);
    char *dir = tmu_scratch ();
    char *data = tmu_join (dir, "data");
    mkdir (data, 0755);
    for (int i = 0; i < 3; i++) {
        char name [64];
        snprintf (name, sizeof name, "big%d.bin", i);
        char *path = tmu_join (data, name);
        s_write (path, 600 * 1024, i);
        free (path);
    }
    char *manifest = s_suite (dir, 6, "data/*.bin", "pool=two");
    tmu_run_t run = tmu_testmesh (90, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    tmu_run_free (&run);
    //  a2 fetched each blob once: none was evicted under a waiting task
    //  (it would have been fetched again)
    cr_assert_eq (s_counter (agents [1], "work.blobs_fetched"), 4,
                  "a2 fetched %lld blobs for 4 files", s_counter (agents [1], "work.blobs_fetched"));
    //  Once the run is over, both stores go back under their cap
    for (int i = 0; i < 2; i++) {
        double end = tmu_now () + 20;
        long long bytes;
        while (s_store_blobs (agents [i], &bytes), bytes > 1024 * 1024) {
            cr_assert (tmu_now () < end, "%s's store holds %lld bytes, over its 1 MiB cap",
                       agents [i]->name, bytes);
            usleep (20000);
        }
        json_t *stats = tmc_stats (agents [i]);
        cr_assert_leq (tmc_counter (stats, "work.store_bytes"), 1024 * 1024);
        cr_assert_eq (tmc_counter (stats, "work.store_cap"), 1024 * 1024);
        cr_assert_geq (tmc_counter (stats, "work.store_evicted"), 2);
        cr_assert_eq (tmc_counter (stats, "work.store_pinned"), 0);
        json_decref (stats);
    }
    tmu_rmrf (dir);
    free (dir);
    free (data);
    free (manifest);
}

Test (cli_store, cache_gc_reclaims_the_store_and_cache_stats_reports_it)
{
    tmc_agent_t *agent = tmc_start ("a1", NULL, "--slots", "1", "--store-size", "1M", NULL);
    tmc_wait_ready (agent, 10);
    //  Five blobs of 400 KiB put in its store behind its back, as the CLI
    //  does for a run it then never submits
    char *dir = tmu_scratch ();
    char *err = NULL;
    tm_store_t *store = tm_store_new (agent->dir, &err);
    cr_assert_not_null (store, "%s", err);
    for (int i = 0; i < 5; i++) {
        char name [64];
        snprintf (name, sizeof name, "f%d", i);
        char *path = tmu_join (dir, name);
        s_write (path, 400 * 1024, 10 + i);
        char hex [TM_STORE_HEX];
        uint64_t size;
        bool exec;
        cr_assert_eq (tm_store_add_file (store, path, hex, &size, &exec, &err), 0, "%s", err);
        free (path);
    }
    tm_store_destroy (&store);
    cr_assert_eq (s_store_blobs (agent, NULL), 5);
    tmu_run_t gc = tmu_testmesh (30, "cache", "gc", "--data", agent->dir);
    cr_assert_eq (gc.status, 0, "exit %d\n%s%s", gc.status, gc.out, gc.err);
    cr_assert (strstr (gc.out, "evicted 3 blobs (1.2M) from the content store; it holds 2 "
                               "(800.0K of 1.0M)"), "%s", gc.out);
    tmu_run_free (&gc);
    long long bytes;
    cr_assert_eq (s_store_blobs (agent, &bytes), 2);
    cr_assert_eq (bytes, 800 * 1024);
    //  Stats: per member, in JSON and in the table
    tmu_run_t stats = tmu_testmesh (15, "cache", "stats", "--json", "--data", agent->dir);
    cr_assert_eq (stats.status, 0, "%s", stats.err);
    json_t *json = json_loads (stats.out, 0, NULL);
    cr_assert_not_null (json, "%s", stats.out);
    json_t *member = json_array_get (json_object_get (json, "members"), 0);
    cr_assert_eq (json_integer_value (json_object_get (member, "store_blobs")), 2);
    cr_assert_eq (json_integer_value (json_object_get (member, "store_bytes")), 800 * 1024);
    cr_assert_eq (json_integer_value (json_object_get (member, "store_cap")), 1024 * 1024);
    cr_assert_eq (json_integer_value (json_object_get (member, "store_evicted")), 3);
    json_decref (json);
    tmu_run_free (&stats);
    stats = tmu_testmesh (15, "cache", "stats", "--data", agent->dir);
    cr_assert_eq (stats.status, 0, "%s", stats.err);
    cr_assert (strstr (stats.out, "STORE/CAP") && strstr (stats.out, "800.0K/1.0M"), "%s",
               stats.out);
    tmu_run_free (&stats);
    tmu_rmrf (dir);
    free (dir);
}

#define S_FILES 16

Test (cli_store, new_owner_gets_its_blobs_without_a_run_and_only_those, .timeout = 240)
{
    //  R = 2 over three members; a run from a1 that only a1 may run puts
    //  its 17 blobs (16 inputs and the script) on their owners
    tmc_agent_t *agents [4] = { NULL };
    agents [0] = tmc_start ("a1", NULL, "--slots", "2", "--cache-replicas", "2",
                            "--label", "pool=one", NULL);
    char *token = tmc_token (agents [0], 10);
    agents [1] = tmc_start ("a2", token, "--slots", "2", "--cache-replicas", "2", NULL);
    agents [2] = tmc_start ("a3", token, "--slots", "2", "--cache-replicas", "2", NULL);
    tmc_wait_mesh (agents, 3, 30);
    char *dir = tmu_scratch ();
    char *data = tmu_join (dir, "data");
    mkdir (data, 0755);
    char hexes [S_FILES + 1][65];
    for (int i = 0; i < S_FILES; i++) {
        char name [64];
        snprintf (name, sizeof name, "in%02d.txt", i);
        char *path = tmu_join (data, name);
        s_write (path, 20000 + (size_t) i, 100 + i);
        s_digest (path, hexes [i]);
        free (path);
    }
    char *manifest = s_suite (dir, 2, "data/*.txt", "pool=one");
    char *script = tmu_join (dir, "bin/check.sh");
    s_digest (script, hexes [S_FILES]);
    tmu_run_t run = tmu_testmesh (60, "run", "--data", agents [0]->dir, "--progress", "lines",
                                  manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    tmu_run_free (&run);
    char ids [4][65];
    s_ids (agents [0], agents, 3, ids);
    s_wait_placed (agents, 3, ids, hexes, S_FILES + 1, 2, 30);

    //  Every member made its first pass (which offers what it owns to its
    //  co-owners: there is no earlier placement to compare with)
    long long offered_before = 0;
    for (int i = 0; i < 3; i++) {
        tmc_wait_counter (agents [i], "work.handoff_passes", 1, 20);
        offered_before += s_counter (agents [i], "work.handoff_offered");
    }

    //  a4 joins: it owns about half the blobs now, and gets exactly those,
    //  though no run asks for them
    agents [3] = tmc_start ("a4", token, "--slots", "2", "--cache-replicas", "2", NULL);
    tmc_wait_mesh (agents, 4, 30);
    s_ids (agents [0], agents, 4, ids);
    int owned = 0;
    for (int b = 0; b <= S_FILES; b++)
        owned += s_owns (agents, 4, ids, 3, hexes [b], 2);
    s_wait_placed (agents, 4, ids, hexes, S_FILES + 1, 2, 30);
    for (int b = 0; b <= S_FILES; b++)
        if (!s_owns (agents, 4, ids, 3, hexes [b], 2))
            cr_assert_not (s_stored (agents [3], hexes [b]),
                           "a4 has blob %d, which it does not own", b);
    cr_assert_eq (s_store_blobs (agents [3], NULL), owned);
    json_t *stats = tmc_stats (agents [3]);
    cr_assert_eq (tmc_counter (stats, "work.handoff_fetched"), owned);
    cr_assert_eq (tmc_counter (stats, "work.blobs_fetched"), owned);
    cr_assert_eq (tmc_counter (stats, "work.tasks_run"), 0);
    json_decref (stats);
    long long offered = -offered_before;
    for (int i = 0; i < 3; i++)
        offered += s_counter (agents [i], "work.handoff_offered");
    //  Each blob a4 owns is offered by its two old owners at most (the
    //  one that stays, the one it displaced): no more
    cr_assert_geq (offered, owned);
    cr_assert_leq (offered, 2 * owned, "%lld offers for %d blobs", offered, owned);

    //  a4 comes back with an empty store (a new process, a new boot id):
    //  the others hand its blobs to it again
    cr_assert_eq (tmc_stop (agents [3]), 0);
    char *store = tmu_join (agents [3]->dir, "store");
    tmu_rmrf (store);
    free (store);
    tmc_restart (agents [3], NULL, "--slots", "2", "--cache-replicas", "2", NULL);
    tmc_wait_mesh (agents, 4, 30);
    s_wait_placed (agents, 4, ids, hexes, S_FILES + 1, 2, 30);
    cr_assert_eq (s_store_blobs (agents [3], NULL), owned);

    //  a2 dies: each blob it owned gets a new owner among the others
    tmc_kill (agents [1]);
    tmc_agent_t *rest [3] = { agents [0], agents [2], agents [3] };
    tmc_wait_all (rest, 3, "a2", "dead|gone", 30);
    agents [1] = NULL;
    s_wait_placed (agents, 4, ids, hexes, S_FILES + 1, 2, 30);
    tmu_rmrf (dir);
    free (dir);
    free (data);
    free (manifest);
    free (script);
    free (token);
}
