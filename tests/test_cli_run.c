/*  test_cli_run.c - integration: the real testmesh binary on the fixture suites.

    Each test runs build/testmesh with a scratch --data directory and
    checks its exit code, its reports and what it leaves behind.  The
    expected outcomes are the tables in tests/fixtures/criterion_suite.c
    and tests/fixtures/manifest.ini.
*/
#include "tm_testutil.h"
#include <jansson.h>
#include <string.h>

#define streq(a, b) (strcmp ((a), (b)) == 0)
#include <signal.h>

//  Loads the JSON report and returns the entry of test ID (borrowed from
//  the root, which the caller frees with json_decref).
static json_t *
s_test (json_t *root, const char *id)
{
    json_t *tests = json_object_get (root, "tests");
    size_t i;
    json_t *test;
    json_array_foreach (tests, i, test)
        if (streq (json_string_value (json_object_get (test, "id")), id))
            return test;
    cr_assert_fail ("no test '%s' in the JSON report", id);
    return NULL;
}

static const char *
s_status (json_t *root, const char *id)
{
    return json_string_value (json_object_get (s_test (root, id), "status"));
}

static json_t *
s_load (const char *path)
{
    json_error_t error;
    json_t *root = json_load_file (path, 0, &error);
    cr_assert_not_null (root, "%s: %s (line %d)", path, error.text, error.line);
    return root;
}

Test (cli_run, criterion_suite_reports_each_outcome_and_exits_1, .timeout = 120)
{
    char *dir = tmu_scratch ();
    char json [512], junit [512];
    snprintf (json, sizeof json, "%s/report.json", dir);
    snprintf (junit, sizeof junit, "%s/junit.xml", dir);
    setenv ("TM_FLAKY_DIR", dir, 1);
    tmu_run_t run = tmu_testmesh (90, "run", "--data", dir, "--retries", "1",
                                  "--exclude", "edge/*", "--json", json, "--junit", junit,
                                  (char *) tmu_path ("fixtures/criterion_suite"));
    unsetenv ("TM_FLAKY_DIR");
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *root = s_load (json);
    cr_assert_str_eq (s_status (root, "pass/one"), "passed");
    cr_assert_str_eq (s_status (root, "outcome/fails"), "failed");
    cr_assert_str_eq (s_status (root, "outcome/crashes"), "crashed");
    cr_assert_str_eq (s_status (root, "outcome/skipped"), "skipped");
    cr_assert_str_eq (s_status (root, "outcome/disabled"), "skipped");
    cr_assert_str_eq (s_status (root, "outcome/slow"), "passed");
    cr_assert_str_eq (s_status (root, "outcome/flaky"), "flaky");
    cr_assert_eq (json_integer_value (json_object_get (s_test (root, "outcome/flaky"),
                                                       "attempts")), 2);
    cr_assert_str_eq (s_status (root, "outcome/big_output"), "passed");
    cr_assert_str_eq (s_status (root, "outcome/times_out"), "timeout");
    //  Nothing from the excluded suite, and every other test exactly once
    cr_assert_eq (json_array_size (json_object_get (root, "tests")), 12);
    json_decref (root);

    //  The JUnit report is well-formed and its counts are right
    char command [1100];
    snprintf (command, sizeof command, "xmllint --noout '%s'", junit);
    cr_assert_eq (system (command), 0, "xmllint rejects %s", junit);
    char *xml = tmu_slurp (junit);
    cr_assert_eq (tmu_count (xml, "<testcase "), 12);
    cr_assert_eq (tmu_count (xml, "<failure "), 1);
    cr_assert_eq (tmu_count (xml, "<error "), 2, "crashed and timeout are errors");
    cr_assert_eq (tmu_count (xml, "<skipped"), 2);
    free (xml);
    //  The summary names the failed test
    cr_assert_not_null (strstr (run.out, "outcome/fails"));
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, all_passing_selection_exits_0_and_prints_one_line_per_test)
{
    char *dir = tmu_scratch ();
    tmu_run_t run = tmu_testmesh (60, "run", "--data", dir, "--filter", "pass/*",
                                  (char *) tmu_path ("fixtures/criterion_suite"));
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    //  Not a terminal: one line per finished test, no escape sequences
    cr_assert_eq (tmu_count (run.out, "\nPASS ") + (strncmp (run.out, "PASS ", 5) == 0),
                  4, "%s", run.out);
    cr_assert_null (strchr (run.out, '\033'), "no colors when not a terminal");
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, gtest_binary_runs_per_test_with_suite_dot_test_ids)
{
    char *dir = tmu_scratch ();
    char json [512];
    snprintf (json, sizeof json, "%s/report.json", dir);
    tmu_run_t run = tmu_testmesh (60, "run", "--data", dir, "--json", json,
                                  (char *) tmu_path ("fixtures/gtest_suite"));
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    json_t *root = s_load (json);
    json_t *tests = json_object_get (root, "tests");
    //  The table in tests/fixtures/gtest_suite.cc: 9 tests
    cr_assert_eq (json_array_size (tests), 9);
    size_t i;
    json_t *test;
    int failed = 0, skipped = 0, passed = 0;
    json_array_foreach (tests, i, test) {
        const char *id = json_string_value (json_object_get (test, "id"));
        cr_assert_not_null (strchr (id, '.'), "gtest id '%s' is Suite.Test", id);
        const char *status = json_string_value (json_object_get (test, "status"));
        failed += streq (status, "failed");
        skipped += streq (status, "skipped");
        passed += streq (status, "passed");
    }
    cr_assert_eq (failed, 1, "Arith.Fails");
    cr_assert_eq (skipped, 3, "Arith.DISABLED_Broken, Arith.SkipsItself (GTEST_SKIP) "
                  "and DISABLED_Legacy.Works are skipped");
    cr_assert_eq (passed, 5, "Arith.Adds, Arith.Multiplies, Nums/Parity.IsEven/0..2");
    json_decref (root);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, ctest_directory_runs_each_ctest_test)
{
    char *dir = tmu_scratch ();
    char json [512];
    snprintf (json, sizeof json, "%s/report.json", dir);
    tmu_run_t run = tmu_testmesh (60, "run", "--data", dir, "--json", json,
                                  (char *) tmu_path ("fixtures/ctest"));
    cr_assert_eq (run.status, 1, "exit %d\n%s", run.status, run.err);
    json_t *root = s_load (json);
    cr_assert_eq (json_array_size (json_object_get (root, "tests")), 9);
    cr_assert_str_eq (s_status (root, "passes"), "passed");
    cr_assert_str_eq (s_status (root, "fails"), "failed");
    cr_assert_str_eq (s_status (root, "env"), "passed", "ENVIRONMENT applied");
    cr_assert_str_eq (s_status (root, "workdir"), "passed", "WORKING_DIRECTORY applied");
    cr_assert_str_eq (s_status (root, "disabled"), "skipped");
    cr_assert_str_eq (s_status (root, "not_built"), "skipped");
    cr_assert_str_eq (s_status (root, "will_fail"), "passed", "WILL_FAIL inverts");
    cr_assert_str_eq (s_status (root, "skip_code"), "skipped", "SKIP_RETURN_CODE");
    json_decref (root);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, manifest_runs_and_exit_code_follows_failures)
{
    char *dir = tmu_scratch ();
    tmu_run_t run = tmu_testmesh (60, "run", "--data", dir,
                                  (char *) tmu_path ("fixtures/manifest.ini"));
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    cr_assert_not_null (strstr (run.out, "shell/fails"));
    tmu_run_free (&run);
    run = tmu_testmesh (60, "run", "--data", dir, "--exclude", "shell/fails",
                        (char *) tmu_path ("fixtures/manifest.ini"));
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, several_targets_prefix_ids_with_the_target)
{
    char *dir = tmu_scratch ();
    const char *suite = tmu_path ("fixtures/criterion_suite");
    const char *manifest = tmu_path ("fixtures/manifest.ini");
    tmu_run_t run = tmu_testmesh (60, "run", "--data", dir, "--list",
                                  "--exclude", "edge/*", (char *) suite, (char *) manifest);
    cr_assert_eq (run.status, 0, "%s", run.err);
    cr_assert_null (strstr (run.out, "edge/"), "a glob also matches the unprefixed id");
    char expected [600];
    snprintf (expected, sizeof expected, "%s:pass/one\n", suite);
    cr_assert_not_null (strstr (run.out, expected), "%s", run.out);
    snprintf (expected, sizeof expected, "%s:shell/true\n", manifest);
    cr_assert_not_null (strstr (run.out, expected), "%s", run.out);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

//  Bad input: one line on stderr, exit 2, never a crash or a hang.
static void
s_expect_usage_error (tmu_run_t run, const char *needle)
{
    cr_assert_eq (run.status, 2, "exit %d\nstdout: %s\nstderr: %s", run.status,
                  run.out, run.err);
    cr_assert_eq (tmu_count (run.err, "\n"), 1, "one line: %s", run.err);
    cr_assert_not_null (strstr (run.err, needle), "'%s' not in: %s", needle, run.err);
    tmu_run_free (&run);
}

Test (cli_run, bad_input_gets_one_line_and_exit_2)
{
    char *dir = tmu_scratch ();
    s_expect_usage_error (tmu_testmesh (20, "run", "--data", dir, "/no/such/suite"),
                          "/no/such/suite");
    s_expect_usage_error (tmu_testmesh (20, "run", "--data", dir,
                                        (char *) tmu_path ("fixtures/not_a_test")),
                          "not a test binary");
    s_expect_usage_error (tmu_testmesh (60, "run", "--data", dir,
                                        (char *) tmu_path ("fixtures/crash_on_list")),
                          "crash");
    s_expect_usage_error (tmu_testmesh (20, "run", "--data", dir,
                                        (char *) tmu_path ("fixtures/bad_unterminated.ini")),
                          "bad_unterminated.ini:");
    s_expect_usage_error (tmu_testmesh (20, "run", "--data", dir), "target");
    s_expect_usage_error (tmu_testmesh (20, "run", "--jobs", "zero", "x"), "--jobs");
    s_expect_usage_error (tmu_testmesh (20, "run", "--bogus", "x"), "--bogus");
    s_expect_usage_error (tmu_testmesh (20, "frobnicate"), "frobnicate");
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, test_ignoring_sigterm_is_timed_out_and_killed)
{
    char *dir = tmu_scratch ();
    char json [512];
    snprintf (json, sizeof json, "%s/report.json", dir);
    tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "--timeout", "0.5",
                                  "--json", json, "--filter", "edge/ignores_sigterm",
                                  (char *) tmu_path ("fixtures/criterion_suite"));
    cr_assert_eq (run.status, 1, "exit %d\n%s%s", run.status, run.out, run.err);
    cr_assert_lt (run.seconds, 10, "SIGKILL follows the grace period");
    json_t *root = s_load (json);
    cr_assert_str_eq (s_status (root, "edge/ignores_sigterm"), "timeout");
    json_decref (root);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, daemon_forked_by_a_test_is_killed_and_the_test_passes)
{
    char *dir = tmu_scratch ();
    char pidfile [512], json [512];
    snprintf (pidfile, sizeof pidfile, "%s/daemon.pid", dir);
    snprintf (json, sizeof json, "%s/report.json", dir);
    setenv ("TM_DAEMON_PIDFILE", pidfile, 1);
    tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "--filter", "edge/daemon",
                                  "--json", json,
                                  (char *) tmu_path ("fixtures/criterion_suite"));
    unsetenv ("TM_DAEMON_PIDFILE");
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    char *pid_text = tmu_slurp (pidfile);
    cr_assert_not_null (pid_text, "the daemon wrote its pid");
    pid_t pid = atoi (pid_text);
    cr_assert (pid > 0);
    //  testmesh has exited: the daemon must be gone (kill (pid, 0) fails)
    cr_assert_neq (kill (pid, 0), 0, "daemon %d outlived testmesh", pid);
    //  ... and the test is charged with what it left behind
    json_t *root = s_load (json);
    cr_assert_eq (json_integer_value (json_object_get (s_test (root, "edge/daemon"),
                                                       "leftovers")), 1);
    json_decref (root);
    free (pid_text);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, huge_output_is_bounded_and_the_cut_is_reported)
{
    char *dir = tmu_scratch ();
    char manifest [512], json [512];
    snprintf (manifest, sizeof manifest, "%s/big.ini", dir);
    snprintf (json, sizeof json, "%s/report.json", dir);
    //  1 GiB through the pipe; testmesh keeps its bound and drains the rest
    tmu_write (manifest, "[test \"big\"]\ncommand = sh -c 'head -c 1073741824 /dev/zero'\n");
    tmu_run_t run = tmu_testmesh (120, "run", "--data", dir, "--json", json, manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    json_t *root = s_load (json);
    json_t *test = s_test (root, "big");
    cr_assert_str_eq (json_string_value (json_object_get (test, "status")), "passed");
    json_int_t cut = json_integer_value (json_object_get (test, "stdout_cut"));
    cr_assert_gt (cut, 1073741824LL - 300 * 1024, "cut %lld", (long long) cut);
    json_decref (root);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, fail_fast_stops_the_run_at_the_first_failure)
{
    char *dir = tmu_scratch ();
    char manifest [512], json [512];
    snprintf (manifest, sizeof manifest, "%s/ff.ini", dir);
    snprintf (json, sizeof json, "%s/report.json", dir);
    tmu_write (manifest,
               "[test \"a-fails\"]\ncommand = sh -c 'sleep 0.2; exit 1'\n"
               "[test \"b-long\"]\ncommand = sleep 60\n"
               "[test \"c-never\"]\ncommand = true\n");
    tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "-j", "2", "--fail-fast",
                                  "--json", json, manifest);
    cr_assert_eq (run.status, 1, "exit %d\n%s", run.status, run.err);
    cr_assert_lt (run.seconds, 10);
    json_t *root = s_load (json);
    cr_assert_str_eq (s_status (root, "a-fails"), "failed");
    cr_assert_str_eq (s_status (root, "b-long"), "skipped");
    cr_assert_str_eq (s_status (root, "c-never"), "skipped");
    json_decref (root);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, history_starts_the_slowest_test_first_on_the_next_run)
{
    char *dir = tmu_scratch ();
    char manifest [512], json [512];
    snprintf (manifest, sizeof manifest, "%s/order.ini", dir);
    snprintf (json, sizeof json, "%s/report.json", dir);
    tmu_write (manifest,
               "[test \"a-quick\"]\ncommand = true\n"
               "[test \"b-quick\"]\ncommand = true\n"
               "[test \"z-slow\"]\ncommand = sleep 0.3\n");
    for (int round = 0; round < 2; round++) {
        tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "-j", "1",
                                      "--json", json, manifest);
        cr_assert_eq (run.status, 0, "%s", run.err);
        tmu_run_free (&run);
    }
    //  On the second run z-slow, last in the file, started before the others
    json_t *root = s_load (json);
    double slow = json_real_value (json_object_get (s_test (root, "z-slow"), "started"));
    double quick = json_real_value (json_object_get (s_test (root, "a-quick"), "started"));
    cr_assert_gt (slow, 0);
    cr_assert_lt (slow, quick, "z-slow started at %f, a-quick at %f", slow, quick);
    json_decref (root);
    //  The history lives in the data directory
    char db [600];
    snprintf (db, sizeof db, "%s/db/CURRENT", dir);
    cr_assert_eq (access (db, F_OK), 0, "RocksDB in --data");
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, interrupt_cancels_the_run_and_leaves_no_process)
{
    char *dir = tmu_scratch ();
    char manifest [700];
    snprintf (manifest, sizeof manifest, "%s/int.ini", dir);
    char text [2048];
    snprintf (text, sizeof text,
              "[test \"sleeper1\"]\nshell = true\ncommand = echo $$ > %s/p1; exec sleep 60\n"
              "[test \"sleeper2\"]\nshell = true\ncommand = echo $$ > %s/p2; exec sleep 60\n",
              dir, dir);
    tmu_write (manifest, text);
    char *argv [] = { (char *) tmu_path ("testmesh"), "run", "--data", dir, "-j", "2",
                      manifest, NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    cr_assert_eq (posix_spawn (&pid, argv [0], &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy (&actions);
    //  Wait until both tests run
    char p1 [800], p2 [800];
    snprintf (p1, sizeof p1, "%s/p1", dir);
    snprintf (p2, sizeof p2, "%s/p2", dir);
    //  Wait until both tests run and have written their pids
    double end = tmu_now () + 20;
    char *a = NULL, *b = NULL;
    while (!a || !b || !strchr (a, '\n') || !strchr (b, '\n')) {
        cr_assert (tmu_now () < end, "tests did not start");
        free (a);
        free (b);
        usleep (5000);
        a = tmu_slurp (p1);
        b = tmu_slurp (p2);
    }
    kill (pid, SIGINT);
    int status;
    end = tmu_now () + 10;
    while (waitpid (pid, &status, WNOHANG) == 0) {
        cr_assert (tmu_now () < end, "testmesh did not stop after SIGINT");
        usleep (5000);
    }
    cr_assert (WIFEXITED (status));
    cr_assert_eq (WEXITSTATUS (status), 2, "an interrupted run exits 2");
    cr_assert_neq (kill (atoi (a), 0), 0, "test process %s survived", a);
    cr_assert_neq (kill (atoi (b), 0), 0, "test process %s survived", b);
    free (a);
    free (b);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, data_directory_comes_from_testmesh_home_without_data)
{
    char *dir = tmu_scratch ();
    char home [600];
    snprintf (home, sizeof home, "%s/home", dir);
    setenv ("TESTMESH_HOME", home, 1);
    tmu_run_t run = tmu_testmesh (30, "run", "--filter", "pass/one",
                                  (char *) tmu_path ("fixtures/criterion_suite"));
    unsetenv ("TESTMESH_HOME");
    cr_assert_eq (run.status, 0, "%s", run.err);
    char db [700];
    snprintf (db, sizeof db, "%s/db/CURRENT", home);
    cr_assert_eq (access (db, F_OK), 0, "history under TESTMESH_HOME");
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, daemon_a_running_test_needs_outlives_other_tests_ending)
{
    char *dir = tmu_scratch ();
    char manifest [512], text [2048];
    snprintf (manifest, sizeof manifest, "%s/daemon.ini", dir);
    //  The test starts a daemon that leaves its session, then needs it a
    //  while later; meanwhile another test ends, which sweeps strays
    snprintf (text, sizeof text,
              "[test \"uses-own-daemon\"]\nshell = true\n"
              "command = setsid sh -c 'sleep 30 & echo $! > %s/dpid' </dev/null >/dev/null 2>&1;"
              " while [ ! -s %s/dpid ]; do sleep 0.01; done; sleep 1;"
              " kill -0 $(cat %s/dpid) || { echo daemon-killed-under-me; exit 1; }\n"
              "[test \"other\"]\ncommand = sleep 0.3\n", dir, dir, dir);
    tmu_write (manifest, text);
    tmu_run_t run = tmu_testmesh (30, "run", "--data", dir, "-j", "2", manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s%s", run.status, run.out, run.err);
    //  ... and once its test is over, the daemon is gone
    char path [600];
    snprintf (path, sizeof path, "%s/dpid", dir);
    char *pid = tmu_slurp (path);
    cr_assert_not_null (pid);
    cr_assert_neq (kill (atoi (pid), 0), 0, "daemon %s outlived testmesh", pid);
    free (pid);
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, selection_matching_nothing_is_an_error)
{
    char *dir = tmu_scratch ();
    s_expect_usage_error (tmu_testmesh (20, "run", "--data", dir, "--filter", "no/such/*",
                                        (char *) tmu_path ("fixtures/manifest.ini")),
                          "no test matches");
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, unwritable_report_path_fails_before_running_anything)
{
    char *dir = tmu_scratch ();
    char manifest [512];
    snprintf (manifest, sizeof manifest, "%s/slow.ini", dir);
    tmu_write (manifest, "[test \"slow\"]\ncommand = sleep 20\n");
    tmu_run_t run = tmu_testmesh (15, "run", "--data", dir, "--junit",
                                  "/nonexistent-dir/report.xml", manifest);
    cr_assert_lt (run.seconds, 5, "the run should not have started");
    s_expect_usage_error (run, "/nonexistent-dir");
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, interrupt_during_discovery_stops_at_once)
{
    char *dir = tmu_scratch ();
    char script [512];
    snprintf (script, sizeof script, "%s/hangs-when-listed", dir);
    tmu_write (script, "#!/bin/sh\nexec sleep 60\n");
    chmod (script, 0755);
    char *argv [] = { (char *) tmu_path ("testmesh"), "run", "--data", dir,
                      "--kind", "criterion", script, NULL };
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    cr_assert_eq (posix_spawn (&pid, argv [0], &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy (&actions);
    //  Wait until the listing runs (the script is our child's child)
    char children [64];
    snprintf (children, sizeof children, "/proc/%d/task/%d/children", (int) pid, (int) pid);
    double end = tmu_now () + 10;
    while (true) {
        //  /proc files have no size: read, do not slurp
        char list [64] = "";
        FILE *file = fopen (children, "r");
        bool listing = file && fgets (list, sizeof list, file) && *list;
        if (file)
            fclose (file);
        if (listing)
            break;
        cr_assert (tmu_now () < end, "the listing did not start");
        usleep (5000);
    }
    double start = tmu_now ();
    kill (pid, SIGINT);
    int status;
    end = tmu_now () + 10;
    while (waitpid (pid, &status, WNOHANG) == 0) {
        cr_assert (tmu_now () < end, "testmesh ignored SIGINT while listing");
        usleep (5000);
    }
    cr_assert_lt (tmu_now () - start, 2.0);
    cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 2);
    tmu_rmrf (dir);
    free (dir);
}

Test (cli_run, thousands_of_slots_do_not_deadlock_the_actors, .timeout = 200)
{
    //  More EXECs in flight one way and DONEs the other than a bounded
    //  actor pipe holds (1000 each): both actors used to block for good
    char *dir = tmu_scratch ();
    char manifest [512];
    snprintf (manifest, sizeof manifest, "%s/many.ini", dir);
    FILE *file = fopen (manifest, "w");
    cr_assert_not_null (file);
    for (int i = 0; i < 6000; i++)
        fprintf (file, "[test \"t%04d\"]\ncommand = true\n", i);
    fclose (file);
    //  Fails (hangs) without zsys_set_pipehwm (0): checked when written
    tmu_run_t run = tmu_testmesh (180, "run", "--data", dir, "-j", "3900", manifest);
    cr_assert_eq (run.status, 0, "exit %d\n%s", run.status, run.err);
    cr_assert_not_null (strstr (run.out, "6000 tests: 6000 passed"), "%s",
                        run.out + (strlen (run.out) > 300 ? strlen (run.out) - 300 : 0));
    tmu_run_free (&run);
    tmu_rmrf (dir);
    free (dir);
}
