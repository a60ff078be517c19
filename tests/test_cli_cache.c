/*  test_cli_cache.c - integration: the result cache of an embedded node
    (no agent), through the real binary (docs/caching.md).

    Every test has a scratch directory holding its suite, its data files
    and its --data directory, and passes --cache explicitly: the test
    runner turns the cache off by default (TESTMESH_CACHE=off in
    tools/run_tests.sh).  Each test of a suite appends a line to a
    counter file when it really runs, so "served from the cache" is
    checked by what did not happen, not by what testmesh says.
*/
#include "tm_testutil.h"
#include <jansson.h>

TestSuite (cli_cache, .timeout = 60);

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

typedef struct {
    char *dir;                  //  Scratch: suite, data, counters
    char *data;                 //  DIR/home: --data
    char *suite;                //  DIR/suite.ini
} s_env_t;

static s_env_t
s_env (const char *suite_text)
{
    s_env_t env;
    env.dir = tmu_scratch ();
    env.data = strdup (s_path ("%s/home", env.dir));
    env.suite = strdup (s_path ("%s/suite.ini", env.dir));
    tmu_write (env.suite, suite_text);
    return env;
}

static void
s_env_free (s_env_t *env)
{
    tmu_rmrf (env->dir);
    free (env->dir);
    free (env->data);
    free (env->suite);
}

//  Lines in DIR/NAME: how many times tests that count there ran.
static int
s_ran (s_env_t *env, const char *name)
{
    char *text = tmu_slurp (s_path ("%s/%s", env->dir, name));
    int lines = text ? tmu_count (text, "\n") : 0;
    free (text);
    return lines;
}

//  `testmesh run --cache MODE --progress lines --data ... --json DIR/report.json SUITE`
//  (a manifest's tests run in its directory: DIR).
static tmu_run_t
s_run (s_env_t *env, const char *mode)
{
    char *json = strdup (s_path ("%s/report.json", env->dir));
    tmu_run_t run = tmu_testmesh (30, "run", "--cache", (char *) mode, "--progress", "lines",
                                  "--data", env->data, "--json", json, env->suite);
    free (json);
    return run;
}

//  The JSON report's entry for ID (borrowed from *ROOT_P, which the
//  caller frees).
static json_t *
s_report_test (s_env_t *env, json_t **root_p, const char *id)
{
    json_error_t error;
    *root_p = json_load_file (s_path ("%s/report.json", env->dir), 0, &error);
    cr_assert_not_null (*root_p, "report: %s", error.text);
    size_t i;
    json_t *test;
    json_array_foreach (json_object_get (*root_p, "tests"), i, test)
        if (strcmp (json_string_value (json_object_get (test, "id")), id) == 0)
            return test;
    cr_assert_fail ("no test '%s' in the report", id);
    return NULL;
}

static bool
s_cached (s_env_t *env, const char *id)
{
    json_t *root = NULL;
    //  Not inside json_is_true: a macro that evaluates its argument twice
    json_t *cached_flag = json_object_get (s_report_test (env, &root, id), "cached");
    bool cached = json_is_true (cached_flag);
    json_decref (root);
    return cached;
}

Test (cli_cache, unchanged_tests_are_served_from_the_cache)
{
    s_env_t env = s_env (
        "[test \"math/add\"]\ncommand = sh -c 'echo run >> count'\n"
        "[test \"math/sub\"]\ncommand = sh -c 'echo run >> count'\n"
        "[test \"io/read\"]\ncommand = sh -c 'echo run >> count'\n");
    tmu_run_t run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "first run: %s%s", run.out, run.err);
    cr_assert_eq (s_ran (&env, "count"), 3);
    cr_assert_not (s_cached (&env, "math/add"));
    tmu_run_free (&run);

    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "second run: %s%s", run.out, run.err);
    cr_assert_eq (s_ran (&env, "count"), 3, "a cached test ran again");
    cr_assert (strstr (run.out, "3 cached, 0 run"), "summary: %s", run.out);
    cr_assert (s_cached (&env, "math/add") && s_cached (&env, "io/read"));
    json_t *root = NULL;
    json_t *test = s_report_test (&env, &root, "math/sub");
    cr_assert_str_eq (json_string_value (json_object_get (test, "status")), "passed");
    cr_assert_eq (json_integer_value (json_object_get (test, "attempts")), 0);
    cr_assert_not_null (json_string_value (json_object_get (test, "member")));
    json_decref (root);
    tmu_run_free (&run);

    //  --no-cache runs everything again
    run = tmu_testmesh (30, "run", "--no-cache", "--data", env.data, env.suite);
    cr_assert_eq (run.status, 0);
    cr_assert_eq (s_ran (&env, "count"), 6);
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, junit_says_a_test_was_cached)
{
    s_env_t env = s_env ("[test \"one\"]\ncommand = true\n");
    tmu_run_t run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    tmu_run_free (&run);
    char *junit = strdup (s_path ("%s/junit.xml", env.dir));
    run = tmu_testmesh (30, "run", "--cache", "readwrite", "--data", env.data,
                        "--junit", junit, env.suite);
    cr_assert_eq (run.status, 0, "%s", run.err);
    char *xml = tmu_slurp (junit);
    cr_assert (xml && strstr (xml, "testmesh: cached result of a run on member "), "%s", xml);
    free (xml);
    free (junit);
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, a_changed_declared_input_reruns_only_its_test)
{
    s_env_t env = s_env (
        "[test \"uses-a\"]\ncommand = sh -c 'echo run >> count-a'\ninputs = a.txt\n"
        "[test \"uses-b\"]\ncommand = sh -c 'echo run >> count-b'\ninputs = b.txt\n");
    tmu_write (s_path ("%s/a.txt", env.dir), "one\n");
    tmu_write (s_path ("%s/b.txt", env.dir), "one\n");
    tmu_run_t run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "%s", run.err);
    tmu_run_free (&run);
    tmu_write (s_path ("%s/a.txt", env.dir), "two\n");
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "%s", run.err);
    cr_assert_eq (s_ran (&env, "count-a"), 2, "the test whose input changed ran again");
    cr_assert_eq (s_ran (&env, "count-b"), 1, "the other test was served");
    tmu_run_free (&run);

    run = tmu_testmesh (15, "cache", "explain", "uses-*", "--data", env.data);
    cr_assert_eq (run.status, 0, "%s", run.err);
    cr_assert (strstr (run.out, "uses-a: changed: input:") && strstr (run.out, "/a.txt changed"),
               "%s", run.out);
    cr_assert (strstr (run.out, "uses-b: hit"), "%s", run.out);
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, a_changed_undeclared_data_file_reruns_its_test)
{
    //  Nothing declares data.txt: the trace of the first run found it
    s_env_t env = s_env (
        "[test \"reads-data\"]\ncommand = sh -c 'grep -q expected data.txt && echo run >> count'\n"
        "[test \"other\"]\ncommand = sh -c 'echo run >> count-other'\n");
    tmu_write (s_path ("%s/data.txt", env.dir), "expected\n");
    tmu_run_t run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "%s", run.err);
    tmu_run_free (&run);
    run = s_run (&env, "readwrite");
    cr_assert_eq (s_ran (&env, "count"), 1, "unchanged: served");
    tmu_run_free (&run);

    //  A data file that now makes the test fail must never get a stale pass
    tmu_write (s_path ("%s/data.txt", env.dir), "something else\n");
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 1, "the test must run and fail: %s", run.out);
    cr_assert_not (s_cached (&env, "reads-data"));
    cr_assert_eq (s_ran (&env, "count-other"), 1);
    tmu_run_free (&run);

    run = tmu_testmesh (15, "cache", "explain", "reads-data", "--data", env.data);
    cr_assert_eq (run.status, 0, "%s", run.err);
    cr_assert (strstr (run.out, "traced:") && strstr (run.out, "data.txt changed"), "%s",
               run.out);
    tmu_run_free (&run);
    s_env_free (&env);
}

//  The lookup's keys asked, from DATADIR/cache-explain.json: "asked"
//  {"entries_by_memo", "records", "entries"}.
static void
s_asked (s_env_t *env, json_int_t *by_memo, json_int_t *records, json_int_t *entries)
{
    json_error_t error;
    json_t *root = json_load_file (s_path ("%s/cache-explain.json", env->data), 0, &error);
    cr_assert_not_null (root, "cache-explain.json: %s", error.text);
    json_t *asked = json_object_get (root, "asked");
    cr_assert (json_is_object (asked), "no \"asked\" in cache-explain.json");
    *by_memo = json_integer_value (json_object_get (asked, "entries_by_memo"));
    *records = json_integer_value (json_object_get (asked, "records"));
    *entries = json_integer_value (json_object_get (asked, "entries"));
    json_decref (root);
}

Test (cli_cache, lookup_memos_save_a_round_trip_and_a_stale_one_is_never_a_stale_pass)
{
    //  Which file the test reads is in sel, which nothing declares: the
    //  memo (DATADIR/db) remembers the names the last run read
    s_env_t env = s_env (
        "[test \"reads-sel\"]\ncommand = sh -c 'grep -q good $(cat sel) && echo run >> count'\n");
    tmu_write (s_path ("%s/a.txt", env.dir), "good\n");
    tmu_write (s_path ("%s/b.txt", env.dir), "good\n");
    tmu_write (s_path ("%s/sel", env.dir), "a.txt\n");
    json_int_t by_memo, records, entries;
    tmu_run_t run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "%s%s", run.out, run.err);
    s_asked (&env, &by_memo, &records, &entries);
    cr_assert (by_memo == 0 && records == 1 && entries == 0, "first: %d %d %d",
               (int) by_memo, (int) records, (int) entries);
    tmu_run_free (&run);

    //  Unchanged: one round trip, by the memo's key; no record asked
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    cr_assert (s_cached (&env, "reads-sel"));
    s_asked (&env, &by_memo, &records, &entries);
    cr_assert (by_memo == 1 && records == 0 && entries == 0, "memo: %d %d %d",
               (int) by_memo, (int) records, (int) entries);
    tmu_run_free (&run);

    //  A memo naming a.txt, kept aside; the test now reads b.txt
    char *command = strdup (s_path ("cp -a '%s/db' '%s/db-aside'", env.data, env.dir));
    cr_assert_eq (system (command), 0);
    free (command);
    tmu_write (s_path ("%s/sel", env.dir), "b.txt\n");
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    cr_assert_eq (s_ran (&env, "count"), 2, "sel changed: it must run");
    tmu_run_free (&run);

    //  Back to the stale memo (a.txt): its key finds nothing, the record
    //  (b.txt) does, a hit
    command = strdup (s_path ("rm -rf '%s/db' && cp -a '%s/db-aside' '%s/db'", env.data,
                              env.dir, env.data));
    cr_assert_eq (system (command), 0);
    free (command);
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    cr_assert (s_cached (&env, "reads-sel"));
    s_asked (&env, &by_memo, &records, &entries);
    cr_assert (by_memo == 1 && records == 1 && entries == 1, "stale: %d %d %d",
               (int) by_memo, (int) records, (int) entries);
    tmu_run_free (&run);

    //  Stale memo again, and b.txt now fails the test: it must run, fail
    command = strdup (s_path ("rm -rf '%s/db' && cp -a '%s/db-aside' '%s/db'", env.data,
                              env.dir, env.data));
    cr_assert_eq (system (command), 0);
    free (command);
    tmu_write (s_path ("%s/b.txt", env.dir), "bad\n");
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 1, "a stale memo served a stale pass: %s", run.out);
    cr_assert_not (s_cached (&env, "reads-sel"));
    tmu_run_free (&run);

    //  No memo at all (a fresh machine's CLI): records, then entries
    tmu_write (s_path ("%s/b.txt", env.dir), "good\n");
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    tmu_run_free (&run);
    tmu_rmrf (s_path ("%s/db", env.data));
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    cr_assert (s_cached (&env, "reads-sel"));
    s_asked (&env, &by_memo, &records, &entries);
    cr_assert (by_memo == 0 && records == 1 && entries == 1, "no memo: %d %d %d",
               (int) by_memo, (int) records, (int) entries);
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, failures_are_not_cached)
{
    s_env_t env = s_env ("[test \"bad\"]\ncommand = sh -c 'echo run >> count; exit 1'\n");
    for (int i = 0; i < 2; i++) {
        tmu_run_t run = s_run (&env, "readwrite");
        cr_assert_eq (run.status, 1);
        tmu_run_free (&run);
    }
    cr_assert_eq (s_ran (&env, "count"), 2);
    tmu_run_t run = tmu_testmesh (15, "cache", "explain", "bad", "--data", env.data);
    cr_assert (strstr (run.out, "its last run was failed"), "%s", run.out);
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, invalidate_makes_matching_tests_run_again)
{
    s_env_t env = s_env (
        "[test \"net/a\"]\ncommand = sh -c 'echo run >> count-net'\n"
        "[test \"net/b\"]\ncommand = sh -c 'echo run >> count-net'\n"
        "[test \"disk/a\"]\ncommand = sh -c 'echo run >> count-disk'\n");
    tmu_run_t run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    tmu_run_free (&run);
    run = tmu_testmesh (15, "cache", "invalidate", "net/*", "--data", env.data);
    cr_assert_eq (run.status, 0, "%s", run.err);
    cr_assert (strstr (run.out, "2 entries removed"), "%s", run.out);
    tmu_run_free (&run);
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0);
    cr_assert_eq (s_ran (&env, "count-net"), 4, "net/* ran again");
    cr_assert_eq (s_ran (&env, "count-disk"), 1, "disk/a was served");
    tmu_run_free (&run);
    //  ... and their new results are cached again
    run = s_run (&env, "readwrite");
    cr_assert_eq (s_ran (&env, "count-net"), 4);
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, read_and_write_modes)
{
    s_env_t env = s_env ("[test \"t\"]\ncommand = sh -c 'echo run >> count'\n");
    //  read: serves, but stores nothing
    tmu_run_t run = s_run (&env, "read");
    tmu_run_free (&run);
    run = s_run (&env, "read");
    tmu_run_free (&run);
    cr_assert_eq (s_ran (&env, "count"), 2);
    //  write: stores, but always runs
    run = s_run (&env, "write");
    tmu_run_free (&run);
    run = s_run (&env, "write");
    tmu_run_free (&run);
    cr_assert_eq (s_ran (&env, "count"), 4);
    //  what write stored, read serves
    run = s_run (&env, "read");
    cr_assert_eq (run.status, 0);
    tmu_run_free (&run);
    cr_assert_eq (s_ran (&env, "count"), 4);
    s_env_free (&env);
}

Test (cli_cache, a_corrupt_cache_degrades_to_misses)
{
    s_env_t env = s_env ("[test \"t\"]\ncommand = sh -c 'echo run >> count'\n");
    tmu_run_t run = s_run (&env, "readwrite");
    tmu_run_free (&run);
    //  Garbage over RocksDB's own files
    tmu_write (s_path ("%s/cache/CURRENT", env.data), "garbage\n");
    run = s_run (&env, "readwrite");
    cr_assert_eq (run.status, 0, "the run goes on: %s", run.err);
    cr_assert_eq (s_ran (&env, "count"), 2, "a miss, so it ran");
    tmu_run_free (&run);
    s_env_free (&env);
}

Test (cli_cache, bad_usage_is_one_line_and_exit_2)
{
    s_env_t env = s_env ("[test \"t\"]\ncommand = true\n");
    tmu_run_t run = s_run (&env, "sometimes");
    cr_assert_eq (run.status, 2);
    cr_assert (strstr (run.err, "--cache wants readwrite, read, write or off"), "%s", run.err);
    tmu_run_free (&run);
    run = tmu_testmesh (15, "cache", "explain", "nothing", "--data", env.data);
    cr_assert_eq (run.status, 2);
    cr_assert (strstr (run.err, "no run with the cache"), "%s", run.err);
    tmu_run_free (&run);
    run = tmu_testmesh (15, "cache", "frobnicate", "--data", env.data);
    cr_assert_eq (run.status, 2);
    cr_assert (strstr (run.err, "unknown command 'frobnicate'"), "%s", run.err);
    tmu_run_free (&run);
    run = tmu_testmesh (15, "cache", "stats", "--bogus", "--data", env.data);
    cr_assert_eq (run.status, 2);
    tmu_run_free (&run);
    s_env_free (&env);
}
