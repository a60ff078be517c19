/*  test_cli_cache_cluster.c - integration: the result cache of a cluster,
    through real agents on loopback and the real CLI (docs/caching.md).

    Runs are submitted with --shared-fs (every agent sees the suite's
    directory) and --cache readwrite (the test runner turns the cache off
    by default).  Each test of a suite appends a line to a counter file
    when it really runs, so a hit is checked by what did not happen.
*/
#include "tm_cluster.h"

TestSuite (cli_cache_cluster, .fini = tmc_cleanup, .timeout = 120);

//  A path (static buffer, rotating), not under the build directory.
static const char *
s_path (const char *fmt, ...)
{
    static char bufs [8][4096];
    static int next;
    char *buf = bufs [next++ % 8];
    va_list args;
    va_start (args, fmt);
    vsnprintf (buf, 4096, fmt, args);
    va_end (args);
    return buf;
}

//  NAME's share as `testmesh cache stats --json` through VIA reports it:
//  {name, entries, records, bytes, cap, hits, misses, evicted, degraded}
//  (caller json_decref's), or NULL if NAME did not answer.
static json_t *
s_share (tmc_agent_t *via, const char *name)
{
    tmu_run_t run = tmu_testmesh (15, "cache", "stats", "--json", "--data", via->dir);
    cr_assert_eq (run.status, 0, "%s", run.err);
    json_t *stats = json_loads (run.out, 0, NULL);
    cr_assert_not_null (stats, "%s", run.out);
    json_t *found = NULL;
    size_t index;
    json_t *member;
    json_array_foreach (json_object_get (stats, "members"), index, member)
        if (strcmp (json_string_value (json_object_get (member, "name")), name) == 0)
            found = json_incref (member);
    json_decref (stats);
    tmu_run_free (&run);
    return found;
}

//  Writes DIR/suite.ini with COUNT tests tNNNN running COMMAND; returns
//  its path (caller frees).
static char *
s_suite (const char *dir, int count, const char *command)
{
    char *suite = strdup (s_path ("%s/suite.ini", dir));
    FILE *file = fopen (suite, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < count; i++)
        fprintf (file, "[test \"t%04d\"]\ncommand = %s\n", i, command);
    fclose (file);
    return suite;
}

//  Starts COUNT agents a1.. with EXTRA options (NULL-terminated) and waits
//  until each sees every other alive.
static void
s_cluster (tmc_agent_t **agents, int count, const char *replicas, const char *size)
{
    static const char *names [] = { "a1", "a2", "a3", "a4" };
    cr_assert (count <= 4);
    agents [0] = tmc_start (names [0], NULL, "--slots", "2", "--cache-replicas", replicas,
                            "--cache-size", size, NULL);
    char *token = tmc_token (agents [0], 10);
    for (int i = 1; i < count; i++)
        agents [i] = tmc_start (names [i], token, "--slots", "2", "--cache-replicas", replicas,
                                "--cache-size", size, NULL);
    tmc_wait_mesh (agents, count, 30);
    free (token);
}

static int
s_ran (const char *dir, const char *name)
{
    char *text = tmu_slurp (s_path ("%s/%s", dir, name));
    int lines = text ? tmu_count (text, "\n") : 0;
    free (text);
    return lines;
}

//  `testmesh run` through AGENT; returns its exit code, asserts it
//  finished, and leaves its stdout in *OUT_P if not NULL.
static int
s_run (tmc_agent_t *agent, const char *suite, char **out_p)
{
    tmu_run_t run = tmu_testmesh (60, "run", "--cache", "readwrite", "--shared-fs",
                                  "--progress", "lines", "--data", agent->dir, (char *) suite);
    int status = run.status;
    cr_assert (status == 0 || status == 1, "run through %s: exit %d\n%s%s", agent->name,
               status, run.out, run.err);
    if (out_p) {
        //  Its stderr too: a cache that cannot be asked says so there
        *out_p = malloc (strlen (run.out) + strlen (run.err) + 2);
        cr_assert_not_null (*out_p);
        sprintf (*out_p, "%s\n%s", run.out, run.err);
    }
    tmu_run_free (&run);
    return status;
}

Test (cli_cache_cluster, hits_survive_the_member_that_wrote_them)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "2", "1G");
    char *dir = tmu_scratch ();
    char *suite = s_suite (dir, 40, "sh -c 'echo run >> count'");

    //  a2 is the origin: it files every entry, on the 2 owners of each
    cr_assert_eq (s_run (agents [1], suite, NULL), 0);
    cr_assert_eq (s_ran (dir, "count"), 40);
    tmc_kill (agents [1]);
    tmc_wait_state (agents [0], "a2", "dead", 20);

    //  Through a1, with a2 gone: the other owner of each key answers
    char *out = NULL;
    cr_assert_eq (s_run (agents [0], suite, &out), 0);
    cr_assert_eq (s_ran (dir, "count"), 40, "tests ran again:\n%s", out);
    cr_assert (strstr (out, "40 cached, 0 run"), "%s", out);
    free (out);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_cache_cluster, changed_inputs_rerun_exactly_their_tests)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "3", "1G");
    char *dir = tmu_scratch ();
    char *suite = strdup (s_path ("%s/suite.ini", dir));
    tmu_write (suite,
        "[test \"declared\"]\ncommand = sh -c 'echo run >> count-declared'\ninputs = a.txt\n"
        "[test \"undeclared\"]\ncommand = sh -c 'grep -q yes b.txt && echo run >> count-undeclared'\n"
        "[test \"other\"]\ncommand = sh -c 'echo run >> count-other'\n");
    tmu_write (s_path ("%s/a.txt", dir), "1\n");
    tmu_write (s_path ("%s/b.txt", dir), "yes\n");
    cr_assert_eq (s_run (agents [0], suite, NULL), 0);
    cr_assert_eq (s_run (agents [1], suite, NULL), 0);
    cr_assert_eq (s_ran (dir, "count-declared") + s_ran (dir, "count-undeclared")
                  + s_ran (dir, "count-other"), 3, "the second run was all hits");

    tmu_write (s_path ("%s/a.txt", dir), "2\n");
    tmu_write (s_path ("%s/b.txt", dir), "yes, still\n");
    char *out = NULL;
    cr_assert_eq (s_run (agents [2], suite, &out), 0);
    cr_assert_eq (s_ran (dir, "count-declared"), 2, "%s", out);
    cr_assert_eq (s_ran (dir, "count-undeclared"), 2, "%s", out);
    cr_assert_eq (s_ran (dir, "count-other"), 1, "%s", out);
    free (out);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_cache_cluster, invalidate_reaches_every_member)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "2", "1G");
    char *dir = tmu_scratch ();
    char *suite = strdup (s_path ("%s/suite.ini", dir));
    FILE *file = fopen (suite, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < 10; i++)
        fprintf (file, "[test \"net/%d\"]\ncommand = sh -c 'echo run >> count-net'\n"
                       "[test \"disk/%d\"]\ncommand = sh -c 'echo run >> count-disk'\n", i, i);
    fclose (file);
    cr_assert_eq (s_run (agents [0], suite, NULL), 0);

    tmu_run_t run = tmu_testmesh (15, "cache", "invalidate", "net/*", "--data", agents [2]->dir);
    cr_assert_eq (run.status, 0, "%s", run.err);
    tmu_run_free (&run);
    //  The tombstone reaches every member: no share keeps a net/ entry.
    //  Through a2, which issued nothing and ran nothing
    char *out = NULL;
    cr_assert_eq (s_run (agents [1], suite, &out), 0);
    cr_assert_eq (s_ran (dir, "count-net"), 20, "net/* ran again:\n%s", out);
    cr_assert_eq (s_ran (dir, "count-disk"), 10, "disk/* were served:\n%s", out);
    free (out);
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_cache_cluster, each_share_stays_under_its_cap)
{
    tmc_agent_t *agents [2];
    s_cluster (agents, 2, "2", "1M");
    char *dir = tmu_scratch ();
    //  Each test's record lists what it read (its trace), ~1.5 KiB; 1200 of
    //  them and their entries are more than 1 MiB on each member
    char *suite = s_suite (dir, 1200, "true");
    cr_assert_eq (s_run (agents [0], suite, NULL), 0);

    for (int i = 0; i < 2; i++) {
        json_t *share = s_share (agents [0], agents [i]->name);
        cr_assert_not_null (share, "%s did not answer cache stats", agents [i]->name);
        long long bytes = json_integer_value (json_object_get (share, "bytes"));
        long long cap = json_integer_value (json_object_get (share, "cap"));
        cr_assert_eq (cap, 1024 * 1024);
        cr_assert (bytes > 0 && bytes <= cap, "%s: %lld bytes, cap %lld", agents [i]->name,
                   bytes, cap);
        cr_assert (json_integer_value (json_object_get (share, "evicted")) > 0,
                   "%s never reached its cap", agents [i]->name);
        json_decref (share);
    }
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_cache_cluster, a_member_restarted_with_an_empty_disk_is_refilled)
{
    tmc_agent_t *agents [3];
    s_cluster (agents, 3, "3", "1G");
    char *dir = tmu_scratch ();
    char *suite = s_suite (dir, 30, "true");
    cr_assert_eq (s_run (agents [0], suite, NULL), 0);
    //  R = 3 of 3: every member holds all 30
    json_t *share = s_share (agents [0], "a3");
    cr_assert (share && json_integer_value (json_object_get (share, "entries")) == 30);
    json_decref (share);

    //  a3 loses its disk: killed, its share removed, started again on
    //  the same identity (a new process: a new boot id)
    tmc_kill (agents [2]);
    tmu_rmrf (s_path ("%s/cache", agents [2]->dir));
    tmc_restart (agents [2], NULL, "--slots", "2", "--cache-replicas", "3", NULL);
    tmc_wait_mesh (agents, 3, 30);
    double end = tmu_now () + 20;
    long long entries = 0;
    while (tmu_now () < end && entries < 30) {
        share = s_share (agents [2], "a3");
        entries = share ? json_integer_value (json_object_get (share, "entries")) : 0;
        json_decref (share);
        if (entries < 30)
            usleep (100 * 1000);    //  Polled until the deadline
    }
    cr_assert_eq (entries, 30, "the others handed a3 back its share: %lld of 30\n%s", entries,
                  tmc_log_tail (agents [0], 3000));
    free (suite);
    tmu_rmrf (dir);
    free (dir);
}
